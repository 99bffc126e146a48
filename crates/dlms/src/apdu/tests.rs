use metermaster_model::ObisCode;
use proptest::prelude::*;

use super::*;
use crate::axdr::{CosemDateTime, Data};
use crate::error::DecodeErrorKind;
use crate::test_util::{SESSION_STEP_10, SESSION_STEP_12, hex};

/// Decodes with [`Apdu::decode`], re-encodes, and insists on the same bytes.
fn exact(s: &str) -> Apdu {
    let bytes = hex(s);
    let apdu = Apdu::decode(&bytes).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(apdu.encode(), bytes, "re-encoding {s}");
    apdu
}

const CLOCK: ObisCode = ObisCode::new(0, 0, 1, 0, 0, 255);
const INVOKE: InvokeIdAndPriority = InvokeIdAndPriority(0xC1);

fn green_book_initiate() -> InitiateRequest {
    InitiateRequest::new(Conformance::GREEN_BOOK_PROPOSAL, 1200)
}

// ----- §2.6 worked encodings -----

#[test]
fn aarq_without_security() {
    let s = "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0";
    let built = Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(green_book_initiate()),
    );
    assert_eq!(built.encode(), hex(s));
    assert_eq!(exact(s), Apdu::Aarq(built));
}

#[test]
fn aare_accepted() {
    let s = "61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 50 1F 01 F4 00 07";
    let built = Aare::accepted(
        ApplicationContext::LN,
        UserInformation::InitiateResponse(InitiateResponse::new(Conformance(0x00_501F), 500)),
    );
    assert_eq!(built.encode(), hex(s));
    let Apdu::Aare(aare) = exact(s) else {
        panic!("not an AARE")
    };
    assert_eq!(aare, built);
    assert!(aare.is_associated());
    let Some(UserInformation::InitiateResponse(ir)) = &aare.user_information else {
        panic!("no InitiateResponse")
    };
    assert!(
        ir.negotiated_conformance
            .has(Conformance::BLOCK_TRANSFER_WITH_GET_OR_READ)
    );
    assert!(
        !ir.negotiated_conformance
            .has(Conformance::BLOCK_TRANSFER_WITH_SET_OR_WRITE)
    );
}

#[test]
fn aare_rejections() {
    // DLMS version too low: xDLMS rejection in user-information.
    let s = "61 1F A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 01 A3 05 A1 03 02 01 01 BE 06 04 04 0E 01 06 01";
    let Apdu::Aare(aare) = exact(s) else {
        panic!("not an AARE")
    };
    assert_eq!(aare.result, AssociationResult::RejectedPermanent);
    assert_eq!(
        aare.diagnostic,
        ResultSourceDiagnostic::User(AcseServiceUser::NO_REASON_GIVEN)
    );
    let Some(UserInformation::ConfirmedServiceError(e)) = aare.user_information else {
        panic!("no confirmedServiceError")
    };
    assert_eq!(
        e,
        ConfirmedServiceError::initiate(ConfirmedServiceError::INITIATE_DLMS_VERSION_TOO_LOW)
    );
    assert_eq!(
        e.to_string(),
        "service 1 failed: initiate error, DLMS version too low"
    );
    // Application context not supported (the rest as in the accepted AARE) [constructed].
    let s = "61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 01 A3 05 A1 03 02 01 02 BE 10 04 0E 08 00 06 5F 1F 04 00 00 50 1F 01 F4 00 07";
    let Apdu::Aare(aare) = exact(s) else {
        panic!("not an AARE")
    };
    assert_eq!(
        aare.diagnostic,
        ResultSourceDiagnostic::User(AcseServiceUser::APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)
    );
    // A rejection without user-information (L+G ZCXi, guide §8 item 10) [constructed].
    let built = Aare::rejected(
        ApplicationContext::LN,
        AssociationResult::RejectedPermanent,
        AcseServiceUser::AUTHENTICATION_FAILURE,
        None,
    );
    let bytes = built.encode();
    assert_eq!(
        bytes,
        hex("61 17 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 01 A3 05 A1 03 02 01 0D")
    );
    assert_eq!(Aare::decode(&bytes).unwrap(), built);
}

#[test]
fn aarq_with_lls() {
    let s = "60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 31 32 33 34 35 36 37 38 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0";
    let built = Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(green_book_initiate()),
    )
    .with_authentication(MechanismName::LOW, b"12345678".to_vec());
    assert_eq!(built.encode(), hex(s));
    assert_eq!(exact(s), Apdu::Aarq(built));
}

#[test]
fn aarq_ciphered_context_with_lls() {
    let s = "60 66 A1 09 06 07 60 85 74 05 08 01 03 A6 0A 04 08 4D 4D 4D 00 00 BC 61 4E 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 31 32 33 34 35 36 37 38 BE 34 04 32 21 30 30 01 23 45 67 80 13 02 FF 8A 78 74 13 3D 41 4C ED 25 B4 25 34 D2 8D B0 04 77 20 60 6B 17 5B D5 22 11 BE 68 41 DB 20 4D 39 EE 6F DB 8E 35 68 55";
    let Apdu::Aarq(aarq) = exact(s) else {
        panic!("not an AARQ")
    };
    assert!(aarq.application_context.is_ciphered());
    assert_eq!(aarq.calling_ap_title, Some(hex("4D 4D 4D 00 00 BC 61 4E")));
    let Some(UserInformation::Ciphered(c)) = &aarq.user_information else {
        panic!("not ciphered")
    };
    assert_eq!(c.header.invocation_counter, 0x0123_4567);
    assert_eq!(c.tag(), 0x21);
}

