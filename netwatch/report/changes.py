"""What changed since the last visit: findings, destinations and systems of a baseline run vs a current one.

Inputs are the JSON Lines of earlier scans (findings, and the destinations and systems inventories
from the summary record) or the reports of captures scanned now (findings and the destinations inventory).
Which findings are the same (`match_findings`): when both sides carry `finding_id`s (schema 2) made
with the same key, the id decides, so `diff` and a SIEM upserting on the id agree; the id covers
severity, so a finding whose severity changed is paired by rule and endpoints and shown as changed.
Otherwise a finding is the same when its rule, endpoints (client port aside) and masked card number
agree: for older files without ids, and for runs with different keys (each scan without --key has a
random one), told by the ids themselves (no id in common while findings agree in rule and endpoints:
two keys never give the same id), in which case the result says so in one line (`DiffResult.note`);
that is not an error, since it is the match diff always made. Destinations come from the
inventory when both sides have one, otherwise from the findings' endpoints on both sides (so the
two sides are comparable).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwatch.capture.pcapfile import is_capture as capture_magic
from netwatch.judge.rules import SEVERITY_RANK
from netwatch.judge.textinput import MAX_JSONL_BYTES, MAX_JSONL_LINE
from netwatch.pipeline.metalog import LOG_KINDS
from netwatch.redaction.text import Clean, redact, redact_record

Record = dict[str, Clean]  # a finding or destination with every string redacted


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
    """What changed; every record passed `redact` (an old JSON Lines file may hold raw packet text)."""

    new: list[Record]
    resolved: list[Record]
    changed: list[tuple[Record, Record]]  # (baseline, current) with another severity
    new_destinations: list[Record]
    gone_destinations: list[Record]
    destinations_from: str  # "inventory" or "findings"
    systems: list[dict[str, Any]] = field(default_factory=list)  # hosts whose software appeared or changed
    matched_by: str = "rule-endpoints"  # or "finding_id": how findings of the two sides were paired
    note: str | None = None  # one line when the finding ids could not be used although both sides have them


def is_capture(path: str | Path) -> bool:
    """Sniff the first bytes: pcap, pcapng or gzip means a capture; anything else is read as JSON Lines."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as e:
        raise DiffError(f"{path}: cannot read: {e.strerror}") from None
    return capture_magic(head)


def load_jsonl(path: str | Path) -> Side:
    """A `netwatch scan --json` file: its finding records and the destination and systems inventories
    (schema 2: `destination` and `system` records; schema 1: lists in the summary record; files
    written before the summary record existed give findings only). A bad line is an error naming
    file and line.

    Read in bounded pieces: a line or a file far larger than any scan writes (`/dev/zero`, a FIFO
    that never ends) is refused once the cap is reached, not read into memory."""
    findings: list[dict[str, Any]] = []
    inventory: list[dict[str, Any]] | None = None
    systems: list[dict[str, Any]] | None = None
    total = 0
    try:
        with open(path, "rb") as fh:
            for i in itertools.count(1):
                raw = fh.readline(MAX_JSONL_LINE + 1)
                if not raw:
                    break
                total += len(raw)
                if len(raw) > MAX_JSONL_LINE:
                    raise DiffError(f"{path}:{i}: line longer than {MAX_JSONL_LINE >> 20} MiB; not netwatch JSON Lines")
                if total > MAX_JSONL_BYTES:
                    raise DiffError(f"{path}:{i}: file larger than {MAX_JSONL_BYTES >> 20} MiB; refused")
                if not raw.strip():
                    continue
                rec = _json_line(path, i, raw)
                kind = rec.get("event_type", "finding") if isinstance(rec, dict) else None
                if kind == "input":  # schema 2: per-input statistics; nothing to compare
                    continue
                if kind in LOG_KINDS:  # --log metadata records: nothing to compare, and not kept (nor counted)
                    total -= len(raw)
                    continue
                if kind == "destination":  # schema 2: the inventories are records of their own
                    inventory = (inventory or []) + ([rec] if _is_destination(rec) else [])
                    continue
                if kind == "system":
                    systems = (systems or []) + ([rec] if _is_system(rec) else [])
                    continue
                if kind == "summary":
                    if "destinations_total" in rec:  # schema 2: an empty inventory is still an inventory
                        inventory, systems = inventory or [], systems or []
                    elif isinstance(rec.get("destinations"), list):  # schema 1: inside the summary
                        inventory = (inventory or []) + [d for d in rec["destinations"] if _is_destination(d)]
                        if isinstance(rec.get("systems"), list):
                            systems = (systems or []) + [e for e in rec["systems"] if _is_system(e)]
                    continue
                if kind != "finding" or "rule" not in rec or rec.get("severity") not in SEVERITY_RANK:
                    raise DiffError(f"{path}:{i}: not a netwatch finding (needs 'rule' and 'severity')")
                findings.append(rec)
    except OSError as e:
        raise DiffError(f"{path}: cannot read: {e.strerror}") from None
    return Side(str(path), _latest(findings), inventory, systems)


