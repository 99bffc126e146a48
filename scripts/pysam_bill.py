"""A utility bill by an independent implementation (NREL PySAM's Utilityrate5, from PyPI), for
metermaster's tests and benchmarks.

    python pysam_bill.py RATE.json LOAD.csv --load-column NAME [--gen-column NAME]
                         [--metering net-metering|net-metering-dollars|net-billing|buy-all-sell-all]
                         [--sellback RATE] [--feed-in RATE] [--timing N]

RATE.json is an OpenEI URDB record (bare, or the API's {"items": [...]} envelope); it is turned
into PySAM inputs by PySAM's own converter (PySAM.UtilityRateTools.URDBv8_to_ElectricityRates),
plus the OS-HPXML `realtimepricing` extension (8760 hourly prices) as time-step buy rates.

LOAD.csv: a header line, then one row per interval; the named columns are energy per interval
in kWh (time stamps are not read). The rows must cover one year of 8760 hours (8760 x k rows for
k intervals an hour). PySAM's calendar is a non-leap year starting on a Monday (as 2007 does).

Prints JSON: {"total": year-1 bill with the system (USD), "months": [{"energy", "demand_tou",
"demand_flat", "fixed", "minimum", "total"}], "peak_kw": [...], "pysam": version,
"seconds": median time of execute() over --timing runs (Python start-up and file reading
excluded), "seconds_with_setup": the same including the input set-up}.
"""

import argparse
import csv
import json
import statistics
import sys
import time

import PySAM
import PySAM.Utilityrate5 as ur5
from PySAM.UtilityRateTools import URDBv8_to_ElectricityRates

METERING = {
    "net-metering": 0,
    "net-metering-dollars": 1,
    "net-billing": 2,
    "buy-all-sell-all": 4,
}


