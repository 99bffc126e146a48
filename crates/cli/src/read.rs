//! `metermaster read`: read one meter now.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use metermaster_flag::client::{ClientOptions, FlagClient};
use metermaster_flag::reader::{ReadOptions, read_connection};
use metermaster_flag::transport::Connection;

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Where the meter is: tcp://HOST:PORT or serial:///dev/ttyUSB0?baud=300 (&fixed=1 for
    /// module ports that do not switch speed).
    pub connection: String,
    /// The device address sent in the sign-on (the serial number on a simulated bus; empty on
    /// an optical port).
    #[arg(long, default_value = "")]
    pub address: String,
    /// Protocol: flag (IEC 62056-21, Elster dialect).
    #[arg(long, default_value = "flag")]
    pub protocol: String,
    /// Password (8 characters). Without it the meter is read with read-only access.
    #[arg(long)]
    pub password: Option<String>,
    /// Days of load profile (1 = today so far; 0 = none).
    #[arg(long, conflicts_with = "since")]
    pub days: Option<u16>,
    /// Load profile since this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// The meter clock's offset from UTC, e.g. +01:00 (meters keep local standard time).
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    pub utc_offset: String,
    /// Read only these parts (comma-separated): registers, demand, details, history,
    /// programming, events, profile, instantaneous. Identity and clock are always read.
    #[arg(long, value_delimiter = ',')]
    pub only: Option<Vec<String>>,
    /// Billing-history sets to read.
    #[arg(long, default_value_t = 1)]
    pub billing_sets: u32,
    /// Daily-history sets to read (A1140).
    #[arg(long, default_value_t = 0)]
    pub daily_sets: u32,
    /// Read packet by packet (R1) even where the binary RD stream would work.
    #[arg(long)]
    pub no_stream: bool,
    /// A plain data readout (mode C) instead of the full programming-mode read.
    #[arg(long)]
    pub readout: bool,
    /// Connections to try in all when the link drops or breaks mid-read.
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Seconds to wait for a reply before repeating the request.
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
    /// Print the Reading as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the Reading to this file: the .RES format when the name ends in `.res`
    /// (see docs/res-format.md), else JSON. The file is replaced.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Do not store the reading (by default every reading is stored, see --database).
    #[arg(long)]
    pub no_store: bool,
    /// Also write the reading to DIR/SERIAL.res (default: the configuration's
    /// `output.res_folder`).
    #[arg(long)]
    pub res_folder: Option<std::path::PathBuf>,
    /// What happens to an existing SERIAL.res: the reading is appended (a history) or the file
    /// is replaced (default: the configuration's `output.res_mode`, else append).
    #[arg(long, value_enum)]
    pub res_mode: Option<crate::config::ResMode>,
    #[command(flatten)]
    pub store: crate::files::StoreArgs,
}

/// Adds a reading to a meter's .RES output file, or replaces the file.
pub fn write_res_output(
    folder: &std::path::Path,
    mode: crate::config::ResMode,
    reading: &metermaster_model::Reading,
) -> Result<std::path::PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let name: String = reading
        .meter
        .serial
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = folder.join(format!("{name}.res"));
    let text = metermaster_res::to_res(reading);
    match mode {
        crate::config::ResMode::Overwrite => crate::write_file_atomically(&path, text.as_bytes())?,
        crate::config::ResMode::Append => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("appending to {}", path.display()))?;
        }
    }
    Ok(path)
}

