use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 5, h, m, 0).unwrap()
}

/// A reading with every part filled, including awkward text.
pub fn sample() -> Reading {
    let mut r = Reading::new(
        MeterIdentity {
            serial: "0000000010000001".into(),
            address: Some("10000001".into()),
            manufacturer: Some("GEC".into()),
            model: Some("A1140".into()),
            ident: Some("GEC5120510070213@000".into()),
            firmware: None,
            scheme_id: Some("~".into()),
            system_title: Some("47454331003C4D41".into()),
        },
        "flag",
        t(14, 0),
    );
    r.finished = t(14, 1);
    r.unreadable.push(metermaster_model::Unreadable {
        part: "events".into(),
        reason: "the public client may not read the event logs (read-write-denied)".into(),
    });
    r.clock = Some(ClockInfo {
        meter_local: NaiveDateTime::parse_from_str("2024-03-05 13:59:57", "%Y-%m-%d %H:%M:%S")
            .unwrap(),
        utc_offset_s: 3600,
        meter_time: t(12, 59),
        master_time: t(13, 0),
        drift_s: -3.25,
    });
    r.ct_ratio = Some(TransformerRatio {
        primary: Quantity::new(10000, -2, Unit::Ampere),
        secondary: Quantity::new(500, -2, Unit::Ampere),
    });
    r.status = vec![
        "status bit 3".into(),
        "tab\there\nand newline \\ backslash".into(),
    ];
    let reg = |c, e, raw| Register {
        obis: ObisCode::elec(c, 8, e),
        name: format!("register {c}.8.{e}"),
        value: Quantity::new(raw, -3, Unit::WattHour),
    };
    r.registers = vec![
        reg(1, 0, 18_328_871_500),
        reg(1, 1, 15_205_293_050),
        reg(1, 2, 3_123_578_450),
    ];
    let md = MaxDemand {
        obis: ObisCode::elec(1, 6, 0),
        name: "active import maximum demand #1".into(),
        value: Quantity::new(46_348_000, -3, Unit::Watt),
        time: Some(t(9, 30)),
    };
    r.max_demands = vec![
        md.clone(),
        MaxDemand {
            time: None,
            ..md.clone()
        },
    ];
    r.billing_history = vec![BillingPeriod {
        index: 0,
        reset_time: Some(t(0, 0)),
        trigger: Some("billing date".into()),
        registers: vec![reg(1, 0, 17_211_823_500)],
        max_demands: vec![md],
    }];
    r.daily_history = vec![BillingPeriod {
        index: 0,
        reset_time: None,
        trigger: None,
        registers: vec![reg(2, 0, 5)],
        max_demands: vec![],
    }];
    r.load_profile = Some(LoadProfile {
        interval_s: 900,
        channels: vec![
            Channel {
                obis: ObisCode::elec(1, 5, 0),
                name: "active import".into(),
                unit: Unit::Watt,
                scale: -3,
            },
            Channel {
                obis: ObisCode::elec(2, 5, 0),
                name: "active export".into(),
                unit: Unit::Watt,
                scale: -3,
            },
        ],
        intervals: vec![
            Interval {
                start: t(0, 0),
                seconds: 900,
                status: IntervalStatus::EMPTY,
                values: vec![812_000, 0],
            },
            Interval {
                start: t(0, 15),
                seconds: 900,
                status: IntervalStatus::POWER_UP | IntervalStatus::REVERSE_RUN,
                values: vec![-1, 9_000_000_000],
            },
        ],
    });
    r.events = vec![
        Event {
            time: t(5, 43),
            kind: EventKind::PowerFailure,
            detail: None,
        },
        Event {
            time: t(6, 0),
            kind: EventKind::PhaseFailure,
            detail: Some("phases AB".into()),
        },
    ];
    r.event_counters = vec![EventCounter {
        kind: EventKind::PowerFailure,
        count: 10,
    }];
    r.programming = Some(ProgrammingLog {
        count: 3,
        records: vec![ProgrammingRecord {
            time: t(10, 0),
            user: "TESTER".into(),
            scheme: Some("E7-2R-01".into()),
            port: None,
        }],
    });
    r.instantaneous = vec![InstantValue {
        quantity: InstantQuantity::Voltage,
        phase: Phase::L1,
        value: Quantity::new(2_307_527, -4, Unit::Volt),
    }];
    r
}

