//! Errors in two layers, as a user needs them: the meter's own refusals ([`MeterError`], an
//! `ERRn` reply or a rejected password) are kept apart from link failures and broken frames.

use std::io;

use crate::frame::FrameError;

/// The meter answered, and said no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeterError {
    #[error("meter refused the password (NAK to P2)")]
    WrongPassword,
    #[error("meter replied ERR{code} ({}) to {request}", err_text(*code))]
    Err { code: u8, request: String },
}

/// The text the dialect gives each `ERRn` code (protocol guide §4.6).
pub fn err_text(code: u8) -> &'static str {
    match code {
        1 => "invalid command",
        2 => "data identity does not exist in this meter",
        3 => "invalid packet number or length",
        4 => "unknown error 4",
        5 => "data identity locked: password timed out or access level too low",
        6 => "general communications error",
        _ => "unknown error",
    }
}

/// Everything that can end a FLAG session.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    #[error("the meter did not answer {during} within {timeout_ms} ms")]
    Timeout { during: String, timeout_ms: u64 },
    #[error("connection closed by the meter during {during}")]
    Closed { during: String },
    #[error("broken frame during {during}: {source}")]
    Frame {
        during: String,
        #[source]
        source: FrameError,
    },
    #[error("unexpected reply during {during}: {detail}")]
    Protocol { during: String, detail: String },
    #[error("{during}: gave up after {attempts} attempts; last problem: {last}")]
    RetriesExhausted {
        during: String,
        attempts: u32,
        last: String,
    },
    #[error(transparent)]
    Meter(#[from] MeterError),
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn protocol(during: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Protocol {
            during: during.into(),
            detail: detail.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
