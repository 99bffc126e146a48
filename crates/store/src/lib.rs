//! The metermaster store: readings, meters, load profiles, events, programming logs, the audit
//! log and the ledger of imported files, behind one [`Store`] API with two implementations:
//! SQLite (embedded, the default) and PostgreSQL (shared, for scale-out). Both pass one shared
//! test suite.
//!
//! Everything a batch writes is written in one transaction: a batch is stored whole or not at
//! all, and the ledger entry of an imported file commits with its data, so a file is never
//! imported twice nor half.

pub mod day;
mod migrate;
mod postgres;
mod rows;
mod sqlite;

use chrono::{DateTime, Utc};
use metermaster_model::{IntervalStatus, ObisCode, Reading, Unit};

pub use day::{Day, DayError};
pub use metermaster_model::{IntervalNote, IntervalRow, Quality};
pub use migrate::MIGRATIONS;
pub use postgres::PgStore;
pub use rows::reading_intervals;
pub use sqlite::SqliteStore;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 3;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database URL {url:?}: {why} (expected sqlite:PATH or postgres://USER@HOST/DB)")]
    Url { url: String, why: String },
    #[error("the database has schema version {found}; this metermaster knows version {known}")]
    SchemaVersion { found: i64, known: i64 },
    #[error("meter {meter} channel {channel}: {what}")]
    Channel {
        meter: String,
        channel: String,
        what: String,
    },
    #[error(transparent)]
    Day(#[from] DayError),
    #[error("stored reading {id} is damaged: {what}")]
    Damaged { id: i64, what: String },
    #[error("no reading {0}")]
    NoReading(i64),
    #[error("store task failed: {0}")]
    Task(String),
    #[error("group {0}")]
    Group(String),
    #[error("no meter {0} in the store")]
    NoMeter(String),
    #[error("{alias:?} already names meter {other}, not {meter}")]
    AliasTaken {
        alias: String,
        meter: String,
        other: String,
    },
    #[error("the store {0} is open read-only: nothing can be written to it")]
    ReadOnly(String),
    #[error(
        "the store {path} has schema version {found} and this metermaster needs version {known}; \
         it cannot be upgraded while open read-only: open it writable once to upgrade it"
    )]
    NeedsUpgrade {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),
}

impl StoreError {
    /// Whether the same call may succeed if tried again: a busy or locked database, a lost
    /// connection, a serialization failure or deadlock. Not a missing meter, a read-only or
    /// too-new store, damaged data or bad input.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            StoreError::Postgres(e) => {
                e.is_closed()
                    || e.code().is_some_and(|c| {
                        [
                            tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE,
                            tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED,
                            tokio_postgres::error::SqlState::ADMIN_SHUTDOWN,
                            tokio_postgres::error::SqlState::CRASH_SHUTDOWN,
                            tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW,
                        ]
                        .contains(c)
                    })
                    || (e.code().is_none() && std::error::Error::source(e).is_some())
            }
            StoreError::Pool(_) | StoreError::Task(_) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A file that was imported (or refused), by content hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerEntry {
    pub sha256: String,
    pub path: String,
    pub size: u64,
    pub format: String,
    pub imported_at: DateTime<Utc>,
    /// `imported` or `quarantined`.
    pub outcome: String,
    pub readings: u64,
    pub intervals: u64,
    /// What was wrong, for a quarantined file.
    pub report: Option<String>,
}

/// An entry of the store's audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub time: DateTime<Utc>,
    pub user: String,
    pub action: String,
    pub meter: Option<String>,
    pub detail: String,
    pub outcome: String,
}

/// Everything one write brings: stored in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Readings and where each came from (a connection, a file path).
    pub readings: Vec<(Reading, String)>,
    /// Interval values not carried by a reading (CSV, NEM12).
    pub intervals: Vec<IntervalRow>,
    /// What the file said of some intervals' quality (NEM12 methods and reason codes).
    pub notes: Vec<IntervalNote>,
    /// The ledger entry of the file this batch came from.
    pub ledger: Option<LedgerEntry>,
    /// Other names of meters this batch names (a NEM12 stream's meter serial beside its NMI).
    pub aliases: Vec<MeterAlias>,
    pub audit: Vec<AuditEntry>,
}

