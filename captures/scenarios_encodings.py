"""Cards hidden by the encodings store traffic uses (issue 22): form '+', base64 wrapped over lines,
quoted-printable, JSON escapes, XML/HTML references, br and zstd bodies, WebSocket frames, HTTP/2
cleartext (prior knowledge and Upgrade: h2c), and their look-alikes that must stay silent.

Encoded bytes are made here by the standard library, brotli, zstandard and the h2 library (an
HTTP/2 client and server talking to each other in memory), WebSocket frames by hand from RFC 6455:
never by netwatch's decoders. Each capture puts cards in card context (a card_number field, a pan
column) and at least one bare. Every card number is listed in CARD_NUMBERS (for the leak test).
"""

from __future__ import annotations

import base64
import gzip
import json
import quopri
import random
import struct
import zlib

import brotli
import h2.config
import h2.connection
import h2.events
import zstandard
from scenario_lib import Clock, TcpConversation

POS = "10.30.1.15"
POS2 = "10.30.1.16"
BACKOFFICE = "10.30.9.6"
GATEWAY = "198.51.100.40"
MAIL = "10.30.9.25"

CARD_NUMBERS = [
    "5454545454545454",  # enc_form_plus: card_number typed with spaces (Mastercard)
    "378734493671000",  # enc_form_plus: bare in a comment field (Amex)
    "4917610000000000",  # enc_base64_lines: MIME CSV attachment, across a 76-character break (Visa)
    "6011000400000000",  # enc_base64_lines: PEM-64 wrapped export over HTTP (Discover)
    "5105105105105100",  # enc_quoted_printable: split by a soft line break (Mastercard)
    "4222222222222220",  # enc_quoted_printable: every digit escaped (Visa, bare)
    "3566002020360505",  # enc_json_escape: card_number with \\u escapes (JCB)
    "6011111111111117",  # enc_json_escape: bare in a memo, grouped with \\u0020 (Discover)
    "4000056655665556",  # enc_html_entities: numeric references in an XML pan element (Visa)
    "5200828282828210",  # enc_html_entities: &nbsp; between groups in an HTML receipt (Mastercard)
    "4012888888881881",  # enc_brotli_zstd: br response (Visa)
    "5555555555554444",  # enc_brotli_zstd: zstd request (Mastercard)
    "4111111111111111",  # enc_websocket: masked client frame (Visa)
    "2223003122003222",  # enc_websocket: fragmented message around a ping (Mastercard 2-series)
    "6011000990139424",  # enc_websocket: permessage-deflate server message (Discover)
    "4263982640269299",  # enc_h2c_prior: :path query (Visa)
    "5425233430109903",  # enc_h2c_prior: DATA body (Mastercard)
    "374245455400126",  # enc_h2c_upgrade: DATA body after Upgrade: h2c (Amex)
    "4000000000000077",  # enc_h2c_upgrade: a header on the h2 stream (Visa, bare)
]


def _http(c: TcpConversation, d: int, head: bytes, body: bytes, mss: int = 1400) -> None:
    c.send(d, head + b"Content-Length: %d\r\n\r\n" % len(body) + body, mss=mss)


def _ok(c: TcpConversation) -> None:
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


# -- text encodings --------------------------------------------------------------------------------
def enc_form_plus() -> list:
    """A checkout form: the card typed with spaces arrives as 5454+5454+…; a bare Amex in a comment."""
    clock = Clock()
    body = (b"name=J+Doe&card_number=5454+5454+5454+5454&exp=12%2F27&"
            b"comment=please+use+3787+344936+71000+for+the+deposit&qty=2")
    c = TcpConversation(POS, GATEWAY, 51000, 80, clock)
    _http(c, 0, b"POST /checkout HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\n",
          body)
    _ok(c)
    c.close()
    return c.packets


def _wrapped(data: bytes, width: int, nl: bytes) -> bytes:
    enc = base64.b64encode(data)
    return nl.join(enc[i : i + width] for i in range(0, len(enc), width)) + nl


def _smtp(c: TcpConversation, message: bytes) -> None:
    for d, line in ((1, b"220 mail.store.example ESMTP\r\n"), (0, b"EHLO pos15\r\n"), (1, b"250 ok\r\n"),
                    (0, b"MAIL FROM:<pos15@store.example>\r\n"), (1, b"250 ok\r\n"),
                    (0, b"RCPT TO:<office@store.example>\r\n"), (1, b"250 ok\r\n"), (0, b"DATA\r\n"),
                    (1, b"354 go ahead\r\n")):
        c.send(d, line)
    c.send(0, message + b"\r\n.\r\n", mss=536)
    c.send(1, b"250 queued\r\n")
    c.send(0, b"QUIT\r\n")
    c.send(1, b"221 bye\r\n")


