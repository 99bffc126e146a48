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
    // A channel the meter does not have: nothing; a meter the store does not know: an error.
    assert!(
        s.series(
            "10000001",
            ObisCode::elec(2, 5, 0),
            t0(),
            t0() + Duration::days(1)
        )
        .await
        .unwrap()
        .is_none()
    );
    assert!(matches!(
        s.series(
            "nobody",
            ObisCode::elec(1, 5, 0),
            t0(),
            t0() + Duration::days(1)
        )
        .await,
        Err(StoreError::NoMeter(m)) if m == "nobody"
    ));
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
        "the database has schema version 99; this metermaster knows version 3"
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

// ---- One identity per meter ----

both!(one_meter_under_every_name, |s: AnyStore| async move {
    use metermaster_store::{AuditFilter, Page};
    // The same meter over FLAG (zero-padded serial), over DLMS (plain) and from a file.
    let flag = reading("0000000010000001", t0(), 4, 1_000);
    let mut dlms = reading("10000001", t0() + Duration::hours(1), 4, 2_000);
    dlms.protocol = "dlms".into();
    s.write(batch(flag)).await.unwrap();
    s.write(batch(dlms)).await.unwrap();
    s.write(Batch {
        intervals: (8..12)
            .map(|k| row("010000001", k, k, Quality::Measured))
            .collect(),
        audit: vec![AuditEntry {
            time: t0(),
            user: "alice".into(),
            action: "program".into(),
            meter: Some("0000000010000001".into()),
            detail: "E7".into(),
            outcome: "ok".into(),
        }],
        ..Batch::default()
    })
    .await
    .unwrap();
    let meters = s.meters().await.unwrap();
    assert_eq!(meters.len(), 1, "{meters:?}");
    assert_eq!(meters[0].serial, "10000001");
    assert_eq!(meters[0].aliases, vec!["0000000010000001", "010000001"]);
    for name in [
        "10000001",
        "0000000010000001",
        "010000001",
        " 10000001 ",
        "00010000001",
    ] {
        let m = s
            .meter(name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(m.serial, "10000001");
        assert_eq!(s.readings(Some(name)).await.unwrap().len(), 2, "{name}");
        assert_eq!(s.channels(name).await.unwrap().len(), 2, "{name}");
    }
    // Pages of a meter's readings, oldest first.
    let all = s.readings(Some("10000001")).await.unwrap();
    let second = s
        .readings_page(
            Some("0000000010000001"),
            Page {
                offset: 1,
                limit: Some(5),
            },
        )
        .await
        .unwrap();
    assert_eq!(second, all[1..].to_vec());
    assert!(
        s.readings_page(
            None,
            Page {
                offset: 0,
                limit: Some(0)
            }
        )
        .await
        .unwrap()
        .is_empty()
    );
    // Audit entries are kept under the canonical id and found by any name.
    let by_alias = s
        .audit_entries(&AuditFilter {
            meter: Some("010000001".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_alias.len(), 1);
    assert_eq!(by_alias[0].meter.as_deref(), Some("10000001"));
    let none = s
        .audit_entries(&AuditFilter {
            meter: Some("10000001".into()),
            page: Page {
                offset: 1,
                limit: Some(10),
            },
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    // Groups by any name.
    s.assign_group("North/Substation 4", &["0000000010000001".into()])
        .await
        .unwrap();
    assert_eq!(
        s.meter("10000001").await.unwrap().unwrap().group.as_deref(),
        Some("North/Substation 4")
    );
    // Another name given by hand (a NMI); a name of another meter is refused.
    s.add_alias("10000001", "NMI0000001", "nmi").await.unwrap();
    assert_eq!(
        s.meter("NMI0000001").await.unwrap().unwrap().serial,
        "10000001"
    );
    s.write(batch(reading("20000001", t0(), 1, 5)))
        .await
        .unwrap();
    let e = s
        .add_alias("20000001", "NMI0000001", "nmi")
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::AliasTaken { .. }),
        "{e}: should name the other meter"
    );
    assert_eq!(
        e.to_string(),
        "\"NMI0000001\" already names meter 10000001, not 20000001"
    );
    // An unknown meter is an error naming it, not an empty list.
    let e = s.readings(Some("99999999")).await.unwrap_err();
    assert_eq!(e.to_string(), "no meter 99999999 in the store");
    assert!(matches!(s.channels("X").await, Err(StoreError::NoMeter(_))));
    assert!(s.meter("99999999").await.unwrap().is_none());
    // A meter named by its connection is not merged with anything.
    let at = metermaster_model::unidentified_meter_id("tcp://127.0.0.1:4059", "1/16");
    s.write(batch(reading(&at, t0(), 1, 5))).await.unwrap();
    assert_eq!(s.meter(&at).await.unwrap().unwrap().serial, at);
    assert_eq!(s.meters().await.unwrap().len(), 3);
});

// ---- Upgrades of a store made by the schema-1 release ----

/// Every stored interval value, by (canonical meter id, channel, interval start): what an
/// upgrade must keep. Where two meters of one id had the same slot, the better quality wins
/// (as the merge does).
type Values = std::collections::BTreeMap<(String, String, DateTime<Utc>), (i64, u8)>;

fn add_day(
    out: &mut Values,
    serial: &str,
    channel: &str,
    day: chrono::NaiveDate,
    interval_s: i64,
    (unit, scale): (&str, i64),
    (vals, quality, status): (&[u8], &[u8], Option<&[u8]>),
) {
    let d = metermaster_store::Day::decode(day, interval_s as u32, vals, quality, status).unwrap();
    // Values are compared at one unit and scale (Wh/W/var… at scale -3).
    let unit = Unit::from_symbol(unit).unwrap();
    for k in 0..d.slots() {
        if d.quality[k] == Quality::Missing {
            continue;
        }
        let v = Quantity::new(d.values[k], scale as i8, unit)
            .rescaled(-3)
            .unwrap();
        let key = (
            metermaster_model::canonical_meter_id(serial),
            channel.to_string(),
            d.slot_start(k),
        );
        let q = d.quality[k] as u8;
        match out.get(&key) {
            Some((_, old)) if *old >= q => {}
            _ => {
                out.insert(key, (v, q));
            }
        }
    }
}

/// What a migrated store holds, through the store's API.
async fn values_after(s: &AnyStore) -> Values {
    let mut out = Values::new();
    let far = (
        Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap(),
    );
    for m in s.meters().await.unwrap() {
        for ch in s.channels(&m.serial).await.unwrap() {
            let series = s
                .series(&m.serial, ch.channel, far.0, far.1)
                .await
                .unwrap()
                .unwrap();
            for p in &series.points {
                if p.quality == Quality::Missing {
                    continue;
                }
                let v = Quantity::new(p.value, series.scale, series.unit)
                    .rescaled(-3)
                    .unwrap();
                out.insert(
                    (m.serial.clone(), ch.channel.to_string(), p.start),
                    (v, p.quality as u8),
                );
            }
        }
    }
    out
}

/// The checks on a schema-1 store after its upgrade: one meter per physical meter, with its
/// old names as aliases; every reading, interval value, scheme, user, group and audit entry.
async fn check_upgraded(s: &AnyStore, before: &Values, readings_before: usize) {
    let meters = s.meters().await.unwrap();
    let ids: Vec<&str> = meters.iter().map(|m| m.serial.as_str()).collect();
    assert_eq!(
        ids,
        vec!["10000001", "10000002", "20000001", "20000002", "VBCD000022"]
    );
    let m1 = &meters[0];
    assert_eq!(m1.aliases, vec!["0000000010000001"]);
    assert_eq!(
        m1.model.as_deref(),
        Some("A1140"),
        "the FLAG meter's model is kept"
    );
    assert_eq!(m1.group.as_deref(), Some("North/Substation 4"));
    assert_eq!(meters[2].group.as_deref(), Some("South"));
    assert_eq!(meters[2].aliases, vec!["0000000020000001"]);
    assert_eq!(s.readings(None).await.unwrap().len(), readings_before);
    // Both protocols' readings of meter 10000001 are under it.
    let protocols: std::collections::BTreeSet<String> = s
        .readings(Some("0000000010000001"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.protocol)
        .collect();
    assert_eq!(
        protocols.into_iter().collect::<Vec<_>>(),
        vec!["dlms", "flag"]
    );
    for r in s.readings(None).await.unwrap() {
        s.reading(r.id).await.unwrap();
    }
    let after = values_after(s).await;
    assert!(!before.is_empty());
    assert_eq!(after.len(), before.len());
    assert!(after == *before, "interval values changed in the upgrade");
    let schemes: Vec<String> = s
        .schemes()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(
        schemes,
        vec![
            "COMMERCIAL-MD-2026",
            "E7-2026",
            "NSW-TOU-2026",
            "site-ct-001"
        ]
    );
    let users = s.users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].name, "alice");
    assert_eq!(users[0].role, "engineer");
    let audit = s.audit().await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "program");
    assert_eq!(audit[0].meter.as_deref(), Some("10000001"));
    assert_eq!(s.ledger_entries().await.unwrap().len(), 2);
    let groups: Vec<(String, Vec<String>)> = s
        .groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.path, g.meters))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("North".to_string(), vec![]),
            (
                "North/Substation 4".to_string(),
                vec!["10000001".to_string()]
            ),
            ("South".to_string(), vec!["20000001".to_string()]),
        ]
    );
    // And it goes on working: a new FLAG reading lands on the merged meter.
    s.write(batch(reading("0000000010000002", t0(), 2, 9)))
        .await
        .unwrap();
    assert_eq!(s.meters().await.unwrap().len(), 5);
}

