//! Logical names and physical units as DLMS carries them.
//!
//! The OBIS code type itself is the model's [`ObisCode`], whose parser takes every text form
//! (the six dotted groups `1.0.99.1.0.255` that DLMS tools and the guide use among them);
//! [`Dotted`] prints that form.
//!
//! The unit enumeration of scaler_unit (guide §6.2) is [`DlmsUnit`]; [`ScalerUnit`] decodes the
//! attribute and turns a register value into an exact [`Quantity`].

use std::fmt;

use metermaster_model::{ObisCode, ObisParseError, Quantity, Unit};

use crate::axdr::Data;
use crate::error::ValueError;

/// Parses an OBIS code in any form users paste (six dotted groups `1.0.99.1.0.255`,
/// `1-0:99.1.0*255`, `1-0:99.1.0.255`, `1.8.0` ...): the model's parser, which takes them all.
pub fn parse_obis(text: &str) -> Result<ObisCode, ObisParseError> {
    ObisCode::parse(text)
}

/// Displays an OBIS code as six dotted groups: `1.0.99.1.0.255`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dotted(pub ObisCode);

impl fmt::Display for Dotted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0.to_bytes();
        write!(f, "{a}.{b}.{c}.{d}.{e}.{g}")
    }
}

/// A physical unit as the scaler_unit enumeration numbers it (guide §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DlmsUnit(pub u8);

/// Code, symbol and description of every unit the guide's table lists.
const UNITS: &[(u8, &str, &str)] = &[
    (1, "a", "year"),
    (2, "mo", "month"),
    (3, "wk", "week"),
    (4, "d", "day"),
    (5, "h", "hour"),
    (6, "min", "minute"),
    (7, "s", "second"),
    (8, "°", "phase angle, degree"),
    (9, "°C", "temperature, degree Celsius"),
    (10, "currency", "local currency"),
    (11, "m", "length, metre"),
    (12, "m/s", "speed"),
    (13, "m³", "volume"),
    (14, "m³", "corrected volume"),
    (15, "m³/h", "volume flux"),
    (16, "m³/h", "corrected volume flux"),
    (17, "m³/d", "volume flux per day"),
    (18, "m³/d", "corrected volume flux per day"),
    (19, "l", "volume, litre"),
    (20, "kg", "mass"),
    (21, "N", "force"),
    (22, "Nm", "energy, newton metre"),
    (23, "Pa", "pressure, pascal"),
    (24, "bar", "pressure, bar"),
    (25, "J", "energy, joule"),
    (26, "J/h", "thermal power"),
    (27, "W", "active power"),
    (28, "VA", "apparent power"),
    (29, "var", "reactive power"),
    (30, "Wh", "active energy"),
    (31, "VAh", "apparent energy"),
    (32, "varh", "reactive energy"),
    (33, "A", "current"),
    (34, "C", "electrical charge"),
    (35, "V", "voltage"),
    (36, "V/m", "electric field strength"),
    (37, "F", "capacitance"),
    (38, "Ω", "resistance"),
    (39, "Ωm²/m", "resistivity"),
    (40, "Wb", "magnetic flux"),
    (41, "T", "magnetic flux density"),
    (42, "A/m", "magnetic field strength"),
    (43, "H", "inductance"),
    (44, "Hz", "frequency"),
    (45, "1/(Wh)", "active energy meter constant"),
    (46, "1/(varh)", "reactive energy meter constant"),
    (47, "1/(VAh)", "apparent energy meter constant"),
    (48, "V²h", "volt-squared hours"),
    (49, "A²h", "ampere-squared hours"),
    (50, "kg/s", "mass flux"),
    (51, "S", "conductance"),
    (52, "K", "temperature, kelvin"),
    (56, "%", "percentage"),
    (57, "Ah", "ampere-hours"),
    (70, "dBm", "signal strength, dB milliwatt"),
    (71, "dBµV", "signal strength, dB microvolt"),
    (72, "dB", "logarithmic unit"),
    (254, "other", "other unit"),
    (255, "", "count, no unit"),
];

impl DlmsUnit {
    pub const SECOND: DlmsUnit = DlmsUnit(7);
    pub const DEGREE: DlmsUnit = DlmsUnit(8);
    pub const WATT: DlmsUnit = DlmsUnit(27);
    pub const VOLT_AMPERE: DlmsUnit = DlmsUnit(28);
    pub const VAR: DlmsUnit = DlmsUnit(29);
    pub const WATT_HOUR: DlmsUnit = DlmsUnit(30);
    pub const VOLT_AMPERE_HOUR: DlmsUnit = DlmsUnit(31);
    pub const VAR_HOUR: DlmsUnit = DlmsUnit(32);
    pub const AMPERE: DlmsUnit = DlmsUnit(33);
    pub const VOLT: DlmsUnit = DlmsUnit(35);
    pub const HERTZ: DlmsUnit = DlmsUnit(44);
    pub const OTHER: DlmsUnit = DlmsUnit(254);
    pub const COUNT: DlmsUnit = DlmsUnit(255);

