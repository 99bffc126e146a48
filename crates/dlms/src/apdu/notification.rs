//! data-notification (guide §3.9): what meters push on HAN ports and push setups.

use crate::axdr::{CosemDateTime, Data};
use crate::error::DecodeError;
use crate::reader::{Reader, Result};

use super::common::read_data;

const TAG_DATA_NOTIFICATION: u8 = super::tag::DATA_NOTIFICATION;

/// data-notification: `0F | long-invoke-id-and-priority (4) | date-time | body`. The date-time
/// is an octet-string written as length and bytes without a data tag: `00` when absent, `0C` and
/// twelve bytes when present.
#[derive(Debug, Clone, PartialEq)]
pub struct DataNotification {
    pub long_invoke_id_and_priority: u32,
    pub date_time: Option<CosemDateTime>,
    pub body: Data,
}

impl DataNotification {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![TAG_DATA_NOTIFICATION];
        out.extend_from_slice(&self.long_invoke_id_and_priority.to_be_bytes());
        match &self.date_time {
            None => out.push(0),
            Some(dt) => {
                out.push(12);
                out.extend_from_slice(&dt.to_bytes());
            }
        }
        self.body.encode_into(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "data-notification");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("data-notification", |r| {
            r.expect(TAG_DATA_NOTIFICATION)?;
            let long_invoke_id_and_priority = r.u32()?;
            let at = r.offset();
            let date_time = match r.u8()? {
                0 => None,
                12 => Some(CosemDateTime::from_bytes(r.array()?)),
                other => return Err(r.invalid(at, "date-time length", u64::from(other))),
            };
            Ok(DataNotification {
                long_invoke_id_and_priority,
                date_time,
                body: read_data(r)?,
            })
        })
    }
}
