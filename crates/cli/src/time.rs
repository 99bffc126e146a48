//! `metermaster time`: a meter's clock against ours: check the drift, trim it within the
//! meter's trim limit (not programming), or set it (programming, at the higher password level).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Args;
use metermaster_flag::client::{ClientOptions, FlagClient};
use metermaster_flag::codec::{decode_clock, encode_clock, utc_to_local};
use metermaster_flag::ids;
use metermaster_flag::reader::open_session;
use metermaster_flag::transport::Connection;
use metermaster_store::{AuditEntry, Batch, Store};

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
    pub protocol: String,
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

/// The meter's clock minus ours, in seconds (positive: the meter is fast).
async fn drift<L: metermaster_flag::transport::Link>(
    c: &mut FlagClient<L>,
    offset_s: i32,
) -> Result<(chrono::NaiveDateTime, f64)> {
    let before = Utc::now();
    let raw = c.read_id(ids::CLOCK, 7).await?;
    let after = Utc::now();
    let meter = decode_clock(&raw).context("the meter's clock (861) is not a valid time")?;
    // Ours at the middle of the exchange, on the meter's wall clock.
    let mid = before + (after - before) / 2;
    let ours = utc_to_local(mid, offset_s);
    let d = (meter - ours).num_milliseconds() as f64 / 1000.0;
    Ok((meter, d))
}

pub async fn run(a: TimeArgs) -> Result<()> {
    match a.protocol.as_str() {
        "flag" if a.time_zone.is_some() => {
            bail!(
                "--time-zone writes a DLMS Clock's time zone; a FLAG meter keeps the standard time of its program"
            )
        }
        "flag" => {}
        "dlms" => return run_dlms(a).await,
        other => bail!("--protocol {other:?}: flag or dlms"),
    }
    let conn = Connection::parse(&a.connection)?;
    let offset_s = crate::read::parse_offset(&a.utc_offset)?;
    crate::program::check_operator_name(&a.user)?;
    let link = conn.open(Duration::from_secs(10)).await?;
    let mut c = FlagClient::attach(link, ClientOptions::default());
    let result = async {
        let (ident, _) = open_session(&mut c, &a.address, a.password.as_deref())
            .await
            .with_context(|| format!("signing on to {conn} address {:?}", a.address))?;
        let serial = metermaster_flag::codec::ascii(&c.read_id(ids::SERIAL, 16).await?);
        let (meter_before, before) = drift(&mut c, offset_s).await?;
        let mut action = "check";
        if a.adjust || a.set {
            let limit = f64::from(a.trim_limit);
            if a.adjust && before.abs() > limit {
                bail!(
                    "the meter is {before:+.1} s off, beyond its {} s trim limit: `time --set` (level 2 password) sets it, and counts as programming",
                    a.trim_limit
                );
            }
            if a.set {
                // The operator name goes into the programming log with the time set.
                let mut name = [b' '; 12];
                name[..a.user.len()].copy_from_slice(a.user.as_bytes());
                c.write_id(ids::OPERATOR_NAME, &name).await?;
            }
            // Our time half a second on: the meter takes whole seconds, so this is the nearest.
            let target = utc_to_local(Utc::now() + chrono::Duration::milliseconds(500), offset_s);
            c.write_id(ids::CLOCK, &encode_clock(target))
                .await
                .context(if a.set {
                    "setting the clock (needs a level 2 password)"
                } else {
                    "trimming the clock (needs a level 1 password)"
                })?;
            action = if a.set { "set" } else { "trim" };
        }
        let (meter_after, after) = drift(&mut c, offset_s).await?;
        Ok::<_, anyhow::Error>((ident, serial, action, meter_before, before, meter_after, after))
    }
    .await;
    let _ = c.log_off().await;
    let outcome_text = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("failed: {e:#}"),
    };
    if a.adjust || a.set {
        // Every attempt to change a meter's clock goes to the audit log, whatever came of it.
        let store = a.store.open().await?;
        let (serial, detail) = match &result {
            Ok((_, s, _, _, b, _, af)) => (
                Some(s.clone()),
                format!("{conn}: drift {b:+.1} s before, {af:+.1} s after"),
            ),
            Err(_) => (None, format!("{conn} address {:?}", a.address)),
        };
        store
            .write(Batch {
                audit: vec![AuditEntry {
                    time: Utc::now(),
                    user: a.user.clone(),
                    action: if a.set { "time set" } else { "time trim" }.into(),
                    meter: serial,
                    detail,
                    outcome: outcome_text.clone(),
                }],
                ..Batch::default()
            })
            .await?;
    }
    let (ident, serial, action, meter_before, before, meter_after, after) = result?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "meter": serial,
                "ident": ident.line(),
                "action": action,
                "meter_time_before": meter_before,
                "drift_before_s": before,
                "meter_time_after": meter_after,
                "drift_after_s": after,
                "trim_limit_s": a.trim_limit,
            }))?
        );
    } else {
        println!("meter {serial} ({})", ident.line());
        println!("clock {meter_before}  drift {before:+.1} s");
        if action != "check" {
            println!("{action}: clock {meter_after}  drift {after:+.1} s");
        } else if before.abs() > f64::from(a.trim_limit) {
            println!(
                "beyond the {} s trim limit: `--set` corrects it (counts as programming)",
                a.trim_limit
            );
        }
    }
    Ok(())
}

