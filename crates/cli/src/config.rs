//! The configuration file, `metermaster.toml` (parsed and checked by
//! [`metermaster_master::config`]): given with `--config FILE` (or `$METERMASTER_CONFIG`);
//! otherwise `metermaster.toml` in the data directory is read when it exists. Command-line
//! options override the file. See docs/configuration.md.

use std::path::Path;

use anyhow::{Context, Result, bail};

pub use metermaster_master::config::{Config, WatchFolder};

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
        Some(p) => metermaster_master::config::parse(
            &std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("configuration {}", p.display()))?,
    };
    Ok(cfg)
}
