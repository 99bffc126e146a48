//! Pieces shared by the GET, SET and ACTION APDUs (guide §3.1, §3.6).

use std::fmt;

use metermaster_model::ObisCode;

use crate::axdr::{DEFAULT_MAX_DEPTH, Data};
use crate::obis::Dotted;
use crate::reader::{Reader, Result, write_axdr_length};

/// Invoke-Id-And-Priority: invoke id (bits 0–3), service class (bit 6, 1 = confirmed) and
/// priority (bit 7, 1 = high). A server copies the byte it received into its answer unchanged,
/// so the raw byte is what is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvokeIdAndPriority(pub u8);

impl InvokeIdAndPriority {
    /// `C1`: high priority, confirmed, invoke id 1 (Gurux's current default).
    pub const DEFAULT: InvokeIdAndPriority = InvokeIdAndPriority(0xC1);

    pub const fn new(invoke_id: u8, confirmed: bool, high_priority: bool) -> Self {
        InvokeIdAndPriority(
            (invoke_id & 0x0F)
                | if confirmed { 0x40 } else { 0 }
                | if high_priority { 0x80 } else { 0 },
        )
    }

    pub const fn invoke_id(self) -> u8 {
        self.0 & 0x0F
    }

    pub const fn confirmed(self) -> bool {
        self.0 & 0x40 != 0
    }

    pub const fn high_priority(self) -> bool {
        self.0 & 0x80 != 0
    }

    /// The same flags with the next invoke id (0–15, wrapping).
    pub const fn next(self) -> Self {
        InvokeIdAndPriority((self.0 & 0xF0) | (((self.0 & 0x0F) + 1) & 0x0F))
    }
}

/// Cosem-Attribute-Descriptor: class, logical name, attribute index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttributeDescriptor {
    pub class_id: u16,
    pub instance: ObisCode,
    pub attribute_id: i8,
}

impl AttributeDescriptor {
    pub const fn new(class_id: u16, instance: ObisCode, attribute_id: i8) -> Self {
        AttributeDescriptor {
            class_id,
            instance,
            attribute_id,
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.class_id.to_be_bytes());
        out.extend_from_slice(&self.instance.to_bytes());
        out.push(self.attribute_id as u8);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(AttributeDescriptor {
            class_id: r.u16()?,
            instance: ObisCode::from_bytes(r.array()?),
            attribute_id: r.u8()? as i8,
        })
    }
}

impl fmt::Display for AttributeDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "class {} {} attribute {}",
            self.class_id,
            Dotted(self.instance),
            self.attribute_id
        )
    }
}

/// Cosem-Method-Descriptor: class, logical name, method index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MethodDescriptor {
    pub class_id: u16,
    pub instance: ObisCode,
    pub method_id: i8,
}

impl MethodDescriptor {
    pub const fn new(class_id: u16, instance: ObisCode, method_id: i8) -> Self {
        MethodDescriptor {
            class_id,
            instance,
            method_id,
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.class_id.to_be_bytes());
        out.extend_from_slice(&self.instance.to_bytes());
        out.push(self.method_id as u8);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(MethodDescriptor {
            class_id: r.u16()?,
            instance: ObisCode::from_bytes(r.array()?),
            method_id: r.u8()? as i8,
        })
    }
}

impl fmt::Display for MethodDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "class {} {} method {}",
            self.class_id,
            Dotted(self.instance),
            self.method_id
        )
    }
}

/// Selective access: an access selector and its parameters (see
/// [`super::selective`] for the profile generic range and entry descriptors).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveAccess {
    pub selector: u8,
    pub parameters: Data,
}

/// An attribute with optional selective access, as GET and SET requests name it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeRequest {
    pub attribute: AttributeDescriptor,
    pub access: Option<SelectiveAccess>,
}

impl AttributeRequest {
    pub fn new(attribute: AttributeDescriptor) -> Self {
        AttributeRequest {
            attribute,
            access: None,
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        self.attribute.write(out);
        write_access(out, &self.access);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(AttributeRequest {
            attribute: AttributeDescriptor::read(r)?,
            access: read_access(r)?,
        })
    }
}

pub(crate) fn write_access(out: &mut Vec<u8>, access: &Option<SelectiveAccess>) {
    match access {
        None => out.push(0),
        Some(a) => {
            out.push(1);
            out.push(a.selector);
            a.parameters.encode_into(out);
        }
    }
}

pub(crate) fn read_access(r: &mut Reader<'_>) -> Result<Option<SelectiveAccess>> {
    if read_flag(r, "selective access flag")? {
        Ok(Some(SelectiveAccess {
            selector: r.u8()?,
            parameters: read_data(r)?,
        }))
    } else {
        Ok(None)
    }
}

/// An A-XDR OPTIONAL or BOOLEAN byte: 0 = absent/false, 1 = present/true. Anything else is an
/// error for OPTIONAL flags, which must be exact to keep the following bytes aligned.
pub(crate) fn read_flag(r: &mut Reader<'_>, what: &'static str) -> Result<bool> {
    let at = r.offset();
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(r.invalid(at, what, u64::from(other))),
    }
}

pub(crate) fn read_data(r: &mut Reader<'_>) -> Result<Data> {
    Data::read(r, 0, DEFAULT_MAX_DEPTH)
}

