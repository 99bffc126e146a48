//! The COSEM object model of a simulated meter, built from the [`SimMeter`] on every request.
//!
//! Each object is an interface class, an OBIS logical name and a [`Kind`] that says which part
//! of the meter model it shows. Values are computed when asked for, from the same functions the
//! FLAG face uses: registers from `totals_at`/`tou_at`, maximum demand from `md_at`, the load
//! profile from `day()` through the FLAG profile decoder (so the intervals and values are those
//! a FLAG read of the same meter gives), the event logs and counters from the meter's event
//! memory (`event_memory`: per kind the count and the latest three, what the FLAG event logs
//! show), the programming log from the sessions it keeps (the last three), instantaneous
//! values from `instant_e4`, the calendar from the program in force. A FLAG read and a DLMS
//! read of one meter give the same Reading (the test `one_meter_read_over_flag_and_dlms_gives_
//! one_reading`; docs/simulator.md says what is shown where).
//!
//! Access rights depend on the client ([`Client`]): what an association may read, write and
//! call is what its object list (Association LN attribute 2) says.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use metermaster_dlms::Data;
use metermaster_dlms::apdu::{
    ApplicationContext, AttributeDescriptor, CaptureObjectDefinition, Conformance,
    DataAccessResult as Dar, MechanismName, MethodDescriptor, ProfileSelection, SelectiveAccess,
};
use metermaster_dlms::axdr::{
    BitString, ClockStatus, CosemDate, CosemDateTime, CosemTime, DEVIATION_NOT_SPECIFIED,
    NOT_SPECIFIED, YEAR_NOT_SPECIFIED,
};
use metermaster_dlms::obis::{DlmsUnit, ScalerUnit};
use metermaster_dlms::security::SystemTitle;
use metermaster_flag::ids::{self, MeterModel};
use metermaster_flag::profile::to_load_profile;
use metermaster_model::well_known;
use metermaster_model::{InstantQuantity, IntervalStatus, ObisCode, Phase};

use super::{DisconnectState, DlmsFace};
use crate::load::LoadModel;
use crate::meter::{CLOCK_TRIM_LIMIT_S, PROFILE_CHANNELS, SimMeter};

/// The three clients, in order of what they may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Client {
    /// SAP 16: no authentication; reads metering data.
    Public,
    /// SAP 17: low-level security; also reads logs, trims the clock.
    Reader,
    /// SAP 1: HLS-GMAC; also sets the clock and operates the disconnector.
    Management,
}

impl Client {
    pub fn from_sap(sap: u16) -> Option<Client> {
        match sap {
            super::PUBLIC_CLIENT => Some(Client::Public),
            super::READER_CLIENT => Some(Client::Reader),
            super::MANAGEMENT_CLIENT => Some(Client::Management),
            _ => None,
        }
    }

    pub fn sap(self) -> u16 {
        match self {
            Client::Public => super::PUBLIC_CLIENT,
            Client::Reader => super::READER_CLIENT,
            Client::Management => super::MANAGEMENT_CLIENT,
        }
    }
}

/// The DLMS data object values (class 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Serial,
    DeviceName,
    Firmware,
    /// The scheme id (FLAG 795): 1.0.0.2.1.255, the parameter record number.
    SchemeId,
    InvocationCounter,
    ProfileStatus,
    EventCode,
    ProgrammingCount,
    ProgrammingTime,
    ProgrammingUser,
    ProgrammingLabel,
    ProgrammingKind,
    ProgrammingPort,
    ActiveTariff,
}

/// Instantaneous values (class 3), computed by the formulas of the FLAG face's instantaneous
/// values ([`SimMeter::instant_e4`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instant {
    /// A value the A1700 gives over FLAG (605/606): net active power (+A − (−A)) for the
    /// total active power, Q1 − Q4 for the reactive, import + export for the apparent power.
    Flag(InstantQuantity, Phase),
    PowerImport,
    PowerExport,
}

/// Which profile generic object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    Load,
    Events,
    /// The power failure log 1.0.99.97.0.255.
    PowerFailures,
    Programming,
}

/// A CT or VT ratio's primary or secondary value (class 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ratio {
    CtPrimary,
    CtSecondary,
    VtPrimary,
    VtSecondary,
}

/// Now (`None`, OBIS F = 255), or the `k`-th last closed billing period (`Some(k)`, F = 101 + k).
pub type Period = Option<usize>;

/// What part of the meter an object shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Clock,
    Value(Value),
    /// A cumulative register (FLAG 507) by its source code (class 3).
    Cumulative {
        source: u8,
        period: Period,
    },
    /// A TOU register (1-based register number) of a model channel (class 3).
    Tou {
        register: usize,
        channel: usize,
        period: Period,
    },
    /// The average demand of the last complete interval of a model channel (class 3).
    LastDemand {
        channel: usize,
    },
    Instant(Instant),
    /// The cumulative maximum demand (FLAG 509) of an MD source (index into the meter's MD
    /// sources) (class 3).
    CumulativeMaxDemand {
        source: usize,
        channel: usize,
        period: Period,
    },
    /// The highest (rank 0), second and third highest demand (FLAG 510) of an MD source
    /// (class 4).
    MaxDemand {
        source: usize,
        channel: usize,
        rank: usize,
        period: Period,
    },
    /// Active import demand (class 5).
    Demand,
    /// The time a closed billing period ended (class 1).
    BillingTime {
        period: usize,
    },
    /// What ended a closed billing period: the FLAG trigger bits (class 1).
    BillingTrigger {
        period: usize,
    },
    Ratio(Ratio),
    /// The count an event log keeps (its FLAG data id) (class 1).
    EventCounter {
        id: u16,
    },
    Profile(ProfileKind),
    ActivityCalendar,
    SpecialDays,
    ScriptTable,
    /// The end-of-billing script table (0.0.10.0.1.255): script 1 ends the billing period.
    BillingScript,
    RegisterActivation,
    SapAssignment,
    AssociationLn,
    SecuritySetup,
    PushSetup,
    Disconnect,
}

/// One object of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CosemObject {
    pub class_id: u16,
    pub version: u8,
    pub ln: ObisCode,
    pub kind: Kind,
    /// The least client that sees (and reads) the object.
    pub read: Client,
}

/// Numbers of attributes and methods of each class version used here.
pub fn class_shape(class_id: u16) -> (i8, i8) {
    match class_id {
        1 => (2, 0),
        3 => (3, 1),
        4 => (5, 1),
        5 => (9, 2),
        6 => (4, 3),
        7 => (8, 2),
        8 => (9, 6),
        9 => (2, 1),
        11 => (2, 2),
        15 => (9, 4),
        17 => (2, 1),
        20 => (10, 1),
        40 => (7, 1),
        64 => (5, 2),
        70 => (4, 2),
        _ => (1, 0),
    }
}

impl CosemObject {
    fn new(class_id: u16, ln: ObisCode, kind: Kind, read: Client) -> Self {
        let version = match class_id {
            7 | 15 => 1,
            _ => 0,
        };
        CosemObject {
            class_id,
            version,
            ln,
            kind,
            read,
        }
    }

    pub fn visible(&self, client: Client) -> bool {
        client >= self.read
    }

    /// Attribute access mode (Association LN v1): 0 none, 1 read, 2 write, 3 read-write.
    pub fn attribute_access(&self, client: Client, attr: i8) -> u8 {
        let (n, _) = class_shape(self.class_id);
        if !self.visible(client) || attr < 1 || attr > n {
            return 0;
        }
        match (self.kind, attr) {
            (Kind::AssociationLn, 7) => 0,
            (Kind::Clock, 2) if client >= Client::Reader => 3,
            (Kind::Clock, 3) if client == Client::Management => 3,
            (Kind::ActivityCalendar, 6..=10)
            | (Kind::SpecialDays, 2)
            | (Kind::Value(Value::ProgrammingUser), 2)
            | (Kind::PushSetup, 3)
                if client == Client::Management =>
            {
                3
            }
            _ => 1,
        }
    }

    /// Method access mode (Association LN v1): 0 none, 1 access.
    pub fn method_access(&self, client: Client, method: i8) -> u8 {
        let (_, n) = class_shape(self.class_id);
        if !self.visible(client) || method < 1 || method > n {
            return 0;
        }
        match (self.kind, method) {
            (Kind::Clock, 6) if client >= Client::Reader => 1,
            (Kind::Disconnect, 1 | 2)
            | (Kind::AssociationLn, 1)
            | (Kind::ActivityCalendar, 1)
            | (Kind::SpecialDays, 1 | 2)
            | (Kind::PushSetup, 1)
            | (Kind::BillingScript, 1)
                if client == Client::Management =>
            {
                1
            }
            _ => 0,
        }
    }

    fn to_list_entry(self, client: Client) -> Data {
        let (na, nm) = class_shape(self.class_id);
        let attrs = (1..=na)
            .map(|a| {
                let selectors = if matches!(self.kind, Kind::Profile(_)) && a == 2 {
                    Data::Array(vec![Data::Integer(1), Data::Integer(2)])
                } else {
                    Data::Null
                };
                Data::Structure(vec![
                    Data::Integer(a),
                    Data::Enum(self.attribute_access(client, a)),
                    selectors,
                ])
            })
            .collect();
        let methods = (1..=nm)
            .map(|m| {
                Data::Structure(vec![
                    Data::Integer(m),
                    Data::Enum(self.method_access(client, m)),
                ])
            })
            .collect();
        Data::Structure(vec![
            Data::LongUnsigned(self.class_id),
            Data::Unsigned(self.version),
            Data::logical_name(self.ln),
            Data::Structure(vec![Data::Array(attrs), Data::Array(methods)]),
        ])
    }
}

/// OBIS C of a model channel (A1140 source order: import, export, Q1–Q4, apparent import and
/// export).
pub const CHANNEL_C: [u8; 8] = [1, 2, 5, 6, 7, 8, 9, 10];

fn energy_unit(channel: usize) -> DlmsUnit {
    match channel {
        0 | 1 => DlmsUnit::WATT_HOUR,
        2..=5 => DlmsUnit::VAR_HOUR,
        _ => DlmsUnit::VOLT_AMPERE_HOUR,
    }
}

fn demand_unit(channel: usize) -> DlmsUnit {
    match channel {
        0 | 1 => DlmsUnit::WATT,
        2..=5 => DlmsUnit::VAR,
        _ => DlmsUnit::VOLT_AMPERE,
    }
}

