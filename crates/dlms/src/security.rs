//! Security suite 0 (guide §5): AES-GCM-128 with a 12-byte tag, the security header, the ciphered
//! APDU forms (glo-, ded-, general-glo-, general-ded-ciphering), HLS-GMAC (mechanism 5) and the
//! invocation counter rules.
//!
//! What goes into GCM for each security control byte (guide §5.1):
//!
//! | SC | additional data | plaintext | on the wire after SC ‖ IC |
//! |---|---|---|---|
//! | `10` authentication only | SC ‖ AK ‖ APDU | — | APDU ‖ tag |
//! | `20` encryption only | — | APDU | ciphertext |
//! | `30` both | SC ‖ AK | APDU | ciphertext ‖ tag |
//!
//! The IV is the sender's system title followed by the invocation counter. Keys never appear in
//! `Debug` output.

use std::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::consts::U12;
use aes_gcm::aes::Aes128;
use aes_gcm::{AesGcm, KeyInit, Nonce, Tag};

use crate::error::{DecodeError, DecodeErrorKind};
use crate::reader::{Reader, Result as DecodeResult, write_axdr_length};

/// AES-128-GCM with a 96-bit IV and a 96-bit tag.
type Gcm = AesGcm<Aes128, U12, U12>;

/// Length of the truncated GCM tag.
pub const TAG_LEN: usize = 12;

/// Why protecting or opening an APDU failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    #[error("security suite {0} is not supported (only suite 0, AES-GCM-128)")]
    UnsupportedSuite(u8),
    #[error("compressed APDUs are not supported")]
    CompressionNotSupported,
    #[error("authentication failed: wrong key or system title, or the data was altered")]
    AuthenticationFailed,
    #[error("ciphered content of {len} bytes is too short, at least {needed} needed")]
    TooShort { len: usize, needed: usize },
    #[error("the sender's system title is needed to open this APDU")]
    MissingSystemTitle,
    #[error("APDU tag 0x{0:02X} has no ciphered form")]
    NotCipherable(u8),
    #[error("invocation counter {received} is not above the last accepted {last}")]
    Replay { received: u32, last: u32 },
    #[error("invocation counter exhausted: the key must be changed")]
    CounterExhausted,
    #[error("data too long for AES-GCM")]
    TooLong,
    #[error("HLS-GMAC response {0}")]
    BadHlsResponse(&'static str),
}

/// The security control byte: suite id (bits 0–3), authentication (bit 4), encryption (bit 5),
/// broadcast key (bit 6), compression (bit 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityControl(pub u8);

impl SecurityControl {
    pub const AUTHENTICATION: u8 = 0x10;
    pub const ENCRYPTION: u8 = 0x20;
    pub const BROADCAST_KEY: u8 = 0x40;
    pub const COMPRESSION: u8 = 0x80;

    /// `10`: authenticated only.
    pub const AUTHENTICATED: SecurityControl = SecurityControl(0x10);
    /// `20`: encrypted only.
    pub const ENCRYPTED: SecurityControl = SecurityControl(0x20);
    /// `30`: authenticated and encrypted.
    pub const AUTHENTICATED_ENCRYPTED: SecurityControl = SecurityControl(0x30);

    pub fn suite(self) -> u8 {
        self.0 & 0x0F
    }

    pub fn authenticated(self) -> bool {
        self.0 & Self::AUTHENTICATION != 0
    }

    pub fn encrypted(self) -> bool {
        self.0 & Self::ENCRYPTION != 0
    }

    pub fn broadcast_key(self) -> bool {
        self.0 & Self::BROADCAST_KEY != 0
    }

    pub fn compressed(self) -> bool {
        self.0 & Self::COMPRESSION != 0
    }

    fn check_supported(self) -> Result<(), SecurityError> {
        if self.suite() != 0 {
            return Err(SecurityError::UnsupportedSuite(self.suite()));
        }
        if self.compressed() {
            return Err(SecurityError::CompressionNotSupported);
        }
        Ok(())
    }
}

