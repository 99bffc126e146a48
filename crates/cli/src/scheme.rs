//! `metermaster scheme ...`: tariff schemes and meter configurations: validate, show, diff, and
//! the versioned tree in the store (import, export, tree, log).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use metermaster_store::{AnyStore, SchemeVersion, Store};
use metermaster_tariff::{
    MeterCapabilities, MeterConfiguration, MeterType, Scheme, Severity, line_of, resolve_chain,
    validate, validate_configuration,
};

use crate::files::StoreArgs;

#[derive(Debug, Args)]
pub struct SchemeArgs {
    #[command(subcommand)]
    pub cmd: SchemeCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MeterTypeArg {
    A1140,
    A1700,
    Dlms,
}

impl From<MeterTypeArg> for MeterType {
    fn from(m: MeterTypeArg) -> MeterType {
        match m {
            MeterTypeArg::A1140 => MeterType::A1140,
            MeterTypeArg::A1700 => MeterType::A1700,
            MeterTypeArg::Dlms => MeterType::Dlms,
        }
    }
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
        meter_type: MeterTypeArg,
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
        meter_type: MeterTypeArg,
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

/// A scheme or configuration file's text, parsed.
enum Doc {
    Scheme(Scheme),
    Config(MeterConfiguration),
}

/// Whether a file is a meter configuration rather than a scheme: it has a top-level key only
/// configurations have. (A file that is not TOML at all is read as a scheme, whose reader then
/// says where it breaks.)
fn is_configuration(text: &str) -> bool {
    const ONLY_CONFIGURATIONS: [&str; 6] = [
        "meter_type",
        "scheme",
        "ct_ratio",
        "vt_ratio",
        "passwords",
        "clock",
    ];
    toml::from_str::<toml::Table>(text)
        .is_ok_and(|t| ONLY_CONFIGURATIONS.iter().any(|k| t.contains_key(*k)))
}

fn parse_doc(text: &str) -> std::result::Result<Doc, String> {
    if is_configuration(text) {
        MeterConfiguration::from_toml(text)
            .map(Doc::Config)
            .map_err(|e| e.to_string())
    } else {
        Scheme::from_toml(text)
            .map(Doc::Scheme)
            .map_err(|e| e.to_string())
    }
}

/// The text of a file, or of `ID[@VERSION]` in the store.
async fn load_text(store: Option<&AnyStore>, what: &str) -> Result<(String, String)> {
    let p = Path::new(what);
    if p.exists() {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return Ok((text, what.to_string()));
    }
    let Some(store) = store else {
        bail!("{what}: no such file");
    };
    let (id, version) = match what.rsplit_once('@') {
        Some((id, v)) => (
            id,
            Some(
                v.parse::<i64>()
                    .with_context(|| format!("{what}: version {v:?} is not a number"))?,
            ),
        ),
        None => (what, None),
    };
    let v = store
        .scheme(id, version)
        .await?
        .with_context(|| format!("{what}: no such file, and no such scheme in the store"))?;
    Ok((v.body, format!("{}@{}", v.id, v.version)))
}

/// Schemes by id from the store's latest versions.
async fn stored_schemes(store: &AnyStore) -> Result<Vec<Scheme>> {
    Ok(store
        .schemes()
        .await?
        .into_iter()
        .filter(|v| v.kind == "scheme")
        .filter_map(|v| Scheme::from_toml(&v.body).ok())
        .collect())
}

pub(crate) async fn resolved_scheme(store: &AnyStore, what: &str) -> Result<Scheme> {
    let (text, origin) = load_text(Some(store), what).await?;
    let s = Scheme::from_toml(&text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    if s.parent.is_none() {
        return Ok(s);
    }
    let mut known = stored_schemes(store).await?;
    known.retain(|k| k.id != s.id);
    known.push(s.clone());
    resolve_chain(&s.id, |id| known.iter().find(|k| k.id == id).cloned())
        .map_err(|e| anyhow::anyhow!("{origin}: {e}"))
}

/// RFC 3339 time.
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .with_context(|| format!("{s:?}: not an RFC 3339 time (2026-12-01T00:00:00Z)"))
}

/// A scheme (resolved) and the label a meter keeps for it: `ID@VERSION` when it is in the
/// store (a file whose text is the stored latest version counts), else its id.
pub async fn scheme_with_label(store: Option<&AnyStore>, what: &str) -> Result<(Scheme, String)> {
    let (text, origin) = load_text(store, what).await?;
    let parsed = Scheme::from_toml(&text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    let s = match store {
        Some(st) if parsed.parent.is_some() => resolved_scheme(st, what).await?,
        _ if parsed.parent.is_some() => {
            bail!(
                "{origin}: the scheme inherits from {:?}; its parents are looked up in the store, which did not open",
                parsed.parent.as_deref().unwrap_or("")
            )
        }
        _ => parsed,
    };
    let label = if origin.contains('@') && !Path::new(what).exists() {
        origin
    } else {
        match store {
            Some(st) => match st.scheme(&s.id, None).await? {
                Some(v) if v.body == text => format!("{}@{}", v.id, v.version),
                _ => s.id.clone(),
            },
            None => s.id.clone(),
        }
    };
    Ok((s, label))
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            toml_files(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

pub async fn run(a: SchemeArgs) -> Result<()> {
    match a.cmd {
        SchemeCommand::Validate {
            files,
            meter_type,
            today,
            json,
        } => {
            let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let mt: MeterType = meter_type.into();
            let caps = MeterCapabilities::for_type(mt);
            let mut texts = Vec::new();
            for f in &files {
                texts.push(
                    std::fs::read_to_string(f)
                        .with_context(|| format!("reading {}", f.display()))?,
                );
            }
            // Parents come from the files given, then from the store (when it opens).
            let mut known: Vec<Scheme> = texts
                .iter()
                .filter(|t| !is_configuration(t))
                .filter_map(|t| Scheme::from_toml(t).ok())
                .collect();
            let any_parent = known.iter().any(|s| s.parent.is_some())
                || texts.iter().any(|t| is_configuration(t));
            if any_parent {
                if let Ok(store) = a.store.open().await {
                    for s in stored_schemes(&store).await.unwrap_or_default() {
                        if !known.iter().any(|k| k.id == s.id) {
                            known.push(s);
                        }
                    }
                }
            }
            let lookup = |id: &str| known.iter().find(|k| k.id == id).cloned();
            let mut report = Vec::new();
            let mut errors = 0;
            for (f, text) in files.iter().zip(&texts) {
                let name = f.display().to_string();
                let mut push = |line: Option<usize>, sev: &str, path: &str, msg: &str| {
                    if sev == "error" {
                        errors += 1;
                    }
                    report.push(serde_json::json!({
                        "file": name, "line": line, "severity": sev, "path": path, "message": msg,
                    }));
                };
                let violations = match parse_doc(text) {
                    Err(e) => {
                        for l in e.lines() {
                            push(None, "error", "", l);
                        }
                        continue;
                    }
                    Ok(Doc::Scheme(s)) => match resolve_chain(&s.id, lookup) {
                        Ok(r) => validate(&r, &caps, today),
                        Err(e) => {
                            push(None, "error", "parent", &e.to_string());
                            continue;
                        }
                    },
                    Ok(Doc::Config(c)) => {
                        let resolved = if c.parent.is_some() {
                            // Configurations inherit from configurations among the files.
                            let configs: Vec<MeterConfiguration> = texts
                                .iter()
                                .filter(|t| is_configuration(t))
                                .filter_map(|t| MeterConfiguration::from_toml(t).ok())
                                .collect();
                            match resolve_chain(&c.id, |id| {
                                configs.iter().find(|k| k.id == id).cloned()
                            }) {
                                Ok(r) => r,
                                Err(e) => {
                                    push(None, "error", "parent", &e.to_string());
                                    continue;
                                }
                            }
                        } else {
                            c
                        };
                        validate_configuration(&resolved, |id| resolve_chain(id, lookup).ok())
                    }
                };
                for v in violations {
                    let sev = match v.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    };
                    push(line_of(text, &v.path), sev, &v.path, &v.message);
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for r in &report {
                    let line = r["line"]
                        .as_u64()
                        .map_or(String::new(), |l| format!(":{l}"));
                    let path = r["path"].as_str().unwrap_or("");
                    let path = if path.is_empty() {
                        String::new()
                    } else {
                        format!("{path}: ")
                    };
                    println!(
                        "{}{line}: {}: {path}{}",
                        r["file"].as_str().unwrap_or(""),
                        r["severity"].as_str().unwrap_or(""),
                        r["message"].as_str().unwrap_or("")
                    );
                }
                if report.is_empty() {
                    println!("{} file(s) valid for the {}", files.len(), mt.label());
                }
            }
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
            let (s, label) = scheme_with_label(store.as_ref(), &scheme).await?;
            let activation = activate.as_deref().map(parse_time).transpose()?;
            let now = chrono::Utc::now();
            let c = metermaster_tariff::compile(&s, meter_type.into(), &label, activation, now)
                .map_err(|e| anyhow::anyhow!("{scheme}: {e}"))?;
            if json {
                let mut v = serde_json::to_value(&c)?;
                if let metermaster_tariff::Compiled::Dlms(d) = &c {
                    v["writes"] = d
                        .attributes()
                        .into_iter()
                        .map(|w| {
                            serde_json::json!({
                                "obis": metermaster_dlms::obis::Dotted(w.obis).to_string(),
                                "class_id": w.class_id,
                                "attribute": w.attribute,
                                "name": w.name,
                                "value_hex": metermaster_flag::codec::to_hex(&w.value.encode()),
                            })
                        })
                        .collect();
                }
                if let metermaster_tariff::Compiled::Flag(p) = &c {
                    let image = p.encode();
                    v["image_hex"] = metermaster_flag::codec::to_hex(&image).into();
                    v["crc"] =
                        format!("{:04X}", metermaster_flag::program::image_crc(&image)).into();
                    v["writes"] = p
                        .write_sequence()
                        .into_iter()
                        .map(|(w, level)| serde_json::json!({"message": w, "level": level}))
                        .collect();
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", c.listing());
            }
        }
        SchemeCommand::Show { what, json } => {
            let store = a.store.open().await.ok();
            let s = match &store {
                Some(st) => resolved_scheme(st, &what).await?,
                None => {
                    let (text, origin) = load_text(None, &what).await?;
                    Scheme::from_toml(&text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", s.to_toml().map_err(|e| anyhow::anyhow!("{e}"))?);
            }
        }
        SchemeCommand::Diff { from, to } => {
            let store = a.store.open().await?;
            let x = resolved_scheme(&store, &from).await?;
            let y = resolved_scheme(&store, &to).await?;
            let d = metermaster_tariff::diff(&x, &y);
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
            let mut failed = 0;
            for root in &paths {
                let mut files = Vec::new();
                if root.is_dir() {
                    toml_files(root, &mut files)?;
                } else {
                    files.push(root.clone());
                }
                for f in files {
                    let text = std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?;
                    let (id, kind) = match parse_doc(&text) {
                        Ok(Doc::Scheme(s)) => (s.id, "scheme"),
                        Ok(Doc::Config(c)) => (c.id, "configuration"),
                        Err(e) => {
                            failed += 1;
                            eprintln!("{}: {e}", f.display());
                            continue;
                        }
                    };
                    let tree_folder = match &folder {
                        Some(x) => metermaster_store::group_path(x)?,
                        None if root.is_dir() => f
                            .parent()
                            .and_then(|p| p.strip_prefix(root).ok())
                            .map(|p| {
                                p.components()
                                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                                    .collect::<Vec<_>>()
                                    .join("/")
                            })
                            .unwrap_or_default(),
                        None => String::new(),
                    };
                    let before = store.scheme(&id, None).await?.map(|v| v.version);
                    let n = store
                        .put_scheme(SchemeVersion {
                            id: id.clone(),
                            version: 0,
                            kind: kind.into(),
                            folder: tree_folder,
                            body: text,
                            author: author.clone(),
                            time: chrono::Utc::now(),
                            message: message.clone(),
                        })
                        .await?;
                    let what = if before == Some(n) {
                        "unchanged"
                    } else {
                        "new version"
                    };
                    println!("{id}: {kind} version {n} ({what})");
                }
            }
            if failed > 0 {
                bail!("{failed} file(s) could not be read");
            }
        }
        SchemeCommand::Export { out } => {
            let store = a.store.open().await?;
            let all = store.schemes().await?;
            for v in &all {
                let dir = v
                    .folder
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .fold(out.clone(), |d, s| d.join(crate::files::safe_file_name(s)));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let path = dir.join(format!("{}.toml", crate::files::safe_file_name(&v.id)));
                crate::write_file_atomically(&path, v.body.as_bytes())?;
            }
            eprintln!(
                "{} scheme(s) and configuration(s) written to {}",
                all.len(),
                out.display()
            );
        }
        SchemeCommand::Tree { json } => {
            let store = a.store.open().await?;
            let all = store.schemes().await?;
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
            let s = resolved_scheme(&store, &scheme).await?;
            let source: metermaster_tariff::Source =
                serde_json::from_value(serde_json::Value::String(source.clone())).map_err(|_| {
                    anyhow::anyhow!(
                        "--source {source:?}: one of import_kwh, export_kwh, import_kvarh, export_kvarh, q1_kvarh .. q4_kvarh, kvah"
                    )
                })?;
            let channel = match &channel {
                Some(c) => Some(
                    metermaster_model::ObisCode::parse(c)
                        .map_err(|e| anyhow::anyhow!("--channel {c:?}: {e}"))?,
                ),
                None => None,
            };
            let series = profile_series(&store, &profile, channel, mapping.as_deref()).await?;
            let energy = series.energy()?;
            let ev = metermaster_tariff::evaluate(
                &s,
                source,
                series.start,
                series.interval_s,
                &energy.values,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            print_evaluation(&s, &series, &energy, &ev, json)?;
        }
        SchemeCommand::Bill(b) => crate::bill::run_bill(&a.store, b).await?,
        SchemeCommand::Compare(c) => crate::bill::run_compare(&a.store, c).await?,
        SchemeCommand::Log { id, json } => {
            let store = a.store.open().await?;
            let h = store.scheme_history(&id).await?;
            if h.is_empty() {
                bail!("no scheme or configuration {id} in the store");
            }
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

/// One channel of interval values as stored (energy or demand) on a gapless grid (gaps are
/// zero, and counted).
pub struct ProfileSeries {
    pub meter: String,
    pub channel: metermaster_model::ObisCode,
    pub unit: metermaster_model::Unit,
    pub scale: i8,
    pub start: chrono::DateTime<chrono::Utc>,
    pub interval_s: u32,
    pub values: Vec<i64>,
    pub gaps: usize,
}

impl ProfileSeries {
    /// The series as energy per interval (demand × interval length; see
    /// [`metermaster_res::energy`]), or why it has none.
    pub fn energy(&self) -> Result<metermaster_res::energy::EnergySeries> {
        metermaster_res::energy::energy_per_interval(
            self.channel,
            self.unit,
            self.scale,
            self.interval_s,
            &self.values,
        )
        .map_err(|e| anyhow::anyhow!("meter {}: {e}", self.meter))
    }
}

/// A channel from a file or a stored meter, as a gapless series at one scale.
pub(crate) async fn profile_series(
    store: &AnyStore,
    profile: &str,
    channel: Option<metermaster_model::ObisCode>,
    mapping: Option<&Path>,
) -> Result<ProfileSeries> {
    use metermaster_model::{IntervalRow, Quantity};
    let rows: Vec<IntervalRow> = if Path::new(profile).exists() {
        let how = crate::files::ReadAs::from_args(None, mapping)?;
        let p = Path::new(profile);
        let bytes = std::fs::read(p).with_context(|| format!("reading {profile}"))?;
        let (_, batch) = crate::files::parse_file(p, &bytes, &how)?;
        let mut rows = batch.intervals;
        for (r, _) in &batch.readings {
            rows.extend(metermaster_store::reading_intervals(r));
        }
        rows
    } else {
        let (rows, _) = crate::files::stored_rows(
            store,
            Some(profile),
            chrono::DateTime::UNIX_EPOCH,
            chrono::Utc::now() + chrono::Duration::days(3650),
        )
        .await?;
        if rows.is_empty() {
            bail!("{profile}: no such file, and no stored profile for a meter of that serial");
        }
        rows
    };
    let ch = match channel {
        Some(c) => c,
        None => rows
            .iter()
            .find(|r| r.unit == metermaster_model::Unit::WattHour)
            .or_else(|| {
                rows.iter()
                    .find(|r| r.unit == metermaster_model::Unit::Watt)
            })
            .or(rows.first())
            .map(|r| r.channel)
            .context("the profile has no intervals")?,
    };
    let mut rows: Vec<&IntervalRow> = rows.iter().filter(|r| r.channel == ch).collect();
    if rows.is_empty() {
        bail!("the profile has no channel {ch}");
    }
    rows.sort_by_key(|r| r.start);
    let first = rows[0];
    if rows.iter().any(|r| r.meter != first.meter) {
        bail!("the profile holds several meters; give one meter's file or serial");
    }
    let interval_s = first.seconds;
    let scale = rows.iter().map(|r| r.scale).min().unwrap_or(0);
    let start = first.start;
    let last = rows.last().map_or(start, |r| r.start);
    let n = ((last - start).num_seconds() / i64::from(interval_s) + 1) as usize;
    let mut values = vec![0i64; n];
    let mut present = vec![false; n];
    for r in &rows {
        if r.seconds != interval_s {
            bail!(
                "channel {ch} mixes interval lengths ({} s and {} s)",
                interval_s,
                r.seconds
            );
        }
        if r.unit != first.unit {
            bail!(
                "channel {ch} mixes units ({} and {})",
                first.unit.symbol(),
                r.unit.symbol()
            );
        }
        let k = ((r.start - start).num_seconds() / i64::from(interval_s)) as usize;
        let v = Quantity::new(r.value, r.scale, r.unit)
            .rescaled(scale)
            .context("a value does not fit the common scale")?;
        if let (Some(slot), Some(p)) = (values.get_mut(k), present.get_mut(k)) {
            *slot = v;
            *p = true;
        }
    }
    Ok(ProfileSeries {
        meter: first.meter.to_string(),
        channel: ch,
        unit: first.unit,
        scale,
        start,
        interval_s,
        gaps: present.iter().filter(|p| !**p).count(),
        values,
    })
}

fn print_evaluation(
    s: &Scheme,
    p: &ProfileSeries,
    e: &metermaster_res::energy::EnergySeries,
    ev: &metermaster_tariff::Evaluation,
    json: bool,
) -> Result<()> {
    use metermaster_model::Unit;
    // Energy per interval in Wh (varh, VAh), whatever the channel held; demand = energy per
    // hour, in W (var, VA).
    let unit = e.unit();
    let energy = |raw: i128| e.decimal(raw);
    let demand_unit = match unit {
        Unit::WattHour | Unit::VarHour | Unit::VoltAmpereHour => unit.demand().symbol(),
        _ => "per hour",
    };
    let total: i128 = s
        .rates
        .iter()
        .zip(&ev.rates)
        .filter(|(r, _)| r.source == ev.source)
        .map(|(_, x)| *x)
        .sum();
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
