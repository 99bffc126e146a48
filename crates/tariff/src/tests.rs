//! Unit tests of reading, validation, inheritance and diffs.

use chrono::NaiveDate;

use crate::*;

/// A valid A1140 scheme: three rates, a weekday and a weekend profile, winter and summer, and
/// Christmas.
const BASE: &str = r#"id = "BASE"
name = "Base"
time_zone = "Europe/London"

rates = [
    { name = "day", register = 1, source = "import_kwh" },
    { name = "night", register = 2, source = "import_kwh" },
    { name = "peak", register = 3, source = "import_kwh" },
]

[[day_profiles]]
name = "weekday"
switches = [
    { at = "00:00", rate = "night" },
    { at = "07:00", rate = "day" },
    { at = "16:00", rate = "peak" },
    { at = "19:00", rate = "day" },
    { at = "23:00", rate = "night" },
]

[[day_profiles]]
name = "weekend"
switches = [
    { at = "00:00", rate = "night" },
    { at = "08:00", rate = "day" },
    { at = "22:00", rate = "night" },
]

[[seasons]]
name = "winter"
start = "01-01"
week = { monday = "weekday", tuesday = "weekday", wednesday = "weekday", thursday = "weekday", friday = "weekday", saturday = "weekend", sunday = "weekend" }

[[seasons]]
name = "summer"
start = "04-01"
week = { monday = "weekday", tuesday = "weekday", wednesday = "weekday", thursday = "weekday", friday = "weekday", saturday = "weekend", sunday = "weekend" }

[[special_days]]
name = "Christmas"
every_year = "12-25"
day_profile = "weekend"
"#;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn base() -> Scheme {
    Scheme::from_toml(BASE).unwrap()
}

fn time(text: &str) -> TimeOfDay {
    text.parse().unwrap()
}

/// Every violation against the A1140, as `path: message`.
fn violations(scheme: &Scheme) -> Vec<String> {
    violations_on(scheme, &MeterCapabilities::a1140())
}

fn violations_on(scheme: &Scheme, caps: &MeterCapabilities) -> Vec<String> {
    validate(scheme, caps, today())
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[track_caller]
fn assert_reported(found: &[String], wanted: &str) {
    assert!(
        found.iter().any(|f| f == wanted),
        "expected\n  {wanted}\namong\n  {}",
        found.join("\n  ")
    );
}

fn switch(at: &str, rate: &str) -> Switch {
    Switch {
        at: time(at),
        rate: rate.to_string(),
    }
}

fn profile(name: &str, switches: &[(&str, &str)]) -> DayProfile {
    DayProfile {
        name: name.to_string(),
        switches: switches.iter().map(|(a, r)| switch(a, r)).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

#[test]
fn the_base_scheme_is_clean() {
    let s = base();
    assert_eq!(violations(&s), Vec::<String>::new());
    assert_eq!(s.rates.len(), 3);
    assert_eq!(s.dst_mode(), DstMode::Zone);
    assert_eq!(
        s.special_days[0].when,
        SpecialDate::EveryYear("12-25".parse().unwrap())
    );
}

#[test]
fn from_toml_names_the_line_and_path_of_an_unknown_reference() {
    let text = BASE.replace(
        "saturday = \"weekend\", sunday = \"weekend\" }\n\n[[special_days]]",
        "saturday = \"peek\", sunday = \"weekend\" }\n\n[[special_days]]",
    );
    let e = Scheme::from_toml(&text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 37: seasons[1].week.saturday: unknown day profile \"peek\" (the day profiles are \"weekday\", \"weekend\")"
    );
    assert_eq!(e.problems[0].line, Some(37));
    assert_eq!(e.problems[0].path, "seasons[1].week.saturday");
}

#[test]
fn from_toml_reports_every_consistency_error() {
    let text = BASE
        .replace(
            "{ at = \"07:00\", rate = \"day\" }",
            "{ at = \"07:00\", rate = \"dya\" }",
        )
        .replace(
            "every_year = \"12-25\"\nday_profile = \"weekend\"",
            "every_year = \"12-25\"\nday_profile = \"holiday\"",
        );
    let e = Scheme::from_toml(&text).unwrap_err();
    let lines: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "line 15: day_profiles[0].switches[1].rate: unknown rate \"dya\" (the rates are \"day\", \"night\", \"peak\")",
            "line 42: special_days[0].day_profile: unknown day profile \"holiday\" (the day profiles are \"weekday\", \"weekend\")",
        ]
    );
}

#[test]
fn from_toml_structural_errors_name_the_line_and_path() {
    // An unknown key.
    let e = Scheme::from_toml(&BASE.replace("start = \"04-01\"", "start = \"04-01\"\nbegin = 3"))
        .unwrap_err();
    assert_eq!(e.problems[0].line, Some(37));
    assert_eq!(e.problems[0].path, "seasons[1].begin");
    assert!(
        e.problems[0].message.starts_with("unknown field `begin`"),
        "{e}"
    );
    // A wrong type.
    let e = Scheme::from_toml(&BASE.replace("register = 2", "register = \"two\"")).unwrap_err();
    assert_eq!(e.problems[0].line, Some(7));
    assert_eq!(e.problems[0].path, "rates[1].register");
    // A missing key: the path names it.
    let e = Scheme::from_toml(&BASE.replace("name = \"Base\"\n", "")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1: name: missing (this key is required)"
    );
    // A missing key of an entry.
    let e = Scheme::from_toml(&BASE.replace("start = \"04-01\"\n", "")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 34: seasons[1].start: missing (required unless remove = true)"
    );
    // An unknown source.
    let e = Scheme::from_toml(&BASE.replace(
        "source = \"import_kwh\" },\n    { name = \"peak\"",
        "source = \"import_kw\" },\n    { name = \"peak\"",
    ))
    .unwrap_err();
    assert_eq!(e.problems[0].path, "rates[1].source");
    // TOML syntax.
    let e = Scheme::from_toml("id = \"x\"\nname = \n").unwrap_err();
    assert_eq!(e.problems[0].line, Some(2));
    assert_eq!(e.problems[0].path, "");
}

#[test]
fn invalid_times_are_refused_with_their_line() {
    for bad in ["24:30", "7:5", "07:60", "7:30"] {
        let e = Scheme::from_toml(&BASE.replace("\"16:00\"", &format!("\"{bad}\""))).unwrap_err();
        assert_eq!(e.problems[0].line, Some(16), "{bad}");
        assert_eq!(
            e.problems[0].path, "day_profiles[0].switches[2].at",
            "{bad}"
        );
        assert!(
            e.problems[0]
                .message
                .contains(&format!("invalid time \"{bad}\"")),
            "{e}"
        );
    }
    let e = Scheme::from_toml(&BASE.replace("\"16:00\"", "\"24:30\"")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 16: day_profiles[0].switches[2].at: invalid time \"24:30\": the hour is above 23 (the day ends at 23:59)"
    );
}

#[test]
fn invalid_dates_are_refused_with_their_line() {
    let e = Scheme::from_toml(&BASE.replace("every_year = \"12-25\"", "date = \"2026-02-30\""))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 41: special_days[0].date: invalid date \"2026-02-30\": that month has no such day in that year"
    );
    let e = Scheme::from_toml(&BASE.replace("every_year = \"12-25\"", "every_year = \"02-30\""))
        .unwrap_err();
    assert_eq!(e.problems[0].path, "special_days[0].every_year");
    let e = Scheme::from_toml(&BASE.replace("start = \"04-01\"", "start = \"4-1\"")).unwrap_err();
    assert_eq!(e.problems[0].path, "seasons[1].start");
}

