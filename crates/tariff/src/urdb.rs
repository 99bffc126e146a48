//! Utility tariffs in the OpenEI Utility Rate Database (URDB) JSON format, read into a
//! [`Tariff`] that [`bill`](crate::bill()) can apply to interval data.
//!
//! Both the API's response envelope (`{"items": [record, ...]}`, the first record is used) and a
//! bare record are read. Supported fields:
//!
//! | field | meaning |
//! |---|---|
//! | `energyweekdayschedule`, `energyweekendschedule` | 12 × 24 energy period numbers (month × local hour), from 0 |
//! | `energyratestructure` | per period, a list of tiers `{rate, adj, max, unit}`: USD/kWh `rate` + `adj`, up to `max` kWh a month (no `max`: no limit) |
//! | `realtimepricing` | (an OpenStudio-HPXML extension) hourly USD/kWh prices, indexed by hour of the year |
//! | `fixedchargefirstmeter`, `fixedchargeunits` | a fixed charge in `$/month` or `$/day` |
//! | `mincharge`, `minchargeunits` | a minimum charge in `$/month` or `$/year` |
//! | `demandweekdayschedule`, `demandweekendschedule`, `demandratestructure` | time-of-use demand: per period, tiers `{rate, adj, max}` in USD/kW and kW, on the month's highest demand in that period |
//! | `flatdemandstructure`, `flatdemandmonths` | flat demand: per period tiers, and the period of each calendar month |
//! | `demandwindow` | the demand averaging window in minutes |
//! | `demandrateunit`, `flatdemandunit` | must be `kW` when given |
//!
//! Everything else that would change the amount (`sell` rates in tiers, tier units other than
//! `kWh`, `$/year` fixed charges, `$/day` minimum charges, kVA demand) is refused with an error
//! naming the field; fields that carry charges this reader does not bill (coincident demand,
//! ratchets, free-text attributes, additional-meter charges) give a [`UrdbWarning`] naming them.
//! Errors name the field as a path, list entries counting from 0:
//! `energyratestructure[1][0].rate: missing`.

use std::fmt;

use serde_json::{Map, Value};

/// One tier of a period: a price up to a limit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tier {
    /// The price per unit (USD/kWh for energy, USD/kW for demand), `adj` included.
    pub rate: f64,
    /// The upper limit of the tier (kWh a month for energy, kW for demand); `None` = no limit.
    pub max: Option<f64>,
}

impl Tier {
    /// A tier without a limit.
    pub fn flat(rate: f64) -> Tier {
        Tier { rate, max: None }
    }
}

/// 12 months × 24 hours of period numbers.
pub type Schedule = [[u8; 24]; 12];

/// How energy is priced.
#[derive(Debug, Clone, PartialEq)]
pub enum EnergyCharges {
    /// Periods chosen by month, weekday or weekend and local hour; each period has its tiers.
    Schedule {
        weekday: Box<Schedule>,
        weekend: Box<Schedule>,
        periods: Vec<Vec<Tier>>,
    },
    /// A price for every hour of the year (index = hour of the year in local time).
    RealTime { prices: Vec<f64> },
    /// Periods are the rates of one of our own tariff schemes (index = the scheme's rate), each
    /// with its tiers; `None` for rates that are not billed (another source than import).
    Scheme {
        scheme: Box<crate::Scheme>,
        periods: Vec<Option<Vec<Tier>>>,
    },
}

/// A fixed charge.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixedCharge {
    /// So much a month (prorated by the part of the month the data cover).
    PerMonth(f64),
    /// So much a day of data.
    PerDay(f64),
}

/// A minimum charge: the bill is topped up to it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MinCharge {
    /// Each month's bill is at least this.
    PerMonth(f64),
    /// Each year's bill is at least this (the top-up goes into the year's last month).
    PerYear(f64),
}

/// Time-of-use demand charges.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandTou {
    pub weekday: Box<Schedule>,
    pub weekend: Box<Schedule>,
    /// Per demand period, tiers in USD/kW up to `max` kW.
    pub periods: Vec<Vec<Tier>>,
}

/// Flat (monthly) demand charges.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandFlat {
    /// The period of each calendar month (January first).
    pub months: [u8; 12],
    /// Per period, tiers in USD/kW up to `max` kW.
    pub periods: Vec<Vec<Tier>>,
}

