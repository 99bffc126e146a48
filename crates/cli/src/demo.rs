//! `metermaster demo`: a simulated fleet read over TCP, end to end, on this machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use metermaster_flag::client::{ClientOptions, FlagClient};
use metermaster_flag::reader::{ReadOptions, read_meter};
use metermaster_model::{ObisCode, Reading};
use metermaster_sim::ServeOptions;

use crate::sim::{FleetArgs, ModelArg, build_fleet};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Meters per model (A1140 and A1700).
    #[arg(long, default_value_t = 4)]
    pub meters: u32,
    /// Days of load profile to read from each meter.
    #[arg(long, default_value_t = 1)]
    pub days: u16,
    /// Print every reading as JSON instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// Starts an in-process fleet on a free loopback port; returns its address.
pub async fn start_fleet(args: &FleetArgs, opts: ServeOptions) -> Result<std::net::SocketAddr> {
    let fleet = Arc::new(build_fleet(args)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(metermaster_sim::serve_tcp(
        listener,
        fleet,
        opts,
        std::future::pending(),
    ));
    Ok(addr)
}

pub fn fleet_args(meters: u32, model: ModelArg, first_serial: u64) -> FleetArgs {
    FleetArgs {
        meters,
        model,
        first_serial,
        seed: 2026,
        start: None,
        speed: 1.0,
        history_days: 35,
        period: 15,
        password: None,
        fast_reaction: false,
        compress_profile: false,
    }
}

/// Reads every address concurrently, one connection each.
pub async fn read_all(
    addr: std::net::SocketAddr,
    serials: Vec<u64>,
    opts: ReadOptions,
) -> Vec<(
    u64,
    Result<(Reading, metermaster_flag::client::LinkStats), String>,
)> {
    let mut tasks = tokio::task::JoinSet::new();
    for s in serials {
        let mut o = opts.clone();
        o.address = s.to_string();
        tasks.spawn(async move {
            let r = async {
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                let mut c = FlagClient::attach(stream, ClientOptions::default());
                let reading = read_meter(&mut c, &o).await.map_err(|e| e.to_string())?;
                Ok((reading, c.stats))
            }
            .await;
            (s, r)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Ok(r) = r {
            out.push(r);
        }
    }
    out.sort_by_key(|r| r.0);
    out
}

pub async fn run(a: DemoArgs) -> Result<()> {
    let a1140 = fleet_args(a.meters, ModelArg::A1140, 10_000_001);
    let mut a1700 = fleet_args(a.meters, ModelArg::A1700, 20_000_001);
    a1700.seed = 7;
    let addr1 = start_fleet(&a1140, ServeOptions::default()).await?;
    let addr2 = start_fleet(&a1700, ServeOptions::default()).await?;
    eprintln!(
        "simulated fleet: {} A1140 on tcp://{addr1} (10000001..), {} A1700 on tcp://{addr2} (20000001..)",
        a.meters, a.meters
    );
    let opts = ReadOptions {
        profile_days: a.days,
        ..ReadOptions::default()
    };
    let t = Instant::now();
    let mut results = read_all(
        addr1,
        (0..a.meters).map(|i| 10_000_001 + u64::from(i)).collect(),
        opts.clone(),
    )
    .await;
    results.extend(
        read_all(
            addr2,
            (0..a.meters).map(|i| 20_000_001 + u64::from(i)).collect(),
            opts,
        )
        .await,
    );
    let took = t.elapsed();
    if a.json {
        let ok: Vec<&Reading> = results
            .iter()
            .filter_map(|r| r.1.as_ref().ok().map(|x| &x.0))
            .collect();
        println!("{}", serde_json::to_string_pretty(&ok)?);
    } else {
        println!(
            "{:<10} {:<6} {:>14} {:>14} {:>10} {:>9} {:>7} {:>8}",
            "meter", "model", "import kWh", "export kWh", "MD kW", "intervals", "events", "drift s"
        );
        for (serial, r) in &results {
            match r {
                Ok((reading, _)) => {
                    let kwh = |c: u8| {
                        reading
                            .register(ObisCode::elec(c, 8, 0))
                            .map_or("-".to_string(), |r| {
                                format!("{:.3}", r.value.to_f64() / 1000.0)
                            })
                    };
                    let md = reading
                        .max_demands
                        .iter()
                        .find(|m| m.obis == ObisCode::elec(1, 6, 0))
                        .map_or("-".into(), |m| format!("{:.3}", m.value.to_f64() / 1000.0));
                    println!(
                        "{:<10} {:<6} {:>14} {:>14} {:>10} {:>9} {:>7} {:>8.1}",
                        serial,
                        reading.meter.model.as_deref().unwrap_or("?"),
                        kwh(1),
                        kwh(2),
                        md,
                        reading
                            .load_profile
                            .as_ref()
                            .map_or(0, |p| p.intervals.len()),
                        reading.events.len(),
                        reading.clock.as_ref().map_or(0.0, |c| c.drift_s)
                    );
                }
                Err(e) => println!("{serial:<10} error: {e}"),
            }
        }
        println!(
            "\nread {} meters in {:.2} s. Try: metermaster sim --listen 127.0.0.1:4001 --meters 10 & metermaster read tcp://127.0.0.1:4001 --address 10000001",
            results.len(),
            took.as_secs_f64()
        );
    }
    // Let the in-process servers wind down with the runtime.
    tokio::time::sleep(Duration::from_millis(10)).await;
    if results.iter().any(|r| r.1.is_err()) {
        anyhow::bail!("some meters could not be read");
    }
    Ok(())
}
