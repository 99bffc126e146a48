//! Typed access to COSEM objects over a session: whole objects read into the structs of
//! [`crate::cosem`], attributes written from them, and methods invoked with the builders' calls.
//!
//! * [`DlmsClient::read_object`] reads every attribute a class models (but a profile's buffer
//!   and an association's secret) with GET-with-list, a few attributes per request. An
//!   attribute the meter refuses with a data-access-result stays `None`; when the meter
//!   refuses every one, the object is not readable and the first refusal is the error. Values
//!   that do not decode are an [`Error::Value`] naming object, class and attribute.
//! * [`DlmsClient::invoke`] runs a [`MethodCall`]; convenience calls name the common ones.

use metermaster_model::ObisCode;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::DlmsClient;
use super::{Error, MeterError, Result};
use crate::apdu::{AttributeDescriptor, AttributeRequest, ProfileSelection, SelectiveAccess};
use crate::axdr::{CosemDateTime, Data};
use crate::cosem::{
    ActivityCalendar, AssociationLn, AttributeError, Clock, CosemClass, DisconnectControl,
    MethodCall, ObjectListEntry, ProfileGeneric, ProfileTable, PushSetup, ScriptTable,
};
use crate::obis::Dotted;

/// Attributes asked for in one GET-with-list.
const LIST_CHUNK: usize = 10;

fn object_text<T: CosemClass>(logical_name: ObisCode) -> String {
    format!(
        "{} {} (class {})",
        T::NAME,
        Dotted(logical_name),
        T::CLASS_ID
    )
}

