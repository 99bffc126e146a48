//! The interval CSV that `export --format csv` writes and `import` reads back unchanged:
//!
//! ```text
//! meter,channel,start,end,value,unit,quality
//! 10000001,1-0:1.5.0*255,2024-03-05T00:00:00Z,2024-03-05T00:15:00Z,812.000,W,measured
//! ```
//!
//! Times are RFC 3339 UTC; `channel` an OBIS code; `value` an exact decimal in `unit` (a prefix
//! such as `kWh` is accepted on import); `quality` one of `measured`, `estimated`, `edited`,
//! `invalid`, `missing`.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use metermaster_model::{IntervalRow, ObisCode, Quality, Quantity, Unit};

use crate::FileError;

pub const HEADER: &str = "meter,channel,start,end,value,unit,quality";

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Writes rows with the header. Meter names with a comma or quote are quoted.
pub fn write_csv<'a, W: Write>(
    mut w: W,
    rows: impl IntoIterator<Item = &'a IntervalRow>,
) -> std::io::Result<u64> {
    writeln!(w, "{HEADER}")?;
    let mut n = 0;
    for r in rows {
        let end = r.start + chrono::Duration::seconds(i64::from(r.seconds));
        let meter = if r.meter.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", r.meter.replace('"', "\"\""))
        } else {
            r.meter.to_string()
        };
        writeln!(
            w,
            "{meter},{},{},{},{},{},{}",
            r.channel,
            time_text(r.start),
            time_text(end),
            Quantity::new(r.value, r.scale, r.unit).decimal_string(),
            r.unit.symbol(),
            r.quality.word()
        )?;
        n += 1;
    }
    Ok(n)
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` fast, falling back to full RFC 3339.
fn parse_time(s: &str, cache: &mut Option<(String, i64)>) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() == 20 && b[10] == b'T' && b[19] == b'Z' && b[13] == b':' && b[16] == b':' {
        let date = &s[..10];
        let days = match cache {
            Some((d, n)) if d == date => *n,
            _ => {
                let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
                let n = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
                *cache = Some((date.to_string(), n));
                n
            }
        };
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let t = &b[r];
            if t.iter().all(u8::is_ascii_digit) {
                Some(t.iter().fold(0i64, |a, c| a * 10 + i64::from(c - b'0')))
            } else {
                None
            }
        };
        let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        return DateTime::from_timestamp(days + h * 3600 + m * 60 + sec, 0);
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Splits one CSV line into fields, with RFC 4180 quotes.
fn fields(line: &str, out: &mut Vec<String>) -> Result<(), &'static str> {
    out.clear();
    if !line.contains('"') {
        out.extend(line.split(',').map(str::to_string));
        return Ok(());
    }
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_start && !quoted => quoted = true,
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            }
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            c => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("unterminated quote");
    }
    out.push(cur);
    Ok(())
}

/// Reads the interval CSV. Every error names the line.
pub fn read_csv(text: &str) -> Result<Vec<IntervalRow>, FileError> {
    let mut lines = text.lines().enumerate();
    let header = loop {
        match lines.next() {
            None => return Err(FileError::at(0, "empty file: no header line")),
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((n, l)) => break (n + 1, l.trim_start_matches('\u{feff}').trim()),
        }
    };
    if header.1 != HEADER {
        return Err(FileError::at(
            header.0,
            format!("header is {:?}, expected {HEADER:?}", header.1),
        ));
    }
    let mut out = Vec::with_capacity(text.len() / 80);
    let mut owned: Vec<String> = Vec::with_capacity(7);
    let mut cache = None;
    let mut last_meter: Option<std::sync::Arc<str>> = None;
    let mut last_channel: Option<(String, ObisCode)> = None;
    let mut last_unit: Option<(String, (Unit, i8))> = None;
    for (n, line) in lines {
        let line_no = n + 1;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let mut f: [&str; 7] = [""; 7];
        let count;
        if line.contains('"') {
            fields(line, &mut owned).map_err(|e| FileError::at(line_no, e))?;
            count = owned.len();
            for (slot, v) in f.iter_mut().zip(&owned) {
                *slot = v.as_str();
            }
        } else {
            let mut k = 0;
            for part in line.split(',') {
                if k < 7 {
                    f[k] = part;
                }
                k += 1;
            }
            count = k;
        }
        if count != 7 {
            return Err(FileError::at(
                line_no,
                format!("{count} fields, expected 7 ({HEADER})"),
            ));
        }
        let meter = match &last_meter {
            Some(m) if **m == *f[0] => m.clone(),
            _ => {
                let m: std::sync::Arc<str> = f[0].into();
                last_meter = Some(m.clone());
                m
            }
        };
        let channel = match &last_channel {
            Some((text, code)) if text == f[1] => *code,
            _ => {
                let code = ObisCode::parse(f[1])
                    .map_err(|e| FileError::at(line_no, format!("channel: {e}")))?;
                last_channel = Some((f[1].to_string(), code));
                code
            }
        };
        let start = parse_time(f[2], &mut cache).ok_or_else(|| {
            FileError::at(line_no, format!("start {:?} is not an RFC 3339 time", f[2]))
        })?;
        let end = parse_time(f[3], &mut cache).ok_or_else(|| {
            FileError::at(line_no, format!("end {:?} is not an RFC 3339 time", f[3]))
        })?;
        let seconds = u32::try_from((end - start).num_seconds())
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| FileError::at(line_no, "end is not after start"))?;
        let (unit, unit_scale) = match &last_unit {
            Some((text, u)) if text == f[5] => *u,
            _ => {
                let u = Unit::parse_prefixed(f[5])
                    .or_else(|| Unit::from_symbol(f[5]).map(|u| (u, 0)))
                    .ok_or_else(|| FileError::at(line_no, format!("unknown unit {:?}", f[5])))?;
                last_unit = Some((f[5].to_string(), u));
                u
            }
        };
        let (value, scale) = Quantity::parse_decimal(f[4]).ok_or_else(|| {
            FileError::at(line_no, format!("value {:?} is not a decimal number", f[4]))
        })?;
        let quality = Quality::from_word(f[6])
            .ok_or_else(|| FileError::at(line_no, format!("unknown quality {:?}", f[6])))?;
        out.push(IntervalRow {
            meter,
            channel,
            start,
            seconds,
            value,
            scale: scale + unit_scale,
            unit,
            quality,
            status: quality.status(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(k: i64, value: i64, q: Quality) -> IntervalRow {
        IntervalRow {
            meter: "10000001".into(),
            channel: ObisCode::elec(1, 5, 0),
            start: DateTime::from_timestamp(1_709_596_800 + 900 * k, 0).unwrap(),
            seconds: 900,
            value,
            scale: -3,
            unit: Unit::Watt,
            quality: q,
            status: q.status(),
        }
    }

    #[test]
    fn round_trip() {
        let rows = vec![
            row(0, 812_000, Quality::Measured),
            row(1, -5, Quality::Estimated),
        ];
        let mut buf = Vec::new();
        write_csv(&mut buf, &rows).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "10000001,1-0:1.5.0*255,2024-03-05T00:00:00Z,2024-03-05T00:15:00Z,812.000,W,measured"
        );
        assert_eq!(read_csv(&text).unwrap(), rows);
    }

    #[test]
    fn prefixes_quotes_and_errors() {
        let text = "meter,channel,start,end,value,unit,quality\r\n\"A,1\",1.8.0,2024-03-05T00:00:00Z,2024-03-05T00:30:00Z,1.5,kWh,edited\r\n";
        let r = read_csv(text).unwrap();
        assert_eq!(&*r[0].meter, "A,1");
        assert_eq!((r[0].value, r[0].scale, r[0].unit), (15, 2, Unit::WattHour));
        let bad = "meter,channel,start,end,value,unit,quality\nM,1.8.0,2024-03-05T00:00:00Z,2024-03-05T00:30:00Z,1.5,kWh,great\n";
        assert_eq!(
            read_csv(bad).unwrap_err().to_string(),
            "line 2: unknown quality \"great\""
        );
        let bad = "meter,channel,start,end,value,unit,quality\nM,1.8.0,2024-03-05T00:30:00Z,2024-03-05T00:30:00Z,1,Wh,measured\n";
        assert_eq!(
            read_csv(bad).unwrap_err().to_string(),
            "line 2: end is not after start"
        );
        assert_eq!(
            read_csv("a,b\n").unwrap_err().to_string(),
            "line 1: header is \"a,b\", expected \"meter,channel,start,end,value,unit,quality\""
        );
        assert!(read_csv("").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "(meter,channel,start,end,value,unit,quality\n)?[ -~\n]{0,200}") {
            let _ = read_csv(&s);
        }
    }
}
