use proptest::prelude::*;

use super::*;
use crate::test_util::hex;

fn round_trip(d: &Data, bytes: &[u8]) {
    assert_eq!(d.encode(), bytes, "encoding {d}");
    assert_eq!(&Data::decode(bytes).unwrap(), d, "decoding {bytes:02X?}");
}

#[test]
fn every_row_of_the_tag_table() {
    round_trip(&Data::Null, &hex("00"));
    round_trip(
        &Data::Array(vec![Data::Unsigned(1), Data::Unsigned(2)]),
        &hex("01 02 11 01 11 02"),
    );
    round_trip(
        &Data::Structure(vec![Data::Integer(0), Data::Enum(30)]),
        &hex("02 02 0F 00 16 1E"),
    );
    round_trip(&Data::Boolean(true), &hex("03 01"));
    round_trip(&Data::Boolean(false), &hex("03 00"));
    // Any non-zero byte is true; we send 01.
    assert_eq!(Data::decode(&hex("03 05")).unwrap(), Data::Boolean(true));
    let abc = BitString::new(vec![0xAB, 0xC0], 12).unwrap();
    round_trip(&Data::BitString(abc.clone()), &hex("04 0C AB C0"));
    assert_eq!(
        abc.iter().collect::<Vec<_>>(),
        [
            true, false, true, false, true, false, true, true, true, true, false, false
        ]
    );
    round_trip(
        &Data::BitString(BitString::new(vec![0x00, 0x7E, 0x1F], 24).unwrap()),
        &hex("04 18 00 7E 1F"),
    );
    round_trip(&Data::DoubleLong(-2), &hex("05 FF FF FF FE"));
    round_trip(&Data::DoubleLongUnsigned(5009), &hex("06 00 00 13 91"));
    round_trip(&Data::octet_string(vec![1, 2]), &hex("09 02 01 02"));
    round_trip(&Data::visible_string("ABC"), &hex("0A 03 41 42 43"));
    round_trip(&Data::utf8_string("Å"), &hex("0C 02 C3 85"));
    round_trip(&Data::Bcd(0x42), &hex("0D 42"));
    round_trip(&Data::Integer(-1), &hex("0F FF"));
    round_trip(&Data::Long(-60), &hex("10 FF C4"));
    round_trip(&Data::Unsigned(200), &hex("11 C8"));
    round_trip(&Data::LongUnsigned(2301), &hex("12 08 FD"));
    round_trip(&Data::Long64(-1), &hex("14 FF FF FF FF FF FF FF FF"));
    round_trip(
        &Data::Long64Unsigned(0x0102_0304_0506_0708),
        &hex("15 01 02 03 04 05 06 07 08"),
    );
    round_trip(&Data::Enum(30), &hex("16 1E"));
    round_trip(&Data::Float32(1.5), &hex("17 3F C0 00 00"));
    round_trip(&Data::Float64(-2.25), &hex("18 C0 02 00 00 00 00 00 00"));
    round_trip(
        &Data::DateTime(CosemDateTime::from_bytes([
            0x07, 0xE1, 0x0A, 0x01, 0x07, 0x01, 0x07, 0x1E, 0x00, 0xFF, 0xC4, 0x80,
        ])),
        &hex("19 07 E1 0A 01 07 01 07 1E 00 FF C4 80"),
    );
    round_trip(
        &Data::Date(CosemDate::from_bytes([0xFF, 0xFF, 0x0C, 0x19, 0xFF])),
        &hex("1A FF FF 0C 19 FF"),
    );
    round_trip(
        &Data::Time(CosemTime::from_bytes([7, 0, 0, 0])),
        &hex("1B 07 00 00 00"),
    );
    round_trip(&Data::DontCare, &hex("FF"));
}

#[test]
fn long_lengths_in_strings_and_arrays() {
    for n in [127usize, 128, 255, 256, 1440] {
        let d = Data::OctetString(vec![0x55; n]);
        let enc = d.encode();
        let mut expect = vec![0x09];
        encode_length(&mut expect, n);
        assert_eq!(&enc[..expect.len()], &expect[..]);
        assert_eq!(Data::decode(&enc).unwrap(), d);
    }
    // The real profile block begins 01 82 05 A0: an array of 1440 entries.
    let d = Data::Array(vec![Data::Null; 1440]);
    let enc = d.encode();
    assert_eq!(&enc[..4], &hex("01 82 05 A0")[..]);
    assert_eq!(Data::decode(&enc).unwrap(), d);
    assert_eq!(decode_length(&hex("82 05 A0 99")).unwrap(), (1440, 3));
}

