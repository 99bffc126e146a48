//! Tariffication: Script Table (9), Special Days Table (11) and Activity Calendar (20)
//! (guide §6.3).
//!
//! These are the wire shapes, names kept as the meter's octet-strings. The tariff crate's
//! `DlmsCalendar` is the scheme-level form compiled from a tariff scheme; its attribute values
//! have the shapes of [`SeasonProfile`], [`WeekProfile`], [`DayProfile`] and [`SpecialDay`].

use metermaster_model::ObisCode;

use super::value::{fields, integer};
use super::{AttributeValue, MethodCall, OctetString};
use crate::axdr::{CosemDate, CosemDateTime, CosemTime, Data};
use crate::error::ValueError;

cosem_enum! {
    /// service_id of a script action.
    pub enum ScriptService ("service_id") {
        /// Write an attribute (index = attribute number, parameter = the value).
        WriteAttribute = 1,
        /// Execute a method (index = method number, parameter = its parameter).
        ExecuteMethod = 2,
    }
}

/// One action of a script.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptAction {
    pub service: ScriptService,
    pub class_id: u16,
    pub logical_name: ObisCode,
    /// The attribute or method number.
    pub index: i8,
    pub parameter: Data,
}

impl AttributeValue for ScriptAction {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [service, class_id, ln, index, parameter] = fields::<5>(d, "script action")?;
        Ok(ScriptAction {
            service: ScriptService::from_data(service)?,
            class_id: integer(class_id, "class_id", "long-unsigned")?,
            logical_name: ln.to_obis()?,
            index: integer(index, "index", "integer")?,
            parameter: parameter.clone(),
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            self.service.to_data(),
            Data::LongUnsigned(self.class_id),
            Data::logical_name(self.logical_name),
            Data::Integer(self.index),
            self.parameter.clone(),
        ])
    }
}

/// One script: its identifier and actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub id: u16,
    pub actions: Vec<ScriptAction>,
}

impl AttributeValue for Script {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [id, actions] = fields::<2>(d, "script")?;
        Ok(Script {
            id: integer(id, "script_identifier", "long-unsigned")?,
            actions: Vec::from_data(actions)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![Data::LongUnsigned(self.id), self.actions.to_data()])
    }
}

cosem_class! {
    /// Script Table (class 9, version 0): scripts the calendar, schedules and clients run.
    /// Method 1 execute.
    pub struct ScriptTable {
        class: 9,
        version: 0,
        name: "Script Table",
        not_read: [],
    }
    attributes {
        2 => SCRIPTS, scripts: Vec<Script>, "scripts";
    }
}

impl ScriptTable {
    /// Method 1: execute(long-unsigned script_identifier).
    pub const METHOD_EXECUTE: i8 = 1;

    pub fn execute(script_id: u16) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_EXECUTE, Data::LongUnsigned(script_id))
    }

    /// The script with this identifier, if read.
    pub fn script(&self, id: u16) -> Option<&Script> {
        self.scripts.as_ref()?.iter().find(|s| s.id == id)
    }
}

/// An entry of the special days table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecialDay {
    pub index: u16,
    /// Wildcards allowed (year `FFFF` = every year).
    pub date: CosemDate,
    /// A day profile of the activity calendar.
    pub day_id: u8,
}

impl AttributeValue for SpecialDay {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [index, date, day_id] = fields::<3>(d, "special day entry")?;
        Ok(SpecialDay {
            index: integer(index, "index", "long-unsigned")?,
            date: CosemDate::from_data(date)?,
            day_id: integer(day_id, "day_id", "unsigned")?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::LongUnsigned(self.index),
            self.date.to_data(),
            Data::Unsigned(self.day_id),
        ])
    }
}

cosem_class! {
    /// Special Days Table (class 11, version 0): dates that take another day profile.
    /// Methods 1 insert, 2 delete.
    pub struct SpecialDaysTable {
        class: 11,
        version: 0,
        name: "Special Days Table",
        not_read: [],
    }
    attributes {
        2 => ENTRIES, entries: Vec<SpecialDay>, "entries";
    }
}

impl SpecialDaysTable {
    /// Method 1: insert(entry); an entry with the index of an existing one replaces it.
    pub const METHOD_INSERT: i8 = 1;
    /// Method 2: delete(long-unsigned index).
    pub const METHOD_DELETE: i8 = 2;

    pub fn insert(entry: SpecialDay) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_INSERT, entry.to_data())
    }

    pub fn delete(index: u16) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_DELETE, Data::LongUnsigned(index))
    }
}

/// A season: from `start` on, the week profile `week_name` applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeasonProfile {
    pub name: OctetString,
    /// Wildcards allowed (year `FFFF` = every year).
    pub start: CosemDateTime,
    pub week_name: OctetString,
}

impl AttributeValue for SeasonProfile {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [name, start, week] = fields::<3>(d, "season profile")?;
        Ok(SeasonProfile {
            name: OctetString::from_data(name)?,
            start: CosemDateTime::from_data(start)?,
            week_name: OctetString::from_data(week)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            self.name.to_data(),
            self.start.to_data(),
            self.week_name.to_data(),
        ])
    }
}

/// A week: the day profile of each day, Monday to Sunday.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WeekProfile {
    pub name: OctetString,
    pub days: [u8; 7],
}

