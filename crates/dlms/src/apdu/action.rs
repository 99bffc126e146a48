//! ACTION request and response (guide §3.4), including the parameter-block forms.

use super::common::{
    DataAccessResult, DataBlock, GetDataResult, InvokeIdAndPriority, MethodDescriptor, read_data,
    read_flag, read_list, write_list,
};
use crate::axdr::Data;
use crate::error::DecodeError;
use crate::reader::{Reader, Result};

const TAG_ACTION_REQUEST: u8 = super::tag::ACTION_REQUEST;
const TAG_ACTION_RESPONSE: u8 = super::tag::ACTION_RESPONSE;

fn write_optional_data(out: &mut Vec<u8>, d: &Option<Data>) {
    match d {
        None => out.push(0),
        Some(d) => {
            out.push(1);
            d.encode_into(out);
        }
    }
}

fn read_optional_data(r: &mut Reader<'_>) -> Result<Option<Data>> {
    if read_flag(r, "optional parameters flag")? {
        Ok(Some(read_data(r)?))
    } else {
        Ok(None)
    }
}

/// action-request.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionRequest {
    Normal {
        invoke: InvokeIdAndPriority,
        method: MethodDescriptor,
        /// Blue Book methods without a real parameter still take `integer(0)` by convention.
        parameters: Option<Data>,
    },
    /// Acknowledges a block of the return parameters and asks for the next one.
    NextPblock {
        invoke: InvokeIdAndPriority,
        block_number: u32,
    },
    WithList {
        invoke: InvokeIdAndPriority,
        methods: Vec<MethodDescriptor>,
        parameters: Vec<Data>,
    },
    WithFirstPblock {
        invoke: InvokeIdAndPriority,
        method: MethodDescriptor,
        block: DataBlock,
    },
    WithListAndFirstPblock {
        invoke: InvokeIdAndPriority,
        methods: Vec<MethodDescriptor>,
        block: DataBlock,
    },
    WithPblock {
        invoke: InvokeIdAndPriority,
        block: DataBlock,
    },
}

