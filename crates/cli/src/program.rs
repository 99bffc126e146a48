//! `metermaster program`: compile a scheme for the meter at the other end, write it at
//! password level 3, verify it by reading it back, and record every attempt in the store's
//! audit log. A dropped line is retried on a new connection; the meter stages a program and
//! switches to it only on a complete, CRC-checked commit, so it is never half programmed.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Args;
use metermaster_flag::client::{ClientOptions, FlagClient};
use metermaster_flag::ids::{self, MeterModel};
use metermaster_flag::program::{self, Program, ProgramOutcome, ProgramStatus, image_crc};
use metermaster_flag::reader::{is_transient, open_session};
use metermaster_flag::transport::Connection;
use metermaster_store::{AuditEntry, Batch, Store};
use metermaster_tariff::{Compiled, MeterType};

#[derive(Debug, Args)]
pub struct ProgramArgs {
    /// Where the meter is: tcp://HOST:PORT or serial:///dev/ttyUSB0?baud=300.
    pub connection: String,
    /// The device address sent in the sign-on.
    #[arg(long, default_value = "")]
    pub address: String,
    /// The scheme: a file, or ID[@VERSION] from the store.
    #[arg(long)]
    pub scheme: String,
    /// Who programs: recorded in the meter's programming log (12 characters at most) and in
    /// the audit log. When the store has users, it must be one of them.
    #[arg(long)]
    pub user: String,
    /// Protocol: flag or dlms (then the DLMS options below apply; programming needs the
    /// management client with its keys: `--client 1 --auth high --keys FILE`).
    #[arg(long, default_value = "flag")]
    pub protocol: String,
    /// The meter's level 3 password (FLAG).
    #[arg(long, env = "METERMASTER_METER_PASSWORD")]
    pub password: Option<String>,
    /// When the program takes over (RFC 3339); default: at once.
    #[arg(long)]
    pub activate: Option<String>,
    /// Sign on, compile, show what would be written and the meter's programming state, but
    /// write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// New connections after a dropped line (the meter keeps its old program until a whole
    /// program is committed, so a retry starts over safely).
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: crate::files::StoreArgs,
    #[command(flatten)]
    pub dlms: crate::read::DlmsArgs,
}

/// An operator name a meter can keep: 1 to 12 ASCII characters.
pub(crate) fn check_operator_name(user: &str) -> Result<()> {
    if user.trim().is_empty() || user.len() > 12 || !user.is_ascii() {
        bail!("--user {user:?}: 1 to 12 ASCII characters (the meter keeps 12)");
    }
    Ok(())
}

/// The store, once the user is an operator name a meter keeps and, when the store has users,
/// one of them.
async fn store_for_user(
    args: &crate::files::StoreArgs,
    user: &str,
) -> Result<metermaster_store::AnyStore> {
    check_operator_name(user)?;
    let store = args.open().await?;
    let users = store.users().await?;
    if !users.is_empty() && !users.iter().any(|u| u.name == user) {
        bail!("--user {user:?} is not a metermaster user (see `metermaster user list`)");
    }
    Ok(store)
}

fn family_type(model: MeterModel) -> MeterType {
    match model {
        MeterModel::A1140 => MeterType::A1140,
        MeterModel::A1700 => MeterType::A1700,
    }
}

