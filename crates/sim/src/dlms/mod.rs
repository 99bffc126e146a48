//! The DLMS/COSEM face of a simulated meter: the same [`SimMeter`] that answers in FLAG, seen as
//! a COSEM logical device (server SAP 1) behind the TCP wrapper or HDLC over TCP.
//!
//! * [`objects`]: the object model (interface classes, OBIS codes, access rights per client),
//!   built from the meter on every request — there is no second copy of the meter's state.
//! * [`association`]: AARQ/AARE with the three clients (16 public, 17 low-level security with a
//!   password, 1 management with HLS-GMAC and security suite 0), RLRQ/RLRE, GET/SET/ACTION with
//!   selective access, block transfer and multiple references, ciphered APDUs, and the
//!   exception responses for everything else.
//! * [`hdlc_link`]: the server side of an HDLC link (SNRM/UA negotiation, I-frames with
//!   segmentation both ways, RR/RNR, DISC/UA/DM/FRMR).
//! * [`optical`]: the optical port: the IEC 62056-21 sign-on, mode E into HDLC, or the FLAG
//!   face's data readout.
//! * [`serve`]: the tokio glue: one TCP port per meter.
//!
//! Per-meter state that only the DLMS face has (its system title, invocation counters, the
//! disconnect control's state, the passive calendar) lives in [`DlmsFace`], next to the meter.
//!
//! Numbers and byte layouts follow the project's DLMS guide (`shared/protocols/dlms-cosem.md`).

pub mod association;
pub mod hdlc_link;
pub mod objects;
pub mod optical;
pub mod serve;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use metermaster_dlms::Data;
use metermaster_dlms::security::{InvocationCounter, ReplayGuard, Suite0Keys, SystemTitle};

use crate::load::mix;
use crate::meter::SimMeter;

pub use association::Association;
pub use hdlc_link::HdlcServerLink;
pub use serve::{DlmsServeOptions, Transport, serve_dlms, serve_dlms_connection, serve_hdlc_line};

/// The logical device every simulated meter is: the management logical device.
pub const SERVER_SAP: u16 = 1;
/// Client SAP of the public client (no authentication, read-only).
pub const PUBLIC_CLIENT: u16 = 16;
/// Client SAP of the meter reader (low-level security: the password [`LLS_PASSWORD`]).
pub const READER_CLIENT: u16 = 17;
/// Client SAP of the management client (HLS-GMAC with the suite-0 keys).
pub const MANAGEMENT_CLIENT: u16 = 1;

/// The low-level-security password of client 17.
pub const LLS_PASSWORD: &[u8; 8] = b"12345678";
/// The global unicast encryption key: the Green Book test key (guide §5.5).
pub const GLOBAL_ENCRYPTION_KEY: [u8; 16] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
];
/// The authentication key: the Green Book test key (guide §5.5).
pub const GLOBAL_AUTHENTICATION_KEY: [u8; 16] = [
    0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF,
];
/// The largest APDU the meter receives, and the largest it sends whatever the client allows:
/// the object list and the load profile need GET blocks.
pub const SERVER_MAX_PDU: u16 = 1024;
/// The first three bytes of every simulated meter's system title (the FLAG manufacturer id the
/// FLAG face announces).
pub const MANUFACTURER: &[u8; 3] = b"GEC";

/// The secrets every simulated meter shares: the LLS password and the suite-0 keys.
#[derive(Clone)]
pub struct DlmsSecrets {
    pub lls_password: Vec<u8>,
    pub keys: Suite0Keys,
}

impl Default for DlmsSecrets {
    fn default() -> Self {
        DlmsSecrets {
            lls_password: LLS_PASSWORD.to_vec(),
            keys: Suite0Keys::new(GLOBAL_ENCRYPTION_KEY, GLOBAL_AUTHENTICATION_KEY),
        }
    }
}

impl fmt::Debug for DlmsSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DlmsSecrets { .. }")
    }
}

/// The serial number as a number: its digits, or a hash of it when it has other characters.
fn serial_number(serial: &str) -> u64 {
    let digits = serial.trim_start_matches('0');
    if !serial.is_empty() && serial.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().unwrap_or(0)
    } else {
        serial.bytes().fold(0u64, |acc, b| mix(acc ^ u64::from(b))) & 0xFF_FFFF_FFFF
    }
}

/// A meter's system title: `GEC` and the serial number as a 5-byte big-endian number.
pub fn server_system_title(serial: &str) -> SystemTitle {
    let n = serial_number(serial).to_be_bytes();
    let mut t = [0u8; 8];
    t[..3].copy_from_slice(MANUFACTURER);
    t[3..].copy_from_slice(&n[3..]);
    SystemTitle(t)
}

