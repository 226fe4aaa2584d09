"""The scan's hot path: blocks of frames in, capture counters and flow bookkeeping out.

Most packets of a store uplink belong to flows whose verdict is settled (TLS or a VPN after the
handshake, flows of another shard): nothing in their payload can change a finding, so they only
need counting. For each block of frames (`netwatch.capture.blocks`), numpy reads the link, IPv4
and TCP/UDP/ESP headers of every frame at once and groups the frames by flow key; the frames of
flows that no analyzer inspects any more are counted per flow in one step. Only the rest reaches
Python one packet at a time: TCP payload of a known inspected flow goes straight to reassembly,
anything else (new flows, SYNs, IPv6, fragments, other link types) through `Decoder` → `FlowTable`.
Small blocks (a live frame at a time) take that per-packet path for every frame. Both paths keep
the same counters, so an offline scan and a live capture agree on every count.

Within a block, a flow's counters are updated before its other packets are processed, so within
those few thousand frames its `last_ts` is the latest timestamp seen; idle sweeps wait for the end
of the block (`FlowTable.deferred`), so no flow ends while its counted packets are pending.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from netwatch.capture.blocks import FrameBlock, Ints
from netwatch.flows.core import compiled
from netwatch.flows.table import Flow, FlowTable, close_on, count
from netwatch.flows.tcp import FIN, RST, SYN
from netwatch.packets.decode import ESP, TCP, UDP, VXLAN_PORT, Decoder

SMALL = 32  # smaller blocks go packet by packet in the pure core: numpy's per-call cost would dominate
RAW_IP = (12, 14, 101, 228)  # link types whose frames start with the IP header
NO_PORTS = bytes(4)  # ESP flows are keyed by their address pair, ports left 0
U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]


class Headers(NamedTuple):
    """Header fields of every frame of a block; `keyed` frames have a flow key in `inv`."""

    l3: Ints  # offset of the IP header in the frame
    proto: Ints
    flags: Ints  # TCP flags (0 for other protocols)
    seq: Ints
    ack: Ints  # TCP acknowledgment number and window field (the receiver's window, netwatch.flows.tcp)
    window: Ints
    data_at: Ints  # offset of the payload in the frame
    plen: Ints  # payload length (0 if none)
    countable: Bools  # a TCP segment (no SYN), UDP datagram or ESP packet whose header is whole
    keyed: Bools  # countable, or a SYN (which takes its flow off the count-only path for the block)


# big-endian header fields, read through a structured view of the gathered header bytes
LINK = np.dtype({"names": ["sll2", "ether", "sll", "inner"], "formats": [">u2"] * 4,
                 "offsets": [0, 12, 14, 16], "itemsize": 18})
IPV4 = np.dtype({"names": ["vihl", "total", "frag", "proto", "dport", "seq", "ack", "doff", "flags", "window"],
                 "formats": ["u1", ">u2", ">u2", "u1", ">u2", ">u4", ">u4", "u1", "u1", ">u2"],
                 "offsets": [0, 2, 6, 9, 22, 24, 28, 32, 33, 34], "itemsize": 40})


def _gather(raw: U8, at: Ints, width: int) -> U8:
    """`width` bytes from each offset (reads past the buffer are clamped; callers mask them out)."""
    out: U8 = np.take(raw, at[:, None] + np.arange(width), mode="clip")
    return out


def _ip_offset(raw: U8, block: FrameBlock) -> tuple[Ints, Bools]:
    """Where the IPv4 header starts per frame, and which frames carry IPv4 there at all."""
    lt = block.linktype
    head = _gather(raw, block.start, 18).view(LINK).ravel()
    et = head["ether"]
    vlan = et == 0x8100  # one 802.1Q tag; QinQ and others take the full decoder
    ok = np.where(vlan, head["inner"], et) == 0x0800
    l3 = np.where(vlan, 18, 14)
    if lt[0] == 1 and (lt == 1).all():  # the usual capture: Ethernet throughout
        return l3, ok
    ok &= lt == 1
    sll, sll2, raw_ip = lt == 113, lt == 276, np.isin(lt, RAW_IP)
    ok |= (sll & (head["sll"] == 0x0800)) | (sll2 & (head["sll2"] == 0x0800)) | raw_ip
    l3 = np.where(sll, 16, np.where(sll2, 20, np.where(raw_ip, 0, l3)))
    return l3, ok


def headers(raw: U8, block: FrameBlock) -> tuple[Headers, U8]:
    """Decode what the count-only path needs from every frame; also the flow keys' bytes."""
    l3, ok = _ip_offset(raw, block)
    cap = block.caplen
    ip = _gather(raw, block.start + l3, 40)
    f = ip.view(IPV4).ravel()
    total = f["total"].astype(np.int64)
    proto = f["proto"].astype(np.int64)
    doff = f["doff"]
    ok &= (cap >= l3 + 20) & (f["vihl"] == 0x45) & ((f["frag"] & 0x3FFF) == 0) & (total >= 20)
    end = np.minimum(l3 + total, cap)
    tcp = ok & (proto == TCP) & (end >= l3 + 40) & (doff >= 0x50)
    flags = np.where(tcp, f["flags"], 0).astype(np.int64)
    syn = tcp & ((flags & SYN) != 0)
    udp = ok & (proto == UDP) & (end >= l3 + 28) & (f["dport"] != VXLAN_PORT)
    esp = ok & (proto == ESP) & (end >= l3 + 20)
    hl = np.where(tcp, 20 + (doff >> 4).astype(np.int64) * 4, np.where(udp, 28, 20))
    data_at = l3 + hl
    keys = np.empty((len(ip), 13), np.uint8)
    keys[:, 0] = ip[:, 9]
    keys[:, 1:] = ip[:, 12:24]
    keys[esp, 9:] = 0  # ESP flows are keyed by the address pair alone, as the decoder leaves ports 0
    countable = (tcp & ~syn) | udp | esp
    h = Headers(l3, proto, flags, f["seq"].astype(np.int64), f["ack"].astype(np.int64),
                np.where(tcp, f["window"], -1).astype(np.int64), data_at, np.maximum(end - data_at, 0), countable,
                countable | syn)
    return h, keys


