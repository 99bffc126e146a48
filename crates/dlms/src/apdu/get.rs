//! GET request and response (guide §3.2): normal, next block (acknowledging the block just
//! received), with list; responses normal, with data block, with list.

use super::common::{
    AttributeDescriptor, AttributeRequest, DataAccessResult, GetDataResult, InvokeIdAndPriority,
    SelectiveAccess, read_access, read_data, read_list, write_access, write_list,
};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::reader::{Reader, Result, write_axdr_length};

const TAG_GET_REQUEST: u8 = super::tag::GET_REQUEST;
const TAG_GET_RESPONSE: u8 = super::tag::GET_RESPONSE;

/// Bytes an A-XDR length prefix for `n` takes.
fn length_prefix_len(n: usize) -> usize {
    let mut v = Vec::new();
    write_axdr_length(&mut v, n);
    v.len()
}

/// get-request.
#[derive(Debug, Clone, PartialEq)]
pub enum GetRequest {
    Normal {
        invoke: InvokeIdAndPriority,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
    },
    /// Acknowledges block `block_number` and asks for the next one.
    Next {
        invoke: InvokeIdAndPriority,
        block_number: u32,
    },
    WithList {
        invoke: InvokeIdAndPriority,
        attributes: Vec<AttributeRequest>,
    },
}

