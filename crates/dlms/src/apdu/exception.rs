//! exception-response (guide §3.7): the server's answer to an APDU it cannot or will not process
//! at all (before association, unsupported tag, PDU too long, deciphering failure).

use std::fmt;

use crate::error::DecodeError;
use crate::reader::{Reader, Result};

const TAG_EXCEPTION_RESPONSE: u8 = super::tag::EXCEPTION_RESPONSE;

/// The state-error of an exception response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateError {
    ServiceNotAllowed,
    ServiceUnknown,
    Other(u8),
}

impl StateError {
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => StateError::ServiceNotAllowed,
            2 => StateError::ServiceUnknown,
            other => StateError::Other(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            StateError::ServiceNotAllowed => 1,
            StateError::ServiceUnknown => 2,
            StateError::Other(v) => v,
        }
    }
}

/// The service-error of an exception response.
///
/// Choice 6, invocation-counter-error, is followed by the counter the server expects as four
/// bytes (guide §3.7). No real capture of it is known (guide §9.2 item 2), so a choice 6 without
/// the four bytes is accepted too and decodes with `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceError {
    OperationNotPossible,
    ServiceNotSupported,
    OtherReason,
    PduTooLong,
    DecipheringError,
    InvocationCounterError(Option<u32>),
    Other(u8),
}

impl ServiceError {
    fn code(self) -> u8 {
        match self {
            ServiceError::OperationNotPossible => 1,
            ServiceError::ServiceNotSupported => 2,
            ServiceError::OtherReason => 3,
            ServiceError::PduTooLong => 4,
            ServiceError::DecipheringError => 5,
            ServiceError::InvocationCounterError(_) => 6,
            ServiceError::Other(v) => v,
        }
    }
}

/// exception-response: `D8 state-error service-error [expected invocation counter]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExceptionResponse {
    pub state_error: StateError,
    pub service_error: ServiceError,
}

impl ExceptionResponse {
    pub fn new(state_error: StateError, service_error: ServiceError) -> Self {
        ExceptionResponse {
            state_error,
            service_error,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![
            TAG_EXCEPTION_RESPONSE,
            self.state_error.to_u8(),
            self.service_error.code(),
        ];
        if let ServiceError::InvocationCounterError(Some(ic)) = self.service_error {
            out.extend_from_slice(&ic.to_be_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "exception-response");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("exception-response", |r| {
            r.expect(TAG_EXCEPTION_RESPONSE)?;
            let state_error = StateError::from_u8(r.u8()?);
            let service_error = match r.u8()? {
                1 => ServiceError::OperationNotPossible,
                2 => ServiceError::ServiceNotSupported,
                3 => ServiceError::OtherReason,
                4 => ServiceError::PduTooLong,
                5 => ServiceError::DecipheringError,
                6 if r.remaining() >= 4 => ServiceError::InvocationCounterError(Some(r.u32()?)),
                6 => ServiceError::InvocationCounterError(None),
                other => ServiceError::Other(other),
            };
            Ok(ExceptionResponse {
                state_error,
                service_error,
            })
        })
    }
}

impl fmt::Display for ExceptionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state_error {
            StateError::ServiceNotAllowed => "service not allowed",
            StateError::ServiceUnknown => "service unknown",
            StateError::Other(_) => "unknown state error",
        };
        write!(f, "exception response: {state}, ")?;
        match self.service_error {
            ServiceError::OperationNotPossible => f.write_str("operation not possible"),
            ServiceError::ServiceNotSupported => f.write_str("service not supported"),
            ServiceError::OtherReason => f.write_str("other reason"),
            ServiceError::PduTooLong => f.write_str("PDU too long"),
            ServiceError::DecipheringError => f.write_str("deciphering error"),
            ServiceError::InvocationCounterError(Some(ic)) => {
                write!(f, "invocation counter error, expected {ic}")
            }
            ServiceError::InvocationCounterError(None) => f.write_str("invocation counter error"),
            ServiceError::Other(v) => write!(f, "service error {v}"),
        }
    }
}