/// The meter's HDLC physical (lower) address: 16 + (serial mod 100), so that it fits the
/// two-byte address form as well as the four-byte one.
pub fn physical_address(serial: &str) -> u16 {
    16 + (serial_number(serial) % 100) as u16
}

/// The physical address Gurux derives from a serial number (`SN mod 10000 + 1000`), which the
/// meter also answers to in the four-byte address form.
pub fn serial_physical_address(serial: &str) -> u16 {
    metermaster_dlms::hdlc::physical_address_from_serial(serial_number(serial))
}

/// The disconnect control's state (class 70, mode 1: remote disconnection and direct remote
/// reconnection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectState {
    Connected,
    Disconnected,
}

/// The passive calendar (activity calendar attributes 6–10) and the special days written with
/// it, as the management client SETs them; `activate_passive_calendar` (or the activation
/// time) turns them into the program in force.
#[derive(Debug, Clone, PartialEq)]
pub struct PassiveCalendar {
    pub name: Data,
    pub seasons: Data,
    pub weeks: Data,
    pub days: Data,
    pub activation: Data,
    /// Special Days Table entries written since the last activation: they go into force with
    /// the calendar (our simulator's rule; documented).
    pub special_days: Option<Data>,
}

impl Default for PassiveCalendar {
    fn default() -> Self {
        PassiveCalendar {
            name: Data::OctetString(Vec::new()),
            seasons: Data::Array(Vec::new()),
            weeks: Data::Array(Vec::new()),
            days: Data::Array(Vec::new()),
            activation: Data::OctetString(
                metermaster_dlms::axdr::CosemDateTime::UNSPECIFIED
                    .to_bytes()
                    .to_vec(),
            ),
            special_days: None,
        }
    }
}

/// What one meter's DLMS face keeps beside the meter model.
#[derive(Debug)]
pub struct DlmsFace {
    pub system_title: SystemTitle,
    pub physical_address: u16,
    pub serial_physical_address: u16,
    pub disconnect: DisconnectState,
    /// The meter's own invocation counter for the global key (AARE, responses, f(CtoS)).
    pub server_ic: InvocationCounter,
    /// The last invocation counter accepted from the management client under the global key;
    /// also what the invocation counter object 0.0.43.1.0.255 shows.
    pub client_guard: ReplayGuard,
    pub passive: PassiveCalendar,
    /// The client SAP whose current association wrote the programming user (0.0.96.2.128.255):
    /// a clock set in that association is recorded under that user, otherwise under
    /// `DLMS-SAPn`. A new association of that client clears it.
    pub user_written_by: Option<u16>,
    /// The push setup's destination (`HOST:PORT`), when the management client set one.
    pub push_destination: Option<Vec<u8>>,
    /// The last push's long-invoke-id.
    pub push_counter: u32,
    /// Pushes to send: the serving loop takes them out and sends them.
    pub outbox: Vec<Push>,
}

/// A data-notification to send to a push destination (the TCP wrapper, from wPort 1 to the
/// push client's wPort [`PUSH_CLIENT`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub address: String,
    pub apdu: Vec<u8>,
}

/// The wPort pushes are sent to: 102 (0x66), the pre-established push client of the IDIS/DSMR
/// conventions.
pub const PUSH_CLIENT: u16 = 0x66;

impl DlmsFace {
    pub fn new(serial: &str) -> Self {
        DlmsFace {
            system_title: server_system_title(serial),
            physical_address: physical_address(serial),
            serial_physical_address: serial_physical_address(serial),
            disconnect: DisconnectState::Connected,
            server_ic: InvocationCounter::starting_at(1),
            client_guard: ReplayGuard::new(),
            passive: PassiveCalendar::default(),
            user_written_by: None,
            push_destination: None,
            push_counter: 0,
            outbox: Vec::new(),
        }
    }
}

/// A meter and its DLMS face, shared by every connection to it.
#[derive(Debug, Clone)]
pub struct DlmsMeter {
    pub meter: Arc<Mutex<SimMeter>>,
    pub face: Arc<Mutex<DlmsFace>>,
}

impl DlmsMeter {
    pub fn new(meter: Arc<Mutex<SimMeter>>) -> Self {
        let serial = lock(&meter).cfg.serial.clone();
        DlmsMeter {
            face: Arc::new(Mutex::new(DlmsFace::new(&serial))),
            meter,
        }
    }

    /// Both locks, meter first (the one order every caller uses).
    pub fn lock(&self) -> (MutexGuard<'_, SimMeter>, MutexGuard<'_, DlmsFace>) {
        let m = lock(&self.meter);
        let f = lock(&self.face);
        (m, f)
    }
}

/// A lock that survives a panic elsewhere: the state is plain data and stays usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
