//! The meter's clock against ours: check the drift, trim it within the meter's trim limit
//! (not programming), or set it (programming). Every attempt to change a clock is audited.

use chrono::{DateTime, NaiveDateTime, Utc};
use metermaster_flag::client::FlagClient;
use metermaster_flag::codec::{decode_clock, encode_clock, utc_to_local};
use metermaster_flag::ids;
use metermaster_flag::reader::open_session;
use metermaster_model::well_known;
use metermaster_store::{AnyStore, AuditEntry, Batch, Store};

use crate::error::{ErrorKind, MasterError, Stage};
use crate::target::{MeterTarget, Protocol, dlms_open, dlms_setup};

/// What to do with the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockAction {
    /// Read it and say how far off it is.
    Check,
    /// Bring it to ours when the drift is within the trim limit (not programming).
    Trim,
    /// Set it to ours whatever the drift (programming).
    Set,
}

/// A clock request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockRequest {
    pub action: ClockAction,
    /// The meter's trim limit in seconds: a larger correction is a set.
    pub trim_limit_s: u32,
    /// Who does it (the meter's programming log for a set, the audit log).
    pub user: String,
    /// DLMS, management client: the Clock's time zone to write first, as the offset of local
    /// standard time from UTC in seconds.
    pub time_zone_s: Option<i32>,
}

/// What the meter's clock showed, before and after.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClockReport {
    /// The meter's serial number (FLAG; DLMS when readable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meter: Option<String>,
    /// The identification line (FLAG).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ident: Option<String>,
    /// `check`, `trim`, `set` or `time zone`.
    pub action: &'static str,
    pub meter_time_before: NaiveDateTime,
    pub drift_before_s: f64,
    pub meter_time_after: NaiveDateTime,
    pub drift_after_s: f64,
    pub trim_limit_s: u32,
}

/// Checks an operator name a meter can keep: 1 to 12 ASCII characters.
pub fn check_operator_name(user: &str) -> Result<(), String> {
    if user.trim().is_empty() || user.len() > 12 || !user.is_ascii() {
        return Err(format!(
            "--user {user:?}: 1 to 12 ASCII characters (the meter keeps 12)"
        ));
    }
    Ok(())
}

/// Reads, trims or sets a meter's clock. A trim or set (and a DLMS time zone write) is
/// written to the store's audit log whatever its outcome; `store` is required for those.
pub async fn meter_clock(
    t: &MeterTarget,
    req: &ClockRequest,
    store: Option<&AnyStore>,
) -> Result<ClockReport, MasterError> {
    t.check()?;
    check_operator_name(&req.user).map_err(|e| MasterError::invalid(t.name(), e))?;
    let changes = req.action != ClockAction::Check || req.time_zone_s.is_some();
    if changes && store.is_none() {
        return Err(MasterError::invalid(
            t.name(),
            "a clock change is audited: it needs the store",
        ));
    }
    match t.protocol {
        Protocol::Flag => {
            if req.time_zone_s.is_some() {
                return Err(MasterError::invalid(
                    t.name(),
                    "--time-zone writes a DLMS Clock's time zone; a FLAG meter keeps the standard time of its program",
                ));
            }
            flag_clock(t, req, store).await
        }
        Protocol::Dlms => dlms_clock_request(t, req, store).await,
    }
}

async fn audit(
    store: Option<&AnyStore>,
    t: &MeterTarget,
    entry: AuditEntry,
) -> Result<(), MasterError> {
    if let Some(s) = store {
        s.write(Batch {
            audit: vec![entry],
            ..Batch::default()
        })
        .await
        .map_err(|e| MasterError::new(t.name(), Stage::Keep, "writing the audit log", e))?;
    }
    Ok(())
}

/// The meter's clock minus ours, in seconds (positive: the meter is fast).
async fn flag_drift<L: metermaster_flag::transport::Link>(
    c: &mut FlagClient<L>,
    offset_s: i32,
) -> Result<(NaiveDateTime, f64), ErrorKind> {
    let before = Utc::now();
    let raw = c.read_id(ids::CLOCK, 7).await?;
    let after = Utc::now();
    let meter = decode_clock(&raw)
        .ok_or_else(|| ErrorKind::Invalid("the meter's clock (861) is not a valid time".into()))?;
    let mid = before + (after - before) / 2;
    let ours = utc_to_local(mid, offset_s);
    Ok((meter, (meter - ours).num_milliseconds() as f64 / 1000.0))
}