/// Another name of a meter the batch names. When the store knows `alias` as a meter and not
/// `meter`, the batch's data for `meter` goes to that meter and `meter` becomes its alias (a
/// NEM12 file for NMI X from meter 10000001 lands on meter 10000001, already read over FLAG);
/// otherwise `alias` becomes an alias of `meter`. A name that already belongs to another meter
/// is left there (counted in [`BatchOutcome::aliases_refused`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterAlias {
    pub meter: String,
    pub alias: String,
    /// `serial`, `nmi`, `system-title`...
    pub kind: String,
}

impl Batch {
    /// The batch's alias hints: those given, and the system title of every DLMS reading.
    pub(crate) fn alias_hints(&self) -> Vec<MeterAlias> {
        let mut out: Vec<MeterAlias> = self
            .readings
            .iter()
            .filter_map(|(r, _)| {
                r.meter.system_title.as_ref().map(|t| MeterAlias {
                    meter: r.meter.serial.clone(),
                    alias: t.clone(),
                    kind: "system-title".into(),
                })
            })
            .collect();
        out.extend(self.aliases.iter().cloned());
        out
    }
}

/// What a batch changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Readings that were new (a reading stored before is recognised and skipped).
    pub readings_new: u64,
    /// Interval values written (new, or replacing one of lower quality).
    pub intervals_changed: u64,
    pub events_new: u64,
    /// Alias hints not applied because the name already belongs to another meter.
    pub aliases_refused: u64,
}

/// A meter the store knows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MeterRecord {
    /// The meter's canonical id (its serial number without zero padding, see
    /// [`metermaster_model::canonical_meter_id`]).
    pub serial: String,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub last_read: Option<DateTime<Utc>>,
    /// The group (folder of the meter tree) the meter is in.
    pub group: Option<String>,
    /// Every other name the meter was seen under (a zero-padded FLAG serial, a NMI, a file's
    /// meter column), each of which finds it.
    pub aliases: Vec<String>,
}

/// Which entries of a list: `limit` entries after skipping `offset` (all when `limit` is
/// `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: Option<u64>,
}

impl Page {
    /// SQL `LIMIT`/`OFFSET` values (`-1`/`NULL`-free: a limit of `i64::MAX` for all).
    pub(crate) fn sql(&self) -> (i64, i64) {
        (
            self.limit
                .map_or(i64::MAX, |l| l.min(i64::MAX as u64) as i64),
            self.offset.min(i64::MAX as u64) as i64,
        )
    }
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries about this meter (named by any of its names).
    pub meter: Option<String>,
    pub user: Option<String>,
    pub action: Option<String>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
    pub page: Page,
}

/// A folder of the meter tree and the meters directly in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// `Region/Substation/Feeder`.
    pub path: String,
    pub meters: Vec<String>,
}

/// A user of metermaster (who programs meters, who signs in to the web UI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    /// A PHC string (Argon2id), never the password itself.
    pub password_hash: String,
    /// `admin`, `engineer`, `operator` or `viewer`.
    pub role: String,
    pub created: DateTime<Utc>,
}

/// One version of a tariff scheme or meter configuration, as its TOML text. Every change is a
/// new version with its author, time and message; versions are never changed or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeVersion {
    /// The scheme's or configuration's id.
    pub id: String,
    /// 1, 2, 3... (given by the store).
    pub version: i64,
    /// `scheme` or `configuration`.
    pub kind: String,
    /// The folder of the tree it is in (`Domestic/Economy 7`), empty for the top.
    pub folder: String,
    pub body: String,
    pub author: String,
    pub time: DateTime<Utc>,
    pub message: String,
}

