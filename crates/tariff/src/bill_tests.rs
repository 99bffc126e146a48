//! Bills against the 94 expected annual bills of OpenStudio-HPXML's utility-bill tests
//! (`tests/data/urdb-bills/EXPECTED.md` tells where they come from and how they were computed),
//! its warning cases, and unit tests of each billing rule.

use chrono::{DateTime, Utc};

use crate::{
    Bill, BillError, BillOptions, Compensation, EnergyCharges, FixedCharge, GridFee, MinCharge,
    Prices, Scheme, Sellback, Tariff, Tier, TierMethod, Usage, Zone, bill,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/urdb-bills");

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn utc() -> Zone {
    "+00:00".parse().unwrap()
}

/// `data.csv`: electricity, PV 1 kW and PV 10 kW, kWh per hour of 2007 (row i = hour i).
struct Load {
    elec: Vec<f64>,
    pv1: Vec<f64>,
    pv10: Vec<f64>,
}

fn load() -> &'static Load {
    static LOAD: std::sync::OnceLock<Load> = std::sync::OnceLock::new();
    LOAD.get_or_init(|| {
        let text = std::fs::read_to_string(format!("{DATA}/data.csv")).unwrap();
        let mut l = Load {
            elec: Vec::new(),
            pv1: Vec::new(),
            pv10: Vec::new(),
        };
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header[1], "Electricity [kWh]");
        assert_eq!(header[5], "PV_1kW [kWh]");
        assert_eq!(header[6], "PV_10kW [kWh]");
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let c: Vec<f64> = line
                .split(',')
                .skip(1)
                .map(|x| x.trim().parse().unwrap())
                .collect();
            l.elec.push(c[0]);
            l.pv1.push(c[4]);
            l.pv10.push(c[5]);
        }
        assert_eq!(l.elec.len(), 8760);
        l
    })
}

fn urdb(name: &str) -> Tariff {
    let text = std::fs::read_to_string(format!("{DATA}/{name}.json")).unwrap();
    Tariff::from_urdb_json(&text)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .0
}

fn urdb_err(name: &str) -> String {
    let text = std::fs::read_to_string(format!("{DATA}/{name}.json")).unwrap();
    Tariff::from_urdb_json(&text).unwrap_err().to_string()
}

/// The year 2007 (1 January a Monday), hourly, UTC as the tariff's zone.
fn hourly(import: &[f64], export: Option<&[f64]>, tariff: &Tariff, opts: &BillOptions) -> Bill {
    let usage = Usage {
        start: ts("2007-01-01T00:00:00Z"),
        interval_s: 3600,
        import_kwh: import,
        export_kwh: export,
    };
    bill(tariff, &usage, opts).unwrap()
}

fn opts(compensation: Compensation, method: TierMethod) -> BillOptions {
    BillOptions {
        zone: utc(),
        compensation,
        tier_method: method,
        grid_fee: None,
    }
}

fn nm(rate: f64) -> Compensation {
    Compensation::NetMetering {
        sellback: Sellback::Rate(rate),
    }
}