/// Security control byte and invocation counter: the five bytes in front of ciphered content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityHeader {
    pub control: SecurityControl,
    pub invocation_counter: u32,
}

impl SecurityHeader {
    pub fn to_bytes(self) -> [u8; 5] {
        let ic = self.invocation_counter.to_be_bytes();
        [self.control.0, ic[0], ic[1], ic[2], ic[3]]
    }

    /// Reads the five header bytes at the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "security header");
        Ok(SecurityHeader {
            control: SecurityControl(r.u8()?),
            invocation_counter: r.u32()?,
        })
    }
}

/// An 8-byte system title: three bytes of FLAG manufacturer id, five unique bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SystemTitle(pub [u8; 8]);

impl SystemTitle {
    /// The manufacturer id when the first three bytes are upper-case letters (`MMM`).
    pub fn manufacturer(&self) -> Option<&str> {
        let m = &self.0[..3];
        m.iter()
            .all(|b| b.is_ascii_uppercase())
            .then(|| std::str::from_utf8(m).ok())
            .flatten()
    }

    pub fn from_slice(b: &[u8]) -> Option<SystemTitle> {
        <[u8; 8]>::try_from(b).ok().map(SystemTitle)
    }
}

impl fmt::Debug for SystemTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SystemTitle({self})")
    }
}

impl fmt::Display for SystemTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// The suite 0 keys of one association: the encryption key (global unicast, broadcast or
/// dedicated) and the authentication key.
#[derive(Clone, PartialEq, Eq)]
pub struct Suite0Keys {
    pub encryption_key: [u8; 16],
    pub authentication_key: [u8; 16],
}

impl Suite0Keys {
    pub fn new(encryption_key: [u8; 16], authentication_key: [u8; 16]) -> Self {
        Suite0Keys {
            encryption_key,
            authentication_key,
        }
    }

    /// The same authentication key with another encryption key (the dedicated key of ded-
    /// ciphering, or the broadcast key).
    pub fn with_encryption_key(&self, encryption_key: [u8; 16]) -> Self {
        Suite0Keys {
            encryption_key,
            authentication_key: self.authentication_key,
        }
    }

    fn gcm(&self) -> Gcm {
        Gcm::new(&self.encryption_key.into())
    }
}

impl fmt::Debug for Suite0Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Suite0Keys { .. }")
    }
}

/// The GCM initialisation vector: sender system title ‖ invocation counter.
pub fn initialization_vector(sender: &SystemTitle, invocation_counter: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&sender.0);
    iv[8..].copy_from_slice(&invocation_counter.to_be_bytes());
    iv
}

fn aad_with_key(control: SecurityControl, keys: &Suite0Keys, extra: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(17 + extra.len());
    aad.push(control.0);
    aad.extend_from_slice(&keys.authentication_key);
    aad.extend_from_slice(extra);
    aad
}

/// Protects `apdu` as the control byte says and returns `SC ‖ IC ‖ payload`, the content of a
/// ciphered APDU.
pub fn protect(
    keys: &Suite0Keys,
    control: SecurityControl,
    sender: &SystemTitle,
    invocation_counter: u32,
    apdu: &[u8],
) -> Result<Vec<u8>, SecurityError> {
    control.check_supported()?;
    let iv = initialization_vector(sender, invocation_counter);
    let nonce = Nonce::<U12>::from(iv);
    let gcm = keys.gcm();
    let mut out = Vec::with_capacity(5 + apdu.len() + TAG_LEN);
    out.push(control.0);
    out.extend_from_slice(&invocation_counter.to_be_bytes());
    match (control.authenticated(), control.encrypted()) {
        (true, false) => {
            let aad = aad_with_key(control, keys, apdu);
            let tag = gcm
                .encrypt_in_place_detached(&nonce, &aad, &mut [])
                .map_err(|_| SecurityError::TooLong)?;
            out.extend_from_slice(apdu);
            out.extend_from_slice(&tag);
        }
        (false, true) => {
            let mut buf = apdu.to_vec();
            gcm.encrypt_in_place_detached(&nonce, &[], &mut buf)
                .map_err(|_| SecurityError::TooLong)?;
            out.extend_from_slice(&buf);
        }
        (true, true) => {
            let aad = aad_with_key(control, keys, &[]);
            let mut buf = apdu.to_vec();
            let tag = gcm
                .encrypt_in_place_detached(&nonce, &aad, &mut buf)
                .map_err(|_| SecurityError::TooLong)?;
            out.extend_from_slice(&buf);
            out.extend_from_slice(&tag);
        }
        (false, false) => out.extend_from_slice(apdu),
    }
    Ok(out)
}

