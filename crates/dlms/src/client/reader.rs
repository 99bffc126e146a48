//! A whole meter read over a DLMS session: the object list first (Association LN
//! `0.0.40.0.0.255` attribute 2), then what it lists, mapped into a
//! [`Reading`](metermaster_model::Reading):
//!
//! | object | becomes |
//! |---|---|
//! | `0.0.96.1.0.255` (device id 1), `0.0.42.0.0.255` (logical device name), `1.0.0.2.0.255` (firmware), `1.0.0.2.1.255` (parameter record number: the scheme id) | the meter identity |
//! | clock `0.0.1.0.0.255` (class 8) | the clock, with drift against our time |
//! | electricity registers (class 3) and extended registers (class 4): D = 8–10 energy, 2–5 demand, 6 maximum demand (class 4 with its capture time), 7 instantaneous | registers, maximum demands, instantaneous values, as exact quantities from each object's scaler_unit |
//! | the same with F = 101–125 (last billing periods), and `1.0.0.1.2.F` (when each ended) | billing history (registers named with F = 255, the period by its index) |
//! | transformer ratios `1.0.0.4.2/5.255` (current), `1.0.0.4.3/6.255` (voltage) | CT and VT ratio |
//! | load profile `1.0.99.1.0.255` (else `1.0.99.2.0.255`; class 7) | the load profile, read by range from `--days`/`--since` |
//! | event logs `0.0.99.98.e.255` and the power failure log `1.0.99.97.0.255` | events |
//! | `0.0.96.7.21.255` (number of power failures) | event counters |
//!
//! A meter whose own codes the reader knows (recognised by its logical device name: for now
//! metermaster's simulated meters, `GEC` + `A1140`/`A1700` + serial) also gets its model, its
//! event codes, profile status bits, event counters (`0.0.96.15.e.255`) and billing triggers
//! (`0.0.96.50.0.F`) mapped by default; a table in [`ReadOptions::event_codes`] still comes
//! first.
//!
//! Load profiles capture register values: a running total (D = 8–10) becomes energy per
//! interval (the difference of consecutive captures, channel D = 29); anything else (average
//! demand, interval energy) is taken as it is, for the period that ends at its capture time.
//! A capture after a gap gives one longer interval (`long`) with the whole advance. Null
//! timestamps are rebuilt from the previous one plus the capture period.
//!
//! What one object cannot give (a unit the model lacks, a malformed value) is noted in the
//! Reading's status and the read goes on; a part asked for that this client may not read (not
//! in its object list, or refused) is named in the Reading's `unreadable` with the reason; what
//! breaks the session ends it with a typed error.

use metermaster_model::well_known::{
    CLOCK, CURRENT_ASSOCIATION as ASSOCIATION_LN, DEVICE_ID as DEVICE_ID_1, FIRMWARE,
    LOAD_PROFILE_1, LOAD_PROFILE_2, LOGICAL_DEVICE_NAME, POWER_FAILURE_LOG,
    PROGRAMMING_COUNTER as PROGRAMMING_COUNT, PROGRAMMING_LABEL, PROGRAMMING_LOG, PROGRAMMING_PORT,
    PROGRAMMING_USER, SCHEME_ID,
};
use std::future::Future;

use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, Timelike, Utc};
use metermaster_model::{
    BillingPeriod, Channel, ClockInfo, Event, EventCounter, EventKind, InstantQuantity, Interval,
    IntervalStatus, LoadProfile, MaxDemand, MeterIdentity, ObisCode, Phase, Quantity, Reading,
    Register, TransformerRatio, Unit, Unreadable,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::names;
use super::session::{Authentication, DlmsClient, SessionOptions};
use super::{Error, LinkStats, MeterError, Result};
use crate::apdu::{
    AttributeDescriptor, AttributeRequest, CaptureObjectDefinition, Conformance, DataAccessResult,
    EntryDescriptor, RangeDescriptor, SelectiveAccess,
};
use crate::axdr::{ClockStatus, CosemDateTime, Data};
use crate::obis::{Dotted, ScalerUnit};

/// How a meter's date-times are read (guide §4.3, §8 items 1, 2 and 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePolicy {
    /// `true` (the usual reading): deviation = UTC − local, so CET is −60. `false` for meters
    /// that send the opposite sign.
    pub deviation_is_utc_minus_local: bool,
    /// `true`: the deviation already includes daylight saving. `false`: the meter sends the
    /// standard-time deviation and sets the DST bit of the status, which then adds an hour.
    pub deviation_includes_dst: bool,
    /// The offset of the meter's wall clock from UTC, in seconds east, for date-times with
    /// deviation `80 00` (when the clock's time_zone attribute cannot be read either).
    pub fallback_utc_offset_s: i32,
    /// Range dates with the meter's deviation and DST bit (`true`), or with `80 00` and status
    /// `FF` for meters that refuse them.
    pub range_dates_with_deviation: bool,
}

impl Default for TimePolicy {
    fn default() -> Self {
        TimePolicy {
            deviation_is_utc_minus_local: true,
            deviation_includes_dst: true,
            fallback_utc_offset_s: 0,
            range_dates_with_deviation: true,
        }
    }
}

impl TimePolicy {
    /// The offset (seconds east of UTC) a date-time stands for; `zone` is the clock's
    /// time_zone attribute in minutes (same sign convention as the deviation).
    pub fn offset_s(&self, dt: &CosemDateTime, zone: Option<i16>) -> i32 {
        let minutes = |m: i16| -> i32 {
            let m = i32::from(m);
            if self.deviation_is_utc_minus_local {
                -m * 60
            } else {
                m * 60
            }
        };
        let mut offset = match dt.deviation() {
            Some(d) if d.unsigned_abs() <= 720 => minutes(d),
            _ => match zone {
                Some(z) if z.unsigned_abs() <= 720 => minutes(z),
                _ => self.fallback_utc_offset_s,
            },
        };
        if !self.deviation_includes_dst && dt.status.daylight_saving_active() {
            offset += 3600;
        }
        offset
    }

    /// The meter's wall-clock time, its offset and the instant in UTC.
    pub fn to_utc(
        &self,
        dt: &CosemDateTime,
        zone: Option<i16>,
    ) -> std::result::Result<(NaiveDateTime, i32, DateTime<Utc>), crate::ValueError> {
        let local = dt.to_naive_local()?;
        let offset = self.offset_s(dt, zone);
        let utc = (local - Duration::seconds(i64::from(offset))).and_utc();
        Ok((local, offset, utc))
    }

