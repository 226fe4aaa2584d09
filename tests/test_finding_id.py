"""Finding ids: the same finding gets the same id with the same key (live updates, later runs, the
shards of one capture), another key gives other ids, and distinct findings never share one."""

from __future__ import annotations

from pathlib import Path

from netwatch.pipeline.runner import ScanConfig, run_local
from netwatch.pipeline.session import all_findings

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _ids(key: bytes, name: str = "leaks_every_channel.pcap") -> dict[tuple[object, ...], str | None]:
    reports = run_local([str(CAPTURES / name)], ScanConfig(rule_dirs=(), policy_path=None, fingerprint_key=key)).reports
    return {(f.rule, f.severity, f.src, f.sport, f.dst, f.dport, f.proto,
             str({k: v for k, v in f.evidence.items() if k != "fingerprint"})): f.finding_id
            for f in all_findings(reports)}


def test_same_key_same_ids_other_key_other_ids() -> None:
    a, b, c = _ids(bytes(16)), _ids(bytes(16)), _ids(b"\x01" * 16)
    assert len(a) > 10 and a == b
    assert all(v and len(v) == 24 for v in a.values())
    assert len(set(a.values())) == len(a)  # distinct findings, distinct ids
    assert set(a) == set(c) and not set(a.values()) & set(c.values())
