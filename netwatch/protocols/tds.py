"""TLS inside TDS (SQL Server, MS-TDS 3.3.2): during the handshake each TLS record travels inside
PRELOGIN packets (type 0x12, an 8-byte header); after it, TLS records follow raw. SQL Server runs
this handshake even with encryption off (it protects the LOGIN7 packet), so its certificate shows
on every connection that supports encryption. Pure and bounded: `TdsTlsUnwrap.feed` returns the TLS
bytes of one direction's stream, keeping at most one packet header between calls.
"""

from __future__ import annotations

PRELOGIN = 0x12
HEADER = 8


class TdsTlsUnwrap:
    """One direction: TDS packets in, the TLS bytes they carry out (raw TLS passes once it appears)."""

    __slots__ = ("_head", "_left", "_carry", "raw")

    def __init__(self) -> None:
        self._head = b""  # an unfinished packet header
        self._left = 0  # payload bytes of the current packet still to come
        self._carry: bool | None = False  # the current packet's payload is TLS (None: a PRELOGIN, not yet known)
        self.raw = False  # TLS records now come without TDS packets

    def feed(self, data: bytes) -> bytes:
        out = []
        i, n = 0, len(data)
        while i < n:
            if self.raw:
                out.append(data[i:])
                break
            if self._left:
                take = min(self._left, n - i)
                if self._carry is None:  # a PRELOGIN carries TLS, or the pre-login options themselves
                    self._carry = data[i] in (0x14, 0x15, 0x16, 0x17)
                if self._carry:
                    out.append(data[i : i + take])
                self._left -= take
                i += take
                continue
            if not self._head and data[i] in (0x14, 0x15, 0x16, 0x17):  # a TLS record where a packet would start
                self.raw = True
                continue
            take = min(HEADER - len(self._head), n - i)
            self._head += data[i : i + take]
            i += take
            if len(self._head) == HEADER:
                length = int.from_bytes(self._head[2:4], "big")
                self._carry, self._left = (None if self._head[0] == PRELOGIN else False), max(0, length - HEADER)
                self._head = b""
        return b"".join(out)
