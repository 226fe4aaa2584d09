"""One scan session per source: frames → decode → flows → analyzers → rules → findings.

`Session` is the whole pipeline for one source (a file or a live interface); `netwatch.pipeline.runner`
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
from typing import TYPE_CHECKING, Any

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.capture import CaptureError, Frame
from netwatch.capture.blocks import FrameBlock, batches, block_of
from netwatch.capture.pcapfile import CaptureReader
from netwatch.events import DataLimit, Event, FlowEnd
from netwatch.findings.aggregate import Aggregator, Finding, sort_findings
from netwatch.findings.destinations import Inventory, Rest, merge_inventory, merge_rest
from netwatch.findings.systems import SystemInventory, judge_systems, merge_systems
from netwatch.flows.fastpath import FastPath
from netwatch.flows.losses import MAX_LOSS_NOTES, Losses
from netwatch.flows.table import FlowTable
from netwatch.flows.trace import EvidenceFlow, TracingSink
from netwatch.judge.policy import Policy
from netwatch.judge.rules import RuleSet
from netwatch.packets.addresses import DEFAULT_SITE
from netwatch.packets.decode import Decoder, linktype_name
from netwatch.redaction.masking import Fingerprinter
from netwatch.redaction.text import redact_record

if TYPE_CHECKING:  # --log's records: imported when asked for (a scan without --log never loads them)
    from netwatch.pipeline.metalog import MetaLog, MetaRecords, Record


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
    tcp_conflicts: int = 0  # copies of TCP stream bytes that differed (both versions scanned)
    losses: list[dict[str, Any]] = field(default_factory=list)  # bytes a bound or hole kept from analysis
    flows_cut: int = 0  # flows ended early because the flow table was full
    problem: str | None = None
    interrupted: bool = False
    error: str | None = None  # the source could not be read at all
    findings: list[Finding] = field(default_factory=list)
    inventory: list[dict[str, Any]] = field(default_factory=list)
    inventory_rest: Rest | None = None  # destinations beyond the inventory's rows: totals only
    systems: SystemInventory = field(default_factory=SystemInventory)  # software and OS per host
    seconds: float = 0.0
    evidence_flows: dict[int, EvidenceFlow] = field(default_factory=dict)  # flows findings name, redacted
    drops: dict[str, int] = field(default_factory=dict)  # live: packets lost before netwatch read them, by where
    meta: MetaRecords | None = None  # --log: the metadata records (pipeline/metalog.py)

    @property
    def duration(self) -> float:
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return self.last_ts - self.first_ts


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
        evidence: bool = False,
        log: frozenset[str] = frozenset(),
        on_record: Callable[[Record], None] | None = None,
    ) -> None:
        self.report = SourceReport(source=source)
        self.fingerprint = fingerprint or Fingerprinter()  # card key: given to correlate runs, else random

        self.decoder = Decoder()
        self.aggregator = Aggregator(rules, policy, source, self.fingerprint)
        self.inventory = Inventory(policy)
        self.systems = SystemInventory()
        self.rules, self.policy, self.shard = rules, policy, shard
        self.on_finding = on_finding
        site = policy.networks() if policy is not None else DEFAULT_SITE
        self.meta: MetaLog | None = None
        if log:  # --log: metadata records; without it nothing of theirs is loaded or run
            from netwatch.pipeline.metalog import MetaLog

            self.meta = MetaLog(log, policy, on_record)
        requests = "http" in log or "http_request" in rules.by_kind
        self.dispatcher = Dispatcher(build_classifier(), build_analyzers(self.fingerprint, site, requests), self._emit)
        # with evidence, each flow's frames and bytes are traced; those of flows a finding names are kept
        self.tracing = TracingSink(self.dispatcher, self.aggregator.flow_numbers.__contains__,
                                   self._system_flow) if evidence else None
        self.flows = FlowTable(self.tracing or self.dispatcher, shard)
        self._systems_seen: tuple[int, set[int]] = (-1, set())  # entries counted, the flows they name
        self.fast = FastPath(self.decoder, self.flows)  # capture counters, frame number, the hot loop
        self.limits = Losses()  # what analyzers' bounds left out (DataLimit events), beside the table's losses
        self.flow_end_listeners: list[Callable[[FlowEnd], None]] = []  # e.g. the live dashboard's tallies
        self._closed = False

    def _system_flow(self, number: int) -> bool:
        """The flow a system was first seen in: the end-of-life verdict at the end may name it."""
        entries = self.systems.entries
        if self._systems_seen[0] != len(entries):
            self._systems_seen = (len(entries), {e.flow_number for e in entries.values()})
        return number in self._systems_seen[1]

    def _emit(self, obs: Event) -> None:
        """Every event goes up from here: inventories, listeners, the aggregator; nothing goes back down."""
        if obs.flow.foreign:  # another shard reports this flow
            return
        if self.meta is not None:
            self.meta.observe(obs)
        if self.tracing is not None:
            where = getattr(obs, "location", None)
            if where is not None:
                self.tracing.located(obs.flow.number, where)
        if isinstance(obs, FlowEnd):
            self.inventory.add(obs)
            for listener in self.flow_end_listeners:
                listener(obs)
        elif isinstance(obs, DataLimit):  # an analyzer's bound: a counted, reported event, not a finding
            f = obs.flow
            self.limits.note(f.proto, (f.src, f.client_port), (f.dst, f.server_port), obs.direction, obs.bytes,
                             obs.reason)
            return
        elif obs.kind in SYSTEM_KINDS:
            self.systems.observe(obs)
        before = len(self.aggregator.findings)
        self.aggregator.observe(obs, self.fast.frame_no)
        if self.on_finding is not None and len(self.aggregator.findings) > before:
            self.on_finding(next(reversed(self.aggregator.findings.values())))

    def feed(self, frame: Frame) -> None:
        """One frame: the same path and counters as a block (`netwatch.flows.fastpath`)."""
        self.feed_blocks((block_of((frame,)),))

    def feed_all(self, frames: Iterable[Frame | tuple[float, int, bytes, int]],
                 tick: Callable[[], None] | None = None) -> None:
        """Frames as (ts, linktype, data, wirelen), in batches; `tick` is called after each batch."""
        self.feed_blocks(batches(frames), tick)

    def feed_blocks(self, blocks: Iterable[FrameBlock], tick: Callable[[], None] | None = None) -> None:
        """The hot loop (`netwatch.flows.fastpath`): blocks of frames; `tick` is called after each block."""
        fast = self.fast
        try:
            for block in blocks:
                fast.feed(block)
                if tick is not None:
                    tick()
        finally:
            r = self.report
            r.packets, r.bytes, r.first_ts, r.last_ts = fast.packets, fast.bytes, fast.first_ts, fast.last_ts

    def close(self) -> SourceReport:
        if self._closed:
            return self.report
        self._closed = True
        self.fast.frame_no = self.report.packets  # flows still open end with the last packet
        t = self.flows
        t.close()
        r = self.report
        d = self.decoder
        r.flows = t.flows_seen
        r.tcp_gaps = t.gap_bytes
        r.tcp_conflicts = t.tcp.conflicts
        r.losses = joined(t.losses, self.limits).as_list()
        r.flows_cut = t.cap_evicted
        r.decode_errors = dict(d.stats)
        r.unknown_linktypes = {linktype_name(k): v for k, v in d.unknown_linktypes.items()}
        r.non_ip = dict(d.non_ip)
        r.systems = self.systems
        if self.shard is None:  # shards are judged once merged: a host's flows may sit in several
            for obs in judge_systems(self.systems, self.rules, self.policy):
                self.aggregator.observe(obs)
        r.findings = self.aggregator.results()
        r.inventory = [redact_record(row) for row in self.inventory.results()]  # names pass the boundary
        r.inventory_rest = self.inventory.rest_totals()
        r.meta = self.meta.close() if self.meta is not None else None
        if self.tracing is not None:  # a shard's systems are judged after the merge: it keeps their flows too
            named = self.aggregator.flow_numbers
            self.tracing.settle(named if self.shard is None else named | {e.flow_number for e in
                                                                          self.systems.entries.values()})
            r.evidence_flows = self.tracing.kept
        return r


def joined(*parts: Losses) -> Losses:
    """One account of several: totals added, named entries up to the one bound."""
    out = Losses()
    for part in parts:
        for reason, size in part.totals.items():
            out.totals[reason] = out.totals.get(reason, 0) + size
        for key, size in part.notes.items():
            if key in out.notes or len(out.notes) < MAX_LOSS_NOTES:
                out.notes[key] = out.notes.get(key, 0) + size
                out.times[key] = out.times.get(key, 0) + part.times.get(key, 0)
    return out


SYSTEM_KINDS = frozenset({"software", "tls_hello", "card_data"})  # what the systems inventory learns from


# The scan allocates many short-lived, mostly acyclic objects (flows, observations); the cyclic
# collector's default gen-0 threshold (700) made it run thousands of times per file for ~10% of the
# time. Memory stays bounded: collections still happen, just less often.
GC_GEN0 = 50_000


def scan_file(
    path: str, rules: RuleSet, policy: Policy | None, progress: Callable[[int, int], None] | None = None,
    shard: tuple[int, int] | None = None, fingerprint: Fingerprinter | None = None, evidence: bool = False,
    log: frozenset[str] = frozenset(),
) -> SourceReport:
    """Scan one capture file (or one flow-hash shard of it). Never raises for bad input."""
    start = time.perf_counter()
    try:
        reader = CaptureReader.from_stream(sys.stdin.buffer, "-") if path == "-" else CaptureReader(path)
    except CaptureError as e:
        return SourceReport(source=path, error=str(e))
    session = Session(rules, policy, path, shard=shard, fingerprint=fingerprint, evidence=evidence, log=log)
    session.report.format = reader.format
    size = max(1, file_size(path))
    tick = None
    if progress is not None:
        def tick() -> None:
            progress(reader.position(), size)
    thresholds = gc.get_threshold()
    gc.set_threshold(GC_GEN0, *thresholds[1:])
    # start-up's objects (modules, rules, analyzers) live to the end: no collection need walk them.
    # Measured on the 300k store mix: GC 99-122 ms with or without it (the collections are young ones).
    gc.freeze()
    try:
        with reader:
            session.feed_blocks(reader.blocks(), tick)
        report = session.close()
    except KeyboardInterrupt:
        session.report.interrupted = True
        report = session.close()
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()  # a worker runs many scans: what the last one kept may be collected again
    report.problem = reader.problem
    report.seconds = time.perf_counter() - start
    return report


def file_size(path: str) -> int:
    """A file's size for progress and planning; 0 when it cannot be known (a pipe, an unreadable path)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0




