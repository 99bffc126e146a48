use proptest::prelude::*;

use super::*;
use crate::apdu::{
    Aarq, Apdu, Conformance, InitiateRequest, InitiateResponse, Rlre, UserInformation,
};
use crate::test_util::hex;

fn keys() -> Suite0Keys {
    Suite0Keys::new(
        hex("000102030405060708090A0B0C0D0E0F").try_into().unwrap(),
        hex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF").try_into().unwrap(),
    )
}

fn meter_title() -> SystemTitle {
    SystemTitle(hex("4D4D4D0000BC614E").try_into().unwrap())
}

fn client_title() -> SystemTitle {
    SystemTitle(hex("4D4D4D0000000001").try_into().unwrap())
}

const PLAIN_GET: &str = "C0010000080000010000FF0200";
const IC: u32 = 0x0123_4567;

#[test]
fn security_header_bytes() {
    let h = SecurityHeader {
        control: SecurityControl::AUTHENTICATED_ENCRYPTED,
        invocation_counter: IC,
    };
    assert_eq!(h.to_bytes().to_vec(), hex("30 01 23 45 67"));
    assert_eq!(
        SecurityHeader::decode(&hex("30 01 23 45 67 99")).unwrap(),
        h
    );
    assert!(SecurityHeader::decode(&hex("30 01 23")).is_err());
    let c = h.control;
    assert!(c.authenticated() && c.encrypted() && !c.broadcast_key() && !c.compressed());
    assert_eq!(c.suite(), 0);
}

#[test]
fn iv_of_section_5_5() {
    assert_eq!(
        initialization_vector(&meter_title(), IC).to_vec(),
        hex("4D4D4D0000BC614E01234567")
    );
    assert_eq!(meter_title().manufacturer(), Some("MMM"));
    assert_eq!(meter_title().to_string(), "4D4D4D0000BC614E");
}

#[test]
fn green_book_vectors_of_section_5_5() {
    for (sc, expected) in [
        (
            SecurityControl::AUTHENTICATED_ENCRYPTED,
            "C8 1E 30 01234567 411312FF935A47566827C467BC 7D825C3BE4A77C3FCC056B6B",
        ),
        (
            SecurityControl::ENCRYPTED,
            "C8 12 20 01234567 411312FF935A47566827C467BC",
        ),
        (
            SecurityControl::AUTHENTICATED,
            "C8 1E 10 01234567 C0010000080000010000FF0200 06725D910F9221D263877516",
        ),
    ] {
        let c = CipheredApdu::seal(
            &hex(PLAIN_GET),
            CipheringMode::Global,
            sc,
            &meter_title(),
            IC,
            &keys(),
        )
        .unwrap();
        assert_eq!(c.encode(), hex(expected), "SC {:02X}", sc.0);
        let Apdu::Ciphered(back) = Apdu::decode(&hex(expected)).unwrap() else {
            panic!("not ciphered")
        };
        assert_eq!(back, c);
        assert_eq!(back.service(), Some(CipheredService::GetRequest));
        assert_eq!(
            back.open(&keys(), Some(&meter_title())).unwrap(),
            hex(PLAIN_GET)
        );
    }
}

#[test]
fn glo_initiate_request_vector() {
    let plain =
        hex("01 01 10 00112233445566778899AABBCCDDEEFF 00 00 06 5F 1F 04 00 00 7E 1F 04 B0");
    let ir = InitiateRequest::decode(&plain).unwrap();
    assert_eq!(
        ir.dedicated_key,
        Some(hex("00112233445566778899AABBCCDDEEFF"))
    );
    assert_eq!(ir.proposed_conformance, Conformance::GREEN_BOOK_PROPOSAL);
    assert_eq!(ir.client_max_receive_pdu_size, 1200);
    assert_eq!(ir.encode(), plain);
    let expected = hex(
        "21 30 30 01234567 801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE68 41DB204D39EE6FDB8E356855",
    );
    let c = CipheredApdu::seal(
        &plain,
        CipheringMode::Global,
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &meter_title(),
        IC,
        &keys(),
    )
    .unwrap();
    assert_eq!(c.encode(), expected);
    assert_eq!(
        CipheredApdu::decode(&expected)
            .unwrap()
            .open(&keys(), Some(&meter_title()))
            .unwrap(),
        plain
    );
}

#[test]
fn ciphered_aarq_user_information_opens_with_the_calling_ap_title() {
    let aarq = Aarq::decode(&hex(
        "60 66 A1 09 06 07 60 85 74 05 08 01 03 A6 0A 04 08 4D 4D 4D 00 00 BC 61 4E 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 31 32 33 34 35 36 37 38 BE 34 04 32 21 30 30 01 23 45 67 80 13 02 FF 8A 78 74 13 3D 41 4C ED 25 B4 25 34 D2 8D B0 04 77 20 60 6B 17 5B D5 22 11 BE 68 41 DB 20 4D 39 EE 6F DB 8E 35 68 55",
    ))
    .unwrap();
    let title = SystemTitle::from_slice(aarq.calling_ap_title.as_deref().unwrap()).unwrap();
    let Some(UserInformation::Ciphered(c)) = &aarq.user_information else {
        panic!("not ciphered")
    };
    let plain = c.open(&keys(), Some(&title)).unwrap();
    let ir = InitiateRequest::decode(&plain).unwrap();
    assert_eq!(
        ir.dedicated_key,
        Some(hex("00112233445566778899AABBCCDDEEFF"))
    );
}

