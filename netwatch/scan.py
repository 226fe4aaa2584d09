"""One scan session per source: frames → decode → flows → analyzers → rules → findings.

`Session` is the whole pipeline for one source (a file or a live interface); `netwatch.runner`
runs sessions over many files, in this process or on Dask workers. Everything found so far survives an
interrupt or a broken input: `Session.close()` always flushes the flows and returns the report.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from netwatch.analyzers import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.capture import CaptureError, Frame
from netwatch.capture.pcapfile import CaptureReader
from netwatch.decode import ETH_IPV4_FAST, VXLAN_PORT_BYTES, Decoder, linktype_name
from netwatch.events import Event, FlowEnd
from netwatch.findings import Aggregator, Finding, sort_findings
from netwatch.flows import FlowTable
from netwatch.masking import Fingerprinter
from netwatch.policy import Policy, judge_event
from netwatch.redact import redact_record
from netwatch.rules import RuleSet


@dataclass
class SourceReport:
    """What one source yielded: counts, where input broke off, findings, destination inventory."""

    source: str
    format: str = ""
    packets: int = 0
    bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    flows: int = 0
    decode_errors: dict[str, int] = field(default_factory=dict)
    unknown_linktypes: dict[str, int] = field(default_factory=dict)
    non_ip: dict[str, int] = field(default_factory=dict)
    tcp_gaps: int = 0
    problem: str | None = None
    interrupted: bool = False
    error: str | None = None  # the source could not be read at all
    findings: list[Finding] = field(default_factory=list)
    inventory: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def duration(self) -> float:
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return self.last_ts - self.first_ts


class Inventory:
    """Destinations seen, keyed by (dst, dport, proto, app), built from flow_end observations.

    With a policy, each row also says which allowed destination (or resolver) covered its flows
    (`allowed`) and how many flows none did (`denied`); without one both stay None.
    """

    def __init__(self, policy: Policy | None = None) -> None:
        self.rows: dict[tuple, dict[str, Any]] = {}
        self.policy = policy

    def add(self, obs: FlowEnd) -> None:
        f = obs.flow
        key = (f.dst, f.server_port, f.proto, obs.app)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = {
                "dst": f.dst, "dport": f.server_port, "proto": f.proto, "app": obs.app,
                "encrypted": obs.encrypted, "how": obs.how,
                "infra": obs.infra, "names": [], "clients": [], "flows": 0, "bytes": 0,
                "unnamed": 0, "allowed": None, "denied": None,
            }
        row["flows"] += 1
        row["bytes"] += obs.bytes_to_server + obs.bytes_to_client
        names = [n for n in (*f.names, f.server_name) if n]
        if not names:
            row["unnamed"] += 1  # a flow no DNS answer, SNI or Host named: a policy must list the address
        for n in names:
            if n not in row["names"] and len(row["names"]) < 20:
                row["names"].append(n)
        if f.src not in row["clients"] and len(row["clients"]) < 20:
            row["clients"].append(f.src)
        if self.policy is not None:
            self._judge(row, judge_event(self.policy, obs).why)

    @staticmethod
    def _judge(row: dict[str, Any], label: str | None) -> None:
        """Count the policy's verdict on one flow (netwatch.policy.judge): the label, or None for denied."""
        if row["allowed"] is None:
            row["allowed"], row["denied"] = [], 0
        if label is None:
            row["denied"] += 1
        elif label not in row["allowed"]:
            row["allowed"].append(label)

    def results(self) -> list[dict[str, Any]]:
        return sorted(self.rows.values(), key=lambda r: (-r["bytes"], r["dst"], r["dport"]))