#[test]
fn date_time_as_octet_string_is_accepted() {
    // §7 step 4: the clock as octet-string(12).
    let d = Data::decode(&hex("09 0C 07 E1 0A 01 07 01 07 1E 00 FF C4 80")).unwrap();
    let dt = d.to_date_time().unwrap();
    assert_eq!(
        dt.to_string(),
        "2017-10-01 wd7 01:07:30.00 dev -60 status 80"
    );
    assert_eq!(
        dt.to_utc().unwrap().to_rfc3339(),
        "2017-10-01T00:07:30+00:00"
    );
    assert_eq!(Data::date_time_octets(dt), d);
    assert!(Data::OctetString(vec![0; 11]).to_date_time().is_err());
    assert!(Data::Unsigned(1).to_date_time().is_err());
}

#[test]
fn decode_errors_say_what_and_where() {
    let e = Data::decode(&hex("02 02 0F 00 07 01")).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::UnknownTag(7));
    assert_eq!(e.offset, 4);
    let e = Data::decode(&hex("09 05 01 02")).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::Truncated { needed: 3 });
    assert_eq!(e.offset, 1);
    let e = Data::decode(&hex("12 00")).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::Truncated { needed: 1 });
    let e = Data::decode(&hex("11 01 00")).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TrailingBytes { count: 1 });
    assert_eq!(e.offset, 2);
    // A huge count with nothing behind it fails on the first missing element, without reserving
    // memory for four billion values.
    let e = Data::decode(&hex("01 84 FF FF FF FF")).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::Truncated { needed: 1 });
    assert_eq!(
        e.to_string(),
        "A-XDR data: input ends early, 1 more byte(s) needed (at byte 6)"
    );
}

#[test]
fn nesting_is_limited() {
    let mut deep = [0x01, 0x01].repeat(40);
    deep.push(0x00);
    let e = Data::decode(&deep).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::TooDeep {
            limit: DEFAULT_MAX_DEPTH
        }
    );
    assert_eq!(e.offset, 2 * DEFAULT_MAX_DEPTH);
    let mut ok = [0x01, 0x01].repeat(DEFAULT_MAX_DEPTH);
    ok.push(0x00);
    assert!(Data::decode(&ok).is_ok());
    assert!(Data::decode_with_limit(&ok, 3).is_err());
}

#[test]
fn compact_array_of_structures() {
    // Two rows of {long-unsigned, double-long-unsigned}.
    let desc = TypeDescription::Structure(vec![
        TypeDescription::Simple(DataType::LongUnsigned),
        TypeDescription::Simple(DataType::DoubleLongUnsigned),
    ]);
    let rows = vec![
        Data::Structure(vec![Data::LongUnsigned(1), Data::DoubleLongUnsigned(2)]),
        Data::Structure(vec![Data::LongUnsigned(3), Data::DoubleLongUnsigned(4)]),
    ];
    let ca = CompactArray::new(desc, rows.clone()).unwrap();
    let bytes = hex("13 02 02 12 06 0C 00 01 00 00 00 02 00 03 00 00 00 04");
    round_trip(&Data::CompactArray(ca), &bytes);
    assert_eq!(
        Data::decode(&bytes).unwrap().as_elements().unwrap(),
        &rows[..]
    );

    // An array description with a fixed count, and octet-strings with their lengths.
    let desc = TypeDescription::Array {
        count: 2,
        element: Box::new(TypeDescription::Simple(DataType::OctetString)),
    };
    let el = Data::Array(vec![
        Data::octet_string(vec![0xAA]),
        Data::octet_string(vec![]),
    ]);
    let ca = CompactArray::new(desc, vec![el]).unwrap();
    round_trip(&Data::CompactArray(ca), &hex("13 01 00 02 09 03 01 AA 00"));
}

