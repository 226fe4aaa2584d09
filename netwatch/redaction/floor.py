"""The conservative floor under evidence redaction: whatever the detectors saw or missed, no run
of payload bytes that could be a card number, in any encoding the card scanner knows, and no
track-data tail stays in an evidence file.

Wider than the card scanner on purpose (over-redaction in evidence is cheap, a card left whole is
a breach): any 13-19 digit window not starting with 0 that passes Luhn, whatever its issuer
prefix, grouped or not (by space, dash, `+` or `%20`), as ASCII, UTF-16 and UTF-32 (either order),
EBCDIC, percent-encoded, hex text (also a dump with spaces or colons between bytes), another script's
digits in UTF-8 (fullwidth, Arabic-Indic), packed BCD where its structure says so (track 2, a length byte, EMV
tags), and base64 (across line breaks) of any of those; and after a 12-19 digit run, a track-2
tail (`=`/`D` then digits) or track-1 tail (`^NAME^` then digits). A run found is overwritten
whole in its own encoding (no first six / last four kept); `holds_card` is the same search as a
yes/no, the final check on a written evidence file.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterator

from netwatch.protocols.card_numbers import luhn_ok

MAX_RUN = 64  # digits: a longer run is overwritten whole without looking for windows
B64_MIN = 20  # base64 characters: 13 digits encode to at least 18
MAX_DEPTH = 2

Piece = tuple[int, int, bytes]  # source start, end, replacement (same length)
_SEP = rb"(?:[ \-+]|%20|%2[bBdD])?"
ASCII = re.compile(rb"[0-9](?:" + _SEP + rb"[0-9]){11,}")
PCT = re.compile(rb"(?:%3[0-9]|[0-9])(?:" + _SEP + rb"(?:%3[0-9]|[0-9])){11,}")
UTF16LE = re.compile(rb"[0-9]\x00(?:(?:[ \-]\x00)?[0-9]\x00){11,}")
UTF16BE = re.compile(rb"\x00[0-9](?:(?:\x00[ \-])?\x00[0-9]){11,}")
EBCDIC = re.compile(rb"[\xf0-\xf9](?:[\x40\x60]?[\xf0-\xf9]){11,}")
HEXTXT = re.compile(rb"3[0-9](?:[ :]{0,2}3[0-9]){11,}")
UTF32LE = re.compile(rb"[0-9]\x00\x00\x00(?:(?:[ \-]\x00\x00\x00)?[0-9]\x00\x00\x00){11,}")
UTF32BE = re.compile(rb"\x00\x00\x00[0-9](?:(?:\x00\x00\x00[ \-])?\x00\x00\x00[0-9]){11,}")
_UDIGIT = rb"\xef\xbc[\x90-\x99]|\xd9[\xa0-\xa9]|\xdb[\xb0-\xb9]|[0-9]"  # fullwidth, Arabic-Indic, Persian
UDIGITS = re.compile(rb"(?:" + _UDIGIT + rb")(?:(?:[ \-]|\xe3\x80\x80|\xef\xbc\x8d)?(?:" + _UDIGIT + rb")){11,}")
BCD_TRACK2 = re.compile(r"(?<![0-9])[1-9][0-9]{11,18}d[0-9]{4,40}")
_BCD = rb"[\x00-\x09\x10-\x19\x20-\x29\x30-\x39\x40-\x49\x50-\x59\x60-\x69\x70-\x79\x80-\x89\x90-\x99]"
BCD_LENGTH = re.compile(rb"[\x0c-\x19](?=" + _BCD + rb"{6})")  # a length byte before 12+ decimal nibbles
PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\r\n"
EMV_TAG = re.compile(rb"(?:[\x5a\x57]|\x9f\x6b)[\x06-\x13]")
# a run of 16+ characters, then more lines of it (MIME and PEM break lines at 64 or 76)
B64 = re.compile(rb"[A-Za-z0-9+/_-]{16,}(?:(?:\r?\n|\\n)?[A-Za-z0-9+/_-]{4,})*={0,2}")
MASKED_PAN = re.compile(rb"(?<![0-9*])[0-9]{4,6}\*{2,9}[0-9]{4}(?=[=^%])")
TRACK2_TAIL = re.compile(rb"(?:=|D|%3[dD])(?:[0-9*]|%3[0-9]|%2[aA]){1,40}\??")
TRACK1_TAIL = re.compile(rb"(?:\^|%5[eE])(?:[^^%\r\n]|%(?!5[eE])[0-9A-Fa-f]{2}){0,26}(?:\^|%5[eE])"
                         rb"(?:[0-9*]|%3[0-9]|%2[aA]){1,80}\??")


def _suspect(digits: str) -> bool:
    """A run that could hold a card number: some 13-19 digit window not starting with 0 (no card
    number does) passes Luhn; or it is very long and not one digit repeated (filler, padding)."""
    n = len(digits)
    if n > MAX_RUN:
        return len(set(digits)) > 1
    return any(digits[i] != "0" and luhn_ok(digits[i : i + k])
               for k in range(13, min(19, n) + 1) for i in range(n - k + 1))


def _digit_spans(run: bytes, start: int, pattern: bytes, at: int = -1) -> list[tuple[int, int, str]]:
    """Each digit of a matched run: its source span and value (`pattern` finds one digit token,
    whose digit is its byte `at`)."""
    return [(start + m.start(), start + m.end(), chr(m.group()[at])) for m in re.finditer(pattern, run)]


def _text_pieces(buf: bytes) -> Iterator[tuple[list[tuple[int, int, str]], Callable[[int], bytes]]]:
    """Digit runs of the text-like encodings, each with its digits' spans and a filler maker."""
    for m in ASCII.finditer(buf):
        yield _digit_spans(m.group(), m.start(), rb"[0-9]"), lambda n: b"*" * n
    if b"%3" in buf:
        for m in PCT.finditer(buf):
            if b"%3" in m.group():
                yield _digit_spans(m.group(), m.start(), rb"%3[0-9]|[0-9]"), lambda n: b"%2A" if n == 3 else b"*"
    if b"\x00" in buf:
        yield from _wide_pieces(buf, WIDE[:2])
    for m in EBCDIC.finditer(buf):
        yield [(s, e, chr(ord(c) - 0xC0)) for s, e, c in _digit_spans(m.group(), m.start(), rb"[\xf0-\xf9]")], \
            lambda n: b"\x5c"
    for m in HEXTXT.finditer(buf):
        yield _digit_spans(m.group(), m.start(), rb"3[0-9]"), lambda n: b"2a"
    if b"\x00\x00\x00" in buf:
        yield from _wide_pieces(buf, WIDE[2:])
    if b"\xef\xbc" in buf or b"\xd9" in buf or b"\xdb" in buf:
        for m in UDIGITS.finditer(buf):
            if not m.group().isascii():  # (ASCII runs are read above)
                yield [(m.start() + d.start(), m.start() + d.end(), str(int(d.group().decode()))) for d in
                       re.finditer(_UDIGIT, m.group())], lambda n: b"*" * n


