//! Tariff programs for FLAG meters: metermaster's program image and the identities it is
//! written through.
//!
//! The protocol guide documents no identities for the A1140/A1700 switching tables, so
//! programming uses identities of our own (940–944, unused by the documented dialect), written
//! in the dialect's usual way (`W1 IIIPPP(hex)`, 64-byte packets):
//!
//! | Id | R/W | Content |
//! |----|-----|---------|
//! | 941 | W | control: `01 LL LL CC CC` begin (image length and CRC-16/ARC, LE), `02 CC CC` commit, `00` abandon |
//! | 940 | W | the image being staged, packet *p* holding bytes 64(*p*−1) … |
//! | 942 | R | status, [`STATUS_LEN`] bytes ([`ProgramStatus`]) |
//! | 943 | R | the program in force, as its image |
//! | 944 | R | what the last three programming sessions did ([`SessionNote`], [`NOTES_LEN`] bytes), most recent first, beside 680 |
//!
//! Staging is all-or-nothing: the meter keeps running its old program until a commit whose
//! length and CRC match what was staged; a session that ends with a program staged but not
//! committed (a dropped line) discards it and leaves a mark in 942 that the next session sees.
//! Each commit counts as one programming session in 680 with the operator name from 576.
//!
//! The image ([`Program::encode`]) is little endian throughout and ends with the CRC-16/ARC of
//! everything before it; times are in the meter's local standard time (the clock it keeps).

use chrono::NaiveDateTime;

use crate::codec::{ascii, padded_ascii};
use crate::crc::crc16_arc;

/// Where the image is staged (write, packets of 64 bytes).
pub const STAGE: u16 = 940;
/// Begin / commit / abandon (write).
pub const CONTROL: u16 = 941;
/// Programming status (read).
pub const STATUS: u16 = 942;
/// The program in force (read).
pub const ACTIVE: u16 = 943;
/// Scheme labels of the last three programming sessions (read).
pub const NOTES: u16 = 944;

/// Bytes of 942.
pub const STATUS_LEN: usize = 72;
/// Bytes of 944.
pub const NOTES_LEN: usize = 3 * SessionNote::LEN;
/// Characters of a program label (scheme id and version).
pub const LABEL_LEN: usize = 24;
/// The largest image a meter accepts.
pub const MAX_IMAGE: usize = 4096;

const MAGIC: &[u8; 4] = b"MMP1";

/// The meter family a program is built for (byte 4 of the image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    A1140,
    A1700,
}

impl Family {
    fn code(self) -> u8 {
        match self {
            Family::A1140 => 1,
            Family::A1700 => 2,
        }
    }
}

/// One rate: the TOU register (1-based) it counts into and the meter's source code (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RateDef {
    pub register: u8,
    pub source: u8,
}

/// A switch: from `minute` of the (wall-clock) day on, rate `rate` (index into the rates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SwitchDef {
    pub minute: u16,
    pub rate: u8,
}

/// A season: from month/day on, the day profile of each weekday (Monday first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SeasonDef {
    pub month: u8,
    pub day: u8,
    pub week: [u8; 7],
}

/// A special day: `year` 0 recurs every year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SpecialDef {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub profile: u8,
}

/// From `from` (local standard time) on, the wall clock is standard time plus `shift_min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DstChange {
    pub from: NaiveDateTime,
    pub shift_min: i16,
}

/// Maximum demand: integration period, sliding with sub-intervals or block (sub = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DemandDef {
    pub integration_min: u8,
    pub sub_intervals: u8,
}

/// End of billing: day of month (1–28, or 0 for the last day) at minute of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BillingDef {
    pub day: u8,
    pub minute: u16,
}

/// A whole tariff program as a FLAG meter holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Program {
    pub family: Family,
    /// Scheme id and version, `E7-2026@3` (at most [`LABEL_LEN`] ASCII characters).
    pub label: String,
    /// Local standard time minus UTC, minutes.
    pub std_offset_min: i16,
    /// When the program takes over (local standard time); `None`: at commit.
    pub activation: Option<NaiveDateTime>,
    pub rates: Vec<RateDef>,
    pub day_profiles: Vec<Vec<SwitchDef>>,
    pub seasons: Vec<SeasonDef>,
    pub special_days: Vec<SpecialDef>,
    pub dst: Vec<DstChange>,
    pub demand: Option<DemandDef>,
    pub billing: Option<BillingDef>,
}

