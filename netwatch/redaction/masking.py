"""Masking and keyed fingerprints for card data.

Lives at the bottom of the dependency order (imports nothing of netwatch) so that analyzers can
mask a card number the moment they find it: a full number never leaves the analyzer that saw it.
"""

from __future__ import annotations

import hashlib
import hmac
import os


def mask_pan(digits: str) -> str:
    """PCI DSS 3.4.1 display mask: at most the first six and last four digits."""
    n = len(digits)
    if n < 13:
        return "*" * n
    return digits[:6] + "*" * (n - 10) + digits[-4:]


class Fingerprinter:
    """HMAC-SHA256 over a card number, keyed per run (or by the user to correlate runs)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else os.urandom(32)

    def __call__(self, digits: str) -> str:
        mac = hmac.new(self._key, digits.encode("ascii"), hashlib.sha256).hexdigest()
        return "hmac-sha256:" + mac[:32]

    def finding_id(self, parts: tuple[object, ...]) -> str:
        """A finding's stable id: keyed hash of its rule, severity, endpoints and group values, so the same
        finding gets the same id in live updates and across runs with the same key (a SIEM can
        upsert on it), and the id says nothing without the key."""
        text = "\x1f".join("" if p is None else str(p) for p in parts)
        return hmac.new(self._key, b"finding\x00" + text.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:24]