/// A group path in its one written form: segments trimmed, joined by `/`; an empty segment or
/// one with control characters is refused.
pub fn group_path(path: &str) -> Result<String> {
    let parts: Vec<&str> = path.split('/').map(str::trim).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || p.chars().any(char::is_control))
    {
        return Err(StoreError::Group(format!(
            "{path:?} is not a group path (names separated by /, none empty)"
        )));
    }
    Ok(parts.join("/"))
}

/// The path and all its ancestors, shortest first.
pub(crate) fn group_ancestry(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').collect();
    (1..=parts.len()).map(|n| parts[..n].join("/")).collect()
}

/// A stored reading's header.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReadingRecord {
    pub id: i64,
    pub meter: String,
    pub protocol: String,
    pub started: DateTime<Utc>,
    pub origin: String,
}

/// A channel's stored profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub channel: ObisCode,
    pub unit: Unit,
    pub scale: i8,
    pub interval_s: u32,
    pub days: u64,
}

/// One channel's intervals over a time range, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub meter: String,
    pub channel: ObisCode,
    pub unit: Unit,
    pub scale: i8,
    pub interval_s: u32,
    pub points: Vec<Point>,
    /// Notes on points (method, reason), by start time: only those that describe the stored
    /// value (same quality).
    pub notes: Vec<Note>,
}

/// A note on one stored interval value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub start: DateTime<Utc>,
    pub method: String,
    pub reason: Option<String>,
    pub reason_text: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub start: DateTime<Utc>,
    pub value: i64,
    pub quality: Quality,
    pub status: IntervalStatus,
}

/// The store's operations. Both implementations run every write of a batch in one
/// transaction and are safe to call from many tasks.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Stores a batch atomically.
    async fn write(&self, batch: Batch) -> Result<BatchOutcome> {
        let mut out = self.write_many(std::sync::Arc::from(vec![batch])).await?;
        Ok(out.pop().unwrap_or_default())
    }
    /// Stores several batches in one transaction (all or none), each with its own outcome, as if
    /// they were written one after the other: importing many small files commits once instead of
    /// once a file. The batches are shared, so that a caller can retry them one by one after a
    /// failure without having copied them first.
    async fn write_many(&self, batches: std::sync::Arc<[Batch]>) -> Result<Vec<BatchOutcome>>;
    /// Meters, by canonical id, with their aliases.
    async fn meters(&self) -> Result<Vec<MeterRecord>>;
    /// The meter a name names: its canonical id or any alias, with or without zero padding.
    async fn meter(&self, name: &str) -> Result<Option<MeterRecord>>;
    /// Records another name of a known meter (a NMI, a DLMS system title); a name that already
    /// names another meter is refused.
    async fn add_alias(&self, meter: &str, alias: &str, kind: &str) -> Result<()>;
    /// Stored readings of one meter (by any of its names; an unknown meter is
    /// [`StoreError::NoMeter`]) or of all, oldest first.
    async fn readings(&self, meter: Option<&str>) -> Result<Vec<ReadingRecord>> {
        self.readings_page(meter, Page::default()).await
    }
    /// [`Store::readings`], a page of them.
    async fn readings_page(&self, meter: Option<&str>, page: Page) -> Result<Vec<ReadingRecord>>;
    /// One stored reading, exactly as it was stored.
    async fn reading(&self, id: i64) -> Result<Reading>;
    /// The profile channels stored for a meter.
    async fn channels(&self, meter: &str) -> Result<Vec<ChannelInfo>>;
    /// One channel's intervals starting in `[from, to)`.
    async fn series(
        &self,
        meter: &str,
        channel: ObisCode,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Series>>;
    /// The ledger entry of a file with this content hash.
    async fn ledger(&self, sha256: &str) -> Result<Option<LedgerEntry>>;
    /// The ledger entries of files with these content hashes (those the ledger has), in one
    /// call: an import of many files asks once, not once a file.
    async fn ledger_many(&self, sha256: &[String]) -> Result<Vec<LedgerEntry>>;
    /// Adds a group and its parents (nothing happens if it exists).
    async fn add_group(&self, path: &str) -> Result<()>;
    /// Puts meters into a group (created if missing); every meter must be in the store.
    async fn assign_group(&self, path: &str, serials: &[String]) -> Result<()>;
    /// Removes a group and its subgroups; their meters are left without a group.
    async fn remove_group(&self, path: &str) -> Result<u64>;
    /// The meter tree: every group with the meters directly in it, by path.
    async fn groups(&self) -> Result<Vec<GroupRecord>>;
    /// Adds a user or replaces one of the same name.
    async fn put_user(&self, user: UserRecord) -> Result<()>;
    /// The users, by name.
    async fn users(&self) -> Result<Vec<UserRecord>>;
    /// Removes a user; whether there was one.
    async fn remove_user(&self, name: &str) -> Result<bool>;
    /// Stores a new version of a scheme or configuration (its `version` is ignored) and returns
    /// the version number; when the body and folder equal the latest version's, nothing is
    /// stored and the latest number is returned.
    async fn put_scheme(&self, v: SchemeVersion) -> Result<i64>;
    /// One version (the latest when `version` is `None`).
    async fn scheme(&self, id: &str, version: Option<i64>) -> Result<Option<SchemeVersion>>;
    /// Every version of one scheme, oldest first.
    async fn scheme_history(&self, id: &str) -> Result<Vec<SchemeVersion>>;
    /// The latest version of every scheme and configuration, by folder and id.
    async fn schemes(&self) -> Result<Vec<SchemeVersion>>;
    /// Every ledger entry, oldest first.
    async fn ledger_entries(&self) -> Result<Vec<LedgerEntry>> {
        self.ledger_page(Page::default()).await
    }
    /// A page of the ledger, oldest first.
    async fn ledger_page(&self, page: Page) -> Result<Vec<LedgerEntry>>;
    /// The audit log, oldest first.
    async fn audit(&self) -> Result<Vec<AuditEntry>> {
        self.audit_entries(&AuditFilter::default()).await
    }
    /// The audit entries a filter selects, oldest first.
    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
}

