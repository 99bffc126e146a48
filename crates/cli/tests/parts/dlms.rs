//! `metermaster sim --protocol dlms` as a user runs it, and against independent DLMS/COSEM
//! clients: `dlms-cosem` and `gurux-dlms` from PyPI (`scripts/dlms_peer.py`). What they read
//! must equal what our FLAG reader reads from a FLAG simulator started with the same seed and
//! start: the same meter model behind both faces.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use metermaster_dlms::Data;
use metermaster_dlms::apdu::{
    Aarq, Apdu, ApplicationContext, AttributeDescriptor, Conformance, GetRequest, GetResponse,
    InitiateRequest, InvokeIdAndPriority, UserInformation,
};
use metermaster_dlms::wrapper::WrapperFrame;
use metermaster_model::ObisCode;

use super::{Sim, peer_python, run, sim, sim_with};

const START: &str = "2024-03-05T14:00:00Z";

/// `sim --protocol dlms` with frozen clocks; the port of meter 1.
fn dlms_sim(extra: &[&str]) -> Sim {
    let mut args = vec!["--protocol", "dlms", "--listen", "127.0.0.1:0"];
    args.extend(["--speed", "0", "--start", START]);
    args.extend_from_slice(extra);
    sim_with(&args)
}

/// Runs the peer script; its exit status and the JSON it printed.
fn peer(py: &str, port: u16, args: &[&str]) -> (i32, serde_json::Value) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/dlms_peer.py");
    let out = Command::new(py)
        .arg(script)
        .args(["--port", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "peer {args:?} printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// What our FLAG reader reads from meter 10000001 of a FLAG simulator with the same start
/// and seed: clock, registers and two days of profile.
fn flag_reading() -> serde_json::Value {
    let s = sim(&[]);
    let (ok, out, err) = run(&[
        "read",
        &format!("tcp://127.0.0.1:{}", s.port),
        "--address",
        "10000001",
        "--days",
        "2",
        "--json",
        "--no-store",
    ]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// Checks a peer's clock, register and profile against the FLAG reading.
fn assert_same_meter(peer: &serde_json::Value, flag: &serde_json::Value, what: &str) {
    assert_eq!(
        peer["clock"]["local"], flag["clock"]["meter_local"],
        "{what}: clock"
    );
    assert_eq!(peer["clock"]["deviation"], 0, "{what}: GMT all year");
    let reg = &peer["register"];
    let import = flag["registers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["obis"] == "1-0:1.8.0*255")
        .unwrap();
    // value × 10^scaler Wh, exactly the FLAG register (raw × 10^scale Wh).
    assert_eq!(reg["value"], import["value"]["raw"], "{what}: 1.8.0");
    assert_eq!(reg["scaler"], import["value"]["scale"], "{what}: scaler");
    assert_eq!(reg["unit"], 30, "{what}: unit Wh");
    let rows = peer["profile"].as_array().unwrap();
    let intervals = flag["load_profile"]["intervals"].as_array().unwrap();
    assert_eq!(rows.len(), intervals.len(), "{what}: profile rows");
    assert!(rows.len() > 96, "{what}: more than a day");
    for (row, iv) in rows.iter().zip(intervals) {
        let end = iv["end"].as_str().unwrap().trim_end_matches('Z');
        assert_eq!(row["time"].as_str().unwrap(), end, "{what}: capture time");
        assert_eq!(row["deviation"], 0, "{what}");
        // mW (var) in the DLMS rows, W (var) with three decimals in the FLAG reading.
        let ours: Vec<f64> = iv["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let theirs: Vec<f64> = row["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as f64 / 1000.0)
            .collect();
        assert_eq!(theirs, ours, "{what}: interval ending {end}");
        let power = iv["status"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "power_down" || s == "power_up");
        assert_eq!(
            row["status"].as_u64().unwrap() & 0x80 != 0,
            power,
            "{what}: power flag at {end}"
        );
    }
}

const RANGE: [&str; 4] = ["--from", "2024-03-04T00:15", "--to", "2024-03-05T14:00"];

/// Both independent clients, over the wrapper and over HDLC, with each of the three clients,
/// read the same clock, register and profile as our FLAG reader. Over HDLC gurux's first
/// frame has a broken FCS: the meter drops it and the repeat goes through.
#[test]
fn dlms_peers_read_what_the_flag_face_shows() {
    let Some(py) = peer_python("dlms_cosem, gurux_dlms") else {
        return;
    };
    let flag = flag_reading();
    let wrapper = dlms_sim(&[]);
    let hdlc = dlms_sim(&["--transport", "hdlc"]);
    let cases: [(&Sim, &[&str]); 7] = [
        (&wrapper, &["--lib", "dlms-cosem", "--client", "16"]),
        (&wrapper, &["--lib", "dlms-cosem", "--client", "17"]),
        (&wrapper, &["--lib", "gurux", "--client", "17"]),
        (&wrapper, &["--lib", "gurux", "--client", "1"]),
        (
            &hdlc,
            &[
                "--lib",
                "gurux",
                "--client",
                "16",
                "--transport",
                "hdlc",
                "--bad-fcs",
            ],
        ),
        (
            &hdlc,
            &[
                "--lib",
                "gurux",
                "--client",
                "1",
                "--transport",
                "hdlc",
                "--address-size",
                "4",
                "--physical",
                "1001",
            ],
        ),
        (
            &hdlc,
            &[
                "--lib",
                "dlms-cosem",
                "--client",
                "1",
                "--transport",
                "hdlc",
            ],
        ),
    ];
    for (s, args) in cases {
        let mut all = args.to_vec();
        all.extend(RANGE);
        let (code, out) = peer(&py, s.port, &all);
        assert_eq!(code, 0, "{args:?}: {out}");
        assert_same_meter(&out, &flag, &format!("{args:?}"));
        if args.contains(&"--bad-fcs") {
            assert_eq!(out["retries"], 1, "the frame with the bad FCS was repeated");
        }
    }
}

/// Faults seen by the independent clients: a wrong password, a wrong key (refused at the
/// ciphered AARQ, or in HLS pass 3 when the context is not ciphered) and a connection dropped
/// in the middle of a block transfer: each a clear refusal, and the meter answers the next
/// client normally.
#[test]
fn dlms_peers_get_clear_refusals() {
    let Some(py) = peer_python("dlms_cosem, gurux_dlms") else {
        return;
    };
    let s = dlms_sim(&[]);
    let wrong_key = "00112233445566778899AABBCCDDEEFF";
    for (args, stage, text) in [
        (
            vec![
                "--lib",
                "dlms-cosem",
                "--client",
                "17",
                "--password",
                "00000000",
            ],
            "association",
            "AUTHENTICATION_FAILED",
        ),
        (
            vec!["--lib", "gurux", "--client", "17", "--password", "00000000"],
            "association",
            "Authentication failure",
        ),
        (
            vec![
                "--lib",
                "dlms-cosem",
                "--client",
                "1",
                "--key-ak",
                wrong_key,
            ],
            "association",
            "AUTHENTICATION_FAILED",
        ),
        (
            vec![
                "--lib",
                "gurux",
                "--client",
                "1",
                "--key-ak",
                wrong_key,
                "--hls-plain",
            ],
            "hls-pass-3",
            "",
        ),
    ] {
        let (code, out) = peer(&py, s.port, &args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert_eq!(out["stage"], stage, "{args:?}: {out}");
        assert!(
            out["error"].as_str().unwrap().contains(text),
            "{args:?}: {out}"
        );
    }
    // The right key in the plain context passes HLS.
    let (code, out) = peer(
        &py,
        s.port,
        &["--lib", "gurux", "--client", "1", "--hls-plain"],
    );
    assert_eq!(code, 0, "{out}");

    // A block transfer abandoned by a dropped connection.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let aare = exchange(&mut c, 16, &aarq(256));
    assert!(matches!(Apdu::decode(&aare).unwrap(), Apdu::Aare(a) if a.is_associated()));
    let first = exchange(
        &mut c,
        16,
        &GetRequest::normal(
            InvokeIdAndPriority::DEFAULT,
            AttributeDescriptor::new(15, ObisCode::abstract_(40, 0, 0), 2),
        )
        .encode(),
    );
    assert!(matches!(
        Apdu::decode(&first).unwrap(),
        Apdu::GetResponse(GetResponse::WithDatablock { .. })
    ));
    drop(c);
    for lib in ["dlms-cosem", "gurux"] {
        let (code, out) = peer(&py, s.port, &["--lib", lib, "--client", "16"]);
        assert_eq!(code, 0, "{lib} after the dropped transfer: {out}");
    }
}

fn aarq(pdu: u16) -> Vec<u8> {
    Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(InitiateRequest::new(
            Conformance::GREEN_BOOK_PROPOSAL,
            pdu,
        )),
    )
    .encode()
}

/// One wrapped APDU out, one back.
fn exchange(s: &mut TcpStream, client: u16, apdu: &[u8]) -> Vec<u8> {
    s.write_all(
        &WrapperFrame::new(client, 1, apdu.to_vec())
            .encode()
            .unwrap(),
    )
    .unwrap();
    let mut h = [0u8; 8];
    s.read_exact(&mut h).unwrap();
    assert_eq!(&h[..6], &[0, 1, 0, 1, (client >> 8) as u8, client as u8]);
    let mut body = vec![0u8; usize::from(u16::from_be_bytes([h[6], h[7]]))];
    s.read_exact(&mut body).unwrap();
    body
}

/// Meter i answers on port PORT+i-1 with its own serial number; bad option combinations are
/// refused.
#[test]
fn dlms_sim_serves_one_port_per_meter() {
    let s = dlms_sim(&["--meters", "3", "--first-serial", "20000001"]);
    for i in 0..3u16 {
        let mut c = TcpStream::connect(("127.0.0.1", s.port + i)).unwrap();
        let aare = exchange(&mut c, 16, &aarq(1024));
        assert!(matches!(Apdu::decode(&aare).unwrap(), Apdu::Aare(a) if a.is_associated()));
        let serial = exchange(
            &mut c,
            16,
            &GetRequest::normal(
                InvokeIdAndPriority::DEFAULT,
                AttributeDescriptor::new(1, ObisCode::abstract_(96, 1, 0), 2),
            )
            .encode(),
        );
        let Apdu::GetResponse(GetResponse::Normal { result, .. }) = Apdu::decode(&serial).unwrap()
        else {
            panic!("no normal GET response")
        };
        assert_eq!(
            result.into_result().unwrap(),
            Data::visible_string(&format!("2000000{}", i + 1))
        );
    }
    for (args, text) in [
        (
            vec![
                "sim",
                "--protocol",
                "dlms",
                "--listen",
                "127.0.0.1:0",
                "--faults",
                "drop=1",
            ],
            "FLAG options",
        ),
        (
            vec!["sim", "--listen", "127.0.0.1:0", "--transport", "hdlc"],
            "--transport and --mode-e apply to --protocol dlms",
        ),
        (
            vec!["sim", "--listen", "127.0.0.1:0", "--mode-e"],
            "--transport and --mode-e apply to --protocol dlms",
        ),
        (
            vec![
                "sim",
                "--protocol",
                "dlms",
                "--mode-e",
                "--transport",
                "wrapper",
            ],
            "--transport wrapper is for TCP",
        ),
        (
            vec!["sim", "--protocol", "dlms", "--baud", "9600"],
            "--baud with --protocol dlms is the line speed of --serial",
        ),
        (
            vec!["sim", "--protocol", "iec104", "--listen", "127.0.0.1:0"],
            "protocol \"iec104\": known protocols are flag and dlms",
        ),
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok, "{args:?}");
        assert!(err.contains(text), "{args:?}: {err}");
    }
}

/// Gurux parses the object list of each association with its own object model and reads
/// every readable attribute of every object without an error; the public client sees fewer
/// objects than the reader (no logs, disconnector or push setup).
#[test]
fn gurux_parses_the_object_list_and_reads_every_attribute() {
    let Some(py) = peer_python("dlms_cosem, gurux_dlms") else {
        return;
    };
    let s = dlms_sim(&[]);
    let mut seen = Vec::new();
    for client in ["16", "17"] {
        let (code, out) = peer(
            &py,
            s.port,
            &["--lib", "gurux", "--client", client, "--objects"],
        );
        assert_eq!(code, 0, "{out}");
        assert_eq!(out["read_errors"], serde_json::json!([]), "client {client}");
        let objects = out["objects"].as_array().unwrap().clone();
        let has = |ln: &str| objects.iter().any(|o| o["ln"] == ln);
        for ln in [
            "0.0.1.0.0.255",
            "0.0.40.0.0.255",
            "1.0.1.8.0.255",
            "1.0.1.6.0.255",
            "1.0.99.1.0.255",
            "0.0.13.0.0.255",
        ] {
            assert!(has(ln), "client {client} lacks {ln}");
        }
        assert_eq!(
            has("0.0.99.98.0.255"),
            client == "17",
            "event log for the reader only"
        );
        assert!(out["attributes_read"].as_u64().unwrap() > 100);
        seen.push(objects.len());
    }
    assert!(seen[0] < seen[1], "{seen:?}");
}
