"""A burst on the wire is captured whole: tcpreplay sends the store mix onto the `lo` of a network
namespace made for the test while `netwatch live` captures there; every packet is seen, no drop is
reported anywhere, and every card observation an offline scan of the same capture makes is made live.

Not timed: the rate is one a loaded CI machine's tcpreplay reaches (both backends' capture process
spools to a file and never waits for the analysis, so the rate does not decide the outcome);
benchmarks/bench_live.py measures the rising rates.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from live_run import KEY, REPO, backends, finish, need_raw, start_live

from netwatch.pipeline.live import JOIN_TIMEOUT

pytestmark = [pytest.mark.live, pytest.mark.slow]
PACKETS = 20_000
RATE = 50_000  # packets/s asked of tcpreplay
COUNT = 30_000  # --count reached mid-burst


def _bench_live():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_live
    import bench_scan

    return bench_live, bench_scan


@pytest.fixture(scope="module")
def store_mix(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The store mix and the card observations an offline scan of it makes."""
    bench_live, bench_scan = _bench_live()
    work = tmp_path_factory.mktemp("burst")
    capture, offline = work / "mix.pcap", work / "offline.jsonl"
    bench_scan.generate(capture, PACKETS, seed=11)
    r = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(capture), "--json", str(offline), "-q",
                        "--fail-on", "none", "--key", KEY], cwd=REPO, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-400:]
    return capture, bench_live.cards(offline)


@pytest.fixture
def namespace():
    """A network namespace of this test's own, its lo up: nothing else is sent there."""
    need_raw()
    if not (shutil.which("ip") and shutil.which("tcpreplay")):
        pytest.skip("needs iproute2's ip and tcpreplay")
    ns = f"nwburst-{uuid.uuid4().hex[:8]}"
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True, timeout=20)
    if r.returncode:
        pytest.skip(f"cannot create a network namespace here: {r.stderr.strip()}")
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=20)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


@pytest.mark.parametrize("backend", backends())
def test_burst_on_lo_is_captured_without_loss(backend: str, namespace: str, store_mix: tuple[Path, int],
                                              tmp_path: Path) -> None:
    capture, want = store_mix
    bench_live, _ = _bench_live()
    inside = ("ip", "netns", "exec", namespace)
    jsonl = tmp_path / "live.jsonl"
    proc = start_live(["-i", "lo", "--backend", backend, "--json", str(jsonl), "-q", "--fail-on", "none",
                       "--key", KEY], prefix=inside)
    try:
        rep = subprocess.run([*inside, "tcpreplay", "-i", "lo", f"--pps={RATE}", str(capture)],
                             capture_output=True, text=True, timeout=120)
    finally:
        code, _, err = finish(proc, signal.SIGINT, timeout=120)
    assert rep.returncode == 0 and f"Actual: {PACKETS} packets" in rep.stdout, rep.stdout[-300:] + rep.stderr[-300:]
    assert code == 0 and "Traceback" not in err, err[-400:]
    inputs = [json.loads(line) for line in jsonl.read_text().splitlines() if '"input"' in line]
    record = next(r for r in inputs if r["event_type"] == "input")
    lost = {k: v for k, v in record["drops"].items() if k != "received" and v}
    assert not lost and record["packets"] == PACKETS, (record["packets"], record["drops"])
    assert bench_live.cards(jsonl) == want > 0


@pytest.mark.parametrize("backend", backends())
def test_count_mid_burst_stops_at_once_and_loses_nothing(backend: str, namespace: str,
                                                         store_mix: tuple[Path, int], tmp_path: Path) -> None:
    """--count reached while the capture still holds most of a burst: netwatch stops without
    waiting for the rest, and the frames past the count are not reported as lost."""
    capture, _ = store_mix
    inside = ("ip", "netns", "exec", namespace)
    jsonl = tmp_path / "live.jsonl"
    proc = start_live(["-i", "lo", "--backend", backend, "--count", str(COUNT), "--json", str(jsonl), "-q",
                       "--fail-on", "none", "--key", KEY], prefix=inside)
    try:
        began = time.monotonic()
        # three times over, as fast as it goes: the analysis falls behind, netwatch's queue fills and its
        # reader waits on it when the count is reached
        rep = subprocess.run([*inside, "tcpreplay", "-i", "lo", "--loop=3", "--topspeed", str(capture)],
                             capture_output=True, text=True, timeout=120)
        code, _, err = finish(proc, timeout=60)  # it stops by itself
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rep.returncode == 0 and code == 0 and "Traceback" not in err, err[-400:]
    assert took < JOIN_TIMEOUT, f"took {took:.1f} s: the capture's reader was left waiting on a full queue"
    record = next(r for r in map(json.loads, jsonl.read_text().splitlines()) if r["event_type"] == "input")
    assert record["packets"] == COUNT and record["drops"]["netwatch"] == 0, record["drops"]
