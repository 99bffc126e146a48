//! `metermaster import`, `export` and `watch`: reading files in and out of the store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use metermaster_model::{IntervalNote, IntervalRow};
use metermaster_store::{AnyStore, Batch, LedgerEntry, Store};
use sha2::{Digest, Sha256};

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
    /// The data directory: --data-dir, $METERMASTER_DATA_DIR, the configuration's `data_dir`,
    /// else the default.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(|| crate::config::get().data_dir.clone())
            .unwrap_or_else(default_data_dir)
    }

    /// The store: --database, $METERMASTER_DATABASE, the configuration's `database`, else
    /// `sqlite:DATA_DIR/metermaster.db`.
    pub fn url(&self) -> String {
        if let Some(u) = self
            .database
            .clone()
            .or_else(|| crate::config::get().database.clone())
        {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    Res,
    Csv,
    Nem12,
    /// A CSV read through a user's column mapping (`--mapping FILE.toml`).
    #[value(skip)]
    Mapped,
    /// Export only: each meter's parameters from its latest reading, one JSON file per meter
    /// in the folder given with --out.
    Params,
}

/// How to read files: detected, forced to a format, or through a CSV mapping.
#[derive(Debug, Clone, Default)]
pub struct ReadAs {
    pub format: Option<FileFormat>,
    pub mapping: Option<std::sync::Arc<metermaster_res::mapped::CsvMapping>>,
}

impl ReadAs {
    /// From `--format` and `--mapping FILE`.
    pub fn from_args(format: Option<FileFormat>, mapping: Option<&Path>) -> Result<ReadAs> {
        let mapping = match mapping {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading the mapping {}", p.display()))?;
                let m = metermaster_res::mapped::CsvMapping::from_toml(&text)
                    .map_err(|e| anyhow::anyhow!("mapping {}: {e}", p.display()))?;
                Some(std::sync::Arc::new(m))
            }
        };
        Ok(ReadAs { format, mapping })
    }
}

impl FileFormat {
    fn name(self) -> &'static str {
        match self {
            FileFormat::Res => "res",
            FileFormat::Csv => "csv",
            FileFormat::Nem12 => "nem12",
            FileFormat::Mapped => "csv-mapped",
            FileFormat::Params => "params",
        }
    }
}

/// Tells the format from the content (and the name, for .RES).
pub fn detect(path: &Path, text: &str) -> Option<FileFormat> {
    let head = text.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with(metermaster_res::MAGIC) {
        return Some(FileFormat::Res);
    }
    if head.starts_with("100,NEM12") {
        return Some(FileFormat::Nem12);
    }
    if head
        .lines()
        .next()
        .is_some_and(|l| l.trim() == metermaster_res::csv::HEADER)
    {
        return Some(FileFormat::Csv);
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("res"))
    {
        return Some(FileFormat::Res);
    }
    None
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What importing one file did.
#[derive(Debug, serde::Serialize)]
pub struct ImportReport {
    pub file: String,
    pub format: Option<&'static str>,
    /// `imported`, `already imported`, or `failed`.
    pub outcome: String,
    pub readings_new: u64,
    pub intervals_changed: u64,
    pub error: Option<String>,
}

/// Parses a file into a batch (without touching the store).
pub fn parse_file(path: &Path, bytes: &[u8], how: &ReadAs) -> Result<(FileFormat, Batch)> {
    let text = std::str::from_utf8(bytes).context("the file is not UTF-8 text")?;
    let format = if how.mapping.is_some() {
        Some(FileFormat::Mapped)
    } else {
        how.format
    };
    let format = format
        .or_else(|| detect(path, text))
        .context("format not recognised (not .RES, NEM12 or the interval CSV); use --format")?;
    let origin = path.display().to_string();
    let mut batch = Batch::default();
    match format {
        FileFormat::Res => {
            for r in metermaster_res::from_res(text)? {
                batch.readings.push((r, origin.clone()));
            }
        }
        FileFormat::Csv => batch.intervals = metermaster_res::csv::read_csv(text)?,
        FileFormat::Params => bail!("--format params is for export only"),
        FileFormat::Mapped => {
            let Some(m) = &how.mapping else {
                bail!("--format mapped needs --mapping FILE.toml");
            };
            batch.intervals = metermaster_res::mapped::read_mapped_csv(text, m)?;
        }
        FileFormat::Nem12 => {
            let all = metermaster_res::nem12::read_nem12(text)?;
            batch.notes = all.iter().filter_map(|i| i.note()).collect();
            batch.intervals = all.into_iter().map(|i| i.row).collect();
        }
    }
    Ok((format, batch))
}

/// A file read, hashed and parsed, ready to store.
struct Prepared {
    file: String,
    sha: String,
    size: u64,
    parsed: std::result::Result<(FileFormat, Batch), String>,
}

fn prepare(path: &Path, how: &ReadAs) -> std::result::Result<Prepared, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading the file: {e}"))?;
    let parsed = parse_file(path, &bytes, how).map_err(|e| format!("{e:#}"));
    Ok(Prepared {
        file: path.display().to_string(),
        sha: sha256_hex(&bytes),
        size: bytes.len() as u64,
        parsed,
    })
}

