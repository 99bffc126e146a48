//! The `metermaster` command as a user runs it: demo, sim + read (table, JSON, errors), and an
//! independent peer (the Python `iec62056-21` client) reading our simulator.

#[path = "parts/bill.rs"]
mod bill;
#[path = "parts/dlms.rs"]
mod dlms;
#[path = "parts/dlms_read.rs"]
mod dlms_read;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_metermaster");

struct Sim {
    child: Child,
    port: u16,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sim(extra: &[&str]) -> Sim {
    let mut args = vec!["--listen", "127.0.0.1:0", "--speed", "0"];
    args.extend(["--start", "2024-03-05T14:00:00Z"]);
    args.extend_from_slice(extra);
    sim_with(&args)
}

/// Starts `cmd` with its standard output piped; the child and the first line it prints (a
/// server's announcement that it is ready).
fn spawn_first_line(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// `metermaster sim ARGS` as a child process, and the port its first line announces.
fn sim_with(args: &[&str]) -> Sim {
    let (child, line) = spawn_first_line(
        Command::new(BIN)
            .arg("sim")
            .args(args)
            .stderr(Stdio::null()),
    );
    let port = line
        .split("tcp://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Sim { child, port }
}

/// The data directory every command of this test process uses (never the user's own).
fn data_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mm-cli-{}-data", std::process::id()))
}

/// The peer Python ($METERMASTER_PEER_PYTHON, else the workspace's .venv-peers) when it can
/// `import` these modules; otherwise `None`, after saying plainly that the test skips and why.
fn peer_python(modules: &str) -> Option<String> {
    let required = std::env::var_os("METERMASTER_PEER_PYTHON").is_some();
    let py = std::env::var("METERMASTER_PEER_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv-peers/bin/python").to_string()
    });
    let ok = std::path::Path::new(&py).exists()
        && Command::new(&py)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        // Under the test command (scripts/test sets METERMASTER_PEER_PYTHON) a missing peer is
        // a failure, never a pass by skipping.
        assert!(
            !required,
            "METERMASTER_PEER_PYTHON={py} has no {modules}: the peer test cannot run (scripts/test installs it)"
        );
        eprintln!(
            "SKIPPED: no Python peer environment with {modules} at {py} (scripts/test creates it)"
        );
        return None;
    }
    Some(py)
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("METERMASTER_DATA_DIR", data_dir())
        .env_remove("METERMASTER_DATABASE")
        .env_remove("METERMASTER_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_reads_a_fleet() {
    let (ok, out, err) = run(&["demo", "--meters", "3", "--database", "sqlite::memory:"]);
    assert!(ok, "{err}");
    assert!(out.contains("10000003   A1140  flag"), "{out}");
    assert!(out.contains("20000003   A1700  flag"), "{out}");
    assert!(out.contains("10000003   A1140  dlms"), "{out}");
    assert!(
        out.contains("read 9 meters (6 over FLAG, 3 over DLMS/COSEM)"),
        "{out}"
    );
    // The same meter reads the same over both protocols (its clock runs: the two reads may
    // be milliseconds apart).
    let import = |via: &str| -> f64 {
        out.lines()
            .find(|l| l.starts_with("10000002") && l.contains(via))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {via} import for 10000002 in {out}"))
    };
    assert!((import("flag") - import("dlms")).abs() < 0.01, "{out}");
    assert!(
        err.contains("stored in sqlite::memory: (9 new readings"),
        "{err}"
    );
}

