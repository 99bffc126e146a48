//! Energy per interval from a load-profile channel, whatever the channel holds.
//!
//! A channel holds either energy per interval (Wh, varh, VAh: DLMS `1-0:1.29.0*255`, NEM12
//! kWh) or the average demand over the interval (W, var, VA: most FLAG and DLMS profiles, e.g.
//! `1-0:1.5.0*255`). Both are first-class. Whatever needs energy (applying a scheme, a bill,
//! file totals, NEM12 export) takes a channel through [`energy_per_interval`]: energy passes
//! through, demand is multiplied by the interval length (W × 900 s / 3600 s/h = Wh), and any
//! other unit (V, A, Hz, counts ...) is refused with the channel and unit named. Power is never
//! summed as energy.
//!
//! The conversion is exact. Values stay integers with a power of ten: `value × 10^scale W` over
//! `s` seconds is `value × s / 3600 × 10^scale Wh`, and the factors 2 and 5 of the 3600 are
//! folded into a finer scale (900 s: × 25 at two more decimals). What is left of the 3600 is a
//! divisor of 1 for intervals of 3, 6, 15, 30 or 60 minutes, and 3 or 9 for others (1, 5, 10
//! minutes ...), whose energy is not always a finite decimal: such a series keeps the divisor
//! beside its integer numerators ([`EnergySeries::divisor`]), sums stay exact, and only the text
//! of a result is rounded ([`decimal_text`]).

use metermaster_model::{ObisCode, Unit};

/// What a channel's values are, as far as energy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Energy per interval (Wh, varh, VAh): taken as it is.
    Energy,
    /// The average demand over the interval (W, var, VA): multiplied by its length.
    Demand,
}

/// Why a channel has no energy per interval.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnergyError {
    #[error(
        "channel {channel} holds {} values, which are neither energy (Wh, varh, VAh) nor average demand (W, var, VA): it has no energy per interval",
        unit_name(*unit)
    )]
    NotEnergy { channel: ObisCode, unit: Unit },
    #[error(
        "channel {channel} holds average demand ({}) over intervals of 0 s: their energy is unknown",
        unit_name(*unit)
    )]
    NoLength { channel: ObisCode, unit: Unit },
    #[error(
        "channel {channel}: the energy of {value} × 10^{scale} {} over {interval_s} s does not fit in 64 bits",
        unit_name(*unit)
    )]
    Overflow {
        channel: ObisCode,
        unit: Unit,
        value: i64,
        scale: i8,
        interval_s: u32,
    },
}

fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::None => "dimensionless",
        u => u.symbol(),
    }
}

/// How one channel's values become energy per interval: `value × factor / divisor`, at the
/// value's scale plus `shift`, in `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    pub channel: ObisCode,
    /// The unit the channel holds.
    pub from: Unit,
    /// The energy unit (Wh, varh, VAh).
    pub unit: Unit,
    pub holds: Holds,
    pub interval_s: u32,
    pub factor: i64,
    /// Decimal places added (≤ 0).
    pub shift: i8,
    /// 1, 3 or 9: what of 3600 s/h is not a power of ten's factor.
    pub divisor: i64,
}

