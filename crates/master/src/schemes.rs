//! Tariff schemes and meter configurations: loading them from files or the store (`ID`,
//! `ID@VERSION`), validating them against what a meter type holds, the versioned tree in the
//! store (import, export, tree, history), differences in domain words, evaluation on a meter's
//! profile, and compilation into the program a meter holds. Nothing here prints.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use metermaster_model::{IntervalRow, ObisCode, ObisParseError, Quantity, Unit};
use metermaster_res::energy::{EnergyError, EnergySeries};
use metermaster_store::{AnyStore, SchemeVersion, Store, StoreError};
use metermaster_tariff::{
    CompileError, Compiled, EvalError, Evaluation, InheritError, MeterCapabilities,
    MeterConfiguration, MeterType, Rate, Scheme, SchemeError, Severity, Source, line_of,
    resolve_chain, validate, validate_configuration,
};

use crate::files::{FilesError, ParseError};

/// Why a scheme operation could not be done. `Display` gives the whole message, the words of
/// the cause included (`examples/e7.toml: line 12: seasons[1].week.saturday: unknown day
/// profile "peek"`); the cause is kept typed in its variant. Only I/O and store errors have a
/// `source()`.
#[derive(Debug, thiserror::Error)]
pub enum SchemesError {
    /// A file or folder could not be read or written.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store named by `url` did not open.
    #[error("opening the store {url}")]
    OpenStore {
        url: String,
        #[source]
        error: StoreError,
    },
    /// Neither a file nor (without a store) anything else.
    #[error("{0}: no such file")]
    NoFile(String),
    /// `ID@VERSION` whose version is not a number.
    #[error("{what}: version {version:?} is not a number")]
    BadVersion {
        what: String,
        version: String,
        #[source]
        error: std::num::ParseIntError,
    },
    #[error("{0}: no such file, and no such scheme in the store")]
    NotFound(String),
    /// A scheme or configuration text (`origin`: its file, or `ID@VERSION`) with problems, each
    /// with its line and key path.
    #[error("{origin}: {error}")]
    Scheme { origin: String, error: SchemeError },
    /// The parents of a scheme cannot be resolved.
    #[error("{origin}: {error}")]
    Inherit { origin: String, error: InheritError },
    #[error(
        "{origin}: the scheme inherits from {parent:?}; its parents are looked up in the store, which did not open"
    )]
    ParentsWithoutStore { origin: String, parent: String },
    #[error("no scheme or configuration {0} in the store")]
    NoHistory(String),
    #[error("{text:?}: not an RFC 3339 time (2026-12-01T00:00:00Z)")]
    Time {
        text: String,
        #[source]
        error: chrono::ParseError,
    },
    #[error("{what}: {error}")]
    Compile { what: String, error: CompileError },
    #[error("{0}")]
    Evaluate(EvalError),
    #[error(
        "--source {0:?}: one of import_kwh, export_kwh, import_kvarh, export_kvarh, q1_kvarh .. q4_kvarh, kvah"
    )]
    BadSource(String),
    #[error("--channel {text:?}: {error}")]
    BadChannel { text: String, error: ObisParseError },
    /// A profile file's content.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A mapping to read a profile through.
    #[error(transparent)]
    Files(#[from] FilesError),
    /// What is wrong with a profile: no intervals, no such channel, several meters, mixed
    /// interval lengths or units, no stored profile.
    #[error("{0}")]
    Profile(String),
    /// A channel without energy per interval.
    #[error("meter {meter}: {error}")]
    Energy { meter: String, error: EnergyError },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SchemesError {
    let what = what.into();
    move |error| SchemesError::Io { what, error }
}

// ----- the store, when needed -----

/// The store, opened the first time a call needs it: a call that turns out not to need it
/// never opens it (nor creates its SQLite file), and its other errors come first.
#[derive(Debug)]
pub struct StoreOnDemand<'a> {
    url: String,
    given: Option<&'a AnyStore>,
    opened: Option<AnyStore>,
}

