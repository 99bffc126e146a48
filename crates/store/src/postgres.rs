//! The PostgreSQL store: the shared store when one machine is not enough. Same tables as the
//! SQLite store (in PostgreSQL types), same rules, one transaction per batch.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use metermaster_model::{ObisCode, Reading, Unit};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Transaction};

use crate::day::Day;
use crate::rows;
use crate::{
    AuditEntry, Batch, BatchOutcome, ChannelInfo, LedgerEntry, MeterRecord, ReadingRecord, Result,
    SCHEMA_VERSION, Series, Store, StoreError,
};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);
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
CREATE TABLE IF NOT EXISTS groups (
    id BIGSERIAL PRIMARY KEY, parent_id BIGINT REFERENCES groups(id), name TEXT NOT NULL,
    UNIQUE (parent_id, name)
);
"#;

/// The PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PgStore {
    client: Arc<Mutex<Client>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStore")
    }
}

impl PgStore {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<PgStore> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects and works in `schema` (created if missing): separate stores in one database,
    /// as the tests use.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<PgStore> {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        if let Some(s) = schema {
            if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::Url {
                    url: url.into(),
                    why: format!("schema name {s:?} must be letters, digits and _"),
                });
            }
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
        let migrated = async {
            client.batch_execute(SCHEMA).await?;
            let row = client
                .query_opt("SELECT version FROM schema_version", &[])
                .await?;
            match row.map(|r| r.get::<_, i64>(0)) {
                None => {
                    client
                        .execute(
                            "INSERT INTO schema_version (version) VALUES ($1)",
                            &[&SCHEMA_VERSION],
                        )
                        .await?;
                    Ok(())
                }
                Some(v) if v == SCHEMA_VERSION => Ok(()),
                Some(v) => Err(StoreError::SchemaVersion {
                    found: v,
                    known: SCHEMA_VERSION,
                }),
            }
        }
        .await;
        client
            .batch_execute("SELECT pg_advisory_unlock(4242001)")
            .await?;
        migrated?;
        Ok(PgStore {
            client: Arc::new(Mutex::new(client)),
        })
    }
}

async fn meter_id(
    tx: &Transaction<'_>,
    cache: &mut HashMap<String, i64>,
    serial: &str,
) -> Result<i64> {
    if let Some(id) = cache.get(serial) {
        return Ok(*id);
    }
    let row = tx
        .query_one(
            "INSERT INTO meters (serial) VALUES ($1) ON CONFLICT (serial) DO UPDATE SET serial = EXCLUDED.serial
             RETURNING id",
            &[&serial],
        )
        .await?;
    let id: i64 = row.get(0);
    cache.insert(serial.to_string(), id);
    Ok(id)
}

