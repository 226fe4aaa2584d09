"""dumpcap's spool: a nameless private file that dumpcap writes and netwatch reads behind it.

Why: dumpcap writing into a pipe waits whenever netwatch's analysis falls behind; its kernel ring
then fills and the kernel drops packets (21% of a 100k packets/s burst on lo). Writing a file never
waits, so the kernel ring is always emptied at once; netwatch reads the file as it grows with the
offline scan's pcap record walk (`capture/blocks`: whole blocks, no per-frame objects) and catches
up after a burst.

No card data stays behind: the file is opened without a name (O_TMPFILE, or unlinked at once),
mode 0600, in /dev/shm (memory) where it exists, else the temp directory; the kernel frees it when
netwatch and dumpcap exit, however they exit. What has been read is punched out of the file
(fallocate), so it holds only the backlog, and a backlog over `max_backlog` bytes is skipped whole
and counted as netwatch's own loss rather than filling memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO, Literal

import numpy as np

from netwatch.capture.blocks import BLOCK, FrameBlock, PcapLayout, pcap_block, walk_records

PCAP_HEADER = 24
CHUNK = 1 << 20
MAX_RECORD = 1 << 18
POLL = 0.01  # seconds between looks at a spool that has nothing new
PUNCH_EVERY = 8 << 20  # bytes read between two hole punches
MAX_BACKLOG = 1 << 30  # unread bytes beyond which the oldest are skipped (counted), not kept
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
MAGICS: dict[bytes, tuple[Literal["<", ">"], float]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}


def spool_dir() -> str | None:
    """/dev/shm (memory, never disk) when it is there and writable; else the default temp directory."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def open_spool() -> IO[bytes]:
    """A private (0600) file with no name: nothing to delete at exit, nothing left after a crash."""
    return tempfile.TemporaryFile(dir=spool_dir())


def _fallocate() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.fallocate
    except (OSError, AttributeError):  # not Linux: the spool keeps what was read until exit
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    fn.restype = ctypes.c_int
    return fn


class SpoolReader:
    """Blocks of the classic pcap dumpcap writes into `spool`, read as it grows (pread: the writer's
    file offset is left alone). `problem` says why the stream broke off; `skipped` counts frames
    never analysed (backlog over the bound, or left unread when told to give up)."""

    def __init__(self, spool: IO[bytes], max_backlog: int = MAX_BACKLOG) -> None:
        self.fd = spool.fileno()
        self.max_backlog = max_backlog
        self.buf = b""
        self.pos = 0  # next unread byte of buf
        self.base = 0  # file offset of buf[0]
        self.read_to = 0  # file offset just past buf
        self.punched = 0
        self.skipped = 0
        self.count_left = True  # whether what is left unread when giving up counts as skipped
        self.frames = 0
        self.problem: str | None = None
        self.layout: PcapLayout | None = None
        self._punch = _fallocate()

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def backlog(self) -> int:
        """Bytes written by dumpcap and not yet analysed."""
        return max(self.size() - (self.base + self.pos), 0)

    def header_written(self) -> bool:
        return self.size() >= PCAP_HEADER

    def _more(self) -> bool:
        """Append what the file holds beyond the window; False when it has nothing new."""
        more = os.pread(self.fd, CHUNK, self.read_to)
        if not more:
            return False
        self.base += self.pos
        self.buf = self.buf[self.pos :] + more
        self.pos = 0
        self.read_to += len(more)
        return True

    def _header(self) -> bool:
        while len(self.buf) < PCAP_HEADER:
            if not self._more():
                return False
        magic = self.buf[:4]
        if magic not in MAGICS:
            self.problem = "dumpcap's output is not a classic pcap stream"
            return False
        order, unit = MAGICS[magic]
        (linktype,) = struct.unpack_from(order + "I", self.buf, 20)
        self.layout = PcapLayout(order, unit, 16, linktype & 0xFFFF)
        self.pos = PCAP_HEADER
        return True

    def blocks(self, producing: Callable[[], bool], give_up: Callable[[], bool]) -> Iterator[FrameBlock]:
        """Frame blocks as dumpcap writes them, until it has exited and all it wrote is read, or
        until `give_up()` (what is left is then counted in `skipped`)."""
        while not self._header():
            if self.problem or not producing() or give_up():
                return
            time.sleep(POLL)
        layout = self.layout
        assert layout is not None  # _header() set it
        while True:
            alive = producing()  # asked before reading: what it wrote before exiting is read below
            got = self._more()
            if give_up():
                if self.count_left:
                    self.skipped += self._count_rest()
                return
            behind = self.backlog()  # unread bytes, this window's included
            offsets, self.pos = walk_records(self.buf, self.pos, layout, MAX_RECORD)
            n = len(offsets)
            if n:
                self.frames += n
                if behind > self.max_backlog:
                    self.skipped += n  # too far behind: these frames are dropped, and counted
                else:
                    for i in range(0, n, BLOCK):
                        yield _micro(pcap_block(self.buf, offsets[i : i + BLOCK], layout))
                self._release()
            elif not got:
                if self._corrupt(layout):
                    return
                if not alive:
                    if len(self.buf) > self.pos:
                        self.problem = "dumpcap's output ends inside a record"
                    return
                time.sleep(POLL)

    def _corrupt(self, layout: PcapLayout) -> bool:
        """A record header whose length no frame can have: the stream cannot be followed further."""
        if len(self.buf) - self.pos < 16:
            return False
        (caplen,) = struct.unpack_from(layout.order + "8xI", self.buf, self.pos)
        if caplen <= MAX_RECORD:
            return False
        self.problem = f"dumpcap's output holds an impossible record length ({caplen}) at byte {self.base + self.pos}"
        return True

    def _count_rest(self) -> int:
        """Frames left unread, walked (not analysed) to count them."""
        layout = self.layout
        if layout is None:
            return 0
        n = 0
        while True:
            offsets, self.pos = walk_records(self.buf, self.pos, layout, MAX_RECORD)
            n += len(offsets)
            if not self._more():
                return n

    def _release(self) -> None:
        """Punch out of the file what has been read, so it holds only the backlog."""
        done = (self.base + self.pos) & ~(CHUNK - 1)
        if self._punch is None or done - self.punched < PUNCH_EVERY:
            return
        if self._punch(self.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, self.punched, done - self.punched):
            self._punch = None  # the file system cannot: the spool keeps it until exit
            return
        self.punched = done


def _micro(block: FrameBlock) -> FrameBlock:
    """Timestamps rounded to the microsecond as the pcapng reader and the scapy backend give them."""
    return block._replace(ts=np.round(block.ts * 1e6) * 1e-6)
