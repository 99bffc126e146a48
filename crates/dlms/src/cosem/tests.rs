//! The class types against the guide's byte examples (§3, §4.3, §6.2, §6.3, §7), round trips
//! of every attribute, the typed errors for malformed values, the method parameters, and
//! random values that must never panic.

use metermaster_model::{ObisCode, Quantity, Unit};
use proptest::prelude::*;

use super::*;
use crate::apdu::{
    ActionRequest, ApplicationContext, Conformance, EntryDescriptor, InvokeIdAndPriority,
    MechanismName, RangeDescriptor,
};
use crate::axdr::{ClockStatus, CosemDate, CosemDateTime, CosemTime, Data};
use crate::error::ValueError;
use crate::obis::{DlmsUnit, ScalerUnit};
use crate::test_util::{SESSION_STEP_10, SESSION_STEP_12, hex};

const INVOKE: InvokeIdAndPriority = InvokeIdAndPriority(0xC1);
const CLOCK: ObisCode = ObisCode::new(0, 0, 1, 0, 0, 255);

fn data(s: &str) -> Data {
    Data::decode(&hex(s)).expect("valid A-XDR")
}

/// The action-request a call becomes, as the guide writes it.
fn request(call: &MethodCall, ln: ObisCode) -> Vec<u8> {
    ActionRequest::normal(INVOKE, call.descriptor(ln), call.parameters.clone()).encode()
}

/// Decodes `value` into attribute `attribute` of a fresh `T` and checks that it encodes back to
/// the same value.
fn round_trip<T: CosemClass>(attribute: i8, value: &Data) -> T {
    let mut o = T::new(ObisCode::new(0, 0, 0, 0, 0, 255));
    o.decode_attribute(attribute, value)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.encode_attribute(attribute).as_ref(),
        Some(value),
        "{} attribute {attribute} does not encode back",
        T::NAME
    );
    o
}

/// The error decoding `value` into attribute `attribute` of `T` gives.
fn decode_error<T: CosemClass>(attribute: i8, value: &Data) -> AttributeError {
    let mut o = T::new(ObisCode::new(0, 0, 0, 0, 0, 255));
    let e = o
        .decode_attribute(attribute, value)
        .expect_err("a malformed value must not decode");
    assert_eq!((e.class_id, e.class), (T::CLASS_ID, T::NAME));
    assert_eq!(e.attribute, attribute);
    assert_eq!(Some(e.attribute_name), T::attribute_name(attribute));
    e
}

fn dt(s: &str) -> Data {
    Data::OctetString(hex(s))
}

fn cdo(class_id: u16, ln: ObisCode, attribute: i8) -> CaptureObjectDefinition {
    CaptureObjectDefinition::new(class_id, ln, attribute)
}

// ----- the trait and its constants -----

fn check_shape<T: CosemClass>() {
    let mut o = T::new(CLOCK);
    assert_eq!(o.logical_name(), CLOCK);
    assert_eq!(T::attribute_name(1), Some("logical_name"));
    assert_eq!(o.encode_attribute(1), Some(Data::logical_name(CLOCK)));
    for a in T::ATTRIBUTES {
        assert!(T::attribute_name(*a).is_some(), "{} attribute {a}", T::NAME);
        assert_eq!(
            o.encode_attribute(*a),
            None,
            "{} attribute {a} unset",
            T::NAME
        );
    }
    let last = T::ATTRIBUTES.iter().copied().max().unwrap_or(1);
    assert_eq!(T::attribute_name(last + 1), None);
    let e = o
        .decode_attribute(last + 1, &Data::Null)
        .expect_err("no such attribute");
    assert_eq!(e.attribute_name, "unknown");
    // Attribute 1 sets the logical name; a bad one is refused.
    o.decode_attribute(1, &Data::logical_name(ObisCode::new(1, 0, 1, 8, 0, 255)))
        .unwrap();
    assert_eq!(o.logical_name(), ObisCode::new(1, 0, 1, 8, 0, 255));
    assert!(
        o.decode_attribute(1, &Data::OctetString(vec![1, 2]))
            .is_err()
    );
    let reads = T::read_attributes();
    assert!(reads.iter().all(|a| !T::NOT_READ.contains(a)));
    assert_eq!(reads.len() + T::NOT_READ.len(), T::ATTRIBUTES.len());
}

