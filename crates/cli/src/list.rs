//! `metermaster list ...`: what the store holds (meters, readings, channels, imported files).

use anyhow::Result;
use clap::{Args, ValueEnum};
use metermaster_store::Store;
use serde_json::json;

use crate::files::StoreArgs;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to list.
    #[arg(value_enum)]
    pub what: ListWhat,
    /// Only this meter, named by its id or any alias (meters, readings, audit); the meter
    /// whose channels to list (channels). An unknown meter is an error.
    #[arg(long)]
    pub meter: Option<String>,
    /// Audit: only this user's entries.
    #[arg(long)]
    pub user: Option<String>,
    /// Audit: only entries of this action (`program`, `time set` ...).
    #[arg(long)]
    pub action: Option<String>,
    /// Skip this many entries (meters, readings, files, audit).
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// At most this many entries (meters, readings, files, audit).
    #[arg(long)]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListWhat {
    /// Meters, with model, the time of the last reading, group and aliases.
    Meters,
    /// Stored readings (oldest first) with where each came from.
    Readings,
    /// A meter's load-profile channels (--meter): unit, scale, interval length, days stored.
    Channels,
    /// The ledger of imported files (by content hash).
    Files,
    /// The store's audit log: who did what to which meter, and how it went.
    Audit,
}

pub async fn run(a: ListArgs) -> Result<()> {
    let store = a.store.open().await?;
    let value = match a.what {
        ListWhat::Meters => {
            let v = match &a.meter {
                Some(name) => vec![
                    store
                        .meter(name)
                        .await?
                        .ok_or_else(|| metermaster_store::StoreError::NoMeter(name.clone()))?,
                ],
                None => store
                    .meters()
                    .await?
                    .into_iter()
                    .skip(usize::try_from(a.offset).unwrap_or(usize::MAX))
                    .take(
                        a.limit
                            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)),
                    )
                    .collect(),
            };
            if !a.json {
                println!(
                    "{:<16} {:<10} {:<12} {:<33} {:<20} aliases",
                    "meter", "model", "make", "last read", "group"
                );
                for m in &v {
                    println!(
                        "{:<16} {:<10} {:<12} {:<33} {:<20} {}",
                        m.serial,
                        m.model.as_deref().unwrap_or("-"),
                        m.manufacturer.as_deref().unwrap_or("-"),
                        m.last_read.map_or("-".into(), |t| t.to_rfc3339()),
                        m.group.as_deref().unwrap_or("-"),
                        if m.aliases.is_empty() {
                            "-".to_string()
                        } else {
                            m.aliases.join(" ")
                        }
                    );
                }
                return Ok(());
            }
            serde_json::to_value(&v)?
        }
        ListWhat::Readings => {
            let v = store
                .readings_page(
                    a.meter.as_deref(),
                    metermaster_store::Page {
                        offset: a.offset,
                        limit: a.limit,
                    },
                )
                .await?;
            if !a.json {
                println!(
                    "{:>8} {:<16} {:<8} {:<26} origin",
                    "id", "meter", "protocol", "started"
                );
                for r in &v {
                    println!(
                        "{:>8} {:<16} {:<8} {:<26} {}",
                        r.id,
                        r.meter,
                        r.protocol,
                        r.started.to_rfc3339(),
                        r.origin
                    );
                }
                return Ok(());
            }
            serde_json::to_value(&v)?
        }
        ListWhat::Channels => {
            let Some(meter) = a.meter.as_deref() else {
                anyhow::bail!("list channels needs --meter SERIAL");
            };
            let v = store.channels(meter).await?;
            if !a.json {
                println!(
                    "{:<18} {:<6} {:>5} {:>10} {:>6}",
                    "channel", "unit", "scale", "interval s", "days"
                );
                for c in &v {
                    println!(
                        "{:<18} {:<6} {:>5} {:>10} {:>6}",
                        c.channel.to_string(),
                        c.unit.symbol(),
                        c.scale,
                        c.interval_s,
                        c.days
                    );
                }
                return Ok(());
            }
            json!(
                v.iter()
                    .map(
                        |c| json!({"channel": c.channel.to_string(), "unit": c.unit.symbol(),
                        "scale": c.scale, "interval_s": c.interval_s, "days": c.days})
                    )
                    .collect::<Vec<_>>()
            )
        }
        ListWhat::Audit => {
            if let Some(m) = &a.meter {
                // An unknown meter is an error, not an empty log (a meter never read may still
                // have entries: a failed attempt to program it).
                let known = store.meter(m).await?.is_some();
                let filter = metermaster_store::AuditFilter {
                    meter: Some(m.clone()),
                    ..Default::default()
                };
                if !known && store.audit_entries(&filter).await?.is_empty() {
                    return Err(metermaster_store::StoreError::NoMeter(m.clone()).into());
                }
            }
            let v = store
                .audit_entries(&metermaster_store::AuditFilter {
                    meter: a.meter.clone(),
                    user: a.user.clone(),
                    action: a.action.clone(),
                    page: metermaster_store::Page {
                        offset: a.offset,
                        limit: a.limit,
                    },
                    ..Default::default()
                })
                .await?;
            if !a.json {
                println!(
                    "{:<19}  {:<12} {:<12} {:<18} outcome  detail",
                    "time", "user", "action", "meter"
                );
                for e in &v {
                    println!(
                        "{}  {:<12} {:<12} {:<18} {}  {}",
                        e.time.format("%Y-%m-%d %H:%M:%S"),
                        e.user,
                        e.action,
                        e.meter.as_deref().unwrap_or("-"),
                        e.outcome,
                        e.detail
                    );
                }
                return Ok(());
            }
            serde_json::to_value(&v)?
        }
        ListWhat::Files => {
            let v = store
                .ledger_page(metermaster_store::Page {
                    offset: a.offset,
                    limit: a.limit,
                })
                .await?;
            if !a.json {
                println!(
                    "{:<20} {:<12} {:<6} {:>8} {:>10}  path",
                    "imported at", "outcome", "format", "readings", "intervals"
                );
                for l in &v {
                    println!(
                        "{:<20} {:<12} {:<6} {:>8} {:>10}  {}",
                        l.imported_at.format("%Y-%m-%d %H:%M:%S"),
                        l.outcome,
                        l.format,
                        l.readings,
                        l.intervals,
                        l.path
                    );
                }
                return Ok(());
            }
            serde_json::to_value(&v)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}
