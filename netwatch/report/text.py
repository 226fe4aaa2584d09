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


def endpoint(addr: str | None, port: object = None) -> str:
    """`addr:port`, with an IPv6 address in brackets (`[2001:db8::1]:8080`); the address alone without a port."""
    a = "" if addr is None else str(addr)
    if port is None or port == "":
        return a
    return f"[{a}]:{port}" if ":" in a else f"{a}:{port}"
