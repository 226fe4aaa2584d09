"""Flow table and TCP reassembly: roles, ordering, retransmits, overlaps, gaps, eviction, bounds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_helpers import Recorder, ip4

from netwatch.flows.table import ACK, FIN, OOO_CAP, RST, SYN, FlowTable
from netwatch.packets.decode import Packet

A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
PSH = 0x08


def seg(src: bytes, sport: int, dst: bytes, dport: int, seq: int, flags: int, data: bytes = b"", ts: float = 1.0,
        proto: int = 6) -> Packet:
    return Packet(ts, src, dst, proto, sport, dport, flags, seq & 0xFFFFFFFF, data, 40 + len(data))


def c2s(seq: int, data: bytes = b"", flags: int = PSH | ACK, ts: float = 1.0) -> Packet:
    return seg(A, 40000, B, 80, seq, flags, data, ts)


def s2c(seq: int, data: bytes = b"", flags: int = PSH | ACK, ts: float = 1.0) -> Packet:
    return seg(B, 80, A, 40000, seq, flags, data, ts)


def handshake(t: FlowTable, isn: int = 1000) -> None:
    t.process(c2s(isn, flags=SYN))
    t.process(s2c(5000, flags=SYN | ACK))
    t.process(c2s(isn + 1, flags=ACK))


def table() -> tuple[FlowTable, Recorder]:
    rec = Recorder()
    return FlowTable(rec), rec


def test_roles_from_syn():
    t, rec = table()
    t.process(seg(B, 80, A, 40000, 1, SYN))  # the SYN comes from B: B is the client even on port 80
    f = rec.started[0]
    assert (f.src, f.client_port, f.dst, f.server_port) == ("10.0.0.2", 80, "10.0.0.1", 40000)


def test_roles_from_syn_ack_and_ports():
    t, rec = table()
    t.process(s2c(5000, flags=SYN | ACK))  # only the SYN-ACK was captured: its receiver is the client
    t.process(seg(A, 5353, B, 53, 0, 0, b"q", proto=17))  # no SYN: the lower port is the service
    tcp, udp = rec.started
    assert (tcp.src, tcp.server_port) == ("10.0.0.1", 80)
    assert (udp.src, udp.client_port, udp.server_port) == ("10.0.0.1", 5353, 53)
    assert len(t) == 2


def test_counters_per_direction():
    t, rec = table()
    handshake(t)
    t.process(c2s(1001, b"abc"))
    t.process(s2c(5001, b"hello"))
    f = rec.started[0]
    assert f.packets == [3, 2] and f.bytes == [3, 5]


def test_in_order_and_out_of_order_delivery():
    t, rec = table()
    handshake(t)
    for off, piece in [(10, b"KLMNO"), (0, b"ABCDE"), (5, b"FGHIJ")]:
        t.process(c2s(1001 + off, piece))
    assert rec.stream_of(rec.started[0]) == b"ABCDEFGHIJKLMNO"


def test_retransmission_delivered_once():
    t, rec = table()
    handshake(t)
    t.process(c2s(1001, b"ABCDE"))
    t.process(c2s(1001, b"ABCDE"))
    t.process(c2s(1006, b"FGH"))
    f = rec.started[0]
    assert rec.stream_of(f) == b"ABCDEFGH"
    assert f.streams[0].retransmits == 1


def test_overlap_delivered_bytes_stay_and_the_other_copy_is_a_variant():
    t, rec = table()
    handshake(t)
    t.process(c2s(1001, b"AAAAAAAAAA"))
    t.process(c2s(1006, b"bbbbbbbbbb"))  # overlaps 5 delivered bytes: only the new tail counts
    assert rec.stream_of(rec.started[0]) == b"AAAAAAAAAA" + b"bbbbb"
    assert rec.variants == [(0, b"bbbbb")]  # the differing copy of the delivered bytes, scanned too


def test_overlap_in_out_of_order_buffer_longer_copy_at_the_same_start_wins():
    t, rec = table()
    handshake(t)
    t.process(c2s(1011, b"XXXX"))  # held (hole before it)
    t.process(c2s(1011, b"yyyyyyyy"))  # same start, longer: Linux replaces the queued segment
    t.process(c2s(1001, b"0123456789"))
    assert rec.stream_of(rec.started[0]) == b"0123456789yyyyyyyy"
    assert rec.variants == [(0, b"XXXX")]


def test_capture_starting_mid_connection():
    t, rec = table()
    t.process(c2s(777_000, b"GET / HTTP/1.1\r\n"))
    t.process(c2s(777_016, b"Host: x\r\n\r\n"))
    t.process(s2c(99, b"HTTP/1.1 200 OK\r\n"))
    f = rec.started[0]
    assert f.src == "10.0.0.1" and f.server_port == 80  # roles from ports
    assert rec.stream_of(f) == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"  # released when the server spoke
    assert rec.stream_of(f, 1) == b""  # the server's start is still held (no SYN: order unknown yet)
    t.close()
    assert rec.stream_of(f, 1) == b"HTTP/1.1 200 OK\r\n"


def test_sequence_wraparound():
    t, rec = table()
    handshake(t, isn=0xFFFFFFF0)
    t.process(c2s(0xFFFFFFF1 + 10, b"KLMNOPQRST"))  # wraps past 2**32
    t.process(c2s(0xFFFFFFF1, b"ABCDEFGHIJ"))
    assert rec.stream_of(rec.started[0]) == b"ABCDEFGHIJKLMNOPQRST"


def test_gap_skipped_after_cap():
    t, rec = table()
    handshake(t)
    t.process(c2s(1001, b"start"))
    hole = 1000
    chunk = b"z" * 1400
    sent = 0
    seq = 1006 + hole
    while not rec.gaps:
        t.process(c2s(seq, chunk))
        seq += len(chunk)
        sent += len(chunk)
        assert sent <= OOO_CAP + 2 * len(chunk)
    assert rec.gaps == [(0, hole)]
    f = rec.started[0]
    assert rec.stream_of(f) == b"start" + b"z" * sent
    assert t.gap_bytes == hole and t.pending_total == 0


def test_gap_at_flow_end_flushes_held_data():
    t, rec = table()
    handshake(t)
    t.process(c2s(1001 + 50, b"after the hole"))
    t.close()
    assert rec.gaps == [(0, 50)] and rec.stream_of(rec.started[0]) == b"after the hole"
    assert rec.ended == rec.started and t.pending_total == 0


def test_tiny_segments_are_bounded_by_count():
    t, rec = table()
    handshake(t)
    for i in range(2000):  # 1-byte segments after a hole: held by count, not only by bytes
        t.process(c2s(1101 + 2 * i, b"x"))
    assert len(rec.started[0].streams[0].pending) <= 512 + 1
    assert rec.gaps


def test_fin_rst_close_and_port_reuse():
    t, rec = table()
    handshake(t)
    t.process(c2s(1001, flags=FIN | ACK))
    t.process(s2c(5001, flags=FIN | ACK))
    f = rec.started[0]
    assert f.closed
    handshake(t, isn=9000)  # a new SYN on the same ports after close: a new flow
    assert len(rec.started) == 2 and rec.ended == [f]
    t.process(c2s(9001, flags=RST))
    assert rec.started[1].closed


def test_idle_and_closed_flows_are_evicted():
    t, rec = table()
    handshake(t)
    t.process(seg(A, 5000, B, 53, 0, 0, b"q", ts=1.0, proto=17))
    t.process(c2s(1001, flags=FIN | ACK, ts=2.0))
    t.process(s2c(5001, flags=FIN | ACK, ts=2.0))
    t.advance(10.0)  # closed TCP flow lingers 5 s; idle UDP lasts 120 s
    assert [f.proto for f in rec.ended] == [6]
    t.advance(200.0)
    assert len(rec.ended) == 2 and len(t) == 0
    assert all(not tbl for tbl in t.tables.values())


def test_flow_count_stays_flat_over_a_long_capture():
    t, rec = table()
    for i in range(50_000):  # one short UDP flow per 10 ms: 500 s of capture
        t.process(seg(A, 10000 + i % 50000, B, 53, 0, 0, b"q", ts=i * 0.01, proto=17))
    assert len(t) < 13_000  # about 120 s worth of flows, not all 50 000
    assert t.evicted > 30_000


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=1, max_size=3000), cuts=st.lists(st.integers(1, 2999), max_size=8),
       rnd=st.randoms(use_true_random=False), dups=st.integers(0, 4), isn=st.integers(0, 0xFFFFFFFF))
def test_any_split_any_order_delivers_the_same_bytes(data, cuts, rnd, dups, isn):
    bounds = sorted({0, len(data), *[c for c in cuts if c < len(data)]})
    pieces = [(bounds[i], data[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]
    pieces += [rnd.choice(pieces) for _ in range(dups)]  # retransmissions
    rnd.shuffle(pieces)
    t, rec = table()
    handshake(t, isn=isn)
    for off, piece in pieces:
        t.process(c2s(isn + 1 + off, piece))
    t.close()
    assert rec.stream_of(rec.started[0]) == data
    assert not rec.gaps and t.pending_total == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 0xFFFFFFFF), st.integers(0, 0x3F),
                          st.binary(max_size=40), st.integers(0, 3)), max_size=40))
def test_reassembler_never_raises(events):
    t, rec = table()
    for fwd, seq, flags, data, dt in events:
        t.process((c2s if fwd else s2c)(seq, data, flags, ts=float(dt)))
    t.close()
    assert t.pending_total == 0 and len(t) == 0


def test_one_sided_tcp_goes_sooner_than_established():
    t, rec = table()
    handshake(t)  # established: both sides heard
    t.process(seg(A, 41000, B, 22, 1, SYN, ts=1.0))  # a SYN nobody answered
    t.advance(100.0)
    assert [f.server_port for f in rec.ended] == [22]
    t.advance(700.0)
    assert len(rec.ended) == 2


def test_dns_flows_end_after_a_shorter_idle():
    """A port-53 exchange idle for IDLE_DNS ends at the next sweep; other UDP waits for IDLE_OTHER."""
    from netwatch.flows.table import IDLE_DNS, IDLE_OTHER

    sink = Recorder()
    table = FlowTable(sink)
    for sport, dport in ((40001, 53), (40002, 5000)):
        table.process(Packet(1.0, ip4("10.0.0.1"), ip4("10.0.0.2"), 17, sport, dport, 0, 0, b"q", 29))
    table.now = 1.0 + IDLE_DNS + 1
    table.sweep()
    assert [f.server_port for f in sink.ended] == [53]
    table.now = 1.0 + IDLE_OTHER + 1
    table.sweep()
    assert [f.server_port for f in sink.ended] == [53, 5000]
