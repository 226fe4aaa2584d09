"""Frames of the flows that back findings, redacted in place: locate the IP/TCP/UDP headers inside a
frame, rebuild each TCP direction as one stream (first copy of a byte wins, as in `flows`), redact
the stream, write the redacted bytes back into every segment that carried them (retransmissions and
out-of-order copies alike), and recompute the IP, TCP and UDP checksums.

Frames are located here rather than through `decode.Decoder` because rewriting needs the byte
offsets of each header in the original frame; fragments and tunnelled frames are left out of
evidence (their payload cannot be rewritten in place safely), and counted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

import dpkt

from netwatch.protocols.iso8583 import looks_like_iso8583
from netwatch.redaction.creds import redact_passwords, redact_snmp
from netwatch.redaction.packets import FILLER, mask_cards
from netwatch.redaction.protocols import redact_dns, redact_http, redact_iso8583

MAX_STREAM = 1 << 20  # stream bytes per direction rebuilt and scanned (more than the written packets hold)
IPV6_EXT = {0, 43, 60, 135, 139, 140}
PORT_APPS = {21: "ftp", 110: "pop3", 143: "imap", 25: "smtp", 587: "smtp", 23: "telnet", 80: "http",
             8080: "http", 5432: "postgres", 3306: "mysql", 1433: "tds", 161: "snmp", 162: "snmp", 53: "dns"}


class Loc(NamedTuple):
    """Where the headers of one IP packet sit inside its frame."""

    ip: int
    v6: bool
    l4: int
    proto: int
    payload: int
    end: int
    complete: bool  # the frame holds the whole IP datagram (checksums can be computed)
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    flags: int


def locate(linktype: int, data: bytes) -> Loc | None:
    """Header offsets of a TCP/UDP packet in a frame; None for anything evidence cannot rewrite."""
    try:
        if linktype == 1:
            return _ethertype(data, struct.unpack_from("!H", data, 12)[0], 14)
        if linktype == 113:
            return _ethertype(data, struct.unpack_from("!H", data, 14)[0], 16)
        if linktype == 276:
            return _ethertype(data, struct.unpack_from("!H", data, 0)[0], 20)
        if linktype in (101, 12, 14, 228, 229):
            return _ip(data, 0)
        if linktype in (0, 108):
            return _ip(data, 4)
    except (struct.error, IndexError):
        return None
    return None


def _ethertype(data: bytes, etype: int, off: int) -> Loc | None:
    while etype in (0x8100, 0x88A8, 0x9100):
        etype = struct.unpack_from("!H", data, off + 2)[0]
        off += 4
    if etype == 0x8864 and data[off + 6 : off + 8] in (b"\x00\x21", b"\x00\x57"):  # PPPoE session, IP
        off += 8
        etype = 0x0800
    return _ip(data, off) if etype in (0x0800, 0x86DD) else None


def _ip(data: bytes, off: int) -> Loc | None:
    v = data[off] >> 4
    if v == 4:
        ihl = (data[off] & 15) * 4
        total, frag = struct.unpack_from("!H2xH", data, off + 2)
        if frag & 0x3FFF or ihl < 20:
            return None
        src, dst = data[off + 12 : off + 16], data[off + 16 : off + 20]
        return _l4(data, off, False, off + ihl, data[off + 9], off + total, src, dst)
    if v == 6:
        plen = struct.unpack_from("!H", data, off + 4)[0]
        nxt, l4 = data[off + 6], off + 40
        for _ in range(8):
            if nxt not in IPV6_EXT:
                break
            nxt, l4 = data[l4], l4 + (data[l4 + 1] + 1) * 8
        return _l4(data, off, True, l4, nxt, off + 40 + plen, data[off + 8 : off + 24], data[off + 24 : off + 40])
    return None


def _l4(data: bytes, ip: int, v6: bool, l4: int, proto: int, end: int, src: bytes, dst: bytes) -> Loc | None:
    complete = end <= len(data)
    end = min(end, len(data))
    if proto == 6 and end - l4 >= 20:
        sport, dport, seq, doff, flags = struct.unpack_from("!HHI4xBB", data, l4)
        return Loc(ip, v6, l4, 6, l4 + (doff >> 4) * 4, end, complete, src, dst, sport, dport, seq, flags)
    if proto == 17 and end - l4 >= 8:
        sport, dport = struct.unpack_from("!HH", data, l4)
        return Loc(ip, v6, l4, 17, l4 + 8, end, complete, src, dst, sport, dport, 0, 0)
    return None


def fix_checksums(frame: bytearray, loc: Loc) -> None:
    """Recompute the IPv4 header checksum and the TCP/UDP checksum over the (redacted) payload."""
    if not loc.complete:
        return
    if not loc.v6:
        frame[loc.ip + 10 : loc.ip + 12] = b"\0\0"
        frame[loc.ip + 10 : loc.ip + 12] = struct.pack("!H", dpkt.in_cksum(bytes(frame[loc.ip : loc.l4])))
    at = loc.l4 + (16 if loc.proto == 6 else 6)
    if loc.proto == 17 and not loc.v6 and frame[at : at + 2] == b"\0\0":
        return  # IPv4 UDP without a checksum stays without one
    seg = bytes(frame[loc.l4 : loc.end])
    seg = seg[: at - loc.l4] + b"\0\0" + seg[at - loc.l4 + 2 :]
    pseudo = loc.src + loc.dst + (struct.pack("!IxxxB", len(seg), loc.proto) if loc.v6
                                  else struct.pack("!xBH", loc.proto, len(seg)))
    s = dpkt.in_cksum(pseudo + seg)
    frame[at : at + 2] = struct.pack("!H", s if s or loc.proto == 6 else 0xFFFF)


@dataclass
class Packet:
    number: int  # 1-based, as tshark/Wireshark number the frames of the original capture
    ts: float
    linktype: int
    frame: bytearray
    loc: Loc
    direction: int
    wirelen: int


@dataclass
class EvidenceFlow:
    """One flow's packets (bounded) and the segments of both directions (for the rebuilt streams)."""

    proto: int
    client: tuple[bytes, int]
    app: str | None = None
    packets: list[Packet] = field(default_factory=list)
    segs: list[list[tuple[int, bytes]]] = field(default_factory=lambda: [[], []])  # (seq, payload)
    syn: list[int | None] = field(default_factory=lambda: [None, None])
    order: list[tuple[int, int]] = field(default_factory=list)  # (direction, index into segs) as they came
    seg_bytes: list[int] = field(default_factory=lambda: [0, 0])
    notes: list[str] = field(default_factory=list)

    def add_segment(self, direction: int, loc: Loc, frame: bytes) -> None:
        if loc.flags & 0x02 and self.syn[direction] is None:
            self.syn[direction] = (loc.seq + 1) & 0xFFFFFFFF
        payload = bytes(frame[loc.payload : loc.end])
        if payload and self.seg_bytes[direction] < MAX_STREAM:
            seq = (loc.seq + 1) & 0xFFFFFFFF if loc.flags & 0x02 else loc.seq
            self.order.append((direction, len(self.segs[direction])))
            self.segs[direction].append((seq, payload))
            self.seg_bytes[direction] += len(payload)

    def redact(self) -> None:
        """Redact the kept packets in place (TCP: through the rebuilt streams; UDP: per datagram)."""
        if self.proto == 17:
            for p in self.packets:
                dgram = p.frame[p.loc.payload : p.loc.end]
                redact_datagram(self.app, dgram, self.notes)
                p.frame[p.loc.payload : p.loc.end] = dgram
                fix_checksums(p.frame, p.loc)
            return
        bases, streams = [], []
        for d in (0, 1):
            base, buf = rebuild(self.segs[d], self.syn[d])
            bases.append(base)
            streams.append(buf)
        order = []
        for d, i in self.order:
            seq, payload = self.segs[d][i]
            order.append((d, (seq - bases[d]) & 0xFFFFFFFF, len(payload)))
        redact_streams(self.app, streams, order, self.notes)
        self.segs = [[], []]  # the unredacted copies go as soon as they are no longer needed
        for p in self.packets:
            _write_back(p, bases[p.direction], streams[p.direction])
            fix_checksums(p.frame, p.loc)


