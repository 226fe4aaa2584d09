"""Cleartext logins: each protocol's parser, and no password ever in an observation or a finding."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from netwatch.analyzers import Analyzer
from netwatch.analyzers.credentials import Credentials
from netwatch.analyzers.dispatch import Dispatcher
from netwatch.events import Event
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP, UDP
from netwatch.protocols.auth import is_default
from netwatch.protocols.snmp import snmp_community
from netwatch.protocols.text import clean

ROOT = Path(__file__).resolve().parents[1]
SECRET = "Xq7-wombat-Secret"


def run(app: str, steps: list[tuple[int, bytes]], proto: int = TCP) -> list[dict]:
    """The steps through a Dispatcher (it parses HTTP for the analyzer) with the flow already classified."""
    f = Flow(bytes([10, 0, 0, 1]), 40000, bytes([10, 0, 0, 2]), 21, proto, 0.0)
    f.app, f.encrypted = app, False
    out: list[Event] = []
    c = Credentials()
    dispatcher = Dispatcher(Analyzer[None](), [c], out.append)  # the flow is classified: no classifier runs
    f.active = [c]
    for d, data in steps:
        (dispatcher.stream if proto == TCP else dispatcher.datagram)(f, d, data, 0.0)
    assert all(SECRET not in repr(o.values()) for o in out), "a password reached an observation"
    return [{k: v for k, v in o.values().items() if v is not None} for o in out]


def b64(s: str) -> bytes:
    return base64.b64encode(s.encode())


def test_ftp_user_pass() -> None:
    (f,) = run("ftp", [(0, b"USER pos"), (0, b"01\r\nPASS " + SECRET.encode() + b"\r\n")])
    assert f["user"] == "pos01" and f["password_length"] == len(SECRET) and f["default_password"] is False


def test_pop3_apop_is_a_digest() -> None:
    (f,) = run("pop3", [(0, b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n")])
    assert f["secret"] == "digest" and "password_length" not in f


def test_imap_login_quoted_and_plain() -> None:
    (f,) = run("imap", [(0, b'a1 LOGIN "jo doe" "' + SECRET.encode() + b'"\r\n')])
    assert f["user"] == "jo doe" and f["password_length"] == len(SECRET)
    (g,) = run("imap", [(0, b"a2 AUTHENTICATE PLAIN\r\n"), (0, b64("\0bob\0admin") + b"\r\n")])
    assert g["user"] == "bob" and g["default_password"] is True


def test_smtp_auth_login_and_plain() -> None:
    (f,) = run("smtp", [(0, b"AUTH LOGIN\r\n"), (0, b64("clerk") + b"\r\n"), (0, b64(SECRET) + b"\r\n")])
    assert f["user"] == "clerk" and f["password_length"] == len(SECRET)
    (g,) = run("smtp", [(0, b"AUTH PLAIN " + b64("\0clerk\0" + SECRET) + b"\r\n")])
    assert g["method"] == "AUTH PLAIN"


def test_http_basic_split_across_segments() -> None:
    req = b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + b64("admin:" + SECRET) + b"\r\n\r\n"
    (f,) = run("http", [(0, req[:40]), (0, req[40:])])
    assert f["user"] == "admin" and f["password_length"] == len(SECRET)


def test_telnet_prompts_and_keystrokes() -> None:
    steps = [(1, b"\xff\xfd\x01login: ")] + [(0, bytes([c])) for c in b"root\r"]
    steps += [(1, b"\r\nPassword: ")] + [(0, bytes([c])) for c in b"toor\r"]
    (f,) = run("telnet", steps)
    assert f["user"] == "root" and f["password_length"] == 4 and f["default_password"] is True


def test_snmp_community_once_per_flow() -> None:
    get = bytes.fromhex("301902010104067075626c6963a00c020101020100020100300030")
    out = run("snmp", [(0, get), (0, get)], proto=UDP)
    assert len(out) == 1 and out[0]["default_password"] and out[0]["version"] == "v2c" and out[0]["pdu"] == "get"
    assert snmp_community(get) == ("v2c", b"public", "get")


def test_user_names_are_escaped_and_limited() -> None:
    assert clean(b"\x1b[31mroot\n") == "\\x1b[31mroot\\x0a"
    assert len(clean("a" * 500) or "") == 64
    assert is_default(" Public ") and not is_default(SECRET)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=200)), max_size=6),
       st.sampled_from(["ftp", "pop3", "imap", "smtp", "http", "telnet", "mysql", "postgres", "tds"]))
def test_never_raises(steps: list[tuple[int, bytes]], app: str) -> None:
    run(app, steps)
    run("snmp", steps, proto=UDP)


def test_scenario_outputs_hold_no_password() -> None:
    """The FTP and Telnet scenarios typed real passwords: no output of a scan may contain them."""
    for name, pw in (("protect_ftp_vlan", "PASS admin"), ("protect_telnet_v6", "Sw1tch!2024"),
                     ("protect_telnet_v6", "Sw1tch")):
        cap = ROOT / "captures" / f"{name}.pcap"
        out = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(cap), "--json", "-", "--fail-on", "none"],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert out.returncode == 0
        text = out.stdout + out.stderr
        leaked = pw in text
        assert not leaked, f"password of {name} found in the output"  # the output itself is not printed
        assert any(json.loads(line)["category"] == "credentials" for line in out.stdout.splitlines() if line)
