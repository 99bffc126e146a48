//! Integration tests: the example files in `examples/schemes/` and the committed JSON Schema.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use metermaster_tariff::{
    MeterCapabilities, MeterConfiguration, Scheme, json_schema, resolve_chain, validate,
    validate_configuration,
};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example files, sorted, as (file name, text).
fn examples() -> Vec<(String, String)> {
    let dir = repo_root().join("examples/schemes");
    let mut files: Vec<(String, String)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_parses_and_validates_clean_on_the_a1140() {
    let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let caps = MeterCapabilities::a1140();
    let files = examples();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in [
        "economy7.toml",
        "three-rate.toml",
        "max-demand.toml",
        "config-ct-site.toml",
    ] {
        assert!(names.contains(&wanted), "missing example {wanted}");
    }
    let mut schemes = Vec::new();
    for (name, text) in files.iter().filter(|(n, _)| !n.starts_with("config-")) {
        let scheme = Scheme::from_toml(text).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        let resolved =
            resolve_chain(&scheme.id, |id| (id == scheme.id).then(|| scheme.clone())).unwrap();
        let violations = validate(&resolved, &caps, today);
        assert!(
            violations.is_empty(),
            "{name}:\n{}",
            violations
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        // The file round-trips through the model.
        let again = Scheme::from_toml(&scheme.to_toml().unwrap()).unwrap();
        assert_eq!(again, scheme, "{name}");
        schemes.push(scheme);
    }
    let lookup = |id: &str| schemes.iter().find(|s| s.id == id).cloned();
    for (name, text) in files.iter().filter(|(n, _)| n.starts_with("config-")) {
        let config = MeterConfiguration::from_toml(text).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        let violations = validate_configuration(&config, lookup);
        assert!(violations.is_empty(), "{name}: {violations:?}");
        let scheme = lookup(config.scheme.as_deref().unwrap()).unwrap();
        let caps = MeterCapabilities::for_type(config.meter_type.unwrap());
        assert!(validate(&scheme, &caps, today).is_empty(), "{name}");
        let again = MeterConfiguration::from_toml(&config.to_toml().unwrap()).unwrap();
        assert_eq!(again, config, "{name}");
    }
}

#[test]
fn the_committed_json_schema_is_current() {
    let path = repo_root().join("docs/scheme.schema.json");
    let fresh = json_schema();
    if std::env::var_os("METERMASTER_BLESS").is_some_and(|v| v == "1") {
        fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/scheme.schema.json is out of date with the scheme types; regenerate it with\n    \
         METERMASTER_BLESS=1 cargo test -p metermaster-tariff --test tariff the_committed_json_schema_is_current"
    );
}

#[test]
fn damaged_examples_never_panic() {
    let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let caps = MeterCapabilities::a1140();
    for (_, text) in examples() {
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(7).collect();
        for i in cuts {
            let (head, tail) = text.split_at(i);
            let mut skipped = tail.chars();
            skipped.next();
            for damaged in [head.to_string(), format!("{head}{}", skipped.as_str())] {
                if let Ok(s) = Scheme::from_toml(&damaged) {
                    for v in validate(&s, &caps, today) {
                        let _ = metermaster_tariff::line_of(&damaged, &v.path);
                    }
                }
                let _ = MeterConfiguration::from_toml(&damaged);
            }
        }
    }
}