/// Reads, hashes and parses files on all cores, in order.
fn prepare_all(paths: &[PathBuf], how: &ReadAs) -> Vec<std::result::Result<Prepared, String>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<std::result::Result<Prepared, String>>> =
        (0..paths.len()).map(|_| None).collect();
    let results = std::sync::Mutex::new(&mut slots);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = paths.get(k) else { break };
                    let r = prepare(p, how);
                    if let Ok(mut g) = results.lock() {
                        g[k] = Some(r);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not prepared".into())))
        .collect()
}

/// Files whose batches are written in one transaction, at most.
const GROUP_FILES: u16 = 256;
/// Interval values in one transaction, at most (a large file is still written whole).
const GROUP_INTERVALS: u64 = 2_000_000;

/// Imports files: each is skipped when the ledger already has its content, else stored together
/// with its ledger entry. Files are parsed on all cores and written in groups, one transaction
/// a group; when a group fails, its files are written one by one so that only the broken one
/// fails. A file is never stored half: its data and its ledger entry commit together.
pub async fn import_files(store: &AnyStore, paths: &[PathBuf], how: &ReadAs) -> Vec<ImportReport> {
    import_files_grouped(store, paths, how, usize::from(GROUP_FILES)).await
}

/// [`import_files`] with at most `group` files a transaction.
pub async fn import_files_grouped(
    store: &AnyStore,
    paths: &[PathBuf],
    how: &ReadAs,
    group_files: usize,
) -> Vec<ImportReport> {
    let group_files = group_files.max(1);
    let mut reports = Vec::with_capacity(paths.len());
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    for chunk in paths.chunks(usize::from(GROUP_FILES)) {
        let chunk_owned = chunk.to_vec();
        let how = how.clone();
        let prepared =
            match tokio::task::spawn_blocking(move || prepare_all(&chunk_owned, &how)).await {
                Ok(p) => p,
                Err(e) => chunk
                    .iter()
                    .map(|_| Err(format!("reading the file failed: {e}")))
                    .collect(),
            };
        // Ledger checks, then groups of batches.
        let mut group: Vec<(usize, Batch)> = Vec::new();
        let mut group_intervals = 0u64;
        for (k, p) in prepared.into_iter().enumerate() {
            let file = chunk[k].display().to_string();
            let failed = |format, e: String| ImportReport {
                file: file.clone(),
                format,
                outcome: "failed".into(),
                readings_new: 0,
                intervals_changed: 0,
                error: Some(e),
            };
            let p = match p {
                Ok(p) => p,
                Err(e) => {
                    reports.push(failed(None, e));
                    continue;
                }
            };
            let already = |what: String| ImportReport {
                file: p.file.clone(),
                format: None,
                outcome: format!("already imported ({what})"),
                readings_new: 0,
                intervals_changed: 0,
                error: None,
            };
            if let Some(first) = seen.get(&p.sha) {
                reports.push(already(format!("same content as {first}")));
                continue;
            }
            match store.ledger(&p.sha).await {
                Ok(Some(l)) if l.outcome == "imported" => {
                    reports.push(already(format!(
                        "{} at {}",
                        l.path,
                        l.imported_at.format("%Y-%m-%d %H:%M:%S")
                    )));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    reports.push(failed(None, e.to_string()));
                    continue;
                }
            }
            let (format, mut batch) = match p.parsed {
                Ok(x) => x,
                Err(e) => {
                    reports.push(failed(None, e));
                    continue;
                }
            };
            seen.insert(p.sha.clone(), p.file.clone());
            let intervals = batch.intervals.len() as u64
                + batch
                    .readings
                    .iter()
                    .filter_map(|(r, _)| r.load_profile.as_ref())
                    .map(|lp| (lp.intervals.len() * lp.channels.len()) as u64)
                    .sum::<u64>();
            batch.ledger = Some(LedgerEntry {
                sha256: p.sha,
                path: p.file.clone(),
                size: p.size,
                format: format.name().into(),
                imported_at: Utc::now(),
                outcome: "imported".into(),
                readings: batch.readings.len() as u64,
                intervals,
                report: None,
            });
            reports.push(ImportReport {
                file: p.file,
                format: Some(format.name()),
                outcome: "imported".into(),
                readings_new: 0,
                intervals_changed: 0,
                error: None,
            });
            if !group.is_empty()
                && (group_intervals + intervals > GROUP_INTERVALS || group.len() >= group_files)
            {
                write_group(store, std::mem::take(&mut group), &mut reports).await;
                group_intervals = 0;
            }
            group.push((reports.len() - 1, batch));
            group_intervals += intervals;
        }
        write_group(store, group, &mut reports).await;
    }
    reports
}