/// A utility tariff: energy, fixed, minimum and demand charges.
#[derive(Debug, Clone, PartialEq)]
pub struct Tariff {
    /// The tariff's name.
    pub name: String,
    /// The utility, when known.
    pub utility: Option<String>,
    /// The URDB label, when known.
    pub label: Option<String>,
    pub energy: EnergyCharges,
    pub fixed: Option<FixedCharge>,
    pub minimum: Option<MinCharge>,
    pub demand_tou: Option<DemandTou>,
    pub demand_flat: Option<DemandFlat>,
    /// The demand averaging window in minutes (`None`: each interval of the data).
    pub demand_window_minutes: Option<u32>,
    /// URDB's `dgrules` (how the utility compensates on-site generation), for information.
    pub dg_rules: Option<String>,
    /// The currency of the prices (`USD` for URDB tariffs).
    pub currency: String,
}

impl Tariff {
    /// A flat tariff: one price per kWh and a fixed charge per month.
    pub fn flat(name: &str, rate: f64, fixed_per_month: f64) -> Tariff {
        Tariff {
            name: name.to_string(),
            utility: None,
            label: None,
            energy: EnergyCharges::Schedule {
                weekday: Box::new([[0; 24]; 12]),
                weekend: Box::new([[0; 24]; 12]),
                periods: vec![vec![Tier::flat(rate)]],
            },
            fixed: Some(FixedCharge::PerMonth(fixed_per_month)),
            minimum: None,
            demand_tou: None,
            demand_flat: None,
            demand_window_minutes: None,
            dg_rules: None,
            currency: "USD".into(),
        }
    }

    /// Reads a URDB record (or API response) from JSON text. Returns the tariff and the
    /// warnings (fields read but not billed, assumptions made).
    pub fn from_urdb_json(text: &str) -> Result<(Tariff, Vec<UrdbWarning>), UrdbError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| UrdbError {
            field: String::new(),
            message: format!("not JSON: {e}"),
        })?;
        let mut warnings = Vec::new();
        let (record, prefix) = match &doc {
            Value::Object(o) if o.contains_key("items") => {
                let items = o
                    .get("items")
                    .and_then(Value::as_array)
                    .ok_or_else(|| err("items", "expected a list of rate records"))?;
                let first = items
                    .first()
                    .ok_or_else(|| err("items", "the list is empty: no rate record"))?;
                if items.len() > 1 {
                    warnings.push(UrdbWarning {
                        field: "items".into(),
                        message: format!("{} records; the first is used", items.len()),
                    });
                }
                (
                    first
                        .as_object()
                        .ok_or_else(|| err("items[0]", "expected a rate record (an object)"))?,
                    "items[0].",
                )
            }
            Value::Object(o) => (o, ""),
            _ => return Err(err("", "expected a URDB rate record (a JSON object)")),
        };
        let r = Record {
            map: record,
            prefix,
        };
        let tariff = r.tariff(&mut warnings)?;
        Ok((tariff, warnings))
    }

    /// Whether the tariff has demand charges.
    pub fn has_demand(&self) -> bool {
        self.demand_tou.is_some() || self.demand_flat.is_some()
    }
}

/// Why a URDB record cannot be read: the field (a path such as
/// `energyratestructure[1][0].rate`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UrdbError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for UrdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Something in a URDB record that is read but not billed, or an assumption made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UrdbWarning {
    pub field: String,
    pub message: String,
}

impl fmt::Display for UrdbWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(field: &str, message: impl Into<String>) -> UrdbError {
    UrdbError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Fields that change what a customer pays but are not billed here: a warning each.
const NOT_BILLED: [(&str, &str); 11] = [
    (
        "coincidentratestructure",
        "coincident demand charges are not billed",
    ),
    (
        "coincidentrateschedule",
        "coincident demand charges are not billed",
    ),
    ("demandratchetpercentage", "demand ratchets are not applied"),
    (
        "lookbackpercent",
        "demand ratchets (look-back) are not applied",
    ),
    (
        "lookbackrange",
        "demand ratchets (look-back) are not applied",
    ),
    (
        "lookbackmonths",
        "demand ratchets (look-back) are not applied",
    ),
    (
        "demandreactivepowercharge",
        "reactive power charges are not billed",
    ),
    (
        "fixedchargeeaaddl",
        "the charge for each additional meter is not billed (one meter)",
    ),
    ("energyattrs", "free-text energy charges are not billed"),
    ("demandattrs", "free-text demand charges are not billed"),
    ("fixedattrs", "free-text fixed charges are not billed"),
];

struct Record<'a> {
    map: &'a Map<String, Value>,
    prefix: &'static str,
}

