//! A typed object model of the COSEM interface classes the client works with (guide §6.3): one
//! struct per class whose fields are the class's attributes, decoded from and encoded to the
//! A-XDR [`Data`] the services carry.
//!
//! | class | type | module |
//! |---|---|---|
//! | 1 Data | [`DataObject`] | `registers` |
//! | 3 Register | [`Register`] | `registers` |
//! | 4 Extended Register | [`ExtendedRegister`] | `registers` |
//! | 5 Demand Register | [`DemandRegister`] | `registers` |
//! | 6 Register Activation | [`RegisterActivation`] | `registers` |
//! | 7 Profile Generic | [`ProfileGeneric`], rows as [`ProfileTable`] | `profile` |
//! | 8 Clock | [`Clock`] | `clock` |
//! | 9 Script Table | [`ScriptTable`] | `calendar` |
//! | 11 Special Days Table | [`SpecialDaysTable`] | `calendar` |
//! | 15 Association LN | [`AssociationLn`] | `association` |
//! | 17 SAP Assignment | [`SapAssignment`] | `association` |
//! | 20 Activity Calendar | [`ActivityCalendar`] | `calendar` |
//! | 40 Push Setup | [`PushSetup`] | `control` |
//! | 70 Disconnect Control | [`DisconnectControl`] | `control` |
//!
//! Every class type implements [`CosemClass`]: its class id, the version modelled, attribute
//! numbers as constants (`Clock::TIME`), and [`decode_attribute`](CosemClass::decode_attribute) /
//! [`encode_attribute`](CosemClass::encode_attribute). Attribute fields are `Option`s: `None`
//! is an attribute not read (or refused by the meter). Method numbers are constants with a
//! `METHOD_` prefix, and each method has a builder returning a [`MethodCall`] with its
//! parameters (`Clock::shift_time(30)`, `DisconnectControl::remote_disconnect()`).
//!
//! Decoding never panics: a value without the documented shape is an [`AttributeError`] naming
//! the class, the attribute and what is wrong. Decoders accept what meters are known to send
//! besides the documented form (any integer width that fits, date-times with tag 25 or as
//! octet-strings, enums sent as unsigned, context names as BER octet-strings); encoders always
//! write the documented form (date, time and date-time attributes as octet-strings).
//!
//! Element types that already existed are reused: [`ScalerUnit`](crate::obis::ScalerUnit),
//! [`CosemDateTime`](crate::axdr::CosemDateTime) and its date and time,
//! [`CaptureObjectDefinition`] (profile columns, push objects),
//! [`Conformance`](crate::apdu::Conformance), [`ApplicationContext`](crate::apdu::ApplicationContext)
//! and [`MechanismName`](crate::apdu::MechanismName).
//!
//! The client side (reading whole objects with GET-with-list, writing attributes, invoking
//! methods) is in [`crate::client`] (`DlmsClient::read_object` and its neighbours).

mod value;
#[macro_use]
mod macros;

mod association;
mod calendar;
mod clock;
mod control;
mod profile;
mod registers;

#[cfg(test)]
mod tests;

use metermaster_model::ObisCode;

use crate::apdu::{AttributeDescriptor, MethodDescriptor};
use crate::axdr::Data;
pub use crate::error::AttributeError;
use crate::error::ValueError;

pub use crate::apdu::CaptureObjectDefinition;
pub use association::{
    AccessMode, AccessRights, AssociationLn, AssociationStatus, AttributeAccess, MethodAccess,
    MethodAccessMode, ObjectListEntry, PartnersId, SapAssignment, SapAssignmentEntry, UserEntry,
    XdlmsContextInfo,
};
pub use calendar::{
    ActivityCalendar, DayProfile, DayProfileAction, Script, ScriptAction, ScriptService,
    ScriptTable, SeasonProfile, SpecialDay, SpecialDaysTable, WeekProfile,
};
pub use clock::{Clock, ClockBase};
pub use control::{
    CommunicationWindow, ControlMode, ControlState, DisconnectControl, MessageType, PushSetup,
    RepetitionDelay, SendDestination, TransportService,
};
pub use profile::{ProfileEntry, ProfileGeneric, ProfileRow, ProfileTable, SortMethod};
pub use registers::{
    DataObject, DemandRegister, ExtendedRegister, Register, RegisterActivation, RegisterAssignment,
    RegisterMask,
};
pub use value::{AttributeValue, OctetString};