    /// A range bound for selective access: `utc` on the meter's wall clock, with the
    /// deviation and DST bit the meter's clock showed (or `80 00`/`FF`).
    fn range_bound(
        &self,
        utc: DateTime<Utc>,
        offset_s: i32,
        clock: Option<&CosemDateTime>,
    ) -> std::result::Result<Data, crate::ValueError> {
        let local = (utc + Duration::seconds(i64::from(offset_s))).naive_utc();
        let local = local.with_nanosecond(0).unwrap_or(local);
        let (deviation, status) = if self.range_dates_with_deviation {
            match clock.and_then(|c| c.deviation().map(|d| (d, c.status))) {
                Some((d, st)) => (
                    Some(d),
                    ClockStatus(if st.is_specified() { st.0 & 0x80 } else { 0 }),
                ),
                None => {
                    let m = i16::try_from(offset_s / 60).unwrap_or(0);
                    let d = if self.deviation_is_utc_minus_local {
                        -m
                    } else {
                        m
                    };
                    (Some(d), ClockStatus::OK)
                }
            }
        } else {
            (None, ClockStatus::NOT_SPECIFIED)
        };
        CosemDateTime::from_naive_local(local, deviation, status).map(Data::date_time_octets)
    }
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Days of load profile: 1 = today so far (on the meter's clock), 0 = none.
    pub profile_days: u16,
    /// Load profile (and events) from this time on; overrides `profile_days`.
    pub since: Option<DateTime<Utc>>,
    /// Energy registers (D = 8–10).
    pub registers: bool,
    /// Demand registers and maximum demands (D = 2–6).
    pub demand: bool,
    /// Instantaneous values (D = 7).
    pub instantaneous: bool,
    /// Registers of the last billing periods (F = 101–125).
    pub history: bool,
    /// Event logs.
    pub events: bool,
    /// The number of configuration changes (0.0.96.2.0.255) and the programming log
    /// (0.0.99.98.10.255: clock, kind, user 0.0.96.2.128.255, scheme label 0.0.96.2.129.255, as
    /// metermaster's simulated meters keep it).
    pub programming: bool,
    /// Firmware and logical device name.
    pub details: bool,
    pub time: TimePolicy,
    /// How the meter was addressed, for the Reading's identity.
    pub address: Option<String>,
    /// The id a meter that tells no serial number (nor logical device name, nor system title)
    /// is kept under: its connection and address (see
    /// [`metermaster_model::unidentified_meter_id`]). Without it, `dlms-LOGICAL-PHYSICAL`.
    pub unidentified_id: Option<String>,
    /// Attributes asked for in one GET-with-list.
    pub list_chunk: usize,
    /// The newest entries read from each event log.
    pub max_events: u32,
    /// Event codes of the meter's own (manufacturer-specific) table, looked up before the
    /// table of a meter the reader recognises and the standard (DSMR/IDIS) codes: code → kind
    /// and an optional detail text.
    pub event_codes: std::collections::BTreeMap<u64, (EventKind, Option<String>)>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            profile_days: 1,
            since: None,
            registers: true,
            demand: true,
            instantaneous: true,
            history: true,
            events: true,
            programming: true,
            details: true,
            time: TimePolicy::default(),
            address: None,
            unidentified_id: None,
            list_chunk: 10,
            max_events: 100,
            event_codes: std::collections::BTreeMap::new(),
        }
    }
}

/// One entry of the object list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosemObject {
    pub class_id: u16,
    pub version: u8,
    pub logical_name: ObisCode,
    /// Attributes the association may not access (access mode 0).
    pub no_access: Vec<i8>,
}

impl CosemObject {
    pub fn readable(&self, attribute: i8) -> bool {
        !self.no_access.contains(&attribute)
    }

    fn attribute(&self, attribute: i8) -> AttributeDescriptor {
        AttributeDescriptor::new(self.class_id, self.logical_name, attribute)
    }
}

/// The object list (Association LN attribute 2): entries that do not have the documented
/// shape are skipped and counted.
pub fn parse_object_list(
    d: &Data,
) -> std::result::Result<(Vec<CosemObject>, usize), crate::ValueError> {
    let items = match d {
        Data::Array(v) => v.as_slice(),
        Data::CompactArray(c) => c.elements(),
        other => {
            return Err(crate::ValueError::WrongType {
                what: "object_list",
                expected: "array",
                found: other.type_name(),
            });
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut skipped = 0;
    for item in items {
        match parse_object(item) {
            Some(o) => out.push(o),
            None => skipped += 1,
        }
    }
    Ok((out, skipped))
}

fn parse_object(item: &Data) -> Option<CosemObject> {
    let f = item.as_elements()?;
    if f.len() < 3 {
        return None;
    }
    let class_id = u16::try_from(f[0].as_u64()?).ok()?;
    let version = u8::try_from(f[1].as_u64()?).ok()?;
    let logical_name = f[2].to_obis().ok()?;
    let mut no_access = Vec::new();
    // access_rights: {attribute_access: [{id, mode, selectors}], method_access}; decoded
    // leniently, since its shape differs between Association LN versions.
    if let Some(rights) = f.get(3).and_then(Data::as_elements) {
        if let Some(attrs) = rights.first().and_then(Data::as_elements) {
            for a in attrs {
                if let Some(af) = a.as_elements() {
                    let id = af.first().and_then(Data::as_i64);
                    let mode = af
                        .get(1)
                        .and_then(|m| m.as_enum().map(u64::from).or(m.as_u64()));
                    if let (Some(id), Some(0)) = (id, mode) {
                        if let Ok(id) = i8::try_from(id) {
                            no_access.push(id);
                        }
                    }
                }
            }
        }
    }
    Some(CosemObject {
        class_id,
        version,
        logical_name,
        no_access,
    })
}

/// What to try when the object list cannot be read: the objects the guide lists first.
fn well_known_objects() -> Vec<CosemObject> {
    let o = |class_id, logical_name| CosemObject {
        class_id,
        version: 0,
        logical_name,
        no_access: Vec::new(),
    };
    let mut v = vec![
        o(1, DEVICE_ID_1),
        o(1, LOGICAL_DEVICE_NAME),
        o(1, FIRMWARE),
        o(8, CLOCK),
    ];
    for c in [1, 2, 3, 4] {
        v.push(o(3, ObisCode::elec(c, 8, 0)));
    }
    v.push(o(4, ObisCode::elec(1, 6, 0)));
    v.push(o(7, LOAD_PROFILE_1));
    v
}

/// A value as text: printable octet-strings and strings as they are, other octet-strings in
/// hex, numbers in decimal.
fn value_text(d: &Data) -> Option<String> {
    match d {
        Data::OctetString(b) | Data::VisibleString(b) | Data::Utf8String(b) => {
            let trimmed: &[u8] = {
                let end = b
                    .iter()
                    .rposition(|c| *c != 0 && *c != b' ')
                    .map_or(0, |i| i + 1);
                &b[..end]
            };
            if trimmed.iter().all(|c| (0x20..0x7F).contains(c)) {
                Some(String::from_utf8_lossy(trimmed).into_owned())
            } else if let (Data::Utf8String(_), Ok(s)) = (d, std::str::from_utf8(trimmed)) {
                Some(s.to_string())
            } else {
                Some(trimmed.iter().map(|c| format!("{c:02X}")).collect())
            }
        }
        other => other.as_integer().map(|v| v.to_string()),
    }
}

/// Reads many attributes, a few at a time.
async fn get_many<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    attributes: &[AttributeDescriptor],
    chunk: usize,
) -> Result<Vec<std::result::Result<Data, DataAccessResult>>> {
    let mut out = Vec::with_capacity(attributes.len());
    for part in attributes.chunks(chunk.max(1)) {
        let reqs: Vec<AttributeRequest> = part.iter().map(|a| AttributeRequest::new(*a)).collect();
        out.extend(client.get_list(&reqs).await?);
    }
    Ok(out)
}

/// Notes what could not be read, for the Reading's status.
#[derive(Debug, Default)]
struct Notes(Vec<String>);

impl Notes {
    fn add(&mut self, s: impl Into<String>) {
        self.0.push(s.into());
    }
}

/// The meter's clock as read: the Reading's clock and what the profile needs.
#[derive(Debug, Clone, Copy)]
struct MeterClock {
    raw: Option<CosemDateTime>,
    offset_s: i32,
    zone: Option<i16>,
    local_now: NaiveDateTime,
    utc_now: DateTime<Utc>,
}

/// Associates (if needed), reads the meter, releases and disconnects whatever happens.
pub async fn read_meter<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    opts: &ReadOptions,
) -> Result<Reading> {
    let started = Utc::now();
    if !client.is_associated() {
        if let Err(e) = client.associate().await {
            let _ = client.finish().await;
            return Err(e);
        }
    }
    let result = read_body(client, opts, started).await;
    let _ = client.finish().await;
    result
}

