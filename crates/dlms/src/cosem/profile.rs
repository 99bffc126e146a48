//! Profile Generic (class 7, version 1; guide §6.3 and §3.8), and its buffer decoded against
//! the capture objects ([`ProfileTable`]).

use chrono::Duration;

use super::value::wrong_type;
use super::{AttributeError, AttributeValue, CaptureObjectDefinition, MethodCall};
use crate::apdu::ProfileSelection;
use crate::axdr::{CosemDateTime, Data};
use crate::error::ValueError;

cosem_enum! {
    /// sort_method: the order of the buffer's entries.
    pub enum SortMethod ("sort_method") {
        Fifo = 1,
        Lifo = 2,
        Largest = 3,
        Smallest = 4,
        NearestToZero = 5,
        FarthestFromZero = 6,
    }
}

/// One entry of the buffer as sent: the captured values in capture-object order.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileEntry(pub Vec<Data>);

impl AttributeValue for ProfileEntry {
    fn from_data(d: &Data) -> Result<Self, ValueError> {
        match d {
            Data::Structure(v) => Ok(ProfileEntry(v.clone())),
            other => Err(wrong_type("buffer entry", "structure", other)),
        }
    }
    fn to_data(&self) -> Data {
        Data::Structure(self.0.clone())
    }
}

cosem_class! {
    /// Profile Generic (class 7, version 1): load profiles, billing values, event logs. The
    /// buffer (attribute 2) is not part of a whole-object read: read it with selective access
    /// (`DlmsClient::read_profile_buffer`) and decode it with [`ProfileGeneric::table`].
    /// Methods 1 reset, 2 capture.
    pub struct ProfileGeneric {
        class: 7,
        version: 1,
        name: "Profile Generic",
        not_read: [2],
    }
    attributes {
        /// The entries as sent (see [`ProfileTable`] for rows matched to their columns).
        2 => BUFFER, buffer: Vec<ProfileEntry>, "buffer";
        3 => CAPTURE_OBJECTS, capture_objects: Vec<CaptureObjectDefinition>, "capture_objects";
        /// Seconds; 0 = captured on events only.
        4 => CAPTURE_PERIOD, capture_period: u32, "capture_period";
        5 => SORT_METHOD, sort_method: SortMethod, "sort_method";
        6 => SORT_OBJECT, sort_object: CaptureObjectDefinition, "sort_object";
        7 => ENTRIES_IN_USE, entries_in_use: u32, "entries_in_use";
        8 => PROFILE_ENTRIES, profile_entries: u32, "profile_entries";
    }
}

impl ProfileGeneric {
    /// Method 1: reset(integer 0), empties the buffer.
    pub const METHOD_RESET: i8 = 1;
    /// Method 2: capture(integer 0), captures one entry now.
    pub const METHOD_CAPTURE: i8 = 2;

    pub fn reset() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_RESET)
    }

    pub fn capture() -> MethodCall {
        MethodCall::without_parameter::<Self>(Self::METHOD_CAPTURE)
    }

    /// The columns a buffer read with `selection` returns: all capture objects, the
    /// range descriptor's selected values (in buffer order), or the entry descriptor's column
    /// range. Needs the capture objects.
    pub fn selected_columns(
        &self,
        selection: Option<&ProfileSelection>,
    ) -> Result<Vec<CaptureObjectDefinition>, AttributeError> {
        let err = |source| super::attribute_error::<Self>(Self::BUFFER, source);
        let all = self.capture_objects.as_ref().ok_or_else(|| {
            super::attribute_error::<Self>(
                Self::CAPTURE_OBJECTS,
                ValueError::NotSpecified {
                    what: "capture_objects (not read)",
                },
            )
        })?;
        match selection {
            None => Ok(all.clone()),
            Some(ProfileSelection::Range(r)) if r.selected_values.is_empty() => Ok(all.clone()),
            Some(ProfileSelection::Range(r)) => {
                if r.selected_values.iter().any(|s| !all.contains(s)) {
                    return Err(err(ValueError::Invalid {
                        what: "selected_values",
                        problem: "a selected column is not a capture object",
                    }));
                }
                Ok(all
                    .iter()
                    .filter(|c| r.selected_values.contains(c))
                    .copied()
                    .collect())
            }
            Some(ProfileSelection::Entry(e)) => {
                let first = usize::from(e.from_selected_value.max(1)) - 1;
                let end = match e.to_selected_value {
                    0 => all.len(),
                    n => usize::from(n),
                };
                all.get(first..end).map(<[_]>::to_vec).ok_or_else(|| {
                    err(ValueError::Invalid {
                        what: "entry descriptor columns",
                        problem: "outside the capture objects",
                    })
                })
            }
        }
    }

    /// Decodes a buffer read without column selection against this profile's capture objects
    /// and capture period (both must have been read).
    pub fn table(&self, buffer: &Data) -> Result<ProfileTable, AttributeError> {
        let columns = self.selected_columns(None)?;
        ProfileTable::decode(columns, self.capture_period.unwrap_or(0), buffer)
            .map_err(|e| super::attribute_error::<Self>(Self::BUFFER, e))
    }
}

