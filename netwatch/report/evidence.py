"""Redacted evidence captures: one pcap per finding, cut from the flows the finding aggregated.

The scan did the work (`netwatch.flows.trace`): it tied every frame to its flow by number, kept the
bytes the reassembler delivered, and, for the flows findings name, redacted them where the
detections said they stand plus the conservative floor. What is left here: one read of the
capture that picks those frames by number (no decoding, no reassembly), puts each frame's redacted
payload in place (`netwatch.packets.frames`: header offsets, checksums), and writes one pcap per
finding with the capture writer. A final pass reads each file's payloads with the conservative
scanner and refuses to keep a file that still holds anything like card data; the finding says why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netwatch.capture import CaptureError, Frame
from netwatch.capture.blocks import FrameBlock, batches
from netwatch.capture.pcapfile import CaptureReader
from netwatch.capture.writer import CaptureWriter
from netwatch.findings.aggregate import Finding
from netwatch.flows.trace import EvidenceFlow
from netwatch.packets.frames import Loc, fix_checksums, locate
from netwatch.pipeline.session import SourceReport
from netwatch.redaction.floor import holds_card
from netwatch.redaction.packets import FILLER

MAX_FILES = 500  # evidence files per run
BUFFER_FRAMES = 200_000  # live without --write: frames kept in memory for evidence...
BUFFER_BYTES = 128 << 20  # ...and their bytes, whichever comes first
REFUSED = "evidence withheld: the written capture still matched the conservative card-data scan"

Record = tuple[float, int, bytes, int]  # ts, link type, frame bytes, wire length


@dataclass
class EvidenceOptions:
    directory: Path


@dataclass
class Written:
    """One frame, redacted, ready for a finding's file."""

    number: int
    ts: float
    linktype: int
    frame: bytes
    wirelen: int
    flow: int  # the flow's first frame number
    direction: int
    payload: tuple[int, int]  # where the payload sits in `frame`


def _matches(loc: Loc, ev: EvidenceFlow, direction: int) -> bool:
    """The located headers are the flow's own (a tunnelled frame's outer headers are not)."""
    a, b = (ev.client, ev.server) if direction == 0 else (ev.server, ev.client)
    return loc.proto == ev.proto and (loc.src, loc.sport, loc.dst, loc.dport) == (*a, *b)


def _place(data: bytes, linktype: int, ev: EvidenceFlow, direction: int, offset: int) -> tuple[bytes, Loc] | None:
    """The frame with its payload replaced by the redacted bytes at `offset` of its direction's stream;
    bytes the scan did not keep (past the bounds, never delivered) become FILLER."""
    loc = locate(linktype, data)
    if loc is None or not _matches(loc, ev, direction):
        return None
    frame = bytearray(data)
    n = loc.end - loc.payload
    if n:
        stream = ev.streams[direction]
        out = bytearray([FILLER]) * n
        lo, hi = max(0, -offset), min(n, len(stream) - offset)
        if lo < hi:
            out[lo:hi] = stream[offset + lo : offset + hi]
        frame[loc.payload : loc.end] = out
    fix_checksums(frame, loc)
    return bytes(frame), loc


def pick(blocks: Iterable[FrameBlock], flows: dict[int, EvidenceFlow]) -> dict[int, Written]:
    """One read of the capture: the frames of `flows` by number, redacted."""
    where = {number: (ev, d, off) for ev in flows.values() for number, d, off in ev.packets}
    if not where:
        return {}
    wanted = np.array(sorted(where), np.int64)
    out: dict[int, Written] = {}
    base = 0
    for block in blocks:
        n = block.size
        lo, hi = np.searchsorted(wanted, [base + 1, base + n + 1])
        for number in wanted[lo:hi].tolist():
            i = number - base - 1
            s, c = int(block.start[i]), int(block.caplen[i])
            lt = int(block.linktype[i])
            ev, d, off = where[number]
            placed = _place(block.buf[s : s + c], lt, ev, d, off)
            if placed is not None:
                frame, loc = placed
                out[number] = Written(number, float(block.ts[i]), lt, frame, int(block.wirelen[i]), ev.number, d,
                                      (loc.payload, loc.end))
        base += n
        if base >= wanted[-1]:
            break
    return out


def file_name(index: int, f: Finding) -> str:
    """e.g. 001_NW-CARD-001_10.20.1.15_to_198.51.100.77-8080_tcp.pcap (IPv6 colons become dashes)."""
    def clean(s: str) -> str:
        return re.sub(r"[^0-9A-Za-z.]", "-", s)

    return f"{index:03d}_{clean(f.rule)}_{clean(f.src or '')}_to_{clean(f.dst or '')}-{f.dport}_{f.proto}.pcap"