/// Reads what the object list offers from an open association.
pub async fn read_body<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    opts: &ReadOptions,
    started: DateTime<Utc>,
) -> Result<Reading> {
    let mut notes = Notes::default();
    let list_attr = AttributeDescriptor::new(15, ASSOCIATION_LN, 2);
    let objects = match client.get(list_attr, None).await {
        Ok(d) => {
            let (objects, skipped) = parse_object_list(&d)
                .map_err(|e| Error::value("object list (0.0.40.0.0.255 attribute 2)", e))?;
            if skipped > 0 {
                notes.add(format!(
                    "object list: {skipped} entries without the documented shape were skipped"
                ));
            }
            objects
        }
        Err(Error::Meter(MeterError::DataAccess { result, .. })) => {
            notes.add(format!(
                "object list not readable ({result}); well-known objects were tried instead"
            ));
            well_known_objects()
        }
        Err(e) => return Err(e),
    };
    let has = |class_id: u16, ln: ObisCode| {
        objects
            .iter()
            .find(|o| o.class_id == class_id && o.logical_name == ln)
    };

    // ----- identity -----
    let mut ident_attrs = Vec::new();
    let wanted = [
        (DEVICE_ID_1, true),
        (LOGICAL_DEVICE_NAME, true),
        (FIRMWARE, opts.details),
        (SCHEME_ID, true),
    ];
    for (ln, want) in wanted {
        if let Some(o) = has(1, ln).filter(|o| want && o.readable(2)) {
            ident_attrs.push(o.attribute(2));
        }
    }
    let values = get_many(client, &ident_attrs, opts.list_chunk).await?;
    let mut serial = None;
    let mut ldn = None;
    let mut firmware = None;
    let mut scheme_id = None;
    for (a, v) in ident_attrs.iter().zip(values) {
        let text = match v {
            Ok(d) => value_text(&d),
            Err(e) => {
                notes.add(format!("{}: {e}", Dotted(a.instance)));
                None
            }
        };
        match a.instance {
            DEVICE_ID_1 => serial = text,
            LOGICAL_DEVICE_NAME => ldn = text,
            SCHEME_ID => scheme_id = text,
            _ => firmware = text,
        }
    }
    let server_title = client.negotiated().and_then(|n| n.server_title);
    let dialect = names::Dialect::recognise(ldn.as_deref());
    let serial = serial
        .filter(|s| !s.is_empty())
        .or_else(|| ldn.clone().filter(|s| !s.is_empty()))
        .or_else(|| server_title.map(|t| t.to_string()))
        .unwrap_or_else(|| {
            notes.add("the meter has no readable serial number (0.0.96.1.0.255)");
            opts.unidentified_id.clone().unwrap_or_else(|| {
                format!(
                    "dlms-{}-{}",
                    client.options().link.server_logical,
                    client.options().link.server_physical.unwrap_or(0)
                )
            })
        });
    let manufacturer = ldn
        .as_deref()
        .and_then(|l| l.get(..3))
        .filter(|m| m.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(str::to_string)
        .or_else(|| server_title.and_then(|t| t.manufacturer().map(str::to_string)));
    let mut reading = Reading::new(
        MeterIdentity {
            serial,
            address: opts.address.clone(),
            manufacturer,
            model: dialect.map(|d| d.model().to_string()),
            ident: ldn,
            firmware,
            scheme_id: scheme_id.filter(|s| !s.is_empty()),
            system_title: server_title.map(|t| t.to_string()),
        },
        "dlms",
        started,
    );

    // ----- clock -----
    let mut clock = None;
    if let Some(o) = has(8, CLOCK).filter(|o| o.readable(2)) {
        let mut attrs = vec![o.attribute(2)];
        if o.readable(3) {
            attrs.push(o.attribute(3));
        }
        let values = get_many(client, &attrs, opts.list_chunk).await?;
        let master_time = Utc::now();
        let zone = values
            .get(1)
            .and_then(|v| v.as_ref().ok())
            .and_then(Data::as_i64)
            .and_then(|z| i16::try_from(z).ok());
        match values.into_iter().next() {
            Some(Ok(d)) => match d
                .to_date_time()
                .and_then(|dt| opts.time.to_utc(&dt, zone).map(|t| (dt, t)))
            {
                Ok((dt, (local, offset, utc))) => {
                    if dt.status.invalid_value() {
                        reading.status.push("clock status: invalid value".into());
                    }
                    if dt.status.doubtful_value() {
                        reading.status.push("clock status: doubtful value".into());
                    }
                    reading.clock = Some(ClockInfo {
                        meter_local: local,
                        utc_offset_s: offset,
                        meter_time: utc,
                        master_time,
                        drift_s: (utc - master_time).num_milliseconds() as f64 / 1000.0,
                    });
                    clock = Some(MeterClock {
                        raw: Some(dt),
                        offset_s: offset,
                        zone,
                        local_now: local,
                        utc_now: utc,
                    });
                }
                Err(e) => notes.add(format!("clock 0.0.1.0.0.255: {e}")),
            },
            Some(Err(e)) => notes.add(format!("clock 0.0.1.0.0.255: {e}")),
            None => {}
        }
    }
    let clock = clock.unwrap_or_else(|| {
        let now = Utc::now();
        let offset = opts.time.fallback_utc_offset_s;
        MeterClock {
            raw: None,
            offset_s: offset,
            zone: None,
            local_now: (now + Duration::seconds(i64::from(offset))).naive_utc(),
            utc_now: now,
        }
    });

    // ----- registers -----
    read_registers(client, opts, &objects, &clock, &mut reading, &mut notes).await?;
    if opts.details {
        read_ratios(client, opts, &objects, &mut reading, &mut notes).await?;
    }
    if opts.history {
        read_billing_info(
            client,
            opts,
            &objects,
            &clock,
            dialect,
            &mut reading,
            &mut notes,
        )
        .await?;
    }

    // Why a part this association does not list cannot be read.
    let sap = client.options().link.client_sap;
    let not_listed = |what: &str| match dialect {
        Some(d) => format!(
            "no {what} in the object list of this association (client {sap}): {}",
            d.log_readers()
        ),
        None => format!(
            "no {what} in the object list of this association (client {sap}): this client may not see it, or the meter keeps none"
        ),
    };

    // ----- load profile -----
    let window_start = opts.since.or_else(|| {
        (opts.profile_days > 0).then(|| {
            let days_back = i64::from(opts.profile_days) - 1;
            let midnight =
                (clock.local_now.date() - Duration::days(days_back)).and_time(NaiveTime::MIN);
            (midnight - Duration::seconds(i64::from(clock.offset_s))).and_utc()
        })
    });
    if let Some(from) = window_start {
        let profile = has(7, LOAD_PROFILE_1)
            .or_else(|| has(7, LOAD_PROFILE_2))
            .cloned();
        match profile {
            Some(p) if p.readable(2) => {
                let lp = read_profile(client, opts, &p, from, &clock, dialect, &mut notes).await?;
                reading.load_profile = lp;
            }
            Some(p) => add_unreadable(
                &mut reading,
                "load_profile",
                format!(
                    "load profile {}: no access to its buffer for client {sap}",
                    Dotted(p.logical_name)
                ),
            ),
            None => add_unreadable(
                &mut reading,
                "load_profile",
                not_listed("load profile (1.0.99.1.0.255)"),
            ),
        }
    }

    // ----- events -----
    if opts.events {
        let logs: Vec<CosemObject> = objects
            .iter()
            .filter(|o| {
                o.class_id == 7
                    && o.readable(2)
                    && ((o.logical_name.c == 99 && o.logical_name.d == 98)
                        || o.logical_name == POWER_FAILURE_LOG)
            })
            .cloned()
            .collect();
        let mut logs_read = 0;
        for log in &logs {
            if read_event_log(client, opts, log, &clock, dialect, &mut reading, &mut notes).await? {
                logs_read += 1;
            }
        }
        if logs.is_empty() {
            add_unreadable(
                &mut reading,
                "events",
                not_listed("event log (0.0.99.98.e.255, 1.0.99.97.0.255)"),
            );
        }
        read_event_counters(client, opts, &objects, dialect, &mut reading, &mut notes).await?;
        if reading.event_counters.is_empty() && (logs.is_empty() || dialect.is_some()) {
            add_unreadable(
                &mut reading,
                "event_counters",
                not_listed("event counter (0.0.96.7.21.255, 0.0.96.15.e.255)"),
            );
        }
        // Power cuts in the load profile are events too, as the FLAG reader has them, where
        // the logs do not record power down and up themselves.
        let logged = reading
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::PowerDown | EventKind::PowerUp));
        if logs_read > 0 && !logged {
            if let Some(lp) = &reading.load_profile {
                for iv in &lp.intervals {
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
            }
        }
        reading.events.sort_by_key(|e| e.time);
    }

    // ----- programming -----
    if opts.programming {
        read_programming(client, opts, &objects, &clock, &mut reading, &mut notes).await?;
        if reading.programming.is_none()
            && !reading.unreadable.iter().any(|u| u.part == "programming")
        {
            add_unreadable(
                &mut reading,
                "programming",
                not_listed("programming counter or log (0.0.96.2.0.255, 0.0.99.98.10.255)"),
            );
        }
    }

    reading.status.extend(notes.0);
    reading.finished = Utc::now();
    Ok(reading)
}

