"""Runs of the encodings found by a cue, and what they decode to: hex dumps and other scripts' digits.

Pure functions for `card_search`: each finds its runs by one translate and a find per cue (a regex
over every candidate byte of a buffer costs ~30-40 ns a byte), reads only the runs a cue is in,
notes in `holds` a run that touches the end of the buffer (it may go on in the next chunk), and
hands each run's span and decoded bytes or text to a callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# A hex dump (a terminal's debug log of the message it sends, EMV tags, a packet): bytes as hex pairs
# with a space or colon between them, two between groups (Wireshark's 8 + 8), tcpdump's `3435 3339`,
# over lines that start with an offset (`\t0x0010:  `, `00000010  `), also lines that end in the bytes
# as text (hexdump -C `|…|`, xxd, tcpdump -X, Wireshark's hex + ASCII: a card cut over two lines is
# whole only in the joined bytes). Cue: eight such pairs in a row on one line.
_HB = rb"(?:[0-9A-Fa-f]{2}){1,2}"
HEX_DUMP_SEP = rb"(?:[ :]{1,2}|\r?\n[\t ]*(?:0x)?[0-9A-Fa-f]{4,8}:?[\t ]{1,4})"
HEX_DUMP_RE = re.compile(rb"(?<![0-9A-Za-z])" + _HB + rb"(?:" + HEX_DUMP_SEP + _HB + rb"){5,1023}(?![0-9A-Za-z])")
HEX_DUMP_SEP_RE = re.compile(HEX_DUMP_SEP)
T_HEX_DUMP = bytes(0x68 if c in b"0123456789abcdefABCDEF" else 0x73 if c in b" :\t\r\nx" else 0x2E for c in range(256))
HEX_DUMP_CUES = (b"hhs" * 8, b"hhhhs" * 4)
MAX_DUMP = 1 << 16  # bytes a dump may run on past the line its cue is in
# between two lines of a dump that writes its text column: that column (after the padding of a short
# line), the line break, the next offset
DUMP_TEXT_GAP = re.compile(rb"[ \t]{1,64}(?:\|[\x20-\x7e]{1,17}\||[\x20-\x7e]{1,17})[ \t]*\r?\n"
                           rb"[\t ]*(?:0x)?[0-9A-Fa-f]{4,8}:?[\t ]{1,4}")
DUMP_TEXT_TAIL = re.compile(rb"[ \t]{1,64}(?:\|[\x20-\x7e]{1,17}\||[\x20-\x7e]{1,17})(?=\r?\n|$)")  # the last one
DUMP_LINE_RE = re.compile(_HB + rb"(?:[ :]{1,2}" + _HB + rb"){0,31}(?![0-9A-Za-z])")  # one line's bytes
MAX_DUMP_LINES = 4096
DUMP_LINE_BYTES = 16
HEX_TOKEN = re.compile(rb"[0-9A-Fa-f]+")
# decimal digits of other scripts in UTF-8 (fullwidth U+FF10-FF19 from CJK input methods, Arabic-Indic
# U+0660-0669, Extended Arabic-Indic U+06F0-06F9), which int() and NFKC read as 0-9; a run holds one
_UDIGIT = rb"(?:\xef\xbc[\x90-\x99]|\xd9[\xa0-\xa9]|\xdb[\xb0-\xb9]|[0-9])"
_USEP = rb"(?:[ -]|\xe3\x80\x80|\xef\xbc\x8d)"  # and a space, dash, ideographic space, fullwidth dash
# its cue: four such digits in a row (a card's shortest group), by translate + find; the run around
# the cue is read over the ASCII digits and separators too ('.' ends it)
T_UDIGIT = bytes(0x46 if c == 0xEF else 0x43 if c == 0xBC else 0x39 if 0x90 <= c <= 0x99 else 0x44 if c == 0xD9
                 else 0x41 if 0xA0 <= c <= 0xA9 else 0x42 if c == 0xDB else 0x62 if 0xB0 <= c <= 0xB9
                 else 0x30 if 0x30 <= c <= 0x39 else 0x73 if c in b" -\xe3\x80\x8d" else 0x2E for c in range(256))
UDIGIT_CUES = (b"FC9" * 4, b"DA" * 4, b"Bb" * 4)
UDIGIT_BEFORE = 96  # bytes before a cue where its run may start (ASCII digits typed first)
UDIGIT_RE = re.compile(_UDIGIT + rb"(?:" + _USEP + rb"?" + _UDIGIT + rb"){11,40}")
UDIGIT_ASCII = {**{0xFF10 + i: 0x30 + i for i in range(10)}, **{0x0660 + i: 0x30 + i for i in range(10)},
                **{0x06F0 + i: 0x30 + i for i in range(10)}, 0x3000: 0x20, 0xFF0D: 0x2D}

Read = Callable[[int, int, bytes], None]  # (run start, run end, decoded bytes)
ReadText = Callable[[int, int, str], None]  # (run start, run end, the digits as ASCII, other text kept)


def hex_dumps(buf: bytes, holds: list[int], read: Read) -> None:
    """Each hex dump run in `buf` (only where a cue is), decoded."""

    def runs(start: int, end: int) -> int:
        pos = start
        while (m := HEX_DUMP_RE.search(buf, pos, end)) is not None:
            if m.end() == end and end < len(buf):  # it may run on over the next lines
                m = HEX_DUMP_RE.match(buf, m.start(), min(len(buf), end + MAX_DUMP)) or m
            pos, data = _dump(buf, m)
            if pos >= len(buf) - 40:  # the next line's text column and offset may be all that is left
                holds.append(m.start())
            read(m.start(), pos, data)
        return max(pos, end)

    cued(buf.translate(T_HEX_DUMP), HEX_DUMP_CUES, runs, 4)


def _dump(buf: bytes, m: re.Match[bytes]) -> tuple[int, bytes]:
    """Where the dump that `m` starts ends, over the lines of a dump that writes its text column too
    (to the end of its last text column: evidence overwrites the run, and the columns hold the card's
    digits a line at a time), and the bytes it writes."""
    end = m.end()
    gap = _column(buf, max(m.start(), buf.rfind(b"\n", m.start(), end) + 1), end, DUMP_TEXT_GAP)
    if gap is not None:
        end = gap.start()
    parts = [_pairs(buf[m.start() : end])]
    for _ in range(MAX_DUMP_LINES):
        line = DUMP_LINE_RE.match(buf, gap.end()) if gap else None
        if line is None:
            break
        gap = _column(buf, line.start(), line.end(), DUMP_TEXT_GAP)
        end = gap.start() if gap else line.end()
        parts.append(_pairs(buf[line.start() : end]))
        if gap is None and len(parts) > 1 and (tail := _column(buf, line.start(), line.end(), DUMP_TEXT_TAIL)):
            end = tail.end()
    return end, b"".join(parts)


def _column(buf: bytes, line: int, end: int, column: re.Pattern[bytes]) -> re.Match[bytes] | None:
    """The text column after a dump line's bytes (`buf[line:end]`, read greedily), also when the
    column starts with characters that read as one more hex group: then the line is cut back to its
    sixteen bytes, the most a dump writes on one line."""
    found = column.match(buf, end)
    if found is None:
        count = 0
        for token in HEX_TOKEN.finditer(buf, line, end):
            count += len(token.group()) // 2
            if count >= DUMP_LINE_BYTES:
                if token.end() < end:
                    found = column.match(buf, token.end())
                break
    return found


def hex_dump_bytes(run: bytes) -> bytes:
    """The bytes a hex dump run (as `hex_dumps` reads it) writes; ValueError if `run` is no dump."""
    m = HEX_DUMP_RE.match(run)
    if m is None:
        return _pairs(run)
    return _dump(run, m)[1]


def _pairs(run: bytes) -> bytes:
    """The bytes of hex pairs with separators and line offsets between them."""
    if b"\n" not in run:
        return bytes.fromhex(run.translate(None, b" :").decode("ascii"))
    return bytes.fromhex(HEX_DUMP_SEP_RE.sub(b"", run).decode("ascii"))


def unicode_digit_runs(buf: bytes, holds: list[int], read: ReadText) -> None:
    """Each run of digits that holds another script's digits (a cue's four in a row), as ASCII digits."""
    if b"\xef\xbc" not in buf and b"\xd9" not in buf and b"\xdb" not in buf:
        return

    def runs(start: int, end: int) -> int:
        for m in UDIGIT_RE.finditer(buf, start, end):
            if not m.group().isascii():  # (the ASCII layer read the others)
                if m.end() >= len(buf) - 3:
                    holds.append(m.start())
                read(m.start(), m.end(), m.group().decode("utf-8", "replace").translate(UDIGIT_ASCII))
        return end

    cued(buf.translate(T_UDIGIT), UDIGIT_CUES, runs, UDIGIT_BEFORE)


def cued(t: bytes, cues: tuple[bytes, ...], read: Callable[[int, int], int], before: int = 0) -> None:
    """Call `read(start, end)` on each run of `t` (a translated buffer, '.' outside runs) that holds
    one of `cues`, `before` bytes wider on the left; `read` returns where it stopped reading (a dump
    may run on past the run). Each cue is searched again only once passed: linear in the buffer."""
    n = len(t)
    nxt = [t.find(c) for c in cues]
    pos = 0
    while True:
        for i, q in enumerate(nxt):
            if 0 <= q < pos:
                nxt[i] = t.find(cues[i], pos)
        found = [q for q in nxt if q >= 0]
        if not found:
            return
        cue = min(found)
        end = t.find(b".", cue)
        end = n if end < 0 else end
        pos = max(read(max(pos, cue - before), end), cue + 1)
