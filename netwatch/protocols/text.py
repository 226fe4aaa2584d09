"""Packet-derived text made safe to store and print: control bytes escaped, length limited."""

from __future__ import annotations

import re

USER_LIMIT = 64
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def clean(value: bytes | str | None, limit: int = USER_LIMIT) -> str | None:
    """A packet-derived name made safe to store and print: control bytes escaped, length limited."""
    if value is None:
        return None
    s = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    s = CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    return s if len(s) <= limit else s[: limit - 1] + "…"
