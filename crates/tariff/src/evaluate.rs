//! Applying a scheme to interval data as the meter would: which rate register each interval's
//! energy goes to (by the local time of the interval's start, with seasons, special days and
//! the zone's clock changes), energy per rate, and maximum demand per billing period.
//!
//! Speed comes from doing the date arithmetic once per local day, not once per interval: each
//! day profile is laid out once as a row of rate indices on the interval grid, and a day without
//! a clock change is one slice copy of its row. Only clock-change days (and offsets that are off
//! the grid) go interval by interval. Summing is then one pass over the values.
//!
//! An interval is attributed whole to the rate in force at its start: interval data cannot say
//! how the energy of an interval that a switch time cuts was split, so a scheme whose switch
//! times are on the interval grid (the usual case, and what validation of real schemes wants) is
//! evaluated exactly.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};

use crate::{BillingDay, DemandMode, DstMode, Scheme, Source, Zone};

/// Why a scheme could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("interval length {0} s does not divide a day")]
    Interval(u32),
    #[error("the scheme has no time zone")]
    NoZone,
    #[error("no day profile is in force on {0} (no season covers it)")]
    NoDayProfile(NaiveDate),
    #[error("rate {rate:?} of day profile {profile:?} is not a rate of the scheme")]
    UnknownRate { profile: String, rate: String },
    #[error("the scheme has more than 255 rates")]
    TooManyRates,
    #[error("time {0} is out of range")]
    Time(DateTime<Utc>),
    #[error(
        "maximum demand over {period} min cannot be computed from {interval} s intervals (they must divide it)"
    )]
    DemandPeriod { period: u32, interval: u32 },
}

/// The local wall-clock time the meter keeps at a UTC instant.
fn local(zone: &Zone, dst: DstMode, t: DateTime<Utc>) -> NaiveDateTime {
    match dst {
        DstMode::Zone => zone.to_local(t),
        DstMode::Standard => t.naive_utc() + zone.standard_offset_at(t),
    }
}

/// Which rate (index into `scheme.rates`) each of `n` intervals of `interval_s` seconds from
/// `start` goes to.
pub fn rate_table(
    scheme: &Scheme,
    start: DateTime<Utc>,
    interval_s: u32,
    n: usize,
) -> Result<Vec<u8>, EvalError> {
    if interval_s == 0 || 86_400 % interval_s != 0 {
        return Err(EvalError::Interval(interval_s));
    }
    if scheme.rates.len() > 255 {
        return Err(EvalError::TooManyRates);
    }
    let zone = scheme.time_zone.as_ref().ok_or(EvalError::NoZone)?;
    let dst = scheme.dst_mode();
    let per_day = (86_400 / interval_s) as usize;
    // Each day profile as a row of rate indices on the local interval grid.
    let mut rows: Vec<Vec<u8>> = Vec::with_capacity(scheme.day_profiles.len());
    for p in &scheme.day_profiles {
        let mut row = Vec::with_capacity(per_day);
        let mut sw = 0usize;
        let mut current: Option<u8> = None;
        for k in 0..per_day {
            let minute = (k as u32 * interval_s / 60) as u16;
            while sw < p.switches.len() && p.switches[sw].at.minutes() <= minute {
                let name = &p.switches[sw].rate;
                let idx = scheme
                    .rates
                    .iter()
                    .position(|r| &r.name == name)
                    .ok_or_else(|| EvalError::UnknownRate {
                        profile: p.name.clone(),
                        rate: name.clone(),
                    })?;
                current = Some(idx as u8);
                sw += 1;
            }
            row.push(current.unwrap_or(0));
        }
        rows.push(row);
    }
    let profile_row = |date: NaiveDate| -> Result<&Vec<u8>, EvalError> {
        let p = scheme
            .day_profile_on(date)
            .ok_or(EvalError::NoDayProfile(date))?;
        let i = scheme
            .day_profiles
            .iter()
            .position(|q| q.name == p.name)
            .ok_or(EvalError::NoDayProfile(date))?;
        rows.get(i).ok_or(EvalError::NoDayProfile(date))
    };
    let step = Duration::seconds(i64::from(interval_s));
    let mut out = Vec::with_capacity(n);
    let mut t = start;
    while out.len() < n {
        let l = local(zone, dst, t);
        let secs = i64::from(l.num_seconds_from_midnight());
        let on_grid = secs % i64::from(interval_s) == 0;
        let slot = (secs / i64::from(interval_s)) as usize;
        let row = profile_row(l.date())?;
        let left = (per_day - slot).min(n - out.len());
        // The whole rest of the local day at once when the offset does not change in it.
        let last = t + step * (left as i32 - 1);
        let same_offset = (local(zone, dst, last) - last.naive_utc()) == (l - t.naive_utc());
        if on_grid && same_offset {
            out.extend_from_slice(&row[slot..slot + left]);
            t = t
                .checked_add_signed(step * left as i32)
                .ok_or(EvalError::Time(t))?;
        } else {
            // A clock-change day or an offset off the grid: one interval at a time.
            let p = scheme
                .day_profile_on(l.date())
                .ok_or(EvalError::NoDayProfile(l.date()))?;
            let tod = crate::TimeOfDay::new(l.hour() as u8, l.minute() as u8)
                .unwrap_or(crate::TimeOfDay::MIDNIGHT);
            let name = p.rate_at(tod).unwrap_or("");
            let idx = scheme
                .rates
                .iter()
                .position(|r| r.name == name)
                .unwrap_or(0);
            out.push(idx as u8);
            t = t.checked_add_signed(step).ok_or(EvalError::Time(t))?;
        }
    }
    Ok(out)
}