#[test]
fn every_class_has_its_numbers() {
    assert_eq!(
        [
            DataObject::CLASS_ID,
            Register::CLASS_ID,
            ExtendedRegister::CLASS_ID,
            DemandRegister::CLASS_ID,
            RegisterActivation::CLASS_ID,
            ProfileGeneric::CLASS_ID,
            Clock::CLASS_ID,
            ScriptTable::CLASS_ID,
            SpecialDaysTable::CLASS_ID,
            AssociationLn::CLASS_ID,
            SapAssignment::CLASS_ID,
            ActivityCalendar::CLASS_ID,
            PushSetup::CLASS_ID,
            DisconnectControl::CLASS_ID,
        ],
        [1, 3, 4, 5, 6, 7, 8, 9, 11, 15, 17, 20, 40, 70]
    );
    check_shape::<DataObject>();
    check_shape::<Register>();
    check_shape::<ExtendedRegister>();
    check_shape::<DemandRegister>();
    check_shape::<RegisterActivation>();
    check_shape::<ProfileGeneric>();
    check_shape::<Clock>();
    check_shape::<ScriptTable>();
    check_shape::<SpecialDaysTable>();
    check_shape::<AssociationLn>();
    check_shape::<SapAssignment>();
    check_shape::<ActivityCalendar>();
    check_shape::<PushSetup>();
    check_shape::<DisconnectControl>();
    assert_eq!(Clock::ATTRIBUTES, &[2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(ProfileGeneric::NOT_READ, &[2]);
    assert_eq!(AssociationLn::NOT_READ, &[7]);
    assert_eq!(ProfileGeneric::read_attributes(), vec![3, 4, 5, 6, 7, 8]);
    assert_eq!(Clock::VERSION, 0);
    assert_eq!(ProfileGeneric::VERSION, 1);
}

// ----- Data (1) -----

#[test]
fn data_object_with_the_value_of_section_3_2() {
    // Get-Response-Normal C4 01 C1 00 06 00 00 13 91: the invocation counter 5009.
    let o: DataObject = round_trip(DataObject::VALUE, &data("06 00 00 13 91"));
    assert_eq!(o.value, Some(Data::DoubleLongUnsigned(5009)));
    // Any type is a value.
    let o: DataObject = round_trip(2, &data("0A 03 41 42 43"));
    assert_eq!(o.value.as_ref().and_then(Data::as_str), Some("ABC"));
    let o = DataObject::from_attributes(
        ObisCode::new(0, 0, 96, 1, 0, 255),
        [(2, &Data::visible_string("10000001"))],
    )
    .unwrap();
    assert_eq!(o.logical_name, ObisCode::new(0, 0, 96, 1, 0, 255));
}

// ----- Register (3), Extended (4), Demand (5) -----

#[test]
fn register_with_the_scaler_unit_of_section_6_2() {
    let mut r: Register = round_trip(Register::SCALER_UNIT, &data("02 02 0F FF 16 23"));
    assert_eq!(r.scaler_unit, Some(ScalerUnit::new(-1, DlmsUnit::VOLT)));
    assert!(r.quantity().is_err(), "no value yet");
    r.decode_attribute(Register::VALUE, &data("12 08 FD"))
        .unwrap();
    assert_eq!(r.quantity().unwrap(), Quantity::new(2301, -1, Unit::Volt));
    assert_eq!(r.quantity().unwrap().to_string(), "230.1 V");

    let e = decode_error::<Register>(3, &data("02 01 0F FF"));
    assert_eq!(
        e.source,
        ValueError::WrongLength {
            what: "scaler_unit",
            expected: 2,
            found: 1
        }
    );
    assert_eq!(
        e.to_string(),
        "Register (class 3) attribute 3 (scaler_unit): scaler_unit: expected 2 elements, found 1"
    );
    // reset(integer 0) on +A: C3 01 C1 00 03 01 00 01 08 00 FF 01 01 0F 00.
    assert_eq!(
        request(&Register::reset(), ObisCode::elec(1, 8, 0)),
        hex("C3 01 C1 00 03 01 00 01 08 00 FF 01 01 0F 00")
    );
}

#[test]
fn extended_register_as_maximum_demand() {
    let values = [
        (2, data("06 00 00 0B B8")),
        (3, data("02 02 0F 00 16 1B")),
        (4, data("11 00")),
        // §4.3: Saturday 2024-06-15 20:23:45, deviation −120, DST active (Kaifa frame).
        (5, dt("07 E8 06 0F 06 14 17 2D 00 FF 88 80")),
    ];
    let mut r = ExtendedRegister::new(ObisCode::elec(1, 6, 0));
    for (a, v) in &values {
        r.decode_attribute(*a, v).unwrap();
        assert_eq!(r.encode_attribute(*a).as_ref(), Some(v));
    }
    assert_eq!(r.quantity().unwrap(), Quantity::new(3000, 0, Unit::Watt));
    let t = r.capture_time.unwrap();
    assert_eq!(t.deviation(), Some(-120));
    assert!(t.status.daylight_saving_active());
    assert_eq!(
        t.to_utc().unwrap().to_rfc3339(),
        "2024-06-15T18:23:45+00:00"
    );
    // A date-time with tag 25 decodes too (and is written back as an octet-string).
    let tagged = Data::DateTime(t);
    r.decode_attribute(5, &tagged).unwrap();
    assert_eq!(r.capture_time, Some(t));

    let e = decode_error::<ExtendedRegister>(5, &dt("07 E8 06 0F"));
    assert!(matches!(
        e.source,
        ValueError::WrongLength {
            expected: 12,
            found: 4,
            ..
        }
    ));
    let e = decode_error::<ExtendedRegister>(5, &Data::Unsigned(1));
    assert!(matches!(e.source, ValueError::WrongType { .. }));
    assert_eq!(
        request(&ExtendedRegister::reset(), ObisCode::elec(1, 6, 0)),
        hex("C3 01 C1 00 04 01 00 01 06 00 FF 01 01 0F 00")
    );
}

#[test]
fn demand_register_attributes_and_methods() {
    let values = [
        (2, data("06 00 00 01 F4")),
        (3, data("06 00 00 03 E8")),
        (4, data("02 02 0F FD 16 1B")),
        (5, data("11 00")),
        (6, dt("07 E8 03 05 02 0E 00 00 00 00 00 00")),
        (7, dt("07 E8 03 05 02 0D 2D 00 00 00 00 00")),
        (8, data("06 00 00 03 84")),
        (9, data("12 00 01")),
    ];
    let mut r = DemandRegister::new(ObisCode::elec(1, 4, 0));
    for (a, v) in &values {
        r.decode_attribute(*a, v).unwrap();
        assert_eq!(r.encode_attribute(*a).as_ref(), Some(v), "attribute {a}");
    }
    assert_eq!(r.period, Some(900));
    assert_eq!(r.number_of_periods, Some(1));
    assert_eq!(
        r.current_average().unwrap(),
        Quantity::new(500, -3, Unit::Watt)
    );
    assert_eq!(
        r.last_average().unwrap(),
        Quantity::new(1000, -3, Unit::Watt)
    );
    // A period that does not fit, or is not a number.
    let e = decode_error::<DemandRegister>(9, &Data::DoubleLongUnsigned(70_000));
    assert!(matches!(
        e.source,
        ValueError::OutOfRange {
            what: "long-unsigned",
            ..
        }
    ));
    let e = decode_error::<DemandRegister>(8, &Data::visible_string("900"));
    assert!(matches!(e.source, ValueError::WrongType { .. }));
    // Other integer widths that fit are accepted (and written back in the documented one).
    r.decode_attribute(8, &Data::LongUnsigned(60)).unwrap();
    assert_eq!(r.encode_attribute(8), Some(Data::DoubleLongUnsigned(60)));
    assert_eq!(
        request(&DemandRegister::next_period(), ObisCode::elec(1, 4, 0)),
        hex("C3 01 C1 00 05 01 00 01 04 00 FF 02 01 0F 00")
    );
    assert_eq!(DemandRegister::reset().method_id, 1);
}

// ----- Register Activation (6) -----

#[test]
fn register_activation_masks() {
    let assignment = Data::Array(vec![
        Data::Structure(vec![
            Data::LongUnsigned(3),
            Data::logical_name(ObisCode::elec(1, 8, 1)),
        ]),
        Data::Structure(vec![
            Data::LongUnsigned(3),
            Data::logical_name(ObisCode::elec(1, 8, 2)),
        ]),
    ]);
    let masks = Data::Array(vec![
        Data::Structure(vec![
            Data::octet_string(*b"R1"),
            Data::Array(vec![Data::Unsigned(1)]),
        ]),
        Data::Structure(vec![
            Data::octet_string(*b"R2"),
            Data::Array(vec![Data::Unsigned(2)]),
        ]),
    ]);
    let mut ra = RegisterActivation::new(ObisCode::abstract_(14, 0, 0));
    for (a, v) in [
        (2, &assignment),
        (3, &masks),
        (4, &Data::octet_string(*b"R2")),
    ] {
        ra.decode_attribute(a, v).unwrap();
        assert_eq!(ra.encode_attribute(a).as_ref(), Some(v));
    }
    assert_eq!(
        ra.active_registers(),
        Some(vec![RegisterAssignment {
            class_id: 3,
            logical_name: ObisCode::elec(1, 8, 2)
        }])
    );
    ra.active_mask = Some(OctetString::from("R9"));
    assert_eq!(ra.active_registers(), None);

    // The second mask's index list holds a structure: element 1 of the list is named.
    let bad = Data::Array(vec![
        Data::Structure(vec![Data::octet_string(*b"R1"), Data::Array(vec![])]),
        Data::Structure(vec![
            Data::octet_string(*b"R2"),
            Data::Array(vec![Data::Structure(vec![])]),
        ]),
    ]);
    let e = decode_error::<RegisterActivation>(3, &bad);
    let ValueError::Element { index: 1, source } = &e.source else {
        panic!("{e}")
    };
    assert!(
        matches!(**source, ValueError::Element { index: 0, .. }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "Register Activation (class 6) attribute 3 (mask_list): element 1: element 0: \
         unsigned: expected unsigned, found structure"
    );

    let add = RegisterActivation::add_mask(&RegisterMask {
        name: "R3".into(),
        indexes: vec![1, 2],
    });
    assert_eq!(add.method_id, 2);
    assert_eq!(
        add.parameters.unwrap().encode(),
        hex("02 02 09 02 52 33 01 02 11 01 11 02")
    );
    assert_eq!(
        RegisterActivation::delete_mask(&"R3".into())
            .parameters
            .unwrap()
            .encode(),
        hex("09 02 52 33")
    );
    let reg = RegisterActivation::add_register(RegisterAssignment {
        class_id: 3,
        logical_name: ObisCode::elec(1, 8, 3),
    });
    assert_eq!(
        reg.parameters.unwrap().encode(),
        hex("02 02 12 00 03 09 06 01 00 01 08 03 FF")
    );
}

// ----- Profile Generic (7) -----

/// The capture objects of the §7 load profile (guide §6.3).
const SECTION_6_3_CAPTURES: &str = "01 04 \
    02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00 \
    02 04 12 00 01 09 06 00 00 60 0A 01 FF 0F 02 12 00 00 \
    02 04 12 00 03 09 06 01 00 01 08 00 FF 0F 02 12 00 00 \
    02 04 12 00 03 09 06 01 00 02 08 00 FF 0F 02 12 00 00";

/// The raw data of the §7 blocked GET (steps 10 and 12), joined: five rows.
fn section_7_buffer() -> Data {
    let first = hex(SESSION_STEP_10);
    let last = hex(SESSION_STEP_12);
    assert_eq!((first[9], first.len()), (0x76, 10 + 0x76));
    assert_eq!((last[9], last.len()), (0x18, 10 + 0x18));
    let mut raw = first[10..].to_vec();
    raw.extend_from_slice(&last[10..]);
    Data::decode(&raw).unwrap()
}

fn load_profile() -> ProfileGeneric {
    let mut p = ProfileGeneric::new(ObisCode::new(1, 0, 99, 1, 0, 255));
    p.decode_attribute(3, &data(SECTION_6_3_CAPTURES)).unwrap();
    p.decode_attribute(4, &data("06 00 00 03 84")).unwrap();
    p
}

#[test]
fn profile_generic_capture_objects_of_section_6_3() {
    let p: ProfileGeneric = round_trip(3, &data(SECTION_6_3_CAPTURES));
    let c = p.capture_objects.unwrap();
    assert_eq!(c.len(), 4);
    assert_eq!(c[0], CaptureObjectDefinition::CLOCK_TIME);
    assert_eq!(c[1], cdo(1, ObisCode::new(0, 0, 96, 10, 1, 255), 2));
    assert_eq!(c[3], cdo(3, ObisCode::elec(2, 8, 0), 2));
    for (a, v) in [
        (4, data("06 00 00 03 84")),
        (5, data("16 01")),
        (
            6,
            data("02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00"),
        ),
        (7, data("06 00 00 05 A0")),
        (8, data("06 00 00 0F 00")),
        (2, data("01 01 02 02 11 00 06 00 00 00 01")),
    ] {
        let _: ProfileGeneric = round_trip(a, &v);
    }
    let p: ProfileGeneric = round_trip(5, &data("16 02"));
    assert_eq!(p.sort_method, Some(SortMethod::Lifo));
    let e = decode_error::<ProfileGeneric>(5, &data("16 07"));
    assert_eq!(
        e.source,
        ValueError::OutOfRange {
            what: "sort_method",
            value: 7i64.into()
        }
    );
    // attribute_index must be an integer: element 2's is an unsigned.
    let bad = data(
        "01 03 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00 \
         02 04 12 00 01 09 06 00 00 60 0A 01 FF 0F 02 12 00 00 \
         02 04 12 00 03 09 06 01 00 01 08 00 FF 11 02 12 00 00",
    );
    let e = decode_error::<ProfileGeneric>(3, &bad);
    assert!(
        matches!(&e.source, ValueError::Element { index: 2, source }
            if matches!(**source, ValueError::WrongType { what: "attribute_index", .. })),
        "{e}"
    );
    assert_eq!(
        request(
            &ProfileGeneric::capture(),
            ObisCode::new(1, 0, 99, 1, 0, 255)
        ),
        hex("C3 01 C1 00 07 01 00 63 01 00 FF 02 01 0F 00")
    );
    assert_eq!(ProfileGeneric::reset().method_id, 1);
}

#[test]
fn profile_rows_of_the_section_7_session() {
    let p = load_profile();
    let table = p.table(&section_7_buffer()).unwrap();
    assert_eq!(table.time_column, Some(0));
    assert_eq!(table.rows.len(), 5);
    let times: Vec<String> = table
        .rows
        .iter()
        .map(|r| r.time.unwrap().to_naive_local().unwrap().to_string())
        .collect();
    assert_eq!(
        times,
        [
            "2017-10-01 00:00:00",
            "2017-10-01 00:15:00",
            "2017-10-01 00:30:00",
            "2017-10-01 00:45:00",
            "2017-10-01 01:00:00"
        ]
    );
    let import = table.column(ObisCode::elec(1, 8, 0), 2).unwrap();
    assert_eq!(import, 2);
    let values: Vec<u64> = table
        .values(import)
        .map(|v| v.and_then(Data::as_u64).unwrap())
        .collect();
    assert_eq!(values, [123_456, 123_711, 123_958, 124_210, 124_467]);
    assert_eq!(table.column(ObisCode::elec(3, 8, 0), 2), None);
}

#[test]
fn compressed_timestamps_are_rebuilt() {
    let p = load_profile();
    let row = |t: Data, v: u32| {
        Data::Structure(vec![
            t,
            Data::Unsigned(0),
            Data::DoubleLongUnsigned(v),
            Data::DoubleLongUnsigned(0),
        ])
    };
    let buffer = Data::Array(vec![
        row(dt("07 E1 0A 01 07 17 1E 00 00 FF C4 80"), 1),
        row(Data::Null, 2),
        row(Data::Null, 3),
    ]);
    let table = p.table(&buffer).unwrap();
    let t: Vec<CosemDateTime> = table.rows.iter().map(|r| r.time.unwrap()).collect();
    assert_eq!(
        t[1].to_naive_local().unwrap().to_string(),
        "2017-10-01 23:45:00"
    );
    // Across midnight, with the first row's deviation and status.
    assert_eq!(
        t[2].to_naive_local().unwrap().to_string(),
        "2017-10-02 00:00:00"
    );
    assert_eq!(
        (t[2].deviation(), t[2].status),
        (Some(-60), ClockStatus(0x80))
    );
    assert_eq!(table.rows[2].values[0], Data::Null, "values stay as sent");

    // Nothing to rebuild from: no time rather than a guess.
    let table = p.table(&Data::Array(vec![row(Data::Null, 1)])).unwrap();
    assert_eq!(table.rows[0].time, None);
    // A row with a missing column: the row is named.
    let short = Data::Array(vec![
        row(Data::Null, 1),
        Data::Structure(vec![Data::Null, Data::Unsigned(0)]),
    ]);
    let e = p.table(&short).unwrap_err();
    assert_eq!((e.class_id, e.attribute), (7, 2));
    assert!(
        matches!(&e.source, ValueError::Element { index: 1, source }
            if matches!(**source, ValueError::WrongLength { expected: 4, found: 2, .. })),
        "{e}"
    );
    // A time column that holds something else.
    let e = p
        .table(&Data::Array(vec![row(Data::Unsigned(3), 1)]))
        .unwrap_err();
    assert!(matches!(e.source, ValueError::Element { index: 0, .. }));
    // Without capture objects there is nothing to match against.
    let e = ProfileGeneric::new(CLOCK).table(&buffer).unwrap_err();
    assert_eq!(e.attribute, ProfileGeneric::CAPTURE_OBJECTS);
}

#[test]
fn columns_of_a_selection() {
    use crate::apdu::ProfileSelection;
    let p = load_profile();
    let all = p.capture_objects.clone().unwrap();
    assert_eq!(p.selected_columns(None).unwrap(), all);
    // §3.8's real request: range on the clock, all columns.
    let range = RangeDescriptor {
        restricting_object: CaptureObjectDefinition::CLOCK_TIME,
        from_value: dt("07 E1 0A 01 07 00 00 00 00 FF C4 80"),
        to_value: dt("07 E1 0A 01 07 01 00 00 00 FF C4 80"),
        selected_values: Vec::new(),
    };
    let sel = ProfileSelection::Range(range.clone());
    assert_eq!(p.selected_columns(Some(&sel)).unwrap(), all);
    // Selected values come back in buffer order, whatever order they were asked in.
    let mut some = range.clone();
    some.selected_values = vec![all[2], all[0]];
    let cols = p
        .selected_columns(Some(&ProfileSelection::Range(some)))
        .unwrap();
    assert_eq!(cols, vec![all[0], all[2]]);
    let mut unknown = range;
    unknown.selected_values = vec![cdo(3, ObisCode::elec(9, 8, 0), 2)];
    assert!(
        p.selected_columns(Some(&ProfileSelection::Range(unknown)))
            .is_err()
    );
    // Entry descriptor: columns 2 to 3, and 1 to the last.
    let e = EntryDescriptor {
        from_entry: 1,
        to_entry: 0,
        from_selected_value: 2,
        to_selected_value: 3,
    };
    let cols = p
        .selected_columns(Some(&ProfileSelection::Entry(e)))
        .unwrap();
    assert_eq!(cols, all[1..3].to_vec());
    let cols = p
        .selected_columns(Some(&ProfileSelection::Entry(EntryDescriptor::ALL)))
        .unwrap();
    assert_eq!(cols, all);
    let beyond = EntryDescriptor {
        to_selected_value: 9,
        ..e
    };
    assert!(
        p.selected_columns(Some(&ProfileSelection::Entry(beyond)))
            .is_err()
    );
}

// ----- Clock (8) -----

#[test]
fn clock_time_of_the_set_example_of_section_3_3() {
    // C1 01 C1 00 08 00 00 01 00 00 FF 02 00 09 0C 07 E5 01 18 FF 0E 30 39 50 FF C4 00.
    let value = data("09 0C 07 E5 01 18 FF 0E 30 39 50 FF C4 00");
    let mut c: Clock = round_trip(Clock::TIME, &value);
    c.logical_name = CLOCK;
    let t = c.time.unwrap();
    assert_eq!(
        t.to_naive_local().unwrap().to_string(),
        "2021-01-24 14:48:57.800"
    );
    assert_eq!(t.deviation(), Some(-60));
    let set = crate::apdu::SetRequest::normal(INVOKE, c.descriptor(Clock::TIME), value);
    assert_eq!(
        set.encode(),
        hex("C1 01 C1 00 08 00 00 01 00 00 FF 02 00 09 0C 07 E5 01 18 FF 0E 30 39 50 FF C4 00")
    );
    // §3.2's GET-with-list answer carries the clock as 09 0C 07 E5 06 03 04 0E 09 17 00 FF C4 00.
    let c: Clock = round_trip(2, &data("09 0C 07 E5 06 03 04 0E 09 17 00 FF C4 00"));
    assert_eq!(
        c.time.unwrap().to_utc().unwrap().to_rfc3339(),
        "2021-06-03T13:09:23+00:00"
    );
}

#[test]
fn clock_attributes_round_trip() {
    let values = [
        (3, data("10 FF C4")),
        (4, data("11 80")),
        // Last Sunday of March 02:00, every year (§4.3), and last Sunday of October 03:00.
        (5, dt("FF FF 03 FE 07 02 00 00 FF 80 00 FF")),
        (6, dt("FF FF 0A FE 07 03 00 00 FF 80 00 FF")),
        (7, data("0F 3C")),
        (8, data("03 01")),
        (9, data("16 01")),
    ];
    let mut c = Clock::new(CLOCK);
    for (a, v) in &values {
        c.decode_attribute(*a, v).unwrap();
        assert_eq!(c.encode_attribute(*a).as_ref(), Some(v), "attribute {a}");
    }
    assert_eq!(c.time_zone, Some(-60));
    assert!(c.status.unwrap().daylight_saving_active());
    let begin = c.daylight_savings_begin.unwrap();
    assert_eq!(begin.date.year(), None);
    assert_eq!(begin.date.day, crate::axdr::DAY_LAST);
    assert_eq!(c.daylight_savings_deviation, Some(60));
    assert_eq!(c.daylight_savings_enabled, Some(true));
    assert_eq!(c.clock_base, Some(ClockBase::InternalCrystal));

    let e = decode_error::<Clock>(9, &data("16 09"));
    assert_eq!(
        e.to_string(),
        "Clock (class 8) attribute 9 (clock_base): clock_base: 9 is out of range"
    );
    let e = decode_error::<Clock>(3, &data("12 FF C4"));
    assert!(matches!(
        e.source,
        ValueError::OutOfRange { what: "long", .. }
    ));
    let e = decode_error::<Clock>(8, &data("11 01"));
    assert!(matches!(
        e.source,
        ValueError::WrongType {
            expected: "boolean",
            ..
        }
    ));
}

#[test]
fn clock_methods() {
    assert_eq!(
        request(&Clock::shift_time(900).unwrap(), CLOCK),
        hex("C3 01 C1 00 08 00 00 01 00 00 FF 06 01 10 03 84")
    );
    assert_eq!(
        request(&Clock::shift_time(-60).unwrap(), CLOCK),
        hex("C3 01 C1 00 08 00 00 01 00 00 FF 06 01 10 FF C4")
    );
    for bad in [901, -901, i16::MIN, i16::MAX] {
        assert!(matches!(
            Clock::shift_time(bad),
            Err(ValueError::OutOfRange { .. })
        ));
    }
    for (call, id) in [
        (Clock::adjust_to_quarter(), 1),
        (Clock::adjust_to_measuring_period(), 2),
        (Clock::adjust_to_minute(), 3),
        (Clock::adjust_to_preset_time(), 4),
    ] {
        assert_eq!((call.class_id, call.method_id), (8, id));
        assert_eq!(call.parameters, Some(Data::Integer(0)));
    }
    let t = |s: &str| CosemDateTime::from_bytes(hex(s).try_into().unwrap());
    let preset = Clock::preset_adjusting_time(
        t("07 E5 01 18 FF 0E 30 00 00 FF C4 00"),
        t("07 E5 01 18 FF 0E 00 00 00 FF C4 00"),
        t("07 E5 01 18 FF 0F 00 00 00 FF C4 00"),
    );
    assert_eq!(preset.method_id, 5);
    assert_eq!(
        preset.parameters.unwrap().encode(),
        hex(
            "02 03 09 0C 07 E5 01 18 FF 0E 30 00 00 FF C4 00 09 0C 07 E5 01 18 FF 0E 00 00 00 FF C4 00 \
             09 0C 07 E5 01 18 FF 0F 00 00 00 FF C4 00"
        )
    );
}

// ----- Script Table (9) -----

#[test]
fn script_table_and_execute() {
    let scripts = data(
        "01 02 \
         02 02 12 00 01 01 01 02 05 16 01 12 00 06 09 06 00 00 0E 00 00 FF 0F 04 09 02 52 31 \
         02 02 12 00 02 01 02 \
            02 05 16 01 12 00 06 09 06 00 00 0E 00 00 FF 0F 04 09 02 52 32 \
            02 05 16 02 12 00 46 09 06 00 00 60 03 0A FF 0F 01 0F 00",
    );
    let t: ScriptTable = round_trip(ScriptTable::SCRIPTS, &scripts);
    let s2 = t.script(2).unwrap();
    assert_eq!(s2.actions.len(), 2);
    assert_eq!(s2.actions[0].service, ScriptService::WriteAttribute);
    assert_eq!(s2.actions[0].parameter, Data::octet_string(*b"R2"));
    assert_eq!(
        s2.actions[1],
        ScriptAction {
            service: ScriptService::ExecuteMethod,
            class_id: 70,
            logical_name: ObisCode::new(0, 0, 96, 3, 10, 255),
            index: 1,
            parameter: Data::Integer(0),
        }
    );
    assert!(t.script(3).is_none());
    // service_id 3 does not exist.
    let bad =
        data("01 01 02 02 12 00 01 01 01 02 05 16 03 12 00 06 09 06 00 00 0E 00 00 FF 0F 04 00");
    let e = decode_error::<ScriptTable>(2, &bad);
    assert!(
        e.to_string().contains("service_id: 3 is out of range"),
        "{e}"
    );
    // §6.3: execute script 1 of the tariffication table.
    assert_eq!(
        request(&ScriptTable::execute(1), ObisCode::abstract_(10, 0, 100)),
        hex("C3 01 C1 00 09 00 00 0A 00 64 FF 01 01 12 00 01")
    );
}

// ----- Special Days Table (11) -----

#[test]
fn special_days_every_25_december() {
    // §4.3: date FF FF 0C 19 FF = every 25 December.
    let entries = data(
        "01 02 02 03 12 00 00 09 05 FF FF 0C 19 FF 11 03 02 03 12 00 01 09 05 07 E8 0C 1A FF 11 03",
    );
    let t: SpecialDaysTable = round_trip(SpecialDaysTable::ENTRIES, &entries);
    let e = t.entries.unwrap();
    assert_eq!(e[0].date.year(), None);
    assert_eq!((e[0].date.month, e[0].date.day, e[0].day_id), (12, 25, 3));
    assert_eq!(e[1].date.year(), Some(2024));

    let insert = SpecialDaysTable::insert(e[0]);
    assert_eq!(
        request(&insert, ObisCode::abstract_(11, 0, 0)),
        hex("C3 01 C1 00 0B 00 00 0B 00 00 FF 01 01 02 03 12 00 00 09 05 FF FF 0C 19 FF 11 03")
    );
    assert_eq!(
        request(&SpecialDaysTable::delete(1), ObisCode::abstract_(11, 0, 0)),
        hex("C3 01 C1 00 0B 00 00 0B 00 00 FF 02 01 12 00 01")
    );
    let bad = data("01 01 02 03 12 00 00 09 04 FF FF 0C 19 11 03");
    let err = decode_error::<SpecialDaysTable>(2, &bad);
    assert!(
        matches!(&err.source, ValueError::Element { index: 0, source }
        if matches!(**source, ValueError::WrongLength { expected: 5, found: 4, .. }))
    );
    let bad = data("01 01 02 02 12 00 00 09 05 FF FF 0C 19 FF");
    assert!(
        decode_error::<SpecialDaysTable>(2, &bad)
            .to_string()
            .contains("expected 3 elements")
    );
}

// ----- Association LN (15) -----

/// §6.3: the clock's object list entry, v1-style method access.
const CLOCK_ENTRY: &str = "02 04 12 00 08 11 00 09 06 00 00 01 00 00 FF \
    02 02 01 09 \
       02 03 0F 01 16 01 00   02 03 0F 02 16 03 00   02 03 0F 03 16 01 00 \
       02 03 0F 04 16 01 00   02 03 0F 05 16 01 00   02 03 0F 06 16 01 00 \
       02 03 0F 07 16 01 00   02 03 0F 08 16 01 00   02 03 0F 09 16 01 00 \
    01 06 02 02 0F 01 16 01   02 02 0F 02 16 01   02 02 0F 03 16 01 \
          02 02 0F 04 16 01   02 02 0F 05 16 01   02 02 0F 06 16 01";

#[test]
fn object_list_entry_of_section_6_3() {
    let list = Data::Array(vec![data(CLOCK_ENTRY)]);
    let a: AssociationLn = round_trip(AssociationLn::OBJECT_LIST, &list);
    let clock = a.find(CLOCK).unwrap();
    assert_eq!((clock.class_id, clock.version), (8, 0));
    assert_eq!(clock.access_rights.attributes.len(), 9);
    assert_eq!(clock.access_rights.methods.len(), 6);
    let time = clock.attribute_access(2).unwrap();
    assert!(time.can_read(1) && time.can_write(1));
    let zone = clock.attribute_access(3).unwrap();
    assert!(zone.can_read(1) && !zone.can_write(1));
    assert!(clock.method_access(6).unwrap().allowed());
    assert_eq!(clock.attribute_access(10), None);
    assert_eq!(
        clock.access_rights.attributes[0].access_selectors, None,
        "null-data selectors"
    );
    // Version 3 bit masks: 0x03 = read and write; 0x04 alone = neither.
    assert!(AccessMode(3).can_write(3) && !AccessMode(4).can_read(3));
    assert!(AccessMode(4).can_read(2) && !AccessMode(4).can_write(2));
    // The meter reader's view.
    let reader_view = crate::client::reader::CosemObject::from(clock);
    assert_eq!(reader_view.logical_name, CLOCK);
    assert!(reader_view.no_access.is_empty());

    // Version 0 method access (boolean) and selectors as an array.
    let v0 = data(
        "01 01 02 04 12 00 07 11 01 09 06 01 00 63 01 00 FF 02 02 \
         01 02 02 03 0F 01 16 01 00 02 03 0F 02 16 00 01 02 0F 01 0F 02 \
         01 01 02 02 0F 01 03 00",
    );
    let a: AssociationLn = round_trip(2, &v0);
    let p = &a.object_list.unwrap()[0];
    assert_eq!(
        p.access_rights.attributes[1].access_selectors,
        Some(vec![1, 2])
    );
    assert_eq!(p.method_access(1), Some(MethodAccessMode::Boolean(false)));
    assert!(!p.method_access(1).unwrap().allowed());
    let reader_view = crate::client::reader::CosemObject::from(p);
    assert_eq!(reader_view.no_access, vec![2]);

    // Entry 1 has a five-byte logical name.
    let bad = Data::Array(vec![
        data(CLOCK_ENTRY),
        data("02 04 12 00 01 11 00 09 05 00 00 2A 00 00 02 02 01 00 01 00"),
    ]);
    let e = decode_error::<AssociationLn>(2, &bad);
    assert_eq!(
        e.to_string(),
        "Association LN (class 15) attribute 2 (object_list): element 1: logical name: \
         expected 6 elements, found 5"
    );
}

#[test]
fn association_attributes() {
    // client SAP 1, server SAP 1.
    let a: AssociationLn = round_trip(3, &data("02 02 0F 01 12 00 01"));
    assert_eq!(
        a.associated_partners_id,
        Some(PartnersId {
            client_sap: 1,
            server_sap: 1
        })
    );
    // Context 2.16.756.5.8.1.1 as the seven arcs, and as the BER octet-string some send.
    let arcs = data("02 07 11 02 11 10 12 02 F4 11 05 11 08 11 01 11 01");
    let a: AssociationLn = round_trip(4, &arcs);
    assert_eq!(a.application_context_name, Some(ApplicationContext::LN));
    let mut b = AssociationLn::new(AssociationLn::CURRENT);
    b.decode_attribute(4, &data("09 07 60 85 74 05 08 01 03"))
        .unwrap();
    assert_eq!(
        b.application_context_name,
        Some(ApplicationContext::LN_CIPHERED)
    );
    let a: AssociationLn = round_trip(
        6,
        &data("02 07 11 02 11 10 12 02 F4 11 05 11 08 11 02 11 05"),
    );
    assert_eq!(
        a.authentication_mechanism_name,
        Some(MechanismName::HIGH_GMAC)
    );
    // A mechanism name where a context name belongs, and a foreign OID.
    let e = decode_error::<AssociationLn>(
        4,
        &data("02 07 11 02 11 10 12 02 F4 11 05 11 08 11 02 11 05"),
    );
    assert!(matches!(e.source, ValueError::Invalid { .. }));
    assert!(
        decode_error::<AssociationLn>(6, &data("09 07 60 85 74 05 09 02 05"))
            .to_string()
            .contains("BER")
    );

    // xDLMS context: conformance 00 1E 1D (as data, 24 bits), PDU sizes, version 6.
    let ctx = data("02 06 04 18 00 1E 1D 12 04 00 12 04 00 11 06 0F 00 09 00");
    let a: AssociationLn = round_trip(5, &ctx);
    let x = a.xdlms_context_info.unwrap();
    assert_eq!(x.conformance, Conformance(0x00_1E1D));
    assert!(x.conformance.has(Conformance::GET));
    assert_eq!((x.max_receive_pdu_size, x.dlms_version_number), (1024, 6));
    let e = decode_error::<AssociationLn>(
        5,
        &data("02 06 04 10 00 1E 12 04 00 12 04 00 11 06 0F 00 09 00"),
    );
    assert!(matches!(
        e.source,
        ValueError::WrongLength {
            what: "conformance bits",
            ..
        }
    ));

    let a: AssociationLn = round_trip(8, &data("16 02"));
    assert_eq!(a.association_status, Some(AssociationStatus::Associated));
    assert!(
        decode_error::<AssociationLn>(8, &data("16 03"))
            .to_string()
            .contains("3 is out of range")
    );
    let a: AssociationLn = round_trip(9, &data("09 06 00 00 2B 00 00 FF"));
    assert_eq!(
        a.security_setup_reference,
        Some(ObisCode::abstract_(43, 0, 0))
    );
    let _: AssociationLn = round_trip(7, &data("09 08 31 32 33 34 35 36 37 38"));
    let a: AssociationLn = round_trip(10, &data("01 01 02 02 11 01 0A 03 41 4C 49"));
    assert_eq!(a.user_list.unwrap()[0].name, b"ALI");
    let _: AssociationLn = round_trip(11, &data("02 02 11 01 0A 03 41 4C 49"));

    // Methods: HLS pass 3 as the session sends it, and the object list ones.
    assert_eq!(
        request(
            &AssociationLn::reply_to_hls_authentication(vec![0xAB]),
            AssociationLn::CURRENT
        ),
        hex("C3 01 C1 00 0F 00 00 28 00 00 FF 01 01 09 01 AB")
    );
    let entry = ObjectListEntry::from_data(&data(CLOCK_ENTRY)).unwrap();
    assert_eq!(
        AssociationLn::add_object(&entry).parameters,
        Some(data(CLOCK_ENTRY))
    );
    assert_eq!(AssociationLn::remove_object(&entry).method_id, 4);
    assert_eq!(AssociationLn::change_hls_secret(vec![1]).method_id, 2);
    let user = UserEntry {
        id: 1,
        name: b"ALI".to_vec(),
    };
    assert_eq!(AssociationLn::add_user(&user).method_id, 5);
    assert_eq!(AssociationLn::remove_user(&user).method_id, 6);
}

// ----- SAP Assignment (17) -----

#[test]
fn sap_assignment_list() {
    let list = data("01 01 02 02 12 00 01 09 0B 47 45 43 41 31 31 34 30 31 32 33");
    let s: SapAssignment = round_trip(SapAssignment::SAP_ASSIGNMENT_LIST, &list);
    let e = &s.sap_assignment_list.unwrap()[0];
    assert_eq!(e.sap, 1);
    assert_eq!(e.logical_device_name.to_string(), "GECA1140123");
    let bad = data("01 01 02 02 12 00 01 0A 03 41 42 43");
    let err = decode_error::<SapAssignment>(2, &bad);
    assert!(
        err.to_string()
            .contains("expected octet-string, found visible-string"),
        "{err}"
    );
    let call = SapAssignment::connect_logical_device(e);
    assert_eq!(call.method_id, 1);
    assert_eq!(
        call.parameters.unwrap().encode(),
        hex("02 02 12 00 01 09 0B 47 45 43 41 31 31 34 30 31 32 33")
    );
}

// ----- Activity Calendar (20) -----

/// §6.3: a day profile with two switch points.
const DAY_PROFILE: &str = "02 02 11 01 01 02 \
    02 03 09 04 07 00 00 00 09 06 00 00 0A 00 64 FF 12 00 01 \
    02 03 09 04 17 00 00 00 09 06 00 00 0A 00 64 FF 12 00 02";

fn calendar_values() -> Vec<(i8, Data)> {
    let season =
        data("01 01 02 03 09 02 53 31 09 0C FF FF 01 01 FF 00 00 00 00 80 00 FF 09 02 57 31");
    let week = data("01 01 02 08 09 02 57 31 11 01 11 01 11 01 11 01 11 01 11 01 11 01");
    let days = Data::Array(vec![data(DAY_PROFILE)]);
    vec![
        (2, data("09 04 45 37 2D 31")),
        (3, season.clone()),
        (4, week.clone()),
        (5, days.clone()),
        (6, data("09 04 45 37 2D 32")),
        (7, season),
        (8, week),
        (9, days),
        (10, dt("FF FF FF FF FF FF FF FF FF 80 00 FF")),
    ]
}

#[test]
fn activity_calendar_with_the_day_profile_of_section_6_3() {
    let mut cal = ActivityCalendar::new(ObisCode::abstract_(13, 0, 0));
    for (a, v) in calendar_values() {
        cal.decode_attribute(a, &v).unwrap();
        assert_eq!(cal.encode_attribute(a), Some(v), "attribute {a}");
    }
    assert_eq!(
        cal.calendar_name_active.as_ref().unwrap().to_string(),
        "E7-1"
    );
    let day = &cal.day_profile_table_active.as_ref().unwrap()[0];
    assert_eq!(day.day_id, 1);
    assert_eq!(
        day.actions,
        vec![
            DayProfileAction {
                start_time: CosemTime::from_bytes([7, 0, 0, 0]),
                script: ObisCode::abstract_(10, 0, 100),
                script_selector: 1,
            },
            DayProfileAction {
                start_time: CosemTime::from_bytes([23, 0, 0, 0]),
                script: ObisCode::abstract_(10, 0, 100),
                script_selector: 2,
            },
        ]
    );
    let season = &cal.season_profile_active.as_ref().unwrap()[0];
    assert_eq!(season.start.date.year(), None);
    assert_eq!(season.week_name, OctetString::from("W1"));
    assert_eq!(
        cal.week_profile_table_active.as_ref().unwrap()[0].days,
        [1; 7]
    );
    assert_eq!(
        cal.activate_passive_calendar_time.unwrap().date,
        CosemDate::UNSPECIFIED
    );
    cal.check_references(false).unwrap();
    cal.check_references(true).unwrap();

    // A week naming day 2, which does not exist; a season naming a missing week.
    cal.week_profile_table_passive.as_mut().unwrap()[0].days[6] = 2;
    assert!(matches!(
        cal.check_references(true),
        Err(ValueError::Element { index: 0, .. })
    ));
    cal.season_profile_active.as_mut().unwrap()[0].week_name = "W9".into();
    assert!(cal.check_references(false).is_err());

    // A switch time of three bytes; a week of six days.
    let bad = data("01 01 02 02 11 01 01 01 02 03 09 03 07 00 00 09 06 00 00 0A 00 64 FF 12 00 01");
    let e = decode_error::<ActivityCalendar>(9, &bad);
    assert!(
        e.to_string()
            .contains("time octet-string: expected 4 elements, found 3"),
        "{e}"
    );
    let bad = data("01 01 02 07 09 02 57 31 11 01 11 01 11 01 11 01 11 01 11 01");
    let e = decode_error::<ActivityCalendar>(4, &bad);
    assert!(
        e.to_string()
            .contains("week profile: expected 8 elements, found 7"),
        "{e}"
    );

    assert_eq!(
        request(
            &ActivityCalendar::activate_passive_calendar(),
            ObisCode::abstract_(13, 0, 0)
        ),
        hex("C3 01 C1 00 14 00 00 0D 00 00 FF 01 01 0F 00")
    );
}

// ----- Push Setup (40) -----

#[test]
fn push_setup_destination_and_objects() {
    let objects = data(
        "01 02 02 04 12 00 28 09 06 00 00 19 09 00 FF 0F 01 12 00 00 \
         02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00",
    );
    let destination = data("02 03 16 00 09 0D 31 30 2E 30 2E 30 2E 31 3A 34 30 35 39 16 00");
    let window = data(
        "01 01 02 02 09 0C FF FF FF FF FF 00 00 00 00 80 00 FF 09 0C FF FF FF FF FF 06 00 00 00 80 00 FF",
    );
    let mut p = PushSetup::new(ObisCode::abstract_(25, 9, 0));
    for (a, v) in [
        (2, &objects),
        (3, &destination),
        (4, &window),
        (5, &data("12 00 3C")),
        (6, &data("11 03")),
        (7, &data("12 00 1E")),
    ] {
        p.decode_attribute(a, v).unwrap();
        assert_eq!(p.encode_attribute(a).as_ref(), Some(v), "attribute {a}");
    }
    let d = p.send_destination_and_method.as_ref().unwrap();
    assert_eq!(d.transport, TransportService::Tcp);
    assert_eq!(d.destination.to_string(), "10.0.0.1:4059");
    assert_eq!(d.message, MessageType::AxdrApdu);
    assert_eq!(
        p.push_object_list.as_ref().unwrap()[0],
        CaptureObjectDefinition::new(40, ObisCode::abstract_(25, 9, 0), 1)
    );
    assert_eq!(p.repetition_delay, Some(RepetitionDelay::Fixed(30)));
    // Version 2's repetition delay, manufacturer transports and messages.
    let p: PushSetup = round_trip(7, &data("02 03 12 00 0A 12 00 02 12 0E 10"));
    assert_eq!(
        p.repetition_delay,
        Some(RepetitionDelay::Exponential {
            min: 10,
            exponent: 2,
            max: 3600
        })
    );
    let p: PushSetup = round_trip(3, &data("02 03 16 C8 09 00 16 80"));
    let d = p.send_destination_and_method.unwrap();
    assert_eq!(d.transport, TransportService::Manufacturer(200));
    assert_eq!(d.message, MessageType::Manufacturer(128));
    let e = decode_error::<PushSetup>(3, &data("02 03 16 08 09 00 16 00"));
    assert!(
        e.to_string()
            .contains("transport_service: 8 is out of range"),
        "{e}"
    );
    let e = decode_error::<PushSetup>(3, &data("02 03 16 00 09 00 16 02"));
    assert!(e.to_string().contains("message: 2 is out of range"), "{e}");
    assert!(
        decode_error::<PushSetup>(7, &data("09 00"))
            .to_string()
            .contains("repetition_delay")
    );
    assert_eq!(
        request(&PushSetup::push(), ObisCode::abstract_(25, 9, 0)),
        hex("C3 01 C1 00 28 00 00 19 09 00 FF 01 01 0F 00")
    );
}

// ----- Disconnect Control (70) -----

#[test]
fn disconnect_control_and_the_example_of_section_3_4() {
    let mut d = DisconnectControl::new(ObisCode::abstract_(96, 3, 10));
    for (a, v) in [(2, data("03 00")), (3, data("16 02")), (4, data("16 04"))] {
        d.decode_attribute(a, &v).unwrap();
        assert_eq!(d.encode_attribute(a), Some(v));
    }
    assert_eq!(d.output_state, Some(false));
    assert_eq!(d.control_state, Some(ControlState::ReadyForReconnection));
    assert_eq!(d.control_mode.map(ControlMode::value), Some(4));
    let e = decode_error::<DisconnectControl>(4, &data("16 07"));
    assert_eq!(
        e.to_string(),
        "Disconnect Control (class 70) attribute 4 (control_mode): control_mode (0–6): 7 is out of range"
    );
    assert!(
        decode_error::<DisconnectControl>(3, &data("16 03"))
            .to_string()
            .contains("control_state")
    );
    assert!(
        decode_error::<DisconnectControl>(2, &data("16 01"))
            .to_string()
            .contains("boolean")
    );
    // §3.4 [constructed]: C3 01 C1 00 46 00 00 60 03 0A FF 01 01 0F 00.
    assert_eq!(
        request(
            &DisconnectControl::remote_disconnect(),
            ObisCode::abstract_(96, 3, 10)
        ),
        hex("C3 01 C1 00 46 00 00 60 03 0A FF 01 01 0F 00")
    );
    assert_eq!(
        request(
            &DisconnectControl::remote_reconnect(),
            ObisCode::abstract_(96, 3, 10)
        ),
        hex("C3 01 C1 00 46 00 00 60 03 0A FF 02 01 0F 00")
    );
    assert_eq!(ControlMode::new(6).map(ControlMode::value), Some(6));
    assert_eq!(ControlMode::new(7), None);
}

// ----- nothing panics -----

fn any_data() -> impl Strategy<Value = Data> {
    let leaf = prop_oneof![
        Just(Data::Null),
        any::<bool>().prop_map(Data::Boolean),
        any::<i8>().prop_map(Data::Integer),
        any::<i16>().prop_map(Data::Long),
        any::<u8>().prop_map(Data::Unsigned),
        any::<u16>().prop_map(Data::LongUnsigned),
        any::<u32>().prop_map(Data::DoubleLongUnsigned),
        any::<i64>().prop_map(Data::Long64),
        any::<u8>().prop_map(Data::Enum),
        proptest::collection::vec(any::<u8>(), 0..14).prop_map(Data::OctetString),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(Data::VisibleString),
        any::<[u8; 12]>().prop_map(|b| Data::DateTime(CosemDateTime::from_bytes(b))),
        any::<f32>().prop_map(Data::Float32),
    ];
    leaf.prop_recursive(4, 48, 9, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..9).prop_map(Data::Structure),
            proptest::collection::vec(inner, 0..4).prop_map(Data::Array),
        ]
    })
}

