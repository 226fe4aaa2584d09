"""The card fingerprint key belongs to a session, not to the process: two scans side by side keep theirs."""

from __future__ import annotations

from pathlib import Path

from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import scan_file
from netwatch.redaction.masking import Fingerprinter

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = str(ROOT / "captures" / "http_card_post.pcap")
RULES = RuleSet.load([])


def _fingerprints(key: bytes) -> set[str]:
    report = scan_file(CAPTURE, RULES, None, fingerprint=Fingerprinter(key))
    return {f.evidence["fingerprint"] for f in report.findings if "fingerprint" in f.evidence}


def test_each_scan_uses_its_own_key() -> None:
    a1 = _fingerprints(b"a" * 32)
    b = _fingerprints(b"b" * 32)
    a2 = _fingerprints(b"a" * 32)  # after another key was used in this process
    assert a1 and b
    assert a1 == a2
    assert a1.isdisjoint(b)
