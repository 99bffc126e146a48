//! The Elster load-profile record stream (id 550; protocol guide §6): marker records (new day,
//! power down/up, clock change ...) and data records of 3-byte BCD demand values. Decoding
//! rebuilds interval times the way the meter lays them down; encoding serves the simulator.

use chrono::{Duration, NaiveDateTime, Timelike};
use metermaster_model::{Channel, Interval, IntervalStatus, LoadProfile, ObisCode, Unit};

use crate::codec::{bcd_byte, local_epoch, local_to_utc, to_bcd_byte, to_local_epoch};
use crate::ids::MeterModel;

/// Integration period codes of the marker's period byte (§6.6).
pub const PERIOD_MINUTES: [u32; 11] = [1, 2, 3, 4, 5, 6, 10, 15, 20, 30, 60];

pub fn period_code(minutes: u32) -> Option<u8> {
    PERIOD_MINUTES
        .iter()
        .position(|&m| m == minutes)
        .map(|p| p as u8)
}

/// One record of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `E4`: a new day starts at `time` with this channel mask and period byte.
    NewDay {
        time: NaiveDateTime,
        mask: u16,
        period: u8,
    },
    /// `E8`: the configuration changed; same layout as a new day.
    ConfigChange {
        time: NaiveDateTime,
        mask: u16,
        period: u8,
    },
    /// `E5`, `E6`, `E9`, `EA`, `EB`, `ED` and undocumented `Ex` markers with a time.
    Marker { kind: Marker, time: NaiveDateTime },
    /// `E2`: external data entry (A1700): raw values of `intervals` intervals.
    External { values: Vec<u64> },
    /// A data record: status byte, optional extended status (`E3`), values in mW/mvar/mVA.
    Data {
        status: u8,
        ext_status: Option<u8>,
        values: Vec<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    PowerUp,
    PowerDown,
    ForcedEnd,
    TimeChange,
    Cleared,
    DstChange,
    Unknown(u8),
}

impl Marker {
    fn byte(self) -> u8 {
        match self {
            Marker::PowerUp => 0xE5,
            Marker::PowerDown => 0xE6,
            Marker::ForcedEnd => 0xE9,
            Marker::TimeChange => 0xEA,
            Marker::Cleared => 0xEB,
            Marker::DstChange => 0xED,
            Marker::Unknown(b) => b,
        }
    }
}

/// Why a profile stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("load profile byte {offset}: {what}")]
    At { offset: usize, what: String },
    #[error("load profile record {index}: {what}")]
    Record { index: usize, what: String },
}

fn at(offset: usize, what: impl Into<String>) -> ProfileError {
    ProfileError::At {
        offset,
        what: what.into(),
    }
}

/// Number of channels a mask selects.
pub fn channel_count(model: MeterModel, mask: u16) -> usize {
    channel_bits(model, mask).len()
}

/// The channel numbers (§6.5 tables) a mask selects, in stream order.
pub fn channel_bits(model: MeterModel, mask: u16) -> Vec<u8> {
    match model {
        MeterModel::A1140 => (0u8..16)
            .filter(|&b| mask & (1 << b) != 0 && !(8..14).contains(&b))
            .collect(),
        MeterModel::A1700 => {
            let lo = mask & 0x7F;
            let hi = (mask >> 8) & 0x7F;
            (0u8..7)
                .filter(|&b| lo & (1 << b) != 0)
                .chain((0u8..7).filter(|&b| hi & (1 << b) != 0).map(|b| b + 7))
                .collect()
        }
    }
}

