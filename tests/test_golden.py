"""Every bundled capture replays to its golden findings; the scenario script is deterministic.

Goldens are captures/expected/NAME.jsonl, written with
`python -m netwatch scan captures/NAME.pcap --json captures/expected/NAME.jsonl --key 0…0 --fail-on none -q`.
Fingerprints, the source path and what names the run (run_id, sensor, site: the writer stamps
them on every record, the in-process records have none) are left out of the comparison.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netwatch.pipeline.runner import ScanConfig, run_local
from netwatch.pipeline.session import all_findings
from netwatch.report.jsonl import finding_line

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
EXPECTED = CAPTURES / "expected"
KEY = bytes(16)
BUNDLED = sorted(p for p in CAPTURES.iterdir() if p.is_file() and ".pcap" in p.name)


def _name(p: Path) -> str:
    return p.name.split(".pcap")[0]


def _comparable(record: dict) -> dict:
    record = dict(record)
    for run_dependent in ("source", "run_id", "sensor", "site"):
        record.pop(run_dependent, None)
    ev = record.get("evidence")
    if isinstance(ev, dict):
        record["evidence"] = {k: v for k, v in ev.items() if k != "fingerprint"}
    return record


def scan_json(path: Path) -> list[dict]:
    reports = run_local([str(path)], ScanConfig(rule_dirs=(), policy_path=None, fingerprint_key=KEY)).reports
    assert reports[0].error is None, reports[0].error
    return [json.loads(finding_line(f)) for f in all_findings(reports)]


def test_there_are_bundled_captures():
    assert len(BUNDLED) >= 6


@pytest.mark.parametrize("capture", BUNDLED, ids=_name)
def test_capture_matches_golden(capture):
    golden = EXPECTED / f"{_name(capture)}.jsonl"
    assert golden.exists(), f"no golden file {golden.relative_to(ROOT)}; see this module's docstring"
    records = [json.loads(line) for line in golden.read_text().splitlines() if line.strip()]
    want = [_comparable(r) for r in records if r["event_type"] == "finding"]  # the summary names paths
    got = [_comparable(r) for r in scan_json(capture)]
    assert got == want


def test_scenarios_regenerate_byte_identical(tmp_path):
    out = subprocess.run([sys.executable, str(CAPTURES / "make_captures.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    written = sorted(tmp_path.iterdir())
    assert len(written) >= 6
    for p in written:
        bundled = CAPTURES / p.name
        assert bundled.exists(), f"{p.name} is a scenario but not bundled in captures/"
        assert p.read_bytes() == bundled.read_bytes(), f"{p.name} differs when regenerated"
