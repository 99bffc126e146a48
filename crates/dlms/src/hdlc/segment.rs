//! The LLC header and HDLC segmentation (guide §1.2.5, §1.2.7).
//!
//! An APDU travels as an LLC-PDU: `E6 E6 00` (client to server) or `E6 E7 00` (server to client)
//! followed by the APDU. When the LLC-PDU is longer than the peer's maximum information length it
//! is cut into segments; every segment but the last has the segmentation bit set, and only the
//! first carries the LLC header.

use super::{Control, HdlcAddress, HdlcFrame};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// LLC header of commands (client to server).
pub const LLC_COMMAND: [u8; 3] = [0xE6, 0xE6, 0x00];
/// LLC header of responses (server to client), also used by meters' UI pushes.
pub const LLC_RESPONSE: [u8; 3] = [0xE6, 0xE7, 0x00];

/// Which way an APDU travels; decides the LLC header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    pub fn llc_header(self) -> [u8; 3] {
        match self {
            Direction::ClientToServer => LLC_COMMAND,
            Direction::ServerToClient => LLC_RESPONSE,
        }
    }
}

/// The APDU after the LLC header of `info`, which must be the header of `direction`.
pub fn strip_llc(info: &[u8], direction: Direction) -> Result<&[u8], DecodeError> {
    let want = direction.llc_header();
    for (i, expected) in want.iter().enumerate() {
        match info.get(i) {
            None => {
                return Err(DecodeError::new(
                    info.len(),
                    "LLC header",
                    DecodeErrorKind::Truncated { needed: 3 - i },
                ));
            }
            Some(found) if found != expected => {
                return Err(DecodeError::new(
                    i,
                    "LLC header",
                    DecodeErrorKind::UnexpectedTag {
                        expected: *expected,
                        found: *found,
                    },
                ));
            }
            Some(_) => {}
        }
    }
    Ok(&info[3..])
}

/// One information field of a segmented LLC-PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub information: Vec<u8>,
    /// The segmentation bit: more segments follow.
    pub more: bool,
}

/// Cuts `apdu` (with the LLC header of `direction` in front) into information fields of at most
/// `max_info` bytes. `max_info` must leave room for the LLC header and one APDU byte (≥ 4).
pub fn segment(
    apdu: &[u8],
    direction: Direction,
    max_info: usize,
) -> Result<Vec<Segment>, EncodeError> {
    if max_info < 4 {
        return Err(EncodeError::OutOfRange {
            what: "maximum information length",
            value: max_info as u64,
            range: "4..",
        });
    }
    let mut pdu = Vec::with_capacity(apdu.len() + 3);
    pdu.extend_from_slice(&direction.llc_header());
    pdu.extend_from_slice(apdu);
    let n = pdu.len().div_ceil(max_info);
    Ok(pdu
        .chunks(max_info)
        .enumerate()
        .map(|(i, c)| Segment {
            information: c.to_vec(),
            more: i + 1 < n,
        })
        .collect())
}

/// The I-frames that carry `apdu` with window size 1: consecutive N(S) from `send_seq`, N(R) =
/// `recv_seq` throughout, P/F set on every frame (each waits for its acknowledgement).
pub fn information_frames(
    destination: HdlcAddress,
    source: HdlcAddress,
    apdu: &[u8],
    direction: Direction,
    max_info: usize,
    send_seq: u8,
    recv_seq: u8,
) -> Result<Vec<HdlcFrame>, EncodeError> {
    let frames: Vec<HdlcFrame> = segment(apdu, direction, max_info)?
        .into_iter()
        .enumerate()
        .map(|(i, s)| HdlcFrame {
            segmented: s.more,
            destination,
            source,
            control: Control::I {
                send_seq: send_seq.wrapping_add(i as u8) & 7,
                recv_seq: recv_seq & 7,
                poll_final: true,
            },
            information: s.information,
        })
        .collect();
    if let Some(f) = frames.first() {
        // Fail here rather than on the first send.
        f.encode()?;
    }
    Ok(frames)
}

/// Collects the segments of one LLC-PDU and hands back the APDU when the last one arrives.
#[derive(Debug, Clone)]
pub struct Reassembler {
    direction: Direction,
    max_len: usize,
    buf: Vec<u8>,
    in_progress: bool,
}

impl Reassembler {
    /// A reassembler for APDUs travelling in `direction`, refusing APDUs longer than `max_len`
    /// (normally the negotiated maximum PDU size).
    pub fn new(direction: Direction, max_len: usize) -> Self {
        Reassembler {
            direction,
            max_len,
            buf: Vec::new(),
            in_progress: false,
        }
    }

    /// Whether segments of an unfinished APDU are held.
    pub fn in_progress(&self) -> bool {
        self.in_progress
    }

    /// Drops a partial APDU (after a link reset or a time-out).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.in_progress = false;
    }

    /// Adds the information field of an I or UI frame. Returns the APDU once complete. On an
    /// error the partial APDU is dropped.
    pub fn push(&mut self, information: &[u8], more: bool) -> Result<Option<Vec<u8>>, DecodeError> {
        let part = if self.in_progress {
            information
        } else {
            strip_llc(information, self.direction)?
        };
        if self.buf.len() + part.len() > self.max_len {
            let len = self.buf.len() + part.len();
            self.reset();
            return Err(DecodeError::new(
                0,
                "HDLC reassembly",
                DecodeErrorKind::TooLong {
                    what: "segmented APDU",
                    len,
                    max: self.max_len,
                },
            ));
        }
        self.buf.extend_from_slice(part);
        if more {
            self.in_progress = true;
            Ok(None)
        } else {
            self.in_progress = false;
            Ok(Some(std::mem::take(&mut self.buf)))
        }
    }

    /// [`Reassembler::push`] for a whole frame.
    pub fn push_frame(&mut self, frame: &HdlcFrame) -> Result<Option<Vec<u8>>, DecodeError> {
        self.push(&frame.information, frame.segmented)
    }
}
