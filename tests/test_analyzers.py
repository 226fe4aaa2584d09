"""An analyzer's class line declares it (`Analyzer.__init_subclass__`): name, transports, whether it
sees encrypted flows, and its per-flow state type from `Analyzer[State]`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netwatch.analyzers import Analyzer
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP, UDP


@dataclass(slots=True)
class _Count:
    n: int = 0


class _Probe(Analyzer[_Count], name="probe", transports=(TCP,), plaintext_only=False):
    pass


class _Child(_Probe, shared=True):
    pass


class _Stateless(Analyzer[None], name="stateless"):
    pass


def _flow(proto: int) -> Flow:
    return Flow(bytes([192, 0, 2, 1]), 40000, bytes([198, 51, 100, 2]), 443, proto, 1.0)


def test_class_keywords_set_what_the_dispatcher_reads() -> None:
    p = _Probe()
    assert (p.name, p.transports, p.plaintext_only, p.shared) == ("probe", (TCP,), False, False)
    assert p.wants(_flow(TCP)) and not p.wants(_flow(UDP))
    c = _Child()  # keywords left out are inherited
    assert (c.name, c.transports, c.plaintext_only, c.shared) == ("probe", (TCP,), False, True)
    assert Analyzer.name == "analyzer" and Analyzer.plaintext_only and not Analyzer.shared


def test_state_type_is_the_generic_parameter() -> None:
    flow = _flow(TCP)
    p = _Probe()
    assert p.peek(flow) is None
    p.state(flow).n += 2
    assert p.state(flow) == _Count(2) and flow.state["probe"] is p.state(flow)
    assert _Child.state_type is _Count and _Stateless.state_type is None


def test_registry_analyzers_have_distinct_names() -> None:
    """The name is the analyzer's slot in flow.state: two alike would share state."""
    names = [a.name for a in [build_classifier(), *build_analyzers()]]
    assert len(set(names)) == len(names) and "analyzer" not in names


class _Picky(Analyzer[None], name="picky"):
    """Its own wants(): asked at every flow start, even after flows of its transport were planned."""

    def __init__(self) -> None:
        self.asked = 0

    def wants(self, flow: Flow) -> bool:
        self.asked += 1
        return flow.server_port == 53


def test_flow_start_keeps_the_order_and_asks_analyzers_with_their_own_wants() -> None:
    from netwatch.analyzers.dispatch import Dispatcher

    picky = _Picky()
    analyzers: list[Analyzer[Any]] = [_Probe(), picky, _Stateless(), _Child(), *build_analyzers()]
    d = Dispatcher(build_classifier(), analyzers, lambda e: None)
    for proto, port in ((TCP, 443), (UDP, 53), (TCP, 53), (UDP, 443), (50, 0), (TCP, 443)):
        flow = Flow(bytes([192, 0, 2, 1]), 40000, bytes([198, 51, 100, 2]), port, proto, 1.0)
        d.flow_start(flow)
        assert flow.active == [a for a in analyzers if a.wants(flow)]  # what asking every analyzer gives
        foreign = Flow(bytes([192, 0, 2, 1]), 40001, bytes([198, 51, 100, 2]), port, proto, 1.0)
        foreign.foreign = True
        d.flow_start(foreign)
        assert foreign.active == [a for a in analyzers if a.shared and a.wants(foreign)]
    assert picky.asked == 2 * 6  # own flows: asked by the dispatcher and the test; foreign ones: never (not shared)
