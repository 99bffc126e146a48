//! The .RES reading-result format: an open, versioned, line-oriented text format that carries a
//! whole [`Reading`] losslessly, one self-checking block per reading (see `docs/res-format.md`).
//!
//! A file holds one or more blocks, so that a meter's result file can be appended to. Each block
//! starts with `METERMASTER-RES 1` and ends with `END sha256:<hex>`, the SHA-256 of every byte
//! of the block before the `END` line: a truncated or altered block is detected.

pub mod csv;
pub mod energy;
pub mod mapped;
pub mod nem12;

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime, Utc};
use metermaster_model::{
    BillingPeriod, Channel, ClockInfo, Event, EventCounter, EventKind, InstantQuantity,
    InstantValue, Interval, IntervalStatus, LoadProfile, MaxDemand, MeterIdentity, ObisCode, Phase,
    ProgrammingLog, ProgrammingRecord, Quantity, Reading, Register, TransformerRatio, Unit,
};
use sha2::{Digest, Sha256};

/// The first line of every block.
pub const MAGIC: &str = "METERMASTER-RES";
/// The format version this code writes; it reads this version only.
pub const VERSION: u32 = 1;

/// What is wrong with a .RES file, and on which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResError {
    #[error("line {line}: {what}")]
    Line { line: usize, what: String },
    #[error("block starting on line {start}: checksum mismatch (the block was altered)")]
    Checksum { start: usize },
    #[error("block starting on line {start}: no END line (the file is truncated)")]
    Truncated { start: usize },
    #[error("the file holds no reading")]
    Empty,
}

/// What is wrong with a CSV or NEM12 file, and on which line (0 = the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct FileError {
    pub line: usize,
    pub what: String,
}

impl FileError {
    pub fn at(line: usize, what: impl Into<String>) -> FileError {
        FileError {
            line,
            what: what.into(),
        }
    }
}

fn line_err(line: usize, what: impl Into<String>) -> ResError {
    ResError::Line {
        line,
        what: what.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

fn esc(out: &mut String, s: &str) {
    if s == "~" {
        out.push_str("\\~");
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

struct Line<'a> {
    out: &'a mut String,
}

impl Line<'_> {
    fn s(self, v: &str) -> Self {
        self.out.push('\t');
        esc(self.out, v);
        self
    }
    fn opt(self, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.s(v),
            None => {
                self.out.push_str("\t~");
                self
            }
        }
    }
    fn d(self, v: impl std::fmt::Display) -> Self {
        let _ = write!(self.out, "\t{v}");
        self
    }
    fn t(self, v: DateTime<Utc>) -> Self {
        let _ = write!(
            self.out,
            "\t{}",
            v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        );
        self
    }
    fn q(self, q: &Quantity) -> Self {
        self.d(q.raw).d(q.scale).s(q.unit.symbol())
    }
    fn end(self) {
        self.out.push('\n');
    }
}

fn line<'a>(out: &'a mut String, tag: &str) -> Line<'a> {
    out.push_str(tag);
    Line { out }
}

fn word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn status_text(st: IntervalStatus) -> String {
    if st.is_empty() {
        "-".into()
    } else {
        st.to_string()
    }
}

fn write_period(out: &mut String, tag: &str, p: &BillingPeriod) {
    let reset = p
        .reset_time
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    line(out, tag)
        .d(p.index)
        .opt(reset.as_deref())
        .opt(p.trigger.as_deref())
        .end();
    for r in &p.registers {
        line(out, "PREG").d(r.obis).q(&r.value).s(&r.name).end();
    }
    for m in &p.max_demands {
        write_md(out, "PMD", m);
    }
}

fn write_md(out: &mut String, tag: &str, m: &MaxDemand) {
    let t = m
        .time
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    line(out, tag)
        .d(m.obis)
        .q(&m.value)
        .opt(t.as_deref())
        .s(&m.name)
        .end();
}