pub const CLOCK: ObisCode = well_known::CLOCK;
pub const ASSOCIATION_LN: ObisCode = well_known::CURRENT_ASSOCIATION;
pub const SAP_ASSIGNMENT: ObisCode = well_known::SAP_ASSIGNMENT;
pub const DEVICE_NAME: ObisCode = well_known::LOGICAL_DEVICE_NAME;
pub const SECURITY_SETUP: ObisCode = well_known::SECURITY_SETUP;
pub const INVOCATION_COUNTER: ObisCode = well_known::INVOCATION_COUNTER;
pub const SERIAL: ObisCode = well_known::DEVICE_ID;
pub const FIRMWARE: ObisCode = well_known::FIRMWARE;
/// The parameter record number (OBIS 1.0.0.2.1.255): the scheme id, as FLAG 795 shows it.
pub const SCHEME_ID: ObisCode = well_known::SCHEME_ID;
pub const PROFILE_STATUS: ObisCode = well_known::PROFILE_STATUS;
pub const LOAD_PROFILE: ObisCode = well_known::LOAD_PROFILE_1;
pub const EVENT_CODE: ObisCode = well_known::EVENT_CODE;
pub const EVENT_LOG: ObisCode = well_known::EVENT_LOG;
/// The power failure event log.
pub const POWER_FAILURE_LOG: ObisCode = well_known::POWER_FAILURE_LOG;
/// Number of power failures in any phase (the count of the FLAG power failure log 695).
pub const POWER_FAILURE_COUNT: ObisCode = well_known::POWER_FAILURE_COUNT;
pub const PROGRAMMING_COUNT: ObisCode = well_known::PROGRAMMING_COUNTER;
pub const PROGRAMMING_TIME: ObisCode = well_known::PROGRAMMING_TIME;
pub const PROGRAMMING_USER: ObisCode = well_known::PROGRAMMING_USER;
pub const PROGRAMMING_LABEL: ObisCode = well_known::PROGRAMMING_LABEL;
pub const PROGRAMMING_KIND: ObisCode = well_known::PROGRAMMING_KIND;
/// The port of the last programming session: 0 optical, 1 remote (255: not kept, A1700).
pub const PROGRAMMING_PORT: ObisCode = well_known::PROGRAMMING_PORT;
pub const PROGRAMMING_LOG: ObisCode = well_known::PROGRAMMING_LOG;
pub const SCRIPT_TABLE: ObisCode = well_known::TARIFF_SCRIPT_TABLE;
pub const BILLING_SCRIPT: ObisCode = well_known::BILLING_SCRIPT_TABLE;
pub const SPECIAL_DAYS: ObisCode = well_known::SPECIAL_DAYS_TABLE;
pub const ACTIVITY_CALENDAR: ObisCode = well_known::ACTIVITY_CALENDAR;
pub const REGISTER_ACTIVATION: ObisCode = well_known::REGISTER_ACTIVATION;
pub const ACTIVE_TARIFF: ObisCode = well_known::ACTIVE_TARIFF;
pub const PUSH_SETUP: ObisCode = well_known::PUSH_SETUP;
pub const DISCONNECT_CONTROL: ObisCode = well_known::DISCONNECT_CONTROL;

/// The OBIS E of the second and third highest demand of a source (`C.6.128`, `C.6.129`, as
/// metermaster's FLAG reader names them: OBIS has no group for the rank).
pub const MD_RANK_E: [u8; 3] = [0, 128, 129];

/// An OBIS code of billing period `period` (F = 255 now, 101 + k for the k-th last).
fn billing_f(ln: ObisCode, period: Period) -> ObisCode {
    ObisCode::new(
        ln.a,
        ln.b,
        ln.c,
        ln.d,
        ln.e,
        period.map_or(255, |k| 101 + k as u8),
    )
}

/// The time a closed billing period ended: 1.0.0.1.2.F ("time stamp of the billing period").
pub fn billing_time_obis(period: usize) -> ObisCode {
    billing_f(ObisCode::elec(0, 1, 2), Some(period))
}

/// What ended a closed billing period (ours, manufacturer-specific): 0.0.96.50.0.F, the FLAG
/// billing trigger bits (0x01 billing date, 0x02 season change, 0x04 tariff changeover, 0x08
/// serial port, 0x10 optical port, 0x20 billing button, 0x40 CT-ratio change, 0x80 power-up).
pub fn billing_trigger_obis(period: usize) -> ObisCode {
    billing_f(ObisCode::abstract_(96, 50, 0), Some(period))
}

/// The counter object of an event log (by its FLAG id): 0.0.96.7.21.255 (number of power
/// failures in any phase) for the power failure log, else an event counter 0.0.96.15.e.255
/// with e as [`EVENT_COUNTER_E`] assigns it.
pub fn event_counter_obis(id: u16) -> Option<ObisCode> {
    if id == 695 {
        return Some(POWER_FAILURE_COUNT);
    }
    EVENT_COUNTER_E
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, e)| ObisCode::abstract_(96, 15, *e))
}

/// Our event counters 0.0.96.15.e.255: (FLAG event-log id, e). 691 terminal cover, 692 main
/// cover, 693 phase failure, 694 reverse run, 696 transient reset, 697 internal battery, 699
/// billing reset, 701 meter error.
pub const EVENT_COUNTER_E: [(u16, u8); 8] = [
    (691, 0),
    (692, 1),
    (693, 2),
    (694, 3),
    (696, 4),
    (697, 5),
    (699, 6),
    (701, 7),
];

/// The cumulative registers of a model, as the FLAG 507 has them: (source code, OBIS C, unit).
fn cumulative_sources(model: MeterModel) -> Vec<(u8, u8, DlmsUnit)> {
    let codes: Vec<u8> = match model {
        MeterModel::A1140 => (0..16).collect(),
        MeterModel::A1700 => (1..=10).collect(),
    };
    codes
        .into_iter()
        .filter_map(|s| {
            ids::source_info(model, s).map(|(c, _, unit)| (s, c, DlmsUnit::from_model(unit)))
        })
        .collect()
}

/// The closed billing periods the meter keeps (as many as its FLAG billing history 543 holds
/// sets), newest first.
pub fn billing_periods(meter: &SimMeter) -> usize {
    let now = meter.model_now();
    meter
        .billing_reset_times(now)
        .into_iter()
        .filter(|t| *t > meter.history_start())
        .count()
        .min(meter.model().history_sets(ids::BILLING_HISTORY))
        .min(25)
}

/// The instantaneous values the DLMS face lists: the A1700's FLAG set (605/606) and the
/// import and export powers.
const INSTANT_OBJECTS: [(u8, Instant); 14] = {
    use Instant::{Flag, PowerExport, PowerImport};
    use InstantQuantity as Q;
    [
        (32, Flag(Q::Voltage, Phase::L1)),
        (52, Flag(Q::Voltage, Phase::L2)),
        (72, Flag(Q::Voltage, Phase::L3)),
        (14, Flag(Q::Frequency, Phase::Total)),
        (31, Flag(Q::Current, Phase::L1)),
        (51, Flag(Q::Current, Phase::L2)),
        (71, Flag(Q::Current, Phase::L3)),
        (16, Flag(Q::ActivePower, Phase::Total)),
        (13, Flag(Q::PowerFactor, Phase::Total)),
        (3, Flag(Q::ReactivePower, Phase::Total)),
        (9, Flag(Q::ApparentPower, Phase::Total)),
        (33, Flag(Q::PowerFactor, Phase::L1)),
        (1, PowerImport),
        (2, PowerExport),
    ]
};

/// The registers of one billing period (now or a closed one), in the order of the FLAG
/// layouts: cumulative (507), TOU (508, A1140 sets), cumulative maximum demand (509, A1140
/// sets), maximum demand (510, three per source). A closed A1700 period has what its FLAG
/// set is known to hold: the cumulative registers and the maximum demands.
fn period_registers(meter: &SimMeter, period: Period) -> Vec<CosemObject> {
    use Client::Public;
    let o = CosemObject::new;
    let model = meter.model();
    let full = period.is_none() || model == MeterModel::A1140;
    let mut v = Vec::new();
    for (source, c, _) in cumulative_sources(model) {
        v.push(o(
            3,
            billing_f(ObisCode::elec(c, 8, 0), period),
            Kind::Cumulative { source, period },
            Public,
        ));
    }
    let md: Vec<(usize, usize)> = meter
        .md_sources()
        .into_iter()
        .enumerate()
        .filter_map(|(s, code)| meter.channel_of_source(code).map(|c| (s, c)))
        .collect();
    if full {
        for (register, channel, e) in tou_registers(meter) {
            v.push(o(
                3,
                billing_f(ObisCode::elec(CHANNEL_C[channel], 8, e), period),
                Kind::Tou {
                    register,
                    channel,
                    period,
                },
                Public,
            ));
        }
        for &(source, channel) in &md {
            v.push(o(
                3,
                billing_f(ObisCode::elec(CHANNEL_C[channel], 2, 0), period),
                Kind::CumulativeMaxDemand {
                    source,
                    channel,
                    period,
                },
                Public,
            ));
        }
    }
    for &(source, channel) in &md {
        for (rank, e) in MD_RANK_E.iter().enumerate() {
            v.push(o(
                4,
                billing_f(ObisCode::elec(CHANNEL_C[channel], 6, *e), period),
                Kind::MaxDemand {
                    source,
                    channel,
                    rank,
                    period,
                },
                Public,
            ));
        }
    }
    v
}