/// Reads an A-XDR count and the elements it announces (each at least one byte).
pub(crate) fn read_list<'a, T>(
    r: &mut Reader<'a>,
    mut item: impl FnMut(&mut Reader<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let n = r.axdr_length()?;
    let mut v = Vec::with_capacity(n.min(r.remaining()));
    for _ in 0..n {
        v.push(item(r)?);
    }
    Ok(v)
}

pub(crate) fn write_list<T>(
    out: &mut Vec<u8>,
    items: &[T],
    mut item: impl FnMut(&mut Vec<u8>, &T),
) {
    write_axdr_length(out, items.len());
    for i in items {
        item(out, i);
    }
}

/// Data-Access-Result (guide §3.6), also used as action-result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataAccessResult {
    Success,
    HardwareFault,
    TemporaryFailure,
    ReadWriteDenied,
    ObjectUndefined,
    ObjectClassInconsistent,
    ObjectUnavailable,
    TypeUnmatched,
    ScopeOfAccessViolated,
    DataBlockUnavailable,
    /// Also "long-action-aborted".
    LongGetAborted,
    /// Also "no-long-action-in-progress".
    NoLongGetInProgress,
    LongSetAborted,
    NoLongSetInProgress,
    DataBlockNumberInvalid,
    OtherReason,
    /// A code the guide does not list.
    Other(u8),
}

impl DataAccessResult {
    pub fn from_u8(v: u8) -> Self {
        use DataAccessResult::*;
        match v {
            0 => Success,
            1 => HardwareFault,
            2 => TemporaryFailure,
            3 => ReadWriteDenied,
            4 => ObjectUndefined,
            9 => ObjectClassInconsistent,
            11 => ObjectUnavailable,
            12 => TypeUnmatched,
            13 => ScopeOfAccessViolated,
            14 => DataBlockUnavailable,
            15 => LongGetAborted,
            16 => NoLongGetInProgress,
            17 => LongSetAborted,
            18 => NoLongSetInProgress,
            19 => DataBlockNumberInvalid,
            250 => OtherReason,
            other => Other(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        use DataAccessResult::*;
        match self {
            Success => 0,
            HardwareFault => 1,
            TemporaryFailure => 2,
            ReadWriteDenied => 3,
            ObjectUndefined => 4,
            ObjectClassInconsistent => 9,
            ObjectUnavailable => 11,
            TypeUnmatched => 12,
            ScopeOfAccessViolated => 13,
            DataBlockUnavailable => 14,
            LongGetAborted => 15,
            NoLongGetInProgress => 16,
            LongSetAborted => 17,
            NoLongSetInProgress => 18,
            DataBlockNumberInvalid => 19,
            OtherReason => 250,
            Other(v) => v,
        }
    }

    pub fn is_success(self) -> bool {
        self.to_u8() == 0
    }

    pub fn name(self) -> &'static str {
        use DataAccessResult::*;
        match Self::from_u8(self.to_u8()) {
            Success => "success",
            HardwareFault => "hardware-fault",
            TemporaryFailure => "temporary-failure",
            ReadWriteDenied => "read-write-denied",
            ObjectUndefined => "object-undefined",
            ObjectClassInconsistent => "object-class-inconsistent",
            ObjectUnavailable => "object-unavailable",
            TypeUnmatched => "type-unmatched",
            ScopeOfAccessViolated => "scope-of-access-violated",
            DataBlockUnavailable => "data-block-unavailable",
            LongGetAborted => "long-get-aborted",
            NoLongGetInProgress => "no-long-get-in-progress",
            LongSetAborted => "long-set-aborted",
            NoLongSetInProgress => "no-long-set-in-progress",
            DataBlockNumberInvalid => "data-block-number-invalid",
            OtherReason => "other-reason",
            Other(_) => "unknown result",
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self::from_u8(r.u8()?))
    }
}

impl fmt::Display for DataAccessResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.to_u8())
    }
}

/// Get-Data-Result: the value, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum GetDataResult {
    Data(Data),
    Error(DataAccessResult),
}

impl GetDataResult {
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            GetDataResult::Data(d) => {
                out.push(0);
                d.encode_into(out);
            }
            GetDataResult::Error(e) => out.extend_from_slice(&[1, e.to_u8()]),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        if read_flag(r, "Get-Data-Result choice")? {
            Ok(GetDataResult::Error(DataAccessResult::read(r)?))
        } else {
            Ok(GetDataResult::Data(read_data(r)?))
        }
    }

    /// The value, or the meter's refusal.
    pub fn into_result(self) -> std::result::Result<Data, DataAccessResult> {
        match self {
            GetDataResult::Data(d) => Ok(d),
            GetDataResult::Error(e) => Err(e),
        }
    }
}

/// DataBlock-SA: one block of a SET or ACTION transferred in blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlock {
    pub last_block: bool,
    pub block_number: u32,
    pub raw_data: Vec<u8>,
}

impl DataBlock {
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.last_block));
        out.extend_from_slice(&self.block_number.to_be_bytes());
        write_axdr_length(out, self.raw_data.len());
        out.extend_from_slice(&self.raw_data);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let last_block = r.u8()? != 0;
        let block_number = r.u32()?;
        let n = r.axdr_byte_length()?;
        Ok(DataBlock {
            last_block,
            block_number,
            raw_data: r.take(n)?.to_vec(),
        })
    }
}
