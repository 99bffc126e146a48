//! The two shapes every class module repeats, written once: a class struct with its attribute
//! constants and [`CosemClass`](super::CosemClass) implementation, and an enumeration attribute.

/// A class struct: `logical_name` plus one `Option` field per attribute, the attribute number
/// constants, and the `CosemClass` implementation that decodes and encodes each field through
/// its [`AttributeValue`](super::AttributeValue).
macro_rules! cosem_class {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            class: $class:literal,
            version: $version:literal,
            name: $text:literal,
            not_read: [$($skip:literal),*],
        }
        attributes {
            $(
                $(#[$fmeta:meta])*
                $idx:literal => $konst:ident, $field:ident: $ty:ty, $aname:literal;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            pub logical_name: metermaster_model::ObisCode,
            $(
                $(#[$fmeta])*
                pub $field: Option<$ty>,
            )*
        }

        impl $name {
            $(
                #[doc = concat!("Attribute ", stringify!($idx), ": ", $aname, ".")]
                pub const $konst: i8 = $idx;
            )*
        }

        impl $crate::cosem::CosemClass for $name {
            const CLASS_ID: u16 = $class;
            const VERSION: u8 = $version;
            const NAME: &'static str = $text;
            const ATTRIBUTES: &'static [i8] = &[$($idx),*];
            const NOT_READ: &'static [i8] = &[$($skip),*];

            fn new(logical_name: metermaster_model::ObisCode) -> Self {
                $name {
                    logical_name,
                    $($field: None,)*
                }
            }

            fn logical_name(&self) -> metermaster_model::ObisCode {
                self.logical_name
            }

            fn attribute_name(attribute: i8) -> Option<&'static str> {
                match attribute {
                    1 => Some("logical_name"),
                    $($idx => Some($aname),)*
                    _ => None,
                }
            }

            fn decode_attribute(
                &mut self,
                attribute: i8,
                value: &$crate::axdr::Data,
            ) -> Result<(), $crate::error::AttributeError> {
                let err = |source| $crate::cosem::attribute_error::<Self>(attribute, source);
                match attribute {
                    1 => self.logical_name = value.to_obis().map_err(err)?,
                    $(
                        $idx => {
                            self.$field = Some(
                                <$ty as $crate::cosem::AttributeValue>::from_data(value)
                                    .map_err(err)?,
                            )
                        }
                    )*
                    _ => {
                        return Err(err($crate::error::ValueError::Invalid {
                            what: "attribute",
                            problem: "the class has no attribute of this number",
                        }))
                    }
                }
                Ok(())
            }

            fn encode_attribute(&self, attribute: i8) -> Option<$crate::axdr::Data> {
                match attribute {
                    1 => Some($crate::axdr::Data::logical_name(self.logical_name)),
                    $(
                        $idx => self
                            .$field
                            .as_ref()
                            .map($crate::cosem::AttributeValue::to_data),
                    )*
                    _ => None,
                }
            }
        }
    };
}

/// An enumeration attribute with its numbers; any other number is an out-of-range error.
macro_rules! cosem_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub fn from_u8(v: u8) -> Option<Self> {
                match v {
                    $($value => Some($name::$variant),)*
                    _ => None,
                }
            }

            pub fn to_u8(self) -> u8 {
                match self {
                    $($name::$variant => $value,)*
                }
            }
        }

        impl $crate::cosem::AttributeValue for $name {
            fn from_data(d: &$crate::axdr::Data) -> Result<Self, $crate::error::ValueError> {
                let v = $crate::cosem::value::enum_value(d, $what)?;
                Self::from_u8(v).ok_or($crate::error::ValueError::OutOfRange {
                    what: $what,
                    value: i64::from(v).into(),
                })
            }

            fn to_data(&self) -> $crate::axdr::Data {
                $crate::axdr::Data::Enum(self.to_u8())
            }
        }
    };
}
