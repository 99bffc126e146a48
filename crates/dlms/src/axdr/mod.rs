//! A-XDR data (guide §4): the [`Data`] value that every COSEM attribute, method parameter and
//! return value is carried in, with its encoder and a decoder that refuses hostile input
//! (nesting beyond a depth limit, counts larger than the bytes that follow) with a typed error.

mod compact;
mod datetime;

use std::fmt;

use metermaster_model::ObisCode;

pub use compact::{CompactArray, TypeDescription};
pub use datetime::{
    ClockStatus, CosemDate, CosemDateTime, CosemTime, DAY_LAST, DAY_SECOND_LAST,
    DEVIATION_NOT_SPECIFIED, MAX_DEVIATION, MONTH_DST_BEGIN, MONTH_DST_END, NOT_SPECIFIED,
    YEAR_NOT_SPECIFIED,
};

use crate::error::{DecodeError, DecodeErrorKind, ValueError};
use crate::reader::{Reader, Result, write_axdr_length};

/// How many levels of arrays and structures a decoder accepts by default. Real COSEM data needs
/// about six (an Association LN object list); 32 leaves room and keeps the recursion shallow.
pub const DEFAULT_MAX_DEPTH: usize = 32;

/// Appends an A-XDR length or count (guide §4.2) in its shortest form.
pub fn encode_length(out: &mut Vec<u8>, len: usize) {
    write_axdr_length(out, len);
}

/// Reads an A-XDR length or count from the start of `bytes`: the value and how many bytes it took.
pub fn decode_length(bytes: &[u8]) -> std::result::Result<(usize, usize), DecodeError> {
    let mut r = Reader::new(bytes, "A-XDR length");
    let n = r.axdr_length()?;
    Ok((n, r.offset()))
}

/// The A-XDR type tags (guide §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DataType {
    Null = 0,
    Array = 1,
    Structure = 2,
    Boolean = 3,
    BitString = 4,
    DoubleLong = 5,
    DoubleLongUnsigned = 6,
    OctetString = 9,
    VisibleString = 10,
    Utf8String = 12,
    Bcd = 13,
    Integer = 15,
    Long = 16,
    Unsigned = 17,
    LongUnsigned = 18,
    CompactArray = 19,
    Long64 = 20,
    Long64Unsigned = 21,
    Enum = 22,
    Float32 = 23,
    Float64 = 24,
    DateTime = 25,
    Date = 26,
    Time = 27,
    DontCare = 255,
}

impl DataType {
    pub const ALL: [DataType; 25] = [
        DataType::Null,
        DataType::Array,
        DataType::Structure,
        DataType::Boolean,
        DataType::BitString,
        DataType::DoubleLong,
        DataType::DoubleLongUnsigned,
        DataType::OctetString,
        DataType::VisibleString,
        DataType::Utf8String,
        DataType::Bcd,
        DataType::Integer,
        DataType::Long,
        DataType::Unsigned,
        DataType::LongUnsigned,
        DataType::CompactArray,
        DataType::Long64,
        DataType::Long64Unsigned,
        DataType::Enum,
        DataType::Float32,
        DataType::Float64,
        DataType::DateTime,
        DataType::Date,
        DataType::Time,
        DataType::DontCare,
    ];

    pub fn from_tag(tag: u8) -> Option<DataType> {
        DataType::ALL.iter().copied().find(|t| *t as u8 == tag)
    }

    pub fn tag(self) -> u8 {
        self as u8
    }