def rebuild(segs: list[tuple[int, bytes]], syn: int | None) -> tuple[int, bytearray]:
    """One direction as a byte string from its first sequence number; the first copy of a byte wins."""
    if not segs:
        return syn or 0, bytearray()
    ref = segs[0][0] if syn is None else syn
    rel = [(((seq - ref + 0x80000000) & 0xFFFFFFFF) - 0x80000000, data) for seq, data in segs]
    low = min(0 if syn is not None else min(r for r, _ in rel), min(r for r, _ in rel))
    size = min(MAX_STREAM, max(r + len(d) for r, d in rel) - low)
    buf, have = bytearray(size), bytearray(size)
    for r, data in rel:
        s = r - low
        e = min(size, s + len(data))
        if s >= e or s < 0:
            continue
        chunk = data[: e - s]
        if not any(have[s:e]):
            buf[s:e] = chunk
            have[s:e] = b"\1" * (e - s)
            continue
        for k in range(s, e):
            if not have[k]:
                buf[k], have[k] = chunk[k - s], 1
    return (ref + low) & 0xFFFFFFFF, buf


def _write_back(p: Packet, base: int, stream: bytearray) -> None:
    """Every copy of a byte gets the redacted stream's version; bytes outside the rebuilt stream
    (beyond MAX_STREAM) were not scanned and become FILLER."""
    n = p.loc.end - p.loc.payload
    if not n:
        return
    seq = (p.loc.seq + 1) & 0xFFFFFFFF if p.loc.flags & 0x02 else p.loc.seq
    off = ((seq - base + 0x80000000) & 0xFFFFFFFF) - 0x80000000
    out = bytearray([FILLER]) * n
    lo, hi = max(0, -off), min(n, len(stream) - off)
    if lo < hi:
        out[lo:hi] = stream[off + lo : off + hi]
    p.frame[p.loc.payload : p.loc.end] = out


def redact_streams(app: str | None, streams: list[bytearray], order: list[tuple[int, int, int]],
                   notes: list[str]) -> None:
    """Both directions of one TCP flow: passwords, then protocol fields, then every card encoding."""
    redact_passwords(app, streams[0], streams[1], order, notes)
    for buf in streams:
        if app in (None, "http") or buf[:5] == b"HTTP/":
            redact_http(buf, notes)
        if app == "iso8583" or looks_like_iso8583(bytes(buf[:4096])):
            redact_iso8583(buf, notes)
        if app == "dns":
            redact_dns(buf, notes, offset=2)
        mask_cards(buf, notes)


def redact_datagram(app: str | None, buf: bytearray, notes: list[str]) -> None:
    if app in ("snmp", None):
        redact_snmp(buf, notes)
    if app in ("dns", "mdns", "llmnr", None):
        redact_dns(buf, notes)
    mask_cards(buf, notes)


def flow_app(app: str | None, sport: int, dport: int) -> str | None:
    """The application a finding named for the flow, else a guess from the server port."""
    return app or PORT_APPS.get(dport) or PORT_APPS.get(sport)
