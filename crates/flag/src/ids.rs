//! Elster data identities: their lengths per meter model, and their layouts decoded into the
//! domain model and encoded from it (the simulator serves the encoded form; protocol guide §5,
//! §7). Every decoder checks lengths and digits and says which id was wrong.

use chrono::NaiveDateTime;
use metermaster_model::{
    EventCounter, EventKind, InstantQuantity, InstantValue, MaxDemand, ObisCode, Phase,
    ProgrammingLog, ProgrammingRecord, Quantity, Register, TransformerRatio, Unit,
};
use serde::{Deserialize, Serialize};

use crate::codec::{ascii, bcd_be, bcd_le, local_epoch, local_to_utc, to_bcd_le, to_local_epoch};

pub const SERIAL: u16 = 798;
pub const SCHEME: u16 = 795;
pub const FIRMWARE: u16 = 998;
pub const CLOCK: u16 = 861;
pub const CUMULATIVE: u16 = 507;
pub const TOU: u16 = 508;
pub const TOU_SOURCES: u16 = 667;
pub const CMD: u16 = 509;
pub const MD: u16 = 510;
pub const MD_SOURCES: u16 = 668;
pub const CT_RATIO: u16 = 616;
pub const VT_RATIO: u16 = 614;
pub const STATUS: u16 = 724;
pub const PROFILE_MASK: u16 = 777;
pub const PROFILE_DST: u16 = 778;
pub const INTEGRATION: u16 = 878;
pub const PROFILE_SELECT: u16 = 551;
pub const PROFILE_DATA: u16 = 550;
pub const BILLING_HISTORY: u16 = 543;
pub const DAILY_HISTORY: u16 = 545;
pub const PROGRAMMING_LOG: u16 = 680;
pub const OPERATOR_NAME: u16 = 576;
pub const BILLING_RESET: u16 = 655;
pub const INSTANT_REQUEST: u16 = 605;
pub const INSTANT_VALUES: u16 = 606;

/// The meter families of the dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeterModel {
    A1140,
    A1700,
}

impl MeterModel {
    /// Tells the family from the 16 identification characters after the baud character.
    pub fn from_ident(ident: &str) -> Option<MeterModel> {
        let b = ident.as_bytes();
        match (b.get(..2)?, b.get(2..5)?) {
            (b"12", b"051") | (b"12", b"050") => Some(MeterModel::A1140),
            (b"09", b"010") => Some(MeterModel::A1700),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MeterModel::A1140 => "A1140",
            MeterModel::A1700 => "A1700",
        }
    }

    /// Number of TOU registers (the A1700 is taken in its 16-register class).
    pub fn tou_count(self) -> usize {
        match self {
            MeterModel::A1140 => 8,
            MeterModel::A1700 => 16,
        }
    }

    /// Cumulative-register slots of 507.
    pub fn cumulative_slots(self) -> usize {
        match self {
            MeterModel::A1140 => 16,
            MeterModel::A1700 => 10,
        }
    }

    pub fn cmd_count(self) -> usize {
        match self {
            MeterModel::A1140 => 4,
            MeterModel::A1700 => 8,
        }
    }

    pub fn md_count(self) -> usize {
        match self {
            MeterModel::A1140 => 12,
            MeterModel::A1700 => 24,
        }
    }

    /// The length of an id in this model, where known.
    pub fn id_len(self, id: u16) -> Option<usize> {
        let a1140 = self == MeterModel::A1140;
        Some(match id {
            SERIAL => 16,
            SCHEME => {
                if a1140 {
                    8
                } else {
                    16
                }
            }
            FIRMWARE => 12,
            CLOCK => 7,
            CUMULATIVE => self.cumulative_slots() * 8,
            TOU => self.tou_count() * 8,
            TOU_SOURCES => self.tou_count(),
            CMD => self.cmd_count() * 9,
            MD => self.md_count() * 12,
            MD_SOURCES => 8,
            CT_RATIO => {
                if a1140 {
                    8
                } else {
                    6
                }
            }
            VT_RATIO if !a1140 => 7,
            STATUS => {
                if a1140 {
                    8
                } else {
                    4
                }
            }
            PROFILE_MASK => 2,
            PROFILE_DST if a1140 => 1,
            INTEGRATION => 3,
            PROFILE_SELECT => 4,
            BILLING_HISTORY | DAILY_HISTORY if !a1140 && id == DAILY_HISTORY => return None,
            BILLING_HISTORY | DAILY_HISTORY => self.history_set_len(),
            PROGRAMMING_LOG => {
                if a1140 {
                    53
                } else {
                    14
                }
            }
            OPERATOR_NAME => 12,
            BILLING_RESET => {
                if a1140 {
                    1
                } else {
                    0
                }
            }
            691..=699 | 701 if a1140 => {
                if id == 693 || id == 699 {
                    17
                } else {
                    14
                }
            }
            693 => 17,
            694 | 695 => 14,
            INSTANT_REQUEST if !a1140 => 4,
            INSTANT_VALUES if !a1140 => 28,
            _ => return None,
        })
    }

