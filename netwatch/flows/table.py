"""Flow table: packets in, ordered stream data (its `Reassembler`, netwatch.flows.tcp) and datagrams out.

Sans-IO: `FlowTable.process(packet)` updates state and calls the sink (the analyzer dispatcher)
with contiguous stream bytes per direction. State is bounded: idle flows are evicted, and when the
table is full the least recently active flows end early (counted: `cap_evicted`).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from hashlib import blake2b
from typing import Any, Protocol

from netwatch.flows.losses import Losses
from netwatch.flows.tcp import (  # noqa: F401 - flags and caps re-exported for callers and tests
    ACK,
    FIN,
    HOLD_SECONDS,
    OOO_CAP,
    OOO_MAX_SEGMENTS,
    OOO_TOTAL_CAP,
    RST,
    SYN,
    Reassembler,
    TcpStream,
)
from netwatch.packets.decode import PROTO_NAMES, TCP, Packet

IDLE_TCP = 600.0
IDLE_OTHER = 120.0
# A DNS exchange is a query and its answer, and clients take a fresh source port per query (RFC 5452):
# a port-53 UDP flow idle this long is over. Flows of a busy resolver then stay bounded by this window.
IDLE_DNS = 30.0
IDLE_ONE_SIDED = 30.0  # TCP heard from one side only (SYN floods, scans, dead hosts): goes sooner
MAX_FLOWS = 100_000
SWEEP_EVERY = 8192  # packets between idle sweeps...
SWEEP_SECONDS = 2.0  # ...and at least this much capture time (a sweep walks every live flow)
CLOSED_LINGER = 5.0  # a closed flow stays for late ACKs and retransmissions, then ends

C2S, S2C = 0, 1
_pack_ports = struct.Struct("!HH").pack


def flow_key(src: bytes, dst: bytes, sport: int, dport: int) -> bytes:
    """Key of one direction within a protocol's table: addresses then ports, as an IPv4 header
    lays them out (bytes 12-23 from the IP header on), so a fast path can slice it from a frame."""
    return src + dst + _pack_ports(sport, dport)


_ADDR_CACHE: dict[bytes, str] = {}  # a store's few hosts recur in every flow: format each once
_ADDR_CACHE_MAX = 65536


def addr_str(raw: bytes) -> str:
    s = _ADDR_CACHE.get(raw)
    if s is None:
        if len(_ADDR_CACHE) >= _ADDR_CACHE_MAX:
            _ADDR_CACHE.clear()
        s = _ADDR_CACHE[raw] = socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
    return s


class Flow:
    """One conversation. Direction 0 is client → server, 1 is server → client."""

    __slots__ = (
        "client", "server", "client_port", "server_port", "proto", "src", "dst", "proto_name",
        "first_ts", "last_ts", "packets", "bytes", "app", "encrypted", "how", "server_name",
        "inspect", "state", "streams", "closed", "fins", "active", "names", "foreign", "turned", "number",
        "last_frame", "trace",
    )

    def __init__(self, client: bytes, client_port: int, server: bytes, server_port: int, proto: int, ts: float) -> None:
        self.client, self.client_port, self.server, self.server_port = client, client_port, server, server_port
        self.proto = proto
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
        self.foreign = False  # another shard's flow: counted here, analysed there
        self.turned = False  # roles just swapped (`turn`): the table re-keys the flow after this packet
        self.number = 0  # its first frame's number (1-based): names the flow in findings and evidence
        self.last_frame = 0  # its latest frame's number
        self.trace: Any = None  # FlowTrace (netwatch.flows.trace) while evidence is being kept, else None

    def __repr__(self) -> str:
        return f"Flow({self.proto_name} {self.src}:{self.client_port} -> {self.dst}:{self.server_port})"

    def turn(self) -> None:
        """Swap client and server (a datagram flow whose ports named the wrong side the client, shown by a
        handshake); direction 0 is the new client's from the next packet on. Names tied to the old server go."""
        self.client, self.server = self.server, self.client
        self.client_port, self.server_port = self.server_port, self.client_port
        self.src, self.dst = self.dst, self.src
        self.packets.reverse()
        self.bytes.reverse()
        self.streams.reverse()
        self.names = []
        self.turned = True
        if self.trace is not None:  # what evidence recorded so far turns too
            self.trace.turn()


