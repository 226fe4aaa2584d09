"""Login secrets inside an HTTP/2 header block (h2c), blanked in place and same length, so the block
still decodes (Wireshark, a re-scan) with every other field, the user and the dynamic table as sent:
an Authorization / Proxy-Authorization value after its scheme (not challenge-response), a :path
query or a cookie from its first password field on (`protocols.auth.HTTP_SECRET_FIELD`, as `creds`
reads HTTP/1; in a :path also a GraphQL document's password, `protocols.form_documents`).
HPACK (RFC 7541) string literals are rewritten in their own coding: raw bytes become
FILLER; a Huffman-coded value becomes the kept prefix plus FILLER characters (`*` has an 8-bit code)
re-encoded to exactly its old length, the last bits EOS padding. No byte pattern finds such a
secret: Huffman coding is the default of HTTP/2 clients.
"""

from __future__ import annotations

import re

import hpack
from hpack.hpack import decode_integer
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

from netwatch.protocols.auth import AUTH_HEADERS, HTTP_SECRET_FIELD
from netwatch.protocols.form_documents import target_documents
from netwatch.redaction.packets import FILLER

HUFFMAN = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
CHALLENGE_SCHEMES = (b"digest", b"ntlm", b"negotiate")  # challenge-response: no secret crosses
SCHEME = re.compile(rb"[ \t]*\S+[ \t]+")
FIELD_SECRETS = (b":path", b"cookie")


def secret_from(name: bytes, value: bytes) -> int | None:
    """Where a header's secret starts in its value (what stays is the part before), or None."""
    name = name.lower()
    if name in AUTH_HEADERS:
        scheme = SCHEME.match(value)
        if scheme is None or value.split(None, 1)[0].lower() in CHALLENGE_SCHEMES or scheme.end() >= len(value):
            return None
        return scheme.end()
    if name in FIELD_SECRETS:
        m = HTTP_SECRET_FIELD.search(value)
        g = m.lastindex if m is not None else None  # the value's group: quoted ("…", '…') or bare
        at = m.start(g) if m is not None and g is not None and m.end(g) > m.start(g) else None
        if name == b":path":  # GraphQL over GET: `?query={login(password: "…")}`
            at = min((a for a in (at, *(sec.offset for sec in target_documents(value))) if a is not None),
                     default=None)
        return at
    return None


def headers_hold_secret(fields: list[tuple[bytes, bytes]]) -> bool:
    """Whether a decoded header list holds a login secret `blank_secrets` would blank."""
    return any(secret_from(name, value) is not None for name, value in fields)


def blank_secrets(block: bytearray, table: HeaderTable) -> bool:
    """Blank the secrets of a whole header block in place; `table` is the dynamic table before it
    (updated as the block is read). False when the block cannot be read or a value cannot be
    re-encoded to its length: the caller overwrites the block whole."""
    i = 0
    try:
        while i < len(block):
            b = block[i]
            if b & 0x80:  # indexed field
                index, i = _integer(block, i, 7)
                table.get_by_index(index)
                continue
            if b & 0xE0 == 0x20:  # dynamic table size update
                size, i = _integer(block, i, 5)
                table.maxsize = size
                continue
            indexing = bool(b & 0x40)  # literal with incremental indexing, else without / never indexed
            index, i = _integer(block, i, 6 if indexing else 4)
            if index:
                name = bytes(table.get_by_index(index)[0])
            else:
                s, e, coded, i = _string(block, i)
                name = _text(block[s:e], coded)
            s, e, coded, i = _string(block, i)
            value = _text(block[s:e], coded)
            keep = secret_from(name, value)
            if keep is not None:
                new = _fitted(value[:keep], e - s, coded)
                if new is None:
                    return False
                block[s:e] = new
            if indexing:
                table.add(name, value)
    except (hpack.HPACKError, ValueError, IndexError):
        return False
    return True


def _integer(block: bytearray, i: int, prefix: int) -> tuple[int, int]:
    """An HPACK integer with an N-bit prefix at i: (value, offset after it); hpack's own reader
    (at most five continuation bytes, HPACKDecodingError past the block's end)."""
    value, used = decode_integer(bytes(block[i : i + 6]), prefix)
    return value, i + used


def _string(block: bytearray, i: int) -> tuple[int, int, bool, int]:
    """An HPACK string literal at i: (start, end of its bytes, Huffman-coded, offset after it)."""
    coded = bool(block[i] & 0x80)
    n, i = _integer(block, i, 7)
    if i + n > len(block):
        raise IndexError("HPACK string")
    return i, i + n, coded, i + n


def _text(raw: bytearray, coded: bool) -> bytes:
    return bytes(decode_huffman(bytes(raw))) if coded else bytes(raw)


def _fitted(kept: bytes, size: int, coded: bool) -> bytes | None:
    """`kept` then FILLER, in the literal's coding, exactly `size` bytes (None: impossible)."""
    if not coded:
        return kept + bytes([FILLER]) * (size - len(kept)) if len(kept) <= size else None
    room = 8 * size - sum(REQUEST_CODES_LENGTH[c] for c in kept)  # bits left after the kept prefix
    if room < 0:
        return None
    out = bytes(HUFFMAN.encode(kept + bytes([FILLER]) * (room // 8)))  # '*': 8 bits; < 8 bits of padding
    return out if len(out) == size else None
