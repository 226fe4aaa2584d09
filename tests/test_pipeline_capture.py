"""Capture layer: pcap (µs/ns, both byte orders), pcapng, .gz, and inputs that break off."""

from __future__ import annotations

import gzip
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_helpers import pcap_bytes, pcapng_bytes, tcp_frame, write

from netwatch.capture import CaptureError, Frame
from netwatch.capture.pcapfile import CHUNK, CaptureReader

F1 = tcp_frame("10.0.0.1", "10.0.0.2", 40000, 80, 1, 0x02)
F2 = tcp_frame("10.0.0.2", "10.0.0.1", 80, 40000, 7, 0x12)
TS1, TS2 = 1_700_000_000.25, 1_700_000_001.5


def read_all(path: str) -> tuple[list[Frame], CaptureReader]:
    with CaptureReader(path) as r:
        frames = list(r)
    return frames, r


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_resolutions_and_byte_orders(tmp_path, order, nano):
    path = write(tmp_path, "a.pcap", pcap_bytes([(TS1, F1), (TS2, F2)], order=order, nano=nano))
    frames, r = read_all(path)
    assert r.format == "pcap" and r.problem is None
    assert [f.data for f in frames] == [F1, F2]
    assert [f.linktype for f in frames] == [1, 1]
    assert frames[0].ts == pytest.approx(TS1, abs=1e-6) and frames[1].ts == pytest.approx(TS2, abs=1e-6)
    assert frames[0].wirelen == len(F1)


def test_pcap_nanosecond_precision_kept(tmp_path):
    path = write(tmp_path, "ns.pcap", pcap_bytes([(1.000000123, F1)], nano=True))
    frames, _ = read_all(path)
    assert frames[0].ts == pytest.approx(1.000000123, abs=1e-10)


def test_records_are_plain_tuples_matching_frames(tmp_path):
    path = write(tmp_path, "a.pcap", pcap_bytes([(TS1, F1), (TS2, F2)]))
    with CaptureReader(path) as r:
        recs = list(r.records())
    assert recs == [(pytest.approx(TS1), 1, F1, len(F1)), (pytest.approx(TS2), 1, F2, len(F2))]


def test_pcap_across_read_chunks(tmp_path):
    """Records that straddle the 1 MiB read windows come out whole and in order."""
    frames = [(float(i), tcp_frame("10.0.0.1", "10.0.0.2", 40000, 80, i, 0x18, bytes([i & 0xFF]) * (700 + i % 997)))
              for i in range(3 * CHUNK // 1000)]
    path = write(tmp_path, "big.pcap", pcap_bytes(frames))
    got, r = read_all(path)
    assert r.problem is None
    assert len(got) == len(frames)
    assert all(g.data == f[1] for g, f in zip(got, frames, strict=True))


def test_pcapng_two_interfaces_with_different_link_types(tmp_path):
    raw_ip = F2[14:]  # the same IPv4 packet without its Ethernet header
    data = pcapng_bytes([1, 101], [(0, TS1, F1), (1, TS2, raw_ip)])
    frames, r = read_all(write(tmp_path, "two.pcapng", data))
    assert r.format == "pcapng" and r.problem is None
    assert [(f.linktype, f.data) for f in frames] == [(1, F1), (101, raw_ip)]
    assert frames[1].ts == pytest.approx(TS2, abs=1e-6)


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_byte_orders_and_tsresol(tmp_path, order):
    data = pcapng_bytes([1], [(0, 1.000000001, F1)], order=order, tsresol=9)
    frames, r = read_all(write(tmp_path, "ns.pcapng", data))
    assert r.problem is None and frames[0].data == F1
    assert frames[0].ts == pytest.approx(1.000000001, abs=1e-10)


def test_gzip_capture(tmp_path):
    path = write(tmp_path, "a.pcap.gz", gzip.compress(pcap_bytes([(TS1, F1), (TS2, F2)])))
    frames, r = read_all(path)
    assert [f.data for f in frames] == [F1, F2] and r.problem is None


def test_cut_gzip_stream_keeps_frames_and_says_why(tmp_path):
    blob = gzip.compress(pcap_bytes([(float(i), F1) for i in range(2000)]))
    frames, r = read_all(write(tmp_path, "cut.pcap.gz", blob[: len(blob) // 2]))
    assert 0 < len(frames) < 2000
    assert r.problem and "read error" in r.problem


def test_truncated_last_record_keeps_data_and_names_offset(tmp_path):
    blob = pcap_bytes([(TS1, F1), (TS2, F2)])
    frames, r = read_all(write(tmp_path, "t.pcap", blob[:-10]))
    assert [f.data for f in frames] == [F1, F2[:-10]]  # what there is of the last packet is still scanned
    assert "file ends inside a packet" in r.problem
    assert f"byte offset {24 + 16 + len(F1)}" in r.problem and "packet 2" in r.problem


def test_truncated_record_header(tmp_path):
    blob = pcap_bytes([(TS1, F1), (TS2, F2)])
    frames, r = read_all(write(tmp_path, "h.pcap", blob[: 24 + 16 + len(F1) + 7]))
    assert [f.data for f in frames] == [F1]
    assert "inside a record header" in r.problem


def test_impossible_record_length(tmp_path):
    blob = bytearray(pcap_bytes([(TS1, F1), (TS2, F2)]))
    struct.pack_into("<I", blob, 24 + 16 + len(F1) + 8, 0x7FFFFFFF)
    frames, r = read_all(write(tmp_path, "c.pcap", bytes(blob)))
    assert [f.data for f in frames] == [F1]
    assert "impossible" in r.problem


def test_header_only_pcap_is_empty_not_an_error(tmp_path):
    frames, r = read_all(write(tmp_path, "e.pcap", pcap_bytes([])))
    assert frames == [] and r.problem is None


def test_pcapng_truncated_block(tmp_path):
    data = pcapng_bytes([1], [(0, TS1, F1), (0, TS2, F2)])
    frames, r = read_all(write(tmp_path, "t.pcapng", data[:-8]))
    assert [f.data for f in frames] == [F1]
    assert "inside a block" in r.problem


@pytest.mark.parametrize("content", [b"", b"hello world, not a capture", b"\x00" * 64])
def test_not_a_capture(tmp_path, content):
    path = write(tmp_path, "notes.pcap", content)
    with pytest.raises(CaptureError, match="^not a pcap or pcapng file: .*notes.pcap$"):
        CaptureReader(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CaptureError, match="no such file"):
        CaptureReader(tmp_path / "nope.pcap")
    with pytest.raises(CaptureError, match="is a directory"):
        CaptureReader(tmp_path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.sampled_from([pcap_bytes([]), pcap_bytes([], order=">", nano=True), pcapng_bytes([1, 113], [])]),
       body=st.binary(max_size=400), cut=st.integers(0, 60))
def test_reader_never_raises_on_arbitrary_records(tmp_path, head, body, cut):
    """Whatever follows a valid file header, the reader stops with a reason instead of raising."""
    whole = pcap_bytes([(TS1, F1)]) if head[:4] != b"\x0a\x0d\x0d\x0a" else pcapng_bytes([1], [(0, TS1, F1)])
    path = write(tmp_path, "fuzz.cap", head + whole[len(head):][: max(0, len(whole) - len(head) - cut)] + body)
    with CaptureReader(path) as r:
        for frame in r:
            assert isinstance(frame.data, bytes)