#[test]
fn a_special_day_takes_exactly_one_date_form() {
    let e = Scheme::from_toml(&BASE.replace(
        "every_year = \"12-25\"",
        "every_year = \"12-25\"\ndate = \"2026-12-25\"",
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 39: special_days[0]: give exactly one of date, every_year or dates (found date and every_year)"
    );
    let e = Scheme::from_toml(&BASE.replace("every_year = \"12-25\"\n", "")).unwrap_err();
    assert!(e.to_string().contains("(found none)"), "{e}");
    let s = Scheme::from_toml(&BASE.replace(
        "every_year = \"12-25\"",
        "dates = [\"2026-12-25\", \"2027-12-25\"]",
    ))
    .unwrap();
    assert_eq!(
        s.special_days[0].when,
        SpecialDate::Dates(vec![date(2026, 12, 25), date(2027, 12, 25)])
    );
}

#[test]
fn removing_needs_a_parent_and_only_a_name() {
    let text =
        format!("{BASE}\n[[day_profiles]]\nname = \"weekend\"\nremove = true\nswitches = []\n");
    let e = Scheme::from_toml(&text).unwrap_err();
    let lines: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "line 44: day_profiles[2]: an entry with remove = true gives only its name (found switches)",
            "line 46: day_profiles[2].remove: the scheme has no parent to remove \"weekend\" from",
            "line 44: day_profiles[2]: \"weekend\" is both removed and defined",
        ]
    );
}

#[test]
fn a_scheme_round_trips_through_toml() {
    let s = base();
    let text = s.to_toml().unwrap();
    assert_eq!(Scheme::from_toml(&text).unwrap(), s);
    let mut child = Scheme::from_toml(CHILD).unwrap();
    child.billing = Some(Billing {
        day: BillingDay::EndOfMonth,
        time: time("06:00"),
    });
    let again = Scheme::from_toml(&child.to_toml().unwrap()).unwrap();
    assert_eq!(again, child);
    // Serde (here JSON) reads and writes the same file form.
    let json = serde_json::to_string(&child).unwrap();
    assert_eq!(serde_json::from_str::<Scheme>(&json).unwrap(), child);
}

#[test]
fn which_day_profile_is_in_force() {
    let s = base();
    // 2026-01-05 is a Monday in winter, 2026-04-04 a Saturday in summer.
    assert_eq!(s.season_on(date(2026, 1, 5)).unwrap().name, "winter");
    assert_eq!(s.day_profile_on(date(2026, 1, 5)).unwrap().name, "weekday");
    assert_eq!(s.season_on(date(2026, 4, 4)).unwrap().name, "summer");
    assert_eq!(s.day_profile_on(date(2026, 4, 4)).unwrap().name, "weekend");
    // Christmas 2026 is a Friday: the special day wins.
    assert_eq!(
        s.day_profile_on(date(2026, 12, 25)).unwrap().name,
        "weekend"
    );
    let weekday = s.day_profile("weekday").unwrap();
    assert_eq!(weekday.rate_at(time("06:59")), Some("night"));
    assert_eq!(weekday.rate_at(time("16:00")), Some("peak"));
    // Before the first season's start, the last season runs on.
    let mut late = base();
    late.seasons[0].start = "03-01".parse().unwrap();
    assert_eq!(late.season_on(date(2026, 2, 1)).unwrap().name, "summer");
}

// ---------------------------------------------------------------------------------------------
// Validation: limits

#[test]
fn too_many_rates() {
    let mut s = base();
    for i in 4..=9u8 {
        s.rates.push(Rate {
            name: format!("r{i}"),
            register: i,
            source: Source::ImportKwh,
        });
        s.day_profiles[0]
            .switches
            .push(switch(&format!("0{i}:30"), &format!("r{i}")));
    }
    s.day_profiles[0].switches.sort_by_key(|w| w.at);
    let v = violations(&s);
    assert_reported(&v, "rates: 9 TOU registers used; the A1140 has 8");
    assert_reported(
        &v,
        "rates[8].register: register 9 is out of range: the A1140 has registers 1 to 8",
    );
    assert!(
        violations_on(&s, &MeterCapabilities::a1700())
            .iter()
            .all(|x| !x.starts_with("rates"))
    );
}

#[test]
fn register_zero_is_out_of_range() {
    let mut s = base();
    s.rates[0].register = 0;
    assert_reported(&violations(&s), "rates[0].register: registers count from 1");
}

#[test]
fn a_register_used_twice_with_different_sources() {
    let mut s = base();
    s.rates[2].register = 2;
    s.rates[2].source = Source::ExportKwh;
    assert_reported(
        &violations(&s),
        "rates[2].register: register 2 already accumulates import_kwh for \"night\" (rates[1]); \"peak\" wants export_kwh",
    );
    // With the same source, two rates may share a register (a warning).
    s.rates[2].source = Source::ImportKwh;
    let all = validate(&s, &MeterCapabilities::a1140(), today());
    assert!(all.iter().all(|v| !v.is_error()), "{all:?}");
    assert_eq!(all.len(), 1);
}

