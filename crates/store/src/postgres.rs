//! The PostgreSQL store: the shared store when one machine is not enough. Same tables as the
//! SQLite store (in PostgreSQL types), same rules, one transaction per batch.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use metermaster_model::{ObisCode, Reading, Unit};
use tokio_postgres::{Client, NoTls, Transaction};

use crate::day::Day;
use crate::rows;
use crate::{
    AuditEntry, Batch, BatchOutcome, ChannelInfo, LedgerEntry, MeterRecord, ReadingRecord, Result,
    SCHEMA_VERSION, Series, Store, StoreError,
};

/// Migration 1: the first schema.
const MIGRATION_1: &str = r#"
CREATE TABLE IF NOT EXISTS meters (
    id BIGSERIAL PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    address TEXT, manufacturer TEXT, model TEXT, ident TEXT, firmware TEXT, scheme_id TEXT,
    group_path TEXT,
    last_read TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS readings (
    id BIGSERIAL PRIMARY KEY,
    meter_id BIGINT NOT NULL REFERENCES meters(id),
    protocol TEXT NOT NULL,
    started TIMESTAMPTZ NOT NULL,
    finished TIMESTAMPTZ NOT NULL,
    origin TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_meter ON readings(meter_id, started);
CREATE TABLE IF NOT EXISTS register_values (
    meter_id BIGINT NOT NULL, obis TEXT NOT NULL, read_at TIMESTAMPTZ NOT NULL,
    reading_id BIGINT NOT NULL, name TEXT NOT NULL,
    raw BIGINT NOT NULL, scale SMALLINT NOT NULL, unit TEXT NOT NULL,
    PRIMARY KEY (meter_id, obis, read_at)
);
CREATE TABLE IF NOT EXISTS events (
    meter_id BIGINT NOT NULL, time TIMESTAMPTZ NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (meter_id, time, kind, detail)
);
CREATE TABLE IF NOT EXISTS programming (
    meter_id BIGINT NOT NULL, time TIMESTAMPTZ NOT NULL, "user" TEXT NOT NULL,
    scheme TEXT NOT NULL, port TEXT NOT NULL,
    PRIMARY KEY (meter_id, time, "user")
);
CREATE TABLE IF NOT EXISTS profile_days (
    meter_id BIGINT NOT NULL, channel TEXT NOT NULL, interval_s INTEGER NOT NULL, day DATE NOT NULL,
    unit TEXT NOT NULL, scale SMALLINT NOT NULL,
    vals BYTEA NOT NULL, quality BYTEA NOT NULL, status BYTEA,
    PRIMARY KEY (meter_id, channel, interval_s, day)
);
CREATE TABLE IF NOT EXISTS interval_notes (
    meter_id BIGINT NOT NULL, channel TEXT NOT NULL, interval_s INTEGER NOT NULL, start TIMESTAMPTZ NOT NULL,
    quality SMALLINT NOT NULL, method TEXT NOT NULL, reason TEXT, reason_text TEXT,
    PRIMARY KEY (meter_id, channel, interval_s, start)
);
CREATE TABLE IF NOT EXISTS file_ledger (
    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, size BIGINT NOT NULL, format TEXT NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL, outcome TEXT NOT NULL, readings BIGINT NOT NULL,
    intervals BIGINT NOT NULL, report TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    id BIGSERIAL PRIMARY KEY, time TIMESTAMPTZ NOT NULL, "user" TEXT NOT NULL, action TEXT NOT NULL,
    meter TEXT, detail TEXT NOT NULL, outcome TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
    role TEXT NOT NULL, created TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS meter_groups (path TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS scheme_versions (
    id TEXT NOT NULL, version BIGINT NOT NULL, kind TEXT NOT NULL, folder TEXT NOT NULL,
    body TEXT NOT NULL, author TEXT NOT NULL, time TIMESTAMPTZ NOT NULL, message TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
"#;

/// Migration 2: meter aliases (the data moves are in [`migrate_2`]).
const MIGRATION_2: &str = r#"
CREATE TABLE meter_aliases (
    alias TEXT PRIMARY KEY, meter_id BIGINT NOT NULL REFERENCES meters(id), kind TEXT NOT NULL
);
CREATE INDEX meter_aliases_meter ON meter_aliases(meter_id);
"#;

/// Migration 3: indexes for paged lists.
const MIGRATION_3: &str = r#"
CREATE INDEX audit_log_meter ON audit_log(meter, id);
CREATE INDEX audit_log_time ON audit_log(time, id);
"#;

/// Applies one migration inside the caller's transaction.
async fn migrate(tx: &Transaction<'_>, version: i64) -> Result<()> {
    match version {
        1 => tx.batch_execute(MIGRATION_1).await?,
        2 => {
            tx.batch_execute(MIGRATION_2).await?;
            migrate_2(tx).await?;
        }
        3 => tx.batch_execute(MIGRATION_3).await?,
        v => {
            return Err(StoreError::SchemaVersion {
                found: v,
                known: SCHEMA_VERSION,
            });
        }
    }
    Ok(())
}

/// Keys every meter by its canonical id (see the SQLite store's `migrate_2`).
async fn migrate_2(tx: &Transaction<'_>) -> Result<()> {
    let meters: Vec<(i64, String)> = tx
        .query("SELECT id, serial FROM meters", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for fix in crate::migrate::plan_canonical(&meters) {
        match fix {
            crate::migrate::IdFix::Rename { id, old, to } => {
                tx.execute("UPDATE meters SET serial = $2 WHERE id = $1", &[&id, &to])
                    .await?;
                tx.execute(
                    "INSERT INTO meter_aliases (alias, meter_id, kind) VALUES ($1, $2, 'serial')",
                    &[&old, &id],
                )
                .await?;
            }
            crate::migrate::IdFix::Merge { gone, old, keep } => {
                if let Some(why) = merge_conflict(tx, gone, keep).await? {
                    // Kept apart, under its old name, and said so in the audit log.
                    let canon: String = tx
                        .query_one("SELECT serial FROM meters WHERE id = $1", &[&keep])
                        .await?
                        .get(0);
                    tx.execute(
                        "INSERT INTO audit_log (time, \"user\", action, meter, detail, outcome)
                         VALUES (now(), 'metermaster', 'upgrade', $1, $2, 'not merged')",
                        &[
                            &old,
                            &format!("schema 2: meter {old} was not merged into {canon}: {why}"),
                        ],
                    )
                    .await?;
                    continue;
                }
                merge_meter(tx, gone, keep).await?;
                tx.execute(
                    "INSERT INTO meter_aliases (alias, meter_id, kind) VALUES ($1, $2, 'serial')
                     ON CONFLICT DO NOTHING",
                    &[&old, &keep],
                )
                .await?;
            }
        }
    }
    let names: Vec<String> = tx
        .query(
            "SELECT DISTINCT meter FROM audit_log WHERE meter IS NOT NULL
               AND meter NOT IN (SELECT serial FROM meters)",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for n in names {
        let c = metermaster_model::canonical_meter_id(&n);
        if c != n {
            tx.execute(
                "UPDATE audit_log SET meter = $2 WHERE meter = $1",
                &[&n, &c],
            )
            .await?;
        }
    }
    Ok(())
}

/// Why two stored meters of one canonical id must not be merged (see the SQLite store's
/// `merge_conflict`).
async fn merge_conflict(tx: &Transaction<'_>, gone: i64, keep: i64) -> Result<Option<String>> {
    if let Some(r) = tx
        .query_opt(
            "SELECT g.manufacturer, k.manufacturer FROM meters g, meters k
             WHERE g.id = $1 AND k.id = $2 AND g.manufacturer IS NOT NULL
               AND k.manufacturer IS NOT NULL AND g.manufacturer <> k.manufacturer",
            &[&gone, &keep],
        )
        .await?
    {
        let (g, k): (String, String) = (r.get(0), r.get(1));
        return Ok(Some(format!("made by {g} and by {k}")));
    }
    Ok(tx
        .query_opt(
            "SELECT g.channel, g.day, g.unit, k.unit FROM profile_days g JOIN profile_days k
               ON k.meter_id = $2 AND k.channel = g.channel AND k.interval_s = g.interval_s
              AND k.day = g.day
             WHERE g.meter_id = $1 AND g.unit <> k.unit LIMIT 1",
            &[&gone, &keep],
        )
        .await?
        .map(|r| {
            let (ch, day, gu, ku): (String, NaiveDate, String, String) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            format!("channel {ch} on {day} holds {gu} under one and {ku} under the other")
        }))
}

/// Moves everything of meter `gone` to meter `keep` and removes `gone`.
async fn merge_meter(tx: &Transaction<'_>, gone: i64, keep: i64) -> Result<()> {
    tx.execute(
        "UPDATE meters k SET
           address = COALESCE(k.address, g.address), manufacturer = COALESCE(k.manufacturer, g.manufacturer),
           model = COALESCE(k.model, g.model), ident = COALESCE(k.ident, g.ident),
           firmware = COALESCE(k.firmware, g.firmware), scheme_id = COALESCE(k.scheme_id, g.scheme_id),
           group_path = COALESCE(k.group_path, g.group_path), last_read = GREATEST(k.last_read, g.last_read)
         FROM meters g WHERE k.id = $1 AND g.id = $2",
        &[&keep, &gone],
    )
    .await?;
    tx.execute(
        "UPDATE readings SET meter_id = $1 WHERE meter_id = $2",
        &[&keep, &gone],
    )
    .await?;
    // Notes: the other meter's note wins where its quality is higher (as a write does).
    tx.execute(
        "INSERT INTO interval_notes (meter_id, channel, interval_s, start, quality, method, reason, reason_text)
         SELECT $1, channel, interval_s, start, quality, method, reason, reason_text
           FROM interval_notes WHERE meter_id = $2
         ON CONFLICT (meter_id, channel, interval_s, start) DO UPDATE SET
           quality = excluded.quality, method = excluded.method, reason = excluded.reason,
           reason_text = excluded.reason_text
         WHERE excluded.quality > interval_notes.quality",
        &[&keep, &gone],
    )
    .await?;
    let moves = [
        ("register_values", "obis, read_at"),
        ("events", "time, kind, detail"),
        ("programming", "time, \"user\""),
        ("profile_days", "channel, interval_s, day"),
    ];
    for (table, key) in moves {
        tx.execute(
            &format!(
                "UPDATE {table} g SET meter_id = $1 WHERE g.meter_id = $2 AND NOT EXISTS
                   (SELECT 1 FROM {table} k WHERE k.meter_id = $1 AND ({key}) = ({}))",
                key.split(", ")
                    .map(|c| format!("g.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &[&keep, &gone],
        )
        .await?;
    }
    for row in tx
        .query(
            "SELECT channel, interval_s, day, unit, scale, vals, quality, status FROM profile_days
             WHERE meter_id = $1",
            &[&gone],
        )
        .await?
    {
        let (channel, interval_s, day): (String, i32, NaiveDate) =
            (row.get(0), row.get(1), row.get(2));
        let (unit, scale): (String, i16) = (row.get(3), row.get(4));
        let other = Day::decode(day, interval_s as u32, row.get(5), row.get(6), row.get(7))?;
        let k = tx
            .query_one(
                "SELECT unit, scale, vals, quality, status FROM profile_days
                 WHERE meter_id = $1 AND channel = $2 AND interval_s = $3 AND day = $4",
                &[&keep, &channel, &interval_s, &day],
            )
            .await?;
        let (kunit, kscale): (String, i16) = (k.get(0), k.get(1));
        let mut kept = Day::decode(day, interval_s as u32, k.get(2), k.get(3), k.get(4))?;
        let merged_scale: i16 = crate::migrate::merge_day(
            &mut kept,
            Unit::from_symbol(&kunit).unwrap_or(Unit::None),
            kscale as i8,
            &other,
            Unit::from_symbol(&unit).unwrap_or(Unit::None),
            scale as i8,
        )
        .ok_or_else(|| StoreError::Channel {
            meter: format!("#{gone}"),
            channel: channel.clone(),
            what: format!(
                "day {day}: stored in {kunit} and {unit}: the two meters' values do not convert exactly"
            ),
        })?
        .into();
        let (v, q, st) = kept.encode();
        tx.execute(
            "UPDATE profile_days SET vals = $5, quality = $6, status = $7, scale = $8
             WHERE meter_id = $1 AND channel = $2 AND interval_s = $3 AND day = $4",
            &[
                &keep,
                &channel,
                &interval_s,
                &day,
                &v,
                &q,
                &st,
                &merged_scale,
            ],
        )
        .await?;
    }
    for table in [
        "register_values",
        "events",
        "programming",
        "interval_notes",
        "profile_days",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE meter_id = $1"),
            &[&gone],
        )
        .await?;
    }
    tx.execute(
        "UPDATE meter_aliases SET meter_id = $1 WHERE meter_id = $2",
        &[&keep, &gone],
    )
    .await?;
    tx.execute("DELETE FROM meters WHERE id = $1", &[&gone])
        .await?;
    Ok(())
}

/// Brings the schema up to [`SCHEMA_VERSION`], one migration a transaction (callers hold the
/// migration lock). Refuses a database of a newer schema.
async fn migrate_all(client: &mut Client) -> Result<()> {
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await?;
    loop {
        let tx = client.transaction().await?;
        let found = tx
            .query_opt("SELECT version FROM schema_version", &[])
            .await?
            .map(|r| r.get::<_, i64>(0));
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
                tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])
                    .await?;
                0
            }
        };
        migrate(&tx, at + 1).await?;
        tx.execute("UPDATE schema_version SET version = $1", &[&(at + 1)])
            .await?;
        tx.commit().await?;
    }
}

/// How many connections a store keeps open at most.
const POOL_SIZE: usize = 8;

/// The `application_name` of the store's connections unless the URL names one.
const APPLICATION_NAME: &str = "metermaster";

/// The PostgreSQL implementation of [`Store`]: a pool of connections, each call on one of
/// them. A connection the server ended (a restart, an administrator) is dropped and replaced
/// by a new one; a read, or a write that had not reached its commit, is run once more on the
/// new connection, so that the call succeeds when the server is back.
#[derive(Clone)]
pub struct PgStore {
    pool: deadpool_postgres::Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("connections", &status.size)
            .field("idle", &status.available)
            .finish()
    }
}

/// Whether an error says the connection is gone: closed, or ended by the server (shut down,
/// restarted, terminated by an administrator).
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.is_closed()
        || e.code().is_some_and(|c| {
            *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        })
        || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => StoreError::Postgres(e),
        e => StoreError::Pool(e.to_string()),
    }
}

impl PgStore {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<PgStore> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects and works in `schema` (created if missing): separate stores in one database,
    /// as the tests use. Every connection of the store has the schema as its search path, and
    /// `application_name` as the URL says (`metermaster` if it does not).
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<PgStore> {
        let mut config: tokio_postgres::Config = url.parse()?;
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        if let Some(s) = schema {
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::Url {
                    url: url.into(),
                    why: format!("schema name {s:?} must be letters, digits and _"),
                });
            }
            let options = match config.get_options() {
                Some(o) if !o.trim().is_empty() => format!("{o} -c search_path={s}"),
                _ => format!("-c search_path={s}"),
            };
            config.options(&options);
        }
        let manager = deadpool_postgres::Manager::from_config(
            config,
            NoTls,
            deadpool_postgres::ManagerConfig {
                // A connection is checked (is it closed?) before it is handed out again.
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        let store = PgStore { pool };
        let mut client = store.pool.get().await.map_err(pool_error)?;
        let client: &mut Client = &mut client;
        if let Some(s) = schema {
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {s}; SET search_path TO {s}"
                ))
                .await?;
        }
        // Several processes may start at once: migrate under an advisory lock.
        client
            .batch_execute("SELECT pg_advisory_lock(4242001)")
            .await?;
        let migrated = migrate_all(client).await;
        client
            .batch_execute("SELECT pg_advisory_unlock(4242001)")
            .await?;
        migrated?;
        Ok(store)
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_error)
    }

    /// After an error on a connection: whether the connection is gone. If it is, it is dropped
    /// and so are the idle ones (a server restart ends them all; those not yet noticed would
    /// fail the next calls), so that the next call gets a new connection.
    fn lost(&self, e: &StoreError, client: deadpool_postgres::Object) -> bool {
        let lost = client.is_closed() || matches!(e, StoreError::Postgres(e) if connection_lost(e));
        if lost {
            drop(deadpool_postgres::Object::take(client));
            self.pool.retain(|_, _| false);
        }
        lost
    }
}