const DLMS_CLOCK: metermaster_model::ObisCode =
    metermaster_model::ObisCode::new(0, 0, 1, 0, 0, 255);

/// The DLMS clock's time attribute as a UTC instant, the meter's local time and its deviation.
async fn dlms_clock<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send>(
    c: &mut metermaster_dlms::client::DlmsClient<S>,
    policy: &metermaster_dlms::client::reader::TimePolicy,
) -> Result<(chrono::NaiveDateTime, chrono::DateTime<Utc>, f64, i16)> {
    use metermaster_dlms::apdu::AttributeDescriptor;
    let before = Utc::now();
    let d = c
        .get(AttributeDescriptor::new(8, DLMS_CLOCK, 2), None)
        .await?;
    let after = Utc::now();
    let dt = d
        .to_date_time()
        .map_err(|e| anyhow::anyhow!("the meter's clock (0.0.1.0.0.255): {e}"))?;
    let (local, offset_s, utc) = policy
        .to_utc(&dt, None)
        .map_err(|e| anyhow::anyhow!("the meter's clock (0.0.1.0.0.255): {e}"))?;
    let mid = before + (after - before) / 2;
    let drift = (utc - mid).num_milliseconds() as f64 / 1000.0;
    Ok((local, utc, drift, (-offset_s / 60) as i16))
}

