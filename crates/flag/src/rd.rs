//! The Elster RD fast binary stream (protocol guide §4.8): after `RD III001(NB)` the meter sends
//! the identity's bytes as raw binary packets, back to back, each with a CRC-16/ARC. Used only
//! on links that carry 8-bit bytes (TCP); it saves the hex doubling and one exchange per 64 bytes.

use crate::crc::crc16_arc;
use crate::frame::{EOT, ETX, STX};

/// Most data bytes in one packet.
pub const MAX_PACKET_DATA: usize = 256;

/// Splits `data` into RD packets numbered from 1.
pub fn encode_stream(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / MAX_PACKET_DATA * 8 + 8);
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[0xFF][..]]
    } else {
        data.chunks(MAX_PACKET_DATA).collect()
    };
    let n = chunks.len();
    for (i, c) in chunks.into_iter().enumerate() {
        let start = out.len();
        out.push(STX);
        out.extend_from_slice(&((i + 1) as u16).to_le_bytes());
        out.push((c.len() - 1) as u8);
        out.extend_from_slice(c);
        out.push(if i + 1 == n { EOT } else { ETX });
        let crc = crc16_arc(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }
    out
}

/// Why an RD stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdError {
    #[error("RD packet {packet} at stream byte {offset}: {what}")]
    Bad {
        packet: usize,
        offset: usize,
        what: String,
    },
}

/// Incremental RD stream decoder: feed it the buffer; it returns the data once the last (EOT)
/// packet has arrived, `Ok(None)` while more is needed.
pub fn decode_stream(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, RdError> {
    let mut data = Vec::new();
    let mut pos = 0;
    let mut packet = 0;
    loop {
        packet += 1;
        let bad = |what: String| RdError::Bad {
            packet,
            offset: pos,
            what,
        };
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        if buf[pos] != STX {
            return Err(bad(format!("expected STX, got {:#04x}", buf[pos])));
        }
        let n = usize::from(buf[pos + 3]) + 1;
        let end = pos + 4 + n;
        if buf.len() < end + 3 {
            return Ok(None);
        }
        let term = buf[end];
        if term != ETX && term != EOT {
            return Err(bad(format!(
                "expected ETX or EOT after {n} data bytes, got {term:#04x}"
            )));
        }
        if crc16_arc(&buf[pos..end + 3]) != 0 {
            return Err(bad("CRC mismatch".into()));
        }
        data.extend_from_slice(&buf[pos + 4..end]);
        pos = end + 3;
        if term == EOT {
            return Ok(Some((data, pos)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn guide_example() {
        assert_eq!(
            encode_stream(&[0xDE, 0xAD, 0xBE, 0xEF]),
            vec![
                0x02, 0x01, 0x00, 0x03, 0xDE, 0xAD, 0xBE, 0xEF, 0x04, 0x7D, 0xF7
            ]
        );
    }

    #[test]
    fn corrupt_byte_is_caught() {
        let mut s = encode_stream(&[7u8; 600]);
        s[300] ^= 0x40;
        assert!(matches!(
            decode_stream(&s),
            Err(RdError::Bad { packet: 2, .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(d in proptest::collection::vec(any::<u8>(), 1..1200)) {
            let s = encode_stream(&d);
            for cut in [0, s.len() / 2, s.len() - 1] {
                prop_assert_eq!(decode_stream(&s[..cut]).ok().flatten(), None);
            }
            prop_assert_eq!(decode_stream(&s).unwrap(), Some((d, s.len())));
        }

        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_stream(&b);
        }
    }
}
