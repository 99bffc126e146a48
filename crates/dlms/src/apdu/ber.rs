//! The slice of BER (X.690) the ACSE APDUs need: one-byte tags, definite lengths, integers.

use crate::error::DecodeErrorKind;
use crate::reader::{Reader, Result, write_axdr_length};

/// A BER field kept as it came: tag and content. ACSE fields this crate does not interpret
/// (protocol-version, called-AP-title, implementation-information …) are carried this way so
/// that a decoded AARQ or AARE re-encodes with them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BerField {
    pub tag: u8,
    pub content: Vec<u8>,
}

/// BER definite lengths have the same shape as A-XDR lengths for the sizes that occur here.
pub(crate) fn write_len(out: &mut Vec<u8>, len: usize) {
    write_axdr_length(out, len);
}

pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    write_len(out, content.len());
    out.extend_from_slice(content);
}

/// A BER INTEGER's content: the shortest two's complement form.
pub(crate) fn integer_content(v: i64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let redundant = (b[start] == 0x00 && b[start + 1] & 0x80 == 0)
            || (b[start] == 0xFF && b[start + 1] & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    b[start..].to_vec()
}

/// `tag len INTEGER-content`.
pub(crate) fn write_integer(out: &mut Vec<u8>, tag: u8, v: i64) {
    write_tlv(out, tag, &integer_content(v));
}

/// Reads a tag and length; returns the tag, the tag's offset and a reader over the content.
pub(crate) fn read_tlv<'a>(r: &mut Reader<'a>) -> Result<(u8, usize, Reader<'a>)> {
    let at = r.offset();
    let tag = r.u8()?;
    if tag & 0x1F == 0x1F {
        return Err(r.err_at(
            at,
            DecodeErrorKind::Invalid("multi-byte BER tag where a one-byte tag is expected"),
        ));
    }
    let len = r.axdr_byte_length()?;
    let content = r.sub(len, r.context())?;
    Ok((tag, at, content))
}

/// Reads a TLV that must carry `expected`.
pub(crate) fn read_expected<'a>(r: &mut Reader<'a>, expected: u8) -> Result<Reader<'a>> {
    let (tag, at, content) = read_tlv(r)?;
    if tag != expected {
        return Err(r.err_at(
            at,
            DecodeErrorKind::UnexpectedTag {
                expected,
                found: tag,
            },
        ));
    }
    Ok(content)
}

/// The value of an INTEGER content (1–8 bytes, two's complement).
pub(crate) fn integer_value(mut content: Reader<'_>) -> Result<i64> {
    let at = content.offset();
    let bytes = content.rest();
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(content.invalid(at, "INTEGER length", bytes.len() as u64));
    }
    let neg = bytes[0] & 0x80 != 0;
    let mut v: i64 = if neg { -1 } else { 0 };
    for b in bytes {
        v = (v << 8) | i64::from(*b);
    }
    Ok(v)
}

/// An INTEGER wrapped in `tag`, which must fit a `u8` (results, diagnostics, reasons).
pub(crate) fn read_small_unsigned(content: Reader<'_>, what: &'static str) -> Result<u8> {
    let at = content.offset();
    let ctx = content.clone();
    let v = integer_value(content)?;
    u8::try_from(v).map_err(|_| ctx.invalid(at, what, v as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        for (v, bytes) in [
            (0i64, &[0x00][..]),
            (13, &[0x0D][..]),
            (127, &[0x7F][..]),
            (128, &[0x00, 0x80][..]),
            (256, &[0x01, 0x00][..]),
            (-1, &[0xFF][..]),
            (-129, &[0xFF, 0x7F][..]),
        ] {
            assert_eq!(integer_content(v), bytes, "{v}");
            assert_eq!(integer_value(Reader::new(bytes, "t")).unwrap(), v);
        }
        assert!(integer_value(Reader::new(&[], "t")).is_err());
    }
}
