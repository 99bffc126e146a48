//! `metermaster audit`: a meter's own record of who programmed it and when.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use metermaster_flag::client::ClientOptions;
use metermaster_flag::reader::{ReadOptions, read_connection};
use metermaster_flag::transport::Connection;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Where the meter is: tcp://HOST:PORT or serial:///dev/ttyUSB0?baud=300.
    pub connection: String,
    /// The device address sent in the sign-on.
    #[arg(long, default_value = "")]
    pub address: String,
    /// Password (not needed to read the log).
    #[arg(long)]
    pub password: Option<String>,
    /// The meter clock's offset from UTC, e.g. +01:00.
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    pub utc_offset: String,
    /// Print JSON: `meter`, `scheme` (in force now), `count` and `records` (`time`, `user`,
    /// `scheme`, `port`), most recent first.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: AuditArgs) -> Result<()> {
    let conn = Connection::parse(&a.connection)?;
    let opts = ReadOptions {
        address: a.address.clone(),
        password: a.password.clone(),
        utc_offset_s: crate::read::parse_offset(&a.utc_offset)?,
        profile_days: 0,
        billing_sets: 0,
        daily_sets: 0,
        registers: false,
        demand: false,
        details: false,
        programming: true,
        events: false,
        instantaneous: false,
        ..ReadOptions::default()
    };
    let copts = ClientOptions {
        response_timeout: Duration::from_secs(3),
        ..ClientOptions::default()
    };
    let (reading, _) = read_connection(&conn, &copts, &opts, 3)
        .await
        .with_context(|| {
            format!(
                "reading the programming log of {conn} address {:?}",
                a.address
            )
        })?;
    let log = reading.programming.clone().unwrap_or_default();
    let scheme_now = reading
        .meter
        .scheme_id
        .clone()
        .filter(|s| !s.trim().is_empty());
    // The meter keeps the scheme in force, not one per session: the latest session's scheme is
    // the one in force now; older sessions keep theirs only where the record says.
    let records: Vec<serde_json::Value> = log
        .records
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let scheme = r
                .scheme
                .clone()
                .or(if k == 0 { scheme_now.clone() } else { None });
            serde_json::json!({"time": r.time, "user": r.user, "scheme": scheme, "port": r.port})
        })
        .collect();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "meter": reading.meter.serial,
                "scheme": scheme_now,
                "count": log.count,
                "records": records,
            }))?
        );
    } else {
        println!(
            "meter {}: programmed {} times; scheme in force {}",
            reading.meter.serial,
            log.count,
            scheme_now.as_deref().unwrap_or("-")
        );
        for r in &records {
            println!(
                "  {}  {:<12}  {:<16}  {}",
                r["time"].as_str().unwrap_or("-"),
                r["user"].as_str().unwrap_or("-"),
                r["scheme"].as_str().unwrap_or("-"),
                r["port"].as_str().unwrap_or("-")
            );
        }
    }
    Ok(())
}
