//! The TCP/UDP wrapper of IEC 62056-47 (guide §1.1): an 8-byte header — version 1, source wPort,
//! destination wPort, APDU length — in front of every APDU. No LLC bytes, no checksum, no
//! SNRM/UA: the first APDU on a connection is the AARQ.
//!
//! TCP is a byte stream, so [`WrapperSplitter`] collects bytes and hands back whole WPDUs. A
//! wrong version cannot be resynchronised (the header has no marker to search for): the splitter
//! reports it and drops what it holds, and the connection should be closed.

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::reader::Reader;

/// The only wrapper version.
pub const WRAPPER_VERSION: u16 = 1;
/// Header length.
pub const HEADER_LEN: usize = 8;
/// IANA port for DLMS/COSEM over TCP and UDP.
pub const DLMS_PORT: u16 = 4059;

/// Reserved client wPorts.
pub mod client_port {
    pub const NO_STATION: u16 = 0;
    pub const MANAGEMENT_PROCESS: u16 = 1;
    pub const PUBLIC_CLIENT: u16 = 0x10;
}

/// Reserved server wPorts.
pub mod server_port {
    pub const NO_STATION: u16 = 0;
    pub const MANAGEMENT_LOGICAL_DEVICE: u16 = 1;
    pub const ALL_STATION: u16 = 0x7F;
}

/// The wrapper header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WrapperHeader {
    pub version: u16,
    pub source: u16,
    pub destination: u16,
    /// APDU bytes that follow the header.
    pub length: u16,
}

impl WrapperHeader {
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..2].copy_from_slice(&self.version.to_be_bytes());
        b[2..4].copy_from_slice(&self.source.to_be_bytes());
        b[4..6].copy_from_slice(&self.destination.to_be_bytes());
        b[6..8].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// Reads a header; a version other than 1 is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "wrapper header");
        let version = r.u16()?;
        if version != WRAPPER_VERSION {
            return Err(r.invalid(0, "wrapper version", u64::from(version)));
        }
        Ok(WrapperHeader {
            version,
            source: r.u16()?,
            destination: r.u16()?,
            length: r.u16()?,
        })
    }
}

/// One wrapper PDU: ports and the APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperFrame {
    pub source: u16,
    pub destination: u16,
    pub apdu: Vec<u8>,
}

impl WrapperFrame {
    pub fn new(source: u16, destination: u16, apdu: Vec<u8>) -> Self {
        WrapperFrame {
            source,
            destination,
            apdu,
        }
    }

    /// An answer to this frame: ports swapped.
    pub fn reply(&self, apdu: Vec<u8>) -> Self {
        WrapperFrame::new(self.destination, self.source, apdu)
    }

    pub fn header(&self) -> Result<WrapperHeader, EncodeError> {
        let length = u16::try_from(self.apdu.len()).map_err(|_| EncodeError::TooLong {
            what: "wrapped APDU",
            len: self.apdu.len(),
            max: usize::from(u16::MAX),
        })?;
        Ok(WrapperHeader {
            version: WRAPPER_VERSION,
            source: self.source,
            destination: self.destination,
            length,
        })
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let h = self.header()?;
        let mut out = Vec::with_capacity(HEADER_LEN + self.apdu.len());
        out.extend_from_slice(&h.to_bytes());
        out.extend_from_slice(&self.apdu);
        Ok(out)
    }

    /// Decodes the WPDU at the start of `bytes`; returns it and its length.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Self, usize), DecodeError> {
        let h = WrapperHeader::decode(bytes)?;
        let mut r = Reader::new(bytes, "wrapper frame");
        r.take(HEADER_LEN)?;
        let apdu = r.take(usize::from(h.length))?.to_vec();
        Ok((WrapperFrame::new(h.source, h.destination, apdu), r.offset()))
    }

    /// Decodes exactly one WPDU.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (f, n) = Self::decode_prefix(bytes)?;
        if n != bytes.len() {
            return Err(DecodeError::new(
                n,
                "wrapper frame",
                DecodeErrorKind::TrailingBytes {
                    count: bytes.len() - n,
                },
            ));
        }
        Ok(f)
    }
}

/// Collects TCP bytes into wrapper PDUs.
#[derive(Debug, Clone)]
pub struct WrapperSplitter {
    buf: Vec<u8>,
    max_apdu: usize,
    /// Stream position of `buf[0]`.
    start: u64,
}

impl Default for WrapperSplitter {
    fn default() -> Self {
        Self::new(usize::from(u16::MAX))
    }
}

