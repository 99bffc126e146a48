//! HDLC frames as DLMS uses them on serial, optical and RS-485 links (IEC 62056-46, guide §1.2):
//! frame format type 3 with length-delimited frames (no byte stuffing), 1-, 2- or 4-byte
//! addresses, the control field of I, RR, RNR, SNRM, DISC, UA, DM, FRMR and UI frames, and the
//! CRC-16/X.25 header and frame check sequences.
//!
//! Around the frame: [`FrameSplitter`] finds frames in a received byte stream, [`HdlcParameters`]
//! is the SNRM/UA negotiation block, and [`segment`] cuts an APDU into I-frames and reassembles it
//! (LLC header included). The link state machine (sequence counters, RR polling, time-outs) is the
//! session layer's; everything here is pure.

mod params;
mod segment;
mod splitter;

pub use params::HdlcParameters;
pub use segment::{
    Direction, LLC_COMMAND, LLC_RESPONSE, Reassembler, Segment, information_frames, segment,
    strip_llc,
};
pub use splitter::{FrameSplitter, StreamError};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::reader::{Reader, Result};

/// The opening and closing flag.
pub const FLAG: u8 = 0x7E;
/// The largest value of the 11-bit frame length field.
pub const MAX_FRAME_LENGTH: usize = 0x07FF;

const fn crc_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x8408
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u16; 256] = crc_table();

/// CRC-16/X.25 (poly 0x1021 reflected, init 0xFFFF, final XOR 0xFFFF): the HCS and FCS of HDLC
/// frames (guide §1.2.4). It goes on the wire low byte first.
pub fn crc16_x25(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc = (crc >> 8) ^ CRC_TABLE[usize::from((crc ^ u16::from(b)) as u8)];
    }
    crc ^ 0xFFFF
}

/// How many bytes an HDLC address takes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressSize {
    One,
    Two,
    Four,
}

impl AddressSize {
    pub fn bytes(self) -> usize {
        match self {
            AddressSize::One => 1,
            AddressSize::Two => 2,
            AddressSize::Four => 4,
        }
    }
}

/// An HDLC address (guide §1.2.2). A client address is one byte; a server address is the upper
/// HDLC address (logical device) and optionally the lower one (physical device), in 1, 2 or 4
/// bytes. The form is part of the value: a meter answers only when it matches what it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HdlcAddress {
    upper: u16,
    lower: Option<u16>,
    size: AddressSize,
}

impl HdlcAddress {
    /// The public client.
    pub const PUBLIC_CLIENT: u8 = 0x10;
    /// The management logical device (server upper address).
    pub const MANAGEMENT_LOGICAL_DEVICE: u16 = 0x01;
    /// All-station in the 1-byte form.
    pub const ALL_STATION: u16 = 0x7F;
    /// All-station in the 2-byte halves of the 4-byte form.
    pub const ALL_STATION_WIDE: u16 = 0x3FFF;
    /// Lower address a meter uses when it calls in.
    pub const CALLING_PHYSICAL_DEVICE: u16 = 0x7E;

    /// A client address (SAP 0–127), always one byte.
    pub fn client(sap: u8) -> std::result::Result<Self, EncodeError> {
        Self::one_byte(u16::from(sap))
    }

    /// An address of one byte: a client SAP or a server's upper address alone (0–127).
    pub fn one_byte(value: u16) -> std::result::Result<Self, EncodeError> {
        check("HDLC address", value, 0x7F, "0..=127")?;
        Ok(HdlcAddress {
            upper: value,
            lower: None,
            size: AddressSize::One,
        })
    }

    /// A server address with logical and physical parts, in the form Gurux picks: two bytes
    /// when both are below 0x80, otherwise four.
    pub fn server(logical: u16, physical: u16) -> std::result::Result<Self, EncodeError> {
        let size = if logical < 0x80 && physical < 0x80 {
            AddressSize::Two
        } else {
            AddressSize::Four
        };
        Self::server_with_size(logical, Some(physical), size)
    }

