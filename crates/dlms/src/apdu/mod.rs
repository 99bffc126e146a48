//! The APDUs of an LN association (guide §2, §3): one type per family, each with `encode` and an
//! exact `decode`, and [`Apdu`], which decodes whatever arrives by its tag. Client and server use
//! the same types: requests and responses have distinct tags, so one decoder serves both sides.
//!
//! Ciphered APDUs decode to [`Apdu::Ciphered`] and are opened with [`crate::security`].

mod acse;
mod action;
mod ber;
mod common;
mod exception;
mod gbt;
mod get;
mod initiate;
mod notification;
pub mod selective;
mod set;

pub use acse::{
    Aare, Aarq, AcseServiceProvider, AcseServiceUser, ApplicationContext, AssociationResult,
    MechanismName, ReleaseRequestReason, ReleaseResponseReason, ResultSourceDiagnostic, Rlre, Rlrq,
};
pub use action::{ActionRequest, ActionResponse, ActionResult};
pub use ber::BerField;
pub use common::{
    AttributeDescriptor, AttributeRequest, DataAccessResult, DataBlock, GetDataResult,
    InvokeIdAndPriority, MethodDescriptor, SelectiveAccess,
};
pub use exception::{ExceptionResponse, ServiceError, StateError};
pub use gbt::GeneralBlockTransfer;
pub use get::{DataBlockResult, GetDataBlock, GetRequest, GetResponse};
pub use initiate::{
    ConfirmedServiceError, Conformance, InitiateRequest, InitiateResponse, UserInformation,
};
pub use notification::DataNotification;
pub use selective::{CaptureObjectDefinition, EntryDescriptor, ProfileSelection, RangeDescriptor};
pub use set::{SetRequest, SetResponse};

use crate::error::{DecodeError, DecodeErrorKind};
use crate::reader::Reader;
use crate::security::CipheredApdu;

/// APDU tags of guide §3.1.
pub mod tag {
    pub const INITIATE_REQUEST: u8 = 0x01;
    pub const INITIATE_RESPONSE: u8 = 0x08;
    pub const CONFIRMED_SERVICE_ERROR: u8 = 0x0E;
    pub const DATA_NOTIFICATION: u8 = 0x0F;
    pub const AARQ: u8 = 0x60;
    pub const AARE: u8 = 0x61;
    pub const RLRQ: u8 = 0x62;
    pub const RLRE: u8 = 0x63;
    pub const GET_REQUEST: u8 = 0xC0;
    pub const SET_REQUEST: u8 = 0xC1;
    pub const EVENT_NOTIFICATION_REQUEST: u8 = 0xC2;
    pub const ACTION_REQUEST: u8 = 0xC3;
    pub const GET_RESPONSE: u8 = 0xC4;
    pub const SET_RESPONSE: u8 = 0xC5;
    pub const ACTION_RESPONSE: u8 = 0xC7;
    pub const EXCEPTION_RESPONSE: u8 = 0xD8;
    pub const ACCESS_REQUEST: u8 = 0xD9;
    pub const ACCESS_RESPONSE: u8 = 0xDA;
    pub const GENERAL_GLO_CIPHERING: u8 = 0xDB;
    pub const GENERAL_DED_CIPHERING: u8 = 0xDC;
    pub const GENERAL_CIPHERING: u8 = 0xDD;
    pub const GENERAL_BLOCK_TRANSFER: u8 = 0xE0;
}

/// Any APDU this crate understands.
#[derive(Debug, Clone, PartialEq)]
pub enum Apdu {
    Aarq(Aarq),
    Aare(Aare),
    Rlrq(Rlrq),
    Rlre(Rlre),
    InitiateRequest(InitiateRequest),
    InitiateResponse(InitiateResponse),
    ConfirmedServiceError(ConfirmedServiceError),
    GetRequest(GetRequest),
    GetResponse(GetResponse),
    SetRequest(SetRequest),
    SetResponse(SetResponse),
    ActionRequest(ActionRequest),
    ActionResponse(ActionResponse),
    ExceptionResponse(ExceptionResponse),
    DataNotification(DataNotification),
    GeneralBlockTransfer(GeneralBlockTransfer),
    /// glo-, ded- or general-glo/ded-ciphered: open it with the keys.
    Ciphered(CipheredApdu),
}

