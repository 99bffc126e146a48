//! The xDLMS initiate exchange carried in the AARQ/AARE user-information (guide §2.3–2.5): the
//! InitiateRequest and InitiateResponse with their conformance block and PDU sizes, the
//! confirmedServiceError that rejects an association at the xDLMS level, and
//! [`UserInformation`], which is any of these or their ciphered form.

use std::fmt;

use crate::error::{DecodeError, DecodeErrorKind};
use crate::reader::{Reader, Result, write_axdr_length};
use crate::security::CipheredApdu;

const TAG_INITIATE_REQUEST: u8 = super::tag::INITIATE_REQUEST;
const TAG_INITIATE_RESPONSE: u8 = super::tag::INITIATE_RESPONSE;
const TAG_CONFIRMED_SERVICE_ERROR: u8 = super::tag::CONFIRMED_SERVICE_ERROR;

/// The conformance block (guide §2.4): 24 bits, bit 0 the most significant bit of the first byte,
/// held here as the 24-bit big-endian integer of the three bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Conformance(pub u32);

/// Bit names, most significant first.
const CONFORMANCE_NAMES: [&str; 24] = [
    "reserved-zero",
    "general-protection",
    "general-block-transfer",
    "read",
    "write",
    "unconfirmed-write",
    "delta-value-encoding",
    "reserved-seven",
    "attribute0-supported-with-set",
    "priority-mgmt-supported",
    "attribute0-supported-with-get",
    "block-transfer-with-get-or-read",
    "block-transfer-with-set-or-write",
    "block-transfer-with-action",
    "multiple-references",
    "information-report",
    "data-notification",
    "access",
    "parameterized-access",
    "get",
    "set",
    "selective-access",
    "event-notification",
    "action",
];

impl Conformance {
    pub const GENERAL_PROTECTION: u32 = 0x40_0000;
    pub const GENERAL_BLOCK_TRANSFER: u32 = 0x20_0000;
    pub const READ: u32 = 0x10_0000;
    pub const WRITE: u32 = 0x08_0000;
    pub const UNCONFIRMED_WRITE: u32 = 0x04_0000;
    pub const DELTA_VALUE_ENCODING: u32 = 0x02_0000;
    pub const ATTRIBUTE0_SUPPORTED_WITH_SET: u32 = 0x00_8000;
    pub const PRIORITY_MGMT_SUPPORTED: u32 = 0x00_4000;
    pub const ATTRIBUTE0_SUPPORTED_WITH_GET: u32 = 0x00_2000;
    pub const BLOCK_TRANSFER_WITH_GET_OR_READ: u32 = 0x00_1000;
    pub const BLOCK_TRANSFER_WITH_SET_OR_WRITE: u32 = 0x00_0800;
    pub const BLOCK_TRANSFER_WITH_ACTION: u32 = 0x00_0400;
    pub const MULTIPLE_REFERENCES: u32 = 0x00_0200;
    pub const INFORMATION_REPORT: u32 = 0x00_0100;
    pub const DATA_NOTIFICATION: u32 = 0x00_0080;
    pub const ACCESS: u32 = 0x00_0040;
    pub const PARAMETERIZED_ACCESS: u32 = 0x00_0020;
    pub const GET: u32 = 0x00_0010;
    pub const SET: u32 = 0x00_0008;
    pub const SELECTIVE_ACCESS: u32 = 0x00_0004;
    pub const EVENT_NOTIFICATION: u32 = 0x00_0002;
    pub const ACTION: u32 = 0x00_0001;

    /// The Green Book client proposal `00 7E 1F`.
    pub const GREEN_BOOK_PROPOSAL: Conformance = Conformance(0x00_7E1F);

    pub fn from_bytes(b: [u8; 3]) -> Self {
        Conformance(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    pub fn to_bytes(self) -> [u8; 3] {
        let b = self.0.to_be_bytes();
        [b[1], b[2], b[3]]
    }

    /// Whether all bits of `mask` are set.
    pub fn has(self, mask: u32) -> bool {
        self.0 & mask == mask
    }

    /// What both sides support: the server grants the intersection.
    pub fn intersection(self, other: Conformance) -> Conformance {
        Conformance(self.0 & other.0)
    }

    /// Names of the set bits, most significant first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        CONFORMANCE_NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (0x80_0000 >> i) != 0)
            .map(|(_, n)| *n)
    }

    /// `5F 1F 04 00 b1 b2 b3`: [APPLICATION 31] BIT STRING with no unused bits.
    pub(crate) fn write(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x5F, 0x1F, 0x04, 0x00]);
        out.extend_from_slice(&self.to_bytes());
    }

    /// Reads the conformance block; the older one-byte tag form `5F 04 …` is accepted too.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.expect(0x5F)?;
        if r.peek()? == 0x1F {
            r.u8()?;
        }
        let at = r.offset();
        let len = r.u8()?;
        if len != 4 {
            return Err(r.invalid(at, "conformance length", u64::from(len)));
        }
        let _unused_bits = r.u8()?;
        Ok(Conformance::from_bytes(r.array()?))
    }
}

