//! OBIS codes (IEC 62056-61): the six-group names `A-B:C.D.E*F` that identify every quantity a
//! meter holds, in their full form and in the reduced forms that data readouts use (`1.8.0`,
//! `1.8.1*03`, `C.1.0`, `F.F`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An OBIS code. Groups that a reduced form leaves out take their usual defaults: A = 1
/// (electricity) unless the code is an abstract one (C ≥ 96 or C = 0), B = 0, E = 0, F = 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObisCode {
    pub a: u8,
    pub b: u8,
    pub c: u8,
    pub d: u8,
    pub e: u8,
    pub f: u8,
}

/// Why a string is not an OBIS code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OBIS code {text:?}: {reason}")]
pub struct ObisParseError {
    pub text: String,
    pub reason: &'static str,
}

impl ObisCode {
    pub const fn new(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8) -> Self {
        ObisCode { a, b, c, d, e, f }
    }

    /// An electricity code `1-0:C.D.E*255`.
    pub const fn elec(c: u8, d: u8, e: u8) -> Self {
        ObisCode::new(1, 0, c, d, e, 255)
    }

    /// An abstract code `0-0:C.D.E*255`.
    pub const fn abstract_(c: u8, d: u8, e: u8) -> Self {
        ObisCode::new(0, 0, c, d, e, 255)
    }

    /// The six groups as bytes, as DLMS carries them.
    pub const fn to_bytes(self) -> [u8; 6] {
        [self.a, self.b, self.c, self.d, self.e, self.f]
    }

    pub const fn from_bytes(b: [u8; 6]) -> Self {
        ObisCode::new(b[0], b[1], b[2], b[3], b[4], b[5])
    }

    /// The reduced form used in data readouts: `C.D.E`, with `*F` when F is not 255.
    pub fn reduced(&self) -> String {
        if self.f == 255 {
            format!("{}.{}.{}", self.c, self.d, self.e)
        } else {
            format!("{}.{}.{}*{}", self.c, self.d, self.e, self.f)
        }
    }

    /// Parses the full form and the reduced forms. Letters stand for the reserved values of
    /// groups C and D as the standard allows (`C` = 96, `F` = 97, `L` = 98, `P` = 99).
    pub fn parse(text: &str) -> Result<Self, ObisParseError> {
        let err = |reason| ObisParseError {
            text: text.to_string(),
            reason,
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        let (ab, rest) = match s.split_once(':') {
            Some((ab, rest)) => (Some(ab), rest),
            None => (None, s),
        };
        let (cde, f) = match rest.split_once('*').or_else(|| rest.split_once('&')) {
            Some((cde, f)) => (cde, Some(f)),
            None => (rest, None),
        };
        let parts: Vec<&str> = cde.split('.').collect();
        if parts.len() < 2 || parts.len() > 4 {
            return Err(err("expected C.D, C.D.E or C.D.E.F after the medium"));
        }
        let group = |p: &str| -> Result<u8, ObisParseError> {
            match p {
                "C" => Ok(96),
                "F" => Ok(97),
                "L" => Ok(98),
                "P" => Ok(99),
                _ if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                    .parse::<u16>()
                    .ok()
                    .and_then(|v| u8::try_from(v).ok())
                    .ok_or_else(|| err("group value above 255")),
                _ => Err(err("group is not a number 0-255")),
            }
        };
        let c = group(parts[0])?;
        let d = group(parts[1])?;
        let e = if parts.len() >= 3 {
            group(parts[2])?
        } else {
            0
        };
        let mut fv = match f {
            Some(f) => group(f)?,
            None => 255,
        };
        if parts.len() == 4 {
            if f.is_some() {
                return Err(err("group F given twice"));
            }
            fv = group(parts[3])?;
        }
        let (a, b) = match ab {
            Some(ab) => match ab.split_once('-') {
                Some((a, b)) => (group(a)?, group(b)?),
                None => return Err(err("expected A-B before the colon")),
            },
            None => {
                let a = if c == 0 || c >= 96 { 0 } else { 1 };
                (a, 0)
            }
        };
        Ok(ObisCode::new(a, b, c, d, e, fv))
    }
}

impl fmt::Display for ObisCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}:{}.{}.{}*{}",
            self.a, self.b, self.c, self.d, self.e, self.f
        )
    }
}

impl FromStr for ObisCode {
    type Err = ObisParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObisCode::parse(s)
    }
}

impl Serialize for ObisCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ObisCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ObisCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_and_reduced_forms() {
        let full = ObisCode::parse("1-0:1.8.0*255").unwrap();
        assert_eq!(full, ObisCode::elec(1, 8, 0));
        assert_eq!(ObisCode::parse("1.8.0").unwrap(), full);
        assert_eq!(full.reduced(), "1.8.0");
        assert_eq!(full.to_string(), "1-0:1.8.0*255");
        let billing = ObisCode::parse("1.8.1*03").unwrap();
        assert_eq!(billing, ObisCode::new(1, 0, 1, 8, 1, 3));
        assert_eq!(billing.reduced(), "1.8.1*3");
        assert_eq!(
            ObisCode::parse("0-0:96.1.1").unwrap(),
            ObisCode::abstract_(96, 1, 1)
        );
        assert_eq!(
            ObisCode::parse("C.1.0").unwrap(),
            ObisCode::abstract_(96, 1, 0)
        );
        assert_eq!(
            ObisCode::parse("F.F").unwrap(),
            ObisCode::abstract_(97, 97, 0)
        );
        assert_eq!(
            ObisCode::parse("0.9.1").unwrap(),
            ObisCode::abstract_(0, 9, 1)
        );
        assert_eq!(
            ObisCode::parse("1.0.99.1.0.255").unwrap_err().reason,
            "expected C.D, C.D.E or C.D.E.F after the medium"
        );
        assert_eq!(
            ObisCode::parse("1-0:99.1.0.255").unwrap(),
            ObisCode::elec(99, 1, 0)
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "1",
            "1.x.0",
            "1-0:1.8.300",
            "1:1.8.0",
            "1.8.0*2*3",
            "1..0",
        ] {
            assert!(ObisCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn serde_is_the_full_string() {
        let o = ObisCode::elec(2, 8, 0);
        let j = serde_json::to_string(&o).unwrap();
        assert_eq!(j, "\"1-0:2.8.0*255\"");
        assert_eq!(serde_json::from_str::<ObisCode>(&j).unwrap(), o);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(b in any::<[u8; 6]>()) {
            let o = ObisCode::from_bytes(b);
            prop_assert_eq!(ObisCode::parse(&o.to_string()).unwrap(), o);
        }

        #[test]
        fn parse_never_panics(s in ".{0,24}") {
            let _ = ObisCode::parse(&s);
        }
    }
}