#[test]
fn round_trip_is_lossless() {
    let r = sample();
    let text = to_res(&r);
    assert!(text.starts_with("METERMASTER-RES 1\nMETER\t0000000010000001\t10000001\tGEC\tA1140"));
    assert!(text.contains("\nREG\t1-0:1.8.0*255\t18328871500\t-3\tWh\tregister 1.8.0\n"));
    assert!(
        text.contains("\nIV\t2024-03-05T00:15:00Z\t900\tpower_up,reverse_run\t-1\t9000000000\n")
    );
    let back = from_res(&text).unwrap();
    assert_eq!(back, vec![r]);
}

#[test]
fn appended_blocks_and_crlf() {
    let r = sample();
    let mut two = to_res(&r);
    let mut b = r.clone();
    b.meter.serial = "2".into();
    two.push_str(&to_res(&b));
    let back = from_res(&two).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[1].meter.serial, "2");
    // CRLF line ends (a file that went through a Windows share) change the bytes, so the
    // checksum no longer matches: reported, not silently accepted.
    let crlf = to_res(&r).replace('\n', "\r\n");
    assert!(matches!(
        from_res(&crlf),
        Err(ResError::Checksum { start: 1 })
    ));
}

#[test]
fn alteration_and_truncation_are_detected() {
    let text = to_res(&sample());
    let altered = text.replace("18328871500", "18328871501");
    assert_eq!(from_res(&altered), Err(ResError::Checksum { start: 1 }));
    let cut = &text[..text.len() / 2];
    assert_eq!(from_res(cut), Err(ResError::Truncated { start: 1 }));
    assert_eq!(from_res(""), Err(ResError::Empty));
    let e = from_res("RES 2\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1: expected \"METERMASTER-RES\", found \"RES 2\""
    );
    let e = from_res("METERMASTER-RES 9\n").unwrap_err();
    assert!(
        e.to_string().contains("version \"9\" is not supported"),
        "{e}"
    );
}

#[test]
fn bad_lines_name_the_line() {
    // A block whose checksum is right but whose content is wrong: errors name the line.
    let body = "METERMASTER-RES 1\nMETER\tX\t~\t~\t~\t~\t~\t~\nREAD\tflag\t2024-03-05T14:00:00Z\t2024-03-05T14:00:00Z\nREG\t1.8.0\tabc\t-3\tWh\tx\n";
    let text = format!(
        "{body}END\tsha256:{}\n",
        hex(&Sha256::digest(body.as_bytes()))
    );
    let e = from_res(&text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 4: REG line: raw value \"abc\" is not a number"
    );
    let body = "METERMASTER-RES 1\nREAD\tflag\t2024-03-05T14:00:00Z\t2024-03-05T14:00:00Z\n";
    let text = format!(
        "{body}END\tsha256:{}\n",
        hex(&Sha256::digest(body.as_bytes()))
    );
    assert_eq!(
        from_res(&text).unwrap_err().to_string(),
        "line 2: READ line before the METER line"
    );
}

proptest! {
    #[test]
    fn never_panics(s in "(METERMASTER-RES 1\n)?[\\PC\t\n]{0,300}") {
        let _ = from_res(&s);
    }

    #[test]
    fn any_text_round_trips(name in "[\\PC\t\n\\\\~]{0,20}", raw in any::<i64>(), scale in -9i8..9, values in proptest::collection::vec(any::<i64>(), 2)) {
        let mut r = sample();
        r.registers[0].name = name.clone();
        r.registers[0].value = Quantity::new(raw, scale, Unit::VarHour);
        r.meter.firmware = Some(name.clone());
        if let Some(lp) = r.load_profile.as_mut() {
            lp.intervals[0].values = values;
        }
        let back = from_res(&to_res(&r)).unwrap();
        prop_assert_eq!(back, vec![r]);
    }
}
