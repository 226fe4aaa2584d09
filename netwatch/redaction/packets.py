"""In-place redaction of card data in packet bytes: same length, so TCP sequence numbers and IP/UDP
lengths stay valid. Pure functions over a mutable buffer (one reassembled stream direction or one
datagram); the caller maps the buffer back onto the packets.

Masked digits keep the first six and last four of a PAN (PCI DSS 3.4.1); every other digit of the
PAN, and the rest of track data, becomes FILLER in the field's own encoding. FILLER is `*`, a
non-digit in every encoding netwatch decodes (ASCII/UTF-16 `*`, EBCDIC 0x5C, percent `%2A`, hex
`2a`, and the BCD pad nibble F), so a masked number keeps at most six digits in a row and can never
form a 12-19 digit number, Luhn-valid or not. Encodings that cannot be masked digit by digit (a
base64 run whose re-encoding would not keep its length, gzip/deflate bodies) are overwritten whole
and the caller is told so through `notes`.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable

from netwatch.protocols.card_search import Hit, scan
from netwatch.redaction.masking import keep_mask

FILLER = ord("*")
EBCDIC_FILLER = 0x5C  # '*' in cp500
B64_FILLER = ord("A")  # keeps a base64 run valid base64; decodes to zero bytes, never digits
BCD_FILLER = "f"  # the pad nibble: not a digit
TRACK2_MAX = 37  # characters of track 2 data after the start sentinel
ROUNDS = 3

Encoder = Callable[[int, int], bytes]  # (decoded byte, source span length) -> replacement bytes


class View:
    """A decoded layer over a slice of a buffer: `text[i]` came from `buf[spans[i][0]:spans[i][1]]`."""

    def __init__(self, text: bytes, spans: list[tuple[int, int]], encode: Encoder) -> None:
        self.text = bytearray(text)
        self.original = bytes(text)
        self.spans = spans
        self.encode = encode

    def write_back(self, buf: bytearray) -> None:
        for i, (old, new) in enumerate(zip(self.original, self.text, strict=True)):
            if old != new:
                s, e = self.spans[i]
                rep = self.encode(new, e - s)
                if len(rep) == e - s:
                    buf[s:e] = rep
                else:
                    buf[s:e] = bytes([FILLER]) * (e - s)


def fill(buf: bytearray, s: int, e: int) -> None:
    """Overwrite buf[s:e] with FILLER (same length)."""
    buf[s:e] = bytes([FILLER]) * (e - s)


_HEX = frozenset(b"0123456789abcdefABCDEF")


def fill_url(buf: bytearray, s: int, e: int) -> None:
    """FILLER over a percent-encoded value, escape by escape (`%41` -> `%2A`, FILLER's code), so the
    value keeps its length as sent and decoded: a re-scan measures the same password length."""
    i = s
    while i < e:
        if buf[i] == 0x25 and i + 3 <= e and buf[i + 1] in _HEX and buf[i + 2] in _HEX:  # %XX
            buf[i + 1 : i + 3] = b"%02X" % FILLER
            i += 3
        else:
            buf[i] = FILLER
            i += 1


def mask_cards(buf: bytearray, notes: list[str], depth: int = 0) -> int:
    """Mask every card hit `protocols.card_search.scan` finds in `buf`, repeated until none is left.
    Returns hits masked."""
    total = 0
    for _ in range(ROUNDS):
        hits = scan(bytes(buf))[0]
        if not hits:
            return total
        for h in hits:
            mask_hit(buf, h, notes, depth)
        total += len(hits)
    for h in scan(bytes(buf))[0]:  # a layer that would not mask cleanly: the whole run goes
        buf[h[0] : h[1]] = bytes([FILLER]) * (h[1] - h[0])
        notes.append(f"{h[4]} region overwritten whole")
    return total


def mask_hit(buf: bytearray, h: Hit, notes: list[str], depth: int) -> None:
    start, end, digits, kind, enc, _exp = h
    outer = enc.split("+", 1)[0]
    if outer == "ascii":
        mask_ascii(buf, start, end, digits, kind)
    elif outer == "bcd":
        mask_bcd(buf, start, end, digits, kind)
    elif outer == "base64":
        mask_base64(buf, start, end, notes, depth)
    else:
        view = _view(buf, start, end, outer)
        if view is None or depth >= 3:
            buf[start:end] = bytes([FILLER]) * (end - start)
            notes.append(f"{enc} region overwritten whole")
            return
        mask_cards(view.text, notes, depth + 1)
        view.write_back(buf)


def _view(buf: bytearray, start: int, end: int, enc: str) -> View | None:
    run = bytes(buf[start:end])
    if enc == "utf16":
        be = run[:1] == b"\0"
        n = len(run) // 2
        text = bytes(run[2 * i + be] for i in range(n))
        return View(text, [(start + 2 * i, start + 2 * i + 2) for i in range(n)],
                    (lambda c, _n: bytes([0, c])) if be else (lambda c, _n: bytes([c, 0])))
    if enc == "ebcdic":
        text = run.decode("cp500").encode("ascii", "replace")
        return View(text, [(start + i, start + i + 1) for i in range(len(run))], _ebcdic)
    if enc == "url":
        return percent_view(run, start)
    return None


def _ebcdic(c: int, _n: int) -> bytes:
    return bytes([EBCDIC_FILLER]) if c == FILLER else chr(c).encode("cp500", "replace")


PCT = re.compile(rb"%[0-9A-Fa-f]{2}|.", re.S)


def percent_view(run: bytes, start: int) -> View:
    """Percent-decoding with a span per decoded byte (`%3X` is three source bytes, a literal one)."""
    text = bytearray()
    spans = []
    for m in PCT.finditer(run):
        tok = m.group()
        text.append(int(tok[1:], 16) if len(tok) == 3 else tok[0])
        spans.append((start + m.start(), start + m.end()))
    return View(bytes(text), spans, lambda c, n: b"%%%02X" % c if n == 3 else bytes([c]))


def hex_view(run: bytes, start: int) -> View:
    """Hex pairs (DNS exfiltration labels) with a span per decoded byte."""
    n = len(run) // 2
    return View(bytes.fromhex(run[: 2 * n].decode("ascii")),
                [(start + 2 * i, start + 2 * i + 2) for i in range(n)], lambda c, _n: b"%02x" % c)


def mask_ascii(buf: bytearray, start: int, end: int, digits: str, kind: str) -> None:
    """Mask the PAN digits (grouping separators skipped) and, for track data, the rest of the track."""
    i = start
    while i < end and not 0x30 <= buf[i] <= 0x39:
        i += 1
    keep = keep_mask(len(digits))
    k = 0
    while i < len(buf) and k < len(digits):
        if 0x30 <= buf[i] <= 0x39:
            if not keep[k]:
                buf[i] = FILLER
            k += 1
        elif buf[i] not in b" -":
            break
        i += 1
    if kind == "track1":
        _mask_track1_rest(buf, i)
    elif kind == "track2":
        _mask_digits(buf, i + 1, TRACK2_MAX - len(digits) - 1)


def _mask_digits(buf: bytearray, i: int, limit: int) -> int:
    """Overwrite the digit run at `i` (at most `limit` digits); returns where it stopped."""
    stop = min(len(buf), i + max(limit, 0))
    while i < stop and 0x30 <= buf[i] <= 0x39:
        buf[i] = FILLER
        i += 1
    return i


def _mask_track1_rest(buf: bytearray, i: int) -> None:
    """Track 1 after the PAN: `^NAME^` then expiry, service code, discretionary data (all masked, `^` kept)."""
    if i >= len(buf) or buf[i] != ord("^"):
        return
    j = i + 1
    while j < len(buf) and j - i <= 27 and buf[j] != ord("^") and 0x20 <= buf[j] < 0x7F:
        buf[j] = FILLER
        j += 1
    if j < len(buf) and buf[j] == ord("^"):
        _mask_digits(buf, j + 1, 79)


def mask_bcd(buf: bytearray, start: int, end: int, digits: str, kind: str) -> None:
    """Packed BCD: middle PAN nibbles (and track-2 data after the `D` separator) become the pad nibble F."""
    stop = min(len(buf), end + 20) if kind == "track2" else end
    nib = list(bytes(buf[start:stop]).hex())
    text = "".join(nib)
    at = text.find(digits, 2)
    if at < 0:
        at = text.find(digits)
    if at < 0:
        buf[start:end] = b"\xff" * (end - start)
        return
    for i, keep in enumerate(keep_mask(len(digits))):
        if not keep:
            nib[at + i] = BCD_FILLER
    j = at + len(digits)
    if kind == "track2" and j < len(nib) and nib[j] == "d":
        j += 1
        left = TRACK2_MAX - len(digits) - 1
        while j < len(nib) and left > 0 and nib[j].isdigit():
            nib[j] = BCD_FILLER
            j += 1
            left -= 1
    buf[start:stop] = bytes.fromhex("".join(nib))


def mask_base64(buf: bytearray, start: int, end: int, notes: list[str], depth: int) -> None:
    """Decode the run, mask inside, re-encode in place: n decoded bytes re-encode to the same number
    of characters, so only 4-character groups holding masked bytes change. A run that does not
    decode is overwritten with base64 'A's, and `notes` says so."""
    run = bytes(buf[start:end])
    body = run.rstrip(b"=")
    core = body[: len(body) - 1] if len(body) % 4 == 1 else body  # a stray last character holds no byte
    urlsafe = b"-" in core or b"_" in core
    std = core.replace(b"-", b"+").replace(b"_", b"/") if urlsafe else core
    raw: bytearray | None
    try:
        raw = bytearray(binascii.a2b_base64(std + b"=" * (-len(std) % 4)))
    except (binascii.Error, ValueError):
        raw = None
    if raw is not None and depth < 3:
        mask_cards(raw, notes, depth + 1)
        out = binascii.b2a_base64(bytes(raw), newline=False).rstrip(b"=")
        if urlsafe:
            out = out.replace(b"+", b"-").replace(b"/", b"_")
        if len(out) == len(core):
            buf[start : start + len(core)] = out
            return
    buf[start : start + len(body)] = bytes([B64_FILLER]) * len(body)
    notes.append("base64 region overwritten whole")


def redact_base64_field(buf: bytearray, start: int, end: int, fix: Callable[[bytearray], None]) -> bool:
    """Decode `buf[start:end]` (standard base64), let `fix` overwrite inside it, re-encode in place.
    Returns False (and overwrites the run with 'A's) when the re-encoding would change the length."""
    run = bytes(buf[start:end])
    try:
        raw = bytearray(binascii.a2b_base64(run))
    except (binascii.Error, ValueError):
        buf[start:end] = bytes([B64_FILLER]) * len(run)
        return False
    fix(raw)
    out = binascii.b2a_base64(bytes(raw), newline=False)
    if len(out) != len(run):
        out = out.rstrip(b"=")
    if len(out) == len(run):
        buf[start:end] = out
        return True
    buf[start:end] = bytes([B64_FILLER]) * len(run)
    return False
