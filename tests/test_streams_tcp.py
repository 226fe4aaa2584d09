"""TCP insertion: the stream is built as a Linux receiver builds it, the other copy is scanned too,
segments outside the receiver's window are not delivered, a bad checksum drops nothing (issue 22)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_helpers import Recorder

from netwatch.flows.table import ACK, SYN, FlowTable
from netwatch.flows.tcp import CONFLICT, OUTSIDE_WINDOW, RECENT, loss_notes
from netwatch.judge.rules import RuleSet
from netwatch.packets.decode import Packet
from netwatch.pipeline.session import scan_file

ROOT = Path(__file__).resolve().parents[1]
A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
PSH = 0x08
REAL_BODY = len(b"card_number=&exp=0129&amount=7.80") + 16  # the real body of the bundled decoy capture


def c2s(seq: int, data: bytes = b"", flags: int = PSH | ACK, ack: int = 5001, window: int = -1,
        wscale: int = -1) -> Packet:
    return Packet(1.0, A, B, 6, 40000, 80, flags, seq & 0xFFFFFFFF, data, 40 + len(data), ack, window, wscale)


def s2c(seq: int, data: bytes = b"", flags: int = PSH | ACK, ack: int = 1001, window: int = -1,
        wscale: int = -1) -> Packet:
    return Packet(1.0, B, A, 6, 80, 40000, flags, seq & 0xFFFFFFFF, data, 40 + len(data), ack, window, wscale)


def opened(window: int = -1, wscale: tuple[int, int] = (-1, -1)) -> tuple[FlowTable, Recorder]:
    rec = Recorder()
    t = FlowTable(rec)
    t.process(c2s(1000, flags=SYN, ack=0, wscale=wscale[0]))
    t.process(s2c(5000, flags=SYN | ACK, window=window, wscale=wscale[1]))
    t.process(c2s(1001, flags=ACK, window=window))
    return t, rec


def delivered(rec: Recorder) -> bytes:
    return rec.stream_of(rec.started[0])


def losses(t: FlowTable) -> dict[str, int]:
    return {d["reason"]: d["bytes"] for d in t.losses.as_list()}


def test_a_decoy_delivered_first_leaves_the_real_copy_scanned_and_noted() -> None:
    t, rec = opened()
    t.process(c2s(1001, b"card=0000000000000000"))  # the decoy (bad checksum on the wire)
    t.process(c2s(1001, b"card=4111111111111111"))  # the real copy: delivered bytes stay, it is a variant
    assert delivered(rec) == b"card=0000000000000000"
    assert rec.variants == [(0, b"card=4111111111111111")]
    assert losses(t) == {CONFLICT: 21} and t.tcp.conflicts == 1


def test_an_identical_retransmission_is_no_conflict() -> None:
    t, rec = opened()
    t.process(c2s(1001, b"ABCDEFGH"))
    t.process(c2s(1001, b"ABCDEFGH"))
    t.process(c2s(1005, b"EFGHIJ"))
    assert delivered(rec) == b"ABCDEFGHIJ" and not rec.variants and not losses(t)


def test_queued_overlap_the_lower_start_wins() -> None:
    t, rec = opened()
    t.process(c2s(1011, b"XXXXXXXX"))  # queued (hole before it)
    t.process(c2s(1007, b"yyyyyyyy"))  # starts lower: Linux keeps its bytes where they overlap
    t.process(c2s(1001, b"012345"))
    assert delivered(rec) == b"012345yyyyyyyyXXXX"
    assert rec.variants == [(0, b"XXXX")]


def test_queued_overlap_a_later_start_loses() -> None:
    t, rec = opened()
    t.process(c2s(1007, b"yyyyyyyy"))
    t.process(c2s(1011, b"XXXXXXXX"))  # starts inside the queued segment: only its tail is new
    t.process(c2s(1001, b"012345"))
    assert delivered(rec) == b"012345yyyyyyyyXXXX"
    assert rec.variants == [(0, b"XXXX")]


def test_in_order_bytes_win_over_queued_ones_they_cover() -> None:
    t, rec = opened()
    t.process(c2s(1005, b"zzzz"))
    t.process(c2s(1001, b"0123456789"))  # starts lower and covers the queued segment
    assert delivered(rec) == b"0123456789" and rec.variants == [(0, b"zzzz")]


def test_segments_far_outside_the_receivers_window_are_not_delivered() -> None:
    t, rec = opened(window=8192)
    far = 1001 + (16 << 20)
    for i in range(200):  # enough to overflow an out-of-order buffer that took them
        t.process(c2s(far + i * 1400, b"f" * 1400))
    t.process(c2s(1001, b"the real bytes"))
    assert delivered(rec) == b"the real bytes" and not rec.gaps
    assert losses(t) == {OUTSIDE_WINDOW: 200 * 1400} and t.pending_total == 0


def test_a_scaled_window_admits_what_the_receiver_takes() -> None:
    t, rec = opened(window=4096, wscale=(7, 7))  # 4096 << 7 = 512 KiB; a little further out is still in
    t.process(c2s(1001 + 600_000, b"ahead"))
    assert t.pending_total == 5 and not losses(t)


def test_held_start_copies_that_differ_are_scanned() -> None:
    rec = Recorder()
    t = FlowTable(rec)
    t.process(c2s(700, b"pan=0000"))  # no SYN: the first segments are held to be ordered
    t.process(c2s(700, b"pan=4111"))
    t.process(s2c(90, b"ok"))  # the peer speaks: released
    assert delivered(rec) == b"pan=0000" and rec.variants == [(0, b"pan=4111")]


def test_copies_are_compared_within_the_kept_bytes_only() -> None:
    t, rec = opened()
    t.process(c2s(1001, b"a" * (3 * RECENT)))
    t.process(c2s(1001, b"b" * 10))  # older than the kept bytes: not compared, not delivered
    assert not rec.variants and len(delivered(rec)) == 3 * RECENT
    s = rec.started[0].streams[0]
    assert s is not None and len(s.recent) <= 2 * RECENT


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.binary(min_size=1, max_size=20)), min_size=1, max_size=25))
def test_whatever_the_overlaps_every_queued_byte_is_delivered_once_and_in_order(segs) -> None:
    t, rec = opened()
    covered = set()
    for off, data in segs:
        t.process(c2s(1002 + off, data))  # never the first byte: all of them queue
        covered.update(range(1 + off, 1 + off + len(data)))
    t.process(c2s(1001, b"S"))
    t.close()
    out = delivered(rec)
    assert out[:1] == b"S"
    assert len(out) == 1 + len(covered)  # every byte sent once, holes skipped, none delivered twice
    assert sum(size for _d, size in rec.gaps) == max(covered) - len(covered)  # the holes, and only them
    assert t.pending_total == 0


def test_bundled_decoys_do_not_hide_the_card() -> None:
    rules = RuleSet.load([])
    bad_sum = scan_file(str(ROOT / "captures" / "stream_tcp_decoy_bad_checksum.pcap"), rules, None)
    card = next(f for f in bad_sum.findings if f.rule == "NW-CARD-001")
    assert card.evidence["masked"] == "471601******4570" and card.evidence["channel"] == "tcp-overlap"
    assert bad_sum.tcp_conflicts == 1
    assert [(d["reason"], d["times"]) for d in bad_sum.losses] == [(CONFLICT, 1)]
    assert loss_notes(bad_sum.losses)[0].startswith(f"{REAL_BODY} bytes {CONFLICT}, once: tcp 10.20.1.15:49304")
    far = scan_file(str(ROOT / "captures" / "stream_tcp_decoy_outside_window.pcap"), rules, None)
    card = next(f for f in far.findings if f.rule == "NW-CARD-001")
    assert card.evidence["masked"] == "601100******4242" and card.evidence["channel"] == "http-body"
    assert {d["reason"]: d["bytes"] for d in far.losses} == {OUTSIDE_WINDOW: 280_000}


def test_a_mangled_acknowledgment_behind_the_stream_does_not_drop_its_data() -> None:
    rec = Recorder()
    t = FlowTable(rec)
    t.process(c2s(1000, flags=SYN, ack=0))
    t.process(s2c(5000, flags=SYN | ACK, ack=(1001 - 5_500_000) & 0xFFFFFFFF, window=8760))  # as in a fuzzed capture
    t.process(c2s(1001, b"POST / HTTP/1.0\r\n"))
    assert delivered(rec) == b"POST / HTTP/1.0\r\n" and not losses(t)


def test_kept_bytes_for_comparison_are_bounded_over_all_flows(monkeypatch) -> None:
    import netwatch.flows.tcp as tcp

    monkeypatch.setattr(tcp, "RECENT_TOTAL_CAP", 4000)
    rec = Recorder()
    t = FlowTable(rec)
    for i in range(40):  # 40 flows delivering 1000 bytes each, on different client ports
        port = 41000 + i
        t.process(Packet(1.0, A, B, 6, port, 80, SYN, 1000, b"", 40))
        t.process(Packet(1.0, A, B, 6, port, 80, PSH | ACK, 1001, b"x" * 1000, 1040))
    kept = [len(s.recent) for f in rec.started for s in f.streams if s is not None]
    assert sum(kept) == t.tcp.recent_total <= 4000 + 40 * 2 * tcp.CONTEXT + 1000
    t.close()
    assert t.tcp.recent_total == 0
