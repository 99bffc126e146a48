//! The three ways bytes and values can be wrong in this crate, each a type:
//!
//! * [`DecodeError`]: bytes from the wire are not what the protocol allows; it says what was being
//!   decoded, what is wrong and at which byte offset (counted from the start of the buffer handed
//!   to the decoder, or of the frame for the stream splitters).
//! * [`EncodeError`]: a value we were asked to send cannot be put on the wire (a frame too long
//!   for its length field, an address out of range).
//! * [`ValueError`]: a decoded [`Data`](crate::axdr::Data) value does not have the shape a COSEM
//!   attribute needs (a scaler_unit that is not a structure, a date-time field left unspecified).
//!
//! A meter's own refusals (a `DataAccessResult`, an AARE rejection, an exception response) are not
//! errors here: they decode into ordinary APDU values for the session layers to act on.

use std::fmt;

/// Bytes that do not decode, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {kind} (at byte {offset})")]
pub struct DecodeError {
    /// Offset of the offending byte from the start of the decoded buffer.
    pub offset: usize,
    /// What was being decoded: `"A-XDR data"`, `"get-response"`, `"HDLC frame"` ...
    pub context: &'static str,
    pub kind: DecodeErrorKind,
}

/// What is wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("input ends early, {needed} more byte(s) needed")]
    Truncated { needed: usize },
    #[error("unknown tag 0x{0:02X}")]
    UnknownTag(u8),
    #[error("expected tag 0x{expected:02X}, found 0x{found:02X}")]
    UnexpectedTag { expected: u8, found: u8 },
    #[error("0x{0:02X} does not start a valid length")]
    BadLength(u8),
    #[error("nesting deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("{count} byte(s) left over after the end")]
    TrailingBytes { count: usize },
    #[error("invalid {what}: {value}")]
    InvalidValue { what: &'static str, value: u64 },
    #[error("{0}")]
    Invalid(&'static str),
    #[error("{what} mismatch: computed 0x{computed:04X}, received 0x{received:04X}")]
    BadChecksum {
        what: &'static str,
        computed: u16,
        received: u16,
    },
    #[error("field with tag 0x{0:02X} appears twice")]
    DuplicateField(u8),
    #[error("required field with tag 0x{0:02X} is missing")]
    MissingField(u8),
    #[error("{what} of {len} bytes exceeds the limit of {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
}

impl DecodeError {
    pub fn new(offset: usize, context: &'static str, kind: DecodeErrorKind) -> Self {
        DecodeError {
            offset,
            context,
            kind,
        }
    }

    /// The same error, with its offset moved by `base` (when the decoded bytes were a slice of
    /// a larger buffer).
    pub fn shifted(mut self, base: usize) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }
}

/// A value that cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{what} is {len} bytes long; at most {max} fit")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} {value} is out of range {range}")]
    OutOfRange {
        what: &'static str,
        value: u64,
        range: &'static str,
    },
    #[error("{0}")]
    Invalid(&'static str),
}

/// A decoded value that does not have the shape or content a COSEM attribute needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{what}: expected {expected}, found {found}")]
    WrongType {
        what: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{what}: expected {expected} elements, found {found}")]
    WrongLength {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{what}: {value} is out of range")]
    OutOfRange { what: &'static str, value: Number },
    #[error("{what} is not specified (wildcard)")]
    NotSpecified { what: &'static str },
    #[error("DLMS unit {0} has no counterpart in the metermaster model")]
    UnitNotInModel(u8),
    #[error("{what}: {problem}")]
    Invalid {
        what: &'static str,
        problem: &'static str,
    },
    /// An element of an array that does not decode (0-based index).
    #[error("element {index}: {source}")]
    Element {
        index: usize,
        source: Box<ValueError>,
    },
}

/// A COSEM attribute value that does not decode into its interface class's type: which class,
/// which attribute and what is wrong (see [`crate::cosem`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class} (class {class_id}) attribute {attribute} ({attribute_name}): {source}")]
pub struct AttributeError {
    pub class_id: u16,
    /// The class name: `"Clock"`, `"Association LN"` ...
    pub class: &'static str,
    pub attribute: i8,
    /// The attribute's name in the class (`"time"`, `"object_list"`), `"unknown"` for a number
    /// the class does not have.
    pub attribute_name: &'static str,
    pub source: ValueError,
}

/// A number carried in an error message, whatever its width or sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number(pub i128);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Number(i128::from(v))
    }
}

impl From<u64> for Number {
    fn from(v: u64) -> Self {
        Number(i128::from(v))
    }
}
