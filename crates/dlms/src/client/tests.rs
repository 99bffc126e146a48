//! The client against scripted meters over `tokio::io::duplex`: the guide's example session
//! (§7) byte for byte over the wrapper and over HDLC, the HDLC skeleton (§1.2.9) and
//! segmentation (§1.2.7) frames, LLS and HLS-GMAC with the Green Book vectors, ciphering,
//! refusals, broken links and frames, and a whole meter read against a small fake meter.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use metermaster_model::{
    EventKind, InstantQuantity, IntervalStatus, ObisCode, Phase, Quantity, Unit,
};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::reader::{ReadOptions, read_meter};
use super::*;
use crate::apdu::{
    Aare, ApplicationContext, AssociationResult, AttributeDescriptor, AttributeRequest,
    CaptureObjectDefinition, Conformance, DataAccessResult, GetDataResult, GetRequest, GetResponse,
    InitiateRequest, InitiateResponse, InvokeIdAndPriority, MethodDescriptor, RangeDescriptor,
    Rlre, Rlrq, UserInformation,
};
use crate::axdr::{CosemDateTime, Data};
use crate::hdlc::{Control, Direction, HdlcAddress, HdlcFrame, HdlcParameters, information_frames};
use crate::obis::{DlmsUnit, ScalerUnit};
use crate::security::{
    CipheredApdu, CipheringMode, SecurityControl, SecurityError, Suite0Keys, SystemTitle,
};
use crate::test_util::{SESSION_STEP_10, SESSION_STEP_12, hex};
use crate::{Apdu, apdu};

// ----- a scripted peer -----

#[derive(Debug, Clone)]
enum Step {
    /// Exactly these bytes must come from the client next.
    Expect(Vec<u8>),
    /// Send these bytes to the client.
    Send(Vec<u8>),
    /// Close the connection.
    Close,
    /// Keep the connection open and silent for a while.
    Wait(Duration),
}

fn expect(s: &str) -> Step {
    Step::Expect(hex(s))
}

fn send(s: &str) -> Step {
    Step::Send(hex(s))
}

async fn play(mut io: DuplexStream, steps: Vec<Step>) -> std::result::Result<(), String> {
    for (i, step) in steps.into_iter().enumerate() {
        match step {
            Step::Expect(want) => {
                let mut got = vec![0u8; want.len()];
                match tokio::time::timeout(Duration::from_secs(600), io.read_exact(&mut got)).await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        return Err(format!(
                            "step {i}: expected {}, the client closed: {e}",
                            HexBytes(&want)
                        ));
                    }
                    Err(_) => {
                        return Err(format!(
                            "step {i}: expected {}, the client sent nothing",
                            HexBytes(&want)
                        ));
                    }
                }
                if got != want {
                    return Err(format!(
                        "step {i}:\n expected {}\n got      {}",
                        HexBytes(&want),
                        HexBytes(&got)
                    ));
                }
            }
            Step::Send(b) => io.write_all(&b).await.map_err(|e| e.to_string())?,
            Step::Close => return Ok(()),
            Step::Wait(d) => tokio::time::sleep(d).await,
        }
    }
    Ok(())
}

/// Runs the client side `f` against the script and checks the script ran to its end.
macro_rules! scripted {
    ($steps:expr, $opts:expr, |$c:ident| $body:block) => {{
        let (client_io, meter_io) = duplex(1 << 16);
        let peer = tokio::spawn(play(meter_io, $steps));
        let mut $c = DlmsClient::connect(client_io, $opts)
            .await
            .expect("connect");
        let out = async { $body }.await;
        drop($c);
        peer.await.expect("peer task").expect("the script");
        out
    }};
}

const CLOCK: ObisCode = ObisCode::new(0, 0, 1, 0, 0, 255);
const IMPORT: ObisCode = ObisCode::elec(1, 8, 0);
const PROFILE: ObisCode = ObisCode::new(1, 0, 99, 1, 0, 255);

fn wrapper_opts(conformance: u32, max_pdu: u16) -> SessionOptions {
    SessionOptions {
        link: LinkOptions {
            transport: Transport::Wrapper,
            client_sap: 16,
            server_logical: 1,
            ..LinkOptions::default()
        },
        conformance: Conformance(conformance),
        max_receive_pdu: max_pdu,
        ..SessionOptions::default()
    }
}

fn hdlc_opts(conformance: u32, max_pdu: u16) -> SessionOptions {
    let mut o = wrapper_opts(conformance, max_pdu);
    o.link.transport = Transport::Hdlc;
    o.link.server_physical = Some(17);
    o
}

fn wpdu(from: u16, to: u16, apdu: &[u8]) -> Vec<u8> {
    crate::wrapper::WrapperFrame::new(from, to, apdu.to_vec())
        .encode()
        .unwrap()
}

/// Client → meter wrapper PDU.
fn c_w(apdu: &[u8]) -> Step {
    Step::Expect(wpdu(16, 1, apdu))
}

/// Meter → client wrapper PDU.
fn s_w(apdu: &[u8]) -> Step {
    Step::Send(wpdu(1, 16, apdu))
}

fn server_addr() -> HdlcAddress {
    HdlcAddress::server(1, 17).unwrap()
}

fn client_addr() -> HdlcAddress {
    HdlcAddress::client(16).unwrap()
}

fn i_frame(from_client: bool, ns: u8, nr: u8, apdu: &[u8]) -> Vec<u8> {
    let (dest, src, llc) = if from_client {
        (server_addr(), client_addr(), crate::hdlc::LLC_COMMAND)
    } else {
        (client_addr(), server_addr(), crate::hdlc::LLC_RESPONSE)
    };
    let mut info = llc.to_vec();
    info.extend_from_slice(apdu);
    HdlcFrame::new(
        dest,
        src,
        Control::I {
            send_seq: ns,
            recv_seq: nr,
            poll_final: true,
        },
    )
    .with_information(info)
    .encode()
    .unwrap()
}

/// The client's RR with N(R) = `n` and the poll bit.
fn client_rr(n: u8) -> Vec<u8> {
    HdlcFrame::new(
        server_addr(),
        client_addr(),
        Control::Rr {
            recv_seq: n,
            poll_final: true,
        },
    )
    .encode()
    .unwrap()
}

fn c_i(ns: u8, nr: u8, apdu: &[u8]) -> Step {
    Step::Expect(i_frame(true, ns, nr, apdu))
}

fn s_i(ns: u8, nr: u8, apdu: &[u8]) -> Step {
    Step::Send(i_frame(false, ns, nr, apdu))
}

const SNRM: &str = "7E A0 08 02 23 21 93 BD 64 7E";
const UA_154: &str = "7E A0 1F 21 02 23 73 E6 C7 81 80 12 05 01 9A 06 01 9A 07 04 00 00 00 01 08 04 00 00 00 01 CC A2 7E";
const DISC: &str = "7E A0 08 02 23 21 53 B1 A2 7E";
const UA_DISC: &str = "7E A0 08 21 02 23 73 7A 43 7E";

/// The §7 APDUs.
const AARQ_7: &str =
    "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 00 80";
const AARE_7: &str = "61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 50 1F 01 F4 00 07";
const STEP_9: &str = "C0 01 C4 00 07 01 00 63 01 00 FF 02 01 01 02 04 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00 09 0C 07 E1 0A 01 07 00 00 00 00 FF C4 80 09 0C 07 E1 0A 01 07 01 00 00 00 FF C4 80 01 00";

fn section_7_range() -> crate::apdu::SelectiveAccess {
    RangeDescriptor {
        restricting_object: CaptureObjectDefinition::CLOCK_TIME,
        from_value: Data::OctetString(hex("07 E1 0A 01 07 00 00 00 00 FF C4 80")),
        to_value: Data::OctetString(hex("07 E1 0A 01 07 01 00 00 00 FF C4 80")),
        selected_values: Vec::new(),
    }
    .into()
}

/// The five rows the §7 blocks reassemble into.
fn section_7_rows() -> Data {
    let row = |minute: u8, import: u32| {
        Data::Structure(vec![
            Data::OctetString(vec![
                0x07,
                0xE1,
                0x0A,
                0x01,
                0x07,
                minute / 60,
                minute % 60,
                0,
                0,
                0xFF,
                0xC4,
                0x80,
            ]),
            Data::Unsigned(0),
            Data::DoubleLongUnsigned(import),
            Data::DoubleLongUnsigned(0),
        ])
    };
    Data::Array(vec![
        row(0, 123_456),
        row(15, 123_711),
        row(30, 123_958),
        row(45, 124_210),
        row(60, 124_467),
    ])
}

// ----- §7 over the wrapper -----

