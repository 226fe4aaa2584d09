"""Running `netwatch live` as a real subprocess for the live tests, bounded in time."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KEY = "00" * 16
READY_TIMEOUT = 20.0


def raw_sockets_reason() -> str | None:
    """Why live capture cannot run here, or None when raw sockets are permitted."""
    if not sys.platform.startswith("linux"):
        return "live capture tests use Linux PF_PACKET sockets"
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        return "raw sockets are not permitted here (needs root or CAP_NET_RAW)"
    except OSError as e:
        return f"raw sockets unavailable: {e}"
    return None


def need_raw() -> None:
    reason = raw_sockets_reason()
    if reason:
        pytest.skip(reason)


def backends() -> list[str]:
    return ["scapy", "tshark"] if shutil.which("dumpcap") else ["scapy"]


def start_live(args: list[str], env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start `netwatch live ARGS` (behind `prefix`, e.g. `ip netns exec NS`) and wait for its 'capturing
    on' line (stderr)."""
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "netwatch", "live", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    deadline = time.monotonic() + READY_TIMEOUT
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            line = proc.stderr.readline()
            if line.startswith(b"netwatch: capturing on") or not line:
                break
    if not line.startswith(b"netwatch: capturing on"):
        proc.kill()
        out, err = proc.communicate(10)
        pytest.fail(f"netwatch live did not start: {line!r} {err[-500:]!r}")
    return proc


def finish(proc: subprocess.Popen, sig: int | None = None, timeout: float = 30.0) -> tuple[int, str, str]:
    if sig is not None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(10)
        pytest.fail("netwatch live did not stop in time")
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def load_jsonl(path: Path) -> list[dict]:
    """The findings of a JSON Lines file: the last copy of each (live writes updates), in report order."""
    from netwatch.judge.rules import SEVERITY_RANK
    from netwatch.report.jsonl import latest_findings

    recs = latest_findings(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return sorted(recs, key=lambda f: (SEVERITY_RANK[f["severity"]], f["rule"], f["first_seen"], f.get("src") or "",
                                       f.get("dst") or "", f.get("dport") or 0))


def comparable(findings: list[dict]) -> list[dict]:
    """Findings without the fields that name the run (source) or depend on the key (fingerprint)."""
    out = []
    for f in findings:
        f = {k: v for k, v in f.items()  # what names the run or reads the clock
             if k not in ("source", "flow_id", "timestamp", "run_id", "sensor", "site")}
        if isinstance(f.get("evidence"), dict):
            f["evidence"] = {k: v for k, v in f["evidence"].items() if k != "fingerprint"}
        out.append(f)
    return out


def same_findings(a: list[dict], b: list[dict], ts_tolerance: float = 0.0) -> bool:
    """Equal findings; timestamps may differ by `ts_tolerance` (two capture sockets read the clock apart)."""
    a, b = comparable(a), comparable(b)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for k in ("first_seen", "last_seen"):
            if abs(x.pop(k, 0) - y.pop(k, 0)) > ts_tolerance:
                return False
        if x != y:
            return False
    return True


def rescan(capture: Path, out: Path) -> list[dict]:
    r = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(capture), "--json", str(out), "--key", KEY,
                        "-q", "--fail-on", "none"], cwd=REPO, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()[-500:]
    return load_jsonl(out)


def leaked(texts: list[str], secrets: list[str]) -> bool:
    """True when any secret appears in any text; never shows either (so a failure cannot print one)."""
    return any(s in t for t in texts for s in secrets)