/// One connection's worth: sign on, compile for the meter found, program (or look).
struct Attempt {
    serial: String,
    model: MeterModel,
    program: Program,
    /// `None` in a dry run.
    outcome: Option<ProgramOutcome>,
    status: ProgramStatus,
    counter: u32,
    /// Things the user should know that do not stop programming.
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

fn describe_interrupted(st: &ProgramStatus) -> Option<String> {
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

pub async fn run(a: ProgramArgs) -> Result<()> {
    match a.protocol.as_str() {
        "flag" => {}
        "dlms" => return run_dlms(a).await,
        other => bail!("--protocol {other:?}: flag or dlms"),
    }
    let conn = Connection::parse(&a.connection)?;
    let store = store_for_user(&a.store, &a.user).await?;
    let (scheme, label) = crate::scheme::scheme_with_label(Some(&store), &a.scheme).await?;
    let activation = a
        .activate
        .as_deref()
        .map(crate::scheme::parse_time)
        .transpose()?;
    if !a.dry_run && a.password.is_none() {
        bail!(
            "programming needs the meter's level 3 password (--password or METERMASTER_METER_PASSWORD)"
        );
    }

    let mut attempts = 0u32;
    let mut interruptions: Vec<String> = Vec::new();
    // What the meter said before a failure: its serial number and programming counter.
    let mut seen: (Option<String>, Option<u32>) = (None, None);
    let result = loop {
        attempts += 1;
        let r = attempt(&a, &conn, &scheme, &label, activation, &mut seen).await;
        match r {
            Err(e)
                if !a.dry_run
                    && attempts <= a.retries
                    && e.downcast_ref::<metermaster_flag::Error>()
                        .is_some_and(is_transient) =>
            {
                interruptions.push(format!("attempt {attempts}: {e:#}"));
                if !a.json {
                    eprintln!("connection lost while programming ({e:#}); connecting again");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => break other,
        }
    };

    if let Ok(at) = &result {
        if !a.json {
            for w in &at.warnings {
                eprintln!("warning: {w}");
            }
        }
    }
    if a.dry_run {
        let at = result?;
        let image = at.program.encode();
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "meter": at.serial,
                    "model": at.model,
                    "scheme": label,
                    "bytes": image.len(),
                    "crc": format!("{:04X}", image_crc(&image)),
                    "in_force": at.status.active_label,
                    "counter": at.counter,
                    "interrupted": at.status.interrupted,
                    "warnings": at.warnings,
                    "writes": at.program.write_sequence().into_iter().map(|(w, _)| w).collect::<Vec<_>>(),
                    "dry_run": true,
                }))?
            );
        } else {
            println!(
                "dry run: meter {} ({}) runs {:?}, programmed {} times; nothing written",
                at.serial,
                at.model.name(),
                at.status.active_label,
                at.counter
            );
            if let Some(i) = describe_interrupted(&at.status) {
                println!("note: {i}");
            }
            print!("{}", Compiled::Flag(at.program).listing());
        }
        return Ok(());
    }

    // Every attempt goes to the audit log, whatever came of it.
    let crc_text = |p: &Program| format!("{:04X}", image_crc(&p.encode()));
    let (serial, detail, outcome) = match &result {
        Ok(at) => {
            let o = at.outcome.as_ref();
            let (b, af) = o.map_or((0, 0), |o| (o.counter_before, o.counter_after));
            let mut d = format!(
                "scheme {label} (CRC {}, {} bytes) via {conn}; counter {b} → {af}",
                crc_text(&at.program),
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
        Err(e) => {
            let mut d = format!("scheme {label} via {conn} address {:?}", a.address);
            if let Some(n) = seen.1 {
                d.push_str(&format!("; counter {n} before"));
            }
            for i in &interruptions {
                d.push_str(&format!("; {i}"));
            }
            let transient = e
                .downcast_ref::<metermaster_flag::Error>()
                .is_some_and(is_transient);
            let outcome = if transient {
                format!("interrupted: {e:#}")
            } else {
                format!("failed: {e:#}")
            };
            (seen.0.clone(), d, outcome)
        }
    };
    store
        .write(Batch {
            audit: vec![AuditEntry {
                time: Utc::now(),
                user: a.user.clone(),
                action: "program".into(),
                meter: serial,
                detail,
                outcome: outcome.clone(),
            }],
            ..Batch::default()
        })
        .await?;

    let at = match result {
        Ok(at) => at,
        Err(e) => {
            let transient = e
                .downcast_ref::<metermaster_flag::Error>()
                .is_some_and(is_transient);
            if transient {
                bail!(
                    "programming was interrupted ({e:#}) after {attempts} attempt(s). The meter switches programs only on a complete, checked commit, so it still runs its previous program; run the same command again to retry"
                );
            }
            return Err(e);
        }
    };
    let o = at
        .outcome
        .as_ref()
        .context("no outcome for a programming run")?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "meter": at.serial,
                "model": at.model,
                "scheme": label,
                "crc": crc_text(&at.program),
                "bytes": at.program.encode().len(),
                "counter_before": o.counter_before,
                "counter_after": o.counter_after,
                "already_in_force": o.already_in_force,
                "interrupted_before": o.before.interrupted,
                "attempts": attempts,
                "verified": true,
                "warnings": at.warnings,
            }))?
        );
    } else {
        if let Some(i) = describe_interrupted(&o.before) {
            println!("note: {i}");
        }
        if o.already_in_force {
            println!(
                "meter {}: {label} is already in force (committed by an earlier session); nothing written, verified by reading it back",
                at.serial
            );
        } else {
            println!(
                "meter {}: programmed {label} (CRC {}), verified by reading it back; programming counter {} → {}",
                at.serial,
                crc_text(&at.program),
                o.counter_before,
                o.counter_after
            );
        }
    }
    Ok(())
}