#[test]
fn read_table_and_json() {
    let s = sim(&["--meters", "3", "--model", "a1700"]);
    let url = format!("tcp://127.0.0.1:{}", s.port);
    let (ok, out, err) = run(&["read", &url, "--address", "10000003"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("meter           0000000010000003 (A1700)"),
        "{out}"
    );
    assert!(out.contains("1.8.0"), "{out}");
    assert!(out.contains("load profile:"), "{out}");
    let dir = std::env::temp_dir().join(format!("mm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("r.json");
    let (ok, out, err) = run(&[
        "read",
        &url,
        "--address",
        "10000003",
        "--json",
        "--days",
        "2",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["meter"]["serial"], "0000000010000003");
    assert_eq!(j["protocol"], "flag");
    let regs = j["registers"].as_array().unwrap();
    assert!(
        regs.iter()
            .any(|r| r["obis"] == "1-0:1.8.0*255" && r["value"]["unit"] == "Wh")
    );
    let ivs = j["load_profile"]["intervals"].as_array().unwrap();
    assert!(ivs.len() > 96, "{}", ivs.len());
    assert!(
        ivs[0]["start"].is_string() && ivs[0]["values"].is_array() && ivs[0]["status"].is_array()
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved, j);
    // The same reading through a .RES file: `res show --json` gives it back unchanged.
    let res = dir.join("r.res");
    let (ok, out, err) = run(&[
        "read",
        &url,
        "--address",
        "10000003",
        "--json",
        "--days",
        "2",
        "--out",
        res.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let direct: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (ok, shown, err) = run(&["res", "show", res.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown, serde_json::Value::Array(vec![direct]));
    let (ok, table, err) = run(&["res", "show", res.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(table.contains("0000000010000003 (A1700)"), "{table}");
    // An altered file is refused with the reason.
    let text = std::fs::read_to_string(&res).unwrap().replacen(
        "REG\t1-0:1.8.0*255\t",
        "REG\t1-0:1.8.0*255\t9",
        1,
    );
    std::fs::write(&res, text).unwrap();
    let (ok, _, err) = run(&["res", "show", res.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("checksum mismatch"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_say_what_and_where() {
    let s = sim(&["--meters", "2"]);
    let url = format!("tcp://127.0.0.1:{}", s.port);
    let (ok, _, err) = run(&[
        "read",
        &url,
        "--address",
        "10000001",
        "--password",
        "WRONGPW1",
    ]);
    assert!(!ok);
    assert!(
        err.contains("address \"10000001\"") && err.contains("refused the password"),
        "{err}"
    );
    let (ok, _, err) = run(&[
        "read",
        &url,
        "--address",
        "10000077",
        "--timeout",
        "0.3",
        "--attempts",
        "1",
    ]);
    assert!(!ok);
    assert!(err.contains("did not answer sign-on"), "{err}");
    let (ok, _, err) = run(&["read", "tcp://127.0.0.1", "--address", "1"]);
    assert!(!ok);
    assert!(err.contains("no port"), "{err}");
    let (ok, _, err) = run(&[
        "read",
        "tcp://127.0.0.1:1",
        "--address",
        "1",
        "--attempts",
        "1",
    ]);
    assert!(!ok);
    assert!(err.contains("connecting to tcp://127.0.0.1:1"), "{err}");
    let (ok, _, err) = run(&["sim", "--listen", "127.0.0.1:0", "--faults", "melt=1"]);
    assert!(!ok);
    assert!(err.contains("unknown fault"), "{err}");
}

/// The Python `iec62056-21` client (PyPI) performs a data readout of our simulator; what it
/// reads must equal what our own readout client reads.
#[test]
fn python_iec62056_21_peer_reads_the_simulator() {
    let Some(py) = peer_python("iec62056_21") else {
        return;
    };
    let s = sim(&["--meters", "2"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/peer_readout.py");
    let out = Command::new(&py)
        .args([script, "127.0.0.1", &s.port.to_string(), "10000002"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(peer["manufacturer"], "GEC");
    let (ok, ours, err) = run(&[
        "read",
        &format!("tcp://127.0.0.1:{}", s.port),
        "--address",
        "10000002",
        "--readout",
        "--json",
    ]);
    assert!(ok, "{err}");
    let ours: serde_json::Value = serde_json::from_str(&ours).unwrap();
    let value_of = |lines: &serde_json::Value, addr: &str| -> Option<String> {
        lines
            .as_array()?
            .iter()
            .find(|l| l["address"] == addr)
            .map(|l| {
                l.get("value")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .or_else(|| l["values"][0]["value"].as_str().map(str::to_string))
                    .unwrap_or_default()
            })
    };
    for addr in [
        "0.0.0", "1.8.0", "1.8.1", "1.8.2", "2.8.0", "5.8.0", "8.8.0", "1.6.0",
    ] {
        let theirs = value_of(&peer["data"], addr);
        assert!(theirs.is_some(), "peer lacks {addr}");
        assert_eq!(theirs, value_of(&ours["lines"], addr), "line {addr}");
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A reading goes to a .RES file, into the store, out as CSV, into a second store and out
/// again: the two CSV files are the same bytes. Importing a file twice changes nothing.
#[test]
fn import_export_round_trip() {
    let dir = temp_dir("files");
    let s = sim(&["--meters", "2"]);
    let url = format!("tcp://127.0.0.1:{}", s.port);
    let res = dir.join("r.res");
    let (ok, _, err) = run(&[
        "read",
        &url,
        "--address",
        "10000002",
        "--days",
        "3",
        "--out",
        res.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let db1 = format!("sqlite:{}", dir.join("one.db").display());
    let (ok, out, err) = run(&["import", res.to_str().unwrap(), "--database", &db1]);
    assert!(ok, "{err}");
    assert!(out.contains(": imported (1 new readings"), "{out}");
    let (ok, out, _) = run(&["import", res.to_str().unwrap(), "--database", &db1]);
    assert!(ok);
    assert!(out.contains("already imported"), "{out}");
    let csv1 = dir.join("one.csv");
    let (ok, _, err) = run(&[
        "export",
        "--format",
        "csv",
        "--database",
        &db1,
        "--out",
        csv1.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&csv1).unwrap();
    assert!(
        text.starts_with("meter,channel,start,end,value,unit,quality\n10000002,1-0:1.5.0*255,"),
        "{}",
        &text[..200]
    );
    let db2 = format!("sqlite:{}", dir.join("two.db").display());
    let (ok, _, err) = run(&["import", csv1.to_str().unwrap(), "--database", &db2]);
    assert!(ok, "{err}");
    let csv2 = dir.join("two.csv");
    let (ok, _, err) = run(&[
        "export",
        "--format",
        "csv",
        "--database",
        &db2,
        "--out",
        csv2.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&csv2).unwrap(), text);
    // The reading itself comes back out of the store as the same .RES block.
    let res2 = dir.join("back.res");
    let (ok, _, err) = run(&[
        "export",
        "--format",
        "res",
        "--database",
        &db1,
        "--out",
        res2.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read_to_string(&res2).unwrap(),
        std::fs::read_to_string(&res).unwrap()
    );
    // A broken file is refused with its line, and stores nothing.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "meter,channel,start,end,value,unit,quality\nM,1.8.0,2024-03-05T00:00:00Z,2024-03-05T00:30:00Z,x,Wh,measured\n").unwrap();
    let (ok, _, err) = run(&["import", bad.to_str().unwrap(), "--database", &db2]);
    assert!(!ok);
    assert!(
        err.contains("line 2: value \"x\" is not a decimal number"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watch_moves_files_to_processed_and_quarantine() {
    let dir = temp_dir("watch");
    let inbox = dir.join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join("good.csv"),
        "meter,channel,start,end,value,unit,quality\nM1,1.29.0,2024-03-05T00:00:00Z,2024-03-05T00:30:00Z,1.5,kWh,measured\n",
    )
    .unwrap();
    std::fs::write(inbox.join("bad.res"), "METERMASTER-RES 1\nMETER\tX\n").unwrap();
    let db = format!("sqlite:{}", dir.join("w.db").display());
    let (ok, out, err) = run(&[
        "watch",
        "--folder",
        inbox.to_str().unwrap(),
        "--once",
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("good.csv: imported"), "{out}");
    assert!(inbox.join("processed/good.csv").exists());
    assert!(inbox.join("quarantine/bad.res").exists());
    let report = std::fs::read_to_string(inbox.join("quarantine/bad.res.report.txt")).unwrap();
    assert!(
        report.contains("no END line (the file is truncated)"),
        "{report}"
    );
    // The same content arriving again is recognised by the ledger and not stored twice.
    std::fs::copy(inbox.join("processed/good.csv"), inbox.join("again.csv")).unwrap();
    let (ok, out, _) = run(&[
        "watch",
        "--folder",
        inbox.to_str().unwrap(),
        "--once",
        "--database",
        &db,
    ]);
    assert!(ok);
    assert!(out.contains("again.csv: already imported"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `list WHAT --json` says of a store, as a JSON array.
fn listed(what: &str, db: &str) -> Vec<serde_json::Value> {
    let (ok, out, err) = run(&["list", what, "--json", "--database", db]);
    assert!(ok, "list {what}: {err}");
    match serde_json::from_str(&out).unwrap() {
        serde_json::Value::Array(a) => a,
        other => panic!("list {what} printed {other}"),
    }
}

/// Interval CSV text for one meter: `days` of 15-minute values from 2024-01-01.
fn meter_csv(meter: &str, days: i64, seed: i64) -> String {
    let mut s = String::from("meter,channel,start,end,value,unit,quality\n");
    let t0 = chrono_like_epoch(2024, 1, 1);
    for k in 0..days * 96 {
        let a = t0 + k * 900;
        s.push_str(&format!(
            "{meter},1-0:1.29.0*255,{},{},{},Wh,measured\n",
            rfc3339(a),
            rfc3339(a + 900),
            (k * 7919 + seed * 104_729) % 5000
        ));
    }
    s
}

/// Seconds since the epoch of a UTC midnight (days from civil, proleptic Gregorian).
fn chrono_like_epoch(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400
}

fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The ledger paths and, per meter, the exported CSV lines of a store.
fn store_state(db: &str) -> (Vec<String>, std::collections::BTreeMap<String, Vec<String>>) {
    let mut paths: Vec<String> = listed("files", db)
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    let (ok, out, err) = run(&["export", "--format", "csv", "--database", db]);
    assert!(ok, "{err}");
    let mut per_meter: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in out.lines().skip(1) {
        let meter = line.split(',').next().unwrap().to_string();
        per_meter.entry(meter).or_default().push(line.to_string());
    }
    (paths, per_meter)
}

/// A process killed with SIGKILL in the middle of an import loses nothing that was committed
/// (a file in the ledger has all its data), stores no file half (a file not in the ledger has
/// none), and a restart completes the import without duplicating anything.
#[test]
fn sigkill_during_import_loses_and_duplicates_nothing() {
    let dir = temp_dir("crash");
    let src = dir.join("in");
    std::fs::create_dir_all(&src).unwrap();
    // One large file (6 meters, a year: one big transaction) and 30 small ones, one meter each.
    let mut expected: std::collections::BTreeMap<String, (String, Vec<String>)> =
        Default::default();
    let mut files = Vec::new();
    let mut big = String::new();
    for m in 0..6 {
        let text = meter_csv(&format!("B{m}"), 366, m);
        let lines: Vec<String> = text.lines().skip(1).map(str::to_string).collect();
        if big.is_empty() {
            big.push_str(&text);
        } else {
            big.push_str(text.split_once('\n').unwrap().1);
        }
        expected.insert(format!("B{m}"), ("big.csv".into(), lines));
    }
    let p = src.join("big.csv");
    std::fs::write(&p, &big).unwrap();
    files.push(p);
    for k in 0..30 {
        let meter = format!("S{k:02}");
        let text = meter_csv(&meter, 31, 100 + k);
        let name = format!("s{k:02}.csv");
        let p = src.join(&name);
        std::fs::write(&p, &text).unwrap();
        files.push(p);
        expected.insert(
            meter,
            (name, text.lines().skip(1).map(str::to_string).collect()),
        );
    }
    let file_args: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let pg_schema = format!("mm_crash_{}", std::process::id());
    let stores = [
        ("sqlite", format!("sqlite:{}", dir.join("x.db").display())),
        (
            "postgres",
            format!("postgres://postgres@127.0.0.1:5432/test?schema={pg_schema}"),
        ),
    ];
    for (kind, db) in &stores {
        let reset = || {
            if *kind == "sqlite" {
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(dir.join(format!("x.db{ext}")));
                }
            } else {
                let _ = Command::new("psql")
                    .args([
                        "postgres://postgres@127.0.0.1:5432/test",
                        "-q",
                        "-c",
                        &format!("DROP SCHEMA IF EXISTS {pg_schema} CASCADE"),
                    ])
                    .output();
            }
        };
        let import = |db: &str| {
            let mut c = Command::new(BIN);
            c.arg("import")
                .args(&file_args)
                .args(["--database", db, "--group-files", "2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            c
        };
        // How long an uninterrupted import takes here.
        reset();
        let t = std::time::Instant::now();
        assert!(import(db).status().unwrap().success());
        let full = t.elapsed();
        let check = |landed: &mut u32| {
            let (paths, per_meter) = store_state(db);
            let in_ledger: std::collections::BTreeSet<String> = paths
                .iter()
                .map(|p| p.rsplit('/').next().unwrap().to_string())
                .collect();
            assert_eq!(
                in_ledger.len(),
                paths.len(),
                "{kind}: a file twice in the ledger"
            );
            for (meter, (file, lines)) in &expected {
                let got = per_meter.get(meter).cloned().unwrap_or_default();
                if in_ledger.contains(file) {
                    assert_eq!(
                        &got, lines,
                        "{kind}: {file} is in the ledger but {meter} is not whole"
                    );
                } else {
                    assert!(
                        got.is_empty(),
                        "{kind}: {file} is not in the ledger but {meter} has {} rows",
                        got.len()
                    );
                }
            }
            if !in_ledger.is_empty() && in_ledger.len() < files.len() {
                *landed += 1;
            }
            in_ledger.len()
        };
        let mut landed = 0;
        let finish = |landed: &mut u32| {
            let n = check(landed);
            // A restart finishes the job; nothing is duplicated.
            assert!(import(db).status().unwrap().success());
            let (paths, per_meter) = store_state(db);
            assert_eq!(paths.len(), files.len(), "{kind}");
            for (meter, (_, lines)) in &expected {
                assert_eq!(per_meter.get(meter), Some(lines), "{kind}: {meter}");
            }
            n
        };
        // Killed at fixed points of the run (parsing, inside the first large transaction, ...).
        for frac in [0.3, 0.6, 0.8] {
            reset();
            let mut child = import(db).spawn().unwrap();
            std::thread::sleep(full.mul_f64(frac));
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            let n = finish(&mut landed);
            eprintln!("{kind}: killed at {frac} of {full:?}: {n} files had committed");
        }
        // Killed as soon as some files are seen committed, so that the kill surely falls
        // between commits of one run.
        for attempt in 0..6 {
            reset();
            let mut child = import(db).spawn().unwrap();
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                let (ok, out, _) = run(&["list", "files", "--json", "--database", db]);
                let n = if ok {
                    serde_json::from_str::<serde_json::Value>(&out)
                        .ok()
                        .and_then(|v| v.as_array().map(Vec::len))
                        .unwrap_or(0)
                } else {
                    0
                };
                if n > 0 {
                    let _ = child.kill(); // SIGKILL
                    break;
                }
            }
            let _ = child.wait();
            let n = finish(&mut landed);
            eprintln!(
                "{kind}: killed after seeing progress (attempt {attempt}): {n} files had committed"
            );
            if landed >= 2 {
                break;
            }
        }
        assert!(
            landed > 0,
            "{kind}: no kill landed between two commits (full import {full:?})"
        );
        reset();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Normalises an exact decimal text: no trailing zeros after the point, no lone point.
fn norm_decimal(s: &str) -> String {
    let s = s.trim();
    if !s.contains('.') {
        return s.trim_start_matches('+').to_string();
    }
    let t = s.trim_end_matches('0').trim_end_matches('.');
    if t.is_empty() || t == "-" {
        "0".into()
    } else {
        t.to_string()
    }
}

/// The NEM12 suffix of one of our channel codes (`1-1:1.29.0*255` is E1).
fn suffix_of(obis: &str) -> String {
    let (_, rest) = obis.split_once('-').unwrap();
    let (b, rest) = rest.split_once(':').unwrap();
    let c: u32 = rest.split('.').next().unwrap().parse().unwrap();
    let letter = match c {
        1 => 'E',
        2 => 'B',
        5 => 'Q',
        8 => 'K',
        c => char::from(b'A' + (c - 128) as u8),
    };
    let b: u32 = b.parse().unwrap();
    let digit = if b < 10 {
        char::from(b'0' + b as u8)
    } else {
        char::from(b'A' + (b - 10) as u8)
    };
    format!("{letter}{digit}")
}

/// Every NEM12 sample in ../shared/data/nem12 read by us (`inspect`) and by an independent
/// reader (`nemreader` from PyPI): the same series, interval counts, exact totals and quality
/// methods.
#[test]
fn nem12_totals_agree_with_nemreader() {
    let Some(py) = peer_python("nemreader") else {
        return;
    };
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/nem12");
    if !std::path::Path::new(data).exists() {
        eprintln!("SKIPPED: needs {data}");
        return;
    }
    let mut files: Vec<String> = Vec::new();
    for sub in ["unzipped", "extracted/nem12", "extracted"] {
        for e in std::fs::read_dir(format!("{data}/{sub}")).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_lowercase();
            if p.is_file() && !name.contains("nem13") {
                files.push(p.display().to_string());
            }
        }
    }
    files.sort();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/nem12_totals.py");
    let out = Command::new(&py).arg(script).args(&files).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut args = vec!["inspect", "--json"];
    args.extend(files.iter().map(String::as_str));
    let (_, ours, _) = run(&args);
    let ours: serde_json::Value = serde_json::from_str(&ours).unwrap();
    let mut compared = 0;
    let mut series_compared = 0;
    for f in ours.as_array().unwrap() {
        let file = f["file"].as_str().unwrap();
        let t = &theirs[file];
        let name = file.rsplit('/').next().unwrap();
        match (f.get("error"), t.get("error")) {
            (None, None) => {}
            (Some(e), None) => {
                // The one sample upstream's own tests skip: a 300 record broken by a newline.
                assert!(
                    name.contains("Scenario10#ETSAMDP"),
                    "{name}: we refuse ({e}), nemreader reads it"
                );
                eprintln!("{name}: refused by us ({e}); nemreader reads it leniently");
                continue;
            }
            (None, Some(e)) => panic!("{name}: nemreader fails ({e}), we read it"),
            (Some(_), Some(_)) => continue,
        }
        let mut mine: std::collections::BTreeMap<String, (u64, String, serde_json::Value)> =
            Default::default();
        for s in f["series"].as_array().unwrap() {
            let key = format!(
                "{}/{}",
                s["meter"].as_str().unwrap(),
                suffix_of(s["channel"].as_str().unwrap())
            );
            mine.insert(
                key,
                (
                    s["intervals"].as_u64().unwrap(),
                    norm_decimal(s["total"].as_str().unwrap()),
                    s["methods"].clone(),
                ),
            );
        }
        let theirs_series = t["series"].as_object().unwrap();
        assert_eq!(
            mine.keys().collect::<Vec<_>>(),
            theirs_series.keys().collect::<Vec<_>>(),
            "{name}: series"
        );
        for (key, (n, total, methods)) in &mine {
            let th = &theirs_series[key];
            assert_eq!(
                *n,
                th["intervals"].as_u64().unwrap(),
                "{name} {key}: intervals"
            );
            assert_eq!(
                *total,
                norm_decimal(th["total"].as_str().unwrap()),
                "{name} {key}: total"
            );
            assert_eq!(methods, &th["methods"], "{name} {key}: quality methods");
            series_compared += 1;
        }
        compared += 1;
    }
    eprintln!("{compared} NEM12 files, {series_compared} series agree with nemreader");
    assert!(compared >= 100, "only {compared} files compared");
}

/// A NEM12 file with substituted and estimated intervals goes into the store and back out as
/// NEM12 with the same values, quality methods and reason codes.
#[test]
fn nem12_methods_and_reasons_survive_the_store() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/nem12");
    if !std::path::Path::new(data).exists() {
        eprintln!("SKIPPED: {data} is absent");
        return;
    }
    let dir = temp_dir("nem12-notes");
    for (k, name) in [
        "unzipped/Example_NEM12_multiple_quality.csv",
        "extracted/nem12/NEM12#Scenario07#ETSAMDP#NEMMCO.csv",
        "extracted/nem12/NEM12#SCENARIO9#UNITEDDP#NEMMCO.csv",
    ]
    .iter()
    .enumerate()
    {
        let src = format!("{data}/{name}");
        let db = format!("sqlite:{}", dir.join(format!("{k}.db")).display());
        let (ok, _, err) = run(&["import", &src, "--database", &db]);
        assert!(ok, "{name}: {err}");
        let back = dir.join(format!("{k}.nem12"));
        let (ok, _, err) = run(&[
            "export",
            "--format",
            "nem12",
            "--database",
            &db,
            "--out",
            back.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let summary = |p: &str| {
            let (ok, out, err) = run(&["inspect", "--json", p]);
            assert!(ok, "{err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            v[0]["series"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["meter"].as_str().unwrap().to_string(),
                        s["channel"].as_str().unwrap().to_string(),
                        norm_decimal(s["total"].as_str().unwrap()),
                        s["methods"].clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let text = std::fs::read_to_string(&back).unwrap();
        if k == 0 {
            // The source says 400,1,20,F14,76 and 400,25,48,S14,1.
            assert!(text.contains("\n400,1,20,F14,76,"), "{text}");
            assert!(text.contains("\n400,25,48,S14,1,"), "{text}");
        }
        assert_eq!(summary(&src), summary(back.to_str().unwrap()), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `read` stores what it read (its origin says where from), and writes the meter's .RES
/// output file: appended to, or replaced.
#[test]
fn read_stores_and_writes_res_output() {
    let dir = temp_dir("read-store");
    let s = sim(&["--meters", "1"]);
    let url = format!("tcp://127.0.0.1:{}", s.port);
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let res_dir = dir.join("res");
    let read = |mode: &str| {
        let (ok, _, err) = run(&[
            "read",
            &url,
            "--address",
            "10000001",
            "--only",
            "registers,profile",
            "--database",
            &db,
            "--res-folder",
            res_dir.to_str().unwrap(),
            "--res-mode",
            mode,
        ]);
        assert!(ok, "{err}");
        assert!(err.contains("stored in sqlite:"), "{err}");
    };
    let count = || {
        let (ok, out, err) = run(&[
            "res",
            "show",
            "--json",
            res_dir.join("10000001.res").to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    read("append");
    read("append");
    assert_eq!(count(), 2);
    read("overwrite");
    assert_eq!(count(), 1);
    let list = listed("readings", &db);
    assert_eq!(list.len(), 3);
    assert!(
        list[0]["origin"]
            .as_str()
            .unwrap()
            .starts_with("read tcp://127.0.0.1:"),
        "{list:?}"
    );
    // --no-store leaves the store alone.
    let (ok, _, err) = run(&[
        "read",
        &url,
        "--address",
        "10000001",
        "--only",
        "registers",
        "--database",
        &db,
        "--no-store",
    ]);
    assert!(ok, "{err}");
    assert_eq!(listed("readings", &db).len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `watch` takes its folders, their CSV mapping and its store from the configuration file.
#[test]
fn watch_from_the_configuration_file() {
    let dir = temp_dir("watch-config");
    let inbox = dir.join("retailer");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        dir.join("retailer.toml"),
        "meter = { fixed = \"M77\" }\ntime = { column = \"Time\" }\ntime_zone = \"+10:00\"\nstamp = \"end\"\n[[values]]\ncolumn = \"kWh\"\nchannel = \"1-0:1.29.0\"\nunit = \"kWh\"\n",
    )
    .unwrap();
    std::fs::write(
        inbox.join("a.csv"),
        "Time,kWh\n2024-03-05 00:30,0.25\n2024-03-05 01:00,0.5\n",
    )
    .unwrap();
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let cfg = dir.join("metermaster.toml");
    std::fs::write(
        &cfg,
        format!(
            "database = \"{db}\"\n[watch]\ninterval_s = 10\n[[watch.folders]]\npath = \"{}\"\nmapping = \"{}\"\n",
            inbox.display(),
            dir.join("retailer.toml").display()
        ),
    )
    .unwrap();
    let (ok, out, err) = run(&["watch", "--once", "--config", cfg.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("imported"), "{out}{err}");
    assert!(inbox.join("processed/a.csv").exists());
    let (ok, out, err) = run(&[
        "export",
        "--format",
        "csv",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "meter,channel,start,end,value,unit,quality\n\
         M77,1-0:1.29.0*255,2024-03-04T14:00:00Z,2024-03-04T14:30:00Z,250,Wh,measured\n\
         M77,1-0:1.29.0*255,2024-03-04T14:30:00Z,2024-03-04T15:00:00Z,500,Wh,measured\n"
    );
    // A broken configuration names what is wrong.
    std::fs::write(&cfg, "[watch]\ninterval_s = 3\n").unwrap();
    let (ok, _, err) = run(&["watch", "--once", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("at least 10 seconds"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Files imported together commit in one transaction; when one of them cannot be stored, the
/// others are still imported and only that one fails, with the reason.
#[test]
fn one_bad_file_in_a_group_fails_alone() {
    let dir = temp_dir("group");
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let head = "meter,channel,start,end,value,unit,quality\n";
    let a = dir.join("a.csv");
    std::fs::write(
        &a,
        format!(
            "{head}M1,1-0:1.29.0*255,2024-03-05T00:00:00Z,2024-03-05T00:15:00Z,5,Wh,measured\n"
        ),
    )
    .unwrap();
    let (ok, _, err) = run(&["import", a.to_str().unwrap(), "--database", &db]);
    assert!(ok, "{err}");
    let b = dir.join("b.csv");
    std::fs::write(
        &b,
        format!(
            "{head}M2,1-0:1.29.0*255,2024-03-05T00:00:00Z,2024-03-05T00:15:00Z,7,Wh,measured\n"
        ),
    )
    .unwrap();
    // The same day of M1's channel in another unit: parses, but cannot be merged.
    let c = dir.join("c.csv");
    std::fs::write(
        &c,
        format!("{head}M1,1-0:1.29.0*255,2024-03-05T00:15:00Z,2024-03-05T00:30:00Z,5,W,measured\n"),
    )
    .unwrap();
    let (ok, out, err) = run(&[
        "import",
        b.to_str().unwrap(),
        c.to_str().unwrap(),
        "--database",
        &db,
        "--json",
    ]);
    assert!(!ok);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r[0]["outcome"], "imported", "{out}");
    assert_eq!(r[0]["intervals_changed"], 1);
    assert_eq!(r[1]["outcome"], "failed", "{out}");
    assert!(
        r[1]["error"]
            .as_str()
            .unwrap()
            .contains("meter M1 channel 1-0:1.29.0*255"),
        "{out}"
    );
    assert!(err.contains("1 of 2 files could not be imported"), "{err}");
    assert_eq!(listed("files", &db).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Users (Argon2id hashes, never the password) and the meter tree, as a user manages them.
#[test]
fn users_and_groups() {
    let dir = temp_dir("users");
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let with_stdin = |args: &[&str], input: &str| {
        use std::io::Write;
        let mut c = Command::new(BIN)
            .args(args)
            .args(["--database", &db])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = c.stdin.take().unwrap().write_all(input.as_bytes());
        let out = c.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(
        with_stdin(
            &["user", "add", "alice", "--role", "engineer"],
            "s3cret-pw\n"
        )
        .0
    );
    let (ok, err) = with_stdin(&["user", "add", "alice"], "s3cret-pw\n");
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, err) = with_stdin(&["user", "add", "bob"], "short\n");
    assert!(!ok && err.contains("at least 8"), "{err}");
    assert!(with_stdin(&["user", "check", "alice"], "s3cret-pw\n").0);
    let (ok, err) = with_stdin(&["user", "check", "alice"], "guess\n");
    assert!(!ok && err.contains("wrong password for alice"), "{err}");
    assert!(with_stdin(&["user", "passwd", "alice"], "another-pw\n").0);
    assert!(with_stdin(&["user", "check", "alice"], "another-pw\n").0);
    let (ok, out, err) = run(&["user", "list", "--json", "--database", &db]);
    assert!(ok, "{err}");
    assert!(
        out.contains("\"role\": \"engineer\"") && !out.contains("argon2"),
        "{out}"
    );
    // The tree: meters come from a file, then go into groups.
    let csv = dir.join("m.csv");
    std::fs::write(&csv, "meter,channel,start,end,value,unit,quality\nM1,1.29.0,2024-03-05T00:00:00Z,2024-03-05T00:15:00Z,1,Wh,measured\n").unwrap();
    assert!(run(&["import", csv.to_str().unwrap(), "--database", &db]).0);
    let (ok, _, err) = run(&["group", "assign", "North/Sub 4", "M1", "--database", &db]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["group", "assign", "North", "M9", "--database", &db]);
    assert!(!ok && err.contains("no meter M9"), "{err}");
    let (ok, out, _) = run(&["group", "list", "--database", &db]);
    assert!(ok);
    assert_eq!(out, "North/\n  Sub 4/\n    M1\n");
    let (_, out, _) = run(&["list", "meters", "--json", "--database", &db]);
    assert!(out.contains("\"group\": \"North/Sub 4\""), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `time`: a drift within the trim limit is trimmed at level 1 and is not programming; a large
/// one is refused by `--adjust`, and `--set` (level 2) corrects it and is recorded as
/// programming under the user's name; every attempt is in the audit log.
#[test]
fn time_trims_and_sets_the_clock() {
    let dir = temp_dir("time");
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let prog_count = |port: u16| {
        let (ok, out, err) = run(&[
            "read",
            &format!("tcp://127.0.0.1:{port}"),
            "--address",
            "10000001",
            "--only",
            "programming",
            "--json",
            "--no-store",
        ]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        (
            v["programming"]["count"].as_u64().unwrap(),
            v["programming"]["records"][0]["user"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    };
    let time = |port: u16, extra: &[&str]| {
        let url = format!("tcp://127.0.0.1:{port}");
        let mut args = vec![
            "time",
            url.as_str(),
            "--address",
            "10000001",
            "--json",
            "--database",
            &db,
            "--user",
            "alice",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    // A simulated meter started at our time is off by its own seeded drift (within ±10 s):
    // trimmed with the level 1 password.
    let start = chrono::Utc::now().to_rfc3339();
    let s = sim_with(&["--listen", "127.0.0.1:0", "--start", &start]);
    let (count0, _) = prog_count(s.port);
    let (ok, out, err) = time(s.port, &[]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = v["drift_before_s"].as_f64().unwrap();
    assert!((1.0..12.0).contains(&d.abs()), "{v}");
    let (ok, out, err) = time(s.port, &["--adjust"]);
    assert!(!ok && err.contains("level 1"), "without a password: {err}");
    let (ok, out2, err) = time(s.port, &["--adjust", "--password", "0001ABCD"]);
    assert!(ok, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out2).unwrap();
    assert_eq!(v["action"], "trim");
    assert!(v["drift_after_s"].as_f64().unwrap().abs() < 1.6, "{v}");
    assert_eq!(prog_count(s.port).0, count0, "a trim is not programming");
    drop(s);
    // Years off (the usual test sim): --adjust refuses, --set corrects and counts.
    let s = sim(&[]);
    let (ok, _, err) = time(s.port, &["--adjust", "--password", "0001ABCD"]);
    assert!(!ok && err.contains("beyond its 30 s trim limit"), "{err}");
    let (ok, _, err) = time(s.port, &["--set", "--password", "0001ABCD"]);
    assert!(!ok && err.contains("level 2"), "{err}");
    let (count1, _) = prog_count(s.port);
    let (ok, out, err) = time(s.port, &["--set", "--password", "ABCD0002"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["drift_after_s"].as_f64().unwrap().abs() < 1.6, "{v}");
    let (count2, user) = prog_count(s.port);
    assert_eq!(count2, count1 + 1);
    assert_eq!(user, "alice");
    // The meter's own log, as `audit` shows it.
    let (ok, out, err) = run(&[
        "audit",
        &format!("tcp://127.0.0.1:{}", s.port),
        "--address",
        "10000001",
        "--json",
    ]);
    assert!(ok, "{err}");
    let a: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["count"].as_u64(), Some(count2));
    assert_eq!(a["records"][0]["user"], "alice");
    assert!(a["records"][0]["time"].is_string(), "{a}");
    assert_eq!(a["records"][0]["scheme"], a["scheme"]);
    assert!(a["scheme"].is_string(), "{a}");
    let log = listed("audit", &db);
    let actions: Vec<(String, bool)> = log
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"] == "ok",
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("time trim".to_string(), false),
            ("time trim".to_string(), true),
            ("time trim".to_string(), false),
            ("time set".to_string(), false),
            ("time set".to_string(), true),
        ]
    );
    assert!(
        log[4]["user"] == "alice" && log[4]["meter"] == "10000001",
        "{log:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Schemes as an engineer handles them: validated (every violation with file, line and path),
/// kept in the store's tree as versions with author and message, compared in domain words,
/// exported back.
#[test]
fn schemes_validate_version_diff_and_export() {
    let dir = temp_dir("schemes");
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/schemes");
    let files: Vec<String> = ["economy7", "three-rate", "max-demand", "config-ct-site"]
        .iter()
        .map(|n| format!("{examples}/{n}.toml"))
        .collect();
    let mut args = vec![
        "scheme",
        "validate",
        "--meter-type",
        "a1140",
        "--today",
        "2026-01-01",
    ];
    args.extend(files.iter().map(String::as_str));
    let (ok, out, err) = run(&args);
    assert!(ok, "{out}{err}");
    assert!(out.contains("4 file(s) valid for the"), "{out}");
    // A switch inside the clock-change hour, and too many switches for the A1140.
    let e7 = std::fs::read_to_string(&files[0]).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, e7.replace("\"00:30\"", "\"01:30\"")).unwrap();
    let (ok, out, _) = run(&[
        "scheme",
        "validate",
        bad.to_str().unwrap(),
        "--today",
        "2026-01-01",
    ]);
    assert!(!ok);
    assert!(
        out.contains(": error: day_profiles[0].switches[1].at: 01:30 does not exist on 2026-03-29"),
        "{out}"
    );
    // Into the store: the examples folder as a tree folder, then a change as version 2.
    let (ok, out, err) = run(&[
        "scheme",
        "import",
        examples,
        "--folder",
        "Examples",
        "--author",
        "alice",
        "-m",
        "first",
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("E7-2026: scheme version 1 (new version)"),
        "{out}"
    );
    let moved = dir.join("e7.toml");
    std::fs::write(&moved, e7.replace("\"07:30\"", "\"08:00\"")).unwrap();
    let (ok, out, err) = run(&[
        "scheme",
        "import",
        moved.to_str().unwrap(),
        "--folder",
        "Examples",
        "--author",
        "bob",
        "-m",
        "night ends at 08:00",
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("E7-2026: scheme version 2 (new version)"),
        "{out}"
    );
    let (ok, out, _) = run(&[
        "scheme",
        "import",
        moved.to_str().unwrap(),
        "--folder",
        "Examples",
        "-m",
        "again",
        "--database",
        &db,
    ]);
    assert!(ok && out.contains("version 2 (unchanged)"), "{out}");
    let (ok, out, err) = run(&["scheme", "log", "E7-2026", "--json", "--database", &db]);
    assert!(ok, "{err}");
    let log: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(log[1]["author"], "bob");
    assert_eq!(log[1]["message"], "night ends at 08:00");
    let (ok, out, err) = run(&[
        "scheme",
        "diff",
        "E7-2026@1",
        "E7-2026@2",
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("07:30") && out.contains("08:00") && !out.contains('{'),
        "{out}"
    );
    let (ok, out, _) = run(&["scheme", "tree", "--database", &db]);
    assert!(ok && out.starts_with("Examples/\n"), "{out}");
    let exp = dir.join("export");
    let (ok, _, err) = run(&[
        "scheme",
        "export",
        "--out",
        exp.to_str().unwrap(),
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read_to_string(exp.join("Examples/E7-2026.toml")).unwrap(),
        std::fs::read_to_string(&moved).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TCP relay to `port` that drops its first connection the moment the client sends
/// `cut_at` (the bytes are not passed on); later connections pass untouched.
fn cutting_relay(port: u16, cut_at: &'static [u8]) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, client) in l.incoming().enumerate() {
            let Ok(mut client) = client else { return };
            let Ok(mut meter) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return;
            };
            let (mut c2, mut m2) = (client.try_clone().unwrap(), meter.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(k) = m2.read(&mut buf) {
                    if k == 0 || c2.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
                let _ = c2.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let mut seen: Vec<u8> = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(k) = client.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    seen.extend_from_slice(&buf[..k]);
                    if n == 0 && seen.windows(cut_at.len()).any(|w| w == cut_at) {
                        break;
                    }
                    if meter.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
                let _ = meter.shutdown(std::net::Shutdown::Both);
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    relay_port
}

#[test]
fn program_verify_audit_and_interrupted_session() {
    let dir = temp_dir("program");
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let e7 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/schemes/economy7.toml"
    );
    let three = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/schemes/three-rate.toml"
    );
    let s = sim(&["--meters", "1"]);
    let url = format!("tcp://127.0.0.1:{}", s.port);
    let program = |url: &str, scheme: &str, password: &str, extra: &[&str]| {
        let mut args = vec![
            "program",
            url,
            "--address",
            "10000001",
            "--scheme",
            scheme,
            "--user",
            "alice",
            "--password",
            password,
            "--database",
            &db,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let audit = |url: &str| {
        let (ok, out, err) = run(&["audit", url, "--address", "10000001", "--json"]);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let a0 = audit(&url);
    let count0 = a0["count"].as_u64().unwrap();

    // Store the scheme so the meter records its id and version.
    let (ok, _, err) = run(&[
        "scheme",
        "import",
        e7,
        "--database",
        &db,
        "--author",
        "alice",
        "--message",
        "E7",
    ]);
    assert!(ok, "{err}");

    // A dry run writes nothing and shows the writes.
    let (ok, out, err) = program(&url, "E7-2026", "FEDC0003", &["--dry-run"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("nothing written") && out.contains("W1 940001("),
        "{out}"
    );
    assert_eq!(audit(&url)["count"].as_u64().unwrap(), count0);

    // The level 2 password may not program: refused, logged, nothing changed.
    let (ok, _, err) = program(&url, "E7-2026", "ABCD0002", &[]);
    assert!(!ok);
    assert!(err.contains("level 3"), "{err}");
    assert_eq!(audit(&url)["count"].as_u64().unwrap(), count0);

    // Programmed, verified, counted, with user and scheme version in the meter's log.
    let (ok, out, err) = program(&url, "E7-2026", "FEDC0003", &["--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["scheme"], "E7-2026@1");
    assert_eq!(v["verified"], true);
    assert_eq!(v["counter_after"].as_u64().unwrap(), count0 + 1);
    let a1 = audit(&url);
    assert_eq!(a1["count"].as_u64().unwrap(), count0 + 1);
    assert_eq!(a1["records"][0]["user"], "alice");
    assert_eq!(a1["records"][0]["scheme"], "E7-2026@1");
    assert_eq!(a1["scheme"], "E7-2026");

    // The line drops in the middle of staging the next program: reported as interrupted, the
    // meter keeps E7 and its counter.
    let relay = cutting_relay(s.port, b"940002(");
    let rurl = format!("tcp://127.0.0.1:{relay}");
    let (ok, _, err) = program(&rurl, three, "FEDC0003", &["--retries", "0"]);
    assert!(!ok);
    assert!(
        err.contains("interrupted") && err.contains("previous program"),
        "{err}"
    );
    let a2 = audit(&url);
    assert_eq!(a2["count"].as_u64().unwrap(), count0 + 1);
    assert_eq!(a2["scheme"], "E7-2026");
    // The retry (the relay passes later connections) finds the mark, programs, verifies.
    let (ok, out, err) = program(&rurl, three, "FEDC0003", &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("was not committed") && out.contains("NSW-TOU-2026"),
        "{out}"
    );
    let a3 = audit(&url);
    assert_eq!(a3["count"].as_u64().unwrap(), count0 + 2);
    assert_eq!(a3["records"][0]["scheme"], "NSW-TOU-2026");
    assert_eq!(a3["records"][1]["scheme"], "E7-2026@1");

    // With retries, a dropped line is retried on a new connection by itself.
    let relay = cutting_relay(s.port, b"940001(");
    let (ok, out, err) = program(
        &format!("tcp://127.0.0.1:{relay}"),
        "E7-2026",
        "FEDC0003",
        &["--json"],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["attempts"], 2);
    assert_eq!(v["counter_after"].as_u64().unwrap(), count0 + 3);

    // Every attempt is in the store's audit log with its outcome and the counters.
    let log = listed("audit", &db);
    let outcomes: Vec<&str> = log
        .iter()
        .filter(|e| e["action"] == "program")
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 5, "{log:?}");
    assert!(
        log.iter()
            .filter(|e| e["action"] == "program")
            .all(|e| e["meter"] == "10000001"),
        "{log:?}"
    );
    assert!(
        outcomes.iter().any(|o| o.starts_with("interrupted")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().any(|o| o.contains("level 3")),
        "{outcomes:?}"
    );
    assert!(
        log.iter()
            .any(|e| e["detail"].as_str().unwrap_or("").contains(&format!(
                "counter {} → {}",
                count0,
                count0 + 1
            ))),
        "{log:?}"
    );

    // Compilation golden tests: the exact program per meter type.
    for (mt, golden) in [
        ("a1140", "economy7.a1140.txt"),
        ("a1700", "economy7.a1700.txt"),
        ("dlms", "three-rate.dlms.txt"),
    ] {
        let scheme = if mt == "dlms" { three } else { e7 };
        // A store of its own, where the scheme is not stored: the label is the bare id.
        let gdb = format!("sqlite:{}", dir.join("golden.db").display());
        let (ok, out, err) = run(&[
            "scheme",
            "compile",
            scheme,
            "--meter-type",
            mt,
            "--activate",
            "2027-01-01T00:00:00Z",
            "--database",
            &gdb,
        ]);
        assert!(ok, "{err}");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(golden);
        if std::env::var_os("METERMASTER_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &out).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} (METERMASTER_BLESS=1 writes it)", path.display()));
        assert_eq!(out, want, "{golden}");
    }
    // A scheme a meter cannot hold is refused with the reason.
    let (ok, _, err) = run(&[
        "scheme",
        "compile",
        three,
        "--meter-type",
        "a1140",
        "--activate",
        "nonsense",
    ]);
    assert!(!ok && err.contains("RFC 3339"), "{err}");
}