/// The objects of a meter now (the TOU registers follow the program in force, the billing
/// history the periods closed so far).
pub fn object_list(meter: &SimMeter) -> Vec<CosemObject> {
    use Client::{Public, Reader};
    let o = CosemObject::new;
    let model = meter.model();
    let mut v = vec![
        o(8, CLOCK, Kind::Clock, Public),
        o(15, ASSOCIATION_LN, Kind::AssociationLn, Public),
        o(17, SAP_ASSIGNMENT, Kind::SapAssignment, Public),
        o(1, DEVICE_NAME, Kind::Value(Value::DeviceName), Public),
        o(64, SECURITY_SETUP, Kind::SecuritySetup, Public),
        o(
            1,
            INVOCATION_COUNTER,
            Kind::Value(Value::InvocationCounter),
            Public,
        ),
        o(1, SERIAL, Kind::Value(Value::Serial), Public),
        o(1, FIRMWARE, Kind::Value(Value::Firmware), Public),
        o(1, SCHEME_ID, Kind::Value(Value::SchemeId), Public),
    ];
    v.extend(period_registers(meter, None));
    for &channel in &PROFILE_CHANNELS {
        v.push(o(
            3,
            ObisCode::elec(CHANNEL_C[channel], 5, 0),
            Kind::LastDemand { channel },
            Public,
        ));
    }
    v.push(o(5, ObisCode::elec(1, 4, 0), Kind::Demand, Public));
    for (c, i) in INSTANT_OBJECTS {
        v.push(o(3, ObisCode::elec(c, 7, 0), Kind::Instant(i), Public));
    }
    v.push(o(
        3,
        ObisCode::elec(0, 4, 2),
        Kind::Ratio(Ratio::CtPrimary),
        Public,
    ));
    v.push(o(
        3,
        ObisCode::elec(0, 4, 5),
        Kind::Ratio(Ratio::CtSecondary),
        Public,
    ));
    if model == MeterModel::A1700 {
        v.push(o(
            3,
            ObisCode::elec(0, 4, 3),
            Kind::Ratio(Ratio::VtPrimary),
            Public,
        ));
        v.push(o(
            3,
            ObisCode::elec(0, 4, 6),
            Kind::Ratio(Ratio::VtSecondary),
            Public,
        ));
    }
    for period in 0..billing_periods(meter) {
        v.push(o(
            1,
            billing_time_obis(period),
            Kind::BillingTime { period },
            Public,
        ));
        v.push(o(
            1,
            billing_trigger_obis(period),
            Kind::BillingTrigger { period },
            Public,
        ));
        v.extend(period_registers(meter, Some(period)));
    }
    v.extend([
        o(1, PROFILE_STATUS, Kind::Value(Value::ProfileStatus), Public),
        o(7, LOAD_PROFILE, Kind::Profile(ProfileKind::Load), Public),
        o(1, EVENT_CODE, Kind::Value(Value::EventCode), Reader),
        o(7, EVENT_LOG, Kind::Profile(ProfileKind::Events), Reader),
        o(
            7,
            POWER_FAILURE_LOG,
            Kind::Profile(ProfileKind::PowerFailures),
            Reader,
        ),
    ]);
    for &(id, _) in ids::event_log_ids(model) {
        if let Some(ln) = event_counter_obis(id) {
            v.push(o(1, ln, Kind::EventCounter { id }, Reader));
        }
    }
    v.extend([
        o(
            1,
            PROGRAMMING_COUNT,
            Kind::Value(Value::ProgrammingCount),
            Reader,
        ),
        o(
            1,
            PROGRAMMING_TIME,
            Kind::Value(Value::ProgrammingTime),
            Reader,
        ),
        o(
            1,
            PROGRAMMING_USER,
            Kind::Value(Value::ProgrammingUser),
            Reader,
        ),
        o(
            1,
            PROGRAMMING_LABEL,
            Kind::Value(Value::ProgrammingLabel),
            Reader,
        ),
        o(
            1,
            PROGRAMMING_KIND,
            Kind::Value(Value::ProgrammingKind),
            Reader,
        ),
        o(
            1,
            PROGRAMMING_PORT,
            Kind::Value(Value::ProgrammingPort),
            Reader,
        ),
        o(
            7,
            PROGRAMMING_LOG,
            Kind::Profile(ProfileKind::Programming),
            Reader,
        ),
        o(9, SCRIPT_TABLE, Kind::ScriptTable, Public),
        o(9, BILLING_SCRIPT, Kind::BillingScript, Reader),
        o(11, SPECIAL_DAYS, Kind::SpecialDays, Public),
        o(20, ACTIVITY_CALENDAR, Kind::ActivityCalendar, Public),
        o(6, REGISTER_ACTIVATION, Kind::RegisterActivation, Public),
        o(1, ACTIVE_TARIFF, Kind::Value(Value::ActiveTariff), Public),
        o(40, PUSH_SETUP, Kind::PushSetup, Reader),
        o(70, DISCONNECT_CONTROL, Kind::Disconnect, Reader),
    ]);
    v
}

/// The TOU registers as (1-based register, model channel, OBIS E): E numbers the registers of
/// one quantity in register order (import rate 1, import rate 2, ...), as the FLAG data readout
/// numbers `1.8.1`, `1.8.2`. Registers without a source are left out.
pub fn tou_registers(meter: &SimMeter) -> Vec<(usize, usize, u8)> {
    let mut seen = [0u8; 8];
    let mut out = Vec::new();
    for (i, src) in meter.tou_sources().into_iter().enumerate() {
        if src == 0xFF {
            continue;
        }
        if let Some(c) = meter.channel_of_source(src).filter(|c| *c < 8) {
            seen[c] = seen[c].saturating_add(1);
            out.push((i + 1, c, seen[c]));
        }
    }
    out
}

/// What an association looks like to its own Association LN object.
#[derive(Debug, Clone)]
pub struct AssociationView {
    pub client: Client,
    pub client_sap: u16,
    pub context: ApplicationContext,
    pub mechanism: MechanismName,
    pub conformance: Conformance,
    pub client_max_pdu: u16,
    pub client_title: Option<SystemTitle>,
    /// Associated (true) or waiting for HLS pass 3 (false).
    pub associated: bool,
}

/// What a request works on.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub meter: &'a mut SimMeter,
    pub face: &'a mut DlmsFace,
    pub view: &'a AssociationView,
}

fn find(ctx: &Ctx<'_>, class_id: u16, ln: ObisCode) -> Result<CosemObject, Dar> {
    let obj = object_list(ctx.meter)
        .into_iter()
        .find(|o| o.ln == ln)
        .ok_or(Dar::ObjectUndefined)?;
    if obj.class_id != class_id {
        return Err(Dar::ObjectClassInconsistent);
    }
    Ok(obj)
}

/// GET of one attribute.
pub fn get_attribute(
    ctx: &mut Ctx<'_>,
    a: &AttributeDescriptor,
    access: Option<&SelectiveAccess>,
) -> Result<Data, Dar> {
    let obj = find(ctx, a.class_id, a.instance)?;
    let (n, _) = class_shape(obj.class_id);
    if a.attribute_id < 1 || a.attribute_id > n {
        return Err(Dar::ObjectUndefined);
    }
    if obj.attribute_access(ctx.view.client, a.attribute_id) & 1 == 0 {
        return Err(Dar::ReadWriteDenied);
    }
    if access.is_some() && !(matches!(obj.kind, Kind::Profile(_)) && a.attribute_id == 2) {
        return Err(Dar::OtherReason);
    }
    if a.attribute_id == 1 {
        return Ok(Data::logical_name(obj.ln));
    }
    read(ctx, &obj, a.attribute_id, access)
}

/// SET of one attribute.
pub fn set_attribute(
    ctx: &mut Ctx<'_>,
    a: &AttributeDescriptor,
    access: Option<&SelectiveAccess>,
    value: &Data,
) -> Dar {
    let obj = match find(ctx, a.class_id, a.instance) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (n, _) = class_shape(obj.class_id);
    if a.attribute_id < 1 || a.attribute_id > n {
        return Dar::ObjectUndefined;
    }
    if obj.attribute_access(ctx.view.client, a.attribute_id) & 2 == 0 {
        return Dar::ReadWriteDenied;
    }
    if access.is_some() {
        return Dar::OtherReason;
    }
    match (obj.kind, a.attribute_id) {
        // time_zone: minutes UTC − local standard time, −720 … 720 (the clock's local time
        // stays; calendars activated later keep this zone).
        (Kind::Clock, 3) => match value.as_i64() {
            Some(z) if (-720..=720).contains(&z) => {
                ctx.meter.clock_zone = Some(z as i16);
                Dar::Success
            }
            Some(_) => Dar::OtherReason,
            None => Dar::TypeUnmatched,
        },
        (Kind::Clock, 2) => match clock_from_data(ctx.meter, value) {
            Ok(t) => apply_clock(ctx, t),
            Err(e) => e,
        },
        (Kind::ActivityCalendar, 6..=10) => {
            let p = &mut ctx.face.passive;
            let ok = match (a.attribute_id, value) {
                (6, Data::OctetString(_)) => {
                    p.name = value.clone();
                    true
                }
                (7, Data::Array(_)) => {
                    p.seasons = value.clone();
                    true
                }
                (8, Data::Array(_)) => {
                    p.weeks = value.clone();
                    true
                }
                (9, Data::Array(_)) => {
                    p.days = value.clone();
                    true
                }
                (10, Data::OctetString(b)) if b.len() == 12 => {
                    p.activation = value.clone();
                    true
                }
                _ => false,
            };
            if ok { Dar::Success } else { Dar::TypeUnmatched }
        }
        // send_destination_and_method: TCP (0), "HOST:PORT", A-XDR COSEM APDUs (0).
        (Kind::PushSetup, 3) => match value.as_elements() {
            Some([Data::Enum(0), Data::OctetString(dest), Data::Enum(0)])
                if dest.is_empty() || push_address(dest).is_some() =>
            {
                ctx.face.push_destination = (!dest.is_empty()).then(|| dest.clone());
                Dar::Success
            }
            Some([_, _, _]) => Dar::OtherReason,
            _ => Dar::TypeUnmatched,
        },
        (Kind::SpecialDays, 2) => match value {
            Data::Array(_) => {
                ctx.face.passive.special_days = Some(value.clone());
                Dar::Success
            }
            _ => Dar::TypeUnmatched,
        },
        (Kind::Value(Value::ProgrammingUser), 2) => match value.as_octet_string().or(match value {
            Data::VisibleString(b) => Some(b.as_slice()),
            _ => None,
        }) {
            Some(b) if b.len() <= 12 && b.iter().all(|c| (0x20..0x7F).contains(c)) => {
                ctx.meter.operator = String::from_utf8_lossy(b).trim().to_string();
                ctx.face.user_written_by = Some(ctx.view.client_sap);
                Dar::Success
            }
            _ => Dar::TypeUnmatched,
        },
        _ => Dar::ReadWriteDenied,
    }
}