    /// A server address in a chosen form. The one-byte form has no physical part; the two- and
    /// four-byte forms need one.
    pub fn server_with_size(
        logical: u16,
        physical: Option<u16>,
        size: AddressSize,
    ) -> std::result::Result<Self, EncodeError> {
        match (size, physical) {
            (AddressSize::One, None) => Self::one_byte(logical),
            (AddressSize::One, Some(_)) => Err(EncodeError::Invalid(
                "a one-byte server address has no physical part",
            )),
            (_, None) => Err(EncodeError::Invalid(
                "two- and four-byte server addresses need a physical part",
            )),
            (AddressSize::Two, Some(p)) => {
                check("logical device address", logical, 0x7F, "0..=127")?;
                check("physical device address", p, 0x7F, "0..=127")?;
                Ok(HdlcAddress {
                    upper: logical,
                    lower: Some(p),
                    size,
                })
            }
            (AddressSize::Four, Some(p)) => {
                check("logical device address", logical, 0x3FFF, "0..=16383")?;
                check("physical device address", p, 0x3FFF, "0..=16383")?;
                Ok(HdlcAddress {
                    upper: logical,
                    lower: Some(p),
                    size,
                })
            }
        }
    }

    /// The upper address: the client SAP, or the server's logical device.
    pub fn upper(&self) -> u16 {
        self.upper
    }

    /// The lower address (physical device), if the form has one.
    pub fn lower(&self) -> Option<u16> {
        self.lower
    }

    pub fn size(&self) -> AddressSize {
        self.size
    }

    /// Whether two addresses name the same station, whatever their form.
    pub fn same_station(&self, other: &HdlcAddress) -> bool {
        self.upper == other.upper && self.lower == other.lower
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match (self.size, self.lower) {
            (AddressSize::Two, Some(l)) => {
                out.push((self.upper as u8) << 1);
                out.push(((l as u8) << 1) | 1);
            }
            (AddressSize::Four, Some(l)) => {
                out.push(((self.upper >> 7) as u8) << 1);
                out.push(((self.upper & 0x7F) as u8) << 1);
                out.push(((l >> 7) as u8) << 1);
                out.push((((l & 0x7F) as u8) << 1) | 1);
            }
            _ => out.push(((self.upper as u8) << 1) | 1),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4);
        self.encode_into(&mut v);
        v
    }

    /// Decodes an address from the start of `bytes`; returns it and its length.
    pub fn decode(bytes: &[u8]) -> std::result::Result<(Self, usize), DecodeError> {
        let mut r = Reader::new(bytes, "HDLC address");
        let a = Self::read(&mut r)?;
        Ok((a, r.offset()))
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let at = r.offset();
        let mut raw = [0u8; 4];
        let mut n = 0;
        loop {
            let b = r.u8()?;
            if n == 4 {
                return Err(r.err_at(at, DecodeErrorKind::Invalid("address longer than 4 bytes")));
            }
            raw[n] = b;
            n += 1;
            if b & 1 == 1 {
                break;
            }
        }
        let h = |b: u8| u16::from(b >> 1);
        Ok(match n {
            1 => HdlcAddress {
                upper: h(raw[0]),
                lower: None,
                size: AddressSize::One,
            },
            2 => HdlcAddress {
                upper: h(raw[0]),
                lower: Some(h(raw[1])),
                size: AddressSize::Two,
            },
            4 => HdlcAddress {
                upper: (h(raw[0]) << 7) | h(raw[1]),
                lower: Some((h(raw[2]) << 7) | h(raw[3])),
                size: AddressSize::Four,
            },
            _ => {
                return Err(r.err_at(at, DecodeErrorKind::Invalid("3-byte HDLC address")));
            }
        })
    }
}

fn check(
    what: &'static str,
    v: u16,
    max: u16,
    range: &'static str,
) -> std::result::Result<(), EncodeError> {
    if v > max {
        Err(EncodeError::OutOfRange {
            what,
            value: u64::from(v),
            range,
        })
    } else {
        Ok(())
    }
}

/// The physical address many meters derive from their serial number: `serial mod 10000 + 1000`
/// (Gurux's default). A manufacturer convention, not a rule: keep it a per-device-type setting.
pub fn physical_address_from_serial(serial: u64) -> u16 {
    (serial % 10_000) as u16 + 1000
}

