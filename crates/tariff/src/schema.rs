//! The JSON Schema of scheme and configuration files, for editors and other tools.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::{Value, json};

use crate::config::MeterConfiguration;
use crate::scheme::Scheme;

/// The JSON Schema (draft 2020-12) of both file kinds: a [`Scheme`] or a
/// [`MeterConfiguration`], each under `$defs` (`#/$defs/Scheme`,
/// `#/$defs/MeterConfiguration`), the document itself being either. Pretty-printed, ending
/// in a newline; this is the text of `docs/scheme.schema.json`.
///
/// The schema describes the keys and value shapes; rules across keys (exactly one of `date`,
/// `every_year`, `dates`; references between entries; meter limits) are left to
/// [`Scheme::from_toml`] and [`validate`](crate::validate).
pub fn json_schema() -> String {
    let mut generator = SchemaSettings::draft2020_12()
        .with_transform(RecursiveTransform(no_null))
        .into_generator();
    let scheme = generator.subschema_for::<Scheme>();
    let config = generator.subschema_for::<MeterConfiguration>();
    let defs = generator.take_definitions(true);
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "metermaster tariff scheme or meter configuration",
        "description": "A tariff scheme (docs/schemes.md) or a meter configuration; written as TOML. Paths in messages count list entries from 0.",
        "anyOf": [scheme, config],
        "$defs": defs,
    });
    format!("{root:#}\n")
}

/// TOML has no null: an optional key is one that may be left out. Removes the `null` that
/// schemas of optional values allow.
fn no_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if let [single] = types.as_slice() {
            let single = single.clone();
            object.insert("type".to_string(), single);
        }
    }
    let is_null = |v: &Value| {
        v.get("type").is_some_and(|t| t == "null") && v.as_object().is_some_and(|o| o.len() == 1)
    };
    if let Some(Value::Array(options)) = object.get_mut("anyOf") {
        options.retain(|o| !is_null(o));
        if let [single] = options.as_slice()
            && let Some(inner) = single.as_object()
        {
            let inner = inner.clone();
            object.remove("anyOf");
            for (k, v) in inner {
                object.entry(k).or_insert(v);
            }
        }
    }
}
