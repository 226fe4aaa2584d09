"""TCP reassembly of one flow's two directions, built as a Linux receiver builds them.

The flow table owns one `Reassembler`, which turns segments into ordered stream bytes for the sink:

- **Window.** A data segment that starts further beyond the receiver's last acknowledgment (or the
  delivered bytes' end, when that is later: an acknowledgment lost or mangled in the capture) than
  its advertised window (scaled as both SYNs agreed; the largest scale when the SYNs were not
  captured) plus `WINDOW_SLACK` (ACKs the capture may have missed) is not delivered: a receiver drops it.
- **Overlaps, the Linux rule** (tcp_data_queue / tcp_data_queue_ofo; Suricata's and Snort's "linux"
  target-based policy agree): bytes already delivered in order stay as delivered. In the
  out-of-order queue, where two segments overlap the one that starts lower wins; at equal starts the
  longer wins, and the first copy when they are equally long. A segment wholly covered by queued
  data is dropped; one that covers queued segments replaces them.
- **The other version is scanned too.** When the losing copy's bytes differ from the winner's
  (a decoy sent first, an overlap, a retransmission that changed), the sink gets them as a
  `variant` with a little delivered context, and the bytes are noted (`CONFLICT`). Copies are compared
  within the last `RECENT` bytes delivered per direction (`CONTEXT` once all flows keep
  `RECENT_TOTAL_CAP`). A bad checksum never drops a segment:
  captures taken on the sending host carry offloaded (not yet computed) checksums.
- **Bounds.** Out-of-order data is held up to a cap per direction and over all flows; a direction
  whose SYN was not captured has its first segments held briefly and ordered by sequence number
  before delivery; a stream filled backwards keeps its lowest bytes. Every byte a bound or a hole
  keeps from the analyzers is counted in `Losses`.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from netwatch.flows.losses import Losses
from netwatch.flows.losses import loss_notes as loss_notes  # the reports import it from here

SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10
OOO_CAP = 256 * 1024  # bytes held out of order per direction before a gap is declared
OOO_MAX_SEGMENTS = 512  # segments held out of order per direction (tiny segments cost more than bytes)
OOO_TOTAL_CAP = 64 * 1024 * 1024  # out-of-order bytes held over all flows: memory stays flat
# A direction first seen without its SYN (capture began mid-connection): its first segments are held
# until the peer speaks, FIN/RST, or one of these bounds, then delivered from the lowest sequence.
HOLD_SEGMENTS = 32
HOLD_BYTES = 64 * 1024
HOLD_SECONDS = 1.0
RECENT = 32 * 1024  # delivered bytes kept per direction to compare later copies with...
RECENT_TOTAL_CAP = 64 * 1024 * 1024  # ...while all flows together keep less than this (then CONTEXT each)
CONTEXT = 96  # delivered bytes around a differing copy handed over with it (a card may straddle)
WINDOW_SLACK = 1 << 20  # beyond the advertised window: the capture may have missed the latest ACKs
MAX_SCALE = 14  # RFC 7323's largest window shift, assumed when the SYNs were not captured
UNSEEN = -2  # window scale of a direction whose SYN the capture did not hold
MASK, HALF = 0xFFFFFFFF, 0x80000000
OUTSIDE_WINDOW = "outside the receiver's window (not delivered)"
CONFLICT = "sent twice with different content (both versions scanned)"
LATE = "arrived after the stream start was fixed"


class TcpStream:
    """Reassembly state of one direction, and the receiver's window for it."""

    __slots__ = ("next_seq", "pending", "pending_bytes", "gaps", "retransmits", "started", "held", "held_since",
                 "held_bytes", "origin", "recent", "wscale", "rcv_ack", "rcv_wnd", "conflicts")

    def __init__(self) -> None:
        self.next_seq = -1  # unknown until the SYN or first data segment
        self.pending: dict[int, bytes] = {}  # out-of-order segments, never overlapping each other
        self.pending_bytes = 0
        self.gaps = 0
        self.retransmits = 0
        self.started = False  # True once the initial sequence number is known
        self.held: dict[int, tuple[bytes, float]] | None = None  # first segments without a SYN: seq → data, ts
        self.held_since = 0.0
        self.held_bytes = 0
        self.origin = -1  # where delivery began when no SYN was seen (earlier bytes came too late)
        self.recent = bytearray()  # the last bytes delivered (up to 2 * RECENT), ending at next_seq
        self.wscale = UNSEEN  # window scale this direction's SYN announced (-1: none)
        self.rcv_ack = -1  # the receiver's latest acknowledgment of this direction (-1: none seen)
        self.rcv_wnd = 0  # and its window, in bytes
        self.conflicts = 0  # copies of this direction's bytes that differed


