"""Making packet-derived text safe for a terminal: no rich markup, no ANSI/control characters."""

from __future__ import annotations

from rich.markup import escape

from netwatch.redact import escape_controls


def safe(value: object, limit: int = 200) -> str:
    """Printable, markup-escaped, length-limited text for the console."""
    s = "" if value is None else str(value)
    s = escape_controls(s)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return escape(s)