/// Either store, chosen by URL: `sqlite:PATH` or `postgres://USER@HOST/DB`.
#[derive(Debug)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens (and migrates) the store a URL names: `sqlite:PATH[?mode=ro]` (`mode=ro`: read
    /// only, see [`SqliteStore::open_read_only`]), or
    /// `postgres://USER@HOST/DB[?schema=NAME][&application_name=NAME]`.
    pub async fn open(url: &str) -> Result<AnyStore> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            let (path, read_only) = sqlite_params(url, path)?;
            if path.is_empty() {
                return Err(StoreError::Url {
                    url: url.into(),
                    why: "no file path".into(),
                });
            }
            let store = if read_only {
                SqliteStore::open_read_only(path).await?
            } else {
                SqliteStore::open(path).await?
            };
            return Ok(AnyStore::Sqlite(store));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let (url, schema) = split_schema(url);
            return Ok(AnyStore::Postgres(
                PgStore::connect_in_schema(&url, schema.as_deref()).await?,
            ));
        }
        Err(StoreError::Url {
            url: url.into(),
            why: "unknown scheme".into(),
        })
    }
}

/// The path of a `sqlite:` URL and whether it asks for a read-only store (`?mode=ro`; `mode=rw`
/// is the default: writable unless the file cannot be written).
fn sqlite_params<'a>(url: &str, path: &'a str) -> Result<(&'a str, bool)> {
    let Some((path, query)) = path.split_once('?') else {
        return Ok((path, false));
    };
    let mut read_only = false;
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv {
            "mode=ro" => read_only = true,
            "mode=rw" => read_only = false,
            _ => {
                return Err(StoreError::Url {
                    url: url.into(),
                    why: format!(
                        "unknown parameter {kv:?} (a sqlite: URL takes mode=ro or mode=rw)"
                    ),
                });
            }
        }
    }
    Ok((path, read_only))
}

