"""Logins in HTTP bodies other than url-encoded forms (JSON, multipart, XML/SOAP WS-Security) are
logins in clear: each one of captures/login_body_secrets.pcap is reported once, with its user and
length, located at its bytes; the look-alikes of captures/login_body_lookalikes.pcap stay silent;
the evidence holds no password in any form it was sent in (reported or not: a response, a request
past the analyzer's budget), and a re-scan of it still finds the logins. Failure messages never
name a password."""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from pipeline_helpers import session_events
from scenario_modules import load_scenario

from netwatch.events import Credentials
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session
from netwatch.protocols.body_auth import MAX_DEPTH, body_kind, body_secrets
from netwatch.protocols.url_auth import MAX_SECRETS
from netwatch.redaction.body_creds import blank_body, gzip_of_length, redact_body_passwords
from netwatch.redaction.masking import Fingerprinter

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
SCENARIO = load_scenario(CAPTURES / "scenarios_body_logins.py")
JSON = b"application/json"


def credentials(name: str) -> list[Credentials]:
    session = Session(RuleSet.load([]), None, name, fingerprint=Fingerprinter(bytes(16)))
    return [ev for ev in session_events(session, CAPTURES / f"{name}.pcap") if isinstance(ev, Credentials)]


def test_every_body_password_is_reported_once() -> None:
    got = sorted(((ev.method, ev.user, ev.secret, ev.password_length) for ev in credentials("login_body_secrets")),
                 key=repr)
    assert got == sorted(SCENARIO.EXPECTED, key=repr)


def test_lookalikes_stay_silent() -> None:
    assert [(ev.method, ev.user) for ev in credentials("login_body_lookalikes")] == []


def _decode(raw: bytes, encoding: str) -> bytes:
    raw = re.sub(rb"\r\n[0-9a-fA-F]+\r\n", b"", raw)  # a value cut over chunks: the chunk line between
    if encoding.startswith("json"):
        return json.loads(b'"' + raw + b'"').encode()
    if encoding.startswith("xml"):
        return html.unescape(raw.decode()).encode()
    return raw


def test_each_secret_is_located_at_its_bytes() -> None:
    """The location names the value as sent (JSON escapes, XML entities; a gzip body whole)."""
    from test_evidence_located import located  # the flow's delivered bytes, before redaction

    passwords = {p.encode() for p in SCENARIO.PASSWORDS}
    spots = [(ev, raw) for ev, raw in located("login_body_secrets") if isinstance(ev, Credentials)]
    wrong = []
    for ev, raw in spots:
        assert ev.location is not None
        enc = ev.location.encoding
        ok = (any(p in gzip.decompress(raw) for p in passwords) if enc.endswith("+gzip")
              else _decode(raw, enc) in passwords)
        if not ok:
            wrong.append(f"{ev.method} of {ev.user} ({enc})")
    assert not wrong, f"located elsewhere than the password: {wrong}"
    assert len(spots) == len(SCENARIO.EXPECTED)
    assert {ev.location.encoding for ev, _ in spots if ev.location} == {
        "json", "json+gzip", "json+chunked", "multipart", "xml"}


def _wire_forms() -> dict[str, set[bytes]]:
    forms = {k: {v.encode(), v.encode("utf-16-le")} for k, v in SCENARIO.PASSWORD.items()}
    for k, v in SCENARIO.WIRE.items():
        forms[k].add(v.encode())
    return forms


def _scan(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(path), "--fail-on", "none", "-q", *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-300:]
    return run


