//! Reading files into the store (import, the folder watcher with its ledger and quarantine) and
//! writing stored data out (export): the calls every front end makes, none of them printing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use metermaster_model::{IntervalNote, IntervalRow};
use metermaster_store::{AnyStore, Batch, LedgerEntry, Store, StoreError};
use sha2::{Digest, Sha256};

/// Why a file operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// A file or folder could not be read, written or moved.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Options that do not go together, a broken mapping, a format that cannot be written.
    #[error("{0}")]
    Invalid(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> FilesError {
    let what = what.into();
    move |error| FilesError::Io { what, error }
}

/// The file formats metermaster reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FileFormat {
    Res,
    Csv,
    Nem12,
    /// A CSV read through a user's column mapping (`--mapping FILE.toml`).
    #[cfg_attr(feature = "clap", value(skip))]
    Mapped,
    /// Export only: each meter's parameters from its latest reading, one JSON file per meter.
    Params,
}

impl FileFormat {
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Res => "res",
            FileFormat::Csv => "csv",
            FileFormat::Nem12 => "nem12",
            FileFormat::Mapped => "csv-mapped",
            FileFormat::Params => "params",
        }
    }
}

/// How to read files: detected, forced to a format, or through a CSV mapping.
#[derive(Debug, Clone, Default)]
pub struct ReadAs {
    pub format: Option<FileFormat>,
    pub mapping: Option<Arc<metermaster_res::mapped::CsvMapping>>,
}

impl ReadAs {
    /// A format (or detection) and an optional mapping file (TOML).
    pub fn new(format: Option<FileFormat>, mapping: Option<&Path>) -> Result<ReadAs, FilesError> {
        let mapping = match mapping {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(io(format!("reading the mapping {}", p.display())))?;
                let m = metermaster_res::mapped::CsvMapping::from_toml(&text)
                    .map_err(|e| FilesError::Invalid(format!("mapping {}: {e}", p.display())))?;
                Some(Arc::new(m))
            }
        };
        Ok(ReadAs { format, mapping })
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

/// What is wrong with a file's content.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the file is not UTF-8 text")]
    NotText,
    #[error("format not recognised (not .RES, NEM12 or the interval CSV); use --format")]
    Unknown,
    #[error(transparent)]
    Res(#[from] metermaster_res::ResError),
    #[error(transparent)]
    File(#[from] metermaster_res::FileError),
    #[error("{0}")]
    Invalid(String),
}

/// What importing one file did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    pub file: String,
    pub format: Option<&'static str>,
    /// `imported`, `already imported (...)`, or `failed`.
    pub outcome: String,
    pub readings_new: u64,
    pub intervals_changed: u64,
    pub error: Option<String>,
}

/// Parses a file into a batch (without touching the store).
pub fn parse_file(
    path: &Path,
    bytes: &[u8],
    how: &ReadAs,
) -> Result<(FileFormat, Batch), ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotText)?;
    let format = if how.mapping.is_some() {
        Some(FileFormat::Mapped)
    } else {
        how.format
    };
    let format = format
        .or_else(|| detect(path, text))
        .ok_or(ParseError::Unknown)?;
    let origin = path.display().to_string();
    let mut batch = Batch::default();
    match format {
        FileFormat::Res => {
            for r in metermaster_res::from_res(text)? {
                batch.readings.push((r, origin.clone()));
            }
        }
        FileFormat::Csv => batch.intervals = metermaster_res::csv::read_csv(text)?,
        FileFormat::Params => {
            return Err(ParseError::Invalid(
                "--format params is for export only".into(),
            ));
        }
        FileFormat::Mapped => {
            let Some(m) = &how.mapping else {
                return Err(ParseError::Invalid(
                    "--format mapped needs --mapping FILE.toml".into(),
                ));
            };
            batch.intervals = metermaster_res::mapped::read_mapped_csv(text, m)?;
        }
        FileFormat::Nem12 => {
            let all = metermaster_res::nem12::read_nem12(text)?;
            // The meter serial of each NMI's streams: another name of the meter.
            let mut pairs: Vec<(String, String)> = all
                .iter()
                .filter_map(|i| {
                    i.meter_serial
                        .as_ref()
                        .map(|s| (i.row.meter.to_string(), s.to_string()))
                })
                .collect();
            pairs.sort();
            pairs.dedup();
            batch.aliases = pairs
                .into_iter()
                .map(|(meter, alias)| metermaster_store::MeterAlias {
                    meter,
                    alias,
                    kind: "meter-serial".into(),
                })
                .collect();
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
    parsed: Result<(FileFormat, Batch), String>,
}

fn prepare(path: &Path, how: &ReadAs) -> Result<Prepared, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading the file: {e}"))?;
    let parsed = parse_file(path, &bytes, how).map_err(|e| e.to_string());
    Ok(Prepared {
        file: path.display().to_string(),
        sha: sha256_hex(&bytes),
        size: bytes.len() as u64,
        parsed,
    })
}

