//! The small encodings the Elster dialect is built from: hex images, packed BCD (little-endian
//! registers), the 861 clock layout and local-epoch timestamps (protocol guide §0.2, §5.2).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

/// Upper-case hex image of bytes, high nibble first.
pub fn to_hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(D[usize::from(b >> 4)]));
        s.push(char::from(D[usize::from(b & 15)]));
    }
    s
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Bytes from a hex image (either case). `None` on an odd length or a non-hex character.
pub fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// Parses hex digits as a number (packet numbers and lengths in requests: `00A`, `40`, `c`).
pub fn hex_number(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 8 {
        return None;
    }
    text.iter()
        .try_fold(0u32, |acc, &c| Some(acc << 4 | u32::from(nibble(c)?)))
}

/// One packed-BCD byte to its value, `None` if a nibble is above 9.
pub fn bcd_byte(b: u8) -> Option<u8> {
    let (h, l) = (b >> 4, b & 15);
    (h <= 9 && l <= 9).then_some(h * 10 + l)
}

pub fn to_bcd_byte(v: u8) -> u8 {
    ((v / 10) % 10) << 4 | (v % 10)
}

/// Little-endian packed BCD (least significant byte first) to a number.
pub fn bcd_le(bytes: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in bytes.iter().rev() {
        v = v.checked_mul(100)?.checked_add(u64::from(bcd_byte(b)?))?;
    }
    Some(v)
}

/// A number as little-endian packed BCD of `len` bytes (digits beyond the width are dropped,
/// as a register rolls over).
pub fn to_bcd_le(mut v: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        out.push(to_bcd_byte((v % 100) as u8));
        v /= 100;
    }
    out
}

/// Big-endian packed BCD (most significant byte first) to a number.
pub fn bcd_be(bytes: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in bytes {
        v = v.checked_mul(100)?.checked_add(u64::from(bcd_byte(b)?))?;
    }
    Some(v)
}

pub fn to_bcd_be(v: u64, len: usize) -> Vec<u8> {
    let mut b = to_bcd_le(v, len);
    b.reverse();
    b
}

/// A local-epoch timestamp (seconds since 1970-01-01 in the meter's wall-clock time), 0 = none.
pub fn local_epoch(bytes: &[u8]) -> Option<NaiveDateTime> {
    let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    let secs = u32::from_le_bytes(b);
    if secs == 0 {
        return None;
    }
    DateTime::from_timestamp(i64::from(secs), 0).map(|d| d.naive_utc())
}

pub fn to_local_epoch(t: Option<NaiveDateTime>) -> [u8; 4] {
    let secs = t.map_or(0, |t| t.and_utc().timestamp());
    u32::try_from(secs).unwrap_or(0).to_le_bytes()
}

/// Converts a meter wall-clock time to UTC with the meter's offset.
pub fn local_to_utc(t: NaiveDateTime, utc_offset_s: i32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&(t - chrono::Duration::seconds(i64::from(utc_offset_s))))
}

pub fn utc_to_local(t: DateTime<Utc>, utc_offset_s: i32) -> NaiveDateTime {
    t.naive_utc() + chrono::Duration::seconds(i64::from(utc_offset_s))
}

/// Decodes the 7-byte 861 clock: ss mm hh DD(+year mod 4 bits) MM(+weekday bits) 00 YY.
pub fn decode_clock(b: &[u8]) -> Option<NaiveDateTime> {
    if b.len() < 7 {
        return None;
    }
    let sec = bcd_byte(b[0])?;
    let min = bcd_byte(b[1])?;
    let hour = bcd_byte(b[2])?;
    let day = bcd_byte(b[3] & 0x3F)?;
    let month = bcd_byte(b[4] & 0x1F)?;
    let yy = bcd_byte(b[6])?;
    let year = if yy == 99 { 1999 } else { 2000 + i32::from(yy) };
    NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day))?.and_hms_opt(
        u32::from(hour),
        u32::from(min),
        u32::from(sec),
    )
}

