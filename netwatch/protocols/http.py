"""Sans-IO HTTP/1.x message parser: start line, headers, Content-Length / chunked / close-delimited
bodies, gzip/deflate/br/zstd decoding with a size cap (so a compression bomb costs at most the cap).

Bytes in, immutable values out (`HttpHead`, `HttpMessage`, `Unparsed`); no sockets, no files. One
parser per stream direction. It never raises on bad bytes: it sets `error` and stops; `http_stream`
(one direction of an http flow) then hands the bytes on as `Unparsed` and starts a fresh parser at
the next line that begins a request or a response. Memory is bounded by `max_head` and `max_body`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from netwatch.protocols.content_coding import MAX_DECODED as MAX_DECODED  # re-exported: readers import them from here
from netwatch.protocols.content_coding import coding_name as coding_name
from netwatch.protocols.content_coding import decode_content as decode_content

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024  # raw (still encoded) body bytes kept per message
MAX_SPANS = 4096  # body spans noted per message (chunks); past it the rest of the body is one span
HEADER_RE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*([^\r\n]*)", re.M)
OBS_FOLD = re.compile(rb"\r?\n[ \t]+")  # a header line continued on the next (RFC 9112 obs-fold)
METHODS = (b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE")

Headers = list[tuple[bytes, bytes]]  # (lower-case name, value) in order


@dataclass(frozen=True, slots=True)
class HttpHead:
    """A request's or response's start line and headers, complete (its body may still be on its way)."""

    start_line: bytes
    headers: tuple[tuple[bytes, bytes], ...]  # (lower-case name, value) in order, folded lines joined
    raw_head: bytes  # start line and header lines as sent (without the blank line)
    head_len: int  # bytes of start line + headers + blank line
    is_request: bool
    offset: int = 0  # where the message starts in its direction's stream (bytes since the parsing began)
    framing: str | None = None  # h2c: an HTTP/2 cleartext message (head from HPACK, body from DATA frames)
    stream: int | None = None  # h2c: the HTTP/2 stream the message travels on (a response answers its stream's request)

    @property
    def target(self) -> bytes:
        """Request target (URL) of a request line, else b''."""
        parts = self.start_line.split(b" ", 2)
        return parts[1] if self.is_request and len(parts) >= 2 else b""

    @property
    def status(self) -> int | None:
        """A response's status code (200, 404, …), None for a request or a malformed status line."""
        parts = self.start_line.split(b" ", 2)
        if self.is_request or len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isdigit():
            return None
        return int(parts[1])

    def header(self, name: bytes) -> bytes | None:
        """The last value of a header."""
        return header_value(self.headers, name)

    def values(self, name: bytes) -> list[bytes]:
        """Every value of a header, in order (a name may repeat)."""
        name = name.lower()
        return [v for n, v in self.headers if n == name]


@dataclass(frozen=True, slots=True)
class HttpMessage:
    """One whole request or response: its head and its body, de-chunked and, where possible, decompressed."""

    head: HttpHead
    body: bytes = b""
    content_encoding: str | None = None  # gzip | deflate | br | zstd (or several: gzip+br) when decompressed
    truncated: bool = False  # body hit a cap (or decompression failed midway)
    beyond_cap: int = 0  # body bytes past `max_body`: not kept or decoded, handed on as `Unparsed(past_cap=True)`
    notes: tuple[str, ...] = ()
    end: int = 0  # stream offset just past the message (as `head.offset` counts)
    chunked: bool = False  # the body came in chunks (its decoded offsets are not stream offsets)
    body_spans: tuple[tuple[int, int], ...] = ()  # stream offsets of the body's own bytes (chunk data only)

    @property
    def body_span(self) -> tuple[int, int]:
        """Where the body's bytes (chunk framing included) sit in the direction's stream."""
        return self.head.offset + self.head.head_len, max(self.end, self.head.offset + self.head.head_len)

    @property
    def is_request(self) -> bool:
        return self.head.is_request

    @property
    def target(self) -> bytes:
        return self.head.target


@dataclass(frozen=True, slots=True)
class Unparsed:
    """Bytes of a direction that are in no message: body bytes past the cap (`past_cap`: de-chunked,
    still content-encoded) or bytes that are not HTTP (the stream began mid-message, the parser gave
    up, bytes were lost before them). Readers still scan them raw."""

    data: bytes
    past_cap: bool = False
    framing: str | None = None  # h2c / websocket: past the cap of a message of a switched protocol


@dataclass(frozen=True, slots=True)
class FramedMessage:
    """One message of the protocol a connection switched to after a 101 (a WebSocket message):
    payload unmasked, fragments joined, decompressed; `beyond_cap` bytes past the cap not kept."""

    data: bytes
    framing: str  # websocket | websocket+deflate
    truncated: bool = False
    beyond_cap: int = 0


HttpPart = HttpHead | HttpMessage | Unparsed | FramedMessage  # what a direction yields, in stream order