/// The control field (guide §1.2.3). Sequence numbers are modulo 8; encoding uses their low
/// three bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// Information frame with N(S), N(R) and the poll/final bit.
    I {
        send_seq: u8,
        recv_seq: u8,
        poll_final: bool,
    },
    /// Receive ready: acknowledges up to N(R) − 1, asks for the next segment.
    Rr { recv_seq: u8, poll_final: bool },
    /// Receive not ready.
    Rnr { recv_seq: u8, poll_final: bool },
    /// Set normal response mode: connect.
    Snrm { poll_final: bool },
    /// Disconnect.
    Disc { poll_final: bool },
    /// Unnumbered acknowledge.
    Ua { poll_final: bool },
    /// Disconnected mode.
    Dm { poll_final: bool },
    /// Frame reject.
    Frmr { poll_final: bool },
    /// Unnumbered information (push on some ports).
    Ui { poll_final: bool },
}

const PF: u8 = 0x10;

impl Control {
    pub fn to_byte(self) -> u8 {
        let pf = |p: bool| if p { PF } else { 0 };
        match self {
            Control::I {
                send_seq,
                recv_seq,
                poll_final,
            } => ((recv_seq & 7) << 5) | pf(poll_final) | ((send_seq & 7) << 1),
            Control::Rr {
                recv_seq,
                poll_final,
            } => ((recv_seq & 7) << 5) | pf(poll_final) | 0x01,
            Control::Rnr {
                recv_seq,
                poll_final,
            } => ((recv_seq & 7) << 5) | pf(poll_final) | 0x05,
            Control::Snrm { poll_final } => 0x83 | pf(poll_final),
            Control::Disc { poll_final } => 0x43 | pf(poll_final),
            Control::Ua { poll_final } => 0x63 | pf(poll_final),
            Control::Dm { poll_final } => 0x0F | pf(poll_final),
            Control::Frmr { poll_final } => 0x87 | pf(poll_final),
            Control::Ui { poll_final } => 0x03 | pf(poll_final),
        }
    }

    /// The control byte's meaning, or `None` for frame types DLMS does not use (REJ, SREJ,
    /// other unnumbered commands).
    pub fn from_byte(b: u8) -> Option<Control> {
        let poll_final = b & PF != 0;
        if b & 0x01 == 0 {
            return Some(Control::I {
                send_seq: (b >> 1) & 7,
                recv_seq: b >> 5,
                poll_final,
            });
        }
        if b & 0x03 == 0x01 {
            let recv_seq = b >> 5;
            return match (b >> 2) & 0x03 {
                0 => Some(Control::Rr {
                    recv_seq,
                    poll_final,
                }),
                1 => Some(Control::Rnr {
                    recv_seq,
                    poll_final,
                }),
                _ => None,
            };
        }
        Some(match b & !PF {
            0x83 => Control::Snrm { poll_final },
            0x43 => Control::Disc { poll_final },
            0x63 => Control::Ua { poll_final },
            0x0F => Control::Dm { poll_final },
            0x87 => Control::Frmr { poll_final },
            0x03 => Control::Ui { poll_final },
            _ => return None,
        })
    }

    pub fn poll_final(self) -> bool {
        self.to_byte() & PF != 0
    }

    /// N(R) for I, RR and RNR frames.
    pub fn recv_seq(self) -> Option<u8> {
        match self {
            Control::I { recv_seq, .. }
            | Control::Rr { recv_seq, .. }
            | Control::Rnr { recv_seq, .. } => Some(recv_seq & 7),
            _ => None,
        }
    }

    /// N(S) for I frames.
    pub fn send_seq(self) -> Option<u8> {
        match self {
            Control::I { send_seq, .. } => Some(send_seq & 7),
            _ => None,
        }
    }
}

/// One HDLC frame. Whether it has a header check sequence follows from the information field:
/// frames with information carry HCS and FCS, frames without carry a single check sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HdlcFrame {
    /// The segmentation bit S: more segments of the same LLC-PDU follow.
    pub segmented: bool,
    pub destination: HdlcAddress,
    pub source: HdlcAddress,
    pub control: Control,
    /// For I and UI frames the LLC header (first segment only) and APDU bytes; for SNRM/UA the
    /// parameter block; for FRMR the reject reason.
    pub information: Vec<u8>,
}

impl HdlcFrame {
    /// A frame without information and without the segmentation bit.
    pub fn new(destination: HdlcAddress, source: HdlcAddress, control: Control) -> Self {
        HdlcFrame {
            segmented: false,
            destination,
            source,
            control,
            information: Vec::new(),
        }
    }

    pub fn with_information(mut self, information: Vec<u8>) -> Self {
        self.information = information;
        self
    }

    fn header_len(&self) -> usize {
        2 + self.destination.size().bytes() + self.source.size().bytes() + 1
    }