/// Takes a `schema=NAME` parameter off a PostgreSQL URL: the store then lives in that schema
/// (created if missing), so that several stores can share one database.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("schema=") {
            Some(v) => {
                schema = Some(v.to_string());
                false
            }
            None => !kv.is_empty(),
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, schema)
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $e,
            AnyStore::Postgres($s) => $e,
        }
    };
}

impl Store for AnyStore {
    async fn write_many(&self, batches: std::sync::Arc<[Batch]>) -> Result<Vec<BatchOutcome>> {
        delegate!(self, s => s.write_many(batches).await)
    }
    async fn meters(&self) -> Result<Vec<MeterRecord>> {
        delegate!(self, s => s.meters().await)
    }
    async fn meter(&self, name: &str) -> Result<Option<MeterRecord>> {
        delegate!(self, s => s.meter(name).await)
    }
    async fn add_alias(&self, meter: &str, alias: &str, kind: &str) -> Result<()> {
        delegate!(self, s => s.add_alias(meter, alias, kind).await)
    }
    async fn readings_page(&self, meter: Option<&str>, page: Page) -> Result<Vec<ReadingRecord>> {
        delegate!(self, s => s.readings_page(meter, page).await)
    }
    async fn reading(&self, id: i64) -> Result<Reading> {
        delegate!(self, s => s.reading(id).await)
    }
    async fn channels(&self, meter: &str) -> Result<Vec<ChannelInfo>> {
        delegate!(self, s => s.channels(meter).await)
    }
    async fn series(
        &self,
        meter: &str,
        channel: ObisCode,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Series>> {
        delegate!(self, s => s.series(meter, channel, from, to).await)
    }
    async fn ledger(&self, sha256: &str) -> Result<Option<LedgerEntry>> {
        delegate!(self, s => s.ledger(sha256).await)
    }
    async fn ledger_many(&self, sha256: &[String]) -> Result<Vec<LedgerEntry>> {
        delegate!(self, s => s.ledger_many(sha256).await)
    }
    async fn add_group(&self, path: &str) -> Result<()> {
        delegate!(self, s => s.add_group(path).await)
    }
    async fn assign_group(&self, path: &str, serials: &[String]) -> Result<()> {
        delegate!(self, s => s.assign_group(path, serials).await)
    }
    async fn remove_group(&self, path: &str) -> Result<u64> {
        delegate!(self, s => s.remove_group(path).await)
    }
    async fn groups(&self) -> Result<Vec<GroupRecord>> {
        delegate!(self, s => s.groups().await)
    }
    async fn put_user(&self, user: UserRecord) -> Result<()> {
        delegate!(self, s => s.put_user(user).await)
    }
    async fn users(&self) -> Result<Vec<UserRecord>> {
        delegate!(self, s => s.users().await)
    }
    async fn remove_user(&self, name: &str) -> Result<bool> {
        delegate!(self, s => s.remove_user(name).await)
    }
    async fn put_scheme(&self, v: SchemeVersion) -> Result<i64> {
        delegate!(self, s => s.put_scheme(v).await)
    }
    async fn scheme(&self, id: &str, version: Option<i64>) -> Result<Option<SchemeVersion>> {
        delegate!(self, s => s.scheme(id, version).await)
    }
    async fn scheme_history(&self, id: &str) -> Result<Vec<SchemeVersion>> {
        delegate!(self, s => s.scheme_history(id).await)
    }
    async fn schemes(&self) -> Result<Vec<SchemeVersion>> {
        delegate!(self, s => s.schemes().await)
    }
    async fn ledger_page(&self, page: Page) -> Result<Vec<LedgerEntry>> {
        delegate!(self, s => s.ledger_page(page).await)
    }
    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        delegate!(self, s => s.audit_entries(filter).await)
    }
}
