"""Protected means a handshake was seen; NULL and anonymous suites protect nothing; a stream is
recognised by its first bytes, not its first segment (issue 22 "protected in name only", issue 20
"classification gaps"). Bundled captures: captures/scenarios_streams.py."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.utils import PcapWriter

from netwatch.analyzers import Analyzer, Emit
from netwatch.analyzers.classify import MAX_TRIES, Classifier
from netwatch.analyzers.dispatch import Dispatcher
from netwatch.flows.table import Flow
from netwatch.judge.rules import RuleSet
from netwatch.packets.decode import TCP
from netwatch.pipeline.session import SourceReport, scan_file
from netwatch.protocols.tls_records import RecordContents, mac_bytes, unprotected_suite

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "captures"))
from scenario_lib import Clock, TcpConversation  # noqa: E402
from scenarios_protect import CCS, _hs, app_data, client_hello, record, server_hello  # noqa: E402

RULES = RuleSet.load([])


def scan(path: Path) -> SourceReport:
    return scan_file(str(path), RULES, None)


def bundled(name: str) -> SourceReport:
    return scan(ROOT / "captures" / f"{name}.pcap")


def rules_of(r: SourceReport) -> set[str]:
    return {f.rule for f in r.findings}


def verdicts(r: SourceReport) -> list[tuple[str, bool | None, str | None]]:
    return [(row["app"], row["encrypted"], row["how"]) for row in r.inventory]


def write(tmp_path: Path, packets: list) -> Path:
    path = tmp_path / "t.pcap"
    with PcapWriter(str(path), sync=True) as w:
        for p in packets:
            w.write(p)
    return path


def test_records_without_a_handshake_are_scanned_and_not_protected() -> None:
    r = bundled("stream_tls_records_no_handshake")
    assert verdicts(r) == [("tls", False, "no-handshake")]  # text inside the records: cleartext
    assert {"NW-CARD-001", "NW-CLEAR-001"} <= rules_of(r)


def test_a_session_whose_start_was_not_captured_is_not_called_cleartext() -> None:
    r = bundled("stream_tls_midstream")
    assert verdicts(r) == [("tls", None, "no-handshake")]  # encrypted as far as can be told, not protected
    assert not r.findings


def test_null_cipher_contents_are_scanned_as_cleartext() -> None:
    r = bundled("stream_tls_null_cipher")
    assert verdicts(r) == [("http", False, "tls-null")]  # the records carry HTTP, in clear
    card = next(f for f in r.findings if f.rule == "NW-CARD-001")
    assert card.evidence["channel"] == "http-body" and card.evidence["masked"] == "527814******3504"
    assert {"NW-CLEAR-001", "NW-TLS-002"} <= rules_of(r)


def _tls_session(server_flight: bytes, port: int = 443) -> list:
    c = TcpConversation("10.20.1.15", "198.51.100.77", 49400, port, Clock())
    c.send(0, client_hello("gw.example", [0x0034, 0xC02F]))
    if server_flight:
        c.send(1, server_flight)
        c.send(0, CCS + app_data("c-fin", 40))
        c.send(1, CCS + app_data("s-fin", 40))
    c.send(0, app_data("req", 300))
    c.close()
    return c.packets


def test_anonymous_key_exchange_is_not_counted_protected(tmp_path: Path) -> None:
    r = scan(write(tmp_path, _tls_session(record(22, server_hello(0x0034) + _hs(14, b"")))))
    assert verdicts(r) == [("tls", None, "tls-anon")]
    assert "NW-TLS-002" in rules_of(r) and "NW-CLEAR-001" not in rules_of(r)


def test_a_normal_handshake_stays_protected(tmp_path: Path) -> None:
    r = scan(write(tmp_path, _tls_session(record(22, server_hello(0xC02F) + _hs(14, b"")))))
    assert verdicts(r) == [("tls", True, "tls1.2")]


def test_a_client_hello_nobody_answered_is_neither_protected_nor_cleartext(tmp_path: Path) -> None:
    c = TcpConversation("10.20.1.15", "198.51.100.77", 49403, 443, Clock())
    c.send(0, client_hello("gw.example", [0xC02F]))
    c.close()
    r = scan(write(tmp_path, c.packets))
    assert verdicts(r) == [("tls", None, "handshake-incomplete")]
    assert "NW-CLEAR-001" not in rules_of(r)
    r = scan(write(tmp_path, _tls_session(b"")))  # random-looking records after it: scanned, still not cleartext
    assert verdicts(r) == [("tls", None, "no-server-hello")] and "NW-CLEAR-001" not in rules_of(r)


def test_record_contents_cut_macs_and_join_records_split_by_segments() -> None:
    mac = mac_bytes(0x00B0)
    assert mac == 32 and unprotected_suite(0x00B0) == "null" and unprotected_suite(0x0034) == "anon"
    assert unprotected_suite(0xC02F) is None and unprotected_suite(0x00FF) is None
    stream = record(22, b"\x14" + bytes(15)) + record(23, b"hello " + bytes(32)) + record(23, b"world" + bytes(32))
    rc = RecordContents(mac)
    out = b"".join(rc.feed(stream[i : i + 7]) for i in range(0, len(stream), 7))
    assert out == b"hello world"
    assert rc.feed(b"GET / HTTP/1.1\r\n") == b"GET / HTTP/1.1\r\n" and rc.raw  # no longer records: raw


def test_http_one_byte_per_segment_and_an_lpd_job_are_recognised() -> None:
    http = bundled("stream_http_one_byte_segments")
    assert verdicts(http) == [("http", False, None)]
    card = next(f for f in http.findings if f.rule == "NW-CARD-001")
    assert card.evidence["channel"] == "http-body"  # parsed as HTTP from its first byte on
    lpd = bundled("stream_lpd_print_job")
    assert verdicts(lpd)[0][1] is False and {"NW-CLEAR-001", "NW-CARD-001"} <= rules_of(lpd)


class _Everything(Analyzer[None], name="everything"):
    def __init__(self) -> None:
        self.got: list[tuple[int, bytes, str | None]] = []

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        self.got.append((direction, data, flow.app))


def test_bytes_held_for_the_classifier_all_arrive_in_order_and_the_wait_is_bounded() -> None:
    seen = _Everything()
    d = Dispatcher(Classifier(), [seen], lambda e: None)
    flow = Flow(b"\x0a\0\0\x01", 40000, b"\x0a\0\0\x02", 7000, TCP, 0.0)
    d.flow_start(flow)
    noise = bytes((i * 89 + 7) % 256 for i in range(200))  # binary, one byte per segment: never recognised
    for i, b in enumerate(noise):
        d.stream(flow, i % 2, bytes([b]), float(i))
    assert flow.app in ("unknown", "opaque")
    assert [x[1] for x in seen.got] == [bytes([b]) for b in noise]  # nothing lost, nothing reordered
    assert all(app is not None for *_x, app in seen.got)  # analyzers saw each byte once it was classified
    tries = Classifier().peek(flow)
    assert tries is not None and tries.tries == MAX_TRIES  # one byte a segment: it waited its longest, no more
    assert d.held_total == 0


def test_records_after_an_unanswered_client_hello_are_scanned(tmp_path: Path) -> None:
    c = TcpConversation("10.20.1.15", "198.51.100.77", 49401, 443, Clock())
    c.send(0, client_hello("gw.example", [0xC02F]))  # a ClientHello nobody answers does not key anything
    c.send(0, record(23, b"POST /pay HTTP/1.1\r\nHost: gw.example\r\n\r\npan=4111111111111111&exp=1230"))
    c.close()
    r = scan(write(tmp_path, c.packets))
    assert verdicts(r) == [("tls", False, "no-server-hello")]
    assert {"NW-CARD-001", "NW-CLEAR-001"} <= rules_of(r)


def test_early_data_before_a_late_server_hello_ends_protected(tmp_path: Path) -> None:
    c = TcpConversation("10.20.1.15", "198.51.100.77", 49402, 443, Clock())
    c.send(0, client_hello("gw.example", [0x1301], versions=[0x0304]) + app_data("early", 200))  # 0-RTT
    c.send(1, record(22, server_hello(0x1301, selected=0x0304)) + CCS + app_data("ee", 300))
    c.send(0, app_data("req", 300))
    c.close()
    r = scan(write(tmp_path, c.packets))
    assert verdicts(r) == [("tls", True, "tls1.3")] and not r.findings


def test_record_headers_alone_decide_nothing_protected() -> None:
    from netwatch.analyzers.recognise import dtls, tls_record

    flow = Flow(b"\x0a\0\0\x01", 40000, b"\x0a\0\0\x02", 443, TCP, 0.0)
    text = b"POST /pay HTTP/1.1\r\nHost: x\r\n\r\n"
    noise = bytes((i * 167 + 13) % 256 for i in range(300))
    assert tls_record(record(22, b"\x01" + bytes(40)), flow, 0) == ("tls", True, "tls")  # a handshake: provisional
    assert tls_record(record(23, text), flow, 0) == ("tls", False, "no-handshake")
    assert tls_record(record(23, noise), flow, 0) == ("tls", None, "no-handshake")
    dtls_head = b"\x17\xfe\xfd" + bytes(8) + len(noise).to_bytes(2, "big")
    assert dtls(dtls_head + noise, flow, 0) == ("dtls", None, "no-handshake")
    assert dtls(b"\x16\xfe\xfd" + bytes(8) + b"\x00\x10" + bytes(16), flow, 0) == ("dtls", True, "dtls")


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=8), st.sampled_from([0, 20, 32]))
def test_record_contents_do_not_depend_on_where_segments_cut(data: bytes, cuts: list[int], mac: int) -> None:
    whole = RecordContents(mac).feed(data)
    rc = RecordContents(mac)
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    assert b"".join(rc.feed(data[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)) == whole
