//! The load model: what a simulated meter measures in each interval, as a pure function of the
//! meter's seed and the interval's start, so that no history needs to be kept in memory and a
//! meter read twice gives the same numbers.
//!
//! Demands are whole watts (or multiples of 3 W where the period needs it) so that each
//! interval's energy in mWh is an exact integer: the registers are the sum of the intervals,
//! to the last mWh.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike, Weekday};

/// SplitMix64: a tiny, fast, well-mixed hash/PRNG; enough for a deterministic simulation.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) from a hash of the inputs.
pub fn unit(seed: u64, a: u64, b: u64) -> f64 {
    (mix(seed ^ mix(a ^ mix(b))) >> 11) as f64 / (1u64 << 53) as f64
}

/// The channels the model produces, in A1140 source order: import, export, Q1, Q2, Q3, Q4,
/// apparent import, apparent export.
pub const CHANNELS: usize = 8;

/// One meter's consumption pattern.
#[derive(Debug, Clone)]
pub struct LoadModel {
    seed: u64,
    /// Base load, W.
    base_w: f64,
    /// Peak addition, W.
    peak_w: f64,
    /// Rooftop PV peak, W (0 = none).
    pv_w: f64,
    /// Commercial pattern (weekday daytime) instead of residential (morning/evening peaks).
    commercial: bool,
    /// Demand step in mW: whole watts, or 3 W where the period needs it for exact energies.
    step_mw: u64,
    period_min: u32,
}

impl LoadModel {
    pub fn new(seed: u64, period_min: u32) -> Self {
        let r = |k| unit(seed, 0xA11CE, k);
        let commercial = r(1) < 0.3;
        let scale = if commercial { 8.0 } else { 1.0 };
        LoadModel {
            seed,
            base_w: (150.0 + 450.0 * r(2)) * scale,
            peak_w: (1500.0 + 3500.0 * r(3)) * scale,
            pv_w: if r(4) < 0.35 {
                2000.0 + 4000.0 * r(5)
            } else {
                0.0
            },
            commercial,
            step_mw: if 1000 * u64::from(period_min) % 60 == 0 {
                1000
            } else {
                3000
            },
            period_min,
        }
    }

    pub fn period_min(&self) -> u32 {
        self.period_min
    }

    fn shape(&self, t: NaiveDateTime) -> f64 {
        let h = f64::from(t.hour()) + f64::from(t.minute()) / 60.0;
        let weekend = matches!(t.weekday(), Weekday::Sat | Weekday::Sun);
        let bump = |c: f64, w: f64| (-((h - c) / w).powi(2)).exp();
        if self.commercial {
            if weekend {
                0.05 * bump(12.0, 4.0)
            } else {
                0.9 * (bump(10.0, 2.5) + bump(15.0, 2.5)).min(1.0)
            }
        } else {
            let morning = bump(7.5, 1.2) * if weekend { 0.5 } else { 0.7 };
            let midday = if weekend {
                0.4 * bump(13.0, 2.0)
            } else {
                0.1 * bump(13.0, 2.0)
            };
            let evening = bump(19.0, 1.8);
            morning + midday + evening
        }
    }

    fn seasonal(&self, d: NaiveDate) -> f64 {
        // More in winter (northern hemisphere), day 15 = mid January.
        let x = (f64::from(d.ordinal()) - 15.0) / 365.0 * std::f64::consts::TAU;
        1.0 + 0.25 * x.cos()
    }

    fn pv(&self, t: NaiveDateTime) -> f64 {
        if self.pv_w == 0.0 {
            return 0.0;
        }
        let h = f64::from(t.hour()) + f64::from(t.minute()) / 60.0 + self.period_min as f64 / 120.0;
        let x = (f64::from(t.ordinal()) - 172.0) / 365.0 * std::f64::consts::TAU;
        let daylen = 12.0 + 4.0 * x.cos();
        let (rise, set) = (12.5 - daylen / 2.0, 12.5 + daylen / 2.0);
        if h <= rise || h >= set {
            return 0.0;
        }
        let s = ((h - rise) / daylen * std::f64::consts::PI).sin();
        let day = t.date().num_days_from_ce() as u64;
        let clouds = 0.35 + 0.65 * unit(self.seed, 0xC10D, day);
        self.pv_w * s * clouds
    }

    fn quantize(&self, w: f64) -> u64 {
        let mw = (w.max(0.0) * 1000.0) as u64;
        // Stay within five significant digits at watt resolution.
        (mw.min(99_999_000) / self.step_mw) * self.step_mw
    }

    /// Average demands (mW, mvar, mVA) over the interval starting at `t`, per channel.
    pub fn demand(&self, t: NaiveDateTime) -> [u64; CHANNELS] {
        let idx = t.and_utc().timestamp() as u64 / 60;
        let noise = 0.8 + 0.4 * unit(self.seed, 0x401, idx);
        let spike = if unit(self.seed, 0x402, idx) < 0.03 {
            2500.0
        } else {
            0.0
        };
        let consumption =
            (self.base_w + self.peak_w * self.shape(t)) * self.seasonal(t.date()) * noise + spike;
        let pv = self.pv(t);
        let (import, export) = if pv > consumption {
            (0.0, pv - consumption)
        } else {
            (consumption - pv, 0.0)
        };
        let q1 = import * (0.2 + 0.15 * unit(self.seed, 0x403, idx));
        let q4 = export * 0.05;
        let p_imp = self.quantize(import);
        let p_exp = self.quantize(export);
        let q_1 = self.quantize(q1);
        let q_4 = self.quantize(q4);
        let s_imp = self.quantize(((p_imp as f64).powi(2) + (q_1 as f64).powi(2)).sqrt() / 1000.0);
        let s_exp = self.quantize(((p_exp as f64).powi(2) + (q_4 as f64).powi(2)).sqrt() / 1000.0);
        [p_imp, p_exp, q_1, 0, 0, q_4, s_imp, s_exp]
    }

    /// Energy (mWh) of a demand held for `minutes`.
    pub fn energy(&self, demand_mw: u64, minutes: u32) -> u64 {
        demand_mw * u64::from(minutes) / 60
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_exact() {
        let m = LoadModel::new(42, 15);
        let t = NaiveDate::from_ymd_opt(2024, 3, 5)
            .unwrap()
            .and_hms_opt(19, 0, 0)
            .unwrap();
        assert_eq!(m.demand(t), LoadModel::new(42, 15).demand(t));
        for d in m.demand(t) {
            assert_eq!(d % 1000, 0);
            assert_eq!(
                d * 15 % 60,
                0,
                "energy of {d} mW over 15 min is not whole mWh"
            );
        }
        let m10 = LoadModel::new(42, 10);
        for d in m10.demand(t) {
            assert_eq!(d * 10 % 60, 0);
        }
    }

    #[test]
    fn evening_peak_above_night() {
        let m = LoadModel::new(7, 30);
        let day = NaiveDate::from_ymd_opt(2024, 1, 10).unwrap();
        let mut night = 0;
        let mut evening = 0;
        for k in 0..30 {
            let d = day + chrono::Duration::days(k);
            night += m.demand(d.and_hms_opt(3, 0, 0).unwrap())[0];
            evening += m.demand(d.and_hms_opt(19, 0, 0).unwrap())[0];
        }
        assert!(evening > night, "evening {evening} night {night}");
    }
}