#[test]
fn hls_gmac_passes_1_to_4() {
    let pass1 = "60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80 8B 07 60 85 74 05 08 02 05 AC 0A 80 08 4B 35 36 69 56 61 67 59 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0";
    let built = Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(green_book_initiate()),
    )
    .with_authentication(MechanismName::HIGH_GMAC, b"K56iVagY".to_vec());
    assert_eq!(built.encode(), hex(pass1));
    exact(pass1);

    let pass2 = "61 42 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 0E 88 02 07 80 89 07 60 85 74 05 08 02 05 AA 0A 80 08 50 36 77 52 4A 32 31 46 BE 10 04 0E 08 00 06 5F 1F 04 00 00 50 1F 01 F4 00 07";
    let Apdu::Aare(aare) = exact(pass2) else {
        panic!("not an AARE")
    };
    assert!(aare.needs_hls_passes());
    assert!(!aare.is_associated());
    assert_eq!(aare.mechanism_name, Some(MechanismName::HIGH_GMAC));
    assert_eq!(
        aare.responding_authentication_value.as_deref(),
        Some(&b"P6wRJ21F"[..])
    );

    let pass3 = "C3 01 C1 00 0F 00 00 28 00 00 FF 01 01 09 11 10 00 00 00 01 1A 52 FE 7D D3 E7 27 48 97 3C 1E 28";
    let built = ActionRequest::normal(
        INVOKE,
        MethodDescriptor::new(15, ObisCode::new(0, 0, 40, 0, 0, 255), 1),
        Some(Data::octet_string(hex(
            "10 00 00 00 01 1A 52 FE 7D D3 E7 27 48 97 3C 1E 28",
        ))),
    );
    assert_eq!(built.encode(), hex(pass3));
    assert_eq!(exact(pass3), Apdu::ActionRequest(built));

    let pass4 = "C7 01 C1 00 01 00 09 11 10 01 23 45 67 FE 14 66 AF B3 DB CD 4F 93 89 E2 B7";
    let Apdu::ActionResponse(ActionResponse::Normal { invoke, response }) = exact(pass4) else {
        panic!("not an action response")
    };
    assert_eq!(invoke, INVOKE);
    assert_eq!(response.result, DataAccessResult::Success);
    assert_eq!(
        response.return_parameters,
        Some(GetDataResult::Data(Data::octet_string(hex(
            "10 01 23 45 67 FE 14 66 AF B3 DB CD 4F 93 89 E2 B7"
        ))))
    );
}

#[test]
fn old_one_byte_conformance_tag() {
    // jDLMS WrapperHeaderTest AARQ user-information.
    let ir = InitiateRequest::decode(&hex("01 00 00 00 06 5F 04 00 18 1A 20 00 00")).unwrap();
    assert_eq!(ir.proposed_conformance, Conformance(0x18_1A20));
    assert_eq!(ir.client_max_receive_pdu_size, 0);
    assert!(ir.response_allowed);
}

#[test]
fn conformance_blocks() {
    let p = Conformance::GREEN_BOOK_PROPOSAL;
    assert_eq!(
        p.names().collect::<Vec<_>>(),
        [
            "priority-mgmt-supported",
            "attribute0-supported-with-get",
            "block-transfer-with-get-or-read",
            "block-transfer-with-set-or-write",
            "block-transfer-with-action",
            "multiple-references",
            "get",
            "set",
            "selective-access",
            "event-notification",
            "action"
        ]
    );
    let g = Conformance(0x00_501F);
    assert_eq!(
        g.names().collect::<Vec<_>>(),
        [
            "priority-mgmt-supported",
            "block-transfer-with-get-or-read",
            "get",
            "set",
            "selective-access",
            "event-notification",
            "action"
        ]
    );
    assert_eq!(p.intersection(g), g);
    assert!(g.has(Conformance::GET | Conformance::SET | Conformance::ACTION));
    assert!(!g.has(Conformance::BLOCK_TRANSFER_WITH_SET_OR_WRITE));
    assert_eq!(Conformance::from_bytes([0x00, 0x7E, 0x1F]), p);
    assert_eq!(Conformance(0x00_0010).to_string(), "000010 (get)");
}

#[test]
fn release_examples_of_section_2_8() {
    assert_eq!(exact("62 03 80 01 00"), Apdu::Rlrq(Rlrq::normal()));
    assert_eq!(exact("63 03 80 01 00"), Apdu::Rlre(Rlre::normal()));
    exact("62 00");
    let Apdu::Rlre(rlre) =
        exact("63 16 80 01 00 BE 11 04 0F 08 01 00 06 5F 1F 04 00 00 1E 1D 04 C8 00 07")
    else {
        panic!("not an RLRE")
    };
    let Some(UserInformation::InitiateResponse(ir)) = rlre.user_information else {
        panic!("no InitiateResponse")
    };
    assert_eq!(ir.negotiated_quality_of_service, Some(0));
    assert_eq!(ir.server_max_receive_pdu_size, 1224);
    exact(
        "63 28 80 01 00 BE 23 04 21 28 1F 30 01 23 45 67 89 12 14 A0 84 5E 47 57 14 38 3F 65 BC 19 74 5C A2 35 90 65 25 E4 F3 E1 C8 93",
    );
    // The RLRQ carrying the ciphered InitiateRequest of §5.5 [rebuilt around the elision].
    exact(
        "62 39 80 01 00 BE 34 04 32 21 30 30 01 23 45 67 80 13 02 FF 8A 78 74 13 3D 41 4C ED 25 B4 25 34 D2 8D B0 04 77 20 60 6B 17 5B D5 22 11 BE 68 41 DB 20 4D 39 EE 6F DB 8E 35 68 55",
    );
}

#[test]
fn acse_decode_errors() {
    // Missing application context.
    let e = Aarq::decode(&hex("60 00")).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::MissingField(0xA1));
    // A context OID outside DLMS UA.
    let e = Aarq::decode(&hex("60 0B A1 09 06 07 60 85 74 05 09 01 01")).unwrap_err();
    assert_eq!(e.offset, 6);
    // Declared length beyond the input.
    let e = Aarq::decode(&hex("60 1D A1 09")).unwrap_err();
    assert!(matches!(e.kind, DecodeErrorKind::Truncated { .. }));
    // Duplicate result.
    let e = Aare::decode(&hex(
        "61 15 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A2 03 02 01 00",
    ))
    .unwrap_err();
    assert_eq!(
        (e.offset, e.kind),
        (18, DecodeErrorKind::DuplicateField(0xA2))
    );
    // Unknown result value.
    assert!(
        Aare::decode(&hex(
            "61 10 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 07"
        ))
        .is_err()
    );
    // Unknown fields are kept and written back in tag order.
    let s = "60 21 80 02 07 80 A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0";
    let Apdu::Aarq(a) = exact(s) else {
        panic!("not an AARQ")
    };
    assert_eq!(
        a.other_fields,
        [BerField {
            tag: 0x80,
            content: hex("07 80")
        }]
    );
}

// ----- §3 services -----

