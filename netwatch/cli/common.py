"""Helpers shared by the commands: common options, exit codes, rule/policy loading, JSON output."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from netwatch.findings.aggregate import Finding
from netwatch.judge.policy import load_policy
from netwatch.judge.rules import SEVERITIES, SEVERITY_RANK, RuleSet
from netwatch.pipeline.signals import handling, raise_interrupt

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_FAILED_INPUTS = 4  # added to the findings' code when a capture could not be scanned (a worker died)
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")


class UsageError(Exception):
    """A user-facing error: printed as one line, exit 2."""


def _fail_on(value: str) -> str:
    v = value.lower()
    if v not in (*SEVERITIES, "none"):
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(SEVERITIES)}, none")
    return v


def _key(value: str) -> bytes:
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
    p.add_argument("--key", type=_key, metavar="HEX",
                   help="fingerprint key to correlate cards across runs (default: $NETWATCH_KEY, else random per run)")
    p.add_argument("--site", metavar="NAME", default=None,
                   help="the site (store) this run belongs to (default: the policy's site:)")


def site_name(args: argparse.Namespace, policy: object) -> str:
    """The run's site: --site, else the policy's `site:`, else "" (none given)."""
    given = getattr(args, "site", None)
    if given:
        return str(given)
    return str(getattr(policy, "site", "") or "")


def load_rules_and_policy(args: argparse.Namespace) -> tuple[RuleSet, object]:
    """Validate rules and policy up front so errors come before any capture work."""
    rules = RuleSet.load(args.rules)
    policy = load_policy(args.policy) if args.policy else None
    return rules, policy


def expand_paths(paths: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Capture files named or found under directories, and (path, problem) for each directory that
    could not be read (named in the summary and on stderr rather than skipped in silence).

    Nothing readable at all is a one-line UsageError; so is a readable directory without captures."""
    out: list[str] = []
    problems: list[tuple[str, str]] = []
    for p in paths:
        if not Path(p).is_dir():
            out.append(p)
            continue
        found, unreadable = _walk_captures(p)
        problems += unreadable
        if not found and not unreadable:
            raise UsageError(f"no capture files (.pcap, .pcapng, .cap, .gz) in directory: {p}")
        out.extend(found)
    if problems and not out:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"{problems[0][1]}{more}")
    return out, problems


def _walk_captures(top: str) -> tuple[list[str], list[tuple[str, str]]]:
    found: list[str] = []
    unreadable: list[tuple[str, str]] = []

    def failed(e: OSError) -> None:
        where = str(e.filename or top)
        unreadable.append((where, f"cannot read directory {where}: {e.strerror}"))

    for d, dirs, files in os.walk(top, onerror=failed):
        dirs.sort()
        found += [f for f in (os.path.join(d, n) for n in files if n.lower().endswith(CAPTURE_SUFFIXES))
                  if os.path.isfile(f)]
    return sorted(found), unreadable


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (`kill`, a service stop, a container shutdown) ends a scan exactly like Ctrl-C:
    the summary, JSON and HTML of what was found so far, exit 130."""
    with handling(raise_interrupt, (signal.SIGTERM,)):
        yield


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
            return _key(env)
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
