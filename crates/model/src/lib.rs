//! The metermaster domain model.
//!
//! Every edge of the system speaks these types: protocol sessions produce a [`Reading`], files
//! carry it, the store keeps it and analysis consumes it. Nothing in this crate does I/O.

mod connection;
mod interval;
mod meter_id;
mod obis;
mod quantity;
mod reading;
mod status;
pub mod well_known;
mod zone;

pub use connection::{Connection, ConnectionParseError};
pub use interval::{IntervalNote, IntervalRow, Quality};
pub use meter_id::{canonical_meter_id, unidentified_meter_id};
pub use obis::{ObisCode, ObisParseError};
pub use quantity::{Quantity, Unit};
pub use reading::{
    BillingPeriod, Channel, ClockInfo, Event, EventCounter, EventKind, InstantQuantity,
    InstantValue, Interval, LoadProfile, MaxDemand, MeterIdentity, Phase, ProgrammingLog,
    ProgrammingRecord, Reading, Register, TransformerRatio, Unreadable, billing_trigger_text,
};
pub use status::IntervalStatus;
pub use zone::{LocalTime, Zone, ZoneParseError};
