#!/usr/bin/env python3
"""A small DLMS/COSEM meter built with the `gurux-dlms` package (PyPI), for interoperability
tests of metermaster's DLMS client against an implementation that is not ours.

    python gurux_server.py --port PORT

Prints one line "listening on PORT" when ready (PORT 0 picks a free port), then serves each
TCP connection with a fresh gurux server (LN referencing, IEC 62056-47 TCP wrapper; gurux-dlms
1.0.203's server-side HDLC answers SNRM with a malformed frame, so HDLC is not offered). Clients: 16 without authentication,
17 with LLS password 12345678; anything else is refused. Objects (fixed values, so a test can
compare exactly):

  0.0.1.0.0.255   clock: 2024-03-05 14:00:00, deviation 0 (UTC), time_zone 0
  0.0.96.1.0.255  serial number "GRX00000042" (visible-string)
  0.0.42.0.0.255  logical device name "GRX00000042"
  1.0.1.8.0.255   register +A: 12345678 (double-long-unsigned), scaler -3, unit Wh (30)
  1.0.99.1.0.255  load profile: capture objects clock (attr 2) and 1.0.1.8.0 (attr 2),
                  capture period 900 s, sort FIFO on the clock; five rows from 12:45 to
                  13:45 with the register at 12340000, 12340250, 12340750, 12341000,
                  12341600; range (selector 1) and entry (selector 2) access

`--dump` prints these values as JSON instead of serving (what the test compares with).

Two gaps of gurux-dlms 1.0.203's server side are bridged here: its LN GET handler calls
`notifyRead()` and `onPostRead()` without arguments, and its range selection of a profile
buffer compares a datetime with 0; GXServerReply has no `setReply`
nor `getConnectionInfo`; `maxReceivePDUSize` recurses;
an association with an empty object list gets the collection itself as one entry.
"""

import argparse
import datetime
import json
import socket
import sys
import threading
import traceback

from gurux_dlms import (
    GXByteBuffer,
    GXDateTime,
    GXDLMSServer,
    GXServerReply,
)
from gurux_dlms.enums import (
    AccessMode,
    Authentication,
    DataType,
    InterfaceType,
    MethodAccessMode,
    ObjectType,
    Unit,
)
from gurux_dlms.enums.SourceDiagnostic import SourceDiagnostic
from gurux_dlms.objects import (
    GXDLMSAssociationLogicalName,
    GXDLMSCaptureObject,
    GXDLMSClock,
    GXDLMSData,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
)
from gurux_dlms.objects.enums import SortMethod
from gurux_dlms.internal._GXCommon import _GXCommon
from gurux_dlms.internal._GXDataInfo import _GXDataInfo
from gurux_dlms.ValueEventArgs import ValueEventArgs

# gurux-dlms 1.0.203's association object asks its event arguments for this name.
ValueEventArgs.isSkipMaxPduSize = property(lambda self: self.skipMaxPduSize)

UTC = datetime.timezone.utc
CLOCK = datetime.datetime(2024, 3, 5, 14, 0, 0, tzinfo=UTC)
SERIAL = "GRX00000042"
REGISTER = 12345678
SCALER = -3
FIRST_ROW = datetime.datetime(2024, 3, 5, 12, 45, 0, tzinfo=UTC)
TOTALS = [12340000, 12340250, 12340750, 12341000, 12341600]
ROWS = [(FIRST_ROW + datetime.timedelta(minutes=15 * k), v) for k, v in enumerate(TOTALS)]
PERIOD = 900
PASSWORD = b"12345678"


def dump():
    """The served values, in the terms of the test."""
    return {
        "clock": CLOCK.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "serial": SERIAL,
        "register": {"obis": "1-0:1.8.0*255", "raw": REGISTER, "scale": SCALER, "unit": "Wh"},
        "period": PERIOD,
        "rows": [[t.strftime("%Y-%m-%dT%H:%M:%SZ"), v] for t, v in ROWS],
    }


def stamp(dt):
    """A GXDateTime in UTC with deviation 0."""
    return GXDateTime(dt)


class Reply(GXServerReply):
    """gurux-dlms 1.0.203's server calls `setReply` and `getConnectionInfo`, which its
    GXServerReply lacks."""

    def setReply(self, value):
        self.reply = value

    def getReply(self):
        return self.reply

    def getConnectionInfo(self):
        return self.connectionInfo


