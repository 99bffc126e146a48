//! `metermaster import`, `export` and `watch`: reading files in and out of the store.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use metermaster_store::AnyStore;

/// Where the store is: `--database URL`, else a SQLite file in the data directory.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store: `sqlite:PATH` or `postgres://USER@HOST/DB`. Default: `sqlite:DATA_DIR/metermaster.db`.
    #[arg(long, env = "METERMASTER_DATABASE", global = true)]
    pub database: Option<String>,
    /// The data directory. Default: $METERMASTER_DATA_DIR, else ~/.local/share/metermaster.
    #[arg(long, env = "METERMASTER_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

/// The data directory when none is given: $METERMASTER_DATA_DIR, else
/// $XDG_DATA_HOME/metermaster, else ~/.local/share/metermaster.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("METERMASTER_DATA_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("metermaster")
}

impl StoreArgs {
    /// Fills what the command line and the environment left open from the configuration.
    pub fn apply(&mut self, cfg: &crate::config::Config) {
        if self.data_dir.is_none() {
            self.data_dir = cfg.data_dir.clone();
        }
        if self.database.is_none() {
            self.database = cfg.database.clone();
        }
    }

    /// The data directory: --data-dir, $METERMASTER_DATA_DIR, the configuration's `data_dir`
    /// (applied by [`StoreArgs::apply`]), else the default.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The store: --database, $METERMASTER_DATABASE, the configuration's `database`, else
    /// `sqlite:DATA_DIR/metermaster.db`.
    pub fn url(&self) -> String {
        if let Some(u) = self.database.clone() {
            return u;
        }
        format!(
            "sqlite:{}",
            self.data_dir().join("metermaster.db").display()
        )
    }

    pub async fn open(&self) -> Result<AnyStore> {
        let url = self.url();
        AnyStore::open(&url)
            .await
            .with_context(|| format!("opening the store {url}"))
    }
}

pub use metermaster_master::files::{
    FileFormat, GROUP_FILES, ReadAs, WatchEvent, WatchFolder, import_files, import_one,
};

/// Files to read and how.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// Files: .RES, NEM12 or the interval CSV (detected from the content), or any CSV with
    /// --mapping.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Force the format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Read the files as CSV through this column mapping (TOML; see docs/files.md).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub input: FileArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Files written per transaction, at most (each file's data always commits whole, with its
    /// ledger entry). Fewer means more commits; more means fewer.
    #[arg(long, default_value_t = GROUP_FILES, value_parser = clap::value_parser!(u16).range(1..))]
    pub group_files: u16,
}