def test_evidence_holds_no_password_and_still_shows_the_logins(tmp_path: Path) -> None:
    forms = _wire_forms()
    files = []
    for name in ("login_body_secrets", "login_body_lookalikes"):
        _scan(CAPTURES / f"{name}.pcap", "--evidence", str(tmp_path / name), "--jobs", "1")
        files += sorted((tmp_path / name).glob("*.pcap"))
    assert len(files) >= 13
    blobs = {f.name: f.read_bytes() for f in files}
    leaked = sorted({f"{n}: {k}" for n, b in blobs.items() for k, vs in forms.items() for v in vs if v in b})
    assert not leaked, leaked
    cut = SCENARIO.PASSWORD["json-chunked"].encode()
    halves = [cut[: cut.index(b"cut")], cut[cut.index(b"cut") :]]  # each side of the chunk line, alone
    assert not [n for n, b in blobs.items() if any(h in b for h in halves)], "part of a chunk-cut value left"
    # the values unreported by the analyzer were there to blank: the response and the late login's users stay
    lookalikes = b"".join(b for n, b in blobs.items() if "NW-CLEAR" in n)
    assert b'"ned"' in lookalikes and b'"oli"' in lookalikes
    logins = set()
    for f in files:
        if "NW-CRED-001" not in f.name:
            continue
        rescan = _scan(f, "--json", "-")
        logins |= {(r["evidence"]["method"], r["evidence"].get("user"))
                   for r in map(json.loads, rescan.stdout.splitlines()) if r.get("rule") == "NW-CRED-001"}
    expected = {(m, user) for m, user, _kind, _n in SCENARIO.EXPECTED}
    # every one seen again: the chunk-cut value (its chunk line kept), the escaped ones (as many
    # FILLER as bytes were sent), the gzip body (re-packed at its length, the password blanked inside)
    assert expected == logins
    inflated = b"".join(_gzip_members(b) for b in blobs.values())
    assert b'"finn"' in inflated and not [k for k, vs in forms.items() for v in vs if v in inflated]


def _gzip_members(blob: bytes) -> bytes:
    """What every gzip member in `blob` inflates to (as far as it goes)."""
    out = b""
    for m in re.finditer(rb"\x1f\x8b\x08", blob):
        d = zlib.decompressobj(31)
        with contextlib.suppress(zlib.error):
            out += d.decompress(blob[m.start() :])
    return out


@pytest.mark.parametrize(("ctype", "body", "found"), [
    (JSON, b'{"username":"bob","password":"Sup3r","remember":true}', [("json", b"bob", 5)]),
    (JSON, b'[{"auth":{"Login":"amy","new_password":"a b"}},{"pwd":"x"}]', [("json", b"amy", 3), ("json", None, 1)]),
    (JSON, b'{"user":"top","data":{"creds":[{"passphrase":"p q r"}]}}', [("json", b"top", 5)]),  # enclosing user
    (JSON, b'{"password":"pw1","email":"late@x"}', [("json", b"late@x", 3)]),  # user after the password
    (JSON, b'{"pa\\u0073sword":"a\\"\\u00e9"}', [("json", None, 4)]),  # escaped key; value decoded to measure
    (JSON, b'{"user.password":"abc","access_token":"t0k"}', [("json", None, 3), ("json", None, 3)]),
    (JSON, b'{"password_reset":true,"show_password":false,"password":"","pw":"  ","passwordPolicy":{"min":8}}', []),
    (JSON, b'{"properties":{"password":{"type":"string"}},"required":["password"]}', []),  # a schema
    (JSON, b'{"password":123456,"pin":"1234","field":"password"}', []),  # a number; pin is no url_auth name
    (JSON, b'{"password":"cut-off', []),  # unterminated: the body was cut
    (JSON, b'[{"name":"username","value":"kai"},{"value":"p w","name":"password"}]', [("json", b"kai", 3)]),
    (JSON, b'{"f":[{"name":"password","type":"password"},{"name":"pw_reset","value":"1"},{"key":"pwd","value":""}]}',
     []),  # a form's description, a flag, an empty value
    (None, b' {"passwd":"sniffed"}', [("json", None, 7)]),  # no type: the body says JSON
    (b"text/plain", b"password=x", []),
    (b"application/x-www-form-urlencoded", b"password=x", []),  # url_auth's, not this module's
    (b"text/xml", b'<a><wsse:Username>u</wsse:Username><wsse:Password>p&amp;w</wsse:Password></a>',
     [("xml", b"u", 3)]),
    (b"text/xml", b'<UsernameToken><Password Type="x#PasswordDigest">abc=</Password></UsernameToken>', []),
    (b"text/xml", b'<L UserId="z" pwd="a&lt;b"/><Password/><Password> </Password><Password><v>x</v></Password>',
     [("xml", b"z", 3)]),
    (b"application/soap+xml", b"<Password><![CDATA[a&b]]></Password>", [("xml", None, 3)]),
    (b"multipart/form-data; boundary=B", b'--B\r\nContent-Disposition: form-data; name="email"\r\n\r\nm@x\r\n'
     b'--B\r\nContent-Disposition: form-data; name="password"\r\n\r\nmp w\r\n--B--\r\n', [("multipart", b"m@x", 4)]),
    (b"multipart/form-data", b'--B\nContent-Disposition: form-data; name=pass\n\nabc\n--B--',
     [("multipart", None, 3)]),  # boundary from the body's first line, bare newlines
    (b"multipart/form-data; boundary=B", b'--B\r\nContent-Disposition: form-data; name="password"; '
     b'filename="p.txt"\r\n\r\nfile\r\n--B--\r\n', []),
])
def test_body_grammar(ctype: bytes | None, body: bytes, found: list[tuple[str, bytes | None, int]]) -> None:
    secrets = body_secrets(ctype, body)
    assert [(s.where if s.where != "ws-security" else "xml", s.user, len(s.secret)) for s in secrets] == found


