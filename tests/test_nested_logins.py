"""Logins one level down in HTTP bodies are logins in clear: an inline GraphQL argument (in a JSON
`query` string, a block string, an input object, an `application/graphql` body, a form field) and
JSON serialized into a JSON string or a form field. Each one of captures/login_nested_secrets.pcap
is reported once with its user and decoded length and located at its encoded bytes; the look-alikes
of captures/login_nested_lookalikes.pcap stay silent; evidence blanks each value escape by escape,
so it holds no password in any form it was sent in and a re-scan reports the same logins with the
same lengths. Failure messages never name a password."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_to_bytes

import pytest
from scenario_modules import load_scenario

from netwatch.events import Credentials
from netwatch.protocols.body_auth import MAX_NESTED_BYTES, body_kind, body_secrets
from netwatch.protocols.escaped_text import json_unescaped, percent_unescaped
from netwatch.protocols.form_documents import form_secrets, target_documents
from netwatch.protocols.graphql_auth import graphql_secrets
from netwatch.protocols.url_auth import MAX_SECRETS
from netwatch.redaction.body_creds import blank_body, redact_body_passwords

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
SCENARIO = load_scenario(CAPTURES / "scenarios_nested_logins.py")
JSON = b"application/json"
GRAPHQL = b"application/graphql"


def _credentials(name: str) -> list[Credentials]:
    from test_body_logins import credentials

    return credentials(name)


def test_every_nested_password_is_reported_once() -> None:
    got = sorted(((ev.method, ev.user, ev.secret, ev.password_length) for ev in _credentials("login_nested_secrets")),
                 key=repr)
    assert got == sorted(SCENARIO.EXPECTED, key=repr)


def test_lookalikes_stay_silent() -> None:
    assert [(ev.method, ev.user) for ev in _credentials("login_nested_lookalikes")] == []


def _json_string(raw: bytes) -> bytes:
    return json.loads(b'"' + raw + b'"').encode("utf-8")


def _decode(raw: bytes, encoding: str) -> bytes:
    """A located value as its layers decode it, outer to inner (`url+json`: percent, then a JSON string)."""
    raw = re.sub(rb"\r\n[0-9a-fA-F]+\r\n", b"", raw)  # a value cut over chunks: the chunk line between
    for layer in encoding.removesuffix("+chunked").split("+"):
        raw = unquote_to_bytes(raw.replace(b"+", b" ")) if layer == "url" else _json_string(raw)
    return raw


def test_each_secret_is_located_at_its_encoded_bytes() -> None:
    """The location names the value as sent, every layer's escapes included (a gzip body: whole)."""
    from test_evidence_located import located

    passwords = {p.encode() for p in SCENARIO.PASSWORDS}
    spots = [(ev, raw) for ev, raw in located("login_nested_secrets") if isinstance(ev, Credentials)]
    wrong = []
    for ev, raw in spots:
        assert ev.location is not None
        enc = ev.location.encoding
        block = enc == "json+graphql" and ev.user == "till9"  # a block string: no escapes to undo inside
        ok = (any(p in gzip.decompress(raw) for p in passwords) if enc.endswith("+gzip")
              else (_json_string(raw) if block else _decode(raw, enc)) in passwords)
        if not ok:
            wrong.append(f"{ev.method} of {ev.user} ({enc})")
    assert not wrong, f"located elsewhere than the password: {wrong}"
    assert len(spots) == len(SCENARIO.EXPECTED)
    assert {ev.location.encoding for ev, _ in spots if ev.location} == {
        "json", "json+graphql", "graphql", "json+graphql+gzip", "json+graphql+chunked", "json+json",
        "json+json+json", "url+json", "url+graphql"}


def _scan(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(path), "--fail-on", "none", "-q", *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-300:]
    return run