def merge_shards(
    shards: list[SourceReport], rules: RuleSet | None = None, policy: Policy | None = None,
    fingerprint: Fingerprinter | None = None,
) -> SourceReport:
    """Join the shard reports of one file. Every shard read every frame, so the capture-level
    counts come from shard 0; flows, findings and destinations are each shard's own. The systems
    inventory is merged, then judged with `rules` (when given) as one process would."""
    r = shards[0]
    for other in shards[1:]:
        r.flows += other.flows
        r.tcp_gaps += other.tcp_gaps
        r.tcp_conflicts += other.tcp_conflicts
        r.losses = r.losses + other.losses
        r.flows_cut += other.flows_cut
        r.findings = r.findings + other.findings
        r.evidence_flows = {**r.evidence_flows, **other.evidence_flows}
        r.interrupted = r.interrupted or other.interrupted
        r.seconds = max(r.seconds, other.seconds)
    r.systems = merge_systems([s.systems for s in shards])
    if rules is not None:
        agg = Aggregator(rules, policy, r.source, fingerprint)
        for obs in judge_systems(r.systems, rules, policy):
            agg.observe(obs)
        r.findings = r.findings + agg.results()
    r.findings = sort_findings(r.findings)
    r.inventory = merge_inventory(s.inventory for s in shards)
    r.inventory_rest = merge_rest(s.inventory_rest for s in shards)
    if any(s.meta is not None for s in shards):
        from netwatch.pipeline.metalog import merge_records

        r.meta = merge_records(s.meta for s in shards)
    return r


def all_findings(reports: list[SourceReport]) -> list[Finding]:
    out: list[Finding] = []
    for r in reports:
        out.extend(r.findings)
    return sort_findings(out)

