//! Compiling a scheme into what a meter holds: the FLAG program image and its write sequence
//! for the A1140 / A1700, and the activity calendar, special-days table and activation time of
//! a DLMS/COSEM meter.
//!
//! A meter has no time-zone database. A scheme whose zone changes its clocks is compiled with
//! the zone's standard offset and the explicit list of its clock changes over the next
//! [`DST_YEARS`] years from the activation time (a FLAG meter keeps local standard time; the
//! program tells it when the wall clock runs ahead). Compiling refuses a scheme that does not
//! validate for the meter type.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, TimeZone, Utc};
use metermaster_flag::program::{
    BillingDef, DemandDef, DstChange, Family, LABEL_LEN, MAX_IMAGE, Program, RateDef, SeasonDef,
    SpecialDef, SwitchDef,
};
use serde::Serialize;

use crate::{
    BillingDay, DemandMode, DstMode, MeterCapabilities, MeterType, Scheme, Severity, Source,
    SpecialDate, TimeOfDay, Zone, validate,
};

/// How many years of clock changes a program carries.
pub const DST_YEARS: i32 = 10;

/// Why a scheme could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("the scheme does not fit the {meter}:\n{}", .problems.join("\n"))]
    Invalid {
        meter: String,
        problems: Vec<String>,
    },
    #[error("the scheme has no time zone")]
    NoZone,
    #[error("rates[{index}]: the {meter} has no register source for {what}")]
    Source {
        index: usize,
        meter: String,
        what: Source,
    },
    #[error("the label {0:?} is longer than {LABEL_LEN} ASCII characters")]
    Label(String),
    #[error("the program is {0} bytes; a meter takes at most {MAX_IMAGE}")]
    TooLarge(usize),
    #[error("{0}")]
    Other(String),
}

/// A compiled scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "form", rename_all = "lowercase")]
pub enum Compiled {
    Flag(Program),
    Dlms(DlmsCalendar),
}

/// The source code of a scheme source in a FLAG meter's numbering (guide §5.1).
pub fn flag_source(family: Family, s: Source) -> Option<u8> {
    let a1140 = match s {
        Source::ImportKwh => 0,
        Source::ExportKwh => 1,
        Source::Q1Kvarh => 2,
        Source::Q2Kvarh => 3,
        Source::Q3Kvarh => 4,
        Source::Q4Kvarh => 5,
        Source::Kvah => 6,
        Source::ImportKvarh | Source::ExportKvarh => return None,
    };
    Some(match family {
        Family::A1140 => a1140,
        Family::A1700 => a1140 + 1,
    })
}

/// The zone's standard offset at `at` and its clock changes over [`DST_YEARS`] years from
/// then, as (UTC instant, total offset) pairs.
fn clock_changes(zone: &Zone, dst: DstMode, at: DateTime<Utc>) -> (i32, Vec<(DateTime<Utc>, i32)>) {
    match zone {
        Zone::Fixed(off) => (off.local_minus_utc(), Vec::new()),
        Zone::Named(tz) => {
            // Standard time as a meter keeps it (Irish winter time is GMT although the tz
            // database files it as a negative saving from UTC+1).
            let base = zone.standard_offset_at(at).local_minus_utc();
            if dst == DstMode::Standard {
                return (base, Vec::new());
            }
            let total = |t: DateTime<Utc>| {
                tz.offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc()
            };
            let mut t = at;
            let mut cur = total(t);
            // Summer time already in force at the start is the list's first entry.
            let mut out = Vec::new();
            if cur != base {
                out.push((at, cur));
            }
            let end = at + Duration::days(366 * i64::from(DST_YEARS));
            // Daily steps, then a bisection to the second within the day of a change.
            while t < end {
                let next = t + Duration::days(1);
                let o = total(next);
                if o != cur {
                    let (mut lo, mut hi) = (t, next);
                    while hi - lo > Duration::seconds(1) {
                        let mid = lo + (hi - lo) / 2;
                        if total(mid) == cur {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                    out.push((hi, o));
                    cur = o;
                }
                t = next;
            }
            (base, out)
        }
    }
}

fn check(scheme: &Scheme, meter_type: MeterType, today: NaiveDate) -> Result<(), CompileError> {
    let caps = MeterCapabilities::for_type(meter_type);
    let problems: Vec<String> = validate(scheme, &caps, today)
        .into_iter()
        .filter(|v| v.severity == Severity::Error)
        .map(|v| v.to_string())
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CompileError::Invalid {
            meter: caps.name,
            problems,
        })
    }
}