def test_evidence_holds_no_password_and_a_rescan_sees_the_same_logins(tmp_path: Path) -> None:
    forms = {k: {v.encode(), v.encode("utf-16-le"), quote_plus(v).encode()} for k, v in SCENARIO.PASSWORD.items()}
    for k, v in SCENARIO.WIRE.items():
        forms[k].add(v.encode())
    cut = SCENARIO.PASSWORD["graphql-chunked"].encode()
    forms["chunk-halves"] = {cut[: cut.index(b"cut")], cut[cut.index(b"cut") :]}
    files = []
    for name in ("login_nested_secrets", "login_nested_lookalikes"):
        _scan(CAPTURES / f"{name}.pcap", "--evidence", str(tmp_path / name), "--jobs", "1")
        files += sorted((tmp_path / name).glob("*.pcap"))
    blobs = {f.name: f.read_bytes() for f in files}
    inflated = b"".join(gzip.decompress(m.group()) for b in blobs.values()
                        for m in re.finditer(rb"\x1f\x8b\x08.*?\x00\x00\x00(?=HTTP|$)", b, re.S)
                        if _inflates(m.group()))
    leaked = sorted({f"{n}: {k}" for n, b in [*blobs.items(), ("gzip body", inflated)]
                     for k, vs in forms.items() for v in vs if v in b})
    assert not leaked, leaked
    logins = set()
    for f in files:
        if "NW-CRED-001" in f.name:
            rescan = _scan(f, "--json", "-")
            logins |= {(r["evidence"]["method"], r["evidence"].get("user"), r["evidence"]["password_length"])
                       for r in map(json.loads, rescan.stdout.splitlines()) if r.get("rule") == "NW-CRED-001"}
    assert logins == {(m, user, n) for m, user, _kind, n in SCENARIO.EXPECTED}


def _inflates(blob: bytes) -> bool:
    try:
        gzip.decompress(blob)
    except (OSError, EOFError):
        return False
    return True


@pytest.mark.parametrize(("ctype", "body", "found"), [
    # GraphQL in a JSON query string: the user beside it, else in an enclosing argument list or object
    (JSON, json.dumps({"query": 'mutation { login(username: "till7", password: "S3cret-pw") { token } }'}),
     [("json+graphql", b"till7", 9)]),
    (JSON, json.dumps({"query": 'mutation { a: login(input: {user: "u", creds: {newPassword: "p q"}}) { t } }'}),
     [("json+graphql", b"u", 3)]),
    (JSON, json.dumps({"query": 'mutation { login(email: "e@x", password: """ blk\\""" """) { t } }'}),
     [("json+graphql", b"e@x", 8)]),  # a block string: value ` blk""" ` (its escaped quotes decoded)
    (JSON, json.dumps({"query": '{ login(pwd: "a\\"\\u00e9") { t } }'}), [("json+graphql", None, 4)]),  # shorthand
    (JSON, json.dumps([{"query": 'mutation { login(access_token: "t0k") { t } }'}]), [("json+graphql", None, 3)]),
    (None, json.dumps({"type": "start", "id": "1", "payload": {"query": 'mutation{login(user:"ws",password:"wpw")'
                                                                        "{token}}"}}),
     [("json+graphql", b"ws", 3)]),  # graphql-ws over a WebSocket: the message's payload, no spaces
    (GRAPHQL, 'mutation {\n  login(operator: "mgr", password: "x\\"y") { token }\n}', [("graphql", b"mgr", 3)]),
    (b"text/plain", 'mutation { login(user: "sniffed", pass: "abc") { ok } }', [("graphql", b"sniffed", 3)]),
    (None, '{ login(user: "short", pass: "abc") { ok } }', [("graphql", b"short", 3)]),
    # variables are plain JSON, found as ever, the document's `$password` is no value
    (JSON, json.dumps({"query": "mutation($password: String!) { login(password: $password) { t } }",
                       "variables": {"username": "v", "password": "var-pw"}}), [("json", b"v", 6)]),
    # look-alikes
    (JSON, json.dumps({"query": 'mutation { resetPassword(email: "kim@x") { ok } }'}), []),
    (JSON, json.dumps({"query": "mutation($pw: String! = \"dflt\") { login(password: $pw, user: $u) { t } }"}), []),
    (JSON, json.dumps({"query": 'query { __type(name: "LoginInput") { fields { name } } }'}), []),
    (JSON, json.dumps({"query": 'mutation { login(username: "lou", password: "") { t } }'}), []),
    (JSON, json.dumps({"query": 'mutation { login(password: "   ") { t } }'}), []),
    (GRAPHQL, 'type Mutation { login(username: String!, password: String!): Session }\n'
              'input L { "the password" password: String = "x" }', []),
    (JSON, json.dumps({"query": '# login(password: "in a comment")\nquery { me { passwordChangedAt } }'}), []),
    (JSON, json.dumps({"query": 'mutation { login(password: "cut-off'}), []),  # unterminated literal
])
def test_graphql_arguments(ctype: bytes | None, body: str, found: list[tuple[str, bytes | None, int]]) -> None:
    secrets = body_secrets(ctype, body.encode())
    assert [(s.where, s.user, len(s.secret)) for s in secrets] == found


