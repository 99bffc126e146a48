//! Tariff schemes and meter configurations: the model, its TOML files, inheritance, validation
//! against what a meter can hold, and diffs in domain words.
//!
//! A [`Scheme`] says which rate register counts each minute of the year: rates (TOU registers),
//! day profiles (switch times), seasons (a week of day profiles from a start date) and special
//! days, plus maximum demand, billing, load profile and display settings. A
//! [`MeterConfiguration`] says which scheme a meter runs, with its transformer ratios, the
//! key-store names of its passwords and its clock policy. Both are TOML files (see
//! `docs/schemes.md`, and `docs/scheme.schema.json` for editors):
//!
//! ```
//! use metermaster_tariff::{MeterCapabilities, Scheme, validate};
//!
//! let scheme = Scheme::from_toml(r#"
//! id = "E7"
//! name = "Economy 7"
//! time_zone = "Europe/London"
//! rates = [
//!     { name = "day", register = 1, source = "import_kwh" },
//!     { name = "night", register = 2, source = "import_kwh" },
//! ]
//! day_profiles = [
//!     { name = "e7", switches = [
//!         { at = "00:00", rate = "day" },
//!         { at = "00:30", rate = "night" },
//!         { at = "07:30", rate = "day" },
//!     ] },
//! ]
//! [[seasons]]
//! name = "all year"
//! start = "01-01"
//! week = { monday = "e7", tuesday = "e7", wednesday = "e7", thursday = "e7",
//!          friday = "e7", saturday = "e7", sunday = "e7" }
//! "#).unwrap();
//! let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
//! assert!(validate(&scheme, &MeterCapabilities::a1140(), today).is_empty());
//! ```
//!
//! * Reading ([`Scheme::from_toml`], [`MeterConfiguration::from_toml`]) checks the structure
//!   and, for a file without a parent, its consistency; every message names its line and key
//!   path, list entries counting from 0: `line 12: seasons[1].week.saturday: unknown day
//!   profile "peek"`.
//! * [`resolve`] and [`resolve_chain`] merge a child with its parents (see [`inherit`]).
//! * [`validate`] checks a resolved scheme against [`MeterCapabilities`] and reports every
//!   [`Violation`]; [`validate_configuration`] checks a configuration. [`line_of`] finds the
//!   line of a violation's path in the file.
//! * [`diff`] lists what changed between two schemes.
//! * [`json_schema`] is the JSON Schema of both files.
//! * [`Tariff`] reads OpenEI URDB utility tariffs ([`Tariff::from_urdb_json`]) or prices a
//!   scheme ([`Tariff::from_scheme`] with [`Prices`]); [`bill()`] applies one to interval energy:
//!   energy, demand, fixed and minimum charges per month, net metering or a feed-in tariff (see
//!   `docs/billing.md`).

mod bill;
mod caps;
pub mod compile;
mod config;
mod diff;
mod error;
mod evaluate;
pub mod inherit;
mod schema;
mod scheme;
mod urdb;
mod validate;
mod values;

pub use bill::{
    Amount, Bill, BillError, BillOptions, Compensation, DemandPrice, DemandUse, GridFee, MonthBill,
    PeriodUse, PriceSpec, Prices, Sellback, TierMethod, TierSpec, TierUse, Totals, Usage, bill,
};
pub use caps::MeterCapabilities;
pub use compile::{CompileError, Compiled, DlmsCalendar, compile};
pub use config::{ClockSettings, MeterConfiguration, PasswordRef, Passwords};
pub use diff::diff;
pub use error::{Problem, SchemeError, line_of};
pub use evaluate::{EvalError, Evaluation, PeriodResult, billing_boundaries, evaluate, rate_table};
pub use inherit::{Inherit, InheritError, MAX_GENERATIONS, resolve, resolve_chain};
pub use schema::json_schema;
pub use scheme::{
    Billing, BillingDay, DayProfile, DemandMode, DisplaySettings, DstMode, LoadProfile, MaxDemand,
    Rate, Removed, Scheme, Season, SpecialDate, SpecialDay, Switch, Week,
};
pub use urdb::{
    DemandFlat, DemandTou, EnergyCharges, FixedCharge, MinCharge, Schedule, Tariff, Tier,
    UrdbError, UrdbWarning,
};
pub use validate::{Severity, Violation, validate, validate_configuration};
pub use values::{
    LocalTime, MeterType, MonthDay, Ratio, Source, TimeOfDay, ValueError, Zone, parse_date,
};

#[cfg(test)]
mod bill_tests;
#[cfg(test)]
mod tests;