def count(flow: Flow, direction: int, packets: int, nbytes: int, last_ts: float, last_frame: int) -> None:
    """The per-flow counters, for one packet or (from `netwatch.flows.fastpath`) many of one direction.

    The last time is the flow's latest frame's: the fast path counts a block's settled frames per
    key first (both directions of a flow, in either order), then earlier frames may follow."""
    if last_frame >= flow.last_frame:
        flow.last_frame = last_frame
        flow.last_ts = last_ts
    flow.packets[direction] += packets
    flow.bytes[direction] += nbytes


def close_on(flow: Flow, direction: int, fin: bool, rst: bool) -> None:
    """The close rule for a direction that sent FIN and/or RST (one packet, or many at once from the
    fast path): a RST closes the flow, a FIN from both sides does. Only the fast paths use it so far
    (`netwatch.flows.tcp` has its own copy for the segments it reassembles)."""
    if rst:
        flow.closed = True
    elif fin:
        flow.fins |= 1 << direction
        if flow.fins == 3:
            flow.closed = True


def idle_flows(live: dict[Flow, None], now: float) -> list[Flow]:
    """The flows a sweep at `now` ends for idleness, in table order (the compiled core has a copy
    that reads its Flow's C fields: netwatch.flows._core.idle_flows)."""
    closed_before = now - CLOSED_LINGER
    tcp_before = now - IDLE_TCP
    one_sided_before = now - IDLE_ONE_SIDED
    other_before = now - IDLE_OTHER
    dns_before = now - IDLE_DNS
    return [
        f for f in live
        if f.last_ts < (closed_before if f.closed
                        else (dns_before if f.server_port == 53 else other_before) if f.proto != TCP
                        else one_sided_before if not (f.packets[0] and f.packets[1]) else tcp_before)
    ]


class FlowSink(Protocol):
    def flow_start(self, flow: Flow) -> None: ...
    def stream(self, flow: Flow, direction: int, data: bytes, ts: float) -> None: ...
    def gap(self, flow: Flow, direction: int, size: int) -> None: ...
    def variant(self, flow: Flow, direction: int, data: bytes, start: int, end: int, ts: float) -> None: ...
    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float) -> None: ...
    def flow_end(self, flow: Flow) -> None: ...


