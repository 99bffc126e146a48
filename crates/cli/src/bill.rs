//! `metermaster scheme bill` and `scheme compare`: utility bills from interval data, with a URDB
//! tariff or one of our schemes with prices (see `docs/billing.md`); and the bill figure of
//! `bench tariff` beside PySAM's time for the same bill.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use metermaster_master::bills::{
    self, BillReport, BillRequest, CompensationChoice, GridFeeSpec, LoadedTariff, TariffSource,
    TierMethodChoice,
};
use metermaster_master::schemes::{self, StoreOnDemand};
use metermaster_tariff::{Bill, BillOptions, Tariff, TierMethod, Usage};

use crate::files::StoreArgs;

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
    pub compensation: Option<CompensationChoice>,
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
    pub tier_method: TierMethodChoice,
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

impl BillCommon {
    /// The request these arguments make.
    fn request(&self) -> Result<BillRequest> {
        let parse_channel =
            |c: &Option<String>| c.as_deref().map(schemes::parse_channel).transpose();
        Ok(BillRequest {
            profile: self.profile.clone(),
            channel: parse_channel(&self.channel)?,
            mapping: self.mapping.clone(),
            export: self.export.clone(),
            export_channel: parse_channel(&self.export_channel)?,
            tz: self.tz.as_deref().map(bills::parse_zone).transpose()?,
            year: self.year,
            compensation: self.compensation,
            sellback: bills::parse_sellback(&self.sellback)?,
            feed_in: self.feed_in,
            pv_kw: self.pv_kw,
            grid_fee: self
                .grid_fee
                .as_deref()
                .map(str::parse::<GridFeeSpec>)
                .transpose()?,
            tier_method: self.tier_method.into(),
        })
    }
}

fn bill_json(r: &BillReport) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(&r.bill)?;
    if let Some(o) = v.as_object_mut() {
        let warnings: Vec<String> = r.tariff.warnings.iter().map(|w| w.to_string()).collect();
        o.insert("source".into(), r.tariff.origin.clone().into());
        o.insert("warnings".into(), warnings.into());
        o.insert("notes".into(), r.notes.clone().into());
    }
    Ok(v)
}

fn money(x: f64) -> String {
    format!("{:.2}", (x * 100.0).round() / 100.0 + 0.0)
}

fn print_table(b: &Bill, t: &LoadedTariff) {
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

fn warn(t: &LoadedTariff, notes: &[String]) {
    for w in &t.warnings {
        eprintln!("warning: {}: {w}", t.origin);
    }
    for n in notes {
        eprintln!("note: {n}");
    }
}

pub async fn run_bill(store_args: &StoreArgs, a: BillArgs) -> Result<()> {
    let tariff = match (a.urdb, a.scheme, a.prices) {
        (Some(u), None, None) => TariffSource::Urdb(u),
        (None, scheme, Some(prices)) => TariffSource::PricedScheme { scheme, prices },
        (None, Some(_), None) => {
            bail!("--scheme needs --prices PRICES.toml (the price of each rate)")
        }
        _ => bail!("give the tariff: --urdb RATE.json, or --prices PRICES.toml (with --scheme)"),
    };
    let req = a.common.request()?;
    let mut store = StoreOnDemand::new(store_args.url());
    let r = bills::bill_profile(&mut store, &tariff, &req).await?;
    warn(&r.tariff, &r.notes);
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&bill_json(&r)?)?);
    } else {
        print_table(&r.bill, &r.tariff);
    }
    Ok(())
}

pub async fn run_compare(store_args: &StoreArgs, a: CompareArgs) -> Result<()> {
    let req = a.common.request()?;
    let mut store = StoreOnDemand::new(store_args.url());
    let c = bills::compare(
        &mut store,
        &TariffSource::from_path(&a.a),
        &TariffSource::from_path(&a.b),
        &req,
    )
    .await?;
    let (ra, rb) = (&c.a, &c.b);
    warn(&ra.tariff, &ra.notes);
    warn(&rb.tariff, &[]);
    let (ba, bb) = (&ra.bill, &rb.bill);
    if a.common.json {
        let months: Vec<serde_json::Value> = c
            .months
            .iter()
            .map(|m| {
                serde_json::json!({"month": m.month, "a": cents(m.a), "b": cents(m.b), "difference": cents(m.difference())})
            })
            .collect();
        let v = serde_json::json!({
            "a": bill_json(ra)?,
            "b": bill_json(rb)?,
            "months": months,
            "total": {"a": cents(ba.total), "b": cents(bb.total), "difference": cents(bb.total - ba.total)},
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("A: {} ({})", ba.tariff, ra.tariff.origin);
    println!("B: {} ({})", bb.tariff, rb.tariff.origin);
    println!("{:<8} {:>12} {:>12} {:>12}", "month", "A", "B", "B - A");
    for m in &c.months {
        println!(
            "{:<8} {:>12} {:>12} {:>12}",
            m.month,
            money(m.a),
            money(m.b),
            signed(m.difference())
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
        zone: bills::parse_zone("UTC")?,
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
