"""Card numbers and track data in bytes, in every encoding a POS link uses. Pure functions.

`scan(buf)` returns hits `(start, end, digits, kind, encoding, expiry_present)` with offsets into
`buf` (for a decoded layer: the span of the encoded run) and `hold`, the earliest offset of a run
that touches the end of `buf` and may go on in the next chunk. Full numbers stay inside the hit
tuples; callers mask them at once.

Cost model: one compiled regex over the chunk per encoding, and the expensive decoders (base64,
percent, UTF-16, EBCDIC, packed BCD) only where a cheap trigger matched. Text chunks skip the binary
encodings entirely.

Encodings: ascii, utf16 (LE or BE), ebcdic (cp500, digits 0xF0-0xF9), bcd (packed, only with
context: an ISO 8583 LL length byte, EMV tag 5A/57, or a track-2 `D` separator followed by the
expiry), base64 (standard or URL alphabet, also wrapped over lines), url (percent-encoding), form
(`+` for a space), qp (quoted-printable), json-escape (`\\u0034`), html-entity (`&#52;`, `&nbsp;`),
hex (DNS labels; and anywhere, ASCII digits written as hex text: `34353339…`; a hex dump's bytes, read
like a payload), utf32 (LE or BE), unicode-digits (UTF-8 text in fullwidth `４５３９…` or
Arabic-Indic digits), base32 and base32hex (DNS labels); the text layers are in card_layers, the
runs of hex dumps and other scripts' digits in card_runs. Layers nest up to two
deep and are named outermost first, e.g. `url+base64`; `ascii` is dropped once wrapped.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from urllib.parse import unquote_to_bytes

from netwatch.protocols.card_layers import b64_block, b64_lines, decode_base64, escapes, form, qp
from netwatch.protocols.card_numbers import card_brand, split_track2
from netwatch.protocols.card_runs import cued, hex_dumps, unicode_digit_runs

Hit = tuple[int, int, str, str, str, bool]  # start, end, digits, kind, encoding, expiry_present

PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\r\n"
MAX_DEPTH = 2

_NAME = rb"[\x20-\x5d\x5f-\x7e]"  # track 1 name characters (printable, no '^')
# digits after a grouped number that are its expiry (`… 1486 12/28`), not one more group of it
_NOT_EXPIRY = rb"(?![0-9]{1,2}/)"
ASCII_RE = re.compile(
    rb"(?<![0-9A-Za-z])%?B(?P<t1>[0-9]{12,19})\^" + _NAME + rb"{2,26}\^(?P<t1e>[0-9]{4})?"
    rb"|;(?P<t2s>[0-9]{12,19})[=D](?P<t2se>[0-9]{4})?"
    rb"|(?<![0-9+])(?P<t2>[0-9]{12,19})[=D](?P<t2e>[0-9]{4})[0-9]{3}"
    rb"|(?<![0-9+])(?P<pan>[0-9]{12,19})(?![0-9])"
    rb"|(?<![0-9+])(?P<grp>[0-9]{4}(?P<s1>[ -])[0-9]{4}(?P=s1)[0-9]{4}(?:(?P=s1)" + _NOT_EXPIRY + rb"[0-9]{1,7}"
    rb"(?:(?P=s1)" + _NOT_EXPIRY + rb"[0-9]{1,3})?)?"
    rb"|[0-9]{4}(?P<s2>[ -])[0-9]{6}(?P=s2)[0-9]{4,5})(?![0-9]|[ -]" + _NOT_EXPIRY + rb"[0-9])"  # 4-4-4-4(-3), 4-6-5
)
SEP_RE = re.compile(rb"[ -]")

B64_RE = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")  # standard or URL-safe alphabet
PCT_RE = re.compile(rb"(?:%[0-9A-Fa-f]{2}|[0-9A-Za-z._~+/=;^ -]){12,}")
# ASCII digits (and the spaces or dashes between groups) written as hex text: `34353339…`, every other
# character a '3' — a hex dump in a log line, an ASCII ISO 8583 field hex-encoded in JSON. A misread
# alignment breaks at once ('43 53 …'), and 13 such pairs in a row do not occur in digests or numbers.
HEX_TEXT_RE = re.compile(rb"(?:3[0-9]|2[0dD]){13,64}")
# its trigger: such a run is 26+ characters of decimal digits (and the 'd' of a dash), found by one
# translate + find (a regex over every '3' of a buffer cost ~15 ms per MB of text)
T_HEX_TEXT = bytes(0x30 if 0x30 <= c <= 0x39 or c in b"dD" else 0x2E for c in range(256))
HEX_TEXT_CUE = b"0" * 26
UTF32_RE = re.compile(rb"(?:[\x20-\x7e]\x00\x00\x00){12,}|(?:\x00\x00\x00[\x20-\x7e]){12,}")
UTF16_RE = re.compile(rb"(?:[\x20-\x7e]\x00){12,}|(?:\x00[\x20-\x7e]){12,}")
EBCDIC_HINT = re.compile(rb"[\xf0-\xf9]{4}[\x40\x60]?[\xf0-\xf9]{4}")
_BCD = rb"[\x00-\x09\x10-\x19\x20-\x29\x30-\x39\x40-\x49\x50-\x59\x60-\x69\x70-\x79\x80-\x89\x90-\x99]"
BCD_LL_RE = re.compile(rb"(?=[\x12-\x19]" + _BCD + rb"{6})")
EMV_RE = re.compile(rb"[\x57\x5a][\x06-\x13]")
_DSEP_ODD = rb"[\x0d\x1d\x2d\x3d\x4d\x5d\x6d\x7d\x8d\x9d]"  # odd-length PAN: D in the low nibble
BCD_D_RE = re.compile(
    rb"(?=(?:" + _BCD + rb"{6,10}[\xd0-\xd9]|" + _BCD + rb"{5,9}" + _DSEP_ODD + rb")" + _BCD + rb"{2})"
)


def wrap(outer: str, inner: str) -> str:
    return outer if inner == "ascii" else f"{outer}+{inner}"


def _table(mapping: dict[bytes, bytes], default: bytes = b".") -> bytes:
    t = bytearray(default * 256)
    for chars, mark in mapping.items():
        for c in chars:
            t[c] = mark[0]
    return bytes(t)


# translate() tables for the prefilters: C-speed class mapping, then bytes.find for a run.
T_DIGITS = _table({b"0123456789": b"0", b" -": b"-"})
T_B64 = _table({b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-": b"b"})
B64_MIN = b"b" * 16
T_U16 = _table({b"0123456789": b"0", b"\x00": b"z"})
# text in wide code units: the encoding's name, its run, bytes per unit, the cues in `T_U16`'s translation
WIDE = (("utf16", UTF16_RE, 2, (b"0z0z0z0z", b"z0z0z0z0")),
        ("utf32", UTF32_RE, 4, (b"0zzz0zzz0zzz0zzz", b"zzz0zzz0zzz0zzz0")))
T_EBC = _table({bytes(range(0xF0, 0xFA)): b"e"})
T_BCD = _table({bytes(hi << 4 | lo for hi in range(10) for lo in range(10)): b"d"})
WINDOW_BEFORE, WINDOW_AFTER = 48, 40  # around a digit run: '%B' + PAN before, name + expiry after
DIGIT_RUNS = (b"0" * 12, b"0000-0000-0000", b"0000-000000-0000")  # every ASCII form holds one of these


def ascii_hits(buf: bytes, hits: list[Hit], enc: str, structured: bool = False) -> None:
    """ASCII forms, searched only in windows around 12-digit runs or grouped digits (translate + find)."""
    t = buf.translate(T_DIGITS)
    n = len(buf)

    def window(start: int, run_end: int) -> int:
        we = min(n, run_end + WINDOW_AFTER)
        if we < n and t[we] != 46:  # do not cut a digit run at the window's end
            we = t.find(b".", we)
            we = n if we < 0 else we
        for m in ASCII_RE.finditer(buf, start, we):
            _ascii_hit(m, hits, enc, structured)
        return we

    cued(t, DIGIT_RUNS, window, WINDOW_BEFORE)


def _ascii_hit(m: re.Match[bytes], hits: list[Hit], enc: str, structured: bool) -> None:
    if m.group("t1"):
        digits, kind, exp = m.group("t1"), "track1", m.group("t1e") is not None
    elif m.group("t2s"):
        digits, kind, exp = m.group("t2s"), "track2", m.group("t2se") is not None
    elif m.group("t2"):
        if not _expiry_service_ok(m.group()[len(m.group("t2")) + 1 :].decode("ascii")):
            return  # digits=digits that are not a card's expiry and service code
        digits, kind, exp = m.group("t2"), "track2", True
    else:
        digits = m.group("pan") or SEP_RE.sub(b"", m.group("grp"))
        kind, exp = "pan", False
    d = digits.decode("ascii")
    if card_brand(d, structured or kind != "pan"):
        hits.append((m.start(), m.end(), d, kind, enc, exp))


def _bcd_digits(nibbles: str) -> str | None:
    """Digits of a BCD PAN with an optional trailing F pad, else None."""
    s = nibbles[:-1] if nibbles.endswith("f") else nibbles
    return s if s.isdigit() else None


def _bcd_ok(d: str | None) -> bool:
    """Packed BCD outside ISO 8583 is judged strictly: real binary protocols are full of zero bytes,
    so 12-13 digit numbers, runs of six zeros and non-Luhn UnionPay numbers are not cards here."""
    return d is not None and len(d) >= 14 and d.isdigit() and "000000" not in d and card_brand(d) is not None


def _expiry_service_ok(after: str) -> bool:
    """YYMM with a real month, then a service code whose first digit ISO 7813 defines."""
    return len(after) >= 5 and after[:5].isdigit() and "01" <= after[2:4] <= "12" and after[4] in "125679"


def _bcd(buf: bytes, hits: list[Hit]) -> None:
    for m in EMV_RE.finditer(buf):
        tag, ln = buf[m.start()], buf[m.start() + 1]
        val = buf[m.end() : m.end() + ln]
        if len(val) != ln:
            continue
        h = val.hex()
        if tag == 0x5A and ln <= 10:
            d = _bcd_digits(h)
            if d and _bcd_ok(d):
                hits.append((m.start(), m.end() + ln, d, "pan", "bcd", False))
        elif tag == 0x57:
            t = split_track2(h)
            if t and _bcd_ok(t[0]) and _expiry_service_ok(h[len(t[0]) + 1 :]):
                hits.append((m.start(), m.end() + ln, t[0], "track2", "bcd", t[1]))
    for m in BCD_LL_RE.finditer(buf):
        s = m.start()
        n = int(f"{buf[s]:x}")
        nb = (n + 1) // 2
        h = buf[s + 1 : s + 1 + nb].hex()
        if len(h) < n:
            continue
        if n & 1 and h[-1] not in "f0":
            continue
        d = h[:n]
        if _bcd_ok(d):
            hits.append((s, s + 1 + nb, d, "pan", "bcd", False))
    last_end = -1
    for m in BCD_D_RE.finditer(buf):
        s = m.start()
        if s < last_end:
            continue
        h = buf[s : s + 16].hex()
        t = split_track2(h)
        if t is None or not _bcd_ok(t[0]) or not _expiry_service_ok(h[len(t[0]) + 1 :]):
            continue
        end = s + (len(t[0]) + 5) // 2 + 2
        if not buf[s:end].translate(None, PRINTABLE):
            continue  # ASCII text (digits then '=' or '-'), not packed BCD
        last_end = end
        hits.append((s, end, t[0], "track2", "bcd", True))


def _base64(buf: bytes, hits: list[Hit], depth: int, holds: list[int]) -> None:
    n = len(buf)
    t = buf.translate(T_B64)
    pos = t.find(B64_MIN)
    while pos >= 0:
        m = B64_RE.match(buf, pos)
        if m is None:  # cannot happen (same character class); stay safe
            break
        pos = t.find(B64_MIN, m.end())
        run = m.group()
        if m.end() < n and buf[m.end()] in b"\r\n" and (lines := b64_block(buf, m.start(), m.end())):
            if lines[-1][1] >= n - 1:
                holds.append(m.start())
            b64_lines(buf, lines, hits, lambda raw: _sub(raw, depth))
            pos = t.find(B64_MIN, lines[-1][1])
            continue
        if m.end() >= n - 1:
            holds.append(m.start())
        if b"M" not in run and b"N" not in run and b"O" not in run:
            continue  # base64 of ASCII digits always has M, N or O every four characters
        raw = decode_base64(run)
        if raw is None:
            continue
        _inner(raw, "base64", m.start(), m.end(), hits, depth)


def _inner(raw: bytes, enc: str, start: int, end: int, hits: list[Hit], depth: int) -> None:
    for _s, _e, d, kind, e, exp in _sub(raw, depth):
        hits.append((start, end, d, kind, wrap(enc, e), exp))


def _sub(raw: bytes, depth: int) -> list[Hit]:
    """Hits in a decoded layer, one level deeper (offsets into `raw`)."""
    sub: list[Hit] = []
    layers(raw, sub, depth + 1, [])
    return sub


def _ascii_only(raw: bytes) -> list[Hit]:
    sub: list[Hit] = []
    ascii_hits(raw, sub, "ascii")
    return sub


def _has(t: bytes, *needles: bytes) -> bool:
    return any(x in t for x in needles)


def _decoded(text: str, enc: str, start: int, end: int, hits: list[Hit]) -> None:
    """ASCII-scan text decoded from a UTF-16 or EBCDIC run; hits get the run's span."""
    sub: list[Hit] = []
    ascii_hits(text.encode("ascii", "replace"), sub, enc)
    hits.extend((start, end, d, k, e, x) for _a, _b, d, k, e, x in sub)


