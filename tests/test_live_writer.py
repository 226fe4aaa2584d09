"""The capture writer and the stream reader live capture relies on: exact round trips, no raising."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netwatch.capture import CaptureError, Frame
from netwatch.capture.pcapfile import CaptureReader
from netwatch.capture.writer import CaptureWriter

ETH = bytes(12) + b"\x08\x00"
frames_st = st.lists(
    st.builds(Frame, st.integers(0, 2**40).map(lambda us: us * 1e-6), st.sampled_from([1, 101, 113]),
              st.binary(max_size=300), st.integers(0, 70000)),
    max_size=20,
)


def _read(path: Path) -> tuple[list[Frame], str | None]:
    with CaptureReader(path) as r:
        return list(r), r.problem


@settings(max_examples=60, deadline=None)
@given(frames_st)
def test_pcapng_round_trip_is_exact(tmp_path_factory: pytest.TempPathFactory, frames: list[Frame]) -> None:
    path = tmp_path_factory.mktemp("w") / "x.pcapng"
    with CaptureWriter(path, "lo") as w:
        for f in frames:
            w.write(f)
    got, problem = _read(path)
    assert problem is None
    assert got == [Frame(f.ts, f.linktype, f.data, f.wirelen) for f in frames]


def test_pcap_suffix_writes_classic_pcap_and_refuses_a_second_link_type(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    w = CaptureWriter(path)
    w.write(Frame(1_700_000_000.25, 1, ETH + b"payload", 21))
    with pytest.raises(CaptureError, match="one link type"):
        w.write(Frame(1_700_000_000.5, 101, b"\x45" + bytes(19), 20))
    w.close()
    assert path.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"
    assert _read(path) == ([Frame(1_700_000_000.25, 1, ETH + b"payload", 21)], None)


def test_empty_capture_and_drop_count_still_make_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcapng"
    CaptureWriter(path, "eth0", linktype=1).close(drops=7)
    assert _read(path) == ([], None)
    if shutil.which("capinfos"):
        r = subprocess.run(["capinfos", "-c", str(path)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "Number of packets:   0" in r.stdout


def test_flushed_file_is_readable_before_close(tmp_path: Path) -> None:
    """A killed capture still leaves every flushed frame readable."""
    path = tmp_path / "open.pcapng"
    w = CaptureWriter(path, "lo", 1)
    w.write(Frame(1.5, 1, ETH, 14))
    w.flush()
    assert _read(path) == ([Frame(1.5, 1, ETH, 14)], None)
    w.close()


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot write capture"):
        CaptureWriter(tmp_path / "missing-dir" / "x.pcapng")


def test_stream_reader_yields_frames_as_they_arrive(tmp_path: Path) -> None:
    """Over a pipe (as from dumpcap) each frame comes out without waiting for more data or EOF."""
    src = tmp_path / "src.pcap"
    with CaptureWriter(src) as w:
        for i in range(3):
            w.write(Frame(10.0 + i, 1, ETH + bytes([i]), 15))
    data = src.read_bytes()
    rfd, wfd = os.pipe()
    os.write(wfd, data[: 24 + 16 + 15])  # header and the first record only
    reader = CaptureReader.from_stream(io.FileIO(rfd, "rb", closefd=True), "pipe")
    it = iter(reader)
    first = [None]
    t = threading.Thread(target=lambda: first.__setitem__(0, next(it)))
    t.start()
    t.join(5)
    assert not t.is_alive() and first[0] == Frame(10.0, 1, ETH + b"\x00", 15)
    os.write(wfd, data[24 + 16 + 15 :])
    os.close(wfd)
    assert [f.data[-1] for f in it] == [1, 2] and reader.problem is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_stream_reader_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    try:
        reader = CaptureReader.from_stream(io.BytesIO(data), "fuzz")
    except CaptureError:
        return
    for _ in reader:
        pass