pub async fn import(a: ImportArgs) -> Result<()> {
    let how = ReadAs::new(a.input.format, a.input.mapping.as_deref())?;
    let store = a.store.open().await?;
    let mut reports = Vec::new();
    for r in metermaster_master::files::import_files_grouped(
        &store,
        &a.input.files,
        &how,
        usize::from(a.group_files),
    )
    .await
    {
        if !a.json {
            match &r.error {
                Some(e) => eprintln!("{}: {e}", r.file),
                None => println!(
                    "{}: {} ({} new readings, {} interval values written)",
                    r.file, r.outcome, r.readings_new, r.intervals_changed
                ),
            }
        }
        reports.push(r);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    let failed = reports.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        bail!("{failed} of {} files could not be imported", reports.len());
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: FileFormat,
    /// Only this meter, by its id or any alias (serial with or without zero padding, NMI).
    #[arg(long)]
    pub meter: Option<String>,
    /// From this time (RFC 3339), inclusive.
    #[arg(long)]
    pub from: Option<String>,
    /// To this time (RFC 3339), exclusive.
    #[arg(long)]
    pub to: Option<String>,
    /// Write to this file (replaced atomically) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn parse_time_arg(name: &str, v: &Option<String>, default: DateTime<Utc>) -> Result<DateTime<Utc>> {
    match v {
        None => Ok(default),
        Some(s) => Ok(DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--{name} {s:?} is not an RFC 3339 time"))?
            .with_timezone(&Utc)),
    }
}

pub async fn export(a: ExportArgs) -> Result<()> {
    let store = a.store.open().await?;
    let from = parse_time_arg("from", &a.from, DateTime::UNIX_EPOCH)?;
    let to = parse_time_arg("to", &a.to, Utc::now() + chrono::Duration::days(3650))?;
    if a.format == FileFormat::Params {
        let Some(dir) = &a.out else {
            bail!("--format params writes a folder: give it with --out DIR");
        };
        let n = metermaster_master::files::export_params(&store, a.meter.as_deref(), dir).await?;
        eprintln!("parameters of {n} meters written to {}", dir.display());
        return Ok(());
    }
    let bytes = metermaster_master::files::export(
        &store,
        &metermaster_master::files::ExportRequest {
            format: a.format,
            meter: a.meter.clone(),
            from,
            to,
        },
    )
    .await?;
    match &a.out {
        Some(p) => crate::write_file_atomically(p, &bytes)?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Folders to scan for reading files (added to the configuration's `[[watch.folders]]`).
    #[arg(long = "folder")]
    pub folders: Vec<PathBuf>,
    /// Seconds between scans (at least 10; a file is taken once it has not changed for one
    /// scan interval). Default: the configuration's `watch.interval_s`, else 60.
    #[arg(long)]
    pub interval: Option<u64>,
    /// Where imported files of the --folder folders go (default: FOLDER/processed).
    #[arg(long)]
    pub processed: Option<PathBuf>,
    /// Where broken files of the --folder folders go, with a .report.txt beside each (default:
    /// FOLDER/quarantine).
    #[arg(long)]
    pub quarantine: Option<PathBuf>,
    /// Force the format of the --folder folders' files.
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Read the --folder folders' files as CSV through this column mapping (TOML).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Scan once and take every file found, stable or not (for scripts and tests).
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The configuration's `[[watch.folders]]` (filled by `main` from the configuration).
    #[arg(skip)]
    pub config_folders: Vec<crate::config::WatchFolder>,
}

impl WatchArgs {
    /// Fills the interval and adds the folders of the configuration.
    pub fn apply(&mut self, cfg: &crate::config::Config) {
        self.store.apply(cfg);
        if self.interval.is_none() {
            self.interval = Some(cfg.watch.interval_s);
        }
        self.config_folders = cfg.watch.folders.clone();
    }
}

/// The folders to watch: the command line's and the configuration's.
fn watched_folders(a: &WatchArgs) -> Result<Vec<WatchFolder>> {
    let mut out = Vec::new();
    let cli_how = ReadAs::new(a.format, a.mapping.as_deref())?;
    for f in &a.folders {
        out.push(WatchFolder {
            path: f.clone(),
            processed: a.processed.clone().unwrap_or_else(|| f.join("processed")),
            quarantine: a.quarantine.clone().unwrap_or_else(|| f.join("quarantine")),
            how: cli_how.clone(),
        });
    }
    for (k, f) in a.config_folders.iter().enumerate() {
        out.push(f.resolve().with_context(|| format!("watch.folders[{k}]"))?);
    }
    if out.is_empty() {
        bail!("no folders to watch: give --folder or [[watch.folders]] in the configuration");
    }
    Ok(out)
}

pub async fn watch(a: WatchArgs) -> Result<()> {
    let interval = a.interval.unwrap_or(60);
    if interval < 10 && !a.once {
        bail!("--interval must be at least 10 seconds");
    }
    let folders = watched_folders(&a)?;
    metermaster_master::files::check_watch_folders(&folders)?;
    let store = a.store.open().await?;
    let mut state = metermaster_master::files::WatchState::default();
    loop {
        metermaster_master::files::watch_scan(
            &store,
            &folders,
            &mut state,
            a.once,
            |ev| match ev {
                WatchEvent::FolderError { folder, error } => {
                    eprintln!("{}: {error}", folder.display())
                }
                WatchEvent::Imported { report, to } => {
                    println!("{}: {} -> {}", report.file, report.outcome, to.display())
                }
                WatchEvent::Quarantined { report, .. } => eprintln!(
                    "{}: quarantined: {}",
                    report.file,
                    report.error.as_deref().unwrap_or("")
                ),
            },
        )
        .await?;
        if a.once {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(interval)).await;
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub input: FileArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `metermaster inspect`: what a file holds, without storing it (see
/// [`metermaster_master::files::inspect_file`]).
pub async fn inspect(a: InspectArgs) -> Result<()> {
    let how = ReadAs::new(a.input.format, a.input.mapping.as_deref())?;
    let mut out = Vec::new();
    let mut failed = 0;
    for path in &a.input.files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let f = match metermaster_master::files::inspect_file(path, &bytes, &how) {
            Ok(f) => f,
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", path.display());
                out.push(
                    serde_json::json!({"file": path.display().to_string(), "error": e.to_string()}),
                );
                continue;
            }
        };
        if !a.json {
            println!(
                "{}: {} ({} readings, {} interval values)",
                path.display(),
                f.format,
                f.readings,
                f.interval_values
            );
            for s in &f.series {
                let total = match (s.energy, &s.conversion) {
                    (true, Some(_)) => format!(
                        "total {} {} (from {}, average demand × {} s)",
                        s.total,
                        s.unit,
                        s.channel_unit.unwrap_or(""),
                        s.interval_s
                    ),
                    (true, None) => format!("total {} {}", s.total, s.unit),
                    (false, _) => format!("sum {} {} (not energy)", s.total, s.unit),
                };
                println!(
                    "  {} {}: {} × {} s, {} .. {}, {total}, {}",
                    s.meter,
                    s.channel,
                    s.intervals,
                    s.interval_s,
                    s.first.map_or("-".into(), |t| t.to_rfc3339()),
                    s.end.map_or("-".into(), |t| t.to_rfc3339()),
                    s.quality
                        .iter()
                        .map(|(q, n)| format!("{n} {q}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        out.push(serde_json::to_value(&f)?);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    if failed > 0 {
        bail!(
            "{failed} of {} files could not be read",
            a.input.files.len()
        );
    }
    Ok(())
}
