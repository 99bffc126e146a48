use proptest::prelude::*;

use super::*;
use crate::test_util::{SESSION_STEP_10, hex};

fn frame(s: &str) -> HdlcFrame {
    HdlcFrame::decode(&hex(s)).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn client(sap: u8) -> HdlcAddress {
    HdlcAddress::client(sap).unwrap()
}

fn server_1_17() -> HdlcAddress {
    HdlcAddress::server(1, 17).unwrap()
}

#[test]
fn crc_check_value_and_worked_values() {
    assert_eq!(crc16_x25(b"123456789"), 0x906E);
    assert_eq!(crc16_x25(&hex("A0 08 02 23 21 93")), 0x64BD);
    assert_eq!(crc16_x25(&hex("A0 0A 00 02 00 23 21 93")), 0x7118);
    // The header of the dlms-cosem frame whose length byte equals the flag.
    assert_eq!(crc16_x25(&hex("A8 7E 21 03 96")), 0x09A4);
    // Residue: the register before the final XOR over data + CRC is 0xF0B8.
    let mut d = b"123456789".to_vec();
    d.extend_from_slice(&0x906Eu16.to_le_bytes());
    assert_eq!(crc16_x25(&d) ^ 0xFFFF, 0xF0B8);
}

#[test]
fn addresses_of_section_1_2_2() {
    for (sap, b) in [(16u8, 0x21u8), (1, 0x03), (48, 0x61), (19, 0x27)] {
        assert_eq!(client(sap).to_bytes(), [b]);
        assert_eq!(HdlcAddress::decode(&[b]).unwrap(), (client(sap), 1));
    }
    assert_eq!(HdlcAddress::one_byte(1).unwrap().to_bytes(), [0x03]);
    let cases: [(u16, u16, &str); 5] = [
        (1, 17, "02 23"),
        (16, 32, "20 41"),
        (1, 2836, "00 02 2C 29"),
        (145, 1, "02 22 00 03"),
        (17, 5481, "00 22 54 D3"),
    ];
    for (l, p, bytes) in cases {
        let a = HdlcAddress::server(l, p).unwrap();
        assert_eq!(a.to_bytes(), hex(bytes), "{l}/{p}");
        let (d, n) = HdlcAddress::decode(&hex(bytes)).unwrap();
        assert_eq!((d, n), (a, hex(bytes).len()));
        assert_eq!((d.upper(), d.lower()), (l, Some(p)));
    }
    // Forced 4-byte form for small values.
    let a = HdlcAddress::server_with_size(1, Some(17), AddressSize::Four).unwrap();
    assert_eq!(a.to_bytes(), hex("00 02 00 23"));
    assert!(a.same_station(&server_1_17()));
    assert!(HdlcAddress::client(0x80).is_err());
    assert!(HdlcAddress::server_with_size(0x80, Some(1), AddressSize::Two).is_err());
    assert!(HdlcAddress::server(0x4000, 1).is_err());
    assert!(
        HdlcAddress::decode(&hex("02 02 03")).is_err(),
        "3-byte address"
    );
    assert!(
        HdlcAddress::decode(&hex("02 02 02 02 03")).is_err(),
        "5-byte address"
    );
    assert_eq!(physical_address_from_serial(12_345_678), 6678);
}

#[test]
fn control_bytes_of_section_1_2_3() {
    let i = |s, r, p| Control::I {
        send_seq: s,
        recv_seq: r,
        poll_final: p,
    };
    for (c, b) in [
        (i(0, 0, true), 0x10),
        (i(1, 1, true), 0x32),
        (i(1, 2, true), 0x52),
        (i(3, 4, true), 0x96),
        (i(2, 2, true), 0x54),
        (
            Control::Rr {
                recv_seq: 4,
                poll_final: true,
            },
            0x91,
        ),
        (
            Control::Rr {
                recv_seq: 7,
                poll_final: true,
            },
            0xF1,
        ),
        (
            Control::Rnr {
                recv_seq: 1,
                poll_final: true,
            },
            0x35,
        ),
        (Control::Snrm { poll_final: true }, 0x93),
        (Control::Snrm { poll_final: false }, 0x83),
        (Control::Disc { poll_final: true }, 0x53),
        (Control::Ua { poll_final: true }, 0x73),
        (Control::Dm { poll_final: true }, 0x1F),
        (Control::Frmr { poll_final: true }, 0x97),
        (Control::Ui { poll_final: true }, 0x13),
        (Control::Ui { poll_final: false }, 0x03),
    ] {
        assert_eq!(c.to_byte(), b, "{c:?}");
        assert_eq!(Control::from_byte(b), Some(c));
    }
    assert_eq!(Control::from_byte(0x09), None, "REJ");
    assert_eq!(Control::from_byte(0x2F), None, "SABM");
}

#[test]
fn session_skeleton_of_section_1_2_9() {
    let frames = [
        "7E A0 08 02 23 21 93 BD 64 7E",
        "7E A0 1F 21 02 23 73 E6 C7 81 80 12 05 01 9A 06 01 9A 07 04 00 00 00 01 08 04 00 00 00 01 CC A2 7E",
        "7E A0 2C 02 23 21 10 AF 9F E6 E6 00 60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 1E 1D FF FF C5 E4 7E",
        "7E A0 38 21 02 23 30 34 E7 E6 E7 00 61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 1E 1D 04 C8 00 07 B8 6A 7E",
        "7E A0 1A 02 23 21 32 F6 72 E6 E6 00 C0 01 C1 00 08 00 00 01 00 00 FF 02 00 60 1A 7E",
        "7E A0 1F 21 02 23 52 6D F7 E6 E7 00 C4 01 C1 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80 C3 B3 7E",
        "7E A0 08 02 23 21 53 B1 A2 7E",
        "7E A0 08 21 02 23 73 7A 43 7E",
        // DM and RR
        "7E A0 08 21 02 23 1F 10 EA 7E",
        "7E A0 08 02 23 21 31 A5 E2 7E",
    ];
    for s in frames {
        let f = frame(s);
        assert_eq!(f.encode().unwrap(), hex(s), "re-encoding {s}");
    }
    let snrm = frame(frames[0]);
    assert_eq!(
        snrm,
        HdlcFrame::new(
            server_1_17(),
            client(16),
            Control::Snrm { poll_final: true }
        )
    );
    let ua = frame(frames[1]);
    assert_eq!(ua.destination, client(16));
    assert_eq!(ua.control, Control::Ua { poll_final: true });
    let p = HdlcParameters::decode(&ua.information).unwrap();
    assert_eq!((p.max_info_transmit, p.max_info_receive), (154, 154));
    assert_eq!(p.encode(), ua.information);

    let aarq = frame(frames[2]);
    assert_eq!(
        aarq.control,
        Control::I {
            send_seq: 0,
            recv_seq: 0,
            poll_final: true
        }
    );
    assert_eq!(
        strip_llc(&aarq.information, Direction::ClientToServer).unwrap()[0],
        0x60
    );
    let aare = frame(frames[3]);
    assert_eq!(aare.control.send_seq(), Some(0));
    assert_eq!(aare.control.recv_seq(), Some(1));
    assert_eq!(
        strip_llc(&aare.information, Direction::ServerToClient).unwrap()[0],
        0x61
    );
    assert_eq!(frame(frames[6]).control, Control::Disc { poll_final: true });
    assert_eq!(frame(frames[8]).control, Control::Dm { poll_final: true });
}

#[test]
fn other_real_frames() {
    // Fiorentini UA without physical address.
    let ua = frame("7E A0 07 21 03 73 01 40 7E");
    assert_eq!(ua.source, HdlcAddress::one_byte(1).unwrap());
    // FRMR from a meter with a 4-byte address, carrying the rejected control byte 54.
    let s = "7E A0 0F 03 00 02 2C 29 97 1B 60 54 00 10 74 3F 7E";
    let frmr = frame(s);
    assert_eq!(frmr.control, Control::Frmr { poll_final: true });
    assert_eq!(frmr.source, HdlcAddress::server(1, 2836).unwrap());
    assert_eq!(frmr.information, hex("54 00 10"));
    assert_eq!(frmr.encode().unwrap(), hex(s));
    // GXDLMSDirector capture: server 02 51, client 48.
    for s in [
        "7E A0 1A 02 51 61 32 F0 01 E6 E6 00 C0 01 81 00 0F 00 00 28 00 00 FF 02 00 94 9E 7E",
        "7E A0 33 61 02 51 52 0F 35 E6 E7 00 C4 02 81 00 00 00 00 01 00 1C 01 01 02 04 12 00 08 11 00 09 06 00 00 01 00 00 FF 02 02 01 01 02 03 0F 01 16 01 00 9E 7D 7E",
    ] {
        assert_eq!(frame(s).encode().unwrap(), hex(s));
    }
    // Gurux SNRM with a proposal: tx 128, rx 512 (two bytes), windows 1.
    let s = "7E A0 20 20 41 27 93 0C 0C 81 80 13 05 01 80 06 02 02 00 07 04 00 00 00 01 08 04 00 00 00 01 B4 F9 7E";
    let snrm = frame(s);
    assert_eq!(snrm.destination, HdlcAddress::server(16, 32).unwrap());
    assert_eq!(snrm.source, client(19));
    let p = HdlcParameters::decode(&snrm.information).unwrap();
    assert_eq!(
        p,
        HdlcParameters {
            max_info_transmit: 128,
            max_info_receive: 512,
            window_transmit: 1,
            window_receive: 1
        }
    );
    assert_eq!(p.encode(), snrm.information);
    assert_eq!(snrm.encode().unwrap(), hex(s));
}

#[test]
fn real_ua_parameter_blocks() {
    for (info, tx, rx) in [
        (
            "81 80 12 05 01 9A 06 01 9A 07 04 00 00 00 01 08 04 00 00 00 01",
            154,
            154,
        ),
        (
            "81 80 12 05 01 80 06 01 3E 07 04 00 00 00 01 08 04 00 00 00 01",
            128,
            62,
        ),
        (
            "81 80 14 05 02 00 74 06 02 00 74 07 04 00 00 00 01 08 04 00 00 00 01",
            116,
            116,
        ),
        (
            "81 80 12 05 01 7E 06 01 7E 07 04 00 00 00 01 08 04 00 00 00 01",
            126,
            126,
        ),
    ] {
        let p = HdlcParameters::decode(&hex(info)).unwrap();
        assert_eq!(
            (p.max_info_transmit, p.max_info_receive),
            (tx, rx),
            "{info}"
        );
        assert_eq!((p.window_transmit, p.window_receive), (1, 1));
        // The client's view of the E650's UA: it may send only 62 bytes.
        let client_view = p.swapped();
        assert_eq!(client_view.max_info_transmit, rx);
    }
    assert_eq!(
        HdlcParameters::decode(&[]).unwrap(),
        HdlcParameters::default()
    );
    assert_eq!(
        HdlcParameters::decode(&hex("81 80 00")).unwrap(),
        HdlcParameters::default()
    );
    // Only some parameters, plus a user group that is skipped.
    let p = HdlcParameters::decode(&hex("81 80 03 06 01 40 F0 02 AA BB")).unwrap();
    assert_eq!(p.max_info_receive, 64);
    assert_eq!(p.max_info_transmit, 128);
    assert!(HdlcParameters::decode(&hex("80 80 00")).is_err());
    assert!(HdlcParameters::decode(&hex("81 80 05 05 01 80")).is_err());
    assert!(
        HdlcParameters::decode(&hex("81 80 04 07 02 01 00")).is_err(),
        "window 256"
    );
}

#[test]
fn server_answers_with_the_smaller_limits() {
    let proposal = HdlcParameters {
        max_info_transmit: 128,
        max_info_receive: 512,
        window_transmit: 1,
        window_receive: 7,
    };
    let own = HdlcParameters {
        max_info_transmit: 256,
        max_info_receive: 62,
        window_transmit: 1,
        window_receive: 1,
    };
    let ua = HdlcParameters::answer(proposal, own);
    assert_eq!(
        ua,
        HdlcParameters {
            max_info_transmit: 256,
            max_info_receive: 62,
            window_transmit: 1,
            window_receive: 1
        }
    );
    let wild = HdlcParameters {
        max_info_transmit: 0,
        max_info_receive: 9999,
        window_transmit: 0,
        window_receive: 200,
    }
    .clamped();
    assert_eq!(
        (
            wild.max_info_transmit,
            wild.max_info_receive,
            wild.window_transmit,
            wild.window_receive
        ),
        (1, 2030, 1, 7)
    );
}

#[test]
fn segmentation_example_of_section_1_2_7() {
    let apdu = hex(SESSION_STEP_10);
    assert_eq!(apdu.len(), 128);
    let frames = information_frames(
        client(16),
        server_1_17(),
        &apdu,
        Direction::ServerToClient,
        128,
        3,
        4,
    )
    .unwrap();
    assert_eq!(frames.len(), 2);
    let first = frames[0].encode().unwrap();
    assert_eq!(
        &first[..12],
        &hex("7E A8 8A 21 02 23 96 5C 4E E6 E7 00")[..]
    );
    assert_eq!(&first[first.len() - 3..], &hex("ED C5 7E")[..]);
    assert_eq!(first.len(), 140);
    assert_eq!(
        frames[1].encode().unwrap(),
        hex("7E A0 0D 21 02 23 98 F3 3C 04 09 0C 62 B1 7E")
    );
    let rr = HdlcFrame::new(
        server_1_17(),
        client(16),
        Control::Rr {
            recv_seq: 4,
            poll_final: true,
        },
    );
    assert_eq!(rr.encode().unwrap(), hex("7E A0 08 02 23 21 91 AF 47 7E"));

    // And back.
    let mut r = Reassembler::new(Direction::ServerToClient, 65_535);
    assert_eq!(r.push_frame(&frames[0]).unwrap(), None);
    assert!(r.in_progress());
    assert_eq!(r.push_frame(&frames[1]).unwrap(), Some(apdu));
    assert!(!r.in_progress());
}

#[test]
fn segmentation_limits() {
    assert!(segment(&[1, 2, 3], Direction::ClientToServer, 3).is_err());
    let segs = segment(&[0xC0; 10], Direction::ClientToServer, 4).unwrap();
    assert_eq!(segs.len(), 4);
    assert_eq!(segs[0].information, hex("E6 E6 00 C0"));
    assert!(segs[..3].iter().all(|s| s.more) && !segs[3].more);
    // A 62-byte E650 limit cuts a 100-byte AARQ into two frames.
    let segs = segment(&[0x60; 100], Direction::ClientToServer, 62).unwrap();
    assert_eq!(
        segs.iter().map(|s| s.information.len()).collect::<Vec<_>>(),
        [62, 41]
    );
    let mut r = Reassembler::new(Direction::ClientToServer, 8);
    let e = r
        .push(&hex("E6 E6 00 01 02 03 04 05 06 07 08 09"), false)
        .unwrap_err();
    assert!(matches!(e.kind, DecodeErrorKind::TooLong { .. }));
    let e = r.push(&hex("E6 E7 00 01"), false).unwrap_err();
    assert_eq!(
        (e.offset, e.kind),
        (
            1,
            DecodeErrorKind::UnexpectedTag {
                expected: 0xE6,
                found: 0xE7
            }
        )
    );
    assert!(frames_too_long_fail());
}

fn frames_too_long_fail() -> bool {
    let big = HdlcFrame::new(client(1), client(16), Control::Ui { poll_final: false })
        .with_information(vec![0; 2040]);
    big.encode().is_err()
}

#[test]
fn splitter_finds_frames_in_a_stream() {
    let a = hex("7E A0 08 02 23 21 93 BD 64 7E");
    let b = hex("7E A0 07 21 03 73 01 40 7E");
    let mut stream = hex("00 11 22");
    stream.extend_from_slice(&a);
    stream.extend_from_slice(&b[1..]); // shared flag
    stream.extend_from_slice(&b); // separate flags
    let mut s = FrameSplitter::new();
    // Byte by byte: nothing before a frame is complete.
    let mut got = Vec::new();
    for x in &stream {
        s.push(&[*x]);
        while let Some(f) = s.next_frame() {
            got.push(f.unwrap());
            assert!(s.last_frame_bytes().starts_with(&[0x7E]));
        }
    }
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].control, Control::Snrm { poll_final: true });
    assert_eq!(got[1], got[2]);
    assert_eq!(s.skipped_bytes(), 3);
    assert_eq!(s.last_frame_bytes(), &b[..]);
}