class Plan(NamedTuple):
    """Per distinct flow key of a block: its flow and how its frames go."""

    inv: Ints  # per frame: index of its key (valid where `keyed`)
    hits: list[tuple[Flow, int] | None]
    settled: Bools  # its flow no longer inspected, and not restarting in this block: count only


def plan(flows: FlowTable, h: Headers, keys: U8) -> Plan:
    """Look each distinct key up once and say how its frames go."""
    keyed = np.flatnonzero(h.keyed)
    inv = np.zeros(len(h.keyed), np.int64)
    uniq, inv_k = np.unique(keys[keyed].view("V13").ravel(), return_inverse=True)
    inv[keyed] = inv_k.ravel()
    if not len(uniq):
        return Plan(inv, [None], np.zeros(1, np.bool_))
    raw = uniq.tobytes()
    tables = flows.tables
    hits = [tables[raw[i * 13]].get(raw[i * 13 + 1 : i * 13 + 13]) for i in range(len(uniq))]
    restart = _restarts(h, inv, keyed, hits)
    settled = np.array([hit is not None and not hit[0].inspect and id(hit[0]) not in restart for hit in hits],
                       np.bool_)
    return Plan(inv, hits, settled)


def _restarts(h: Headers, inv: Ints, keyed: Ints, hits: list[tuple[Flow, int] | None]) -> set[int]:
    """Flows (by id) that a SYN in this block may end and start anew on the same ports (port reuse
    after a close): they take the full path for the whole block."""
    syn = keyed[~h.countable[keyed]]
    if not len(syn):
        return set()
    closing = np.unique(inv[keyed[(h.flags[keyed] & (FIN | RST)) != 0]]).tolist()
    closes = {id(hit[0]) for u in closing if (hit := hits[u]) is not None}
    return {id(hit[0]) for u in np.unique(inv[syn]).tolist()
            if (hit := hits[u]) is not None and (hit[0].closed or id(hit[0]) in closes)}


