"""The store owner's report: one self-contained HTML page (no outside resource, prints to PDF).

The first screen answers "is my shop safe?": a one-sentence verdict, the three things to fix, which
devices and which destinations. Below: charts (inline SVG from pygal), the destinations with their
policy verdict, cards per device, the captures, and every problem. The page is a Jinja2 template
with autoescape on, so every packet-derived string is HTML-escaped where it is placed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from netwatch.findings.aggregate import Finding
from netwatch.findings.destinations import merge_inventory, unlisted
from netwatch.flows.tcp import loss_notes
from netwatch.judge.pci import NOT_A_VERDICT, builtin_table, pci_view
from netwatch.judge.rules import SEVERITIES, SEVERITY_RANK
from netwatch.packets.addresses import DEFAULT_SITE
from netwatch.pipeline.session import SourceReport
from netwatch.redaction.text import escape_controls
from netwatch.report import charts
from netwatch.report.records import (
    card_counts,
    card_hosts,
    destination_record,
    destinations_more,
    is_destination,
    systems_records,
)
from netwatch.report.text import endpoint, utc

TEMPLATES = Path(__file__).with_name("templates")
FIX = {  # the fix in plain words, per category; {devices} and {dests} are filled from the findings
    "card-data": "Stop card numbers travelling unencrypted from {devices} to {dests}: ask the payment software's "
                 "vendor to turn on TLS (or route it through the payment VPN).",
    "exfiltration": "Treat {devices} as compromised: card data is leaving for {dests}. Take it off the network "
                    "and call your payment provider.",
    "cleartext": "Turn on encryption (TLS or a VPN) for the traffic from {devices} to {dests}.",
    "weak-tls": "Update the encryption settings of {dests} (or the software on {devices} that talks to it): "
                "it uses outdated or weak TLS.",
    "credentials": "Change the passwords that {devices} sent in the clear to {dests}, and switch those logins "
                   "to an encrypted protocol.",
    "remote-access": "Close remote-control access between {devices} and {dests}, or allow it only through the "
                     "store's VPN when someone needs it.",
    "destination": "Find out why {devices} talk to {dests}, which is not on the approved list, and block it at "
                   "the router if it is not needed.",
    "outdated": "Update or replace the out-of-date software on {devices} (talking to {dests}): it no longer gets "
                "security fixes.",
}
WHAT = {
    "card-data": "Card numbers were readable on the network.",
    "exfiltration": "Card data appears to be leaving the store in a hidden way.",
    "cleartext": "Some traffic is not encrypted.",
    "weak-tls": "Some encryption is outdated or weak.",
    "credentials": "Passwords were sent without encryption.",
    "remote-access": "Remote-control tools reach store computers.",
    "destination": "Store computers talk to places that are not on the approved list.",
    "outdated": "Some computers run software that no longer gets security updates.",
}
EOL_ORDER = {"backdoored": 0, "end-of-life": 1, "supported": 2, "not listed": 3, "unknown": 4}


def _visible(value: Any) -> Any:
    """Every value a template prints: control characters made visible (autoescape does the HTML)."""
    return escape_controls(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def _when(ts: float | None) -> str:
    return utc(ts) if ts else "-"


def _span(seconds: float) -> str:
    """A duration a person reads at a glance: 7.2 s, 21 min, 5.3 h, 830 days."""
    s = abs(seconds)
    text = (f"{s:.1f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h" if s < 172800
            else f"{s / 86400:,.0f} days")
    return ("-" if seconds < 0 else "") + text


def _few(items: list[str], n: int = 3) -> str:
    items = list(dict.fromkeys(i for i in items if i))
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more if items else "unknown hosts"


def verdict(findings: list[Finding], cards: list[dict[str, Any]], n_inputs: int) -> tuple[str, str]:
    """(level, sentence): `exposed` when card data was seen, `attention` for any medium-or-worse
    problem, else `safe`."""
    where = "this capture" if n_inputs == 1 else f"these {n_inputs} captures"
    if any(f.category in ("card-data", "exfiltration") for f in findings):
        per_host = card_counts(findings)[1]  # distinct by fingerprint: a card two hosts sent counts once
        n = len(set().union(*per_host.values()))
        devices = len(cards) or len({f.src for f in findings if f.category in ("card-data", "exfiltration")})
        what = f"{n} distinct card{'s' if n != 1 else ''}" if n else "card data"
        return "exposed", (f"Card data exposed: {what} travelled unprotected from {devices} "
                           f"device{'s' if devices != 1 else ''} in {where}.")
    serious = [f for f in findings if SEVERITY_RANK[f.severity] <= SEVERITY_RANK["medium"]]
    if serious:
        return "attention", (f"Needs attention: no card data in the clear, but {len(serious)} problem"
                             f"{'s' if len(serious) != 1 else ''} to fix in {where}; the most serious: "
                             f"{serious[0].title.lower()}.")
    extra = f" ({len(findings)} minor note{'s' if len(findings) != 1 else ''})" if findings else ""
    return "safe", f"Safe: no card data and no serious problem seen in {where}{extra}."


def top_fixes(findings: list[Finding], names: dict[str, str], n: int = 3) -> list[dict[str, Any]]:
    """The `n` most important things to do: one per rule, worst severity and most occurrences first."""
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f)
    ranked = sorted(by_rule.values(), key=lambda fs: (min(f.rank for f in fs), -sum(f.count for f in fs), fs[0].rule))
    out = []
    for fs in ranked[:n]:
        worst = min(fs, key=lambda f: f.rank)
        devices = _few([_named(f.src, names) for f in fs])
        dests = _few([_named(endpoint(f.dst, f.dport), names, f.server_name) for f in fs])
        text = FIX.get(worst.category, "{devices} → {dests}: " + worst.remediation)
        out.append({"severity": worst.severity, "title": worst.title, "rule": worst.rule,
                    "text": text.format(devices=devices, dests=dests), "detail": worst.remediation,
                    "count": len(fs)})
    return out


def _named(addr: str | None, names: dict[str, str], server_name: str | None = None) -> str:
    if not addr:
        return ""
    host = addr.rsplit(":", 1)[0].strip("[]") if ("]:" in addr or addr.count(":") == 1) else addr
    name = server_name or names.get(host)
    return f"{addr} ({name})" if name else addr


def device_table(findings: list[Finding], inventory: list[dict[str, Any]], cards: list[dict[str, Any]],
                 policy: Any, names: dict[str, str]) -> list[dict[str, Any]]:
    """Store devices: every client in the inventory or in a finding, with its worst problem and cards."""
    hosts: dict[str, dict[str, Any]] = {}
    for row in inventory:
        for c in row.get("clients") or []:
            h = hosts.setdefault(c, {"ip": c, "findings": 0, "worst": None, "destinations": 0, "cards": 0})
            h["destinations"] += 1
    for f in findings:
        if not f.src:
            continue
        h = hosts.setdefault(f.src, {"ip": f.src, "findings": 0, "worst": None, "destinations": 0, "cards": 0})
        h["findings"] += 1
        if h["worst"] is None or SEVERITY_RANK[f.severity] < SEVERITY_RANK[h["worst"]]:
            h["worst"] = f.severity
    for c in cards:
        if c["host"] in hosts:
            hosts[c["host"]]["cards"] = c["cards"]
    for h in hosts.values():
        h["name"] = names.get(h["ip"], "")
        h["role"] = _role(h["ip"], policy)
    return sorted(hosts.values(), key=lambda h: (SEVERITY_RANK.get(h["worst"] or "", 9), -h["findings"], h["ip"]))


def _role(ip: str, policy: Any) -> str:
    if policy is not None and policy.is_pos(ip):
        return "POS host"
    where = (policy.networks() if policy is not None else DEFAULT_SITE).scope(ip)
    return "internet host" if where == "public" else "store device" if where == "internal" else ""


def concern(d: dict[str, Any]) -> tuple[int, bool, int]:
    """Destinations most worth a look first: not allowed, then cleartext, then by volume."""
    return ({"denied": 0, "mixed": 1}.get(d.get("policy") or "", 2), d.get("protection") != "cleartext",
            -(d.get("bytes") or 0))


def grouped_problems(findings: list[Finding]) -> list[dict[str, Any]]:
    """Each problem once, with the captures it was seen in (several inputs)."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for f in findings:
        key = (f.rule, f.severity, f.src, f.dst, f.dport, f.proto, f.evidence.get("masked"), f.message)
        g = groups.setdefault(key, {"f": f, "sources": [], "count": 0})
        g["count"] += f.count
        if f.source not in g["sources"]:
            g["sources"].append(f.source)
    return list(groups.values())


