//! `metermaster scheme bill` and `scheme compare`: utility bills from interval data, with a URDB
//! tariff or one of our schemes with prices (see `docs/billing.md`); and the bill figure of
//! `bench tariff` beside PySAM's time for the same bill.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use clap::{Args, ValueEnum};
use metermaster_store::AnyStore;
use metermaster_tariff::{
    Bill, BillOptions, Compensation, GridFee, Prices, Sellback, Tariff, TierMethod, Usage, Zone,
};

use crate::files::StoreArgs;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompensationArg {
    /// Net metering: monthly credit roll-over, the year's excess per --sellback.
    NetMetering,
    /// A feed-in tariff: every exported kWh at --feed-in RATE.
    FeedIn,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TierMethodArg {
    /// Each period's tiers applied to the month's total, weighted by the period's share (SAM).
    Textbook,
    /// OpenStudio-HPXML's hour-by-hour tier index.
    OsHpxml,
}

/// What `bill` and `compare` share: the data and how to bill it.
#[derive(Debug, Args)]
pub struct BillCommon {
    /// The import (or consumption) energy: a reading file (.RES, NEM12, CSV; --mapping for
    /// other CSV layouts) or a stored meter's serial.
    #[arg(long)]
    pub profile: String,
    /// The channel (OBIS) of the import energy (default: the first active energy channel, else
    /// the first active demand channel). A demand channel (W) is converted to energy per
    /// interval: kWh = kW × interval length.
    #[arg(long)]
    pub channel: Option<String>,
    /// A CSV mapping (TOML) to read --profile (and --export) through.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// The export (or generation) energy: a file or meter (default: the --profile when
    /// --export-channel is given).
    #[arg(long)]
    pub export: Option<String>,
    /// The channel (OBIS) of the export energy (or demand, converted likewise).
    #[arg(long)]
    pub export_channel: Option<String>,
    /// The tariff's time zone: an IANA name or +HH:MM (default: the mapping's time_zone, a
    /// scheme's own zone, else UTC).
    #[arg(long)]
    pub tz: Option<String>,
    /// Move the data to this year (same local date and time), for year-less or simulated data
    /// whose weekdays should follow another calendar.
    #[arg(long)]
    pub year: Option<i32>,
    /// How export is compensated (default: feed-in when --feed-in is given, else net metering).
    #[arg(long, value_enum)]
    pub compensation: Option<CompensationArg>,
    /// Net metering: the year's excess: `user:RATE` (per kWh of the year's net export; the
    /// carried credit lapses), `retail` (the carried credit is paid out) or `zero`.
    #[arg(long, default_value = "zero")]
    pub sellback: String,
    /// The feed-in rate per exported kWh.
    #[arg(long)]
    pub feed_in: Option<f64>,
    /// The generator's size in kW (for --grid-fee per-kw:RATE).
    #[arg(long)]
    pub pv_kw: Option<f64>,
    /// A monthly generator grid fee: `per-kw:RATE` (× --pv-kw) or `month:AMOUNT`.
    #[arg(long)]
    pub grid_fee: Option<String>,
    /// How tiers combine with time-of-use periods.
    #[arg(long, value_enum, default_value = "textbook")]
    pub tier_method: TierMethodArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BillArgs {
    /// The tariff: an OpenEI URDB rate record or API response (JSON).
    #[arg(long, conflicts_with = "scheme")]
    pub urdb: Option<PathBuf>,
    /// The tariff: one of our schemes (a file, or ID[@VERSION] from the store), priced by
    /// --prices.
    #[arg(long)]
    pub scheme: Option<String>,
    /// Prices for the scheme's rates (TOML); its `scheme` key may name the scheme instead of
    /// --scheme.
    #[arg(long, conflicts_with = "urdb")]
    pub prices: Option<PathBuf>,
    #[command(flatten)]
    pub common: BillCommon,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The first tariff: a URDB JSON file, or a prices TOML file whose `scheme` key names its
    /// scheme.
    pub a: PathBuf,
    /// The second tariff, likewise.
    pub b: PathBuf,
    #[command(flatten)]
    pub common: BillCommon,
}

/// A tariff and what reading it said.
struct Loaded {
    tariff: Tariff,
    warnings: Vec<String>,
    origin: String,
}

fn read(path: &Path) -> Result<String> {
    if !path.exists() {
        bail!("{}: no such file", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn load_urdb(path: &Path) -> Result<Loaded> {
    let text = read(path)?;
    let (tariff, warnings) =
        Tariff::from_urdb_json(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(Loaded {
        tariff,
        warnings: warnings.iter().map(|w| w.to_string()).collect(),
        origin: path.display().to_string(),
    })
}

async fn load_priced_scheme(
    store: &mut Option<AnyStore>,
    store_args: &StoreArgs,
    scheme: Option<&str>,
    prices_path: &Path,
) -> Result<Loaded> {
    let text = read(prices_path)?;
    let prices = Prices::from_toml(&text).map_err(|e| anyhow!("{}: {e}", prices_path.display()))?;
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
        (None, None) => bail!(
            "{}: no scheme: give --scheme, or `scheme = \"...\"` in the prices file",
            prices_path.display()
        ),
    };
    let st = open(store, store_args).await?;
    let s = crate::scheme::resolved_scheme(st, &what).await?;
    let tariff =
        Tariff::from_scheme(&s, &prices).map_err(|e| anyhow!("{}: {e}", prices_path.display()))?;
    Ok(Loaded {
        tariff,
        warnings: Vec::new(),
        origin: format!("{} priced by {}", s.id, prices_path.display()),
    })
}

/// A tariff given as one path: `.json` is URDB, anything else a prices file naming its scheme.
async fn load_any(
    store: &mut Option<AnyStore>,
    store_args: &StoreArgs,
    path: &Path,
) -> Result<Loaded> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        load_urdb(path)
    } else {
        load_priced_scheme(store, store_args, None, path).await
    }
}

async fn open<'a>(store: &'a mut Option<AnyStore>, args: &StoreArgs) -> Result<&'a AnyStore> {
    if store.is_none() {
        *store = Some(args.open().await?);
    }
    store.as_ref().context("the store did not open")
}

/// A time zone as the mapping or the user writes it (`Europe/London`, `+10:00`, `UTC-07:00`).
fn parse_zone(text: &str) -> Result<Zone> {
    text.parse::<Zone>()
        .map_err(|e| anyhow!("time zone {text:?}: {e}"))
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
    channel: Option<&str>,
    mapping: Option<&Path>,
) -> Result<Energy> {
    let channel = match channel {
        Some(c) => Some(
            metermaster_model::ObisCode::parse(c).map_err(|e| anyhow!("--channel {c:?}: {e}"))?,
        ),
        None => None,
    };
    let s = crate::scheme::profile_series(store, profile, channel, mapping).await?;
    let e = s.energy().map_err(|e| anyhow!("{profile}: {e:#}"))?;
    if e.unit() != metermaster_model::Unit::WattHour {
        bail!(
            "{profile}: channel {} holds {} values, not active energy (Wh) or demand (W): give the active channel with --channel",
            s.channel,
            s.unit.symbol()
        );
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
struct Prepared {
    start: DateTime<Utc>,
    interval_s: u32,
    import: Vec<f64>,
    export: Option<Vec<f64>>,
    options: BillOptions,
    notes: Vec<String>,
}

fn local_of(zone: &Zone, t: DateTime<Utc>) -> NaiveDateTime {
    zone.to_local(t)
}

fn utc_of(zone: &Zone, l: NaiveDateTime) -> Option<DateTime<Utc>> {
    zone.from_local(l).earliest()
}

async fn prepare(
    store: &mut Option<AnyStore>,
    store_args: &StoreArgs,
    c: &BillCommon,
    scheme_zone: Option<Zone>,
) -> Result<Prepared> {
    let mut notes = Vec::new();
    // The options first, so that a bad option fails before the data are read.
    let sellback = match c.sellback.as_str() {
        "retail" => Sellback::Retail,
        "zero" => Sellback::Rate(0.0),
        s => match s.strip_prefix("user:").map(str::parse::<f64>) {
            Some(Ok(r)) if r.is_finite() && r >= 0.0 => Sellback::Rate(r),
            _ => bail!("--sellback {s:?}: expected user:RATE (such as user:0.03), retail or zero"),
        },
    };
    let compensation = match (c.compensation, c.feed_in) {
        (Some(CompensationArg::FeedIn), None) => {
            bail!("--compensation feed-in needs --feed-in RATE")
        }
        (Some(CompensationArg::NetMetering), Some(_)) => {
            bail!("--feed-in is for --compensation feed-in, not net metering")
        }
        (_, Some(r)) if !(r.is_finite() && r >= 0.0) => bail!("--feed-in {r}: not a rate"),
        (Some(CompensationArg::FeedIn) | None, Some(r)) => Compensation::FeedIn { rate: r },
        (Some(CompensationArg::NetMetering) | None, None) => Compensation::NetMetering { sellback },
    };
    let grid_fee = match &c.grid_fee {
        None => None,
        Some(g) => {
            let (kind, amount) = g.split_once(':').unwrap_or(("", ""));
            let amount: f64 = amount
                .parse()
                .ok()
                .filter(|a: &f64| a.is_finite() && *a >= 0.0)
                .ok_or_else(|| anyhow!("--grid-fee {g:?}: expected per-kw:RATE or month:AMOUNT"))?;
            match kind {
                "per-kw" => match c.pv_kw {
                    Some(kw) if kw.is_finite() && kw >= 0.0 => {
                        Some(GridFee::PerKw { rate: amount, kw })
                    }
                    _ => bail!("--grid-fee per-kw:RATE needs --pv-kw (the generator's kW)"),
                },
                "month" => Some(GridFee::PerMonth(amount)),
                _ => bail!("--grid-fee {g:?}: expected per-kw:RATE or month:AMOUNT"),
            }
        }
    };
    let zone = match (&c.tz, &c.mapping, scheme_zone) {
        (Some(z), _, _) => parse_zone(z)?,
        (None, _, Some(z)) => z,
        (None, Some(m), None) => {
            let text = read(m)?;
            let map = metermaster_res::mapped::CsvMapping::from_toml(&text)
                .map_err(|e| anyhow!("{}: {e}", m.display()))?;
            parse_zone(&map.time_zone).with_context(|| format!("{}", m.display()))?
        }
        (None, None, None) => parse_zone("UTC")?,
    };

    let st = open(store, store_args).await?;
    let import = energy(st, &c.profile, c.channel.as_deref(), c.mapping.as_deref()).await?;
    notes.extend(import.conversion.clone());
    if import.gaps > 0 {
        notes.push(format!(
            "{}: {} missing intervals counted as 0",
            import.what, import.gaps
        ));
    }
    let export = match (&c.export, &c.export_channel) {
        (None, None) => None,
        (e, ch) => {
            let from = e.as_deref().unwrap_or(&c.profile);
            let x = energy(st, from, ch.as_deref(), c.mapping.as_deref()).await?;
            notes.extend(x.conversion.clone());
            if x.interval_s != import.interval_s {
                bail!(
                    "the export ({} s intervals) and the import ({} s) must have the same intervals",
                    x.interval_s,
                    import.interval_s
                );
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
                bail!("the export's intervals are not aligned with the import's");
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
                bail!("the export series does not overlap the import series");
            }
            Some(v)
        }
    };
    let mut start = import.start;
    if let Some(y) = c.year {
        let l = local_of(&zone, start);
        let moved = l
            .with_year(y)
            .and_then(|m| utc_of(&zone, m))
            .with_context(|| {
                format!("--year {y}: the data's first local time {l} does not exist in {y}")
            })?;
        notes.push(format!(
            "the data are moved from {} to {} (local time), keeping their length",
            l.format("%Y-%m-%d %H:%M"),
            local_of(&zone, moved).format("%Y-%m-%d %H:%M")
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
            tier_method: match c.tier_method {
                TierMethodArg::Textbook => TierMethod::Textbook,
                TierMethodArg::OsHpxml => TierMethod::OsHpxml,
            },
            grid_fee,
        },
        notes,
    })
}

fn scheme_zone(t: &Tariff) -> Option<Zone> {
    match &t.energy {
        metermaster_tariff::EnergyCharges::Scheme { scheme, .. } => scheme.time_zone,
        _ => None,
    }
}

fn compute(t: &Loaded, p: &Prepared) -> Result<Bill> {
    let usage = Usage {
        start: p.start,
        interval_s: p.interval_s,
        import_kwh: &p.import,
        export_kwh: p.export.as_deref(),
    };
    metermaster_tariff::bill(&t.tariff, &usage, &p.options)
        .map_err(|e| anyhow!("{}: {e}", t.origin))
}

fn bill_json(b: &Bill, t: &Loaded, notes: &[String]) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(b)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("source".into(), t.origin.clone().into());
        o.insert("warnings".into(), t.warnings.clone().into());
        o.insert("notes".into(), notes.to_vec().into());
    }
    Ok(v)
}

fn money(x: f64) -> String {
    format!("{:.2}", (x * 100.0).round() / 100.0 + 0.0)
}

fn print_table(b: &Bill, t: &Loaded) {
    let cur = if b.currency.is_empty() {
        String::new()
    } else {
        format!(" ({})", b.currency)
    };
    println!(
        "{}{cur}: {}, time zone {}, tier method {}",
        b.tariff,
        t.origin,
        b.time_zone,
        match b.tier_method {
            TierMethod::Textbook => "textbook",
            TierMethod::OsHpxml => "os-hpxml",
        }
    );
    let export = b.compensation.is_some();
    print!("{:<8} {:>11}", "month", "import kWh");
    if export {
        print!(" {:>11}", "export kWh");
    }
    println!(
        " {:>9} {:>10} {:>9} {:>9} {:>10} {:>10}",
        "fixed", "energy", "demand", "minimum", "pv credit", "total"
    );
    let row = |label: &str, import: f64, exp: f64, f: [f64; 6]| {
        print!("{label:<8} {import:>11.3}");
        if export {
            print!(" {exp:>11.3}");
        }
        println!(
            " {:>9} {:>10} {:>9} {:>9} {:>10} {:>10}",
            money(f[0]),
            money(f[1]),
            money(f[2]),
            money(f[3]),
            money(f[4]),
            money(f[5])
        );
    };
    for m in &b.months {
        row(
            &m.month,
            m.import_kwh,
            m.export_kwh.unwrap_or(0.0),
            [m.fixed, m.energy, m.demand, m.minimum, m.pv_credit, m.total],
        );
    }
    let a = &b.annual;
    row(
        "total",
        a.import_kwh,
        a.export_kwh,
        [a.fixed, a.energy, a.demand, a.minimum, a.pv_credit, a.total],
    );
}

fn warn(t: &Loaded, notes: &[String]) {
    for w in &t.warnings {
        eprintln!("warning: {}: {w}", t.origin);
    }
    for n in notes {
        eprintln!("note: {n}");
    }
}

pub async fn run_bill(store_args: &StoreArgs, a: BillArgs) -> Result<()> {
    let mut store = None;
    let t = match (&a.urdb, &a.scheme, &a.prices) {
        (Some(u), None, None) => load_urdb(u)?,
        (None, s, Some(p)) => load_priced_scheme(&mut store, store_args, s.as_deref(), p).await?,
        (None, Some(_), None) => {
            bail!("--scheme needs --prices PRICES.toml (the price of each rate)")
        }
        _ => bail!("give the tariff: --urdb RATE.json, or --prices PRICES.toml (with --scheme)"),
    };
    let p = prepare(&mut store, store_args, &a.common, scheme_zone(&t.tariff)).await?;
    let b = compute(&t, &p)?;
    warn(&t, &p.notes);
    if a.common.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&bill_json(&b, &t, &p.notes)?)?
        );
    } else {
        print_table(&b, &t);
    }
    Ok(())
}