def still_holds_card(packets: list[Written]) -> bool:
    """The final check: each flow direction's payloads joined in file order (a number within one
    payload is within the join too; one cut over segments is whole only there)."""
    joined: dict[tuple[int, int], bytearray] = {}
    for p in packets:
        joined.setdefault((p.flow, p.direction), bytearray()).extend(p.frame[p.payload[0] : p.payload[1]])
    return any(holds_card(bytes(b)) for b in joined.values())


def write_evidence(blocks: Iterable[FrameBlock], findings: list[Finding], flows: dict[int, EvidenceFlow],
                   opts: EvidenceOptions, start: int = 1) -> int:
    """Write one redacted capture per finding of one source and name it on the finding. Returns the
    next file index."""
    wanted = {n: flows[n] for f in findings for n in f.flows if n in flows}
    frames = pick(blocks, wanted)
    opts.directory.mkdir(parents=True, exist_ok=True)
    index = start
    for f in findings:
        chosen = [flows[n] for n in f.flows if n in flows]
        packets = sorted((frames[num] for ev in chosen for num, _d, _o in ev.packets if num in frames),
                         key=lambda p: p.number)
        if not packets or index > MAX_FILES:
            continue
        linktype = packets[0].linktype
        packets = [p for p in packets if p.linktype == linktype]  # a pcap file holds one link type
        if still_holds_card(packets):
            f.evidence_redaction = [REFUSED]
            continue
        path = opts.directory / file_name(index, f)
        index += 1
        with CaptureWriter(path, linktype=linktype) as w:
            for p in packets:
                w.write(Frame(p.ts, p.linktype, p.frame, p.wirelen))
        f.evidence_file = str(path)
        f.evidence_packets = [p.number for p in packets]
        f.evidence_redaction = sorted({n for ev in chosen for n in ev.notes}) or None
    return index


def evidence_for_reports(reports: list[SourceReport], opts: EvidenceOptions,
                         only: list[Finding] | None = None) -> int:
    """Evidence for every scanned file, for its findings or those of them in `only` (what a report
    filter kept). Returns files written. Standard input cannot be read twice: it gets none."""
    keep = None if only is None else {id(f) for f in only}
    index = 1
    for r in reports:
        findings = [f for f in r.findings if keep is None or id(f) in keep]
        if not findings or r.error or r.source == "-" or not r.evidence_flows:
            continue
        try:
            reader = CaptureReader(r.source)
        except CaptureError:
            continue  # gone since the scan: nothing to take evidence from
        with reader:
            index = write_evidence(reader.blocks(), findings, r.evidence_flows, opts, index)
    return index - 1


class FrameBuffer:
    """Live frames kept in memory (bounded) for evidence when no --write file is asked for; the
    same interface as `CaptureWriter`. Holds cardholder data: dropped once evidence is written.
    Frames past the bounds are not kept; their numbers stay counted, so numbers match the scan's."""

    def __init__(self, max_frames: int = BUFFER_FRAMES, max_bytes: int = BUFFER_BYTES) -> None:
        self.frames: list[Record] = []
        self.size = 0
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self.dropped = 0

    def write(self, frame: Record) -> None:
        if self.dropped or len(self.frames) >= self.max_frames or self.size + len(frame[2]) > self.max_bytes:
            self.dropped += 1
            return
        self.frames.append(frame)
        self.size += len(frame[2])

    def flush(self) -> None:
        """Nothing to flush: frames stay in memory."""

    def close(self, drops: int | None = None) -> None:
        """Kept for the writer interface; the frames are released by `take`."""

    def take(self) -> Iterator[Record]:
        frames, self.frames = self.frames, []
        self.size = 0
        yield from frames


def live_evidence(findings: list[Finding], flows: dict[int, EvidenceFlow], opts: EvidenceOptions,
                  write_path: str | None, buffer: FrameBuffer | None) -> int:
    """Evidence after a live session: from the --write capture, else from the in-memory frames."""
    if write_path and os.path.exists(write_path):
        try:
            reader = CaptureReader(write_path)
        except CaptureError:
            return 0
        with reader:
            return write_evidence(reader.blocks(), findings, flows, opts) - 1
    if buffer is not None:
        return write_evidence(batches(buffer.take()), findings, flows, opts) - 1
    return 0