    pub fn history_set_len(self) -> usize {
        match self {
            MeterModel::A1140 => 457,
            MeterModel::A1700 => 615,
        }
    }

    pub fn history_sets(self, id: u16) -> usize {
        match (self, id) {
            (MeterModel::A1140, DAILY_HISTORY) => 14,
            (MeterModel::A1140, _) => 24,
            (MeterModel::A1700, _) => 12,
        }
    }
}

/// Why an id's bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("data id {id}: {what}")]
pub struct IdError {
    pub id: u16,
    pub what: String,
}

fn id_err(id: u16, what: impl Into<String>) -> IdError {
    IdError {
        id,
        what: what.into(),
    }
}

fn check_len(id: u16, b: &[u8], len: usize) -> Result<(), IdError> {
    if b.len() < len {
        Err(id_err(id, format!("expected {len} bytes, got {}", b.len())))
    } else {
        Ok(())
    }
}

fn bcd(id: u16, b: &[u8], offset: usize) -> Result<u64, IdError> {
    bcd_le(b).ok_or_else(|| id_err(id, format!("byte {offset}: not packed BCD")))
}

/// What a register source code measures (§5.1): OBIS group C, words, energy unit.
pub fn source_info(model: MeterModel, code: u8) -> Option<(u8, &'static str, Unit)> {
    let c = match model {
        MeterModel::A1140 => code,
        MeterModel::A1700 => match code {
            0 => return None,
            1..=7 => code - 1,
            8..=10 => code + 6,
            11..=14 => code + 9,
            _ => return None,
        },
    };
    // c is now in the A1140 numbering, with A1700 CDR 3 at 16 and inputs at 20..23.
    Some(match c {
        0 => (1, "active import", Unit::WattHour),
        1 => (2, "active export", Unit::WattHour),
        2 => (5, "reactive Q1", Unit::VarHour),
        3 => (6, "reactive Q2", Unit::VarHour),
        4 => (7, "reactive Q3", Unit::VarHour),
        5 => (8, "reactive Q4", Unit::VarHour),
        6 => (9, "apparent import", Unit::VoltAmpereHour),
        7 if model == MeterModel::A1140 => (10, "apparent export", Unit::VoltAmpereHour),
        14 => (128, "customer-defined register 1", Unit::Count),
        15 => (129, "customer-defined register 2", Unit::Count),
        16 => (130, "customer-defined register 3", Unit::Count),
        20..=23 => (140 + c - 20, "external input", Unit::Count),
        _ => return None,
    })
}

/// The source code of a quantity (inverse of [`source_info`]).
pub fn source_code(model: MeterModel, obis_c: u8) -> Option<u8> {
    (0u8..=15).find(|&s| source_info(model, s).is_some_and(|(c, _, _)| c == obis_c))
}

fn energy(raw: u64, unit: Unit) -> Quantity {
    let scale = if unit == Unit::Count { 0 } else { -3 };
    Quantity::new(raw as i64, scale, unit)
}

/// Source codes of the cumulative-register slots of 507, in order.
fn cumulative_sources(model: MeterModel) -> Vec<Option<u8>> {
    match model {
        MeterModel::A1140 => (0u8..16)
            .map(|i| match i {
                0..=7 => Some(i),
                14 | 15 => Some(i),
                _ => None,
            })
            .collect(),
        MeterModel::A1700 => (1u8..=10).map(Some).collect(),
    }
}

/// Decodes 507: the cumulative (total) registers, as `C.8.0`.
pub fn decode_cumulative(model: MeterModel, b: &[u8]) -> Result<Vec<Register>, IdError> {
    check_len(CUMULATIVE, b, model.cumulative_slots() * 8)?;
    let mut out = Vec::new();
    for (i, src) in cumulative_sources(model).into_iter().enumerate() {
        let Some((c, name, unit)) = src.and_then(|s| source_info(model, s)) else {
            continue;
        };
        let v = bcd(CUMULATIVE, &b[i * 8..i * 8 + 8], i * 8)?;
        out.push(Register {
            obis: ObisCode::elec(c, 8, 0),
            name: name.to_string(),
            value: energy(v, unit),
        });
    }
    Ok(out)
}

