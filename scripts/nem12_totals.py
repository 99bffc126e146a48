"""Totals of NEM12 files by an independent reader (nemreader, PyPI), for metermaster's tests.

Prints JSON: {file: {"error": text} | {"series": {"NMI/SUFFIX": {"intervals": n,
"total": exact decimal in Wh / varh / VAh, "methods": {method: n}}}}}.
"""

import json
import sys
from decimal import Decimal

import nemreader

PREFIX = {"k": Decimal(1000), "m": Decimal(1000000), "": Decimal(1)}


def base_factor(uom):
    u = uom.strip()
    if not u:
        return Decimal(1)  # no unit (e.g. a V1 channel): values as written
    low = u.lower()
    for unit in ("wh", "varh", "vah"):
        if low.endswith(unit):
            prefix = low[: -len(unit)]
            if prefix in PREFIX:
                return PREFIX[prefix]
    raise ValueError("unit %r" % uom)


def main(paths):
    out = {}
    for path in paths:
        try:
            data = nemreader.read_nem_file(path)
            series = {}
            for nmi, by_suffix in data.readings.items():
                for suffix, readings in by_suffix.items():
                    total = Decimal(0)
                    methods = {}
                    for r in readings:
                        total += Decimal(repr(r.read_value)) * base_factor(r.uom)
                        m = r.quality_method or ""
                        methods[m] = methods.get(m, 0) + 1
                    series["%s/%s" % (nmi, suffix)] = {
                        "intervals": len(readings),
                        "total": format(total, "f"),
                        "methods": methods,
                    }
            out[path] = {"series": series}
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            out[path] = {"error": "%s: %s" % (type(e).__name__, e)}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