class Session:
    """The pipeline for one source. Feed frames, then close() for the report."""

    def __init__(
        self,
        rules: RuleSet,
        policy: Policy | None,
        source: str,
        on_finding: Callable[[Finding], None] | None = None,
        shard: tuple[int, int] | None = None,
        fingerprint: Fingerprinter | None = None,
    ) -> None:
        self.report = SourceReport(source=source)
        self.fingerprint = fingerprint or Fingerprinter()  # card key: given to correlate runs, else random

        self.decoder = Decoder()
        self.aggregator = Aggregator(rules, policy, source)
        self.inventory = Inventory(policy)
        self.on_finding = on_finding
        self.dispatcher = Dispatcher(build_classifier(), build_analyzers(self.fingerprint), self._emit)
        self.flows = FlowTable(self.dispatcher, shard)
        self._closed = False
        self.frame_no = 0  # the packet being processed (1-based): findings name their evidence packets

    def _emit(self, obs: Event) -> None:
        if obs.flow.foreign:  # another shard reports this flow
            return
        if isinstance(obs, FlowEnd):
            self.inventory.add(obs)
        before = len(self.aggregator.findings)
        self.aggregator.packet = self.frame_no
        self.aggregator.observe(obs)
        if self.on_finding is not None and len(self.aggregator.findings) > before:
            self.on_finding(next(reversed(self.aggregator.findings.values())))

    def feed(self, frame: Frame) -> None:
        r = self.report
        r.packets += 1
        self.frame_no = r.packets
        r.bytes += frame.wirelen
        ts = frame.ts
        if r.first_ts is None:
            r.first_ts = ts
        r.last_ts = ts
        p = self.decoder.decode(frame.linktype, frame.data, ts)
        if p is not None:
            self.flows.process(p)

    def feed_all(self, frames: Iterable[Frame | tuple], tick: Callable[[], None] | None = None) -> None:
        """The hot loop: frames as (ts, linktype, data, wirelen); `tick` is called every 4096 frames.

        Most packets of a store uplink belong to flows already classified and no longer inspected
        (TLS, VPN), or are bare TCP ACKs. Such a frame (untagged or 802.1Q Ethernet, option-less
        unfragmented IPv4, TCP/UDP/ESP, existing flow) is counted here straight from its header: one
        unpack, one dict lookup, a few counter updates, the same bookkeeping `FlowTable.process`
        would do. TCP payload of a known flow that analyzers still inspect goes straight to
        `FlowTable.tcp_segment`. Anything else (new flows, SYNs, fragments, other link types) takes
        the full decode → flows path.
        """
        r = self.report
        decode = self.decoder.decode
        ft = self.flows
        process = ft.process
        tcp_segment = ft.tcp_segment
        tcp_get = ft.tables[6].get
        udp_get = ft.tables[17].get
        esp_get = ft.tables[50].get
        fast = ETH_IPV4_FAST.unpack_from
        since = 0
        n = 0
        base = r.packets
        nbytes = 0
        first = r.first_ts
        ts = r.last_ts
        try:
            for ts, linktype, data, wirelen in frames:
                n += 1
                nbytes += wirelen
                if not n & 4095 and tick is not None:
                    tick()
                if linktype == 1 and len(data) >= 54:  # Ethernet + IPv4 + TCP headers at least
                    o = 0
                    et, vihl, total, frag, proto, seq, doff, fl = fast(data, 0)
                    if et == 0x8100 and len(data) >= 58:  # one 802.1Q tag
                        o = 4
                        et, vihl, total, frag, proto, seq, doff, fl = fast(data, 4)
                    if et == 0x0800 and vihl == 0x45 and not frag & 0x3FFF:
                        end = 14 + total
                        if end > len(data) - o:
                            end = len(data) - o
                        hit = None
                        if proto == 6:
                            if not fl & 2 and doff >= 0x50 and end >= 54:  # whole TCP header, not a SYN
                                hl = (doff >> 2) & 0x3C
                                plen = end - 34 - hl
                                hit = tcp_get(data[o + 26 : o + 38])
                                if hit is not None and plen > 0 and hit[0].inspect:
                                    # payload an analyzer wants: straight to reassembly, no decode
                                    self.frame_no = base + n
                                    tcp_segment(hit[0], hit[1], fl, seq, data[o + 34 + hl : o + end], ts)
                                    continue
                        elif proto == 17:
                            if end >= 42 and data[o + 36 : o + 38] != VXLAN_PORT_BYTES:
                                plen = end - 42
                                hit = udp_get(data[o + 26 : o + 38])
                                if hit is not None and hit[0].inspect:
                                    hit = None
                        elif proto == 50 and end >= 34:
                            plen = end - 34
                            hit = esp_get(data[o + 26 : o + 34] + b"\0\0\0\0")
                            if hit is not None and hit[0].inspect:
                                hit = None
                        if hit is not None:
                            flow, d = hit
                            flow.last_ts = ts
                            flow.packets[d] += 1
                            if plen > 0:
                                flow.bytes[d] += plen
                            if fl & 5 and proto == 6:  # RST or FIN, as FlowTable._tcp
                                if fl & 4:
                                    flow.closed = True
                                else:
                                    flow.fins |= 1 << d
                                    if flow.fins == 3:
                                        flow.closed = True
                            since += 1
                            if since >= 8192:
                                since = 0
                                self.frame_no = base + n
                                ft.advance(ts)
                            continue
                if first is None:
                    first = ts
                self.frame_no = base + n
                p = decode(linktype, data, ts)
                if p is not None:
                    process(p)
        finally:
            if first is None and n:
                first = ts
            if ts is not None and ts > ft.now:
                ft.now = ts
            r.packets += n
            r.bytes += nbytes
            r.first_ts = first
            r.last_ts = ts

    def close(self) -> SourceReport:
        if self._closed:
            return self.report
        self._closed = True
        self.frame_no = self.report.packets  # flows still open end with the last packet
        t = self.flows
        t.close()
        r = self.report
        d = self.decoder
        r.flows = t.flows_seen
        r.tcp_gaps = t.gap_bytes
        r.decode_errors = dict(d.stats)
        r.unknown_linktypes = {linktype_name(k): v for k, v in d.unknown_linktypes.items()}
        r.non_ip = dict(d.non_ip)
        r.findings = self.aggregator.results()
        r.inventory = [redact_record(row) for row in self.inventory.results()]  # names pass the boundary
        return r