/// Opens `SC ‖ IC ‖ payload` from `sender`: checks the tag, decrypts, and returns the header and
/// the APDU. Replay checks on the invocation counter are the caller's (see [`ReplayGuard`]).
pub fn unprotect(
    keys: &Suite0Keys,
    sender: &SystemTitle,
    content: &[u8],
) -> Result<(SecurityHeader, Vec<u8>), SecurityError> {
    let (header, payload) = split_header(content)?;
    let apdu = open_payload(keys, sender, header, payload)?;
    Ok((header, apdu))
}

fn split_header(content: &[u8]) -> Result<(SecurityHeader, &[u8]), SecurityError> {
    if content.len() < 5 {
        return Err(SecurityError::TooShort {
            len: content.len(),
            needed: 5,
        });
    }
    let header = SecurityHeader {
        control: SecurityControl(content[0]),
        invocation_counter: u32::from_be_bytes([content[1], content[2], content[3], content[4]]),
    };
    Ok((header, &content[5..]))
}

fn split_tag(payload: &[u8]) -> Result<(&[u8], &[u8]), SecurityError> {
    if payload.len() < TAG_LEN {
        return Err(SecurityError::TooShort {
            len: payload.len() + 5,
            needed: TAG_LEN + 5,
        });
    }
    Ok(payload.split_at(payload.len() - TAG_LEN))
}

fn open_payload(
    keys: &Suite0Keys,
    sender: &SystemTitle,
    header: SecurityHeader,
    payload: &[u8],
) -> Result<Vec<u8>, SecurityError> {
    let control = header.control;
    control.check_supported()?;
    let nonce = Nonce::<U12>::from(initialization_vector(sender, header.invocation_counter));
    let gcm = keys.gcm();
    match (control.authenticated(), control.encrypted()) {
        (true, false) => {
            let (apdu, tag) = split_tag(payload)?;
            let aad = aad_with_key(control, keys, apdu);
            gcm.decrypt_in_place_detached(&nonce, &aad, &mut [], Tag::<U12>::from_slice(tag))
                .map_err(|_| SecurityError::AuthenticationFailed)?;
            Ok(apdu.to_vec())
        }
        (false, true) => {
            // GCM without a tag is counter mode: encrypting the ciphertext again yields the
            // plaintext, and the computed tag is meaningless.
            let mut buf = payload.to_vec();
            gcm.encrypt_in_place_detached(&nonce, &[], &mut buf)
                .map_err(|_| SecurityError::TooLong)?;
            Ok(buf)
        }
        (true, true) => {
            let (ct, tag) = split_tag(payload)?;
            let aad = aad_with_key(control, keys, &[]);
            let mut buf = ct.to_vec();
            gcm.decrypt_in_place_detached(&nonce, &aad, &mut buf, Tag::<U12>::from_slice(tag))
                .map_err(|_| SecurityError::AuthenticationFailed)?;
            Ok(buf)
        }
        (false, false) => Ok(payload.to_vec()),
    }
}

/// The GMAC tag over `SC ‖ AK ‖ data` (HLS-GMAC, guide §5.6).
pub fn gmac(
    keys: &Suite0Keys,
    control: SecurityControl,
    sender: &SystemTitle,
    invocation_counter: u32,
    data: &[u8],
) -> [u8; TAG_LEN] {
    let nonce = Nonce::<U12>::from(initialization_vector(sender, invocation_counter));
    let aad = aad_with_key(control, keys, data);
    let mut out = [0u8; TAG_LEN];
    // GMAC has no plaintext, so the only failure (plaintext too long) cannot happen; an
    // all-zero tag would simply fail verification.
    if let Ok(tag) = keys.gcm().encrypt_in_place_detached(&nonce, &aad, &mut []) {
        out.copy_from_slice(&tag);
    }
    out
}

