//! The SQLite store: one file, WAL journal, one writer connection, a pool of read-only
//! connections (a read does not wait for a write under way: it sees the last commit), a busy
//! timeout; every call runs on a blocking thread so async callers are never stalled. A store
//! can be opened read-only (a viewer's copy, a read-only mount): no writer at all.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use metermaster_model::{ObisCode, Reading, Unit};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::day::Day;
use crate::rows;
use crate::{
    AuditEntry, Batch, BatchOutcome, ChannelInfo, LedgerEntry, MeterRecord, ReadingRecord, Result,
    SCHEMA_VERSION, Series, Store, StoreError,
};

/// Migration 1: the first schema.
const MIGRATION_1: &str = r#"
CREATE TABLE IF NOT EXISTS meters (
    id INTEGER PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    address TEXT, manufacturer TEXT, model TEXT, ident TEXT, firmware TEXT, scheme_id TEXT,
    group_path TEXT,
    last_read TEXT
);
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    meter_id INTEGER NOT NULL REFERENCES meters(id),
    protocol TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    origin TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_meter ON readings(meter_id, started);
CREATE TABLE IF NOT EXISTS register_values (
    meter_id INTEGER NOT NULL, obis TEXT NOT NULL, read_at TEXT NOT NULL,
    reading_id INTEGER NOT NULL, name TEXT NOT NULL,
    raw INTEGER NOT NULL, scale INTEGER NOT NULL, unit TEXT NOT NULL,
    PRIMARY KEY (meter_id, obis, read_at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    meter_id INTEGER NOT NULL, time TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (meter_id, time, kind, detail)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS programming (
    meter_id INTEGER NOT NULL, time TEXT NOT NULL, user TEXT NOT NULL,
    scheme TEXT NOT NULL, port TEXT NOT NULL,
    PRIMARY KEY (meter_id, time, user)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profile_days (
    meter_id INTEGER NOT NULL, channel TEXT NOT NULL, interval_s INTEGER NOT NULL, day TEXT NOT NULL,
    unit TEXT NOT NULL, scale INTEGER NOT NULL,
    vals BLOB NOT NULL, quality BLOB NOT NULL, status BLOB,
    PRIMARY KEY (meter_id, channel, interval_s, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS interval_notes (
    meter_id INTEGER NOT NULL, channel TEXT NOT NULL, interval_s INTEGER NOT NULL, start TEXT NOT NULL,
    quality INTEGER NOT NULL, method TEXT NOT NULL, reason TEXT, reason_text TEXT,
    PRIMARY KEY (meter_id, channel, interval_s, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_ledger (
    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, format TEXT NOT NULL,
    imported_at TEXT NOT NULL, outcome TEXT NOT NULL, readings INTEGER NOT NULL,
    intervals INTEGER NOT NULL, report TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY, time TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    meter TEXT, detail TEXT NOT NULL, outcome TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
    role TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meter_groups (path TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS scheme_versions (
    id TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL, folder TEXT NOT NULL,
    body TEXT NOT NULL, author TEXT NOT NULL, time TEXT NOT NULL, message TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
"#;

/// Migration 2: meter aliases (the data moves are in [`migrate_2`]).
const MIGRATION_2: &str = r#"
CREATE TABLE meter_aliases (
    alias TEXT PRIMARY KEY, meter_id INTEGER NOT NULL REFERENCES meters(id), kind TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX meter_aliases_meter ON meter_aliases(meter_id);
"#;

/// Migration 3: indexes for paged lists.
const MIGRATION_3: &str = r#"
CREATE INDEX audit_log_meter ON audit_log(meter, id);
CREATE INDEX audit_log_time ON audit_log(time, id);
"#;

/// Applies one migration inside the caller's transaction.
fn migrate(tx: &Transaction<'_>, version: i64) -> Result<()> {
    match version {
        1 => tx.execute_batch(MIGRATION_1)?,
        2 => {
            tx.execute_batch(MIGRATION_2)?;
            migrate_2(tx)?;
        }
        3 => tx.execute_batch(MIGRATION_3)?,
        v => {
            return Err(StoreError::SchemaVersion {
                found: v,
                known: SCHEMA_VERSION,
            });
        }
    }
    Ok(())
}

/// Keys every meter by its canonical id: renames, merges of two meters of one id, aliases for
/// the old names, audit entries named by the canonical id.
fn migrate_2(tx: &Transaction<'_>) -> Result<()> {
    let meters: Vec<(i64, String)> = {
        let mut st = tx.prepare("SELECT id, serial FROM meters")?;
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    for fix in crate::migrate::plan_canonical(&meters) {
        match fix {
            crate::migrate::IdFix::Rename { id, old, to } => {
                tx.execute(
                    "UPDATE meters SET serial = ?2 WHERE id = ?1",
                    params![id, to],
                )?;
                tx.execute(
                    "INSERT INTO meter_aliases (alias, meter_id, kind) VALUES (?1, ?2, 'serial')",
                    params![old, id],
                )?;
            }
            crate::migrate::IdFix::Merge { gone, old, keep } => {
                if let Some(why) = merge_conflict(tx, gone, keep)? {
                    // Kept apart, under its old name, and said so in the audit log.
                    let canon: String =
                        tx.query_row("SELECT serial FROM meters WHERE id = ?1", [keep], |r| {
                            r.get(0)
                        })?;
                    tx.execute(
                        "INSERT INTO audit_log (time, user, action, meter, detail, outcome)
                         VALUES (?1, 'metermaster', 'upgrade', ?2, ?3, 'not merged')",
                        params![
                            ts(chrono::Utc::now()),
                            old,
                            format!("schema 2: meter {old} was not merged into {canon}: {why}")
                        ],
                    )?;
                    continue;
                }
                merge_meter(tx, gone, keep)?;
                tx.execute(
                    "INSERT INTO meter_aliases (alias, meter_id, kind) VALUES (?1, ?2, 'serial')
                     ON CONFLICT DO NOTHING",
                    params![old, keep],
                )?;
            }
        }
    }
    let names: Vec<String> = {
        let mut st = tx.prepare(
            "SELECT DISTINCT meter FROM audit_log WHERE meter IS NOT NULL
               AND meter NOT IN (SELECT serial FROM meters)",
        )?;
        st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    for n in names {
        let c = metermaster_model::canonical_meter_id(&n);
        if c != n {
            tx.execute(
                "UPDATE audit_log SET meter = ?2 WHERE meter = ?1",
                params![n, c],
            )?;
        }
    }
    Ok(())
}

/// Why two stored meters of one canonical id must not be merged: they name different makers,
/// or one channel holds other units under each on the same day.
fn merge_conflict(tx: &Transaction<'_>, gone: i64, keep: i64) -> Result<Option<String>> {
    let makers: Option<(String, String)> = tx
        .query_row(
            "SELECT g.manufacturer, k.manufacturer FROM meters g, meters k
             WHERE g.id = ?1 AND k.id = ?2 AND g.manufacturer IS NOT NULL
               AND k.manufacturer IS NOT NULL AND g.manufacturer <> k.manufacturer",
            params![gone, keep],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((g, k)) = makers {
        return Ok(Some(format!("made by {g} and by {k}")));
    }
    let units: Option<(String, String, String, String)> = tx
        .query_row(
            "SELECT g.channel, g.day, g.unit, k.unit FROM profile_days g JOIN profile_days k
               ON k.meter_id = ?2 AND k.channel = g.channel AND k.interval_s = g.interval_s
              AND k.day = g.day
             WHERE g.meter_id = ?1 AND g.unit <> k.unit LIMIT 1",
            params![gone, keep],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    Ok(units.map(|(ch, day, gu, ku)| {
        format!("channel {ch} on {day} holds {gu} under one and {ku} under the other")
    }))
}

/// Moves everything of meter `gone` to meter `keep` and removes `gone`.
fn merge_meter(tx: &Transaction<'_>, gone: i64, keep: i64) -> Result<()> {
    tx.execute(
        "UPDATE meters SET
           address = COALESCE(address, (SELECT address FROM meters WHERE id = ?2)),
           manufacturer = COALESCE(manufacturer, (SELECT manufacturer FROM meters WHERE id = ?2)),
           model = COALESCE(model, (SELECT model FROM meters WHERE id = ?2)),
           ident = COALESCE(ident, (SELECT ident FROM meters WHERE id = ?2)),
           firmware = COALESCE(firmware, (SELECT firmware FROM meters WHERE id = ?2)),
           scheme_id = COALESCE(scheme_id, (SELECT scheme_id FROM meters WHERE id = ?2)),
           group_path = COALESCE(group_path, (SELECT group_path FROM meters WHERE id = ?2)),
           last_read = MAX(COALESCE(last_read, ''), COALESCE((SELECT last_read FROM meters WHERE id = ?2), ''))
         WHERE id = ?1",
        params![keep, gone],
    )?;
    tx.execute(
        "UPDATE meters SET last_read = NULL WHERE id = ?1 AND last_read = ''",
        [keep],
    )?;
    tx.execute(
        "UPDATE readings SET meter_id = ?1 WHERE meter_id = ?2",
        params![keep, gone],
    )?;
    // Notes: the other meter's note wins where its quality is higher (as a write does).
    tx.execute(
        "INSERT INTO interval_notes (meter_id, channel, interval_s, start, quality, method, reason, reason_text)
         SELECT ?1, channel, interval_s, start, quality, method, reason, reason_text
           FROM interval_notes WHERE meter_id = ?2
         ON CONFLICT (meter_id, channel, interval_s, start) DO UPDATE SET
           quality = excluded.quality, method = excluded.method, reason = excluded.reason,
           reason_text = excluded.reason_text
         WHERE excluded.quality > interval_notes.quality",
        params![keep, gone],
    )?;
    for table in ["register_values", "events", "programming", "interval_notes"] {
        tx.execute(
            &format!("UPDATE OR IGNORE {table} SET meter_id = ?1 WHERE meter_id = ?2"),
            params![keep, gone],
        )?;
        tx.execute(&format!("DELETE FROM {table} WHERE meter_id = ?1"), [gone])?;
    }
    // Days of the same channel: merged slot by slot; the others simply move.
    tx.execute(
        "UPDATE OR IGNORE profile_days SET meter_id = ?1 WHERE meter_id = ?2",
        params![keep, gone],
    )?;
    type DayRowSql = (
        String,
        i64,
        String,
        String,
        i64,
        Vec<u8>,
        Vec<u8>,
        Option<Vec<u8>>,
    );
    let clashes: Vec<DayRowSql> = {
        let mut st = tx.prepare(
            "SELECT channel, interval_s, day, unit, scale, vals, quality, status FROM profile_days
             WHERE meter_id = ?1",
        )?;
        st.query_map([gone], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?
        .collect::<Result<_, _>>()?
    };
    for (channel, interval_s, day_text, unit, scale, vals, quality, status) in clashes {
        let damaged = |what: &str| StoreError::Channel {
            meter: format!("#{gone}"),
            channel: channel.clone(),
            what: format!("day {day_text}: {what}"),
        };
        let day =
            NaiveDate::parse_from_str(&day_text, "%Y-%m-%d").map_err(|_| damaged("not a date"))?;
        let other = Day::decode(day, interval_s as u32, &vals, &quality, status.as_deref())?;
        let (kunit, kscale, kvals, kquality, kstatus): (
            String,
            i64,
            Vec<u8>,
            Vec<u8>,
            Option<Vec<u8>>,
        ) = tx.query_row(
            "SELECT unit, scale, vals, quality, status FROM profile_days
                 WHERE meter_id = ?1 AND channel = ?2 AND interval_s = ?3 AND day = ?4",
            params![keep, channel, interval_s, day_text],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let mut kept = Day::decode(
            day,
            interval_s as u32,
            &kvals,
            &kquality,
            kstatus.as_deref(),
        )?;
        let ku = Unit::from_symbol(&kunit).unwrap_or(Unit::None);
        let ou = Unit::from_symbol(&unit).unwrap_or(Unit::None);
        let merged_scale = crate::migrate::merge_day(
            &mut kept,
            ku,
            kscale as i8,
            &other,
            ou,
            scale as i8,
        )
        .ok_or_else(|| {
            damaged(&format!(
                "stored in {kunit} and {unit}: the two meters' values do not convert exactly"
            ))
        })?;
        let (v, q, st) = kept.encode();
        tx.execute(
            "UPDATE profile_days SET vals = ?5, quality = ?6, status = ?7, scale = ?8
             WHERE meter_id = ?1 AND channel = ?2 AND interval_s = ?3 AND day = ?4",
            params![keep, channel, interval_s, day_text, v, q, st, merged_scale],
        )?;
    }
    tx.execute("DELETE FROM profile_days WHERE meter_id = ?1", [gone])?;
    tx.execute(
        "UPDATE meter_aliases SET meter_id = ?1 WHERE meter_id = ?2",
        params![keep, gone],
    )?;
    tx.execute("DELETE FROM meters WHERE id = ?1", [gone])?;
    Ok(())
}

/// Brings the schema of an open database up to [`SCHEMA_VERSION`], one migration a
/// transaction. Refuses a database of a newer schema.
fn migrate_all(conn: &mut Connection) -> Result<()> {
    // A store at this version (the common case) is checked without taking the write lock, so
    // that opening a store never waits behind another process's long write.
    let current: Option<i64> = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()
        .unwrap_or(None);
    if current == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let found: Option<i64> = tx
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()?;
        let at = match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::SchemaVersion {
                    found: v,
                    known: SCHEMA_VERSION,
                });
            }
            Some(v) if v == SCHEMA_VERSION => return Ok(()),
            Some(v) => v,
            None => {
                tx.execute("INSERT INTO schema_version (version) VALUES (0)", [])?;
                0
            }
        };
        migrate(&tx, at + 1)?;
        tx.execute("UPDATE schema_version SET version = ?1", [at + 1])?;
        tx.commit()?;
    }
}

/// Fixed-width UTC time text, so that text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

/// Creates a group and its parents (those that exist are left as they are).
fn insert_groups(tx: &Transaction<'_>, path: &str) -> Result<()> {
    for p in crate::group_ancestry(path) {
        tx.execute(
            "INSERT INTO meter_groups (path) VALUES (?1) ON CONFLICT DO NOTHING",
            [p],
        )?;
    }
    Ok(())
}

fn scheme_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::SchemeVersion> {
    Ok(crate::SchemeVersion {
        id: r.get(0)?,
        version: r.get(1)?,
        kind: r.get(2)?,
        folder: r.get(3)?,
        body: r.get(4)?,
        author: r.get(5)?,
        time: parse_ts(&r.get::<_, String>(6)?),
        message: r.get(7)?,
    })
}

fn ledger_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LedgerEntry> {
    Ok(LedgerEntry {
        sha256: r.get(0)?,
        path: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        format: r.get(3)?,
        imported_at: parse_ts(&r.get::<_, String>(4)?),
        outcome: r.get(5)?,
        readings: r.get::<_, i64>(6)? as u64,
        intervals: r.get::<_, i64>(7)? as u64,
        report: r.get(8)?,
    })
}

/// A meter from `serial, model, manufacturer, last_read, group_path` at columns 1..=5.
fn meter_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MeterRecord> {
    Ok(MeterRecord {
        serial: r.get(1)?,
        model: r.get(2)?,
        manufacturer: r.get(3)?,
        last_read: r.get::<_, Option<String>>(4)?.map(|s| parse_ts(&s)),
        group: r.get(5)?,
        aliases: Vec::new(),
    })
}

/// How long a connection waits for a lock another connection holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How many idle read connections a store keeps (more are opened when needed, and closed after
/// use).
const IDLE_READERS: usize = 8;

/// The SQLite implementation of [`Store`]: one writer connection (every write and the
/// migrations), and a pool of read-only connections for the reads, which WAL lets run while a
/// write is under way (they see the last commit).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The database file, for messages.
    path: String,
    /// How a read connection opens the file.
    source: ReadSource,
    /// Idle read connections, at most [`IDLE_READERS`].
    idle: Mutex<Vec<Connection>>,
    /// The one writer; `None` in a read-only store. Dropped after the readers, so that the
    /// writer closes last and checkpoints the WAL into the database file.
    writer: Option<Mutex<Connection>>,
}

/// What a read connection opens.
#[derive(Debug, Clone)]
enum ReadSource {
    /// The file itself (a writable store: the writer is open on it).
    Path(std::path::PathBuf),
    /// A `file:` URI with `mode=ro` (and `immutable=1` where the directory cannot hold the
    /// WAL's shared-memory file).
    Uri(String),
}

impl ReadSource {
    fn open(&self) -> Result<Connection> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let c = match self {
            ReadSource::Path(p) => Connection::open_with_flags(p, flags)?,
            ReadSource::Uri(u) => Connection::open_with_flags(u, flags)?,
        };
        c.busy_timeout(BUSY_TIMEOUT)?;
        Ok(c)
    }
}

/// Whether permissions say nothing may be written here: no write bit at all (as the owner
/// of a viewer's copy sets them). Root, which the system lets write anyway, is held to them
/// too; a file the system refuses to write is found when opening it.
fn no_write_permission(meta: &std::fs::Metadata) -> bool {
    if cfg!(unix) || !meta.is_dir() {
        meta.permissions().readonly()
    } else {
        false
    }
}

/// The directory a database file is in.
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Whether an existing database file, or its directory, is marked unwritable.
fn marked_read_only(path: &Path) -> bool {
    let meta = |p: &Path| std::fs::metadata(p).ok();
    match meta(path) {
        Some(m) => {
            no_write_permission(&m) || meta(dir_of(path)).is_some_and(|d| no_write_permission(&d))
        }
        None => false,
    }
}

/// Whether an error says the file or its directory cannot be written (or the WAL files not
/// created): the cases a read-only open may still serve.
fn refused_writing(e: &StoreError) -> bool {
    use rusqlite::ErrorCode as C;
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            matches!(f.code, C::ReadOnly | C::CannotOpen | C::PermissionDenied)
        }
        StoreError::ReadOnly(_) => true,
        _ => false,
    }
}

/// A `file:` URI opening `path` read-only: the path made absolute and escaped where URIs
/// need it.
fn read_only_uri(path: &Path, immutable: bool) -> Result<String> {
    let abs = std::path::absolute(path).map_err(|e| StoreError::Url {
        url: path.display().to_string(),
        why: e.to_string(),
    })?;
    let mut uri = String::from("file://");
    for ch in abs.to_string_lossy().chars() {
        match ch {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro");
    if immutable {
        uri.push_str("&immutable=1");
    }
    Ok(uri)
}

/// The schema version of a store, 0 for a file without one.
fn schema_version(c: &Connection) -> Result<i64> {
    let has_table: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    Ok(
        c.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
    )
}

impl SqliteStore {
    /// Opens or creates the database file and brings its schema up to date. A file that
    /// cannot be written (no write permission on it or on its directory, a read-only mount) is
    /// opened read-only, as [`SqliteStore::open_read_only`] does.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<SqliteStore> {
            if marked_read_only(&path) {
                return Self::open_read_only_blocking(&path);
            }
            match Self::open_writable_blocking(&path) {
                Err(e) if path.is_file() && refused_writing(&e) => {
                    match Self::open_read_only_blocking(&path) {
                        Ok(s) => Ok(s),
                        Err(
                            ro @ (StoreError::NeedsUpgrade { .. }
                            | StoreError::SchemaVersion { .. }),
                        ) => Err(ro),
                        Err(_) => Err(e),
                    }
                }
                other => other,
            }
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Opens an existing store for reading only: no writer, no migration (a store of another
    /// schema version is refused: it must be opened writable once to be upgraded); every write
    /// returns [`StoreError::ReadOnly`]. Works on a read-only directory or mount too.
    pub async fn open_read_only(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_read_only_blocking(&path))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.inner.writer.is_none()
    }

    fn open_writable_blocking(path: &Path) -> Result<SqliteStore> {
        let _ = std::fs::create_dir_all(dir_of(path));
        let mut conn = Connection::open(path)?;
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            // The system let SQLite open the file for reading only.
            return Err(StoreError::ReadOnly(path.display().to_string()));
        }
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate_all(&mut conn)?;
        // Absolute: the readers open the same file whatever the working directory is then.
        let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.display().to_string(),
                source: ReadSource::Path(file),
                idle: Mutex::new(Vec::new()),
                writer: Some(Mutex::new(conn)),
            }),
        })
    }

    fn open_read_only_blocking(path: &Path) -> Result<SqliteStore> {
        let name = path.display().to_string();
        if !path.is_file() {
            return Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("{name}: no such database file to open read-only")),
            )));
        }
        // A reader of a WAL database needs the WAL and shared-memory files beside it, and makes
        // them if they are not there. Where they cannot be made (a read-only directory or
        // mount), or should not be (a file without write permission: they would have its
        // permissions and stop a later writer), and there is no WAL (so no writer at work
        // either), the file is opened as immutable: no locks, no WAL.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let immutable = marked_read_only(path) && !Path::new(&wal).exists();
        let try_open = |immutable: bool| -> Result<(ReadSource, Connection, i64)> {
            let source = ReadSource::Uri(read_only_uri(path, immutable)?);
            let c = source.open()?;
            let v = schema_version(&c)?;
            Ok((source, c, v))
        };
        let (source, conn, version) = match try_open(immutable) {
            Err(e) if !immutable && refused_writing(&e) => try_open(true)?,
            other => other?,
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaVersion {
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version != SCHEMA_VERSION {
            return Err(StoreError::NeedsUpgrade {
                path: name,
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: name,
                source,
                idle: Mutex::new(vec![conn]),
                writer: None,
            }),
        })
    }

    /// Runs a write on the writer connection (on a blocking thread).
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.writable()?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let writer = inner.writer.as_ref().ok_or_else(|| inner.read_only())?;
            let mut c = writer
                .lock()
                .map_err(|_| StoreError::Task("store connection poisoned".into()))?;
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// [`StoreError::ReadOnly`] for a read-only store.
    fn writable(&self) -> Result<()> {
        match self.inner.writer {
            Some(_) => Ok(()),
            None => Err(self.inner.read_only()),
        }
    }

    /// Runs a read on a read connection of the pool (on a blocking thread), in one read
    /// transaction: it sees one state of the store, the last commit when it began.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = inner.take_reader()?;
            let out = match c.transaction() {
                Ok(tx) => f(&tx),
                Err(e) => Err(e.into()),
            };
            inner.put_back(c);
            out
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

impl Inner {
    fn read_only(&self) -> StoreError {
        StoreError::ReadOnly(self.path.clone())
    }

    /// An idle read connection, or a new one.
    fn take_reader(&self) -> Result<Connection> {
        let idle = self
            .idle
            .lock()
            .map_err(|_| StoreError::Task("store connection pool poisoned".into()))?
            .pop();
        match idle {
            Some(c) => Ok(c),
            None => self.source.open(),
        }
    }

    /// Keeps a read connection for the next read, unless enough are idle (or it was left in a
    /// transaction).
    fn put_back(&self, c: Connection) {
        if !c.is_autocommit() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_READERS {
                idle.push(c);
            }
        }
    }
}

/// The id and canonical id of the meter a name names: its canonical id or any alias, with or
/// without zero padding. An exact match of the name (a meter's id, then an alias) wins over a match
/// of its canonical form (an id, then an alias).
pub(crate) fn resolve(c: &Connection, name: &str) -> Result<Option<(i64, String)>> {
    Ok(resolve_exact(c, name)?.map(|(id, serial, _)| (id, serial)))
}

/// [`resolve`], and whether the name matched as it is (an id or an alias), not only through its
/// canonical form.
fn resolve_exact(c: &Connection, name: &str) -> Result<Option<(i64, String, bool)>> {
    let name = name.trim();
    let canon = metermaster_model::canonical_meter_id(name);
    let mut st = c.prepare_cached(
        "SELECT id, serial, p FROM (
           SELECT id, serial, 0 AS p FROM meters WHERE serial = ?1
           UNION ALL SELECT id, serial, 2 FROM meters WHERE serial = ?2
           UNION ALL SELECT m.id, m.serial, 1 FROM meter_aliases a JOIN meters m ON m.id = a.meter_id
             WHERE a.alias = ?1
           UNION ALL SELECT m.id, m.serial, 3 FROM meter_aliases a JOIN meters m ON m.id = a.meter_id
             WHERE a.alias = ?2
         ) ORDER BY p LIMIT 1",
    )?;
    Ok(st
        .query_row(params![name, canon], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? <= 1))
        })
        .optional()?)
}

