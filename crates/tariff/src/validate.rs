//! Validation of schemes against meter capabilities, and of meter configurations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use chrono::{Months, NaiveDate};
use metermaster_model::ObisCode;

use crate::caps::MeterCapabilities;
use crate::config::MeterConfiguration;
use crate::scheme::{BillingDay, DemandMode, Scheme, SpecialDate};
use crate::values::{LocalTime, MonthDay, Ratio, Source, TimeOfDay, Zone};

/// How bad a violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The scheme or configuration cannot be used as it is.
    Error,
    /// Probably not what was meant, but usable (a yearly special day on 02-29, a rate no day
    /// profile uses).
    Warning,
}

/// One thing wrong with a scheme or configuration: where (a key path, list entries counting
/// from 0) and what. Displays as `path: message`, such as
/// `seasons[2].week.saturday: unknown day profile "peek"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The key path: `day_profiles[1].switches[2].at`; empty for the whole scheme.
    pub path: String,
    /// What is wrong, in words.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

impl Violation {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Violation {
        Violation {
            path: path.into(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Violation {
        Violation {
            path: path.into(),
            message: message.into(),
            severity: Severity::Warning,
        }
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Checks a (resolved) scheme against a meter's capabilities and reports every violation, each
/// with its key path: the structure (names, references, switch order, seasons, special days),
/// the meter's limits and sources, and, when the scheme follows a zone's daylight saving,
/// switch times that do not exist or happen twice on a clock-change day in the two years from
/// `today`.
///
/// A scheme with a parent should be [resolved](crate::resolve_chain) first: validation treats
/// the scheme as complete.
pub fn validate(scheme: &Scheme, caps: &MeterCapabilities, today: NaiveDate) -> Vec<Violation> {
    check_scheme(scheme, Some(caps), Some(today), true)
}

/// Checks a (resolved) meter configuration and reports every violation: the meter type and
/// scheme are given and the scheme is known to `lookup`, ratios are plausible, password
/// references are key-store names, and the clock trim limit suits the meter type.
///
/// The scheme itself is checked by [`validate`] against
/// [`MeterCapabilities::for_type`] of the configuration's meter type.
pub fn validate_configuration(
    config: &MeterConfiguration,
    lookup: impl Fn(&str) -> Option<Scheme>,
) -> Vec<Violation> {
    check_configuration(config, Some(&|id: &str| lookup(id).is_some()), true)
}

// ---------------------------------------------------------------------------------------------
// Schemes

/// Collects violations.
#[derive(Default)]
struct Report {
    out: Vec<Violation>,
}

impl Report {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Violation::error(path, message));
    }

    fn warning(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Violation::warning(path, message));
    }

    /// Reports empty and duplicate names in a list.
    fn names<'a>(&mut self, key: &str, what: &str, names: impl Iterator<Item = &'a str>) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names.enumerate() {
            if name.trim().is_empty() {
                self.error(
                    format!("{key}[{i}].name"),
                    format!("the {what} has no name"),
                );
            } else if let Some(j) = seen.get(name) {
                self.error(
                    format!("{key}[{i}].name"),
                    format!("duplicate {what} name {name:?} (also {key}[{j}])"),
                );
            } else {
                seen.insert(name, i);
            }
        }
    }

    /// Reports a source the meter does not record.
    fn source(&mut self, path: String, source: Source, caps: Option<&MeterCapabilities>) {
        if let Some(caps) = caps
            && !caps.allows(source)
        {
            let allowed: Vec<&str> = caps.sources.iter().map(|s| s.as_str()).collect();
            self.error(
                path,
                format!(
                    "{source} is not available on the {} (it has {})",
                    caps.name,
                    allowed.join(", ")
                ),
            );
        }
    }