def _hex_dump(buf: bytes, hits: list[Hit], holds: list[int]) -> None:
    """Bytes written as a hex dump, decoded and read like a payload (packed BCD, ASCII digits, …)."""

    def read(start: int, end: int, raw: bytes) -> None:
        if b"dddddd" in raw.translate(T_BCD) or b"eeee" in raw.translate(T_EBC):  # digits of some kind
            sub: list[Hit] = []
            layers(raw, sub, MAX_DEPTH, [])  # a dump's bytes, not another text layer
            if sub:  # the number in a text column repeats the dump's bytes: judged in those, whole
                numbers = {h[2] for h in sub}
                hits[:] = [h for h in hits if not (h[2] in numbers and start <= h[0] and h[1] <= end)]
            hits.extend((start, end, d, k, wrap("hex", e), x) for _a, _b, d, k, e, x in sub)

    hex_dumps(buf, holds, read)


def _unicode_digits(buf: bytes, hits: list[Hit], holds: list[int]) -> None:
    """Card numbers written in another script's digits, UTF-8 encoded: read as ASCII digits."""
    unicode_digit_runs(buf, holds, lambda start, end, text: _decoded(text, "unicode-digits", start, end, hits))


def layers(buf: bytes, hits: list[Hit], depth: int, holds: list[int]) -> None:
    """Hits in `buf` at layer `depth` (0 at the top; decoded layers go one deeper); `holds` gets the
    starts of runs that may go on in the next chunk."""
    n = len(buf)
    ascii_hits(buf, hits, "ascii")
    text = not buf.translate(None, PRINTABLE)
    if not text:
        u = buf.translate(T_U16) if b"\x00" in buf else b""
        for enc, wide_run, width, cues in WIDE:
            if _has(u, *cues):
                for m in wide_run.finditer(buf):
                    if m.end() >= n - width + 1:
                        holds.append(m.start())
                    codec = f"utf-{8 * width}-{'be' if buf[m.start()] == 0 else 'le'}"
                    _decoded(m.group().decode(codec, "replace"), enc, m.start(), m.end(), hits)
        _unicode_digits(buf, hits, holds)
        for m in EBCDIC_HINT.finditer(buf) if b"eeee" in buf.translate(T_EBC) else ():
            i, j = m.start(), m.end()
            while i > 0 and m.start() - i < 48 and 0x40 <= buf[i - 1] <= 0xFE:
                i -= 1
            while j < n and j - m.end() < 96 and 0x40 <= buf[j] <= 0xFE:
                j += 1
            if j >= n - 1:
                holds.append(i)
            _decoded(buf[i:j].decode("cp500"), "ebcdic", i, j, hits)
        if b"dddddd" in buf.translate(T_BCD):
            _bcd(buf, hits)
    if depth >= MAX_DEPTH:
        return
    _base64(buf, hits, depth, holds)
    if b"%3" in buf or b"%2" in buf or b"%5" in buf:  # encoded digits, separators, sentinels, base64
        for m in PCT_RE.finditer(buf):
            if m.end() >= n - 1:
                holds.append(m.start())
            run = m.group()
            if b"%" in run:
                _inner(unquote_to_bytes(run), "url", m.start(), m.end(), hits, depth)
    t = buf.translate(T_HEX_TEXT) if b"3" in buf else b""
    cue = t.find(HEX_TEXT_CUE)
    while cue >= 0:  # the regex reads only the runs the cue found
        end = t.find(b".", cue)
        end = n if end < 0 else end
        for m in HEX_TEXT_RE.finditer(buf, cue, end):
            if m.end() >= n - 1:
                holds.append(m.start())
            _inner(bytes.fromhex(m.group().decode()), "hex", m.start(), m.end(), hits, depth)
        cue = t.find(HEX_TEXT_CUE, end)
    if b" " in buf or b":" in buf:
        _hex_dump(buf, hits, holds)
    if depth:
        return  # the text layers below wrap whole documents: they are read at the top only
    if b"+" in buf:
        form(buf, hits, holds, _ascii_only)
    if b"=\n" in buf or b"=\r\n" in buf or b"=3" in buf:
        qp(buf, hits, holds, lambda raw: _sub(raw, depth))
    if b"\\u" in buf or b"&" in buf:
        escapes(buf, hits, holds, lambda raw: _sub(raw, depth))


