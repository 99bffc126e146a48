//! Interval CSV files in the layouts users actually have (retailer exports, portal downloads,
//! simulation output), read through a [`CsvMapping`] that says where the meter, the time and the
//! values are.
//!
//! Two layouts:
//!
//! * **long**: one row per interval (or per time stamp), one or more value columns
//!   (`[[values]]`), each becoming one channel;
//! * **wide**: one row per day, the intervals of the day side by side (`[wide]`).
//!
//! A mapping is usually written as TOML and loaded with [`CsvMapping::from_toml`]:
//!
//! ```toml
//! delimiter = ","
//! time_zone = "Europe/London"
//! stamp = "end"
//! time_format = "%d/%m/%Y %H:%M"
//! meter = { column = "MPAN" }          # or meter = { fixed = "10000001" }
//! time = { column = "Timestamp" }      # or time = { date = "Date", time = "Time" }
//! [[values]]
//! column = "kWh"                       # a header name, or a 1-based number: column = 3
//! channel = "1-0:1.8.0"
//! unit = "kWh"
//! ```
//!
//! The keys, with their defaults:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `delimiter` | `","`, `";"` or `"\t"` | `","` |
//! | `decimal_comma` | `1,25` means 1.25 | false |
//! | `skip_lines` | lines before the header | 0 |
//! | `header` | the first line names the columns | true |
//! | `meter` | `{ column = … }` or `{ fixed = "…" }` | required |
//! | `time` | long layout: `{ column = … }`, or `{ date = …, time = … }` (the two cells joined with a space, read as one stamp) | required for the long layout |
//! | `time_format` | chrono strftime format | RFC 3339 / ISO 8601 |
//! | `year` | the year of stamps without one | none |
//! | `time_zone` | IANA name or fixed offset | `"UTC"` |
//! | `stamp` | `"start"` or `"end"` of the interval | `"start"` |
//! | `interval_minutes` | interval length | derived from the stamps |
//! | `end_of_day_24` | accept `24:00` | true |
//! | `[[values]]` | `column`, `channel` (OBIS), `unit`, `multiplier` (optional) | |
//! | `[wide]` | `first_value_column`, `count` (optional), `channel`, `unit`, `date_column`, `date_format` (default `"%Y-%m-%d"`) | |
//! | `[quality]` | `column`, `map` (optional) | |
//!
//! A column is a header name (`column = "kWh"`) or a number counting from 1 (`column = 3`).
//! Unknown keys are refused.
//!
//! # Times
//!
//! `time_format` is a chrono strftime format (`%d/%m/%Y %H:%M`); a space in it matches any run of
//! spaces. Without one, stamps are ISO 8601: `2024-03-05T00:15:00Z`, `2024-03-05 00:15:00`,
//! `2024-03-05T00:15`, `2024-03-05T00:15:00+01:00`. A stamp that carries an offset (`Z`,
//! `+01:00`, or `%z` in the format) is absolute; all others are local times in `time_zone`, an
//! IANA name (`Europe/London`) or a fixed offset from -14:00 to +14:00 (`+10:00`, `+1000`,
//! `UTC-07:00`); see [`Zone`].
//!
//! * A format without a year (`%m/%d %H:%M:%S`, as in `01/01 01:00:00`) takes the year from
//!   `year`; when a meter's dates go back in the calendar (`12/31` then `01/01`), its year moves
//!   on by one.
//! * `24:00` (and `24:00:00`) is midnight at the end of the day, unless `end_of_day_24 = false`.
//! * A local time that occurs twice (clocks going back) is the earlier occurrence, unless that
//!   would not come after the meter's previous row: then it is the later one. So the repeated
//!   hour written out twice in order, `01:00, 01:30, 01:00, 01:30` (or `01:00, 01:00` hourly),
//!   lands on both occurrences. Rows are expected in time order for this.
//! * A local time that does not exist (clocks going forward) is an error naming the line.
//!
//! `stamp = "end"` says a stamp marks the end of its interval. The interval length is
//! `interval_minutes`, or else the (UTC) difference of the first two distinct stamps of each
//! series (meter and value column); it must divide a day.
//!
//! # Wide files and clock changes
//!
//! A wide row holds one day; its `count` value columns (by default all columns from
//! `first_value_column` to the end of the header) are intervals of `1440 / count` minutes (or
//! `interval_minutes`), column *k* starting at **wall-clock** time *k* × length after local
//! midnight, converted through `time_zone` like any stamp. That is how retailer exports with 48
//! columns `00:00 - 00:30 … 23:30 - 00:00` are written: on a day whose clocks go forward, the
//! columns of the hour that does not exist are padded, and on a day whose clocks go back the
//! repeated hour has room only once. So:
//!
//! * a column whose start does not exist in the zone (the skipped hour) is dropped when it is
//!   empty or zero, and is an error naming the line and column when it holds anything else (then
//!   the file is probably in standard time all year: use a fixed `time_zone` such as `+10:00`);
//! * a column whose start occurs twice is the first occurrence; the second occurrence of the
//!   repeated hour has no value (a gap of that hour).
//!
//! Files with extra columns for the long day (50 half hours, elapsed time from midnight) are
//! not supported.
//!
//! # Values and units
//!
//! Values are exact decimals (a `.`, or a `,` with `decimal_comma`; an exponent `1.5E-05` is
//! accepted), times an exact `multiplier` if given, in `unit`: anything
//! [`Unit::parse_prefixed`] or [`Unit::from_symbol`] knows (`kWh`, `Wh`, `MWh`, `kvarh`, `W`,
//! `V` …), or joules (`J`, `kJ`, `MJ`, `GJ`). The model has no joule unit, so joules are turned
//! into Wh: value / 3600, **rounded to 1e-6 Wh** (scale -6), half away from zero. This is the one
//! conversion that is not exact. A value with more than 18 significant digits is refused.
//!
//! An empty value cell gives no interval (the interval is absent, not zero). Rows whose cells
//! are all empty are skipped.
//!
//! # Quality
//!
//! With a `[quality]` column, each row's quality (for a wide row: the whole day) comes from that
//! cell: through `map` (cell text → `measured`, `estimated`, `edited`, `invalid`, `missing`) when
//! it is given, every cell then having to be in the map; otherwise the cell must be a quality word,
//! a NEM12 method (`A`, `E`, `S`, `F`, `N`, optionally followed by digits: `E52`) or `Yes`/`No`
//! (estimated or not). The status flag follows the quality as in the other importers. Without a
//! quality column, every value is measured.
//!
//! # Errors
//!
//! Mapping errors (a column not in the header, a bad OBIS code, an unknown unit or time zone …)
//! are reported before any row is read and name the key, `[[values]]` entries counting from 1:
//! `values[1].column: no column "kWh" in the header (columns: Date, Time, Import)`. Errors in
//! the data name the line: `line 17: column "kWh" value "1,2x" is not a decimal number`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::format::{Fixed, Item, Numeric, Parsed, StrftimeItems};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use metermaster_model::{IntervalRow, LocalTime, ObisCode, Quality, Unit, Zone};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FileError;

// ---------------------------------------------------------------------------------------------
// The mapping

/// Where everything is in an interval CSV file; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvMapping {
    /// The field separator: `,` (default), `;` or a tab.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// `1,25` means 1.25 (then `.` is refused in numbers).
    #[serde(default)]
    pub decimal_comma: bool,
    /// Lines before the header (or before the data when there is no header).
    #[serde(default)]
    pub skip_lines: usize,
    /// Whether the first line (after `skip_lines`) names the columns.
    #[serde(default = "yes")]
    pub header: bool,
    /// A chrono strftime format for the time stamps; `None` = RFC 3339 / ISO 8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_format: Option<String>,
    /// The year of stamps whose format carries none (`01/01 01:00:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// An IANA time zone name or a fixed offset (`+10:00`) for local stamps.
    #[serde(default = "default_zone")]
    pub time_zone: String,
    /// Whether a stamp marks the start or the end of its interval.
    #[serde(default)]
    pub stamp: Stamp,
    /// The interval length; `None` = derived from the first two distinct stamps of a series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_minutes: Option<u32>,
    /// Accept `24:00` as the end of the day.
    #[serde(default = "yes")]
    pub end_of_day_24: bool,
    /// The meter's name: a column or a fixed text.
    pub meter: Source,
    /// The time stamp column(s) of the long layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeColumns>,
    /// The value columns of the long layout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ValueColumn>,
    /// The wide layout: one row per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wide: Option<Wide>,
    /// A column with each row's quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityColumn>,
}

fn default_delimiter() -> char {
    ','
}

fn yes() -> bool {
    true
}

fn default_zone() -> String {
    "UTC".to_string()
}

fn default_date_format() -> String {
    "%Y-%m-%d".to_string()
}

impl Default for CsvMapping {
    /// Comma-separated with a header, ISO stamps in UTC marking the start of their interval; the
    /// meter (an empty fixed name), the time and the values still need to be filled in.
    fn default() -> Self {
        CsvMapping {
            delimiter: ',',
            decimal_comma: false,
            skip_lines: 0,
            header: true,
            time_format: None,
            year: None,
            time_zone: default_zone(),
            stamp: Stamp::Start,
            interval_minutes: None,
            end_of_day_24: true,
            meter: Source::Fixed(String::new()),
            time: None,
            values: Vec::new(),
            wide: None,
            quality: None,
        }
    }
}

/// Where a text comes from: `{ column = "MPAN" }` or `{ fixed = "10000001" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Column(ColumnRef),
    Fixed(String),
}

/// A column: by header text (`"kWh"`) or by 1-based number (`3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnRef {
    Name(String),
    /// 1-based.
    Index(usize),
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRef::Name(n) => write!(f, "{n:?}"),
            ColumnRef::Index(i) => write!(f, "{i}"),
        }
    }
}

impl Serialize for ColumnRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ColumnRef::Name(n) => s.serialize_str(n),
            ColumnRef::Index(i) => s.serialize_u64(*i as u64),
        }
    }
}

impl<'de> Deserialize<'de> for ColumnRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ColumnRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a column name (text) or a column number counting from 1")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ColumnRef, E> {
                Ok(ColumnRef::Name(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ColumnRef, E> {
                usize::try_from(v)
                    .ok()
                    .filter(|n| *n >= 1)
                    .map(ColumnRef::Index)
                    .ok_or_else(|| E::custom("column numbers count from 1"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ColumnRef, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom("column numbers count from 1")),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The time stamp of a long row: one column (`{ column = "Timestamp" }`), or a date column and
/// a time column (`{ date = "Date", time = "Time" }`) joined with a space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TimeRepr", into = "TimeRepr")]
pub enum TimeColumns {
    Column(ColumnRef),
    DateAndTime { date: ColumnRef, time: ColumnRef },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    column: Option<ColumnRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date: Option<ColumnRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time: Option<ColumnRef>,
}

impl TryFrom<TimeRepr> for TimeColumns {
    type Error = String;
    fn try_from(r: TimeRepr) -> Result<Self, String> {
        match r {
            TimeRepr {
                column: Some(c),
                date: None,
                time: None,
            } => Ok(TimeColumns::Column(c)),
            TimeRepr {
                column: None,
                date: Some(date),
                time: Some(time),
            } => Ok(TimeColumns::DateAndTime { date, time }),
            _ => Err("time: give either `column`, or both `date` and `time`".to_string()),
        }
    }
}

impl From<TimeColumns> for TimeRepr {
    fn from(t: TimeColumns) -> Self {
        match t {
            TimeColumns::Column(c) => TimeRepr {
                column: Some(c),
                date: None,
                time: None,
            },
            TimeColumns::DateAndTime { date, time } => TimeRepr {
                column: None,
                date: Some(date),
                time: Some(time),
            },
        }
    }
}

/// Whether a stamp marks the start (`"start"`) or the end (`"end"`) of its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stamp {
    #[default]
    Start,
    End,
}

/// One value column of the long layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueColumn {
    pub column: ColumnRef,
    /// An OBIS code, full or reduced (`1-0:1.8.0`, `1.8.0`).
    pub channel: String,
    /// `kWh`, `Wh`, `W`, `kvarh` … or `J`/`kJ`/`MJ`/`GJ` (converted to Wh).
    pub unit: String,
    /// An exact decimal factor every value is multiplied by (`0.001`, a CT ratio `40`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<String>,
}

/// The wide layout: one row per day, its value columns the intervals of the day in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wide {
    pub first_value_column: ColumnRef,
    /// How many value columns; default: all from `first_value_column` to the end of the header
    /// (or of the first row, without a header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    pub channel: String,
    pub unit: String,
    pub date_column: ColumnRef,
    /// A chrono strftime date format (`%d/%m/%y` reads `22/6/19`).
    #[serde(default = "default_date_format")]
    pub date_format: String,
}

/// A column holding each row's quality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityColumn {
    pub column: ColumnRef,
    /// Cell text → quality word (`measured`, `estimated`, `edited`, `invalid`, `missing`). When
    /// empty, cells must be quality words, NEM12 methods (`A`, `E52` …) or `Yes`/`No`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, String>,
}