/// Writes a group of batches in one transaction; if that fails, one by one.
async fn write_group(store: &AnyStore, group: Vec<(usize, Batch)>, reports: &mut [ImportReport]) {
    if group.is_empty() {
        return;
    }
    let (idx, batches): (Vec<usize>, Vec<Batch>) = group.into_iter().unzip();
    let single = batches.len() == 1;
    let batches: std::sync::Arc<[Batch]> = batches.into();
    match store.write_many(batches.clone()).await {
        Ok(outs) => {
            for (k, out) in idx.into_iter().zip(outs) {
                reports[k].readings_new = out.readings_new;
                reports[k].intervals_changed = out.intervals_changed;
            }
        }
        Err(e) if single => {
            if let Some(&k) = idx.first() {
                reports[k].outcome = "failed".into();
                reports[k].error = Some(e.to_string());
            }
        }
        Err(_) => {
            // One file spoilt the group: write them one by one so that only it fails.
            for (k, b) in idx.into_iter().zip(batches.iter()) {
                match store.write(b.clone()).await {
                    Ok(out) => {
                        reports[k].readings_new = out.readings_new;
                        reports[k].intervals_changed = out.intervals_changed;
                    }
                    Err(e) => {
                        reports[k].outcome = "failed".into();
                        reports[k].error = Some(e.to_string());
                    }
                }
            }
        }
    }
}

