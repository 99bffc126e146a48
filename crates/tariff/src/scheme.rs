//! The tariff scheme: rates, day profiles, seasons, special days, maximum demand, billing, load
//! profile and display, and its TOML file form.

use std::fmt;

use chrono::{Datelike, NaiveDate, Weekday};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use crate::error::{SchemeError, read_toml};
use crate::validate::{Severity, Violation, check_scheme};
use crate::values::{DateText, MonthDay, Source, TimeOfDay, Zone};

// ---------------------------------------------------------------------------------------------
// The model

/// A tariff scheme: which rate register counts each minute of the year, and the demand, billing,
/// load-profile and display settings that go with it. See `docs/schemes.md` for the file format.
///
/// A scheme with a `parent` holds only what it changes; [`resolve`](crate::resolve) and
/// [`resolve_chain`](crate::resolve_chain) merge it with its ancestors into a complete scheme,
/// which is what [`validate`](crate::validate) checks and later stages program into meters.
///
/// Serde reads and writes the file form (the TOML keys of `docs/schemes.md`);
/// [`Scheme::from_toml`] also checks the scheme's consistency and names the line of each problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SchemeFile", into = "SchemeFile")]
pub struct Scheme {
    /// The scheme's identifier, such as `E7-2026`; configurations and child schemes refer to it.
    pub id: String,
    /// A human name.
    pub name: String,
    /// A longer description.
    pub description: Option<String>,
    /// The id of the scheme this one inherits from.
    pub parent: Option<String>,
    /// The time zone of all switch times and dates; `None` only in a child scheme that inherits
    /// it.
    pub time_zone: Option<Zone>,
    /// Whether the meter follows the zone's daylight saving; `None` = inherited, or
    /// [`DstMode::Zone`] at the root.
    pub dst: Option<DstMode>,
    /// The rates and the TOU registers that accumulate them.
    pub rates: Vec<Rate>,
    /// The day profiles: which rate applies from which time of day.
    pub day_profiles: Vec<DayProfile>,
    /// The seasons, in order of their start within the year; the last runs on into the first.
    pub seasons: Vec<Season>,
    /// Days whose day profile overrides the season's week.
    pub special_days: Vec<SpecialDay>,
    /// Maximum demand registers.
    pub max_demand: Option<MaxDemand>,
    /// The monthly billing reset.
    pub billing: Option<Billing>,
    /// The load profile (interval recording).
    pub load_profile: Option<LoadProfile>,
    /// The meter's display list.
    pub display: Option<DisplaySettings>,
    /// Entries of the parent that this (child) scheme removes (`remove = true` in the file).
    /// Empty in a resolved scheme.
    pub removed: Removed,
}

/// Whether a meter's clock follows daylight saving time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DstMode {
    /// Follow the time zone's daylight-saving rules (the default).
    #[default]
    Zone,
    /// Stay on the zone's standard time all year, as many meters do.
    Standard,
}

impl fmt::Display for DstMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DstMode::Zone => "zone",
            DstMode::Standard => "standard",
        })
    }
}

/// A rate: a named TOU register and the quantity it accumulates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    /// The rate's name, which switches refer to (`night`, `peak`).
    pub name: String,
    /// The TOU register, counting from 1.
    pub register: u8,
    /// What the register accumulates.
    pub source: Source,
}

/// A day profile: the rate in force from each switch time until the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayProfile {
    /// The profile's name, which weeks and special days refer to.
    pub name: String,
    /// The switches, in time order, the first at `00:00`.
    pub switches: Vec<Switch>,
}

impl DayProfile {
    /// The name of the rate in force at `time`: that of the last switch at or before it.
    pub fn rate_at(&self, time: TimeOfDay) -> Option<&str> {
        self.switches
            .iter()
            .take_while(|s| s.at <= time)
            .last()
            .map(|s| s.rate.as_str())
    }
}

/// A switch: from `at` on, `rate` is in force.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// The time of day, `HH:MM`.
    pub at: TimeOfDay,
    /// The name of a rate.
    pub rate: String,
}

