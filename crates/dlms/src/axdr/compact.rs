//! compact-array (A-XDR tag 19): a type description followed by the elements packed without tags,
//! as some meters send large profile buffers. The guide (§4.1) lists it as optional; it is decoded
//! and encoded here so that a buffer read from such a meter is not lost.
//!
//! Layout: `13 | type-description | array-contents (A-XDR length + bytes)`. A type description is
//! a type tag; `01 count(2 bytes) element-description` for an array and
//! `02 count(A-XDR) field-descriptions…` for a structure. The contents hold as many elements as
//! fit, each written like its type's value without the tag; arrays and structures inside an
//! element carry neither tags nor counts.
//!
//! Descriptions whose elements could take no bytes at all (null-data, dont-care, empty structures,
//! arrays of zero elements) are refused: a handful of such bytes would otherwise describe millions
//! of values. No real meter needs them.

use super::{Data, DataType};
use crate::error::{DecodeErrorKind, ValueError};
use crate::reader::{Reader, Result, write_axdr_length};

/// The type of every element of a compact array.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeDescription {
    /// A type that is neither array, structure nor compact-array.
    Simple(DataType),
    /// A fixed number of elements of one type.
    Array {
        count: u16,
        element: Box<TypeDescription>,
    },
    /// Fields in order.
    Structure(Vec<TypeDescription>),
}

impl TypeDescription {
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            TypeDescription::Simple(t) => out.push(t.tag()),
            TypeDescription::Array { count, element } => {
                out.push(DataType::Array.tag());
                out.extend_from_slice(&count.to_be_bytes());
                element.encode_into(out);
            }
            TypeDescription::Structure(fields) => {
                out.push(DataType::Structure.tag());
                write_axdr_length(out, fields.len());
                for f in fields {
                    f.encode_into(out);
                }
            }
        }
    }

    fn read(r: &mut Reader<'_>, level: usize, limit: usize) -> Result<Self> {
        let at = r.offset();
        if level >= limit {
            return Err(r.err_at(at, DecodeErrorKind::TooDeep { limit }));
        }
        let tag = r.u8()?;
        let ty = DataType::from_tag(tag)
            .ok_or_else(|| r.err_at(at, DecodeErrorKind::UnknownTag(tag)))?;
        Ok(match ty {
            DataType::Array => {
                let count = r.u16()?;
                let element = TypeDescription::read(r, level + 1, limit)?;
                TypeDescription::Array {
                    count,
                    element: Box::new(element),
                }
            }
            DataType::Structure => {
                let n = r.axdr_length()?;
                let mut fields = Vec::with_capacity(n.min(r.remaining()));
                for _ in 0..n {
                    fields.push(TypeDescription::read(r, level + 1, limit)?);
                }
                TypeDescription::Structure(fields)
            }
            DataType::CompactArray => {
                return Err(r.err_at(
                    at,
                    DecodeErrorKind::Invalid("compact-array inside a type description"),
                ));
            }
            simple => TypeDescription::Simple(simple),
        })
    }

    /// The fewest bytes one element takes, or why the description is refused.
    fn min_size(&self) -> std::result::Result<usize, &'static str> {
        match self {
            TypeDescription::Simple(t) => match t {
                DataType::Null | DataType::DontCare => {
                    Err("null-data and dont-care carry no bytes in a compact array")
                }
                DataType::Array | DataType::Structure | DataType::CompactArray => {
                    Err("container type given as a simple type")
                }
                // A length prefix at least.
                DataType::BitString
                | DataType::OctetString
                | DataType::VisibleString
                | DataType::Utf8String => Ok(1),
                other => Ok(other.fixed_size().unwrap_or(1)),
            },
            TypeDescription::Array { count, element } => {
                if *count == 0 {
                    return Err("array of zero elements in a compact array");
                }
                Ok(element.min_size()?.saturating_mul(usize::from(*count)))
            }
            TypeDescription::Structure(fields) => {
                if fields.is_empty() {
                    return Err("structure without fields in a compact array");
                }
                fields
                    .iter()
                    .try_fold(0usize, |acc, f| Ok(acc.saturating_add(f.min_size()?)))
            }
        }
    }

    /// Whether `d` has this type.
    fn matches(&self, d: &Data) -> bool {
        match (self, d) {
            (TypeDescription::Simple(t), d) => d.data_type() == *t,
            (TypeDescription::Array { count, element }, Data::Array(v)) => {
                v.len() == usize::from(*count) && v.iter().all(|e| element.matches(e))
            }
            (TypeDescription::Structure(fields), Data::Structure(v)) => {
                v.len() == fields.len() && fields.iter().zip(v).all(|(f, e)| f.matches(e))
            }
            _ => false,
        }
    }

    fn read_element(&self, r: &mut Reader<'_>, level: usize, limit: usize) -> Result<Data> {
        if level >= limit {
            return Err(r.err(DecodeErrorKind::TooDeep { limit }));
        }
        match self {
            TypeDescription::Simple(t) => Data::read_body(r, *t),
            TypeDescription::Array { count, element } => {
                let mut v = Vec::with_capacity(usize::from(*count).min(r.remaining()));
                for _ in 0..*count {
                    v.push(element.read_element(r, level + 1, limit)?);
                }
                Ok(Data::Array(v))
            }
            TypeDescription::Structure(fields) => {
                let mut v = Vec::with_capacity(fields.len());
                for f in fields {
                    v.push(f.read_element(r, level + 1, limit)?);
                }
                Ok(Data::Structure(v))
            }
        }
    }
}

/// A compact array: its element type and its elements, which all have that type.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactArray {
    description: TypeDescription,
    elements: Vec<Data>,
}

impl CompactArray {
    /// A compact array, if every element has the described type and the type can be packed.
    pub fn new(
        description: TypeDescription,
        elements: Vec<Data>,
    ) -> std::result::Result<Self, ValueError> {
        description
            .min_size()
            .map_err(|problem| ValueError::Invalid {
                what: "compact-array type description",
                problem,
            })?;
        if !elements.iter().all(|e| description.matches(e)) {
            return Err(ValueError::Invalid {
                what: "compact-array",
                problem: "an element does not have the described type",
            });
        }
        Ok(CompactArray {
            description,
            elements,
        })
    }

    pub fn description(&self) -> &TypeDescription {
        &self.description
    }

    pub fn elements(&self) -> &[Data] {
        &self.elements
    }

    pub fn into_elements(self) -> Vec<Data> {
        self.elements
    }

    /// Writes description and contents (the tag is the caller's).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        self.description.encode_into(out);
        let mut contents = Vec::new();
        for e in &self.elements {
            e.write_body(&mut contents);
        }
        write_axdr_length(out, contents.len());
        out.extend_from_slice(&contents);
    }

    /// Reads description and contents after the tag; `level` is the level of the elements.
    pub(crate) fn read(r: &mut Reader<'_>, level: usize, limit: usize) -> Result<Self> {
        let at = r.offset();
        let description = TypeDescription::read(r, level, limit)?;
        let min = description
            .min_size()
            .map_err(|problem| r.err_at(at, DecodeErrorKind::Invalid(problem)))?;
        let n = r.axdr_byte_length()?;
        let mut contents = r.sub(n, "compact-array contents")?;
        let mut elements = Vec::with_capacity(n / min.max(1));
        while !contents.is_empty() {
            elements.push(description.read_element(&mut contents, level, limit)?);
        }
        Ok(CompactArray {
            description,
            elements,
        })
    }
}