class Profile(GXDLMSProfileGeneric):
    """Profile generic whose buffer honours range and entry selection."""

    def getValue(self, settings, e):
        try:
            return self._value(settings, e)
        except Exception:
            traceback.print_exc()
            raise

    def _value(self, settings, e):
        if e.index != 2 or e.selector not in (1, 2) or e.parameters is None:
            return super().getValue(settings, e)
        if e.rowEndIndex != 0:
            return self.getData(settings, e, self.buffer, None)
        p = e.parameters
        if e.selector == 1:
            bounds = []
            for raw in (p[1], p[2]):
                info = _GXDataInfo()
                info.type_ = DataType.DATETIME
                v = _GXCommon.getData(settings, GXByteBuffer(raw), info).value
                bounds.append(v.value if isinstance(v, GXDateTime) else v)
            lo, hi = bounds
            table = [r for r in self.buffer if lo <= r[0].value <= hi]
        else:
            first = max(1, p[0])
            last = p[1] if p[1] != 0 else len(self.buffer)
            table = self.buffer[first - 1 : last]
        return self.getData(settings, e, table, None)


class Meter(GXDLMSServer):
    """One association with one client; a new instance per connection."""

    def __init__(self):
        super().__init__(True, InterfaceType.WRAPPER)
        self.settings.maxServerPDUSize = 1024
        clock = GXDLMSClock("0.0.1.0.0.255")
        clock.time = stamp(CLOCK)
        clock.timeZone = 0
        clock.deviation = 0
        clock.enabled = False
        serial = GXDLMSData("0.0.96.1.0.255")
        serial.value = SERIAL
        serial.setDataType(2, DataType.STRING)
        name = GXDLMSData("0.0.42.0.0.255")
        name.value = SERIAL
        name.setDataType(2, DataType.STRING)
        reg = GXDLMSRegister("1.0.1.8.0.255")
        reg.value = REGISTER
        reg.setDataType(2, DataType.UINT32)
        reg.scaler = 10.0**SCALER
        reg.unit = Unit.ACTIVE_ENERGY
        pg = Profile("1.0.99.1.0.255")
        pg.addCaptureObject(clock, 2, 0)
        pg.addCaptureObject(reg, 2, 0)
        pg.capturePeriod = PERIOD
        pg.sortMethod = SortMethod.FIFO
        pg.sortObject = clock
        pg.sortObjectAttributeIndex = 2
        pg.buffer = [[stamp(t), v] for t, v in ROWS]
        pg.entriesInUse = len(ROWS)
        pg.profileEntries = len(ROWS)
        assoc = GXDLMSAssociationLogicalName("0.0.40.0.0.255")
        for o in (clock, serial, name, reg, pg, assoc):
            self.items.append(o)
            assoc.objectList.append(o)
        self.initialize()

    # Addressing and authentication.
    def isTarget(self, serverAddress, clientAddress):
        return clientAddress in (16, 17)

    def onValidateAuthentication(self, authentication, password):
        client = self.settings.clientAddress
        if client == 16 and authentication == Authentication.NONE:
            return SourceDiagnostic.NONE
        if client == 17 and authentication == Authentication.LOW:
            ok = bytes(password or b"") == PASSWORD
            return SourceDiagnostic.NONE if ok else SourceDiagnostic.AUTHENTICATION_FAILURE
        return SourceDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED

    def onGetAttributeAccess(self, arg):
        return AccessMode.READ

    def onGetMethodAccess(self, arg):
        return MethodAccessMode.NO_ACCESS

    def onFindObject(self, objectType, sn, ln):
        return None

    # Hooks with nothing to do (some are called without arguments by gurux itself).
    def notifyRead(self, *args):
        pass

    def onPreGet(self, args=None):
        pass

    def onPostGet(self, args=None):
        pass

    def onPreRead(self, args=None):
        pass

    def onPostRead(self, args=None):
        pass

    def onPreWrite(self, args=None):
        for a in args or []:
            a.error = 3  # read-write-denied

    def onPostWrite(self, args=None):
        pass

    def onPreAction(self, args=None):
        pass

    def onPostAction(self, args=None):
        pass

    def onConnected(self, connectionInfo):
        pass

    def onInvalidConnection(self, connectionInfo):
        pass

    def onDisconnected(self, connectionInfo):
        pass


def serve(conn):
    meter = Meter()
    with conn:
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            sr = Reply(data)
            try:
                meter.handleRequest(sr)
            except Exception as e:  # a peer that breaks the server ends this connection only
                traceback.print_exc()
                return
            if sr.reply:
                conn.sendall(bytes(sr.reply))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dump", action="store_true")
    a = ap.parse_args()
    if a.dump:
        print(json.dumps(dump()))
        return
    # Fail here, not at the first connection, when the objects cannot be built.
    Meter()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.port))
    srv.listen(8)
    print(f"listening on {srv.getsockname()[1]}", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
