//! Clock (class 8, version 0; guide §6.3 and §4.3).

use super::MethodCall;
use crate::axdr::{ClockStatus, CosemDateTime, Data};
use crate::error::ValueError;

cosem_enum! {
    /// clock_base: where the clock's time comes from.
    pub enum ClockBase ("clock_base") {
        Undefined = 0,
        InternalCrystal = 1,
        Mains50Hz = 2,
        Mains60Hz = 3,
        Gps = 4,
        Radio = 5,
    }
}

cosem_class! {
    /// Clock (class 8, version 0). Time zone, deviations and the date-times' deviation follow
    /// the sign convention of guide §4.3 (deviation = UTC − local, minutes). Methods 1–6.
    pub struct Clock {
        class: 8,
        version: 0,
        name: "Clock",
        not_read: [],
    }
    attributes {
        2 => TIME, time: CosemDateTime, "time";
        /// Minutes, same sign as the deviation (CET is −60).
        3 => TIME_ZONE, time_zone: i16, "time_zone";
        4 => STATUS, status: ClockStatus, "status";
        /// With wildcards: e.g. the last Sunday of March, 02:00.
        5 => DAYLIGHT_SAVINGS_BEGIN, daylight_savings_begin: CosemDateTime, "daylight_savings_begin";
        6 => DAYLIGHT_SAVINGS_END, daylight_savings_end: CosemDateTime, "daylight_savings_end";
        /// Minutes (typically 60).
        7 => DAYLIGHT_SAVINGS_DEVIATION, daylight_savings_deviation: i8, "daylight_savings_deviation";
        8 => DAYLIGHT_SAVINGS_ENABLED, daylight_savings_enabled: bool, "daylight_savings_enabled";
        9 => CLOCK_BASE, clock_base: ClockBase, "clock_base";
    }
}

impl Clock {
    /// Method 1: adjust_to_quarter(integer 0).
    pub const METHOD_ADJUST_TO_QUARTER: i8 = 1;
    /// Method 2: adjust_to_measuring_period(integer 0).
    pub const METHOD_ADJUST_TO_MEASURING_PERIOD: i8 = 2;
    /// Method 3: adjust_to_minute(integer 0).
    pub const METHOD_ADJUST_TO_MINUTE: i8 = 3;
    /// Method 4: adjust_to_preset_time(integer 0).
    pub const METHOD_ADJUST_TO_PRESET_TIME: i8 = 4;
    /// Method 5: preset_adjusting_time(structure {preset_time, validity_interval_start,
    /// validity_interval_end}).
    pub const METHOD_PRESET_ADJUSTING_TIME: i8 = 5;
    /// Method 6: shift_time(long, −900…+900 seconds).
    pub const METHOD_SHIFT_TIME: i8 = 6;

    /// The largest shift shift_time takes, in seconds either way.
    pub const MAX_SHIFT_S: i16 = 900;

    pub fn adjust_to_quarter() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_ADJUST_TO_QUARTER)
    }

    pub fn adjust_to_measuring_period() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_ADJUST_TO_MEASURING_PERIOD)
    }

    pub fn adjust_to_minute() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_ADJUST_TO_MINUTE)
    }

    pub fn adjust_to_preset_time() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_ADJUST_TO_PRESET_TIME)
    }

    /// The time adjust_to_preset_time will set, valid between `validity_start` and
    /// `validity_end`.
    pub fn preset_adjusting_time(
        preset_time: CosemDateTime,
        validity_start: CosemDateTime,
        validity_end: CosemDateTime,
    ) -> MethodCall {
        MethodCall::new::<Self>(
            Self::METHOD_PRESET_ADJUSTING_TIME,
            Data::Structure(vec![
                Data::date_time_octets(preset_time),
                Data::date_time_octets(validity_start),
                Data::date_time_octets(validity_end),
            ]),
        )
    }

    /// Moves the clock by `seconds` (−900…+900; positive is forward).
    pub fn shift_time(seconds: i16) -> Result<MethodCall, ValueError> {
        if seconds.unsigned_abs() > Self::MAX_SHIFT_S.unsigned_abs() {
            return Err(ValueError::OutOfRange {
                what: "shift_time seconds (−900…+900)",
                value: i64::from(seconds).into(),
            });
        }
        Ok(MethodCall::new::<Self>(
            Self::METHOD_SHIFT_TIME,
            Data::Long(seconds),
        ))
    }
}
