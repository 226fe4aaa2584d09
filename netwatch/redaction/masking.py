"""Masking and keyed fingerprints for card data.

Lives at the bottom of the dependency order (imports nothing of netwatch) so that analyzers can
mask a card number the moment they find it: a full number never leaves the analyzer that saw it.
"""

from __future__ import annotations

import hashlib
import hmac
import os


def keep_mask(n: int) -> list[bool]:
    """The one masking rule (PCI DSS 3.4.1), for display and for evidence alike: which digits of an
    n-digit PAN may stay, the first six and last four (none below 13 digits)."""
    if n < 13:
        return [False] * n
    return [i < 6 or i >= n - 4 for i in range(n)]


def mask_pan(digits: str) -> str:
    """The display mask: digits `keep_mask` does not keep become `*`."""
    return "".join(d if keep else "*" for d, keep in zip(digits, keep_mask(len(digits)), strict=True))


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

