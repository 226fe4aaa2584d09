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

    __slots__ = ("packets", "streams", "sizes", "datagrams", "tcp", "spans", "counted", "n", "base")

    def __init__(self, tcp: bool) -> None:
        self.tcp = tcp
        self.packets: list[tuple[int, int, int, int]] = []  # frame number, direction, TCP seq (UDP: offset), size
        self.streams = (bytearray(), bytearray())
        self.sizes = [0, 0]  # bytes delivered or lost per direction: the offset of the next one
        self.datagrams: list[tuple[int, int, int]] = []  # UDP: direction, offset, length
        self.spans: list[Location] = []  # what detections located in this flow
        self.counted: list[tuple[Any, int, Any, Any]] = []  # the fast path's frames: numbers, direction, seqs, sizes
        self.n = 0  # frames recorded
        self.base = [0, 0]  # per direction: the stream offset the analyzers count their locations from

    def rebase(self, after: list[tuple[int, bytes]]) -> None:
        """A proxy tunnel opened (`tunnel_opened`): the analyzers start again at the tunnel's first byte,
        which is each direction's bytes so far less `after` (the tunnel's bytes that came with the handshake)."""
        self.base = [self.sizes[d] - sum(len(b) for dd, b in after if dd == d) for d in (0, 1)]

    def locate(self, span: Location) -> Location:
        """A detection's location, counted from the flow's stream start (not the tunnel's)."""
        base = self.base[span.direction]
        return span._replace(offset=span.offset + base) if base else span

    def room(self) -> int:
        """How many more frames the trace takes."""
        return MAX_PACKETS - self.n

    def packet(self, number: int, direction: int, seq: int, flags: int, size: int) -> None:
        if self.n < MAX_PACKETS:
            if not self.tcp:
                seq = self.sizes[direction]
            elif flags & SYN:
                seq = (seq + 1) & M32  # data on a SYN starts after it
            self.packets.append((number, direction, seq, size))
            self.n += 1

    def turn(self) -> None:
        """The flow's roles swapped (`Flow.turn`): what was recorded per direction swaps with them."""
        self.packets = [(n, d ^ 1, seq, size) for n, d, seq, size in self.packets]
        self.streams = (self.streams[1], self.streams[0])
        self.sizes.reverse()
        self.base.reverse()
        self.datagrams = [(d ^ 1, off, n) for d, off, n in self.datagrams]
        self.counted = [(n, d ^ 1, seqs, sizes) for n, d, seqs, sizes in self.counted]
        self.spans = [span._replace(direction=span.direction ^ 1) for span in self.spans]

    def counted_frames(self, numbers: Any, direction: int, seqs: Any, sizes: Any) -> None:
        """Frames the fast path only counted (no SYN among them), as arrays, up to the bound."""
        take = min(len(numbers), MAX_PACKETS - self.n)
        if take > 0:
            self.counted.append((numbers[:take], direction, seqs[:take], sizes[:take]))
            self.n += take

    def all_packets(self) -> list[tuple[int, int, int, int]]:
        """Every frame recorded, in frame order."""
        out = list(self.packets)
        for numbers, d, seqs, sizes in self.counted:
            if not self.tcp:  # a counted datagram was not delivered: no offset in the kept bytes
                seqs = [1 << 40] * len(numbers)
            out.extend(zip(numbers.tolist(), [d] * len(numbers), list(seqs), sizes.tolist(), strict=True))
        return sorted(out)

    def data(self, direction: int, data: bytes) -> None:
        buf = self.streams[direction]
        room = MAX_STREAM - len(buf)
        if room >= len(data):
            buf += data
        elif room > 0:
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


@dataclass
class Ended:
    """What redaction needs of a flow that ended: who it was, what it carried, where its streams began."""

    number: int
    proto: int
    client: tuple[bytes, int]
    server: tuple[bytes, int]
    app: str | None
    bases: tuple[int | None, int | None]  # TCP: the sequence number of each stream's offset 0

    @classmethod
    def of(cls, flow: Flow, trace: FlowTrace) -> Ended:
        bases: list[int | None] = [None, None]
        for d in (0, 1):
            s = flow.streams[d]
            if trace.tcp and s is not None and s.started:
                bases[d] = (s.next_seq - trace.sizes[d]) & M32
        return cls(flow.number, flow.proto, (flow.client, flow.client_port), (flow.server, flow.server_port),
                   flow.app, (bases[0], bases[1]))


def finish(flow: Ended, trace: FlowTrace) -> EvidenceFlow:
    """Redact a kept trace and place each frame's payload in the redacted bytes."""
    streams = [trace.streams[0], trace.streams[1]]
    recorded = trace.all_packets()
    packets = [(number, d, pos) for number, d, pos, _n in recorded]
    if trace.tcp:
        packets = []
        for number, d, seq, _n in recorded:
            base = flow.bases[d]
            off = -(1 << 40) if base is None else ((seq - base + 0x80000000) & M32) - 0x80000000
            packets.append((number, d, off))
    sizes = {number: n for number, _d, _p, n in recorded}
    order = [(d, off, sizes[number]) for number, d, off in packets if sizes[number] and off >= 0]
    notes: list[str] = []
    redact_flow(flow.app, trace.tcp, streams, trace.datagrams, trace.spans, notes, order)
    return EvidenceFlow(flow.number, flow.proto, flow.client, flow.server, packets,
                        (bytes(streams[0]), bytes(streams[1])), sorted(set(notes)), flow.app)


class TracingSink:
    """The dispatcher's stand-in while evidence is kept: records, then passes everything on.

    At a flow's end its trace is redacted and kept when `named(number)` (a finding names it), held
    unredacted when `maybe(number)` (a verdict at the end of input may name it: `settle` decides),
    else dropped."""

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
        if trace is not None and self.live.get(flow.number) is trace:
            del self.live[flow.number]
        if trace is None:
            return
        if self.named(flow.number):
            if len(self.kept) < self.max_flows:
                self.kept[flow.number] = finish(Ended.of(flow, trace), trace)
        elif len(self.pending) < self.max_pending and self.maybe(flow.number):
            self.pending[flow.number] = (Ended.of(flow, trace), trace)

    def __getattr__(self, name: str) -> Any:  # anything else the table asks of its sink
        return getattr(self.inner, name)
