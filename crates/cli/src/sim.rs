//! `metermaster sim`: simulated meters on a TCP port or a serial line.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use clap::{Args, ValueEnum};
use metermaster_flag::ids::MeterModel;
use metermaster_sim::{Faults, Fleet, MeterConfig, ServeOptions, SimMeter};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelArg {
    A1140,
    A1700,
}

impl From<ModelArg> for MeterModel {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::A1140 => MeterModel::A1140,
            ModelArg::A1700 => MeterModel::A1700,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// Number of meters.
    #[arg(long, default_value_t = 1)]
    pub meters: u32,
    #[arg(long, value_enum, default_value = "a1140")]
    pub model: ModelArg,
    /// Serial number of the first meter; the others follow.
    #[arg(long, default_value_t = 10_000_001)]
    pub first_serial: u64,
    /// Seed of the load and event model.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The meters' clock at start (RFC 3339; its wall-clock time is what the meters show).
    /// Default: now, in UTC.
    #[arg(long)]
    pub start: Option<String>,
    /// Meter seconds per real second (0 freezes the clocks; 60 runs an hour a minute).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Days of load profile and event history before the start.
    #[arg(long, default_value_t = 35)]
    pub history_days: u32,
    /// Load-profile period in minutes.
    #[arg(long, default_value_t = 15)]
    pub period: u32,
    /// Passwords: `PW` (level 3) or `1:PW,2:PW,3:PW`. Default: the factory passwords.
    #[arg(long)]
    pub password: Option<String>,
    /// Announce a 20 ms reaction time (lower-case third manufacturer letter).
    #[arg(long)]
    pub fast_reaction: bool,
    /// DLMS: send null instead of the clock in load-profile rows that follow the row before by
    /// exactly the capture period (buffer compression, as many meters do).
    #[arg(long)]
    pub compress_profile: bool,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Listen on this TCP address (e.g. 127.0.0.1:4001).
    #[arg(long, conflicts_with = "serial")]
    pub listen: Option<String>,
    /// Serve on this serial device instead (e.g. one end of a socat pty pair).
    #[arg(long)]
    pub serial: Option<String>,
    /// Protocol: `flag` (IEC 62056-21, Elster dialect; all meters behind one port) or `dlms`
    /// (DLMS/COSEM; meter i on port PORT+i-1, logical device 1, clients 16 public, 17 password
    /// `12345678`, 1 HLS-GMAC with the Green Book keys; see docs/simulator.md).
    #[arg(long, default_value = "flag")]
    pub protocol: metermaster_master::Protocol,
    /// DLMS transport: `wrapper` (IEC 62056-47, the default) or `hdlc` (HDLC frames over TCP).
    #[arg(long, value_enum)]
    pub transport: Option<TransportArg>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Throttle each connection to the wire rate of 7E1 at this baud rate, with reaction times.
    #[arg(long)]
    pub baud: Option<u32>,
    /// Put 7E1 parity into bit 7 of every byte on TCP, as a meter behind a gateway that passes
    /// 8N1 characters appears (read it with tcp://HOST:PORT?parity=soft).
    #[arg(long)]
    pub soft_parity: bool,
    /// Inject faults: `drop=R,corrupt=R,slow=R,refuse=R` with rates 0..1.
    #[arg(long)]
    pub faults: Option<String>,
    /// DLMS: each meter's port is an optical port: the IEC 62056-21 sign-on at 300 Bd 7E1, then
    /// HDLC after the mode-E option select `ACK 2 Z 2` (or the FLAG data readout after
    /// `ACK 0 Z 0`). Implies --transport hdlc.
    #[arg(long)]
    pub mode_e: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TransportArg {
    Wrapper,
    Hdlc,
}

pub fn parse_start(s: Option<&str>) -> Result<NaiveDateTime> {
    Ok(match s {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--start {s:?} is not an RFC 3339 time"))?
            .naive_local(),
        None => Utc::now().naive_utc(),
    })
}

fn parse_passwords(s: &str) -> Result<Vec<(String, u8)>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let (level, pw) = match part.split_once(':') {
            Some((l, p)) => (
                l.parse::<u8>()
                    .ok()
                    .filter(|l| (1..=3).contains(l))
                    .with_context(|| format!("password level {l:?} must be 1, 2 or 3"))?,
                p,
            ),
            None => (3, part),
        };
        if metermaster_flag::cipher::password_bytes(pw).is_none() {
            bail!("password {pw:?} must be exactly 8 printable ASCII characters");
        }
        out.push((pw.to_string(), level));
    }
    Ok(out)
}