impl ActionRequest {
    pub fn normal(
        invoke: InvokeIdAndPriority,
        method: MethodDescriptor,
        parameters: Option<Data>,
    ) -> Self {
        ActionRequest::Normal {
            invoke,
            method,
            parameters,
        }
    }

    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            ActionRequest::Normal { invoke, .. }
            | ActionRequest::NextPblock { invoke, .. }
            | ActionRequest::WithList { invoke, .. }
            | ActionRequest::WithFirstPblock { invoke, .. }
            | ActionRequest::WithListAndFirstPblock { invoke, .. }
            | ActionRequest::WithPblock { invoke, .. } => *invoke,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(TAG_ACTION_REQUEST);
        match self {
            ActionRequest::Normal {
                invoke,
                method,
                parameters,
            } => {
                out.extend_from_slice(&[1, invoke.0]);
                method.write(out);
                write_optional_data(out, parameters);
            }
            ActionRequest::NextPblock {
                invoke,
                block_number,
            } => {
                out.extend_from_slice(&[2, invoke.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            ActionRequest::WithList {
                invoke,
                methods,
                parameters,
            } => {
                out.extend_from_slice(&[3, invoke.0]);
                write_list(out, methods, |o, m| m.write(o));
                write_list(out, parameters, |o, d| d.encode_into(o));
            }
            ActionRequest::WithFirstPblock {
                invoke,
                method,
                block,
            } => {
                out.extend_from_slice(&[4, invoke.0]);
                method.write(out);
                block.write(out);
            }
            ActionRequest::WithListAndFirstPblock {
                invoke,
                methods,
                block,
            } => {
                out.extend_from_slice(&[5, invoke.0]);
                write_list(out, methods, |o, m| m.write(o));
                block.write(out);
            }
            ActionRequest::WithPblock { invoke, block } => {
                out.extend_from_slice(&[6, invoke.0]);
                block.write(out);
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "action-request");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("action-request", |r| {
            r.expect(TAG_ACTION_REQUEST)?;
            let at = r.offset();
            let choice = r.u8()?;
            let invoke = InvokeIdAndPriority(r.u8()?);
            Ok(match choice {
                1 => ActionRequest::Normal {
                    invoke,
                    method: MethodDescriptor::read(r)?,
                    parameters: read_optional_data(r)?,
                },
                2 => ActionRequest::NextPblock {
                    invoke,
                    block_number: r.u32()?,
                },
                3 => ActionRequest::WithList {
                    invoke,
                    methods: read_list(r, MethodDescriptor::read)?,
                    parameters: read_list(r, read_data)?,
                },
                4 => ActionRequest::WithFirstPblock {
                    invoke,
                    method: MethodDescriptor::read(r)?,
                    block: DataBlock::read(r)?,
                },
                5 => ActionRequest::WithListAndFirstPblock {
                    invoke,
                    methods: read_list(r, MethodDescriptor::read)?,
                    block: DataBlock::read(r)?,
                },
                6 => ActionRequest::WithPblock {
                    invoke,
                    block: DataBlock::read(r)?,
                },
                other => return Err(r.invalid(at, "action-request choice", u64::from(other))),
            })
        })
    }
}

/// Action-Response-With-Optional-Data: the result and, optionally, return parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResult {
    pub result: DataAccessResult,
    pub return_parameters: Option<GetDataResult>,
}

impl ActionResult {
    pub fn success() -> Self {
        ActionResult {
            result: DataAccessResult::Success,
            return_parameters: None,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.result.to_u8());
        match &self.return_parameters {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                p.write(out);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let result = DataAccessResult::read(r)?;
        let return_parameters = if read_flag(r, "return parameters flag")? {
            Some(GetDataResult::read(r)?)
        } else {
            None
        };
        Ok(ActionResult {
            result,
            return_parameters,
        })
    }
}

/// action-response.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionResponse {
    Normal {
        invoke: InvokeIdAndPriority,
        response: ActionResult,
    },
    WithPblock {
        invoke: InvokeIdAndPriority,
        block: DataBlock,
    },
    WithList {
        invoke: InvokeIdAndPriority,
        responses: Vec<ActionResult>,
    },
    /// Acknowledges a block of the request parameters.
    NextPblock {
        invoke: InvokeIdAndPriority,
        block_number: u32,
    },
}

impl ActionResponse {
    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            ActionResponse::Normal { invoke, .. }
            | ActionResponse::WithPblock { invoke, .. }
            | ActionResponse::WithList { invoke, .. }
            | ActionResponse::NextPblock { invoke, .. } => *invoke,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(TAG_ACTION_RESPONSE);
        match self {
            ActionResponse::Normal { invoke, response } => {
                out.extend_from_slice(&[1, invoke.0]);
                response.write(out);
            }
            ActionResponse::WithPblock { invoke, block } => {
                out.extend_from_slice(&[2, invoke.0]);
                block.write(out);
            }
            ActionResponse::WithList { invoke, responses } => {
                out.extend_from_slice(&[3, invoke.0]);
                write_list(out, responses, |o, x| x.write(o));
            }
            ActionResponse::NextPblock {
                invoke,
                block_number,
            } => {
                out.extend_from_slice(&[4, invoke.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "action-response");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("action-response", |r| {
            r.expect(TAG_ACTION_RESPONSE)?;
            let at = r.offset();
            let choice = r.u8()?;
            let invoke = InvokeIdAndPriority(r.u8()?);
            Ok(match choice {
                1 => ActionResponse::Normal {
                    invoke,
                    response: ActionResult::read(r)?,
                },
                2 => ActionResponse::WithPblock {
                    invoke,
                    block: DataBlock::read(r)?,
                },
                3 => ActionResponse::WithList {
                    invoke,
                    responses: read_list(r, ActionResult::read)?,
                },
                4 => ActionResponse::NextPblock {
                    invoke,
                    block_number: r.u32()?,
                },
                other => return Err(r.invalid(at, "action-response choice", u64::from(other))),
            })
        })
    }
}