/// Records that a part could not be read, and why (one entry per part; reasons joined).
fn add_unreadable(reading: &mut Reading, part: &str, reason: impl Into<String>) {
    let reason = reason.into();
    match reading.unreadable.iter_mut().find(|u| u.part == part) {
        Some(u) => {
            u.reason.push_str("; ");
            u.reason.push_str(&reason);
        }
        None => reading.unreadable.push(Unreadable {
            part: part.to_string(),
            reason,
        }),
    }
}

/// CT and VT ratios: the transformer ratio registers 1.0.0.4.2/5.255 (current, numerator and
/// denominator) and 1.0.0.4.3/6.255 (voltage), as exact quantities.
async fn read_ratios<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    opts: &ReadOptions,
    objects: &[CosemObject],
    reading: &mut Reading,
    notes: &mut Notes,
) -> Result<()> {
    let find = |e: u8| {
        objects.iter().find(|o| {
            matches!(o.class_id, 3 | 4)
                && o.logical_name == ObisCode::new(1, 0, 0, 4, e, 255)
                && o.readable(2)
                && o.readable(3)
        })
    };
    for (primary, secondary, current) in [(2u8, 5u8, true), (3, 6, false)] {
        let (Some(p), Some(q)) = (find(primary), find(secondary)) else {
            continue;
        };
        let attrs = [
            p.attribute(3),
            p.attribute(2),
            q.attribute(3),
            q.attribute(2),
        ];
        let v = get_many(client, &attrs, opts.list_chunk).await?;
        let quantity = |su: &std::result::Result<Data, DataAccessResult>,
                        value: &std::result::Result<Data, DataAccessResult>|
         -> std::result::Result<Quantity, String> {
            let su = su.as_ref().map_err(|e| e.to_string())?;
            let value = value.as_ref().map_err(|e| e.to_string())?;
            ScalerUnit::from_data(su)
                .and_then(|su| su.quantity(value))
                .map_err(|e| e.to_string())
        };
        match (quantity(&v[0], &v[1]), quantity(&v[2], &v[3])) {
            (Ok(primary), Ok(secondary)) => {
                let ratio = TransformerRatio { primary, secondary };
                if current {
                    reading.ct_ratio = Some(ratio);
                } else {
                    reading.vt_ratio = Some(ratio);
                }
            }
            (Err(e), _) | (_, Err(e)) => notes.add(format!(
                "{} transformer ratio {}/{}: {e}",
                if current { "current" } else { "voltage" },
                Dotted(p.logical_name),
                Dotted(q.logical_name)
            )),
        }
    }
    Ok(())
}