/// A billing period's results.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeriodResult {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Energy per rate (same order as the scheme's rates), raw values at the input's scale;
    /// rates of another source than the profile's are 0.
    pub rates: Vec<i128>,
    /// The highest demand (W at the input's scale, i.e. energy per hour) and the end of its
    /// integration period, when the scheme has maximum demand on this source.
    pub max_demand: Option<(i128, DateTime<Utc>)>,
}

/// What a scheme makes of a profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evaluation {
    /// Energy per rate over the whole profile.
    pub rates: Vec<i128>,
    pub periods: Vec<PeriodResult>,
    /// The source the profile's values are (rates of other sources get nothing).
    pub source: Source,
}

/// Billing period boundaries (UTC) covering `[from, to)`: the scheme's billing day and time in
/// local time, else calendar months.
pub fn billing_boundaries(
    scheme: &Scheme,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, EvalError> {
    let zone = scheme.time_zone.as_ref().ok_or(EvalError::NoZone)?;
    let dst = scheme.dst_mode();
    let (day, minutes) = match &scheme.billing {
        Some(b) => (b.day, u32::from(b.time.minutes())),
        None => (BillingDay::DayOfMonth(1), 0),
    };
    let l0 = local(zone, dst, from);
    // Start one month before `from` and walk forward.
    let (mut y, mut m) = (l0.year(), l0.month());
    if m == 1 {
        y -= 1;
        m = 12;
    } else {
        m -= 1;
    }
    let mut out = Vec::new();
    for _ in 0..(12 * 200) {
        let d = match day {
            BillingDay::DayOfMonth(d) => NaiveDate::from_ymd_opt(y, m, u32::from(d)),
            BillingDay::EndOfMonth => NaiveDate::from_ymd_opt(y, m, 1)
                .and_then(|f| f.checked_add_months(chrono::Months::new(1)))
                .and_then(|f| f.pred_opt()),
        };
        if let Some(d) = d {
            let lt = d
                .and_hms_opt(0, 0, 0)
                .map(|x| x + Duration::minutes(i64::from(minutes)));
            if let Some(lt) = lt {
                let utc = to_utc(zone, dst, lt);
                if utc >= to {
                    out.push(utc);
                    break;
                }
                out.push(utc);
            }
        }
        if m == 12 {
            y += 1;
            m = 1;
        } else {
            m += 1;
        }
    }
    // Keep the last boundary at or before `from` and everything after.
    let first = out.iter().rposition(|b| *b <= from).unwrap_or(0);
    Ok(out.split_off(first))
}

/// The UTC instant of a local wall-clock time: the earlier one when it repeats, and when it
/// does not exist the time moved forward by the length of the gap (02:30 in a 02:00 → 03:00 gap
/// is 03:30, the instant 02:30 would be had the clocks not changed).
fn to_utc(zone: &Zone, dst: DstMode, l: NaiveDateTime) -> DateTime<Utc> {
    match dst {
        DstMode::Zone => zone.from_local(l).compatible(),
        DstMode::Standard => (l - zone.standard_offset_at(l.and_utc())).and_utc(),
    }
}

/// Applies a scheme to one channel of interval energy (`values[k]` raw, all at one scale, the
/// interval starting at `start + k × interval_s`).
///
/// The values must be energy per interval (Wh, varh, VAh), never demand: a channel of average
/// demand (W, as most meters' profiles hold) is converted first, exactly, with
/// `metermaster_res::energy::energy_per_interval`. Its values may be numerators over a common
/// divisor (3 or 9, for intervals such as 5 minutes whose energy is not a finite decimal): every
/// result here is a sum or a multiple of the values, so dividing the results by the same
/// divisor gives them exactly.
pub fn evaluate(
    scheme: &Scheme,
    source: Source,
    start: DateTime<Utc>,
    interval_s: u32,
    values: &[i64],
) -> Result<Evaluation, EvalError> {
    let table = rate_table(scheme, start, interval_s, values.len())?;
    let nrates = scheme.rates.len();
    let counts: Vec<bool> = scheme.rates.iter().map(|r| r.source == source).collect();
    let end = start + Duration::seconds(i64::from(interval_s) * values.len() as i64);
    let bounds = billing_boundaries(scheme, start, end)?;
    let md = scheme
        .max_demand
        .as_ref()
        .filter(|m| m.sources.contains(&source));
    if let Some(m) = md {
        let p = m.integration_minutes * 60;
        if p == 0 || p % interval_s != 0 {
            return Err(EvalError::DemandPeriod {
                period: m.integration_minutes,
                interval: interval_s,
            });
        }
    }
    let mut total = vec![0i128; nrates];
    let mut periods = Vec::new();
    let idx_of = |t: DateTime<Utc>| -> usize {
        let d = (t - start).num_seconds();
        if d <= 0 {
            0
        } else {
            ((d + i64::from(interval_s) - 1) / i64::from(interval_s)).min(values.len() as i64)
                as usize
        }
    };
    for w in bounds.windows(2) {
        let (a, b) = (idx_of(w[0]), idx_of(w[1]));
        if a >= b {
            continue;
        }
        // The hot loop: one add per interval into a small array.
        let mut sums = [0i128; 256];
        for (v, r) in values[a..b].iter().zip(&table[a..b]) {
            sums[usize::from(*r)] += i128::from(*v);
        }
        let rates: Vec<i128> = (0..nrates)
            .map(|i| if counts[i] { sums[i] } else { 0 })
            .collect();
        for (t, r) in total.iter_mut().zip(&rates) {
            *t += r;
        }
        let max_demand = match md {
            None => None,
            Some(m) => demand(
                m.integration_minutes,
                m.mode,
                m.sub_intervals,
                start,
                interval_s,
                &values[a..b],
                a,
            ),
        };
        periods.push(PeriodResult {
            start: w[0].max(start),
            end: w[1].min(end),
            rates,
            max_demand,
        });
    }
    Ok(Evaluation {
        rates: total,
        periods,
        source,
    })
}

/// The highest demand in a run of intervals (the run starting at interval `offset` of the
/// profile): block periods aligned to the hour, or a sliding window of sub-periods.
fn demand(
    minutes: u32,
    mode: DemandMode,
    sub_intervals: Option<u32>,
    start: DateTime<Utc>,
    interval_s: u32,
    values: &[i64],
    offset: usize,
) -> Option<(i128, DateTime<Utc>)> {
    let period_s = i64::from(minutes) * 60;
    let (step_s, window) = match mode {
        DemandMode::Block => (period_s, 1usize),
        DemandMode::Sliding => {
            let n = i64::from(sub_intervals.unwrap_or(1).max(1));
            (period_s / n, n as usize)
        }
    };
    if step_s % i64::from(interval_s) != 0 {
        return None;
    }
    // Energy per step (block or sub-period), steps aligned to the clock.
    let mut steps: Vec<(i128, DateTime<Utc>)> = Vec::new();
    let mut cur: Option<(i64, i128)> = None;
    for (k, v) in values.iter().enumerate() {
        let t = start + Duration::seconds(i64::from(interval_s) * (offset + k) as i64);
        let id = t.timestamp().div_euclid(step_s);
        match &mut cur {
            Some((i, e)) if *i == id => *e += i128::from(*v),
            _ => {
                if let Some((i, e)) = cur.take() {
                    steps.push((e, DateTime::from_timestamp((i + 1) * step_s, 0)?));
                }
                cur = Some((id, i128::from(*v)));
            }
        }
    }
    if let Some((i, e)) = cur {
        steps.push((e, DateTime::from_timestamp((i + 1) * step_s, 0)?));
    }
    let per_hour = 3600 / period_s.max(1);
    let mut best: Option<(i128, DateTime<Utc>)> = None;
    for w in steps.windows(window.min(steps.len()).max(1)) {
        let e: i128 = w.iter().map(|x| x.0).sum();
        // Demand = energy over the period × periods per hour (exact for periods dividing 60 min).
        let d = if 3600 % period_s == 0 {
            e * i128::from(per_hour)
        } else {
            e * 3600 / i128::from(period_s)
        };
        let at = w.last()?.1;
        if best.is_none_or(|b| d > b.0) {
            best = Some((d, at));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e7() -> Scheme {
        Scheme::from_toml(include_str!("../../../examples/schemes/economy7.toml")).unwrap()
    }

    fn three() -> Scheme {
        Scheme::from_toml(include_str!("../../../examples/schemes/three-rate.toml")).unwrap()
    }

    /// The rate of one interval the slow, obvious way: the start converted to local time with
    /// chrono-tz, the day profile of that date, the switch in force.
    fn naive_rate(s: &Scheme, t: DateTime<Utc>) -> u8 {
        let l = local(s.time_zone.as_ref().unwrap(), s.dst_mode(), t);
        let p = s.day_profile_on(l.date()).unwrap();
        let name = p
            .rate_at(crate::TimeOfDay::new(l.hour() as u8, l.minute() as u8).unwrap())
            .unwrap();
        s.rates.iter().position(|r| r.name == name).unwrap() as u8
    }

    #[test]
    fn tables_agree_with_the_slow_way_across_clock_changes() {
        for s in [e7(), three()] {
            for (start, interval) in [
                ("2025-12-31T13:00:00Z", 900u32),
                ("2026-01-01T00:00:00Z", 1800),
                ("2026-03-28T22:15:00Z", 300),
            ] {
                let t0 = DateTime::parse_from_rfc3339(start)
                    .unwrap()
                    .with_timezone(&Utc);
                let n = (400 * 86_400 / interval) as usize;
                let table = rate_table(&s, t0, interval, n).unwrap();
                for (k, r) in table.iter().enumerate() {
                    let t = t0 + Duration::seconds(i64::from(interval) * k as i64);
                    assert_eq!(*r, naive_rate(&s, t), "{} at {t}", s.id);
                }
            }
        }
    }

    #[test]
    fn economy7_energy_per_rate_and_clock_change_nights() {
        let s = e7();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let n = 365 * 96;
        let values: Vec<i64> = (0..n as i64).map(|k| (k * 7919) % 97).collect();
        let ev = evaluate(&s, Source::ImportKwh, t0, 900, &values).unwrap();
        let mut expect = vec![0i128; s.rates.len()];
        for (k, v) in values.iter().enumerate() {
            let t = t0 + Duration::seconds(900 * k as i64);
            expect[usize::from(naive_rate(&s, t))] += i128::from(*v);
        }
        assert_eq!(ev.rates, expect);
        assert_eq!(
            ev.rates.iter().sum::<i128>(),
            values.iter().map(|v| i128::from(*v)).sum()
        );
        // Monthly periods (calendar months, local time), summing to the total.
        assert_eq!(ev.periods.len(), 12);
        let per: i128 = ev.periods.iter().flat_map(|p| p.rates.iter()).sum();
        assert_eq!(per, ev.rates.iter().sum::<i128>());
        // 1 Wh every quarter hour: the night of the spring change is an hour short (6 h), the
        // autumn one an hour long (8 h).
        // (Each local day from its local midnight: 23, 25 and 24 hours.)
        let ones = vec![1i64; 100];
        let night = |midnight: &str, intervals: usize| {
            let t = DateTime::parse_from_rfc3339(midnight)
                .unwrap()
                .with_timezone(&Utc);
            let ev = evaluate(&s, Source::ImportKwh, t, 900, &ones[..intervals]).unwrap();
            let i = s.rates.iter().position(|r| r.name == "night").unwrap();
            ev.rates[i]
        };
        assert_eq!(night("2026-03-29T00:00:00Z", 92), 6 * 4);
        assert_eq!(night("2026-10-24T23:00:00Z", 100), 8 * 4);
        assert_eq!(night("2026-06-30T23:00:00Z", 96), 7 * 4);
    }

    #[test]
    fn maximum_demand_per_period() {
        let s =
            Scheme::from_toml(include_str!("../../../examples/schemes/max-demand.toml")).unwrap();
        let m = s.max_demand.as_ref().unwrap();
        let src = m.sources[0];
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let minutes = s.load_profile.as_ref().map_or(30, |p| p.interval_minutes);
        let interval = minutes * 60;
        let per_day = (86_400 / interval) as usize;
        let mut values = vec![10i64; 59 * per_day];
        // One busy half hour on 2026-01-20 and a bigger one on 2026-02-10.
        let at = |day: usize, slot: usize| day * per_day + slot;
        values[at(19, 20)] = 400;
        values[at(40, 30)] = 900;
        let ev = evaluate(&s, src, t0, interval, &values).unwrap();
        assert!(ev.periods.len() >= 2);
        let md: Vec<i128> = ev
            .periods
            .iter()
            .filter_map(|p| p.max_demand.map(|d| d.0))
            .collect();
        // The busy interval plus the others of its integration block, times blocks per hour.
        let per_block = i128::from(m.integration_minutes * 60 / interval);
        let factor = i128::from(60 / m.integration_minutes);
        assert_eq!(md[0], (400 + 10 * (per_block - 1)) * factor, "{md:?}");
        assert_eq!(md[1], (900 + 10 * (per_block - 1)) * factor, "{md:?}");
    }
}