/// Encodes the 861 clock with the year-mod-4 and weekday (Monday = 0) bits a meter sets.
pub fn encode_clock(t: NaiveDateTime) -> [u8; 7] {
    let yy = (t.year() - 2000).clamp(0, 99) as u8;
    let leap = (t.year().rem_euclid(4) as u8) << 6;
    let wd = (t.weekday().num_days_from_monday() as u8) << 5;
    [
        to_bcd_byte(t.second() as u8),
        to_bcd_byte(t.minute() as u8),
        to_bcd_byte(t.hour() as u8),
        to_bcd_byte(t.day() as u8) | leap,
        to_bcd_byte(t.month() as u8) | wd,
        0,
        to_bcd_byte(yy),
    ]
}

/// Space- or NUL-padded ASCII to a trimmed string; non-printable bytes become `?`.
pub fn ascii(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7F).contains(&b) {
                char::from(b)
            } else if b == 0 {
                ' '
            } else {
                '?'
            }
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A string padded with spaces (or cut) to `len` bytes.
pub fn padded_ascii(s: &str, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = s
        .bytes()
        .filter(|b| (0x20..0x7F).contains(b))
        .take(len)
        .collect();
    v.resize(len, b' ');
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn recorded_register_value() {
        // Guide §5.2.1: A1700 import register bytes → 3 514 400 mWh.
        assert_eq!(
            bcd_le(&[0x00, 0x44, 0x51, 0x03, 0, 0, 0, 0]),
            Some(3_514_400)
        );
        assert_eq!(
            bcd_le(&[0x90, 0x78, 0x56, 0x34, 0x12, 0, 0, 0]),
            Some(1_234_567_890)
        );
        assert_eq!(bcd_le(&[0x0A]), None);
        assert_eq!(
            to_bcd_le(1_234_567_890, 8),
            vec![0x90, 0x78, 0x56, 0x34, 0x12, 0, 0, 0]
        );
    }

    #[test]
    fn recorded_clock() {
        // Guide §5.2.2: 46 52 22 69 90 00 21 = 2021-10-29 22:52:46, a Friday.
        let b = [0x46, 0x52, 0x22, 0x69, 0x90, 0x00, 0x21];
        let t = decode_clock(&b).unwrap();
        assert_eq!(t.to_string(), "2021-10-29 22:52:46");
        assert_eq!(encode_clock(t), b);
        // §8.3 constructed session: Tuesday 2024-03-05 02:15:30.
        let t = decode_clock(&from_hex(b"30150205230024").unwrap()).unwrap();
        assert_eq!(t.to_string(), "2024-03-05 02:15:30");
        assert_eq!(to_hex(&encode_clock(t)), "30150205230024");
        assert_eq!(decode_clock(&[0x99, 0, 0, 1, 1, 0, 0x24]), None);
    }

    #[test]
    fn local_epoch_times() {
        // Guide §8.3: 0x65E66080 = 2024-03-05 00:00:00 local.
        let t = local_epoch(&[0x80, 0x60, 0xE6, 0x65]).unwrap();
        assert_eq!(t.to_string(), "2024-03-05 00:00:00");
        assert_eq!(to_local_epoch(Some(t)), [0x80, 0x60, 0xE6, 0x65]);
        assert_eq!(local_epoch(&[0, 0, 0, 0]), None);
    }

    #[test]
    fn strings() {
        assert_eq!(
            ascii(&from_hex(b"30303030303030303035303734343934").unwrap()),
            "0000000005074494"
        );
        assert_eq!(ascii(&from_hex(b"505F323238303532").unwrap()), "P_228052");
        assert_eq!(
            to_hex(&padded_ascii("Elster", 12)),
            "456C73746572202020202020"
        );
    }

    proptest! {
        #[test]
        fn hex_round_trip(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(from_hex(to_hex(&b).as_bytes()).unwrap(), b);
        }

        #[test]
        fn bcd_round_trip(v in 0u64..10_000_000_000_000_000) {
            prop_assert_eq!(bcd_le(&to_bcd_le(v, 8)), Some(v));
            prop_assert_eq!(bcd_be(&to_bcd_be(v, 8)), Some(v));
        }

        #[test]
        fn clock_decode_never_panics(b in any::<[u8; 7]>()) {
            if let Some(t) = decode_clock(&b) {
                prop_assert_eq!(decode_clock(&encode_clock(t)), Some(t));
            }
        }
    }
}