#[test]
fn compact_arrays_that_describe_nothing_are_refused() {
    for bad in [
        "13 00 00",                   // null-data elements
        "13 FF 00",                   // dont-care elements
        "13 02 00 00",                // structure without fields
        "13 01 00 00 11 00",          // array of zero elements
        "13 01 FF FF 01 FF FF 00 00", // array of arrays of null-data
        "13 13 00",                   // compact-array in a description
    ] {
        assert!(Data::decode(&hex(bad)).is_err(), "{bad} accepted");
    }
    assert!(
        CompactArray::new(
            TypeDescription::Simple(DataType::Unsigned),
            vec![Data::Long(1)]
        )
        .is_err()
    );
    let e = Data::decode(&hex("13 12 03 00 01 02")).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::Truncated { needed: 1 });
}

#[test]
fn display_is_readable() {
    let d = Data::decode(&hex("02 03 0F FF 16 23 0A 02 41 42")).unwrap();
    assert_eq!(
        d.to_string(),
        "structure[integer -1, enum 35, visible-string \"AB\"]"
    );
}

#[test]
fn logical_names() {
    let o = ObisCode::new(1, 0, 99, 1, 0, 255);
    let d = Data::logical_name(o);
    assert_eq!(d.encode(), hex("09 06 01 00 63 01 00 FF"));
    assert_eq!(d.to_obis().unwrap(), o);
    assert!(Data::octet_string(vec![1]).to_obis().is_err());
}

pub(crate) fn arb_data() -> impl Strategy<Value = Data> {
    let leaf = prop_oneof![
        Just(Data::Null),
        Just(Data::DontCare),
        any::<bool>().prop_map(Data::Boolean),
        (proptest::collection::vec(any::<u8>(), 0..4), 0usize..8).prop_map(|(b, pad)| {
            let bits = (b.len() * 8).saturating_sub(pad.min(7) * usize::from(!b.is_empty()));
            Data::BitString(BitString::new(b, bits).unwrap())
        }),
        any::<i32>().prop_map(Data::DoubleLong),
        any::<u32>().prop_map(Data::DoubleLongUnsigned),
        proptest::collection::vec(any::<u8>(), 0..140).prop_map(Data::OctetString),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Data::VisibleString),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Data::Utf8String),
        any::<u8>().prop_map(Data::Bcd),
        any::<i8>().prop_map(Data::Integer),
        any::<i16>().prop_map(Data::Long),
        any::<u8>().prop_map(Data::Unsigned),
        any::<u16>().prop_map(Data::LongUnsigned),
        any::<i64>().prop_map(Data::Long64),
        any::<u64>().prop_map(Data::Long64Unsigned),
        any::<u8>().prop_map(Data::Enum),
        any::<f32>().prop_map(Data::Float32),
        any::<f64>().prop_map(Data::Float64),
        any::<[u8; 12]>().prop_map(|b| Data::DateTime(CosemDateTime::from_bytes(b))),
        any::<[u8; 5]>().prop_map(|b| Data::Date(CosemDate::from_bytes(b))),
        any::<[u8; 4]>().prop_map(|b| Data::Time(CosemTime::from_bytes(b))),
        proptest::collection::vec(any::<u16>(), 0..5).prop_map(|v| {
            let desc = TypeDescription::Structure(vec![
                TypeDescription::Simple(DataType::LongUnsigned),
                TypeDescription::Simple(DataType::Boolean),
            ]);
            let els = v
                .into_iter()
                .map(|x| Data::Structure(vec![Data::LongUnsigned(x), Data::Boolean(x % 2 == 0)]))
                .collect();
            Data::CompactArray(CompactArray::new(desc, els).unwrap())
        }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Data::Array),
            proptest::collection::vec(inner, 0..6).prop_map(Data::Structure),
        ]
    })
}

proptest! {
    #[test]
    fn data_round_trips(d in arb_data()) {
        let bytes = d.encode();
        let back = Data::decode(&bytes).unwrap();
        // Compare bytes, not values: NaN floats are not equal to themselves.
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn data_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Data::decode(&bytes);
        let _ = Data::decode_prefix(&bytes);
    }

    #[test]
    fn data_decoder_never_panics_on_plausible_input(
        bytes in proptest::collection::vec(
            prop_oneof![0u8..=0x1B, Just(0x13), Just(0x80), Just(0x81), Just(0xFF), any::<u8>()],
            0..96,
        )
    ) {
        if let Ok(d) = Data::decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes to the same bytes again.
            let again = d.encode();
            prop_assert_eq!(Data::decode(&again).unwrap().encode(), again);
        }
    }
}
