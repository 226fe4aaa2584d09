"""Hostile frames through the compiled core's entry point: no crash, and the same report as the
pure-Python core (a bounded Hypothesis run; benchmarks/fuzz_core.py runs longer)."""

from __future__ import annotations

import pytest
from core_fuzz import blocks, flow_states, idle_outcome, outcome, pcap_file, sweep_times, walk_outcome
from hypothesis import HealthCheck, given, settings

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


@pytest.mark.skipif(compiled is None, reason="compiled core not built here (pure Python runs)")
@settings(max_examples=150, deadline=None)
@given(flow_states, sweep_times)
def test_idle_sweep_same_on_both_cores(states, now):
    """The sweep's walk picks the same flows, in the same order, from either core's Flow type (and
    from a table holding both types)."""
    assert idle_outcome(states, now, pure=False) == idle_outcome(states, now, pure=True)


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
