//! The small typed values of scheme and configuration files: times of day, month-days, dates,
//! time zones, ratios, and the quantities a rate or channel records.
//!
//! Each is written as text in a file and checked when the file is read, so a [`TimeOfDay`]
//! can never hold `24:30` and a [`MonthDay`] never `02-30`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text is not a valid value of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {text:?}: {reason}")]
pub struct ValueError {
    /// The kind of value: `time`, `month-day`, `date`, `time zone`, `ratio`.
    pub what: &'static str,
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ValueError {
    fn new(what: &'static str, text: &str, reason: &'static str) -> Self {
        ValueError {
            what,
            text: text.to_string(),
            reason,
        }
    }
}

/// Two ASCII digits at `i` as a number.
fn two_digits(b: &[u8], i: usize) -> Option<u8> {
    match (b.get(i), b.get(i + 1)) {
        (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => Some((x - b'0') * 10 + (y - b'0')),
        _ => None,
    }
}

/// Serializes a value through its `Display` form.
fn serialize_display<T: fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Deserializes a value from text through its `FromStr` form.
fn deserialize_text<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr<Err = ValueError>,
    D: Deserializer<'de>,
{
    let text = Cow::<'de, str>::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

/// Implements serde and JSON Schema for a type written as text.
macro_rules! text_value {
    ($ty:ty, $name:literal, $schema:tt) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_display(self, s)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_text(d)
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Times of day

/// A time of day to the minute, written `HH:MM` (`00:00` to `23:59`, two digits each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    hour: u8,
    minute: u8,
}

impl TimeOfDay {
    /// `00:00`, the start of the day.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { hour: 0, minute: 0 };

    /// The time `hour:minute`, or `None` when the hour is above 23 or the minute above 59.
    pub const fn new(hour: u8, minute: u8) -> Option<TimeOfDay> {
        if hour <= 23 && minute <= 59 {
            Some(TimeOfDay { hour, minute })
        } else {
            None
        }
    }

    /// The hour, 0 to 23.
    pub const fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, 0 to 59.
    pub const fn minute(self) -> u8 {
        self.minute
    }

    /// Minutes since midnight, 0 to 1439.
    pub const fn minutes(self) -> u16 {
        self.hour as u16 * 60 + self.minute as u16
    }

    /// The same time as a chrono time.
    pub fn to_naive_time(self) -> NaiveTime {
        NaiveTime::MIN
            .overflowing_add_signed(TimeDelta::minutes(i64::from(self.minutes())))
            .0
    }
}

impl FromStr for TimeOfDay {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        let err = |reason| ValueError::new("time", text, reason);
        let b = text.as_bytes();
        let shape = "expected HH:MM with two digits each, such as 07:05";
        if b.len() != 5 || b.get(2) != Some(&b':') {
            return Err(err(shape));
        }
        let (Some(hour), Some(minute)) = (two_digits(b, 0), two_digits(b, 3)) else {
            return Err(err(shape));
        };
        if hour > 23 {
            return Err(err("the hour is above 23 (the day ends at 23:59)"));
        }
        if minute > 59 {
            return Err(err("the minute is above 59"));
        }
        Ok(TimeOfDay { hour, minute })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

text_value!(TimeOfDay, "TimeOfDay", {
    "description": "A time of day, HH:MM (00:00 to 23:59).",
    "type": "string",
    "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"
});

// ---------------------------------------------------------------------------------------------
// Month-days

/// A day of the year without a year, written `MM-DD`. `02-29` is accepted (it occurs in leap
/// years only); days that never occur (`02-30`, `04-31`) are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonthDay {
    month: u8,
    day: u8,
}

/// The longest length of each month (February in a leap year).
const MONTH_LENGTHS: [u8; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl MonthDay {
    /// The day `month-day`, or `None` when it never occurs.
    pub fn new(month: u8, day: u8) -> Option<MonthDay> {
        let longest = MONTH_LENGTHS.get(usize::from(month).checked_sub(1)?)?;
        (day >= 1 && day <= *longest).then_some(MonthDay { month, day })
    }

    /// The month, 1 to 12.
    pub const fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub const fn day(self) -> u8 {
        self.day
    }

    /// The month-day of a date.
    pub fn of(date: NaiveDate) -> MonthDay {
        use chrono::Datelike;
        // A date's month (1-12) and day (1-31) always fit.
        MonthDay {
            month: u8::try_from(date.month()).unwrap_or(1),
            day: u8::try_from(date.day()).unwrap_or(1),
        }
    }

    /// This day in `year`, or `None` for `02-29` in a year that is not a leap year.
    pub fn in_year(self, year: i32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(year, u32::from(self.month), u32::from(self.day))
    }

    /// Whether this is `02-29`, which occurs in leap years only.
    pub const fn is_leap_day(self) -> bool {
        self.month == 2 && self.day == 29
    }
}

impl FromStr for MonthDay {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        let err = |reason| ValueError::new("month-day", text, reason);
        let b = text.as_bytes();
        if b.len() != 5 || b.get(2) != Some(&b'-') {
            return Err(err("expected MM-DD with two digits each, such as 12-25"));
        }
        let (Some(month), Some(day)) = (two_digits(b, 0), two_digits(b, 3)) else {
            return Err(err("expected MM-DD with two digits each, such as 12-25"));
        };
        if !(1..=12).contains(&month) {
            return Err(err("the month is not 01 to 12"));
        }
        MonthDay::new(month, day).ok_or_else(|| err("that month has no such day"))
    }
}

impl fmt::Display for MonthDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}-{:02}", self.month, self.day)
    }
}

