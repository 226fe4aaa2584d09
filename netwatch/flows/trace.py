"""Evidence traces: which frames carried a flow and the stream bytes the reassembler delivered, kept
while `--evidence` is on, so evidence is cut from the scan's own flows and streams (no second parse).

`TracingSink` sits between the flow table and the analyzers' dispatcher: every flow of this shard
gets a `FlowTrace` (its first `MAX_PACKETS` frames by number, direction and sequence number; the
bytes delivered per direction up to `MAX_STREAM`, holes as zeros). When the flow ends, after the
analyzers had their say, the trace is kept only if `keep(flow)` (a finding names the flow): it is
redacted at once (`netwatch.redaction.streams`) and becomes a picklable `EvidenceFlow` (the redacted
bytes and where each frame's payload sits in them); the unredacted copy is dropped either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netwatch.events import Location
from netwatch.flows.table import Flow, FlowSink
from netwatch.flows.tcp import SYN
from netwatch.redaction.streams import redact_flow

MAX_PACKETS = 200  # frames per flow in its evidence
MAX_STREAM = 1 << 20  # stream bytes per direction kept (the frames' payload past it become filler)
MAX_SPANS = 4096  # located detections per flow
M32 = 0xFFFFFFFF


class FlowTrace:
    """One live flow's frames and delivered bytes (TCP: per direction's stream; UDP: datagrams joined)."""

    __slots__ = ("packets", "streams", "sizes", "datagrams", "tcp", "spans")

    def __init__(self, tcp: bool) -> None:
        self.tcp = tcp
        self.packets: list[tuple[int, int, int, int]] = []  # frame number, direction, TCP seq (UDP: offset), size
        self.streams = (bytearray(), bytearray())
        self.sizes = [0, 0]  # bytes delivered or lost per direction: the offset of the next one
        self.datagrams: list[tuple[int, int, int]] = []  # UDP: direction, offset, length
        self.spans: list[Location] = []  # what detections located in this flow

    def room(self) -> bool:
        return len(self.packets) < MAX_PACKETS

    def packet(self, number: int, direction: int, seq: int, flags: int, size: int) -> None:
        if len(self.packets) < MAX_PACKETS:
            if not self.tcp:
                seq = self.sizes[direction]
            elif flags & SYN:
                seq = (seq + 1) & M32  # data on a SYN starts after it
            self.packets.append((number, direction, seq, size))

    def data(self, direction: int, data: bytes) -> None:
        buf = self.streams[direction]
        room = MAX_STREAM - len(buf)
        if room > 0:
            buf += data[:room]
        if not self.tcp:
            self.datagrams.append((direction, self.sizes[direction], len(data)))
        self.sizes[direction] += len(data)

    def hole(self, direction: int, size: int) -> None:
        buf = self.streams[direction]
        room = MAX_STREAM - len(buf)
        if room > 0:
            buf += bytes(min(room, size))
        self.sizes[direction] += size


@dataclass
class EvidenceFlow:
    """A flow a finding names, redacted: each frame's payload is `streams[direction][offset:...]`."""

    number: int  # the flow's first frame
    proto: int
    client: tuple[bytes, int]  # address, port
    server: tuple[bytes, int]
    packets: list[tuple[int, int, int]]  # frame number, direction, payload offset in its stream
    streams: tuple[bytes, bytes]
    notes: list[str] = field(default_factory=list)  # regions overwritten whole
    app: str | None = None  # what the pipeline found the flow carries


def finish(flow: Flow, trace: FlowTrace) -> EvidenceFlow:
    """Redact a kept trace and place each frame's payload in the redacted bytes."""
    streams = [trace.streams[0], trace.streams[1]]
    packets = sorted((number, d, pos) for number, d, pos, _n in trace.packets)
    if trace.tcp:
        bases = []
        for d in (0, 1):
            s = flow.streams[d]
            bases.append((s.next_seq - trace.sizes[d]) & M32 if s is not None and s.started else None)
        packets = []
        for number, d, seq, _n in sorted(trace.packets):
            base = bases[d]
            off = -(1 << 40) if base is None else ((seq - base + 0x80000000) & M32) - 0x80000000
            packets.append((number, d, off))
    sizes = {number: n for number, _d, _p, n in trace.packets}
    order = [(d, off, sizes[number]) for number, d, off in packets if sizes[number] and off >= 0]
    notes: list[str] = []
    redact_flow(flow.app, trace.tcp, streams, trace.datagrams, trace.spans, notes, order)
    return EvidenceFlow(flow.number, flow.proto, (flow.client, flow.client_port), (flow.server, flow.server_port),
                        packets, (bytes(streams[0]), bytes(streams[1])), sorted(set(notes)), flow.app)


class TracingSink:
    """The dispatcher's stand-in while evidence is kept: records, then passes everything on."""

    def __init__(self, inner: FlowSink, keep: Callable[[Flow], bool], max_flows: int = 4000) -> None:
        self.inner = inner
        self.keep = keep
        self.kept: dict[int, EvidenceFlow] = {}  # by the flow's first frame number
        self.live: dict[int, FlowTrace] = {}  # the traces of live flows, by first frame number
        self.max_flows = max_flows

    def located(self, number: int, span: Location) -> None:
        """A detection in a live flow said where it stands: its evidence overwrites exactly that."""
        trace = self.live.get(number)
        if trace is not None and len(trace.spans) < MAX_SPANS:
            trace.spans.append(span)

    def flow_start(self, flow: Flow) -> None:
        if not flow.foreign:
            flow.trace = self.live[flow.number] = FlowTrace(flow.proto == 6)
        self.inner.flow_start(flow)

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float) -> None:
        if flow.trace is not None:
            flow.trace.data(direction, data)
        self.inner.stream(flow, direction, data, ts)

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        if flow.trace is not None:
            flow.trace.hole(direction, size)
        self.inner.gap(flow, direction, size)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float) -> None:
        if flow.trace is not None:
            flow.trace.data(direction, data)
        self.inner.datagram(flow, direction, data, ts)

    def flow_end(self, flow: Flow) -> None:
        self.inner.flow_end(flow)
        trace, flow.trace = flow.trace, None
        if trace is not None and self.live.get(flow.number) is trace:
            del self.live[flow.number]
        if trace is not None and len(self.kept) < self.max_flows and self.keep(flow):
            self.kept[flow.number] = finish(flow, trace)

    def __getattr__(self, name: str) -> Any:  # anything else the table asks of its sink
        return getattr(self.inner, name)
