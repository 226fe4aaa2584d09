"""Protocols an HTTP flow switches to (issue 22): WebSocket after a 101 (mask removed, fragments
joined, permessage-deflate) and HTTP/2 cleartext (prior knowledge, Upgrade: h2c) read into the parts
every HTTP reader knows; each bounded, and bytes that are not frames handed on raw.

HTTP/2 bytes come from the h2 library (a client and a server in memory); WebSocket frames are built
here from RFC 6455's layout, independently of the reader.
"""

from __future__ import annotations

import random
import struct
import sys
import zlib
from pathlib import Path

import h2.config
import h2.connection
import pytest
from bounds_captures import Tcp
from hyperframe.frame import DataFrame
from pipeline_helpers import replay, scan_bundled

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.recognise import http as recognise_http
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.events import CardData, Credentials, Event, FlowEnd, Software
from netwatch.protocols.h2c import H2Reader
from netwatch.protocols.http import MAX_BODY, FramedMessage, HttpHead, HttpMessage, HttpPart, Unparsed
from netwatch.protocols.http_stream import HttpConnection
from netwatch.protocols.websocket import MAX_MESSAGE, Extensions, WebSocketReader

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "captures"))
from scenarios_encodings import _deflate_message, _ws_frame  # noqa: E402

UPGRADE_REQ = (b"GET /live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def bytewise(reader: WebSocketReader | H2Reader, data: bytes, step: int = 1) -> list[HttpPart]:
    out: list[HttpPart] = []
    for i in range(0, len(data), step):
        out += reader.feed(data[i : i + step])
    return out


def messages(parts: list[HttpPart]) -> list[bytes]:
    return [p.data for p in parts if isinstance(p, FramedMessage)]


# -- WebSocket ---------------------------------------------------------------------------------------
def test_masked_fragmented_frames_with_a_ping_between_fed_byte_by_byte() -> None:
    rng = random.Random(1)
    msg = b'{"note":"pay 1234"}' * 3
    frames = (_ws_frame(msg[:10], 1, fin=False, mask=rng.randbytes(4))
              + _ws_frame(b"ping-payload-long", 9, mask=b"abcd")
              + _ws_frame(msg[10:40], 0, fin=False, mask=rng.randbytes(4))
              + _ws_frame(msg[40:], 0, mask=rng.randbytes(4))
              + _ws_frame(b"x" * 300, 2, mask=rng.randbytes(4)) + _ws_frame(b"y" * 70000, 2))
    got = messages(bytewise(WebSocketReader(0), frames, 1))
    assert got == [b"ping-payload-long", msg, b"x" * 300, b"y" * 70000]
    assert messages(WebSocketReader(0).feed(frames)) == got


def test_permessage_deflate_keeps_the_window_across_messages() -> None:
    co = zlib.compressobj(wbits=-15)
    stream = b""
    texts = [b'{"pan":"5454545454545454"}', b'{"pan":"5454545454545454","n":2}']  # the second refers back
    for t in texts:
        stream += _ws_frame((co.compress(t) + co.flush(zlib.Z_SYNC_FLUSH))[:-4], 1, rsv1=True)
    reader = WebSocketReader(1, Extensions.parse(b"permessage-deflate"))
    parts = bytewise(reader, stream, 5)
    assert messages(parts) == texts
    assert {p.framing for p in parts if isinstance(p, FramedMessage)} == {"websocket+deflate"}
    fresh = WebSocketReader(1, Extensions.parse(b"permessage-deflate; server_no_context_takeover"))
    one = _ws_frame(_deflate_message(texts[0]), 1, rsv1=True)
    assert messages(fresh.feed(one + one)) == [texts[0], texts[0]]


@pytest.mark.parametrize(
    "bad",
    [b"\x83\x05hello", b"\x80\x05hello", b"\xc1\x05hello", b"\x09\x05hello", b"GET / HTTP/1.1\r\n\r\n"],
    ids=["reserved-opcode", "continuation-first", "rsv1-without-deflate", "fragmented-ping", "http"],
)
def test_bytes_that_are_not_frames_come_out_raw(bad: bytes) -> None:
    reader = WebSocketReader(0)
    good = _ws_frame(b"first message", 1, mask=b"\x01\x02\x03\x04")
    parts = reader.feed(good + bad) + reader.feed(b"more")
    assert messages(parts) == [b"first message"]
    assert b"".join(p.data for p in parts if isinstance(p, Unparsed)) == bad + b"more"


def test_message_past_the_cap_is_counted_and_handed_on_raw() -> None:
    big = b"z" * (MAX_MESSAGE + 4980) + b"pan 4111111111111111"
    parts = WebSocketReader(0).feed(_ws_frame(big[:600_000], 2, fin=False, mask=b"\x11\x22\x33\x44")
                                    + _ws_frame(big[600_000:], 0, mask=b"\x55\x66\x77\x88"))
    (m,) = [p for p in parts if isinstance(p, FramedMessage)]
    assert len(m.data) == MAX_MESSAGE and m.beyond_cap == 5000 and m.truncated
    assert b"".join(p.data for p in parts if isinstance(p, Unparsed) and p.past_cap) == big[MAX_MESSAGE:]


def test_h2_body_past_the_cap_is_handed_on_raw() -> None:
    client = _h2_client()
    body = b"a" * (MAX_BODY + 100) + b" pan 4111111111111111"
    client.send_headers(1, _req("/up"))
    frames = []
    for i in range(0, len(body), 16384):  # DATA frames written directly: no peer to open the window
        f = DataFrame(1, body[i : i + 16384])
        if i + 16384 >= len(body):
            f.flags.add("END_STREAM")
        frames.append(f.serialize())
    parts = H2Reader(0).feed(client.data_to_send() + b"".join(frames))
    msg = next(p for p in parts if isinstance(p, HttpMessage))
    assert len(msg.body) == MAX_BODY and msg.beyond_cap == len(body) - MAX_BODY
    assert b"".join(p.data for p in parts if isinstance(p, Unparsed) and p.past_cap) == body[MAX_BODY:]


def test_cut_message_comes_out_at_eof() -> None:
    reader = WebSocketReader(0)
    reader.feed(_ws_frame(b"half of a message", 1, fin=False, mask=b"\x09\x08\x07\x06"))
    (m,) = reader.eof()
    assert isinstance(m, FramedMessage) and m.data == b"half of a message" and m.truncated


# -- the switch ----------------------------------------------------------------------------------
def test_101_switches_both_directions_even_with_frames_in_the_same_segment() -> None:
    conn = HttpConnection()
    assert [type(p) for p in conn.feed(0, UPGRADE_REQ)] == [HttpHead, HttpMessage]
    server = conn.feed(1, SWITCH + b"\r\n" + _ws_frame(b"hello from server", 1))
    assert [type(p) for p in server] == [HttpHead, HttpMessage, FramedMessage]
    client = conn.feed(0, _ws_frame(b"hello from client", 1, mask=b"\xaa\xbb\xcc\xdd"))
    assert messages(client) == [b"hello from client"]


def test_unknown_upgrade_and_a_hole_leave_the_bytes_raw() -> None:
    conn = HttpConnection()
    conn.feed(0, b"GET / HTTP/1.1\r\nUpgrade: tls/1.0\r\n\r\n")
    parts = conn.feed(1, b"HTTP/1.1 101 Switching\r\nUpgrade: tls/1.0\r\n\r\n\x16\x03\x01")
    assert isinstance(parts[-1], Unparsed) and parts[-1].data == b"\x16\x03\x01"
    conn = HttpConnection()
    conn.feed(0, UPGRADE_REQ)
    conn.feed(1, SWITCH + b"\r\n")
    conn.gap(0, 100)
    assert conn.feed(0, b"\x81\x05hello") == [Unparsed(b"\x81\x05hello")]


# -- HTTP/2 cleartext ----------------------------------------------------------------------------
def _h2_client() -> h2.connection.H2Connection:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    return client


def _req(path: str, extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    return [(":method", "POST"), (":path", path), (":scheme", "http"), (":authority", "gw.example"), *(extra or [])]


def test_h2_requests_become_heads_and_messages_fed_in_any_cut() -> None:
    client = _h2_client()
    client.send_headers(1, _req("/a?x=1", [("user-agent", "pos/1"), ("content-encoding", "gzip")]))
    import gzip

    client.send_data(1, gzip.compress(b"card body", mtime=0), end_stream=True, pad_length=7)
    client.send_headers(3, _req("/b", [("user-agent", "pos/1")]), end_stream=True)  # HPACK: indexed fields
    client.send_headers(5, _req("/c", [("x-big", "v" * 40000)]), end_stream=True)  # CONTINUATION frames
    data = client.data_to_send()
    for step in (1, 13, len(data)):
        parts = bytewise(H2Reader(0), data, step)
        heads = [p for p in parts if isinstance(p, HttpHead)]
        assert [h.start_line for h in heads] == [b"POST /a?x=1 HTTP/2.0", b"POST /b HTTP/2.0", b"POST /c HTTP/2.0"]
        assert heads[1].header(b"user-agent") == b"pos/1" and heads[1].header(b"host") == b"gw.example"
        assert {h.framing for h in heads} == {"h2c"}
        msg = next(p for p in parts if isinstance(p, HttpMessage))
        assert (msg.body, msg.content_encoding, msg.truncated) == (b"card body", "gzip", False)


def test_h2_response_direction_and_recogniser() -> None:
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    client = _h2_client()
    client.send_headers(1, _req("/"), end_stream=True)
    server.receive_data(client.data_to_send())
    server.send_headers(1, [(":status", "404"), ("server", "nginx/1.2.3")])
    server.send_data(1, b"nope", end_stream=True)
    parts = H2Reader(1).feed(server.data_to_send())
    msg = next(p for p in parts if isinstance(p, HttpMessage))
    assert msg.head.start_line[9:12] == b"404" and not msg.is_request and msg.body == b"nope"
    assert recognise_http(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", None, 0) == ("http", False, "h2c")  # type: ignore[arg-type]


def test_h2_garbage_and_oversized_frames_end_the_parse_raw() -> None:
    client = _h2_client()
    client.send_headers(1, _req("/ok"), end_stream=True)
    good = client.data_to_send()
    huge = struct.pack("!I", (1 << 21) << 8)[:3] + b"\x00\x00\x00\x00\x00\x03" + b"junk"
    parts = H2Reader(0).feed(good + huge)
    assert [type(p) for p in parts] == [HttpHead, HttpMessage, Unparsed]
    bad_hpack = b"\x00\x00\x03\x01\x05\x00\x00\x00\x07\xff\xff\xff"  # HEADERS, index out of range
    parts = H2Reader(0, expect_preface=False).feed(bad_hpack + b"after")
    assert parts == [Unparsed(b"after")]  # the table is lost: the rest is raw


def test_prior_knowledge_switches_the_connection() -> None:
    client = _h2_client()
    client.send_headers(1, _req("/p"), end_stream=True)
    conn = HttpConnection()
    data = client.data_to_send()
    parts = conn.feed(0, data[:10]) + conn.feed(0, data[10:])
    assert [type(p) for p in parts] == [HttpHead, HttpMessage]


# -- through the scan ------------------------------------------------------------------------------
EXPECTED = {
    "enc_form_plus": {("545454******5454", "form"), ("378734*****1000", "form")},
    "enc_base64_lines": {("491761******0000", "base64"), ("601100******0000", "base64")},
    "enc_quoted_printable": {("510510******5100", "qp"), ("422222******2220", "qp")},
    "enc_json_escape": {("356600******0505", "json-escape"), ("601111******1117", "json-escape")},
    "enc_html_entities": {("400005******5556", "html-entity"), ("520082******8210", "html-entity")},
    "enc_brotli_zstd": {("401288******1881", "br"), ("555555******4444", "zstd")},
    "enc_websocket": {("411111******1111", "websocket"), ("222300******3222", "websocket"),
                      ("601100******9424", "websocket+deflate")},
    "enc_h2c_prior": {("426398******9299", "h2c"), ("542523******9903", "h2c")},
    "enc_h2c_upgrade": {("374245*****0126", "h2c+gzip"), ("400000******0077", "h2c")},
    "enc_lookalikes": set(),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_encoding_capture_finds_its_cards(tmp_path: Path, name: str) -> None:
    findings = scan_bundled(tmp_path, ROOT / "captures" / f"{name}.pcap")
    cards = {(f["evidence"]["masked"], f["evidence"]["encoding"]) for f in findings if f["category"] == "card-data"}
    assert cards == EXPECTED[name]
    apps = {f["app"] for f in findings if f["rule"] == "NW-CLEAR-001"}
    assert apps and apps <= {"http", "smtp"}  # h2c and WebSocket flows are http and called cleartext


# -- every reader of HTTP reads h2c --------------------------------------------------------------
def test_h2c_heads_reach_every_reader_and_a_card_past_the_cap_is_found(tmp_path: Path) -> None:
    """Through the decoder, flow table and Dispatcher: HTTP Basic and the User-Agent of an h2c request
    are read as in HTTP/1, and a card past the 1 MiB body cap of its DATA is still found (raw)."""
    client = _h2_client()
    client.send_headers(1, _req("/up", [("authorization", "Basic Y2xlcms6V29tYmF0LTc3eA=="),
                                        ("user-agent", "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1)")]))
    body = b"a" * (MAX_BODY + 300) + b" pan 4111111111111111 end"
    frames = b""
    for i in range(0, len(body), 16384):
        f = DataFrame(1, body[i : i + 16384])
        if i + 16384 >= len(body):
            f.flags.add("END_STREAM")
        frames += f.serialize()
    c = Tcp(port=8080)
    c.handshake()
    c.pieces(0, client.data_to_send() + frames, 1400)
    c.close()
    path = tmp_path / "h2c.pcap"
    c.write(path)
    out: list[Event] = []
    replay(path, Dispatcher(build_classifier(), build_analyzers(), out.append))
    logins = [(e.method, e.user, e.password_length) for e in out if isinstance(e, Credentials)]
    assert logins == [("Basic", "clerk", 10)]
    assert ("Windows", "6.1") in {(e.product, e.version) for e in out if isinstance(e, Software)}
    assert [(e.masked, e.encoding, e.channel) for e in out if isinstance(e, CardData)] == [
        ("411111******1111", "h2c", "http-body")]
    (end,) = [e for e in out if isinstance(e, FlowEnd)]
    assert (end.app, end.how, end.encrypted) == ("http", "h2c", False)
