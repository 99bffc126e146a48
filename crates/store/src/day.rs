//! Load profiles stored compactly: one row per meter, channel and UTC day, holding that day's
//! interval values (zig-zag varint deltas), a quality byte per interval and, when any is set,
//! the interval status flags. A year of 15-minute data is 365 small rows per channel.
//!
//! Merging a new day into a stored one goes interval by interval and keeps the better quality;
//! on equal quality what is stored stays, so storing the same data twice changes nothing.

use chrono::{DateTime, Duration, NaiveDate, Utc};
pub use metermaster_model::Quality;

/// One channel's intervals of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub day: NaiveDate,
    pub interval_s: u32,
    pub values: Vec<i64>,
    pub quality: Vec<Quality>,
    pub status: Vec<u32>,
}

/// Why a day row could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DayError {
    #[error("interval length {0} s does not divide a day")]
    BadLength(u32),
    #[error("interval at {start} is not on the {interval_s} s grid of its day")]
    OffGrid {
        start: DateTime<Utc>,
        interval_s: u32,
    },
    #[error("stored day row is damaged: {0}")]
    Damaged(&'static str),
}

impl Day {
    pub fn empty(day: NaiveDate, interval_s: u32) -> Result<Day, DayError> {
        if interval_s == 0 || 86_400 % interval_s != 0 {
            return Err(DayError::BadLength(interval_s));
        }
        let n = (86_400 / interval_s) as usize;
        Ok(Day {
            day,
            interval_s,
            values: vec![0; n],
            quality: vec![Quality::Missing; n],
            status: vec![0; n],
        })
    }

    pub fn slots(&self) -> usize {
        self.values.len()
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.day
            .and_hms_opt(0, 0, 0)
            .map_or(DateTime::UNIX_EPOCH, |t| t.and_utc())
    }

    pub fn slot_start(&self, k: usize) -> DateTime<Utc> {
        self.start() + Duration::seconds(i64::from(self.interval_s) * k as i64)
    }

    /// The slot an interval start falls in, if it is on the grid.
    pub fn slot_of(interval_s: u32, start: DateTime<Utc>) -> Result<(NaiveDate, usize), DayError> {
        let secs = start.timestamp();
        let p = i64::from(interval_s);
        if p == 0 || 86_400 % p != 0 {
            return Err(DayError::BadLength(interval_s));
        }
        if secs.rem_euclid(p) != 0 {
            return Err(DayError::OffGrid { start, interval_s });
        }
        let day = start.date_naive();
        let k = secs.rem_euclid(86_400) / p;
        Ok((day, k as usize))
    }

    /// Sets a slot if the new quality is better than what is there. Returns whether it changed.
    pub fn put(&mut self, k: usize, value: i64, quality: Quality, status: u32) -> bool {
        if k >= self.slots() || quality <= self.quality[k] {
            return false;
        }
        let changed =
            self.values[k] != value || self.quality[k] != quality || self.status[k] != status;
        self.values[k] = value;
        self.quality[k] = quality;
        self.status[k] = status;
        changed
    }

    /// Merges `other` into `self` slot by slot; returns how many slots changed.
    pub fn merge(&mut self, other: &Day) -> usize {
        let mut n = 0;
        for k in 0..other.slots().min(self.slots()) {
            if other.quality[k] != Quality::Missing
                && self.put(k, other.values[k], other.quality[k], other.status[k])
            {
                n += 1;
            }
        }
        n
    }

    pub fn present(&self) -> usize {
        self.quality
            .iter()
            .filter(|q| **q != Quality::Missing)
            .count()
    }

