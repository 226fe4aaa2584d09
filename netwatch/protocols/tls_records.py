"""TLS record contents for sessions that protect nothing: NULL and anonymous cipher suites.

A suite with the NULL cipher sends application data in clear (followed by its MAC); an anonymous
suite (DH_anon, ECDH_anon) encrypts, but to whoever answered, so it protects nothing either. Both
are judged cleartext for the scanners: `RecordContents` turns one direction's TLS records into the
bytes they carry (application data only, MAC cut off), so that card and login scanners see the
payload as the receiving application does. Bytes that stop looking like records are passed on as
they are: a flow that left TLS framing is scanned raw rather than not at all.
"""

from __future__ import annotations

import functools

from netwatch.protocols.tls import SIGNALLING

MAC_BYTES = {"MD5": 16, "SHA": 20, "SHA256": 32, "SHA384": 48, "NULL": 0}
MAX_RECORD = (1 << 14) + 2048  # TLSCiphertext.length bound (RFC 5246 6.2.3)
APPLICATION_DATA = 23


@functools.cache
def _suites() -> dict[int, tuple[str, str, str]]:
    """cipher, auth and MAC of every suite dpkt knows, by code."""
    from dpkt import ssl_ciphersuites

    return {c: (s.cipher, s.auth, s.mac) for c, s in ssl_ciphersuites.BY_CODE.items() if c != 0xFFFF}


def unprotected_suite(code: int | None) -> str | None:
    """'null' (no encryption) or 'anon' (no authentication of the server) for such a suite, else None."""
    suite = _suites().get(code) if code is not None and code not in SIGNALLING else None
    if suite is None:
        return None
    cipher, auth, _mac = suite
    return "null" if cipher == "NULL" else "anon" if auth.startswith("anon") else None


def mac_bytes(code: int) -> int:
    """Length of the MAC that closes each record of this suite (0 when unknown)."""
    suite = _suites().get(code)
    return MAC_BYTES.get(suite[2], 0) if suite else 0


class RecordContents:
    """One direction of a TLS session: feed stream bytes, get the application data they carry."""

    __slots__ = ("buf", "mac", "raw")

    def __init__(self, mac: int, pending: bytes = b"") -> None:
        self.buf = pending  # a record cut by a segment boundary
        self.mac = mac
        self.raw = False  # True once the bytes stopped being TLS records: passed on as they are

    def feed(self, data: bytes) -> bytes:
        if self.raw:
            return data
        buf = self.buf + data if self.buf else data
        out: list[bytes] = []
        off = 0
        while len(buf) - off >= 5:
            ctype, major = buf[off], buf[off + 1]
            n = int.from_bytes(buf[off + 3 : off + 5], "big")
            if not 20 <= ctype <= 23 or major != 3 or n > MAX_RECORD:
                self.raw = True
                out.append(buf[off:])
                off = len(buf)
                break
            if len(buf) - off - 5 < n:
                break
            if ctype == APPLICATION_DATA:
                out.append(buf[off + 5 : off + 5 + max(0, n - self.mac)])
            off += 5 + n
        self.buf = buf[off:]
        return b"".join(out)