    /// Reports an empty list, duplicates and sources the meter does not record.
    fn sources(&mut self, key: &str, sources: &[Source], caps: Option<&MeterCapabilities>) {
        if sources.is_empty() {
            self.error(key, "empty: give at least one source");
        }
        let mut seen = HashSet::new();
        for (i, s) in sources.iter().enumerate() {
            if !seen.insert(*s) {
                self.error(format!("{key}[{i}]"), format!("{s} is listed twice"));
            }
            self.source(format!("{key}[{i}]"), *s, caps);
        }
    }
}

/// Names, for messages: `"day", "night"`.
fn quoted_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn numbers(list: &[u32]) -> String {
    let list: Vec<String> = list.iter().map(u32::to_string).collect();
    list.join(", ")
}

/// Checks a scheme. Without `caps`, the meter's limits are not checked; without `today`, the
/// dates around clock changes are not checked; unless `complete`, references to other entries
/// and the presence of required parts are not checked (a child scheme before resolution).
pub(crate) fn check_scheme(
    scheme: &Scheme,
    caps: Option<&MeterCapabilities>,
    today: Option<NaiveDate>,
    complete: bool,
) -> Vec<Violation> {
    let mut r = Report::default();
    if scheme.id.trim().is_empty() {
        r.error("id", "empty: a scheme needs an id");
    }
    if scheme.name.trim().is_empty() {
        r.error("name", "empty: a scheme needs a name");
    }
    if complete {
        if scheme.time_zone.is_none() {
            r.error(
                "time_zone",
                "missing: a scheme without a parent names its time zone (\"Europe/London\", \"+10:00\")",
            );
        }
        let removed = &scheme.removed;
        for (key, names) in [
            ("rates", &removed.rates),
            ("day_profiles", &removed.day_profiles),
            ("seasons", &removed.seasons),
            ("special_days", &removed.special_days),
        ] {
            if !names.is_empty() {
                r.error(
                    key,
                    format!(
                        "removes {} (remove = true) but is not resolved against its parent",
                        quoted_list(names.iter().map(String::as_str))
                    ),
                );
            }
        }
    }
    check_rates(&mut r, scheme, caps, complete);
    check_day_profiles(&mut r, scheme, caps, complete);
    check_seasons(&mut r, scheme, caps, complete);
    check_special_days(&mut r, scheme, caps, today, complete);
    check_demand(&mut r, scheme, caps);
    check_billing_profile_display(&mut r, scheme, caps, complete);
    if complete && let (Some(today), Some(zone)) = (today, scheme.time_zone) {
        check_clock_changes(&mut r, scheme, zone, today);
    }
    r.out
}

fn check_rates(r: &mut Report, scheme: &Scheme, caps: Option<&MeterCapabilities>, complete: bool) {
    let rates = &scheme.rates;
    r.names("rates", "rate", rates.iter().map(|x| x.name.as_str()));
    if complete && rates.is_empty() {
        r.error("rates", "no rates: a scheme needs at least one");
    }
    let mut registers: BTreeMap<u8, usize> = BTreeMap::new();
    for (i, rate) in rates.iter().enumerate() {
        let path = format!("rates[{i}].register");
        if rate.register == 0 {
            r.error(&path, "registers count from 1");
        } else if let Some(caps) = caps
            && rate.register > caps.max_rates
        {
            r.error(
                &path,
                format!(
                    "register {} is out of range: the {} has registers 1 to {}",
                    rate.register, caps.name, caps.max_rates
                ),
            );
        }
        match registers
            .get(&rate.register)
            .and_then(|j| Some((*j, rates.get(*j)?)))
        {
            Some((j, first)) if first.source != rate.source => r.error(
                &path,
                format!(
                    "register {} already accumulates {} for {:?} (rates[{j}]); {:?} wants {}",
                    rate.register, first.source, first.name, rate.name, rate.source
                ),
            ),
            Some((j, first)) => r.warning(
                &path,
                format!(
                    "register {} is shared with {:?} (rates[{j}]): both rates count into it",
                    rate.register, first.name
                ),
            ),
            None => {
                registers.insert(rate.register, i);
            }
        }
        r.source(format!("rates[{i}].source"), rate.source, caps);
    }
    if let Some(caps) = caps
        && registers.len() > usize::from(caps.max_rates)
    {
        r.error(
            "rates",
            format!(
                "{} TOU registers used; the {} has {}",
                registers.len(),
                caps.name,
                caps.max_rates
            ),
        );
    }
    if complete {
        for (i, rate) in rates.iter().enumerate() {
            let used = scheme
                .day_profiles
                .iter()
                .any(|p| p.switches.iter().any(|s| s.rate == rate.name));
            if !used {
                r.warning(
                    format!("rates[{i}]"),
                    format!("rate {:?} is not used by any day profile", rate.name),
                );
            }
        }
    }
}

