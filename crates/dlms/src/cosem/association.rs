//! Association LN (class 15, versions 0–3) and SAP Assignment (class 17) (guide §6.3).

use metermaster_model::ObisCode;

use super::value::{enum_value, fields, integer, wrong_type};
use super::{AttributeValue, MethodCall, OctetString};
use crate::apdu::{ApplicationContext, Conformance, MechanismName};
use crate::axdr::Data;
use crate::client::reader::CosemObject;
use crate::error::ValueError;

/// An attribute access mode as sent. Versions 0–2 number the modes (0 no access, 1 read, 2
/// write, 3 read-write, 4–6 the same with authentication); version 3 sends a bit mask (bit 0
/// read, bit 1 write, higher bits the protection required).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccessMode(pub u8);

impl AccessMode {
    /// Whether the attribute may be read, in an Association LN of `version`.
    pub fn can_read(self, version: u8) -> bool {
        if version >= 3 {
            self.0 & 0x01 != 0
        } else {
            matches!(self.0, 1 | 3 | 4 | 6)
        }
    }

    /// Whether the attribute may be written, in an Association LN of `version`.
    pub fn can_write(self, version: u8) -> bool {
        if version >= 3 {
            self.0 & 0x02 != 0
        } else {
            matches!(self.0, 2 | 3 | 5 | 6)
        }
    }
}

/// A method access mode: a boolean in version 0, an enum (0 none, 1 access, 2 authenticated
/// access; a bit mask in version 3) from version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodAccessMode {
    Boolean(bool),
    Mode(u8),
}

impl MethodAccessMode {
    /// Whether the method may be invoked.
    pub fn allowed(self) -> bool {
        match self {
            MethodAccessMode::Boolean(b) => b,
            MethodAccessMode::Mode(m) => m != 0,
        }
    }
}

/// attribute_access element: the attribute, its mode and its access selectors (`None` for
/// null-data).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttributeAccess {
    pub attribute_id: i8,
    pub access_mode: AccessMode,
    pub access_selectors: Option<Vec<i8>>,
}

impl AttributeValue for AttributeAccess {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [id, mode, selectors] = fields::<3>(d, "attribute_access item")?;
        Ok(AttributeAccess {
            attribute_id: integer(id, "attribute_id", "integer")?,
            access_mode: AccessMode(enum_value(mode, "access_mode")?),
            access_selectors: match selectors {
                Data::Null => None,
                other => Some(Vec::from_data(other)?),
            },
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::Integer(self.attribute_id),
            Data::Enum(self.access_mode.0),
            self.access_selectors
                .as_ref()
                .map_or(Data::Null, AttributeValue::to_data),
        ])
    }
}

/// method_access element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MethodAccess {
    pub method_id: i8,
    pub access_mode: MethodAccessMode,
}

impl AttributeValue for MethodAccess {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [id, mode] = fields::<2>(d, "method_access item")?;
        Ok(MethodAccess {
            method_id: integer(id, "method_id", "integer")?,
            access_mode: match mode {
                Data::Boolean(b) => MethodAccessMode::Boolean(*b),
                Data::Enum(m) | Data::Unsigned(m) => MethodAccessMode::Mode(*m),
                other => return Err(wrong_type("method access_mode", "enum or boolean", other)),
            },
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::Integer(self.method_id),
            match self.access_mode {
                MethodAccessMode::Boolean(b) => Data::Boolean(b),
                MethodAccessMode::Mode(m) => Data::Enum(m),
            },
        ])
    }
}

/// access_rights of an object list entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AccessRights {
    pub attributes: Vec<AttributeAccess>,
    pub methods: Vec<MethodAccess>,
}

impl AttributeValue for AccessRights {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [attributes, methods] = fields::<2>(d, "access_rights")?;
        Ok(AccessRights {
            attributes: Vec::from_data(attributes)?,
            methods: Vec::from_data(methods)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![self.attributes.to_data(), self.methods.to_data()])
    }
}

/// One object of the object list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectListEntry {
    pub class_id: u16,
    pub version: u8,
    pub logical_name: ObisCode,
    pub access_rights: AccessRights,
}

impl ObjectListEntry {
    /// The access mode the list gives an attribute (`None` when it is not listed).
    pub fn attribute_access(&self, attribute: i8) -> Option<AccessMode> {
        self.access_rights
            .attributes
            .iter()
            .find(|a| a.attribute_id == attribute)
            .map(|a| a.access_mode)
    }