#[tokio::test(start_paused = true)]
async fn section_7_session_over_the_wrapper_byte_for_byte() {
    let steps = vec![
        expect(&format!("00 01 00 10 00 01 00 1F {AARQ_7}")),
        send(&format!("00 01 00 01 00 10 00 2B {AARE_7}")),
        expect("00 01 00 10 00 01 00 0D C0 01 C1 00 08 00 00 01 00 00 FF 02 00"),
        send("00 01 00 01 00 10 00 12 C4 01 C1 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80"),
        expect("00 01 00 10 00 01 00 0D C0 01 C2 00 03 01 00 01 08 00 FF 03 00"),
        send("00 01 00 01 00 10 00 0A C4 01 C2 00 02 02 0F 00 16 1E"),
        expect("00 01 00 10 00 01 00 0D C0 01 C3 00 03 01 00 01 08 00 FF 02 00"),
        send("00 01 00 01 00 10 00 09 C4 01 C3 00 06 00 01 E7 12"),
        expect(&format!("00 01 00 10 00 01 00 40 {STEP_9}")),
        send(&format!("00 01 00 01 00 10 00 80 {SESSION_STEP_10}")),
        expect("00 01 00 10 00 01 00 07 C0 02 C4 00 00 00 01"),
        send(&format!("00 01 00 01 00 10 00 22 {SESSION_STEP_12}")),
        expect("00 01 00 10 00 01 00 05 62 03 80 01 00"),
        send("00 01 00 01 00 10 00 05 63 03 80 01 00"),
    ];
    scripted!(steps, wrapper_opts(0x00_7E1F, 128), |c| {
        let n = c.associate().await.unwrap();
        assert_eq!(n.conformance, Conformance(0x00_501F));
        assert_eq!(n.server_max_receive_pdu, 500);
        assert_eq!(n.context, ApplicationContext::LN);

        let time = c
            .get(AttributeDescriptor::new(8, CLOCK, 2), None)
            .await
            .unwrap()
            .to_date_time()
            .unwrap();
        assert_eq!(
            time.to_naive_local().unwrap(),
            NaiveDate::from_ymd_opt(2017, 10, 1)
                .unwrap()
                .and_hms_opt(1, 7, 30)
                .unwrap()
        );
        assert_eq!(time.deviation(), Some(-60));
        assert!(time.status.daylight_saving_active());

        let su = c
            .get(AttributeDescriptor::new(3, IMPORT, 3), None)
            .await
            .unwrap();
        let su = ScalerUnit::from_data(&su).unwrap();
        assert_eq!(su, ScalerUnit::new(0, DlmsUnit::WATT_HOUR));
        let v = c
            .get(AttributeDescriptor::new(3, IMPORT, 2), None)
            .await
            .unwrap();
        assert_eq!(
            su.quantity(&v).unwrap(),
            Quantity::new(124_690, 0, Unit::WattHour)
        );

        let rows = c
            .get(
                AttributeDescriptor::new(7, PROFILE, 2),
                Some(section_7_range()),
            )
            .await
            .unwrap();
        assert_eq!(rows, section_7_rows());
        c.release().await.unwrap();
        c.disconnect().await.unwrap();
        let s = c.stats();
        assert_eq!((s.exchanges, s.retransmissions), (7, 0));
        assert_eq!(s.bytes_sent, 8 * 7 + 31 + 13 * 3 + 64 + 7 + 5);
    });
}

// ----- HDLC: the §1.2.9 skeleton, segmentation of §1.2.7 -----

#[tokio::test(start_paused = true)]
async fn hdlc_skeleton_of_section_1_2_9() {
    let steps = vec![
        expect(SNRM),
        send(UA_154),
        expect(
            "7E A0 2C 02 23 21 10 AF 9F E6 E6 00 60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 1E 1D FF FF C5 E4 7E",
        ),
        send(
            "7E A0 38 21 02 23 30 34 E7 E6 E7 00 61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 1E 1D 04 C8 00 07 B8 6A 7E",
        ),
        expect(
            "7E A0 1A 02 23 21 32 F6 72 E6 E6 00 C0 01 C1 00 08 00 00 01 00 00 FF 02 00 60 1A 7E",
        ),
        send(
            "7E A0 1F 21 02 23 52 6D F7 E6 E7 00 C4 01 C1 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80 C3 B3 7E",
        ),
        expect(DISC),
        send(UA_DISC),
    ];
    let mut opts = hdlc_opts(0x00_1E1D, 0xFFFF);
    opts.release = false;
    scripted!(steps, opts, |c| {
        assert_eq!(
            c.link().hdlc_parameters(),
            Some(HdlcParameters {
                max_info_transmit: 154,
                max_info_receive: 154,
                window_transmit: 1,
                window_receive: 1
            })
        );
        let n = c.associate().await.unwrap();
        assert_eq!(n.server_max_receive_pdu, 1224);
        let t = c
            .get(AttributeDescriptor::new(8, CLOCK, 2), None)
            .await
            .unwrap();
        assert_eq!(
            t,
            Data::OctetString(hex("07 E1 0A 01 07 01 07 1E 00 FF C4 80"))
        );
        c.finish().await.unwrap();
        assert_eq!(c.stats().exchanges, 4);
    });
}

#[tokio::test(start_paused = true)]
async fn section_7_over_hdlc_with_the_segments_of_section_1_2_7() {
    let step10 = hex(SESSION_STEP_10);
    let first = format!(
        "7E A8 8A 21 02 23 96 5C 4E E6 E7 00 {} ED C5 7E",
        HexBytes(&step10[..125])
    );
    let steps = vec![
        expect(SNRM),
        send(UA_154),
        c_i(0, 0, &hex(AARQ_7)),
        s_i(0, 1, &hex(AARE_7)),
        c_i(1, 1, &hex("C0 01 C2 00 08 00 00 01 00 00 FF 02 00")),
        s_i(
            1,
            2,
            &hex("C4 01 C2 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80"),
        ),
        c_i(2, 2, &hex("C0 01 C3 00 03 01 00 01 08 00 FF 02 00")),
        s_i(2, 3, &hex("C4 01 C3 00 06 00 01 E7 12")),
        c_i(3, 3, &hex(STEP_9)),
        send(&first),
        expect("7E A0 08 02 23 21 91 AF 47 7E"),
        send("7E A0 0D 21 02 23 98 F3 3C 04 09 0C 62 B1 7E"),
        c_i(4, 5, &hex("C0 02 C4 00 00 00 01")),
        s_i(5, 5, &hex(SESSION_STEP_12)),
        c_i(5, 6, &hex("62 03 80 01 00")),
        s_i(6, 6, &hex("63 03 80 01 00")),
        expect(DISC),
        send(UA_DISC),
    ];
    let mut opts = hdlc_opts(0x00_7E1F, 128);
    opts.invoke_id_and_priority = InvokeIdAndPriority(0xC2);
    scripted!(steps, opts, |c| {
        c.associate().await.unwrap();
        c.get(AttributeDescriptor::new(8, CLOCK, 2), None)
            .await
            .unwrap();
        let v = c
            .get(AttributeDescriptor::new(3, IMPORT, 2), None)
            .await
            .unwrap();
        assert_eq!(v, Data::DoubleLongUnsigned(124_690));
        let rows = c
            .get(
                AttributeDescriptor::new(7, PROFILE, 2),
                Some(section_7_range()),
            )
            .await
            .unwrap();
        assert_eq!(rows, section_7_rows());
        c.finish().await.unwrap();
        assert_eq!(c.stats().retransmissions, 0);
    });
}

#[tokio::test(start_paused = true)]
async fn segmented_answer_is_acknowledged_with_the_guides_rr() {
    // The AARE in two segments: after the first (N(S) 0) the client asks for the next with
    // RR N(R)=1, the constructed frame of §1.2.9.
    let aare = hex(AARE_7);
    let mut info = crate::hdlc::LLC_RESPONSE.to_vec();
    info.extend_from_slice(&aare);
    let seg = |ns: u8, more: bool, part: &[u8]| HdlcFrame {
        segmented: more,
        destination: client_addr(),
        source: server_addr(),
        control: Control::I {
            send_seq: ns,
            recv_seq: 1,
            poll_final: true,
        },
        information: part.to_vec(),
    };
    let steps = vec![
        expect(SNRM),
        send(UA_154),
        c_i(0, 0, &hex(AARQ_7)),
        Step::Send(seg(0, true, &info[..20]).encode().unwrap()),
        expect("7E A0 08 02 23 21 31 A5 E2 7E"),
        Step::Send(seg(1, false, &info[20..]).encode().unwrap()),
    ];
    let mut opts = hdlc_opts(0x00_7E1F, 128);
    opts.release = false;
    scripted!(steps, opts, |c| {
        let n = c.associate().await.unwrap();
        assert_eq!(n.conformance, Conformance(0x00_501F));
    });
}