fn near(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// ---------------------------------------------------------------------------------------------
// The 94 cases

#[derive(Debug, Clone, Copy)]
enum C {
    None,
    User,
    Retail,
    Zero,
    Fit,
}

#[derive(Debug, Clone, Copy)]
enum F {
    None,
    PerKw,
    Month,
}

#[derive(Debug)]
struct Case {
    n: u32,
    test: &'static str,
    file: Option<&'static str>,
    pv: Option<u32>,
    comp: C,
    fee: F,
    fixed: f64,
    energy: f64,
    pv_credit: f64,
    elec_total: f64,
    bill_total: f64,
}

/// The other fuels of every case (natural gas 245, fuel oil 462, propane 76).
const OTHER_FUELS: f64 = 783.0;

#[rustfmt::skip]
const CASES: [Case; 94] = [
    Case { n: 1, test: "test_simple_pv_none", file: None, pv: None, comp: C::None, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: 0.0, elec_total: 728.0, bill_total: 1511.0 },
    Case { n: 2, test: "test_simple_pv_1kW_net_metering_user_excess_rate", file: None, pv: Some(1), comp: C::User, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -177.0, elec_total: 551.0, bill_total: 1334.0 },
    Case { n: 3, test: "test_simple_pv_1kW_feed_in_tariff", file: None, pv: Some(1), comp: C::Fit, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -178.0, elec_total: 550.0, bill_total: 1333.0 },
    Case { n: 4, test: "test_simple_pv_1kW_grid_fee_dollars_per_kW", file: None, pv: Some(1), comp: C::User, fee: F::PerKw, fixed: 126.0, energy: 632.0, pv_credit: -177.0, elec_total: 581.0, bill_total: 1364.0 },
    Case { n: 5, test: "test_simple_pv_1kW_grid_fee_dollars", file: None, pv: Some(1), comp: C::User, fee: F::Month, fixed: 186.0, energy: 632.0, pv_credit: -177.0, elec_total: 641.0, bill_total: 1424.0 },
    Case { n: 6, test: "test_simple_pv_10kW_net_metering_user_excess_rate", file: None, pv: Some(10), comp: C::User, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -920.0, elec_total: -192.0, bill_total: 591.0 },
    Case { n: 7, test: "test_simple_pv_10kW_net_metering_retail_excess_rate", file: None, pv: Some(10), comp: C::Retail, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -1777.0, elec_total: -1049.0, bill_total: -266.0 },
    Case { n: 8, test: "test_simple_pv_10kW_net_metering_zero_excess_rate", file: None, pv: Some(10), comp: C::Zero, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -632.0, elec_total: 96.0, bill_total: 879.0 },
    Case { n: 9, test: "test_simple_pv_10kW_feed_in_tariff", file: None, pv: Some(10), comp: C::Fit, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -1785.0, elec_total: -1057.0, bill_total: -274.0 },
    Case { n: 10, test: "test_detailed_flat_pv_none", file: Some("Sample Flat Rate"), pv: None, comp: C::None, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: 0.0, elec_total: 728.0, bill_total: 1511.0 },
    Case { n: 11, test: "test_detailed_flat_pv_1kW_net_metering_user_excess_rate", file: Some("Sample Flat Rate"), pv: Some(1), comp: C::User, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -177.0, elec_total: 551.0, bill_total: 1334.0 },
    Case { n: 12, test: "test_detailed_flat_pv_1kW_feed_in_tariff", file: Some("Sample Flat Rate"), pv: Some(1), comp: C::Fit, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -178.0, elec_total: 550.0, bill_total: 1333.0 },
    Case { n: 13, test: "test_detailed_flat_pv_1kW_grid_fee_dollars_per_kW", file: Some("Sample Flat Rate"), pv: Some(1), comp: C::User, fee: F::PerKw, fixed: 126.0, energy: 632.0, pv_credit: -177.0, elec_total: 581.0, bill_total: 1364.0 },
    Case { n: 14, test: "test_detailed_flat_pv_1kW_grid_fee_dollars", file: Some("Sample Flat Rate"), pv: Some(1), comp: C::User, fee: F::Month, fixed: 186.0, energy: 632.0, pv_credit: -177.0, elec_total: 641.0, bill_total: 1424.0 },
    Case { n: 15, test: "test_detailed_flat_pv_10kW_net_metering_user_excess_rate", file: Some("Sample Flat Rate"), pv: Some(10), comp: C::User, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -920.0, elec_total: -192.0, bill_total: 591.0 },
    Case { n: 16, test: "test_detailed_flat_pv_10kW_net_metering_retail_excess_rate", file: Some("Sample Flat Rate"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -1777.0, elec_total: -1049.0, bill_total: -266.0 },
    Case { n: 17, test: "test_detailed_flat_pv_10kW_net_metering_zero_excess_rate", file: Some("Sample Flat Rate"), pv: Some(10), comp: C::Zero, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -632.0, elec_total: 96.0, bill_total: 879.0 },
    Case { n: 18, test: "test_detailed_flat_pv_10kW_feed_in_tariff", file: Some("Sample Flat Rate"), pv: Some(10), comp: C::Fit, fee: F::None, fixed: 96.0, energy: 632.0, pv_credit: -1785.0, elec_total: -1057.0, bill_total: -274.0 },
    Case { n: 19, test: "test_detailed_flat_pv_none_min_monthly_charge", file: Some("Sample Flat Rate Min Monthly Charge"), pv: None, comp: C::None, fee: F::None, fixed: 96.0, energy: 1104.0, pv_credit: 0.0, elec_total: 1200.0, bill_total: 1983.0 },
    Case { n: 20, test: "test_detailed_flat_pv_1kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Flat Rate Min Monthly Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 96.0, energy: 1281.0, pv_credit: -177.0, elec_total: 1200.0, bill_total: 1983.0 },
    Case { n: 21, test: "test_detailed_flat_pv_10kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Flat Rate Min Monthly Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 96.0, energy: 1736.0, pv_credit: -920.0, elec_total: 912.0, bill_total: 1695.0 },
    Case { n: 22, test: "test_detailed_flat_pv_10kW_net_metering_retail_excess_rate_min_monthly_charge", file: Some("Sample Flat Rate Min Monthly Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 96.0, energy: 1736.0, pv_credit: -1777.0, elec_total: 55.0, bill_total: 838.0 },
    Case { n: 23, test: "test_detailed_flat_pv_none_min_annual_charge", file: Some("Sample Flat Rate Min Annual Charge"), pv: None, comp: C::None, fee: F::None, fixed: 96.0, energy: 9904.0, pv_credit: 0.0, elec_total: 10000.0, bill_total: 10783.0 },
    Case { n: 24, test: "test_detailed_flat_pv_1kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Flat Rate Min Annual Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 96.0, energy: 10081.0, pv_credit: -177.0, elec_total: 10000.0, bill_total: 10783.0 },
    Case { n: 25, test: "test_detailed_flat_pv_10kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Flat Rate Min Annual Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 96.0, energy: 10536.0, pv_credit: -920.0, elec_total: 9712.0, bill_total: 10495.0 },
    Case { n: 26, test: "test_detailed_flat_pv_10kW_net_metering_retail_excess_rate_min_annual_charge", file: Some("Sample Flat Rate Min Annual Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 96.0, energy: 10536.0, pv_credit: -1777.0, elec_total: 8855.0, bill_total: 9638.0 },
    Case { n: 27, test: "test_detailed_tiered_pv_none", file: Some("Sample Tiered Rate"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 580.0, pv_credit: 0.0, elec_total: 688.0, bill_total: 1471.0 },
    Case { n: 28, test: "test_detailed_tiered_pv_1kW_net_metering_user_excess_rate", file: Some("Sample Tiered Rate"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 580.0, pv_credit: -190.0, elec_total: 498.0, bill_total: 1281.0 },
    Case { n: 29, test: "test_detailed_tiered_pv_1kW_feed_in_tariff", file: Some("Sample Tiered Rate"), pv: Some(1), comp: C::Fit, fee: F::None, fixed: 108.0, energy: 580.0, pv_credit: -178.0, elec_total: 510.0, bill_total: 1293.0 },
    Case { n: 30, test: "test_detailed_tiered_pv_1kW_grid_fee_dollars_per_kW", file: Some("Sample Tiered Rate"), pv: Some(1), comp: C::User, fee: F::PerKw, fixed: 138.0, energy: 580.0, pv_credit: -190.0, elec_total: 528.0, bill_total: 1311.0 },
    Case { n: 31, test: "test_detailed_tiered_pv_1kW_grid_fee_dollars", file: Some("Sample Tiered Rate"), pv: Some(1), comp: C::User, fee: F::Month, fixed: 198.0, energy: 580.0, pv_credit: -190.0, elec_total: 588.0, bill_total: 1371.0 },
    Case { n: 32, test: "test_detailed_tiered_pv_10kW_net_metering_user_excess_rate", file: Some("Sample Tiered Rate"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 580.0, pv_credit: -867.0, elec_total: -179.0, bill_total: 604.0 },
    Case { n: 33, test: "test_detailed_tiered_pv_10kW_net_metering_retail_excess_rate", file: Some("Sample Tiered Rate"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 580.0, pv_credit: -1443.0, elec_total: -755.0, bill_total: 28.0 },
    Case { n: 34, test: "test_detailed_tiered_pv_10kW_net_metering_zero_excess_rate", file: Some("Sample Tiered Rate"), pv: Some(10), comp: C::Zero, fee: F::None, fixed: 108.0, energy: 580.0, pv_credit: -580.0, elec_total: 108.0, bill_total: 891.0 },
    Case { n: 35, test: "test_detailed_tiered_pv_10kW_feed_in_tariff", file: Some("Sample Tiered Rate"), pv: Some(10), comp: C::Fit, fee: F::None, fixed: 108.0, energy: 580.0, pv_credit: -1785.0, elec_total: -1097.0, bill_total: -314.0 },
    Case { n: 36, test: "test_detailed_tiered_pv_none_min_monthly_charge", file: Some("Sample Tiered Rate Min Monthly Charge"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 1092.0, pv_credit: 0.0, elec_total: 1200.0, bill_total: 1983.0 },
    Case { n: 37, test: "test_detailed_tiered_pv_1kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Tiered Rate Min Monthly Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 1282.0, pv_credit: -190.0, elec_total: 1200.0, bill_total: 1983.0 },
    Case { n: 38, test: "test_detailed_tiered_pv_10kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Tiered Rate Min Monthly Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 1672.0, pv_credit: -867.0, elec_total: 913.0, bill_total: 1696.0 },
    Case { n: 39, test: "test_detailed_tiered_pv_10kW_net_metering_retail_excess_rate_min_monthly_charge", file: Some("Sample Tiered Rate Min Monthly Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 1672.0, pv_credit: -1443.0, elec_total: 337.0, bill_total: 1120.0 },
    Case { n: 40, test: "test_detailed_tiered_pv_none_min_annual_charge", file: Some("Sample Tiered Rate Min Annual Charge"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 9892.0, pv_credit: 0.0, elec_total: 10000.0, bill_total: 10783.0 },
    Case { n: 41, test: "test_detailed_tiered_pv_1kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Tiered Rate Min Annual Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 10082.0, pv_credit: -190.0, elec_total: 10000.0, bill_total: 10783.0 },
    Case { n: 42, test: "test_detailed_tiered_pv_10kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Tiered Rate Min Annual Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 10472.0, pv_credit: -867.0, elec_total: 9713.0, bill_total: 10496.0 },
    Case { n: 43, test: "test_detailed_tiered_pv_10kW_net_metering_retail_excess_rate_min_annual_charge", file: Some("Sample Tiered Rate Min Annual Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 10472.0, pv_credit: -1443.0, elec_total: 9137.0, bill_total: 9920.0 },
    Case { n: 44, test: "test_detailed_tou_pv_none", file: Some("Sample Time-of-Use Rate"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 393.0, pv_credit: 0.0, elec_total: 501.0, bill_total: 1284.0 },
    Case { n: 45, test: "test_detailed_tou_pv_1kW_net_metering_user_excess_rate", file: Some("Sample Time-of-Use Rate"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 393.0, pv_credit: -112.0, elec_total: 389.0, bill_total: 1172.0 },
    Case { n: 46, test: "test_detailed_tou_pv_1kW_feed_in_tariff", file: Some("Sample Time-of-Use Rate"), pv: Some(1), comp: C::Fit, fee: F::None, fixed: 108.0, energy: 393.0, pv_credit: -178.0, elec_total: 323.0, bill_total: 1106.0 },
    Case { n: 47, test: "test_detailed_tou_pv_1kW_grid_fee_dollars_per_kW", file: Some("Sample Time-of-Use Rate"), pv: Some(1), comp: C::User, fee: F::PerKw, fixed: 138.0, energy: 393.0, pv_credit: -112.0, elec_total: 419.0, bill_total: 1202.0 },
    Case { n: 48, test: "test_detailed_tou_pv_1kW_grid_fee_dollars", file: Some("Sample Time-of-Use Rate"), pv: Some(1), comp: C::User, fee: F::Month, fixed: 198.0, energy: 393.0, pv_credit: -112.0, elec_total: 479.0, bill_total: 1262.0 },
    Case { n: 49, test: "test_detailed_tou_pv_10kW_net_metering_user_excess_rate", file: Some("Sample Time-of-Use Rate"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 393.0, pv_credit: -681.0, elec_total: -180.0, bill_total: 603.0 },
    Case { n: 50, test: "test_detailed_tou_pv_10kW_net_metering_retail_excess_rate", file: Some("Sample Time-of-Use Rate"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 393.0, pv_credit: -1127.0, elec_total: -626.0, bill_total: 157.0 },
    Case { n: 51, test: "test_detailed_tou_pv_10kW_net_metering_zero_excess_rate", file: Some("Sample Time-of-Use Rate"), pv: Some(10), comp: C::Zero, fee: F::None, fixed: 108.0, energy: 393.0, pv_credit: -393.0, elec_total: 108.0, bill_total: 891.0 },
    Case { n: 52, test: "test_detailed_tou_pv_10kW_feed_in_tariff", file: Some("Sample Time-of-Use Rate"), pv: Some(10), comp: C::Fit, fee: F::None, fixed: 108.0, energy: 393.0, pv_credit: -1785.0, elec_total: -1284.0, bill_total: -501.0 },
    Case { n: 53, test: "test_detailed_tou_pv_none_min_monthly_charge", file: Some("Sample Time-of-Use Rate Min Monthly Charge"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 1092.0, pv_credit: 0.0, elec_total: 1200.0, bill_total: 1983.0 },
    Case { n: 54, test: "test_detailed_tou_pv_1kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Time-of-Use Rate Min Monthly Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 1204.0, pv_credit: -112.0, elec_total: 1200.0, bill_total: 1983.0 },
    Case { n: 55, test: "test_detailed_tou_pv_10kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Time-of-Use Rate Min Monthly Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 1485.0, pv_credit: -681.0, elec_total: 912.0, bill_total: 1695.0 },
    Case { n: 56, test: "test_detailed_tou_pv_10kW_net_metering_retail_excess_rate_min_monthly_charge", file: Some("Sample Time-of-Use Rate Min Monthly Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 1485.0, pv_credit: -1127.0, elec_total: 466.0, bill_total: 1249.0 },
    Case { n: 57, test: "test_detailed_tou_pv_none_min_annual_charge", file: Some("Sample Time-of-Use Rate Min Annual Charge"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 9892.0, pv_credit: 0.0, elec_total: 10000.0, bill_total: 10783.0 },
    Case { n: 58, test: "test_detailed_tou_pv_1kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Time-of-Use Rate Min Annual Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 10004.0, pv_credit: -112.0, elec_total: 10000.0, bill_total: 10783.0 },
    Case { n: 59, test: "test_detailed_tou_pv_10kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Time-of-Use Rate Min Annual Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 10285.0, pv_credit: -681.0, elec_total: 9712.0, bill_total: 10495.0 },
    Case { n: 60, test: "test_detailed_tou_pv_10kW_net_metering_retail_excess_rate_min_annual_charge", file: Some("Sample Time-of-Use Rate Min Annual Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 10285.0, pv_credit: -1127.0, elec_total: 9266.0, bill_total: 10049.0 },
    Case { n: 61, test: "test_detailed_tiered_tou_pv_none", file: Some("Sample Tiered Time-of-Use Rate"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 377.0, pv_credit: 0.0, elec_total: 485.0, bill_total: 1268.0 },
    Case { n: 62, test: "test_detailed_tiered_tou_pv_1kW_net_metering_user_excess_rate", file: Some("Sample Tiered Time-of-Use Rate"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 377.0, pv_credit: -108.0, elec_total: 377.0, bill_total: 1160.0 },
    Case { n: 63, test: "test_detailed_tiered_tou_pv_1kW_feed_in_tariff", file: Some("Sample Tiered Time-of-Use Rate"), pv: Some(1), comp: C::Fit, fee: F::None, fixed: 108.0, energy: 377.0, pv_credit: -178.0, elec_total: 307.0, bill_total: 1090.0 },
    Case { n: 64, test: "test_detailed_tiered_tou_pv_1kW_grid_fee_dollars_per_kW", file: Some("Sample Tiered Time-of-Use Rate"), pv: Some(1), comp: C::User, fee: F::PerKw, fixed: 138.0, energy: 377.0, pv_credit: -108.0, elec_total: 407.0, bill_total: 1190.0 },
    Case { n: 65, test: "test_detailed_tiered_tou_pv_1kW_grid_fee_dollars", file: Some("Sample Tiered Time-of-Use Rate"), pv: Some(1), comp: C::User, fee: F::Month, fixed: 198.0, energy: 377.0, pv_credit: -108.0, elec_total: 467.0, bill_total: 1250.0 },
    Case { n: 66, test: "test_detailed_tiered_tou_pv_10kW_net_metering_user_excess_rate", file: Some("Sample Tiered Time-of-Use Rate"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 377.0, pv_credit: -665.0, elec_total: -180.0, bill_total: 603.0 },
    Case { n: 67, test: "test_detailed_tiered_tou_pv_10kW_net_metering_retail_excess_rate", file: Some("Sample Tiered Time-of-Use Rate"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 377.0, pv_credit: -1000.0, elec_total: -515.0, bill_total: 268.0 },
    Case { n: 68, test: "test_detailed_tiered_tou_pv_10kW_net_metering_zero_excess_rate", file: Some("Sample Tiered Time-of-Use Rate"), pv: Some(10), comp: C::Zero, fee: F::None, fixed: 108.0, energy: 377.0, pv_credit: -377.0, elec_total: 108.0, bill_total: 891.0 },
    Case { n: 69, test: "test_detailed_tiered_tou_pv_10kW_feed_in_tariff", file: Some("Sample Tiered Time-of-Use Rate"), pv: Some(10), comp: C::Fit, fee: F::None, fixed: 108.0, energy: 377.0, pv_credit: -1785.0, elec_total: -1300.0, bill_total: -517.0 },
    Case { n: 70, test: "test_detailed_tiered_tou_pv_none_min_monthly_charge", file: Some("Sample Tiered Time-of-Use Rate Min Monthly Charge"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 1092.0, pv_credit: 0.0, elec_total: 1200.0, bill_total: 1983.0 },
    Case { n: 71, test: "test_detailed_tiered_tou_pv_1kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Tiered Time-of-Use Rate Min Monthly Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 1200.0, pv_credit: -108.0, elec_total: 1200.0, bill_total: 1983.0 },
    Case { n: 72, test: "test_detailed_tiered_tou_pv_10kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Tiered Time-of-Use Rate Min Monthly Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 1469.0, pv_credit: -665.0, elec_total: 912.0, bill_total: 1695.0 },
    Case { n: 73, test: "test_detailed_tiered_tou_pv_10kW_net_metering_retail_excess_rate_min_monthly_charge", file: Some("Sample Tiered Time-of-Use Rate Min Monthly Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 1469.0, pv_credit: -1000.0, elec_total: 577.0, bill_total: 1360.0 },
    Case { n: 74, test: "test_detailed_tiered_tou_pv_none_min_annual_charge", file: Some("Sample Tiered Time-of-Use Rate Min Annual Charge"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 9892.0, pv_credit: 0.0, elec_total: 10000.0, bill_total: 10783.0 },
    Case { n: 75, test: "test_detailed_tiered_tou_pv_1kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Tiered Time-of-Use Rate Min Annual Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 10000.0, pv_credit: -108.0, elec_total: 10000.0, bill_total: 10783.0 },
    Case { n: 76, test: "test_detailed_tiered_tou_pv_10kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Tiered Time-of-Use Rate Min Annual Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 10269.0, pv_credit: -665.0, elec_total: 9712.0, bill_total: 10495.0 },
    Case { n: 77, test: "test_detailed_tiered_tou_pv_10kW_net_metering_retail_excess_rate_min_annual_charge", file: Some("Sample Tiered Time-of-Use Rate Min Annual Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 10269.0, pv_credit: -1000.0, elec_total: 9377.0, bill_total: 10160.0 },
    Case { n: 78, test: "test_detailed_rtp_pv_none", file: Some("Sample Real-Time Pricing Rate"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 354.0, pv_credit: 0.0, elec_total: 462.0, bill_total: 1245.0 },
    Case { n: 79, test: "test_detailed_rtp_pv_1kW_net_metering_user_excess_rate", file: Some("Sample Real-Time Pricing Rate"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 354.0, pv_credit: -106.0, elec_total: 356.0, bill_total: 1139.0 },
    Case { n: 80, test: "test_detailed_rtp_pv_1kW_feed_in_tariff", file: Some("Sample Real-Time Pricing Rate"), pv: Some(1), comp: C::Fit, fee: F::None, fixed: 108.0, energy: 354.0, pv_credit: -178.0, elec_total: 284.0, bill_total: 1067.0 },
    Case { n: 81, test: "test_detailed_rtp_pv_1kW_grid_fee_dollars_per_kW", file: Some("Sample Real-Time Pricing Rate"), pv: Some(1), comp: C::User, fee: F::PerKw, fixed: 138.0, energy: 354.0, pv_credit: -106.0, elec_total: 386.0, bill_total: 1169.0 },
    Case { n: 82, test: "test_detailed_rtp_pv_1kW_grid_fee_dollars", file: Some("Sample Real-Time Pricing Rate"), pv: Some(1), comp: C::User, fee: F::Month, fixed: 198.0, energy: 354.0, pv_credit: -106.0, elec_total: 446.0, bill_total: 1229.0 },
    Case { n: 83, test: "test_detailed_rtp_pv_10kW_net_metering_user_excess_rate", file: Some("Sample Real-Time Pricing Rate"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 354.0, pv_credit: -641.0, elec_total: -179.0, bill_total: 604.0 },
    Case { n: 84, test: "test_detailed_rtp_pv_10kW_net_metering_retail_excess_rate", file: Some("Sample Real-Time Pricing Rate"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 354.0, pv_credit: -1060.0, elec_total: -598.0, bill_total: 185.0 },
    Case { n: 85, test: "test_detailed_rtp_pv_10kW_net_metering_zero_excess_rate", file: Some("Sample Real-Time Pricing Rate"), pv: Some(10), comp: C::Zero, fee: F::None, fixed: 108.0, energy: 354.0, pv_credit: -354.0, elec_total: 108.0, bill_total: 891.0 },
    Case { n: 86, test: "test_detailed_rtp_pv_10kW_feed_in_tariff", file: Some("Sample Real-Time Pricing Rate"), pv: Some(10), comp: C::Fit, fee: F::None, fixed: 108.0, energy: 354.0, pv_credit: -1785.0, elec_total: -1323.0, bill_total: -540.0 },
    Case { n: 87, test: "test_detailed_rtp_pv_none_min_monthly_charge", file: Some("Sample Real-Time Pricing Rate Min Monthly Charge"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 1092.0, pv_credit: 0.0, elec_total: 1200.0, bill_total: 1983.0 },
    Case { n: 88, test: "test_detailed_rtp_pv_1kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Real-Time Pricing Rate Min Monthly Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 1198.0, pv_credit: -105.0, elec_total: 1201.0, bill_total: 1984.0 },
    Case { n: 89, test: "test_detailed_rtp_pv_10kW_net_metering_user_excess_rate_min_monthly_charge", file: Some("Sample Real-Time Pricing Rate Min Monthly Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 1446.0, pv_credit: -641.0, elec_total: 913.0, bill_total: 1696.0 },
    Case { n: 90, test: "test_detailed_rtp_pv_10kW_net_metering_retail_excess_rate_min_monthly_charge", file: Some("Sample Real-Time Pricing Rate Min Monthly Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 1446.0, pv_credit: -1060.0, elec_total: 494.0, bill_total: 1277.0 },
    Case { n: 91, test: "test_detailed_rtp_pv_none_min_annual_charge", file: Some("Sample Real-Time Pricing Rate Min Annual Charge"), pv: None, comp: C::None, fee: F::None, fixed: 108.0, energy: 9892.0, pv_credit: 0.0, elec_total: 10000.0, bill_total: 10783.0 },
    Case { n: 92, test: "test_detailed_rtp_pv_1kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Real-Time Pricing Rate Min Annual Charge"), pv: Some(1), comp: C::User, fee: F::None, fixed: 108.0, energy: 9998.0, pv_credit: -105.0, elec_total: 10001.0, bill_total: 10784.0 },
    Case { n: 93, test: "test_detailed_rtp_pv_10kW_net_metering_user_excess_rate_min_annual_charge", file: Some("Sample Real-Time Pricing Rate Min Annual Charge"), pv: Some(10), comp: C::User, fee: F::None, fixed: 108.0, energy: 10246.0, pv_credit: -641.0, elec_total: 9713.0, bill_total: 10496.0 },
    Case { n: 94, test: "test_detailed_rtp_pv_10kW_net_metering_retail_excess_rate_min_annual_charge", file: Some("Sample Real-Time Pricing Rate Min Annual Charge"), pv: Some(10), comp: C::Retail, fee: F::None, fixed: 108.0, energy: 10246.0, pv_credit: -1060.0, elec_total: 9294.0, bill_total: 10077.0 },
];

/// The bill of one case: "simple" cases are the flat EIA rate with 8 USD a month, "detailed"
/// ones the JSON tariff; OpenStudio-HPXML's tier method; PV as export; the 2007 calendar.
fn case_bill(c: &Case) -> Bill {
    let l = load();
    let tariff = match c.file {
        None => Tariff::flat("simple", 0.1195179675994109, 8.0),
        Some(f) => urdb(f),
    };
    let export: Option<&[f64]> = match c.pv {
        None => None,
        Some(1) => Some(&l.pv1),
        Some(_) => Some(&l.pv10),
    };
    let compensation = match c.comp {
        C::None | C::User => nm(0.03),
        C::Zero => nm(0.0),
        C::Retail => Compensation::NetMetering {
            sellback: Sellback::Retail,
        },
        C::Fit => Compensation::FeedIn { rate: 0.12 },
    };
    let mut o = opts(compensation, TierMethod::OsHpxml);
    o.grid_fee = match c.fee {
        F::None => None,
        F::PerKw => Some(GridFee::PerKw { rate: 2.5, kw: 1.0 }),
        F::Month => Some(GridFee::PerMonth(7.5)),
    };
    hourly(&l.elec, export, &tariff, &o)
}

#[test]
fn all_94_expected_annual_bills() {
    let mut failed = Vec::new();
    let mut worst = (0.0f64, 0u32);
    for c in &CASES {
        let b = case_bill(c);
        let a = &b.annual;
        // OpenStudio-HPXML's "Energy" includes the minimum-charge top-up.
        let energy = a.energy + a.minimum;
        let got = [a.fixed, energy, a.pv_credit, a.total, a.total + OTHER_FUELS];
        let want = [c.fixed, c.energy, c.pv_credit, c.elec_total, c.bill_total];
        // Each part within ±1 USD, as upstream asserts; the totals are sums of upstream's
        // rounded parts, so within ±1.5.
        let tol = [1.0, 1.0, 1.0, 1.5, 1.5];
        let bad: Vec<String> = ["fixed", "energy", "pv credit", "elec total", "bill total"]
            .iter()
            .zip(got.iter().zip(want.iter().zip(tol)))
            .filter(|(_, (g, (w, tol)))| !near(**g, **w, *tol))
            .map(|(name, (g, (w, _)))| format!("{name} {g:.2} (expected {w})"))
            .collect();
        for i in 0..3 {
            if (got[i] - want[i]).abs() > worst.0 {
                worst = ((got[i] - want[i]).abs(), c.n);
            }
        }
        if !bad.is_empty() {
            failed.push(format!("#{} {}: {}", c.n, c.test, bad.join(", ")));
        }
        // The months add up to the year.
        let sum: f64 = b.months.iter().map(|m| m.total).sum();
        assert!(near(sum, b.total, 1e-6), "#{}", c.n);
        assert_eq!(b.months.len(), 12, "#{}", c.n);
    }
    eprintln!(
        "largest difference of a part: {:.3} USD (case #{})",
        worst.0, worst.1
    );
    assert!(
        failed.is_empty(),
        "{} of 94 differ:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn figures_given_to_the_cent() {
    let l = load();
    let none = opts(nm(0.03), TierMethod::OsHpxml);
    let energy = |name: &str| hourly(&l.elec, None, &urdb(name), &none).annual.energy;
    assert_eq!(cents(energy("Sample Flat Rate")), 632.14);
    assert_eq!(cents(energy("Sample Tiered Rate")), 579.58);
    assert_eq!(cents(energy("Sample Time-of-Use Rate")), 393.32);
    assert_eq!(cents(energy("Sample Tiered Time-of-Use Rate")), 377.43);
    assert_eq!(cents(energy("Sample Real-Time Pricing Rate")), 353.48);
    // The textbook tier method gives the other figure EXPECTED.md names.
    let textbook = opts(nm(0.03), TierMethod::Textbook);
    let tb = hourly(
        &l.elec,
        None,
        &urdb("Sample Tiered Time-of-Use Rate"),
        &textbook,
    );
    assert_eq!(cents(tb.annual.energy), 409.21);
    // Single-period tiers and plain TOU are the same by either method.
    for name in [
        "Sample Tiered Rate",
        "Sample Time-of-Use Rate",
        "Sample Flat Rate",
    ] {
        let a = hourly(&l.elec, None, &urdb(name), &textbook).annual.energy;
        assert!(near(a, energy(name), 1e-9), "{name}");
    }
    let pv = |name: &str, pv: &[f64], c: Compensation| {
        hourly(
            &l.elec,
            Some(pv),
            &urdb(name),
            &opts(c, TierMethod::OsHpxml),
        )
        .annual
        .pv_credit
    };
    assert_eq!(cents(pv("Sample Flat Rate", &l.pv10, nm(0.03))), -919.65);
    let retail = Compensation::NetMetering {
        sellback: Sellback::Retail,
    };
    assert_eq!(
        cents(pv("Sample Time-of-Use Rate", &l.pv10, retail)),
        -1127.94
    );
    assert_eq!(
        cents(pv("Sample Real-Time Pricing Rate", &l.pv1, nm(0.03))),
        -105.63
    );
    let fit = Compensation::FeedIn { rate: 0.12 };
    assert_eq!(cents(pv("Sample Flat Rate", &l.pv1, fit)), -177.87);
    assert_eq!(cents(pv("Sample Flat Rate", &l.pv10, fit)), -1784.72);
    // Simple net metering at retail: all PV at the flat rate (1777.6).
    let simple = Tariff::flat("simple", 0.1195179675994109, 8.0);
    let b = hourly(
        &l.elec,
        Some(&l.pv10),
        &simple,
        &opts(retail, TierMethod::OsHpxml),
    );
    assert!(
        near(b.annual.pv_credit, -1777.6, 0.05),
        "{}",
        b.annual.pv_credit
    );
    // Monthly minimum, flat: 632 → 1104.
    let b = hourly(
        &l.elec,
        None,
        &urdb("Sample Flat Rate Min Monthly Charge"),
        &none,
    );
    assert!(near(b.annual.energy + b.annual.minimum, 1104.0, 1.0));
    assert!(
        b.months
            .iter()
            .all(|m| near(m.total, 100.0, 1e-9) || m.minimum == 0.0)
    );
    // Annual minimum, flat: December takes 10 000 − 96 − 632.14.
    let b = hourly(
        &l.elec,
        None,
        &urdb("Sample Flat Rate Min Annual Charge"),
        &none,
    );
    assert!(near(b.total, 10_000.0, 1e-6));
    assert!(b.months[..11].iter().all(|m| m.minimum == 0.0));
    assert!(near(b.months[11].minimum, 10_000.0 - 96.0 - 632.1405, 0.01));
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[test]
fn the_2007_calendar_decides_weekdays() {
    // The TOU peak is June–August weekdays 11:00–20:00: on 2007-06-02 (a Saturday) it is off.
    let tariff = urdb("Sample Time-of-Use Rate");
    let o = opts(nm(0.0), TierMethod::Textbook);
    let day = |date: &str| {
        let usage = Usage {
            start: ts(&format!("{date}T12:00:00Z")),
            interval_s: 3600,
            import_kwh: &[1.0],
            export_kwh: None,
        };
        bill(&tariff, &usage, &o).unwrap().months[0].energy
    };
    assert_eq!(day("2007-06-01"), 0.11); // Friday
    assert_eq!(day("2007-06-02"), 0.07); // Saturday
    assert_eq!(day("2007-06-04"), 0.11); // Monday
    assert_eq!(day("2007-05-31"), 0.07); // May
    // Local time decides: 18:00 UTC is 11:00 at -07:00, in the peak; 17:00 UTC is not.
    let denver = BillOptions {
        zone: "-07:00".parse().unwrap(),
        ..o.clone()
    };
    let at = |s: &str| {
        let usage = Usage {
            start: ts(s),
            interval_s: 3600,
            import_kwh: &[1.0],
            export_kwh: None,
        };
        bill(&tariff, &usage, &denver).unwrap().months[0].energy
    };
    assert_eq!(at("2007-06-04T18:00:00Z"), 0.11);
    assert_eq!(at("2007-06-04T17:00:00Z"), 0.07);
}

// ---------------------------------------------------------------------------------------------
// The warning cases of the same test file, and other refusals

#[test]
fn refusals_name_the_field() {
    assert_eq!(
        urdb_err("Invalid Fixed Charge Units"),
        "items[0].fixedchargeunits: \"$/year\": fixed charge units must be $/month or $/day"
    );
    assert_eq!(
        urdb_err("Invalid Min Charge Units"),
        "items[0].minchargeunits: \"$/day\": minimum charge units must be $/month or $/year"
    );
    let e = urdb_err("Missing Required Fields");
    assert!(
        e.starts_with("items[0].energyweekdayschedule, items[0].energyweekendschedule: missing"),
        "{e}"
    );
    let bad = |json: &str| Tariff::from_urdb_json(json).unwrap_err().to_string();
    let sched = |p: u8| {
        let row = format!("[{}]", vec![p.to_string(); 24].join(","));
        format!("[{}]", vec![row; 12].join(","))
    };
    let with = |structure: &str| {
        format!(
            r#"{{"energyweekdayschedule":{s},"energyweekendschedule":{s},"energyratestructure":{structure}}}"#,
            s = sched(0)
        )
    };
    assert_eq!(
        bad("{"),
        "not JSON: EOF while parsing an object at line 1 column 1"
    );
    assert_eq!(bad("[1]"), "expected a URDB rate record (a JSON object)");
    assert_eq!(
        bad(r#"{"items":[]}"#),
        "items: the list is empty: no rate record"
    );
    assert_eq!(
        bad(&with(r#"[[{"max":5}]]"#)),
        "energyratestructure[0][0].rate: missing"
    );
    assert_eq!(
        bad(&with(r#"[[{"rate":"x"}]]"#)),
        "energyratestructure[0][0].rate: \"x\": expected a number"
    );
    assert!(
        bad(&with(r#"[[{"rate":0.1,"sell":0.05}]]"#))
            .starts_with("energyratestructure[0][0].sell: sell rates in tiers are not supported")
    );
    assert!(
        bad(&with(r#"[[{"rate":0.1,"unit":"kWh daily"}]]"#))
            .starts_with("energyratestructure[0][0].unit: \"kWh daily\" is not supported")
    );
    assert!(
        bad(&with(r#"[[{"rate":0.1},{"rate":0.2}]]"#))
            .starts_with("energyratestructure[0][0].max: missing")
    );
    assert!(
        bad(&with(
            r#"[[{"rate":0.1,"max":10},{"rate":0.2,"max":5},{"rate":0.3}]]"#
        ))
        .starts_with("energyratestructure[0][1].max: 5: tier limits")
    );
    let two = format!(
        r#"{{"energyweekdayschedule":{},"energyweekendschedule":{},"energyratestructure":[[{{"rate":0.1}}]]}}"#,
        sched(1),
        sched(0)
    );
    assert_eq!(
        bad(&two),
        "energyweekdayschedule[0][0]: period 1 does not exist (the structure has 1, numbered from 0)"
    );
    let short = r#"{"energyweekdayschedule":[[0]],"energyweekendschedule":[[0]],"energyratestructure":[[{"rate":0.1}]]}"#;
    assert_eq!(
        bad(short),
        "energyweekdayschedule: 1 months; expected 12 lists of 24 hours"
    );
    let kva = with(r#"[[{"rate":0.1}]]"#).replace('{', r#"{"demandrateunit":"kVA","#);
    assert!(
        bad(&kva).starts_with("demandrateunit: \"kVA\": only kW demand"),
        "{}",
        bad(&kva)
    );
    let flat_only =
        with(r#"[[{"rate":0.1}]]"#).replacen('{', r#"{"flatdemandstructure":[[{"rate":5}]],"#, 1);
    assert!(bad(&flat_only).starts_with("flatdemandmonths: missing"));
    let rtp_short = r#"{"realtimepricing":[0.1,0.2]}"#;
    assert_eq!(
        bad(rtp_short),
        "realtimepricing: 2 prices; a year needs 8760 (one per hour)"
    );
    let min_no_units = with(r#"[[{"rate":0.1}]]"#).replacen('{', r#"{"mincharge":5,"#, 1);
    assert!(bad(&min_no_units).starts_with("minchargeunits: missing"));
}

#[test]
fn demand_charges_are_billed_with_a_warning_about_the_window() {
    let text = std::fs::read_to_string(format!("{DATA}/Contains Demand Charges.json")).unwrap();
    let (tariff, warnings) = Tariff::from_urdb_json(&text).unwrap();
    assert!(tariff.has_demand());
    assert_eq!(tariff.fixed, Some(FixedCharge::PerMonth(13.0)));
    assert!(
        warnings.iter().any(|w| w.field == "items[0].demandwindow"),
        "{warnings:?}"
    );
    let d = tariff.demand_tou.as_ref().unwrap();
    assert_eq!(
        d.periods,
        vec![vec![Tier::flat(0.0)], vec![Tier::flat(8.4)]]
    );
    // Energy rates include their adjustments.
    let EnergyCharges::Schedule { periods, .. } = &tariff.energy else {
        panic!()
    };
    assert!(near(periods[0][0].rate, 0.07798 + 0.018506, 1e-12));
    // A year of data.csv: on-peak (15:00–20:00 weekdays) demand at 8.4 USD/kW each month.
    let l = load();
    let b = hourly(&l.elec, None, &tariff, &opts(nm(0.0), TierMethod::Textbook));
    for m in &b.months {
        let peak = m.demand_charges.iter().find(|d| d.period == "1").unwrap();
        assert!(near(m.demand, peak.peak_kw * 8.4, 1e-9));
    }
    assert!(near(b.annual.fixed, 156.0, 1e-9));
    // The figures PySAM (Utilityrate5, 7.1.1) gives for the same bill.
    assert!(
        near(b.annual.energy, 557.1252, 0.005),
        "{}",
        b.annual.energy
    );
    assert!(
        near(b.annual.demand, 155.00856, 0.005),
        "{}",
        b.annual.demand
    );
    assert!(near(b.total, 868.13377, 0.005), "{}", b.total);
}

#[test]
fn other_fields_give_warnings() {
    let json = r#"{"items":[{"name":"x","energyweekdayschedule":[[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]],
      "energyweekendschedule":[[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]],
      "energyratestructure":[[{"rate":0.1}]],"fixedchargefirstmeter":5,"fixedchargeeaaddl":2,
      "lookbackpercent":0.8,"coincidentratestructure":[[{"rate":1}]]},{"name":"y"}]}"#;
    let (tariff, w) = Tariff::from_urdb_json(json).unwrap();
    let fields: Vec<&str> = w.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "items",
            "items[0].coincidentratestructure",
            "items[0].lookbackpercent",
            "items[0].fixedchargeeaaddl",
            "items[0].energyratestructure[..][..].unit",
            "items[0].fixedchargeunits",
        ]
    );
    assert_eq!(tariff.fixed, Some(FixedCharge::PerMonth(5.0)));
}

#[test]
fn reopt_multi_tier_record() {
    let text = std::fs::read_to_string(format!("{DATA}/multi_tier_urdb_response.json")).unwrap();
    let (tariff, _) = Tariff::from_urdb_json(&text).unwrap();
    assert_eq!(tariff.fixed, Some(FixedCharge::PerDay(3.298)));
    let EnergyCharges::Schedule {
        weekday,
        weekend,
        periods,
    } = &tariff.energy
    else {
        panic!()
    };
    assert_eq!(periods.len(), 3);
    assert_eq!(
        periods[1],
        vec![
            Tier {
                rate: 0.078891,
                max: Some(20_000.0)
            },
            Tier {
                rate: 0.06,
                max: None
            }
        ]
    );
    assert_eq!(periods[2], vec![Tier::flat(0.061731)]);
    // Period 1 May–October, period 2 November–April, every hour.
    for m in 0..12 {
        let want = if (4..=9).contains(&m) { 1 } else { 2 };
        assert!(
            weekday[m].iter().chain(&weekend[m]).all(|p| *p == want),
            "month {m}"
        );
    }
    let d = tariff.demand_tou.as_ref().unwrap();
    assert_eq!(d.periods[0], vec![Tier::flat(0.0)]);
    assert_eq!(
        d.periods[1],
        vec![
            Tier {
                rate: 24.368,
                max: Some(100.0)
            },
            Tier {
                rate: 17.031,
                max: None
            }
        ]
    );
    assert!(d.weekday[0].iter().all(|p| *p == 0));
    assert!(d.weekend[0].iter().all(|p| *p == 1));
    assert!(d.weekday[1].iter().all(|p| *p == 1));
    assert!(tariff.demand_flat.is_none());
    // A day of 150 kW in June: 150 × 24 kWh at 0.078891; demand 100 kW × 24.368 + 50 × 17.031;
    // the fixed charge 3.298 a day.
    let usage = Usage {
        start: ts("2024-06-10T00:00:00Z"),
        interval_s: 3600,
        import_kwh: &[150.0; 24],
        export_kwh: None,
    };
    let b = bill(&tariff, &usage, &opts(nm(0.0), TierMethod::Textbook)).unwrap();
    assert!(near(b.annual.energy, 3600.0 * 0.078891, 1e-9));
    assert!(near(b.annual.demand, 100.0 * 24.368 + 50.0 * 17.031, 1e-9));
    assert!(near(b.annual.fixed, 3.298, 1e-12));
    // 25 000 kWh in a June month: the tier limit of 20 000 kWh.
    let usage = Usage {
        start: ts("2024-06-01T00:00:00Z"),
        interval_s: 3600,
        import_kwh: &[25_000.0 / 720.0; 720],
        export_kwh: None,
    };
    let b = bill(&tariff, &usage, &opts(nm(0.0), TierMethod::Textbook)).unwrap();
    assert!(near(
        b.annual.energy,
        20_000.0 * 0.078891 + 5_000.0 * 0.06,
        1e-6
    ));
    assert!(near(b.annual.fixed, 30.0 * 3.298, 1e-9));
}

// ---------------------------------------------------------------------------------------------
// The rules, one by one, on small made-up tariffs

/// One period (every hour) with these tiers, fixed `fixed` a month.
fn tiered_tariff(tiers: Vec<Tier>, fixed: f64) -> Tariff {
    let mut t = Tariff::flat("t", 0.0, fixed);
    t.energy = EnergyCharges::Schedule {
        weekday: Box::new([[0; 24]; 12]),
        weekend: Box::new([[0; 24]; 12]),
        periods: vec![tiers],
    };
    t
}

/// `kwh` in each of `hours` hours from 2007-01-01 00:00 UTC.
fn flat_load(kwh: f64, hours: usize) -> Vec<f64> {
    vec![kwh; hours]
}

#[test]
fn tiers_split_the_month() {
    let t = tiered_tariff(
        vec![
            Tier {
                rate: 0.1,
                max: Some(100.0),
            },
            Tier {
                rate: 0.2,
                max: Some(200.0),
            },
            Tier::flat(0.3),
        ],
        0.0,
    );
    // 250 kWh in January: 100 × 0.1 + 100 × 0.2 + 50 × 0.3, by both methods; the tiers restart
    // in February.
    let mut l = flat_load(250.0 / 744.0, 744);
    l.extend(flat_load(50.0 / 672.0, 672));
    for m in [TierMethod::Textbook, TierMethod::OsHpxml] {
        let b = hourly(&l, None, &t, &opts(nm(0.0), m));
        assert!(
            near(b.months[0].energy, 45.0, 1e-9),
            "{m:?} {}",
            b.months[0].energy
        );
        assert!(near(b.months[1].energy, 5.0, 1e-9));
        let tiers = &b.months[0].periods[0].tiers;
        assert!(
            near(tiers[0].kwh, 100.0, 1e-9) && near(tiers[2].kwh, 50.0, 1e-9),
            "{tiers:?}"
        );
    }
}

#[test]
fn tiered_time_of_use_methods_differ_as_documented() {
    // Two periods (0 before noon, 1 after) with different tier limits.
    let mut t = tiered_tariff(Vec::new(), 0.0);
    let mut sched = [[0u8; 24]; 12];
    for m in &mut sched {
        m[12..].fill(1);
    }
    t.energy = EnergyCharges::Schedule {
        weekday: Box::new(sched),
        weekend: Box::new(sched),
        periods: vec![
            vec![
                Tier {
                    rate: 0.1,
                    max: Some(10.0),
                },
                Tier::flat(0.2),
            ],
            vec![
                Tier {
                    rate: 0.3,
                    max: Some(20.0),
                },
                Tier::flat(0.4),
            ],
        ],
    };
    // One day: 1 kWh an hour, 12 kWh in each period, 24 kWh in the month.
    let l = flat_load(1.0, 24);
    let b = hourly(&l, None, &t, &opts(nm(0.0), TierMethod::Textbook));
    // Textbook: period 0: 12 × (10 × 0.1 + 14 × 0.2) / 24; period 1: 12 × (20 × 0.3 + 4 × 0.4) / 24.
    let want = 12.0 * (1.0 + 2.8) / 24.0 + 12.0 * (6.0 + 1.6) / 24.0;
    assert!(near(b.total, want, 1e-9), "{}", b.total);
    // OS-HPXML: the tier index passes 10 kWh at 10:00 (period 0's limit) and stays in tier 1
    // (period 1 has no second limit to pass); tier 0 holds 10 kWh, tier 1 14 kWh; each period
    // is charged half of each.
    let b = hourly(&l, None, &t, &opts(nm(0.0), TierMethod::OsHpxml));
    let want = 0.5 * (10.0 * 0.1 + 14.0 * 0.2) + 0.5 * (10.0 * 0.3 + 14.0 * 0.4);
    assert!(near(b.total, want, 1e-9), "{}", b.total);
}

/// A tariff with time-of-use demand (period 1 from 12:00 to 18:00 at 10 USD/kW up to 5 kW,
/// then 20 USD/kW; period 0 free) and flat demand (2 USD/kW in summer months, 1 otherwise).
fn demand_tariff(window: Option<u32>) -> Tariff {
    let mut t = Tariff::flat("d", 0.0, 0.0);
    let mut sched = [[0u8; 24]; 12];
    for m in &mut sched {
        m[12..18].fill(1);
    }
    t.demand_tou = Some(crate::DemandTou {
        weekday: Box::new(sched),
        weekend: Box::new([[0; 24]; 12]),
        periods: vec![
            vec![Tier::flat(0.0)],
            vec![
                Tier {
                    rate: 10.0,
                    max: Some(5.0),
                },
                Tier::flat(20.0),
            ],
        ],
    });
    let mut months = [1u8; 12];
    months[5] = 0;
    months[6] = 0;
    months[7] = 0;
    t.demand_flat = Some(crate::DemandFlat {
        months,
        periods: vec![vec![Tier::flat(2.0)], vec![Tier::flat(1.0)]],
    });
    t.demand_window_minutes = window;
    t
}

#[test]
fn demand_per_period_tiers_and_flat() {
    let t = demand_tariff(None);
    // 15-minute data for 2007-01-01 (a Monday) and 2007-06-04 (a Monday): 2 kW all day, 8 kW
    // at 13:00–13:15, 9 kW at 20:00–20:15.
    let day = |start: &str| {
        let mut kwh = vec![0.5; 96];
        kwh[13 * 4] = 2.0;
        kwh[20 * 4] = 2.25;
        let usage = Usage {
            start: ts(start),
            interval_s: 900,
            import_kwh: &kwh,
            export_kwh: None,
        };
        bill(&t, &usage, &opts(nm(0.0), TierMethod::Textbook)).unwrap()
    };
    let jan = day("2007-01-01T00:00:00Z");
    let m = &jan.months[0];
    // Period 1: 8 kW → 5 × 10 + 3 × 20; flat: 9 kW × 1 (January is flat period 1).
    let p1 = m.demand_charges.iter().find(|d| d.period == "1").unwrap();
    assert!(near(p1.peak_kw, 8.0, 1e-9) && near(p1.charge, 110.0, 1e-9));
    assert_eq!(p1.at, ts("2007-01-01T13:00:00Z"));
    let flat = m
        .demand_charges
        .iter()
        .find(|d| d.period == "flat")
        .unwrap();
    assert!(near(flat.peak_kw, 9.0, 1e-9) && near(flat.charge, 9.0, 1e-9));
    assert!(near(m.demand, 119.0, 1e-9));
    // June: flat period 0 at 2 USD/kW.
    let jun = day("2007-06-04T00:00:00Z");
    assert!(near(jun.months[0].demand, 110.0 + 18.0, 1e-9));
    // A 30-minute window averages the 15-minute peaks with their neighbours: 5 kW and 5.5 kW.
    let t30 = demand_tariff(Some(30));
    let mut kwh = vec![0.5; 96];
    kwh[13 * 4] = 2.0;
    kwh[20 * 4] = 2.25;
    let usage = Usage {
        start: ts("2007-01-01T00:00:00Z"),
        interval_s: 900,
        import_kwh: &kwh,
        export_kwh: None,
    };
    let b = bill(&t30, &usage, &opts(nm(0.0), TierMethod::Textbook)).unwrap();
    assert!(
        near(b.months[0].demand, 5.0 * 10.0 + 5.5, 1e-9),
        "{}",
        b.months[0].demand
    );
    // A window that is not a whole number of intervals is refused.
    let t20 = demand_tariff(Some(20));
    assert!(matches!(
        bill(&t20, &usage, &opts(nm(0.0), TierMethod::Textbook)),
        Err(BillError::Window {
            window: 20,
            interval: 900
        })
    ));
    // A window shorter than the intervals: each interval's average.
    let t5 = demand_tariff(Some(5));
    let b = bill(&t5, &usage, &opts(nm(0.0), TierMethod::Textbook)).unwrap();
    assert!(near(b.months[0].demand, 119.0, 1e-9));
    // With export, demand is on the net import.
    let export = vec![0.5; 96];
    let usage = Usage {
        export_kwh: Some(&export),
        ..usage
    };
    let b = bill(&t, &usage, &opts(nm(0.0), TierMethod::Textbook)).unwrap();
    // (6 kW in period 1: 5 × 10 + 1 × 20; 7 kW flat × 1.)
    assert!(
        near(b.months[0].demand, 5.0 * 10.0 + 20.0 + 7.0, 1e-9),
        "{}",
        b.months[0].demand
    );
    // Under a feed-in tariff (buy all, sell all) demand is on all import.
    let fit = opts(Compensation::FeedIn { rate: 0.1 }, TierMethod::Textbook);
    let b = bill(&t, &usage, &fit).unwrap();
    assert!(
        near(b.months[0].demand, 119.0, 1e-9),
        "{}",
        b.months[0].demand
    );
}

#[test]
fn minimum_charges_monthly_and_annual() {
    let mut t = tiered_tariff(vec![Tier::flat(0.1)], 10.0);
    let l = flat_load(0.1, 8760); // 74.4 kWh in January = 7.44 USD
    t.minimum = Some(MinCharge::PerMonth(20.0));
    let b = hourly(&l, None, &t, &opts(nm(0.0), TierMethod::Textbook));
    assert!(near(b.months[0].minimum, 20.0 - 10.0 - 7.44, 1e-9));
    assert!(b.months.iter().all(|m| near(m.total, 20.0, 1e-9)));
    t.minimum = Some(MinCharge::PerYear(500.0));
    let b = hourly(&l, None, &t, &opts(nm(0.0), TierMethod::Textbook));
    assert!(near(b.total, 500.0, 1e-9));
    assert!(b.months[..11].iter().all(|m| m.minimum == 0.0));
    assert!(near(b.months[11].minimum, 500.0 - 120.0 - 87.6, 1e-9));
    // Half a year: the annual minimum is prorated (181 days of January–June = 6 whole months).
    let half = &l[..181 * 24];
    let b = hourly(half, None, &t, &opts(nm(0.0), TierMethod::Textbook));
    assert!(near(b.total, 250.0, 1e-9), "{}", b.total);
}

#[test]
fn net_metering_rolls_credit_over_and_settles_the_year() {
    let t = tiered_tariff(vec![Tier::flat(0.1)], 5.0);
    // January imports 100 kWh and exports 300; February imports 400 and exports 100; the rest
    // of the year nothing. Net: −200 kWh (−20 USD), then +300 kWh (30 USD).
    let mut import = vec![0.0; 8760];
    let mut export = vec![0.0; 8760];
    import[0] = 100.0;
    export[1] = 300.0;
    import[744] = 400.0;
    export[745] = 100.0;
    let b = hourly(
        &import,
        Some(&export),
        &t,
        &opts(nm(0.05), TierMethod::Textbook),
    );
    let (jan, feb) = (&b.months[0], &b.months[1]);
    assert!(near(jan.energy, 10.0, 1e-9));
    assert!(near(jan.pv_credit, -10.0, 1e-9)); // the energy charge is wiped out
    assert!(near(jan.total, 5.0, 1e-9)); // the fixed charge is always paid
    assert!(near(jan.credit_carried, -20.0, 1e-9));
    // February: 30 USD net less the 20 USD carried.
    assert!(near(feb.total, 5.0 + 10.0, 1e-9), "{}", feb.total);
    // The year nets +100 kWh: nothing to sell back.
    assert!(near(b.total, 12.0 * 5.0 + 10.0, 1e-9), "{}", b.total);

    // A year of net export: credit lapses, the net export is paid at the sell-back rate.
    import[744] = 100.0;
    let b = hourly(
        &import,
        Some(&export),
        &t,
        &opts(nm(0.05), TierMethod::Textbook),
    );
    // Net −200 kWh: 60 fixed, no energy paid, 200 × 0.05 paid back; the 20 USD of import
    // energy and the 10 USD sold are the PV credit.
    assert!(near(b.total, 60.0 - 10.0, 1e-9), "{}", b.total);
    assert!(near(b.annual.pv_credit, -(20.0 + 10.0), 1e-9));
    // Retail: the carried credit (−20 USD) is paid out.
    let retail = Compensation::NetMetering {
        sellback: Sellback::Retail,
    };
    let b = hourly(
        &import,
        Some(&export),
        &t,
        &opts(retail, TierMethod::Textbook),
    );
    assert!(near(b.total, 60.0 - 20.0, 1e-9), "{}", b.total);
    // Zero: the credit lapses and nothing is paid.
    let b = hourly(
        &import,
        Some(&export),
        &t,
        &opts(nm(0.0), TierMethod::Textbook),
    );
    assert!(near(b.total, 60.0, 1e-9));
    // Months add up; the credit lapses at the true-up.
    assert!(near(
        b.months.iter().map(|m| m.total).sum::<f64>(),
        b.total,
        1e-9
    ));
    assert_eq!(b.months[11].credit_carried, 0.0);
}

#[test]
fn feed_in_tariff_and_grid_fees() {
    let t = tiered_tariff(vec![Tier::flat(0.2)], 5.0);
    let import = vec![1.0; 744];
    let export = vec![0.5; 744];
    let mut o = opts(Compensation::FeedIn { rate: 0.08 }, TierMethod::Textbook);
    let b = hourly(&import, Some(&export), &t, &o);
    assert!(near(b.annual.energy, 744.0 * 0.2, 1e-9));
    assert!(near(b.annual.pv_credit, -372.0 * 0.08, 1e-9));
    o.grid_fee = Some(GridFee::PerKw { rate: 2.5, kw: 4.0 });
    let b = hourly(&import, Some(&export), &t, &o);
    assert!(near(b.annual.fixed, 5.0 + 10.0, 1e-9));
    o.grid_fee = Some(GridFee::PerMonth(7.5));
    let b = hourly(&import, Some(&export), &t, &o);
    assert!(near(b.annual.fixed, 12.5, 1e-9));
}

#[test]
fn partial_months_prorate_fixed_charges() {
    let mut t = tiered_tariff(vec![Tier::flat(0.0)], 31.0);
    // 10 days of January and 14 of February.
    let usage = Usage {
        start: ts("2007-01-22T00:00:00Z"),
        interval_s: 3600,
        import_kwh: &[0.0; 24 * 24],
        export_kwh: None,
    };
    let b = bill(&t, &usage, &opts(nm(0.0), TierMethod::Textbook)).unwrap();
    assert_eq!(b.months.len(), 2);
    assert!(near(b.months[0].fixed, 10.0, 1e-9));
    assert!(near(b.months[1].fixed, 31.0 * 14.0 / 28.0, 1e-9));
    t.fixed = Some(FixedCharge::PerDay(1.5));
    let b = bill(&t, &usage, &opts(nm(0.0), TierMethod::Textbook)).unwrap();
    assert!(near(b.annual.fixed, 24.0 * 1.5, 1e-9));
}

#[test]
fn real_time_prices_by_hour_of_the_local_year() {
    let mut prices = vec![0.0; 8760];
    for (h, p) in prices.iter_mut().enumerate() {
        *p = h as f64;
    }
    let mut t = Tariff::flat("rtp", 0.0, 0.0);
    t.energy = EnergyCharges::RealTime { prices };
    let one = |start: &str, zone: &str| {
        let usage = Usage {
            start: ts(start),
            interval_s: 900,
            import_kwh: &[1.0],
            export_kwh: None,
        };
        let o = BillOptions {
            zone: zone.parse().unwrap(),
            ..opts(nm(0.0), TierMethod::Textbook)
        };
        bill(&t, &usage, &o).unwrap().total
    };
    assert_eq!(one("2007-01-01T05:15:00Z", "+00:00"), 5.0);
    assert_eq!(one("2007-01-01T12:00:00Z", "-07:00"), 5.0);
    assert_eq!(one("2007-12-31T23:45:00Z", "+00:00"), 8759.0);
    // A leap year: 29 February takes 28 February's prices, 1 March keeps its own.
    assert_eq!(one("2024-02-29T01:00:00Z", "+00:00"), (58 * 24 + 1) as f64);
    assert_eq!(one("2024-03-01T01:00:00Z", "+00:00"), (59 * 24 + 1) as f64);
    assert_eq!(one("2024-12-31T23:00:00Z", "+00:00"), 8759.0);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let t = tiered_tariff(vec![Tier::flat(0.1)], 1.0);
    let o = opts(nm(0.0), TierMethod::Textbook);
    let usage = |import: &'static [f64], interval_s: u32| Usage {
        start: ts("2007-01-01T00:00:00Z"),
        interval_s,
        import_kwh: import,
        export_kwh: None,
    };
    assert_eq!(bill(&t, &usage(&[], 3600), &o), Err(BillError::Empty));
    assert_eq!(bill(&t, &usage(&[1.0], 7), &o), Err(BillError::Interval(7)));
    assert_eq!(bill(&t, &usage(&[1.0], 0), &o), Err(BillError::Interval(0)));
    let e = bill(&t, &usage(&[1.0, f64::NAN], 3600), &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "import interval 1 (starting 2007-01-01 01:00:00 UTC) is not a number"
    );
    let mut u = usage(&[1.0, 2.0], 3600);
    u.export_kwh = Some(&[1.0]);
    assert_eq!(
        bill(&t, &u, &o),
        Err(BillError::Lengths {
            import: 2,
            export: 1
        })
    );
    // Far ends of time.
    let mut u = usage(&[1.0], 3600);
    u.start = DateTime::<Utc>::MAX_UTC;
    assert!(bill(&t, &u, &o).is_err());
    u.start = DateTime::<Utc>::MIN_UTC;
    let _ = bill(&t, &u, &o);
}

#[test]
fn mangled_json_never_panics() {
    let text = std::fs::read_to_string(format!(
        "{DATA}/Sample Tiered Time-of-Use Rate Min Monthly Charge.json"
    ))
    .unwrap();
    let bytes = text.as_bytes();
    let mut seed = 12345u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let swaps: [&[u8]; 8] = [
        b"", b"-1", b"1e400", b"\"x\"", b"null", b"[]", b"{}", b"999",
    ];
    for _ in 0..3000 {
        let at = next() % bytes.len();
        let len = next() % 8;
        let with = swaps[next() % swaps.len()];
        let mut m = bytes[..at].to_vec();
        m.extend_from_slice(with);
        m.extend_from_slice(&bytes[(at + len).min(bytes.len())..]);
        let s = String::from_utf8_lossy(&m);
        if let Ok((tariff, _)) = Tariff::from_urdb_json(&s) {
            let usage = Usage {
                start: ts("2007-01-01T00:00:00Z"),
                interval_s: 3600,
                import_kwh: &[1.0, -2.0, 3.0],
                export_kwh: Some(&[0.5, 0.0, 9.0]),
            };
            let _ = bill(&tariff, &usage, &opts(nm(0.03), TierMethod::OsHpxml));
            let _ = bill(&tariff, &usage, &opts(nm(0.03), TierMethod::Textbook));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Our own schemes with prices

#[test]
fn scheme_with_prices() {
    let scheme =
        Scheme::from_toml(include_str!("../../../examples/schemes/economy7.toml")).unwrap();
    let prices = Prices::from_toml(
        r#"
currency = "GBP"
fixed = { amount = 0.5, per = "day" }
[rates]
day = 0.30
night = [{ up_to = 10, price = 0.10 }, { price = 0.20 }]
"#,
    )
    .unwrap();
    let tariff = Tariff::from_scheme(&scheme, &prices).unwrap();
    // One January day (no clock change), 1 kWh every half hour: night 00:30–07:30 = 14 half
    // hours, day 34. Tier limits count the month's total kWh (48), as in URDB tariffs: the
    // night rate's 14 kWh are charged at its average price for 48 kWh (10 at 0.10, 38 at 0.20).
    let usage = Usage {
        start: ts("2026-01-10T00:00:00Z"),
        interval_s: 1800,
        import_kwh: &[1.0; 48],
        export_kwh: None,
    };
    let b = bill(&tariff, &usage, &opts(nm(0.0), TierMethod::Textbook)).unwrap();
    assert!(near(b.annual.fixed, 0.5, 1e-9));
    let m = &b.months[0];
    let night = m.periods.iter().find(|p| p.period == "night").unwrap();
    let day = m.periods.iter().find(|p| p.period == "day").unwrap();
    let night_avg = (10.0 * 0.1 + 38.0 * 0.2) / 48.0;
    assert!(
        near(night.kwh, 14.0, 1e-9) && near(night.charge, 14.0 * night_avg, 1e-9),
        "{night:?}"
    );
    assert!(near(day.kwh, 34.0, 1e-9) && near(day.charge, 34.0 * 0.3, 1e-9));
    assert_eq!(b.time_zone, "Europe/London");
    assert_eq!(b.currency, "GBP");

    // A missing price and an unknown rate are named.
    let p = Prices::from_toml("[rates]\nday = 0.3\n").unwrap();
    assert_eq!(
        Tariff::from_scheme(&scheme, &p).unwrap_err().to_string(),
        "rates.night: missing: rate \"night\" of scheme E7-2026 counts import energy and needs a price"
    );
    let p = Prices::from_toml("[rates]\nday = 0.3\nnight = 0.1\npeak = 0.5\n").unwrap();
    assert_eq!(
        Tariff::from_scheme(&scheme, &p).unwrap_err().to_string(),
        "rates.peak: scheme E7-2026 has no rate \"peak\" (its rates: day, night)"
    );
    let e = Prices::from_toml("[rates]\nday = \"cheap\"\n").unwrap_err();
    assert!(e.starts_with("line 2: rates.day:"), "{e}");
    let e = Prices::from_toml("standing = 1\n").unwrap_err();
    assert!(e.contains("unknown field `standing`"), "{e}");
}

#[test]
fn jackson_emc_record_bills_more_than_zero() {
    // OpenStudio-HPXML's workflow test asserts only a total > 0; two seasonal periods of three
    // tiers (limits 650 and 1000 kWh), 5.50 USD a month.
    let t = urdb(
        "Jackson Electric Member Corp - A Residential Service Senior Citizen Low Income Assistance (Effective 2017-01-01)",
    );
    let EnergyCharges::Schedule { periods, .. } = &t.energy else {
        panic!()
    };
    assert_eq!(periods.len(), 2);
    assert_eq!(periods[0].len(), 3);
    assert_eq!(periods[0][0].max, Some(650.0));
    assert_eq!(periods[0][1].max, Some(1000.0));
    let l = load();
    let b = hourly(&l.elec, None, &t, &opts(nm(0.0), TierMethod::Textbook));
    assert!(b.total > 0.0);
    assert!(near(b.annual.fixed, 66.0, 1e-9));
    // The house never passes 650 kWh a month: all in the first tier of each season.
    for m in &b.months {
        for p in &m.periods {
            assert!(near(p.tiers[0].kwh, p.kwh, 1e-9), "{}", m.month);
        }
    }
}
