//! `metermaster scheme ...`: tariff schemes and meter configurations: validate, show, diff, and
//! the versioned tree in the store (import, export, tree, log).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use metermaster_master::schemes::{
    self, EvaluateRequest, ImportRequest, MeterKind, SchemeEvaluation, SchemeImport, SchemeText,
    StoreOnDemand,
};
use metermaster_tariff::{MeterType, Severity};

use crate::files::StoreArgs;

#[derive(Debug, Args)]
pub struct SchemeArgs {
    #[command(subcommand)]
    pub cmd: SchemeCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum SchemeCommand {
    /// Check schemes and configurations (TOML files) against what a meter type can hold;
    /// every violation is listed with its file, line and path. Parents are looked up among the
    /// files given, then in the store.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "a1140")]
        meter_type: MeterKind,
        /// The day from which clock changes are checked (two years on); default today.
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// Print a scheme (a file, or ID or ID@VERSION from the store) with its parents merged in.
    Show {
        what: String,
        #[arg(long)]
        json: bool,
    },
    /// What changed between two schemes (files or ID@VERSION), in domain words.
    Diff { from: String, to: String },
    /// Store schemes and configurations as new versions: files, or folders whose sub-folders
    /// become the tree's folders.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The tree folder (default: the file's folder below the folder given, or the top).
        #[arg(long)]
        folder: Option<String>,
        /// Who makes the change.
        #[arg(long, env = "USER", default_value = "metermaster")]
        author: String,
        /// Why.
        #[arg(long, short)]
        message: String,
    },
    /// Write the latest version of every scheme and configuration to a folder, as the tree.
    Export {
        #[arg(long)]
        out: PathBuf,
    },
    /// The tree: folders, schemes and configurations with their latest versions.
    Tree {
        #[arg(long)]
        json: bool,
    },
    /// Apply a scheme to interval data as the meter would: energy per rate and maximum demand
    /// per billing period.
    Evaluate {
        /// The scheme: a file, or ID[@VERSION] from the store.
        #[arg(long)]
        scheme: String,
        /// The profile: a reading file (.RES, NEM12, CSV; --mapping for other CSV layouts) or a
        /// stored meter's serial.
        #[arg(long)]
        profile: String,
        /// The channel (OBIS) to use when the profile has several (default: the first active
        /// energy channel, else the first active demand channel). A demand channel (W, var,
        /// VA) is converted to energy per interval (Wh = W × interval length).
        #[arg(long)]
        channel: Option<String>,
        /// What the channel's values are (default: import_kwh).
        #[arg(long, default_value = "import_kwh")]
        source: String,
        #[arg(long)]
        mapping: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Compile a scheme into the exact program a meter type holds: for the A1140 / A1700 the
    /// program image and the FLAG writes that put it in, for DLMS meters the passive activity
    /// calendar, special days and activation time. Nothing is written to any meter.
    Compile {
        /// The scheme: a file, or ID[@VERSION] from the store.
        scheme: String,
        #[arg(long, value_enum)]
        meter_type: MeterKind,
        /// When the program takes over (RFC 3339, e.g. 2026-12-01T00:00:00Z); default: as soon
        /// as it is written. The clock changes it carries start from here (or from now).
        #[arg(long)]
        activate: Option<String>,
        /// Print JSON (the program's tables, and the image in hex for FLAG meters).
        #[arg(long)]
        json: bool,
    },
    /// A utility bill: a URDB tariff (or a scheme with prices) applied to a profile, per month
    /// (see docs/billing.md).
    Bill(crate::bill::BillArgs),
    /// What-if: two tariffs billed on the same profile, side by side per month.
    Compare(crate::bill::CompareArgs),
    /// The versions of one scheme or configuration: who, when, why.
    Log {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(a: SchemeArgs) -> Result<()> {
    match a.cmd {
        SchemeCommand::Validate {
            files,
            meter_type,
            today,
            json,
        } => {
            let mt: MeterType = meter_type.into();
            let texts = files
                .iter()
                .map(|f| SchemeText::read(f))
                .collect::<Result<Vec<_>, _>>()?;
            let mut store = StoreOnDemand::new(a.store.url());
            let report = schemes::validate_texts(&texts, mt, today, &mut store).await;
            let severity = |s: Severity| match s {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            if json {
                let v: Vec<_> = report
                    .findings
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "file": f.file, "line": f.line, "severity": severity(f.severity),
                            "path": f.path, "message": f.message,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for f in &report.findings {
                    let line = f.line.map_or(String::new(), |l| format!(":{l}"));
                    let path = if f.path.is_empty() {
                        String::new()
                    } else {
                        format!("{}: ", f.path)
                    };
                    println!(
                        "{}{line}: {}: {path}{}",
                        f.file,
                        severity(f.severity),
                        f.message
                    );
                }
                if report.findings.is_empty() {
                    println!("{} file(s) valid for the {}", report.files, mt.label());
                }
            }
            let errors = report.errors();
            if errors > 0 {
                bail!("{errors} error(s)");
            }
        }
        SchemeCommand::Compile {
            scheme,
            meter_type,
            activate,
            json,
        } => {
            let store = a.store.open().await.ok();
            let s = schemes::scheme_with_label(store.as_ref(), &scheme).await?;
            let activation = activate.as_deref().map(schemes::parse_time).transpose()?;
            let c = schemes::compile(&scheme, &s, meter_type.into(), activation)?;
            if json {
                let v = schemes::compiled_json(&c)?;
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", c.listing());
            }
        }
        SchemeCommand::Show { what, json } => {
            let store = a.store.open().await.ok();
            let s = schemes::load_scheme(store.as_ref(), &what).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", s.to_toml()?);
            }
        }
        SchemeCommand::Diff { from, to } => {
            let store = a.store.open().await?;
            let d = schemes::diff(&store, &from, &to).await?;
            if d.is_empty() {
                println!("no change");
            }
            for line in d {
                println!("{line}");
            }
        }
        SchemeCommand::Import {
            paths,
            folder,
            author,
            message,
        } => {
            let store = a.store.open().await?;
            let req = ImportRequest {
                paths,
                folder,
                author,
                message,
            };
            let done = schemes::import(&store, &req, |r| match r {
                SchemeImport::Stored {
                    id,
                    kind,
                    version,
                    new_version,
                    ..
                } => {
                    let what = if *new_version {
                        "new version"
                    } else {
                        "unchanged"
                    };
                    println!("{id}: {} version {version} ({what})", kind.name());
                }
                SchemeImport::Refused { file, error } => eprintln!("{}: {error}", file.display()),
            })
            .await?;
            let failed = done
                .iter()
                .filter(|r| matches!(r, SchemeImport::Refused { .. }))
                .count();
            if failed > 0 {
                bail!("{failed} file(s) could not be read");
            }
        }
        SchemeCommand::Export { out } => {
            let store = a.store.open().await?;
            let n = schemes::export_tree(&store, &out).await?;
            eprintln!(
                "{n} scheme(s) and configuration(s) written to {}",
                out.display()
            );
        }
        SchemeCommand::Tree { json } => {
            let store = a.store.open().await?;
            let all = schemes::tree(&store).await?;
            if json {
                let v: Vec<_> = all
                    .iter()
                    .map(|v| {
                        serde_json::json!({"folder": v.folder, "id": v.id, "kind": v.kind,
                        "version": v.version, "author": v.author, "time": v.time})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let mut last: Option<&str> = None;
                for v in &all {
                    if last != Some(v.folder.as_str()) {
                        println!("{}/", v.folder);
                        last = Some(v.folder.as_str());
                    }
                    println!(
                        "  {} ({} v{}, {} {})",
                        v.id,
                        v.kind,
                        v.version,
                        v.author,
                        v.time.format("%Y-%m-%d")
                    );
                }
            }
        }
        SchemeCommand::Evaluate {
            scheme,
            profile,
            channel,
            source,
            mapping,
            json,
        } => {
            let store = a.store.open().await?;
            let source = schemes::parse_source(&source)?;
            let channel = channel.as_deref().map(schemes::parse_channel).transpose()?;
            let req = EvaluateRequest {
                scheme,
                profile,
                channel,
                source,
                mapping,
            };
            let ev = schemes::evaluate(&store, &req).await?;
            print_evaluation(&ev, json)?;
        }
        SchemeCommand::Bill(b) => crate::bill::run_bill(&a.store, b).await?,
        SchemeCommand::Compare(c) => crate::bill::run_compare(&a.store, c).await?,
        SchemeCommand::Log { id, json } => {
            let store = a.store.open().await?;
            let h = schemes::history(&store, &id).await?;
            if json {
                let v: Vec<_> = h
                    .iter()
                    .map(|v| {
                        serde_json::json!({"version": v.version, "author": v.author,
                        "time": v.time, "message": v.message, "folder": v.folder})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for v in &h {
                    println!(
                        "v{}  {}  {:<12} {}",
                        v.version,
                        v.time.to_rfc3339(),
                        v.author,
                        v.message
                    );
                }
            }
        }
    }
    Ok(())
}

fn print_evaluation(x: &SchemeEvaluation, json: bool) -> Result<()> {
    let (s, p, e, ev) = (&x.scheme, &x.series, &x.energy, &x.evaluation);
    // Energy per interval in Wh (varh, VAh), whatever the channel held; demand = energy per
    // hour, in W (var, VA).
    let unit = e.unit();
    let energy = |raw: i128| e.decimal(raw);
    let demand_unit = x.demand_unit();
    let total = x.total();
    if json {
        let v = serde_json::json!({
            "scheme": s.id,
            "meter": p.meter,
            "channel": p.channel.to_string(),
            "unit": unit.symbol(),
            "channel_unit": p.unit.symbol(),
            "conversion": e.note(),
            "source": ev.source.to_string(),
            "intervals": p.values.len(),
            "interval_s": p.interval_s,
            "gaps": p.gaps,
            "total": energy(total),
            "rates": s.rates.iter().zip(&ev.rates).map(|(r, x)| serde_json::json!({
                "rate": r.name, "register": r.register, "energy": energy(*x),
            })).collect::<Vec<_>>(),
            "periods": ev.periods.iter().map(|q| serde_json::json!({
                "start": q.start, "end": q.end,
                "rates": s.rates.iter().zip(&q.rates).map(|(r, x)| serde_json::json!({"rate": r.name, "energy": energy(*x)})).collect::<Vec<_>>(),
                "max_demand": q.max_demand.map(|(d, at)| serde_json::json!({"value": energy(d), "unit": demand_unit, "at": at})),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} on meter {} channel {} ({} intervals of {} s{}):",
        s.id,
        p.meter,
        p.channel,
        p.values.len(),
        p.interval_s,
        if p.gaps > 0 {
            format!(", {} missing counted as 0", p.gaps)
        } else {
            String::new()
        }
    );
    if let Some(n) = e.note() {
        println!("  {n}");
    }
    let by_rate = |rates: &[i128]| -> String {
        s.rates
            .iter()
            .zip(rates)
            .filter(|(r, _)| r.source == ev.source)
            .map(|(r, x)| format!("{} {} {}", r.name, energy(*x), unit.symbol()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for q in &ev.periods {
        let md = q.max_demand.map_or(String::new(), |(d, at)| {
            format!(
                "; max demand {} {demand_unit} at {}",
                energy(d),
                at.to_rfc3339()
            )
        });
        println!(
            "  {} .. {}: {}{md}",
            q.start.to_rfc3339(),
            q.end.to_rfc3339(),
            by_rate(&q.rates)
        );
    }
    println!(
        "  total: {} (all rates {} {})",
        by_rate(&ev.rates),
        energy(total),
        unit.symbol()
    );
    Ok(())
}
