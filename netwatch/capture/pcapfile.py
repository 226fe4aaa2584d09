"""pcap and pcapng file reading, with truncation reported rather than raised.

The readers walk records with `struct.unpack_from` over large read chunks: this is the hot path of
an offline scan, so it avoids per-record I/O calls. dpkt's pcapng Reader applies the first
interface's link type to every packet and stops at the first bad block, so pcapng is walked here
too (block by block, per-interface link type and timestamp resolution).
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

from netwatch.capture import CaptureError, Frame
from netwatch.capture.blocks import BLOCK, FrameBlock, PcapLayout, batches, pcap_block, walk_records

CHUNK = 1 << 20
MAX_RECORD = 1 << 18  # no link type has frames near 256 KiB; larger means a corrupt length

PCAP_MAGICS: dict[bytes, tuple[Literal["<", ">"], float, int]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1e-6, 24),  # Kuznetzov's modified pcap (extra 8-byte record tail)
    b"\xa1\xb2\xcd\x34": (">", 1e-6, 24),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
PCAP_HEADER = 24  # bytes of a pcap file header
# smallest valid length of each pcapng block type: 12-byte frame plus its fixed fields
MIN_BLOCK = {0x0A0D0D0A: 28, 1: 20, 2: 32, 3: 16, 6: 32}
# what a damaged file or compressed stream raises from read(): each ends that input, not the run
READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)


def _read_exactly(f: BinaryIO, n: int) -> bytes:
    """Up to n bytes, fewer only at the end of input (a pipe's read may return less than asked)."""
    out = b""
    while len(out) < n:
        more = f.read(n - len(out))
        if not more:
            break
        out += more
    return out


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of it: lets gzip start at the magic number."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.rest.read(len(b))
        b[: len(data)] = data
        return len(data)


class _Chunked:
    """A growing window over a binary file: `need(n)` makes n bytes from `pos` available."""

    __slots__ = ("f", "buf", "pos", "base", "eof")

    def __init__(self, f: BinaryIO, head: bytes) -> None:
        self.f = f
        self.buf = head
        self.pos = 0
        self.base = 0  # file offset of buf[0]
        self.eof = False

    def need(self, n: int) -> bool:
        if len(self.buf) - self.pos >= n:
            return True
        read = getattr(self.f, "read1", self.f.read)  # read1: a cut .gz yields what precedes the cut
        while not self.eof and len(self.buf) - self.pos < n:
            more = read(max(CHUNK, n))
            if not more:
                self.eof = True
                break
            self.base += self.pos
            self.buf = self.buf[self.pos :] + more
            self.pos = 0
        return len(self.buf) - self.pos >= n

    def offset(self) -> int:
        return self.base + self.pos

    def left(self) -> int:
        return len(self.buf) - self.pos


class CaptureReader:
    """Iterate the frames of one capture file; `problem` says where and why input broke off."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.problem: str | None = None
        self.format = ""
        self.frames_read = 0
        p = Path(path)
        if not p.exists():
            raise CaptureError(f"no such file: {path}")
        if p.is_dir():
            raise CaptureError(f"is a directory, not a capture file: {path}")
        try:
            raw: BinaryIO = open(p, "rb")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise CaptureError(f"cannot open {path}: {e.strerror}") from None
        head = raw.read(4)
        if head[:2] == GZIP_MAGIC:
            raw.seek(0)
            raw = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
            try:
                head = raw.read(4)
            except READ_ERRORS as e:
                raise CaptureError(f"not a readable gzip file: {path} ({e})") from None
        self._start(raw, head)

    @classmethod
    def from_stream(cls, f: BinaryIO, name: str) -> CaptureReader:
        """Read a pcap/pcapng stream, e.g. dumpcap's stdout. Pass an unbuffered pipe (`read` returns what
        is there) so that frames come out as they arrive instead of once a 1 MiB chunk has filled."""
        self = cls.__new__(cls)
        self.path, self.problem, self.format, self.frames_read = name, None, "", 0
        head = _read_exactly(f, 4)
        if len(head) < 4:
            raise CaptureError(f"{name}: stream ended before a capture header")
        if head[:2] == GZIP_MAGIC:  # `gzip -c x.pcap | netwatch scan -`: decompressed as files are
            f = gzip.GzipFile(fileobj=_Prefixed(head, f))  # type: ignore[assignment]
            try:
                head = _read_exactly(f, 4)
            except READ_ERRORS as e:
                raise CaptureError(f"{name}: not a readable gzip stream ({e})") from None
        self._start(f, head)
        return self

    def _start(self, raw: BinaryIO, head: bytes) -> None:
        self._f = raw
        self._raw = raw.fileobj if isinstance(raw, gzip.GzipFile) else raw  # for progress
        if head in PCAP_MAGICS:
            self.format = "pcap"
        elif head == PCAPNG_SHB:
            self.format = "pcapng"
        else:
            raw.close()
            raise CaptureError(f"not a pcap or pcapng file: {self.path}")
        # A file cut inside its own header holds no capture at all: an input error like an empty
        # file, not an empty scan (which would pass a CI gate in silence).
        want = PCAP_HEADER if self.format == "pcap" else MIN_BLOCK[0x0A0D0D0A]
        try:
            head += _read_exactly(raw, want - len(head))
        except READ_ERRORS as e:
            raw.close()
            raise CaptureError(f"{self.path}: unreadable capture header ({e})") from None
        if len(head) < want:
            raw.close()
            raise CaptureError(f"{self.path}: file ends inside the {self.format} file header "
                               f"({len(head)} of {want} bytes): not a capture")
        self._head = head

    def position(self) -> int:
        """Bytes of the file (compressed, for .gz) consumed so far: for progress bars."""
        try:
            return self._raw.tell()
        except (OSError, ValueError, AttributeError):
            return 0

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        return map(Frame._make, self.records())

    def records(self) -> Iterator[tuple[float, int, bytes, int]]:
        """The frames as plain (ts, linktype, data, wirelen) tuples: the scan's hot loop uses these.

        Returns the walking generator itself (no delegating generator in between: one frame fewer
        per record on the hot path); read errors are caught inside it.
        """
        return self._pcap() if self.format == "pcap" else self._pcapng()

    def _read_error(self, e: Exception, r: _Chunked) -> None:
        """A read that failed mid-file (e.g. a corrupt .gz member): keep what was read, say why and where."""
        what = "compressed data is corrupt" if isinstance(e, zlib.error) else "read error"
        self._broke(f"{what}: {e}", r.offset())

    def _broke(self, what: str, offset: int) -> None:
        self.problem = f"{what} (packet {self.frames_read + 1}, byte offset {offset})"

    def blocks(self) -> Iterator[FrameBlock]:
        """The frames in blocks (`netwatch.capture.blocks`): a pcap read window at a time, else batches."""
        return self._pcap_blocks() if self.format == "pcap" else batches(self._pcapng())

    def _pcap(self) -> Iterator[tuple[float, int, bytes, int]]:
        for block in self._pcap_blocks():
            yield from block.frames()

    def _pcap_blocks(self) -> Iterator[FrameBlock]:
        order, unit, rec_len = PCAP_MAGICS[self._head[:4]]
        r = _Chunked(self._f, self._head)
        try:
            r.need(PCAP_HEADER)  # the header itself was read whole by _start
            (linktype,) = struct.unpack_from(order + "I", r.buf, 20)
            layout = PcapLayout(order, unit, rec_len, linktype & 0xFFFF)
            r.pos = 24
            unpack = struct.Struct(order + "IIII").unpack_from
            while True:
                offsets, r.pos = walk_records(r.buf, r.pos, layout, MAX_RECORD)  # every whole record in the window
                for i in range(0, len(offsets), BLOCK):
                    part = offsets[i : i + BLOCK]
                    self.frames_read += len(part)
                    yield pcap_block(r.buf, part, layout)
                if not r.need(rec_len):
                    if r.left():
                        self._broke("file ends inside a record header", r.offset())
                    return
                caplen = unpack(r.buf, r.pos)[2]
                if caplen > MAX_RECORD:
                    self._broke(f"record length {caplen} is impossible; capture is corrupt", r.offset())
                    return
                if not r.need(rec_len + caplen):
                    self._broke(
                        f"file ends inside a packet: record says {caplen} bytes, {r.left() - rec_len} left",
                        r.offset(),
                    )
                    tail = r.left() - rec_len
                    if tail > 0:
                        self.frames_read += 1
                        yield pcap_block(r.buf, [r.pos], layout, tail)
                    r.pos = len(r.buf)
                    return
        except READ_ERRORS as e:
            self._read_error(e, r)

    def _pcapng(self) -> Iterator[tuple[float, int, bytes, int]]:
        r = _Chunked(self._f, self._head)
        try:
            order = "<"
            ifaces: list[tuple[int, float, int]] = []  # (linktype, seconds per tick, snaplen)
            while True:
                if not r.need(12):
                    if r.left():
                        self._broke("file ends inside a block header", r.offset())
                    return
                btype_raw = r.buf[r.pos : r.pos + 4]
                if btype_raw == PCAPNG_SHB:
                    bom = r.buf[r.pos + 8 : r.pos + 12]
                    if bom == b"\x4d\x3c\x2b\x1a":
                        order = "<"
                    elif bom == b"\x1a\x2b\x3c\x4d":
                        order = ">"
                    else:
                        self._broke("section header with an unknown byte-order magic", r.offset())
                        return
                    ifaces = []
                btype, blen = struct.unpack_from(order + "II", r.buf, r.pos)
                if blen < MIN_BLOCK.get(btype, 12) or blen % 4 or blen > MAX_RECORD + 64:
                    self._broke(f"block type {btype:#x}: length {blen} is invalid; capture is corrupt", r.offset())
                    return
                if not r.need(blen):
                    self._broke(f"file ends inside a block: block says {blen} bytes, {r.left()} left", r.offset())
                    return
                body = r.pos + 8
                end = r.pos + blen - 4
                buf = r.buf
                if btype == 1:  # interface description
                    linktype, _, snaplen = struct.unpack_from(order + "HHI", buf, body)
                    ifaces.append((linktype, _tsresol(buf, body + 8, end, order), snaplen))
                elif btype in (6, 2):  # enhanced packet, obsolete packet
                    if btype == 6:
                        iface, hi, lo, caplen, wirelen = struct.unpack_from(order + "IIIII", buf, body)
                    else:
                        iface, _, hi, lo, caplen, wirelen = struct.unpack_from(order + "HHIIII", buf, body)
                    data_at = body + 20
                    if iface >= len(ifaces):
                        self._broke(f"packet names interface {iface}, which was never described", r.offset())
                        return
                    linktype, tick, _ = ifaces[iface]
                    caplen = min(caplen, end - data_at)
                    self.frames_read += 1
                    yield ((hi << 32) | lo) * tick, linktype, buf[data_at : data_at + caplen], wirelen
                elif btype == 3:  # simple packet
                    if not ifaces:
                        self._broke("simple packet block before any interface description", r.offset())
                        return
                    (wirelen,) = struct.unpack_from(order + "I", buf, body)
                    linktype, _, snaplen = ifaces[0]
                    caplen = min(wirelen, end - body - 4, snaplen or wirelen)
                    self.frames_read += 1
                    yield 0.0, linktype, buf[body + 4 : body + 4 + caplen], wirelen
                r.pos += blen
        except READ_ERRORS as e:
            self._read_error(e, r)


def _tsresol(buf: bytes, at: int, end: int, order: str) -> float:
    """Seconds per timestamp tick from an IDB's options (if_tsresol, code 9); default microseconds."""
    while at + 4 <= end:
        code, olen = struct.unpack_from(order + "HH", buf, at)
        if code == 0:
            break
        if code == 9 and olen >= 1:
            v = buf[at + 4]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        at += 4 + ((olen + 3) & ~3)
    return 1e-6


def is_capture(head: bytes) -> bool:
    """True when the first bytes look like pcap, pcapng or gzip."""
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_SHB or head[:2] == GZIP_MAGIC


__all__ = ["CaptureReader", "CaptureError", "is_capture"]