impl Conversion {
    /// The conversion of a channel holding `unit` over intervals of `interval_s` seconds.
    pub fn new(channel: ObisCode, unit: Unit, interval_s: u32) -> Result<Conversion, EnergyError> {
        let holds = match unit {
            Unit::WattHour | Unit::VarHour | Unit::VoltAmpereHour => Holds::Energy,
            Unit::Watt | Unit::Var | Unit::VoltAmpere => Holds::Demand,
            _ => return Err(EnergyError::NotEnergy { channel, unit }),
        };
        let mut c = Conversion {
            channel,
            from: unit,
            unit: unit.energy(),
            holds,
            interval_s,
            factor: 1,
            shift: 0,
            divisor: 1,
        };
        if holds == Holds::Energy {
            return Ok(c);
        }
        if interval_s == 0 {
            return Err(EnergyError::NoLength { channel, unit });
        }
        // interval_s / 3600 in lowest terms, then the 2s and 5s of the denominator turned into
        // decimal places: num / (2^i 5^k r) = num 2^(m-i) 5^(m-k) / r / 10^m, m = max(i, k).
        let g = gcd(u64::from(interval_s), 3600);
        let num = u64::from(interval_s) / g;
        let mut den = 3600 / g;
        let (mut twos, mut fives) = (0u32, 0u32);
        while den % 2 == 0 {
            den /= 2;
            twos += 1;
        }
        while den % 5 == 0 {
            den /= 5;
            fives += 1;
        }
        let m = twos.max(fives);
        let factor = num * 2u64.pow(m - twos) * 5u64.pow(m - fives);
        c.factor = i64::try_from(factor).unwrap_or(i64::MAX);
        c.shift = -(m as i8);
        c.divisor = den as i64;
        Ok(c)
    }

    /// The energy numerator of one value (to be divided by [`Conversion::divisor`], at the
    /// value's scale plus [`Conversion::shift`]); `None` when it does not fit.
    pub fn apply(&self, value: i64) -> Option<i64> {
        value.checked_mul(self.factor)
    }

    /// Whether the channel held demand and was converted.
    pub fn converted(&self) -> bool {
        self.holds == Holds::Demand
    }

    /// What the user is told of a conversion: `channel 1-0:1.5.0*255 (W, average demand)
    /// converted to energy: Wh = W × 900 s / 3600 s`; `None` for an energy channel.
    pub fn note(&self) -> Option<String> {
        self.converted().then(|| {
            format!(
                "channel {} ({}, average demand) converted to energy: {} = {} × {} s / 3600 s",
                self.channel,
                self.from.symbol(),
                self.unit.symbol(),
                self.from.symbol(),
                self.interval_s
            )
        })
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// One channel as energy per interval, exactly: interval `k` holds
/// `values[k] / divisor × 10^scale` in [`EnergySeries::unit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnergySeries {
    pub conversion: Conversion,
    /// The scale of the numerators.
    pub scale: i8,
    /// The channel's own scale (the decimals results are shown with at least).
    pub source_scale: i8,
    /// Energy numerators per interval.
    pub values: Vec<i64>,
}

/// A stored series (`values[k] × 10^scale unit`, intervals of `interval_s` seconds) as energy
/// per interval: W → Wh, var → varh, VA → VAh (kW → kWh likewise: a prefix is a scale) exactly;
/// energy units as they are; any other unit refused, naming the channel and the unit.
pub fn energy_per_interval(
    channel: ObisCode,
    unit: Unit,
    scale: i8,
    interval_s: u32,
    values: &[i64],
) -> Result<EnergySeries, EnergyError> {
    let c = Conversion::new(channel, unit, interval_s)?;
    let values = if c.factor == 1 {
        values.to_vec()
    } else {
        values
            .iter()
            .map(|&v| {
                c.apply(v).ok_or(EnergyError::Overflow {
                    channel,
                    unit,
                    value: v,
                    scale,
                    interval_s,
                })
            })
            .collect::<Result<_, _>>()?
    };
    Ok(EnergySeries {
        conversion: c,
        scale: scale.saturating_add(c.shift),
        source_scale: scale,
        values,
    })
}

impl EnergySeries {
    /// The energy unit: Wh, varh or VAh.
    pub fn unit(&self) -> Unit {
        self.conversion.unit
    }

    /// What every numerator is divided by: 1, 3 or 9.
    pub fn divisor(&self) -> i64 {
        self.conversion.divisor
    }

    /// See [`Conversion::note`].
    pub fn note(&self) -> Option<String> {
        self.conversion.note()
    }