impl CsvMapping {
    /// Reads a mapping from TOML, and checks what can be checked without a file (OBIS codes,
    /// units, time zone, formats).
    pub fn from_toml(text: &str) -> Result<CsvMapping, String> {
        let map: CsvMapping = toml::from_str(text).map_err(|e| e.to_string())?;
        map.check()?;
        Ok(map)
    }

    /// The mapping as TOML.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }

    /// Checks what can be checked without a file; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        Checked::new(self).map(|_| ())
    }
}

// ---------------------------------------------------------------------------------------------
// Checking the mapping

/// `HH`, `HH:MM` or `HHMM` as seconds.
fn hours_minutes(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let two = |i: usize| -> Option<i32> {
        match (b.get(i), b.get(i + 1)) {
            (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => {
                Some(i32::from(x - b'0') * 10 + i32::from(y - b'0'))
            }
            _ => None,
        }
    };
    let (h, m) = match b.len() {
        2 => (two(0)?, 0),
        4 => (two(0)?, two(2)?),
        5 if b.get(2) == Some(&b':') => (two(0)?, two(3)?),
        _ => return None,
    };
    (h <= 23 && m <= 59).then_some(h * 3600 + m * 60)
}

/// How a value column's numbers become an interval value.
#[derive(Debug, Clone, Copy)]
struct Conv {
    unit: Unit,
    /// The unit's decimal prefix (kWh → 3).
    unit_scale: i8,
    multiplier: Option<(i64, i8)>,
    /// The values are joules (with `unit_scale` their prefix), to be turned into µWh.
    joule: bool,
}

impl Conv {
    fn new(unit: &str, multiplier: Option<&str>, key: &str) -> Result<Conv, String> {
        let t = unit.trim();
        let joule = match t {
            "J" => Some(0),
            "kJ" | "KJ" => Some(3),
            "MJ" => Some(6),
            "GJ" => Some(9),
            _ => None,
        };
        let (unit, unit_scale, joule) = match joule {
            Some(s) => (Unit::WattHour, s, true),
            None => {
                let (u, s) = Unit::parse_prefixed(t)
                    .or_else(|| Unit::from_symbol(t).map(|u| (u, 0)))
                    .ok_or_else(|| {
                        format!(
                            "{key}.unit: unknown unit {unit:?} (known: Wh, kWh, MWh, varh, kvarh, VAh, W, kW, var, VA, V, A, Hz, J, kJ, MJ, GJ …)"
                        )
                    })?;
                (u, s, false)
            }
        };
        let multiplier = match multiplier {
            None => None,
            Some(m) => Some(
                parse_number(m.trim(), false)
                    .map_err(|_| format!("{key}.multiplier: {m:?} is not a decimal number"))?,
            ),
        };
        Ok(Conv {
            unit,
            unit_scale,
            multiplier,
            joule,
        })
    }

    /// `raw × 10^scale` as read → (value, scale, unit) of the interval.
    fn apply(&self, raw: i64, scale: i8) -> Option<(i64, i8, Unit)> {
        let (mut raw, mut scale) = (raw, i32::from(scale));
        if let Some((m, ms)) = self.multiplier {
            raw = raw.checked_mul(m)?;
            scale += i32::from(ms);
        }
        scale += i32::from(self.unit_scale);
        if self.joule {
            return joule_to_micro_wh(raw, scale).map(|v| (v, -6, Unit::WattHour));
        }
        Some((raw, i8::try_from(scale).ok()?, self.unit))
    }
}

/// `raw × 10^scale` joules in µWh (1 Wh = 3600 J), rounded half away from zero.
fn joule_to_micro_wh(raw: i64, scale: i32) -> Option<i64> {
    // µWh = J × 10^6 / 3600 = J × 2500 / 9
    let raw = i128::from(raw);
    let (num, den) = if scale >= 0 {
        let p = 10i128.checked_pow(scale.unsigned_abs())?;
        (raw.checked_mul(p)?.checked_mul(2500)?, 9i128)
    } else {
        match 10i128
            .checked_pow(scale.unsigned_abs())
            .and_then(|p| p.checked_mul(9))
        {
            Some(den) => (raw * 2500, den),
            // |raw × 2500| < 2.4e22, far below half of such a divisor.
            None => return Some(0),
        }
    };
    let (q, r) = (num / den, num % den);
    let q = if r.abs() >= den - r.abs() {
        q + num.signum()
    } else {
        q
    };
    i64::try_from(q).ok()
}

/// Why a number cell was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumErr {
    Syntax,
    TooLong,
}

/// An exact decimal `[+-]digits[sep digits][e[+-]digits]` → (integer, power of ten). Trailing
/// zeros that would not fit are folded into the power of ten.
fn parse_number(s: &str, decimal_comma: bool) -> Result<(i64, i8), NumErr> {
    let b = s.as_bytes();
    let (neg, mut i) = match b.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let sep = if decimal_comma { b',' } else { b'.' };
    let mut raw: i64 = 0;
    let mut zeros: u32 = 0;
    let mut frac: i32 = 0;
    let mut digits = false;
    let mut in_frac = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                digits = true;
                if in_frac {
                    frac = frac.saturating_add(1);
                }
                if c == b'0' {
                    zeros = zeros.saturating_add(1);
                } else if raw == 0 {
                    raw = i64::from(c - b'0');
                    zeros = 0;
                } else {
                    raw = 10i64
                        .checked_pow(zeros.saturating_add(1))
                        .and_then(|p| raw.checked_mul(p))
                        .and_then(|r| r.checked_add(i64::from(c - b'0')))
                        .ok_or(NumErr::TooLong)?;
                    zeros = 0;
                }
            }
            b'e' | b'E' if digits => break,
            c if c == sep && !in_frac => in_frac = true,
            _ => return Err(NumErr::Syntax),
        }
        i += 1;
    }
    if !digits {
        return Err(NumErr::Syntax);
    }
    let mut exp: i64 = 0;
    if i < b.len() {
        let e = s.get(i + 1..).ok_or(NumErr::Syntax)?;
        let body = e.strip_prefix(['+', '-']).unwrap_or(e);
        if body.is_empty() || body.len() > 4 || !body.bytes().all(|c| c.is_ascii_digit()) {
            return Err(NumErr::Syntax);
        }
        exp = e.parse().map_err(|_| NumErr::Syntax)?;
    }
    let frac = i64::from(frac);
    if raw == 0 {
        return Ok((0, i8::try_from(exp - frac).unwrap_or(0)));
    }
    let (raw, extra) = match 10i64.checked_pow(zeros).and_then(|p| raw.checked_mul(p)) {
        Some(r) => (r, 0),
        None => (raw, i64::from(zeros)),
    };
    let scale = i8::try_from(extra + exp - frac).map_err(|_| NumErr::TooLong)?;
    Ok((if neg { -raw } else { raw }, scale))
}

/// Strftime items, checked.
fn items(fmt: &str, key: &str) -> Result<Vec<Item<'static>>, String> {
    if fmt.trim().is_empty() {
        return Err(format!("{key}: empty format"));
    }
    StrftimeItems::new(fmt)
        .parse_to_owned()
        .map_err(|_| format!("{key}: {fmt:?} is not a valid strftime format"))
}

fn has_time_of_day(items: &[Item<'_>]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            Item::Numeric(Numeric::Hour | Numeric::Hour12 | Numeric::Timestamp, _)
                | Item::Fixed(Fixed::RFC2822 | Fixed::RFC3339)
        )
    })
}

fn quality_word(s: &str) -> Option<Quality> {
    [
        Quality::Measured,
        Quality::Estimated,
        Quality::Edited,
        Quality::Invalid,
        Quality::Missing,
    ]
    .into_iter()
    .find(|q| s.eq_ignore_ascii_case(q.word()))
}

/// A quality cell without a map: a word, a NEM12 method letter (with digits) or Yes/No.
fn quality_cell(s: &str) -> Option<Quality> {
    if let Some(q) = quality_word(s) {
        return Some(q);
    }
    if s.eq_ignore_ascii_case("yes") {
        return Some(Quality::Estimated);
    }
    if s.eq_ignore_ascii_case("no") {
        return Some(Quality::Measured);
    }
    let mut chars = s.chars();
    let first = chars.next()?;
    if !chars.as_str().bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match first.to_ascii_uppercase() {
        'A' => Some(Quality::Measured),
        'E' => Some(Quality::Estimated),
        'S' | 'F' => Some(Quality::Edited),
        'N' => Some(Quality::Missing),
        _ => None,
    }
}

