//! Typed errors: which meter, which stage, transient or not.

use std::fmt;

/// Where in the work on a meter something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The target itself (options that do not go together, a keys file that cannot be read).
    Target,
    /// Opening the line and signing on.
    Connect,
    /// The session with the meter.
    Read,
    /// Keeping what was read: the store, the output files.
    Keep,
    /// The task that did the work ended without an answer (it panicked or was cancelled).
    Task,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Target => "target",
            Stage::Connect => "connect",
            Stage::Read => "read",
            Stage::Keep => "keep",
            Stage::Task => "task",
        })
    }
}

/// What went wrong, by the layer that said so.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error(transparent)]
    Flag(#[from] metermaster_flag::Error),
    #[error(transparent)]
    Dlms(#[from] metermaster_dlms::client::Error),
    #[error(transparent)]
    Store(#[from] metermaster_store::StoreError),
    #[error("{what}: {error}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
    /// Options or files that do not make a valid target or plan.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Task(String),
}

/// An error of the service layer: the meter (as the target names it), the stage, and the
/// cause. `transient` says whether the same call may succeed if tried again (a dropped line,
/// a meter that did not answer), as opposed to a wrong password or a bad option.
#[derive(Debug)]
pub struct MasterError {
    /// The meter, as the target names it (`tcp://127.0.0.1:4001 address "10000003"`).
    pub meter: String,
    pub stage: Stage,
    pub transient: bool,
    /// The words that say what was being done (`reading tcp://… address "…"`).
    pub context: String,
    /// The cause (boxed: the error stays small on the happy path).
    pub kind: Box<ErrorKind>,
}

impl fmt::Display for MasterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl std::error::Error for MasterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.kind {
            // The context already says it all.
            ErrorKind::Invalid(_) => None,
            k => Some(k),
        }
    }
}

impl MasterError {
    pub(crate) fn new(
        meter: impl Into<String>,
        stage: Stage,
        context: impl Into<String>,
        kind: impl Into<ErrorKind>,
    ) -> MasterError {
        let kind = kind.into();
        let transient = match &kind {
            ErrorKind::Flag(e) => metermaster_flag::reader::is_transient(e),
            ErrorKind::Dlms(e) => e.is_transient(),
            ErrorKind::Store(e) => e.is_transient(),
            ErrorKind::Io { error, .. } => matches!(
                error.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ),
            ErrorKind::Task(_) => true,
            ErrorKind::Invalid(_) => false,
        };
        MasterError {
            meter: meter.into(),
            stage,
            transient,
            context: context.into(),
            kind: Box::new(kind),
        }
    }

    pub(crate) fn invalid(meter: impl Into<String>, why: impl Into<String>) -> MasterError {
        let why = why.into();
        MasterError {
            meter: meter.into(),
            stage: Stage::Target,
            transient: false,
            context: why.clone(),
            kind: Box::new(ErrorKind::Invalid(why)),
        }
    }
}

impl From<MasterError> for ErrorKind {
    fn from(e: MasterError) -> ErrorKind {
        *e.kind
    }
}

/// `what: cause: cause…` as one line (what the audit log keeps of a failure).
pub(crate) fn chain_text(what: &str, kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::Invalid(w) if w == what => what.to_string(),
        e => {
            let mut s = if what.is_empty() {
                e.to_string()
            } else {
                format!("{what}: {e}")
            };
            let mut cur = std::error::Error::source(e);
            while let Some(c) = cur {
                s.push_str(&format!(": {c}"));
                cur = c.source();
            }
            s
        }
    }
}