async fn attempt(
    a: &ProgramArgs,
    conn: &Connection,
    scheme: &metermaster_tariff::Scheme,
    label: &str,
    activation: Option<chrono::DateTime<Utc>>,
    seen: &mut (Option<String>, Option<u32>),
) -> Result<Attempt> {
    let link = conn.open(Duration::from_secs(10)).await?;
    let mut c = FlagClient::attach(link, ClientOptions::default());
    let r = async {
        let (_, model) = open_session(&mut c, &a.address, a.password.as_deref())
            .await
            .with_context(|| format!("signing on to {conn} address {:?}", a.address))?;
        let serial = metermaster_flag::codec::ascii(&c.read_id(ids::SERIAL, 16).await?)
            .trim_start_matches('0')
            .to_string();
        seen.0 = Some(serial.clone());
        let compiled = metermaster_tariff::compile(
            scheme,
            family_type(model),
            label,
            activation,
            Utc::now(),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.scheme))?;
        let Compiled::Flag(p) = compiled else {
            bail!("a FLAG meter needs a FLAG program");
        };
        let status = program::read_status(&mut c)
            .await
            .context("reading the meter's programming status (942): does it take metermaster programs?")?;
        let counter = program::read_counter(&mut c, model).await?;
        seen.1 = Some(counter);
        let mut warnings = Vec::new();
        let clock = c.read_id(ids::CLOCK, 7).await?;
        if let Some(w) =
            metermaster_flag::codec::decode_clock(&clock).and_then(|t| clock_warning(t, &p))
        {
            warnings.push(w);
        }
        let outcome = if a.dry_run {
            None
        } else {
            Some(
                program::program_meter(&mut c, model, &p, &a.user)
                    .await
                    .map_err(|e| match &e {
                        metermaster_flag::Error::Meter(metermaster_flag::MeterError::Err {
                            code: 5,
                            ..
                        }) => anyhow::Error::new(e)
                            .context("the meter refused: programming needs the level 3 password"),
                        metermaster_flag::Error::Meter(metermaster_flag::MeterError::Err {
                            code: 6,
                            ..
                        }) => anyhow::Error::new(e).context(
                            "the meter refused the program at commit (incomplete, CRC mismatch, or not a program for this meter)",
                        ),
                        _ => anyhow::Error::new(e),
                    })?,
            )
        };
        Ok::<_, anyhow::Error>(Attempt {
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

// ---------------------------------------------------------------------------------------------
// DLMS: the passive activity calendar and special days, then activation

const PROGRAMMING_COUNT: metermaster_model::ObisCode =
    metermaster_model::ObisCode::new(0, 0, 96, 2, 0, 255);
pub(crate) const PROGRAMMING_USER: metermaster_model::ObisCode =
    metermaster_model::ObisCode::new(0, 0, 96, 2, 128, 255);
const ACTIVITY_CALENDAR: metermaster_model::ObisCode =
    metermaster_model::ObisCode::new(0, 0, 13, 0, 0, 255);
const CLOCK: metermaster_model::ObisCode = metermaster_model::ObisCode::new(0, 0, 1, 0, 0, 255);
const SERIAL_NUMBER: metermaster_model::ObisCode =
    metermaster_model::ObisCode::new(0, 0, 96, 1, 0, 255);

/// `program --protocol dlms`: the user name (0.0.96.2.128.255), the passive calendar
/// attributes 6–10 and the special days as `scheme compile --meter-type dlms` gives them, each
/// read back and compared; then `activate_passive_calendar` (unless an activation time was
/// given) and the active calendar's name checked; counter before and after; audit log.
async fn run_dlms(a: ProgramArgs) -> Result<()> {
    let store = store_for_user(&a.store, &a.user).await?;
    let (scheme, label) = crate::scheme::scheme_with_label(Some(&store), &a.scheme).await?;
    let activation = a
        .activate
        .as_deref()
        .map(crate::scheme::parse_time)
        .transpose()?;
    let compiled =
        metermaster_tariff::compile(&scheme, MeterType::Dlms, &label, activation, Utc::now())
            .map_err(|e| anyhow::anyhow!("{}: {e}", a.scheme))?;
    let Compiled::Dlms(calendar) = compiled else {
        bail!("a DLMS meter needs the DLMS form of the scheme");
    };
    let writes = calendar.attributes();
    if a.dry_run {
        print!("{}", Compiled::Dlms(calendar).listing());
        println!("dry run: nothing written");
        return Ok(());
    }
    let ra = crate::read::ReadArgs::for_dlms(
        a.connection.clone(),
        a.address.clone(),
        a.password.clone(),
        "+00:00".into(),
        a.dlms,
    );
    let setup = crate::read::dlms_setup(&ra).await?;
    let what = setup.what.replacen("reading", "programming", 1);
    let mut state = DlmsProgramming {
        std_offset_min: calendar.std_offset_min,
        ..DlmsProgramming::default()
    };
    let mut attempts = 0u32;
    let result = loop {
        attempts += 1;
        let r = dlms_attempt(&setup, &a.user, &writes, &label, activation, &mut state).await;
        let transient = r.as_ref().err().is_some_and(is_transient_dlms);
        // Every attempt goes to the audit log, with the meter it reached.
        store
            .write(Batch {
                audit: vec![AuditEntry {
                    time: Utc::now(),
                    user: a.user.clone(),
                    action: "program".into(),
                    meter: state.serial.clone(),
                    detail: format!(
                        "scheme {label} via {} (attempt {attempts}); counter {} → {}",
                        setup.conn,
                        fmt(state.counters.0),
                        fmt(state.counters.1)
                    ),
                    outcome: match &r {
                        Ok(()) => "ok".to_string(),
                        Err(e) if transient => format!("interrupted: {e:#}"),
                        Err(e) => format!("failed: {e:#}"),
                    },
                }],
                ..Batch::default()
            })
            .await?;
        match r {
            Err(e) if transient && attempts <= a.retries => {
                if !a.json {
                    eprintln!(
                        "connection lost while programming ({e:#}); connecting again (the meter keeps its calendar in force until activation)"
                    );
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => break other,
        }
    };
    let counters = state.counters;
    if !a.json {
        for w in &state.warnings {
            eprintln!("warning: {w}");
        }
    }
    result.with_context(|| what.clone())?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "scheme": label,
                "counter_before": counters.0,
                "counter_after": counters.1,
                "activation": activation,
                "verified": true,
                "warnings": state.warnings,
            }))?
        );
    } else {
        println!(
            "programmed {label} ({} attributes written and read back{}); programming counter {} → {}",
            writes.len(),
            if activation.is_none() {
                ", activated"
            } else {
                "; activates at the time given"
            },
            fmt(counters.0),
            fmt(counters.1)
        );
    }
    Ok(())
}

