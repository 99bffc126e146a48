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
    /// Only this meter (readings); the meter whose channels to list (channels).
    #[arg(long)]
    pub meter: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListWhat {
    /// Meters, with model and the time of the last reading.
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
            let v = store.meters().await?;
            if !a.json {
                println!(
                    "{:<16} {:<10} {:<12} {:<26} group",
                    "serial", "model", "make", "last read"
                );
                for m in &v {
                    println!(
                        "{:<16} {:<10} {:<12} {:<26} {}",
                        m.serial,
                        m.model.as_deref().unwrap_or("-"),
                        m.manufacturer.as_deref().unwrap_or("-"),
                        m.last_read.map_or("-".into(), |t| t.to_rfc3339()),
                        m.group.as_deref().unwrap_or("-")
                    );
                }
                return Ok(());
            }
            json!(
                v.iter()
                    .map(|m| json!({"serial": m.serial, "model": m.model,
                        "manufacturer": m.manufacturer, "last_read": m.last_read,
                        "group": m.group}))
                    .collect::<Vec<_>>()
            )
        }
        ListWhat::Readings => {
            let v = store.readings(a.meter.as_deref()).await?;
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
            json!(
                v.iter()
                    .map(
                        |r| json!({"id": r.id, "meter": r.meter, "protocol": r.protocol,
                        "started": r.started, "origin": r.origin})
                    )
                    .collect::<Vec<_>>()
            )
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
            let v = store.audit().await?;
            if !a.json {
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
            json!(
                v.iter()
                    .map(
                        |e| json!({"time": e.time, "user": e.user, "action": e.action,
                        "meter": e.meter, "detail": e.detail, "outcome": e.outcome})
                    )
                    .collect::<Vec<_>>()
            )
        }
        ListWhat::Files => {
            let v = store.ledger_entries().await?;
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
            json!(
                v.iter()
                    .map(
                        |l| json!({"sha256": l.sha256, "path": l.path, "size": l.size,
                        "format": l.format, "imported_at": l.imported_at, "outcome": l.outcome,
                        "readings": l.readings, "intervals": l.intervals, "report": l.report})
                    )
                    .collect::<Vec<_>>()
            )
        }
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}
