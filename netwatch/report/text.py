"""Text for people: packet-derived text safe for a terminal (no rich markup, no ANSI/control
characters), endpoints, and capture timestamps that may lie beyond any calendar."""

from __future__ import annotations

import datetime as dt

from rich.markup import escape

from netwatch.packets.addresses import endpoint as endpoint  # re-exported: reports format endpoints here
from netwatch.redaction.text import escape_controls


def safe(value: object, limit: int = 200) -> str:
    """Printable, markup-escaped, length-limited text for the console."""
    s = "" if value is None else str(value)
    s = escape_controls(s)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return escape(s)


def utc(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC", missing: str = "-") -> str:
    """A capture timestamp in UTC; a file's timestamps are whatever it says (up to 2^64 ticks), so
    one beyond the calendar is shown as seconds, never raised."""
    if ts is None:
        return missing
    try:
        return dt.datetime.fromtimestamp(ts, dt.UTC).strftime(fmt)
    except (OverflowError, ValueError, OSError):
        return f"{ts:.6g} s (out of range)"