/// One block for a reading, checksum line included.
pub fn to_res(r: &Reading) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(out, "{MAGIC} {VERSION}");
    let m = &r.meter;
    line(&mut out, "METER")
        .s(&m.serial)
        .opt(m.address.as_deref())
        .opt(m.manufacturer.as_deref())
        .opt(m.model.as_deref())
        .opt(m.ident.as_deref())
        .opt(m.firmware.as_deref())
        .opt(m.scheme_id.as_deref())
        .end();
    line(&mut out, "READ")
        .s(&r.protocol)
        .t(r.started)
        .t(r.finished)
        .end();
    if let Some(t) = &m.system_title {
        line(&mut out, "TITLE").s(t).end();
    }
    if let Some(c) = &r.clock {
        line(&mut out, "CLOCK")
            .d(c.meter_local.format("%Y-%m-%dT%H:%M:%S%.f"))
            .d(c.utc_offset_s)
            .t(c.meter_time)
            .t(c.master_time)
            .d(c.drift_s)
            .end();
    }
    for (tag, ratio) in [("CT", &r.ct_ratio), ("VT", &r.vt_ratio)] {
        if let Some(x) = ratio {
            line(&mut out, tag).q(&x.primary).q(&x.secondary).end();
        }
    }
    for s in &r.status {
        line(&mut out, "STATUS").s(s).end();
    }
    for u in &r.unreadable {
        line(&mut out, "UNREADABLE").s(&u.part).s(&u.reason).end();
    }
    for reg in &r.registers {
        line(&mut out, "REG")
            .d(reg.obis)
            .q(&reg.value)
            .s(&reg.name)
            .end();
    }
    for md in &r.max_demands {
        write_md(&mut out, "MD", md);
    }
    for p in &r.billing_history {
        write_period(&mut out, "BILLING", p);
    }
    for p in &r.daily_history {
        write_period(&mut out, "DAILY", p);
    }
    if let Some(lp) = &r.load_profile {
        line(&mut out, "PROFILE").d(lp.interval_s).end();
        for c in &lp.channels {
            line(&mut out, "CHANNEL")
                .d(c.obis)
                .s(c.unit.symbol())
                .d(c.scale)
                .s(&c.name)
                .end();
        }
        for iv in &lp.intervals {
            let mut l = line(&mut out, "IV")
                .t(iv.start)
                .d(iv.seconds)
                .s(&status_text(iv.status));
            for v in &iv.values {
                l = l.d(v);
            }
            l.end();
        }
    }
    for e in &r.events {
        line(&mut out, "EVENT")
            .t(e.time)
            .s(&word(&e.kind))
            .opt(e.detail.as_deref())
            .end();
    }
    for c in &r.event_counters {
        line(&mut out, "COUNTER").s(&word(&c.kind)).d(c.count).end();
    }
    if let Some(p) = &r.programming {
        line(&mut out, "PROGLOG").d(p.count).end();
        for rec in &p.records {
            line(&mut out, "PROG")
                .t(rec.time)
                .s(&rec.user)
                .opt(rec.scheme.as_deref())
                .opt(rec.port.as_deref())
                .end();
        }
    }
    for v in &r.instantaneous {
        line(&mut out, "INST")
            .s(&word(&v.quantity))
            .s(&word(&v.phase))
            .q(&v.value)
            .end();
    }
    let hash = Sha256::digest(out.as_bytes());
    let _ = writeln!(out, "END\tsha256:{}", hex(&hash));
    out
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

// ---------------------------------------------------------------------------------------------
// Reading

fn unesc(s: &str, line: usize) -> Result<String, ResError> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('~') => out.push('~'),
            other => {
                return Err(line_err(
                    line,
                    format!("bad escape \\{}", other.map_or(String::new(), String::from)),
                ));
            }
        }
    }
    Ok(out)
}

/// The fields of one line after its tag.
struct Fields<'a> {
    it: std::str::Split<'a, char>,
    line: usize,
    tag: &'a str,
    n: usize,
}

