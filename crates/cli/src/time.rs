//! `metermaster time`: a meter's clock against ours: check the drift, trim it within the
//! meter's trim limit (not programming), or set it (programming, at the higher password level).

use anyhow::Result;
use clap::Args;
use metermaster_master::{ClockAction, ClockRequest, Protocol};

#[derive(Debug, Args)]
pub struct TimeArgs {
    /// Where the meter is: tcp://HOST:PORT or serial:///dev/ttyUSB0?baud=300.
    pub connection: String,
    /// The device address sent in the sign-on.
    #[arg(long, default_value = "")]
    pub address: String,
    /// Protocol: flag or dlms (then the DLMS options below apply: a trim is the clock's
    /// shift_time method, a set writes its time attribute).
    #[arg(long, default_value = "flag")]
    pub protocol: Protocol,
    /// Password: FLAG level 1 or higher to trim, level 2 or higher to set; DLMS the LLS secret
    /// for --auth low.
    #[arg(long)]
    pub password: Option<String>,
    /// Trim the clock to ours when the drift is within the trim limit.
    #[arg(long, conflicts_with = "set")]
    pub adjust: bool,
    /// Set the clock to ours whatever the drift (counts as programming).
    #[arg(long)]
    pub set: bool,
    /// The meter's trim limit in seconds (a larger correction is a time set).
    #[arg(long, default_value_t = 30)]
    pub trim_limit: u32,
    /// Who does it: written to the meter's programming log (for --set) and the audit log.
    #[arg(long, env = "USER", default_value = "metermaster")]
    pub user: String,
    /// The meter clock's offset from UTC, e.g. +01:00 (meters keep local standard time).
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    pub utc_offset: String,
    /// DLMS, management client: write the Clock's time zone first: the meter's local standard
    /// time as an offset from UTC, e.g. +10:00 (its time_zone attribute gets −600, minutes
    /// UTC − local). A calendar's switch times are kept in this zone.
    #[arg(long, allow_hyphen_values = true, value_name = "OFFSET")]
    pub time_zone: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: crate::files::StoreArgs,
    #[command(flatten)]
    pub dlms: crate::read::DlmsArgs,
}

pub async fn run(a: TimeArgs) -> Result<()> {
    let ra = crate::read::ReadArgs::for_dlms(
        a.connection.clone(),
        a.address.clone(),
        a.password.clone(),
        a.utc_offset.clone(),
        a.dlms,
    );
    let mut target = ra.target()?;
    target.protocol = a.protocol;
    let req = ClockRequest {
        action: if a.set {
            ClockAction::Set
        } else if a.adjust {
            ClockAction::Trim
        } else {
            ClockAction::Check
        },
        trim_limit_s: a.trim_limit,
        user: a.user.clone(),
        time_zone_s: a
            .time_zone
            .as_deref()
            .map(crate::read::parse_offset)
            .transpose()?,
    };
    let changes = req.action != ClockAction::Check || req.time_zone_s.is_some();
    let store = if changes {
        Some(a.store.open().await?)
    } else {
        None
    };
    let r = metermaster_master::meter_clock(&target, &req, store.as_ref()).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    if let (Some(serial), Some(ident)) = (&r.meter, &r.ident) {
        println!("meter {serial} ({ident})");
    }
    println!(
        "clock {}  drift {:+.1} s",
        r.meter_time_before, r.drift_before_s
    );
    if r.action != "check" {
        println!(
            "{}: clock {}  drift {:+.1} s",
            r.action, r.meter_time_after, r.drift_after_s
        );
    } else if r.drift_before_s.abs() > f64::from(r.trim_limit_s) {
        println!(
            "beyond the {} s trim limit: `--set` corrects it (counts as programming)",
            r.trim_limit_s
        );
    }
    Ok(())
}