class FastPath:
    """Capture counters (packets, bytes, first and last time, current frame) and the block loop."""

    def __init__(self, decoder: Decoder, flows: FlowTable) -> None:
        self.decoder = decoder
        self.flows = flows
        if compiled is not None:  # the compiled core counts in the C fields of its own Flow type
            flows.flow_class = compiled.Flow
            flows.idle_flows = compiled.idle_flows
        self.packets = 0
        self.bytes = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None

    @property
    def frame_no(self) -> int:
        """The packet being processed (1-based): flows and findings name their packets by it."""
        return self.flows.frame_no

    @frame_no.setter
    def frame_no(self, n: int) -> None:
        self.flows.frame_no = n

    def feed(self, block: FrameBlock) -> None:
        """Count the block's frames and run them through the flows."""
        n = block.size
        if not n:
            return
        base = self.packets
        self.packets += n
        self.bytes += int(block.wirelen.sum())
        if self.first_ts is None:
            self.first_ts = float(block.ts[0])
        self.last_ts = float(block.ts[-1])
        try:
            if n < SMALL and compiled is None:
                self._each(block, base)
            else:
                self._vector(block, base)
        finally:
            self.frame_no = base + n

    def _each(self, block: FrameBlock, base: int, rows: Ints | None = None) -> None:
        """The full path, frame by frame: decode, then the flow table."""
        decode, process = self.decoder.decode, self.flows.process
        buf = block.buf
        cols = (block.ts, block.linktype, block.start, block.caplen)
        if rows is None:
            rows = np.arange(block.size)
            lists = [c.tolist() for c in cols]
        else:
            lists = [c[rows].tolist() for c in cols]
        ft = self.flows
        for i, ts, lt, s, c in zip(rows.tolist(), *lists, strict=True):
            ft.frame_no = base + i + 1
            p = decode(lt, buf[s : s + c], ts)
            if p is not None:
                process(p)

    def _vector(self, block: FrameBlock, base: int) -> None:
        if compiled is not None:  # the same steps in C loops (netwatch/flows/_core.pyx)
            compiled.vector(self, block, base)
            return
        raw = np.frombuffer(block.buf, np.uint8)
        h, keys = headers(raw, block)
        pl = plan(self.flows, h, keys)
        bulk = h.countable & pl.settled[pl.inv]
        ft = self.flows
        ft.deferred = True
        try:
            self._count(pl, h, block, bulk, base)
            settled = self._rest(block, base, h, np.flatnonzero(~bulk))
        finally:
            ft.deferred = False
        now = float(block.ts.max())
        if now > ft.now:
            ft.now = now
        ft.counted(int(np.count_nonzero(bulk)) + settled)

    def _count(self, pl: Plan, h: Headers, block: FrameBlock, bulk: Bools, base: int) -> None:
        """Count-only frames: packets, payload bytes, last time, FIN/RST per flow direction at once."""
        if not bulk.any():
            return
        u = pl.inv[bulk]
        size = len(pl.hits)
        packets = np.bincount(u, minlength=size)
        nbytes = np.bincount(u, weights=h.plen[bulk], minlength=size)
        fins = np.bincount(u, weights=h.flags[bulk] & FIN, minlength=size)
        rsts = np.bincount(u, weights=h.flags[bulk] & RST, minlength=size)
        last = np.zeros(size, np.int64)
        np.maximum.at(last, u, np.flatnonzero(bulk))  # each key's last frame: its time is the flow's last
        last_ts = block.ts[last]
        hits = pl.hits
        for k in np.flatnonzero(packets).tolist():
            hit = hits[k]
            assert hit is not None  # count-only keys always have a flow
            flow, d = hit
            count(flow, d, int(packets[k]), int(nbytes[k]), float(last_ts[k]), base + int(last[k]) + 1)
            if fins[k] or rsts[k]:
                close_on(flow, d, bool(fins[k]), bool(rsts[k]))

    def _rest(self, block: FrameBlock, base: int, h: Headers, rows: Ints) -> int:
        """Frames that need Python, in capture order. A TCP segment (no SYN), UDP datagram or ESP
        packet of a flow in the table goes straight to it, with the payload sliced from the header
        fields already read; anything else, or a flow not known yet, takes the full path."""
        ft = self.flows
        tcp_segment, datagram = ft.tcp_segment, ft.datagram
        decode, process, tables = self.decoder.decode, ft.process, ft.tables
        buf = block.buf
        settled = 0
        cols = (block.start, block.caplen, block.linktype, block.ts, h.l3, h.proto, h.data_at, h.plen, h.flags,
                h.seq, h.ack, h.window, h.countable)
        for i, s, c, lt, ts, l3, proto, at, plen, fl, seq, ack, win, countable in zip(
                rows.tolist(), *(col[rows].tolist() for col in cols), strict=True):
            ft.frame_no = n = base + i + 1
            if countable:
                k = s + l3 + 12
                hit = tables[proto].get(buf[k : k + 12] if proto != ESP else buf[k : k + 8] + NO_PORTS)
                if hit is not None:
                    flow = hit[0]
                    if not flow.inspect and not fl & 7:  # settled, no SYN/FIN/RST: count only
                        count(flow, hit[1], 1, plen, ts, n)
                        settled += 1
                        continue
                    payload = buf[s + at : s + at + plen]
                    if proto == TCP:
                        tcp_segment(hit[0], hit[1], fl, seq, payload, ts, ack, win)
                    else:
                        datagram(hit[0], hit[1], payload, ts)
                    continue
            p = decode(lt, buf[s : s + c], ts)
            if p is not None:
                process(p)
        return settled
