"""Helpers for building scenario captures with scapy: deterministic TCP/UDP conversations.

Scenario modules (`captures/scenarios_*.py`) define `SCENARIOS: dict[name, () -> list[packet]]`;
`make_captures.py` writes each as `captures/NAME.pcap`. Timestamps are fixed, so files are
byte-identical from run to run.
"""

from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Packet, Raw

T0 = 1_700_000_000.0
MAC_C = "02:00:00:00:00:01"
MAC_S = "02:00:00:00:00:02"


class Clock:
    """Deterministic timestamps: each packet 10 ms after the previous one."""

    def __init__(self, start: float = T0, step: float = 0.01) -> None:
        self.t = start
        self.step = step

    def __call__(self) -> float:
        self.t = round(self.t + self.step, 6)
        return self.t


def _l3(src: str, dst: str, vlan: int | None) -> Packet:
    eth = Ether(src=MAC_C, dst=MAC_S)
    if vlan is not None:
        eth = eth / Dot1Q(vlan=vlan)
    return eth / (IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst))


class TcpConversation:
    """A TCP connection with handshake; `send(dir, data)` adds one segment; `close()` the FINs."""

    def __init__(self, client: str, server: str, cport: int, sport: int, clock: Clock,
                 vlan: int | None = None, isn: tuple[int, int] = (1000, 900000), handshake: bool = True) -> None:
        self.c, self.s, self.cp, self.sp = client, server, cport, sport
        self.clock, self.vlan = clock, vlan
        self.seq = [isn[0], isn[1]]
        self.packets: list[Packet] = []
        if handshake:
            self._pkt(0, "S", b"")
            self.seq[0] += 1
            self._pkt(1, "SA", b"")
            self.seq[1] += 1
            self._pkt(0, "A", b"")

    def _pkt(self, d: int, flags: str, data: bytes, seq: int | None = None) -> Packet:
        src, dst, sp, dp = (self.c, self.s, self.cp, self.sp) if d == 0 else (self.s, self.c, self.sp, self.cp)
        p = _l3(src, dst, self.vlan) / TCP(sport=sp, dport=dp, flags=flags,
                                           seq=self.seq[d] if seq is None else seq, ack=self.seq[1 - d])
        if data:
            p = p / Raw(data)
        p.time = self.clock()
        self.packets.append(p)
        return p

    def send(self, d: int, data: bytes, mss: int = 1400) -> None:
        """Data from client (d=0) or server (d=1), cut into segments of at most `mss` bytes."""
        for i in range(0, len(data), mss):
            chunk = data[i : i + mss]
            self._pkt(d, "PA", chunk)
            self.seq[d] += len(chunk)

    def segments(self, d: int, data: bytes, cuts: list[int], order: list[int], retransmit: int | None = None) -> None:
        """Send `data` cut at `cuts`, the pieces in `order`, optionally repeating piece `retransmit`."""
        bounds = [0, *cuts, len(data)]
        pieces = [(bounds[i], data[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]
        base = self.seq[d]
        for i in order:
            off, chunk = pieces[i]
            self._pkt(d, "PA", chunk, seq=base + off)
        if retransmit is not None:
            off, chunk = pieces[retransmit]
            self._pkt(d, "PA", chunk, seq=base + off)
        self.seq[d] += len(data)

    def close(self) -> None:
        self._pkt(0, "FA", b"")
        self.seq[0] += 1
        self._pkt(1, "FA", b"")
        self.seq[1] += 1
        self._pkt(0, "A", b"")


def udp(src: str, dst: str, sport: int, dport: int, data: bytes, clock: Clock, vlan: int | None = None) -> Packet:
    p = _l3(src, dst, vlan) / UDP(sport=sport, dport=dport) / Raw(data)
    p.time = clock()
    return p
