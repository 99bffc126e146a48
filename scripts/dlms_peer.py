#!/usr/bin/env python3
"""Independent DLMS/COSEM peer for the tests: the `dlms-cosem` or the `gurux-dlms` client from
PyPI associates with a meter (our simulator) over TCP, reads the clock, one register with its
scaler and unit, and a range of the load profile, and prints what it read as one JSON object:

    {"library": ..., "client": 16, "clock": {"local": "2024-03-05T14:00:03", "deviation": 0},
     "register": {"obis": "1.0.1.8.0.255", "value": 1234567, "scaler": -3, "unit": 30},
     "profile": [{"time": "2024-03-04T00:15:00", "deviation": 0, "status": 0,
                  "values": [...]}, ...], "retries": 0}

Times are the meter's wall-clock time as sent (no time-zone conversion) with the deviation
the meter sent. A refusal by the meter (association rejected, HLS failed, access denied) is
printed as {"error": "...", "stage": "..."} with exit status 2; anything else unexpected exits
with a traceback.

Usage: dlms_peer.py --lib dlms-cosem|gurux --port P [--host H] [--transport wrapper|hdlc]
       [--client 16|17|1] [--password PW] [--key-ak HEX] [--register 1.0.1.8.0.255]
       [--from 2024-03-04T00:15] [--to 2024-03-04T06:00] [--bad-fcs]
"""
import argparse
import contextlib
import datetime as dt
import json
import socket
import sys

GREEN_BOOK_EK = bytes(range(16))
GREEN_BOOK_AK = bytes(range(0xD0, 0xE0))
CLIENT_TITLE = b"MMM\x00\x00\x00\x00\x07"


class Refused(Exception):
    def __init__(self, stage, message):
        super().__init__(message)
        self.stage = stage


def obis_tuple(text):
    parts = [int(p) for p in text.split(".")]
    if len(parts) != 6:
        raise SystemExit(f"OBIS {text!r}: six groups wanted")
    return parts


def iso(value):
    return value.replace(tzinfo=None).isoformat()


# --------------------------------------------------------------------------------------------
# dlms-cosem


def quiet_dlms_cosem():
    # dlms-cosem logs every frame through structlog to stdout; keep stdout for the JSON.
    import logging

    import structlog

    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


