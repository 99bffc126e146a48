//! Well-known OBIS codes and their short English names: the registers, profiles, logs and
//! COSEM objects metermaster reads, writes or simulates, in one table.
//!
//! Electricity codes are `1-0:C.D.E*255`, abstract ones `0-0:C.D.E*255`. Codes marked
//! *metermaster* are not standard assignments but manufacturer-specific ones (E ≥ 128) or
//! conventions this project uses.

use crate::ObisCode;

const fn elec(c: u8, d: u8, e: u8) -> ObisCode {
    ObisCode::elec(c, d, e)
}

const fn abs(c: u8, d: u8, e: u8) -> ObisCode {
    ObisCode::abstract_(c, d, e)
}

/// Rates 1 to 8 of `1-0:C.D.E` (index 0 is rate 1).
const fn rates(c: u8, d: u8) -> [ObisCode; 8] {
    let mut out = [elec(c, d, 1); 8];
    let mut i = 0;
    while i < 8 {
        out[i] = elec(c, d, i as u8 + 1);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Energy registers (D = 8, time integral 1)

/// `1-0:1.8.0`: active energy import (+A), total.
pub const ACTIVE_IMPORT_TOTAL: ObisCode = elec(1, 8, 0);
/// `1-0:1.8.1` to `1-0:1.8.8`: active energy import per rate (index 0 is rate 1).
pub const ACTIVE_IMPORT_RATES: [ObisCode; 8] = rates(1, 8);
/// `1-0:2.8.0`: active energy export (−A), total.
pub const ACTIVE_EXPORT_TOTAL: ObisCode = elec(2, 8, 0);
/// `1-0:2.8.1` to `1-0:2.8.8`: active energy export per rate.
pub const ACTIVE_EXPORT_RATES: [ObisCode; 8] = rates(2, 8);
/// `1-0:3.8.0`: reactive energy import (+R), total.
pub const REACTIVE_IMPORT_TOTAL: ObisCode = elec(3, 8, 0);
/// `1-0:3.8.1` to `1-0:3.8.8`: reactive energy import per rate.
pub const REACTIVE_IMPORT_RATES: [ObisCode; 8] = rates(3, 8);
/// `1-0:4.8.0`: reactive energy export (−R), total.
pub const REACTIVE_EXPORT_TOTAL: ObisCode = elec(4, 8, 0);
/// `1-0:4.8.1` to `1-0:4.8.8`: reactive energy export per rate.
pub const REACTIVE_EXPORT_RATES: [ObisCode; 8] = rates(4, 8);
/// `1-0:5.8.0`: reactive energy in quadrant I, total.
pub const REACTIVE_Q1_TOTAL: ObisCode = elec(5, 8, 0);
/// `1-0:6.8.0`: reactive energy in quadrant II, total.
pub const REACTIVE_Q2_TOTAL: ObisCode = elec(6, 8, 0);
/// `1-0:7.8.0`: reactive energy in quadrant III, total.
pub const REACTIVE_Q3_TOTAL: ObisCode = elec(7, 8, 0);
/// `1-0:8.8.0`: reactive energy in quadrant IV, total.
pub const REACTIVE_Q4_TOTAL: ObisCode = elec(8, 8, 0);
/// `1-0:9.8.0`: apparent energy import, total.
pub const APPARENT_IMPORT_TOTAL: ObisCode = elec(9, 8, 0);
/// `1-0:10.8.0`: apparent energy export, total.
pub const APPARENT_EXPORT_TOTAL: ObisCode = elec(10, 8, 0);

// ---------------------------------------------------------------------------------------------
// Demand

/// `1-0:1.4.0`: active import, current average demand.
pub const ACTIVE_IMPORT_CURRENT_DEMAND: ObisCode = elec(1, 4, 0);
/// `1-0:1.5.0`: active import, last average demand (the demand of the last period).
pub const ACTIVE_IMPORT_LAST_DEMAND: ObisCode = elec(1, 5, 0);
/// `1-0:1.6.0`: active import maximum demand, total.
pub const ACTIVE_IMPORT_MAX_DEMAND: ObisCode = elec(1, 6, 0);
/// `1-0:1.6.1` to `1-0:1.6.8`: active import maximum demand per rate.
pub const ACTIVE_IMPORT_MAX_DEMAND_RATES: [ObisCode; 8] = rates(1, 6);
/// `1-0:2.6.0`: active export maximum demand, total.
pub const ACTIVE_EXPORT_MAX_DEMAND: ObisCode = elec(2, 6, 0);
/// `1-0:3.6.0`: reactive import maximum demand, total.
pub const REACTIVE_IMPORT_MAX_DEMAND: ObisCode = elec(3, 6, 0);
/// `1-0:4.6.0`: reactive export maximum demand, total.
pub const REACTIVE_EXPORT_MAX_DEMAND: ObisCode = elec(4, 6, 0);
/// `1-0:9.6.0`: apparent import maximum demand, total.
pub const APPARENT_IMPORT_MAX_DEMAND: ObisCode = elec(9, 6, 0);

// ---------------------------------------------------------------------------------------------
// Interval energy (metermaster: D = 29, "energy per interval", for interval channels)

/// `1-0:1.29.0`: active import energy per interval.
pub const ACTIVE_IMPORT_INTERVAL: ObisCode = elec(1, 29, 0);
/// `1-0:2.29.0`: active export energy per interval.
pub const ACTIVE_EXPORT_INTERVAL: ObisCode = elec(2, 29, 0);
/// `1-0:3.29.0`: reactive import energy per interval.
pub const REACTIVE_IMPORT_INTERVAL: ObisCode = elec(3, 29, 0);
/// `1-0:4.29.0`: reactive export energy per interval.
pub const REACTIVE_EXPORT_INTERVAL: ObisCode = elec(4, 29, 0);

// ---------------------------------------------------------------------------------------------
// Instantaneous values (D = 7)

/// `1-0:1.7.0`: active power import, instantaneous.
pub const ACTIVE_POWER: ObisCode = elec(1, 7, 0);
/// `1-0:2.7.0`: active power export, instantaneous.
pub const ACTIVE_POWER_EXPORT: ObisCode = elec(2, 7, 0);
/// `1-0:3.7.0`: reactive power import, instantaneous.
pub const REACTIVE_POWER: ObisCode = elec(3, 7, 0);
/// `1-0:9.7.0`: apparent power import, instantaneous.
pub const APPARENT_POWER: ObisCode = elec(9, 7, 0);
/// `1-0:13.7.0`: power factor.
pub const POWER_FACTOR: ObisCode = elec(13, 7, 0);
/// `1-0:14.7.0`: supply frequency.
pub const FREQUENCY: ObisCode = elec(14, 7, 0);
/// `1-0:21.7.0`: active power import L1.
pub const ACTIVE_POWER_L1: ObisCode = elec(21, 7, 0);
/// `1-0:41.7.0`: active power import L2.
pub const ACTIVE_POWER_L2: ObisCode = elec(41, 7, 0);
/// `1-0:61.7.0`: active power import L3.
pub const ACTIVE_POWER_L3: ObisCode = elec(61, 7, 0);
/// `1-0:31.7.0`: current L1.
pub const CURRENT_L1: ObisCode = elec(31, 7, 0);
/// `1-0:51.7.0`: current L2.
pub const CURRENT_L2: ObisCode = elec(51, 7, 0);
/// `1-0:71.7.0`: current L3.
pub const CURRENT_L3: ObisCode = elec(71, 7, 0);
/// `1-0:91.7.0`: current in the neutral.
pub const CURRENT_NEUTRAL: ObisCode = elec(91, 7, 0);
/// `1-0:32.7.0`: voltage L1.
pub const VOLTAGE_L1: ObisCode = elec(32, 7, 0);
/// `1-0:52.7.0`: voltage L2.
pub const VOLTAGE_L2: ObisCode = elec(52, 7, 0);
/// `1-0:72.7.0`: voltage L3.
pub const VOLTAGE_L3: ObisCode = elec(72, 7, 0);

// ---------------------------------------------------------------------------------------------
// Electricity-related service entries (C = 0)

/// `1-0:0.2.0`: active firmware identifier.
pub const FIRMWARE: ObisCode = elec(0, 2, 0);
/// `1-0:0.4.2`: current transformer ratio, numerator (CT primary).
pub const CT_RATIO_NUMERATOR: ObisCode = elec(0, 4, 2);
/// `1-0:0.4.3`: voltage transformer ratio, numerator (VT primary).
pub const VT_RATIO_NUMERATOR: ObisCode = elec(0, 4, 3);
/// `1-0:0.4.5`: current transformer ratio, denominator (CT secondary).
pub const CT_RATIO_DENOMINATOR: ObisCode = elec(0, 4, 5);
/// `1-0:0.4.6`: voltage transformer ratio, denominator (VT secondary).
pub const VT_RATIO_DENOMINATOR: ObisCode = elec(0, 4, 6);

// ---------------------------------------------------------------------------------------------
// Data readout entries (IEC 62056-21 reduced forms `0.0.0`, `0.9.1`, `0.9.2`, `C.1.0`, `F.F`)

/// `0-0:0.0.0` (`0.0.0`): device address 1.
pub const DEVICE_ADDRESS: ObisCode = abs(0, 0, 0);
/// `0-0:0.9.1` (`0.9.1`): local time.
pub const LOCAL_TIME: ObisCode = abs(0, 9, 1);
/// `0-0:0.9.2` (`0.9.2`): local date.
pub const LOCAL_DATE: ObisCode = abs(0, 9, 2);
/// `0-0:97.97.0` (`F.F`): error register.
pub const ERROR_REGISTER: ObisCode = abs(97, 97, 0);

// ---------------------------------------------------------------------------------------------
// Abstract objects: clock, identity, associations, security

/// `0-0:1.0.0`: the clock.
pub const CLOCK: ObisCode = abs(1, 0, 0);
/// `0-0:96.1.0` (`C.1.0`): device ID 1, the meter's serial number.
pub const DEVICE_ID: ObisCode = abs(96, 1, 0);
/// `0-0:42.0.0`: COSEM logical device name.
pub const LOGICAL_DEVICE_NAME: ObisCode = abs(42, 0, 0);
/// `0-0:40.0.0`: the current association (Association LN).
pub const CURRENT_ASSOCIATION: ObisCode = abs(40, 0, 0);
/// `0-0:41.0.0`: SAP assignment.
pub const SAP_ASSIGNMENT: ObisCode = abs(41, 0, 0);
/// `0-0:43.0.0`: security setup.
pub const SECURITY_SETUP: ObisCode = abs(43, 0, 0);
/// `0-0:43.1.0`: invocation counter (frame counter) of the security setup.
pub const INVOCATION_COUNTER: ObisCode = abs(43, 1, 0);
/// `0-0:25.9.0`: push setup.
pub const PUSH_SETUP: ObisCode = abs(25, 9, 0);
/// `0-0:96.3.10`: disconnect control.
pub const DISCONNECT_CONTROL: ObisCode = abs(96, 3, 10);

// ---------------------------------------------------------------------------------------------
// Tariffication and billing

/// `0-0:13.0.0`: activity calendar.
pub const ACTIVITY_CALENDAR: ObisCode = abs(13, 0, 0);
/// `0-0:11.0.0`: special days table.
pub const SPECIAL_DAYS_TABLE: ObisCode = abs(11, 0, 0);
/// `0-0:10.0.100`: tariffication script table.
pub const TARIFF_SCRIPT_TABLE: ObisCode = abs(10, 0, 100);
/// `0-0:10.0.1`: end of billing period (MDI reset) script table.
pub const BILLING_SCRIPT_TABLE: ObisCode = abs(10, 0, 1);
/// `0-0:14.0.0`: register activation.
pub const REGISTER_ACTIVATION: ObisCode = abs(14, 0, 0);
/// `0-0:96.14.0`: currently active tariff.
pub const ACTIVE_TARIFF: ObisCode = abs(96, 14, 0);

// ---------------------------------------------------------------------------------------------
// Programming (configuration changes)

/// `0-0:96.2.0`: number of configuration program changes.
pub const PROGRAMMING_COUNTER: ObisCode = abs(96, 2, 0);
/// `0-0:96.2.1`: date of the last configuration program change.
pub const PROGRAMMING_TIME: ObisCode = abs(96, 2, 1);
/// `0-0:96.2.128`: who programmed the meter last (metermaster).
pub const PROGRAMMING_USER: ObisCode = abs(96, 2, 128);
/// `0-0:96.2.129`: label of the last programming (metermaster).
pub const PROGRAMMING_LABEL: ObisCode = abs(96, 2, 129);
/// `0-0:96.2.130`: kind of the last programming (metermaster).
pub const PROGRAMMING_KIND: ObisCode = abs(96, 2, 130);
/// `0-0:99.98.10`: programming log (metermaster: an event log profile, E = 10).
pub const PROGRAMMING_LOG: ObisCode = abs(99, 98, 10);
/// `0-0:96.2.131`: the port of the last programming session (metermaster's simulated meters).
pub const PROGRAMMING_PORT: ObisCode = abs(96, 2, 131);
/// `1-0:0.2.1`: the id of the tariff scheme / configuration in force.
pub const SCHEME_ID: ObisCode = elec(0, 2, 1);
/// `0-0:96.7.21`: number of power failures in all phases.
pub const POWER_FAILURE_COUNT: ObisCode = abs(96, 7, 21);

// ---------------------------------------------------------------------------------------------
// Profiles and logs

/// `1-0:99.1.0`: load profile 1.
pub const LOAD_PROFILE_1: ObisCode = elec(99, 1, 0);
/// `1-0:99.2.0`: load profile 2.
pub const LOAD_PROFILE_2: ObisCode = elec(99, 2, 0);
/// `0-0:98.1.0`: data of billing periods (billing profile).
pub const BILLING_PROFILE: ObisCode = abs(98, 1, 0);
/// `0-0:99.98.0`: standard event log.
pub const EVENT_LOG: ObisCode = abs(99, 98, 0);
/// `1-0:99.97.0`: power failure event log.
pub const POWER_FAILURE_LOG: ObisCode = elec(99, 97, 0);
/// `0-0:96.10.1`: profile status (AMR profile status of load profile 1).
pub const PROFILE_STATUS: ObisCode = abs(96, 10, 1);
/// `0-0:96.11.0`: event code of the standard event log.
pub const EVENT_CODE: ObisCode = abs(96, 11, 0);

// ---------------------------------------------------------------------------------------------
// The table

/// The total and rates 1 to 8 of `1-0:C.D.E`, named `name`, `name, rate 1` ...
macro_rules! rated {
    ($total:expr, $rates:expr, $name:literal) => {
        &[
            ($total, $name),
            ($rates[0], concat!($name, ", rate 1")),
            ($rates[1], concat!($name, ", rate 2")),
            ($rates[2], concat!($name, ", rate 3")),
            ($rates[3], concat!($name, ", rate 4")),
            ($rates[4], concat!($name, ", rate 5")),
            ($rates[5], concat!($name, ", rate 6")),
            ($rates[6], concat!($name, ", rate 7")),
            ($rates[7], concat!($name, ", rate 8")),
        ]
    };
}

const TABLE: &[&[(ObisCode, &str)]] = &[
    rated!(
        ACTIVE_IMPORT_TOTAL,
        ACTIVE_IMPORT_RATES,
        "active import energy"
    ),
    rated!(
        ACTIVE_EXPORT_TOTAL,
        ACTIVE_EXPORT_RATES,
        "active export energy"
    ),
    rated!(
        REACTIVE_IMPORT_TOTAL,
        REACTIVE_IMPORT_RATES,
        "reactive import energy"
    ),
    rated!(
        REACTIVE_EXPORT_TOTAL,
        REACTIVE_EXPORT_RATES,
        "reactive export energy"
    ),
    rated!(
        ACTIVE_IMPORT_MAX_DEMAND,
        ACTIVE_IMPORT_MAX_DEMAND_RATES,
        "active import maximum demand"
    ),
    &[
        (REACTIVE_Q1_TOTAL, "reactive energy Q1"),
        (REACTIVE_Q2_TOTAL, "reactive energy Q2"),
        (REACTIVE_Q3_TOTAL, "reactive energy Q3"),
        (REACTIVE_Q4_TOTAL, "reactive energy Q4"),
        (APPARENT_IMPORT_TOTAL, "apparent import energy"),
        (APPARENT_EXPORT_TOTAL, "apparent export energy"),
        (
            ACTIVE_IMPORT_CURRENT_DEMAND,
            "active import current average demand",
        ),
        (
            ACTIVE_IMPORT_LAST_DEMAND,
            "active import last average demand",
        ),
        (ACTIVE_EXPORT_MAX_DEMAND, "active export maximum demand"),
        (REACTIVE_IMPORT_MAX_DEMAND, "reactive import maximum demand"),
        (REACTIVE_EXPORT_MAX_DEMAND, "reactive export maximum demand"),
        (APPARENT_IMPORT_MAX_DEMAND, "apparent import maximum demand"),
        (ACTIVE_IMPORT_INTERVAL, "active import energy per interval"),
        (ACTIVE_EXPORT_INTERVAL, "active export energy per interval"),
        (
            REACTIVE_IMPORT_INTERVAL,
            "reactive import energy per interval",
        ),
        (
            REACTIVE_EXPORT_INTERVAL,
            "reactive export energy per interval",
        ),
        (ACTIVE_POWER, "active power import"),
        (ACTIVE_POWER_EXPORT, "active power export"),
        (REACTIVE_POWER, "reactive power import"),
        (APPARENT_POWER, "apparent power import"),
        (POWER_FACTOR, "power factor"),
        (FREQUENCY, "frequency"),
        (ACTIVE_POWER_L1, "active power import L1"),
        (ACTIVE_POWER_L2, "active power import L2"),
        (ACTIVE_POWER_L3, "active power import L3"),
        (CURRENT_L1, "current L1"),
        (CURRENT_L2, "current L2"),
        (CURRENT_L3, "current L3"),
        (CURRENT_NEUTRAL, "current neutral"),
        (VOLTAGE_L1, "voltage L1"),
        (VOLTAGE_L2, "voltage L2"),
        (VOLTAGE_L3, "voltage L3"),
        (FIRMWARE, "firmware version"),
        (CT_RATIO_NUMERATOR, "CT ratio numerator"),
        (VT_RATIO_NUMERATOR, "VT ratio numerator"),
        (CT_RATIO_DENOMINATOR, "CT ratio denominator"),
        (VT_RATIO_DENOMINATOR, "VT ratio denominator"),
        (DEVICE_ADDRESS, "device address"),
        (LOCAL_TIME, "local time"),
        (LOCAL_DATE, "local date"),
        (ERROR_REGISTER, "error register"),
        (CLOCK, "clock"),
        (DEVICE_ID, "serial number"),
        (LOGICAL_DEVICE_NAME, "logical device name"),
        (CURRENT_ASSOCIATION, "current association"),
        (SAP_ASSIGNMENT, "SAP assignment"),
        (SECURITY_SETUP, "security setup"),
        (INVOCATION_COUNTER, "invocation counter"),
        (PUSH_SETUP, "push setup"),
        (DISCONNECT_CONTROL, "disconnect control"),
        (ACTIVITY_CALENDAR, "activity calendar"),
        (SPECIAL_DAYS_TABLE, "special days table"),
        (TARIFF_SCRIPT_TABLE, "tariff script table"),
        (BILLING_SCRIPT_TABLE, "billing script table"),
        (REGISTER_ACTIVATION, "register activation"),
        (ACTIVE_TARIFF, "active tariff"),
        (PROGRAMMING_COUNTER, "programming counter"),
        (PROGRAMMING_TIME, "last programming time"),
        (PROGRAMMING_USER, "programming user"),
        (PROGRAMMING_LABEL, "programming label"),
        (PROGRAMMING_KIND, "programming kind"),
        (PROGRAMMING_LOG, "programming log"),
        (PROGRAMMING_PORT, "programming port"),
        (SCHEME_ID, "scheme id"),
        (POWER_FAILURE_COUNT, "power failures"),
        (LOAD_PROFILE_1, "load profile 1"),
        (LOAD_PROFILE_2, "load profile 2"),
        (BILLING_PROFILE, "billing profile"),
        (EVENT_LOG, "event log"),
        (POWER_FAILURE_LOG, "power failure log"),
        (PROFILE_STATUS, "profile status"),
        (EVENT_CODE, "event code"),
    ],
];

/// Every code of the table with its name.
pub fn all() -> impl Iterator<Item = (ObisCode, &'static str)> {
    TABLE.iter().flat_map(|group| group.iter().copied())
}

/// The short English name of a well-known code (`active import energy, rate 2`, `clock`). A
/// historical value (F other than 255, such as a billing period's) is named as its current
/// value (F = 255).
pub fn name(code: ObisCode) -> Option<&'static str> {
    let find = |code: ObisCode| all().find(|(c, _)| *c == code).map(|(_, n)| n);
    find(code).or_else(|| {
        (code.f != 255)
            .then(|| find(ObisCode { f: 255, ..code }))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names() {
        assert_eq!(name(ACTIVE_IMPORT_TOTAL), Some("active import energy"));
        assert_eq!(
            name(ObisCode::parse("1.8.2").unwrap()),
            Some("active import energy, rate 2")
        );
        assert_eq!(ACTIVE_EXPORT_RATES[7], ObisCode::elec(2, 8, 8));
        assert_eq!(
            name(ACTIVE_EXPORT_RATES[7]),
            Some("active export energy, rate 8")
        );
        assert_eq!(
            name(ACTIVE_IMPORT_MAX_DEMAND_RATES[0]),
            Some("active import maximum demand, rate 1")
        );
        assert_eq!(
            name(ObisCode::parse("0.0.1.0.0.255").unwrap()),
            Some("clock")
        );
        assert_eq!(
            name(ObisCode::parse("C.1.0").unwrap()),
            Some("serial number")
        );
        assert_eq!(
            name(ObisCode::parse("F.F").unwrap()),
            Some("error register")
        );
        assert_eq!(
            name(ObisCode::parse("0.0.99.98.10.255").unwrap()),
            Some("programming log")
        );
        assert_eq!(
            name(ObisCode::parse("1-0:0.4.2").unwrap()),
            Some("CT ratio numerator")
        );
        // A billing period's value is named as the register.
        assert_eq!(
            name(ObisCode::parse("1.8.1*03").unwrap()),
            Some("active import energy, rate 1")
        );
        assert_eq!(name(ObisCode::elec(1, 8, 9)), None);
        assert_eq!(name(ObisCode::new(1, 1, 1, 8, 0, 255)), None);
    }

    #[test]
    fn table_has_each_code_once() {
        let mut seen = HashSet::new();
        for (code, n) in all() {
            assert!(seen.insert(code), "{code} twice");
            assert!(!n.is_empty(), "{code}");
        }
        assert!(seen.len() > 100);
        for c in [
            FIRMWARE,
            CLOCK,
            DEVICE_ID,
            PROGRAMMING_COUNTER,
            LOAD_PROFILE_1,
        ] {
            assert!(seen.contains(&c), "{c}");
        }
    }

    #[test]
    fn codes_are_as_the_standard_writes_them() {
        for (code, text) in [
            (ACTIVE_IMPORT_TOTAL, "1-0:1.8.0*255"),
            (ACTIVE_IMPORT_RATES[0], "1-0:1.8.1*255"),
            (REACTIVE_EXPORT_RATES[3], "1-0:4.8.4*255"),
            (CLOCK, "0-0:1.0.0*255"),
            (DEVICE_ID, "0-0:96.1.0*255"),
            (PROGRAMMING_COUNTER, "0-0:96.2.0*255"),
            (PROGRAMMING_LOG, "0-0:99.98.10*255"),
            (LOAD_PROFILE_1, "1-0:99.1.0*255"),
            (EVENT_LOG, "0-0:99.98.0*255"),
            (CT_RATIO_NUMERATOR, "1-0:0.4.2*255"),
            (VT_RATIO_NUMERATOR, "1-0:0.4.3*255"),
            (FIRMWARE, "1-0:0.2.0*255"),
            (ACTIVE_IMPORT_MAX_DEMAND, "1-0:1.6.0*255"),
        ] {
            assert_eq!(code.to_string(), text);
        }
    }
}