    /// The access mode the list gives a method (`None` when it is not listed).
    pub fn method_access(&self, method: i8) -> Option<MethodAccessMode> {
        self.access_rights
            .methods
            .iter()
            .find(|m| m.method_id == method)
            .map(|m| m.access_mode)
    }
}

impl AttributeValue for ObjectListEntry {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [class_id, version, ln, rights] = fields::<4>(d, "object_list entry")?;
        Ok(ObjectListEntry {
            class_id: integer(class_id, "class_id", "long-unsigned")?,
            version: integer(version, "version", "unsigned")?,
            logical_name: ln.to_obis()?,
            access_rights: AccessRights::from_data(rights)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::LongUnsigned(self.class_id),
            Data::Unsigned(self.version),
            Data::logical_name(self.logical_name),
            self.access_rights.to_data(),
        ])
    }
}

/// The meter reader's (leaner) view of an object list entry: attributes with access mode 0
/// become its `no_access` list.
impl From<&ObjectListEntry> for CosemObject {
    fn from(e: &ObjectListEntry) -> Self {
        CosemObject {
            class_id: e.class_id,
            version: e.version,
            logical_name: e.logical_name,
            no_access: e
                .access_rights
                .attributes
                .iter()
                .filter(|a| a.access_mode.0 == 0)
                .map(|a| a.attribute_id)
                .collect(),
        }
    }
}

/// associated_partners_id: the client and server SAPs of the association.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartnersId {
    pub client_sap: i8,
    pub server_sap: u16,
}

impl AttributeValue for PartnersId {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [client, server] = fields::<2>(d, "associated_partners_id")?;
        Ok(PartnersId {
            client_sap: integer(client, "client_SAP", "integer")?,
            server_sap: integer(server, "server_SAP", "long-unsigned")?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::Integer(self.client_sap),
            Data::LongUnsigned(self.server_sap),
        ])
    }
}

/// xDLMS_context_info: what the association negotiated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XdlmsContextInfo {
    pub conformance: Conformance,
    pub max_receive_pdu_size: u16,
    pub max_send_pdu_size: u16,
    pub dlms_version_number: u8,
    pub quality_of_service: i8,
    pub cyphering_info: OctetString,
}

impl AttributeValue for XdlmsContextInfo {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [conformance, rx, tx, version, qos, cyphering] = fields::<6>(d, "xDLMS_context_info")?;
        Ok(XdlmsContextInfo {
            conformance: Conformance::from_data(conformance)?,
            max_receive_pdu_size: integer(rx, "max_receive_pdu_size", "long-unsigned")?,
            max_send_pdu_size: integer(tx, "max_send_pdu_size", "long-unsigned")?,
            dlms_version_number: integer(version, "dlms_version_number", "unsigned")?,
            quality_of_service: integer(qos, "quality_of_service", "integer")?,
            cyphering_info: OctetString::from_data(cyphering)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            self.conformance.to_data(),
            Data::LongUnsigned(self.max_receive_pdu_size),
            Data::LongUnsigned(self.max_send_pdu_size),
            Data::Unsigned(self.dlms_version_number),
            Data::Integer(self.quality_of_service),
            self.cyphering_info.to_data(),
        ])
    }
}

cosem_enum! {
    /// association_status.
    pub enum AssociationStatus ("association_status") {
        NonAssociated = 0,
        AssociationPending = 1,
        Associated = 2,
    }
}

/// A user of user_list / current_user (version 2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserEntry {
    pub id: u8,
    /// visible-string, kept as bytes.
    pub name: Vec<u8>,
}

impl AttributeValue for UserEntry {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [id, name] = fields::<2>(d, "user")?;
        Ok(UserEntry {
            id: integer(id, "user_id", "unsigned")?,
            name: match name {
                Data::VisibleString(b) | Data::Utf8String(b) | Data::OctetString(b) => b.clone(),
                other => return Err(wrong_type("user_name", "visible-string", other)),
            },
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::Unsigned(self.id),
            Data::VisibleString(self.name.clone()),
        ])
    }
}

