"""`netwatch scan`: offline scan of capture files (or of standard input, `-`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from netwatch.cli.common import (
    DISTRIBUTION,
    EXIT_ERROR,
    EXIT_FAILED_INPUTS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Progress,
    UsageError,
    add_common,
    arm_interrupts,
    cap_jobs,
    check_writable,
    dask_installed,
    exit_code,
    expand_paths,
    fingerprint_key,
    jobs_count,
    load_judgement,
    logged,
    run_context,
    sigterm_as_ctrl_c,
    site_name,
)
from netwatch.cli.recording import add_history_option, record_run, report_recorded
from netwatch.report.filters import FindingFilter, add_filter_args

if TYPE_CHECKING:
    from rich.console import Console

    from netwatch.findings.aggregate import Finding
    from netwatch.pipeline.runner import RunResult
    from netwatch.pipeline.session import SourceReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("scan", help="scan pcap/pcapng files (also .gz) offline",
                        description="Scan capture files and report findings. '-' reads a capture from standard "
                                    "input (e.g. tcpdump -w - | netwatch scan -).")
    sp.add_argument("paths", nargs="+", metavar="PCAP", help="capture files or directories of them; '-' for stdin")
    add_common(sp)
    add_filter_args(sp)
    sp.add_argument("--jobs", "-j", type=jobs_count, default=0, metavar="N",
                    help="local Dask workers (N worker processes; this one runs the scheduler) for several files, "
                         "or for the flow-hash shards of one file of 256 MB or more (default 0: one per core, at "
                         "most 4, started only when the input is 64 MB or more; capped at the cores; 1: this "
                         "process only)")
    sp.add_argument("--scheduler", metavar="ADDRESS", default=os.environ.get("NETWATCH_SCHEDULER") or None,
                    help="run the scan on an existing Dask cluster (e.g. tcp://10.0.0.5:8786; default "
                         "$NETWATCH_SCHEDULER); its workers must see the capture paths (a shared directory)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sp.add_argument("--html", metavar="FILE", help="also write a plain-language HTML report for the store owner")
    sp.add_argument("--evidence", metavar="DIR",
                    help="write one redacted capture per finding into DIR (card data and passwords overwritten)")
    add_history_option(sp)
    sp.set_defaults(func=cmd_scan, defers_interrupts=True)


def write_html(reports: list[SourceReport], findings: list[Finding], target: str, filters: dict[str, Any] | None = None,
               policy: object = None, site: str = "", history: dict[str, Any] | None = None) -> None:
    from netwatch.report.html import render_html

    try:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(render_html(reports, findings, policy=policy, filters=filters, site=site, history=history))
    except OSError as e:
        raise UsageError(f"cannot write HTML report {target}: {e.strerror}") from None


def prepare_evidence_dir(target: str) -> None:
    """Create the evidence directory before any capture work, so a bad path fails first."""
    from pathlib import Path

    try:
        Path(target).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create evidence directory {target}: {e.strerror}") from None


def write_evidence_dir(reports: list[SourceReport], target: str, findings: list[Finding]) -> int:
    from pathlib import Path

    from netwatch.report.evidence import EvidenceOptions, evidence_for_reports

    try:
        return evidence_for_reports(reports, EvidenceOptions(Path(target)), findings)
    except OSError as e:
        raise UsageError(f"cannot write evidence to {target}: {e.strerror}") from None


def write_outputs(args: argparse.Namespace, reports: list[SourceReport], findings: list[Finding], interrupted: bool,
                  console: Console | None, policy: object = None, history: dict[str, Any] | None = None) -> None:
    """Console summary (on `console`; None: quiet), JSON Lines (findings then the summary record) and
    HTML, for scan and live.

    A closed standard output (`netwatch scan x | head`) ends the console or JSON output quietly;
    the exit code still follows the findings."""
    from netwatch.report.jsonl import JsonlWriter, OutputError
    from netwatch.report.metadata import metadata_records
    from netwatch.report.records import closing_records, finding_record

    filters = FindingFilter.from_args(args).describe() or None
    if console is not None:
        from netwatch.report.console import print_summary  # here: rich's tables cost ~35 ms of start-up

        try:
            print_summary(console, reports, findings)
        except BrokenPipeError:
            _silence_stdout()
    if args.json:
        try:
            out = JsonlWriter(args.json, run_context(args, policy))
            out.write_all(finding_record(f) for f in findings)
            out.write_all(metadata_records(reports))  # --log: flow, tls, dns, http records, input by input
            out.write_all(closing_records(reports, findings, interrupted, filters))
            out.close()
        except OutputError as e:
            raise UsageError(str(e)) from None
    if args.html:
        write_html(reports, findings, args.html, filters, policy, site_name(args, policy), history)


def _silence_stdout() -> None:
    """The reader of standard output went away: send the rest (and Python's exit flush) nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _check_stdin(paths: list[str]) -> None:
    if paths.count("-") > 1:
        raise UsageError("'-' (standard input) can be given only once")
    if "-" in paths and sys.stdin.isatty():
        raise UsageError("'-' reads a capture from standard input, but that is a terminal; pipe one in "
                         "(e.g. tcpdump -w - | netwatch scan -)")


def cmd_scan(args: argparse.Namespace) -> int:
    """Ctrl-C or SIGTERM before the scan began (even while Python imported netwatch) still writes
    the outputs asked for, saying the scan stopped before reading; the handlers are put back after."""
    with sigterm_as_ctrl_c():
        return _scan(args)


def _scan(args: argparse.Namespace) -> int:
    from netwatch.pipeline.cluster import SchedulerError
    from netwatch.pipeline.runner import RunResult, ScanConfig, deferred_signals, run
    from netwatch.pipeline.session import SourceReport

    paths, unreadable = expand_paths(args.paths)
    _check_stdin(paths)
    check_writable(args.json, "JSON output")
    check_writable(args.html, "HTML report")
    if args.evidence:
        prepare_evidence_dir(args.evidence)
    cfg = ScanConfig(rule_dirs=tuple(args.rules), policy_path=args.policy, fingerprint_key=fingerprint_key(args),
                     evidence=bool(args.evidence), log=logged(args))
    policy = load_judgement(args)[1]  # bad rules, policy or --rule fail here, before any capture work
    jobs = cap_jobs(args.jobs)
    if (args.scheduler or args.jobs > 1) and not dask_installed():
        raise UsageError(f"{'--scheduler' if args.scheduler else '--jobs'} needs Dask, which this install lacks: "
                         f"pip install '{DISTRIBUTION}[fleet]'")
    progress = Progress(not args.no_progress and not args.quiet)
    try:
        arm_interrupts()  # a Ctrl-C since start-up raises here
        result = run(paths, cfg, jobs=jobs if dask_installed() else 1, scheduler=args.scheduler, auto=args.jobs <= 0,
                     on_progress=progress.update if progress.enabled else None, on_plan=progress.plan)
    except SchedulerError as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt:  # before any scan began: the outputs are still written, saying so
        result = RunResult(reports=[SourceReport(source=p, interrupted=True, problem="stopped before reading")
                                    for p in paths], interrupted=True)
    finally:
        progress.stop()
    with deferred_signals() as stop:  # a second Ctrl-C must not cut the outputs short
        code = _report(args, result, unreadable, policy)
    return EXIT_INTERRUPTED if stop else code


def _report(args: argparse.Namespace, result: RunResult, unreadable: list[tuple[str, str]], policy: object) -> int:
    """Summary, JSON Lines and HTML of what the run found; the exit code."""
    from netwatch.pipeline.session import SourceReport, all_findings

    reports = ([SourceReport(source=d, error=msg) for d, msg in unreadable] + result.reports
               + [SourceReport(source=p, error=f"{p}: not scanned: {why}") for p, why in result.failed.items()])
    interrupted = result.interrupted
    errors = [r for r in reports if r.error]
    if errors and len(errors) == len(reports) and not interrupted and not result.failed:
        for r in errors:
            print(f"netwatch: {r.error}", file=sys.stderr)
        return EXIT_ERROR
    findings = FindingFilter.from_args(args).apply(all_findings(reports))
    if args.evidence:
        written = write_evidence_dir(reports, args.evidence, findings)
        if not args.quiet:
            print(f"netwatch: {written} redacted evidence capture(s) written to {args.evidence}", file=sys.stderr)
    console = None
    if not args.quiet:  # rich's console is ~10 ms of start-up; a quiet scan prints no summary
        from rich.console import Console

        console = Console(stderr=args.json == "-", highlight=False)
    recorded = record_run(args, reports, policy, interrupted, want_html=bool(args.html))
    write_outputs(args, reports, findings, interrupted, console, policy, recorded.html if recorded else None)
    history_failed = report_recorded(recorded, args.quiet)
    for r in errors:
        print(f"netwatch: {r.error}", file=sys.stderr)
    if interrupted:
        print("netwatch: interrupted; results above cover what was scanned so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    code = exit_code(findings, args.fail_on)
    if history_failed:
        return EXIT_ERROR
    if result.failed:
        return code | EXIT_FAILED_INPUTS
    if errors and len(errors) == len(reports):
        return EXIT_ERROR
    if errors and code == EXIT_OK:
        return EXIT_ERROR
    return code
