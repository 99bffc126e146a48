//! `metermaster audit`: a meter's own record of who programmed it and when.

use anyhow::Result;
use clap::Args;
use metermaster_master::Protocol;

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
    pub protocol: Protocol,
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

pub async fn run(a: AuditArgs) -> Result<()> {
    let protocol = a.protocol;
    let json = a.json;
    let mut target =
        crate::read::ReadArgs::for_dlms(a.connection, a.address, a.password, a.utc_offset, a.dlms)
            .target()?;
    target.protocol = protocol;
    let log = metermaster_master::programming_log(&target).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&log)?);
        return Ok(());
    }
    println!(
        "meter {}: programmed {} times; scheme in force {}",
        log.meter,
        log.count,
        log.scheme.as_deref().unwrap_or("-")
    );
    for r in &log.records {
        println!(
            "  {}  {:<12}  {:<16}  {}",
            r.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            r.user,
            r.scheme.as_deref().unwrap_or("-"),
            r.port.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