class FlowTable:
    """Maps packets to flows (both directions stored under their own key) and drives the sink;
    TCP payload goes through the table's `Reassembler` (`tcp`).

    `tables[proto]` maps `flow_key(...)` of each direction to (flow, direction).
    """

    def __init__(self, sink: FlowSink, shard: tuple[int, int] | None = None) -> None:
        self.sink = sink
        # (k, n): this table analyses only the flows whose address pair hashes to k of n; other
        # shards' DNS flows (port 53) still feed the `shared` analyzers (names for every flow).
        self.shard = shard
        self.tables: dict[int, dict[bytes, tuple[Flow, int]]] = {6: {}, 17: {}, 50: {}}
        self.live: dict[Flow, None] = {}  # each live flow once (the table holds two keys per flow)
        self.flows_seen = 0
        self.evicted = 0
        self.losses = Losses()
        self.tcp: Reassembler[Flow] = Reassembler(sink, self.losses)
        self.cap_evicted = 0  # flows ended early because the table was full
        self._since_sweep = 0
        self._last_sweep = float("-inf")
        self.now = 0.0
        self.deferred = False  # True while the fast path has counts pending: no flow may end yet
        self.frame_no = 0  # the frame being processed (1-based), kept by the fast path
        # what `_new` makes: `Flow`, or the compiled core's extension type of it (set by the fast path)
        self.flow_class: type[Flow] = Flow
        self.idle_flows: Callable[[dict[Flow, None], float], list[Flow]] = idle_flows  # the sweep's walk, likewise

    def __len__(self) -> int:
        return len(self.live)

    @property
    def gap_bytes(self) -> int:
        return self.tcp.gap_bytes

    @property
    def pending_total(self) -> int:
        """Out-of-order and held bytes over all flows."""
        return self.tcp.pending_total

    def process(self, p: Packet) -> None:
        table = self.tables.get(p.proto)
        if table is None:
            table = self.tables[p.proto] = {}
        key = p.src + p.dst + _pack_ports(p.sport, p.dport)
        hit = table.get(key)
        ts = p.ts
        if ts > self.now:
            self.now = ts
        if hit is None:
            flow, direction = self._new(p, table, key)
        else:
            flow, direction = hit
            if p.proto == TCP and flow.closed and p.flags & (SYN | ACK) == SYN:  # port reuse
                self._end(flow)
                flow, direction = self._new(p, table, key)
        if p.proto == TCP:
            self.tcp_segment(flow, direction, p.flags, p.seq, p.payload, ts, p.ack, p.window, p.wscale)
        else:
            self.datagram(flow, direction, p.payload, ts)

    def datagram(self, flow: Flow, direction: int, payload: bytes, ts: float) -> None:
        """One UDP (or other non-TCP) packet of a flow already looked up: counters, then the sink.
        The compiled core's block loop has a copy of these steps (netwatch/flows/_core.pyx `_rest`)."""
        if ts > self.now:
            self.now = ts
        if flow.turned:  # turned at its start (flow_start): this first packet already goes the new way
            direction ^= 1
            self._rekey(flow)
        count(flow, direction, 1, len(payload), ts, self.frame_no)
        if payload and flow.inspect:
            self.sink.datagram(flow, direction, payload, ts)
            if flow.turned:  # turned while this packet was read: the counts above turned with the flow
                self._rekey(flow)
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY and not self.deferred:
            self.advance(self.now)

    def _rekey(self, flow: Flow) -> None:
        """After `Flow.turn`: each direction's key maps to the flow with the direction it now has."""
        flow.turned = False
        table = self.tables[flow.proto]
        cp, sp = flow.client_port, flow.server_port
        table[flow.client + flow.server + _pack_ports(cp, sp)] = (flow, 0)
        table[flow.server + flow.client + _pack_ports(sp, cp)] = (flow, 1)

    def tcp_segment(self, flow: Flow, direction: int, flags: int, seq: int, payload: bytes, ts: float,
                    ack: int = 0, window: int = -1, wscale: int = -1) -> None:
        """One TCP segment of a flow already looked up: counters, reassembly, FIN/RST. `window` is
        the header's (-1: not known), `wscale` a SYN's window scale option (-1: none).

        `process` ends here for TCP; `netwatch.flows.fastpath` calls it directly (no SYN, flow known),
        and the compiled core's block loop has a copy of these steps (netwatch/flows/_core.pyx `_rest`)."""
        if ts > self.now:
            self.now = ts
        count(flow, direction, 1, len(payload), ts, self.frame_no)
        if flow.inspect or flags & (SYN | FIN | RST):  # a flow only counted has no stream to follow
            self.tcp.segment(flow, direction, flags, seq, payload, ts, ack, window, wscale)
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY and not self.deferred:
            self.advance(self.now)

    def counted(self, n: int) -> None:
        """`n` packets were counted by the fast path (netwatch.flows.fastpath): they pace the sweeps too."""
        self._since_sweep += n
        if self._since_sweep >= SWEEP_EVERY:
            self.advance(self.now)

    def advance(self, now: float) -> None:
        """Capture time moved on: sweep when due."""
        if now > self.now:
            self.now = now
        self._since_sweep = 0
        if self.now - self._last_sweep >= SWEEP_SECONDS or len(self.live) > MAX_FLOWS:
            self.sweep()

    def _new(self, p: Packet, table: dict[bytes, tuple[Flow, int]], key: bytes) -> tuple[Flow, int]:
        client_is_src = True
        if p.proto == TCP:
            if p.flags & (SYN | ACK) == SYN | ACK:
                client_is_src = False
            elif not p.flags & SYN:
                client_is_src = _client_by_ports(p.sport, p.dport)
        elif p.proto == 17:
            client_is_src = _client_by_ports(p.sport, p.dport)
        if client_is_src:
            flow = self.flow_class(p.src, p.sport, p.dst, p.dport, p.proto, p.ts)
            direction = C2S
        else:
            flow = self.flow_class(p.dst, p.dport, p.src, p.sport, p.proto, p.ts)
            direction = S2C
        flow.number = self.frame_no
        table[key] = (flow, direction)
        table[p.dst + p.src + _pack_ports(p.dport, p.sport)] = (flow, 1 - direction)
        self.live[flow] = None
        if self.shard is not None:
            k, n = self.shard
            if pair_shard(p.src, p.dst, n) != k:
                flow.foreign = True
                if p.sport != 53 and p.dport != 53:
                    flow.inspect = False  # counted only
                    return flow, direction
                # another shard's DNS flow: still fed to the `shared` analyzers (the names it
                # teaches serve this shard's flows), but it reports nothing here
                self.sink.flow_start(flow)
                return flow, direction
        self.flows_seen += 1
        self.sink.flow_start(flow)
        return flow, direction


    def _end(self, flow: Flow) -> None:
        self.tcp.end(flow)
        table = self.tables[flow.proto]
        for key in (flow_key(flow.client, flow.server, flow.client_port, flow.server_port),
                    flow_key(flow.server, flow.client, flow.server_port, flow.client_port)):
            hit = table.get(key)
            if hit is not None and hit[0] is flow:
                del table[key]
        self.live.pop(flow, None)
        if not flow.foreign:
            self.sink.flow_end(flow)

    def sweep(self) -> None:
        """Evict idle and closed flows; when over the flow cap, the least recently active ones."""
        self._since_sweep = 0
        now = self._last_sweep = self.now
        done = self.idle_flows(self.live, now)
        if len(self.live) - len(done) > MAX_FLOWS:
            gone = set(done)
            rest = sorted((f for f in self.live if f not in gone), key=lambda f: f.last_ts)
            cut = rest[: len(rest) - MAX_FLOWS + MAX_FLOWS // 10]
            self.cap_evicted += len(cut)
            done.extend(cut)
        self.tcp.release_stale(now)  # a held start nobody followed up: deliver it
        for f in done:
            self.evicted += 1
            self._end(f)

    def close(self) -> None:
        """End every flow (end of input or interrupt): flushes buffers, emits flow ends."""
        for f in list(self.live):
            self._end(f)


def pair_shard(a: bytes, b: bytes, n: int) -> int:
    """Which of n shards analyses the flows between addresses a and b (packed, either order).

    The unordered address pair, not the 5-tuple: an FTP control and its data connections, a DNS
    answer's client and the flows it names share a pair and so a shard. An unkeyed BLAKE2 digest
    of both full addresses: stable across processes (unlike `hash()`), and it spreads hosts that
    differ in any byte (a store's 10.1.x.5 tills all share their last octet)."""
    lo, hi = (a, b) if a <= b else (b, a)
    return int.from_bytes(blake2b(lo + hi, digest_size=8).digest(), "big") % n


def _client_by_ports(sport: int, dport: int) -> bool:
    """Without a SYN, the side on the lower (more service-like) port is the server."""
    return sport > dport if sport != dport else True