/// Imports one file (see [`import_files`]).
pub async fn import_one(store: &AnyStore, path: &Path, how: &ReadAs) -> ImportReport {
    let mut r = import_files(store, &[path.to_path_buf()], how).await;
    r.pop().unwrap_or(ImportReport {
        file: path.display().to_string(),
        format: None,
        outcome: "failed".into(),
        readings_new: 0,
        intervals_changed: 0,
        error: Some("nothing was done".into()),
    })
}

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
    let how = ReadAs::from_args(a.input.format, a.input.mapping.as_deref())?;
    let store = a.store.open().await?;
    let mut reports = Vec::new();
    for r in import_files_grouped(&store, &a.input.files, &how, usize::from(a.group_files)).await {
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
    /// Only this meter (serial / NMI).
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

/// All stored interval values of the selected meters and time range, with the notes on them.
pub async fn stored_rows(
    store: &AnyStore,
    meter: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<IntervalRow>, Vec<IntervalNote>)> {
    let meters: Vec<String> = match meter {
        Some(m) => vec![m.to_string()],
        None => store
            .meters()
            .await?
            .into_iter()
            .map(|m| m.serial)
            .collect(),
    };
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for m in meters {
        let m: std::sync::Arc<str> = m.into();
        for ch in store.channels(&m).await? {
            if let Some(s) = store.series(&m, ch.channel, from, to).await? {
                rows.extend(s.points.iter().map(|p| IntervalRow {
                    meter: m.clone(),
                    channel: s.channel,
                    start: p.start,
                    seconds: s.interval_s,
                    value: p.value,
                    scale: s.scale,
                    unit: s.unit,
                    quality: p.quality,
                    status: p.status,
                }));
                let quality: std::collections::HashMap<_, _> =
                    s.points.iter().map(|p| (p.start, p.quality)).collect();
                notes.extend(s.notes.into_iter().map(|n| {
                    IntervalNote {
                        meter: m.clone(),
                        channel: s.channel,
                        start: n.start,
                        seconds: s.interval_s,
                        quality: quality
                            .get(&n.start)
                            .copied()
                            .unwrap_or(metermaster_model::Quality::Missing),
                        method: n.method,
                        reason: n.reason,
                        reason_text: n.reason_text,
                    }
                }));
            }
        }
    }
    Ok((rows, notes))
}

pub async fn export(a: ExportArgs) -> Result<()> {
    let store = a.store.open().await?;
    let from = parse_time_arg("from", &a.from, DateTime::UNIX_EPOCH)?;
    let to = parse_time_arg("to", &a.to, Utc::now() + chrono::Duration::days(3650))?;
    if from >= to {
        bail!("--from must be before --to");
    }
    if a.format == FileFormat::Params {
        let Some(dir) = &a.out else {
            bail!("--format params writes a folder: give it with --out DIR");
        };
        let n = export_params(&store, a.meter.as_deref(), dir).await?;
        eprintln!("parameters of {n} meters written to {}", dir.display());
        return Ok(());
    }
    let bytes: Vec<u8> = match a.format {
        FileFormat::Csv => {
            let (rows, _) = stored_rows(&store, a.meter.as_deref(), from, to).await?;
            let mut buf = Vec::with_capacity(rows.len() * 80);
            metermaster_res::csv::write_csv(&mut buf, &rows)?;
            buf
        }
        FileFormat::Nem12 => {
            let (rows, notes) = stored_rows(&store, a.meter.as_deref(), from, to).await?;
            metermaster_res::nem12::write_nem12_with_notes(
                &rows,
                &notes,
                "METERMASTER",
                "EXPORT",
                Utc::now(),
            )?
            .into_bytes()
        }
        FileFormat::Mapped | FileFormat::Params => bail!("export writes csv, nem12 or res"),
        FileFormat::Res => {
            let mut text = String::new();
            for rec in store.readings(a.meter.as_deref()).await? {
                if rec.started >= from && rec.started < to {
                    text.push_str(&metermaster_res::to_res(&store.reading(rec.id).await?));
                }
            }
            text.into_bytes()
        }
    };
    match &a.out {
        Some(p) => crate::write_file_atomically(p, &bytes)?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}

/// A meter serial as a file name: letters, digits, `-` and `_` kept, anything else `_`.
pub fn safe_file_name(serial: &str) -> String {
    serial
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A meter's parameters as its latest stored reading shows them.
pub fn meter_params(r: &metermaster_model::Reading, reading_id: i64) -> serde_json::Value {
    serde_json::json!({
        "serial": r.meter.serial,
        "identity": r.meter,
        "protocol": r.protocol,
        "read_at": r.finished,
        "reading_id": reading_id,
        "clock": r.clock.as_ref().map(|c| serde_json::json!({
            "utc_offset_s": c.utc_offset_s,
            "drift_s": c.drift_s,
        })),
        "ct_ratio": r.ct_ratio,
        "vt_ratio": r.vt_ratio,
        "load_profile": r.load_profile.as_ref().map(|p| serde_json::json!({
            "interval_s": p.interval_s,
            "channels": p.channels,
        })),
        "registers": r.registers.iter().map(|g| serde_json::json!({
            "obis": g.obis.to_string(), "name": g.name, "unit": g.value.unit.symbol(),
        })).collect::<Vec<_>>(),
        "max_demands": r.max_demands.iter().map(|m| serde_json::json!({
            "obis": m.obis.to_string(), "name": m.name, "unit": m.value.unit.symbol(),
        })).collect::<Vec<_>>(),
        "programming": r.programming.as_ref().map(|p| serde_json::json!({
            "count": p.count,
            "last": p.records.iter().max_by_key(|x| x.time),
        })),
        "event_counters": r.event_counters,
        "status": r.status,
    })
}

/// Writes DIR/SERIAL.json for every selected meter that has a stored reading; returns how
/// many.
async fn export_params(store: &AnyStore, meter: Option<&str>, dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut latest: std::collections::BTreeMap<String, metermaster_store::ReadingRecord> =
        Default::default();
    for rec in store.readings(meter).await? {
        // Oldest first: the last one seen is the latest.
        latest.insert(rec.meter.clone(), rec);
    }
    for (serial, rec) in &latest {
        let r = store.reading(rec.id).await?;
        let name = safe_file_name(serial);
        let text = serde_json::to_string_pretty(&meter_params(&r, rec.id))?;
        crate::write_file_atomically(&dir.join(format!("{name}.json")), text.as_bytes())?;
    }
    Ok(latest.len())
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
}

/// One watched folder, resolved.
struct Watched {
    path: PathBuf,
    processed: PathBuf,
    quarantine: PathBuf,
    how: ReadAs,
}

fn watched_folders(a: &WatchArgs) -> Result<Vec<Watched>> {
    let mut out = Vec::new();
    let cli_how = ReadAs::from_args(a.format, a.mapping.as_deref())?;
    for f in &a.folders {
        out.push(Watched {
            path: f.clone(),
            processed: a.processed.clone().unwrap_or_else(|| f.join("processed")),
            quarantine: a.quarantine.clone().unwrap_or_else(|| f.join("quarantine")),
            how: cli_how.clone(),
        });
    }
    for (k, f) in crate::config::get().watch.folders.iter().enumerate() {
        let format = match f.format.as_deref() {
            None => None,
            Some("res") => Some(FileFormat::Res),
            Some("csv") => Some(FileFormat::Csv),
            Some("nem12") => Some(FileFormat::Nem12),
            Some(other) => bail!("watch.folders[{k}].format {other:?}"),
        };
        out.push(Watched {
            path: f.path.clone(),
            processed: f
                .processed
                .clone()
                .unwrap_or_else(|| f.path.join("processed")),
            quarantine: f
                .quarantine
                .clone()
                .unwrap_or_else(|| f.path.join("quarantine")),
            how: ReadAs::from_args(format, f.mapping.as_deref())
                .with_context(|| format!("watch.folders[{k}]"))?,
        });
    }
    if out.is_empty() {
        bail!("no folders to watch: give --folder or [[watch.folders]] in the configuration");
    }
    Ok(out)
}

fn move_into(file: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = file.file_name().context("file without a name")?;
    let mut target = dir.join(name);
    let mut k = 1;
    while target.exists() {
        target = dir.join(format!("{}.{k}", name.to_string_lossy()));
        k += 1;
    }
    std::fs::rename(file, &target)
        .with_context(|| format!("moving {} to {}", file.display(), target.display()))?;
    Ok(target)
}

pub async fn watch(a: WatchArgs) -> Result<()> {
    let interval = a.interval.unwrap_or(crate::config::get().watch.interval_s);
    if interval < 10 && !a.once {
        bail!("--interval must be at least 10 seconds");
    }
    let folders = watched_folders(&a)?;
    let store = a.store.open().await?;
    // Size and modification time at the previous scan: a file is taken when both held still.
    let mut seen: std::collections::HashMap<PathBuf, (u64, std::time::SystemTime)> =
        Default::default();
    loop {
        for w in &folders {
            let entries = match std::fs::read_dir(&w.path) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("{}: {e}", w.path.display());
                    continue;
                }
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            files.sort();
            for f in files {
                let Ok(meta) = std::fs::metadata(&f) else {
                    continue;
                };
                let stamp = (meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH));
                let stable = a.once || seen.get(&f) == Some(&stamp);
                seen.insert(f.clone(), stamp);
                if !stable {
                    continue;
                }
                seen.remove(&f);
                let report = import_one(&store, &f, &w.how).await;
                match &report.error {
                    None => {
                        let to = move_into(&f, &w.processed)?;
                        println!("{}: {} -> {}", report.file, report.outcome, to.display());
                    }
                    Some(e) => {
                        let to = move_into(&f, &w.quarantine)?;
                        let report_path = PathBuf::from(format!("{}.report.txt", to.display()));
                        std::fs::write(&report_path, format!("{}\n{e}\n", report.file))
                            .with_context(|| format!("writing {}", report_path.display()))?;
                        eprintln!("{}: quarantined: {e}", report.file);
                    }
                }
            }
        }
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

/// One meter channel's intervals in a file, summed exactly.
#[derive(Debug, Default)]
struct SeriesSummary {
    unit: Option<metermaster_model::Unit>,
    interval_s: u32,
    intervals: u64,
    /// Sum as (raw, scale) at the finest scale seen.
    total: (i128, i8),
    first: Option<DateTime<Utc>>,
    last_end: Option<DateTime<Utc>>,
    quality: std::collections::BTreeMap<&'static str, u64>,
    methods: std::collections::BTreeMap<String, u64>,
}

fn add_exact(total: (i128, i8), value: i64, scale: i8) -> Option<(i128, i8)> {
    let (mut t, mut ts) = total;
    let mut v = i128::from(value);
    let mut vs = scale;
    while vs > ts {
        v = v.checked_mul(10)?;
        vs -= 1;
    }
    while ts > vs {
        t = t.checked_mul(10)?;
        ts -= 1;
    }
    Some((t.checked_add(v)?, ts))
}

fn decimal(raw: i128, scale: i8) -> String {
    if scale >= 0 {
        let mut s = raw.to_string();
        if raw != 0 {
            s.push_str(&"0".repeat(scale as usize));
        }
        return s;
    }
    let neg = raw < 0;
    let digits = raw.unsigned_abs().to_string();
    let d = (-scale) as usize;
    let padded = if digits.len() <= d {
        format!("{}{digits}", "0".repeat(d + 1 - digits.len()))
    } else {
        digits
    };
    let (a, b) = padded.split_at(padded.len() - d);
    format!("{}{a}.{b}", if neg { "-" } else { "" })
}

/// `metermaster inspect`: what a file holds, without storing it: per meter and channel the
/// number of intervals, their exact total, the time span, qualities and (NEM12) methods.
pub async fn inspect(a: InspectArgs) -> Result<()> {
    let how = ReadAs::from_args(a.input.format, a.input.mapping.as_deref())?;
    let mut out = Vec::new();
    let mut failed = 0;
    for path in &a.input.files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (format, batch) = match parse_file(path, &bytes, &how) {
            Ok(x) => x,
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:#}", path.display());
                out.push(serde_json::json!({"file": path.display().to_string(), "error": format!("{e:#}")}));
                continue;
            }
        };
        let mut rows: Vec<IntervalRow> = batch.intervals;
        for (r, _) in &batch.readings {
            rows.extend(metermaster_store::reading_intervals(r));
        }
        let methods: std::collections::HashMap<
            (&str, metermaster_model::ObisCode, DateTime<Utc>),
            &str,
        > = batch
            .notes
            .iter()
            .map(|n| ((&*n.meter, n.channel, n.start), n.method.as_str()))
            .collect();
        let mut series: std::collections::BTreeMap<(String, String), SeriesSummary> =
            Default::default();
        for r in &rows {
            let s = series
                .entry((r.meter.to_string(), r.channel.to_string()))
                .or_default();
            s.unit.get_or_insert(r.unit);
            s.interval_s = r.seconds;
            s.intervals += 1;
            s.total = add_exact(s.total, r.value, r.scale).with_context(|| {
                format!(
                    "{}: total of {} {} overflows",
                    path.display(),
                    r.meter,
                    r.channel
                )
            })?;
            let end = r.start + chrono::Duration::seconds(i64::from(r.seconds));
            s.first = Some(s.first.map_or(r.start, |f| f.min(r.start)));
            s.last_end = Some(s.last_end.map_or(end, |l| l.max(end)));
            *s.quality.entry(r.quality.word()).or_default() += 1;
            if format == FileFormat::Nem12 {
                let m = methods
                    .get(&(&*r.meter, r.channel, r.start))
                    .copied()
                    .unwrap_or("A");
                *s.methods.entry(m.to_string()).or_default() += 1;
            }
        }
        if !a.json {
            println!(
                "{}: {} ({} readings, {} interval values)",
                path.display(),
                format.name(),
                batch.readings.len(),
                rows.len()
            );
            for ((meter, channel), s) in &series {
                println!(
                    "  {meter} {channel}: {} × {} s, {} .. {}, total {} {}, {}",
                    s.intervals,
                    s.interval_s,
                    s.first.map_or("-".into(), |t| t.to_rfc3339()),
                    s.last_end.map_or("-".into(), |t| t.to_rfc3339()),
                    decimal(s.total.0, s.total.1),
                    s.unit.map_or("", |u| u.symbol()),
                    s.quality
                        .iter()
                        .map(|(q, n)| format!("{n} {q}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        out.push(serde_json::json!({
            "file": path.display().to_string(),
            "format": format.name(),
            "readings": batch.readings.len(),
            "series": series.iter().map(|((meter, channel), s)| serde_json::json!({
                "meter": meter,
                "channel": channel,
                "unit": s.unit.map(|u| u.symbol()),
                "interval_s": s.interval_s,
                "intervals": s.intervals,
                "total": decimal(s.total.0, s.total.1),
                "first": s.first,
                "end": s.last_end,
                "quality": s.quality,
                "methods": s.methods,
            })).collect::<Vec<_>>(),
        }));
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
