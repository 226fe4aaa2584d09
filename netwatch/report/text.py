"""Text for people: packet-derived text safe for a terminal (no rich markup, no ANSI/control
characters), endpoints, and capture timestamps that may lie beyond any calendar."""

from __future__ import annotations

import datetime as dt

from netwatch.packets.addresses import endpoint as endpoint  # re-exported: reports format endpoints here
from netwatch.redaction.text import escape_controls


def safe(value: object, limit: int = 200) -> str:
    """Printable, markup-escaped, length-limited text for the console."""
    from rich.markup import escape  # here: ~9 ms of start-up that a quiet scan (JSON Lines only) does without

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


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`1 flow`, `2 flows`; `many` for irregular plurals (`1 entry`, `3 entries`)."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"


def joined(items: list[str], limit: int = 60, sep: str = ", ") -> str:
    """Whole items joined up to about `limit` characters, then `+N` for the rest: a list cut to fit
    never ends in half an address or name. Not escaped: pass the result through `safe`."""
    out: list[str] = []
    used = 0
    for i, item in enumerate(items):
        if out and used + len(sep) + len(item) > limit:
            return sep.join(out) + f" +{len(items) - i}"
        out.append(item)
        used += len(item) + (len(sep) if len(out) > 1 else 0)
    return sep.join(out)


LOSS_PLACES = ("kernel", "dumpcap", "interface", "netwatch")


def lost(drops: dict[str, int]) -> int:
    """Packets a live capture lost, wherever (the `received` count aside)."""
    return sum(v for k, v in drops.items() if k != "received")


def loss_text(drops: dict[str, int], read: int) -> str:
    """`lost 1,234 of 100,000 packets (1.2%: kernel 1,200, dumpcap 34)`, or "" when nothing was lost."""
    n = lost(drops)
    if not n:
        return ""
    seen = max(drops.get("received", 0), read + n)
    where = ", ".join(f"{k} {drops[k]:,}" for k in LOSS_PLACES if drops.get(k))
    return f"lost {n:,} of {plural(seen, 'packet')} ({100 * n / seen:.1f}%: {where})"