impl<'a> Fields<'a> {
    fn next_raw(&mut self, what: &str) -> Result<&'a str, ResError> {
        self.n += 1;
        self.it.next().ok_or_else(|| {
            line_err(
                self.line,
                format!("{} line: field {} ({what}) missing", self.tag, self.n),
            )
        })
    }
    fn s(&mut self, what: &str) -> Result<String, ResError> {
        let raw = self.next_raw(what)?;
        unesc(raw, self.line)
    }
    fn opt(&mut self, what: &str) -> Result<Option<String>, ResError> {
        let raw = self.next_raw(what)?;
        if raw == "~" {
            Ok(None)
        } else {
            unesc(raw, self.line).map(Some)
        }
    }
    fn num<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, ResError> {
        let raw = self.next_raw(what)?;
        raw.parse().map_err(|_| {
            line_err(
                self.line,
                format!("{} line: {what} {raw:?} is not a number", self.tag),
            )
        })
    }
    fn time(&mut self, what: &str) -> Result<DateTime<Utc>, ResError> {
        let raw = self.next_raw(what)?;
        parse_time(raw, self.line, what)
    }
    fn opt_time(&mut self, what: &str) -> Result<Option<DateTime<Utc>>, ResError> {
        match self.opt(what)? {
            None => Ok(None),
            Some(t) => parse_time(&t, self.line, what).map(Some),
        }
    }
    fn obis(&mut self) -> Result<ObisCode, ResError> {
        let raw = self.next_raw("OBIS code")?;
        ObisCode::parse(raw).map_err(|e| line_err(self.line, e.to_string()))
    }
    fn unit(&mut self) -> Result<Unit, ResError> {
        let raw = self.next_raw("unit")?;
        Unit::from_symbol(raw).ok_or_else(|| line_err(self.line, format!("unknown unit {raw:?}")))
    }
    fn q(&mut self) -> Result<Quantity, ResError> {
        let raw = self.num("raw value")?;
        let scale = self.num("scale")?;
        let unit = self.unit()?;
        Ok(Quantity::new(raw, scale, unit))
    }
    fn word<T: serde::de::DeserializeOwned>(&mut self, what: &str) -> Result<T, ResError> {
        let raw = self.next_raw(what)?;
        serde_json::from_value(serde_json::Value::String(raw.to_string()))
            .map_err(|_| line_err(self.line, format!("unknown {what} {raw:?}")))
    }
    fn done(mut self) -> Result<(), ResError> {
        match self.it.next() {
            None => Ok(()),
            Some(_) => Err(line_err(
                self.line,
                format!("{} line has extra fields", self.tag),
            )),
        }
    }
}

fn parse_time(raw: &str, line: usize, what: &str) -> Result<DateTime<Utc>, ResError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| line_err(line, format!("{what} {raw:?} is not an RFC 3339 time")))
}

