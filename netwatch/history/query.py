"""Reading the history: sites, a site's visits and findings with their state, the last two visits.

A site's visits are ordered by their time (first packet) and then by when they were written. A
finding (by its key-independent identity) is `open` when the site's last visit saw it, `recurring`
when the last visit saw it after a visit that did not, and `resolved` when the last visit did not.
`since` narrows the visits considered, as if the history began then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from netwatch.history import schema
from netwatch.history.store import HistoryError, HistoryStore
from netwatch.judge.rules import SEVERITIES, SEVERITY_RANK

OPEN, RESOLVED, RECURRING = "open", "resolved", "recurring"
DAY = 86400.0


@dataclass
class VisitRow:
    id: int
    run_id: str
    site: str
    sensor: str
    at: float
    first_seen: float | None
    last_seen: float | None
    recorded: float
    netwatch_version: str
    key_check: str | None
    interrupted: bool
    inputs: list[dict[str, Any]]
    summary: dict[str, Any]


@dataclass
class HistoryFinding:
    """One finding across a site's visits: its latest record, where it was seen, its state."""

    identity: str
    record: dict[str, Any]  # the latest visit's finding record
    seen_in: list[str] = field(default_factory=list)  # run ids, oldest first
    first_seen: float = 0.0
    last_seen: float = 0.0
    state: str = OPEN

    @property
    def severity(self) -> str:
        return str(self.record.get("severity", "info"))


def _visit(row: Any, site: str) -> VisitRow:
    return VisitRow(row.id, row.run_id, site, row.sensor, row.at, row.first_seen, row.last_seen, row.recorded,
                    row.netwatch_version, row.key_check, bool(row.interrupted), json.loads(row.inputs),
                    json.loads(row.summary))


def visits(conn: Connection, site: str, since: float | None = None) -> list[VisitRow]:
    v, s = schema.visits, schema.sites
    q = select(v).join(s, s.c.id == v.c.site_id).where(s.c.name == site)
    if since is not None:
        q = q.where(v.c.at >= since)
    return [_visit(r, site) for r in conn.execute(q.order_by(v.c.at, v.c.id))]


def state_of(seen: list[int], last: int) -> str:
    """From the indices (into the ordered visits) where a finding was seen and the last visit's index."""
    if not seen or seen[-1] != last:
        return RESOLVED
    return RECURRING if seen[-1] - seen[0] + 1 != len(seen) else OPEN


def site_findings(conn: Connection, site: str, since: float | None = None
                  ) -> tuple[list[VisitRow], list[HistoryFinding]]:
    """The site's visits (oldest first) and every finding seen in them, worst and open first."""
    vs = visits(conn, site, since)
    if not vs:
        return vs, []
    index = {v.id: i for i, v in enumerate(vs)}
    f = schema.findings
    rows = conn.execute(select(f.c.visit_id, f.c.identity, f.c.first_seen, f.c.last_seen, f.c.record)
                        .where(f.c.visit_id.in_(list(index))).order_by(f.c.visit_id, f.c.id))
    out: dict[str, HistoryFinding] = {}
    seen: dict[str, list[int]] = {}
    for r in sorted(rows, key=lambda r: index[r.visit_id]):
        i = index[r.visit_id]
        h = out.get(r.identity)
        if h is None:
            h = out[r.identity] = HistoryFinding(r.identity, json.loads(r.record), first_seen=r.first_seen,
                                                 last_seen=r.last_seen)
        elif seen[r.identity][-1] != i:  # a later visit: its copy is the current one
            h.record = json.loads(r.record)
        else:  # the same identity twice in one visit (differs only in severity): keep the worse
            rec = json.loads(r.record)
            if SEVERITY_RANK.get(rec.get("severity"), 9) < SEVERITY_RANK.get(h.severity, 9):
                h.record = rec
        h.first_seen, h.last_seen = min(h.first_seen, r.first_seen), max(h.last_seen, r.last_seen)
        ids = seen.setdefault(r.identity, [])
        if not ids or ids[-1] != i:
            ids.append(i)
            h.seen_in.append(vs[i].run_id)
    for key, h in out.items():
        h.state = state_of(seen[key], len(vs) - 1)
    order = {OPEN: 0, RECURRING: 0, RESOLVED: 1}
    return vs, sorted(out.values(), key=lambda h: (order[h.state], SEVERITY_RANK.get(h.severity, 9),
                                                   str(h.record.get("rule")), h.first_seen))