# The scan allocates many short-lived, mostly acyclic objects (flows, observations); the cyclic
# collector's default gen-0 threshold (700) made it run thousands of times per file for ~10% of the
# time. Memory stays bounded: collections still happen, just less often.
GC_GEN0 = 50_000


def scan_file(
    path: str, rules: RuleSet, policy: Policy | None, progress: Callable[[int, int], None] | None = None,
    shard: tuple[int, int] | None = None, fingerprint: Fingerprinter | None = None,
) -> SourceReport:
    """Scan one capture file (or one flow-hash shard of it). Never raises for bad input."""
    start = time.perf_counter()
    try:
        reader = CaptureReader.from_stream(sys.stdin.buffer, "-") if path == "-" else CaptureReader(path)
    except CaptureError as e:
        return SourceReport(source=path, error=str(e))
    session = Session(rules, policy, path, shard=shard, fingerprint=fingerprint)
    session.report.format = reader.format
    size = max(1, _size(path))
    tick = None
    if progress is not None:
        def tick() -> None:
            progress(reader.position(), size)
    thresholds = gc.get_threshold()
    gc.set_threshold(GC_GEN0, *thresholds[1:])
    try:
        with reader:
            session.feed_all(reader.records(), tick)
        report = session.close()
    except KeyboardInterrupt:
        session.report.interrupted = True
        report = session.close()
    finally:
        gc.set_threshold(*thresholds)
    report.problem = reader.problem
    report.seconds = time.perf_counter() - start
    return report


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def merge_inventory(row_lists: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One destination row per (dst, dport, proto, app) over several reports or shards."""
    rows: dict[tuple, dict[str, Any]] = {}
    for row_list in row_lists:
        for row in row_list:
            key = (row["dst"], row["dport"], row["proto"], row["app"])
            m = rows.get(key)
            if m is None:
                rows[key] = dict(row, names=list(row["names"]), clients=list(row["clients"]),
                                 allowed=None if row.get("allowed") is None else list(row["allowed"]))
                continue
            for k in ("flows", "bytes", "unnamed"):
                m[k] = (m.get(k) or 0) + (row.get(k) or 0)
            m["names"] += [n for n in row["names"] if n not in m["names"]]
            m["clients"] += [c for c in row["clients"] if c not in m["clients"]]
            if row.get("allowed") is not None:
                m["allowed"] = (m["allowed"] or []) + [a for a in row["allowed"] if a not in (m["allowed"] or [])]
                m["denied"] = (m.get("denied") or 0) + (row.get("denied") or 0)
    return sorted(rows.values(), key=lambda r: (-r["bytes"], r["dst"], r["dport"]))


def merge_shards(shards: list[SourceReport]) -> SourceReport:
    """Join the shard reports of one file. Every shard read every frame, so the capture-level
    counts come from shard 0; flows, findings and destinations are each shard's own."""
    r = shards[0]
    for other in shards[1:]:
        r.flows += other.flows
        r.tcp_gaps += other.tcp_gaps
        r.findings = r.findings + other.findings
        r.interrupted = r.interrupted or other.interrupted
        r.seconds = max(r.seconds, other.seconds)
    r.findings = sort_findings(r.findings)
    r.inventory = merge_inventory(s.inventory for s in shards)
    return r


def all_findings(reports: list[SourceReport]) -> list[Finding]:
    out: list[Finding] = []
    for r in reports:
        out.extend(r.findings)
    return sort_findings(out)

