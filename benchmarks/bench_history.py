"""Benchmark: the site history on SQLite and on a real PostgreSQL server.

Usage: python benchmarks/bench_history.py [--visits 1000] [--sites 100] [--queries 20] [--postgres URL]

Records `--visits` runs spread over `--sites` sites, each with its findings (a varying subset of the
findings of six bundled captures, with the site's own client address, about 10 per visit) and
destinations and systems (the captures' inventories), one transaction per run as `scan --history` writes
them; then times the `history` queries: `history sites`, `history SITE` (visits and findings with their
state) and the HTML's "since the last visit" for a site. Without --postgres a server is started for the
run (Debian's postgresql, as the tests do: temporary directory, Unix socket only; fsync on, like SQLite's
synchronous=FULL).
Prints the time per run written and per query on both stores, and their ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from netwatch.history.query import site_findings, sites  # noqa: E402
from netwatch.history.record import Visit, write_visits  # noqa: E402
from netwatch.history.store import HistoryStore  # noqa: E402
from netwatch.pipeline.runner import ScanConfig, run_local  # noqa: E402
from netwatch.report.history import since_last_visit  # noqa: E402

CAPTURES = ["http_card_post", "protect_telnet_v6", "protect_vnc", "protect_ssh", "dest_lateral_smb",
            "outdated_posready_smb"]


def base_reports() -> list:  # type: ignore[type-arg]
    return run_local([str(ROOT / "captures" / f"{c}.pcap") for c in CAPTURES],
                     ScanConfig((), None, os.urandom(32))).reports


def make_visits(reports: list, n_visits: int, n_sites: int, seed: int = 21) -> list[Visit]:  # type: ignore[type-arg]
    """Visits round-robin over the sites; each keeps a random ~70% of the findings (so findings open, resolve
    and recur) with the site's own client address (so sites do not share findings)."""
    rng = random.Random(seed)
    every = [f for r in reports for f in r.findings]
    out = []
    for i in range(n_visits):
        site = i % n_sites
        findings = []
        for f in every:
            if rng.random() < 0.7:
                g = copy.copy(f)
                g.src = f"10.{site // 250}.{site % 250}.15"
                g.key = (f.key[0], f.key[1], g.src, *f.key[3:])
                findings.append(g)
        out.append(Visit(f"site-{site:03d}", reports, findings))
    return out


def bench(store: HistoryStore, visits: list[Visit], queries: int) -> dict[str, float]:
    t0 = time.perf_counter()
    for v in visits:
        write_visits(store, [Visit(v.site, v.reports, v.findings)], sensor="bench")
    write = (time.perf_counter() - t0) / len(visits)
    rng = random.Random(5)
    names = sorted({v.site for v in visits})
    times: dict[str, list[float]] = {"history sites": [], "history SITE": [], "since the last visit": []}
    for _ in range(queries):
        t = time.perf_counter()
        with store.read() as conn:
            sites(conn)
        times["history sites"].append(time.perf_counter() - t)
        name = rng.choice(names)
        t = time.perf_counter()
        with store.read() as conn:
            site_findings(conn, name)
        times["history SITE"].append(time.perf_counter() - t)
        with store.read() as conn:
            last = site_findings(conn, name)[0][-1].run_id
        t = time.perf_counter()
        since_last_visit(store, name, last)
        times["since the last visit"].append(time.perf_counter() - t)
    return {"run written": write, **{k: statistics.median(v) for k, v in times.items()}}


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from history_stores import pg_binaries, postgres_server

    if pg_binaries() is None:
        raise RuntimeError("no PostgreSQL binaries (/usr/lib/postgresql/*/bin); give --postgres URL")
    with postgres_server(fsync=True) as started:
        yield started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visits", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--postgres", metavar="URL", help="an existing server (default: start one for the run)")
    args = ap.parse_args()
    reports = base_reports()
    visits = make_visits(reports, args.visits, args.sites)
    n_findings = sum(len(v.findings) for v in visits)
    print(f"{args.visits} visits of {args.sites} sites: {n_findings} findings ({n_findings / len(visits):.1f} per "
          f"visit), {sum(len(r.inventory) for r in reports)} destinations and the systems of "
          f"{len(CAPTURES)} captures per visit")
    results = {}
    with tempfile.TemporaryDirectory(prefix="nw-bench-") as tmp:
        store = HistoryStore(str(Path(tmp) / "history.sqlite"))
        results["SQLite"] = bench(store, visits, args.queries)
        size = (Path(tmp) / "history.sqlite").stat().st_size
        store.close()
    try:
        with postgres(args.postgres) as url:
            store = HistoryStore(url)
            results["PostgreSQL"] = bench(store, visits, args.queries)
            store.close()
    except Exception as e:  # noqa: BLE001 - a missing server is reported, the SQLite figures still printed
        print(f"PostgreSQL skipped: {type(e).__name__}: {str(e)[:200]}")
    print(f"SQLite file after the run: {size / 1e6:.1f} MB")
    print(f"{'':24}" + "".join(f"{k:>14}" for k in results))
    for row in next(iter(results.values())):
        print(f"{row + ' (ms)':24}" + "".join(f"{r[row] * 1000:14.2f}" for r in results.values()))


if __name__ == "__main__":
    main()
