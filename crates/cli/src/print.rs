//! Human-readable tables of a Reading.

use metermaster_master::LinkStats;
use metermaster_model::Reading;

pub fn reading(r: &Reading, stats: Option<&LinkStats>) {
    let m = &r.meter;
    // The model where the meter tells it (FLAG identification), else the protocol.
    println!(
        "meter           {} ({})",
        m.serial,
        m.model.as_deref().unwrap_or(if r.protocol == "dlms" {
            "DLMS/COSEM"
        } else {
            "?"
        })
    );
    if let Some(i) = &m.ident {
        println!("identification  {i}");
    }
    if let Some(f) = &m.firmware {
        println!("firmware        {f}");
    }
    if let Some(s) = &m.scheme_id {
        println!("scheme          {s}");
    }
    if let Some(c) = &r.clock {
        println!(
            "clock           {} (meter local), {} UTC, drift {:+.1} s",
            c.meter_local,
            c.meter_time.format("%Y-%m-%d %H:%M:%S"),
            c.drift_s
        );
    }
    if let Some(ct) = &r.ct_ratio {
        println!("CT ratio        {} : {}", ct.primary, ct.secondary);
    }
    if let Some(vt) = &r.vt_ratio {
        println!("VT ratio        {} : {}", vt.primary, vt.secondary);
    }
    if !r.status.is_empty() {
        println!("status          {}", r.status.join(", "));
    }
    println!();
    println!("{:<16} {:<48} {:>20}", "OBIS", "register", "value");
    for reg in &r.registers {
        println!(
            "{:<16} {:<48} {:>20}",
            reg.obis.reduced(),
            reg.name,
            reg.value.to_string()
        );
    }
    if !r.max_demands.is_empty() {
        println!();
        println!(
            "{:<16} {:<40} {:>16}  time (UTC)",
            "OBIS", "maximum demand", "value"
        );
        for md in &r.max_demands {
            println!(
                "{:<16} {:<40} {:>16}  {}",
                md.obis.reduced(),
                md.name,
                md.value.to_string(),
                md.time
                    .map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
            );
        }
    }
    for b in &r.billing_history {
        println!();
        println!(
            "billing period {} ended {} ({})",
            b.index,
            b.reset_time
                .map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string()),
            b.trigger.as_deref().unwrap_or("-")
        );
        for reg in b.registers.iter().filter(|r| r.obis.d == 8) {
            println!(
                "  {:<14} {:<48} {:>20}",
                reg.obis.reduced(),
                reg.name,
                reg.value.to_string()
            );
        }
    }
    if let Some(p) = &r.programming {
        println!();
        println!("programming count {}", p.count);
        for rec in &p.records {
            println!(
                "  {}  {:<12}  {}",
                rec.time.format("%Y-%m-%d %H:%M:%S"),
                rec.user,
                rec.port.as_deref().unwrap_or("")
            );
        }
    }
    if !r.event_counters.is_empty() {
        println!();
        println!("{:<28} {:>6}", "event", "count");
        for c in &r.event_counters {
            println!("{:<28} {:>6}", c.kind.describe(), c.count);
        }
    }
    if !r.events.is_empty() {
        println!();
        println!("events (UTC)");
        for e in &r.events {
            println!(
                "  {}  {:<24} {}",
                e.time.format("%Y-%m-%d %H:%M:%S"),
                e.kind.describe(),
                e.detail.as_deref().unwrap_or("")
            );
        }
    }
    if !r.instantaneous.is_empty() {
        println!();
        println!("instantaneous values");
        for v in &r.instantaneous {
            println!(
                "  {:<16} {:<6} {:>14}",
                format!("{:?}", v.quantity),
                format!("{:?}", v.phase),
                v.value.to_string()
            );
        }
    }
    if let Some(lp) = &r.load_profile {
        println!();
        println!(
            "load profile: {} intervals of {} min, channels: {}",
            lp.intervals.len(),
            lp.interval_s / 60,
            lp.channels
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        print!("  {:<17}", "start (UTC)");
        for c in &lp.channels {
            print!(" {:>14}", format!("{} [{}]", c.obis.reduced(), c.unit));
        }
        println!("  status");
        for iv in &lp.intervals {
            print!("  {:<17}", iv.start.format("%Y-%m-%d %H:%M"));
            for (v, c) in iv.values.iter().zip(&lp.channels) {
                print!(
                    " {:>14}",
                    metermaster_model::Quantity::new(*v, c.scale, c.unit).decimal_string()
                );
            }
            println!("  {}", iv.status);
        }
    }
    if let Some(stats) = stats {
        println!();
        println!(
            "read in {:.2} s: {} exchanges, {} bytes sent, {} received, {} retransmissions",
            (r.finished - r.started).num_milliseconds() as f64 / 1000.0,
            stats.exchanges,
            stats.bytes_sent,
            stats.bytes_received,
            stats.retransmissions
        );
    }
}
