"""Parsers of the logins `credentials` did not know: SASL for POP3 (PLAIN, LOGIN, XOAUTH2), HTTP
Digest/Bearer, LDAP binds, Sybase TDS 5.0, SOCKS5; and the bundled captures' findings. No test
shows a password: only lengths and booleans are compared."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from netwatch.protocols.auth import digest_user, ldap_bind, oauth_token, tds_login
from netwatch.protocols.proxy_handshake import client_handshake

ROOT = Path(__file__).resolve().parents[1]
SECRETS = [b"Sommer2024", b"Kasse2024", b"Kasse!2024", b"Proxy123", b"ya29.A0ARrdaM-store42-token",
           b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwb3MwMSJ9.c2lnbmF0dXJlLXN0b3JlNDI"]


def _ber(tag: int, body: bytes) -> bytes:
    return bytes([tag, len(body)]) + body


def test_ldap_simple_bind() -> None:
    msg = _ber(0x30, b"\x02\x01\x01" + _ber(0x60, b"\x02\x01\x03" + _ber(0x04, b"cn=a") + _ber(0x80, b"pw12")))
    bind = ldap_bind(msg)
    assert bind is not None and bind[:3] == (3, b"cn=a", "simple") and len(bind[3] or b"") == 4


def test_ldap_sasl_and_not_a_bind() -> None:
    mech = _ber(0xA3, _ber(0x04, b"GSSAPI"))
    sasl = _ber(0x30, b"\x02\x01\x02" + _ber(0x60, b"\x02\x01\x03" + _ber(0x04, b"") + mech))
    bind = ldap_bind(sasl)
    assert bind is not None and bind[2] == "sasl:GSSAPI" and bind[3] is None
    search = _ber(0x30, b"\x02\x01\x02" + _ber(0x63, _ber(0x04, b"dc=x")))
    assert ldap_bind(search) is None and ldap_bind(b"\x30\x84") is None


def test_tds5_login_record() -> None:
    def field(v: bytes) -> bytes:
        return v.ljust(30, b"\0") + bytes([len(v)])

    rec = field(b"HOST") + field(b"sa") + field(b"secret9") + bytes(200)
    creds = tds_login(bytes([2, 1, 0, 0, 0, 0, 0, 0]) + rec)
    assert creds is not None and creds[0] == b"sa" and len(creds[1]) == 7
    assert tds_login(bytes([0x10]) + bytes(200)) is None  # TDS 7 LOGIN7 is credentials.py's


def test_oauth_and_digest() -> None:
    tok = oauth_token(b"user=a@b.example\x01auth=Bearer abc.def\x01\x01")
    assert tok is not None and tok[0] == b"a@b.example" and len(tok[1]) == 7
    assert oauth_token(b"n,a=bob,\x01host=x\x01auth=Bearer t1\x01\x01") == (b"bob", b"t1")
    assert digest_user(b'realm="r", username="pos01", response="x"') == b"pos01"
    assert digest_user(b"realm=r") is None


def test_socks5_login_parsed() -> None:
    c = client_handshake(b"\x05\x01\x02" + b"\x01\x03bob\x04abcd" + b"\x05\x01\x00\x01\x7f\x00\x00\x01\x01\xbb")
    assert c is not None and (c.kind, c.host, c.port, c.user) == ("socks5", "127.0.0.1", 443, b"bob")
    assert c.password is not None and len(c.password) == 4


def _scan(name: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(ROOT / "captures" / f"{name}.pcap"), "--json",
                          "-", "-q", "--fail-on", "none"], capture_output=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0
    for s in SECRETS:
        assert s not in out.stdout and s not in out.stderr, "a secret reached the output"
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert records[-1]["event_type"] == "summary"
    return [r for r in records if r["event_type"] == "finding"]


@pytest.mark.parametrize(("name", "want"), [
    ("detect_pop3_sasl", {("NW-CRED-001", "AUTH PLAIN", "cleartext"), ("NW-CRED-001", "AUTH LOGIN", "cleartext"),
                          ("NW-CRED-001", "AUTH XOAUTH2", "token")}),
    ("detect_http_auth", {("NW-CRED-002", "Digest", "digest"), ("NW-CRED-001", "Bearer", "token")}),
    ("detect_db_logins", {("NW-CRED-002", "scram", "scram"), ("NW-CRED-003", "mysql_native_password", "none"),
                          ("NW-CRED-001", "tds5 login", "cleartext")}),
    ("detect_ldap_bind", {("NW-CRED-001", "simple bind", "cleartext"), ("NW-CRED-003", "simple bind", "none")}),
])
def test_bundled_login_captures(name: str, want: set[tuple[str, str, str]]) -> None:
    got = {(r["rule"], r["evidence"]["method"], r["evidence"]["secret"]) for r in _scan(name)
           if r["category"] == "credentials"}
    assert got == want


def test_default_password_escalates_in_pop3_login() -> None:
    sev = {r["evidence"]["method"]: r["severity"] for r in _scan("detect_pop3_sasl") if r["rule"] == "NW-CRED-001"}
    assert sev == {"AUTH PLAIN": "high", "AUTH LOGIN": "critical", "AUTH XOAUTH2": "high"}


def test_ldap_in_clear_is_cleartext() -> None:
    apps = {(r["app"], r["dport"]) for r in _scan("detect_ldap_bind") if r["rule"] == "NW-CLEAR-001"}
    assert apps == {("ldap", 389), ("ldap", 3268)}


def test_base64_of_secrets_never_in_output() -> None:
    out = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(ROOT / "captures" / "detect_pop3_sasl.pcap"),
                          "--json", "-", "-q", "--fail-on", "none"], capture_output=True, cwd=ROOT, timeout=60)
    assert base64.b64encode(b"admin") not in out.stdout


def test_cram_md5_is_challenge_response() -> None:
    """IMAP AUTHENTICATE CRAM-MD5: the client's answer after the challenge is user + digest (NW-CRED-002)."""
    import socket

    from netwatch.analyzers.logins import Logins
    from netwatch.events import Credentials, Event
    from netwatch.flows.table import Flow
    from netwatch.packets.decode import TCP

    flow = Flow(socket.inet_aton("10.0.0.1"), 50000, socket.inet_aton("10.0.0.2"), 143, TCP, 0.0)
    flow.app, flow.encrypted = "imap", False
    got: list[Event] = []
    an = Logins()
    an.stream(flow, 0, b"a1 AUTHENTICATE CRAM-MD5\r\n", 1.0, got.append)
    an.stream(flow, 1, b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZT4=\r\n", 1.1, got.append)
    an.stream(flow, 0, base64.b64encode(b"tim b913a602c7eda7a495b4e6e7334d3890") + b"\r\n", 1.2, got.append)
    assert [(o.user, o.method, o.secret) for o in got if isinstance(o, Credentials)] == [
        ("tim", "AUTH CRAM-MD5", "digest")]
    assert len(got) == 1
