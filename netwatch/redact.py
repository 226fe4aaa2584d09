"""The one boundary for packet-derived text: card data masked, control characters escaped.

Every string that came from a packet (SNI, Host, DNS names, users, User-Agent, certificate names,
paths, messages built from them) becomes a `Redacted` before it reaches a report, the policy
`learn` writes, `diff` or `live`. Only `redact` makes a `Redacted`, so report-facing fields typed
with it (Finding, inventory rows, learn's policy text, diff records) cannot hold a raw `str`:
mypy says so.

Card numbers are found by the card scanner itself (`analyzers.cardscan.scan`: ASCII with
separators, track 1/2, base64, percent-encoding, UTF-16, EBCDIC, BCD), run over the text as it
stands, over the text with `.`/`-`/`_` separators taken out (numbers split over DNS labels), and over
what hex and base32/base32hex runs decode to. A found number is replaced by its `mask_pan` form (first
six, last four digits); a track is replaced whole, sentinels and discretionary data included.
Control characters (C0, DEL, C1, bidi overrides, line separators) become visible `\\xNN` escapes.
Rich markup and HTML are escaped by the report that renders the text (`report.text.safe`, html.escape).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

from netwatch.analyzers.cardscan import scan
from netwatch.masking import mask_pan


class Redacted(str):
    """Text that went through `redact`: no card data, no control characters. Make one only with `redact`."""

    __slots__ = ()


# A JSON-like value whose every string is Redacted (evidence, diff records, inventory rows).
Clean: TypeAlias = "Redacted | bool | int | float | None | list[Clean] | dict[str, Clean]"  # keys redacted too

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
SEPARATORS = frozenset(b".-_")
HEX_RUN = re.compile(rb"[0-9A-Fa-f]{24,}")
B32_RUN = re.compile(rb"[A-Za-z2-7]{20,}=*")
B32HEX_RUN = re.compile(rb"[0-9A-Va-v]{20,}=*")
TRACK1_TAIL = re.compile(rb"[\x20-\x3e\x40-\x7e]{0,79}\??")  # after the PAN: name, expiry, discretionary data
TRACK2_TAIL = re.compile(rb"[0-9=Dd]{0,40}\??")
MIN_CARD_TEXT = 12  # the shortest text that can hold a card number (12 ASCII digits)

Span = tuple[int, int, str]  # start, end (in the byte view), replacement text


def escape_controls(text: str) -> str:
    """Control characters as visible escapes: a terminal, a log or a page shows them, never acts on them."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                       else f"\\u{ord(m.group()):04x}", text)


def redact(value: str) -> Redacted:
    """`value` with card numbers and track data masked and control characters escaped (idempotent)."""
    if isinstance(value, Redacted):
        return value
    if len(value) >= MIN_CARD_TEXT:
        view = _byte_view(value)
        spans = _merge(_card_spans(view))
        for start, end, rep in reversed(spans):
            value = value[:start] + rep + value[end:]
    return Redacted(escape_controls(value))


EMPTY = Redacted("")  # the one Redacted not made by `redact` (there is nothing in it to redact)


def redact_lines(text: str) -> Redacted:
    """Multi-line text (a file being written) redacted line by line; the newlines stay."""
    return Redacted("\n".join(redact(line) for line in text.split("\n")))


def redact_value(value: object) -> Clean:
    """A JSON-like value with every string in it (keys too) redacted; other scalars unchanged."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {redact(str(k)): redact_value(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [redact_value(v) for v in value]
    return redact(str(value))


def redact_record(record: Mapping[str, object]) -> dict[str, Clean]:
    """One JSON record (a finding, an inventory row) with every string redacted."""
    return {redact(k): redact_value(v) for k, v in record.items()}


def _byte_view(text: str) -> bytes:
    """One byte per character, so scanner offsets are string offsets. A character above U+00FF
    whose low byte is zero is a UTF-16 code unit read with the wrong byte order (U+3400 is '4'),
    so it stands for its high byte; any other becomes '?'."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return bytes(ord(c) if ord(c) < 0x100 else (ord(c) >> 8 if ord(c) & 0xFF == 0 and ord(c) < 0x8000
                                                     else 0x3F) for c in text)


def _card_spans(view: bytes) -> list[Span]:
    spans = _spans(view)
    joined = bytes(b for b in view if b not in SEPARATORS)
    if len(joined) < len(view):  # numbers split over labels or groups: scan without the separators
        where = [i for i, b in enumerate(view) if b not in SEPARATORS]
        spans += [(where[s], where[e - 1] + 1, rep) for s, e, rep in _spans(joined)]
    return spans


def _spans(buf: bytes) -> list[Span]:
    """Card data in `buf` as it stands, and inside its hex and base32/base32hex runs."""
    out = [_hit_span(buf, h[0], h[1], h[2], h[3], h[4]) for h in scan(buf)[0]]
    for m in HEX_RUN.finditer(buf):
        for off in (0, 1):  # the run may start with a stray hex character
            s, raw = m.start() + off, _unhex(m.group()[off:])
            out += _decoded_spans(s, s + 2 * len(raw), "hex", raw)
    for pattern, decode, name in ((B32_RUN, base64.b32decode, "base32"), (B32HEX_RUN, base64.b32hexdecode,
                                                                        "base32hex")):
        for m in pattern.finditer(buf):
            run = m.group().rstrip(b"=").upper()
            for off in range(0, 8):  # a run may start anywhere in a 40-bit group
                used, raw = _unbase32(run[off:], decode)
                end = m.end() if off + used == len(run) else m.start() + off + used  # with its padding
                out += _decoded_spans(m.start() + off, end, name, raw)
    return out


def _hit_span(buf: bytes, start: int, end: int, digits: str, kind: str, enc: str) -> Span:
    """The replacement for one scanner hit; a track swallows its tail up to the end sentinel."""
    if kind == "pan" and enc == "ascii":
        return start, end, mask_pan(digits)
    if enc == "ascii":
        tail = (TRACK1_TAIL if kind == "track1" else TRACK2_TAIL).match(buf, end)
        end = tail.end() if tail else end
    return start, end, f"<{kind}:{enc}:{mask_pan(digits)}>"


def _decoded_spans(start: int, end: int, enc: str, raw: bytes) -> list[Span]:
    if len(raw) < MIN_CARD_TEXT:
        return []
    return [(start, end, f"<{h[3]}:{enc}+{h[4]}:{mask_pan(h[2])}>".replace("+ascii", ""))
            for h in scan(raw)[0]]


def _unhex(run: bytes) -> bytes:
    return binascii.unhexlify(run[: len(run) & ~1])


def _unbase32(run: bytes, decode: Callable[[bytes], bytes]) -> tuple[int, bytes]:
    """(characters used, bytes) of the longest decodable prefix (a tail of 1, 3 or 6 characters is no byte)."""
    n = len(run)
    while n % 8 in (1, 3, 6):
        n -= 1
    try:
        return n, decode(run[:n] + b"=" * (-n % 8))
    except (binascii.Error, ValueError):
        return 0, b""


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping spans joined into one (their distinct replacements kept, in order)."""
    merged: list[Span] = []
    for start, end, rep in sorted(spans):
        if merged and start < merged[-1][1]:
            s, e, r = merged[-1]
            merged[-1] = (s, max(e, end), r if rep in r else f"{r}{rep}")
        else:
            merged.append((start, end, rep))
    return merged