/// A fresh copy of the checked-in schema-1 SQLite store in a folder of its own.
fn schema1_copy(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("mm-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("schema1.sqlite");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/schema1.sqlite"),
        &path,
    )
    .unwrap();
    (dir, path)
}

#[tokio::test]
async fn sqlite_upgrades_a_schema_1_store() {
    let (dir, path) = schema1_copy("upgrade");
    let (before, readings_before) = {
        let c = rusqlite::Connection::open(&path).unwrap();
        let v: i64 = c
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM readings", [], |r| r.get(0))
            .unwrap();
        let mut out = Values::new();
        let mut st = c
            .prepare(
                "SELECT m.serial, p.channel, p.day, p.interval_s, p.unit, p.scale, p.vals, p.quality, p.status
                 FROM profile_days p JOIN meters m ON m.id = p.meter_id",
            )
            .unwrap();
        let mut rows = st.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let day: String = r.get(2).unwrap();
            add_day(
                &mut out,
                &r.get::<_, String>(0).unwrap(),
                &r.get::<_, String>(1).unwrap(),
                chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap(),
                r.get(3).unwrap(),
                (&r.get::<_, String>(4).unwrap(), r.get(5).unwrap()),
                (
                    r.get_ref(6).unwrap().as_blob().unwrap(),
                    r.get_ref(7).unwrap().as_blob().unwrap(),
                    r.get_ref(8).unwrap().as_blob_or_null().unwrap(),
                ),
            );
        }
        (out, n as usize)
    };
    let s = AnyStore::Sqlite(SqliteStore::open(&path).await.unwrap());
    check_upgraded(&s, &before, readings_before).await;
    drop(s);
    // Opened again: nothing more to do, nothing changed.
    let s = AnyStore::Sqlite(SqliteStore::open(&path).await.unwrap());
    assert_eq!(s.meters().await.unwrap().len(), 5);
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, metermaster_store::SCHEMA_VERSION);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn postgres_upgrades_a_schema_1_store() {
    let schema = format!("mm_t{}_upgrade", std::process::id());
    let (c, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e} (scripts/test starts it)", pg_url()));
    tokio::spawn(conn);
    let dump = include_str!("data/schema1.pg.sql").replace("mm_schema1_fixture", &schema);
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
    c.batch_execute(&dump).await.unwrap();
    let (before, readings_before) = {
        let mut out = Values::new();
        for r in c
            .query(
                &format!(
                    "SELECT m.serial, p.channel, p.day, p.interval_s, p.unit, p.scale, p.vals, p.quality, p.status
                     FROM {schema}.profile_days p JOIN {schema}.meters m ON m.id = p.meter_id"
                ),
                &[],
            )
            .await
            .unwrap()
        {
            add_day(
                &mut out,
                r.get(0),
                r.get(1),
                r.get(2),
                r.get::<_, i32>(3).into(),
                (r.get(4), r.get::<_, i16>(5).into()),
                (r.get(6), r.get(7), r.get(8)),
            );
        }
        let n: i64 = c
            .query_one(&format!("SELECT COUNT(*) FROM {schema}.readings"), &[])
            .await
            .unwrap()
            .get(0);
        (out, n as usize)
    };
    let s = AnyStore::Postgres(
        PgStore::connect_in_schema(&pg_url(), Some(&schema))
            .await
            .unwrap(),
    );
    check_upgraded(&s, &before, readings_before).await;
    drop(s);
    let s = AnyStore::Postgres(
        PgStore::connect_in_schema(&pg_url(), Some(&schema))
            .await
            .unwrap(),
    );
    assert_eq!(s.meters().await.unwrap().len(), 5);
    let _ = c
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
}

