"""Flow table and TCP reassembly: packets in, ordered stream data and datagrams out.

Sans-IO: `FlowTable.process(packet)` updates state and calls the sink (the analyzer dispatcher)
with contiguous stream bytes per direction. State is bounded: idle flows are evicted, per-direction
out-of-order buffers are capped (the overflow is skipped with a gap the sink is told about).
"""

from __future__ import annotations

import socket
from typing import Any, Protocol

from netwatch.decode import PROTO_NAMES, TCP, Packet

SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10
OOO_CAP = 256 * 1024  # bytes held out of order per direction before a gap is declared
IDLE_TCP = 600.0
IDLE_OTHER = 120.0
MAX_FLOWS = 200_000
SWEEP_EVERY = 8192  # packets between idle sweeps

C2S, S2C = 0, 1


def addr_str(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


class Flow:
    """One conversation. Direction 0 is client → server, 1 is server → client."""

    __slots__ = (
        "client", "server", "cport", "sport", "proto", "src", "dst", "proto_name",
        "first_ts", "last_ts", "packets", "bytes", "app", "encrypted", "how", "server_name",
        "inspect", "state", "streams", "closed", "fins", "active", "names",
    )

    def __init__(self, client: bytes, cport: int, server: bytes, sport: int, proto: int, ts: float) -> None:
        self.client, self.cport, self.server, self.sport, self.proto = client, cport, server, sport, proto
        self.src = addr_str(client)
        self.dst = addr_str(server)
        self.proto_name = PROTO_NAMES.get(proto, str(proto))
        self.first_ts = self.last_ts = ts
        self.packets = [0, 0]
        self.bytes = [0, 0]  # payload bytes per direction
        self.app: str | None = None
        self.encrypted: bool | None = None
        self.how: str | None = None
        self.server_name: str | None = None
        self.inspect = True  # False once no analyzer wants more payload: only counting goes on
        self.state: dict[str, Any] = {}  # per-analyzer scratch space
        self.streams: list[TcpStream | None] = [None, None]
        self.closed = False
        self.fins = 0
        self.active: list[Any] = []  # analyzers still interested (managed by the dispatcher)
        self.names: list[str] = []  # hostnames the capture tied to the server (DNS, SNI, Host)

    @property
    def dport(self) -> int:
        return self.sport

    def __repr__(self) -> str:
        return f"Flow({self.proto_name} {self.src}:{self.cport} -> {self.dst}:{self.sport})"


class FlowSink(Protocol):
    def flow_start(self, flow: Flow) -> None: ...
    def stream(self, flow: Flow, direction: int, data: bytes, ts: float) -> None: ...
    def gap(self, flow: Flow, direction: int, size: int) -> None: ...
    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float) -> None: ...
    def flow_end(self, flow: Flow) -> None: ...


class TcpStream:
    """Reassembly of one direction: first copy of any byte wins, out-of-order held up to a cap."""

    __slots__ = ("next_seq", "pending", "pending_bytes", "gaps", "retransmits", "started")

    def __init__(self) -> None:
        self.next_seq = -1  # unknown until the SYN or first data segment
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.gaps = 0
        self.retransmits = 0
        self.started = False  # True once the initial sequence number is known


