//! The DLMS/COSEM client: a session with one meter over any `AsyncRead + AsyncWrite` byte
//! stream, and a meter reader that turns what the meter holds into a
//! [`Reading`](metermaster_model::Reading).
//!
//! Three layers, each usable alone:
//!
//! * [`link`]: moves whole APDUs. Over the TCP wrapper (guide §1.1) that is an 8-byte header in
//!   front of each APDU; over HDLC (§1.2) it is SNRM/UA with parameter negotiation, I-frames with
//!   sequence numbers, segmentation both ways with RR polling (window 1), retransmission after a
//!   time-out or a frame with a bad check sequence, and DISC at the end.
//! * [`session`]: the association (AARQ/AARE with no authentication, LLS or HLS-GMAC with
//!   passes 3 and 4; plain or ciphered context with global or dedicated ciphering), the GET,
//!   SET and ACTION services with their block forms, and release (RLRQ/RLRE). Every refusal of
//!   the meter is a [`MeterError`]; everything else that goes wrong is an [`Error`] naming the
//!   step.
//! * [`optical`]: the IEC 62056-21 mode-E opening of an optical port (300 Bd 7E1 sign-on, then
//!   HDLC at the speed the meter offers).
//! * [`reader`]: a whole meter read. It reads the object list and maps what it finds (identity,
//!   clock, registers, maximum demands, instantaneous values, load profile, event logs) rather
//!   than assuming one vendor's layout.
//!
//! Choices the guide leaves open (§9.2) are documented where they are made: HDLC retransmission
//! repeats the unanswered frame (the meter is expected to answer a repeated N(S) with its last
//! response); the reader converts cumulative registers captured in a load profile into energy per
//! interval; profile status bits and event codes follow the IDIS/DSMR conventions.

pub mod link;
mod names;
mod objects;
pub mod optical;
pub mod reader;
pub mod session;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;

pub use link::{Link, LinkOptions, Transport, open_serial};
pub use optical::{ModeEOpening, ModeEOptions, OpticalPort, enter_mode_e, open_optical};
pub use reader::{ReadOptions, TimePolicy, read_meter};
pub use session::{
    Authentication, Ciphering, DlmsClient, Negotiated, SecuritySettings, SessionOptions,
};

use crate::apdu::{
    AssociationResult, ConfirmedServiceError, DataAccessResult, ExceptionResponse,
    ResultSourceDiagnostic,
};
use crate::error::{DecodeError, EncodeError, ValueError};
use crate::security::SecurityError;

/// Counters of what crossed the link (the same figures the FLAG client keeps).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Requests sent and answered (APDU exchanges, HDLC connect and disconnect included).
    pub exchanges: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Frames sent again after a time-out or a broken answer.
    pub retransmissions: u32,
}

impl LinkStats {
    /// Adds another session's counters (a read that needed several connections).
    pub fn add(&mut self, other: &LinkStats) {
        self.exchanges += other.exchanges;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.retransmissions += other.retransmissions;
    }
}

/// The meter answered, and said no.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeterError {
    /// The AARE refused the association (a wrong LLS password gives diagnostic 13,
    /// authentication failure).
    #[error("the meter refused the association ({}): {diagnostic}{}", result_text(*.result), detail_text(.detail))]
    AssociationRejected {
        result: AssociationResult,
        diagnostic: ResultSourceDiagnostic,
        /// The xDLMS-level reason, when the AARE carried a confirmedServiceError.
        detail: Option<ConfirmedServiceError>,
    },
    /// HLS pass 3 was refused: the meter did not accept our answer to its challenge.
    #[error(
        "the meter refused our HLS-GMAC answer ({result}): wrong authentication key or system title"
    )]
    HlsRefused { result: DataAccessResult },
    /// A GET, SET or ACTION came back with a data-access-result (or action-result) other than
    /// success.
    #[error("{during}: the meter answered {result}")]
    DataAccess {
        during: String,
        result: DataAccessResult,
    },
    /// The meter could not or would not process a request at all.
    #[error("{during}: the meter sent an exception response: {response}")]
    Exception {
        during: String,
        response: ExceptionResponse,
    },
    /// The HDLC link was refused or dropped by the meter (DM or FRMR).
    #[error("{during}: the meter {what}")]
    Link { during: String, what: String },
}

