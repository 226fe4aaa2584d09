"""Text encodings a store's traffic wraps card numbers in, beyond card_search's own: form encoding
(`+` for a space), base64 wrapped over lines (MIME 76, PEM 64; CRLF or LF), quoted-printable (soft
line breaks, `=3X` escapes), JSON `\\u00XX` escapes and XML/HTML character references. Pure functions.

Each decoder is reached only through a cheap trigger (`in`, translate + find) and decodes only what
it must: the run or window around the trigger, never a whole body for nothing. A decoded layer is
scanned by the caller's `inner` (card_search's scan one level deeper, so MAX_DEPTH bounds nesting)
and its hits are named `<encoding>+<inner encoding>` with a span in the encoded bytes.
"""

from __future__ import annotations

import binascii
import html
import re
from bisect import bisect_right
from collections.abc import Callable

Hit = tuple[int, int, str, str, str, bool]  # as card_search.Hit: start, end, digits, kind, encoding, expiry
Inner = Callable[[bytes], list[Hit]]  # the card scan of a decoded layer

MAX_LINES = 200_000  # base64 lines joined into one block (a 10 MB MIME body has ~140k)
WINDOW = 48  # bytes of context around an escape: a card with its separators and a track-2 tail
MAX_WINDOWS = 10_000  # escape windows decoded per buffer

DIGITS = b"0123456789"


def wrap(outer: str, inner: str) -> str:
    return outer if inner == "ascii" else f"{outer}+{inner}"


def _digit_count(buf: bytes) -> int:
    return len(buf) - len(buf.translate(None, DIGITS))


# -- form encoding: '+' is a space -------------------------------------------------------------------
T_FORM = bytes(0x30 if 0x30 <= c <= 0x39 else 0x70 if c == 0x2B else 0x2E for c in range(256))  # digit 0, + p
FORM_RE = re.compile(rb"(?<![0-9])[0-9]{4}(?:\+[0-9]{1,7}){2,4}(?![0-9])")


def form(buf: bytes, hits: list[Hit], holds: list[int], ascii_only: Inner) -> None:
    """Digit groups joined by '+' (a card typed with spaces into an HTML form). A hit must span a '+':
    a bare digit run between pluses is the plain scan's (and a '+'-joined list of codes is not a card)."""
    t = buf.translate(T_FORM)
    pos = t.find(b"0000p0")
    n = len(buf)
    while pos >= 0:
        m = FORM_RE.match(buf, pos)
        if m is None:
            pos = t.find(b"0000p0", pos + 1)
            continue
        run, s0 = m.group(), m.start()
        if m.end() >= n - 1:
            holds.append(s0)
        for s, e, d, kind, enc, exp in ascii_only(run.replace(b"+", b" ")):
            if b"+" in run[s:e]:
                hits.append((s0 + s, s0 + e, d, kind, wrap("form", enc), exp))
        pos = t.find(b"0000p0", m.end())


# -- base64 wrapped over lines ----------------------------------------------------------------------
B64_LINE = re.compile(rb"[A-Za-z0-9+/_-]+={0,2}")


def b64_block(buf: bytes, start: int, end: int) -> list[tuple[int, int]] | None:
    """The lines of a wrapped base64 block whose first line is the run buf[start:end] (it may begin
    mid-line: a chunk's cut, `data=` before it), or None when the run is not followed by more lines
    of one width. Every line but the first and the last has the block's width, a multiple of 4."""
    n = len(buf)
    lines = [(start, end)]
    pos = end
    width = 0
    while len(lines) < MAX_LINES and pos < n:
        if len(lines) >= 2 and lines[-1][1] - lines[-1][0] < width:
            break  # the last line was short: the block ended with it
        nxt = pos + 2 if buf.startswith(b"\r\n", pos) else pos + 1 if buf[pos] == 0x0A else -1
        if nxt < 0:
            break
        m = B64_LINE.match(buf, nxt)
        if m is None or (m.end() < n and buf[m.end()] not in b"\r\n"):
            break  # not a whole line of base64
        w = m.end() - nxt
        if len(lines) == 1:
            width = max(end - start, w)  # a first line shorter than the second was cut
            if width % 4 or width < 16:
                break
        elif w > width:
            break
        lines.append((nxt, m.end()))
        pos = m.end()
        if buf[pos - 1] == 0x3D:  # '=' padding: the data ends here
            break
    return lines if len(lines) >= 2 else None