impl fmt::Display for Conformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06X}", self.0 & 0xFF_FFFF)?;
        let mut first = true;
        for n in self.names() {
            f.write_str(if first { " (" } else { ", " })?;
            f.write_str(n)?;
            first = false;
        }
        if !first {
            f.write_str(")")?;
        }
        Ok(())
    }
}

fn read_optional_i8(r: &mut Reader<'_>) -> Result<Option<i8>> {
    let at = r.offset();
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.u8()? as i8)),
        other => Err(r.invalid(at, "optional-field flag", u64::from(other))),
    }
}

fn write_optional_i8(out: &mut Vec<u8>, v: Option<i8>) {
    match v {
        None => out.push(0),
        Some(v) => out.extend_from_slice(&[1, v as u8]),
    }
}

/// xDLMS InitiateRequest (tag `01`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateRequest {
    /// The dedicated key for ded- ciphering (only inside a ciphered InitiateRequest).
    pub dedicated_key: Option<Vec<u8>>,
    /// Default TRUE; encoded as "default" when true.
    pub response_allowed: bool,
    pub proposed_quality_of_service: Option<i8>,
    /// 6 for DLMS version 6.
    pub proposed_dlms_version: u8,
    pub proposed_conformance: Conformance,
    /// The largest APDU the client accepts.
    pub client_max_receive_pdu_size: u16,
}

impl InitiateRequest {
    /// A DLMS version 6 request without dedicated key or QoS.
    pub fn new(conformance: Conformance, client_max_receive_pdu_size: u16) -> Self {
        InitiateRequest {
            dedicated_key: None,
            response_allowed: true,
            proposed_quality_of_service: None,
            proposed_dlms_version: 6,
            proposed_conformance: conformance,
            client_max_receive_pdu_size,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(TAG_INITIATE_REQUEST);
        match &self.dedicated_key {
            None => out.push(0),
            Some(k) => {
                out.push(1);
                write_axdr_length(out, k.len());
                out.extend_from_slice(k);
            }
        }
        if self.response_allowed {
            out.push(0);
        } else {
            out.extend_from_slice(&[1, 0]);
        }
        write_optional_i8(out, self.proposed_quality_of_service);
        out.push(self.proposed_dlms_version);
        self.proposed_conformance.write(out);
        out.extend_from_slice(&self.client_max_receive_pdu_size.to_be_bytes());
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "InitiateRequest");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("InitiateRequest", |r| {
            r.expect(TAG_INITIATE_REQUEST)?;
            let at = r.offset();
            let dedicated_key = match r.u8()? {
                0 => None,
                1 => {
                    let n = r.axdr_byte_length()?;
                    Some(r.take(n)?.to_vec())
                }
                other => return Err(r.invalid(at, "optional-field flag", u64::from(other))),
            };
            let at = r.offset();
            let response_allowed = match r.u8()? {
                0 => true,
                1 => r.u8()? != 0,
                other => return Err(r.invalid(at, "optional-field flag", u64::from(other))),
            };
            let proposed_quality_of_service = read_optional_i8(r)?;
            let proposed_dlms_version = r.u8()?;
            let proposed_conformance = Conformance::read(r)?;
            let client_max_receive_pdu_size = r.u16()?;
            Ok(InitiateRequest {
                dedicated_key,
                response_allowed,
                proposed_quality_of_service,
                proposed_dlms_version,
                proposed_conformance,
                client_max_receive_pdu_size,
            })
        })
    }
}

/// xDLMS InitiateResponse (tag `08`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateResponse {
    pub negotiated_quality_of_service: Option<i8>,
    pub negotiated_dlms_version: u8,
    pub negotiated_conformance: Conformance,
    /// The largest APDU the server accepts.
    pub server_max_receive_pdu_size: u16,
    /// `0x0007` for LN referencing, `0xFA00` for SN.
    pub vaa_name: u16,
}

impl InitiateResponse {
    /// The VAA name of logical-name associations.
    pub const VAA_LN: u16 = 0x0007;
    /// The VAA name of short-name associations.
    pub const VAA_SN: u16 = 0xFA00;

    /// A DLMS version 6, LN response.
    pub fn new(conformance: Conformance, server_max_receive_pdu_size: u16) -> Self {
        InitiateResponse {
            negotiated_quality_of_service: None,
            negotiated_dlms_version: 6,
            negotiated_conformance: conformance,
            server_max_receive_pdu_size,
            vaa_name: Self::VAA_LN,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(TAG_INITIATE_RESPONSE);
        write_optional_i8(out, self.negotiated_quality_of_service);
        out.push(self.negotiated_dlms_version);
        self.negotiated_conformance.write(out);
        out.extend_from_slice(&self.server_max_receive_pdu_size.to_be_bytes());
        out.extend_from_slice(&self.vaa_name.to_be_bytes());
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "InitiateResponse");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("InitiateResponse", |r| {
            r.expect(TAG_INITIATE_RESPONSE)?;
            Ok(InitiateResponse {
                negotiated_quality_of_service: read_optional_i8(r)?,
                negotiated_dlms_version: r.u8()?,
                negotiated_conformance: Conformance::read(r)?,
                server_max_receive_pdu_size: r.u16()?,
                vaa_name: r.u16()?,
            })
        })
    }
}

