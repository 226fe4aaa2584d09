"""Evidence redaction inside the protocols an HTTP flow switches to: WebSocket frames (client mask,
permessage-deflate) and HTTP/2 cleartext frames (HPACK header blocks, DATA). Same length always.

A message (or stream body) is decoded as the card scan reads it (protocols.websocket, protocols.h2c);
where it holds a card, plain payloads are masked digit by digit through their frames (a masked
WebSocket byte is written so that it unmasks to the masked digit), and what cannot be masked in
place (a deflated message, a compressed body, an HPACK header block) is overwritten whole with
FILLER and `notes` says so. A header block's login secret (HPACK, Huffman-coded as clients send
it: no byte pattern of the password passes reads it) is blanked in place (`redaction.hpack_secrets`).
The walk stops at the first bytes that are not frames.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable

import hpack

from netwatch.protocols.card_search import scan
from netwatch.protocols.h2c import MAX_FRAME, MAX_TABLE, PREFACE
from netwatch.protocols.http import decode_content, header_value
from netwatch.protocols.websocket import unmask
from netwatch.redaction.body_creds import redact_body_passwords
from netwatch.redaction.hpack_secrets import blank_secrets, headers_hold_secret
from netwatch.redaction.packets import FILLER, mask_cards
from netwatch.redaction.stored import hpack_filler

Region = tuple[int, int, bytes]  # start, end of payload bytes in the buffer, and their 4-byte mask (or b"")
MAX_FRAMES = 200_000


def _overwrite(buf: bytearray, regions: list[Region]) -> None:
    for s, e, mask in regions:
        for i in range(s, e):
            buf[i] = FILLER ^ (mask[(i - s) % 4] if mask else 0)


def _edit_through(buf: bytearray, regions: list[Region], edit: Callable[[bytearray], object]) -> None:
    """Apply `edit` to the message the regions hold (unmasked, joined), writing each changed byte
    back in place (masked again where the frame was)."""
    positions = [(i, mask[(i - s) % 4] if mask else 0) for s, e, mask in regions for i in range(s, e)]
    text = bytearray(buf[i] ^ k for i, k in positions)
    before = bytes(text)
    edit(text)
    for (i, k), old, new in zip(positions, before, text, strict=True):
        if old != new:
            buf[i] = new ^ k


def _mask_through(buf: bytearray, regions: list[Region], notes: list[str]) -> None:
    """Mask the cards of the message the regions hold."""
    _edit_through(buf, regions, lambda text: mask_cards(text, notes))


def redact_websocket(buf: bytearray, pos: int, notes: list[str], deflate: bool = True) -> None:
    """WebSocket frames from `pos` on: each message (control frames too) holding a card is masked, and
    its password-named JSON/XML fields blanked (as in HTTP bodies)."""
    n = len(buf)
    regions: list[Region] = []
    compressed = False
    inflater = zlib.decompressobj(-15)
    for _ in range(MAX_FRAMES):
        if pos + 2 > n:
            return
        b0, b1 = buf[pos], buf[pos + 1]
        size = b1 & 0x7F
        head = 2 + {126: 2, 127: 8}.get(size, 0)
        if pos + head + (4 if b1 & 0x80 else 0) > n:
            return
        if size >= 126:
            size = int.from_bytes(buf[pos + 2 : pos + head], "big")
        mask = bytes(buf[pos + head : pos + head + 4]) if b1 & 0x80 else b""
        start = pos + head + len(mask)
        end = min(n, start + size)
        opcode = b0 & 0x0F
        if opcode not in (0, 1, 2, 8, 9, 10) or (b0 & 0x30) or (opcode == 0 and not regions):
            return  # not a frame (or a continuation of nothing): the walk ends
        if opcode >= 8:
            _message(buf, [(start, end, mask)], False, inflater, notes)
        else:
            if opcode:
                regions, compressed = [], bool(b0 & 0x40) and deflate
            regions.append((start, end, mask))
            if b0 & 0x80:
                _message(buf, regions, compressed, inflater, notes)
                regions = []
        pos = start + size


def _message(buf: bytearray, regions: list[Region], compressed: bool, inflater: zlib._Decompress,
             notes: list[str]) -> None:
    data = b"".join(unmask(bytes(buf[s:e]), m, 0) if m else bytes(buf[s:e]) for s, e, m in regions)
    if compressed:
        try:
            data = inflater.decompress(data + b"\x00\x00\xff\xff", 4 << 20)
        except zlib.error:
            _overwrite(buf, regions)  # cannot read it: nothing of it may leak
            notes.append("websocket+deflate message overwritten whole")
            return
        if scan(data)[0] or _blanked(data) != data:
            _overwrite(buf, regions)
            notes.append("websocket+deflate message overwritten whole")
        return
    if scan(data)[0]:
        _mask_through(buf, regions, notes)
    if _blanked(data) != data:  # a login in the message (a client's is masked: no pass on the raw stream saw it)
        _edit_through(buf, regions, redact_body_passwords)


def _blanked(data: bytes) -> bytes:
    """The message with its password-named JSON/XML fields blanked (`redaction.body_creds`)."""
    text = bytearray(data)
    redact_body_passwords(text)
    return bytes(text)


def redact_h2c(buf: bytearray, notes: list[str], pos: int = 0) -> None:
    """HTTP/2 frames of one direction from `pos` (after the preface, if any): bodies and header
    blocks with cards."""
    if buf.startswith(PREFACE, pos):
        pos += len(PREFACE)
    n = len(buf)
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = MAX_TABLE
    bodies: dict[int, list[Region]] = {}
    codings: dict[int, bytes | None] = {}
    block: list[Region] = []
    for _ in range(MAX_FRAMES):
        if pos + 9 > n:
            return
        length = int.from_bytes(buf[pos : pos + 3], "big")
        ftype, flags = buf[pos + 3], buf[pos + 4]
        sid = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        start, end = pos + 9, min(n, pos + 9 + length)
        if length > MAX_FRAME or ftype > 0x0F:
            return
        pad = buf[start] if flags & 0x08 and ftype in (0, 1, 5) and start < end else -1
        s, e = start + (pad >= 0), end - max(pad, 0)
        if ftype == 1 and flags & 0x20:
            s += 5  # priority fields
        if ftype == 5:
            s += 4  # the promised stream id
        if ftype == 0:  # DATA
            bodies.setdefault(sid, []).append((s, max(s, e), b""))
            if flags & 0x01:
                _body(buf, bodies.pop(sid), codings.pop(sid, None), notes)
        elif ftype in (1, 5, 9):  # HEADERS, PUSH_PROMISE, CONTINUATION
            block.append((s, max(s, e), b""))
            if flags & 0x04:  # END_HEADERS
                if not _header_block(buf, block, decoder, sid, codings, notes):
                    return
                block = []
            if ftype == 1 and flags & 0x01 and flags & 0x04:
                codings.pop(sid, None)
        pos = start + length


def _header_block(buf: bytearray, block: list[Region], decoder: hpack.Decoder, sid: int,
                  codings: dict[int, bytes | None], notes: list[str]) -> bool:
    raw = b"".join(bytes(buf[s:e]) for s, e, _m in block)
    table = copy.deepcopy(decoder.header_table)  # as it was before this block (secrets are blanked against it)
    try:
        fields = [(bytes(k), bytes(v)) for k, v in decoder.decode(raw, raw=True)]
    except (hpack.HPACKError, ValueError, IndexError):
        _overwrite(buf, block)  # the table is lost: this block and what follows cannot be read
        notes.append("h2c header block overwritten whole")
        return False
    codings.setdefault(sid, header_value(fields, b"content-encoding"))
    secret = headers_hold_secret(fields)
    if secret:  # a login's secret: blanked in place where its literal can be rewritten to its length
        rewritten = bytearray(raw)
        if blank_secrets(rewritten, table):
            _put(buf, block, bytes(rewritten))
            secret = False
    if secret or scan(b"\n".join(k + b": " + v for k, v in fields))[0]:
        _put(buf, block, hpack_filler(len(raw)))
        notes.append("h2c header block overwritten whole (valid HPACK, no table entries)")
    return True


def _put(buf: bytearray, block: list[Region], data: bytes) -> None:
    """`data` (a header block's length) written over the block's fragments in order."""
    at = 0
    for s, e, _m in block:
        buf[s:e] = data[at : at + e - s]
        at += e - s


def _body(buf: bytearray, regions: list[Region], coding: bytes | None, notes: list[str]) -> None:
    data = b"".join(bytes(buf[s:e]) for s, e, _m in regions)
    if coding and (dec := decode_content(data, coding)) is not None:
        if scan(dec[0])[0]:
            _overwrite(buf, regions)
            notes.append("h2c compressed body overwritten whole")
        return
    if scan(data)[0]:
        _mask_through(buf, regions, notes)