/// The passive calendar (and the special days written with it) as a program for this meter:
/// rates are the script selectors in order of first use, each counting import energy into the
/// TOU register of its number; day, week and season references resolved by id and name.
/// `None` when the tables do not fit together.
fn program_from_passive(
    meter: &SimMeter,
    passive: &super::PassiveCalendar,
) -> Option<metermaster_flag::program::Program> {
    use metermaster_flag::program::{
        Family, LABEL_LEN, Program, RateDef, SeasonDef, SpecialDef, SwitchDef,
    };
    let text = |d: &Data| {
        d.as_octet_string()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let label = text(&passive.name)?;
    if label.is_empty() || label.len() > LABEL_LEN {
        return None;
    }
    let mut rates: Vec<RateDef> = Vec::new();
    let mut day_ids: Vec<u8> = Vec::new();
    let mut day_profiles = Vec::new();
    let import = meter.source_of_channel(0);
    for d in passive.days.as_elements()? {
        let [id, actions] = d.as_elements()? else {
            return None;
        };
        let id = u8::try_from(id.as_u64()?).ok()?;
        let mut switches = Vec::new();
        for a in actions.as_elements()? {
            let [t, _script, sel] = a.as_elements()? else {
                return None;
            };
            let t = t.as_octet_string()?;
            let (h, m) = (*t.first()?, *t.get(1)?);
            if h > 23 || m > 59 {
                return None;
            }
            let register = u8::try_from(sel.as_u64()?).ok()?;
            if register == 0 || usize::from(register) > meter.model().tou_count() {
                return None;
            }
            let rate = match rates.iter().position(|r| r.register == register) {
                Some(i) => i,
                None => {
                    rates.push(RateDef {
                        register,
                        source: import,
                    });
                    rates.len() - 1
                }
            };
            switches.push(SwitchDef {
                minute: u16::from(h) * 60 + u16::from(m),
                rate: u8::try_from(rate).ok()?,
            });
        }
        switches.sort_by_key(|s| s.minute);
        day_ids.push(id);
        day_profiles.push(switches);
    }
    let profile_of = |id: u64| {
        day_ids
            .iter()
            .position(|d| u64::from(*d) == id)
            .and_then(|i| u8::try_from(i).ok())
    };
    let mut weeks: Vec<(Vec<u8>, [u8; 7])> = Vec::new();
    for w in passive.weeks.as_elements()? {
        let f = w.as_elements()?;
        let (name, days) = f.split_first()?;
        if days.len() != 7 {
            return None;
        }
        let mut ids = [0u8; 7];
        for (k, d) in days.iter().enumerate() {
            ids[k] = profile_of(d.as_u64()?)?;
        }
        weeks.push((name.as_octet_string()?.to_vec(), ids));
    }
    let mut seasons = Vec::new();
    for se in passive.seasons.as_elements()? {
        let [_, start, week] = se.as_elements()? else {
            return None;
        };
        let b = start.as_octet_string()?;
        let (month, day) = (*b.get(2)?, *b.get(3)?);
        let wname = week.as_octet_string()?;
        let week = weeks.iter().find(|w| w.0 == wname)?.1;
        seasons.push(SeasonDef { month, day, week });
    }
    seasons.sort_by_key(|s| (s.month, s.day));
    let mut special_days = Vec::new();
    if let Some(sd) = &passive.special_days {
        for e in sd.as_elements()? {
            let [_, date, id] = e.as_elements()? else {
                return None;
            };
            let b = date.as_octet_string()?;
            let year = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
            special_days.push(SpecialDef {
                year: if year == YEAR_NOT_SPECIFIED { 0 } else { year },
                month: *b.get(2)?,
                day: *b.get(3)?,
                profile: profile_of(id.as_u64()?)?,
            });
        }
    }
    let activation = passive
        .activation
        .as_octet_string()
        .and_then(|b| <[u8; 12]>::try_from(b).ok())
        .map(CosemDateTime::from_bytes)
        .filter(|dt| dt.date.is_fully_specified())
        .and_then(|dt| local_from_cosem(meter, dt));
    let p = Program {
        family: match meter.model() {
            metermaster_flag::ids::MeterModel::A1140 => Family::A1140,
            metermaster_flag::ids::MeterModel::A1700 => Family::A1700,
        },
        label,
        std_offset_min: deviation(meter).saturating_neg(),
        activation,
        rates,
        day_profiles,
        seasons,
        special_days,
        dst: Vec::new(),
        demand: None,
        billing: None,
    };
    // The image's own checks (counts, references, order) decide.
    Program::decode(&p.encode()).ok()
}

/// ACTION on one method; `Ok(Some(..))` carries return data.
pub fn action(
    ctx: &mut Ctx<'_>,
    m: &MethodDescriptor,
    params: Option<&Data>,
) -> Result<Option<Data>, Dar> {
    let obj = find(ctx, m.class_id, m.instance)?;
    let (_, n) = class_shape(obj.class_id);
    if m.method_id < 1 || m.method_id > n {
        return Err(Dar::ObjectUndefined);
    }
    if obj.method_access(ctx.view.client, m.method_id) == 0 {
        return Err(Dar::ReadWriteDenied);
    }
    match (obj.kind, m.method_id) {
        (Kind::Clock, 6) => {
            let s = params.and_then(Data::as_i64).ok_or(Dar::TypeUnmatched)?;
            if !(-900..=900).contains(&s) {
                return Err(Dar::OtherReason);
            }
            let target = ctx.meter.now() + Duration::seconds(s);
            match apply_clock(ctx, target) {
                Dar::Success => Ok(None),
                e => Err(e),
            }
        }
        (Kind::Disconnect, 1) => {
            ctx.face.disconnect = DisconnectState::Disconnected;
            Ok(None)
        }
        (Kind::SpecialDays, 1) => {
            // insert: {index, date, day_id}; an entry with the same index is replaced.
            let entry = params.ok_or(Dar::TypeUnmatched)?;
            let index = match entry.as_elements() {
                Some([i, Data::OctetString(d), id]) if d.len() == 5 && id.as_u64().is_some() => {
                    i.as_u64().ok_or(Dar::TypeUnmatched)?
                }
                _ => return Err(Dar::TypeUnmatched),
            };
            let mut entries = pending_special_days(ctx);
            entries.retain(|e| entry_index(e) != Some(index));
            entries.push(entry.clone());
            entries.sort_by_key(entry_index);
            ctx.face.passive.special_days = Some(Data::Array(entries));
            Ok(None)
        }
        (Kind::SpecialDays, 2) => {
            // delete: by index (an index not in the table changes nothing).
            let index = params.and_then(Data::as_u64).ok_or(Dar::TypeUnmatched)?;
            let mut entries = pending_special_days(ctx);
            entries.retain(|e| entry_index(e) != Some(index));
            ctx.face.passive.special_days = Some(Data::Array(entries));
            Ok(None)
        }
        (Kind::BillingScript, 1) => match params.and_then(Data::as_u64) {
            Some(1) => {
                ctx.meter.billing_reset();
                Ok(None)
            }
            Some(_) => Err(Dar::OtherReason),
            None => Err(Dar::TypeUnmatched),
        },
        (Kind::PushSetup, 1) => {
            let destination = ctx.face.push_destination.clone().ok_or(Dar::OtherReason)?;
            let address = push_address(&destination).ok_or(Dar::OtherReason)?;
            let apdu = push_notification(ctx)?;
            ctx.face.outbox.push(super::Push { address, apdu });
            Ok(None)
        }
        (Kind::ActivityCalendar, 1) => {
            let p = program_from_passive(ctx.meter, &ctx.face.passive).ok_or(Dar::OtherReason)?;
            let image = p.encode();
            ctx.meter.commit_program(p, image, 1);
            ctx.face.passive.special_days = None;
            Ok(None)
        }
        (Kind::Disconnect, 2) => {
            ctx.face.disconnect = DisconnectState::Connected;
            Ok(None)
        }
        // reply_to_HLS_authentication outside HLS pass 3 (the association handles pass 3).
        _ => Err(Dar::ReadWriteDenied),
    }
}

/// The special days a change starts from: those written and not yet activated, else those in
/// force.
fn pending_special_days(ctx: &Ctx<'_>) -> Vec<Data> {
    let table = match &ctx.face.passive.special_days {
        Some(d) => d.clone(),
        None => special_days(ctx.meter),
    };
    table
        .as_elements()
        .map(<[Data]>::to_vec)
        .unwrap_or_default()
}

fn entry_index(e: &Data) -> Option<u64> {
    e.as_elements()?.first()?.as_u64()
}

/// A push destination `HOST:PORT` (text in the octet-string), when it is one.
fn push_address(dest: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(dest).ok()?;
    let (host, port) = text.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)).then(|| text.to_string())
}