/// The HLS-GMAC answer to the peer's challenge: `f(challenge) = 10 ‖ IC ‖ GMAC(10 ‖ AK ‖
/// challenge)`, computed with our own system title and invocation counter. The client sends
/// f(StoC) in pass 3; the server returns f(CtoS) in pass 4.
pub fn hls_gmac_response(
    keys: &Suite0Keys,
    own_title: &SystemTitle,
    invocation_counter: u32,
    challenge: &[u8],
) -> Vec<u8> {
    let control = SecurityControl::AUTHENTICATED;
    let mut out = Vec::with_capacity(5 + TAG_LEN);
    out.push(control.0);
    out.extend_from_slice(&invocation_counter.to_be_bytes());
    out.extend_from_slice(&gmac(
        keys,
        control,
        own_title,
        invocation_counter,
        challenge,
    ));
    out
}

/// Checks the peer's HLS-GMAC answer to our `challenge`, computed with the peer's system title;
/// returns the invocation counter it carries (for the caller's replay check).
pub fn verify_hls_gmac(
    keys: &Suite0Keys,
    peer_title: &SystemTitle,
    challenge: &[u8],
    response: &[u8],
) -> Result<u32, SecurityError> {
    if response.len() != 5 + TAG_LEN {
        return Err(SecurityError::BadHlsResponse("is not 17 bytes long"));
    }
    let (header, tag) = split_header(response)?;
    if header.control != SecurityControl::AUTHENTICATED {
        return Err(SecurityError::BadHlsResponse(
            "does not have security control 0x10",
        ));
    }
    let expected = gmac(
        keys,
        header.control,
        peer_title,
        header.invocation_counter,
        challenge,
    );
    if !constant_time_eq(&expected, tag) {
        return Err(SecurityError::AuthenticationFailed);
    }
    Ok(header.invocation_counter)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Our invocation counter for one key: strictly increasing, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationCounter {
    next: Option<u32>,
}

impl InvocationCounter {
    /// A counter whose next value is `next` (for a client: the meter's expected counter, read
    /// from `0.0.43.1.e.255`, plus one; persisted between sessions).
    pub fn starting_at(next: u32) -> Self {
        InvocationCounter { next: Some(next) }
    }

    /// The value the next APDU will use, if any is left.
    pub fn peek(&self) -> Option<u32> {
        self.next
    }

    /// Takes the next value.
    pub fn next_value(&mut self) -> Result<u32, SecurityError> {
        let v = self.next.ok_or(SecurityError::CounterExhausted)?;
        self.next = v.checked_add(1);
        Ok(v)
    }
}

/// The receiver's side of the counter rule: accept only values above the last accepted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayGuard {
    last: Option<u32>,
}

impl ReplayGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// A guard that remembers a counter accepted earlier (restored from storage).
    pub fn after(last: u32) -> Self {
        ReplayGuard { last: Some(last) }
    }

    pub fn last(&self) -> Option<u32> {
        self.last
    }

    /// Whether `ic` would be accepted.
    pub fn check(&self, ic: u32) -> Result<(), SecurityError> {
        match self.last {
            Some(last) if ic <= last => Err(SecurityError::Replay { received: ic, last }),
            _ => Ok(()),
        }
    }

    /// Accepts `ic` (after the APDU authenticated) or refuses a replay.
    pub fn accept(&mut self, ic: u32) -> Result<(), SecurityError> {
        self.check(ic)?;
        self.last = Some(ic);
        Ok(())
    }
}

/// The services that have glo- and ded- ciphered forms (guide §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipheredService {
    InitiateRequest,
    InitiateResponse,
    ConfirmedServiceError,
    GetRequest,
    SetRequest,
    EventNotificationRequest,
    ActionRequest,
    GetResponse,
    SetResponse,
    ActionResponse,
}