/// The channel a bit number stands for.
pub fn channel_info(model: MeterModel, bit: u8) -> Channel {
    let (c, name, unit) = match (model, bit) {
        (_, 0) => (1, "active import", Unit::Watt),
        (_, 1) => (2, "active export", Unit::Watt),
        (_, 2) => (5, "reactive Q1", Unit::Var),
        (_, 3) => (6, "reactive Q2", Unit::Var),
        (_, 4) => (7, "reactive Q3", Unit::Var),
        (_, 5) => (8, "reactive Q4", Unit::Var),
        (_, 6) => (9, "apparent import", Unit::VoltAmpere),
        (MeterModel::A1140, 7) => (10, "apparent export", Unit::VoltAmpere),
        (MeterModel::A1140, 14) => (128, "customer-defined register 1", Unit::Count),
        (MeterModel::A1140, 15) => (129, "customer-defined register 2", Unit::Count),
        (MeterModel::A1700, 7..=9) => (128 + bit - 7, "customer-defined register", Unit::Count),
        _ => (140 + bit, "external input", Unit::Count),
    };
    Channel {
        obis: ObisCode::elec(c, 5, 0),
        name: name.to_string(),
        unit,
        scale: -3,
    }
}

/// Decodes one 3-byte channel value: BCD mantissa of five digits and a decimal exponent; falls
/// back to the binary reading when a nibble is not a decimal digit (§6.8).
pub fn decode_value(b: [u8; 3]) -> u64 {
    const POW10: [u64; 10] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
    ];
    match (bcd_byte(b[0]), bcd_byte(b[1]), bcd_byte(b[2])) {
        (Some(d12), Some(d34), Some(d5e)) => {
            let mantissa = u64::from(d12) * 1000 + u64::from(d34) * 10 + u64::from(d5e / 10);
            mantissa * POW10[usize::from(d5e % 10)]
        }
        _ => {
            let v = u32::from_be_bytes([0, b[0], b[1], b[2]]);
            u64::from(v / 10) * POW10[(v % 10) as usize]
        }
    }
}

/// Encodes a demand value in mW as five digits and an exponent: watt resolution (exponent 3)
/// where the value allows it, as the meter lays values down; finer or coarser where it must.
/// Exact when the value has at most five significant digits, else rounded down to them.
pub fn encode_value(v: u64) -> [u8; 3] {
    let mut tz = 0u32;
    let mut t = v;
    while t != 0 && t % 10 == 0 && tz < 3 {
        t /= 10;
        tz += 1;
    }
    let mut e = tz;
    while v / 10u64.pow(e) > 99_999 && e < 9 {
        e += 1;
    }
    let m = (v / 10u64.pow(e)).min(99_999) as u32;
    let digits = m * 10 + e;
    [
        to_bcd_byte((digits / 10_000) as u8),
        to_bcd_byte(((digits / 100) % 100) as u8),
        to_bcd_byte((digits % 100) as u8),
    ]
}

fn need(bytes: &[u8], pos: usize, n: usize, what: &str) -> Result<(), ProfileError> {
    if bytes.len() < pos + n {
        Err(at(
            pos,
            format!("{what} needs {n} bytes, only {} left", bytes.len() - pos),
        ))
    } else {
        Ok(())
    }
}

fn time_at(bytes: &[u8], pos: usize) -> Result<NaiveDateTime, ProfileError> {
    local_epoch(&bytes[pos..pos + 4]).ok_or_else(|| at(pos, "zero or invalid timestamp"))
}

/// A record as it lies in the stream, borrowing its values (no allocation while decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRef<'a> {
    NewDay {
        time: NaiveDateTime,
        mask: u16,
        period: u8,
        config_change: bool,
    },
    Marker {
        kind: Marker,
        time: NaiveDateTime,
    },
    /// Raw 3-byte values of an external data entry.
    External {
        raw: &'a [u8],
    },
    /// Status, extended status and the raw 3-byte channel values.
    Data {
        status: u8,
        ext_status: Option<u8>,
        raw: &'a [u8],
    },
}

