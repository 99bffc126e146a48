//! Utility bills: a [`Tariff`] (a URDB record, or one of our schemes with [`Prices`]) applied to
//! interval energy, month by month: energy charges per period and tier, demand charges, fixed
//! and minimum charges, and the compensation of exported energy (net metering with monthly
//! credit roll-over and an annual sell-back, or a feed-in tariff).
//!
//! The rules (see `docs/billing.md` for the user's view):
//!
//! * **Months** are billing periods: calendar months in the tariff's local time (a scheme's own
//!   billing day when it has one). Each interval belongs to the period of its start. Fixed
//!   charges per month are prorated by the part of the period the data cover; per-day charges
//!   count the days covered.
//! * **Energy periods** come from the URDB 12 × 24 weekday / weekend schedules (weekday = Monday
//!   to Friday, by the local date and hour of each interval's start), from `realtimepricing`
//!   (hour of the local year; in a leap year 29 February takes 28 February's prices), or from a
//!   scheme's rates.
//! * **Tiers** within a month follow a [`TierMethod`]: `textbook` (the default: each period's
//!   tier table is applied to the month's total and weighted by the period's share, which is the
//!   plain tiered price for single-period tariffs and what NREL SAM / PySAM computes) or
//!   `os-hpxml` (OpenStudio-HPXML's hour-by-hour tier index, needed to reproduce its figures).
//! * **Demand** is the average import power over the demand window (`demandwindow`, else each
//!   interval): on the net import (import − export, when positive) under net metering, on all
//!   import under a feed-in tariff. Each month pays per demand period for its highest demand in
//!   that period (tiers in kW), and the flat demand charge for its highest demand overall.
//! * **Minimum charges** top the bill up: monthly (each month's bill at least the minimum) or
//!   annual (each year of 12 billing periods at least the minimum, prorated for a shorter run;
//!   the top-up goes into the year's last month).
//! * **Net metering** (OpenStudio-HPXML's rules): energy is charged on import (`energy`) and on
//!   the net import − export (which may be negative); each month pays its fixed and demand
//!   charges plus the net energy charge less the credit carried from earlier months, never less
//!   than zero for energy; what is left over is carried. With an annual minimum the netting is
//!   over the year. At the end of each year, with a sell-back rate the carried credit lapses and
//!   the year's net export (kWh) is paid at that rate; with `retail` the carried credit is paid
//!   out. The difference from the bill without export is the `pv_credit`.
//! * **Feed-in tariff**: all exported kWh are paid at the feed-in rate; import is charged in full.
//!
//! Money is `f64` (binary floating point, about 15 significant digits): sums over a year of
//! intervals are exact to far below a cent; results are rounded to cents only when written.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::urdb::{
    DemandFlat, DemandTou, EnergyCharges, FixedCharge, MinCharge, Tariff, Tier, UrdbError,
};
use crate::{EvalError, LocalTime, Scheme, Source, Zone};

// ---------------------------------------------------------------------------------------------
// Options

/// How tiers are applied within a month when a tariff has both periods and tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierMethod {
    /// Each period's tier table applied to the month's total kWh, the result weighted by the
    /// period's share of the month's kWh (for one period: the plain tiered price). The default;
    /// what NREL SAM (PySAM's Utilityrate5) computes.
    #[default]
    Textbook,
    /// OpenStudio-HPXML's method: one tier index for the month that advances, interval by
    /// interval, when the month's cumulative kWh passes the limit of the current interval's
    /// period; kWh are collected per tier index and per period, and each period is charged its
    /// share of the month's kWh times its rates for the kWh of each tier index.
    OsHpxml,
}

/// What happens to the year's excess under net metering.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sellback {
    /// The carried credit lapses; the year's net export is paid at this rate per kWh (0 for
    /// none).
    Rate(f64),
    /// The carried credit (worth the retail price) is paid out.
    Retail,
}

/// How exported energy is compensated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compensation {
    /// Net metering with monthly credit roll-over and a sell-back at the end of each year.
    NetMetering { sellback: Sellback },
    /// Every exported kWh is paid at this rate; import is charged in full.
    FeedIn { rate: f64 },
}

/// A monthly charge for having a generator connected, added to the fixed charge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GridFee {
    /// So much per kW of generator capacity per month.
    PerKw { rate: f64, kw: f64 },
    /// So much per month.
    PerMonth(f64),
}

/// How to bill.
#[derive(Debug, Clone)]
pub struct BillOptions {
    /// The zone of the tariff's calendar (its schedules, months and days). A scheme's own zone
    /// is used for its rates and billing periods.
    pub zone: Zone,
    pub compensation: Compensation,
    pub tier_method: TierMethod,
    pub grid_fee: Option<GridFee>,
}

impl Default for BillOptions {
    fn default() -> Self {
        BillOptions {
            zone: Zone::Fixed(Utc.fix()),
            compensation: Compensation::NetMetering {
                sellback: Sellback::Rate(0.0),
            },
            tier_method: TierMethod::Textbook,
            grid_fee: None,
        }
    }
}

/// Interval energy: `import_kwh[k]` (and `export_kwh[k]`) is the energy of the interval starting
/// at `start + k × interval_s`.
#[derive(Debug, Clone, Copy)]
pub struct Usage<'a> {
    pub start: DateTime<Utc>,
    pub interval_s: u32,
    /// Energy taken from the grid (or consumed, with a gross-metered generator), kWh.
    pub import_kwh: &'a [f64],
    /// Energy sent to the grid (or generated), kWh; `None` without a generator.
    pub export_kwh: Option<&'a [f64]>,
}

