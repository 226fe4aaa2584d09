"""What bounds, holes and insertion attempts did to a capture's streams, by flow and reason, for the summary.

Every byte a bound or a hole kept from the analyzers is counted here (reassembly, decoders); so are
the bytes a receiver would not take (outside its window) and the bytes sent twice with different
content (both copies were scanned). The first flows are named, all are totalled.
"""

from __future__ import annotations

from typing import Any, Protocol

MAX_LOSS_NOTES = 20  # flows named in the loss notes; beyond, losses are only totalled


class Endpoints(Protocol):
    """What a note names of a flow."""

    proto_name: str
    src: str
    dst: str
    client_port: int
    server_port: int


class Losses:
    """Bytes a bound or a hole kept from the analyzers, per flow and reason: counted and named.

    The first `MAX_LOSS_NOTES` (flow, direction, reason) entries are kept by name; all are totalled."""

    def __init__(self) -> None:
        self.notes: dict[tuple[str, str], int] = {}
        self.times: dict[tuple[str, str], int] = {}  # how often each named entry happened (holes, conflicts…)
        self.totals: dict[str, int] = {}

    def add(self, flow: Endpoints, direction: int, size: int, reason: str) -> None:
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
            self.times[key] = self.times.get(key, 0) + 1

    def as_list(self) -> list[dict[str, Any]]:
        """Named losses (largest first) then the totals per reason of every flow."""
        named: list[dict[str, Any]] = [{"flow": f, "reason": r, "bytes": n, "times": self.times[(f, r)]}
                                       for (f, r), n in self.notes.items()]
        named.sort(key=lambda d: -d["bytes"])
        unnamed = {r: t - sum(n for (_f, rr), n in self.notes.items() if rr == r) for r, t in self.totals.items()}
        return named + [{"flow": None, "reason": r, "bytes": n} for r, n in unnamed.items() if n]


def loss_notes(losses: list[dict[str, Any]], flows_cut: int = 0, limit: int = 3) -> list[str]:
    """Plain-text lines for a summary: the largest losses by flow, then how many more."""
    out = [f"{d['bytes']:,} bytes {d['reason']}" + _times(d.get("times", 0))
           + (f": {d['flow']}" if d["flow"] else " (other flows)") for d in losses[:limit]]
    if len(losses) > limit:
        out.append(f"{sum(d['bytes'] for d in losses[limit:]):,} more bytes in {len(losses) - limit} more entries")
    if flows_cut:
        out.append(f"{flows_cut:,} flows ended early (flow table full)")
    return out


def _times(n: int) -> str:
    return f", {n} times" if n > 1 else ", once" if n == 1 else ""


def _ep(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
