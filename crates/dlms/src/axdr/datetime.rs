//! COSEM date, time and date-time (guide §4.3): the 5-, 4- and 12-byte forms with their wildcards,
//! the deviation from UTC and the clock status byte.
//!
//! The fields are kept exactly as received, so that recurring patterns ("every 25 December",
//! "last day of March") and meters' odd values survive a round trip. Conversions to chrono exist
//! for values that name one instant or one calendar day.
//!
//! Deviation sign (guide §4.3, uncertainty §9.2 item 1): `deviation = UTC − local` in minutes, so
//! `local = UTC − deviation` and CET (UTC+1) is −60. Meters that use the opposite sign or leave
//! DST out need a per-meter time policy in the client; this module only implements the reading
//! the guide calls usual.

use std::fmt;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};

use crate::error::ValueError;

/// A byte field left unspecified (`0xFF`).
pub const NOT_SPECIFIED: u8 = 0xFF;
/// The year left unspecified (`0xFFFF`): every year.
pub const YEAR_NOT_SPECIFIED: u16 = 0xFFFF;
/// Month `0xFD`: the month in which daylight saving time ends.
pub const MONTH_DST_END: u8 = 0xFD;
/// Month `0xFE`: the month in which daylight saving time begins.
pub const MONTH_DST_BEGIN: u8 = 0xFE;
/// Day of month `0xFD`: the second-to-last day of the month.
pub const DAY_SECOND_LAST: u8 = 0xFD;
/// Day of month `0xFE`: the last day of the month.
pub const DAY_LAST: u8 = 0xFE;
/// Deviation `0x8000`: not specified.
pub const DEVIATION_NOT_SPECIFIED: i16 = i16::MIN;
/// The largest deviation a date-time may carry, in minutes.
pub const MAX_DEVIATION: i16 = 720;

/// A COSEM date: year, month, day of month, day of week (Monday = 1), each possibly a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CosemDate {
    /// 0–0xFFFE, or [`YEAR_NOT_SPECIFIED`].
    pub year: u16,
    /// 1–12, [`MONTH_DST_END`], [`MONTH_DST_BEGIN`] or [`NOT_SPECIFIED`].
    pub month: u8,
    /// 1–31, [`DAY_SECOND_LAST`], [`DAY_LAST`] or [`NOT_SPECIFIED`]; 0xE0–0xFC are reserved.
    pub day: u8,
    /// 1–7 with Monday = 1, or [`NOT_SPECIFIED`].
    pub weekday: u8,
}

/// A COSEM time of day, each field possibly a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CosemTime {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub hundredths: u8,
}

/// The clock status byte (guide §4.3). `0xFF` means not specified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClockStatus(pub u8);

impl ClockStatus {
    pub const INVALID_VALUE: u8 = 0x01;
    pub const DOUBTFUL_VALUE: u8 = 0x02;
    pub const DIFFERENT_CLOCK_BASE: u8 = 0x04;
    pub const INVALID_CLOCK_STATUS: u8 = 0x08;
    pub const DAYLIGHT_SAVING_ACTIVE: u8 = 0x80;
    /// Status `0x00`: nothing to report.
    pub const OK: ClockStatus = ClockStatus(0);
    /// Status `0xFF`: not specified.
    pub const NOT_SPECIFIED: ClockStatus = ClockStatus(0xFF);

    pub fn is_specified(self) -> bool {
        self.0 != 0xFF
    }

    /// Whether a flag is set; always false when the status is not specified.
    pub fn has(self, flag: u8) -> bool {
        self.is_specified() && self.0 & flag != 0
    }

    pub fn daylight_saving_active(self) -> bool {
        self.has(Self::DAYLIGHT_SAVING_ACTIVE)
    }

    pub fn invalid_value(self) -> bool {
        self.has(Self::INVALID_VALUE)
    }

    pub fn doubtful_value(self) -> bool {
        self.has(Self::DOUBTFUL_VALUE)
    }
}

/// A COSEM date-time: date, time, deviation from UTC and clock status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CosemDateTime {
    pub date: CosemDate,
    pub time: CosemTime,
    /// `UTC − local` in minutes (−720…720), or [`DEVIATION_NOT_SPECIFIED`].
    pub deviation: i16,
    pub status: ClockStatus,
}

