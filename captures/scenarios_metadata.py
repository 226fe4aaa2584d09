"""Requests whose URLs carry secrets, for the `--log http` records (issue 24): a card number in the
path (plain, grouped with dashes, percent-encoded), in a query value and as a bare query item; a
password in a query value, in an absolute URL's userinfo (a proxy request) and in HTTP Basic; plus a
DNS lookup whose answer names the shop. tests/test_report_metadata.py checks the records against
tshark and that no number or password reaches any output. Fixed timestamps: reruns are byte-identical.
"""

from __future__ import annotations

import base64

from scenario_lib import Clock, TcpConversation
from scenarios_destinations import dns_lookup

POS, RESOLVER, SHOP, PROXY = "10.20.1.15", "10.20.0.53", "198.51.100.90", "10.20.0.8"
# Visa test-style numbers (Luhn-valid), one per place a URL can hold one
CARD = {"path": "4000056655665556", "path-dashed": "4242424242424242", "path-percent": "4012888888881881",
        "query-value": "4111111111111111", "query-bare": "4917610000000000"}
CARD_NUMBERS = list(CARD.values())
PASSWORD = {"query": "Qx7-secret-pw1", "userinfo": "Qx7-secret-pw2", "basic": "Qx7-secret-pw3"}
PASSWORDS = list(PASSWORD.values())


def _percent(digits: str) -> str:
    return "".join(f"%{ord(d):02X}" for d in digits)


def _dashed(digits: str) -> str:
    return "-".join(digits[i:i + 4] for i in range(0, 16, 4))


def requests() -> list[str]:
    """The request heads, in the order they are sent (also what the tests expect to see, redacted)."""
    c, p = CARD, PASSWORD
    basic = base64.b64encode(f"clerk:{p['basic']}".encode()).decode()
    return [
        f"GET /cards/{c['path']}/receipt HTTP/1.1\nHost: shop.example\nUser-Agent: PosClient/3.0",
        f"GET /c/{_dashed(c['path-dashed'])} HTTP/1.1\nHost: shop.example",
        f"GET /lookup/{_percent(c['path-percent'])}?x=1 HTTP/1.1\nHost: shop.example",
        f"GET /pay?pan={c['query-value']}&pw={p['query']}&{c['query-bare']} HTTP/1.1\nHost: shop.example",
        f"GET http://clerk:{p['userinfo']}@shop.example:8080/orders?id=5#top HTTP/1.1\nHost: shop.example:8080",
        f"GET /admin HTTP/1.0\nHost: shop.example\nAuthorization: Basic {basic}",
    ]


def log_http_secrets() -> list:
    clk = Clock()
    out = dns_lookup(POS, RESOLVER, 40100, 0x4242, "shop.example", [("shop.example", "A", SHOP)], clk)
    for i, head in enumerate(requests()):
        proxied = head.startswith("GET http://")
        conv = TcpConversation(POS, PROXY if proxied else SHOP, 52000 + i, 3128 if proxied else 80, clk)
        conv.send(0, head.replace("\n", "\r\n").encode() + b"\r\n\r\n")
        conv.send(1, b"HTTP/1.1 204 No Content\r\n\r\n")
        conv.close()
        out += conv.packets
    return out


def log_http_status() -> list:
    """Responses paired with their requests: two GETs pipelined on one connection (answered 200 then
    404, in order), a POST with `Expect: 100-continue` (an interim 100, then 201), a request the
    capture ends before the answer to (no status), and HTTP/2 with prior knowledge whose streams are
    answered out of order (stream 3's 503 before stream 1's 200)."""
    import h2.config
    import h2.connection

    clk = Clock()
    out: list = []
    piped = TcpConversation(POS, SHOP, 52100, 80, clk)
    piped.send(0, b"GET /catalog HTTP/1.1\r\nHost: shop.example\r\n\r\n"
                  b"GET /missing HTTP/1.1\r\nHost: shop.example\r\n\r\n")
    piped.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                  b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    piped.send(0, b"POST /orders HTTP/1.1\r\nHost: shop.example\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 9\r\n\r\n")
    piped.send(1, b"HTTP/1.1 100 Continue\r\n\r\n")
    piped.send(0, b'{"id": 7}')
    piped.send(1, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    piped.close()
    out += piped.packets
    unanswered = TcpConversation(POS, SHOP, 52101, 80, clk)
    unanswered.send(0, b"GET /slow HTTP/1.1\r\nHost: shop.example\r\n\r\n")
    out += unanswered.packets  # the capture ends before the answer (and before any FIN)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    client.initiate_connection()
    server.initiate_connection()
    h2c = TcpConversation(POS, SHOP, 52102, 8080, clk)
    for sid, path in ((1, "/api/stock"), (3, "/api/price")):
        client.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                  (":authority", "shop.example")], end_stream=True)
    sent = client.data_to_send()
    h2c.send(0, sent)
    server.receive_data(sent)
    for sid, status in ((3, "503"), (1, "200")):
        server.send_headers(sid, [(":status", status)], end_stream=True)
    h2c.send(1, server.data_to_send())
    h2c.close()
    return out + h2c.packets


SCENARIOS = {"log_http_secrets": log_http_secrets, "log_http_status": log_http_status}
