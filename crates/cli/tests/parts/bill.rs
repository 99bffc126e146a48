//! `scheme bill` and `scheme compare` as a user runs them, on the OpenStudio-HPXML sample
//! tariffs and load (`crates/tariff/tests/data/urdb-bills`), and against an independent
//! implementation: NREL PySAM's Utilityrate5 (`scripts/pysam_bill.py`).

use std::process::Command;

use super::{chrono_like_epoch, peer_python, run, sim, temp_dir};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tariff/tests/data/urdb-bills"
);

fn rate(name: &str) -> String {
    format!("{DATA}/{name}.json")
}

fn load_csv() -> String {
    format!("{DATA}/data.csv")
}

/// A mapping for `data.csv`: year-less end-of-hour stamps, simulated (standard) time in
/// Denver; electricity 1.8.0, PV 1 kW 2.8.1, PV 10 kW 2.8.0.
fn mapping(dir: &std::path::Path) -> String {
    let p = dir.join("data-map.toml");
    std::fs::write(
        &p,
        r#"time_format = "%m/%d %H:%M:%S"
year = 2007
time_zone = "-07:00"
stamp = "end"
interval_minutes = 60
meter = { fixed = "denver" }
time = { column = 1 }
[[values]]
column = "Electricity [kWh]"
channel = "1.8.0"
unit = "kWh"
[[values]]
column = "PV_10kW [kWh]"
channel = "2.8.0"
unit = "kWh"
[[values]]
column = "PV_1kW [kWh]"
channel = "2.8.1"
unit = "kWh"
"#,
    )
    .unwrap();
    p.display().to_string()
}