/// The data-notification a push sends: the values of the push object list (attribute 2), in
/// a structure, with the meter's time and the push counter as long-invoke-id.
fn push_notification(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, Dar> {
    use metermaster_dlms::apdu::DataNotification;
    let push = find(ctx, 40, PUSH_SETUP)?;
    let list = read(ctx, &push, 2, None)?;
    let mut values = Vec::new();
    for d in list.as_elements().unwrap_or_default() {
        let c = CaptureObjectDefinition::from_data(d).map_err(|_| Dar::OtherReason)?;
        let obj = find(ctx, c.class_id, c.logical_name)?;
        values.push(if c.attribute_index == 1 {
            Data::logical_name(obj.ln)
        } else {
            read(ctx, &obj, c.attribute_index, None)?
        });
    }
    ctx.face.push_counter = ctx.face.push_counter.wrapping_add(1) & 0x00FF_FFFF;
    let now = ctx.meter.now();
    let dt = CosemDateTime::from_naive_local(now, Some(deviation(ctx.meter)), ClockStatus::OK).ok();
    Ok(DataNotification {
        long_invoke_id_and_priority: ctx.face.push_counter,
        date_time: dt,
        body: Data::Structure(values),
    }
    .encode())
}

/// Sets the meter clock: a trim within [`CLOCK_TRIM_LIMIT_S`] is not programming and any
/// client that may write the clock may do it; a bigger change needs the management client and
/// is recorded as a programming session, as FLAG level 2 does, under the user the association
/// wrote to 0.0.96.2.128.255 (else `DLMS-SAPn`).
fn apply_clock(ctx: &mut Ctx<'_>, target: NaiveDateTime) -> Dar {
    let delta = (target - ctx.meter.now()).num_seconds();
    let trim = delta.abs() <= CLOCK_TRIM_LIMIT_S;
    if !trim && ctx.view.client != Client::Management {
        return Dar::ReadWriteDenied;
    }
    let operator = if ctx.face.user_written_by == Some(ctx.view.client_sap) {
        ctx.meter.operator.clone()
    } else {
        format!("DLMS-SAP{}", ctx.view.client_sap)
    };
    let saved = std::mem::replace(&mut ctx.meter.operator, operator);
    ctx.meter.set_clock(target, 1);
    ctx.meter.operator = saved;
    Dar::Success
}

/// The deviation the meter's clock runs at: its local standard time all year (deviation =
/// UTC − local, minutes): the time zone a DLMS client wrote to the Clock, else the program's.
/// Without either the meter keeps UTC (GMT), as the factory Economy 7 meters do.
pub fn deviation(meter: &SimMeter) -> i16 {
    if let Some(z) = meter.clock_zone {
        return z;
    }
    meter
        .program_at(meter.model_now())
        .map_or(0, |p| p.std_offset_min.saturating_neg())
        .clamp(-720, 720)
}

/// A date-time attribute value (octet-string of 12) for a meter-local time.
pub fn date_time(meter: &SimMeter, t: NaiveDateTime) -> Data {
    let dt = CosemDateTime::from_naive_local(t, Some(deviation(meter)), ClockStatus::OK)
        .unwrap_or(CosemDateTime::UNSPECIFIED);
    Data::date_time_octets(dt)
}

fn unspecified_date_time() -> Data {
    Data::date_time_octets(CosemDateTime::UNSPECIFIED)
}

/// A date-time sent by a client as meter-local time: with a deviation it is converted from
/// that offset to the meter's; without one (`0x8000`) it is taken as meter-local. Year, month,
/// day, hour and minute must be given; unspecified seconds and hundredths count as zero.
pub fn local_from_cosem(meter: &SimMeter, dt: CosemDateTime) -> Option<NaiveDateTime> {
    let date = dt.date.to_naive_date().ok()?;
    let sec = if dt.time.second == NOT_SPECIFIED {
        0
    } else {
        dt.time.second
    };
    let time = NaiveTime::from_hms_opt(
        u32::from(dt.time.hour),
        u32::from(dt.time.minute),
        u32::from(sec),
    )?;
    let local = date.and_time(time);
    match dt.deviation() {
        Some(dev) if dev.unsigned_abs() <= 720 => {
            Some(local + Duration::minutes(i64::from(dev) - i64::from(deviation(meter))))
        }
        Some(_) => None,
        None => Some(local),
    }
}

fn cosem_from_data(d: &Data) -> Option<CosemDateTime> {
    d.to_date_time().ok()
}

fn clock_from_data(meter: &SimMeter, d: &Data) -> Result<NaiveDateTime, Dar> {
    let dt = cosem_from_data(d).ok_or(Dar::TypeUnmatched)?;
    local_from_cosem(meter, dt).ok_or(Dar::OtherReason)
}

fn su(scaler: i8, unit: DlmsUnit) -> Data {
    ScalerUnit::new(scaler, unit).to_data()
}

fn os(s: &str) -> Data {
    Data::OctetString(s.as_bytes().to_vec())
}

/// The start of the load-profile interval holding `t`.
fn interval_start(meter: &SimMeter, t: NaiveDateTime) -> NaiveDateTime {
    let p = i64::from(meter.period_min().max(1));
    let m = i64::from(t.hour()) * 60 + i64::from(t.minute());
    t - Duration::minutes(m % p) - Duration::seconds(i64::from(t.second()))
}

fn demand_at(meter: &SimMeter, start: NaiveDateTime) -> [u64; 8] {
    LoadModel::new(meter.cfg.seed, meter.cfg.period_min).demand(start)
}

/// The value of an instantaneous quantity as (raw, scaler, unit), with the formulas of the
/// FLAG face's instantaneous values (605/606): the FLAG values' digits, at the scale the FLAG
/// reader gives them (powers in W, var, VA × 10^-1, the rest × 10^-4).
pub fn instant_value(meter: &SimMeter, which: Instant) -> (i64, i8, DlmsUnit) {
    use InstantQuantity as Q;
    match which {
        Instant::Flag(q, phase) => {
            let (scaler, unit) = match q {
                Q::Voltage => (-4, DlmsUnit::VOLT),
                Q::Current => (-4, DlmsUnit::AMPERE),
                Q::ActivePower => (-1, DlmsUnit::WATT),
                Q::ReactivePower => (-1, DlmsUnit::VAR),
                Q::ApparentPower => (-1, DlmsUnit::VOLT_AMPERE),
                Q::PowerFactor => (-4, DlmsUnit::COUNT),
                Q::Frequency => (-4, DlmsUnit::HERTZ),
                Q::PhaseAngle => (-4, DlmsUnit::DEGREE),
                Q::PhaseRotation => (0, DlmsUnit::COUNT),
            };
            (meter.instant_e4(q, phase), scaler, unit)
        }
        Instant::PowerImport | Instant::PowerExport => {
            let now = meter.model_now();
            let d = demand_at(meter, interval_start(meter, now));
            let c = usize::from(which == Instant::PowerExport);
            (d[c] as i64 * 10 / 1000, -1, DlmsUnit::WATT)
        }
    }
}

/// Whether an instantaneous value can be negative (sent as double-long).
fn signed(which: Instant) -> bool {
    matches!(
        which,
        Instant::Flag(
            InstantQuantity::ActivePower | InstantQuantity::ReactivePower,
            _
        )
    )
}

/// The model time a register of `period` shows: now, or the end of that closed billing
/// period.
fn period_time(meter: &SimMeter, period: Period) -> Result<NaiveDateTime, Dar> {
    let now = meter.model_now();
    match period {
        None => Ok(now),
        Some(k) => meter
            .billing_reset_times(now)
            .get(k)
            .copied()
            .ok_or(Dar::ObjectUndefined),
    }
}

fn u32_of(v: u64) -> Data {
    Data::DoubleLongUnsigned(u32::try_from(v).unwrap_or(u32::MAX))
}

fn read(
    ctx: &mut Ctx<'_>,
    obj: &CosemObject,
    attr: i8,
    access: Option<&SelectiveAccess>,
) -> Result<Data, Dar> {
    let now = ctx.meter.model_now();
    let meter = &mut *ctx.meter;
    Ok(match (obj.kind, attr) {
        (Kind::Clock, a) => clock_attribute(meter, a),
        (Kind::Value(v), 2) => value(ctx, v),
        (Kind::Cumulative { source, period }, 2) => {
            let at = period_time(meter, period)?;
            let energy = meter.totals_at(at).energy;
            Data::Long64Unsigned(meter.channel_of_source(source).map_or(0, |c| energy[c]))
        }
        (Kind::Cumulative { source, .. }, 3) => {
            let unit = ids::source_info(meter.model(), source)
                .map_or(metermaster_model::Unit::Count, |i| i.2);
            let scaler = if unit == metermaster_model::Unit::Count {
                0
            } else {
                -3
            };
            su(scaler, DlmsUnit::from_model(unit))
        }
        (
            Kind::Tou {
                register, period, ..
            },
            2,
        ) => {
            let at = period_time(meter, period)?;
            Data::Long64Unsigned(meter.tou_at(at).get(register - 1).copied().unwrap_or(0))
        }
        (Kind::Tou { channel, .. }, 3) => su(-3, energy_unit(channel)),
        (Kind::LastDemand { channel }, 2) => {
            let start =
                interval_start(meter, now) - Duration::minutes(i64::from(meter.period_min()));
            u32_of(demand_at(meter, start)[channel])
        }
        (Kind::LastDemand { channel }, 3) => su(-3, demand_unit(channel)),
        (Kind::Instant(i), 2) => {
            let (v, _, _) = instant_value(meter, i);
            if signed(i) {
                Data::DoubleLong(i32::try_from(v).unwrap_or(0))
            } else {
                u32_of(v.max(0) as u64)
            }
        }
        (Kind::Instant(i), 3) => {
            let (_, s, u) = instant_value(meter, i);
            su(s, u)
        }
        (Kind::CumulativeMaxDemand { source, period, .. }, 2) => {
            let at = period_time(meter, period)?;
            Data::Long64Unsigned(meter.cmd_at(at)[source.min(3)])
        }
        (Kind::CumulativeMaxDemand { channel, .. }, 3) => su(-3, demand_unit(channel)),
        (
            Kind::MaxDemand {
                source,
                rank,
                period,
                ..
            },
            2 | 5,
        ) => {
            // A closed period's maximum demands are those of the period that ended then.
            let at = match period {
                None => now,
                Some(_) => period_time(meter, period)? - Duration::seconds(1),
            };
            let (v, t) = meter.md_at(at)[source.min(3)][rank.min(2)];
            if attr == 2 {
                u32_of(v)
            } else {
                t.map_or_else(unspecified_date_time, |t| date_time(meter, t))
            }
        }
        (Kind::MaxDemand { channel, .. }, 3) => su(-3, demand_unit(channel)),
        (Kind::MaxDemand { .. }, 4) => Data::Unsigned(0),
        (Kind::BillingTime { period }, 2) => {
            let at = period_time(meter, Some(period))?;
            date_time(meter, at)
        }
        // Every billing reset of the simulated meter is a billing date's (as its FLAG sets say).
        (Kind::BillingTrigger { period }, 2) => {
            period_time(meter, Some(period))?;
            Data::Unsigned(0x01)
        }
        (Kind::Ratio(r), 2) => {
            let (ct, vt) = (crate::meter::CT_RATIO_CENTI, crate::meter::VT_RATIO_CENTI);
            Data::DoubleLongUnsigned(match r {
                Ratio::CtPrimary => ct.0,
                Ratio::CtSecondary => ct.1,
                Ratio::VtPrimary => vt.0,
                Ratio::VtSecondary => vt.1,
            })
        }
        (Kind::Ratio(r), 3) => match r {
            Ratio::CtPrimary | Ratio::CtSecondary => su(-2, DlmsUnit::AMPERE),
            Ratio::VtPrimary | Ratio::VtSecondary => su(-2, DlmsUnit::VOLT),
        },
        // The meter's counters are two bytes, as the FLAG logs keep them.
        (Kind::EventCounter { id }, 2) => Data::LongUnsigned(
            meter
                .event_log(id)
                .map_or(0, |l| l.count.min(0xFFFF) as u16),
        ),
        (Kind::Demand, a) => {
            let start = interval_start(meter, now);
            let p = i64::from(meter.period_min());
            match a {
                2 => u32_of(demand_at(meter, start)[0]),
                3 => u32_of(demand_at(meter, start - Duration::minutes(p))[0]),
                4 => su(-3, DlmsUnit::WATT),
                5 => Data::Unsigned(0),
                6 | 7 => date_time(meter, start),
                8 => Data::DoubleLongUnsigned(u32::try_from(p * 60).unwrap_or(0)),
                _ => Data::LongUnsigned(1),
            }
        }
        (Kind::Profile(k), a) => profile_attribute(meter, k, a, access)?,
        (Kind::ActivityCalendar, a) => calendar_attribute(meter, &ctx.face.passive, a),
        (Kind::SpecialDays, 2) => match &ctx.face.passive.special_days {
            // Written and not yet activated: what was written.
            Some(d) => d.clone(),
            None => special_days(meter),
        },
        (Kind::ScriptTable, 2) => scripts(meter),
        // Script 1: the maximum demand registers' reset (the end of a billing period).
        (Kind::BillingScript, 2) => Data::Array(vec![Data::Structure(vec![
            Data::LongUnsigned(1),
            Data::Array(vec![Data::Structure(vec![
                Data::Enum(2),
                Data::LongUnsigned(4),
                Data::logical_name(ObisCode::elec(1, 6, 0)),
                Data::Integer(1),
                Data::Integer(0),
            ])]),
        ])]),
        (Kind::RegisterActivation, a) => register_activation(meter, a),
        (Kind::SapAssignment, 2) => Data::Array(vec![Data::Structure(vec![
            Data::LongUnsigned(super::SERVER_SAP),
            Data::OctetString(device_name(meter)),
        ])]),
        (Kind::AssociationLn, a) => association_attribute(ctx, a),
        (Kind::SecuritySetup, a) => match a {
            2 | 3 => Data::Enum(0),
            4 => Data::OctetString(
                ctx.view
                    .client_title
                    .map_or_else(Vec::new, |t| t.0.to_vec()),
            ),
            _ => Data::OctetString(ctx.face.system_title.0.to_vec()),
        },
        (Kind::PushSetup, a) => match a {
            2 => Data::Array(
                [
                    (40, PUSH_SETUP, 1),
                    (1, SERIAL, 2),
                    (8, CLOCK, 2),
                    (3, ObisCode::elec(1, 8, 0), 2),
                ]
                .into_iter()
                .map(|(c, ln, a)| CaptureObjectDefinition::new(c, ln, a).to_data())
                .collect(),
            ),
            3 => Data::Structure(vec![
                Data::Enum(0),
                Data::OctetString(ctx.face.push_destination.clone().unwrap_or_default()),
                Data::Enum(0),
            ]),
            4 => Data::Array(Vec::new()),
            5 | 7 => Data::LongUnsigned(0),
            _ => Data::Unsigned(0),
        },
        (Kind::Disconnect, a) => {
            let connected = ctx.face.disconnect == DisconnectState::Connected;
            match a {
                2 => Data::Boolean(connected),
                3 => Data::Enum(u8::from(connected)),
                _ => Data::Enum(1),
            }
        }
        _ => return Err(Dar::ObjectUndefined),
    })
}

fn clock_attribute(meter: &SimMeter, attr: i8) -> Data {
    let dst = meter
        .program_at(meter.model_now())
        .map(|p| p.dst.clone())
        .unwrap_or_default();
    let now = meter.model_now();
    // The DST changes the program knows (they steer its tariff switching; the clock itself
    // stays on standard time): the next (or last) start and end.
    let pick = |begin: bool| {
        let matching: Vec<_> = dst.iter().filter(|d| (d.shift_min != 0) == begin).collect();
        matching
            .iter()
            .find(|d| d.from > now)
            .or(matching.last())
            .map(|d| d.from)
    };
    let wildcard_local = |t: Option<NaiveDateTime>| match t {
        Some(t) => CosemDateTime::from_naive_local(t, None, ClockStatus::NOT_SPECIFIED)
            .map_or_else(|_| unspecified_date_time(), Data::date_time_octets),
        None => unspecified_date_time(),
    };
    match attr {
        2 => date_time(meter, meter.now()),
        3 => Data::Long(deviation(meter)),
        4 => Data::Unsigned(0),
        5 => wildcard_local(pick(true)),
        6 => wildcard_local(pick(false)),
        7 => Data::Integer(
            dst.iter()
                .map(|d| d.shift_min)
                .find(|s| *s != 0)
                .map_or(60, |s| s.clamp(-120, 120) as i8),
        ),
        8 => Data::Boolean(false),
        _ => Data::Enum(1),
    }
}

/// The COSEM logical device name: `GEC`, the model and the serial, at most 16 characters.
pub fn device_name(meter: &SimMeter) -> Vec<u8> {
    let mut s = format!("GEC{}{}", meter.model().name(), meter.cfg.serial).into_bytes();
    s.truncate(16);
    s
}

fn value(ctx: &mut Ctx<'_>, v: Value) -> Data {
    let meter = &mut *ctx.meter;
    let last_prog = meter.programming.last().cloned();
    match v {
        Value::Serial => Data::visible_string(&meter.cfg.serial),
        Value::DeviceName => Data::OctetString(device_name(meter)),
        Value::Firmware => Data::visible_string(&format!("SIM{} 0.1", meter.model().name())),
        Value::SchemeId => {
            // As long as the FLAG scheme id (795) holds.
            let len = meter.model().id_len(ids::SCHEME).unwrap_or(8);
            Data::visible_string(&meter.cfg.scheme_id.chars().take(len).collect::<String>())
        }
        Value::InvocationCounter => {
            Data::DoubleLongUnsigned(ctx.face.client_guard.last().unwrap_or(0))
        }
        Value::ProfileStatus => {
            let now = meter.model_now();
            let rows = load_rows(meter, Some((now - Duration::days(1), now)));
            Data::Unsigned(
                rows.last()
                    .and_then(|r| match r.1.get(1) {
                        Some(Data::Unsigned(s)) => Some(*s),
                        _ => None,
                    })
                    .unwrap_or(0),
            )
        }
        Value::EventCode => Data::Unsigned(event_rows(meter).last().map_or(0, |e| e.1)),
        Value::ProgrammingCount => Data::DoubleLongUnsigned(meter.programming_count()),
        Value::ProgrammingTime => {
            last_prog.map_or_else(unspecified_date_time, |p| date_time(meter, p.time))
        }
        Value::ProgrammingUser => {
            Data::visible_string(&last_prog.map(|p| p.user).unwrap_or_default())
        }
        Value::ProgrammingLabel => {
            Data::visible_string(&last_prog.map(|p| p.note.label).unwrap_or_default())
        }
        Value::ProgrammingKind => Data::Unsigned(last_prog.map_or(0, |p| p.note.kind)),
        Value::ProgrammingPort => Data::Unsigned(match meter.model() {
            MeterModel::A1140 => last_prog.map_or(0, |p| p.port),
            MeterModel::A1700 => PORT_NOT_KEPT,
        }),
        Value::ActiveTariff => Data::Unsigned(active_selector(meter) as u8),
    }
}

fn association_attribute(ctx: &mut Ctx<'_>, attr: i8) -> Data {
    let v = ctx.view;
    let arcs = |kind: u8, n: u8| {
        Data::Structure(vec![
            Data::Unsigned(2),
            Data::Unsigned(16),
            Data::LongUnsigned(756),
            Data::Unsigned(5),
            Data::Unsigned(8),
            Data::Unsigned(kind),
            Data::Unsigned(n),
        ])
    };
    match attr {
        2 => Data::Array(
            object_list(ctx.meter)
                .into_iter()
                .filter(|o| o.visible(v.client))
                .map(|o| o.to_list_entry(v.client))
                .collect(),
        ),
        3 => Data::Structure(vec![
            Data::Integer(i8::try_from(v.client_sap).unwrap_or(0)),
            Data::LongUnsigned(super::SERVER_SAP),
        ]),
        4 => arcs(1, v.context.0),
        5 => {
            let bits = v.conformance.to_bytes();
            Data::Structure(vec![
                Data::BitString(
                    BitString::new(bits.to_vec(), 24).unwrap_or_else(|_| BitString::from_bools([])),
                ),
                Data::LongUnsigned(super::SERVER_MAX_PDU),
                Data::LongUnsigned(v.client_max_pdu.min(super::SERVER_MAX_PDU)),
                Data::Unsigned(6),
                Data::Integer(0),
                Data::OctetString(Vec::new()),
            ])
        }
        6 => arcs(2, v.mechanism.0),
        8 => Data::Enum(if v.associated { 2 } else { 1 }),
        _ => Data::logical_name(SECURITY_SETUP),
    }
}

// ---------------------------------------------------------------------------------------------
// Profiles

/// One row of a profile buffer: its time (the restricting column) and its values.
pub type Row = (NaiveDateTime, Vec<Data>);

/// The capture objects of a profile.
pub fn capture_objects(k: ProfileKind) -> Vec<CaptureObjectDefinition> {
    let d = CaptureObjectDefinition::new;
    let mut v = vec![CaptureObjectDefinition::CLOCK_TIME];
    match k {
        ProfileKind::Load => {
            v.push(d(1, PROFILE_STATUS, 2));
            for &c in &PROFILE_CHANNELS {
                v.push(d(3, ObisCode::elec(CHANNEL_C[c], 5, 0), 2));
            }
        }
        ProfileKind::Events => v.push(d(1, EVENT_CODE, 2)),
        ProfileKind::PowerFailures => {}
        ProfileKind::Programming => v.extend([
            d(1, PROGRAMMING_KIND, 2),
            d(1, PROGRAMMING_USER, 2),
            d(1, PROGRAMMING_LABEL, 2),
            d(1, PROGRAMMING_PORT, 2),
        ]),
    }
    v
}

/// The load-profile status byte: ours, one bit per interval flag the simulated meter's FLAG
/// profile can carry, with bits 5 … 7 where IDIS/DSMR readers look for them where that fits:
///
/// | bit | flag |
/// |---|---|
/// | 0x01 | transient reset |
/// | 0x02 | clock adjusted |
/// | 0x04 | configuration change |
/// | 0x08 | power down in the interval |
/// | 0x10 | power up in the interval |
/// | 0x20 | reverse run |
/// | 0x40 | phase failure |
/// | 0x80 | a power cut touched the interval (power down or up: the IDIS "power down" bit) |
///
/// (Battery failure and CT change have no bit: the simulated meter has neither.)
pub fn profile_status(flags: IntervalStatus) -> u8 {
    let mut b = PROFILE_STATUS_BITS
        .iter()
        .filter(|(_, f)| flags.contains(*f))
        .fold(0, |a, (bit, _)| a | bit);
    if flags.contains(IntervalStatus::POWER_DOWN) || flags.contains(IntervalStatus::POWER_UP) {
        b |= 0x80;
    }
    b
}

/// The bits of [`profile_status`] below 0x80.
pub const PROFILE_STATUS_BITS: [(u8, IntervalStatus); 7] = [
    (0x01, IntervalStatus::TRANSIENT_RESET),
    (0x02, IntervalStatus::CLOCK_ADJUSTED),
    (0x04, IntervalStatus::CONFIG_CHANGE),
    (0x08, IntervalStatus::POWER_DOWN),
    (0x10, IntervalStatus::POWER_UP),
    (0x20, IntervalStatus::REVERSE_RUN),
    (0x40, IntervalStatus::PHASE_FAIL),
];

/// Load-profile rows whose interval ends within `window` (inclusive), or all of them: the
/// intervals the FLAG profile decoder builds from the meter's `day()` records, each stamped
/// with its end (the capture time), with the status and the average demand per channel in mW
/// (var, VA), exactly the FLAG values.
pub fn load_rows(meter: &SimMeter, window: Option<(NaiveDateTime, NaiveDateTime)>) -> Vec<Row> {
    let now = meter.model_now();
    let first = meter.history_start().date();
    let last = now.date();
    let (d0, d1) = match window {
        Some((from, to)) => (
            first.max((from - Duration::days(1)).date()),
            last.min(to.date()),
        ),
        None => (first, last),
    };
    let model: MeterModel = meter.model();
    let mut rows = Vec::new();
    let mut d: NaiveDate = d0;
    while d <= d1 {
        let (recs, _) = meter.day(d, now);
        if let Ok(lp) = to_load_profile(&recs, model, 0) {
            for iv in lp.intervals {
                let end = iv.start.naive_utc() + Duration::seconds(i64::from(iv.seconds));
                if window.is_some_and(|(f, t)| end < f || end > t) {
                    continue;
                }
                let mut values = vec![
                    date_time(meter, end),
                    Data::Unsigned(profile_status(iv.status)),
                ];
                values.extend(
                    iv.values
                        .iter()
                        .map(|v| u32_of(u64::try_from(*v).unwrap_or(0))),
                );
                rows.push((end, values));
            }
        }
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    rows
}

/// Event codes of the event log 0.0.99.98.0.255. 40 and 44 are those of the DSMR/IDIS
/// standard event log (terminal cover removed, meter cover removed; 41 and 45 there are the
/// covers closed again); the others are ours, as the standard has none (metermaster's DLMS
/// reader knows them when it recognises the simulated meter by its logical device name).
/// Power failures are in the power failure log 1.0.99.97.0.255 instead.
pub mod event_code {
    pub const REVERSE_RUN: u8 = 10;
    /// A1140: plus the phase mask its log keeps: 1 L1, 2 L2, 4 L3 (21 = L1, 27 = all three).
    pub const PHASE_FAILURE: u8 = 20;
    /// A1700: plus the number of the (first) failed phase its log keeps (31, 32, 33).
    pub const PHASE_FAILURE_A1700: u8 = 30;
    pub const TERMINAL_COVER: u8 = 40;
    pub const MAIN_COVER: u8 = 44;
    /// End of billing period by the billing date (the trigger every simulated reset has).
    pub const BILLING_RESET: u8 = 50;
}

/// The event log's rows, oldest first, with their codes: what the meter's event logs keep
/// (the count and the latest three of each kind, [`SimMeter::event_memory`]), as the FLAG
/// face's event logs show it; power failures apart (their own log).
pub fn event_rows(meter: &SimMeter) -> Vec<(NaiveDateTime, u8)> {
    use metermaster_model::EventKind as K;
    let a1700 = meter.model() == MeterModel::A1700;
    let mut out = Vec::new();
    for log in meter.event_memory() {
        for (t, info) in log.latest {
            let code = match log.kind {
                K::ReverseRun => event_code::REVERSE_RUN,
                K::PhaseFailure if a1700 => event_code::PHASE_FAILURE_A1700 + (info & 3),
                K::PhaseFailure => event_code::PHASE_FAILURE + (info & 7),
                K::TerminalCoverOpened => event_code::TERMINAL_COVER,
                K::MainCoverOpened => event_code::MAIN_COVER,
                K::BillingReset => event_code::BILLING_RESET,
                // Power failures have their own log; the simulated meter never has the others.
                _ => continue,
            };
            out.push((t, code));
        }
    }
    out.sort_by_key(|e| e.0);
    out
}

/// The power failure log's rows, oldest first: the start of each of the latest three power
/// failures, as the FLAG power failure log (695) keeps them.
pub fn power_failure_rows(meter: &SimMeter) -> Vec<NaiveDateTime> {
    let mut v: Vec<NaiveDateTime> = meter
        .event_log(695)
        .map(|l| l.latest.into_iter().map(|e| e.0).collect())
        .unwrap_or_default();
    v.reverse();
    v
}

/// What an A1700 programming log row says for the port: its log keeps none.
const PORT_NOT_KEPT: u8 = 255;

fn profile_rows(
    meter: &SimMeter,
    k: ProfileKind,
    window: Option<(NaiveDateTime, NaiveDateTime)>,
) -> Vec<Row> {
    match k {
        ProfileKind::Load => load_rows(meter, window),
        ProfileKind::Events => event_rows(meter)
            .into_iter()
            .map(|(t, c)| (t, vec![date_time(meter, t), Data::Unsigned(c)]))
            .collect(),
        ProfileKind::PowerFailures => power_failure_rows(meter)
            .into_iter()
            .map(|t| (t, vec![date_time(meter, t)]))
            .collect(),
        // The sessions the meter's programming log keeps (the last three, as FLAG 680); the
        // A1700's keeps no user or port.
        ProfileKind::Programming => {
            let a1700 = meter.model() == MeterModel::A1700;
            let n = meter.programming.len();
            meter.programming[n.saturating_sub(3)..]
                .iter()
                .map(|p| {
                    (
                        p.time,
                        vec![
                            date_time(meter, p.time),
                            Data::Unsigned(p.note.kind),
                            Data::visible_string(if a1700 { "" } else { p.user.as_str() }),
                            Data::visible_string(&p.note.label),
                            Data::Unsigned(if a1700 { PORT_NOT_KEPT } else { p.port }),
                        ],
                    )
                })
                .collect()
        }
    }
}

fn profile_attribute(
    meter: &SimMeter,
    k: ProfileKind,
    attr: i8,
    access: Option<&SelectiveAccess>,
) -> Result<Data, Dar> {
    let columns = capture_objects(k);
    Ok(match attr {
        2 => buffer(meter, k, &columns, access)?,
        3 => Data::Array(columns.iter().map(|c| c.to_data()).collect()),
        4 => Data::DoubleLongUnsigned(match k {
            ProfileKind::Load => meter.period_min() * 60,
            _ => 0,
        }),
        5 => Data::Enum(1),
        6 => CaptureObjectDefinition::CLOCK_TIME.to_data(),
        // The simulated buffers never wrap: capacity is what they hold.
        _ => Data::DoubleLongUnsigned(
            u32::try_from(profile_rows(meter, k, None).len()).unwrap_or(u32::MAX),
        ),
    })
}

/// The buffer, all of it or as selected by range (selector 1, on the clock column) or by
/// entry (selector 2).
fn buffer(
    meter: &SimMeter,
    k: ProfileKind,
    columns: &[CaptureObjectDefinition],
    access: Option<&SelectiveAccess>,
) -> Result<Data, Dar> {
    let (rows, cols): (Vec<Row>, Vec<usize>) = match access {
        None => (profile_rows(meter, k, None), (0..columns.len()).collect()),
        Some(a) => match ProfileSelection::from_access(a) {
            Err(_) => return Err(Dar::TypeUnmatched),
            Ok(None) => return Err(Dar::OtherReason),
            Ok(Some(ProfileSelection::Range(r))) => {
                let c = &r.restricting_object;
                if (c.class_id, c.logical_name, c.attribute_index) != (8, CLOCK, 2) {
                    return Err(Dar::OtherReason);
                }
                let from = cosem_from_data(&r.from_value)
                    .and_then(|d| local_from_cosem(meter, d))
                    .ok_or(Dar::OtherReason)?;
                let to = cosem_from_data(&r.to_value)
                    .and_then(|d| local_from_cosem(meter, d))
                    .ok_or(Dar::OtherReason)?;
                let cols: Vec<usize> = if r.selected_values.is_empty() {
                    (0..columns.len()).collect()
                } else {
                    let mut cols = r
                        .selected_values
                        .iter()
                        .map(|s| {
                            columns
                                .iter()
                                .position(|c| {
                                    (c.class_id, c.logical_name, c.attribute_index)
                                        == (s.class_id, s.logical_name, s.attribute_index)
                                })
                                .ok_or(Dar::OtherReason)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    // The columns come in the buffer's order, whatever order the request
                    // names them in (guide §3.8); a column named twice comes once.
                    cols.sort_unstable();
                    cols.dedup();
                    cols
                };
                let rows = if from > to {
                    Vec::new()
                } else {
                    profile_rows(meter, k, Some((from, to)))
                        .into_iter()
                        .filter(|r| r.0 >= from && r.0 <= to)
                        .collect()
                };
                (rows, cols)
            }
            Ok(Some(ProfileSelection::Entry(e))) => {
                let all = profile_rows(meter, k, None);
                let n = all.len();
                let from = (e.from_entry.max(1) as usize).saturating_sub(1);
                let to = if e.to_entry == 0 {
                    n
                } else {
                    (e.to_entry as usize).min(n)
                };
                let c0 = usize::from(e.from_selected_value.max(1)) - 1;
                let c1 = if e.to_selected_value == 0 {
                    columns.len()
                } else {
                    usize::from(e.to_selected_value)
                };
                if c0 >= columns.len() || c1 > columns.len() || c0 >= c1 {
                    return Err(Dar::OtherReason);
                }
                let rows = if from >= to {
                    Vec::new()
                } else {
                    all.into_iter().skip(from).take(to - from).collect()
                };
                (rows, (c0..c1).collect())
            }
        },
    };
    // Buffer compression: a row whose clock is the previous row's plus the capture period
    // carries null in the clock column (the client rebuilds it).
    let clock_col = columns
        .iter()
        .position(|c| (c.class_id, c.logical_name, c.attribute_index) == (8, CLOCK, 2));
    let step = Duration::minutes(i64::from(meter.period_min()));
    let compress = meter.cfg.compress_profile && k == ProfileKind::Load;
    let mut prev: Option<chrono::NaiveDateTime> = None;
    let mut out = Vec::with_capacity(rows.len());
    for (t, v) in rows {
        let follows = prev.is_some_and(|p| p + step == t);
        prev = Some(t);
        out.push(Data::Structure(
            cols.iter()
                .filter_map(|&i| {
                    if compress && follows && Some(i) == clock_col {
                        Some(Data::Null)
                    } else {
                        v.get(i).cloned()
                    }
                })
                .collect(),
        ));
    }
    Ok(Data::Array(out))
}

// ---------------------------------------------------------------------------------------------
// Tariff: calendar, special days, scripts, register activation

/// A day action: start time and script selector (the TOU register the rate counts into).
type Action = (u8, u8, u16);

/// The calendar in force, in COSEM shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub name: String,
    /// (season name, month, day, week name)
    pub seasons: Vec<(String, u8, u8, String)>,
    /// (week name, day ids Monday to Sunday)
    pub weeks: Vec<(String, [u8; 7])>,
    /// (day id, actions)
    pub days: Vec<(u8, Vec<Action>)>,
    /// (index, year or none for every year, month, day, day id)
    pub special_days: Vec<(u16, Option<u16>, u8, u8, u8)>,
}

/// The calendar of the program in force, or the factory Economy 7 calendar (one season, every
/// day 00:00 rate 1, 00:30 rate 2, 07:30 rate 1). Day ids count from 1 in the program's order,
/// week profiles are the distinct weeks of the seasons (`W1`, `W2`, ... in order of first
/// use), seasons are named `S1`, `S2`, ...; each action's script selector is the register
/// of its rate. A day profile whose first switch is after 00:00 gets a 00:00 action for the
/// first rate, because the meter counts into it until the first switch.
pub fn calendar(meter: &SimMeter) -> Calendar {
    let Some(p) = meter.program_at(meter.model_now()) else {
        return Calendar {
            name: meter.cfg.scheme_id.clone(),
            seasons: vec![("S1".into(), 1, 1, "W1".into())],
            weeks: vec![("W1".into(), [1; 7])],
            days: vec![(1, vec![(0, 0, 1), (0, 30, 2), (7, 30, 1)])],
            special_days: Vec::new(),
        };
    };
    let mut weeks: Vec<(String, [u8; 7])> = Vec::new();
    let mut seasons = Vec::new();
    for (i, s) in p.seasons.iter().enumerate() {
        let mut ids = [0u8; 7];
        for (k, d) in s.week.iter().enumerate() {
            ids[k] = d.saturating_add(1);
        }
        let name = match weeks.iter().find(|w| w.1 == ids) {
            Some(w) => w.0.clone(),
            None => {
                let n = format!("W{}", weeks.len() + 1);
                weeks.push((n.clone(), ids));
                n
            }
        };
        seasons.push((format!("S{}", i + 1), s.month, s.day, name));
    }
    let register = |rate: u8| {
        p.rates
            .get(usize::from(rate))
            .map(|r| u16::from(r.register))
    };
    let days = p
        .day_profiles
        .iter()
        .enumerate()
        .map(|(i, prof)| {
            let mut actions: Vec<Action> = Vec::new();
            if prof.first().is_none_or(|s| s.minute > 0) {
                actions.extend(register(0).map(|r| (0, 0, r)));
            }
            actions.extend(prof.iter().filter_map(|s| {
                register(s.rate).map(|r| ((s.minute / 60) as u8, (s.minute % 60) as u8, r))
            }));
            (i as u8 + 1, actions)
        })
        .collect();
    let special_days = p
        .special_days
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                i as u16,
                (s.year != 0).then_some(s.year),
                s.month,
                s.day,
                s.profile.saturating_add(1),
            )
        })
        .collect();
    Calendar {
        name: p.label.clone(),
        seasons,
        weeks,
        days,
        special_days,
    }
}

