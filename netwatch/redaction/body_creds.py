"""Evidence redaction of passwords in HTTP bodies that are not url-encoded forms: JSON values of
password-named keys, multipart/form-data parts, XML elements and attributes (`protocols.body_auth`
reports them). Conservative like `auth.HTTP_SECRET_FIELD`: every field whose name holds a password
word is blanked, reported or not (a request past the analyzer's budget, a response echoing a
config), in both directions; over-redaction is cheap. Read on the raw stream, so a value is blanked
up to the end of its line at most: chunk-size lines stay whole, and a value cut over chunks is
finished by the analyzer's location. Same length, FILLER; quotes, tags and the user name stay, so a
re-scan still sees the login. A content-coded body is blanked decoded (`blank_body`, from
`redaction.protocols`) and, gzip, re-packed at its own length (`gzip_of_length`).

GraphQL arguments with a string value (`password: "…"`, a block string) are blanked like JSON values.
One level down (`protocols.graphql_auth`, `protocols.form_documents`): a JSON string with escaped
quotes or a form field holding a document is decoded (`protocols.escaped_text`), blanked by these
same passes, and written back piece by piece at each piece's width (a `\\"` stays a two-byte escape,
a `\\u00e9` a `\\u` escape of a filler as many UTF-8 bytes long, `%22` a `%XX`), two levels at most
and MAX_NESTED bytes per string: linear in the stream.
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
import zlib
from collections.abc import Callable

from netwatch.protocols.auth import HTTP_SECRET_FIELD
from netwatch.protocols.body_auth import PARAM_NAME, XML_ATTR, nested_candidate  # the grammars detection reads with
from netwatch.protocols.escaped_text import Unescaped, json_unescaped, percent_unescaped
from netwatch.redaction.packets import FILLER, fill_url

# any field name holding a password word (HTTP_SECRET_FIELD's words) or naming a PIN
SECRET_WORD = re.compile(rb"pass|pwd|pw|pswd|secret|access_token|^pin$")
HINT = re.compile(rb"pass|pwd|pw|pswd|secret|access_token|pin|\\u|&#", re.I)  # worth a closer look
JSON_PAIR = re.compile(  # "key" : "value" (to the line's end if unterminated) or a number
    rb'"((?:[^"\\\r\n]|\\[^\r\n]){1,128})"[ \t\r\n]{0,64}:[ \t\r\n]{0,64}'
    rb'(?:"((?:[^"\\\r\n]++|\\[^\r\n])*+)|(-?[0-9][0-9.eE+-]{0,63}))')
_STR = rb'"((?:[^"\\\r\n]++|\\[^\r\n])*+)'  # a JSON string's contents (to the line's end if unterminated)
NAME_VALUE = re.compile(  # a form field as an object, either order: {"name": "password", "value": "…"}
    rb'"(?:name|key)"[ \t\r\n]{0,64}:[ \t\r\n]{0,64}' + _STR + rb'"[ \t\r\n]{0,64},[ \t\r\n]{0,64}"value"'
    rb'[ \t\r\n]{0,64}:[ \t\r\n]{0,64}' + _STR
    + rb'|"value"[ \t\r\n]{0,64}:[ \t\r\n]{0,64}' + _STR + rb'"[ \t\r\n]{0,64},[ \t\r\n]{0,64}"(?:name|key)"'
    rb'[ \t\r\n]{0,64}:[ \t\r\n]{0,64}' + _STR)
MULTIPART_PART = re.compile(  # the part's head up to the blank line; its value follows
    rb"^content-disposition:[ \t]*form-data([^\r\n]*)\r?\n(?:[^\r\n]+\r?\n){0,16}\r?\n", re.I | re.M)
XML_TAG = re.compile(rb"<(?:[\w.-]{1,64}:)?([\w.-]{1,64})((?:\s[^<>]{0,4096})?)(/?)>")
CDATA_OPEN = b"<![CDATA["
MAX_TEXT = 4096  # element text blanked at most (a password is short; a document is not one)
GRAPHQL_ARG = re.compile(  # a GraphQL argument or input field with a string value: name: "…" / name: """…"""
    rb'([_A-Za-z][_0-9A-Za-z]{0,63}+)[ \t\r\n,]{0,64}+:[ \t\r\n,]{0,64}+'
    rb'(?:"""((?:[^"\\]++|\\"""|\\|"(?!""))*+)|' + _STR + rb")")
NAME_START = re.compile(rb"[_0-9A-Za-z]{0,63}$")  # back from a password word to its name's start
SECRET_WORDS = (b"pass", b"pw", b"pswd", b"secret", b"access_token")  # SECRET_WORD's, as literals (pwd: pw)
MAX_WORD_HITS = 4096  # password words looked at for GraphQL arguments per buffer
JSON_STRING = re.compile(rb'"((?:[^"\\\r\n]++|\\[^\r\n])*+)"?')  # (to the line's end if unterminated)
FORM_DOCUMENT = re.compile(rb"=((?:%7[Bb]|%5[Bb]|query|mutation)[^&;\s]{0,65536}+)")
MAX_NESTING = 2  # documents in strings read (as detection: `body_auth.MAX_NESTING`)
MAX_NESTED = 65536  # encoded bytes of one string or field decoded to be blanked inside
_Escape = Callable[[bytes, int, bool], bytes]  # (blanked decoded bytes, encoded width, was an escape) -> encoded


def _fill(buf: bytearray, s: int, e: int, keep_lines: bool = False) -> None:
    for i in range(s, e):
        if not (keep_lines and buf[i] in b"\r\n"):
            buf[i] = FILLER


HEX4 = re.compile(rb"[0-9a-fA-F]{4}")
WIDE_FILLER = {1: FILLER, 2: 0x00B7, 3: 0x2022}  # a filler character of 1, 2, 3 UTF-8 bytes: *, ·, •


def _filler_code(code: int) -> int:
    """The filler for a `\\uXXXX` escape of `code`, as many UTF-8 bytes decoded (a surrogate pair's
    four: `•` for the high half, `*` for the low), so the password's decoded length stays."""
    if 0xD800 <= code < 0xDC00:
        return WIDE_FILLER[3]
    return WIDE_FILLER[1 if code < 0x80 or 0xDC00 <= code < 0xE000 else 2 if code < 0x800 else 3]


def _fill_json_string(buf: bytearray, s: int, e: int) -> None:
    """FILLER over a JSON string's contents, escape by escape: `\\uXXXX` becomes `\\u` + FILLER's code (a
    non-ASCII character: a filler of its UTF-8 length) and a two-byte escape `\\/`, so the value keeps
    its length both as sent and decoded (a re-scan measures the same password length) and stays valid JSON."""
    i = s
    while i < e:
        if buf[i] == 0x5C and i + 1 < e:  # a backslash escape
            if buf[i + 1] == 0x75 and i + 6 <= e:  # \uXXXX
                code = int(buf[i + 2 : i + 6], 16) if HEX4.fullmatch(buf[i + 2 : i + 6]) else 0
                buf[i + 2 : i + 6] = b"%04x" % _filler_code(code)
                i += 6
            else:
                buf[i + 1] = 0x2F  # '/'
                i += 2
        else:
            buf[i] = FILLER
            i += 1


XML_REF = re.compile(rb"&(?:#[0-9]{1,8}|#x[0-9a-fA-F]{1,8}|[A-Za-z][A-Za-z0-9]{1,31});")


def _fill_xml_text(buf: bytearray, s: int, e: int) -> None:
    """FILLER over XML text or an attribute value, reference by reference: each `&...;` becomes a
    character reference of the same length to one character (`&#9;`, `&#42;`, `&#042;`, …), so the
    value keeps its length as sent and as decoded; line breaks stay (chunk-size lines)."""
    refs = [m.span() for m in XML_REF.finditer(buf, s, e)]
    _fill(buf, s, e, keep_lines=True)
    for a, b in refs:
        width = b - a - 3  # digits between '&#' and ';'
        buf[a:b] = b"&#9;" if width == 1 else b"&#" + str(FILLER).zfill(width).encode() + b";"


def _secret_name(raw: bytes) -> bool:
    name = raw
    if b"\\" in raw:  # a JSON key with escapes (`pa\u0073sword`): compared decoded
        with contextlib.suppress(ValueError):
            name = json.loads(b'"' + raw + b'"').encode("utf-8", "replace")
    return SECRET_WORD.search(name.strip().lower()) is not None


def redact_body_passwords(buf: bytearray, depth: int = 0) -> None:
    """Password-named JSON values, multipart parts, XML elements/attributes and GraphQL arguments of
    one HTTP direction, and those of a JSON or GraphQL document inside a JSON string or a form field
    (`depth`: levels down already)."""
    if HINT.search(buf) is None:
        return
    lower = bytes(buf).lower()
    if depth < MAX_NESTING:
        _nested(buf, lower, depth)
    for at in _graphql_names(lower):
        m = GRAPHQL_ARG.match(buf, at)
        if m is None:
            continue
        g = 2 if m.group(2) is not None else 3
        if m.end(g) - m.start(g) <= MAX_TEXT and _secret_name(m.group(1)):
            if g == 2:  # a block string: all but its escaped triple quotes and line breaks
                _fill_block_string(buf, *m.span(2))
            else:
                _fill_json_string(buf, *m.span(3))  # GraphQL string escapes are JSON's
    for m in JSON_PAIR.finditer(buf):
        if _secret_name(m.group(1)):
            if m.group(2) is not None:
                _fill_json_string(buf, *m.span(2))
            else:
                _fill(buf, *m.span(3))
    for m in NAME_VALUE.finditer(buf):
        named, value = (1, 2) if m.group(2) is not None else (4, 3)
        if len(m.group(named)) <= 128 and _secret_name(m.group(named)):
            _fill_json_string(buf, *m.span(value))
    for m in MULTIPART_PART.finditer(buf):
        disp = m.group(1)
        name = PARAM_NAME.search(disp)
        if name is not None and b"filename" not in disp.lower() and _secret_name(name.group(1) or name.group(2)):
            end = buf.find(b"\r\n", m.end())
            _fill(buf, m.end(), end if end >= 0 else len(buf))
    for m in XML_TAG.finditer(buf):
        local, attrs, empty = m.groups()
        for a in XML_ATTR.finditer(attrs):
            if _secret_name(a.group(1)):
                g = 2 if a.group(2) is not None else 3
                _fill_xml_text(buf, m.start(2) + a.start(g), m.start(2) + a.end(g))
        if empty or not _secret_name(local):
            continue
        if buf.startswith(CDATA_OPEN, m.end()):
            end = buf.find(b"]]>", m.end(), m.end() + len(CDATA_OPEN) + MAX_TEXT)
            if end >= 0:
                _fill(buf, m.end() + len(CDATA_OPEN), end)
            continue
        end = buf.find(b"<", m.end(), m.end() + MAX_TEXT)
        if end >= 0:
            _fill_xml_text(buf, m.end(), end)


def _fill_block_string(buf: bytearray, s: int, e: int) -> None:
    i = s
    while i < e:
        if buf.startswith(b'\\"""', i):
            i += 4
            continue
        if buf[i] not in b"\r\n":
            buf[i] = FILLER
        i += 1


def _graphql_names(lower: bytes) -> list[int]:
    """Where a name holding a password word starts (not after `$`, `"` or `\\`: a variable, a JSON
    key); found by `bytes.find` of the words, so a megabyte without them costs a few C scans. Past
    MAX_WORD_HITS words, every name (a body built to hide one among thousands)."""
    starts: set[int] = set()
    for word in SECRET_WORDS:
        at = lower.find(word)
        while at >= 0:
            if len(starts) >= MAX_WORD_HITS:
                return [m.start() for m in re.finditer(rb"(?<![\w$\"\\])[_a-z]", lower)]
            name = NAME_START.search(lower, max(0, at - 63), at)
            start = name.start() if name is not None else at
            if start == 0 or lower[start - 1] not in b'$"\\':
                starts.add(start)
            at = lower.find(word, at + 1)
    return sorted(starts)


def _nested(buf: bytearray, lower: bytes, depth: int) -> None:
    """JSON strings with escaped quotes and form fields that hold a document: decoded, blanked inside
    (this module's passes, one level down), and written back escape by escape at the same length."""
    if nested_candidate(lower, SECRET_WORDS):
        for m in JSON_STRING.finditer(buf):
            raw = m.group(1)
            if b'\\"' in raw and len(raw) <= MAX_NESTED and HINT.search(raw):
                _blank_inside(buf, m.start(1), json_unescaped(bytes(raw)), depth, _json_escape)
    if b"%22" in lower:
        for m in FORM_DOCUMENT.finditer(buf):
            raw = m.group(1)
            if len(raw) <= MAX_NESTED and b"%22" in raw and HINT.search(raw):
                _blank_inside(buf, m.start(1), percent_unescaped(bytes(raw)), depth, _percent_escape)


def _blank_inside(buf: bytearray, base: int, dec: Unescaped, depth: int, escape: _Escape) -> None:
    inner = bytearray(dec.text)
    redact_body_passwords(inner, depth + 1)
    if inner == dec.text:
        return
    old = dec.text
    for k in range(len(dec.starts) - 1):
        t0, t1 = dec.starts[k], dec.starts[k + 1]
        if inner[t0:t1] != old[t0:t1]:
            r0, r1 = base + dec.raws[k], base + dec.raws[k + 1]
            buf[r0:r1] = escape(bytes(inner[t0:t1]), r1 - r0, dec.escaped[k])


def _json_escape(new: bytes, width: int, escaped: bool) -> bytes:
    """Blanked text as JSON string contents of `width` bytes: a literal run as it is (never a quote
    or backslash), a two-byte escape `\\/`, a `\\uXXXX` one `\\u` + the new character's code."""
    if not escaped:
        return new.replace(b'"', b"*").replace(b"\\", b"*")
    if width == 2:
        return b"\\/"
    if width == 6 and len(new) <= 3:  # one character of as many UTF-8 bytes as the one it replaces
        return b"\\u%04x" % (new[0] if len(new) == 1 else WIDE_FILLER[len(new)])
    if width == 12 and len(new) == 4:  # a surrogate pair: 3 + 1 UTF-8 bytes
        return b"\\u%04x\\u%04x" % (WIDE_FILLER[3], FILLER)
    return b"\\u%04x" % FILLER * (width // 6) if width % 6 == 0 else bytes([FILLER]) * width


def _percent_escape(new: bytes, width: int, escaped: bool) -> bytes:
    """Blanked text as a form value of `width` bytes: `%XX` stays an escape, a literal stays literal."""
    if escaped and width == 3 and len(new) == 1:
        return b"%%%02X" % new[0]
    return bytes(FILLER if c in b"&;=+%# " else c for c in new) if len(new) == width else bytes([FILLER]) * width


def blank_body(text: bytes) -> bytes:
    """A decoded HTTP body with every password field blanked: form fields, JSON, multipart, XML."""
    buf = bytearray(text)
    for m in HTTP_SECRET_FIELD.finditer(buf):
        fill_url(buf, *m.span(m.lastindex or 1))  # `%XX` kept as `%2A`: the same length decoded
    redact_body_passwords(buf)
    return bytes(buf)


def gzip_of_length(text: bytes, n: int) -> bytes | None:
    """A gzip member of exactly `n` bytes that inflates to `text` (RFC 1952: the header's FCOMMENT
    takes up the slack), or None if `text` does not compress into `n` bytes. Evidence keeps a
    gzip-coded login readable (the password blanked inside) instead of overwriting the body whole."""
    for level in (9, 6, 1):
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
        deflated = packer.compress(text) + packer.flush()
        slack = n - 10 - len(deflated) - 8
        if slack >= 0:
            head = b"\x1f\x8b\x08" + (b"\x10" if slack else b"\x00") + b"\0\0\0\0\x00\xff"
            comment = bytes([FILLER]) * (slack - 1) + b"\0" if slack else b""
            return head + comment + deflated + struct.pack("<II", zlib.crc32(text), len(text) & 0xFFFFFFFF)
    return None