def names_from_inventory(inventory: list[dict[str, Any]]) -> dict[str, str]:
    """Address → the first name DNS, SNI or Host gave it (devices and destinations alike)."""
    out: dict[str, str] = {}
    for row in inventory:
        if row.get("names") and row["dst"] not in out:
            out[row["dst"]] = row["names"][0]
    return out


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True, finalize=_visible)
    env.filters["when"] = _when
    env.filters["notes"] = capture_notes
    env.filters["span"] = _span
    env.filters["endpoint"] = endpoint
    env.filters["basename"] = lambda p: Path(str(p)).name
    env.filters["num"] = lambda n: f"{n:,}" if isinstance(n, int) else ("" if n is None else n)
    return env


def capture_notes(r: SourceReport) -> list[str]:
    """What a person should know about one capture: errors, where it broke, what bounds dropped."""
    notes = [x for x in (r.error, r.problem, "interrupted: partial results" if r.interrupted else None) if x]
    if r.inventory_rest is not None and r.inventory_rest.folded:
        n, _exact = unlisted(r.inventory, r.inventory_rest)
        notes.append(f"{len(r.inventory):,} destinations kept and about {n:,} more counted only "
                     f"({r.inventory_rest.flows:,} connections, {r.inventory_rest.nbytes:,} bytes)")
    return notes + loss_notes(r.losses, r.flows_cut)


