"""Every capture defect ends that input, never the run: frames before it are scanned, the
findings kept, the place named (packet, byte offset), and the summary, JSON and HTML written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from input_defects import DEFECTS, frames, pcapng

from netwatch.capture.pcapfile import CaptureReader

ROOT = Path(__file__).resolve().parents[1]


def _scan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netwatch", "scan", *args, "--no-progress"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env=dict(os.environ, COLUMNS="300"))


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_reader_keeps_frames_and_names_the_place(tmp_path: Path, name: str) -> None:
    make, suffix, says = DEFECTS[name]
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(make())
    with CaptureReader(path) as r:
        got = [f.data for f in r]
    assert got == [d for _, d in frames()]
    assert r.problem is not None and says in r.problem
    assert f"packet {len(got) + 1}, byte offset " in r.problem


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_scan_writes_everything_found_before_the_defect(tmp_path: Path, name: str) -> None:
    make, suffix, says = DEFECTS[name]
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(make())
    out, html = tmp_path / "f.jsonl", tmp_path / "r.html"
    run = _scan(str(path), "--json", str(out), "--html", str(html))
    assert "Traceback" not in run.stderr
    assert run.returncode == 1  # the card finding made before the defect
    assert any(json.loads(ln)["rule"] == "NW-CARD-001" for ln in out.read_text().splitlines())
    assert "input broke off" in run.stdout and says in run.stdout
    assert "NW-CARD-001" in html.read_text()


@pytest.mark.parametrize("tsresol", [0, 0x80, 0x7F, 0xFF])
def test_timestamps_beyond_any_calendar_are_reported_not_raised(tmp_path: Path, tsresol: int) -> None:
    """if_tsresol 0 (seconds) or 2^-0, with 64-bit tick counts: timestamps past year 9999."""
    path = tmp_path / "far.pcapng"
    path.write_bytes(pcapng(tsresol, ticks=lambda ts: (1 << 64) - 1 - round(1e6 * (2e9 - ts))))
    out, html = tmp_path / "f.jsonl", tmp_path / "r.html"
    run = _scan(str(path), "--json", str(out), "--html", str(html))
    assert "Traceback" not in run.stderr
    assert run.returncode == 1
    assert any(json.loads(ln)["rule"] == "NW-CARD-001" for ln in out.read_text().splitlines())
    assert html.stat().st_size > 0
    if tsresol in (0, 0x80):  # one tick = one second: ~1.8e19 s after the epoch
        assert "out of range" in run.stdout
