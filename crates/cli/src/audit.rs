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
    /// Protocol: flag or dlms (then the DLMS options below apply; the log is the meter's
    /// 0.0.96.2.0.255 counter and 0.0.99.98.10.255 profile).
    #[arg(long, default_value = "flag")]
    pub protocol: String,
    /// Password (FLAG: not needed to read the log; DLMS: the LLS secret for --auth low).
    #[arg(long)]
    pub password: Option<String>,
    /// The meter clock's offset from UTC, e.g. +01:00.
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    pub utc_offset: String,
    /// Print JSON: `meter`, `scheme` (in force now), `count` and `records` (`time`, `user`,
    /// `scheme`, `port`), most recent first.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dlms: crate::read::DlmsArgs,
}

/// The log of a DLMS meter, through `read --protocol dlms --only programming`.
async fn dlms_log(a: AuditArgs) -> Result<(metermaster_model::Reading, bool)> {
    let json = a.json;
    let mut r =
        crate::read::ReadArgs::for_dlms(a.connection, a.address, a.password, a.utc_offset, a.dlms);
    r.only = Some(vec!["programming".into(), "details".into()]);
    r.json = json;
    let (mut reading, _, _) = crate::read::dlms_reading(&r).await?;
    // The latest session's scheme is the one in force.
    if reading.meter.scheme_id.is_none() {
        reading.meter.scheme_id = reading
            .programming
            .as_ref()
            .and_then(|p| p.records.first())
            .and_then(|r| r.scheme.clone());
    }
    Ok((reading, json))
}

pub async fn run(a: AuditArgs) -> Result<()> {
    match a.protocol.as_str() {
        "flag" => {}
        "dlms" => {
            let (reading, json) = dlms_log(a).await?;
            if reading.programming.is_none() {
                anyhow::bail!(
                    "meter {}: no programming counter (0.0.96.2.0.255) or log (0.0.99.98.10.255) readable with this client",
                    reading.meter.serial
                );
            }
            return print_log(&reading, json);
        }
        other => anyhow::bail!("--protocol {other:?}: flag or dlms"),
    }
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
    print_log(&reading, a.json)
}

/// Prints a reading's programming log: a table, or JSON `meter`, `scheme`, `count`, `records`.
fn print_log(reading: &metermaster_model::Reading, json: bool) -> Result<()> {
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
    if json {
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
