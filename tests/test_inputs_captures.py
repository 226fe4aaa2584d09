"""Every capture defect ends that input, never the run: frames before it are scanned, the
findings kept, the place named (packet, byte offset), and the summary, JSON and HTML written."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from input_defects import DEFECTS, epb, frames, idb, pcapng, shb

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


BLOCK_TYPES = st.sampled_from([0x0A0D0D0A, 1, 2, 3, 5, 6, 0xBAD])


@st.composite
def pcapng_block(draw: st.DrawFn) -> bytes:
    """A block header whose length may disagree with what follows (often it is exactly the rest)."""
    btype = draw(BLOCK_TYPES)
    blen = draw(st.one_of(st.sampled_from(range(0, 44, 4)), st.integers(0, 2**32 - 1)))
    exact = draw(st.booleans())
    body = draw(st.binary(min_size=max(0, blen - 8), max_size=max(0, blen - 8)) if exact and blen < 200
                else st.binary(max_size=80))
    return struct.pack("<II", btype, blen) + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=st.lists(pcapng_block(), min_size=1, max_size=4), cut=st.integers(0, 12))
def test_reader_never_raises_on_arbitrary_pcapng_blocks(tmp_path: Path, blocks: list[bytes], cut: int) -> None:
    """Blocks of any type whose length field and contents disagree, possibly cut at the end."""
    tail = b"".join(blocks)
    path = tmp_path / "fuzz.pcapng"
    path.write_bytes(shb() + idb() + epb(1, b"\0" * 60) + tail[: max(0, len(tail) - cut)])
    with CaptureReader(path) as r:
        n = sum(1 for _ in r)
    assert n >= 1  # the valid packet before the fuzzed blocks
