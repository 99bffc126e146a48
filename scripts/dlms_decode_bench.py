#!/usr/bin/env python3
"""Times the Python dlms-cosem profile-buffer parser on a buffer file written by
`metermaster bench dlms-decode`: the A-XDR decoding of the buffer (an array of structures:
clock, status, four registers) and the parser's rows with their timestamps.

Usage: dlms_decode_bench.py BUFFER_FILE RUNS CAPTURE_PERIOD_MIN
Prints JSON: {"rows": N, "seconds": [..], "median_seconds": S}.
"""
import json
import statistics
import sys
import time

from dlms_cosem import enumerations
from dlms_cosem.cosem import CosemAttribute, Obis
from dlms_cosem.parsers import ProfileGenericBufferParser


def main() -> None:
    path, runs, period = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = open(path, "rb").read()
    reg = enumerations.CosemInterface.REGISTER
    capture = [
        CosemAttribute(enumerations.CosemInterface.CLOCK, Obis.from_string("0.0.1.0.0.255"), 2),
        CosemAttribute(enumerations.CosemInterface.DATA, Obis.from_string("0.0.96.10.1.255"), 2),
        CosemAttribute(reg, Obis.from_string("1.0.1.8.0.255"), 2),
        CosemAttribute(reg, Obis.from_string("1.0.2.8.0.255"), 2),
        CosemAttribute(reg, Obis.from_string("1.0.5.8.0.255"), 2),
        CosemAttribute(reg, Obis.from_string("1.0.8.8.0.255"), 2),
    ]
    parser = ProfileGenericBufferParser(capture_objects=capture, capture_period=period)
    seconds = []
    rows = 0
    for _ in range(runs):
        t = time.perf_counter()
        parsed = parser.parse_bytes(data)
        seconds.append(time.perf_counter() - t)
        rows = len(parsed)
    print(json.dumps({"rows": rows, "seconds": seconds, "median_seconds": statistics.median(seconds)}))


if __name__ == "__main__":
    main()