def scan(buf: bytes) -> tuple[list[Hit], int]:
    """All card hits in `buf` (deduplicated, in order of their end) and the hold offset."""
    hits: list[Hit] = []
    holds: list[int] = []
    layers(buf, hits, 0, holds)
    hold = min(holds) if holds else len(buf)
    if len(hits) > 1:
        hits = dedup(hits)
    return hits, hold


def dedup(hits: list[Hit]) -> list[Hit]:
    """Drop a hit whose span overlaps an earlier kept hit of the same card (first found wins:
    plain before decoded, track before bare PAN since the ASCII regex tries tracks first).

    The kept spans of one card never overlap each other, so sorted by start they are sorted by
    end too: one bisection finds the only candidate overlap (n log n, not n² on a body that
    repeats one card thousands of times)."""
    kept: list[Hit] = []
    spans: dict[str, tuple[list[int], list[int]]] = {}  # card → (starts, ends) of kept spans, sorted
    for h in hits:
        starts, ends = spans.setdefault(h[2], ([], []))
        i = bisect_right(ends, h[0])  # first kept span ending after this one starts
        if i < len(ends) and starts[i] < h[1]:
            continue
        starts.insert(i, h[0])
        ends.insert(i, h[1])
        kept.append(h)
    kept.sort(key=lambda h: (h[1], h[0]))
    return kept
