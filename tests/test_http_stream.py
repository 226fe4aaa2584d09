"""HTTP parsed once per flow direction: the Dispatcher's parts (heads, messages, unparsed bytes) reach
the card scanner, the software inventory and both login analyzers; resynchronising after bytes that
are not HTTP; the bounds each reader had.

Captures are written segment by segment (tests/bounds_captures.Tcp) and run through the real
decoder, flow table, Dispatcher and the registry's analyzers.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
from pathlib import Path

import pytest
from bounds_captures import CARD, CARD2, Tcp, filler
from pipeline_helpers import replay

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.events import CardData, Credentials, Event, Software
from netwatch.protocols.http import HttpHead, HttpMessage, HttpParser, Unparsed
from netwatch.protocols.http_stream import HttpConnection, HttpStream, find_start
from netwatch.redaction.masking import mask_pan

SECRET = b"Wombat-77x"
BASIC = b"Authorization: Basic " + base64.b64encode(b"clerk:" + SECRET) + b"\r\n"
UA = b"User-Agent: Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)\r\n"
OK = b"HTTP/1.1 200 OK\r\nServer: Apache/2.2.3 (CentOS)\r\nContent-Length: 2\r\n\r\nok"


def request(headers: bytes = b"", target: bytes = b"/", body: bytes = b"", method: bytes = b"GET") -> bytes:
    length = b"Content-Length: %d\r\n" % len(body) if body else b""
    return method + b" " + target + b" HTTP/1.1\r\nHost: gw.example\r\n" + headers + length + b"\r\n" + body


def events(tmp_path: Path, c: Tcp) -> list[Event]:
    """Every event the registry's analyzers emit for the capture `c` (closed here)."""
    c.close()
    path = tmp_path / "http.pcap"
    c.write(path)
    out: list[Event] = []
    replay(path, Dispatcher(build_classifier(), build_analyzers(), out.append))
    leaked = any(SECRET.decode() in repr(e) for e in out)
    assert not leaked, "a password reached an event"
    return out


def found(evs: list[Event]) -> set[tuple[str, ...]]:
    """What the readers of HTTP said, as comparable tuples."""
    out: set[tuple[str, ...]] = set()
    for e in evs:
        if isinstance(e, Credentials):
            out.add(("login", e.method, e.user or "", str(e.password_length), e.secret))
        elif isinstance(e, Software):
            out.add(("software", e.role, e.product, e.version or "", e.protocol))
        elif isinstance(e, CardData):
            out.add(("card", e.masked, e.channel, e.direction))
    return out


BASIC_LOGIN = ("login", "Basic", "clerk", str(len(SECRET)), "cleartext")
WINDOWS_7 = ("software", "client", "Windows", "6.1", "http User-Agent")
APACHE = ("software", "server", "Apache httpd", "2.2.3", "http Server")


def test_one_message_reaches_every_reader(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request(BASIC + UA, b"/pay", b"pan=" + CARD + b"&amount=10", b"POST"), 1400)
    c.pieces(1, OK, 1400)
    got = found(events(tmp_path, c))
    assert {BASIC_LOGIN, WINDOWS_7, APACHE, ("card", mask_pan(CARD.decode()), "http-body", "to_server")} <= got


@pytest.mark.parametrize("cut", range(5, 190, 7))  # from 5: the first segment names the method (the flow is http)
def test_head_split_across_two_segments(tmp_path: Path, cut: int) -> None:
    req = request(BASIC + UA, b"/pay", b"pan=" + CARD, b"POST")
    c = Tcp(port=80)
    c.handshake()
    c.segment_at(0, 0, req[:cut])
    c.segment_at(0, cut, req[cut:])
    c.isn[0] += len(req)
    c.segment_at(1, 0, OK[: cut % 30 + 1])
    c.segment_at(1, cut % 30 + 1, OK[cut % 30 + 1 :])
    c.isn[1] += len(OK)
    got = found(events(tmp_path, c))
    assert {BASIC_LOGIN, WINDOWS_7, APACHE, ("card", mask_pan(CARD.decode()), "http-body", "to_server")} <= got


def test_header_folded_over_a_segment_boundary(tmp_path: Path) -> None:
    """An obs-fold continuation line (RFC 9112 5.2) is part of the value, here in the next segment."""
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, b"GET / HTTP/1.1\r\nHost: gw.example\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 8.0;\r\n", 1400)
    c.pieces(0, b"\tWindows NT 6.1; Trident/4.0)\r\n\r\n", 1400)
    c.pieces(1, OK, 1400)
    assert WINDOWS_7 in found(events(tmp_path, c))


def test_pipelined_second_request_in_the_same_segment(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request() + request(BASIC + UA, b"/b?pan=" + CARD2), 1400)
    c.pieces(1, OK + OK, 1400)
    got = found(events(tmp_path, c))
    assert {BASIC_LOGIN, WINDOWS_7, APACHE, ("card", mask_pan(CARD2.decode()), "http-url", "to_server")} <= got