/// Parses every block of a .RES file.
pub fn from_res(text: &str) -> Result<Vec<Reading>, ResError> {
    let mut out = Vec::new();
    let mut offset = 0;
    let mut line_no = 0;
    let mut block: Option<Block<'_>> = None;
    for raw_line in text.split_inclusive('\n') {
        line_no += 1;
        let start = offset;
        offset += raw_line.len();
        let l = raw_line.trim_end_matches('\n').trim_end_matches('\r');
        if l.is_empty() && block.is_none() {
            continue;
        }
        match &mut block {
            None => {
                let Some(v) = l.strip_prefix(MAGIC).map(str::trim) else {
                    return Err(line_err(
                        line_no,
                        format!("expected {MAGIC:?}, found {:?}", truncate(l)),
                    ));
                };
                if v != VERSION.to_string() {
                    return Err(line_err(
                        line_no,
                        format!(
                            "format version {v:?} is not supported (this metermaster reads version {VERSION})"
                        ),
                    ));
                }
                block = Some(Block::new(line_no, start));
            }
            Some(b) => {
                if let Some(sum) = l.strip_prefix("END\t") {
                    let want = sum
                        .strip_prefix("sha256:")
                        .ok_or_else(|| line_err(line_no, "END line without sha256:"))?;
                    let got = hex(&Sha256::digest(&text.as_bytes()[b.byte_start..start]));
                    if !got.eq_ignore_ascii_case(want) {
                        return Err(ResError::Checksum {
                            start: b.line_start,
                        });
                    }
                    // Only a block whose checksum holds is parsed: a truncated or altered file
                    // is reported as such, not as whatever its broken line looks like.
                    let mut done = block.take().ok_or(ResError::Empty)?;
                    for (n, l) in std::mem::take(&mut done.lines) {
                        done.line(l, n)?;
                    }
                    out.push(done.finish()?);
                } else {
                    b.lines.push((line_no, l));
                }
            }
        }
    }
    if let Some(b) = block {
        return Err(ResError::Truncated {
            start: b.line_start,
        });
    }
    if out.is_empty() {
        return Err(ResError::Empty);
    }
    Ok(out)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

struct Block<'t> {
    lines: Vec<(usize, &'t str)>,
    line_start: usize,
    byte_start: usize,
    reading: Option<Reading>,
    meter: Option<MeterIdentity>,
    section: Option<&'static str>,
}

impl<'t> Block<'t> {
    fn new(line_start: usize, byte_start: usize) -> Self {
        Block {
            lines: Vec::new(),
            line_start,
            byte_start,
            reading: None,
            meter: None,
            section: None,
        }
    }

    fn reading(&mut self, line: usize, tag: &str) -> Result<&mut Reading, ResError> {
        self.reading
            .as_mut()
            .ok_or_else(|| line_err(line, format!("{tag} line before the READ line")))
    }

    fn line(&mut self, l: &str, line: usize) -> Result<(), ResError> {
        let mut parts = l.split('\t');
        let tag = parts.next().unwrap_or("");
        let mut f = Fields {
            it: parts,
            line,
            tag,
            n: 0,
        };
        match tag {
            "METER" => {
                self.meter = Some(MeterIdentity {
                    serial: f.s("serial")?,
                    address: f.opt("address")?,
                    manufacturer: f.opt("manufacturer")?,
                    model: f.opt("model")?,
                    ident: f.opt("ident")?,
                    firmware: f.opt("firmware")?,
                    scheme_id: f.opt("scheme id")?,
                    system_title: None,
                });
            }
            "READ" => {
                let meter = self
                    .meter
                    .take()
                    .ok_or_else(|| line_err(line, "READ line before the METER line"))?;
                let protocol = f.s("protocol")?;
                let started = f.time("start time")?;
                let mut r = Reading::new(meter, &protocol, started);
                r.finished = f.time("finish time")?;
                self.reading = Some(r);
            }
            "CLOCK" => {
                let local = f.s("meter local time")?;
                let meter_local = NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M:%S%.f")
                    .map_err(|_| {
                        line_err(
                            line,
                            format!("meter local time {local:?} is not a date and time"),
                        )
                    })?;
                let c = ClockInfo {
                    meter_local,
                    utc_offset_s: f.num("UTC offset")?,
                    meter_time: f.time("meter time")?,
                    master_time: f.time("master time")?,
                    drift_s: f.num("drift")?,
                };
                self.reading(line, tag)?.clock = Some(c);
            }
            "CT" | "VT" => {
                let x = TransformerRatio {
                    primary: f.q()?,
                    secondary: f.q()?,
                };
                let r = self.reading(line, tag)?;
                if tag == "CT" {
                    r.ct_ratio = Some(x);
                } else {
                    r.vt_ratio = Some(x);
                }
            }
            "STATUS" => {
                let s = f.s("status")?;
                self.reading(line, tag)?.status.push(s);
            }
            "TITLE" => {
                let t = f.s("system title")?;
                f.done()?;
                self.reading(line, tag)?.meter.system_title = Some(t);
                return Ok(());
            }
            "UNREADABLE" => {
                let part = f.s("part")?;
                let reason = f.s("reason")?;
                f.done()?;
                self.reading(line, tag)?
                    .unreadable
                    .push(metermaster_model::Unreadable { part, reason });
                return Ok(());
            }
            "REG" | "PREG" => {
                let reg = Register {
                    obis: f.obis()?,
                    value: f.q()?,
                    name: f.s("name")?,
                };
                f.done()?;
                let section = self.section;
                let r = self.reading(line, tag)?;
                if tag == "REG" {
                    r.registers.push(reg);
                } else {
                    period(r, section, line)?.registers.push(reg);
                }
                return Ok(());
            }
            "MD" | "PMD" => {
                let md = MaxDemand {
                    obis: f.obis()?,
                    value: f.q()?,
                    time: f.opt_time("time")?,
                    name: f.s("name")?,
                };
                f.done()?;
                let section = self.section;
                let r = self.reading(line, tag)?;
                if tag == "MD" {
                    r.max_demands.push(md);
                } else {
                    period(r, section, line)?.max_demands.push(md);
                }
                return Ok(());
            }
            "BILLING" | "DAILY" => {
                let p = BillingPeriod {
                    index: f.num("index")?,
                    reset_time: f.opt_time("reset time")?,
                    trigger: f.opt("trigger")?,
                    registers: Vec::new(),
                    max_demands: Vec::new(),
                };
                let r = self.reading(line, tag)?;
                if tag == "BILLING" {
                    r.billing_history.push(p);
                    self.section = Some("BILLING");
                } else {
                    r.daily_history.push(p);
                    self.section = Some("DAILY");
                }
            }
            "PROFILE" => {
                let interval_s = f.num("interval length")?;
                self.reading(line, tag)?.load_profile = Some(LoadProfile {
                    interval_s,
                    channels: Vec::new(),
                    intervals: Vec::new(),
                });
            }
            "CHANNEL" => {
                let c = Channel {
                    obis: f.obis()?,
                    unit: f.unit()?,
                    scale: f.num("scale")?,
                    name: f.s("name")?,
                };
                profile(self.reading(line, tag)?, line)?.channels.push(c);
            }
            "IV" => {
                let start = f.time("start")?;
                let seconds = f.num("length")?;
                let st = f.s("status")?;
                let mut status = IntervalStatus::EMPTY;
                if st != "-" {
                    for w in st.split(',') {
                        status |= IntervalStatus::from_name(w).ok_or_else(|| {
                            line_err(line, format!("unknown interval status {w:?}"))
                        })?;
                    }
                }
                let mut values = Vec::new();
                for raw in f.it.by_ref() {
                    values.push(raw.parse::<i64>().map_err(|_| {
                        line_err(
                            line,
                            format!("interval value {raw:?} is not a whole number"),
                        )
                    })?);
                }
                let lp = profile(self.reading(line, tag)?, line)?;
                if values.len() != lp.channels.len() {
                    return Err(line_err(
                        line,
                        format!(
                            "interval has {} values for {} channels",
                            values.len(),
                            lp.channels.len()
                        ),
                    ));
                }
                lp.intervals.push(Interval {
                    start,
                    seconds,
                    status,
                    values,
                });
                return Ok(());
            }
            "EVENT" => {
                let e = Event {
                    time: f.time("time")?,
                    kind: f.word::<EventKind>("event kind")?,
                    detail: f.opt("detail")?,
                };
                self.reading(line, tag)?.events.push(e);
            }
            "COUNTER" => {
                let c = EventCounter {
                    kind: f.word::<EventKind>("event kind")?,
                    count: f.num("count")?,
                };
                self.reading(line, tag)?.event_counters.push(c);
            }
            "PROGLOG" => {
                let count = f.num("count")?;
                self.reading(line, tag)?.programming = Some(ProgrammingLog {
                    count,
                    records: Vec::new(),
                });
            }
            "PROG" => {
                let rec = ProgrammingRecord {
                    time: f.time("time")?,
                    user: f.s("user")?,
                    scheme: f.opt("scheme")?,
                    port: f.opt("port")?,
                };
                self.reading(line, tag)?
                    .programming
                    .as_mut()
                    .ok_or_else(|| line_err(line, "PROG line before the PROGLOG line"))?
                    .records
                    .push(rec);
            }
            "INST" => {
                let v = InstantValue {
                    quantity: f.word::<InstantQuantity>("quantity")?,
                    phase: f.word::<Phase>("phase")?,
                    value: f.q()?,
                };
                self.reading(line, tag)?.instantaneous.push(v);
            }
            "" => return Err(line_err(line, "empty line inside a block")),
            other => {
                return Err(line_err(
                    line,
                    format!("unknown line type {:?}", truncate(other)),
                ));
            }
        }
        f.done()
    }

    fn finish(self) -> Result<Reading, ResError> {
        self.reading
            .ok_or_else(|| line_err(self.line_start, "block without METER and READ lines"))
    }
}

fn period<'r>(
    r: &'r mut Reading,
    section: Option<&str>,
    line: usize,
) -> Result<&'r mut BillingPeriod, ResError> {
    let p = match section {
        Some("BILLING") => r.billing_history.last_mut(),
        Some("DAILY") => r.daily_history.last_mut(),
        _ => None,
    };
    p.ok_or_else(|| line_err(line, "PREG/PMD line outside a BILLING or DAILY section"))
}

fn profile(r: &mut Reading, line: usize) -> Result<&mut LoadProfile, ResError> {
    r.load_profile
        .as_mut()
        .ok_or_else(|| line_err(line, "CHANNEL/IV line before the PROFILE line"))
}

#[cfg(test)]
mod tests;
