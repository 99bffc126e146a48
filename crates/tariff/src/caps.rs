//! What each kind of meter can hold: the limits a scheme is validated against.
//!
//! Only some of these numbers come from public sources (the A1140's 8 TOU registers and 4
//! load-profile channels, the A1700's 16 registers and 8 channels, and the A1140's 10 switch
//! times per day profile); the rest are our own plausible choices, listed in `docs/schemes.md`.

use crate::values::{MeterType, Source};

/// The limits of a kind of meter. Build one with [`MeterCapabilities::for_type`], or by hand
/// for a meter whose limits are known better.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterCapabilities {
    /// The meter's name in messages: `A1140`.
    pub name: String,
    /// TOU rate registers, numbered 1 to this.
    pub max_rates: u8,
    /// Switch times in one day profile.
    pub max_switches_per_day: usize,
    /// Day profiles.
    pub max_day_profiles: usize,
    /// Seasons.
    pub max_seasons: usize,
    /// Different week profiles among the seasons.
    pub max_week_profiles: usize,
    /// Special-day table entries (a yearly day takes one, a list of dates one per date).
    pub max_special_days: usize,
    /// The sources rates, demand and load-profile channels may record.
    pub sources: Vec<Source>,
    /// Load-profile channels.
    pub max_profile_channels: usize,
    /// The load-profile interval lengths, in minutes.
    pub profile_intervals: Vec<u32>,
    /// The maximum-demand integration periods, in minutes.
    pub demand_periods: Vec<u32>,
    /// Whether sliding demand is available.
    pub sliding_demand: bool,
}

/// The divisors of 60: the interval and period lengths of a generic DLMS meter.
const DIVISORS_OF_60: [u32; 12] = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];

impl MeterCapabilities {
    /// The capabilities of a meter type.
    pub fn for_type(meter_type: MeterType) -> MeterCapabilities {
        match meter_type {
            MeterType::A1140 => MeterCapabilities::a1140(),
            MeterType::A1700 => MeterCapabilities::a1700(),
            MeterType::Dlms => MeterCapabilities::dlms(),
        }
    }

    /// The Elster A1140: 8 TOU registers, 10 switches per day profile, 8 day profiles, 4
    /// seasons, 32 special days, 4 load-profile channels; no apparent energy (kVAh).
    pub fn a1140() -> MeterCapabilities {
        MeterCapabilities {
            name: "A1140".to_string(),
            max_rates: 8,
            max_switches_per_day: 10,
            max_day_profiles: 8,
            max_seasons: 4,
            max_week_profiles: 4,
            max_special_days: 32,
            sources: Source::ALL
                .into_iter()
                .filter(|s| *s != Source::Kvah)
                .collect(),
            max_profile_channels: 4,
            profile_intervals: vec![1, 2, 3, 5, 10, 15, 30, 60],
            demand_periods: vec![5, 10, 15, 20, 30, 60],
            sliding_demand: true,
        }
    }

    /// The Elster A1700: 16 TOU registers (some firmware has 32; we assume 16), 12 switches per
    /// day profile, 16 day profiles, 8 seasons, 64 special days, 8 load-profile channels, every
    /// source.
    pub fn a1700() -> MeterCapabilities {
        MeterCapabilities {
            name: "A1700".to_string(),
            max_rates: 16,
            max_switches_per_day: 12,
            max_day_profiles: 16,
            max_seasons: 8,
            max_week_profiles: 8,
            max_special_days: 64,
            sources: Source::ALL.to_vec(),
            max_profile_channels: 8,
            profile_intervals: vec![1, 2, 3, 5, 10, 15, 30, 60],
            demand_periods: vec![5, 10, 15, 20, 30, 60],
            sliding_demand: true,
        }
    }

    /// A generic DLMS/COSEM meter (activity calendar, special days table, profile generic):
    /// 16 TOU registers, 24 switches (day-profile actions) per day profile, 32 day profiles,
    /// 12 seasons and week profiles, 128 special days, 16 channels, every source, any
    /// interval or demand period that divides an hour.
    pub fn dlms() -> MeterCapabilities {
        MeterCapabilities {
            name: "DLMS meter".to_string(),
            max_rates: 16,
            max_switches_per_day: 24,
            max_day_profiles: 32,
            max_seasons: 12,
            max_week_profiles: 12,
            max_special_days: 128,
            sources: Source::ALL.to_vec(),
            max_profile_channels: 16,
            profile_intervals: DIVISORS_OF_60.to_vec(),
            demand_periods: DIVISORS_OF_60.to_vec(),
            sliding_demand: true,
        }
    }

    /// Whether the meter can record `source`.
    pub fn allows(&self, source: Source) -> bool {
        self.sources.contains(&source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_profiles() {
        let a1140 = MeterCapabilities::for_type(MeterType::A1140);
        assert_eq!((a1140.max_rates, a1140.max_switches_per_day), (8, 10));
        assert_eq!(a1140.max_profile_channels, 4);
        assert!(!a1140.allows(Source::Kvah));
        assert!(a1140.allows(Source::Q3Kvarh));
        let a1700 = MeterCapabilities::for_type(MeterType::A1700);
        assert_eq!((a1700.max_rates, a1700.max_profile_channels), (16, 8));
        assert!(a1700.allows(Source::Kvah));
        let dlms = MeterCapabilities::for_type(MeterType::Dlms);
        assert_eq!(dlms.max_switches_per_day, 24);
        assert!(dlms.profile_intervals.iter().all(|m| 60 % m == 0));
    }
}
