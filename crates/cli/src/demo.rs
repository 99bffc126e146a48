//! `metermaster demo`: a simulated fleet read over TCP, end to end, on this machine: the FLAG
//! faces of A1140s and A1700s, and the DLMS/COSEM faces of the same A1140s; every reading goes
//! into the store (the embedded SQLite file by default).

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
    /// Do not store the readings.
    #[arg(long)]
    pub no_store: bool,
    #[command(flatten)]
    pub store: crate::files::StoreArgs,
}

/// A fleet's FLAG face on one loopback port and the DLMS faces of the same meters, one port
/// each (the TCP wrapper): the FLAG address and the DLMS addresses by serial number.
async fn start_both_faces(
    args: &FleetArgs,
) -> Result<(std::net::SocketAddr, Vec<(u64, std::net::SocketAddr)>)> {
    use metermaster_sim::dlms::{DlmsMeter, DlmsServeOptions};
    let fleet = Arc::new(build_fleet(args)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let flag = listener.local_addr()?;
    tokio::spawn(metermaster_sim::serve_tcp(
        listener,
        fleet.clone(),
        ServeOptions::default(),
        std::future::pending(),
    ));
    let mut pairs = Vec::new();
    let mut out = Vec::new();
    for (i, m) in fleet.meters.iter().enumerate() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        out.push((args.first_serial + i as u64, listener.local_addr()?));
        pairs.push((listener, DlmsMeter::new(m.clone())));
    }
    tokio::spawn(metermaster_sim::dlms::serve_dlms(
        pairs,
        DlmsServeOptions::default(),
        std::future::pending(),
    ));
    Ok((flag, out))
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
    use metermaster_master::{Limits, MeterTarget, ProfileSpan, Protocol, ReadPlan};
    let a1140 = fleet_args(a.meters, ModelArg::A1140, 10_000_001);
    let mut a1700 = fleet_args(a.meters, ModelArg::A1700, 20_000_001);
    a1700.seed = 7;
    // The A1140s answer in both protocols: one meter model behind both faces.
    let (addr1, faces) = start_both_faces(&a1140).await?;
    let addr2 = start_fleet(&a1700, ServeOptions::default()).await?;
    eprintln!(
        "simulated fleet: {} A1140 on tcp://{addr1} (10000001..), {} A1700 on tcp://{addr2} (20000001..); the A1140s also in DLMS/COSEM from tcp://{}",
        a.meters,
        a.meters,
        faces.first().map_or(String::new(), |f| f.1.to_string())
    );
    let plan = ReadPlan {
        profile: ProfileSpan::Days(a.days),
        ..ReadPlan::default()
    };
    let mut targets: Vec<(MeterTarget, ReadPlan)> = Vec::new();
    for (addr, first) in [(addr1, 10_000_001u64), (addr2, 20_000_001)] {
        for i in 0..u64::from(a.meters) {
            let t = MeterTarget::parse(
                &format!("tcp://{addr}"),
                Protocol::Flag,
                (first + i).to_string(),
            )?;
            targets.push((t, plan.clone()));
        }
    }
    for (_, addr) in &faces {
        // The meter reader (client 17, low-level security): it may read the logs.
        let mut t = MeterTarget::parse(&format!("tcp://{addr}"), Protocol::Dlms, "")?;
        t.dlms.client = 17;
        t.dlms.auth = metermaster_master::DlmsAuth::Low;
        t.password =
            Some(String::from_utf8_lossy(metermaster_sim::dlms::LLS_PASSWORD).into_owned());
        targets.push((t, plan.clone()));
    }
    let protocols: Vec<Protocol> = targets.iter().map(|(t, _)| t.protocol).collect();
    let t = Instant::now();
    let outcomes = metermaster_master::collect(targets, Limits::default(), |_| {}).await;
    let took = t.elapsed();
    // Stored before anything is shown.
    let store = if a.no_store {
        None
    } else {
        Some(a.store.open().await?)
    };
    let mut stored = (0u64, 0u64);
    let mut failed = 0usize;
    if let Some(store) = &store {
        use metermaster_store::Store;
        let out = store
            .write(metermaster_store::Batch {
                readings: outcomes
                    .iter()
                    .filter_map(|o| o.result.as_ref().ok())
                    .map(|r| (r.reading.clone(), format!("demo: {}", r.origin)))
                    .collect(),
                ..Default::default()
            })
            .await?;
        stored = (out.readings_new, out.intervals_changed);
    }
    let readings: Vec<&Reading> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok().map(|r| &r.reading))
        .collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&readings)?);
    } else {
        println!(
            "{:<10} {:<6} {:<5} {:>14} {:>14} {:>10} {:>9} {:>7} {:>8}",
            "meter",
            "model",
            "via",
            "import kWh",
            "export kWh",
            "MD kW",
            "intervals",
            "events",
            "drift s"
        );
        for (o, protocol) in outcomes.iter().zip(&protocols) {
            let protocol = protocol.name();
            match &o.result {
                Ok(read) => {
                    let reading = &read.reading;
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
                        "{:<10} {:<6} {:<5} {:>14} {:>14} {:>10} {:>9} {:>7} {:>8.1}",
                        metermaster_model::canonical_meter_id(&reading.meter.serial),
                        reading.meter.model.as_deref().unwrap_or("A1140"),
                        protocol,
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
                Err(e) => {
                    failed += 1;
                    println!("{} {protocol}: error: {e:#}", o.meter)
                }
            }
        }
        println!(
            "\nread {} meters ({} over FLAG, {} over DLMS/COSEM) in {:.2} s. Try: metermaster sim --listen 127.0.0.1:4001 --meters 10 & metermaster read tcp://127.0.0.1:4001 --address 10000001",
            outcomes.len(),
            protocols.iter().filter(|p| **p == Protocol::Flag).count(),
            protocols.iter().filter(|p| **p == Protocol::Dlms).count(),
            took.as_secs_f64()
        );
    }
    if store.is_some() && !readings.is_empty() {
        eprintln!(
            "stored in {} ({} new readings, {} interval values written; `metermaster list readings` shows them)",
            a.store.url(),
            stored.0,
            stored.1
        );
    }
    // Let the in-process servers wind down with the runtime.
    tokio::time::sleep(Duration::from_millis(10)).await;
    if failed > 0 || outcomes.iter().any(|o| o.result.is_err()) {
        anyhow::bail!("some meters could not be read");
    }
    Ok(())
}
