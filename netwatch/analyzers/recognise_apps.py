"""Content recognisers for the rest of a store network (beside `recognise`): Redis, MQTT, IRC, SIP,
DCE/RPC, and the building-control protocols DNP3 and Modbus/TCP (cleartext by design).

Same contract as `recognise`: pure functions of (first payload, flow, direction) → (app,
encrypted, how) or None, a few byte comparisons each, never raising.
"""

from __future__ import annotations

import re

from netwatch.flows.table import Flow

Verdict = tuple[str, bool | None, str | None]
RESP = re.compile(rb"\*[1-9]\d{0,2}\r\n\$\d{1,9}\r\n")
IRC_CLIENT = re.compile(rb"(?m)^(?:NICK [^\s:]{1,64}\r?$|USER \S{1,64} \S{1,64} \S{1,64} :|CAP LS(?: 3\d\d)?\r?$)")
IRC_SERVER = re.compile(rb"^:[\w.\-]{1,255} (?:NOTICE [*\w]|00[1-5] |CAP \* LS)")
SIP_METHODS = (b"REGISTER", b"INVITE", b"OPTIONS", b"ACK", b"BYE", b"CANCEL", b"SUBSCRIBE", b"NOTIFY", b"MESSAGE",
               b"INFO", b"PRACK", b"UPDATE", b"REFER", b"PUBLISH")
SIP_REQUEST = re.compile(rb"^(?:" + b"|".join(SIP_METHODS) + rb") sips?:\S{1,512} SIP/2\.0\r\n")
MODBUS_FUNCTIONS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 17, 20, 21, 22, 23, 24, 43})
DCERPC_TYPES = frozenset({0, 2, 3, 11, 12, 13, 14, 15, 16})  # request, response, fault, bind(+ack/nak), alter, auth3


def redis(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """A RESP array of bulk strings (every client command since Redis 1.2), or inline AUTH/PING/HELLO on 6379."""
    if RESP.match(data) or (flow.server_port == 6379 and data[:5].upper() in (b"AUTH ", b"PING\r", b"HELLO")):
        return "redis", False, None
    return None


def mqtt(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """An MQTT CONNECT: fixed header 0x10, remaining length, protocol name MQTT (3.1.1, 5.0) or MQIsdp (3.1)."""
    if data[:1] != b"\x10" or len(data) < 14:
        return None
    i = 1
    while i < 5 and data[i] & 0x80:
        i += 1
    name = data[i + 1 : i + 9]
    return ("mqtt", False, None) if name[:6] == b"\x00\x04MQTT" or name == b"\x00\x06MQIsdp" else None


def irc(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """IRC registration (NICK, USER with its four parameters, CAP LS) or a server's first prefixed line."""
    head = data[:1024]
    if (direction == 0 and IRC_CLIENT.search(head)) or IRC_SERVER.match(head):
        return "irc", False, None
    return None


def sip(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """A SIP request line or status line (RFC 3261), over UDP or TCP."""
    if SIP_REQUEST.match(data) or data.startswith(b"SIP/2.0 "):
        return "sip", False, None
    return None


def _dnp3_crc(block: bytes) -> int:
    crc = 0
    for b in block:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
    return ~crc & 0xFFFF


def dnp3(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """A DNP3 link-layer frame: 0x05 0x64, length ≥ 5, and the header's own CRC (IEEE 1815)."""
    if (len(data) >= 10 and data[:2] == b"\x05\x64" and data[2] >= 5
            and int.from_bytes(data[8:10], "little") == _dnp3_crc(data[:8])):
        return "dnp3", False, None
    return None


def modbus(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """Modbus/TCP: MBAP header (protocol id 0, a length that matches) and a known function code
    (or its exception reply); on a port other than 502 the length must account for the whole payload."""
    n = len(data)
    if n < 8 or data[2:4] != b"\0\0" or (data[7] & 0x7F) not in MODBUS_FUNCTIONS:
        return None
    length = int.from_bytes(data[4:6], "big")
    if length < 2 or length > 254:
        return None
    if length + 6 == n or (502 in (flow.server_port, flow.client_port) and length + 6 <= n):
        return "modbus", False, None
    return None


def dcerpc(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """Connection-oriented DCE/RPC (MS-RPCE): version 5.0/5.1, a PDU type, a data representation, a
    fragment length that fits. Protected when the bind's auth verifier asks for packet privacy (level 6:
    every stub encrypted); the endpoint mapper (port 135) only answers where services listen (`epmap`,
    infrastructure like DNS)."""
    if not (len(data) >= 16 and data[0] == 5 and data[1] in (0, 1) and data[2] in DCERPC_TYPES
            and data[4] in (0x10, 0x00)):
        return None
    order = "little" if data[4] else "big"
    frag, auth = int.from_bytes(data[8:10], order), int.from_bytes(data[10:12], order)  # type: ignore[arg-type]
    if not 16 <= frag <= len(data) + 65536:
        return None
    level = data[frag - auth - 7] if auth and 16 + 8 + auth <= frag <= len(data) else 0
    if level == 6:
        return "dcerpc", True, "dcerpc-privacy"
    return ("epmap" if 135 in (flow.server_port, flow.client_port) else "dcerpc"), False, None
