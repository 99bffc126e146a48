//! Interval values one at a time, as reading files bring them in, and how trustworthy each is.

use chrono::{DateTime, Utc};

use crate::{IntervalStatus, ObisCode, Unit};

/// How trustworthy an interval value is; higher is better. 0 = no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Quality {
    Missing = 0,
    Invalid = 1,
    Estimated = 2,
    Edited = 3,
    Measured = 4,
}

impl Quality {
    pub fn from_byte(b: u8) -> Quality {
        match b {
            1 => Quality::Invalid,
            2 => Quality::Estimated,
            3 => Quality::Edited,
            4 => Quality::Measured,
            _ => Quality::Missing,
        }
    }

    /// The quality an interval's status implies.
    pub fn of_status(st: IntervalStatus) -> Quality {
        if st.contains(IntervalStatus::MISSING) {
            Quality::Missing
        } else if st.contains(IntervalStatus::INVALID) {
            Quality::Invalid
        } else if st.contains(IntervalStatus::ESTIMATED) {
            Quality::Estimated
        } else if st.contains(IntervalStatus::EDITED) {
            Quality::Edited
        } else {
            Quality::Measured
        }
    }

    /// The short flag word the CSV export writes.
    pub fn word(self) -> &'static str {
        match self {
            Quality::Missing => "missing",
            Quality::Invalid => "invalid",
            Quality::Estimated => "estimated",
            Quality::Edited => "edited",
            Quality::Measured => "measured",
        }
    }

    /// The interval status flag this quality implies, for sources that carry a quality but no
    /// status flags (files).
    pub fn status(self) -> IntervalStatus {
        match self {
            Quality::Estimated => IntervalStatus::ESTIMATED,
            Quality::Edited => IntervalStatus::EDITED,
            Quality::Invalid => IntervalStatus::INVALID,
            Quality::Missing => IntervalStatus::MISSING,
            Quality::Measured => IntervalStatus::EMPTY,
        }
    }

    pub fn from_word(w: &str) -> Option<Quality> {
        Some(match w {
            "missing" => Quality::Missing,
            "invalid" => Quality::Invalid,
            "estimated" => Quality::Estimated,
            "edited" => Quality::Edited,
            "measured" => Quality::Measured,
            _ => return None,
        })
    }
}

/// One interval value of one channel, as files and readings bring them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalRow {
    /// The meter's serial number (shared: consecutive rows of one meter share one allocation).
    pub meter: std::sync::Arc<str>,
    pub channel: ObisCode,
    pub start: DateTime<Utc>,
    pub seconds: u32,
    /// `value × 10^scale unit`.
    pub value: i64,
    pub scale: i8,
    pub unit: Unit,
    pub quality: Quality,
    pub status: IntervalStatus,
}

/// What a file said about one interval's quality beyond the quality word: the method it was
/// obtained by and why (AEMO NEM12: method `E52`, `S14`, `F`...; reason code `79`). Stored beside
/// the value; it belongs to the value of the same quality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalNote {
    pub meter: std::sync::Arc<str>,
    pub channel: ObisCode,
    pub start: DateTime<Utc>,
    pub seconds: u32,
    /// The quality of the value the note describes.
    pub quality: Quality,
    /// The quality method as written (`A`, `E52`, `S14`, `F`, `N` ...).
    pub method: String,
    /// The reason code, if any.
    pub reason: Option<String>,
    /// The reason description, if any.
    pub reason_text: Option<String>,
}