impl<'a> StoreOnDemand<'a> {
    /// The store a URL names (`sqlite:PATH`, `postgres://…`), not opened yet.
    pub fn new(url: impl Into<String>) -> StoreOnDemand<'a> {
        StoreOnDemand {
            url: url.into(),
            given: None,
            opened: None,
        }
    }

    /// A store that is open already.
    pub fn from_store(store: &'a AnyStore) -> StoreOnDemand<'a> {
        StoreOnDemand {
            url: String::new(),
            given: Some(store),
            opened: None,
        }
    }

    /// The store, opened now if it is not yet.
    pub async fn get(&mut self) -> Result<&AnyStore, SchemesError> {
        if let Some(s) = self.given {
            return Ok(s);
        }
        let store = match self.opened.take() {
            Some(s) => s,
            None => AnyStore::open(&self.url)
                .await
                .map_err(|error| SchemesError::OpenStore {
                    url: self.url.clone(),
                    error,
                })?,
        };
        Ok(self.opened.insert(store))
    }
}

// ----- documents and labels -----

/// What a scheme file holds: a tariff scheme or a meter configuration (the store's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    Scheme,
    Configuration,
}

impl DocKind {
    /// `scheme` or `configuration`, as the store keeps it.
    pub fn name(self) -> &'static str {
        match self {
            DocKind::Scheme => "scheme",
            DocKind::Configuration => "configuration",
        }
    }
}

/// A scheme or configuration file's text, parsed.
#[derive(Debug, Clone)]
pub enum SchemeDoc {
    Scheme(Scheme),
    Configuration(MeterConfiguration),
}

impl SchemeDoc {
    /// Reads a text as a configuration when [`is_configuration`] says so, else as a scheme.
    pub fn parse(text: &str) -> Result<SchemeDoc, SchemeError> {
        if is_configuration(text) {
            MeterConfiguration::from_toml(text).map(SchemeDoc::Configuration)
        } else {
            Scheme::from_toml(text).map(SchemeDoc::Scheme)
        }
    }

    pub fn id(&self) -> &str {
        match self {
            SchemeDoc::Scheme(s) => &s.id,
            SchemeDoc::Configuration(c) => &c.id,
        }
    }

    pub fn kind(&self) -> DocKind {
        match self {
            SchemeDoc::Scheme(_) => DocKind::Scheme,
            SchemeDoc::Configuration(_) => DocKind::Configuration,
        }
    }
}

/// Whether a text is a meter configuration rather than a scheme: it has a top-level key only
/// configurations have. (A text that is not TOML at all counts as a scheme, whose reader then
/// says where it breaks.)
pub fn is_configuration(text: &str) -> bool {
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

/// A stored scheme's name: `ID` (the latest version) or `ID@VERSION`. The id is everything
/// before the last `@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeLabel {
    pub id: String,
    pub version: Option<i64>,
}

impl SchemeLabel {
    pub fn parse(what: &str) -> Result<SchemeLabel, SchemesError> {
        Ok(match what.rsplit_once('@') {
            Some((id, v)) => SchemeLabel {
                id: id.to_string(),
                version: Some(v.parse::<i64>().map_err(|error| SchemesError::BadVersion {
                    what: what.to_string(),
                    version: v.to_string(),
                    error,
                })?),
            },
            None => SchemeLabel {
                id: what.to_string(),
                version: None,
            },
        })
    }
}

impl std::fmt::Display for SchemeLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.id),
            None => f.write_str(&self.id),
        }
    }
}

/// A scheme's or configuration's text and where it came from: the file as named, or
/// `ID@VERSION` for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeText {
    pub origin: String,
    pub text: String,
}

impl SchemeText {
    /// A file's text.
    pub fn read(path: &Path) -> Result<SchemeText, SchemesError> {
        let text =
            std::fs::read_to_string(path).map_err(io(format!("reading {}", path.display())))?;
        Ok(SchemeText {
            origin: path.display().to_string(),
            text,
        })
    }
}

/// The text of a file, or of `ID[@VERSION]` in the store (a file of that name comes first).
pub async fn load_text(store: Option<&AnyStore>, what: &str) -> Result<SchemeText, SchemesError> {
    let p = Path::new(what);
    if p.exists() {
        let text = std::fs::read_to_string(p).map_err(io(format!("reading {}", p.display())))?;
        return Ok(SchemeText {
            origin: what.to_string(),
            text,
        });
    }
    let Some(store) = store else {
        return Err(SchemesError::NoFile(what.to_string()));
    };
    let label = SchemeLabel::parse(what)?;
    let v = store
        .scheme(&label.id, label.version)
        .await?
        .ok_or_else(|| SchemesError::NotFound(what.to_string()))?;
    Ok(SchemeText {
        origin: format!("{}@{}", v.id, v.version),
        text: v.body,
    })
}