#[test]
fn splitter_reports_bad_checks_and_resynchronises() {
    let good =
        hex("7E A0 1A 02 23 21 32 F6 72 E6 E6 00 C0 01 C1 00 08 00 00 01 00 00 FF 02 00 60 1A 7E");
    // Bad FCS: the frame is dropped whole, the next one is found.
    let mut bad_fcs = good.clone();
    bad_fcs[25] ^= 0xFF;
    let mut s = FrameSplitter::new();
    s.push(&bad_fcs);
    s.push(&good);
    let e = s.next_frame().unwrap().unwrap_err();
    assert_eq!(e.stream_offset, 0);
    assert_eq!(e.error.offset, 25);
    assert!(matches!(
        e.error.kind,
        DecodeErrorKind::BadChecksum {
            what: "FCS",
            received: 0x1A9F,
            ..
        }
    ));
    assert!(e.to_string().contains("FCS mismatch"), "{e}");
    assert!(s.next_frame().unwrap().is_ok());
    assert!(s.next_frame().is_none());

    // Bad HCS: only the flag is dropped; the 7E inside the garbage does not hide the next frame.
    let mut bad_hcs = good.clone();
    bad_hcs[7] ^= 0x01;
    let mut s = FrameSplitter::new();
    s.push(&bad_hcs);
    s.push(&good);
    let e = s.next_frame().unwrap().unwrap_err();
    assert_eq!(e.error.offset, 7);
    assert!(matches!(
        e.error.kind,
        DecodeErrorKind::BadChecksum { what: "HCS", .. }
    ));
    let mut frames = 0;
    while let Some(r) = s.next_frame() {
        if r.is_ok() {
            frames += 1;
        }
    }
    assert_eq!(frames, 1);

    // A flag inside a frame: length byte 0x7E, as in the dlms-cosem segmented frame.
    let f = HdlcFrame {
        segmented: true,
        destination: client(16),
        source: HdlcAddress::one_byte(1).unwrap(),
        control: Control::I {
            send_seq: 3,
            recv_seq: 4,
            poll_final: true,
        },
        information: vec![0x7E; 117],
    };
    let bytes = f.encode().unwrap();
    assert_eq!(&bytes[..8], &hex("7E A8 7E 21 03 96 A4 09")[..]);
    let mut s = FrameSplitter::new();
    s.push(&bytes);
    assert_eq!(s.next_frame().unwrap().unwrap(), f);
}