fn feed<T: CosemClass>(d: &Data) {
    let mut o = T::new(CLOCK);
    for a in 0..=12 {
        if o.decode_attribute(a, d).is_ok() {
            // What decodes encodes, and decodes again to the same.
            let again = o.encode_attribute(a).expect("a decoded attribute encodes");
            let mut p = T::new(CLOCK);
            p.decode_attribute(a, &again)
                .expect("an encoded attribute decodes");
            // Compared as bytes: a NaN float is not equal to itself.
            assert_eq!(
                p.encode_attribute(a).map(|d| d.encode()),
                Some(again.encode())
            );
        }
    }
}

proptest! {
    #[test]
    fn random_values_never_panic(d in any_data()) {
        feed::<DataObject>(&d);
        feed::<Register>(&d);
        feed::<ExtendedRegister>(&d);
        feed::<DemandRegister>(&d);
        feed::<RegisterActivation>(&d);
        feed::<ProfileGeneric>(&d);
        feed::<Clock>(&d);
        feed::<ScriptTable>(&d);
        feed::<SpecialDaysTable>(&d);
        feed::<AssociationLn>(&d);
        feed::<SapAssignment>(&d);
        feed::<ActivityCalendar>(&d);
        feed::<PushSetup>(&d);
        feed::<DisconnectControl>(&d);
        let _ = load_profile().table(&d);
        let _ = ProfileTable::decode(vec![CaptureObjectDefinition::CLOCK_TIME], 60, &d);
    }

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(d) = Data::decode(&b) {
            feed::<AssociationLn>(&d);
            feed::<ActivityCalendar>(&d);
            feed::<PushSetup>(&d);
        }
    }
}