fn check_day_profiles(
    r: &mut Report,
    scheme: &Scheme,
    caps: Option<&MeterCapabilities>,
    complete: bool,
) {
    let profiles = &scheme.day_profiles;
    r.names(
        "day_profiles",
        "day profile",
        profiles.iter().map(|p| p.name.as_str()),
    );
    if complete && profiles.is_empty() {
        r.error(
            "day_profiles",
            "no day profiles: a scheme needs at least one",
        );
    }
    if let Some(caps) = caps
        && profiles.len() > caps.max_day_profiles
    {
        r.error(
            "day_profiles",
            format!(
                "{} day profiles; the {} holds {}",
                profiles.len(),
                caps.name,
                caps.max_day_profiles
            ),
        );
    }
    let rate_names = || quoted_list(scheme.rates.iter().map(|x| x.name.as_str()));
    for (j, profile) in profiles.iter().enumerate() {
        let base = format!("day_profiles[{j}].switches");
        let Some(first) = profile.switches.first() else {
            r.error(&base, "empty: a day profile needs a switch at 00:00");
            continue;
        };
        if first.at != TimeOfDay::MIDNIGHT {
            r.error(
                format!("{base}[0].at"),
                format!(
                    "the first switch is at {}, so the day from 00:00 to {} has no rate; \
                     the first switch must be at 00:00",
                    first.at, first.at
                ),
            );
        }
        if let Some(caps) = caps
            && profile.switches.len() > caps.max_switches_per_day
        {
            r.error(
                &base,
                format!(
                    "day profile {:?} has {} switches; the {} holds {}",
                    profile.name,
                    profile.switches.len(),
                    caps.name,
                    caps.max_switches_per_day
                ),
            );
        }
        let mut times: HashMap<TimeOfDay, usize> = HashMap::new();
        let mut previous: Option<&crate::scheme::Switch> = None;
        for (k, switch) in profile.switches.iter().enumerate() {
            let at_path = format!("{base}[{k}].at");
            if let Some(other) = times.get(&switch.at) {
                r.error(
                    &at_path,
                    format!("two switches at {} (also switches[{other}])", switch.at),
                );
            } else {
                times.insert(switch.at, k);
                if let Some(p) = previous
                    && switch.at < p.at
                {
                    r.error(
                        &at_path,
                        format!(
                            "{} comes after {} (switches[{}]): list switches in time order",
                            switch.at,
                            p.at,
                            k - 1
                        ),
                    );
                }
            }
            if complete && scheme.rate(&switch.rate).is_none() {
                r.error(
                    format!("{base}[{k}].rate"),
                    format!(
                        "unknown rate {:?} (the rates are {})",
                        switch.rate,
                        rate_names()
                    ),
                );
            } else if let Some(p) = previous
                && p.rate == switch.rate
            {
                r.warning(
                    format!("{base}[{k}].rate"),
                    format!(
                        "the switch at {} changes nothing: {:?} is already in force",
                        switch.at, switch.rate
                    ),
                );
            }
            previous = Some(switch);
        }
    }
    if complete {
        for (j, profile) in profiles.iter().enumerate() {
            let used = scheme
                .seasons
                .iter()
                .any(|s| s.week.days().iter().any(|(_, name)| *name == profile.name))
                || scheme
                    .special_days
                    .iter()
                    .any(|d| d.day_profile == profile.name);
            if !used {
                r.warning(
                    format!("day_profiles[{j}]"),
                    format!(
                        "day profile {:?} is not used by any season or special day",
                        profile.name
                    ),
                );
            }
        }
    }
}

