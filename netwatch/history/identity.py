"""Which findings of two visits are the same finding: an identity that needs no key and leaks nothing.

`Finding.finding_id` is keyed with the run's fingerprint key, which is random per run unless the
user gives one, so it cannot join visits. The history's identity hashes (unkeyed) what the stored,
masked record already shows: rule, client and server address, server port, transport, and the
rule's group values, where a card fingerprint is replaced by the masked number it stands for and
every other value has passed `redact`. Severity is left out: a finding that got worse is the same
finding. Two cards with the same first six and last four digits on the same endpoints share an
identity; with a fixed key their stored fingerprints still tell them apart.
"""

from __future__ import annotations

import hashlib

from netwatch.findings.aggregate import Finding
from netwatch.redaction.text import redact

FINGERPRINT_PREFIX = "hmac-sha256:"
VERSION = b"netwatch-history-identity-1\x00"


def _group_value(value: object, masked: str) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FINGERPRINT_PREFIX):
        return "masked:" + masked  # the card as the record shows it; the keyed fingerprint stays out
    return str(redact(text))


def identity(f: Finding) -> str:
    """32 hex digits, the same for the same finding at every visit, with or without a key."""
    masked = str(f.evidence.get("masked") or "")
    groups = f.key[6:] if len(f.key) >= 6 else (masked,)
    parts = [f.rule, f.src or "", f.dst or "", "" if f.dport is None else str(f.dport), f.proto or "",
             *(_group_value(g, masked) for g in groups)]
    text = "\x1f".join(parts).encode("utf-8", "replace")
    return hashlib.sha256(VERSION + text).hexdigest()[:32]