#[test]
fn too_many_switches() {
    let mut s = base();
    s.day_profiles[1] = profile(
        "weekend",
        &[
            ("00:00", "night"),
            ("06:00", "day"),
            ("08:00", "peak"),
            ("09:00", "day"),
            ("10:00", "peak"),
            ("11:00", "day"),
            ("12:00", "peak"),
            ("13:00", "day"),
            ("14:00", "peak"),
            ("15:00", "day"),
            ("22:00", "night"),
        ],
    );
    assert_reported(
        &violations(&s),
        "day_profiles[1].switches: day profile \"weekend\" has 11 switches; the A1140 holds 10",
    );
    assert!(violations_on(&s, &MeterCapabilities::a1700()).is_empty());
}

#[test]
fn too_many_day_profiles() {
    let mut s = base();
    for i in 0..7 {
        let name = format!("spare{i}");
        s.day_profiles.push(profile(&name, &[("00:00", "day")]));
        s.special_days.push(SpecialDay {
            name: format!("holiday {i}"),
            day_profile: name,
            when: SpecialDate::Date(date(2026, 5, 1 + i)),
        });
    }
    let v = violations(&s);
    assert_reported(&v, "day_profiles: 9 day profiles; the A1140 holds 8");
    assert_eq!(v.len(), 1, "{v:?}");
}

#[test]
fn too_many_seasons_and_week_profiles() {
    let mut s = base();
    s.seasons[1].week.saturday = "weekday".to_string();
    let names = ["weekday", "weekend"];
    for (i, start) in ["05-01", "06-01", "07-01"].iter().enumerate() {
        let mut week = Week::every_day(names[i % 2]);
        week.sunday = "weekday".to_string();
        week.monday = names[(i + 1) % 2].to_string();
        if i == 2 {
            week.tuesday = "weekend".to_string();
        }
        s.seasons.push(Season {
            name: format!("season {i}"),
            start: start.parse().unwrap(),
            week,
        });
    }
    let v = violations(&s);
    assert_reported(&v, "seasons: 5 seasons; the A1140 holds 4");
    assert_reported(&v, "seasons: 5 different week profiles; the A1140 holds 4");
}

#[test]
fn too_many_special_days() {
    let mut s = base();
    s.special_days.push(SpecialDay {
        name: "many".to_string(),
        day_profile: "weekend".to_string(),
        when: SpecialDate::Dates(
            (1..=28)
                .chain(1..=4)
                .enumerate()
                .map(|(i, d)| date(2026, if i < 28 { 2 } else { 3 }, d))
                .collect(),
        ),
    });
    assert_reported(
        &violations(&s),
        "special_days: 33 special-day dates; the A1140 holds 32",
    );
}