#[test]
fn ciphered_rlre_decrypts_to_the_initiate_response() {
    let rlre = Rlre::decode(&hex(
        "63 28 80 01 00 BE 23 04 21 28 1F 30 01 23 45 67 89 12 14 A0 84 5E 47 57 14 38 3F 65 BC 19 74 5C A2 35 90 65 25 E4 F3 E1 C8 93",
    ))
    .unwrap();
    let Some(UserInformation::Ciphered(c)) = &rlre.user_information else {
        panic!("not ciphered")
    };
    assert_eq!(c.service(), Some(CipheredService::InitiateResponse));
    let plain = c.open(&keys(), Some(&meter_title())).unwrap();
    assert_eq!(plain, hex("08 00 06 5F 1F 04 00 00 7C 1F 04 00 00 07"));
    let ir = InitiateResponse::decode(&plain).unwrap();
    assert_eq!(ir.negotiated_conformance, Conformance(0x00_7C1F));
    assert_eq!(ir.server_max_receive_pdu_size, 1024);
}

#[test]
fn hls_gmac_vectors_of_section_5_6() {
    let stoc = b"P6wRJ21F";
    let ctos = b"K56iVagY";
    // Pass 3: the client answers StoC with its own title and counter.
    let f_stoc = hls_gmac_response(&keys(), &client_title(), 1, stoc);
    assert_eq!(f_stoc, hex("10 00000001 1A52FE7DD3E72748973C1E28"));
    assert_eq!(
        gmac(
            &keys(),
            SecurityControl::AUTHENTICATED,
            &client_title(),
            1,
            stoc
        )
        .to_vec(),
        hex("1A52FE7DD3E72748973C1E28")
    );
    // The server checks it with the client's title (from the AARQ calling-AP-title).
    assert_eq!(
        verify_hls_gmac(&keys(), &client_title(), stoc, &f_stoc),
        Ok(1)
    );
    // Pass 4: the server answers CtoS.
    let f_ctos = hls_gmac_response(&keys(), &meter_title(), IC, ctos);
    assert_eq!(f_ctos, hex("10 01234567 FE1466AFB3DBCD4F9389E2B7"));
    assert_eq!(
        verify_hls_gmac(&keys(), &meter_title(), ctos, &f_ctos),
        Ok(IC)
    );

    // Wrong challenge, wrong title, wrong key, wrong length, wrong SC.
    let fail = Err(SecurityError::AuthenticationFailed);
    assert_eq!(
        verify_hls_gmac(&keys(), &meter_title(), stoc, &f_ctos),
        fail
    );
    assert_eq!(
        verify_hls_gmac(&keys(), &client_title(), ctos, &f_ctos),
        fail
    );
    let other = keys().with_encryption_key([0; 16]);
    assert_eq!(verify_hls_gmac(&other, &meter_title(), ctos, &f_ctos), fail);
    assert!(matches!(
        verify_hls_gmac(&keys(), &meter_title(), ctos, &f_ctos[..16]),
        Err(SecurityError::BadHlsResponse(_))
    ));
    let mut wrong_sc = f_ctos.clone();
    wrong_sc[0] = 0x30;
    assert!(matches!(
        verify_hls_gmac(&keys(), &meter_title(), ctos, &wrong_sc),
        Err(SecurityError::BadHlsResponse(_))
    ));
}

#[test]
fn tampering_and_wrong_parties_are_detected() {
    let c = CipheredApdu::seal(
        &hex(PLAIN_GET),
        CipheringMode::Global,
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &meter_title(),
        IC,
        &keys(),
    )
    .unwrap();
    let mut t = c.clone();
    t.payload[0] ^= 1;
    assert_eq!(
        t.open(&keys(), Some(&meter_title())),
        Err(SecurityError::AuthenticationFailed)
    );
    let mut t = c.clone();
    t.header.invocation_counter += 1;
    assert_eq!(
        t.open(&keys(), Some(&meter_title())),
        Err(SecurityError::AuthenticationFailed)
    );
    assert_eq!(
        c.open(&keys(), Some(&client_title())),
        Err(SecurityError::AuthenticationFailed)
    );
    assert_eq!(
        c.open(&keys(), None),
        Err(SecurityError::MissingSystemTitle)
    );
    let mut t = c.clone();
    t.payload.truncate(5);
    assert!(matches!(
        t.open(&keys(), Some(&meter_title())),
        Err(SecurityError::TooShort { .. })
    ));
    let mut t = c;
    t.header.control = SecurityControl(0x31);
    assert_eq!(
        t.open(&keys(), Some(&meter_title())),
        Err(SecurityError::UnsupportedSuite(1))
    );
    assert_eq!(
        CipheredApdu::seal(
            &hex("60 00"),
            CipheringMode::Global,
            SecurityControl::AUTHENTICATED,
            &meter_title(),
            1,
            &keys()
        ),
        Err(SecurityError::NotCipherable(0x60))
    );
    assert_eq!(
        protect(&keys(), SecurityControl(0xB0), &meter_title(), 1, &[0xC0]),
        Err(SecurityError::CompressionNotSupported)
    );
}

