"""The EVE-style JSON Lines records: one `finding` per aggregated finding, one `destination` per
destination and one `system` per software/OS entry of the inventories, one `summary` at the end.

The schema is netwatch/report/schema/netwatch-eve-v2.json (README: field table and EVE/ECS
mapping). Records are plain dicts with fields in a stable order; every string in them was masked
and scrubbed before it got here (findings) or is an address, name or count (summary). The
inventories are records of their own, each a few hundred bytes, so no line nears a SIEM's line
limit (Splunk's default is 10,000 bytes; the summary with both inventories inside ran to 40-50 KB).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import ipaddress
from collections import Counter
from collections.abc import Iterable
from typing import Any

from netwatch import __version__
from netwatch.findings.aggregate import Finding
from netwatch.findings.destinations import merge_inventory, merge_rest, unlisted
from netwatch.findings.systems import SystemInventory, merge_systems
from netwatch.judge.pci import pci_view
from netwatch.judge.rules import SEVERITIES
from netwatch.pipeline.session import SourceReport
from netwatch.report.text import lost

SCHEMA_VERSION = 2
SCHEMA_ID = "https://netwatch.invalid/schema/netwatch-eve-v2.json"
IP_PROTO = {"tcp": 6, "udp": 17, "sctp": 132, "esp": 50, "gre": 47}
PORTED = (6, 17, 132)  # the protocols whose Community ID hashes the ports


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC with microseconds and a `Z`, as EVE's timestamp (`2023-11-14T22:13:20.040000Z`)."""
    if ts is None:
        return None
    try:  # a timestamp beyond the calendar (a damaged capture) has no ISO form; the epoch field keeps it
        return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (OverflowError, ValueError, OSError):
        return None


# findings and --log records of one flow share its tuple, its flow record often thousands of records
# later: 32k tuples (a few MB) are remembered
@functools.lru_cache(maxsize=1 << 15)
def community_id(proto: str | None, src: str | None, sport: int | None, dst: str | None,
                 dport: int | None) -> str | None:
    """Community ID v1 of the flow (as Zeek and Suricata compute it); None where it is undefined
    for what a finding holds (no addresses, or ICMP without its type and code).

    Computed here from the spec (seed 0: SHA-1 over seed, the addresses and ports of the smaller
    endpoint first, protocol, padding; base64): the `communityid` package took ~40 us a call, most
    of it ordering the tuple through `ipaddress` objects, and a finding lists every flow it covers.
    tests/test_report_jsonl.py checks it against that package. Cached: findings share flows."""
    num = IP_PROTO.get(proto or "")
    if num is None or not src or not dst:
        return None
    try:
        a, b = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
        if num in PORTED:
            if sport is None or dport is None:
                return None
            pa, pb = sport.to_bytes(2, "big"), dport.to_bytes(2, "big")
        else:
            pa = pb = b""
    except (ValueError, TypeError, OverflowError):
        return None
    if not (a < b or (a == b and pa < pb)):  # the smaller endpoint first, whichever side spoke
        a, b, pa, pb = b, a, pb, pa
    digest = hashlib.sha1(b"\0\0" + a + b + bytes((num, 0)) + pa + pb, usedforsecurity=False).digest()
    return "1:" + base64.b64encode(digest).decode()


def flow_id(proto: str | None, src: str | None, sport: int | None, dst: str | None, dport: int | None) -> int:
    """A stable id of the finding's (first) flow: its 5-tuple hashed, so every finding of one flow shares
    it and runs over the same capture agree (with several inputs, pair it with `source.name`).
    Kept under 2**53 so that JavaScript and jq read it exactly."""
    key = f"{proto}|{src}|{sport}|{dst}|{dport}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:6], "big")


def finding_record(f: Finding) -> dict[str, Any]:
    """The `finding` record: EVE's header fields first, then the finding's own contract fields."""
    body = f.to_json()
    rec: dict[str, Any] = {"timestamp": iso(f.first_seen), "event_type": "finding",
                           "flow_id": flow_id(f.proto, f.src, f.sport, f.dst, f.dport)}
    if f.finding_id:
        rec["finding_id"] = f.finding_id
    cid = community_id(f.proto, f.src, f.sport, f.dst, f.dport)
    if cid:
        rec["community_id"] = cid  # the first flow's
        ids = [c for c in (community_id(f.proto, f.src, p, f.dst, f.dport) for p in f.flow_sports) if c]
        rec["community_ids"] = list(dict.fromkeys([cid, *ids]))
        if f.flows_unlisted:
            rec["community_ids_more"] = f.flows_unlisted
    for k, v in body.items():
        if k == "source":
            continue
        rec[k] = v
        if k == "title":
            rec["message"] = f.message or f.title
    src: dict[str, Any] = {"name": f.source}
    if f.first_packet is not None:
        src["first_packet"] = f.first_packet
        src["last_packet"] = f.last_packet if f.last_packet is not None else f.first_packet
    rec["source"] = src
    return rec


