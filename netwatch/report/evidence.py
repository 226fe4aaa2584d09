"""Redacted evidence captures: one pcap per finding holding its flows' packets, card data and
passwords overwritten in place (`netwatch.report.evidence_frames`), written with dpkt's pcap writer.

How the packets are got: a second pass over the capture after the scan, keeping only the flows that
back findings (the first MAX_FLOWS per finding, the first MAX_PACKETS packets of each). The scan's
hot path stays untouched (no per-flow packet ring on every flow of a large capture), and memory is
bounded by what is written. For `live`, the pass reads the --write capture after stop, or the
bounded in-memory copy of the live frames (`FrameBuffer`).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import dpkt

from netwatch.capture import CaptureError
from netwatch.capture.pcapfile import CaptureReader
from netwatch.findings.aggregate import Finding
from netwatch.flows.table import addr_str
from netwatch.pipeline.session import SourceReport
from netwatch.report.evidence_frames import EvidenceFlow, Packet, flow_app, locate

MAX_FLOWS = 3  # flows per finding
MAX_PACKETS = 200  # packets per flow
MAX_FILES = 500  # evidence files per run
SNAPLEN = 262144
BUFFER_FRAMES = 200_000  # live without --write: frames kept in memory for evidence...
BUFFER_BYTES = 128 << 20  # ...and their bytes, whichever comes first

Record = tuple[float, int, bytes, int]  # ts, link type, frame bytes, wire length
FlowKey = tuple[int, bytes, int, bytes, int]  # proto, client, client port, server, server port
Target = tuple[int, str, str, int]  # proto, client address, server address, server port


@dataclass
class EvidenceOptions:
    directory: Path
    max_flows: int = MAX_FLOWS
    max_packets: int = MAX_PACKETS


def _target(f: Finding) -> Target | None:
    if f.src is None or f.dst is None or f.dport is None or f.proto not in ("tcp", "udp"):
        return None
    return (6 if f.proto == "tcp" else 17, f.src, f.dst, f.dport)


def _targets(f: Finding) -> list[Target]:
    """The finding's endpoints, plus the flows a reader needs to make sense of them: an FTP data
    connection is only known as such through its control connection (PASV/PORT), so that goes too."""
    t = _target(f)
    if t is None:
        return []
    return [t, (6, f.src or "", f.dst or "", 21)] if f.app == "ftp-data" else [t]


def _ipv4_pairs(wanted: dict[Target, list[EvidenceFlow]]) -> set[bytes]:
    """Source+destination address bytes (both orders) of the IPv4 targets, as an IPv4 header has them."""
    out: set[bytes] = set()
    for _proto, a, b, _port in wanted:
        if ":" not in a and ":" not in b:
            ra, rb = socket.inet_aton(a), socket.inet_aton(b)
            out.update((ra + rb, rb + ra))
    return out


def collect(frames: Iterable[Record], findings: list[Finding], opts: EvidenceOptions,
            ) -> dict[Target, list[EvidenceFlow]]:
    """One pass: the first `max_flows` flows of each finding's endpoints, `max_packets` packets each."""
    wanted: dict[Target, list[EvidenceFlow]] = {}
    apps: dict[Target, str | None] = {}
    for f in findings:
        for i, t in enumerate(_targets(f)):
            wanted.setdefault(t, [])
            apps[t] = apps.get(t) or (f.app if i == 0 else "ftp")
    flows: dict[FlowKey, EvidenceFlow | None] = {}
    v4 = _ipv4_pairs(wanted)
    for n, (ts, linktype, data, wirelen) in enumerate(frames, 1):
        if linktype == 1 and data[12:14] == b"\x08\x00" and data[26:34] not in v4:
            continue  # untagged Ethernet IPv4 between hosts no finding names: most frames stop here
        loc = locate(linktype, data)
        if loc is None:
            continue
        a, b = addr_str(loc.src), addr_str(loc.dst)
        t, direction = (loc.proto, a, b, loc.dport), 0
        if t not in wanted:
            t, direction = (loc.proto, b, a, loc.sport), 1
            if t not in wanted:
                continue
        key: FlowKey = (loc.proto, *((loc.src, loc.sport, loc.dst, loc.dport) if direction == 0
                                     else (loc.dst, loc.dport, loc.src, loc.sport)))
        if key not in flows:
            fresh = None
            if len(wanted[t]) < opts.max_flows:
                fresh = EvidenceFlow(loc.proto, (key[1], key[2]), flow_app(apps[t], key[2], key[4]))
                wanted[t].append(fresh)
            flows[key] = fresh
        flow = flows[key]
        if flow is None:
            continue
        if loc.proto == 6:
            flow.add_segment(direction, loc, data)
        if len(flow.packets) < opts.max_packets:
            flow.packets.append(Packet(n, ts, linktype, bytearray(data), loc, direction, wirelen))
    return wanted