/// A season: from its start (every year) until the next season's start, the week decides the
/// day profile of each day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Season {
    /// The season's name.
    pub name: String,
    /// The first day of the season each year.
    pub start: MonthDay,
    /// The day profile of each day of the week.
    pub week: Week,
}

/// A week profile: the name of the day profile of each day of the week.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Week {
    /// Monday's day profile.
    pub monday: String,
    /// Tuesday's day profile.
    pub tuesday: String,
    /// Wednesday's day profile.
    pub wednesday: String,
    /// Thursday's day profile.
    pub thursday: String,
    /// Friday's day profile.
    pub friday: String,
    /// Saturday's day profile.
    pub saturday: String,
    /// Sunday's day profile.
    pub sunday: String,
}

impl Week {
    /// The same day profile every day.
    pub fn every_day(profile: &str) -> Week {
        let p = || profile.to_string();
        Week {
            monday: p(),
            tuesday: p(),
            wednesday: p(),
            thursday: p(),
            friday: p(),
            saturday: p(),
            sunday: p(),
        }
    }

    /// The day profile of `day`.
    pub fn get(&self, day: Weekday) -> &str {
        match day {
            Weekday::Mon => &self.monday,
            Weekday::Tue => &self.tuesday,
            Weekday::Wed => &self.wednesday,
            Weekday::Thu => &self.thursday,
            Weekday::Fri => &self.friday,
            Weekday::Sat => &self.saturday,
            Weekday::Sun => &self.sunday,
        }
    }

    /// The days as (file key, day profile), Monday first.
    pub fn days(&self) -> [(&'static str, &str); 7] {
        [
            ("monday", &self.monday),
            ("tuesday", &self.tuesday),
            ("wednesday", &self.wednesday),
            ("thursday", &self.thursday),
            ("friday", &self.friday),
            ("saturday", &self.saturday),
            ("sunday", &self.sunday),
        ]
    }
}

/// A special day (a public holiday, say): on its dates, `day_profile` replaces the week's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialDay {
    /// The special day's name.
    pub name: String,
    /// The day profile in force on its dates.
    pub day_profile: String,
    /// When it occurs.
    pub when: SpecialDate,
}

/// When a special day occurs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecialDate {
    /// Once, on this date (`date = "2026-04-03"`).
    Date(NaiveDate),
    /// Every year on this day (`every_year = "12-25"`).
    EveryYear(MonthDay),
    /// On each of these dates (`dates = ["2026-04-03", "2027-03-26"]`).
    Dates(Vec<NaiveDate>),
}

impl SpecialDate {
    /// Whether the special day falls on `date`.
    pub fn occurs_on(&self, date: NaiveDate) -> bool {
        match self {
            SpecialDate::Date(d) => *d == date,
            SpecialDate::EveryYear(md) => *md == MonthDay::of(date),
            SpecialDate::Dates(ds) => ds.contains(&date),
        }
    }

    /// How many entries of a meter's special-day table it takes: one per date, one for a
    /// yearly day.
    pub fn entries(&self) -> usize {
        match self {
            SpecialDate::Date(_) | SpecialDate::EveryYear(_) => 1,
            SpecialDate::Dates(ds) => ds.len(),
        }
    }
}

impl fmt::Display for SpecialDate {
    /// `on 2026-04-03`, `every year on 12-25`, `on 2026-04-03, 2027-03-26`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecialDate::Date(d) => write!(f, "on {}", d.format("%Y-%m-%d")),
            SpecialDate::EveryYear(md) => write!(f, "every year on {md}"),
            SpecialDate::Dates(ds) => {
                f.write_str("on ")?;
                for (i, d) in ds.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", d.format("%Y-%m-%d"))?;
                }
                Ok(())
            }
        }
    }
}

