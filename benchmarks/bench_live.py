"""Live benchmark: tcpreplay of the store mix on a private loopback at rising rates, `netwatch live`
capturing it: packets seen, packets lost and card observations found per rate, against an offline
scan of the same capture.

Usage (root: it makes a network namespace): python benchmarks/bench_live.py [--packets 60000]
    [--rates 20000,40000,100000] [--backend tshark|scapy]

Everything runs inside a network namespace made for the run (its own `lo`, so other traffic on the
machine is neither captured nor disturbed) and deleted at the end. netwatch starts first; after it
has had time to open its socket, tcpreplay sends the capture at the rate asked; netwatch is stopped
with SIGINT (a clean stop: everything captured is analysed and written) a moment after tcpreplay
ends. tcpreplay's achieved rate is shown: on a loaded machine it may fall short of the one asked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
START_WAIT = 4.0  # seconds for netwatch to start and open its capture socket
DRAIN = 3.0  # seconds after tcpreplay ends before the stop
TIMEOUT = 300


def cards(jsonl: Path) -> int:
    """Card observations in a JSON Lines output: the counts of its card-data findings (live writes a
    finding when it appears and again, marked `update`, with its final count)."""
    last: dict[tuple[object, ...], int] = {}
    for line in jsonl.read_text().splitlines():
        r = json.loads(line)
        if r.get("event_type") == "finding" and r.get("category") == "card-data":
            key = (r["rule"], r["severity"], r["flow_id"], r["src"], r["dst"], r["dport"],
                   json.dumps(r.get("evidence"), sort_keys=True))
            last[key] = int(r.get("count", 1))
    return sum(last.values())


def summary_packets(jsonl: Path) -> int:
    for line in jsonl.read_text().splitlines():
        r = json.loads(line)
        if r.get("event_type") == "summary":
            return int(r.get("packets") or r.get("stats", {}).get("packets", 0))
    return 0


def drops_by_stage(jsonl: Path) -> str:
    """The input record's drop counts by where (kernel, dumpcap, interface, netwatch), as one cell."""
    for line in jsonl.read_text().splitlines():
        r = json.loads(line)
        if r.get("event_type") == "input":
            drops = r.get("drops") or {}
            return " ".join(f"{k}:{v}" for k, v in sorted(drops.items()) if k != "received") or "-"
    return "?"


def netns(ns: str, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd]


def one_rate(ns: str, capture: Path, rate: int, backend: str, out: Path) -> tuple[int, float, int, int, float]:
    """(packets sent, rate achieved, packets netwatch saw, card observations, seconds from the end of the
    replay to netwatch's exit) at one rate."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    nw = subprocess.Popen(netns(ns, sys.executable, "-m", "netwatch", "live", "-i", "lo", "--backend", backend,
                                "--json", str(out), "--fail-on", "none", "-q", "--key", "0" * 32),
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(START_WAIT)
        rep = subprocess.run(netns(ns, "tcpreplay", "-i", "lo", f"--pps={rate}", str(capture)),
                             capture_output=True, text=True, timeout=TIMEOUT)
        replayed = time.monotonic()
        time.sleep(DRAIN)
        nw.send_signal(signal.SIGINT)
        nw.wait(timeout=TIMEOUT)
        tail = time.monotonic() - replayed
    finally:
        if nw.poll() is None:
            nw.kill()
            nw.wait(timeout=30)
    sent = re.search(r"Actual: (\d+) packets", rep.stdout)
    rated = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", rep.stdout)
    if not sent or not out.exists():
        err = nw.stderr.read()[-300:] if nw.stderr else ""
        sys.exit(f"replay or capture failed: {rep.stdout[-300:]} {rep.stderr[-300:]} {err}")
    return int(sent.group(1)), float(rated.group(1)) if rated else 0.0, summary_packets(out), cards(out), tail


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=60_000)
    ap.add_argument("--rates", default="20000,40000,100000")
    ap.add_argument("--backend", default="tshark" if shutil.which("dumpcap") else "scapy", choices=["scapy", "tshark"],
                    help="netwatch's own default: tshark where dumpcap is installed")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nw-live-"))  # the mix and live outputs (test cards): removed at the end
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    import bench_scan

    capture = work / "mix.pcap"
    bench_scan.generate(capture, args.packets)
    offline = work / "offline.jsonl"
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "netwatch", "scan", str(capture), "--json", str(offline), "-q",
                    "--fail-on", "none", "--key", "0" * 32], env={**os.environ, "PYTHONPATH": str(ROOT)},
                   check=True, timeout=TIMEOUT)
    offline_s = time.monotonic() - began
    want = cards(offline)
    core = subprocess.run([sys.executable, "-m", "netwatch", "--version"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60).stdout.strip()
    ns = f"nwlive{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=20)
    try:
        subprocess.run(netns(ns, "ip", "link", "set", "lo", "up"), check=True, timeout=20)
        print(f"{core}; {args.packets:,} packets, {want} card observations offline "
              f"(offline scan {offline_s:.1f} s with start-up: {args.packets / offline_s:,.0f} packets/s); "
              f"backend {args.backend}")
        print(f"{'asked pps':>10} {'achieved':>10} {'sent':>8} {'seen':>8} {'lost':>7} {'cards':>11} {'exit s':>6}"
              "  drops by where")
        for rate in (int(r) for r in args.rates.split(",")):
            out = work / f"live-{rate}.jsonl"
            sent, rated, seen, found, tail = one_rate(ns, capture, rate, args.backend, out)
            lost = max(sent - seen, 0)
            print(f"{rate:>10,} {rated:>10,.0f} {sent:>8,} {seen:>8,} {lost / max(sent, 1):>6.1%} "
                  f"{found:>5}/{want:<5} {tail:>6.1f}  {drops_by_stage(out)}", flush=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
