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
from netwatch.flows.fastpath import headers
from netwatch.flows.trace import MAX_PACKETS, EvidenceFlow
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


Key = tuple[int, bytes, int, bytes, int]  # proto, source address and port, destination address and port


def _place(data: bytes, loc: Loc, stream: bytes, offset: int) -> bytes:
    """The frame with the redacted bytes at `offset` of the direction's stream as its payload; bytes
    the scan did not keep (past the bounds, never delivered) become FILLER. Checksums are computed
    for every frame (a capture on loopback or with offloading holds frames whose checksum the
    sender's card was to fill in)."""
    frame = bytearray(data)
    n = loc.end - loc.payload
    if n:
        out = bytearray([FILLER]) * n
        lo, hi = max(0, -offset), min(n, len(stream) - offset)
        if lo < hi:
            out[lo:hi] = stream[offset + lo : offset + hi]
        frame[loc.payload : loc.end] = out
    fix_checksums(frame, loc)
    return bytes(frame)


class Picker:
    """Which frames belong to the flows findings name: same 5-tuple, numbered from the flow's first
    frame to its last (a reused port pair is another flow). At most MAX_PACKETS per flow."""

    def __init__(self, flows: dict[int, EvidenceFlow], must: frozenset[int] = frozenset()) -> None:
        self.must = must  # frames taken past the per-flow bound: each finding's first and last packet
        self.by_key: dict[Key, list[tuple[EvidenceFlow, int]]] = {}
        for ev in flows.values():
            for d, (a, b) in ((0, (ev.client, ev.server)), (1, (ev.server, ev.client))):
                self.by_key.setdefault((ev.proto, a[0], a[1], b[0], b[1]), []).append((ev, d))
        # IPv4 address pairs (source then destination, as an IPv4 header has them) of the wanted flows
        v4 = {int.from_bytes(k[1] + k[3], "big") for k in self.by_key if len(k[1]) == 4}
        self.v4 = np.array(sorted(v4), np.uint64) if v4 else None
        self.first = min((ev.number for ev in flows.values()), default=0)
        self.last = max((ev.last for ev in flows.values()), default=-1)
        self.taken: dict[int, int] = {}  # frames taken per flow
        self.udp_at: dict[tuple[int, int], int] = {}  # UDP: offset of the next datagram per flow direction

    def candidates(self, block: FrameBlock, base: int) -> list[int]:
        """Rows of the block that may be wanted: keyed IPv4 frames whose key is wanted, and every
        frame the fast path's header reading does not key (IPv6, other links: located one by one)."""
        lo, hi = max(0, self.first - base - 1), min(block.size, self.last - base)
        if lo >= hi:
            return []
        h, keys = headers(np.frombuffer(block.buf, np.uint8), block)
        keyed = h.keyed
        hit = ~keyed
        if self.v4 is not None and keyed.any():  # the fast path's keys: protocol, addresses, ports
            pairs = np.ascontiguousarray(keys[keyed, 1:9]).view(">u8").ravel().astype(np.uint64)
            at = np.minimum(np.searchsorted(self.v4, pairs), len(self.v4) - 1)  # v4 is sorted: no np.isin
            hit[keyed] = self.v4[at] == pairs  # (which sorts both sides again and imports numpy.ma)
        rows = np.flatnonzero(hit)
        wanted: list[int] = rows[(rows >= lo) & (rows < hi)].tolist()
        return wanted

    def take(self, number: int, block: FrameBlock, i: int) -> Written | None:
        s, c, lt = int(block.start[i]), int(block.caplen[i]), int(block.linktype[i])
        data = block.buf[s : s + c]
        loc = locate(lt, data)
        if loc is None:
            return None
        for ev, d in self.by_key.get((loc.proto, loc.src, loc.sport, loc.dst, loc.dport), ()):
            if not ev.number <= number <= ev.last or (self.taken.get(ev.number, 0) >= MAX_PACKETS
                                                       and number not in self.must):
                continue
            self.taken[ev.number] = self.taken.get(ev.number, 0) + 1
            n = loc.end - loc.payload
            if ev.proto == 6:
                base = ev.bases[d]
                seq = (loc.seq + 1) & 0xFFFFFFFF if loc.flags & 0x02 else loc.seq
                off = -(1 << 40) if base is None else ((seq - base + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            else:
                off = self.udp_at.get((ev.number, d), 0)
                self.udp_at[(ev.number, d)] = off + n
            frame = _place(data, loc, ev.streams[d], off)
            return Written(number, float(block.ts[i]), lt, frame, int(block.wirelen[i]), ev.number, d,
                           (loc.payload, loc.end))
        return None


def pick(blocks: Iterable[FrameBlock], flows: dict[int, EvidenceFlow],
         must: frozenset[int] = frozenset()) -> dict[int, Written]:
    """One read of the capture: the frames of `flows`, redacted, by number (`must`: taken even past
    the per-flow bound)."""
    if not flows:
        return {}
    picker = Picker(flows, must)
    out: dict[int, Written] = {}
    base = 0
    for block in blocks:
        for i in picker.candidates(block, base):
            w = picker.take(base + i + 1, block, i)
            if w is not None:
                out[w.number] = w
        base += block.size
        if base >= picker.last:
            break
    return out


def file_name(index: int, f: Finding) -> str:
    """e.g. 001_NW-CARD-001_10.20.1.15_to_198.51.100.77-8080_tcp.pcap (IPv6 colons become dashes)."""
    def clean(s: str) -> str:
        return re.sub(r"[^0-9A-Za-z.]", "-", s)

    return f"{index:03d}_{clean(f.rule)}_{clean(f.src or '')}_to_{clean(f.dst or '')}-{f.dport}_{f.proto}.pcap"


def still_holds_card(packets: list[Written], checked: dict[tuple[int, int], bool]) -> bool:
    """The final check: each flow direction's payloads joined in file order (a number within one
    payload is within the join too; one cut over segments is whole only there). A flow's frames are
    the same in every file that shows it: `checked` keeps each direction's answer for the next."""
    joined: dict[tuple[int, int], bytearray] = {}
    for p in packets:
        if (p.flow, p.direction) not in checked:
            joined.setdefault((p.flow, p.direction), bytearray()).extend(p.frame[p.payload[0] : p.payload[1]])
    for key, payload in joined.items():
        checked[key] = holds_card(bytes(payload))
    return any(checked[(p.flow, p.direction)] for p in packets)


def write_evidence(blocks: Iterable[FrameBlock], findings: list[Finding], flows: dict[int, EvidenceFlow],
                   opts: EvidenceOptions, start: int = 1) -> int:
    """Write one redacted capture per finding of one source and name it on the finding. Returns the
    next file index."""
    wanted = {n: flows[n] for f in findings for n in f.flows if n in flows}
    must = frozenset(n for f in findings for n in (f.first_packet, f.last_packet) if n)
    frames = pick(blocks, wanted, must)
    by_flow: dict[int, list[Written]] = {}
    for w in frames.values():
        by_flow.setdefault(w.flow, []).append(w)
    opts.directory.mkdir(parents=True, exist_ok=True)
    index = start
    checked: dict[tuple[int, int], bool] = {}  # (flow, direction) -> still holds a card
    for f in findings:
        chosen = [flows[n] for n in f.flows if n in flows]
        packets = sorted((w for ev in chosen for w in by_flow.get(ev.number, ())), key=lambda p: p.number)
        if not packets or index > MAX_FILES:
            continue
        linktype = packets[0].linktype
        packets = [p for p in packets if p.linktype == linktype]  # a pcap file holds one link type
        if still_holds_card(packets, checked):
            f.evidence_redaction = [REFUSED]
            continue
        path = opts.directory / file_name(index, f)
        index += 1
        with CaptureWriter(path, linktype=linktype) as out:
            for p in packets:
                out.write(Frame(p.ts, p.linktype, p.frame, p.wirelen))
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