/// Maximum demand: the highest average power over an integration period, per source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaxDemand {
    /// The integration period in minutes (`30`).
    pub integration_minutes: u32,
    /// Block (fixed periods) or sliding (a window moving by sub-intervals); default block.
    #[serde(default)]
    pub mode: DemandMode,
    /// Sliding demand only: the number of sub-intervals in a period (`3` for 3 × 10 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_intervals: Option<u32>,
    /// The energy sources whose demand is measured (`import_kwh` gives import kW).
    pub sources: Vec<Source>,
}

/// How demand periods are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DemandMode {
    /// Consecutive fixed periods (the default).
    #[default]
    Block,
    /// A period-long window that moves on by one sub-interval at a time.
    Sliding,
}

impl fmt::Display for DemandMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DemandMode::Block => "block",
            DemandMode::Sliding => "sliding",
        })
    }
}

/// The monthly billing reset: the meter closes a billing period at this day and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Billing {
    /// The day of the month.
    pub day: BillingDay,
    /// The time of day.
    pub time: TimeOfDay,
}

/// The day of the month of a billing reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingDay {
    /// This day of every month, 1 to 28 (`day_of_month = 1`).
    DayOfMonth(u8),
    /// The last day of every month (`end_of_month = true`).
    EndOfMonth,
}

impl fmt::Display for BillingDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BillingDay::DayOfMonth(d) => write!(f, "day {d}"),
            BillingDay::EndOfMonth => f.write_str("end of month"),
        }
    }
}

/// The load profile: interval recording of some sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadProfile {
    /// The interval length in minutes (`30`).
    pub interval_minutes: u32,
    /// The recorded sources, one channel each.
    pub channels: Vec<Source>,
}

/// The meter's display list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisplaySettings {
    /// What the display shows, in order: rate names or OBIS codes (`"night"`, `"1.8.0"`).
    pub items: Vec<String>,
    /// Seconds each item stays on the display.
    pub scroll_seconds: u32,
}

/// The names of a parent's entries that a child scheme removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Removed rates.
    pub rates: Vec<String>,
    /// Removed day profiles.
    pub day_profiles: Vec<String>,
    /// Removed seasons.
    pub seasons: Vec<String>,
    /// Removed special days.
    pub special_days: Vec<String>,
}

impl Removed {
    /// Whether nothing is removed.
    pub fn is_empty(&self) -> bool {
        self.rates.is_empty()
            && self.day_profiles.is_empty()
            && self.seasons.is_empty()
            && self.special_days.is_empty()
    }
}

impl Scheme {
    /// Reads a scheme from TOML and checks what can be checked without a meter type: the
    /// structure (keys, types, times, dates) and, for a scheme without a parent, its
    /// consistency (names, references, switch order, seasons, special days). Each problem names
    /// its line and key path:
    /// `line 12: seasons[1].week.saturday: unknown day profile "peek"`.
    ///
    /// A scheme with a parent is checked for references once resolved (its rates and day
    /// profiles may come from the parent). Warnings are left to [`validate`](crate::validate).
    pub fn from_toml(text: &str) -> Result<Scheme, SchemeError> {
        let file: SchemeFile = read_toml(text)?;
        let scheme = Scheme::try_from_file(file)
            .map_err(|v| SchemeError::from_violations(&v, Some(text)))?;
        let errors: Vec<Violation> = check_scheme(&scheme, None, None, scheme.parent.is_none())
            .into_iter()
            .filter(|v| v.severity == Severity::Error)
            .collect();
        if errors.is_empty() {
            Ok(scheme)
        } else {
            Err(SchemeError::from_violations(&errors, Some(text)))
        }
    }

    /// The scheme as TOML, in the file form that [`Scheme::from_toml`] reads.
    pub fn to_toml(&self) -> Result<String, SchemeError> {
        toml::to_string(&SchemeFile::from(self.clone()))
            .map_err(|e| SchemeError::message(format!("cannot write the scheme as TOML: {e}")))
    }

    /// The DST mode in force: the given one, or [`DstMode::Zone`].
    pub fn dst_mode(&self) -> DstMode {
        self.dst.unwrap_or_default()
    }