#[test]
fn get_examples_of_section_3_2() {
    let Apdu::GetRequest(r) = exact("C0 01 C1 00 01 00 00 2B 01 00 FF 02 00") else {
        panic!()
    };
    assert_eq!(
        r,
        GetRequest::normal(
            INVOKE,
            AttributeDescriptor::new(1, ObisCode::new(0, 0, 43, 1, 0, 255), 2)
        )
    );
    assert_eq!(
        exact("C4 01 C1 00 06 00 00 13 91"),
        Apdu::GetResponse(GetResponse::Normal {
            invoke: INVOKE,
            result: GetDataResult::Data(Data::DoubleLongUnsigned(5009))
        })
    );
    assert_eq!(
        exact("C4 01 C1 01 01"),
        Apdu::GetResponse(GetResponse::Normal {
            invoke: INVOKE,
            result: GetDataResult::Error(DataAccessResult::HardwareFault)
        })
    );
    let Apdu::GetRequest(GetRequest::WithList { attributes, .. }) =
        exact("C0 03 C1 02 00 01 00 00 2A 00 00 FF 02 00 00 08 00 00 01 00 00 FF 02 00")
    else {
        panic!()
    };
    assert_eq!(attributes.len(), 2);
    assert_eq!(
        attributes[1].attribute,
        AttributeDescriptor::new(8, CLOCK, 2)
    );
    // The 16-byte device name is elided in the guide; "ISK" and 13 constructed bytes.
    let Apdu::GetResponse(GetResponse::WithList { results, .. }) = exact(
        "C4 03 C1 02 00 09 10 49 53 4B 31 32 33 34 35 36 37 38 39 30 41 42 43 00 09 0C 07 E5 06 03 04 0E 09 17 00 FF C4 00",
    ) else {
        panic!()
    };
    assert_eq!(results.len(), 2);
    let GetDataResult::Data(clock) = &results[1] else {
        panic!()
    };
    assert_eq!(
        clock.to_date_time().unwrap().to_string(),
        "2021-06-03 wd4 14:09:23.00 dev -60 status 00"
    );
    assert_eq!(
        exact("C0 02 C1 00 00 00 01"),
        Apdu::GetRequest(GetRequest::Next {
            invoke: INVOKE,
            block_number: 1
        })
    );
    assert_eq!(
        exact("C4 02 C1 01 00 00 00 13 01 01"),
        Apdu::GetResponse(GetResponse::WithDatablock {
            invoke: INVOKE,
            block: GetDataBlock {
                last_block: true,
                block_number: 0x13,
                result: DataBlockResult::Error(DataAccessResult::HardwareFault)
            }
        })
    );
    // The start of the real 1440-row profile block: a raw-data length of 0x049E.
    let mut first = hex("C4 02 C1 00 00 00 00 01 00 82 04 9E 01 82 05 A0");
    first.resize(12 + 0x049E, 0x00);
    let Apdu::GetResponse(GetResponse::WithDatablock { block, .. }) = Apdu::decode(&first).unwrap()
    else {
        panic!()
    };
    assert!(!block.last_block);
    let DataBlockResult::RawData(raw) = block.result else {
        panic!()
    };
    assert_eq!(raw.len(), 0x049E);
}

#[test]
fn set_examples_of_section_3_3() {
    let clock_value = Data::decode(&hex("09 0C 07 E5 01 18 FF 0E 30 39 50 FF C4 00")).unwrap();
    let normal = "C1 01 C1 00 08 00 00 01 00 00 FF 02 00 09 0C 07 E5 01 18 FF 0E 30 39 50 FF C4 00";
    let built = SetRequest::normal(
        INVOKE,
        AttributeDescriptor::new(8, CLOCK, 2),
        clock_value.clone(),
    );
    assert_eq!(built.encode(), hex(normal));
    assert_eq!(exact(normal), Apdu::SetRequest(built));
    assert_eq!(
        exact("C5 01 C1 00"),
        Apdu::SetResponse(SetResponse::Normal {
            invoke: INVOKE,
            result: DataAccessResult::Success
        })
    );

    // The same SET in two blocks.
    let Apdu::SetRequest(SetRequest::WithFirstDatablock {
        block: b1,
        attribute,
        ..
    }) = exact("C1 02 C1 00 08 00 00 01 00 00 FF 02 00 00 00 00 00 01 08 09 0C 07 E5 01 18 FF 0E")
    else {
        panic!()
    };
    assert_eq!(attribute, AttributeDescriptor::new(8, CLOCK, 2));
    assert!(!b1.last_block);
    assert_eq!(
        exact("C5 02 C1 00 00 00 01"),
        Apdu::SetResponse(SetResponse::Datablock {
            invoke: INVOKE,
            block_number: 1
        })
    );
    let Apdu::SetRequest(SetRequest::WithDatablock { block: b2, .. }) =
        exact("C1 03 C1 01 00 00 00 02 06 30 39 50 FF C4 00")
    else {
        panic!()
    };
    assert!(b2.last_block);
    assert_eq!(b2.block_number, 2);
    assert_eq!(
        exact("C5 03 C1 00 00 00 00 02"),
        Apdu::SetResponse(SetResponse::LastDatablock {
            invoke: INVOKE,
            result: DataAccessResult::Success,
            block_number: 2
        })
    );
    let mut joined = b1.raw_data;
    joined.extend_from_slice(&b2.raw_data);
    assert_eq!(Data::decode(&joined).unwrap(), clock_value);
}

#[test]
fn action_examples_of_section_3_4() {
    let assoc = ObisCode::new(0, 0, 40, 0, 0, 255);
    assert_eq!(
        exact("C3 01 C0 00 0F 00 00 28 00 00 FF 01 00"),
        Apdu::ActionRequest(ActionRequest::normal(
            InvokeIdAndPriority(0xC0),
            MethodDescriptor::new(15, assoc, 1),
            None
        ))
    );
    assert_eq!(
        exact("C7 01 C0 00 00"),
        Apdu::ActionResponse(ActionResponse::Normal {
            invoke: InvokeIdAndPriority(0xC0),
            response: ActionResult::success()
        })
    );
    let Apdu::ActionResponse(ActionResponse::Normal { response, .. }) =
        exact("C7 01 C0 00 01 01 FA")
    else {
        panic!()
    };
    assert_eq!(
        response.return_parameters,
        Some(GetDataResult::Error(DataAccessResult::OtherReason))
    );
    // Disconnect and script execute [constructed].
    let disconnect = ActionRequest::normal(
        INVOKE,
        MethodDescriptor::new(70, ObisCode::new(0, 0, 96, 3, 10, 255), 1),
        Some(Data::Integer(0)),
    );
    assert_eq!(
        disconnect.encode(),
        hex("C3 01 C1 00 46 00 00 60 03 0A FF 01 01 0F 00")
    );
    exact("C3 01 C1 00 09 00 00 0A 00 64 FF 01 01 12 00 01");
}

