//! The `Reading`: everything one session with one meter produced, and its parts.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{IntervalStatus, ObisCode, Quantity, Unit};

/// Who the meter is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MeterIdentity {
    /// The meter's serial number as it reports it.
    pub serial: String,
    /// The address used to reach it (IEC 62056-21 device address, DLMS server address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Manufacturer code (`GEC` for Elster FLAG meters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Meter model (`A1140`, `A1700` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The identification string the meter sent on sign-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ident: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// The id of the tariff scheme / configuration programmed into the meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme_id: Option<String>,
    /// DLMS: the meter's system title (8 bytes, in hex), when the association told it: another
    /// name of the meter (the store keeps it as an alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_title: Option<String>,
}

/// The meter's clock as read, and how far it is from the master's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// The meter's wall-clock time as it shows it.
    pub meter_local: NaiveDateTime,
    /// The offset of the meter's wall clock from UTC, in seconds, at the time read.
    pub utc_offset_s: i32,
    /// The meter's time in UTC.
    pub meter_time: DateTime<Utc>,
    /// The master's clock when the meter's clock was read.
    pub master_time: DateTime<Utc>,
    /// Meter minus master, in seconds: positive when the meter is fast.
    pub drift_s: f64,
}

/// A cumulative or rate register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    pub obis: ObisCode,
    /// What the register holds, in words (`active import, rate 2`).
    pub name: String,
    pub value: Quantity,
}

/// A maximum demand and when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxDemand {
    pub obis: ObisCode,
    pub name: String,
    pub value: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
}

/// The registers frozen at the end of a billing period (or of a day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingPeriod {
    /// 0 = the most recent.
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    pub registers: Vec<Register>,
    #[serde(default)]
    pub max_demands: Vec<MaxDemand>,
}

/// One channel of a load profile. Values are `raw × 10^scale` in `unit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub obis: ObisCode,
    pub name: String,
    pub unit: Unit,
    pub scale: i8,
}

/// One load-profile interval: `[start, start + seconds)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub seconds: u32,
    pub status: IntervalStatus,
    /// Raw values, one per channel, at the channel's scale.
    pub values: Vec<i64>,
}

impl Interval {
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::seconds(i64::from(self.seconds))
    }
}

/// A load profile: channels and the intervals recorded for them, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProfile {
    /// The configured interval length in seconds.
    pub interval_s: u32,
    pub channels: Vec<Channel>,
    pub intervals: Vec<Interval>,
}

impl LoadProfile {
    /// The energy of one channel over one interval, exact, in the channel's energy unit with
    /// the returned scale. Demand channels (W, var, VA) are integrated over the interval
    /// length; energy channels are returned as they are.
    pub fn interval_energy(&self, interval: &Interval, channel: usize) -> Option<Quantity> {
        let ch = self.channels.get(channel)?;
        let raw = *interval.values.get(channel)?;
        if ch.unit.energy() == ch.unit {
            return Some(Quantity::new(raw, ch.scale, ch.unit));
        }
        // raw [10^scale W] × seconds / 3600 = Wh. Keep it exact by carrying the division into
        // the scale where it divides evenly, else three more decimals.
        let num = i128::from(raw) * i128::from(interval.seconds);
        for extra in 0..=6i8 {
            let p = 10i128.pow(u32::from(extra.unsigned_abs()));
            if (num * p) % 3600 == 0 {
                let v = i64::try_from(num * p / 3600).ok()?;
                return Some(Quantity::new(v, ch.scale - extra, ch.unit.energy()));
            }
        }
        None
    }
}