fn check_seasons(
    r: &mut Report,
    scheme: &Scheme,
    caps: Option<&MeterCapabilities>,
    complete: bool,
) {
    let seasons = &scheme.seasons;
    r.names("seasons", "season", seasons.iter().map(|s| s.name.as_str()));
    if complete && seasons.is_empty() {
        r.error(
            "seasons",
            "no seasons: give at least one (a season starting 01-01 covers the whole year)",
        );
    }
    if let Some(caps) = caps {
        if seasons.len() > caps.max_seasons {
            r.error(
                "seasons",
                format!(
                    "{} seasons; the {} holds {}",
                    seasons.len(),
                    caps.name,
                    caps.max_seasons
                ),
            );
        }
        let weeks: HashSet<&crate::scheme::Week> = seasons.iter().map(|s| &s.week).collect();
        if weeks.len() > caps.max_week_profiles {
            r.error(
                "seasons",
                format!(
                    "{} different week profiles; the {} holds {}",
                    weeks.len(),
                    caps.name,
                    caps.max_week_profiles
                ),
            );
        }
    }
    let mut starts: HashMap<MonthDay, usize> = HashMap::new();
    let profile_names = || quoted_list(scheme.day_profiles.iter().map(|p| p.name.as_str()));
    for (i, season) in seasons.iter().enumerate() {
        let path = format!("seasons[{i}].start");
        if let Some(j) = starts.get(&season.start) {
            let other = seasons.get(*j).map(|s| s.name.as_str()).unwrap_or("");
            r.error(
                &path,
                format!(
                    "{} is also the start of {other:?} (seasons[{j}])",
                    season.start
                ),
            );
        } else {
            starts.insert(season.start, i);
            // A child's seasons are put in order when it is resolved.
            if complete
                && let Some(prev) = i.checked_sub(1).and_then(|j| seasons.get(j))
                && season.start < prev.start
            {
                r.error(
                    &path,
                    format!(
                        "{} comes before {} ({:?}, seasons[{}]): list seasons in order of their start",
                        season.start,
                        prev.start,
                        prev.name,
                        i - 1
                    ),
                );
            }
        }
        if season.start.is_leap_day() {
            r.warning(&path, "02-29 occurs in leap years only");
        }
        if complete {
            for (day, name) in season.week.days() {
                if scheme.day_profile(name).is_none() {
                    r.error(
                        format!("seasons[{i}].week.{day}"),
                        format!(
                            "unknown day profile {name:?} (the day profiles are {})",
                            profile_names()
                        ),
                    );
                }
            }
        }
    }
}

