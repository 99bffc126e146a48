//! Physical units and exact decimal quantities.
//!
//! Meters count in integers with a decimal scale (0.001 Wh steps, a DLMS scaler of -3 ...), so a
//! quantity is kept as an integer and a power of ten, never as a float: a register read today
//! must compare equal to the same register read from a file next year.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A unit of measure, named by its usual symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    #[serde(rename = "Wh")]
    WattHour,
    #[serde(rename = "varh")]
    VarHour,
    #[serde(rename = "VAh")]
    VoltAmpereHour,
    #[serde(rename = "W")]
    Watt,
    #[serde(rename = "var")]
    Var,
    #[serde(rename = "VA")]
    VoltAmpere,
    #[serde(rename = "V")]
    Volt,
    #[serde(rename = "A")]
    Ampere,
    #[serde(rename = "Hz")]
    Hertz,
    #[serde(rename = "deg")]
    Degree,
    #[serde(rename = "s")]
    Second,
    /// Dimensionless: power factor, ratios.
    #[serde(rename = "")]
    None,
    /// A plain count: pulses, events, customer-defined registers.
    #[serde(rename = "count")]
    Count,
}

impl Unit {
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::WattHour => "Wh",
            Unit::VarHour => "varh",
            Unit::VoltAmpereHour => "VAh",
            Unit::Watt => "W",
            Unit::Var => "var",
            Unit::VoltAmpere => "VA",
            Unit::Volt => "V",
            Unit::Ampere => "A",
            Unit::Hertz => "Hz",
            Unit::Degree => "deg",
            Unit::Second => "s",
            Unit::None => "",
            Unit::Count => "count",
        }
    }

    /// The energy unit that a demand unit integrates to over time (W → Wh ...).
    pub fn energy(self) -> Unit {
        match self {
            Unit::Watt => Unit::WattHour,
            Unit::Var => Unit::VarHour,
            Unit::VoltAmpere => Unit::VoltAmpereHour,
            other => other,
        }
    }

    /// The demand unit of an energy unit (Wh → W ...).
    pub fn demand(self) -> Unit {
        match self {
            Unit::WattHour => Unit::Watt,
            Unit::VarHour => Unit::Var,
            Unit::VoltAmpereHour => Unit::VoltAmpere,
            other => other,
        }
    }

    pub fn from_symbol(s: &str) -> Option<Unit> {
        Some(match s {
            "Wh" => Unit::WattHour,
            "varh" | "VArh" | "VARh" => Unit::VarHour,
            "VAh" => Unit::VoltAmpereHour,
            "W" => Unit::Watt,
            "var" | "VAr" => Unit::Var,
            "VA" => Unit::VoltAmpere,
            "V" => Unit::Volt,
            "A" => Unit::Ampere,
            "Hz" => Unit::Hertz,
            "deg" | "°" => Unit::Degree,
            "s" => Unit::Second,
            "" => Unit::None,
            "count" => Unit::Count,
            _ => return None,
        })
    }
}

