"""Writing frames to a pcapng (or classic pcap) file that stays valid however the capture ends.

Live capture writes every frame it hands the pipeline, so the file re-scans to the same findings.
Blocks are whole before they reach the file and the buffer is flushed on every dashboard tick, so a
killed process still leaves a readable file; `close()` adds the kernel drop count (pcapng ISB).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import BinaryIO

from netwatch import __version__
from netwatch.capture import CaptureError, Frame

SNAPLEN = 262144
_EPB = struct.Struct("<IIIIIII")  # type, length, interface, ts high, ts low, caplen, wirelen
_PCAP_REC = struct.Struct("<IIII")


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


class CaptureWriter:
    """Frames → FILE: pcapng (interfaces described as link types appear), or pcap for a .pcap name."""

    def __init__(self, path: str | Path, iface: str = "", linktype: int | None = None) -> None:
        self.path = str(path)
        self.iface = iface
        self.pcapng = not self.path.lower().endswith(".pcap")
        self.frames = 0
        self._ifaces: dict[int, int] = {}  # linktype → interface id
        self._pcap_linktype: int | None = None
        try:
            self._f: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise CaptureError(f"cannot write capture {self.path}: {e.strerror}") from None
        if self.pcapng:
            shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _option(4, f"netwatch {__version__}".encode()) \
                + _option(0, b"")
            self._f.write(_block(0x0A0D0D0A, shb))
        if linktype is not None:
            self._interface(linktype)

    def _interface(self, linktype: int) -> int:
        """Interface id for a link type, describing it (pcapng IDB / pcap header) on first use."""
        if self.pcapng:
            idb = struct.pack("<HHI", linktype, 0, SNAPLEN)
            if self.iface:
                idb += _option(2, self.iface.encode("utf-8", "replace"))
            idb += _option(9, b"\x06") + _option(0, b"")  # microsecond timestamps
            self._f.write(_block(1, idb))
        elif self._pcap_linktype is None:
            self._f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype))
            self._pcap_linktype = linktype
        else:
            raise CaptureError(f"{self.path}: a pcap file holds one link type; write .pcapng for several")
        n = self._ifaces[linktype] = len(self._ifaces)
        return n

    def write(self, frame: Frame) -> None:
        ts, linktype, data, wirelen = frame
        iface = self._ifaces.get(linktype)
        if iface is None:
            iface = self._interface(linktype)
        us = int(round(ts * 1e6))
        n = len(data)
        if self.pcapng:
            pad = -n % 4
            blen = 32 + n + pad
            self._f.write(_EPB.pack(6, blen, iface, us >> 32, us & 0xFFFFFFFF, n, wirelen))
            self._f.write(data)
            self._f.write(b"\0" * pad + struct.pack("<I", blen))
        else:
            sec, usec = divmod(us, 1_000_000)
            self._f.write(_PCAP_REC.pack(sec, usec, n, wirelen))
            self._f.write(data)
        self.frames += 1

    def flush(self) -> None:
        self._f.flush()

    def close(self, drops: int | None = None) -> None:
        """Finish the file: interface statistics (pcapng), flush, close. Safe to call twice."""
        if self._f.closed:
            return
        try:
            if self.pcapng and drops is not None and self._ifaces:
                us = int(time.time() * 1e6)
                opts = _option(5, struct.pack("<Q", drops)) + _option(0, b"")  # isb_ifdrop, for the capture
                self._f.write(_block(5, struct.pack("<III", 0, us >> 32, us & 0xFFFFFFFF) + opts))
            if self._pcap_linktype is None and not self.pcapng:
                self._interface(1)  # an empty capture is still a valid file
            self._f.flush()
        finally:
            self._f.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