/// Runs `$body` (which returns a [`Result`]) with `$c` a `&mut Client` from the store's pool.
/// When the connection turns out to be gone, it is replaced and, if `$retry` (an expression
/// evaluated after the failure) is true, the body runs once more on the new connection: only
/// for what is safe to repeat (a read; a write whose transaction had not reached its commit,
/// which the server then rolled back).
macro_rules! on_client {
    ($store:expr, |$c:ident| $body:block) => {
        on_client!($store, true, |$c| $body)
    };
    ($store:expr, $retry:expr, |$c:ident| $body:block) => {{
        let mut again = true;
        loop {
            let mut client = $store.client().await?;
            let result: Result<_> = async {
                let $c: &mut Client = &mut client;
                $body
            }
            .await;
            match result {
                Ok(v) => break Ok(v),
                Err(e) => {
                    if $store.lost(&e, client) && again && $retry {
                        again = false;
                        continue;
                    }
                    break Err(e);
                }
            }
        }
    }};
}

type Params<'a> = Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)>;

/// Executes with owned parameters, so that many calls can be in flight at once (pipelined).
async fn exec(
    tx: &Transaction<'_>,
    st: &tokio_postgres::Statement,
    p: Params<'_>,
) -> std::result::Result<u64, tokio_postgres::Error> {
    tx.execute_raw(st, p).await
}