impl WrapperSplitter {
    /// A splitter that refuses APDUs longer than `max_apdu` (normally the negotiated maximum
    /// receive PDU size) as soon as their header arrives.
    pub fn new(max_apdu: usize) -> Self {
        WrapperSplitter {
            buf: Vec::new(),
            max_apdu,
            start: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Stream position of the next undecoded byte.
    pub fn stream_offset(&self) -> u64 {
        self.start
    }

    /// The next complete WPDU, an error, or `None` until more bytes arrive. After an error the
    /// buffer is dropped: the stream cannot be resynchronised and should be closed.
    pub fn next_frame(&mut self) -> Option<Result<WrapperFrame, DecodeError>> {
        if self.buf.len() < HEADER_LEN {
            return None;
        }
        let h = match WrapperHeader::decode(&self.buf) {
            Ok(h) => h,
            Err(e) => return Some(Err(self.fail(e))),
        };
        let len = usize::from(h.length);
        if len > self.max_apdu {
            let e = DecodeError::new(
                6,
                "wrapper frame",
                DecodeErrorKind::TooLong {
                    what: "wrapped APDU",
                    len,
                    max: self.max_apdu,
                },
            );
            return Some(Err(self.fail(e)));
        }
        if self.buf.len() < HEADER_LEN + len {
            return None;
        }
        let apdu = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        self.start += (HEADER_LEN + len) as u64;
        Some(Ok(WrapperFrame::new(h.source, h.destination, apdu)))
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.start += self.buf.len() as u64;
        self.buf.clear();
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hex;
    use proptest::prelude::*;

    #[test]
    fn jdlms_header_example() {
        let h = WrapperHeader::decode(&hex("00 01 00 10 00 11 00 22")).unwrap();
        assert_eq!(
            h,
            WrapperHeader {
                version: 1,
                source: 16,
                destination: 17,
                length: 34
            }
        );
        assert_eq!(h.to_bytes().to_vec(), hex("00 01 00 10 00 11 00 22"));
        let e = WrapperHeader::decode(&hex("10 01 00 10 00 11 00 22")).unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::InvalidValue {
                what: "wrapper version",
                value: 0x1001
            }
        );
        assert!(WrapperHeader::decode(&hex("00 02 00 10 00 11 00 22")).is_err());
    }

    #[test]
    fn session_steps_of_section_7() {
        let aarq = "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 00 80";
        let f = WrapperFrame::new(
            client_port::PUBLIC_CLIENT,
            server_port::MANAGEMENT_LOGICAL_DEVICE,
            hex(aarq),
        );
        let mut expect = hex("00 01 00 10 00 01 00 1F");
        expect.extend_from_slice(&hex(aarq));
        assert_eq!(f.encode().unwrap(), expect);
        assert_eq!(WrapperFrame::decode(&expect).unwrap(), f);
        let reply = f.reply(hex("63 03 80 01 00"));
        assert_eq!(
            reply.encode().unwrap(),
            hex("00 01 00 01 00 10 00 05 63 03 80 01 00")
        );
    }

    #[test]
    fn splitter_handles_partial_and_joined_pdus() {
        let a = hex("00 01 00 10 00 01 00 0D C0 01 C1 00 08 00 00 01 00 00 FF 02 00");
        let b = hex("00 01 00 10 00 01 00 05 62 03 80 01 00");
        let mut stream = a.clone();
        stream.extend_from_slice(&b);
        let mut s = WrapperSplitter::default();
        s.push(&stream[..5]);
        assert!(s.next_frame().is_none());
        s.push(&stream[5..25]);
        let f = s.next_frame().unwrap().unwrap();
        assert_eq!(f.apdu, a[8..].to_vec());
        assert!(s.next_frame().is_none());
        s.push(&stream[25..]);
        assert_eq!(s.next_frame().unwrap().unwrap().apdu, hex("62 03 80 01 00"));
        assert!(s.next_frame().is_none());
        assert_eq!(s.stream_offset(), stream.len() as u64);

        let mut s = WrapperSplitter::new(16);
        s.push(&hex("00 01 00 10 00 01 01 00"));
        let e = s.next_frame().unwrap().unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::TooLong { len: 256, .. }));
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn too_long_apdu_is_refused() {
        let f = WrapperFrame::new(1, 16, vec![0; 65_536]);
        assert!(f.encode().is_err());
    }

    proptest! {
        #[test]
        fn round_trip(src in any::<u16>(), dst in any::<u16>(), apdu in proptest::collection::vec(any::<u8>(), 0..300)) {
            let f = WrapperFrame::new(src, dst, apdu);
            let bytes = f.encode().unwrap();
            prop_assert_eq!(WrapperFrame::decode(&bytes).unwrap(), f.clone());
            let mut s = WrapperSplitter::default();
            for c in bytes.chunks(7) {
                s.push(c);
            }
            prop_assert_eq!(s.next_frame().unwrap().unwrap(), f);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = WrapperFrame::decode(&bytes);
            let mut s = WrapperSplitter::new(20);
            s.push(&bytes);
            while let Some(_r) = s.next_frame() {}
        }
    }
}
