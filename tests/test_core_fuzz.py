"""Hostile frames through the compiled core's entry point: no crash, and the same report as the
pure-Python core (a bounded Hypothesis run; benchmarks/fuzz_core.py runs longer)."""

from __future__ import annotations

import pytest
from core_fuzz import blocks, outcome, pcap_file, walk_outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwatch.capture.compiled import records
from netwatch.flows import table
from netwatch.flows.core import compiled


@pytest.mark.skipif(compiled is None, reason="compiled core not built here (pure Python runs)")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(blocks)
def test_hostile_blocks_same_on_both_cores(frame_blocks):
    assert outcome(frame_blocks, pure=False) == outcome(frame_blocks, pure=True)


@pytest.mark.skipif(records is None, reason="compiled core not built here (pure Python runs)")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pcap_file())
def test_hostile_pcap_records_same_on_both_cores(data):
    assert walk_outcome(data, pure=False) == walk_outcome(data, pure=True)


FLOW_STATE = st.tuples(st.sampled_from([6, 17, 50]), st.sampled_from([53, 443, 80, 4500]), st.booleans(),
                       st.integers(0, 3), st.integers(0, 3), st.floats(0, 2000, allow_nan=False))


def _population(cls: type, states: list[tuple[int, int, bool, int, int, float]]) -> dict:
    live = {}
    for i, (proto, port, closed, c2s, s2c, last) in enumerate(states):
        f = cls(bytes((10, 0, 0, 1)), 40000 + i, bytes((10, 0, 0, 2)), port, proto, 0.0)
        f.closed, f.packets, f.last_ts = closed, [c2s, s2c], last
        live[f] = None
    return live


@pytest.mark.skipif(compiled is None, reason="compiled core not built here (pure Python runs)")
@settings(max_examples=150, deadline=None)
@given(st.lists(FLOW_STATE, max_size=40), st.floats(0, 2500, allow_nan=False))
def test_idle_sweep_same_on_both_cores(states, now):
    """The sweep's walk picks the same flows, in the same order, from either core's Flow type."""
    pick = [(f.client_port, f.last_ts) for f in table.idle_flows(_population(table.Flow, states), now)]
    assert [(f.client_port, f.last_ts) for f in compiled.idle_flows(_population(compiled.Flow, states), now)] == pick
    # a table may hold flows of both types: each is judged by its own fields
    mixed = {**_population(table.Flow, states[::2]), **_population(compiled.Flow, states[1::2])}
    assert len(compiled.idle_flows(mixed, now)) == len(table.idle_flows(mixed, now))


@pytest.mark.skipif(compiled is None, reason="compiled core not built here (pure Python runs)")
def test_compiled_flow_reads_like_the_pure_one():
    """Everything above the flow table reads either Flow type the same way, turned or not."""
    names = [n for n in table.Flow.__slots__ if n != "trace"]
    flows = [cls(bytes((192, 0, 2, 1)), 40000, bytes((198, 51, 100, 7)), 443, 6, 12.5)
             for cls in (table.Flow, compiled.Flow)]
    for f in flows:
        table.count(f, 1, 3, 1200, 13.0, 9)
    assert [getattr(flows[1], n) for n in names] == [getattr(flows[0], n) for n in names]
    assert repr(flows[1]) == repr(flows[0])
    for f in flows:
        f.names.append("pay.example")
        f.turn()
    assert [getattr(flows[1], n) for n in names] == [getattr(flows[0], n) for n in names]