/// Why an image is not a program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("program image byte {offset}: {what}")]
pub struct ImageError {
    pub offset: usize,
    pub what: String,
}

fn err(offset: usize, what: impl Into<String>) -> ImageError {
    ImageError {
        offset,
        what: what.into(),
    }
}

fn epoch(t: Option<NaiveDateTime>) -> [u8; 4] {
    let s = t.map_or(0, |t| t.and_utc().timestamp());
    u32::try_from(s).unwrap_or(0).to_le_bytes()
}

fn from_epoch(b: [u8; 4]) -> Option<NaiveDateTime> {
    let s = u32::from_le_bytes(b);
    (s != 0)
        .then(|| chrono::DateTime::from_timestamp(i64::from(s), 0).map(|d| d.naive_utc()))
        .flatten()
}

/// A program image's CRC: the CRC-16/ARC of everything before its last two bytes, which hold
/// it (what begin and commit announce, and what 942 reports for the program in force).
pub fn image_crc(image: &[u8]) -> u16 {
    crc16_arc(&image[..image.len().saturating_sub(2)])
}

impl Program {
    /// The image: header, tables, CRC. Counts above 255 are the compiler's to refuse; here they
    /// are cut to what fits.
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(256);
        o.extend_from_slice(MAGIC);
        o.push(self.family.code());
        o.extend(padded_ascii(&self.label, LABEL_LEN));
        o.extend(self.std_offset_min.to_le_bytes());
        o.extend(epoch(self.activation));
        let n = |len: usize| len.min(255) as u8;
        o.push(n(self.rates.len()));
        o.push(n(self.day_profiles.len()));
        o.push(n(self.seasons.len()));
        o.push(n(self.special_days.len()));
        o.push(n(self.dst.len()));
        match self.demand {
            Some(d) => o.extend([1, d.integration_min, d.sub_intervals]),
            None => o.extend([0, 0, 0]),
        }
        match self.billing {
            Some(b) => {
                o.extend([1, b.day]);
                o.extend(b.minute.to_le_bytes());
            }
            None => o.extend([0, 0, 0, 0]),
        }
        for r in self.rates.iter().take(255) {
            o.extend([r.register, r.source]);
        }
        for p in self.day_profiles.iter().take(255) {
            o.push(n(p.len()));
            for s in p.iter().take(255) {
                o.extend(s.minute.to_le_bytes());
                o.push(s.rate);
            }
        }
        for s in self.seasons.iter().take(255) {
            o.extend([s.month, s.day]);
            o.extend(s.week);
        }
        for s in self.special_days.iter().take(255) {
            o.extend(s.year.to_le_bytes());
            o.extend([s.month, s.day, s.profile]);
        }
        for d in self.dst.iter().take(255) {
            o.extend(epoch(Some(d.from)));
            o.extend(d.shift_min.to_le_bytes());
        }
        let crc = crc16_arc(&o);
        o.extend(crc.to_le_bytes());
        o
    }

    /// Reads an image back, checking its CRC, its counts and every reference in it.
    pub fn decode(b: &[u8]) -> Result<Program, ImageError> {
        if b.len() < 48 {
            return Err(err(b.len(), "too short for a program header"));
        }
        let (body, crc) = b.split_at(b.len() - 2);
        let want = u16::from_le_bytes([crc[0], crc[1]]);
        if crc16_arc(body) != want {
            return Err(err(b.len() - 2, "CRC does not match"));
        }
        if &body[..4] != MAGIC {
            return Err(err(0, "not a metermaster program (magic)"));
        }
        let family = match body[4] {
            1 => Family::A1140,
            2 => Family::A1700,
            x => return Err(err(4, format!("unknown meter family {x}"))),
        };
        let mut r = Reader { b: body, at: 5 };
        let label = ascii(r.take(LABEL_LEN)?).trim_end().to_string();
        let std_offset_min = i16::from_le_bytes(r.array()?);
        let activation = from_epoch(r.array()?);
        let [nr, nd, ns, nx, nt] = r.array()?;
        let [has_md, integration_min, sub_intervals] = r.array()?;
        let demand = match has_md {
            0 => None,
            1 if integration_min > 0 && sub_intervals > 0 => Some(DemandDef {
                integration_min,
                sub_intervals,
            }),
            _ => return Err(err(r.at - 3, "bad maximum-demand settings")),
        };
        let [has_bill, day, m0, m1] = r.array()?;
        let billing = match has_bill {
            0 => None,
            1 => {
                let minute = u16::from_le_bytes([m0, m1]);
                if day > 28 || minute >= 1440 {
                    return Err(err(r.at - 4, "bad billing day or time"));
                }
                Some(BillingDef { day, minute })
            }
            _ => return Err(err(r.at - 4, "bad billing flag")),
        };
        let mut rates = Vec::new();
        for _ in 0..nr {
            let at = r.at;
            let [register, source] = r.array()?;
            if register == 0 {
                return Err(err(at, "rate register 0 (registers count from 1)"));
            }
            rates.push(RateDef { register, source });
        }
        let mut day_profiles = Vec::new();
        for _ in 0..nd {
            let [k] = r.array()?;
            let mut p = Vec::new();
            let mut last: Option<u16> = None;
            for _ in 0..k {
                let at = r.at;
                let [a, b, rate] = r.array()?;
                let minute = u16::from_le_bytes([a, b]);
                if minute >= 1440 || last.is_some_and(|l| l >= minute) {
                    return Err(err(at, "switch times out of order or past midnight"));
                }
                if usize::from(rate) >= rates.len() {
                    return Err(err(
                        at + 2,
                        format!("switch to rate {rate}, which is not defined"),
                    ));
                }
                last = Some(minute);
                p.push(SwitchDef { minute, rate });
            }
            day_profiles.push(p);
        }
        let profile_ok = |i: u8| usize::from(i) < day_profiles.len();
        let mut seasons = Vec::new();
        for _ in 0..ns {
            let at = r.at;
            let [month, day, w0, w1, w2, w3, w4, w5, w6] = r.array()?;
            let week = [w0, w1, w2, w3, w4, w5, w6];
            if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
                return Err(err(at, "bad season start"));
            }
            if !week.iter().all(|&p| profile_ok(p)) {
                return Err(err(
                    at + 2,
                    "season names a day profile that is not defined",
                ));
            }
            seasons.push(SeasonDef { month, day, week });
        }
        let mut special_days = Vec::new();
        for _ in 0..nx {
            let at = r.at;
            let [y0, y1, month, day, profile] = r.array()?;
            if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !profile_ok(profile) {
                return Err(err(at, "bad special day"));
            }
            special_days.push(SpecialDef {
                year: u16::from_le_bytes([y0, y1]),
                month,
                day,
                profile,
            });
        }
        let mut dst = Vec::new();
        for _ in 0..nt {
            let at = r.at;
            let from = from_epoch(r.array()?).ok_or_else(|| err(at, "bad clock-change time"))?;
            let shift_min = i16::from_le_bytes(r.array()?);
            dst.push(DstChange { from, shift_min });
        }
        if r.at != body.len() {
            return Err(err(r.at, "bytes after the last table"));
        }
        if seasons.is_empty() || day_profiles.is_empty() || rates.is_empty() {
            return Err(err(35, "a program needs rates, day profiles and seasons"));
        }
        Ok(Program {
            family,
            label,
            std_offset_min,
            activation,
            rates,
            day_profiles,
            seasons,
            special_days,
            dst,
            demand,
            billing,
        })
    }

    /// The wall-clock time at a moment of local standard time.
    pub fn wall_time(&self, std: NaiveDateTime) -> NaiveDateTime {
        let shift = self
            .dst
            .iter()
            .rfind(|d| d.from <= std)
            .map_or(0, |d| d.shift_min);
        std + chrono::Duration::minutes(i64::from(shift))
    }

    /// The day profile in force on a (wall-clock) date.
    pub fn profile_on(&self, date: chrono::NaiveDate) -> Option<&[SwitchDef]> {
        use chrono::Datelike;
        let (m, d) = (date.month() as u8, date.day() as u8);
        let idx = match self.special_days.iter().find(|s| {
            s.month == m && s.day == d && (s.year == 0 || i32::from(s.year) == date.year())
        }) {
            Some(s) => s.profile,
            None => {
                let season = self
                    .seasons
                    .iter()
                    .rfind(|s| (s.month, s.day) <= (m, d))
                    .or_else(|| self.seasons.last())?;
                season.week[date.weekday().num_days_from_monday() as usize]
            }
        };
        self.day_profiles.get(usize::from(idx)).map(Vec::as_slice)
    }

    /// The rate (index into the rates) in force at a moment of local standard time: the
    /// wall-clock date and minute pick the day profile and its switch; before a day's first
    /// switch, rate 0.
    pub fn rate_at(&self, std: NaiveDateTime) -> usize {
        use chrono::Timelike;
        let wall = self.wall_time(std);
        let minute = (wall.hour() * 60 + wall.minute()) as u16;
        self.profile_on(wall.date())
            .and_then(|p| p.iter().rfind(|s| s.minute <= minute))
            .map_or(0, |s| usize::from(s.rate))
    }

    /// The W1 messages (without framing) that stage and commit this program, in order, each
    /// with the password level it needs.
    pub fn write_sequence(&self) -> Vec<(String, u8)> {
        let image = self.encode();
        let crc = image_crc(&image);
        let hex = crate::codec::to_hex;
        let mut out = Vec::new();
        let mut begin = vec![1u8];
        begin.extend((image.len() as u16).to_le_bytes());
        begin.extend(crc.to_le_bytes());
        out.push((format!("W1 {CONTROL:03}001({})", hex(&begin)), 3));
        for (i, chunk) in image.chunks(64).enumerate() {
            out.push((format!("W1 {STAGE:03}{:03X}({})", i + 1, hex(chunk)), 3));
        }
        let mut commit = vec![2u8];
        commit.extend(crc.to_le_bytes());
        out.push((format!("W1 {CONTROL:03}001({})", hex(&commit)), 3));
        out
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ImageError> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| err(self.at, "image ends inside a table"))?;
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ImageError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
}