fn parse_scheme(t: &SchemeText) -> Result<Scheme, SchemesError> {
    Scheme::from_toml(&t.text).map_err(|error| SchemesError::Scheme {
        origin: t.origin.clone(),
        error,
    })
}

/// The schemes among the store's latest versions (those that read).
pub async fn stored_schemes(store: &AnyStore) -> Result<Vec<Scheme>, SchemesError> {
    Ok(store
        .schemes()
        .await?
        .into_iter()
        .filter(|v| v.kind == DocKind::Scheme.name())
        .filter_map(|v| Scheme::from_toml(&v.body).ok())
        .collect())
}

/// A scheme (a file, or `ID[@VERSION]` from the store) with its parents (from the store)
/// merged in.
pub async fn resolved_scheme(store: &AnyStore, what: &str) -> Result<Scheme, SchemesError> {
    let t = load_text(Some(store), what).await?;
    let s = parse_scheme(&t)?;
    if s.parent.is_none() {
        return Ok(s);
    }
    let mut known = stored_schemes(store).await?;
    known.retain(|k| k.id != s.id);
    known.push(s.clone());
    resolve_chain(&s.id, |id| known.iter().find(|k| k.id == id).cloned()).map_err(|error| {
        SchemesError::Inherit {
            origin: t.origin,
            error,
        }
    })
}

/// A scheme to show: with its parents merged in when there is a store, else as its file
/// reads.
pub async fn load_scheme(store: Option<&AnyStore>, what: &str) -> Result<Scheme, SchemesError> {
    match store {
        Some(st) => resolved_scheme(st, what).await,
        None => parse_scheme(&load_text(None, what).await?),
    }
}

/// A scheme (resolved) and the label a meter keeps for it.
#[derive(Debug, Clone)]
pub struct LabelledScheme {
    pub scheme: Scheme,
    /// `ID@VERSION` when the scheme is in the store (a file whose text is the stored latest
    /// version counts), else its id.
    pub label: String,
}

/// A scheme (a file, or `ID[@VERSION]` from the store), resolved, with the label a meter
/// keeps for it. A scheme with a parent needs the store.
pub async fn scheme_with_label(
    store: Option<&AnyStore>,
    what: &str,
) -> Result<LabelledScheme, SchemesError> {
    let t = load_text(store, what).await?;
    let parsed = parse_scheme(&t)?;
    let scheme = match (store, &parsed.parent) {
        (Some(st), Some(_)) => resolved_scheme(st, what).await?,
        (None, Some(parent)) => {
            return Err(SchemesError::ParentsWithoutStore {
                origin: t.origin,
                parent: parent.clone(),
            });
        }
        (_, None) => parsed,
    };
    let label = if t.origin.contains('@') && !Path::new(what).exists() {
        t.origin
    } else {
        match store {
            Some(st) => match st.scheme(&scheme.id, None).await? {
                Some(v) if v.body == t.text => format!("{}@{}", v.id, v.version),
                _ => scheme.id.clone(),
            },
            None => scheme.id.clone(),
        }
    };
    Ok(LabelledScheme { scheme, label })
}

/// An RFC 3339 time (`2026-12-01T00:00:00Z`), in UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, SchemesError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|error| SchemesError::Time {
            text: s.to_string(),
            error,
        })
}

// ----- validation -----

/// The meter types schemes are validated and compiled for (those of
/// [`metermaster_tariff::MeterType`], as a command-line value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum MeterKind {
    A1140,
    A1700,
    Dlms,
}

impl From<MeterKind> for MeterType {
    fn from(m: MeterKind) -> MeterType {
        match m {
            MeterKind::A1140 => MeterType::A1140,
            MeterKind::A1700 => MeterType::A1700,
            MeterKind::Dlms => MeterType::Dlms,
        }
    }
}

