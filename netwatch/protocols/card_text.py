"""The text a card hit is judged in: for an encoded hit (utf16, utf32, ebcdic, url, base64, hex,
unicode-digits, form, qp, json-escape, html-entity), its decoded text with the number located in
it, so the judge reads the field name or label the card was written under, not its encoded form.
Pure functions.

A base64 hit may be a fragment of a wrapped MIME block: the whole block is decoded (back to the
blank line a MIME body starts after), at the four character shifts when a stream's kept bytes cut
it mid-line, and the occurrence of the number at the hit's position is taken.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from netwatch.protocols.card_layers import decode_base64, peel
from netwatch.protocols.card_runs import UDIGIT_ASCII, hex_dump_bytes

WINDOW = 300  # characters either side of a number that are its context, as Purview's proximity
LOOK_BACK = 65536  # how far back a CSV header or decoded context is read


# layers whose bytes the scanner was handed decoded already (content codings, message framings)
FRAMINGS = frozenset({"ascii", "gzip", "deflate", "br", "zstd", "websocket", "h2c"})


def _peel(raw: bytes, encoding: str) -> bytes | None:
    """The decoded text of an encoded run, layer by layer as the scanner named them (form, qp,
    json-escape and html-entity through card_layers' own decoders), or None for a layer this does
    not undo."""
    for layer in encoding.split("+"):
        if layer in FRAMINGS:
            continue
        step = _UNDO.get(layer)
        out = step(raw) if step else peel(layer, raw)
        if out is None:
            return None
        raw = out
    return raw


B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
B64_CHARS = B64_ALPHABET | frozenset(b"\r\n")
B64_REACH = 8192  # bytes of a base64 block decoded either side of a hit


def _b64_fragment(buf: bytes, start: int, end: int) -> bool:
    """The scanner's base64 span is part of a longer run or of wrapped lines."""
    before, after = buf[max(0, start - 3) : start].rstrip(b"\r\n")[-1:], buf[end : end + 3].lstrip(b"\r\n")[:1]
    return bool(before and before[0] in B64_ALPHABET) or bool(after and after[0] in B64_ALPHABET)


def _b64_skip(buf: bytes, pos: int, n: int) -> int:
    """The offset `n` base64 characters after `pos` (line breaks do not count)."""
    while n and pos < len(buf):
        n -= buf[pos] not in b"\r\n"
        pos += 1
    return pos


def _b64_block(buf: bytes, start: int, end: int) -> tuple[int, int]:
    """The base64 block (lines of the alphabet) around a hit, within B64_REACH either side."""
    hit, lo, hi = start, max(0, start - B64_REACH), min(len(buf), end + B64_REACH)
    while start > lo and buf[start - 1] in B64_CHARS:
        start -= 1
    while end < hi and buf[end] in B64_CHARS:
        end += 1
    blank = max(buf.rfind(b"\n\n", start, hit), buf.rfind(b"\n\r\n", start, hit))
    return (start if blank < 0 else buf.index(b"\n", blank + 1) + 1), end  # a MIME body starts after a blank line


def _base64(raw: bytes) -> bytes | None:
    runs = re.findall(rb"[A-Za-z0-9+/_-]{16,}", b"".join(raw.split()))  # MIME/PEM lines joined
    if not runs:
        return None
    return decode_base64(max(runs, key=len))


def _hex(raw: bytes) -> bytes | None:
    """Hex text or a hex dump (separators between the bytes, offsets at the lines' starts)."""
    try:
        return hex_dump_bytes(raw)
    except ValueError:
        return None


_UNDO: dict[str, Callable[[bytes], bytes | None]] = {
    "utf16": lambda raw: raw.replace(b"\x00", b""),
    "ebcdic": lambda raw: raw.decode("cp500").encode("latin-1", "replace"),
    "url": unquote_to_bytes,
    "base64": _base64,
    "utf32": lambda raw: raw.replace(b"\x00", b""),
    "hex": _hex,
    "unicode-digits": lambda raw: raw.decode("utf-8", "replace").translate(UDIGIT_ASCII).encode("utf-8"),
}


def located(buf: bytes, start: int, end: int, digits: str, encoding: str) -> tuple[bytes, int, int, int, bool]:
    """The text to judge, the number's span in it, where its encoded run starts, and whether that
    span is the number itself: the buffer for ASCII; around an encoded run, its decoded text when
    the number is found there (a base64 fragment of wrapped lines: the whole block first). Else the
    run's own span, not exact: an encoded run's neighbours say nothing about the number."""
    if encoding == "ascii":
        return buf, start, end, start, True
    spans = [(start, end)]
    if encoding.startswith("base64") and _b64_fragment(buf, start, end):
        s, e = _b64_block(buf, start, end)  # keys and labels decode with the block; one cut by the
        spans[:0] = [(_b64_skip(buf, s, k), e) for k in range(4)]  # kept bytes may start off a quad
    number = re.compile(rb"[ -]?".join(re.escape(c.encode()) for c in digits))
    for s, e in spans:
        inner = _peel(buf[s:e], encoding)
        # the occurrence where the hit is (a block may repeat the number): base64 is 4 characters for 3 bytes
        expect = len(buf[s:start].translate(None, b"\r\n")) * 3 // 4 if s < start else 0
        m = min(number.finditer(inner), key=lambda x: abs(x.start() - expect), default=None) if inner else None
        if inner is not None and m is not None:  # a line apart: the encoded neighbours are no token
            before = buf[max(0, s - LOOK_BACK) : s] + b"\n"
            at = len(before)
            return before + inner + b"\n" + buf[e : e + WINDOW], at + m.start(), at + m.end(), at, True
    return buf, start, end, start, False