/// An answer in windows of 3 (the UA grants the meter a transmit window of 3): a frame lost
/// inside the window makes the window's last frame arrive out of sequence, and the client asks
/// for the missing one with RR N(R)=1; a window repeated because our RR was lost is answered
/// with the same RR again; the answer is whole.
#[tokio::test(start_paused = true)]
async fn answers_in_windows_with_a_lost_and_a_repeated_frame() {
    let ua = HdlcFrame::new(
        client_addr(),
        server_addr(),
        Control::Ua { poll_final: true },
    )
    .with_information(
        HdlcParameters {
            max_info_transmit: 128,
            max_info_receive: 128,
            window_transmit: 3,
            window_receive: 1,
        }
        .encode(),
    )
    .encode()
    .unwrap();
    let mut info = crate::hdlc::LLC_RESPONSE.to_vec();
    info.extend_from_slice(&hex(AARE_7));
    let parts: Vec<&[u8]> = info.chunks(12).collect();
    assert_eq!(parts.len(), 4);
    let seg = |ns: u8, poll_final: bool| {
        HdlcFrame {
            segmented: ns < 3,
            destination: client_addr(),
            source: server_addr(),
            control: Control::I {
                send_seq: ns,
                recv_seq: 1,
                poll_final,
            },
            information: parts[usize::from(ns)].to_vec(),
        }
        .encode()
        .unwrap()
    };
    let rr = client_rr;
    let steps = vec![
        expect(SNRM),
        Step::Send(ua),
        c_i(0, 0, &hex(AARQ_7)),
        // Frame 1 lost: 0, then 2 with the final bit.
        Step::Send([seg(0, false), seg(2, true)].concat()),
        Step::Expect(rr(1)),
        Step::Send([seg(1, false), seg(2, true)].concat()),
        Step::Expect(rr(3)),
        // Our RR lost: the meter repeats the window's last frames.
        Step::Send([seg(1, false), seg(2, true)].concat()),
        Step::Expect(rr(3)),
        Step::Send(seg(3, true)),
    ];
    let mut opts = hdlc_opts(0x00_7E1F, 128);
    opts.release = false;
    scripted!(steps, opts, |c| {
        assert_eq!(
            c.link().hdlc_parameters().map(|p| p.window_receive),
            Some(3)
        );
        let n = c.associate().await.unwrap();
        assert_eq!(n.conformance, Conformance(0x00_501F));
        assert_eq!(c.stats().retransmissions, 2);
    });
}

#[tokio::test(start_paused = true)]
async fn bad_fcs_is_retried_then_succeeds() {
    let get = hex("C0 01 C1 00 08 00 00 01 00 00 FF 02 00");
    let answer = hex("C4 01 C1 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80");
    // The same APDU with invoke-id-and-priority C2 (the next request).
    let invoke_c2 = |apdu: &[u8]| -> Vec<u8> {
        let mut v = apdu.to_vec();
        v[2] = 0xC2;
        v
    };
    let good = i_frame(false, 1, 2, &answer);
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 6] ^= 0x40; // an information byte: HCS still good, FCS wrong
    let steps = vec![
        expect(SNRM),
        send(UA_154),
        c_i(0, 0, &hex(AARQ_7)),
        s_i(0, 1, &hex(AARE_7)),
        c_i(1, 1, &get),
        Step::Send(bad),
        // The same frame again, same N(S): the meter answers the repeat.
        c_i(1, 1, &get),
        Step::Send(good),
        // A silent meter: the request goes out again after the time-out.
        c_i(2, 2, &invoke_c2(&get)),
        c_i(2, 2, &invoke_c2(&get)),
        s_i(2, 3, &invoke_c2(&answer)),
    ];
    let mut opts = hdlc_opts(0x00_7E1F, 128);
    opts.release = false;
    scripted!(steps, opts, |c| {
        c.associate().await.unwrap();
        for _ in 0..2 {
            let t = c
                .get(AttributeDescriptor::new(8, CLOCK, 2), None)
                .await
                .unwrap();
            assert_eq!(
                t,
                Data::OctetString(hex("07 E1 0A 01 07 01 07 1E 00 FF C4 80"))
            );
        }
        assert_eq!(c.stats().retransmissions, 2);
    });
}

#[tokio::test(start_paused = true)]
async fn a_silent_meter_ends_in_a_typed_error() {
    let steps = vec![
        expect(SNRM),
        expect(SNRM),
        expect(SNRM),
        expect(SNRM),
        Step::Wait(Duration::from_secs(60)),
    ];
    let (client_io, meter_io) = duplex(4096);
    let peer = tokio::spawn(play(meter_io, steps));
    let e = DlmsClient::connect(client_io, hdlc_opts(0x00_7E1F, 128))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::RetriesExhausted { attempts: 4, .. }),
        "{e}"
    );
    assert!(e.is_transient());
    peer.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn dm_while_connected_is_a_link_refusal() {
    let steps = vec![
        expect(SNRM),
        send(UA_154),
        c_i(0, 0, &hex(AARQ_7)),
        send("7E A0 08 21 02 23 1F 10 EA 7E"),
    ];
    let mut opts = hdlc_opts(0x00_7E1F, 128);
    opts.release = false;
    scripted!(steps, opts, |c| {
        let e = c.associate().await.unwrap_err();
        assert!(matches!(e, Error::Meter(MeterError::Link { .. })), "{e}");
        assert!(e.to_string().contains("disconnected mode"), "{e}");
    });
}

/// The L+G E650 accepts 62-byte information fields (guide §1.2.6): the 107-byte ciphered
/// AARQ goes out in two segments, the second after the meter's RR. With `busy`, the meter
/// first answers each segment with RNR ("taken, but busy") and the client polls it with RR
/// until it is ready.
async fn segmented_aarq(busy: bool) {
    let ua_e650 = HdlcFrame::new(
        client_addr(),
        server_addr(),
        Control::Ua { poll_final: true },
    )
    .with_information(hex(
        "81 80 12 05 01 80 06 01 3E 07 04 00 00 00 01 08 04 00 00 00 01",
    ))
    .encode()
    .unwrap();
    let aarq = hex(AARQ_CIPHERED_LLS);
    let frames = information_frames(
        server_addr(),
        client_addr(),
        &aarq,
        Direction::ClientToServer,
        62,
        0,
        0,
    )
    .unwrap();
    assert_eq!(frames.len(), 2);
    let from_meter = |control: Control| {
        HdlcFrame::new(client_addr(), server_addr(), control)
            .encode()
            .unwrap()
    };
    // The client's poll: RR with its N(R) (nothing received yet) and the poll bit.
    let poll = client_rr(0);
    let rr = |n: u8| Control::Rr {
        recv_seq: n,
        poll_final: true,
    };
    let rnr = |n: u8| Control::Rnr {
        recv_seq: n,
        poll_final: true,
    };
    let mut steps = vec![
        expect(SNRM),
        Step::Send(ua_e650),
        Step::Expect(frames[0].encode().unwrap()),
    ];
    if busy {
        steps.extend([
            Step::Send(from_meter(rnr(1))),
            Step::Expect(poll.clone()),
            Step::Send(from_meter(rnr(1))),
            Step::Expect(poll.clone()),
        ]);
    }
    steps.extend([
        Step::Send(from_meter(rr(1))),
        Step::Expect(frames[1].encode().unwrap()),
    ]);
    if busy {
        steps.extend([Step::Send(from_meter(rnr(2))), Step::Expect(poll)]);
    }
    steps.push(s_i(0, 2, &ciphered_aare()));
    scripted!(steps, ciphered_lls_hdlc_opts(), |c| {
        assert_eq!(
            c.link().hdlc_parameters().map(|p| p.max_info_transmit),
            Some(62)
        );
        let n = c.associate().await.unwrap();
        assert_eq!(n.conformance, Conformance(0x00_7C1F));
        assert_eq!(n.server_max_receive_pdu, 1024);
    });
}

/// HDLC, LLS and the dedicated key of [`AARQ_CIPHERED_LLS`], no release.
fn ciphered_lls_hdlc_opts() -> SessionOptions {
    let mut opts = hdlc_opts(0x00_7E1F, 1200);
    opts.release = false;
    opts.authentication = Authentication::Low {
        password: b"12345678".to_vec(),
    };
    opts.security = Some(green_book_security(Ciphering::Dedicated));
    opts
}