pub fn parse_offset(s: &str) -> Result<i32> {
    let bad = || anyhow::anyhow!("--utc-offset {s:?} must look like +01:00 or -05:00");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

pub async fn run(a: ReadArgs) -> Result<()> {
    if a.protocol != "flag" {
        bail!(
            "--protocol {:?}: only flag is supported so far (dlms comes next)",
            a.protocol
        );
    }
    let conn = Connection::parse(&a.connection)?;
    let utc_offset_s = parse_offset(&a.utc_offset)?;
    if !(a.timeout > 0.0 && a.timeout < 600.0) {
        bail!("--timeout must be between 0 and 600 seconds");
    }
    let copts = ClientOptions {
        response_timeout: Duration::from_secs_f64(a.timeout),
        use_rd: !a.no_stream,
        turnaround: if matches!(conn, Connection::Serial { .. }) {
            Duration::from_millis(20)
        } else {
            Duration::ZERO
        },
        ..ClientOptions::default()
    };
    if a.readout {
        let link = conn.open(Duration::from_secs(10)).await?;
        let mut client = FlagClient::attach(link, copts);
        let (ident, msg) = client
            .data_readout(&a.address)
            .await
            .with_context(|| format!("data readout of {conn} address {:?}", a.address))?;
        if a.json {
            let (regs, _) = metermaster_flag::readout::to_registers(&msg);
            let v = serde_json::json!({
                "ident": ident.line(),
                "registers": regs,
                "lines": msg.lines.iter().map(|l| serde_json::json!({
                    "address": l.address,
                    "values": l.values.iter().map(|v| serde_json::json!({"value": v.value, "unit": v.unit})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("identification  {}", ident.line());
            for l in &msg.lines {
                let vals: Vec<String> = l
                    .values
                    .iter()
                    .map(|v| match &v.unit {
                        Some(u) => format!("{} {u}", v.value),
                        None => v.value.clone(),
                    })
                    .collect();
                println!("{:<14}  {}", l.address, vals.join("  "));
            }
        }
        return Ok(());
    }
    let since: Option<DateTime<Utc>> = match &a.since {
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .with_context(|| format!("--since {s:?} is not an RFC 3339 time"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let profile_days = match (a.days, since) {
        (Some(d), _) => d,
        (None, Some(s)) => {
            let local_now = metermaster_flag::codec::utc_to_local(Utc::now(), utc_offset_s);
            metermaster_flag::reader::days_since(s, local_now, utc_offset_s)
        }
        (None, None) => 1,
    };
    let mut opts = ReadOptions {
        address: a.address.clone(),
        password: a.password.clone(),
        profile_days,
        since,
        utc_offset_s,
        billing_sets: a.billing_sets,
        daily_sets: a.daily_sets,
        ..ReadOptions::default()
    };
    if let Some(parts) = &a.only {
        const KNOWN: [&str; 8] = [
            "registers",
            "demand",
            "details",
            "history",
            "programming",
            "events",
            "profile",
            "instantaneous",
        ];
        if let Some(bad) = parts.iter().find(|p| !KNOWN.contains(&p.as_str())) {
            bail!("--only {bad:?}: known parts are {}", KNOWN.join(", "));
        }
        let has = |p: &str| parts.iter().any(|x| x == p);
        opts.registers = has("registers");
        opts.demand = has("demand");
        opts.details = has("details");
        opts.programming = has("programming");
        opts.events = has("events");
        opts.instantaneous = has("instantaneous");
        if !has("history") {
            opts.billing_sets = 0;
            opts.daily_sets = 0;
        }
        if !has("profile") {
            opts.profile_days = 0;
        }
    }
    let (reading, stats) = read_connection(&conn, &copts, &opts, a.attempts)
        .await
        .with_context(|| format!("reading {conn} address {:?}", a.address))?;
    if let Some(path) = &a.out {
        let is_res = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("res"));
        let text = if is_res {
            metermaster_res::to_res(&reading)
        } else {
            serde_json::to_string_pretty(&reading)?
        };
        crate::write_file_atomically(path, text.as_bytes())?;
    }
    let cfg = crate::config::get();
    if let Some(folder) = a.res_folder.as_ref().or(cfg.output.res_folder.as_ref()) {
        let mode = a.res_mode.unwrap_or(cfg.output.res_mode);
        let p = write_res_output(folder, mode, &reading)?;
        eprintln!("written to {}", p.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reading)?);
    } else {
        crate::print::reading(&reading, Some(&stats));
    }
    // Stored last: a store that cannot be written still lets the user see (and keep, with
    // --out or the .RES output folder) what was read.
    if !a.no_store {
        use metermaster_store::Store;
        let store = a.store.open().await?;
        let origin = format!("read {conn} address {:?}", a.address);
        let out = store
            .write(metermaster_store::Batch {
                readings: vec![(reading.clone(), origin)],
                ..Default::default()
            })
            .await
            .with_context(|| format!("storing the reading in {}", a.store.url()))?;
        eprintln!(
            "stored in {} ({} new reading, {} interval values written)",
            a.store.url(),
            out.readings_new,
            out.intervals_changed
        );
    }
    Ok(())
}
