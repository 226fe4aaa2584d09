"""Frame bytes → Packet: link layer, IPv4/IPv6, TCP/UDP/ICMP/ESP. Never raises on bad bytes.

Sans-IO: `Decoder.decode(linktype, data, ts)` returns a Packet or None; everything that could not
be decoded is counted in `Decoder.stats` by reason, and unknown link types by number. The Ethernet →
IPv4 → TCP/UDP path is written out flat with `struct.unpack_from` because it is most of the traffic.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import NamedTuple

TCP, UDP, ICMP, ICMP6, ESP, GRE = 6, 17, 1, 58, 50, 47
PROTO_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMP6: "icmp6", ESP: "esp", GRE: "gre", 51: "ah"}

LINKTYPE_NAMES = {
    0: "BSD loopback",
    1: "Ethernet",
    9: "PPP",
    12: "raw IP",
    14: "raw IP",
    50: "PPP in HDLC framing",
    51: "PPPoE",
    101: "raw IP",
    105: "IEEE 802.11",
    108: "OpenBSD loopback",
    113: "Linux cooked (SLL)",
    127: "IEEE 802.11 radiotap",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked v2 (SLL2)",
}
SUPPORTED_LINKTYPES = {0, 1, 9, 12, 14, 50, 51, 101, 108, 113, 228, 229, 276}

ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
ETH_VLAN = (0x8100, 0x88A8, 0x9100)
ETH_PPPOE_SESSION = 0x8864
IPV6_EXT = {0, 43, 60, 135, 139, 140}
VXLAN_PORT = 4789
FRAG_MAX_PENDING = 1024
FRAG_MAX_BYTES = 65535
FRAG_TIMEOUT = 30.0

_u16 = struct.Struct("!H").unpack_from
_ipv4 = struct.Struct("!BBHHHBBH4s4s").unpack_from
_tcp_head = struct.Struct("!HHIIBBH").unpack_from
_ports = struct.Struct("!HH").unpack_from


def _window_scale(data: bytes, i: int, end: int) -> int:
    """The window scale option (RFC 7323) among a SYN's TCP options, or -1."""
    while i < end:
        kind = data[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end or data[i + 1] < 2:
            break
        if kind == 3 and data[i + 1] == 3 and i + 2 < end:
            return min(data[i + 2], 14)
        i += data[i + 1]
    return -1


class Packet(NamedTuple):
    """One decoded IP packet; addresses are raw 4- or 16-byte strings."""

    ts: float
    src: bytes
    dst: bytes
    proto: int
    sport: int
    dport: int
    flags: int  # TCP flags; 0 otherwise
    seq: int  # TCP sequence number; 0 otherwise
    payload: bytes
    wirelen: int  # IP datagram length as stated in its header
    ack: int = 0  # TCP acknowledgment number (meaningful with the ACK flag)
    window: int = -1  # TCP window field as sent (unscaled); -1: not TCP
    wscale: int = -1  # TCP window scale option of a SYN; -1: none


class Decoder:
    """Decodes frames and keeps the counts of what it could not decode."""

    def __init__(self) -> None:
        self.stats: Counter[str] = Counter()  # reason -> count
        self.unknown_linktypes: Counter[int] = Counter()
        self.non_ip: Counter[str] = Counter()  # e.g. arp
        self._frags: dict[tuple[object, ...], _Frag] = {}

    # -- link layer ---------------------------------------------------------------------------
    def decode(self, linktype: int, data: bytes, ts: float) -> Packet | None:
        try:
            if linktype == 1:
                return self._ether(data, 0, ts, 0)
            return self._link(linktype, data, ts)
        except (struct.error, IndexError, ValueError):
            self.stats["malformed"] += 1
            return None

    def _link(self, linktype: int, data: bytes, ts: float) -> Packet | None:
        if linktype in (101, 12, 14, 228, 229):
            return self._ip(data, 0, ts, 0)
        if linktype == 113:  # SLL: 16-byte header, protocol last
            return self._ethertype(_u16(data, 14)[0], data, 16, ts, 0)
        if linktype == 276:  # SLL2: protocol first, 20-byte header
            return self._ethertype(_u16(data, 0)[0], data, 20, ts, 0)
        if linktype in (0, 108):
            if len(data) < 4:
                self.stats["truncated link header"] += 1
                return None
            fam = int.from_bytes(data[:4], "big" if linktype == 108 or data[0] == 0 == data[1] else "little")
            if fam in (2, 10, 24, 28, 30):  # AF_INET; AF_INET6 on Linux, BSDs, macOS
                return self._ip(data, 4, ts, 0)
            self.non_ip[f"loopback family {fam}"] += 1
            return None
        if linktype in (9, 50):
            off = 2 if data[:2] == b"\xff\x03" else 0
            return self._ppp(data, off, ts)
        if linktype == 51:
            return self._ppp(data, 6, ts)
        self.unknown_linktypes[linktype] += 1
        return None

    def _ppp(self, data: bytes, off: int, ts: float) -> Packet | None:
        proto = data[off] if data[off] & 1 else _u16(data, off)[0]
        off += 1 if data[off] & 1 else 2
        if proto in (0x21, 0x57):
            return self._ip(data, off, ts, 0)
        self.non_ip[f"ppp 0x{proto:04x}"] += 1
        return None

    def _ether(self, data: bytes, off: int, ts: float, depth: int) -> Packet | None:
        if len(data) < off + 14:
            self.stats["truncated link header"] += 1
            return None
        etype = _u16(data, off + 12)[0]
        if etype == ETH_IPV4:  # fast path
            return self._ipv4(data, off + 14, ts, depth)
        return self._ethertype(etype, data, off + 14, ts, depth)

    def _ethertype(self, etype: int, data: bytes, off: int, ts: float, depth: int) -> Packet | None:
        while etype in ETH_VLAN:
            etype = _u16(data, off + 2)[0]
            off += 4
        if etype == ETH_IPV4:
            return self._ipv4(data, off, ts, depth)
        if etype == ETH_IPV6:
            return self._ipv6(data, off, ts, depth)
        if etype == ETH_PPPOE_SESSION:
            return self._ppp(data, off + 6, ts)
        if etype < 0x0600:  # 802.3 length field: LLC, STP and friends
            self.non_ip["802.3/llc"] += 1
        else:
            self.non_ip["arp" if etype == ETH_ARP else f"ethertype 0x{etype:04x}"] += 1
        return None

    # -- network layer ------------------------------------------------------------------------
    def _ip(self, data: bytes, off: int, ts: float, depth: int) -> Packet | None:
        if len(data) <= off:
            self.stats["truncated ip header"] += 1
            return None
        v = data[off] >> 4
        if v == 4:
            return self._ipv4(data, off, ts, depth)
        if v == 6:
            return self._ipv6(data, off, ts, depth)
        self.stats["not ipv4/ipv6"] += 1
        return None

    def _ipv4(self, data: bytes, off: int, ts: float, depth: int) -> Packet | None:
        if len(data) < off + 20:
            self.stats["truncated ip header"] += 1
            return None
        vihl, _, total, ident, frag, _, proto, _, src, dst = _ipv4(data, off)
        ihl = (vihl & 15) * 4
        if vihl >> 4 != 4 or ihl < 20 or total < ihl:
            self.stats["bad ipv4 header"] += 1
            return None
        end = off + total if off + total <= len(data) else len(data)
        l4 = off + ihl
        if frag & 0x3FFF:  # more-fragments or offset: reassemble
            whole = self._defrag((src, dst, ident, proto), (frag & 0x1FFF) * 8, bool(frag & 0x2000), data[l4:end], ts)
            if whole is None:
                return None
            return self._l4(proto, src, dst, whole, 0, ts, total, depth)
        return self._l4(proto, src, dst, data, l4, ts, total, depth, end)

    def _ipv6(self, data: bytes, off: int, ts: float, depth: int) -> Packet | None:
        if len(data) < off + 40:
            self.stats["truncated ip header"] += 1
            return None
        plen = _u16(data, off + 4)[0]
        nxt = data[off + 6]
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        l4 = off + 40
        end = min(len(data), l4 + plen) if plen else len(data)
        for _ in range(8):
            if nxt in IPV6_EXT:
                nxt, hlen = data[l4], (data[l4 + 1] + 1) * 8
            elif nxt == 51:  # AH
                nxt, hlen = data[l4], (data[l4 + 1] + 2) * 4
            elif nxt == 44:  # fragment header
                fo = _u16(data, l4 + 2)[0]
                nxt = data[l4]
                if fo & 0xFFF9:
                    ident = data[l4 + 4 : l4 + 8]
                    whole = self._defrag((src, dst, ident, nxt), fo & 0xFFF8, bool(fo & 1), data[l4 + 8 : end], ts)
                    if whole is None:
                        return None
                    return self._l4(nxt, src, dst, whole, 0, ts, plen + 40, depth)
                hlen = 8
            else:
                break
            l4 += hlen
            if l4 > end:
                self.stats["truncated ipv6 extension header"] += 1
                return None
        return self._l4(nxt, src, dst, data, l4, ts, plen + 40, depth, end)

    def _defrag(self, key: tuple[object, ...], offset: int, more: bool, chunk: bytes, ts: float) -> bytes | None:
        frags = self._frags
        f = frags.get(key)
        if f is None:
            if len(frags) >= FRAG_MAX_PENDING:
                self._expire(ts, force=True)
            f = frags[key] = _Frag(ts)
        if offset + len(chunk) > FRAG_MAX_BYTES:
            self.stats["oversized ip fragment"] += 1
            del frags[key]
            return None
        f.parts.setdefault(offset, chunk)
        if not more:
            f.total = offset + len(chunk)
        if f.total < 0:
            return None
        have = 0
        for o in sorted(f.parts):
            if o > have:
                return None  # still a hole
            have = max(have, o + len(f.parts[o]))
        if have < f.total:
            return None
        del frags[key]
        out = bytearray(f.total)
        for o in sorted(f.parts, reverse=True):  # first copy wins: lowest offset written last
            p = f.parts[o][: f.total - o]
            out[o : o + len(p)] = p
        self.stats["ip datagrams reassembled"] += 1
        return bytes(out)

    def _expire(self, now: float, force: bool = False) -> None:
        """Drop fragment sets older than the timeout; when full, at least the oldest one."""
        old = [k for k, f in self._frags.items() if now - f.ts > FRAG_TIMEOUT]
        if not old and force and self._frags:
            old = [next(iter(self._frags))]
        for k in old:
            del self._frags[k]
        self.stats["ip fragments dropped incomplete"] += len(old)

    # -- transport layer ----------------------------------------------------------------------
    def _l4(
        self, proto: int, src: bytes, dst: bytes, data: bytes, off: int, ts: float, wirelen: int, depth: int,
        end: int = -1,
    ) -> Packet | None:
        if end < 0:
            end = len(data)
        if proto == TCP:
            if end - off < 20:
                self.stats["truncated tcp header"] += 1
                return None
            sport, dport, seq, ack, doff, flags, window = _tcp_head(data, off)
            hl = (doff >> 4) * 4
            if hl < 20:
                self.stats["bad tcp header"] += 1
                return None
            wscale = _window_scale(data, off + 20, min(off + hl, end)) if flags & 0x02 and hl > 20 else -1
            return Packet(ts, src, dst, TCP, sport, dport, flags, seq, data[off + hl : end], wirelen, ack, window,
                          wscale)
        if proto == UDP:
            if end - off < 8:
                self.stats["truncated udp header"] += 1
                return None
            sport, dport = _ports(data, off)
            if dport == VXLAN_PORT and depth < 2 and end - off >= 16 and data[off + 8] & 0x08:
                inner = self._ether(data[off + 16 : end], 0, ts, depth + 1)
                if inner is not None:
                    return inner
            return Packet(ts, src, dst, UDP, sport, dport, 0, 0, data[off + 8 : end], wirelen)
        if proto in (4, 41) and depth < 2 and end > off:  # IP-in-IP, 6in4 (and 4in6, 6in6) tunnels
            inner = self._ip(data[off:end], 0, ts, depth + 1)
            if inner is not None:
                return inner
        if proto == GRE and depth < 2 and end - off >= 4:
            flags, etype = _ports(data, off)
            hl = 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))
            if etype in (ETH_IPV4, ETH_IPV6):
                return self._ip(data[off + hl : end], 0, ts, depth + 1)
            if etype == 0x6558:
                return self._ether(data[off + hl : end], 0, ts, depth + 1)
        if proto in (ICMP, ICMP6):
            t = data[off] if off < end else 0
            c = data[off + 1] if off + 1 < end else 0
            return Packet(ts, src, dst, proto, t, c, 0, 0, data[off + 4 : end], wirelen)
        return Packet(ts, src, dst, proto, 0, 0, 0, 0, data[off:end], wirelen)


class _Frag:
    __slots__ = ("ts", "parts", "total")

    def __init__(self, ts: float) -> None:
        self.ts = ts
        self.parts: dict[int, bytes] = {}
        self.total = -1


def linktype_name(linktype: int) -> str:
    return LINKTYPE_NAMES.get(linktype, f"link type {linktype}")