/// (service, plain tag, glo- tag, ded- tag)
const SERVICE_TAGS: [(CipheredService, u8, u8, u8); 10] = [
    (CipheredService::InitiateRequest, 0x01, 0x21, 0x41),
    (CipheredService::InitiateResponse, 0x08, 0x28, 0x48),
    (CipheredService::ConfirmedServiceError, 0x0E, 0x2E, 0x4E),
    (CipheredService::GetRequest, 0xC0, 0xC8, 0xD0),
    (CipheredService::SetRequest, 0xC1, 0xC9, 0xD1),
    (CipheredService::EventNotificationRequest, 0xC2, 0xCA, 0xD2),
    (CipheredService::ActionRequest, 0xC3, 0xCB, 0xD3),
    (CipheredService::GetResponse, 0xC4, 0xCC, 0xD4),
    (CipheredService::SetResponse, 0xC5, 0xCD, 0xD5),
    (CipheredService::ActionResponse, 0xC7, 0xCF, 0xD7),
];

const TAG_GENERAL_GLO: u8 = 0xDB;
const TAG_GENERAL_DED: u8 = 0xDC;

impl CipheredService {
    fn row(self) -> (CipheredService, u8, u8, u8) {
        SERVICE_TAGS
            .iter()
            .copied()
            .find(|r| r.0 == self)
            .unwrap_or(SERVICE_TAGS[0])
    }

    /// The service of a plain APDU tag.
    pub fn from_plain_tag(tag: u8) -> Option<Self> {
        SERVICE_TAGS.iter().find(|r| r.1 == tag).map(|r| r.0)
    }

    pub fn plain_tag(self) -> u8 {
        self.row().1
    }

    pub fn global_tag(self) -> u8 {
        self.row().2
    }

    pub fn dedicated_tag(self) -> u8 {
        self.row().3
    }
}

/// Which key family and framing a ciphered APDU uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CipheredKind {
    /// glo-xxx: global (or broadcast) key, service-specific tag.
    Global(CipheredService),
    /// ded-xxx: dedicated key, service-specific tag.
    Dedicated(CipheredService),
    /// general-glo-ciphering (`DB`), carrying the sender's system title (empty from some
    /// meters, guide §8 item 14).
    GeneralGlobal { system_title: Vec<u8> },
    /// general-ded-ciphering (`DC`).
    GeneralDedicated { system_title: Vec<u8> },
}

/// How to cipher an APDU: the framing of [`CipheredKind`] without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipheringMode {
    Global,
    Dedicated,
    GeneralGlobal,
    GeneralDedicated,
}

/// A ciphered APDU: `tag [system-title] length SC IC payload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipheredApdu {
    pub kind: CipheredKind,
    pub header: SecurityHeader,
    /// Ciphertext and/or plain APDU, followed by the tag when authenticated.
    pub payload: Vec<u8>,
}

impl CipheredApdu {
    /// Whether `tag` starts a ciphered APDU this module reads.
    pub fn is_ciphered_tag(tag: u8) -> bool {
        tag == TAG_GENERAL_GLO
            || tag == TAG_GENERAL_DED
            || SERVICE_TAGS.iter().any(|r| r.2 == tag || r.3 == tag)
    }

    pub fn tag(&self) -> u8 {
        match &self.kind {
            CipheredKind::Global(s) => s.global_tag(),
            CipheredKind::Dedicated(s) => s.dedicated_tag(),
            CipheredKind::GeneralGlobal { .. } => TAG_GENERAL_GLO,
            CipheredKind::GeneralDedicated { .. } => TAG_GENERAL_DED,
        }
    }

