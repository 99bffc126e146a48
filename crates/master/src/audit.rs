//! A meter's own record of who programmed it and when.

use chrono::{DateTime, Utc};

use crate::error::{MasterError, Stage};
use crate::read::{Part, ProfileSpan, ReadPlan, read_meter};
use crate::target::{MeterTarget, Protocol};

/// One programming session as the meter recorded it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub time: DateTime<Utc>,
    pub user: String,
    /// The scheme of that session: the record's own, or for the latest session the scheme in
    /// force when the meter keeps no scheme per record.
    pub scheme: Option<String>,
    pub port: Option<String>,
}

/// A meter's programming log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgrammingAudit {
    /// The serial number the meter reports.
    pub meter: String,
    /// The scheme in force now.
    pub scheme: Option<String>,
    /// The meter's programming counter.
    pub count: u32,
    /// Most recent first.
    pub records: Vec<AuditRecord>,
}

/// Reads a meter's programming counter and log (FLAG: ids 680/…; DLMS: 0.0.96.2.0.255 and
/// 0.0.99.98.10.255).
pub async fn programming_log(t: &MeterTarget) -> Result<ProgrammingAudit, MasterError> {
    let plan = ReadPlan {
        parts: Some(match t.protocol {
            Protocol::Flag => vec![Part::Programming],
            Protocol::Dlms => vec![Part::Programming, Part::Details],
        }),
        profile: ProfileSpan::Days(0),
        billing_sets: 0,
        daily_sets: 0,
    };
    let mut read = read_meter(t, &plan).await.map_err(|mut e| {
        if t.protocol == Protocol::Flag {
            e.context = e
                .context
                .replacen("reading ", "reading the programming log of ", 1);
        }
        e
    })?;
    let reading = &mut read.reading;
    if t.protocol == Protocol::Dlms {
        if reading.programming.is_none() {
            let why = format!(
                "meter {}: no programming counter (0.0.96.2.0.255) or log (0.0.99.98.10.255) readable with this client",
                reading.meter.serial
            );
            let mut e = MasterError::invalid(t.name(), why);
            e.stage = Stage::Read;
            return Err(e);
        }
        // The latest session's scheme is the one in force.
        if reading.meter.scheme_id.is_none() {
            reading.meter.scheme_id = reading
                .programming
                .as_ref()
                .and_then(|p| p.records.first())
                .and_then(|r| r.scheme.clone());
        }
    }
    let log = reading.programming.clone().unwrap_or_default();
    let scheme_now = reading
        .meter
        .scheme_id
        .clone()
        .filter(|s| !s.trim().is_empty());
    // The meter keeps the scheme in force, not one per session: the latest session's scheme is
    // the one in force now; older sessions keep theirs only where the record says.
    let records = log
        .records
        .iter()
        .enumerate()
        .map(|(k, r)| AuditRecord {
            time: r.time,
            user: r.user.clone(),
            scheme: r
                .scheme
                .clone()
                .or(if k == 0 { scheme_now.clone() } else { None }),
            port: r.port.clone(),
        })
        .collect();
    Ok(ProgrammingAudit {
        meter: reading.meter.serial.clone(),
        scheme: scheme_now,
        count: log.count,
        records,
    })
}