    fn entry(self) -> Option<&'static (u8, &'static str, &'static str)> {
        UNITS.iter().find(|(c, _, _)| *c == self.0)
    }

    /// The symbol (`Wh`, `m³/h`, `""` for count), when the guide's table lists the code.
    pub fn symbol(self) -> Option<&'static str> {
        self.entry().map(|e| e.1)
    }

    /// What the unit measures, when the guide's table lists the code.
    pub fn description(self) -> Option<&'static str> {
        self.entry().map(|e| e.2)
    }

    /// The model's unit for this code, where one exists. 255 (count / no unit) maps to
    /// [`Unit::None`]: in electricity meters it is the unit of power factors and ratios.
    pub fn to_model(self) -> Option<Unit> {
        Some(match self.0 {
            7 => Unit::Second,
            8 => Unit::Degree,
            27 => Unit::Watt,
            28 => Unit::VoltAmpere,
            29 => Unit::Var,
            30 => Unit::WattHour,
            31 => Unit::VoltAmpereHour,
            32 => Unit::VarHour,
            33 => Unit::Ampere,
            35 => Unit::Volt,
            44 => Unit::Hertz,
            255 => Unit::None,
            _ => return None,
        })
    }

    /// The code for one of the model's units ([`Unit::None`] and [`Unit::Count`] are both 255).
    pub fn from_model(unit: Unit) -> DlmsUnit {
        DlmsUnit(match unit {
            Unit::Second => 7,
            Unit::Degree => 8,
            Unit::Watt => 27,
            Unit::VoltAmpere => 28,
            Unit::Var => 29,
            Unit::WattHour => 30,
            Unit::VoltAmpereHour => 31,
            Unit::VarHour => 32,
            Unit::Ampere => 33,
            Unit::Volt => 35,
            Unit::Hertz => 44,
            Unit::None | Unit::Count => 255,
        })
    }
}

impl fmt::Display for DlmsUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.symbol() {
            Some("") => f.write_str("count"),
            Some(s) => f.write_str(s),
            None => write!(f, "unit {}", self.0),
        }
    }
}

/// The scaler_unit attribute of registers: value × 10^scaler, in unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScalerUnit {
    pub scaler: i8,
    pub unit: DlmsUnit,
}

impl ScalerUnit {
    pub fn new(scaler: i8, unit: DlmsUnit) -> Self {
        ScalerUnit { scaler, unit }
    }

    /// `structure{integer scaler, enum unit}`. An integer of another width that fits, and an
    /// unsigned unit, are accepted too: a few meters send them.
    pub fn from_data(d: &Data) -> Result<Self, ValueError> {
        let f = d.structure_of("scaler_unit", 2)?;
        let scaler = f[0]
            .as_integer()
            .ok_or(ValueError::WrongType {
                what: "scaler",
                expected: "integer",
                found: f[0].type_name(),
            })
            .and_then(|v| {
                i8::try_from(v).map_err(|_| ValueError::OutOfRange {
                    what: "scaler",
                    value: crate::error::Number(v),
                })
            })?;
        let unit = match f[1] {
            Data::Enum(u) | Data::Unsigned(u) => u,
            ref other => {
                return Err(ValueError::WrongType {
                    what: "unit",
                    expected: "enum",
                    found: other.type_name(),
                });
            }
        };
        Ok(ScalerUnit {
            scaler,
            unit: DlmsUnit(unit),
        })
    }

    pub fn to_data(self) -> Data {
        Data::Structure(vec![Data::Integer(self.scaler), Data::Enum(self.unit.0)])
    }

    /// The exact decimal a register value stands for: (digits, power of ten). Integers are exact;
    /// floats are taken at their shortest decimal form (what they print as).
    pub fn exact_value(self, value: &Data) -> Result<(i64, i8), ValueError> {
        let (raw, extra) = match value {
            Data::Float32(v) if v.is_finite() => float_decimal(&v.to_string())?,
            Data::Float64(v) if v.is_finite() => float_decimal(&v.to_string())?,
            other => match other.as_integer() {
                Some(v) => (
                    i64::try_from(v).map_err(|_| ValueError::OutOfRange {
                        what: "register value",
                        value: crate::error::Number(v),
                    })?,
                    0,
                ),
                None => {
                    return Err(ValueError::WrongType {
                        what: "register value",
                        expected: "an integer or a finite float",
                        found: other.type_name(),
                    });
                }
            },
        };
        let scale = self.scaler.checked_add(extra).ok_or(ValueError::Invalid {
            what: "register value",
            problem: "scale does not fit",
        })?;
        Ok((raw, scale))
    }

