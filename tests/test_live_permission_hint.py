"""The raw-socket capability goes to dumpcap or to an interpreter copy used only for netwatch, never
to the system Python (every script that Python runs would get raw sockets)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from netwatch.capture.live import permission_help

ROOT = Path(__file__).resolve().parents[1]
SETCAP = re.compile(r"setcap \S+ ([^\s',;)]+)")


def test_scapy_hint_grants_dumpcap_or_a_dedicated_copy() -> None:
    python = os.path.realpath(sys.executable)
    msg = permission_help("lo", python, "scapy")
    targets = SETCAP.findall(msg)
    assert targets and python not in targets and sys.executable not in targets
    assert any("dumpcap" in t for t in targets) and any("netwatch-venv" in t for t in targets)
    assert "venv --copies" in msg and "never to the system Python" in msg and "--backend tshark" in msg


def test_tshark_hint_grants_dumpcap() -> None:
    msg = permission_help("eth0", "/usr/bin/dumpcap", "tshark")
    assert SETCAP.findall(msg) == ["/usr/bin/dumpcap"] and "wireshark" in msg


def test_live_help_says_where_the_capability_goes() -> None:
    r = subprocess.run([sys.executable, "-m", "netwatch", "live", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, COLUMNS="200"))
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "granted to dumpcap" in text and "dedicated interpreter copy" in text
    assert "never to the system Python" in text
