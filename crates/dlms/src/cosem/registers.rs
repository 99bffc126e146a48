//! Data (1), Register (3), Extended Register (4), Demand Register (5) and Register Activation
//! (6) (guide §6.3).

use metermaster_model::{ObisCode, Quantity};

use super::value::{fields, integer};
use super::{AttributeValue, MethodCall, OctetString};
use crate::axdr::{CosemDateTime, Data};
use crate::error::ValueError;
use crate::obis::ScalerUnit;

cosem_class! {
    /// Data (class 1, version 0): one value of any type. No methods.
    pub struct DataObject {
        class: 1,
        version: 0,
        name: "Data",
        not_read: [],
    }
    attributes {
        /// Any type, as sent.
        2 => VALUE, value: Data, "value";
    }
}

/// A register value with its scaler_unit as an exact quantity; both must have been read.
fn quantity(value: Option<&Data>, scaler_unit: Option<ScalerUnit>) -> Result<Quantity, ValueError> {
    match (value, scaler_unit) {
        (Some(v), Some(su)) => su.quantity(v),
        _ => Err(ValueError::Invalid {
            what: "register",
            problem: "value and scaler_unit are both needed",
        }),
    }
}

cosem_class! {
    /// Register (class 3, version 0). Method 1 reset.
    pub struct Register {
        class: 3,
        version: 0,
        name: "Register",
        not_read: [],
    }
    attributes {
        /// A number (any integer width, or a float), without its scaler.
        2 => VALUE, value: Data, "value";
        3 => SCALER_UNIT, scaler_unit: ScalerUnit, "scaler_unit";
    }
}

impl Register {
    /// Method 1: reset(integer 0).
    pub const METHOD_RESET: i8 = 1;

    pub fn reset() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_RESET)
    }

    /// value × 10^scaler in the model's unit.
    pub fn quantity(&self) -> Result<Quantity, ValueError> {
        quantity(self.value.as_ref(), self.scaler_unit)
    }
}

cosem_class! {
    /// Extended Register (class 4, version 0): a register with a status and the time of its
    /// capture (for maximum demand: when the maximum occurred). Method 1 reset.
    pub struct ExtendedRegister {
        class: 4,
        version: 0,
        name: "Extended Register",
        not_read: [],
    }
    attributes {
        2 => VALUE, value: Data, "value";
        3 => SCALER_UNIT, scaler_unit: ScalerUnit, "scaler_unit";
        /// Any simple type, as sent.
        4 => STATUS, status: Data, "status";
        5 => CAPTURE_TIME, capture_time: CosemDateTime, "capture_time";
    }
}

impl ExtendedRegister {
    /// Method 1: reset(integer 0).
    pub const METHOD_RESET: i8 = 1;

    pub fn reset() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_RESET)
    }

    /// value × 10^scaler in the model's unit.
    pub fn quantity(&self) -> Result<Quantity, ValueError> {
        quantity(self.value.as_ref(), self.scaler_unit)
    }
}

cosem_class! {
    /// Demand Register (class 5, version 0). Methods 1 reset, 2 next_period.
    pub struct DemandRegister {
        class: 5,
        version: 0,
        name: "Demand Register",
        not_read: [],
    }
    attributes {
        2 => CURRENT_AVERAGE_VALUE, current_average_value: Data, "current_average_value";
        3 => LAST_AVERAGE_VALUE, last_average_value: Data, "last_average_value";
        4 => SCALER_UNIT, scaler_unit: ScalerUnit, "scaler_unit";
        5 => STATUS, status: Data, "status";
        6 => CAPTURE_TIME, capture_time: CosemDateTime, "capture_time";
        7 => START_TIME_CURRENT, start_time_current: CosemDateTime, "start_time_current";
        /// Seconds.
        8 => PERIOD, period: u32, "period";
        9 => NUMBER_OF_PERIODS, number_of_periods: u16, "number_of_periods";
    }
}

