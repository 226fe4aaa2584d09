"""Evidence redaction of passwords in HTTP bodies that are not url-encoded forms: JSON values of
password-named keys, multipart/form-data parts, XML elements and attributes (`protocols.body_auth`
reports them). Conservative like `auth.HTTP_SECRET_FIELD`: every field whose name holds a password
word is blanked, reported or not (a request past the analyzer's budget, a response echoing a
config), in both directions; over-redaction is cheap. Read on the raw stream, so a value is blanked
up to the end of its line at most: chunk-size lines stay whole, and a value cut over chunks is
finished by the analyzer's location. Same length, FILLER; quotes, tags and the user name stay, so a
re-scan still sees the login. A content-coded body is blanked decoded (`blank_body`, from
`redaction.protocols`) and, gzip, re-packed at its own length (`gzip_of_length`).
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
import zlib

from netwatch.protocols.auth import HTTP_SECRET_FIELD
from netwatch.protocols.body_auth import PARAM_NAME, XML_ATTR  # the grammars detection reads with
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


def _fill(buf: bytearray, s: int, e: int, keep_lines: bool = False) -> None:
    for i in range(s, e):
        if not (keep_lines and buf[i] in b"\r\n"):
            buf[i] = FILLER


def _fill_json_string(buf: bytearray, s: int, e: int) -> None:
    """FILLER over a JSON string's contents, escape by escape: `\\uXXXX` becomes `\\u` + FILLER's code and
    a two-byte escape `\\/`, so the value keeps its length both as sent and decoded (a re-scan measures
    the same password length) and stays valid JSON."""
    i = s
    while i < e:
        if buf[i] == 0x5C and i + 1 < e:  # a backslash escape
            if buf[i + 1] == 0x75 and i + 6 <= e:  # \uXXXX
                buf[i + 2 : i + 6] = b"%04x" % FILLER
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


def redact_body_passwords(buf: bytearray) -> None:
    """Password-named JSON values, multipart parts and XML elements/attributes of one HTTP direction."""
    if HINT.search(buf) is None:
        return
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
