"""Sans-IO HTTP/1.x message parser: start line, headers, Content-Length / chunked / close-delimited
bodies, gzip/deflate decoding with a size cap (so a compression bomb costs at most the cap).

Bytes in, `HttpMessage` values out; no sockets, no files. One parser per stream direction. It never
raises on bad bytes: it sets `error` and stops, and the caller falls back to treating the rest of
the stream as opaque bytes. Memory is bounded by `max_head` and `max_body`.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024  # raw (still encoded) body bytes kept per message
MAX_DECODED = 4 * 1024 * 1024  # decompressed bytes kept per message
HEADER_RE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*([^\r\n]*)")
METHODS = (b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE")

Headers = list[tuple[bytes, bytes]]  # (lower-case name, value) in order


@dataclass
class HttpMessage:
    """One request or response. `body` is de-chunked and, where possible, decompressed."""

    start_line: bytes
    headers: Headers
    head_len: int  # bytes of start line + headers + blank line
    is_request: bool
    body: bytes = b""
    raw_head: bytes = b""  # start line and header lines as sent (without the blank line)
    content_encoding: str | None = None  # gzip | deflate when the body was decompressed
    truncated: bool = False  # body hit a cap (or decompression failed midway)
    beyond_cap: int = 0  # body bytes past `max_body`: not kept or decoded, handed on raw (`take_beyond`)
    notes: list[str] = field(default_factory=list)

    @property
    def target(self) -> bytes:
        """Request target (URL) of a request line, else b''."""
        parts = self.start_line.split(b" ", 2)
        return parts[1] if self.is_request and len(parts) >= 2 else b""

    def header(self, name: bytes) -> bytes | None:
        return header_value(self.headers, name)


def parse_head(head: bytes) -> tuple[bytes, Headers]:
    """Split a message head (without the blank line) into start line and (lower name, value) pairs."""
    line_end = head.find(b"\n")
    if line_end < 0:
        return head.rstrip(b"\r"), []
    start = head[:line_end].rstrip(b"\r")
    headers = [(n.lower(), v.rstrip()) for n, v in HEADER_RE.findall(head, line_end + 1)]
    return start, headers


def header_value(headers: Headers, name: bytes) -> bytes | None:
    """Last value of a header (names compared lower-case)."""
    name = name.lower()
    for n, v in reversed(headers):
        if n == name:
            return v
    return None


def decode_content(body: bytes, coding: bytes, cap: int = MAX_DECODED) -> tuple[bytes, bool] | None:
    """Decompress a gzip/deflate body to at most `cap` bytes: (data, truncated), or None if not compressed."""
    coding = coding.strip().lower()
    tries: tuple[int, ...]
    if coding in (b"gzip", b"x-gzip"):
        tries = (47,)
    elif coding == b"deflate":
        tries = (15, -15)  # zlib-wrapped as the RFC says, or raw deflate as many servers send
    else:
        return None
    for wbits in tries:
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(body, cap)
        except zlib.error:
            continue
        return out, bool(d.unconsumed_tail) or (not d.eof and len(out) >= cap)
    return None


class HttpParser:
    """Incremental parser for one direction of an HTTP/1.x connection."""

    def __init__(self, max_head: int = MAX_HEAD, max_body: int = MAX_BODY) -> None:
        self.buf = b""
        self.max_head = max_head
        self.max_body = max_body
        self.error: str | None = None
        self._msg: HttpMessage | None = None  # message whose body is being read
        self._mode = ""  # length | chunked | close
        self._left = 0
        self._body: list[bytes] = []
        self._kept = 0
        self._chunk_state = 0  # chunked: 0 size line, 1 data, 2 CRLF after data, 3 trailers
        self._beyond: list[bytes] = []  # body bytes past the cap since the last take_beyond()
        self._beyond_count = 0  # of the current message

    def feed(self, data: bytes) -> list[HttpMessage]:
        """Messages completed by `data`."""
        if self.error is not None:
            return []
        self.buf = self.buf + data if self.buf else data
        out: list[HttpMessage] = []
        for _ in range(10_000):  # bounded: each round consumes bytes or stops
            if self._msg is None and not self._head():
                break
            if self._msg is not None and not self._body_step():
                break
            if self._msg is not None and self._mode == "done":
                out.append(self._finish())
        return out

    def take_beyond(self) -> bytes:
        """Body bytes past the cap (de-chunked, still content-encoded) since the last call: the cap
        bounds what is kept and decoded, and the caller still scans these raw."""
        out = b"".join(self._beyond)
        self._beyond.clear()
        return out

    def eof(self) -> list[HttpMessage]:
        """The stream ended: a close-delimited (or cut-off) body is complete as far as it goes."""
        if self._msg is None or self.error is not None:
            return []
        if self._mode != "close":
            self._msg.truncated = True
        if self.buf and self._mode == "close":
            self._keep(self.buf)
            self.buf = b""
        return [self._finish()]

    # -- internals ------------------------------------------------------------------------------

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
        msg = HttpMessage(start, headers, end + sep, is_request, raw_head=buf[:end])
        self.buf = buf[end + sep :]
        self._msg, self._body, self._kept, self._chunk_state = msg, [], 0, 0
        te = (msg.header(b"transfer-encoding") or b"").lower()
        cl = msg.header(b"content-length")
        status = start[9:12] if not is_request else b""
        if b"chunked" in te:
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

    def _keep(self, part: bytes) -> None:
        room = self.max_body - self._kept
        if len(part) > room:
            self._beyond.append(part[room:])
            self._beyond_count += len(part) - room
            part = part[:room]
            assert self._msg is not None
            self._msg.truncated = True
        if part:
            self._body.append(part)
            self._kept += len(part)

    def _body_step(self) -> bool:
        """Consume body bytes; True when the message is done."""
        if self._mode == "done":
            return True
        if self._mode == "close":
            self._keep(self.buf)
            self.buf = b""
            return False
        if self._mode == "length":
            take = self.buf[: self._left]
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

    def _finish(self) -> HttpMessage:
        msg = self._msg
        assert msg is not None
        body = b"".join(self._body)
        coding = msg.header(b"content-encoding")
        if coding and body:
            dec = decode_content(body, coding)
            if dec is not None:
                body, cut = dec
                msg.content_encoding = coding.strip().lower().decode("ascii", "replace").removeprefix("x-")
                msg.truncated = msg.truncated or cut
            else:
                msg.notes.append("undecodable content-encoding")
        msg.body = body
        msg.beyond_cap, self._beyond_count = self._beyond_count, 0
        self._msg, self._body, self._kept, self._mode = None, [], 0, ""
        return msg


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