    /// A sum of numerators (such as a total per rate) as decimal text in [`EnergySeries::unit`],
    /// with at least the channel's decimals; see [`decimal_text`].
    pub fn decimal(&self, sum: i128) -> String {
        decimal_text(sum, self.scale, self.divisor(), self.source_scale.min(0))
    }

    /// A sum of numerators as the nearest `f64` in thousands of the unit (kWh, kvarh, kVAh).
    pub fn kilo_f64(&self, sum: i128) -> f64 {
        to_f64(sum, i32::from(self.scale) - 3, self.divisor())
    }

    /// Each interval as the nearest `f64` in kWh (kvarh, kVAh): the same value whatever scale
    /// or unit the energy arrived in.
    pub fn kilo_values(&self) -> Vec<f64> {
        self.values
            .iter()
            .map(|&v| self.kilo_f64(i128::from(v)))
            .collect()
    }

    /// The energy of each interval as integers at `scale`, without a divisor. Exact when the
    /// divisor is 1 and `scale` is not coarser than [`EnergySeries::scale`]; otherwise each
    /// value is rounded with the remainder carried to the next, so that the sum of any first
    /// intervals is within half a unit of its exact value (no drift). `None` when a value does
    /// not fit.
    pub fn rounded(&self, scale: i8) -> Option<Vec<i64>> {
        let diff = i32::from(self.scale) - i32::from(scale);
        let mul = 10i128.checked_pow(diff.max(0).unsigned_abs())?;
        let den = 10i128
            .checked_pow((-diff).max(0).unsigned_abs())?
            .checked_mul(i128::from(self.divisor()))?;
        let mut exact: i128 = 0;
        let mut written: i128 = 0;
        self.values
            .iter()
            .map(|&v| {
                exact = exact.checked_add(i128::from(v).checked_mul(mul)?)?;
                let target = div_round(exact, den);
                let out = i64::try_from(target - written).ok()?;
                written = target;
                Some(out)
            })
            .collect()
    }
}

/// `n / d` rounded half away from zero (`d` > 0).
fn div_round(n: i128, d: i128) -> i128 {
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d { q + n.signum() } else { q }
}

/// The nearest `f64` to `n × 10^exp / d` when the powers are small (one correctly rounded
/// division of two exact numbers), close to it otherwise.
fn to_f64(n: i128, exp: i32, d: i64) -> f64 {
    const EXACT: i128 = 1 << 53;
    if (-22..=0).contains(&exp) {
        let den = 10i128.pow(exp.unsigned_abs()) * i128::from(d);
        if n.abs() <= EXACT && den <= EXACT {
            return n as f64 / den as f64;
        }
    }
    n as f64 * 10f64.powi(exp) / d as f64
}

/// `n / d × 10^scale` as decimal text: exact when it is a finite decimal (trailing zeros
/// dropped down to `min_scale`), else rounded half away from zero to three more decimals than
/// `scale`.
pub fn decimal_text(n: i128, scale: i8, d: i64, min_scale: i8) -> String {
    let d = i128::from(d.max(1));
    let (mut raw, mut sc) = if n % d == 0 {
        (n / d, scale)
    } else {
        match n.checked_mul(1000) {
            Some(m) => (div_round(m, d), scale.saturating_sub(3)),
            None => (div_round(n, d), scale),
        }
    };
    while sc < min_scale && raw % 10 == 0 {
        raw /= 10;
        sc += 1;
    }
    digits(raw, sc)
}

fn digits(raw: i128, scale: i8) -> String {
    let neg = raw < 0;
    let abs = raw.unsigned_abs().to_string();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if scale >= 0 {
        out.push_str(&abs);
        if raw != 0 {
            out.push_str(&"0".repeat(scale as usize));
        }
        return out;
    }
    let frac = usize::from(scale.unsigned_abs());
    let padded = if abs.len() <= frac {
        format!("{}{abs}", "0".repeat(frac + 1 - abs.len()))
    } else {
        abs
    };
    let (i, f) = padded.split_at(padded.len() - frac);
    out.push_str(i);
    out.push('.');
    out.push_str(f);
    out
}

/// A running exact total of energy from values of any scale and conversion (a file's intervals
/// one at a time): numerators over a common divisor of 9.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnergyTotal {
    /// Ninths of `10^scale` units.
    pub ninths: i128,
    pub scale: i8,
}