    /// The service inside, for the service-specific forms.
    pub fn service(&self) -> Option<CipheredService> {
        match self.kind {
            CipheredKind::Global(s) | CipheredKind::Dedicated(s) => Some(s),
            _ => None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 16);
        out.push(self.tag());
        if let CipheredKind::GeneralGlobal { system_title }
        | CipheredKind::GeneralDedicated { system_title } = &self.kind
        {
            write_axdr_length(&mut out, system_title.len());
            out.extend_from_slice(system_title);
        }
        write_axdr_length(&mut out, 5 + self.payload.len());
        out.push(self.header.control.0);
        out.extend_from_slice(&self.header.invocation_counter.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "ciphered APDU");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        r.within("ciphered APDU", |r| {
            let at = r.offset();
            let tag = r.u8()?;
            let kind = match tag {
                TAG_GENERAL_GLO | TAG_GENERAL_DED => {
                    let n = r.axdr_byte_length()?;
                    let system_title = r.take(n)?.to_vec();
                    if tag == TAG_GENERAL_GLO {
                        CipheredKind::GeneralGlobal { system_title }
                    } else {
                        CipheredKind::GeneralDedicated { system_title }
                    }
                }
                t => match SERVICE_TAGS.iter().find(|row| row.2 == t || row.3 == t) {
                    Some(row) if row.2 == t => CipheredKind::Global(row.0),
                    Some(row) => CipheredKind::Dedicated(row.0),
                    None => return Err(r.err_at(at, DecodeErrorKind::UnknownTag(t))),
                },
            };
            let len_at = r.offset();
            let n = r.axdr_byte_length()?;
            if n < 5 {
                return Err(r.invalid(len_at, "ciphered content length", n as u64));
            }
            let control = SecurityControl(r.u8()?);
            let invocation_counter = r.u32()?;
            Ok(CipheredApdu {
                kind,
                header: SecurityHeader {
                    control,
                    invocation_counter,
                },
                payload: r.take(n - 5)?.to_vec(),
            })
        })
    }

    /// Protects a plain APDU. For the service-specific modes the ciphered tag follows from the
    /// APDU's own tag; the general modes carry `sender` in the APDU.
    pub fn seal(
        plain: &[u8],
        mode: CipheringMode,
        control: SecurityControl,
        sender: &SystemTitle,
        invocation_counter: u32,
        keys: &Suite0Keys,
    ) -> Result<Self, SecurityError> {
        let first = *plain
            .first()
            .ok_or(SecurityError::TooShort { len: 0, needed: 1 })?;
        let kind = match mode {
            CipheringMode::Global | CipheringMode::Dedicated => {
                let s = CipheredService::from_plain_tag(first)
                    .ok_or(SecurityError::NotCipherable(first))?;
                if mode == CipheringMode::Global {
                    CipheredKind::Global(s)
                } else {
                    CipheredKind::Dedicated(s)
                }
            }
            CipheringMode::GeneralGlobal => CipheredKind::GeneralGlobal {
                system_title: sender.0.to_vec(),
            },
            CipheringMode::GeneralDedicated => CipheredKind::GeneralDedicated {
                system_title: sender.0.to_vec(),
            },
        };
        let content = protect(keys, control, sender, invocation_counter, plain)?;
        let (header, payload) = split_header(&content)?;
        Ok(CipheredApdu {
            kind,
            header,
            payload: payload.to_vec(),
        })
    }

    /// Checks and decrypts; returns the plain APDU. The sender's system title comes from the
    /// APDU for the general forms (when it holds 8 bytes) and from `sender` otherwise: the
    /// calling-AP-title of the AARQ for a server, the responding-AP-title of the AARE for a
    /// client.
    pub fn open(
        &self,
        keys: &Suite0Keys,
        sender: Option<&SystemTitle>,
    ) -> Result<Vec<u8>, SecurityError> {
        let embedded = match &self.kind {
            CipheredKind::GeneralGlobal { system_title }
            | CipheredKind::GeneralDedicated { system_title } => {
                SystemTitle::from_slice(system_title)
            }
            _ => None,
        };
        let title = embedded
            .as_ref()
            .or(sender)
            .ok_or(SecurityError::MissingSystemTitle)?;
        open_payload(keys, title, self.header, &self.payload)
    }
}

#[cfg(test)]
mod tests;