fn rate_index(scheme: &Scheme, name: &str) -> Result<u8, CompileError> {
    scheme
        .rates
        .iter()
        .position(|r| r.name == name)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| CompileError::Other(format!("unknown rate {name:?}")))
}

fn profile_index(scheme: &Scheme, name: &str) -> Result<u8, CompileError> {
    scheme
        .day_profiles
        .iter()
        .position(|p| p.name == name)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| CompileError::Other(format!("unknown day profile {name:?}")))
}

/// Compiles a (resolved) scheme for a meter type. `label` names it in the meter (scheme id
/// and version); `activation` is when it takes over (`None`: as soon as it is committed), and
/// `now` the moment the clock-change list starts from.
pub fn compile(
    scheme: &Scheme,
    meter_type: MeterType,
    label: &str,
    activation: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Compiled, CompileError> {
    if label.len() > LABEL_LEN || !label.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Err(CompileError::Label(label.to_string()));
    }
    check(scheme, meter_type, now.date_naive())?;
    match meter_type {
        MeterType::A1140 => {
            compile_flag(scheme, Family::A1140, label, activation, now).map(Compiled::Flag)
        }
        MeterType::A1700 => {
            compile_flag(scheme, Family::A1700, label, activation, now).map(Compiled::Flag)
        }
        MeterType::Dlms => compile_dlms(scheme, label, activation, now).map(Compiled::Dlms),
    }
}

