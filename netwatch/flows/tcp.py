"""TCP reassembly of one flow's two directions, and the record of what bounds and holes kept back.

`Reassembler` is the half of `FlowTable` that turns segments into ordered stream bytes: the first
copy of any byte wins; out-of-order data is held up to a cap per direction and over all flows; a
direction whose SYN was not captured has its first segments held briefly and ordered by sequence
number before delivery; a stream filled backwards keeps its lowest bytes. Every byte a bound or a
hole keeps from the analyzers is counted in `Losses`, by flow and reason, for the summary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netwatch.flows.table import Flow, FlowSink

SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10
OOO_CAP = 256 * 1024  # bytes held out of order per direction before a gap is declared
OOO_MAX_SEGMENTS = 512  # segments held out of order per direction (tiny segments cost more than bytes)
OOO_TOTAL_CAP = 64 * 1024 * 1024  # out-of-order bytes held over all flows: memory stays flat
# A direction first seen without its SYN (capture began mid-connection): its first segments are held
# until the peer speaks, FIN/RST, or one of these bounds, then delivered from the lowest sequence.
HOLD_SEGMENTS = 32
HOLD_BYTES = 64 * 1024
HOLD_SECONDS = 1.0
MAX_LOSS_NOTES = 20  # flows named in the loss notes; beyond, losses are only totalled


class TcpStream:
    """Reassembly of one direction: first copy of any byte wins, out-of-order held up to a cap."""

    __slots__ = ("next_seq", "pending", "pending_bytes", "gaps", "retransmits", "started", "held", "held_since",
                 "held_bytes", "origin")

    def __init__(self) -> None:
        self.next_seq = -1  # unknown until the SYN or first data segment
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.gaps = 0
        self.retransmits = 0
        self.started = False  # True once the initial sequence number is known
        self.held: dict[int, tuple[bytes, float]] | None = None  # first segments without a SYN: seq → data, ts
        self.held_since = 0.0
        self.held_bytes = 0
        self.origin = -1  # where delivery began when no SYN was seen (earlier bytes came too late)


class Losses:
    """Bytes a bound or a hole kept from the analyzers, per flow and reason: counted and named.

    The first `MAX_LOSS_NOTES` (flow, direction, reason) entries are kept by name; all are totalled."""

    def __init__(self) -> None:
        self.notes: dict[tuple[str, str], int] = {}
        self.totals: dict[str, int] = {}

    def add(self, flow: Flow, direction: int, size: int, reason: str) -> None:
        self.note(flow.proto_name, (flow.src, flow.client_port), (flow.dst, flow.server_port), direction, size, reason)

    def note(self, proto: str, client: tuple[str, int], server: tuple[str, int], direction: int, size: int,
             reason: str) -> None:
        """`size` bytes of one direction of a flow left out by a bound, for the summary."""
        if size <= 0:
            return
        self.totals[reason] = self.totals.get(reason, 0) + size
        way = "to server" if direction == 0 else "to client"
        key = (f"{proto} {_ep(*client)} → {_ep(*server)} {way}", reason)
        if key in self.notes or len(self.notes) < MAX_LOSS_NOTES:
            self.notes[key] = self.notes.get(key, 0) + size

    def as_list(self) -> list[dict[str, Any]]:
        """Named losses (largest first) then the totals per reason of every flow."""
        named: list[dict[str, Any]] = [{"flow": f, "reason": r, "bytes": n} for (f, r), n in self.notes.items()]
        named.sort(key=lambda d: -d["bytes"])
        unnamed = {r: t - sum(n for (_f, rr), n in self.notes.items() if rr == r) for r, t in self.totals.items()}
        return named + [{"flow": None, "reason": r, "bytes": n} for r, n in unnamed.items() if n]


def loss_notes(losses: list[dict[str, Any]], flows_cut: int = 0, limit: int = 3) -> list[str]:
    """Plain-text lines for a summary: the largest losses by flow, then how many more."""
    out = [f"{d['bytes']:,} bytes {d['reason']}" + (f": {d['flow']}" if d["flow"] else " (other flows)")
           for d in losses[:limit]]
    if len(losses) > limit:
        out.append(f"{sum(d['bytes'] for d in losses[limit:]):,} more bytes in {len(losses) - limit} more entries")
    if flows_cut:
        out.append(f"{flows_cut:,} flows ended early (flow table full)")
    return out


def _ep(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


class Reassembler:
    """TCP stream delivery for `FlowTable` (a mixin: the table owns the sink, counters and flows)."""

    sink: FlowSink
    losses: Losses
    pending_total: int  # out-of-order and held bytes over all flows
    gap_bytes: int
    holding: dict[Flow, None]

    def _tcp(self, flow: Flow, direction: int, flags: int, seq: int, payload: bytes, ts: float) -> None:
        s = flow.streams[direction]
        if s is None:
            s = flow.streams[direction] = TcpStream()
        if flags & SYN:
            if s.held:
                self._release(flow, direction, s)
            if not s.started:
                s.next_seq = (seq + 1) & 0xFFFFFFFF
                s.started = True
            seq = (seq + 1) & 0xFFFFFFFF  # data on a SYN (TCP Fast Open) starts after it
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

    def _hold(self, flow: Flow, direction: int, s: TcpStream, seq: int, data: bytes, ts: float) -> None:
        """No SYN seen for this direction: keep its first segments, to deliver them in sequence order."""
        if s.held is None:
            s.held = {}
            s.held_since = ts
            self.holding[flow] = None
        known = s.held.get(seq)
        if known is None or len(known[0]) < len(data):
            grow = len(data) - (len(known[0]) if known else 0)
            s.held[seq] = (known[0] + data[len(known[0]) :], known[1]) if known else (data, ts)
            s.held_bytes += grow
            self.pending_total += grow  # held bytes count against the all-flows cap too
        if (len(s.held) >= HOLD_SEGMENTS or s.held_bytes >= HOLD_BYTES or ts - s.held_since >= HOLD_SECONDS
                or self.pending_total > OOO_TOTAL_CAP):
            self._release(flow, direction, s)

    def _release(self, flow: Flow, direction: int, s: TcpStream) -> None:
        """Start the stream at the lowest held sequence number and deliver the held segments in order."""
        held = s.held or {}
        s.held = None
        self.pending_total -= s.held_bytes
        s.held_bytes = 0
        if not held:
            return
        first = next(iter(held))
        order = sorted(held, key=lambda q: (q - first + 0x80000000) & 0xFFFFFFFF)  # circular, around the first
        s.next_seq = s.origin = order[0]
        s.started = True
        other = flow.streams[1 - direction]
        if other is None or not other.held:
            self.holding.pop(flow, None)
        for q in order:
            data, ts = held[q]
            if flow.inspect:
                self._segment(flow, direction, s, q, data, ts)

    def _segment(self, flow: Flow, direction: int, s: TcpStream, seq: int, data: bytes, ts: float) -> None:
        if not s.started:  # capture began mid-connection: hold the first segments to order them
            self._hold(flow, direction, s, seq, data, ts)
            return
        delta = (seq - s.next_seq) & 0xFFFFFFFF
        if delta >= 0x80000000:  # starts before what was delivered: retransmit, overlap or too late
            old = 0x100000000 - delta
            if s.origin >= 0 and (seq - s.origin) & 0xFFFFFFFF >= 0x80000000:  # before the chosen start
                early = min(len(data), (s.origin - seq) & 0xFFFFFFFF)
                self.losses.add(flow, direction, early, "arrived after the stream start was fixed")
            if old >= len(data):
                s.retransmits += 1
                return
            data = data[old:]
            delta = 0
        if delta:
            held = s.pending.get(seq)
            if held is None or len(held) < len(data):
                if held is not None:  # first copy wins for the bytes already held
                    data = held + data[len(held) :]
                grow = len(data) - (len(held) if held is not None else 0)
                s.pending_bytes += grow
                self.pending_total += grow
                s.pending[seq] = data
            if (s.pending_bytes > OOO_CAP or len(s.pending) > OOO_MAX_SEGMENTS
                    or self.pending_total > OOO_TOTAL_CAP):
                self._overflow(flow, direction, s, delta, ts)
            return
        self.sink.stream(flow, direction, data, ts)
        s.next_seq = (s.next_seq + len(data)) & 0xFFFFFFFF
        if s.pending:
            self._drain(flow, direction, s, ts)

    def _overflow(self, flow: Flow, direction: int, s: TcpStream, delta: int, ts: float) -> None:
        """Out-of-order buffer full. A segment arriving below every held one means the stream is
        being filled backwards (heavy reordering): drop the highest held segments, keeping the ones
        the stream needs next. Otherwise the missing bytes are taken as lost: skip the hole."""
        ahead = [(q - s.next_seq) & 0xFFFFFFFF for q in s.pending]
        if delta > min(ahead) or len(ahead) < 2:
            self._skip_gap(flow, direction, s, ts)
            return
        for d in sorted(ahead, reverse=True):
            q = (s.next_seq + d) & 0xFFFFFFFF
            seg = s.pending.pop(q)
            s.pending_bytes -= len(seg)
            self.pending_total -= len(seg)
            self.losses.add(flow, direction, len(seg), "out-of-order buffer full")
            if (s.pending_bytes <= OOO_CAP * 3 // 4 and len(s.pending) <= OOO_MAX_SEGMENTS * 3 // 4
                    and self.pending_total <= OOO_TOTAL_CAP * 3 // 4):
                return

    def _drain(self, flow: Flow, direction: int, s: TcpStream, ts: float) -> None:
        """Deliver buffered segments that have become contiguous; drop ones now fully old."""
        while s.pending and flow.inspect:
            best = None
            for seq in list(s.pending):
                delta = (seq - s.next_seq) & 0xFFFFFFFF
                if delta >= 0x80000000 or delta == 0:
                    seg = s.pending.pop(seq)
                    s.pending_bytes -= len(seg)
                    self.pending_total -= len(seg)
                    old = (0x100000000 - delta) & 0xFFFFFFFF
                    if old < len(seg):
                        best = seg[old:] if best is None or len(seg) - old > len(best) else best
            if best is None:
                return
            self.sink.stream(flow, direction, best, ts)
            s.next_seq = (s.next_seq + len(best)) & 0xFFFFFFFF

    def _skip_gap(self, flow: Flow, direction: int, s: TcpStream, ts: float) -> None:
        """Buffer cap hit: give up on the missing bytes and continue at the lowest held segment."""
        first = min(s.pending, key=lambda q: (q - s.next_seq) & 0xFFFFFFFF)
        size = (first - s.next_seq) & 0xFFFFFFFF
        s.gaps += 1
        self.gap_bytes += size
        self.losses.add(flow, direction, size, "not in the capture")
        self.sink.gap(flow, direction, size)
        s.next_seq = first
        self._drain(flow, direction, s, ts)

    def _flush(self, flow: Flow) -> None:
        """At the end of a flow, deliver what is still held, skipping the holes."""
        for direction, s in enumerate(flow.streams):
            if s is not None and s.held:
                self._release(flow, direction, s)
            while s is not None and s.pending and flow.inspect:
                self._skip_gap(flow, direction, s, flow.last_ts)
