"""SIGTERM ends a scan exactly like Ctrl-C: summary, JSON and HTML of what was found, exit 130,
in one process, across worker processes (several files) and across flow-hash shards (one large
file); no worker process outlives the run.

Captures are fed through FIFOs whose writer holds the pipe open after the data: the scan has
found the card and is waiting for more when the signal arrives (no race with the scan's speed).
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from conftest import local_workers

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "captures" / "http_card_post.pcap"


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


@contextmanager
def held_fifo(path: Path, data: bytes) -> Iterator[threading.Event]:
    """A FIFO that delivers `data`, then stays open (no EOF); the event is set once it was all read."""
    os.mkfifo(path)
    drained = threading.Event()
    done = threading.Event()

    def feed() -> None:
        with open(path, "wb", buffering=0) as fh:
            fh.write(data)
            while not done.is_set():
                left = fcntl.ioctl(fh, termios.FIONREAD, b"\0\0\0\0")
                if int.from_bytes(left, sys.byteorder) == 0:
                    drained.set()
                time.sleep(0.02)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        yield drained
    finally:
        done.set()
        t.join(timeout=10)


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path, Path]:
    out, html = tmp_path / "found.jsonl", tmp_path / "report.html"
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", *args, "--json", str(out), "--html",
                             str(html), "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, COLUMNS="300"), start_new_session=True)
    return proc, out, html


def _check_ended_like_ctrl_c(proc: subprocess.Popen, out: Path, html: Path, workers: set[int]) -> str:
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-400:]
    assert "Traceback" not in stderr
    assert "interrupted" in stderr and "interrupted" in stdout
    assert any(json.loads(ln)["rule"] == "NW-CARD-001" for ln in out.read_text().splitlines())
    assert "NW-CARD-001" in html.read_text()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "a worker process outlived the scan"
    return stdout


def _wait(cond, what: str, timeout: float = 30) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("group", [False, True], ids=["to-parent", "to-group"])
def test_sigterm_single_process(tmp_path: Path, group: bool) -> None:
    fifo = tmp_path / "card.pcap"
    with held_fifo(fifo, CARD.read_bytes()) as drained:
        proc, out, html = _start(tmp_path, str(fifo), "--jobs", "1")
        _wait(drained.is_set, "the scan to read the capture")
        time.sleep(0.5)  # a few packets to analyse, then it waits for more
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGTERM) if group else proc.send_signal(signal.SIGTERM)
        _check_ended_like_ctrl_c(proc, out, html, set())


def test_pipes_are_scanned_in_this_process(tmp_path: Path) -> None:
    """A pipe is read once, by this process: --jobs does not hand it to a worker, and SIGTERM still
    returns what was found in it."""
    fifo = tmp_path / "card.pcap"
    with held_fifo(fifo, CARD.read_bytes()) as drained:
        proc, out, html = _start(tmp_path, str(fifo), str(CARD), "--jobs", "2")
        _wait(drained.is_set, "the scan to read the pipe")
        time.sleep(0.5)
        assert proc.poll() is None and not _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _check_ended_like_ctrl_c(proc, out, html, set())


def _read_bytes(pid: int) -> int:
    try:
        return int(next(ln for ln in Path(f"/proc/{pid}/io").read_text().splitlines()
                        if ln.startswith("rchar")).split()[1])
    except (OSError, StopIteration):
        return 0


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_scan", ROOT / "benchmarks" / "bench_scan.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def _workers(pid: int) -> set[int]:
    return set(local_workers(pid))


def _interrupt_reading_workers(proc: subprocess.Popen, size: int, group: bool) -> set[int]:
    """SIGTERM once both workers have read a quarter of `size` bytes (the card POSTs are spread
    through it)."""
    _wait(lambda: len(_workers(proc.pid)) >= 2, "the workers")
    workers = _workers(proc.pid)
    _wait(lambda: all(_read_bytes(w) > size // 4 for w in workers) or proc.poll() is not None, "the workers to scan")
    read = {w: _read_bytes(w) for w in workers}
    assert proc.poll() is None, f"the scan finished before both workers were a quarter in (bytes read {read})"
    os.killpg(proc.pid, signal.SIGTERM) if group else proc.send_signal(signal.SIGTERM)
    return workers


def _packets(out: Path, name: str) -> int:
    """Packets scanned from input `name`, from its `input` record in the JSON Lines."""
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return int(next(r["packets"] for r in records if r["event_type"] == "input" and r["name"].endswith(name)))


@pytest.mark.slow
@pytest.mark.parametrize("group", [False, True], ids=["to-parent", "to-group"])
def test_sigterm_with_worker_processes(tmp_path: Path, group: bool) -> None:
    """Two files on two local workers: each returns its partial report."""
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    _bench().generate(a, 300_000, seed=5)  # type: ignore[attr-defined]
    shutil.copyfile(a, b)  # a copy: a hard link is the same file, which scan reads once
    proc, out, html = _start(tmp_path, str(a), str(b), "--jobs", "2")
    workers = _interrupt_reading_workers(proc, a.stat().st_size, group)
    _check_ended_like_ctrl_c(proc, out, html, workers)
    assert 0 < _packets(out, "a.pcap") < 300_000 and 0 < _packets(out, "b.pcap") < 300_000


@pytest.mark.slow
def test_sigterm_during_sharded_scan(tmp_path: Path) -> None:
    from netwatch.pipeline.runner import SHARD_MIN_BYTES

    big = tmp_path / "big.pcap"
    packets = 2300 * (SHARD_MIN_BYTES >> 20)  # ~475 bytes a packet: just above the shard threshold
    _bench().generate(big, packets, seed=5)  # type: ignore[attr-defined]
    assert big.stat().st_size >= SHARD_MIN_BYTES
    proc, out, html = _start(tmp_path, str(big), "--jobs", "2")
    workers = _interrupt_reading_workers(proc, big.stat().st_size, False)
    _check_ended_like_ctrl_c(proc, out, html, workers)
    assert 0 < _packets(out, "big.pcap") < packets
