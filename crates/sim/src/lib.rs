//! Simulated A1140 / A1700-class meters: one meter model (clock, load, registers, TOU, demand,
//! history, load profile, events, programming log, passwords) behind the FLAG protocol face,
//! served many to a TCP port or on a serial line, with wire-rate throttling and fault injection.

pub mod dlms;
pub mod face;
pub mod fleet;
pub mod load;
pub mod meter;

pub use fleet::{Faults, Fleet, ServeOptions, serve_link, serve_tcp};
pub use meter::{MeterConfig, SimMeter};
