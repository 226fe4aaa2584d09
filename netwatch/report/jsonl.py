"""JSON Lines output: `finding` records, the inventories' records, one `summary` (schema: schema/netwatch-eve-v2.json).

`JsonlWriter` writes one record at a time and flushes each, so `tail -f`, Filebeat or a pipe see
a record as soon as it exists; `reopen()` (on SIGHUP) starts a new file at the same path after
logrotate moved the old one. A reader that went away (closed pipe) ends output quietly: the run
still finishes and exits by its findings.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from netwatch.findings.aggregate import Finding
from netwatch.report import SCHEMA_PATH as SCHEMA_PATH  # re-exported: where the schema lives
from netwatch.report.records import finding_record


def record_line(rec: dict[str, Any]) -> str:
    # ensure_ascii keeps control characters from packets escaped (\u001b) in the file
    return json.dumps(rec, ensure_ascii=True, separators=(", ", ": "))


def finding_line(f: Finding) -> str:
    return record_line(finding_record(f))


class OutputError(Exception):
    """The JSON file cannot be opened or written (not a closed pipe: that ends output quietly)."""


def stamped(rec: dict[str, Any], context: dict[str, Any] | None) -> dict[str, Any]:
    """The record with the run's context (site, sensor, run_id) right after its `event_type`."""
    if not context:
        return rec
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if k not in context:
            out[k] = v
        if k == "event_type":
            out.update(context)
    return out


class JsonlWriter:
    """One JSON Lines target: a path, or standard output for `-`. Every record it writes carries
    `context` (the run's site, sensor and run id), so a SIEM joins records without the file name."""

    def __init__(self, target: str, context: dict[str, Any] | None = None) -> None:
        self.target = target
        self.context = context
        self.closed_pipe = False
        self.records = 0
        self.fh: TextIO | None = None
        self._open()

    def _open(self) -> None:
        if self.target == "-":
            self.fh = sys.stdout
            return
        try:
            self.fh = open(self.target, "a" if self.fh is not None else "w", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            raise OutputError(f"cannot write JSON output {self.target}: {e.strerror}") from None

    def write(self, rec: dict[str, Any]) -> None:
        if self.closed_pipe or self.fh is None:
            return
        try:
            self.fh.write(record_line(stamped(rec, self.context)) + "\n")
            self.fh.flush()
            self.records += 1
        except BrokenPipeError:
            self._pipe_closed()
        except OSError as e:
            raise OutputError(f"cannot write JSON output {self.target}: {e.strerror}") from None

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        for rec in records:
            self.write(rec)

    def _pipe_closed(self) -> None:
        """The reader is gone: stop writing, and keep Python's exit-time flush of stdout from failing."""
        self.closed_pipe = True
        if self.fh is not None and self.fh is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    def reopen(self) -> None:
        """After log rotation (SIGHUP): close the file and open the path anew (created if moved away)."""
        if self.target == "-" or self.fh is None:
            return
        with contextlib.suppress(OSError):
            self.fh.close()
        self._open()

    def close(self) -> None:
        if self.fh is not None and self.fh is not sys.stdout:
            with contextlib.suppress(OSError):
                self.fh.close()
        self.fh = None


def write_jsonl(findings: Iterable[Finding], out: TextIO) -> int:
    """Finding records only (no summary), for callers that write their own stream."""
    n = 0
    for f in findings:
        out.write(finding_line(f) + "\n")
        n += 1
    out.flush()
    return n


class FindingStream:
    """`live --json`: a finding record when a finding is first raised, an `update` record each time its
    count has grown since (checked every dashboard tick), and the summary at stop."""

    def __init__(self, writer: JsonlWriter, keep: Callable[[Finding], bool] | None = None) -> None:
        self.writer = writer
        self.keep = keep
        self.written: dict[int, int] = {}  # id(finding) -> count last written
        self.hup = False

    def finding(self, f: Finding) -> None:
        if self.keep is not None and not self.keep(f):
            return
        self.written[id(f)] = f.count
        self.writer.write(finding_record(f))

    def tick(self, findings: Iterable[Finding]) -> None:
        """Counts that grew since their last record; a pending SIGHUP reopens the file first."""
        if self.hup:
            self.hup = False
            self.writer.reopen()
        for f in findings:
            n = self.written.get(id(f))
            if n is not None and f.count > n:
                self.written[id(f)] = f.count
                self.writer.write({**finding_record(f), "update": True})

    def evidence(self, findings: Iterable[Finding]) -> None:
        """At stop, after `--evidence`: an `update` copy of each written finding that names its file."""
        for f in findings:
            if id(f) in self.written and f.evidence_file:
                self.writer.write({**finding_record(f), "update": True})

    def finish(self, findings: Iterable[Finding], closing: list[dict[str, Any]]) -> None:
        """Last counts, then the closing records (inventories, then the summary)."""
        self.tick(findings)
        self.writer.write_all(closing)
        self.writer.close()


def finding_identity(rec: dict[str, Any]) -> tuple[Any, ...]:
    """What stays the same across the copies `live --json` writes of one finding as its count grows."""
    if rec.get("finding_id"):
        return ("finding_id", rec["finding_id"])
    ev = rec.get("evidence") or {}
    return (rec.get("rule"), rec.get("flow_id"), rec.get("message"), ev.get("fingerprint"), ev.get("masked"))


def latest_findings(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finding records of a JSON Lines file, the last copy of each (in order of first appearance)."""
    last: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rec in records:
        if rec.get("event_type", "finding") == "finding":
            last[finding_identity(rec)] = {k: v for k, v in rec.items() if k != "update"}
    return list(last.values())
