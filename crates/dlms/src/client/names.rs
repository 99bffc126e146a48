//! What OBIS codes, profile status bits and event codes mean, as far as the meter reader needs
//! to name registers and map them into the model (guide §6.1).
//!
//! Profile status bits and event codes are not Blue Book assignments but companion-specification
//! conventions (guide §9.2 item 8); the ones used here are the IDIS / DSMR "AMR profile status"
//! and "standard event log" codes, which many meters follow.

use metermaster_model::{EventKind, InstantQuantity, IntervalStatus, ObisCode, Phase};

/// The quantity of an electricity OBIS group C.
pub(crate) fn quantity(c: u8) -> Option<&'static str> {
    Some(match c {
        1 => "active import",
        2 => "active export",
        3 => "reactive import",
        4 => "reactive export",
        5 => "reactive Q1",
        6 => "reactive Q2",
        7 => "reactive Q3",
        8 => "reactive Q4",
        9 => "apparent import",
        10 => "apparent export",
        13 => "power factor",
        14 => "frequency",
        15 => "active |+A|+|-A|",
        16 => "active +A-(-A)",
        21 => "active import L1",
        22 => "active export L1",
        23 => "reactive import L1",
        24 => "reactive export L1",
        29 => "apparent import L1",
        31 => "current L1",
        32 => "voltage L1",
        33 => "power factor L1",
        41 => "active import L2",
        42 => "active export L2",
        43 => "reactive import L2",
        44 => "reactive export L2",
        49 => "apparent import L2",
        51 => "current L2",
        52 => "voltage L2",
        53 => "power factor L2",
        61 => "active import L3",
        62 => "active export L3",
        63 => "reactive import L3",
        64 => "reactive export L3",
        69 => "apparent import L3",
        71 => "current L3",
        72 => "voltage L3",
        73 => "power factor L3",
        91 => "current neutral",
        _ => return None,
    })
}

/// The processing of an electricity OBIS group D, as a suffix for names.
fn processing(d: u8) -> Option<&'static str> {
    Some(match d {
        2 => "cumulative maximum demand",
        3 => "rising demand",
        4 => "current average demand",
        5 => "last average demand",
        6 => "maximum demand",
        7 => "",
        8 => "",
        9 => "since the start of the billing period",
        29 => "energy per interval",
        _ => return None,
    })
}

/// A name for an electricity register: `active import, rate 2, maximum demand`.
pub(crate) fn register_name(obis: ObisCode) -> String {
    let mut name = match quantity(obis.c) {
        Some(q) => q.to_string(),
        None => format!("quantity {}", obis.c),
    };
    if obis.e > 0 && obis.d != 7 {
        name.push_str(&format!(", rate {}", obis.e));
    }
    match processing(obis.d) {
        Some("") => {}
        Some(p) => {
            name.push_str(", ");
            name.push_str(p);
        }
        None => name.push_str(&format!(", processing {}", obis.d)),
    }
    name
}

/// Whether a register at this OBIS code is a running total (time integral): its captured
/// values in a profile advance, and the energy of an interval is the difference.
pub(crate) fn is_cumulative(obis: ObisCode) -> bool {
    obis.a == 1 && matches!(obis.d, 8..=10)
}

/// The interval-energy channel code for a cumulative register: D = 29 ("energy per
/// interval"), the convention the rest of metermaster uses for interval channels.
pub(crate) fn interval_channel(obis: ObisCode) -> ObisCode {
    ObisCode::new(obis.a, obis.b, obis.c, 29, obis.e, obis.f)
}

