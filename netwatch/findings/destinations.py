"""The destinations inventory and its merges: one row per (dst, dport, proto, app), bounded.

A store talks to a few dozen destinations; a scan, a flood or a capture of random 5-tuples can
show millions. The inventory holds at most `MAX_ROWS` rows (the top ones by bytes, then flows);
the rows it lets go are folded into a `Rest` that keeps the exact flow and byte totals, while the
number of distinct destinations is counted by a small HyperLogLog sketch over every key (4 KiB,
about 1.6 % error), exact as long as no row was ever folded. Memory stays flat whatever the input.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from netwatch.events import FlowEnd
from netwatch.judge.policy import Policy, judge_event

MAX_ROWS = 2000  # destination rows kept per source (top by bytes, then flows); the rest are totals
SKETCH_BITS = 12  # 4096 HyperLogLog registers
Row = dict[str, Any]
Key = tuple[str, int, str, Any]


def _row_key(row: Row) -> Key:
    return (row["dst"], row["dport"], row["proto"], row["app"])


def _rank(row: Row) -> tuple[int, int]:
    return (row["bytes"], row["flows"])


class Sketch:
    """HyperLogLog distinct counter (Flajolet et al. 2007) with the small-range correction.

    Hashes with BLAKE2b, not `hash()`, so shard workers' sketches merge register by register."""

    def __init__(self, registers: bytes | None = None) -> None:
        self.reg = bytearray(registers if registers is not None else bytes(1 << SKETCH_BITS))

    def add(self, key: Key) -> None:
        h = int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=8).digest(), "big")
        i = h >> (64 - SKETCH_BITS)
        rest = h & ((1 << (64 - SKETCH_BITS)) - 1)
        rank = (64 - SKETCH_BITS) - rest.bit_length() + 1
        if rank > self.reg[i]:
            self.reg[i] = rank

    def merge(self, other: bytes) -> None:
        self.reg = bytearray(max(a, b) for a, b in zip(self.reg, other, strict=True))

    def estimate(self) -> int:
        m = len(self.reg)
        raw = 0.7213 / (1 + 1.079 / m) * m * m / sum(2.0 ** -r for r in self.reg)
        zeros = self.reg.count(0)
        if raw <= 2.5 * m and zeros:
            return round(m * math.log(m / zeros))
        return round(raw)


@dataclass
class Rest:
    """What the inventory no longer lists: exact flow and byte totals, rows folded, key sketch."""

    flows: int = 0
    nbytes: int = 0
    folded: int = 0  # rows let go (a destination seen again after folding may count twice here)
    sketch: bytes = field(default_factory=lambda: bytes(1 << SKETCH_BITS))

    def fold(self, row: Row) -> None:
        self.flows += row["flows"]
        self.nbytes += row["bytes"]
        self.folded += 1


class Inventory:
    """Destinations seen, keyed by (dst, dport, proto, app), built from flow_end observations.

    With a policy, each row also says which allowed destination (or resolver) covered its flows
    (`allowed`) and how many flows none did (`denied`); without one both stay None.
    """

    def __init__(self, policy: Policy | None = None, max_rows: int = MAX_ROWS) -> None:
        self.rows: dict[Key, Row] = {}
        self.policy = policy
        self.max_rows = max_rows
        self.rest = Rest()
        self._sketch = Sketch()

    def add(self, obs: FlowEnd) -> None:
        f = obs.flow
        key: Key = (f.dst, f.server_port, f.proto, obs.app)
        row = self.rows.get(key)
        if row is None:
            self._sketch.add(key)
            if len(self.rows) >= 2 * self.max_rows:
                self._prune()
            row = self.rows[key] = {
                "dst": f.dst, "dport": f.server_port, "proto": f.proto, "app": obs.app,
                "encrypted": obs.encrypted, "how": obs.how, "infra": obs.infra, "names": [], "clients": [],
                "flows": 0, "bytes": 0, "unnamed": 0, "allowed": None, "denied": None,
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

    def _prune(self) -> None:
        """Keep the top `max_rows` rows; fold the others into `rest` (amortised: runs every max_rows keys)."""
        ranked = sorted(self.rows.values(), key=_rank, reverse=True)
        for row in ranked[self.max_rows :]:
            self.rest.fold(row)
        self.rows = {_row_key(r): r for r in ranked[: self.max_rows]}

    @staticmethod
    def _judge(row: Row, label: str | None) -> None:
        """Count the policy's verdict on one flow (netwatch.judge.policy.judge): the label, or None for denied."""
        if row["allowed"] is None:
            row["allowed"], row["denied"] = [], 0
        if label is None:
            row["denied"] += 1
        elif label not in row["allowed"]:
            row["allowed"].append(label)

    def results(self) -> list[Row]:
        if len(self.rows) > self.max_rows:
            self._prune()
        return sorted(self.rows.values(), key=lambda r: (-r["bytes"], r["dst"], r["dport"]))

    def rest_totals(self) -> Rest:
        """The folded totals, with the sketch of every key this inventory saw."""
        self.results()
        return Rest(self.rest.flows, self.rest.nbytes, self.rest.folded, bytes(self._sketch.reg))


def merge_inventory(row_lists: Iterable[list[Row]]) -> list[Row]:
    """One destination row per (dst, dport, proto, app) over several reports or shards."""
    rows: dict[Key, Row] = {}
    for row_list in row_lists:
        for row in row_list:
            key = _row_key(row)
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


def merge_rest(rests: Iterable[Rest | None]) -> Rest:
    """Folded totals of several reports or shards (sketches merged register by register)."""
    out = Rest()
    sketch = Sketch()
    for r in rests:
        if r is None:
            continue
        out.flows += r.flows
        out.nbytes += r.nbytes
        out.folded += r.folded
        sketch.merge(r.sketch)
    out.sketch = bytes(sketch.reg)
    return out


def unlisted(rows: list[Row], rest: Rest) -> tuple[int, bool]:
    """(destinations not among `rows`, exact?): exact when nothing was folded, else estimated."""
    if not rest.folded:
        return 0, True
    return max(1, Sketch(rest.sketch).estimate() - len(rows)), False
