"""`netwatch diff`: what changed between a baseline run and the current one (JSON Lines or captures)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from netwatch.cli.common import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    add_common,
    fingerprint_key,
    run_context,
)
from netwatch.cli.recording import add_history_option, history_target

if TYPE_CHECKING:
    from netwatch.report.changes import Side


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "diff", help="compare a baseline scan with the current one",
        description="Compare two runs: new, changed and resolved findings and new destinations. Each input is "
                    "JSON Lines from `netwatch scan --json` or a capture file (scanned now); with one argument, "
                    "a SITE of the history, whose last two visits are compared.")
    sp.add_argument("baseline", metavar="BASELINE|SITE", help="earlier scan: JSON Lines or capture file; or a site")
    sp.add_argument("current", metavar="CURRENT", nargs="?", help="current scan: JSON Lines or capture file")
    add_common(sp)
    add_history_option(sp, records=False)
    sp.set_defaults(func=cmd_diff)


def cmd_diff(args: argparse.Namespace) -> int:
    from netwatch.cli.common import load_judgement
    from netwatch.pipeline.runner import ScanConfig, run_local
    from netwatch.report.changes import DiffError, Side, is_capture, load_jsonl
    from netwatch.report.records import finding_record

    if args.current is None:
        return _show(args, *site_sides(args.history, args.baseline))
    try:
        kinds = [is_capture(p) for p in (args.baseline, args.current)]
        sides = [None if k else load_jsonl(p) for p, k in zip((args.baseline, args.current), kinds,
                                                                      strict=True)]
    except DiffError as e:
        raise UsageError(str(e)) from None
    captures = [p for p, k in zip((args.baseline, args.current), kinds, strict=True) if k]
    policy = None
    if captures:
        policy = load_judgement(args)[1]
        cfg = ScanConfig(rule_dirs=tuple(args.rules), policy_path=args.policy, fingerprint_key=fingerprint_key(args))
        ran = run_local(captures, cfg)
        reports, interrupted = ran.reports, ran.interrupted
        if interrupted:
            print("netwatch: interrupted; no diff", file=sys.stderr)
            return EXIT_INTERRUPTED
        for r in reports:
            if r.error:
                print(f"netwatch: {r.error}", file=sys.stderr)
                return EXIT_ERROR
        it = iter(reports)
        for i, k in enumerate(kinds):
            if k:
                r = next(it)
                sides[i] = Side(r.source, [finding_record(f) for f in r.findings], r.inventory,
                                r.systems.to_json()["systems"])
    base, cur = sides
    assert base is not None and cur is not None
    return _show(args, base, cur, policy)


def site_sides(history: str, site: str) -> tuple[Side, Side]:
    """The site's last two visits from the history, as diff's two sides."""
    from netwatch.history.query import require_site, visit_sides, visits
    from netwatch.history.store import HistoryError, HistoryStore
    from netwatch.report.changes import Side
    from netwatch.report.text import utc

    try:
        store = HistoryStore(history_target(history))
        require_site(store, site)
        with store.read() as conn:
            vs = visits(conn, site)[-2:]
            parts = visit_sides(conn, vs)
        store.close()
    except HistoryError as e:
        raise UsageError(str(e)) from None
    if len(vs) < 2:
        raise UsageError(f"site {site!r} has {len(vs)} visit in the history; diff needs two")
    return tuple(Side(f"{site} {utc(v.at, '%Y-%m-%d %H:%M')} ({v.run_id[:12]})", f, d, s)  # type: ignore[return-value]
                 for v, (f, d, s) in zip(vs, parts, strict=True))


def _show(args: argparse.Namespace, base: Side, cur: Side, policy: object = None) -> int:
    from netwatch.report.changes import diff, result_records, worse
    from netwatch.report.diff import print_diff

    result = diff(base, cur)
    if result.note:  # also under -q: it says what "new" and "resolved" were based on
        print(f"netwatch: {result.note}", file=sys.stderr)
    if not args.quiet:
        from rich.console import Console

        print_diff(Console(stderr=args.json == "-", highlight=False), result, base.label, cur.label)
    if args.json:
        from netwatch.report.jsonl import JsonlWriter, OutputError

        try:
            out = JsonlWriter(args.json, run_context(args, policy))
            out.write_all(result_records(result))
            out.close()
        except OutputError as e:
            raise UsageError(str(e)) from None
    if args.fail_on != "none" and worse(result, args.fail_on):
        return EXIT_FINDINGS
    return EXIT_OK