/// The meter a name names, or [`StoreError::NoMeter`].
fn resolve_known(c: &Connection, name: &str) -> Result<(i64, String)> {
    resolve(c, name)?.ok_or_else(|| StoreError::NoMeter(name.trim().to_string()))
}

/// The store id of the meter a written name names, created under its canonical id when new;
/// a name other than the canonical id is kept as an alias.
fn meter_id(tx: &Transaction<'_>, cache: &mut HashMap<String, i64>, serial: &str) -> Result<i64> {
    if let Some(id) = cache.get(serial) {
        return Ok(*id);
    }
    let (id, canon, exact) = match resolve_exact(tx, serial)? {
        Some(found) => found,
        None => {
            let canon = metermaster_model::canonical_meter_id(serial);
            tx.execute("INSERT INTO meters (serial) VALUES (?1)", [&canon])?;
            (tx.last_insert_rowid(), canon, false)
        }
    };
    let name = serial.trim();
    // A name found as it is is the id or an alias already.
    if !exact && name != canon {
        tx.execute(
            "INSERT INTO meter_aliases (alias, meter_id, kind) VALUES (?1, ?2, 'serial')
             ON CONFLICT DO NOTHING",
            params![name, id],
        )?;
    }
    cache.insert(serial.to_string(), id);
    Ok(id)
}