pub async fn run_compare(store_args: &StoreArgs, a: CompareArgs) -> Result<()> {
    let mut store = None;
    let ta = load_any(&mut store, store_args, &a.a).await?;
    let tb = load_any(&mut store, store_args, &a.b).await?;
    // The data once. A scheme bills in its own zone; the zone option (for URDB tariffs and
    // --year) defaults to a scheme's only when both tariffs are schemes.
    let zone = match (scheme_zone(&ta.tariff), scheme_zone(&tb.tariff)) {
        (Some(z), Some(_)) => Some(z),
        _ => None,
    };
    let p = prepare(&mut store, store_args, &a.common, zone).await?;
    let ba = compute(&ta, &p)?;
    let bb = compute(&tb, &p)?;
    warn(&ta, &p.notes);
    warn(&tb, &[]);
    // Months side by side (by label; a month only one bill has counts 0 for the other).
    let mut labels: Vec<String> = ba.months.iter().map(|m| m.month.clone()).collect();
    for m in &bb.months {
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
    if a.common.json {
        let months: Vec<serde_json::Value> = labels
            .iter()
            .map(|l| {
                let (x, y) = (total_of(&ba, l), total_of(&bb, l));
                serde_json::json!({"month": l, "a": cents(x), "b": cents(y), "difference": cents(y - x)})
            })
            .collect();
        let v = serde_json::json!({
            "a": bill_json(&ba, &ta, &p.notes)?,
            "b": bill_json(&bb, &tb, &p.notes)?,
            "months": months,
            "total": {"a": cents(ba.total), "b": cents(bb.total), "difference": cents(bb.total - ba.total)},
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("A: {} ({})", ba.tariff, ta.origin);
    println!("B: {} ({})", bb.tariff, tb.origin);
    println!("{:<8} {:>12} {:>12} {:>12}", "month", "A", "B", "B - A");
    for l in &labels {
        let (x, y) = (total_of(&ba, l), total_of(&bb, l));
        println!(
            "{l:<8} {:>12} {:>12} {:>12}",
            money(x),
            money(y),
            signed(y - x)
        );
    }
    println!(
        "{:<8} {:>12} {:>12} {:>12}",
        "total",
        money(ba.total),
        money(bb.total),
        signed(bb.total - ba.total)
    );
    Ok(())
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

fn signed(x: f64) -> String {
    let c = cents(x);
    if c > 0.0 {
        format!("+{}", money(c))
    } else {
        money(c)
    }
}

// ---------------------------------------------------------------------------------------------
// The bill figure of `bench tariff`

/// Bills a year of 15-minute data (2007, UTC; the same synthetic values as the tariff
/// benchmark) with `Contains Demand Charges.json` (TOU energy and demand, fixed charge) `runs`
/// times, and, when PySAM is found, times PySAM's Utilityrate5 on the same bill. Returns the
/// figures as JSON fields.
pub fn bench_bill(runs: u32) -> Result<serde_json::Map<String, serde_json::Value>> {
    let text = include_str!("../../tariff/tests/data/urdb-bills/Contains Demand Charges.json");
    let (tariff, _) = Tariff::from_urdb_json(text).map_err(|e| anyhow!("{e}"))?;
    let start = DateTime::parse_from_rfc3339("2007-01-01T00:00:00Z")?.with_timezone(&Utc);
    let n = 365 * 96;
    let kwh: Vec<f64> = (0..n as i64)
        .map(|k| ((k * 7919) % 997) as f64 / 1000.0)
        .collect();
    let usage = Usage {
        start,
        interval_s: 900,
        import_kwh: &kwh,
        export_kwh: None,
    };
    let opts = BillOptions {
        zone: parse_zone("UTC")?,
        ..BillOptions::default()
    };
    let mut times = Vec::new();
    let mut total = 0.0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let b = metermaster_tariff::bill(&tariff, &usage, &opts).map_err(|e| anyhow!("{e}"))?;
        times.push(t.elapsed().as_secs_f64());
        total = b.total;
    }
    let ours = crate::bench::median(times);
    let mut out = serde_json::Map::new();
    out.insert("bill_intervals".into(), n.into());
    out.insert("bill_seconds".into(), ours.into());
    out.insert("bill_total".into(), cents(total).into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pysam_bill.py");
    let Some(py) =
        crate::bench::peer_python("PySAM.Utilityrate5").filter(|_| Path::new(script).exists())
    else {
        out.insert(
            "pysam".into(),
            "not found (METERMASTER_PEER_PYTHON or .venv-peers with nrel-pysam)".into(),
        );
        return Ok(out);
    };
    let dir = std::env::temp_dir().join(format!("mm-bench-bill-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let rate = dir.join("rate.json");
    let load = dir.join("load.csv");
    std::fs::write(&rate, text)?;
    let mut csv = String::from("kWh\n");
    for v in &kwh {
        csv.push_str(&format!("{v}\n"));
    }
    std::fs::write(&load, csv)?;
    let t = Instant::now();
    let o = std::process::Command::new(&py)
        .arg(script)
        .arg(&rate)
        .arg(&load)
        .args(["--load-column", "kWh", "--timing", &runs.max(1).to_string()])
        .output()?;
    let wall = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let v: serde_json::Value = match serde_json::from_slice(&o.stdout) {
        Ok(v) if o.status.success() => v,
        _ => {
            let why = String::from_utf8_lossy(&o.stderr);
            out.insert(
                "pysam".into(),
                format!("failed: {}", why.lines().last().unwrap_or("")).into(),
            );
            return Ok(out);
        }
    };
    let theirs = v["seconds"].as_f64().context("PySAM gave no time")?;
    let pysam_total = v["total"].as_f64().unwrap_or(f64::NAN);
    out.insert("pysam_version".into(), v["pysam"].clone());
    out.insert("pysam_seconds".into(), theirs.into());
    out.insert(
        "pysam_seconds_with_setup".into(),
        v["seconds_with_setup"].clone(),
    );
    out.insert("pysam_process_seconds".into(), wall.into());
    out.insert("pysam_total".into(), cents(pysam_total).into());
    out.insert("ratio".into(), (theirs / ours).into());
    if (cents(pysam_total) - cents(total)).abs() > 0.011 {
        bail!("the bills disagree: ours {total:.2}, PySAM {pysam_total:.2}");
    }
    Ok(out)
}

/// The bill figures of [`bench_bill`] as one line.
pub fn bench_line(b: &serde_json::Map<String, serde_json::Value>) -> String {
    let num = |k: &str| {
        b.get(k)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let ours = format!(
        "bill: {} intervals (Contains Demand Charges.json: TOU energy and demand, 15 min): median {:.3} ms, total {:.2} USD",
        num("bill_intervals"),
        num("bill_seconds") * 1000.0,
        num("bill_total")
    );
    match b.get("pysam_seconds") {
        Some(_) => format!(
            "{ours}; PySAM {} Utilityrate5 execute() median {:.1} ms ({:.1} ms with its input set-up, {:.2} s for the whole Python process), total {:.2} USD; PySAM / ours {:.0} x",
            b.get("pysam_version")
                .and_then(|v| v.as_str())
                .unwrap_or("?"),
            num("pysam_seconds") * 1000.0,
            num("pysam_seconds_with_setup") * 1000.0,
            num("pysam_process_seconds"),
            num("pysam_total"),
            num("ratio")
        ),
        None => format!(
            "{ours}; PySAM: {}",
            b.get("pysam").and_then(|v| v.as_str()).unwrap_or("not run")
        ),
    }
}