fn check_special_days(
    r: &mut Report,
    scheme: &Scheme,
    caps: Option<&MeterCapabilities>,
    today: Option<NaiveDate>,
    complete: bool,
) {
    let days = &scheme.special_days;
    r.names(
        "special_days",
        "special day",
        days.iter().map(|d| d.name.as_str()),
    );
    if let Some(caps) = caps {
        let entries: usize = days.iter().map(|d| d.when.entries()).sum();
        if entries > caps.max_special_days {
            r.error(
                "special_days",
                format!(
                    "{entries} special-day dates; the {} holds {}",
                    caps.name, caps.max_special_days
                ),
            );
        }
    }
    let mut dated: HashMap<NaiveDate, usize> = HashMap::new();
    let mut yearly: HashMap<MonthDay, usize> = HashMap::new();
    let name_of = |j: usize| days.get(j).map(|d| d.name.as_str()).unwrap_or("");
    for (i, day) in days.iter().enumerate() {
        if complete && scheme.day_profile(&day.day_profile).is_none() {
            r.error(
                format!("special_days[{i}].day_profile"),
                format!(
                    "unknown day profile {:?} (the day profiles are {})",
                    day.day_profile,
                    quoted_list(scheme.day_profiles.iter().map(|p| p.name.as_str()))
                ),
            );
        }
        let mut one_date = |r: &mut Report, path: String, date: NaiveDate| {
            if let Some(j) = dated.get(&date) {
                if *j == i {
                    r.error(path, format!("{date} is listed twice"));
                } else {
                    r.error(
                        path,
                        format!("{date} is also {:?} (special_days[{j}])", name_of(*j)),
                    );
                }
                return;
            }
            if let Some(j) = yearly.get(&MonthDay::of(date)) {
                r.error(
                    path,
                    format!(
                        "{date} is also {:?} (special_days[{j}], every year on {})",
                        name_of(*j),
                        MonthDay::of(date)
                    ),
                );
                return;
            }
            dated.insert(date, i);
            if let Some(today) = today
                && date < today
            {
                r.warning(path, format!("{date} is in the past"));
            }
        };
        match &day.when {
            SpecialDate::Date(d) => one_date(r, format!("special_days[{i}].date"), *d),
            SpecialDate::Dates(ds) => {
                if ds.is_empty() {
                    r.error(
                        format!("special_days[{i}].dates"),
                        "empty: give at least one date",
                    );
                }
                for (k, d) in ds.iter().enumerate() {
                    one_date(r, format!("special_days[{i}].dates[{k}]"), *d);
                }
            }
            SpecialDate::EveryYear(md) => {
                let path = format!("special_days[{i}].every_year");
                if let Some(j) = yearly.get(md) {
                    r.error(
                        &path,
                        format!("{md} is also {:?} (special_days[{j}])", name_of(*j)),
                    );
                } else if let Some((date, j)) = dated
                    .iter()
                    .filter(|(d, _)| MonthDay::of(**d) == *md)
                    .min_by_key(|(d, _)| **d)
                {
                    r.error(
                        &path,
                        format!(
                            "{md} is also {:?} on {date} (special_days[{j}])",
                            name_of(*j)
                        ),
                    );
                } else {
                    yearly.insert(*md, i);
                }
                if md.is_leap_day() {
                    r.warning(&path, "02-29 occurs in leap years only");
                }
            }
        }
    }
}

fn check_demand(r: &mut Report, scheme: &Scheme, caps: Option<&MeterCapabilities>) {
    let Some(md) = &scheme.max_demand else {
        return;
    };
    let period = md.integration_minutes;
    if period == 0 {
        r.error(
            "max_demand.integration_minutes",
            "must be at least 1 minute",
        );
    } else if let Some(caps) = caps {
        if !caps.demand_periods.contains(&period) {
            r.error(
                "max_demand.integration_minutes",
                format!(
                    "{period} minutes is not a demand period of the {} (it has {})",
                    caps.name,
                    numbers(&caps.demand_periods)
                ),
            );
        }
    } else if 1440 % period != 0 {
        r.error(
            "max_demand.integration_minutes",
            format!("{period} minutes does not divide a day"),
        );
    }
    match (md.mode, md.sub_intervals) {
        (DemandMode::Block, Some(_)) => r.error(
            "max_demand.sub_intervals",
            "only sliding demand has sub-intervals",
        ),
        (DemandMode::Block, None) => {}
        (DemandMode::Sliding, sub) => {
            if let Some(caps) = caps
                && !caps.sliding_demand
            {
                r.error(
                    "max_demand.mode",
                    format!("the {} has no sliding demand", caps.name),
                );
            }
            match sub {
                None => r.error(
                    "max_demand.sub_intervals",
                    "missing: sliding demand needs the number of sub-intervals in a period",
                ),
                Some(n) if n < 2 => r.error(
                    "max_demand.sub_intervals",
                    format!("{n}: sliding demand needs at least 2 sub-intervals"),
                ),
                Some(n) if period > 0 && period % n != 0 => r.error(
                    "max_demand.sub_intervals",
                    format!("{n} sub-intervals do not divide {period} minutes"),
                ),
                Some(_) => {}
            }
        }
    }
    r.sources("max_demand.sources", &md.sources, caps);
}