/// Builds the meters a fleet argument set describes.
pub fn build_fleet(a: &FleetArgs) -> Result<Fleet> {
    if a.meters == 0 || a.meters > 100_000 {
        bail!("--meters must be between 1 and 100000");
    }
    if metermaster_flag::profile::period_code(a.period).is_none() {
        bail!(
            "--period {} is not a load-profile period (1 2 3 4 5 6 10 15 20 30 60)",
            a.period
        );
    }
    if !(a.speed >= 0.0 && a.speed.is_finite()) {
        bail!("--speed must be 0 or more");
    }
    let start = parse_start(a.start.as_deref())?;
    let passwords = match &a.password {
        Some(p) => parse_passwords(p)?,
        None => metermaster_sim::meter::default_passwords(),
    };
    let meters = (0..u64::from(a.meters))
        .map(|i| {
            let mut cfg = MeterConfig::new(
                (a.first_serial + i).to_string(),
                a.model.into(),
                a.seed.wrapping_mul(1_000_003).wrapping_add(i),
                start,
            );
            cfg.speed = a.speed;
            cfg.history_days = a.history_days;
            cfg.period_min = a.period;
            cfg.passwords = passwords.clone();
            cfg.fast_reaction = a.fast_reaction;
            cfg.compress_profile = a.compress_profile;
            SimMeter::new(cfg)
        })
        .collect();
    Ok(Fleet::new(meters))
}