/// Walks the record stream up to the `FF` end marker (or the end of the bytes), handing each
/// record to `f`. Every length is checked before it is used; errors name the byte.
pub fn walk_records<'a>(
    bytes: &'a [u8],
    model: MeterModel,
    mut f: impl FnMut(usize, RecordRef<'a>) -> Result<(), ProfileError>,
) -> Result<(), ProfileError> {
    let mut pos = 0;
    let mut channels: Option<usize> = None;
    while pos < bytes.len() {
        let b = bytes[pos];
        match b {
            0xFF => break,
            0xE4 | 0xE8 => {
                need(bytes, pos, 8, "new-day marker")?;
                let time = time_at(bytes, pos + 1)?;
                let mask = u16::from_be_bytes([bytes[pos + 5], bytes[pos + 6]]);
                let period = bytes[pos + 7];
                if usize::from(period & 0x0F) >= PERIOD_MINUTES.len() {
                    return Err(at(pos + 7, format!("unknown period code {period:#04x}")));
                }
                let n = channel_count(model, mask);
                if n == 0 {
                    return Err(at(
                        pos + 5,
                        format!("channel mask {mask:#06x} selects no channel"),
                    ));
                }
                channels = Some(n);
                f(
                    pos,
                    RecordRef::NewDay {
                        time,
                        mask,
                        period,
                        config_change: b == 0xE8,
                    },
                )?;
                pos += 8;
            }
            0xE2 => {
                let c = channels
                    .ok_or_else(|| at(pos, "external data before the first new-day marker"))?;
                need(bytes, pos, 3, "external data entry")?;
                let len = usize::from(u16::from_le_bytes([bytes[pos + 1], bytes[pos + 2]]));
                if len < 4 || (len - 4) % (3 * c) != 0 {
                    return Err(at(
                        pos,
                        format!("external data length {len} does not fit {c} channels"),
                    ));
                }
                need(bytes, pos, len, "external data entry")?;
                if bytes[pos + len - 1] != 0xE2 {
                    return Err(at(pos + len - 1, "external data entry not closed by E2"));
                }
                f(
                    pos,
                    RecordRef::External {
                        raw: &bytes[pos + 3..pos + len - 1],
                    },
                )?;
                pos += len;
            }
            0xE3 => {
                let c = channels
                    .ok_or_else(|| at(pos, "data record before the first new-day marker"))?;
                need(bytes, pos, 3 + 3 * c, "extended data record")?;
                f(
                    pos,
                    RecordRef::Data {
                        status: bytes[pos + 2],
                        ext_status: Some(bytes[pos + 1]),
                        raw: &bytes[pos + 3..pos + 3 + 3 * c],
                    },
                )?;
                pos += 3 + 3 * c;
            }
            0xE0..=0xFE => {
                need(bytes, pos, 5, "marker")?;
                let time = time_at(bytes, pos + 1)?;
                let kind = match b {
                    0xE5 => Marker::PowerUp,
                    0xE6 => Marker::PowerDown,
                    0xE9 => Marker::ForcedEnd,
                    0xEA => Marker::TimeChange,
                    0xEB => Marker::Cleared,
                    0xED => Marker::DstChange,
                    other => Marker::Unknown(other),
                };
                f(pos, RecordRef::Marker { kind, time })?;
                pos += 5;
            }
            0x80..=0xDF => return Err(at(pos, format!("unknown record type {b:#04x}"))),
            status => {
                let c = channels
                    .ok_or_else(|| at(pos, "data record before the first new-day marker"))?;
                need(bytes, pos, 1 + 3 * c, "data record")?;
                f(
                    pos,
                    RecordRef::Data {
                        status,
                        ext_status: None,
                        raw: &bytes[pos + 1..pos + 1 + 3 * c],
                    },
                )?;
                pos += 1 + 3 * c;
            }
        }
    }
    Ok(())
}

fn raw_values(raw: &[u8]) -> impl Iterator<Item = u64> + '_ {
    raw.chunks_exact(3)
        .map(|v| decode_value([v[0], v[1], v[2]]))
}

