//! Keeping a reading: the store first, then the output files. A reading is never printed (nor
//! handed to a front end) before it is kept.

use std::io::Write;
use std::path::{Path, PathBuf};

use metermaster_model::Reading;
use metermaster_store::{AnyStore, Batch, Store};

use crate::error::{ErrorKind, MasterError, Stage};

/// What happens to a meter's .RES output file when it is read again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ResMode {
    /// Each reading is added at the end of the meter's file (a history).
    #[default]
    Append,
    /// The file holds the latest reading only (replaced atomically).
    Overwrite,
}

/// Where a reading goes besides the caller.
#[derive(Debug, Default)]
pub struct Keeping<'a> {
    /// The store (and its URL, for messages); `None` to keep nothing there.
    pub store: Option<(&'a AnyStore, String)>,
    /// A file for the reading: .RES when the name ends in `.res`, else JSON (replaced).
    pub out: Option<PathBuf>,
    /// A folder where the reading goes to `SERIAL.res`.
    pub res_folder: Option<(PathBuf, ResMode)>,
}

/// What keeping did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepReport {
    /// `(new readings, interval values written)` in the store.
    pub stored: Option<(u64, u64)>,
    /// The .RES file written in the folder.
    pub res_file: Option<PathBuf>,
}

impl Keeping<'_> {
    /// Checks, before a meter is read, that the output files can be written: a long read that
    /// cannot be kept at its end is refused at its start.
    pub fn check(&self, meter: &str) -> Result<(), MasterError> {
        let io = |what: String, error: std::io::Error| {
            MasterError::new(
                meter,
                Stage::Keep,
                what.clone(),
                ErrorKind::Io { what, error },
            )
        };
        if let Some(out) = &self.out {
            let dir = parent(out);
            probe_dir(dir).map_err(|e| io(format!("--out {}: cannot write", out.display()), e))?;
        }
        if let Some((folder, _)) = &self.res_folder {
            std::fs::create_dir_all(folder)
                .and_then(|()| probe_dir(folder))
                .map_err(|e| {
                    io(
                        format!("the .RES folder {}: cannot write", folder.display()),
                        e,
                    )
                })?;
        }
        Ok(())
    }
}

fn parent(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Creates and removes a file in `dir`.
fn probe_dir(dir: &Path) -> std::io::Result<()> {
    // One name per call (process and counter): checks running at once never share a probe.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!(".metermaster-probe-{}-{n}", std::process::id()));
    std::fs::File::create(&probe)?;
    std::fs::remove_file(&probe)
}

/// Keeps a reading: in the store first (one transaction), then `out`, then the .RES folder.
/// Every place is tried whatever happened at the others, so that what was read is kept
/// wherever it can be; an error names every place that failed, and says where the reading was
/// kept. A front end that gets an error still shows the reading: it may be its only copy.
pub async fn keep_reading(
    reading: &Reading,
    origin: &str,
    keeping: &Keeping<'_>,
) -> Result<KeepReport, MasterError> {
    let meter = reading.meter.serial.clone();
    let mut report = KeepReport::default();
    let mut errors: Vec<MasterError> = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    if let Some((store, url)) = &keeping.store {
        match store
            .write(Batch {
                readings: vec![(reading.clone(), origin.to_string())],
                ..Default::default()
            })
            .await
        {
            Ok(out) => {
                report.stored = Some((out.readings_new, out.intervals_changed));
                kept.push(format!("stored in {url}"));
            }
            Err(e) => errors.push(MasterError::new(
                meter.clone(),
                Stage::Keep,
                format!("storing the reading in {url}"),
                e,
            )),
        }
    }
    let io = |what: String, error: std::io::Error| {
        MasterError::new(
            meter.clone(),
            Stage::Keep,
            what.clone(),
            ErrorKind::Io { what, error },
        )
    };
    if let Some(path) = &keeping.out {
        let is_res = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("res"));
        let text = if is_res {
            Ok(metermaster_res::to_res(reading))
        } else {
            serde_json::to_string_pretty(reading).map_err(std::io::Error::other)
        };
        match text.and_then(|t| write_file_atomically(path, t.as_bytes())) {
            Ok(()) => kept.push(format!("written to {}", path.display())),
            Err(e) => errors.push(io(format!("writing {}", path.display()), e)),
        }
    }
    if let Some((folder, mode)) = &keeping.res_folder {
        match write_res_output(folder, *mode, reading) {
            Ok(p) => {
                kept.push(format!("written to {}", p.display()));
                report.res_file = Some(p);
            }
            Err(e) => errors.push(io(
                format!("writing the .RES output in {}", folder.display()),
                e,
            )),
        }
    }
    if errors.is_empty() {
        return Ok(report);
    }
    let mut first = errors.remove(0);
    for e in &errors {
        first.context.push_str(&format!("; also {}", e.context));
    }
    first.context.push_str(&if kept.is_empty() {
        " (the reading is kept nowhere but in this output)".to_string()
    } else {
        format!(" (the reading was {})", kept.join(" and "))
    });
    Err(first)
}

/// Writes a file so that a reader never sees half of it: a temporary file beside it, synced,
/// then renamed over it.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp{}-{n}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Adds a reading to a meter's .RES output file `FOLDER/ID.res` (the canonical id), or
/// replaces the file.
pub fn write_res_output(
    folder: &Path,
    mode: ResMode,
    reading: &Reading,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(folder)?;
    let name: String = metermaster_model::canonical_meter_id(&reading.meter.serial)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = folder.join(format!("{name}.res"));
    let text = metermaster_res::to_res(reading);
    match mode {
        ResMode::Overwrite => write_file_atomically(&path, text.as_bytes())?,
        ResMode::Append => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
    }
    Ok(path)
}
