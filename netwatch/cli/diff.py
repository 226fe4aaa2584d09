"""`netwatch diff`: what changed between a baseline run and the current one (JSON Lines or captures)."""

from __future__ import annotations

import argparse
import sys

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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "diff", help="compare a baseline scan with the current one",
        description="Compare two runs: new, changed and resolved findings and new destinations. Each input is "
                    "JSON Lines from `netwatch scan --json` or a capture file (scanned now).")
    sp.add_argument("baseline", metavar="BASELINE", help="earlier scan: JSON Lines or capture file")
    sp.add_argument("current", metavar="CURRENT", help="current scan: JSON Lines or capture file")
    add_common(sp)
    sp.set_defaults(func=cmd_diff)


def cmd_diff(args: argparse.Namespace) -> int:
    from netwatch.cli.common import load_judgement
    from netwatch.pipeline.runner import ScanConfig, run_local
    from netwatch.report.changes import DiffError, Side, diff, is_capture, load_jsonl, result_records, worse
    from netwatch.report.diff import print_diff
    from netwatch.report.records import finding_record

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
    result = diff(base, cur)
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