async fn flag_clock(
    t: &MeterTarget,
    req: &ClockRequest,
    store: Option<&AnyStore>,
) -> Result<ClockReport, MasterError> {
    let conn = &t.connection;
    let link = metermaster_flag::transport::open(conn, std::time::Duration::from_secs(10))
        .await
        .map_err(|e| MasterError::new(t.name(), Stage::Connect, format!("opening {conn}"), e))?;
    let mut c = FlagClient::attach(link, crate::read::flag_client_options(t));
    let offset_s = t.utc_offset_s;
    // The serial as soon as it is read: a failure later is still audited under the meter.
    let mut seen_serial: Option<String> = None;
    let result: Result<ClockReport, (Stage, String, ErrorKind)> = async {
        let (ident, _) = open_session(&mut c, &t.address, t.password.as_deref())
            .await
            .map_err(|e| {
                (
                    Stage::Connect,
                    format!("signing on to {conn} address {:?}", t.address),
                    e.into(),
                )
            })?;
        let read = |what: &str| (Stage::Read, what.to_string());
        let serial = metermaster_flag::codec::ascii(
            &c.read_id(ids::SERIAL, 16)
                .await
                .map_err(|e| (Stage::Read, "reading the serial number".into(), e.into()))?,
        );
        seen_serial = Some(serial.clone());
        let (meter_before, before) = flag_drift(&mut c, offset_s).await.map_err(|e| {
            let (s, w) = read("reading the clock");
            (s, w, e)
        })?;
        let mut action = "check";
        if req.action != ClockAction::Check {
            let limit = f64::from(req.trim_limit_s);
            if req.action == ClockAction::Trim && before.abs() > limit {
                let why = format!(
                    "the meter is {before:+.1} s off, beyond its {} s trim limit: `time --set` (level 2 password) sets it, and counts as programming",
                    req.trim_limit_s
                );
                return Err((Stage::Read, why.clone(), ErrorKind::Invalid(why)));
            }
            if req.action == ClockAction::Set {
                // The operator name goes into the programming log with the time set.
                let mut name = [b' '; 12];
                name[..req.user.len()].copy_from_slice(req.user.as_bytes());
                c.write_id(ids::OPERATOR_NAME, &name).await.map_err(|e| {
                    (Stage::Read, "writing the operator name".into(), e.into())
                })?;
            }
            // Our time half a second on: the meter takes whole seconds, so this is the nearest.
            let target = utc_to_local(Utc::now() + chrono::Duration::milliseconds(500), offset_s);
            c.write_id(ids::CLOCK, &encode_clock(target))
                .await
                .map_err(|e| {
                    (
                        Stage::Read,
                        if req.action == ClockAction::Set {
                            "setting the clock (needs a level 2 password)".into()
                        } else {
                            "trimming the clock (needs a level 1 password)".into()
                        },
                        e.into(),
                    )
                })?;
            action = if req.action == ClockAction::Set {
                "set"
            } else {
                "trim"
            };
        }
        let (meter_after, after) = flag_drift(&mut c, offset_s).await.map_err(|e| {
            let (s, w) = read("reading the clock again");
            (s, w, e)
        })?;
        Ok(ClockReport {
            meter: Some(serial),
            ident: Some(ident.line()),
            action,
            meter_time_before: meter_before,
            drift_before_s: before,
            meter_time_after: meter_after,
            drift_after_s: after,
            trim_limit_s: req.trim_limit_s,
        })
    }
    .await;
    let _ = c.log_off().await;
    if req.action != ClockAction::Check {
        // Every attempt to change a meter's clock goes to the audit log, whatever came of it.
        let (meter, detail, outcome) = match &result {
            Ok(r) => (
                r.meter.clone(),
                format!(
                    "{conn}: drift {:+.1} s before, {:+.1} s after",
                    r.drift_before_s, r.drift_after_s
                ),
                "ok".to_string(),
            ),
            Err((_, what, e)) => (
                seen_serial.clone(),
                format!("{conn} address {:?}", t.address),
                format!("failed: {}", crate::error::chain_text(what, e)),
            ),
        };
        audit(
            store,
            t,
            AuditEntry {
                time: Utc::now(),
                user: req.user.clone(),
                action: if req.action == ClockAction::Set {
                    "time set"
                } else {
                    "time trim"
                }
                .into(),
                meter,
                detail,
                outcome,
            },
        )
        .await?;
    }
    result.map_err(|(stage, what, e)| match e {
        ErrorKind::Invalid(_) => MasterError::invalid(t.name(), what),
        e => MasterError::new(t.name(), stage, what, e),
    })
}