/// Reads, hashes and parses files on all cores, in order.
fn prepare_all(paths: &[PathBuf], how: &ReadAs) -> Vec<Result<Prepared, String>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<Prepared, String>>> = (0..paths.len()).map(|_| None).collect();
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

/// Files whose batches are written in one transaction, at most (the default).
pub const GROUP_FILES: u16 = 256;
/// Interval values in one transaction, at most (a large file is still written whole).
const GROUP_INTERVALS: u64 = 2_000_000;

/// Imports files: each is skipped when the ledger already has its content, else stored together
/// with its ledger entry. Files are parsed on all cores and written in groups, one transaction
/// a group; when a group fails, its files are written one by one so that only the broken one
/// fails. A file is never stored half: its data and its ledger entry commit together.
pub async fn import_files(store: &AnyStore, paths: &[PathBuf], how: &ReadAs) -> Vec<ImportReport> {
    import_files_grouped(store, paths, how, usize::from(GROUP_FILES)).await
}

/// [`import_files`] with at most `group_files` files a transaction.
pub async fn import_files_grouped(
    store: &AnyStore,
    paths: &[PathBuf],
    how: &ReadAs,
    group_files: usize,
) -> Vec<ImportReport> {
    let group_files = group_files.max(1);
    let mut reports = Vec::with_capacity(paths.len());
    // Content hash → the first file with it and its report; duplicates → that report.
    let mut seen: HashMap<String, (String, usize)> = Default::default();
    let mut duplicates: Vec<(usize, usize)> = Vec::new();
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
        // Ledger checks (one call for the chunk), then groups of batches.
        let shas: Vec<String> = prepared
            .iter()
            .filter_map(|p| p.as_ref().ok().map(|p| p.sha.clone()))
            .collect();
        let known: Result<HashMap<String, LedgerEntry>, String> = store
            .ledger_many(&shas)
            .await
            .map(|v| v.into_iter().map(|l| (l.sha256.clone(), l)).collect())
            .map_err(|e| e.to_string());
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
            if let Some((first, k)) = seen.get(&p.sha) {
                reports.push(already(format!("same content as {first}")));
                duplicates.push((reports.len() - 1, *k));
                continue;
            }
            match known.as_ref().map(|k| k.get(&p.sha)) {
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
                    reports.push(failed(None, e.clone()));
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
            seen.insert(p.sha.clone(), (p.file.clone(), reports.len()));
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
    // A copy of a file that failed failed too: it was not stored.
    for (dup, first) in duplicates {
        if let Some(e) = reports[first].error.clone() {
            let file = reports[first].file.clone();
            let r = &mut reports[dup];
            r.outcome = "failed".into();
            r.error = Some(format!(
                "same content as {file}, which could not be imported: {e}"
            ));
        }
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
    let batches: Arc<[Batch]> = batches.into();
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

// ----- export -----

/// All stored interval values of the selected meters (by any of their names) and time range,
/// with the notes on them.
pub async fn stored_rows(
    store: &AnyStore,
    meter: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<IntervalRow>, Vec<IntervalNote>), StoreError> {
    let meters: Vec<String> = match meter {
        Some(m) => vec![
            store
                .meter(m)
                .await?
                .ok_or_else(|| StoreError::NoMeter(m.to_string()))?
                .serial,
        ],
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
        let m: Arc<str> = m.into();
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
                let quality: HashMap<_, _> =
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

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    /// `Csv`, `Nem12` or `Res` (`Params` through [`export_params`]).
    pub format: FileFormat,
    /// Only this meter, by any of its names.
    pub meter: Option<String>,
    /// Intervals (and readings) starting in `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The stored data a request selects, as the bytes of the file.
pub async fn export(store: &AnyStore, req: &ExportRequest) -> Result<Vec<u8>, FilesError> {
    if req.from >= req.to {
        return Err(FilesError::Invalid("--from must be before --to".into()));
    }
    let meter = req.meter.as_deref();
    Ok(match req.format {
        FileFormat::Csv => {
            let (rows, _) = stored_rows(store, meter, req.from, req.to).await?;
            let mut buf = Vec::with_capacity(rows.len() * 80);
            metermaster_res::csv::write_csv(&mut buf, &rows).map_err(io("writing the CSV"))?;
            buf
        }
        FileFormat::Nem12 => {
            let (rows, notes) = stored_rows(store, meter, req.from, req.to).await?;
            metermaster_res::nem12::write_nem12_with_notes(
                &rows,
                &notes,
                "METERMASTER",
                "EXPORT",
                Utc::now(),
            )
            .map_err(|e| FilesError::Invalid(format!("NEM12: {e}")))?
            .into_bytes()
        }
        FileFormat::Mapped | FileFormat::Params => {
            return Err(FilesError::Invalid(
                "export writes csv, nem12 or res (params: a folder)".into(),
            ));
        }
        FileFormat::Res => {
            let mut text = String::new();
            for rec in store.readings(meter).await? {
                if rec.started >= req.from && rec.started < req.to {
                    text.push_str(&metermaster_res::to_res(&store.reading(rec.id).await?));
                }
            }
            text.into_bytes()
        }
    })
}

/// A meter id as a file name: letters, digits, `-` and `_` kept, anything else `_`.
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

/// Writes DIR/ID.json (the meter's canonical id) for every selected meter that has a stored
/// reading, atomically; returns how many.
pub async fn export_params(
    store: &AnyStore,
    meter: Option<&str>,
    dir: &Path,
) -> Result<usize, FilesError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let mut latest: std::collections::BTreeMap<String, metermaster_store::ReadingRecord> =
        Default::default();
    for rec in store.readings(meter).await? {
        // Oldest first: the last one seen is the latest.
        latest.insert(rec.meter.clone(), rec);
    }
    for (serial, rec) in &latest {
        let r = store.reading(rec.id).await?;
        let name = safe_file_name(serial);
        let text = serde_json::to_string_pretty(&meter_params(&r, rec.id))
            .map_err(|e| FilesError::Invalid(e.to_string()))?;
        let path = dir.join(format!("{name}.json"));
        crate::keep::write_file_atomically(&path, text.as_bytes())
            .map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(latest.len())
}

// ----- the folder watcher -----

/// A watched folder: where files arrive, where imported and broken ones go, how to read them.
#[derive(Debug, Clone)]
pub struct WatchFolder {
    pub path: PathBuf,
    pub processed: PathBuf,
    pub quarantine: PathBuf,
    pub how: ReadAs,
}

/// What a scan did with one file.
#[derive(Debug)]
pub enum WatchEvent {
    /// The folder could not be read (it is scanned again next time).
    FolderError { folder: PathBuf, error: String },
    /// Imported (or already imported) and moved.
    Imported { report: ImportReport, to: PathBuf },
    /// Broken: moved to quarantine with a `.report.txt` beside it.
    Quarantined { report: ImportReport, to: PathBuf },
}

/// The watcher's memory between scans: a file is taken once its size and modification time
/// held still for one scan interval.
#[derive(Debug, Default)]
pub struct WatchState {
    seen: HashMap<PathBuf, (u64, std::time::SystemTime)>,
}

fn move_into(file: &Path, dir: &Path) -> Result<PathBuf, FilesError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let name = file
        .file_name()
        .ok_or_else(|| FilesError::Invalid(format!("{}: a file without a name", file.display())))?;
    let mut target = dir.join(name);
    let mut k = 1;
    while target.exists() {
        target = dir.join(format!("{}.{k}", name.to_string_lossy()));
        k += 1;
    }
    std::fs::rename(file, &target).map_err(io(format!(
        "moving {} to {}",
        file.display(),
        target.display()
    )))?;
    Ok(target)
}

/// Checks that every watched folder exists and is a folder.
pub fn check_watch_folders(folders: &[WatchFolder]) -> Result<(), FilesError> {
    for w in folders {
        match std::fs::metadata(&w.path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(FilesError::Invalid(format!(
                    "watched folder {} is not a folder",
                    w.path.display()
                )));
            }
            Err(e) => {
                return Err(FilesError::Io {
                    what: format!("watched folder {}", w.path.display()),
                    error: e,
                });
            }
        }
    }
    Ok(())
}

/// One scan of the watched folders: every stable file (every file when `take_all`) is
/// imported and moved to the processed folder, or to quarantine with a report. Events go to
/// `on_event` as they happen.
pub async fn watch_scan(
    store: &AnyStore,
    folders: &[WatchFolder],
    state: &mut WatchState,
    take_all: bool,
    mut on_event: impl FnMut(WatchEvent),
) -> Result<(), FilesError> {
    for w in folders {
        let entries = match std::fs::read_dir(&w.path) {
            Ok(e) => e,
            Err(e) => {
                on_event(WatchEvent::FolderError {
                    folder: w.path.clone(),
                    error: e.to_string(),
                });
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
            let stable = take_all || state.seen.get(&f) == Some(&stamp);
            state.seen.insert(f.clone(), stamp);
            if !stable {
                continue;
            }
            state.seen.remove(&f);
            let report = import_one(store, &f, &w.how).await;
            match &report.error {
                None => {
                    let to = move_into(&f, &w.processed)?;
                    on_event(WatchEvent::Imported { report, to });
                }
                Some(e) => {
                    let to = move_into(&f, &w.quarantine)?;
                    let report_path = PathBuf::from(format!("{}.report.txt", to.display()));
                    std::fs::write(&report_path, format!("{}\n{e}\n", report.file))
                        .map_err(io(format!("writing {}", report_path.display())))?;
                    on_event(WatchEvent::Quarantined { report, to });
                }
            }
        }
    }
    Ok(())
}

// ----- inspect -----

/// One meter channel's intervals in a file, summed exactly: as energy when the channel holds
/// energy or demand (demand × interval length), else as a plain sum of its values.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeriesSummary {
    pub meter: String,
    pub channel: String,
    /// The total's unit: the energy unit (Wh, varh, VAh), or the channel's own without energy.
    pub unit: &'static str,
    /// The unit the file gives the values in.
    pub channel_unit: Option<&'static str>,
    /// Whether the total is energy.
    pub energy: bool,
    /// How a demand channel was converted to energy, for the user.
    pub conversion: Option<String>,
    pub interval_s: u32,
    pub intervals: u64,
    /// The exact total as a decimal text.
    pub total: String,
    pub first: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Intervals per quality word.
    pub quality: std::collections::BTreeMap<&'static str, u64>,
    /// NEM12: intervals per quality method (`A`, `E52`, `S14` ...).
    pub methods: std::collections::BTreeMap<String, u64>,
}

/// What a file holds, per meter and channel, without storing anything.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileSummary {
    pub file: String,
    pub format: &'static str,
    pub readings: usize,
    /// Interval values in all (not in the JSON form).
    #[serde(skip)]
    pub interval_values: usize,
    pub series: Vec<SeriesSummary>,
}

/// Why a file could not be summed.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("total of {meter} {channel} overflows")]
    Overflow { meter: String, channel: String },
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

/// What a file holds: per meter and channel the number of intervals, their exact total (energy:
/// Wh, with demand channels converted by the interval length), the time span, qualities and
/// (NEM12) methods.
pub fn inspect_file(path: &Path, bytes: &[u8], how: &ReadAs) -> Result<FileSummary, InspectError> {
    #[derive(Default)]
    struct Acc {
        unit: Option<metermaster_model::Unit>,
        interval_s: u32,
        intervals: u64,
        energy: Option<(
            metermaster_model::Unit,
            metermaster_res::energy::EnergyTotal,
        )>,
        conversion: Option<String>,
        total: (i128, i8),
        scale: Option<i8>,
        first: Option<DateTime<Utc>>,
        last_end: Option<DateTime<Utc>>,
        quality: std::collections::BTreeMap<&'static str, u64>,
        methods: std::collections::BTreeMap<String, u64>,
    }
    let (format, batch) = parse_file(path, bytes, how)?;
    let mut rows: Vec<IntervalRow> = batch.intervals;
    for (r, _) in &batch.readings {
        rows.extend(metermaster_store::reading_intervals(r));
    }
    let methods: HashMap<(&str, metermaster_model::ObisCode, DateTime<Utc>), &str> = batch
        .notes
        .iter()
        .map(|n| ((&*n.meter, n.channel, n.start), n.method.as_str()))
        .collect();
    let mut series: std::collections::BTreeMap<(String, String), Acc> = Default::default();
    for r in &rows {
        let s = series
            .entry((r.meter.to_string(), r.channel.to_string()))
            .or_default();
        s.unit.get_or_insert(r.unit);
        s.interval_s = r.seconds;
        s.intervals += 1;
        s.scale = Some(s.scale.map_or(r.scale, |x| x.min(r.scale)));
        let overflow = || InspectError::Overflow {
            meter: r.meter.to_string(),
            channel: r.channel.to_string(),
        };
        // Energy as it is, demand times the interval length; other units summed plainly.
        match metermaster_res::energy::Conversion::new(r.channel, r.unit, r.seconds) {
            Ok(c) => {
                let (_, total) = s.energy.get_or_insert((c.unit, Default::default()));
                total.add(&c, r.value, r.scale).ok_or_else(overflow)?;
                if s.conversion.is_none() {
                    s.conversion = c.note();
                }
            }
            Err(_) => {
                s.total = add_exact(s.total, r.value, r.scale).ok_or_else(overflow)?;
            }
        }
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
    Ok(FileSummary {
        file: path.display().to_string(),
        format: format.name(),
        readings: batch.readings.len(),
        interval_values: rows.len(),
        series: series
            .into_iter()
            .map(|((meter, channel), s)| {
                let (total, unit) = match &s.energy {
                    Some((unit, t)) => (t.decimal(s.scale.unwrap_or(0)), unit.symbol()),
                    None => (
                        decimal(s.total.0, s.total.1),
                        s.unit.map_or("", |u| u.symbol()),
                    ),
                };
                SeriesSummary {
                    meter,
                    channel,
                    unit,
                    channel_unit: s.unit.map(|u| u.symbol()),
                    energy: s.energy.is_some(),
                    conversion: s.conversion,
                    interval_s: s.interval_s,
                    intervals: s.intervals,
                    total,
                    first: s.first,
                    end: s.last_end,
                    quality: s.quality,
                    methods: s.methods,
                }
            })
            .collect(),
    })
}