# UTF-16 and UTF-32 digits: the run, one digit's code unit, where the digit sits in it, the filler unit
WIDE = ((UTF16LE, rb"[0-9]\x00", 0, b"*\x00"), (UTF16BE, rb"\x00[0-9]", 1, b"\x00*"),
        (UTF32LE, rb"[0-9]\x00\x00\x00", 0, b"*\x00\x00\x00"), (UTF32BE, rb"\x00\x00\x00[0-9]", 3, b"\x00\x00\x00*"))


def _wide_pieces(buf: bytes, kinds: tuple[tuple[re.Pattern[bytes], bytes, int, bytes], ...]) -> Iterator[
        tuple[list[tuple[int, int, str]], Callable[[int], bytes]]]:
    for run, unit, at, filler in kinds:
        for m in run.finditer(buf):
            yield _digit_spans(m.group(), m.start(), unit, at), _unit(filler)


def _unit(filler: bytes) -> Callable[[int], bytes]:
    return lambda _n: filler


def _nibble_piece(buf: bytes, nib: str, lo: int, hi: int) -> Piece:
    """Nibbles lo..hi of `buf` (as `nib`, its hex) set to the pad F, as a piece over whole bytes."""
    s, e = lo // 2, (hi + 1) // 2
    out = list(nib[2 * s : 2 * e])
    for i in range(lo - 2 * s, hi - 2 * s):
        out[i] = "f"
    return s, e, bytes.fromhex("".join(out))


