"""The tshark backend's spool: a nameless private file written by one process and read behind it.

A real writer process (this interpreter in a subprocess, as dumpcap is) writes a real capture into
the spool in uneven pieces, records cut anywhere; the reader must give exactly the frames an offline
read of the same capture gives, release what it has read, and count what it skips.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from netwatch.capture.live_spool import SpoolReader, open_spool
from netwatch.capture.pcapfile import CaptureReader

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "captures" / "stream_tcp_decoy_outside_window.pcap"  # ~300 KB, frames of every size
WRITER = """
import os, sys, time
data = open(sys.argv[1], "rb").read()
pieces = [int(n) for n in sys.argv[2].split(",")]
fd, at, i = 1, 0, 0
while at < len(data):
    n = pieces[i % len(pieces)]
    os.write(fd, data[at : at + n])
    at += n
    i += 1
    if i % 7 == 0:
        time.sleep(0.002)  # the reader catches up and finds a record cut short
"""


def _offline(path: Path) -> list[tuple[float, int, bytes, int]]:
    with CaptureReader(path) as r:
        return [(round(ts * 1e6) * 1e-6, lt, data, wl) for ts, lt, data, wl in r.records()]


def _spooled(path: Path, pieces: str, max_backlog: int = 1 << 30) -> tuple[list[tuple[float, int, bytes, int]],
                                                                           SpoolReader]:
    """Frames read from the spool while a writer process fills it."""
    spool = open_spool()
    try:
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), pieces], stdout=spool)
        reader = SpoolReader(spool, max_backlog=max_backlog)
        frames = []
        try:
            for block in reader.blocks(lambda: writer.poll() is None, lambda: False):
                frames.extend(block.frames())
        finally:
            writer.wait(30)
        return frames, reader
    finally:
        spool.close()


@pytest.mark.parametrize("pieces", ["1,7,300,5000", "65536", "16,24,3"])
def test_spool_read_as_written_gives_the_offline_frames(pieces: str) -> None:
    frames, reader = _spooled(CAPTURE, pieces)
    want = _offline(CAPTURE)
    assert len(frames) == len(want) and reader.frames == len(want)
    assert frames == want
    assert reader.problem is None and reader.skipped == 0


def test_spool_is_private_and_has_no_name() -> None:
    spool = open_spool()
    try:
        st = os.fstat(spool.fileno())
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_nlink == 0  # nothing on any directory to leak
    finally:
        spool.close()


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The capture's records 40 times over (~12 MB: many read windows, over the punch interval)."""
    one = CAPTURE.read_bytes()
    path = tmp_path_factory.mktemp("spool") / "big.pcap"
    path.write_bytes(one[:24] + one[24:] * 40)
    return path, 40 * len(_offline(CAPTURE))


def test_a_backlog_over_the_bound_is_skipped_and_counted(big: tuple[Path, int]) -> None:
    """Behind by more than the bound: whole windows are walked, not analysed, and counted as lost;
    once the backlog is under the bound again, frames are analysed again."""
    path, want = big
    spool = open_spool()
    try:
        spool.write(path.read_bytes())  # all of it waits unread
        spool.flush()
        reader = SpoolReader(spool, max_backlog=4 << 20)
        got = sum(block.size for block in reader.blocks(lambda: False, lambda: False))
    finally:
        spool.close()
    assert reader.skipped > 0 and got > 0 and got + reader.skipped == want


def test_giving_up_counts_what_was_left(big: tuple[Path, int]) -> None:
    path, want = big
    spool = open_spool()
    try:
        spool.write(path.read_bytes())
        spool.flush()
        reader = SpoolReader(spool)
        blocks = reader.blocks(lambda: True, lambda: reader.frames > 0)  # give up after the first window
        got = sum(block.size for block in blocks)
    finally:
        spool.close()
    assert 0 < got < want and got + reader.skipped == want


def test_what_was_read_is_released(big: tuple[Path, int]) -> None:
    """The spool keeps only the backlog: what has been read is punched out of the file."""
    path, _ = big
    spool = open_spool()
    try:
        spool.write(path.read_bytes())
        spool.flush()
        before = os.fstat(spool.fileno()).st_blocks
        reader = SpoolReader(spool)
        for _ in reader.blocks(lambda: False, lambda: False):
            pass
        after = os.fstat(spool.fileno()).st_blocks
        size = os.fstat(spool.fileno()).st_size
    finally:
        spool.close()
    if reader._punch is None:
        pytest.skip("this file system cannot punch holes")
    assert size == path.stat().st_size and after < before / 2


def test_a_stream_that_is_not_pcap_says_so() -> None:
    spool = open_spool()
    try:
        spool.write(b"\x0a\x0d\x0d\x0a" + bytes(60))  # pcapng: dumpcap was asked for classic pcap (-P)
        spool.flush()
        reader = SpoolReader(spool)
        assert list(reader.blocks(lambda: False, lambda: False)) == []
    finally:
        spool.close()
    assert reader.problem and "not a classic pcap" in reader.problem
