//! The service layer against simulated meters, in process: typed targets, reads in both
//! protocols, collections with failures, keeping readings, and one identity per meter.

use std::sync::Arc;

use chrono::NaiveDate;
use metermaster_flag::ids::MeterModel;
use metermaster_master::{
    DlmsAuth, Keeping, Limits, MeterTarget, Part, ProfileSpan, Progress, Protocol, ReadPlan, Stage,
    collect, keep_reading, read_meter,
};
use metermaster_sim::dlms::{DlmsMeter, DlmsServeOptions};
use metermaster_sim::{Fleet, MeterConfig, ServeOptions, SimMeter};
use metermaster_store::{AnyStore, SqliteStore, Store};

struct Sims {
    /// The FLAG face of every meter, on one port.
    flag: std::net::SocketAddr,
    /// The DLMS face of each meter, one port each.
    dlms: Vec<std::net::SocketAddr>,
}

/// A fleet of A1140s (serials from 10000001) behind a FLAG port and a DLMS port each.
async fn sims(n: u64) -> Sims {
    let start = NaiveDate::from_ymd_opt(2024, 3, 5)
        .unwrap()
        .and_hms_opt(14, 0, 0)
        .unwrap();
    let fleet = Arc::new(Fleet::new(
        (0..n)
            .map(|i| {
                SimMeter::new(MeterConfig::new(
                    (10_000_001 + i).to_string(),
                    MeterModel::A1140,
                    7 + i,
                    start,
                ))
            })
            .collect(),
    ));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flag = l.local_addr().unwrap();
    tokio::spawn(metermaster_sim::serve_tcp(
        l,
        fleet.clone(),
        ServeOptions::default(),
        std::future::pending(),
    ));
    let mut pairs = Vec::new();
    let mut dlms = Vec::new();
    for m in &fleet.meters {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        dlms.push(l.local_addr().unwrap());
        pairs.push((l, DlmsMeter::new(m.clone())));
    }
    tokio::spawn(metermaster_sim::dlms::serve_dlms(
        pairs,
        DlmsServeOptions::default(),
        std::future::pending(),
    ));
    Sims { flag, dlms }
}

fn flag_target(s: &Sims, serial: u64) -> MeterTarget {
    MeterTarget::parse(
        &format!("tcp://{}", s.flag),
        Protocol::Flag,
        serial.to_string(),
    )
    .unwrap()
}

/// The meter reader (client 17, LLS): it may read every part.
fn dlms_target(addr: std::net::SocketAddr) -> MeterTarget {
    let mut t = MeterTarget::parse(&format!("tcp://{addr}"), Protocol::Dlms, "").unwrap();
    t.dlms.client = 17;
    t.dlms.auth = DlmsAuth::Low;
    t.password = Some("12345678".into());
    t
}

fn plan() -> ReadPlan {
    ReadPlan {
        profile: ProfileSpan::Days(1),
        ..ReadPlan::default()
    }
}

fn temp_store_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mm-master-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn collect_gives_one_outcome_per_target_failures_included() {
    let s = sims(3).await;
    // A port nobody listens on: a transient failure to connect.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        a
    };
    let mut wrong_password = flag_target(&s, 10_000_002);
    wrong_password.password = Some("WRONGPW1".into());
    let mut dead_target =
        MeterTarget::parse(&format!("tcp://{dead}"), Protocol::Flag, "10000009").unwrap();
    dead_target.attempts = 1;
    dead_target.timeout = std::time::Duration::from_millis(500);
    let targets = vec![
        (flag_target(&s, 10_000_001), plan()),
        (dead_target, plan()),
        (wrong_password, plan()),
        (flag_target(&s, 10_000_003), plan()),
        (dlms_target(s.dlms[0]), plan()),
    ];
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let outcomes = collect(targets, Limits { concurrency: 2 }, move |p| {
        seen2.lock().unwrap().push(p);
    })
    .await;
    assert_eq!(outcomes.len(), 5);
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(o.index, i);
    }
    let ok = |i: usize| outcomes[i].result.as_ref().unwrap();
    assert_eq!(ok(0).reading.meter.serial, "0000000010000001");
    assert_eq!(ok(3).reading.meter.serial, "0000000010000003");
    assert_eq!(ok(4).reading.meter.serial, "10000001");
    assert_eq!(ok(4).reading.protocol, "dlms");
    let dead = outcomes[1].result.as_ref().unwrap_err();
    assert_eq!(dead.stage, Stage::Read);
    assert!(dead.transient, "{dead:?}");
    assert!(dead.meter.contains("10000009"), "{}", dead.meter);
    let refused = outcomes[2].result.as_ref().unwrap_err();
    assert!(
        !refused.transient,
        "a wrong password is not worth a retry: {refused:?}"
    );
    let text = format!("{:#}", anyhow_like(refused));
    assert!(text.contains("10000002"), "{text}");
    // Every target started and finished exactly once.
    let seen = seen.lock().unwrap();
    for i in 0..5 {
        assert_eq!(
            seen.iter()
                .filter(|p| matches!(p, Progress::Started { index, .. } if *index == i))
                .count(),
            1
        );
        assert_eq!(
            seen.iter()
                .filter(|p| matches!(p, Progress::Finished { index, .. } if *index == i))
                .count(),
            1
        );
    }
}