/// What a session left in the meter's programming state (942).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ProgramStatus {
    /// Bytes staged in this session so far (0 when nothing is staged).
    pub staged: u16,
    /// The length announced by the begin command of this session's staging.
    pub expected: u16,
    /// A session that staged a program and ended without committing it: when it ended, how
    /// much it had staged of how much, and the label of what it staged (the meter kept its old
    /// program).
    pub interrupted: Option<Interrupted>,
    /// The program in force: image length and CRC, and its label.
    pub active_len: u16,
    pub active_crc: u16,
    pub active_label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Interrupted {
    pub at: NaiveDateTime,
    pub staged: u16,
    pub expected: u16,
    pub label: String,
}

impl ProgramStatus {
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(STATUS_LEN);
        o.push(u8::from(self.interrupted.is_some()));
        o.extend(self.staged.to_le_bytes());
        o.extend(self.expected.to_le_bytes());
        let i = self.interrupted.as_ref();
        o.extend(epoch(i.map(|i| i.at)));
        o.extend(i.map_or(0, |i| i.staged).to_le_bytes());
        o.extend(i.map_or(0, |i| i.expected).to_le_bytes());
        o.extend(padded_ascii(i.map_or("", |i| i.label.as_str()), LABEL_LEN));
        o.extend(self.active_len.to_le_bytes());
        o.extend(self.active_crc.to_le_bytes());
        o.extend(padded_ascii(&self.active_label, LABEL_LEN));
        o.resize(STATUS_LEN, 0);
        o
    }

    pub fn decode(b: &[u8]) -> Result<ProgramStatus, ImageError> {
        if b.len() < STATUS_LEN {
            return Err(err(b.len(), format!("942 holds {STATUS_LEN} bytes")));
        }
        let u16at = |k: usize| u16::from_le_bytes([b[k], b[k + 1]]);
        let interrupted = match b[0] {
            0 => None,
            1 => Some(Interrupted {
                at: from_epoch([b[5], b[6], b[7], b[8]]).ok_or_else(|| err(5, "no time"))?,
                staged: u16at(9),
                expected: u16at(11),
                label: ascii(&b[13..13 + LABEL_LEN]).trim_end().to_string(),
            }),
            x => return Err(err(0, format!("unknown state {x}"))),
        };
        Ok(ProgramStatus {
            staged: u16at(1),
            expected: u16at(3),
            interrupted,
            active_len: u16at(37),
            active_crc: u16at(39),
            active_label: ascii(&b[41..41 + LABEL_LEN]).trim_end().to_string(),
        })
    }
}

