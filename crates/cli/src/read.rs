//! `metermaster read`: read one meter now.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use metermaster_master::{
    DlmsOptions, Keeping, MeterTarget, Part, ProfileSpan, Protocol, ReadPlan, keep_reading,
};

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Where the meter is: tcp://HOST:PORT or serial:///dev/ttyUSB0?baud=300 (&fixed=1 for
    /// module ports that do not switch speed).
    pub connection: String,
    /// The device address sent in the sign-on (the serial number on a simulated bus; empty on
    /// an optical port).
    #[arg(long, default_value = "")]
    pub address: String,
    /// Protocol: flag (IEC 62056-21, Elster dialect) or dlms (DLMS/COSEM; see the DLMS
    /// options and docs/reading.md).
    #[arg(long, default_value = "flag")]
    pub protocol: Protocol,
    /// Password: FLAG, 8 characters (without it the meter is read with read-only access);
    /// DLMS, the LLS secret for --auth low.
    #[arg(long)]
    pub password: Option<String>,
    /// Days of load profile (1 = today so far; 0 = none).
    #[arg(long, conflicts_with = "since")]
    pub days: Option<u16>,
    /// Load profile since this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// The meter clock's offset from UTC, e.g. +01:00 (meters keep local standard time).
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    pub utc_offset: String,
    /// Read only these parts (comma-separated): registers, demand, details, history,
    /// programming, events, profile, instantaneous. Identity and clock are always read.
    #[arg(long, value_delimiter = ',')]
    pub only: Option<Vec<Part>>,
    /// Billing-history sets to read.
    #[arg(long, default_value_t = 1)]
    pub billing_sets: u32,
    /// Daily-history sets to read (A1140).
    #[arg(long, default_value_t = 0)]
    pub daily_sets: u32,
    /// Read packet by packet (R1) even where the binary RD stream would work.
    #[arg(long)]
    pub no_stream: bool,
    /// A plain data readout (mode C) instead of the full programming-mode read.
    #[arg(long)]
    pub readout: bool,
    /// Connections to try in all when the link drops or breaks mid-read.
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Seconds to wait for a reply before repeating the request.
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
    /// Print the Reading as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the Reading to this file: the .RES format when the name ends in `.res`
    /// (see docs/res-format.md), else JSON. The file is replaced.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Do not store the reading (by default every reading is stored, see --database).
    #[arg(long)]
    pub no_store: bool,
    /// Also write the reading to DIR/SERIAL.res (default: the configuration's
    /// `output.res_folder`).
    #[arg(long)]
    pub res_folder: Option<std::path::PathBuf>,
    /// What happens to an existing SERIAL.res: the reading is appended (a history) or the file
    /// is replaced (default: the configuration's `output.res_mode`, else append).
    #[arg(long, value_enum)]
    pub res_mode: Option<metermaster_master::ResMode>,
    #[command(flatten)]
    pub store: crate::files::StoreArgs,
    #[command(flatten)]
    pub dlms: DlmsArgs,
}

