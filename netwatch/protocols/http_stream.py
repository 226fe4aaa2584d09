"""One direction of an http flow as parts in stream order (`HttpPart`: heads, messages, bytes in no
message), parsed once for every reader.

A direction may not be HTTP all the way: the capture began mid-message, the parser gave up on bytes
that are not HTTP (a protocol switch, a body sent without a length), bytes were lost. Those bytes
come out as `Unparsed` up to the next request or status line (anywhere: a body need not end in a
newline), where a fresh `HttpParser` takes over, so a later request's headers are read again.
Sans-IO and bounded: one parser, at most one unfinished start line held back.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Protocol

from netwatch.protocols.h2c import PREFACE, H2Reader
from netwatch.protocols.http import HttpHead, HttpParser, HttpPart, Unparsed
from netwatch.protocols.websocket import Extensions, WebSocketReader

CANDIDATE = re.compile(rb"(?:GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE) |HTTP/1\.")
REQUEST_LINE = re.compile(rb"(?:GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE) [!-~]{1,8192} HTTP/1\.[01]\r?\n")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9][ \r\n]")
MAX_LINE = 8192 + 32  # a request line longer than this is not waited for
HOLD = 7  # bytes at the end that may be the first bytes of a candidate ("OPTIONS", "HTTP/1")
MAX_RESTARTS = 1000  # fresh parsers per fed chunk; past that the chunk's rest is handed on unparsed
MAX_PENDING = 64  # request methods remembered until their responses come


def find_start(buf: bytes, pos: int = 0) -> tuple[bool, int]:
    """(True, i): a request or status line begins at buf[i] (i >= pos). (False, i): none does, and
    buf[i:] may be the first bytes of one still coming (i == len(buf): nothing to wait for)."""
    for m in CANDIDATE.finditer(buf, pos):
        i = m.start()
        status = m.group().startswith(b"HTTP/")
        if (STATUS_LINE if status else REQUEST_LINE).match(buf, i):
            return True, i
        rest = len(buf) - i
        if (rest < 13 if status else rest <= MAX_LINE and buf.find(b"\n", i) < 0):
            return False, i
    return False, max(len(buf) - HOLD, pos, 0)


class HttpStream:
    """The parts of one direction, fed chunk by chunk (contiguous bytes; `gap` for a hole)."""

    def __init__(self, methods: deque[bytes] | None = None) -> None:
        self.methods = methods  # requests not yet answered, shared with the other direction (HttpParser)
        self.parser: HttpParser | None = HttpParser(methods=methods)  # None: looking for the next start
        self.end = 0  # stream offset just past the bytes fed (holes counted)
        self._hold = b""  # the end of unparsed bytes: may be the first bytes of a start line

    def feed(self, data: bytes) -> list[HttpPart]:
        """The parts `data` completes, in stream order."""
        self.end += len(data)
        out: list[HttpPart] = []
        after_error = False
        for _ in range(MAX_RESTARTS):
            if self.parser is None:
                data = self._resync(data, out, after_error)
                if self.parser is None:
                    return out
            out += self.parser.feed_parts(data)
            if self.parser.error is None:
                return out
            data, self.parser, after_error = self.parser.buf, None, True  # not HTTP from here
        if data:
            out.append(Unparsed(data))
        return out

    def gap(self, size: int) -> list[HttpPart]:
        """`size` bytes were lost: a message cut by the hole ends as far as it went, held bytes come
        out, and nothing continues across the hole."""
        out = self.eof()
        self.parser = None
        self.end += size
        return out

    def eof(self) -> list[HttpPart]:
        """The stream ended: a close-delimited or cut-off message as far as it goes, then the bytes in
        no message (an unfinished head, held bytes)."""
        out: list[HttpPart] = []
        if self.parser is not None:
            out += self.parser.eof_parts()
            rest, self.parser.buf = self.parser.buf, b""
            if rest:
                out.append(Unparsed(rest))
        if self._hold:
            out.append(Unparsed(self._hold))
            self._hold = b""
        return out

    def take_rest(self) -> bytes:
        """Bytes held but not parsed (after a 101 they belong to the new protocol); cleared."""
        rest = self._hold
        if self.parser is not None:
            rest, self.parser.buf = self.parser.buf + rest, b""
        self._hold = b""
        return rest

    def _resync(self, data: bytes, out: list[HttpPart], after_error: bool) -> bytes:
        """Unparsed bytes up to the next start line (appended to `out`); from there a fresh parser and
        the bytes it is to read (none found: no parser, b''). After a parser error the start it
        failed on (data[0]) is not taken again."""
        buf = self._hold + data if self._hold else data
        found, i = find_start(buf, 1 if after_error else 0)
        if i:
            out.append(Unparsed(buf[:i]))
        if not found:
            self._hold = buf[i:]
            return b""
        self._hold = b""
        rest = buf[i:]
        self.parser = HttpParser(offset=self.end - len(rest), methods=self.methods)
        return rest


class HttpConnection:
    """Both directions of an http flow: a stream each, sharing the methods of the requests not yet
    answered (so a response to HEAD is read without a body). A 101 response switches both
    directions to the protocol it names (WebSocket, h2c); a client that opens with the HTTP/2
    preface speaks h2c from its first byte (prior knowledge). Other upgrades stay raw (`Unparsed`)."""

    def __init__(self) -> None:
        self.methods: deque[bytes] = deque(maxlen=MAX_PENDING)
        self.streams: list[HttpStream | None] = [None, None]
        self.switched: list[Reader | None] = [None, None]  # per direction, once the protocol switched
        self.protocol: str | None = None  # what it switched to: websocket, h2c, or the 101's Upgrade token

    def feed(self, direction: int, data: bytes) -> list[HttpPart]:
        """The parts of `direction` that `data` completes."""
        reader = self.switched[direction]
        if reader is not None:
            return reader.feed(data)
        s = self.streams[direction]
        if s is None:
            if direction == 0 and self.streams[1] is None and _preface(data):
                client: Reader = H2Reader(0)
                self.switched, self.protocol = [client, H2Reader(1)], "h2c"
                return client.feed(data)
            s = self.streams[direction] = HttpStream(self.methods)
        parts = s.feed(data)
        p = s.parser
        if direction == 1 and p is not None and p.switched is not None:
            parts += self._switch(p.switched, p.switch_head, s.take_rest())
        return parts

    def _switch(self, protocol: bytes, head: HttpHead | None, server_rest: bytes) -> list[HttpPart]:
        """After a 101: both directions read `protocol` from here; returns the server bytes' parts."""
        stream = self.streams[0]
        client_rest = stream.take_rest() if stream is not None else b""
        client: Reader
        server: Reader
        if protocol == b"websocket":
            ext = Extensions.parse(head.header(b"sec-websocket-extensions") if head else None)
            client, server = WebSocketReader(0, ext), WebSocketReader(1, ext)
        elif protocol == b"h2c":
            client, server = H2Reader(0), H2Reader(1, expect_preface=False)
        else:
            client, server = RawReader(), RawReader()
        self.switched = [client, server]
        self.protocol = protocol.decode("ascii", "replace")[:32]
        early = client.feed(client_rest) if client_rest else []
        return early + server.feed(server_rest)

    def gap(self, direction: int, size: int) -> list[HttpPart]:
        """A hole in `direction` (HttpStream.gap); a switched protocol loses its framing for good."""
        reader = self.switched[direction]
        if reader is not None:
            out = reader.eof()
            self.switched[direction] = RawReader()
            return out
        s = self.streams[direction]
        return s.gap(size) if s is not None else []

    def eof(self) -> list[tuple[int, HttpPart]]:
        """The flow ended: (direction, part) of what each direction still held."""
        out = [(d, part) for d, s in enumerate(self.streams) if s is not None for part in s.eof()]
        return out + [(d, part) for d, r in enumerate(self.switched) if r is not None for part in r.eof()]


class Reader(Protocol):
    """One direction of a protocol an http flow switched to."""

    def feed(self, data: bytes) -> list[HttpPart]: ...

    def eof(self) -> list[HttpPart]: ...


class RawReader:
    """An upgrade netwatch does not read (or framing lost at a hole): the bytes as they are."""

    def feed(self, data: bytes) -> list[HttpPart]:
        return [Unparsed(data)] if data else []

    def eof(self) -> list[HttpPart]:
        return []


def _preface(data: bytes) -> bool:
    """The client's first bytes are the HTTP/2 connection preface (or as much of it as came)."""
    n = min(len(data), len(PREFACE))
    return n >= 4 and data[:n] == PREFACE[:n]