/// `scheme bill --json` on data.csv with extra options; the parsed output.
fn bill_json(map: &str, tariff: &str, extra: &[&str]) -> serde_json::Value {
    let csv = load_csv();
    let mut args = vec![
        "scheme",
        "bill",
        "--urdb",
        tariff,
        "--profile",
        &csv,
        "--mapping",
        map,
        "--channel",
        "1.8.0",
        "--json",
    ];
    args.extend_from_slice(extra);
    let (ok, out, err) = run(&args);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn bill_expected_tiered_tou_case_through_the_cli() {
    let dir = temp_dir("bill-case");
    let map = mapping(&dir);
    // EXPECTED.md #66: Sample Tiered Time-of-Use Rate, PV 10 kW, net metering, annual excess at
    // 0.03 USD/kWh, OpenStudio-HPXML's tier method: fixed 108, energy 377, PV credit −665,
    // total −180.
    let j = bill_json(
        &map,
        &rate("Sample Tiered Time-of-Use Rate"),
        &[
            "--export-channel",
            "2.8.0",
            "--sellback",
            "user:0.03",
            "--tier-method",
            "os-hpxml",
        ],
    );
    let a = &j["annual"];
    assert_eq!(f(&a["fixed"]), 108.0);
    assert_eq!(f(&a["energy"]), 377.43);
    assert!(
        (f(&a["pv_credit"]) + 665.0).abs() <= 1.0,
        "{}",
        a["pv_credit"]
    );
    assert!((f(&j["total"]) + 180.0).abs() <= 1.5, "{}", j["total"]);
    assert_eq!(j["time_zone"], "-07:00");
    assert_eq!(j["tier_method"], "os-hpxml");
    let months = j["months"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    assert_eq!(months[0]["month"], "2007-01");
    assert_eq!(months[0]["start"], "2007-01-01T07:00:00Z");
    let sum: f64 = months.iter().map(|m| f(&m["total"])).sum();
    assert!((sum - f(&j["total"])).abs() < 0.07, "{sum}");
    for m in months {
        for k in [
            "fixed",
            "energy",
            "demand",
            "minimum",
            "pv_credit",
            "total",
            "import_kwh",
        ] {
            assert!(m[k].is_number(), "{k} in {m}");
        }
        assert_eq!(m["periods"].as_array().unwrap().len(), {
            // June to August have the peak period too.
            let mm = m["month"].as_str().unwrap();
            if ["2007-06", "2007-07", "2007-08"].contains(&mm) {
                2
            } else {
                1
            }
        });
    }
    // The same tariff without PV: 377.43 by OpenStudio-HPXML's method, 409.21 by the
    // textbook method (the default).
    let j = bill_json(
        &map,
        &rate("Sample Tiered Time-of-Use Rate"),
        &["--tier-method", "os-hpxml"],
    );
    assert_eq!(f(&j["annual"]["energy"]), 377.43);
    let j = bill_json(&map, &rate("Sample Tiered Time-of-Use Rate"), &[]);
    assert_eq!(f(&j["annual"]["energy"]), 409.21);
    assert_eq!(j["tier_method"], "textbook");
    // Data stamped in another year: --year moves them onto the 2007 calendar (weekdays).
    let map2019 = dir.join("data-map-2019.toml");
    std::fs::write(
        &map2019,
        std::fs::read_to_string(&map)
            .unwrap()
            .replace("year = 2007", "year = 2019"),
    )
    .unwrap();
    let m19 = map2019.to_str().unwrap();
    let j = bill_json(m19, &rate("Sample Time-of-Use Rate"), &[]);
    assert_eq!(f(&j["annual"]["energy"]), 393.03); // 2019's weekdays
    let j = bill_json(m19, &rate("Sample Time-of-Use Rate"), &["--year", "2007"]);
    assert_eq!(f(&j["annual"]["energy"]), 393.32);
    assert_eq!(j["months"][0]["month"], "2007-01");
    // The table: months as rows.
    let csv = load_csv();
    let (ok, out, err) = run(&[
        "scheme",
        "bill",
        "--urdb",
        &rate("Sample Tiered Rate"),
        "--profile",
        &csv,
        "--mapping",
        &map,
        "--channel",
        "1.8.0",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("month"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("2007-07 ")), "{out}");
    let total = out.lines().find(|l| l.starts_with("total")).unwrap();
    assert!(
        total.contains("579.58") && total.contains("687.58"),
        "{total}"
    );
}

#[test]
fn bill_pv_net_metering_feed_in_and_grid_fee() {
    let dir = temp_dir("bill-pv");
    let map = mapping(&dir);
    let pv = |tariff: &str, channel: &str, extra: &[&str]| {
        let mut args = vec!["--export-channel", channel];
        args.extend_from_slice(extra);
        bill_json(&map, &rate(tariff), &args)
    };
    // Flat, 10 kW, annual excess at 0.03: 632.14 + 9583.6 kWh × 0.03 = 919.65 (EXPECTED #15).
    let j = pv("Sample Flat Rate", "2.8.0", &["--sellback", "user:0.03"]);
    assert_eq!(f(&j["annual"]["pv_credit"]), -919.65);
    assert_eq!(j["compensation"]["net_metering"]["sellback"]["rate"], 0.03);
    // The credit rolls over month to month; the year's true-up is in December.
    let months = j["months"].as_array().unwrap();
    assert!(f(&months[3]["credit_carried"]) < 0.0, "{}", months[3]);
    assert!(months[11].get("credit_carried").is_none(), "{}", months[11]);
    // TOU, 10 kW, retail (EXPECTED #50): −1127.94.
    let j = pv(
        "Sample Time-of-Use Rate",
        "2.8.0",
        &["--sellback", "retail"],
    );
    assert_eq!(f(&j["annual"]["pv_credit"]), -1127.94);
    // RTP, 1 kW (EXPECTED #79): −105.63.
    let j = pv(
        "Sample Real-Time Pricing Rate",
        "2.8.1",
        &["--sellback", "user:0.03"],
    );
    assert_eq!(f(&j["annual"]["pv_credit"]), -105.63);
    // Feed-in tariff, 1 kW (EXPECTED #12): −177.87; energy unchanged.
    let j = pv("Sample Flat Rate", "2.8.1", &["--feed-in", "0.12"]);
    assert_eq!(f(&j["annual"]["pv_credit"]), -177.87);
    assert_eq!(f(&j["annual"]["energy"]), 632.14);
    // Grid fee 2.50 USD/kW/month × 1 kW (EXPECTED #13): fixed 96 → 126.
    let j = pv(
        "Sample Flat Rate",
        "2.8.1",
        &[
            "--sellback",
            "user:0.03",
            "--grid-fee",
            "per-kw:2.5",
            "--pv-kw",
            "1",
        ],
    );
    assert_eq!(f(&j["annual"]["fixed"]), 126.0);
    // Monthly minimum with PV (EXPECTED #21): energy + top-up 1736, PV credit −920.
    let j = pv(
        "Sample Flat Rate Min Monthly Charge",
        "2.8.0",
        &["--sellback", "user:0.03"],
    );
    let a = &j["annual"];
    assert!(
        (f(&a["energy"]) + f(&a["minimum"]) - 1736.0).abs() <= 1.0,
        "{a}"
    );
    assert!((f(&a["pv_credit"]) + 920.0).abs() <= 1.0, "{a}");
}

#[test]
fn bill_our_scheme_with_prices() {
    let dir = temp_dir("bill-scheme");
    let map = mapping(&dir);
    let scheme = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/schemes/economy7.toml"
    );
    let prices = dir.join("e7-prices.toml");
    std::fs::write(
        &prices,
        format!(
            "scheme = \"{scheme}\"\ncurrency = \"GBP\"\nfixed = {{ amount = 0.5, per = \"day\" }}\n[rates]\nday = 0.30\nnight = 0.10\n"
        ),
    )
    .unwrap();
    let csv = load_csv();
    let (ok, out, err) = run(&[
        "scheme",
        "bill",
        "--prices",
        prices.to_str().unwrap(),
        "--profile",
        &csv,
        "--mapping",
        &map,
        "--channel",
        "1.8.0",
        "--json",
    ]);
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["time_zone"], "Europe/London");
    let mut kwh = 0.0;
    let mut cost = 0.0;
    for m in j["months"].as_array().unwrap() {
        for p in m["periods"].as_array().unwrap() {
            let k = f(&p["kwh"]);
            kwh += k;
            cost += k * if p["period"] == "night" { 0.10 } else { 0.30 };
        }
    }
    assert!((kwh - 5289.084).abs() < 0.01, "{kwh}");
    assert!((f(&j["annual"]["energy"]) - cost).abs() < 0.05);
    assert!((f(&j["annual"]["fixed"]) - 365.0 * 0.5).abs() < 0.01);
    // --scheme without prices is refused.
    let (ok, _, err) = run(&[
        "scheme",
        "bill",
        "--scheme",
        scheme,
        "--profile",
        &csv,
        "--mapping",
        &map,
    ]);
    assert!(!ok);
    assert!(err.contains("--scheme needs --prices"), "{err}");
}

#[test]
fn compare_two_tariffs_side_by_side() {
    let dir = temp_dir("bill-compare");
    let map = mapping(&dir);
    let csv = load_csv();
    let flat = rate("Sample Flat Rate");
    let tou = rate("Sample Time-of-Use Rate");
    let (ok, out, err) = run(&[
        "scheme",
        "compare",
        &flat,
        &tou,
        "--profile",
        &csv,
        "--mapping",
        &map,
        "--channel",
        "1.8.0",
        "--json",
    ]);
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(f(&j["total"]["a"]), 728.14);
    assert_eq!(f(&j["total"]["b"]), 501.32);
    assert_eq!(f(&j["total"]["difference"]), -226.82);
    let months = j["months"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    for m in months {
        let d = f(&m["b"]) - f(&m["a"]);
        assert!((d - f(&m["difference"])).abs() < 0.011, "{m}");
    }
    assert_eq!(j["a"]["tariff"], "Sample Tiered Rate"); // the name inside the flat file
    assert_eq!(j["b"]["tariff"], "Sample Time-of-Use Rate");
    // With PV, the what-if of a feed-in tariff against net metering, as a table.
    let (ok, out, err) = run(&[
        "scheme",
        "compare",
        &flat,
        &tou,
        "--profile",
        &csv,
        "--mapping",
        &map,
        "--channel",
        "1.8.0",
        "--export-channel",
        "2.8.1",
        "--sellback",
        "user:0.03",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("B - A"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("2007-06")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("total")), "{out}");
}

#[test]
fn bill_errors_name_what_is_wrong() {
    let dir = temp_dir("bill-errors");
    let map = mapping(&dir);
    let csv = load_csv();
    let try_bill = |tariff: &str, extra: &[&str]| {
        let mut args = vec![
            "scheme",
            "bill",
            "--urdb",
            tariff,
            "--profile",
            &csv,
            "--mapping",
            &map,
            "--channel",
            "1.8.0",
        ];
        args.extend_from_slice(extra);
        let (ok, _, err) = run(&args);
        assert!(!ok, "{args:?} should fail");
        err
    };
    let missing = dir.join("nope.json");
    let err = try_bill(missing.to_str().unwrap(), &[]);
    assert!(err.contains("nope.json: no such file"), "{err}");
    let err = try_bill(&rate("Invalid Fixed Charge Units"), &[]);
    assert!(
        err.contains(
            "items[0].fixedchargeunits: \"$/year\": fixed charge units must be $/month or $/day"
        ),
        "{err}"
    );
    let err = try_bill(&rate("Invalid Min Charge Units"), &[]);
    assert!(err.contains("items[0].minchargeunits"), "{err}");
    let err = try_bill(&rate("Missing Required Fields"), &[]);
    assert!(err.contains("energyweekdayschedule"), "{err}");
    let broken = dir.join("broken.json");
    std::fs::write(
        &broken,
        "{\"items\": [{\"energyratestructure\": [[{\"rate\": }]]}]}",
    )
    .unwrap();
    let err = try_bill(broken.to_str().unwrap(), &[]);
    assert!(err.contains("broken.json: not JSON"), "{err}");
    let err = try_bill(&rate("Sample Flat Rate"), &["--sellback", "lots"]);
    assert!(err.contains("--sellback \"lots\""), "{err}");
    let err = try_bill(&rate("Sample Flat Rate"), &["--compensation", "feed-in"]);
    assert!(err.contains("needs --feed-in"), "{err}");
    let err = try_bill(&rate("Sample Flat Rate"), &["--grid-fee", "per-kw:2.5"]);
    assert!(err.contains("needs --pv-kw"), "{err}");
    // Hourly demand (kW) is energy: kW × 1 h; voltage is not, and is refused by name.
    let power = dir.join("power.csv");
    std::fs::write(
        &power,
        "T,P\n2007-01-01T00:00:00Z,1.5\n2007-01-01T01:00:00Z,2\n2007-01-01T02:00:00Z,2.5\n",
    )
    .unwrap();
    let map_of = |unit: &str, channel: &str| {
        let p = dir.join(format!("power-map-{unit}.toml"));
        std::fs::write(
            &p,
            format!("meter = {{ fixed = \"m\" }}\ntime = {{ column = \"T\" }}\n[[values]]\ncolumn = \"P\"\nchannel = \"{channel}\"\nunit = \"{unit}\"\n"),
        )
        .unwrap();
        p.display().to_string()
    };
    let bill_power = |map: &str| {
        run(&[
            "scheme",
            "bill",
            "--urdb",
            &rate("Sample Flat Rate"),
            "--profile",
            power.to_str().unwrap(),
            "--mapping",
            map,
            "--json",
        ])
    };
    let (ok, out, err) = bill_power(&map_of("kW", "1.7.0"));
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(f(&j["annual"]["import_kwh"]), 6.0, "{j}");
    assert!(
        err.contains(
            "power.csv (meter m): channel 1-0:1.7.0*255 (W, average demand) converted to energy: Wh = W × 3600 s / 3600 s"
        ),
        "{err}"
    );
    let (ok, _, err) = bill_power(&map_of("V", "32.7.0"));
    assert!(!ok);
    assert!(
        err.contains("channel 1-0:32.7.0*255 holds V values, which are neither energy"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// PySAM

fn pysam(py: &str, tariff: &str, extra: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pysam_bill.py");
    let out = Command::new(py)
        .arg(script)
        .arg(tariff)
        .arg(load_csv())
        .args(["--load-column", "Electricity [kWh]"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A made-up tariff with everything SAM bills: three TOU energy periods with three tiers each
/// and adjustments, tiered TOU demand, tiered flat demand by season, and a fixed charge. (SAM
/// requires the same tier limits in every period of a month, energy and demand alike.)
fn synthetic_tariff(dir: &std::path::Path) -> String {
    let mut weekday = vec![vec![0u8; 24]; 12];
    let mut weekend = vec![vec![0u8; 24]; 12];
    let mut demand_weekday = vec![vec![0u8; 24]; 12];
    for m in 0..12 {
        let summer = (5..=8).contains(&m);
        for h in 0..24 {
            weekday[m][h] = match (summer, h) {
                (true, 14..=18) => 2,
                (true, 8..=13) | (true, 19..=21) => 1,
                (false, 7..=10) | (false, 17..=20) => 1,
                _ => 0,
            };
            weekend[m][h] = if (17..=20).contains(&h) { 1 } else { 0 };
            demand_weekday[m][h] = if summer && (14..=18).contains(&h) {
                1
            } else {
                0
            };
        }
    }
    let tiers = |rates: [f64; 3], adj: f64| {
        serde_json::json!([
            {"rate": rates[0], "adj": adj, "max": 300, "unit": "kWh"},
            {"rate": rates[1], "adj": adj, "max": 600, "unit": "kWh"},
            {"rate": rates[2], "adj": adj, "unit": "kWh"},
        ])
    };
    let record = serde_json::json!({
        "name": "Synthetic TOU, tiers and demand",
        "utility": "metermaster tests",
        "energyweekdayschedule": weekday,
        "energyweekendschedule": weekend,
        "energyratestructure": [
            tiers([0.08, 0.10, 0.12], 0.005),
            tiers([0.12, 0.14, 0.16], 0.005),
            tiers([0.20, 0.22, 0.25], 0.0),
        ],
        "demandweekdayschedule": demand_weekday,
        "demandweekendschedule": vec![vec![0u8; 24]; 12],
        "demandratestructure": [
            [{"rate": 0.0, "max": 3.0}, {"rate": 0.0}],
            [{"rate": 12.5, "max": 3.0}, {"rate": 15.0, "adj": 0.5}],
        ],
        "flatdemandstructure": [
            [{"rate": 4.0}],
            [{"rate": 2.5, "max": 2.0}, {"rate": 3.0}],
        ],
        "flatdemandmonths": [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1],
        "demandrateunit": "kW",
        "demandwindow": 60,
        "fixedchargefirstmeter": 10.0,
        "fixedchargeunits": "$/month",
    });
    let p = dir.join("synthetic-tou-tiers-demand.json");
    std::fs::write(
        &p,
        serde_json::to_string_pretty(&serde_json::json!({"items": [record]})).unwrap(),
    )
    .unwrap();
    p.display().to_string()
}

/// Our bill and PySAM's agree to the cent, in total and month by month, on tariffs with demand
/// charges: the real APS record (TOU energy and demand) without PV, and with PV 1 kW and 10 kW
/// under net metering with a year-end sell-back (PySAM's "net energy metering" with kWh credits
/// gives the same bills as our dollar credits here: one energy price per period); and a made-up
/// tariff with tiered TOU energy, tiered TOU and flat demand, without PV and with a feed-in
/// tariff (PySAM's "buy all, sell all").
#[test]
fn bills_agree_with_pysam() {
    let Some(py) = peer_python("PySAM.Utilityrate5") else {
        return;
    };
    let dir = temp_dir("bill-pysam");
    let map = mapping(&dir);
    let aps = rate("Contains Demand Charges");
    let synthetic = synthetic_tariff(&dir);
    let cases: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = vec![
        ("APS, no PV", &aps, vec![], vec![]),
        (
            "APS, PV 1 kW, net metering",
            &aps,
            vec!["--export-channel", "2.8.1", "--sellback", "user:0.03"],
            vec![
                "--gen-column",
                "PV_1kW [kWh]",
                "--metering",
                "net-metering",
                "--sellback",
                "0.03",
            ],
        ),
        (
            "APS, PV 10 kW, net metering",
            &aps,
            vec!["--export-channel", "2.8.0", "--sellback", "user:0.03"],
            vec![
                "--gen-column",
                "PV_10kW [kWh]",
                "--metering",
                "net-metering",
                "--sellback",
                "0.03",
            ],
        ),
        ("synthetic, no PV", &synthetic, vec![], vec![]),
        (
            "synthetic, PV 1 kW, feed-in",
            &synthetic,
            vec!["--export-channel", "2.8.1", "--feed-in", "0.05"],
            vec![
                "--gen-column",
                "PV_1kW [kWh]",
                "--metering",
                "buy-all-sell-all",
                "--feed-in",
                "0.05",
            ],
        ),
    ];
    for (name, tariff, ours_args, theirs_args) in cases {
        let ours = bill_json(&map, tariff, &ours_args);
        let theirs = pysam(&py, tariff, &theirs_args);
        let (a, b) = (f(&ours["total"]), f(&theirs["total"]));
        assert!((a - b).abs() <= 0.01, "{name}: total ours {a}, PySAM {b}");
        let om = ours["months"].as_array().unwrap();
        let tm = theirs["months"].as_array().unwrap();
        assert_eq!(om.len(), 12, "{name}");
        for (k, (o, t)) in om.iter().zip(tm).enumerate() {
            let (x, y) = (f(&o["total"]), f(&t["total"]));
            assert!(
                (x - y).abs() <= 0.011,
                "{name}: month {} total ours {x}, PySAM {y}",
                k + 1
            );
            let (x, y) = (f(&o["demand"]), f(&t["demand_tou"]) + f(&t["demand_flat"]));
            assert!(
                (x - y).abs() <= 0.011,
                "{name}: month {} demand ours {x}, PySAM {y}",
                k + 1
            );
            if ours_args.is_empty() {
                let (x, y) = (f(&o["energy"]), f(&t["energy"]));
                assert!(
                    (x - y).abs() <= 0.011,
                    "{name}: month {} energy ours {x}, PySAM {y}",
                    k + 1
                );
            }
        }
        eprintln!("{name}: ours {a:.2}, PySAM {b:.2}");
    }
}

// ---------------------------------------------------------------------------------------------
// A meter read by metermaster: its profile holds average demand (W)

/// An exact decimal (`155751.75000`) in thousandths, which it must be a whole number of.
fn thousandths(text: &str) -> i64 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let (keep, rest) = frac.split_at(frac.len().min(3));
    assert!(
        rest.chars().all(|c| c == '0'),
        "{text} is not exact to a thousandth"
    );
    let neg = int.starts_with('-');
    let v = format!("{}{keep:0<3}", int.trim_start_matches('-'))
        .parse::<i64>()
        .unwrap();
    if neg { -v } else { v }
}

/// The import register (1-0:1.8.0, Wh) of a reading's register list, in mWh.
fn import_mwh(registers: &serde_json::Value) -> i64 {
    let r = registers
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["obis"] == "1-0:1.8.0*255")
        .unwrap_or_else(|| panic!("no import register in {registers}"));
    assert_eq!(r["value"]["unit"], "Wh");
    let raw = r["value"]["raw"].as_i64().unwrap();
    let scale = r["value"]["scale"].as_i64().unwrap();
    raw * 10i64.pow((scale + 3) as u32)
}

/// A simulated meter read into a store keeps its profile as metermaster reads it: average
/// demand in W (1-0:1.5.0*255). Everything that needs energy converts it (W × 900 s / 3600 s):
/// `scheme evaluate` gives the import register's advance over the profile's span to the mWh
/// (the simulator's registers are the sum of its profile intervals); `scheme bill` gives the
/// same bill as the same energy written as a kWh CSV; `inspect` of the exported W channel and
/// of the NEM12 export totals it in Wh.
#[test]
fn demand_profiles_are_evaluated_and_billed_as_energy() {
    let dir = temp_dir("bill-demand");
    let s = sim(&["--meters", "1"]); // frozen at 2024-03-05T14:00:00Z
    let url = format!("tcp://127.0.0.1:{}", s.port);
    let db = format!("sqlite:{}", dir.join("s.db").display());
    // Five days of profile: from 2024-03-01 00:00, the last billing reset, to the meter's time.
    let (ok, out, err) = run(&[
        "read",
        &url,
        "--address",
        "10000001",
        "--days",
        "5",
        "--json",
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    let reading: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lp = &reading["load_profile"];
    assert_eq!(lp["interval_s"], 900);
    assert_eq!(lp["channels"][0]["obis"], "1-0:1.5.0*255");
    assert_eq!(lp["channels"][0]["unit"], "W");
    let intervals = lp["intervals"].as_array().unwrap();
    let first = intervals[0]["start"].as_str().unwrap();
    let end = intervals.last().unwrap()["end"].as_str().unwrap();
    // The register at the billing reset (the profile's first interval start) and now (the end
    // of its last complete interval, which is the last one in the profile).
    let reset = &reading["billing_history"][0];
    assert_eq!(reset["reset_time"].as_str(), Some(first), "{reset}");
    assert_eq!(first, "2024-03-01T00:00:00Z");
    assert_eq!(end, "2024-03-05T14:00:00Z");
    assert!(
        reading["clock"]["meter_time"]
            .as_str()
            .unwrap()
            .starts_with("2024-03-05T14:0"),
        "{}",
        reading["clock"]
    );
    let advance = import_mwh(&reading["registers"]) - import_mwh(&reset["registers"]);
    assert!(advance > 100_000_000, "{advance} mWh"); // over 100 kWh in four and a half days

    // scheme evaluate on the stored meter: energy in Wh, equal to the advance.
    let e7 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/schemes/economy7.toml"
    );
    let evaluate = |json: bool| {
        let mut args = vec![
            "scheme",
            "evaluate",
            "--scheme",
            e7,
            "--profile",
            "10000001",
            "--database",
            &db,
        ];
        if json {
            args.push("--json");
        }
        let (ok, out, err) = run(&args);
        assert!(ok, "{err}");
        out
    };
    let ev: serde_json::Value = serde_json::from_str(&evaluate(true)).unwrap();
    assert_eq!(ev["channel"], "1-0:1.5.0*255");
    assert_eq!(ev["channel_unit"], "W");
    assert_eq!(ev["unit"], "Wh");
    assert_eq!(ev["gaps"], 0);
    assert_eq!(
        ev["conversion"],
        "channel 1-0:1.5.0*255 (W, average demand) converted to energy: Wh = W × 900 s / 3600 s"
    );
    assert_eq!(thousandths(ev["total"].as_str().unwrap()), advance, "{ev}");
    let by_rate: i64 = ev["rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| thousandths(r["energy"].as_str().unwrap()))
        .sum();
    assert_eq!(by_rate, advance);
    let text = evaluate(false);
    assert!(
        text.contains("channel 1-0:1.5.0*255 (W, average demand) converted to energy"),
        "{text}"
    );
    let total = text.lines().find(|l| l.contains("total:")).unwrap();
    assert!(total.contains(" Wh") && !total.contains(" W,"), "{total}");

    // The stored W channel exported as CSV: inspect totals it in Wh, the same energy.
    let w_csv = dir.join("w.csv");
    let (ok, _, err) = run(&[
        "export",
        "--format",
        "csv",
        "--meter",
        "10000001",
        "--database",
        &db,
        "--out",
        w_csv.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let w_text = std::fs::read_to_string(&w_csv).unwrap();
    assert!(w_text.contains(",1-0:1.5.0*255,2024-03-01T00:00:00Z,2024-03-01T00:15:00Z,"));
    let inspect = |file: &std::path::Path| -> Vec<serde_json::Value> {
        let (ok, out, err) = run(&["inspect", "--json", file.to_str().unwrap()]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0]["series"].as_array().unwrap().clone()
    };
    let series = inspect(&w_csv);
    let import = series
        .iter()
        .find(|s| s["channel"] == "1-0:1.5.0*255")
        .unwrap();
    assert_eq!(import["unit"], "Wh");
    assert_eq!(import["channel_unit"], "W");
    assert_eq!(thousandths(import["total"].as_str().unwrap()), advance);
    let (ok, out, err) = run(&["inspect", w_csv.to_str().unwrap()]);
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.contains("1-0:1.5.0*255")).unwrap();
    assert!(
        line.contains(" Wh (from W, average demand × 900 s)"),
        "{line}"
    );
    // And as NEM12 (which carries energy): the import stream E1 in kWh, the same total.
    let nem = dir.join("w.nem12");
    let (ok, _, err) = run(&[
        "export",
        "--format",
        "nem12",
        "--meter",
        "10000001",
        "--database",
        &db,
        "--out",
        nem.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        std::fs::read_to_string(&nem)
            .unwrap()
            .contains(",E1,,E1,,,kWh,15,")
    );
    let e1 = inspect(&nem)
        .into_iter()
        .find(|s| s["channel"] == "1-1:1.29.0*255")
        .unwrap();
    assert_eq!(e1["unit"], "Wh");
    assert_eq!(thousandths(e1["total"].as_str().unwrap()), advance);

    // The same energy as a kWh CSV, converted here from the exported W values.
    let mut kwh_csv = String::from("meter,channel,start,end,value,unit,quality\n");
    let mut total_mwh = 0i64;
    for line in w_text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[1] != "1-0:1.5.0*255" {
            continue;
        }
        assert_eq!(f[5], "W");
        let seconds = epoch_seconds(f[3]) - epoch_seconds(f[2]);
        let mw_s = thousandths(f[4]) * seconds;
        assert_eq!(mw_s % 3600, 0, "{line}");
        let mwh = mw_s / 3600;
        total_mwh += mwh;
        kwh_csv.push_str(&format!(
            "csv,1-0:1.29.0*255,{},{},{}.{:06},kWh,{}\n",
            f[2],
            f[3],
            mwh / 1_000_000,
            mwh % 1_000_000,
            f[6]
        ));
    }
    assert_eq!(total_mwh, advance);
    let kwh_path = dir.join("kwh.csv");
    std::fs::write(&kwh_path, kwh_csv).unwrap();
    let bill = |profile: &str| {
        let (ok, out, err) = run(&[
            "scheme",
            "bill",
            "--urdb",
            &rate("Contains Demand Charges"),
            "--profile",
            profile,
            "--database",
            &db,
            "--json",
        ]);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let from_meter = bill("10000001");
    let from_csv = bill(kwh_path.to_str().unwrap());
    assert!(f(&from_meter["total"]) > 0.0, "{from_meter}");
    assert!(f(&from_meter["annual"]["demand"]) > 0.0, "{from_meter}");
    for k in ["months", "annual", "total"] {
        assert_eq!(from_meter[k], from_csv[k], "{k}");
    }
    // (kWh shown to the Wh.)
    let kwh = f(&from_meter["annual"]["import_kwh"]);
    assert!((kwh * 1e6 - advance as f64).abs() <= 500.0, "{kwh} kWh");
    let notes = from_meter["notes"].to_string();
    assert!(
        notes.contains("channel 1-0:1.5.0*255 (W, average demand) converted to energy"),
        "{notes}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seconds since the epoch of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SSZ`.
fn epoch_seconds(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    chrono_like_epoch(n(0..4), n(5..7), n(8..10)) + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}