/// The error and its causes, as a front end prints them.
fn anyhow_like(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

#[tokio::test]
async fn a_meter_read_over_flag_and_dlms_and_imported_is_one_meter() {
    let s = sims(1).await;
    let dir = temp_store_path("identity");
    let store = AnyStore::Sqlite(SqliteStore::open(dir.join("s.db")).await.unwrap());
    let keeping = Keeping {
        store: Some((&store, "test".into())),
        ..Keeping::default()
    };
    let flag = read_meter(&flag_target(&s, 10_000_001), &plan())
        .await
        .unwrap();
    let dlms = read_meter(&dlms_target(s.dlms[0]), &plan()).await.unwrap();
    assert_eq!(flag.reading.meter.serial, "0000000010000001");
    assert_eq!(dlms.reading.meter.serial, "10000001");
    keep_reading(&flag.reading, &flag.origin, &keeping)
        .await
        .unwrap();
    keep_reading(&dlms.reading, &dlms.origin, &keeping)
        .await
        .unwrap();
    // A file naming the meter by its serial with another padding.
    let csv = "meter,channel,start,end,value,unit,quality\n\
               010000001,1-0:1.29.0*255,2024-01-01T00:00:00Z,2024-01-01T00:30:00Z,12.000,Wh,measured\n";
    let rows = metermaster_res::csv::read_csv(csv).unwrap();
    store
        .write(metermaster_store::Batch {
            intervals: rows,
            ..Default::default()
        })
        .await
        .unwrap();
    let meters = store.meters().await.unwrap();
    assert_eq!(meters.len(), 1, "{meters:?}");
    assert_eq!(meters[0].serial, "10000001");
    assert_eq!(meters[0].aliases, vec!["0000000010000001", "010000001"]);
    assert_eq!(meters[0].model.as_deref(), Some("A1140"));
    for name in ["10000001", "0000000010000001", "010000001"] {
        let readings = store.readings(Some(name)).await.unwrap();
        let mut protocols: Vec<&str> = readings.iter().map(|r| r.protocol.as_str()).collect();
        protocols.sort();
        assert_eq!(protocols, vec!["dlms", "flag"], "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn output_that_cannot_be_written_is_refused_before_the_read() {
    let dir = temp_store_path("keep");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    // A path under a regular file can never be created, even by root.
    let keeping = Keeping {
        out: Some(file.join("r.json")),
        ..Keeping::default()
    };
    let e = keeping
        .check("tcp://127.0.0.1:1 address \"1\"")
        .unwrap_err();
    assert_eq!(e.stage, Stage::Keep);
    assert!(e.to_string().contains("r.json"), "{e}");
    let keeping = Keeping {
        res_folder: Some((file.join("res"), metermaster_master::ResMode::Append)),
        ..Keeping::default()
    };
    assert!(keeping.check("m").is_err());
    // A writable folder passes, and keeping writes the .RES file under the canonical id.
    let keeping = Keeping {
        res_folder: Some((dir.join("res"), metermaster_master::ResMode::Append)),
        out: Some(dir.join("r.res")),
        ..Keeping::default()
    };
    keeping.check("m").unwrap();
    let r = metermaster_model::Reading::new(
        metermaster_model::MeterIdentity {
            serial: "0000000010000004".into(),
            ..Default::default()
        },
        "flag",
        chrono::Utc::now(),
    );
    let report = keep_reading(&r, "test", &keeping).await.unwrap();
    assert_eq!(report.res_file, Some(dir.join("res").join("10000004.res")));
    assert!(dir.join("r.res").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn closed_choices_are_enums_with_clear_errors() {
    assert_eq!("dlms".parse::<Protocol>().unwrap(), Protocol::Dlms);
    assert_eq!(
        "modbus".parse::<Protocol>().unwrap_err(),
        "protocol \"modbus\": known protocols are flag and dlms"
    );
    assert_eq!("events".parse::<Part>().unwrap(), Part::Events);
    assert!(
        "everything"
            .parse::<Part>()
            .unwrap_err()
            .contains("known parts are registers")
    );
    assert_eq!(metermaster_master::parse_utc_offset("+01:00"), Ok(3600));
    assert_eq!(metermaster_master::parse_utc_offset("-05:30"), Ok(-19_800));
    for bad in ["01:00", "+25:00", "Europe/London", ""] {
        assert!(
            metermaster_master::parse_utc_offset(bad)
                .unwrap_err()
                .contains("must look like +01:00"),
            "{bad}"
        );
    }
    let e = MeterTarget::parse("ftp://x", Protocol::Flag, "").unwrap_err();
    assert_eq!(e.stage, Stage::Target);
    assert!(!e.transient);
}

#[tokio::test]
async fn a_store_that_cannot_be_written_does_not_lose_the_reading() {
    let dir = temp_store_path("keep-ro");
    let db = dir.join("s.db");
    drop(SqliteStore::open(&db).await.unwrap());
    let ro = AnyStore::Sqlite(SqliteStore::open_read_only(&db).await.unwrap());
    let r = metermaster_model::Reading::new(
        metermaster_model::MeterIdentity {
            serial: "10000005".into(),
            ..Default::default()
        },
        "flag",
        chrono::Utc::now(),
    );
    let keeping = Keeping {
        store: Some((&ro, "sqlite:s.db?mode=ro".into())),
        out: Some(dir.join("r.json")),
        res_folder: Some((dir.join("res"), metermaster_master::ResMode::Append)),
    };
    let e = keep_reading(&r, "test", &keeping).await.unwrap_err();
    assert_eq!(e.stage, Stage::Keep);
    assert!(
        !e.transient,
        "a read-only store does not get better by trying again"
    );
    // The other places were still written, and the error says so.
    assert!(dir.join("r.json").exists());
    assert!(dir.join("res").join("10000005.res").exists());
    assert!(
        e.context
            .contains("storing the reading in sqlite:s.db?mode=ro")
            && e.context.contains("the reading was written to"),
        "{}",
        e.context
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_copy_of_a_file_that_failed_is_not_reported_imported() {
    use metermaster_master::files::{ReadAs, import_files};
    let dir = temp_store_path("dup");
    let store = AnyStore::Sqlite(SqliteStore::open(dir.join("s.db")).await.unwrap());
    let head = "meter,channel,start,end,value,unit,quality\n";
    // The meter's channel is stored in Wh ...
    let wh = dir.join("wh.csv");
    std::fs::write(
        &wh,
        format!(
            "{head}M1,1-0:1.29.0*255,2024-01-01T00:00:00Z,2024-01-01T00:30:00Z,5.000,Wh,measured\n"
        ),
    )
    .unwrap();
    // ... so a file giving it in V for the same day cannot be stored; nor can its copy.
    let v = format!(
        "{head}M1,1-0:1.29.0*255,2024-01-01T00:30:00Z,2024-01-01T01:00:00Z,230.000,V,measured\n"
    );
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    std::fs::write(&a, &v).unwrap();
    std::fs::write(&b, &v).unwrap();
    let reports = import_files(&store, &[wh, a, b], &ReadAs::default()).await;
    assert_eq!(reports[0].outcome, "imported", "{reports:?}");
    assert!(reports[1].error.is_some(), "{reports:?}");
    assert_eq!(reports[2].outcome, "failed", "{reports:?}");
    assert!(
        reports[2]
            .error
            .as_deref()
            .unwrap()
            .contains("a.csv, which could not be imported"),
        "{reports:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