/// Why a bill could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BillError {
    #[error("interval length {0} s does not divide an hour or a day evenly")]
    Interval(u32),
    #[error("no intervals to bill")]
    Empty,
    #[error(
        "the export series has {export} intervals and the import series {import}: they must be the same intervals"
    )]
    Lengths { import: usize, export: usize },
    #[error("{series} interval {index} (starting {at}) is not a number")]
    NotFinite {
        series: &'static str,
        index: usize,
        at: DateTime<Utc>,
    },
    #[error(
        "realtimepricing has {have} prices, but the interval starting {at} is hour {hour} of its year"
    )]
    Prices {
        have: usize,
        hour: usize,
        at: DateTime<Utc>,
    },
    #[error("demandwindow {window} min is not a whole number of the data's {interval} s intervals")]
    Window { window: u32, interval: u32 },
    #[error("the scheme cannot be applied: {0}")]
    Scheme(#[from] EvalError),
    #[error("rate {rate:?} of the scheme is in force from {at} but has no price")]
    NoPrice { rate: String, at: DateTime<Utc> },
    #[error("time {0} is out of range")]
    Time(DateTime<Utc>),
    #[error("{0}")]
    Option(String),
}

// ---------------------------------------------------------------------------------------------
// The result

fn cents<S: serde::Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_to(*x, 100.0))
}

fn wh<S: serde::Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_to(*x, 1000.0))
}

fn opt_wh<S: serde::Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(v) => s.serialize_f64(round_to(*v, 1000.0)),
        None => s.serialize_none(),
    }
}

fn round_to(x: f64, per: f64) -> f64 {
    // `+ 0.0` turns -0.0 into 0.0.
    (x * per).round() / per + 0.0
}

/// The energy and charge of one tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierUse {
    #[serde(serialize_with = "wh")]
    pub kwh: f64,
    #[serde(serialize_with = "cents")]
    pub charge: f64,
}

/// The energy and charge of one energy period in a month (on import).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodUse {
    /// The period: a number from 0 (URDB) or a rate name (scheme); `realtime` for hourly
    /// prices.
    pub period: String,
    #[serde(serialize_with = "wh")]
    pub kwh: f64,
    #[serde(serialize_with = "cents")]
    pub charge: f64,
    /// Per tier (empty for a single tier).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierUse>,
}

/// A demand charge of one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemandUse {
    /// The demand period (URDB number), or `flat`.
    pub period: String,
    /// The month's highest demand in the period, kW.
    #[serde(serialize_with = "wh")]
    pub peak_kw: f64,
    /// When it began (the start of its window).
    pub at: DateTime<Utc>,
    #[serde(serialize_with = "cents")]
    pub charge: f64,
}

/// One month (billing period) of a bill. `total` = `fixed` + `energy` + `demand` + `minimum` +
/// `pv_credit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthBill {
    /// `YYYY-MM` of the period's start (local).
    pub month: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The part of the period the data cover (0 to 1).
    pub coverage: f64,
    /// Fixed charges (with the generator grid fee).
    #[serde(serialize_with = "cents")]
    pub fixed: f64,
    /// Energy charges on import.
    #[serde(serialize_with = "cents")]
    pub energy: f64,
    #[serde(serialize_with = "cents")]
    pub demand: f64,
    /// The top-up to the minimum charge.
    #[serde(serialize_with = "cents")]
    pub minimum: f64,
    /// What export earns (negative: it lowers the bill), including net-metering credits carried
    /// and, in a year's last month, the sell-back.
    #[serde(serialize_with = "cents")]
    pub pv_credit: f64,
    #[serde(serialize_with = "cents")]
    pub total: f64,
    #[serde(serialize_with = "wh")]
    pub import_kwh: f64,
    #[serde(serialize_with = "opt_wh", skip_serializing_if = "Option::is_none")]
    pub export_kwh: Option<f64>,
    /// The net-metering credit carried into the next month (negative = credit).
    #[serde(serialize_with = "cents", skip_serializing_if = "is_zero")]
    pub credit_carried: f64,
    pub periods: Vec<PeriodUse>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub demand_charges: Vec<DemandUse>,
}

fn is_zero(x: &f64) -> bool {
    round_to(*x, 100.0) == 0.0
}

/// The sums of a bill's months.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Totals {
    #[serde(serialize_with = "cents")]
    pub fixed: f64,
    #[serde(serialize_with = "cents")]
    pub energy: f64,
    #[serde(serialize_with = "cents")]
    pub demand: f64,
    #[serde(serialize_with = "cents")]
    pub minimum: f64,
    #[serde(serialize_with = "cents")]
    pub pv_credit: f64,
    #[serde(serialize_with = "cents")]
    pub total: f64,
    #[serde(serialize_with = "wh")]
    pub import_kwh: f64,
    #[serde(serialize_with = "wh")]
    pub export_kwh: f64,
}

/// A bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bill {
    pub tariff: String,
    pub currency: String,
    pub time_zone: String,
    pub tier_method: TierMethod,
    /// How export was compensated (`None` without export).
    pub compensation: Option<Compensation>,
    /// The whole bill.
    #[serde(serialize_with = "cents")]
    pub total: f64,
    /// Its components over all months.
    pub annual: Totals,
    pub months: Vec<MonthBill>,
}

// ---------------------------------------------------------------------------------------------
// Prices for our own schemes

/// A price: one per unit, or tiers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PriceSpec {
    /// One price per kWh.
    Flat(f64),
    /// Tiers: `[{ up_to = 150, price = 0.09 }, { price = 0.13 }]` (kWh a month).
    Tiers(Vec<TierSpec>),
}

/// One tier of a [`PriceSpec`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    pub up_to: Option<f64>,
    pub price: f64,
}