/// Decodes the record stream into owned records.
pub fn decode_records(bytes: &[u8], model: MeterModel) -> Result<Vec<Record>, ProfileError> {
    let mut out = Vec::new();
    walk_records(bytes, model, |_, r| {
        out.push(match r {
            RecordRef::NewDay {
                time,
                mask,
                period,
                config_change: false,
            } => Record::NewDay { time, mask, period },
            RecordRef::NewDay {
                time, mask, period, ..
            } => Record::ConfigChange { time, mask, period },
            RecordRef::Marker { kind, time } => Record::Marker { kind, time },
            RecordRef::External { raw } => Record::External {
                values: raw_values(raw).collect(),
            },
            RecordRef::Data {
                status,
                ext_status,
                raw,
            } => Record::Data {
                status,
                ext_status,
                values: raw_values(raw).collect(),
            },
        });
        Ok(())
    })?;
    Ok(out)
}

/// Encodes records, ends the stream with `FF` and pads it with `FF` to a multiple of `pad`.
pub fn encode_records(records: &[Record], pad: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        match r {
            Record::NewDay { time, mask, period } | Record::ConfigChange { time, mask, period } => {
                out.push(if matches!(r, Record::NewDay { .. }) {
                    0xE4
                } else {
                    0xE8
                });
                out.extend_from_slice(&to_local_epoch(Some(*time)));
                out.extend_from_slice(&mask.to_be_bytes());
                out.push(*period);
            }
            Record::Marker { kind, time } => {
                out.push(kind.byte());
                out.extend_from_slice(&to_local_epoch(Some(*time)));
            }
            Record::External { values } => {
                let len = 4 + 3 * values.len();
                out.push(0xE2);
                out.extend_from_slice(&(len as u16).to_le_bytes());
                for v in values {
                    out.extend_from_slice(&encode_value(*v));
                }
                out.push(0xE2);
            }
            Record::Data {
                status,
                ext_status,
                values,
            } => {
                if let Some(x) = ext_status {
                    out.extend_from_slice(&[0xE3, *x, *status]);
                } else {
                    out.push(*status & 0x7F);
                }
                for v in values {
                    out.extend_from_slice(&encode_value(*v));
                }
            }
        }
    }
    out.push(0xFF);
    if pad > 0 {
        while out.len() % pad != 0 {
            out.push(0xFF);
        }
    }
    out
}

fn status_flags(status: u8, ext: Option<u8>) -> IntervalStatus {
    let mut s = IntervalStatus::EMPTY;
    let map = [
        (0x01, IntervalStatus::TRANSIENT_RESET),
        (0x02, IntervalStatus::CLOCK_ADJUSTED),
        (0x04, IntervalStatus::CONFIG_CHANGE),
        (0x08, IntervalStatus::BATTERY_FAIL),
        (0x10, IntervalStatus::CT_CHANGE),
        (0x20, IntervalStatus::REVERSE_RUN),
        (0x40, IntervalStatus::PHASE_FAIL),
    ];
    for (bit, flag) in map {
        if status & bit != 0 {
            s |= flag;
        }
    }
    if ext.is_some_and(|x| x & 0x03 != 0) {
        s |= IntervalStatus::COVER_OPENED;
    }
    s
}

/// The interval status byte for a set of flags (the inverse of the decoder's mapping).
pub fn status_byte(flags: IntervalStatus) -> u8 {
    let map = [
        (0x01, IntervalStatus::TRANSIENT_RESET),
        (0x02, IntervalStatus::CLOCK_ADJUSTED),
        (0x04, IntervalStatus::CONFIG_CHANGE),
        (0x08, IntervalStatus::BATTERY_FAIL),
        (0x10, IntervalStatus::CT_CHANGE),
        (0x20, IntervalStatus::REVERSE_RUN),
        (0x40, IntervalStatus::PHASE_FAIL),
    ];
    map.iter()
        .filter(|(_, f)| flags.contains(*f))
        .fold(0, |a, (b, _)| a | b)
}

