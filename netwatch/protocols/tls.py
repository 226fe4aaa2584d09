"""Sans-IO TLS/DTLS handshake parsing: records → handshake messages → hellos (their JA3 and JA4 in
tls_fingerprints).

Only the handshake is read (it is all a passive observer can see); a parser never raises on bad
bytes, it returns None or stops. `HandshakeReader` reassembles handshake messages across records
and TCP segments for one direction, with a byte cap, and notes when the handshake goes dark
(ChangeCipherSpec or application data).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from netwatch.protocols.dtls import dtls_messages

VERSIONS = {
    0x0002: "sslv2", 0x0300: "sslv3", 0x0301: "tls1.0", 0x0302: "tls1.1", 0x0303: "tls1.2", 0x0304: "tls1.3",
    0xFEFF: "dtls1.0", 0xFEFD: "dtls1.2", 0xFEFC: "dtls1.3", 0x0100: "dtls0.9",
}
HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_CERTIFICATE, HS_SERVER_DONE = 1, 2, 11, 14
EXT_SNI, EXT_GROUPS, EXT_POINTS, EXT_SIGALGS, EXT_ALPN, EXT_VERSIONS = 0, 10, 11, 13, 16, 43
MAX_BUFFER = 96 * 1024  # handshake bytes held per direction (a long certificate chain fits)
MAX_BAD_DATAGRAMS = 8  # DTLS datagrams that do not parse before a direction is given up
SIGNALLING = {0x00FF, 0x5600}  # TLS_EMPTY_RENEGOTIATION_INFO_SCSV, TLS_FALLBACK_SCSV: flags, never chosen


GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))
_hello_cache: dict[tuple[Any, ...], ClientHello | ServerHello | None] = {}
HELLO_CACHE = 1024
H = TypeVar("H", "ClientHello | None", "ServerHello | None")


def is_grease(v: int) -> bool:
    return v in GREASE


def _cached(key: tuple[Any, ...], parse: Callable[[], H]) -> H:
    """Hellos repeat per client/server; everything after the random and session id is the cache key."""
    try:
        return cast(H, _hello_cache[key])
    except KeyError:
        pass
    if len(_hello_cache) >= HELLO_CACHE:
        _hello_cache.clear()
    v = parse()
    _hello_cache[key] = v
    return v


def version_name(v: int | None) -> str | None:
    if v is None:
        return None
    return VERSIONS.get(v, f"0x{v:04x}")


def cipher_name(c: int | None) -> str | None:
    if c is None:
        return None
    return suite_tables()[0].get(c, f"0x{c:04X}")


def _weakness(s: Any) -> str | None:
    """Why a suite is weak, from dpkt's parts of it (key exchange, authentication, cipher, MAC)."""
    if s.code in SIGNALLING:
        return None
    checks = (
        (s.cipher == "NULL" or s.kx == "NULL", "NULL"), ("EXPORT" in s.kx or "EXPORT" in s.auth, "EXPORT"),
        (s.auth.startswith("anon"), "anon"), (s.cipher.startswith("RC4"), "RC4"), (s.cipher == "3DES_EDE", "3DES"),
        (s.cipher in ("DES", "DES40"), "DES"), (s.mac == "MD5", "MD5"), (s.cipher.startswith("RC2"), "RC2"),
        (s.cipher == "IDEA", "IDEA"),
    )
    return next((why for hit, why in checks if hit), None)


@functools.cache
def suite_tables() -> tuple[dict[int, str], dict[int, str]]:
    """IANA suite names and weaknesses by code, from dpkt's table (0xFFFF there is its "unknown"
    placeholder). Built on first use: importing dpkt costs ~0.1 s, which scans without TLS skip."""
    from dpkt import ssl_ciphersuites

    suites = {c: s for c, s in ssl_ciphersuites.BY_CODE.items() if c != 0xFFFF}
    return {c: s.name for c, s in suites.items()}, {c: w for c, s in suites.items() if (w := _weakness(s))}


def cipher_weakness(c: int | None) -> str | None:
    """Why a chosen suite is weak (NULL, EXPORT, anon, RC4, DES, 3DES, MD5…), or None."""
    return suite_tables()[1].get(c) if c is not None else None


@dataclass
class ClientHello:
    version: int
    ciphers: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    sni: str | None = None
    alpn: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)  # supported_versions (TLS 1.3)
    groups: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    sig_algs: list[int] = field(default_factory=list)
    sslv2: bool = False

    @property
    def max_version(self) -> int:
        offered = [v for v in self.versions if not is_grease(v)]
        if not offered:
            return self.version
        if self.version >= 0xFE00:  # DTLS counts down
            return min(offered)
        return max(offered)


