//! SET request and response (guide §3.3), including the block forms.

use super::common::{
    AttributeDescriptor, AttributeRequest, DataAccessResult, DataBlock, InvokeIdAndPriority,
    SelectiveAccess, read_access, read_data, read_list, write_access, write_list,
};
use crate::axdr::Data;
use crate::error::DecodeError;
use crate::reader::{Reader, Result};

const TAG_SET_REQUEST: u8 = super::tag::SET_REQUEST;
const TAG_SET_RESPONSE: u8 = super::tag::SET_RESPONSE;

/// set-request.
#[derive(Debug, Clone, PartialEq)]
pub enum SetRequest {
    Normal {
        invoke: InvokeIdAndPriority,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
        value: Data,
    },
    WithFirstDatablock {
        invoke: InvokeIdAndPriority,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
        block: DataBlock,
    },
    WithDatablock {
        invoke: InvokeIdAndPriority,
        block: DataBlock,
    },
    WithList {
        invoke: InvokeIdAndPriority,
        attributes: Vec<AttributeRequest>,
        values: Vec<Data>,
    },
    WithListAndFirstDatablock {
        invoke: InvokeIdAndPriority,
        attributes: Vec<AttributeRequest>,
        block: DataBlock,
    },
}

impl SetRequest {
    pub fn normal(
        invoke: InvokeIdAndPriority,
        attribute: AttributeDescriptor,
        value: Data,
    ) -> Self {
        SetRequest::Normal {
            invoke,
            attribute,
            access: None,
            value,
        }
    }

    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            SetRequest::Normal { invoke, .. }
            | SetRequest::WithFirstDatablock { invoke, .. }
            | SetRequest::WithDatablock { invoke, .. }
            | SetRequest::WithList { invoke, .. }
            | SetRequest::WithListAndFirstDatablock { invoke, .. } => *invoke,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(TAG_SET_REQUEST);
        match self {
            SetRequest::Normal {
                invoke,
                attribute,
                access,
                value,
            } => {
                out.extend_from_slice(&[1, invoke.0]);
                attribute.write(out);
                write_access(out, access);
                value.encode_into(out);
            }
            SetRequest::WithFirstDatablock {
                invoke,
                attribute,
                access,
                block,
            } => {
                out.extend_from_slice(&[2, invoke.0]);
                attribute.write(out);
                write_access(out, access);
                block.write(out);
            }
            SetRequest::WithDatablock { invoke, block } => {
                out.extend_from_slice(&[3, invoke.0]);
                block.write(out);
            }
            SetRequest::WithList {
                invoke,
                attributes,
                values,
            } => {
                out.extend_from_slice(&[4, invoke.0]);
                write_list(out, attributes, |o, a| a.write(o));
                write_list(out, values, |o, v| v.encode_into(o));
            }
            SetRequest::WithListAndFirstDatablock {
                invoke,
                attributes,
                block,
            } => {
                out.extend_from_slice(&[5, invoke.0]);
                write_list(out, attributes, |o, a| a.write(o));
                block.write(out);
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "set-request");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("set-request", |r| {
            r.expect(TAG_SET_REQUEST)?;
            let at = r.offset();
            let choice = r.u8()?;
            let invoke = InvokeIdAndPriority(r.u8()?);
            Ok(match choice {
                1 => SetRequest::Normal {
                    invoke,
                    attribute: AttributeDescriptor::read(r)?,
                    access: read_access(r)?,
                    value: read_data(r)?,
                },
                2 => SetRequest::WithFirstDatablock {
                    invoke,
                    attribute: AttributeDescriptor::read(r)?,
                    access: read_access(r)?,
                    block: DataBlock::read(r)?,
                },
                3 => SetRequest::WithDatablock {
                    invoke,
                    block: DataBlock::read(r)?,
                },
                4 => SetRequest::WithList {
                    invoke,
                    attributes: read_list(r, AttributeRequest::read)?,
                    values: read_list(r, read_data)?,
                },
                5 => SetRequest::WithListAndFirstDatablock {
                    invoke,
                    attributes: read_list(r, AttributeRequest::read)?,
                    block: DataBlock::read(r)?,
                },
                other => return Err(r.invalid(at, "set-request choice", u64::from(other))),
            })
        })
    }
}

/// set-response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetResponse {
    Normal {
        invoke: InvokeIdAndPriority,
        result: DataAccessResult,
    },
    /// Acknowledges a non-final block.
    Datablock {
        invoke: InvokeIdAndPriority,
        block_number: u32,
    },
    LastDatablock {
        invoke: InvokeIdAndPriority,
        result: DataAccessResult,
        block_number: u32,
    },
    LastDatablockWithList {
        invoke: InvokeIdAndPriority,
        results: Vec<DataAccessResult>,
        block_number: u32,
    },
    WithList {
        invoke: InvokeIdAndPriority,
        results: Vec<DataAccessResult>,
    },
}

impl SetResponse {
    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            SetResponse::Normal { invoke, .. }
            | SetResponse::Datablock { invoke, .. }
            | SetResponse::LastDatablock { invoke, .. }
            | SetResponse::LastDatablockWithList { invoke, .. }
            | SetResponse::WithList { invoke, .. } => *invoke,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(TAG_SET_RESPONSE);
        let results = |out: &mut Vec<u8>, v: &[DataAccessResult]| {
            write_list(out, v, |o, r| o.push(r.to_u8()));
        };
        match self {
            SetResponse::Normal { invoke, result } => {
                out.extend_from_slice(&[1, invoke.0, result.to_u8()]);
            }
            SetResponse::Datablock {
                invoke,
                block_number,
            } => {
                out.extend_from_slice(&[2, invoke.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            SetResponse::LastDatablock {
                invoke,
                result,
                block_number,
            } => {
                out.extend_from_slice(&[3, invoke.0, result.to_u8()]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            SetResponse::LastDatablockWithList {
                invoke,
                results: v,
                block_number,
            } => {
                out.extend_from_slice(&[4, invoke.0]);
                results(out, v);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            SetResponse::WithList { invoke, results: v } => {
                out.extend_from_slice(&[5, invoke.0]);
                results(out, v);
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "set-response");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("set-response", |r| {
            r.expect(TAG_SET_RESPONSE)?;
            let at = r.offset();
            let choice = r.u8()?;
            let invoke = InvokeIdAndPriority(r.u8()?);
            Ok(match choice {
                1 => SetResponse::Normal {
                    invoke,
                    result: DataAccessResult::read(r)?,
                },
                2 => SetResponse::Datablock {
                    invoke,
                    block_number: r.u32()?,
                },
                3 => SetResponse::LastDatablock {
                    invoke,
                    result: DataAccessResult::read(r)?,
                    block_number: r.u32()?,
                },
                4 => SetResponse::LastDatablockWithList {
                    invoke,
                    results: read_list(r, DataAccessResult::read)?,
                    block_number: r.u32()?,
                },
                5 => SetResponse::WithList {
                    invoke,
                    results: read_list(r, DataAccessResult::read)?,
                },
                other => return Err(r.invalid(at, "set-response choice", u64::from(other))),
            })
        })
    }
}
