//! The configuration file, `metermaster.toml`: where the store is, which folders are watched,
//! and where each read's .RES output goes (docs/configuration.md). Parsed and checked here, for
//! every front end; where the file is looked for is the front end's business.

use std::path::PathBuf;

use serde::Deserialize;

use crate::files::{FileFormat, FilesError, ReadAs, WatchFolder as Watched};
use crate::keep::ResMode;

/// What is wrong with a configuration text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

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

impl From<WatchFormat> for FileFormat {
    fn from(f: WatchFormat) -> Self {
        match f {
            WatchFormat::Res => FileFormat::Res,
            WatchFormat::Csv => FileFormat::Csv,
            WatchFormat::Nem12 => FileFormat::Nem12,
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// A folder where every read writes the meter's .RES file, `ID.res`.
    pub res_folder: Option<PathBuf>,
    #[serde(default)]
    pub res_mode: ResMode,
}

/// Parses and checks a configuration text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let cfg: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
    if cfg.watch.interval_s < 10 {
        return Err(ConfigError(format!(
            "watch.interval_s = {}: the scan interval is at least 10 seconds",
            cfg.watch.interval_s
        )));
    }
    for (k, f) in cfg.watch.folders.iter().enumerate() {
        if f.format.is_some() && f.mapping.is_some() {
            return Err(ConfigError(format!(
                "watch.folders[{k}]: give format or mapping, not both"
            )));
        }
    }
    Ok(cfg)
}

impl WatchFolder {
    /// The folder as the watcher takes it: processed and quarantine folders defaulted, the
    /// format or mapping loaded.
    pub fn resolve(&self) -> Result<Watched, FilesError> {
        Ok(Watched {
            path: self.path.clone(),
            processed: self
                .processed
                .clone()
                .unwrap_or_else(|| self.path.join("processed")),
            quarantine: self
                .quarantine
                .clone()
                .unwrap_or_else(|| self.path.join("quarantine")),
            how: ReadAs::new(self.format.map(FileFormat::from), self.mapping.as_deref())?,
        })
    }
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