/// The aliases of every meter, by meter id.
fn aliases(c: &Connection) -> Result<HashMap<i64, Vec<String>>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    let mut st = c.prepare("SELECT meter_id, alias FROM meter_aliases ORDER BY alias")?;
    for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
        let (id, a) = row?;
        out.entry(id).or_default().push(a);
    }
    Ok(out)
}

/// Applies a batch's alias hints (see [`crate::MeterAlias`]) before its data is written: a
/// name whose meter is known under the other name is routed there through the id cache.
fn apply_aliases(
    tx: &Transaction<'_>,
    ids: &mut HashMap<String, i64>,
    hints: &[crate::MeterAlias],
) -> Result<u64> {
    let mut refused = 0;
    let put = |name: &str, id: i64, kind: &str| -> Result<()> {
        tx.execute(
            "INSERT INTO meter_aliases (alias, meter_id, kind) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![name.trim(), id, kind],
        )?;
        Ok(())
    };
    for h in hints {
        let (m, a) = (resolve(tx, &h.meter)?, resolve(tx, &h.alias)?);
        match (m, a) {
            (None, Some((id, canon))) => {
                ids.insert(h.meter.clone(), id);
                if h.meter.trim() != canon {
                    put(&h.meter, id, "name")?;
                }
            }
            (m, None) => {
                let id = match m {
                    Some((id, _)) => id,
                    None => meter_id(tx, ids, &h.meter)?,
                };
                let canon: String =
                    tx.query_row("SELECT serial FROM meters WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })?;
                if h.alias.trim() != canon {
                    put(&h.alias, id, &h.kind)?;
                }
            }
            (Some((m, _)), Some((a, _))) if m == a => {}
            (Some(_), Some(_)) => refused += 1,
        }
    }
    Ok(refused)
}

fn write_batch(tx: &Transaction<'_>, batch: &Batch) -> Result<BatchOutcome> {
    let mut out = BatchOutcome::default();
    let mut ids = HashMap::new();
    out.aliases_refused = apply_aliases(tx, &mut ids, &batch.alias_hints())?;
    let mut intervals: Vec<crate::IntervalRow> = Vec::new();
    for (r, origin) in &batch.readings {
        let m = &r.meter;
        let id = meter_id(tx, &mut ids, &m.serial)?;
        tx.execute(
            "UPDATE meters SET address = COALESCE(?2, address), manufacturer = COALESCE(?3, manufacturer),
               model = COALESCE(?4, model), ident = COALESCE(?5, ident), firmware = COALESCE(?6, firmware),
               scheme_id = COALESCE(?7, scheme_id),
               last_read = CASE WHEN last_read IS NULL OR last_read < ?8 THEN ?8 ELSE last_read END
             WHERE id = ?1",
            params![id, m.address, m.manufacturer, m.model, m.ident, m.firmware, m.scheme_id, ts(r.finished)],
        )?;
        let (body, digest) = rows::canonical(r);
        let inserted = tx.execute(
            "INSERT INTO readings (meter_id, protocol, started, finished, origin, digest, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(digest) DO NOTHING",
            params![
                id,
                r.protocol,
                ts(r.started),
                ts(r.finished),
                origin,
                digest,
                body
            ],
        )?;
        if inserted > 0 {
            out.readings_new += 1;
            let reading_id = tx.last_insert_rowid();
            let read_at = ts(r.clock.as_ref().map_or(r.finished, |c| c.master_time));
            let mut st = tx.prepare_cached(
                "INSERT INTO register_values (meter_id, obis, read_at, reading_id, name, raw, scale, unit)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            )?;
            for reg in &r.registers {
                st.execute(params![
                    id,
                    reg.obis.to_string(),
                    read_at,
                    reading_id,
                    reg.name,
                    reg.value.raw,
                    reg.value.scale,
                    reg.value.unit.symbol()
                ])?;
            }
        }
        let mut ev = tx.prepare_cached(
            "INSERT INTO events (meter_id, time, kind, detail) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?;
        for e in &r.events {
            let kind = rows::word(&e.kind);
            out.events_new += ev.execute(params![
                id,
                ts(e.time),
                kind,
                e.detail.clone().unwrap_or_default()
            ])? as u64;
        }
        if let Some(p) = &r.programming {
            let mut pr = tx.prepare_cached(
                "INSERT INTO programming (meter_id, time, user, scheme, port) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
            )?;
            for rec in &p.records {
                pr.execute(params![
                    id,
                    ts(rec.time),
                    rec.user,
                    rec.scheme.clone().unwrap_or_default(),
                    rec.port.clone().unwrap_or_default()
                ])?;
            }
        }
        intervals.extend(rows::reading_intervals(r));
    }
    intervals.extend(batch.intervals.iter().cloned());
    one_name_per_meter(tx, &mut ids, &mut intervals)?;
    out.intervals_changed = merge_days(tx, &mut ids, &intervals)?;
    if !batch.notes.is_empty() {
        let mut st = tx.prepare_cached(
            "INSERT INTO interval_notes (meter_id, channel, interval_s, start, quality, method, reason, reason_text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (meter_id, channel, interval_s, start) DO UPDATE SET
               quality = excluded.quality, method = excluded.method, reason = excluded.reason,
               reason_text = excluded.reason_text
             WHERE excluded.quality > interval_notes.quality",
        )?;
        for n in &batch.notes {
            let id = meter_id(tx, &mut ids, &n.meter)?;
            st.execute(params![
                id,
                n.channel.to_string(),
                n.seconds,
                ts(n.start),
                n.quality as u8,
                n.method,
                n.reason,
                n.reason_text
            ])?;
        }
    }
    if let Some(l) = &batch.ledger {
        tx.execute(
            "INSERT INTO file_ledger (sha256, path, size, format, imported_at, outcome, readings, intervals, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(sha256) DO UPDATE SET path = excluded.path, imported_at = excluded.imported_at,
               outcome = excluded.outcome, readings = excluded.readings, intervals = excluded.intervals,
               report = excluded.report",
            params![
                l.sha256,
                l.path,
                l.size as i64,
                l.format,
                ts(l.imported_at),
                l.outcome,
                l.readings as i64,
                l.intervals as i64,
                l.report
            ],
        )?;
    }
    for a in &batch.audit {
        let meter = match &a.meter {
            Some(m) => Some(match resolve(tx, m)? {
                Some((_, canon)) => canon,
                None => metermaster_model::canonical_meter_id(m),
            }),
            None => None,
        };
        tx.execute(
            "INSERT INTO audit_log (time, user, action, meter, detail, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![ts(a.time), a.user, a.action, meter, a.detail, a.outcome],
        )?;
    }
    Ok(out)
}

/// Names every row's meter by one name per meter (the first seen), so that rows of one meter
/// given under two names (`0000000010000001` and `10000001` in one batch) merge into the same
/// day rows slot by slot instead of one overwriting the other.
fn one_name_per_meter(
    tx: &Transaction<'_>,
    ids: &mut HashMap<String, i64>,
    rows: &mut [crate::IntervalRow],
) -> Result<()> {
    let mut first: HashMap<i64, std::sync::Arc<str>> = HashMap::new();
    let mut last: Option<(std::sync::Arc<str>, std::sync::Arc<str>)> = None;
    for r in rows.iter_mut() {
        if let Some((from, to)) = &last {
            if std::sync::Arc::ptr_eq(from, &r.meter) || **from == *r.meter {
                r.meter = to.clone();
                continue;
            }
        }
        let id = meter_id(tx, ids, &r.meter)?;
        let name = first.entry(id).or_insert_with(|| r.meter.clone()).clone();
        last = Some((r.meter.clone(), name.clone()));
        r.meter = name;
    }
    Ok(())
}

fn merge_days(
    tx: &Transaction<'_>,
    ids: &mut HashMap<String, i64>,
    rows: &[crate::IntervalRow],
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let days = rows::group_days(rows)?;
    let mut changed = 0u64;
    // Which of the days are stored already: one range query per meter, channel and interval
    // length, instead of one lookup per day (new data is the common case).
    let mut stored: std::collections::HashSet<(i64, String, u32, String)> = Default::default();
    {
        let mut ranges: std::collections::BTreeMap<(&str, &str, u32), (NaiveDate, NaiveDate)> =
            Default::default();
        for key in days.keys() {
            let e = ranges
                .entry((&key.meter, &key.channel, key.interval_s))
                .or_insert((key.day, key.day));
            e.0 = e.0.min(key.day);
            e.1 = e.1.max(key.day);
        }
        let mut probe = tx.prepare_cached(
            "SELECT day FROM profile_days
             WHERE meter_id = ?1 AND channel = ?2 AND interval_s = ?3 AND day >= ?4 AND day <= ?5",
        )?;
        for ((meter, channel, interval_s), (lo, hi)) in ranges {
            let id = meter_id(tx, ids, meter)?;
            let mut rows = probe.query(params![
                id,
                channel,
                interval_s,
                lo.to_string(),
                hi.to_string()
            ])?;
            while let Some(r) = rows.next()? {
                stored.insert((id, channel.to_string(), interval_s, r.get(0)?));
            }
        }
    }
    let mut get = tx.prepare_cached(
        "SELECT unit, scale, vals, quality, status FROM profile_days
         WHERE meter_id = ?1 AND channel = ?2 AND interval_s = ?3 AND day = ?4",
    )?;
    let mut put = tx.prepare_cached(
        "INSERT INTO profile_days (meter_id, channel, interval_s, day, unit, scale, vals, quality, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (meter_id, channel, interval_s, day) DO UPDATE SET
           unit = excluded.unit, scale = excluded.scale, vals = excluded.vals,
           quality = excluded.quality, status = excluded.status",
    )?;
    for (key, mut row) in days {
        let id = meter_id(tx, ids, &key.meter)?;
        let day_text = key.day.to_string();
        let existing =
            if stored.contains(&(id, key.channel.clone(), key.interval_s, day_text.clone())) {
                get.query_row(params![id, key.channel, key.interval_s, day_text], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                })
                .optional()?
            } else {
                None
            };
        let (unit, scale, merged, n) = match existing {
            None => {
                let n = row.day.present() as u64;
                (row.unit, row.scale, row.day, n)
            }
            Some((unit, scale, vals, quality, status)) => {
                let unit = Unit::from_symbol(&unit).unwrap_or(Unit::None);
                let scale = scale as i8;
                let mut stored =
                    Day::decode(key.day, key.interval_s, &vals, &quality, status.as_deref())?;
                rows::conform(&key, &mut row, unit, scale)?;
                let n = stored.merge(&row.day) as u64;
                if n == 0 {
                    continue;
                }
                (unit, scale, stored, n)
            }
        };
        let (vals, quality, status) = merged.encode();
        put.execute(params![
            id,
            key.channel,
            key.interval_s,
            day_text,
            unit.symbol(),
            scale,
            vals,
            quality,
            status
        ])?;
        changed += n;
    }
    Ok(changed)
}

impl Store for SqliteStore {
    async fn write_many(&self, batches: Arc<[Batch]>) -> Result<Vec<BatchOutcome>> {
        self.write(move |c| {
            // IMMEDIATE: take the write lock before reading what to merge with, so that another
            // process cannot change a day row between our read and our write.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = batches
                .iter()
                .map(|b| write_batch(&tx, b))
                .collect::<Result<Vec<_>>>()?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn meters(&self) -> Result<Vec<MeterRecord>> {
        self.read(|c| {
            let mut aliases = aliases(c)?;
            let mut st = c.prepare(
                "SELECT id, serial, model, manufacturer, last_read, group_path FROM meters ORDER BY serial",
            )?;
            let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, meter_row(r)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, mut m) = row?;
                m.aliases = aliases.remove(&id).unwrap_or_default();
                out.push(m);
            }
            Ok(out)
        })
        .await
    }

    async fn readings_page(
        &self,
        meter: Option<&str>,
        page: crate::Page,
    ) -> Result<Vec<ReadingRecord>> {
        let meter = meter.map(str::to_string);
        let (limit, offset) = page.sql();
        self.read(move |c| {
            let meter = match meter {
                Some(name) => Some(resolve_known(c, &name)?.0),
                None => None,
            };
            let mut st = c.prepare(
                "SELECT r.id, m.serial, r.protocol, r.started, r.origin FROM readings r
                 JOIN meters m ON m.id = r.meter_id WHERE ?1 IS NULL OR m.id = ?1
                 ORDER BY r.started, r.id LIMIT ?2 OFFSET ?3",
            )?;
            let rows = st.query_map(params![meter, limit, offset], |r| {
                Ok(ReadingRecord {
                    id: r.get(0)?,
                    meter: r.get(1)?,
                    protocol: r.get(2)?,
                    started: parse_ts(&r.get::<_, String>(3)?),
                    origin: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn reading(&self, id: i64) -> Result<Reading> {
        self.read(move |c| {
            let body: Option<String> = c
                .query_row("SELECT body FROM readings WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            let body = body.ok_or(StoreError::NoReading(id))?;
            rows::from_canonical(id, &body)
        })
        .await
    }

    async fn channels(&self, meter: &str) -> Result<Vec<ChannelInfo>> {
        let meter = meter.to_string();
        self.read(move |c| {
            let (id, _) = resolve_known(c, &meter)?;
            let mut st = c.prepare(
                "SELECT p.channel, p.unit, p.scale, p.interval_s, COUNT(*) FROM profile_days p
                 WHERE p.meter_id = ?1
                 GROUP BY p.channel, p.interval_s ORDER BY p.channel",
            )?;
            let rows = st.query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (ch, unit, scale, interval_s, days) = row?;
                out.push(ChannelInfo {
                    channel: ObisCode::parse(&ch).unwrap_or(ObisCode::new(0, 0, 0, 0, 0, 0)),
                    unit: Unit::from_symbol(&unit).unwrap_or(Unit::None),
                    scale: scale as i8,
                    interval_s: interval_s as u32,
                    days: days as u64,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn series(
        &self,
        meter: &str,
        channel: ObisCode,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Series>> {
        let meter = meter.to_string();
        self.read(move |c| {
            let (id, meter) = resolve_known(c, &meter)?;
            let mut st = c.prepare_cached(
                "SELECT p.day, p.interval_s, p.unit, p.scale, p.vals, p.quality, p.status FROM profile_days p
                 WHERE p.meter_id = ?1 AND p.channel = ?2 AND p.day >= ?3 AND p.day <= ?4
                 ORDER BY p.day, p.interval_s",
            )?;
            let mut rows = st.query(params![
                id,
                channel.to_string(),
                from.date_naive().to_string(),
                to.date_naive().to_string()
            ])?;
            let mut days = Vec::new();
            while let Some(r) = rows.next()? {
                let day_text: String = r.get(0)?;
                let day = NaiveDate::parse_from_str(&day_text, "%Y-%m-%d").map_err(|_| StoreError::Channel {
                    meter: meter.clone(),
                    channel: channel.to_string(),
                    what: format!("stored day {day_text:?} is not a date"),
                })?;
                let interval_s = r.get::<_, i64>(1)? as u32;
                let unit = Unit::from_symbol(&r.get::<_, String>(2)?).unwrap_or(Unit::None);
                let scale = r.get::<_, i64>(3)? as i8;
                let vals = r.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
                let quality = r.get_ref(5)?.as_blob().map_err(rusqlite::Error::from)?;
                let status = r.get_ref(6)?.as_blob_or_null().map_err(rusqlite::Error::from)?;
                let d = Day::decode(day, interval_s, vals, quality, status)?;
                days.push((day, interval_s, unit, scale, d));
            }
            let Some(mut series) = rows::to_series(&meter, channel, from, to, days)? else {
                return Ok(None);
            };
            let mut st = c.prepare_cached(
                "SELECT n.start, n.quality, n.method, n.reason, n.reason_text FROM interval_notes n
                 WHERE n.meter_id = ?1 AND n.channel = ?2 AND n.interval_s = ?3 AND n.start >= ?4 AND n.start < ?5",
            )?;
            let notes = st
                .query_map(
                    params![id, channel.to_string(), series.interval_s, ts(from), ts(to)],
                    |r| {
                        let start = parse_ts(&r.get::<_, String>(0)?);
                        Ok((
                            start,
                            crate::Quality::from_byte(r.get::<_, u8>(1)?),
                            crate::Note {
                                start,
                                method: r.get(2)?,
                                reason: r.get(3)?,
                                reason_text: r.get(4)?,
                            },
                        ))
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            rows::attach_notes(&mut series, notes);
            Ok(Some(series))
        })
        .await
    }

    async fn ledger_many(&self, sha256: &[String]) -> Result<Vec<LedgerEntry>> {
        let shas = sha256.to_vec();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT sha256, path, size, format, imported_at, outcome, readings, intervals, report
                 FROM file_ledger WHERE sha256 = ?1",
            )?;
            let mut out = Vec::new();
            for sha in &shas {
                if let Some(l) = st.query_row([sha], ledger_row).optional()? {
                    out.push(l);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn ledger(&self, sha256: &str) -> Result<Option<LedgerEntry>> {
        let sha = sha256.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT sha256, path, size, format, imported_at, outcome, readings, intervals, report
                 FROM file_ledger WHERE sha256 = ?1",
                [sha],
                ledger_row,
            )
            .optional()?)
        })
        .await
    }

    async fn add_group(&self, path: &str) -> Result<()> {
        self.writable()?;
        let path = crate::group_path(path)?;
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            insert_groups(&tx, &path)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn assign_group(&self, path: &str, serials: &[String]) -> Result<()> {
        self.writable()?;
        let path = crate::group_path(path)?;
        let serials = serials.to_vec();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            insert_groups(&tx, &path)?;
            for s in &serials {
                let (id, _) = resolve_known(&tx, s)?;
                tx.execute(
                    "UPDATE meters SET group_path = ?1 WHERE id = ?2",
                    params![path, id],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn remove_group(&self, path: &str) -> Result<u64> {
        self.writable()?;
        let path = crate::group_path(path)?;
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // The group and everything under it (no LIKE: names may hold % and _).
            tx.execute(
                "UPDATE meters SET group_path = NULL
                 WHERE group_path = ?1 OR substr(group_path, 1, length(?1) + 1) = ?1 || '/'",
                [&path],
            )?;
            let n = tx.execute(
                "DELETE FROM meter_groups WHERE path = ?1 OR substr(path, 1, length(?1) + 1) = ?1 || '/'",
                [&path],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }

    async fn groups(&self) -> Result<Vec<crate::GroupRecord>> {
        self.read(|c| {
            let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            let mut st = c.prepare("SELECT path FROM meter_groups")?;
            for p in st.query_map([], |r| r.get::<_, String>(0))? {
                out.entry(p?).or_default();
            }
            let mut st = c.prepare(
                "SELECT group_path, serial FROM meters WHERE group_path IS NOT NULL ORDER BY serial",
            )?;
            for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
                let (g, s) = row?;
                out.entry(g).or_default().push(s);
            }
            Ok(out
                .into_iter()
                .map(|(path, meters)| crate::GroupRecord { path, meters })
                .collect())
        })
        .await
    }

    async fn put_user(&self, user: crate::UserRecord) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO users (name, password_hash, role, created) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role",
                params![user.name, user.password_hash, user.role, ts(user.created)],
            )?;
            Ok(())
        })
        .await
    }

    async fn users(&self) -> Result<Vec<crate::UserRecord>> {
        self.read(|c| {
            let mut st =
                c.prepare("SELECT name, password_hash, role, created FROM users ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok(crate::UserRecord {
                    name: r.get(0)?,
                    password_hash: r.get(1)?,
                    role: r.get(2)?,
                    created: parse_ts(&r.get::<_, String>(3)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn remove_user(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| Ok(c.execute("DELETE FROM users WHERE name = ?1", [name])? > 0))
            .await
    }

    async fn put_scheme(&self, v: crate::SchemeVersion) -> Result<i64> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let latest: Option<(i64, String, String)> = tx
                .query_row(
                    "SELECT version, body, folder FROM scheme_versions WHERE id = ?1
                     ORDER BY version DESC LIMIT 1",
                    [&v.id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((n, body, folder)) = &latest {
                if *body == v.body && *folder == v.folder {
                    return Ok(*n);
                }
            }
            let n = latest.map_or(1, |l| l.0 + 1);
            tx.execute(
                "INSERT INTO scheme_versions (id, version, kind, folder, body, author, time, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![v.id, n, v.kind, v.folder, v.body, v.author, ts(v.time), v.message],
            )?;
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn scheme(&self, id: &str, version: Option<i64>) -> Result<Option<crate::SchemeVersion>> {
        let id = id.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, version, kind, folder, body, author, time, message FROM scheme_versions
                 WHERE id = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
                params![id, version],
                scheme_row,
            )
            .optional()?)
        })
        .await
    }

    async fn scheme_history(&self, id: &str) -> Result<Vec<crate::SchemeVersion>> {
        let id = id.to_string();
        self.read(move |c| {
            let mut st = c.prepare(
                "SELECT id, version, kind, folder, body, author, time, message FROM scheme_versions
                 WHERE id = ?1 ORDER BY version",
            )?;
            let rows = st.query_map([id], scheme_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn schemes(&self) -> Result<Vec<crate::SchemeVersion>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT s.id, s.version, s.kind, s.folder, s.body, s.author, s.time, s.message
                 FROM scheme_versions s
                 WHERE s.version = (SELECT MAX(version) FROM scheme_versions t WHERE t.id = s.id)
                 ORDER BY s.folder, s.id",
            )?;
            let rows = st.query_map([], scheme_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn ledger_page(&self, page: crate::Page) -> Result<Vec<LedgerEntry>> {
        let (limit, offset) = page.sql();
        self.read(move |c| {
            let mut st = c.prepare(
                "SELECT sha256, path, size, format, imported_at, outcome, readings, intervals, report
                 FROM file_ledger ORDER BY imported_at, path LIMIT ?1 OFFSET ?2",
            )?;
            let rows = st.query_map([limit, offset], ledger_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn meter(&self, name: &str) -> Result<Option<MeterRecord>> {
        let name = name.to_string();
        self.read(move |c| {
            let Some((id, _)) = resolve(c, &name)? else {
                return Ok(None);
            };
            let mut m = c.query_row(
                "SELECT id, serial, model, manufacturer, last_read, group_path FROM meters WHERE id = ?1",
                [id],
                meter_row,
            )?;
            let mut st = c.prepare("SELECT alias FROM meter_aliases WHERE meter_id = ?1 ORDER BY alias")?;
            m.aliases = st
                .query_map([id], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(Some(m))
        })
        .await
    }

    async fn add_alias(&self, meter: &str, alias: &str, kind: &str) -> Result<()> {
        let (meter, alias, kind) = (
            meter.to_string(),
            alias.trim().to_string(),
            kind.to_string(),
        );
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let (id, canon) = resolve_known(&tx, &meter)?;
            if let Some((other, other_canon)) = resolve(&tx, &alias)? {
                if other != id {
                    return Err(StoreError::AliasTaken {
                        alias,
                        meter: canon,
                        other: other_canon,
                    });
                }
            }
            if alias != canon {
                tx.execute(
                    "INSERT INTO meter_aliases (alias, meter_id, kind) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![alias, id, kind],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn audit_entries(&self, filter: &crate::AuditFilter) -> Result<Vec<AuditEntry>> {
        let f = filter.clone();
        self.read(move |c| {
            let meter = match &f.meter {
                Some(m) => Some(match resolve(c, m)? {
                    Some((_, canon)) => canon,
                    None => metermaster_model::canonical_meter_id(m),
                }),
                None => None,
            };
            let (limit, offset) = f.page.sql();
            let mut st = c.prepare(
                "SELECT time, user, action, meter, detail, outcome FROM audit_log
                 WHERE (?1 IS NULL OR meter = ?1) AND (?2 IS NULL OR user = ?2)
                   AND (?3 IS NULL OR action = ?3) AND (?4 IS NULL OR time >= ?4)
                   AND (?5 IS NULL OR time < ?5)
                 ORDER BY id LIMIT ?6 OFFSET ?7",
            )?;
            let rows = st.query_map(
                params![
                    meter,
                    f.user,
                    f.action,
                    f.since.map(ts),
                    f.until.map(ts),
                    limit,
                    offset
                ],
                |r| {
                    Ok(AuditEntry {
                        time: parse_ts(&r.get::<_, String>(0)?),
                        user: r.get(1)?,
                        action: r.get(2)?,
                        meter: r.get(3)?,
                        detail: r.get(4)?,
                        outcome: r.get(5)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
