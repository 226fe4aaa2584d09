"""Where a scan's time goes, per phase: a sampled profile (pyinstrument) of one in-process scan.

Usage: python benchmarks/profile_phases.py [--packets 300000] [CAPTURE] [--top 15]

Every sample's self time goes to the phase of the nearest netwatch frame on its stack (time in
numpy, builtins or the standard library counts for the netwatch code that called it); frames under
an import count as start-up. The phases follow the data path (docs/architecture.md), so a change's
effect shows where it was meant to land. Run it before and after a change in the same session:
the shared machine's load moves absolute figures, the shares and the ratio move less.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# (phase, path fragments under netwatch/) in data-path order; the first match wins
PHASES = [
    ("record walk", ("capture/",)),
    ("compiled core", ("_core",)),
    ("header decode + plan", ("flows/fastpath.py:headers", "flows/fastpath.py:plan", "flows/fastpath.py:_ip",
                              "flows/fastpath.py:_gather", "flows/fastpath.py:_restarts", "packets/")),
    ("packet loop", ("flows/fastpath.py", "flows/core")),
    ("flow table", ("flows/table.py",)),
    ("reassembly", ("flows/tcp.py",)),
    ("dispatcher + analyzers", ("analyzers/", "protocols/")),
    ("events", ("events/",)),
    ("rules + findings", ("judge/", "findings/", "redaction/", "pipeline/session.py:_emit")),
    ("report", ("report/", "cli/")),
    ("pipeline", ("pipeline/",)),
]


def phase_of(path: str, function: str) -> str | None:
    """The phase of a netwatch frame (None: not netwatch's)."""
    i = path.rfind("/netwatch/")
    if i < 0:
        return None
    where = f"{path[i + 10:]}:{function}"
    for name, parts in PHASES:
        if any(where.startswith(p) for p in parts):
            return name
    return "other netwatch"


def attribute(frame: Any, phase: str, owner: str, out: Counter[str], own: Counter[str]) -> None:
    """Self time of `frame` and below to phases, and to the nearest netwatch function (`own`)."""
    path, function = frame.file_path or "", frame.function or ""
    if function == "<module>" or "importlib" in path:
        phase, owner = "start-up (imports)", "(imports)"
    elif phase != "start-up (imports)":
        mine = phase_of(path, function)
        if mine is not None:
            phase, owner = mine, f"{path[path.rfind('/netwatch/') + 1:]}:{function}"
    out[phase] += frame.total_self_time
    own[owner] += frame.total_self_time
    for child in frame.children:
        if not child.is_synthetic:  # a synthetic child's time is in the parent's total_self_time
            attribute(child, phase, owner, out, own)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", nargs="?", help="a capture (default: the store mix of --packets)")
    ap.add_argument("--packets", type=int, default=300_000)
    ap.add_argument("--top", type=int, default=15, help="netwatch functions by own time")
    args = ap.parse_args()
    from pyinstrument import Profiler

    if args.capture:
        path = Path(args.capture)
    else:
        import bench_scan

        path = bench_scan.capture(args.packets)
    profiler = Profiler(interval=0.0005)
    start = time.perf_counter()
    profiler.start()
    from netwatch.cli import main as netwatch

    rc = netwatch(["scan", str(path), "-q", "--fail-on", "none", "--jobs", "1", "--json", os.devnull])
    profiler.stop()
    wall = time.perf_counter() - start
    try:
        from netwatch.flows.core import CORE
    except ImportError:  # a tree from before the compiled core
        CORE = "pure Python (no compiled core in this tree)"

    root = profiler.last_session.root_frame() if profiler.last_session else None
    if root is None:
        sys.exit("no samples")
    phases: Counter[str] = Counter()
    own: Counter[str] = Counter()
    attribute(root, "other (outside netwatch)", "(outside netwatch)", phases, own)
    total = sum(phases.values())
    print(f"{path.name}: {wall:.2f} s wall in process (exit {rc}), core: {CORE}, {total:.2f} s sampled")
    for name, secs in sorted(phases.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28} {secs:6.2f} s {secs / total * 100:5.1f}%")
    print(f"top {args.top} netwatch functions by own time (numpy/builtins they call included):")
    for name, secs in own.most_common(args.top):
        print(f"  {name:60} {secs:6.2f} s {secs / total * 100:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
