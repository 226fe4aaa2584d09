"""The terminal summary: capture stats, findings by severity, findings table, destinations."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from netwatch.findings.aggregate import Finding
from netwatch.findings.destinations import merge_inventory, merge_rest, unlisted
from netwatch.findings.systems import SystemEntry, merge_systems
from netwatch.flows.tcp import loss_notes
from netwatch.judge.rules import SEVERITIES
from netwatch.pipeline.session import SourceReport
from netwatch.report.fit import Col, fitted
from netwatch.report.records import UNKNOWN_HOST, card_counts
from netwatch.report.text import endpoint, joined, plural, safe, utc

SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan",
                  "info": "dim"}
EVIDENCE_SKIP = {"fingerprint", "bytes_to_server", "bytes_to_client"}


def _when(ts: float | None) -> str:
    return utc(ts)


def evidence_text(evidence: dict[str, Any], limit: int = 120) -> str:
    """Evidence as `key=value, …` for a table cell (lists joined, fingerprints and byte counts left out)."""
    parts = [f"{k}={', '.join(map(str, v)) if isinstance(v, list) else v}"
             for k, v in evidence.items() if k not in EVIDENCE_SKIP and v not in (None, "", [])]
    text = ", ".join(parts)
    if len(text) > limit:  # cut between words, never inside an address, name or masked card
        text = text[: text.rfind(" ", 0, limit - 1)].rstrip(",") + " …" if " " in text[:limit] else text[:limit] + "…"
    return safe(text, limit + 2)


def _evidence(f: Finding) -> str:
    return evidence_text(f.evidence)


def _notes(r: SourceReport) -> str:
    notes = []
    if r.error:
        notes.append(f"[red]{safe(r.error)}[/]")
    if r.problem:
        notes.append(f"[yellow]input broke off: {safe(r.problem)}[/]")
    if r.interrupted:
        notes.append("[yellow]interrupted: partial results[/]")
    errs = sum(v for k, v in r.decode_errors.items() if k != "ip datagrams reassembled")
    if errs:
        top = ", ".join(f"{safe(k)} {v}" for k, v in Counter(r.decode_errors).most_common(3))
        notes.append(f"decode errors {errs} ({top})")
    if r.unknown_linktypes:
        kinds = ", ".join(f"{safe(k)} ({v})" for k, v in r.unknown_linktypes.items())
        notes.append(f"unsupported link types: {kinds}")
    if r.tcp_gaps:
        notes.append(f"{r.tcp_gaps} bytes missing in TCP streams")
    notes += [f"[yellow]{safe(x, 300)}[/]" for x in loss_notes(r.losses, r.flows_cut)]
    return "; ".join(notes)


def screenful(console: Console) -> int:
    """Rows that fit on one screen beside a table's title, header and borders (at least 10)."""
    return max(10, console.size.height - 8)


def print_stats(console: Console, reports: list[SourceReport], limit: int | None = None) -> None:
    """One row per capture; past a screenful, captures with notes first, then a count of the rest."""
    limit = screenful(console) if limit is None else limit
    rows = [(r, _notes(r)) for r in reports]
    if len(rows) > limit:
        rows = sorted(rows, key=lambda rn: not rn[1])  # stable: inputs with problems first, else input order
    cols = [Col("source", wrap=True), Col("packets", justify="right"), Col("bytes", justify="right", drop=2),
            Col("flows", justify="right", drop=1), Col("duration", drop=3), Col("first packet", wrap=True, drop=4),
            Col("notes", wrap=True)]
    cells = [[safe(r.source), f"{r.packets:,}", f"{r.bytes:,}", f"{r.flows:,}", f"{r.duration:.1f}s",
              _when(r.first_ts), notes] for r, notes in rows[:limit]]
    rest = [r for r, _ in rows[limit:]]
    if rest:
        cells.append([f"[dim]… {plural(len(rest), 'more capture')}[/]", f"{sum(r.packets for r in rest):,}",
                      f"{sum(r.bytes for r in rest):,}", f"{sum(r.flows for r in rest):,}", "", "",
                      "[dim]no notes; every capture is in --json / --html[/]"])
    console.print(fitted(console, f"Captures ({len(reports)})" if len(reports) > 1 else "Capture", cols, cells))


ROWS_PER_CATEGORY = 20  # the terminal is for reading; every finding is in --json / --html