/// What one programming session did, beside its 680 record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionNote {
    /// 1: a tariff program committed; 2: a clock set beyond the trim limit; 0: none.
    pub kind: u8,
    /// The label of the program in force after the session.
    pub label: String,
}

impl SessionNote {
    pub const LEN: usize = 1 + LABEL_LEN;

    pub fn encode_all(notes: &[SessionNote]) -> Vec<u8> {
        let mut o = Vec::with_capacity(NOTES_LEN);
        for k in 0..3 {
            match notes.get(k) {
                Some(n) => {
                    o.push(n.kind);
                    o.extend(padded_ascii(&n.label, LABEL_LEN));
                }
                None => o.extend([0u8; SessionNote::LEN]),
            }
        }
        o
    }

    pub fn decode_all(b: &[u8]) -> Result<Vec<SessionNote>, ImageError> {
        if b.len() < NOTES_LEN {
            return Err(err(b.len(), format!("944 holds {NOTES_LEN} bytes")));
        }
        Ok(b.chunks(SessionNote::LEN)
            .take(3)
            .map(|c| SessionNote {
                kind: c[0],
                label: ascii(&c[1..]).trim_end().to_string(),
            })
            .collect())
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            1 => "program",
            2 => "clock set",
            _ => "",
        }
    }
}