def test_kinds() -> None:
    assert body_kind(b"application/vnd.api+json; charset=utf-8", b"") == "json"
    assert body_kind(b"application/soap+xml", b"") == "xml"
    assert body_kind(b"text/html", b"{}") is None
    assert body_kind(b"application/octet-stream", b"\n<x/>") == "xml"


def test_hostile_input_is_bounded() -> None:
    """Deep nesting, unterminated strings, many quotes or fields: one pass, no exception, at most
    MAX_SECRETS; redaction likewise (well under a second each on a megabyte)."""
    bodies = [b"[" * 100_000 + b'{"password":"x"}', b'"\\"' * 300_000, b'{"pw":"a",' * 100_000,
              b'{"password":"' + b"\\u00" * 200_000, b"<Password>" * 100_000, b"<a " + b'pw="x" ' * 100_000,
              b'{"name":"pw","value":"' * 100_000, b'[{"name":"password","value":"x"}' * 50_000]
    for body in bodies:
        t = time.perf_counter()
        for ctype in (JSON, b"text/xml", b"multipart/form-data; boundary=x"):
            assert len(body_secrets(ctype, body)) <= MAX_SECRETS
        buf = bytearray(body)
        redact_body_passwords(buf)
        assert len(buf) == len(body)
        assert time.perf_counter() - t < 5, body[:20]
    assert body_secrets(JSON, b"[" * (MAX_DEPTH + 1) + b'{"password":"x"}') == []


@pytest.mark.parametrize(("raw", "kept"), [
    # an escape stays an escape of the same length (as sent and decoded): a re-scan measures the same password
    (b'{"user":"u","password":"s3cr\\u0065t\\"","n":1}', b'{"user":"u","password":"****\\u002a*\\/","n":1}'),
    (b'{"pin": 1234, "pass\\u0077ord" : "x"}', b'{"pin": ****, "pass\\u0077ord" : "*"}'),
    (b'{"password":"cut\r\n5\r\n-off"}', b'{"password":"***\r\n5\r\n-off"}'),  # chunk line kept
    (b'name="password"\r\n\r\npw1\r\n', b'name="password"\r\n\r\npw1\r\n'),  # not a part head
    (b'[{"name": "user", "value": "u"}, {"value": "x1", "key": "Pwd"}, {"name": "pass", "value": "y"}]',
     b'[{"name": "user", "value": "u"}, {"value": "**", "key": "Pwd"}, {"name": "pass", "value": "*"}]'),
    (b'\r\nContent-Disposition: form-data; name="pwd"\r\n\r\npw1\r\n--b',
     b'\r\nContent-Disposition: form-data; name="pwd"\r\n\r\n***\r\n--b'),
    (b'<x:Password Type="#PasswordText">p&amp;w</x:Password><Login pwd=\'q\' user="u"/>',
     b'<x:Password Type="#PasswordText">*&#42;*</x:Password><Login pwd=\'*\' user="u"/>'),
    (b"<Password>\r\n  a\r\n</Password><Password><![CDATA[b]]></Password>",
     b"<Password>\r\n***\r\n</Password><Password><![CDATA[*]]></Password>"),
])
def test_evidence_blanks_body_fields(raw: bytes, kept: bytes) -> None:
    buf = bytearray(raw)
    redact_body_passwords(buf)
    assert bytes(buf) == kept


