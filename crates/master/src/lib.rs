//! The metermaster service layer: what the command line, the daemon and the web UI all call.
//!
//! Front ends parse what a user said into typed inputs ([`MeterTarget`], [`ReadPlan`]), call
//! these functions, and print or serve what comes back. Nothing here prints: progress goes out
//! through a callback, results and errors come back typed, an error says which meter, at which
//! stage, and whether trying again may help ([`MasterError::transient`]).

mod audit;
pub mod bills;
mod clock;
mod collect;
pub mod config;
mod error;
pub mod files;
mod keep;
mod program;
mod read;
pub mod schemes;
mod target;
pub mod users;

pub use audit::{AuditRecord, ProgrammingAudit, programming_log};
pub use clock::{ClockAction, ClockReport, ClockRequest, check_operator_name, meter_clock};
pub use collect::{Limits, MeterOutcome, Progress, collect};
pub use error::{ErrorKind, MasterError, Stage};
pub use keep::{
    KeepReport, Keeping, ResMode, keep_reading, write_file_atomically, write_res_output,
};
pub use program::{
    ProgramEvent, ProgramReport, ProgramRequest, counter_text, describe_interrupted, program_crc,
    program_meter, time_zone_warning,
};
pub use read::{MeterRead, Part, ProfileSpan, ReadPlan, data_readout, read_meter};
pub use target::{
    DlmsAuth, DlmsCiphering, DlmsOptions, DlmsSetup, DlmsStream, DlmsTransport, FlagOptions,
    LinkStats, MeterTarget, Protocol, dlms_open, dlms_setup, format_utc_offset, load_event_codes,
    parse_utc_offset,
};