def policy_verdict(row: dict[str, Any]) -> str | None:
    """`allowed`, `denied` or `mixed` (some flows allowed, some not); None without a policy."""
    allowed, denied = row.get("allowed"), row.get("denied") or 0
    if allowed is None:
        return None
    if not denied:
        return "allowed"
    return "mixed" if allowed else "denied"


def protection(row: dict[str, Any]) -> str:
    """How a destination's flows travel: `protected`, `cleartext`, `infrastructure` or `unknown`."""
    if row.get("encrypted"):
        return "protected"
    if row.get("infra"):
        return "infrastructure"
    return "cleartext" if row.get("encrypted") is False else "unknown"


def destination_record(row: dict[str, Any]) -> dict[str, Any]:
    out = {"dst": row["dst"], "dport": row["dport"], "proto": row["proto"], "app": row.get("app"),
           "names": list(row.get("names") or []), "protected": row.get("encrypted"),
           "protection": protection(row), "how": row.get("how"),
           "policy": policy_verdict(row), "allowed_by": row.get("allowed"),
           "denied_flows": row.get("denied"), "clients": list(row.get("clients") or []),
           "flows": row.get("flows", 0), "bytes": row.get("bytes", 0)}
    return {k: v for k, v in out.items() if v is not None or k in ("protected", "policy")}


def is_destination(row: dict[str, Any]) -> bool:
    return isinstance(row.get("dst"), str) and not row.get("more")


def destinations_more(reports: list[SourceReport], inventory: list[dict[str, Any]]) -> int:
    """About how many destinations the bounded inventories left out ("and about N more destinations");
    their flows and bytes are in the capture totals."""
    return unlisted(inventory, merge_rest(r.inventory_rest for r in reports))[0]


UNKNOWN_HOST = "unknown host"  # the sender of a finding without a source address


def card_counts(findings: Iterable[Finding]) -> tuple[dict[tuple[Any, ...], set[str]], dict[str, set[str]]]:
    """Distinct card fingerprints per flow (src, dst, dport, proto) and per sending host (high confidence)."""
    per_flow: dict[tuple[Any, ...], set[str]] = {}
    per_host: dict[str, set[str]] = {}
    for f in findings:
        fp = f.evidence.get("fingerprint") if f.category in ("card-data", "exfiltration") else None
        if not fp or f.evidence.get("confidence", "high") != "high":  # a possible card (NW-CARD-004) is not counted
            continue
        per_flow.setdefault((f.src, f.dst, f.dport, f.proto), set()).add(str(fp))
        per_host.setdefault(f.src or UNKNOWN_HOST, set()).add(str(fp))
    return per_flow, per_host


