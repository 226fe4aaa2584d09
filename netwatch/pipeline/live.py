"""Live scan: a capture source feeding the same `Session` as an offline scan, until told to stop.

A reader thread pulls blocks of frames from the backend into a bounded queue (when it is full the
reader waits: the tshark backend's backlog then stays in dumpcap's spool file, the scapy backend's in
the socket buffer, where the kernel counts what it must drop); the main thread feeds the blocks to
the pipeline as an offline scan does, writes the capture file and calls `on_tick` at most 4 times a
second. Stopping, whatever the cause (duration, count, SIGINT/SIGTERM, the source ending), analyses
what was captured before the stop (for up to `DRAIN_TIMEOUT`; what is left then is counted as
netwatch's own loss) and flushes the pipeline the same way.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netwatch.analyzers.classify import INFRA_APPS
from netwatch.capture import Frame
from netwatch.capture.blocks import FrameBlock
from netwatch.capture.live import LiveSource
from netwatch.capture.writer import CaptureWriter
from netwatch.events import FlowEnd
from netwatch.findings.aggregate import Finding
from netwatch.pipeline.session import Session, SourceReport
from netwatch.pipeline.signals import stop_on_signals as stop_on_signals  # re-exported: live's stop

TICK = 0.25  # seconds between dashboard updates: at most 4 refreshes a second
QUEUE_MAX = 20_000  # frames between the reader thread and the pipeline
FEED_MAX = 4096  # frames per pass of the main loop, between dashboard ticks
IDLE_SLEEP = 0.02
SWEEP_EVERY = 1.0  # seconds between flow-table sweeps on wall-clock time, so closed flows report live
MAX_HOSTS = 50_000
JOIN_TIMEOUT = 10.0
DRAIN_TIMEOUT = 60.0  # seconds to analyse, after a stop, what was captured before it


def _drop_counts(source: LiveSource) -> dict[str, int]:
    """The source's losses by where; a source that only knows its total counts it as the kernel's."""
    counts = getattr(source, "drop_counts", None)
    if counts is not None:
        return dict(counts())
    total = source.drops()
    return {} if total is None else {"kernel": total}


@dataclass
class LiveStats:
    """What the dashboard shows; refreshed every tick."""

    iface: str
    backend: str
    elapsed: float = 0.0
    packets: int = 0
    bytes: int = 0
    pps: float = 0.0
    bps: float = 0.0
    flows_active: int = 0
    flows_seen: int = 0
    drops: int | None = None
    drop_counts: dict[str, int] = field(default_factory=dict)  # by where: kernel, dumpcap, interface, netwatch
    backlog: int = 0  # bytes captured and not analysed yet (the tshark backend's spool)
    protected: int = 0  # payload bytes in flows known to be in TLS/SSH/VPN
    cleartext: int = 0  # payload bytes of application data in the clear
    talkers: list[tuple[str, int]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    stopping: str | None = None


class LiveSession(Session):
    """A Session that also keeps per-host and protected/cleartext byte totals of ended flows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host_bytes: Counter[str] = Counter()
        self.share = [0, 0]  # protected, cleartext payload bytes of ended flows
        self.flow_end_listeners.append(self._tally)

    def _tally(self, end: FlowEnd) -> None:
        """An ended flow's bytes into the per-host and protected/cleartext totals."""
        f = end.flow
        n = end.bytes_to_server + end.bytes_to_client
        _share(self.share, end.encrypted, end.infra, n)
        for host in (f.src, f.dst):
            if host in self.host_bytes or len(self.host_bytes) < MAX_HOSTS:
                self.host_bytes[host] += n


def _split(block: FrameBlock, n: int) -> tuple[FrameBlock, FrameBlock]:
    """A block's first n frames, and the rest (same buffer, no copy)."""
    b = block
    return (FrameBlock(b.buf, b.start[:n], b.caplen[:n], b.wirelen[:n], b.ts[:n], b.linktype[:n]),
            FrameBlock(b.buf, b.start[n:], b.caplen[n:], b.wirelen[n:], b.ts[n:], b.linktype[n:]))


def _share(share: list[int], encrypted: bool | None, infra: bool, n: int) -> None:
    if encrypted:
        share[0] += n
    elif encrypted is False and not infra:
        share[1] += n


