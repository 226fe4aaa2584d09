"""The terminal view of `netwatch diff`: new, changed and resolved findings, new and gone destinations."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from netwatch.report.changes import DiffResult
from netwatch.report.console import SEVERITY_STYLE, evidence_text
from netwatch.report.text import endpoint, safe


def _endpoint(f: dict[str, Any]) -> str:
    dst = safe(endpoint(f.get("dst"), f.get("dport")))
    if f.get("server_name"):
        dst += f" ({safe(f['server_name'], 60)})"
    return f"{safe(f.get('src'))} → {dst}"


def _findings(console: Console, title: str, items: list[dict[str, Any]], was: list[str] | None = None) -> None:
    t = Table(title=f"{title} ({len(items)})", title_justify="left", header_style="bold")
    for col in ("severity", "rule", "title", "source → destination", "evidence", *(["was"] if was else [])):
        t.add_column(col, overflow="fold")
    for i, f in enumerate(items):
        sev = f.get("severity", "info")
        t.add_row(f"[{SEVERITY_STYLE.get(sev, '')}]{sev}[/]", safe(f.get("rule")), safe(f.get("title"), 80),
                  _endpoint(f), evidence_text(f.get("evidence") or {}, 100), *([was[i]] if was else []))
    console.print(t)


def _destinations(console: Console, title: str, items: list[dict[str, Any]]) -> None:
    t = Table(title=f"{title} ({len(items)})", title_justify="left", header_style="bold")
    for col in ("destination", "names", "proto/port", "app", "clients"):
        t.add_column(col, overflow="fold")
    for d in items:
        port = f"{d.get('proto')}/{d.get('dport')}" if d.get("dport") is not None else str(d.get("proto"))
        t.add_row(safe(d["dst"]), safe(", ".join(d.get("names") or []), 80), port,
                  safe(d.get("app")), safe(", ".join(d.get("clients") or []), 60))
    console.print(t)


def _systems(console: Console, items: list[dict[str, Any]]) -> None:
    t = Table(title=f"Systems new or changed ({len(items)})", title_justify="left", header_style="bold")
    for col in ("host", "product", "version", "was", "change", "end of life"):
        t.add_column(col, overflow="fold")
    for s in items:
        t.add_row(safe(s.get("host")), safe(s.get("name") or s.get("product"), 60), safe(s.get("version") or "?"),
                  safe(", ".join(s.get("was") or []), 60), s["change"], safe(s.get("eol_status")))
    console.print(t)


def print_diff(console: Console, r: DiffResult, base: str, cur: str) -> None:
    console.print(f"[bold]Changes[/] from {safe(base)} to {safe(cur)}: {len(r.new)} new, {len(r.changed)} changed, "
                  f"{len(r.resolved)} resolved findings; {len(r.new_destinations)} new destinations")
    if r.new:
        _findings(console, "New findings", r.new)
    if r.changed:
        _findings(console, "Severity changed", [c for _, c in r.changed], [str(o["severity"]) for o, _ in r.changed])
    if r.resolved:
        _findings(console, "Resolved findings", r.resolved)
    if r.new_destinations:
        _destinations(console, "New destinations", r.new_destinations)
    if r.gone_destinations:
        _destinations(console, "Destinations no longer seen", r.gone_destinations)
    if r.systems:
        _systems(console, r.systems)
    if r.destinations_from == "findings":
        console.print("[dim]Destinations compared from findings only (a JSON Lines input has no summary record, "
                      "so no inventory: re-run that scan with this version, or give the capture file).[/]")
    if not (r.new or r.changed or r.resolved or r.new_destinations or r.gone_destinations
            or r.systems):
        console.print("[green]No changes.[/]")
