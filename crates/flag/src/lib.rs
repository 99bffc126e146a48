//! IEC 62056-21 ("FLAG") with the Elster A1140 / A1700 dialect.
//!
//! The core is sans-IO: [`frame`] turns bytes into messages and back, [`cipher`] and [`crc`] are
//! pure functions, [`ids`] and [`profile`] decode meter memory into the domain model. On top sit
//! thin async layers written against `AsyncRead + AsyncWrite`: the [`client`] session, the
//! meter-side [`server`] session that the simulator uses, and the [`transport`]s (TCP, serial).

pub mod cipher;
pub mod client;
pub mod codec;
pub mod crc;
pub mod error;
pub mod frame;
pub mod ids;
pub mod profile;
pub mod program;
pub mod rd;
pub mod reader;
pub mod readout;
pub mod server;
pub mod transport;

pub use client::{ClientOptions, FlagClient};
pub use error::{Error, MeterError};
pub use frame::Message;