def decode_base64(run: bytes) -> bytes | None:
    """A base64 run (standard or URL alphabet, padding optional, a last lone character dropped)
    decoded, or None: one decoder for the scanner's runs, wrapped blocks and the judge's context."""
    body = run.rstrip(b"=")
    if b"-" in body or b"_" in body:
        body = body.replace(b"-", b"+").replace(b"_", b"/")
    if len(body) % 4 == 1:
        body = body[:-1]
    try:
        return binascii.a2b_base64(body + b"=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None


def b64_lines(buf: bytes, lines: list[tuple[int, int]], hits: list[Hit], inner: Inner) -> None:
    """Decode a wrapped block as one string: a card across a line break is found; each hit's span
    runs from the first to the last character that encodes it (line breaks included)."""
    s0, e0 = lines[0]
    s0 += (e0 - s0) % 4  # a cut first line: realign to the 4-character groups the line ends on
    parts = [buf[s0:e0], *(buf[s:e] for s, e in lines[1:])]
    joined = b"".join(parts).rstrip(b"=")
    if b"M" not in joined and b"N" not in joined and b"O" not in joined:
        return  # base64 of ASCII digits always has M, N or O every four characters
    raw = decode_base64(joined)
    if raw is None:
        return
    starts = [s0, *(s for s, _e in lines[1:])]
    cum = [0]
    for p in parts:
        cum.append(cum[-1] + len(p))

    def at(j: int) -> int:
        k = min(bisect_right(cum, j) - 1, len(starts) - 1)
        return starts[k] + j - cum[k]

    for s, e, d, kind, enc, exp in inner(raw):
        j0, j1 = 4 * (s // 3), min(len(joined), 4 * ((e + 2) // 3))
        hits.append((at(j0), at(j1 - 1) + 1, d, kind, wrap("base64", enc), exp))


# -- quoted-printable -------------------------------------------------------------------------------
QP_SOFT = re.compile(rb"^(?:[^\r\n]*=\r?\n)+[^\r\n]*", re.M)  # a logical line made of soft-broken lines
QP_ESCAPED = re.compile(rb"^[^\r\n]*(?:=3[0-9]){4}[^\r\n]*", re.M)  # a line with escaped digits
QP_DIGITS = re.compile(rb"(?:=3[0-9]){4}")


def qp(buf: bytes, hits: list[Hit], holds: list[int], inner: Inner) -> None:
    """Logical lines of quoted-printable text (soft breaks `=\\r\\n` joined, `=XX` decoded by binascii)."""
    n = len(buf)
    soft = b"=\n" in buf or b"=\r\n" in buf
    escaped = b"=3" in buf and QP_DIGITS.search(buf) is not None
    for pattern in (QP_SOFT,) * soft + (QP_ESCAPED,) * escaped:
        for m in pattern.finditer(buf):
            run = m.group()
            if m.end() >= n - 1:
                holds.append(m.start())
            dec = binascii.a2b_qp(run)
            if _digit_count(dec) < 12:
                continue
            hits.extend((m.start(), m.end(), d, k, wrap("qp", e), x) for _s, _e, d, k, e, x in inner(dec))


# -- escapes in windows: JSON \u00XX, XML/HTML character references ----------------------------------
# only escapes of what a card is written with (digits, separators, track sentinels): a card whose
# digits are all literal is the plain scan's, so other escapes (accents, quotes, &amp;) open no window
JSON_ESC = re.compile(rb"\\u(?:00(?:3[0-9BbDdFf]|2[0Dd]|5[Ee]|[Aa]0)|201[0-3]|2212)")
ENTITY = re.compile(
    rb"&#0*(?:3[2]|4[5689]|5[0-9]|6[13]|94|160|82(?:0[89]|1[01])|8722);"
    rb"|&#[xX]0*(?:2[0Dd]|3[0-9A-Fa-f]|5[Ee]|[Aa]0|201[0-3]|2212);"
    rb"|&(?:nbsp|NonBreakingSpace|ensp|emsp|numsp|thinsp|hyphen|dash|ndash|minus|equals|semi|quest);"
)
JSON_ANY = re.compile(rb"\\u([0-9A-Fa-f]{4})")
SEPARATORS = str.maketrans({"\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2007": " ", "\u2009": " ",
                            "\u202f": " ", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
                            "\u2212": "-"})


def _json_unescape(window: bytes) -> bytes:
    return JSON_ANY.sub(lambda m: chr(int(m.group(1), 16)).translate(SEPARATORS).encode("ascii", "replace"), window)


def _html_unescape(window: bytes) -> bytes:
    text = html.unescape(window.decode("latin-1")).translate(SEPARATORS)
    return text.encode("ascii", "replace")


def peel(layer: str, span: bytes) -> bytes | None:
    """The decoded text of one of these layers over a hit's encoded span, or None for another layer:
    the card judge reads the context a card was written in, not its encoded form."""
    if layer == "form":
        return span.replace(b"+", b" ")
    if layer == "qp":
        return binascii.a2b_qp(span)
    if layer == "json-escape":
        return _json_unescape(span)
    if layer == "html-entity":
        return _html_unescape(span)
    return None


def _windows(buf: bytes, pattern: re.Pattern[bytes]) -> list[tuple[int, int]]:
    """Spans around the escapes: escapes closer than WINDOW share one; edges never cut a digit run."""
    n = len(buf)
    spans: list[tuple[int, int]] = []
    ws = we = -1
    for m in pattern.finditer(buf):
        if ws >= 0 and m.start() - we <= WINDOW:
            we = m.end()
            continue
        if ws >= 0:
            spans.append((ws, we))
            if len(spans) >= MAX_WINDOWS:
                break
        ws, we = m.start(), m.end()
    if ws >= 0 and len(spans) < MAX_WINDOWS:
        spans.append((ws, we))
    out = []
    for s0, e0 in spans:
        s, e = max(0, s0 - WINDOW), min(n, e0 + WINDOW)
        blank = buf.rfind(b"\n\n", s, s0)  # no card runs over a blank line (an HTTP head's end)
        s = s if blank < 0 else blank + 2
        blank = buf.find(b"\n\n", e0, e)
        e = e if blank < 0 else blank
        for _ in range(64):
            if s > 0 and 0x30 <= buf[s - 1] <= 0x39:
                s -= 1
        for _ in range(64):
            if e < n and 0x30 <= buf[e] <= 0x39:
                e += 1
        out.append((s, e))
    return out


def escapes(buf: bytes, hits: list[Hit], holds: list[int], inner: Inner) -> None:
    """JSON `\\u0034` escapes and XML/HTML references (`&#52;`, `&#x34;`, `&nbsp;` between groups)."""
    n = len(buf)
    todo: list[tuple[str, re.Pattern[bytes], Callable[[bytes], bytes]]] = []
    if b"\\u" in buf:
        todo.append(("json-escape", JSON_ESC, _json_unescape))
    if b"&" in buf:
        todo.append(("html-entity", ENTITY, _html_unescape))
    for name, pattern, decode in todo:
        for s, e in _windows(buf, pattern):
            if e >= n - 1:
                holds.append(s)
            dec = decode(buf[s:e])
            if _digit_count(dec) < 12:
                continue
            hits.extend((s, e, d, k, wrap(name, x_enc), x) for _a, _b, d, k, x_enc, x in inner(dec))
