//! Schema migrations: numbered, forward-only, applied when a store is opened, each in its own
//! transaction together with the new version number, so a store is always at one version.
//!
//! | version | what it does |
//! |---|---|
//! | 1 | the first schema (readings, meters, registers, events, programming records, load-profile days, interval notes, the file ledger, the audit log, users, groups, scheme versions) |
//! | 2 | one identity per meter: meters are keyed by their canonical id (zero padding taken off numeric serials), every other name a meter was seen under is kept in `meter_aliases`; meters that were stored twice under two names of one id are merged (readings, registers, events, programming records, load-profile days, notes, group), audit entries name the canonical id |
//! | 3 | paging: indexes on the audit log's meter and time |

use std::collections::HashMap;

use metermaster_model::canonical_meter_id;

use crate::Quality;
use crate::day::Day;

/// The migrations this build knows, by version, with what each does in a few words.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, "the first schema"),
    (2, "meter aliases: one canonical id per meter"),
    (3, "indexes for paged audit and reading lists"),
];

/// What must happen to one stored meter so that it is keyed by its canonical id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdFix {
    /// Its serial becomes the canonical id (no other meter has that id).
    Rename { id: i64, old: String, to: String },
    /// Another meter already has the canonical id: this one's data moves to it.
    Merge { gone: i64, old: String, keep: i64 },
}

/// The fixes that key every meter by its canonical id, from the meters' `(id, serial)` pairs.
/// Meters already keyed canonically keep their rows; among several names of one id, the meter
/// that has the canonical name (or else the oldest) is kept.
pub(crate) fn plan_canonical(meters: &[(i64, String)]) -> Vec<IdFix> {
    let mut by_id: HashMap<String, i64> = meters
        .iter()
        .filter(|(_, s)| canonical_meter_id(s) == *s)
        .map(|(id, s)| (s.clone(), *id))
        .collect();
    let mut sorted: Vec<&(i64, String)> = meters.iter().collect();
    sorted.sort_by_key(|(id, _)| *id);
    let mut out = Vec::new();
    for (id, serial) in sorted {
        let c = canonical_meter_id(serial);
        if c == *serial {
            continue;
        }
        match by_id.get(&c) {
            Some(&keep) => out.push(IdFix::Merge {
                gone: *id,
                old: serial.clone(),
                keep,
            }),
            None => {
                by_id.insert(c.clone(), *id);
                out.push(IdFix::Rename {
                    id: *id,
                    old: serial.clone(),
                    to: c,
                });
            }
        }
    }
    out
}

/// Merges a day of the meter that goes into the same day of the meter that stays: a slot takes
/// the other's value where it has none or one of lower quality. Both days are brought to the
/// finer of their two scales first (always exact); returns that scale, or `None` when the units
/// differ or a value would overflow.
pub(crate) fn merge_day(
    keep: &mut Day,
    keep_unit: metermaster_model::Unit,
    keep_scale: i8,
    other: &Day,
    other_unit: metermaster_model::Unit,
    other_scale: i8,
) -> Option<i8> {
    if keep_unit != other_unit {
        return None;
    }
    let scale = keep_scale.min(other_scale);
    let to = |v: i64, from: i8| crate::rows::rescale(v, from, scale, keep_unit, keep_unit);
    let mut merged = keep.clone();
    for k in 0..merged.slots() {
        if merged.quality[k] != Quality::Missing {
            merged.values[k] = to(merged.values[k], keep_scale)?;
        }
    }
    for k in 0..merged.slots().min(other.slots()) {
        let q = other.quality[k];
        if q == Quality::Missing || q <= merged.quality[k] {
            continue;
        }
        let v = to(other.values[k], other_scale)?;
        merged.put(k, v, q, other.status[k]);
    }
    *keep = merged;
    Some(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_renames_and_merges() {
        let meters = vec![
            (1, "0000000010000001".to_string()),
            (2, "0000000010000002".to_string()),
            (3, "10000001".to_string()),
            (4, "VBCD000022".to_string()),
            (5, "010000002".to_string()),
        ];
        assert_eq!(
            plan_canonical(&meters),
            vec![
                IdFix::Merge {
                    gone: 1,
                    old: "0000000010000001".into(),
                    keep: 3
                },
                IdFix::Rename {
                    id: 2,
                    old: "0000000010000002".into(),
                    to: "10000002".into()
                },
                IdFix::Merge {
                    gone: 5,
                    old: "010000002".into(),
                    keep: 2
                },
            ]
        );
        assert!(plan_canonical(&[(1, "10000001".into())]).is_empty());
    }

    #[test]
    fn merged_day_keeps_the_better_value() {
        let d = chrono::NaiveDate::from_ymd_opt(2024, 3, 5).unwrap();
        let mut keep = Day::empty(d, 1800).unwrap();
        let mut other = Day::empty(d, 1800).unwrap();
        keep.put(0, 100, Quality::Measured, 0);
        keep.put(1, 7, Quality::Estimated, 0);
        other.put(0, 999, Quality::Measured, 0);
        other.put(1, 200, Quality::Measured, 0);
        other.put(2, 300, Quality::Measured, 0);
        use metermaster_model::Unit;
        assert_eq!(
            merge_day(&mut keep, Unit::WattHour, 0, &other, Unit::WattHour, 0),
            Some(0)
        );
        assert_eq!(&keep.values[..3], &[100, 200, 300]);
        assert_eq!(keep.quality[1], Quality::Measured);
        // Another scale: both go to the finer one, exactly (200 mWh stays 200 mWh; 100 Wh is
        // 100,000 mWh).
        let mut keep2 = keep.clone();
        assert_eq!(
            merge_day(&mut keep2, Unit::WattHour, 0, &other, Unit::WattHour, -3),
            Some(-3)
        );
        assert_eq!(&keep2.values[..3], &[100_000, 200_000, 300_000]);
        // Other units: not merged, nothing changed.
        let mut keep3 = keep.clone();
        assert_eq!(
            merge_day(&mut keep3, Unit::WattHour, 0, &other, Unit::Watt, 0),
            None
        );
        assert_eq!(keep3.values, keep.values);
    }
}
