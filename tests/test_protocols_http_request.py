"""protocols/http_request.py: the request facts a `--log http` record shows, with no query value and
no URL userinfo, bounded, on well-formed and hostile request heads."""

from __future__ import annotations

import pytest

from netwatch.protocols.http import HttpHead, HttpParser
from netwatch.protocols.http_request import MAX_PATH, MAX_QUERY, elide_query, request_facts, split_target


def _head(raw: bytes) -> HttpHead:
    parts = HttpParser().feed_parts(raw)
    heads = [p for p in parts if isinstance(p, HttpHead)]
    assert heads
    return heads[0]


@pytest.mark.parametrize(("target", "want"), [
    (b"/a/b?x=1&y=2#frag", (None, b"/a/b", b"x=1&y=2")),
    (b"/a#f?x=1", (None, b"/a", None)),
    (b"*", (None, b"*", None)),
    (b"http://u:secret@shop.example:8080/o?id=5", (b"shop.example:8080", b"/o", b"id=5")),
    (b"HTTP://u:se?cr#et@shop.example/o", (b"shop.example", b"/o", None)),  # the userinfo's '?' and '#'
    (b"http://shop.example?q=1", (b"shop.example", b"/", b"q=1")),
    (b"https://[2001:db8::1]:8443", (b"[2001:db8::1]:8443", b"/", None)),
    (b"ftp://u:pw@files.example/pub/prices.csv", (b"files.example", b"/pub/prices.csv", None)),  # via a proxy
    (b"pay.example:443", (b"pay.example:443", b"", None)),  # CONNECT
    (b"u:pw@pay.example:443", (b"pay.example:443", b"", None)),
    (b"/x@y/z", (None, b"/x@y/z", None)),  # an '@' in a path is no userinfo
])
def test_split_target(target: bytes, want: tuple) -> None:
    assert split_target(target) == want


def test_query_values_never_leave() -> None:
    assert elide_query(b"pan=4111111111111111&pw=hunter2&4111111111111111&&a=") == "pan=*&pw=*&*&a=*"
    assert elide_query(b"a=1;b=2") == "a=*&b=*"
    many = elide_query(b"&".join(b"k%d=v" % i for i in range(100)))
    assert len(many) <= MAX_QUERY and "v" not in many.replace("k", "")
    assert elide_query(b"\x1b[31m=1") == "\\x1b[31m=*"  # control bytes escaped


def test_request_facts() -> None:
    f = request_facts(_head(b"GET http://clerk:pw1@shop.example/orders?id=5 HTTP/1.0\r\nUser-Agent: Pos/1\r\n\r\n"))
    assert f is not None
    assert (f.method, f.host, f.path, f.query, f.version, f.user_agent) == (
        "GET", "shop.example", "/orders", "id=*", "HTTP/1.0", "Pos/1")
    g = request_facts(_head(b"POST /p?card=1 HTTP/1.1\r\nHost: a.example:81\r\n\r\n"))
    assert g is not None and (g.host, g.path, g.query) == ("a.example:81", "/p", "card=*")
    long = request_facts(_head(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: h\r\n\r\n"))
    assert long is not None and len(long.path) == MAX_PATH and long.path.endswith("…")
    assert request_facts(_head(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) is None