/// An amount per period.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    pub amount: f64,
    /// `month`, `day` (fixed charges) or `year` (minimum charges).
    pub per: String,
}

/// A demand charge on the monthly maximum import demand.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandPrice {
    /// Per kW of the month's highest demand: one price, or tiers (`up_to` in kW).
    pub price: PriceSpec,
    /// The averaging window in minutes (default: the data's interval).
    pub window_minutes: Option<u32>,
}

/// Prices for one of our own schemes: a TOML file (see `docs/billing.md`).
///
/// ```toml
/// scheme = "economy7.toml"    # optional: a scheme file (beside this one) or a stored ID[@VERSION]
/// currency = "GBP"
/// fixed = { amount = 0.53, per = "day" }
/// minimum = { amount = 10, per = "month" }
/// demand = { price = 8.4, window_minutes = 30 }
/// [rates]
/// day = 0.2872
/// night = [{ up_to = 300, price = 0.12 }, { price = 0.15 }]
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub scheme: Option<String>,
    pub currency: Option<String>,
    #[serde(default)]
    pub rates: BTreeMap<String, PriceSpec>,
    pub fixed: Option<Amount>,
    pub minimum: Option<Amount>,
    pub demand: Option<DemandPrice>,
}

impl Prices {
    /// Reads a prices file; errors name the line and key.
    pub fn from_toml(text: &str) -> Result<Prices, String> {
        let de = toml::Deserializer::parse(text).map_err(|e| e.to_string())?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.message().to_string();
            let line = inner
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(l) => format!("line {l}: {path}: {msg}"),
                None => format!("{path}: {msg}"),
            }
        })
    }
}

fn tiers_of(spec: &PriceSpec, path: &str) -> Result<Vec<Tier>, UrdbError> {
    let bad = |m: String| UrdbError {
        field: path.to_string(),
        message: m,
    };
    match spec {
        PriceSpec::Flat(p) if p.is_finite() => Ok(vec![Tier::flat(*p)]),
        PriceSpec::Flat(p) => Err(bad(format!("{p} is not a price"))),
        PriceSpec::Tiers(ts) => {
            if ts.is_empty() {
                return Err(bad("no tiers".into()));
            }
            let mut out = Vec::new();
            let mut last: Option<f64> = None;
            for (i, t) in ts.iter().enumerate() {
                if !t.price.is_finite() {
                    return Err(bad(format!("[{i}].price: {} is not a price", t.price)));
                }
                match t.up_to {
                    None if i + 1 < ts.len() => {
                        return Err(bad(format!(
                            "[{i}].up_to: missing; only the last tier may be without a limit"
                        )));
                    }
                    Some(u) if !u.is_finite() || u <= 0.0 || last.is_some_and(|l| u <= l) => {
                        return Err(bad(format!(
                            "[{i}].up_to: {u}: limits must be positive and increase"
                        )));
                    }
                    _ => {}
                }
                last = t.up_to.or(last);
                out.push(Tier {
                    rate: t.price,
                    max: t.up_to,
                });
            }
            Ok(out)
        }
    }
}

