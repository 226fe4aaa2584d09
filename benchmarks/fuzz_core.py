"""The longer fuzz run of the compiled core (the test suite's is bounded to 150 examples).

Usage: python benchmarks/fuzz_core.py [--examples 20000] [--seconds 600]

Hypothesis generates hostile blocks of frames and pcap files (tests/core_fuzz.py); each goes through
a Session (or the pcap reader) on both cores, which must report the same; and flow populations for
the sweep's idle walk, which must pick the same flows on both. Stops at --examples or
--seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
CHUNK = 500  # examples per Hypothesis run; runs repeat until --examples or --seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=600.0)
    args = ap.parse_args()
    from core_fuzz import blocks, flow_states, idle_outcome, outcome, pcap_file, sweep_times, walk_outcome
    from hypothesis import HealthCheck, given, settings

    from netwatch.flows.core import compiled

    if compiled is None:
        sys.exit("the compiled core is not built here (python setup.py build_ext --inplace)")
    deadline = time.monotonic() + args.seconds
    ran = [0]

    @settings(max_examples=CHUNK, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(blocks)
    def same(frame_blocks: list) -> None:  # type: ignore[type-arg]
        ran[0] += 1
        assert outcome(frame_blocks, pure=False) == outcome(frame_blocks, pure=True)

    @settings(max_examples=CHUNK, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(pcap_file())
    def same_walk(data: bytes) -> None:
        ran[0] += 1
        assert walk_outcome(data, pure=False) == walk_outcome(data, pure=True)

    @settings(max_examples=CHUNK, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(flow_states, sweep_times)
    def same_sweep(states: list, now: float) -> None:  # type: ignore[type-arg]
        ran[0] += 1
        assert idle_outcome(states, now, pure=False) == idle_outcome(states, now, pure=True)

    while ran[0] < args.examples and time.monotonic() < deadline:
        same()  # fresh random runs of CHUNK examples each: blocks of frames, pcap files, sweeps
        same_walk()
        same_sweep()
    print(f"{ran[0]} hostile blocks (Hypothesis examples), both cores agreed on every one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
