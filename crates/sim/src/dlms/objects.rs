//! The COSEM object model of a simulated meter, built from the [`SimMeter`] on every request.
//!
//! Each object is an interface class, an OBIS logical name and a [`Kind`] that says which part
//! of the meter model it shows. Values are computed when asked for, from the same functions the
//! FLAG face uses: registers from `totals_at`/`tou_at`, maximum demand from `md_at`, the load
//! profile from `day()` through the FLAG profile decoder (so the intervals and values are those
//! a FLAG read of the same meter gives), events from `events_until`, the programming log from
//! `programming`, the calendar from the program in force.
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
use metermaster_flag::ids::MeterModel;
use metermaster_flag::profile::{status_byte, to_load_profile};
use metermaster_model::{IntervalStatus, ObisCode};

use super::{DisconnectState, DlmsFace};
use crate::load::{LoadModel, mix};
use crate::meter::{CLOCK_TRIM_LIMIT_S, PROFILE_CHANNELS, SimEvent, SimMeter};

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
    InvocationCounter,
    ProfileStatus,
    EventCode,
    ProgrammingCount,
    ProgrammingTime,
    ProgrammingUser,
    ProgrammingLabel,
    ProgrammingKind,
    ActiveTariff,
}

/// Instantaneous values (class 3), computed as the FLAG face's instantaneous values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instant {
    VoltageL1,
    CurrentL1,
    PowerImport,
    PowerExport,
    PowerNet,
    PowerFactor,
    Frequency,
}

/// Which profile generic object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    Load,
    Events,
    Programming,
}

/// What part of the meter an object shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Clock,
    Value(Value),
    /// Cumulative energy of a model channel (class 3).
    Energy {
        channel: usize,
    },
    /// A TOU register (1-based register number) of a model channel (class 3).
    Tou {
        register: usize,
        channel: usize,
    },
    /// The average demand of the last complete interval of a model channel (class 3).
    LastDemand {
        channel: usize,
    },
    Instant(Instant),
    /// Maximum demand of an MD source (index into the meter's MD sources) (class 4).
    MaxDemand {
        source: usize,
        channel: usize,
    },
    /// Active import demand (class 5).
    Demand,
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

pub const CLOCK: ObisCode = ObisCode::abstract_(1, 0, 0);
pub const ASSOCIATION_LN: ObisCode = ObisCode::abstract_(40, 0, 0);
pub const SAP_ASSIGNMENT: ObisCode = ObisCode::abstract_(41, 0, 0);
pub const DEVICE_NAME: ObisCode = ObisCode::abstract_(42, 0, 0);
pub const SECURITY_SETUP: ObisCode = ObisCode::abstract_(43, 0, 0);
pub const INVOCATION_COUNTER: ObisCode = ObisCode::abstract_(43, 1, 0);
pub const SERIAL: ObisCode = ObisCode::abstract_(96, 1, 0);
pub const FIRMWARE: ObisCode = ObisCode::elec(0, 2, 0);
pub const PROFILE_STATUS: ObisCode = ObisCode::abstract_(96, 10, 1);
pub const LOAD_PROFILE: ObisCode = ObisCode::elec(99, 1, 0);
pub const EVENT_CODE: ObisCode = ObisCode::abstract_(96, 11, 0);
pub const EVENT_LOG: ObisCode = ObisCode::abstract_(99, 98, 0);
pub const PROGRAMMING_COUNT: ObisCode = ObisCode::abstract_(96, 2, 0);
pub const PROGRAMMING_TIME: ObisCode = ObisCode::abstract_(96, 2, 1);
pub const PROGRAMMING_USER: ObisCode = ObisCode::abstract_(96, 2, 128);
pub const PROGRAMMING_LABEL: ObisCode = ObisCode::abstract_(96, 2, 129);
pub const PROGRAMMING_KIND: ObisCode = ObisCode::abstract_(96, 2, 130);
pub const PROGRAMMING_LOG: ObisCode = ObisCode::abstract_(99, 98, 10);
pub const SCRIPT_TABLE: ObisCode = ObisCode::abstract_(10, 0, 100);
pub const BILLING_SCRIPT: ObisCode = ObisCode::abstract_(10, 0, 1);
pub const SPECIAL_DAYS: ObisCode = ObisCode::abstract_(11, 0, 0);
pub const ACTIVITY_CALENDAR: ObisCode = ObisCode::abstract_(13, 0, 0);
pub const REGISTER_ACTIVATION: ObisCode = ObisCode::abstract_(14, 0, 0);
pub const ACTIVE_TARIFF: ObisCode = ObisCode::abstract_(96, 14, 0);
pub const PUSH_SETUP: ObisCode = ObisCode::abstract_(25, 9, 0);
pub const DISCONNECT_CONTROL: ObisCode = ObisCode::abstract_(96, 3, 10);

