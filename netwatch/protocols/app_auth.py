"""Login grammars of protocols a store network carries beside mail and files: Redis AUTH/HELLO (RESP
or inline), MQTT CONNECT (3.1, 3.1.1, 5.0), IRC PASS / NickServ IDENTIFY / SASL, SIP Digest.
Pure: bytes in, (user, password) out; callers keep only what they report (never the password).
"""

from __future__ import annotations

import re

MAX_ITEMS = 8  # RESP array elements looked at
RESP_ARRAY = re.compile(rb"\*([1-9]\d{0,2})\r\n")
RESP_BULK = re.compile(rb"\$(\d{1,9})\r\n")
MQTT_NAMES = (b"\x00\x04MQTT", b"\x00\x06MQIsdp")
SIP_AUTH = re.compile(rb"(?im)^(?:Proxy-)?Authorization[ \t]*:[ \t]*Digest[ \t]+([^\r\n]{1,4096})")
IRC_IDENTIFY = re.compile(rb"^(?:PRIVMSG[ \t]+NickServ[ \t]+:?|NICKSERV[ \t]+|NS[ \t]+)IDENTIFY[ \t]+(.+)$", re.I)


def resp_commands(data: bytes) -> tuple[list[list[bytes]], int]:
    """The whole RESP arrays of bulk strings (and inline commands) at the start of `data`, and how many
    bytes they took (the rest may be a command cut by a segment)."""
    out: list[list[bytes]] = []
    i = 0
    while i < len(data) and len(out) < 64:
        m = RESP_ARRAY.match(data, i)
        if m is None:
            end = data.find(b"\n", i)
            if end < 0 or data[i : i + 1] == b"*":
                break
            out.append(data[i:end].rstrip(b"\r").split()[:MAX_ITEMS])  # inline command
            i = end + 1
            continue
        items: list[bytes] = []
        j = m.end()
        for _ in range(int(m.group(1))):
            b = RESP_BULK.match(data, j)
            if b is None:
                return out, i
            n = int(b.group(1))
            if b.end() + n + 2 > len(data):
                return out, i
            if len(items) < MAX_ITEMS:
                items.append(data[b.end() : b.end() + n])
            j = b.end() + n + 2
        out.append(items)
        i = j
    return out, i


def redis_login(command: list[bytes]) -> tuple[bytes, bytes] | None:
    """(user, password) of AUTH [user] password or HELLO version AUTH user password; Redis calls the
    user of a one-argument AUTH `default`."""
    if not command:
        return None
    verb = command[0].upper()
    if verb == b"AUTH" and len(command) in (2, 3):
        return (b"default", command[1]) if len(command) == 2 else (command[1], command[2])
    if verb == b"HELLO":
        for k in range(1, len(command) - 2):
            if command[k].upper() == b"AUTH":
                return command[k + 1], command[k + 2]
    return None


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    for k in range(4):
        b = data[i + k]
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i + k + 1
    raise ValueError("varint")


def _string(data: bytes, i: int) -> tuple[bytes, int]:
    n = int.from_bytes(data[i : i + 2], "big")
    if i + 2 + n > len(data):
        raise IndexError("truncated")
    return data[i + 2 : i + 2 + n], i + 2 + n


def mqtt_connect(data: bytes) -> tuple[int, bytes | None, bytes | None] | None:
    """(protocol level, user name, password) of an MQTT CONNECT packet, by its flags (bit 7 user name,
    bit 6 password, bit 2 will); None when `data` does not start with a whole CONNECT."""
    parsed = _mqtt(data)
    return None if parsed is None else parsed[:3]


def mqtt_password_span(data: bytes) -> tuple[int, int] | None:
    """Where the password of the MQTT CONNECT at the start of `data` lies (evidence blanks it)."""
    parsed = _mqtt(data)
    return None if parsed is None or parsed[2] is None else (parsed[3], parsed[3] + len(parsed[2]))


def _mqtt(data: bytes) -> tuple[int, bytes | None, bytes | None, int] | None:
    try:
        if data[:1] != b"\x10":
            return None
        length, i = _varint(data, 1)
        if i + length > len(data) or data[i : i + 6] not in MQTT_NAMES and data[i : i + 8] not in MQTT_NAMES:
            return None
        i += 6 if data[i + 1] == 4 else 8
        level, flags = data[i], data[i + 1]
        i += 4  # level, flags, keep-alive
        if level == 5:
            props, i = _varint(data, i)
            i += props
        _client_id, i = _string(data, i)
        if flags & 0x04:  # will: (5.0 will properties), topic, payload
            if level == 5:
                props, i = _varint(data, i)
                i += props
            _topic, i = _string(data, i)
            _payload, i = _string(data, i)
        user = password = None
        if flags & 0x80:
            user, i = _string(data, i)
        at = i + 2
        if flags & 0x40:
            password, i = _string(data, i)
        return level, user, password, at
    except (IndexError, ValueError):
        return None


def irc_identify(line: bytes) -> tuple[bytes | None, bytes] | None:
    """(account or None, password) of a NickServ IDENTIFY line."""
    m = IRC_IDENTIFY.match(line.strip())
    if m is None:
        return None
    words = m.group(1).split()
    if not words:
        return None
    return (words[0], words[1]) if len(words) >= 2 else (None, words[0])


def sip_digests(message: bytes) -> list[bytes]:
    """The Digest parameters of every Authorization / Proxy-Authorization header in a SIP message."""
    head = message.split(b"\r\n\r\n", 1)[0]
    return [m.group(1) for m in SIP_AUTH.finditer(head[:16384])][:4]