fn floor_to(t: NaiveDateTime, minutes: u32) -> NaiveDateTime {
    let secs = i64::from(t.num_seconds_from_midnight());
    let p = i64::from(minutes) * 60;
    t - Duration::seconds(secs % p) - Duration::nanoseconds(i64::from(t.nanosecond()))
}

/// Builds timed intervals from records (§6.9): each data record advances one period from the
/// day's start; after a power-up, clock change, clear or forced end the next record belongs to
/// the interval holding that marker's time. Records that land on the same interval (after a
/// clock change) are summed. Times are converted to UTC with the meter's offset.
struct ProfileBuilder {
    model: MeterModel,
    utc_offset_s: i32,
    bits: Option<Vec<u8>>,
    minutes: u32,
    /// Start of the next interval, local-epoch seconds.
    next: Option<i64>,
    last_start: Option<i64>,
    intervals: Vec<Interval>,
    markers: Vec<(NaiveDateTime, IntervalStatus)>,
}

impl ProfileBuilder {
    fn new(model: MeterModel, utc_offset_s: i32, capacity: usize) -> Self {
        ProfileBuilder {
            model,
            utc_offset_s,
            bits: None,
            minutes: 0,
            next: None,
            last_start: None,
            intervals: Vec::with_capacity(capacity),
            markers: Vec::new(),
        }
    }

    fn new_day(
        &mut self,
        index: usize,
        time: NaiveDateTime,
        mask: u16,
        period: u8,
        config_change: bool,
    ) -> Result<(), ProfileError> {
        let b = channel_bits(self.model, mask);
        if let Some(prev) = &self.bits {
            if *prev != b {
                // The profile model keeps one channel set: report a change rather than mix
                // values of different quantities.
                return Err(at(
                    index,
                    format!("channel set changes inside the selection (mask {mask:#06x})"),
                ));
            }
        } else {
            self.bits = Some(b);
        }
        self.minutes = PERIOD_MINUTES[usize::from(period & 0x0F)];
        if config_change {
            self.markers.push((time, IntervalStatus::CONFIG_CHANGE));
            self.next = Some(floor_to(time, self.minutes).and_utc().timestamp());
        } else {
            self.next = Some(time.and_utc().timestamp());
        }
        Ok(())
    }

    fn marker(&mut self, kind: Marker, time: NaiveDateTime) {
        let flag = match kind {
            Marker::PowerUp => IntervalStatus::POWER_UP,
            Marker::PowerDown => IntervalStatus::POWER_DOWN,
            Marker::ForcedEnd => IntervalStatus::FORCED_END,
            Marker::TimeChange | Marker::DstChange => IntervalStatus::CLOCK_ADJUSTED,
            Marker::Cleared => IntervalStatus::PROFILE_CLEARED,
            Marker::Unknown(_) => IntervalStatus::EMPTY,
        };
        if !flag.is_empty() {
            self.markers.push((time, flag));
        }
        if self.minutes > 0
            && !matches!(
                kind,
                Marker::PowerDown | Marker::DstChange | Marker::Unknown(_)
            )
        {
            self.next = Some(floor_to(time, self.minutes).and_utc().timestamp());
        }
    }

    fn data(
        &mut self,
        index: usize,
        status: u8,
        ext: Option<u8>,
        values: impl Iterator<Item = u64>,
    ) -> Result<(), ProfileError> {
        let start = self
            .next
            .ok_or_else(|| at(index, "data record before the first new-day marker"))?;
        let flags = status_flags(status, ext);
        let seconds = self.minutes * 60;
        if self.last_start == Some(start) {
            if let Some(last) = self.intervals.last_mut() {
                for (a, b) in last.values.iter_mut().zip(values) {
                    *a += b as i64;
                }
                last.status |= flags | IntervalStatus::CLOCK_ADJUSTED;
            }
        } else {
            let utc = chrono::DateTime::from_timestamp(start - i64::from(self.utc_offset_s), 0)
                .ok_or_else(|| at(index, "interval time out of range"))?;
            let mut v = Vec::with_capacity(self.bits.as_ref().map_or(4, Vec::len));
            v.extend(values.map(|x| x as i64));
            self.intervals.push(Interval {
                start: utc,
                seconds,
                status: flags,
                values: v,
            });
            self.last_start = Some(start);
        }
        self.next = Some(start + i64::from(seconds));
        Ok(())
    }