@pytest.mark.parametrize(("body", "found"), [
    (json.dumps({"payload": json.dumps({"user": "u1", "password": "Pw-1"})}), [("json+json", b"u1", 4)]),
    (json.dumps({"user": "outer", "payload": json.dumps({"password": "Pw-2"})}), [("json+json", b"outer", 4)]),
    (json.dumps({"p": json.dumps({"d": json.dumps({"login": "deep", "pwd": "é\"/"})})}),
     [("json+json+json", b"deep", 4)]),
    (json.dumps([json.dumps({"login": "arr", "pass": "in-array"})]), [("json+json", b"arr", 8)]),
    (json.dumps({"q": json.dumps({"query": 'mutation { login(user: "g", pw: "x") { t } }'})}),
     [("json+json+graphql", b"g", 1)]),
    # look-alikes: a flag, prose quoting the word, a password-named string (a value, never a document)
    (json.dumps({"payload": json.dumps({"user": "max", "password_reset": True})}), []),
    (json.dumps({"note": 'he typed "password: \\"123\\"" by mistake'}), []),
    (json.dumps({"password": json.dumps({"a": "b"})}), [("json", None, 10)]),
    # three levels down: not read (MAX_NESTING)
    (json.dumps({"a": json.dumps({"b": json.dumps({"c": json.dumps({"password": "x"})})})}), []),
])
def test_json_in_a_json_string(body: str, found: list[tuple[str, bytes | None, int]]) -> None:
    assert [(s.where, s.user, len(s.secret)) for s in body_secrets(JSON, body.encode())] == found


def test_documents_in_form_fields() -> None:
    body = b"x=1&data=" + quote_plus(json.dumps({"email": "f@x", "password": "Form json+pw"})).encode() + b"&y=2"
    assert [(s.where, s.user, len(s.secret), body[s.offset : s.offset + s.length])
            for s in form_secrets(body)] == [("form+json", b"f@x", 12, b"Form+json%2Bpw")]
    gql = b"query=" + quote_plus('mutation { login(user: "q", pwd: "Qp\\"w") { t } }').encode()
    assert [(s.where, s.user, len(s.secret)) for s in form_secrets(gql)] == [("form+graphql", b"q", 4)]
    target = b"/graphql?op=L&query=" + quote('query { login(user: "g1", password: "Get-pw") { t } }').encode() + b"#f"
    assert [(s.where, s.user, len(s.secret), target[s.offset : s.offset + s.length])
            for s in target_documents(target)] == [("query+graphql", b"g1", 6, b"Get-pw")]
    plain = b"user=a&password=pw&data=" + quote_plus(json.dumps({"passwordPolicy": {"min": 8}})).encode()
    assert [(s.where, s.user, len(s.secret)) for s in form_secrets(plain)] == [("form", b"a", 2)]


