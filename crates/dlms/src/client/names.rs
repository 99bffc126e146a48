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
    let rank = obis.d == 6 && MD_RANK_E.contains(&obis.e);
    if obis.e > 0 && obis.d != 7 && !rank {
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
    if rank {
        name.push_str(if obis.e == 128 { " #2" } else { " #3" });
    }
    name
}

/// The OBIS E of the second and third highest maximum demand of a quantity: `C.6.128` and
/// `C.6.129`, metermaster's convention (OBIS has no group for the rank; the FLAG reader names
/// them so).
const MD_RANK_E: [u8; 2] = [128, 129];

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
        // +A − (−A), signed: preferred to 1 (+A) where a meter has both (see the reader).
        1 | 16 => (ActivePower, Phase::Total),
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

/// The count of events an event-counter object keeps, where its OBIS code says which kind:
/// `0.0.96.7.21.255`, the number of power failures in any phase.
pub(crate) fn counter(obis: ObisCode) -> Option<EventKind> {
    (obis == ObisCode::new(0, 0, 96, 7, 21, 255)).then_some(EventKind::PowerFailure)
}

/// The port of a programming session in metermaster's programming log (0.0.96.2.131.255).
pub(crate) fn programming_port(code: u64) -> Option<&'static str> {
    match code {
        0 => Some("optical"),
        1 => Some("remote"),
        _ => None,
    }
}

/// What ended a billing period, from the trigger bits the Elster FLAG billing sets (and the
/// simulated meters) keep: 0x01 billing date, 0x02 season change, 0x04 tariff changeover, 0x08
/// serial port, 0x10 optical port, 0x20 billing button, 0x40 CT-ratio change, 0x80 power-up.
pub(crate) fn billing_trigger(bits: u64) -> Option<String> {
    metermaster_model::billing_trigger_text(bits)
}

/// A meter whose own (manufacturer-specific) codes the reader knows, recognised by its COSEM
/// logical device name. Its tables are used by default, after a table given in the read
/// options and before the standard (IDIS/DSMR) ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// metermaster's simulated A1140 / A1700 (docs/simulator.md): logical device name `GEC`,
    /// the model and the serial number. No real A1140 or A1700 speaks DLMS, so the name is the
    /// simulator's alone.
    MetermasterSim { a1700: bool },
}

impl Dialect {
    pub(crate) fn recognise(logical_device_name: Option<&str>) -> Option<Dialect> {
        let rest = logical_device_name?.strip_prefix("GEC")?;
        if rest.starts_with("A1140") {
            Some(Dialect::MetermasterSim { a1700: false })
        } else if rest.starts_with("A1700") {
            Some(Dialect::MetermasterSim { a1700: true })
        } else {
            None
        }
    }

