"""`netwatch live`: capture from an interface through the scan pipeline, with a live dashboard.

Stopping with Ctrl-C or SIGTERM is the normal way to end a live session, so it exits by findings
like the end of --duration/--count (0, or 1 at/above --fail-on), after the summary, the JSON and
the capture file are complete; 2 when the capture could not start or broke off by itself; 130
only for a second Ctrl-C, which abandons the flush.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from netwatch.cli.common import (
    EXIT_ERROR,
    UsageError,
    add_common,
    exit_code,
    fingerprint_key,
    load_judgement,
    logged,
    run_context,
    site_name,
)
from netwatch.cli.recording import add_history_option, record_run, report_recorded
from netwatch.report.filters import FindingFilter, add_filter_args

if TYPE_CHECKING:

    from collections.abc import Callable

    from netwatch.findings.aggregate import Finding
    from netwatch.pipeline.live import LiveStats
    from netwatch.pipeline.session import SourceReport
    from netwatch.report.jsonl import FindingStream
    from netwatch.report.live import Dashboard

STOPPED_BY = {"signal": "Ctrl-C/SIGTERM", "duration": "--duration", "count": "--count",
              "source ended": "the capture ending by itself"}


def _positive(kind: type[int] | type[float]) -> Callable[[str], float | int]:
    def parse(value: str) -> float | int:
        try:
            v: float | int = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {value!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
        return v

    return parse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "live", help="capture from an interface and report findings as they appear",
        description="Capture live traffic (e.g. the store switch's mirror port), show findings as they appear, "
                    "and end with the same summary as 'scan'. Stop with Ctrl-C, --duration or --count.")
    sp.add_argument("-i", "--interface", metavar="IFACE",
                    help="interface to capture on (default: the likely one, see 'netwatch interfaces')")
    sp.add_argument("--backend", choices=("scapy", "tshark"),
                    help="tshark: pyshark finds tshark and dumpcap, resolves -i (a name or a 'tshark -D' number) "
                         "and builds the dumpcap command netwatch reads from; non-root in the 'wireshark' group or "
                         "with CAP_NET_RAW granted to dumpcap (default when installed); "
                         "scapy: raw socket, needs root or CAP_NET_RAW granted to "
                         "a dedicated interpreter copy (python -m venv --copies), never to the system Python")
    sp.add_argument("--bpf", metavar="FILTER", help="capture filter (BPF/tcpdump syntax), e.g. 'host 10.20.1.15'")
    sp.add_argument("--duration", type=_positive(float), metavar="SECONDS", help="stop after this many seconds")
    sp.add_argument("--count", type=_positive(int), metavar="N", help="stop after N packets")
    sp.add_argument("--write", metavar="FILE.pcapng",
                    help="also save the raw capture (pcapng; .pcap for classic pcap). It holds whatever was on "
                         "the wire, card data included: handle it as cardholder data")
    sp.add_argument("--evidence", metavar="DIR",
                    help="after stop, write one redacted capture per finding into DIR (from the --write file, "
                         "else from a bounded in-memory copy of the live frames)")
    add_common(sp)
    add_history_option(sp)
    add_filter_args(sp)
    sp.add_argument("--html", metavar="FILE", help="at stop, write a plain-language HTML report for the store owner")
    sp.set_defaults(func=cmd_live)


def _json_stream(args: argparse.Namespace, keep: FindingFilter, policy: object) -> FindingStream | None:
    """The --json stream, opened before capture starts (a bad path fails first); SIGHUP reopens it."""
    import signal

    from netwatch.report.jsonl import FindingStream, JsonlWriter, OutputError

    if not args.json:
        return None
    try:
        stream = FindingStream(JsonlWriter(args.json, run_context(args, policy)), keep.keep if keep else None)
    except OutputError as e:
        raise UsageError(str(e)) from None

    def on_hup(signum: int, frame: object) -> None:
        stream.hup = True  # reopened on the next tick, outside the signal handler

    signal.signal(signal.SIGHUP, on_hup)
    return stream


def _record_writer(stream: FindingStream | None) -> Callable[[dict[str, Any]], None] | None:
    """--log: each metadata record written as it is made (after the findings raised so far)."""
    if stream is None:
        return None
    from netwatch.report.metadata import metadata_record

    writer = stream.writer
    return lambda raw: writer.write(metadata_record(raw))


def cmd_live(args: argparse.Namespace) -> int:
    """Rules, policy and output paths are checked first; then the capture starts, and only then
    is the pipeline imported and the dashboard drawn (dumpcap or the kernel buffers what arrives
    meanwhile), so traffic from the first moment after the 'capturing on' line is seen."""
    from netwatch.capture import CaptureError
    from netwatch.capture.interfaces import likely_capture, list_interfaces

    rules, policy = load_judgement(args)
    if args.evidence:
        from netwatch.cli.scan import prepare_evidence_dir

        prepare_evidence_dir(args.evidence)
    iface = args.interface or likely_capture(list_interfaces())
    if not iface:
        raise UsageError("no interface is up to capture on; name one with -i (see 'netwatch interfaces')")
    from rich.console import Console

    console = Console(stderr=args.json == "-", highlight=False)
    keep = FindingFilter.from_args(args)
    stream = _json_stream(args, keep, policy)
    from netwatch.pipeline.signals import stop_on_signals

    writer = source = buffer = None
    try:
        with stop_on_signals() as stop:
            source, writer, buffer = _open(args, iface)
            iface = source.iface  # a 'tshark -D' number resolved to its name
            from netwatch.pipeline.live import LiveRun, LiveSession
            from netwatch.redaction.masking import Fingerprinter
            from netwatch.report.live import Dashboard

            dash = Dashboard(console, f"capturing on {iface} with {source.backend}") if not args.quiet else None
            on_finding, on_tick = _callbacks(dash, stream, keep)
            session = LiveSession(rules, policy, f"live:{iface}", on_finding=on_finding,
                                  fingerprint=Fingerprinter(fingerprint_key(args)), evidence=bool(args.evidence),
                                  log=logged(args), on_record=_record_writer(stream))
            run = LiveRun(source, session, writer, duration=args.duration, count=args.count)
            if dash is not None:
                dash.start()
            try:
                reason = run.run(on_tick, stop)
            finally:
                if dash is not None:
                    dash.stop()
            report = run.finish()
    except CaptureError as e:
        raise UsageError(str(e)) from None
    finally:  # after finish() these are no-ops; on an error or a second Ctrl-C they end dumpcap and the file
        if writer is not None:
            writer.close()
        if source is not None:
            source.close()
    from netwatch.report.console import print_summary
    from netwatch.report.text import loss_text, safe

    findings = keep.apply(report.findings)
    if args.evidence:
        _write_evidence(args, findings, report, buffer, stream)
    loss = loss_text(report.drops, report.packets)
    if not args.quiet:
        print_summary(console, [report], findings)
        drops = "unknown" if run.stats.drops is None else loss or "none"
        console.print(f"\nCaptured on {safe(iface)} with {source.backend}: {report.packets:,} packets, drops: {drops}"
                      + f"; stopped by {STOPPED_BY.get(reason, reason)}."
                      + (f" Capture written to {safe(args.write)}." if args.write else ""), soft_wrap=True)
    recorded = record_run(args, [report], policy, False, want_html=bool(args.html))
    _write_files(args, report, findings, stream, keep, policy, recorded.html if recorded else None)
    if loss:  # also under -q: findings may be missing
        print(f"netwatch: the capture {loss} before netwatch read them; findings may be missing", file=sys.stderr)
    if report_recorded(recorded, args.quiet):
        return EXIT_ERROR
    if report.problem:
        print(f"netwatch: {report.problem}", file=sys.stderr)
        return EXIT_ERROR
    return exit_code(findings, args.fail_on)


def _open(args: argparse.Namespace, iface: str) -> tuple[Any, Any, Any]:
    """The started capture source, and where its frames are kept: the --write file, or (for
    --evidence without --write) a bounded in-memory buffer; else neither."""
    from netwatch.capture.live import open_source
    from netwatch.capture.writer import CaptureWriter

    source = open_source(iface, args.backend, args.bpf)
    writer: Any = None
    buffer: Any = None
    if args.write:
        writer = CaptureWriter(args.write, source.iface, source.linktype)
    elif args.evidence:
        from netwatch.report.evidence import FrameBuffer

        buffer = writer = FrameBuffer()
    source.start()
    print(f"netwatch: capturing on {source.iface} with the {source.description} backend"
          + (f", filter {args.bpf!r}" if args.bpf else "") + "; stop with Ctrl-C", file=sys.stderr, flush=True)
    return source, writer, buffer


def _write_evidence(args: argparse.Namespace, findings: list[Finding], report: Any, buffer: Any,
                    stream: FindingStream | None) -> None:
    """Redacted evidence captures of the findings, from the --write file or the in-memory frames."""
    from pathlib import Path

    from netwatch.report.evidence import EvidenceOptions, live_evidence

    try:
        written = live_evidence(findings, report.evidence_flows, EvidenceOptions(Path(args.evidence)), args.write,
                                buffer)
        if stream is not None:  # the records already written get a copy naming their evidence file
            stream.evidence(findings)
    except OSError as e:
        raise UsageError(f"cannot write evidence to {args.evidence}: {e.strerror}") from None
    if not args.quiet:
        print(f"netwatch: {written} redacted evidence capture(s) written to {args.evidence}", file=sys.stderr)


def _write_files(args: argparse.Namespace, report: SourceReport, findings: list[Finding],
                 stream: FindingStream | None, keep: FindingFilter, policy: object,
                 history: dict[str, Any] | None = None) -> None:
    """At stop: the JSON stream's last updates and its summary record, then the HTML report."""
    from netwatch.cli.scan import write_html
    from netwatch.report.records import closing_records

    if stream is not None:
        stream.finish(report.findings, closing_records([report], findings, filters=keep.describe() or None))
    if args.html:
        write_html([report], findings, args.html, keep.describe() or None, policy, site_name(args, policy), history)


def _callbacks(dash: Dashboard | None, stream: FindingStream | None, keep: FindingFilter
               ) -> tuple[Callable[[Finding], None], Callable[[LiveStats], None]]:
    """What the session calls on a new finding and the run on every tick: dashboard and JSON stream."""
    def on_finding(f: Finding) -> None:
        if dash is not None and keep.keep(f):
            dash.finding(f)
        if stream is not None:
            stream.finding(f)

    def on_tick(stats: LiveStats) -> None:
        if dash is not None:
            dash.update(stats)
        if stream is not None:
            stream.tick(stats.findings)

    return on_finding, on_tick
