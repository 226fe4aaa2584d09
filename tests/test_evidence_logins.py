"""Evidence of the logins `redaction.creds` does not read (LDAP binds, SOCKS5 username/password,
Sybase TDS 5.0 login records, bearer tokens in HTTP and SASL XOAUTH2/OAUTHBEARER): a TCP conversation
built here goes through `scan --evidence`; no evidence file holds the secret in any form the protocol
carries it, and a re-scan of the evidence reports the same logins (protocol, method, user, secret
length). Assertion messages name forms, never a secret.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
from pipeline_helpers import pcap_bytes, tcp_frame

from netwatch.cli import main
from netwatch.redaction.floor import find

CLIENT, SERVER = "10.20.1.15", "10.20.1.50"
Chunks = list[tuple[int, bytes]]


def conversation(sport: int, dport: int, chunks: Chunks) -> list[tuple[float, bytes]]:
    """Frames of one TCP connection: handshake, each chunk as a segment in turn, FIN both ways."""
    seq = [1000, 5000]
    ends = [(CLIENT, SERVER, sport, dport), (SERVER, CLIENT, dport, sport)]
    t = [1_700_000_000.0]

    def frame(d: int, flags: int, payload: bytes = b"") -> tuple[float, bytes]:
        t[0] += 0.01
        src, dst, sp, dp = ends[d]
        out = tcp_frame(src, dst, sp, dp, seq[d], flags, payload)
        seq[d] += len(payload) + (1 if flags & 0x03 else 0)
        return t[0], out

    frames = [frame(0, 0x02), frame(1, 0x12), frame(0, 0x10)]
    frames += [frame(d, 0x18, data) for d, data in chunks]
    return [*frames, frame(0, 0x11), frame(1, 0x11)]


def _ber(tag: int, body: bytes) -> bytes:
    n = len(body)
    return bytes([tag]) + (bytes([n]) if n < 0x80 else b"\x81" + bytes([n])) + body


def ber_long(tag: int, body: bytes) -> bytes:
    """A BER element with a 4-octet length, as Windows LDAP clients write every one."""
    return bytes([tag, 0x84]) + len(body).to_bytes(4, "big") + body


def ldap_bind(msgid: int, dn: bytes, auth: bytes) -> bytes:
    return _ber(0x30, b"\x02\x01" + bytes([msgid]) + _ber(0x60, b"\x02\x01\x03" + _ber(0x04, dn) + auth))


BIND_OK = _ber(0x30, b"\x02\x01\x01" + _ber(0x61, b"\x0a\x01\x00\x04\x00\x04\x00"))


def tds5_login(user: bytes, pw: bytes, remote: bytes) -> bytes:
    def field(v: bytes, n: int = 30) -> bytes:
        return v.ljust(n, b"\0") + bytes([len(v)])

    rec = field(b"POS-0042") + field(user) + field(pw) + field(b"4711") + bytes(16) + field(b"pos") + field(b"ASE")
    rempw = b"\x00" + bytes([len(remote)]) + remote  # no server name, the password
    rec += field(rempw, 255) + bytes(512 - 458)
    return bytes([0x02, 0x01]) + struct.pack("!H", 8 + len(rec)) + bytes(4) + rec


def xoauth2(user: bytes, token: bytes) -> bytes:
    return base64.b64encode(b"user=" + user + b"\x01auth=Bearer " + token + b"\x01\x01")


SOCKS_REPLY = b"\x05\x00\x00\x01" + bytes([10, 20, 0, 9]) + struct.pack("!H", 40001)


def socks5(port: int) -> Chunks:
    """A SOCKS5 handshake without a login, to the server's `port`: the tunnel's protocol follows."""
    return [(0, b"\x05\x01\x00"), (1, b"\x05\x00"),
            (0, b"\x05\x01\x00\x01" + bytes([10, 20, 1, 50]) + struct.pack("!H", port)), (1, SOCKS_REPLY)]


def postgres_cleartext(user: bytes, pw: bytes) -> Chunks:
    params = b"user\0" + user + b"\0database\0pos\0\0"
    return [(0, struct.pack("!II", 8 + len(params), 0x00030000) + params), (1, b"R" + struct.pack("!II", 8, 3)),
            (0, b"p" + struct.pack("!I", 5 + len(pw)) + pw + b"\0"), (1, b"R" + struct.pack("!II", 8, 0))]


def mysql_clear(user: bytes, pw: bytes) -> Chunks:
    greeting = (b"\x0a8.0.36\0" + struct.pack("<I", 42) + b"abcdefgh\0" + struct.pack("<H", 0xF7FF) + b"\x21"
                + struct.pack("<H", 2) + struct.pack("<H", 0x81FF) + b"\x15" + bytes(10) + b"ijklmnopqrst\0"
                + b"mysql_native_password\0")
    caps = 0x200 | 0x8000 | 0x80000  # protocol 4.1, secure connection, plugin auth
    body = struct.pack("<I", caps) + bytes(4) + b"\x21" + bytes(23) + user + b"\0" + bytes([len(pw)]) + pw
    body += b"mysql_clear_password\0"
    return [(1, len(greeting).to_bytes(3, "little") + b"\0" + greeting),
            (0, len(body).to_bytes(3, "little") + b"\x01" + body), (1, b"\x07\0\0\x02\0\0\0\x02\0\0\0")]


def tds7_login(user: str, pw: str) -> bytes:
    obf = bytes(((b << 4 | b >> 4) & 0xFF) ^ 0xA5 for b in pw.encode("utf-16-le"))
    u = user.encode("utf-16-le")
    fixed = bytearray(94)
    fixed[0:4] = (94 + len(u) + len(obf)).to_bytes(4, "little")
    fixed[4:8] = bytes.fromhex("04000074")  # TDS 7.4
    fixed[40:42], fixed[42:44] = (94).to_bytes(2, "little"), len(user).to_bytes(2, "little")
    fixed[44:46], fixed[46:48] = (94 + len(u)).to_bytes(2, "little"), len(pw).to_bytes(2, "little")
    body = bytes(fixed) + u + obf
    return b"\x10\x01" + (8 + len(body)).to_bytes(2, "big") + bytes(4) + body


SPLIT_BINDS = (ldap_bind(1, b"cn=pos-0042,dc=store42,dc=example", _ber(0x80, b"Ldap-Split-14"))
               + ldap_bind(2, b"cn=pos-0043,dc=store42,dc=example", _ber(0x80, b"Ldap-Split-15")))
SOCKS_REQUEST = b"\x05\x01\x00\x01" + bytes([10, 20, 1, 50]) + struct.pack("!H", 389)
CASES: dict[str, tuple[int, Chunks, list[bytes]]] = {
    "ldap-binds": (389, [
        (0, ldap_bind(1, b"cn=pos-0042,dc=store42,dc=example", _ber(0x80, b"Ldap-Simple-1"))), (1, BIND_OK),
        (0, ldap_bind(2, b"cn=pos-0042,dc=store42,dc=example", _ber(0x80, b"Ldap-Simple-2"))
         + ldap_bind(3, b"", _ber(0xA3, _ber(0x04, b"PLAIN") + _ber(0x04, b"\0posuser\0Ldap-Plain-3")))),
        (1, BIND_OK)], [b"Ldap-Simple-1", b"Ldap-Simple-2", b"Ldap-Plain-3"]),
    # two binds (60 bytes each, passwords at 47 and 107) cut over segments: after the tag, in the DN,
    # in the password, the next bind's tag right after a whole one, in the second password
    "ldap-binds-split": (389, [
        (0, SPLIT_BINDS[:1]), (0, SPLIT_BINDS[1:30]), (0, SPLIT_BINDS[30:52]), (0, SPLIT_BINDS[52:61]),
        (0, SPLIT_BINDS[61:110]), (0, SPLIT_BINDS[110:]), (1, BIND_OK)], [b"Ldap-Split-14", b"Ldap-Split-15"]),
    # the capture ends inside the second bind's password: read as it is (a cut password)
    "ldap-bind-cut-by-the-end": (389, [(0, SPLIT_BINDS[:60]), (0, SPLIT_BINDS[60:112])],
                                 [b"Ldap-Split-14", SPLIT_BINDS[107:112]]),
    "socks5-then-ldap": (1080, [
        (0, b"\x05\x02\x00\x02"), (1, b"\x05\x02"), (0, b"\x01\x07posuser\x0aSocks-Pw-4"), (1, b"\x01\x00"),
        (0, SOCKS_REQUEST), (1, SOCKS_REPLY),
        (0, ldap_bind(1, b"cn=tunnel,dc=store42,dc=example", _ber(0x80, b"Ldap-Tunnel-5"))), (1, BIND_OK)],
        [b"Socks-Pw-4", b"Ldap-Tunnel-5"]),
    # the login inside a tunnel: the protocol's own pass reads from the stream's start, the location
    # the analyzer gave (counted from the tunnel's first byte, rebased) is what finds it
    "socks5-then-postgres": (1080, socks5(5432) + postgres_cleartext(b"posapp", b"Pg-Tunnel-10"), [b"Pg-Tunnel-10"]),
    "connect-then-mysql-clear": (3128, [
        (0, b"CONNECT db.store42.example:3306 HTTP/1.1\r\nHost: db.store42.example:3306\r\n\r\n"),
        (1, b"HTTP/1.1 200 Connection established\r\n\r\n"), *mysql_clear(b"posreport", b"My-Tunnel-11")],
        [b"My-Tunnel-11"]),
    "socks5-then-tds7": (1080, [*socks5(1433), (0, tds7_login("sa", "Tds-Tunnel-12"))], [b"Tds-Tunnel-12"]),
    "ldap-windows-lengths": (389, [(0, ber_long(0x30, b"\x02\x01\x01" + ber_long(0x60, b"\x02\x01\x03" + ber_long(
        0x04, b"CN=pos-0042,DC=store42,DC=example") + ber_long(0x80, b"Ldap-Long-13")))), (1, BIND_OK)],
        [b"Ldap-Long-13"]),
    "imap-login-literal": (143, [(1, b"* OK ready\r\n"), (0, b"a1 LOGIN clerk {14}\r\n"), (1, b"+ go ahead\r\n"),
                                 (0, b"Imap {Lit} 14!\r\n"), (1, b"a1 OK\r\n")], [b"Imap {Lit} 14!"]),
    "irc-sasl-plain": (6667, [
        (0, b"CAP REQ :sasl\r\nNICK posbot\r\nUSER posbot 0 * :pos\r\n"), (1, b":irc CAP * ACK :sasl\r\n"),
        (0, b"AUTHENTICATE PLAIN\r\n"), (1, b"AUTHENTICATE +\r\n"),
        (0, b"AUTHENTICATE " + base64.b64encode(b"posbot\0posbot\0Irc-Sasl-15") + b"\r\n"),
        (1, b":irc 903 posbot :ok\r\n")],
        [b"Irc-Sasl-15"]),
    "smtp-oauthbearer": (25, [
        (1, b"220 mx ESMTP\r\n"), (0, b"EHLO pos\r\n"), (1, b"250 AUTH OAUTHBEARER\r\n"),
        (0, b"AUTH OAUTHBEARER "
         + base64.b64encode(b"n,a=pos@store42.example,\x01host=mx\x01auth=Bearer Oauth-Tok-16\x01\x01") + b"\r\n"),
        (1, b"235 ok\r\n")], [b"Oauth-Tok-16"]),
    "sybase-tds5": (5000, [(0, tds5_login(b"posuser", b"Sybase-Pw-6", b"Sybase-Pw-6")),
                           (1, bytes([0x04, 0x01, 0x00, 0x11, 0, 0, 0, 0]) + b"\xad\x05\x00\x05\x05\x00\x00\x00\x00")],
                    [b"Sybase-Pw-6"]),
    "pop3-xoauth2": (110, [(1, b"+OK ready\r\n"),
                           (0, b"AUTH XOAUTH2 " + xoauth2(b"reports@store42.example", b"ya29.Oauth-Token-7") + b"\r\n"),
                           (1, b"+OK\r\n")], [b"ya29.Oauth-Token-7"]),
    "imap-xoauth2-next-line": (143, [
        (1, b"* OK IMAP4rev1 ready\r\n"), (0, b"a1 AUTHENTICATE XOAUTH2\r\n"), (1, b"+ \r\n"),
        (0, xoauth2(b"clerk@store42.example", b"ya29.Oauth-Token-8") + b"\r\n"), (1, b"a1 OK\r\n")],
        [b"ya29.Oauth-Token-8"]),
    "http-bearer": (8080, [
        (0, b"GET /api/stock HTTP/1.1\r\nHost: stock.store42.example\r\n"
            b"Authorization: Bearer eyJ.Bearer-Token-9\r\n\r\n"),
        (1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")], [b"eyJ.Bearer-Token-9"]),
}


def forms(secret: bytes) -> dict[str, bytes]:
    """The secret as the protocols carry it: as is, UTF-16LE, base64 at each alignment (whole groups)."""
    wide = secret.decode().encode("utf-16-le")
    out = {"plain": secret, "utf16le": wide, "tds-obfuscated": bytes(((b << 4 | b >> 4) & 0xFF) ^ 0xA5 for b in wide)}
    for s in range(3):
        out[f"base64-{s}"] = base64.b64encode(b"x" * s + secret)[4 * ((s + 2) // 3) : 4 * ((s + len(secret)) // 3)]
    return out


def _logins(path: Path) -> dict[str, set[tuple]]:
    """Per evidence file (or the capture): the credentials findings as (protocol, method, user, length)."""
    out: dict[str, set[tuple]] = {}
    for r in map(json.loads, path.read_text().splitlines()):
        if r.get("category") == "credentials":
            ev = r["evidence"]
            key = r.get("evidence_file") or r["source"]["name"]
            out.setdefault(key, set()).add((ev["protocol"], ev["method"], ev.get("user"), ev.get("password_length")))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_secret_redacted_login_kept(name: str, tmp_path: Path) -> None:
    port, chunks, secrets = CASES[name]
    cap = tmp_path / f"{name}.pcap"
    cap.write_bytes(pcap_bytes(conversation(50400, port, chunks)))
    ev, js, again = tmp_path / "ev", tmp_path / "scan.jsonl", tmp_path / "rescan.jsonl"
    assert main(["scan", str(cap), "--evidence", str(ev), "--json", str(js), "--fail-on", "none", "-q"]) == 0
    found = _logins(js)
    assert any(login[3] for k in found.values() for login in k), "the login was seen"
    files = sorted(ev.glob("*.pcap"))
    assert files
    for f in files:
        data = f.read_bytes()
        leaked = [f"#{i}/{k}" for i, s in enumerate(secrets) for k, v in forms(s).items() if v in data]
        assert not leaked, f"{f.name}: {leaked}"
    assert main(["scan", str(ev), "--json", str(again), "--fail-on", "none", "-q"]) == 0
    rescanned = {Path(k).name: v for k, v in _logins(again).items()}
    for f, logins in found.items():
        lost = logins - rescanned.get(Path(f).name, set())
        assert not lost, f"{Path(f).name}: {sorted(lost)}"


def test_floor_leaves_ber_headers_and_shifted_base64() -> None:
    """A BER length byte 0x?d after 12+ decimal nibbles is no track 2 unless the number passes Luhn
    (it cost the LDAP bind its header), nor is base64 text read at a shifted alignment."""
    bind = ldap_bind(1, b"cn=pos-0042,ou=devices,dc=store42,dc=example", _ber(0x80, b"**********"))
    assert bind[:12].hex().startswith("30") and not find(bind)
    assert not find(b"AUTH XOAUTH2 " + xoauth2(b"reports@store42.example", b"*" * 27) + b"\r\n")
    track2 = bytes.fromhex("4111111111111111d2812101123f")  # a Luhn-valid number with a track-2 tail
    assert find(b"\xee" + track2)


def test_socks5_login_blanked_only_in_a_socks_stream() -> None:
    """The RFC 1929 request is read only where the flow is SOCKS (or opens with a whole SOCKS5
    handshake): other binary streams that happen to start with 0x05 are left as they are."""
    from netwatch.redaction.logins import redact_logins

    login = b"\x05\x01\x02" + b"\x01\x03bob\x08Sock-Pw9"
    cut = bytearray(login)  # the stream ends before the request: only the classifier says SOCKS
    redact_logins("socks", cut, [])
    assert cut == login[:-8] + b"*" * 8
    other = bytearray(login + b"\x00\x17binary payload")
    redact_logins(None, other, [])
    assert other == login + b"\x00\x17binary payload"
    whole = bytearray(login + SOCKS_REQUEST + b"\x30\x05")
    redact_logins("ldap", whole, [])
    assert b"Sock-Pw9" not in whole and whole.startswith(b"\x05\x01\x02\x01\x03bob\x08********")


def test_h2c_authorization_blanked_in_hpack(tmp_path: Path) -> None:
    """HTTP/2 cleartext: Basic and Bearer credentials and a :path password travel HPACK-coded
    (Huffman by default), where no byte pattern finds them; each is blanked inside its literal, so
    the blocks still decode and a re-scan sees the Bearer and URL logins (the user kept)."""
    import h2.config
    import h2.connection
    from test_evidence_secrets import h2c_headers

    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    common = [(":method", "GET"), (":scheme", "http"), (":authority", "stock.store42.example")]
    basic = base64.b64encode(b"clerk:H2c-Basic-17").decode()
    client.send_headers(1, [*common, (":path", "/api/stock/with/a/rather/long/path/here"),
                            ("user-agent", "pos-client/1.0 (store42; lane 3; build 2024.11)"),
                            ("authorization", f"Basic {basic}")], end_stream=True)
    client.send_headers(3, [*common, (":path", "/api/orders"), ("authorization", "Bearer H2c-Bearer-18")],
                        end_stream=True)
    client.send_headers(5, [*common, (":path", "/login?user=jo&password=H2c-Query-19")], end_stream=True)
    for sid in (7, 9, 11):  # later requests: their blocks must still decode (no location may cut the frames)
        client.send_headers(sid, [*common, (":path", f"/api/item/{sid}"), ("accept", "application/json")],
                            end_stream=True)
    cap = tmp_path / "h2c.pcap"
    cap.write_bytes(pcap_bytes(conversation(50400, 8080, [(0, client.data_to_send()),
                                                          (1, b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")])))
    js = tmp_path / "f.jsonl"
    assert main(["scan", str(cap), "--evidence", str(tmp_path / "ev"), "--json", str(js), "--fail-on", "none",
                 "-q"]) == 0
    records = [r for r in map(json.loads, js.read_text().splitlines()) if r.get("category") == "credentials"]
    assert {r["evidence"]["method"] for r in records} >= {"Basic", "Bearer", "URL query"}
    again = tmp_path / "again.jsonl"
    assert main(["scan", str(tmp_path / "ev"), "--json", str(again), "--fail-on", "none", "-q"]) == 0
    seen = {(r["evidence"]["method"], r["evidence"].get("user"))
            for r in map(json.loads, again.read_text().splitlines()) if r.get("category") == "credentials"}
    assert {("Bearer", None), ("URL query", "jo")} <= seen
    secrets = [b"H2c-Basic-17", b"H2c-Bearer-18", b"H2c-Query-19", basic.encode()]
    for f in sorted((tmp_path / "ev").glob("*.pcap")):
        data = f.read_bytes()
        stream = data[data.find(b"PRI * HTTP/2.0") :]
        leaked = [i for i, s in enumerate(secrets) if s in data or s in h2c_headers(stream)]
        assert not leaked, f"{f.name}: secrets #{leaked}"
        assert h2c_headers(stream).count(b":method: GET") == 6, f"{f.name}: a header block no longer decodes"


@pytest.mark.parametrize("huffman", [True, False], ids=["huffman", "raw"])
def test_hpack_secret_blanked_in_its_literal(huffman: bool) -> None:
    """A block's secrets become FILLER in their own coding, same length; the other fields, the scheme,
    the query up to the password and the dynamic table (the next block indexes into it) stay."""
    import hpack
    from hpack.table import HeaderTable

    from netwatch.redaction.hpack_secrets import blank_secrets

    encoder = hpack.Encoder()
    first = [(":method", "GET"), (":path", "/login?user=jo&password=Hpack-Pw-20"), ("authorization", "Bearer Tok-21"),
             ("cookie", "lang=de; pw=Cookie-Pw-22"), ("authorization", 'Digest username="jo", response="ab"')]
    blocks = [encoder.encode(first, huffman=huffman), encoder.encode(first[:1] + first[2:3], huffman=huffman)]
    table, decoder = HeaderTable(), hpack.Decoder()
    seen = []
    for raw in blocks:
        block = bytearray(raw)
        assert blank_secrets(block, table) and len(block) == len(raw)
        seen.append(decoder.decode(bytes(block)))
    assert not [i for i, s in enumerate(("Hpack-Pw-20", "Tok-21", "Cookie-Pw-22")) if s in repr(seen)]  # by index
    one, two = seen
    assert one[0] == (":method", "GET") and one[1][1].startswith("/login?user=jo&password=*")
    assert one[2][1].startswith("Bearer *") and one[3][1].startswith("lang=de; pw=*") and one[4] == first[4]
    assert two == [one[0], one[2]]  # the second block indexed the first's entries: they hold the blanked values