impl Apdu {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Apdu::Aarq(a) => a.encode(),
            Apdu::Aare(a) => a.encode(),
            Apdu::Rlrq(a) => a.encode(),
            Apdu::Rlre(a) => a.encode(),
            Apdu::InitiateRequest(a) => a.encode(),
            Apdu::InitiateResponse(a) => a.encode(),
            Apdu::ConfirmedServiceError(a) => a.encode(),
            Apdu::GetRequest(a) => a.encode(),
            Apdu::GetResponse(a) => a.encode(),
            Apdu::SetRequest(a) => a.encode(),
            Apdu::SetResponse(a) => a.encode(),
            Apdu::ActionRequest(a) => a.encode(),
            Apdu::ActionResponse(a) => a.encode(),
            Apdu::ExceptionResponse(a) => a.encode(),
            Apdu::DataNotification(a) => a.encode(),
            Apdu::GeneralBlockTransfer(a) => a.encode(),
            Apdu::Ciphered(a) => a.encode(),
        }
    }

    /// Decodes one complete APDU; bytes left over are an error.
    pub fn decode(bytes: &[u8]) -> Result<Apdu, DecodeError> {
        let first = *bytes.first().ok_or(DecodeError::new(
            0,
            "APDU",
            DecodeErrorKind::Truncated { needed: 1 },
        ))?;
        let mut r = Reader::new(bytes, "APDU");
        let apdu = match first {
            tag::AARQ => Apdu::Aarq(Aarq::decode(bytes)?),
            tag::AARE => Apdu::Aare(Aare::decode(bytes)?),
            tag::RLRQ => Apdu::Rlrq(Rlrq::decode(bytes)?),
            tag::RLRE => Apdu::Rlre(Rlre::decode(bytes)?),
            tag::INITIATE_REQUEST => Apdu::InitiateRequest(InitiateRequest::read(&mut r)?),
            tag::INITIATE_RESPONSE => Apdu::InitiateResponse(InitiateResponse::read(&mut r)?),
            tag::CONFIRMED_SERVICE_ERROR => {
                Apdu::ConfirmedServiceError(ConfirmedServiceError::read(&mut r)?)
            }
            tag::GET_REQUEST => Apdu::GetRequest(GetRequest::read(&mut r)?),
            tag::GET_RESPONSE => Apdu::GetResponse(GetResponse::read(&mut r)?),
            tag::SET_REQUEST => Apdu::SetRequest(SetRequest::read(&mut r)?),
            tag::SET_RESPONSE => Apdu::SetResponse(SetResponse::read(&mut r)?),
            tag::ACTION_REQUEST => Apdu::ActionRequest(ActionRequest::read(&mut r)?),
            tag::ACTION_RESPONSE => Apdu::ActionResponse(ActionResponse::read(&mut r)?),
            tag::EXCEPTION_RESPONSE => Apdu::ExceptionResponse(ExceptionResponse::read(&mut r)?),
            tag::DATA_NOTIFICATION => Apdu::DataNotification(DataNotification::read(&mut r)?),
            tag::GENERAL_BLOCK_TRANSFER => {
                Apdu::GeneralBlockTransfer(GeneralBlockTransfer::read(&mut r)?)
            }
            t if CipheredApdu::is_ciphered_tag(t) => Apdu::Ciphered(CipheredApdu::read(&mut r)?),
            t => return Err(r.err(DecodeErrorKind::UnknownTag(t))),
        };
        if !matches!(
            apdu,
            Apdu::Aarq(_) | Apdu::Aare(_) | Apdu::Rlrq(_) | Apdu::Rlre(_)
        ) {
            r.finish()?;
        }
        Ok(apdu)
    }

    /// The invoke-id-and-priority byte of GET/SET/ACTION APDUs.
    pub fn invoke(&self) -> Option<InvokeIdAndPriority> {
        Some(match self {
            Apdu::GetRequest(a) => a.invoke(),
            Apdu::GetResponse(a) => a.invoke(),
            Apdu::SetRequest(a) => a.invoke(),
            Apdu::SetResponse(a) => a.invoke(),
            Apdu::ActionRequest(a) => a.invoke(),
            Apdu::ActionResponse(a) => a.invoke(),
            _ => return None,
        })
    }
}

macro_rules! apdu_from {
    ($($t:ident),* $(,)?) => {
        $(impl From<$t> for Apdu {
            fn from(v: $t) -> Apdu {
                Apdu::$t(v)
            }
        })*
    };
}

apdu_from!(
    Aarq,
    Aare,
    Rlrq,
    Rlre,
    InitiateRequest,
    InitiateResponse,
    ConfirmedServiceError,
    GetRequest,
    GetResponse,
    SetRequest,
    SetResponse,
    ActionRequest,
    ActionResponse,
    ExceptionResponse,
    DataNotification,
    GeneralBlockTransfer,
);

impl From<CipheredApdu> for Apdu {
    fn from(v: CipheredApdu) -> Apdu {
        Apdu::Ciphered(v)
    }
}

#[cfg(test)]
mod tests;
