//! The HDLC parameter negotiation block carried in SNRM and UA (guide §1.2.6):
//! `81 80 LL` then `05` max information length transmit, `06` receive, `07` window transmit,
//! `08` window receive, each `id len value` with a big-endian value.
//!
//! Each side writes its own view: in an SNRM "transmit" is the client's, in a UA the server's.
//! [`HdlcParameters::swapped`] turns one view into the other.

use crate::error::{DecodeError, DecodeErrorKind};
use crate::reader::Reader;

const FORMAT_ID: u8 = 0x81;
const GROUP_HDLC: u8 = 0x80;
const MAX_INFO_TX: u8 = 0x05;
const MAX_INFO_RX: u8 = 0x06;
const WINDOW_TX: u8 = 0x07;
const WINDOW_RX: u8 = 0x08;

/// Negotiated HDLC limits from one side's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HdlcParameters {
    /// Longest information field this side sends.
    pub max_info_transmit: u16,
    /// Longest information field this side accepts.
    pub max_info_receive: u16,
    /// Frames this side sends before waiting for an acknowledgement.
    pub window_transmit: u8,
    /// Frames this side accepts before acknowledging.
    pub window_receive: u8,
}

impl Default for HdlcParameters {
    /// The values that hold when a parameter or the whole block is absent: 128 bytes, window 1.
    fn default() -> Self {
        HdlcParameters {
            max_info_transmit: 128,
            max_info_receive: 128,
            window_transmit: 1,
            window_receive: 1,
        }
    }
}

impl HdlcParameters {
    /// The longest information field the standard allows.
    pub const MAX_INFO_LENGTH: u16 = 2030;
    /// The largest window.
    pub const MAX_WINDOW: u8 = 7;

    /// The same limits seen from the peer: what one side transmits the other receives.
    pub fn swapped(self) -> Self {
        HdlcParameters {
            max_info_transmit: self.max_info_receive,
            max_info_receive: self.max_info_transmit,
            window_transmit: self.window_receive,
            window_receive: self.window_transmit,
        }
    }

    /// The values brought into the allowed ranges: information 1–2030 bytes, window 1–7.
    pub fn clamped(self) -> Self {
        HdlcParameters {
            max_info_transmit: self.max_info_transmit.clamp(1, Self::MAX_INFO_LENGTH),
            max_info_receive: self.max_info_receive.clamp(1, Self::MAX_INFO_LENGTH),
            window_transmit: self.window_transmit.clamp(1, Self::MAX_WINDOW),
            window_receive: self.window_receive.clamp(1, Self::MAX_WINDOW),
        }
    }

    /// A server's answer to a client's SNRM proposal (client view), given what the server can do
    /// (server view): the smaller value in each direction, in the server's view, ready for the UA.
    pub fn answer(proposal: HdlcParameters, capability: HdlcParameters) -> HdlcParameters {
        let client = proposal.clamped();
        let own = capability.clamped();
        HdlcParameters {
            max_info_transmit: own.max_info_transmit.min(client.max_info_receive),
            max_info_receive: own.max_info_receive.min(client.max_info_transmit),
            window_transmit: own.window_transmit.min(client.window_receive),
            window_receive: own.window_receive.min(client.window_transmit),
        }
    }

    /// The information field of an SNRM or UA. Lengths take one byte when they fit, else two;
    /// windows take four bytes, as real meters send them.
    pub fn encode(&self) -> Vec<u8> {
        let mut group = Vec::with_capacity(20);
        for (id, v) in [
            (MAX_INFO_TX, self.max_info_transmit),
            (MAX_INFO_RX, self.max_info_receive),
        ] {
            group.push(id);
            if let Ok(b) = u8::try_from(v) {
                group.extend_from_slice(&[1, b]);
            } else {
                group.push(2);
                group.extend_from_slice(&v.to_be_bytes());
            }
        }
        for (id, v) in [
            (WINDOW_TX, self.window_transmit),
            (WINDOW_RX, self.window_receive),
        ] {
            group.extend_from_slice(&[id, 4]);
            group.extend_from_slice(&u32::from(v).to_be_bytes());
        }
        let mut out = vec![FORMAT_ID, GROUP_HDLC, group.len() as u8];
        out.extend_from_slice(&group);
        out
    }

    /// Reads an SNRM or UA information field. An empty field, or absent parameters, mean the
    /// defaults; unknown parameters and other groups (the user group `F0`) are skipped. Values
    /// are returned as sent: use [`HdlcParameters::clamped`] before relying on them.
    pub fn decode(info: &[u8]) -> Result<Self, DecodeError> {
        let mut p = HdlcParameters::default();
        if info.is_empty() {
            return Ok(p);
        }
        let mut r = Reader::new(info, "HDLC parameters");
        r.expect(FORMAT_ID)?;
        while !r.is_empty() {
            let group_id = r.u8()?;
            let len = usize::from(r.u8()?);
            let mut g = r.sub(len, "HDLC parameter group")?;
            if group_id != GROUP_HDLC {
                continue;
            }
            while !g.is_empty() {
                let id = g.u8()?;
                let vlen = usize::from(g.u8()?);
                let at = g.offset();
                if vlen > 4 {
                    return Err(g.err_at(
                        at - 1,
                        DecodeErrorKind::InvalidValue {
                            what: "parameter value length",
                            value: vlen as u64,
                        },
                    ));
                }
                let value = g
                    .take(vlen)?
                    .iter()
                    .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
                let too_big = |what| {
                    DecodeError::new(
                        at,
                        "HDLC parameters",
                        DecodeErrorKind::InvalidValue {
                            what,
                            value: u64::from(value),
                        },
                    )
                };
                match id {
                    MAX_INFO_TX if vlen > 0 => {
                        p.max_info_transmit = u16::try_from(value)
                            .map_err(|_| too_big("maximum information length"))?;
                    }
                    MAX_INFO_RX if vlen > 0 => {
                        p.max_info_receive = u16::try_from(value)
                            .map_err(|_| too_big("maximum information length"))?;
                    }
                    WINDOW_TX if vlen > 0 => {
                        p.window_transmit =
                            u8::try_from(value).map_err(|_| too_big("window size"))?;
                    }
                    WINDOW_RX if vlen > 0 => {
                        p.window_receive =
                            u8::try_from(value).map_err(|_| too_big("window size"))?;
                    }
                    _ => {}
                }
            }
        }
        Ok(p)
    }
}