impl Calendar {
    pub fn name_data(&self) -> Data {
        os(&self.name)
    }

    pub fn seasons_data(&self) -> Data {
        Data::Array(
            self.seasons
                .iter()
                .map(|(name, month, day, week)| {
                    let start = CosemDateTime {
                        date: CosemDate {
                            year: YEAR_NOT_SPECIFIED,
                            month: *month,
                            day: *day,
                            weekday: NOT_SPECIFIED,
                        },
                        time: CosemTime {
                            hour: 0,
                            minute: 0,
                            second: 0,
                            hundredths: 0,
                        },
                        deviation: DEVIATION_NOT_SPECIFIED,
                        status: ClockStatus::NOT_SPECIFIED,
                    };
                    Data::Structure(vec![os(name), Data::date_time_octets(start), os(week)])
                })
                .collect(),
        )
    }

    pub fn weeks_data(&self) -> Data {
        Data::Array(
            self.weeks
                .iter()
                .map(|(name, ids)| {
                    let mut v = vec![os(name)];
                    v.extend(ids.iter().map(|d| Data::Unsigned(*d)));
                    Data::Structure(v)
                })
                .collect(),
        )
    }

    pub fn days_data(&self) -> Data {
        Data::Array(
            self.days
                .iter()
                .map(|(id, actions)| {
                    Data::Structure(vec![
                        Data::Unsigned(*id),
                        Data::Array(
                            actions
                                .iter()
                                .map(|(h, m, sel)| {
                                    let t = CosemTime {
                                        hour: *h,
                                        minute: *m,
                                        second: 0,
                                        hundredths: 0,
                                    };
                                    Data::Structure(vec![
                                        Data::OctetString(t.to_bytes().to_vec()),
                                        Data::logical_name(SCRIPT_TABLE),
                                        Data::LongUnsigned(*sel),
                                    ])
                                })
                                .collect(),
                        ),
                    ])
                })
                .collect(),
        )
    }