#[test]
fn too_many_load_profile_channels() {
    let mut s = base();
    s.load_profile = Some(LoadProfile {
        interval_minutes: 30,
        channels: vec![
            Source::ImportKwh,
            Source::ExportKwh,
            Source::Q1Kvarh,
            Source::Q2Kvarh,
            Source::Q3Kvarh,
        ],
    });
    assert_reported(
        &violations(&s),
        "load_profile.channels: 5 channels; the A1140 records 4",
    );
    assert!(violations_on(&s, &MeterCapabilities::a1700()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Validation: references and names

#[test]
fn unknown_rate_in_a_switch() {
    let mut s = base();
    s.day_profiles[0].switches[2].rate = "peek".to_string();
    assert_reported(
        &violations(&s),
        "day_profiles[0].switches[2].rate: unknown rate \"peek\" (the rates are \"day\", \"night\", \"peak\")",
    );
}

#[test]
fn unknown_day_profile_in_a_week_or_special_day() {
    let mut s = base();
    s.seasons[1].week.saturday = "peek".to_string();
    s.special_days[0].day_profile = "holiday".to_string();
    let v = violations(&s);
    assert_reported(
        &v,
        "seasons[1].week.saturday: unknown day profile \"peek\" (the day profiles are \"weekday\", \"weekend\")",
    );
    assert_reported(
        &v,
        "special_days[0].day_profile: unknown day profile \"holiday\" (the day profiles are \"weekday\", \"weekend\")",
    );
}

#[test]
fn sources_the_meter_does_not_have() {
    let mut s = base();
    s.rates[2].source = Source::Kvah;
    s.rates[2].register = 4;
    s.max_demand = Some(MaxDemand {
        integration_minutes: 30,
        mode: DemandMode::Block,
        sub_intervals: None,
        sources: vec![Source::ImportKwh, Source::Kvah],
    });
    s.load_profile = Some(LoadProfile {
        interval_minutes: 30,
        channels: vec![Source::Kvah],
    });
    let v = violations(&s);
    let allowed = "import_kwh, export_kwh, import_kvarh, export_kvarh, q1_kvarh, q2_kvarh, q3_kvarh, q4_kvarh";
    assert_reported(
        &v,
        &format!("rates[2].source: kvah is not available on the A1140 (it has {allowed})"),
    );
    assert_reported(
        &v,
        &format!("max_demand.sources[1]: kvah is not available on the A1140 (it has {allowed})"),
    );
    assert_reported(
        &v,
        &format!("load_profile.channels[0]: kvah is not available on the A1140 (it has {allowed})"),
    );
    assert!(violations_on(&s, &MeterCapabilities::a1700()).is_empty());
}

#[test]
fn duplicate_names() {
    let mut s = base();
    s.rates[2].name = "day".to_string();
    s.day_profiles[1].name = "weekday".to_string();
    s.seasons[1].name = "winter".to_string();
    s.special_days.push(SpecialDay {
        name: "Christmas".to_string(),
        day_profile: "weekday".to_string(),
        when: SpecialDate::Date(date(2026, 7, 1)),
    });
    let v = violations(&s);
    assert_reported(
        &v,
        "rates[2].name: duplicate rate name \"day\" (also rates[0])",
    );
    assert_reported(
        &v,
        "day_profiles[1].name: duplicate day profile name \"weekday\" (also day_profiles[0])",
    );
    assert_reported(
        &v,
        "seasons[1].name: duplicate season name \"winter\" (also seasons[0])",
    );
    assert_reported(
        &v,
        "special_days[1].name: duplicate special day name \"Christmas\" (also special_days[0])",
    );
}

// ---------------------------------------------------------------------------------------------
// Validation: switch times

#[test]
fn unsorted_switch_times() {
    let mut s = base();
    s.day_profiles[0].switches.swap(2, 3);
    assert_reported(
        &violations(&s),
        "day_profiles[0].switches[3].at: 16:00 comes after 19:00 (switches[2]): list switches in time order",
    );
}

#[test]
fn two_switches_at_the_same_time() {
    let mut s = base();
    s.day_profiles[0].switches[3].at = time("16:00");
    assert_reported(
        &violations(&s),
        "day_profiles[0].switches[3].at: two switches at 16:00 (also switches[2])",
    );
}

#[test]
fn a_day_must_start_at_midnight() {
    let mut s = base();
    s.day_profiles[1].switches[0].at = time("00:30");
    assert_reported(
        &violations(&s),
        "day_profiles[1].switches[0].at: the first switch is at 00:30, so the day from 00:00 to 00:30 has no rate; the first switch must be at 00:00",
    );
    s.day_profiles[1].switches.clear();
    assert_reported(
        &violations(&s),
        "day_profiles[1].switches: empty: a day profile needs a switch at 00:00",
    );
}

#[test]
fn a_switch_that_changes_nothing_is_a_warning() {
    let mut s = base();
    s.day_profiles[0].switches[1].rate = "night".to_string();
    let v = validate(&s, &MeterCapabilities::a1140(), today());
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].severity, Severity::Warning);
    assert_eq!(
        v[0].to_string(),
        "day_profiles[0].switches[1].rate: the switch at 07:00 changes nothing: \"night\" is already in force"
    );
}

#[test]
fn switch_times_on_clock_change_days() {
    // 01:30 on Sundays: on the last Sunday of March the clocks go from 01:00 to 02:00, on the
    // last Sunday of October from 02:00 back to 01:00.
    let mut s = base();
    s.day_profiles[1]
        .switches
        .insert(1, switch("01:30", "peak"));
    let v = violations(&s);
    assert_reported(
        &v,
        "day_profiles[1].switches[1].at: 01:30 does not exist on 2026-03-29 and 2027-03-28 in Europe/London (clocks go forward)",
    );
    assert_reported(
        &v,
        "day_profiles[1].switches[1].at: 01:30 happens twice on 2026-10-25 and 2027-10-31 in Europe/London (clocks go back)",
    );
    assert_eq!(v.len(), 2, "{v:?}");
    // From a later day, only the days in the two years that follow.
    let later = validate(&s, &MeterCapabilities::a1140(), date(2026, 6, 1));
    let later: Vec<String> = later.iter().map(ToString::to_string).collect();
    assert_eq!(
        later,
        [
            "day_profiles[1].switches[1].at: 01:30 happens twice on 2026-10-25 and 2027-10-31 in Europe/London (clocks go back)",
            "day_profiles[1].switches[1].at: 01:30 does not exist on 2027-03-28 and 2028-03-26 in Europe/London (clocks go forward)",
        ]
    );
    // The weekday profile never runs on a Sunday, so its 01:30 is harmless.
    let mut weekday = base();
    weekday.day_profiles[0]
        .switches
        .insert(1, switch("01:30", "peak"));
    assert!(violations(&weekday).is_empty());
    // ... unless a special day puts it on a clock-change Sunday.
    weekday.special_days.push(SpecialDay {
        name: "odd".to_string(),
        day_profile: "weekday".to_string(),
        when: SpecialDate::Date(date(2026, 10, 25)),
    });
    assert_eq!(
        violations(&weekday),
        [
            "day_profiles[0].switches[1].at: 01:30 happens twice on 2026-10-25 in Europe/London (clocks go back)"
        ]
    );
}

#[test]
fn clock_changes_do_not_matter_on_standard_time_or_fixed_offsets() {
    let mut s = base();
    s.day_profiles[1]
        .switches
        .insert(1, switch("01:30", "peak"));
    s.dst = Some(DstMode::Standard);
    assert!(violations(&s).is_empty());
    s.dst = None;
    s.time_zone = Some("+01:00".parse().unwrap());
    assert!(violations(&s).is_empty());
    // Sydney goes forward at 02:00 on the first Sunday of October.
    s.time_zone = Some("Australia/Sydney".parse().unwrap());
    s.day_profiles[1].switches[1].at = time("02:30");
    assert_reported(
        &violations(&s),
        "day_profiles[1].switches[1].at: 02:30 does not exist on 2026-10-04 and 2027-10-03 in Australia/Sydney (clocks go forward)",
    );
}

#[test]
fn a_scheme_without_a_time_zone_is_incomplete() {
    let mut s = base();
    s.time_zone = None;
    assert_reported(
        &violations(&s),
        "time_zone: missing: a scheme without a parent names its time zone (\"Europe/London\", \"+10:00\")",
    );
}

// ---------------------------------------------------------------------------------------------
// Validation: seasons and special days

#[test]
fn season_starts_duplicated_or_unsorted() {
    let mut s = base();
    s.seasons[1].start = "01-01".parse().unwrap();
    assert_reported(
        &violations(&s),
        "seasons[1].start: 01-01 is also the start of \"winter\" (seasons[0])",
    );
    let mut s = base();
    s.seasons.swap(0, 1);
    assert_reported(
        &violations(&s),
        "seasons[1].start: 01-01 comes before 04-01 (\"summer\", seasons[0]): list seasons in order of their start",
    );
}

#[test]
fn special_days_on_the_same_date() {
    let mut s = base();
    s.special_days.push(SpecialDay {
        name: "Christmas 2026".to_string(),
        day_profile: "weekend".to_string(),
        when: SpecialDate::Date(date(2026, 12, 25)),
    });
    s.special_days.push(SpecialDay {
        name: "bank holidays".to_string(),
        day_profile: "weekend".to_string(),
        when: SpecialDate::Dates(vec![date(2026, 5, 4), date(2026, 5, 25), date(2026, 5, 4)]),
    });
    s.special_days.push(SpecialDay {
        name: "May Day".to_string(),
        day_profile: "weekend".to_string(),
        when: SpecialDate::EveryYear("05-25".parse().unwrap()),
    });
    s.special_days.push(SpecialDay {
        name: "Christmas again".to_string(),
        day_profile: "weekend".to_string(),
        when: SpecialDate::EveryYear("12-25".parse().unwrap()),
    });
    let v = violations(&s);
    assert_reported(
        &v,
        "special_days[1].date: 2026-12-25 is also \"Christmas\" (special_days[0], every year on 12-25)",
    );
    assert_reported(&v, "special_days[2].dates[2]: 2026-05-04 is listed twice");
    assert_reported(
        &v,
        "special_days[3].every_year: 05-25 is also \"bank holidays\" on 2026-05-25 (special_days[2])",
    );
    assert_reported(
        &v,
        "special_days[4].every_year: 12-25 is also \"Christmas\" (special_days[0])",
    );
    assert_eq!(v.len(), 4, "{v:?}");
}

#[test]
fn a_yearly_special_day_on_february_29_is_a_warning() {
    let mut s = base();
    s.special_days[0].when = SpecialDate::EveryYear("02-29".parse().unwrap());
    let v = validate(&s, &MeterCapabilities::a1140(), today());
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].severity, Severity::Warning);
    assert_eq!(
        v[0].to_string(),
        "special_days[0].every_year: 02-29 occurs in leap years only"
    );
}

