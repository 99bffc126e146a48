//! What both backends share: turning readings into interval rows, grouping interval rows into
//! day rows, and the canonical stored form of a reading.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use metermaster_model::{IntervalStatus, ObisCode, Quantity, Reading, Unit};
use sha2::{Digest, Sha256};

use crate::day::{Day, DayError, Quality};
use crate::{IntervalRow, Note, Point, Result, Series, StoreError};

/// The interval rows a reading's load profile carries.
pub fn reading_intervals(r: &Reading) -> Vec<IntervalRow> {
    let Some(lp) = &r.load_profile else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(lp.intervals.len() * lp.channels.len());
    let serial: std::sync::Arc<str> = r.meter.serial.as_str().into();
    for iv in &lp.intervals {
        for (ch, v) in lp.channels.iter().zip(&iv.values) {
            out.push(IntervalRow {
                meter: serial.clone(),
                channel: ch.obis,
                start: iv.start,
                seconds: iv.seconds,
                value: *v,
                scale: ch.scale,
                unit: ch.unit,
                quality: Quality::of_status(iv.status),
                status: iv.status,
            });
        }
    }
    out
}

/// A day row's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayKey {
    pub meter: String,
    pub channel: String,
    pub interval_s: u32,
    pub day: NaiveDate,
}

/// A day row to merge into the store, with its channel's unit and scale.
#[derive(Debug, Clone)]
pub struct DayRow {
    pub unit: Unit,
    pub scale: i8,
    pub day: Day,
}

/// Groups interval rows into day rows. Rows of one channel must agree on the unit; values are
/// kept at the finest scale any row of the channel has (files write varying decimals).
///
/// Rows usually come sorted by meter, channel and time: the day being filled is kept at hand
/// and only looked up in the map when the run changes, so grouping costs a few comparisons a
/// row.
pub fn group_days(rows: &[IntervalRow]) -> Result<BTreeMap<DayKey, DayRow>> {
    use std::collections::HashMap;
    let mut finest: HashMap<(&str, ObisCode), i8> = HashMap::new();
    let mut run: Option<(&str, ObisCode, i8)> = None;
    for r in rows {
        match &mut run {
            Some((m, c, s)) if *m == &*r.meter && *c == r.channel => *s = (*s).min(r.scale),
            _ => {
                if let Some((m, c, s)) = run {
                    let e = finest.entry((m, c)).or_insert(s);
                    *e = (*e).min(s);
                }
                run = Some((&r.meter, r.channel, r.scale));
            }
        }
    }
    if let Some((m, c, s)) = run {
        let e = finest.entry((m, c)).or_insert(s);
        *e = (*e).min(s);
    }

    let mut out: BTreeMap<DayKey, DayRow> = BTreeMap::new();
    // The day being filled: (meter, channel, interval, day number since the epoch) and its row.
    type Run<'a> = (&'a str, ObisCode, u32, i64);
    let mut cur: Option<(Run<'_>, DayKey, DayRow)> = None;
    for r in rows {
        let p = i64::from(r.seconds);
        if p == 0 || 86_400 % p != 0 {
            return Err(DayError::BadLength(r.seconds).into());
        }
        let secs = r.start.timestamp();
        if secs.rem_euclid(p) != 0 {
            return Err(DayError::OffGrid {
                start: r.start,
                interval_s: r.seconds,
            }
            .into());
        }
        let day_no = secs.div_euclid(86_400);
        let slot = (secs.rem_euclid(86_400) / p) as usize;
        let id = (&*r.meter, r.channel, r.seconds, day_no);
        if cur.as_ref().is_none_or(|(k, _, _)| *k != id) {
            if let Some((_, key, row)) = cur.take() {
                out.insert(key, row);
            }
            let day = r.start.date_naive();
            let key = DayKey {
                meter: r.meter.to_string(),
                channel: r.channel.to_string(),
                interval_s: r.seconds,
                day,
            };
            let row = match out.remove(&key) {
                Some(row) => row,
                None => DayRow {
                    unit: r.unit,
                    scale: finest
                        .get(&(&*r.meter, r.channel))
                        .copied()
                        .unwrap_or(r.scale),
                    day: Day::empty(day, r.seconds)?,
                },
            };
            cur = Some((id, key, row));
        }
        let Some((_, _, entry)) = cur.as_mut() else {
            continue;
        };
        let value = if r.scale == entry.scale && r.unit == entry.unit {
            r.value
        } else {
            rescale(r.value, r.scale, entry.scale, r.unit, entry.unit).ok_or_else(|| {
                StoreError::Channel {
                    meter: r.meter.to_string(),
                    channel: r.channel.to_string(),
                    what: format!(
                        "value {} {} at {} does not fit the channel's {} at scale {}",
                        Quantity::new(r.value, r.scale, r.unit),
                        r.start,
                        r.unit.symbol(),
                        entry.unit.symbol(),
                        entry.scale
                    ),
                }
            })?
        };
        entry.day.put(slot, value, r.quality, r.status.bits());
    }
    if let Some((_, key, row)) = cur {
        out.insert(key, row);
    }
    Ok(out)
}