#[test]
fn general_glo_ciphering_carries_the_sender_title() {
    let c = CipheredApdu::seal(
        &hex("0F 00 00 00 01 00 11 05"),
        CipheringMode::GeneralGlobal,
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &meter_title(),
        7,
        &keys(),
    )
    .unwrap();
    let bytes = c.encode();
    assert_eq!(&bytes[..10], &hex("DB 08 4D 4D 4D 00 00 BC 61 4E")[..]);
    assert_eq!(bytes[10] as usize, bytes.len() - 11);
    let back = CipheredApdu::decode(&bytes).unwrap();
    // No title needed from outside...
    assert_eq!(
        back.open(&keys(), None).unwrap(),
        hex("0F 00 00 00 01 00 11 05")
    );
    // ...unless the meter sends an empty one (Pietro Fiorentini).
    let mut empty = back.clone();
    empty.kind = CipheredKind::GeneralGlobal {
        system_title: vec![],
    };
    let bytes = empty.encode();
    assert_eq!(&bytes[..2], &[0xDB, 0x00]);
    assert_eq!(
        empty.open(&keys(), None),
        Err(SecurityError::MissingSystemTitle)
    );
    assert!(empty.open(&keys(), Some(&meter_title())).is_ok());
}

#[test]
fn dedicated_key_ciphering() {
    let dedicated: [u8; 16] = hex("00112233445566778899AABBCCDDEEFF").try_into().unwrap();
    let ded = keys().with_encryption_key(dedicated);
    let c = CipheredApdu::seal(
        &hex(PLAIN_GET),
        CipheringMode::Dedicated,
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &client_title(),
        2,
        &ded,
    )
    .unwrap();
    assert_eq!(c.tag(), 0xD0);
    assert_eq!(c.open(&ded, Some(&client_title())).unwrap(), hex(PLAIN_GET));
    assert!(c.open(&keys(), Some(&client_title())).is_err());
    assert!(
        !format!("{ded:?}").contains("00"),
        "keys must not be printed"
    );
}

#[test]
fn invocation_counters() {
    let mut g = ReplayGuard::new();
    assert!(g.accept(5).is_ok());
    assert_eq!(
        g.accept(5),
        Err(SecurityError::Replay {
            received: 5,
            last: 5
        })
    );
    assert_eq!(
        g.accept(4),
        Err(SecurityError::Replay {
            received: 4,
            last: 5
        })
    );
    assert!(g.accept(6).is_ok());
    assert_eq!(g.last(), Some(6));
    assert!(ReplayGuard::after(u32::MAX).check(u32::MAX).is_err());

    let mut c = InvocationCounter::starting_at(u32::MAX - 1);
    assert_eq!(c.next_value(), Ok(u32::MAX - 1));
    assert_eq!(c.next_value(), Ok(u32::MAX));
    assert_eq!(c.next_value(), Err(SecurityError::CounterExhausted));
    assert_eq!(c.peek(), None);
}

proptest! {
    #[test]
    fn seal_open_round_trip(
        plain_tag in proptest::sample::select(vec![0x01u8, 0x08, 0x0E, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC7]),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        sc in proptest::sample::select(vec![0x00u8, 0x10, 0x20, 0x30, 0x50, 0x70]),
        mode in proptest::sample::select(vec![
            CipheringMode::Global, CipheringMode::Dedicated,
            CipheringMode::GeneralGlobal, CipheringMode::GeneralDedicated,
        ]),
        ic in any::<u32>(),
        title in any::<[u8; 8]>(),
        ek in any::<[u8; 16]>(),
        ak in any::<[u8; 16]>(),
    ) {
        let mut plain = vec![plain_tag];
        plain.extend_from_slice(&body);
        let k = Suite0Keys::new(ek, ak);
        let st = SystemTitle(title);
        let c = CipheredApdu::seal(&plain, mode, SecurityControl(sc), &st, ic, &k).unwrap();
        let bytes = c.encode();
        let back = CipheredApdu::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(back.open(&k, Some(&st)).unwrap(), plain);
    }

    #[test]
    fn opening_garbage_never_panics(
        content in proptest::collection::vec(any::<u8>(), 0..64),
        sc in proptest::sample::select(vec![0x00u8, 0x10, 0x20, 0x30, 0x31, 0x90]),
    ) {
        let mut c = content.clone();
        if !c.is_empty() {
            c[0] = sc;
        }
        let _ = unprotect(&keys(), &meter_title(), &c);
        let _ = unprotect(&keys(), &meter_title(), &content);
        let _ = verify_hls_gmac(&keys(), &meter_title(), b"x", &content);
        let _ = CipheredApdu::decode(&content);
    }
}
