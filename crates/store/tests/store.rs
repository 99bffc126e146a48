//! The shared store test suite: every test runs against SQLite (a fresh file) and PostgreSQL
//! (a fresh schema in the `test` database on 127.0.0.1:5432).

use chrono::{DateTime, Duration, TimeZone, Utc};
use metermaster_model::{
    Channel, Event, EventKind, Interval, IntervalStatus, LoadProfile, MeterIdentity, ObisCode,
    Quantity, Reading, Register, Unit,
};
use metermaster_store::{
    AnyStore, AuditEntry, Batch, IntervalRow, LedgerEntry, PgStore, Quality, SqliteStore, Store,
    StoreError,
};

fn pg_url() -> String {
    std::env::var("METERMASTER_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".into())
}

/// Runs a test body against both stores.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let dir = std::env::temp_dir().join(format!(
                    "mm-store-{}-{}",
                    std::process::id(),
                    stringify!($name)
                ));
                let _ = std::fs::remove_dir_all(&dir);
                let store =
                    AnyStore::Sqlite(SqliteStore::open(dir.join("store.db")).await.unwrap());
                ($body)(store).await;
                let _ = std::fs::remove_dir_all(&dir);
            }

            #[tokio::test]
            async fn postgres() {
                let schema = format!("mm_t{}_{}", std::process::id(), stringify!($name));
                let store = PgStore::connect_in_schema(&pg_url(), Some(&schema))
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at {}: {e} (scripts/test starts it)", pg_url())
                    });
                ($body)(AnyStore::Postgres(store)).await;
                let (c, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                let _ = c
                    .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                    .await;
            }
        }
    };
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 5, 0, 0, 0).unwrap()
}

fn reading(serial: &str, start: DateTime<Utc>, n: usize, base: i64) -> Reading {
    let mut r = Reading::new(
        MeterIdentity {
            serial: serial.into(),
            model: Some("A1140".into()),
            ..MeterIdentity::default()
        },
        "flag",
        start + Duration::minutes(15 * n as i64),
    );
    r.registers = vec![Register {
        obis: ObisCode::elec(1, 8, 0),
        name: "active import".into(),
        value: Quantity::new(base, -3, Unit::WattHour),
    }];
    r.events = vec![Event {
        time: start,
        kind: EventKind::PowerFailure,
        detail: None,
    }];
    r.load_profile = Some(LoadProfile {
        interval_s: 900,
        channels: vec![Channel {
            obis: ObisCode::elec(1, 5, 0),
            name: "active import".into(),
            unit: Unit::Watt,
            scale: -3,
        }],
        intervals: (0..n)
            .map(|k| Interval {
                start: start + Duration::minutes(15 * k as i64),
                seconds: 900,
                status: if k == 3 {
                    IntervalStatus::POWER_UP
                } else {
                    IntervalStatus::EMPTY
                },
                values: vec![1000 * k as i64 + 7],
            })
            .collect(),
    });
    r
}

fn batch(r: Reading) -> Batch {
    Batch {
        readings: vec![(r, "test".into())],
        ..Batch::default()
    }
}