fn compile_flag(
    scheme: &Scheme,
    family: Family,
    label: &str,
    activation: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Program, CompileError> {
    let meter = match family {
        Family::A1140 => "A1140",
        Family::A1700 => "A1700",
    };
    let zone = scheme.time_zone.as_ref().ok_or(CompileError::NoZone)?;
    let from = activation.unwrap_or(now);
    let (base_s, changes) = clock_changes(zone, scheme.dst_mode(), from);
    let std = |t: DateTime<Utc>| t.naive_utc() + Duration::seconds(i64::from(base_s));
    let rates = scheme
        .rates
        .iter()
        .enumerate()
        .map(|(index, r)| {
            Ok(RateDef {
                register: r.register,
                source: flag_source(family, r.source).ok_or(CompileError::Source {
                    index,
                    meter: meter.to_string(),
                    what: r.source,
                })?,
            })
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    let day_profiles = scheme
        .day_profiles
        .iter()
        .map(|p| {
            p.switches
                .iter()
                .map(|s| {
                    Ok(SwitchDef {
                        minute: s.at.minutes(),
                        rate: rate_index(scheme, &s.rate)?,
                    })
                })
                .collect::<Result<Vec<_>, CompileError>>()
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    let seasons = scheme
        .seasons
        .iter()
        .map(|s| {
            let mut week = [0u8; 7];
            for (k, (_, name)) in s.week.days().into_iter().enumerate() {
                week[k] = profile_index(scheme, name)?;
            }
            Ok(SeasonDef {
                month: s.start.month(),
                day: s.start.day(),
                week,
            })
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    let special_days = special_entries(scheme)?
        .into_iter()
        .map(|(date, profile)| SpecialDef {
            year: date.year.unwrap_or(0),
            month: date.month,
            day: date.day,
            profile,
        })
        .collect();
    let dst = changes
        .into_iter()
        .map(|(t, total)| DstChange {
            from: std(t),
            shift_min: ((total - base_s) / 60) as i16,
        })
        .collect();
    let demand = scheme.max_demand.as_ref().map(|m| DemandDef {
        integration_min: m.integration_minutes.min(255) as u8,
        sub_intervals: match m.mode {
            DemandMode::Block => 1,
            DemandMode::Sliding => m.sub_intervals.unwrap_or(1).clamp(1, 255) as u8,
        },
    });
    let billing = scheme.billing.as_ref().map(|b| BillingDef {
        day: match b.day {
            BillingDay::DayOfMonth(d) => d,
            BillingDay::EndOfMonth => 0,
        },
        minute: b.time.minutes(),
    });
    let p = Program {
        family,
        label: label.to_string(),
        std_offset_min: (base_s / 60) as i16,
        activation: activation.map(std),
        rates,
        day_profiles,
        seasons,
        special_days,
        dst,
        demand,
        billing,
    };
    let len = p.encode().len();
    if len > MAX_IMAGE {
        return Err(CompileError::TooLarge(len));
    }
    Ok(p)
}

/// A date with an optional year (`None`: every year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CosemDate {
    pub year: Option<u16>,
    pub month: u8,
    pub day: u8,
}

impl std::fmt::Display for CosemDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.year {
            Some(y) => write!(f, "{y:04}-{:02}-{:02}", self.month, self.day),
            None => write!(f, "*-{:02}-{:02}", self.month, self.day),
        }
    }
}

fn special_entries(scheme: &Scheme) -> Result<Vec<(CosemDate, u8)>, CompileError> {
    let mut out = Vec::new();
    for s in &scheme.special_days {
        let p = profile_index(scheme, &s.day_profile)?;
        let date = |d: NaiveDate| CosemDate {
            year: u16::try_from(d.year()).ok(),
            month: d.month() as u8,
            day: d.day() as u8,
        };
        match &s.when {
            SpecialDate::Date(d) => out.push((date(*d), p)),
            SpecialDate::EveryYear(md) => out.push((
                CosemDate {
                    year: None,
                    month: md.month(),
                    day: md.day(),
                },
                p,
            )),
            SpecialDate::Dates(ds) => out.extend(ds.iter().map(|d| (date(*d), p))),
        }
    }
    Ok(out)
}

/// The Activity Calendar (class 20) passive attributes, the Special Days Table (class 11)
/// entries and the activation time for a DLMS/COSEM meter. Day ids count from 1 in scheme
/// order; the script selector of each action is the rate's register number, run on the
/// tariffication script table 0.0.10.0.100.255.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DlmsCalendar {
    /// calendar_name_passive (attribute 6): the label.
    pub calendar_name: String,
    /// season_profile_passive (attribute 7).
    pub seasons: Vec<DlmsSeason>,
    /// week_profile_table_passive (attribute 8).
    pub weeks: Vec<DlmsWeek>,
    /// day_profile_table_passive (attribute 9).
    pub days: Vec<DlmsDay>,
    /// activate_passive_calendar_time (attribute 10), UTC; `None` is the all-wildcard time
    /// (activate by the method, at once).
    pub activation: Option<DateTime<Utc>>,
    /// Special Days Table (0.0.11.0.0.255) entries: index, date (year wildcard = every year),
    /// day id.
    pub special_days: Vec<DlmsSpecialDay>,
    /// The script table the day actions run.
    pub script_table: String,
    /// The scheme zone's standard time, minutes east of UTC (`None` without a zone). The
    /// calendar's switch times are wall-clock times: the meter's Clock must keep this zone
    /// (time_zone attribute = its negation, minutes UTC − local) and its summer time.
    pub std_offset_min: Option<i16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DlmsSeason {
    pub name: String,
    /// season_start: month and day, every year.
    pub start: CosemDate,
    pub week: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DlmsWeek {
    pub name: String,
    /// Day ids, Monday to Sunday.
    pub days: [u8; 7],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DlmsDay {
    pub day_id: u8,
    pub name: String,
    /// (start time, script selector = register).
    pub actions: Vec<(TimeOfDay, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DlmsSpecialDay {
    pub index: u16,
    pub date: CosemDate,
    pub day_id: u8,
}

fn compile_dlms(
    scheme: &Scheme,
    label: &str,
    activation: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DlmsCalendar, CompileError> {
    // Week profiles: one per distinct week among the seasons, named after the first season
    // that uses it.
    let mut weeks: Vec<DlmsWeek> = Vec::new();
    let mut seasons = Vec::new();
    for s in &scheme.seasons {
        let mut days = [0u8; 7];
        for (k, (_, name)) in s.week.days().into_iter().enumerate() {
            days[k] = profile_index(scheme, name)? + 1;
        }
        let week = match weeks.iter().find(|w| w.days == days) {
            Some(w) => w.name.clone(),
            None => {
                let name = format!("W{}", weeks.len() + 1);
                weeks.push(DlmsWeek {
                    name: name.clone(),
                    days,
                });
                name
            }
        };
        seasons.push(DlmsSeason {
            name: s.name.clone(),
            start: CosemDate {
                year: None,
                month: s.start.month(),
                day: s.start.day(),
            },
            week,
        });
    }
    let days = scheme
        .day_profiles
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok(DlmsDay {
                day_id: i as u8 + 1,
                name: p.name.clone(),
                actions: p
                    .switches
                    .iter()
                    .map(|s| {
                        let r = &scheme.rates[usize::from(rate_index(scheme, &s.rate)?)];
                        Ok((s.at, u16::from(r.register)))
                    })
                    .collect::<Result<Vec<_>, CompileError>>()?,
            })
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    let special_days = special_entries(scheme)?
        .into_iter()
        .enumerate()
        .map(|(i, (date, p))| DlmsSpecialDay {
            index: i as u16,
            date,
            day_id: p + 1,
        })
        .collect();
    Ok(DlmsCalendar {
        calendar_name: label.to_string(),
        seasons,
        weeks,
        days,
        activation,
        special_days,
        script_table: "0.0.10.0.100.255".into(),
        std_offset_min: scheme.time_zone.as_ref().map(|z| {
            let (base_s, _) = clock_changes(z, scheme.dst_mode(), activation.unwrap_or(now));
            (base_s / 60) as i16
        }),
    })
}

/// One COSEM attribute to write: object, class, attribute, value (A-XDR).
#[derive(Debug, Clone, PartialEq)]
pub struct CosemWrite {
    pub obis: metermaster_model::ObisCode,
    pub class_id: u16,
    pub attribute: i8,
    pub name: &'static str,
    pub value: metermaster_dlms::Data,
}

fn cosem_date(d: &CosemDate) -> metermaster_dlms::axdr::CosemDate {
    use metermaster_dlms::axdr::{CosemDate as D, NOT_SPECIFIED, YEAR_NOT_SPECIFIED};
    D {
        year: d.year.unwrap_or(YEAR_NOT_SPECIFIED),
        month: d.month,
        day: d.day,
        weekday: NOT_SPECIFIED,
    }
}

impl DlmsCalendar {
    /// The attribute values that program a DLMS meter: the Activity Calendar's passive
    /// attributes 6–10 (0.0.13.0.0.255, class 20) and the Special Days Table's entries
    /// (0.0.11.0.0.255, class 11, attribute 2), in writing order. Dates and times are
    /// octet-strings (5, 4 and 12 bytes); season starts recur every year (year wildcard) at
    /// 00:00 with the deviation not specified (the meter's local time); the activation time is
    /// the UTC instant with deviation 0, or all wildcards for "at once".
    pub fn attributes(&self) -> Vec<CosemWrite> {
        use metermaster_dlms::Data;
        use metermaster_dlms::axdr::{
            ClockStatus, CosemDateTime, CosemTime, DEVIATION_NOT_SPECIFIED,
        };
        use metermaster_model::well_known;
        let cal = well_known::ACTIVITY_CALENDAR;
        let sdt = well_known::SPECIAL_DAYS_TABLE;
        let script = well_known::TARIFF_SCRIPT_TABLE;
        let midnight = CosemTime {
            hour: 0,
            minute: 0,
            second: 0,
            hundredths: 0,
        };
        let name = |s: &str| Data::octet_string(s.as_bytes().to_vec());
        let seasons = Data::Array(
            self.seasons
                .iter()
                .map(|s| {
                    let start = CosemDateTime {
                        date: cosem_date(&s.start),
                        time: midnight,
                        deviation: DEVIATION_NOT_SPECIFIED,
                        status: ClockStatus::NOT_SPECIFIED,
                    };
                    Data::Structure(vec![
                        name(&s.name),
                        Data::octet_string(start.to_bytes().to_vec()),
                        name(&s.week),
                    ])
                })
                .collect(),
        );
        let weeks = Data::Array(
            self.weeks
                .iter()
                .map(|w| {
                    let mut v = vec![name(&w.name)];
                    v.extend(w.days.iter().map(|d| Data::Unsigned(*d)));
                    Data::Structure(v)
                })
                .collect(),
        );
        let days = Data::Array(
            self.days
                .iter()
                .map(|d| {
                    let actions = d
                        .actions
                        .iter()
                        .map(|(at, sel)| {
                            let t = CosemTime {
                                hour: at.hour(),
                                minute: at.minute(),
                                second: 0,
                                hundredths: 0,
                            };
                            Data::Structure(vec![
                                Data::octet_string(t.to_bytes().to_vec()),
                                Data::logical_name(script),
                                Data::LongUnsigned(*sel),
                            ])
                        })
                        .collect();
                    Data::Structure(vec![Data::Unsigned(d.day_id), Data::Array(actions)])
                })
                .collect(),
        );
        let activation = match self.activation {
            Some(t) => CosemDateTime::from_utc(t, 0, ClockStatus(0))
                .map(|d| d.to_bytes())
                .unwrap_or([0xFF; 12]),
            None => {
                let mut b = [0xFF; 12];
                // Deviation 0x8000 (not specified).
                b[9] = 0x80;
                b[10] = 0x00;
                b
            }
        };
        let special = Data::Array(
            self.special_days
                .iter()
                .map(|e| {
                    Data::Structure(vec![
                        Data::LongUnsigned(e.index),
                        Data::octet_string(cosem_date(&e.date).to_bytes().to_vec()),
                        Data::Unsigned(e.day_id),
                    ])
                })
                .collect(),
        );
        let w = |obis, class_id, attribute, name, value| CosemWrite {
            obis,
            class_id,
            attribute,
            name,
            value,
        };
        vec![
            w(
                cal,
                20,
                6,
                "calendar_name_passive",
                name(&self.calendar_name),
            ),
            w(cal, 20, 7, "season_profile_passive", seasons),
            w(cal, 20, 8, "week_profile_table_passive", weeks),
            w(cal, 20, 9, "day_profile_table_passive", days),
            w(
                cal,
                20,
                10,
                "activate_passive_calendar_time",
                Data::octet_string(activation.to_vec()),
            ),
            w(sdt, 11, 2, "entries", special),
        ]
    }
}

impl Compiled {
    /// The program as the user is shown it before anything is written.
    pub fn listing(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        match self {
            Compiled::Flag(p) => {
                let image = p.encode();
                let _ = writeln!(
                    o,
                    "# {} program {:?}: {} bytes, CRC {:04X}; standard time UTC{:+03}:{:02}",
                    match p.family {
                        Family::A1140 => "A1140",
                        Family::A1700 => "A1700",
                    },
                    p.label,
                    image.len(),
                    metermaster_flag::program::image_crc(&image),
                    p.std_offset_min / 60,
                    (p.std_offset_min % 60).abs()
                );
                let _ = writeln!(o, "# rates (register, source code):");
                for (i, r) in p.rates.iter().enumerate() {
                    let _ = writeln!(o, "#   {i}: register {} source {}", r.register, r.source);
                }
                for (i, d) in p.day_profiles.iter().enumerate() {
                    let sw: Vec<String> = d
                        .iter()
                        .map(|s| format!("{:02}:{:02}→{}", s.minute / 60, s.minute % 60, s.rate))
                        .collect();
                    let _ = writeln!(o, "# day profile {i}: {}", sw.join(" "));
                }
                for s in &p.seasons {
                    let _ = writeln!(
                        o,
                        "# season from {:02}-{:02}: week {:?}",
                        s.month, s.day, s.week
                    );
                }
                for s in &p.special_days {
                    let y = if s.year == 0 {
                        "*".to_string()
                    } else {
                        s.year.to_string()
                    };
                    let _ = writeln!(
                        o,
                        "# special day {y}-{:02}-{:02}: day profile {}",
                        s.month, s.day, s.profile
                    );
                }
                for d in &p.dst {
                    let _ = writeln!(
                        o,
                        "# from {} standard time: wall clock {:+} min",
                        d.from.format("%Y-%m-%d %H:%M"),
                        d.shift_min
                    );
                }
                let _ = writeln!(
                    o,
                    "# writes (password level 3), then read back 943 and 942:"
                );
                let _ = writeln!(o, "W1 576001(<operator name, 12 characters>)");
                for (w, _) in p.write_sequence() {
                    let _ = writeln!(o, "{w}");
                }
            }
            Compiled::Dlms(c) => {
                let _ = writeln!(o, "# Activity Calendar 0.0.13.0.0.255, passive attributes:");
                let _ = writeln!(o, "calendar_name_passive: {:?}", c.calendar_name);
                for s in &c.seasons {
                    let _ = writeln!(
                        o,
                        "season_profile_passive: {:?} from {} week {}",
                        s.name, s.start, s.week
                    );
                }
                for w in &c.weeks {
                    let _ = writeln!(o, "week_profile_table_passive: {} {:?}", w.name, w.days);
                }
                for d in &c.days {
                    let a: Vec<String> = d
                        .actions
                        .iter()
                        .map(|(t, r)| format!("{t} {} selector {r}", c.script_table))
                        .collect();
                    let _ = writeln!(
                        o,
                        "day_profile_table_passive: day {} ({}): {}",
                        d.day_id,
                        d.name,
                        a.join(", ")
                    );
                }
                let _ = writeln!(
                    o,
                    "activate_passive_calendar_time: {}",
                    c.activation
                        .map_or("immediately (all wildcards)".to_string(), |t| t
                            .to_rfc3339())
                );
                let _ = writeln!(o, "# Special Days Table 0.0.11.0.0.255 entries:");
                for s in &c.special_days {
                    let _ = writeln!(o, "index {} date {} day {}", s.index, s.date, s.day_id);
                }
                let _ = writeln!(o, "# SET requests (A-XDR values), in order:");
                for a in c.attributes() {
                    let _ = writeln!(
                        o,
                        "SET {} class {} attribute {} ({}): {}",
                        metermaster_dlms::obis::Dotted(a.obis),
                        a.class_id,
                        a.attribute,
                        a.name,
                        metermaster_flag::codec::to_hex(&a.value.encode())
                    );
                }
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme() -> Scheme {
        Scheme::from_toml(
            r#"
id = "TWO"
name = "two rates"
time_zone = "Europe/London"
rates = [
    { name = "peak", register = 1, source = "import_kwh" },
    { name = "off-peak", register = 2, source = "import_kwh" },
]
[[day_profiles]]
name = "d"
switches = [{ at = "00:00", rate = "off-peak" }, { at = "07:00", rate = "peak" }, { at = "23:00", rate = "off-peak" }]
[[seasons]]
name = "all"
start = "01-01"
week = { monday = "d", tuesday = "d", wednesday = "d", thursday = "d", friday = "d", saturday = "d", sunday = "d" }
[[special_days]]
name = "xmas"
day_profile = "d"
every_year = "12-25"
"#,
        )
        .unwrap()
    }

    #[test]
    fn dlms_day_profile_encodes_as_the_guide_shows() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let Compiled::Dlms(c) = compile(&scheme(), MeterType::Dlms, "TWO@1", None, now).unwrap()
        else {
            panic!("not a DLMS form")
        };
        let attrs = c.attributes();
        let hex = |a: &CosemWrite| metermaster_flag::codec::to_hex(&a.value.encode());
        // Day profile 1: 00:00 → selector 2, 07:00 → 1, 23:00 → 2 (guide §6.3's layout).
        assert_eq!(
            hex(&attrs[3]),
            "0101020211010103\
             0203090400000000090600000A0064FF120002\
             0203090407000000090600000A0064FF120001\
             0203090417000000090600000A0064FF120002"
        );
        // Season from every 1 January at 00:00, week W1.
        assert_eq!(
            hex(&attrs[1]),
            "010102030903616C6C090CFFFF0101FF000000008000FF09025731"
        );
        // At once: all wildcards, deviation not specified.
        assert_eq!(hex(&attrs[4]), "090CFFFFFFFFFFFFFFFFFF8000FF");
        // Christmas every year, day 1.
        assert_eq!(hex(&attrs[5]), "010102031200000905FFFF0C19FF1101");
    }
}
