//! Push Setup (class 40) and Disconnect Control (class 70) (guide §6.3).

use super::value::{enum_value, fields, integer, wrong_type};
use super::{AttributeValue, CaptureObjectDefinition, MethodCall, OctetString};
use crate::axdr::{CosemDateTime, Data};
use crate::error::ValueError;

/// transport_service of send_destination_and_method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportService {
    Tcp,
    Udp,
    Ftp,
    Smtp,
    Sms,
    Hdlc,
    MBus,
    ZigBee,
    /// 200–255: manufacturer specific.
    Manufacturer(u8),
}

impl TransportService {
    pub fn from_u8(v: u8) -> Option<Self> {
        use TransportService::*;
        Some(match v {
            0 => Tcp,
            1 => Udp,
            2 => Ftp,
            3 => Smtp,
            4 => Sms,
            5 => Hdlc,
            6 => MBus,
            7 => ZigBee,
            200..=255 => Manufacturer(v),
            _ => return None,
        })
    }

    pub fn to_u8(self) -> u8 {
        use TransportService::*;
        match self {
            Tcp => 0,
            Udp => 1,
            Ftp => 2,
            Smtp => 3,
            Sms => 4,
            Hdlc => 5,
            MBus => 6,
            ZigBee => 7,
            Manufacturer(v) => v,
        }
    }
}

impl AttributeValue for TransportService {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let v = enum_value(d, "transport_service")?;
        Self::from_u8(v).ok_or(ValueError::OutOfRange {
            what: "transport_service",
            value: i64::from(v).into(),
        })
    }
    fn to_data(&self) -> Data {
        Data::Enum(self.to_u8())
    }
}

/// message of send_destination_and_method: how the pushed data is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A-XDR encoded xDLMS APDU (a data-notification).
    AxdrApdu,
    Xml,
    /// 128–255: manufacturer specific.
    Manufacturer(u8),
}

impl AttributeValue for MessageType {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        match enum_value(d, "message")? {
            0 => Ok(MessageType::AxdrApdu),
            1 => Ok(MessageType::Xml),
            v @ 128..=255 => Ok(MessageType::Manufacturer(v)),
            v => Err(ValueError::OutOfRange {
                what: "message",
                value: i64::from(v).into(),
            }),
        }
    }
    fn to_data(&self) -> Data {
        Data::Enum(match self {
            MessageType::AxdrApdu => 0,
            MessageType::Xml => 1,
            MessageType::Manufacturer(v) => *v,
        })
    }
}

/// send_destination_and_method: where and how pushes go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SendDestination {
    pub transport: TransportService,
    /// E.g. `"host:port"` for TCP; empty when not configured.
    pub destination: OctetString,
    pub message: MessageType,
}

impl AttributeValue for SendDestination {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [transport, destination, message] = fields::<3>(d, "send_destination_and_method")?;
        Ok(SendDestination {
            transport: TransportService::from_data(transport)?,
            destination: OctetString::from_data(destination)?,
            message: MessageType::from_data(message)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            self.transport.to_data(),
            self.destination.to_data(),
            self.message.to_data(),
        ])
    }
}

/// An element of communication_window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommunicationWindow {
    pub start: CosemDateTime,
    pub end: CosemDateTime,
}

impl AttributeValue for CommunicationWindow {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [start, end] = fields::<2>(d, "communication_window element")?;
        Ok(CommunicationWindow {
            start: CosemDateTime::from_data(start)?,
            end: CosemDateTime::from_data(end)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![self.start.to_data(), self.end.to_data()])
    }
}

/// repetition_delay: seconds (long-unsigned, versions 0 and 1), or the version 2 structure
/// {min, exponent, max}.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepetitionDelay {
    Fixed(u16),
    Exponential { min: u16, exponent: u16, max: u16 },
}

