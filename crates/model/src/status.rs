//! Per-interval status flags of a load profile.
//!
//! One set of flags for every protocol and file format: FLAG status bytes, DLMS profile status
//! words and NEM12 quality flags all map onto these names. JSON shows them as a list of words.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of interval status flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IntervalStatus(u32);

macro_rules! flags {
    ($($(#[$doc:meta])* $name:ident = $bit:expr, $word:literal;)*) => {
        impl IntervalStatus {
            $($(#[$doc])* pub const $name: IntervalStatus = IntervalStatus(1 << $bit);)*
            const NAMES: &'static [(IntervalStatus, &'static str)] = &[$((IntervalStatus::$name, $word)),*];
        }
    };
}

flags! {
    /// The meter lost power during the interval.
    POWER_DOWN = 0, "power_down";
    /// Power came back during the interval.
    POWER_UP = 1, "power_up";
    /// The clock was set or synchronised during the interval.
    CLOCK_ADJUSTED = 2, "clock_adjusted";
    /// The interval lies in daylight-saving time.
    DST = 3, "dst";
    /// The values are not valid.
    INVALID = 4, "invalid";
    /// The values were estimated (by the meter or by validation).
    ESTIMATED = 5, "estimated";
    /// The values were edited by hand.
    EDITED = 6, "edited";
    /// No value was recorded.
    MISSING = 7, "missing";
    /// The interval is shorter than the period (clock set forward, power down).
    SHORT = 8, "short";
    /// The interval is longer than the period (clock set back).
    LONG = 9, "long";
    /// The meter restarted during the interval.
    TRANSIENT_RESET = 10, "transient_reset";
    /// The configuration changed during the interval.
    CONFIG_CHANGE = 11, "config_change";
    /// The meter's battery failed.
    BATTERY_FAIL = 12, "battery_fail";
    /// The CT ratio changed during the interval.
    CT_CHANGE = 13, "ct_change";
    /// Energy ran in reverse during the interval.
    REVERSE_RUN = 14, "reverse_run";
    /// A phase failed during the interval.
    PHASE_FAIL = 15, "phase_fail";
    /// A cover was opened during the interval.
    COVER_OPENED = 16, "cover_opened";
    /// The demand period was ended early (forced end of period).
    FORCED_END = 17, "forced_end";
    /// The load profile was cleared.
    PROFILE_CLEARED = 18, "profile_cleared";
}

impl IntervalStatus {
    pub const EMPTY: IntervalStatus = IntervalStatus(0);

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Flags from raw bits; bits without a name are dropped.
    pub fn from_bits_truncate(bits: u32) -> Self {
        let known = Self::NAMES.iter().fold(0, |acc, (f, _)| acc | f.0);
        IntervalStatus(bits & known)
    }

    pub const fn contains(self, other: IntervalStatus) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn insert(&mut self, other: IntervalStatus) {
        self.0 |= other.0;
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
    }

    pub fn from_name(name: &str) -> Option<IntervalStatus> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(f, _)| *f)
    }
}

impl std::ops::BitOr for IntervalStatus {
    type Output = IntervalStatus;
    fn bitor(self, rhs: IntervalStatus) -> IntervalStatus {
        IntervalStatus(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for IntervalStatus {
    fn bitor_assign(&mut self, rhs: IntervalStatus) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for IntervalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for n in self.names() {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(n)?;
            first = false;
        }
        Ok(())
    }
}

impl Serialize for IntervalStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

impl<'de> Deserialize<'de> for IntervalStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut st = IntervalStatus::EMPTY;
        for n in names {
            st |= IntervalStatus::from_name(&n).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown interval status flag {n:?}"))
            })?;
        }
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let st = IntervalStatus::POWER_DOWN | IntervalStatus::ESTIMATED;
        let j = serde_json::to_string(&st).unwrap();
        assert_eq!(j, r#"["power_down","estimated"]"#);
        assert_eq!(serde_json::from_str::<IntervalStatus>(&j).unwrap(), st);
        assert!(serde_json::from_str::<IntervalStatus>(r#"["bogus"]"#).is_err());
        assert_eq!(st.to_string(), "power_down,estimated");
    }
}