async fn write_batch(tx: &Transaction<'_>, batch: &Batch) -> Result<BatchOutcome> {
    let mut out = BatchOutcome::default();
    let mut ids = HashMap::new();
    let mut intervals: Vec<crate::IntervalRow> = Vec::new();
    for (r, origin) in &batch.readings {
        let m = &r.meter;
        let id = meter_id(tx, &mut ids, &m.serial).await?;
        tx.execute(
            "UPDATE meters SET address = COALESCE($2, address), manufacturer = COALESCE($3, manufacturer),
               model = COALESCE($4, model), ident = COALESCE($5, ident), firmware = COALESCE($6, firmware),
               scheme_id = COALESCE($7, scheme_id), last_read = GREATEST(last_read, $8)
             WHERE id = $1",
            &[&id, &m.address, &m.manufacturer, &m.model, &m.ident, &m.firmware, &m.scheme_id, &r.finished],
        )
        .await?;
        let (body, digest) = rows::canonical(r);
        let inserted = tx
            .query_opt(
                "INSERT INTO readings (meter_id, protocol, started, finished, origin, digest, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (digest) DO NOTHING RETURNING id",
                &[
                    &id,
                    &r.protocol,
                    &r.started,
                    &r.finished,
                    origin,
                    &digest,
                    &body,
                ],
            )
            .await?;
        if let Some(row) = inserted {
            out.readings_new += 1;
            let reading_id: i64 = row.get(0);
            let read_at = r.clock.as_ref().map_or(r.finished, |c| c.master_time);
            let st = tx
                .prepare(
                    "INSERT INTO register_values (meter_id, obis, read_at, reading_id, name, raw, scale, unit)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .await?;
            for reg in &r.registers {
                tx.execute(
                    &st,
                    &[
                        &id,
                        &reg.obis.to_string(),
                        &read_at,
                        &reading_id,
                        &reg.name,
                        &reg.value.raw,
                        &i16::from(reg.value.scale),
                        &reg.value.unit.symbol(),
                    ],
                )
                .await?;
            }
        }
        let ev = tx
            .prepare("INSERT INTO events (meter_id, time, kind, detail) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .await?;
        for e in &r.events {
            out.events_new += tx
                .execute(
                    &ev,
                    &[
                        &id,
                        &e.time,
                        &rows::word(&e.kind),
                        &e.detail.clone().unwrap_or_default(),
                    ],
                )
                .await?;
        }
        if let Some(p) = &r.programming {
            for rec in &p.records {
                tx.execute(
                    "INSERT INTO programming (meter_id, time, \"user\", scheme, port) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT DO NOTHING",
                    &[
                        &id,
                        &rec.time,
                        &rec.user,
                        &rec.scheme.clone().unwrap_or_default(),
                        &rec.port.clone().unwrap_or_default(),
                    ],
                )
                .await?;
            }
        }
        intervals.extend(rows::reading_intervals(r));
    }
    intervals.extend(batch.intervals.iter().cloned());
    out.intervals_changed = merge_days(tx, &mut ids, &intervals).await?;
    if let Some(l) = &batch.ledger {
        tx.execute(
            "INSERT INTO file_ledger (sha256, path, size, format, imported_at, outcome, readings, intervals, report)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (sha256) DO UPDATE SET path = EXCLUDED.path, imported_at = EXCLUDED.imported_at,
               outcome = EXCLUDED.outcome, readings = EXCLUDED.readings, intervals = EXCLUDED.intervals,
               report = EXCLUDED.report",
            &[
                &l.sha256,
                &l.path,
                &(l.size as i64),
                &l.format,
                &l.imported_at,
                &l.outcome,
                &(l.readings as i64),
                &(l.intervals as i64),
                &l.report,
            ],
        )
        .await?;
    }
    for a in &batch.audit {
        tx.execute(
            "INSERT INTO audit_log (time, \"user\", action, meter, detail, outcome) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&a.time, &a.user, &a.action, &a.meter, &a.detail, &a.outcome],
        )
        .await?;
    }
    Ok(out)
}

async fn merge_days(
    tx: &Transaction<'_>,
    ids: &mut HashMap<String, i64>,
    rows_in: &[crate::IntervalRow],
) -> Result<u64> {
    if rows_in.is_empty() {
        return Ok(0);
    }
    let days = rows::group_days(rows_in)?;
    let get = tx
        .prepare(
            "SELECT unit, scale, vals, quality, status FROM profile_days
             WHERE meter_id = $1 AND channel = $2 AND interval_s = $3 AND day = $4",
        )
        .await?;
    let put = tx
        .prepare(
            "INSERT INTO profile_days (meter_id, channel, interval_s, day, unit, scale, vals, quality, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (meter_id, channel, interval_s, day) DO UPDATE SET
               unit = EXCLUDED.unit, scale = EXCLUDED.scale, vals = EXCLUDED.vals,
               quality = EXCLUDED.quality, status = EXCLUDED.status",
        )
        .await?;
    let mut changed = 0u64;
    for (key, mut row) in days {
        let id = meter_id(tx, ids, &key.meter).await?;
        let interval = key.interval_s as i32;
        let existing = tx
            .query_opt(&get, &[&id, &key.channel, &interval, &key.day])
            .await?;
        let (unit, scale, merged, n) = match existing {
            None => {
                let n = row.day.present() as u64;
                (row.unit, row.scale, row.day, n)
            }
            Some(r) => {
                let unit = Unit::from_symbol(r.get::<_, &str>(0)).unwrap_or(Unit::None);
                let scale = r.get::<_, i16>(1) as i8;
                let mut stored = Day::decode(
                    key.day,
                    key.interval_s,
                    r.get(2),
                    r.get(3),
                    r.get::<_, Option<&[u8]>>(4),
                )?;
                rows::conform(&key, &mut row, unit, scale)?;
                let n = stored.merge(&row.day) as u64;
                if n == 0 {
                    continue;
                }
                (unit, scale, stored, n)
            }
        };
        let (vals, quality, status) = merged.encode();
        tx.execute(
            &put,
            &[
                &id,
                &key.channel,
                &interval,
                &key.day,
                &unit.symbol(),
                &i16::from(scale),
                &vals,
                &quality,
                &status,
            ],
        )
        .await?;
        changed += n;
    }
    Ok(changed)
}

impl Store for PgStore {
    async fn write(&self, batch: Batch) -> Result<BatchOutcome> {
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        let out = write_batch(&tx, &batch).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn meters(&self) -> Result<Vec<MeterRecord>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT serial, model, manufacturer, last_read FROM meters ORDER BY serial",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| MeterRecord {
                serial: r.get(0),
                model: r.get(1),
                manufacturer: r.get(2),
                last_read: r.get(3),
            })
            .collect())
    }

    async fn readings(&self, meter: Option<&str>) -> Result<Vec<ReadingRecord>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT r.id, m.serial, r.protocol, r.started, r.origin FROM readings r
                 JOIN meters m ON m.id = r.meter_id WHERE $1::TEXT IS NULL OR m.serial = $1
                 ORDER BY r.started, r.id",
                &[&meter],
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
    }

    async fn reading(&self, id: i64) -> Result<Reading> {
        let c = self.client.lock().await;
        let row = c
            .query_opt("SELECT body FROM readings WHERE id = $1", &[&id])
            .await?
            .ok_or(StoreError::NoReading(id))?;
        rows::from_canonical(id, row.get(0))
    }

    async fn channels(&self, meter: &str) -> Result<Vec<ChannelInfo>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT p.channel, MIN(p.unit), MIN(p.scale), p.interval_s, COUNT(*) FROM profile_days p
                 JOIN meters m ON m.id = p.meter_id WHERE m.serial = $1
                 GROUP BY p.channel, p.interval_s ORDER BY p.channel",
                &[&meter],
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
    }

    async fn series(
        &self,
        meter: &str,
        channel: ObisCode,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Series>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT p.day, p.interval_s, p.unit, p.scale, p.vals, p.quality, p.status FROM profile_days p
                 JOIN meters m ON m.id = p.meter_id
                 WHERE m.serial = $1 AND p.channel = $2 AND p.day >= $3 AND p.day <= $4
                 ORDER BY p.day, p.interval_s",
                &[&meter, &channel.to_string(), &from.date_naive(), &to.date_naive()],
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
        Ok(rows::to_series(meter, channel, from, to, days))
    }

    async fn ledger(&self, sha256: &str) -> Result<Option<LedgerEntry>> {
        let c = self.client.lock().await;
        let row = c
            .query_opt(
                "SELECT sha256, path, size, format, imported_at, outcome, readings, intervals, report
                 FROM file_ledger WHERE sha256 = $1",
                &[&sha256],
            )
            .await?;
        Ok(row.map(|r| LedgerEntry {
            sha256: r.get(0),
            path: r.get(1),
            size: r.get::<_, i64>(2) as u64,
            format: r.get(3),
            imported_at: r.get(4),
            outcome: r.get(5),
            readings: r.get::<_, i64>(6) as u64,
            intervals: r.get::<_, i64>(7) as u64,
            report: r.get(8),
        }))
    }

    async fn audit(&self) -> Result<Vec<AuditEntry>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT time, \"user\", action, meter, detail, outcome FROM audit_log ORDER BY id",
                &[],
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
    }
}
