"""The Dispatcher: the flow table's sink, fanning flow events out to the analyzers (classifier first)
and their events out to the session. Apart from the analyzers' shared API (netwatch.analyzers) so
that each module holds one thing."""

from __future__ import annotations

from typing import Any

from netwatch.analyzers import (
    HOLD_TOTAL,
    HOLD_UNCLASSIFIED,
    HTTP,
    NOTES,
    Analyzer,
    Emit,
    FlowNotes,
    _settle,
    negotiated,
    notes,
)
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP
from netwatch.protocols.http import HttpPart
from netwatch.protocols.http_stream import HttpConnection


class Dispatcher:
    """FlowSink that fans flow events out to analyzers and their events out to `emit`."""

    def __init__(self, classifier: Analyzer[Any], analyzers: list[Analyzer[Any]], emit: Emit) -> None:
        self.classifier = classifier
        self.analyzers = analyzers
        self.emit = emit
        self.http_readers = [a for a in analyzers if type(a).http is not Analyzer.http]  # they override `http`
        self.rename_readers = [a for a in analyzers if type(a).app_changed is not Analyzer.app_changed]
        self.held_total = 0  # stream bytes held for the classifier over all flows
        # per IP protocol, the analyzers that may want its flows, each with whether it must be asked
        self._starts: dict[int, list[tuple[Analyzer[Any], bool]]] = {}

    def _start_plan(self, proto: int) -> list[tuple[Analyzer[Any], bool]]:
        """The analyzers, in order, that may want a flow of `proto`: those whose `wants` is the base
        class's (the transport alone decides) are in or out once per protocol; an analyzer with its
        own `wants` (it may look at the addresses, or learn something at every start) is asked each time."""
        plan = self._starts.get(proto)
        if plan is None:
            plan = self._starts[proto] = []
            for a in self.analyzers:
                asks = type(a).wants is not Analyzer.wants
                if asks or not a.transports or proto in a.transports:
                    plan.append((a, asks))
        return plan

    def flow_start(self, flow: Flow) -> None:
        plan = self._start_plan(flow.proto)
        if flow.foreign:  # another shard reports this flow; only shared state is learnt here
            flow.active = [a for a, asks in plan if a.shared and (not asks or a.wants(flow))]
        else:
            flow.active = [a for a, asks in plan if not asks or a.wants(flow)]
        notes(flow).wanted = list(flow.active)

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float) -> None:
        n = flow.state.get(NOTES)
        if n is not None and n.unwrap is not None:
            data = n.unwrap(direction, data)
            if not data:
                return
        if (flow.app is None or flow.encrypted is None) and not flow.foreign:
            self.classifier.stream(flow, direction, data, ts, self.emit)
            _settle(flow)
            n = notes(flow)
            if flow.app is None and flow.proto == TCP:  # the classifier waits for more first bytes
                n.held.append((direction, data, ts))
                n.held_bytes += len(data)
                self.held_total += len(data)
                if n.held_bytes <= HOLD_UNCLASSIFIED and self.held_total <= HOLD_TOTAL:
                    return
                self.classifier.conclude(flow)
                _settle(flow)
                data = b""
            if n.held:
                self._release(flow)
            if not data:
                return
        self._deliver(flow, direction, data, ts)

    def _release(self, flow: Flow) -> None:
        """The classifier has spoken: the chunks held for it go to the analyzers, in order."""
        n = notes(flow)
        self.held_total -= n.held_bytes
        held, n.held, n.held_bytes = n.held, [], 0
        for d, chunk, t in held:
            self._deliver(flow, d, chunk, t)

    def _deliver(self, flow: Flow, direction: int, data: bytes, ts: float) -> None:
        parts = self._http_parts(flow, direction, data) if flow.app == "http" else None
        if parts:
            self._stream_http(flow, direction, data, ts, parts)
        else:
            active = list(flow.active)
            for a in active:
                a.stream(flow, direction, data, ts, self.emit)
            if len(flow.active) > len(active) and notes(flow).reopened:  # `reopened` during this chunk
                notes(flow).reopened = False
                for a in [a for a in flow.active if a not in active]:
                    a.stream(flow, direction, data, ts, self.emit)
        self._renamed(flow)
        facts: FlowNotes | None = flow.state.get(NOTES)
        if facts is not None and facts.replay:  # a tunnel opened: its first bytes came with the handshake
            replay, facts.replay = facts.replay, []
            for d, chunk in replay:
                if chunk:
                    self.stream(flow, d, chunk, ts)

    def _stream_http(self, flow: Flow, direction: int, data: bytes, ts: float, parts: list[HttpPart]) -> None:
        """`stream` of an http flow: each analyzer that reads HTTP gets the parts just before the bytes."""
        conn = flow.state.get(HTTP)
        for a in list(flow.active):
            # an analyzer that left the flow, or a tunnel that opened, ends the parts' delivery
            if a in self.http_readers and a in flow.active and flow.state.get(HTTP) is conn:
                for part in parts:
                    a.http(flow, direction, part, ts, self.emit)
            a.stream(flow, direction, data, ts, self.emit)

    def _http_parts(self, flow: Flow, direction: int, data: bytes) -> list[HttpPart] | None:
        """This chunk of an http flow's direction, parsed once for every analyzer that reads HTTP (None: none does)."""
        if not any(a in self.http_readers for a in flow.active):
            flow.state.pop(HTTP, None)
            return None
        conn: HttpConnection | None = flow.state.get(HTTP)
        if conn is None:
            conn = flow.state[HTTP] = HttpConnection()
        parts = conn.feed(direction, data)
        if conn.protocol and flow.how is None:
            negotiated(flow, conn.protocol)  # after a 101: websocket, h2c (the flow_end's `how`)
        return parts

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        self._conclude(flow)
        self.classifier.gap(flow, direction, size)
        conn: HttpConnection | None = flow.state.get(HTTP)
        parts = conn.gap(direction, size) if conn is not None else []  # what the hole cut off, as far as it went
        for a in list(flow.active):
            if parts and a in self.http_readers:
                for part in parts:
                    a.http(flow, direction, part, flow.last_ts, self.emit)
            a.gap(flow, direction, size)

    def variant(self, flow: Flow, direction: int, data: bytes, start: int, end: int, ts: float) -> None:
        n = flow.state.get(NOTES)
        if n is not None and n.unwrap is not None:
            return  # inside TLS records: a differing copy of the records is not their contents
        for a in list(flow.active):
            a.variant(flow, direction, data, start, end, ts, self.emit)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float) -> None:
        if not flow.foreign and (flow.app is None or flow.encrypted is None):
            self.classifier.datagram(flow, direction, data, ts, self.emit)
            _settle(flow)
        emit = self.emit
        for a in list(flow.active):
            a.datagram(flow, direction ^ flow.turned, data, ts, emit)  # turned: the roles swapped just now
        self._renamed(flow)

    def _conclude(self, flow: Flow) -> None:
        """A hole or the end: chunks still held for the classifier are judged now and delivered."""
        n = flow.state.get(NOTES)
        if n is not None and n.held:
            if flow.app is None:
                self.classifier.conclude(flow)
                _settle(flow)
            self._release(flow)

    def flow_end(self, flow: Flow) -> None:
        self._conclude(flow)
        conn: HttpConnection | None = flow.state.get(HTTP)
        ends = conn.eof() if conn is not None else []
        for a in list(flow.active):
            if ends and a in self.http_readers:
                for d, part in ends:
                    a.http(flow, d, part, flow.last_ts, self.emit)
            a.flow_end(flow, self.emit)
        self._renamed(flow)
        self.classifier.flow_end(flow, self.emit)

    def _renamed(self, flow: Flow) -> None:
        """After `app_named`: the analyzers that follow renames hear of it (once per rename)."""
        facts: FlowNotes | None = flow.state.get(NOTES)
        if facts is None or facts.renamed_at is None:
            return
        ts, facts.renamed_at = facts.renamed_at, None
        for a in self.rename_readers:
            if a in facts.wanted:
                a.app_changed(flow, ts, self.emit)