/// One thing wrong in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file's name as given.
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    pub severity: Severity,
    /// The key path (`day_profiles[0].switches[1].at`); empty for the whole file, `parent`
    /// when its parents cannot be found.
    pub path: String,
    pub message: String,
}

/// What validating files found.
#[derive(Debug, Clone)]
pub struct ValidationReport {
    pub meter_type: MeterType,
    /// How many files were checked.
    pub files: usize,
    /// Every violation, file by file.
    pub findings: Vec<Finding>,
}

impl ValidationReport {
    /// How many findings are errors (not warnings).
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// Checks schemes and configurations against what a meter type can hold, as of `today`
/// (clock changes from then on, two years; default: today): every violation with its file,
/// line and key path. Parents are looked up among the files given, then in the store (opened
/// only when a file has a parent or is a configuration; a store that does not open is not an
/// error, its parents are then unknown).
pub async fn validate_texts(
    files: &[SchemeText],
    meter_type: MeterType,
    today: Option<NaiveDate>,
    store: &mut StoreOnDemand<'_>,
) -> ValidationReport {
    let today = today.unwrap_or_else(|| Utc::now().date_naive());
    let caps = MeterCapabilities::for_type(meter_type);
    let mut known: Vec<Scheme> = files
        .iter()
        .filter(|f| !is_configuration(&f.text))
        .filter_map(|f| Scheme::from_toml(&f.text).ok())
        .collect();
    let any_parent =
        known.iter().any(|s| s.parent.is_some()) || files.iter().any(|f| is_configuration(&f.text));
    if any_parent {
        if let Ok(store) = store.get().await {
            for s in stored_schemes(store).await.unwrap_or_default() {
                if !known.iter().any(|k| k.id == s.id) {
                    known.push(s);
                }
            }
        }
    }
    let lookup = |id: &str| known.iter().find(|k| k.id == id).cloned();
    let mut findings = Vec::new();
    for f in files {
        let mut push = |line: Option<usize>, severity: Severity, path: &str, message: &str| {
            findings.push(Finding {
                file: f.origin.clone(),
                line,
                severity,
                path: path.to_string(),
                message: message.to_string(),
            });
        };
        let violations = match SchemeDoc::parse(&f.text) {
            Err(e) => {
                for l in e.to_string().lines() {
                    push(None, Severity::Error, "", l);
                }
                continue;
            }
            // A file's own text for its own id (another file may have the same id).
            Ok(SchemeDoc::Scheme(s)) => match resolve_chain(&s.id, |id| {
                if id == s.id {
                    Some(s.clone())
                } else {
                    lookup(id)
                }
            }) {
                Ok(r) => validate(&r, &caps, today),
                Err(e) => {
                    push(None, Severity::Error, "parent", &e.to_string());
                    continue;
                }
            },
            Ok(SchemeDoc::Configuration(c)) => {
                let resolved = if c.parent.is_some() {
                    // Configurations inherit from configurations among the files.
                    let configs: Vec<MeterConfiguration> = files
                        .iter()
                        .filter(|f| is_configuration(&f.text))
                        .filter_map(|f| MeterConfiguration::from_toml(&f.text).ok())
                        .collect();
                    match resolve_chain(&c.id, |id| {
                        if id == c.id {
                            Some(c.clone())
                        } else {
                            configs.iter().find(|k| k.id == id).cloned()
                        }
                    }) {
                        Ok(r) => r,
                        Err(e) => {
                            push(None, Severity::Error, "parent", &e.to_string());
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
            push(line_of(&f.text, &v.path), v.severity, &v.path, &v.message);
        }
    }
    ValidationReport {
        meter_type,
        files: files.len(),
        findings,
    }
}

// ----- the tree in the store -----

/// What to import: files, or folders whose sub-folders become the tree's folders.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub paths: Vec<PathBuf>,
    /// The tree folder for every file (default: a file's folder below the folder given, or the
    /// top).
    pub folder: Option<String>,
    /// Who makes the change.
    pub author: String,
    /// Why.
    pub message: String,
}

/// What importing one file did.
#[derive(Debug, Clone)]
pub enum SchemeImport {
    /// Stored as `version` of `id` (`new_version`: false when the latest version had the same
    /// text).
    Stored {
        file: PathBuf,
        id: String,
        kind: DocKind,
        version: i64,
        new_version: bool,
    },
    /// Not a scheme or configuration that reads; nothing stored.
    Refused { file: PathBuf, error: SchemeError },
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SchemesError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(format!("reading {}", dir.display())))?
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

/// Stores schemes and configurations as new versions (a text equal to the latest version
/// keeps it), file by file in name order; each file's outcome goes to `progress` as it is
/// done, and all of them come back. A file that does not read is refused and the others go
/// on; a file or folder that cannot be read, a bad folder name or the store stops the import.
pub async fn import(
    store: &AnyStore,
    req: &ImportRequest,
    mut progress: impl FnMut(&SchemeImport),
) -> Result<Vec<SchemeImport>, SchemesError> {
    let mut done = Vec::new();
    for root in &req.paths {
        let mut files = Vec::new();
        if root.is_dir() {
            toml_files(root, &mut files)?;
        } else {
            files.push(root.clone());
        }
        for f in files {
            let text =
                std::fs::read_to_string(&f).map_err(io(format!("reading {}", f.display())))?;
            let doc = match SchemeDoc::parse(&text) {
                Ok(d) => d,
                Err(error) => {
                    let r = SchemeImport::Refused { file: f, error };
                    progress(&r);
                    done.push(r);
                    continue;
                }
            };
            let tree_folder = match &req.folder {
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
            let id = doc.id().to_string();
            let kind = doc.kind();
            let before = store.scheme(&id, None).await?.map(|v| v.version);
            let version = store
                .put_scheme(SchemeVersion {
                    id: id.clone(),
                    version: 0,
                    kind: kind.name().into(),
                    folder: tree_folder,
                    body: text,
                    author: req.author.clone(),
                    time: Utc::now(),
                    message: req.message.clone(),
                })
                .await?;
            let r = SchemeImport::Stored {
                file: f,
                id,
                kind,
                version,
                new_version: before != Some(version),
            };
            progress(&r);
            done.push(r);
        }
    }
    Ok(done)
}

/// Writes the latest version of every scheme and configuration under `out` as the tree
/// (`FOLDER/…/ID.toml`, names made safe), each file atomically; returns how many.
pub async fn export_tree(store: &AnyStore, out: &Path) -> Result<usize, SchemesError> {
    let all = store.schemes().await?;
    for v in &all {
        let dir = v
            .folder
            .split('/')
            .filter(|s| !s.is_empty())
            .fold(out.to_path_buf(), |d, s| {
                d.join(crate::files::safe_file_name(s))
            });
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let path = dir.join(format!("{}.toml", crate::files::safe_file_name(&v.id)));
        crate::keep::write_file_atomically(&path, v.body.as_bytes())
            .map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(all.len())
}

/// The tree: the latest version of every scheme and configuration, by folder.
pub async fn tree(store: &AnyStore) -> Result<Vec<SchemeVersion>, SchemesError> {
    Ok(store.schemes().await?)
}

/// The versions of one scheme or configuration, oldest first: who, when, why.
pub async fn history(store: &AnyStore, id: &str) -> Result<Vec<SchemeVersion>, SchemesError> {
    let h = store.scheme_history(id).await?;
    if h.is_empty() {
        return Err(SchemesError::NoHistory(id.to_string()));
    }
    Ok(h)
}

/// What changed between two schemes (files or `ID[@VERSION]`, parents merged in), in domain
/// words, a line each; empty when nothing did.
pub async fn diff(store: &AnyStore, from: &str, to: &str) -> Result<Vec<String>, SchemesError> {
    let x = resolved_scheme(store, from).await?;
    let y = resolved_scheme(store, to).await?;
    Ok(metermaster_tariff::diff(&x, &y))
}

// ----- compilation -----

/// Compiles a scheme into the exact program a meter type holds, under its label, to take over
/// at `activation` (default: as soon as it is written). `what` names the scheme in errors.
pub fn compile(
    what: &str,
    scheme: &LabelledScheme,
    meter_type: MeterType,
    activation: Option<DateTime<Utc>>,
) -> Result<Compiled, SchemesError> {
    metermaster_tariff::compile(
        &scheme.scheme,
        meter_type,
        &scheme.label,
        activation,
        Utc::now(),
    )
    .map_err(|error| SchemesError::Compile {
        what: what.to_string(),
        error,
    })
}

/// A compiled program as JSON: its tables, and what is written: for DLMS meters each attribute
/// (OBIS, class, attribute, name, value in hex), for FLAG meters the image in hex, its CRC and
/// the write messages with their password levels.
pub fn compiled_json(c: &Compiled) -> Result<serde_json::Value, SchemesError> {
    let mut v = serde_json::to_value(c)?;
    if let Compiled::Dlms(d) = c {
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
    if let Compiled::Flag(p) = c {
        let image = p.encode();
        v["image_hex"] = metermaster_flag::codec::to_hex(&image).into();
        v["crc"] = format!("{:04X}", metermaster_flag::program::image_crc(&image)).into();
        v["writes"] = p
            .write_sequence()
            .into_iter()
            .map(|(w, level)| serde_json::json!({"message": w, "level": level}))
            .collect();
    }
    Ok(v)
}

// ----- profiles and evaluation -----

/// The quantity a profile's values are, as a scheme's rates name it (`import_kwh`, …).
pub fn parse_source(text: &str) -> Result<Source, SchemesError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| SchemesError::BadSource(text.to_string()))
}

/// A profile channel (OBIS, `1.8.0` or `1-0:1.8.0*255`).
pub fn parse_channel(text: &str) -> Result<ObisCode, SchemesError> {
    ObisCode::parse(text).map_err(|error| SchemesError::BadChannel {
        text: text.to_string(),
        error,
    })
}

/// One channel of interval values as stored (energy or demand) on a gapless grid (gaps are
/// zero, and counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSeries {
    pub meter: String,
    pub channel: ObisCode,
    pub unit: Unit,
    pub scale: i8,
    pub start: DateTime<Utc>,
    pub interval_s: u32,
    pub values: Vec<i64>,
    pub gaps: usize,
}

impl ProfileSeries {
    /// The series as energy per interval (demand × interval length; see
    /// [`metermaster_res::energy`]), or why it has none.
    pub fn energy(&self) -> Result<EnergySeries, EnergyError> {
        metermaster_res::energy::energy_per_interval(
            self.channel,
            self.unit,
            self.scale,
            self.interval_s,
            &self.values,
        )
    }
}

fn profile(why: impl Into<String>) -> SchemesError {
    SchemesError::Profile(why.into())
}

/// A channel of a profile as a gapless series at one scale. The profile is a reading file
/// (.RES, NEM12, the interval CSV, or any CSV through `mapping`) or, when no such file
/// exists, a stored meter's name. The channel defaults to the first active energy channel,
/// else the first active demand channel, else the first.
pub async fn profile_series(
    store: &AnyStore,
    profile_name: &str,
    channel: Option<ObisCode>,
    mapping: Option<&Path>,
) -> Result<ProfileSeries, SchemesError> {
    let rows: Vec<IntervalRow> = if Path::new(profile_name).exists() {
        let how = crate::files::ReadAs::new(None, mapping)?;
        let p = Path::new(profile_name);
        let bytes = std::fs::read(p).map_err(io(format!("reading {profile_name}")))?;
        let (_, batch) = crate::files::parse_file(p, &bytes, &how)?;
        let mut rows = batch.intervals;
        for (r, _) in &batch.readings {
            rows.extend(metermaster_store::reading_intervals(r));
        }
        rows
    } else {
        let (rows, _) = crate::files::stored_rows(
            store,
            Some(profile_name),
            DateTime::UNIX_EPOCH,
            Utc::now() + chrono::Duration::days(3650),
        )
        .await?;
        if rows.is_empty() {
            return Err(profile(format!(
                "{profile_name}: no such file, and no stored profile for a meter of that serial"
            )));
        }
        rows
    };
    let ch = match channel {
        Some(c) => c,
        None => rows
            .iter()
            .find(|r| r.unit == Unit::WattHour)
            .or_else(|| rows.iter().find(|r| r.unit == Unit::Watt))
            .or(rows.first())
            .map(|r| r.channel)
            .ok_or_else(|| profile("the profile has no intervals"))?,
    };
    let mut rows: Vec<&IntervalRow> = rows.iter().filter(|r| r.channel == ch).collect();
    if rows.is_empty() {
        return Err(profile(format!("the profile has no channel {ch}")));
    }
    rows.sort_by_key(|r| r.start);
    let first = rows[0];
    if rows.iter().any(|r| r.meter != first.meter) {
        return Err(profile(
            "the profile holds several meters; give one meter's file or serial",
        ));
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
            return Err(profile(format!(
                "channel {ch} mixes interval lengths ({} s and {} s)",
                interval_s, r.seconds
            )));
        }
        if r.unit != first.unit {
            return Err(profile(format!(
                "channel {ch} mixes units ({} and {})",
                first.unit.symbol(),
                r.unit.symbol()
            )));
        }
        let k = ((r.start - start).num_seconds() / i64::from(interval_s)) as usize;
        let v = Quantity::new(r.value, r.scale, r.unit)
            .rescaled(scale)
            .ok_or_else(|| profile("a value does not fit the common scale"))?;
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

/// What to evaluate: a scheme on a profile's channel.
#[derive(Debug, Clone)]
pub struct EvaluateRequest {
    /// The scheme: a file, or `ID[@VERSION]` from the store.
    pub scheme: String,
    /// A reading file or a stored meter's name (see [`profile_series`]).
    pub profile: String,
    pub channel: Option<ObisCode>,
    /// What the channel's values are.
    pub source: Source,
    /// A CSV mapping (TOML) to read the profile through.
    pub mapping: Option<PathBuf>,
}

/// A scheme applied to a profile as the meter would.
#[derive(Debug, Clone)]
pub struct SchemeEvaluation {
    /// The scheme, parents merged in.
    pub scheme: Scheme,
    pub series: ProfileSeries,
    /// The series as energy per interval; the evaluation's sums are its numerators
    /// ([`EnergySeries::decimal`] writes them).
    pub energy: EnergySeries,
    pub evaluation: Evaluation,
}

impl SchemeEvaluation {
    /// The rates that record the profile's source, with their energy over the whole profile.
    pub fn rates_of_source(&self) -> impl Iterator<Item = (&Rate, i128)> {
        self.scheme
            .rates
            .iter()
            .zip(&self.evaluation.rates)
            .filter(|(r, _)| r.source == self.evaluation.source)
            .map(|(r, x)| (r, *x))
    }

    /// The energy of all rates of the profile's source.
    pub fn total(&self) -> i128 {
        self.rates_of_source().map(|(_, x)| x).sum()
    }

    /// The unit of maximum demand (energy per hour): W, var or VA, else `per hour`.
    pub fn demand_unit(&self) -> &'static str {
        match self.energy.unit() {
            u @ (Unit::WattHour | Unit::VarHour | Unit::VoltAmpereHour) => u.demand().symbol(),
            _ => "per hour",
        }
    }
}

/// Applies a scheme to interval data as the meter would: energy per rate and maximum demand
/// per billing period. A demand channel is converted to energy per interval first.
pub async fn evaluate(
    store: &AnyStore,
    req: &EvaluateRequest,
) -> Result<SchemeEvaluation, SchemesError> {
    let scheme = resolved_scheme(store, &req.scheme).await?;
    let series = profile_series(store, &req.profile, req.channel, req.mapping.as_deref()).await?;
    let energy = series.energy().map_err(|error| SchemesError::Energy {
        meter: series.meter.clone(),
        error,
    })?;
    let evaluation = metermaster_tariff::evaluate(
        &scheme,
        req.source,
        series.start,
        series.interval_s,
        &energy.values,
    )
    .map_err(SchemesError::Evaluate)?;
    Ok(SchemeEvaluation {
        scheme,
        series,
        energy,
        evaluation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const E7: &str = include_str!("../../../examples/schemes/economy7.toml");

    #[test]
    fn labels_name_an_id_and_maybe_a_version() {
        let l = SchemeLabel::parse("E7-2026@3").unwrap();
        assert_eq!(
            l,
            SchemeLabel {
                id: "E7-2026".into(),
                version: Some(3)
            }
        );
        assert_eq!(l.to_string(), "E7-2026@3");
        let l = SchemeLabel::parse("E7-2026").unwrap();
        assert_eq!(l.version, None);
        assert_eq!(l.to_string(), "E7-2026");
        // The id is everything before the last '@'.
        let l = SchemeLabel::parse("ops@site@12").unwrap();
        assert_eq!((l.id.as_str(), l.version), ("ops@site", Some(12)));
        let e = SchemeLabel::parse("E7@latest").unwrap_err();
        assert_eq!(
            e.to_string(),
            "E7@latest: version \"latest\" is not a number"
        );
    }

    #[test]
    fn configurations_are_told_from_schemes() {
        assert!(!is_configuration(E7));
        assert!(is_configuration(
            "id = \"site\"\nmeter_type = \"a1140\"\nscheme = \"E7-2026\"\n"
        ));
        assert!(!is_configuration("not toml ["));
        let doc = SchemeDoc::parse(E7).unwrap();
        assert_eq!((doc.id(), doc.kind()), ("E7-2026", DocKind::Scheme));
        assert_eq!(DocKind::Configuration.name(), "configuration");
    }

    #[test]
    fn times_are_rfc_3339() {
        assert_eq!(
            parse_time("2026-12-01T01:00:00+01:00").unwrap(),
            "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let e = parse_time("tomorrow").unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn sources_and_channels_parse() {
        assert_eq!(parse_source("export_kwh").unwrap(), Source::ExportKwh);
        assert!(
            parse_source("kwh")
                .unwrap_err()
                .to_string()
                .starts_with("--source \"kwh\": one of import_kwh")
        );
        assert_eq!(parse_channel("1.8.0").unwrap().to_string(), "1-0:1.8.0*255");
        assert!(
            parse_channel("x")
                .unwrap_err()
                .to_string()
                .starts_with("--channel \"x\": ")
        );
    }

    /// A store URL that never opens: a validation that needs no store must not try.
    fn no_store() -> StoreOnDemand<'static> {
        StoreOnDemand::new("nowhere:")
    }

    #[tokio::test]
    async fn validation_names_file_line_and_path() {
        let files = [
            SchemeText {
                origin: "e7.toml".into(),
                text: E7.into(),
            },
            SchemeText {
                origin: "bad.toml".into(),
                text: E7.replace("\"00:30\"", "\"01:30\""),
            },
            SchemeText {
                origin: "broken.toml".into(),
                text: "id = ".into(),
            },
        ];
        let today = NaiveDate::from_ymd_opt(2026, 1, 1);
        let r = validate_texts(&files[..1], MeterType::A1140, today, &mut no_store()).await;
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!((r.files, r.errors()), (1, 0));

        let r = validate_texts(&files, MeterType::A1140, today, &mut no_store()).await;
        assert_eq!(r.files, 3);
        let bad: Vec<&Finding> = r.findings.iter().filter(|f| f.file == "bad.toml").collect();
        let f = bad
            .iter()
            .find(|f| f.path == "day_profiles[0].switches[1].at")
            .unwrap_or_else(|| panic!("{bad:?}"));
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.message.starts_with("01:30 does not exist on 2026-03-29"),
            "{}",
            f.message
        );
        let line = E7
            .lines()
            .position(|l| l.contains("\"00:30\""))
            .map(|k| k + 1);
        assert_eq!(f.line, line);
        let broken: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.file == "broken.toml")
            .collect();
        assert!(!broken.is_empty());
        assert!(
            broken
                .iter()
                .all(|f| f.severity == Severity::Error && f.path.is_empty() && f.line.is_none())
        );
        assert!(r.errors() >= 2);
    }

    #[tokio::test]
    async fn a_parent_without_a_store_is_named() {
        let child = "id = \"E7-child\"\nname = \"child\"\nparent = \"E7-2026\"\n";
        let dir = std::env::temp_dir().join(format!("mm-schemes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("child.toml");
        std::fs::write(&path, child).unwrap();
        let what = path.display().to_string();
        let e = scheme_with_label(None, &what).await.unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        match e {
            SchemesError::ParentsWithoutStore { origin, parent } => {
                assert_eq!(
                    (origin.as_str(), parent.as_str()),
                    (what.as_str(), "E7-2026")
                );
            }
            e => panic!("{e}"),
        }
        assert!(matches!(
            load_text(None, "E7-2026@1").await,
            Err(SchemesError::NoFile(w)) if w == "E7-2026@1"
        ));
    }
}
