//! What changed between two schemes, in domain words.

use std::fmt::Display;

use crate::scheme::{
    Billing, DayProfile, DisplaySettings, LoadProfile, MaxDemand, Rate, Scheme, Season, SpecialDay,
    Switch,
};
use crate::values::Source;

/// What changed from scheme `a` to scheme `b`, one sentence each, in the order of the file:
///
/// * `time zone Europe/London → Europe/Dublin`
/// * `rate "night": register 2 → 3`
/// * `day profile "weekday": switch at 07:30 now to "day" (was "night")`
/// * `day profile "weekday": switch added at 16:00 to "peak"`
/// * `day profile "weekday": switch to "peak" moved from 16:00 to 17:00`
/// * `season "summer": starts 04-01 (was 03-25)`
/// * `special day "Christmas" added (every year on 12-25, day profile "weekend")`
///
/// Entries are matched by name; their order in the lists does not count. Meant for resolved
/// schemes (a child's removals are listed too, but not looked up in its parent).
pub fn diff(a: &Scheme, b: &Scheme) -> Vec<String> {
    let mut out = Vec::new();
    if a.id != b.id {
        out.push(format!("id {} → {}", a.id, b.id));
    }
    if a.name != b.name {
        out.push(format!("name {:?} → {:?}", a.name, b.name));
    }
    match (&a.description, &b.description) {
        (None, Some(_)) => out.push("description added".to_string()),
        (Some(_), None) => out.push("description removed".to_string()),
        (Some(x), Some(y)) if x != y => out.push("description changed".to_string()),
        _ => {}
    }
    option_change(&mut out, "parent", a.parent.as_ref(), b.parent.as_ref());
    option_change(
        &mut out,
        "time zone",
        a.time_zone.as_ref(),
        b.time_zone.as_ref(),
    );
    if a.dst_mode() != b.dst_mode() {
        out.push(format!("DST {} → {}", a.dst_mode(), b.dst_mode()));
    }
    named(
        &mut out,
        &a.rates,
        &b.rates,
        |r| &r.name,
        rate_changes,
        |r| {
            format!(
                "rate {:?} added (register {}, {})",
                r.name, r.register, r.source
            )
        },
        "rate",
    );
    named(
        &mut out,
        &a.day_profiles,
        &b.day_profiles,
        |p| &p.name,
        profile_changes,
        |p| {
            let switches: Vec<String> = p
                .switches
                .iter()
                .map(|s| format!("{} {:?}", s.at, s.rate))
                .collect();
            format!("day profile {:?} added ({})", p.name, switches.join(", "))
        },
        "day profile",
    );
    named(
        &mut out,
        &a.seasons,
        &b.seasons,
        |s| &s.name,
        season_changes,
        |s| format!("season {:?} added (starts {})", s.name, s.start),
        "season",
    );
    named(
        &mut out,
        &a.special_days,
        &b.special_days,
        |d| &d.name,
        special_day_changes,
        |d| {
            format!(
                "special day {:?} added ({}, day profile {:?})",
                d.name, d.when, d.day_profile
            )
        },
        "special day",
    );
    table(
        &mut out,
        "maximum demand",
        a.max_demand.as_ref(),
        b.max_demand.as_ref(),
        describe_demand,
        demand_changes,
    );
    table(
        &mut out,
        "billing",
        a.billing.as_ref(),
        b.billing.as_ref(),
        |x| format!("{} at {}", x.day, x.time),
        billing_changes,
    );
    table(
        &mut out,
        "load profile",
        a.load_profile.as_ref(),
        b.load_profile.as_ref(),
        |x| {
            format!(
                "{}-minute interval, channels {}",
                x.interval_minutes,
                sources(&x.channels)
            )
        },
        profile_settings_changes,
    );
    table(
        &mut out,
        "display",
        a.display.as_ref(),
        b.display.as_ref(),
        |x| format!("{}, {} s each", items(&x.items), x.scroll_seconds),
        display_changes,
    );
    for (what, ra, rb) in [
        ("rate", &a.removed.rates, &b.removed.rates),
        (
            "day profile",
            &a.removed.day_profiles,
            &b.removed.day_profiles,
        ),
        ("season", &a.removed.seasons, &b.removed.seasons),
        (
            "special day",
            &a.removed.special_days,
            &b.removed.special_days,
        ),
    ] {
        for name in rb.iter().filter(|n| !ra.contains(n)) {
            out.push(format!("now removes the parent's {what} {name:?}"));
        }
        for name in ra.iter().filter(|n| !rb.contains(n)) {
            out.push(format!("no longer removes the parent's {what} {name:?}"));
        }
    }
    out
}