impl AttributeValue for RepetitionDelay {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        match d {
            Data::Structure(_) => {
                let [min, exponent, max] = fields::<3>(d, "repetition_delay")?;
                Ok(RepetitionDelay::Exponential {
                    min: integer(min, "repetition_delay_min", "long-unsigned")?,
                    exponent: integer(exponent, "repetition_delay_exponent", "long-unsigned")?,
                    max: integer(max, "repetition_delay_max", "long-unsigned")?,
                })
            }
            other if other.as_integer().is_some() => Ok(RepetitionDelay::Fixed(integer(
                other,
                "repetition_delay",
                "long-unsigned",
            )?)),
            other => Err(wrong_type(
                "repetition_delay",
                "long-unsigned or structure",
                other,
            )),
        }
    }
    fn to_data(&self) -> Data {
        match *self {
            RepetitionDelay::Fixed(s) => Data::LongUnsigned(s),
            RepetitionDelay::Exponential { min, exponent, max } => Data::Structure(vec![
                Data::LongUnsigned(min),
                Data::LongUnsigned(exponent),
                Data::LongUnsigned(max),
            ]),
        }
    }
}

cosem_class! {
    /// Push Setup (class 40, version 0; the version 2 repetition delay is understood too):
    /// what a push sends, where and when. Method 1 push.
    pub struct PushSetup {
        class: 40,
        version: 0,
        name: "Push Setup",
        not_read: [],
    }
    attributes {
        /// The pushed values, in order (same shape as a profile's capture objects).
        2 => PUSH_OBJECT_LIST, push_object_list: Vec<CaptureObjectDefinition>, "push_object_list";
        3 => SEND_DESTINATION_AND_METHOD, send_destination_and_method: SendDestination, "send_destination_and_method";
        4 => COMMUNICATION_WINDOW, communication_window: Vec<CommunicationWindow>, "communication_window";
        /// Seconds.
        5 => RANDOMISATION_START_INTERVAL, randomisation_start_interval: u16, "randomisation_start_interval";
        6 => NUMBER_OF_RETRIES, number_of_retries: u8, "number_of_retries";
        7 => REPETITION_DELAY, repetition_delay: RepetitionDelay, "repetition_delay";
    }
}

impl PushSetup {
    /// Method 1: push(integer 0): send the push now.
    pub const METHOD_PUSH: i8 = 1;

    pub fn push() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_PUSH)
    }
}

cosem_enum! {
    /// control_state of the disconnector.
    pub enum ControlState ("control_state") {
        Disconnected = 0,
        Connected = 1,
        /// Reconnection allowed, waiting for a manual (local) confirmation.
        ReadyForReconnection = 2,
    }
}

/// control_mode: 0–6, which transitions remote, manual and local commands may trigger (the
/// Blue Book's table for class 70).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlMode(u8);

impl ControlMode {
    pub const MAX: u8 = 6;

    pub fn new(mode: u8) -> Option<Self> {
        (mode <= Self::MAX).then_some(ControlMode(mode))
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

impl AttributeValue for ControlMode {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let v = enum_value(d, "control_mode")?;
        ControlMode::new(v).ok_or(ValueError::OutOfRange {
            what: "control_mode (0–6)",
            value: i64::from(v).into(),
        })
    }
    fn to_data(&self) -> Data {
        Data::Enum(self.0)
    }
}

cosem_class! {
    /// Disconnect Control (class 70, versions 0 and 1): the breaker or relay. Methods 1
    /// remote_disconnect, 2 remote_reconnect (which, in modes that need a manual confirmation,
    /// leads to ready_for_reconnection rather than connected).
    pub struct DisconnectControl {
        class: 70,
        version: 1,
        name: "Disconnect Control",
        not_read: [],
    }
    attributes {
        /// true = connected.
        2 => OUTPUT_STATE, output_state: bool, "output_state";
        3 => CONTROL_STATE, control_state: ControlState, "control_state";
        4 => CONTROL_MODE, control_mode: ControlMode, "control_mode";
    }
}

impl DisconnectControl {
    /// Method 1: remote_disconnect(integer 0).
    pub const METHOD_REMOTE_DISCONNECT: i8 = 1;
    /// Method 2: remote_reconnect(integer 0).
    pub const METHOD_REMOTE_RECONNECT: i8 = 2;

    pub fn remote_disconnect() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_REMOTE_DISCONNECT)
    }

    pub fn remote_reconnect() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_REMOTE_RECONNECT)
    }
}
