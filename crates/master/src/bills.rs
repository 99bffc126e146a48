//! Utility bills from interval data: a URDB tariff, or one of our schemes priced by a prices
//! file (see `docs/billing.md`), applied to a profile's energy per month; and two tariffs
//! side by side on the same data. Nothing here prints.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Utc};
use metermaster_model::{ObisCode, Unit, Zone, ZoneParseError};
use metermaster_res::energy::EnergyError;
use metermaster_store::AnyStore;
use metermaster_tariff::{
    Bill, BillError, BillOptions, Compensation, GridFee, Prices, Sellback, Tariff, TierMethod,
    UrdbError, UrdbWarning, Usage,
};

use crate::schemes::{SchemesError, StoreOnDemand};

/// Why a bill could not be made. `Display` gives the whole message (the file or option at
/// fault first); the cause is kept typed in its variant.
#[derive(Debug, thiserror::Error)]
pub enum BillsError {
    /// Loading a scheme, reading a profile, the store.
    #[error(transparent)]
    Schemes(#[from] SchemesError),
    #[error("{0}: no such file")]
    NoFile(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
    /// A URDB rate record that cannot be billed.
    #[error("{file}: {error}")]
    Urdb { file: String, error: UrdbError },
    /// A prices file that does not read (its line and key in `error`).
    #[error("{file}: {error}")]
    Prices { file: String, error: String },
    /// A prices file whose prices do not fit its scheme.
    #[error("{file}: {error}")]
    Priced { file: String, error: UrdbError },
    #[error("{0}: no scheme: give --scheme, or `scheme = \"...\"` in the prices file")]
    NoScheme(String),
    #[error("--sellback {0:?}: expected user:RATE (such as user:0.03), retail or zero")]
    Sellback(String),
    #[error("--compensation feed-in needs --feed-in RATE")]
    FeedInWithoutRate,
    #[error("--feed-in is for --compensation feed-in, not net metering")]
    FeedInWithNetMetering,
    #[error("--feed-in {0}: not a rate")]
    FeedInRate(f64),
    #[error("--grid-fee {0:?}: expected per-kw:RATE or month:AMOUNT")]
    GridFee(String),
    #[error("--grid-fee per-kw:RATE needs --pv-kw (the generator's kW)")]
    GridFeeWithoutKw,
    #[error("time zone {text:?}: {error}")]
    Zone { text: String, error: ZoneParseError },
    /// A CSV mapping that does not read.
    #[error("{file}: {error}")]
    Mapping { file: String, error: String },
    /// A CSV mapping whose `time_zone` is not one.
    #[error("{file}: time zone {text:?}: {error}")]
    MappingZone {
        file: String,
        text: String,
        error: ZoneParseError,
    },
    /// A profile (a meter's) without energy per interval.
    #[error("{profile}: meter {meter}: {error}")]
    Energy {
        profile: String,
        meter: String,
        error: EnergyError,
    },
    #[error(
        "{profile}: channel {channel} holds {unit} values, not active energy (Wh) or demand (W): give the active channel with --channel"
    )]
    NotActiveEnergy {
        profile: String,
        channel: ObisCode,
        unit: &'static str,
    },
    #[error(
        "the export ({export} s intervals) and the import ({import} s) must have the same intervals"
    )]
    ExportIntervals { export: u32, import: u32 },
    #[error("the export's intervals are not aligned with the import's")]
    ExportNotAligned,
    #[error("the export series does not overlap the import series")]
    ExportNoOverlap,
    #[error("--year {year}: the data's first local time {local} does not exist in {year}")]
    Year {
        year: i32,
        local: chrono::NaiveDateTime,
    },
    /// The tariff (`origin`) cannot bill the data.
    #[error("{origin}: {error}")]
    Bill { origin: String, error: BillError },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BillsError {
    let what = what.into();
    move |error| BillsError::Io { what, error }
}

// ----- choices and options -----

/// How export is compensated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum CompensationChoice {
    /// Net metering: monthly credit roll-over, the year's excess per --sellback.
    NetMetering,
    /// A feed-in tariff: every exported kWh at --feed-in RATE.
    FeedIn,
}

/// How tiers combine with time-of-use periods (see [`TierMethod`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum TierMethodChoice {
    /// Each period's tiers applied to the month's total, weighted by the period's share (SAM).
    Textbook,
    /// OpenStudio-HPXML's hour-by-hour tier index.
    OsHpxml,
}