// ----- the client calls against a table-driven meter -----

mod client {
    use std::collections::HashMap;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    use super::*;
    use crate::Apdu;
    use crate::apdu::{
        Aare, ActionResponse, ActionResult, AttributeDescriptor, DataAccessResult, GetDataResult,
        GetRequest, GetResponse, InitiateResponse, MethodDescriptor, Rlre, SelectiveAccess,
        SetRequest, SetResponse, UserInformation,
    };
    use crate::client::{DlmsClient, Error, LinkOptions, SessionOptions, Transport};

    type Table = HashMap<(u16, ObisCode, i8), Result<Data, DataAccessResult>>;

    /// What the meter was asked to do besides GET.
    #[derive(Debug, Default)]
    struct Log {
        actions: Vec<(MethodDescriptor, Option<Data>)>,
        sets: Vec<(AttributeDescriptor, Data)>,
        accesses: Vec<Option<SelectiveAccess>>,
    }

    fn lookup(table: &Table, a: &AttributeDescriptor) -> GetDataResult {
        match table.get(&(a.class_id, a.instance, a.attribute_id)) {
            Some(Ok(d)) => GetDataResult::Data(d.clone()),
            Some(Err(e)) => GetDataResult::Error(*e),
            None => GetDataResult::Error(DataAccessResult::ObjectUndefined),
        }
    }