def test_h2c_graphql_get_blanked_in_its_header_block() -> None:
    """GraphQL over GET on h2c: the :path's password (HPACK, Huffman-coded) blanked from there on."""
    import hpack
    from hpack.table import HeaderTable

    from netwatch.redaction.hpack_secrets import blank_secrets

    path = "/graphql?query=" + quote('{ login(user: "h2", password: "H2c-get-pw") { t } }') + "&op=L"
    raw = hpack.Encoder().encode([(":method", "GET"), (":path", path)], huffman=True)
    block = bytearray(raw)
    assert blank_secrets(block, HeaderTable()) and len(block) == len(raw)
    got = dict(hpack.Decoder().decode(bytes(block)))[":path"]
    assert "H2c-get-pw" not in got and got.startswith(path[: path.index("H2c")] + "*")  # (Huffman: as many bytes)


def test_documents_in_multipart_parts() -> None:
    """A GraphQL multipart request (file uploads): the operation's JSON in the `operations` part."""
    ops = json.dumps({"query": 'mutation($f: Upload!) { login(user: "up", password: "Mp-pw") { t } upload(f: $f) }',
                      "variables": {"f": None}}).encode()
    body = (b'--B\r\nContent-Disposition: form-data; name="operations"\r\n\r\n' + ops + b'\r\n--B\r\n'
            b'Content-Disposition: form-data; name="0"; filename="a.txt"\r\n\r\npassword: "file"\r\n--B--\r\n')
    got = body_secrets(b"multipart/form-data; boundary=B", body)
    assert [(s.where, s.user, len(s.secret), body[s.offset : s.offset + s.length]) for s in got] == [
        ("multipart+json+graphql", b"up", 5, b"Mp-pw")]


def test_kinds() -> None:
    assert body_kind(b"application/graphql; charset=utf-8", b"") == "graphql"
    assert body_kind(None, b"  query Q { me { id } }") == "graphql"
    assert body_kind(None, b'{"query": "{ me }"}') == "json"
    assert body_kind(b"text/plain", b"{ me { id } }") == "graphql"
    assert body_kind(b"text/plain", b"password: not a document") is None


def test_escaped_text_maps_back_to_the_encoded_bytes() -> None:
    raw = rb'a\"b\u00e9\ud83d\ude00c\\'
    text = json_unescaped(raw)
    assert text.text == 'a"b\u00e9\U0001F600c\\'.encode()
    assert text.raw_span(0, len(text.text)) == (0, len(raw))
    assert raw[slice(*text.raw_span(1, 3))] == rb'\"b'
    assert raw[slice(*text.raw_span(4, 5))] == rb"\u00e9"  # half a character: its whole escape
    form = percent_unescaped(b"a+%7Bb%22")
    assert form.text == b'a {b"' and form.raw_span(2, 4) == (2, 6)


