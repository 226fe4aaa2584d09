"""`--history` on scan and live: record the run in the site history, then give the HTML its
"since the last visit". A history that cannot be used is one line on stderr and exit 2, after the
scan's other outputs were written (they do not depend on it)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netwatch.cli.common import CAPTURE_SUFFIXES, site_name

if TYPE_CHECKING:
    from netwatch.pipeline.session import SourceReport

HISTORY_ENV = "NETWATCH_HISTORY"


def _target(value: str) -> str:
    if value.lower().endswith(CAPTURE_SUFFIXES) and "://" not in value:
        raise argparse.ArgumentTypeError(f"{value[:80]!r} looks like a capture, not a history; write --history=FILE "
                                         "or put --history after the captures")
    return value


def add_history_option(p: argparse.ArgumentParser, records: bool = True) -> None:
    what = ("record this run in the site history: an SQLite FILE or a postgresql://user@host/db URL "
            f"(without a value: ${HISTORY_ENV}, else the SQLite file in the XDG data directory)") if records else \
        f"the site history to read: SQLite FILE or postgresql:// URL (default: ${HISTORY_ENV}, else the XDG data file)"
    if records:
        p.add_argument("--history", nargs="?", const="", default=None, type=_target, metavar="FILE|URL", help=what)
    else:
        p.add_argument("--history", default="", metavar="FILE|URL", help=what)


def history_target(value: str | None) -> str | None:
    """The store to open: the value given, else $NETWATCH_HISTORY, else "" (the default file)."""
    return value or os.environ.get(HISTORY_ENV) or ""


@dataclass
class Recorded:
    """What recording the run gave: the run ids per site, the HTML's view, or the one-line error."""

    runs: dict[str, str] = field(default_factory=dict)
    store_name: str = ""
    html: dict[str, Any] | None = None
    error: str | None = None


def user_key(args: argparse.Namespace) -> bytes | None:
    """The fingerprint key the user gave (--key or $NETWATCH_KEY); None when the run's key is random."""
    from netwatch.cli.common import fingerprint_key

    return fingerprint_key(args) if getattr(args, "key", None) or os.environ.get("NETWATCH_KEY") else None


def record_run(args: argparse.Namespace, reports: list[SourceReport], policy: object, interrupted: bool,
               want_html: bool) -> Recorded | None:
    """Write the run (all its findings, unfiltered) and read back the HTML's history view; None
    without --history. An interrupted scan is not recorded: its findings would look resolved."""
    if getattr(args, "history", None) is None:
        return None
    from netwatch.history.record import visits_of, write_visits
    from netwatch.history.store import HistoryError, HistoryStore

    done = Recorded()
    if interrupted:
        done.error = "interrupted: the run was not recorded in the history"
        return done
    scanned = [r for r in reports if not r.error]
    if not scanned:
        return done
    try:
        store = HistoryStore(history_target(args.history))
        done.store_name = store.name
        visits = visits_of(scanned, site_name(args, policy), getattr(args, "run_id", None))
        ids = write_visits(store, visits, sensor=getattr(args, "sensor", None),
                           key=user_key(args))
        done.runs = {v.site: run_id for v, run_id in zip(visits, ids, strict=True)}
        if want_html and len(visits) == 1:
            from netwatch.report.history import since_last_visit

            done.html = since_last_visit(store, visits[0].site, ids[0])
        store.close()
    except HistoryError as e:
        done.error = str(e)
    return done


def report_recorded(done: Recorded | None, quiet: bool) -> bool:
    """The note after the outputs; True when the history failed (exit 2)."""
    if done is None:
        return False
    if done.error:
        print(f"netwatch: {done.error}", file=sys.stderr)
        return not done.error.startswith("interrupted")
    if not quiet and done.runs:
        sites = ", ".join(f"{s} ({r[:12]})" for s, r in done.runs.items())
        print(f"netwatch: recorded in the history {done.store_name}: {sites}", file=sys.stderr)
    return False
