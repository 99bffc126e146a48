//! [`AttributeValue`]: how one attribute type (or an element of one) decodes from and encodes
//! to A-XDR, with the implementations for the simple types and the types that already exist in
//! the crate.

use std::fmt;

use metermaster_model::ObisCode;

use crate::apdu::{ApplicationContext, CaptureObjectDefinition, Conformance, MechanismName};
use crate::axdr::{BitString, ClockStatus, CosemDate, CosemDateTime, CosemTime, Data};
use crate::error::{Number, ValueError};
use crate::obis::ScalerUnit;

/// A type an attribute (or an element of an attribute) decodes into.
pub trait AttributeValue: Sized {
    /// The value from A-XDR; a value without the documented shape is a typed error.
    fn from_data(d: &Data) -> Result<Self, ValueError>;
    /// The value as A-XDR, in the documented form.
    fn to_data(&self) -> Data;
}

/// An octet-string value (names, passwords, device names). Displayed as text when it is
/// printable ASCII, else in hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct OctetString(pub Vec<u8>);

impl OctetString {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text when they are valid UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl std::ops::Deref for OctetString {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for OctetString {
    fn from(s: &str) -> Self {
        OctetString(s.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for OctetString {
    fn from(b: Vec<u8>) -> Self {
        OctetString(b)
    }
}

impl From<&[u8]> for OctetString {
    fn from(b: &[u8]) -> Self {
        OctetString(b.to_vec())
    }
}

impl fmt::Display for OctetString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() && self.0.iter().all(|c| (0x20..0x7F).contains(c)) {
            f.write_str(&String::from_utf8_lossy(&self.0))
        } else {
            for b in &self.0 {
                write!(f, "{b:02X}")?;
            }
            Ok(())
        }
    }
}

pub(crate) fn wrong_type(what: &'static str, expected: &'static str, found: &Data) -> ValueError {
    ValueError::WrongType {
        what,
        expected,
        found: found.type_name(),
    }
}

/// A structure's fields, exactly `N` of them (destructure with `let [a, b] = fields::<2>(..)?`).
pub(crate) fn fields<'a, const N: usize>(
    d: &'a Data,
    what: &'static str,
) -> Result<&'a [Data; N], ValueError> {
    let f = d.structure_of(what, N)?;
    <&[Data; N]>::try_from(f).map_err(|_| ValueError::WrongLength {
        what,
        expected: N,
        found: f.len(),
    })
}

/// An integer of any A-XDR width, which must fit `T`.
pub(crate) fn integer<T: TryFrom<i128>>(
    d: &Data,
    what: &'static str,
    expected: &'static str,
) -> Result<T, ValueError> {
    let v = d
        .as_integer()
        .ok_or_else(|| wrong_type(what, expected, d))?;
    T::try_from(v).map_err(|_| ValueError::OutOfRange {
        what,
        value: Number(v),
    })
}

/// An enum value (sent as enum, or as unsigned by some meters).
pub(crate) fn enum_value(d: &Data, what: &'static str) -> Result<u8, ValueError> {
    match d {
        Data::Enum(v) | Data::Unsigned(v) => Ok(*v),
        other => Err(wrong_type(what, "enum", other)),
    }
}

macro_rules! integer_value {
    ($($t:ty => $variant:ident, $name:literal);* $(;)?) => {
        $(impl AttributeValue for $t {
            fn from_data(d: &Data) -> Result<Self, ValueError> {
                integer(d, $name, $name)
            }
            fn to_data(&self) -> Data {
                Data::$variant(*self)
            }
        })*
    };
}

integer_value! {
    i8 => Integer, "integer";
    i16 => Long, "long";
    i32 => DoubleLong, "double-long";
    i64 => Long64, "long64";
    u8 => Unsigned, "unsigned";
    u16 => LongUnsigned, "long-unsigned";
    u32 => DoubleLongUnsigned, "double-long-unsigned";
    u64 => Long64Unsigned, "long64-unsigned";
}

impl AttributeValue for bool {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        d.as_bool()
            .ok_or_else(|| wrong_type("boolean", "boolean", d))
    }
    fn to_data(&self) -> Data {
        Data::Boolean(*self)
    }
}

/// Any value, as sent (the value attributes of Data and registers, script parameters).
impl AttributeValue for Data {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        Ok(d.clone())
    }
    fn to_data(&self) -> Data {
        self.clone()
    }
}

impl AttributeValue for OctetString {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        d.as_octet_string()
            .map(|b| OctetString(b.to_vec()))
            .ok_or_else(|| wrong_type("octet-string", "octet-string", d))
    }
    fn to_data(&self) -> Data {
        Data::OctetString(self.0.clone())
    }
}

/// A logical name: octet-string of 6.
impl AttributeValue for ObisCode {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        d.to_obis()
    }
    fn to_data(&self) -> Data {
        Data::logical_name(*self)
    }
}

/// Date-time attributes: octet-string of 12 (tag 25 accepted).
impl AttributeValue for CosemDateTime {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        d.to_date_time()
    }
    fn to_data(&self) -> Data {
        Data::date_time_octets(*self)
    }
}

