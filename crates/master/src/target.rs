//! [`MeterTarget`]: where a meter is and how to talk to it, typed, parsed once by a front end
//! from its command line, its configuration or the store.

use std::path::PathBuf;
use std::time::Duration;

use metermaster_model::Connection;
use metermaster_model::{EventKind, ObisCode};

use crate::error::{MasterError, Stage};

/// The protocol a meter speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// IEC 62056-21, the Elster FLAG dialect.
    #[default]
    Flag,
    /// DLMS/COSEM.
    Dlms,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Flag => "flag",
            Protocol::Dlms => "dlms",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Protocol, String> {
        match s {
            "flag" => Ok(Protocol::Flag),
            "dlms" => Ok(Protocol::Dlms),
            other => Err(format!(
                "protocol {other:?}: known protocols are flag and dlms"
            )),
        }
    }
}

/// DLMS framing on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlmsTransport {
    Wrapper,
    Hdlc,
}

/// DLMS authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DlmsAuth {
    #[default]
    None,
    /// LLS: the password.
    Low,
    /// HLS-GMAC: the keys file.
    High,
}

/// DLMS ciphering of the APDUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlmsCiphering {
    None,
    Global,
    Dedicated,
}

/// FLAG session options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagOptions {
    /// Read packet by packet (R1) even where the binary RD stream would work.
    pub no_stream: bool,
}

/// DLMS session options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlmsOptions {
    /// The client SAP (16 = public client, 1 = management client).
    pub client: u8,
    /// The server logical device.
    pub server: u16,
    /// The HDLC physical address (a numeric target address is taken as this too).
    pub physical: Option<u16>,
    /// Framing: the default is the wrapper on TCP, HDLC on serial ports and with mode E.
    pub transport: Option<DlmsTransport>,
    pub auth: DlmsAuth,
    /// The suite 0 keys file.
    pub keys: Option<PathBuf>,
    pub ciphering: Option<DlmsCiphering>,
    /// The HDLC information field length proposed (0: no proposal).
    pub hdlc_max_info: u16,
    /// The HDLC window proposed (1-7).
    pub hdlc_window: u8,
    /// Open an optical port with the IEC 62056-21 mode-E sign-on (with this device address).
    pub mode_e: Option<String>,
    /// A table of the meter's own event codes.
    pub event_codes: Option<PathBuf>,
}

impl Default for DlmsOptions {
    fn default() -> Self {
        DlmsOptions {
            client: 16,
            server: 1,
            physical: None,
            transport: None,
            auth: DlmsAuth::None,
            keys: None,
            ciphering: None,
            hdlc_max_info: 2030,
            hdlc_window: 1,
            mode_e: None,
            event_codes: None,
        }
    }
}

/// Where a meter is and how to talk to it.
#[derive(Debug, Clone)]
pub struct MeterTarget {
    pub connection: Connection,
    pub protocol: Protocol,
    /// The device address sent in the sign-on (FLAG), or the HDLC physical address (DLMS).
    pub address: String,
    /// FLAG: the 8-character password (read-only access without it); DLMS: the LLS secret.
    pub password: Option<String>,
    /// The meter clock's offset from UTC (meters keep local standard time).
    pub utc_offset_s: i32,
    /// How long to wait for a reply before repeating the request.
    pub timeout: Duration,
    /// Connections to try in all when the link drops or breaks mid-read.
    pub attempts: u32,
    pub flag: FlagOptions,
    pub dlms: DlmsOptions,
}

impl MeterTarget {
    /// A target with the usual options: FLAG, no password, UTC, 3 s, 3 attempts.
    pub fn new(connection: Connection, protocol: Protocol, address: impl Into<String>) -> Self {
        MeterTarget {
            connection,
            protocol,
            address: address.into(),
            password: None,
            utc_offset_s: 0,
            timeout: Duration::from_secs(3),
            attempts: 3,
            flag: FlagOptions::default(),
            dlms: DlmsOptions::default(),
        }
    }

    /// Parses a connection string (`tcp://HOST:PORT`, `serial:///dev/ttyUSB0?baud=300`).
    pub fn parse(
        connection: &str,
        protocol: Protocol,
        address: impl Into<String>,
    ) -> Result<Self, MasterError> {
        let c = Connection::parse(connection)
            .map_err(|e| MasterError::invalid(connection, e.to_string()))?;
        Ok(MeterTarget::new(c, protocol, address))
    }

    /// The words that name the meter in messages: `tcp://127.0.0.1:4001 address "10000003"`.
    pub fn name(&self) -> String {
        format!("{} address {:?}", self.connection, self.address)
    }

