"""The one boundary for packet-derived text: card data masked, control characters escaped.

Every string that came from a packet (SNI, Host, DNS names, users, User-Agent, certificate names,
paths, messages built from them) becomes a `Redacted` before it reaches a report, the policy
`learn` writes, `diff` or `live`. Only `redact` makes a `Redacted`, so report-facing fields typed
with it (Finding, inventory rows, learn's policy text, diff records) cannot hold a raw `str`:
mypy says so.

Card numbers are found by the card scanner itself (`protocols.card_search.scan`: ASCII with
separators, track 1/2, base64, percent-encoding, UTF-16, EBCDIC, BCD), run over the text as it
stands, over the text with `.`/`-`/`_` separators taken out (numbers split over DNS labels), and over
what hex, base32/base32hex and case-folded base64 (DNS names, Host) runs decode to. A found number
is replaced by its `mask_pan` form (first six, last four digits); a track is replaced whole,
sentinels and discretionary data included.
Control characters (C0, DEL, C1, bidi overrides, line separators) become visible `\\xNN` escapes.
Rich markup and HTML are escaped by the report that renders the text (`report.text.safe`, html.escape).
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

from netwatch.protocols.card_search import scan, wrap
from netwatch.redaction.masking import mask_pan


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
TRACK1_TAIL = re.compile(rb"[\x21-\x3e\x40-\x7e]{0,79}\??")  # after the expiry: discretionary data, to the end sentinel
TRACK2_TAIL = re.compile(rb"[0-9=Dd]{0,40}\??")
B64_LOWER_RUN = re.compile(rb"[a-z0-9+/_-]{16,}")
B64_DIGIT_HEADS = b"\x01" * 4  # four quartets in a row that may start 3 digits or separators
DIGITISH = b"0123456789 -=;?"
NOT_DIGITISH = bytes(c if c in DIGITISH else 0x3F for c in range(256))  # translate(): others become '?'
MAX_TEXT = 1 << 16  # longer output text is cut first: redaction cost stays bounded
CUT_RUN = re.compile(r"[0-9A-Za-z+/=_ .-]{1,160}\Z")
B32_HEADS = {h: bytes(1 if c in h else 0 for c in range(256)) for h in (b"EFGH", b"4567")}
B32_ANY_HEADS = bytes(1 if c in b"EFGH4567" else 0 for c in range(256))
B64_HEADS = bytes(1 if c in b"ILMNO" else 0 for c in range(256))
B32_DIGIT_HEADS = b"\x01\x01"
MAX_NARROW = 512
MAX_VARIANTS = 64
B64_WINDOW, B64_OVERLAP = 128, 48  # a PAN with separators is at most 32 base64 characters
DIGIT_BYTES = b"0123456789" + bytes(range(0xF0, 0xFA))  # ASCII and EBCDIC digits
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
    if len(value) > MAX_TEXT:  # the cut drops a run it splits: half a number is no card to the scanner
        head = CUT_RUN.sub("", value[:MAX_TEXT])
        value = head + f"… ({len(value) - len(head)} characters cut)"
    if len(value) >= MIN_CARD_TEXT:
        view = _byte_view(value)
        if _may_hold_card(view):
            for start, end, rep in reversed(_merge(_card_spans(view))):
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


def _may_hold_card(view: bytes) -> bool:
    """Cheap gate (most names and addresses stop here): 12 digits (ASCII, grouped, track, UTF-16,
    percent, hex; EBCDIC digits too), or the characters base64 or base32 of digits has at every
    quartet or group head."""
    if len(view) - len(view.translate(None, DIGIT_BYTES)) >= MIN_CARD_TEXT:
        return True
    joined = view.translate(None, b".-_").upper()
    if len(joined) < 16:  # base64 of 12 digits takes 16 characters, base32 20
        return False
    return (any(B64_DIGIT_HEADS in joined[off::4].translate(B64_HEADS) for off in range(4))
            or any(B32_DIGIT_HEADS in joined[off::8].translate(B32_ANY_HEADS) for off in range(8)))


def _card_spans(view: bytes) -> list[Span]:
    spans = _spans(view)
    joined = bytes(b for b in view if b not in SEPARATORS)
    if len(joined) < len(view):  # numbers split over labels or groups: scan without the separators
        where = [i for i, b in enumerate(view) if b not in SEPARATORS]
        spans += [(where[s], where[e - 1] + 1, rep) for s, e, rep in _spans(joined)]
    return spans


def _spans(buf: bytes) -> list[Span]:
    """Card data in `buf`: as the card scanner finds it, and inside hex, base32 and lower-cased base64 runs."""
    out: list[Span] = []
    for detect in DETECTORS:
        for start, end, digits, kind, enc in detect(buf):
            if enc != "ascii":  # a decoded run found without separators may take in the next labels
                start, end = _narrow(detect, buf, start, end, digits)
            out.append(_replacement(buf, start, end, digits, kind, enc))
    return out


Found = tuple[int, int, str, str, str]  # start, end, digits, kind, encoding


def _scanner(buf: bytes) -> list[Found]:
    return [(h[0], h[1], h[2], h[3], h[4]) for h in scan(buf)[0]]


def _hex(buf: bytes) -> list[Found]:
    out: list[Found] = []
    for m in HEX_RUN.finditer(buf):
        for off in (0, 1):  # the run may start with a stray hex character
            s, raw = m.start() + off, binascii.unhexlify(m.group()[off:][: (len(m.group()) - off) & ~1])
            out += _inside(raw, s, s + 2 * len(raw), "hex")
    return out


def _base32(buf: bytes) -> list[Found]:
    """Base32/base32hex runs, decoded only around group heads that digits make (linear in the run)."""
    out: list[Found] = []
    for pattern, decode, name, heads in ((B32_RUN, base64.b32decode, "base32", b"EFGH"),
                                         (B32HEX_RUN, base64.b32hexdecode, "base32hex", b"4567")):
        for m in pattern.finditer(buf):
            run = m.group().rstrip(b"=").upper()
            for s, e in _stretches(run, 8, B32_HEADS[heads], 2):
                used, raw = _unbase32(run[s:e], decode)
                end = m.end() if s + used == len(run) else m.start() + s + used  # with its padding
                out += _inside(raw, m.start() + s, end, name)
    return out


def _base64_lowercase(buf: bytes) -> list[Found]:
    """Base64 whose case was folded (DNS names, Host): each quartet is read in the cases that make it
    digits, around quartet heads that digits or separators make (I, L, M, N, O)."""
    out: list[Found] = []
    for m in B64_LOWER_RUN.finditer(buf):
        run = m.group()
        for s, e in _stretches(run.upper(), 4, B64_HEADS, 4):
            for ws in range(s, max(s + 1, e - B64_OVERLAP), B64_WINDOW - B64_OVERLAP):  # windows: bounded combinations
                we = min(e, ws + B64_WINDOW)
                for raw in _caseless_b64(run[ws:we]):
                    out += _inside(raw, m.start() + ws, m.start() + we, "base64")
    return out


DETECTORS: tuple[Callable[[bytes], list[Found]], ...] = (_scanner, _hex, _base32, _base64_lowercase)


def _stretches(run: bytes, size: int, heads: bytes, least: int) -> list[tuple[int, int]]:
    """Spans of `run` where at least `least` blocks of `size` characters in a row (at any alignment)
    start with a head character, widened by one block each side (a number rarely starts on a block)."""
    out = []
    for off in range(size):
        marks = run[off::size].translate(heads)
        for hm in re.finditer(b"\x01{%d,}" % least, marks):
            s = off + size * max(hm.start() - 1, 0)
            out.append((s, min(len(run), off + size * (hm.end() + 1))))
    return out


def _caseless_b64(run: bytes) -> list[bytes]:
    """What a case-folded run may have said: per quartet, the case variants that decode to the most
    digits or track separators (other bytes become '?'); combinations of ambiguous quartets, up to
    MAX_VARIANTS (beyond that the first variant of each quartet)."""
    out = [b""]
    for i in range(0, len(run) - 1, 4):
        found = _quartet(run[i : i + 4])
        out = [o + f for o in out for f in found] if len(out) * len(found) <= MAX_VARIANTS else \
            [o + found[0] for o in out]
    return out


@functools.lru_cache(maxsize=4096)
def _quartet(q: bytes) -> list[bytes]:
    q += b"=" * (-len(q) % 4)
    letters = [j for j, c in enumerate(q) if 0x61 <= c <= 0x7A]
    found: list[bytes] = []
    best = 1  # a quartet with no digit at all stands for '???'
    for flips in itertools.product((0, 32), repeat=len(letters)):
        v = bytearray(q)
        for j, up in zip(letters, flips, strict=True):
            v[j] -= up
        try:
            raw = binascii.a2b_base64(bytes(v).replace(b"-", b"+").replace(b"_", b"/"))
        except (binascii.Error, ValueError):
            continue
        n = len(raw) - len(raw.translate(None, DIGITISH))
        if n >= best:
            masked = raw.translate(NOT_DIGITISH)
            found = ([] if n > best else found) + ([masked] if masked not in found else [])
            best = n
    return found or [b"???"]


def _inside(raw: bytes, start: int, end: int, enc: str) -> list[Found]:
    """Hits in decoded bytes, placed on the encoded run `start:end`."""
    if len(raw) < MIN_CARD_TEXT:
        return []
    if enc != "hex" and len(raw) - len(raw.translate(None, b"0123456789")) < MIN_CARD_TEXT:
        return []  # base32/base64 of text without 12 ASCII digits (hex may hold BCD or EBCDIC: scanned whole)
    return [(start, end, h[2], h[3], wrap(enc, h[4])) for h in scan(raw)[0]]


def _narrow(detect: Callable[[bytes], list[Found]], buf: bytes, start: int, end: int, digits: str) -> tuple[int, int]:
    """The shortest span that still decodes to the same number (long runs are left whole)."""
    if end - start > MAX_NARROW:
        return start, end

    def holds(a: int, b: int) -> bool:
        return any(f[2] == digits for f in detect(buf[a:b]))

    while end - start > MIN_CARD_TEXT and holds(start, end - 1):
        end -= 1
    while end - start > MIN_CARD_TEXT and holds(start + 1, end):
        start += 1
    return start, end


def _replacement(buf: bytes, start: int, end: int, digits: str, kind: str, enc: str) -> Span:
    """What replaces one hit; an ASCII track swallows its tail (discretionary data) up to the end sentinel."""
    if kind == "pan" and enc == "ascii":
        return start, end, mask_pan(digits)
    if enc == "ascii":
        tail = (TRACK1_TAIL if kind == "track1" else TRACK2_TAIL).match(buf, end)
        end = tail.end() if tail else end
    else:
        while end < len(buf) and buf[end] == 0x3D:  # base32/base64 padding
            end += 1
    return start, end, f"<{kind}:{enc}:{mask_pan(digits)}>"


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