def print_findings(console: Console, findings: list[Finding], limit: int = ROWS_PER_CATEGORY,
                   sources: bool = False) -> None:
    by_sev = Counter(f.severity for f in findings)
    line = "  ".join(f"[{SEVERITY_STYLE[s]}]{s}: {by_sev.get(s, 0)}[/]" for s in SEVERITIES)
    console.print(f"\n[bold]Findings[/] {len(findings)}   {line}")
    if not findings:
        console.print("[green]No findings.[/]")
        return
    by_cat: dict[str, list[Finding]] = {}
    for f in findings:
        by_cat.setdefault(f.category, []).append(f)
    for cat, items in by_cat.items():
        cols = [Col("severity"), Col("rule"), Col("finding", wrap=True), *([Col("source", wrap=True, drop=1)]
                if sources else []), Col("count", justify="right", drop=2)]
        rows = []
        for f in items[:limit]:
            where = f"{safe(f.src)} → {safe(endpoint(f.dst, f.dport))}"
            if f.server_name:
                where += f" ({safe(f.server_name, 60)})"
            detail = safe(f.message, 200)
            ev = _evidence(f)
            app = f"  app={safe(f.app)}" if f.app else ""
            cells = [f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]", f.rule, f"{detail}\n[dim]{where}{app}  {ev}[/]"]
            rows.append([*cells, *([safe(Path(f.source).name, 60)] if sources else []), str(f.count)])
        console.print(fitted(console, cat, cols, rows))
        if len(items) > limit:
            console.print(f"[dim]… and {len(items) - limit} more {cat} findings (all in --json / --html)[/]")


POLICY_HINT = ("No site policy given: destinations are listed, not judged. Make one from a known-good capture "
               "with `netwatch learn CAPTURE -o policy.yaml --pos-hosts CIDR`, review it, then scan with "
               "`--policy policy.yaml`.")


def _policy_cell(row: dict[str, Any]) -> str:
    allowed, denied = row.get("allowed"), row.get("denied") or 0
    if allowed is None:
        return ""
    if denied:
        part = f" ({denied}/{plural(row['flows'], 'flow')})" if allowed else ""
        return f"[red]not allowed{part}[/]"
    return f"[green]{safe(', '.join(allowed), 40)}[/]"


def print_destinations(console: Console, reports: list[SourceReport], limit: int = 40) -> None:
    """Every destination (up to `limit`) with names, port, app, protection, clients, volume, policy verdict."""
    items = merge_inventory(r.inventory for r in reports)
    if not items:
        return
    judged = any(r.get("allowed") is not None for r in items)
    rest = merge_rest(r.inventory_rest for r in reports)
    unlisted_n, exact = unlisted(items, rest)
    total = f"{len(items) + unlisted_n:,}" if exact else f"about {len(items) + unlisted_n:,}"
    cols = [Col("destination"), Col("names", wrap=True, drop=2), Col("port"), Col("app", drop=1),
            Col("protected", wrap=True), Col("clients", wrap=True, drop=4), Col("flows", justify="right", drop=3),
            Col("bytes", justify="right", drop=5), *([Col("policy", wrap=True)] if judged else [])]
    rows = []
    for row in items[:limit]:
        enc = row["encrypted"]
        prot = (f"[green]yes ({safe(row['how'])})[/]" if enc else "[dim]infra[/]" if row["infra"]
                else "[red]no[/]" if enc is False else "[dim]unknown[/]")
        clients = row["clients"]
        more = f" +{len(clients) - 2}" if len(clients) > 2 else ""
        port = f"{row['proto']}/{row['dport']}" if row.get("dport") is not None else str(row["proto"])
        cells = [safe(row["dst"]), safe(joined(row["names"], 60), 80), port, safe(row["app"] or ""), prot,
                 safe(", ".join(clients[:2])) + more, str(row["flows"]), f"{row['bytes']:,}"]
        rows.append([*cells, *([_policy_cell(row)] if judged else [])])
    console.print(fitted(console, f"Destinations ({total})", cols, rows))
    if len(items) > limit and exact:
        console.print(f"[dim]… and {len(items) - limit} more destinations (`netwatch learn` writes every one "
                      "into a policy file)[/]")
    elif not exact:
        console.print(f"[dim]… and about {len(items) - min(limit, len(items)) + unlisted_n:,} more destinations; "
                      f"about {unlisted_n:,} of the smallest were not kept ({rest.flows:,} flows, {rest.nbytes:,} "
                      f"bytes), so `netwatch learn` lists only the {len(items):,} largest[/]")
    if not judged:
        console.print(f"[dim]{safe(POLICY_HINT, 400)}[/]")


def print_cards(console: Console, findings: list[Finding], limit: int = 20) -> None:
    """Distinct cards seen per flow and per host (counted by keyed fingerprint, never by number)."""
    per_flow, per_host = card_counts(findings)
    if not per_flow:
        return
    rows = []
    for host, fps in sorted(per_host.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]:
        flows = sorted(((k, len(v)) for k, v in per_flow.items() if (k[0] or UNKNOWN_HOST) == host),
                       key=lambda x: -x[1])
        cells = ", ".join(f"{safe(endpoint(k[1], k[2]))}/{safe(k[3])}: {n}" for k, n in flows[:6])
        more = f" +{len(flows) - 6} more" if len(flows) > 6 else ""
        rows.append([safe(host), str(len(fps)), cells + more])
    cols = [Col("host"), Col("cards", justify="right"), Col("flows (destination: cards)", wrap=True)]
    console.print(fitted(console, f"Cards in cleartext: {len(set().union(*per_host.values()))} distinct", cols, rows))


EOL_STYLE = {"backdoored": "bold white on red", "end-of-life": "bold red", "supported": "green", "unknown": "dim"}
EOL_ORDER = {"backdoored": 0, "end-of-life": 1, "supported": 2, "not listed": 3, "unknown": 4}