/// Encodes 507 from values by source code (missing sources are zero).
pub fn encode_cumulative(model: MeterModel, value_of: impl Fn(u8) -> u64) -> Vec<u8> {
    let mut out = Vec::new();
    for src in cumulative_sources(model) {
        out.extend(to_bcd_le(src.map_or(0, &value_of), 8));
    }
    out
}

/// Decodes 508 with its sources 667: the TOU registers, as `C.8.r` with r the rate number
/// counted per source.
pub fn decode_tou(
    model: MeterModel,
    regs: &[u8],
    sources: &[u8],
) -> Result<Vec<Register>, IdError> {
    let n = model.tou_count();
    check_len(TOU, regs, n * 8)?;
    check_len(TOU_SOURCES, sources, n)?;
    let mut rate_no = [0u8; 256];
    let mut out = Vec::new();
    for i in 0..n {
        let Some((c, name, unit)) = source_info(model, sources[i]) else {
            continue;
        };
        rate_no[usize::from(sources[i])] += 1;
        let r = rate_no[usize::from(sources[i])];
        let v = bcd(TOU, &regs[i * 8..i * 8 + 8], i * 8)?;
        out.push(Register {
            obis: ObisCode::elec(c, 8, r),
            name: format!("{name}, rate {r} (TOU register {})", i + 1),
            value: energy(v, unit),
        });
    }
    Ok(out)
}

/// Decodes 509: cumulative maximum demands, as `C.2.0`.
pub fn decode_cmd(model: MeterModel, b: &[u8]) -> Result<Vec<Register>, IdError> {
    let n = model.cmd_count();
    check_len(CMD, b, n * 9)?;
    let mut out = Vec::new();
    for i in 0..n {
        let e = &b[i * 9..i * 9 + 9];
        let Some((c, name, unit)) = source_info(model, e[8]) else {
            continue;
        };
        let v = bcd(CMD, &e[..8], i * 9)?;
        let obis = ObisCode::new(1, 0, c, 2, 0, 255);
        if out.iter().any(|r: &Register| r.obis == obis) {
            continue;
        }
        out.push(Register {
            obis,
            name: format!("{name} cumulative maximum demand"),
            value: Quantity::new(v as i64, -3, unit.demand()),
        });
    }
    Ok(out)
}

