"""Helpers shared by the commands: common options, exit codes, rule/policy loading, JSON output."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netwatch.judge.vocabulary import SEVERITIES, SEVERITY_RANK
from netwatch.pipeline.signals import raise_interrupt

if TYPE_CHECKING:
    from netwatch.findings.aggregate import Finding
    from netwatch.judge.policy import Policy
    from netwatch.judge.rules import RuleSet

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_FAILED_INPUTS = 4  # added to the findings' code when a capture could not be scanned (a worker died)
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")
DISTRIBUTION = "netwatch-pos"  # the name on PyPI (`netwatch` there is another project); import and command: netwatch
SKIPPED_SHOWN = 5  # skipped files named on stderr per directory; the rest are counted


class UsageError(Exception):
    """A user-facing error: printed as one line, exit 2."""


def _fail_on(value: str) -> str:
    v = value.lower()
    if v not in (*SEVERITIES, "none"):
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(SEVERITIES)}, none")
    return v


def parse_key(value: str) -> bytes:
    """A fingerprint key: hex digits, or text, of at least 16 bytes."""
    try:
        b = bytes.fromhex(value)
    except ValueError:
        b = value.encode()
    if len(b) < 16:
        raise argparse.ArgumentTypeError("a fingerprint key needs at least 16 bytes (32 hex digits)")
    return b


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs the pipeline (scan, live)."""
    p.add_argument("--policy", metavar="FILE",
                   help="site policy YAML (see README); without it destinations are listed, not judged")
    p.add_argument("--rules", metavar="DIR", action="append", default=[],
                   help="extra rule pack (directory or file); may repeat; same id overrides a built-in rule")
    p.add_argument("--json", metavar="FILE", help="write findings as JSON Lines to FILE ('-' for stdout)")
    p.add_argument("--fail-on", type=_fail_on, default="high", metavar="SEVERITY",
                   help="exit 1 when a finding is at least this severe (default: high; 'none' never)")
    p.add_argument("--quiet", "-q", action="store_true", help="no summary on the terminal")
    p.add_argument("--key", type=parse_key, metavar="HEX",
                   help="fingerprint key to correlate cards across runs (default: $NETWATCH_KEY, else random per run)")
    p.add_argument("--site", metavar="NAME", default=None,
                   help="the site (store) this run belongs to (default: the policy's site:)")
    p.add_argument("--sensor", metavar="NAME", default=None,
                   help="the sensor named in every JSON record (default: this host's name)")
    p.add_argument("--log", type=log_kinds, default=(), metavar="TYPES",
                   help="also write metadata records into the JSON Lines: flow, tls, dns, http, comma-separated, "
                        "or all (default: none)")


def log_kinds(value: str | list[str]) -> tuple[str, ...]:
    """`--log flow,dns` (or netwatch.toml's `log = ["flow", "dns"]`): the metadata records to write, in
    their fixed order; `all` names every kind, `none` none. An unknown name is a one-line error."""
    from netwatch.pipeline.metalog import LOG_KINDS

    names = [n.strip().lower() for n in (value.split(",") if isinstance(value, str) else value)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in (*LOG_KINDS, "all", "none")]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown record type '{unknown[0]}'; valid: {', '.join(LOG_KINDS)}, all, "
                                         "none")
    return LOG_KINDS if "all" in names else tuple(k for k in LOG_KINDS if k in names)


def logged(args: argparse.Namespace) -> frozenset[str]:
    """The metadata records to collect: --log (or netwatch.toml's `log`), only when there is JSON to
    write them into; asked for without --json, one line says so (they would cost and go nowhere)."""
    kinds = frozenset(args.log or ())
    if kinds and not args.json:
        if not args.quiet:
            print(f"netwatch: --log {','.join(args.log)}: metadata records go into the JSON Lines; without --json "
                  "none are written", file=sys.stderr)
        return frozenset()
    return kinds


def site_name(args: argparse.Namespace, policy: object) -> str:
    """The run's site: --site, else the policy's `site:`, else "" (none given)."""
    given = getattr(args, "site", None)
    if given:
        return str(given)
    return str(getattr(policy, "site", "") or "")