    /// The id a meter that tells no serial number is kept under: its connection and address.
    pub fn unidentified_id(&self) -> String {
        let addr = match self.protocol {
            Protocol::Flag => self.address.clone(),
            Protocol::Dlms => format!(
                "{}/{}{}",
                self.dlms.client,
                self.dlms.server,
                self.dlms
                    .physical
                    .or_else(|| self.address.trim().parse().ok())
                    .map(|p| format!("/{p}"))
                    .unwrap_or_default()
            ),
        };
        metermaster_model::unidentified_meter_id(&self.connection.to_string(), &addr)
    }

    /// Refuses a timeout out of range.
    pub(crate) fn check(&self) -> Result<(), MasterError> {
        if !(self.timeout > Duration::ZERO && self.timeout < Duration::from_secs(600)) {
            return Err(MasterError::invalid(
                self.name(),
                "--timeout must be between 0 and 600 seconds",
            ));
        }
        Ok(())
    }
}

/// What crossed the link in a session, whatever the protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkStats {
    pub exchanges: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub retransmissions: u32,
}

impl From<metermaster_flag::client::LinkStats> for LinkStats {
    fn from(s: metermaster_flag::client::LinkStats) -> Self {
        LinkStats {
            exchanges: s.exchanges,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            retransmissions: s.retransmissions,
        }
    }
}

impl From<metermaster_dlms::client::LinkStats> for LinkStats {
    fn from(s: metermaster_dlms::client::LinkStats) -> Self {
        LinkStats {
            exchanges: s.exchanges,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            retransmissions: s.retransmissions,
        }
    }
}

/// Parses a meter clock's UTC offset `+01:00` / `-05:00` into seconds (the model's [`Zone`]
/// parser, which must give a fixed offset).
///
/// [`Zone`]: metermaster_model::Zone
pub fn parse_utc_offset(s: &str) -> Result<i32, String> {
    let bad = || format!("--utc-offset {s:?} must look like +01:00 or -05:00");
    if !s.starts_with(['+', '-']) {
        return Err(bad());
    }
    match s.parse::<metermaster_model::Zone>() {
        Ok(metermaster_model::Zone::Fixed(o)) => Ok(o.local_minus_utc()),
        _ => Err(bad()),
    }
}

// ----- DLMS -----

