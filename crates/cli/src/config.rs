//! The configuration file, `metermaster.toml`: where the store is, which folders `watch` scans,
//! and where each read's .RES output goes. Given with `--config FILE` (or
//! `$METERMASTER_CONFIG`); otherwise `metermaster.toml` in the data directory is read when it
//! exists. Command-line options override the file. See docs/configuration.md.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The store URL (`sqlite:PATH` or `postgres://USER@HOST/DB[?schema=NAME]`).
    pub database: Option<String>,
    /// The data directory (default store, default .RES output folder).
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub watch: WatchConfig,
    #[serde(default)]
    pub output: OutputConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Seconds between scans (at least 10).
    #[serde(default = "default_interval")]
    pub interval_s: u64,
    #[serde(default)]
    pub folders: Vec<WatchFolder>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            interval_s: default_interval(),
            folders: Vec::new(),
        }
    }
}

fn default_interval() -> u64 {
    60
}

/// The formats a watched folder can be forced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchFormat {
    Res,
    Csv,
    Nem12,
}

impl From<WatchFormat> for crate::files::FileFormat {
    fn from(f: WatchFormat) -> Self {
        match f {
            WatchFormat::Res => crate::files::FileFormat::Res,
            WatchFormat::Csv => crate::files::FileFormat::Csv,
            WatchFormat::Nem12 => crate::files::FileFormat::Nem12,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchFolder {
    pub path: PathBuf,
    /// Where imported files go (default: PATH/processed).
    pub processed: Option<PathBuf>,
    /// Where broken files go, with a report (default: PATH/quarantine).
    pub quarantine: Option<PathBuf>,
    /// Force a format for this folder (`res`, `csv`, `nem12`).
    pub format: Option<WatchFormat>,
    /// Read this folder's files as CSV through this column mapping (TOML file).
    pub mapping: Option<PathBuf>,
}

/// What happens to a meter's .RES output file when it is read again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ResMode {
    /// Each reading is added at the end of the meter's file (the file is a history).
    #[default]
    Append,
    /// The file holds the latest reading only (replaced atomically).
    Overwrite,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// A folder where every read writes the meter's .RES file, `SERIAL.res`.
    pub res_folder: Option<PathBuf>,
    #[serde(default)]
    pub res_mode: ResMode,
}

/// Reads the configuration file: `explicit` (an error when absent), else the data directory's
/// `metermaster.toml` when it exists. The configuration is then given explicitly to the
/// command (`main` applies it to the parsed arguments); nothing reads it from a global.
pub fn load(explicit: Option<&Path>) -> Result<Config> {
    let path = match explicit {
        Some(p) => {
            if !p.exists() {
                bail!("configuration file {} does not exist", p.display());
            }
            Some(p.to_path_buf())
        }
        None => {
            let p = crate::files::default_data_dir().join("metermaster.toml");
            p.exists().then_some(p)
        }
    };
    let cfg = match path {
        None => Config::default(),
        Some(p) => {
            parse(&std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("configuration {}", p.display()))?
        }
    };
    Ok(cfg)
}

/// Parses and checks a configuration text.
pub fn parse(text: &str) -> Result<Config> {
    let cfg: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    if cfg.watch.interval_s < 10 {
        bail!(
            "watch.interval_s = {}: the scan interval is at least 10 seconds",
            cfg.watch.interval_s
        );
    }
    for (k, f) in cfg.watch.folders.iter().enumerate() {
        if f.format.is_some() && f.mapping.is_some() {
            bail!("watch.folders[{k}]: give format or mapping, not both");
        }
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_file_and_errors() {
        let c = parse(
            r#"
database = "sqlite:/tmp/x.db"
[watch]
interval_s = 30
[[watch.folders]]
path = "/srv/in"
[[watch.folders]]
path = "/srv/retailer"
mapping = "/etc/metermaster/retailer.toml"
[output]
res_folder = "/srv/res"
res_mode = "overwrite"
"#,
        )
        .unwrap();
        assert_eq!(c.watch.folders.len(), 2);
        assert_eq!(c.output.res_mode, ResMode::Overwrite);
        assert_eq!(c.watch.interval_s, 30);
        assert!(
            parse("[watch]\ninterval_s = 5\n")
                .unwrap_err()
                .to_string()
                .contains("at least 10")
        );
        let e = parse("[output]\nres_mode = \"sometimes\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("res_mode"), "{e}");
        let e = parse("colour = 1\n").unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        assert_eq!(parse("").unwrap().output.res_mode, ResMode::Append);
    }
}