def _bcd_pieces(buf: bytes) -> Iterator[Piece]:
    """Packed BCD where its structure says digits are a number, as the card scanner reads BCD (in
    free binary a 13-digit nibble run is too common: ASCII letters are decimal-nibble bytes), but
    without the scanner's issuer-prefix test: track 2 (12-19 digits passing Luhn, the `D` separator,
    4+ digits), a length byte (BCD or binary 12-19) before that many digits passing Luhn, the EMV
    tags 5A/57/9F6B. Overwritten with the pad nibble F."""
    nib = buf.hex()
    for t in BCD_TRACK2.finditer(nib):  # in binary bytes: the hex of ASCII text is decimal nibbles too
        # a card's number passes Luhn; without it BER headers (a length byte 0x?d) and base64 read at
        # a shifted alignment matched, and evidence lost the LDAP bind or the SASL user it showed
        number = t.group()[: t.group().index("d")]
        binary = len(buf[t.start() // 2 : (t.end() + 1) // 2].translate(None, PRINTABLE)) >= 2
        if binary and (luhn_ok(number) or _suspect(number)):
            yield _nibble_piece(buf, nib, t.start(), t.end())
    for m in BCD_LENGTH.finditer(buf):
        i = m.start()
        b = buf[i]
        for n in {b, int(f"{b:02x}")} if f"{b:02x}".isdigit() else {b}:
            lo = 2 * (i + 1)
            digits = nib[lo : lo + n]
            if 12 <= n <= 19 and len(digits) == n and digits.isdigit() and digits[0] != "0" and luhn_ok(digits):
                yield _nibble_piece(buf, nib, lo, lo + n)
    for tag in EMV_TAG.finditer(buf):
        lo = 2 * tag.end()
        run = re.match(r"[0-9]{12,}", nib[lo : lo + 2 * tag.group()[-1]])
        if run:
            yield _nibble_piece(buf, nib, lo, lo + run.end())


def find(buf: bytes, depth: int = 0) -> list[Piece]:
    """Every run of `buf` the floor overwrites, with its replacement."""
    pieces: list[Piece] = []
    for digits, fill in _text_pieces(buf):
        value = "".join(c for _s, _e, c in digits)
        if len(value) >= 12 and _track_tail(buf, digits[-1][1], pieces) or _suspect(value):
            pieces.extend((s, e, fill(e - s)) for s, e, _c in digits)
    for m in MASKED_PAN.finditer(buf):  # a number already masked can still have its track tail
        _track_tail(buf, m.end(), pieces)
    pieces.extend(_bcd_pieces(buf))
    if depth < MAX_DEPTH:
        pieces.extend(_base64_pieces(buf, depth))
    return pieces


def _track_tail(buf: bytes, at: int, pieces: list[Piece]) -> bool:
    """A track-data tail right after a digit run (`=` or `D` and digits; `^NAME^` and digits):
    overwritten whole (separators but digits and name characters alike). True when there is one."""
    m = TRACK2_TAIL.match(buf, at) or TRACK1_TAIL.match(buf, at)
    if m is None or not re.search(rb"[0-9]{4}|(?:%3[0-9]){4}", m.group()):
        return False
    pieces.append((m.start(), m.end(), b"*" * (m.end() - m.start())))
    return True


def _base64_pieces(buf: bytes, depth: int) -> Iterator[Piece]:
    """Base64 runs (line breaks allowed inside) whose decoded bytes, at any alignment, hold a run
    the floor would overwrite: the run's characters become 'A' (line breaks stay)."""
    for m in B64.finditer(buf):
        run = m.group()
        chars = re.sub(rb"\r?\n|\\n", b"", run).rstrip(b"=")
        if len(chars) < B64_MIN or chars.isdigit():
            continue
        std = chars.replace(b"-", b"+").replace(b"_", b"/")
        for shift in _shifts(std):
            body = std[shift:]
            body = body[: len(body) - len(body) % 4]
            try:
                raw = binascii.a2b_base64(body)
            except (binascii.Error, ValueError):
                continue
            if find(raw, depth + 1):
                yield m.start(), m.end(), re.sub(rb"[^\r\n\\=]", b"A", run)
                break


def _shifts(std: bytes) -> range:
    """The alignments a base64 run is decoded at: all four (the run may begin inside other text), but
    only its own when it decodes there to a token whose start fixes it (an NTLMSSP message: an HTTP
    or SASL NTLM token, its binary read at other alignments is noise that looks like BCD)."""
    try:
        head = binascii.a2b_base64(std[:12])
    except (binascii.Error, ValueError):
        return range(4)
    return range(1) if head.startswith(b"NTLMSSP\x00") else range(4)


def overwrite_floor(buf: bytearray, notes: list[str]) -> int:
    """Overwrite every run `find` names; returns how many."""
    pieces = find(bytes(buf))
    for s, e, rep in pieces:
        buf[s:e] = rep
    if pieces:
        notes.append("possible card data overwritten whole (conservative floor)")
    return len(pieces)


def holds_card(data: bytes) -> bool:
    """Whether anything in `data` could still be card or track data, by the floor's reading."""
    return bool(find(data))