/// A meter that takes windows of 3 frames of 32 bytes: the AARQ's first three segments go out
/// back to back (the poll bit on the third), the meter's RR says the second was lost, the
/// client sends the second and third again, then the last segment after the RR.
#[tokio::test(start_paused = true)]
async fn requests_go_out_in_windows_and_lost_frames_are_sent_again() {
    let meter_params = HdlcParameters {
        max_info_transmit: 128,
        max_info_receive: 32,
        window_transmit: 1,
        window_receive: 3,
    };
    let ua = HdlcFrame::new(
        client_addr(),
        server_addr(),
        Control::Ua { poll_final: true },
    )
    .with_information(meter_params.encode())
    .encode()
    .unwrap();
    let aarq = hex(AARQ_CIPHERED_LLS);
    let mut frames = information_frames(
        server_addr(),
        client_addr(),
        &aarq,
        Direction::ClientToServer,
        32,
        0,
        0,
    )
    .unwrap();
    assert_eq!(frames.len(), 4, "an AARQ of {} bytes", aarq.len());
    for f in &mut frames[..2] {
        if let Control::I { poll_final, .. } = &mut f.control {
            *poll_final = false;
        }
    }
    let bytes: Vec<Vec<u8>> = frames.iter().map(|f| f.encode().unwrap()).collect();
    let rr = |n: u8| {
        HdlcFrame::new(
            client_addr(),
            server_addr(),
            Control::Rr {
                recv_seq: n,
                poll_final: true,
            },
        )
        .encode()
        .unwrap()
    };
    let steps = vec![
        expect(SNRM),
        Step::Send(ua),
        Step::Expect([bytes[0].clone(), bytes[1].clone(), bytes[2].clone()].concat()),
        Step::Send(rr(1)),
        Step::Expect([bytes[1].clone(), bytes[2].clone()].concat()),
        Step::Send(rr(3)),
        Step::Expect(bytes[3].clone()),
        s_i(0, 4, &ciphered_aare()),
    ];
    scripted!(steps, ciphered_lls_hdlc_opts(), |c| {
        assert_eq!(
            c.link()
                .hdlc_parameters()
                .map(|p| (p.max_info_transmit, p.window_transmit)),
            Some((32, 3))
        );
        c.associate().await.unwrap();
        assert_eq!(c.stats().retransmissions, 1);
    });
}

#[tokio::test(start_paused = true)]
async fn requests_are_segmented_to_the_meters_receive_limit() {
    segmented_aarq(false).await;
}

#[tokio::test(start_paused = true)]
async fn a_busy_meter_is_polled_until_ready() {
    segmented_aarq(true).await;
}

// ----- association: LLS, HLS-GMAC, ciphering -----

const AARQ_LLS: &str = "60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 31 32 33 34 35 36 37 38 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0";

#[tokio::test(start_paused = true)]
async fn wrong_lls_password_is_a_typed_refusal() {
    let rejected = Aare::rejected(
        ApplicationContext::LN,
        AssociationResult::RejectedPermanent,
        apdu::AcseServiceUser::AUTHENTICATION_FAILURE,
        None,
    )
    .encode();
    let steps = vec![c_w(&hex(AARQ_LLS)), s_w(&rejected)];
    let mut opts = wrapper_opts(0x00_7E1F, 1200);
    opts.authentication = Authentication::Low {
        password: b"12345678".to_vec(),
    };
    scripted!(steps, opts, |c| {
        let e = c.associate().await.unwrap_err();
        match &e {
            Error::Meter(MeterError::AssociationRejected { diagnostic, .. }) => assert_eq!(
                *diagnostic,
                apdu::ResultSourceDiagnostic::User(apdu::AcseServiceUser::AUTHENTICATION_FAILURE)
            ),
            other => panic!("{other}"),
        }
        assert!(!e.is_transient());
        assert!(e.to_string().contains("authentication failure"), "{e}");
        assert!(!c.is_associated());
    });
}

/// §2.7 pass 1 with the calling-AP-title we always send for HLS-GMAC (the Green Book example
/// leaves it out; the system titles are those of §5.6).
const HLS_PASS_1: &str = "60 42 A1 09 06 07 60 85 74 05 08 01 01 A6 0A 04 08 4D 4D 4D 00 00 00 00 01 8A 02 07 80 8B 07 60 85 74 05 08 02 05 AC 0A 80 08 4B 35 36 69 56 61 67 59 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0";
const HLS_PASS_2: &str = "61 42 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 0E 88 02 07 80 89 07 60 85 74 05 08 02 05 AA 0A 80 08 50 36 77 52 4A 32 31 46 BE 10 04 0E 08 00 06 5F 1F 04 00 00 50 1F 01 F4 00 07";
const HLS_PASS_3: &str = "C3 01 C1 00 0F 00 00 28 00 00 FF 01 01 09 11 10 00 00 00 01 1A 52 FE 7D D3 E7 27 48 97 3C 1E 28";
const HLS_PASS_4: &str =
    "C7 01 C1 00 01 00 09 11 10 01 23 45 67 FE 14 66 AF B3 DB CD 4F 93 89 E2 B7";

fn green_book_keys() -> Suite0Keys {
    Suite0Keys::new(
        hex("000102030405060708090A0B0C0D0E0F").try_into().unwrap(),
        hex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF").try_into().unwrap(),
    )
}

fn hls_opts() -> SessionOptions {
    let mut opts = wrapper_opts(0x00_7E1F, 1200);
    opts.authentication = Authentication::HighGmac;
    opts.hls_challenge = Some(b"K56iVagY".to_vec());
    let mut s = SecuritySettings::new(
        green_book_keys(),
        SystemTitle(hex("4D4D4D0000000001").try_into().unwrap()),
        1,
    );
    s.ciphering = Ciphering::None;
    s.server_title = Some(SystemTitle(hex("4D4D4D0000BC614E").try_into().unwrap()));
    opts.security = Some(s);
    opts
}

#[tokio::test(start_paused = true)]
async fn hls_gmac_with_the_vectors_of_section_5_6() {
    let steps = vec![
        c_w(&hex(HLS_PASS_1)),
        s_w(&hex(HLS_PASS_2)),
        c_w(&hex(HLS_PASS_3)),
        s_w(&hex(HLS_PASS_4)),
        c_w(&hex("C0 01 C2 00 08 00 00 01 00 00 FF 02 00")),
        s_w(&hex(
            "C4 01 C2 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80",
        )),
        c_w(&hex("62 03 80 01 00")),
        s_w(&hex("63 03 80 01 00")),
    ];
    scripted!(steps, hls_opts(), |c| {
        c.associate().await.unwrap();
        assert!(c.is_associated());
        assert_eq!(c.next_invocation_counter(), Some(2));
        c.get(AttributeDescriptor::new(8, CLOCK, 2), None)
            .await
            .unwrap();
        c.finish().await.unwrap();
    });
}

#[tokio::test(start_paused = true)]
async fn hls_gmac_with_a_wrong_key_fails_either_way() {
    // The meter refuses our f(StoC) (our key is wrong) ...
    let steps = vec![
        c_w(&hex(HLS_PASS_1)),
        s_w(&hex(HLS_PASS_2)),
        c_w(&hex(HLS_PASS_3)),
        s_w(&hex("C7 01 C1 FA 00")),
    ];
    scripted!(steps, hls_opts(), |c| {
        let e = c.associate().await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Meter(MeterError::HlsRefused {
                    result: DataAccessResult::OtherReason
                })
            ),
            "{e}"
        );
        assert!(!c.is_associated());
    });
    // ... or the meter's f(CtoS) does not verify (its key is wrong).
    let mut pass_4 = hex(HLS_PASS_4);
    let n = pass_4.len();
    pass_4[n - 1] ^= 1;
    let steps = vec![
        c_w(&hex(HLS_PASS_1)),
        s_w(&hex(HLS_PASS_2)),
        c_w(&hex(HLS_PASS_3)),
        s_w(&pass_4),
    ];
    scripted!(steps, hls_opts(), |c| {
        let e = c.associate().await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Security {
                    source: SecurityError::AuthenticationFailed,
                    ..
                }
            ),
            "{e}"
        );
        assert!(!c.is_associated());
    });
}

/// §2.6: ciphered context, LLS, and the glo-initiate-request of §5.5 (dedicated key
/// 00112233…EEFF, IC 01234567).
const AARQ_CIPHERED_LLS: &str = "60 66 A1 09 06 07 60 85 74 05 08 01 03 A6 0A 04 08 4D 4D 4D 00 00 BC 61 4E 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 31 32 33 34 35 36 37 38 BE 34 04 32 21 30 30 01 23 45 67 80 13 02 FF 8A 78 74 13 3D 41 4C ED 25 B4 25 34 D2 8D B0 04 77 20 60 6B 17 5B D5 22 11 BE 68 41 DB 20 4D 39 EE 6F DB 8E 35 68 55";
/// The glo-initiate-response of the §2.8 RLRE (conformance 007C1F, max PDU 1024).
const GLO_INITIATE_RESPONSE: &str = "28 1F 30 01 23 45 67 89 12 14 A0 84 5E 47 57 14 38 3F 65 BC 19 74 5C A2 35 90 65 25 E4 F3 E1 C8 93";

