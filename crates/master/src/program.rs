//! Programming a scheme into a meter: compiled for the meter at the other end, written,
//! verified by reading it back, every attempt in the store's audit log. A dropped line is
//! retried on a new connection; the meter stages a program and switches to it only on a
//! complete, checked commit (FLAG) or an activation (DLMS), so it is never half programmed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use metermaster_flag::client::FlagClient;
use metermaster_flag::ids::{self, MeterModel};
use metermaster_flag::program::{self, Program, ProgramOutcome, ProgramStatus, image_crc};
use metermaster_flag::reader::open_session;
use metermaster_model::well_known;
use metermaster_store::{AnyStore, AuditEntry, Batch, Store};
use metermaster_tariff::{Compiled, DlmsCalendar, MeterType, Scheme};

use crate::error::{ErrorKind, MasterError, Stage, chain_text};
use crate::target::{DlmsSetup, DlmsStream, MeterTarget, Protocol, dlms_open, dlms_setup};

/// What to program.
#[derive(Debug, Clone)]
pub struct ProgramRequest<'a> {
    pub scheme: &'a Scheme,
    /// `ID@VERSION`: the label the meter keeps.
    pub label: String,
    /// Who programs (the meter's programming log and the audit log; 12 characters at most).
    pub user: String,
    /// When the program takes over; `None` at once.
    pub activation: Option<DateTime<Utc>>,
    /// Sign on, compile and look, write nothing (FLAG); compile only (DLMS).
    pub dry_run: bool,
    /// New connections after a dropped line.
    pub retries: u32,
}

/// What a programming run reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramEvent {
    /// The line dropped during attempt `attempt`; connecting again.
    Retrying { attempt: u32, error: String },
}

/// What programming did.
#[derive(Debug)]
pub enum ProgramReport {
    /// FLAG, dry run: the meter's state and the program that would be written.
    FlagDryRun {
        meter: String,
        model: MeterModel,
        program: Program,
        status: ProgramStatus,
        counter: u32,
        warnings: Vec<String>,
    },
    /// FLAG: programmed (or found in force), verified.
    Flag {
        meter: String,
        model: MeterModel,
        program: Program,
        outcome: ProgramOutcome,
        attempts: u32,
        warnings: Vec<String>,
    },
    /// DLMS, dry run: the calendar that would be written.
    DlmsDryRun { calendar: DlmsCalendar },
    /// DLMS: calendar written, read back, activated (unless an activation time was given).
    Dlms {
        meter: Option<String>,
        writes: usize,
        counter_before: Option<u64>,
        counter_after: Option<u64>,
        activation: Option<DateTime<Utc>>,
        attempts: u32,
        warnings: Vec<String>,
    },
}

/// The CRC of a FLAG program image, as the meter shows it.
pub fn program_crc(p: &Program) -> String {
    format!("{:04X}", image_crc(&p.encode()))
}

/// A failure inside an attempt: what was being done, and why it failed.
#[derive(Debug)]
struct Failure {
    what: String,
    kind: ErrorKind,
}

impl Failure {
    fn new(what: impl Into<String>, kind: impl Into<ErrorKind>) -> Failure {
        Failure {
            what: what.into(),
            kind: kind.into(),
        }
    }
    fn invalid(why: impl Into<String>) -> Failure {
        let why = why.into();
        Failure {
            what: why.clone(),
            kind: ErrorKind::Invalid(why),
        }
    }
    fn transient(&self) -> bool {
        match &self.kind {
            ErrorKind::Flag(e) => metermaster_flag::reader::is_transient(e),
            ErrorKind::Dlms(e) => e.is_transient(),
            _ => false,
        }
    }
    fn text(&self) -> String {
        chain_text(&self.what, &self.kind)
    }
    fn into_error(mut self, t: &MeterTarget) -> MasterError {
        if self.what.is_empty() {
            self.what = format!("programming {}", t.name());
        }
        match self.kind {
            ErrorKind::Invalid(_) => {
                let mut e = MasterError::invalid(t.name(), self.what);
                e.stage = Stage::Read;
                e
            }
            k => MasterError::new(t.name(), Stage::Read, self.what, k),
        }
    }
}

