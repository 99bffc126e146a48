//! [`read_meter`]: one session with one meter, whatever its protocol, giving a `Reading`.

use chrono::{DateTime, Utc};
use metermaster_flag::client::{ClientOptions, FlagClient};
use metermaster_flag::transport::Connection;
use metermaster_model::Reading;

use crate::error::{MasterError, Stage};
use crate::target::{LinkStats, MeterTarget, Protocol, dlms_open, dlms_setup, load_event_codes};

/// A part of a reading that can be asked for alone (identity and clock are always read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Registers,
    Demand,
    Details,
    History,
    Programming,
    Events,
    Profile,
    Instantaneous,
}

impl Part {
    pub const ALL: [Part; 8] = [
        Part::Registers,
        Part::Demand,
        Part::Details,
        Part::History,
        Part::Programming,
        Part::Events,
        Part::Profile,
        Part::Instantaneous,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Registers => "registers",
            Part::Demand => "demand",
            Part::Details => "details",
            Part::History => "history",
            Part::Programming => "programming",
            Part::Events => "events",
            Part::Profile => "profile",
            Part::Instantaneous => "instantaneous",
        }
    }
}

impl std::str::FromStr for Part {
    type Err = String;
    fn from_str(s: &str) -> Result<Part, String> {
        Part::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!(
                    "--only {s:?}: known parts are {}",
                    Part::ALL.map(Part::name).join(", ")
                )
            })
    }
}

/// How much load profile to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSpan {
    /// Days on the meter's clock: 1 = today so far, 0 = none.
    Days(u16),
    /// From this time on.
    Since(DateTime<Utc>),
}

/// What to read from a meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    /// The parts to read; `None` for all.
    pub parts: Option<Vec<Part>>,
    pub profile: ProfileSpan,
    /// Billing-history sets.
    pub billing_sets: u32,
    /// Daily-history sets (A1140).
    pub daily_sets: u32,
}

impl Default for ReadPlan {
    fn default() -> Self {
        ReadPlan {
            parts: None,
            profile: ProfileSpan::Days(1),
            billing_sets: 1,
            daily_sets: 0,
        }
    }
}

impl ReadPlan {
    fn has(&self, p: Part) -> bool {
        self.parts.as_ref().is_none_or(|ps| ps.contains(&p))
    }
}

/// A reading and what crossed the link to get it.
#[derive(Debug, Clone)]
pub struct MeterRead {
    pub reading: Reading,
    pub stats: LinkStats,
    /// Where the reading came from, for the store: `read tcp://… address "…"`.
    pub origin: String,
}

/// Reads one meter as the plan says, retrying a dropped or broken link up to the target's
/// `attempts`. A meter that tells no serial number is named by its connection and address.
pub async fn read_meter(target: &MeterTarget, plan: &ReadPlan) -> Result<MeterRead, MasterError> {
    target.check()?;
    match target.protocol {
        Protocol::Flag => read_flag(target, plan).await,
        Protocol::Dlms => read_dlms(target, plan).await,
    }
}

/// Whether a reported serial number names a meter: not empty, not all zeros (the factory
/// default of unprogrammed meters, which would make them all one meter).
fn has_serial(serial: &str) -> bool {
    let s = serial.trim();
    !s.is_empty() && !s.bytes().all(|b| b == b'0')
}

/// The FLAG client options of a target.
pub(crate) fn flag_client_options(t: &MeterTarget) -> ClientOptions {
    ClientOptions {
        response_timeout: t.timeout,
        use_rd: !t.flag.no_stream,
        turnaround: if matches!(t.connection, Connection::Serial { .. }) {
            std::time::Duration::from_millis(20)
        } else {
            std::time::Duration::ZERO
        },
        ..ClientOptions::default()
    }
}