def _is_system(e: object) -> bool:
    return isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("host", "role", "product"))


def _is_destination(d: object) -> bool:
    return isinstance(d, dict) and isinstance(d.get("dst"), str) and isinstance(d.get("names", []), list) \
        and isinstance(d.get("clients", []), list)


def _latest(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`live --json` writes a finding again as its count grows (`update`): keep the last copy of each."""
    from netwatch.report.jsonl import latest_findings

    return latest_findings(findings) if any(f.get("update") for f in findings) else findings


def _json_line(path: str | Path, i: int, raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DiffError(f"{path}:{i}: not UTF-8 text (expected netwatch JSON Lines or a capture file)") from None
    except ValueError:
        raise DiffError(f"{path}:{i}: not JSON (expected netwatch JSON Lines or a capture file)") from None


def finding_key(f: dict[str, Any]) -> tuple[Any, ...]:
    ev = f.get("evidence") or {}
    return (f.get("rule"), f.get("src"), f.get("dst"), f.get("dport"), f.get("proto"), ev.get("masked"))


def _dest_key(d: dict[str, Any]) -> tuple[Any, ...]:
    return (d.get("dst"), d.get("dport"), d.get("proto"))


def destinations(side: Side, use_inventory: bool) -> dict[tuple[Any, ...], dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    if use_inventory:
        for row in side.inventory or []:
            d = out.setdefault(_dest_key(row), {"dst": row["dst"], "dport": row.get("dport"),
                                                "proto": row.get("proto"), "app": row.get("app"), "names": [],
                                                "clients": [], "flows": 0, "bytes": 0})
            d["flows"] += row.get("flows") or 0
            d["bytes"] += row.get("bytes") or 0
            d["names"] += [n for n in map(redact, row.get("names") or []) if n not in d["names"]]
            d["clients"] += [c for c in row.get("clients") or [] if c not in d["clients"]]
            if row.get("allowed") is not None:  # scanned with a policy: its verdict (policy.judge) per row
                d["allowed"] = d.get("allowed", []) + [a for a in row["allowed"] if a not in d.get("allowed", [])]
                d["denied"] = d.get("denied", 0) + (row.get("denied") or 0)
        return out
    for f in side.findings:
        if f.get("dst") is None:
            continue
        d = out.setdefault(_dest_key(f), {"dst": f["dst"], "dport": f.get("dport"), "proto": f.get("proto"),
                                          "app": f.get("app"), "names": [], "clients": []})
        names = [*((f.get("evidence") or {}).get("names") or []), f.get("server_name")]
        d["names"] += [n for n in map(redact, filter(None, names)) if n not in d["names"]]
        if f.get("src") and f["src"] not in d["clients"]:
            d["clients"].append(f["src"])
    return out


def _clean(f: dict[str, Any]) -> Record:
    """Every string of the record through the one redaction boundary (card data, control characters)."""
    return redact_record(f)


def _order(f: Record | dict[str, Any]) -> tuple[int, str, str, str, Any]:
    return (SEVERITY_RANK.get(str(f.get("severity")), 9), str(f.get("rule")), str(f.get("src")), str(f.get("dst")),
            f.get("dport") or 0)


Pairing = tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]


def _pair_by_key(base: list[dict[str, Any]], cur: list[dict[str, Any]]) -> Pairing:
    """(new, resolved, severity changed) by rule, endpoints and masked card: the match for files without ids."""
    b = {finding_key(f): f for f in sorted(base, key=_order, reverse=True)}  # worst copy wins
    c = {finding_key(f): f for f in sorted(cur, key=_order, reverse=True)}
    new = [f for k, f in c.items() if k not in b]
    resolved = [f for k, f in b.items() if k not in c]
    return new, resolved, [(b[k], f) for k, f in c.items() if k in b and b[k]["severity"] != f["severity"]]


def _pair_by_id(base: list[dict[str, Any]], cur: list[dict[str, Any]]) -> Pairing:
    """(new, resolved, severity changed) by finding id; of the rest, a finding on each side whose rule,
    endpoints and card agree but whose severity differs is one finding that changed (the id covers severity)."""
    b = {f["finding_id"]: f for f in base}
    c = {f["finding_id"]: f for f in cur}
    gone: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for i, f in b.items():
        if i not in c:
            gone.setdefault(finding_key(f), []).append(f)
    new, changed = [], []
    for i, f in c.items():
        if i in b:
            continue
        olds = [o for o in gone.get(finding_key(f), []) if o["severity"] != f["severity"]]
        if not olds:
            new.append(f)
            continue
        old = min(olds, key=_order)
        gone[finding_key(f)] = [o for o in gone[finding_key(f)] if o is not old]
        changed.append((old, f))
    return new, [f for fs in gone.values() for f in fs], changed


def _ids(findings: list[dict[str, Any]]) -> set[str] | None:
    """The findings' ids, or None when a finding lacks one (written before ids existed, or without a key)."""
    ids = [f.get("finding_id") for f in findings]
    if not ids or not all(isinstance(i, str) and i for i in ids):
        return None
    return {str(i) for i in ids}


def match_findings(base: list[dict[str, Any]], cur: list[dict[str, Any]]) -> tuple[Pairing, str, str | None]:
    """Pair the findings of two runs (see the module docstring): the pairing, "finding_id" or
    "rule-endpoints", and a one-line note when both sides carry ids that cannot be compared."""
    bi, ci = _ids(base), _ids(cur)
    if bi is None or ci is None:
        return _pair_by_key(base, cur), "rule-endpoints", None
    if bi & ci:  # one id in common: the same key made both (another key never gives the same id)
        return _pair_by_id(base, cur), "finding_id", None
    by_key = _pair_by_key(base, cur)
    same = len({finding_key(f) for f in base} & {finding_key(f) for f in cur})
    if not same:  # nothing in common either way: ids and endpoints say the same
        return _pair_by_id(base, cur), "finding_id", None
    return by_key, "rule-endpoints", (
        f"no finding id in common although {same} finding(s) agree in rule and endpoints: the runs used different "
        "keys (scan both with the same --key to match by id); matched by rule, endpoints and masked card")


def diff(base: Side, cur: Side) -> DiffResult:
    (new_f, resolved_f, changed_f), matched_by, note = match_findings(base.findings, cur.findings)
    new = [_clean(f) for f in new_f]
    resolved = [_clean(f) for f in resolved_f]
    changed = [(_clean(old), _clean(f)) for old, f in changed_f]
    use_inv = base.inventory is not None and cur.inventory is not None
    bd, cd = destinations(base, use_inv), destinations(cur, use_inv)
    return DiffResult(
        new=sorted(new, key=_order), resolved=sorted(resolved, key=_order),
        changed=sorted(changed, key=lambda p: _order(p[1])),
        new_destinations=[_clean(cd[k]) for k in sorted(cd, key=str) if k not in bd],
        gone_destinations=[_clean(bd[k]) for k in sorted(bd, key=str) if k not in cd],
        destinations_from="inventory" if use_inv else "findings",
        systems=system_changes(base.systems, cur.systems) if base.systems is not None and cur.systems is not None
        else [],
        matched_by=matched_by, note=note,
    )


def system_changes(base: list[dict[str, Any]], cur: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per host and product: a version that changed (an update, or a downgrade) or a product that appeared
    (the inventory of a scanned capture, or the summary record's `systems`; every string redacted)."""
    def versions(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, dict[str, Any]]]:
        out: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
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
            rec: dict[str, Any] = redact_record({k: row.get(k) for k in (
                "host", "role", "product", "name", "version", "protocol", "eol_status", "eol")})
            rec["change"] = "appeared" if before is None else "version-changed"
            if before is not None:
                rec["was"] = [redact(v) for v in sorted(before)]
            out.append(rec)
    return out


def result_records(r: DiffResult, now: str | None = None) -> list[dict[str, object]]:
    """The diff as JSON Lines records (schema `diff`): `timestamp` (the finding's, else `now`: when the
    diff ran), `event_type: diff`, a `diff` field saying what changed, then the finding, destination
    or system. The run context of the compared files (site, sensor, run id) is not carried over."""
    ts = now or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    dropped = ("timestamp", "event_type", "update", "site", "sensor", "run_id")

    def rec(kind: str, body: Record | dict[str, Any], **extra: object) -> dict[str, object]:
        when = body.get("timestamp") if isinstance(body.get("timestamp"), str) else ts
        return {"timestamp": when, "event_type": "diff", "diff": kind, **extra,
                **{k: v for k, v in body.items() if k not in dropped}}

    out: list[dict[str, object]] = []
    out += [rec("new-finding", f) for f in r.new]
    out += [rec("severity-changed", f, was=old["severity"]) for old, f in r.changed]
    out += [rec("resolved-finding", f) for f in r.resolved]
    out += [rec("new-destination", d, **{"from": r.destinations_from}) for d in r.new_destinations]
    out += [rec("gone-destination", d, **{"from": r.destinations_from}) for d in r.gone_destinations]
    out += [rec("system-" + str(s["change"]), {k: v for k, v in s.items() if k != "change"}) for s in r.systems]
    return out


def worse(r: DiffResult, bar: str) -> bool:
    """A new finding, or one that got worse, at or above severity `bar`."""
    rank = SEVERITY_RANK[bar]
    def sev(f: Record) -> int:
        return SEVERITY_RANK[str(f["severity"])]

    return any(sev(f) <= rank for f in r.new) or any(sev(f) <= rank and sev(f) < sev(old) for old, f in r.changed)