def run_dlms_cosem(a):
    quiet_dlms_cosem()
    from dlms_cosem import cosem, enumerations as enums, utils
    from dlms_cosem.client import DlmsClient
    from dlms_cosem.cosem.capture_object import CaptureObject
    from dlms_cosem.cosem.selective_access import RangeDescriptor
    from dlms_cosem.io import BlockingTcpIO, HdlcTransport, TcpTransport
    from dlms_cosem.security import (
        HighLevelSecurityGmacAuthentication,
        LowLevelSecurityAuthentication,
        NoSecurityAuthentication,
    )
    from dlms_cosem.time import datetime_from_bytes

    def transport_for(sap):
        io = BlockingTcpIO(host=a.host, port=a.port, timeout=10)
        if a.transport == "hdlc":
            return HdlcTransport(
                client_logical_address=sap,
                server_logical_address=1,
                server_physical_address=a.physical,
                io=io,
            )
        return TcpTransport(client_logical_address=sap, server_logical_address=1, io=io)

    def attribute(interface, obis, attr):
        return cosem.CosemAttribute(
            interface=interface, instance=cosem.Obis(*obis_tuple(obis)), attribute=attr
        )

    def date_time(raw):
        raw = bytes(raw)
        value, _status = datetime_from_bytes(raw)
        # The deviation as sent (dlms-cosem's time zone drops a deviation of 0).
        deviation = int.from_bytes(raw[9:11], "big", signed=True)
        return iso(value), None if deviation == -0x8000 else deviation

    extra = {}
    if a.client == 1:
        # The counter the meter expects: read by the public client first, as Gurux does.
        public = DlmsClient(
            transport=transport_for(16), authentication=NoSecurityAuthentication()
        )
        with public.session() as c:
            raw = c.get(attribute(enums.CosemInterface.DATA, "0.0.43.1.0.255", 2))
            ic = utils.parse_as_dlms_data(raw)
        extra = dict(
            encryption_key=GREEN_BOOK_EK,
            authentication_key=bytes.fromhex(a.key_ak) if a.key_ak else GREEN_BOOK_AK,
            client_system_title=CLIENT_TITLE,
            client_initial_invocation_counter=ic + 1,
        )
        auth = HighLevelSecurityGmacAuthentication(challenge_length=16)
    elif a.client == 17:
        auth = LowLevelSecurityAuthentication(secret=a.password.encode())
    else:
        auth = NoSecurityAuthentication()

    client = DlmsClient(transport=transport_for(a.client), authentication=auth, **extra)
    client.connect()
    try:
        try:
            client.associate()
        except Exception as e:  # the library raises several kinds for a refusal
            raise Refused("association", f"{type(e).__name__}: {e}") from e
        raw = client.get(attribute(enums.CosemInterface.CLOCK, "0.0.1.0.0.255", 2))
        local, deviation = date_time(utils.parse_as_dlms_data(raw))
        out = {"clock": {"local": local, "deviation": deviation}}
        reg = attribute(enums.CosemInterface.REGISTER, a.register, 2)
        value = utils.parse_as_dlms_data(client.get(reg))
        reg.attribute = 3
        scaler, unit = utils.parse_as_dlms_data(client.get(reg))
        out["register"] = {
            "obis": a.register,
            "value": value,
            "scaler": scaler,
            "unit": unit,
        }
        if a.from_ and a.to:
            clock_column = CaptureObject(
                cosem_attribute=attribute(enums.CosemInterface.CLOCK, "0.0.1.0.0.255", 2)
            )
            rows = utils.parse_as_dlms_data(
                client.get(
                    attribute(enums.CosemInterface.PROFILE_GENERIC, "1.0.99.1.0.255", 2),
                    access_descriptor=RangeDescriptor(
                        restricting_object=clock_column,
                        from_value=dt.datetime.fromisoformat(a.from_),
                        to_value=dt.datetime.fromisoformat(a.to),
                    ),
                )
            )
            profile = []
            for row in rows:
                local, deviation = date_time(row[0])
                profile.append(
                    {
                        "time": local,
                        "deviation": deviation,
                        "status": row[1],
                        "values": list(row[2:]),
                    }
                )
            out["profile"] = profile
        client.release_association()
    finally:
        client.disconnect()
    return out


# --------------------------------------------------------------------------------------------
# gurux-dlms (a protocol library without I/O: the loop that moves bytes is ours)


class GuruxLink:
    def __init__(self, a):
        from gurux_dlms import GXDLMSClient
        from gurux_dlms.enums import Authentication, InterfaceType

        self.a = a
        auth = {
            16: Authentication.NONE,
            17: Authentication.LOW,
            1: Authentication.HIGH_GMAC,
        }[a.client]
        if a.transport == "hdlc":
            itype = InterfaceType.HDLC
            server = GXDLMSClient.getServerAddress(1, a.physical, a.address_size)
        else:
            itype = InterfaceType.WRAPPER
            server = 1
        password = a.password if a.client == 17 else None
        self.client = GXDLMSClient(True, a.client, server, auth, password, itype)
        self.client.setMaxReceivePDUSize(0xFFFF)
        self.sock = socket.create_connection((a.host, a.port), timeout=10)
        self.sock.settimeout(a.timeout)
        self.retries = 0
        self.corrupt_next = a.bad_fcs

    def close(self):
        self.sock.close()

    def packet(self, data, reply):
        """Sends one frame or wrapped APDU and reads until Gurux has a whole answer; repeats
        the frame after a time-out (the meter drops frames with a bad check sequence)."""
        from gurux_dlms import GXByteBuffer

        for attempt in range(4):
            out = bytes(data) if data else b""
            if out and self.corrupt_next and self.a.transport == "hdlc":
                # Flip the frame check sequence of this frame, once: the meter must stay
                # silent, and the repeat below must go through.
                self.corrupt_next = False
                damaged = bytearray(out)
                damaged[-2] ^= 0xFF
                out = bytes(damaged)
            if out:
                self.sock.sendall(out)
            buf = GXByteBuffer()
            try:
                while not self.client.getData(buf, reply, None):
                    chunk = self.sock.recv(4096)
                    if not chunk:
                        raise ConnectionError("the meter closed the connection")
                    buf.set(chunk)
                return reply
            except socket.timeout:
                if attempt == 3:
                    raise
                self.retries += 1
        return reply

    def block(self, messages, reply):
        if not isinstance(messages, list):
            messages = [messages]
        for m in messages:
            reply.clear()
            self.packet(m, reply)
            while reply.isMoreData():
                self.packet(self.client.receiverReady(reply), reply)
        return reply

    def read(self, obj, attr, messages=None):
        from gurux_dlms import GXReplyData

        reply = GXReplyData()
        self.block(messages or self.client.read(obj, attr), reply)
        if reply.error:
            raise Refused("read", f"{obj.logicalName} attribute {attr}: error {reply.error}")
        return reply.value


