"""Analyzers: sans-IO consumers of stream data and datagrams that state facts (events).

Analyzers never decide severity; the rules do. Each analyzer is one concern. The `Dispatcher` is
the flow table's sink: it runs `classify` first and then the others, and drops content analyzers
from a flow once it is known to be encrypted, so protected traffic is counted, not scanned.
"""

from __future__ import annotations

from collections.abc import Callable

from netwatch.events import Event
from netwatch.flows import Flow

Emit = Callable[[Event], None]  # events are typed and hold a snapshot of the flow (netwatch.events)


class Analyzer:
    """Base class; override what the analyzer needs. `plaintext_only` analyzers skip encrypted flows."""

    name = "analyzer"
    plaintext_only = True
    shared = False  # True: its state serves every flow, so it also runs on other shards' DNS flows

    def wants(self, flow: Flow) -> bool:
        """Called at flow start: False keeps the analyzer off this flow entirely."""
        return True

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        """Contiguous TCP bytes of one direction, in order."""

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        """`size` bytes of a direction were lost; stream state across the hole is invalid."""

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        """One UDP (or other non-TCP) payload."""

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        """The flow ended (closed, idle, or end of input)."""


class Dispatcher:
    """FlowSink that fans flow events out to analyzers and their events out to `emit`."""

    def __init__(self, classifier: Analyzer, analyzers: list[Analyzer], emit: Emit) -> None:
        self.classifier = classifier
        self.analyzers = analyzers
        self.emit = emit

    def flow_start(self, flow: Flow) -> None:
        if flow.foreign:  # another shard reports this flow; only shared state is learnt here
            flow.active = [a for a in self.analyzers if a.shared and a.wants(flow)]
            return
        flow.active = [a for a in self.analyzers if a.wants(flow)]

    def _after_classify(self, flow: Flow) -> None:
        if flow.encrypted:
            flow.active = [a for a in flow.active if not a.plaintext_only]
        if not flow.active and flow.app is not None:
            flow.inspect = False  # nothing left to learn from payload: count only

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float) -> None:
        emit = self.emit
        if (flow.app is None or flow.encrypted is None) and not flow.foreign:
            self.classifier.stream(flow, direction, data, ts, emit)
            self._after_classify(flow)
        for a in list(flow.active):
            a.stream(flow, direction, data, ts, emit)

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        self.classifier.gap(flow, direction, size)
        for a in flow.active:
            a.gap(flow, direction, size)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float) -> None:
        emit = self.emit
        if (flow.app is None or flow.encrypted is None) and not flow.foreign:
            self.classifier.datagram(flow, direction, data, ts, emit)
            self._after_classify(flow)
        for a in list(flow.active):
            a.datagram(flow, direction, data, ts, emit)

    def flow_end(self, flow: Flow) -> None:
        for a in flow.active:
            a.flow_end(flow, self.emit)
        self.classifier.flow_end(flow, self.emit)


def deactivate(flow: Flow, analyzer: Analyzer) -> None:
    """An analyzer is done with a flow (e.g. TLS after the handshake)."""
    if analyzer in flow.active:
        flow.active.remove(analyzer)
    if not flow.active and flow.app is not None:
        flow.inspect = False


def mark_encrypted(flow: Flow, how: str) -> None:
    """The flow switched to encryption mid-way (STARTTLS and kin): plaintext-only analyzers stop here."""
    flow.encrypted = True
    flow.how = how
    flow.active = [a for a in flow.active if not a.plaintext_only]
    if not flow.active and flow.app is not None:
        flow.inspect = False
