"""Hostile frames through the compiled core's entry point: no crash, and the same report as the
pure-Python core (a bounded Hypothesis run; benchmarks/fuzz_core.py runs longer)."""

from __future__ import annotations

import pytest
from core_fuzz import blocks, outcome, pcap_file, walk_outcome
from hypothesis import HealthCheck, given, settings

from netwatch.capture.compiled import records
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