    /// The rate called `name`.
    pub fn rate(&self, name: &str) -> Option<&Rate> {
        self.rates.iter().find(|r| r.name == name)
    }

    /// The day profile called `name`.
    pub fn day_profile(&self, name: &str) -> Option<&DayProfile> {
        self.day_profiles.iter().find(|p| p.name == name)
    }

    /// The season in force on `date`: the last whose start is on or before the date's
    /// month-day, or else the last season of the list (which runs on into the new year).
    pub fn season_on(&self, date: NaiveDate) -> Option<&Season> {
        let md = MonthDay::of(date);
        self.seasons
            .iter()
            .rfind(|s| s.start <= md)
            .or_else(|| self.seasons.last())
    }

    /// The first special day that falls on `date`.
    pub fn special_day_on(&self, date: NaiveDate) -> Option<&SpecialDay> {
        self.special_days.iter().find(|s| s.when.occurs_on(date))
    }

    /// The day profile in force on `date`: the special day's, or else the season's for that
    /// day of the week. `None` when the scheme names a profile it does not have.
    pub fn day_profile_on(&self, date: NaiveDate) -> Option<&DayProfile> {
        let name = match self.special_day_on(date) {
            Some(s) => s.day_profile.as_str(),
            None => self.season_on(date)?.week.get(date.weekday()),
        };
        self.day_profile(name)
    }