/// One COSEM interface class as a struct of its attributes.
pub trait CosemClass: Sized + Clone + std::fmt::Debug + PartialEq {
    const CLASS_ID: u16;
    /// The highest class version the type models (older versions decode too; attributes they
    /// lack stay `None`).
    const VERSION: u8;
    /// The class name, for messages: `"Clock"`.
    const NAME: &'static str;
    /// Every attribute the type models, from 2 on (1, the logical name, is the struct's
    /// `logical_name`).
    const ATTRIBUTES: &'static [i8];
    /// Attributes a whole-object read leaves out: a profile's buffer (large, read with
    /// selective access), an association's secret (write-only).
    const NOT_READ: &'static [i8] = &[];

    /// The object with only its logical name; every attribute `None`.
    fn new(logical_name: ObisCode) -> Self;

    fn logical_name(&self) -> ObisCode;

    /// The attribute's name in the class (`"scaler_unit"`), `None` for a number it lacks.
    fn attribute_name(attribute: i8) -> Option<&'static str>;

    /// Decodes one attribute value into its field (attribute 1 sets the logical name).
    fn decode_attribute(&mut self, attribute: i8, value: &Data) -> Result<(), AttributeError>;

    /// The attribute's value as the meter takes it in a SET, when the field holds one.
    fn encode_attribute(&self, attribute: i8) -> Option<Data>;

    /// The attributes a whole-object read asks for: [`ATTRIBUTES`](Self::ATTRIBUTES) without
    /// [`NOT_READ`](Self::NOT_READ).
    fn read_attributes() -> Vec<i8> {
        Self::ATTRIBUTES
            .iter()
            .copied()
            .filter(|a| !Self::NOT_READ.contains(a))
            .collect()
    }

    /// The descriptor of one of this object's attributes, for GET and SET.
    fn descriptor(&self, attribute: i8) -> AttributeDescriptor {
        AttributeDescriptor::new(Self::CLASS_ID, self.logical_name(), attribute)
    }

    /// An object from attribute values, as `(attribute, value)` pairs.
    fn from_attributes<'a>(
        logical_name: ObisCode,
        values: impl IntoIterator<Item = (i8, &'a Data)>,
    ) -> Result<Self, AttributeError> {
        let mut obj = Self::new(logical_name);
        for (attribute, value) in values {
            obj.decode_attribute(attribute, value)?;
        }
        Ok(obj)
    }
}

/// An attribute error for class `T`.
pub(crate) fn attribute_error<T: CosemClass>(attribute: i8, source: ValueError) -> AttributeError {
    AttributeError {
        class_id: T::CLASS_ID,
        class: T::NAME,
        attribute,
        attribute_name: T::attribute_name(attribute).unwrap_or("unknown"),
        source,
    }
}

/// A method invocation: which method of which class, and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    pub class_id: u16,
    pub method_id: i8,
    /// `None` sends no parameters at all; the Blue Book's "no real parameter" methods take
    /// `integer(0)` instead (guide §3.4), which their builders give.
    pub parameters: Option<Data>,
}

impl MethodCall {
    /// A call of a method of class `T` with a parameter.
    pub fn new<T: CosemClass>(method_id: i8, parameters: Data) -> Self {
        MethodCall {
            class_id: T::CLASS_ID,
            method_id,
            parameters: Some(parameters),
        }
    }

    /// A method whose parameter is the conventional `integer(0)` (`01 0F 00` in the request).
    pub fn without_parameter<T: CosemClass>(method_id: i8) -> Self {
        Self::new::<T>(method_id, Data::Integer(0))
    }

    /// The method descriptor for the object `logical_name`.
    pub fn descriptor(&self, logical_name: ObisCode) -> MethodDescriptor {
        MethodDescriptor::new(self.class_id, logical_name, self.method_id)
    }
}