fn byte_field(what: &'static str, v: u8, max: u8, min: u8) -> Result<u8, ValueError> {
    if v == NOT_SPECIFIED {
        Err(ValueError::NotSpecified { what })
    } else if v < min || v > max {
        Err(ValueError::OutOfRange {
            what,
            value: u64::from(v).into(),
        })
    } else {
        Ok(v)
    }
}

impl CosemDate {
    /// Every field a wildcard.
    pub const UNSPECIFIED: CosemDate = CosemDate {
        year: YEAR_NOT_SPECIFIED,
        month: NOT_SPECIFIED,
        day: NOT_SPECIFIED,
        weekday: NOT_SPECIFIED,
    };

    pub fn from_bytes(b: [u8; 5]) -> Self {
        CosemDate {
            year: u16::from_be_bytes([b[0], b[1]]),
            month: b[2],
            day: b[3],
            weekday: b[4],
        }
    }

    pub fn to_bytes(self) -> [u8; 5] {
        let y = self.year.to_be_bytes();
        [y[0], y[1], self.month, self.day, self.weekday]
    }

    /// The year, unless it is the wildcard.
    pub fn year(self) -> Option<u16> {
        (self.year != YEAR_NOT_SPECIFIED).then_some(self.year)
    }

    /// The month 1–12, unless it is a wildcard or a DST marker.
    pub fn month(self) -> Option<u8> {
        (1..=12).contains(&self.month).then_some(self.month)
    }

    /// The day of month 1–31, unless it is a wildcard or "last"/"second-to-last".
    pub fn day(self) -> Option<u8> {
        (1..=31).contains(&self.day).then_some(self.day)
    }

    /// The day of week 1–7 (Monday = 1), unless it is the wildcard.
    pub fn weekday(self) -> Option<u8> {
        (1..=7).contains(&self.weekday).then_some(self.weekday)
    }

    /// True when year, month and day are all given, so the date names one calendar day.
    pub fn is_fully_specified(self) -> bool {
        self.year().is_some() && self.month().is_some() && self.day().is_some()
    }

    /// The calendar day, when the date names one. The day of week is not checked against it:
    /// meters get it wrong more often than the date itself.
    pub fn to_naive_date(self) -> Result<NaiveDate, ValueError> {
        if self.year == YEAR_NOT_SPECIFIED {
            return Err(ValueError::NotSpecified { what: "year" });
        }
        let month = byte_field("month", self.month, 12, 1)?;
        let day = byte_field("day of month", self.day, 31, 1)?;
        NaiveDate::from_ymd_opt(i32::from(self.year), u32::from(month), u32::from(day)).ok_or(
            ValueError::Invalid {
                what: "date",
                problem: "no such day in that month",
            },
        )
    }

    /// The date of a calendar day, with its day of week filled in. Years outside 0–65534 are
    /// out of range.
    pub fn from_naive_date(d: NaiveDate) -> Result<Self, ValueError> {
        let year = u16::try_from(d.year())
            .ok()
            .filter(|y| *y != YEAR_NOT_SPECIFIED)
            .ok_or(ValueError::OutOfRange {
                what: "year",
                value: i64::from(d.year()).into(),
            })?;
        Ok(CosemDate {
            year,
            month: d.month() as u8,
            day: d.day() as u8,
            weekday: d.weekday().number_from_monday() as u8,
        })
    }
}

impl CosemTime {
    /// Every field a wildcard.
    pub const UNSPECIFIED: CosemTime = CosemTime {
        hour: NOT_SPECIFIED,
        minute: NOT_SPECIFIED,
        second: NOT_SPECIFIED,
        hundredths: NOT_SPECIFIED,
    };

    pub fn from_bytes(b: [u8; 4]) -> Self {
        CosemTime {
            hour: b[0],
            minute: b[1],
            second: b[2],
            hundredths: b[3],
        }
    }

    pub fn to_bytes(self) -> [u8; 4] {
        [self.hour, self.minute, self.second, self.hundredths]
    }

    /// True when hour, minute and second are given (hundredths may be a wildcard).
    pub fn is_fully_specified(self) -> bool {
        self.hour < 24 && self.minute < 60 && self.second < 60
    }