/// The DLMS clock's time attribute: the meter's local time, the UTC instant, the drift and the
/// deviation.
async fn dlms_clock<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send>(
    c: &mut metermaster_dlms::client::DlmsClient<S>,
    policy: &metermaster_dlms::client::reader::TimePolicy,
) -> Result<(NaiveDateTime, DateTime<Utc>, f64, i16), ErrorKind> {
    use metermaster_dlms::apdu::AttributeDescriptor;
    let before = Utc::now();
    let d = c
        .get(AttributeDescriptor::new(8, well_known::CLOCK, 2), None)
        .await?;
    let after = Utc::now();
    let dt = d
        .to_date_time()
        .map_err(|e| ErrorKind::Invalid(format!("the meter's clock (0.0.1.0.0.255): {e}")))?;
    let (local, offset_s, utc) = policy
        .to_utc(&dt, None)
        .map_err(|e| ErrorKind::Invalid(format!("the meter's clock (0.0.1.0.0.255): {e}")))?;
    let mid = before + (after - before) / 2;
    let drift = (utc - mid).num_milliseconds() as f64 / 1000.0;
    Ok((local, utc, drift, (-offset_s / 60) as i16))
}

async fn dlms_clock_request(
    t: &MeterTarget,
    req: &ClockRequest,
    store: Option<&AnyStore>,
) -> Result<ClockReport, MasterError> {
    use metermaster_dlms::Data;
    use metermaster_dlms::apdu::{AttributeDescriptor, MethodDescriptor};
    use metermaster_dlms::axdr::{ClockStatus, CosemDateTime};
    use metermaster_dlms::client::DlmsClient;
    use metermaster_dlms::client::reader::TimePolicy;
    let setup = dlms_setup(t).await?;
    let policy = TimePolicy {
        fallback_utc_offset_s: setup.utc_offset_s,
        ..TimePolicy::default()
    };
    let what = setup.what.replacen("reading", "setting the clock of", 1);
    // The zone as the Clock keeps it: minutes UTC − local standard time.
    let time_zone = match req.time_zone_s {
        None => None,
        Some(s) => {
            if s % 60 != 0 || s.abs() > 12 * 3600 {
                return Err(MasterError::invalid(
                    t.name(),
                    format!("--time-zone {s} s: whole minutes, at most 12 hours from UTC"),
                ));
            }
            Some((-s / 60) as i16)
        }
    };
    type Step = Result<ClockReport, (String, ErrorKind)>;
    let mut seen_serial: Option<String> = None;
    let result: Step = async {
        fn ctx(
            w: &'static str,
        ) -> impl Fn(metermaster_dlms::client::Error) -> (String, ErrorKind) {
            move |e| (w.to_string(), ErrorKind::from(e))
        }
        let stream = dlms_open(&setup.conn, setup.mode_e.as_ref())
            .await
            .map_err(ctx("connecting"))?;
        let mut c = DlmsClient::connect(stream, setup.session.clone())
            .await
            .map_err(ctx("connecting"))?;
        c.associate().await.map_err(ctx("associating"))?;
        // The meter's serial number, for the report and the audit log (a client that may not
        // read it goes on without).
        seen_serial = crate::target::dlms_device_id(&mut c).await;
        if let Some(z) = time_zone {
            c.set(
                AttributeDescriptor::new(8, well_known::CLOCK, 3),
                None,
                &Data::Long(z),
            )
            .await
            .map_err(ctx(
                "writing the Clock's time zone (needs the management client)",
            ))?;
        }
        let (meter_before, _, before, deviation) = dlms_clock(&mut c, &policy)
            .await
            .map_err(|e| ("reading the clock".to_string(), e))?;
        let mut action = if time_zone.is_some() {
            "time zone"
        } else {
            "check"
        };
        if req.action != ClockAction::Check {
            let limit = f64::from(req.trim_limit_s);
            if req.action == ClockAction::Trim && before.abs() > limit {
                let why = format!(
                    "the meter is {before:+.1} s off, beyond its {} s trim limit: `time --set` (the management client) sets it, and counts as programming",
                    req.trim_limit_s
                );
                return Err((why.clone(), ErrorKind::Invalid(why)));
            }
            if req.action == ClockAction::Trim {
                // shift_time takes whole seconds (−900 … 900): the meter adds them.
                let shift = (-before).round() as i16;
                c.action(
                    MethodDescriptor::new(8, well_known::CLOCK, 6),
                    Some(Data::Long(shift)),
                )
                .await
                .map_err(ctx("trimming the clock (shift_time)"))?;
                action = "trim";
            } else {
                // The meter's programming log names who set it (as FLAG's 680 does). Only the
                // management client may write the name; a client that may not (its set is a
                // small one, not programming) goes on without.
                match c
                    .set(
                        AttributeDescriptor::new(1, well_known::PROGRAMMING_USER, 2),
                        None,
                        &Data::octet_string(req.user.as_bytes().to_vec()),
                    )
                    .await
                {
                    Err(e) if e.data_access_result().is_none() => {
                        return Err(ctx("writing the user name (0.0.96.2.128.255)")(e));
                    }
                    _ => {}
                }
                let target = Utc::now() + chrono::Duration::milliseconds(500);
                let dt = CosemDateTime::from_utc(target, deviation, ClockStatus(0)).map_err(|e| {
                    let w = format!("the time to set: {e}");
                    (w.clone(), ErrorKind::Invalid(w))
                })?;
                c.set(
                    AttributeDescriptor::new(8, well_known::CLOCK, 2),
                    None,
                    &Data::octet_string(dt.to_bytes().to_vec()),
                )
                .await
                .map_err(ctx("setting the clock (needs the management client)"))?;
                action = "set";
            }
        }
        let (meter_after, _, after, _) = dlms_clock(&mut c, &policy)
            .await
            .map_err(|e| ("reading the clock again".to_string(), e))?;
        let _ = c.release().await;
        let _ = c.disconnect().await;
        Ok(ClockReport {
            meter: seen_serial.clone(),
            ident: None,
            action,
            meter_time_before: meter_before,
            drift_before_s: before,
            meter_time_after: meter_after,
            drift_after_s: after,
            trim_limit_s: req.trim_limit_s,
        })
    }
    .await;
    if req.action != ClockAction::Check || time_zone.is_some() {
        let zone = match (time_zone, req.time_zone_s) {
            (Some(z), Some(s)) => format!(
                "; time zone {} (time_zone {z})",
                crate::target::format_utc_offset(s)
            ),
            _ => String::new(),
        };
        let detail = match &result {
            Ok(r) => format!(
                "{what}: drift {:+.1} s before, {:+.1} s after{zone}",
                r.drift_before_s, r.drift_after_s
            ),
            Err(_) => format!("{what}{zone}"),
        };
        audit(
            store,
            t,
            AuditEntry {
                time: Utc::now(),
                user: req.user.clone(),
                action: match req.action {
                    ClockAction::Set => "time set",
                    ClockAction::Trim => "time trim",
                    ClockAction::Check => "time zone",
                }
                .into(),
                meter: seen_serial.clone(),
                detail,
                outcome: match &result {
                    Ok(_) => "ok".to_string(),
                    Err((w, e)) => format!("failed: {}", crate::error::chain_text(w, e)),
                },
            },
        )
        .await?;
    }
    result.map_err(|(w, e)| match e {
        ErrorKind::Invalid(_) => MasterError::invalid(t.name(), w),
        e => MasterError::new(t.name(), Stage::Read, format!("{what}: {w}"), e),
    })
}