#[derive(Serialize, Deserialize)]
struct IntervalRepr {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    #[serde(default)]
    status: IntervalStatus,
    values: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct LoadProfileRepr {
    interval_s: u32,
    channels: Vec<Channel>,
    intervals: Vec<IntervalRepr>,
}

impl Serialize for LoadProfile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let intervals = self
            .intervals
            .iter()
            .map(|iv| IntervalRepr {
                start: iv.start,
                end: iv.end(),
                status: iv.status,
                values: iv
                    .values
                    .iter()
                    .zip(&self.channels)
                    .map(|(v, ch)| Quantity::new(*v, ch.scale, ch.unit).to_f64())
                    .collect(),
            })
            .collect();
        LoadProfileRepr {
            interval_s: self.interval_s,
            channels: self.channels.clone(),
            intervals,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LoadProfile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = LoadProfileRepr::deserialize(d)?;
        let mut intervals = Vec::with_capacity(r.intervals.len());
        for iv in r.intervals {
            if iv.values.len() != r.channels.len() {
                return Err(D::Error::custom(format!(
                    "interval at {} has {} values for {} channels",
                    iv.start,
                    iv.values.len(),
                    r.channels.len()
                )));
            }
            let seconds = u32::try_from((iv.end - iv.start).num_seconds()).map_err(|_| {
                D::Error::custom(format!("interval at {} ends before it starts", iv.start))
            })?;
            let values = iv
                .values
                .iter()
                .zip(&r.channels)
                .map(|(v, ch)| {
                    let raw = (v * 10f64.powi(-i32::from(ch.scale))).round();
                    if raw.is_finite() && raw.abs() < 9.0e15 {
                        Ok(raw as i64)
                    } else {
                        Err(D::Error::custom(format!("value {v} out of range")))
                    }
                })
                .collect::<Result<_, _>>()?;
            intervals.push(Interval {
                start: iv.start,
                seconds,
                status: iv.status,
                values,
            });
        }
        Ok(LoadProfile {
            interval_s: r.interval_s,
            channels: r.channels,
            intervals,
        })
    }
}

/// What kind of event a meter recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    PowerDown,
    PowerUp,
    PowerFailure,
    ReverseRun,
    PhaseFailure,
    OverCurrent,
    TerminalCoverOpened,
    MainCoverOpened,
    TransientReset,
    InternalBatteryFailure,
    ExternalBatteryFailure,
    BillingReset,
    MeterError,
    ClockSet,
    Programming,
    CtRatioChange,
    ProfileCleared,
    ConfigurationChange,
    CommunicationsFailure,
}

impl EventKind {
    pub fn describe(self) -> &'static str {
        match self {
            EventKind::PowerDown => "power down",
            EventKind::PowerUp => "power up",
            EventKind::PowerFailure => "power failure",
            EventKind::ReverseRun => "reverse run",
            EventKind::PhaseFailure => "phase failure",
            EventKind::OverCurrent => "over-current",
            EventKind::TerminalCoverOpened => "terminal cover opened",
            EventKind::MainCoverOpened => "main cover opened",
            EventKind::TransientReset => "transient reset",
            EventKind::InternalBatteryFailure => "internal battery failure",
            EventKind::ExternalBatteryFailure => "external battery failure",
            EventKind::BillingReset => "billing reset",
            EventKind::MeterError => "meter error",
            EventKind::ClockSet => "clock set",
            EventKind::Programming => "programming",
            EventKind::CtRatioChange => "CT ratio change",
            EventKind::ProfileCleared => "load profile cleared",
            EventKind::ConfigurationChange => "configuration change",
            EventKind::CommunicationsFailure => "communications failure",
        }
    }
}

/// One event from a meter's logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub time: DateTime<Utc>,
    pub kind: EventKind,
    /// Extra detail the log carries (affected phases, billing trigger ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A meter's running count of one kind of event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounter {
    pub kind: EventKind,
    pub count: u32,
}

