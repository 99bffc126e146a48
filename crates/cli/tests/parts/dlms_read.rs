//! `metermaster read --protocol dlms` as a user runs it: against an independent DLMS server
//! (`scripts/gurux_server.py`, built with gurux-dlms from PyPI), and against our simulated
//! meter over the wrapper and HDLC with each of its three clients, where it must read what the
//! FLAG reader reads from a FLAG simulator with the same start. Faults (wrong password, wrong
//! key, a corrupted HDLC frame, a connection cut in a block transfer) give a clear error or a
//! retry, never a panic or a wrong value.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{Sim, listed, peer_python, run, sim, sim_with, spawn_first_line, temp_dir};

const START: &str = "2024-03-05T14:00:00Z";

/// `sim --protocol dlms` with a frozen clock; the port of meter 10000001.
fn dlms_meter(extra: &[&str]) -> Sim {
    let mut args = vec!["--protocol", "dlms", "--listen", "127.0.0.1:0"];
    args.extend(["--speed", "0", "--start", START]);
    args.extend_from_slice(extra);
    sim_with(&args)
}

/// The Green Book keys of the simulated meters (docs/reading.md, "The keys file"), or with a
/// wrong authentication key.
fn keys_file(dir: &std::path::Path, wrong: bool) -> String {
    let ak = if wrong {
        "00112233445566778899AABBCCDDEEFF"
    } else {
        "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
    };
    let path = dir.join(if wrong { "wrong.toml" } else { "keys.toml" });
    std::fs::write(
        &path,
        format!(
            "block_cipher_key   = \"000102030405060708090A0B0C0D0E0F\"\n\
             authentication_key = \"{ak}\"\n\
             system_title       = \"4D4D4D0000000001\"\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// `read --protocol dlms URL ARGS --json --no-store --days 1`: the parsed JSON.
fn dlms_read(port: u16, args: &[&str]) -> Value {
    let url = format!("tcp://127.0.0.1:{port}");
    let mut all = vec!["read", &url, "--protocol", "dlms"];
    all.extend(args);
    all.extend(["--json", "--no-store", "--days", "1"]);
    let (ok, out, err) = run(&all);
    assert!(ok, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// A read that must fail: its stderr, checked for a panic.
fn dlms_read_fails(port: u16, args: &[&str]) -> String {
    let url = format!("tcp://127.0.0.1:{port}");
    let mut all = vec!["read", &url, "--protocol", "dlms"];
    all.extend(args);
    all.extend(["--no-store", "--timeout", "1"]);
    let (ok, out, err) = run(&all);
    assert!(!ok, "{args:?} succeeded: {out}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        out.trim().is_empty(),
        "{args:?}: no values on failure: {out}"
    );
    err
}

/// The energy registers (D = 8) of a reading: OBIS → (raw, scale, unit). FLAG's counters
/// (C ≥ 128) have no DLMS counterpart and are left out.
fn energy(reading: &Value) -> Vec<(String, Value, Value, Value)> {
    let mut v: Vec<_> = reading["registers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let o = r["obis"].as_str().unwrap();
            let c: u32 = o[4..].split('.').next().unwrap().parse().unwrap();
            o.split('.').nth(1) == Some("8") && c < 128
        })
        .map(|r| {
            (
                r["obis"].as_str().unwrap().to_string(),
                r["value"]["raw"].clone(),
                r["value"]["scale"].clone(),
                r["value"]["unit"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// What the FLAG reader reads from meter 10000001 of a FLAG simulator with the same start.
fn flag_reading() -> Value {
    let s = sim(&[]);
    let (ok, out, err) = run(&[
        "read",
        &format!("tcp://127.0.0.1:{}", s.port),
        "--address",
        "10000001",
        "--days",
        "1",
        "--json",
        "--no-store",
    ]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn assert_same_meter(dlms: &Value, flag: &Value, what: &str) {
    assert_eq!(dlms["protocol"], "dlms", "{what}");
    assert_eq!(dlms["meter"]["serial"], "10000001", "{what}");
    assert_eq!(
        dlms["clock"]["meter_local"], flag["clock"]["meter_local"],
        "{what}: clock"
    );
    let (ours, theirs) = (energy(dlms), energy(flag));
    assert!(ours.len() >= 10, "{what}: {ours:?}");
    assert_eq!(ours, theirs, "{what}: energy registers");
    let ivs = dlms["load_profile"]["intervals"].as_array().unwrap();
    assert!(ivs.len() > 40, "{what}: {} intervals", ivs.len());
    assert_eq!(
        dlms["load_profile"]["intervals"], flag["load_profile"]["intervals"],
        "{what}: load profile"
    );
}

/// Every client over both transports reads the same meter as the FLAG reader.
#[test]
fn dlms_read_matches_the_flag_reading() {
    let flag = flag_reading();
    let dir = temp_dir("dlms-read-keys");
    let keys = keys_file(&dir, false);
    let wrapper = dlms_meter(&[]);
    let hdlc = dlms_meter(&["--transport", "hdlc"]);
    for (s, transport) in [(&wrapper, "wrapper"), (&hdlc, "hdlc")] {
        let clients: [&[&str]; 3] = [
            &["--client", "16"],
            &["--client", "17", "--auth", "low", "--password", "12345678"],
            &["--client", "1", "--auth", "high", "--keys", &keys],
        ];
        for c in clients {
            let mut args = vec!["--transport", transport];
            args.extend(c);
            let r = dlms_read(s.port, &args);
            assert_same_meter(&r, &flag, &format!("{args:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A read's bytes sent and received over the link, from the summary line of the table output.
fn link_bytes(port: u16, args: &[&str]) -> (u64, u64) {
    let url = format!("tcp://127.0.0.1:{port}");
    let mut all = vec![
        "read",
        &url,
        "--protocol",
        "dlms",
        "--no-store",
        "--days",
        "1",
    ];
    all.extend(args);
    let (ok, out, err) = run(&all);
    assert!(ok, "{args:?}: {err}");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("read in "))
        .unwrap_or_else(|| panic!("no summary line in {out}"));
    let number_before = |word: &str| -> u64 {
        line.split(word)
            .next()
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {word:?} count in {line}"))
    };
    (number_before(" bytes sent"), number_before(" received"))
}

/// A meter that compresses its profile buffer (null clock in rows that follow at the capture
/// period) reads the same as the FLAG face: the client rebuilds the times.
#[test]
fn compressed_profile_buffer_reads_the_same() {
    let flag = flag_reading();
    let m = dlms_meter(&["--compress-profile", "--transport", "hdlc"]);
    let r = dlms_read(m.port, &["--client", "16", "--transport", "hdlc"]);
    assert_same_meter(&r, &flag, "compressed profile");
    // And the buffer really was compressed: fewer bytes came over the link than from a meter
    // that sends the clock in every row.
    let plain = dlms_meter(&["--transport", "hdlc"]);
    let received = |port: u16| link_bytes(port, &["--transport", "hdlc"]).1;
    let (compressed, full) = (received(m.port), received(plain.port));
    // Each row of the compressed buffer has a null-data (1 byte) for the 13-byte date-time.
    let rows = r["load_profile"]["intervals"].as_array().unwrap().len() as u64;
    assert!(
        compressed + rows * 12 <= full,
        "compressed read {compressed} bytes, uncompressed {full}"
    );
}

/// The optical port of a DLMS meter, over TCP: the IEC 62056-21 sign-on, mode E into HDLC, and
/// the same meter read as by the FLAG reader; on the same port the sign-on with `ACK 0 Z 0`
/// gives the FLAG face's data readout; a client that skips the sign-on gets no HDLC answer.
#[test]
fn mode_e_opens_the_optical_port() {
    let flag = flag_reading();
    let m = dlms_meter(&["--mode-e"]);
    for client in [
        &["--client", "16"][..],
        &["--client", "17", "--auth", "low", "--password", "12345678"],
    ] {
        let mut args = vec!["--transport", "hdlc", "--mode-e"];
        args.extend(client);
        let r = dlms_read(m.port, &args);
        assert_same_meter(&r, &flag, &format!("mode E {client:?}"));
    }
    // A sign-on address that is the meter's serial number (--mode-e implies HDLC); another
    // one gets no answer.
    let r = dlms_read(m.port, &["--mode-e=10000001"]);
    assert_eq!(r["meter"]["serial"], "10000001");
    let err = dlms_read_fails(m.port, &["--transport", "hdlc", "--mode-e=10000002"]);
    assert!(err.contains("no identification after /?10000002!"), "{err}");
    let err = dlms_read_fails(m.port, &["--transport", "hdlc"]);
    assert!(
        err.contains("HDLC connect (SNRM)") && err.contains("no answer"),
        "{err}"
    );
    let err = dlms_read_fails(m.port, &["--mode-e", "--transport", "wrapper"]);
    assert!(err.contains("--mode-e") && err.contains("wrapper"), "{err}");

    let readout = |port: u16| -> Value {
        let (ok, out, err) = run(&[
            "read",
            &format!("tcp://127.0.0.1:{port}"),
            "--readout",
            "--json",
            "--no-store",
        ]);
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let flag_face = sim(&["--meters", "1"]);
    let (ours, theirs) = (readout(m.port), readout(flag_face.port));
    assert!(
        ours["lines"].as_array().is_some_and(|l| l.len() > 5),
        "{ours}"
    );
    assert_eq!(ours["lines"], theirs["lines"]);
}

/// The client and a simulated DLMS meter on the two ends of a socat pty pair: with mode E the
/// sign-on in 7E1 at 300 Bd, then both ports switch to 9600 Bd 8N1 for HDLC (after the
/// client's DISC the meter's port is back at the sign-on, so a second read works the same
/// way); without, HDLC at 9600 Bd 8N1 from the start, session after session.
#[test]
fn dlms_over_a_serial_pty_pair() {
    if Command::new("socat").arg("-V").output().is_err() {
        eprintln!("SKIPPED: socat is not installed (scripts/test installs it)");
        return;
    }
    let flag = flag_reading();
    for (sim_args, baud, read_args, banner) in [
        (&["--mode-e"][..], 300, &["--mode-e"][..], "mode-E"),
        (&["--baud", "9600"], 9600, &[], "at 9600 Bd 8N1"),
    ] {
        let dir = temp_dir("dlms-pty");
        let (m, c) = (dir.join("meter"), dir.join("client"));
        let mut socat = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", m.display()))
            .arg(format!("pty,raw,echo=0,link={}", c.display()))
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if m.exists() && c.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let (mut meter, line) = spawn_first_line(
            Command::new(env!("CARGO_BIN_EXE_metermaster"))
                .args(["sim", "--protocol", "dlms", "--serial", m.to_str().unwrap()])
                .args(["--speed", "0", "--start", START])
                .args(sim_args)
                .stderr(Stdio::null()),
        );
        assert!(line.contains(banner), "{line}");
        let url = format!("serial://{}?baud={baud}", c.display());
        for round in 0..2 {
            let mut args = vec!["read", &url, "--protocol", "dlms"];
            args.extend(read_args);
            args.extend(["--json", "--no-store", "--days", "1"]);
            let (ok, out, err) = run(&args);
            assert!(ok, "{sim_args:?} round {round}: {err}");
            let r: Value = serde_json::from_str(&out).unwrap();
            assert_same_meter(&r, &flag, &format!("serial {sim_args:?}, round {round}"));
        }
        let _ = meter.kill();
        let _ = meter.wait();
        let _ = socat.kill();
        let _ = socat.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The simulated meter's own event codes (reverse run, phase failures, billing resets) are not
/// in the DSMR/IDIS table: without a table they are reported as unmapped, with
/// `--event-codes examples/event-codes/metermaster-sim.toml` the DLMS reading has the same
/// events as the FLAG reading of the same meter (power failures apart: DLMS logs power down
/// and up, FLAG one power failure). A broken table is a clear error.
#[test]
fn meter_event_codes_from_a_table() {
    let flag = flag_reading();
    let m = dlms_meter(&[]);
    let lls = ["--client", "17", "--auth", "low", "--password", "12345678"];
    let table = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/event-codes/metermaster-sim.toml"
    );
    let events = |r: &Value| -> Vec<(Value, Value, Value)> {
        let mut v: Vec<_> = r["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                !matches!(
                    e["kind"].as_str(),
                    Some("power_failure" | "power_down" | "power_up")
                )
            })
            .map(|e| (e["time"].clone(), e["kind"].clone(), e["detail"].clone()))
            .collect();
        v.sort_by_key(|e| e.0.to_string());
        v
    };
    let theirs = events(&flag);
    assert!(
        theirs.iter().any(|e| e.1 == "reverse_run")
            && theirs.iter().any(|e| e.1 == "billing_reset"),
        "{theirs:?}"
    );
    // The simulated meter's own codes map by default; the table gives the same words.
    let without = dlms_read(m.port, &lls);
    assert_eq!(events(&without), theirs, "{without}");
    let mut args = lls.to_vec();
    args.extend(["--event-codes", table]);
    let with = dlms_read(m.port, &args);
    assert_eq!(events(&with), theirs);
    // A table is looked up first: it can name a code otherwise.
    let dir0 = temp_dir("event-codes-own");
    let own = dir0.join("own.toml");
    std::fs::write(
        &own,
        "[codes]\n10 = { kind = \"meter_error\", detail = \"ours\" }\n",
    )
    .unwrap();
    let mut args = lls.to_vec();
    args.extend(["--event-codes", own.to_str().unwrap()]);
    let renamed = events(&dlms_read(m.port, &args));
    assert!(
        !renamed.iter().any(|e| e.1 == "reverse_run")
            && renamed.iter().any(|e| e.1 == "meter_error"),
        "{renamed:?}"
    );
    let _ = std::fs::remove_dir_all(&dir0);

    let dir = temp_dir("event-codes");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[codes]\n10 = \"reverse_running\"\n").unwrap();
    let mut args = lls.to_vec();
    args.extend(["--event-codes", bad.to_str().unwrap()]);
    let err = dlms_read_fails(m.port, &args);
    assert!(
        err.contains("code 10") && err.contains("not an event kind"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `audit --protocol dlms` reads the same programming counter and sessions (time, user,
/// scheme) from the DLMS face as `audit` from the FLAG face of the same meter.
#[test]
fn audit_reads_the_dlms_programming_log() {
    let m = dlms_meter(&[]);
    let url = format!("tcp://127.0.0.1:{}", m.port);
    let (ok, out, err) = run(&[
        "audit",
        &url,
        "--protocol",
        "dlms",
        "--client",
        "17",
        "--auth",
        "low",
        "--password",
        "12345678",
        "--json",
    ]);
    assert!(ok, "{err}");
    let dlms: Value = serde_json::from_str(&out).unwrap();
    let f = super::sim(&[]);
    let furl = format!("tcp://127.0.0.1:{}", f.port);
    let (ok, out, err) = run(&["audit", &furl, "--address", "10000001", "--json"]);
    assert!(ok, "{err}");
    let flag: Value = serde_json::from_str(&out).unwrap();
    assert!(dlms["count"].as_u64().unwrap() >= 1);
    assert_eq!(dlms["count"], flag["count"]);
    assert_eq!(dlms["scheme"], flag["scheme"]);
    let recs = |v: &Value| -> Vec<(Value, Value, Value)> {
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["time"].clone(), r["user"].clone(), r["scheme"].clone()))
            .collect()
    };
    assert_eq!(recs(&dlms), recs(&flag));
    // The public client may not read the log: a clear refusal.
    let (ok, _, err) = run(&["audit", &url, "--protocol", "dlms"]);
    assert!(!ok && err.contains("no programming counter"), "{err}");
}

/// `audit --protocol dlms --json` as the management client (HLS-GMAC with the keys file).
fn management_audit(url: &str, keys: &str) -> Value {
    let (ok, out, err) = run(&[
        "audit",
        url,
        "--protocol",
        "dlms",
        "--client",
        "1",
        "--auth",
        "high",
        "--keys",
        keys,
        "--json",
    ]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// `time --protocol dlms`: a drift of years is beyond the trim limit (refused), the management
/// client sets the clock (counted as programming in the meter's log), a trim then works.
#[test]
fn time_checks_trims_and_sets_a_dlms_clock() {
    let m = dlms_meter(&[]);
    let url = format!("tcp://127.0.0.1:{}", m.port);
    let dir = temp_dir("dlms-time");
    let keys = keys_file(&dir, false);
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let time = |extra: &[&str]| {
        let mut args = vec![
            "time",
            &url,
            "--protocol",
            "dlms",
            "--json",
            "--database",
            &db,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let count = || management_audit(&url, &keys)["count"].as_u64().unwrap();
    let (ok, out, err) = time(&[]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["drift_before_s"].as_f64().unwrap().abs() > 86_400.0,
        "{v}"
    );
    let lls = ["--client", "17", "--auth", "low", "--password", "12345678"];
    let mut adjust = lls.to_vec();
    adjust.push("--adjust");
    let (ok, _, err) = time(&adjust);
    assert!(!ok && err.contains("trim limit"), "{err}");
    let before = count();
    let (ok, out, err) = time(&[
        "--client", "1", "--auth", "high", "--keys", &keys, "--set", "--user", "bob",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["drift_after_s"].as_f64().unwrap().abs() < 5.0, "{v}");
    assert_eq!(
        count(),
        before + 1,
        "a set beyond the trim limit is programming"
    );
    // The meter's log names the user who set the clock.
    assert_eq!(management_audit(&url, &keys)["records"][0]["user"], "bob");
    let (ok, out, err) = time(&adjust);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["action"], "trim");
    assert_eq!(count(), before + 1, "a trim is not programming");
    let log = super::listed("audit", &db);
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log.iter()
            .any(|e| e["outcome"].as_str().unwrap().starts_with("failed"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `program --protocol dlms`: the management client writes the passive calendar and special
/// days (each read back), activates them; the meter's log names the user and the scheme and
/// its counter moves by one; the LLS client may not program.
#[test]
fn program_a_dlms_meter() {
    let m = dlms_meter(&[]);
    let url = format!("tcp://127.0.0.1:{}", m.port);
    let dir = temp_dir("dlms-program");
    let keys = keys_file(&dir, false);
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let scheme = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/schemes/three-rate.toml"
    );
    let audit = || management_audit(&url, &keys);
    let before = audit()["count"].as_u64().unwrap();
    let (ok, _, err) = run(&[
        "program",
        &url,
        "--protocol",
        "dlms",
        "--scheme",
        scheme,
        "--user",
        "alice",
        "--client",
        "17",
        "--auth",
        "low",
        "--password",
        "12345678",
        "--database",
        &db,
    ]);
    assert!(!ok && !err.contains("panicked"), "{err}");
    assert_eq!(audit()["count"].as_u64().unwrap(), before);
    // `program --json` as the management client, into the test's store.
    let program_as = |url: &str, user: &str| {
        run(&[
            "program",
            url,
            "--protocol",
            "dlms",
            "--scheme",
            scheme,
            "--user",
            user,
            "--client",
            "1",
            "--auth",
            "high",
            "--keys",
            &keys,
            "--database",
            &db,
            "--json",
        ])
    };
    let (ok, out, err) = program_as(&url, "alice");
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["counter_after"].as_u64().unwrap(), before + 1);
    // The simulated meter's clock keeps UTC; the NSW scheme wants UTC+10 standard time.
    let w = v["warnings"][0].as_str().unwrap_or_default();
    assert!(
        w.contains("time zone UTC+0.0 h")
            && w.contains("UTC+10.0 h (time_zone -600)")
            && w.contains("--time-zone +10:00"),
        "{v}"
    );
    let a = audit();
    assert_eq!(a["count"].as_u64().unwrap(), before + 1);
    assert_eq!(a["records"][0]["user"], "alice");
    assert_eq!(a["records"][0]["scheme"], "NSW-TOU-2026");
    let log = super::listed("audit", &db);
    assert_eq!(log.len(), 2, "{log:?}");
    // The refused LLS attempt and the done one both name the meter.
    assert!(log.iter().all(|e| e["meter"] == "10000001"), "{log:?}");

    // The management client gives the meter's Clock the scheme's zone (AEST, UTC+10): the
    // next programming has nothing to warn about.
    let (ok, out, err) = run(&[
        "time",
        &url,
        "--protocol",
        "dlms",
        "--client",
        "1",
        "--auth",
        "high",
        "--keys",
        &keys,
        "--time-zone",
        "+10:00",
        "--user",
        "carol",
        "--database",
        &db,
        "--json",
    ]);
    assert!(ok, "{err}");
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["action"], "time zone", "{t}");

    // A line that drops in the middle of the writes: the run connects again by itself, writes
    // everything again and activates once; the audit log has the interrupted attempt and the
    // good one. (Connection 0 through the relay reads the invocation counter as the public
    // client; connection 1 is the programming session that is cut.)
    let relay = faulty_relay_nth(m.port, Fault::Cut(1200), 1);
    let rurl = format!("tcp://127.0.0.1:{relay}");
    let (ok, out, err) = program_as(&rurl, "carol");
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    let a = audit();
    assert_eq!(a["count"].as_u64().unwrap(), before + 2, "one activation");
    // (The simulated clock stands still: the log's records share one time, so no order.)
    let users: Vec<&Value> = a["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["user"])
        .collect();
    assert_eq!(
        users.iter().filter(|u| **u == "carol").count(),
        1,
        "{users:?}"
    );
    let log = super::listed("audit", &db);
    assert_eq!(log.len(), 5, "{log:?}");
    assert!(
        log.iter()
            .any(|e| e["action"] == "time zone" && e["outcome"] == "ok"),
        "{log:?}"
    );
    let outcomes: Vec<&str> = log
        .iter()
        .filter(|e| e["user"] == "carol" && e["action"] == "program")
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 2, "{log:?}");
    assert!(
        outcomes.iter().any(|o| o.starts_with("interrupted")) && outcomes.contains(&"ok"),
        "{outcomes:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A wrong password and a wrong key end the read with the meter's refusal; the reading of the
/// right client goes into the store and `list readings` shows it as DLMS.
#[test]
fn dlms_read_refusals_and_store() {
    let dir = temp_dir("dlms-read-refusals");
    let wrong = keys_file(&dir, true);
    let s = dlms_meter(&[]);
    let err = dlms_read_fails(
        s.port,
        &["--client", "17", "--auth", "low", "--password", "87654321"],
    );
    assert!(
        err.contains("refused the association") && err.contains("authentication failure"),
        "{err}"
    );
    let err = dlms_read_fails(
        s.port,
        &["--client", "1", "--auth", "high", "--keys", &wrong],
    );
    assert!(
        err.contains("refused") && err.contains("authentication"),
        "{err}"
    );
    let err = dlms_read_fails(
        s.port,
        &[
            "--client",
            "1",
            "--auth",
            "high",
            "--keys",
            &wrong,
            "--ciphering",
            "none",
        ],
    );
    assert!(
        err.contains("authentication") || err.contains("HLS"),
        "{err}"
    );

    let db = format!("sqlite:{}", dir.join("store.db").display());
    let (ok, _, err) = run(&[
        "read",
        &format!("tcp://127.0.0.1:{}", s.port),
        "--protocol",
        "dlms",
        "--days",
        "1",
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    let readings = listed("readings", &db);
    assert_eq!(readings.len(), 1, "{readings:?}");
    let text = readings[0].to_string();
    assert!(text.contains("10000001"), "{text}");
    assert!(text.to_lowercase().contains("dlms"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A relay between reader and meter that spoils its first connection: `Flip(n)` flips one
/// bit of byte n of what the meter sends, `Cut(n)` closes both sides once n bytes came from
/// the meter. Later connections pass untouched.
#[derive(Clone, Copy)]
enum Fault {
    Flip(usize),
    Cut(usize),
}

fn faulty_relay(port: u16, fault: Fault) -> u16 {
    faulty_relay_nth(port, fault, 0)
}

/// A relay to the meter at `port` whose connection number `nth` (from 0) gets `fault` in the
/// meter's direction; the others pass untouched.
fn faulty_relay_nth(port: u16, fault: Fault, nth: usize) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, client) in l.incoming().enumerate() {
            let Ok(client) = client else { return };
            let Ok(meter) = TcpStream::connect(("127.0.0.1", port)) else {
                return;
            };
            let fault = (n == nth).then_some(fault);
            let (mut c_in, mut m_out) = (client.try_clone().unwrap(), meter.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(k) = c_in.read(&mut buf) {
                    if k == 0 || m_out.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
                let _ = m_out.shutdown(Shutdown::Both);
            });
            let (mut m_in, mut c_out) = (meter, client);
            std::thread::spawn(move || {
                let mut seen = 0usize;
                let mut buf = [0u8; 4096];
                while let Ok(k) = m_in.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    let chunk = &mut buf[..k];
                    match fault {
                        Some(Fault::Flip(at)) if (seen..seen + k).contains(&at) => {
                            chunk[at - seen] ^= 0x10;
                        }
                        Some(Fault::Cut(at)) if seen + k >= at => {
                            let _ = c_out.write_all(&chunk[..at - seen]);
                            break;
                        }
                        _ => {}
                    }
                    seen += k;
                    if c_out.write_all(chunk).is_err() {
                        break;
                    }
                }
                let _ = c_out.shutdown(Shutdown::Both);
                let _ = m_in.shutdown(Shutdown::Both);
            });
        }
    });
    relay_port
}

/// One corrupted HDLC frame is repeated and the reading is right; a connection cut in the
/// middle of a block transfer is read again on a new connection, with the right values; with
/// one attempt only the cut is a clear error and prints no values.
#[test]
fn dlms_read_survives_a_bad_frame_and_a_cut() {
    let flag = flag_reading();
    let hdlc = dlms_meter(&["--transport", "hdlc"]);
    for at in [12, 60, 300] {
        let relay = faulty_relay(hdlc.port, Fault::Flip(at));
        // One connection only: the link itself must recover.
        let r = dlms_read(
            relay,
            &["--transport", "hdlc", "--timeout", "1", "--attempts", "1"],
        );
        assert_same_meter(&r, &flag, &format!("hdlc, byte {at} flipped"));
    }
    // Windows of 7 frames of 128 bytes: a flipped byte loses a frame inside a window (the rest
    // of the window arrives out of sequence) or its last frame; the reader asks again from the
    // first missing frame and reads the right values.
    let windowed = [
        "--transport",
        "hdlc",
        "--hdlc-window",
        "7",
        "--hdlc-max-info",
        "128",
    ];
    let r = dlms_read(hdlc.port, &windowed);
    assert_same_meter(&r, &flag, "hdlc, window 7");
    // The window is used: the same answers, with fewer RR frames from us.
    let sent = |w: &str| {
        link_bytes(
            hdlc.port,
            &[
                "--transport",
                "hdlc",
                "--hdlc-window",
                w,
                "--hdlc-max-info",
                "128",
            ],
        )
    };
    let ((sent1, got1), (sent7, got7)) = (sent("1"), sent("7"));
    assert_eq!(got1, got7);
    // 32-byte frames: the GET-with-list requests go out in windows too.
    let r = dlms_read(
        hdlc.port,
        &[
            "--transport",
            "hdlc",
            "--hdlc-window",
            "7",
            "--hdlc-max-info",
            "32",
        ],
    );
    assert_same_meter(&r, &flag, "hdlc, window 7, 32-byte frames");
    assert!(
        sent7 + 9 * 20 < sent1,
        "window 7 sent {sent7} bytes, window 1 {sent1}"
    );
    for at in [700, 1500, 3000, 4200] {
        let relay = faulty_relay(hdlc.port, Fault::Flip(at));
        let mut args = windowed.to_vec();
        args.extend(["--timeout", "1", "--attempts", "1"]);
        let r = dlms_read(relay, &args);
        assert_same_meter(&r, &flag, &format!("hdlc window 7, byte {at} flipped"));
    }
    let wrapper = dlms_meter(&[]);
    let relay = faulty_relay(wrapper.port, Fault::Cut(1500));
    let r = dlms_read(relay, &["--attempts", "3"]);
    assert_same_meter(&r, &flag, "wrapper, cut after 1500 bytes");
    let relay = faulty_relay(wrapper.port, Fault::Cut(1500));
    let err = dlms_read_fails(relay, &["--attempts", "1"]);
    assert!(err.contains("connection closed"), "{err}");
}

/// The gurux server: the peer Python with gurux-dlms, or `None` (the test then says it skips).
struct Gurux {
    child: Child,
    port: u16,
}

impl Drop for Gurux {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const GURUX_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/gurux_server.py");

fn gurux_server(py: &str) -> Gurux {
    let (child, line) = spawn_first_line(
        Command::new(py)
            .args([GURUX_SERVER, "--port", "0"])
            .stderr(Stdio::inherit()),
    );
    let port = line
        .strip_prefix("listening on ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("gurux server printed {line:?}"));
    Gurux { child, port }
}

/// Our client reads the gurux server: identity, clock, the register with its scaler and
/// unit, and the profile (by range) exactly as the script serves them; LLS with the right
/// password works and a wrong one is refused.
#[test]
fn our_client_reads_a_gurux_server() {
    let Some(py) = peer_python("gurux_dlms") else {
        return;
    };
    let out = Command::new(&py)
        .args([GURUX_SERVER, "--dump"])
        .output()
        .unwrap();
    let want: Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = gurux_server(&py);
    let url = format!("tcp://127.0.0.1:{}", g.port);
    let read = |since: &str, extra: &[&str]| -> Value {
        let mut args = vec![
            "read",
            &url,
            "--protocol",
            "dlms",
            "--json",
            "--no-store",
            "--since",
            since,
        ];
        args.extend(extra);
        let (ok, out, err) = run(&args);
        assert!(ok, "{extra:?}: {err}");
        serde_json::from_str(&out).unwrap()
    };
    let r = read("2024-03-05T00:00:00Z", &["--client", "16"]);
    assert_eq!(r["protocol"], "dlms");
    assert_eq!(r["meter"]["serial"], want["serial"]);
    assert_eq!(r["clock"]["meter_time"], want["clock"]);
    assert_eq!(r["clock"]["utc_offset_s"], 0);
    let regs = r["registers"].as_array().unwrap();
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(regs[0]["obis"], want["register"]["obis"]);
    assert_eq!(regs[0]["value"]["raw"], want["register"]["raw"]);
    assert_eq!(regs[0]["value"]["scale"], want["register"]["scale"]);
    assert_eq!(regs[0]["value"]["unit"], want["register"]["unit"]);
    assert_eq!(regs[0]["value"]["value"], 12345.678);

    // The captured running total becomes energy per interval: the differences of the rows.
    let rows = want["rows"].as_array().unwrap();
    let expected = |from: usize| -> Vec<(String, String, f64)> {
        rows.windows(2)
            .skip(from)
            .map(|w| {
                let d = w[1][1].as_i64().unwrap() - w[0][1].as_i64().unwrap();
                (
                    w[0][0].as_str().unwrap().to_string(),
                    w[1][0].as_str().unwrap().to_string(),
                    d as f64 / 1000.0,
                )
            })
            .collect()
    };
    let got = |r: &Value| -> Vec<(String, String, f64)> {
        let lp = &r["load_profile"];
        assert_eq!(lp["interval_s"], want["period"]);
        assert_eq!(lp["channels"][0]["obis"], "1-0:1.29.0*255");
        assert_eq!(lp["channels"][0]["unit"], "Wh");
        lp["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|iv| {
                assert_eq!(iv["status"], serde_json::json!([]));
                (
                    iv["start"].as_str().unwrap().to_string(),
                    iv["end"].as_str().unwrap().to_string(),
                    iv["values"][0].as_f64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(got(&r), expected(0));
    assert_eq!(got(&r)[3].2, 0.6);
    // A later start: gurux selects the rows by range (13:15 on), two intervals remain.
    let later = read("2024-03-05T13:10:00Z", &["--client", "16"]);
    assert_eq!(got(&later), expected(2));

    let lls = read(
        "2024-03-05T00:00:00Z",
        &["--client", "17", "--auth", "low", "--password", "12345678"],
    );
    assert_eq!(lls["registers"], r["registers"]);
    assert_eq!(lls["load_profile"], r["load_profile"]);
    let (ok, out, err) = run(&[
        "read",
        &url,
        "--protocol",
        "dlms",
        "--client",
        "17",
        "--auth",
        "low",
        "--password",
        "00000000",
        "--no-store",
    ]);
    assert!(!ok, "{out}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("refused the association") && err.contains("authentication failure"),
        "{err}"
    );
}