impl From<TierMethodChoice> for TierMethod {
    fn from(t: TierMethodChoice) -> TierMethod {
        match t {
            TierMethodChoice::Textbook => TierMethod::Textbook,
            TierMethodChoice::OsHpxml => TierMethod::OsHpxml,
        }
    }
}

/// What net metering does with the year's excess: `user:RATE` (per kWh of the year's net
/// export; the carried credit lapses), `retail` (the carried credit is paid out) or `zero`.
pub fn parse_sellback(text: &str) -> Result<Sellback, BillsError> {
    match text {
        "retail" => Ok(Sellback::Retail),
        "zero" => Ok(Sellback::Rate(0.0)),
        s => match s.strip_prefix("user:").map(str::parse::<f64>) {
            Some(Ok(r)) if r.is_finite() && r >= 0.0 => Ok(Sellback::Rate(r)),
            _ => Err(BillsError::Sellback(s.to_string())),
        },
    }
}

/// A monthly generator grid fee as written: `per-kw:RATE` (times the generator's kW) or
/// `month:AMOUNT`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GridFeeSpec {
    PerKw(f64),
    PerMonth(f64),
}

impl std::str::FromStr for GridFeeSpec {
    type Err = BillsError;
    fn from_str(g: &str) -> Result<GridFeeSpec, BillsError> {
        let bad = || BillsError::GridFee(g.to_string());
        let (kind, amount) = g.split_once(':').unwrap_or(("", ""));
        let amount: f64 = amount
            .parse()
            .ok()
            .filter(|a: &f64| a.is_finite() && *a >= 0.0)
            .ok_or_else(bad)?;
        match kind {
            "per-kw" => Ok(GridFeeSpec::PerKw(amount)),
            "month" => Ok(GridFeeSpec::PerMonth(amount)),
            _ => Err(bad()),
        }
    }
}

/// A time zone as a mapping or a user writes it (`Europe/London`, `+10:00`, `UTC-07:00`).
pub fn parse_zone(text: &str) -> Result<Zone, BillsError> {
    text.parse::<Zone>().map_err(|error| BillsError::Zone {
        text: text.to_string(),
        error,
    })
}

// ----- tariffs -----

/// Where a tariff comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TariffSource {
    /// An OpenEI URDB rate record or API response (JSON).
    Urdb(PathBuf),
    /// One of our schemes (a file, or `ID[@VERSION]` from the store), priced by a prices file
    /// (TOML); without `scheme`, the prices file's `scheme` key names it (a file beside the
    /// prices file, else a stored scheme).
    PricedScheme {
        scheme: Option<String>,
        prices: PathBuf,
    },
}

impl TariffSource {
    /// A tariff given as one path: `.json` is URDB, anything else a prices file naming its
    /// scheme.
    pub fn from_path(path: &Path) -> TariffSource {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            TariffSource::Urdb(path.to_path_buf())
        } else {
            TariffSource::PricedScheme {
                scheme: None,
                prices: path.to_path_buf(),
            }
        }
    }
}

/// A tariff and what reading it said.
#[derive(Debug, Clone)]
pub struct LoadedTariff {
    pub tariff: Tariff,
    /// What a URDB record holds that is not billed, or an assumption made.
    pub warnings: Vec<UrdbWarning>,
    /// Where it came from: the URDB file, or `ID priced by PRICES`.
    pub origin: String,
}

impl LoadedTariff {
    /// A scheme's own time zone (a priced scheme bills in it).
    pub fn scheme_zone(&self) -> Option<Zone> {
        match &self.tariff.energy {
            metermaster_tariff::EnergyCharges::Scheme { scheme, .. } => scheme.time_zone,
            _ => None,
        }
    }
}

fn read(path: &Path) -> Result<String, BillsError> {
    if !path.exists() {
        return Err(BillsError::NoFile(path.display().to_string()));
    }
    std::fs::read_to_string(path).map_err(io(format!("reading {}", path.display())))
}

fn load_urdb(path: &Path) -> Result<LoadedTariff, BillsError> {
    let text = read(path)?;
    let (tariff, warnings) = Tariff::from_urdb_json(&text).map_err(|error| BillsError::Urdb {
        file: path.display().to_string(),
        error,
    })?;
    Ok(LoadedTariff {
        tariff,
        warnings,
        origin: path.display().to_string(),
    })
}