    /// The name the standard gives the type.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Null => "null-data",
            DataType::Array => "array",
            DataType::Structure => "structure",
            DataType::Boolean => "boolean",
            DataType::BitString => "bit-string",
            DataType::DoubleLong => "double-long",
            DataType::DoubleLongUnsigned => "double-long-unsigned",
            DataType::OctetString => "octet-string",
            DataType::VisibleString => "visible-string",
            DataType::Utf8String => "utf8-string",
            DataType::Bcd => "bcd",
            DataType::Integer => "integer",
            DataType::Long => "long",
            DataType::Unsigned => "unsigned",
            DataType::LongUnsigned => "long-unsigned",
            DataType::CompactArray => "compact-array",
            DataType::Long64 => "long64",
            DataType::Long64Unsigned => "long64-unsigned",
            DataType::Enum => "enum",
            DataType::Float32 => "float32",
            DataType::Float64 => "float64",
            DataType::DateTime => "date-time",
            DataType::Date => "date",
            DataType::Time => "time",
            DataType::DontCare => "dont-care",
        }
    }

    /// The size of the value after the tag, for the types that have a fixed one.
    pub fn fixed_size(self) -> Option<usize> {
        Some(match self {
            DataType::Null | DataType::DontCare => 0,
            DataType::Boolean
            | DataType::Bcd
            | DataType::Integer
            | DataType::Unsigned
            | DataType::Enum => 1,
            DataType::Long | DataType::LongUnsigned => 2,
            DataType::DoubleLong | DataType::DoubleLongUnsigned | DataType::Float32 => 4,
            DataType::Long64 | DataType::Long64Unsigned | DataType::Float64 => 8,
            DataType::DateTime => 12,
            DataType::Date => 5,
            DataType::Time => 4,
            _ => return None,
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A bit string: a number of bits and the bytes holding them, most significant bit first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BitString {
    bits: usize,
    bytes: Vec<u8>,
}

impl BitString {
    /// `bits` bits held in `bytes`, which must be exactly ⌈bits/8⌉ long. Padding bits are kept
    /// as given.
    pub fn new(bytes: Vec<u8>, bits: usize) -> std::result::Result<Self, ValueError> {
        if bytes.len() != bits.div_ceil(8) {
            return Err(ValueError::WrongLength {
                what: "bit-string bytes",
                expected: bits.div_ceil(8),
                found: bytes.len(),
            });
        }
        Ok(BitString { bits, bytes })
    }

    pub fn from_bools(bits: impl IntoIterator<Item = bool>) -> Self {
        let mut bytes = Vec::new();
        let mut n = 0;
        for b in bits {
            if n % 8 == 0 {
                bytes.push(0);
            }
            if let Some(last) = bytes.last_mut().filter(|_| b) {
                *last |= 0x80 >> (n % 8);
            }
            n += 1;
        }
        BitString { bits: n, bytes }
    }

    pub fn len(&self) -> usize {
        self.bits
    }

    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bit `i`, counting from the most significant bit of the first byte.
    pub fn get(&self, i: usize) -> Option<bool> {
        if i >= self.bits {
            return None;
        }
        self.bytes.get(i / 8).map(|b| b & (0x80 >> (i % 8)) != 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.bits).map(|i| self.get(i).unwrap_or(false))
    }
}

/// An A-XDR value with its type. Strings are kept as bytes: a meter that sends a malformed
/// visible or UTF-8 string should cost one value, not the whole reply (see [`Data::as_str`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Null,
    Array(Vec<Data>),
    Structure(Vec<Data>),
    Boolean(bool),
    BitString(BitString),
    DoubleLong(i32),
    DoubleLongUnsigned(u32),
    OctetString(Vec<u8>),
    VisibleString(Vec<u8>),
    Utf8String(Vec<u8>),
    Bcd(u8),
    Integer(i8),
    Long(i16),
    Unsigned(u8),
    LongUnsigned(u16),
    CompactArray(CompactArray),
    Long64(i64),
    Long64Unsigned(u64),
    Enum(u8),
    Float32(f32),
    Float64(f64),
    DateTime(CosemDateTime),
    Date(CosemDate),
    Time(CosemTime),
    DontCare,
}

impl Data {
    pub fn data_type(&self) -> DataType {
        match self {
            Data::Null => DataType::Null,
            Data::Array(_) => DataType::Array,
            Data::Structure(_) => DataType::Structure,
            Data::Boolean(_) => DataType::Boolean,
            Data::BitString(_) => DataType::BitString,
            Data::DoubleLong(_) => DataType::DoubleLong,
            Data::DoubleLongUnsigned(_) => DataType::DoubleLongUnsigned,
            Data::OctetString(_) => DataType::OctetString,
            Data::VisibleString(_) => DataType::VisibleString,
            Data::Utf8String(_) => DataType::Utf8String,
            Data::Bcd(_) => DataType::Bcd,
            Data::Integer(_) => DataType::Integer,
            Data::Long(_) => DataType::Long,
            Data::Unsigned(_) => DataType::Unsigned,
            Data::LongUnsigned(_) => DataType::LongUnsigned,
            Data::CompactArray(_) => DataType::CompactArray,
            Data::Long64(_) => DataType::Long64,
            Data::Long64Unsigned(_) => DataType::Long64Unsigned,
            Data::Enum(_) => DataType::Enum,
            Data::Float32(_) => DataType::Float32,
            Data::Float64(_) => DataType::Float64,
            Data::DateTime(_) => DataType::DateTime,
            Data::Date(_) => DataType::Date,
            Data::Time(_) => DataType::Time,
            Data::DontCare => DataType::DontCare,
        }
    }

    pub fn type_name(&self) -> &'static str {
        self.data_type().name()
    }

    // ----- construction helpers -----

    pub fn octet_string(bytes: impl Into<Vec<u8>>) -> Data {
        Data::OctetString(bytes.into())
    }

    pub fn visible_string(text: &str) -> Data {
        Data::VisibleString(text.as_bytes().to_vec())
    }

    pub fn utf8_string(text: &str) -> Data {
        Data::Utf8String(text.as_bytes().to_vec())
    }

    /// A logical name as COSEM attributes carry it: octet-string of 6.
    pub fn logical_name(obis: ObisCode) -> Data {
        Data::OctetString(obis.to_bytes().to_vec())
    }

    /// A date-time as octet-string of 12, the form date-time-typed attributes use (guide §4.1).
    pub fn date_time_octets(dt: CosemDateTime) -> Data {
        Data::OctetString(dt.to_bytes().to_vec())
    }

    // ----- reading values -----

    /// Any integer type (not enum, not bcd) as a wide integer.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            Data::Integer(v) => i128::from(v),
            Data::Long(v) => i128::from(v),
            Data::DoubleLong(v) => i128::from(v),
            Data::Long64(v) => i128::from(v),
            Data::Unsigned(v) => i128::from(v),
            Data::LongUnsigned(v) => i128::from(v),
            Data::DoubleLongUnsigned(v) => i128::from(v),
            Data::Long64Unsigned(v) => i128::from(v),
            _ => return None,
        })
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_integer().and_then(|v| i64::try_from(v).ok())
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_integer().and_then(|v| u64::try_from(v).ok())
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Data::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_enum(&self) -> Option<u8> {
        match self {
            Data::Enum(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_octet_string(&self) -> Option<&[u8]> {
        match self {
            Data::OctetString(b) => Some(b),
            _ => None,
        }
    }

    /// A visible or UTF-8 string as text, when its bytes are valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Data::VisibleString(b) | Data::Utf8String(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The elements of an array, a structure or a compact array.
    pub fn as_elements(&self) -> Option<&[Data]> {
        match self {
            Data::Array(v) | Data::Structure(v) => Some(v),
            Data::CompactArray(c) => Some(c.elements()),
            _ => None,
        }
    }

    /// A structure's fields, which must be exactly `n`.
    pub fn structure_of(
        &self,
        what: &'static str,
        n: usize,
    ) -> std::result::Result<&[Data], ValueError> {
        match self {
            Data::Structure(v) if v.len() == n => Ok(v),
            Data::Structure(v) => Err(ValueError::WrongLength {
                what,
                expected: n,
                found: v.len(),
            }),
            other => Err(ValueError::WrongType {
                what,
                expected: "structure",
                found: other.type_name(),
            }),
        }
    }

    /// A logical name from an octet-string of 6.
    pub fn to_obis(&self) -> std::result::Result<ObisCode, ValueError> {
        match self {
            Data::OctetString(b) => <[u8; 6]>::try_from(b.as_slice())
                .map(ObisCode::from_bytes)
                .map_err(|_| ValueError::WrongLength {
                    what: "logical name",
                    expected: 6,
                    found: b.len(),
                }),
            other => Err(ValueError::WrongType {
                what: "logical name",
                expected: "octet-string",
                found: other.type_name(),
            }),
        }
    }

    /// A date-time, sent either with tag 25 or (as most meters do) as an octet-string of 12.
    pub fn to_date_time(&self) -> std::result::Result<CosemDateTime, ValueError> {
        match self {
            Data::DateTime(d) => Ok(*d),
            Data::OctetString(b) => <[u8; 12]>::try_from(b.as_slice())
                .map(CosemDateTime::from_bytes)
                .map_err(|_| ValueError::WrongLength {
                    what: "date-time octet-string",
                    expected: 12,
                    found: b.len(),
                }),
            other => Err(ValueError::WrongType {
                what: "date-time",
                expected: "date-time or octet-string(12)",
                found: other.type_name(),
            }),
        }
    }

    /// A date, tag 26 or octet-string of 5.
    pub fn to_date(&self) -> std::result::Result<CosemDate, ValueError> {
        match self {
            Data::Date(d) => Ok(*d),
            Data::OctetString(b) => <[u8; 5]>::try_from(b.as_slice())
                .map(CosemDate::from_bytes)
                .map_err(|_| ValueError::WrongLength {
                    what: "date octet-string",
                    expected: 5,
                    found: b.len(),
                }),
            other => Err(ValueError::WrongType {
                what: "date",
                expected: "date or octet-string(5)",
                found: other.type_name(),
            }),
        }
    }

    /// A time, tag 27 or octet-string of 4.
    pub fn to_time(&self) -> std::result::Result<CosemTime, ValueError> {
        match self {
            Data::Time(d) => Ok(*d),
            Data::OctetString(b) => <[u8; 4]>::try_from(b.as_slice())
                .map(CosemTime::from_bytes)
                .map_err(|_| ValueError::WrongLength {
                    what: "time octet-string",
                    expected: 4,
                    found: b.len(),
                }),
            other => Err(ValueError::WrongType {
                what: "time",
                expected: "time or octet-string(4)",
                found: other.type_name(),
            }),
        }
    }

    // ----- wire format -----

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.data_type().tag());
        match self {
            Data::Array(v) | Data::Structure(v) => {
                write_axdr_length(out, v.len());
                for d in v {
                    d.encode_into(out);
                }
            }
            Data::CompactArray(c) => c.write(out),
            other => other.write_body(out),
        }
    }

    /// The value without its tag, as compact arrays carry it. Containers write their elements
    /// untagged and without counts (the type description gives both).
    pub(crate) fn write_body(&self, out: &mut Vec<u8>) {
        match self {
            Data::Null | Data::DontCare => {}
            Data::Array(v) | Data::Structure(v) => {
                for d in v {
                    d.write_body(out);
                }
            }
            Data::Boolean(b) => out.push(u8::from(*b)),
            Data::BitString(b) => {
                write_axdr_length(out, b.len());
                out.extend_from_slice(b.bytes());
            }
            Data::DoubleLong(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DoubleLongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::OctetString(b) | Data::VisibleString(b) | Data::Utf8String(b) => {
                write_axdr_length(out, b.len());
                out.extend_from_slice(b);
            }
            Data::Bcd(v) | Data::Unsigned(v) | Data::Enum(v) => out.push(*v),
            Data::Integer(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::LongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::CompactArray(c) => c.write(out),
            Data::Long64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long64Unsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float32(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DateTime(d) => out.extend_from_slice(&d.to_bytes()),
            Data::Date(d) => out.extend_from_slice(&d.to_bytes()),
            Data::Time(d) => out.extend_from_slice(&d.to_bytes()),
        }
    }

    /// Decodes exactly one value that fills `bytes`.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Data, DecodeError> {
        Self::decode_with_limit(bytes, DEFAULT_MAX_DEPTH)
    }

    /// Decodes exactly one value with a chosen nesting limit.
    pub fn decode_with_limit(
        bytes: &[u8],
        max_depth: usize,
    ) -> std::result::Result<Data, DecodeError> {
        let mut r = Reader::new(bytes, "A-XDR data");
        let d = Data::read(&mut r, 0, max_depth)?;
        r.finish()?;
        Ok(d)
    }

    /// Decodes one value from the start of `bytes`; returns it and the number of bytes it took.
    pub fn decode_prefix(bytes: &[u8]) -> std::result::Result<(Data, usize), DecodeError> {
        let mut r = Reader::new(bytes, "A-XDR data");
        let d = Data::read(&mut r, 0, DEFAULT_MAX_DEPTH)?;
        Ok((d, r.offset()))
    }

    /// Reads a tagged value; `level` is the nesting level of this value (0 at the top).
    pub(crate) fn read(r: &mut Reader<'_>, level: usize, limit: usize) -> Result<Data> {
        let old = r.set_context("A-XDR data");
        let out = Data::read_tagged(r, level, limit);
        r.set_context(old);
        out
    }

    fn read_tagged(r: &mut Reader<'_>, level: usize, limit: usize) -> Result<Data> {
        let at = r.offset();
        let tag = r.u8()?;
        let ty = DataType::from_tag(tag)
            .ok_or_else(|| r.err_at(at, DecodeErrorKind::UnknownTag(tag)))?;
        match ty {
            DataType::Array | DataType::Structure => {
                if level >= limit {
                    return Err(r.err_at(at, DecodeErrorKind::TooDeep { limit }));
                }
                let n = r.axdr_length()?;
                // Every element takes at least its tag byte: never reserve more than that.
                let mut v = Vec::with_capacity(n.min(r.remaining()));
                for _ in 0..n {
                    v.push(Data::read_tagged(r, level + 1, limit)?);
                }
                Ok(if ty == DataType::Array {
                    Data::Array(v)
                } else {
                    Data::Structure(v)
                })
            }
            DataType::CompactArray => {
                if level >= limit {
                    return Err(r.err_at(at, DecodeErrorKind::TooDeep { limit }));
                }
                Ok(Data::CompactArray(CompactArray::read(r, level + 1, limit)?))
            }
            simple => Data::read_body(r, simple),
        }
    }

    /// Reads the value of a type that is neither a container nor a compact array.
    pub(crate) fn read_body(r: &mut Reader<'_>, ty: DataType) -> Result<Data> {
        Ok(match ty {
            DataType::Null => Data::Null,
            DataType::DontCare => Data::DontCare,
            DataType::Boolean => Data::Boolean(r.u8()? != 0),
            DataType::BitString => {
                let at = r.offset();
                let bits = r.axdr_length()?;
                let n = bits.div_ceil(8);
                if n > r.remaining() {
                    return Err(r.err_at(
                        at,
                        DecodeErrorKind::Truncated {
                            needed: n - r.remaining(),
                        },
                    ));
                }
                Data::BitString(BitString {
                    bits,
                    bytes: r.take(n)?.to_vec(),
                })
            }
            DataType::DoubleLong => Data::DoubleLong(r.u32()? as i32),
            DataType::DoubleLongUnsigned => Data::DoubleLongUnsigned(r.u32()?),
            DataType::OctetString | DataType::VisibleString | DataType::Utf8String => {
                let n = r.axdr_byte_length()?;
                let b = r.take(n)?.to_vec();
                match ty {
                    DataType::OctetString => Data::OctetString(b),
                    DataType::VisibleString => Data::VisibleString(b),
                    _ => Data::Utf8String(b),
                }
            }
            DataType::Bcd => Data::Bcd(r.u8()?),
            DataType::Integer => Data::Integer(r.u8()? as i8),
            DataType::Long => Data::Long(r.u16()? as i16),
            DataType::Unsigned => Data::Unsigned(r.u8()?),
            DataType::LongUnsigned => Data::LongUnsigned(r.u16()?),
            DataType::Long64 => Data::Long64(r.u64()? as i64),
            DataType::Long64Unsigned => Data::Long64Unsigned(r.u64()?),
            DataType::Enum => Data::Enum(r.u8()?),
            DataType::Float32 => Data::Float32(f32::from_be_bytes(r.array()?)),
            DataType::Float64 => Data::Float64(f64::from_be_bytes(r.array()?)),
            DataType::DateTime => Data::DateTime(CosemDateTime::from_bytes(r.array()?)),
            DataType::Date => Data::Date(CosemDate::from_bytes(r.array()?)),
            DataType::Time => Data::Time(CosemTime::from_bytes(r.array()?)),
            DataType::Array | DataType::Structure | DataType::CompactArray => {
                return Err(r.err(DecodeErrorKind::Invalid(
                    "container type where a simple type is required",
                )));
            }
        })
    }
}

fn write_bytes(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    for x in b {
        write!(f, "{x:02X}")?;
    }
    Ok(())
}

fn write_list(f: &mut fmt::Formatter<'_>, name: &str, v: &[Data]) -> fmt::Result {
    write!(f, "{name}[")?;
    for (i, d) in v.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{d}")?;
    }
    f.write_str("]")
}

impl fmt::Display for Data {
    /// A compact, readable form for logs: `structure[integer -1, enum 30]`,
    /// `octet-string 0000010000FF`, `visible-string "ABC"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Null => f.write_str("null-data"),
            Data::DontCare => f.write_str("dont-care"),
            Data::Array(v) => write_list(f, "array", v),
            Data::Structure(v) => write_list(f, "structure", v),
            Data::CompactArray(c) => write_list(f, "compact-array", c.elements()),
            Data::Boolean(b) => write!(f, "boolean {b}"),
            Data::BitString(b) => {
                f.write_str("bit-string ")?;
                for bit in b.iter() {
                    f.write_str(if bit { "1" } else { "0" })?;
                }
                Ok(())
            }
            Data::OctetString(b) => {
                f.write_str("octet-string ")?;
                write_bytes(f, b)
            }
            Data::VisibleString(b) | Data::Utf8String(b) => {
                write!(f, "{} {:?}", self.type_name(), String::from_utf8_lossy(b))
            }
            Data::Float32(v) => write!(f, "float32 {v}"),
            Data::Float64(v) => write!(f, "float64 {v}"),
            Data::DateTime(d) => write!(f, "date-time {d}"),
            Data::Date(d) => write!(f, "date {d}"),
            Data::Time(d) => write!(f, "time {d}"),
            Data::Bcd(v) => write!(f, "bcd {v:02X}"),
            Data::Enum(v) => write!(f, "enum {v}"),
            other => match other.as_integer() {
                Some(v) => write!(f, "{} {v}", other.type_name()),
                None => f.write_str(other.type_name()),
            },
        }
    }
}

macro_rules! data_from {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<$t> for Data {
            fn from(v: $t) -> Data {
                Data::$v(v)
            }
        })*
    };
}

data_from! {
    bool => Boolean,
    i8 => Integer,
    i16 => Long,
    i32 => DoubleLong,
    i64 => Long64,
    u8 => Unsigned,
    u16 => LongUnsigned,
    u32 => DoubleLongUnsigned,
    u64 => Long64Unsigned,
    f32 => Float32,
    f64 => Float64,
    CosemDateTime => DateTime,
    CosemDate => Date,
    CosemTime => Time,
    BitString => BitString,
}

#[cfg(test)]
pub(crate) mod tests;
