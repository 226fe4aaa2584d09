"""One direction of an http flow as parts in stream order (`HttpPart`: heads, messages, bytes in no
message), parsed once for every reader.

A direction may not be HTTP all the way: the capture began mid-message, the parser gave up on bytes
that are not HTTP (a protocol switch, a body sent without a length), bytes were lost. Those bytes
come out as `Unparsed` up to the next line that begins a request or a response, where a fresh
`HttpParser` takes over, so a later request's headers are read again. Sans-IO and bounded: one
parser, at most 8 held-back bytes.
"""

from __future__ import annotations

import re

from netwatch.protocols.http import HttpParser, HttpPart, Unparsed

MESSAGE_START = re.compile(rb"\n(?=(?:GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE) |HTTP/1\.)")
LONGEST_START = 8  # "\nOPTIONS" or "\nCONNECT" before its space: what may be cut at a chunk's end
MAX_RESTARTS = 1000  # fresh parsers per fed chunk; past that the chunk's rest is handed on unparsed


class HttpStream:
    """The parts of one direction, fed chunk by chunk (contiguous bytes; `gap` for a hole)."""

    def __init__(self) -> None:
        self.parser: HttpParser | None = HttpParser()  # None: between messages, looking for the next start
        self.end = 0  # stream offset just past the bytes fed (holes counted)
        self._hold = b""  # the end of unparsed bytes: may be the first bytes of a message start

    def feed(self, data: bytes) -> list[HttpPart]:
        """The parts `data` completes, in stream order."""
        self.end += len(data)
        out: list[HttpPart] = []
        for _ in range(MAX_RESTARTS):
            if self.parser is None:
                data = self._resync(data, out)
                if self.parser is None:
                    return out
            out += self.parser.feed_parts(data)
            if self.parser.error is None:
                return out
            data, self.parser = self.parser.buf, None  # not HTTP from here: find the next message start
        if data:
            out.append(Unparsed(data))
        return out

    def gap(self, size: int) -> None:
        """`size` bytes were lost: nothing parsed so far continues across the hole."""
        self.parser, self._hold = None, b""
        self.end += size

    def eof(self) -> list[HttpPart]:
        """The stream ended: a close-delimited or cut-off message as far as it goes, and held bytes."""
        out = self.parser.eof_parts() if self.parser is not None else []
        if self._hold:
            out.append(Unparsed(self._hold))
            self._hold = b""
        return out

    def _resync(self, data: bytes, out: list[HttpPart]) -> bytes:
        """Unparsed bytes up to the next line that starts a message (appended to `out`); from there a
        fresh parser and the bytes it is to read (none found: no parser, b'')."""
        buf = self._hold + data if self._hold else data
        m = MESSAGE_START.search(buf)
        if m is None:
            nl = buf.rfind(b"\n", max(0, len(buf) - LONGEST_START))
            cut = nl if nl >= 0 else len(buf)
            self._hold = buf[cut:]
            if cut:
                out.append(Unparsed(buf[:cut]))
            return b""
        cut = m.end()
        out.append(Unparsed(buf[:cut]))
        self._hold = b""
        rest = buf[cut:]
        self.parser = HttpParser(offset=self.end - len(rest))
        return rest
