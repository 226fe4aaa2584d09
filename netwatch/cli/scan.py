"""`netwatch scan`: offline scan of capture files (or of standard input, `-`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

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
)
from netwatch.report.filters import FindingFilter, add_filter_args

if TYPE_CHECKING:
    from netwatch.findings import Finding
    from netwatch.scan import SourceReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("scan", help="scan pcap/pcapng files (also .gz) offline",
                        description="Scan capture files and report findings. '-' reads a capture from standard "
                                    "input (e.g. tcpdump -w - | netwatch scan -).")
    sp.add_argument("paths", nargs="+", metavar="PCAP", help="capture files or directories of them; '-' for stdin")
    add_common(sp)
    add_filter_args(sp)
    sp.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                    help="worker processes: files in parallel, or a single file of 64 MB or more split into N "
                         "flow-hash shards (default 0 = one per core, at most 4; 1 = a single process)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sp.add_argument("--html", metavar="FILE", help="also write a plain-language HTML report for the store owner")
    sp.set_defaults(func=cmd_scan)


def write_html(reports: list[SourceReport], findings: list[Finding], target: str, filters: dict[str, Any] | None = None,
               policy: object = None) -> None:
    from netwatch.report.html import render_html

    try:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(render_html(reports, findings, policy=policy, filters=filters))
    except OSError as e:
        raise UsageError(f"cannot write HTML report {target}: {e.strerror}") from None


def write_outputs(args: argparse.Namespace, reports: list[SourceReport], findings: list[Finding], interrupted: bool,
                  console: Console, policy: object = None) -> None:
    """Console summary, JSON Lines (findings then the summary record) and HTML, for scan and live.

    A closed standard output (`netwatch scan x | head`) ends the console or JSON output quietly;
    the exit code still follows the findings."""
    from netwatch.report.console import print_summary
    from netwatch.report.jsonl import JsonlWriter, OutputError
    from netwatch.report.records import finding_record, summary_record

    filters = FindingFilter.from_args(args).describe() or None
    if not args.quiet:
        try:
            print_summary(console, reports, findings)
        except BrokenPipeError:
            _silence_stdout()
    if args.json:
        try:
            out = JsonlWriter(args.json)
            out.write_all(finding_record(f) for f in findings)
            out.write(summary_record(reports, findings, interrupted, filters))
            out.close()
        except OutputError as e:
            raise UsageError(str(e)) from None
    if args.html:
        write_html(reports, findings, args.html, filters, policy)


def _silence_stdout() -> None:
    """The reader of standard output went away: send the rest (and Python's exit flush) nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@contextlib.contextmanager
def _term_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a scan like Ctrl-C: what was found so far and the summary record are still written."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _check_stdin(paths: list[str]) -> None:
    if paths.count("-") > 1:
        raise UsageError("'-' (standard input) can be given only once")
    if "-" in paths and sys.stdin.isatty():
        raise UsageError("'-' reads a capture from standard input, but that is a terminal; pipe one in "
                         "(e.g. tcpdump -w - | netwatch scan -)")


def cmd_scan(args: argparse.Namespace) -> int:
    from netwatch.scan import ScanConfig, all_findings, load_config, scan_files

    paths = expand_paths(args.paths)
    _check_stdin(paths)
    cfg = ScanConfig(rule_dirs=list(args.rules), policy_path=args.policy, fingerprint_key=fingerprint_key(args))
    loaded = load_config(cfg)  # bad rules or policy fail here, before any capture work
    jobs = args.jobs if args.jobs > 0 else min(4, os.cpu_count() or 1)
    if "-" in paths:
        jobs = 1  # standard input belongs to this process
    progress = Progress(not args.no_progress and not args.quiet, len(paths))
    try:
        with _term_as_interrupt():
            reports, interrupted = scan_files(paths, cfg, jobs=jobs, on_progress=progress.update, loaded=loaded)
    finally:
        progress.stop()
    errors = [r for r in reports if r.error]
    if errors and len(errors) == len(reports) and not interrupted:
        for r in errors:
            print(f"netwatch: {r.error}", file=sys.stderr)
        return EXIT_ERROR
    findings = FindingFilter.from_args(args).apply(all_findings(reports))
    console = Console(stderr=args.json == "-", highlight=False)
    write_outputs(args, reports, findings, interrupted, console, loaded[1])
    for r in errors:
        print(f"netwatch: {r.error}", file=sys.stderr)
    if interrupted:
        print("netwatch: interrupted; results above cover what was scanned so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    code = exit_code(findings, args.fail_on)
    if errors and code == EXIT_OK:
        return EXIT_ERROR
    return code