/// A warning when a DLMS meter's Clock does not keep the scheme zone's standard time (its
/// time_zone attribute, minutes UTC − local, is the negation of the zone's offset): the
/// calendar's wall-clock switch times would fall at the wrong hours.
fn time_zone_warning(time_zone: Option<i64>, std_offset_min: i16) -> Option<String> {
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
fn fmt(n: Option<u64>) -> String {
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
    /// Things the user should know that do not stop programming.
    warnings: Vec<String>,
    clock_checked: bool,
}

/// A lost line, a time-out or a broken answer: worth a new connection. A refusal of the meter
/// is not.
fn is_transient_dlms(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<metermaster_dlms::client::Error>()
            .is_some_and(metermaster_dlms::client::Error::is_transient)
    })
}

/// One DLMS programming session. Writing the passive calendar again after a dropped line is
/// safe (the meter keeps the calendar in force until activation); an activation whose answer
/// was lost is found in force and not done twice.
async fn dlms_attempt(
    setup: &crate::read::DlmsSetup,
    user: &str,
    writes: &[metermaster_tariff::compile::CosemWrite],
    label: &str,
    activation: Option<chrono::DateTime<Utc>>,
    state: &mut DlmsProgramming,
) -> Result<()> {
    use metermaster_dlms::client::DlmsClient;
    let stream = crate::read::dlms_open(&setup.conn, setup.mode_e.as_ref()).await?;
    let mut session = setup.session.clone();
    // A retry goes on from the invocation counter the dropped session reached: the meter
    // refuses a counter it has seen.
    if let (Some(sec), Some(ic)) = (session.security.as_mut(), state.next_ic) {
        sec.invocation_counter = ic;
    }
    let mut c = DlmsClient::connect(stream, session).await?;
    let r = dlms_session(&mut c, user, writes, label, activation, state).await;
    state.next_ic = c.next_invocation_counter().or(state.next_ic);
    r
}

