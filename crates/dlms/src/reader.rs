//! A bounds-checked cursor over received bytes. Every decoder in the crate reads through it, so
//! no decoder indexes a slice directly and every failure carries the offset where it happened.

use crate::error::{DecodeError, DecodeErrorKind};

#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the buffer the caller handed to the public decoder.
    base: usize,
    context: &'static str,
}

pub(crate) type Result<T> = std::result::Result<T, DecodeError>;

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], context: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
            context,
        }
    }

    /// The same reader, reporting offsets as if `buf[0]` were at `base`.
    pub fn shifted(mut self, base: usize) -> Self {
        self.base = base;
        self
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn context(&self) -> &'static str {
        self.context
    }

    pub fn set_context(&mut self, context: &'static str) -> &'static str {
        std::mem::replace(&mut self.context, context)
    }

    /// Runs `f` with another context name and restores the previous one afterwards.
    pub fn within<T>(
        &mut self,
        context: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let old = self.set_context(context);
        let out = f(self);
        self.context = old;
        out
    }

    /// An error at the next byte.
    pub fn err(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(self.offset(), self.context, kind)
    }

    /// An error at an absolute offset (one returned by [`Reader::offset`]).
    pub fn err_at(&self, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(offset, self.context, kind)
    }

    pub fn invalid(&self, offset: usize, what: &'static str, value: u64) -> DecodeError {
        self.err_at(offset, DecodeErrorKind::InvalidValue { what, value })
    }

    fn need(&self, n: usize) -> Result<()> {
        if self.remaining() < n {
            Err(self.err(DecodeErrorKind::Truncated {
                needed: n - self.remaining(),
            }))
        } else {
            Ok(())
        }
    }

    pub fn peek(&self) -> Result<u8> {
        self.need(1)?;
        Ok(self.buf[self.pos])
    }

    pub fn u8(&mut self) -> Result<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        self.need(n)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// A reader over the next `n` bytes, which are consumed from this one. Offsets stay absolute.
    pub fn sub(&mut self, n: usize, context: &'static str) -> Result<Reader<'a>> {
        let base = self.offset();
        let buf = self.take(n)?;
        Ok(Reader {
            buf,
            pos: 0,
            base,
            context,
        })
    }

    /// Expects a given byte.
    pub fn expect(&mut self, expected: u8) -> Result<()> {
        let at = self.offset();
        let found = self.u8()?;
        if found != expected {
            return Err(self.err_at(at, DecodeErrorKind::UnexpectedTag { expected, found }));
        }
        Ok(())
    }

    /// An A-XDR length or element count (guide §4.2): one byte 0–127, or `0x80 | n` followed by
    /// `n` (1–4) big-endian bytes.
    pub fn axdr_length(&mut self) -> Result<usize> {
        let at = self.offset();
        let first = self.u8()?;
        if first < 0x80 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return Err(self.err_at(at, DecodeErrorKind::BadLength(first)));
        }
        let mut v: u64 = 0;
        for b in self.take(n)? {
            v = (v << 8) | u64::from(*b);
        }
        usize::try_from(v).map_err(|_| self.err_at(at, DecodeErrorKind::BadLength(first)))
    }

    /// An A-XDR length that announces bytes which must all be present in this reader.
    pub fn axdr_byte_length(&mut self) -> Result<usize> {
        let at = self.offset();
        let n = self.axdr_length()?;
        if n > self.remaining() {
            return Err(self.err_at(
                at,
                DecodeErrorKind::Truncated {
                    needed: n - self.remaining(),
                },
            ));
        }
        Ok(n)
    }

    /// Fails when bytes are left.
    pub fn finish(&self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(DecodeErrorKind::TrailingBytes {
                count: self.remaining(),
            }))
        }
    }
}

/// Appends an A-XDR length (guide §4.2) in its shortest form.
pub(crate) fn write_axdr_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let used = &bytes[skip..];
    out.push(0x80 | used.len() as u8);
    out.extend_from_slice(used);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_of_the_guide() {
        for (len, bytes) in [
            (0usize, &[0x00][..]),
            (127, &[0x7F][..]),
            (128, &[0x81, 0x80][..]),
            (200, &[0x81, 0xC8][..]),
            (255, &[0x81, 0xFF][..]),
            (256, &[0x82, 0x01, 0x00][..]),
            (300, &[0x82, 0x01, 0x2C][..]),
            (1440, &[0x82, 0x05, 0xA0][..]),
            (0x0102_0304, &[0x84, 0x01, 0x02, 0x03, 0x04][..]),
        ] {
            let mut out = Vec::new();
            write_axdr_length(&mut out, len);
            assert_eq!(out, bytes, "encoding {len}");
            let mut r = Reader::new(bytes, "test");
            assert_eq!(r.axdr_length().unwrap(), len);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn bad_lengths_say_where() {
        let mut r = Reader::new(&[0x00, 0x80], "test");
        r.u8().unwrap();
        let e = r.axdr_length().unwrap_err();
        assert_eq!(e.offset, 1);
        assert_eq!(e.kind, DecodeErrorKind::BadLength(0x80));
        let mut r = Reader::new(&[0x85, 1, 2, 3, 4, 5], "test");
        assert_eq!(
            r.axdr_length().unwrap_err().kind,
            DecodeErrorKind::BadLength(0x85)
        );
        let mut r = Reader::new(&[0x82, 0x01], "test");
        assert_eq!(
            r.axdr_length().unwrap_err().kind,
            DecodeErrorKind::Truncated { needed: 1 }
        );
        let mut r = Reader::new(&[0x05, 1, 2], "test");
        let e = r.axdr_byte_length().unwrap_err();
        assert_eq!(
            (e.offset, e.kind),
            (0, DecodeErrorKind::Truncated { needed: 3 })
        );
    }

    #[test]
    fn sub_readers_keep_absolute_offsets() {
        let mut r = Reader::new(&[1, 2, 3, 4], "outer");
        r.u8().unwrap();
        let mut s = r.sub(2, "inner").unwrap();
        s.u8().unwrap();
        s.u8().unwrap();
        let e = s.u8().unwrap_err();
        assert_eq!((e.offset, e.context), (3, "inner"));
        assert_eq!(r.offset(), 3);
    }
}
