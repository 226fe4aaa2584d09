"""HTTP CONNECT variants (issue 20): `CONNECT host:25 / HTTP/1.0` (a trailing token) and `CONNECT
host:25` with bare LF ends open a tunnel like the plain form, the tunnel's first bytes (the proxy's
200 and the SMTP greeting in one segment) are classified, and the tunnelled SMTP is inspected (its
login, the card number in the mail). tshark's dissection agrees on the targets and the protocol inside.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import replay

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.events import CardData, Credentials, Event, FlowEnd, Proxy, Software
from netwatch.protocols.proxy_handshake import client_handshake, server_handshake

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "captures" / "login_connect_smtp.pcap"
TSHARK = shutil.which("tshark")


def _events() -> list[Event]:
    out: list[Event] = []
    replay(CAPTURE, Dispatcher(build_classifier(), build_analyzers(), out.append))
    return out


@pytest.mark.parametrize("request_head", [b"CONNECT mx:25 / HTTP/1.0\r\n\r\n", b"CONNECT mx:25\n\n",
                                          b"connect mx:25 HTTP/1.1\r\nHost: mx:25\r\n\r\n"])
def test_connect_variants_name_the_target(request_head):
    client = client_handshake(request_head + b"EHLO x\r\n")
    assert client is not None and (client.host, client.port, client.used) == ("mx", 25, len(request_head))
    assert server_handshake("http-connect", b"HTTP/1.1 200 OK\n\n220 mx ESMTP\r\n") == (True, 17, None)


def test_the_tunnelled_smtp_is_inspected():
    evs = _events()
    assert {(e.flow.client_port, e.target_host, e.target_port, e.granted) for e in evs if isinstance(e, Proxy)} == {
        (50850, "mx.partner.example", 25, True), (50851, "mx2.partner.example", 25, True)}
    assert {(e.flow.client_port, e.app, e.via_proxy) for e in evs if isinstance(e, FlowEnd)} == {
        (50850, "smtp", "http-connect"), (50851, "smtp", "http-connect")}
    (login,) = [e for e in evs if isinstance(e, Credentials)]
    assert (login.protocol, login.user, login.method, login.password_length) == ("smtp", "orders@store42.example",
                                                                                 "AUTH LOGIN", 10)
    assert [(e.masked, e.flow.app) for e in evs if isinstance(e, CardData)] == [("400005******5556", "smtp")]
    assert not [e for e in evs if isinstance(e, Software) and e.role == "server"]  # the proxy is not the MX


@pytest.mark.skipif(TSHARK is None, reason="needs tshark")
def test_tunnels_agree_with_tshark():
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-r", str(CAPTURE), "-n", "-T", "fields", "-E", "separator=\t",
                          "-e", "tcp.srcport", "-e", "frame.protocols", "-e", "http.request.uri",
                          "-e", "smtp.auth.username"], capture_output=True, text=True, timeout=120, check=True).stdout
    targets, inside, users = set(), set(), set()
    for port, stack, uri, user in (line.split("\t") for line in out.splitlines()):
        if uri:
            host, _, p = uri.rpartition(":")
            targets.add((int(port), host, int(p)))
        if ":http:smtp" in stack and int(port) != 3128:
            inside.add((int(port), "smtp"))
        if user:
            users.add(base64.b64decode(user).decode())
    evs = _events()
    assert targets == {(e.flow.client_port, e.target_host, e.target_port) for e in evs if isinstance(e, Proxy)}
    assert inside == {(e.flow.client_port, e.app) for e in evs if isinstance(e, FlowEnd)}
    assert users == {e.user for e in evs if isinstance(e, Credentials)}