def read_columns(path, names):
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = [h.strip() for h in next(rows)]
        idx = []
        for n in names:
            if n not in header:
                sys.exit("%s: no column %r (columns: %s)" % (path, n, ", ".join(header)))
            idx.append(header.index(n))
        out = [[] for _ in names]
        for line_no, row in enumerate(rows, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            for k, i in enumerate(idx):
                try:
                    out[k].append(float(row[i]))
                except (IndexError, ValueError):
                    sys.exit("%s: line %d: column %r is not a number" % (path, line_no, names[k]))
    return out


def same_tier_count(mat):
    """PySAM wants every period to have the same number of tiers: a period with fewer repeats
    its last tier (without a limit), which bills the same. (It also wants the same tier limits
    in every period of a month, which is the tariff's business: it refuses the rate otherwise.)"""
    rows = [list(r) for r in mat]
    if not rows:
        return rows
    most = max(int(r[1]) for r in rows)
    out = []
    for period in sorted({int(r[0]) for r in rows}):
        tiers = sorted((r for r in rows if int(r[0]) == period), key=lambda r: r[1])
        out.extend(tiers)
        last = tiers[-1]
        for t in range(len(tiers) + 1, most + 1):
            out.append([period, t, 1e38] + list(last[3:]))
    return out


def rate_inputs(record):
    rec = json.loads(json.dumps(record))  # the converter edits what it is given
    rtp = rec.pop("realtimepricing", None)
    if rtp is not None and "energyratestructure" not in rec:
        rec["energyratestructure"] = [[{"rate": 0.0, "unit": "kWh"}]]
        rec["energyweekdayschedule"] = [[0] * 24 for _ in range(12)]
        rec["energyweekendschedule"] = [[0] * 24 for _ in range(12)]
    rates = URDBv8_to_ElectricityRates(rec)
    rates["ur_ec_tou_mat"] = same_tier_count(rates.get("ur_ec_tou_mat", []))
    if "ur_dc_tou_mat" in rates:
        rates["ur_dc_tou_mat"] = same_tier_count(rates["ur_dc_tou_mat"])
    if rtp is not None:
        rates["ur_en_ts_buy_rate"] = 1
        rates["ur_ts_buy_rate"] = [float(p) for p in rtp]
    return rates


def build(rates, load_kw, gen_kw, args):
    m = ur5.new()
    m.Lifetime.analysis_period = 1
    m.Lifetime.system_use_lifetime_output = 0
    m.Lifetime.inflation_rate = 0
    m.ElectricityRates.assign(rates)
    m.ElectricityRates.rate_escalation = [0]
    metering = METERING[args.metering]
    if rates.get("ur_en_ts_buy_rate") and metering in (0, 1):
        if any(gen_kw):
            sys.exit("PySAM cannot bill real-time prices under net metering; use --metering net-billing")
        metering = 2  # without generation every metering option bills the same
    m.ElectricityRates.ur_metering_option = metering
    m.ElectricityRates.ur_nm_yearend_sell_rate = args.sellback
    m.ElectricityRates.ur_nm_credit_month = 11
    m.ElectricityRates.ur_nm_credit_rollover = 0
    if args.metering == "buy-all-sell-all" or args.feed_in is not None:
        m.ElectricityRates.ur_en_ts_sell_rate = 1
        m.ElectricityRates.ur_ts_sell_rate = [args.feed_in or 0.0] * 8760
    else:
        m.ElectricityRates.ur_en_ts_sell_rate = 0
    m.Load.load = load_kw
    m.Load.load_escalation = [0]
    m.SystemOutput.gen = gen_kw
    m.SystemOutput.degradation = [0]
    return m


def main():
    p = argparse.ArgumentParser()
    p.add_argument("rate")
    p.add_argument("load")
    p.add_argument("--load-column", required=True)
    p.add_argument("--gen-column")
    p.add_argument("--metering", choices=sorted(METERING), default="net-metering")
    p.add_argument("--sellback", type=float, default=0.0)
    p.add_argument("--feed-in", type=float)
    p.add_argument("--timing", type=int, default=0)
    args = p.parse_args()

    with open(args.rate) as f:
        doc = json.load(f)
    record = doc["items"][0] if isinstance(doc, dict) and "items" in doc else doc
    names = [args.load_column] + ([args.gen_column] if args.gen_column else [])
    cols = read_columns(args.load, names)
    n = len(cols[0])
    if n == 0 or n % 8760 != 0:
        sys.exit("%s: %d rows; one non-leap year of 8760 x k rows is needed" % (args.load, n))
    per_hour = n // 8760
    load_kw = [v * per_hour for v in cols[0]]
    gen_kw = [v * per_hour for v in cols[1]] if args.gen_column else [0.0] * n

    def run():
        m = build(rate_inputs(record), load_kw, gen_kw, args)
        t0 = time.perf_counter()
        m.execute(0)
        return m, time.perf_counter() - t0

    m, _ = run()
    o = m.Outputs
    months = []
    for k in range(12):
        months.append(
            {
                "energy": o.year1_monthly_ec_charge_with_system[k],
                "demand_tou": o.year1_monthly_dc_tou_with_system[k],
                "demand_flat": o.year1_monthly_dc_fixed_with_system[k],
                "fixed": o.year1_monthly_fixed_with_system[k],
                "minimum": o.year1_monthly_minimum_with_system[k],
                "total": o.year1_monthly_utility_bill_w_sys[k],
            }
        )
    out = {
        "pysam": PySAM.__version__,
        "total": o.utility_bill_w_sys_year1,
        "total_without_system": o.utility_bill_wo_sys_year1,
        "months": months,
        "peak_kw": list(o.year1_monthly_peak_w_system),
    }
    if args.timing > 0:
        runs, setups = [], []
        for _ in range(args.timing):
            t0 = time.perf_counter()
            _, dt = run()
            setups.append(time.perf_counter() - t0)
            runs.append(dt)
        out["seconds"] = statistics.median(runs)
        out["seconds_with_setup"] = statistics.median(setups)
        out["runs"] = args.timing
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