/// Queries with owned parameters (see [`exec`]).
async fn fetch(
    tx: &Transaction<'_>,
    st: &tokio_postgres::Statement,
    p: Params<'_>,
) -> std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    use futures_util::TryStreamExt;
    tx.query_raw(st, p).await?.try_collect().await
}

/// Creates the groups of `$1` (a path and its parents); those that exist are left alone.
const INSERT_GROUPS: &str =
    "INSERT INTO meter_groups (path) SELECT unnest($1::TEXT[]) ON CONFLICT DO NOTHING";

fn scheme_row(r: &tokio_postgres::Row) -> crate::SchemeVersion {
    crate::SchemeVersion {
        id: r.get(0),
        version: r.get(1),
        kind: r.get(2),
        folder: r.get(3),
        body: r.get(4),
        author: r.get(5),
        time: r.get(6),
        message: r.get(7),
    }
}

fn ledger_row(r: &tokio_postgres::Row) -> LedgerEntry {
    LedgerEntry {
        sha256: r.get(0),
        path: r.get(1),
        size: r.get::<_, i64>(2) as u64,
        format: r.get(3),
        imported_at: r.get(4),
        outcome: r.get(5),
        readings: r.get::<_, i64>(6) as u64,
        intervals: r.get::<_, i64>(7) as u64,
        report: r.get(8),
    }
}

/// Which meter a name names, for the names `$1` (trimmed) with canonical forms `$2`: an exact
/// name (a meter's id, then an alias) before its canonical form (an id, then an alias).
const RESOLVE_MANY: &str = "
    WITH w AS (SELECT unnest($1::TEXT[]) AS name, unnest($2::TEXT[]) AS canon)
    SELECT DISTINCT ON (w.name) w.name, m.id, m.serial FROM w
    JOIN LATERAL (
        SELECT id, serial, 0 AS p FROM meters WHERE serial = w.name
        UNION ALL SELECT id, serial, 2 FROM meters WHERE serial = w.canon
        UNION ALL SELECT m.id, m.serial, 1 FROM meter_aliases a JOIN meters m ON m.id = a.meter_id
            WHERE a.alias = w.name
        UNION ALL SELECT m.id, m.serial, 3 FROM meter_aliases a JOIN meters m ON m.id = a.meter_id
            WHERE a.alias = w.canon
    ) m ON TRUE
    ORDER BY w.name, m.p";

/// The id and canonical id of the meter a name names (see [`RESOLVE_MANY`]).
pub(crate) async fn resolve(
    c: &impl tokio_postgres::GenericClient,
    name: &str,
) -> Result<Option<(i64, String)>> {
    let name = name.trim().to_string();
    let canon = metermaster_model::canonical_meter_id(&name);
    let rows = c.query(RESOLVE_MANY, &[&vec![name], &vec![canon]]).await?;
    Ok(rows.first().map(|r| (r.get(1), r.get(2))))
}

/// The meter a name names, or [`StoreError::NoMeter`].
async fn resolve_known(
    c: &impl tokio_postgres::GenericClient,
    name: &str,
) -> Result<(i64, String)> {
    resolve(c, name)
        .await?
        .ok_or_else(|| StoreError::NoMeter(name.trim().to_string()))
}

/// The names not in the cache, sorted, once each.
fn wanted<'a>(
    cache: &HashMap<String, i64>,
    serials: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut want: Vec<String> = serials
        .into_iter()
        .filter(|s| !cache.contains_key(*s))
        .map(str::to_string)
        .collect();
    want.sort();
    want.dedup();
    want
}