#[test]
fn exception_responses() {
    assert_eq!(
        exact("D8 01 02"),
        Apdu::ExceptionResponse(ExceptionResponse::new(
            StateError::ServiceNotAllowed,
            ServiceError::ServiceNotSupported
        ))
    );
    exact("D8 01 01");
    let Apdu::ExceptionResponse(e) = exact("D8 01 06 00 00 12 34") else {
        panic!()
    };
    assert_eq!(
        e.service_error,
        ServiceError::InvocationCounterError(Some(0x1234))
    );
    assert_eq!(
        e.to_string(),
        "exception response: service not allowed, invocation counter error, expected 4660"
    );
    exact("D8 01 06");
    assert!(Apdu::decode(&hex("D8 01 06 00 12")).is_err());
}

#[test]
fn selective_access_of_section_3_8() {
    let s = "C0 01 C1 00 07 01 00 63 01 00 FF 02 01 01 02 04 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00 09 0C 07 E1 0A 01 07 00 00 00 00 FF C4 80 09 0C 07 E1 0A 01 07 01 00 00 00 FF C4 80 01 00";
    let Apdu::GetRequest(GetRequest::Normal {
        attribute,
        access: Some(access),
        ..
    }) = exact(s)
    else {
        panic!()
    };
    assert_eq!(
        attribute,
        AttributeDescriptor::new(7, ObisCode::new(1, 0, 99, 1, 0, 255), 2)
    );
    let Some(ProfileSelection::Range(range)) = ProfileSelection::from_access(&access).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        range.restricting_object,
        CaptureObjectDefinition::CLOCK_TIME
    );
    assert!(range.selected_values.is_empty());
    let from = range.from_value.to_date_time().unwrap();
    assert_eq!(
        from.to_utc().unwrap().to_rfc3339(),
        "2017-09-30T23:00:00+00:00"
    );
    // Built from parts, the request is byte-identical.
    let to = CosemDateTime::from_bytes(
        hex("07 E1 0A 01 07 01 00 00 00 FF C4 80")
            .try_into()
            .unwrap(),
    );
    let rebuilt = GetRequest::Normal {
        invoke: INVOKE,
        attribute,
        access: Some(
            RangeDescriptor {
                restricting_object: CaptureObjectDefinition::CLOCK_TIME,
                from_value: Data::date_time_octets(from),
                to_value: Data::date_time_octets(to),
                selected_values: vec![],
            }
            .into(),
        ),
    };
    assert_eq!(rebuilt.encode(), hex(s));

    let s = "C0 01 C1 00 07 01 00 63 01 00 FF 02 01 02 02 04 06 00 00 00 01 06 00 00 00 00 12 00 01 12 00 00";
    let Apdu::GetRequest(GetRequest::Normal {
        access: Some(access),
        ..
    }) = exact(s)
    else {
        panic!()
    };
    assert_eq!(
        ProfileSelection::from_access(&access).unwrap(),
        Some(ProfileSelection::Entry(EntryDescriptor::ALL))
    );
    assert_eq!(EntryDescriptor::entries(5, 10).to_entry, 14);
    let bad = SelectiveAccess {
        selector: 2,
        parameters: Data::Structure(vec![Data::Unsigned(1)]),
    };
    assert!(ProfileSelection::from_access(&bad).is_err());
}

#[test]
fn capture_objects_of_the_section_7_profile() {
    let d = Data::decode(&hex(
        "01 04 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00 02 04 12 00 01 09 06 00 00 60 0A 01 FF 0F 02 12 00 00 02 04 12 00 03 09 06 01 00 01 08 00 FF 0F 02 12 00 00 02 04 12 00 03 09 06 01 00 02 08 00 FF 0F 02 12 00 00",
    ))
    .unwrap();
    let cols: Vec<_> = d
        .as_elements()
        .unwrap()
        .iter()
        .map(|c| CaptureObjectDefinition::from_data(c).unwrap())
        .collect();
    assert_eq!(cols[0], CaptureObjectDefinition::CLOCK_TIME);
    assert_eq!(
        cols[2],
        CaptureObjectDefinition::new(3, ObisCode::elec(1, 8, 0), 2)
    );
    assert_eq!(cols[3].logical_name, ObisCode::elec(2, 8, 0));
    assert_eq!(
        Data::Array(cols.iter().map(|c| c.to_data()).collect()).encode(),
        d.encode()
    );
}

#[test]
fn example_session_of_section_7() {
    let steps = [
        "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 00 80",
        "61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 50 1F 01 F4 00 07",
        "C0 01 C1 00 08 00 00 01 00 00 FF 02 00",
        "C4 01 C1 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80",
        "C0 01 C2 00 03 01 00 01 08 00 FF 03 00",
        "C4 01 C2 00 02 02 0F 00 16 1E",
        "C0 01 C3 00 03 01 00 01 08 00 FF 02 00",
        "C4 01 C3 00 06 00 01 E7 12",
        "C0 01 C4 00 07 01 00 63 01 00 FF 02 01 01 02 04 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00 09 0C 07 E1 0A 01 07 00 00 00 00 FF C4 80 09 0C 07 E1 0A 01 07 01 00 00 00 FF C4 80 01 00",
        SESSION_STEP_10,
        "C0 02 C4 00 00 00 01",
        SESSION_STEP_12,
        "62 03 80 01 00",
        "63 03 80 01 00",
    ];
    let apdus: Vec<Apdu> = steps.iter().map(|s| exact(s)).collect();

    let Apdu::Aarq(aarq) = &apdus[0] else {
        panic!()
    };
    let Some(UserInformation::InitiateRequest(ir)) = &aarq.user_information else {
        panic!()
    };
    assert_eq!(ir.client_max_receive_pdu_size, 128);

    // Steps 5–8: scaler_unit and value make 124 690 Wh.
    let value_of = |a: &Apdu| match a {
        Apdu::GetResponse(GetResponse::Normal {
            result: GetDataResult::Data(d),
            ..
        }) => d.clone(),
        other => panic!("{other:?}"),
    };
    let su = crate::obis::ScalerUnit::from_data(&value_of(&apdus[5])).unwrap();
    let q = su.quantity(&value_of(&apdus[7])).unwrap();
    assert_eq!(q.to_string(), "124690 Wh");

    // Steps 10–12: the two blocks reassemble into five rows.
    let mut raw = Vec::new();
    for (i, a) in [(1u32, &apdus[9]), (2, &apdus[11])] {
        let Apdu::GetResponse(GetResponse::WithDatablock { invoke, block }) = a else {
            panic!()
        };
        assert_eq!(invoke.0, 0xC4);
        assert_eq!(block.block_number, i);
        assert_eq!(block.last_block, i == 2);
        let DataBlockResult::RawData(d) = &block.result else {
            panic!()
        };
        raw.extend_from_slice(d);
    }
    assert_eq!(raw.len(), 142);
    let rows = Data::decode(&raw).unwrap();
    let rows = rows.as_elements().unwrap();
    assert_eq!(rows.len(), 5);
    let plus_a: Vec<u64> = rows
        .iter()
        .map(|r| r.as_elements().unwrap()[2].as_u64().unwrap())
        .collect();
    assert_eq!(plus_a, [123_456, 123_711, 123_958, 124_210, 124_467]);
    let last_time = rows[4].as_elements().unwrap()[0].to_date_time().unwrap();
    assert_eq!(
        last_time.to_naive_local().unwrap().to_string(),
        "2017-10-01 01:00:00"
    );
}