def sites(conn: Connection) -> list[dict[str, Any]]:
    """Each site: visits, first and last visit, open findings (those of its last visit) by severity."""
    v, s, f = schema.visits, schema.sites, schema.findings
    out: dict[str, dict[str, Any]] = {}
    for r in conn.execute(select(s.c.name, func.count(v.c.id), func.min(v.c.at), func.max(v.c.at))
                          .join(v, v.c.site_id == s.c.id).group_by(s.c.name).order_by(s.c.name)):
        out[r[0]] = {"site": r[0], "visits": int(r[1]), "first_visit": r[2], "last_visit": r[3],
                     "open": {sev: 0 for sev in SEVERITIES}}
    rank = func.row_number().over(partition_by=v.c.site_id, order_by=(v.c.at.desc(), v.c.id.desc())).label("n")
    latest = select(v.c.id, v.c.site_id, v.c.run_id, rank).subquery()
    q = (select(s.c.name, f.c.severity, func.count(func.distinct(f.c.identity)))
         .join(latest, latest.c.site_id == s.c.id).join(f, f.c.visit_id == latest.c.id)
         .where(latest.c.n == 1).group_by(s.c.name, f.c.severity))
    for name, sev, n in conn.execute(q):
        if name in out and sev in out[name]["open"]:
            out[name]["open"][sev] = int(n)
    for r in conn.execute(select(s.c.name, latest.c.run_id).join(latest, latest.c.site_id == s.c.id)
                          .where(latest.c.n == 1)):
        if r[0] in out:
            out[r[0]]["last_run_id"] = r[1]
    return list(out.values())


def visit_sides(conn: Connection, vs: list[VisitRow]) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                        list[dict[str, Any]]]]:
    """(findings, destinations, systems) records of each visit, for `diff`."""
    out = []
    for visit in vs:
        parts = []
        for table in (schema.findings, schema.destinations, schema.systems):
            rows = conn.execute(select(table.c.record).where(table.c.visit_id == visit.id).order_by(table.c.id))
            parts.append([json.loads(r[0]) for r in rows])
        out.append((parts[0], parts[1], parts[2]))
    return out


def category_trend(conn: Connection, vs: list[VisitRow]) -> dict[str, list[int]]:
    """Findings per category at each visit (oldest first); categories never seen are left out."""
    f = schema.findings
    index = {v.id: i for i, v in enumerate(vs)}
    out: dict[str, list[int]] = {}
    if not vs:
        return out
    q = (select(f.c.visit_id, f.c.category, func.count(func.distinct(f.c.identity)))
         .where(f.c.visit_id.in_(list(index))).group_by(f.c.visit_id, f.c.category))
    for visit_id, category, n in conn.execute(q):
        out.setdefault(category, [0] * len(vs))[index[visit_id]] = int(n)
    return dict(sorted(out.items()))


def open_history(store: HistoryStore, site: str, since: float | None = None
                 ) -> tuple[list[VisitRow], list[HistoryFinding], dict[str, list[int]]]:
    """Visits, findings with state, and the category trend of a site, in one read transaction."""
    with store.read() as conn:
        vs, hf = site_findings(conn, site, since)
        return vs, hf, category_trend(conn, vs)


def require_site(store: HistoryStore, site: str) -> None:
    with store.read() as conn:
        known = [r[0] for r in conn.execute(select(schema.sites.c.name).order_by(schema.sites.c.name))]
    if site not in known:
        hint = f" (known: {', '.join(known[:8])}{', …' if len(known) > 8 else ''})" if known else " (it is empty)"
        raise HistoryError(f"history {store.name}: no site {site!r}{hint}")