/// `label A → B`, `label set to B`, `label A removed`.
fn option_change<T: Display + PartialEq>(
    out: &mut Vec<String>,
    label: &str,
    a: Option<&T>,
    b: Option<&T>,
) {
    match (a, b) {
        (Some(x), Some(y)) if x != y => out.push(format!("{label} {x} → {y}")),
        (None, Some(y)) => out.push(format!("{label} set to {y}")),
        (Some(x), None) => out.push(format!("{label} {x} removed")),
        _ => {}
    }
}

/// Compares two lists of named entries: removed, changed (through `changes`), added.
fn named<T>(
    out: &mut Vec<String>,
    a: &[T],
    b: &[T],
    name: impl Fn(&T) -> &String,
    changes: impl Fn(&T, &T) -> Vec<String>,
    added: impl Fn(&T) -> String,
    what: &str,
) {
    for x in a {
        match b.iter().find(|y| name(y) == name(x)) {
            None => out.push(format!("{what} {:?} removed", name(x))),
            Some(y) => {
                for change in changes(x, y) {
                    out.push(format!("{what} {:?}: {change}", name(x)));
                }
            }
        }
    }
    for y in b {
        if !a.iter().any(|x| name(x) == name(y)) {
            out.push(added(y));
        }
    }
}

/// Compares an optional table: added, removed, or its changes.
fn table<T>(
    out: &mut Vec<String>,
    label: &str,
    a: Option<&T>,
    b: Option<&T>,
    describe: impl Fn(&T) -> String,
    changes: impl Fn(&T, &T) -> Vec<String>,
) {
    match (a, b) {
        (None, Some(y)) => out.push(format!("{label} added ({})", describe(y))),
        (Some(_), None) => out.push(format!("{label} removed")),
        (Some(x), Some(y)) => {
            for change in changes(x, y) {
                out.push(format!("{label}: {change}"));
            }
        }
        (None, None) => {}
    }
}

fn sources(list: &[Source]) -> String {
    if list.is_empty() {
        return "none".to_string();
    }
    let names: Vec<&str> = list.iter().map(|s| s.as_str()).collect();
    names.join(", ")
}

fn items(list: &[String]) -> String {
    if list.is_empty() {
        return "no items".to_string();
    }
    let names: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    names.join(", ")
}

fn rate_changes(a: &Rate, b: &Rate) -> Vec<String> {
    let mut out = Vec::new();
    if a.register != b.register {
        out.push(format!("register {} → {}", a.register, b.register));
    }
    if a.source != b.source {
        out.push(format!("source {} → {}", a.source, b.source));
    }
    out
}