impl Record<'_> {
    fn path(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn number(&self, field: &str) -> Result<Option<f64>, UrdbError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => number_at(v, &self.path(field)).map(Some),
        }
    }

    fn text(&self, field: &str) -> Result<Option<&str>, UrdbError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(err(&self.path(field), "expected text")),
        }
    }

    fn tariff(&self, warnings: &mut Vec<UrdbWarning>) -> Result<Tariff, UrdbError> {
        let name = self.text("name")?.unwrap_or("URDB tariff").to_string();
        let utility = self.text("utility")?.map(str::to_string);
        let label = self.text("label")?.map(str::to_string);
        let dg_rules = self.text("dgrules")?.map(str::to_string);

        for (field, why) in NOT_BILLED {
            if self.get(field).is_some() {
                warnings.push(UrdbWarning {
                    field: self.path(field),
                    message: why.to_string(),
                });
            }
        }

        // Energy.
        let energy = if let Some(v) = self.get("realtimepricing") {
            let path = self.path("realtimepricing");
            let list = v
                .as_array()
                .ok_or_else(|| err(&path, "expected a list of hourly prices (USD/kWh)"))?;
            if list.len() < 8760 {
                return Err(err(
                    &path,
                    format!("{} prices; a year needs 8760 (one per hour)", list.len()),
                ));
            }
            let mut prices = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                prices.push(number_at(p, &format!("{path}[{i}]"))?);
            }
            for f in [
                "energyratestructure",
                "energyweekdayschedule",
                "energyweekendschedule",
            ] {
                if self.get(f).is_some() {
                    warnings.push(UrdbWarning {
                        field: self.path(f),
                        message: "ignored: realtimepricing prices the energy".into(),
                    });
                }
            }
            EnergyCharges::RealTime { prices }
        } else {
            let missing: Vec<&str> = [
                "energyweekdayschedule",
                "energyweekendschedule",
                "energyratestructure",
            ]
            .into_iter()
            .filter(|f| self.get(f).is_none())
            .collect();
            if !missing.is_empty() {
                let fields: Vec<String> = missing.iter().map(|f| self.path(f)).collect();
                return Err(err(
                    &fields.join(", "),
                    "missing: a tariff needs energyweekdayschedule, energyweekendschedule and energyratestructure (or realtimepricing)",
                ));
            }
            let periods = self.structure("energyratestructure", "kWh", warnings)?;
            let weekday = self.schedule("energyweekdayschedule", periods.len())?;
            let weekend = self.schedule("energyweekendschedule", periods.len())?;
            EnergyCharges::Schedule {
                weekday,
                weekend,
                periods,
            }
        };

        // Fixed charge.
        let fixed = match self.number("fixedchargefirstmeter")? {
            None => {
                if let Some(u) = self.text("fixedchargeunits")? {
                    fixed_units(u, &self.path("fixedchargeunits"), 0.0)?;
                }
                None
            }
            Some(amount) => {
                let units = match self.text("fixedchargeunits")? {
                    Some(u) => u,
                    None => {
                        warnings.push(UrdbWarning {
                            field: self.path("fixedchargeunits"),
                            message: "missing; the fixed charge is taken as $/month".into(),
                        });
                        "$/month"
                    }
                };
                Some(fixed_units(units, &self.path("fixedchargeunits"), amount)?)
            }
        };

        // Minimum charge.
        let minimum = match self.number("mincharge")? {
            None => {
                if let Some(u) = self.text("minchargeunits")? {
                    min_units(u, &self.path("minchargeunits"), 0.0)?;
                }
                None
            }
            Some(amount) => {
                let units = self.text("minchargeunits")?.ok_or_else(|| {
                    err(
                        &self.path("minchargeunits"),
                        "missing: mincharge needs its units, $/month or $/year",
                    )
                })?;
                Some(min_units(units, &self.path("minchargeunits"), amount)?)
            }
        };

        // Demand.
        for unit_field in ["demandrateunit", "flatdemandunit"] {
            if let Some(u) = self.text(unit_field)? {
                if !u.eq_ignore_ascii_case("kw") {
                    return Err(err(
                        &self.path(unit_field),
                        format!(
                            "{u:?}: only kW demand can be billed from energy data (kVA and hp need other measurements)"
                        ),
                    ));
                }
            }
        }
        let tou_fields = [
            "demandweekdayschedule",
            "demandweekendschedule",
            "demandratestructure",
        ];
        let present: Vec<&str> = tou_fields
            .into_iter()
            .filter(|f| self.get(f).is_some())
            .collect();
        let demand_tou = if present.is_empty() {
            None
        } else if present.len() < 3 {
            let missing: Vec<String> = tou_fields
                .into_iter()
                .filter(|f| self.get(f).is_none())
                .map(|f| self.path(f))
                .collect();
            return Err(err(
                &missing.join(", "),
                "missing: time-of-use demand needs demandweekdayschedule, demandweekendschedule and demandratestructure",
            ));
        } else {
            let periods = self.structure("demandratestructure", "kW", warnings)?;
            Some(DemandTou {
                weekday: self.schedule("demandweekdayschedule", periods.len())?,
                weekend: self.schedule("demandweekendschedule", periods.len())?,
                periods,
            })
        };
        let demand_flat = match (
            self.get("flatdemandstructure"),
            self.get("flatdemandmonths"),
        ) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(err(
                    &self.path("flatdemandmonths"),
                    "missing: flatdemandstructure needs flatdemandmonths (the period of each month)",
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    &self.path("flatdemandstructure"),
                    "missing: flatdemandmonths needs flatdemandstructure",
                ));
            }
            (Some(_), Some(months)) => {
                let periods = self.structure("flatdemandstructure", "kW", warnings)?;
                let path = self.path("flatdemandmonths");
                let list = months
                    .as_array()
                    .ok_or_else(|| err(&path, "expected 12 period numbers"))?;
                if list.len() != 12 {
                    return Err(err(
                        &path,
                        format!("{} entries; expected 12 (one per month)", list.len()),
                    ));
                }
                let mut m = [0u8; 12];
                for (i, v) in list.iter().enumerate() {
                    m[i] = period_at(v, &format!("{path}[{i}]"), periods.len())?;
                }
                Some(DemandFlat { months: m, periods })
            }
        };
        let demand_window_minutes = match self.number("demandwindow")? {
            None => None,
            Some(w) => {
                if !((1.0..=1440.0).contains(&w) && w.fract() == 0.0) {
                    return Err(err(
                        &self.path("demandwindow"),
                        format!("{w}: expected whole minutes from 1 to 1440"),
                    ));
                }
                Some(w as u32)
            }
        };
        if (demand_tou.is_some() || demand_flat.is_some()) && demand_window_minutes.is_none() {
            warnings.push(UrdbWarning {
                field: self.path("demandwindow"),
                message: "not given: demand is the average power of each interval of the data"
                    .into(),
            });
        }

        Ok(Tariff {
            name,
            utility,
            label,
            energy,
            fixed,
            minimum,
            demand_tou,
            demand_flat,
            demand_window_minutes,
            dg_rules,
            currency: "USD".into(),
        })
    }

    /// A rate structure: periods of tiers.
    fn structure(
        &self,
        field: &str,
        unit: &str,
        warnings: &mut Vec<UrdbWarning>,
    ) -> Result<Vec<Vec<Tier>>, UrdbError> {
        let path = self.path(field);
        let Some(v) = self.get(field) else {
            return Err(err(&path, "missing"));
        };
        let periods = v
            .as_array()
            .ok_or_else(|| err(&path, "expected a list of periods, each a list of tiers"))?;
        if periods.is_empty() {
            return Err(err(&path, "no periods"));
        }
        if periods.len() > 255 {
            return Err(err(&path, "more than 255 periods"));
        }
        let mut out = Vec::with_capacity(periods.len());
        let mut missing_units = 0usize;
        for (p, tiers) in periods.iter().enumerate() {
            let ppath = format!("{path}[{p}]");
            let tiers = tiers
                .as_array()
                .ok_or_else(|| err(&ppath, "expected a list of tiers"))?;
            if tiers.is_empty() {
                return Err(err(&ppath, "no tiers"));
            }
            let mut row = Vec::with_capacity(tiers.len());
            let mut last_max: Option<f64> = None;
            for (t, tier) in tiers.iter().enumerate() {
                let tpath = format!("{ppath}[{t}]");
                let o = tier
                    .as_object()
                    .ok_or_else(|| err(&tpath, "expected a tier {rate, max, unit}"))?;
                let field_of = |k: &str| o.get(k).filter(|v| !v.is_null());
                let rate = match field_of("rate") {
                    Some(v) => number_at(v, &format!("{tpath}.rate"))?,
                    None => return Err(err(&format!("{tpath}.rate"), "missing")),
                };
                let adj = match field_of("adj") {
                    Some(v) => number_at(v, &format!("{tpath}.adj"))?,
                    None => 0.0,
                };
                if field_of("sell").is_some() {
                    return Err(err(
                        &format!("{tpath}.sell"),
                        "sell rates in tiers are not supported; give the export compensation with --compensation and --feed-in or --sellback",
                    ));
                }
                match field_of("unit") {
                    None => missing_units += 1,
                    Some(Value::String(u)) if u.eq_ignore_ascii_case(unit) => {}
                    Some(Value::String(u)) => {
                        return Err(err(
                            &format!("{tpath}.unit"),
                            format!(
                                "{u:?} is not supported: only {unit} (limits per day or per kW cannot be billed here)"
                            ),
                        ));
                    }
                    Some(_) => return Err(err(&format!("{tpath}.unit"), "expected text")),
                }
                let max = match field_of("max") {
                    Some(v) => {
                        let m = number_at(v, &format!("{tpath}.max"))?;
                        if m < 0.0 || last_max.is_some_and(|l| m <= l) {
                            return Err(err(
                                &format!("{tpath}.max"),
                                format!(
                                    "{m}: tier limits must be positive and increase from tier to tier"
                                ),
                            ));
                        }
                        last_max = Some(m);
                        Some(m)
                    }
                    None => {
                        if t + 1 < tiers.len() {
                            return Err(err(
                                &format!("{tpath}.max"),
                                "missing: only the last tier may be without a limit",
                            ));
                        }
                        None
                    }
                };
                row.push(Tier {
                    rate: rate + adj,
                    max,
                });
            }
            out.push(row);
        }
        if missing_units > 0 && unit == "kWh" {
            warnings.push(UrdbWarning {
                field: format!("{path}[..][..].unit"),
                message: format!("missing in {missing_units} tier(s); taken as {unit}"),
            });
        }
        Ok(out)
    }

    /// A 12 × 24 schedule of period numbers below `periods`.
    fn schedule(&self, field: &str, periods: usize) -> Result<Box<Schedule>, UrdbError> {
        let path = self.path(field);
        let Some(v) = self.get(field) else {
            return Err(err(&path, "missing"));
        };
        let months = v.as_array().ok_or_else(|| {
            err(
                &path,
                "expected 12 lists (months) of 24 period numbers (hours)",
            )
        })?;
        if months.len() != 12 {
            return Err(err(
                &path,
                format!("{} months; expected 12 lists of 24 hours", months.len()),
            ));
        }
        let mut out = Box::new([[0u8; 24]; 12]);
        for (m, hours) in months.iter().enumerate() {
            let mpath = format!("{path}[{m}]");
            let hours = hours
                .as_array()
                .ok_or_else(|| err(&mpath, "expected 24 period numbers"))?;
            if hours.len() != 24 {
                return Err(err(&mpath, format!("{} hours; expected 24", hours.len())));
            }
            for (h, p) in hours.iter().enumerate() {
                out[m][h] = period_at(p, &format!("{mpath}[{h}]"), periods)?;
            }
        }
        Ok(out)
    }
}