impl Tariff {
    /// A tariff from one of our schemes and its prices: each import rate of the scheme is an
    /// energy period. Every import rate needs a price; a price for a rate the scheme lacks is
    /// an error.
    pub fn from_scheme(scheme: &Scheme, prices: &Prices) -> Result<Tariff, UrdbError> {
        let bad = |field: &str, m: String| UrdbError {
            field: field.to_string(),
            message: m,
        };
        for name in prices.rates.keys() {
            if scheme.rate(name).is_none() {
                let known: Vec<&str> = scheme.rates.iter().map(|r| r.name.as_str()).collect();
                return Err(bad(
                    &format!("rates.{name}"),
                    format!(
                        "scheme {} has no rate {name:?} (its rates: {})",
                        scheme.id,
                        known.join(", ")
                    ),
                ));
            }
        }
        let mut periods = Vec::with_capacity(scheme.rates.len());
        for r in &scheme.rates {
            match prices.rates.get(&r.name) {
                Some(spec) => periods.push(Some(tiers_of(spec, &format!("rates.{}", r.name))?)),
                None if r.source == Source::ImportKwh => {
                    return Err(bad(
                        &format!("rates.{}", r.name),
                        format!(
                            "missing: rate {:?} of scheme {} counts import energy and needs a price",
                            r.name, scheme.id
                        ),
                    ));
                }
                None => periods.push(None),
            }
        }
        let fixed = match &prices.fixed {
            None => None,
            Some(a) => Some(match a.per.as_str() {
                "month" => FixedCharge::PerMonth(a.amount),
                "day" => FixedCharge::PerDay(a.amount),
                p => {
                    return Err(bad(
                        "fixed.per",
                        format!("{p:?}: expected \"month\" or \"day\""),
                    ));
                }
            }),
        };
        let minimum = match &prices.minimum {
            None => None,
            Some(a) => Some(match a.per.as_str() {
                "month" => MinCharge::PerMonth(a.amount),
                "year" => MinCharge::PerYear(a.amount),
                p => {
                    return Err(bad(
                        "minimum.per",
                        format!("{p:?}: expected \"month\" or \"year\""),
                    ));
                }
            }),
        };
        let (demand_flat, window) = match &prices.demand {
            None => (None, None),
            Some(d) => {
                if let Some(w) = d.window_minutes {
                    if w == 0 || w > 1440 {
                        return Err(bad(
                            "demand.window_minutes",
                            format!("{w}: expected 1 to 1440"),
                        ));
                    }
                }
                (
                    Some(DemandFlat {
                        months: [0; 12],
                        periods: vec![tiers_of(&d.price, "demand.price")?],
                    }),
                    d.window_minutes,
                )
            }
        };
        Ok(Tariff {
            name: scheme.name.clone(),
            utility: None,
            label: Some(scheme.id.clone()),
            energy: EnergyCharges::Scheme {
                scheme: Box::new(scheme.clone()),
                periods,
            },
            fixed,
            minimum,
            demand_tou: None,
            demand_flat,
            demand_window_minutes: window,
            dg_rules: None,
            currency: prices.currency.clone().unwrap_or_default(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar

/// The local calendar facts of an interval's start.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    year: i32,
    ordinal0: u16,
    month0: u8,
    weekend: bool,
    hour: u8,
}

fn offset_secs(zone: &Zone, t: DateTime<Utc>) -> i64 {
    i64::from(zone.offset_at(t).local_minus_utc())
}

/// The local stamp of every interval, working out the zone offset once per local day (and
/// interval by interval only on days whose offset changes).
fn stamps(
    zone: &Zone,
    start: DateTime<Utc>,
    interval_s: u32,
    n: usize,
) -> Result<Vec<Stamp>, BillError> {
    let step = i64::from(interval_s);
    let mut out = Vec::with_capacity(n);
    let at = |k: usize| -> Result<DateTime<Utc>, BillError> {
        start
            .checked_add_signed(Duration::seconds(step * k as i64))
            .ok_or(BillError::Time(start))
    };
    while out.len() < n {
        let k = out.len();
        let t = at(k)?;
        let off = offset_secs(zone, t);
        let local = t.naive_utc() + Duration::seconds(off);
        let into_day = i64::from(local.num_seconds_from_midnight());
        let left = ((86_400 - into_day + step - 1) / step).max(1) as usize;
        let m = left.min(n - k);
        let same = m == 1 || offset_secs(zone, at(k + m - 1)?) == off;
        let count = if same { m } else { 1 };
        let date = local.date();
        let weekend = date.weekday().number_from_monday() >= 6;
        for j in 0..count {
            let secs = into_day + step * j as i64;
            out.push(Stamp {
                year: date.year(),
                ordinal0: date.ordinal0() as u16,
                month0: date.month0() as u8,
                weekend,
                hour: (secs / 3600).clamp(0, 23) as u8,
            });
        }
    }
    Ok(out)
}

/// The UTC instant of local midnight starting `date` (the first instant of the day when
/// midnight does not exist).
fn local_midnight(zone: &Zone, date: NaiveDate) -> Option<DateTime<Utc>> {
    match zone.from_local(date.and_hms_opt(0, 0, 0)?) {
        LocalTime::Skipped { jump, .. } => Some(jump),
        other => other.earliest(),
    }
}

/// Calendar-month boundaries (UTC) around `[from, to)`: the first at or before `from`, the
/// last at or after `to`.
fn month_boundaries(
    zone: &Zone,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, BillError> {
    let l0 = from.naive_utc() + Duration::seconds(offset_secs(zone, from));
    let mut d = NaiveDate::from_ymd_opt(l0.year(), l0.month(), 1).ok_or(BillError::Time(from))?;
    let mut out = Vec::new();
    loop {
        let b = local_midnight(zone, d).ok_or(BillError::Time(from))?;
        if b > from && out.is_empty() {
            // The zone's offset put `from` before its local month's start: one month earlier.
            d = d
                .checked_sub_months(chrono::Months::new(1))
                .ok_or(BillError::Time(from))?;
            continue;
        }
        out.push(b);
        if b >= to {
            break;
        }
        d = d
            .checked_add_months(chrono::Months::new(1))
            .ok_or(BillError::Time(to))?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Energy charges

/// The energy price structure, normalised.
enum Pricing<'a> {
    /// Tier tables per period (empty table = not billed).
    Tables(Vec<&'a [Tier]>),
    /// One price per interval.
    Hourly,
}

/// The energy charge of one month.
struct MonthEnergy {
    charge: f64,
    periods: Vec<PeriodUse>,
}

/// The cost of `x` kWh (or kW) through a tier table: each tier's rate for the part of `x`
/// within it; beyond the last limit, the last tier's rate; `x` ≤ 0 at the first tier's rate.
fn tiered(table: &[Tier], x: f64) -> (f64, Vec<f64>) {
    let mut parts = vec![0.0; table.len()];
    if table.is_empty() {
        return (0.0, parts);
    }
    if x <= 0.0 {
        parts[0] = x;
        return (x * table[0].rate, parts);
    }
    let mut below = 0.0;
    let mut cost = 0.0;
    for (i, t) in table.iter().enumerate() {
        let last = i + 1 == table.len();
        let top = match t.max {
            Some(m) if !last => m,
            _ => f64::INFINITY,
        };
        if x <= below {
            break;
        }
        let part = x.min(top) - below;
        parts[i] = part;
        cost += part * t.rate;
        below = top;
    }
    (cost, parts)
}

fn period_name(pricing_names: &[String], p: usize) -> String {
    pricing_names
        .get(p)
        .cloned()
        .unwrap_or_else(|| p.to_string())
}

/// Textbook: per period, kWh × the average price of the month's total through its table.
fn textbook(tables: &[&[Tier]], names: &[String], kwh: &[f64], period: &[u8]) -> MonthEnergy {
    let mut per = vec![0.0; tables.len()];
    let mut used = vec![false; tables.len()];
    for (e, p) in kwh.iter().zip(period) {
        per[usize::from(*p)] += e;
        used[usize::from(*p)] = true;
    }
    let total: f64 = per.iter().sum();
    let mut charge = 0.0;
    let mut periods = Vec::new();
    for (p, table) in tables.iter().enumerate() {
        if !used[p] {
            continue;
        }
        let (cost, parts) = tiered(table, total);
        let frac = |part: f64| {
            if total > 0.0 {
                part / total
            } else if part != 0.0 {
                1.0
            } else {
                0.0
            }
        };
        let tiers: Vec<TierUse> = if table.len() > 1 {
            parts
                .iter()
                .zip(table.iter())
                .map(|(part, t)| {
                    let k = per[p] * frac(*part);
                    TierUse {
                        kwh: k,
                        charge: k * t.rate,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let c = if total > 0.0 {
            per[p] * cost / total
        } else {
            per[p] * table.first().map_or(0.0, |t| t.rate)
        };
        charge += c;
        periods.push(PeriodUse {
            period: period_name(names, p),
            kwh: per[p],
            charge: c,
            tiers,
        });
    }
    MonthEnergy { charge, periods }
}

/// OpenStudio-HPXML's hour-by-hour method (see [`TierMethod::OsHpxml`]). `down` lets the tier
/// index go back down when the cumulative kWh fall (its net-energy variant).
fn os_hpxml(
    tables: &[&[Tier]],
    names: &[String],
    kwh: &[f64],
    period: &[u8],
    down: bool,
) -> MonthEnergy {
    let num_periods = tables.len();
    let num_tiers = tables.iter().map(|t| t.len()).max().unwrap_or(1).max(1);
    let mut per_period = vec![0.0; num_periods];
    let mut used = vec![false; num_periods];
    let mut per_tier = vec![0.0; num_tiers];
    // Tiered only: charge and kWh per tier directly.
    let mut direct = 0.0;
    let mut tier_kwh = vec![0.0; num_tiers];
    let mut tier_charge = vec![0.0; num_tiers];
    let mut period_charge = vec![0.0; num_periods];
    let mut cum = 0.0;
    let mut tier = 0usize;
    let limit = |tiers: &[Tier], t: usize| -> Option<f64> {
        // The last tier's limit (if any) is never passed.
        if t + 1 < tiers.len() {
            tiers[t].max
        } else {
            None
        }
    };
    for (e, p) in kwh.iter().zip(period) {
        let p = usize::from(*p);
        let tiers = tables[p];
        let e = *e;
        cum += e;
        used[p] = true;
        per_period[p] += e;
        if num_tiers == 1 {
            let c = e * tiers.first().map_or(0.0, |t| t.rate);
            direct += c;
            period_charge[p] += c;
            continue;
        }
        // Move the tier index: up one when the month passes the current tier's limit, down one
        // (net energy) when it falls back below the previous tier's limit.
        let mut split: Option<(usize, f64, usize)> = None; // (other tier, kWh in it, this tier)
        if tiers.len() > 1 && tier < tiers.len() {
            if let Some(m) = limit(tiers, tier) {
                if cum >= m {
                    tier += 1;
                    split = Some((tier - 1, e - (cum - m), tier));
                }
            }
        }
        if down && split.is_none() && tier > 0 && tier - 1 < tiers.len() {
            if let Some(m) = limit(tiers, tier - 1) {
                if cum < m {
                    tier -= 1;
                    // The part above the limit stays in the upper tier.
                    let upper = e - (cum - m);
                    split = Some((tier + 1, upper, tier));
                }
            }
        }
        if num_periods == 1 {
            let rate = |t: usize| tiers.get(t).or(tiers.last()).map_or(0.0, |x| x.rate);
            match split {
                Some((other, part, this)) => {
                    direct += part * rate(other) + (e - part) * rate(this);
                    tier_kwh[other] += part;
                    tier_charge[other] += part * rate(other);
                    tier_kwh[this] += e - part;
                    tier_charge[this] += (e - part) * rate(this);
                }
                None => {
                    let t = tier.min(num_tiers - 1);
                    direct += e * rate(t);
                    tier_kwh[t] += e;
                    tier_charge[t] += e * rate(t);
                }
            }
        } else if tier > 0 && tiers.len() == 1 {
            per_tier[0] += e;
        } else {
            match split {
                Some((other, part, this)) => {
                    per_tier[other.min(num_tiers - 1)] += part;
                    per_tier[this.min(num_tiers - 1)] += e - part;
                }
                None => per_tier[tier.min(num_tiers - 1)] += e,
            }
        }
    }
    let mut periods = Vec::new();
    if num_tiers == 1 {
        for p in 0..num_periods {
            if used[p] {
                periods.push(PeriodUse {
                    period: period_name(names, p),
                    kwh: per_period[p],
                    charge: period_charge[p],
                    tiers: Vec::new(),
                });
            }
        }
        return MonthEnergy {
            charge: direct,
            periods,
        };
    }
    if num_periods == 1 {
        let tiers = (0..tables[0].len())
            .map(|t| TierUse {
                kwh: tier_kwh[t],
                charge: tier_charge[t],
            })
            .collect();
        periods.push(PeriodUse {
            period: period_name(names, 0),
            kwh: per_period[0],
            charge: direct,
            tiers,
        });
        return MonthEnergy {
            charge: direct,
            periods,
        };
    }
    let mut charge = 0.0;
    for p in 0..num_periods {
        if !used[p] {
            continue;
        }
        let frac = if cum != 0.0 { per_period[p] / cum } else { 0.0 };
        let mut c = 0.0;
        let mut tiers = Vec::new();
        for (t, tier) in tables[p].iter().enumerate() {
            let k = per_tier.get(t).copied().unwrap_or(0.0) * frac;
            c += tier.rate * k;
            tiers.push(TierUse {
                kwh: k,
                charge: tier.rate * k,
            });
        }
        if tiers.len() == 1 {
            tiers.clear();
        }
        charge += c;
        periods.push(PeriodUse {
            period: period_name(names, p),
            kwh: per_period[p],
            charge: c,
            tiers,
        });
    }
    MonthEnergy { charge, periods }
}

fn month_energy(
    pricing: &Pricing<'_>,
    names: &[String],
    method: TierMethod,
    kwh: &[f64],
    period: &[u8],
    price: &[f64],
    net: bool,
) -> MonthEnergy {
    match pricing {
        Pricing::Hourly => {
            let charge: f64 = kwh.iter().zip(price).map(|(e, p)| e * p).sum();
            MonthEnergy {
                charge,
                periods: vec![PeriodUse {
                    period: "realtime".into(),
                    kwh: kwh.iter().sum(),
                    charge,
                    tiers: Vec::new(),
                }],
            }
        }
        Pricing::Tables(tables) => match method {
            TierMethod::Textbook => textbook(tables, names, kwh, period),
            TierMethod::OsHpxml => os_hpxml(tables, names, kwh, period, net),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Demand

/// A highest demand: kW and the first interval of its window.
type Peak = (f64, usize);

/// The highest window-average power per demand period (index `dperiod`), and overall.
fn month_peaks(
    kw_windows: &[(usize, f64)],
    dperiod: Option<&[u8]>,
    nperiods: usize,
) -> (Vec<Option<Peak>>, Option<Peak>) {
    let mut per = vec![None::<Peak>; nperiods];
    let mut all: Option<Peak> = None;
    for &(k, kw) in kw_windows {
        if all.is_none_or(|(b, _)| kw > b) {
            all = Some((kw, k));
        }
        if let Some(dp) = dperiod {
            let p = usize::from(dp[k]);
            if per[p].is_none_or(|(b, _)| kw > b) {
                per[p] = Some((kw, k));
            }
        }
    }
    (per, all)
}

// ---------------------------------------------------------------------------------------------
// The bill

/// Bills `usage` under `tariff`.
pub fn bill(tariff: &Tariff, usage: &Usage<'_>, opts: &BillOptions) -> Result<Bill, BillError> {
    let n = usage.import_kwh.len();
    let interval_s = usage.interval_s;
    if interval_s == 0 || (interval_s < 3600 && 3600 % interval_s != 0) || 86_400 % interval_s != 0
    {
        return Err(BillError::Interval(interval_s));
    }
    if n == 0 {
        return Err(BillError::Empty);
    }
    let step = i64::from(interval_s);
    let time_of = |k: usize| usage.start + Duration::seconds(step * k as i64);
    let end = usage
        .start
        .checked_add_signed(Duration::seconds(step * n as i64))
        .ok_or(BillError::Time(usage.start))?;
    for (k, v) in usage.import_kwh.iter().enumerate() {
        if !v.is_finite() {
            return Err(BillError::NotFinite {
                series: "import",
                index: k,
                at: time_of(k),
            });
        }
    }
    // An export series of zeros is no export.
    let export = match usage.export_kwh {
        None => None,
        Some(x) => {
            if x.len() != n {
                return Err(BillError::Lengths {
                    import: n,
                    export: x.len(),
                });
            }
            for (k, v) in x.iter().enumerate() {
                if !v.is_finite() {
                    return Err(BillError::NotFinite {
                        series: "export",
                        index: k,
                        at: time_of(k),
                    });
                }
            }
            if x.iter().all(|v| *v == 0.0) {
                None
            } else {
                Some(x)
            }
        }
    };
    if let Some(GridFee::PerKw { kw, rate }) = opts.grid_fee {
        if !(kw.is_finite() && kw >= 0.0 && rate.is_finite()) {
            return Err(BillError::Option(
                "the grid fee per kW needs a generator size in kW (0 or more)".into(),
            ));
        }
    }

    // The zone of the calendar, the billing periods, and each interval's energy period.
    let (zone, bounds) = match &tariff.energy {
        EnergyCharges::Scheme { scheme, .. } => {
            let z = scheme.time_zone.ok_or(EvalError::NoZone)?;
            (z, crate::billing_boundaries(scheme, usage.start, end)?)
        }
        _ => (opts.zone, month_boundaries(&opts.zone, usage.start, end)?),
    };
    let st = stamps(&zone, usage.start, interval_s, n)?;
    let mut period = vec![0u8; n];
    let mut price: Vec<f64> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let pricing = match &tariff.energy {
        EnergyCharges::Schedule {
            weekday,
            weekend,
            periods,
        } => {
            for (k, s) in st.iter().enumerate() {
                let sched = if s.weekend { weekend } else { weekday };
                period[k] = sched[usize::from(s.month0)][usize::from(s.hour)];
            }
            Pricing::Tables(periods.iter().map(Vec::as_slice).collect())
        }
        EnergyCharges::RealTime { prices } => {
            price.reserve(n);
            for (k, s) in st.iter().enumerate() {
                let mut day = usize::from(s.ordinal0);
                let leap = NaiveDate::from_ymd_opt(s.year, 2, 29).is_some();
                if leap && prices.len() < 8784 && day >= 59 {
                    // 29 February takes 28 February's prices; later days keep their
                    // non-leap hour.
                    day -= 1;
                }
                let hour = day * 24 + usize::from(s.hour);
                let p = prices.get(hour).ok_or(BillError::Prices {
                    have: prices.len(),
                    hour,
                    at: time_of(k),
                })?;
                price.push(*p);
            }
            Pricing::Hourly
        }
        EnergyCharges::Scheme { scheme, periods } => {
            period = crate::rate_table(scheme, usage.start, interval_s, n)?;
            names = scheme.rates.iter().map(|r| r.name.clone()).collect();
            for (k, p) in period.iter().enumerate() {
                if periods.get(usize::from(*p)).is_none_or(Option::is_none) {
                    return Err(BillError::NoPrice {
                        rate: names.get(usize::from(*p)).cloned().unwrap_or_default(),
                        at: time_of(k),
                    });
                }
            }
            Pricing::Tables(
                periods
                    .iter()
                    .map(|p| p.as_deref().unwrap_or(&[]))
                    .collect(),
            )
        }
    };
    let dperiod: Option<Vec<u8>> = tariff.demand_tou.as_ref().map(|d: &DemandTou| {
        st.iter()
            .map(|s| {
                let sched = if s.weekend { &d.weekend } else { &d.weekday };
                sched[usize::from(s.month0)][usize::from(s.hour)]
            })
            .collect()
    });

    // Net import per interval (net metering). Demand is on what is taken from the grid: the
    // net import under net metering, all import under a feed-in tariff (buy all, sell all).
    let net: Option<Vec<f64>> = match opts.compensation {
        Compensation::NetMetering { .. } => {
            export.map(|x| usage.import_kwh.iter().zip(x).map(|(i, e)| i - e).collect())
        }
        Compensation::FeedIn { .. } => None,
    };
    let grid_import: Vec<f64> = match &net {
        Some(v) => v.iter().map(|x| x.max(0.0)).collect(),
        None => usage.import_kwh.to_vec(),
    };

    // Demand windows: (first interval, average kW), never across a billing period.
    let window_s = i64::from(tariff.demand_window_minutes.unwrap_or(0)) * 60;
    let window_s = if window_s > step {
        if window_s % step != 0 {
            return Err(BillError::Window {
                window: tariff.demand_window_minutes.unwrap_or(0),
                interval: interval_s,
            });
        }
        window_s
    } else {
        step
    };
    let idx_of = |t: DateTime<Utc>| -> usize {
        let d = (t - usage.start).num_seconds();
        if d <= 0 {
            0
        } else {
            ((d + step - 1) / step).min(n as i64) as usize
        }
    };

    let tables_demand = tariff.demand_tou.as_ref().map_or(0, |d| d.periods.len());
    let mut months: Vec<MonthBill> = Vec::new();
    let mut net_charge: Vec<f64> = Vec::new();
    let mut net_kwh: Vec<f64> = Vec::new();
    for w in bounds.windows(2) {
        let (a, b) = (idx_of(w[0]), idx_of(w[1]));
        if a >= b {
            continue;
        }
        let full = (w[1] - w[0]).num_seconds().max(1) as f64;
        let covered = ((b - a) as i64 * step) as f64;
        let coverage = (covered / full).min(1.0);
        let local_start = w[0].naive_utc() + Duration::seconds(offset_secs(&zone, w[0]));
        let month_label = format!("{:04}-{:02}", local_start.year(), local_start.month());
        let month0 = local_start.month0() as usize;

        // Energy on import.
        let e = month_energy(
            &pricing,
            &names,
            opts.tier_method,
            &usage.import_kwh[a..b],
            &period[a..b],
            if price.is_empty() { &[] } else { &price[a..b] },
            false,
        );
        // Energy on net import (net metering).
        if let Some(nv) = &net {
            let ne = month_energy(
                &pricing,
                &names,
                opts.tier_method,
                &nv[a..b],
                &period[a..b],
                if price.is_empty() { &[] } else { &price[a..b] },
                true,
            );
            net_charge.push(ne.charge);
            net_kwh.push(nv[a..b].iter().sum());
        } else {
            net_charge.push(e.charge);
            net_kwh.push(usage.import_kwh[a..b].iter().sum());
        }

        // Demand.
        let mut windows: Vec<(usize, f64)> = Vec::new();
        if tariff.has_demand() {
            let mut cur: Option<(i64, usize, f64)> = None;
            let t0 = usage.start.timestamp();
            for (j, g) in grid_import[a..b].iter().enumerate() {
                let k = a + j;
                let id = (t0 + step * k as i64).div_euclid(window_s);
                match &mut cur {
                    Some((i, _, e)) if *i == id => *e += g,
                    _ => {
                        if let Some((_, first, e)) = cur.take() {
                            windows.push((first, e * 3600.0 / window_s as f64));
                        }
                        cur = Some((id, k, *g));
                    }
                }
            }
            if let Some((_, first, e)) = cur {
                windows.push((first, e * 3600.0 / window_s as f64));
            }
        }
        let (peaks, peak_all) = month_peaks(&windows, dperiod.as_deref(), tables_demand);
        let mut demand_charges = Vec::new();
        if let Some(d) = &tariff.demand_tou {
            for (p, pk) in peaks.iter().enumerate() {
                if let Some((kw, k)) = pk {
                    let (c, _) = tiered(&d.periods[p], *kw);
                    demand_charges.push(DemandUse {
                        period: p.to_string(),
                        peak_kw: *kw,
                        at: time_of(*k),
                        charge: c,
                    });
                }
            }
        }
        if let (Some(f), Some((kw, k))) = (&tariff.demand_flat, peak_all) {
            let p = usize::from(f.months[month0]);
            let (c, _) = tiered(&f.periods[p], kw);
            demand_charges.push(DemandUse {
                period: "flat".into(),
                peak_kw: kw,
                at: time_of(k),
                charge: c,
            });
        }
        let demand: f64 = demand_charges.iter().map(|d| d.charge).sum();

        // Fixed charges and the grid fee.
        let mut fixed = match tariff.fixed {
            None => 0.0,
            Some(FixedCharge::PerMonth(x)) => x * coverage,
            Some(FixedCharge::PerDay(x)) => x * covered / 86_400.0,
        };
        fixed += match opts.grid_fee {
            None => 0.0,
            Some(GridFee::PerKw { rate, kw }) => rate * kw * coverage,
            Some(GridFee::PerMonth(x)) => x * coverage,
        };
        let export_kwh = export.map(|x| x[a..b].iter().sum());
        months.push(MonthBill {
            month: month_label,
            start: w[0].max(usage.start),
            end: w[1].min(end),
            coverage,
            fixed,
            energy: e.charge,
            demand,
            minimum: 0.0,
            pv_credit: 0.0,
            total: 0.0,
            import_kwh: usage.import_kwh[a..b].iter().sum(),
            export_kwh,
            credit_carried: 0.0,
            periods: e.periods,
            demand_charges,
        });
    }

    // Minimum charges and export compensation, a year (12 billing periods) at a time.
    let mut first = 0;
    while first < months.len() {
        let last = (first + 12).min(months.len());
        settle_year(
            &mut months[first..last],
            &net_charge[first..last],
            &net_kwh[first..last],
            tariff.minimum,
            export.is_some(),
            opts.compensation,
        );
        first = last;
    }

    let mut annual = Totals::default();
    for m in &mut months {
        m.total = m.fixed + m.energy + m.demand + m.minimum + m.pv_credit;
        annual.fixed += m.fixed;
        annual.energy += m.energy;
        annual.demand += m.demand;
        annual.minimum += m.minimum;
        annual.pv_credit += m.pv_credit;
        annual.total += m.total;
        annual.import_kwh += m.import_kwh;
        annual.export_kwh += m.export_kwh.unwrap_or(0.0);
    }
    Ok(Bill {
        tariff: tariff.name.clone(),
        currency: tariff.currency.clone(),
        time_zone: zone.to_string(),
        tier_method: opts.tier_method,
        compensation: export.map(|_| opts.compensation),
        total: annual.total,
        annual,
        months,
    })
}

/// Minimum charges and export compensation over one year of billing periods.
fn settle_year(
    months: &mut [MonthBill],
    net_charge: &[f64],
    net_kwh: &[f64],
    minimum: Option<MinCharge>,
    has_export: bool,
    compensation: Compensation,
) {
    let Some(last) = months.len().checked_sub(1) else {
        return;
    };
    // An annual minimum for a shorter run is prorated by the months' coverage.
    let year_share: f64 = months.iter().map(|m| m.coverage).sum::<f64>() / 12.0;
    let sure = |m: &MonthBill| m.fixed + m.demand;
    match (has_export, compensation) {
        (true, Compensation::FeedIn { rate }) | (false, Compensation::FeedIn { rate }) => {
            if has_export {
                for m in months.iter_mut() {
                    m.pv_credit = -m.export_kwh.unwrap_or(0.0) * rate;
                }
            }
            no_netting_minimum(months, minimum, year_share);
        }
        (false, Compensation::NetMetering { .. }) => {
            no_netting_minimum(months, minimum, year_share)
        }
        (true, Compensation::NetMetering { sellback }) => {
            // Month by month: pay the fixed and demand charges, and the net energy charge less
            // the credit carried (never below zero); carry what is left.
            let mut credit = 0.0;
            let mut payments = 0.0;
            let mut monthly_pv = vec![0.0; months.len()];
            for (i, m) in months.iter_mut().enumerate() {
                let due = net_charge[i] + credit;
                let pay_energy = due.max(0.0);
                credit = due.min(0.0);
                let payment = sure(m) + pay_energy;
                payments += payment;
                monthly_pv[i] = pay_energy - m.energy;
                m.credit_carried = credit;
                if let Some(MinCharge::PerMonth(x)) = minimum {
                    m.minimum = (x - payment).max(0.0);
                }
            }
            let sure_total: f64 = months.iter().map(sure).sum();
            let net_total: f64 = net_charge.iter().sum::<f64>() + sure_total;
            let (payments, end_credit) = match minimum {
                Some(MinCharge::PerYear(x)) => {
                    // Netted over the year.
                    let p = net_total.max(sure_total);
                    months[last].minimum = (x * year_share - p).max(0.0);
                    (p, net_total - p)
                }
                _ => (payments, credit),
            };
            let year_net_kwh: f64 = net_kwh.iter().sum();
            let (kept, sold) = match sellback {
                Sellback::Retail => (end_credit, 0.0),
                Sellback::Rate(r) => (0.0, (-year_net_kwh).max(0.0) * r),
            };
            let gross: f64 = months.iter().map(|m| m.energy + sure(m)).sum();
            let pv_year = (payments + kept - sold) - gross;
            let so_far: f64 = monthly_pv.iter().sum();
            for (m, pv) in months.iter_mut().zip(&monthly_pv) {
                m.pv_credit = *pv;
            }
            months[last].pv_credit += pv_year - so_far;
            // Nothing is carried past the true-up.
            months[last].credit_carried = 0.0;
        }
    }
}

/// Minimum charges without net metering: each month (or the year) topped up.
fn no_netting_minimum(months: &mut [MonthBill], minimum: Option<MinCharge>, year_share: f64) {
    let bill = |m: &MonthBill| m.fixed + m.energy + m.demand;
    match minimum {
        None => {}
        Some(MinCharge::PerMonth(x)) => {
            for m in months.iter_mut() {
                m.minimum = (x - bill(m)).max(0.0);
            }
        }
        Some(MinCharge::PerYear(x)) => {
            let total: f64 = months.iter().map(bill).sum();
            if let Some(m) = months.last_mut() {
                m.minimum = (x * year_share - total).max(0.0);
            }
        }
    }
}
