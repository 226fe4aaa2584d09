"""Passwords in URLs and form posts (CWE-598) are logins in clear: each one of
captures/login_url_secrets.pcap is reported once, with its user and length, located at its bytes;
the look-alikes of captures/login_url_lookalikes.pcap stay silent; the evidence holds no password
in any form it was sent in, and a re-scan of it still finds the logins. Failure messages never
name a password."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_to_bytes

import pytest
from pipeline_helpers import session_events
from scenario_modules import load_scenario

from netwatch.events import Credentials
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session
from netwatch.protocols.url_auth import field_secrets, is_form, target_secrets
from netwatch.redaction.masking import Fingerprinter

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"


SCENARIO = load_scenario(CAPTURES / "scenarios_url_logins.py")


def credentials(name: str) -> list[Credentials]:
    """The `credentials` events of a capture, straight from the pipeline."""
    session = Session(RuleSet.load([]), None, name, fingerprint=Fingerprinter(bytes(16)))
    return [ev for ev in session_events(session, CAPTURES / f"{name}.pcap") if isinstance(ev, Credentials)]


def test_every_url_and_form_password_is_reported_once() -> None:
    got = sorted(((ev.method, ev.user, ev.secret, ev.password_length) for ev in credentials("login_url_secrets")),
                 key=repr)
    assert got == sorted(SCENARIO.EXPECTED, key=repr)


def test_lookalikes_stay_silent() -> None:
    got = [(ev.method, ev.user) for ev in credentials("login_url_lookalikes")]
    assert got == []


def test_each_secret_is_located_at_its_bytes() -> None:
    """The location names the value as sent (percent-encoded, '+' for space; a gzip body whole)."""
    from test_evidence_located import located  # the flow's delivered bytes, before redaction

    passwords = {p.encode() for p in SCENARIO.PASSWORDS}
    spots = [(ev, raw) for ev, raw in located("login_url_secrets") if isinstance(ev, Credentials)]
    wrong = []
    for ev, raw in spots:
        assert ev.location is not None
        if ev.location.encoding == "url+gzip":
            ok = any(p in gzip.decompress(raw) for p in passwords)
        else:
            plus = ev.method != "URL userinfo" and not ev.method.startswith("URL userinfo ")
            raw = re.sub(rb"\r\n[0-9a-fA-F]+\r\n", b"", raw)  # a value cut over chunks: the chunk line between
            ok = unquote_to_bytes(raw.replace(b"+", b" ") if plus else raw) in passwords
        if not ok:
            wrong.append(f"{ev.method} of {ev.user}")
    assert not wrong, f"located elsewhere than the password: {wrong}"
    assert len(spots) == len(SCENARIO.EXPECTED) - 1  # all but the h2c :path query (HPACK-coded)


def _wire_forms(pw: str) -> set[bytes]:
    return {f.encode() for f in (pw, quote(pw, safe=""), quote_plus(pw, safe=""), quote(pw, safe="-"),
                                 pw.replace(" ", "+"), pw.replace("!", "%21"))}


def test_evidence_holds_no_password_and_still_shows_the_logins(tmp_path: Path) -> None:
    out, js = tmp_path / "ev", tmp_path / "f.jsonl"
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(CAPTURES / "login_url_secrets.pcap"),
                          "--evidence", str(out), "--json", str(js), "--fail-on", "none", "-q", "--jobs", "1"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-300:]
    files = sorted(out.glob("*NW-CRED-001*.pcap"))
    assert len(files) >= 10
    forms = {k: _wire_forms(v) for k, v in SCENARIO.PASSWORD.items()}
    forms["query-mixed"].add(b"Qu%65ry+Pw3+x")
    forms["form-plain"].add(b"Form5%2Bpw%26more")
    leaked = sorted({f"{f.name}: {k}" for f in files for k, vs in forms.items() for v in vs if v in f.read_bytes()})
    assert not leaked, leaked
    cut = SCENARIO.PASSWORD["form-chunked"].encode()
    halves = [cut[: cut.index(b"cut")], cut[cut.index(b"cut") :]]  # each side of the chunk line, alone
    assert not [f.name for f in files if any(h in f.read_bytes() for h in halves)], "part of a chunk-cut value left"
    logins = set()
    for f in files:  # the re-scan still sees each login (method, user): the value is filler, not gone
        rescan = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(f), "--json", "-", "--fail-on",
                                 "none", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert rescan.returncode == 0, rescan.stderr[-300:]
        logins |= {(r["evidence"]["method"], r["evidence"].get("user"))
                   for r in map(json.loads, rescan.stdout.splitlines()) if r.get("rule") == "NW-CRED-001"}
    expected = {(m, user) for m, user, _kind, _n in SCENARIO.EXPECTED}
    # every one seen again: the value cut over two chunks (its chunk line kept), the gzip body
    # (re-packed at its length with the password blanked inside, redaction/body_creds.gzip_of_length)
    assert expected - logins == set()


@pytest.mark.parametrize(("target", "found"), [
    (b"/login?user=a&password=x", [("query", b"a", 1)]),
    (b"/login?USER%5Bpassword%5D=ab&login=z", [("query", b"z", 2)]),  # nested, percent-encoded name
    (b"/s?user.password=abc", [("query", None, 3)]),  # Spring-style binding
    (b"/s?newPassword=a+b&oldPwd=c%20d", [("query", None, 3), ("query", None, 3)]),
    (b"/s?pw=1;pass=22", [("query", None, 1), ("query", None, 2)]),  # ';' separates too
    (b"/s?access_token=abc", [("query", None, 3)]),
    (b"http://u%40x:p%3Aw@host/", [("userinfo", b"u@x", 3)]),
    (b"http://u:pw@host?x=1", [("userinfo", b"u", 2)]),  # a query right after the authority
    (b"http://host\\@evil:p@x/", []),  # '\\' ends the authority (WHATWG): no userinfo before it
    (b"http://host/?next=http://u:p@x/", []),  # a URL inside a query value: not a field we know
    (b"/s?password_reset=1&show_password=1&passwords=3&token=t&code=c&state=s", []),
    (b"/s?password=&pw=%20", []),  # empty, or only spaces
    (b"/pw=abc/password=x", []),
    (b"/a#?password=x", []),
    (b"http://user@host/", []),
    (b"http://user:@host/", []),
])
def test_target_grammar(target: bytes, found: list[tuple[str, bytes | None, int]]) -> None:
    got = [(s.where, s.user, len(s.secret)) for s in target_secrets(target)]
    assert got == found
    for s in target_secrets(target):  # the offsets name the encoded value
        raw = target[s.offset : s.offset + s.length]
        assert len(unquote_to_bytes(raw.replace(b"+", b" ") if s.where != "userinfo" else raw)) == len(s.secret)


def test_form_fields_and_type() -> None:
    body = b"email=a%40b.example&pass=p+w%21&pass=second&remember=on"
    got = [(s.user, len(s.secret), body[s.offset : s.offset + s.length]) for s in field_secrets(body, 0, "form")]
    assert got == [(b"a@b.example", 4, b"p+w%21"), (b"a@b.example", 6, b"second")]
    till = b"terminal=T7&cashier_id=0042&cashier_pin=&pwd=Till-9"  # a POS back office's sign-on form
    assert [(s.user, len(s.secret)) for s in field_secrets(till, 0, "form")] == [(b"0042", 6)]
    assert is_form(b"Application/X-WWW-Form-Urlencoded; charset=UTF-8")
    assert not is_form(b"multipart/form-data; boundary=x") and not is_form(None)


def test_hostile_input_is_bounded() -> None:
    """Bad escapes, non-UTF-8 bytes and huge queries: no exception, at most MAX_SECRETS each, values
    over MAX_VALUE skipped (a blob, not a password)."""
    from netwatch.protocols.url_auth import MAX_SECRETS, MAX_VALUE

    assert [len(s.secret) for s in target_secrets(b"/l?pw=%zz%&user=\xff\xfe")] == [4]
    many = b"/l?" + b"&".join(b"pw=%d" % i for i in range(10_000))
    assert len(target_secrets(many)) == MAX_SECRETS
    assert target_secrets(b"/l?password=" + b"a" * (MAX_VALUE + 1)) == []
    assert target_secrets(b"http://" + b"@" * 5000 + b"/?" + b"&" * 5000) == []