fn profile_changes(a: &DayProfile, b: &DayProfile) -> Vec<String> {
    let mut out = Vec::new();
    let gone: Vec<&Switch> = a
        .switches
        .iter()
        .filter(|x| !b.switches.iter().any(|y| y.at == x.at))
        .collect();
    let mut new: Vec<Option<&Switch>> = b
        .switches
        .iter()
        .filter(|y| !a.switches.iter().any(|x| x.at == y.at))
        .map(Some)
        .collect();
    for x in &a.switches {
        if gone.iter().any(|g| g.at == x.at) {
            // A switch gone from one time and new at another, to the same rate, has moved.
            let moved = new
                .iter_mut()
                .find(|y| y.is_some_and(|y| y.rate == x.rate))
                .and_then(Option::take);
            match moved {
                Some(y) => out.push(format!(
                    "switch to {:?} moved from {} to {}",
                    x.rate, x.at, y.at
                )),
                None => out.push(format!("switch at {} to {:?} removed", x.at, x.rate)),
            }
        } else if let Some(y) = b.switches.iter().find(|y| y.at == x.at)
            && y.rate != x.rate
        {
            out.push(format!(
                "switch at {} now to {:?} (was {:?})",
                x.at, y.rate, x.rate
            ));
        }
    }
    for y in new.into_iter().flatten() {
        out.push(format!("switch added at {} to {:?}", y.at, y.rate));
    }
    out
}

fn season_changes(a: &Season, b: &Season) -> Vec<String> {
    let mut out = Vec::new();
    if a.start != b.start {
        out.push(format!("starts {} (was {})", b.start, a.start));
    }
    for ((day, x), (_, y)) in a.week.days().into_iter().zip(b.week.days()) {
        if x != y {
            out.push(format!("{day} now {y:?} (was {x:?})"));
        }
    }
    out
}

fn special_day_changes(a: &SpecialDay, b: &SpecialDay) -> Vec<String> {
    let mut out = Vec::new();
    if a.when != b.when {
        out.push(format!("now {} (was {})", b.when, a.when));
    }
    if a.day_profile != b.day_profile {
        out.push(format!(
            "day profile {:?} → {:?}",
            a.day_profile, b.day_profile
        ));
    }
    out
}

fn describe_demand(d: &MaxDemand) -> String {
    let sub = match d.sub_intervals {
        Some(n) => format!(" in {n} sub-intervals"),
        None => String::new(),
    };
    format!(
        "{}-minute {}{sub}, {}",
        d.integration_minutes,
        d.mode,
        sources(&d.sources)
    )
}

fn demand_changes(a: &MaxDemand, b: &MaxDemand) -> Vec<String> {
    let mut out = Vec::new();
    if a.integration_minutes != b.integration_minutes {
        out.push(format!(
            "integration period {} → {} minutes",
            a.integration_minutes, b.integration_minutes
        ));
    }
    if a.mode != b.mode {
        out.push(format!("mode {} → {}", a.mode, b.mode));
    }
    if a.sub_intervals != b.sub_intervals {
        let show = |n: Option<u32>| n.map_or("none".to_string(), |n| n.to_string());
        out.push(format!(
            "sub-intervals {} → {}",
            show(a.sub_intervals),
            show(b.sub_intervals)
        ));
    }
    if a.sources != b.sources {
        out.push(format!(
            "sources {} → {}",
            sources(&a.sources),
            sources(&b.sources)
        ));
    }
    out
}

fn billing_changes(a: &Billing, b: &Billing) -> Vec<String> {
    let mut out = Vec::new();
    if a.day != b.day {
        out.push(format!("{} → {}", a.day, b.day));
    }
    if a.time != b.time {
        out.push(format!("time {} → {}", a.time, b.time));
    }
    out
}

fn profile_settings_changes(a: &LoadProfile, b: &LoadProfile) -> Vec<String> {
    let mut out = Vec::new();
    if a.interval_minutes != b.interval_minutes {
        out.push(format!(
            "interval {} → {} minutes",
            a.interval_minutes, b.interval_minutes
        ));
    }
    if a.channels != b.channels {
        out.push(format!(
            "channels {} → {}",
            sources(&a.channels),
            sources(&b.channels)
        ));
    }
    out
}

fn display_changes(a: &DisplaySettings, b: &DisplaySettings) -> Vec<String> {
    let mut out = Vec::new();
    if a.items != b.items {
        out.push(format!("items {} → {}", items(&a.items), items(&b.items)));
    }
    if a.scroll_seconds != b.scroll_seconds {
        out.push(format!(
            "scroll {} → {} seconds",
            a.scroll_seconds, b.scroll_seconds
        ));
    }
    out
}