impl EnergyTotal {
    /// Adds one value (`value × 10^scale` in the conversion's channel unit); `None` on overflow.
    pub fn add(&mut self, c: &Conversion, value: i64, scale: i8) -> Option<()> {
        let n = i128::from(c.apply(value)?).checked_mul(i128::from(9 / c.divisor))?;
        let vs = scale.checked_add(c.shift)?;
        let (mut t, mut ts) = (self.ninths, self.scale);
        let (mut v, mut s) = (n, vs);
        while s > ts {
            v = v.checked_mul(10)?;
            s -= 1;
        }
        while ts > s {
            t = t.checked_mul(10)?;
            ts -= 1;
        }
        self.ninths = t.checked_add(v)?;
        self.scale = ts;
        Some(())
    }

    /// The total as decimal text (see [`decimal_text`]), with at least `min_scale` decimals.
    pub fn decimal(&self, min_scale: i8) -> String {
        decimal_text(self.ninths, self.scale, 9, min_scale.min(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ch() -> ObisCode {
        ObisCode::new(1, 0, 1, 5, 0, 255)
    }

    /// The exact value of a series' interval `k` as a fraction (numerator, denominator) of Wh.
    fn exact(s: &EnergySeries, k: usize) -> (i128, i128) {
        let mut num = i128::from(s.values[k]);
        let mut den = i128::from(s.divisor());
        if s.scale >= 0 {
            num *= 10i128.pow(s.scale as u32);
        } else {
            den *= 10i128.pow(u32::from(s.scale.unsigned_abs()));
        }
        (num, den)
    }

    /// `value × 10^scale × seconds / 3600` as a fraction, the obvious way.
    fn obvious(value: i64, scale: i8, seconds: u32) -> (i128, i128) {
        let mut num = i128::from(value) * i128::from(seconds);
        let mut den = 3600i128;
        if scale >= 0 {
            num *= 10i128.pow(scale as u32);
        } else {
            den *= 10i128.pow(u32::from(scale.unsigned_abs()));
        }
        (num, den)
    }

    fn same(a: (i128, i128), b: (i128, i128)) -> bool {
        a.0 * b.1 == b.0 * a.1
    }

    #[test]
    fn demand_times_interval_is_exact() {
        // 1, 2, 3, 4, 5, 6, 10, 15, 20, 30, 60 minutes, a day, and odd lengths.
        for seconds in [
            60u32, 120, 180, 240, 300, 360, 600, 900, 1200, 1800, 3600, 86_400, 7, 45, 1000,
        ] {
            for scale in [-6i8, -3, -1, 0, 1, 3] {
                for value in [0i64, 1, 7, 812_345, -4_003, 99_999_000] {
                    let s =
                        energy_per_interval(ch(), Unit::Watt, scale, seconds, &[value]).unwrap();
                    assert_eq!(s.unit(), Unit::WattHour);
                    assert!([1, 3, 9].contains(&s.divisor()), "{seconds} s");
                    assert!(
                        same(exact(&s, 0), obvious(value, scale, seconds)),
                        "{value} × 10^{scale} W over {seconds} s"
                    );
                }
            }
        }
    }

    #[test]
    fn whole_minutes_of_three_and_more_are_finite_decimals() {
        for (seconds, factor, shift, divisor) in [
            (60u32, 5i64, -2i8, 3i64), // W / 60 = 5 / 3 / 100
            (300, 25, -2, 3),          // W / 12
            (600, 5, -1, 3),           // W / 6
            (900, 25, -2, 1),          // W / 4
            (1800, 5, -1, 1),          // W / 2
            (3600, 1, 0, 1),
            (180, 5, -2, 1), // W / 20
        ] {
            let c = Conversion::new(ch(), Unit::Watt, seconds).unwrap();
            assert_eq!(
                (c.factor, c.shift, c.divisor),
                (factor, shift, divisor),
                "{seconds} s"
            );
        }
    }

    #[test]
    fn units_pass_convert_or_are_refused() {
        let q4 = ObisCode::new(1, 0, 8, 5, 0, 255);
        let s = energy_per_interval(q4, Unit::Var, -3, 1800, &[2000]).unwrap();
        assert_eq!(
            (s.unit(), s.values[0], s.scale),
            (Unit::VarHour, 10_000, -4)
        );
        assert_eq!(s.decimal(10_000), "1.000"); // 2 var for half an hour, at mvar's decimals
        let s = energy_per_interval(ch(), Unit::VoltAmpere, 0, 3600, &[5]).unwrap();
        assert_eq!((s.unit(), s.values[0]), (Unit::VoltAmpereHour, 5));
        // kW is W at scale 3: 1.5 kW for 15 minutes is 375 Wh.
        let (unit, scale) = Unit::parse_prefixed("kW").unwrap();
        let s = energy_per_interval(ch(), unit, scale - 1, 900, &[15]).unwrap();
        assert_eq!(s.decimal(i128::from(s.values[0])), "375");
        // Energy passes through untouched, divisor 1, no note.
        let e = ObisCode::new(1, 0, 1, 29, 0, 255);
        for u in [Unit::WattHour, Unit::VarHour, Unit::VoltAmpereHour] {
            let s = energy_per_interval(e, u, -3, 300, &[1, -2, 3]).unwrap();
            assert_eq!((s.unit(), s.scale, s.divisor()), (u, -3, 1));
            assert_eq!(s.values, [1, -2, 3]);
            assert_eq!(s.note(), None);
        }
        let n = energy_per_interval(ch(), Unit::Watt, -3, 900, &[1])
            .unwrap()
            .note()
            .unwrap();
        assert_eq!(
            n,
            "channel 1-0:1.5.0*255 (W, average demand) converted to energy: Wh = W × 900 s / 3600 s"
        );
        let v = ObisCode::new(1, 0, 32, 7, 0, 255);
        for u in [
            Unit::Volt,
            Unit::Ampere,
            Unit::Hertz,
            Unit::Degree,
            Unit::Second,
            Unit::None,
            Unit::Count,
        ] {
            let e = energy_per_interval(v, u, 0, 900, &[1]).unwrap_err();
            assert_eq!(
                e,
                EnergyError::NotEnergy {
                    channel: v,
                    unit: u
                }
            );
            let text = e.to_string();
            assert!(text.starts_with("channel 1-0:32.7.0*255 holds "), "{text}");
            assert!(text.contains("neither energy"), "{text}");
        }
        assert_eq!(
            energy_per_interval(v, Unit::Volt, 0, 900, &[1])
                .unwrap_err()
                .to_string(),
            "channel 1-0:32.7.0*255 holds V values, which are neither energy (Wh, varh, VAh) nor average demand (W, var, VA): it has no energy per interval"
        );
        assert!(matches!(
            energy_per_interval(ch(), Unit::Watt, 0, 0, &[1]),
            Err(EnergyError::NoLength { .. })
        ));
        assert!(matches!(
            energy_per_interval(ch(), Unit::Watt, 0, 900, &[i64::MAX / 3]),
            Err(EnergyError::Overflow { .. })
        ));
    }

    #[test]
    fn text_is_exact_or_rounded_at_the_end() {
        // 1 W for a minute: 1/60 Wh.
        let s = energy_per_interval(ch(), Unit::Watt, 0, 60, &[1; 60]).unwrap();
        let one = i128::from(s.values[0]);
        assert_eq!(s.decimal(one), "0.01667");
        // An hour of them: exactly 1 Wh, no drift.
        let total: i128 = s.values.iter().map(|v| i128::from(*v)).sum();
        assert_eq!(s.decimal(total), "1");
        // A kWh float of the same energy from any scale is the same float.
        let a = energy_per_interval(ch(), Unit::Watt, -3, 900, &[172_000]).unwrap();
        let b = energy_per_interval(ch(), Unit::WattHour, -3, 900, &[43_000]).unwrap();
        let c = energy_per_interval(ch(), Unit::WattHour, 0, 900, &[43]).unwrap();
        assert_eq!(a.kilo_values(), c.kilo_values());
        assert_eq!(b.kilo_values(), c.kilo_values());
        assert_eq!(c.kilo_values(), [0.043]);
        assert_eq!(a.decimal(i128::from(a.values[0])), "43.000");
        assert_eq!(decimal_text(-5, -2, 1, 0), "-0.05");
        assert_eq!(decimal_text(-1, 0, 3, 0), "-0.333");
        assert_eq!(decimal_text(12, 2, 1, 0), "1200");
        assert_eq!(decimal_text(0, 2, 1, 0), "0");
    }

    #[test]
    fn rounding_carries_so_sums_do_not_drift() {
        let s = energy_per_interval(ch(), Unit::Watt, 0, 300, &[1; 100]).unwrap();
        let r = s.rounded(s.scale).unwrap();
        // 1 W over 5 min = 1/12 Wh = 25/3 × 10^-2 Wh: 8 or 9 hundredths each.
        assert!(r.iter().all(|v| *v == 8 || *v == 9), "{r:?}");
        let mut exact = 0i128;
        let mut sum = 0i128;
        for (v, x) in r.iter().zip(&s.values) {
            sum += i128::from(*v);
            exact += i128::from(*x);
            assert!((3 * sum - exact).abs() * 2 <= 3, "{sum} vs {exact}/3");
        }
        assert_eq!(sum, 833); // 100/12 Wh = 8.333 Wh
        // At mWh: 83 or 84 each, 8333 in all.
        let r = s.rounded(-3).unwrap();
        assert_eq!(r.iter().sum::<i64>(), 8333);
        // Coarser than the series, and exact series: whole Wh of 1/4 Wh each.
        let q = energy_per_interval(ch(), Unit::Watt, 0, 900, &[1; 10]).unwrap();
        assert_eq!(q.rounded(q.scale).unwrap(), vec![25; 10]);
        assert_eq!(q.rounded(0).unwrap().iter().sum::<i64>(), 3); // 2.5 rounds up
    }

    #[test]
    fn totals_mix_scales_and_conversions() {
        let w = Conversion::new(ch(), Unit::Watt, 300).unwrap();
        let mut t = EnergyTotal::default();
        for _ in 0..12 {
            t.add(&w, 1, 0).unwrap();
        }
        assert_eq!(t.decimal(0), "1");
        t.add(&w, 1, 0).unwrap();
        assert_eq!(t.decimal(0), "1.08333");
        let wh = Conversion::new(ch(), Unit::WattHour, 900).unwrap();
        let mut t = EnergyTotal::default();
        t.add(&wh, 1_234, -3).unwrap();
        t.add(&wh, 5, 0).unwrap();
        assert_eq!(t.decimal(-3), "6.234");
        assert_eq!(EnergyTotal::default().decimal(0), "0");
    }

    proptest! {
        /// Any value, scale and interval length converts to exactly value × seconds / 3600.
        #[test]
        fn exact_for_any_interval(value in -1_000_000_000i64..1_000_000_000, scale in -6i8..4,
                                  seconds in 1u32..90_000) {
            let s = energy_per_interval(ch(), Unit::Watt, scale, seconds, &[value]).unwrap();
            prop_assert!([1, 3, 9].contains(&s.divisor()));
            prop_assert!(same(exact(&s, 0), obvious(value, scale, seconds)));
        }
    }
}