/// When each of the last billing periods ended (1.0.0.1.2.F, F = 101–125) and, on a meter
/// whose codes the reader knows, what ended it.
async fn read_billing_info<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    opts: &ReadOptions,
    objects: &[CosemObject],
    clock: &MeterClock,
    dialect: Option<names::Dialect>,
    reading: &mut Reading,
    notes: &mut Notes,
) -> Result<()> {
    // (period index, trigger?) per object.
    let mut found: Vec<(&CosemObject, u32, bool)> = Vec::new();
    for o in objects
        .iter()
        .filter(|o| matches!(o.class_id, 1 | 3 | 4) && o.readable(2))
    {
        let ln = o.logical_name;
        if (ln.a, ln.b, ln.c, ln.d, ln.e) == (1, 0, 0, 1, 2) && (101..=125).contains(&ln.f) {
            found.push((o, u32::from(ln.f - 101), false));
        } else if let Some(k) = dialect.and_then(|d| d.billing_trigger_period(ln)) {
            found.push((o, k, true));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    let attrs: Vec<AttributeDescriptor> = found.iter().map(|f| f.0.attribute(2)).collect();
    let values = get_many(client, &attrs, opts.list_chunk).await?;
    for ((o, index, trigger), v) in found.into_iter().zip(values) {
        let d = match v {
            Ok(d) => d,
            Err(e) => {
                notes.add(format!("billing period {}: {e}", Dotted(o.logical_name)));
                continue;
            }
        };
        let period = match reading
            .billing_history
            .iter_mut()
            .position(|p| p.index == index)
        {
            Some(i) => &mut reading.billing_history[i],
            None => {
                reading.billing_history.push(BillingPeriod {
                    index,
                    reset_time: None,
                    trigger: None,
                    registers: Vec::new(),
                    max_demands: Vec::new(),
                });
                let last = reading.billing_history.len() - 1;
                &mut reading.billing_history[last]
            }
        };
        if trigger {
            period.trigger = d.as_u64().and_then(names::billing_trigger);
        } else {
            match d
                .to_date_time()
                .and_then(|dt| opts.time.to_utc(&dt, clock.zone))
            {
                Ok((_, _, utc)) => period.reset_time = Some(utc),
                Err(e) => notes.add(format!("billing period {}: {e}", Dotted(o.logical_name))),
            }
        }
    }
    reading.billing_history.sort_by_key(|p| p.index);
    Ok(())
}

/// Event counters: objects whose OBIS code says what they count (0.0.96.7.21.255, power
/// failures), and those of a meter whose codes the reader knows.
async fn read_event_counters<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    opts: &ReadOptions,
    objects: &[CosemObject],
    dialect: Option<names::Dialect>,
    reading: &mut Reading,
    notes: &mut Notes,
) -> Result<()> {
    let counters: Vec<(&CosemObject, EventKind)> = objects
        .iter()
        .filter(|o| matches!(o.class_id, 1 | 3) && o.readable(2))
        .filter_map(|o| {
            names::counter(o.logical_name)
                .or_else(|| dialect.and_then(|d| d.counter(o.logical_name)))
                .map(|k| (o, k))
        })
        .collect();
    if counters.is_empty() {
        return Ok(());
    }
    let attrs: Vec<AttributeDescriptor> = counters.iter().map(|c| c.0.attribute(2)).collect();
    let values = get_many(client, &attrs, opts.list_chunk).await?;
    for ((o, kind), v) in counters.into_iter().zip(values) {
        match v.map(|d| d.as_u64().and_then(|n| u32::try_from(n).ok())) {
            Ok(Some(count)) => reading.event_counters.push(EventCounter { kind, count }),
            Ok(None) => notes.add(format!(
                "event counter {}: not a count",
                Dotted(o.logical_name)
            )),
            Err(e) => add_unreadable(
                reading,
                "event_counters",
                format!("event counter {}: {e}", Dotted(o.logical_name)),
            ),
        }
    }
    Ok(())
}

/// The programming counter and log, where the meter has them: the count from 0.0.96.2.0.255,
/// the sessions (most recent first) from the log's rows.
async fn read_programming<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    opts: &ReadOptions,
    objects: &[CosemObject],
    clock: &MeterClock,
    reading: &mut Reading,
    notes: &mut Notes,
) -> Result<()> {
    let text = |d: &Data| {
        d.as_str()
            .map(str::to_string)
            .or_else(|| {
                d.as_octet_string()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            })
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let mut count = None;
    if let Some(o) = objects.iter().find(|o| {
        o.logical_name == PROGRAMMING_COUNT && matches!(o.class_id, 1 | 3) && o.readable(2)
    }) {
        match client.get(o.attribute(2), None).await {
            Ok(d) => count = d.as_u64().and_then(|n| u32::try_from(n).ok()),
            Err(Error::Meter(MeterError::DataAccess { result, .. })) => {
                add_unreadable(
                    reading,
                    "programming",
                    format!("programming counter 0.0.96.2.0.255: {result}"),
                );
            }
            Err(e) => return Err(e),
        }
    }
    let mut records = Vec::new();
    if let Some(log) = objects.iter().find(|o| {
        o.logical_name == PROGRAMMING_LOG && o.class_id == 7 && o.readable(2) && o.readable(3)
    }) {
        let captures = match client
            .get(log.attribute(3), None)
            .await
            .map(|d| parse_captures(&d))
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                notes.add(format!("programming log: capture objects: {e}"));
                Vec::new()
            }
            Err(Error::Meter(MeterError::DataAccess { result, .. })) => {
                add_unreadable(reading, "programming", format!("programming log: {result}"));
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let col = |ln: ObisCode| captures.iter().position(|c| c.logical_name == ln);
        let time_col = captures
            .iter()
            .position(|c| c.class_id == 8 && c.attribute_index == 2);
        if let Some(time_col) = time_col {
            let buffer = match client.get(log.attribute(2), None).await {
                Ok(b) => b,
                Err(Error::Meter(MeterError::DataAccess { result, .. })) => {
                    add_unreadable(reading, "programming", format!("programming log: {result}"));
                    Data::Array(Vec::new())
                }
                Err(e) => return Err(e),
            };
            for row in buffer.as_elements().unwrap_or_default() {
                let Some(f) = row.as_elements().filter(|f| f.len() == captures.len()) else {
                    continue;
                };
                let Ok((_, _, time)) = f[time_col]
                    .to_date_time()
                    .and_then(|dt| opts.time.to_utc(&dt, clock.zone))
                else {
                    continue;
                };
                records.push(metermaster_model::ProgrammingRecord {
                    time,
                    user: col(PROGRAMMING_USER)
                        .and_then(|i| text(&f[i]))
                        .unwrap_or_default(),
                    scheme: col(PROGRAMMING_LABEL).and_then(|i| text(&f[i])),
                    port: col(PROGRAMMING_PORT)
                        .and_then(|i| f[i].as_u64())
                        .and_then(names::programming_port)
                        .map(str::to_string),
                });
            }
            // Most recent first: the buffer is in capture order (FIFO), which is not the order
            // of the times when a session set the clock back.
            records.reverse();
        }
    }
    if count.is_some() || !records.is_empty() {
        reading.programming = Some(metermaster_model::ProgrammingLog {
            count: count.unwrap_or(records.len() as u32),
            records,
        });
    }
    Ok(())
}

/// Registers, demands, instantaneous values and billing-period values.
async fn read_registers<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    opts: &ReadOptions,
    objects: &[CosemObject],
    clock: &MeterClock,
    reading: &mut Reading,
    notes: &mut Notes,
) -> Result<()> {
    let wanted = |o: &CosemObject| -> bool {
        let ln = o.logical_name;
        if !matches!(o.class_id, 3 | 4)
            || ln.a != 1
            || ln.c == 0
            || !o.readable(2)
            || !o.readable(3)
        {
            return false;
        }
        if ln.f != 255 {
            return opts.history && (101..=125).contains(&ln.f) && matches!(ln.d, 2 | 6 | 8..=10);
        }
        match ln.d {
            7 => opts.instantaneous && names::instant(ln).is_some(),
            2..=6 => opts.demand,
            8..=10 => opts.registers,
            _ => false,
        }
    };
    let regs: Vec<&CosemObject> = objects.iter().filter(|o| wanted(o)).collect();
    // Per register: scaler_unit, value, and the capture time of a maximum demand.
    let mut attrs = Vec::new();
    let mut spans = Vec::new();
    for o in &regs {
        let start = attrs.len();
        attrs.push(o.attribute(3));
        attrs.push(o.attribute(2));
        if o.class_id == 4 && o.logical_name.d == 6 && o.readable(5) {
            attrs.push(o.attribute(5));
        }
        spans.push(start..attrs.len());
    }
    // Keep each register's attributes in one GET-with-list where possible.
    let chunk = opts.list_chunk.max(3) / 3 * 3;
    let values = get_many(client, &attrs, chunk).await?;
    let mut net_power_seen = false;
    for (o, span) in regs.iter().zip(spans) {
        let ln = o.logical_name;
        let v = &values[span];
        let (su, value) = match (&v[0], &v[1]) {
            (Ok(su), Ok(value)) => (su, value),
            (Err(e), _) | (_, Err(e)) => {
                notes.add(format!("register {}: {e}", Dotted(ln)));
                continue;
            }
        };
        let mut quantity = match ScalerUnit::from_data(su).and_then(|su| su.quantity(value)) {
            Ok(q) => q,
            Err(e) => {
                notes.add(format!("register {}: {e}", Dotted(ln)));
                continue;
            }
        };
        // A running total without a unit (255) counts something: pulses, a customer register.
        if quantity.unit == Unit::None && names::is_cumulative(ln) {
            quantity.unit = Unit::Count;
        }
        let time = match v.get(2) {
            Some(Ok(t)) => t
                .to_date_time()
                .ok()
                .and_then(|dt| opts.time.to_utc(&dt, clock.zone).ok())
                .map(|(_, _, utc)| utc),
            _ => None,
        };
        // Registers of a billing period are named as the current ones (F = 255), as every
        // Reading has them: the period is the BillingPeriod's index.
        let current = ObisCode::new(ln.a, ln.b, ln.c, ln.d, ln.e, 255);
        let name = names::register_name(current);
        if ln.f != 255 {
            let index = u32::from(ln.f - 101);
            let period = match reading
                .billing_history
                .iter_mut()
                .find(|p| p.index == index)
            {
                Some(p) => p,
                None => {
                    reading.billing_history.push(BillingPeriod {
                        index,
                        reset_time: None,
                        trigger: None,
                        registers: Vec::new(),
                        max_demands: Vec::new(),
                    });
                    let last = reading.billing_history.len() - 1;
                    &mut reading.billing_history[last]
                }
            };
            if ln.d == 6 {
                period.max_demands.push(MaxDemand {
                    obis: current,
                    name,
                    value: quantity,
                    time,
                });
            } else {
                period.registers.push(Register {
                    obis: current,
                    name,
                    value: quantity,
                });
            }
            continue;
        }
        match ln.d {
            7 => {
                if let Some((q, phase)) = names::instant(ln) {
                    // The total active power is signed: +A − (−A) (C = 16) where the meter
                    // has it, else +A (C = 1).
                    if q == InstantQuantity::ActivePower && phase == Phase::Total {
                        if net_power_seen {
                            continue;
                        }
                        if ln.c == 16 {
                            net_power_seen = true;
                            reading.instantaneous.retain(|i| {
                                !(i.quantity == InstantQuantity::ActivePower
                                    && i.phase == Phase::Total)
                            });
                        }
                    }
                    reading.instantaneous.push(metermaster_model::InstantValue {
                        quantity: q,
                        phase,
                        value: quantity,
                    });
                }
            }
            6 => reading.max_demands.push(MaxDemand {
                obis: ln,
                name,
                value: quantity,
                time,
            }),
            _ => reading.registers.push(Register {
                obis: ln,
                name,
                value: quantity,
            }),
        }
    }
    reading.billing_history.sort_by_key(|p| p.index);
    Ok(())
}