/// What a meter said about programming before and after a session ([`program_meter`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgramOutcome {
    /// The status before anything was written (an interrupted earlier session shows here).
    pub before: ProgramStatus,
    /// The programming counter (680) before and after.
    pub counter_before: u32,
    pub counter_after: u32,
    /// The program was already in force (an earlier session committed it): nothing written.
    pub already_in_force: bool,
    /// The status after the commit, read back.
    pub after: ProgramStatus,
}

/// Reads 942.
pub async fn read_status<L: crate::transport::Link>(
    c: &mut crate::client::FlagClient<L>,
) -> crate::error::Result<ProgramStatus> {
    let b = c.read_id(STATUS, STATUS_LEN).await?;
    ProgramStatus::decode(&b)
        .map_err(|e| crate::error::Error::protocol("reading 942", e.to_string()))
}

/// Reads the programming counter from 680.
pub async fn read_counter<L: crate::transport::Link>(
    c: &mut crate::client::FlagClient<L>,
    model: crate::ids::MeterModel,
) -> crate::error::Result<u32> {
    let len = model.id_len(crate::ids::PROGRAMMING_LOG).unwrap_or(14);
    let b = c.read_id(crate::ids::PROGRAMMING_LOG, len).await?;
    Ok(u32::from(u16::from_le_bytes([b[0], b[1]])))
}

