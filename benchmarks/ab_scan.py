"""A/B: the same scan with two netwatch trees, interleaved in one run, whole process.

Usage: python benchmarks/ab_scan.py A_TREE B_TREE [CAPTURE] [--packets 300000] [--runs 3] [--pure]

Each tree runs `python -m netwatch scan CAPTURE -q --fail-on none --jobs 1 --json /dev/null` with
PYTHONPATH set to it, A and B alternating, so the shared machine's load falls on both alike; the
ratio B/A of the best and of the median wall time says what a change did (below 1: B is faster);
the processes' CPU time (user + system) is shown beside it, less moved by other load on the machine.
Bytecode is cached in benchmarks/.cache/pycache (one untimed run per tree first), as an installed
wheel has it. `--pure` sets NETWATCH_PURE=1 (the pure-Python core) for both. Build each tree's compiled core
first (`python setup.py build_ext --inplace`), or both run the pure core whatever `--pure` says.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
sys.path.insert(0, str(HERE))


def one(tree: str, capture: str, pure: bool, timeout: float) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one whole scan process of `tree`."""
    # bytecode cached outside the trees, as an installed wheel has it (bench_startup.py does the same):
    # with PYTHONDONTWRITEBYTECODE every start compiled every module, the same ~0.2 s on both sides
    env = dict(os.environ, PYTHONPATH=tree, PYTHONPYCACHEPREFIX=str(CACHE / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("NETWATCH_PURE", None)
    if pure:
        env["NETWATCH_PURE"] = "1"
    cmd = [sys.executable, "-m", "netwatch", "scan", capture, "-q", "--fail-on", "none", "--jobs", "1",
           "--json", os.devnull]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=tree, env=env, check=True, timeout=timeout, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="the reference tree (e.g. the main checkout)")
    ap.add_argument("b", help="the changed tree")
    ap.add_argument("capture", nargs="?", help="a capture (default: the store mix of --packets)")
    ap.add_argument("--packets", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pure", action="store_true", help="NETWATCH_PURE=1 for both trees")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds one scan may take")
    args = ap.parse_args()
    if args.capture:
        capture = args.capture
    else:
        import bench_scan

        capture = str(bench_scan.capture(args.packets))
    runs: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
    for tree in (args.a, args.b):  # a first run writes each tree's bytecode
        one(str(Path(tree).resolve()), capture, args.pure, args.timeout)
    for _ in range(args.runs):
        for side, tree in (("A", args.a), ("B", args.b)):
            runs[side].append(one(str(Path(tree).resolve()), capture, args.pure, args.timeout))
    core = "pure Python" if args.pure else "compiled"
    print(f"{Path(capture).name}, {core} core, {args.runs} interleaved runs each, whole process:")
    for i, what in enumerate(("wall", "cpu")):
        for side, tree in (("A", args.a), ("B", args.b)):
            ts = [r[i] for r in runs[side]]
            print(f"  {what} {side} {tree}: best {min(ts):.3f} s, median {statistics.median(ts):.3f} s "
                  f"[{', '.join(f'{t:.2f}' for t in ts)}]")
        a, b = [r[i] for r in runs["A"]], [r[i] for r in runs["B"]]
        print(f"  {what} B/A: best {min(b) / min(a):.3f}, median {statistics.median(b) / statistics.median(a):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