    /// The time of day. Hour, minute and second must be given; unspecified hundredths count as
    /// zero, because many meters send `FF` there for whole-second clocks.
    pub fn to_naive_time(self) -> Result<NaiveTime, ValueError> {
        let h = byte_field("hour", self.hour, 23, 0)?;
        let m = byte_field("minute", self.minute, 59, 0)?;
        let s = byte_field("second", self.second, 59, 0)?;
        let cs = if self.hundredths == NOT_SPECIFIED {
            0
        } else {
            byte_field("hundredths", self.hundredths, 99, 0)?
        };
        NaiveTime::from_hms_milli_opt(u32::from(h), u32::from(m), u32::from(s), u32::from(cs) * 10)
            .ok_or(ValueError::Invalid {
                what: "time",
                problem: "not a time of day",
            })
    }

    /// The time of day, truncated to hundredths. A leap second (chrono's second 59 with more
    /// than 1 s of fraction) is kept as 59.99.
    pub fn from_naive_time(t: NaiveTime) -> Self {
        let cs = (t.nanosecond() / 10_000_000).min(99);
        CosemTime {
            hour: t.hour() as u8,
            minute: t.minute() as u8,
            second: t.second() as u8,
            hundredths: cs as u8,
        }
    }
}

impl CosemDateTime {
    /// Every field a wildcard.
    pub const UNSPECIFIED: CosemDateTime = CosemDateTime {
        date: CosemDate::UNSPECIFIED,
        time: CosemTime::UNSPECIFIED,
        deviation: DEVIATION_NOT_SPECIFIED,
        status: ClockStatus::NOT_SPECIFIED,
    };

    pub fn from_bytes(b: [u8; 12]) -> Self {
        CosemDateTime {
            date: CosemDate::from_bytes([b[0], b[1], b[2], b[3], b[4]]),
            time: CosemTime::from_bytes([b[5], b[6], b[7], b[8]]),
            deviation: i16::from_be_bytes([b[9], b[10]]),
            status: ClockStatus(b[11]),
        }
    }

    pub fn to_bytes(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..5].copy_from_slice(&self.date.to_bytes());
        out[5..9].copy_from_slice(&self.time.to_bytes());
        out[9..11].copy_from_slice(&self.deviation.to_be_bytes());
        out[11] = self.status.0;
        out
    }

    /// The deviation in minutes, unless it is `0x8000`.
    pub fn deviation(self) -> Option<i16> {
        (self.deviation != DEVIATION_NOT_SPECIFIED).then_some(self.deviation)
    }

    /// The local wall-clock time the meter shows, ignoring deviation and status.
    pub fn to_naive_local(self) -> Result<NaiveDateTime, ValueError> {
        Ok(NaiveDateTime::new(
            self.date.to_naive_date()?,
            self.time.to_naive_time()?,
        ))
    }

    /// The UTC offset the deviation stands for: `−deviation` minutes east of Greenwich.
    pub fn offset(self) -> Result<FixedOffset, ValueError> {
        let dev = self
            .deviation()
            .ok_or(ValueError::NotSpecified { what: "deviation" })?;
        if dev.unsigned_abs() > MAX_DEVIATION.unsigned_abs() {
            return Err(ValueError::OutOfRange {
                what: "deviation",
                value: i64::from(dev).into(),
            });
        }
        FixedOffset::east_opt(-i32::from(dev) * 60).ok_or(ValueError::OutOfRange {
            what: "deviation",
            value: i64::from(dev).into(),
        })
    }

    /// The instant, with the meter's offset. Needs a full date, time and deviation.
    pub fn to_fixed_offset(self) -> Result<DateTime<FixedOffset>, ValueError> {
        let local = self.to_naive_local()?;
        let offset = self.offset()?;
        offset
            .from_local_datetime(&local)
            .single()
            .ok_or(ValueError::Invalid {
                what: "date-time",
                problem: "not representable",
            })
    }

    /// The instant in UTC (`local + deviation`). (Plain arithmetic on the local time: this is
    /// on the path of every load-profile row.)
    pub fn to_utc(self) -> Result<DateTime<Utc>, ValueError> {
        let local = self.to_naive_local()?;
        let east = self.offset()?.local_minus_utc();
        local
            .checked_sub_signed(chrono::TimeDelta::seconds(i64::from(east)))
            .map(|t| t.and_utc())
            .ok_or(ValueError::Invalid {
                what: "date-time",
                problem: "not representable",
            })
    }

    /// A date-time from a wall-clock time, with a deviation or `None` for `0x8000`.
    pub fn from_naive_local(
        local: NaiveDateTime,
        deviation: Option<i16>,
        status: ClockStatus,
    ) -> Result<Self, ValueError> {
        if let Some(d) = deviation.filter(|d| d.unsigned_abs() > MAX_DEVIATION.unsigned_abs()) {
            return Err(ValueError::OutOfRange {
                what: "deviation",
                value: i64::from(d).into(),
            });
        }
        Ok(CosemDateTime {
            date: CosemDate::from_naive_date(local.date())?,
            time: CosemTime::from_naive_time(local.time()),
            deviation: deviation.unwrap_or(DEVIATION_NOT_SPECIFIED),
            status,
        })
    }

    /// A date-time for an instant shown with an offset; the deviation is `−offset`, which must be
    /// whole minutes within ±720.
    pub fn from_fixed_offset(
        dt: DateTime<FixedOffset>,
        status: ClockStatus,
    ) -> Result<Self, ValueError> {
        let secs = dt.offset().local_minus_utc();
        if secs % 60 != 0 {
            return Err(ValueError::Invalid {
                what: "UTC offset",
                problem: "not a whole number of minutes",
            });
        }
        let dev = i16::try_from(-secs / 60).map_err(|_| ValueError::OutOfRange {
            what: "deviation",
            value: i64::from(-secs / 60).into(),
        })?;
        Self::from_naive_local(dt.naive_local(), Some(dev), status)
    }

    /// A date-time for a UTC instant as a meter with the given deviation shows it
    /// (`local = UTC − deviation`).
    pub fn from_utc(
        utc: DateTime<Utc>,
        deviation: i16,
        status: ClockStatus,
    ) -> Result<Self, ValueError> {
        if deviation.unsigned_abs() > MAX_DEVIATION.unsigned_abs() {
            return Err(ValueError::OutOfRange {
                what: "deviation",
                value: i64::from(deviation).into(),
            });
        }
        let offset =
            FixedOffset::east_opt(-i32::from(deviation) * 60).ok_or(ValueError::OutOfRange {
                what: "deviation",
                value: i64::from(deviation).into(),
            })?;
        Self::from_fixed_offset(utc.with_timezone(&offset), status)
    }
}