both!(store_and_read_back, |s: AnyStore| async move {
    let r = reading("10000001", t0(), 200, 5_000_000);
    let out = s.write(batch(r.clone())).await.unwrap();
    assert_eq!(out.readings_new, 1);
    assert_eq!(out.intervals_changed, 200);
    assert_eq!(out.events_new, 1);
    let meters = s.meters().await.unwrap();
    assert_eq!(meters.len(), 1);
    assert_eq!(meters[0].serial, "10000001");
    assert_eq!(meters[0].model.as_deref(), Some("A1140"));
    let list = s.readings(Some("10000001")).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].origin, "test");
    // Lossless: the reading comes back equal.
    assert_eq!(s.reading(list[0].id).await.unwrap(), r);
    // The profile, across a day boundary (200 intervals = 2 days and 2 hours).
    let ch = s.channels("10000001").await.unwrap();
    assert_eq!(ch.len(), 1);
    assert_eq!((ch[0].interval_s, ch[0].days, ch[0].scale), (900, 3, -3));
    let series = s
        .series(
            "10000001",
            ObisCode::elec(1, 5, 0),
            t0(),
            t0() + Duration::days(10),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(series.points.len(), 200);
    assert_eq!(series.points[5].value, 5007);
    assert_eq!(series.points[5].start, t0() + Duration::minutes(75));
    assert!(series.points[3].status.contains(IntervalStatus::POWER_UP));
    assert_eq!(series.points[3].quality, Quality::Measured);
    // A sub-range.
    let part = s
        .series(
            "10000001",
            ObisCode::elec(1, 5, 0),
            t0() + Duration::hours(1),
            t0() + Duration::hours(2),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(part.points.len(), 4);
    assert!(
        s.series(
            "nobody",
            ObisCode::elec(1, 5, 0),
            t0(),
            t0() + Duration::days(1)
        )
        .await
        .unwrap()
        .is_none()
    );
});

both!(storing_twice_changes_nothing, |s: AnyStore| async move {
    let r = reading("10000002", t0(), 96, 1);
    s.write(batch(r.clone())).await.unwrap();
    let again = s.write(batch(r)).await.unwrap();
    assert_eq!(again.readings_new, 0);
    assert_eq!(again.intervals_changed, 0);
    assert_eq!(again.events_new, 0);
    assert_eq!(s.readings(None).await.unwrap().len(), 1);
});

both!(
    overlapping_profiles_keep_the_better_quality,
    |s: AnyStore| async move {
        let row = |k: i64, v: i64, q: Quality| IntervalRow {
            meter: "M1".into(),
            channel: ObisCode::elec(1, 29, 0),
            start: t0() + Duration::minutes(30 * k),
            seconds: 1800,
            value: v,
            scale: 0,
            unit: Unit::WattHour,
            quality: q,
            status: IntervalStatus::EMPTY,
        };
        let first = Batch {
            intervals: vec![
                row(0, 10, Quality::Estimated),
                row(1, 20, Quality::Measured),
            ],
            ..Batch::default()
        };
        assert_eq!(s.write(first).await.unwrap().intervals_changed, 2);
        let second = Batch {
            intervals: vec![
                row(0, 11, Quality::Measured),
                row(1, 99, Quality::Estimated),
                row(2, 30, Quality::Measured),
            ],
            ..Batch::default()
        };
        assert_eq!(s.write(second).await.unwrap().intervals_changed, 2);
        let series = s
            .series(
                "M1",
                ObisCode::elec(1, 29, 0),
                t0(),
                t0() + Duration::days(1),
            )
            .await
            .unwrap()
            .unwrap();
        let v: Vec<(i64, Quality)> = series.points.iter().map(|p| (p.value, p.quality)).collect();
        assert_eq!(
            v,
            [
                (11, Quality::Measured),
                (20, Quality::Measured),
                (30, Quality::Measured)
            ]
        );
    }
);

both!(a_failed_batch_stores_nothing, |s: AnyStore| async move {
    let good = reading("10000003", t0(), 4, 1);
    s.write(batch(good)).await.unwrap();
    // One good reading and one row that cannot convert to the stored channel's scale exactly:
    // the whole batch is refused and says why.
    let other = reading("10000004", t0(), 4, 1);
    let bad = IntervalRow {
        meter: "10000003".into(),
        channel: ObisCode::elec(1, 5, 0),
        start: t0() + Duration::hours(5),
        seconds: 900,
        value: 1,
        scale: -6,
        unit: Unit::Watt,
        quality: Quality::Measured,
        status: IntervalStatus::EMPTY,
    };
    // Written in the same batch as a new row for the existing day: conversion is checked
    // against the stored scale.
    let e = s
        .write(Batch {
            readings: vec![(other, "x".into())],
            intervals: vec![bad],
            ..Batch::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Channel { .. }), "{e}");
    assert!(e.to_string().contains("10000003"), "{e}");
    let meters: Vec<String> = s
        .meters()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.serial)
        .collect();
    assert_eq!(meters, ["10000003"]);
    assert_eq!(s.readings(None).await.unwrap().len(), 1);
});