/// `time --protocol dlms`: drift check, trim by the clock's shift_time method (within the trim
/// limit), or a set of its time attribute.
async fn run_dlms(a: TimeArgs) -> Result<()> {
    use metermaster_dlms::Data;
    use metermaster_dlms::apdu::{AttributeDescriptor, MethodDescriptor};
    use metermaster_dlms::axdr::{ClockStatus, CosemDateTime};
    use metermaster_dlms::client::DlmsClient;
    use metermaster_dlms::client::reader::TimePolicy;
    let ra = crate::read::ReadArgs::for_dlms(
        a.connection.clone(),
        a.address.clone(),
        a.password.clone(),
        a.utc_offset.clone(),
        a.dlms,
    );
    let setup = crate::read::dlms_setup(&ra).await?;
    let policy = TimePolicy {
        fallback_utc_offset_s: setup.utc_offset_s,
        ..TimePolicy::default()
    };
    let what = setup.what.replacen("reading", "setting the clock of", 1);
    // The zone as the Clock keeps it: minutes UTC − local standard time.
    let time_zone = match &a.time_zone {
        None => None,
        Some(z) => {
            let s = crate::read::parse_offset(z)?;
            if s % 60 != 0 || s.abs() > 12 * 3600 {
                bail!("--time-zone {z:?}: whole minutes, at most 12 hours from UTC");
            }
            Some((-s / 60) as i16)
        }
    };
    let result = async {
        let stream = crate::read::dlms_open(&setup.conn, setup.mode_e.as_ref()).await?;
        let mut c = DlmsClient::connect(stream, setup.session.clone()).await?;
        c.associate().await?;
        if let Some(z) = time_zone {
            c.set(
                AttributeDescriptor::new(8, DLMS_CLOCK, 3),
                None,
                &Data::Long(z),
            )
            .await
            .context("writing the Clock's time zone (needs the management client)")?;
        }
        let (meter_before, _, before, deviation) = dlms_clock(&mut c, &policy).await?;
        let mut action = if time_zone.is_some() {
            "time zone"
        } else {
            "check"
        };
        if a.adjust || a.set {
            let limit = f64::from(a.trim_limit);
            if a.adjust && before.abs() > limit {
                bail!(
                    "the meter is {before:+.1} s off, beyond its {} s trim limit: `time --set` (the management client) sets it, and counts as programming",
                    a.trim_limit
                );
            }
            if a.adjust {
                // shift_time takes whole seconds (−900 … 900): the meter adds them.
                let shift = (-before).round() as i16;
                c.action(
                    MethodDescriptor::new(8, DLMS_CLOCK, 6),
                    Some(Data::Long(shift)),
                )
                .await
                .context("trimming the clock (shift_time)")?;
                action = "trim";
            } else {
                // The meter's programming log names who set it (as FLAG's 680 does). Only the
                // management client may write the name; a client that may not (its set is a
                // small one, not programming) goes on without.
                match c
                    .set(
                        AttributeDescriptor::new(1, crate::program::PROGRAMMING_USER, 2),
                        None,
                        &Data::octet_string(a.user.as_bytes().to_vec()),
                    )
                    .await
                {
                    Err(e) if e.data_access_result().is_none() => {
                        return Err(anyhow::Error::new(e)
                            .context("writing the user name (0.0.96.2.128.255)"));
                    }
                    _ => {}
                }
                let target = Utc::now() + chrono::Duration::milliseconds(500);
                let dt = CosemDateTime::from_utc(target, deviation, ClockStatus(0))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                c.set(
                    AttributeDescriptor::new(8, DLMS_CLOCK, 2),
                    None,
                    &Data::octet_string(dt.to_bytes().to_vec()),
                )
                .await
                .context("setting the clock (needs the management client)")?;
                action = "set";
            }
        }
        let (meter_after, _, after, _) = dlms_clock(&mut c, &policy).await?;
        let _ = c.release().await;
        let _ = c.disconnect().await;
        Ok::<_, anyhow::Error>((action, meter_before, before, meter_after, after))
    }
    .await;
    if a.adjust || a.set || time_zone.is_some() {
        let store = a.store.open().await?;
        let zone = time_zone
            .map(|z| {
                format!(
                    "; time zone {} (time_zone {z})",
                    a.time_zone.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        let detail = match &result {
            Ok((_, _, b, _, af)) => {
                format!("{what}: drift {b:+.1} s before, {af:+.1} s after{zone}")
            }
            Err(_) => format!("{what}{zone}"),
        };
        store
            .write(Batch {
                audit: vec![AuditEntry {
                    time: Utc::now(),
                    user: a.user.clone(),
                    action: if a.set {
                        "time set"
                    } else if a.adjust {
                        "time trim"
                    } else {
                        "time zone"
                    }
                    .into(),
                    meter: None,
                    detail,
                    outcome: match &result {
                        Ok(_) => "ok".to_string(),
                        Err(e) => format!("failed: {e:#}"),
                    },
                }],
                ..Batch::default()
            })
            .await?;
    }
    let (action, meter_before, before, meter_after, after) =
        result.with_context(|| what.clone())?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "action": action,
                "meter_time_before": meter_before,
                "drift_before_s": before,
                "meter_time_after": meter_after,
                "drift_after_s": after,
                "trim_limit_s": a.trim_limit,
            }))?
        );
    } else {
        println!("clock {meter_before}  drift {before:+.1} s");
        if action != "check" {
            println!("{action}: clock {meter_after}  drift {after:+.1} s");
        }
    }
    Ok(())
}
