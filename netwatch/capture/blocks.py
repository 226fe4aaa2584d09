"""Frames in blocks: one buffer and arrays of where each frame lies, for the scan's vector fast path.

A pcap reader hands over a whole read window at once (the record headers are gathered with numpy,
the frames' bytes are never copied); any other source (pcapng, a live interface) joins a batch of
frames into one buffer. `netwatch.flows.fastpath` decodes the headers of a whole block at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from netwatch.capture import Frame
from netwatch.capture.compiled import records

Ints = npt.NDArray[np.int64]
# frames per block: smaller blocks see more flows already settled when they start (a flow's packets are
# spread over a few thousand frames), larger ones spread numpy's per-call cost over more frames
BLOCK = 2048
Floats = npt.NDArray[np.float64]


class FrameBlock(NamedTuple):
    """Frames `i` of a block: `buf[start[i] : start[i] + caplen[i]]`, captured at `ts[i]`."""

    buf: bytes
    start: Ints
    caplen: Ints
    wirelen: Ints
    ts: Floats
    linktype: Ints

    @property
    def size(self) -> int:
        """The number of frames."""
        return len(self.start)

    def frames(self) -> Iterator[tuple[float, int, bytes, int]]:
        """The block's frames one by one, as (ts, linktype, data, wirelen)."""
        buf = self.buf
        for ts, lt, s, c, w in zip(self.ts.tolist(), self.linktype.tolist(), self.start.tolist(),
                                   self.caplen.tolist(), self.wirelen.tolist(), strict=True):
            yield ts, lt, buf[s : s + c], w


def block_of(frames: Iterable[Frame | tuple[float, int, bytes, int]]) -> FrameBlock:
    """Join frames (from any source) into one block."""
    ts, lts, datas, wirelens = [], [], [], []
    for t, lt, data, wl in frames:
        ts.append(t)
        lts.append(lt)
        datas.append(data)
        wirelens.append(wl)
    caplen = np.fromiter(map(len, datas), np.int64, len(datas))
    start = np.zeros(len(datas), np.int64)
    if len(datas) > 1:
        np.cumsum(caplen[:-1], out=start[1:])
    return FrameBlock(b"".join(datas), start, caplen, np.array(wirelens, np.int64), np.array(ts, np.float64),
                      np.array(lts, np.int64))


def batches(records: Iterable[tuple[float, int, bytes, int]], size: int = BLOCK) -> Iterator[FrameBlock]:
    """Blocks of up to `size` frames from a frame-by-frame source."""
    batch: list[tuple[float, int, bytes, int]] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= size:
            yield block_of(batch)
            batch = []
    if batch:
        yield block_of(batch)


class PcapLayout(NamedTuple):
    """How a classic pcap file lays out its record headers."""

    order: Literal["<", ">"]  # struct byte order of the headers
    unit: float  # seconds per fraction tick (µs or ns)
    rec_len: int  # header bytes per record (16, or 24 in Kuznetzov's modified pcap)
    linktype: int


def walk_records(buf: bytes, pos: int, layout: PcapLayout, max_record: int) -> tuple[list[int] | Ints, int]:
    """Offsets of the whole records in `buf` from `pos` on, and where the first incomplete one starts.

    The only per-record Python left in an offline scan (the compiled core's C loop, when built):
    each header's length says where the next is."""
    if records is not None:
        walked: tuple[Ints, int] = records.walk_records(buf, pos, layout, max_record)
        return walked
    caplen_at = struct.Struct(layout.order + "8xI").unpack_from
    rec_len = layout.rec_len
    offsets: list[int] = []
    add = offsets.append
    end = len(buf) - rec_len
    while pos <= end:
        (caplen,) = caplen_at(buf, pos)
        stop = pos + rec_len + caplen
        if stop > end + rec_len or caplen > max_record:
            break
        add(pos)
        pos = stop
    return offsets, pos


def pcap_block(buf: bytes, offsets: list[int] | Ints, layout: PcapLayout, tail: int | None = None) -> FrameBlock:
    """The records at `offsets` of a pcap window as a block (headers gathered at once, bytes in place).

    `tail`: the last record is cut short by the end of the file and holds only this many bytes."""
    if records is not None:
        start, caplen, wirelen, ts = records.pcap_block(buf, offsets, layout, tail)
        return FrameBlock(buf, start, caplen, wirelen, ts, np.full(len(start), layout.linktype, np.int64))
    at = np.array(offsets, np.int64)
    raw = np.frombuffer(buf, np.uint8)
    heads = raw[at[:, None] + np.arange(16)].view(np.dtype(np.uint32).newbyteorder(layout.order)).astype(np.int64)
    caplen = heads[:, 2].copy()
    if tail is not None:
        caplen[-1] = tail
    ts = heads[:, 0].astype(np.float64) + heads[:, 1].astype(np.float64) * layout.unit
    return FrameBlock(buf, at + layout.rec_len, caplen, heads[:, 3].copy(), ts,
                      np.full(len(at), layout.linktype, np.int64))