cosem_class! {
    /// Association LN (class 15, versions 0–3): the current association (0.0.40.0.0.255) or a
    /// specific one (0.0.40.0.e.255). The secret (attribute 7) is write-only and left out of
    /// whole-object reads. Methods 1–6.
    pub struct AssociationLn {
        class: 15,
        version: 2,
        name: "Association LN",
        not_read: [7],
    }
    attributes {
        2 => OBJECT_LIST, object_list: Vec<ObjectListEntry>, "object_list";
        3 => ASSOCIATED_PARTNERS_ID, associated_partners_id: PartnersId, "associated_partners_id";
        4 => APPLICATION_CONTEXT_NAME, application_context_name: ApplicationContext, "application_context_name";
        5 => XDLMS_CONTEXT_INFO, xdlms_context_info: XdlmsContextInfo, "xDLMS_context_info";
        6 => AUTHENTICATION_MECHANISM_NAME, authentication_mechanism_name: MechanismName, "authentication_mechanism_name";
        /// The LLS password or HLS key: write-only.
        7 => SECRET, secret: OctetString, "secret";
        8 => ASSOCIATION_STATUS, association_status: AssociationStatus, "association_status";
        /// Version 1 and later.
        9 => SECURITY_SETUP_REFERENCE, security_setup_reference: ObisCode, "security_setup_reference";
        /// Version 2.
        10 => USER_LIST, user_list: Vec<UserEntry>, "user_list";
        /// Version 2.
        11 => CURRENT_USER, current_user: UserEntry, "current_user";
    }
}

impl AssociationLn {
    /// Method 1: reply_to_HLS_authentication(octet-string f(StoC)); HLS pass 3.
    pub const METHOD_REPLY_TO_HLS_AUTHENTICATION: i8 = 1;
    /// Method 2: change_HLS_secret(octet-string).
    pub const METHOD_CHANGE_HLS_SECRET: i8 = 2;
    /// Method 3: add_object(object_list element).
    pub const METHOD_ADD_OBJECT: i8 = 3;
    /// Method 4: remove_object(object_list element).
    pub const METHOD_REMOVE_OBJECT: i8 = 4;
    /// Method 5: add_user(structure {user_id, user_name}) (version 2).
    pub const METHOD_ADD_USER: i8 = 5;
    /// Method 6: remove_user(structure {user_id, user_name}) (version 2).
    pub const METHOD_REMOVE_USER: i8 = 6;

    /// The current association's object: 0.0.40.0.0.255.
    pub const CURRENT: ObisCode = metermaster_model::well_known::CURRENT_ASSOCIATION;

    pub fn reply_to_hls_authentication(f_stoc: Vec<u8>) -> MethodCall {
        MethodCall::new::<Self>(
            Self::METHOD_REPLY_TO_HLS_AUTHENTICATION,
            Data::OctetString(f_stoc),
        )
    }

    pub fn change_hls_secret(secret: Vec<u8>) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_CHANGE_HLS_SECRET, Data::OctetString(secret))
    }

    pub fn add_object(entry: &ObjectListEntry) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_ADD_OBJECT, entry.to_data())
    }

    pub fn remove_object(entry: &ObjectListEntry) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_REMOVE_OBJECT, entry.to_data())
    }

    pub fn add_user(user: &UserEntry) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_ADD_USER, user.to_data())
    }

    pub fn remove_user(user: &UserEntry) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_REMOVE_USER, user.to_data())
    }

    /// The object list entry for `logical_name`, if the list was read and has it.
    pub fn find(&self, logical_name: ObisCode) -> Option<&ObjectListEntry> {
        self.object_list
            .as_ref()?
            .iter()
            .find(|e| e.logical_name == logical_name)
    }
}

/// An element of SAP_assignment_list: a logical device and its SAP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SapAssignmentEntry {
    pub sap: u16,
    pub logical_device_name: OctetString,
}

impl AttributeValue for SapAssignmentEntry {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [sap, name] = fields::<2>(d, "SAP_assignment_list element")?;
        Ok(SapAssignmentEntry {
            sap: integer(sap, "SAP", "long-unsigned")?,
            logical_device_name: OctetString::from_data(name)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::LongUnsigned(self.sap),
            self.logical_device_name.to_data(),
        ])
    }
}

cosem_class! {
    /// SAP Assignment (class 17, version 0; 0.0.41.0.0.255): the logical devices of the
    /// physical device. Method 1 connect_logical_device.
    pub struct SapAssignment {
        class: 17,
        version: 0,
        name: "SAP Assignment",
        not_read: [],
    }
    attributes {
        2 => SAP_ASSIGNMENT_LIST, sap_assignment_list: Vec<SapAssignmentEntry>, "SAP_assignment_list";
    }
}

impl SapAssignment {
    /// Method 1: connect_logical_device(SAP_assignment_list element).
    pub const METHOD_CONNECT_LOGICAL_DEVICE: i8 = 1;

    pub fn connect_logical_device(entry: &SapAssignmentEntry) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_CONNECT_LOGICAL_DEVICE, entry.to_data())
    }
}
