"""HTTP/2 cleartext (h2c, RFC 9113) of one direction, as the HTTP/1 parts every reader already knows:
an `HttpHead` per header block (HPACK-decoded, pseudo-headers made a start line such as
`POST /pay HTTP/2.0`), an `HttpMessage` per stream when it ends (DATA joined and content-decoded).
Both carry `framing="h2c"`. Sans-IO and bounded.

Frames are cut by their 9-byte header and parsed with hyperframe, header blocks decoded with hpack
(one decoder per direction: each side's encoder keeps its own dynamic table). A passive reader sees
both sides, so no H2Connection: the state machine enforces one endpoint's role (windows, stream
states) and refuses traffic a capture legitimately shows. Bounds: frames up to MAX_FRAME, header
blocks up to MAX_HEADER_BLOCK, MAX_STREAMS open streams, MAX_KEPT body bytes held over all open
streams, each stream MAX_BODY; DATA past them comes out as `Unparsed(past_cap=True)` (scanned raw).
Bytes that cannot be framed, or an HPACK error (the dynamic table is lost with it), end the parse:
the rest comes out as `Unparsed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hpack
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import ContinuationFrame, DataFrame, Frame, HeadersFrame, PushPromiseFrame, RstStreamFrame

from netwatch.protocols.http import (
    MAX_BODY,
    MAX_SPANS,
    HttpHead,
    HttpMessage,
    HttpPart,
    Unparsed,
    coding_name,
    decode_content,
    header_value,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_FRAME = 1 << 20  # a peer may allow frames up to 16 MiB; larger than this ends the parse
MAX_HEADER_BLOCK = 64 * 1024
MAX_STREAMS = 128
MAX_KEPT = 4 * MAX_BODY  # body bytes held over all open streams of a direction
MAX_TABLE = 1 << 16  # the largest HPACK dynamic table a peer's SETTINGS may allow that we follow


@dataclass(slots=True)
class _Stream:
    head: HttpHead
    body: list[bytes] = field(default_factory=list)
    kept: int = 0
    beyond: int = 0
    spans: list[tuple[int, int]] = field(default_factory=list)  # stream offsets of the DATA payloads kept


class H2Reader:
    """One direction of an h2c connection (direction 0 begins with the client preface)."""

    def __init__(self, direction: int, offset: int = 0, expect_preface: bool | None = None) -> None:
        self.direction = direction
        self.preface_left = (direction == 0) if expect_preface is None else expect_preface
        self.decoder = hpack.Decoder()
        self.decoder.max_allowed_table_size = MAX_TABLE
        self.decoder.max_header_list_size = MAX_HEADER_BLOCK
        self.buf = b""
        self.offset = offset  # stream offset of buf[0]
        self.broken = False
        self.streams: dict[int, _Stream] = {}
        self.kept = 0
        self.block: list[bytes] = []  # a header block waiting for its CONTINUATION frames
        self.block_stream = 0  # the stream the block opens (a PUSH_PROMISE's promised stream)
        self.block_frame_stream = 0  # the stream its frames are sent on
        self.block_end_stream = False
        self.block_offset = 0
        self.block_push = False

    def feed(self, data: bytes) -> list[HttpPart]:
        if self.broken:
            return [Unparsed(data)] if data else []
        buf = self.buf + data if self.buf else data
        out: list[HttpPart] = []
        pos = 0
        if self.preface_left:
            if len(buf) < len(PREFACE) and PREFACE.startswith(buf):
                self.buf = buf
                return out
            if buf.startswith(PREFACE):
                pos = len(PREFACE)
            self.preface_left = False
        while len(buf) - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            if length > MAX_FRAME:
                return self._break(out, buf[pos:])
            if len(buf) - pos < 9 + length:
                break
            try:
                frame, _ = Frame.parse_frame_header(memoryview(buf[pos : pos + 9]))
                frame.parse_body(memoryview(buf[pos + 9 : pos + 9 + length]))
            except (HyperframeError, ValueError):
                return self._break(out, buf[pos:])
            at = self.offset + pos
            pos += 9 + length
            if not self._frame(frame, at, out):
                return self._break(out, buf[pos:])
        self.offset += pos
        self.buf = buf[pos:]
        return out

    def eof(self) -> list[HttpPart]:
        """The stream ended: open streams end as far as they went."""
        out: list[HttpPart] = []
        for sid in list(self.streams):
            self._finish(sid, out, truncated=True)
        if self.buf:
            out.append(Unparsed(self.buf))
            self.buf = b""
        return out

    # -- frames -----------------------------------------------------------------------------------

    def _frame(self, frame: Frame, at: int, out: list[HttpPart]) -> bool:
        """Handle one frame; False when the connection cannot be followed any further."""
        if self.block and not isinstance(frame, ContinuationFrame):
            return False  # a header block must go on with CONTINUATION frames only
        if isinstance(frame, HeadersFrame | PushPromiseFrame):
            self.block = [frame.data]
            self.block_stream = frame.promised_stream_id if isinstance(frame, PushPromiseFrame) else frame.stream_id
            self.block_frame_stream = frame.stream_id
            self.block_end_stream = "END_STREAM" in frame.flags
            self.block_offset, self.block_push = at, isinstance(frame, PushPromiseFrame)
            return "END_HEADERS" not in frame.flags or self._block_done(out)
        if isinstance(frame, ContinuationFrame):
            if not self.block or frame.stream_id != self.block_frame_stream:
                return False
            self.block.append(frame.data)
            if sum(map(len, self.block)) > MAX_HEADER_BLOCK:
                return False
            return "END_HEADERS" not in frame.flags or self._block_done(out)
        if isinstance(frame, DataFrame):
            st = self.streams.get(frame.stream_id)
            if st is not None:
                pad = 1 if "PADDED" in frame.flags else 0  # the Pad Length byte precedes the data
                self._keep(st, frame.data, out, at + 9 + pad)
                if "END_STREAM" in frame.flags:
                    self._finish(frame.stream_id, out, truncated=False)
        elif isinstance(frame, RstStreamFrame) and frame.stream_id in self.streams:
            self._finish(frame.stream_id, out, truncated=True)
        return True

    def _block_done(self, out: list[HttpPart]) -> bool:
        block, self.block = b"".join(self.block), []
        try:
            fields = [(bytes(n).lower(), bytes(v)) for n, v in self.decoder.decode(block, raw=True)]
        except (hpack.HPACKError, ValueError, IndexError):
            return False  # the dynamic table is out of step from here on
        if self.block_push:
            return True  # a promised request: decoded to keep the table in step, nothing sent
        sid = self.block_stream
        if sid in self.streams:  # trailers end the stream
            if self.block_end_stream:
                self._finish(sid, out, truncated=False)
            return True
        head = _head(fields, self.direction == 0, self.block_offset, sid)
        out.append(head)
        if len(self.streams) >= MAX_STREAMS:
            self._finish(next(iter(self.streams)), out, truncated=True)
        self.streams[sid] = _Stream(head)
        if self.block_end_stream:
            self._finish(sid, out, truncated=False)
        return True

    def _keep(self, st: _Stream, data: bytes, out: list[HttpPart], at: int) -> None:
        """Body bytes up to the caps; the rest is handed on raw (scanned, not decoded), as HTTP/1 does.
        `at`: the stream offset of `data` (its span locates a detection in the body for evidence)."""
        room = max(min(MAX_BODY - st.kept, MAX_KEPT - self.kept), 0)
        if len(data) > room:
            st.beyond += len(data) - room
            out.append(Unparsed(data[room:], past_cap=True, framing="h2c"))
            data = data[:room]
        if data:
            if len(st.spans) < MAX_SPANS:
                st.spans.append((at, at + len(data)))
            st.body.append(data)
            st.kept += len(data)
            self.kept += len(data)

    def _finish(self, sid: int, out: list[HttpPart], truncated: bool) -> None:
        st = self.streams.pop(sid)
        self.kept -= st.kept
        body = b"".join(st.body)
        coding, encoding = st.head.header(b"content-encoding"), None
        notes: tuple[str, ...] = ()
        if coding and body:
            dec = decode_content(body, coding)
            if dec is not None:
                body, cut = dec
                encoding, truncated = coding_name(coding), truncated or cut
            else:
                notes = ("undecodable content-encoding",)
        out.append(HttpMessage(st.head, body, encoding, truncated or st.beyond > 0, st.beyond, notes,
                               body_spans=tuple(st.spans)))

    def _break(self, out: list[HttpPart], rest: bytes) -> list[HttpPart]:
        self.broken = True
        for sid in list(self.streams):
            self._finish(sid, out, truncated=True)
        self.buf = b""
        if rest:
            out.append(Unparsed(rest))
        return out


def _head(fields: list[tuple[bytes, bytes]], is_request: bool, offset: int, stream: int) -> HttpHead:
    """An HTTP/1-shaped head: pseudo-headers become the start line, `:authority` the Host header."""
    pseudo = {n: v for n, v in fields if n.startswith(b":")}
    headers = [(n, v) for n, v in fields if not n.startswith(b":")]
    if is_request:
        start = pseudo.get(b":method", b"GET") + b" " + pseudo.get(b":path", b"/") + b" HTTP/2.0"
        if b":authority" in pseudo and header_value(headers, b"host") is None:
            headers.insert(0, (b"host", pseudo[b":authority"]))
    else:
        start = b"HTTP/2.0 " + pseudo.get(b":status", b"200") + b" "
    raw = b"\r\n".join([start, *(n + b": " + v for n, v in headers)])
    return HttpHead(start, tuple(headers), raw, 0, is_request, offset, framing="h2c", stream=stream)
