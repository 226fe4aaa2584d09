"""Benchmark: a fleet of store captures scanned by one process, a local Dask cluster and a scheduler.

Usage: python benchmarks/bench_fleet.py [--stores 24] [--packets 40000] [--runs 1]

Generates `--stores` store-mix captures (bench_scan's generator, one seed per store; cached under
benchmarks/.cache/fleet-*/) and times, in the same run and interleaved:
- `netwatch scan DIR --jobs 1` (one process),
- `netwatch scan DIR --jobs 2` (a 2-worker local cluster started by netwatch),
- `netwatch scan DIR --scheduler ADDR` against `dask scheduler` + 2 `dask worker` on 127.0.0.1,
- the cluster's start-up cost (two tiny captures with --jobs 2, minus the same with --jobs 1),
- the single-file store mix (300k packets) with the default --jobs and with --jobs 1,
- two plain `--jobs 1` processes at once on half the files each (the ceiling for 2 cores).
Prints wall times (best of --runs), speed-ups over one process and the start-up overhead, and the
machine's load (`os.getloadavg`) before and after: the 2-core box is shared, quote ratios of one run.
`--phases` then times one local-cluster scan step by step (fleet_phases.py: Dask's import, fork,
scheduler, tasks and the gaps between them, netwatch's own CPU while they run, close, exit).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_scan  # noqa: E402 - the store-mix generator lives beside this script


def fleet(stores: int, packets: int) -> Path:
    d = bench_scan.CACHE / f"fleet-{stores}x{packets}"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(stores):
        p = d / f"store-{i:03d}.pcap"
        if not p.exists():
            bench_scan.generate(p, packets, seed=100 + i)
    return d


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=3600)
    took = time.perf_counter() - t
    if r.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-400:]}")
    return took


def timed_halves(files: list[str]) -> float:
    """Two plain `--jobs 1` processes at once, each on half the files: the ceiling on 2 cores."""
    t = time.perf_counter()
    procs = [subprocess.Popen(scan(*files[k::2], "--jobs", "1"), cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for k in (0, 1)]
    for p in procs:
        p.wait(timeout=3600)
    return time.perf_counter() - t


def scan(*args: str) -> list[str]:
    return [sys.executable, "-m", "netwatch", "scan", *args, "--json", os.devnull, "-q", "--no-progress"]


def start_cluster() -> tuple[str, list[subprocess.Popen[bytes]]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the settings the README recommends for a netwatch cluster (the local cluster uses the same)
    env = dict(os.environ, PYTHONPATH=str(ROOT), DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED="False",
               DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="1.0")
    addr = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]  # this interpreter's Dask: a venv need not be activated
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    procs += [subprocess.Popen([*dask, "worker", addr, "--no-nanny", "--nthreads", "1", "--memory-limit", "0",
                                "--preload", "netwatch.pipeline.runner", "--no-dashboard"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
              for _ in range(2)]
    from distributed import Client

    with Client(addr, timeout="30s") as c:
        c.wait_for_workers(2, timeout=60)
    return addr, procs


def stop_cluster(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stores", type=int, default=24)
    ap.add_argument("--packets", type=int, default=40_000, help="packets per store capture")
    ap.add_argument("--runs", type=int, default=1, help="repeat each timing, keep the best")
    ap.add_argument("--phases", action="store_true", help="then time one local-cluster scan step by step")
    args = ap.parse_args()
    d = fleet(args.stores, args.packets)
    load = os.getloadavg()
    size = sum(p.stat().st_size for p in d.iterdir())
    tiny = [str(ROOT / "captures" / "http_card_post.pcap"), str(ROOT / "captures" / "tls_store.pcap")]
    single = bench_scan.capture(300_000)
    best: dict[str, float] = {}

    def keep(name: str, t: float) -> None:
        best[name] = min(best.get(name, t), t)

    for _ in range(args.runs):
        for name, cmd in (("one process (--jobs 1)", scan(str(d), "--jobs", "1")),
                          ("local cluster (--jobs 2)", scan(str(d), "--jobs", "2")),
                          ("2 tiny files, --jobs 1", scan(*tiny, "--jobs", "1")),
                          ("2 tiny files, --jobs 2", scan(*tiny, "--jobs", "2")),
                          ("single file, --jobs 1", scan(str(single), "--jobs", "1")),
                          ("single file, default", scan(str(single)))):
            keep(name, timed(cmd))
        keep("2 processes, half each", timed_halves(sorted(str(p) for p in d.iterdir())))
        # the external cluster runs only for its own timing: its idle processes would take CPU
        # from the other parallel runs (not from one process, which leaves a core free)
        addr, procs = start_cluster()
        try:
            keep("scheduler, 2 workers", timed(scan(str(d), "--scheduler", addr)))
        finally:
            stop_cluster(procs)
    print(f"\n{args.stores} store captures, {args.packets:,} packets each, {size / 1e6:.0f} MB; best of {args.runs}")
    for name, t in best.items():
        print(f"  {name:28s} {t:7.2f} s")
    one = best["one process (--jobs 1)"]
    print(f"\nspeed-up, local cluster of 2: {one / best['local cluster (--jobs 2)']:.2f}x")
    print(f"speed-up, scheduler + 2 workers: {one / best['scheduler, 2 workers']:.2f}x")
    print(f"ceiling, 2 plain processes on half the files each: {one / best['2 processes, half each']:.2f}x")
    print(f"local cluster start-up overhead: {best['2 tiny files, --jobs 2'] - best['2 tiny files, --jobs 1']:.2f} s")
    print(f"single file, default / --jobs 1: {best['single file, default'] / best['single file, --jobs 1']:.2f}")
    print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}".format(
        *load, *os.getloadavg()))
    if args.phases:
        import fleet_phases

        fleet_phases.report(str(d))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
