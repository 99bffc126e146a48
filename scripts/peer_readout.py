#!/usr/bin/env python3
"""Independent peer for the tests: the `iec62056-21` client from PyPI performs a mode C data
readout of a meter (our simulator) over TCP and prints what it read as JSON lines
[{"address": ..., "value": ..., "unit": ...}, ...]."""
import json
import sys

from iec62056_21.client import Iec6205621Client


def main() -> int:
    host, port, address = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    client = Iec6205621Client.with_tcp_transport((host, port), device_address=address)
    client.connect()
    try:
        answer = client.standard_readout()
    finally:
        client.disconnect()
    out = [
        {"address": ds.address, "value": ds.value, "unit": ds.unit}
        for ds in answer.data
    ]
    print(json.dumps({"identification": client.identification,
                      "manufacturer": client.manufacturer_id, "data": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