impl Unit {
    /// A unit symbol as meters and files write it, with a decimal prefix folded into a power
    /// of ten: `kWh` → (Wh, 3), `MWh` → (Wh, 6), `kvarh`/`kVArh`/`KVARH` → (varh, 3). Case is
    /// ignored except that `M` (mega) must be upper case, as `m` would be milli.
    pub fn parse_prefixed(text: &str) -> Option<(Unit, i8)> {
        let t = text.trim();
        let (mega, rest) = match t.strip_prefix('M') {
            Some(r) if !r.is_empty() => (true, r),
            _ => (false, t),
        };
        let lower = rest.to_ascii_lowercase();
        let (kilo, base) = match lower.strip_prefix('k') {
            Some(b) if !mega && !b.is_empty() => (true, b),
            _ => (false, lower.as_str()),
        };
        let unit = match base {
            "wh" => Unit::WattHour,
            "varh" => Unit::VarHour,
            "vah" => Unit::VoltAmpereHour,
            "w" => Unit::Watt,
            "var" => Unit::Var,
            "va" => Unit::VoltAmpere,
            "v" if !mega => Unit::Volt,
            "a" if !mega => Unit::Ampere,
            "hz" if !mega && !kilo => Unit::Hertz,
            _ => return None,
        };
        let scale = if mega {
            6
        } else if kilo {
            3
        } else {
            0
        };
        Some((unit, scale))
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// An exact decimal value with a unit: `raw × 10^scale unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "QuantityRepr", into = "QuantityRepr")]
pub struct Quantity {
    pub raw: i64,
    pub scale: i8,
    pub unit: Unit,
}

/// JSON shape: the value as a number for people and tools, and the exact integer and scale for
/// a lossless round trip.
#[derive(Serialize, Deserialize)]
struct QuantityRepr {
    value: f64,
    unit: Unit,
    raw: i64,
    scale: i8,
}

impl From<Quantity> for QuantityRepr {
    fn from(q: Quantity) -> Self {
        QuantityRepr {
            value: q.to_f64(),
            unit: q.unit,
            raw: q.raw,
            scale: q.scale,
        }
    }
}

impl From<QuantityRepr> for Quantity {
    fn from(r: QuantityRepr) -> Self {
        Quantity {
            raw: r.raw,
            scale: r.scale,
            unit: r.unit,
        }
    }
}

impl Quantity {
    pub const fn new(raw: i64, scale: i8, unit: Unit) -> Self {
        Quantity { raw, scale, unit }
    }

    pub fn to_f64(&self) -> f64 {
        // Parsing the decimal text gives the float nearest to the exact value; multiplying
        // by a power of ten would not.
        self.decimal_string().parse().unwrap_or(f64::NAN)
    }

    /// The exact value as decimal text, without the unit (`1234.567`).
    pub fn decimal_string(&self) -> String {
        let neg = self.raw < 0;
        let digits = self.raw.unsigned_abs().to_string();
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        if self.scale >= 0 {
            out.push_str(&digits);
            for _ in 0..self.scale {
                out.push('0');
            }
        } else {
            let frac = usize::from(self.scale.unsigned_abs());
            if digits.len() > frac {
                let (i, f) = digits.split_at(digits.len() - frac);
                out.push_str(i);
                out.push('.');
                out.push_str(f);
            } else {
                out.push_str("0.");
                for _ in 0..frac - digits.len() {
                    out.push('0');
                }
                out.push_str(&digits);
            }
        }
        out
    }

    /// Parses a decimal number exactly: `[+-]digits[.digits]` → (all digits as an integer,
    /// minus the number of decimals). `None` when it is not such a number or does not fit.
    pub fn parse_decimal(text: &str) -> Option<(i64, i8)> {
        let s = text.trim_matches(' ');
        let (negative, s) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() && frac.is_empty() || frac.len() > 18 {
            return None;
        }
        let mut raw: i64 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            if !b.is_ascii_digit() {
                return None;
            }
            raw = raw.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
        }
        Some((if negative { -raw } else { raw }, -(frac.len() as i8)))
    }

    /// A value and a unit as text (`001234.567`, `kWh`) as an exact quantity.
    pub fn parse(value: &str, unit: &str) -> Option<Quantity> {
        let (unit, unit_scale) = Unit::parse_prefixed(unit)?;
        let (raw, scale) = Quantity::parse_decimal(value)?;
        Some(Quantity::new(raw, scale.checked_add(unit_scale)?, unit))
    }

    /// The value expressed at another scale, if that is exact and fits.
    pub fn rescaled(&self, scale: i8) -> Option<i64> {
        let diff = i32::from(self.scale) - i32::from(scale);
        if diff >= 0 {
            10i64
                .checked_pow(diff.unsigned_abs())
                .and_then(|p| self.raw.checked_mul(p))
        } else {
            let p = 10i64.checked_pow(diff.unsigned_abs())?;
            (self.raw % p == 0).then_some(self.raw / p)
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unit == Unit::None {
            f.write_str(&self.decimal_string())
        } else {
            write!(f, "{} {}", self.decimal_string(), self.unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimal_text() {
        assert_eq!(
            Quantity::new(1_234_567_890, -3, Unit::WattHour).decimal_string(),
            "1234567.890"
        );
        assert_eq!(Quantity::new(5, -3, Unit::Volt).decimal_string(), "0.005");
        assert_eq!(Quantity::new(-5, -1, Unit::Watt).decimal_string(), "-0.5");
        assert_eq!(Quantity::new(12, 2, Unit::Watt).decimal_string(), "1200");
        assert_eq!(Quantity::new(1500, -3, Unit::Hertz).to_string(), "1.500 Hz");
    }

    #[test]
    fn rescale_is_exact_or_none() {
        let q = Quantity::new(1_234_000, -3, Unit::Watt);
        assert_eq!(q.rescaled(0), Some(1234));
        assert_eq!(q.rescaled(-6), Some(1_234_000_000));
        assert_eq!(Quantity::new(1, -3, Unit::Watt).rescaled(0), None);
    }

    #[test]
    fn parsing_values_and_units() {
        assert_eq!(
            Quantity::parse("001234.567", "kWh"),
            Some(Quantity::new(1_234_567, 0, Unit::WattHour))
        );
        assert_eq!(
            Quantity::parse("-0.5", "MWh"),
            Some(Quantity::new(-5, 5, Unit::WattHour))
        );
        assert_eq!(
            Quantity::parse("12", "KVARH"),
            Some(Quantity::new(12, 3, Unit::VarHour))
        );
        assert_eq!(
            Quantity::parse("230.1", "V"),
            Some(Quantity::new(2301, -1, Unit::Volt))
        );
        assert_eq!(Unit::parse_prefixed("kVArh"), Some((Unit::VarHour, 3)));
        assert_eq!(
            Unit::parse_prefixed("mWh"),
            Some((Unit::WattHour, 0)).filter(|_| false)
        );
        for bad in ["", "1.2.3", "1e5", "--1", "."] {
            assert_eq!(Quantity::parse_decimal(bad), None, "{bad}");
        }
        assert_eq!(Quantity::parse("1", "GJ"), None);
    }

    proptest! {
        #[test]
        fn json_round_trip(raw in any::<i64>(), scale in -9i8..9) {
            let q = Quantity::new(raw, scale, Unit::VarHour);
            let j = serde_json::to_string(&q).unwrap();
            prop_assert_eq!(serde_json::from_str::<Quantity>(&j).unwrap(), q);
        }
    }
}