@pytest.mark.parametrize(("raw", "kept"), [
    # GraphQL in a JSON string: the literal blanked inside its escaped quotes, its escapes kept escapes
    # (the GraphQL escape \" sent as \\\" becomes \\\/: a GraphQL \/, one character, as JSON escapes)
    (json.dumps({"query": 'mutation { login(username: "till7", password: "S3\\"cr/t") { token } }'}).encode(),
     b'{"query": "mutation { login(username: \\"till7\\", password: \\"**\\\\\\/****\\") { token } }"}'),
    (b'mutation { login(user: "u", password: """a\\"""b\r\nc""") }',
     b'mutation { login(user: "u", password: """*\\"""*\r\n*""") }'),
    (b'mutation { login(user: "u", pwd: "x\\u00e9") }', b'mutation { login(user: "u", pwd: "*\\u00b7") }'),
    # JSON in a JSON string: each level's escapes kept (an escaped quote \\\" -> \\/, a \\u escape -> \\u002a)
    (json.dumps({"payload": json.dumps({"user": "u1", "password": 'a"\u00e9/'})}).encode(),
     b'{"payload": "{\\"user\\": \\"u1\\", \\"password\\": \\"*\\\\\\/\\\\u00b7*\\"}"}'),
    (b"data=%7B%22password%22%3A%22a%2Bb+c%22%7D&pw=z", b"data=%7B%22password%22%3A%22*%2A***%22%7D&pw=z"),
    # a top-level JSON value's \u escapes: a filler of each character's UTF-8 length (*, ·, •; a pair: • *)
    (b'{"password":"a\\u00e9\\u20ac\\ud83d\\ude00"}', b'{"password":"*\\u00b7\\u2022\\u2022\\u002a"}'),
    # prose quoting an argument is blanked too (evidence is conservative; detection reports no login),
    # a field merely named like a password stays
    (json.dumps({"note": 'he typed "password: \\"123\\""', "q": "{ me { passwordChangedAt } }"}).encode(),
     json.dumps({"note": 'he typed "password: \\"***\\""', "q": "{ me { passwordChangedAt } }"}).encode()),
])
def test_evidence_blanks_nested_values(raw: bytes, kept: bytes) -> None:
    buf = bytearray(raw)
    redact_body_passwords(buf)
    assert bytes(buf) == kept


@pytest.mark.parametrize("body", [
    json.dumps({"query": 'mutation { login(username: "t", password: "p\\"\u00e9\U0001F600/") { t } }'}),
    json.dumps({"payload": json.dumps({"user": "u", "password": 'a"\\\u00e9\u20ac/x'})}),
    json.dumps({"a": json.dumps({"b": json.dumps({"operator": "o", "pwd": 'q"\u00e9'})})}),
    json.dumps({"query": 'mutation { login(username: "t", password: """bl\\"""ock""") { t } }'}),
])
def test_blanked_evidence_reads_as_the_same_login(body: str) -> None:
    """A re-scan of the blanked body: the same login, user and decoded length, no byte of the value."""
    before = body_secrets(JSON, body.encode())
    after = body_secrets(JSON, blank_body(body.encode()))
    assert [(s.where, s.user, len(s.secret)) for s in after] == [(s.where, s.user, len(s.secret)) for s in before]
    assert before and all(set(a.secret) <= set("*·•/\"".encode()) for a in after)


def test_hostile_nested_input_is_bounded() -> None:
    """Strings full of escaped quotes and password words, unterminated block strings, deep documents:
    bounded work (MAX_NESTED_BYTES decoded), no exception, at most MAX_SECRETS; redaction likewise."""
    bodies = [json.dumps({f"k{i}": '{"pw": "x", "a": "' + "\\\"" * 50 + '"}' for i in range(20_000)}).encode(),
              json.dumps({"query": "mutation { login(password: " + '"""' * 100_000 + ") }"}).encode(),
              b'mutation { login(password: """' + b"x" * 1_000_000,
              json.dumps({"q": "{ " + "f(a: {" * 50_000 + 'password: "x"' + "})" * 50_000 + " }"}).encode(),
              b"data=" + quote_plus(json.dumps([{"password": "x"}] * 50_000)).encode()]
    for body in bodies:
        t = time.perf_counter()
        for ctype in (JSON, GRAPHQL):
            assert len(body_secrets(ctype, body)) <= MAX_SECRETS
        assert len(form_secrets(body)) <= MAX_SECRETS
        buf = bytearray(body)
        redact_body_passwords(buf)
        assert len(buf) == len(body)
        assert time.perf_counter() - t < 5, body[:20]
    many = json.dumps([json.dumps({"password": "x" * 900, "pad": "y" * 3000})] * 200).encode()
    assert len(body_secrets(JSON, many)) == MAX_SECRETS  # the first strings, until the budget or the cap
    assert len(many) > MAX_NESTED_BYTES
    assert graphql_secrets(b"{" * 200 + b'f(password: "x")') == []  # past the depth cap
