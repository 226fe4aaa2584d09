"""pyshark drives the tshark backend: the dumpcap that runs is the one pyshark found, with the command
line pyshark's LiveCapture built, on the interface pyshark resolved from `tshark -D`. Real processes."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from live_run import REPO, finish, need_raw, start_live

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not (shutil.which("dumpcap") and shutil.which("tshark")),
                                 reason="tshark and dumpcap are not installed")]
BPF = "udp port 9"


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid`, from /proc."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        m = re.search(r"^PPid:\s+(\d+)$", text, re.M)
        if m and int(m.group(1)) == pid:
            out.append(int(status.parent.name))
    return out


def _descendants(pid: int) -> list[int]:
    """Children, grandchildren…: dumpcap runs behind netwatch's guard process."""
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _pyshark_dumpcap_argv(iface: str, bpf: str) -> list[str]:
    """What pyshark itself builds for this capture, asked here independently of netwatch."""
    import pyshark
    from pyshark.tshark.tshark import get_process_path

    loop = asyncio.new_event_loop()
    try:
        cap = pyshark.LiveCapture(interface=iface, bpf_filter=bpf, eventloop=loop)
        return [get_process_path(process_name="dumpcap"), *cap._get_dumpcap_parameters()]
    finally:
        loop.close()


def _stdout_of(pid: int) -> tuple[str, int]:
    """Where a process's standard output goes (the link /proc shows) and that file's mode."""
    link = os.readlink(f"/proc/{pid}/fd/1")
    return link, os.stat(f"/proc/{pid}/fd/1").st_mode


def test_dumpcap_runs_the_command_pyshark_built() -> None:
    need_raw()
    proc = start_live(["-i", "lo", "--backend", "tshark", "--bpf", BPF, "--duration", "30", "--fail-on", "none"])
    try:
        deadline = time.monotonic() + 10
        argvs: list[list[str]] = []
        while not argvs and time.monotonic() < deadline:
            dumpcaps = [pid for pid in _descendants(proc.pid) if _cmdline(pid)[:1] and
                        _cmdline(pid)[0].endswith("dumpcap")]
            argvs = [_cmdline(pid) for pid in dumpcaps]
            time.sleep(0.1)
        spool, mode = _stdout_of(dumpcaps[0])
    finally:
        code, out, err = finish(proc, signal.SIGINT)
    assert len(argvs) == 1, argvs
    expected = _pyshark_dumpcap_argv("lo", BPF)
    assert argvs[0][: len(expected)] == expected  # pyshark's order: -q -f BPF -i lo -w -
    # plus classic pcap, as pyshark's LiveRingCapture adds, and a kernel buffer that holds a burst
    assert argvs[0][len(expected):] == ["-P", "-B", "64"]
    # dumpcap writes into netwatch's spool: a regular file with no name left on disk, only its owner's
    assert spool.endswith(" (deleted)") and stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600, (spool, oct(mode))
    assert code == 0 and "stopped by Ctrl-C/SIGTERM" in out, err[-400:]


def _tshark_number(name: str) -> str:
    listing = subprocess.run(["tshark", "-D"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(rf"^(\d+)\. {re.escape(name)}\b", listing, re.M)
    if not m:
        pytest.skip(f"tshark -D does not list {name} here")
    return m.group(1)


def test_interface_by_tshark_number_is_resolved_by_pyshark() -> None:
    need_raw()
    number = _tshark_number("lo")
    r = _netwatch_in(REPO, "-i", number, "--backend", "tshark", "--bpf", BPF, "--duration", "1", "--fail-on", "none")
    assert r.returncode == 0, r.stderr[-400:]
    assert "capturing on lo with the tshark (pyshark" in r.stderr and "Captured on lo with tshark" in r.stdout
    # the scapy backend knows kernel names only: the number means nothing there
    r = _netwatch_in(REPO, "-i", number, "--backend", "scapy", "--duration", "1")
    assert r.returncode == 2 and f"no such interface: {number}" in r.stderr


def _netwatch_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "netwatch", "live", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_pyshark_config_ini_chooses_dumpcap(tmp_path: Path) -> None:
    """pyshark's config.ini (read from the current directory) decides which dumpcap runs; one that is
    not pyshark's is reported in one line, not as pyshark's traceback."""
    need_raw()
    bindir = tmp_path / "wireshark-bin"
    bindir.mkdir()
    (bindir / "dumpcap").symlink_to(shutil.which("dumpcap"))
    (tmp_path / "config.ini").write_text(f"[tshark]\ntshark_path = {shutil.which('tshark')}\n"
                                         f"[dumpcap]\ndumpcap_path = {bindir / 'dumpcap'}\n")
    r = _netwatch_in(tmp_path, "-i", "lo", "--backend", "tshark", "--bpf", BPF, "--duration", "1",
                     "--fail-on", "none")
    assert r.returncode == 0, r.stderr[-400:]
    assert f"running {bindir / 'dumpcap'}," in r.stderr  # not the dumpcap on PATH
    (tmp_path / "config.ini").write_text("[database]\nhost = localhost\n")
    r = _netwatch_in(tmp_path, "-i", "lo", "--backend", "tshark", "--duration", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "config.ini" in r.stderr and len(r.stderr.strip().splitlines()) == 1