    /// The value of the frame length field: every byte between the flags.
    pub fn length(&self) -> usize {
        let h = self.header_len() + 2;
        if self.information.is_empty() {
            h
        } else {
            h + self.information.len() + 2
        }
    }

    /// The frame with both flags.
    pub fn encode(&self) -> std::result::Result<Vec<u8>, EncodeError> {
        let len = self.length();
        if len > MAX_FRAME_LENGTH {
            return Err(EncodeError::TooLong {
                what: "HDLC frame",
                len,
                max: MAX_FRAME_LENGTH,
            });
        }
        let mut out = Vec::with_capacity(len + 2);
        out.push(FLAG);
        let format = 0xA000u16 | if self.segmented { 0x0800 } else { 0 } | len as u16;
        out.extend_from_slice(&format.to_be_bytes());
        self.destination.encode_into(&mut out);
        self.source.encode_into(&mut out);
        out.push(self.control.to_byte());
        let hcs = crc16_x25(&out[1..]);
        out.extend_from_slice(&hcs.to_le_bytes());
        if !self.information.is_empty() {
            out.extend_from_slice(&self.information);
            let fcs = crc16_x25(&out[1..]);
            out.extend_from_slice(&fcs.to_le_bytes());
        }
        out.push(FLAG);
        Ok(out)
    }

    /// Decodes exactly one frame, flags included.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let (f, n) = Self::decode_prefix(bytes)?;
        if n != bytes.len() {
            return Err(DecodeError::new(
                n,
                "HDLC frame",
                DecodeErrorKind::TrailingBytes {
                    count: bytes.len() - n,
                },
            ));
        }
        Ok(f)
    }

    /// Decodes the frame at the start of `bytes` (which begins with the opening flag); returns it
    /// and the number of bytes up to and including the closing flag.
    pub fn decode_prefix(bytes: &[u8]) -> std::result::Result<(Self, usize), DecodeError> {
        let mut r = Reader::new(bytes, "HDLC frame");
        r.expect(FLAG)?;
        let format_at = r.offset();
        let format = r.u16()?;
        let length = usize::from(format & 0x07FF);
        if format >> 12 != 0xA {
            return Err(r.invalid(format_at, "frame format type", u64::from(format >> 12)));
        }
        if length < 7 {
            return Err(r.invalid(format_at, "frame length", length as u64));
        }
        // The frame between the flags: format, header, [HCS, information,] FCS.
        let content = r.take(length - 2)?;
        let end = r.offset();
        r.expect(FLAG).map_err(|e| {
            DecodeError::new(
                e.offset,
                "HDLC frame",
                DecodeErrorKind::Invalid("no closing flag where the length field says"),
            )
        })?;
        let mut h = Reader::new(content, "HDLC frame").shifted(3);
        let destination = HdlcAddress::read(&mut h)?;
        let source = HdlcAddress::read(&mut h)?;
        let control_at = h.offset();
        let control_byte = h.u8()?;
        let control = Control::from_byte(control_byte)
            .ok_or_else(|| h.invalid(control_at, "control field", u64::from(control_byte)))?;
        let header_end = h.offset(); // offset in `bytes` of the first check byte
        let check = |from: usize, what: &'static str| -> Result<()> {
            let computed = crc16_x25(&bytes[1..from]);
            let rx = &bytes[from..from + 2];
            let received = u16::from_le_bytes([rx[0], rx[1]]);
            if computed != received {
                return Err(DecodeError::new(
                    from,
                    "HDLC frame",
                    DecodeErrorKind::BadChecksum {
                        what,
                        computed,
                        received,
                    },
                ));
            }
            Ok(())
        };
        let information = match (end - 2).checked_sub(header_end) {
            Some(0) => {
                check(header_end, "FCS")?;
                Vec::new()
            }
            Some(n) if n >= 2 => {
                check(header_end, "HCS")?;
                check(end - 2, "FCS")?;
                bytes[header_end + 2..end - 2].to_vec()
            }
            _ => {
                return Err(DecodeError::new(
                    header_end,
                    "HDLC frame",
                    DecodeErrorKind::Invalid("frame length does not fit its header"),
                ));
            }
        };
        Ok((
            HdlcFrame {
                segmented: format & 0x0800 != 0,
                destination,
                source,
                control,
                information,
            },
            end + 1,
        ))
    }
}

#[cfg(test)]
mod tests;