def run_context(args: argparse.Namespace, policy: object) -> dict[str, str | None]:
    """What every JSON record of this run carries so a SIEM can join it without the file name: the
    site (--site or the policy's), the sensor (--sensor or the host name) and the invocation's run id
    (the history's visits carry it too)."""
    import socket
    import uuid

    return {"site": site_name(args, policy) or None, "sensor": getattr(args, "sensor", None) or socket.gethostname(),
            "run_id": getattr(args, "run_id", None) or str(uuid.uuid4())}


def load_judgement(args: argparse.Namespace) -> tuple[RuleSet, Policy | None]:
    """Rules and policy of the command line, loaded up front so errors come before any capture work;
    a `--rule` pattern that matches no loaded rule is refused here too."""
    from netwatch.judge.rules import load_rules_and_policy
    from netwatch.report.filters import FindingFilter

    rules, policy = load_rules_and_policy(tuple(args.rules), args.policy)
    problem = FindingFilter.from_args(args).unmatched_rules(r.id for r in rules.rules)
    if problem:
        raise UsageError(problem)
    return rules, policy


def expand_paths(paths: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Capture files named or found under directories, and (path, problem) for each directory that
    could not be read (named in the summary and on stderr rather than skipped in silence).

    Files under a directory are captures by their magic number, whatever their name (tcpdump's
    rotated `trace.pcap1`, `.dump`); what was skipped, and why, is said on stderr. The same file
    named twice (or through a symlink) is scanned once, with a note. Nothing readable at all is a
    one-line UsageError; so is a readable directory without captures."""
    out: list[str] = []
    problems: list[tuple[str, str]] = []
    for p in paths:
        if not Path(p).is_dir():
            out.append(p)
            continue
        found, unreadable, skipped = _walk_captures(p)
        problems += unreadable
        if skipped:
            shown = ", ".join(f"{os.path.relpath(f, p)} ({why})" for f, why in skipped[:SKIPPED_SHOWN])
            more = f" and {len(skipped) - SKIPPED_SHOWN} more" if len(skipped) > SKIPPED_SHOWN else ""
            print(f"netwatch: {p}: skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''} that "
                  f"{'are' if len(skipped) != 1 else 'is'} not a capture: {shown}{more}", file=sys.stderr)
        if not found and not unreadable:
            raise UsageError(f"no capture files (pcap, pcapng, or gzip of them) in directory: {p}")
        out.extend(found)
    if problems and not out:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"{problems[0][1]}{more}")
    return _once(out), problems


def _once(paths: list[str]) -> list[str]:
    """Each file once (by device and inode: a second name, a symlink), with a note for each repeat."""
    seen: dict[tuple[int, int], str] = {}
    out = []
    for p in paths:
        try:
            st = os.stat(p) if p != "-" else None
        except OSError:
            st = None  # the reader names the problem
        ident = (st.st_dev, st.st_ino) if st is not None and stat.S_ISREG(st.st_mode) else None
        if ident is not None and ident in seen:
            same = "given twice" if seen[ident] == p else f"the same file as {seen[ident]}"
            print(f"netwatch: {p}: {same}; scanned once", file=sys.stderr)
            continue
        if ident is not None:
            seen[ident] = p
        out.append(p)
    return out


def _capture_kind(path: str) -> str | None:
    """None when the file starts like a capture (pcap, pcapng, or gzip of one), else why it is not."""
    from netwatch.capture.pcapfile import GZIP_MAGIC, is_capture

    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head[:2] == GZIP_MAGIC:
                import gzip
                import zlib

                fh.seek(0)
                try:
                    head = gzip.GzipFile(fileobj=fh).read(4)
                except (OSError, EOFError, zlib.error):
                    return "unreadable gzip"
                return None if is_capture(head) and head[:2] != GZIP_MAGIC else "gzip, not of a capture"
    except OSError as e:
        return f"cannot read: {e.strerror}"
    if not head:
        return "empty"
    return None if is_capture(head) else "no pcap or pcapng magic number"


def _walk_captures(top: str) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Captures under `top` (by name or by magic number), unreadable directories, and skipped files."""
    found: list[str] = []
    unreadable: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []

    def failed(e: OSError) -> None:
        where = str(e.filename or top)
        unreadable.append((where, f"cannot read directory {where}: {e.strerror}"))

    for d, dirs, files in os.walk(top, onerror=failed):
        dirs.sort()
        for f in (os.path.join(d, n) for n in files):
            if not os.path.isfile(f):
                continue
            why = _capture_kind(f)
            if why is None or f.lower().endswith(CAPTURE_SUFFIXES):  # a capture's name: the reader says what is wrong
                found.append(f)
            else:
                skipped.append((f, why))
    return sorted(found), unreadable, sorted(skipped)


_early: list[int] | None = None  # signals recorded since start-up, while a command defers them


def defer_interrupts(early: list[int]) -> None:
    """The program's start-up handlers (netwatch.__main__) stay in place and record into `early`
    until the command arms the usual ones."""
    global _early
    _early = early


def arm_interrupts() -> None:
    """From here on Ctrl-C raises KeyboardInterrupt and SIGTERM acts like it; a signal recorded while
    the command was starting raises now, so none is lost."""
    global _early
    early, _early = _early, None
    if early is None:
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupt)
    if early:
        raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (`kill`, a service stop, a container shutdown) ends a scan exactly like Ctrl-C:
    the summary, JSON and HTML of what was found so far, exit 130. While the command still defers
    signals (start-up), the start-up handlers stay until `arm_interrupts`; all are put back after."""
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    if _early is None:
        signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def dask_installed() -> bool:
    """Parallel and fleet scans run on Dask, the `[fleet]` extra; one-process scans need none of it."""
    import importlib.util

    try:
        return importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        return False


def available_cores() -> int:
    """The processors this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def jobs_count(value: str) -> int:
    """--jobs: a process count (0 = automatic); any size parses, `cap_jobs` bounds it."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of processes, not {value[:40]!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("expected 0 (one per core) or a positive number of processes")
    return n


def cap_jobs(requested: int, default_max: int = 4) -> int:
    """Workers for --jobs: 0 means one per core (at most `default_max`); more than the
    cores available buys nothing but memory and start-up time, so it is capped with a note."""
    cores = available_cores()
    if requested == 0:
        return min(default_max, cores)
    if requested > cores:
        shown = str(requested) if requested < 10**12 else f"{str(requested)[:12]}..."
        print(f"netwatch: --jobs {shown} capped at {cores}, the processors available", file=sys.stderr)
        return cores
    return requested


def fingerprint_key(args: argparse.Namespace) -> bytes:
    if args.key:
        return bytes(args.key)
    env = os.environ.get("NETWATCH_KEY")
    if env:
        try:
            return parse_key(env)
        except argparse.ArgumentTypeError as e:
            raise UsageError(f"NETWATCH_KEY: {e}") from None
    return os.urandom(32)


def exit_code(findings: list[Finding], fail_on: str) -> int:
    if fail_on == "none":
        return EXIT_OK
    bar = SEVERITY_RANK[fail_on]
    return EXIT_FINDINGS if any(SEVERITY_RANK[f.severity] <= bar for f in findings) else EXIT_OK


class Progress:
    """One transient progress bar on stderr across all tasks of a run (files, shards, bytes, ETA),
    shown only for work that takes more than a moment and only when stderr is a terminal.

    `update` may be called from a Dask client thread; rich's Progress is thread-safe.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.monotonic()
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.bar: Any = None
        self.task: Any = None

    def plan(self, tasks: list[Any]) -> None:
        """The run's tasks (each with `label` and `size`), so the bar shows the whole run."""
        self.totals = {t.label: max(1, t.size) for t in tasks}

    def update(self, label: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        self.totals[label] = max(1, total)
        self.done[label] = min(done, self.totals[label])
        if self.bar is None:
            if time.monotonic() - self.start < 0.7:
                return
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("", total=1)
        finished = sum(1 for k, v in self.done.items() if v >= self.totals.get(k, 1))
        what = f"{finished}/{len(self.totals)} tasks" if len(self.totals) > 1 else label[-40:]
        self.bar.update(self.task, completed=sum(self.done.values()), total=sum(self.totals.values()),
                        description=what)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def check_writable(path: str | None, what: str) -> None:
    """Fail before any work when an output file cannot be created or written."""
    if not path or path == "-":
        return
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise UsageError(f"cannot write {what} {path}: {e.strerror}") from None
    if not existed:
        with contextlib.suppress(OSError):
            os.remove(path)
