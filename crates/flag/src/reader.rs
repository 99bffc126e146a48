//! A whole meter read over a FLAG session: identity, clock and drift, registers, demands,
//! history, load profile, events, programming log and instantaneous values, as one `Reading`.

use chrono::{NaiveDateTime, Utc};
use metermaster_model::{BillingPeriod, ClockInfo, InstantQuantity, MeterIdentity, Phase, Reading};

use crate::client::{FlagClient, Identification};
use crate::codec::{ascii, decode_clock, local_to_utc, utc_to_local};
use crate::error::{Error, MeterError, Result};
use crate::ids::{self, MeterModel};
use crate::profile;
use crate::transport::Link;

/// What to read, and how.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The device address sent in the sign-on (empty on an optical port).
    pub address: String,
    /// The password; `None` reads with the all-zero P2 (read-only access).
    pub password: Option<String>,
    /// Days of load profile to read (1 = today so far); 0 reads none.
    pub profile_days: u16,
    /// Only intervals starting at or after this time are kept.
    pub since: Option<chrono::DateTime<Utc>>,
    /// The meter clock's offset from UTC in seconds (its wall clock is local standard time).
    pub utc_offset_s: i32,
    /// Billing-history sets to read (0 = none, 1 = the last billing period ...).
    pub billing_sets: u32,
    /// Daily-history sets to read (A1140).
    pub daily_sets: u32,
    /// Cumulative and TOU registers (507, 508, 667).
    pub registers: bool,
    /// Cumulative and maximum demands (509, 510).
    pub demand: bool,
    /// Firmware, CT/VT ratios and status words (998, 616, 614, 724).
    pub details: bool,
    /// The programming counter and log (680).
    pub programming: bool,
    pub events: bool,
    pub instantaneous: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            address: String::new(),
            password: None,
            profile_days: 1,
            since: None,
            utc_offset_s: 0,
            billing_sets: 1,
            daily_sets: 0,
            registers: true,
            demand: true,
            details: true,
            programming: true,
            events: true,
            instantaneous: true,
        }
    }
}

/// Signs on and authenticates; returns the identification and the meter family.
pub async fn open_session<L: Link>(
    client: &mut FlagClient<L>,
    address: &str,
    password: Option<&str>,
) -> Result<(Identification, MeterModel)> {
    let ident = client.sign_on(address).await?;
    let model = MeterModel::from_ident(&ident.ident).ok_or_else(|| {
        Error::protocol(
            "identification",
            format!("{:?} is not an Elster A1140 or A1700", ident.line()),
        )
    })?;
    let seed = client.enter_programming(&ident).await?;
    client.authenticate(&seed, None).await?;
    if let Some(pw) = password {
        client.authenticate(&seed, Some(pw)).await?;
    }
    Ok((ident, model))
}

/// Whether an error is worth a new connection and a new attempt: link trouble is, a meter's
/// refusal or a usage error is not.
pub fn is_transient(e: &Error) -> bool {
    matches!(
        e,
        Error::Io(_)
            | Error::Closed { .. }
            | Error::Timeout { .. }
            | Error::RetriesExhausted { .. }
            | Error::Frame { .. }
    )
}

