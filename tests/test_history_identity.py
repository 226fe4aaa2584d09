"""The history's finding identity: the same finding at every visit with or without a key, distinct for
distinct cards and endpoints, blind to severity, and built only from what the masked record shows."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from netwatch.findings.aggregate import Finding
from netwatch.history.identity import identity
from netwatch.pipeline.runner import ScanConfig, run_local
from netwatch.redaction.masking import Fingerprinter, mask_pan

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = [str(ROOT / "captures" / f"{n}.pcap") for n in ("http_card_post", "cards_dns_exfil", "protect_telnet_v6")]


def _findings(key: bytes) -> list[Finding]:
    return [f for r in run_local(CAPTURES, ScanConfig((), None, key)).reports for f in r.findings]


def test_same_identity_under_two_random_keys_while_finding_ids_differ() -> None:
    a, b = _findings(os.urandom(32)), _findings(os.urandom(32))
    assert len(a) == len(b) > 4
    assert [f.finding_id for f in a] != [f.finding_id for f in b]
    assert [identity(f) for f in a] == [identity(f) for f in b]
    assert len({identity(f) for f in a}) == len(a)  # distinct findings stay distinct


def _card(pan: str, key: bytes, severity: str = "critical", dport: int = 8080) -> Finding:
    fp = Fingerprinter(key)(pan)
    key_tuple = ("NW-CARD-001", severity, "10.0.0.2", "192.0.2.9", dport, "tcp", fp, "ascii", "http-body")
    return Finding(rule="NW-CARD-001", category="card-data", severity=severity, title="t", first_seen=1.0,
                   last_seen=1.0, count=1, src="10.0.0.2", sport=40000, dst="192.0.2.9", dport=dport, proto="tcp",
                   app="http", server_name=None, evidence={"masked": mask_pan(pan), "fingerprint": fp},  # type: ignore[dict-item]
                   remediation="", references=[], source="x", key=key_tuple)


def test_cards_by_masked_number_never_by_fingerprint_and_severity_left_out() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    visa = _card("4111111111111111", k1)
    assert identity(visa) == identity(_card("4111111111111111", k2))
    assert identity(visa) == identity(dataclasses.replace(visa, severity="high"))
    assert identity(visa) != identity(_card("5555555555554444", k1))
    assert identity(visa) != identity(_card("4111111111111111", k1, dport=443))
    # a different card with the same first six and last four shares the identity (README says so)
    assert identity(visa) == identity(_card("4111119999991111", k1))


def test_a_group_value_carrying_a_card_number_is_redacted_before_hashing() -> None:
    raw = dataclasses.replace(_card("4111111111111111", b"k" * 32), key=(
        "NW-EXFIL-001", "critical", "10.0.0.2", "192.0.2.9", 53, "udp", "4111111111111111.evil.example"))
    masked = dataclasses.replace(raw, key=raw.key[:6] + ("411111******1111.evil.example",))
    assert identity(raw) == identity(masked)
