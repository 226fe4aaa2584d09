"""Where a local-cluster scan spends its time: one `netwatch scan DIR --jobs 2`, timed per phase.

Usage: python benchmarks/fleet_phases.py DIR   (bench_fleet.py --phases runs it on its fleet)

Runs the real CLI in a child process with timestamps around the runner's and the cluster's steps
(cluster run, i.e. Dask's import, then fork, scheduler start, workers joined, tasks, close, then
the outputs and exit) and, in the forked workers,
around every task and its scan; prints the timeline, each worker's busy time, the time its tasks
spent outside the scan and waiting for the next one, and netwatch's own CPU while the tasks ran (the
scheduler and the client share the 2 cores with the workers).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(directory: str, log: str) -> None:
    """In the child: wrap the steps (the forked workers inherit the wrappers), then run the CLI."""
    def mark(**rec: object) -> None:
        with open(log, "a") as fh:
            fh.write(json.dumps({"pid": os.getpid(), "t": time.time(), **rec}) + "\n")

    import atexit

    atexit.register(lambda: mark(step="atexit"))
    import netwatch.pipeline.cluster as cluster
    import netwatch.pipeline.runner as runner

    mark(step="netwatch imported")

    def wrap(owner: object, name: str, step: str) -> None:
        inner = getattr(owner, name)

        def timed(*a: object, **k: object) -> object:
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            mark(step=step + " begins", cpu=cpu.ru_utime + cpu.ru_stime)
            out = inner(*a, **k)
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            mark(step=step + " ends", cpu=cpu.ru_utime + cpu.ru_stime)
            return out

        setattr(owner, name, timed)

    wrap(runner, "_run_on_cluster", "cluster run")  # Dask is imported between its start and the fork
    wrap(cluster.LocalCluster, "__init__", "fork")
    wrap(cluster.LocalCluster, "start", "scheduler start")
    wrap(cluster.LocalCluster, "join", "workers join")
    wrap(runner, "run_dask", "tasks")
    wrap(cluster.LocalCluster, "close", "close")
    scan_task, scan_file = runner.scan_task, runner.scan_file

    def task(*a: object, **k: object) -> object:
        t = time.time()
        out = scan_task(*a, **k)  # type: ignore[arg-type]
        mark(task=[t, time.time()])
        return out

    def scan(*a: object, **k: object) -> object:
        t = time.time()
        out = scan_file(*a, **k)  # type: ignore[arg-type]
        mark(scan=[t, time.time()])
        return out

    runner.scan_task, runner.scan_file = task, scan  # type: ignore[assignment]
    from netwatch.cli import main

    raise SystemExit(main(["scan", directory, "--jobs", "2", "--json", os.devnull, "-q", "--no-progress"]))


def report(directory: str) -> None:
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as fh:
        log = fh.name
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.time()
    subprocess.run([sys.executable, __file__, "--child", directory, log], cwd=ROOT, env=env, timeout=900,
                   stdout=subprocess.DEVNULL)
    end = time.time()
    recs = [json.loads(line) for line in Path(log).read_text().splitlines()]
    os.unlink(log)
    main_pid = recs[0]["pid"]
    steps = [r for r in recs if r["pid"] == main_pid and "step" in r]
    print(f"\nlocal cluster phases (seconds from start; {len(recs)} marks):")
    for r in steps:
        print(f"  {r['t'] - t0:6.3f}  {r['step']}")
    print(f"  {end - t0:6.3f}  process ended")
    begin = next(r for r in steps if r["step"] == "tasks begins")
    done = next(r for r in steps if r["step"] == "tasks ends")
    print(f"netwatch's own CPU while the tasks ran: {done['cpu'] - begin['cpu']:.3f} s "
          f"over {done['t'] - begin['t']:.3f} s")
    for pid in sorted({r["pid"] for r in recs} - {main_pid}):
        tasks = sorted(r["task"] for r in recs if r["pid"] == pid and "task" in r)
        scans = sorted(r["scan"] for r in recs if r["pid"] == pid and "scan" in r)
        busy = sum(b - a for a, b in scans)
        outside = sum(b - a for a, b in tasks) - busy
        waits = sum(tasks[i + 1][0] - tasks[i][1] for i in range(len(tasks) - 1))
        print(f"worker {pid}: {len(tasks)} tasks, first at {tasks[0][0] - t0:.3f}, last done {tasks[-1][1] - t0:.3f};"
              f" scanning {busy:.3f} s, in tasks outside the scan {outside:.3f} s, between tasks {waits:.3f} s")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2 and Path(sys.argv[1]).is_dir():
        report(sys.argv[1])
    else:
        print(__doc__.split("\n\n")[1] if __doc__ else "usage: fleet_phases.py DIR", file=sys.stderr)
        sys.exit(2)
