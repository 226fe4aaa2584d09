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


SCENARIOS = {"log_http_secrets": log_http_secrets}