pub fn encode_cmd(model: MeterModel, entries: &[(u8, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..model.cmd_count() {
        match entries.get(i) {
            Some((src, v)) => {
                out.extend(to_bcd_le(*v, 8));
                out.push(*src);
            }
            None => {
                out.extend([0u8; 8]);
                out.push(0xFF);
            }
        }
    }
    out
}

/// Decodes 510: maximum demands with their times. Entries come in groups of three per source
/// (the three highest peaks); the highest is `C.6.0`, the second and third `C.6.128` and
/// `C.6.129` (manufacturer-specific E values, as OBIS has no rank group).
pub fn decode_md(
    model: MeterModel,
    b: &[u8],
    utc_offset_s: i32,
) -> Result<Vec<MaxDemand>, IdError> {
    let n = model.md_count();
    check_len(MD, b, n * 12)?;
    let mut out = Vec::new();
    for i in 0..n {
        let e = &b[i * 12..i * 12 + 12];
        let Some((c, name, unit)) = source_info(model, e[4]) else {
            continue;
        };
        let v = bcd(MD, &e[5..12], i * 12 + 5)?;
        let rank = i % 3;
        let obis = ObisCode::new(
            1,
            0,
            c,
            6,
            if rank == 0 { 0 } else { 127 + rank as u8 },
            255,
        );
        if out.iter().any(|m: &MaxDemand| m.obis == obis) {
            continue;
        }
        out.push(MaxDemand {
            obis,
            name: format!("{name} maximum demand #{}", rank + 1),
            value: Quantity::new(v as i64, -3, unit.demand()),
            time: local_epoch(&e[..4]).map(|t| local_to_utc(t, utc_offset_s)),
        });
    }
    Ok(out)
}

/// Encodes 510 from (source, time, value mW) entries, three per source.
pub fn encode_md(model: MeterModel, entries: &[(u8, Option<NaiveDateTime>, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..model.md_count() {
        match entries.get(i) {
            Some((src, t, v)) => {
                out.extend(to_local_epoch(*t));
                out.push(*src);
                out.extend(to_bcd_le(*v, 7));
            }
            None => {
                out.extend([0u8; 4]);
                out.push(0xFF);
                out.extend([0u8; 7]);
            }
        }
    }
    out
}

/// Decodes the CT ratio (616): A1140 big-endian binary hundredths, A1700 BCD-LE hundredths.
pub fn decode_ct(model: MeterModel, b: &[u8]) -> Result<TransformerRatio, IdError> {
    let len = model.id_len(CT_RATIO).unwrap_or(8);
    check_len(CT_RATIO, b, len)?;
    let (p, s) = match model {
        MeterModel::A1140 => (
            u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            u64::from(u32::from_be_bytes([b[4], b[5], b[6], b[7]])),
        ),
        MeterModel::A1700 => (bcd(CT_RATIO, &b[..4], 0)?, bcd(CT_RATIO, &b[4..6], 4)?),
    };
    Ok(TransformerRatio {
        primary: Quantity::new(p as i64, -2, Unit::Ampere),
        secondary: Quantity::new(s as i64, -2, Unit::Ampere),
    })
}

pub fn encode_ct(model: MeterModel, primary_centi: u32, secondary_centi: u32) -> Vec<u8> {
    match model {
        MeterModel::A1140 => {
            let mut v = primary_centi.to_be_bytes().to_vec();
            v.extend(secondary_centi.to_be_bytes());
            v
        }
        MeterModel::A1700 => {
            let mut v = to_bcd_le(u64::from(primary_centi), 4);
            v.extend(to_bcd_le(u64::from(secondary_centi), 2));
            v
        }
    }
}

/// Decodes the A1700 VT ratio (614): 4 + 3 bytes BCD-LE hundredths.
pub fn decode_vt(b: &[u8]) -> Result<TransformerRatio, IdError> {
    check_len(VT_RATIO, b, 7)?;
    Ok(TransformerRatio {
        primary: Quantity::new(bcd(VT_RATIO, &b[..4], 0)? as i64, -2, Unit::Volt),
        secondary: Quantity::new(bcd(VT_RATIO, &b[4..7], 4)? as i64, -2, Unit::Volt),
    })
}

/// Decodes the system status word(s) of 724 into words (the A1700 bit table of §5.5.7; the
/// A1140's bits are not published, so they are reported by number).
pub fn decode_status(model: MeterModel, b: &[u8]) -> Result<Vec<String>, IdError> {
    check_len(STATUS, b, 4)?;
    let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let names: [&str; 32] = [
        "meter transient reset",
        "time synchronisation",
        "meter comms write event",
        "",
        "",
        "",
        "",
        "",
        "phase A failure",
        "phase B failure",
        "phase C failure",
        "phase A over-current",
        "phase B over-current",
        "phase C over-current",
        "reverse run",
        "meter comms write session",
        "module A hot-swap detected",
        "module B hot-swap detected",
        "RTC device failure",
        "RTC not incrementing",
        "ASIC device failure",
        "ASIC int B event",
        "elapsed battery failure",
        "power-up battery failure",
        "billing reset",
        "last power-down incomplete",
        "meter power-down event",
        "OB device failure",
        "OB transient reset",
        "OB battery fail",
        "normal register backup used",
        "backup register set corrupt",
    ];
    let mut out = Vec::new();
    for (bit, name) in names.iter().enumerate() {
        if word & (1 << bit) != 0 {
            match model {
                MeterModel::A1700 if !name.is_empty() => out.push(name.to_string()),
                _ => out.push(format!("status bit {bit}")),
            }
        }
    }
    if model == MeterModel::A1140 && b.len() >= 8 {
        let err = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        for bit in 0..32 {
            if err & (1 << bit) != 0 {
                out.push(format!("system error bit {bit}"));
            }
        }
    }
    Ok(out)
}

/// Decodes the load-profile configuration: the channel mask (777, high byte first) and the
/// integration period (878: the A1140 code table in byte 0, BCD minutes on the A1700). Returns
/// the channels and the period in minutes.
pub fn decode_profile_config(
    model: MeterModel,
    mask: &[u8],
    integration: &[u8],
) -> Result<(Vec<metermaster_model::Channel>, u32), IdError> {
    check_len(PROFILE_MASK, mask, 2)?;
    check_len(INTEGRATION, integration, 3)?;
    let m = u16::from_be_bytes([mask[0], mask[1]]);
    let channels = crate::profile::channel_bits(model, m)
        .into_iter()
        .map(|b| crate::profile::channel_info(model, b))
        .collect();
    let minutes = match model {
        MeterModel::A1140 => crate::profile::PERIOD_MINUTES
            .get(usize::from(integration[0] & 0x0F))
            .copied()
            .ok_or_else(|| {
                id_err(
                    INTEGRATION,
                    format!("unknown period code {:#04x}", integration[0]),
                )
            })?,
        MeterModel::A1700 => crate::codec::bcd_byte(integration[0])
            .map(u32::from)
            .filter(|m| *m > 0)
            .ok_or_else(|| id_err(INTEGRATION, "period is not BCD minutes"))?,
    };
    Ok((channels, minutes))
}

/// A decoded single-event log: count and the (up to three) latest times, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    pub kind: EventKind,
    pub count: u32,
    pub times: Vec<(NaiveDateTime, Option<u8>)>,
}

/// The event-log ids of a model and the event each records.
pub fn event_log_ids(model: MeterModel) -> &'static [(u16, EventKind)] {
    match model {
        MeterModel::A1140 => &[
            (691, EventKind::TerminalCoverOpened),
            (692, EventKind::MainCoverOpened),
            (693, EventKind::PhaseFailure),
            (694, EventKind::ReverseRun),
            (695, EventKind::PowerFailure),
            (696, EventKind::TransientReset),
            (697, EventKind::InternalBatteryFailure),
            (699, EventKind::BillingReset),
            (701, EventKind::MeterError),
        ],
        MeterModel::A1700 => &[
            (693, EventKind::PhaseFailure),
            (694, EventKind::ReverseRun),
            (695, EventKind::PowerFailure),
        ],
    }
}

/// Decodes a count + three times (+ three info bytes) log (§7.1, §7.4).
pub fn decode_event_log(id: u16, kind: EventKind, b: &[u8]) -> Result<EventLog, IdError> {
    check_len(id, b, 14)?;
    let count = u32::from(u16::from_le_bytes([b[0], b[1]]));
    let mut times = Vec::new();
    for k in 0..3 {
        if let Some(t) = local_epoch(&b[2 + 4 * k..6 + 4 * k]) {
            times.push((t, b.get(14 + k).copied().filter(|_| b.len() >= 17)));
        }
    }
    Ok(EventLog { kind, count, times })
}

pub fn encode_event_log(count: u32, times: &[(NaiveDateTime, u8)], with_info: bool) -> Vec<u8> {
    let mut out = (count.min(0xFFFF) as u16).to_le_bytes().to_vec();
    for k in 0..3 {
        out.extend(to_local_epoch(times.get(k).map(|t| t.0)));
    }
    if with_info {
        for k in 0..3 {
            out.push(times.get(k).map_or(0, |t| t.1));
        }
    }
    out
}

/// Words for the info byte of a phase-failure or billing-trigger log.
pub fn event_detail(kind: EventKind, model: MeterModel, info: u8) -> Option<String> {
    match kind {
        EventKind::PhaseFailure => {
            if model == MeterModel::A1700 {
                return Some(format!("phase {info}"));
            }
            let phases: Vec<&str> = [(1, "A"), (2, "B"), (4, "C")]
                .iter()
                .filter(|(b, _)| info & b != 0)
                .map(|(_, n)| *n)
                .collect();
            Some(format!("phases {}", phases.join("")))
        }
        EventKind::BillingReset => metermaster_model::billing_trigger_text(u64::from(info)),
        _ => None,
    }
}

impl EventLog {
    pub fn counter(&self) -> EventCounter {
        EventCounter {
            kind: self.kind,
            count: self.count,
        }
    }

    pub fn events(&self, model: MeterModel, utc_offset_s: i32) -> Vec<metermaster_model::Event> {
        self.times
            .iter()
            .map(|(t, info)| metermaster_model::Event {
                time: local_to_utc(*t, utc_offset_s),
                kind: self.kind,
                detail: info.and_then(|i| event_detail(self.kind, model, i)),
            })
            .collect()
    }
}

/// Decodes the programming log 680 (A1140: count, three times, ports, names; A1700: count and
/// three times).
pub fn decode_programming(
    model: MeterModel,
    b: &[u8],
    utc_offset_s: i32,
) -> Result<ProgrammingLog, IdError> {
    let len = model.id_len(PROGRAMMING_LOG).unwrap_or(14);
    check_len(PROGRAMMING_LOG, b, len)?;
    let count = u32::from(u16::from_le_bytes([b[0], b[1]]));
    let mut records = Vec::new();
    for k in 0..3 {
        let Some(t) = local_epoch(&b[2 + 4 * k..6 + 4 * k]) else {
            continue;
        };
        let (user, port) = if model == MeterModel::A1140 {
            let port = match b[14 + k] {
                0 => "optical",
                1 => "remote",
                _ => "unknown",
            };
            (ascii(&b[17 + 12 * k..29 + 12 * k]), Some(port.to_string()))
        } else {
            (String::new(), None)
        };
        records.push(ProgrammingRecord {
            time: local_to_utc(t, utc_offset_s),
            user,
            scheme: None,
            port,
        });
    }
    Ok(ProgrammingLog { count, records })
}

/// Encodes 680 from the count and up to three (time, port, user) records, newest first.
pub fn encode_programming(
    model: MeterModel,
    count: u32,
    recs: &[(NaiveDateTime, u8, String)],
) -> Vec<u8> {
    let mut out = (count.min(0xFFFF) as u16).to_le_bytes().to_vec();
    for k in 0..3 {
        out.extend(to_local_epoch(recs.get(k).map(|r| r.0)));
    }
    if model == MeterModel::A1140 {
        for k in 0..3 {
            out.push(recs.get(k).map_or(0, |r| r.1));
        }
        for k in 0..3 {
            out.extend(crate::codec::padded_ascii(
                recs.get(k).map_or("", |r| r.2.as_str()),
                12,
            ));
        }
    }
    out
}

/// An A1700 instantaneous-value request code: phase nibble | quantity (§5.5.8).
pub fn instant_code(q: InstantQuantity, phase: Phase) -> u8 {
    let p = match phase {
        Phase::Total => 0x00,
        Phase::L1 => 0x10,
        Phase::L2 => 0x20,
        Phase::L3 => 0x40,
    };
    let k = match q {
        InstantQuantity::Current => 0x01,
        InstantQuantity::Voltage => 0x02,
        InstantQuantity::PowerFactor => 0x03,
        InstantQuantity::ActivePower => 0x04,
        InstantQuantity::ReactivePower => 0x05,
        InstantQuantity::ApparentPower => 0x06,
        InstantQuantity::PhaseRotation => 0x07,
        InstantQuantity::Frequency => 0x08,
        InstantQuantity::PhaseAngle => 0x09,
    };
    p | k
}

pub fn instant_from_code(code: u8) -> Option<(InstantQuantity, Phase)> {
    let phase = match code & 0x70 {
        0x00 => Phase::Total,
        0x10 => Phase::L1,
        0x20 => Phase::L2,
        0x40 => Phase::L3,
        _ => return None,
    };
    let q = match code & 0x0F {
        0x01 | 0x0A => InstantQuantity::Current,
        0x02 | 0x0B => InstantQuantity::Voltage,
        0x03 => InstantQuantity::PowerFactor,
        0x04 | 0x0C => InstantQuantity::ActivePower,
        0x05 | 0x0D => InstantQuantity::ReactivePower,
        0x06 | 0x0E => InstantQuantity::ApparentPower,
        0x07 => InstantQuantity::PhaseRotation,
        0x08 => InstantQuantity::Frequency,
        0x09 => InstantQuantity::PhaseAngle,
        _ => return None,
    };
    Some((q, phase))
}

pub fn instant_unit(q: InstantQuantity) -> Unit {
    match q {
        InstantQuantity::Voltage => Unit::Volt,
        InstantQuantity::Current => Unit::Ampere,
        InstantQuantity::ActivePower => Unit::Watt,
        InstantQuantity::ReactivePower => Unit::Var,
        InstantQuantity::ApparentPower => Unit::VoltAmpere,
        InstantQuantity::Frequency => Unit::Hertz,
        InstantQuantity::PhaseAngle => Unit::Degree,
        InstantQuantity::PowerFactor | InstantQuantity::PhaseRotation => Unit::None,
    }
}

/// Decodes one 7-byte instantaneous value: format byte (sign, decimals) and 12 BCD digits.
/// Powers come in kW/kvar/kVA and are returned in W/var/VA. `None` = not available.
pub fn decode_instant(code: u8, b: &[u8]) -> Result<Option<InstantValue>, IdError> {
    check_len(INSTANT_VALUES, b, 7)?;
    if b[0] == 0xFF {
        return Ok(None);
    }
    let Some((q, phase)) = instant_from_code(code) else {
        return Err(id_err(
            INSTANT_VALUES,
            format!("unknown request code {code:#04x}"),
        ));
    };
    let d = b[0] & 0x07;
    if d >= 5 {
        return Err(id_err(INSTANT_VALUES, "value overflow"));
    }
    let digits = bcd_be(&b[1..7]).ok_or_else(|| id_err(INSTANT_VALUES, "value not BCD"))?;
    let mut raw = digits as i64;
    if b[0] & 0x80 != 0 {
        raw = -raw;
    }
    let mut scale = -(4 - d as i8);
    if matches!(
        q,
        InstantQuantity::ActivePower
            | InstantQuantity::ReactivePower
            | InstantQuantity::ApparentPower
    ) {
        scale += 3;
    }
    Ok(Some(InstantValue {
        quantity: q,
        phase,
        value: Quantity::new(raw, scale, instant_unit(q)),
    }))
}

/// Encodes a value given in units × 10^-4 (for powers: k-units × 10^-4) with four decimals.
pub fn encode_instant(value_e4: i64) -> [u8; 7] {
    let mut out = [0u8; 7];
    out[0] = if value_e4 < 0 { 0x80 } else { 0 };
    let digits = crate::codec::to_bcd_be(value_e4.unsigned_abs(), 6);
    out[1..].copy_from_slice(&digits);
    out
}

/// One billing (or daily) history set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySet {
    pub reset: Option<NaiveDateTime>,
    pub registers: Vec<Register>,
    pub max_demands: Vec<MaxDemand>,
    /// Billing trigger bits (§7.1).
    pub trigger: u8,
}

/// Decodes a billing or daily history set: cumulative registers, TOU, CMD, MD, reset time;
/// `None` for a set never filled.
pub fn decode_history_set(
    model: MeterModel,
    id: u16,
    b: &[u8],
    utc_offset_s: i32,
) -> Result<Option<HistorySet>, IdError> {
    let len = model.history_set_len();
    check_len(id, b, len)?;
    let wrap = |e: IdError| id_err(id, format!("history set: {}", e));
    match model {
        MeterModel::A1140 => {
            let reset = local_epoch(&b[453..457]);
            if reset.is_none() && b[..128].iter().all(|&x| x == 0) {
                return Ok(None);
            }
            let mut regs = decode_cumulative(model, &b[..128]).map_err(wrap)?;
            regs.extend(decode_tou(model, &b[128..192], &b[256..264]).map_err(wrap)?);
            regs.extend(decode_cmd(model, &b[272..308]).map_err(wrap)?);
            let md = decode_md(model, &b[308..452], utc_offset_s).map_err(wrap)?;
            Ok(Some(HistorySet {
                reset,
                registers: regs,
                max_demands: md,
                trigger: b[452],
            }))
        }
        MeterModel::A1700 => {
            let info = &b[600..615];
            let reset = local_epoch(&info[11..15]);
            if reset.is_none() && b[..80].iter().all(|&x| x == 0) {
                return Ok(None);
            }
            let regs = decode_cumulative(model, &b[..80]).map_err(wrap)?;
            let md = decode_md(model, &b[312..600], utc_offset_s).map_err(wrap)?;
            Ok(Some(HistorySet {
                reset,
                registers: regs,
                max_demands: md,
                trigger: info[10],
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::from_hex;

    #[test]
    fn models_from_recorded_idents() {
        assert_eq!(
            MeterModel::from_ident("120510070213@000"),
            Some(MeterModel::A1140)
        );
        assert_eq!(
            MeterModel::from_ident("090100010300@000"),
            Some(MeterModel::A1700)
        );
        assert_eq!(MeterModel::from_ident("XYZ"), None);
    }

    #[test]
    fn guide_a1140_registers() {
        // Guide §8.3 lines 12 and 14.
        let mut b = from_hex(b"90785634120000000000000000000000009078560400000000000000000000000000000000000000005076980000000000000000130000000000000000000000").unwrap();
        b.extend([0u8; 64]);
        let regs = decode_cumulative(MeterModel::A1140, &b).unwrap();
        let get = |c| {
            regs.iter()
                .find(|r| r.obis == ObisCode::elec(c, 8, 0))
                .unwrap()
                .value
        };
        assert_eq!(get(1), Quantity::new(1_234_567_890, -3, Unit::WattHour));
        assert_eq!(get(5), Quantity::new(456_789_000, -3, Unit::VarHour));
        assert_eq!(get(8), Quantity::new(98_765_000, -3, Unit::VarHour));
        assert_eq!(
            get(9),
            Quantity::new(1_300_000_000, -3, Unit::VoltAmpereHour)
        );
        assert_eq!(regs.len(), 10);
    }

    #[test]
    fn recorded_a1700_registers() {
        // Guide §8.2 c): a recorded A1700 507 reply.
        let b = from_hex(b"00445103000000000088190000000000006808010000000000641000000000000044000000000000008440010000000000721405000000000052490200000000").unwrap();
        let mut full = b.clone();
        full.extend([0u8; 16]);
        let regs = decode_cumulative(MeterModel::A1700, &full).unwrap();
        let vals: Vec<i64> = regs.iter().map(|r| r.value.raw).collect();
        assert_eq!(
            &vals[..8],
            &[
                3_514_400, 198_800, 1_086_800, 106_400, 4_400, 1_408_400, 5_147_200, 2_495_200
            ]
        );
    }

    #[test]
    fn connexo_counter_vectors() {
        // Guide §7.7 (A1700).
        let log = decode_programming(
            MeterModel::A1700,
            &from_hex(b"0B006C70C44D0D75A84DF3A74D4C").unwrap(),
            0,
        )
        .unwrap();
        assert_eq!(log.count, 11);
        let t: Vec<String> = log
            .records
            .iter()
            .map(|r| r.time.format("%F %T").to_string())
            .collect();
        assert_eq!(
            t,
            [
                "2011-05-06 22:04:28",
                "2011-04-15 16:40:45",
                "2010-07-26 15:21:23"
            ]
        );
        let pf = decode_event_log(
            693,
            EventKind::PhaseFailure,
            &from_hex(b"300093227F4D30227F4DC6217F4D030201").unwrap(),
        )
        .unwrap();
        assert_eq!(pf.count, 48);
        assert_eq!(pf.times[0].0.to_string(), "2011-03-15 08:25:55");
        assert_eq!(pf.times[2].1, Some(1));
        let rr = decode_event_log(
            695,
            EventKind::PowerFailure,
            &from_hex(b"6D00FABBC24DDF77C24D53A9B64D").unwrap(),
        )
        .unwrap();
        assert_eq!(rr.count, 109);
        assert_eq!(rr.times[1].0.to_string(), "2011-05-05 10:11:43");
    }

    #[test]
    fn programming_log_round_trip() {
        let t = NaiveDateTime::parse_from_str("2024-03-05 10:00:00", "%F %T").unwrap();
        let b = encode_programming(MeterModel::A1140, 7, &[(t, 0, "Elster".into())]);
        assert_eq!(b.len(), 53);
        let log = decode_programming(MeterModel::A1140, &b, 0).unwrap();
        assert_eq!(log.count, 7);
        assert_eq!(log.records[0].user, "Elster");
        assert_eq!(log.records[0].port.as_deref(), Some("optical"));
        assert_eq!(log.records.len(), 1);
    }

    #[test]
    fn instantaneous_values() {
        let v = decode_instant(0x1B, &encode_instant(2_301_234))
            .unwrap()
            .unwrap();
        assert_eq!(v.value, Quantity::new(2_301_234, -4, Unit::Volt));
        assert_eq!(v.phase, Phase::L1);
        let p = decode_instant(0x0C, &encode_instant(-15_000))
            .unwrap()
            .unwrap();
        assert_eq!(p.value.decimal_string(), "-1500.0");
        assert_eq!(decode_instant(0x0C, &[0xFF; 7]).unwrap(), None);
    }

    #[test]
    fn profile_configuration() {
        let (ch, min) =
            decode_profile_config(MeterModel::A1140, &[0x00, 0x27], &[0x07, 0, 0]).unwrap();
        assert_eq!(min, 15);
        let names: Vec<&str> = ch.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "active import",
                "active export",
                "reactive Q1",
                "reactive Q4"
            ]
        );
        let (ch, min) =
            decode_profile_config(MeterModel::A1700, &[0x00, 0x03], &[0x30, 0x30, 1]).unwrap();
        assert_eq!((ch.len(), min), (2, 30));
        assert!(decode_profile_config(MeterModel::A1140, &[0, 1], &[0x0F, 0, 0]).is_err());
    }

    #[test]
    fn bad_bcd_names_the_id() {
        let err = decode_cumulative(MeterModel::A1140, &[0xAA; 128]).unwrap_err();
        assert_eq!(err.to_string(), "data id 507: byte 0: not packed BCD");
        let err = decode_cumulative(MeterModel::A1140, &[0; 5]).unwrap_err();
        assert_eq!(err.to_string(), "data id 507: expected 128 bytes, got 5");
    }
}