class PcapWriter(dpkt.pcap.Writer):  # type: ignore[misc]
    """dpkt's pcap writer, keeping each frame's original length: a frame the capture cut short
    (snap length) stays marked as cut, so Wireshark does not read it as a shortened datagram."""

    def __init__(self, fh: BinaryIO, snaplen: int, linktype: int) -> None:
        super().__init__(fh, snaplen=snaplen, linktype=linktype)
        self.fh = fh

    def write_frame(self, frame: bytes, ts: float, wirelen: int) -> None:
        sec = int(ts)
        usec = round(ts % 1 * 1_000_000)
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self.fh.write(self._pack_hdr(sec, usec, len(frame), max(wirelen, len(frame))) + frame)


def file_name(index: int, f: Finding) -> str:
    """e.g. 001_NW-CARD-001_10.20.1.15_to_198.51.100.77-8080_tcp.pcap (IPv6 colons become dashes)."""
    def clean(s: str) -> str:
        return re.sub(r"[^0-9A-Za-z.]", "-", s)

    return f"{index:03d}_{clean(f.rule)}_{clean(f.src or '')}_to_{clean(f.dst or '')}-{f.dport}_{f.proto}.pcap"


def write_evidence(frames: Iterable[Record], findings: list[Finding], opts: EvidenceOptions,
                   start: int = 1) -> int:
    """Write one redacted capture per finding of one source and name it on the finding. Returns the
    next file index."""
    flows = collect(frames, findings, opts)
    for flow_list in flows.values():
        for fl in flow_list:
            fl.redact()
    opts.directory.mkdir(parents=True, exist_ok=True)
    index = start
    for f in findings:
        chosen = [fl for t in _targets(f) for fl in flows.get(t, [])]
        packets = sorted((p for fl in chosen for p in fl.packets), key=lambda p: p.number)
        if not packets or index > MAX_FILES:
            continue
        path = opts.directory / file_name(index, f)
        index += 1
        linktype = packets[0].linktype
        packets = [p for p in packets if p.linktype == linktype]  # a pcap file holds one link type
        with open(path, "wb") as fh:
            w = PcapWriter(fh, snaplen=SNAPLEN, linktype=linktype)
            for p in packets:
                w.write_frame(bytes(p.frame), p.ts, p.wirelen)
        f.evidence_file = str(path)
        f.evidence_packets = [p.number for p in packets]
        notes = sorted({n for fl in chosen for n in fl.notes})
        f.evidence_redaction = notes or None
    return index


def evidence_for_reports(reports: list[SourceReport], opts: EvidenceOptions,
                         only: list[Finding] | None = None) -> int:
    """Evidence for every scanned file (a second, bounded pass per file), for its findings or those of
    them in `only` (what a report filter kept). Returns files written. Standard input cannot be
    read twice: it gets none."""
    keep = None if only is None else {id(f) for f in only}
    index = 1
    for r in reports:
        findings = [f for f in r.findings if keep is None or id(f) in keep]
        if not findings or r.error or r.source == "-":
            continue
        try:
            reader = CaptureReader(r.source)
        except CaptureError:
            continue  # gone since the scan: nothing to take evidence from
        with reader:
            index = write_evidence(reader.records(), findings, opts, index)
    return index - 1


class FrameBuffer:
    """Live frames kept in memory (bounded) for evidence when no --write file is asked for; the
    same interface as `CaptureWriter`. Holds cardholder data: dropped once evidence is written."""

    def __init__(self, max_frames: int = BUFFER_FRAMES, max_bytes: int = BUFFER_BYTES) -> None:
        self.frames: list[Record] = []
        self.size = 0
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self.dropped = 0

    def write(self, frame: Record) -> None:
        if len(self.frames) >= self.max_frames or self.size + len(frame[2]) > self.max_bytes:
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


def live_evidence(findings: list[Finding], opts: EvidenceOptions, write_path: str | None,
                  buffer: FrameBuffer | None) -> int:
    """Evidence after a live session: from the --write capture, else from the in-memory frames."""
    if write_path and os.path.exists(write_path):
        try:
            reader = CaptureReader(write_path)
        except CaptureError:
            return 0
        with reader:
            return write_evidence(reader.records(), findings, opts) - 1
    if buffer is not None:
        return write_evidence(buffer.take(), findings, opts) - 1
    return 0
