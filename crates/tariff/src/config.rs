//! Meter configurations: which scheme a meter runs, its transformer ratios, the key-store names
//! of its passwords and its clock policy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{SchemeError, read_toml};
use crate::validate::check_configuration;
use crate::values::{MeterType, Ratio};

/// A meter configuration: what a meter of some type is programmed with. See `docs/schemes.md`.
///
/// A configuration with a `parent` holds only what it changes; [`resolve`](crate::resolve) and
/// [`resolve_chain`](crate::resolve_chain) merge it with its ancestors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterConfiguration {
    /// The configuration's identifier, such as "site-ct-001".
    pub id: String,
    /// A human name.
    pub name: String,
    /// A longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The id of the configuration this one inherits from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The kind of meter: "a1140", "a1700" or "dlms"; required unless inherited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_type: Option<MeterType>,
    /// The id of the tariff scheme the meter runs; required unless inherited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The current transformer ratio, such as "200/5"; absent for a whole-current meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct_ratio: Option<Ratio>,
    /// The voltage transformer ratio, such as "11000/110"; absent for a low-voltage meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vt_ratio: Option<Ratio>,
    /// The key-store names of the meter's passwords (never the passwords themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passwords: Option<Passwords>,
    /// How the meter's clock is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockSettings>,
}

/// The meter's passwords by access level, as names in a key store (which a later stage
/// resolves). A file never holds a password itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Passwords {
    /// Level 1 (reading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level1: Option<PasswordRef>,
    /// Level 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level2: Option<PasswordRef>,
    /// Level 3 (programming).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level3: Option<PasswordRef>,
}

impl Passwords {
    /// The levels as (file key, reference), level 1 first.
    pub fn levels(&self) -> [(&'static str, Option<&PasswordRef>); 3] {
        [
            ("level1", self.level1.as_ref()),
            ("level2", self.level2.as_ref()),
            ("level3", self.level3.as_ref()),
        ]
    }
}

/// A reference to a password in the key store: `level3 = { password_ref = "site-key-3" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRef {
    /// The key-store name: letters, digits, '.', '_' and '-', up to 64 characters.
    pub password_ref: String,
}

/// How the meter's clock is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockSettings {
    /// The largest correction made as a trim, which the meter does not log as programming
    /// (at most 60 s on A1140 and A1700 meters).
    pub trim_limit_seconds: u32,
    /// Correct the clock automatically when it is read (default false).
    #[serde(default)]
    pub auto_adjust: bool,
    /// A clock further off than this is reported as drifted.
    pub max_drift_seconds: u32,
}

impl MeterConfiguration {
    /// Reads a configuration from TOML and checks what can be checked on its own: the structure
    /// (keys, types, meter type, ratios) and, for a configuration without a parent, that the
    /// meter type and scheme are given; password references and the clock trim limit too. Each
    /// problem names its line and key path. Whether the scheme exists is checked by
    /// [`validate_configuration`](crate::validate_configuration).
    pub fn from_toml(text: &str) -> Result<MeterConfiguration, SchemeError> {
        let config: MeterConfiguration = read_toml(text)?;
        let errors: Vec<_> = check_configuration(&config, None, config.parent.is_none())
            .into_iter()
            .filter(|v| v.is_error())
            .collect();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(SchemeError::from_violations(&errors, Some(text)))
        }
    }

    /// The configuration as TOML, in the form [`MeterConfiguration::from_toml`] reads.
    pub fn to_toml(&self) -> Result<String, SchemeError> {
        toml::to_string(self).map_err(|e| {
            SchemeError::message(format!("cannot write the configuration as TOML: {e}"))
        })
    }
}