/// Connects, reads one meter, and on a dropped or broken link connects again, up to
/// `attempts` times in all. Returns the reading and what crossed the link over all attempts.
pub async fn read_connection(
    conn: &crate::transport::Connection,
    copts: &crate::client::ClientOptions,
    ropts: &ReadOptions,
    attempts: u32,
) -> Result<(Reading, crate::client::LinkStats)> {
    let mut total = crate::client::LinkStats::default();
    let mut last = None;
    for attempt in 0..attempts.max(1) {
        if attempt > 0 {
            // Give a meter (or a terminal server) time to drop the old session.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let link = match crate::transport::open(conn, std::time::Duration::from_secs(10)).await {
            Ok(l) => l,
            Err(e) if is_transient(&e) => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut client = FlagClient::attach(link, copts.clone());
        let r = read_meter(&mut client, ropts).await;
        let s = client.stats;
        total.exchanges += s.exchanges;
        total.bytes_sent += s.bytes_sent;
        total.bytes_received += s.bytes_received;
        total.retransmissions += s.retransmissions;
        match r {
            Ok(reading) => return Ok((reading, total)),
            Err(e) if is_transient(&e) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Usage("no attempt made".into())))
}

/// Reads one meter. The session is logged off whatever happens after sign-on.
pub async fn read_meter<L: Link>(
    client: &mut FlagClient<L>,
    opts: &ReadOptions,
) -> Result<Reading> {
    let started = Utc::now();
    let (ident, model) = open_session(client, &opts.address, opts.password.as_deref()).await?;
    let result = read_body(client, opts, &ident, model, started).await;
    let _ = client.log_off().await;
    result
}

fn id_error(e: ids::IdError) -> Error {
    Error::protocol(format!("decoding data id {}", e.id), e.what)
}

async fn read_len<L: Link>(
    client: &mut FlagClient<L>,
    model: MeterModel,
    id: u16,
) -> Result<Vec<u8>> {
    let len = model.id_len(id).ok_or_else(|| {
        Error::Usage(format!(
            "data id {id} is not known for the {}",
            model.name()
        ))
    })?;
    client.read_id(id, len).await
}

async fn read_body<L: Link>(
    client: &mut FlagClient<L>,
    opts: &ReadOptions,
    ident: &Identification,
    model: MeterModel,
    started: chrono::DateTime<Utc>,
) -> Result<Reading> {
    let off = opts.utc_offset_s;
    let serial = ascii(&read_len(client, model, ids::SERIAL).await?);
    let scheme = ascii(&read_len(client, model, ids::SCHEME).await?);
    let firmware = if opts.details {
        match read_len(client, model, ids::FIRMWARE).await {
            Ok(b) => Some(ascii(&b)),
            Err(Error::Meter(MeterError::Err { code: 2, .. })) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let mut reading = Reading::new(
        MeterIdentity {
            serial,
            address: (!opts.address.is_empty()).then(|| opts.address.clone()),
            manufacturer: Some(ident.manufacturer.clone()),
            model: Some(model.name().to_string()),
            ident: Some(ident.line()),
            firmware,
            scheme_id: Some(scheme),
            system_title: None,
        },
        "flag",
        started,
    );

    // The clock: the master's time is taken when the reply arrives, less half the wire time
    // of the reply would be finer, but the meter's clock has one-second resolution anyway.
    let clock_bytes = read_len(client, model, ids::CLOCK).await?;
    let master_time = Utc::now();
    let meter_local = decode_clock(&clock_bytes)
        .ok_or_else(|| Error::protocol("decoding data id 861", "not a valid date and time"))?;
    let meter_time = local_to_utc(meter_local, off);
    reading.clock = Some(ClockInfo {
        meter_local,
        utc_offset_s: off,
        meter_time,
        master_time,
        drift_s: (meter_time - master_time).num_milliseconds() as f64 / 1000.0,
    });

    if opts.registers {
        let cumulative = read_len(client, model, ids::CUMULATIVE).await?;
        reading.registers = ids::decode_cumulative(model, &cumulative).map_err(id_error)?;
        let tou = read_len(client, model, ids::TOU).await?;
        let sources = read_len(client, model, ids::TOU_SOURCES).await?;
        reading
            .registers
            .extend(ids::decode_tou(model, &tou, &sources).map_err(id_error)?);
    }
    if opts.demand {
        let cmd = read_len(client, model, ids::CMD).await?;
        reading
            .registers
            .extend(ids::decode_cmd(model, &cmd).map_err(id_error)?);
        let md = read_len(client, model, ids::MD).await?;
        reading.max_demands = ids::decode_md(model, &md, off).map_err(id_error)?;
    }
    if opts.details {
        let ct = read_len(client, model, ids::CT_RATIO).await?;
        reading.ct_ratio = Some(ids::decode_ct(model, &ct).map_err(id_error)?);
        if model == MeterModel::A1700 {
            let vt = read_len(client, model, ids::VT_RATIO).await?;
            reading.vt_ratio = Some(ids::decode_vt(&vt).map_err(id_error)?);
        }
        let status = read_len(client, model, ids::STATUS).await?;
        reading.status = ids::decode_status(model, &status).map_err(id_error)?;
    }

    for k in 0..opts
        .billing_sets
        .min(model.history_sets(ids::BILLING_HISTORY) as u32)
    {
        let b = client
            .read_set(ids::BILLING_HISTORY, k, model.history_set_len())
            .await?;
        if let Some(p) = history_period(model, ids::BILLING_HISTORY, k, &b, off)? {
            reading.billing_history.push(p);
        }
    }
    if model == MeterModel::A1140 {
        for k in 0..opts.daily_sets.min(14) {
            let b = client
                .read_set(ids::DAILY_HISTORY, k, model.history_set_len())
                .await?;
            if let Some(p) = history_period(model, ids::DAILY_HISTORY, k, &b, off)? {
                reading.daily_history.push(p);
            }
        }
    }

    if opts.programming {
        let prog = read_len(client, model, ids::PROGRAMMING_LOG).await?;
        let mut log = ids::decode_programming(model, &prog, off).map_err(id_error)?;
        // Meters programmed by metermaster say which scheme each session left in force (944);
        // others answer ERR2 and their records keep no scheme.
        match client
            .read_id(crate::program::NOTES, crate::program::NOTES_LEN)
            .await
        {
            Ok(b) => {
                if let Ok(notes) = crate::program::SessionNote::decode_all(&b) {
                    for (r, n) in log.records.iter_mut().zip(notes) {
                        if n.kind != 0 && !n.label.is_empty() {
                            r.scheme = Some(n.label);
                        }
                    }
                }
            }
            Err(Error::Meter(MeterError::Err { code: 2, .. })) => {}
            Err(e) => return Err(e),
        }
        reading.programming = Some(log);
    }

    if opts.events {
        for &(id, kind) in ids::event_log_ids(model) {
            let b = read_len(client, model, id).await?;
            let log = ids::decode_event_log(id, kind, &b).map_err(id_error)?;
            reading.event_counters.push(log.counter());
            reading.events.extend(log.events(model, off));
        }
    }

    if opts.profile_days == 0 && opts.details {
        // No intervals asked for: still say how the profile is configured.
        let mask = read_len(client, model, ids::PROFILE_MASK).await?;
        let integration = read_len(client, model, ids::INTEGRATION).await?;
        let (channels, minutes) =
            ids::decode_profile_config(model, &mask, &integration).map_err(id_error)?;
        reading.load_profile = Some(metermaster_model::LoadProfile {
            interval_s: minutes * 60,
            channels,
            intervals: Vec::new(),
        });
    }
    if opts.profile_days > 0 {
        let lp = read_profile(client, model, opts.profile_days, off).await?;
        let mut lp = lp;
        if let Some(since) = opts.since {
            lp.intervals.retain(|i| i.start >= since);
        }
        // Power cuts in the profile are events too.
        for iv in &lp.intervals {
            use metermaster_model::{Event, EventKind, IntervalStatus};
            for (flag, kind) in [
                (IntervalStatus::POWER_DOWN, EventKind::PowerDown),
                (IntervalStatus::POWER_UP, EventKind::PowerUp),
            ] {
                if iv.status.contains(flag) {
                    reading.events.push(Event {
                        time: iv.start,
                        kind,
                        detail: Some("in load-profile interval".into()),
                    });
                }
            }
        }
        reading.load_profile = Some(lp);
    }
    reading.events.sort_by_key(|e| e.time);

    if opts.instantaneous && model == MeterModel::A1700 {
        reading.instantaneous = read_instantaneous(client).await?;
    }
    reading.finished = Utc::now();
    Ok(reading)
}

fn history_period(
    model: MeterModel,
    id: u16,
    index: u32,
    b: &[u8],
    off: i32,
) -> Result<Option<BillingPeriod>> {
    let Some(set) = ids::decode_history_set(model, id, b, off).map_err(id_error)? else {
        return Ok(None);
    };
    Ok(Some(BillingPeriod {
        index,
        reset_time: set.reset.map(|t| local_to_utc(t, off)),
        trigger: ids::event_detail(
            metermaster_model::EventKind::BillingReset,
            model,
            set.trigger,
        ),
        registers: set.registers,
        max_demands: set.max_demands,
    }))
}

/// Selects the last `days` days of load profile and reads it, as an RD stream when the link
/// carries 8-bit bytes, else packet by packet.
pub async fn read_profile<L: Link>(
    client: &mut FlagClient<L>,
    model: MeterModel,
    days: u16,
    utc_offset_s: i32,
) -> Result<metermaster_model::LoadProfile> {
    client
        .write_id(ids::PROFILE_SELECT, &days.to_le_bytes())
        .await?;
    let size = client.read_id(ids::PROFILE_SELECT, 4).await?;
    let packets = u32::from(u16::from_be_bytes([size[0], size[1]]));
    let blocks = u32::from(u16::from_be_bytes([size[2], size[3]]));
    let bytes = if packets == 0 {
        vec![0xFF]
    } else if client.link_is_eight_bit() && client_uses_rd(client) {
        client.read_stream(ids::PROFILE_DATA, blocks).await?
    } else {
        client
            .read_packets(ids::PROFILE_DATA, 1, packets as usize * 64)
            .await?
    };
    profile::decode_load_profile(&bytes, model, utc_offset_s)
        .map_err(|e| Error::protocol("decoding the load profile (data id 550)", e.to_string()))
}

fn client_uses_rd<L: Link>(client: &FlagClient<L>) -> bool {
    client.options().use_rd
}

/// Reads voltages, currents, powers, power factor and frequency through 605/606 (A1700).
pub async fn read_instantaneous<L: Link>(
    client: &mut FlagClient<L>,
) -> Result<Vec<metermaster_model::InstantValue>> {
    use InstantQuantity::*;
    let rounds: [[(InstantQuantity, Phase); 4]; 3] = [
        [
            (Voltage, Phase::L1),
            (Voltage, Phase::L2),
            (Voltage, Phase::L3),
            (Frequency, Phase::Total),
        ],
        [
            (Current, Phase::L1),
            (Current, Phase::L2),
            (Current, Phase::L3),
            (ActivePower, Phase::Total),
        ],
        [
            (PowerFactor, Phase::Total),
            (ReactivePower, Phase::Total),
            (ApparentPower, Phase::Total),
            (PowerFactor, Phase::L1),
        ],
    ];
    let mut out = Vec::new();
    for round in rounds {
        let codes: Vec<u8> = round
            .iter()
            .map(|(q, p)| ids::instant_code(*q, *p))
            .collect();
        client.write_id(ids::INSTANT_REQUEST, &codes).await?;
        let mut ready = false;
        for _ in 0..20 {
            let st = client.read_id(ids::INSTANT_REQUEST, 4).await?;
            if st.iter().all(|b| b & 0x80 != 0) {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if !ready {
            return Err(Error::protocol(
                "instantaneous values (605)",
                "meter never marked the values ready",
            ));
        }
        let vals = client.read_id(ids::INSTANT_VALUES, 28).await?;
        for (k, code) in codes.iter().enumerate() {
            if let Some(v) =
                ids::decode_instant(*code, &vals[k * 7..k * 7 + 7]).map_err(id_error)?
            {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// Local day count for a profile selection that reaches back to `since` from `now`.
pub fn days_since(
    since: chrono::DateTime<Utc>,
    now_meter_local: NaiveDateTime,
    utc_offset_s: i32,
) -> u16 {
    let since_local = utc_to_local(since, utc_offset_s).date();
    let days = (now_meter_local.date() - since_local).num_days() + 1;
    days.clamp(1, i64::from(u16::MAX - 1)) as u16
}
