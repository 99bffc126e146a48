//! Finds HDLC frames in a received byte stream (guide §1.2.1).
//!
//! Frames are delimited by their length field, not by searching for `7E`: a flag byte may occur
//! inside a frame. The splitter looks for a flag, reads the format field, waits until the whole
//! frame has arrived, checks the closing flag and both check sequences, and hands back the frame.
//! Two frames may share one flag, and bytes between frames (line noise, an optical head's echo of
//! something else) are skipped and counted.
//!
//! After a broken frame it resynchronises: when the header is intact (good HCS) but the frame
//! check fails, the length is trusted and the whole frame is dropped; otherwise only the opening
//! flag is dropped and the search starts again from the next byte. Inter-octet time-outs are the
//! I/O layer's business: it calls [`FrameSplitter::clear`] when a gap says a frame is abandoned.

use std::fmt;

use super::{FLAG, HdlcFrame};
use crate::error::{DecodeError, DecodeErrorKind};

/// A frame that arrived broken: where it began in the stream and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// Position of the frame's opening flag, counting every byte ever pushed.
    pub stream_offset: u64,
    /// What is wrong; its offset counts from the opening flag.
    pub error: DecodeError,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HDLC frame starting at stream byte {}: {}",
            self.stream_offset, self.error
        )
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Incremental HDLC frame finder: push bytes as they arrive, take frames out.
#[derive(Debug, Clone, Default)]
pub struct FrameSplitter {
    buf: Vec<u8>,
    /// Stream position of `buf[0]`.
    start: u64,
    skipped: u64,
    last: Vec<u8>,
}

impl FrameSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a returned frame or error.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes skipped so far outside frames (noise, broken frames' flags).
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped
    }

    /// The raw bytes (flags included) of the frame most recently returned by
    /// [`FrameSplitter::next_frame`]: for logs, and for recognising an optical head's echo.
    pub fn last_frame_bytes(&self) -> &[u8] {
        &self.last
    }

    /// Forgets buffered bytes (a partial frame after an inter-octet time-out).
    pub fn clear(&mut self) {
        self.start += self.buf.len() as u64;
        self.skipped += self.buf.len() as u64;
        self.buf.clear();
    }

    fn drop_front(&mut self, n: usize, skipped: bool) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.start += n as u64;
        if skipped {
            self.skipped += n as u64;
        }
    }

    /// The next complete frame, an error for a broken one, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Result<HdlcFrame, StreamError>> {
        loop {
            // Find an opening flag; of several in a row, the last one opens the frame.
            let flag = match self.buf.iter().position(|b| *b == FLAG) {
                Some(i) => i,
                None => {
                    let n = self.buf.len();
                    self.drop_front(n, true);
                    return None;
                }
            };
            self.drop_front(flag, true);
            if self.buf.len() < 2 {
                return None;
            }
            if self.buf[1] == FLAG {
                // A closing flag followed by an opening one: not skipped data.
                self.drop_front(1, false);
                continue;
            }
            if self.buf.len() < 3 {
                return None;
            }
            let format = u16::from_be_bytes([self.buf[1], self.buf[2]]);
            let total = usize::from(format & 0x07FF) + 2;
            if format >> 12 == 0xA && self.buf.len() < total {
                return None;
            }
            let at = self.start;
            match HdlcFrame::decode_prefix(&self.buf) {
                Ok((frame, n)) => {
                    self.last.clear();
                    self.last.extend_from_slice(&self.buf[..n]);
                    // Keep the closing flag: it may open the next frame.
                    self.drop_front(n - 1, false);
                    return Some(Ok(frame));
                }
                Err(error) => {
                    let trust_length =
                        matches!(error.kind, DecodeErrorKind::BadChecksum { what: "FCS", .. })
                            && has_good_hcs(&self.buf);
                    if trust_length {
                        self.drop_front(total - 1, true);
                    } else {
                        self.drop_front(1, true);
                    }
                    return Some(Err(StreamError {
                        stream_offset: at,
                        error,
                    }));
                }
            }
        }
    }
}

/// Whether the frame at the start of `buf` has information and a correct HCS, so that its length
/// field can be trusted.
fn has_good_hcs(buf: &[u8]) -> bool {
    let mut i = 3;
    for _ in 0..2 {
        // destination, then source address
        let mut n = 0;
        loop {
            match buf.get(i) {
                Some(b) => {
                    i += 1;
                    n += 1;
                    if b & 1 == 1 || n == 4 {
                        break;
                    }
                }
                None => return false,
            }
        }
    }
    let hcs_at = i + 1;
    match buf.get(hcs_at..hcs_at + 2) {
        Some(h) => super::crc16_x25(&buf[1..hcs_at]) == u16::from_le_bytes([h[0], h[1]]),
        None => false,
    }
}