pub async fn run(a: SimArgs) -> Result<()> {
    use metermaster_master::Protocol;
    match a.protocol {
        Protocol::Flag if a.transport.is_some() || a.mode_e => {
            bail!("--transport and --mode-e apply to --protocol dlms")
        }
        Protocol::Flag => {}
        Protocol::Dlms => return run_dlms(a).await,
    }
    let fleet = Arc::new(build_fleet(&a.fleet)?);
    let mut opts = ServeOptions {
        baud: a.baud,
        soft_parity: a.soft_parity,
        ..ServeOptions::default()
    };
    if let Some(f) = &a.faults {
        opts.faults = Faults::parse(f).map_err(anyhow::Error::msg)?;
        opts.fault_seed = a.fleet.seed;
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let last = a.fleet.first_serial + u64::from(a.fleet.meters) - 1;
    if let Some(path) = &a.serial {
        let link = metermaster_flag::transport::SerialLink::open(path, 300, false)
            .with_context(|| format!("opening {path}"))?;
        eprintln!(
            "simulating {} {:?} meter(s) {}..{} on {path}",
            a.fleet.meters, a.fleet.model, a.fleet.first_serial, last
        );
        tokio::select! {
            r = metermaster_sim::serve_link(link, fleet, opts) => r?,
            _ = shutdown => {}
        }
        return Ok(());
    }
    let addr = a.listen.as_deref().unwrap_or("127.0.0.1:4001");
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    // Scripts wait for this line to know the port is open.
    println!(
        "listening on tcp://{} with {} {:?} meter(s) {}..{}",
        listener.local_addr()?,
        a.fleet.meters,
        a.fleet.model,
        a.fleet.first_serial,
        last
    );
    metermaster_sim::serve_tcp(listener, fleet, opts, shutdown).await?;
    Ok(())
}

/// Binds `n` consecutive ports from `addr`'s (port 0: the first free run of `n`).
async fn bind_consecutive(addr: &str, n: u32) -> Result<Vec<tokio::net::TcpListener>> {
    let base = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?
        .next()
        .with_context(|| format!("listening on {addr}: no address"))?;
    for _ in 0..50 {
        let first = tokio::net::TcpListener::bind(base)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let p0 = first.local_addr()?.port();
        if u32::from(p0) + n - 1 > u32::from(u16::MAX) {
            bail!("--meters {n} from port {p0} runs past port 65535");
        }
        let mut all = vec![first];
        for i in 1..n {
            let mut a = base;
            a.set_port(p0 + i as u16);
            match tokio::net::TcpListener::bind(a).await {
                Ok(l) => all.push(l),
                Err(e) if base.port() != 0 => {
                    return Err(e).with_context(|| format!("listening on {a} for meter {}", i + 1));
                }
                Err(_) => break,
            }
        }
        if all.len() == n as usize {
            return Ok(all);
        }
    }
    bail!("no run of {n} free ports found from {addr}")
}

/// `sim --protocol dlms`: one TCP port per meter, or one meter on a serial port.
async fn run_dlms(a: SimArgs) -> Result<()> {
    use metermaster_sim::dlms::{DlmsMeter, DlmsServeOptions, Transport};
    if a.soft_parity || a.faults.is_some() {
        bail!("--soft-parity and --faults are FLAG options (not with --protocol dlms)");
    }
    let fleet = build_fleet(&a.fleet)?;
    let transport = match (a.transport, a.mode_e || a.serial.is_some()) {
        (Some(TransportArg::Wrapper), true) => {
            bail!("--transport wrapper is for TCP; --mode-e and --serial serve HDLC")
        }
        (Some(TransportArg::Wrapper), false) | (None, false) => Transport::Wrapper,
        (Some(TransportArg::Hdlc), _) | (None, true) => Transport::Hdlc,
    };
    let opts = DlmsServeOptions {
        transport,
        mode_e: a.mode_e,
        ..DlmsServeOptions::default()
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Some(path) = &a.serial {
        if a.fleet.meters != 1 {
            bail!("--serial with --protocol dlms serves one meter (--meters 1)");
        }
        let meter = DlmsMeter::new(fleet.meters[0].clone());
        if a.mode_e && a.baud.is_some() {
            bail!("--baud: with --mode-e the speed is the one the sign-on agrees");
        }
        let baud = a.baud.unwrap_or(9600);
        // The port is open before the first line is printed: scripts may start at once.
        let port = if a.mode_e {
            metermaster_dlms::client::open_optical(path, 300)
        } else {
            metermaster_dlms::client::open_serial(path, baud)
        }
        .with_context(|| format!("opening {path}"))?;
        println!(
            "serving {:?} meter {} on {path}: DLMS/COSEM over HDLC{}",
            a.fleet.model,
            a.fleet.first_serial,
            if a.mode_e {
                " after the mode-E sign-on at 300 Bd 7E1".to_string()
            } else {
                format!(" at {baud} Bd 8N1")
            }
        );
        let serve = async {
            if a.mode_e {
                metermaster_sim::dlms::optical::serve_optical(port, meter, opts, true).await
            } else {
                // A serial line has no connection to close: session after session.
                metermaster_sim::dlms::serve_hdlc_line(port, meter, opts).await
            }
        };
        tokio::select! {
            r = serve => r?,
            _ = shutdown => {}
        }
        return Ok(());
    }
    if a.baud.is_some() {
        bail!("--baud with --protocol dlms is the line speed of --serial");
    }
    let addr = a.listen.as_deref().unwrap_or("127.0.0.1:4059");
    let listeners = bind_consecutive(addr, a.fleet.meters).await?;
    let first = listeners[0].local_addr()?;
    let last_port = first.port() + (a.fleet.meters - 1) as u16;
    let last = a.fleet.first_serial + u64::from(a.fleet.meters) - 1;
    // Scripts wait for this line (same start as the FLAG one) to know the ports are open.
    println!(
        "listening on tcp://{first} with {} {:?} meter(s) {}..{}: DLMS/COSEM over {}, meter i on port {}+i-1 (last {last_port})",
        a.fleet.meters,
        a.fleet.model,
        a.fleet.first_serial,
        last,
        match (transport, a.mode_e) {
            (Transport::Wrapper, _) => "the TCP wrapper",
            (Transport::Hdlc, false) => "HDLC",
            (Transport::Hdlc, true) => "HDLC after the IEC 62056-21 mode-E sign-on",
        },
        first.port(),
    );
    let pairs = listeners
        .into_iter()
        .zip(fleet.meters.iter().cloned().map(DlmsMeter::new))
        .collect();
    metermaster_sim::dlms::serve_dlms(pairs, opts, shutdown).await?;
    Ok(())
}
