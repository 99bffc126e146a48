//! general-block-transfer (guide §3.5): any complete APDU, typically an already ciphered one, cut
//! into numbered blocks. Only the APDU is here; the streaming and window rules are left to the
//! session layer (guide §9.2 item 3 lists them as uncertain, and recommends not proposing GBT).

use crate::error::DecodeError;
use crate::reader::{Reader, Result, write_axdr_length};

const TAG_GENERAL_BLOCK_TRANSFER: u8 = super::tag::GENERAL_BLOCK_TRANSFER;

/// general-block-transfer: `E0 | block-control | block-number (2) | block-number-ack (2) |
/// block-data (A-XDR length + bytes)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneralBlockTransfer {
    /// Block-control bit 7.
    pub last_block: bool,
    /// Block-control bit 6.
    pub streaming: bool,
    /// Block-control bits 5..0.
    pub window: u8,
    /// Starts at 1.
    pub block_number: u16,
    /// The last block received from the peer (0 before any).
    pub block_number_ack: u16,
    pub block_data: Vec<u8>,
}

impl GeneralBlockTransfer {
    pub fn block_control(&self) -> u8 {
        (u8::from(self.last_block) << 7) | (u8::from(self.streaming) << 6) | (self.window & 0x3F)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![TAG_GENERAL_BLOCK_TRANSFER, self.block_control()];
        out.extend_from_slice(&self.block_number.to_be_bytes());
        out.extend_from_slice(&self.block_number_ack.to_be_bytes());
        write_axdr_length(&mut out, self.block_data.len());
        out.extend_from_slice(&self.block_data);
        out
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "general-block-transfer");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("general-block-transfer", |r| {
            r.expect(TAG_GENERAL_BLOCK_TRANSFER)?;
            let control = r.u8()?;
            let block_number = r.u16()?;
            let block_number_ack = r.u16()?;
            let n = r.axdr_byte_length()?;
            Ok(GeneralBlockTransfer {
                last_block: control & 0x80 != 0,
                streaming: control & 0x40 != 0,
                window: control & 0x3F,
                block_number,
                block_number_ack,
                block_data: r.take(n)?.to_vec(),
            })
        })
    }
}