impl AttributeValue for WeekProfile {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [name, rest @ ..] = fields::<8>(d, "week profile")?;
        let mut days = [0u8; 7];
        for (slot, v) in days.iter_mut().zip(rest) {
            *slot = integer(v, "day_id", "unsigned")?;
        }
        Ok(WeekProfile {
            name: OctetString::from_data(name)?,
            days,
        })
    }
    fn to_data(&self) -> Data {
        let mut v = vec![self.name.to_data()];
        v.extend(self.days.iter().map(|d| Data::Unsigned(*d)));
        Data::Structure(v)
    }
}

/// A switch point of a day profile: from `start_time`, the script `script_selector` of the
/// script table `script` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DayProfileAction {
    pub start_time: CosemTime,
    /// Usually the tariffication script table 0.0.10.0.100.255.
    pub script: ObisCode,
    /// The script identifier (the tariff).
    pub script_selector: u16,
}

impl AttributeValue for DayProfileAction {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [start, script, selector] = fields::<3>(d, "day profile action")?;
        Ok(DayProfileAction {
            start_time: CosemTime::from_data(start)?,
            script: script.to_obis()?,
            script_selector: integer(selector, "script_selector", "long-unsigned")?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            self.start_time.to_data(),
            Data::logical_name(self.script),
            Data::LongUnsigned(self.script_selector),
        ])
    }
}

/// A day profile: its id and switch points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DayProfile {
    pub day_id: u8,
    pub actions: Vec<DayProfileAction>,
}

impl AttributeValue for DayProfile {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [id, actions] = fields::<2>(d, "day profile")?;
        Ok(DayProfile {
            day_id: integer(id, "day_id", "unsigned")?,
            actions: Vec::from_data(actions)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![Data::Unsigned(self.day_id), self.actions.to_data()])
    }
}

cosem_class! {
    /// Activity Calendar (class 20, version 0): the active TOU calendar (attributes 2–5) and
    /// the passive one (6–9) that becomes active at attribute 10's time or by method 1.
    pub struct ActivityCalendar {
        class: 20,
        version: 0,
        name: "Activity Calendar",
        not_read: [],
    }
    attributes {
        2 => CALENDAR_NAME_ACTIVE, calendar_name_active: OctetString, "calendar_name_active";
        3 => SEASON_PROFILE_ACTIVE, season_profile_active: Vec<SeasonProfile>, "season_profile_active";
        4 => WEEK_PROFILE_TABLE_ACTIVE, week_profile_table_active: Vec<WeekProfile>, "week_profile_table_active";
        5 => DAY_PROFILE_TABLE_ACTIVE, day_profile_table_active: Vec<DayProfile>, "day_profile_table_active";
        6 => CALENDAR_NAME_PASSIVE, calendar_name_passive: OctetString, "calendar_name_passive";
        7 => SEASON_PROFILE_PASSIVE, season_profile_passive: Vec<SeasonProfile>, "season_profile_passive";
        8 => WEEK_PROFILE_TABLE_PASSIVE, week_profile_table_passive: Vec<WeekProfile>, "week_profile_table_passive";
        9 => DAY_PROFILE_TABLE_PASSIVE, day_profile_table_passive: Vec<DayProfile>, "day_profile_table_passive";
        /// All wildcards: not planned (activate with the method).
        10 => ACTIVATE_PASSIVE_CALENDAR_TIME, activate_passive_calendar_time: CosemDateTime, "activate_passive_calendar_time";
    }
}

impl ActivityCalendar {
    /// Method 1: activate_passive_calendar(integer 0).
    pub const METHOD_ACTIVATE_PASSIVE_CALENDAR: i8 = 1;

    pub fn activate_passive_calendar() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_ACTIVATE_PASSIVE_CALENDAR)
    }

    /// Checks that the tables refer to each other (season → week by name, week → day by id)
    /// for the active (`passive = false`) or passive calendar; attributes not read count as
    /// empty. The guide asks for this before writing a passive calendar.
    pub fn check_references(&self, passive: bool) -> Result<(), ValueError> {
        let (seasons, weeks, days) = if passive {
            (
                &self.season_profile_passive,
                &self.week_profile_table_passive,
                &self.day_profile_table_passive,
            )
        } else {
            (
                &self.season_profile_active,
                &self.week_profile_table_active,
                &self.day_profile_table_active,
            )
        };
        let weeks = weeks.as_deref().unwrap_or_default();
        let days = days.as_deref().unwrap_or_default();
        for (index, s) in seasons.as_deref().unwrap_or_default().iter().enumerate() {
            if !weeks.iter().any(|w| w.name == s.week_name) {
                return Err(ValueError::Element {
                    index,
                    source: Box::new(ValueError::Invalid {
                        what: "season profile",
                        problem: "names a week profile the table does not have",
                    }),
                });
            }
        }
        for (index, w) in weeks.iter().enumerate() {
            if let Some(id) = w
                .days
                .iter()
                .find(|id| !days.iter().any(|d| d.day_id == **id))
            {
                return Err(ValueError::Element {
                    index,
                    source: Box::new(ValueError::OutOfRange {
                        what: "week profile day_id (no such day profile)",
                        value: i64::from(*id).into(),
                    }),
                });
            }
        }
        Ok(())
    }
}