    fn finish(mut self) -> LoadProfile {
        let minutes = self.minutes.max(1);
        for (t, flag) in std::mem::take(&mut self.markers) {
            let start = local_to_utc(floor_to(t, minutes), self.utc_offset_s);
            if let Ok(k) = self.intervals.binary_search_by(|iv| iv.start.cmp(&start)) {
                self.intervals[k].status |= flag;
            }
        }
        let channels = self
            .bits
            .unwrap_or_default()
            .iter()
            .map(|&b| channel_info(self.model, b))
            .collect();
        LoadProfile {
            interval_s: self.minutes * 60,
            channels,
            intervals: self.intervals,
        }
    }
}

/// Rebuilds a load profile from decoded records (the rules are those of `ProfileBuilder`).
pub fn to_load_profile(
    records: &[Record],
    model: MeterModel,
    utc_offset_s: i32,
) -> Result<LoadProfile, ProfileError> {
    let mut b = ProfileBuilder::new(model, utc_offset_s, records.len());
    for (i, r) in records.iter().enumerate() {
        let in_record = |e: ProfileError| match e {
            ProfileError::At { what, .. } => ProfileError::Record { index: i, what },
            other => other,
        };
        match r {
            Record::NewDay { time, mask, period } => b
                .new_day(i, *time, *mask, *period, false)
                .map_err(in_record)?,
            Record::ConfigChange { time, mask, period } => b
                .new_day(i, *time, *mask, *period, true)
                .map_err(in_record)?,
            Record::Marker { kind, time } => b.marker(*kind, *time),
            Record::External { .. } => {}
            Record::Data {
                status,
                ext_status,
                values,
            } => b
                .data(i, *status, *ext_status, values.iter().copied())
                .map_err(in_record)?,
        }
    }
    Ok(b.finish())
}