@dataclass
class ServerHello:
    version: int  # legacy_version (or SSLv2)
    cipher: int | None
    extensions: list[int] = field(default_factory=list)
    selected_version: int | None = None
    alpn: str | None = None

    @property
    def negotiated(self) -> int:
        return self.selected_version or self.version


def _vec(data: bytes, off: int, width: int) -> tuple[bytes, int]:
    n = int.from_bytes(data[off : off + width], "big")
    end = off + width + n
    if end > len(data):
        raise ValueError("vector runs past the message")
    return data[off + width : end], end


def _u16s(b: bytes) -> list[int]:
    return list(struct.unpack(f"!{len(b) // 2}H", b[: len(b) // 2 * 2]))


def _extensions(data: bytes, off: int) -> list[tuple[int, bytes]]:
    if off + 2 > len(data):
        return []
    block, _ = _vec(data, off, 2)
    out: list[tuple[int, bytes]] = []
    i = 0
    while i + 4 <= len(block) and len(out) < 128:
        t, n = struct.unpack_from("!HH", block, i)
        out.append((t, block[i + 4 : i + 4 + n]))
        i += 4 + n
    return out


def _alpn_list(b: bytes) -> list[str]:
    return [name.decode("latin-1") for name in _vectors(b, 2, 1, 16)]


def _vectors(data: bytes, outer: int, inner: int, limit: int) -> list[bytes]:
    """The items of a vector (length in `outer` bytes) of vectors (lengths in `inner` bytes), at most
    `limit`; an item that runs past the end ends the list."""
    try:
        block, _ = _vec(data, 0, outer)
    except ValueError:
        return []
    out: list[bytes] = []
    i = 0
    while i + inner <= len(block) and len(out) < limit:
        try:
            item, i = _vec(block, i, inner)
        except ValueError:
            break
        out.append(item)
    return out


def parse_client_hello(body: bytes, dtls: bool = False) -> ClientHello | None:
    """ClientHello body (after the 4-byte handshake header); None if it does not parse.

    The result may be shared with other flows (cache): treat it as read-only.
    """
    if len(body) < 35:
        return None
    return _cached((1, dtls, body[:2], body[35 + body[34] :]), lambda: _parse_client_hello(body, dtls))


def _parse_client_hello(body: bytes, dtls: bool) -> ClientHello | None:
    try:
        version = struct.unpack_from("!H", body, 0)[0]
        _sid, off = _vec(body, 34, 1)
        if dtls:
            _cookie, off = _vec(body, off, 1)
        suites, off = _vec(body, off, 2)
        _comp, off = _vec(body, off, 1)
        ch = ClientHello(version, [c for c in _u16s(suites) if not is_grease(c)])
        for t, v in _extensions(body, off):
            if not is_grease(t):
                ch.extensions.append(t)
            if t == EXT_SNI and len(v) > 5 and v[2] == 0:
                name, _ = _vec(v, 3, 2)
                ch.sni = name.decode("latin-1")[:255]
            elif t == EXT_ALPN:
                ch.alpn = _alpn_list(v)
            elif t == EXT_VERSIONS and v:
                ch.versions = _u16s(v[1 : 1 + v[0]])
            elif t == EXT_GROUPS:
                ch.groups = [g for g in _u16s(_vec(v, 0, 2)[0]) if not is_grease(g)]
            elif t == EXT_POINTS and v:
                ch.point_formats = list(v[1 : 1 + v[0]])
            elif t == EXT_SIGALGS:
                ch.sig_algs = _u16s(_vec(v, 0, 2)[0])
        return ch
    except (ValueError, IndexError, struct.error):
        return None


def parse_server_hello(body: bytes, dtls: bool = False) -> ServerHello | None:
    """ServerHello body; the result may be shared with other flows (cache): treat it as read-only."""
    if len(body) < 35:
        return None
    return _cached((2, body[:2], body[35 + body[34] :]), lambda: _parse_server_hello(body))


def _parse_server_hello(body: bytes) -> ServerHello | None:
    try:
        version = struct.unpack_from("!H", body, 0)[0]
        _sid, off = _vec(body, 34, 1)
        cipher = struct.unpack_from("!H", body, off)[0]
        sh = ServerHello(version, cipher)
        for t, v in _extensions(body, off + 3):
            sh.extensions.append(t)
            if t == EXT_VERSIONS and len(v) == 2:
                sh.selected_version = struct.unpack("!H", v)[0]
            elif t == EXT_ALPN:
                names = _alpn_list(v)
                sh.alpn = names[0] if names else None
        return sh
    except (ValueError, IndexError, struct.error):
        return None


def parse_certificates(body: bytes) -> list[bytes]:
    """DER certificates of a TLS ≤ 1.2 Certificate message, leaf first."""
    return _vectors(body, 3, 3, 10)


def parse_sslv2_client_hello(rec: bytes) -> ClientHello | None:
    """SSLv2-format ClientHello (msg type 1), as old clients send it; `rec` starts after the 2-byte header."""
    try:
        if rec[0] != 1:
            return None
        version, cs_len, sid_len, ch_len = struct.unpack_from("!HHHH", rec, 1)
        specs = rec[9 : 9 + cs_len]
        if len(specs) < cs_len or cs_len % 3 or not 16 <= ch_len <= 32 or sid_len > 32:
            return None
        ciphers = [int.from_bytes(specs[i + 1 : i + 3], "big") for i in range(0, cs_len, 3) if specs[i] == 0]
        return ClientHello(version, [c for c in ciphers if not is_grease(c)], sslv2=True)
    except (IndexError, struct.error):
        return None


# -- record layer ----------------------------------------------------------------------------
class HandshakeReader:
    """One direction of a TLS (or DTLS) conversation: feed bytes, get handshake messages.

    `dark` becomes True at ChangeCipherSpec or application data: later handshake bytes are
    encrypted. `broken` means the bytes stopped looking like TLS records (or the cap was hit).
    """

    __slots__ = ("dtls", "buf", "hs", "dark", "broken", "seen", "frags", "bad")

    def __init__(self, dtls: bool = False) -> None:
        self.dtls = dtls
        self.buf = b""
        self.hs = b""
        self.dark = False
        self.broken = False
        self.seen = 0
        self.frags: dict[tuple[int, int], dict[int, bytes]] = {}  # DTLS (message_seq, type) -> pieces
        self.bad = 0  # DTLS datagrams that did not parse

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.broken or self.dark:
            return []
        self.seen += len(data)
        if self.seen > MAX_BUFFER:
            self.broken = True
            return []
        buf = self.buf + data if self.buf else data
        out: list[tuple[int, bytes]] = []
        off = 0
        hlen = 13 if self.dtls else 5
        while len(buf) - off >= hlen:
            ctype, ver = buf[off], buf[off + 1]
            if ctype not in (20, 21, 22, 23) or ver not in ((1, 0xFE) if self.dtls else (3,)):
                if self.dtls:  # one odd datagram (cut by the snap length, not DTLS) spoils only itself
                    return self._bad_datagram(out)
                if off == 0 and not self.hs and buf[0] & 0x80 and len(buf) > 2 and buf[2] in (1, 4):
                    out.append((-buf[2], buf[2 : 2 + (((buf[0] & 0x7F) << 8) | buf[1])]))  # SSLv2 record
                    self.dark = True
                else:
                    self.broken = True
                self.buf = b""
                return out
            n = int.from_bytes(buf[off + hlen - 2 : off + hlen], "big")
            if len(buf) - off - hlen < n:
                if self.dtls:  # a record cannot span datagrams
                    return self._bad_datagram(out)
                break
            frag = buf[off + hlen : off + hlen + n]
            off += hlen + n
            if ctype == 22:
                out.extend(self._handshake(frag))
            elif ctype in (20, 23):
                self.dark = True
                break
        self.buf = buf[off:] if not self.dark and not self.dtls else b""
        return out

    def _bad_datagram(self, out: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """DTLS: a datagram that does not parse to its end; after MAX_BAD_DATAGRAMS the reader gives up."""
        self.bad += 1
        self.broken = self.bad >= MAX_BAD_DATAGRAMS
        self.buf = b""
        return out

    def _handshake(self, frag: bytes) -> list[tuple[int, bytes]]:
        out = []
        if self.dtls:
            return dtls_messages(self.frags, frag, MAX_BUFFER)
        hs = self.hs + frag
        i = 0
        while len(hs) - i >= 4:
            n = int.from_bytes(hs[i + 1 : i + 4], "big")
            if len(hs) - i - 4 < n:
                break
            out.append((hs[i], hs[i + 4 : i + 4 + n]))
            i += 4 + n
        self.hs = hs[i:]
        return out