async fn load_priced_scheme(
    store: &mut StoreOnDemand<'_>,
    scheme: Option<&str>,
    prices_path: &Path,
) -> Result<LoadedTariff, BillsError> {
    let file = prices_path.display().to_string();
    let text = read(prices_path)?;
    let prices = Prices::from_toml(&text).map_err(|error| BillsError::Prices {
        file: file.clone(),
        error,
    })?;
    let what = match (scheme, &prices.scheme) {
        (Some(s), _) => s.to_string(),
        (None, Some(s)) => {
            // A file beside the prices file, else a stored scheme.
            let beside = prices_path.parent().unwrap_or(Path::new(".")).join(s);
            if beside.exists() {
                beside.display().to_string()
            } else {
                s.clone()
            }
        }
        (None, None) => return Err(BillsError::NoScheme(file)),
    };
    let st = store.get().await?;
    let s = crate::schemes::resolved_scheme(st, &what).await?;
    let tariff = Tariff::from_scheme(&s, &prices).map_err(|error| BillsError::Priced {
        file: file.clone(),
        error,
    })?;
    Ok(LoadedTariff {
        tariff,
        warnings: Vec::new(),
        origin: format!("{} priced by {file}", s.id),
    })
}

/// Reads a tariff (a priced scheme's scheme may come from the store).
pub async fn load_tariff(
    store: &mut StoreOnDemand<'_>,
    source: &TariffSource,
) -> Result<LoadedTariff, BillsError> {
    match source {
        TariffSource::Urdb(path) => load_urdb(path),
        TariffSource::PricedScheme { scheme, prices } => {
            load_priced_scheme(store, scheme.as_deref(), prices).await
        }
    }
}

// ----- the data -----

/// The data to bill and how.
#[derive(Debug, Clone)]
pub struct BillRequest {
    /// The import (or consumption) energy: a reading file (.RES, NEM12, CSV; `mapping` for
    /// other CSV layouts) or a stored meter's serial.
    pub profile: String,
    /// The import channel (default: the first active energy channel, else the first active
    /// demand channel, converted to energy per interval).
    pub channel: Option<ObisCode>,
    /// A CSV mapping (TOML) to read the profile (and the export) through.
    pub mapping: Option<PathBuf>,
    /// The export (or generation) energy: a file or meter (default: the profile when
    /// `export_channel` is given).
    pub export: Option<String>,
    pub export_channel: Option<ObisCode>,
    /// The tariff's time zone (default: the mapping's `time_zone`, a scheme's own zone, else
    /// UTC).
    pub tz: Option<Zone>,
    /// Move the data to this year (same local date and time).
    pub year: Option<i32>,
    /// How export is compensated (default: feed-in when `feed_in` is given, else net
    /// metering).
    pub compensation: Option<CompensationChoice>,
    /// Net metering: the year's excess.
    pub sellback: Sellback,
    /// The feed-in rate per exported kWh.
    pub feed_in: Option<f64>,
    /// The generator's size in kW (for a per-kW grid fee).
    pub pv_kw: Option<f64>,
    pub grid_fee: Option<GridFeeSpec>,
    pub tier_method: TierMethod,
}

impl BillRequest {
    /// A request for a profile with every option at its default.
    pub fn new(profile: impl Into<String>) -> BillRequest {
        BillRequest {
            profile: profile.into(),
            channel: None,
            mapping: None,
            export: None,
            export_channel: None,
            tz: None,
            year: None,
            compensation: None,
            sellback: Sellback::Rate(0.0),
            feed_in: None,
            pv_kw: None,
            grid_fee: None,
            tier_method: TierMethod::Textbook,
        }
    }
}

/// One channel as kWh per interval.
struct Energy {
    start: DateTime<Utc>,
    interval_s: u32,
    kwh: Vec<f64>,
    gaps: usize,
    what: String,
    /// How a demand channel was converted to energy, for the user.
    conversion: Option<String>,
}

/// A channel's active energy per interval in kWh: an energy channel (Wh) as it is, a demand
/// channel (W) times the interval length, exactly, before the one rounding to `f64`.
async fn energy(
    store: &AnyStore,
    profile: &str,
    channel: Option<ObisCode>,
    mapping: Option<&Path>,
) -> Result<Energy, BillsError> {
    let s = crate::schemes::profile_series(store, profile, channel, mapping).await?;
    let e = s.energy().map_err(|error| BillsError::Energy {
        profile: profile.to_string(),
        meter: s.meter.clone(),
        error,
    })?;
    if e.unit() != Unit::WattHour {
        return Err(BillsError::NotActiveEnergy {
            profile: profile.to_string(),
            channel: s.channel,
            unit: s.unit.symbol(),
        });
    }
    let what = format!("{profile} channel {} (meter {})", s.channel, s.meter);
    Ok(Energy {
        start: s.start,
        interval_s: s.interval_s,
        kwh: e.kilo_values(),
        gaps: s.gaps,
        conversion: e
            .note()
            .map(|n| format!("{profile} (meter {}): {n}", s.meter)),
        what,
    })
}