def card_hosts(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Distinct cards (by keyed fingerprint, never by number) per sending host and per flow; only
    senders with an address (a record names a host)."""
    per_flow, per_host = card_counts(findings)
    per_host.pop(UNKNOWN_HOST, None)
    out = []
    for host, fps in sorted(per_host.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        flows = [{"dst": k[1], "dport": k[2], "proto": k[3], "cards": len(v)}
                 for k, v in sorted(per_flow.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))) if k[0] == host]
        out.append({"host": host, "cards": len(fps), "flows": flows})
    return out


MAX_SUMMARY_CARD_HOSTS = 10  # senders the summary lists, most cards first (a SIEM cuts long lines: Splunk at
MAX_SUMMARY_CARD_FLOWS = 3  # 10,000 bytes); the findings name every flow, the HTML and console list them all


def summary_cards(findings: Iterable[Finding]) -> dict[str, Any]:
    """The summary's card table, bounded: `cards` (each host's `flows_more` past its listed flows) and
    `cards_more`, the senders left out."""
    hosts = card_hosts(findings)
    listed = []
    for h in hosts[:MAX_SUMMARY_CARD_HOSTS]:
        flows = h["flows"]
        more = {"flows_more": len(flows) - MAX_SUMMARY_CARD_FLOWS} if len(flows) > MAX_SUMMARY_CARD_FLOWS else {}
        listed.append({**h, "flows": flows[:MAX_SUMMARY_CARD_FLOWS], **more})
    left = len(hosts) - len(listed)
    return {"cards": listed, **({"cards_more": left} if left else {})}


def input_record(r: SourceReport, findings: int) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "name": r.source, "format": r.format or None, "packets": r.packets, "bytes": r.bytes, "flows": r.flows,
        "first_seen": r.first_ts, "last_seen": r.last_ts, "start": iso(r.first_ts), "end": iso(r.last_ts),
        "duration": round(r.duration, 6), "findings": findings, "decode_errors": dict(r.decode_errors),
        "unknown_linktypes": dict(r.unknown_linktypes), "tcp_gap_bytes": r.tcp_gaps,
        "tcp_conflicts": r.tcp_conflicts or None, "problem": r.problem,
        "interrupted": r.interrupted, "error": r.error,
    }
    if r.drops:  # live: what the capture lost before netwatch read it, by where
        rec["drops"] = dict(r.drops)
        rec["packets_lost"] = lost(r.drops)
    return {k: v for k, v in rec.items() if v is not None}


def systems_records(reports: list[SourceReport], inv: SystemInventory | None = None) -> list[dict[str, Any]]:
    """The software and OS inventory over every input (strings passed `redact` when inventoried);
    `inv`: that inventory already merged."""
    inv = merge_systems([r.systems for r in reports]) if inv is None else inv
    out = []
    for e in inv.results():
        row = e.to_json()
        names = inv.names.get(e.host)
        if names:
            row["host_names"] = list(names)
        out.append(row)
    return out


def run_time(reports: list[SourceReport]) -> str:
    """The time the run's closing records carry: the last packet's, else now."""
    last = max((r.last_ts for r in reports if r.last_ts is not None), default=None)
    return iso(last) or iso(dt.datetime.now(dt.UTC).timestamp()) or ""


def inventory_records(reports: list[SourceReport], findings: list[Finding],
                      systems: SystemInventory | None = None) -> list[dict[str, Any]]:
    """One `input` record per input, one `destination` record per destination and one `system`
    record per inventory entry (`systems`: the inputs' inventory already merged)."""
    ts = run_time(reports)
    per_input = Counter(f.source for f in findings)
    out = [{"timestamp": ts, "event_type": "input", **input_record(r, per_input.get(r.source, 0))} for r in reports]
    inventory = merge_inventory(r.inventory for r in reports)
    out += [{"timestamp": ts, "event_type": "destination", **destination_record(row)}
            for row in inventory if is_destination(row)]
    out += [{"timestamp": ts, "event_type": "system", **row} for row in systems_records(reports, systems)]
    return out


def closing_records(reports: list[SourceReport], findings: list[Finding], interrupted: bool = False,
                    filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """What follows the findings: the inventories' records, then the summary (always last)."""
    systems = merge_systems([r.systems for r in reports])  # once: merging copies every entry
    return [*inventory_records(reports, findings, systems), summary_record(reports, findings, interrupted, filters,
                                                                           systems)]


def summary_record(reports: list[SourceReport], findings: list[Finding], interrupted: bool = False,
                   filters: dict[str, Any] | None = None, systems: SystemInventory | None = None) -> dict[str, Any]:
    """The one `summary` record that closes a run (also after Ctrl-C): totals and cards; the inputs,
    destinations and systems are counted here and listed in records of their own."""
    by_sev = Counter(f.severity for f in findings)
    inventory = merge_inventory(r.inventory for r in reports)
    rec: dict[str, Any] = {
        "timestamp": run_time(reports), "event_type": "summary",
        "schema_version": SCHEMA_VERSION, "netwatch_version": __version__,
        "interrupted": interrupted or any(r.interrupted for r in reports),
        "stats": {"inputs": len(reports), "inputs_failed": sum(1 for r in reports if r.error),
                  "packets": sum(r.packets for r in reports), "bytes": sum(r.bytes for r in reports),
                  "flows": sum(r.flows for r in reports),
                  **({"packets_lost": sum(lost(r.drops) for r in reports)} if any(r.drops for r in reports) else {})},
        "findings": {"total": len(findings), **{s: by_sev.get(s, 0) for s in SEVERITIES}},
        "destinations_total": sum(1 for row in inventory if is_destination(row)),
        "systems_total": len((merge_systems([r.systems for r in reports]) if systems is None else systems).entries),
        **summary_cards(findings),
        **pci_summary(pci_view(findings)),
    }
    more = destinations_more(reports, inventory)
    if more:
        rec["destinations_more"] = more
    rec.update(log_summary(reports))
    if filters:
        rec["filters"] = filters
    return rec


def log_summary(reports: list[SourceReport]) -> dict[str, Any]:
    """The summary's `log` (metadata records written per type) and `log_omitted` (past the per-input
    bound), only when `--log` asked for records: a run without it keeps its summary as it was."""
    metas = [r.meta for r in reports if r.meta is not None]
    if not metas:
        return {}
    from netwatch.pipeline.metalog import LOG_KINDS

    counts: Counter[str] = Counter()
    for m in metas:
        counts.update(m.counts)
    asked = frozenset().union(*(m.kinds for m in metas))
    out: dict[str, Any] = {"log": {k: counts.get(k, 0) for k in LOG_KINDS if k in asked}}
    omitted = sum(m.omitted for m in metas)
    if omitted:
        out["log_omitted"] = omitted
    return out


PCI_IDS_LISTED = 2  # finding ids per requirement in the summary; `count` says how many (a SIEM line stays short)


def pci_summary(view: list[dict[str, Any]]) -> dict[str, Any]:
    """The PCI DSS view in the summary: `pci`, the requirements with findings against them (id,
    worst severity, how many findings, the first two finding ids), and `pci_nothing_seen`, the ids this
    traffic showed nothing against. Titles, rules and wording live in the table (rules/pci/), the
    console and the HTML; never a compliance verdict."""
    hit = [{"id": p["id"], "worst": p["worst"], "count": len(p["findings"]),
            "findings": list(p["findings"])[:PCI_IDS_LISTED]} for p in view if p["findings"]]
    return {"pci": hit, "pci_nothing_seen": [p["id"] for p in view if not p["findings"]]}
