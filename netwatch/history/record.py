"""Writing a run into the history: one visit per site, all of a run's visits in one transaction.

The client writes (the CLI, after the reports are in); Dask workers never touch the history. The
site is --site or the policy's `site:`; without either, a capture's site is the name of the
directory it lies in (a fleet scan of /captures/STORE/*.pcap records one visit per store), and
standard input or a live interface is the site "default". Every finding of the run is recorded,
whatever `--category`/`--rule` showed, so that a filter does not make findings look resolved.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from netwatch import __version__
from netwatch.findings.aggregate import Finding, sort_findings
from netwatch.history import schema
from netwatch.history.identity import identity
from netwatch.history.store import HistoryStore
from netwatch.judge.pci import pci_view
from netwatch.judge.rules import SEVERITIES
from netwatch.pipeline.session import SourceReport
from netwatch.report.records import destination_record, finding_record, input_record, is_destination, systems_records

DEFAULT_SITE = "default"


@dataclass
class Visit:
    """One site's part of a run, ready to write."""

    site: str
    reports: list[SourceReport]
    findings: list[Finding]
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def key_check(key: bytes | None) -> str | None:
    """A keyed hash of a constant: visits with the same value used the same key (their card fingerprints
    compare); it tells nothing about the key. None for a random per-run key."""
    return hmac.new(key, b"netwatch history key check", hashlib.sha256).hexdigest()[:16] if key else None


def site_of(report: SourceReport) -> str:
    src = report.source
    if src == "-" or src.startswith("live:"):
        return DEFAULT_SITE
    return Path(src).resolve().parent.name or DEFAULT_SITE


def visits_of(reports: list[SourceReport], site: str, run_id: str | None = None) -> list[Visit]:
    """The run split by site: one visit when a site was given, else one per capture directory. With
    `run_id` (the one in the run's JSON records) a lone visit carries it, several `<run_id>.<n>`."""
    groups: dict[str, list[SourceReport]] = {}
    for r in reports:
        groups.setdefault(site or site_of(r), []).append(r)
    visits = [Visit(name, rs, sort_findings([f for r in rs for f in r.findings])) for name, rs in groups.items()]
    if run_id:
        for n, v in enumerate(visits, 1):
            v.run_id = run_id if len(visits) == 1 else f"{run_id}.{n}"
    return visits


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=False)


def _site_id(conn: Connection, name: str) -> int:
    """The site's row, created if new (two runs adding the same new site at once both succeed)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(schema.sites).values(name=name).on_conflict_do_nothing(index_elements=["name"]))
    return int(conn.execute(select(schema.sites.c.id).where(schema.sites.c.name == name)).scalar_one())


def _visit_row(v: Visit, sensor: str, key: bytes | None, interrupted: bool) -> dict[str, Any]:
    firsts = [r.first_ts for r in v.reports if r.first_ts is not None]
    lasts = [r.last_ts for r in v.reports if r.last_ts is not None]
    now = time.time()
    by_sev = {s: sum(1 for f in v.findings if f.severity == s) for s in SEVERITIES}
    per_input = {r.source: sum(1 for f in v.findings if f.source == r.source) for r in v.reports}
    summary = {"findings": {"total": len(v.findings), **by_sev},
               "stats": {"inputs": len(v.reports), "packets": sum(r.packets for r in v.reports),
                         "bytes": sum(r.bytes for r in v.reports), "flows": sum(r.flows for r in v.reports)},
               "pci": [{"id": p["id"], "findings": p["findings"]} for p in pci_view(v.findings)]}
    return {"run_id": v.run_id, "sensor": sensor, "at": min(firsts) if firsts else now,
            "first_seen": min(firsts) if firsts else None, "last_seen": max(lasts) if lasts else None,
            "recorded": now, "netwatch_version": __version__, "key_check": key_check(key),
            "interrupted": interrupted or any(r.interrupted for r in v.reports),
            "inputs": _dumps([input_record(r, per_input[r.source]) for r in v.reports]), "summary": _dumps(summary)}


def _finding_rows(visit_id: int, findings: list[Finding]) -> list[dict[str, Any]]:
    rows = []
    for f in findings:
        rec = finding_record(f)
        for k in ("evidence_file", "evidence_packets", "evidence_redaction"):
            rec.pop(k, None)
        rec["finding_id"] = f.finding_id
        rows.append({"visit_id": visit_id, "identity": identity(f), "finding_id": f.finding_id, "rule": f.rule,
                     "category": f.category, "severity": f.severity, "first_seen": f.first_seen,
                     "last_seen": f.last_seen, "count": f.count, "record": _dumps(rec)})
    return rows


def write_visits(store: HistoryStore, visits: list[Visit], sensor: str | None = None, key: bytes | None = None,
                 interrupted: bool = False) -> list[str]:
    """Record the run: every visit with its findings, destinations and systems, in one transaction
    (a killed process leaves all of it or none). Returns the run ids written."""
    sensor = sensor or socket.gethostname()
    with store.write() as conn:
        for v in visits:
            row = _visit_row(v, sensor, key, interrupted)
            row["site_id"] = _site_id(conn, v.site)
            visit_id = int(conn.execute(insert(schema.visits).values(**row).returning(schema.visits.c.id)).scalar_one())
            rows = _finding_rows(visit_id, v.findings)
            if rows:
                conn.execute(insert(schema.findings), rows)
            _write_inventory(conn, visit_id, v.reports)
    return [v.run_id for v in visits]


def _write_inventory(conn: Connection, visit_id: int, reports: list[SourceReport]) -> None:
    from netwatch.findings.destinations import merge_inventory

    dests = [destination_record(row) for row in merge_inventory(r.inventory for r in reports) if is_destination(row)]
    if dests:
        conn.execute(insert(schema.destinations), [
            {"visit_id": visit_id, "dst": d["dst"], "dport": d.get("dport"), "proto": d.get("proto"),
             "protection": d.get("protection"), "policy": d.get("policy"), "record": _dumps(d)} for d in dests])
    systems = systems_records(reports)
    if systems:
        conn.execute(insert(schema.systems), [
            {"visit_id": visit_id, "host": e["host"], "product": e["product"], "version": e.get("version"),
             "eol_status": e.get("eol_status"), "record": _dumps(e)} for e in systems])