/// Date attributes: octet-string of 5 (tag 26 accepted).
impl AttributeValue for CosemDate {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        d.to_date()
    }
    fn to_data(&self) -> Data {
        Data::OctetString(self.to_bytes().to_vec())
    }
}

/// Time attributes: octet-string of 4 (tag 27 accepted).
impl AttributeValue for CosemTime {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        d.to_time()
    }
    fn to_data(&self) -> Data {
        Data::OctetString(self.to_bytes().to_vec())
    }
}

/// The clock status byte: unsigned.
impl AttributeValue for ClockStatus {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        integer(d, "clock status", "unsigned").map(ClockStatus)
    }
    fn to_data(&self) -> Data {
        Data::Unsigned(self.0)
    }
}

impl AttributeValue for ScalerUnit {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        ScalerUnit::from_data(d)
    }
    fn to_data(&self) -> Data {
        ScalerUnit::to_data(*self)
    }
}

impl AttributeValue for CaptureObjectDefinition {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        CaptureObjectDefinition::from_data(d)
    }
    fn to_data(&self) -> Data {
        CaptureObjectDefinition::to_data(self)
    }
}

/// The conformance block as data: bit-string of 24.
impl AttributeValue for Conformance {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        match d {
            Data::BitString(b) if b.len() == 24 => match b.bytes() {
                [x, y, z] => Ok(Conformance::from_bytes([*x, *y, *z])),
                other => Err(ValueError::WrongLength {
                    what: "conformance bytes",
                    expected: 3,
                    found: other.len(),
                }),
            },
            Data::BitString(b) => Err(ValueError::WrongLength {
                what: "conformance bits",
                expected: 24,
                found: b.len(),
            }),
            other => Err(wrong_type("conformance", "bit-string", other)),
        }
    }
    fn to_data(&self) -> Data {
        match BitString::new(self.to_bytes().to_vec(), 24) {
            Ok(b) => Data::BitString(b),
            // Three bytes always hold 24 bits.
            Err(_) => Data::BitString(BitString::default()),
        }
    }
}

/// The DLMS UA prefix of context and mechanism names: 2.16.756.5.8.
const DLMS_UA_ARCS: [u16; 5] = [2, 16, 756, 5, 8];
/// The same prefix BER encoded.
const DLMS_UA_BER: [u8; 5] = [0x60, 0x85, 0x74, 0x05, 0x08];

/// The last arc of a name 2.16.756.5.8.`kind`.N: a structure of seven arcs (Association LN v0
/// and later), or the BER object identifier as an octet-string (some meters).
fn dlms_name(d: &Data, what: &'static str, kind: u8) -> Result<u8, ValueError> {
    match d {
        Data::Structure(f) => {
            if f.len() != 7 {
                return Err(ValueError::WrongLength {
                    what,
                    expected: 7,
                    found: f.len(),
                });
            }
            let mut arcs = [0u16; 7];
            for (slot, v) in arcs.iter_mut().zip(f) {
                *slot = integer(v, what, "unsigned arc")?;
            }
            let [a, b, c, d, e, k, n] = arcs;
            match ([a, b, c, d, e] == DLMS_UA_ARCS, k, u8::try_from(n)) {
                (true, k, Ok(n)) if k == u16::from(kind) => Ok(n),
                _ => Err(ValueError::Invalid {
                    what,
                    problem: "not a DLMS UA name (2.16.756.5.8...)",
                }),
            }
        }
        Data::OctetString(b) => match b.as_slice() {
            [a, b2, c, d2, e, k, n] if [*a, *b2, *c, *d2, *e] == DLMS_UA_BER && *k == kind => {
                Ok(*n)
            }
            _ => Err(ValueError::Invalid {
                what,
                problem: "octet-string is not a BER DLMS UA name",
            }),
        },
        other => Err(wrong_type(what, "structure of seven arcs", other)),
    }
}

fn dlms_name_data(kind: u8, n: u8) -> Data {
    Data::Structure(vec![
        Data::Unsigned(2),
        Data::Unsigned(16),
        Data::LongUnsigned(756),
        Data::Unsigned(5),
        Data::Unsigned(8),
        Data::Unsigned(kind),
        Data::Unsigned(n),
    ])
}

/// application_context_name: 2.16.756.5.8.1.N.
impl AttributeValue for ApplicationContext {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        dlms_name(d, "application_context_name", 1).map(ApplicationContext)
    }
    fn to_data(&self) -> Data {
        dlms_name_data(1, self.0)
    }
}

/// authentication_mechanism_name: 2.16.756.5.8.2.M.
impl AttributeValue for MechanismName {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        dlms_name(d, "authentication_mechanism_name", 2).map(MechanismName)
    }
    fn to_data(&self) -> Data {
        dlms_name_data(2, self.0)
    }
}

/// Arrays (compact arrays accepted); a failing element is named by its index.
impl<T: AttributeValue> AttributeValue for Vec<T> {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let items = match d {
            Data::Array(v) => v.as_slice(),
            Data::CompactArray(c) => c.elements(),
            other => return Err(wrong_type("array", "array", other)),
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                T::from_data(item).map_err(|e| ValueError::Element {
                    index,
                    source: Box::new(e),
                })
            })
            .collect()
    }
    fn to_data(&self) -> Data {
        Data::Array(self.iter().map(AttributeValue::to_data).collect())
    }
}
