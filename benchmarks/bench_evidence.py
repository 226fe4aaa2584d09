"""Benchmark: what `--evidence` costs on the store mix (benchmarks/bench_scan.py makes it).

Usage: python benchmarks/bench_evidence.py [--packets 300000] [--runs 3]

The same `netwatch scan --jobs 1` with and without `--evidence DIR`, interleaved in the same run
(a load spike on a shared machine hits both), wall-clock of the whole command and peak RSS as
bench_scan measures them; the ratio of the medians should stay at or below 1.3 (issue 19: the
evidence is cut from what the scan already parsed, plus one read that picks frames by number).
Also prints how many evidence files were written and how many findings name one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _bench_scan():
    spec = importlib.util.spec_from_file_location("bench_scan", HERE / "bench_scan.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    bench = _bench_scan()
    path = bench.capture(args.packets)
    tmp = Path(tempfile.mkdtemp(prefix="nw-evidence-bench-"))
    try:
        base = [sys.executable, "-m", "netwatch", "scan", str(path), "-q", "--fail-on", "none", "--jobs", "1"]
        times: dict[str, list[float]] = {"scan": [], "scan --evidence": []}
        rss: dict[str, list[int]] = {"scan": [], "scan --evidence": []}
        for i in range(args.runs):
            for label in times:
                extra = ["--evidence", str(tmp / f"ev{i}"), "--json", str(tmp / f"ev{i}.jsonl")] \
                    if label.endswith("evidence") else ["--json", "/dev/null"]
                secs, _rc, kib = bench.run_timed([*base, *extra])
                times[label].append(secs)
                rss[label].append(kib)
        for label, ts in times.items():
            print(f"{label:18s} median {statistics.median(ts):6.2f}s [{min(ts):.2f}-{max(ts):.2f}]  "
                  f"peak RSS {max(rss[label]) / 1024:.0f} MiB")
        ratio = statistics.median(times["scan --evidence"]) / statistics.median(times["scan"])
        records = [json.loads(line) for line in (tmp / "ev0.jsonl").read_text().splitlines()]
        findings = [r for r in records if "rule" in r]
        named = [r for r in findings if r.get("evidence_file")]
        print(f"ratio --evidence / without: {ratio:.2f} (target <= 1.3); {len(list((tmp / 'ev0').glob('*.pcap')))} "
              f"evidence files, {len(named)} of {len(findings)} findings name one")
        return 0 if ratio <= 1.3 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
