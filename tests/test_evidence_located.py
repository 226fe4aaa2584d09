"""Detections carry their location: each located card, ISO 8583 message and login secret points at
the stream bytes that hold it (checked against the flow's own delivered bytes, before redaction)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pipeline_helpers import session_events
from scenario_modules import scenario_lists

from netwatch.events import CardData, Credentials, Event, Iso8583, Location
from netwatch.flows.table import Flow
from netwatch.flows.trace import TracingSink
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session
from netwatch.protocols.card_search import scan
from netwatch.redaction.masking import Fingerprinter

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
RULES = RuleSet.load([])


class Keeping(TracingSink):
    """A tracing sink that also keeps each flow's raw delivered bytes (for the test only)."""

    raw: dict[int, tuple[bytes, bytes]]

    def flow_end(self, flow: Flow) -> None:
        if flow.trace is not None:
            self.raw[flow.number] = (bytes(flow.trace.stream(0)), bytes(flow.trace.stream(1)))
        super().flow_end(flow)


def located(name: str) -> list[tuple[Event, bytes]]:
    """Every located event of a capture with the bytes its location names."""
    session = Session(RULES, None, name, fingerprint=Fingerprinter(bytes(16)), evidence=True)
    assert session.tracing is not None
    session.tracing.__class__ = Keeping
    raw: dict[int, tuple[bytes, bytes]] = {}
    session.tracing.raw = raw  # type: ignore[attr-defined]
    out = []
    for ev in session_events(session, CAPTURES / f"{name}.pcap"):
        where: Location | None = getattr(ev, "location", None)
        if where is not None:
            stream = raw[ev.flow.number][where.direction]
            out.append((ev, stream[where.offset : where.offset + where.length]))
    return out


@pytest.mark.parametrize("name", ["http_card_post", "cards_utf16", "cards_ebcdic_track2", "cards_iso8583_ascii",
                                  "cards_iso8583_bcd", "cards_dns_exfil", "evidence_segment_boundary",
                                  "evidence_hidden_encodings", "leaks_every_channel"])
def test_cards_are_located(name: str) -> None:
    found = located(name)
    cards = [(ev, b) for ev, b in found if isinstance(ev, CardData)]
    assert cards, name
    for ev, region in cards:
        assert region, f"{name}: {ev.channel} card located outside the kept bytes"
        assert ev.location is not None
        whole = ev.location.what == "iso8583" or ev.channel == "dns" or "gzip" in ev.encoding \
            or "deflate" in ev.encoding
        if not whole:  # the span itself reads as that card
            assert any(h[2][:6] + "*" in ev.masked[:7] and h[2][-4:] == ev.masked[-4:] for h in scan(region)[0]), \
                f"{name}: {ev.channel}/{ev.encoding} span does not hold its card"


def test_iso8583_messages_with_card_fields_are_located() -> None:
    found = [(ev, b) for ev, b in located("cards_iso8583_ascii") if isinstance(ev, Iso8583)]
    assert found and all(ev.sensitive_clear or ev.pin_block for ev, _ in found)
    assert all(b[:4] == ev.mti.encode() or ev.header != "none" for ev, b in found)


def test_login_secrets_are_located() -> None:
    found = [(ev, b) for ev, b in located("evidence_logins") if isinstance(ev, Credentials)]
    methods = {ev.method for ev, _ in found}
    assert {"Basic", "LOGIN", "USER/PASS"} <= methods, methods
    for ev, region in found:
        assert ev.password_length is not None
        if ev.method == "Basic":
            assert len(base64.b64decode(region).split(b":", 1)[1]) == ev.password_length
        elif ev.method == "USER/PASS":
            assert region.startswith(b"PASS ") and len(region.rstrip(b"\r")) - 5 == ev.password_length


@pytest.mark.parametrize(("name", "starts"), [("login_redis", b"*"), ("login_mqtt", b"\x10"),
                                              ("login_irc", b"")])
def test_app_login_secrets_are_located(name: str, starts: bytes) -> None:
    """Redis, MQTT and IRC logins carry a location too: the commands, the CONNECT packet, the line."""
    found = [(ev, b) for ev, b in located(name) if isinstance(ev, Credentials) and ev.password_length]
    assert found, name
    for ev, region in found:
        assert region.startswith(starts), (ev.method, region[:8].hex())
        assert len(region) > ev.password_length
        if name == "login_irc":
            assert region.split(b" ", 1)[0].upper() in (b"PASS", b"AUTHENTICATE", b"PRIVMSG", b"NICKSERV", b"NS",
                                                         b"IDENTIFY"), ev.method


@pytest.mark.parametrize(("name", "methods"), [
    ("detect_ldap_bind", {"simple bind"}), ("detect_db_logins", {"tds5 login"}), ("evidence_logins", {"password"}),
    ("detect_proxies", {"username/password"}), ("detect_http_auth", {"Bearer"})])
def test_binary_login_secrets_are_located_exactly(name: str, methods: set[str]) -> None:
    """LDAP simple binds, Sybase logins, PostgreSQL password messages, SOCKS5 logins and Bearer tokens:
    the location is the secret itself (what the scenario lists), so evidence overwrites just that."""
    secrets = {p.encode() for p in scenario_lists("PASSWORDS")}
    found = [(ev, b) for ev, b in located(name) if isinstance(ev, Credentials) and ev.method in methods]
    assert {ev.method for ev, _ in found} == methods, name
    for ev, region in found:
        assert ev.password_length and len(region) == ev.password_length, ev.method
        assert region in secrets, f"{name}: the {ev.method} location is not the listed secret"