fn check_billing_profile_display(
    r: &mut Report,
    scheme: &Scheme,
    caps: Option<&MeterCapabilities>,
    complete: bool,
) {
    if let Some(billing) = &scheme.billing
        && let BillingDay::DayOfMonth(d) = billing.day
        && !(1..=28).contains(&d)
    {
        r.error(
            "billing.day_of_month",
            format!(
                "{d} is out of range 1 to 28 (for the last day of each month, use end_of_month = true)"
            ),
        );
    }
    if let Some(lp) = &scheme.load_profile {
        let interval = lp.interval_minutes;
        if interval == 0 {
            r.error("load_profile.interval_minutes", "must be at least 1 minute");
        } else if let Some(caps) = caps {
            if !caps.profile_intervals.contains(&interval) {
                r.error(
                    "load_profile.interval_minutes",
                    format!(
                        "{interval} minutes is not a profile interval of the {} (it has {})",
                        caps.name,
                        numbers(&caps.profile_intervals)
                    ),
                );
            }
        } else if 1440 % interval != 0 {
            r.error(
                "load_profile.interval_minutes",
                format!("{interval} minutes does not divide a day"),
            );
        }
        if let Some(caps) = caps
            && lp.channels.len() > caps.max_profile_channels
        {
            r.error(
                "load_profile.channels",
                format!(
                    "{} channels; the {} records {}",
                    lp.channels.len(),
                    caps.name,
                    caps.max_profile_channels
                ),
            );
        }
        r.sources("load_profile.channels", &lp.channels, caps);
    }
    if let Some(display) = &scheme.display {
        if display.items.is_empty() {
            r.error("display.items", "empty: give at least one item");
        }
        if complete {
            for (k, item) in display.items.iter().enumerate() {
                if scheme.rate(item).is_none() && ObisCode::parse(item).is_err() {
                    r.error(
                        format!("display.items[{k}]"),
                        format!("{item:?} is neither a rate name nor an OBIS code"),
                    );
                }
            }
        }
        if display.scroll_seconds == 0 {
            r.error("display.scroll_seconds", "must be at least 1 second");
        }
    }
}

/// Reports switch times that do not exist, or happen twice, on the clock-change days of the
/// two years from `today`, for the day profile actually in force on each such day.
fn check_clock_changes(r: &mut Report, scheme: &Scheme, zone: Zone, today: NaiveDate) {
    if !zone.is_named() || scheme.dst_mode() != crate::DstMode::Zone {
        return;
    }
    let end = today
        .checked_add_months(Months::new(24))
        .unwrap_or(NaiveDate::MAX);
    // (profile, switch, skipped?) → the dates.
    let mut found: BTreeMap<(usize, usize, bool), Vec<NaiveDate>> = BTreeMap::new();
    for date in today.iter_days().take_while(|d| *d < end) {
        let Some(profile) = scheme.day_profile_on(date) else {
            continue;
        };
        let Some(j) = scheme
            .day_profiles
            .iter()
            .position(|p| p.name == profile.name)
        else {
            continue;
        };
        for (k, switch) in profile.switches.iter().enumerate() {
            match zone.from_local(date.and_time(switch.at.to_naive_time())) {
                LocalTime::Single(_) => {}
                LocalTime::Skipped { .. } => found.entry((j, k, true)).or_default().push(date),
                LocalTime::Repeated { .. } => found.entry((j, k, false)).or_default().push(date),
            }
        }
    }
    // Per switch, in the order of the first date.
    let mut found: Vec<_> = found.into_iter().collect();
    found.sort_by_key(|((j, k, _), dates)| (*j, *k, dates.first().copied()));
    for ((j, k, skipped), dates) in found {
        let Some(at) = scheme
            .day_profiles
            .get(j)
            .and_then(|p| p.switches.get(k))
            .map(|s| s.at)
        else {
            continue;
        };
        let dates: Vec<String> = dates.iter().map(|d| d.to_string()).collect();
        let dates = match dates.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => dates.join(""),
        };
        let message = if skipped {
            format!("{at} does not exist on {dates} in {zone} (clocks go forward)")
        } else {
            format!("{at} happens twice on {dates} in {zone} (clocks go back)")
        };
        r.error(format!("day_profiles[{j}].switches[{k}].at"), message);
    }
}