/// The ids of the meters these names name, created under their canonical ids where missing
/// (names other than the canonical id kept as aliases): a few statements whatever their number.
///
/// The names are collected by [`wanted`] in a statement of their own, before any await: an
/// iterator (and its closures) kept in the future would make it not `Send`.
async fn meter_ids(
    tx: &Transaction<'_>,
    cache: &mut HashMap<String, i64>,
    want: Vec<String>,
) -> Result<()> {
    if want.is_empty() {
        return Ok(());
    }
    let trimmed: Vec<String> = want.iter().map(|w| w.trim().to_string()).collect();
    let canon: Vec<String> = trimmed
        .iter()
        .map(|w| metermaster_model::canonical_meter_id(w))
        .collect();
    let mut found: HashMap<String, (i64, String)> = HashMap::new();
    for r in tx.query(RESOLVE_MANY, &[&trimmed, &canon]).await? {
        found.insert(r.get(0), (r.get(1), r.get(2)));
    }
    let mut new: Vec<String> = trimmed
        .iter()
        .zip(&canon)
        .filter(|(t, _)| !found.contains_key(*t))
        .map(|(_, c)| c.clone())
        .collect();
    new.sort();
    new.dedup();
    if !new.is_empty() {
        tx.execute(
            "INSERT INTO meters (serial) SELECT unnest($1::TEXT[]) ORDER BY 1 ON CONFLICT (serial) DO NOTHING",
            &[&new],
        )
        .await?;
        let mut by_serial: HashMap<String, i64> = HashMap::new();
        for r in tx
            .query(
                "SELECT serial, id FROM meters WHERE serial = ANY($1)",
                &[&new],
            )
            .await?
        {
            by_serial.insert(r.get(0), r.get(1));
        }
        for (t, c) in trimmed.iter().zip(&canon) {
            if !found.contains_key(t) {
                if let Some(id) = by_serial.get(c) {
                    found.insert(t.clone(), (*id, c.clone()));
                }
            }
        }
    }
    let mut alias_names = Vec::new();
    let mut alias_ids = Vec::new();
    for (w, t) in want.iter().zip(&trimmed) {
        let (id, serial) = found
            .get(t)
            .cloned()
            .ok_or_else(|| StoreError::Task(format!("meter {t} has no id")))?;
        if *t != serial {
            alias_names.push(t.clone());
            alias_ids.push(id);
        }
        cache.insert(w.clone(), id);
    }
    if !alias_names.is_empty() {
        tx.execute(
            "INSERT INTO meter_aliases (alias, meter_id, kind)
             SELECT unnest($1::TEXT[]), unnest($2::BIGINT[]), 'serial' ON CONFLICT DO NOTHING",
            &[&alias_names, &alias_ids],
        )
        .await?;
    }
    Ok(())
}

fn id_of(cache: &HashMap<String, i64>, serial: &str) -> Result<i64> {
    cache
        .get(serial)
        .copied()
        .ok_or_else(|| StoreError::Task(format!("meter {serial} has no id")))
}

/// Writes batches in one transaction. Statements are pipelined (sent without waiting for each
/// answer) and the load-profile days of all batches are merged in memory and written once, so
/// a group of small files costs a handful of round trips, not dozens per file.
/// Applies a batch's alias hints (see [`crate::MeterAlias`]) before its data is written: a
/// name whose meter is known under the other name is routed there through the id cache.
async fn apply_aliases(
    tx: &Transaction<'_>,
    ids: &mut HashMap<String, i64>,
    hints: &[crate::MeterAlias],
) -> Result<u64> {
    let mut refused = 0;
    for h in hints {
        let m = resolve(tx, &h.meter).await?;
        let a = resolve(tx, &h.alias).await?;
        let (name, id, kind) = match (m, a) {
            (None, Some((id, canon))) => {
                ids.insert(h.meter.clone(), id);
                if h.meter.trim() == canon {
                    continue;
                }
                (h.meter.trim().to_string(), id, "name".to_string())
            }
            (m, None) => {
                let (id, canon) = match m {
                    Some(found) => found,
                    None => {
                        meter_ids(tx, ids, vec![h.meter.clone()]).await?;
                        let id = id_of(ids, &h.meter)?;
                        let canon: String = tx
                            .query_one("SELECT serial FROM meters WHERE id = $1", &[&id])
                            .await?
                            .get(0);
                        (id, canon)
                    }
                };
                if h.alias.trim() == canon {
                    continue;
                }
                (h.alias.trim().to_string(), id, h.kind.clone())
            }
            (Some((m, _)), Some((a, _))) if m == a => continue,
            (Some(_), Some(_)) => {
                refused += 1;
                continue;
            }
        };
        tx.execute(
            "INSERT INTO meter_aliases (alias, meter_id, kind) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&name, &id, &kind],
        )
        .await?;
    }
    Ok(refused)
}

