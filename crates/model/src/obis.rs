//! OBIS codes (IEC 62056-61): the six-group names `A-B:C.D.E*F` that identify every quantity a
//! meter holds, in their full form, the six dotted groups of DLMS tools (`1.0.1.8.0.255`) and
//! the reduced forms that data readouts use (`1.8.0`, `1.8.1*03`, `C.1.0`, `F.F`); see
//! [`ObisCode::parse`]. Well-known codes and their names are in [`crate::well_known`].

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

    /// Parses every text form in which OBIS codes are written; all of these are 1-0:1.8.0*255:
    ///
    /// * with the medium and channel before a colon: `1-0:1.8.0*255`, `1-0:1.8.0&255`,
    ///   `1-0:1.8.0.255` (F as a fourth group), `1-0:1.8.0` (F = 255);
    /// * dotted groups only, as DLMS tools write logical names: `1.0.1.8.0.255` (A.B.C.D.E.F),
    ///   `1.0.1.8.0` (A.B.C.D.E), `1.1.8.0` (A.C.D.E: the medium, then C.D.E; B = 0);
    /// * the reduced forms of data readouts: `1.8.0` (C.D.E), `1.8` (C.D, E = 0), with A
    ///   taking its default (0 for an abstract code, C = 0 or C ≥ 96, else 1) and B = 0.
    ///
    /// A form that does not give F as a dotted group may end in `*F` or `&F` (`1.8.1*03` is
    /// 1-0:1.8.1*3); without either F is 255. Surrounding whitespace is ignored. Letters
    /// stand for the reserved values 96 to 99 as the standard allows (`C` = 96, `F` = 97, `L` =
    /// 98, `P` = 99): `C.1.0`, `F.F`. [`Display`](fmt::Display) prints the one canonical form
    /// `A-B:C.D.E*F`.
    ///
    /// Four dotted groups are A.C.D.E, not C.D.E.F: write a billing-period value as
    /// `1.8.1*03`, not `1.8.1.03`. Four groups ending in 255 (`1.8.0.255`, the old C.D.E.F
    /// spelling) are refused with that hint rather than read as another code.
    pub fn parse(text: &str) -> Result<Self, ObisParseError> {
        let err = |reason| ObisParseError {
            text: text.to_string(),
            reason,
        };
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
        let s = text.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        let (ab, rest) = match s.split_once(':') {
            Some((ab, rest)) => (Some(ab), rest),
            None => (None, s),
        };
        let (dotted, f) = match rest.split_once(['*', '&']) {
            Some((dotted, f)) => (dotted, Some(group(f)?)),
            None => (rest, None),
        };
        let parts = dotted
            .split('.')
            .map(group)
            .collect::<Result<Vec<u8>, _>>()?;
        // A, B, C, D, E, F; `None` where the group takes its default.
        let (a, b, c, d, e, f) = match (ab, parts.as_slice()) {
            (Some(ab), cdef) => {
                let Some((a, b)) = ab.split_once('-') else {
                    return Err(err("expected A-B before the colon"));
                };
                let (a, b) = (Some(group(a)?), Some(group(b)?));
                match *cdef {
                    [c, d] => (a, b, c, d, None, f),
                    [c, d, e] => (a, b, c, d, Some(e), f),
                    [c, d, e, g] if f.is_none() => (a, b, c, d, Some(e), Some(g)),
                    [_, _, _, _] => return Err(err("group F given twice")),
                    _ => return Err(err("expected C.D, C.D.E or C.D.E.F after the colon")),
                }
            }
            (None, &[c, d]) => (None, None, c, d, None, f),
            (None, &[c, d, e]) => (None, None, c, d, Some(e), f),
            // A C.D.E.F written the old way (`1.8.0.255`) would silently become another code:
            // refused, with the forms that say it.
            (None, &[_, _, _, 255]) if f.is_none() => {
                return Err(err(
                    "four dotted groups are A.C.D.E; for C.D.E.F write C.D.E*F (1.8.0*255) or A-B:C.D.E.F",
                ));
            }
            (None, &[a, c, d, e]) => (Some(a), None, c, d, Some(e), f),
            (None, &[a, b, c, d, e]) => (Some(a), Some(b), c, d, Some(e), f),
            (None, &[a, b, c, d, e, g]) if f.is_none() => {
                (Some(a), Some(b), c, d, Some(e), Some(g))
            }
            (None, &[_, _, _, _, _, _]) => return Err(err("group F given twice")),
            (None, _) => {
                return Err(err(
                    "expected C.D, C.D.E, A.C.D.E, A.B.C.D.E or A.B.C.D.E.F (or A-B:C.D.E*F)",
                ));
            }
        };
        let a = a.unwrap_or(if c == 0 || c >= 96 { 0 } else { 1 });
        Ok(ObisCode::new(
            a,
            b.unwrap_or(0),
            c,
            d,
            e.unwrap_or(0),
            f.unwrap_or(255),
        ))
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

    fn p(text: &str) -> ObisCode {
        ObisCode::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn every_form_of_active_import() {
        let want = ObisCode::elec(1, 8, 0);
        for text in [
            "1-0:1.8.0*255",
            "1-0:1.8.0&255",
            "1-0:1.8.0.255",
            "1-0:1.8.0",
            "1.0.1.8.0.255",
            "1.0.1.8.0",
            "1.0.1.8.0*255",
            "1.1.8.0",
            "1.8.0",
            "1.8",
            "1.8.0*255",
            "  1-0:1.8.0*255\t",
            " 1.0.1.8.0.255 ",
            "001.000.001.008.000.255",
        ] {
            assert_eq!(p(text), want, "{text:?}");
        }
        assert_eq!(want.to_string(), "1-0:1.8.0*255");
    }

    #[test]
    fn full_and_reduced_forms() {
        let full = p("1-0:1.8.0*255");
        assert_eq!(full.reduced(), "1.8.0");
        let billing = p("1.8.1*03");
        assert_eq!(billing, ObisCode::new(1, 0, 1, 8, 1, 3));
        assert_eq!(billing.reduced(), "1.8.1*3");
        assert_eq!(p("1.8.1&03"), billing);
        assert_eq!(p("1-0:1.8.1.3"), billing);
        assert_eq!(p("0-0:96.1.1"), ObisCode::abstract_(96, 1, 1));
        assert_eq!(p("C.1.0"), ObisCode::abstract_(96, 1, 0));
        assert_eq!(p("F.F"), ObisCode::abstract_(97, 97, 0));
        assert_eq!(p("0.9.1"), ObisCode::abstract_(0, 9, 1));
        assert_eq!(p("99.1.0"), ObisCode::abstract_(99, 1, 0));
        assert_eq!(p("1-0:99.1.0.255"), ObisCode::elec(99, 1, 0));
        assert_eq!(p("1.0.99.1.0.255"), ObisCode::elec(99, 1, 0));
        assert_eq!(p("0.0.96.2.0.255"), ObisCode::abstract_(96, 2, 0));
        assert_eq!(p("0.0.99.98.10.255"), ObisCode::abstract_(99, 98, 10));
        assert_eq!(p("1.1.1.29.0.255"), ObisCode::new(1, 1, 1, 29, 0, 255));
        assert_eq!(p("1.1.1.8.0.3"), ObisCode::new(1, 1, 1, 8, 0, 3));
        assert_eq!(p("1.1.1.8.0*3"), ObisCode::new(1, 1, 1, 8, 0, 3));
        assert_eq!(p("1.P.1.0"), ObisCode::new(1, 0, 99, 1, 0, 255));
    }

    #[test]
    fn four_dotted_groups_are_medium_then_cde() {
        // A.C.D.E, B = 0, F = 255: the medium is given, so no default applies to it.
        assert_eq!(p("1.1.8.0"), ObisCode::elec(1, 8, 0));
        assert_eq!(p("0.1.8.0"), ObisCode::new(0, 0, 1, 8, 0, 255));
        assert_eq!(p("1.96.1.0"), ObisCode::new(1, 0, 96, 1, 0, 255));
        assert_eq!(p("0.96.1.0"), ObisCode::abstract_(96, 1, 0));
        // Not C.D.E.F any more: this is 1-0:8.1.3*255, not 1-0:1.8.1*3.
        assert_eq!(p("1.8.1.03"), ObisCode::new(1, 0, 8, 1, 3, 255));
        assert_eq!(p("1.1.8.1*03"), ObisCode::new(1, 0, 1, 8, 1, 3));
        // The old C.D.E.F with F = 255 is refused rather than read as another code.
        let e = ObisCode::parse("1.8.0.255").unwrap_err();
        assert!(e.reason.contains("for C.D.E.F write C.D.E*F"), "{e}");
        assert_eq!(p("1.8.0*255"), ObisCode::elec(1, 8, 0));
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        for (bad, reason) in [
            ("", "empty"),
            ("   ", "empty"),
            (
                "1",
                "expected C.D, C.D.E, A.C.D.E, A.B.C.D.E or A.B.C.D.E.F (or A-B:C.D.E*F)",
            ),
            (
                "1.0.1.8.0.255.7",
                "expected C.D, C.D.E, A.C.D.E, A.B.C.D.E or A.B.C.D.E.F (or A-B:C.D.E*F)",
            ),
            ("1-0:1", "expected C.D, C.D.E or C.D.E.F after the colon"),
            (
                "1-0:1.8.0.255.1",
                "expected C.D, C.D.E or C.D.E.F after the colon",
            ),
            ("1-0:1.8.0.255*255", "group F given twice"),
            ("1.0.1.8.0.255*255", "group F given twice"),
            ("1.0.1.8.0.256", "group value above 255"),
            ("1-0:1.8.300", "group value above 255"),
            ("999.8.0", "group value above 255"),
            ("1.x.0", "group is not a number 0-255"),
            ("1..0", "group is not a number 0-255"),
            ("1.8.0*", "group is not a number 0-255"),
            ("1.8.0*2*3", "group is not a number 0-255"),
            ("1.8.0*-1", "group is not a number 0-255"),
            ("1.8.0.", "group is not a number 0-255"),
            ("1.8.+1", "group is not a number 0-255"),
            ("1.8.0001", "group is not a number 0-255"),
            ("1-0-1:1.8.0", "group is not a number 0-255"),
            ("1:1.8.0", "expected A-B before the colon"),
            ("active import", "group is not a number 0-255"),
            ("1,8,0", "group is not a number 0-255"),
        ] {
            let e = ObisCode::parse(bad).expect_err(bad);
            assert_eq!(e.reason, reason, "{bad:?}");
            assert_eq!(e.text, bad);
        }
        assert_eq!(
            ObisCode::parse("1.8.x").unwrap_err().to_string(),
            "invalid OBIS code \"1.8.x\": group is not a number 0-255"
        );
    }

    #[test]
    fn serde_is_the_full_string() {
        let o = ObisCode::elec(2, 8, 0);
        let j = serde_json::to_string(&o).unwrap();
        assert_eq!(j, "\"1-0:2.8.0*255\"");
        assert_eq!(serde_json::from_str::<ObisCode>(&j).unwrap(), o);
        assert_eq!(
            serde_json::from_str::<ObisCode>("\"1.0.2.8.0.255\"").unwrap(),
            o
        );
    }

    /// Every text form that stands for `o`.
    fn forms(o: ObisCode) -> Vec<String> {
        let ObisCode { a, b, c, d, e, f } = o;
        let mut v = vec![
            format!("{a}-{b}:{c}.{d}.{e}*{f}"),
            format!("{a}-{b}:{c}.{d}.{e}&{f}"),
            format!("{a}-{b}:{c}.{d}.{e}.{f}"),
            format!("{a}.{b}.{c}.{d}.{e}.{f}"),
            format!("{a}.{b}.{c}.{d}.{e}*{f}"),
            format!(" {a}-{b}:{c}.{d}.{e}*{f}\n"),
        ];
        if f == 255 {
            v.push(format!("{a}-{b}:{c}.{d}.{e}"));
            v.push(format!("{a}.{b}.{c}.{d}.{e}"));
        }
        if b == 0 {
            v.push(format!("{a}.{c}.{d}.{e}*{f}"));
            if f == 255 && e != 255 {
                v.push(format!("{a}.{c}.{d}.{e}"));
            }
        }
        let default_a = if c == 0 || c >= 96 { 0 } else { 1 };
        if a == default_a && b == 0 {
            v.push(format!("{c}.{d}.{e}*{f}"));
            v.push(format!("{c}.{d}.{e}&{f}"));
            if f == 255 {
                v.push(format!("{c}.{d}.{e}"));
                if e == 0 {
                    v.push(format!("{c}.{d}"));
                }
            }
        }
        v
    }

    proptest! {
        #[test]
        fn every_form_parses_to_the_same_code(b in any::<[u8; 6]>(), defaults in 0u8..8) {
            // Give the defaults often enough that the reduced forms are exercised.
            let mut b = b;
            if defaults & 1 != 0 {
                b[1] = 0;
            }
            if defaults & 2 != 0 {
                b[5] = 255;
            }
            if defaults & 4 != 0 {
                b[0] = if b[2] == 0 || b[2] >= 96 { 0 } else { 1 };
            }
            let o = ObisCode::from_bytes(b);
            prop_assert_eq!(ObisCode::parse(&o.to_string()), Ok(o));
            for text in forms(o) {
                prop_assert_eq!(ObisCode::parse(&text), Ok(o), "{:?}", text);
            }
        }

        #[test]
        fn parse_never_panics(s in ".{0,24}") {
            let _ = ObisCode::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_obis_like_text(s in "[0-9CFLP.:*&-]{0,24}") {
            if let Ok(o) = ObisCode::parse(&s) {
                prop_assert_eq!(ObisCode::parse(&o.to_string()), Ok(o));
            }
        }
    }
}