fn fixed_units(u: &str, path: &str, amount: f64) -> Result<FixedCharge, UrdbError> {
    match u {
        "$/month" => Ok(FixedCharge::PerMonth(amount)),
        "$/day" => Ok(FixedCharge::PerDay(amount)),
        _ => Err(err(
            path,
            format!("{u:?}: fixed charge units must be $/month or $/day"),
        )),
    }
}

fn min_units(u: &str, path: &str, amount: f64) -> Result<MinCharge, UrdbError> {
    match u {
        "$/month" => Ok(MinCharge::PerMonth(amount)),
        "$/year" => Ok(MinCharge::PerYear(amount)),
        _ => Err(err(
            path,
            format!("{u:?}: minimum charge units must be $/month or $/year"),
        )),
    }
}

fn number_at(v: &Value, path: &str) -> Result<f64, UrdbError> {
    let x = match v {
        Value::Number(n) => n.as_f64(),
        // Some URDB exports write numbers as text.
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match x {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(err(path, format!("{v}: expected a number"))),
    }
}

fn period_at(v: &Value, path: &str, periods: usize) -> Result<u8, UrdbError> {
    let p = v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    });
    match p {
        Some(p) if (p as usize) < periods => Ok(p as u8),
        Some(p) => Err(err(
            path,
            format!("period {p} does not exist (the structure has {periods}, numbered from 0)"),
        )),
        None => Err(err(path, format!("{v}: expected a period number"))),
    }
}
