"""`netwatch history`: the sites in the history, or one site's visits and findings (open, resolved, recurring)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from rich.console import Console

from netwatch.cli.common import EXIT_OK, UsageError
from netwatch.cli.recording import add_history_option, history_target


def _date(value: str) -> float:
    """--since: a date or an ISO date and time, UTC unless it says otherwise."""
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-30 (or 2026-11-30T08:00), not {value[:40]!r}"
                                         ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("history", help="sites and visits recorded with --history",
                        description="Without SITE (or with 'sites'): each site's visits, last visit and open findings "
                                    "by severity. With SITE: its visits and every finding with first and last seen, "
                                    "the visits it was seen in and its state (open, resolved, recurring).")
    sp.add_argument("site", nargs="?", default="sites", metavar="sites|SITE", help="'sites' (default) or a site name")
    sp.add_argument("--since", type=_date, metavar="DATE", help="only visits from DATE on (UTC), as if the history "
                                                                "began then")
    sp.add_argument("--json", metavar="FILE", help="write JSON Lines to FILE ('-' for stdout): 'visit' and "
                                                   "'history_finding' records (with SITE) or 'site' records")
    sp.add_argument("--quiet", "-q", action="store_true", help="no tables on the terminal")
    add_history_option(sp, records=False)
    sp.set_defaults(func=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    from netwatch.history.query import require_site, site_findings, sites
    from netwatch.history.store import HistoryError, HistoryStore
    from netwatch.report.history import finding_history_record, print_site, print_sites, site_record, visit_record

    console = Console(stderr=args.json == "-", highlight=False)
    try:
        store = HistoryStore(history_target(args.history))
        if args.site == "sites":
            with store.read() as conn:
                rows = sites(conn)
            if args.since is not None:
                rows = [r for r in rows if r["last_visit"] >= args.since]
            records = [site_record(r) for r in rows]
            if not args.quiet:
                print_sites(console, rows)
        else:
            require_site(store, args.site)
            with store.read() as conn:
                visits, findings = site_findings(conn, args.site, args.since)
            records = [visit_record(v) for v in visits] + [finding_history_record(args.site, h, visits)
                                                            for h in findings]
            if not args.quiet:
                print_site(console, args.site, visits, findings)
        store.close()
    except HistoryError as e:
        raise UsageError(str(e)) from None
    if args.json:
        _write_jsonl(args.json, records)
    return EXIT_OK


def _write_jsonl(target: str, records: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=True, separators=(", ", ": ")) + "\n" for r in records)
    if target == "-":
        sys.stdout.write(text)
        return
    try:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        raise UsageError(f"cannot write JSON output {target}: {e.strerror}") from None