    /// Answers AARQ, GET (normal and with list), SET, ACTION and RLRQ over the wrapper.
    async fn serve(table: Table, mut io: DuplexStream) -> Log {
        let mut log = Log::default();
        let mut splitter = crate::wrapper::WrapperSplitter::default();
        let mut buf = vec![0u8; 4096];
        loop {
            let frame = loop {
                if let Some(f) = splitter.next_frame() {
                    break f.unwrap();
                }
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return log,
                    Ok(n) => splitter.push(&buf[..n]),
                }
            };
            let answer = match Apdu::decode(&frame.apdu).unwrap() {
                Apdu::Aarq(_) => Aare::accepted(
                    ApplicationContext::LN,
                    UserInformation::InitiateResponse(InitiateResponse::new(
                        Conformance(0x00_1E1F),
                        0xFFFF,
                    )),
                )
                .encode(),
                Apdu::Rlrq(_) => Rlre::normal().encode(),
                Apdu::GetRequest(GetRequest::Normal {
                    invoke,
                    attribute,
                    access,
                }) => {
                    log.accesses.push(access);
                    GetResponse::Normal {
                        invoke,
                        result: lookup(&table, &attribute),
                    }
                    .encode()
                }
                Apdu::GetRequest(GetRequest::WithList { invoke, attributes }) => {
                    GetResponse::WithList {
                        invoke,
                        results: attributes
                            .iter()
                            .map(|a| lookup(&table, &a.attribute))
                            .collect(),
                    }
                    .encode()
                }
                Apdu::SetRequest(SetRequest::Normal {
                    invoke,
                    attribute,
                    value,
                    ..
                }) => {
                    log.sets.push((attribute, value));
                    SetResponse::Normal {
                        invoke,
                        result: DataAccessResult::Success,
                    }
                    .encode()
                }
                Apdu::ActionRequest(crate::apdu::ActionRequest::Normal {
                    invoke,
                    method,
                    parameters,
                }) => {
                    log.actions.push((method, parameters));
                    ActionResponse::Normal {
                        invoke,
                        response: ActionResult::success(),
                    }
                    .encode()
                }
                other => panic!("the table meter got {other:?}"),
            };
            if io
                .write_all(&frame.reply(answer).encode().unwrap())
                .await
                .is_err()
            {
                return log;
            }
        }
    }

    fn opts() -> SessionOptions {
        SessionOptions {
            link: LinkOptions {
                transport: Transport::Wrapper,
                client_sap: 16,
                server_logical: 1,
                ..LinkOptions::default()
            },
            ..SessionOptions::default()
        }
    }

    /// Runs `f` on an associated client against the table; returns its result and the log.
    async fn with_meter<T, F>(table: Table, f: F) -> (T, Log)
    where
        F: AsyncFnOnce(&mut DlmsClient<DuplexStream>) -> T,
    {
        let (client_io, meter_io) = duplex(1 << 16);
        let meter = tokio::spawn(serve(table, meter_io));
        let mut c = DlmsClient::connect(client_io, opts()).await.unwrap();
        c.associate().await.unwrap();
        let out = f(&mut c).await;
        c.finish().await.unwrap();
        drop(c);
        (out, meter.await.unwrap())
    }

    const IMPORT: ObisCode = ObisCode::elec(1, 8, 0);
    const BREAKER: ObisCode = ObisCode::abstract_(96, 3, 10);
    const PROFILE: ObisCode = ObisCode::new(1, 0, 99, 1, 0, 255);

    fn table() -> Table {
        let mut t = Table::new();
        t.insert((3, IMPORT, 2), Ok(Data::DoubleLongUnsigned(124_690)));
        t.insert((3, IMPORT, 3), Err(DataAccessResult::ReadWriteDenied));
        for a in 2..=4 {
            t.insert((70, BREAKER, a), Err(DataAccessResult::ReadWriteDenied));
        }
        t.insert((8, CLOCK, 2), Ok(dt("07 E5 01 18 FF 0E 30 39 50 FF C4 00")));
        t.insert((8, CLOCK, 9), Ok(Data::Enum(9)));
        t.insert((7, PROFILE, 3), Ok(data(SECTION_6_3_CAPTURES)));
        t.insert((7, PROFILE, 4), Ok(Data::DoubleLongUnsigned(900)));
        t.insert((7, PROFILE, 2), Ok(section_7_buffer()));
        t
    }

    #[tokio::test]
    async fn refused_attributes_are_none_and_a_refused_object_is_an_error() {
        let ((register, breaker), _) = with_meter(table(), async |c| {
            (
                c.read_object::<Register>(IMPORT).await,
                c.read_object::<DisconnectControl>(BREAKER).await,
            )
        })
        .await;
        let register = register.unwrap();
        assert_eq!(register.value, Some(Data::DoubleLongUnsigned(124_690)));
        assert_eq!(register.scaler_unit, None, "refused: None");
        let e = breaker.unwrap_err();
        assert_eq!(
            e.data_access_result(),
            Some(DataAccessResult::ReadWriteDenied)
        );
        assert!(
            e.to_string().contains("Disconnect Control 0.0.96.3.10.255"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_malformed_attribute_names_object_and_attribute() {
        let (clock, _) = with_meter(table(), async |c| c.read_object::<Clock>(CLOCK).await).await;
        let e = clock.unwrap_err();
        assert!(matches!(e, Error::Value { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "reading Clock 0.0.1.0.0.255 (class 8) attribute 9 (clock_base): clock_base: 9 is out of range"
        );
        // Only the time attribute: it decodes.
        let (clock, _) = with_meter(table(), async |c| {
            c.read_object_attributes::<Clock>(CLOCK, &[Clock::TIME])
                .await
        })
        .await;
        let clock = clock.unwrap();
        assert_eq!(clock.time.unwrap().deviation(), Some(-60));
        assert_eq!(clock.time_zone, None);
    }

    #[tokio::test]
    async fn methods_and_writes_go_out_as_built() {
        let (results, log) = with_meter(table(), async |c| {
            let mut clock = Clock::new(CLOCK);
            clock.time_zone = Some(-60);
            vec![
                c.clock_shift_time(CLOCK, -30).await,
                c.remote_disconnect(BREAKER).await,
                c.remote_reconnect(BREAKER).await,
                c.execute_script(ObisCode::abstract_(10, 0, 100), 2).await,
                c.activate_passive_calendar(ObisCode::abstract_(13, 0, 0))
                    .await,
                c.push_now(ObisCode::abstract_(25, 9, 0)).await,
                c.invoke(IMPORT, Register::reset()).await.map(|_| ()),
                c.write_object_attribute(&clock, Clock::TIME_ZONE).await,
                c.clock_set_time(CLOCK, CosemDateTime::UNSPECIFIED).await,
            ]
        })
        .await;
        for r in results {
            r.unwrap();
        }
        let methods: Vec<(u16, i8, Option<Data>)> = log
            .actions
            .iter()
            .map(|(m, p)| (m.class_id, m.method_id, p.clone()))
            .collect();
        assert_eq!(
            methods,
            [
                (8, 6, Some(Data::Long(-30))),
                (70, 1, Some(Data::Integer(0))),
                (70, 2, Some(Data::Integer(0))),
                (9, 1, Some(Data::LongUnsigned(2))),
                (20, 1, Some(Data::Integer(0))),
                (40, 1, Some(Data::Integer(0))),
                (3, 1, Some(Data::Integer(0))),
            ]
        );
        assert_eq!(log.actions[1].0.instance, BREAKER);
        assert_eq!(
            log.sets,
            [
                (AttributeDescriptor::new(8, CLOCK, 3), Data::Long(-60)),
                (
                    AttributeDescriptor::new(8, CLOCK, 2),
                    Data::date_time_octets(CosemDateTime::UNSPECIFIED)
                ),
            ]
        );
        // Out-of-range shifts and empty attributes never reach the meter.
        let (results, log) = with_meter(table(), async |c| {
            vec![
                c.clock_shift_time(CLOCK, 901).await,
                c.write_object_attribute(&Clock::new(CLOCK), Clock::TIME)
                    .await,
            ]
        })
        .await;
        assert!(matches!(results[0], Err(Error::Value { .. })));
        assert!(matches!(results[1], Err(Error::Usage(_))));
        assert!(log.actions.is_empty() && log.sets.is_empty());
    }

    #[tokio::test]
    async fn profile_buffer_through_the_client() {
        let ((profile, table_all, table_sel), log) = with_meter(table(), async |c| {
            let p = c.read_object::<ProfileGeneric>(PROFILE).await.unwrap();
            let all = c.read_profile_buffer(&p, None).await;
            let e = EntryDescriptor {
                from_entry: 1,
                to_entry: 0,
                from_selected_value: 1,
                to_selected_value: 3,
            };
            // The table meter ignores the selection and sends four columns: a typed error.
            let sel = c.read_profile_buffer(&p, Some(e.into())).await;
            (p, all, sel)
        })
        .await;
        assert_eq!(profile.capture_period, Some(900));
        assert_eq!(profile.sort_method, None, "not in the table");
        assert_eq!(profile.buffer, None, "not part of a whole read");
        let t = table_all.unwrap();
        assert_eq!(t.rows.len(), 5);
        assert_eq!(t.columns, profile.capture_objects.unwrap());
        let e = table_sel.unwrap_err();
        assert!(
            e.to_string().contains("expected 3 elements, found 4"),
            "{e}"
        );
        assert_eq!(log.accesses.len(), 2);
        assert!(log.accesses[1].is_some());
    }
}