#[test]
fn a_special_day_in_the_past_is_a_warning() {
    let mut s = base();
    s.special_days[0].when = SpecialDate::Date(date(2025, 12, 25));
    let v = validate(&s, &MeterCapabilities::a1140(), today());
    assert_eq!(v.len(), 1);
    assert!(!v[0].is_error());
    assert_eq!(
        v[0].to_string(),
        "special_days[0].date: 2025-12-25 is in the past"
    );
}

// ---------------------------------------------------------------------------------------------
// Validation: demand, load profile, billing, display

fn demand(minutes: u32, mode: DemandMode, sub: Option<u32>) -> MaxDemand {
    MaxDemand {
        integration_minutes: minutes,
        mode,
        sub_intervals: sub,
        sources: vec![Source::ImportKwh],
    }
}

#[test]
fn demand_period_not_allowed() {
    let mut s = base();
    s.max_demand = Some(demand(45, DemandMode::Block, None));
    assert_reported(
        &violations(&s),
        "max_demand.integration_minutes: 45 minutes is not a demand period of the A1140 (it has 5, 10, 15, 20, 30, 60)",
    );
    s.max_demand = Some(demand(30, DemandMode::Block, None));
    assert!(violations(&s).is_empty());
}

#[test]
fn sliding_demand_rules() {
    let mut s = base();
    s.max_demand = Some(demand(30, DemandMode::Sliding, Some(3)));
    assert!(violations(&s).is_empty());
    let mut no_sliding = MeterCapabilities::a1140();
    no_sliding.sliding_demand = false;
    assert_eq!(
        violations_on(&s, &no_sliding),
        ["max_demand.mode: the A1140 has no sliding demand"]
    );
    s.max_demand = Some(demand(30, DemandMode::Sliding, Some(7)));
    assert_eq!(
        violations(&s),
        ["max_demand.sub_intervals: 7 sub-intervals do not divide 30 minutes"]
    );
    s.max_demand = Some(demand(30, DemandMode::Sliding, None));
    assert_eq!(
        violations(&s),
        [
            "max_demand.sub_intervals: missing: sliding demand needs the number of sub-intervals in a period"
        ]
    );
    s.max_demand = Some(demand(30, DemandMode::Block, Some(3)));
    assert_eq!(
        violations(&s),
        ["max_demand.sub_intervals: only sliding demand has sub-intervals"]
    );
}

#[test]
fn profile_interval_not_allowed() {
    let mut s = base();
    s.load_profile = Some(LoadProfile {
        interval_minutes: 20,
        channels: vec![Source::ImportKwh],
    });
    assert_eq!(
        violations(&s),
        [
            "load_profile.interval_minutes: 20 minutes is not a profile interval of the A1140 (it has 1, 2, 3, 5, 10, 15, 30, 60)"
        ]
    );
    assert!(violations_on(&s, &MeterCapabilities::dlms()).is_empty());
}

#[test]
fn billing_day_out_of_range() {
    let mut s = base();
    s.billing = Some(Billing {
        day: BillingDay::DayOfMonth(31),
        time: TimeOfDay::MIDNIGHT,
    });
    assert_eq!(
        violations(&s),
        [
            "billing.day_of_month: 31 is out of range 1 to 28 (for the last day of each month, use end_of_month = true)"
        ]
    );
    let e = Scheme::from_toml(&format!(
        "{BASE}\n[billing]\nday_of_month = 1\nend_of_month = true\ntime = \"00:00\"\n"
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 44: billing: give day_of_month or end_of_month = true, not both"
    );
}

#[test]
fn display_items_are_rates_or_obis_codes() {
    let mut s = base();
    s.display = Some(DisplaySettings {
        items: vec![
            "night".into(),
            "1.8.0".into(),
            "1-0:2.8.0*255".into(),
            "nite".into(),
        ],
        scroll_seconds: 0,
    });
    assert_eq!(
        violations(&s),
        [
            "display.items[3]: \"nite\" is neither a rate name nor an OBIS code",
            "display.scroll_seconds: must be at least 1 second",
        ]
    );
}

#[test]
fn every_violation_is_reported_at_once() {
    let mut s = base();
    s.rates[0].register = 12;
    s.day_profiles[0].switches[0].at = time("00:15");
    s.seasons[0].week.monday = "x".into();
    s.special_days[0].day_profile = "y".into();
    s.load_profile = Some(LoadProfile {
        interval_minutes: 7,
        channels: vec![Source::ImportKwh],
    });
    let v = violations(&s);
    let paths: Vec<&str> = v.iter().map(|x| x.split(':').next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "rates[0].register",
            "day_profiles[0].switches[0].at",
            "seasons[0].week.monday",
            "special_days[0].day_profile",
            "load_profile.interval_minutes",
        ]
    );
}