#[test]
fn frame_decode_errors() {
    let e = HdlcFrame::decode(&hex("7E B0 08 02 23 21 93 BD 64 7E")).unwrap_err();
    assert_eq!(
        (e.offset, e.kind),
        (
            1,
            DecodeErrorKind::InvalidValue {
                what: "frame format type",
                value: 0xB
            }
        )
    );
    let e = HdlcFrame::decode(&hex("7E A0 08 02 23 21 93 BD 64 00")).unwrap_err();
    assert_eq!(e.offset, 9);
    let e = HdlcFrame::decode(&hex("7E A0 08 02 23 21 93 BD")).unwrap_err();
    assert!(matches!(e.kind, DecodeErrorKind::Truncated { .. }));
    let e = HdlcFrame::decode(&hex("7E A0 08 02 23 21 09 BD 64 7E")).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::InvalidValue {
            what: "control field",
            value: 9
        }
    );
}

fn arb_address() -> impl Strategy<Value = HdlcAddress> {
    prop_oneof![
        (0u16..0x80).prop_map(|v| HdlcAddress::one_byte(v).unwrap()),
        (0u16..0x80, 0u16..0x80).prop_map(|(l, p)| HdlcAddress::server_with_size(
            l,
            Some(p),
            AddressSize::Two
        )
        .unwrap()),
        (0u16..0x4000, 0u16..0x4000).prop_map(|(l, p)| HdlcAddress::server_with_size(
            l,
            Some(p),
            AddressSize::Four
        )
        .unwrap()),
    ]
}

