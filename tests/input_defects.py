"""Crafted broken captures: a valid card-carrying capture followed by one defect each.

The frames come from the bundled `http_card_post.pcap` (made by captures/make_captures.py);
each builder returns the bytes of a capture whose defect sits after the card, so a scan that
keeps what it found must still report NW-CARD-001.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

from netwatch.capture.pcapfile import CaptureReader

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "captures" / "http_card_post.pcap"
SHB_TYPE = 0x0A0D0D0A


def frames() -> list[tuple[float, bytes]]:
    with CaptureReader(SOURCE) as r:
        return [(f.ts, f.data) for f in r]


def block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def shb() -> bytes:
    return block(SHB_TYPE, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(tsresol: int | None = None) -> bytes:
    opts = b""
    if tsresol is not None:
        opts = struct.pack("<HH", 9, 1) + bytes([tsresol]) + b"\0\0\0" + struct.pack("<HH", 0, 0)
    return block(1, struct.pack("<HHI", 1, 0, 262144) + opts)


def epb(ticks: int, data: bytes) -> bytes:
    return block(6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data)


def pcapng(tsresol: int | None = None, ticks: Callable[[float], int] = lambda ts: round(ts * 1e6)) -> bytes:
    return shb() + idb(tsresol) + b"".join(epb(ticks(ts), d) for ts, d in frames())


def pcap() -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for ts, d in frames():
        out.append(struct.pack("<IIII", int(ts), round((ts % 1) * 1e6), len(d), len(d)) + d)
    return b"".join(out)


def short_block(btype: int) -> bytes:
    """A block whose length (12) covers only the block frame, not its fixed fields."""
    return struct.pack("<III", btype, 12, 12)


CORRUPT_DEFLATE = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 32  # reserved block type


def bad_trailer(data: bytes) -> bytes:
    z = bytearray(gzip.compress(data, mtime=0))
    z[-8] ^= 0xFF  # CRC32 of the member no longer matches
    return bytes(z)


# name -> (capture bytes, file suffix, what the reader's `problem` must say)
DEFECTS: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "pcapng-short-epb": (lambda: pcapng() + short_block(6), ".pcapng", "block type 0x6: length 12"),
    "pcapng-short-idb": (lambda: pcapng() + short_block(1), ".pcapng", "block type 0x1: length 12"),
    "pcapng-short-shb": (lambda: pcapng() + struct.pack("<IIII", SHB_TYPE, 16, 0x1A2B3C4D, 16), ".pcapng",
                         "length 16"),
    "pcapng-cut-shb": (lambda: pcapng() + shb()[:10], ".pcapng", "file ends inside a block header"),
    "pcapng-len-below-header": (lambda: pcapng() + struct.pack("<III", 6, 8, 8), ".pcapng", "length 8"),
    "pcapng-huge-block": (lambda: pcapng() + struct.pack("<III", 6, 0xFFFFFFF0, 0), ".pcapng", "length 4294967280"),
    "pcap-huge-caplen": (lambda: pcap() + struct.pack("<IIII", 1, 0, 0xFFFFFFFF, 60), ".pcap",
                         "record length 4294967295"),
    "gz-corrupt-second-member": (lambda: gzip.compress(pcap(), mtime=0) + CORRUPT_DEFLATE, ".pcap.gz",
                                 "compressed data is corrupt"),
    "gz-bad-trailer": (lambda: bad_trailer(pcap()), ".pcap.gz", "CRC check failed"),
}