#[test]
fn validation_is_instant() {
    let s = Scheme::from_toml(include_str!("../../../examples/schemes/three-rate.toml")).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..10 {
        validate(&s, &MeterCapabilities::a1140(), today());
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Configurations

const CONFIG: &str = r#"id = "site-1"
name = "Site 1"
meter_type = "a1140"
scheme = "BASE"
ct_ratio = "200/5"
vt_ratio = "11000/110"

[passwords]
level1 = { password_ref = "site-key-1" }
level3 = { password_ref = "site-key-3" }

[clock]
trim_limit_seconds = 30
auto_adjust = true
max_drift_seconds = 120
"#;

fn lookup(id: &str) -> Option<Scheme> {
    (id == "BASE").then(base)
}

#[test]
fn a_configuration_reads_and_validates() {
    let c = MeterConfiguration::from_toml(CONFIG).unwrap();
    assert_eq!(c.meter_type, Some(MeterType::A1140));
    assert_eq!(c.ct_ratio.unwrap().factor(), 40.0);
    assert_eq!(c.vt_ratio.unwrap().factor(), 100.0);
    assert_eq!(
        c.passwords
            .as_ref()
            .unwrap()
            .level3
            .as_ref()
            .unwrap()
            .password_ref,
        "site-key-3"
    );
    assert!(validate_configuration(&c, lookup).is_empty());
    assert_eq!(
        MeterConfiguration::from_toml(&c.to_toml().unwrap()).unwrap(),
        c
    );
}

#[test]
fn a_configuration_with_an_unknown_scheme() {
    let c = MeterConfiguration::from_toml(&CONFIG.replace("\"BASE\"", "\"BASE2\"")).unwrap();
    let v: Vec<String> = validate_configuration(&c, lookup)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(v, ["scheme: unknown scheme \"BASE2\""]);
}

#[test]
fn ratio_syntax() {
    for bad in ["200", "200/0", "-200/5", "200:5", "two hundred/5"] {
        let e = MeterConfiguration::from_toml(&CONFIG.replace("200/5", bad)).unwrap_err();
        assert_eq!(e.problems[0].line, Some(5), "{bad}");
        assert_eq!(e.problems[0].path, "ct_ratio", "{bad}");
        assert!(e.problems[0].message.starts_with("invalid ratio"), "{e}");
    }
    let c = MeterConfiguration::from_toml(&CONFIG.replace("200/5", "5/200")).unwrap();
    let v = validate_configuration(&c, lookup);
    assert_eq!(v.len(), 2);
    assert_eq!(
        v[0].to_string(),
        "ct_ratio: the primary (5 A) is below the secondary (200 A): swapped?"
    );
    assert_eq!(
        v[1].to_string(),
        "ct_ratio: a secondary of 200 A is unusual (CT secondaries are 1 A or 5 A)"
    );
}

#[test]
fn meter_type_must_be_known() {
    let e = MeterConfiguration::from_toml(&CONFIG.replace("a1140", "a1800")).unwrap_err();
    assert_eq!(e.problems[0].line, Some(3));
    assert_eq!(e.problems[0].path, "meter_type");
    assert!(
        e.problems[0].message.contains("unknown variant `a1800`"),
        "{e}"
    );
    let e =
        MeterConfiguration::from_toml(&CONFIG.replace("meter_type = \"a1140\"\n", "")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "meter_type: missing: give a1140, a1700 or dlms"
    );
}

#[test]
fn clock_trim_limit_on_flag_meters() {
    let e = MeterConfiguration::from_toml(
        &CONFIG.replace("trim_limit_seconds = 30", "trim_limit_seconds = 90"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 13: clock.trim_limit_seconds: 90 s is above the 60 s an A1140 can trim without it counting as programming"
    );
    let dlms = CONFIG
        .replace("a1140", "dlms")
        .replace("trim_limit_seconds = 30", "trim_limit_seconds = 90")
        .replace("max_drift_seconds = 120", "max_drift_seconds = 60");
    let c = MeterConfiguration::from_toml(&dlms).unwrap();
    let v = validate_configuration(&c, lookup);
    assert_eq!(v.len(), 1);
    assert!(!v[0].is_error());
    assert_eq!(
        v[0].to_string(),
        "clock.max_drift_seconds: 60 s is below the trim limit (90 s): clocks are reported as drifted before a trim would correct them"
    );
}

#[test]
fn passwords_are_references_only() {
    let e = MeterConfiguration::from_toml(&CONFIG.replace("\"site-key-3\"", "\"hunter2 !\""))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 10: passwords.level3.password_ref: \"hunter2 !\" is not a key-store name (up to 64 letters, digits, '.', '_' and '-'); the file names keys, it never holds passwords"
    );
    // A password in clear is not even a key.
    let e = MeterConfiguration::from_toml(&CONFIG.replace(
        "level3 = { password_ref = \"site-key-3\" }",
        "level3 = \"ABCDEFGH\"",
    ))
    .unwrap_err();
    assert_eq!(e.problems[0].path, "passwords.level3");
}

// ---------------------------------------------------------------------------------------------
// Inheritance

const CHILD: &str = r#"id = "CHILD"
name = "Child"
parent = "BASE"

# A cheaper, longer night.
[[rates]]
name = "night"
register = 4
source = "import_kwh"

[[rates]]
name = "peak"
remove = true

[[day_profiles]]
name = "weekday"
switches = [
    { at = "00:00", rate = "night" },
    { at = "06:30", rate = "day" },
    { at = "23:30", rate = "night" },
]

[[seasons]]
name = "spring"
start = "03-01"
week = { monday = "weekend", tuesday = "weekend", wednesday = "weekend", thursday = "weekend", friday = "weekend", saturday = "weekend", sunday = "weekend" }

[[special_days]]
name = "Christmas"
remove = true

[billing]
end_of_month = true
time = "00:00"
"#;

fn family(id: &str) -> Option<Scheme> {
    match id {
        "BASE" => Some(base()),
        "CHILD" => Some(Scheme::from_toml(CHILD).unwrap()),
        "GRANDCHILD" => Some(
            Scheme::from_toml(
                "id = \"GRANDCHILD\"\nname = \"Grandchild\"\nparent = \"CHILD\"\ntime_zone = \"Europe/Dublin\"\n",
            )
            .unwrap(),
        ),
        _ => None,
    }
}

#[test]
fn a_child_overrides_and_merges_by_name() {
    let child = Scheme::from_toml(CHILD).unwrap();
    assert_eq!(child.removed.rates, ["peak"]);
    let s = resolve(&child, &base());
    assert_eq!(s.id, "CHILD");
    assert_eq!(s.parent, None);
    assert_eq!(s.time_zone, Some("Europe/London".parse().unwrap()));
    let rates: Vec<(&str, u8)> = s
        .rates
        .iter()
        .map(|r| (r.name.as_str(), r.register))
        .collect();
    assert_eq!(rates, [("day", 1), ("night", 4)]);
    let names: Vec<&str> = s.day_profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["weekday", "weekend"]);
    assert_eq!(s.day_profiles[0].switches.len(), 3);
    // The new season lands in order of its start.
    let seasons: Vec<&str> = s.seasons.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(seasons, ["winter", "spring", "summer"]);
    assert!(s.special_days.is_empty());
    assert!(s.removed.is_empty());
    assert_eq!(s.billing.as_ref().unwrap().day, BillingDay::EndOfMonth);
    assert!(violations(&s).is_empty(), "{:?}", violations(&s));
}

#[test]
fn a_child_is_checked_for_references_after_resolving() {
    // The child names rates it does not define; on its own that is fine.
    let child = Scheme::from_toml(CHILD).unwrap();
    assert!(child.rate("day").is_none());
    // Resolved against a parent without "day", it is not.
    let mut parent = base();
    parent.rates.remove(0);
    let v = violations(&resolve(&child, &parent));
    assert_reported(
        &v,
        "day_profiles[0].switches[1].rate: unknown rate \"day\" (the rates are \"night\")",
    );
}

#[test]
fn a_chain_of_parents_resolves() {
    let s = resolve_chain("GRANDCHILD", family).unwrap();
    assert_eq!(s.id, "GRANDCHILD");
    assert_eq!(s.time_zone, Some("Europe/Dublin".parse().unwrap()));
    assert_eq!(s.rate("night").unwrap().register, 4);
    assert_eq!(s.seasons.len(), 3);
    assert_eq!(resolve_chain("BASE", family).unwrap(), base());
    assert_eq!(
        resolve_chain("NOPE", family).unwrap_err().to_string(),
        "unknown scheme \"NOPE\""
    );
}

#[test]
fn an_unknown_parent_or_a_cycle_is_an_error() {
    let with_parent = |id: &str, parent: &str| {
        let mut s = base();
        s.id = id.to_string();
        s.parent = Some(parent.to_string());
        s
    };
    let cycle = |id: &str| match id {
        "a" => Some(with_parent("a", "b")),
        "b" => Some(with_parent("b", "c")),
        "c" => Some(with_parent("c", "a")),
        "d" => Some(with_parent("d", "a")),
        "x" => Some(with_parent("x", "gone")),
        "self" => Some(with_parent("self", "self")),
        _ => None,
    };
    assert_eq!(
        resolve_chain("d", cycle).unwrap_err().to_string(),
        "scheme inheritance cycle: a → b → c → a"
    );
    assert_eq!(
        resolve_chain("self", cycle).unwrap_err(),
        InheritError::Cycle {
            kind: "scheme",
            cycle: vec!["self".into(), "self".into()]
        }
    );
    assert_eq!(
        resolve_chain("x", cycle).unwrap_err().to_string(),
        "scheme \"x\" inherits from \"gone\", which is not known"
    );
    let endless = |id: &str| {
        let n: u32 = id.parse().ok()?;
        Some(with_parent(id, &(n + 1).to_string()))
    };
    assert!(matches!(
        resolve_chain("0", endless),
        Err(InheritError::TooDeep { .. })
    ));
}

#[test]
fn configurations_inherit() {
    let parent = MeterConfiguration::from_toml(CONFIG).unwrap();
    let child = MeterConfiguration::from_toml(
        "id = \"site-2\"\nname = \"Site 2\"\nparent = \"site-1\"\nct_ratio = \"400/5\"\n\n[clock]\ntrim_limit_seconds = 10\nmax_drift_seconds = 60\n",
    )
    .unwrap();
    let lookup = |id: &str| match id {
        "site-1" => Some(parent.clone()),
        "site-2" => Some(child.clone()),
        _ => None,
    };
    let c = resolve_chain("site-2", lookup).unwrap();
    assert_eq!(c.parent, None);
    assert_eq!(c.meter_type, Some(MeterType::A1140));
    assert_eq!(c.scheme.as_deref(), Some("BASE"));
    assert_eq!(c.ct_ratio.unwrap().to_string(), "400/5");
    assert_eq!(c.vt_ratio.unwrap().to_string(), "11000/110");
    assert_eq!(c.passwords, parent.passwords);
    let clock = c.clock.unwrap();
    assert_eq!((clock.trim_limit_seconds, clock.auto_adjust), (10, false));
    // A child without a meter type reads fine; resolved without one it does not validate.
    let lonely = MeterConfiguration {
        parent: None,
        ..child
    };
    let v = validate_configuration(&lonely, lookup_none);
    let v: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert_eq!(
        v,
        [
            "meter_type: missing: give a1140, a1700 or dlms",
            "scheme: missing: give the id of a scheme",
        ]
    );
}

fn lookup_none(_: &str) -> Option<Scheme> {
    None
}

// ---------------------------------------------------------------------------------------------
// Diff

#[test]
fn diff_of_equal_schemes_is_empty() {
    assert!(diff(&base(), &base()).is_empty());
}

#[test]
fn diff_rates() {
    let a = base();
    let mut b = base();
    b.rates[1].register = 3;
    b.rates[1].source = Source::ExportKwh;
    b.rates.remove(2);
    b.rates.push(Rate {
        name: "shoulder".into(),
        register: 5,
        source: Source::ImportKwh,
    });
    assert_eq!(
        diff(&a, &b),
        [
            "rate \"night\": register 2 → 3",
            "rate \"night\": source import_kwh → export_kwh",
            "rate \"peak\" removed",
            "rate \"shoulder\" added (register 5, import_kwh)",
        ]
    );
}

#[test]
fn diff_switches() {
    let a = base();
    let mut b = base();
    b.day_profiles[0].switches[1].rate = "peak".into();
    b.day_profiles[0].switches.remove(2);
    b.day_profiles[0]
        .switches
        .insert(2, switch("17:00", "peak"));
    assert_eq!(
        diff(&a, &b),
        [
            "day profile \"weekday\": switch at 07:00 now to \"peak\" (was \"day\")",
            "day profile \"weekday\": switch to \"peak\" moved from 16:00 to 17:00",
        ]
    );
    let mut c = base();
    c.day_profiles[0].switches.remove(2);
    c.day_profiles[0]
        .switches
        .insert(1, switch("06:00", "peak"));
    c.day_profiles[0].switches.push(switch("23:30", "day"));
    assert_eq!(
        diff(&a, &c),
        [
            "day profile \"weekday\": switch to \"peak\" moved from 16:00 to 06:00",
            "day profile \"weekday\": switch added at 23:30 to \"day\"",
        ]
    );
    assert_eq!(
        diff(&c, &a),
        [
            "day profile \"weekday\": switch to \"peak\" moved from 06:00 to 16:00",
            "day profile \"weekday\": switch at 23:30 to \"day\" removed",
        ]
    );
}

#[test]
fn diff_day_profiles_added_and_removed() {
    let a = base();
    let mut b = base();
    b.day_profiles
        .push(profile("holiday", &[("00:00", "night"), ("09:00", "day")]));
    let mut c = base();
    c.day_profiles.remove(1);
    assert_eq!(
        diff(&a, &b),
        ["day profile \"holiday\" added (00:00 \"night\", 09:00 \"day\")"]
    );
    assert_eq!(diff(&a, &c), ["day profile \"weekend\" removed"]);
}

#[test]
fn diff_seasons() {
    let a = base();
    let mut b = base();
    b.seasons[1].start = "03-25".parse().unwrap();
    b.seasons[1].week.saturday = "weekday".into();
    b.seasons.push(Season {
        name: "autumn".into(),
        start: "10-01".parse().unwrap(),
        week: Week::every_day("weekend"),
    });
    assert_eq!(
        diff(&b, &a),
        [
            "season \"summer\": starts 04-01 (was 03-25)",
            "season \"summer\": saturday now \"weekend\" (was \"weekday\")",
            "season \"autumn\" removed",
        ]
    );
    assert_eq!(
        diff(&a, &b).last().unwrap(),
        "season \"autumn\" added (starts 10-01)"
    );
}

#[test]
fn diff_special_days() {
    let mut a = base();
    a.special_days.clear();
    let b = base();
    assert_eq!(
        diff(&a, &b),
        ["special day \"Christmas\" added (every year on 12-25, day profile \"weekend\")"]
    );
    let mut c = base();
    c.special_days[0].when = SpecialDate::Dates(vec![date(2026, 12, 25), date(2027, 12, 25)]);
    c.special_days[0].day_profile = "weekday".into();
    assert_eq!(
        diff(&b, &c),
        [
            "special day \"Christmas\": now on 2026-12-25, 2027-12-25 (was every year on 12-25)",
            "special day \"Christmas\": day profile \"weekend\" → \"weekday\"",
        ]
    );
    assert_eq!(diff(&b, &a), ["special day \"Christmas\" removed"]);
}

#[test]
fn diff_header() {
    let a = base();
    let mut b = base();
    b.name = "Base 2".into();
    b.time_zone = Some("Europe/Dublin".parse().unwrap());
    b.dst = Some(DstMode::Standard);
    b.description = Some("new".into());
    assert_eq!(
        diff(&a, &b),
        [
            "name \"Base\" → \"Base 2\"",
            "description added",
            "time zone Europe/London → Europe/Dublin",
            "DST zone → standard",
        ]
    );
}

#[test]
fn diff_demand_billing_profile_display() {
    let a = base();
    let mut b = base();
    b.max_demand = Some(demand(30, DemandMode::Block, None));
    b.billing = Some(Billing {
        day: BillingDay::DayOfMonth(1),
        time: TimeOfDay::MIDNIGHT,
    });
    b.load_profile = Some(LoadProfile {
        interval_minutes: 30,
        channels: vec![Source::ImportKwh, Source::ExportKwh],
    });
    b.display = Some(DisplaySettings {
        items: vec!["day".into(), "night".into()],
        scroll_seconds: 10,
    });
    assert_eq!(
        diff(&a, &b),
        [
            "maximum demand added (30-minute block, import_kwh)",
            "billing added (day 1 at 00:00)",
            "load profile added (30-minute interval, channels import_kwh, export_kwh)",
            "display added (\"day\", \"night\", 10 s each)",
        ]
    );
    let mut c = b.clone();
    c.max_demand = Some(MaxDemand {
        integration_minutes: 15,
        mode: DemandMode::Sliding,
        sub_intervals: Some(3),
        sources: vec![Source::ImportKwh, Source::ImportKvarh],
    });
    c.billing = Some(Billing {
        day: BillingDay::EndOfMonth,
        time: time("06:00"),
    });
    c.load_profile = Some(LoadProfile {
        interval_minutes: 15,
        channels: vec![Source::ImportKwh],
    });
    c.display = Some(DisplaySettings {
        items: vec!["day".into()],
        scroll_seconds: 8,
    });
    assert_eq!(
        diff(&b, &c),
        [
            "maximum demand: integration period 30 → 15 minutes",
            "maximum demand: mode block → sliding",
            "maximum demand: sub-intervals none → 3",
            "maximum demand: sources import_kwh → import_kwh, import_kvarh",
            "billing: day 1 → end of month",
            "billing: time 00:00 → 06:00",
            "load profile: interval 30 → 15 minutes",
            "load profile: channels import_kwh, export_kwh → import_kwh",
            "display: items \"day\", \"night\" → \"day\"",
            "display: scroll 10 → 8 seconds",
        ]
    );
    assert_eq!(
        diff(&c, &a),
        [
            "maximum demand removed",
            "billing removed",
            "load profile removed",
            "display removed",
        ]
    );
}

#[test]
fn diff_of_a_child_and_its_resolved_form() {
    let child = Scheme::from_toml(CHILD).unwrap();
    let resolved = resolve(&child, &base());
    let changes = diff(&base(), &resolved);
    assert!(
        changes.contains(&"id BASE → CHILD".to_string()),
        "{changes:?}"
    );
    assert!(changes.contains(&"rate \"night\": register 2 → 4".to_string()));
    assert!(changes.contains(&"rate \"peak\" removed".to_string()));
    assert!(changes.contains(&"season \"spring\" added (starts 03-01)".to_string()));
    assert!(changes.contains(&"special day \"Christmas\" removed".to_string()));
    assert!(changes.contains(&"billing added (end of month at 00:00)".to_string()));
    assert!(diff(&base(), &child).contains(&"now removes the parent's rate \"peak\"".to_string()));
}

// ---------------------------------------------------------------------------------------------
// Lines of violations

#[test]
fn violations_can_be_placed_in_their_file() {
    let text = BASE.replace("register = 3", "register = 9");
    let s = Scheme::from_toml(&text).unwrap();
    let v = validate(&s, &MeterCapabilities::a1140(), today());
    assert_eq!(v.len(), 1);
    assert_eq!(line_of(&text, &v[0].path), Some(8));
    assert_eq!(v[0].path, "rates[2].register");
}

#[test]
fn the_json_schema_has_both_file_kinds() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    let defs = schema.get("$defs").unwrap();
    assert!(defs.get("Scheme").is_some());
    assert!(defs.get("MeterConfiguration").is_some());
    assert!(!json_schema().contains("\"null\""));
}
