"""Sans-IO DNS message parser: questions and answers (A, AAAA, CNAME, PTR, TXT) from one datagram.

Never raises: a message that does not parse returns None. Compression pointers are followed with
a hop limit, so crafted loops end. Messages are immutable and recent parses are cached by the bytes
after the message ID, so the analyzers that read the same packet (names, card data) parse it once,
and so does a query or answer repeated in a later transaction.
"""

from __future__ import annotations

import functools
import socket
import struct
from dataclasses import dataclass

TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
              65: "HTTPS", 255: "ANY"}
MAX_RECORDS = 64


@dataclass(frozen=True, slots=True)
class DnsMessage:
    id: int
    response: bool
    rcode: int
    questions: tuple[tuple[str, int], ...] = ()  # (name, qtype)
    answers: tuple[tuple[str, int, str], ...] = ()  # (name, rtype, value as text)


def label_spans(data: bytes, off: int) -> tuple[list[tuple[int, int]], int]:
    """Where the labels of a (possibly compressed) name at `off` sit in `data`, and the offset after
    the name. Raises ValueError. The one name walker: `read_name` and evidence redaction use it."""
    spans: list[tuple[int, int]] = []
    end = -1
    hops = 0
    size = len(data)
    while True:
        if off >= size:
            raise ValueError("name runs past the message")
        n = data[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= size:
                raise ValueError("truncated pointer")
            if end < 0:
                end = off + 2
            off = ((n & 0x3F) << 8) | data[off + 1]
            hops += 1
            if hops > 32:
                raise ValueError("compression loop")
            continue
        if n & 0xC0:
            raise ValueError("bad label type")
        off += 1
        if n == 0:
            break
        if off + n > size:
            raise ValueError("label runs past the message")
        spans.append((off, off + n))
        off += n
        if len(spans) > 128:
            raise ValueError("too many labels")
    return spans, (end if end >= 0 else off)


def read_name(data: bytes, off: int) -> tuple[str, int]:
    """Decode a (possibly compressed) name at `off`; returns (name, offset after it). Raises ValueError."""
    spans, after = label_spans(data, off)
    return b".".join([data[s:e] for s, e in spans]).decode("latin-1").lower(), after  # one decode, not one a label


def question_spans(data: bytes | bytearray, offset: int = 0, limit: int = 16) -> list[list[tuple[int, int]]]:
    """The label spans of each question name of the message at `offset` (2 over TCP: the length
    prefix), as far as they parse."""
    out: list[list[tuple[int, int]]] = []
    msg = bytes(data[offset:])
    if len(msg) < 12:
        return out
    pos = 12
    for _ in range(min(struct.unpack_from("!H", msg, 4)[0], limit)):
        try:
            spans, pos = label_spans(msg, pos)
        except ValueError:
            break
        out.append([(offset + s, offset + e) for s, e in spans])
        pos += 4
    return out


def parse_dns(data: bytes, tcp: bool = False) -> DnsMessage | None:
    """Parse one DNS message (`tcp=True`: skip the 2-byte length prefix).

    Parses are cached by the message's bytes after its ID, the one field that differs between
    transactions: a terminal asking for its acquirer's name again, or an answer repeated with the same
    TTL, is parsed once (bounded), and the analyzers that read the same packet share the parse."""
    if tcp:
        data = data[2:]
    if len(data) < 12:
        return None
    msg = _parse_dns(b"\0\0" + data[2:])  # the same offsets: compression pointers count from byte 0
    ident = int.from_bytes(data[:2], "big")
    if msg is None or msg.id == ident:
        return msg
    return DnsMessage(ident, msg.response, msg.rcode, msg.questions, msg.answers)


@functools.lru_cache(maxsize=256)
def _parse_dns(data: bytes) -> DnsMessage | None:
    try:
        ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data, 0)
        if qd > MAX_RECORDS or an > MAX_RECORDS * 4:
            return None
        questions: list[tuple[str, int]] = []
        answers: list[tuple[str, int, str]] = []
        off = 12
        for _ in range(qd):
            name, off = read_name(data, off)
            if off + 4 > len(data):
                return None
            questions.append((name, struct.unpack_from("!H", data, off)[0]))
            off += 4
        for _ in range(an):
            name, off = read_name(data, off)
            if off + 10 > len(data):
                break
            rtype, _, _, rdlen = struct.unpack_from("!HHIH", data, off)
            off += 10
            rdata = data[off : off + rdlen]
            if len(rdata) < rdlen:
                break
            value = _rdata(data, off, rtype, rdata)
            if value is not None:
                answers.append((name, rtype, value))
            off += rdlen
        return DnsMessage(ident, bool(flags & 0x8000), flags & 0xF, tuple(questions), tuple(answers))
    except (ValueError, struct.error, IndexError):
        return None


def _rdata(data: bytes, off: int, rtype: int, rdata: bytes) -> str | None:
    if rtype == 1 and len(rdata) == 4:
        return socket.inet_ntop(socket.AF_INET, rdata)
    if rtype == 28 and len(rdata) == 16:
        return socket.inet_ntop(socket.AF_INET6, rdata)
    if rtype in (5, 12, 2):
        return read_name(data, off)[0]
    if rtype == 16:
        parts, i = [], 0
        while i < len(rdata):
            n = rdata[i]
            parts.append(rdata[i + 1 : i + 1 + n].decode("latin-1"))
            i += 1 + n
        return "".join(parts)
    return None
