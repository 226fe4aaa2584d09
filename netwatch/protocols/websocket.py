"""WebSocket (RFC 6455) frames of one direction, after an HTTP 101 upgrade: messages out, client mask
removed, fragments joined, permessage-deflate (RFC 7692) undone. Sans-IO and bounded.

Payload bytes are consumed as they arrive (the mask is applied at the right phase), so a direction
holds at most one frame header and the message kept so far (MAX_MESSAGE; the rest is handed on
unmasked as `Unparsed(past_cap=True)`, scanned raw; inflating stops at MAX_INFLATED). Bytes that
are not frames (a bad opcode, reserved bits, a continuation with nothing to continue) end the
parse: they and the rest come out as `Unparsed`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from netwatch.protocols.http import MAX_BODY, MAX_DECODED, FramedMessage, HttpPart, Unparsed

MAX_MESSAGE = MAX_BODY  # payload bytes kept per message
MAX_INFLATED = MAX_DECODED  # bytes a compressed message may inflate to
DEFLATE_TAIL = b"\x00\x00\xff\xff"  # removed by the sender of every compressed message (RFC 7692 7.2.1)
DATA_OPCODES = (0x1, 0x2)  # text, binary
CONTROL_OPCODES = (0x8, 0x9, 0xA)  # close, ping, pong


@dataclass(frozen=True, slots=True)
class Extensions:
    """What the 101 response negotiated (Sec-WebSocket-Extensions)."""

    deflate: bool = False
    client_no_context: bool = False
    server_no_context: bool = False

    @classmethod
    def parse(cls, header: bytes | None) -> Extensions:
        if not header or b"permessage-deflate" not in header.lower():
            return cls()
        h = header.lower()
        return cls(True, b"client_no_context_takeover" in h, b"server_no_context_takeover" in h)


class WebSocketReader:
    """One direction's frames (direction 0: client, masked) → `FramedMessage` parts."""

    def __init__(self, direction: int, extensions: Extensions = Extensions()) -> None:
        self.deflate = extensions.deflate
        self.fresh_window = extensions.client_no_context if direction == 0 else extensions.server_no_context
        self.inflater = zlib.decompressobj(-15)
        self.broken = False
        self.head = b""  # an unfinished frame header
        self.left = 0  # payload bytes of the current frame still to come
        self.mask = b""
        self.phase = 0  # bytes of the current frame's payload already unmasked
        self.fin = False
        self.control = False
        self.compressed = False  # the current message has RSV1 (permessage-deflate)
        self.in_message = False
        self.parts: list[bytes] = []  # the current message's payload kept so far
        self.kept = 0
        self.beyond = 0
        self.control_buf = b""

    def feed(self, data: bytes) -> list[HttpPart]:
        """The messages `data` completes (and, once the bytes are not frames, those bytes raw)."""
        if self.broken:
            return [Unparsed(data)] if data else []
        out: list[HttpPart] = []
        pos, n = 0, len(data)
        while pos < n:
            if self.left == 0:  # a frame header starts here
                new = self._read_header(data, pos)
                if self.broken:
                    out.append(Unparsed(data[pos:]))
                    return out
                if self.head:
                    break  # the header goes on in the next chunk
                pos = new
            else:
                take = min(self.left, n - pos)
                self._payload(data[pos : pos + take], out)
                pos += take
                self.left -= take
            if self.left == 0:
                self._frame_done(out)
        return out

    def eof(self) -> list[HttpPart]:
        """The stream ended: a message cut short comes out as far as it went."""
        out: list[HttpPart] = []
        if self.in_message and self.parts:
            self._emit(out, truncated=True)
        return out

    # -- internals --------------------------------------------------------------------------------

    def _read_header(self, data: bytes, pos: int) -> int:
        """Parse a frame header at data[pos:] (with any held bytes); returns the new position."""
        buf = self.head + data[pos : pos + 14]
        if len(buf) < 2:
            self.head = buf
            return len(data)
        b0, b1 = buf[0], buf[1]
        need = 2 + {126: 2, 127: 8}.get(b1 & 0x7F, 0) + (4 if b1 & 0x80 else 0)
        if len(buf) < need:
            self.head = buf
            return len(data)
        used = need - len(self.head)
        self.head = b""
        opcode, rsv = b0 & 0x0F, b0 & 0x70
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes(buf[2:4], "big")
        elif length == 127:
            length = int.from_bytes(buf[2:10], "big")
        self.control = opcode in CONTROL_OPCODES
        valid = (
            (opcode in DATA_OPCODES and not self.in_message)
            or (opcode == 0 and self.in_message)
            or (self.control and b0 & 0x80 and length <= 125)
        ) and (rsv == 0 or (rsv == 0x40 and self.deflate and opcode in DATA_OPCODES)) and length < 1 << 62
        if not valid:
            self.broken = True
            return pos
        self.fin = bool(b0 & 0x80)
        self.mask = buf[need - 4 : need] if b1 & 0x80 else b""
        self.left, self.phase = length, 0
        if opcode in DATA_OPCODES:
            self.in_message, self.compressed = True, rsv == 0x40
            self.parts, self.kept, self.beyond = [], 0, 0
        self.control_buf = b""
        return pos + used

    def _payload(self, chunk: bytes, out: list[HttpPart]) -> None:
        if self.mask:
            chunk = unmask(chunk, self.mask, self.phase)
        self.phase += len(chunk)
        if self.control:
            self.control_buf += chunk
            return
        room = MAX_MESSAGE - self.kept
        if len(chunk) > room:  # past the cap: handed on unmasked and raw (scanned, not kept)
            self.beyond += len(chunk) - room
            out.append(Unparsed(chunk[room:], past_cap=True, framing="websocket"))
            chunk = chunk[:room]
        if chunk:
            self.parts.append(chunk)
            self.kept += len(chunk)

    def _frame_done(self, out: list[HttpPart]) -> None:
        if self.control:
            if len(self.control_buf) >= 12:  # a close reason or a ping payload long enough to hold a card
                out.append(FramedMessage(self.control_buf, "websocket"))
            self.control_buf = b""
            return
        if self.fin:
            self._emit(out, truncated=False)

    def _emit(self, out: list[HttpPart], truncated: bool) -> None:
        data = b"".join(self.parts)
        framing = "websocket"
        if self.compressed:
            framing = "websocket+deflate"
            data, cut = self._inflate(data, complete=not truncated and not self.beyond)
            truncated = truncated or cut
        out.append(FramedMessage(data, framing, truncated or self.beyond > 0, self.beyond))
        self.in_message, self.parts, self.kept, self.beyond = False, [], 0, 0

    def _inflate(self, data: bytes, complete: bool) -> tuple[bytes, bool]:
        d = zlib.decompressobj(-15) if self.fresh_window else self.inflater
        try:
            out = d.decompress(data + DEFLATE_TAIL if complete else data, MAX_INFLATED)
        except zlib.error:
            self.inflater = zlib.decompressobj(-15)  # the shared window is lost with this message
            return b"", True
        cut = bool(d.unconsumed_tail) or not complete
        if cut:
            self.inflater = zlib.decompressobj(-15)
        return out, cut


def unmask(chunk: bytes, mask: bytes, phase: int) -> bytes:
    """XOR with the 4-byte mask starting at `phase` of it (one big-integer XOR: C speed)."""
    k = phase % 4
    key = (mask[k:] + mask[:k]) * (len(chunk) // 4 + 1)
    n = len(chunk)
    return (int.from_bytes(chunk, "big") ^ int.from_bytes(key[:n], "big")).to_bytes(n, "big")