/// Programs a scheme into a meter. The user must be an operator name a meter keeps; every
/// attempt (not a dry run) is written to the store's audit log, whatever came of it.
pub async fn program_meter(
    t: &MeterTarget,
    req: &ProgramRequest<'_>,
    store: &AnyStore,
    progress: impl Fn(ProgramEvent),
) -> Result<ProgramReport, MasterError> {
    t.check()?;
    crate::users::check_programmer(store, &req.user)
        .await
        .map_err(|e| MasterError::invalid(t.name(), e.to_string()))?;
    match t.protocol {
        Protocol::Flag => program_flag(t, req, store, progress).await,
        Protocol::Dlms => program_dlms(t, req, store, progress).await,
    }
}

async fn audit(store: &AnyStore, t: &MeterTarget, entry: AuditEntry) -> Result<(), MasterError> {
    store
        .write(Batch {
            audit: vec![entry],
            ..Batch::default()
        })
        .await
        .map_err(|e| MasterError::new(t.name(), Stage::Keep, "writing the audit log", e))?;
    Ok(())
}

fn family_type(model: MeterModel) -> MeterType {
    match model {
        MeterModel::A1140 => MeterType::A1140,
        MeterModel::A1700 => MeterType::A1700,
    }
}

/// One FLAG connection's worth: sign on, compile for the meter found, program (or look).
struct Attempt {
    serial: String,
    model: MeterModel,
    program: Program,
    /// `None` in a dry run.
    outcome: Option<ProgramOutcome>,
    status: ProgramStatus,
    counter: u32,
    warnings: Vec<String>,
}

/// A warning when the meter's clock does not keep the program's standard time: its switch
/// times would then fall at the wrong hours.
fn clock_warning(meter: chrono::NaiveDateTime, p: &Program) -> Option<String> {
    let off_min = (meter - Utc::now().naive_utc()).num_minutes();
    let want = i64::from(p.std_offset_min);
    ((off_min - want).abs() > 15).then(|| {
        format!(
            "the meter's clock reads {} ({:+.1} h from UTC), but the scheme's zone keeps standard time at UTC{:+.1} h: its switch times would fall at the wrong hours until the clock is set (`metermaster time --set`)",
            meter.format("%Y-%m-%d %H:%M:%S"),
            off_min as f64 / 60.0,
            want as f64 / 60.0
        )
    })
}

/// A programming session the meter found interrupted, in words.
pub fn describe_interrupted(st: &ProgramStatus) -> Option<String> {
    st.interrupted.as_ref().map(|i| {
        format!(
            "a programming session that ended at {} (meter time) had staged {} of {} bytes of {:?} and was not committed; the meter kept {:?}",
            i.at.format("%Y-%m-%d %H:%M:%S"),
            i.staged,
            i.expected,
            i.label,
            st.active_label
        )
    })
}