fn arb_control() -> impl Strategy<Value = Control> {
    (0u8..8, 0u8..8, any::<bool>(), 0u8..9).prop_map(|(s, r, p, k)| match k {
        0 => Control::I {
            send_seq: s,
            recv_seq: r,
            poll_final: p,
        },
        1 => Control::Rr {
            recv_seq: r,
            poll_final: p,
        },
        2 => Control::Rnr {
            recv_seq: r,
            poll_final: p,
        },
        3 => Control::Snrm { poll_final: p },
        4 => Control::Disc { poll_final: p },
        5 => Control::Ua { poll_final: p },
        6 => Control::Dm { poll_final: p },
        7 => Control::Frmr { poll_final: p },
        _ => Control::Ui { poll_final: p },
    })
}

prop_compose! {
    fn arb_frame()(
        segmented in any::<bool>(),
        destination in arb_address(),
        source in arb_address(),
        control in arb_control(),
        information in proptest::collection::vec(any::<u8>(), 0..300),
    ) -> HdlcFrame {
        HdlcFrame { segmented, destination, source, control, information }
    }
}

proptest! {
    #[test]
    fn frames_round_trip(f in arb_frame()) {
        let bytes = f.encode().unwrap();
        prop_assert_eq!(HdlcFrame::decode(&bytes).unwrap(), f.clone());
        let mut s = FrameSplitter::new();
        s.push(&bytes);
        prop_assert_eq!(s.next_frame().unwrap().unwrap(), f);
    }

    #[test]
    fn frame_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = HdlcFrame::decode(&bytes);
        let mut v = vec![0x7E, 0xA0];
        v.extend_from_slice(&bytes);
        let _ = HdlcFrame::decode(&v);
    }

    #[test]
    fn splitter_never_panics_and_always_progresses(
        chunks in proptest::collection::vec(proptest::collection::vec(
            prop_oneof![Just(0x7Eu8), Just(0xA0), Just(0xA8), any::<u8>()], 0..40), 0..8)
    ) {
        let mut s = FrameSplitter::new();
        for c in &chunks {
            s.push(c);
            let mut guard = 0;
            while s.next_frame().is_some() {
                guard += 1;
                prop_assert!(guard < 1000);
            }
        }
    }

    #[test]
    fn parameters_round_trip(tx in any::<u16>(), rx in any::<u16>(), wt in any::<u8>(), wr in any::<u8>()) {
        let p = HdlcParameters { max_info_transmit: tx, max_info_receive: rx, window_transmit: wt, window_receive: wr };
        prop_assert_eq!(HdlcParameters::decode(&p.encode()).unwrap(), p);
    }

    #[test]
    fn parameter_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = HdlcParameters::decode(&bytes);
    }

    #[test]
    fn segments_reassemble(apdu in proptest::collection::vec(any::<u8>(), 1..600), max in 4usize..200) {
        let mut r = Reassembler::new(Direction::ClientToServer, 1000);
        let mut out = None;
        for s in segment(&apdu, Direction::ClientToServer, max).unwrap() {
            prop_assert!(s.information.len() <= max);
            out = r.push(&s.information, s.more).unwrap();
        }
        prop_assert_eq!(out, Some(apdu));
    }

    #[test]
    fn reassembler_never_panics(parts in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..10), any::<bool>()), 0..10)) {
        let mut r = Reassembler::new(Direction::ServerToClient, 20);
        for (p, more) in parts {
            let _ = r.push(&p, more);
        }
    }
}