fn wild2(f: &mut fmt::Formatter<'_>, v: u8) -> fmt::Result {
    if v == NOT_SPECIFIED {
        f.write_str("**")
    } else {
        write!(f, "{v:02}")
    }
}

impl fmt::Display for CosemDate {
    /// `2024-06-15` with `*` for wildcards, `L`/`L-1` for last / second-to-last day and
    /// `DST+`/`DST-` for the DST months.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.year == YEAR_NOT_SPECIFIED {
            f.write_str("****")?;
        } else {
            write!(f, "{:04}", self.year)?;
        }
        f.write_str("-")?;
        match self.month {
            MONTH_DST_BEGIN => f.write_str("DST+")?,
            MONTH_DST_END => f.write_str("DST-")?,
            m => wild2(f, m)?,
        }
        f.write_str("-")?;
        match self.day {
            DAY_LAST => f.write_str("L")?,
            DAY_SECOND_LAST => f.write_str("L-1")?,
            d => wild2(f, d)?,
        }
        if self.weekday != NOT_SPECIFIED {
            write!(f, " wd{}", self.weekday)?;
        }
        Ok(())
    }
}

impl fmt::Display for CosemTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        wild2(f, self.hour)?;
        f.write_str(":")?;
        wild2(f, self.minute)?;
        f.write_str(":")?;
        wild2(f, self.second)?;
        f.write_str(".")?;
        wild2(f, self.hundredths)
    }
}