// ---------------------------------------------------------------------------------------------
// Configurations

/// Whether a password reference is a plausible key-store name.
fn is_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The largest clock trim a meter type makes without it counting as programming: 60 s for the
/// FLAG meters, 900 s (the DLMS clock's `shift_time` range) for DLMS meters.
fn trim_limit(meter_type: crate::MeterType) -> u32 {
    if meter_type.is_flag() { 60 } else { 900 }
}

/// Checks a configuration; `scheme_known` answers whether a scheme id exists. Unless
/// `complete`, the presence of the meter type and scheme is not checked (a child before
/// resolution).
pub(crate) fn check_configuration(
    config: &MeterConfiguration,
    scheme_known: Option<&dyn Fn(&str) -> bool>,
    complete: bool,
) -> Vec<Violation> {
    let mut r = Report::default();
    if config.id.trim().is_empty() {
        r.error("id", "empty: a configuration needs an id");
    }
    if config.name.trim().is_empty() {
        r.error("name", "empty: a configuration needs a name");
    }
    if complete && config.meter_type.is_none() {
        r.error("meter_type", "missing: give a1140, a1700 or dlms");
    }
    match &config.scheme {
        None if complete => r.error("scheme", "missing: give the id of a scheme"),
        None => {}
        Some(id) => {
            if let Some(known) = scheme_known
                && !known(id)
            {
                r.error("scheme", format!("unknown scheme {id:?}"));
            }
        }
    }
    let ratio = |r: &mut Report, key: &str, ratio: Option<Ratio>, unit: &str| {
        if let Some(x) = ratio
            && x.primary() < x.secondary()
        {
            r.warning(
                key,
                format!(
                    "the primary ({} {unit}) is below the secondary ({} {unit}): swapped?",
                    x.primary(),
                    x.secondary()
                ),
            );
        }
    };
    ratio(&mut r, "ct_ratio", config.ct_ratio, "A");
    ratio(&mut r, "vt_ratio", config.vt_ratio, "V");
    if let Some(ct) = config.ct_ratio
        && ct.secondary() != 1.0
        && ct.secondary() != 5.0
    {
        r.warning(
            "ct_ratio",
            format!(
                "a secondary of {} A is unusual (CT secondaries are 1 A or 5 A)",
                ct.secondary()
            ),
        );
    }
    if let Some(passwords) = &config.passwords {
        for (level, reference) in passwords.levels() {
            if let Some(reference) = reference
                && !is_key_name(&reference.password_ref)
            {
                r.error(
                    format!("passwords.{level}.password_ref"),
                    format!(
                        "{:?} is not a key-store name (up to 64 letters, digits, '.', '_' and '-'); \
                         the file names keys, it never holds passwords",
                        reference.password_ref
                    ),
                );
            }
        }
    }
    if let Some(clock) = &config.clock {
        if let Some(meter_type) = config.meter_type {
            let limit = trim_limit(meter_type);
            if clock.trim_limit_seconds > limit {
                r.error(
                    "clock.trim_limit_seconds",
                    format!(
                        "{} s is above the {limit} s an {meter_type} can trim without it counting as programming",
                        clock.trim_limit_seconds
                    ),
                );
            }
        }
        if clock.max_drift_seconds == 0 {
            r.error("clock.max_drift_seconds", "must be at least 1 second");
        } else if clock.max_drift_seconds < clock.trim_limit_seconds {
            r.warning(
                "clock.max_drift_seconds",
                format!(
                    "{} s is below the trim limit ({} s): clocks are reported as drifted before a trim would correct them",
                    clock.max_drift_seconds, clock.trim_limit_seconds
                ),
            );
        }
    }
    r.out
}