fn attribute_failure<T: CosemClass>(logical_name: ObisCode, e: AttributeError) -> Error {
    Error::Value {
        during: format!(
            "reading {} attribute {} ({})",
            object_text::<T>(logical_name),
            e.attribute,
            e.attribute_name
        ),
        source: e.source,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> DlmsClient<S> {
    /// Reads the object `logical_name` as class `T`: every attribute of
    /// [`CosemClass::read_attributes`].
    pub async fn read_object<T: CosemClass>(&mut self, logical_name: ObisCode) -> Result<T> {
        self.read_object_attributes(logical_name, &T::read_attributes())
            .await
    }

    /// Reads the listed attributes of the object `logical_name` as class `T`; the others stay
    /// `None`.
    pub async fn read_object_attributes<T: CosemClass>(
        &mut self,
        logical_name: ObisCode,
        attributes: &[i8],
    ) -> Result<T> {
        let mut object = T::new(logical_name);
        let mut first_refusal = None;
        let mut any_read = attributes.is_empty();
        for part in attributes.chunks(LIST_CHUNK) {
            let requests: Vec<AttributeRequest> = part
                .iter()
                .map(|a| {
                    AttributeRequest::new(AttributeDescriptor::new(T::CLASS_ID, logical_name, *a))
                })
                .collect();
            let results = self.get_list(&requests).await?;
            for (attribute, result) in part.iter().zip(results) {
                match result {
                    Ok(value) => {
                        object
                            .decode_attribute(*attribute, &value)
                            .map_err(|e| attribute_failure::<T>(logical_name, e))?;
                        any_read = true;
                    }
                    Err(refusal) => {
                        first_refusal.get_or_insert((*attribute, refusal));
                    }
                }
            }
        }
        match first_refusal {
            Some((attribute, result)) if !any_read => Err(MeterError::DataAccess {
                during: format!(
                    "reading {} (attribute {attribute} and every other)",
                    object_text::<T>(logical_name)
                ),
                result,
            }
            .into()),
            _ => Ok(object),
        }
    }

    /// Writes one attribute of `object` (SET), from the value its field holds.
    pub async fn write_object_attribute<T: CosemClass>(
        &mut self,
        object: &T,
        attribute: i8,
    ) -> Result<()> {
        let value = object.encode_attribute(attribute).ok_or_else(|| {
            Error::Usage(format!(
                "writing {} attribute {attribute} ({}): the object holds no value for it",
                object_text::<T>(object.logical_name()),
                T::attribute_name(attribute).unwrap_or("unknown")
            ))
        })?;
        self.set(object.descriptor(attribute), None, &value).await
    }

    /// Invokes a method of the object `logical_name`; returns its return parameters, if any.
    pub async fn invoke(
        &mut self,
        logical_name: ObisCode,
        call: MethodCall,
    ) -> Result<Option<Data>> {
        let method = call.descriptor(logical_name);
        self.action(method, call.parameters).await
    }

    /// The object list of the current association (0.0.40.0.0.255 attribute 2), strictly
    /// decoded (the meter reader's `parse_object_list` skips malformed entries instead).
    pub async fn read_object_list(&mut self) -> Result<Vec<ObjectListEntry>> {
        let ln = AssociationLn::CURRENT;
        let value = self
            .get(
                AttributeDescriptor::new(
                    <AssociationLn as CosemClass>::CLASS_ID,
                    ln,
                    AssociationLn::OBJECT_LIST,
                ),
                None,
            )
            .await?;
        let mut association = AssociationLn::new(ln);
        association
            .decode_attribute(AssociationLn::OBJECT_LIST, &value)
            .map_err(|e| attribute_failure::<AssociationLn>(ln, e))?;
        Ok(association.object_list.unwrap_or_default())
    }

    /// Reads a profile's buffer, whole or with selective access (range or entry descriptor,
    /// guide §3.8), and decodes it against the columns the selection returns. `profile` must
    /// hold its capture objects (and capture period, to rebuild compressed timestamps).
    pub async fn read_profile_buffer(
        &mut self,
        profile: &ProfileGeneric,
        access: Option<SelectiveAccess>,
    ) -> Result<ProfileTable> {
        let ln = profile.logical_name;
        let selection = match &access {
            Some(a) => ProfileSelection::from_access(a)
                .map_err(|e| Error::value(format!("selective access to {}", Dotted(ln)), e))?,
            None => None,
        };
        let columns = profile
            .selected_columns(selection.as_ref())
            .map_err(|e| attribute_failure::<ProfileGeneric>(ln, e))?;
        let buffer = self
            .get(profile.descriptor(ProfileGeneric::BUFFER), access)
            .await?;
        ProfileTable::decode(columns, profile.capture_period.unwrap_or(0), &buffer).map_err(|e| {
            Error::value(
                format!(
                    "reading {} attribute 2 (buffer)",
                    object_text::<ProfileGeneric>(ln)
                ),
                e,
            )
        })
    }

    // ----- convenience calls -----

    /// Sets the clock (attribute 2) to `time` (a hard set; many meters log it).
    pub async fn clock_set_time(&mut self, clock: ObisCode, time: CosemDateTime) -> Result<()> {
        let attribute =
            AttributeDescriptor::new(<Clock as CosemClass>::CLASS_ID, clock, Clock::TIME);
        self.set(attribute, None, &Data::date_time_octets(time))
            .await
    }

    /// Moves the clock by `seconds` (−900…+900) with shift_time (method 6).
    pub async fn clock_shift_time(&mut self, clock: ObisCode, seconds: i16) -> Result<()> {
        let call = Clock::shift_time(seconds)
            .map_err(|e| Error::value(format!("shift_time of {}", Dotted(clock)), e))?;
        self.invoke(clock, call).await.map(|_| ())
    }

    /// Opens the breaker (remote_disconnect, method 1).
    pub async fn remote_disconnect(&mut self, disconnector: ObisCode) -> Result<()> {
        self.invoke(disconnector, DisconnectControl::remote_disconnect())
            .await
            .map(|_| ())
    }

    /// Closes the breaker, or makes it ready for a manual reconnection (remote_reconnect,
    /// method 2).
    pub async fn remote_reconnect(&mut self, disconnector: ObisCode) -> Result<()> {
        self.invoke(disconnector, DisconnectControl::remote_reconnect())
            .await
            .map(|_| ())
    }

    /// Runs script `script_id` of a script table (execute, method 1).
    pub async fn execute_script(&mut self, table: ObisCode, script_id: u16) -> Result<()> {
        self.invoke(table, ScriptTable::execute(script_id))
            .await
            .map(|_| ())
    }

    /// Activates the passive calendar now (method 1).
    pub async fn activate_passive_calendar(&mut self, calendar: ObisCode) -> Result<()> {
        self.invoke(calendar, ActivityCalendar::activate_passive_calendar())
            .await
            .map(|_| ())
    }

    /// Triggers a push (method 1).
    pub async fn push_now(&mut self, push_setup: ObisCode) -> Result<()> {
        self.invoke(push_setup, PushSetup::push()).await.map(|_| ())
    }
}