async fn read_flag(t: &MeterTarget, plan: &ReadPlan) -> Result<MeterRead, MasterError> {
    use metermaster_flag::reader::{ReadOptions, read_connection};
    let copts = flag_client_options(t);
    let (profile_days, since) = match plan.profile {
        ProfileSpan::Days(d) => (d, None),
        ProfileSpan::Since(s) => {
            let local_now = metermaster_flag::codec::utc_to_local(Utc::now(), t.utc_offset_s);
            (
                metermaster_flag::reader::days_since(s, local_now, t.utc_offset_s),
                Some(s),
            )
        }
    };
    let mut opts = ReadOptions {
        address: t.address.clone(),
        password: t.password.clone(),
        profile_days,
        since,
        utc_offset_s: t.utc_offset_s,
        billing_sets: plan.billing_sets,
        daily_sets: plan.daily_sets,
        ..ReadOptions::default()
    };
    if plan.parts.is_some() {
        opts.registers = plan.has(Part::Registers);
        opts.demand = plan.has(Part::Demand);
        opts.details = plan.has(Part::Details);
        opts.programming = plan.has(Part::Programming);
        opts.events = plan.has(Part::Events);
        opts.instantaneous = plan.has(Part::Instantaneous);
        if !plan.has(Part::History) {
            opts.billing_sets = 0;
            opts.daily_sets = 0;
        }
        if !plan.has(Part::Profile) {
            opts.profile_days = 0;
        }
    }
    let conn = &t.connection;
    let (mut reading, stats) = read_connection(conn, &copts, &opts, t.attempts)
        .await
        .map_err(|e| {
            MasterError::new(
                t.name(),
                Stage::Read,
                format!("reading {conn} address {:?}", t.address),
                e,
            )
        })?;
    if !has_serial(&reading.meter.serial) {
        reading.meter.serial = t.unidentified_id();
    }
    Ok(MeterRead {
        reading,
        stats: stats.into(),
        origin: format!("read {conn} address {:?}", t.address),
    })
}

async fn read_dlms(t: &MeterTarget, plan: &ReadPlan) -> Result<MeterRead, MasterError> {
    use metermaster_dlms::client::reader::{ReadOptions, TimePolicy, read_with};
    let setup = dlms_setup(t).await?;
    let d = &t.dlms;
    let physical = setup.session.link.server_physical;
    let open = || dlms_open(&setup.conn, setup.mode_e.as_ref());
    let (profile_days, since) = match plan.profile {
        ProfileSpan::Days(d) => (d, None),
        ProfileSpan::Since(s) => (1, Some(s)),
    };
    let mut ropts = ReadOptions {
        profile_days,
        since,
        time: TimePolicy {
            fallback_utc_offset_s: setup.utc_offset_s,
            ..TimePolicy::default()
        },
        address: Some(match physical {
            Some(p) => format!("client {} server {} physical {p}", d.client, d.server),
            None => format!("client {} server {}", d.client, d.server),
        }),
        unidentified_id: Some(t.unidentified_id()),
        event_codes: match &d.event_codes {
            Some(path) => {
                load_event_codes(path).map_err(|why| MasterError::invalid(t.name(), why))?
            }
            None => Default::default(),
        },
        ..ReadOptions::default()
    };
    if plan.parts.is_some() {
        ropts.registers = plan.has(Part::Registers);
        ropts.demand = plan.has(Part::Demand);
        ropts.details = plan.has(Part::Details);
        ropts.history = plan.has(Part::History);
        ropts.events = plan.has(Part::Events);
        ropts.instantaneous = plan.has(Part::Instantaneous);
        ropts.programming = plan.has(Part::Programming);
        if !plan.has(Part::Profile) {
            ropts.profile_days = 0;
            ropts.since = None;
        }
    }
    let (mut reading, stats) = read_with(open, &setup.session, &ropts, t.attempts)
        .await
        .map_err(|e| MasterError::new(t.name(), Stage::Read, setup.what.clone(), e))?;
    if !has_serial(&reading.meter.serial) {
        reading.meter.serial = t.unidentified_id();
    }
    Ok(MeterRead {
        reading,
        stats: stats.into(),
        origin: setup.what.replacen("reading", "read", 1),
    })
}

/// A plain data readout (IEC 62056-21 mode C) of a FLAG meter: the identification line and
/// the data message.
pub async fn data_readout(
    t: &MeterTarget,
) -> Result<(String, metermaster_flag::readout::DataMessage), MasterError> {
    t.check()?;
    if t.protocol != Protocol::Flag {
        return Err(MasterError::invalid(
            t.name(),
            "--readout is an IEC 62056-21 (FLAG) data readout; it does not apply to --protocol dlms",
        ));
    }
    let what = format!("data readout of {} address {:?}", t.connection, t.address);
    let link = metermaster_flag::transport::open(&t.connection, std::time::Duration::from_secs(10))
        .await
        .map_err(|e| MasterError::new(t.name(), Stage::Connect, what.clone(), e))?;
    let mut client = FlagClient::attach(link, flag_client_options(t));
    let (ident, msg) = client
        .data_readout(&t.address)
        .await
        .map_err(|e| MasterError::new(t.name(), Stage::Read, what, e))?;
    Ok((ident.line(), msg))
}
