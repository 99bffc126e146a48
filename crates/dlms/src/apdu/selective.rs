//! Selective access to a profile generic buffer (class 7, attribute 2; guide §3.8): by range
//! (selector 1) and by entry (selector 2).
//!
//! The descriptors convert to and from the [`SelectiveAccess`] of a GET request. Which column to
//! restrict on (the sort object or the first capture object), whether the range dates carry a
//! deviation and status, and whether the meter expects local time are per-meter choices the
//! client makes; this module only carries the values.

use metermaster_model::ObisCode;

use super::common::SelectiveAccess;
use crate::axdr::Data;
use crate::error::ValueError;

/// Access selector of the range descriptor.
pub const SELECTOR_RANGE: u8 = 1;
/// Access selector of the entry descriptor.
pub const SELECTOR_ENTRY: u8 = 2;

/// capture_object_definition: one column of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaptureObjectDefinition {
    pub class_id: u16,
    pub logical_name: ObisCode,
    pub attribute_index: i8,
    /// 0 = the whole attribute.
    pub data_index: u16,
}

impl CaptureObjectDefinition {
    pub const fn new(class_id: u16, logical_name: ObisCode, attribute_index: i8) -> Self {
        CaptureObjectDefinition {
            class_id,
            logical_name,
            attribute_index,
            data_index: 0,
        }
    }

    /// The clock's time attribute, the usual restricting column.
    pub const CLOCK_TIME: CaptureObjectDefinition =
        CaptureObjectDefinition::new(8, ObisCode::new(0, 0, 1, 0, 0, 255), 2);

    pub fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::LongUnsigned(self.class_id),
            Data::logical_name(self.logical_name),
            Data::Integer(self.attribute_index),
            Data::LongUnsigned(self.data_index),
        ])
    }

    pub fn from_data(d: &Data) -> Result<Self, ValueError> {
        let f = d.structure_of("capture_object_definition", 4)?;
        Ok(CaptureObjectDefinition {
            class_id: long_unsigned(&f[0], "class_id")?,
            logical_name: f[1].to_obis()?,
            attribute_index: match f[2] {
                Data::Integer(v) => v,
                ref other => {
                    return Err(ValueError::WrongType {
                        what: "attribute_index",
                        expected: "integer",
                        found: other.type_name(),
                    });
                }
            },
            data_index: long_unsigned(&f[3], "data_index")?,
        })
    }
}

fn long_unsigned(d: &Data, what: &'static str) -> Result<u16, ValueError> {
    match d {
        Data::LongUnsigned(v) => Ok(*v),
        other => Err(ValueError::WrongType {
            what,
            expected: "long-unsigned",
            found: other.type_name(),
        }),
    }
}

fn double_long_unsigned(d: &Data, what: &'static str) -> Result<u32, ValueError> {
    match d {
        Data::DoubleLongUnsigned(v) => Ok(*v),
        other => Err(ValueError::WrongType {
            what,
            expected: "double-long-unsigned",
            found: other.type_name(),
        }),
    }
}

/// range_descriptor: entries whose restricting column lies between `from_value` and `to_value`
/// (inclusive in common implementations), with the selected columns (empty = all).
#[derive(Debug, Clone, PartialEq)]
pub struct RangeDescriptor {
    pub restricting_object: CaptureObjectDefinition,
    /// Same type as the restricting column: a date-time octet-string for the clock, a
    /// double-long-unsigned for a UNIX-time column.
    pub from_value: Data,
    pub to_value: Data,
    pub selected_values: Vec<CaptureObjectDefinition>,
}

impl RangeDescriptor {
    pub fn to_data(&self) -> Data {
        Data::Structure(vec![
            self.restricting_object.to_data(),
            self.from_value.clone(),
            self.to_value.clone(),
            Data::Array(self.selected_values.iter().map(|c| c.to_data()).collect()),
        ])
    }

    pub fn from_data(d: &Data) -> Result<Self, ValueError> {
        let f = d.structure_of("range_descriptor", 4)?;
        let selected_values = match &f[3] {
            Data::Array(v) => v
                .iter()
                .map(CaptureObjectDefinition::from_data)
                .collect::<Result<_, _>>()?,
            other => {
                return Err(ValueError::WrongType {
                    what: "selected_values",
                    expected: "array",
                    found: other.type_name(),
                });
            }
        };
        Ok(RangeDescriptor {
            restricting_object: CaptureObjectDefinition::from_data(&f[0])?,
            from_value: f[1].clone(),
            to_value: f[2].clone(),
            selected_values,
        })
    }
}

/// entry_descriptor: entries and columns by position, 1-based; 0 as an upper bound means "to the
/// last".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryDescriptor {
    pub from_entry: u32,
    pub to_entry: u32,
    pub from_selected_value: u16,
    pub to_selected_value: u16,
}

impl EntryDescriptor {
    /// Every entry, every column.
    pub const ALL: EntryDescriptor = EntryDescriptor {
        from_entry: 1,
        to_entry: 0,
        from_selected_value: 1,
        to_selected_value: 0,
    };

    /// `count` entries from `first` (1-based), all columns: to = first + count − 1.
    pub fn entries(first: u32, count: u32) -> Self {
        EntryDescriptor {
            from_entry: first,
            to_entry: first.saturating_add(count.saturating_sub(1)),
            from_selected_value: 1,
            to_selected_value: 0,
        }
    }

    pub fn to_data(&self) -> Data {
        Data::Structure(vec![
            Data::DoubleLongUnsigned(self.from_entry),
            Data::DoubleLongUnsigned(self.to_entry),
            Data::LongUnsigned(self.from_selected_value),
            Data::LongUnsigned(self.to_selected_value),
        ])
    }

    pub fn from_data(d: &Data) -> Result<Self, ValueError> {
        let f = d.structure_of("entry_descriptor", 4)?;
        Ok(EntryDescriptor {
            from_entry: double_long_unsigned(&f[0], "from_entry")?,
            to_entry: double_long_unsigned(&f[1], "to_entry")?,
            from_selected_value: long_unsigned(&f[2], "from_selected_value")?,
            to_selected_value: long_unsigned(&f[3], "to_selected_value")?,
        })
    }
}

/// A selective access as the profile generic class defines it.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileSelection {
    Range(RangeDescriptor),
    Entry(EntryDescriptor),
}

impl ProfileSelection {
    /// Reads a received selective access; `Ok(None)` for a selector the profile generic class
    /// does not define.
    pub fn from_access(a: &SelectiveAccess) -> Result<Option<Self>, ValueError> {
        Ok(match a.selector {
            SELECTOR_RANGE => Some(ProfileSelection::Range(RangeDescriptor::from_data(
                &a.parameters,
            )?)),
            SELECTOR_ENTRY => Some(ProfileSelection::Entry(EntryDescriptor::from_data(
                &a.parameters,
            )?)),
            _ => None,
        })
    }

    pub fn to_access(&self) -> SelectiveAccess {
        match self {
            ProfileSelection::Range(r) => SelectiveAccess {
                selector: SELECTOR_RANGE,
                parameters: r.to_data(),
            },
            ProfileSelection::Entry(e) => SelectiveAccess {
                selector: SELECTOR_ENTRY,
                parameters: e.to_data(),
            },
        }
    }
}

impl From<RangeDescriptor> for SelectiveAccess {
    fn from(r: RangeDescriptor) -> Self {
        ProfileSelection::Range(r).to_access()
    }
}

impl From<EntryDescriptor> for SelectiveAccess {
    fn from(e: EntryDescriptor) -> Self {
        ProfileSelection::Entry(e).to_access()
    }
}