/// The data, the options and the zone, ready to bill.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub start: DateTime<Utc>,
    pub interval_s: u32,
    /// Import energy per interval, kWh.
    pub import: Vec<f64>,
    /// Export energy per interval on the import's grid, kWh.
    pub export: Option<Vec<f64>>,
    pub options: BillOptions,
    /// What the user should know: demand converted to energy, missing intervals, the data
    /// moved to another year.
    pub notes: Vec<String>,
}

/// Reads the data and settles the options: the options first (a bad one fails before any
/// data is read), then the import, then the export on the import's grid. `scheme_zone` is
/// the zone to bill in when the request gives none (a scheme's own).
pub async fn prepare(
    store: &mut StoreOnDemand<'_>,
    req: &BillRequest,
    scheme_zone: Option<Zone>,
) -> Result<Prepared, BillsError> {
    let mut notes = Vec::new();
    let compensation = match (req.compensation, req.feed_in) {
        (Some(CompensationChoice::FeedIn), None) => return Err(BillsError::FeedInWithoutRate),
        (Some(CompensationChoice::NetMetering), Some(_)) => {
            return Err(BillsError::FeedInWithNetMetering);
        }
        (_, Some(r)) if !(r.is_finite() && r >= 0.0) => return Err(BillsError::FeedInRate(r)),
        (Some(CompensationChoice::FeedIn) | None, Some(r)) => Compensation::FeedIn { rate: r },
        (Some(CompensationChoice::NetMetering) | None, None) => Compensation::NetMetering {
            sellback: req.sellback,
        },
    };
    let grid_fee = match req.grid_fee {
        None => None,
        Some(GridFeeSpec::PerKw(rate)) => match req.pv_kw {
            Some(kw) if kw.is_finite() && kw >= 0.0 => Some(GridFee::PerKw { rate, kw }),
            _ => return Err(BillsError::GridFeeWithoutKw),
        },
        Some(GridFeeSpec::PerMonth(amount)) => Some(GridFee::PerMonth(amount)),
    };
    let zone = match (&req.tz, &req.mapping, scheme_zone) {
        (Some(z), _, _) => *z,
        (None, _, Some(z)) => z,
        (None, Some(m), None) => {
            let file = m.display().to_string();
            let text = read(m)?;
            let map = metermaster_res::mapped::CsvMapping::from_toml(&text).map_err(|error| {
                BillsError::Mapping {
                    file: file.clone(),
                    error,
                }
            })?;
            map.time_zone
                .parse::<Zone>()
                .map_err(|error| BillsError::MappingZone {
                    file,
                    text: map.time_zone.clone(),
                    error,
                })?
        }
        (None, None, None) => parse_zone("UTC")?,
    };

    let st = store.get().await?;
    let import = energy(st, &req.profile, req.channel, req.mapping.as_deref()).await?;
    notes.extend(import.conversion.clone());
    if import.gaps > 0 {
        notes.push(format!(
            "{}: {} missing intervals counted as 0",
            import.what, import.gaps
        ));
    }
    let export = if req.export.is_none() && req.export_channel.is_none() {
        None
    } else {
        let from = req.export.as_deref().unwrap_or(&req.profile);
        let x = energy(st, from, req.export_channel, req.mapping.as_deref()).await?;
        notes.extend(x.conversion.clone());
        if x.interval_s != import.interval_s {
            return Err(BillsError::ExportIntervals {
                export: x.interval_s,
                import: import.interval_s,
            });
        }
        if x.gaps > 0 {
            notes.push(format!(
                "{}: {} missing intervals counted as 0",
                x.what, x.gaps
            ));
        }
        // On the import's grid; intervals the export does not cover are 0.
        let step = i64::from(import.interval_s);
        let offset = (x.start - import.start).num_seconds();
        if offset % step != 0 {
            return Err(BillsError::ExportNotAligned);
        }
        let mut v = vec![0.0; import.kwh.len()];
        let mut any = false;
        for (j, e) in x.kwh.iter().enumerate() {
            let k = offset / step + j as i64;
            if let Some(slot) = usize::try_from(k).ok().and_then(|k| v.get_mut(k)) {
                *slot = *e;
                any = true;
            }
        }
        if !any {
            return Err(BillsError::ExportNoOverlap);
        }
        Some(v)
    };
    let mut start = import.start;
    if let Some(y) = req.year {
        let l = zone.to_local(start);
        let moved = l
            .with_year(y)
            .and_then(|m| zone.from_local(m).earliest())
            .ok_or(BillsError::Year { year: y, local: l })?;
        notes.push(format!(
            "the data are moved from {} to {} (local time), keeping their length",
            l.format("%Y-%m-%d %H:%M"),
            zone.to_local(moved).format("%Y-%m-%d %H:%M")
        ));
        start = moved;
    }
    Ok(Prepared {
        start,
        interval_s: import.interval_s,
        import: import.kwh,
        export,
        options: BillOptions {
            zone,
            compensation,
            tier_method: req.tier_method,
            grid_fee,
        },
        notes,
    })
}