/// What the mapping says, checked, before a file is looked at.
#[derive(Debug)]
struct Checked {
    delimiter: u8,
    zone: Zone,
    time_items: Option<Vec<Item<'static>>>,
    values: Vec<(ObisCode, Conv)>,
    wide: Option<(ObisCode, Conv, Vec<Item<'static>>)>,
    quality: Option<HashMap<String, Quality>>,
}

impl Checked {
    fn new(m: &CsvMapping) -> Result<Checked, String> {
        let delimiter = u8::try_from(m.delimiter)
            .ok()
            .filter(|d| d.is_ascii() && !matches!(d, b'"' | b'\n' | b'\r'))
            .ok_or_else(|| {
                format!(
                    "delimiter: {:?} is not one ASCII character (other than a quote or a line end)",
                    m.delimiter
                )
            })?;
        if m.decimal_comma && m.delimiter == '.' {
            return Err("decimal_comma: the delimiter cannot be \".\"".to_string());
        }
        let zone = Zone::parse(&m.time_zone).map_err(|_| {
            format!(
                "time_zone: unknown time zone {:?} (give an IANA name such as \"Europe/London\", or an offset such as \"+10:00\")",
                m.time_zone
            )
        })?;
        if let Some(n) = m.interval_minutes
            && (n == 0 || 1440 % n != 0)
        {
            return Err(format!(
                "interval_minutes: {n} does not divide a day (1440 minutes)"
            ));
        }
        if let Source::Fixed(f) = &m.meter
            && f.trim().is_empty()
        {
            return Err("meter.fixed: empty meter name".to_string());
        }
        for (key, c) in column_refs(m) {
            match c {
                ColumnRef::Index(0) => return Err(format!("{key}: column numbers count from 1")),
                ColumnRef::Name(n) if !m.header => {
                    return Err(format!(
                        "{key}: column {n:?} is named, but header = false: give its number"
                    ));
                }
                _ => {}
            }
        }
        let mut time_items = None;
        let mut values = Vec::with_capacity(m.values.len());
        let mut wide = None;
        match &m.wide {
            None => {
                if m.values.is_empty() {
                    return Err("values: no value columns: give [[values]] (one row per interval) or [wide] (one row per day)".to_string());
                }
                if m.time.is_none() {
                    return Err("time: missing: give time = { column = … } or time = { date = …, time = … }".to_string());
                }
                if let Some(f) = &m.time_format {
                    let it = items(f, "time_format")?;
                    if !has_time_of_day(&it) {
                        return Err(format!(
                            "time_format: {f:?} holds no time of day (such as %H:%M)"
                        ));
                    }
                    time_items = Some(it);
                }
                for (k, v) in m.values.iter().enumerate() {
                    let key = format!("values[{}]", k + 1);
                    let channel =
                        ObisCode::parse(&v.channel).map_err(|e| format!("{key}.channel: {e}"))?;
                    let conv = Conv::new(&v.unit, v.multiplier.as_deref(), &key)?;
                    values.push((channel, conv));
                }
            }
            Some(w) => {
                if !m.values.is_empty() {
                    return Err("wide: cannot be combined with [[values]]".to_string());
                }
                if m.time.is_some() {
                    return Err(
                        "time: not used with [wide] (the date comes from wide.date_column)"
                            .to_string(),
                    );
                }
                if m.time_format.is_some() {
                    return Err(
                        "time_format: not used with [wide] (give wide.date_format)".to_string()
                    );
                }
                if m.stamp == Stamp::End {
                    return Err("stamp: not used with [wide] (the columns are the intervals of the day, from midnight)".to_string());
                }
                if w.count == Some(0) {
                    return Err("wide.count: must be at least 1".to_string());
                }
                let channel =
                    ObisCode::parse(&w.channel).map_err(|e| format!("wide.channel: {e}"))?;
                let conv = Conv::new(&w.unit, None, "wide")?;
                wide = Some((channel, conv, items(&w.date_format, "wide.date_format")?));
            }
        }
        let quality = match &m.quality {
            None => None,
            Some(q) => {
                let mut map = HashMap::with_capacity(q.map.len());
                for (cell, word) in &q.map {
                    let v = quality_word(word.trim()).ok_or_else(|| {
                        format!(
                            "quality.map[{cell:?}]: {word:?} is not a quality (measured, estimated, edited, invalid, missing)"
                        )
                    })?;
                    map.insert(cell.trim().to_string(), v);
                }
                Some(map)
            }
        };
        Ok(Checked {
            delimiter,
            zone,
            time_items,
            values,
            wide,
            quality,
        })
    }
}

/// Every column the mapping names, with its key.
fn column_refs(m: &CsvMapping) -> Vec<(String, &ColumnRef)> {
    let mut out = Vec::new();
    if let Source::Column(c) = &m.meter {
        out.push(("meter.column".to_string(), c));
    }
    match &m.time {
        Some(TimeColumns::Column(c)) => out.push(("time.column".to_string(), c)),
        Some(TimeColumns::DateAndTime { date, time }) => {
            out.push(("time.date".to_string(), date));
            out.push(("time.time".to_string(), time));
        }
        None => {}
    }
    for (k, v) in m.values.iter().enumerate() {
        out.push((format!("values[{}].column", k + 1), &v.column));
    }
    if let Some(w) = &m.wide {
        out.push(("wide.first_value_column".to_string(), &w.first_value_column));
        out.push(("wide.date_column".to_string(), &w.date_column));
    }
    if let Some(q) = &m.quality {
        out.push(("quality.column".to_string(), &q.column));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Columns of a file

/// The header (or the first row's width) that columns are resolved against.
struct Cols<'h> {
    names: Option<&'h [String]>,
    width: usize,
    line: usize,
}

impl Cols<'_> {
    fn label(&self, i: usize) -> String {
        match self.names.and_then(|n| n.get(i)).filter(|n| !n.is_empty()) {
            Some(n) => format!("column {n:?}"),
            None => format!("column {}", i + 1),
        }
    }

    /// The 0-based position of a column and how errors call it.
    fn find(&self, key: &str, c: &ColumnRef) -> Result<(usize, String), FileError> {
        match c {
            ColumnRef::Index(0) => Err(FileError::at(
                0,
                format!("{key}: column numbers count from 1"),
            )),
            ColumnRef::Index(n) => {
                if *n > self.width {
                    let what = if self.names.is_some() {
                        "the header"
                    } else {
                        "the first row"
                    };
                    return Err(FileError::at(
                        self.line,
                        format!("{key}: column {n}, but {what} has {} columns", self.width),
                    ));
                }
                Ok((n - 1, self.label(n - 1)))
            }
            ColumnRef::Name(name) => {
                let Some(names) = self.names else {
                    return Err(FileError::at(
                        0,
                        format!(
                            "{key}: column {name:?} is named, but header = false: give its number"
                        ),
                    ));
                };
                let want = name.trim();
                for exact in [true, false] {
                    let mut hits = names.iter().enumerate().filter(|(_, h)| {
                        if exact {
                            h.as_str() == want
                        } else {
                            h.eq_ignore_ascii_case(want)
                        }
                    });
                    match (hits.next(), hits.count()) {
                        (Some((i, _)), 0) => return Ok((i, self.label(i))),
                        (Some(_), more) => {
                            return Err(FileError::at(
                                self.line,
                                format!(
                                    "{key}: the header has {} columns named {want:?}: give its number",
                                    more + 1
                                ),
                            ));
                        }
                        (None, _) => {}
                    }
                }
                let mut list = names
                    .iter()
                    .take(30)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if names.len() > 30 {
                    list.push_str(", …");
                }
                Err(FileError::at(
                    self.line,
                    format!("{key}: no column {want:?} in the header (columns: {list})"),
                ))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The plan for one file

#[derive(Debug)]
enum TimeCols {
    One(usize),
    Two(usize, usize),
}

#[derive(Debug)]
struct ValuePlan {
    col: usize,
    label: String,
    channel: ObisCode,
    conv: Conv,
}

#[derive(Debug)]
struct LongPlan {
    time: TimeCols,
    time_label: String,
    items: Option<Vec<Item<'static>>>,
    values: Vec<ValuePlan>,
    minutes: Option<u32>,
    end: bool,
}

#[derive(Debug)]
struct WidePlan {
    first: usize,
    count: usize,
    date_col: usize,
    date_label: String,
    date_items: Vec<Item<'static>>,
    minutes: u32,
    channel: ObisCode,
    conv: Conv,
}

#[derive(Debug)]
enum Layout {
    Long(LongPlan),
    Wide(WidePlan),
}

#[derive(Debug)]
struct QualityPlan {
    col: usize,
    label: String,
    /// Empty: quality words, NEM12 letters or Yes/No.
    map: HashMap<String, Quality>,
}

#[derive(Debug)]
struct Plan<'m> {
    map: &'m CsvMapping,
    zone: Zone,
    meter: Option<(usize, String)>,
    quality: Option<QualityPlan>,
    layout: Layout,
    header: Vec<String>,
}

impl<'m> Plan<'m> {
    fn new(map: &'m CsvMapping, ck: Checked, cols: &Cols<'_>) -> Result<Plan<'m>, FileError> {
        let meter = match &map.meter {
            Source::Column(c) => Some(cols.find("meter.column", c)?),
            Source::Fixed(_) => None,
        };
        let quality = match (&map.quality, ck.quality) {
            (Some(q), Some(qm)) => {
                let (col, label) = cols.find("quality.column", &q.column)?;
                Some(QualityPlan {
                    col,
                    label,
                    map: qm,
                })
            }
            _ => None,
        };
        let layout = match (&map.wide, ck.wide) {
            (Some(w), Some((channel, conv, date_items))) => {
                let (first, _) = cols.find("wide.first_value_column", &w.first_value_column)?;
                let (date_col, date_label) = cols.find("wide.date_column", &w.date_column)?;
                let count = match w.count {
                    Some(n) => {
                        if first.checked_add(n).is_none_or(|end| end > cols.width) {
                            return Err(FileError::at(
                                cols.line,
                                format!(
                                    "wide.count: {n} columns from column {} run past the {} columns there are",
                                    first + 1,
                                    cols.width
                                ),
                            ));
                        }
                        n
                    }
                    None => {
                        // Trailing empty header cells (a line ending in a delimiter) are no columns.
                        let width = match cols.names {
                            Some(names) => names
                                .iter()
                                .rposition(|n| !n.is_empty())
                                .map_or(0, |i| i + 1),
                            None => cols.width,
                        };
                        width.saturating_sub(first).max(1)
                    }
                };
                let minutes = match map.interval_minutes {
                    Some(m) => {
                        if u64::from(m) * count as u64 > 1440 {
                            return Err(FileError::at(
                                cols.line,
                                format!(
                                    "wide.count: {count} columns of {m} minutes do not fit in a day"
                                ),
                            ));
                        }
                        m
                    }
                    None => {
                        if 1440 % count != 0 {
                            return Err(FileError::at(
                                cols.line,
                                format!(
                                    "wide.count: {count} value columns do not divide a day evenly: give interval_minutes or wide.count"
                                ),
                            ));
                        }
                        u32::try_from(1440 / count).unwrap_or(1440)
                    }
                };
                Layout::Wide(WidePlan {
                    first,
                    count,
                    date_col,
                    date_label,
                    date_items,
                    minutes,
                    channel,
                    conv,
                })
            }
            _ => {
                let (time, time_label) = match &map.time {
                    Some(TimeColumns::DateAndTime { date, time }) => {
                        let (d, dl) = cols.find("time.date", date)?;
                        let (t, tl) = cols.find("time.time", time)?;
                        (TimeCols::Two(d, t), format!("{dl} and {tl}"))
                    }
                    Some(TimeColumns::Column(c)) => {
                        let (c, l) = cols.find("time.column", c)?;
                        (TimeCols::One(c), l)
                    }
                    None => return Err(FileError::at(0, "time: missing")),
                };
                let mut values = Vec::with_capacity(map.values.len());
                for (k, (v, (channel, conv))) in map.values.iter().zip(ck.values).enumerate() {
                    let (col, label) =
                        cols.find(&format!("values[{}].column", k + 1), &v.column)?;
                    values.push(ValuePlan {
                        col,
                        label,
                        channel,
                        conv,
                    });
                }
                Layout::Long(LongPlan {
                    time,
                    time_label,
                    items: ck.time_items,
                    values,
                    minutes: map.interval_minutes,
                    end: map.stamp == Stamp::End,
                })
            }
        };
        Ok(Plan {
            map,
            zone: ck.zone,
            meter,
            quality,
            layout,
            header: cols.names.map(<[String]>::to_vec).unwrap_or_default(),
        })
    }

    fn label(&self, col: usize) -> String {
        Cols {
            names: Some(&self.header),
            width: 0,
            line: 0,
        }
        .label(col)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A stamp as read: absolute, or local time still to be placed in the zone.
#[derive(Debug, Clone, Copy)]
enum Moment {
    Utc(DateTime<Utc>),
    Local(NaiveDateTime),
}

#[derive(Debug)]
enum TimeErr {
    Bad,
    NoYear,
}

/// The year of year-less stamps, per meter.
#[derive(Debug, Clone, Copy)]
struct YearState {
    base: Option<i32>,
    bump: i32,
    last: Option<(u32, u32)>,
}

impl YearState {
    /// Gives a parse without a year the year of this meter's stamps.
    fn fill(&mut self, p: &mut Parsed) -> Result<(), TimeErr> {
        if p.year().is_some()
            || p.year_mod_100().is_some()
            || p.year_div_100().is_some()
            || p.isoyear().is_some()
            || p.timestamp().is_some()
        {
            return Ok(());
        }
        let base = self.base.ok_or(TimeErr::NoYear)?;
        if let (Some(m), Some(d)) = (p.month(), p.day()) {
            if self.last.is_some_and(|last| (m, d) < last) {
                self.bump = self.bump.saturating_add(1);
            }
            self.last = Some((m, d));
        }
        p.set_year(i64::from(base) + i64::from(self.bump))
            .map_err(|_| TimeErr::Bad)
    }
}

/// The position of a `24:00` that is a time of day (not part of a longer number).
fn find_24(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    s.rmatch_indices("24:00").map(|(i, _)| i).find(|&i| {
        let before = i.checked_sub(1).and_then(|j| b.get(j));
        let after = b.get(i + 5);
        !before.is_some_and(u8::is_ascii_digit) && !after.is_some_and(u8::is_ascii_digit)
    })
}

fn parse_with(
    items: &[Item<'static>],
    text: &str,
    end24: bool,
    ys: &mut YearState,
    buf: &mut String,
) -> Result<Moment, TimeErr> {
    let mut p = Parsed::new();
    let mut next_day = false;
    if chrono::format::parse(&mut p, text, items.iter()).is_err() {
        let i = if end24 { find_24(text) } else { None }.ok_or(TimeErr::Bad)?;
        buf.clear();
        buf.push_str(text.get(..i).ok_or(TimeErr::Bad)?);
        buf.push_str("00:00");
        buf.push_str(text.get(i + 5..).ok_or(TimeErr::Bad)?);
        p = Parsed::new();
        chrono::format::parse(&mut p, buf, items.iter()).map_err(|_| TimeErr::Bad)?;
        next_day = true;
    }
    let day = |t: NaiveDateTime| -> Result<NaiveDateTime, TimeErr> {
        if !next_day {
            return Ok(t);
        }
        if t.time() != NaiveTime::MIN {
            return Err(TimeErr::Bad);
        }
        t.checked_add_signed(Duration::days(1)).ok_or(TimeErr::Bad)
    };
    if let Some(off) = p.offset() {
        ys.fill(&mut p)?;
        let local = p
            .to_naive_datetime_with_offset(off)
            .map_err(|_| TimeErr::Bad)?;
        let utc = day(local)?
            .checked_sub_signed(Duration::seconds(i64::from(off)))
            .ok_or(TimeErr::Bad)?;
        return Ok(Moment::Utc(utc.and_utc()));
    }
    if p.timestamp().is_some() {
        let t = p
            .to_naive_datetime_with_offset(0)
            .map_err(|_| TimeErr::Bad)?;
        return Ok(Moment::Utc(t.and_utc()));
    }
    ys.fill(&mut p)?;
    let date = p.to_naive_date().map_err(|_| TimeErr::Bad)?;
    let time = p.to_naive_time().map_err(|_| TimeErr::Bad)?;
    Ok(Moment::Local(day(date.and_time(time))?))
}

/// `YYYY-MM-DD[T ]HH:MM[:SS[.fff]][Z|±HH:MM|±HHMM|±HH]`.
fn parse_iso(s: &str, end24: bool) -> Option<Moment> {
    let b = s.as_bytes();
    let num = |from: usize, to: usize| -> Option<u32> {
        let t = b.get(from..to)?;
        if !t.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(t.iter().fold(0u32, |a, c| a * 10 + u32::from(c - b'0')))
    };
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute) = (num(11, 13)?, num(14, 16)?);
    let mut pos = 16;
    let (mut sec, mut nano) = (0, 0);
    if b.get(pos) == Some(&b':') {
        sec = num(pos + 1, pos + 3)?;
        pos += 3;
        if matches!(b.get(pos), Some(b'.' | b',')) {
            pos += 1;
            let start = pos;
            let mut place = 100_000_000u32;
            while let Some(c) = b.get(pos).filter(|c| c.is_ascii_digit()) {
                nano += u32::from(c - b'0') * place;
                place /= 10;
                pos += 1;
            }
            if pos == start {
                return None;
            }
        }
    }
    let offset = match b.get(pos) {
        None => None,
        Some(b'Z' | b'z') if pos + 1 == b.len() => Some(0),
        Some(&c @ (b'+' | b'-')) => {
            let secs = hours_minutes(s.get(pos + 1..)?)?;
            Some(if c == b'-' { -secs } else { secs })
        }
        _ => return None,
    };
    let mut date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let mut hour = hour;
    if hour == 24 && end24 && minute == 0 && sec == 0 && nano == 0 {
        date = date.succ_opt()?;
        hour = 0;
    }
    let t = date.and_time(NaiveTime::from_hms_nano_opt(hour, minute, sec, nano)?);
    Some(match offset {
        None => Moment::Local(t),
        Some(o) => Moment::Utc(
            t.checked_sub_signed(Duration::seconds(i64::from(o)))?
                .and_utc(),
        ),
    })
}

/// A local time in the zone: the earlier of two occurrences unless that would not come after
/// `prev`; `None` when it does not exist.
fn place_local(r: LocalTime, prev: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match r {
        LocalTime::Single(t) => Some(t),
        LocalTime::Repeated { earlier, later } => Some(if prev.is_some_and(|p| earlier <= p) {
            later
        } else {
            earlier
        }),
        LocalTime::Skipped { .. } => None,
    }
}

/// One series (meter × value column) whose interval length may still be unknown.
#[derive(Debug, Default)]
struct Series {
    minutes: Option<u32>,
    first: Option<DateTime<Utc>>,
    first_line: usize,
    /// Rows in `out` waiting for the interval length.
    pending: Vec<usize>,
}

#[derive(Debug)]
struct MeterState {
    name: Arc<str>,
    years: YearState,
    prev: Option<DateTime<Utc>>,
    series: Vec<Series>,
}

#[derive(Debug)]
struct State {
    meters: Vec<MeterState>,
    by_name: HashMap<Arc<str>, usize>,
    last: usize,
    out: Vec<IntervalRow>,
    /// Scratch: a date and a time cell joined.
    joined: String,
    /// Scratch: a stamp with `24:00` replaced.
    scratch: String,
    n_series: usize,
    year: Option<i32>,
}

impl State {
    fn meter(&mut self, name: &str) -> usize {
        if self.meters.get(self.last).is_some_and(|m| *m.name == *name) {
            return self.last;
        }
        let i = match self.by_name.get(name) {
            Some(&i) => i,
            None => {
                let arc: Arc<str> = Arc::from(name);
                self.meters.push(MeterState {
                    name: arc.clone(),
                    years: YearState {
                        base: self.year,
                        bump: 0,
                        last: None,
                    },
                    prev: None,
                    series: (0..self.n_series).map(|_| Series::default()).collect(),
                });
                let i = self.meters.len() - 1;
                self.by_name.insert(arc, i);
                i
            }
        };
        self.last = i;
        i
    }
}

fn internal(line: usize) -> FileError {
    FileError::at(line, "internal error: lost track of a meter")
}

/// A trimmed cell, or an error when the row is too short.
fn cell<'r>(
    rec: &'r ::csv::StringRecord,
    col: usize,
    label: &str,
    line: usize,
) -> Result<&'r str, FileError> {
    rec.get(col).map(str::trim).ok_or_else(|| {
        FileError::at(
            line,
            format!(
                "the row has {} fields, so {label} (field {}) is missing",
                rec.len(),
                col + 1
            ),
        )
    })
}

fn number_error(label: &str, text: &str, e: Option<NumErr>) -> String {
    match e {
        Some(NumErr::Syntax) => format!("{label} value {text:?} is not a decimal number"),
        Some(NumErr::TooLong) => {
            format!("{label} value {text:?} has too many digits to keep exactly")
        }
        None => format!("{label} value {text:?} is out of range after the unit and multiplier"),
    }
}

/// A value cell → (value, scale, unit), or the message.
fn value_of(text: &str, conv: &Conv, comma: bool) -> Result<(i64, i8, Unit), Option<NumErr>> {
    let (raw, scale) = parse_number(text, comma).map_err(Some)?;
    conv.apply(raw, scale).ok_or(None)
}

fn row_quality(p: &Plan<'_>, rec: &::csv::StringRecord, line: usize) -> Result<Quality, FileError> {
    let Some(q) = &p.quality else {
        return Ok(Quality::Measured);
    };
    let text = cell(rec, q.col, &q.label, line)?;
    if q.map.is_empty() {
        quality_cell(text).ok_or_else(|| {
            FileError::at(
                line,
                format!(
                    "{} value {text:?} is not a quality (measured, estimated, edited, invalid, missing, a NEM12 method A/E/S/F/N, or Yes/No); give quality.map",
                    q.label
                ),
            )
        })
    } else {
        q.map.get(text).copied().ok_or_else(|| {
            FileError::at(
                line,
                format!("{} value {text:?} is not in quality.map", q.label),
            )
        })
    }
}

fn meter_of(
    p: &Plan<'_>,
    st: &mut State,
    rec: &::csv::StringRecord,
    line: usize,
) -> Result<usize, FileError> {
    match &p.meter {
        None => Ok(0),
        Some((col, label)) => {
            let name = cell(rec, *col, label, line)?;
            if name.is_empty() {
                return Err(FileError::at(line, format!("{label} is empty: no meter")));
            }
            Ok(st.meter(name))
        }
    }
}

fn time_error(p: &Plan<'_>, lp: &LongPlan, text: &str, e: TimeErr) -> String {
    match e {
        TimeErr::NoYear => format!(
            "{} value {text:?} has no year: give year in the mapping",
            lp.time_label
        ),
        TimeErr::Bad => match &p.map.time_format {
            Some(f) => format!(
                "{} value {text:?} is not a time in the format {f:?}",
                lp.time_label
            ),
            None => format!(
                "{} value {text:?} is not an ISO 8601 time (such as 2024-03-05T00:15:00Z or 2024-03-05 00:15)",
                lp.time_label
            ),
        },
    }
}

/// `stamp - minutes` or `stamp` as the interval's start, with its length.
fn finish_row(r: &mut IntervalRow, minutes: u32, end: bool) -> Option<()> {
    r.seconds = minutes * 60;
    if end {
        r.start = r
            .start
            .checked_sub_signed(Duration::minutes(i64::from(minutes)))?;
    }
    Some(())
}

fn out_of_range(line: usize) -> FileError {
    FileError::at(line, "the time is out of range")
}

/// Adds a row of a long series, deriving the series' interval length if need be.
#[allow(clippy::too_many_arguments)]
fn place_row(
    s: &mut Series,
    mut row: IntervalRow,
    fixed: Option<u32>,
    end: bool,
    out: &mut Vec<IntervalRow>,
    line: usize,
    label: &str,
    meter: &str,
) -> Result<(), FileError> {
    let minutes = match fixed.or(s.minutes) {
        Some(m) => Some(m),
        None => match s.first {
            None => {
                s.first = Some(row.start);
                s.first_line = line;
                None
            }
            Some(f) if f == row.start => None,
            Some(f) => {
                let diff = (row.start - f).num_seconds().abs();
                let m = u32::try_from(diff / 60)
                    .ok()
                    .filter(|m| diff % 60 == 0 && *m > 0 && 1440 % *m == 0)
                    .ok_or_else(|| {
                        let apart = if diff % 60 == 0 {
                            format!("{} minutes", diff / 60)
                        } else {
                            format!("{diff} seconds")
                        };
                        FileError::at(
                            line,
                            format!(
                                "cannot derive the interval length of {label} of meter {meter:?}: its first two time stamps (lines {} and {line}) are {apart} apart, which does not divide a day; give interval_minutes",
                                s.first_line
                            ),
                        )
                    })?;
                s.minutes = Some(m);
                for i in s.pending.drain(..) {
                    if let Some(r) = out.get_mut(i) {
                        finish_row(r, m, end).ok_or_else(|| out_of_range(s.first_line))?;
                    }
                }
                Some(m)
            }
        },
    };
    match minutes {
        Some(m) => {
            finish_row(&mut row, m, end).ok_or_else(|| out_of_range(line))?;
            out.push(row);
        }
        None => {
            s.pending.push(out.len());
            out.push(row);
        }
    }
    Ok(())
}

fn long_row(
    p: &Plan<'_>,
    lp: &LongPlan,
    st: &mut State,
    rec: &::csv::StringRecord,
    line: usize,
) -> Result<(), FileError> {
    let mi = meter_of(p, st, rec, line)?;
    let quality = row_quality(p, rec, line)?;
    let State {
        meters,
        out,
        joined,
        scratch,
        ..
    } = st;
    let text: &str = match lp.time {
        TimeCols::One(c) => cell(rec, c, &lp.time_label, line)?,
        TimeCols::Two(d, t) => {
            let d = cell(rec, d, &lp.time_label, line)?;
            let t = cell(rec, t, &lp.time_label, line)?;
            joined.clear();
            joined.push_str(d);
            joined.push(' ');
            joined.push_str(t);
            joined
        }
    };
    let m = meters.get_mut(mi).ok_or_else(|| internal(line))?;
    let end24 = p.map.end_of_day_24;
    let moment = match &lp.items {
        Some(items) => parse_with(items, text, end24, &mut m.years, scratch),
        None => parse_iso(text, end24).ok_or(TimeErr::Bad),
    }
    .map_err(|e| FileError::at(line, time_error(p, lp, text, e)))?;
    let stamp = match moment {
        Moment::Utc(t) => t,
        Moment::Local(t) => place_local(p.zone.from_local(t), m.prev).ok_or_else(|| {
            FileError::at(
                line,
                format!(
                    "{} value {text:?} does not exist in {} (the clocks go forward then)",
                    lp.time_label, p.map.time_zone
                ),
            )
        })?,
    };
    m.prev = Some(stamp);
    for (v, s) in lp.values.iter().zip(m.series.iter_mut()) {
        let c = cell(rec, v.col, &v.label, line)?;
        if c.is_empty() {
            continue;
        }
        let (value, scale, unit) = value_of(c, &v.conv, p.map.decimal_comma)
            .map_err(|e| FileError::at(line, number_error(&v.label, c, e)))?;
        let row = IntervalRow {
            meter: m.name.clone(),
            channel: v.channel,
            start: stamp,
            seconds: 0,
            value,
            scale,
            unit,
            quality,
            status: quality.status(),
        };
        place_row(s, row, lp.minutes, lp.end, out, line, &v.label, &m.name)?;
    }
    Ok(())
}

fn wide_row(
    p: &Plan<'_>,
    wp: &WidePlan,
    st: &mut State,
    rec: &::csv::StringRecord,
    line: usize,
) -> Result<(), FileError> {
    let mi = meter_of(p, st, rec, line)?;
    let quality = row_quality(p, rec, line)?;
    let date_text = cell(rec, wp.date_col, &wp.date_label, line)?;
    let m = st.meters.get_mut(mi).ok_or_else(|| internal(line))?;
    let mut parsed = Parsed::new();
    let date = chrono::format::parse(&mut parsed, date_text, wp.date_items.iter())
        .map_err(|_| TimeErr::Bad)
        .and_then(|()| m.years.fill(&mut parsed))
        .and_then(|()| parsed.to_naive_date().map_err(|_| TimeErr::Bad))
        .map_err(|e| {
            let what = match e {
                TimeErr::NoYear => "has no year: give year in the mapping".to_string(),
                TimeErr::Bad => {
                    let f = p.map.wide.as_ref().map_or("", |w| w.date_format.as_str());
                    format!("is not a date in the format {f:?}")
                }
            };
            FileError::at(
                line,
                format!("{} value {date_text:?} {what}", wp.date_label),
            )
        })?;
    let needed = wp.first + wp.count;
    if rec.len() < needed {
        return Err(FileError::at(
            line,
            format!(
                "the row has {} fields, but the day's {} values need {needed}",
                rec.len(),
                wp.count
            ),
        ));
    }
    let midnight = date.and_time(NaiveTime::MIN);
    let step = Duration::minutes(i64::from(wp.minutes));
    let mut wall = midnight;
    let mut prev = None;
    for col in wp.first..needed {
        let at = wall;
        wall = wall
            .checked_add_signed(step)
            .ok_or_else(|| out_of_range(line))?;
        let c = rec.get(col).map_or("", str::trim);
        if c.is_empty() {
            continue;
        }
        let (value, scale, unit) = value_of(c, &wp.conv, p.map.decimal_comma)
            .map_err(|e| FileError::at(line, number_error(&p.label(col), c, e)))?;
        let start = match place_local(p.zone.from_local(at), prev) {
            Some(t) => t,
            None if value == 0 => continue,
            None => {
                return Err(FileError::at(
                    line,
                    format!(
                        "{} ({}) does not exist in {} (the clocks go forward then) but holds {c:?}; a file in standard time all year needs a fixed time_zone such as \"+10:00\"",
                        p.label(col),
                        at.format("%Y-%m-%d %H:%M"),
                        p.map.time_zone
                    ),
                ));
            }
        };
        prev = Some(start);
        st.out.push(IntervalRow {
            meter: m.name.clone(),
            channel: wp.channel,
            start,
            seconds: wp.minutes * 60,
            value,
            scale,
            unit,
            quality,
            status: quality.status(),
        });
    }
    Ok(())
}

/// Line numbers of record starts, counted from byte offsets as the reader moves on (the csv
/// reader's own line count leans on the line before a record when blank lines come between).
#[derive(Debug)]
struct LineCounter<'a> {
    body: &'a [u8],
    off: usize,
    /// The line at `off`, counting the skipped lines.
    line: usize,
}

impl LineCounter<'_> {
    fn line_at(&mut self, byte: usize) -> usize {
        let mut b = byte;
        // A record's position may point at the blank lines before it.
        while matches!(self.body.get(b), Some(b'\r' | b'\n')) {
            b += 1;
        }
        if b < self.off {
            return self.line;
        }
        let part = self.body.get(self.off..b).unwrap_or_default();
        let ends = part
            .iter()
            .enumerate()
            .filter(|&(i, &c)| c == b'\n' || (c == b'\r' && part.get(i + 1) != Some(&b'\n')))
            .count();
        self.line += ends;
        self.off = b;
        self.line
    }
}

/// The next record with a non-empty cell, and its line.
fn next_row(
    rdr: &mut ::csv::Reader<&[u8]>,
    rec: &mut ::csv::StringRecord,
    lines: &mut LineCounter<'_>,
) -> Result<Option<usize>, FileError> {
    loop {
        let more = rdr.read_record(rec).map_err(|e| {
            let line = e.position().map_or(lines.line, |p| {
                lines.line_at(usize::try_from(p.byte()).unwrap_or(usize::MAX))
            });
            FileError::at(line, e.to_string())
        })?;
        if !more {
            return Ok(None);
        }
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let byte = rec.position().map_or(0, |p| p.byte());
        return Ok(Some(
            lines.line_at(usize::try_from(byte).unwrap_or(usize::MAX)),
        ));
    }
}

/// Reads an interval CSV file through a mapping. Mapping errors come first (naming the key),
/// then data errors (naming the line); see the [module docs](self).
pub fn read_mapped_csv(text: &str, map: &CsvMapping) -> Result<Vec<IntervalRow>, FileError> {
    let ck = Checked::new(map).map_err(|e| FileError::at(0, e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut body = text;
    let mut skipped = 0;
    while skipped < map.skip_lines {
        match body.find('\n') {
            Some(i) => {
                body = body.get(i + 1..).unwrap_or("");
                skipped += 1;
            }
            None => {
                body = "";
                break;
            }
        }
    }
    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(ck.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut rec = ::csv::StringRecord::new();
    let mut lines = LineCounter {
        body: body.as_bytes(),
        off: 0,
        line: skipped + 1,
    };
    let header = if map.header {
        match next_row(&mut rdr, &mut rec, &mut lines)? {
            None => {
                return Err(FileError::at(
                    0,
                    if map.skip_lines > 0 {
                        "no header line after the skipped lines"
                    } else {
                        "empty file: no header line"
                    },
                ));
            }
            Some(line) => Some((
                rec.iter().map(|c| c.trim().to_string()).collect::<Vec<_>>(),
                line,
            )),
        }
    } else {
        None
    };
    let first = next_row(&mut rdr, &mut rec, &mut lines)?;
    let cols = match (&header, first) {
        (Some((names, line)), _) => Cols {
            names: Some(names),
            width: names.len(),
            line: *line,
        },
        (None, Some(line)) => Cols {
            names: None,
            width: rec.len(),
            line,
        },
        (None, None) => return Ok(Vec::new()),
    };
    let plan = Plan::new(map, ck, &cols)?;
    let n_series = match &plan.layout {
        Layout::Long(lp) => lp.values.len(),
        Layout::Wide(_) => 0,
    };
    let mut st = State {
        meters: Vec::new(),
        by_name: HashMap::new(),
        last: 0,
        out: Vec::new(),
        joined: String::new(),
        scratch: String::new(),
        n_series,
        year: map.year,
    };
    if let Source::Fixed(name) = &map.meter {
        st.meter(name.trim());
    }
    let mut line = first;
    while let Some(l) = line {
        match &plan.layout {
            Layout::Long(lp) => long_row(&plan, lp, &mut st, &rec, l)?,
            Layout::Wide(wp) => wide_row(&plan, wp, &mut st, &rec, l)?,
        }
        line = next_row(&mut rdr, &mut rec, &mut lines)?;
    }
    if let Layout::Long(lp) = &plan.layout {
        for m in &st.meters {
            for (v, s) in lp.values.iter().zip(&m.series) {
                if s.minutes.is_none() && !s.pending.is_empty() {
                    return Err(FileError::at(
                        s.first_line,
                        format!(
                            "cannot derive the interval length of {} of meter {:?}: it has only one time stamp; give interval_minutes",
                            v.label, m.name
                        ),
                    ));
                }
            }
        }
    }
    Ok(st.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use metermaster_model::IntervalStatus;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"
delimiter = ","
time_zone = "Europe/London"
stamp = "end"
time_format = "%d/%m/%Y %H:%M"
meter = { column = "MPAN" }          # or meter = { fixed = "10000001" }
time = { column = "Timestamp" }      # or time = { date = "Date", time = "Time" }
[[values]]
column = "kWh"                       # a header name, or a 1-based number: column = 3
channel = "1-0:1.8.0"
unit = "kWh"
"#;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn long(time: TimeColumns, values: &[(&str, &str)]) -> CsvMapping {
        CsvMapping {
            meter: Source::Fixed("M1".into()),
            time: Some(time),
            values: values
                .iter()
                .map(|(c, u)| ValueColumn {
                    column: ColumnRef::Name((*c).into()),
                    channel: "1.8.0".into(),
                    unit: (*u).into(),
                    multiplier: None,
                })
                .collect(),
            ..CsvMapping::default()
        }
    }

    fn col(name: &str) -> TimeColumns {
        TimeColumns::Column(ColumnRef::Name(name.into()))
    }

    fn err(text: &str, map: &CsvMapping) -> String {
        read_mapped_csv(text, map).unwrap_err().to_string()
    }

    /// (start, seconds, value, scale) of each row.
    fn brief(rows: &[IntervalRow]) -> Vec<(String, u32, i64, i8)> {
        rows.iter()
            .map(|r| {
                (
                    r.start.format("%Y-%m-%dT%H:%M").to_string(),
                    r.seconds,
                    r.value,
                    r.scale,
                )
            })
            .collect()
    }

    #[test]
    fn toml_example_reads_a_london_file() {
        let map = CsvMapping::from_toml(EXAMPLE).unwrap();
        assert_eq!(map.meter, Source::Column(ColumnRef::Name("MPAN".into())));
        assert_eq!(map.time, Some(col("Timestamp")));
        assert_eq!(map.stamp, Stamp::End);
        assert_eq!(map.delimiter, ',');
        assert!(map.header && map.end_of_day_24);
        assert_eq!(map.values.len(), 1);
        // Clocks go back at 02:00 BST on 2024-10-27: the end stamp 01:00 comes twice.
        let text = "MPAN,Timestamp,kWh\n\
                    1900001,27/10/2024 00:00,0.5\n\
                    1900001,27/10/2024 01:00,0.25\n\
                    1900001,27/10/2024 01:00,0.125\n\
                    1900001,27/10/2024 02:00,1\n";
        let rows = read_mapped_csv(text, &map).unwrap();
        assert_eq!(
            brief(&rows),
            vec![
                ("2024-10-26T22:00".into(), 3600, 5, 2),
                ("2024-10-26T23:00".into(), 3600, 25, 1),
                ("2024-10-27T00:00".into(), 3600, 125, 0),
                ("2024-10-27T01:00".into(), 3600, 1, 3),
            ]
        );
        assert_eq!(&*rows[0].meter, "1900001");
        assert_eq!(rows[0].channel, ObisCode::elec(1, 8, 0));
        assert_eq!(rows[0].unit, Unit::WattHour);
        assert_eq!(rows[0].quality, Quality::Measured);
        assert!(rows.iter().all(|r| Arc::ptr_eq(&r.meter, &rows[0].meter)));
    }

    #[test]
    fn toml_round_trip_and_other_forms() {
        let text = r#"
delimiter = ";"
decimal_comma = true
skip_lines = 2
header = true
year = 2019
time_zone = "+10:00"
interval_minutes = 30
meter = { fixed = "10000001" }
[wide]
first_value_column = 6
count = 48
channel = "1-1:1.29.0"
unit = "kWh"
date_column = "DATE"
date_format = "%d/%m/%y"
[quality]
column = 5
map = { "Yes" = "estimated", "No" = "measured", "" = "measured" }
"#;
        let map = CsvMapping::from_toml(text).unwrap();
        assert_eq!(map.meter, Source::Fixed("10000001".into()));
        let w = map.wide.as_ref().unwrap();
        assert_eq!(w.first_value_column, ColumnRef::Index(6));
        assert_eq!(w.count, Some(48));
        assert_eq!(map.quality.as_ref().unwrap().map.len(), 3);
        for m in [map, CsvMapping::from_toml(EXAMPLE).unwrap()] {
            let again = CsvMapping::from_toml(&m.to_toml().unwrap()).unwrap();
            assert_eq!(again, m);
        }
        let dt = CsvMapping::from_toml(
            "meter = { column = 1 }\ntime = { date = \"Date\", time = 3 }\n[[values]]\ncolumn = 4\nchannel = \"2.8.0\"\nunit = \"Wh\"\nmultiplier = \"0.5\"\n",
        )
        .unwrap();
        assert_eq!(
            dt.time,
            Some(TimeColumns::DateAndTime {
                date: ColumnRef::Name("Date".into()),
                time: ColumnRef::Index(3)
            })
        );
        assert_eq!(dt.values[0].multiplier.as_deref(), Some("0.5"));
        assert_eq!(CsvMapping::from_toml(&dt.to_toml().unwrap()).unwrap(), dt);
    }

    #[test]
    fn toml_refuses_what_it_does_not_know() {
        let base = "meter = { fixed = \"M\" }\ntime = { column = \"T\" }\n[[values]]\ncolumn = \"V\"\nchannel = \"1.8.0\"\nunit = \"Wh\"\n";
        assert!(CsvMapping::from_toml(base).is_ok());
        for bad in [
            format!("colour = \"red\"\n{base}"),
            format!("{base}extra = 1\n"),
            base.replace(
                "time = { column = \"T\" }",
                "time = { column = \"T\", date = \"D\" }",
            ),
            base.replace("time = { column = \"T\" }", "time = { date = \"D\" }"),
            base.replace("column = \"V\"", "column = 0"),
            base.replace("column = \"V\"", "column = -2"),
            base.replace("meter = { fixed = \"M\" }", "meter = { serial = \"M\" }"),
            base.replace("meter = { fixed = \"M\" }\n", ""),
            format!("stamp = \"middle\"\n{base}"),
        ] {
            assert!(CsvMapping::from_toml(&bad).is_err(), "accepted:\n{bad}");
        }
        let e = CsvMapping::from_toml(&base.replace("1.8.0", "1.x.0")).unwrap_err();
        assert!(e.starts_with("values[1].channel: invalid OBIS code"), "{e}");
    }

    #[test]
    fn semicolon_and_decimal_comma() {
        let mut map = long(
            TimeColumns::DateAndTime {
                date: ColumnRef::Name("Datum".into()),
                time: ColumnRef::Name("Zeit".into()),
            },
            &[("Wert", "kWh")],
        );
        map.delimiter = ';';
        map.decimal_comma = true;
        map.time_format = Some("%d.%m.%Y %H:%M".into());
        map.time_zone = "Europe/Berlin".into();
        let text = "Datum;Zeit;Wert\n05.03.2024;00:00;1,25\n05.03.2024;00:15;\"2,5\"\n05.03.2024;00:30;-0,001\n";
        let rows = read_mapped_csv(text, &map).unwrap();
        assert_eq!(
            brief(&rows),
            vec![
                ("2024-03-04T23:00".into(), 900, 125, 1),
                ("2024-03-04T23:15".into(), 900, 25, 2),
                ("2024-03-04T23:30".into(), 900, -1, 0),
            ]
        );
        // A dot is no decimal separator then.
        let bad = text.replace("1,25", "1.25");
        assert_eq!(
            err(&bad, &map),
            "line 2: column \"Wert\" value \"1.25\" is not a decimal number"
        );
        // Tab-separated.
        map.delimiter = '\t';
        let rows = read_mapped_csv(&text.replace(';', "\t"), &map).unwrap();
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn date_and_time_columns_iso() {
        let map = long(
            TimeColumns::DateAndTime {
                date: ColumnRef::Index(1),
                time: ColumnRef::Index(2),
            },
            &[("Import", "Wh"), ("Export", "Wh")],
        );
        let text = "Date,Time,Import,Export\n2024-03-05,00:15:00,10,1\n2024-03-05,00:30,20,\n";
        // The Export column's second cell is empty: no interval. Each series derives its own
        // interval length, and Export has one stamp only.
        assert_eq!(
            err(text, &map),
            "line 2: cannot derive the interval length of column \"Export\" of meter \"M1\": it has only one time stamp; give interval_minutes"
        );
        let mut map = map;
        map.interval_minutes = Some(15);
        let rows = read_mapped_csv(text, &map).unwrap();
        assert_eq!(
            brief(&rows),
            vec![
                ("2024-03-05T00:15".into(), 900, 10, 0),
                ("2024-03-05T00:15".into(), 900, 1, 0),
                ("2024-03-05T00:30".into(), 900, 20, 0),
            ]
        );
    }

    #[test]
    fn start_and_end_stamps() {
        let text = "T,V\n2024-03-05T00:15:00Z,1\n2024-03-05T00:30:00Z,2\n";
        let mut map = long(col("T"), &[("V", "Wh")]);
        let start = read_mapped_csv(text, &map).unwrap();
        map.stamp = Stamp::End;
        let end = read_mapped_csv(text, &map).unwrap();
        assert_eq!(start[0].start, t("2024-03-05T00:15:00Z"));
        assert_eq!(end[0].start, t("2024-03-05T00:00:00Z"));
        assert_eq!(end[1].start, t("2024-03-05T00:15:00Z"));
        assert!(start.iter().chain(&end).all(|r| r.seconds == 900));
    }

    #[test]
    fn interval_derived_per_series() {
        let mut map = long(col("T"), &[("V", "W")]);
        map.stamp = Stamp::End;
        // Two rows share the first stamp (one meter twice); the length comes from the first
        // distinct pair and is applied to the rows already read.
        let text =
            "T,V\n2024-01-01 00:05,1\n2024-01-01 00:05,2\n2024-01-01 00:10,3\n2024-01-01 00:20,4\n";
        let rows = read_mapped_csv(text, &map).unwrap();
        assert_eq!(
            brief(&rows),
            vec![
                ("2024-01-01T00:00".into(), 300, 1, 0),
                ("2024-01-01T00:00".into(), 300, 2, 0),
                ("2024-01-01T00:05".into(), 300, 3, 0),
                ("2024-01-01T00:15".into(), 300, 4, 0),
            ]
        );
        let odd = "T,V\n2024-01-01 00:00,1\n2024-01-01 00:07,1\n";
        assert_eq!(
            err(odd, &map),
            "line 3: cannot derive the interval length of column \"V\" of meter \"M1\": its first two time stamps (lines 2 and 3) are 7 minutes apart, which does not divide a day; give interval_minutes"
        );
        let one = "T,V\n2024-01-01 00:00,1\n";
        assert!(err(one, &map).starts_with("line 2: cannot derive"));
        map.interval_minutes = Some(60);
        assert_eq!(read_mapped_csv(one, &map).unwrap()[0].seconds, 3600);
    }

    #[test]
    fn meter_column_and_fixed_meter_share_allocations() {
        let mut map = long(col("T"), &[("V", "Wh")]);
        map.interval_minutes = Some(30);
        let text = "T,V\n2024-01-01T00:00Z,1\n2024-01-01T00:30Z,2\n";
        let rows = read_mapped_csv(text, &map).unwrap();
        assert_eq!(&*rows[0].meter, "M1");
        assert!(Arc::ptr_eq(&rows[0].meter, &rows[1].meter));
        map.meter = Source::Column(ColumnRef::Name("Meter".into()));
        let text = "Meter,T,V\nA,2024-01-01T00:00Z,1\nB,2024-01-01T00:00Z,2\nA,2024-01-01T00:30Z,3\nB,2024-01-01T00:30Z,4\n";
        let rows = read_mapped_csv(text, &map).unwrap();
        assert!(Arc::ptr_eq(&rows[0].meter, &rows[2].meter));
        assert!(Arc::ptr_eq(&rows[1].meter, &rows[3].meter));
        assert_eq!(&*rows[1].meter, "B");
        assert_eq!(
            err("Meter,T,V\n,2024-01-01T00:00Z,1\n", &map),
            "line 2: column \"Meter\" is empty: no meter"
        );
    }

    #[test]
    fn quality_column_with_and_without_map() {
        let mut map = long(col("T"), &[("V", "Wh")]);
        map.interval_minutes = Some(60);
        map.quality = Some(QualityColumn {
            column: ColumnRef::Name("Q".into()),
            map: BTreeMap::new(),
        });
        let text = "T,V,Q\n2024-01-01T00:00Z,1,A\n2024-01-01T01:00Z,1,E52\n2024-01-01T02:00Z,1,Yes\n2024-01-01T03:00Z,1,no\n2024-01-01T04:00Z,1,Edited\n2024-01-01T05:00Z,1,N\n2024-01-01T06:00Z,1,invalid\n";
        let q: Vec<_> = read_mapped_csv(text, &map)
            .unwrap()
            .iter()
            .map(|r| (r.quality, r.status))
            .collect();
        assert_eq!(
            q,
            vec![
                (Quality::Measured, IntervalStatus::EMPTY),
                (Quality::Estimated, IntervalStatus::ESTIMATED),
                (Quality::Estimated, IntervalStatus::ESTIMATED),
                (Quality::Measured, IntervalStatus::EMPTY),
                (Quality::Edited, IntervalStatus::EDITED),
                (Quality::Missing, IntervalStatus::MISSING),
                (Quality::Invalid, IntervalStatus::INVALID),
            ]
        );
        assert_eq!(
            err("T,V,Q\n2024-01-01T00:00Z,1,ok\n", &map),
            "line 2: column \"Q\" value \"ok\" is not a quality (measured, estimated, edited, invalid, missing, a NEM12 method A/E/S/F/N, or Yes/No); give quality.map"
        );
        map.quality = Some(QualityColumn {
            column: ColumnRef::Name("Q".into()),
            map: [("ok", "measured"), ("est", "estimated"), ("", "measured")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        });
        let rows = read_mapped_csv(
            "T,V,Q\n2024-01-01T00:00Z,1,ok\n2024-01-01T01:00Z,1,est\n2024-01-01T02:00Z,1,\n",
            &map,
        )
        .unwrap();
        assert_eq!(rows[1].quality, Quality::Estimated);
        assert_eq!(rows[2].quality, Quality::Measured);
        assert_eq!(
            err("T,V,Q\n2024-01-01T00:00Z,1,A\n", &map),
            "line 2: column \"Q\" value \"A\" is not in quality.map"
        );
    }

    #[test]
    fn london_clock_changes() {
        let mut map = long(col("Time"), &[("kW", "kW")]);
        map.time_zone = "Europe/London".into();
        // Half-hourly across the repeated hour 01:00-02:00 of 2024-10-27.
        let text = "Time,kW\n2024-10-27 00:30,1\n2024-10-27 01:00,2\n2024-10-27 01:30,3\n2024-10-27 01:00,4\n2024-10-27 01:30,5\n2024-10-27 02:00,6\n";
        let rows = read_mapped_csv(text, &map).unwrap();
        let starts: Vec<_> = rows.iter().map(|r| r.start).collect();
        assert_eq!(
            starts,
            [
                "2024-10-26T23:30:00Z",
                "2024-10-27T00:00:00Z",
                "2024-10-27T00:30:00Z",
                "2024-10-27T01:00:00Z",
                "2024-10-27T01:30:00Z",
                "2024-10-27T02:00:00Z"
            ]
            .map(t)
        );
        assert!(rows.iter().all(|r| r.seconds == 1800));
        // Seen once only, a repeated local time is the earlier occurrence (BST).
        let once = "Time,kW\n2024-10-27 01:00,2\n2024-10-27 01:30,3\n";
        assert_eq!(
            read_mapped_csv(once, &map).unwrap()[0].start,
            t("2024-10-27T00:00:00Z")
        );
        // 01:30 on 2024-03-31 does not exist.
        let gap = "Time,kW\n2024-03-31 00:30,1\n2024-03-31 01:30,2\n";
        assert_eq!(
            err(gap, &map),
            "line 3: column \"Time\" value \"2024-03-31 01:30\" does not exist in Europe/London (the clocks go forward then)"
        );
        // Stamps with an offset are absolute: the zone does not apply.
        let abs = "Time,kW\n2024-03-31T01:30:00+00:00,1\n2024-03-31T03:00:00+01:00,2\n";
        let rows = read_mapped_csv(abs, &map).unwrap();
        assert_eq!(rows[0].start, t("2024-03-31T01:30:00Z"));
        assert_eq!(rows[1].start, t("2024-03-31T02:00:00Z"));
        assert_eq!(rows[0].seconds, 1800);
    }

    #[test]
    fn mapping_errors_name_the_key() {
        let text = "Date,Time,Import\n2024-01-01,00:00,1\n";
        let dt = TimeColumns::DateAndTime {
            date: ColumnRef::Name("Date".into()),
            time: ColumnRef::Name("Time".into()),
        };
        let good = long(dt.clone(), &[("Import", "kWh")]);
        let mut with_iv = good.clone();
        with_iv.interval_minutes = Some(60);
        assert!(read_mapped_csv(text, &with_iv).is_ok());
        let cases: Vec<(CsvMapping, &str)> = vec![
            (
                long(dt.clone(), &[("kWh", "kWh")]),
                "line 1: values[1].column: no column \"kWh\" in the header (columns: Date, Time, Import)",
            ),
            (
                {
                    let mut m = good.clone();
                    m.values[0].column = ColumnRef::Index(9);
                    m
                },
                "line 1: values[1].column: column 9, but the header has 3 columns",
            ),
            (
                {
                    let mut m = good.clone();
                    m.values[0].channel = "1.8".into();
                    m.values.push(ValueColumn {
                        channel: "9.x.0".into(),
                        ..m.values[0].clone()
                    });
                    m
                },
                "line 0: values[2].channel: invalid OBIS code \"9.x.0\": group is not a number 0-255",
            ),
            (
                long(dt.clone(), &[("Import", "therm")]),
                "line 0: values[1].unit: unknown unit \"therm\" (known: Wh, kWh, MWh, varh, kvarh, VAh, W, kW, var, VA, V, A, Hz, J, kJ, MJ, GJ …)",
            ),
            (
                {
                    let mut m = good.clone();
                    m.time_zone = "Europe/Londn".into();
                    m
                },
                "line 0: time_zone: unknown time zone \"Europe/Londn\" (give an IANA name such as \"Europe/London\", or an offset such as \"+10:00\")",
            ),
            (
                long(dt.clone(), &[]),
                "line 0: values: no value columns: give [[values]] (one row per interval) or [wide] (one row per day)",
            ),
            (
                {
                    let mut m = good.clone();
                    m.time = None;
                    m
                },
                "line 0: time: missing: give time = { column = … } or time = { date = …, time = … }",
            ),
            (
                {
                    let mut m = good.clone();
                    m.meter = Source::Column(ColumnRef::Name("MPAN".into()));
                    m
                },
                "line 1: meter.column: no column \"MPAN\" in the header (columns: Date, Time, Import)",
            ),
            (
                {
                    let mut m = good.clone();
                    m.meter = Source::Fixed(" ".into());
                    m
                },
                "line 0: meter.fixed: empty meter name",
            ),
            (
                {
                    let mut m = good.clone();
                    m.values[0].multiplier = Some("x2".into());
                    m
                },
                "line 0: values[1].multiplier: \"x2\" is not a decimal number",
            ),
            (
                {
                    let mut m = good.clone();
                    m.interval_minutes = Some(7);
                    m
                },
                "line 0: interval_minutes: 7 does not divide a day (1440 minutes)",
            ),
            (
                {
                    let mut m = good.clone();
                    m.time_format = Some("%Y-%m-%d".into());
                    m
                },
                "line 0: time_format: \"%Y-%m-%d\" holds no time of day (such as %H:%M)",
            ),
            (
                {
                    let mut m = good.clone();
                    m.time_format = Some("%Y-%Q".into());
                    m
                },
                "line 0: time_format: \"%Y-%Q\" is not a valid strftime format",
            ),
            (
                {
                    let mut m = good.clone();
                    m.delimiter = '§';
                    m
                },
                "line 0: delimiter: '§' is not one ASCII character (other than a quote or a line end)",
            ),
            (
                {
                    let mut m = good.clone();
                    m.header = false;
                    m
                },
                "line 0: meter.column: column \"Date\" is named, but header = false: give its number"
                    .replace("meter.column", "time.date")
                    .leak(),
            ),
            (
                {
                    let mut m = good.clone();
                    m.quality = Some(QualityColumn {
                        column: ColumnRef::Index(2),
                        map: [("x".to_string(), "good".to_string())].into(),
                    });
                    m
                },
                "line 0: quality.map[\"x\"]: \"good\" is not a quality (measured, estimated, edited, invalid, missing)",
            ),
            (
                {
                    let mut m = good.clone();
                    m.wide = Some(Wide {
                        first_value_column: ColumnRef::Index(3),
                        count: None,
                        channel: "1.8.0".into(),
                        unit: "kWh".into(),
                        date_column: ColumnRef::Index(1),
                        date_format: "%Y-%m-%d".into(),
                    });
                    m
                },
                "line 0: wide: cannot be combined with [[values]]",
            ),
            (
                {
                    let mut m = good.clone();
                    m.values[0].column = ColumnRef::Index(0);
                    m
                },
                "line 0: values[1].column: column numbers count from 1",
            ),
        ];
        for (map, want) in cases {
            assert_eq!(err(text, &map), want);
        }
        // Duplicate header names need a number; names match ignoring case when unambiguous.
        let dup = "Date,Time,kWh,kWh\n2024-01-01,00:00,1,2\n";
        let m = long(dt.clone(), &[("kWh", "kWh")]);
        assert_eq!(
            err(dup, &m),
            "line 1: values[1].column: the header has 2 columns named \"kWh\": give its number"
        );
        let mut m = long(dt.clone(), &[("IMPORT", "kWh")]);
        m.interval_minutes = Some(30);
        assert_eq!(read_mapped_csv(text, &m).unwrap().len(), 1);
        // Mapping errors come before data errors, and before any row is read.
        let broken = "Date,Time,Import\nnot,a,row\n";
        assert!(err(broken, &long(dt, &[("kWh", "kWh")])).contains("no column \"kWh\""));
        // No header line at all.
        assert_eq!(err("", &with_iv), "line 0: empty file: no header line");
    }

    #[test]
    fn data_errors_name_the_line() {
        let mut map = long(col("T"), &[("kWh", "kWh")]);
        map.interval_minutes = Some(30);
        map.meter = Source::Column(ColumnRef::Index(1));
        let text = "M,T,kWh\nA,2024-01-01 00:00,1\nA,2024-01-01 00:30,1,2x\n";
        assert_eq!(read_mapped_csv(text, &map).unwrap().len(), 2);
        let text = "M,T,kWh\nA,2024-01-01 00:00,1\n\nA,2024-01-01 00:30,\"1,2x\"\n";
        assert_eq!(
            err(text, &map),
            "line 4: column \"kWh\" value \"1,2x\" is not a decimal number"
        );
        for ending in ["\r\n", "\r"] {
            assert_eq!(
                err(&text.replace('\n', ending), &map),
                "line 4: column \"kWh\" value \"1,2x\" is not a decimal number"
            );
        }
        let text = "M,T,kWh\nA,2024-01-01 00:00\n";
        assert_eq!(
            err(text, &map),
            "line 2: the row has 2 fields, so column \"kWh\" (field 3) is missing"
        );
        let text = "M,T,kWh\nA,01/01/2024 00:00,1\n";
        assert_eq!(
            err(text, &map),
            "line 2: column \"T\" value \"01/01/2024 00:00\" is not an ISO 8601 time (such as 2024-03-05T00:15:00Z or 2024-03-05 00:15)"
        );
        map.time_format = Some("%d/%m/%Y %H:%M".into());
        let text = "M,T,kWh\nA,31/02/2024 00:00,1\n";
        assert_eq!(
            err(text, &map),
            "line 2: column \"T\" value \"31/02/2024 00:00\" is not a time in the format \"%d/%m/%Y %H:%M\""
        );
        let text = "M,T,kWh\nA,01/01/2024 00:00,99999999999999999999\n";
        assert_eq!(
            err(text, &map),
            "line 2: column \"kWh\" value \"99999999999999999999\" has too many digits to keep exactly"
        );
        map.values[0].multiplier = Some("1000000000000".into());
        let text = "M,T,kWh\nA,01/01/2024 00:00,99999999\n";
        assert_eq!(
            err(text, &map),
            "line 2: column \"kWh\" value \"99999999\" is out of range after the unit and multiplier"
        );
    }

    #[test]
    fn end_of_day_24() {
        let mut map = long(col("T"), &[("V", "Wh")]);
        map.stamp = Stamp::End;
        let text = "T,V\n2024-03-05 23:00,1\n2024-03-05 24:00,2\n";
        let rows = read_mapped_csv(text, &map).unwrap();
        assert_eq!(rows[1].start, t("2024-03-05T23:00:00Z"));
        assert_eq!(rows[1].seconds, 3600);
        map.time_format = Some("%d/%m/%Y %H:%M:%S".into());
        let text = "T,V\n05/03/2024 23:00:00,1\n05/03/2024 24:00:00,2\n";
        let rows = read_mapped_csv(text, &map).unwrap();
        assert_eq!(rows[1].start, t("2024-03-05T23:00:00Z"));
        let text = "T,V\n05/03/2024 23:00:00,1\n05/03/2024 24:00:30,2\n";
        assert!(err(text, &map).starts_with("line 3: column \"T\" value \"05/03/2024 24:00:30\""));
        map.end_of_day_24 = false;
        let text = "T,V\n05/03/2024 23:00:00,1\n05/03/2024 24:00:00,2\n";
        assert!(err(text, &map).starts_with("line 3:"));
    }

    #[test]
    fn stamps_without_a_year() {
        let mut map = long(col("Date/Time"), &[("E", "kWh")]);
        map.time_format = Some("%m/%d %H:%M:%S".into());
        map.stamp = Stamp::End;
        let text = "Date/Time,E\n 12/31  23:00:00,1\n 12/31  24:00:00,2\n 01/01  01:00:00,3\n";
        assert_eq!(
            err(text, &map),
            "line 2: column \"Date/Time\" value \"12/31  23:00:00\" has no year: give year in the mapping"
        );
        map.year = Some(2019);
        let rows = read_mapped_csv(text, &map).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.start).collect::<Vec<_>>(),
            [
                "2019-12-31T22:00:00Z",
                "2019-12-31T23:00:00Z",
                "2020-01-01T00:00:00Z"
            ]
            .map(t)
        );
    }

    #[test]
    fn extreme_dates_are_errors_not_panics() {
        let mut map = long(col("T"), &[("V", "Wh")]);
        map.time_zone = "Europe/London".into();
        map.stamp = Stamp::End;
        // 10 000 years apart: no interval length to derive, but no panic either.
        let text = "T,V\n0000-01-01 00:00,1\n9999-12-31 24:00,1\n";
        assert!(err(text, &map).starts_with("line 3: cannot derive the interval length"));
        map.time_format = Some("%Y-%m-%d %H:%M".into());
        for y in ["+262143", "-262144", "+262142", "-262143"] {
            let text = format!("T,V\n{y}-12-31 23:00,1\n{y}-12-31 24:00,1\n");
            let _ = read_mapped_csv(&text, &map);
        }
        map.interval_minutes = Some(60);
        let text = "T,V\n-262144-01-01 00:00,1\n";
        assert!(read_mapped_csv(text, &map).is_err());
    }

    #[test]
    fn joules_and_multipliers() {
        let mut map = long(col("T"), &[("J", "J"), ("kJ", "kJ"), ("Wh", "Wh")]);
        map.interval_minutes = Some(60);
        map.values[2].multiplier = Some("0.001".into());
        let text = "T,J,kJ,Wh\n2024-01-01T00:00Z,3600,1.5,1500\n2024-01-01T01:00Z,1,-0.001,-7\n2024-01-01T02:00Z,1506120.7430646758,0,1e3\n";
        let rows = read_mapped_csv(text, &map).unwrap();
        let v: Vec<_> = rows.iter().map(|r| (r.value, r.scale, r.unit)).collect();
        assert_eq!(
            v,
            vec![
                (1_000_000, -6, Unit::WattHour),
                (416_667, -6, Unit::WattHour),
                (1500, -3, Unit::WattHour),
                (278, -6, Unit::WattHour),
                (-278, -6, Unit::WattHour),
                (-7, -3, Unit::WattHour),
                (418_366_873, -6, Unit::WattHour),
                (0, -6, Unit::WattHour),
                (1, 0, Unit::WattHour),
            ]
        );
        assert_eq!(joule_to_micro_wh(9, -40), Some(0));
        assert_eq!(joule_to_micro_wh(1, 30), None);
        assert_eq!(joule_to_micro_wh(-18, -3), Some(-5));
    }

    #[test]
    fn numbers_are_exact() {
        let p = |s| parse_number(s, false);
        assert_eq!(p("0.5"), Ok((5, -1)));
        assert_eq!(p("1.50"), Ok((150, -2)));
        assert_eq!(p("-0.001"), Ok((-1, -3)));
        assert_eq!(p("+12"), Ok((12, 0)));
        assert_eq!(p(".5"), Ok((5, -1)));
        assert_eq!(p("1."), Ok((1, 0)));
        assert_eq!(
            p("0.000039220230323779367"),
            Ok((39_220_230_323_779_367, -21))
        );
        assert_eq!(p("0.50000000000000000000000"), Ok((5, -1)));
        assert_eq!(p("100000000000000000000000"), Ok((1, 23)));
        assert_eq!(p("1.5E-05"), Ok((15, -6)));
        assert_eq!(p("2e3"), Ok((2, 3)));
        assert_eq!(p("0.000"), Ok((0, -3)));
        assert_eq!(parse_number("1,25", true), Ok((125, -2)));
        for bad in [
            "", "-", ".", "1.2.3", "1,5", "e5", "1e", "1e+", "--1", "1 000", "NaN", "0x10",
        ] {
            assert_eq!(p(bad), Err(NumErr::Syntax), "{bad:?}");
        }
        assert_eq!(p("12345678901234567891"), Err(NumErr::TooLong));
        assert_eq!(p("1e999"), Err(NumErr::TooLong));
    }

    #[test]
    fn quotes_empty_rows_bom_and_skipped_lines() {
        let mut map = long(col("T"), &[("V", "Wh")]);
        map.meter = Source::Column(ColumnRef::Name("Meter".into()));
        map.interval_minutes = Some(15);
        map.skip_lines = 2;
        let text = "\u{feff}Export from \"portal\nCreated 2024-01-02\nMeter,T,V\n\"A, \"\"north\"\"\",2024-01-01T00:00Z,1\n,,\n\n\"B\nC\",2024-01-01T00:00Z,2\nD,2024-01-01T00:00Z,x\n";
        assert_eq!(
            err(text, &map),
            "line 9: column \"V\" value \"x\" is not a decimal number"
        );
        let rows = read_mapped_csv(text.trim_end_matches("D,2024-01-01T00:00Z,x\n"), &map).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(&*rows[0].meter, "A, \"north\"");
        assert_eq!(&*rows[1].meter, "B\nC");
        // No header: columns by number, checked against the first row.
        map.header = false;
        map.skip_lines = 0;
        map.meter = Source::Column(ColumnRef::Index(1));
        map.time = Some(TimeColumns::Column(ColumnRef::Index(2)));
        map.values[0].column = ColumnRef::Index(3);
        let rows = read_mapped_csv("A,2024-01-01T00:00Z,1\nA,2024-01-01T00:15Z,2\n", &map).unwrap();
        assert_eq!(rows.len(), 2);
        map.values[0].column = ColumnRef::Index(4);
        assert_eq!(
            err("\nA,2024-01-01T00:00Z,1\n", &map),
            "line 2: values[1].column: column 4, but the first row has 3 columns"
        );
        assert_eq!(read_mapped_csv("", &map).unwrap(), vec![]);
    }

    /// A wide file of hourly columns for a few days in Melbourne.
    fn melbourne_wide(days: &[(&str, [&str; 24])]) -> String {
        let mut s = String::from("NMI,DATE,Q");
        for h in 0..24 {
            s.push_str(&format!(",{h:02}:00 - {:02}:00", (h + 1) % 24));
        }
        s.push('\n');
        for (d, v) in days {
            s.push_str(&format!("6001,{d},No,{}\n", v.join(",")));
        }
        s
    }

    fn wide_map() -> CsvMapping {
        CsvMapping {
            time_zone: "Australia/Melbourne".into(),
            meter: Source::Column(ColumnRef::Name("NMI".into())),
            wide: Some(Wide {
                first_value_column: ColumnRef::Index(4),
                count: None,
                channel: "1-1:1.29.0".into(),
                unit: "kWh".into(),
                date_column: ColumnRef::Name("DATE".into()),
                date_format: "%d/%m/%Y".into(),
            }),
            quality: Some(QualityColumn {
                column: ColumnRef::Name("Q".into()),
                map: BTreeMap::new(),
            }),
            ..CsvMapping::default()
        }
    }

    #[test]
    fn wide_days_across_melbourne_clock_changes() {
        let ones = ["1"; 24];
        let mut spring = ones;
        spring[2] = "0"; // 02:00 - 03:00 does not exist on 2019-10-06
        let text = melbourne_wide(&[
            ("5/10/2019", ones),
            ("6/10/2019", spring),
            ("5/4/2020", ones),
        ]);
        let map = wide_map();
        let rows = read_mapped_csv(&text, &map).unwrap();
        assert_eq!(rows.len(), 24 + 23 + 24);
        assert!(
            rows.iter()
                .all(|r| r.seconds == 3600 && r.value == 1 && r.scale == 3)
        );
        assert_eq!(rows[0].start, t("2019-10-04T14:00:00Z")); // AEST, +10
        let spring_rows = &rows[24..47];
        assert_eq!(spring_rows[0].start, t("2019-10-05T14:00:00Z"));
        assert_eq!(spring_rows[1].start, t("2019-10-05T15:00:00Z"));
        // 03:00 AEDT (+11) follows 01:00 AEST directly.
        assert_eq!(spring_rows[2].start, t("2019-10-05T16:00:00Z"));
        assert_eq!(spring_rows[22].start, t("2019-10-06T12:00:00Z"));
        // 2020-04-05: 03:00 AEDT goes back to 02:00 AEST; the column 02:00 - 03:00 is the first
        // occurrence (AEDT), and the second occurrence of that hour has no value.
        let autumn = &rows[47..];
        let starts: Vec<_> = autumn[1..4].iter().map(|r| r.start).collect();
        assert_eq!(
            starts,
            [
                "2020-04-04T14:00:00Z",
                "2020-04-04T15:00:00Z",
                "2020-04-04T17:00:00Z"
            ]
            .map(t)
        );
        assert_eq!(autumn[23].start, t("2020-04-05T13:00:00Z"));
        // A value in the hour that does not exist is refused.
        let mut bad = ones;
        bad[2] = "0.5";
        let text = melbourne_wide(&[("6/10/2019", bad)]);
        assert_eq!(
            err(&text, &map),
            "line 2: column \"02:00 - 03:00\" (2019-10-06 02:00) does not exist in Australia/Melbourne (the clocks go forward then) but holds \"0.5\"; a file in standard time all year needs a fixed time_zone such as \"+10:00\""
        );
        // … unless the file is read as standard time all year.
        let mut fixed = map.clone();
        fixed.time_zone = "+10:00".into();
        let rows = read_mapped_csv(&text, &fixed).unwrap();
        assert_eq!(rows.len(), 24);
        assert_eq!(rows[2].start, t("2019-10-05T16:00:00Z"));
    }

    #[test]
    fn wide_layout_errors_and_options() {
        let ones = ["1"; 24];
        let text = melbourne_wide(&[("1/1/2020", ones)]);
        let mut map = wide_map();
        map.wide.as_mut().unwrap().count = Some(25);
        assert_eq!(
            err(&text, &map),
            "line 1: wide.count: 25 columns from column 4 run past the 27 columns there are"
        );
        map.wide.as_mut().unwrap().count = Some(23);
        assert_eq!(
            err(&text, &map),
            "line 1: wide.count: 23 value columns do not divide a day evenly: give interval_minutes or wide.count"
        );
        map.interval_minutes = Some(60);
        assert_eq!(read_mapped_csv(&text, &map).unwrap().len(), 23);
        map.interval_minutes = Some(120);
        assert_eq!(
            err(&text, &map),
            "line 1: wide.count: 23 columns of 120 minutes do not fit in a day"
        );
        let mut map = wide_map();
        map.stamp = Stamp::End;
        assert!(err(&text, &map).starts_with("line 0: stamp: not used with [wide]"));
        let mut map = wide_map();
        map.time = Some(col("DATE"));
        assert!(err(&text, &map).starts_with("line 0: time: not used with [wide]"));
        let map = wide_map();
        let short = text.replace(",1\n", "\n");
        assert_eq!(
            err(&short, &map),
            "line 2: the row has 26 fields, but the day's 24 values need 27"
        );
        let bad_date = text.replace("1/1/2020", "2020-01-01");
        assert_eq!(
            err(&bad_date, &map),
            "line 2: column \"DATE\" value \"2020-01-01\" is not a date in the format \"%d/%m/%Y\""
        );
        let est = text.replace(",No,", ",Yes,");
        let rows = read_mapped_csv(&est, &map).unwrap();
        assert!(rows.iter().all(|r| r.quality == Quality::Estimated));
        // Empty cells are absent intervals; a trailing delimiter does not add a column.
        let holes = text.replacen(",1,1,", ",,1,", 1).replace('\n', ",\n");
        let rows = read_mapped_csv(&holes, &map).unwrap();
        assert_eq!(rows.len(), 23);
    }

    fn shared(path: &str) -> Option<String> {
        let full = format!("{}/../../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"));
        match std::fs::read_to_string(&full) {
            Ok(t) => Some(t),
            Err(_) => {
                println!("skipping: {full} is not there");
                None
            }
        }
    }

    /// Sum of rows in µWh (scale -6 Wh), exactly.
    fn micro_wh(rows: &[IntervalRow]) -> i128 {
        rows.iter()
            .map(|r| {
                assert_eq!(r.unit, Unit::WattHour);
                i128::from(r.value) * 10i128.pow(u32::try_from(i32::from(r.scale) + 6).unwrap())
            })
            .sum()
    }

    #[test]
    fn household_meter03_wide_retailer_export() {
        let Some(text) = shared("household-30min/meter03.csv") else {
            return;
        };
        let map = CsvMapping::from_toml(
            r#"
time_zone = "Australia/Melbourne"
meter = { column = "NMI" }
[wide]
first_value_column = "00:00 - 00:30"
channel = "1-1:1.29.0"
unit = "kWh"
date_column = "DATE"
date_format = "%d/%m/%y"
[quality]
column = "ESTIMATED?"
"#,
        )
        .unwrap();
        let rows = read_mapped_csv(&text, &map).unwrap();
        // 465 days of 48 half hours, less the two that do not exist on 2019-10-06 (zero in the
        // file) when Victoria's clocks go forward.
        assert_eq!(rows.len(), 465 * 48 - 2);
        assert_eq!(micro_wh(&rows), 4_304_627 * 1_000_000);
        assert!(rows.iter().all(|r| &*r.meter == "6001260509"
            && r.seconds == 1800
            && r.quality == Quality::Measured
            && r.channel == ObisCode::new(1, 1, 1, 29, 0, 255)));
        assert!(rows.iter().all(|r| Arc::ptr_eq(&r.meter, &rows[0].meter)));
        assert_eq!(rows[0].start, t("2019-06-21T14:00:00Z"));
        assert_eq!(rows[0].value, 7); // 0.7 kWh = 7 × 10^2 Wh
        assert_eq!(rows[0].scale, 2);
        let last = rows.last().unwrap();
        assert_eq!(last.start, t("2020-09-28T13:30:00Z"));
        // Strictly increasing, 30 minutes apart except across the clock changes.
        let mut gaps = Vec::new();
        for w in rows.windows(2) {
            let d = (w[1].start - w[0].start).num_minutes();
            assert!(d > 0);
            if d != 30 {
                gaps.push((w[0].start, d));
            }
        }
        // The skipped hour of 2019-10-06 is no gap in UTC; the repeated hour of 2020-04-05 is:
        // the file has room for its first occurrence only.
        assert_eq!(gaps, vec![(t("2020-04-04T15:30:00Z"), 90)]);
    }

    #[test]
    fn urdb_hourly_joules_without_a_year() {
        let Some(text) = shared("urdb-bills/PV_None.csv") else {
            return;
        };
        let column = "ELECTRICITY:UNIT_1 [J](Hourly)";
        let map = CsvMapping {
            meter: Source::Fixed("denver".into()),
            time: Some(col("Date/Time")),
            time_format: Some("%m/%d %H:%M:%S".into()),
            year: Some(2019),
            // Simulation output: standard time all year.
            time_zone: "-07:00".into(),
            stamp: Stamp::End,
            values: vec![ValueColumn {
                column: ColumnRef::Name(column.into()),
                channel: "1.8.0".into(),
                unit: "J".into(),
                multiplier: None,
            }],
            ..CsvMapping::default()
        };
        let rows = read_mapped_csv(&text, &map).unwrap();
        assert_eq!(rows.len(), 8760);
        assert!(rows.iter().all(|r| r.seconds == 3600 && r.scale == -6));
        assert_eq!(rows[0].start, t("2019-01-01T00:00:00-07:00"));
        let last = rows.last().unwrap();
        assert_eq!(
            last.start + Duration::seconds(3600),
            t("2020-01-01T00:00:00-07:00")
        );
        for w in rows.windows(2) {
            assert_eq!((w[1].start - w[0].start).num_seconds(), 3600);
        }
        // Independently: a naive float sum of the column, in Wh.
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').map(str::trim).collect();
        let k = header.iter().position(|h| *h == column).unwrap();
        let naive: f64 = lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split(',').nth(k).unwrap().trim().parse::<f64>().unwrap())
            .sum::<f64>()
            / 3600.0;
        let ours = micro_wh(&rows) as f64 / 1e6;
        assert!(((ours - naive) / naive).abs() < 1e-6, "{ours} vs {naive}");
    }

    #[test]
    fn urdb_hourly_kwh_sum_is_exact() {
        let Some(text) = shared("urdb-bills/data.csv") else {
            return;
        };
        let map = CsvMapping::from_toml(
            r#"
time_format = "%m/%d %H:%M:%S"
year = 2019
time_zone = "UTC-07:00"
stamp = "end"
interval_minutes = 60
meter = { fixed = "denver" }
time = { column = 1 }
[[values]]
column = "Electricity [kWh]"
channel = "1.8.0"
unit = "kWh"
"#,
        )
        .unwrap();
        let rows = read_mapped_csv(&text, &map).unwrap();
        assert_eq!(rows.len(), 8760);
        assert_eq!(rows[8759].start, t("2019-12-31T23:00:00-07:00"));
        // Independently, with the model's own exact parser.
        let want: i128 = text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (raw, scale) =
                    metermaster_model::Quantity::parse_decimal(l.split(',').nth(1).unwrap())
                        .unwrap();
                i128::from(raw) * 10i128.pow(u32::try_from(i32::from(scale) + 9).unwrap())
            })
            .sum();
        assert_eq!(micro_wh(&rows), want);
    }