/// Decodes a load-profile stream straight into a load profile, without building records
/// first; errors give the byte offset.
pub fn decode_load_profile(
    bytes: &[u8],
    model: MeterModel,
    utc_offset_s: i32,
) -> Result<LoadProfile, ProfileError> {
    let mut b = ProfileBuilder::new(model, utc_offset_s, bytes.len() / 8);
    walk_records(bytes, model, |pos, r| {
        match r {
            RecordRef::NewDay {
                time,
                mask,
                period,
                config_change,
            } => b.new_day(pos, time, mask, period, config_change)?,
            RecordRef::Marker { kind, time } => b.marker(kind, time),
            RecordRef::External { .. } => {}
            RecordRef::Data {
                status,
                ext_status,
                raw,
            } => b.data(pos, status, ext_status, raw_values(raw))?,
        }
        Ok(())
    })?;
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::from_hex;
    use proptest::prelude::*;

    #[test]
    fn guide_constructed_profile() {
        // Guide §8.3 line 20: one day, 30 min, import + export, four intervals.
        let bytes = from_hex(b"E48060E66500030900012343000000000250030000000000875300000000123453000000FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF").unwrap();
        let recs = decode_records(&bytes, MeterModel::A1140).unwrap();
        assert_eq!(recs.len(), 5);
        let Record::NewDay { time, mask, period } = &recs[0] else {
            panic!("first record {:?}", recs[0])
        };
        assert_eq!(time.to_string(), "2024-03-05 00:00:00");
        assert_eq!((*mask, *period), (0x0003, 9));
        let lp = to_load_profile(&recs, MeterModel::A1140, 0).unwrap();
        assert_eq!(lp.interval_s, 1800);
        assert_eq!(lp.channels.len(), 2);
        let imports: Vec<i64> = lp.intervals.iter().map(|i| i.values[0]).collect();
        assert_eq!(imports, vec![1_234_000, 2_500_000, 875_000, 12_345_000]);
        assert_eq!(
            lp.intervals[1].start.to_rfc3339(),
            "2024-03-05T00:30:00+00:00"
        );
        // 1.234 kW over 30 minutes is 0.617 kWh.
        let e = lp.interval_energy(&lp.intervals[0], 0).unwrap();
        assert_eq!(e.decimal_string(), "617.000");
        // Re-encoding gives the same bytes.
        assert_eq!(encode_records(&recs, 64), bytes);
    }

    #[test]
    fn values() {
        assert_eq!(decode_value([0x01, 0x23, 0x43]), 1_234_000);
        assert_eq!(decode_value([0, 0, 0]), 0);
        assert_eq!(encode_value(1_234_000), [0x01, 0x23, 0x43]);
        assert_eq!(encode_value(0), [0, 0, 0]);
        assert_eq!(decode_value(encode_value(99_999)), 99_999);
        assert_eq!(decode_value(encode_value(123_456)), 123_450);
        // Binary fallback when a nibble is not decimal: 0x00 0x0A 0x0B = 2571 → 257 × 10^1.
        assert_eq!(decode_value([0x00, 0x0A, 0x0B]), 2570);
    }

    #[test]
    fn power_cut_markers_place_intervals() {
        let day =
            NaiveDateTime::parse_from_str("2024-03-05 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let recs = vec![
            Record::NewDay {
                time: day,
                mask: 1,
                period: 7,
            },
            Record::Data {
                status: 0,
                ext_status: None,
                values: vec![1000],
            },
            Record::Marker {
                kind: Marker::PowerDown,
                time: day + Duration::minutes(20),
            },
            Record::Data {
                status: 0,
                ext_status: None,
                values: vec![500],
            },
            Record::Marker {
                kind: Marker::PowerUp,
                time: day + Duration::minutes(70),
            },
            Record::Data {
                status: 0,
                ext_status: None,
                values: vec![200],
            },
            Record::Data {
                status: 0x20,
                ext_status: None,
                values: vec![300],
            },
        ];
        let bytes = encode_records(&recs, 64);
        let back = decode_records(&bytes, MeterModel::A1140).unwrap();
        assert_eq!(back, recs);
        let lp = to_load_profile(&back, MeterModel::A1140, 3600).unwrap();
        let starts: Vec<String> = lp
            .intervals
            .iter()
            .map(|i| i.start.format("%H:%M").to_string())
            .collect();
        // Local 00:00 at UTC+1 is 23:00 UTC the day before.
        assert_eq!(starts, ["23:00", "23:15", "00:00", "00:15"]);
        assert!(lp.intervals[1].status.contains(IntervalStatus::POWER_DOWN));
        assert!(lp.intervals[2].status.contains(IntervalStatus::POWER_UP));
        assert!(lp.intervals[3].status.contains(IntervalStatus::REVERSE_RUN));
    }

    #[test]
    fn errors_name_the_byte() {
        let err = decode_records(&[0x00, 0x01, 0x02, 0x03], MeterModel::A1140).unwrap_err();
        assert_eq!(
            err.to_string(),
            "load profile byte 0: data record before the first new-day marker"
        );
        let err = decode_records(
            &from_hex(b"E48060E665000309000123").unwrap(),
            MeterModel::A1140,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "load profile byte 8: data record needs 7 bytes, only 3 left"
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            for m in [MeterModel::A1140, MeterModel::A1700] {
                if let Ok(recs) = decode_records(&b, m) {
                    let _ = to_load_profile(&recs, m, 0);
                }
            }
        }

        #[test]
        fn value_round_trip(m in 0u64..100_000, e in 0u32..7) {
            let v = m * 10u64.pow(e);
            prop_assert_eq!(decode_value(encode_value(v)), v);
        }
    }
}