def enc_base64_lines() -> list:
    """A MIME CSV attachment (base64, 76 columns, CRLF) whose card straddles a line break, sent over
    SMTP in 536-byte segments; and a PEM-style (64 columns, LF) export posted over HTTP."""
    clock = Clock()
    rows = [b"date,terminal,pan,amount"] + [b"2023-11-%02d,T%02d,,%d.50" % (i + 1, i, i) for i in range(6)]
    csv = b"\r\n".join(rows) + b"\r\n"
    csv += b"2023-11-25,T42,4917610000000000,12.50\r\n"
    attach = _wrapped(csv, 76, b"\r\n")
    assert b"\r\n" in attach[attach.find(b"\r\n", 300) - 40 :]  # the card runs over a break
    msg = (b"From: pos15@store.example\r\nTo: office@store.example\r\nSubject: daily export\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
           b"Content-Type: text/plain\r\n\r\nexport attached\r\n--b1\r\nContent-Type: text/csv; name=export.csv\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + attach + b"--b1--\r\n")
    c = TcpConversation(POS, MAIL, 51010, 25, clock)
    _smtp(c, msg)
    c.close()
    pkts = c.packets
    doc = b"x" * 37 + b'{"records":[{"card":"6011000400000000","amount":"9.99"}]}\n'
    pem = b"-----BEGIN EXPORT-----\n" + _wrapped(doc, 64, b"\n") + b"-----END EXPORT-----\n"
    c = TcpConversation(POS, BACKOFFICE, 51011, 8080, clock)
    _http(c, 0, b"POST /upload HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: text/plain\r\n", pem)
    _ok(c)
    c.close()
    return pkts + c.packets


def enc_quoted_printable() -> list:
    """A receipt mail in quoted-printable: a card cut by a soft line break, one with every digit escaped."""
    clock = Clock()
    text = b"Receipt for order 1001 - thank you for shopping - card number 5105105105105100 on 2023-11-25.\n"
    qp = quopri.encodestring(text)
    assert b"5105105105105=\n100" in qp  # the soft break cuts the number
    qp = qp.replace(b"\n", b"\r\n")
    escaped = b"Ref: " + b"".join(b"=%02X" % c for c in b"4222222222222220") + b"\r\n"
    msg = (b"From: pos15@store.example\r\nTo: customer@example.org\r\nSubject: receipt\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           + qp + escaped)
    c = TcpConversation(POS, MAIL, 51020, 25, clock)
    _smtp(c, msg)
    c.close()
    return c.packets


def enc_json_escape() -> list:
    """A JSON API whose serializer escapes digits (\\u0033…) and spaces (\\u0020)."""
    clock = Clock()
    pan = "".join(f"\\u{ord(ch):04x}" if i % 3 == 0 else ch for i, ch in enumerate("3566002020360505"))
    memo = "\\u0020".join(("6011", "1111", "1111", "1117"))
    body = ('{"order":"A-77","card_number":"' + pan + '","memo":"call back re ' + memo + '"}').encode()
    c = TcpConversation(POS, BACKOFFICE, 51030, 8080, clock)
    head = b"POST /api/orders HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: application/json\r\n"
    _http(c, 0, head, body)
    _ok(c)
    c.close()
    return c.packets


def enc_html_entities() -> list:
    """An XML authorisation with a numeric-reference PAN, and an HTML receipt with &nbsp; between groups."""
    clock = Clock()
    pan = "".join(f"&#{ord(ch)};" if i % 2 else f"&#x{ord(ch):x};" for i, ch in enumerate("4000056655665556"))
    xml = ('<?xml version="1.0"?><auth><pan>' + pan + "</pan><amount>12.50</amount></auth>").encode()
    c = TcpConversation(POS, GATEWAY, 51040, 80, clock)
    _http(c, 0, b"POST /auth HTTP/1.1\r\nHost: gw.example\r\nContent-Type: application/xml\r\n", xml)
    receipt = b"<html><body><p>Paid: 5200&nbsp;8282&nbsp;8282&nbsp;8210</p></body></html>"
    _http(c, 1, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", receipt)
    c.close()
    return c.packets


def enc_brotli_zstd() -> list:
    """A br-compressed JSON response and a zstd-compressed upload."""
    clock = Clock()
    c = TcpConversation(POS, BACKOFFICE, 51050, 8080, clock)
    c.send(0, b"GET /api/last-payment HTTP/1.1\r\nHost: backoffice.store.example\r\nAccept-Encoding: br\r\n\r\n")
    doc = json.dumps({"id": "P-9", "pan": "4012888888881881", "status": "ok"}).encode()
    _http(c, 1, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: br\r\n", brotli.compress(doc))
    up = json.dumps({"batch": 7, "card_number": "5555 5555 5555 4444"}).encode()
    _http(c, 0, b"POST /api/batch HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Encoding: zstd\r\n",
          zstandard.ZstdCompressor(level=3).compress(up))
    _ok(c)
    c.close()
    return c.packets


# -- WebSocket ---------------------------------------------------------------------------------------
def _ws_frame(payload: bytes, opcode: int, fin: bool = True, mask: bytes | None = None, rsv1: bool = False) -> bytes:
    """One RFC 6455 frame, built from the RFC's layout."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 1 << 16:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def _deflate_message(data: bytes) -> bytes:
    co = zlib.compressobj(wbits=-15)
    out = co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def enc_websocket() -> list:
    """A POS dashboard's WebSocket: masked client frames, a fragmented message with a ping between
    its fragments, and a permessage-deflate server message."""
    clock = Clock()
    rng = random.Random(6455)
    c = TcpConversation(POS, BACKOFFICE, 51060, 8080, clock)
    c.send(0, b"GET /live HTTP/1.1\r\nHost: backoffice.store.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    c.send(1, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    mask = lambda: rng.randbytes(4)  # noqa: E731 - a fresh key per frame, as RFC 6455 asks
    c.send(0, _ws_frame(b'{"type":"sale","card_number":"4111111111111111"}', 1, mask=mask()))
    msg = b'{"type":"refund","note":"2223 0031 2200 3222 refunded"}'
    c.send(0, _ws_frame(msg[:20], 1, fin=False, mask=mask()) + _ws_frame(b"keepalive", 9, mask=mask()))
    c.send(0, _ws_frame(msg[20:38], 0, fin=False, mask=mask()))
    c.send(0, _ws_frame(msg[38:], 0, mask=mask()))
    c.send(1, _ws_frame(_deflate_message(b'{"last":{"pan":"6011000990139424","ok":true}}'), 1, rsv1=True))
    c.send(1, _ws_frame(b"\x03\xe8", 8))
    c.send(0, _ws_frame(b"\x03\xe8", 8, mask=mask()))
    c.close()
    return c.packets


# -- HTTP/2 cleartext ------------------------------------------------------------------------------
def _h2_pair(upgrade: bytes | None = None) -> tuple[h2.connection.H2Connection, h2.connection.H2Connection]:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    if upgrade is None:
        client.initiate_connection()
        server.initiate_connection()
    else:
        client.initiate_upgrade_connection()
        server.initiate_upgrade_connection(upgrade)
    return client, server


def _h2_answer(server: h2.connection.H2Connection, data: bytes, body: bytes) -> None:
    """The server reads the client's bytes and answers every request that ended."""
    for ev in server.receive_data(data):
        if isinstance(ev, h2.events.StreamEnded):
            server.send_headers(ev.stream_id, [(":status", "200"), ("content-type", "application/json")])
            server.send_data(ev.stream_id, body, end_stream=True)


def enc_h2c_prior() -> list:
    """HTTP/2 with prior knowledge: a card in the :path query and one in a DATA body."""
    clock = Clock()
    client, server = _h2_pair()
    c = TcpConversation(POS2, BACKOFFICE, 51070, 8080, clock)
    client.send_headers(1, [(":method", "GET"), (":path", "/api/lookup?pan=4263982640269299"),
                            (":scheme", "http"), (":authority", "backoffice.store.example")], end_stream=True)
    body = json.dumps({"terminal": "T7", "card_number": "5425233430109903", "amount": "4.20"}).encode()
    client.send_headers(3, [(":method", "POST"), (":path", "/api/pay"), (":scheme", "http"),
                            (":authority", "backoffice.store.example"), ("content-type", "application/json"),
                            ("user-agent", "pos-agent/2.1")])
    client.send_data(3, body[:30])
    client.send_data(3, body[30:], end_stream=True)
    out = client.data_to_send()
    c.send(0, out, mss=90)
    _h2_answer(server, out, b'{"ok":true}')
    c.send(1, server.data_to_send())
    c.close()
    return c.packets


def enc_h2c_upgrade() -> list:
    """HTTP/1.1 Upgrade: h2c: the 101, then the client preface and a POST on stream 3 in HTTP/2 frames."""
    clock = Clock()
    client, server = _h2_pair(upgrade=b"")
    settings = base64.urlsafe_b64encode(b"").rstrip(b"=")
    c = TcpConversation(POS2, BACKOFFICE, 51080, 8080, clock)
    c.send(0, b"GET /api/hello HTTP/1.1\r\nHost: backoffice.store.example\r\nConnection: Upgrade, HTTP2-Settings\r\n"
              b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n")
    c.send(1, b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    server.send_headers(1, [(":status", "200"), ("content-type", "text/plain")])
    server.send_data(1, b"hello", end_stream=True)
    c.send(1, server.data_to_send())
    body = gzip.compress(json.dumps({"card_number": "374245455400126"}).encode(), mtime=0)
    client.send_headers(3, [(":method", "POST"), (":path", "/api/pay"), (":scheme", "http"),
                            (":authority", "backoffice.store.example"), ("content-encoding", "gzip"),
                            ("x-debug", "4000000000000077")])
    client.send_data(3, body, end_stream=True)
    out = client.data_to_send()
    c.send(0, out)
    _h2_answer(server, out, b'{"ok":true}')
    c.send(1, server.data_to_send())
    c.close()
    return c.packets


# -- look-alikes -----------------------------------------------------------------------------------
def enc_lookalikes() -> list:
    """Encoded traffic with no card: '+'-joined EAN lists, base64 of random bytes across lines,
    quoted-printable and JSON escapes of timestamps and order numbers, an h2c and a WebSocket
    session carrying product codes only."""
    clock = Clock()
    rng = random.Random(2222)
    eans = [4006381333931, 4012345678901, 5901234123457, 9501101530003, 4311501471427, 4008400402222]
    form = b"basket=" + b"+".join(b"%d" % e for e in eans) + b"&qty=" + b"+".join(b"1" for _ in eans)
    c = TcpConversation(POS, BACKOFFICE, 51090, 8080, clock)
    _http(c, 0, b"POST /basket HTTP/1.1\r\nHost: backoffice.store.example\r\n", form)
    _ok(c)
    blob = _wrapped(rng.randbytes(30_000), 76, b"\r\n")
    _http(c, 0, b"POST /blob HTTP/1.1\r\nHost: backoffice.store.example\r\n", blob)
    _ok(c)
    qp = quopri.encodestring(b"Order 2023112500001234 shipped at 1700000000123; tracking 00340434161234567891 "
                             b"- thank you for shopping with us, see you soon at the store.\n")
    _http(c, 0, b"POST /mail HTTP/1.1\r\nHost: backoffice.store.example\r\n", qp)
    _ok(c)
    js = b'{"ts":"\\u0031700000000123","order":"\\u0032023112500001234","gtin":"\\u00340012345678901"}'
    _http(c, 0, b"POST /json HTTP/1.1\r\nHost: backoffice.store.example\r\n", js)
    _ok(c)
    c.close()
    pkts = c.packets
    client, server = _h2_pair()
    c = TcpConversation(POS2, BACKOFFICE, 51091, 8080, clock)
    client.send_headers(1, [(":method", "POST"), (":path", "/api/stock?ean=4006381333931"), (":scheme", "http"),
                            (":authority", "backoffice.store.example")])
    client.send_data(1, json.dumps({"items": [{"gtin": "04006381333931", "qty": 3}]}).encode(), end_stream=True)
    out = client.data_to_send()
    c.send(0, out)
    _h2_answer(server, out, b'{"ok":true}')
    c.send(1, server.data_to_send())
    c.close()
    pkts += c.packets
    c = TcpConversation(POS2, BACKOFFICE, 51092, 8080, clock)
    c.send(0, b"GET /live HTTP/1.1\r\nHost: backoffice.store.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    c.send(1, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    for i in range(50):
        c.send(0, _ws_frame(b'{"scan":"%d"}' % eans[i % len(eans)], 1, mask=rng.randbytes(4)))
    c.send(1, _ws_frame(rng.randbytes(3000), 2))
    c.close()
    return pkts + c.packets


SCENARIOS = {
    "enc_form_plus": enc_form_plus,
    "enc_base64_lines": enc_base64_lines,
    "enc_quoted_printable": enc_quoted_printable,
    "enc_json_escape": enc_json_escape,
    "enc_html_entities": enc_html_entities,
    "enc_brotli_zstd": enc_brotli_zstd,
    "enc_websocket": enc_websocket,
    "enc_h2c_prior": enc_h2c_prior,
    "enc_h2c_upgrade": enc_h2c_upgrade,
    "enc_lookalikes": enc_lookalikes,
}