def test_lower_case_names_and_schemes(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    login = b"authorization: basic " + base64.b64encode(b"clerk:" + SECRET) + b"\r\n"
    lower = login + b"user-agent: " + UA.split(b": ", 1)[1]
    c.pieces(0, request(lower), 1400)
    c.pieces(1, OK.replace(b"Server", b"server"), 1400)
    assert {BASIC_LOGIN, WINDOWS_7, APACHE} <= found(events(tmp_path, c))


def test_server_header_after_100_continue(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request(b"Expect: 100-continue\r\n", b"/up", b"x" * 10, b"POST"), 1400)
    c.pieces(1, b"HTTP/1.1 100 Continue\r\n\r\n", 1400)
    c.pieces(1, OK, 1400)
    assert APACHE in found(events(tmp_path, c))


def test_a_response_body_is_no_service_banner(tmp_path: Path) -> None:
    """Only the parsed headers of an http flow name software: a greeting-like line in a body does not."""
    body = b"log:\r\n220 (vsFTPd 2.3.4)\r\nServer: Apache/2.0.40\r\n"
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request(), 1400)
    c.pieces(1, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body, 1400)
    assert not [g for g in found(events(tmp_path, c)) if g[0] == "software"]


def test_response_to_head_has_no_body(tmp_path: Path) -> None:
    """The HEAD response names a length it does not send: the next response's head is read as a head."""
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request(method=b"HEAD") + request(UA), 1400)
    c.pieces(1, b"HTTP/1.1 200 OK\r\nServer: nginx/1.0.15\r\nContent-Length: 5000\r\n\r\n" + OK, 1400)
    got = found(events(tmp_path, c))
    assert {APACHE, ("software", "server", "nginx", "1.0.15", "http Server")} <= got


def test_a_head_cut_by_the_end_of_the_capture_is_still_scanned(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request() + b"GET /pay?pan=" + CARD + b" HTTP/1.1\r\nHost: gw.exa", 1400)
    assert ("card", mask_pan(CARD.decode()), "stream", "to_server") in found(events(tmp_path, c))


def test_digest_bearer_and_proxy_authorization(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request(b'Authorization: Digest username="pos01", realm="r", response="ab12"\r\n')
             + request(b"Proxy-Authorization:  bearer  tok-123 \r\n")
             + request(b"Proxy-Authorization: Basic " + base64.b64encode(b"px:" + SECRET) + b"\r\n" + BASIC), 1400)
    c.pieces(1, OK * 3, 1400)
    got = {g for g in found(events(tmp_path, c)) if g[0] == "login"}
    assert got == {("login", "Digest", "pos01", "None", "digest"), ("login", "Bearer", "", "7", "token"),
                   ("login", "Basic", "px", str(len(SECRET)), "cleartext"), BASIC_LOGIN}


def test_flow_that_starts_mid_message(tmp_path: Path) -> None:
    """No handshake: the client's first bytes are the end of a body (no newline after it); the next
    request is read as HTTP again, the bytes before it are scanned raw."""
    c = Tcp(port=80)
    c.pieces(1, OK, 1400)
    c.pieces(0, b"amount=10&pan=" + CARD + b"&x=1" + request(BASIC + UA, b"/b?pan=" + CARD2), 1400)
    got = found(events(tmp_path, c))
    assert {BASIC_LOGIN, WINDOWS_7, ("card", mask_pan(CARD.decode()), "stream", "to_server"),
            ("card", mask_pan(CARD2.decode()), "http-url", "to_server")} <= got


def test_bytes_after_a_protocol_switch_are_read_in_that_protocol(tmp_path: Path) -> None:
    """After a 101 to WebSocket the frames are read as WebSocket messages (issue 22), not as HTTP."""
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request(b"Upgrade: websocket\r\nConnection: Upgrade\r\n"), 1400)
    c.pieces(1, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 1400)
    c.pieces(0, b"\x81\x30card " + CARD + b"\r\n" + BASIC, 1400)
    got = found(events(tmp_path, c))
    assert ("card", mask_pan(CARD.decode()), "websocket", "to_server") in got
    assert not [g for g in got if g[0] == "login"]  # header-like text in a websocket frame is no HTTP login