    /// The meter model the logical device name tells.
    pub(crate) fn model(self) -> &'static str {
        match self {
            Dialect::MetermasterSim { a1700: false } => "A1140",
            Dialect::MetermasterSim { a1700: true } => "A1700",
        }
    }

    /// Who may read the logs, for the reason a client that may not is given.
    pub(crate) fn log_readers(self) -> &'static str {
        match self {
            Dialect::MetermasterSim { .. } => {
                "the meter shows its event and programming logs to the meter reader (client 17) and the management client (1) only"
            }
        }
    }

    /// An event code of the meter's event log (0.0.99.98.0.255): 10 reverse run, 21–27 phase
    /// failure with the phase mask (A1140), 31–33 phase failure of phase 1–3 (A1700), 40/44
    /// the covers (as the standard), 50 end of billing period by the billing date. The detail
    /// words are those of the FLAG reader for the same log entries.
    pub(crate) fn event(self, code: u64) -> Option<(EventKind, Option<String>)> {
        let Dialect::MetermasterSim { a1700 } = self;
        Some(match code {
            10 => (EventKind::ReverseRun, None),
            21..=27 if !a1700 => {
                let phases: String = [(1, 'A'), (2, 'B'), (4, 'C')]
                    .iter()
                    .filter(|(b, _)| (code - 20) & b != 0)
                    .map(|(_, n)| *n)
                    .collect();
                (EventKind::PhaseFailure, Some(format!("phases {phases}")))
            }
            31..=33 if a1700 => (
                EventKind::PhaseFailure,
                Some(format!("phase {}", code - 30)),
            ),
            40 => (EventKind::TerminalCoverOpened, None),
            44 => (EventKind::MainCoverOpened, None),
            50 => (EventKind::BillingReset, billing_trigger(0x01)),
            _ => return None,
        })
    }

    /// The load-profile status byte: 0x01 transient reset, 0x02 clock adjusted, 0x04
    /// configuration change, 0x08 power down, 0x10 power up, 0x20 reverse run, 0x40 phase
    /// failure (0x80, a power cut touched the interval, says nothing more).
    pub(crate) fn profile_status(self, bits: u64) -> IntervalStatus {
        const BITS: [(u64, IntervalStatus); 7] = [
            (0x01, IntervalStatus::TRANSIENT_RESET),
            (0x02, IntervalStatus::CLOCK_ADJUSTED),
            (0x04, IntervalStatus::CONFIG_CHANGE),
            (0x08, IntervalStatus::POWER_DOWN),
            (0x10, IntervalStatus::POWER_UP),
            (0x20, IntervalStatus::REVERSE_RUN),
            (0x40, IntervalStatus::PHASE_FAIL),
        ];
        BITS.iter()
            .filter(|(b, _)| bits & b != 0)
            .fold(IntervalStatus::EMPTY, |s, (_, f)| s | *f)
    }

    /// The kind an event counter 0.0.96.15.e.255 counts.
    pub(crate) fn counter(self, obis: ObisCode) -> Option<EventKind> {
        if (obis.a, obis.b, obis.c, obis.d, obis.f) != (0, 0, 96, 15, 255) {
            return None;
        }
        Some(match obis.e {
            0 => EventKind::TerminalCoverOpened,
            1 => EventKind::MainCoverOpened,
            2 => EventKind::PhaseFailure,
            3 => EventKind::ReverseRun,
            4 => EventKind::TransientReset,
            5 => EventKind::InternalBatteryFailure,
            6 => EventKind::BillingReset,
            7 => EventKind::MeterError,
            _ => return None,
        })
    }

    /// The billing period whose trigger bits an object holds: 0.0.96.50.0.F, F = 101 + index.
    pub(crate) fn billing_trigger_period(self, obis: ObisCode) -> Option<u32> {
        ((obis.a, obis.b, obis.c, obis.d, obis.e) == (0, 0, 96, 50, 0)
            && (101..=125).contains(&obis.f))
        .then(|| u32::from(obis.f - 101))
    }
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
        assert_eq!(
            register_name(ObisCode::elec(1, 6, 128)),
            "active import, maximum demand #2"
        );
        assert_eq!(
            instant(ObisCode::elec(16, 7, 0)),
            Some((InstantQuantity::ActivePower, Phase::Total))
        );
        assert_eq!(
            counter(ObisCode::new(0, 0, 96, 7, 21, 255)),
            Some(EventKind::PowerFailure)
        );
        assert_eq!(
            billing_trigger(0x11).as_deref(),
            Some("billing date, optical port")
        );
        assert_eq!(billing_trigger(0), None);
        assert_eq!(programming_port(1), Some("remote"));
    }

    #[test]
    fn the_simulated_meters_are_recognised_by_their_logical_device_name() {
        let a1140 = Dialect::recognise(Some("GECA114010000001")).unwrap();
        let a1700 = Dialect::recognise(Some("GECA17001234")).unwrap();
        assert_eq!((a1140.model(), a1700.model()), ("A1140", "A1700"));
        assert_eq!(Dialect::recognise(Some("GEC0000012345678")), None);
        assert_eq!(Dialect::recognise(Some("MMMA1140")), None);
        assert_eq!(Dialect::recognise(None), None);
        // Phase failures: the A1140 logs the phases, the A1700 the first phase's number.
        assert_eq!(
            a1140.event(27),
            Some((EventKind::PhaseFailure, Some("phases ABC".into())))
        );
        assert_eq!(a1140.event(31), None);
        assert_eq!(
            a1700.event(32),
            Some((EventKind::PhaseFailure, Some("phase 2".into())))
        );
        assert_eq!(
            a1140.event(50),
            Some((EventKind::BillingReset, Some("billing date".into())))
        );
        assert_eq!(a1140.event(1), None, "standard codes stay standard");
        assert_eq!(
            a1140.profile_status(0x80 | 0x10 | 0x20),
            IntervalStatus::POWER_UP | IntervalStatus::REVERSE_RUN
        );
        assert_eq!(
            a1140.counter(ObisCode::new(0, 0, 96, 15, 6, 255)),
            Some(EventKind::BillingReset)
        );
        assert_eq!(
            a1140.billing_trigger_period(ObisCode::new(0, 0, 96, 50, 0, 102)),
            Some(1)
        );
    }
}