/// The objects of a meter now (the TOU registers follow the program in force).
pub fn object_list(meter: &SimMeter) -> Vec<CosemObject> {
    use Client::{Public, Reader};
    let o = CosemObject::new;
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
    ];
    for (channel, c) in CHANNEL_C.iter().enumerate() {
        v.push(o(
            3,
            ObisCode::elec(*c, 8, 0),
            Kind::Energy { channel },
            Public,
        ));
    }
    for (register, channel, e) in tou_registers(meter) {
        v.push(o(
            3,
            ObisCode::elec(CHANNEL_C[channel], 8, e),
            Kind::Tou { register, channel },
            Public,
        ));
    }
    for &channel in &PROFILE_CHANNELS {
        v.push(o(
            3,
            ObisCode::elec(CHANNEL_C[channel], 5, 0),
            Kind::LastDemand { channel },
            Public,
        ));
    }
    for (source, code) in meter.md_sources().into_iter().enumerate() {
        if let Some(channel) = meter.channel_of_source(code) {
            v.push(o(
                4,
                ObisCode::elec(CHANNEL_C[channel], 6, 0),
                Kind::MaxDemand { source, channel },
                Public,
            ));
        }
    }
    v.push(o(5, ObisCode::elec(1, 4, 0), Kind::Demand, Public));
    for (c, i) in [
        (32, Instant::VoltageL1),
        (31, Instant::CurrentL1),
        (1, Instant::PowerImport),
        (2, Instant::PowerExport),
        (16, Instant::PowerNet),
        (13, Instant::PowerFactor),
        (14, Instant::Frequency),
    ] {
        v.push(o(3, ObisCode::elec(c, 7, 0), Kind::Instant(i), Public));
    }
    v.extend([
        o(1, PROFILE_STATUS, Kind::Value(Value::ProfileStatus), Public),
        o(7, LOAD_PROFILE, Kind::Profile(ProfileKind::Load), Public),
        o(1, EVENT_CODE, Kind::Value(Value::EventCode), Reader),
        o(7, EVENT_LOG, Kind::Profile(ProfileKind::Events), Reader),
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
/// FLAG face's instantaneous values (605/606).
pub fn instant_value(meter: &SimMeter, which: Instant) -> (i64, i8, DlmsUnit) {
    let now = meter.model_now();
    let d = demand_at(meter, interval_start(meter, now));
    let seed = meter.cfg.seed;
    let sec = u64::from(now.second());
    let pf_e4 = if d[6] > 0 {
        (d[0] as i64 * 10_000) / d[6] as i64
    } else {
        10_000
    };
    match which {
        Instant::VoltageL1 => {
            // FLAG code 0x12: voltage, phase L1.
            let v = 2_300_000 + (mix(seed ^ 0x12 ^ sec) % 60_000) as i64 - 30_000;
            (v, -4, DlmsUnit::VOLT)
        }
        Instant::CurrentL1 => {
            // I = P / (V × pf) per phase, A × 10^4.
            let p_w = (d[0] as i64 / 3 * 3) / 3 / 1000;
            let i = if pf_e4 == 0 {
                0
            } else {
                p_w * 10_000 * 10_000 / (230 * pf_e4)
            };
            (i, -4, DlmsUnit::AMPERE)
        }
        Instant::PowerImport => (d[0] as i64 * 10 / 1000, -1, DlmsUnit::WATT),
        Instant::PowerExport => (d[1] as i64 * 10 / 1000, -1, DlmsUnit::WATT),
        Instant::PowerNet => ((d[0] as i64 - d[1] as i64) * 10 / 1000, -1, DlmsUnit::WATT),
        Instant::PowerFactor => (pf_e4, -4, DlmsUnit::COUNT),
        Instant::Frequency => {
            let f = 500_000 + (mix(seed ^ sec) % 200) as i64 - 100;
            (f, -4, DlmsUnit::HERTZ)
        }
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
        (Kind::Energy { channel }, 2) => Data::Long64Unsigned(meter.totals_at(now).energy[channel]),
        (Kind::Tou { register, .. }, 2) => {
            Data::Long64Unsigned(meter.tou_at(now).get(register - 1).copied().unwrap_or(0))
        }
        (Kind::Energy { channel } | Kind::Tou { channel, .. }, 3) => su(-3, energy_unit(channel)),
        (Kind::LastDemand { channel }, 2) => {
            let start =
                interval_start(meter, now) - Duration::minutes(i64::from(meter.period_min()));
            u32_of(demand_at(meter, start)[channel])
        }
        (Kind::LastDemand { channel }, 3) => su(-3, demand_unit(channel)),
        (Kind::Instant(i), 2) => {
            let (v, _, _) = instant_value(meter, i);
            match i {
                Instant::PowerNet => Data::DoubleLong(i32::try_from(v).unwrap_or(0)),
                _ => u32_of(v.max(0) as u64),
            }
        }
        (Kind::Instant(i), 3) => {
            let (_, s, u) = instant_value(meter, i);
            su(s, u)
        }
        (Kind::MaxDemand { source, .. }, 2 | 5) => {
            let (v, at) = meter.md_at(now)[source.min(3)][0];
            if attr == 2 {
                u32_of(v)
            } else {
                at.map_or_else(unspecified_date_time, |t| date_time(meter, t))
            }
        }
        (Kind::MaxDemand { channel, .. }, 3) => su(-3, demand_unit(channel)),
        (Kind::MaxDemand { .. }, 4) => Data::Unsigned(0),
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
        ProfileKind::Programming => v.extend([
            d(1, PROGRAMMING_KIND, 2),
            d(1, PROGRAMMING_USER, 2),
            d(1, PROGRAMMING_LABEL, 2),
        ]),
    }
    v
}

/// The load-profile status byte: the FLAG interval status bits (0x01 transient reset, 0x02
/// clock adjusted, 0x04 configuration change, 0x08 battery, 0x10 CT change, 0x20 reverse run,
/// 0x40 phase failure) and 0x80 for an interval a power cut touched.
pub fn profile_status(flags: IntervalStatus) -> u8 {
    let power =
        flags.contains(IntervalStatus::POWER_DOWN) || flags.contains(IntervalStatus::POWER_UP);
    status_byte(flags) | if power { 0x80 } else { 0 }
}

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

/// Event codes of the event log 0.0.99.98.0.255.
pub mod event_code {
    pub const POWER_DOWN: u8 = 1;
    pub const POWER_UP: u8 = 2;
    pub const REVERSE_RUN: u8 = 10;
    /// Plus the phase mask: 1 L1, 2 L2, 4 L3 (21 = L1, 27 = all three).
    pub const PHASE_FAILURE: u8 = 20;
    /// 40 and 44 as in the DSMR/IDIS standard event log (terminal cover removed, meter cover
    /// removed); 41 and 45 there are the covers closed again.
    pub const TERMINAL_COVER: u8 = 40;
    pub const MAIN_COVER: u8 = 44;
    pub const BILLING_RESET: u8 = 50;
}

/// The meter's events up to now, oldest first, with their codes.
pub fn event_rows(meter: &SimMeter) -> Vec<(NaiveDateTime, u8)> {
    let now = meter.model_now();
    let mut out = Vec::new();
    for e in meter.events_until(now) {
        match e {
            SimEvent::PowerFail { down, up } => {
                out.push((down, event_code::POWER_DOWN));
                if up <= now {
                    out.push((up, event_code::POWER_UP));
                }
            }
            SimEvent::ReverseRun(t) => out.push((t, event_code::REVERSE_RUN)),
            SimEvent::PhaseFailure(t, mask) => {
                out.push((t, event_code::PHASE_FAILURE + (mask & 7)))
            }
            SimEvent::TerminalCover(t) => out.push((t, event_code::TERMINAL_COVER)),
            SimEvent::MainCover(t) => out.push((t, event_code::MAIN_COVER)),
        }
    }
    out.extend(
        meter
            .billing_reset_times(now)
            .into_iter()
            .map(|t| (t, event_code::BILLING_RESET)),
    );
    out.sort_by_key(|e| e.0);
    out
}

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
        ProfileKind::Programming => meter
            .programming
            .iter()
            .map(|p| {
                (
                    p.time,
                    vec![
                        date_time(meter, p.time),
                        Data::Unsigned(p.note.kind),
                        Data::visible_string(&p.user),
                        Data::visible_string(&p.note.label),
                    ],
                )
            })
            .collect(),
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
