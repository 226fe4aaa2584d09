"""`netwatch scan`: offline scan of capture files."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from rich.console import Console

from netwatch.cli.common import (
    EXIT_ERROR,
    EXIT_FAILED_INPUTS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Progress,
    UsageError,
    add_common,
    cap_jobs,
    check_writable,
    exit_code,
    expand_paths,
    fingerprint_key,
    jobs_count,
    sigterm_as_ctrl_c,
    write_json,
)

if TYPE_CHECKING:
    from netwatch.runner import RunResult  # noqa: F401 - also imported at run time


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("scan", help="scan pcap/pcapng files (also .gz) offline",
                        description="Scan capture files and report findings.")
    sp.add_argument("paths", nargs="+", metavar="PCAP", help="capture files or directories of them")
    add_common(sp)
    sp.add_argument("--jobs", "-j", type=jobs_count, default=0, metavar="N",
                    help="local Dask worker processes for several files, or for the flow-hash shards of one file of "
                         "256 MB or more (default 0: one per core, at most 4, started only when the input is 128 MB "
                         "or more; capped at the cores; 1: this process only)")
    sp.add_argument("--scheduler", metavar="ADDRESS", default=os.environ.get("NETWATCH_SCHEDULER") or None,
                    help="run the scan on an existing Dask cluster (e.g. tcp://10.0.0.5:8786; default "
                         "$NETWATCH_SCHEDULER); its workers must see the capture paths (a shared directory)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sp.add_argument("--html", metavar="FILE", help="also write a plain-language HTML report for the store owner")
    sp.set_defaults(func=cmd_scan)


def write_html(reports: list, findings: list, target: str) -> None:
    from netwatch.report.html import render_html

    try:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(render_html(reports, findings))
    except OSError as e:
        raise UsageError(f"cannot write HTML report {target}: {e.strerror}") from None


def cmd_scan(args: argparse.Namespace) -> int:
    with sigterm_as_ctrl_c():
        return _scan(args)


def _scan(args: argparse.Namespace) -> int:
    from netwatch.cluster import SchedulerError
    from netwatch.runner import RunResult, ScanConfig, deferred_signals, load_config, run

    paths, unreadable = expand_paths(args.paths)
    check_writable(args.json, "JSON output")
    check_writable(args.html, "HTML report")
    cfg = ScanConfig(rule_dirs=tuple(args.rules), policy_path=args.policy, fingerprint_key=fingerprint_key(args))
    load_config(cfg)  # bad rules or policy fail here, before any capture work
    progress = Progress(not args.no_progress and not args.quiet)
    try:
        result = run(paths, cfg, jobs=cap_jobs(args.jobs), scheduler=args.scheduler, auto=args.jobs <= 0,
                     on_progress=progress.update, on_plan=progress.plan)
    except SchedulerError as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt:  # before any scan began: the outputs are still written, empty
        result = RunResult(reports=[], interrupted=True)
    finally:
        progress.stop()
    with deferred_signals() as stop:  # a second Ctrl-C must not cut the outputs short
        code = _report(args, result, unreadable)
    return EXIT_INTERRUPTED if stop else code


def _report(args: argparse.Namespace, result: RunResult, unreadable: list[tuple[str, str]]) -> int:
    """Summary, JSON Lines and HTML of what the run found; the exit code."""
    from netwatch.report.console import print_summary
    from netwatch.scan import SourceReport, all_findings

    reports = ([SourceReport(source=d, error=msg) for d, msg in unreadable] + result.reports
               + [SourceReport(source=p, error=f"{p}: not scanned: {why}") for p, why in result.failed.items()])
    interrupted = result.interrupted
    errors = [r for r in reports if r.error]
    if errors and len(errors) == len(reports) and not interrupted and not result.failed:
        for r in errors:
            print(f"netwatch: {r.error}", file=sys.stderr)
        return EXIT_ERROR
    findings = all_findings(reports)
    console = Console(stderr=args.json == "-", highlight=False)
    if not args.quiet:
        print_summary(console, reports, findings)
    write_json(findings, args.json)
    if args.html:
        write_html(reports, findings, args.html)
    for r in errors:
        print(f"netwatch: {r.error}", file=sys.stderr)
    if interrupted:
        print("netwatch: interrupted; results above cover what was scanned so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    code = exit_code(findings, args.fail_on)
    if result.failed:
        return code | EXIT_FAILED_INPUTS
    if errors and len(errors) == len(reports):
        return EXIT_ERROR
    if errors and code == EXIT_OK:
        return EXIT_ERROR
    return code


