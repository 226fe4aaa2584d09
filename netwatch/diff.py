"""What changed since the last visit: findings and destinations of a baseline run vs a current one.

Inputs are the JSON Lines of earlier scans (findings only) or the reports of captures scanned now
(findings and the destinations inventory). A finding is the same across runs when its rule,
endpoints (client port aside) and masked card number agree; fingerprints are per-run keyed, so
they are not compared. Destinations come from the inventory when both sides have one, otherwise
from the findings' endpoints on both sides (so the two sides are comparable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwatch.capture.pcapfile import is_capture as capture_magic
from netwatch.findings import scrub
from netwatch.rules import SEVERITY_RANK


class DiffError(Exception):
    """An input that is neither a capture nor netwatch JSON Lines; names file and line."""


@dataclass
class Side:
    """One run: its findings (JSON records) and, for scanned captures, the destinations inventory."""

    label: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    inventory: list[dict[str, Any]] | None = None
    systems: list[dict[str, Any]] | None = None  # SystemEntry.to_json() records, for scanned captures


@dataclass
class DiffResult:
    new: list[dict[str, Any]]
    resolved: list[dict[str, Any]]
    changed: list[tuple[dict[str, Any], dict[str, Any]]]  # (baseline, current) with another severity
    new_destinations: list[dict[str, Any]]
    gone_destinations: list[dict[str, Any]]
    destinations_from: str  # "inventory" or "findings"
    systems: list[dict[str, Any]] = field(default_factory=list)  # hosts whose software appeared or changed


def is_capture(path: str | Path) -> bool:
    """Sniff the first bytes: pcap, pcapng or gzip means a capture; anything else is read as JSON Lines."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as e:
        raise DiffError(f"{path}: cannot read: {e.strerror}") from None
    return capture_magic(head)


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Findings from a `netwatch scan --json` file; a bad line is an error naming file and line."""
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    raise DiffError(f"{path}:{i}: not JSON (expected netwatch JSON Lines or a capture file)") from None
                if not isinstance(rec, dict) or "rule" not in rec or rec.get("severity") not in SEVERITY_RANK:
                    raise DiffError(f"{path}:{i}: not a netwatch finding (needs 'rule' and 'severity')")
                out.append(rec)
    except OSError as e:
        raise DiffError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise DiffError(f"{path}: not UTF-8 text (expected netwatch JSON Lines or a capture file)") from None
    return out


def finding_key(f: dict[str, Any]) -> tuple:
    ev = f.get("evidence") or {}
    return (f.get("rule"), f.get("src"), f.get("dst"), f.get("dport"), f.get("proto"), ev.get("masked"))


def _dest_key(d: dict[str, Any]) -> tuple:
    return (d.get("dst"), d.get("dport"), d.get("proto"))


def destinations(side: Side, use_inventory: bool) -> dict[tuple, dict[str, Any]]:
    out: dict[tuple, dict[str, Any]] = {}
    if use_inventory:
        for row in side.inventory or []:
            d = out.setdefault(_dest_key(row), {"dst": row["dst"], "dport": row["dport"], "proto": row["proto"],
                                                "app": row["app"], "names": [], "clients": [], "flows": 0,
                                                "bytes": 0})
            d["flows"] += row["flows"]
            d["bytes"] += row["bytes"]
            d["names"] += [n for n in row["names"] if n not in d["names"]]
            d["clients"] += [c for c in row["clients"] if c not in d["clients"]]
        return out
    for f in side.findings:
        if f.get("dst") is None:
            continue
        d = out.setdefault(_dest_key(f), {"dst": f["dst"], "dport": f.get("dport"), "proto": f.get("proto"),
                                          "app": f.get("app"), "names": [], "clients": []})
        names = [*((f.get("evidence") or {}).get("names") or []), f.get("server_name")]
        d["names"] += [n for n in names if n and n not in d["names"]]
        if f.get("src") and f["src"] not in d["clients"]:
            d["clients"].append(f["src"])
    return out


def _clean(f: dict[str, Any]) -> dict[str, Any]:
    """Defence in depth: nothing that looks like a full card number goes back out."""
    ev = f.get("evidence")
    if isinstance(ev, dict):
        f = dict(f, evidence={k: scrub(v) if not isinstance(v, list) else [scrub(x) for x in v]
                              for k, v in ev.items()})
    return f


def _order(f: dict[str, Any]) -> tuple:
    return (SEVERITY_RANK.get(f.get("severity"), 9), str(f.get("rule")), str(f.get("src")), str(f.get("dst")),
            f.get("dport") or 0)


def diff(base: Side, cur: Side) -> DiffResult:
    b = {finding_key(f): f for f in sorted(base.findings, key=_order, reverse=True)}  # worst copy wins
    c = {finding_key(f): f for f in sorted(cur.findings, key=_order, reverse=True)}
    new = [_clean(f) for k, f in c.items() if k not in b]
    resolved = [_clean(f) for k, f in b.items() if k not in c]
    changed = [(_clean(b[k]), _clean(f)) for k, f in c.items() if k in b and b[k]["severity"] != f["severity"]]
    use_inv = base.inventory is not None and cur.inventory is not None
    bd, cd = destinations(base, use_inv), destinations(cur, use_inv)
    return DiffResult(
        new=sorted(new, key=_order), resolved=sorted(resolved, key=_order),
        changed=sorted(changed, key=lambda p: _order(p[1])),
        new_destinations=[cd[k] for k in sorted(cd, key=str) if k not in bd],
        gone_destinations=[bd[k] for k in sorted(bd, key=str) if k not in cd],
        destinations_from="inventory" if use_inv else "findings",
        systems=system_changes(base.systems, cur.systems) if base.systems is not None and cur.systems is not None
        else [],
    )


def system_changes(base: list[dict[str, Any]], cur: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per host and product: a version that changed (an update, or a downgrade) or a product that appeared."""
    def versions(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, dict[str, Any]]]:
        out: dict[tuple, dict[str, dict[str, Any]]] = {}
        for r in rows:
            out.setdefault((r["host"], r["role"], r["product"]), {})[str(r.get("version"))] = r
        return out

    b, c = versions(base), versions(cur)
    out = []
    for key in sorted(c, key=str):
        now, before = c[key], b.get(key)
        if before is not None and set(now) == set(before):
            continue
        for v, row in sorted(now.items()):
            if before is not None and v in before:
                continue
            rec = {k: row.get(k) for k in ("host", "role", "product", "name", "version", "protocol", "eol_status",
                                           "eol")}
            rec["change"] = "appeared" if before is None else "version-changed"
            if before is not None:
                rec["was"] = sorted(before)
            out.append(rec)
    return out


def result_records(r: DiffResult) -> list[dict[str, Any]]:
    """The diff as JSON Lines records: a `diff` field first, then the finding or destination."""
    out: list[dict[str, Any]] = []
    out += [{"diff": "new-finding", **f} for f in r.new]
    out += [{"diff": "severity-changed", "was": old["severity"], **f} for old, f in r.changed]
    out += [{"diff": "resolved-finding", **f} for f in r.resolved]
    out += [{"diff": "new-destination", "from": r.destinations_from, **d} for d in r.new_destinations]
    out += [{"diff": "gone-destination", "from": r.destinations_from, **d} for d in r.gone_destinations]
    out += [{"diff": "system-" + s["change"], **{k: v for k, v in s.items() if k != "change"}} for s in r.systems]
    return out


def worse(r: DiffResult, bar: str) -> bool:
    """A new finding, or one that got worse, at or above severity `bar`."""
    rank = SEVERITY_RANK[bar]
    return any(SEVERITY_RANK[f["severity"]] <= rank for f in r.new) or any(
        SEVERITY_RANK[f["severity"]] <= rank and SEVERITY_RANK[f["severity"]] < SEVERITY_RANK[old["severity"]]
        for old, f in r.changed)