/// The keys file: suite 0 keys and system titles, in hex (see docs/reading.md).
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
fn hex_bytes<const N: usize>(
    file: &std::path::Path,
    name: &str,
    text: &str,
) -> Result<[u8; N], String> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    let bad = || {
        format!(
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
    counter_obis: ObisCode,
}

/// An event-code table: `[codes]` with `CODE = "kind"` or `CODE = { kind, detail }`.
pub fn load_event_codes(
    path: &std::path::Path,
) -> Result<std::collections::BTreeMap<u64, (EventKind, Option<String>)>, String> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Kind(EventKind),
        Full {
            kind: EventKind,
            detail: Option<String>,
        },
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        codes: std::collections::BTreeMap<String, toml::Value>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading the event-code table {}: {e}", path.display()))?;
    let f: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::collections::BTreeMap::new();
    for (code, value) in f.codes {
        let n: u64 = code.trim().parse().map_err(|_| {
            format!(
                "{}: [codes] key {code:?} is not an event code number",
                path.display()
            )
        })?;
        let entry: Entry = value.clone().try_into().map_err(|_| {
            format!(
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

fn load_keys(path: &std::path::Path) -> Result<Keys, String> {
    use metermaster_dlms::client::{Ciphering, SecuritySettings};
    use metermaster_dlms::security::{Suite0Keys, SystemTitle};
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let f: KeysFile =
        toml::from_str(&text).map_err(|e| format!("{} is not a keys file: {e}", path.display()))?;
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
            .map_err(|e| format!("{}: invocation_counter_obis: {e}", path.display()))?,
        None => ObisCode::new(0, 0, 43, 1, 0, 255),
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

/// Opens a connection for a DLMS session (with the mode-E opening of an optical port when
/// asked for).
pub async fn dlms_open(
    conn: &Connection,
    mode_e: Option<&metermaster_dlms::client::ModeEOptions>,
) -> metermaster_dlms::client::Result<Box<dyn DlmsStream>> {
    use metermaster_dlms::client::{Error, enter_mode_e};
    let timeout = Duration::from_secs(10);
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

/// What a DLMS session needs: where, the session options (keys and invocation counter
/// included), the words naming it, and the meter clock's fallback offset.
#[derive(Debug)]
pub struct DlmsSetup {
    pub conn: Connection,
    /// The optical port's mode-E opening, when asked for.
    pub mode_e: Option<metermaster_dlms::client::ModeEOptions>,
    pub session: metermaster_dlms::client::SessionOptions,
    /// `reading tcp://... (DLMS wrapper, client 16, server 1)`.
    pub what: String,
    pub utc_offset_s: i32,
}

/// Checks a DLMS target and builds its session options; with a keys file that does not give
/// the invocation counter, the meter's counter is read first as the public client.
pub async fn dlms_setup(t: &MeterTarget) -> Result<DlmsSetup, MasterError> {
    use metermaster_dlms::client::reader::read_invocation_counter;
    use metermaster_dlms::client::{
        Authentication, Ciphering, LinkOptions, SessionOptions, Transport,
    };
    t.check()?;
    let name = t.name();
    let invalid = |why: String| MasterError::invalid(name.clone(), why);
    let conn = t.connection.clone();
    let d = &t.dlms;
    let serial = matches!(conn, Connection::Serial { .. });
    let transport = match (d.transport, serial || d.mode_e.is_some()) {
        (Some(DlmsTransport::Wrapper), true) if d.mode_e.is_some() => {
            return Err(invalid(
                "--mode-e opens an optical port for HDLC: it does not go with --transport wrapper"
                    .into(),
            ));
        }
        (Some(DlmsTransport::Wrapper), true) => {
            return Err(invalid(
                "--transport wrapper is for TCP; on a serial port DLMS runs over HDLC".into(),
            ));
        }
        (Some(DlmsTransport::Wrapper), false) | (None, false) => Transport::Wrapper,
        (Some(DlmsTransport::Hdlc), _) | (None, true) => Transport::Hdlc,
    };
    if let Connection::Tcp {
        soft_parity: true, ..
    } = conn
    {
        return Err(invalid(
            "?parity=soft is for FLAG gateways; DLMS needs 8-bit bytes".into(),
        ));
    }
    let physical = match (d.physical, t.address.trim()) {
        (Some(p), _) => Some(p),
        (None, "") => None,
        (None, addr) => Some(addr.parse::<u16>().map_err(|_| {
            invalid(format!(
                "--address {addr:?}: with --protocol dlms the address is the HDLC physical address, a number (or use --physical)"
            ))
        })?),
    };
    if d.hdlc_window != 1 && d.hdlc_max_info == 0 {
        return Err(invalid(
            "--hdlc-window needs an SNRM proposal: it does not go with --hdlc-max-info 0 (no proposal, window 1)".into(),
        ));
    }
    let keys = d
        .keys
        .as_deref()
        .map(load_keys)
        .transpose()
        .map_err(invalid)?;
    let authentication = match d.auth {
        DlmsAuth::None => Authentication::None,
        DlmsAuth::Low => Authentication::Low {
            password: t
                .password
                .clone()
                .ok_or_else(|| invalid("--auth low needs --password".into()))?
                .into_bytes(),
        },
        DlmsAuth::High => {
            if keys.is_none() {
                return Err(invalid("--auth high (HLS-GMAC) needs --keys FILE".into()));
            }
            Authentication::HighGmac
        }
    };
    if t.password.is_some() && d.auth != DlmsAuth::Low {
        return Err(invalid(
            "--password is the LLS secret: give it with --auth low".into(),
        ));
    }
    let ciphering = match (d.ciphering, &keys) {
        (Some(DlmsCiphering::None), _) | (None, None) => Ciphering::None,
        (Some(DlmsCiphering::Global), _) | (None, Some(_)) => Ciphering::Global,
        (Some(DlmsCiphering::Dedicated), _) => Ciphering::Dedicated,
    };
    if ciphering != Ciphering::None && keys.is_none() {
        return Err(invalid("--ciphering needs --keys FILE".into()));
    }
    let mut session = SessionOptions {
        link: LinkOptions {
            transport,
            client_sap: d.client,
            server_logical: d.server,
            server_physical: physical,
            response_timeout: t.timeout,
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
            timeout: t.timeout,
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
                    .map_err(|e| {
                        MasterError::new(
                            name.clone(),
                            Stage::Connect,
                            format!(
                                "{what}: reading the meter's invocation counter {} as the public client (set invocation_counter in the keys file to skip this)",
                                metermaster_dlms::obis::Dotted(k.counter_obis)
                            ),
                            e,
                        )
                    })?;
                ic.checked_add(1).ok_or_else(|| {
                    invalid(format!(
                        "{what}: the meter's invocation counter is exhausted"
                    ))
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
        utc_offset_s: t.utc_offset_s,
    })
}

/// Writes a UTC offset in seconds as `+HH:MM`.
pub fn format_utc_offset(s: i32) -> String {
    let sign = if s < 0 { '-' } else { '+' };
    let a = s.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
}

/// The meter's serial number (device id 0.0.96.1.0.255) in an open DLMS association, when this
/// client may read it and it is not empty.
pub(crate) async fn dlms_device_id<S: DlmsStream>(
    c: &mut metermaster_dlms::client::DlmsClient<S>,
) -> Option<String> {
    let d = c
        .get(
            metermaster_dlms::apdu::AttributeDescriptor::new(
                1,
                metermaster_model::well_known::DEVICE_ID,
                2,
            ),
            None,
        )
        .await
        .ok()?;
    d.as_str()
        .map(str::to_string)
        .or_else(|| {
            d.as_octet_string()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        })
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}