fn green_book_title() -> SystemTitle {
    SystemTitle(hex("4D4D4D0000BC614E").try_into().unwrap())
}

fn green_book_security(ciphering: Ciphering) -> SecuritySettings {
    let mut s = SecuritySettings::new(green_book_keys(), green_book_title(), 0x0123_4567);
    s.ciphering = ciphering;
    s.dedicated_key = Some(hex("00112233445566778899AABBCCDDEEFF").try_into().unwrap());
    s
}

fn ciphered_aare() -> Vec<u8> {
    let ui = UserInformation::decode(&hex(GLO_INITIATE_RESPONSE)).unwrap();
    let mut aare = Aare::accepted(ApplicationContext::LN_CIPHERED, ui);
    aare.responding_ap_title = Some(green_book_title().0.to_vec());
    aare.encode()
}

#[tokio::test(start_paused = true)]
async fn ciphered_association_with_dedicated_key() {
    let keys = green_book_keys();
    let ded = keys.with_encryption_key(hex("00112233445566778899AABBCCDDEEFF").try_into().unwrap());
    let title = green_book_title();
    let seal = |plain: &str, mode, ic, keys: &Suite0Keys| {
        CipheredApdu::seal(
            &hex(plain),
            mode,
            SecurityControl::AUTHENTICATED_ENCRYPTED,
            &title,
            ic,
            keys,
        )
        .unwrap()
        .encode()
    };
    let get = "C0 01 C1 00 08 00 00 01 00 00 FF 02 00";
    let answer = "C4 01 C1 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80";
    let initiate = InitiateRequest {
        dedicated_key: Some(hex("00112233445566778899AABBCCDDEEFF")),
        ..InitiateRequest::new(Conformance(0x00_7E1F), 1200)
    };
    let mut rlrq = Rlrq::normal();
    rlrq.user_information = Some(UserInformation::Ciphered(
        CipheredApdu::seal(
            &initiate.encode(),
            CipheringMode::Global,
            SecurityControl::AUTHENTICATED_ENCRYPTED,
            &title,
            0x0123_456A,
            &keys,
        )
        .unwrap(),
    ));
    let steps = vec![
        c_w(&hex(AARQ_CIPHERED_LLS)),
        s_w(&ciphered_aare()),
        c_w(&seal(get, CipheringMode::Dedicated, 0x0123_4568, &ded)),
        s_w(&seal(answer, CipheringMode::Dedicated, 0x0123_4568, &ded)),
        // The next answer replays the counter.
        c_w(&seal(
            "C0 01 C2 00 08 00 00 01 00 00 FF 02 00",
            CipheringMode::Dedicated,
            0x0123_4569,
            &ded,
        )),
        s_w(&seal(
            "C4 01 C2 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80",
            CipheringMode::Dedicated,
            0x0123_4568,
            &ded,
        )),
        c_w(&rlrq.encode()),
        send(
            "00 01 00 01 00 10 00 2A 63 28 80 01 00 BE 23 04 21 28 1F 30 01 23 45 67 89 12 14 A0 84 5E 47 57 14 38 3F 65 BC 19 74 5C A2 35 90 65 25 E4 F3 E1 C8 93",
        ),
    ];
    let mut opts = wrapper_opts(0x00_7E1F, 1200);
    opts.authentication = Authentication::Low {
        password: b"12345678".to_vec(),
    };
    opts.security = Some(green_book_security(Ciphering::Dedicated));
    scripted!(steps, opts, |c| {
        let n = c.associate().await.unwrap();
        assert_eq!(n.context, ApplicationContext::LN_CIPHERED);
        assert_eq!(n.server_title, Some(title));
        let t = c
            .get(AttributeDescriptor::new(8, CLOCK, 2), None)
            .await
            .unwrap();
        assert_eq!(
            t,
            Data::OctetString(hex("07 E1 0A 01 07 01 07 1E 00 FF C4 80"))
        );
        let e = c
            .get(AttributeDescriptor::new(8, CLOCK, 2), None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Security {
                    source: SecurityError::Replay { .. },
                    ..
                }
            ),
            "{e}"
        );
        c.release().await.unwrap();
    });
}

#[tokio::test(start_paused = true)]
async fn answer_sealed_with_a_wrong_key_is_refused() {
    let title = green_book_title();
    let wrong = Suite0Keys::new([9; 16], [9; 16]);
    let answer = CipheredApdu::seal(
        &hex("C4 01 C1 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80"),
        CipheringMode::Global,
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &title,
        0x0123_4568,
        &wrong,
    )
    .unwrap()
    .encode();
    let get = CipheredApdu::seal(
        &hex("C0 01 C1 00 08 00 00 01 00 00 FF 02 00"),
        CipheringMode::Global,
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &title,
        0x0123_4568,
        &green_book_keys(),
    )
    .unwrap()
    .encode();
    let mut aarq = apdu::Aarq::decode(&hex(AARQ_CIPHERED_LLS)).unwrap();
    // Global ciphering: the same InitiateRequest without a dedicated key.
    aarq.user_information = Some(UserInformation::Ciphered(
        CipheredApdu::seal(
            &InitiateRequest::new(Conformance(0x00_7E1F), 1200).encode(),
            CipheringMode::Global,
            SecurityControl::AUTHENTICATED_ENCRYPTED,
            &title,
            0x0123_4567,
            &green_book_keys(),
        )
        .unwrap(),
    ));
    let steps = vec![
        c_w(&aarq.encode()),
        s_w(&ciphered_aare()),
        c_w(&get),
        s_w(&answer),
    ];
    let mut opts = wrapper_opts(0x00_7E1F, 1200);
    opts.authentication = Authentication::Low {
        password: b"12345678".to_vec(),
    };
    opts.security = Some(green_book_security(Ciphering::Global));
    opts.release = false;
    scripted!(steps, opts, |c| {
        c.associate().await.unwrap();
        let e = c
            .get(AttributeDescriptor::new(8, CLOCK, 2), None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Security {
                    source: SecurityError::AuthenticationFailed,
                    ..
                }
            ),
            "{e}"
        );
    });
}

// ----- services and refusals -----

fn aare_granting(conformance: u32, server_max: u16) -> Vec<u8> {
    Aare::accepted(
        ApplicationContext::LN,
        UserInformation::InitiateResponse(InitiateResponse::new(
            Conformance(conformance),
            server_max,
        )),
    )
    .encode()
}

fn plain_aarq(conformance: u32, max_pdu: u16) -> Vec<u8> {
    apdu::Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(InitiateRequest::new(Conformance(conformance), max_pdu)),
    )
    .encode()
}

/// Association steps of a plain wrapper session granting `conformance`.
fn associated(conformance: u32, server_max: u16) -> Vec<Step> {
    vec![
        c_w(&plain_aarq(0x00_7E1F, 0xFFFF)),
        s_w(&aare_granting(conformance, server_max)),
    ]
}

fn opts_ffff() -> SessionOptions {
    let mut o = wrapper_opts(0x00_7E1F, 0xFFFF);
    o.release = false;
    o
}

#[tokio::test(start_paused = true)]
async fn exception_and_data_access_results_are_typed_errors() {
    let mut steps = associated(0x00_1E1D, 500);
    steps.extend([
        c_w(&hex("C0 01 C1 00 08 00 00 01 00 00 FF 02 00")),
        s_w(&hex("D8 01 02")),
        c_w(&hex("C0 01 C2 00 08 00 00 01 00 00 FF 02 00")),
        s_w(&hex("C4 01 C2 01 01")),
        c_w(&hex("C0 01 C3 00 08 00 00 01 00 00 FF 02 00")),
        s_w(&hex("C4 02 C3 00 00 00 00 01 00 02 09 0C")),
        c_w(&hex("C0 02 C3 00 00 00 01")),
        s_w(&hex("C4 02 C3 01 00 00 00 02 01 13")),
    ]);
    scripted!(steps, opts_ffff(), |c| {
        c.associate().await.unwrap();
        let clock = AttributeDescriptor::new(8, CLOCK, 2);
        let e = c.get(clock, None).await.unwrap_err();
        match &e {
            Error::Meter(MeterError::Exception { response, .. }) => {
                assert_eq!(response.state_error, apdu::StateError::ServiceNotAllowed);
                assert_eq!(
                    response.service_error,
                    apdu::ServiceError::ServiceNotSupported
                );
            }
            other => panic!("{other}"),
        }
        let e = c.get(clock, None).await.unwrap_err();
        assert_eq!(
            e.data_access_result(),
            Some(DataAccessResult::HardwareFault)
        );
        assert!(e.to_string().contains("hardware-fault"), "{e}");
        let e = c.get(clock, None).await.unwrap_err();
        assert_eq!(
            e.data_access_result(),
            Some(DataAccessResult::DataBlockNumberInvalid)
        );
    });
}