/// One programming session recorded inside the meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammingRecord {
    pub time: DateTime<Utc>,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The port the session came in on (`optical`, `remote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

/// The meter's programming counter and the records it keeps (most recent first).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProgrammingLog {
    pub count: u32,
    pub records: Vec<ProgrammingRecord>,
}

/// A phase, or the total over all phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Total,
    L1,
    L2,
    L3,
}

/// What an instantaneous value measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstantQuantity {
    Voltage,
    Current,
    ActivePower,
    ReactivePower,
    ApparentPower,
    PowerFactor,
    Frequency,
    PhaseAngle,
    PhaseRotation,
}

/// One instantaneous value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstantValue {
    pub quantity: InstantQuantity,
    pub phase: Phase,
    pub value: Quantity,
}

/// A CT or VT ratio, primary : secondary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformerRatio {
    pub primary: Quantity,
    pub secondary: Quantity,
}

/// A part of a reading that was asked for and could not be read, and why: an access level that
/// may not see it, a meter that does not keep it. `part` names the Reading's field (`events`,
/// `event_counters`, `programming`, `load_profile`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    pub part: String,
    pub reason: String,
}

/// Everything one session with one meter produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub meter: MeterIdentity,
    /// `flag`, `dlms`, or the file format it came from.
    pub protocol: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockInfo>,
    #[serde(default)]
    pub registers: Vec<Register>,
    #[serde(default)]
    pub max_demands: Vec<MaxDemand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_profile: Option<LoadProfile>,
    #[serde(default)]
    pub events: Vec<Event>,
    #[serde(default)]
    pub event_counters: Vec<EventCounter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programming: Option<ProgrammingLog>,
    #[serde(default)]
    pub instantaneous: Vec<InstantValue>,
    #[serde(default)]
    pub billing_history: Vec<BillingPeriod>,
    #[serde(default)]
    pub daily_history: Vec<BillingPeriod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct_ratio: Option<TransformerRatio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vt_ratio: Option<TransformerRatio>,
    /// Status conditions the meter reported, in words.
    #[serde(default)]
    pub status: Vec<String>,
    /// Parts asked for that could not be read, with the reason (none: everything asked for
    /// was read; readings written before this field have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
}

impl Reading {
    /// An empty reading of a meter, started now.
    pub fn new(meter: MeterIdentity, protocol: &str, started: DateTime<Utc>) -> Self {
        Reading {
            meter,
            protocol: protocol.to_string(),
            started,
            finished: started,
            clock: None,
            registers: Vec::new(),
            max_demands: Vec::new(),
            load_profile: None,
            events: Vec::new(),
            event_counters: Vec::new(),
            programming: None,
            instantaneous: Vec::new(),
            billing_history: Vec::new(),
            daily_history: Vec::new(),
            ct_ratio: None,
            vt_ratio: None,
            status: Vec::new(),
            unreadable: Vec::new(),
        }
    }

    pub fn register(&self, obis: ObisCode) -> Option<&Register> {
        self.registers.iter().find(|r| r.obis == obis)
    }
}

/// What ended a billing period, from the trigger bits Elster meters (and metermaster's simulated
/// meters, over either protocol) keep: 0x01 billing date, 0x02 season change, 0x04 tariff
/// changeover, 0x08 serial port, 0x10 optical port, 0x20 billing button, 0x40 CT-ratio change,
/// 0x80 power-up. `None` when no bit is set.
pub fn billing_trigger_text(bits: u64) -> Option<String> {
    const NAMES: [&str; 8] = [
        "billing date",
        "season change",
        "tariff changeover",
        "serial port",
        "optical port",
        "billing button",
        "CT-ratio change",
        "power-up",
    ];
    let t: Vec<&str> = (0..8)
        .filter(|b| bits & (1 << b) != 0)
        .map(|b| NAMES[b])
        .collect();
    (!t.is_empty()).then(|| t.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn profile() -> LoadProfile {
        let t0 = Utc.with_ymd_and_hms(2024, 3, 5, 0, 0, 0).unwrap();
        LoadProfile {
            interval_s: 1800,
            channels: vec![Channel {
                obis: ObisCode::elec(1, 5, 0),
                name: "active import".into(),
                unit: Unit::Watt,
                scale: -3,
            }],
            intervals: vec![Interval {
                start: t0,
                seconds: 1800,
                status: IntervalStatus::POWER_UP,
                values: vec![1_234_000],
            }],
        }
    }

    #[test]
    fn demand_integrates_to_exact_energy() {
        let p = profile();
        let e = p.interval_energy(&p.intervals[0], 0).unwrap();
        assert_eq!(e, Quantity::new(617_000, -3, Unit::WattHour));
        let odd = Interval {
            seconds: 60,
            values: vec![1],
            ..p.intervals[0].clone()
        };
        // 1 mW for 60 s = 1/60 mWh: not a terminating decimal, refused rather than rounded.
        assert_eq!(p.interval_energy(&odd, 0), None);
        assert_eq!(
            p.interval_energy(
                &Interval {
                    seconds: 60,
                    values: vec![60],
                    ..p.intervals[0].clone()
                },
                0
            )
            .unwrap(),
            Quantity::new(1, -3, Unit::WattHour)
        );
    }

    #[test]
    fn profile_json_round_trip_is_exact() {
        let p = profile();
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["intervals"][0]["values"][0], serde_json::json!(1234.0));
        assert_eq!(j["intervals"][0]["status"], serde_json::json!(["power_up"]));
        let back: LoadProfile = serde_json::from_value(j).unwrap();
        assert_eq!(back, p);
    }
}
