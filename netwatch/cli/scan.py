"""`netwatch scan`: offline scan of capture files."""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from netwatch.cli.common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Progress,
    UsageError,
    add_common,
    exit_code,
    expand_paths,
    fingerprint_key,
    write_json,
)


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("scan", help="scan pcap/pcapng files (also .gz) offline",
                        description="Scan capture files and report findings.")
    sp.add_argument("paths", nargs="+", metavar="PCAP", help="capture files or directories of them")
    add_common(sp)
    sp.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                    help="worker processes: files in parallel, or a single file of 64 MB or more split into N "
                         "flow-hash shards (default 0 = one per core, at most 4; 1 = a single process)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sp.add_argument("--html", metavar="FILE", help="also write a plain-language HTML report for the store owner")
    sp.add_argument("--evidence", metavar="DIR",
                    help="write one redacted capture per finding into DIR (card data and passwords overwritten)")
    sp.set_defaults(func=cmd_scan)


def write_html(reports: list, findings: list, target: str) -> None:
    from netwatch.report.html import render_html

    try:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(render_html(reports, findings))
    except OSError as e:
        raise UsageError(f"cannot write HTML report {target}: {e.strerror}") from None


def prepare_evidence_dir(target: str) -> None:
    """Create the evidence directory before any capture work, so a bad path fails first."""
    from pathlib import Path

    try:
        Path(target).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create evidence directory {target}: {e.strerror}") from None


def write_evidence_dir(reports: list, target: str) -> int:
    from pathlib import Path

    from netwatch.report.evidence import EvidenceOptions, evidence_for_reports

    try:
        return evidence_for_reports(reports, EvidenceOptions(Path(target)))
    except OSError as e:
        raise UsageError(f"cannot write evidence to {target}: {e.strerror}") from None


def cmd_scan(args: argparse.Namespace) -> int:
    from netwatch.report.console import print_summary
    from netwatch.scan import ScanConfig, all_findings, load_config, scan_files

    paths = expand_paths(args.paths)
    cfg = ScanConfig(rule_dirs=list(args.rules), policy_path=args.policy, fingerprint_key=fingerprint_key(args))
    loaded = load_config(cfg)  # bad rules or policy fail here, before any capture work
    if args.evidence:
        prepare_evidence_dir(args.evidence)
    jobs = args.jobs if args.jobs > 0 else min(4, os.cpu_count() or 1)
    progress = Progress(not args.no_progress and not args.quiet, len(paths))
    try:
        reports, interrupted = scan_files(paths, cfg, jobs=jobs, on_progress=progress.update, loaded=loaded)
    finally:
        progress.stop()
    errors = [r for r in reports if r.error]
    if errors and len(errors) == len(reports) and not interrupted:
        for r in errors:
            print(f"netwatch: {r.error}", file=sys.stderr)
        return EXIT_ERROR
    findings = all_findings(reports)
    if args.evidence:
        written = write_evidence_dir(reports, args.evidence)
        if not args.quiet:
            print(f"netwatch: {written} redacted evidence capture(s) written to {args.evidence}", file=sys.stderr)
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
    if errors and len(errors) == len(reports):
        return EXIT_ERROR
    code = exit_code(findings, args.fail_on)
    if errors and code == EXIT_OK:
        return EXIT_ERROR
    return code