text_value!(MonthDay, "MonthDay", {
    "description": "A day of the year, MM-DD (02-29 occurs in leap years only).",
    "type": "string",
    "pattern": "^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
});

// ---------------------------------------------------------------------------------------------
// Dates

/// Parses a date written `YYYY-MM-DD` (four-digit year), refusing days that do not exist
/// (`2026-02-30`).
pub fn parse_date(text: &str) -> Result<NaiveDate, ValueError> {
    let err = |reason| ValueError::new("date", text, reason);
    let b = text.as_bytes();
    let shape = "expected YYYY-MM-DD, such as 2026-12-25";
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(err(shape));
    }
    let (Some(y1), Some(y2), Some(month), Some(day)) = (
        two_digits(b, 0),
        two_digits(b, 2),
        two_digits(b, 5),
        two_digits(b, 8),
    ) else {
        return Err(err(shape));
    };
    if !(1..=12).contains(&month) {
        return Err(err("the month is not 01 to 12"));
    }
    let year = i32::from(y1) * 100 + i32::from(y2);
    NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day))
        .ok_or_else(|| err("that month has no such day in that year"))
}

/// A date in a file (`YYYY-MM-DD`); the model holds plain [`NaiveDate`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateText(pub(crate) NaiveDate);

impl FromStr for DateText {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        parse_date(text).map(DateText)
    }
}

impl fmt::Display for DateText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

text_value!(DateText, "Date", {
    "description": "A date, YYYY-MM-DD.",
    "type": "string",
    "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
});

// ---------------------------------------------------------------------------------------------
// Time zones

/// A time zone is the model's [`Zone`](metermaster_model::Zone): an IANA name
/// (`Europe/London`, `UTC`) or a fixed offset from UTC (`+10:00`, `-03:30`, `UTC+10`); where a
/// local time falls on its time line is a [`LocalTime`](metermaster_model::LocalTime).
pub use metermaster_model::{LocalTime, Zone};

/// The JSON Schema of a [`Zone`], which the model writes as text.
pub(crate) struct ZoneText;

impl JsonSchema for ZoneText {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("TimeZone")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An IANA time zone name (Europe/London, Australia/Sydney, UTC) or a fixed offset (+10:00).",
            "type": "string"
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Transformer ratios

/// A transformer ratio, written `P/S` (primary over secondary, both positive numbers):
/// `200/5`, `11000/110`, `6350/63.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    primary: f64,
    secondary: f64,
}

