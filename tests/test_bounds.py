"""Bounds on hostile input: destinations inventory, card de-duplication, reassembly, HTTP body cap."""

from __future__ import annotations

import time
from pathlib import Path

from bounds_captures import (
    CARD,
    CARD2,
    Tcp,
    card_past_body_cap,
    filler,
    http_post,
    random_destinations,
    repeated_cards,
)
from pipeline_helpers import Recorder, pcap_bytes

from netwatch.cli import main
from netwatch.events import FlowEnd, FlowFacts
from netwatch.findings.destinations import Inventory, merge_rest, unlisted
from netwatch.flows.table import ACK, Flow, FlowTable
from netwatch.flows.tcp import loss_notes
from netwatch.judge.rules import RuleSet
from netwatch.packets.decode import Packet
from netwatch.pipeline.session import scan_file
from netwatch.protocols.card_search import dedup, scan

PSH = 0x08
A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def _flow_end(i: int, nbytes: int) -> FlowEnd:
    dst = bytes([198, 51, (i >> 8) & 0xFF, i & 0xFF])
    f = Flow(A, 40000, dst, 1000 + i % 50000, 17, 1.0)
    return FlowEnd(ts=1.0, flow=FlowFacts.of(f), app="opaque", bytes_to_server=nbytes)


def test_inventory_keeps_top_rows_and_exact_totals() -> None:
    inv = Inventory(max_rows=50)
    inv.add(_flow_end(0, 10_000_000))  # one heavy destination, seen first
    peak = 0
    for i in range(1, 5000):
        inv.add(_flow_end(i, i % 97))
        peak = max(peak, len(inv.rows))
    rows, rest = inv.results(), inv.rest_totals()
    assert len(rows) == 50 and peak <= 100  # never more than twice the rows held
    assert rows[0]["bytes"] == 10_000_000  # the top destination survives every prune
    assert sum(r["flows"] for r in rows) + rest.flows == 5000
    assert sum(r["bytes"] for r in rows) + rest.nbytes == 10_000_000 + sum(i % 97 for i in range(1, 5000))
    more, exact = unlisted(rows, rest)
    assert not exact and abs(len(rows) + more - 5000) < 5000 * 0.05  # the sketch: ~1.6 % error


def test_inventory_under_the_cap_is_exact() -> None:
    inv = Inventory(max_rows=50)
    for i in range(40):
        inv.add(_flow_end(i, 5))
    assert unlisted(inv.results(), inv.rest_totals()) == (0, True)


def test_inventory_sketches_merge_over_shards() -> None:
    halves = [Inventory(max_rows=10), Inventory(max_rows=10)]
    for i in range(3000):
        halves[i % 2].add(_flow_end(i, 1))
    rest = merge_rest(h.rest_totals() for h in halves)
    rows = [r for h in halves for r in h.results()]
    more, _exact = unlisted(rows, rest)
    assert abs(len(rows) + more - 3000) < 3000 * 0.05
    assert rest.flows + len(rows) == 3000


def test_scan_of_many_destinations_says_how_many_more(tmp_path: Path) -> None:
    cap = tmp_path / "random.pcap"
    random_destinations(cap, 4500)  # more than twice the 2000 rows kept: some are folded
    html = tmp_path / "r.html"
    report = scan_file(str(cap), RuleSet.load([]), None)
    assert len(report.inventory) == 2000 and report.inventory[0]["bytes"] == 900
    assert report.inventory_rest is not None
    assert sum(r["flows"] for r in report.inventory) + report.inventory_rest.flows == 4501
    code = main(["scan", str(cap), "--json", str(tmp_path / "o.jsonl"), "--html", str(html), "--fail-on", "none",
                 "--no-progress"])
    assert code == 0
    assert "more destinations" in html.read_text() or "counted only" in html.read_text()