/// confirmedServiceError (tag `0E`): which service failed and why. In LN associations it appears
/// as the xDLMS rejection inside an AARE: `0E 01 06 nn` (initiateError, initiate, reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfirmedServiceError {
    /// The ConfirmedServiceError choice: 1 initiateError, 2 getStatus, … 5 read, 6 write.
    pub service: u8,
    /// The ServiceError choice: 0 application-reference, 1 hardware-resource, 2 vde-state-error,
    /// 3 service, 4 definition, 5 access, 6 initiate, 7 load-data-set, 8 change-scope, 9 task,
    /// 10 other.
    pub error_kind: u8,
    /// The reason within that choice.
    pub error_value: u8,
}

impl ConfirmedServiceError {
    pub const SERVICE_INITIATE_ERROR: u8 = 1;
    pub const KIND_INITIATE: u8 = 6;
    pub const INITIATE_OTHER: u8 = 0;
    pub const INITIATE_DLMS_VERSION_TOO_LOW: u8 = 1;
    pub const INITIATE_INCOMPATIBLE_CONFORMANCE: u8 = 2;
    pub const INITIATE_PDU_SIZE_TOO_SHORT: u8 = 3;
    pub const INITIATE_REFUSED_BY_VDE_HANDLER: u8 = 4;

    /// An initiateError with an initiate reason (0 other, 1 version too low, 2 incompatible
    /// conformance, 3 PDU size too short, 4 refused by the VDE handler).
    pub fn initiate(reason: u8) -> Self {
        ConfirmedServiceError {
            service: Self::SERVICE_INITIATE_ERROR,
            error_kind: Self::KIND_INITIATE,
            error_value: reason,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        vec![
            TAG_CONFIRMED_SERVICE_ERROR,
            self.service,
            self.error_kind,
            self.error_value,
        ]
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "confirmedServiceError");
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.within("confirmedServiceError", |r| {
            r.expect(TAG_CONFIRMED_SERVICE_ERROR)?;
            Ok(ConfirmedServiceError {
                service: r.u8()?,
                error_kind: r.u8()?,
                error_value: r.u8()?,
            })
        })
    }
}

impl fmt::Display for ConfirmedServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.error_kind {
            0 => "application-reference",
            1 => "hardware-resource",
            2 => "vde-state-error",
            3 => "service",
            4 => "definition",
            5 => "access",
            6 => "initiate",
            7 => "load-data-set",
            8 => "change-scope",
            9 => "task",
            10 => "other",
            _ => "unknown",
        };
        if self.error_kind == Self::KIND_INITIATE {
            let why = match self.error_value {
                0 => "other",
                1 => "DLMS version too low",
                2 => "incompatible conformance",
                3 => "PDU size too short",
                4 => "refused by the VDE handler",
                _ => "unknown reason",
            };
            write!(f, "service {} failed: initiate error, {why}", self.service)
        } else {
            write!(
                f,
                "service {} failed: {kind} error {}",
                self.service, self.error_value
            )
        }
    }
}

/// What the user-information field of AARQ, AARE, RLRQ and RLRE carries.
#[derive(Debug, Clone, PartialEq)]
pub enum UserInformation {
    InitiateRequest(InitiateRequest),
    InitiateResponse(InitiateResponse),
    ConfirmedServiceError(ConfirmedServiceError),
    /// glo-/ded-initiate-request, -response or confirmedServiceError, for a ciphered context.
    Ciphered(CipheredApdu),
}

impl UserInformation {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            UserInformation::InitiateRequest(v) => v.encode(),
            UserInformation::InitiateResponse(v) => v.encode(),
            UserInformation::ConfirmedServiceError(v) => v.encode(),
            UserInformation::Ciphered(v) => v.encode(),
        }
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        Self::read_all(Reader::new(bytes, "user-information"))
    }

    pub(crate) fn read_all(mut r: Reader<'_>) -> Result<Self> {
        let at = r.offset();
        let v = match r.peek()? {
            TAG_INITIATE_REQUEST => {
                UserInformation::InitiateRequest(InitiateRequest::read(&mut r)?)
            }
            TAG_INITIATE_RESPONSE => {
                UserInformation::InitiateResponse(InitiateResponse::read(&mut r)?)
            }
            TAG_CONFIRMED_SERVICE_ERROR => {
                UserInformation::ConfirmedServiceError(ConfirmedServiceError::read(&mut r)?)
            }
            tag if CipheredApdu::is_ciphered_tag(tag) => {
                UserInformation::Ciphered(CipheredApdu::read(&mut r)?)
            }
            tag => return Err(r.err_at(at, DecodeErrorKind::UnknownTag(tag))),
        };
        r.finish()?;
        Ok(v)
    }
}
