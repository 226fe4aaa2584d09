"""Evidence traces: the bytes the reassembler delivered for each flow, kept while `--evidence` is
on, so evidence is cut from the scan's own flows and streams (no second parse, no second reassembly).

`TracingSink` sits between the flow table and the analyzers' dispatcher: every flow of this shard
gets a `FlowTrace` (the bytes delivered per direction up to `MAX_STREAM`, by reference while the
flow lives; holes as zeros; the order deliveries came in; what detections located). A flow is
named by its first frame (`Flow.number`) and ends at its last (`Flow.last_frame`): with its
5-tuple that picks its frames out of the capture again, and each frame's TCP sequence number (or,
for UDP, its place among the datagrams) says where its payload sits in the redacted bytes; so
nothing is recorded per packet. When the flow ends, after the analyzers had their say, the trace
is redacted and kept if `named(number)` (a finding names the flow), held if `maybe(number)` (a
verdict at the end of input may name it), else dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netwatch.events import Location
from netwatch.flows.table import Flow, FlowSink
from netwatch.redaction.streams import redact_flow

MAX_PACKETS = 200  # frames per flow in its evidence
MAX_STREAM = 1 << 20  # stream bytes per direction kept (the frames' payload past it become filler)
MAX_SPANS = 4096  # located detections per flow
M32 = 0xFFFFFFFF


class FlowTrace:
    """One live flow's delivered bytes (TCP: per direction's stream; UDP: its datagrams one after another)."""

    __slots__ = ("chunks", "kept", "sizes", "datagrams", "tcp", "spans", "order", "base")

    def __init__(self, tcp: bool) -> None:
        self.tcp = tcp
        self.chunks: tuple[list[bytes], list[bytes]] = ([], [])  # delivered bytes as they came (joined at the end)
        self.kept = [0, 0]  # bytes in `chunks` per direction
        self.sizes = [0, 0]  # bytes delivered or lost per direction: the offset of the next one
        self.datagrams: list[tuple[int, int, int]] = []  # UDP: direction, offset, length
        self.order: list[tuple[int, int, int]] = []  # TCP: (direction, offset, length) of each delivery, in order
        self.spans: list[Location] = []  # what detections located in this flow
        self.base = [0, 0]  # per direction: the stream offset the analyzers count their locations from

    def rebase(self, after: list[tuple[int, bytes]]) -> None:
        """A proxy tunnel opened (`tunnel_opened`): the analyzers start again at the tunnel's first byte,
        which is each direction's bytes so far less `after` (the tunnel's bytes that came with the handshake)."""
        self.base = [self.sizes[d] - sum(len(b) for dd, b in after if dd == d) for d in (0, 1)]

    def locate(self, span: Location) -> Location:
        """A detection's location, counted from the flow's stream start (not the tunnel's)."""
        base = self.base[span.direction]
        return span._replace(offset=span.offset + base) if base else span

    def turn(self) -> None:
        """The flow's roles swapped (`Flow.turn`): what was recorded per direction swaps with them."""
        self.chunks = (self.chunks[1], self.chunks[0])
        self.kept.reverse()
        self.sizes.reverse()
        self.base.reverse()
        self.datagrams = [(d ^ 1, off, n) for d, off, n in self.datagrams]
        self.order = [(d ^ 1, off, n) for d, off, n in self.order]
        self.spans = [span._replace(direction=span.direction ^ 1) for span in self.spans]

    def data(self, direction: int, data: bytes) -> None:
        if self.kept[direction] < MAX_STREAM:  # the bytes object itself: no copy while the flow lives
            self.chunks[direction].append(data)
            self.kept[direction] += len(data)
        at = self.sizes[direction]
        if self.tcp:
            if len(self.order) < 4 * MAX_PACKETS:
                self.order.append((direction, at, len(data)))
        else:
            self.datagrams.append((direction, at, len(data)))
        self.sizes[direction] = at + len(data)

    def hole(self, direction: int, size: int) -> None:
        room = MAX_STREAM - self.kept[direction]
        if room > 0:
            self.chunks[direction].append(bytes(min(room, size)))
            self.kept[direction] += min(room, size)
        self.sizes[direction] += size

    def stream(self, direction: int) -> bytearray:
        """One direction's kept bytes, joined (holes as zeros), at most MAX_STREAM."""
        return bytearray(b"".join(self.chunks[direction])[:MAX_STREAM])


@dataclass
class EvidenceFlow:
    """A flow a finding names, redacted: its frames are those of its 5-tuple from frame `number` to
    `last`; a TCP frame's payload is `streams[direction][seq - bases[direction]:...]`, a UDP
    datagram's the next `len` bytes of its direction."""

    number: int  # the flow's first frame
    last: int  # its last frame
    proto: int
    client: tuple[bytes, int]  # address, port
    server: tuple[bytes, int]
    bases: tuple[int | None, int | None]  # TCP: the sequence number at offset 0 of each direction
    streams: tuple[bytes, bytes]
    notes: list[str] = field(default_factory=list)  # regions overwritten whole
    app: str | None = None  # what the pipeline found the flow carries


@dataclass
class Ended:
    """What redaction needs of a flow that ended: who it was, what it carried, where its streams began."""

    number: int
    last: int
    proto: int
    client: tuple[bytes, int]
    server: tuple[bytes, int]
    app: str | None
    bases: tuple[int | None, int | None]

    @classmethod
    def of(cls, flow: Flow, trace: FlowTrace) -> Ended:
        bases: list[int | None] = [None, None]
        for d in (0, 1):
            s = flow.streams[d]
            if trace.tcp and s is not None and s.started:
                bases[d] = (s.next_seq - trace.sizes[d]) & M32
        return cls(flow.number, flow.last_frame, flow.proto, (flow.client, flow.client_port),
                   (flow.server, flow.server_port), flow.app, (bases[0], bases[1]))


def finish(flow: Ended, trace: FlowTrace) -> EvidenceFlow:
    """Redact a kept trace."""
    streams = [trace.stream(0), trace.stream(1)]
    notes: list[str] = []
    redact_flow(flow.app, trace.tcp, streams, trace.datagrams, trace.spans, notes, trace.order)
    return EvidenceFlow(flow.number, flow.last, flow.proto, flow.client, flow.server, flow.bases,
                        (bytes(streams[0]), bytes(streams[1])), sorted(set(notes)), flow.app)


class TracingSink:
    """The dispatcher's stand-in while evidence is kept: records, then passes everything on."""

    def __init__(self, inner: FlowSink, named: Callable[[int], bool], maybe: Callable[[int], bool],
                 max_flows: int = 4000, max_pending: int = 1000) -> None:
        self.inner = inner
        self.named, self.maybe = named, maybe
        self.kept: dict[int, EvidenceFlow] = {}  # by the flow's first frame number
        self.pending: dict[int, tuple[Ended, FlowTrace]] = {}
        self.live: dict[int, FlowTrace] = {}  # the traces of live flows, by first frame number
        self.max_flows, self.max_pending = max_flows, max_pending

    def settle(self, named: set[int]) -> None:
        """End of input: the held traces that findings now name are redacted and kept, the rest dropped."""
        for number, (ended, trace) in self.pending.items():
            if number in named and len(self.kept) < self.max_flows:
                self.kept[number] = finish(ended, trace)
        self.pending = {}

    def located(self, number: int, span: Location) -> None:
        """A detection in a live flow said where it stands: its evidence overwrites exactly that."""
        trace = self.live.get(number)
        if trace is not None and len(trace.spans) < MAX_SPANS:
            trace.spans.append(trace.locate(span))

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
        if trace is None:
            return
        if self.live.get(flow.number) is trace:
            del self.live[flow.number]
        if self.named(flow.number):
            if len(self.kept) < self.max_flows:
                self.kept[flow.number] = finish(Ended.of(flow, trace), trace)
        elif len(self.pending) < self.max_pending and self.maybe(flow.number):
            self.pending[flow.number] = (Ended.of(flow, trace), trace)

    def __getattr__(self, name: str) -> Any:  # anything else the table asks of its sink
        return getattr(self.inner, name)