class LiveRun:
    """Runs one live capture through a LiveSession; `run()` returns why it stopped."""

    def __init__(self, source: LiveSource, session: LiveSession, writer: CaptureWriter | None = None,
                 duration: float | None = None, count: int | None = None) -> None:
        self.source = source
        self.session = session
        self.writer = writer
        self.duration = duration
        self.count = count
        self.stats = LiveStats(iface=source.iface, backend=source.backend)
        self.queue: deque[FrameBlock] = deque()
        self.queued = [0, 0]  # frames put by the reader, taken by the main thread (each writes its own)
        self.stop_reading = threading.Event()
        self.abandoned = threading.Event()
        self.unfed = 0  # frames the reader handed over after the drain gave up: never analysed
        self.reason = ""

    def _put(self, block: FrameBlock) -> None:
        while self.queued[0] - self.queued[1] >= QUEUE_MAX and not self.abandoned.is_set():
            time.sleep(0.005)  # back-pressure: the source buffers (spool file, socket), and counts its drops
        if self.abandoned.is_set():
            if self.reason != "count":  # past --count a frame is not wanted, so not lost
                self.unfed += block.size
            return
        self.queue.append(block)
        self.queued[0] += block.size

    def _reader(self) -> None:
        try:
            self.source.run(self._put, self.stop_reading)
        except Exception as e:  # noqa: BLE001 - reported as the source's error, never a traceback
            self.source.error = f"capture failed: {e}"

    def run(self, on_tick: Callable[[LiveStats], None] | None = None,
            stop: threading.Event | None = None) -> str:
        """Capture until duration, count, `stop` or the source ends; returns the reason."""
        stop = stop or threading.Event()
        thread = threading.Thread(target=self._reader, name="netwatch-capture", daemon=True)
        start = time.monotonic()
        self._start = start
        self._last = (start, 0, 0)
        self._next_talkers = start
        thread.start()
        next_tick = next_sweep = start
        report = self.session.report
        count = self.count
        try:
            while True:
                room = FEED_MAX if count is None else min(FEED_MAX, count - report.packets)
                fed = self._feed(room)  # a batch through the scan's fast path, as offline
                if count is not None and report.packets >= count:
                    self.reason = "count"
                now = time.monotonic()
                if not self.reason:
                    if stop.is_set():
                        self.reason = "signal"
                    elif self.duration is not None and now - start >= self.duration:
                        self.reason = "duration"
                    elif not fed and not thread.is_alive() and not self.queue:
                        self.reason = "source ended"
                if now >= next_sweep:
                    self._sweep()
                    next_sweep = now + SWEEP_EVERY
                if now >= next_tick or self.reason:
                    self._tick(now)
                    if on_tick is not None:
                        on_tick(self.stats)
                    if self.writer is not None:
                        self.writer.flush()
                    next_tick = now + TICK
                if self.reason:
                    break
                if not fed:
                    time.sleep(IDLE_SLEEP)
        finally:
            self.stop_reading.set()
            self.source.stop()
            if self.reason == "count":  # nothing more is wanted: what the source still holds is not lost
                self.abandoned.set()
                self.source.abandon(lost=False)
            else:
                self._drain_after_stop(thread)
            thread.join(JOIN_TIMEOUT)
        return self.reason

    def _feed(self, room: int) -> int:
        """Up to `room` queued frames into the session, block by block, and into the capture file."""
        q = self.queue
        blocks: list[FrameBlock] = []
        fed = 0
        while q and fed < room:
            block = q.popleft()
            if fed + block.size > room:  # --count: only the frames still wanted
                block, rest = _split(block, room - fed)
                q.appendleft(rest)
            blocks.append(block)
            fed += block.size
        if blocks:
            self.queued[1] += fed
            self.session.feed_blocks(blocks)
            if self.writer is not None:
                for block in blocks:
                    for frame in block.frames():
                        self.writer.write(Frame._make(frame))
        return fed

    def _drain_after_stop(self, thread: threading.Thread) -> None:
        """Frames captured before the stop (queued, or still in the source's buffer) go through too,
        for up to DRAIN_TIMEOUT; then the source is abandoned and what it still held counted as lost."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while (thread.is_alive() or self.queue) and time.monotonic() < deadline:
            while self.queue:
                self._feed(FEED_MAX)
            if thread.is_alive():
                thread.join(IDLE_SLEEP)
        if thread.is_alive() or self.queue:
            self.abandoned.set()
            self.source.abandon(lost=True)
            self.unfed += sum(block.size for block in self.queue)
            self.queue.clear()

    def _sweep(self) -> None:
        """Let flows that closed a while ago end now (their findings appear live), by wall-clock time."""
        table = self.session.flows
        table.now = max(table.now, time.time())
        table.sweep()

    def _tick(self, now: float) -> None:
        s = self.stats
        r = self.session.report
        s.elapsed = now - self._start
        t0, p0, b0 = self._last
        if now - t0 >= 1.0 or s.pps == 0.0:
            dt = max(now - t0, 1e-6)
            s.pps, s.bps = (r.packets - p0) / dt, (r.bytes - b0) * 8 / dt
            self._last = (now, r.packets, r.bytes)
        s.packets, s.bytes = r.packets, r.bytes
        table = self.session.flows
        s.flows_active, s.flows_seen = len(table), table.flows_seen
        s.drops = self.source.drops()
        s.drop_counts = _drop_counts(self.source)
        backlog = getattr(self.source, "backlog", None)
        s.backlog = backlog() if backlog is not None else 0
        s.findings = list(self.session.aggregator.findings.values())
        s.stopping = self.reason or None
        if now >= self._next_talkers or self.reason:  # once a second: it walks the flow table
            self._talkers()
            self._next_talkers = now + 1.0

    def _talkers(self) -> None:
        s = self.stats
        hosts = Counter(self.session.host_bytes)
        share = list(self.session.share)
        for flow in self.session.flows.live:
            n = flow.bytes[0] + flow.bytes[1]
            hosts[flow.src] += n
            hosts[flow.dst] += n
            _share(share, flow.encrypted, flow.app in INFRA_APPS, n)  # not ended: no FlowEnd.infra yet
        s.protected, s.cleartext = share
        s.talkers = hosts.most_common(5)

    def finish(self) -> SourceReport:
        """Flush the pipeline, close the capture file (with the drop count) and the source."""
        drops = self.source.drops()
        self.source.close()
        drops = self.source.drops() if drops is None else max(drops, self.source.drops() or 0)
        self.stats.drops = drops
        report = self.session.close()
        report.format = f"live ({self.source.backend})"
        # netwatch's queue itself never drops: when full, the reader waits and the source buffers; what
        # is counted as netwatch's is what was captured and never analysed (a spool over its bound, or
        # left when the drain after a stop gave up)
        report.drops = _drop_counts(self.source)
        report.drops["netwatch"] = report.drops.get("netwatch", 0) + self.unfed
        self.stats.drop_counts = report.drops
        if self.source.error:
            report.problem = self.source.error
        if self.writer is not None:
            self.writer.close(drops=drops)
        return report