/// What a profile column holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Time,
    Status,
    /// A channel: its index among the channels.
    Channel(usize),
    Ignored,
}

#[derive(Debug, Clone)]
struct ChannelSpec {
    source: ObisCode,
    scaler: ScalerUnit,
    unit: Unit,
    cumulative: bool,
}

/// Reads a profile's capture objects and period, and its buffer from `from` on.
async fn read_profile<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    opts: &ReadOptions,
    profile: &CosemObject,
    from: DateTime<Utc>,
    clock: &MeterClock,
    dialect: Option<names::Dialect>,
    notes: &mut Notes,
) -> Result<Option<LoadProfile>> {
    let pg = profile.logical_name;
    let what = format!("load profile {}", Dotted(pg));
    let mut meta_attrs = vec![profile.attribute(3), profile.attribute(4)];
    if profile.readable(6) {
        meta_attrs.push(profile.attribute(6));
    }
    let meta = get_many(client, &meta_attrs, opts.list_chunk).await?;
    let captures = match &meta[0] {
        Ok(d) => {
            parse_captures(d).map_err(|e| Error::value(format!("{what} capture objects"), e))?
        }
        Err(e) => {
            notes.add(format!("{what}: capture objects not readable ({e})"));
            return Ok(None);
        }
    };
    let period = match &meta[1] {
        Ok(d) => d
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| {
                Error::protocol(
                    format!("{what} capture period"),
                    format!("{} is not a number of seconds", d.type_name()),
                )
            })?,
        Err(e) => {
            notes.add(format!("{what}: capture period not readable ({e})"));
            return Ok(None);
        }
    };
    let sort_object = meta
        .get(2)
        .and_then(|v| v.as_ref().ok())
        .and_then(|d| CaptureObjectDefinition::from_data(d).ok())
        .filter(|c| c.class_id != 0);

    // Columns and the scaler_unit of each register column.
    let mut columns = Vec::with_capacity(captures.len());
    let mut scaler_attrs = Vec::new();
    let mut sources = Vec::new();
    for c in &captures {
        let ln = c.logical_name;
        let col = match (c.class_id, c.attribute_index) {
            _ if c.data_index != 0 => Column::Ignored,
            (8, 2) if !columns.contains(&Column::Time) => Column::Time,
            (1, 2) if names::is_profile_status(ln) && !columns.contains(&Column::Status) => {
                Column::Status
            }
            (3 | 4, 2) if ln.a == 1 => {
                scaler_attrs.push(AttributeDescriptor::new(c.class_id, ln, 3));
                sources.push(ln);
                Column::Channel(sources.len() - 1)
            }
            (5, 2 | 3) if ln.a == 1 => {
                scaler_attrs.push(AttributeDescriptor::new(5, ln, 4));
                sources.push(ln);
                Column::Channel(sources.len() - 1)
            }
            _ => Column::Ignored,
        };
        if col == Column::Ignored {
            notes.add(format!(
                "{what}: column class {} {} attribute {} not mapped",
                c.class_id,
                Dotted(ln),
                c.attribute_index
            ));
        }
        columns.push(col);
    }
    let scalers = get_many(client, &scaler_attrs, opts.list_chunk).await?;
    let mut specs: Vec<Option<ChannelSpec>> = Vec::with_capacity(sources.len());
    for (ln, su) in sources.iter().zip(scalers) {
        let spec = su
            .map_err(|e| e.to_string())
            .and_then(|d| ScalerUnit::from_data(&d).map_err(|e| e.to_string()))
            .and_then(|s| {
                s.unit
                    .to_model()
                    .map(|unit| (s, unit))
                    .ok_or_else(|| format!("unit {} has no counterpart in the model", s.unit))
            });
        match spec {
            Ok((scaler, unit)) => specs.push(Some(ChannelSpec {
                source: *ln,
                scaler,
                unit,
                cumulative: names::is_cumulative(*ln),
            })),
            Err(e) => {
                notes.add(format!("{what}: channel {} dropped: {e}", Dotted(*ln)));
                specs.push(None);
            }
        }
    }
    let time_col = columns.iter().position(|c| *c == Column::Time);
    let Some(time_col) = time_col else {
        notes.add(format!("{what}: no clock column; the profile was not read"));
        return Ok(None);
    };

    // The buffer, by range on the sort object (or the clock column).
    let restricting = sort_object
        .filter(|s| captures.contains(s))
        .unwrap_or(captures[time_col]);
    let to = clock.utc_now + Duration::seconds(i64::from(period.max(60)));
    let range = (|| -> std::result::Result<SelectiveAccess, crate::ValueError> {
        Ok(RangeDescriptor {
            restricting_object: restricting,
            from_value: opts
                .time
                .range_bound(from, clock.offset_s, clock.raw.as_ref())?,
            to_value: opts
                .time
                .range_bound(to, clock.offset_s, clock.raw.as_ref())?,
            selected_values: Vec::new(),
        }
        .into())
    })()
    .map_err(|e| Error::value(format!("{what} range"), e))?;
    let buffer_attr = profile.attribute(2);
    let selective = client
        .negotiated()
        .is_some_and(|n| n.grants(Conformance::SELECTIVE_ACCESS));
    let buffer = if selective {
        match client.get(buffer_attr, Some(range)).await {
            Ok(b) => b,
            Err(Error::Meter(MeterError::DataAccess { result, .. })) => {
                notes.add(format!(
                    "{what}: range access refused ({result}); the whole buffer was read"
                ));
                client.get(buffer_attr, None).await?
            }
            Err(e) => return Err(e),
        }
    } else {
        notes.add(format!(
            "{what}: selective access not granted; the whole buffer was read"
        ));
        client.get(buffer_attr, None).await?
    };
    let rows = buffer.as_elements().ok_or_else(|| {
        Error::protocol(
            format!("{what} buffer"),
            format!("a {}, expected an array of rows", buffer.type_name()),
        )
    })?;

    // Rows: time, status and exact values.
    struct Row {
        time: DateTime<Utc>,
        status: IntervalStatus,
        values: Vec<Option<(i64, i8)>>,
    }
    let mut parsed: Vec<Row> = Vec::with_capacity(rows.len());
    let mut prev_time: Option<DateTime<Utc>> = None;
    let mut bad_rows = 0usize;
    for row in rows {
        let Some(fields) = row.as_elements().filter(|f| f.len() == captures.len()) else {
            bad_rows += 1;
            continue;
        };
        let time = match &fields[time_col] {
            Data::Null => match prev_time
                .filter(|_| period > 0)
                .and_then(|t| t.checked_add_signed(Duration::seconds(i64::from(period))))
            {
                Some(t) => t,
                None => {
                    bad_rows += 1;
                    continue;
                }
            },
            d => match d
                .to_date_time()
                .and_then(|dt| opts.time.to_utc(&dt, clock.zone))
            {
                Ok((_, _, utc)) => utc,
                Err(_) => {
                    bad_rows += 1;
                    continue;
                }
            },
        };
        prev_time = Some(time);
        let mut status = IntervalStatus::EMPTY;
        let mut values = vec![None; specs.len()];
        for (col, field) in columns.iter().zip(fields) {
            match col {
                Column::Status => {
                    if let Some(bits) = field.as_u64() {
                        status |= match dialect {
                            Some(d) => d.profile_status(bits),
                            None => names::profile_status(bits),
                        };
                    }
                }
                Column::Channel(i) => {
                    if let Some(Some(spec)) = specs.get(*i) {
                        if !matches!(field, Data::Null) {
                            match spec.scaler.exact_value(field) {
                                Ok(v) => values[*i] = Some(v),
                                Err(_) => status |= IntervalStatus::INVALID,
                            }
                        }
                    }
                }
                Column::Time | Column::Ignored => {}
            }
        }
        parsed.push(Row {
            time,
            status,
            values,
        });
    }
    if bad_rows > 0 {
        notes.add(format!(
            "{what}: {bad_rows} rows without a usable time or with the wrong number of values were skipped"
        ));
    }
    parsed.sort_by_key(|r| r.time);
    parsed.dedup_by_key(|r| r.time);

    // Channels at the finest scale any value has.
    let kept: Vec<usize> = (0..specs.len()).filter(|i| specs[*i].is_some()).collect();
    let mut channels = Vec::with_capacity(kept.len());
    for &i in &kept {
        let Some(spec) = &specs[i] else { continue };
        let scale = parsed
            .iter()
            .filter_map(|r| r.values[i].map(|v| v.1))
            .fold(spec.scaler.scaler, i8::min);
        let (obis, unit, name) = if spec.cumulative {
            let obis = names::interval_channel(spec.source);
            (obis, spec.unit.energy(), names::register_name(obis))
        } else {
            (spec.source, spec.unit, names::register_name(spec.source))
        };
        channels.push(Channel {
            obis,
            name,
            unit,
            scale,
        });
    }
    let at_scale = |v: Option<(i64, i8)>, scale: i8| -> Option<i64> {
        v.and_then(|(raw, s)| Quantity::new(raw, s, Unit::None).rescaled(scale))
    };
    let mut intervals = Vec::with_capacity(parsed.len());
    let any_cumulative = kept
        .iter()
        .any(|i| specs[*i].as_ref().is_some_and(|s| s.cumulative));
    for k in 0..parsed.len() {
        let row = &parsed[k];
        let prev = k.checked_sub(1).map(|p| &parsed[p]);
        if any_cumulative && prev.is_none() {
            continue; // the first capture is only the base of the next interval
        }
        let mut status = row.status;
        // A running total's difference covers everything since the previous capture; an
        // average or interval value covers the capture period only. After a gap (a power cut)
        // the two disagree: the interval then spans the gap, and values that do not cover it
        // are not given.
        let gap =
            prev.filter(|p| period == 0 || (row.time - p.time).num_seconds() > i64::from(period));
        let (start, seconds, spans_gap) = match gap {
            Some(p) if any_cumulative || period == 0 => {
                if period > 0 {
                    status |= IntervalStatus::LONG;
                }
                (p.time, (row.time - p.time).num_seconds(), true)
            }
            _ if period > 0 => (
                row.time - Duration::seconds(i64::from(period)),
                i64::from(period),
                false,
            ),
            _ => continue,
        };
        let Ok(seconds) = u32::try_from(seconds) else {
            continue;
        };
        if seconds == 0 {
            continue;
        }
        let mut values = Vec::with_capacity(kept.len());
        for (ci, &i) in kept.iter().enumerate() {
            let scale = channels[ci].scale;
            let Some(spec) = &specs[i] else { continue };
            let now = at_scale(row.values[i], scale);
            let v = if spec.cumulative {
                match (now, prev.and_then(|p| at_scale(p.values[i], scale))) {
                    (Some(a), Some(b)) => a.checked_sub(b),
                    _ => None,
                }
            } else if spans_gap && period > 0 {
                None
            } else {
                now
            };
            match v {
                Some(v) => {
                    if spec.cumulative && v < 0 {
                        status |= IntervalStatus::INVALID;
                    }
                    values.push(v);
                }
                None => {
                    status |= IntervalStatus::MISSING;
                    values.push(0);
                }
            }
        }
        if start < from {
            continue;
        }
        intervals.push(Interval {
            start,
            seconds,
            status,
            values,
        });
    }
    Ok(Some(LoadProfile {
        interval_s: period,
        channels,
        intervals,
    }))
}