def _history(history: dict[str, Any] | None) -> dict[str, Any] | None:
    if history is None:
        return None
    return {**history, "trend": Markup(history["trend"]) if history.get("trend") else None}  # pygal-escaped SVG


def stopped_note(reports: list[SourceReport]) -> str:
    """What the page must say first when the scan was stopped (Ctrl-C, SIGTERM), or ""."""
    if not any(r.interrupted for r in reports):
        return ""
    if not any(r.packets for r in reports):
        return "The scan was stopped before any packet was read: nothing was checked."
    return "The scan was stopped early: what follows covers only the traffic read until then."


def render_html(reports: list[SourceReport], findings: list[Finding], policy: Any = None,
                filters: dict[str, Any] | None = None, site: str = "", history: dict[str, Any] | None = None) -> str:
    """The page; `history` is `report.history.since_last_visit` of this run, when it was recorded."""
    inventory = merge_inventory(r.inventory for r in reports)
    names = names_from_inventory(inventory)
    cards = card_hosts(findings)
    level, sentence = verdict(findings, cards, len(reports))
    dests = [dict(destination_record(row), infra=row.get("infra")) for row in inventory if is_destination(row)]
    svg = {k: Markup(v) for k, v in (("severity", charts.severity_chart(findings)),
                                     ("share", charts.share_chart(inventory)),
                                     ("timeline", charts.timeline_chart(findings))) if v}  # pygal-escaped SVG
    ctx = {
        "level": level, "verdict": sentence, "fixes": top_fixes(findings, names),
        "devices": device_table(findings, inventory, cards, policy, names), "destinations": dests,
        "judged": any(d.get("policy") for d in dests), "cards": cards, "charts": svg,
        "worrying": sorted(dests, key=concern), "more_destinations": destinations_more(reports, inventory),
        "reports": reports, "many": len(reports) > 1, "findings": findings,
        "systems": sorted(systems_records(reports), key=lambda e: (EOL_ORDER.get(e["eol_status"], 9), e["host"])),
        "problems": grouped_problems(findings), "counts": Counter(f.severity for f in findings),
        "severities": SEVERITIES, "colours": charts.COLOURS, "what": WHAT, "filters": filters or {},
        "packets": sum(r.packets for r in reports), "flows": sum(r.flows for r in reports),
        "site": site or getattr(policy, "site", "") or "",
        "history": _history(history), "pci": pci_view(findings), "pci_note": NOT_A_VERDICT,
        "pci_source": builtin_table()[0].source if builtin_table() else "",
        "stopped": stopped_note(reports),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "period": (_when(min((r.first_ts for r in reports if r.first_ts), default=None)),
                   _when(max((r.last_ts for r in reports if r.last_ts), default=None))),
    }
    return _environment().get_template("report.html.j2").render(**ctx)