/// An instantaneous value (D = 7) as the model names it.
pub(crate) fn instant(obis: ObisCode) -> Option<(InstantQuantity, Phase)> {
    use InstantQuantity::*;
    if obis.a != 1 || obis.d != 7 {
        return None;
    }
    Some(match obis.c {
        1 => (ActivePower, Phase::Total),
        21 => (ActivePower, Phase::L1),
        41 => (ActivePower, Phase::L2),
        61 => (ActivePower, Phase::L3),
        3 => (ReactivePower, Phase::Total),
        23 => (ReactivePower, Phase::L1),
        43 => (ReactivePower, Phase::L2),
        63 => (ReactivePower, Phase::L3),
        9 => (ApparentPower, Phase::Total),
        29 => (ApparentPower, Phase::L1),
        49 => (ApparentPower, Phase::L2),
        69 => (ApparentPower, Phase::L3),
        13 => (PowerFactor, Phase::Total),
        33 => (PowerFactor, Phase::L1),
        53 => (PowerFactor, Phase::L2),
        73 => (PowerFactor, Phase::L3),
        14 => (Frequency, Phase::Total),
        31 => (Current, Phase::L1),
        51 => (Current, Phase::L2),
        71 => (Current, Phase::L3),
        32 => (Voltage, Phase::L1),
        52 => (Voltage, Phase::L2),
        72 => (Voltage, Phase::L3),
        _ => return None,
    })
}

/// Whether a Data object is a profile status word (`0.x.96.10.x.255`).
pub(crate) fn is_profile_status(obis: ObisCode) -> bool {
    obis.c == 96 && obis.d == 10
}

/// Whether a Data object is an event code (`0.x.96.11.x.255`).
pub(crate) fn is_event_code(obis: ObisCode) -> bool {
    obis.c == 96 && obis.d == 11
}

/// The interval flags of an AMR profile status byte (IDIS/DSMR): bit 0 critical error, bit 1
/// clock invalid, bit 2 data not valid, bit 3 daylight saving, bit 5 clock adjusted, bit 7
/// power down.
pub(crate) fn profile_status(bits: u64) -> IntervalStatus {
    let mut s = IntervalStatus::EMPTY;
    if bits & 0x07 != 0 {
        s |= IntervalStatus::INVALID;
    }
    if bits & 0x08 != 0 {
        s |= IntervalStatus::DST;
    }
    if bits & 0x20 != 0 {
        s |= IntervalStatus::CLOCK_ADJUSTED;
    }
    if bits & 0x80 != 0 {
        s |= IntervalStatus::POWER_DOWN;
    }
    s
}

/// An event code of a standard event log (IDIS/DSMR numbering) in the model's terms.
pub(crate) fn event(code: u64) -> Option<(EventKind, Option<&'static str>)> {
    use EventKind::*;
    Some(match code {
        1 => (PowerDown, None),
        2 => (PowerUp, None),
        4 => (ClockSet, Some("clock adjusted: old time")),
        5 => (ClockSet, Some("clock adjusted: new time")),
        7 => (InternalBatteryFailure, Some("replace battery")),
        8 => (InternalBatteryFailure, Some("battery voltage low")),
        12 => (MeterError, Some("program memory error")),
        13 => (MeterError, Some("RAM error")),
        14 => (MeterError, Some("non-volatile memory error")),
        15 => (MeterError, Some("watchdog error")),
        16 => (MeterError, Some("measurement system error")),
        40 => (TerminalCoverOpened, None),
        44 => (MainCoverOpened, None),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_common_registers() {
        assert_eq!(register_name(ObisCode::elec(1, 8, 0)), "active import");
        assert_eq!(
            register_name(ObisCode::elec(2, 8, 3)),
            "active export, rate 3"
        );
        assert_eq!(
            register_name(ObisCode::elec(1, 6, 0)),
            "active import, maximum demand"
        );
        assert_eq!(
            register_name(ObisCode::elec(1, 29, 0)),
            "active import, energy per interval"
        );
        assert_eq!(register_name(ObisCode::elec(32, 7, 0)), "voltage L1");
        assert_eq!(
            instant(ObisCode::elec(52, 7, 0)),
            Some((InstantQuantity::Voltage, Phase::L2))
        );
        assert!(is_cumulative(ObisCode::elec(1, 8, 2)));
        assert!(!is_cumulative(ObisCode::elec(1, 5, 0)));
        assert_eq!(profile_status(0x80), IntervalStatus::POWER_DOWN);
        assert_eq!(
            profile_status(0x28),
            IntervalStatus::DST | IntervalStatus::CLOCK_ADJUSTED
        );
    }
}