def run_gurux(a):
    from gurux_dlms import GXCiphering, GXDateTime, GXReplyData
    from gurux_dlms.enums import Security
    from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric, GXDLMSRegister

    if a.client == 1:
        # Read the counter the meter expects with the public client first.
        pub = argparse.Namespace(**{**vars(a), "client": 16, "bad_fcs": False})
        link = GuruxLink(pub)
        try:
            associate_gurux(link)
            ic = link.read(GXDLMSData("0.0.43.1.0.255"), 2)
            release_gurux(link)
        finally:
            link.close()
    link = GuruxLink(a)
    try:
        if a.client == 1:
            c = GXCiphering(CLIENT_TITLE)
            # --hls-plain: HLS-GMAC in the LN context without ciphering (the keys only
            # authenticate; a wrong key shows in HLS pass 3).
            c.security = Security.NONE if a.hls_plain else Security.AUTHENTICATION_ENCRYPTION
            c.blockCipherKey = bytearray(GREEN_BOOK_EK)
            c.authenticationKey = bytearray(
                bytes.fromhex(a.key_ak) if a.key_ak else GREEN_BOOK_AK
            )
            c.invocationCounter = ic + 1
            link.client.settings.cipher = c
        try:
            associate_gurux(link)
        except Refused:
            raise
        except Exception as e:
            raise Refused("association", f"{type(e).__name__}: {e}") from e
        if a.objects:
            out = gurux_objects(link)
            release_gurux(link)
            return out
        clock = GXDLMSClock("0.0.1.0.0.255")
        value = link.read(clock, 2)
        link.client.updateValue(clock, 2, value)
        t = clock.time
        out = {"clock": gurux_time(t)}
        reg = GXDLMSRegister(a.register)
        su = link.read(reg, 3)
        raw = link.read(reg, 2)
        out["register"] = {
            "obis": a.register,
            "value": int(raw),
            "scaler": int(su[0]),
            "unit": int(su[1]),
        }
        if a.from_ and a.to:
            pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
            link.client.updateValue(pg, 3, link.read(pg, 3))
            start = GXDateTime(dt.datetime.fromisoformat(a.from_).replace(tzinfo=dt.timezone.utc))
            end = GXDateTime(dt.datetime.fromisoformat(a.to).replace(tzinfo=dt.timezone.utc))
            rows = link.read(pg, 2, link.client.readRowsByRange(pg, start, end))
            link.client.updateValue(pg, 2, rows)
            out["profile"] = [
                {
                    **{
                        "time": gurux_time(r[0])["local"],
                        "deviation": gurux_time(r[0])["deviation"],
                    },
                    "status": int(r[1]),
                    "values": [int(v) for v in r[2:]],
                }
                for r in pg.buffer
            ]
        release_gurux(link)
        out["retries"] = link.retries
    finally:
        link.close()
    return out