/// A value at another scale, exactly, or `None` (different units, inexact, overflow).
pub fn rescale(value: i64, from: i8, to: i8, from_unit: Unit, to_unit: Unit) -> Option<i64> {
    if from_unit != to_unit {
        return None;
    }
    Quantity::new(value, from, from_unit).rescaled(to)
}

/// The canonical stored form of a reading (its .RES block) and that text's SHA-256: storing
/// the same reading twice is recognised by the hash.
pub fn canonical(r: &Reading) -> (String, String) {
    let text = metermaster_res::to_res(r);
    let hash = Sha256::digest(text.as_bytes());
    let hex = hash.iter().map(|b| format!("{b:02x}")).collect();
    (text, hex)
}

/// Parses a stored reading back.
pub fn from_canonical(id: i64, text: &str) -> Result<Reading> {
    let mut v = metermaster_res::from_res(text).map_err(|e| StoreError::Damaged {
        id,
        what: e.to_string(),
    })?;
    v.pop().ok_or(StoreError::Damaged {
        id,
        what: "empty".into(),
    })
}

/// An enum's serde word (`power_failure`), as the stores keep it.
pub(crate) fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Brings a new day row to the stored row's unit and scale, exactly, or says why not.
pub(crate) fn conform(key: &DayKey, row: &mut DayRow, unit: Unit, scale: i8) -> Result<()> {
    if row.unit == unit && row.scale == scale {
        return Ok(());
    }
    for k in 0..row.day.slots() {
        if row.day.quality[k] == crate::Quality::Missing {
            continue;
        }
        row.day.values[k] = rescale(row.day.values[k], row.scale, scale, row.unit, unit)
            .ok_or_else(|| StoreError::Channel {
                meter: key.meter.clone(),
                channel: key.channel.clone(),
                what: format!(
                    "stored in {} at scale {}, new data in {} at scale {} does not convert exactly",
                    unit.symbol(),
                    scale,
                    row.unit.symbol(),
                    row.scale
                ),
            })?;
    }
    row.unit = unit;
    row.scale = scale;
    Ok(())
}

/// Turns stored day rows into a series over `[from, to)`.
pub(crate) fn to_series(
    meter: &str,
    channel: ObisCode,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    days: Vec<(NaiveDate, u32, Unit, i8, Day)>,
) -> Result<Option<Series>> {
    let Some((_, interval_s, unit, _, _)) = days.first() else {
        return Ok(None);
    };
    let (interval_s, unit) = (*interval_s, *unit);
    // Days can be stored at different scales (each row keeps its own): the series takes the
    // finest, to which every value converts exactly. Other units or interval lengths under one
    // channel cannot make one series: said, not dropped.
    if let Some((day, i, u, _, _)) = days.iter().find(|d| d.1 != interval_s || d.2 != unit) {
        return Err(StoreError::Channel {
            meter: meter.to_string(),
            channel: channel.to_string(),
            what: format!(
                "stored days differ: {} s intervals in {} and, on {day}, {i} s in {}",
                interval_s,
                unit.symbol(),
                u.symbol()
            ),
        });
    }
    let scale = days.iter().map(|d| d.3).min().unwrap_or(0);
    let mut points = Vec::with_capacity(days.len() * 96);
    for (day, _, u, s, d) in &days {
        for k in 0..d.slots() {
            if d.quality[k] == crate::Quality::Missing {
                continue;
            }
            let start = d.slot_start(k);
            if start < from || start >= to {
                continue;
            }
            let value =
                rescale(d.values[k], *s, scale, *u, unit).ok_or_else(|| StoreError::Channel {
                    meter: meter.to_string(),
                    channel: channel.to_string(),
                    what: format!("a value of {day} does not fit at scale {scale}"),
                })?;
            points.push(Point {
                start,
                value,
                quality: d.quality[k],
                status: IntervalStatus::from_bits_truncate(d.status[k]),
            });
        }
    }
    points.sort_by_key(|p| p.start);
    Ok(Some(Series {
        meter: meter.to_string(),
        channel,
        unit,
        scale,
        interval_s,
        points,
        notes: Vec::new(),
    }))
}

/// Keeps the notes that describe a series' stored values (same start and quality), sorted.
pub(crate) fn attach_notes(series: &mut Series, notes: Vec<(DateTime<Utc>, Quality, Note)>) {
    let by_start: std::collections::HashMap<DateTime<Utc>, Quality> =
        series.points.iter().map(|p| (p.start, p.quality)).collect();
    let mut keep: Vec<Note> = notes
        .into_iter()
        .filter(|(t, q, _)| by_start.get(t) == Some(q))
        .map(|(_, _, n)| n)
        .collect();
    keep.sort_by_key(|n| n.start);
    series.notes = keep;
}
