"""Logins in WebSocket messages after an HTTP upgrade (a web till or back-office dashboard signing on
over ws://): a masked client JSON login, one split over three masked fragments with a ping between
them, an XML login in a binary message, and one in a permessage-deflate message; then look-alikes
that must stay silent (the server echoing a password field, a client message whose password-named
field is a flag, an empty password).

Every password is listed in PASSWORDS (the leak tests look for it in every output and evidence
capture, raw and as the frame's mask left it is no concern: evidence blanks it before masking).
Fixed timestamps and masks: reruns are byte-identical.
"""

from __future__ import annotations

import json
import random
import zlib

from scenario_lib import Clock, TcpConversation
from scenarios_encodings import _ws_frame

POS, DASHBOARD = "10.20.1.15", "10.20.9.6"
PASSWORD = {
    "json": "Ws1-till-sign-on",
    "fragmented": "Ws2-split-pw",
    "xml": "Ws3-xml-pw",
    "deflate": "Ws4-deflated-pw",
    "echo": "Ws5-echo-pw",  # from the server: not a login, blanked in evidence
}
PASSWORDS = list(PASSWORD.values())
CARD_NUMBERS: list[str] = []
UPGRADE = (b"GET /till HTTP/1.1\r\nHost: dashboard.store.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
ACCEPT = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")


def _deflated(data: bytes) -> bytes:
    co = zlib.compressobj(wbits=-15)
    return (co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH))[:-4]


def login_websocket() -> list:
    clk, rng, p = Clock(), random.Random(6455), PASSWORD
    mask = lambda: rng.randbytes(4)  # noqa: E731 - a fresh key per frame, as RFC 6455 asks
    plain = TcpConversation(POS, DASHBOARD, 52300, 8080, clk)
    plain.send(0, UPGRADE + b"\r\n")
    plain.send(1, ACCEPT + b"\r\n")
    plain.send(0, _ws_frame(json.dumps({"action": "login", "operator": "till7", "password": p["json"]}).encode(), 1,
                            mask=mask()))
    plain.send(1, _ws_frame(json.dumps({"ok": True, "session": {"password": p["echo"]}}).encode(), 1))
    msg = json.dumps({"action": "login", "username": "mgr", "password": p["fragmented"]}).encode()
    plain.send(0, _ws_frame(msg[:25], 1, fin=False, mask=mask()) + _ws_frame(b"hb", 9, mask=mask()))
    plain.send(0, _ws_frame(msg[25:45], 0, fin=False, mask=mask()) + _ws_frame(msg[45:], 0, mask=mask()))
    xml = f"<login><user>kiosk</user><password>{p['xml']}</password></login>".encode()
    plain.send(0, _ws_frame(xml, 2, mask=mask()))
    plain.send(0, _ws_frame(json.dumps({"action": "settings", "show_password": True, "password": ""}).encode(), 1,
                            mask=mask()))
    plain.close()
    packed = TcpConversation(POS, DASHBOARD, 52301, 8080, clk)
    packed.send(0, UPGRADE + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    packed.send(1, ACCEPT + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    body = json.dumps({"action": "login", "user": "night", "password": p["deflate"]}).encode()
    packed.send(0, _ws_frame(_deflated(body), 1, mask=mask(), rsv1=True))
    packed.close()
    return plain.packets + packed.packets


SCENARIOS = {"login_websocket": login_websocket}