    /// A register value as an exact [`Quantity`] in the model's unit.
    pub fn quantity(self, value: &Data) -> Result<Quantity, ValueError> {
        let unit = self
            .unit
            .to_model()
            .ok_or(ValueError::UnitNotInModel(self.unit.0))?;
        let (raw, scale) = self.exact_value(value)?;
        Ok(Quantity::new(raw, scale, unit))
    }
}

fn float_decimal(text: &str) -> Result<(i64, i8), ValueError> {
    Quantity::parse_decimal(text).ok_or(ValueError::Invalid {
        what: "register value",
        problem: "float has too many digits for an exact decimal",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hex;
    use proptest::prelude::*;

    #[test]
    fn dotted_form() {
        let o = parse_obis("1.0.99.1.0.255").unwrap();
        assert_eq!(o, ObisCode::new(1, 0, 99, 1, 0, 255));
        assert_eq!(Dotted(o).to_string(), "1.0.99.1.0.255");
        assert_eq!(parse_obis("1-0:99.1.0*255").unwrap(), o);
        assert_eq!(
            parse_obis("0.0.40.0.0.255").unwrap(),
            ObisCode::abstract_(40, 0, 0)
        );
        assert_eq!(parse_obis("1.8.0").unwrap(), ObisCode::elec(1, 8, 0));
        for bad in [
            "1.0.99.1.0.256",
            "1.0.99.1..255",
            "1.0.99.1.0.x",
            "1.0.99.1.0.255.7",
        ] {
            assert!(parse_obis(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn units_of_the_table() {
        assert_eq!(DlmsUnit(30).symbol(), Some("Wh"));
        assert_eq!(DlmsUnit(35).to_model(), Some(Unit::Volt));
        assert_eq!(DlmsUnit(44).to_model(), Some(Unit::Hertz));
        assert_eq!(DlmsUnit(13).to_model(), None);
        assert_eq!(DlmsUnit(13).to_string(), "m³");
        assert_eq!(DlmsUnit(99).to_string(), "unit 99");
        assert_eq!(DlmsUnit(255).to_string(), "count");
        for code in 0..=255u8 {
            if let Some(u) = DlmsUnit(code).to_model() {
                assert_eq!(DlmsUnit::from_model(u), DlmsUnit(code));
            }
        }
    }

    #[test]
    fn scaler_unit_examples_of_section_6_2() {
        let su = ScalerUnit::from_data(&Data::decode(&hex("02 02 0F FF 16 23")).unwrap()).unwrap();
        assert_eq!(su, ScalerUnit::new(-1, DlmsUnit::VOLT));
        let v = Data::decode(&hex("12 08 FD")).unwrap();
        let q = su.quantity(&v).unwrap();
        assert_eq!(q, Quantity::new(2301, -1, Unit::Volt));
        assert_eq!(q.to_string(), "230.1 V");

        let su = ScalerUnit::from_data(&Data::decode(&hex("02 02 0F 00 16 1E")).unwrap()).unwrap();
        assert_eq!(su, ScalerUnit::new(0, DlmsUnit::WATT_HOUR));
        assert_eq!(su.to_data().encode(), hex("02 02 0F 00 16 1E"));
        // §7 steps 6 and 8: 124 690 Wh.
        let q = su.quantity(&Data::DoubleLongUnsigned(124_690)).unwrap();
        assert_eq!(q, Quantity::new(124_690, 0, Unit::WattHour));
    }

    #[test]
    fn scaler_unit_errors() {
        assert!(ScalerUnit::from_data(&Data::Unsigned(1)).is_err());
        assert!(ScalerUnit::from_data(&Data::Structure(vec![Data::Integer(0)])).is_err());
        assert!(
            ScalerUnit::from_data(&Data::Structure(vec![Data::Long(300), Data::Enum(30)])).is_err()
        );
        let su = ScalerUnit::new(0, DlmsUnit(13));
        assert_eq!(
            su.quantity(&Data::Unsigned(1)),
            Err(ValueError::UnitNotInModel(13))
        );
        let su = ScalerUnit::new(-3, DlmsUnit::WATT);
        assert!(su.quantity(&Data::Long64Unsigned(u64::MAX)).is_err());
        assert!(su.quantity(&Data::visible_string("1")).is_err());
        assert_eq!(
            su.quantity(&Data::Float32(1.5)).unwrap(),
            Quantity::new(15, -4, Unit::Watt)
        );
        assert!(su.quantity(&Data::Float32(f32::NAN)).is_err());
    }

    proptest! {
        #[test]
        fn dotted_round_trip(b in any::<[u8; 6]>()) {
            let o = ObisCode::from_bytes(b);
            prop_assert_eq!(parse_obis(&Dotted(o).to_string()).unwrap(), o);
        }

        #[test]
        fn parse_never_panics(s in ".{0,24}") {
            let _ = parse_obis(&s);
        }

        #[test]
        fn float_quantities_never_panic(v in any::<f64>(), s in any::<i8>()) {
            let _ = ScalerUnit::new(s, DlmsUnit::WATT).quantity(&Data::Float64(v));
        }
    }
}