class TcpFlow(Protocol):
    """What reassembly reads and writes of a flow (`netwatch.flows.table.Flow`)."""

    streams: list[TcpStream | None]
    inspect: bool
    closed: bool
    fins: int
    proto_name: str
    src: str
    dst: str
    client_port: int
    server_port: int
    last_ts: float


F = TypeVar("F", bound=TcpFlow)
F_in = TypeVar("F_in", bound=TcpFlow, contravariant=True)


class StreamSink(Protocol[F_in]):
    def stream(self, flow: F_in, direction: int, data: bytes, ts: float) -> None: ...
    def gap(self, flow: F_in, direction: int, size: int) -> None: ...
    def variant(self, flow: F_in, direction: int, data: bytes, start: int, end: int, ts: float) -> None: ...


class Reassembler(Generic[F]):
    """Segments in, ordered stream bytes (and differing copies) out to the sink; bounded."""

    def __init__(self, sink: StreamSink[F], losses: Losses) -> None:
        self.sink = sink
        self.losses = losses
        self.pending_total = 0  # out-of-order and held bytes over all flows
        self.gap_bytes = 0
        self.conflicts = 0  # copies of stream bytes that differed from the kept ones (all flows)
        self.recent_total = 0  # delivered bytes kept for comparison over all flows
        self.holding: dict[F, None] = {}  # flows with a direction held at its start (no SYN seen)

    def segment(self, flow: F, direction: int, flags: int, seq: int, payload: bytes, ts: float,
                ack: int = 0, window: int = -1, wscale: int = -1) -> None:
        """One TCP segment: window bookkeeping, reassembly, FIN/RST. `window` -1: not known."""
        s = flow.streams[direction]
        if s is None:
            s = flow.streams[direction] = TcpStream()
        if flags & SYN:
            s.wscale = wscale
            if s.held:
                self._release(flow, direction, s)
            if not s.started:
                s.next_seq = (seq + 1) & MASK
                s.started = True
            seq = (seq + 1) & MASK  # data on a SYN (TCP Fast Open) starts after it
        if flags & ACK and window >= 0:
            self._window(flow, direction, ack, window)
        if payload and flow.inspect:
            other = flow.streams[1 - direction]
            if other is not None and other.held:  # the peer answers: what it was sent has arrived
                self._release(flow, 1 - direction, other)
            self._segment(flow, direction, s, seq, payload, ts)
        if flags & RST:
            flow.closed = True
        elif flags & FIN:
            flow.fins |= 1 << direction
            if flow.fins == 3:
                flow.closed = True
        if flags & (FIN | RST) and s.held:
            self._release(flow, direction, s)

    def _window(self, flow: F, direction: int, ack: int, window: int) -> None:
        """An acknowledgment from `direction`: the window the peer's data must fit in."""
        mine = flow.streams[direction]
        target = flow.streams[1 - direction]
        if target is None:
            target = flow.streams[1 - direction] = TcpStream()
        scale = mine.wscale if mine is not None else UNSEEN
        if scale == UNSEEN:
            scale = MAX_SCALE
        elif scale < 0 or target.wscale == -1:  # scaling holds only when both SYNs offered it
            scale = 0
        if target.rcv_ack < 0 or (ack - target.rcv_ack) & MASK < HALF:
            target.rcv_ack = ack
            target.rcv_wnd = window << scale

    def _segment(self, flow: F, direction: int, s: TcpStream, seq: int, data: bytes, ts: float) -> None:
        if not s.started:  # capture began mid-connection: hold the first segments to order them
            self._hold(flow, direction, s, seq, data, ts)
            return
        if s.rcv_ack >= 0:  # the window starts at the acknowledgment, or where delivery stands if that is later
            left = s.rcv_ack if (s.rcv_ack - s.next_seq) & MASK < HALF else s.next_seq
            ahead = (seq - left) & MASK
            if ahead < HALF and ahead > s.rcv_wnd + WINDOW_SLACK:
                self.losses.add(flow, direction, len(data), OUTSIDE_WINDOW)
                return
        delta = (seq - s.next_seq) & MASK
        if delta >= HALF:  # starts before what was delivered: retransmit, overlap or too late
            back = 0x100000000 - delta
            if s.origin >= 0 and (seq - s.origin) & MASK >= HALF:  # before the chosen start
                self.losses.add(flow, direction, min(len(data), (s.origin - seq) & MASK), LATE)
            self._compare(flow, direction, s, seq, data[:back], data, ts)
            if back >= len(data):
                s.retransmits += 1
                return
            data = data[back:]
            seq = s.next_seq
            delta = 0
        if delta:
            self._queue(flow, direction, s, data, delta, ts)
            if (s.pending_bytes > OOO_CAP or len(s.pending) > OOO_MAX_SEGMENTS
                    or self.pending_total > OOO_TOTAL_CAP):
                self._overflow(flow, direction, s, delta, ts)
            return
        self._deliver(flow, direction, s, data, ts)
        if s.pending:
            self._drain(flow, direction, s, ts)

    def _deliver(self, flow: F, direction: int, s: TcpStream, data: bytes, ts: float) -> None:
        self.sink.stream(flow, direction, data, ts)
        s.next_seq = (s.next_seq + len(data)) & MASK
        recent = s.recent
        recent += data
        self.recent_total += len(data)
        keep = RECENT if self.recent_total <= RECENT_TOTAL_CAP else CONTEXT
        if len(recent) > 2 * keep:
            self.recent_total -= len(recent) - keep
            del recent[: len(recent) - keep]

    def _compare(self, flow: F, direction: int, s: TcpStream, seq: int, copy: bytes, whole: bytes,
                 ts: float) -> None:
        """`copy` (the start of `whole`, sent at `seq`) repeats delivered bytes: if it differs from
        them, it is handed over as a variant with the delivered bytes before it and its own after."""
        back = (s.next_seq - seq) & MASK
        recent = s.recent
        if not copy or back > len(recent) or back >= HALF:
            return  # older than the kept bytes (or before the stream began): not compared
        at = len(recent) - back
        if recent[at : at + len(copy)] == copy:
            return
        before = bytes(recent[max(0, at - CONTEXT) : at])
        after = whole[len(copy) : len(copy) + CONTEXT]
        self._conflict(flow, direction, s, before + copy + after, len(before), len(before) + len(copy), ts)

    def _conflict(self, flow: F, direction: int, s: TcpStream, data: bytes, start: int, end: int,
                  ts: float) -> None:
        s.conflicts += 1
        self.conflicts += 1
        self.losses.add(flow, direction, end - start, CONFLICT)
        self.sink.variant(flow, direction, data, start, end, ts)

    def _queue(self, flow: F, direction: int, s: TcpStream, data: bytes, delta: int, ts: float) -> None:
        """Hold an out-of-order segment (`delta` bytes ahead), overlaps settled by the Linux rule."""
        lo, hi = delta, delta + len(data)
        sent = data
        for q in list(s.pending):
            old = s.pending[q]
            qs = (q - s.next_seq) & MASK
            qe = qs + len(old)
            if qe <= lo or qs >= hi:
                continue
            a, b = max(lo, qs), min(hi, qe)
            differ = data[a - lo : b - lo] != old[a - qs : b - qs]
            if lo < qs or (lo == qs and hi > qe):  # the new segment wins the overlap
                if differ:
                    self._conflict(flow, direction, s, old, a - qs, b - qs, ts)
                del s.pending[q]
                self._held_change(s, -len(old))
                if qe > b:  # the old segment's tail, past the new one, stays
                    s.pending[(s.next_seq + b) & MASK] = old[b - qs :]
                    self._held_change(s, qe - b)
            else:  # the queued segment wins: the new one keeps only what lies beyond it
                if differ:
                    start = a - delta
                    self._conflict(flow, direction, s, sent, start, start + b - a, ts)
                data, lo = data[b - lo :], b
                if not data:
                    return
        s.pending[(s.next_seq + lo) & MASK] = data
        self._held_change(s, len(data))

    def _held_change(self, s: TcpStream, size: int) -> None:
        s.pending_bytes += size
        self.pending_total += size

    def _hold(self, flow: F, direction: int, s: TcpStream, seq: int, data: bytes, ts: float) -> None:
        """No SYN seen for this direction: keep its first segments, to deliver them in sequence order."""
        if s.held is None:
            s.held = {}
            s.held_since = ts
            self.holding[flow] = None
        known = s.held.get(seq)
        if known is not None and known[0][: len(data)] != data[: len(known[0])]:
            n = min(len(data), len(known[0]))
            self._conflict(flow, direction, s, data, 0, n, ts)  # first copy held, the other scanned
        if known is None or len(known[0]) < len(data):
            grow = len(data) - (len(known[0]) if known else 0)
            s.held[seq] = (known[0] + data[len(known[0]) :], known[1]) if known else (data, ts)
            s.held_bytes += grow
            self.pending_total += grow  # held bytes count against the all-flows cap too
        if (len(s.held) >= HOLD_SEGMENTS or s.held_bytes >= HOLD_BYTES or ts - s.held_since >= HOLD_SECONDS
                or self.pending_total > OOO_TOTAL_CAP):
            self._release(flow, direction, s)

    def _release(self, flow: F, direction: int, s: TcpStream) -> None:
        """Start the stream at the lowest held sequence number and deliver the held segments in order."""
        held = s.held or {}
        s.held = None
        self.pending_total -= s.held_bytes
        s.held_bytes = 0
        if not held:
            return
        first = next(iter(held))
        order = sorted(held, key=lambda q: (q - first + HALF) & MASK)  # circular, around the first
        s.next_seq = s.origin = order[0]
        s.started = True
        other = flow.streams[1 - direction]
        if other is None or not other.held:
            self.holding.pop(flow, None)
        for q in order:
            data, ts = held[q]
            if flow.inspect:
                self._segment(flow, direction, s, q, data, ts)

    def release_stale(self, now: float) -> None:
        """Deliver held starts nobody followed up within HOLD_SECONDS."""
        for f in [f for f in self.holding if f.last_ts < now - HOLD_SECONDS]:
            for direction, s in enumerate(f.streams):
                if s is not None and s.held:
                    self._release(f, direction, s)

    def _overflow(self, flow: F, direction: int, s: TcpStream, delta: int, ts: float) -> None:
        """Out-of-order buffer full. A segment arriving below every held one means the stream is
        being filled backwards (heavy reordering): drop the highest held segments, keeping the ones
        the stream needs next. Otherwise the missing bytes are taken as lost: skip the hole."""
        ahead = [(q - s.next_seq) & MASK for q in s.pending]
        if delta > min(ahead) or len(ahead) < 2:
            self._skip_gap(flow, direction, s, ts)
            return
        for d in sorted(ahead, reverse=True):
            seg = s.pending.pop((s.next_seq + d) & MASK)
            self._held_change(s, -len(seg))
            self.losses.add(flow, direction, len(seg), "out-of-order buffer full")
            if (s.pending_bytes <= OOO_CAP * 3 // 4 and len(s.pending) <= OOO_MAX_SEGMENTS * 3 // 4
                    and self.pending_total <= OOO_TOTAL_CAP * 3 // 4):
                return

    def _drain(self, flow: F, direction: int, s: TcpStream, ts: float) -> None:
        """Deliver queued segments that have become contiguous; those the delivered bytes now cover
        (wholly or in part) are compared with them and dropped."""
        while s.pending and flow.inspect:
            nxt = None
            for q in list(s.pending):
                delta = (q - s.next_seq) & MASK
                if delta == 0 or delta >= HALF:
                    seg = s.pending.pop(q)
                    self._held_change(s, -len(seg))
                    back = (0x100000000 - delta) & MASK
                    if back:
                        self._compare(flow, direction, s, q, seg[:back], seg, ts)
                    if back < len(seg):
                        nxt = seg[back:]
            if nxt is None:
                return
            self._deliver(flow, direction, s, nxt, ts)

    def _skip_gap(self, flow: F, direction: int, s: TcpStream, ts: float) -> None:
        """Buffer cap hit: give up on the missing bytes and continue at the lowest held segment."""
        first = min(s.pending, key=lambda q: (q - s.next_seq) & MASK)
        size = (first - s.next_seq) & MASK
        s.gaps += 1
        self.gap_bytes += size
        self.losses.add(flow, direction, size, "not in the capture")
        self.sink.gap(flow, direction, size)
        s.next_seq = first
        self.recent_total -= len(s.recent)
        s.recent.clear()  # the bytes before the hole are no longer the ones before next_seq
        self._drain(flow, direction, s, ts)

    def end(self, flow: F) -> None:
        """The flow ends: deliver what is still held, skipping the holes; let go of the rest."""
        for direction, s in enumerate(flow.streams):
            if s is None:
                continue
            if s.held:
                self._release(flow, direction, s)
            while s.pending and flow.inspect:
                self._skip_gap(flow, direction, s, flow.last_ts)
            if s.pending:  # inspection stopped: what is left is let go
                self.pending_total -= s.pending_bytes
                s.pending.clear()
                s.pending_bytes = 0
            self.recent_total -= len(s.recent)
            s.recent = bytearray()
        self.holding.pop(flow, None)