def gurux_objects(link):
    """The association's object list through Gurux's own parser, and every readable
    attribute read into Gurux's object model (profile buffers left out: they are long)."""
    from gurux_dlms import GXReplyData
    from gurux_dlms.enums import AccessMode

    reply = GXReplyData()
    link.block(link.client.getObjectsRequest(), reply)
    objects = link.client.parseObjects(reply.data, True)
    listed, errors, read = [], [], 0
    for o in objects:
        access = [int(o.getAccess(i)) for i in range(1, o.getAttributeCount() + 1)]
        listed.append(
            {"class": int(o.objectType), "version": o.version, "ln": o.logicalName, "access": access}
        )
        for i in range(2, o.getAttributeCount() + 1):
            if o.getAccess(i) in (AccessMode.NO_ACCESS, AccessMode.WRITE) or (
                int(o.objectType) == 7 and i == 2
            ):
                continue
            try:
                link.client.updateValue(o, i, link.read(o, i))
                read += 1
            except Exception as e:  # collected: the test shows them
                errors.append(f"{o.logicalName} attribute {i}: {type(e).__name__}: {e}")
    return {"objects": listed, "attributes_read": read, "read_errors": errors}


def gurux_time(t):
    value = t.value
    offset = value.utcoffset()
    deviation = None if offset is None else int(-offset.total_seconds() // 60)
    return {"local": iso(value), "deviation": deviation}


def associate_gurux(link):
    from gurux_dlms import GXDLMSException, GXReplyData

    reply = GXReplyData()
    snrm = link.client.snrmRequest()
    if snrm:
        link.packet(snrm, reply)
        link.client.parseUAResponse(reply.data)
    try:
        link.block(link.client.aarqRequest(), reply)
        link.client.parseAareResponse(reply.data)
    except GXDLMSException as e:
        raise Refused("association", f"GXDLMSException: {e}") from e
    if link.client.getIsAuthenticationRequired():
        try:
            for m in link.client.getApplicationAssociationRequest():
                reply.clear()
                link.packet(m, reply)
            link.client.parseApplicationAssociationResponse(reply.data)
        except Exception as e:  # Gurux raises a plain Exception when f(StoC) is refused
            raise Refused("hls-pass-3", f"{type(e).__name__}: {e}") from e


def release_gurux(link):
    from gurux_dlms import GXReplyData

    reply = GXReplyData()
    for m in link.client.releaseRequest() or []:
        link.packet(m, reply)
    disc = link.client.disconnectRequest()
    if disc and link.a.transport == "hdlc":
        reply.clear()
        link.packet(disc, reply)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lib", choices=["dlms-cosem", "gurux"], required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--transport", choices=["wrapper", "hdlc"], default="wrapper")
    p.add_argument("--client", type=int, choices=[16, 17, 1], default=16)
    p.add_argument("--password", default="12345678")
    p.add_argument("--key-ak", help="authentication key (hex) instead of the Green Book one")
    p.add_argument("--physical", type=int, default=17, help="HDLC physical address")
    p.add_argument("--address-size", type=int, choices=[1, 2, 4], default=2)
    p.add_argument("--register", default="1.0.1.8.0.255")
    p.add_argument("--from", dest="from_")
    p.add_argument("--to")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds before a frame is repeated")
    p.add_argument("--objects", action="store_true", help="gurux: the object list and every readable attribute")
    p.add_argument("--hls-plain", action="store_true", help="gurux, client 1: HLS-GMAC without ciphering")
    p.add_argument("--bad-fcs", action="store_true", help="HDLC: send the first frame with a broken FCS")
    a = p.parse_args()
    try:
        # The libraries print progress on stdout; keep it for the JSON.
        with contextlib.redirect_stdout(sys.stderr):
            out = run_dlms_cosem(a) if a.lib == "dlms-cosem" else run_gurux(a)
    except Refused as e:
        print(json.dumps({"library": a.lib, "client": a.client, "stage": e.stage, "error": str(e)}))
        return 2
    out = {"library": a.lib, "client": a.client, "transport": a.transport, **out}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