// A ratio only ever holds finite positive numbers, so equality is reflexive.
impl Eq for Ratio {}

impl Ratio {
    /// The ratio `primary/secondary`, or `None` unless both are finite and positive.
    pub fn new(primary: f64, secondary: f64) -> Option<Ratio> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        (ok(primary) && ok(secondary)).then_some(Ratio { primary, secondary })
    }

    /// The primary value (amperes or volts on the network side).
    pub const fn primary(self) -> f64 {
        self.primary
    }

    /// The secondary value (amperes or volts on the meter side).
    pub const fn secondary(self) -> f64 {
        self.secondary
    }

    /// Primary over secondary: the multiplier from meter to network values.
    pub fn factor(self) -> f64 {
        self.primary / self.secondary
    }
}

/// A positive decimal number without sign or exponent (`200`, `63.5`).
fn positive_decimal(text: &str) -> Option<f64> {
    let ok = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.');
    if !ok {
        return None;
    }
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
}

impl FromStr for Ratio {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        let err = |reason| ValueError::new("ratio", text, reason);
        let Some((p, s)) = text.split_once('/') else {
            return Err(err("expected primary/secondary, such as 200/5"));
        };
        let (Some(primary), Some(secondary)) =
            (positive_decimal(p.trim()), positive_decimal(s.trim()))
        else {
            return Err(err(
                "both sides must be positive numbers (digits and at most one point), such as 200/5",
            ));
        };
        Ratio::new(primary, secondary).ok_or_else(|| err("both sides must be positive numbers"))
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.primary, self.secondary)
    }
}

text_value!(Ratio, "Ratio", {
    "description": "A transformer ratio, primary/secondary with positive numbers (200/5, 11000/110).",
    "type": "string",
    "pattern": "^ *[0-9]+(\\.[0-9]+)? */ *[0-9]+(\\.[0-9]+)? *$"
});

// ---------------------------------------------------------------------------------------------
// Enumerations

/// The quantity a rate register, demand register or load-profile channel records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Active energy imported (delivered to the customer), kWh.
    ImportKwh,
    /// Active energy exported (received from the customer), kWh.
    ExportKwh,
    /// Reactive energy while importing active energy (Q1 + Q4), kvarh.
    ImportKvarh,
    /// Reactive energy while exporting active energy (Q2 + Q3), kvarh.
    ExportKvarh,
    /// Reactive energy in quadrant 1, kvarh.
    Q1Kvarh,
    /// Reactive energy in quadrant 2, kvarh.
    Q2Kvarh,
    /// Reactive energy in quadrant 3, kvarh.
    Q3Kvarh,
    /// Reactive energy in quadrant 4, kvarh.
    Q4Kvarh,
    /// Apparent energy, kVAh.
    Kvah,
}

impl Source {
    /// Every source, in file order.
    pub const ALL: [Source; 9] = [
        Source::ImportKwh,
        Source::ExportKwh,
        Source::ImportKvarh,
        Source::ExportKvarh,
        Source::Q1Kvarh,
        Source::Q2Kvarh,
        Source::Q3Kvarh,
        Source::Q4Kvarh,
        Source::Kvah,
    ];

    /// The name used in files: `import_kwh`, `q1_kvarh` ….
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::ImportKwh => "import_kwh",
            Source::ExportKwh => "export_kwh",
            Source::ImportKvarh => "import_kvarh",
            Source::ExportKvarh => "export_kvarh",
            Source::Q1Kvarh => "q1_kvarh",
            Source::Q2Kvarh => "q2_kvarh",
            Source::Q3Kvarh => "q3_kvarh",
            Source::Q4Kvarh => "q4_kvarh",
            Source::Kvah => "kvah",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of meter, which decides its [capabilities](crate::MeterCapabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MeterType {
    /// Elster A1140 (FLAG protocol).
    A1140,
    /// Elster A1700 (FLAG protocol).
    A1700,
    /// A generic DLMS/COSEM meter.
    Dlms,
}

impl MeterType {
    /// Every meter type.
    pub const ALL: [MeterType; 3] = [MeterType::A1140, MeterType::A1700, MeterType::Dlms];

    /// The name used in files: `a1140`, `a1700`, `dlms`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MeterType::A1140 => "a1140",
            MeterType::A1700 => "a1700",
            MeterType::Dlms => "dlms",
        }
    }

