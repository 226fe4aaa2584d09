"""JA3, JA3S and JA4 fingerprints of parsed hellos (Salesforce's JA3, FoxIO's JA4 specification).

Clients repeat the same hello on every connection: the pair for a ClientHello and the JA3S of a
ServerHello are cached by their inputs (bounded).
"""

from __future__ import annotations

import hashlib
from typing import Any

from netwatch.protocols.tls import EXT_ALPN, EXT_SNI, ClientHello, ServerHello

JA4_VERSIONS = {0x0002: "s2", 0x0300: "s3", 0x0301: "10", 0x0302: "11", 0x0303: "12", 0x0304: "13",
                0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3", 0x0100: "d0"}


def ja3_string(ch: ClientHello) -> str:
    return ",".join([
        str(ch.version), "-".join(map(str, ch.ciphers)), "-".join(map(str, ch.extensions)),
        "-".join(map(str, ch.groups)), "-".join(map(str, ch.point_formats)),
    ])


def ja3(ch: ClientHello) -> str:
    return hashlib.md5(ja3_string(ch).encode(), usedforsecurity=False).hexdigest()


_ja3s_cache: dict[tuple[Any, ...], str] = {}


def ja3s(sh: ServerHello) -> str:
    key = (sh.version, sh.cipher, tuple(sh.extensions))
    hit = _ja3s_cache.get(key)
    if hit is None:
        if len(_ja3s_cache) >= 1024:
            _ja3s_cache.clear()
        s = f"{sh.version},{sh.cipher or 0},{'-'.join(map(str, sh.extensions))}"
        hit = _ja3s_cache[key] = hashlib.md5(s.encode(), usedforsecurity=False).hexdigest()
    return hit


def _h12(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"


_fp_cache: dict[tuple[Any, ...], tuple[str, str]] = {}


def fingerprints(ch: ClientHello, transport: str = "t") -> tuple[str, str]:
    """(JA3, JA4) of a ClientHello. Clients repeat the same hello on every connection, so the pair is
    cached by its inputs (bounded): one tuple per flow instead of two hashes and a sort."""
    key = (transport, ch.version, tuple(ch.versions), ch.sni is not None, tuple(ch.ciphers), tuple(ch.extensions),
           tuple(ch.groups), tuple(ch.point_formats), tuple(ch.sig_algs), ch.alpn[0] if ch.alpn else None)
    hit = _fp_cache.get(key)
    if hit is None:
        if len(_fp_cache) >= 1024:
            _fp_cache.clear()
        hit = _fp_cache[key] = (ja3(ch), ja4(ch, transport))
    return hit


def ja4(ch: ClientHello, transport: str = "t") -> str:
    """JA4 client fingerprint (FoxIO spec): protocol, version, SNI, counts, ALPN; sorted suite and extension hashes."""
    return _ja4(ch, transport)


def _ja4(ch: ClientHello, transport: str) -> str:
    alpn = "00"
    if ch.alpn and ch.alpn[0]:
        a = ch.alpn[0]
        alpn = a[0] + a[-1] if a[0].isalnum() and a[-1].isalnum() else a.encode("latin-1").hex()[0] + \
            a.encode("latin-1").hex()[-1]
    head = (f"{transport}{JA4_VERSIONS.get(ch.max_version, '00')}{'d' if ch.sni is not None else 'i'}"
            f"{min(len(ch.ciphers), 99):02d}{min(len(ch.extensions), 99):02d}{alpn}")
    suites = ",".join(sorted(f"{c:04x}" for c in ch.ciphers))
    exts = ",".join(sorted(f"{e:04x}" for e in ch.extensions if e not in (EXT_SNI, EXT_ALPN)))
    if exts and ch.sig_algs:
        exts += "_" + ",".join(f"{s:04x}" for s in ch.sig_algs)
    return f"{head}_{_h12(suites)}_{_h12(exts)}"