both!(ledger_and_audit, |s: AnyStore| async move {
    let entry = LedgerEntry {
        sha256: "ab".repeat(32),
        path: "/in/a.res".into(),
        size: 123,
        format: "res".into(),
        imported_at: t0(),
        outcome: "imported".into(),
        readings: 1,
        intervals: 96,
        report: None,
    };
    let audit = AuditEntry {
        time: t0(),
        user: "alice".into(),
        action: "import".into(),
        meter: None,
        detail: "/in/a.res".into(),
        outcome: "ok".into(),
    };
    s.write(Batch {
        ledger: Some(entry.clone()),
        audit: vec![audit.clone()],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(s.ledger(&entry.sha256).await.unwrap(), Some(entry));
    assert_eq!(s.ledger("00").await.unwrap(), None);
    assert_eq!(s.audit().await.unwrap(), vec![audit]);
});

#[tokio::test]
async fn sqlite_refuses_a_newer_schema() {
    let dir = std::env::temp_dir().join(format!("mm-store-{}-schema", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("s.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE schema_version SET version = 99", [])
        .unwrap();
    drop(c);
    let e = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "the database has schema version 99; this metermaster knows version 1"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn urls() {
    let e = AnyStore::open("mysql://x").await.unwrap_err();
    assert!(e.to_string().contains("unknown scheme"), "{e}");
    assert!(AnyStore::open("sqlite:").await.is_err());
}

fn row(meter: &str, k: i64, v: i64, q: Quality) -> IntervalRow {
    IntervalRow {
        meter: meter.into(),
        channel: ObisCode::elec(1, 29, 0),
        start: t0() + Duration::minutes(15 * k),
        seconds: 900,
        value: v,
        scale: 0,
        unit: Unit::WattHour,
        quality: q,
        status: IntervalStatus::EMPTY,
    }
}

both!(
    many_batches_in_one_transaction_apply_in_order,
    |s: AnyStore| async move {
        let a = Batch {
            intervals: (0..4)
                .map(|k| row("M9", k, 10 + k, Quality::Estimated))
                .collect(),
            ..Batch::default()
        };
        let r = reading("10000009", t0(), 8, 3);
        let b = Batch {
            readings: vec![(r.clone(), "b".into())],
            intervals: (2..6)
                .map(|k| row("M9", k, 20 + k, Quality::Measured))
                .collect(),
            ..Batch::default()
        };
        // The same reading again in a later batch of the same transaction: not new.
        let c = Batch {
            readings: vec![(r, "c".into())],
            ..Batch::default()
        };
        let outs = s.write_many(vec![a, b, c].into()).await.unwrap();
        let got: Vec<(u64, u64, u64)> = outs
            .iter()
            .map(|o| (o.readings_new, o.intervals_changed, o.events_new))
            .collect();
        // b: 2 upgraded + 2 new for M9, 8 for the reading's own profile.
        assert_eq!(got, [(0, 4, 0), (1, 12, 1), (0, 0, 0)]);
        let series = s
            .series(
                "M9",
                ObisCode::elec(1, 29, 0),
                t0(),
                t0() + Duration::days(1),
            )
            .await
            .unwrap()
            .unwrap();
        let v: Vec<i64> = series.points.iter().map(|p| p.value).collect();
        assert_eq!(v, [10, 11, 22, 23, 24, 25]);
        // A group with one broken batch stores none of them.
        let good = Batch {
            intervals: vec![row("M10", 0, 1, Quality::Measured)],
            ..Batch::default()
        };
        let mut bad_row = row("M9", 9, 1, Quality::Measured);
        bad_row.unit = Unit::Watt;
        bad_row.scale = -9;
        bad_row.value = 1;
        let bad = Batch {
            intervals: vec![bad_row],
            ..Batch::default()
        };
        assert!(s.write_many(vec![good, bad].into()).await.is_err());
        assert!(s.meters().await.unwrap().iter().all(|m| m.serial != "M10"));
    }
);

both!(
    long_profiles_merge_across_many_days,
    |s: AnyStore| async move {
        // 70 days: enough day rows for PostgreSQL's COPY path, both new and merging.
        let n = 96 * 70;
        let first = Batch {
            intervals: (0..n)
                .filter(|k| k % 2 == 0)
                .map(|k| row("M70", k, k, Quality::Estimated))
                .collect(),
            ..Batch::default()
        };
        assert_eq!(
            s.write(first).await.unwrap().intervals_changed,
            n as u64 / 2
        );
        let second = Batch {
            intervals: (0..n)
                .map(|k| row("M70", k, k + 1, Quality::Measured))
                .collect(),
            ..Batch::default()
        };
        assert_eq!(
            s.write(second.clone()).await.unwrap().intervals_changed,
            n as u64
        );
        assert_eq!(s.write(second).await.unwrap().intervals_changed, 0);
        let series = s
            .series(
                "M70",
                ObisCode::elec(1, 29, 0),
                t0(),
                t0() + Duration::days(80),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(series.points.len(), n as usize);
        assert!(
            series
                .points
                .iter()
                .enumerate()
                .all(|(k, p)| p.value == k as i64 + 1 && p.quality == Quality::Measured)
        );
    }
);

both!(
    notes_follow_the_value_they_describe,
    |s: AnyStore| async move {
        use metermaster_store::IntervalNote;
        let note = |k: i64, q: Quality, method: &str, reason: Option<&str>| IntervalNote {
            meter: "N1".into(),
            channel: ObisCode::elec(1, 29, 0),
            start: t0() + Duration::minutes(15 * k),
            seconds: 900,
            quality: q,
            method: method.into(),
            reason: reason.map(str::to_string),
            reason_text: reason.map(|_| "Communications Fault".to_string()),
        };
        // Slot 0 estimated with a reason; slot 1 measured.
        s.write(Batch {
            intervals: vec![
                row("N1", 0, 5, Quality::Estimated),
                row("N1", 1, 6, Quality::Measured),
            ],
            notes: vec![note(0, Quality::Estimated, "E52", Some("76"))],
            ..Batch::default()
        })
        .await
        .unwrap();
        // Later: slot 0 measured (its note no longer applies); slot 1 estimated with a note
        // (the measured value stays, so the note does not apply either).
        s.write(Batch {
            intervals: vec![
                row("N1", 0, 7, Quality::Measured),
                row("N1", 1, 9, Quality::Estimated),
                row("N1", 2, 9, Quality::Edited),
            ],
            notes: vec![
                note(1, Quality::Estimated, "E56", None),
                note(2, Quality::Edited, "S14", Some("76")),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
        let series = s
            .series(
                "N1",
                ObisCode::elec(1, 29, 0),
                t0(),
                t0() + Duration::days(1),
            )
            .await
            .unwrap()
            .unwrap();
        let v: Vec<(i64, Quality)> = series.points.iter().map(|p| (p.value, p.quality)).collect();
        assert_eq!(
            v,
            [
                (7, Quality::Measured),
                (6, Quality::Measured),
                (9, Quality::Edited)
            ]
        );
        let notes: Vec<(i64, &str, Option<&str>, Option<&str>)> = series
            .notes
            .iter()
            .map(|n| {
                (
                    (n.start - t0()).num_minutes() / 15,
                    n.method.as_str(),
                    n.reason.as_deref(),
                    n.reason_text.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            notes,
            [(2, "S14", Some("76"), Some("Communications Fault"))]
        );
    }
);

both!(groups_and_users, |s: AnyStore| async move {
    use metermaster_store::{GroupRecord, UserRecord};
    s.write(batch(reading("G1", t0(), 1, 1))).await.unwrap();
    s.write(batch(reading("G2", t0(), 1, 1))).await.unwrap();
    s.add_group("North / Sub_1").await.unwrap();
    s.assign_group("North/Sub_1/Feeder%A", &["G1".into()])
        .await
        .unwrap();
    s.assign_group("NorthXSub_1", &["G2".into()]).await.unwrap();
    let e = s
        .assign_group("North", &["nobody".into()])
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "no meter nobody in the store");
    assert!(s.add_group("North//x").await.is_err());
    let g = s.groups().await.unwrap();
    assert_eq!(
        g,
        [
            GroupRecord {
                path: "North".into(),
                meters: vec![]
            },
            GroupRecord {
                path: "North/Sub_1".into(),
                meters: vec![]
            },
            GroupRecord {
                path: "North/Sub_1/Feeder%A".into(),
                meters: vec!["G1".into()]
            },
            GroupRecord {
                path: "NorthXSub_1".into(),
                meters: vec!["G2".into()]
            },
        ]
    );
    let m = s.meters().await.unwrap();
    assert_eq!(m[0].group.as_deref(), Some("North/Sub_1/Feeder%A"));
    // Removing a group takes its subgroups, not its look-alikes.
    assert_eq!(s.remove_group("North/Sub_1").await.unwrap(), 2);
    let paths: Vec<String> = s
        .groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.path)
        .collect();
    assert_eq!(paths, ["North", "NorthXSub_1"]);
    assert_eq!(s.meters().await.unwrap()[0].group, None);

    let u = UserRecord {
        name: "alice".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: "engineer".into(),
        created: t0(),
    };
    s.put_user(u.clone()).await.unwrap();
    s.put_user(UserRecord {
        role: "admin".into(),
        ..u.clone()
    })
    .await
    .unwrap();
    let users = s.users().await.unwrap();
    assert_eq!(
        users,
        [UserRecord {
            role: "admin".into(),
            ..u
        }]
    );
    assert!(s.remove_user("alice").await.unwrap());
    assert!(!s.remove_user("alice").await.unwrap());
});

both!(scheme_versions, |s: AnyStore| async move {
    use metermaster_store::SchemeVersion;
    let v = |body: &str, folder: &str, msg: &str| SchemeVersion {
        id: "E7".into(),
        version: 0,
        kind: "scheme".into(),
        folder: folder.into(),
        body: body.into(),
        author: "alice".into(),
        time: t0(),
        message: msg.into(),
    };
    assert_eq!(
        s.put_scheme(v("a = 1\n", "Domestic", "first"))
            .await
            .unwrap(),
        1
    );
    // The same body again is no new version.
    assert_eq!(
        s.put_scheme(v("a = 1\n", "Domestic", "again"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.put_scheme(v("a = 2\n", "Domestic", "night rate moved"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.put_scheme(v("a = 2\n", "Domestic/Old", "moved"))
            .await
            .unwrap(),
        3
    );
    s.put_scheme(SchemeVersion {
        id: "CT1".into(),
        kind: "configuration".into(),
        ..v("b = 1\n", "", "cfg")
    })
    .await
    .unwrap();
    let latest = s.scheme("E7", None).await.unwrap().unwrap();
    assert_eq!(
        (latest.version, latest.folder.as_str()),
        (3, "Domestic/Old")
    );
    assert_eq!(
        s.scheme("E7", Some(1)).await.unwrap().unwrap().body,
        "a = 1\n"
    );
    assert!(s.scheme("E7", Some(9)).await.unwrap().is_none());
    let h: Vec<(i64, String)> = s
        .scheme_history("E7")
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.version, v.message))
        .collect();
    assert_eq!(
        h,
        [
            (1, "first".into()),
            (2, "night rate moved".into()),
            (3, "moved".into())
        ]
    );
    let all: Vec<(String, i64)> = s
        .schemes()
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.id, v.version))
        .collect();
    assert_eq!(all, [("CT1".into(), 1), ("E7".into(), 3)]);
});
