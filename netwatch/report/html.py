"""A self-contained HTML report a store owner can read: what is wrong, how bad, what to do.

Every value is passed through html.escape; packet-derived strings never reach the page raw.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter

from netwatch.findings import Finding
from netwatch.inventory import unlisted
from netwatch.reassembly import loss_notes
from netwatch.rules import SEVERITIES
from netwatch.scan import SourceReport

COLOURS = {"critical": "#b00020", "high": "#d9480f", "medium": "#e6a700", "low": "#1971c2", "info": "#868e96"}
PLAIN = {
    "card-data": "Card numbers were visible on the network.",
    "exfiltration": "Card data appears to be leaving the store in a hidden way.",
    "cleartext": "Some traffic is not encrypted.",
    "weak-tls": "Some encryption is outdated or weak.",
    "credentials": "Passwords were sent without encryption.",
    "remote-access": "Remote-control tools reach store computers.",
    "destination": "Store computers talk to places that are not on the approved list.",
}
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
h1{margin-bottom:0}.sub{color:#666}table{border-collapse:collapse;width:100%;margin:1em 0}
td,th{border:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top;font-size:.92em}
th{background:#f4f4f4}.sev{color:#fff;padding:.1em .5em;border-radius:.3em;font-weight:600}
.box{border-left:.4em solid;padding:.2em 1em;margin:1em 0;background:#fafafa}code{font-size:.9em}"""


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _ts(t: float | None) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if t else "-"


def _sev(s: str) -> str:
    return f'<span class="sev" style="background:{COLOURS[s]}">{_e(s)}</span>'


def render_html(reports: list[SourceReport], findings: list[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    out = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        "<title>netwatch report</title>",
        f"<style>{STYLE}</style>",
        "<h1>Network check of the shop's payment systems</h1>",
        f'<p class="sub">{len(reports)} capture(s), {sum(r.packets for r in reports):,} packets, '
        f"{sum(r.flows for r in reports):,} connections. Card numbers are shown masked (first six and last "
        "four digits at most); passwords are never shown.</p>",
        "<p>" + " ".join(f"{_sev(s)} {counts.get(s, 0)}" for s in SEVERITIES) + "</p>",
    ]
    if not findings:
        out.append('<div class="box" style="border-color:#2b8a3e"><p>No problems found.</p></div>')
    by_cat: dict[str, list[Finding]] = {}
    for f in findings:
        by_cat.setdefault(f.category, []).append(f)
    for cat, items in by_cat.items():
        worst = items[0].severity
        out.append(f'<div class="box" style="border-color:{COLOURS[worst]}"><h2>{_e(PLAIN.get(cat, cat))}</h2>')
        fixes = list(dict.fromkeys(f.remediation for f in items if f.remediation))
        if fixes:
            out.append("<p><b>What to do:</b> " + "<br>".join(_e(x) for x in fixes) + "</p>")
        out.append("<table><tr><th>severity</th><th>what</th><th>from → to</th><th>seen</th><th>count</th></tr>")
        for f in items:
            dst = f"{_e(f.dst)}:{_e(f.dport)}" if f.dport else _e(f.dst)
            if f.server_name:
                dst += f" ({_e(f.server_name)})"
            refs = ", ".join(_e(r) for r in f.references)
            out.append(
                f"<tr><td>{_sev(f.severity)}</td><td>{_e(f.message)}<br><small><code>{_e(f.rule)}</code> "
                f"{refs}</small></td><td>{_e(f.src)} → {dst}</td><td>{_ts(f.first_seen)}</td>"
                f"<td>{f.count}</td></tr>"
            )
        out.append("</table></div>")
    out.append("<h2>Captures</h2><table><tr><th>file</th><th>packets</th><th>from</th><th>notes</th></tr>")
    for r in reports:
        more = None
        if r.inventory_rest is not None and r.inventory_rest.folded:
            n, _exact = unlisted(r.inventory, r.inventory_rest)
            more = (f"{len(r.inventory):,} destinations kept and about {n:,} more counted only "
                    f"({r.inventory_rest.flows:,} connections, {r.inventory_rest.nbytes:,} bytes)")
        notes = "; ".join(_e(x) for x in (r.error, r.problem, "interrupted" if r.interrupted else None, more,
                                          *loss_notes(r.losses, r.flows_cut)) if x)
        out.append(f"<tr><td>{_e(r.source)}</td><td>{r.packets:,}</td><td>{_ts(r.first_ts)}</td><td>{notes}</td></tr>")
    out.append("</table></html>\n")
    return "\n".join(out)