fn parse_captures(
    d: &Data,
) -> std::result::Result<Vec<CaptureObjectDefinition>, crate::ValueError> {
    let items = d.as_elements().ok_or(crate::ValueError::WrongType {
        what: "capture_objects",
        expected: "array",
        found: d.type_name(),
    })?;
    items
        .iter()
        .map(CaptureObjectDefinition::from_data)
        .collect()
}

/// Reads the newest entries of an event log; whether it was read.
async fn read_event_log<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut DlmsClient<S>,
    opts: &ReadOptions,
    log: &CosemObject,
    clock: &MeterClock,
    dialect: Option<names::Dialect>,
    reading: &mut Reading,
    notes: &mut Notes,
) -> Result<bool> {
    let what = format!("event log {}", Dotted(log.logical_name));
    let meta = get_many(
        client,
        &[log.attribute(3), log.attribute(7)],
        opts.list_chunk,
    )
    .await?;
    let captures = match &meta[0] {
        Ok(d) => match parse_captures(d) {
            Ok(c) => c,
            Err(e) => {
                notes.add(format!("{what}: capture objects: {e}"));
                return Ok(false);
            }
        },
        Err(e) => {
            notes.add(format!("{what}: capture objects not readable ({e})"));
            return Ok(false);
        }
    };
    let time_col = captures
        .iter()
        .position(|c| c.class_id == 8 && c.attribute_index == 2);
    let power_failures = log.logical_name == POWER_FAILURE_LOG;
    // The power failure log's duration column is optional (a log of the failures' times).
    let value_col = if power_failures {
        captures
            .iter()
            .position(|c| c.class_id != 8 && c.attribute_index == 2)
    } else {
        let col = captures
            .iter()
            .position(|c| c.class_id == 1 && names::is_event_code(c.logical_name));
        if col.is_none() {
            // Not an event log this reader understands (a programming log, a vendor log).
            return Ok(false);
        }
        col
    };
    let Some(time_col) = time_col else {
        notes.add(format!("{what}: no clock column; not read"));
        return Ok(false);
    };
    let entries = meta
        .get(1)
        .and_then(|v| v.as_ref().ok())
        .and_then(Data::as_u64)
        .and_then(|n| u32::try_from(n).ok());
    if entries == Some(0) {
        return Ok(true);
    }
    let selective = client
        .negotiated()
        .is_some_and(|n| n.grants(Conformance::SELECTIVE_ACCESS));
    let access: Option<SelectiveAccess> = match entries {
        Some(n) if selective && n > opts.max_events => {
            Some(EntryDescriptor::entries(n - opts.max_events + 1, opts.max_events).into())
        }
        _ => None,
    };
    let buffer = match client.get(log.attribute(2), access).await {
        Ok(b) => b,
        Err(Error::Meter(MeterError::DataAccess { result, .. })) => {
            add_unreadable(reading, "events", format!("{what}: {result}"));
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let Some(rows) = buffer.as_elements() else {
        notes.add(format!("{what}: the buffer is a {}", buffer.type_name()));
        return Ok(false);
    };
    let mut unknown: Vec<u64> = Vec::new();
    for row in rows {
        let Some(f) = row.as_elements().filter(|f| f.len() == captures.len()) else {
            continue;
        };
        let Ok((_, _, time)) = f[time_col]
            .to_date_time()
            .and_then(|dt| opts.time.to_utc(&dt, clock.zone))
        else {
            continue;
        };
        if power_failures {
            let detail = value_col
                .and_then(|c| f[c].as_u64())
                .map(|s| format!("lasted {s} s (as the meter counts it)"));
            reading.events.push(Event {
                time,
                kind: EventKind::PowerFailure,
                detail,
            });
            continue;
        }
        let Some(code) = value_col.and_then(|c| f[c].as_u64()) else {
            continue;
        };
        // The table given in the options first, then the meter's own (a meter the reader
        // recognises), then the standard codes.
        let mapped = match opts.event_codes.get(&code) {
            Some((kind, detail)) => Some((*kind, detail.clone())),
            None => dialect
                .and_then(|d| d.event(code))
                .or_else(|| names::event(code).map(|(k, d)| (k, d.map(str::to_string)))),
        };
        match mapped {
            Some((kind, detail)) => reading.events.push(Event { time, kind, detail }),
            None => {
                if !unknown.contains(&code) {
                    unknown.push(code);
                }
            }
        }
    }
    if !unknown.is_empty() {
        unknown.sort_unstable();
        let codes: Vec<String> = unknown.iter().map(u64::to_string).collect();
        notes.add(format!(
            "{what}: event codes without a mapping: {}",
            codes.join(", ")
        ));
    }
    Ok(true)
}

/// Reads the meter's invocation counter as the public client (client 16, no security): the
/// Data object `obis` attribute 2 (usually `0.0.43.1.e.255`). The next APDU must use a higher
/// value.
pub async fn read_invocation_counter<S, F, Fut>(
    mut open: F,
    session: &SessionOptions,
    obis: ObisCode,
) -> Result<u32>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<S>>,
{
    let mut public = session.clone();
    public.link.client_sap = 0x10;
    public.authentication = Authentication::None;
    public.security = None;
    let stream = open().await?;
    let mut client = DlmsClient::connect(stream, public).await?;
    let result = async {
        client.associate().await?;
        client.get(AttributeDescriptor::new(1, obis, 2), None).await
    }
    .await;
    let _ = client.finish().await;
    let d = result?;
    d.as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            Error::protocol(
                format!("reading the invocation counter {}", Dotted(obis)),
                format!("a {}, expected an unsigned number", d.type_name()),
            )
        })
}

/// Opens a connection, reads the meter, and on a dropped or broken link opens a new one, up to
/// `attempts` times. The invocation counter carries over between attempts. Returns the reading
/// and what crossed the link over all attempts.
pub async fn read_with<S, F, Fut>(
    mut open: F,
    session: &SessionOptions,
    opts: &ReadOptions,
    attempts: u32,
) -> Result<(Reading, LinkStats)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<S>>,
{
    let mut session = session.clone();
    let mut total = LinkStats::default();
    let mut last = None;
    for attempt in 0..attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let stream = match open().await {
            Ok(s) => s,
            Err(e) if e.is_transient() => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut client = match DlmsClient::connect(stream, session.clone()).await {
            Ok(c) => c,
            Err(e) if e.is_transient() => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let r = read_meter(&mut client, opts).await;
        total.add(&client.stats());
        if let (Some(s), Some(next)) = (session.security.as_mut(), client.next_invocation_counter())
        {
            s.invocation_counter = next;
        }
        match r {
            Ok(reading) => return Ok((reading, total)),
            Err(e) if e.is_transient() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Usage("no attempt made".into())))
}