impl GetRequest {
    pub fn normal(invoke: InvokeIdAndPriority, attribute: AttributeDescriptor) -> Self {
        GetRequest::Normal {
            invoke,
            attribute,
            access: None,
        }
    }

    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            GetRequest::Normal { invoke, .. }
            | GetRequest::Next { invoke, .. }
            | GetRequest::WithList { invoke, .. } => *invoke,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(TAG_GET_REQUEST);
        match self {
            GetRequest::Normal {
                invoke,
                attribute,
                access,
            } => {
                out.extend_from_slice(&[1, invoke.0]);
                attribute.write(out);
                write_access(out, access);
            }
            GetRequest::Next {
                invoke,
                block_number,
            } => {
                out.extend_from_slice(&[2, invoke.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            GetRequest::WithList { invoke, attributes } => {
                out.extend_from_slice(&[3, invoke.0]);
                write_list(out, attributes, |o, a| a.write(o));
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "get-request");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("get-request", |r| {
            r.expect(TAG_GET_REQUEST)?;
            let at = r.offset();
            let choice = r.u8()?;
            let invoke = InvokeIdAndPriority(r.u8()?);
            Ok(match choice {
                1 => GetRequest::Normal {
                    invoke,
                    attribute: AttributeDescriptor::read(r)?,
                    access: read_access(r)?,
                },
                2 => GetRequest::Next {
                    invoke,
                    block_number: r.u32()?,
                },
                3 => GetRequest::WithList {
                    invoke,
                    attributes: read_list(r, AttributeRequest::read)?,
                },
                other => return Err(r.invalid(at, "get-request choice", u64::from(other))),
            })
        })
    }
}

/// DataBlock-G result: a piece of the encoded value, or why the transfer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataBlockResult {
    RawData(Vec<u8>),
    Error(DataAccessResult),
}

/// DataBlock-G: one block of a GET answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetDataBlock {
    pub last_block: bool,
    /// Starts at 1.
    pub block_number: u32,
    pub result: DataBlockResult,
}

/// get-response.
#[derive(Debug, Clone, PartialEq)]
pub enum GetResponse {
    Normal {
        invoke: InvokeIdAndPriority,
        result: GetDataResult,
    },
    WithDatablock {
        invoke: InvokeIdAndPriority,
        block: GetDataBlock,
    },
    WithList {
        invoke: InvokeIdAndPriority,
        results: Vec<GetDataResult>,
    },
}

impl GetResponse {
    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            GetResponse::Normal { invoke, .. }
            | GetResponse::WithDatablock { invoke, .. }
            | GetResponse::WithList { invoke, .. } => *invoke,
        }
    }

    /// The answer to a GET whose encoded value is `data`: one Get-Response-Normal when it fits
    /// in `max_apdu` bytes (the client's max receive PDU size), otherwise
    /// Get-Response-With-Datablock APDUs numbered from 1, each filled up to `max_apdu` (guide
    /// §3.2). Ciphering overhead, if any, must already be taken off `max_apdu`.
    pub fn for_encoded_value(
        invoke: InvokeIdAndPriority,
        data: &[u8],
        max_apdu: usize,
    ) -> std::result::Result<Vec<GetResponse>, EncodeError> {
        // C4 01 iid 00 + data
        if 4 + data.len() <= max_apdu {
            let mut r = Reader::new(data, "GET answer");
            let value = read_data(&mut r)
                .and_then(|d| r.finish().map(|_| d))
                .map_err(|_| EncodeError::Invalid("the value is not one encoded A-XDR Data"))?;
            return Ok(vec![GetResponse::Normal {
                invoke,
                result: GetDataResult::Data(value),
            }]);
        }
        // C4 02 iid last(1) number(4) choice(1) = 9 bytes, then the raw-data length prefix.
        let chunk = (1..=5)
            .filter_map(|prefix| {
                let room = max_apdu.checked_sub(9 + prefix)?;
                (length_prefix_len(room) <= prefix && room > 0).then_some(room)
            })
            .max()
            .ok_or(EncodeError::OutOfRange {
                what: "maximum PDU size",
                value: max_apdu as u64,
                range: "11..",
            })?;
        let n = data.len().div_ceil(chunk);
        data.chunks(chunk)
            .enumerate()
            .map(|(i, c)| {
                let block_number = u32::try_from(i + 1).map_err(|_| EncodeError::TooLong {
                    what: "value for block transfer",
                    len: data.len(),
                    max: chunk.saturating_mul(u32::MAX as usize),
                })?;
                Ok(GetResponse::WithDatablock {
                    invoke,
                    block: GetDataBlock {
                        last_block: i + 1 == n,
                        block_number,
                        result: DataBlockResult::RawData(c.to_vec()),
                    },
                })
            })
            .collect()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(TAG_GET_RESPONSE);
        match self {
            GetResponse::Normal { invoke, result } => {
                out.extend_from_slice(&[1, invoke.0]);
                result.write(out);
            }
            GetResponse::WithDatablock { invoke, block } => {
                out.extend_from_slice(&[2, invoke.0, u8::from(block.last_block)]);
                out.extend_from_slice(&block.block_number.to_be_bytes());
                match &block.result {
                    DataBlockResult::RawData(d) => {
                        out.push(0);
                        write_axdr_length(out, d.len());
                        out.extend_from_slice(d);
                    }
                    DataBlockResult::Error(e) => out.extend_from_slice(&[1, e.to_u8()]),
                }
            }
            GetResponse::WithList { invoke, results } => {
                out.extend_from_slice(&[3, invoke.0]);
                write_list(out, results, |o, r| r.write(o));
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "get-response");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("get-response", |r| {
            r.expect(TAG_GET_RESPONSE)?;
            let at = r.offset();
            let choice = r.u8()?;
            let invoke = InvokeIdAndPriority(r.u8()?);
            Ok(match choice {
                1 => GetResponse::Normal {
                    invoke,
                    result: GetDataResult::read(r)?,
                },
                2 => {
                    let last_block = r.u8()? != 0;
                    let block_number = r.u32()?;
                    let c_at = r.offset();
                    let result = match r.u8()? {
                        0 => {
                            let n = r.axdr_byte_length()?;
                            DataBlockResult::RawData(r.take(n)?.to_vec())
                        }
                        1 => DataBlockResult::Error(DataAccessResult::read(r)?),
                        other => {
                            return Err(r.err_at(
                                c_at,
                                DecodeErrorKind::InvalidValue {
                                    what: "DataBlock-G result choice",
                                    value: u64::from(other),
                                },
                            ));
                        }
                    };
                    GetResponse::WithDatablock {
                        invoke,
                        block: GetDataBlock {
                            last_block,
                            block_number,
                            result,
                        },
                    }
                }
                3 => GetResponse::WithList {
                    invoke,
                    results: read_list(r, GetDataResult::read)?,
                },
                other => return Err(r.invalid(at, "get-response choice", u64::from(other))),
            })
        })
    }
}
