"""netwatch killed outright (SIGKILL: no clean-up runs) leaves no capture running: the capture
process writes into a spool, not a pipe, so nothing breaks when netwatch dies; dumpcap's guard and
the scapy backend's reader notice their parent is gone and end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from live_run import backends, need_raw, start_live

pytestmark = pytest.mark.live
GONE_WITHIN = 10.0  # seconds: the guard looks every 0.5 s, dumpcap then flushes and exits


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc."""
    parents: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = next(int(ln.split()[1]) for ln in status.read_text().splitlines() if ln.startswith("PPid:"))
        except (OSError, StopIteration, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(status.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("backend", backends())
def test_capture_ends_when_netwatch_is_killed(backend: str) -> None:
    need_raw()
    proc = start_live(["-i", "lo", "--backend", backend, "--bpf", "udp port 9", "--duration", "60", "-q",
                       "--fail-on", "none"])
    try:
        capture = _descendants(proc.pid)
        assert capture, "the capture runs in a process of its own"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    deadline = time.monotonic() + GONE_WITHIN
    while any(_alive(pid) for pid in capture) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in capture if _alive(pid)]
    for pid in left:  # do not leave them running for the next test, whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{backend}: capture processes outlived netwatch"


def test_guard_stops_its_command_when_its_parent_is_gone() -> None:
    """The guard alone (no capture rights needed): an intermediate process starts it and exits at
    once; the guard, orphaned, interrupts its command and exits."""
    start = ("import os, subprocess, sys; "
             "p = subprocess.Popen([sys.executable, '-m', 'netwatch.capture.live_guard', str(os.getpid()), "
             "sys.executable, '-c', 'import time; time.sleep(60)'], stdout=subprocess.DEVNULL, "
             "stderr=subprocess.DEVNULL); print(p.pid)")
    r = subprocess.run([sys.executable, "-c", start], capture_output=True, text=True, timeout=30)
    guard = int(r.stdout.strip())
    seen = time.monotonic() + 5.0
    command: list[int] = []
    while not command and _alive(guard) and time.monotonic() < seen:  # the guard looks every 0.5 s
        command = _descendants(guard)
        time.sleep(0.02)
    deadline = time.monotonic() + GONE_WITHIN
    while any(_alive(pid) for pid in [guard, *command]) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in [guard, *command] if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert command, "the guard did not start its command"
    assert not left, "the guard or its command outlived the parent"