def _eol_cell(e: SystemEntry) -> str:
    text = e.eol_status + (f" ({e.eol})" if e.eol and e.eol_status != "supported" else
                           f" until {e.eol}" if e.eol else "")
    style = EOL_STYLE.get(e.eol_status)
    return f"[{style}]{safe(text, 40)}[/]" if style else safe(text, 40)


def print_systems(console: Console, reports: list[SourceReport], limit: int = 40) -> None:
    """Software and OS versions per host, as the wire showed them; end-of-life ones first."""
    inv = merge_systems([r.systems for r in reports])
    items = sorted(inv.results(), key=lambda e: (EOL_ORDER.get(e.eol_status, 9), e.host, e.product))
    if not items:
        return
    cols = [Col("host", wrap=True), Col("product", wrap=True), Col("version", wrap=True), Col("role", drop=2),
            Col("seen in", wrap=True, drop=1), Col("flows", justify="right", drop=3), Col("end of life", wrap=True)]
    rows = []
    for e in items[:limit]:
        names = inv.names.get(e.host)
        host = safe(e.host) + (f" ({safe(joined(list(names), 40), 80)})" if names else "")
        name = e.name if e.name != e.product else e.product
        rows.append([host, safe(name, 60), safe(e.version or "?", 32), e.role,
                     f"{safe(e.protocol, 30)} {safe(endpoint(e.dst, e.dport))}", str(e.count), _eol_cell(e)])
    console.print(fitted(console, f"Systems seen ({len(items)})", cols, rows))
    if len(items) > limit or inv.dropped:
        console.print(f"[dim]… {max(0, len(items) - limit)} more systems not shown"
                      + (f", {inv.dropped} not kept (inventory full)" if inv.dropped else "") + "[/]")


FIXES_SHOWN = 3


def first_sentence(text: str) -> str:
    """A remediation's first sentence: what to do, without the why."""
    text = " ".join(text.split())
    end = next((i for i in range(len(text) - 1) if text[i] == "." and text[i + 1] == " "), -1)
    return text[: end + 1] if end > 0 else text


def print_fixes(console: Console, findings: list[Finding], limit: int = FIXES_SHOWN) -> None:
    """What to fix first: the worst rules (then the most findings), one line each with the start of
    its remediation, cut at a word to the terminal's width."""
    from textwrap import shorten

    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f)
    ranked = sorted(by_rule.values(), key=lambda fs: (min(f.rank for f in fs), -len(fs), fs[0].rule))[:limit]
    if not ranked or not any(fs[0].remediation for fs in ranked):
        return
    console.print("\n[bold]Fix first[/]")
    for fs in ranked:
        worst = min(fs, key=lambda f: f.rank)
        head = f"{worst.severity} {worst.rule} ({plural(len(fs), 'finding')}): "
        room = max(20, console.width - len(head))
        line = shorten(first_sentence(worst.remediation or worst.title), room, placeholder=" …")
        styled = f"[{SEVERITY_STYLE[worst.severity]}]{worst.severity}[/]" + head[len(worst.severity):]
        console.print(styled + safe(line, room), overflow="ellipsis", no_wrap=True)


def print_summary(console: Console, reports: list[SourceReport], findings: list[Finding],
                  show_destinations: bool = True) -> None:
    """With one input: what was read, where it went, then what is wrong. With several, the findings
    come first (with the capture each was seen in), then the per-capture table."""
    many = len(reports) > 1
    if many:
        print_findings(console, findings, sources=True)
        print_cards(console, findings)
    print_stats(console, reports)
    if show_destinations:
        print_destinations(console, reports)
    print_systems(console, reports)
    if not many:
        print_cards(console, findings)
        print_findings(console, findings)
    print_fixes(console, findings)
    print_pci(console, findings)


def print_pci(console: Console, findings: list[Finding]) -> None:
    """The PCI DSS v4.0.1 requirements with findings against them, then those this traffic showed nothing
    against (one line), and that this is no compliance verdict."""
    from rich.table import Table

    from netwatch.judge.pci import NOT_A_VERDICT, pci_view

    view = pci_view(findings)
    hit = [p for p in view if p["count"]]
    if hit:
        t = Table(title="PCI DSS v4.0.1 requirements with findings against them", title_justify="left",
                  header_style="bold")
        for col in ("requirement", "what it asks", "findings", "rules"):
            t.add_column(col, overflow="fold")
        for p in hit:
            worst = str(p["worst"])
            t.add_row(str(p["id"]), str(p["title"]), f"[{SEVERITY_STYLE.get(worst, '')}]{p['count']}[/]",
                      ", ".join(map(str, p["rules"])))  # type: ignore[call-overload]
        console.print(t)
    quiet = [str(p["id"]) for p in view if not p["count"]]
    if quiet:
        console.print(f"Nothing seen against PCI DSS {', '.join(quiet)}.")
    console.print(f"[dim]{NOT_A_VERDICT}[/]")