/// Programs a meter in an open session at password level 3: records the operator name (576),
/// stages the image (941 begin, 940 packets), commits it, then reads the program in force (943)
/// back and checks it byte for byte, and the status (942) and counter (680) after.
///
/// When the meter already runs exactly this image (an earlier session committed it and the line
/// dropped before the answer came) nothing is written and `already_in_force` is set.
pub async fn program_meter<L: crate::transport::Link>(
    c: &mut crate::client::FlagClient<L>,
    model: crate::ids::MeterModel,
    program: &Program,
    operator: &str,
) -> crate::error::Result<ProgramOutcome> {
    use crate::error::Error;
    let image = program.encode();
    let crc = image_crc(&image);
    let before = read_status(c).await?;
    let counter_before = read_counter(c, model).await?;
    let already = usize::from(before.active_len) == image.len()
        && before.active_crc == crc
        && before.active_label == program.label;
    if !already {
        c.write_id(crate::ids::OPERATOR_NAME, &padded_ascii(operator, 12))
            .await?;
        let mut begin = vec![1u8];
        begin.extend((image.len() as u16).to_le_bytes());
        begin.extend(crc.to_le_bytes());
        c.write_id(CONTROL, &begin).await?;
        c.write_packets(STAGE, &image).await?;
        let mut commit = vec![2u8];
        commit.extend(crc.to_le_bytes());
        c.write_id(CONTROL, &commit).await?;
    }
    let after = read_status(c).await?;
    let back = c.read_id(ACTIVE, image.len()).await?;
    if back != image {
        let at = back
            .iter()
            .zip(&image)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(Error::protocol(
            "verifying the program (943)",
            format!("the meter's program differs from what was written at byte {at}"),
        ));
    }
    if after.active_crc != crc || after.active_label != program.label {
        return Err(Error::protocol(
            "verifying the program (942)",
            format!(
                "the meter reports {:?} with CRC {:04X}, not {:?} with CRC {crc:04X}",
                after.active_label, after.active_crc, program.label
            ),
        ));
    }
    let counter_after = read_counter(c, model).await?;
    Ok(ProgramOutcome {
        before,
        counter_before,
        counter_after,
        already_in_force: already,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(y: i32, m: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    pub(crate) fn sample() -> Program {
        Program {
            family: Family::A1140,
            label: "E7-2026@1".into(),
            std_offset_min: 0,
            activation: None,
            rates: vec![
                RateDef {
                    register: 1,
                    source: 0,
                },
                RateDef {
                    register: 2,
                    source: 0,
                },
            ],
            day_profiles: vec![
                vec![
                    SwitchDef { minute: 0, rate: 0 },
                    SwitchDef {
                        minute: 30,
                        rate: 1,
                    },
                    SwitchDef {
                        minute: 450,
                        rate: 0,
                    },
                ],
                vec![SwitchDef { minute: 0, rate: 1 }],
            ],
            seasons: vec![SeasonDef {
                month: 1,
                day: 1,
                week: [0, 0, 0, 0, 0, 1, 1],
            }],
            special_days: vec![SpecialDef {
                year: 0,
                month: 12,
                day: 25,
                profile: 1,
            }],
            dst: vec![
                DstChange {
                    from: t(2026, 3, 29, 1, 0),
                    shift_min: 60,
                },
                DstChange {
                    from: t(2026, 10, 25, 1, 0),
                    shift_min: 0,
                },
            ],
            demand: Some(DemandDef {
                integration_min: 30,
                sub_intervals: 1,
            }),
            billing: Some(BillingDef { day: 1, minute: 0 }),
        }
    }

    #[test]
    fn image_round_trip_and_refusals() {
        let p = sample();
        let img = p.encode();
        assert_eq!(Program::decode(&img).unwrap(), p);
        // Any flipped bit is caught by the CRC.
        for k in 0..img.len() {
            let mut bad = img.clone();
            bad[k] ^= 0x10;
            assert!(Program::decode(&bad).is_err(), "byte {k}");
        }
        // A consistent image with a dangling reference is refused by name.
        let mut q = p.clone();
        q.seasons[0].week[3] = 9;
        let e = Program::decode(&q.encode()).unwrap_err();
        assert!(e.to_string().contains("day profile"), "{e}");
        assert!(Program::decode(&img[..20]).is_err());
    }

    #[test]
    fn rates_follow_the_wall_clock() {
        let p = sample();
        // Winter Monday 00:29 day, 00:30 night; 07:30 day.
        assert_eq!(p.rate_at(t(2026, 1, 5, 0, 29)), 0);
        assert_eq!(p.rate_at(t(2026, 1, 5, 0, 30)), 1);
        assert_eq!(p.rate_at(t(2026, 1, 5, 7, 30)), 0);
        // Summer: 06:30 standard time is 07:30 on the wall: day already.
        assert_eq!(p.rate_at(t(2026, 7, 6, 6, 29)), 1);
        assert_eq!(p.rate_at(t(2026, 7, 6, 6, 30)), 0);
        // Weekend and Christmas (a Friday in 2026) are all night.
        assert_eq!(p.rate_at(t(2026, 1, 3, 12, 0)), 1);
        assert_eq!(p.rate_at(t(2026, 12, 25, 12, 0)), 1);
    }

    #[test]
    fn status_and_notes_round_trip() {
        let s = ProgramStatus {
            staged: 64,
            expected: 130,
            interrupted: Some(Interrupted {
                at: t(2026, 5, 1, 10, 0),
                staged: 64,
                expected: 130,
                label: "E7-2026@2".into(),
            }),
            active_len: 120,
            active_crc: 0xBEEF,
            active_label: "E7-2026@1".into(),
        };
        let b = s.encode();
        assert_eq!(b.len(), STATUS_LEN);
        assert_eq!(ProgramStatus::decode(&b).unwrap(), s);
        let n = vec![SessionNote {
            kind: 1,
            label: "X@1".into(),
        }];
        let b = SessionNote::encode_all(&n);
        assert_eq!(b.len(), NOTES_LEN);
        let back = SessionNote::decode_all(&b).unwrap();
        assert_eq!(back[0], n[0]);
        assert_eq!(back[1].kind, 0);
    }

    #[test]
    fn write_sequence_stages_in_packets_then_commits() {
        let p = sample();
        let seq = p.write_sequence();
        let img = p.encode();
        assert_eq!(seq.len(), 2 + img.len().div_ceil(64));
        assert!(seq[0].0.starts_with("W1 941001(01"));
        assert!(seq[1].0.starts_with("W1 940001(4D4D5031"));
        assert!(seq.last().unwrap().0.starts_with("W1 941001(02"));
        assert!(seq.iter().all(|(_, l)| *l == 3));
    }
}