/// Bills prepared data with a tariff.
pub fn bill(t: &LoadedTariff, p: &Prepared) -> Result<Bill, BillsError> {
    let usage = Usage {
        start: p.start,
        interval_s: p.interval_s,
        import_kwh: &p.import,
        export_kwh: p.export.as_deref(),
    };
    metermaster_tariff::bill(&t.tariff, &usage, &p.options).map_err(|error| BillsError::Bill {
        origin: t.origin.clone(),
        error,
    })
}

// ----- the calls -----

/// A bill and what went into it.
#[derive(Debug, Clone)]
pub struct BillReport {
    pub tariff: LoadedTariff,
    pub bill: Bill,
    /// See [`Prepared::notes`].
    pub notes: Vec<String>,
}

/// A utility bill: a tariff applied to a profile, per month. The store is opened when a
/// scheme or a stored profile needs it.
pub async fn bill_profile(
    store: &mut StoreOnDemand<'_>,
    tariff: &TariffSource,
    req: &BillRequest,
) -> Result<BillReport, BillsError> {
    let t = load_tariff(store, tariff).await?;
    let p = prepare(store, req, t.scheme_zone()).await?;
    let b = bill(&t, &p)?;
    Ok(BillReport {
        tariff: t,
        bill: b,
        notes: p.notes,
    })
}

/// One month of two bills.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthComparison {
    /// `YYYY-MM`.
    pub month: String,
    /// The month's total of bill A (0 when A has no such month).
    pub a: f64,
    /// The month's total of bill B.
    pub b: f64,
}

impl MonthComparison {
    /// B − A.
    pub fn difference(&self) -> f64 {
        self.b - self.a
    }
}

/// Two bills month by month, by month label in order (a month only one bill has counts 0 for
/// the other).
pub fn compare_months(a: &Bill, b: &Bill) -> Vec<MonthComparison> {
    let mut labels: Vec<String> = a.months.iter().map(|m| m.month.clone()).collect();
    for m in &b.months {
        if !labels.contains(&m.month) {
            labels.push(m.month.clone());
        }
    }
    labels.sort();
    let total_of = |b: &Bill, l: &str| -> f64 {
        b.months
            .iter()
            .filter(|m| m.month == l)
            .map(|m| m.total)
            .sum()
    };
    labels
        .into_iter()
        .map(|l| MonthComparison {
            a: total_of(a, &l),
            b: total_of(b, &l),
            month: l,
        })
        .collect()
}

/// Two tariffs billed on the same data.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub a: BillReport,
    pub b: BillReport,
    pub months: Vec<MonthComparison>,
}