def parse_head(head: bytes) -> tuple[bytes, Headers]:
    """Split a message head (without the blank line) into start line and (lower name, value) pairs."""
    line_end = head.find(b"\n")
    if line_end < 0:
        return head.rstrip(b"\r"), []
    start = head[:line_end].rstrip(b"\r")
    fields = head[line_end + 1 :]
    if b"\n " in fields or b"\n\t" in fields:
        fields = OBS_FOLD.sub(b" ", fields)
    headers = [(n.lower(), v.rstrip()) for n, v in HEADER_RE.findall(fields)]
    return start, headers


def header_value(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """Last value of a header (names compared lower-case)."""
    name = name.lower()
    for n, v in reversed(headers):
        if n == name:
            return v
    return None


class HttpParser:
    """Incremental parser for one direction of an HTTP/1.x connection."""

    def __init__(self, max_head: int = MAX_HEAD, max_body: int = MAX_BODY, offset: int = 0,
                 methods: deque[bytes] | None = None) -> None:
        self.buf = b""
        self.max_head = max_head
        self.max_body = max_body
        self.offset = offset  # stream offset just past the bytes fed so far
        # the methods of requests not yet answered, shared with the other direction's parser (a
        # response to HEAD has no body; a 2xx to CONNECT is followed by the tunnel, not by HTTP)
        self.methods = methods
        self.error: str | None = None
        self.switched: bytes | None = None  # a 101 response's Upgrade token: HTTP/1 ends with that response
        self.switch_head: HttpHead | None = None  # the 101 response head (its extensions)
        self._cur: HttpHead | None = None  # head of the message whose body is being read
        self._mode = ""  # length | chunked | close
        self._left = 0
        self._body: list[bytes] = []
        self._kept = 0
        self._truncated = False
        self._chunk_state = 0  # chunked: 0 size line, 1 data, 2 CRLF after data, 3 trailers
        self._parts: list[HttpPart] = []  # completed since the last feed
        self._beyond: list[bytes] = []  # body bytes past the cap not yet handed on
        self._beyond_count = 0  # of the current message
        self._spans: list[tuple[int, int]] = []  # stream spans of the current body's bytes

    def feed_parts(self, data: bytes) -> list[HttpPart]:
        """Heads, messages and body bytes past the cap that `data` completes, in stream order."""
        if self.error is not None:
            return []
        self.offset += len(data)
        self.buf = self.buf + data if self.buf else data
        for _ in range(10_000):  # bounded: each round consumes bytes or stops
            if self.switched is not None:
                break  # the bytes after a 101 are another protocol's (left in self.buf)
            if self._cur is None and not self._head():
                break
            if self._cur is not None and not self._body_step():
                break
            if self._cur is not None and self._mode == "done":
                self._finish()
        return self._take()

    def feed(self, data: bytes) -> list[HttpMessage]:
        """Messages completed by `data` (the other parts are dropped)."""
        return [p for p in self.feed_parts(data) if isinstance(p, HttpMessage)]

    def eof_parts(self) -> list[HttpPart]:
        """The stream ended: a close-delimited (or cut-off) body is complete as far as it goes."""
        if self._cur is None or self.error is not None:
            return []
        if self._mode != "close":
            self._truncated = True
        if self.buf and self._mode == "close":
            self._span(len(self.buf))
            self._keep(self.buf)
            self.buf = b""
        self._finish()
        return self._take()

    def eof(self) -> list[HttpMessage]:
        return [p for p in self.eof_parts() if isinstance(p, HttpMessage)]

    # -- internals ------------------------------------------------------------------------------

    def _add(self, part: HttpHead | HttpMessage) -> None:
        """A part in stream order: body bytes past the cap read so far come before it."""
        if self._beyond:
            self._parts.append(Unparsed(b"".join(self._beyond), past_cap=True))
            self._beyond.clear()
        self._parts.append(part)

    def _take(self) -> list[HttpPart]:
        if self._beyond:
            self._parts.append(Unparsed(b"".join(self._beyond), past_cap=True))
            self._beyond.clear()
        out, self._parts = self._parts, []
        return out

    def _head(self) -> bool:
        buf = self.buf.lstrip(b"\r\n")
        end = buf.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end = buf.find(b"\n\n")
            sep = 2
        if end < 0:
            self.buf = buf
            if len(buf) > self.max_head:
                self.error = "header section too large"
            elif buf and not (buf.startswith(b"HTTP/") or buf.split(b" ", 1)[0] in METHODS or len(buf) < 8):
                self.error = "not an HTTP message"
            return False
        start, headers = parse_head(buf[:end])
        is_request = not start.startswith(b"HTTP/")
        if is_request and start.split(b" ", 1)[0] not in METHODS:
            self.error = "not an HTTP request line"
            return False
        head = HttpHead(start, tuple(headers), buf[:end], end + sep, is_request, self.offset - len(buf))
        self.buf = buf[end + sep :]
        self._cur, self._body, self._kept, self._chunk_state, self._truncated = head, [], 0, 0, False
        self._spans = []
        self._add(head)
        te = (head.header(b"transfer-encoding") or b"").lower()
        cl = head.header(b"content-length")
        status = start[9:12] if not is_request else b""
        if status == b"101":
            self.switched = (head.header(b"upgrade") or b"?").strip().lower()
            self.switch_head = head
        if self._bodiless(start, status):
            self._mode, self._left = "length", 0
        elif b"chunked" in te:
            self._mode = "chunked"
        elif cl is not None and cl.strip().isdigit():
            self._mode, self._left = "length", int(cl)
        elif is_request or status[:1] == b"1" or status in (b"204", b"304"):
            self._mode, self._left = "length", 0
        else:
            self._mode = "close"
        if self._mode == "length" and self._left == 0:
            self._mode = "done"
        return True

    def _bodiless(self, start: bytes, status: bytes) -> bool:
        """Keeps the methods of requests in order; True for a response to HEAD or a 2xx to CONNECT."""
        if self.methods is None:
            return False
        if not status:
            self.methods.append(start.split(b" ", 1)[0])
            return False
        if status[:1] == b"1" or not self.methods:
            return False
        asked = self.methods.popleft()
        return asked == b"HEAD" or (asked == b"CONNECT" and status[:1] == b"2")

    def _span(self, n: int) -> None:
        """The next `n` bytes of `buf` are body bytes: note where they sit in the stream."""
        if not n:
            return
        start = self.offset - len(self.buf)
        if self._spans and self._spans[-1][1] == start:
            self._spans[-1] = (self._spans[-1][0], start + n)
        elif len(self._spans) < MAX_SPANS:
            self._spans.append((start, start + n))
        else:  # too many chunks: the last span reaches over the framing to here
            self._spans[-1] = (self._spans[-1][0], start + n)

    def _keep(self, part: bytes) -> None:
        room = self.max_body - self._kept
        if len(part) > room:
            self._beyond.append(part[room:])
            self._beyond_count += len(part) - room
            part = part[:room]
            self._truncated = True
        if part:
            self._body.append(part)
            self._kept += len(part)

    def _body_step(self) -> bool:
        """Consume body bytes; True when the message is done."""
        if self._mode == "done":
            return True
        if self._mode == "close":
            self._span(len(self.buf))
            self._keep(self.buf)
            self.buf = b""
            return False
        if self._mode == "length":
            take = self.buf[: self._left]
            self._span(len(take))
            self._keep(take)
            self._left -= len(take)
            self.buf = self.buf[len(take) :]
            if self._left == 0:
                self._mode = "done"
                return True
            return False
        return self._chunked()

    def _chunked(self) -> bool:
        for _ in range(100_000):
            if self._chunk_state == 0:
                nl = self.buf.find(b"\n")
                if nl < 0:
                    if len(self.buf) > 1024:
                        self.error = "bad chunk size line"
                    return False
                size_txt = self.buf[:nl].split(b";", 1)[0].strip()
                try:
                    size = int(size_txt, 16)
                except ValueError:
                    self.error = "bad chunk size"
                    return False
                self.buf = self.buf[nl + 1 :]
                self._left = size
                self._chunk_state = 1 if size else 3
            elif self._chunk_state == 1:
                take = self.buf[: self._left]
                self._span(len(take))
                self._keep(take)
                self._left -= len(take)
                self.buf = self.buf[len(take) :]
                if self._left:
                    return False
                self._chunk_state = 2
            elif self._chunk_state == 2:
                if len(self.buf) < 2 and not self.buf.startswith(b"\n"):
                    return False
                self.buf = self.buf[2:] if self.buf.startswith(b"\r\n") else self.buf[1:]
                self._chunk_state = 0
            else:  # trailers up to the blank line
                nl = self.buf.find(b"\n")
                if nl < 0:
                    return False
                line = self.buf[:nl].strip()
                self.buf = self.buf[nl + 1 :]
                if not line:
                    self._mode = "done"
                    return True
        return False

    def _finish(self) -> None:
        head = self._cur
        assert head is not None
        body = b"".join(self._body)
        coding = head.header(b"content-encoding")
        truncated, encoding = self._truncated, None
        notes: tuple[str, ...] = ()
        if coding and body:
            dec = decode_content(body, coding)
            if dec is not None:
                body, cut = dec
                encoding = coding_name(coding)
                truncated = truncated or cut
            else:
                notes = ("undecodable content-encoding",)
        end = self.offset - len(self.buf)
        chunked = b"chunked" in (head.header(b"transfer-encoding") or b"").lower()
        self._add(HttpMessage(head, body, encoding, truncated, self._beyond_count, notes, end, chunked,
                              tuple(self._spans)))
        self._spans = []
        self._beyond_count = 0
        self._cur, self._body, self._kept, self._mode = None, [], 0, ""


HOST_RE = re.compile(rb"\r\nHost:[ \t]*([A-Za-z0-9.\-_\[\]:]{1,255})", re.I)


def request_host(data: bytes) -> str | None:
    """The Host header of a request head (without port or IPv6 brackets, lowercased), or None."""
    m = HOST_RE.search(data, 0, 8192)
    if m is None:
        return None
    host = m.group(1).decode("ascii").lower()
    if host.startswith("["):  # [v6]:port
        return host[1 : host.find("]")] if "]" in host else None
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