#[tokio::test(start_paused = true)]
async fn a_connection_dropped_in_a_block_transfer_is_a_typed_error() {
    let steps = vec![
        expect(&format!("00 01 00 10 00 01 00 1F {AARQ_7}")),
        send(&format!("00 01 00 01 00 10 00 2B {AARE_7}")),
        c_w(&hex(&STEP_9.replacen("C4", "C1", 1))),
        send(&format!(
            "00 01 00 01 00 10 00 80 {}",
            SESSION_STEP_10.replacen("C4 02 C4", "C4 02 C1", 1)
        )),
        c_w(&hex("C0 02 C1 00 00 00 01")),
        Step::Close,
    ];
    scripted!(steps, wrapper_opts(0x00_7E1F, 128), |c| {
        c.associate().await.unwrap();
        let e = c
            .get(
                AttributeDescriptor::new(7, PROFILE, 2),
                Some(section_7_range()),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Closed { .. }), "{e}");
        assert!(e.to_string().contains("block 2"), "{e}");
        assert!(e.is_transient());
    });
}

#[tokio::test(start_paused = true)]
async fn an_unexpected_block_number_aborts_the_transfer() {
    let mut steps = associated(0x00_1E1D, 500);
    steps.extend([
        c_w(&hex("C0 01 C1 00 08 00 00 01 00 00 FF 02 00")),
        s_w(&hex("C4 02 C1 00 00 00 00 01 00 02 09 0C")),
        c_w(&hex("C0 02 C1 00 00 00 01")),
        s_w(&hex(
            "C4 02 C1 01 00 00 00 03 00 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80",
        )),
    ]);
    scripted!(steps, opts_ffff(), |c| {
        c.associate().await.unwrap();
        let e = c
            .get(AttributeDescriptor::new(8, CLOCK, 2), None)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Protocol { .. }), "{e}");
        assert!(
            e.to_string().contains("block 3 arrived where block 2"),
            "{e}"
        );
    });
}

#[tokio::test(start_paused = true)]
async fn get_with_list_set_in_blocks_and_action() {
    let ldn = b"ISK1030000123456";
    let mut list_answer = hex("C4 03 C1 02 00 09 10");
    list_answer.extend_from_slice(ldn);
    list_answer.extend(hex("00 09 0C 07 E5 06 03 04 0E 09 17 00 FF C4 00"));
    let mut steps = associated(0x00_1E1D, 26);
    steps.extend([
        // §3.2 GET with list: logical device name and clock.
        c_w(&hex(
            "C0 03 C1 02 00 01 00 00 2A 00 00 FF 02 00 00 08 00 00 01 00 00 FF 02 00",
        )),
        s_w(&list_answer),
        // §3.3: the clock SET in two blocks. The meter takes 26-byte APDUs, one less than the
        // normal SET needs; blocks are filled up, so the cut is one byte earlier than in the
        // guide's example (which does not fill its first block).
        c_w(&hex(
            "C1 02 C2 00 08 00 00 01 00 00 FF 02 00 00 00 00 00 01 07 09 0C 07 E5 01 18 FF",
        )),
        s_w(&hex("C5 02 C2 00 00 00 01")),
        c_w(&hex("C1 03 C2 01 00 00 00 02 07 0E 30 39 50 FF C4 00")),
        s_w(&hex("C5 03 C2 00 00 00 00 02")),
        // §3.4: remote disconnect.
        c_w(&hex("C3 01 C3 00 46 00 00 60 03 0A FF 01 01 0F 00")),
        s_w(&hex("C7 01 C3 00 00")),
    ]);
    scripted!(steps, opts_ffff(), |c| {
        c.associate().await.unwrap();
        let r = c
            .get_list(&[
                AttributeRequest::new(AttributeDescriptor::new(
                    1,
                    ObisCode::new(0, 0, 42, 0, 0, 255),
                    2,
                )),
                AttributeRequest::new(AttributeDescriptor::new(8, CLOCK, 2)),
            ])
            .await
            .unwrap();
        assert_eq!(r[0], Ok(Data::OctetString(ldn.to_vec())));
        assert_eq!(
            r[1],
            Ok(Data::OctetString(hex(
                "07 E5 06 03 04 0E 09 17 00 FF C4 00"
            )))
        );
        c.set(
            AttributeDescriptor::new(8, CLOCK, 2),
            None,
            &Data::OctetString(hex("07 E5 01 18 FF 0E 30 39 50 FF C4 00")),
        )
        .await
        .unwrap();
        let out = c
            .action(
                MethodDescriptor::new(70, ObisCode::new(0, 0, 96, 3, 10, 255), 1),
                Some(Data::Integer(0)),
            )
            .await
            .unwrap();
        assert_eq!(out, None);
    });
}

#[tokio::test(start_paused = true)]
async fn services_not_granted_are_not_used() {
    // §2.4: the meter grants 00501F; a SET that needs blocks must not be attempted.
    let mut steps = associated(0x00_501F, 26);
    steps.extend([
        c_w(&hex("C1 01 C1 00 08 00 00 01 00 00 FF 02 00 11 05")),
        s_w(&hex("C5 01 C1 03")),
    ]);
    scripted!(steps, opts_ffff(), |c| {
        c.associate().await.unwrap();
        let e = c
            .set(
                AttributeDescriptor::new(8, CLOCK, 2),
                None,
                &Data::OctetString(hex("07 E5 01 18 FF 0E 30 39 50 FF C4 00")),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotGranted {
                    service: "block transfer with SET",
                    ..
                }
            ),
            "{e}"
        );
        // A SET that fits goes out, and its refusal is typed.
        let e = c
            .set(
                AttributeDescriptor::new(8, CLOCK, 2),
                None,
                &Data::Unsigned(5),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.data_access_result(),
            Some(DataAccessResult::ReadWriteDenied)
        );
    });
}

// ----- a whole read against a small fake meter -----

/// A meter that answers from a table: AARQ, GET normal/next/with-list (in blocks when the
/// answer is longer than the client's PDU size), RLRQ. Records every GET it serves.
struct FakeMeter {
    values: HashMap<(u16, ObisCode, i8), Data>,
    requests: Vec<GetRequest>,
}

impl FakeMeter {
    async fn serve(mut self, mut io: DuplexStream) -> Vec<GetRequest> {
        let mut splitter = crate::wrapper::WrapperSplitter::default();
        let mut buf = vec![0u8; 4096];
        let mut max_pdu = 0xFFFF_usize;
        let mut pending: Vec<Vec<u8>> = Vec::new();
        loop {
            let frame = loop {
                if let Some(f) = splitter.next_frame() {
                    break f.unwrap();
                }
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return self.requests,
                    Ok(n) => splitter.push(&buf[..n]),
                }
            };
            let answer = match Apdu::decode(&frame.apdu).unwrap() {
                Apdu::Aarq(a) => {
                    if let Some(UserInformation::InitiateRequest(i)) = a.user_information {
                        max_pdu = usize::from(i.client_max_receive_pdu_size);
                    }
                    aare_granting(0x00_1E1D, 1024)
                }
                Apdu::Rlrq(_) => Rlre::normal().encode(),
                Apdu::GetRequest(r) => {
                    self.requests.push(r.clone());
                    match r {
                        GetRequest::Normal {
                            invoke, attribute, ..
                        } => {
                            let key = (
                                attribute.class_id,
                                attribute.instance,
                                attribute.attribute_id,
                            );
                            match self.values.get(&key) {
                                Some(v) => {
                                    let mut blocks = GetResponse::for_encoded_value(
                                        invoke,
                                        &v.encode(),
                                        max_pdu,
                                    )
                                    .unwrap()
                                    .into_iter()
                                    .map(|b| b.encode())
                                    .collect::<Vec<_>>();
                                    blocks.reverse();
                                    let first = blocks.pop().unwrap();
                                    pending = blocks;
                                    first
                                }
                                None => GetResponse::Normal {
                                    invoke,
                                    result: GetDataResult::Error(DataAccessResult::ObjectUndefined),
                                }
                                .encode(),
                            }
                        }
                        GetRequest::Next { .. } => pending.pop().unwrap(),
                        GetRequest::WithList { invoke, attributes } => GetResponse::WithList {
                            invoke,
                            results: attributes
                                .iter()
                                .map(|a| {
                                    let key = (
                                        a.attribute.class_id,
                                        a.attribute.instance,
                                        a.attribute.attribute_id,
                                    );
                                    match self.values.get(&key) {
                                        Some(v) => GetDataResult::Data(v.clone()),
                                        None => {
                                            GetDataResult::Error(DataAccessResult::ObjectUndefined)
                                        }
                                    }
                                })
                                .collect(),
                        }
                        .encode(),
                    }
                }
                other => panic!("the fake meter got {other:?}"),
            };
            let out = frame.reply(answer).encode().unwrap();
            if io.write_all(&out).await.is_err() {
                return self.requests;
            }
        }
    }
}