def test_gzip_body_repacked_at_its_length() -> None:
    """A gzip-coded login's evidence: the same length, inflating to the text with the password blanked
    (both the JSON and the url-encoded form); text that cannot fit: None (the body goes whole)."""
    for user, pw, text in ((b"finn", b"Gzip6-json-pw", b'{"user":"finn","password":"Gzip6-json-pw"}'),
                           (b"gus", b"Gzip7-coded-pw", b"usr=gus&passwd=Gzip7-coded-pw&x=1")):
        packed = gzip.compress(text, mtime=0)
        blanked = blank_body(text)
        assert len(blanked) == len(text) and user in blanked and pw not in blanked
        for n in (len(packed), len(packed) + 1, len(packed) + 40):  # no slack, the NUL alone, a comment
            again = gzip_of_length(blanked, n)
            assert again is not None and len(again) == n and gzip.decompress(again) == blanked
    assert gzip_of_length(bytes(range(256)) * 4, 64) is None


def test_coded_form_password_keeps_its_escapes() -> None:
    """A form password inside a content-coded body is blanked escape by escape, as on the plain
    stream (`%40` -> `%2A`): decoded, the blanked value is as long as the password, so a re-scan of
    the evidence reports the same length."""
    from urllib.parse import parse_qs

    text = b"usr=gus&passwd=Gz%40p%21-7&x=1"
    blanked = blank_body(text)
    assert blanked == b"usr=gus&passwd=**%2A*%2A**&x=1"
    assert len(parse_qs(blanked.decode())["passwd"][0]) == len(parse_qs(text.decode())["passwd"][0])


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_coded_request_and_response_bodies_lose_their_passwords(coding: str) -> None:
    """Through the flow redaction: a coded JSON login and a coded response naming a password (neither
    located: past the budget, or not a login) come out the same length, decodable, password-free;
    gzip keeps the text around the blanked value, the others become filler where they are compressed."""
    import brotli

    from netwatch.protocols.http import decode_content
    from netwatch.redaction.streams import redact_streams

    pack = {"gzip": lambda b: gzip.compress(b, mtime=0), "deflate": zlib.compress, "br": brotli.compress}[coding]
    texts = [b'{"username":"oli","password":"Coded-login-pw"}', b'{"db":{"user":"sa","pwd":"Coded-reply-pw"}}']
    bodies = [pack(t) for t in texts]
    heads = [b"POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n",
             b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"]
    streams = [bytearray(h + b"Content-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (coding.encode(), len(b)) + b)
               for h, b in zip(heads, bodies, strict=True)]
    sizes = [len(s) for s in streams]
    redact_streams("http", streams, [(0, 0, len(streams[0])), (1, 0, len(streams[1]))], [])
    assert [len(s) for s in streams] == sizes
    for buf, body in zip(streams, bodies, strict=True):
        got = decode_content(bytes(buf[len(buf) - len(body) :]), coding.encode())
        assert got is not None and b"Coded-" not in got[0]
        assert b'"user' in got[0] or coding != "gzip"  # (a tiny br body may be stored: blanked in place)