    pub fn special_days_data(&self) -> Data {
        Data::Array(
            self.special_days
                .iter()
                .map(|(i, year, month, day, id)| {
                    let d = CosemDate {
                        year: year.unwrap_or(YEAR_NOT_SPECIFIED),
                        month: *month,
                        day: *day,
                        weekday: NOT_SPECIFIED,
                    };
                    Data::Structure(vec![
                        Data::LongUnsigned(*i),
                        Data::OctetString(d.to_bytes().to_vec()),
                        Data::Unsigned(*id),
                    ])
                })
                .collect(),
        )
    }

    /// The distinct script selectors the day profiles use, ascending.
    pub fn selectors(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .days
            .iter()
            .flat_map(|(_, a)| a.iter().map(|x| x.2))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn calendar_attribute(meter: &SimMeter, passive: &super::PassiveCalendar, attr: i8) -> Data {
    let cal = calendar(meter);
    match attr {
        2 => cal.name_data(),
        3 => cal.seasons_data(),
        4 => cal.weeks_data(),
        5 => cal.days_data(),
        6 => passive.name.clone(),
        7 => passive.seasons.clone(),
        8 => passive.weeks.clone(),
        9 => passive.days.clone(),
        _ => passive.activation.clone(),
    }
}

fn special_days(meter: &SimMeter) -> Data {
    calendar(meter).special_days_data()
}

fn mask_name(selector: u16) -> Data {
    os(&format!("R{selector}"))
}

/// The script selector in force now: the register of the rate the calendar selects.
pub fn active_selector(meter: &SimMeter) -> u16 {
    let now = meter.model_now();
    match meter.program_at(now) {
        None => {
            let minute = now.hour() * 60 + now.minute();
            if (30..450).contains(&minute) { 2 } else { 1 }
        }
        Some(p) => p
            .rates
            .get(p.rate_at(now))
            .map_or(1, |r| u16::from(r.register)),
    }
}

/// The tariffication scripts: script `n` writes mask `Rn` into the register activation's
/// active_mask.
fn scripts(meter: &SimMeter) -> Data {
    Data::Array(
        calendar(meter)
            .selectors()
            .into_iter()
            .map(|sel| {
                Data::Structure(vec![
                    Data::LongUnsigned(sel),
                    Data::Array(vec![Data::Structure(vec![
                        Data::Enum(1),
                        Data::LongUnsigned(6),
                        Data::logical_name(REGISTER_ACTIVATION),
                        Data::Integer(4),
                        mask_name(sel),
                    ])]),
                ])
            })
            .collect(),
    )
}

fn register_activation(meter: &SimMeter, attr: i8) -> Data {
    let regs = tou_registers(meter);
    let factory = meter.program_at(meter.model_now()).is_none();
    match attr {
        2 => Data::Array(
            regs.iter()
                .map(|(_, c, e)| {
                    Data::Structure(vec![
                        Data::LongUnsigned(3),
                        Data::logical_name(ObisCode::elec(CHANNEL_C[*c], 8, *e)),
                    ])
                })
                .collect(),
        ),
        3 => Data::Array(
            calendar(meter)
                .selectors()
                .into_iter()
                .map(|sel| {
                    // The factory layout: registers 1 and 2 are import day and night; the
                    // others count at all times. A program: each rate its own register.
                    let idx: Vec<Data> = regs
                        .iter()
                        .enumerate()
                        .filter(|(_, (reg, _, _))| {
                            if factory {
                                *reg == usize::from(sel) || *reg > 2
                            } else {
                                *reg == usize::from(sel)
                            }
                        })
                        .map(|(i, _)| Data::Unsigned(i as u8 + 1))
                        .collect();
                    Data::Structure(vec![mask_name(sel), Data::Array(idx)])
                })
                .collect(),
        ),
        _ => mask_name(active_selector(meter)),
    }
}