def test_bytes_after_an_upgrade_netwatch_does_not_read_are_scanned_raw(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request(b"Upgrade: irc/6.9\r\nConnection: Upgrade\r\n"), 1400)
    c.pieces(1, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: irc/6.9\r\n\r\n", 1400)
    c.pieces(0, b"PRIVMSG #pos :card " + CARD + b"\r\n" + BASIC, 1400)
    got = found(events(tmp_path, c))
    assert ("card", mask_pan(CARD.decode()), "stream", "to_server") in got
    assert not [g for g in got if g[0] == "login"]


def test_hole_in_a_body_then_the_next_request(tmp_path: Path) -> None:
    """Bytes lost inside a body: what came before the hole is still scanned, the next request is HTTP."""
    body = b"pan=" + CARD + b"&" + b"a" * 3000
    first = request(UA, b"/up", body, b"POST")
    second = request(BASIC, b"/x?pan=" + CARD2)
    c = Tcp(port=80)
    c.handshake()
    c.segment_at(0, 0, first[:1400])
    c.segment_at(0, 2800, first[2800:] + second)  # 1400 bytes of the first body never arrive
    c.isn[0] += len(first + second)
    c.pieces(1, OK + OK, 1400)
    got = found(events(tmp_path, c))
    assert {BASIC_LOGIN, ("card", mask_pan(CARD.decode()), "http-body", "to_server"),
            ("card", mask_pan(CARD2.decode()), "http-url", "to_server")} <= got


def test_logins_are_looked_for_in_the_first_64_kib_only(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request(body=filler(70_000), method=b"POST") + request(BASIC), 1400)
    c.pieces(1, OK + OK, 1400)
    assert not [g for g in found(events(tmp_path, c)) if g[0] == "login"]


def test_server_header_past_the_first_32_kib_is_not_looked_at(tmp_path: Path) -> None:
    c = Tcp(port=80)
    c.handshake()
    c.pieces(0, request() + request(), 1400)
    c.pieces(1, b"HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n" + filler(40_000) + OK, 1400)
    assert not [g for g in found(events(tmp_path, c)) if g[0] == "software"]


# -- the parts themselves ------------------------------------------------------------------------

def test_parts_come_in_stream_order_and_are_immutable() -> None:
    body = gzip.compress(b"pan=" + CARD, mtime=0)
    stream = request(b"Content-Encoding: gzip\r\n", b"/a", body, b"POST") + request(target=b"/b")
    s = HttpStream()
    parts = [p for i in range(0, len(stream), 5) for p in s.feed(stream[i : i + 5])]
    assert [type(p).__name__ for p in parts] == ["HttpHead", "HttpMessage", "HttpHead", "HttpMessage"]
    first = parts[1]
    assert isinstance(first, HttpMessage) and first.head is parts[0] and first.body == b"pan=" + CARD
    second = parts[2]
    assert isinstance(second, HttpHead) and second.target == b"/b"
    assert second.offset == len(stream) - len(request(target=b"/b"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.body = b""  # type: ignore[misc]


def test_body_past_the_cap_comes_before_its_message() -> None:
    p = HttpParser(max_body=10)
    parts = p.feed_parts(request(body=b"0123456789abcdef", method=b"POST"))
    assert [type(x) for x in parts] == [HttpHead, Unparsed, HttpMessage]
    assert parts[1] == Unparsed(b"abcdef", past_cap=True)
    msg = parts[2]
    assert isinstance(msg, HttpMessage) and msg.body == b"0123456789" and msg.beyond_cap == 6 and msg.truncated


def test_not_http_then_a_message_then_a_start_line_cut_by_a_chunk() -> None:
    s = HttpStream()
    parts = s.feed(b"\x16\x03\x01 binary\nHTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 0\r\n\r\njunk GE")
    assert [type(p) for p in parts] == [Unparsed, HttpHead, HttpMessage]
    assert parts[0] == Unparsed(b"\x16\x03\x01 binary\n")
    parts = s.feed(b"T /next HTTP/1.1\r\n\r\n")
    assert [type(p) for p in parts] == [Unparsed, HttpHead, HttpMessage]
    assert parts[0] == Unparsed(b"junk ") and isinstance(parts[1], HttpHead) and parts[1].target == b"/next"


def test_bytes_held_back_while_looking_for_a_start_come_out() -> None:
    s = HttpStream()
    junk = bytes(range(9)) + b" "
    assert s.feed(junk + b"data GE") == [Unparsed(junk)]
    parts = s.feed(b"T / HTTP/1.1\r\n\r\nmore bytes")
    assert [type(p) for p in parts] == [Unparsed, HttpHead, HttpMessage, Unparsed]
    assert parts[0] == Unparsed(b"data ") and parts[3] == Unparsed(b"mor")  # "e bytes" may begin a start line
    assert s.gap(100) == [Unparsed(b"e bytes")]  # a hole: what was held comes out
    assert s.feed(b"abc") == [] and s.eof() == [Unparsed(b"abc")]


def test_connection_pairs_responses_with_request_methods() -> None:
    conn = HttpConnection()
    conn.feed(0, request(method=b"HEAD") + request(b"Host: a\r\n", b"/x", method=b"CONNECT") + request())
    parts = conn.feed(1, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
                         b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01")
    assert [type(p) for p in parts] == [HttpHead, HttpMessage] * 3
    assert [p.body for p in parts if isinstance(p, HttpMessage)] == [b"", b"", b""]
    assert conn.eof() == [(1, Unparsed(b"\x16\x03\x01"))]  # after the tunnel opened: not HTTP


def test_find_start() -> None:
    assert find_start(b"xxGET / HTTP/1.1\r\n") == (True, 2)
    assert find_start(b"a GET is not a request line\n HTTP/1.0 404 x") == (True, 29)
    assert find_start(b"no start here at all") == (False, 13)  # the last bytes may begin one
    assert find_start(b"abc POST /long/path?q=1 HT") == (False, 4)  # a request line still coming