    /// Encodes values, quality and status (status `None` when all zero).
    pub fn encode(&self) -> (Vec<u8>, Vec<u8>, Option<Vec<u8>>) {
        let mut vals = Vec::with_capacity(self.slots() * 3);
        let mut prev = 0i64;
        for &v in &self.values {
            let d = v.wrapping_sub(prev);
            prev = v;
            let mut z = ((d << 1) ^ (d >> 63)) as u64;
            loop {
                let b = (z & 0x7F) as u8;
                z >>= 7;
                if z == 0 {
                    vals.push(b);
                    break;
                }
                vals.push(b | 0x80);
            }
        }
        let quality = self.quality.iter().map(|q| *q as u8).collect();
        let status = self.status.iter().any(|s| *s != 0).then(|| {
            self.status
                .iter()
                .flat_map(|s| s.to_le_bytes())
                .collect::<Vec<u8>>()
        });
        (vals, quality, status)
    }

    pub fn decode(
        day: NaiveDate,
        interval_s: u32,
        vals: &[u8],
        quality: &[u8],
        status: Option<&[u8]>,
    ) -> Result<Day, DayError> {
        let mut d = Day::empty(day, interval_s)?;
        let n = d.slots();
        if quality.len() != n {
            return Err(DayError::Damaged("quality length"));
        }
        let mut pos = 0;
        let mut prev = 0i64;
        for (k, &q) in quality.iter().enumerate() {
            let mut z = 0u64;
            let mut shift = 0;
            loop {
                let b = *vals.get(pos).ok_or(DayError::Damaged("values too short"))?;
                pos += 1;
                if shift >= 64 {
                    return Err(DayError::Damaged("varint too long"));
                }
                z |= u64::from(b & 0x7F) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
            prev = prev.wrapping_add(delta);
            d.values[k] = prev;
            d.quality[k] = Quality::from_byte(q);
        }
        if pos != vals.len() {
            return Err(DayError::Damaged("values too long"));
        }
        if let Some(st) = status {
            if st.len() != n * 4 {
                return Err(DayError::Damaged("status length"));
            }
            for (k, c) in st.chunks_exact(4).enumerate() {
                d.status[k] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merge_keeps_better_quality_and_is_idempotent() {
        let day = NaiveDate::from_ymd_opt(2024, 3, 5).unwrap();
        let mut a = Day::empty(day, 900).unwrap();
        a.put(0, 100, Quality::Estimated, 0);
        a.put(1, 200, Quality::Measured, 0);
        let mut b = Day::empty(day, 900).unwrap();
        b.put(0, 110, Quality::Measured, 4);
        b.put(1, 999, Quality::Estimated, 0);
        b.put(2, 300, Quality::Measured, 0);
        assert_eq!(a.merge(&b), 2);
        assert_eq!(&a.values[..3], &[110, 200, 300]);
        assert_eq!(a.status[0], 4);
        let before = a.clone();
        assert_eq!(a.merge(&b), 0);
        assert_eq!(a, before);
    }

    #[test]
    fn grid() {
        let t = DateTime::parse_from_rfc3339("2024-03-05T00:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(Day::slot_of(900, t).unwrap().1, 1);
        let off = t + Duration::seconds(7);
        assert!(matches!(
            Day::slot_of(900, off),
            Err(DayError::OffGrid { .. })
        ));
        assert!(Day::empty(NaiveDate::MIN, 7).is_err());
    }

    proptest! {
        #[test]
        fn encode_round_trip(vals in proptest::collection::vec(any::<i64>(), 96), q in proptest::collection::vec(0u8..5, 96), st in proptest::collection::vec(any::<u32>(), 96)) {
            let day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
            let mut d = Day::empty(day, 900).unwrap();
            d.values = vals;
            d.quality = q.into_iter().map(Quality::from_byte).collect();
            d.status = st;
            let (v, qq, s) = d.encode();
            prop_assert_eq!(Day::decode(day, 900, &v, &qq, s.as_deref()).unwrap(), d);
        }

        #[test]
        fn decode_never_panics(v in proptest::collection::vec(any::<u8>(), 0..400), q in proptest::collection::vec(any::<u8>(), 96)) {
            let _ = Day::decode(NaiveDate::MIN, 900, &v, &q, None);
        }
    }
}
