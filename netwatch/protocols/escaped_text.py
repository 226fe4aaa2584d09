"""Text carried inside a JSON string or a percent-encoded form field, decoded with a map back to its
encoded bytes. A login can sit one level down: a GraphQL document in a JSON `"query"` string, a JSON
payload serialized into a JSON string (`"payload": "{\\"password\\": …}"`) or into a form field
(`data=%7B%22password%22…`). Detection reads the decoded text and must still name the encoded bytes
of a value (evidence overwrites exactly those), so the decoding keeps, piece by piece, where each
decoded byte came from: a literal run maps one to one, an escape (`\\"`, `\\u00e9`, `%22`, `+`) is
one piece of its own. Pure functions; the pieces are per run and per escape, not per byte.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

JSON_ESCAPE = re.compile(rb"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(.))",
                         re.S)
SIMPLE = {ord('"'): b'"', ord("\\"): b"\\", ord("/"): b"/", ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n",
          ord("r"): b"\r", ord("t"): b"\t"}
PERCENT_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})|\+")


@dataclass(frozen=True)
class Unescaped:
    """Decoded text and its pieces: piece i decodes to text[starts[i]:starts[i+1]] from
    raw[raws[i]:raws[i+1]]; `escaped[i]` False: a literal run (same bytes, one to one)."""

    text: bytes
    starts: list[int]
    raws: list[int]
    escaped: list[bool]

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The encoded bytes of text[start:end] (an escape touched in part counts whole)."""
        i = bisect_right(self.starts, start) - 1
        r0 = self.raws[i] + (0 if self.escaped[i] else start - self.starts[i])
        if end <= start:
            return r0, r0
        j = bisect_right(self.starts, end - 1) - 1
        r1 = self.raws[j + 1] if self.escaped[j] else self.raws[j] + end - self.starts[j]
        return r0, r1

    def source(self, at: int) -> tuple[int, int, bool]:
        """Where decoded byte `at` came from: raw start, raw end, and whether it was an escape."""
        i = bisect_right(self.starts, at) - 1
        if self.escaped[i]:
            return self.raws[i], self.raws[i + 1], True
        r = self.raws[i] + at - self.starts[i]
        return r, r + 1, False


def _unescape(raw: bytes, pattern: re.Pattern[bytes], piece: Callable[[re.Match[bytes]], bytes]) -> Unescaped:
    text = bytearray()
    starts: list[int] = []
    raws: list[int] = []
    escaped: list[bool] = []
    pos = 0
    for m in pattern.finditer(raw):
        if m.start() > pos:
            starts.append(len(text))
            raws.append(pos)
            escaped.append(False)
            text += raw[pos : m.start()]
        starts.append(len(text))
        raws.append(m.start())
        escaped.append(True)
        text += piece(m)
        pos = m.end()
    if pos < len(raw) or not starts:
        starts.append(len(text))
        raws.append(pos)
        escaped.append(False)
        text += raw[pos:]
    starts.append(len(text))  # the end: a piece past the last, so raw_span reads raws[j + 1]
    raws.append(len(raw))
    escaped.append(False)
    return Unescaped(bytes(text), starts, raws, escaped)


def _json_piece(m: re.Match[bytes]) -> bytes:
    if m.group(1) is not None:  # a surrogate pair: one character
        hi, lo = int(m.group(1), 16), int(m.group(2), 16)
        return chr(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)).encode("utf-8")
    if m.group(3) is not None:
        return chr(int(m.group(3), 16)).encode("utf-8", "surrogatepass")
    return SIMPLE.get(m.group(4)[0], m.group(4))


def _percent_piece(m: re.Match[bytes]) -> bytes:
    return bytes([int(m.group(1), 16)]) if m.group(1) is not None else b" "


def json_unescaped(raw: bytes) -> Unescaped:
    """A JSON string's contents (between its quotes) decoded; an unknown `\\x` stands for x."""
    return _unescape(raw, JSON_ESCAPE, _json_piece)


def percent_unescaped(raw: bytes) -> Unescaped:
    """A form field's value decoded (`%XX`, and `+` for a space)."""
    return _unescape(raw, PERCENT_ESCAPE, _percent_piece)