async fn dlms_session<S: crate::read::DlmsStream>(
    c: &mut metermaster_dlms::client::DlmsClient<S>,
    user: &str,
    writes: &[metermaster_tariff::compile::CosemWrite],
    label: &str,
    activation: Option<chrono::DateTime<Utc>>,
    state: &mut DlmsProgramming,
) -> Result<()> {
    use metermaster_dlms::Data;
    use metermaster_dlms::apdu::{AttributeDescriptor, MethodDescriptor};
    c.associate().await?;
    let count = AttributeDescriptor::new(1, PROGRAMMING_COUNT, 2);
    let serial = AttributeDescriptor::new(1, SERIAL_NUMBER, 2);
    if let Ok(d) = c.get(serial, None).await {
        state.serial = d
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                d.as_octet_string()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
    }
    let counter = c.get(count, None).await.ok().and_then(|d| d.as_u64());
    if state.counters.0.is_none() {
        state.counters.0 = counter;
    }
    if let (Some(std), false) = (state.std_offset_min, state.clock_checked) {
        let tz = match c.get(AttributeDescriptor::new(8, CLOCK, 3), None).await {
            Ok(d) => d.as_i64(),
            // A line that drops here: the next attempt checks again.
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(_) => None,
        };
        state.clock_checked = true;
        if let Some(w) = time_zone_warning(tz, std) {
            state.warnings.push(w);
        }
    }
    let active_name = AttributeDescriptor::new(20, ACTIVITY_CALENDAR, 2);
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
            AttributeDescriptor::new(1, PROGRAMMING_USER, 2),
            None,
            &Data::octet_string(user.as_bytes().to_vec()),
        )
        .await
        .context("writing the user name (0.0.96.2.128.255)")?;
        for w in writes {
            let d = AttributeDescriptor::new(w.class_id, w.obis, w.attribute);
            c.set(d, None, &w.value)
                .await
                .with_context(|| format!("writing {} ({d})", w.name))?;
            let back = c
                .get(d, None)
                .await
                .with_context(|| format!("reading {} back", w.name))?;
            if back != w.value {
                bail!("{} reads back different from what was written", w.name);
            }
        }
        if activation.is_none() {
            state.activation_sent = true;
            c.action(
                MethodDescriptor::new(20, ACTIVITY_CALENDAR, 1),
                Some(Data::Integer(0)),
            )
            .await
            .context("activating the passive calendar")?;
            let name = c.get(active_name, None).await?;
            if !in_force(&name) {
                bail!("after activation the calendar in force is not {label:?}");
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