async fn write_batches(tx: &Transaction<'_>, batches: &[Batch]) -> Result<Vec<BatchOutcome>> {
    use futures_util::future::try_join_all;
    let mut outs = vec![BatchOutcome::default(); batches.len()];
    let mut ids = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        outs[b].aliases_refused = apply_aliases(tx, &mut ids, &batch.alias_hints()).await?;
    }
    let want = wanted(
        &ids,
        batches.iter().flat_map(|b| {
            b.readings
                .iter()
                .map(|(r, _)| r.meter.serial.as_str())
                .chain(b.intervals.iter().map(|i| &*i.meter))
        }),
    );
    meter_ids(tx, &mut ids, want).await?;
    let upd = tx
        .prepare(
            "UPDATE meters SET address = COALESCE($2, address), manufacturer = COALESCE($3, manufacturer),
               model = COALESCE($4, model), ident = COALESCE($5, ident), firmware = COALESCE($6, firmware),
               scheme_id = COALESCE($7, scheme_id), last_read = GREATEST(last_read, $8)
             WHERE id = $1",
        )
        .await?;
    let ins = tx
        .prepare(
            "INSERT INTO readings (meter_id, protocol, started, finished, origin, digest, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (digest) DO NOTHING RETURNING id",
        )
        .await?;
    let reg = tx
        .prepare(
            "INSERT INTO register_values (meter_id, obis, read_at, reading_id, name, raw, scale, unit)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .await?;
    let ev = tx
        .prepare("INSERT INTO events (meter_id, time, kind, detail) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .await?;
    let prog = tx
        .prepare(
            "INSERT INTO programming (meter_id, time, \"user\", scheme, port) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    // Readings: meter details and the reading itself, all pipelined.
    struct Owned {
        batch: usize,
        id: i64,
        body: String,
        digest: String,
    }
    let mut owned = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        for (r, _) in &batch.readings {
            let (body, digest) = rows::canonical(r);
            owned.push(Owned {
                batch: b,
                id: id_of(&ids, &r.meter.serial)?,
                body,
                digest,
            });
        }
    }
    let readings: Vec<(&Reading, &String)> = batches
        .iter()
        .flat_map(|b| b.readings.iter().map(|(r, o)| (r, o)))
        .collect();
    // Meter rows are updated in id order, whatever the batches' order: two writers then lock
    // them in the same order and do not deadlock on them.
    let mut by_meter: Vec<(&(&Reading, &String), &Owned)> = readings.iter().zip(&owned).collect();
    by_meter.sort_by_key(|(_, o)| o.id);
    try_join_all(by_meter.into_iter().map(|((r, _), o)| {
        let m = &r.meter;
        exec(
            tx,
            &upd,
            vec![
                &o.id,
                &m.address,
                &m.manufacturer,
                &m.model,
                &m.ident,
                &m.firmware,
                &m.scheme_id,
                &r.finished,
            ],
        )
    }))
    .await?;
    let inserted = try_join_all(readings.iter().zip(&owned).map(|((r, origin), o)| {
        fetch(
            tx,
            &ins,
            vec![
                &o.id,
                &r.protocol,
                &r.started,
                &r.finished,
                *origin,
                &o.digest,
                &o.body,
            ],
        )
    }))
    .await?;
    // Registers of new readings, events and programming records, pipelined.
    let mut reg_rows = Vec::new();
    for (((r, _), o), rows_back) in readings.iter().zip(&owned).zip(&inserted) {
        let Some(row) = rows_back.first() else {
            continue;
        };
        outs[o.batch].readings_new += 1;
        let reading_id: i64 = row.get(0);
        let read_at = r.clock.as_ref().map_or(r.finished, |c| c.master_time);
        for g in &r.registers {
            reg_rows.push((
                o.id,
                g.obis.to_string(),
                read_at,
                reading_id,
                &g.name,
                g.value.raw,
                i16::from(g.value.scale),
                g.value.unit.symbol(),
            ));
        }
    }
    try_join_all(reg_rows.iter().map(|x| {
        exec(
            tx,
            &reg,
            vec![&x.0, &x.1, &x.2, &x.3, x.4, &x.5, &x.6, &x.7],
        )
    }))
    .await?;
    let mut ev_rows = Vec::new();
    let mut prog_rows = Vec::new();
    for ((r, _), o) in readings.iter().zip(&owned) {
        for e in &r.events {
            ev_rows.push((
                o.batch,
                o.id,
                e.time,
                rows::word(&e.kind),
                e.detail.clone().unwrap_or_default(),
            ));
        }
        if let Some(p) = &r.programming {
            for rec in &p.records {
                prog_rows.push((
                    o.id,
                    rec.time,
                    &rec.user,
                    rec.scheme.clone().unwrap_or_default(),
                    rec.port.clone().unwrap_or_default(),
                ));
            }
        }
    }
    let ev_counts = try_join_all(
        ev_rows
            .iter()
            .map(|x| exec(tx, &ev, vec![&x.1, &x.2, &x.3, &x.4])),
    )
    .await?;
    for (x, n) in ev_rows.iter().zip(ev_counts) {
        outs[x.0].events_new += n;
    }
    try_join_all(
        prog_rows
            .iter()
            .map(|x| exec(tx, &prog, vec![&x.0, &x.1, x.2, &x.3, &x.4])),
    )
    .await?;
    // Load profiles: every batch's intervals, merged in batch order.
    let per_batch: Vec<Vec<crate::IntervalRow>> = batches
        .iter()
        .map(|b| {
            let mut v: Vec<crate::IntervalRow> = b
                .readings
                .iter()
                .flat_map(|(r, _)| rows::reading_intervals(r))
                .collect();
            v.extend(b.intervals.iter().cloned());
            v
        })
        .collect();
    let changed = merge_days(tx, &mut ids, &per_batch).await?;
    for (o, n) in outs.iter_mut().zip(changed) {
        o.intervals_changed = n;
    }
    // Notes on intervals (NEM12 methods and reasons): a note replaces one of lower quality.
    let notes: Vec<&crate::IntervalNote> = batches.iter().flat_map(|b| &b.notes).collect();
    if !notes.is_empty() {
        let want = wanted(&ids, notes.iter().map(|n| &*n.meter));
        meter_ids(tx, &mut ids, want).await?;
        let st = tx
            .prepare(
                "INSERT INTO interval_notes (meter_id, channel, interval_s, start, quality, method, reason, reason_text)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (meter_id, channel, interval_s, start) DO UPDATE SET
                   quality = EXCLUDED.quality, method = EXCLUDED.method, reason = EXCLUDED.reason,
                   reason_text = EXCLUDED.reason_text
                 WHERE EXCLUDED.quality > interval_notes.quality",
            )
            .await?;
        let vals = notes
            .iter()
            .map(|n| {
                Ok((
                    id_of(&ids, &n.meter)?,
                    n.channel.to_string(),
                    n.seconds as i32,
                    n.start,
                    i16::from(n.quality as u8),
                    &n.method,
                    &n.reason,
                    &n.reason_text,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        try_join_all(
            vals.iter()
                .map(|x| exec(tx, &st, vec![&x.0, &x.1, &x.2, &x.3, &x.4, x.5, x.6, x.7])),
        )
        .await?;
    }
    // Ledger entries and audit records.
    let led = tx
        .prepare(
            "INSERT INTO file_ledger (sha256, path, size, format, imported_at, outcome, readings, intervals, report)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (sha256) DO UPDATE SET path = EXCLUDED.path, imported_at = EXCLUDED.imported_at,
               outcome = EXCLUDED.outcome, readings = EXCLUDED.readings, intervals = EXCLUDED.intervals,
               report = EXCLUDED.report",
        )
        .await?;
    let ledger: Vec<(&LedgerEntry, i64, i64, i64)> = batches
        .iter()
        .filter_map(|b| b.ledger.as_ref())
        .map(|l| (l, l.size as i64, l.readings as i64, l.intervals as i64))
        .collect();
    try_join_all(ledger.iter().map(|(l, size, readings, intervals)| {
        exec(
            tx,
            &led,
            vec![
                &l.sha256,
                &l.path,
                size,
                &l.format,
                &l.imported_at,
                &l.outcome,
                readings,
                intervals,
                &l.report,
            ],
        )
    }))
    .await?;
    for a in batches.iter().flat_map(|b| &b.audit) {
        let meter = match &a.meter {
            Some(m) => Some(match resolve(tx, m).await? {
                Some((_, canon)) => canon,
                None => metermaster_model::canonical_meter_id(m),
            }),
            None => None,
        };
        tx.execute(
            "INSERT INTO audit_log (time, \"user\", action, meter, detail, outcome) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&a.time, &a.user, &a.action, &meter, &a.detail, &a.outcome],
        )
        .await?;
    }
    Ok(outs)
}

/// A stored range to probe: (meter id, channel, interval), interval as SQL int, first and last day.
type Range<'a> = ((i64, &'a str, u32), i32, NaiveDate, NaiveDate);
/// A day row to write, as its SQL parameters.
type DayOut = (
    i64,
    String,
    i32,
    NaiveDate,
    &'static str,
    i16,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
);

/// Day rows below this count are written with one INSERT each (pipelined); above it through
/// `COPY`.
const COPY_FROM: usize = 64;

/// Merges the interval rows of several batches (in order) into the stored day rows; returns
/// how many interval values each batch changed.
async fn merge_days(
    tx: &Transaction<'_>,
    ids: &mut HashMap<String, i64>,
    per_batch: &[Vec<crate::IntervalRow>],
) -> Result<Vec<u64>> {
    let mut changed = vec![0u64; per_batch.len()];
    if per_batch.iter().all(Vec::is_empty) {
        return Ok(changed);
    }
    let grouped = per_batch
        .iter()
        .map(|r| rows::group_days(r))
        .collect::<Result<Vec<_>>>()?;
    let want = wanted(
        ids,
        grouped
            .iter()
            .flat_map(|g| g.keys().map(|k| k.meter.as_str())),
    );
    meter_ids(tx, ids, want).await?;
    // Serialise merges per meter across processes: the read-merge-write below must not
    // interleave with another writer's for the same meter. Locks are taken in id order.
    let mut meter_list = Vec::new();
    for key in grouped.iter().flat_map(|g| g.keys()) {
        meter_list.push(id_of(ids, &key.meter)?);
    }
    meter_list.sort_unstable();
    meter_list.dedup();
    tx.execute(
        "SELECT pg_advisory_xact_lock(4242002, (id % 2147483647)::INT) FROM unnest($1::BIGINT[]) AS id ORDER BY id",
        &[&meter_list],
    )
    .await?;
    // What is stored already in the ranges the batches touch: one query per meter, channel and
    // interval length, pipelined.
    let mut ranges: std::collections::BTreeMap<(i64, &str, u32), (NaiveDate, NaiveDate)> =
        Default::default();
    for key in grouped.iter().flat_map(|g| g.keys()) {
        let e = ranges
            .entry((id_of(ids, &key.meter)?, &key.channel, key.interval_s))
            .or_insert((key.day, key.day));
        e.0 = e.0.min(key.day);
        e.1 = e.1.max(key.day);
    }
    let probe = tx
        .prepare(
            "SELECT day, unit, scale, vals, quality, status FROM profile_days
             WHERE meter_id = $1 AND channel = $2 AND interval_s = $3 AND day >= $4 AND day <= $5",
        )
        .await?;
    let range_list: Vec<Range<'_>> = ranges
        .iter()
        .map(|(k, (lo, hi))| (*k, k.2 as i32, *lo, *hi))
        .collect();
    let found = try_join_all_rows(tx, &probe, &range_list).await?;
    type Slot = (Unit, i8, Day, bool);
    let mut state: HashMap<(i64, String, u32, NaiveDate), Slot> = HashMap::new();
    for (((id, channel, interval_s), _, _, _), rows_found) in range_list.iter().zip(found) {
        for r in rows_found {
            let day: NaiveDate = r.get(0);
            let unit = Unit::from_symbol(r.get::<_, &str>(1)).unwrap_or(Unit::None);
            let scale = r.get::<_, i16>(2) as i8;
            let d = Day::decode(
                day,
                *interval_s,
                r.get(3),
                r.get(4),
                r.get::<_, Option<&[u8]>>(5),
            )?;
            state.insert(
                (*id, channel.to_string(), *interval_s, day),
                (unit, scale, d, false),
            );
        }
    }
    // Apply the batches in order, as if each were written alone.
    for (b, days) in grouped.into_iter().enumerate() {
        for (key, mut row) in days {
            let id = id_of(ids, &key.meter)?;
            let k = (id, key.channel.clone(), key.interval_s, key.day);
            match state.get_mut(&k) {
                None => {
                    changed[b] += row.day.present() as u64;
                    state.insert(k, (row.unit, row.scale, row.day, true));
                }
                Some((unit, scale, stored, dirty)) => {
                    rows::conform(&key, &mut row, *unit, *scale)?;
                    let n = stored.merge(&row.day) as u64;
                    if n > 0 {
                        changed[b] += n;
                        *dirty = true;
                    }
                }
            }
        }
    }
    let out: Vec<DayOut> = state
        .into_iter()
        .filter(|(_, v)| v.3)
        .map(|((id, channel, interval_s, day), (unit, scale, d, _))| {
            let (vals, quality, status) = d.encode();
            (
                id,
                channel,
                interval_s as i32,
                day,
                unit.symbol(),
                i16::from(scale),
                vals,
                quality,
                status,
            )
        })
        .collect();
    if out.len() < COPY_FROM {
        let put = tx
            .prepare(
                "INSERT INTO profile_days (meter_id, channel, interval_s, day, unit, scale, vals, quality, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (meter_id, channel, interval_s, day) DO UPDATE SET
                   unit = EXCLUDED.unit, scale = EXCLUDED.scale, vals = EXCLUDED.vals,
                   quality = EXCLUDED.quality, status = EXCLUDED.status",
            )
            .await?;
        futures_util::future::try_join_all(out.iter().map(|x| {
            exec(
                tx,
                &put,
                vec![&x.0, &x.1, &x.2, &x.3, &x.4, &x.5, &x.6, &x.7, &x.8],
            )
        }))
        .await?;
        return Ok(changed);
    }
    // Many rows: binary COPY into a session-local staging table, then one upsert.
    tx.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS profile_stage (LIKE profile_days INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
         TRUNCATE profile_stage",
    )
    .await?;
    {
        use tokio_postgres::binary_copy::BinaryCopyInWriter;
        use tokio_postgres::types::Type;
        let sink = tx
            .copy_in(
                "COPY profile_stage (meter_id, channel, interval_s, day, unit, scale, vals, quality, status)
                 FROM STDIN BINARY",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(
            sink,
            &[
                Type::INT8,
                Type::TEXT,
                Type::INT4,
                Type::DATE,
                Type::TEXT,
                Type::INT2,
                Type::BYTEA,
                Type::BYTEA,
                Type::BYTEA,
            ],
        );
        let mut writer = std::pin::pin!(writer);
        for x in &out {
            writer
                .as_mut()
                .write(&[&x.0, &x.1, &x.2, &x.3, &x.4, &x.5, &x.6, &x.7, &x.8])
                .await?;
        }
        writer.finish().await?;
    }
    tx.batch_execute(
        "INSERT INTO profile_days SELECT meter_id, channel, interval_s, day, unit, scale, vals, quality, status
           FROM profile_stage
         ON CONFLICT (meter_id, channel, interval_s, day) DO UPDATE SET
           unit = EXCLUDED.unit, scale = EXCLUDED.scale, vals = EXCLUDED.vals,
           quality = EXCLUDED.quality, status = EXCLUDED.status;
         TRUNCATE profile_stage",
    )
    .await?;
    Ok(changed)
}

/// Runs the range probe for every range, pipelined.
async fn try_join_all_rows(
    tx: &Transaction<'_>,
    probe: &tokio_postgres::Statement,
    ranges: &[Range<'_>],
) -> Result<Vec<Vec<tokio_postgres::Row>>> {
    Ok(futures_util::future::try_join_all(ranges.iter().map(
        |((id, channel, _), interval, lo, hi)| {
            fetch(tx, probe, vec![id, channel, interval, lo, hi])
        },
    ))
    .await?)
}

impl Store for PgStore {
    async fn write_many(&self, batches: Arc<[Batch]>) -> Result<Vec<BatchOutcome>> {
        // A connection lost before the commit was sent: nothing was stored, the batches are
        // written again on a new connection. Lost during the commit: they may have been
        // stored, the error is returned.
        // Two writers that lock the same meters in another order: the server ends one with a
        // deadlock (or serialization) error before anything was committed; it is tried again.
        let mut tries = 0u64;
        loop {
            let mut committing = false;
            let r = on_client!(self, !committing, |c| {
                let tx = c.transaction().await?;
                let mut out = Vec::with_capacity(batches.len());
                out.extend(write_batches(&tx, &batches).await?);
                committing = true;
                tx.commit().await?;
                Ok(out)
            });
            match r {
                Err(StoreError::Postgres(e))
                    if !committing
                        && tries < 3
                        && e.code().is_some_and(|c| {
                            *c == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                                || *c == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                        }) =>
                {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
                }
                other => return other,
            }
        }
    }

    async fn meters(&self) -> Result<Vec<MeterRecord>> {
        on_client!(self, |c| {
            let mut aliases: HashMap<i64, Vec<String>> = HashMap::new();
            for r in c
                .query(
                    "SELECT meter_id, alias FROM meter_aliases ORDER BY alias",
                    &[],
                )
                .await?
            {
                aliases.entry(r.get(0)).or_default().push(r.get(1));
            }
            let rows = c
                .query(
                    "SELECT id, serial, model, manufacturer, last_read, group_path FROM meters ORDER BY serial",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let mut m = meter_row(r);
                    m.aliases = aliases.remove(&r.get::<_, i64>(0)).unwrap_or_default();
                    m
                })
                .collect())
        })
    }

    async fn meter(&self, name: &str) -> Result<Option<MeterRecord>> {
        on_client!(self, |c| {
            let Some((id, _)) = resolve(&*c, name).await? else {
                return Ok(None);
            };
            let row = c
                .query_one(
                    "SELECT id, serial, model, manufacturer, last_read, group_path FROM meters WHERE id = $1",
                    &[&id],
                )
                .await?;
            let mut m = meter_row(&row);
            m.aliases = c
                .query(
                    "SELECT alias FROM meter_aliases WHERE meter_id = $1 ORDER BY alias",
                    &[&id],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Ok(Some(m))
        })
    }

    async fn add_alias(&self, meter: &str, alias: &str, kind: &str) -> Result<()> {
        let alias = alias.trim().to_string();
        let mut committing = false;
        on_client!(self, !committing, |c| {
            let tx = c.transaction().await?;
            tx.batch_execute("LOCK TABLE meter_aliases IN SHARE ROW EXCLUSIVE MODE")
                .await?;
            let (id, canon) = resolve_known(&tx, meter).await?;
            if let Some((other, other_canon)) = resolve(&tx, &alias).await? {
                if other != id {
                    return Err(StoreError::AliasTaken {
                        alias: alias.clone(),
                        meter: canon,
                        other: other_canon,
                    });
                }
            }
            if alias != canon {
                tx.execute(
                    "INSERT INTO meter_aliases (alias, meter_id, kind) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&alias, &id, &kind],
                )
                .await?;
            }
            committing = true;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn readings_page(
        &self,
        meter: Option<&str>,
        page: crate::Page,
    ) -> Result<Vec<ReadingRecord>> {
        let (limit, offset) = page.sql();
        on_client!(self, |c| {
            let meter = match meter {
                Some(name) => Some(resolve_known(&*c, name).await?.0),
                None => None,
            };
            let rows = c
                .query(
                    "SELECT r.id, m.serial, r.protocol, r.started, r.origin FROM readings r
                     JOIN meters m ON m.id = r.meter_id WHERE $1::BIGINT IS NULL OR m.id = $1
                     ORDER BY r.started, r.id LIMIT $2 OFFSET $3",
                    &[&meter, &limit, &offset],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| ReadingRecord {
                    id: r.get(0),
                    meter: r.get(1),
                    protocol: r.get(2),
                    started: r.get(3),
                    origin: r.get(4),
                })
                .collect())
        })
    }

    async fn reading(&self, id: i64) -> Result<Reading> {
        on_client!(self, |c| {
            let row = c
                .query_opt("SELECT body FROM readings WHERE id = $1", &[&id])
                .await?
                .ok_or(StoreError::NoReading(id))?;
            rows::from_canonical(id, row.get(0))
        })
    }

    async fn channels(&self, meter: &str) -> Result<Vec<ChannelInfo>> {
        on_client!(self, |c| {
            let (id, _) = resolve_known(&*c, meter).await?;
            let rows = c
                .query(
                    "SELECT p.channel, MIN(p.unit), MIN(p.scale), p.interval_s, COUNT(*) FROM profile_days p
                     WHERE p.meter_id = $1
                     GROUP BY p.channel, p.interval_s ORDER BY p.channel",
                    &[&id],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| ChannelInfo {
                    channel: ObisCode::parse(r.get(0)).unwrap_or(ObisCode::new(0, 0, 0, 0, 0, 0)),
                    unit: Unit::from_symbol(r.get(1)).unwrap_or(Unit::None),
                    scale: r.get::<_, i16>(2) as i8,
                    interval_s: r.get::<_, i32>(3) as u32,
                    days: r.get::<_, i64>(4) as u64,
                })
                .collect())
        })
    }

    async fn series(
        &self,
        meter: &str,
        channel: ObisCode,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Series>> {
        on_client!(self, |c| {
            let (id, meter) = resolve_known(&*c, meter).await?;
            let rows = c
                .query(
                    "SELECT p.day, p.interval_s, p.unit, p.scale, p.vals, p.quality, p.status FROM profile_days p
                     WHERE p.meter_id = $1 AND p.channel = $2 AND p.day >= $3 AND p.day <= $4
                     ORDER BY p.day, p.interval_s",
                    &[&id, &channel.to_string(), &from.date_naive(), &to.date_naive()],
                )
                .await?;
            let mut days = Vec::with_capacity(rows.len());
            for r in &rows {
                let day: NaiveDate = r.get(0);
                let interval_s = r.get::<_, i32>(1) as u32;
                let unit = Unit::from_symbol(r.get(2)).unwrap_or(Unit::None);
                let scale = r.get::<_, i16>(3) as i8;
                let d = Day::decode(
                    day,
                    interval_s,
                    r.get(4),
                    r.get(5),
                    r.get::<_, Option<&[u8]>>(6),
                )?;
                days.push((day, interval_s, unit, scale, d));
            }
            let Some(mut series) = rows::to_series(&meter, channel, from, to, days)? else {
                return Ok(None);
            };
            let notes = c
                .query(
                    "SELECT n.start, n.quality, n.method, n.reason, n.reason_text FROM interval_notes n
                     WHERE n.meter_id = $1 AND n.channel = $2 AND n.interval_s = $3 AND n.start >= $4 AND n.start < $5",
                    &[&id, &channel.to_string(), &(series.interval_s as i32), &from, &to],
                )
                .await?
                .iter()
                .map(|r| {
                    let start: DateTime<Utc> = r.get(0);
                    (
                        start,
                        crate::Quality::from_byte(r.get::<_, i16>(1) as u8),
                        crate::Note {
                            start,
                            method: r.get(2),
                            reason: r.get(3),
                            reason_text: r.get(4),
                        },
                    )
                })
                .collect();
            rows::attach_notes(&mut series, notes);
            Ok(Some(series))
        })
    }

    async fn ledger_many(&self, sha256: &[String]) -> Result<Vec<LedgerEntry>> {
        on_client!(self, |c| {
            let rows = c
                .query(
                    "SELECT sha256, path, size, format, imported_at, outcome, readings, intervals, report
                     FROM file_ledger WHERE sha256 = ANY($1)",
                    &[&sha256],
                )
                .await?;
            Ok(rows.iter().map(ledger_row).collect())
        })
    }

    async fn ledger(&self, sha256: &str) -> Result<Option<LedgerEntry>> {
        on_client!(self, |c| {
            let row = c
                .query_opt(
                    "SELECT sha256, path, size, format, imported_at, outcome, readings, intervals, report
                     FROM file_ledger WHERE sha256 = $1",
                    &[&sha256],
                )
                .await?;
            Ok(row.as_ref().map(ledger_row))
        })
    }

    async fn add_group(&self, path: &str) -> Result<()> {
        let path = crate::group_path(path)?;
        // One statement that may be repeated: the groups that exist are left alone.
        on_client!(self, |c| {
            c.execute(INSERT_GROUPS, &[&crate::group_ancestry(&path)])
                .await?;
            Ok(())
        })
    }

    async fn assign_group(&self, path: &str, serials: &[String]) -> Result<()> {
        let path = crate::group_path(path)?;
        let mut committing = false;
        on_client!(self, !committing, |c| {
            let tx = c.transaction().await?;
            tx.execute(INSERT_GROUPS, &[&crate::group_ancestry(&path)])
                .await?;
            for s in serials {
                let (id, _) = resolve_known(&tx, s).await?;
                tx.execute(
                    "UPDATE meters SET group_path = $1 WHERE id = $2",
                    &[&path, &id],
                )
                .await?;
            }
            committing = true;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn remove_group(&self, path: &str) -> Result<u64> {
        let path = crate::group_path(path)?;
        let mut committing = false;
        on_client!(self, !committing, |c| {
            let tx = c.transaction().await?;
            // The group and everything under it (no LIKE: names may hold % and _).
            tx.execute(
                "UPDATE meters SET group_path = NULL
                 WHERE group_path = $1 OR left(group_path, length($1) + 1) = $1 || '/'",
                &[&path],
            )
            .await?;
            let n = tx
                .execute(
                    "DELETE FROM meter_groups WHERE path = $1 OR left(path, length($1) + 1) = $1 || '/'",
                    &[&path],
                )
                .await?;
            committing = true;
            tx.commit().await?;
            Ok(n)
        })
    }

    async fn groups(&self) -> Result<Vec<crate::GroupRecord>> {
        on_client!(self, |c| {
            let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for r in c.query("SELECT path FROM meter_groups", &[]).await? {
                out.entry(r.get(0)).or_default();
            }
            for r in c
                .query(
                    "SELECT group_path, serial FROM meters WHERE group_path IS NOT NULL ORDER BY serial",
                    &[],
                )
                .await?
            {
                out.entry(r.get(0)).or_default().push(r.get(1));
            }
            Ok(out
                .into_iter()
                .map(|(path, meters)| crate::GroupRecord { path, meters })
                .collect())
        })
    }

    async fn put_user(&self, user: crate::UserRecord) -> Result<()> {
        // One statement that may be repeated: the second time it replaces the user by itself.
        on_client!(self, |c| {
            c.execute(
                "INSERT INTO users (name, password_hash, role, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role",
                &[&user.name, &user.password_hash, &user.role, &user.created],
            )
            .await?;
            Ok(())
        })
    }

    async fn users(&self) -> Result<Vec<crate::UserRecord>> {
        on_client!(self, |c| {
            Ok(c.query(
                "SELECT name, password_hash, role, created FROM users ORDER BY name",
                &[],
            )
            .await?
            .iter()
            .map(|r| crate::UserRecord {
                name: r.get(0),
                password_hash: r.get(1),
                role: r.get(2),
                created: r.get(3),
            })
            .collect())
        })
    }

    async fn remove_user(&self, name: &str) -> Result<bool> {
        // Not repeated: a removal that went through would then answer that there was no user.
        on_client!(self, false, |c| {
            Ok(c.execute("DELETE FROM users WHERE name = $1", &[&name])
                .await?
                > 0)
        })
    }

    async fn put_scheme(&self, v: crate::SchemeVersion) -> Result<i64> {
        let mut committing = false;
        on_client!(self, !committing, |c| {
            let tx = c.transaction().await?;
            // One writer per scheme id at a time (version numbers must not collide).
            tx.execute(
                "SELECT pg_advisory_xact_lock(4242003, hashtext($1))",
                &[&v.id],
            )
            .await?;
            let latest = tx
                .query_opt(
                    "SELECT version, body, folder FROM scheme_versions WHERE id = $1
                     ORDER BY version DESC LIMIT 1",
                    &[&v.id],
                )
                .await?;
            if let Some(r) = &latest {
                if r.get::<_, &str>(1) == v.body && r.get::<_, &str>(2) == v.folder {
                    return Ok(r.get(0));
                }
            }
            let n: i64 = latest.map_or(1, |r| r.get::<_, i64>(0) + 1);
            tx.execute(
                "INSERT INTO scheme_versions (id, version, kind, folder, body, author, time, message)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &v.id, &n, &v.kind, &v.folder, &v.body, &v.author, &v.time, &v.message,
                ],
            )
            .await?;
            committing = true;
            tx.commit().await?;
            Ok(n)
        })
    }

    async fn scheme(&self, id: &str, version: Option<i64>) -> Result<Option<crate::SchemeVersion>> {
        on_client!(self, |c| {
            Ok(c.query_opt(
                "SELECT id, version, kind, folder, body, author, time, message FROM scheme_versions
                 WHERE id = $1 AND ($2::BIGINT IS NULL OR version = $2) ORDER BY version DESC LIMIT 1",
                &[&id, &version],
            )
            .await?
            .as_ref()
            .map(scheme_row))
        })
    }

    async fn scheme_history(&self, id: &str) -> Result<Vec<crate::SchemeVersion>> {
        on_client!(self, |c| {
            Ok(c.query(
                "SELECT id, version, kind, folder, body, author, time, message FROM scheme_versions
                 WHERE id = $1 ORDER BY version",
                &[&id],
            )
            .await?
            .iter()
            .map(scheme_row)
            .collect())
        })
    }

    async fn schemes(&self) -> Result<Vec<crate::SchemeVersion>> {
        on_client!(self, |c| {
            Ok(c.query(
                "SELECT s.id, s.version, s.kind, s.folder, s.body, s.author, s.time, s.message
                 FROM scheme_versions s
                 WHERE s.version = (SELECT MAX(version) FROM scheme_versions t WHERE t.id = s.id)
                 ORDER BY s.folder, s.id",
                &[],
            )
            .await?
            .iter()
            .map(scheme_row)
            .collect())
        })
    }

    async fn ledger_page(&self, page: crate::Page) -> Result<Vec<LedgerEntry>> {
        let (limit, offset) = page.sql();
        on_client!(self, |c| {
            let rows = c
                .query(
                    "SELECT sha256, path, size, format, imported_at, outcome, readings, intervals, report
                     FROM file_ledger ORDER BY imported_at, path LIMIT $1 OFFSET $2",
                    &[&limit, &offset],
                )
                .await?;
            Ok(rows.iter().map(ledger_row).collect())
        })
    }

    async fn audit_entries(&self, filter: &crate::AuditFilter) -> Result<Vec<AuditEntry>> {
        on_client!(self, |c| {
            let meter = match &filter.meter {
                Some(m) => Some(match resolve(&*c, m).await? {
                    Some((_, canon)) => canon,
                    None => metermaster_model::canonical_meter_id(m),
                }),
                None => None,
            };
            let (limit, offset) = filter.page.sql();
            let rows = c
                .query(
                    "SELECT time, \"user\", action, meter, detail, outcome FROM audit_log
                     WHERE ($1::TEXT IS NULL OR meter = $1) AND ($2::TEXT IS NULL OR \"user\" = $2)
                       AND ($3::TEXT IS NULL OR action = $3) AND ($4::TIMESTAMPTZ IS NULL OR time >= $4)
                       AND ($5::TIMESTAMPTZ IS NULL OR time < $5)
                     ORDER BY id LIMIT $6 OFFSET $7",
                    &[
                        &meter,
                        &filter.user,
                        &filter.action,
                        &filter.since,
                        &filter.until,
                        &limit,
                        &offset,
                    ],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| AuditEntry {
                    time: r.get(0),
                    user: r.get(1),
                    action: r.get(2),
                    meter: r.get(3),
                    detail: r.get(4),
                    outcome: r.get(5),
                })
                .collect())
        })
    }
}

/// A meter from `id, serial, model, manufacturer, last_read, group_path`.
fn meter_row(r: &tokio_postgres::Row) -> MeterRecord {
    MeterRecord {
        serial: r.get(1),
        model: r.get(2),
        manufacturer: r.get(3),
        last_read: r.get(4),
        group: r.get(5),
        aliases: Vec::new(),
    }
}