fn result_text(r: AssociationResult) -> &'static str {
    match r {
        AssociationResult::Accepted => "accepted",
        AssociationResult::RejectedPermanent => "rejected permanently",
        AssociationResult::RejectedTransient => "rejected transiently",
    }
}

fn detail_text(d: &Option<ConfirmedServiceError>) -> String {
    d.as_ref().map(|e| format!("; {e}")).unwrap_or_default()
}

/// Everything that can end a DLMS session.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OS error is in the message (not also a `source`, which would print it twice).
    #[error("{during}: connection: {error}")]
    Io { during: String, error: io::Error },
    #[error("the meter did not answer {during} within {timeout_ms} ms")]
    Timeout { during: String, timeout_ms: u64 },
    #[error("connection closed by the meter during {during}")]
    Closed { during: String },
    /// Bytes from the meter that do not decode.
    #[error("{during}: {source}")]
    Decode {
        during: String,
        #[source]
        source: DecodeError,
    },
    /// An answer that decodes but is not what the request calls for.
    #[error("unexpected answer during {during}: {detail}")]
    Protocol { during: String, detail: String },
    /// A value of the right APDU that does not have the shape the attribute needs.
    #[error("{during}: {source}")]
    Value {
        during: String,
        #[source]
        source: ValueError,
    },
    /// Ciphering or authentication with the keys failed (wrong key, replayed counter ...).
    #[error("{during}: {source}")]
    Security {
        during: String,
        #[source]
        source: SecurityError,
    },
    #[error("{during}: gave up after {attempts} attempts; last problem: {last}")]
    RetriesExhausted {
        during: String,
        attempts: u32,
        last: String,
    },
    /// A service the association did not grant (conformance block, guide §2.4).
    #[error("{during}: the meter did not grant {service} in the association")]
    NotGranted {
        during: String,
        service: &'static str,
    },
    /// A request that cannot be put on the wire (too long, out of range).
    #[error("{during}: {source}")]
    Encode {
        during: String,
        #[source]
        source: EncodeError,
    },
    #[error(transparent)]
    Meter(#[from] MeterError),
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub(crate) fn protocol(during: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Protocol {
            during: during.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn decode(during: impl Into<String>, source: DecodeError) -> Self {
        Error::Decode {
            during: during.into(),
            source,
        }
    }

    pub(crate) fn value(during: impl Into<String>, source: ValueError) -> Self {
        Error::Value {
            during: during.into(),
            source,
        }
    }

    pub(crate) fn security(during: impl Into<String>, source: SecurityError) -> Self {
        Error::Security {
            during: during.into(),
            source,
        }
    }

    pub(crate) fn io(during: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            during: during.into(),
            error: source,
        }
    }

    /// Whether a new connection and a new attempt may help: link trouble may, a meter's
    /// refusal, a security failure or a usage error will not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io { .. }
            | Error::Timeout { .. }
            | Error::Closed { .. }
            | Error::Decode { .. }
            | Error::RetriesExhausted { .. } => true,
            Error::Meter(MeterError::Link { .. }) => true,
            Error::Meter(MeterError::Exception { response, .. }) => {
                // A meter that lost our association (inactivity) answers this way.
                matches!(
                    response.state_error,
                    crate::apdu::StateError::ServiceNotAllowed
                ) && matches!(
                    response.service_error,
                    crate::apdu::ServiceError::OperationNotPossible
                )
            }
            _ => false,
        }
    }

    /// The data-access-result, when the meter refused one attribute or method.
    pub fn data_access_result(&self) -> Option<DataAccessResult> {
        match self {
            Error::Meter(MeterError::DataAccess { result, .. }) => Some(*result),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bytes as the guide writes them (`C0 01 C1`), for error messages.
pub(crate) struct HexBytes<'a>(pub &'a [u8]);

impl fmt::Display for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}
