"""The history for people and programs: JSON Lines records, console tables, the HTML's "since the last visit".

Records follow the EVE style of the scan's JSON Lines (`timestamp`, `event_type`): one `visit` per
visit, one `history_finding` per finding with its `state` and the `visits` it was seen in, one
`site` per site for `history sites`. Every string in them was masked before it was stored.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from netwatch.history.query import DAY, OPEN, RECURRING, RESOLVED, HistoryFinding, VisitRow, open_history
from netwatch.history.store import HistoryStore
from netwatch.judge.rules import SEVERITIES
from netwatch.report import charts
from netwatch.report.console import SEVERITY_STYLE
from netwatch.report.records import iso
from netwatch.report.text import safe, utc

STATE_STYLE = {OPEN: "bold", RECURRING: "bold magenta", RESOLVED: "green"}


def visit_record(v: VisitRow) -> dict[str, Any]:
    return {"timestamp": iso(v.at), "event_type": "visit", "site": v.site, "run_id": v.run_id, "sensor": v.sensor,
            "first_seen": v.first_seen, "last_seen": v.last_seen, "recorded": iso(v.recorded),
            "netwatch_version": v.netwatch_version, "interrupted": v.interrupted,
            "same_key_as": v.key_check, "inputs": [i.get("name") for i in v.inputs],
            "findings": v.summary.get("findings", {}), "pci": v.summary.get("pci", [])}


def finding_history_record(site: str, h: HistoryFinding, visits: list[VisitRow]) -> dict[str, Any]:
    rec = h.record
    keep = ("rule", "category", "severity", "title", "message", "src", "dst", "dport", "proto", "app", "server_name",
            "evidence", "finding_id")
    return {"timestamp": iso(h.last_seen), "event_type": "history_finding", "site": site, "identity": h.identity,
            **{k: rec[k] for k in keep if rec.get(k) is not None}, "state": h.state,
            "first_seen": h.first_seen, "last_seen": h.last_seen, "visits": len(h.seen_in),
            "visits_total": len(visits), "seen_in": list(h.seen_in)}


def site_record(row: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": iso(row["last_visit"]), "event_type": "site", "site": row["site"], "visits": row["visits"],
            "first_visit": iso(row["first_visit"]), "last_visit": iso(row["last_visit"]),
            "last_run_id": row.get("last_run_id"), "open": row["open"]}


def print_sites(console: Console, rows: list[dict[str, Any]]) -> None:
    t = Table(title=f"Sites ({len(rows)})", title_justify="left", header_style="bold")
    for col in ("site", "visits", "first visit", "last visit", *SEVERITIES):
        t.add_column(col, justify="right" if col in ("visits", *SEVERITIES) else "left")
    for r in rows:
        t.add_row(safe(r["site"], 60), str(r["visits"]), utc(r["first_visit"], "%Y-%m-%d"),
                  utc(r["last_visit"], "%Y-%m-%d %H:%M"), *(str(r["open"][s] or "") for s in SEVERITIES))
    console.print(t)
    console.print("Open findings per severity: those the site's last visit saw.")


def print_site(console: Console, site: str, visits: list[VisitRow], findings: list[HistoryFinding]) -> None:
    t = Table(title=f"Visits of {safe(site, 60)} ({len(visits)})", title_justify="left", header_style="bold")
    for col in ("#", "time (UTC)", "run", "sensor", "inputs", "findings"):
        t.add_column(col)
    for i, v in enumerate(visits, 1):
        t.add_row(str(i), utc(v.at, "%Y-%m-%d %H:%M"), v.run_id[:12], safe(v.sensor, 30), str(len(v.inputs)),
                  str(v.summary.get("findings", {}).get("total", 0)) + (" (interrupted)" if v.interrupted else ""))
    console.print(t)
    t = Table(title=f"Findings ({len(findings)})", title_justify="left", header_style="bold")
    for col in ("state", "severity", "rule", "what", "first seen", "last seen", "visits"):
        t.add_column(col, overflow="fold")
    for h in findings:
        r = h.record
        t.add_row(f"[{STATE_STYLE[h.state]}]{h.state}[/]", f"[{SEVERITY_STYLE.get(h.severity, '')}]{h.severity}[/]",
                  safe(r.get("rule")), safe(r.get("message") or r.get("title"), 160), utc(h.first_seen, "%Y-%m-%d"),
                  utc(h.last_seen, "%Y-%m-%d"), f"{len(h.seen_in)}/{len(visits)}")
    console.print(t)


def since_last_visit(store: HistoryStore, site: str, run_id: str) -> dict[str, Any] | None:
    """For the HTML report: this visit against the site's previous one (new, resolved, still open with
    days open) and the findings per category across all visits; None when the run is not in the history."""
    visits, findings, trend = open_history(store, site)
    at = next((i for i, v in enumerate(visits) if v.run_id == run_id), None)
    if at is None:
        return None
    cur = visits[at]
    prev = visits[at - 1] if at > 0 else None
    new, resolved, still = [], [], []
    for h in findings:
        here, before = cur.run_id in h.seen_in, prev is not None and prev.run_id in h.seen_in
        row = {"record": h.record, "state": h.state, "visits": len(h.seen_in), "first_seen": h.first_seen,
               "days": max(0.0, ((cur.last_seen or cur.at) - h.first_seen) / DAY)}
        if here and not before:
            new.append(row)
        elif before and not here:
            resolved.append(row)
        elif here:
            still.append(row)
    labels = [utc(v.at, "%Y-%m-%d") for v in visits]
    return {"site": site, "visits": len(visits), "number": at + 1, "previous": prev.at if prev else None,
            "new": new, "resolved": resolved, "still": still,
            "trend": charts.trend_chart(labels, trend) if len(visits) > 1 else None}
