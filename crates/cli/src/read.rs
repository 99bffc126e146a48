//! `metermaster read`: read one meter now.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use metermaster_flag::client::{ClientOptions, FlagClient};
use metermaster_flag::reader::{ReadOptions, read_connection};
use metermaster_flag::transport::Connection;

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
    pub protocol: String,
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
    pub only: Option<Vec<String>>,
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
    pub res_mode: Option<crate::config::ResMode>,
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

/// Adds a reading to a meter's .RES output file, or replaces the file.
pub fn write_res_output(
    folder: &std::path::Path,
    mode: crate::config::ResMode,
    reading: &metermaster_model::Reading,
) -> Result<std::path::PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let name: String = reading
        .meter
        .serial
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = folder.join(format!("{name}.res"));
    let text = metermaster_res::to_res(reading);
    match mode {
        crate::config::ResMode::Overwrite => crate::write_file_atomically(&path, text.as_bytes())?,
        crate::config::ResMode::Append => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("appending to {}", path.display()))?;
        }
    }
    Ok(path)
}

pub fn parse_offset(s: &str) -> Result<i32> {
    let bad = || anyhow::anyhow!("--utc-offset {s:?} must look like +01:00 or -05:00");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

pub async fn run(a: ReadArgs) -> Result<()> {
    match a.protocol.as_str() {
        "flag" => {}
        "dlms" => return run_dlms(a).await,
        other => bail!("--protocol {other:?}: known protocols are flag and dlms"),
    }
    let conn = Connection::parse(&a.connection)?;
    let utc_offset_s = parse_offset(&a.utc_offset)?;
    if !(a.timeout > 0.0 && a.timeout < 600.0) {
        bail!("--timeout must be between 0 and 600 seconds");
    }
    let copts = ClientOptions {
        response_timeout: Duration::from_secs_f64(a.timeout),
        use_rd: !a.no_stream,
        turnaround: if matches!(conn, Connection::Serial { .. }) {
            Duration::from_millis(20)
        } else {
            Duration::ZERO
        },
        ..ClientOptions::default()
    };
    if a.readout {
        let link = conn.open(Duration::from_secs(10)).await?;
        let mut client = FlagClient::attach(link, copts);
        let (ident, msg) = client
            .data_readout(&a.address)
            .await
            .with_context(|| format!("data readout of {conn} address {:?}", a.address))?;
        if a.json {
            let (regs, _) = metermaster_flag::readout::to_registers(&msg);
            let v = serde_json::json!({
                "ident": ident.line(),
                "registers": regs,
                "lines": msg.lines.iter().map(|l| serde_json::json!({
                    "address": l.address,
                    "values": l.values.iter().map(|v| serde_json::json!({"value": v.value, "unit": v.unit})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("identification  {}", ident.line());
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
        return Ok(());
    }
    let since: Option<DateTime<Utc>> = match &a.since {
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .with_context(|| format!("--since {s:?} is not an RFC 3339 time"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let profile_days = match (a.days, since) {
        (Some(d), _) => d,
        (None, Some(s)) => {
            let local_now = metermaster_flag::codec::utc_to_local(Utc::now(), utc_offset_s);
            metermaster_flag::reader::days_since(s, local_now, utc_offset_s)
        }
        (None, None) => 1,
    };
    let mut opts = ReadOptions {
        address: a.address.clone(),
        password: a.password.clone(),
        profile_days,
        since,
        utc_offset_s,
        billing_sets: a.billing_sets,
        daily_sets: a.daily_sets,
        ..ReadOptions::default()
    };
    if let Some(parts) = &a.only {
        const KNOWN: [&str; 8] = [
            "registers",
            "demand",
            "details",
            "history",
            "programming",
            "events",
            "profile",
            "instantaneous",
        ];
        if let Some(bad) = parts.iter().find(|p| !KNOWN.contains(&p.as_str())) {
            bail!("--only {bad:?}: known parts are {}", KNOWN.join(", "));
        }
        let has = |p: &str| parts.iter().any(|x| x == p);
        opts.registers = has("registers");
        opts.demand = has("demand");
        opts.details = has("details");
        opts.programming = has("programming");
        opts.events = has("events");
        opts.instantaneous = has("instantaneous");
        if !has("history") {
            opts.billing_sets = 0;
            opts.daily_sets = 0;
        }
        if !has("profile") {
            opts.profile_days = 0;
        }
    }
    let (reading, stats) = read_connection(&conn, &copts, &opts, a.attempts)
        .await
        .with_context(|| format!("reading {conn} address {:?}", a.address))?;
    let origin = format!("read {conn} address {:?}", a.address);
    output(&a, reading, &stats, origin).await
}

/// What every protocol does with a Reading: `--out`, the .RES folder, the table or JSON, and
/// the store.
async fn output(
    a: &ReadArgs,
    reading: metermaster_model::Reading,
    stats: &metermaster_flag::client::LinkStats,
    origin: String,
) -> Result<()> {
    if let Some(path) = &a.out {
        let is_res = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("res"));
        let text = if is_res {
            metermaster_res::to_res(&reading)
        } else {
            serde_json::to_string_pretty(&reading)?
        };
        crate::write_file_atomically(path, text.as_bytes())?;
    }
    let cfg = crate::config::get();
    if let Some(folder) = a.res_folder.as_ref().or(cfg.output.res_folder.as_ref()) {
        let mode = a.res_mode.unwrap_or(cfg.output.res_mode);
        let p = write_res_output(folder, mode, &reading)?;
        eprintln!("written to {}", p.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reading)?);
    } else {
        crate::print::reading(&reading, Some(stats));
    }
    // Stored last: a store that cannot be written still lets the user see (and keep, with
    // --out or the .RES output folder) what was read.
    if !a.no_store {
        use metermaster_store::Store;
        let store = a.store.open().await?;
        let out = store
            .write(metermaster_store::Batch {
                readings: vec![(reading.clone(), origin)],
                ..Default::default()
            })
            .await
            .with_context(|| format!("storing the reading in {}", a.store.url()))?;
        eprintln!(
            "stored in {} ({} new reading, {} interval values written)",
            a.store.url(),
            out.readings_new,
            out.intervals_changed
        );
    }
    Ok(())
}

// ----- `--protocol dlms` -----

/// The `--keys` file: suite 0 keys and system titles, in hex (see docs/reading.md).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    block_cipher_key: String,
    authentication_key: String,
    system_title: String,
    #[serde(default)]
    dedicated_key: Option<String>,
    #[serde(default)]
    server_system_title: Option<String>,
    #[serde(default)]
    invocation_counter: Option<u32>,
    #[serde(default)]
    invocation_counter_obis: Option<String>,
}

/// `N` bytes from hex digits (spaces and colons between them are allowed).
fn hex_bytes<const N: usize>(file: &std::path::Path, name: &str, text: &str) -> Result<[u8; N]> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    let bad = || {
        anyhow::anyhow!(
            "{}: {name} must be {N} bytes in hex ({} hex digits), not {text:?}",
            file.display(),
            2 * N
        )
    };
    if digits.len() != 2 * N {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

struct Keys {
    settings: metermaster_dlms::client::SecuritySettings,
    invocation_counter: Option<u32>,
    counter_obis: metermaster_model::ObisCode,
}

/// An event-code table: `[codes]` with `CODE = "kind"` or `CODE = { kind, detail }`.
pub fn load_event_codes(
    path: &std::path::Path,
) -> Result<std::collections::BTreeMap<u64, (metermaster_model::EventKind, Option<String>)>> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Kind(metermaster_model::EventKind),
        Full {
            kind: metermaster_model::EventKind,
            detail: Option<String>,
        },
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        codes: std::collections::BTreeMap<String, toml::Value>,
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the event-code table {}", path.display()))?;
    let f: File = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = std::collections::BTreeMap::new();
    for (code, value) in f.codes {
        let n: u64 = code.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "{}: [codes] key {code:?} is not an event code number",
                path.display()
            )
        })?;
        let entry: Entry = value.clone().try_into().map_err(|_| {
            anyhow::anyhow!(
                "{}: code {n}: {value} is not an event kind (e.g. \"reverse_run\") or {{ kind = \"...\", detail = \"...\" }}",
                path.display()
            )
        })?;
        out.insert(
            n,
            match entry {
                Entry::Kind(k) => (k, None),
                Entry::Full { kind, detail } => (kind, detail),
            },
        );
    }
    Ok(out)
}

fn load_keys(path: &std::path::Path) -> Result<Keys> {
    use metermaster_dlms::client::{Ciphering, SecuritySettings};
    use metermaster_dlms::security::{Suite0Keys, SystemTitle};
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let f: KeysFile =
        toml::from_str(&text).with_context(|| format!("{} is not a keys file", path.display()))?;
    let keys = Suite0Keys::new(
        hex_bytes(path, "block_cipher_key", &f.block_cipher_key)?,
        hex_bytes(path, "authentication_key", &f.authentication_key)?,
    );
    let title = SystemTitle(hex_bytes(path, "system_title", &f.system_title)?);
    let mut settings = SecuritySettings::new(keys, title, f.invocation_counter.unwrap_or(1));
    settings.ciphering = Ciphering::Global;
    if let Some(k) = &f.dedicated_key {
        settings.dedicated_key = Some(hex_bytes(path, "dedicated_key", k)?);
    }
    if let Some(t) = &f.server_system_title {
        settings.server_title = Some(SystemTitle(hex_bytes(path, "server_system_title", t)?));
    }
    let counter_obis = match &f.invocation_counter_obis {
        Some(o) => metermaster_dlms::obis::parse_obis(o)
            .map_err(|e| anyhow::anyhow!("{}: invocation_counter_obis: {e}", path.display()))?,
        None => metermaster_model::ObisCode::new(0, 0, 43, 1, 0, 255),
    };
    Ok(Keys {
        settings,
        invocation_counter: f.invocation_counter,
        counter_obis,
    })
}

/// A byte stream to a DLMS meter: TCP or a serial port.
pub trait DlmsStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> DlmsStream for T {}

async fn open_dlms(
    conn: &Connection,
    timeout: Duration,
    mode_e: Option<&metermaster_dlms::client::ModeEOptions>,
) -> metermaster_dlms::client::Result<Box<dyn DlmsStream>> {
    use metermaster_dlms::client::{Error, enter_mode_e};
    match conn {
        Connection::Tcp { host, port, .. } => {
            let during = format!("connecting to {conn}");
            let s = tokio::time::timeout(
                timeout,
                tokio::net::TcpStream::connect((host.as_str(), *port)),
            )
            .await
            .map_err(|_| Error::Timeout {
                during: during.clone(),
                timeout_ms: timeout.as_millis() as u64,
            })?
            .map_err(|e| Error::Io {
                during: during.clone(),
                error: e,
            })?;
            let mut s = s;
            s.set_nodelay(true)
                .map_err(|e| Error::Io { during, error: e })?;
            if let Some(m) = mode_e {
                enter_mode_e(&mut s, m).await?;
            }
            Ok(Box::new(s))
        }
        Connection::Serial { path, baud, .. } => {
            let during = format!("opening {path}");
            if let Some(m) = mode_e {
                let mut s = metermaster_dlms::client::open_optical(path, *baud)
                    .map_err(|e| Error::Io { during, error: e })?;
                enter_mode_e(&mut s, m).await?;
                return Ok(Box::new(s));
            }
            let s = metermaster_dlms::client::open_serial(path, *baud)
                .map_err(|e| Error::Io { during, error: e })?;
            Ok(Box::new(s))
        }
    }
}

async fn run_dlms(a: ReadArgs) -> Result<()> {
    let (reading, stats, what) = dlms_reading(&a).await?;
    output(&a, reading, &stats, what.replacen("reading", "read", 1)).await
}

impl ReadArgs {
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
            protocol: "dlms".into(),
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

/// What a DLMS session needs: where, the session options (keys and invocation counter
/// included), the words naming it, and the meter clock's fallback offset.
pub struct DlmsSetup {
    pub conn: Connection,
    /// The optical port's mode-E opening, when asked for.
    pub mode_e: Option<metermaster_dlms::client::ModeEOptions>,
    pub session: metermaster_dlms::client::SessionOptions,
    pub what: String,
    pub utc_offset_s: i32,
}

/// Opens a connection for a DLMS session (with the mode-E opening of an optical port when
/// asked for).
pub async fn dlms_open(
    conn: &Connection,
    mode_e: Option<&metermaster_dlms::client::ModeEOptions>,
) -> metermaster_dlms::client::Result<Box<dyn DlmsStream>> {
    open_dlms(conn, Duration::from_secs(10), mode_e).await
}

pub async fn dlms_setup(a: &ReadArgs) -> Result<DlmsSetup> {
    use metermaster_dlms::client::reader::read_invocation_counter;
    use metermaster_dlms::client::{
        Authentication, Ciphering, LinkOptions, SessionOptions, Transport,
    };
    if a.readout {
        bail!(
            "--readout is an IEC 62056-21 (FLAG) data readout; it does not apply to --protocol dlms"
        );
    }
    let conn = Connection::parse(&a.connection)?;
    let utc_offset_s = parse_offset(&a.utc_offset)?;
    if !(a.timeout > 0.0 && a.timeout < 600.0) {
        bail!("--timeout must be between 0 and 600 seconds");
    }
    let d = &a.dlms;
    let serial = matches!(conn, Connection::Serial { .. });
    let transport = match (d.transport, serial || d.mode_e.is_some()) {
        (Some(DlmsTransport::Wrapper), true) if d.mode_e.is_some() => {
            bail!(
                "--mode-e opens an optical port for HDLC: it does not go with --transport wrapper"
            )
        }
        (Some(DlmsTransport::Wrapper), true) => {
            bail!("--transport wrapper is for TCP; on a serial port DLMS runs over HDLC")
        }
        (Some(DlmsTransport::Wrapper), false) | (None, false) => Transport::Wrapper,
        (Some(DlmsTransport::Hdlc), _) | (None, true) => Transport::Hdlc,
    };
    if let Connection::Tcp {
        soft_parity: true, ..
    } = conn
    {
        bail!("?parity=soft is for FLAG gateways; DLMS needs 8-bit bytes");
    }
    let physical = match (d.physical, a.address.trim()) {
        (Some(p), _) => Some(p),
        (None, "") => None,
        (None, addr) => Some(addr.parse::<u16>().map_err(|_| {
            anyhow::anyhow!(
                "--address {addr:?}: with --protocol dlms the address is the HDLC physical address, a number (or use --physical)"
            )
        })?),
    };
    if d.hdlc_window != 1 && d.hdlc_max_info == 0 {
        bail!(
            "--hdlc-window needs an SNRM proposal: it does not go with --hdlc-max-info 0 (no proposal, window 1)"
        );
    }
    let keys = d.keys.as_deref().map(load_keys).transpose()?;
    let authentication = match d.auth {
        DlmsAuth::None => Authentication::None,
        DlmsAuth::Low => Authentication::Low {
            password: a
                .password
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--auth low needs --password"))?
                .into_bytes(),
        },
        DlmsAuth::High => {
            if keys.is_none() {
                bail!("--auth high (HLS-GMAC) needs --keys FILE");
            }
            Authentication::HighGmac
        }
    };
    if a.password.is_some() && d.auth != DlmsAuth::Low {
        bail!("--password is the LLS secret: give it with --auth low");
    }
    let ciphering = match (d.ciphering, &keys) {
        (Some(DlmsCiphering::None), _) | (None, None) => Ciphering::None,
        (Some(DlmsCiphering::Global), _) | (None, Some(_)) => Ciphering::Global,
        (Some(DlmsCiphering::Dedicated), _) => Ciphering::Dedicated,
    };
    if ciphering != Ciphering::None && keys.is_none() {
        bail!("--ciphering needs --keys FILE");
    }
    let timeout = Duration::from_secs_f64(a.timeout);
    let mut session = SessionOptions {
        link: LinkOptions {
            transport,
            client_sap: d.client,
            server_logical: d.server,
            server_physical: physical,
            response_timeout: timeout,
            hdlc_parameters: (d.hdlc_max_info > 0).then_some(
                metermaster_dlms::hdlc::HdlcParameters {
                    max_info_transmit: d.hdlc_max_info,
                    max_info_receive: d.hdlc_max_info,
                    window_transmit: d.hdlc_window,
                    window_receive: d.hdlc_window,
                },
            ),
            ..LinkOptions::default()
        },
        authentication,
        ..SessionOptions::default()
    };

    let mode_e = d
        .mode_e
        .as_ref()
        .map(|address| metermaster_dlms::client::ModeEOptions {
            address: address.clone(),
            timeout,
            ..metermaster_dlms::client::ModeEOptions::default()
        });
    let what = format!(
        "reading {conn} (DLMS {}{}, client {}, server {}{})",
        transport.name(),
        if mode_e.is_some() {
            " after mode E"
        } else {
            ""
        },
        d.client,
        d.server,
        physical
            .map(|p| format!(", physical {p}"))
            .unwrap_or_default()
    );
    let open = || dlms_open(&conn, mode_e.as_ref());
    if let Some(k) = keys {
        let mut settings = k.settings;
        settings.ciphering = ciphering;
        settings.invocation_counter = match k.invocation_counter {
            Some(ic) => ic,
            None => {
                let ic = read_invocation_counter(open, &session, k.counter_obis)
                    .await
                    .with_context(|| {
                        format!(
                            "{what}: reading the meter's invocation counter {} as the public client (set invocation_counter in the keys file to skip this)",
                            metermaster_dlms::obis::Dotted(k.counter_obis)
                        )
                    })?;
                ic.checked_add(1).ok_or_else(|| {
                    anyhow::anyhow!("{what}: the meter's invocation counter is exhausted")
                })?
            }
        };
        session.security = Some(settings);
    }
    Ok(DlmsSetup {
        conn,
        mode_e,
        session,
        what,
        utc_offset_s,
    })
}

/// Reads a DLMS meter as `read --protocol dlms` is told to: the Reading, what crossed the link,
/// and the words that name the read (`reading tcp://... (DLMS wrapper, client 16, server 1)`).
pub async fn dlms_reading(
    a: &ReadArgs,
) -> Result<(
    metermaster_model::Reading,
    metermaster_flag::client::LinkStats,
    String,
)> {
    use metermaster_dlms::client::reader::{ReadOptions, TimePolicy, read_with};
    let DlmsSetup {
        conn,
        mode_e,
        session,
        what,
        utc_offset_s,
    } = dlms_setup(a).await?;
    let d = &a.dlms;
    let physical = session.link.server_physical;
    let open = || dlms_open(&conn, mode_e.as_ref());
    let since: Option<DateTime<Utc>> = match &a.since {
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .with_context(|| format!("--since {s:?} is not an RFC 3339 time"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let mut ropts = ReadOptions {
        profile_days: a.days.unwrap_or(1),
        since,
        time: TimePolicy {
            fallback_utc_offset_s: utc_offset_s,
            ..TimePolicy::default()
        },
        address: Some(match physical {
            Some(p) => format!("client {} server {} physical {p}", d.client, d.server),
            None => format!("client {} server {}", d.client, d.server),
        }),
        event_codes: match &d.event_codes {
            Some(path) => load_event_codes(path)?,
            None => Default::default(),
        },
        ..ReadOptions::default()
    };
    if let Some(parts) = &a.only {
        const KNOWN: [&str; 8] = [
            "registers",
            "demand",
            "details",
            "history",
            "events",
            "profile",
            "instantaneous",
            "programming",
        ];
        if let Some(bad) = parts.iter().find(|p| !KNOWN.contains(&p.as_str())) {
            bail!(
                "--only {bad:?}: with --protocol dlms the known parts are {}",
                KNOWN.join(", ")
            );
        }
        let has = |p: &str| parts.iter().any(|x| x == p);
        ropts.registers = has("registers");
        ropts.demand = has("demand");
        ropts.details = has("details");
        ropts.history = has("history");
        ropts.events = has("events");
        ropts.instantaneous = has("instantaneous");
        ropts.programming = has("programming");
        if !has("profile") {
            ropts.profile_days = 0;
            ropts.since = None;
        }
    }

    let (reading, stats) = read_with(open, &session, &ropts, a.attempts)
        .await
        .with_context(|| what.clone())?;
    let stats = metermaster_flag::client::LinkStats {
        exchanges: stats.exchanges,
        bytes_sent: stats.bytes_sent,
        bytes_received: stats.bytes_received,
        retransmissions: stats.retransmissions,
    };
    Ok((reading, stats, what))
}