/// One row of a [`ProfileTable`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    /// The clock column's date-time. Where the meter compressed the buffer (null-data after
    /// the first row, guide §6.3) it is the previous row's time plus the capture period;
    /// `None` when there is no clock column or nothing to rebuild it from.
    pub time: Option<CosemDateTime>,
    /// The values as sent, one per column (registers without their scaler).
    pub values: Vec<Data>,
}

/// A profile buffer matched to its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileTable {
    pub columns: Vec<CaptureObjectDefinition>,
    /// The clock column (class 8, attribute 2), if any.
    pub time_column: Option<usize>,
    pub rows: Vec<ProfileRow>,
}

impl ProfileTable {
    /// Decodes a buffer (array of structures) whose entries hold `columns`, in order. Every
    /// entry must have one value per column; a null clock value is rebuilt as the previous
    /// row's time plus `capture_period` seconds.
    pub fn decode(
        columns: Vec<CaptureObjectDefinition>,
        capture_period: u32,
        buffer: &Data,
    ) -> Result<Self, ValueError> {
        let entries = Vec::<ProfileEntry>::from_data(buffer)?;
        let time_column = columns
            .iter()
            .position(|c| c.class_id == 8 && c.attribute_index == 2 && c.data_index == 0);
        let mut rows = Vec::with_capacity(entries.len());
        let mut previous: Option<CosemDateTime> = None;
        for (index, ProfileEntry(values)) in entries.into_iter().enumerate() {
            let element = |source| ValueError::Element {
                index,
                source: Box::new(source),
            };
            if values.len() != columns.len() {
                return Err(element(ValueError::WrongLength {
                    what: "buffer entry",
                    expected: columns.len(),
                    found: values.len(),
                }));
            }
            let time = match time_column.and_then(|c| values.get(c)) {
                None => None,
                Some(Data::Null) => previous.and_then(|p| advance(p, capture_period)),
                Some(d) => Some(d.to_date_time().map_err(element)?),
            };
            previous = time;
            rows.push(ProfileRow { time, values });
        }
        Ok(ProfileTable {
            columns,
            time_column,
            rows,
        })
    }

    /// The index of the column that captures `attribute` of `logical_name` (data_index 0).
    pub fn column(
        &self,
        logical_name: metermaster_model::ObisCode,
        attribute: i8,
    ) -> Option<usize> {
        self.columns.iter().position(|c| {
            c.logical_name == logical_name && c.attribute_index == attribute && c.data_index == 0
        })
    }

    /// The values of one column, row by row.
    pub fn values(&self, column: usize) -> impl Iterator<Item = Option<&Data>> + '_ {
        self.rows.iter().map(move |r| r.values.get(column))
    }
}

/// `t` plus `seconds` on the meter's wall clock, keeping deviation and status; `None` when `t`
/// is not a complete date-time or the period is 0.
fn advance(t: CosemDateTime, seconds: u32) -> Option<CosemDateTime> {
    if seconds == 0 {
        return None;
    }
    let local = t.to_naive_local().ok()?;
    let next = local.checked_add_signed(Duration::seconds(i64::from(seconds)))?;
    CosemDateTime::from_naive_local(next, t.deviation(), t.status).ok()
}