/// A fresh directory for one test.
fn test_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mm-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_do_not_wait_for_a_long_write() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = test_dir("long-write");
    let path = dir.join("store.db");
    let s = Arc::new(AnyStore::Sqlite(SqliteStore::open(&path).await.unwrap()));
    let before = reading("30000001", t0(), 96, 1);
    s.write(batch(before)).await.unwrap();
    // 200 batches of 2,000 intervals, each of another meter: one long transaction.
    let batches: Arc<[Batch]> = (0..200)
        .map(|b| Batch {
            intervals: (0..2000)
                .map(|k| row(&format!("4{b:07}"), k, k, Quality::Measured))
                .collect(),
            ..Batch::default()
        })
        .collect();
    // Completions, in order.
    let done = Arc::new(AtomicUsize::new(0));
    let write = {
        let (s, done) = (s.clone(), done.clone());
        tokio::spawn(async move {
            let out = s.write_many(batches).await;
            (out, done.fetch_add(1, Ordering::SeqCst))
        })
    };
    // Wait until the write holds the database's write lock: another connection cannot begin a
    // write then.
    let probe = rusqlite::Connection::open(&path).unwrap();
    probe.busy_timeout(std::time::Duration::ZERO).unwrap();
    loop {
        match probe.execute_batch("BEGIN IMMEDIATE; ROLLBACK") {
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                break;
            }
            Err(e) => panic!("probe: {e}"),
            Ok(()) => {
                if write.is_finished() {
                    let (out, _) = write.await.unwrap();
                    panic!(
                        "the write ended before it was seen under way: {:?}",
                        out.map(|o| o.len())
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    }
    // Reads while it runs: they see the last commit (the one meter, or all of them if the write
    // committed meanwhile, never a part).
    let meters = s.meters().await.unwrap();
    let meters_done = done.fetch_add(1, Ordering::SeqCst);
    assert!(
        meters.len() == 1 || meters.len() == 201,
        "{} meters",
        meters.len()
    );
    let series = s
        .series(
            "30000001",
            ObisCode::elec(1, 5, 0),
            t0(),
            t0() + Duration::days(2),
        )
        .await
        .unwrap()
        .unwrap();
    let series_done = done.fetch_add(1, Ordering::SeqCst);
    assert_eq!(series.points.len(), 96);
    let (out, write_done) = write.await.unwrap();
    assert_eq!(out.unwrap().len(), 200);
    assert!(
        meters_done < write_done,
        "meters() finished after the write (completions: meters {meters_done}, series {series_done}, write {write_done})"
    );
    assert_eq!(s.meters().await.unwrap().len(), 201);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sets a file's or directory's permission bits.
fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Lists, reads and exports what [`fill_for_read_only`] wrote, and finds every write refused.
async fn check_read_only(s: &AnyStore, path: &std::path::Path, r: &Reading) {
    let meters = s.meters().await.unwrap();
    assert_eq!(meters.len(), 1);
    assert_eq!(meters[0].group.as_deref(), Some("North/Feeder 1"));
    assert!(s.meter("10000009").await.unwrap().is_some());
    let list = s.readings(Some("10000009")).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(&s.reading(list[0].id).await.unwrap(), r);
    assert_eq!(s.channels("10000009").await.unwrap().len(), 1);
    let series = s
        .series(
            "10000009",
            ObisCode::elec(1, 5, 0),
            t0(),
            t0() + Duration::days(2),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(series.points.len(), 96);
    assert_eq!(s.groups().await.unwrap().len(), 2);
    assert_eq!(s.users().await.unwrap().len(), 1);
    assert_eq!(s.audit().await.unwrap().len(), 1);
    assert_eq!(s.ledger_entries().await.unwrap().len(), 0);
    assert_eq!(s.schemes().await.unwrap().len(), 0);
    let name = path.display().to_string();
    let refused = |e: StoreError| match e {
        StoreError::ReadOnly(p) => assert_eq!(p, name),
        e => panic!("not refused as read-only: {e}"),
    };
    refused(
        s.write(batch(reading("10000010", t0(), 4, 1)))
            .await
            .unwrap_err(),
    );
    refused(s.add_alias("10000009", "NMI1", "nmi").await.unwrap_err());
    refused(s.add_group("South").await.unwrap_err());
    refused(
        s.assign_group("South", &["10000009".into()])
            .await
            .unwrap_err(),
    );
    refused(s.remove_group("North").await.unwrap_err());
    refused(s.remove_user("alice").await.unwrap_err());
    refused(s.put_user(user("bob")).await.unwrap_err());
    refused(
        s.put_scheme(metermaster_store::SchemeVersion {
            id: "e7".into(),
            version: 0,
            kind: "scheme".into(),
            folder: String::new(),
            body: "x".into(),
            author: "alice".into(),
            time: t0(),
            message: String::new(),
        })
        .await
        .unwrap_err(),
    );
    // Nothing changed.
    assert_eq!(s.meters().await.unwrap(), meters);
}

fn user(name: &str) -> metermaster_store::UserRecord {
    metermaster_store::UserRecord {
        name: name.into(),
        password_hash: "$argon2id$x".into(),
        role: "viewer".into(),
        created: t0(),
    }
}

#[tokio::test]
async fn sqlite_read_only_stores() {
    let dir = test_dir("read-only");
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    let path = copy.join("store.db");
    let r = reading("10000009", t0(), 96, 3);
    {
        let s = AnyStore::Sqlite(SqliteStore::open(&path).await.unwrap());
        s.write(Batch {
            audit: vec![AuditEntry {
                time: t0(),
                user: "alice".into(),
                action: "import".into(),
                meter: Some("10000009".into()),
                detail: "x".into(),
                outcome: "ok".into(),
            }],
            ..batch(r.clone())
        })
        .await
        .unwrap();
        s.assign_group("North/Feeder 1", &["10000009".into()])
            .await
            .unwrap();
        s.put_user(user("alice")).await.unwrap();
    }
    // Closed: the WAL went into the file.
    assert!(!copy.join("store.db-wal").exists());
    let files = || {
        let mut v: Vec<String> = std::fs::read_dir(&copy)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    // A viewer's copy: the directory (and file) without write permission.
    chmod(&path, 0o444);
    chmod(&copy, 0o555);
    let explicit = SqliteStore::open_read_only(&path).await.unwrap();
    assert!(explicit.is_read_only());
    check_read_only(&AnyStore::Sqlite(explicit), &path, &r).await;
    let by_url = AnyStore::open(&format!("sqlite:{}?mode=ro", path.display()))
        .await
        .unwrap();
    check_read_only(&by_url, &path, &r).await;
    drop(by_url);
    // Opened as usual, the store finds it cannot write (permission bits, which hold for root
    // too). Where the system refuses the writes (a read-only mount, a directory another user
    // owns) the failed open for writing leads to the same read-only store; tests run as root,
    // whom the system lets write everywhere, so that path is not tested here.
    let auto = SqliteStore::open(&path).await.unwrap();
    assert!(auto.is_read_only());
    check_read_only(&AnyStore::Sqlite(auto), &path, &r).await;
    // Nothing was created beside the file (no WAL, no shared memory: opened immutable).
    assert_eq!(files(), ["store.db"]);
    // The directory writable again, the file not: read-only still, and nothing made beside it.
    chmod(&copy, 0o755);
    let auto = SqliteStore::open(&path).await.unwrap();
    assert!(auto.is_read_only());
    check_read_only(&AnyStore::Sqlite(auto), &path, &r).await;
    assert_eq!(files(), ["store.db"]);
    chmod(&path, 0o644);
    let w = AnyStore::Sqlite(SqliteStore::open(&path).await.unwrap());
    let ro = AnyStore::open(&format!("sqlite:{}?mode=ro", path.display()))
        .await
        .unwrap();
    assert_eq!(ro.meters().await.unwrap().len(), 1);
    // A reader sees the writer's last commit.
    w.write(batch(reading("10000011", t0(), 4, 1)))
        .await
        .unwrap();
    assert_eq!(ro.meters().await.unwrap().len(), 2);
    drop((w, ro));
    // A store of an older schema is not upgraded read-only: it says what to do.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE schema_version SET version = 2", [])
        .unwrap();
    let e = SqliteStore::open_read_only(&path).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::NeedsUpgrade {
                found: 2,
                known: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("open it writable once"), "{e}");
    chmod(&copy, 0o555);
    let e = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(e, StoreError::NeedsUpgrade { .. }), "{e}");
    chmod(&copy, 0o755);
    // A file that is not there, a bad URL parameter.
    assert!(
        SqliteStore::open_read_only(copy.join("none.db"))
            .await
            .is_err()
    );
    let e = AnyStore::open(&format!("sqlite:{}?mode=xx", path.display()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("mode=ro"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A PostgreSQL URL (URL or key=value form) with an `application_name`.
fn with_application_name(url: &str, name: &str) -> String {
    if url.contains("://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

#[tokio::test]
async fn postgres_reconnects_when_the_server_ends_its_connections() {
    let schema = format!("mm_t{}_reconnect", std::process::id());
    let app = format!("mm_test_reconnect_{}", std::process::id());
    let (admin, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e} (scripts/test starts it)", pg_url()));
    tokio::spawn(conn);
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
    let s = AnyStore::Postgres(
        PgStore::connect_in_schema(&with_application_name(&pg_url(), &app), Some(&schema))
            .await
            .unwrap(),
    );
    s.write(batch(reading("50000001", t0(), 96, 1)))
        .await
        .unwrap();
    // Several connections open (each with the store's search path).
    let (a, b, c) = tokio::join!(s.meters(), s.readings(None), s.channels("50000001"));
    assert_eq!(
        (a.unwrap().len(), b.unwrap().len(), c.unwrap().len()),
        (1, 1, 1)
    );
    // What a server restart does to them: every connection of the store ended.
    let kill = || async {
        admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .len()
    };
    assert!(kill().await >= 2);
    // Reads right after: run again on new connections.
    let (a, b, c) = tokio::join!(s.meters(), s.readings(None), s.channels("50000001"));
    assert_eq!(
        (a.unwrap().len(), b.unwrap().len(), c.unwrap().len()),
        (1, 1, 1)
    );
    // A write right after: it may fail once (not if it had not reached its commit), the next
    // call works.
    assert!(kill().await >= 1);
    let r = reading("50000002", t0(), 96, 2);
    let mut failures = 0;
    if let Err(e) = s.write(batch(r.clone())).await {
        failures += 1;
        eprintln!("write after the restart: {e}");
        s.write(batch(r.clone())).await.unwrap();
    }
    assert!(failures <= 1);
    assert_eq!(s.meters().await.unwrap().len(), 2);
    let list = s.readings(Some("50000002")).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(s.reading(list[0].id).await.unwrap(), r);
    // And again for the other writes.
    assert!(kill().await >= 1);
    s.add_group("North").await.unwrap();
    assert!(kill().await >= 1);
    s.assign_group("North", &["50000002".into()]).await.unwrap();
    assert_eq!(s.groups().await.unwrap()[0].meters, ["50000002"]);
    // The store's connections are new ones, named as the URL says.
    let n: i64 = admin
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert!(n >= 1);
    drop(s);
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
}

/// Every call of the store can run on a spawned task (a daemon serves many at once): this
/// compiles only if their futures are `Send`.
#[allow(dead_code)]
fn store_calls_can_be_spawned(s: std::sync::Arc<AnyStore>) {
    tokio::spawn(async move {
        let _ = s
            .write_many(std::sync::Arc::from(vec![Batch::default()]))
            .await;
        let _ = s.meters().await;
        let _ = s.meter("1").await;
        let _ = s.add_alias("1", "2", "nmi").await;
        let _ = s.readings(None).await;
        let _ = s.reading(1).await;
        let _ = s.channels("1").await;
        let _ = s.series("1", ObisCode::elec(1, 5, 0), t0(), t0()).await;
        let _ = s.ledger("00").await;
        let _ = s.add_group("a").await;
        let _ = s.assign_group("a", &[]).await;
        let _ = s.remove_group("a").await;
        let _ = s.groups().await;
        let _ = s.put_user(user("a")).await;
        let _ = s
            .put_scheme(metermaster_store::SchemeVersion {
                id: "a".into(),
                version: 0,
                kind: "scheme".into(),
                folder: String::new(),
                body: String::new(),
                author: "a".into(),
                time: t0(),
                message: String::new(),
            })
            .await;
        let _ = s.users().await;
        let _ = s.remove_user("a").await;
        let _ = s.scheme("a", None).await;
        let _ = s.scheme_history("a").await;
        let _ = s.schemes().await;
        let _ = s.ledger_entries().await;
        let _ = s.audit().await;
    });
}

both!(
    alias_hints_route_a_file_to_the_meter_it_names,
    |s: AnyStore| async move {
        use metermaster_store::MeterAlias;
        // Meter 10000001 was read over FLAG.
        s.write(batch(reading("0000000010000001", t0(), 2, 1)))
            .await
            .unwrap();
        let hint = |meter: &str, alias: &str| MeterAlias {
            meter: meter.into(),
            alias: alias.into(),
            kind: "meter-serial".into(),
        };
        // A NEM12 stream of NMI 6001000001 from that meter: its data goes to the meter, the NMI
        // becomes another of its names.
        let out = s
            .write(Batch {
                intervals: (0..4)
                    .map(|k| row("6001000001", k, 5, Quality::Measured))
                    .collect(),
                aliases: vec![hint("6001000001", "10000001")],
                ..Batch::default()
            })
            .await
            .unwrap();
        assert_eq!(out.aliases_refused, 0);
        let meters = s.meters().await.unwrap();
        assert_eq!(meters.len(), 1, "{meters:?}");
        assert_eq!(meters[0].aliases, vec!["0000000010000001", "6001000001"]);
        assert_eq!(s.channels("6001000001").await.unwrap().len(), 2);
        // A stream from a meter the store does not know: kept under the NMI, the serial an alias.
        s.write(Batch {
            intervals: vec![row("NMI0000002", 0, 5, Quality::Measured)],
            aliases: vec![hint("NMI0000002", "METSER223")],
            ..Batch::default()
        })
        .await
        .unwrap();
        assert_eq!(
            s.meter("METSER223").await.unwrap().unwrap().serial,
            "NMI0000002"
        );
        // A name that belongs to another meter stays there, and the batch says so.
        let out = s
            .write(Batch {
                intervals: vec![row("NMI0000002", 1, 5, Quality::Measured)],
                aliases: vec![hint("NMI0000002", "10000001")],
                ..Batch::default()
            })
            .await
            .unwrap();
        assert_eq!(out.aliases_refused, 1);
        assert_eq!(
            s.meter("10000001").await.unwrap().unwrap().serial,
            "10000001"
        );
        assert_eq!(s.meters().await.unwrap().len(), 2);
    }
);

both!(
    two_names_of_one_meter_in_one_batch_merge,
    |s: AnyStore| async move {
        // One batch names the meter twice: measured values under one name, estimated ones under
        // the other for the same slots and more. The day keeps the better value of each slot.
        let mut rows: Vec<IntervalRow> = (0..4)
            .map(|k| row("0000000010000001", k, 100 + k, Quality::Measured))
            .collect();
        rows.extend((0..8).map(|k| row("10000001", k, 7, Quality::Estimated)));
        s.write(Batch {
            intervals: rows,
            ..Batch::default()
        })
        .await
        .unwrap();
        let series = s
            .series(
                "10000001",
                ObisCode::elec(1, 29, 0),
                t0(),
                t0() + Duration::days(1),
            )
            .await
            .unwrap()
            .unwrap();
        let got: Vec<(i64, Quality)> = series
            .points
            .iter()
            .filter(|p| p.quality != Quality::Missing)
            .map(|p| (p.value, p.quality))
            .collect();
        let mut want: Vec<(i64, Quality)> = (0..4).map(|k| (100 + k, Quality::Measured)).collect();
        want.extend((4..8).map(|_| (7, Quality::Estimated)));
        assert_eq!(got, want);
    }
);

/// Two meters of one canonical id that must not be one (other makers) are kept apart by the
/// upgrade, under their old names, and the audit log says why.
#[tokio::test]
async fn sqlite_upgrade_keeps_apart_what_is_not_one_meter() {
    let (dir, path) = schema1_copy("apart");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(
            "UPDATE meters SET manufacturer = 'LGZ' WHERE serial = '10000002'",
            [],
        )
        .unwrap();
    }
    let s = AnyStore::Sqlite(SqliteStore::open(&path).await.unwrap());
    let ids: Vec<String> = s
        .meters()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.serial)
        .collect();
    assert_eq!(
        ids,
        vec![
            "0000000010000002",
            "10000001",
            "10000002",
            "20000001",
            "20000002",
            "VBCD000022"
        ]
    );
    assert_eq!(
        s.meter("0000000010000002")
            .await
            .unwrap()
            .unwrap()
            .manufacturer
            .as_deref(),
        Some("GEC")
    );
    let kept = s
        .audit()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.action == "upgrade")
        .expect("an audit entry for the meters kept apart");
    assert_eq!(kept.outcome, "not merged");
    assert!(
        kept.detail.contains("made by GEC and by LGZ"),
        "{}",
        kept.detail
    );
    let _ = std::fs::remove_dir_all(&dir);
}

both!(
    a_dlms_system_title_finds_the_meter,
    |s: AnyStore| async move {
        let mut r = reading("10000001", t0(), 2, 1);
        r.protocol = "dlms".into();
        r.meter.system_title = Some("4D4D4D0000BC614E".into());
        s.write(batch(r.clone())).await.unwrap();
        assert_eq!(
            s.meter("4D4D4D0000BC614E").await.unwrap().unwrap().serial,
            "10000001"
        );
        // Kept with the reading too (its stored form carries the title).
        let id = s.readings(Some("4D4D4D0000BC614E")).await.unwrap()[0].id;
        assert_eq!(s.reading(id).await.unwrap(), r);
    }
);

/// A private PostgreSQL server of this test's own (initdb in a temporary folder, a free port),
/// stopped when dropped.
struct PrivatePg {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    port: u16,
}

impl PrivatePg {
    fn pg_ctl(&self, args: &[&str]) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let out = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "fast", "-o", &opts, "-l"])
            .arg(self.dir.join("log"))
            .args(args)
            // The server inherits no pipe of ours: waiting for pg_ctl must not wait for it.
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("running pg_ctl");
        assert!(
            out.success(),
            "pg_ctl {args:?}: {}",
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    fn start() -> PrivatePg {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).find(|p| p.join("initdb").exists()))
            .expect("PostgreSQL's server programs (initdb, pg_ctl) under /usr/lib/postgresql: scripts/test's machine has them");
        let dir = std::env::temp_dir().join(format!("mm-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let st = std::process::Command::new("chown")
            .args(["postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "chown postgres {}", dir.display());
        let out = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-A", "trust", "-U", "postgres"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePg { bin, dir, port };
        pg.pg_ctl(&["start"]);
        pg
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "immediate", "stop"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server restarts in the middle of a run: the store's connections all die; the next
/// calls get new ones and everything written before and after is there.
#[tokio::test]
async fn postgres_store_works_again_after_a_server_restart() {
    let pg = PrivatePg::start();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let s = AnyStore::Postgres(PgStore::connect(&url).await.unwrap());
    s.write(batch(reading("10000001", t0(), 4, 1)))
        .await
        .unwrap();
    assert_eq!(s.readings(None).await.unwrap().len(), 1);
    pg.pg_ctl(&["restart"]);
    // At most one call may see the old connection die; then the store works again.
    let mut failures = 0;
    let written = loop {
        match s.write(batch(reading("10000002", t0(), 4, 2))).await {
            Ok(out) => break out,
            Err(e) => {
                failures += 1;
                assert!(failures <= 1, "the store did not recover: {e}");
            }
        }
    };
    assert_eq!(written.readings_new, 1);
    let ids: Vec<String> = s
        .meters()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.serial)
        .collect();
    assert_eq!(ids, vec!["10000001", "10000002"]);
    assert_eq!(s.readings(None).await.unwrap().len(), 2);
}