async fn program_flag(
    t: &MeterTarget,
    req: &ProgramRequest<'_>,
    store: &AnyStore,
    progress: impl Fn(ProgramEvent),
) -> Result<ProgramReport, MasterError> {
    let conn = &t.connection;
    if !req.dry_run && t.password.is_none() {
        return Err(MasterError::invalid(
            t.name(),
            "programming needs the meter's level 3 password (--password or METERMASTER_METER_PASSWORD)",
        ));
    }
    let mut attempts = 0u32;
    let mut interruptions: Vec<String> = Vec::new();
    // What the meter said before a failure: its serial number and programming counter.
    let mut seen: (Option<String>, Option<u32>) = (None, None);
    let result = loop {
        attempts += 1;
        let r = flag_attempt(t, req, &mut seen).await;
        match r {
            Err(f) if !req.dry_run && attempts <= req.retries && f.transient() => {
                let text = f.text();
                interruptions.push(format!("attempt {attempts}: {text}"));
                progress(ProgramEvent::Retrying {
                    attempt: attempts,
                    error: text,
                });
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => break other,
        }
    };
    if req.dry_run {
        let at = result.map_err(|f| f.into_error(t))?;
        return Ok(ProgramReport::FlagDryRun {
            meter: at.serial,
            model: at.model,
            program: at.program,
            status: at.status,
            counter: at.counter,
            warnings: at.warnings,
        });
    }
    // Every attempt goes to the audit log, whatever came of it.
    let label = &req.label;
    let (serial, detail, outcome) = match &result {
        Ok(at) => {
            let o = at.outcome.as_ref();
            let (b, af) = o.map_or((0, 0), |o| (o.counter_before, o.counter_after));
            let mut d = format!(
                "scheme {label} (CRC {}, {} bytes) via {conn}; counter {b} → {af}",
                program_crc(&at.program),
                at.program.encode().len()
            );
            if let Some(i) = o.and_then(|o| describe_interrupted(&o.before)) {
                d.push_str(&format!("; found: {i}"));
            }
            for i in &interruptions {
                d.push_str(&format!("; retried after {i}"));
            }
            let outcome = if o.is_some_and(|o| o.already_in_force) {
                "ok (already in force: committed by an earlier session)".to_string()
            } else {
                "ok".to_string()
            };
            (Some(at.serial.clone()), d, outcome)
        }
        Err(f) => {
            let mut d = format!("scheme {label} via {conn} address {:?}", t.address);
            if let Some(n) = seen.1 {
                d.push_str(&format!("; counter {n} before"));
            }
            for i in &interruptions {
                d.push_str(&format!("; {i}"));
            }
            let outcome = if f.transient() {
                format!("interrupted: {}", f.text())
            } else {
                format!("failed: {}", f.text())
            };
            (seen.0.clone(), d, outcome)
        }
    };
    audit(
        store,
        t,
        AuditEntry {
            time: Utc::now(),
            user: req.user.clone(),
            action: "program".into(),
            meter: serial,
            detail,
            outcome,
        },
    )
    .await?;
    let at = match result {
        Ok(at) => at,
        Err(f) if f.transient() => {
            let text = f.text();
            let mut e = f.into_error(t);
            e.context = format!(
                "programming was interrupted ({text}) after {attempts} attempt(s). The meter switches programs only on a complete, checked commit, so it still runs its previous program; run the same command again to retry"
            );
            return Err(e);
        }
        Err(f) => return Err(f.into_error(t)),
    };
    let Some(outcome) = at.outcome else {
        return Err(MasterError::invalid(
            t.name(),
            "no outcome for a programming run",
        ));
    };
    Ok(ProgramReport::Flag {
        meter: at.serial,
        model: at.model,
        program: at.program,
        outcome,
        attempts,
        warnings: at.warnings,
    })
}

async fn flag_attempt(
    t: &MeterTarget,
    req: &ProgramRequest<'_>,
    seen: &mut (Option<String>, Option<u32>),
) -> Result<Attempt, Failure> {
    let conn = &t.connection;
    let link = metermaster_flag::transport::open(conn, Duration::from_secs(10))
        .await
        .map_err(|e| Failure::new(format!("opening {conn}"), e))?;
    let mut c = FlagClient::attach(link, crate::read::flag_client_options(t));
    let r = async {
        let (_, model) = open_session(&mut c, &t.address, t.password.as_deref())
            .await
            .map_err(|e| Failure::new(format!("signing on to {conn} address {:?}", t.address), e))?;
        let serial = metermaster_flag::codec::ascii(
            &c.read_id(ids::SERIAL, 16)
                .await
                .map_err(|e| Failure::new("reading the serial number", e))?,
        );
        let serial = metermaster_model::canonical_meter_id(&serial);
        seen.0 = Some(serial.clone());
        let compiled = metermaster_tariff::compile(
            req.scheme,
            family_type(model),
            &req.label,
            req.activation,
            Utc::now(),
        )
        .map_err(|e| Failure::invalid(format!("{}: {e}", req.label)))?;
        let Compiled::Flag(p) = compiled else {
            return Err(Failure::invalid("a FLAG meter needs a FLAG program"));
        };
        let status = program::read_status(&mut c).await.map_err(|e| {
            Failure::new(
                "reading the meter's programming status (942): does it take metermaster programs?",
                e,
            )
        })?;
        let counter = program::read_counter(&mut c, model)
            .await
            .map_err(|e| Failure::new("reading the programming counter", e))?;
        seen.1 = Some(counter);
        let mut warnings = Vec::new();
        let clock = c
            .read_id(ids::CLOCK, 7)
            .await
            .map_err(|e| Failure::new("reading the clock", e))?;
        if let Some(w) =
            metermaster_flag::codec::decode_clock(&clock).and_then(|t| clock_warning(t, &p))
        {
            warnings.push(w);
        }
        let outcome = if req.dry_run {
            None
        } else {
            Some(
                program::program_meter(&mut c, model, &p, &req.user)
                    .await
                    .map_err(|e| {
                        let what = match &e {
                            metermaster_flag::Error::Meter(
                                metermaster_flag::MeterError::Err { code: 5, .. },
                            ) => "the meter refused: programming needs the level 3 password",
                            metermaster_flag::Error::Meter(
                                metermaster_flag::MeterError::Err { code: 6, .. },
                            ) => {
                                "the meter refused the program at commit (incomplete, CRC mismatch, or not a program for this meter)"
                            }
                            _ => "",
                        };
                        Failure::new(what, e)
                    })?,
            )
        };
        Ok(Attempt {
            serial,
            model,
            program: p,
            outcome,
            status,
            counter,
            warnings,
        })
    }
    .await;
    let _ = c.log_off().await;
    r
}

// ----- DLMS: the passive activity calendar and special days, then activation -----

/// A warning when a DLMS meter's Clock does not keep the scheme zone's standard time (its
/// time_zone attribute, minutes UTC − local, is the negation of the zone's offset): the
/// calendar's wall-clock switch times would fall at the wrong hours.
pub fn time_zone_warning(time_zone: Option<i64>, std_offset_min: i16) -> Option<String> {
    let want = -i64::from(std_offset_min);
    let hours = |m: i64| m as f64 / 60.0;
    match time_zone {
        Some(tz) if tz == want => None,
        None | Some(-32768) => Some(format!(
            "the meter's Clock time_zone (0.0.1.0.0.255 attribute 3) is not readable or not specified: check that the meter keeps the scheme's standard time, UTC{:+.1} h (time_zone {want})",
            hours(-want)
        )),
        Some(tz) => Some(format!(
            "the meter's Clock keeps time zone UTC{:+.1} h (time_zone {tz} min), but the scheme's zone keeps standard time at UTC{:+.1} h (time_zone {want}): the calendar's switch times would fall at the wrong hours until the Clock's time zone is set (`metermaster time --protocol dlms --time-zone {:+03}:{:02}`)",
            hours(-tz),
            hours(-want),
            -want / 60,
            (want % 60).abs()
        )),
    }
}

/// A counter read, or `?` when it could not be read.
pub fn counter_text(n: Option<u64>) -> String {
    n.map_or("?".to_string(), |n| n.to_string())
}

/// What a DLMS programming run learnt, kept across attempts.
#[derive(Debug, Default)]
struct DlmsProgramming {
    /// The meter's serial number (0.0.96.1.0.255).
    serial: Option<String>,
    /// The programming counter before the first attempt and after the last.
    counters: (Option<u64>, Option<u64>),
    /// The activation was sent (its answer may have been lost with the line).
    activation_sent: bool,
    /// The invocation counter the next session must start from (HLS and ciphering).
    next_ic: Option<u32>,
    /// The scheme zone's standard time (minutes east of UTC), for the clock check.
    std_offset_min: Option<i16>,
    warnings: Vec<String>,
    clock_checked: bool,
}

async fn program_dlms(
    t: &MeterTarget,
    req: &ProgramRequest<'_>,
    store: &AnyStore,
    progress: impl Fn(ProgramEvent),
) -> Result<ProgramReport, MasterError> {
    let compiled = metermaster_tariff::compile(
        req.scheme,
        MeterType::Dlms,
        &req.label,
        req.activation,
        Utc::now(),
    )
    .map_err(|e| MasterError::invalid(t.name(), format!("{}: {e}", req.label)))?;
    let Compiled::Dlms(calendar) = compiled else {
        return Err(MasterError::invalid(
            t.name(),
            "a DLMS meter needs the DLMS form of the scheme",
        ));
    };
    if req.dry_run {
        return Ok(ProgramReport::DlmsDryRun { calendar });
    }
    let writes = calendar.attributes();
    let mut t0 = t.clone();
    t0.utc_offset_s = 0;
    let setup = dlms_setup(&t0).await?;
    let what = setup.what.replacen("reading", "programming", 1);
    let mut state = DlmsProgramming {
        std_offset_min: calendar.std_offset_min,
        ..DlmsProgramming::default()
    };
    let label = &req.label;
    let mut attempts = 0u32;
    let result = loop {
        attempts += 1;
        let r = dlms_attempt(&setup, req, &writes, &mut state).await;
        let transient = r.as_ref().err().is_some_and(Failure::transient);
        // Every attempt goes to the audit log, with the meter it reached.
        audit(
            store,
            t,
            AuditEntry {
                time: Utc::now(),
                user: req.user.clone(),
                action: "program".into(),
                meter: state.serial.clone(),
                detail: format!(
                    "scheme {label} via {} (attempt {attempts}); counter {} → {}",
                    setup.conn,
                    counter_text(state.counters.0),
                    counter_text(state.counters.1)
                ),
                outcome: match &r {
                    Ok(()) => "ok".to_string(),
                    Err(f) if transient => format!("interrupted: {}", f.text()),
                    Err(f) => format!("failed: {}", f.text()),
                },
            },
        )
        .await?;
        match r {
            Err(f) if transient && attempts <= req.retries => {
                progress(ProgramEvent::Retrying {
                    attempt: attempts,
                    error: f.text(),
                });
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => break other,
        }
    };
    if let Err(mut f) = result {
        f.what = if f.what.is_empty() {
            what
        } else {
            format!("{what}: {}", f.what)
        };
        return Err(f.into_error(t));
    }
    Ok(ProgramReport::Dlms {
        meter: state.serial,
        writes: writes.len(),
        counter_before: state.counters.0,
        counter_after: state.counters.1,
        activation: req.activation,
        attempts,
        warnings: state.warnings,
    })
}

/// One DLMS programming session. Writing the passive calendar again after a dropped line is
/// safe (the meter keeps the calendar in force until activation); an activation whose answer
/// was lost is found in force and not done twice.
async fn dlms_attempt(
    setup: &DlmsSetup,
    req: &ProgramRequest<'_>,
    writes: &[metermaster_tariff::compile::CosemWrite],
    state: &mut DlmsProgramming,
) -> Result<(), Failure> {
    use metermaster_dlms::client::DlmsClient;
    let stream = dlms_open(&setup.conn, setup.mode_e.as_ref())
        .await
        .map_err(|e| Failure::new("", e))?;
    let mut session = setup.session.clone();
    // A retry goes on from the invocation counter the dropped session reached: the meter
    // refuses a counter it has seen.
    if let (Some(sec), Some(ic)) = (session.security.as_mut(), state.next_ic) {
        sec.invocation_counter = ic;
    }
    let mut c = DlmsClient::connect(stream, session)
        .await
        .map_err(|e| Failure::new("", e))?;
    let r = dlms_session(&mut c, req, writes, state).await;
    state.next_ic = c.next_invocation_counter().or(state.next_ic);
    r
}

async fn dlms_session<S: DlmsStream>(
    c: &mut metermaster_dlms::client::DlmsClient<S>,
    req: &ProgramRequest<'_>,
    writes: &[metermaster_tariff::compile::CosemWrite],
    state: &mut DlmsProgramming,
) -> Result<(), Failure> {
    use metermaster_dlms::Data;
    use metermaster_dlms::apdu::{AttributeDescriptor, MethodDescriptor};
    let label = &req.label;
    let plain = |e| Failure::new("", e);
    c.associate().await.map_err(plain)?;
    let count = AttributeDescriptor::new(1, well_known::PROGRAMMING_COUNTER, 2);
    if let Some(serial) = crate::target::dlms_device_id(c).await {
        state.serial = Some(serial);
    }
    let counter = c.get(count, None).await.ok().and_then(|d| d.as_u64());
    if state.counters.0.is_none() {
        state.counters.0 = counter;
    }
    if let (Some(std), false) = (state.std_offset_min, state.clock_checked) {
        let tz = match c
            .get(AttributeDescriptor::new(8, well_known::CLOCK, 3), None)
            .await
        {
            Ok(d) => d.as_i64(),
            // A line that drops here: the next attempt checks again.
            Err(e) if e.is_transient() => return Err(plain(e)),
            Err(_) => None,
        };
        state.clock_checked = true;
        if let Some(w) = time_zone_warning(tz, std) {
            state.warnings.push(w);
        }
    }
    let active_name = AttributeDescriptor::new(20, well_known::ACTIVITY_CALENDAR, 2);
    let in_force = |d: &Data| d.as_octet_string() == Some(label.as_bytes());
    // The activation took effect when the counter moved and the calendar is in force (the
    // counter alone could be another client's programming, the name alone the old calendar
    // under the same label).
    let moved = matches!((state.counters.0, counter), (Some(b), Some(n)) if n > b);
    let done_before = state.activation_sent
        && moved
        && c.get(active_name, None).await.is_ok_and(|d| in_force(&d));
    if !done_before {
        c.set(
            AttributeDescriptor::new(1, well_known::PROGRAMMING_USER, 2),
            None,
            &Data::octet_string(req.user.as_bytes().to_vec()),
        )
        .await
        .map_err(|e| Failure::new("writing the user name (0.0.96.2.128.255)", e))?;
        for w in writes {
            let d = AttributeDescriptor::new(w.class_id, w.obis, w.attribute);
            c.set(d, None, &w.value)
                .await
                .map_err(|e| Failure::new(format!("writing {} ({d})", w.name), e))?;
            let back = c
                .get(d, None)
                .await
                .map_err(|e| Failure::new(format!("reading {} back", w.name), e))?;
            if back != w.value {
                return Err(Failure::invalid(format!(
                    "{} reads back different from what was written",
                    w.name
                )));
            }
        }
        if req.activation.is_none() {
            state.activation_sent = true;
            c.action(
                MethodDescriptor::new(20, well_known::ACTIVITY_CALENDAR, 1),
                Some(Data::Integer(0)),
            )
            .await
            .map_err(|e| Failure::new("activating the passive calendar", e))?;
            let name = c.get(active_name, None).await.map_err(plain)?;
            if !in_force(&name) {
                return Err(Failure::invalid(format!(
                    "after activation the calendar in force is not {label:?}"
                )));
            }
        }
    }
    state.counters.1 = c.get(count, None).await.ok().and_then(|d| d.as_u64());
    let _ = c.release().await;
    let _ = c.disconnect().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::time_zone_warning;

    #[test]
    fn time_zone_check() {
        // Sydney standard time is UTC+10: time_zone -600 (UTC − local).
        assert_eq!(time_zone_warning(Some(-600), 600), None);
        let w = time_zone_warning(Some(600), 600).unwrap();
        assert!(w.contains("UTC-10.0 h") && w.contains("UTC+10.0 h"), "{w}");
        assert!(
            time_zone_warning(Some(-32768), 0)
                .unwrap()
                .contains("not specified")
        );
        assert!(time_zone_warning(None, -300).unwrap().contains("UTC-5.0 h"));
    }
}