#[test]
fn server_side_block_splitting_reproduces_section_7() {
    // The 142-byte profile answer cut for a client max PDU of 128: exactly steps 10 and 12.
    let mut raw = Vec::new();
    for s in [SESSION_STEP_10, SESSION_STEP_12] {
        let Apdu::GetResponse(GetResponse::WithDatablock { block, .. }) = exact(s) else {
            panic!()
        };
        let DataBlockResult::RawData(d) = block.result else {
            panic!()
        };
        raw.extend_from_slice(&d);
    }
    let blocks = GetResponse::for_encoded_value(InvokeIdAndPriority(0xC4), &raw, 128).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].encode(), hex(SESSION_STEP_10));
    assert_eq!(blocks[1].encode(), hex(SESSION_STEP_12));
    // A small value goes out whole.
    let one = GetResponse::for_encoded_value(INVOKE, &hex("06 00 01 E7 12"), 128).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].encode(), hex("C4 01 C1 00 06 00 01 E7 12"));
    // Large limits use longer length prefixes and still never exceed the limit.
    let big = Data::OctetString(vec![7; 5000]).encode();
    for max in [11usize, 12, 136, 137, 138, 139, 140, 300, 1200, 65535] {
        let parts = GetResponse::for_encoded_value(INVOKE, &big, max).unwrap();
        assert!(parts.iter().all(|p| p.encode().len() <= max), "max {max}");
        let joined: Vec<u8> = parts
            .iter()
            .flat_map(|p| match p {
                GetResponse::WithDatablock {
                    block:
                        GetDataBlock {
                            result: DataBlockResult::RawData(d),
                            ..
                        },
                    ..
                } => d.clone(),
                GetResponse::Normal {
                    result: GetDataResult::Data(d),
                    ..
                } => d.encode(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(joined, big);
    }
    assert!(GetResponse::for_encoded_value(INVOKE, &big, 10).is_err());
    assert!(GetResponse::for_encoded_value(INVOKE, &hex("09 05"), 128).is_err());
}

#[test]
fn invoke_ids() {
    let i = InvokeIdAndPriority::new(1, true, true);
    assert_eq!(i, InvokeIdAndPriority::DEFAULT);
    assert_eq!(
        (i.invoke_id(), i.confirmed(), i.high_priority()),
        (1, true, true)
    );
    assert_eq!(i.next().0, 0xC2);
    assert_eq!(InvokeIdAndPriority(0xFF).next().0, 0xF0);
    assert_eq!(InvokeIdAndPriority::new(3, true, false).0, 0x43);
}

#[test]
fn general_block_transfer_example() {
    let Apdu::GeneralBlockTransfer(g) =
        exact("E0 81 00 01 00 00 12 C4 01 C1 00 09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80")
    else {
        panic!()
    };
    assert!(g.last_block && !g.streaming);
    assert_eq!((g.window, g.block_number, g.block_number_ack), (1, 1, 0));
    assert!(matches!(
        Apdu::decode(&g.block_data).unwrap(),
        Apdu::GetResponse(GetResponse::Normal { .. })
    ));
}

#[test]
fn data_notifications() {
    // Iskra AM550 header with date-time; the 16-field body is elided in the guide, so a short
    // body stands in [constructed].
    let Apdu::DataNotification(n) =
        exact("0F 00 04 02 2C 0C 07 E5 0B 02 02 15 33 00 00 FF C4 00 02 01 11 05")
    else {
        panic!()
    };
    assert_eq!(n.long_invoke_id_and_priority, 0x0004_022C);
    assert_eq!(
        n.date_time.unwrap().to_string(),
        "2021-11-02 wd2 21:51:00.00 dev -60 status 00"
    );
    // dlms-cosem header without date-time [body constructed].
    let Apdu::DataNotification(n) = exact("0F 00 00 01 DB 00 09 02 12 5A") else {
        panic!()
    };
    assert_eq!(n.date_time, None);
    assert_eq!(n.body, Data::octet_string(hex("12 5A")));
    assert!(Apdu::decode(&hex("0F 00 00 01 DB 05 01 02 03 04 05 00")).is_err());
}

#[test]
fn object_list_entry_and_day_profile_decode() {
    for s in [
        "02 04 12 00 08 11 00 09 06 00 00 01 00 00 FF 02 02 01 09 02 03 0F 01 16 01 00 02 03 0F 02 16 03 00 02 03 0F 03 16 01 00 02 03 0F 04 16 01 00 02 03 0F 05 16 01 00 02 03 0F 06 16 01 00 02 03 0F 07 16 01 00 02 03 0F 08 16 01 00 02 03 0F 09 16 01 00 01 06 02 02 0F 01 16 01 02 02 0F 02 16 01 02 02 0F 03 16 01 02 02 0F 04 16 01 02 02 0F 05 16 01 02 02 0F 06 16 01",
        "02 02 11 01 01 02 02 03 09 04 07 00 00 00 09 06 00 00 0A 00 64 FF 12 00 01 02 03 09 04 17 00 00 00 09 06 00 00 0A 00 64 FF 12 00 02",
    ] {
        let d = Data::decode(&hex(s)).unwrap();
        assert_eq!(d.encode(), hex(s));
    }
}

#[test]
fn apdu_decode_errors() {
    assert_eq!(
        Apdu::decode(&[]).unwrap_err().kind,
        DecodeErrorKind::Truncated { needed: 1 }
    );
    assert_eq!(
        Apdu::decode(&[0x99]).unwrap_err().kind,
        DecodeErrorKind::UnknownTag(0x99)
    );
    let e = Apdu::decode(&hex("C0 07 C1")).unwrap_err();
    assert_eq!((e.offset, e.context), (1, "get-request"));
    let e = Apdu::decode(&hex("C4 01 C1 00 09 05 01")).unwrap_err();
    assert_eq!((e.offset, e.context), (5, "A-XDR data"));
    let e = Apdu::decode(&hex("C5 01 C1 00 00")).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TrailingBytes { count: 1 });
    assert_eq!(
        e.to_string(),
        "APDU: 1 byte(s) left over after the end (at byte 4)"
    );
}

// ----- property tests -----

fn arb_obis() -> impl Strategy<Value = ObisCode> {
    any::<[u8; 6]>().prop_map(ObisCode::from_bytes)
}

fn arb_invoke() -> impl Strategy<Value = InvokeIdAndPriority> {
    any::<u8>().prop_map(InvokeIdAndPriority)
}

fn arb_attr() -> impl Strategy<Value = AttributeDescriptor> {
    (any::<u16>(), arb_obis(), any::<i8>()).prop_map(|(c, o, a)| AttributeDescriptor::new(c, o, a))
}

fn arb_method() -> impl Strategy<Value = MethodDescriptor> {
    (any::<u16>(), arb_obis(), any::<i8>()).prop_map(|(c, o, a)| MethodDescriptor::new(c, o, a))
}

fn arb_data() -> impl Strategy<Value = Data> {
    crate::axdr::tests::arb_data()
}

fn arb_access() -> impl Strategy<Value = Option<SelectiveAccess>> {
    proptest::option::of(
        (any::<u8>(), arb_data()).prop_map(|(selector, parameters)| SelectiveAccess {
            selector,
            parameters,
        }),
    )
}

fn arb_attr_req() -> impl Strategy<Value = AttributeRequest> {
    (arb_attr(), arb_access())
        .prop_map(|(attribute, access)| AttributeRequest { attribute, access })
}

fn arb_result() -> impl Strategy<Value = DataAccessResult> {
    any::<u8>().prop_map(DataAccessResult::from_u8)
}

fn arb_get_data_result() -> impl Strategy<Value = GetDataResult> {
    prop_oneof![
        arb_data().prop_map(GetDataResult::Data),
        arb_result().prop_map(GetDataResult::Error),
    ]
}

fn arb_block() -> impl Strategy<Value = DataBlock> {
    (
        any::<bool>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(last_block, block_number, raw_data)| DataBlock {
            last_block,
            block_number,
            raw_data,
        })
}

fn small_vec<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    proptest::collection::vec(s, 0..4)
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn arb_ciphered() -> impl Strategy<Value = crate::security::CipheredApdu> {
    use crate::security::{
        CipheredApdu, CipheredKind, CipheredService, SecurityControl, SecurityHeader,
    };
    let service = proptest::sample::select(vec![
        CipheredService::InitiateRequest,
        CipheredService::InitiateResponse,
        CipheredService::ConfirmedServiceError,
        CipheredService::GetRequest,
        CipheredService::SetRequest,
        CipheredService::EventNotificationRequest,
        CipheredService::ActionRequest,
        CipheredService::GetResponse,
        CipheredService::SetResponse,
        CipheredService::ActionResponse,
    ]);
    let kind = prop_oneof![
        service.clone().prop_map(CipheredKind::Global),
        service.prop_map(CipheredKind::Dedicated),
        arb_bytes(10).prop_map(|system_title| CipheredKind::GeneralGlobal { system_title }),
        arb_bytes(10).prop_map(|system_title| CipheredKind::GeneralDedicated { system_title }),
    ];
    (kind, any::<u8>(), any::<u32>(), arb_bytes(300)).prop_map(|(kind, sc, ic, payload)| {
        CipheredApdu {
            kind,
            header: SecurityHeader {
                control: SecurityControl(sc),
                invocation_counter: ic,
            },
            payload,
        }
    })
}

fn arb_user_information() -> impl Strategy<Value = UserInformation> {
    prop_oneof![
        (
            proptest::option::of(arb_bytes(20)),
            any::<bool>(),
            proptest::option::of(any::<i8>()),
            any::<u8>(),
            0u32..0x100_0000,
            any::<u16>()
        )
            .prop_map(|(k, ra, q, v, c, p)| UserInformation::InitiateRequest(
                InitiateRequest {
                    dedicated_key: k,
                    response_allowed: ra,
                    proposed_quality_of_service: q,
                    proposed_dlms_version: v,
                    proposed_conformance: Conformance(c),
                    client_max_receive_pdu_size: p,
                }
            )),
        (
            proptest::option::of(any::<i8>()),
            any::<u8>(),
            0u32..0x100_0000,
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(|(q, v, c, p, vaa)| UserInformation::InitiateResponse(
                InitiateResponse {
                    negotiated_quality_of_service: q,
                    negotiated_dlms_version: v,
                    negotiated_conformance: Conformance(c),
                    server_max_receive_pdu_size: p,
                    vaa_name: vaa,
                }
            )),
        any::<[u8; 3]>().prop_map(|[a, b, c]| UserInformation::ConfirmedServiceError(
            ConfirmedServiceError {
                service: a,
                error_kind: b,
                error_value: c
            }
        )),
        arb_ciphered().prop_map(UserInformation::Ciphered),
    ]
}

fn arb_other_fields(tags: &'static [u8]) -> impl Strategy<Value = Vec<BerField>> {
    small_vec(
        (proptest::sample::select(tags), arb_bytes(140))
            .prop_map(|(tag, content)| BerField { tag, content }),
    )
}

fn arb_aarq() -> impl Strategy<Value = Aarq> {
    (
        any::<u8>(),
        proptest::option::of(arb_bytes(10)),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
        proptest::option::of(any::<u8>()),
        proptest::option::of(arb_bytes(70)),
        proptest::option::of(arb_user_information()),
        arb_other_fields(&[0x80, 0xA2, 0xA3, 0xA4, 0xA5, 0xA7, 0xA8, 0xBD]),
    )
        .prop_map(|(ctx, title, ae, afu, mech, auth, ui, other)| Aarq {
            application_context: ApplicationContext(ctx),
            calling_ap_title: title,
            calling_ae_invocation_id: ae,
            authentication_functional_unit: afu,
            mechanism_name: mech.map(MechanismName),
            calling_authentication_value: auth,
            user_information: ui,
            other_fields: other,
        })
}

fn arb_aare() -> impl Strategy<Value = Aare> {
    (
        any::<u8>(),
        0u8..3,
        any::<(bool, u8)>(),
        proptest::option::of(arb_bytes(10)),
        any::<bool>(),
        proptest::option::of(any::<u8>()),
        proptest::option::of(arb_bytes(70)),
        proptest::option::of(arb_user_information()),
        arb_other_fields(&[0x80, 0xA5, 0xA6, 0xA7, 0xBD]),
    )
        .prop_map(
            |(ctx, res, (user, diag), title, afu, mech, auth, ui, other)| Aare {
                application_context: ApplicationContext(ctx),
                result: AssociationResult::from_u8(res).unwrap(),
                diagnostic: if user {
                    ResultSourceDiagnostic::User(AcseServiceUser(diag))
                } else {
                    ResultSourceDiagnostic::Provider(AcseServiceProvider(diag))
                },
                responding_ap_title: title,
                authentication_functional_unit: afu,
                mechanism_name: mech.map(MechanismName),
                responding_authentication_value: auth,
                user_information: ui,
                other_fields: other,
            },
        )
}

fn arb_action_result() -> impl Strategy<Value = ActionResult> {
    (arb_result(), proptest::option::of(arb_get_data_result())).prop_map(
        |(result, return_parameters)| ActionResult {
            result,
            return_parameters,
        },
    )
}

fn arb_apdu() -> impl Strategy<Value = Apdu> {
    let get_req = prop_oneof![
        (arb_invoke(), arb_attr(), arb_access()).prop_map(|(invoke, attribute, access)| {
            GetRequest::Normal {
                invoke,
                attribute,
                access,
            }
        }),
        (arb_invoke(), any::<u32>()).prop_map(|(invoke, block_number)| GetRequest::Next {
            invoke,
            block_number
        }),
        (arb_invoke(), small_vec(arb_attr_req()))
            .prop_map(|(invoke, attributes)| GetRequest::WithList { invoke, attributes }),
    ];
    let get_resp = prop_oneof![
        (arb_invoke(), arb_get_data_result())
            .prop_map(|(invoke, result)| GetResponse::Normal { invoke, result }),
        (
            arb_invoke(),
            any::<bool>(),
            any::<u32>(),
            prop_oneof![
                arb_bytes(200).prop_map(DataBlockResult::RawData),
                arb_result().prop_map(DataBlockResult::Error)
            ]
        )
            .prop_map(|(invoke, last_block, block_number, result)| {
                GetResponse::WithDatablock {
                    invoke,
                    block: GetDataBlock {
                        last_block,
                        block_number,
                        result,
                    },
                }
            }),
        (arb_invoke(), small_vec(arb_get_data_result()))
            .prop_map(|(invoke, results)| GetResponse::WithList { invoke, results }),
    ];
    let set_req = prop_oneof![
        (arb_invoke(), arb_attr(), arb_access(), arb_data()).prop_map(
            |(invoke, attribute, access, value)| SetRequest::Normal {
                invoke,
                attribute,
                access,
                value
            }
        ),
        (arb_invoke(), arb_attr(), arb_access(), arb_block()).prop_map(
            |(invoke, attribute, access, block)| SetRequest::WithFirstDatablock {
                invoke,
                attribute,
                access,
                block
            }
        ),
        (arb_invoke(), arb_block())
            .prop_map(|(invoke, block)| SetRequest::WithDatablock { invoke, block }),
        (
            arb_invoke(),
            small_vec(arb_attr_req()),
            small_vec(arb_data())
        )
            .prop_map(|(invoke, attributes, values)| SetRequest::WithList {
                invoke,
                attributes,
                values
            }),
        (arb_invoke(), small_vec(arb_attr_req()), arb_block()).prop_map(
            |(invoke, attributes, block)| SetRequest::WithListAndFirstDatablock {
                invoke,
                attributes,
                block
            }
        ),
    ];
    let set_resp = prop_oneof![
        (arb_invoke(), arb_result())
            .prop_map(|(invoke, result)| SetResponse::Normal { invoke, result }),
        (arb_invoke(), any::<u32>()).prop_map(|(invoke, block_number)| SetResponse::Datablock {
            invoke,
            block_number
        }),
        (arb_invoke(), arb_result(), any::<u32>()).prop_map(|(invoke, result, block_number)| {
            SetResponse::LastDatablock {
                invoke,
                result,
                block_number,
            }
        }),
        (arb_invoke(), small_vec(arb_result()), any::<u32>()).prop_map(
            |(invoke, results, block_number)| SetResponse::LastDatablockWithList {
                invoke,
                results,
                block_number
            }
        ),
        (arb_invoke(), small_vec(arb_result()))
            .prop_map(|(invoke, results)| SetResponse::WithList { invoke, results }),
    ];
    let action_req = prop_oneof![
        (arb_invoke(), arb_method(), proptest::option::of(arb_data())).prop_map(
            |(invoke, method, parameters)| ActionRequest::Normal {
                invoke,
                method,
                parameters
            }
        ),
        (arb_invoke(), any::<u32>()).prop_map(|(invoke, block_number)| {
            ActionRequest::NextPblock {
                invoke,
                block_number,
            }
        }),
        (arb_invoke(), small_vec(arb_method()), small_vec(arb_data())).prop_map(
            |(invoke, methods, parameters)| ActionRequest::WithList {
                invoke,
                methods,
                parameters
            }
        ),
        (arb_invoke(), arb_method(), arb_block()).prop_map(|(invoke, method, block)| {
            ActionRequest::WithFirstPblock {
                invoke,
                method,
                block,
            }
        }),
        (arb_invoke(), small_vec(arb_method()), arb_block()).prop_map(
            |(invoke, methods, block)| ActionRequest::WithListAndFirstPblock {
                invoke,
                methods,
                block
            }
        ),
        (arb_invoke(), arb_block())
            .prop_map(|(invoke, block)| ActionRequest::WithPblock { invoke, block }),
    ];
    let action_resp = prop_oneof![
        (arb_invoke(), arb_action_result())
            .prop_map(|(invoke, response)| ActionResponse::Normal { invoke, response }),
        (arb_invoke(), arb_block())
            .prop_map(|(invoke, block)| ActionResponse::WithPblock { invoke, block }),
        (arb_invoke(), small_vec(arb_action_result()))
            .prop_map(|(invoke, responses)| ActionResponse::WithList { invoke, responses }),
        (arb_invoke(), any::<u32>()).prop_map(|(invoke, block_number)| {
            ActionResponse::NextPblock {
                invoke,
                block_number,
            }
        }),
    ];
    prop_oneof![
        arb_aarq().prop_map(Apdu::Aarq),
        arb_aare().prop_map(Apdu::Aare),
        (
            proptest::option::of(any::<u8>()),
            proptest::option::of(arb_user_information())
        )
            .prop_map(|(r, ui)| Apdu::Rlrq(Rlrq {
                reason: r.map(ReleaseRequestReason),
                user_information: ui,
                other_fields: vec![]
            })),
        (
            proptest::option::of(any::<u8>()),
            proptest::option::of(arb_user_information())
        )
            .prop_map(|(r, ui)| Apdu::Rlre(Rlre {
                reason: r.map(ReleaseResponseReason),
                user_information: ui,
                other_fields: vec![]
            })),
        arb_user_information().prop_map(|ui| match ui {
            UserInformation::InitiateRequest(v) => Apdu::InitiateRequest(v),
            UserInformation::InitiateResponse(v) => Apdu::InitiateResponse(v),
            UserInformation::ConfirmedServiceError(v) => Apdu::ConfirmedServiceError(v),
            UserInformation::Ciphered(v) => Apdu::Ciphered(v),
        }),
        get_req.prop_map(Apdu::GetRequest),
        get_resp.prop_map(Apdu::GetResponse),
        set_req.prop_map(Apdu::SetRequest),
        set_resp.prop_map(Apdu::SetResponse),
        action_req.prop_map(Apdu::ActionRequest),
        action_resp.prop_map(Apdu::ActionResponse),
        (any::<u8>(), 1u8..=6, any::<u32>()).prop_map(|(s, e, ic)| {
            let mut b = vec![0xD8, s, e];
            if e == 6 {
                b.extend_from_slice(&ic.to_be_bytes());
            }
            Apdu::decode(&b).unwrap()
        }),
        (
            any::<u32>(),
            proptest::option::of(any::<[u8; 12]>()),
            arb_data()
        )
            .prop_map(|(id, dt, body)| Apdu::DataNotification(DataNotification {
                long_invoke_id_and_priority: id,
                date_time: dt.map(CosemDateTime::from_bytes),
                body
            })),
        (
            any::<bool>(),
            any::<bool>(),
            0u8..64,
            any::<u16>(),
            any::<u16>(),
            arb_bytes(300)
        )
            .prop_map(|(l, s, w, n, a, d)| Apdu::GeneralBlockTransfer(
                GeneralBlockTransfer {
                    last_block: l,
                    streaming: s,
                    window: w,
                    block_number: n,
                    block_number_ack: a,
                    block_data: d
                }
            )),
        arb_ciphered().prop_map(Apdu::Ciphered),
    ]
}

const TAGS: [u8; 22] = [
    0x60, 0x61, 0x62, 0x63, 0x01, 0x08, 0x0E, 0xC0, 0xC1, 0xC3, 0xC4, 0xC5, 0xC7, 0xD8, 0x0F, 0xE0,
    0x21, 0x28, 0xC8, 0xCC, 0xDB, 0xDC,
];

proptest! {
    #[test]
    fn apdus_round_trip(a in arb_apdu()) {
        let bytes = a.encode();
        let back = Apdu::decode(&bytes).unwrap_or_else(|e| panic!("{e}: {bytes:02X?}"));
        // Bytes, not values: NaN floats inside Data are not equal to themselves.
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn apdu_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = Apdu::decode(&bytes);
    }

    #[test]
    fn apdu_decoder_never_panics_after_a_real_tag(
        tag in proptest::sample::select(TAGS.to_vec()),
        rest in proptest::collection::vec(
            prop_oneof![0u8..8, Just(0x80), Just(0x81), Just(0xFF), any::<u8>()], 0..80),
    ) {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&rest);
        if let Ok(a) = Apdu::decode(&bytes) {
            let again = a.encode();
            prop_assert_eq!(Apdu::decode(&again).unwrap().encode(), again);
        }
    }

    #[test]
    fn mutated_real_apdus_never_panic(i in 0usize..4, pos in 0usize..60, b in any::<u8>(), cut in 0usize..70) {
        let samples = [
            "60 66 A1 09 06 07 60 85 74 05 08 01 03 A6 0A 04 08 4D 4D 4D 00 00 BC 61 4E 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 31 32 33 34 35 36 37 38 BE 34 04 32 21 30 30 01 23 45 67 80 13 02 FF 8A 78 74 13 3D 41 4C ED 25 B4 25 34 D2 8D B0 04 77 20 60 6B 17 5B D5 22 11 BE 68 41 DB 20 4D 39 EE 6F DB 8E 35 68 55",
            "61 42 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 0E 88 02 07 80 89 07 60 85 74 05 08 02 05 AA 0A 80 08 50 36 77 52 4A 32 31 46 BE 10 04 0E 08 00 06 5F 1F 04 00 00 50 1F 01 F4 00 07",
            "C0 01 C4 00 07 01 00 63 01 00 FF 02 01 01 02 04 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00 09 0C 07 E1 0A 01 07 00 00 00 00 FF C4 80 09 0C 07 E1 0A 01 07 01 00 00 00 FF C4 80 01 00",
            SESSION_STEP_10,
        ];
        let mut bytes = hex(samples[i]);
        if pos < bytes.len() {
            bytes[pos] = b;
        }
        bytes.truncate(cut.max(1).min(bytes.len()));
        let _ = Apdu::decode(&bytes);
    }
}