def test_console_says_and_about_n_more(tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001 - fixtures
    monkeypatch.setenv("COLUMNS", "400")
    cap = tmp_path / "random.pcap"
    random_destinations(cap, 4500)
    assert main(["scan", str(cap), "--json", str(tmp_path / "o.jsonl"), "--fail-on", "none", "--no-progress"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Destinations (about" in out and "… and about" in out and "more destinations" in out


# -- card de-duplication ------------------------------------------------------------------------

def test_dedup_of_a_megabyte_of_one_card_is_linear() -> None:
    body = repeated_cards(1 << 20)
    t = time.perf_counter()
    hits, _hold = scan(body)
    took = time.perf_counter() - t
    n = len(hits)  # (never the hits themselves in an assert message: they hold whole numbers)
    assert n == body.split().count(CARD)  # every whole occurrence, once
    assert took < 20  # was 150-220 s (quadratic); ~0.5 s now, generous for a loaded machine


def test_dedup_keeps_first_of_overlapping_same_card_and_other_cards() -> None:
    d = CARD.decode()
    e = CARD2.decode()
    hits = [(0, 20, d, "track2", "ascii", True), (1, 17, d, "pan", "ascii", False),  # same card, overlaps
            (5, 30, e, "pan", "base64", False),  # another card over the same bytes: kept
            (20, 40, d, "pan", "ascii", False), (0, 40, d, "pan", "base64", False)]  # touches; overlaps both
    spans = sorted((h[0], h[1], h[3]) for h in dedup(hits))
    assert spans == [(0, 20, "track2"), (5, 30, "pan"), (20, 40, "pan")]


# -- TCP reassembly -----------------------------------------------------------------------------

def _seg(src: bytes, sport: int, dst: bytes, dport: int, seq: int, data: bytes, flags: int = PSH | ACK) -> Packet:
    return Packet(1.0, src, dst, 6, sport, dport, flags, seq & 0xFFFFFFFF, data, 40 + len(data))


def test_mid_connection_later_segment_first_keeps_the_earlier_bytes() -> None:
    rec = Recorder()
    t = FlowTable(rec)
    t.process(_seg(A, 40000, B, 80, 7010, b"second half"))  # no SYN; the later segment comes first
    t.process(_seg(A, 40000, B, 80, 7000, b"first half"))
    t.process(_seg(B, 80, A, 40000, 300, b"reply"))  # the peer speaks: the held start is ordered
    f = rec.started[0]
    assert rec.stream_of(f) == b"first halfsecond half" and not rec.gaps
    t.close()
    assert rec.stream_of(f, 1) == b"reply" and t.pending_total == 0


def test_mid_connection_hold_is_bounded_by_segments() -> None:
    rec = Recorder()
    t = FlowTable(rec)
    for i in range(100):  # in order, no SYN, the peer silent: delivered after the hold's bound
        t.process(_seg(A, 40000, B, 80, 1000 + 10 * i, b"0123456789"))
    assert len(rec.stream_of(rec.started[0])) >= 100 * 10 - 32 * 10


def test_reverse_order_segments_after_a_handshake_are_bounded_and_named() -> None:
    rec = Recorder()
    t = FlowTable(rec)
    t.process(_seg(A, 40000, B, 80, 999, b"", 0x02))
    t.process(_seg(B, 80, A, 40000, 4999, b"", 0x12))
    data = bytes(range(256)) * 400  # 100 KiB in 100-byte segments, last first
    for off in reversed(range(0, len(data), 100)):
        t.process(_seg(A, 40000, B, 80, 1000 + off, data[off : off + 100]))
    f = rec.started[0]
    got = rec.stream_of(f)
    assert got and data.startswith(got)  # the start is delivered, not skipped
    assert len(f.streams[0].pending) <= 512 and not rec.gaps
    lost = {d["reason"]: d["bytes"] for d in t.losses.as_list()}
    assert lost == {"out-of-order buffer full": len(data) - len(got)}
    assert "10.0.0.1:40000 → 10.0.0.2:80" in t.losses.as_list()[0]["flow"]


def _card_findings(report) -> list:  # noqa: ANN001 - a SourceReport
    return [f for f in report.findings if f.rule in ("NW-CARD-001", "NW-CARD-004")]  # 004: a bare number


def test_card_at_the_start_of_200k_reversed_segments_is_found(tmp_path: Path) -> None:
    c = Tcp()
    c.handshake()
    stream = b"card=" + CARD + b";" + filler(200_000 * 10 - 22)
    c.pieces(0, stream, 10, order="reverse")
    c.close()
    cap = tmp_path / "reverse.pcap"
    c.write(cap)
    report = scan_file(str(cap), RuleSet.load([]), None)
    cards = _card_findings(report)
    assert len(cards) == 1 and cards[0].count == 1
    assert report.losses and report.losses[0]["reason"] == "out-of-order buffer full"
    assert "10.0.0.5:40000 → 198.51.100.7:9000" in report.losses[0]["flow"]


def test_card_split_mid_connection_later_half_first_is_found_once(tmp_path: Path) -> None:
    c = Tcp()  # no handshake: the capture starts mid-connection
    msg = b"pan=" + CARD + b"&exp=1228\n"
    c.segment_at(0, 12, msg[12:])
    c.segment_at(0, 0, msg[:12])
    c.segment_at(1, 0, b"OK\n")
    cap = tmp_path / "midconn.pcap"
    c.write(cap)
    cards = _card_findings(scan_file(str(cap), RuleSet.load([]), None))
    assert len(cards) == 1 and cards[0].count == 1


# -- HTTP body cap ------------------------------------------------------------------------------

def test_card_after_the_http_body_cap_is_found_and_noted(tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("COLUMNS", "400")  # one line per table row: the note is not folded
    cap = tmp_path / "bigbody.pcap"
    body_len = card_past_body_cap(cap)
    report = scan_file(str(cap), RuleSet.load([]), None)
    cards = _card_findings(report)
    assert len(cards) == 1 and cards[0].evidence["channel"] == "http-body"
    capped = [d for d in report.losses if "decoding cap" in d["reason"]]
    assert capped and capped[0]["bytes"] == body_len - (1 << 20)
    assert main(["scan", str(cap), "--json", str(tmp_path / "o.jsonl"), "--fail-on", "none", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{body_len - (1 << 20):,} bytes HTTP body past the 1 MiB decoding cap" in out
    assert "10.0.0.5:40000 → 198.51.100.7:80 to server" in out


def test_repeated_card_body_through_the_pipeline(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, http_post(repeated_cards(256 * 1024)), 1448)
    c.close()
    cap = tmp_path / "cards.pcap"
    c.write(cap)
    cards = _card_findings(scan_file(str(cap), RuleSet.load([]), None))
    assert len(cards) == 1 and cards[0].count == 256 * 1024 // 17


# -- Telnet without option negotiation -----------------------------------------------------------

def _telnet_login(port: int, greeting: bytes) -> Tcp:
    c = Tcp(server="10.0.0.9", port=port)
    c.handshake()
    c.pieces(1, greeting, 1400)
    for ch in b"posadmin\r":
        c.pieces(0, bytes([ch]), 1)
    c.pieces(1, b"\r\nPassword: ", 1400)
    for ch in b"hunter22\r":
        c.pieces(0, bytes([ch]), 1)
    c.pieces(1, b"\r\nstore-pos$ ", 1400)
    c.close()
    return c


def _rules(report) -> dict[str, dict]:  # noqa: ANN001 - a SourceReport
    return {f.rule: f.evidence for f in report.findings}


def test_telnet_on_port_23_without_iac_is_telnet_with_login(tmp_path: Path) -> None:
    cap = tmp_path / "telnet.pcap"
    _telnet_login(23, b"Welcome\r\n\r\nlogin: ").write(cap)
    report = scan_file(str(cap), RuleSet.load([]), None)
    found = _rules(report)
    assert report.inventory[0]["app"] == "telnet"
    assert found["NW-CRED-001"]["protocol"] == "telnet" and found["NW-CRED-001"]["password_length"] == 8
    assert found["NW-RA-003"]["tool"] == "telnet"


def test_login_prompt_on_another_port_is_telnet(tmp_path: Path) -> None:
    cap = tmp_path / "console.pcap"
    _telnet_login(2601, b"\r\nUser Access Verification\r\n\r\nUsername: ").write(cap)
    found = _rules(scan_file(str(cap), RuleSet.load([]), None))
    assert found["NW-CRED-001"]["protocol"] == "telnet" and "NW-RA-003" in found


def test_plain_text_elsewhere_and_binary_with_iac_bytes_are_not_telnet(tmp_path: Path) -> None:
    c = Tcp(server="10.0.0.9", port=9000)
    c.handshake()
    c.pieces(0, b"STATUS terminal 7 ready\r\n", 1400)
    c.pieces(1, b"OK 200 all good\r\n", 1400)
    c.close()
    d = Tcp(server="10.0.0.9", port=9001)
    d.handshake()
    d.pieces(0, bytes(range(0, 40)) + b"\xff\xfb\x01" + bytes(range(200, 250)), 1400)
    d.close()
    cap = tmp_path / "text.pcap"
    cap.write_bytes(pcap_bytes(c.frames + d.frames))
    report = scan_file(str(cap), RuleSet.load([]), None)
    apps = {r["dport"]: r["app"] for r in report.inventory}
    assert apps[9000] == "text" and apps[9001] != "telnet"
    assert not any(f.category == "remote-access" for f in report.findings)


def test_flow_table_cap_counts_flows_ended_early(monkeypatch) -> None:  # noqa: ANN001 - pytest fixture
    import netwatch.flows.table as flows

    monkeypatch.setattr(flows, "MAX_FLOWS", 100)
    rec = Recorder()
    t = FlowTable(rec)
    for i in range(20_000):  # one datagram each to a new port, all within the idle time
        t.process(Packet(1.0 + i * 1e-4, A, B, 17, 1024 + i, 53, 0, 0, b"q", 29))
    t.close()
    assert len(rec.ended) == 20_000 and t.cap_evicted > 10_000
    assert loss_notes([], t.cap_evicted)[-1].startswith(f"{t.cap_evicted:,} flows ended early")