impl DemandRegister {
    /// Method 1: reset(integer 0).
    pub const METHOD_RESET: i8 = 1;
    /// Method 2: next_period(integer 0).
    pub const METHOD_NEXT_PERIOD: i8 = 2;

    pub fn reset() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_RESET)
    }

    pub fn next_period() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_NEXT_PERIOD)
    }

    /// The last complete period's average as an exact quantity.
    pub fn last_average(&self) -> Result<Quantity, ValueError> {
        quantity(self.last_average_value.as_ref(), self.scaler_unit)
    }

    /// The running period's average so far as an exact quantity.
    pub fn current_average(&self) -> Result<Quantity, ValueError> {
        quantity(self.current_average_value.as_ref(), self.scaler_unit)
    }
}

/// An element of register_assignment: {class_id long-unsigned, logical_name}.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegisterAssignment {
    pub class_id: u16,
    pub logical_name: ObisCode,
}

impl AttributeValue for RegisterAssignment {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [class_id, logical_name] = fields::<2>(d, "register_assignment element")?;
        Ok(RegisterAssignment {
            class_id: integer(class_id, "class_id", "long-unsigned")?,
            logical_name: logical_name.to_obis()?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::LongUnsigned(self.class_id),
            Data::logical_name(self.logical_name),
        ])
    }
}

/// An element of mask_list: a mask name and the registers it activates, as 1-based indexes
/// into register_assignment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegisterMask {
    pub name: OctetString,
    pub indexes: Vec<u8>,
}

impl AttributeValue for RegisterMask {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        let [name, indexes] = fields::<2>(d, "mask_list element")?;
        Ok(RegisterMask {
            name: OctetString::from_data(name)?,
            indexes: Vec::<u8>::from_data(indexes)?,
        })
    }
    fn to_data(&self) -> Data {
        Data::Structure(vec![self.name.to_data(), self.indexes.to_data()])
    }
}

cosem_class! {
    /// Register Activation (class 6, version 0): which registers count under which mask; the
    /// tariffication script writes active_mask. Methods 1 add_register, 2 add_mask, 3
    /// delete_mask.
    pub struct RegisterActivation {
        class: 6,
        version: 0,
        name: "Register Activation",
        not_read: [],
    }
    attributes {
        2 => REGISTER_ASSIGNMENT, register_assignment: Vec<RegisterAssignment>, "register_assignment";
        3 => MASK_LIST, mask_list: Vec<RegisterMask>, "mask_list";
        4 => ACTIVE_MASK, active_mask: OctetString, "active_mask";
    }
}

impl RegisterActivation {
    /// Method 1: add_register(register_assignment element).
    pub const METHOD_ADD_REGISTER: i8 = 1;
    /// Method 2: add_mask(mask_list element).
    pub const METHOD_ADD_MASK: i8 = 2;
    /// Method 3: delete_mask(mask_name).
    pub const METHOD_DELETE_MASK: i8 = 3;

    pub fn add_register(register: RegisterAssignment) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_ADD_REGISTER, register.to_data())
    }

    pub fn add_mask(mask: &RegisterMask) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_ADD_MASK, mask.to_data())
    }

    pub fn delete_mask(name: &OctetString) -> MethodCall {
        MethodCall::new::<Self>(Self::METHOD_DELETE_MASK, name.to_data())
    }

    /// The registers the active mask switches on, when the mask and the lists are read and
    /// agree (`None` when the active mask is not in the mask list or an index points nowhere).
    pub fn active_registers(&self) -> Option<Vec<RegisterAssignment>> {
        let active = self.active_mask.as_ref()?;
        let mask = self
            .mask_list
            .as_ref()?
            .iter()
            .find(|m| &m.name == active)?;
        let regs = self.register_assignment.as_ref()?;
        mask.indexes
            .iter()
            .map(|i| {
                usize::from(*i)
                    .checked_sub(1)
                    .and_then(|k| regs.get(k))
                    .copied()
            })
            .collect()
    }
}