impl fmt::Display for CosemDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.date, self.time)?;
        match self.deviation() {
            Some(d) => write!(f, " dev {d:+}")?,
            None => f.write_str(" dev *")?,
        }
        if self.status.is_specified() {
            write!(f, " status {:02X}", self.status.0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(bytes: [u8; 12]) -> CosemDateTime {
        CosemDateTime::from_bytes(bytes)
    }

    #[test]
    fn kaifa_frame_from_the_guide() {
        // 2024-06-15 (Saturday) 20:23:45.00, deviation −120, DST active → 18:23:45 UTC.
        let v = dt([
            0x07, 0xE8, 0x06, 0x0F, 0x06, 0x14, 0x17, 0x2D, 0x00, 0xFF, 0x88, 0x80,
        ]);
        assert_eq!(v.deviation(), Some(-120));
        assert!(v.status.daylight_saving_active());
        assert_eq!(v.date.weekday(), Some(6));
        assert_eq!(
            v.to_utc().unwrap().to_rfc3339(),
            "2024-06-15T18:23:45+00:00"
        );
        assert_eq!(
            v.to_fixed_offset().unwrap().to_rfc3339(),
            "2024-06-15T20:23:45+02:00"
        );
        let back =
            CosemDateTime::from_fixed_offset(v.to_fixed_offset().unwrap(), v.status).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.to_bytes(), v.to_bytes());
    }

    #[test]
    fn worked_examples_of_section_4_3() {
        let v = dt([
            0x07, 0xE4, 0x01, 0x01, 0xFF, 0x00, 0x03, 0x00, 0x00, 0xFF, 0x88, 0xFF,
        ]);
        assert_eq!(v.date.weekday(), None);
        assert!(!v.status.is_specified());
        assert_eq!(
            v.to_utc().unwrap().to_rfc3339(),
            "2019-12-31T22:03:00+00:00"
        );

        let v = dt([
            0x07, 0xE2, 0x02, 0x0C, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0xFF,
        ]);
        assert_eq!(v.deviation(), None);
        assert_eq!(
            v.to_naive_local().unwrap().to_string(),
            "2018-02-12 00:00:00"
        );
        assert_eq!(
            v.to_utc().unwrap_err(),
            ValueError::NotSpecified { what: "deviation" }
        );

        let v = dt([
            0x07, 0xE5, 0x01, 0x18, 0xFF, 0x0E, 0x30, 0x39, 0x50, 0xFF, 0xC4, 0x00,
        ]);
        assert_eq!(
            v.to_utc().unwrap().to_rfc3339(),
            "2021-01-24T13:48:57.800+00:00"
        );
        assert_eq!(v.status, ClockStatus::OK);

        // Last Sunday of March, 02:00, every year: a pattern, not an instant.
        let v = dt([
            0xFF, 0xFF, 0x03, 0xFE, 0x07, 0x02, 0x00, 0x00, 0xFF, 0x80, 0x00, 0xFF,
        ]);
        assert_eq!(v.date.year(), None);
        assert_eq!(v.date.day, DAY_LAST);
        assert_eq!(v.date.weekday(), Some(7));
        assert_eq!(v.to_string(), "****-03-L wd7 02:00:00.** dev *");
        assert_eq!(
            v.to_naive_local().unwrap_err(),
            ValueError::NotSpecified { what: "year" }
        );

        let special = CosemDate::from_bytes([0xFF, 0xFF, 0x0C, 0x19, 0xFF]);
        assert_eq!(special.to_string(), "****-12-25");
        let switch = CosemTime::from_bytes([0x07, 0x00, 0x00, 0x00]);
        assert_eq!(
            switch.to_naive_time().unwrap(),
            NaiveTime::from_hms_opt(7, 0, 0).unwrap()
        );
    }

    #[test]
    fn cet_and_cest_signs() {
        let utc = Utc.with_ymd_and_hms(2024, 1, 10, 12, 0, 0).unwrap();
        let cet = CosemDateTime::from_utc(utc, -60, ClockStatus::OK).unwrap();
        assert_eq!(cet.time.hour, 13);
        assert_eq!(&cet.to_bytes()[9..11], &[0xFF, 0xC4]);
        assert_eq!(cet.date.weekday, 3);
        assert_eq!(cet.to_utc().unwrap(), utc);
        let cest = CosemDateTime::from_utc(utc, -120, ClockStatus(0x80)).unwrap();
        assert_eq!(&cest.to_bytes()[9..11], &[0xFF, 0x88]);
        assert_eq!(cest.time.hour, 14);
    }

    #[test]
    fn invalid_fields_are_errors_not_panics() {
        let v = dt([
            0x07, 0xE4, 0x02, 0x1E, 0xFF, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]);
        assert!(v.to_naive_local().is_err());
        let v = dt([
            0x07, 0xE4, 0x02, 0x01, 0xFF, 0x17, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0x00,
        ]);
        assert!(matches!(
            v.to_utc(),
            Err(ValueError::OutOfRange {
                what: "deviation",
                ..
            })
        ));
        assert!(CosemDateTime::from_utc(Utc::now(), 721, ClockStatus::OK).is_err());
    }
}