fn dt(bytes: &str) -> Data {
    Data::OctetString(hex(bytes))
}

fn su(scaler: i8, unit: u8) -> Data {
    ScalerUnit::new(scaler, DlmsUnit(unit)).to_data()
}

fn fake_meter() -> FakeMeter {
    let obj = |class: u16, ln: ObisCode| {
        Data::Structure(vec![
            Data::LongUnsigned(class),
            Data::Unsigned(0),
            Data::logical_name(ln),
            Data::Structure(vec![Data::Array(vec![]), Data::Array(vec![])]),
        ])
    };
    let serial = ObisCode::new(0, 0, 96, 1, 0, 255);
    let ldn = ObisCode::new(0, 0, 42, 0, 0, 255);
    let md = ObisCode::elec(1, 6, 0);
    let volts = ObisCode::elec(32, 7, 0);
    let billed = ObisCode::new(1, 0, 1, 8, 0, 101);
    let events = ObisCode::new(0, 0, 99, 98, 0, 255);
    let gas = ObisCode::new(7, 0, 3, 0, 0, 255);
    let list = Data::Array(vec![
        obj(15, ObisCode::new(0, 0, 40, 0, 0, 255)),
        obj(1, serial),
        obj(1, ldn),
        obj(8, CLOCK),
        obj(3, IMPORT),
        obj(3, ObisCode::elec(1, 8, 1)),
        obj(3, ObisCode::elec(2, 8, 0)),
        obj(3, ObisCode::elec(9, 8, 0)),
        obj(4, md),
        obj(3, volts),
        obj(3, billed),
        obj(3, gas),
        obj(7, PROFILE),
        obj(7, events),
        // an entry of the wrong shape
        Data::Structure(vec![Data::Null]),
    ]);
    let mut values = HashMap::new();
    let mut put = |class: u16, ln: ObisCode, attr: i8, v: Data| {
        values.insert((class, ln, attr), v);
    };
    put(15, ObisCode::new(0, 0, 40, 0, 0, 255), 2, list);
    put(1, serial, 2, Data::OctetString(b"12345678".to_vec()));
    put(1, ldn, 2, Data::OctetString(b"MMM0000012345678".to_vec()));
    put(8, CLOCK, 2, dt("07 E1 0A 01 07 01 07 1E 00 FF C4 80"));
    put(8, CLOCK, 3, Data::Long(-60));
    put(3, IMPORT, 3, su(0, 30));
    put(3, IMPORT, 2, Data::DoubleLongUnsigned(124_690));
    put(3, ObisCode::elec(1, 8, 1), 3, su(-3, 30));
    put(
        3,
        ObisCode::elec(1, 8, 1),
        2,
        Data::DoubleLongUnsigned(1_234_567),
    );
    put(3, ObisCode::elec(2, 8, 0), 3, su(0, 30));
    put(3, ObisCode::elec(2, 8, 0), 2, Data::DoubleLongUnsigned(0));
    // apparent import in m³: a unit the model does not have
    put(3, ObisCode::elec(9, 8, 0), 3, su(0, 13));
    put(3, ObisCode::elec(9, 8, 0), 2, Data::DoubleLongUnsigned(7));
    put(4, md, 3, su(0, 27));
    put(4, md, 2, Data::LongUnsigned(4500));
    put(4, md, 5, dt("07 E1 09 0F 05 12 1E 00 00 FF 88 80"));
    put(3, volts, 3, su(-1, 35));
    put(3, volts, 2, Data::LongUnsigned(2301));
    put(3, billed, 3, su(0, 30));
    put(3, billed, 2, Data::DoubleLongUnsigned(120_000));
    put(
        7,
        PROFILE,
        3,
        Data::decode(&hex("01 04 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00 02 04 12 00 01 09 06 00 00 60 0A 01 FF 0F 02 12 00 00 02 04 12 00 03 09 06 01 00 01 08 00 FF 0F 02 12 00 00 02 04 12 00 03 09 06 01 00 02 08 00 FF 0F 02 12 00 00")).unwrap(),
    );
    put(7, PROFILE, 4, Data::DoubleLongUnsigned(900));
    // The §7 rows, the second with a compressed (null) timestamp and a power-down status.
    let mut rows = section_7_rows();
    if let Data::Array(r) = &mut rows {
        if let Data::Structure(f) = &mut r[1] {
            f[0] = Data::Null;
            f[1] = Data::Unsigned(0x80);
        }
    }
    put(7, PROFILE, 2, rows);
    put(
        7,
        events,
        3,
        Data::Array(vec![
            CaptureObjectDefinition::CLOCK_TIME.to_data(),
            CaptureObjectDefinition::new(1, ObisCode::new(0, 0, 96, 11, 0, 255), 2).to_data(),
        ]),
    );
    put(7, events, 7, Data::DoubleLongUnsigned(3));
    let ev = |time: &str, code: u8| Data::Structure(vec![dt(time), Data::Unsigned(code)]);
    put(
        7,
        events,
        2,
        Data::Array(vec![
            ev("07 E1 09 1E 06 0A 00 00 00 FF C4 80", 1),
            ev("07 E1 09 1E 06 0A 05 00 00 FF C4 80", 2),
            ev("07 E1 09 1E 06 0B 00 00 00 FF C4 80", 99),
        ]),
    );
    FakeMeter {
        values,
        requests: Vec::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn whole_read_maps_the_object_list() {
    let (client_io, meter_io) = duplex(1 << 16);
    let meter = tokio::spawn(fake_meter().serve(meter_io));
    let mut opts = wrapper_opts(0x00_7E1F, 256);
    opts.release = true;
    let mut client = DlmsClient::connect(client_io, opts).await.unwrap();
    let ropts = ReadOptions {
        address: Some("tcp://meter server 1".into()),
        max_events: 2,
        ..ReadOptions::default()
    };
    let r = read_meter(&mut client, &ropts).await.unwrap();
    drop(client);
    let requests = meter.await.unwrap();

    assert_eq!(r.protocol, "dlms");
    assert_eq!(r.meter.serial, "12345678");
    assert_eq!(r.meter.manufacturer.as_deref(), Some("MMM"));
    assert_eq!(r.meter.ident.as_deref(), Some("MMM0000012345678"));
    let clock = r.clock.as_ref().unwrap();
    assert_eq!(clock.utc_offset_s, 3600);
    assert_eq!(
        clock.meter_time,
        Utc.with_ymd_and_hms(2017, 10, 1, 0, 7, 30).unwrap()
    );

    let reg = |obis| r.register(obis).map(|g| g.value);
    assert_eq!(reg(IMPORT), Some(Quantity::new(124_690, 0, Unit::WattHour)));
    assert_eq!(
        reg(ObisCode::elec(1, 8, 1)),
        Some(Quantity::new(1_234_567, -3, Unit::WattHour))
    );
    assert_eq!(
        r.register(ObisCode::elec(1, 8, 1)).unwrap().name,
        "active import, rate 1"
    );
    assert_eq!(reg(ObisCode::elec(9, 8, 0)), None);
    assert_eq!(r.max_demands.len(), 1);
    assert_eq!(r.max_demands[0].value, Quantity::new(4500, 0, Unit::Watt));
    // 2017-09-15 18:30 with deviation −120 → 16:30 UTC
    assert_eq!(
        r.max_demands[0].time,
        Some(Utc.with_ymd_and_hms(2017, 9, 15, 16, 30, 0).unwrap())
    );
    assert_eq!(r.instantaneous.len(), 1);
    assert_eq!(r.instantaneous[0].quantity, InstantQuantity::Voltage);
    assert_eq!(r.instantaneous[0].phase, Phase::L1);
    assert_eq!(
        r.instantaneous[0].value,
        Quantity::new(2301, -1, Unit::Volt)
    );
    assert_eq!(r.billing_history.len(), 1);
    assert_eq!(r.billing_history[0].index, 0);
    assert_eq!(
        r.billing_history[0].registers[0].value,
        Quantity::new(120_000, 0, Unit::WattHour)
    );

    // The profile was asked for by range from the meter's local midnight, as §7 does.
    let range = requests
        .iter()
        .find_map(|q| match q {
            GetRequest::Normal {
                attribute, access, ..
            } if attribute.instance == PROFILE && attribute.attribute_id == 2 => access.clone(),
            _ => None,
        })
        .unwrap();
    let range = RangeDescriptor::from_data(&range.parameters).unwrap();
    assert_eq!(range.from_value, dt("07 E1 0A 01 07 00 00 00 00 FF C4 80"));
    assert_eq!(
        range.restricting_object,
        CaptureObjectDefinition::CLOCK_TIME
    );

    // The event log: its two newest entries by entry descriptor (the fake meter sends all).
    let entries = requests
        .iter()
        .find_map(|q| match q {
            GetRequest::Normal {
                attribute, access, ..
            } if attribute.instance.d == 98 && attribute.attribute_id == 2 => access.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(entries.selector, 2);
    assert_eq!(
        crate::apdu::EntryDescriptor::from_data(&entries.parameters).unwrap(),
        crate::apdu::EntryDescriptor::entries(2, 2)
    );

    let lp = r.load_profile.as_ref().unwrap();
    assert_eq!(lp.interval_s, 900);
    assert_eq!(lp.channels.len(), 2);
    assert_eq!(lp.channels[0].obis, ObisCode::elec(1, 29, 0));
    assert_eq!(lp.channels[0].unit, Unit::WattHour);
    assert_eq!(lp.channels[0].scale, 0);
    assert_eq!(lp.channels[1].obis, ObisCode::elec(2, 29, 0));
    let values: Vec<i64> = lp.intervals.iter().map(|i| i.values[0]).collect();
    assert_eq!(values, vec![255, 247, 252, 257]);
    assert_eq!(
        lp.intervals[0].start,
        Utc.with_ymd_and_hms(2017, 9, 30, 23, 0, 0).unwrap()
    );
    assert!(lp.intervals.iter().all(|i| i.seconds == 900));
    assert_eq!(lp.intervals[0].status, IntervalStatus::POWER_DOWN);
    // The exact sum of the intervals is the register advance.
    assert_eq!(values.iter().sum::<i64>(), 124_467 - 123_456);

    assert_eq!(r.events.len(), 2);
    assert_eq!(r.events[0].kind, EventKind::PowerDown);
    assert_eq!(r.events[1].kind, EventKind::PowerUp);
    assert_eq!(
        r.events[0].time,
        Utc.with_ymd_and_hms(2017, 9, 30, 9, 0, 0).unwrap()
    );
    let status = r.status.join("\n");
    assert!(
        status.contains("event codes without a mapping: 99"),
        "{status}"
    );
    assert!(status.contains("1.0.9.8.0.255"), "{status}");
    assert!(status.contains("object list: 1 entries"), "{status}");
}

async fn read_fake(meter: FakeMeter) -> metermaster_model::Reading {
    let (client_io, meter_io) = duplex(1 << 16);
    let task = tokio::spawn(meter.serve(meter_io));
    let mut client = DlmsClient::connect(client_io, wrapper_opts(0x00_7E1F, 512))
        .await
        .unwrap();
    let r = read_meter(&mut client, &ReadOptions::default())
        .await
        .unwrap();
    drop(client);
    task.await.unwrap();
    r
}

fn at(local: &str) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(local)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(start_paused = true)]
async fn a_gap_in_a_profile_of_running_totals_gives_one_long_interval() {
    let mut m = fake_meter();
    if let Some(Data::Array(rows)) = m.values.get_mut(&(7, PROFILE, 2)) {
        rows.remove(2);
        rows.remove(1);
    }
    let r = read_fake(m).await;
    let lp = r.load_profile.unwrap();
    let got: Vec<_> = lp
        .intervals
        .iter()
        .map(|i| (i.start, i.seconds, i.values[0], i.status))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                at("2017-10-01T00:00:00+01:00"),
                2700,
                124_210 - 123_456,
                IntervalStatus::LONG
            ),
            (
                at("2017-10-01T00:45:00+01:00"),
                900,
                257,
                IntervalStatus::EMPTY
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_gap_in_a_profile_of_demands_leaves_the_periods_as_they_are() {
    let mut m = fake_meter();
    let demand = ObisCode::elec(1, 5, 0);
    m.values.insert(
        (7, PROFILE, 3),
        Data::Array(vec![
            CaptureObjectDefinition::CLOCK_TIME.to_data(),
            CaptureObjectDefinition::new(3, demand, 2).to_data(),
        ]),
    );
    m.values.insert((3, demand, 3), su(-1, 27));
    let row = |t: &str, w: u16| Data::Structure(vec![dt(t), Data::LongUnsigned(w)]);
    m.values.insert(
        (7, PROFILE, 2),
        Data::Array(vec![
            row("07 E1 0A 01 07 00 0F 00 00 FF C4 80", 1000),
            row("07 E1 0A 01 07 00 1E 00 00 FF C4 80", 2005),
            row("07 E1 0A 01 07 01 00 00 00 FF C4 80", 4000),
        ]),
    );
    let r = read_fake(m).await;
    let lp = r.load_profile.unwrap();
    assert_eq!(lp.channels[0].obis, demand);
    assert_eq!(lp.channels[0].unit, Unit::Watt);
    assert_eq!(lp.channels[0].scale, -1);
    let got: Vec<_> = lp
        .intervals
        .iter()
        .map(|i| (i.start, i.seconds, i.values[0], i.status))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                at("2017-10-01T00:00:00+01:00"),
                900,
                1000,
                IntervalStatus::EMPTY
            ),
            (
                at("2017-10-01T00:15:00+01:00"),
                900,
                2005,
                IntervalStatus::EMPTY
            ),
            (
                at("2017-10-01T00:45:00+01:00"),
                900,
                4000,
                IntervalStatus::EMPTY
            ),
        ]
    );
}

// ----- nothing panics -----

fn arbitrary_answer_session(mode: u8, answers: Vec<Vec<u8>>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let (client_io, mut meter_io) = duplex(1 << 16);
        let hdlc = mode % 2 == 1;
        let framed = mode >= 2;
        let peer = tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut first = true;
            let mut ns = 0u8;
            for a in answers {
                match meter_io.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let bytes = match (framed, hdlc) {
                    (false, _) => a,
                    (true, false) => {
                        let apdu = if first { hex(AARE_7) } else { a };
                        wpdu(1, 16, &apdu)
                    }
                    (true, true) if first => hex(UA_154),
                    (true, true) => {
                        let f = i_frame(false, ns, (ns + 1) & 7, &a);
                        ns = (ns + 1) & 7;
                        f
                    }
                };
                first = false;
                if meter_io.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        let mut opts = if hdlc {
            hdlc_opts(0x00_7E1F, 256)
        } else {
            wrapper_opts(0x00_7E1F, 256)
        };
        opts.link.response_timeout = Duration::from_millis(200);
        opts.link.retries = 1;
        if let Ok(mut c) = DlmsClient::connect(client_io, opts).await {
            let ropts = ReadOptions {
                list_chunk: 3,
                ..ReadOptions::default()
            };
            let _ = read_meter(&mut c, &ropts).await;
        }
        let _ = peer.await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_client_never_panics_on_arbitrary_answers(
        mode in 0u8..4,
        answers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..160), 1..6),
    ) {
        arbitrary_answer_session(mode, answers);
    }

    #[test]
    fn the_client_never_panics_on_mutated_real_answers(
        mode in 2u8..4,
        which in proptest::collection::vec(0usize..7, 1..8),
        pos in 0usize..140,
        byte in any::<u8>(),
    ) {
        let real = [
            AARE_7.to_string(),
            "C4 01 C1 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80".to_string(),
            SESSION_STEP_10.to_string(),
            SESSION_STEP_12.to_string(),
            "C4 03 C1 02 00 09 02 41 42 01 04".to_string(),
            "C4 01 C1 00 01 02 02 04 12 00 03 09 06 01 00 01 08 00 FF 0F 02 12 00 00 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00".to_string(),
            "D8 01 06 00 00 12 34".to_string(),
        ];
        let answers: Vec<Vec<u8>> = which
            .iter()
            .enumerate()
            .map(|(k, i)| {
                let mut b = hex(&real[*i]);
                if k == 1 && !b.is_empty() {
                    let p = pos % b.len();
                    b[p] = byte;
                }
                b
            })
            .collect();
        arbitrary_answer_session(mode, answers);
    }
}

#[test]
fn hex_bytes_display() {
    assert_eq!(HexBytes(&[0xC0, 0x01]).to_string(), "C0 01");
    let _ = CosemDateTime::UNSPECIFIED;
}