class FlowTable:
    """Maps packets to flows (both directions stored under their own key) and drives the sink."""

    def __init__(self, sink: FlowSink) -> None:
        self.sink = sink
        self.table: dict[tuple, tuple[Flow, int]] = {}
        self.flows_seen = 0
        self.evicted = 0
        self.gap_bytes = 0
        self._since_sweep = 0
        self.now = 0.0

    def __len__(self) -> int:
        return len(self.table) // 2

    def process(self, p: Packet) -> None:
        key = (p.src, p.sport, p.dst, p.dport, p.proto)
        hit = self.table.get(key)
        ts = p.ts
        if ts > self.now:
            self.now = ts
        if hit is None:
            flow, direction = self._new(p, key)
        else:
            flow, direction = hit
            if p.proto == TCP and flow.closed and p.flags & (SYN | ACK) == SYN:  # port reuse
                self._end(flow)
                flow, direction = self._new(p, key)
        flow.last_ts = ts
        flow.packets[direction] += 1
        payload = p.payload
        flow.bytes[direction] += len(payload)
        if p.proto == TCP:
            self._tcp(flow, direction, p, payload)
        elif payload and flow.inspect:
            self.sink.datagram(flow, direction, payload, ts)
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self.sweep()

    def _new(self, p: Packet, key: tuple) -> tuple[Flow, int]:
        client_is_src = True
        if p.proto == TCP:
            if p.flags & (SYN | ACK) == SYN | ACK:
                client_is_src = False
            elif not p.flags & SYN:
                client_is_src = _client_by_ports(p.sport, p.dport)
        elif p.proto == 17:
            client_is_src = _client_by_ports(p.sport, p.dport)
        if client_is_src:
            flow = Flow(p.src, p.sport, p.dst, p.dport, p.proto, p.ts)
            direction = C2S
        else:
            flow = Flow(p.dst, p.dport, p.src, p.sport, p.proto, p.ts)
            direction = S2C
        self.table[key] = (flow, direction)
        self.table[(p.dst, p.dport, p.src, p.sport, p.proto)] = (flow, 1 - direction)
        self.flows_seen += 1
        self.sink.flow_start(flow)
        return flow, direction

    def _tcp(self, flow: Flow, direction: int, p: Packet, payload: bytes) -> None:
        flags = p.flags
        s = flow.streams[direction]
        if s is None:
            s = flow.streams[direction] = TcpStream()
        if flags & SYN:
            if not s.started:
                s.next_seq = (p.seq + 1) & 0xFFFFFFFF
                s.started = True
            payload = payload  # data on SYN (TFO) is counted, rarely present
        if payload and flow.inspect:
            seq = (p.seq + (1 if flags & SYN else 0)) & 0xFFFFFFFF
            self._segment(flow, direction, s, seq, payload, p.ts)
        if flags & RST:
            flow.closed = True
        elif flags & FIN:
            flow.fins |= 1 << direction
            if flow.fins == 3:
                flow.closed = True

    def _segment(self, flow: Flow, direction: int, s: TcpStream, seq: int, data: bytes, ts: float) -> None:
        if not s.started:  # capture began mid-connection: take the first data seen as the start
            s.next_seq = seq
            s.started = True
        delta = (seq - s.next_seq) & 0xFFFFFFFF
        if delta >= 0x80000000:  # starts before what was delivered: retransmit or overlap
            old = 0x100000000 - delta
            if old >= len(data):
                s.retransmits += 1
                return
            data = data[old:]
            delta = 0
        if delta:
            if seq not in s.pending or len(s.pending[seq]) < len(data):
                s.pending_bytes += len(data) - len(s.pending.get(seq, b""))
                s.pending[seq] = data
            if s.pending_bytes > OOO_CAP:
                self._skip_gap(flow, direction, s, ts)
            return
        self.sink.stream(flow, direction, data, ts)
        s.next_seq = (s.next_seq + len(data)) & 0xFFFFFFFF
        if s.pending:
            self._drain(flow, direction, s, ts)

    def _drain(self, flow: Flow, direction: int, s: TcpStream, ts: float) -> None:
        """Deliver buffered segments that have become contiguous; drop ones now fully old."""
        while s.pending and flow.inspect:
            best = None
            for seq in list(s.pending):
                delta = (seq - s.next_seq) & 0xFFFFFFFF
                if delta >= 0x80000000 or delta == 0:
                    seg = s.pending.pop(seq)
                    s.pending_bytes -= len(seg)
                    old = (0x100000000 - delta) & 0xFFFFFFFF
                    if old < len(seg):
                        best = seg[old:] if best is None or len(seg) - old > len(best) else best
            if best is None:
                return
            self.sink.stream(flow, direction, best, ts)
            s.next_seq = (s.next_seq + len(best)) & 0xFFFFFFFF

    def _skip_gap(self, flow: Flow, direction: int, s: TcpStream, ts: float) -> None:
        """Buffer cap hit: give up on the missing bytes and continue at the lowest held segment."""
        first = min(s.pending, key=lambda q: (q - s.next_seq) & 0xFFFFFFFF)
        size = (first - s.next_seq) & 0xFFFFFFFF
        s.gaps += 1
        self.gap_bytes += size
        self.sink.gap(flow, direction, size)
        s.next_seq = first
        self._drain(flow, direction, s, ts)

    def _flush(self, flow: Flow) -> None:
        """At the end of a flow, deliver what is still held, skipping the holes."""
        for direction, s in enumerate(flow.streams):
            while s is not None and s.pending and flow.inspect:
                self._skip_gap(flow, direction, s, flow.last_ts)

    def _end(self, flow: Flow) -> None:
        self._flush(flow)
        for key, (f, _d) in list(self._keys(flow)):
            if self.table.get(key, (None,))[0] is f:
                del self.table[key]
        self.sink.flow_end(flow)

    @staticmethod
    def _keys(flow: Flow) -> list[tuple[tuple, tuple[Flow, int]]]:
        a = (flow.client, flow.cport, flow.server, flow.sport, flow.proto)
        b = (flow.server, flow.sport, flow.client, flow.cport, flow.proto)
        return [(a, (flow, C2S)), (b, (flow, S2C))]

    def sweep(self) -> None:
        """Evict idle and closed flows; when over the flow cap, the least recently active ones."""
        self._since_sweep = 0
        now = self.now
        done = []
        for _key, (f, d) in self.table.items():
            if d == C2S and (
                (f.closed and now - f.last_ts > 5.0)
                or now - f.last_ts > (IDLE_TCP if f.proto == TCP else IDLE_OTHER)
            ):
                done.append(f)
        if len(self.table) // 2 - len(done) > MAX_FLOWS:
            live = sorted((f for f, d in self.table.values() if d == C2S), key=lambda f: f.last_ts)
            done.extend(live[: len(live) - MAX_FLOWS + MAX_FLOWS // 10])
        for f in dict.fromkeys(done):
            self.evicted += 1
            self._end(f)

    def close(self) -> None:
        """End every flow (end of input or interrupt): flushes buffers, emits flow ends."""
        for f, d in list(self.table.values()):
            if d == C2S and self.table.get((f.client, f.cport, f.server, f.sport, f.proto), (None,))[0] is f:
                self._end(f)


def _client_by_ports(sport: int, dport: int) -> bool:
    """Without a SYN, the side on the lower (more service-like) port is the server."""
    return sport > dport if sport != dport else True