    proptest! {
        #[test]
        fn never_panics(s in "(T,V,Q,M\n)?[ -~\n\t;\u{a0}é]{0,300}") {
            let mut long = long(col("T"), &[("V", "J")]);
            long.quality = Some(QualityColumn { column: ColumnRef::Name("Q".into()), map: BTreeMap::new() });
            let _ = read_mapped_csv(&s, &long);
            long.time_format = Some("%m/%d %H:%M".into());
            long.year = Some(2019);
            long.time_zone = "Europe/London".into();
            long.stamp = Stamp::End;
            long.meter = Source::Column(ColumnRef::Name("M".into()));
            let _ = read_mapped_csv(&s, &long);
            long.header = false;
            long.delimiter = ';';
            long.decimal_comma = true;
            long.meter = Source::Column(ColumnRef::Index(2));
            long.time = Some(TimeColumns::DateAndTime { date: ColumnRef::Index(1), time: ColumnRef::Index(3) });
            long.values[0].column = ColumnRef::Index(2);
            long.quality = None;
            let _ = read_mapped_csv(&s, &long);
            let mut wide = wide_map();
            wide.header = false;
            wide.meter = Source::Column(ColumnRef::Index(1));
            wide.quality = None;
            wide.wide.as_mut().unwrap().date_column = ColumnRef::Index(2);
            wide.wide.as_mut().unwrap().first_value_column = ColumnRef::Index(2);
            let _ = read_mapped_csv(&s, &wide);
            wide.wide.as_mut().unwrap().date_format = "%d/%m".into();
            wide.year = Some(2024);
            wide.interval_minutes = Some(1);
            let _ = read_mapped_csv(&s, &wide);
        }

        #[test]
        fn numbers_never_panic(s in "[-+0-9.,eE]{0,40}") {
            let _ = parse_number(&s, false);
            let _ = parse_number(&s, true);
        }

        #[test]
        fn stamps_never_panic(s in "[0-9 :TZ+-]{0,30}") {
            let _ = parse_iso(&s, true);
            let items = items("%m/%d %H:%M", "t").unwrap();
            let mut ys = YearState { base: Some(2019), bump: 0, last: None };
            let _ = parse_with(&items, &s, true, &mut ys, &mut String::new());
        }
    }
}