    /// The name used in messages: `A1140`, `A1700`, `DLMS meter`.
    pub const fn label(self) -> &'static str {
        match self {
            MeterType::A1140 => "A1140",
            MeterType::A1700 => "A1700",
            MeterType::Dlms => "DLMS meter",
        }
    }

    /// Whether the meter speaks FLAG (the Elster A1140 and A1700).
    pub const fn is_flag(self) -> bool {
        matches!(self, MeterType::A1140 | MeterType::A1700)
    }
}

impl fmt::Display for MeterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_strict() {
        let t: TimeOfDay = "07:05".parse().unwrap();
        assert_eq!((t.hour(), t.minute(), t.minutes()), (7, 5, 425));
        assert_eq!(t.to_string(), "07:05");
        assert_eq!(t.to_naive_time(), NaiveTime::from_hms_opt(7, 5, 0).unwrap());
        for bad in [
            "24:30",
            "7:5",
            "07:5",
            "07:60",
            "0730",
            "",
            "07:30:00",
            "ab:cd",
            "٠٧:٠٥",
        ] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
        let e = "24:30".parse::<TimeOfDay>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid time \"24:30\": the hour is above 23 (the day ends at 23:59)"
        );
    }

    #[test]
    fn month_days_and_dates() {
        assert!("02-29".parse::<MonthDay>().unwrap().is_leap_day());
        assert!("02-30".parse::<MonthDay>().is_err());
        assert!("04-31".parse::<MonthDay>().is_err());
        assert!("13-01".parse::<MonthDay>().is_err());
        assert!("1-01".parse::<MonthDay>().is_err());
        let md: MonthDay = "12-25".parse().unwrap();
        assert_eq!(md.in_year(2026), NaiveDate::from_ymd_opt(2026, 12, 25));
        assert_eq!(
            MonthDay::of(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()),
            md
        );
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("2026-2-03").is_err());
        assert!(parse_date("2028-02-29").is_ok());
        assert!(parse_date("2027-02-29").is_err());
    }

    #[test]
    fn zones_and_ratios() {
        assert_eq!(
            "Europe/London".parse::<Zone>().unwrap().to_string(),
            "Europe/London"
        );
        assert_eq!("+10:00".parse::<Zone>().unwrap().to_string(), "+10:00");
        assert_eq!("-03:30".parse::<Zone>().unwrap().to_string(), "-03:30");
        assert!("Europe/Londn".parse::<Zone>().is_err());
        assert!("+25:00".parse::<Zone>().is_err());
        // The model's zone: the forms users paste, one printed form.
        assert_eq!("UTC+10".parse::<Zone>().unwrap().to_string(), "+10:00");
        assert_eq!("+1000".parse::<Zone>().unwrap().to_string(), "+10:00");
        assert_eq!(
            "Europe/Londn".parse::<Zone>().unwrap_err().to_string(),
            "invalid time zone \"Europe/Londn\": not an IANA time zone name (such as Europe/London) or a fixed offset (+10:00)"
        );
        let r: Ratio = "200/5".parse().unwrap();
        assert_eq!((r.primary(), r.secondary(), r.factor()), (200.0, 5.0, 40.0));
        assert_eq!(r.to_string(), "200/5");
        assert_eq!(
            "6350/63.5".parse::<Ratio>().unwrap().to_string(),
            "6350/63.5"
        );
        for bad in [
            "200", "0/5", "200/0", "-200/5", "200/5/1", "2e2/5", "/5", "a/b", "1./5",
        ] {
            assert!(bad.parse::<Ratio>().is_err(), "{bad}");
        }
    }
}