/// What-if: two tariffs billed on the same profile, side by side per month. The data are read
/// once. A scheme bills in its own zone; the zone for URDB tariffs and the year move defaults
/// to a scheme's only when both tariffs are schemes.
pub async fn compare(
    store: &mut StoreOnDemand<'_>,
    a: &TariffSource,
    b: &TariffSource,
    req: &BillRequest,
) -> Result<Comparison, BillsError> {
    let ta = load_tariff(store, a).await?;
    let tb = load_tariff(store, b).await?;
    let zone = match (ta.scheme_zone(), tb.scheme_zone()) {
        (Some(z), Some(_)) => Some(z),
        _ => None,
    };
    let p = prepare(store, req, zone).await?;
    let ba = bill(&ta, &p)?;
    let bb = bill(&tb, &p)?;
    let months = compare_months(&ba, &bb);
    Ok(Comparison {
        a: BillReport {
            tariff: ta,
            bill: ba,
            notes: p.notes.clone(),
        },
        b: BillReport {
            tariff: tb,
            bill: bb,
            notes: p.notes,
        },
        months,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sellback_and_grid_fee_parse() {
        assert_eq!(parse_sellback("retail").unwrap(), Sellback::Retail);
        assert_eq!(parse_sellback("zero").unwrap(), Sellback::Rate(0.0));
        assert_eq!(parse_sellback("user:0.03").unwrap(), Sellback::Rate(0.03));
        for bad in ["lots", "user:-1", "user:x"] {
            let e = parse_sellback(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "--sellback {bad:?}: expected user:RATE (such as user:0.03), retail or zero"
                )
            );
        }
        assert_eq!(
            "per-kw:2.5".parse::<GridFeeSpec>().unwrap(),
            GridFeeSpec::PerKw(2.5)
        );
        assert_eq!(
            "month:10".parse::<GridFeeSpec>().unwrap(),
            GridFeeSpec::PerMonth(10.0)
        );
        for bad in ["week:1", "month:", "month:-3", "10"] {
            assert!(
                matches!(bad.parse::<GridFeeSpec>(), Err(BillsError::GridFee(g)) if g == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_json_path_is_urdb_anything_else_prices() {
        assert_eq!(
            TariffSource::from_path(Path::new("rates/Tiered.JSON")),
            TariffSource::Urdb("rates/Tiered.JSON".into())
        );
        assert_eq!(
            TariffSource::from_path(Path::new("e7-prices.toml")),
            TariffSource::PricedScheme {
                scheme: None,
                prices: "e7-prices.toml".into()
            }
        );
    }

    #[test]
    fn zones_parse_with_the_text_in_errors() {
        assert_eq!(parse_zone("UTC").unwrap(), Zone::UTC);
        assert_eq!(parse_zone("+10:00").unwrap().to_string(), "+10:00");
        let e = parse_zone("Mars/Olympus").unwrap_err();
        assert!(
            e.to_string().starts_with("time zone \"Mars/Olympus\": "),
            "{e}"
        );
    }

    #[tokio::test]
    async fn options_fail_before_the_data_are_read() {
        // A store that never opens: a bad option must be found first.
        let mut store = StoreOnDemand::new("nowhere:");
        let mut req = BillRequest::new("load.csv");
        req.compensation = Some(CompensationChoice::FeedIn);
        assert!(matches!(
            prepare(&mut store, &req, None).await,
            Err(BillsError::FeedInWithoutRate)
        ));
        let mut req = BillRequest::new("load.csv");
        req.grid_fee = Some(GridFeeSpec::PerKw(2.5));
        assert!(matches!(
            prepare(&mut store, &req, None).await,
            Err(BillsError::GridFeeWithoutKw)
        ));
        let req = BillRequest::new("load.csv");
        let e = prepare(&mut store, &req, None).await.unwrap_err();
        assert!(
            e.to_string().starts_with("opening the store nowhere:"),
            "{e}"
        );
        let missing = load_tariff(&mut store, &TariffSource::Urdb("no/such.json".into()))
            .await
            .unwrap_err();
        assert_eq!(missing.to_string(), "no/such.json: no such file");
    }

    #[test]
    fn months_line_up_by_label() {
        let urdb = include_str!("../../tariff/tests/data/urdb-bills/Sample Flat Rate.json");
        let (tariff, _) = Tariff::from_urdb_json(urdb).unwrap();
        let t = LoadedTariff {
            tariff,
            warnings: Vec::new(),
            origin: "flat".into(),
        };
        let start = "2007-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        // January whole and February's first day: a bill of two months.
        let p = |days: usize, kwh: f64| Prepared {
            start,
            interval_s: 3600,
            import: vec![kwh; days * 24],
            export: None,
            options: BillOptions {
                zone: Zone::UTC,
                ..BillOptions::default()
            },
            notes: Vec::new(),
        };
        let a = bill(&t, &p(32, 1.0)).unwrap();
        let b = bill(&t, &p(31, 2.0)).unwrap();
        let m = compare_months(&a, &b);
        let labels: Vec<&str> = m.iter().map(|x| x.month.as_str()).collect();
        assert_eq!(labels, ["2007-01", "2007-02"]);
        assert!(m[0].b > m[0].a, "{m:?}");
        assert_eq!(m[1].b, 0.0);
        assert_eq!(m[1].difference(), -m[1].a);
    }
}