    /// Converts the file form, reporting every entry that is incomplete or contradictory.
    fn try_from_file(file: SchemeFile) -> Result<Scheme, Vec<Violation>> {
        let has_parent = file.parent.is_some();
        let mut errors = Vec::new();
        let mut removed = Removed::default();
        let rates = entries(
            file.rates,
            "rates",
            has_parent,
            &mut removed.rates,
            &mut errors,
        );
        let day_profiles = entries(
            file.day_profiles,
            "day_profiles",
            has_parent,
            &mut removed.day_profiles,
            &mut errors,
        );
        let seasons = entries(
            file.seasons,
            "seasons",
            has_parent,
            &mut removed.seasons,
            &mut errors,
        );
        let special_days = entries(
            file.special_days,
            "special_days",
            has_parent,
            &mut removed.special_days,
            &mut errors,
        );
        let billing = match file.billing {
            None => None,
            Some(b) => match (b.day_of_month, b.end_of_month.unwrap_or(false)) {
                (Some(d), false) => Some(Billing {
                    day: BillingDay::DayOfMonth(d),
                    time: b.time,
                }),
                (None, true) => Some(Billing {
                    day: BillingDay::EndOfMonth,
                    time: b.time,
                }),
                (Some(_), true) => {
                    errors.push(Violation::error(
                        "billing",
                        "give day_of_month or end_of_month = true, not both",
                    ));
                    None
                }
                (None, false) => {
                    errors.push(Violation::error(
                        "billing",
                        "give day_of_month (1 to 28) or end_of_month = true",
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Scheme {
            id: file.id,
            name: file.name,
            description: file.description,
            parent: file.parent,
            time_zone: file.time_zone,
            dst: file.dst,
            rates,
            day_profiles,
            seasons,
            special_days,
            max_demand: file.max_demand,
            billing,
            load_profile: file.load_profile,
            display: file.display,
            removed,
        })
    }
}

impl TryFrom<SchemeFile> for Scheme {
    type Error = SchemeError;

    fn try_from(file: SchemeFile) -> Result<Scheme, SchemeError> {
        Scheme::try_from_file(file).map_err(|v| SchemeError::from_violations(&v, None))
    }
}

impl JsonSchema for Scheme {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        SchemeFile::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        SchemeFile::json_schema(generator)
    }
}

// ---------------------------------------------------------------------------------------------
// The file form

fn is_false(b: &bool) -> bool {
    !*b
}

/// A tariff scheme file. Paths in messages count list entries from 0. A scheme with `parent`
/// holds only what it changes; list entries merge with the parent's by `name`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Scheme")]
pub(crate) struct SchemeFile {
    /// The scheme's identifier, such as "E7-2026".
    id: String,
    /// A human name.
    name: String,
    /// A longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// The id of the scheme this one inherits from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    /// The time zone of switch times and dates; required unless inherited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::values::ZoneText>")]
    time_zone: Option<Zone>,
    /// "zone" (follow the zone's daylight saving, the default) or "standard" (standard time all
    /// year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dst: Option<DstMode>,
    /// The rates and their TOU registers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rates: Vec<RateFile>,
    /// The day profiles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    day_profiles: Vec<DayProfileFile>,
    /// The seasons, in order of their start within the year.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seasons: Vec<SeasonFile>,
    /// Special days, which override the week.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    special_days: Vec<SpecialDayFile>,
    /// Maximum demand registers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_demand: Option<MaxDemand>,
    /// The monthly billing reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    billing: Option<BillingFile>,
    /// The load profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    load_profile: Option<LoadProfile>,
    /// The display list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display: Option<DisplaySettings>,
}

/// A rate. `register` and `source` are required unless `remove = true`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rate")]
struct RateFile {
    /// The rate's name.
    name: String,
    /// In a child scheme: delete the parent's rate of this name (then give only the name).
    #[serde(default, skip_serializing_if = "is_false")]
    remove: bool,
    /// The TOU register, counting from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    register: Option<u8>,
    /// What the register accumulates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
}

/// A day profile. `switches` is required unless `remove = true`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DayProfile")]
struct DayProfileFile {
    /// The profile's name.
    name: String,
    /// In a child scheme: delete the parent's day profile of this name.
    #[serde(default, skip_serializing_if = "is_false")]
    remove: bool,
    /// The switches in time order, the first at "00:00".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    switches: Option<Vec<Switch>>,
}

/// A season. `start` and `week` are required unless `remove = true`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Season")]
struct SeasonFile {
    /// The season's name.
    name: String,
    /// In a child scheme: delete the parent's season of this name.
    #[serde(default, skip_serializing_if = "is_false")]
    remove: bool,
    /// The first day of the season, "MM-DD".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<MonthDay>,
    /// The day profile of each day of the week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    week: Option<Week>,
}

/// A special day: `day_profile` and exactly one of `date`, `every_year` or `dates`, unless
/// `remove = true`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SpecialDay")]
struct SpecialDayFile {
    /// The special day's name.
    name: String,
    /// In a child scheme: delete the parent's special day of this name.
    #[serde(default, skip_serializing_if = "is_false")]
    remove: bool,
    /// The day profile in force on its dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day_profile: Option<String>,
    /// A single date, "YYYY-MM-DD".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date: Option<DateText>,
    /// Every year on this day, "MM-DD".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    every_year: Option<MonthDay>,
    /// A list of dates, "YYYY-MM-DD".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dates: Option<Vec<DateText>>,
}

/// The billing reset: `day_of_month` (1 to 28) or `end_of_month = true`, and `time`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Billing")]
struct BillingFile {
    /// The day of the month, 1 to 28.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day_of_month: Option<u8>,
    /// Reset on the last day of each month instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_of_month: Option<bool>,
    /// The time of day, "HH:MM".
    time: TimeOfDay,
}

/// A list entry of a scheme file: a model entry, or the removal of a parent's entry.
trait FileEntry {
    type Item;

    fn name(&self) -> &str;
    fn remove(&self) -> bool;
    /// The keys given besides `name` and `remove`.
    fn other_keys(&self) -> Vec<&'static str>;
    /// The model entry; `Err` names the missing or contradictory keys (path suffix, message).
    fn item(self) -> Result<Self::Item, Vec<(&'static str, String)>>;
}

fn missing(key: &'static str) -> (&'static str, String) {
    (key, "missing (required unless remove = true)".to_string())
}

impl FileEntry for RateFile {
    type Item = Rate;

    fn name(&self) -> &str {
        &self.name
    }
    fn remove(&self) -> bool {
        self.remove
    }
    fn other_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.register.is_some() {
            keys.push("register");
        }
        if self.source.is_some() {
            keys.push("source");
        }
        keys
    }
    fn item(self) -> Result<Rate, Vec<(&'static str, String)>> {
        match (self.register, self.source) {
            (Some(register), Some(source)) => Ok(Rate {
                name: self.name,
                register,
                source,
            }),
            (r, s) => Err([
                r.is_none().then(|| missing(".register")),
                s.is_none().then(|| missing(".source")),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}

impl FileEntry for DayProfileFile {
    type Item = DayProfile;

    fn name(&self) -> &str {
        &self.name
    }
    fn remove(&self) -> bool {
        self.remove
    }
    fn other_keys(&self) -> Vec<&'static str> {
        if self.switches.is_some() {
            vec!["switches"]
        } else {
            Vec::new()
        }
    }
    fn item(self) -> Result<DayProfile, Vec<(&'static str, String)>> {
        match self.switches {
            Some(switches) => Ok(DayProfile {
                name: self.name,
                switches,
            }),
            None => Err(vec![missing(".switches")]),
        }
    }
}

impl FileEntry for SeasonFile {
    type Item = Season;

    fn name(&self) -> &str {
        &self.name
    }
    fn remove(&self) -> bool {
        self.remove
    }
    fn other_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.start.is_some() {
            keys.push("start");
        }
        if self.week.is_some() {
            keys.push("week");
        }
        keys
    }
    fn item(self) -> Result<Season, Vec<(&'static str, String)>> {
        match (self.start, self.week) {
            (Some(start), Some(week)) => Ok(Season {
                name: self.name,
                start,
                week,
            }),
            (s, w) => Err([
                s.is_none().then(|| missing(".start")),
                w.is_none().then(|| missing(".week")),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}

impl FileEntry for SpecialDayFile {
    type Item = SpecialDay;

    fn name(&self) -> &str {
        &self.name
    }
    fn remove(&self) -> bool {
        self.remove
    }
    fn other_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.day_profile.is_some() {
            keys.push("day_profile");
        }
        keys.extend(self.date_keys());
        keys
    }
    fn item(self) -> Result<SpecialDay, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let date_keys = self.date_keys();
        if date_keys.len() != 1 {
            let found = if date_keys.is_empty() {
                "none".to_string()
            } else {
                date_keys.join(" and ")
            };
            errors.push((
                "",
                format!("give exactly one of date, every_year or dates (found {found})"),
            ));
        }
        if self.day_profile.is_none() {
            errors.push(missing(".day_profile"));
        }
        let when = match (self.date, self.every_year, self.dates) {
            (Some(d), None, None) => Some(SpecialDate::Date(d.0)),
            (None, Some(md), None) => Some(SpecialDate::EveryYear(md)),
            (None, None, Some(ds)) => {
                Some(SpecialDate::Dates(ds.into_iter().map(|d| d.0).collect()))
            }
            _ => None,
        };
        match (self.day_profile, when) {
            (Some(day_profile), Some(when)) if errors.is_empty() => Ok(SpecialDay {
                name: self.name,
                day_profile,
                when,
            }),
            _ => Err(errors),
        }
    }
}

impl SpecialDayFile {
    fn date_keys(&self) -> Vec<&'static str> {
        [
            self.date.is_some().then_some("date"),
            self.every_year.is_some().then_some("every_year"),
            self.dates.is_some().then_some("dates"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Splits a file list into model entries and removed names, reporting what is wrong.
fn entries<F: FileEntry>(
    list: Vec<F>,
    key: &str,
    has_parent: bool,
    removed: &mut Vec<String>,
    errors: &mut Vec<Violation>,
) -> Vec<F::Item> {
    let defined: Vec<String> = list
        .iter()
        .filter(|e| !e.remove())
        .map(|e| e.name().to_string())
        .collect();
    let mut items = Vec::new();
    for (i, entry) in list.into_iter().enumerate() {
        let path = format!("{key}[{i}]");
        if entry.remove() {
            let others = entry.other_keys();
            if !others.is_empty() {
                errors.push(Violation::error(
                    &path,
                    format!(
                        "an entry with remove = true gives only its name (found {})",
                        others.join(", ")
                    ),
                ));
            }
            if !has_parent {
                errors.push(Violation::error(
                    format!("{path}.remove"),
                    format!("the scheme has no parent to remove {:?} from", entry.name()),
                ));
            }
            if defined.iter().any(|d| d == entry.name()) {
                errors.push(Violation::error(
                    &path,
                    format!("{:?} is both removed and defined", entry.name()),
                ));
            }
            removed.push(entry.name().to_string());
            continue;
        }
        match entry.item() {
            Ok(item) => items.push(item),
            Err(problems) => {
                for (suffix, message) in problems {
                    errors.push(Violation::error(format!("{path}{suffix}"), message));
                }
            }
        }
    }
    items
}

impl From<Scheme> for SchemeFile {
    fn from(s: Scheme) -> SchemeFile {
        let mut rates: Vec<RateFile> = s
            .rates
            .into_iter()
            .map(|r| RateFile {
                name: r.name,
                remove: false,
                register: Some(r.register),
                source: Some(r.source),
            })
            .collect();
        rates.extend(s.removed.rates.into_iter().map(|name| RateFile {
            name,
            remove: true,
            register: None,
            source: None,
        }));
        let mut day_profiles: Vec<DayProfileFile> = s
            .day_profiles
            .into_iter()
            .map(|p| DayProfileFile {
                name: p.name,
                remove: false,
                switches: Some(p.switches),
            })
            .collect();
        day_profiles.extend(
            s.removed
                .day_profiles
                .into_iter()
                .map(|name| DayProfileFile {
                    name,
                    remove: true,
                    switches: None,
                }),
        );
        let mut seasons: Vec<SeasonFile> = s
            .seasons
            .into_iter()
            .map(|x| SeasonFile {
                name: x.name,
                remove: false,
                start: Some(x.start),
                week: Some(x.week),
            })
            .collect();
        seasons.extend(s.removed.seasons.into_iter().map(|name| SeasonFile {
            name,
            remove: true,
            start: None,
            week: None,
        }));
        let mut special_days: Vec<SpecialDayFile> = s
            .special_days
            .into_iter()
            .map(|d| {
                let (date, every_year, dates) = match d.when {
                    SpecialDate::Date(x) => (Some(DateText(x)), None, None),
                    SpecialDate::EveryYear(md) => (None, Some(md), None),
                    SpecialDate::Dates(ds) => {
                        (None, None, Some(ds.into_iter().map(DateText).collect()))
                    }
                };
                SpecialDayFile {
                    name: d.name,
                    remove: false,
                    day_profile: Some(d.day_profile),
                    date,
                    every_year,
                    dates,
                }
            })
            .collect();
        special_days.extend(
            s.removed
                .special_days
                .into_iter()
                .map(|name| SpecialDayFile {
                    name,
                    remove: true,
                    day_profile: None,
                    date: None,
                    every_year: None,
                    dates: None,
                }),
        );
        SchemeFile {
            id: s.id,
            name: s.name,
            description: s.description,
            parent: s.parent,
            time_zone: s.time_zone,
            dst: s.dst,
            rates,
            day_profiles,
            seasons,
            special_days,
            max_demand: s.max_demand,
            billing: s.billing.map(|b| BillingFile {
                day_of_month: match b.day {
                    BillingDay::DayOfMonth(d) => Some(d),
                    BillingDay::EndOfMonth => None,
                },
                end_of_month: (b.day == BillingDay::EndOfMonth).then_some(true),
                time: b.time,
            }),
            load_profile: s.load_profile,
            display: s.display,
        }
    }
}