/// The options of `--protocol dlms`.
#[derive(Debug, Args)]
pub struct DlmsArgs {
    /// DLMS: the client SAP (16 = public client, 1 = management client).
    #[arg(long, default_value_t = 16)]
    pub client: u8,
    /// DLMS: the server logical device (wrapper destination wPort, HDLC upper address).
    #[arg(long, default_value_t = 1)]
    pub server: u16,
    /// DLMS over HDLC: the physical device address (HDLC lower address); without it the
    /// one-byte server address is sent. A numeric --address is taken as this too.
    #[arg(long)]
    pub physical: Option<u16>,
    /// DLMS: framing on the connection, the TCP wrapper or HDLC (default: wrapper on TCP,
    /// hdlc on serial ports and with --mode-e).
    #[arg(long, value_enum)]
    pub transport: Option<DlmsTransport>,
    /// DLMS: authentication: none, low (LLS, --password) or high (HLS-GMAC, --keys).
    #[arg(long, value_enum, default_value = "none")]
    pub auth: DlmsAuth,
    /// DLMS: a TOML file with the suite 0 keys and system title (see docs/reading.md).
    #[arg(long)]
    pub keys: Option<std::path::PathBuf>,
    /// DLMS: ciphering of the APDUs: none, global or dedicated (default: global when --keys is
    /// given, else none).
    #[arg(long, value_enum)]
    pub ciphering: Option<DlmsCiphering>,
    /// DLMS over HDLC: the information field length proposed in the SNRM (the meter answers
    /// with what it grants); 0 sends no proposal (the 128-byte default applies).
    #[arg(long, default_value_t = 2030)]
    pub hdlc_max_info: u16,
    /// DLMS over HDLC: the window proposed in the SNRM (1-7), both ways: how many frames of a
    /// segmented answer the meter may send before it waits for our RR, and of a segmented
    /// request we send before we wait for its RR (the UA may grant less).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=7))]
    pub hdlc_window: u8,
    /// DLMS on an optical port: open it with the IEC 62056-21 mode-E sign-on (300 Bd 7E1,
    /// `/?!`, option select `ACK 2 Z 2`) and switch to HDLC at the speed the meter offers.
    /// `--mode-e=ADDRESS` puts a device address into the sign-on.
    #[arg(long, value_name = "ADDRESS", num_args = 0..=1, default_missing_value = "", require_equals = true)]
    pub mode_e: Option<String>,
    /// DLMS: a TOML file mapping the meter's own event codes (those the DSMR/IDIS standard
    /// event log does not define) to event kinds; see examples/event-codes/.
    #[arg(long, value_name = "FILE")]
    pub event_codes: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DlmsTransport {
    Wrapper,
    Hdlc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DlmsAuth {
    None,
    Low,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DlmsCiphering {
    None,
    Global,
    Dedicated,
}

impl From<DlmsTransport> for metermaster_master::DlmsTransport {
    fn from(t: DlmsTransport) -> Self {
        match t {
            DlmsTransport::Wrapper => metermaster_master::DlmsTransport::Wrapper,
            DlmsTransport::Hdlc => metermaster_master::DlmsTransport::Hdlc,
        }
    }
}

impl From<DlmsAuth> for metermaster_master::DlmsAuth {
    fn from(a: DlmsAuth) -> Self {
        match a {
            DlmsAuth::None => metermaster_master::DlmsAuth::None,
            DlmsAuth::Low => metermaster_master::DlmsAuth::Low,
            DlmsAuth::High => metermaster_master::DlmsAuth::High,
        }
    }
}

impl From<DlmsCiphering> for metermaster_master::DlmsCiphering {
    fn from(c: DlmsCiphering) -> Self {
        match c {
            DlmsCiphering::None => metermaster_master::DlmsCiphering::None,
            DlmsCiphering::Global => metermaster_master::DlmsCiphering::Global,
            DlmsCiphering::Dedicated => metermaster_master::DlmsCiphering::Dedicated,
        }
    }
}

impl DlmsArgs {
    /// The DLMS session options these arguments give.
    pub fn options(&self) -> DlmsOptions {
        DlmsOptions {
            client: self.client,
            server: self.server,
            physical: self.physical,
            transport: self.transport.map(Into::into),
            auth: self.auth.into(),
            keys: self.keys.clone(),
            ciphering: self.ciphering.map(Into::into),
            hdlc_max_info: self.hdlc_max_info,
            hdlc_window: self.hdlc_window,
            mode_e: self.mode_e.clone(),
            event_codes: self.event_codes.clone(),
        }
    }
}

/// Parses a UTC offset option (`+01:00`).
pub fn parse_offset(s: &str) -> Result<i32> {
    metermaster_master::parse_utc_offset(s).map_err(anyhow::Error::msg)
}

impl ReadArgs {
    /// The meter these arguments name and how to talk to it.
    pub fn target(&self) -> Result<MeterTarget> {
        let mut t = MeterTarget::parse(&self.connection, self.protocol, self.address.clone())?;
        t.password = self.password.clone();
        t.utc_offset_s = parse_offset(&self.utc_offset)?;
        if !(self.timeout > 0.0 && self.timeout < 600.0) {
            anyhow::bail!("--timeout must be between 0 and 600 seconds");
        }
        t.timeout = Duration::from_secs_f64(self.timeout);
        t.attempts = self.attempts;
        t.flag.no_stream = self.no_stream;
        t.dlms = self.dlms.options();
        Ok(t)
    }

    /// What these arguments ask to read.
    pub fn plan(&self) -> Result<ReadPlan> {
        let profile = match (&self.since, self.days) {
            (Some(s), _) => ProfileSpan::Since(
                DateTime::parse_from_rfc3339(s)
                    .with_context(|| format!("--since {s:?} is not an RFC 3339 time"))?
                    .with_timezone(&Utc),
            ),
            (None, d) => ProfileSpan::Days(d.unwrap_or(1)),
        };
        Ok(ReadPlan {
            parts: self.only.clone(),
            profile,
            billing_sets: self.billing_sets,
            daily_sets: self.daily_sets,
        })
    }

    /// Where the reading goes besides the screen.
    fn keeping<'a>(&self, store: Option<&'a metermaster_store::AnyStore>) -> Keeping<'a> {
        Keeping {
            store: store.map(|s| (s, self.store.url())),
            out: self.out.clone(),
            res_folder: self
                .res_folder
                .as_ref()
                .map(|f| (f.clone(), self.res_mode.unwrap_or_default())),
        }
    }

    /// Fills the store and the .RES output from the configuration where the command line left
    /// them open.
    pub fn apply(&mut self, cfg: &crate::config::Config) {
        self.store.apply(cfg);
        if self.res_folder.is_none() {
            self.res_folder = cfg.output.res_folder.clone();
        }
        if self.res_mode.is_none() {
            self.res_mode = Some(cfg.output.res_mode);
        }
    }

    /// The arguments of a DLMS session for commands other than `read` (audit, time): nothing
    /// stored, no profile.
    pub fn for_dlms(
        connection: String,
        address: String,
        password: Option<String>,
        utc_offset: String,
        dlms: DlmsArgs,
    ) -> ReadArgs {
        ReadArgs {
            connection,
            address,
            protocol: Protocol::Dlms,
            password,
            days: Some(0),
            since: None,
            utc_offset,
            only: None,
            billing_sets: 0,
            daily_sets: 0,
            no_stream: false,
            readout: false,
            attempts: 3,
            timeout: 3.0,
            json: false,
            out: None,
            no_store: true,
            res_folder: None,
            res_mode: None,
            store: crate::files::StoreArgs {
                database: None,
                data_dir: None,
            },
            dlms,
        }
    }
}

pub async fn run(a: ReadArgs) -> Result<()> {
    let target = a.target()?;
    if a.readout {
        return readout(&a, &target).await;
    }
    let plan = a.plan()?;
    // Everything that will keep the reading is checked before the meter is read.
    let store = if a.no_store {
        None
    } else {
        Some(a.store.open().await?)
    };
    let keeping = a.keeping(store.as_ref());
    keeping.check(&target.name())?;
    let read = metermaster_master::read_meter(&target, &plan).await?;
    // Kept before it is shown: a closed screen never loses a reading. When it cannot be kept
    // everywhere, it is shown all the same (it may be its only copy), then the error.
    let report = match keep_reading(&read.reading, &read.origin, &keeping).await {
        Ok(r) => r,
        Err(e) => {
            println!("{}", serde_json::to_string_pretty(&read.reading)?);
            return Err(e.into());
        }
    };
    if let Some(p) = &report.res_file {
        eprintln!("written to {}", p.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&read.reading)?);
    } else {
        crate::print::reading(&read.reading, Some(&read.stats));
    }
    if let Some((new, intervals)) = report.stored {
        eprintln!(
            "stored in {} ({new} new reading, {intervals} interval values written)",
            a.store.url(),
        );
    }
    Ok(())
}

/// `--readout`: a plain data readout, printed.
async fn readout(a: &ReadArgs, target: &MeterTarget) -> Result<()> {
    let (ident, msg) = metermaster_master::data_readout(target).await?;
    if a.json {
        let (regs, _) = metermaster_flag::readout::to_registers(&msg);
        let v = serde_json::json!({
            "ident": ident,
            "registers": regs,
            "lines": msg.lines.iter().map(|l| serde_json::json!({
                "address": l.address,
                "values": l.values.iter().map(|v| serde_json::json!({"value": v.value, "unit": v.unit})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("identification  {ident}");
        for l in &msg.lines {
            let vals: Vec<String> = l
                .values
                .iter()
                .map(|v| match &v.unit {
                    Some(u) => format!("{} {u}", v.value),
                    None => v.value.clone(),
                })
                .collect();
            println!("{:<14}  {}", l.address, vals.join("  "));
        }
    }
    Ok(())
}
