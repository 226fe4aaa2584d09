"""Card numbers in DNS names: as digits in a label (also split over labels), hex, base32 or base32hex,
the ways data is tunnelled out through DNS queries. Pure functions, like card_search."""

from __future__ import annotations

import base64
import binascii
import re

from netwatch.protocols.card_search import Hit, ascii_hits, layers, wrap

HEX_LABEL_RE = re.compile(r"[0-9a-f]{24,}")
B32_LABEL_RE = re.compile(r"[a-z2-7]{20,}")  # RFC 4648 base32: 20 characters hold 12 bytes
B32HEX_LABEL_RE = re.compile(r"[0-9a-v]{20,}")  # base32hex (the alphabet of DNSSEC NSEC3 and of many tunnels)
B32HEX_TO_B32 = str.maketrans("0123456789abcdefghijklmnopqrstuv", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _base32_runs(label: str) -> list[tuple[str, bytes]]:
    """(encoding, decoded bytes) for each base32 / base32hex run in a DNS label (case-insensitive)."""
    out: list[tuple[str, bytes]] = []
    for enc, pattern, table in (("base32", B32_LABEL_RE, None), ("base32hex", B32HEX_LABEL_RE, B32HEX_TO_B32)):
        for m in pattern.finditer(label):
            run = m.group()
            run = run.translate(table) if table else run.upper()
            while len(run) % 8 in (1, 3, 6):  # not a whole number of bytes: the last character is noise
                run = run[:-1]
            try:
                out.append((enc, base64.b32decode(run + "=" * (-len(run) % 8))))
            except (binascii.Error, ValueError):
                continue
    return out


def scan_dns_name(name: str) -> list[Hit]:
    """Card numbers in a DNS name: in any label as digits (also split over labels), hex, base32 or base32hex."""
    hits: list[Hit] = []
    raw = name.encode("ascii", "replace")
    ascii_hits(raw, hits, "ascii")
    labels = name.split(".")
    joined = "".join(lb for lb in labels if lb.isdigit())
    if joined and len(joined) <= 64:
        ascii_hits(joined.encode(), hits, "ascii")
    for lb in [*labels, "".join(labels)]:
        for m in HEX_LABEL_RE.finditer(lb):
            h = m.group()
            if len(h) & 1:
                h = h[:-1]
            sub: list[Hit] = []
            layers(bytes.fromhex(h), sub, 1, [])
            hits.extend((0, len(raw), d, k, wrap("hex", e), x) for _a, _b, d, k, e, x in sub)
        for enc, data in _base32_runs(lb.lower()):
            sub = []
            layers(data, sub, 1, [])
            hits.extend((0, len(raw), d, k, wrap(enc, e), x) for _a, _b, d, k, e, x in sub)
    out: list[Hit] = []
    seen: set[str] = set()
    for hit in hits:  # one hit per card per name
        if hit[2] not in seen:
            seen.add(hit[2])
            out.append(hit)
    return out
