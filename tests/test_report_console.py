"""The terminal summary with many inputs: findings first with a source column, the capture table collapsed."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from netwatch.pipeline.runner import ScanConfig, run_local
from netwatch.pipeline.session import all_findings
from netwatch.report.console import print_summary

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"


def _summary(paths: list[Path], height: int = 30) -> str:
    reports = run_local([str(p) for p in paths], ScanConfig((), None, bytes(16))).reports
    buf = io.StringIO()
    print_summary(Console(file=buf, width=220, height=height), reports, all_findings(reports))
    return buf.getvalue()


def test_many_inputs_findings_first_with_source_and_collapsed_captures() -> None:
    paths = sorted(CAPTURES.glob("*.pcap"))
    out = _summary(paths, height=30)
    assert out.index("Findings") < out.index("Captures (")
    assert "source" in out.splitlines()[out.splitlines().index(next(ln for ln in out.splitlines()
                                                                      if "┃ severity" in ln))]
    assert "http_card_post.pcap" in out[:out.index("Captures (")]  # the source column names the capture
    shown = 30 - 8
    assert f"… {len(paths) - shown} more captures" in out
    assert "truncated_capture.pcap" in out[out.index("Captures ("):]  # inputs with notes are never hidden


def test_one_input_keeps_capture_first_and_no_source_column() -> None:
    out = _summary([CAPTURES / "ipv6_card_post.pcap"])
    assert out.index("Capture") < out.index("Findings")
    findings = out[out.index("Findings"):]
    assert "┃ source" not in findings and "more captures" not in out
    assert "[2001:db8:77::77]:8080" in out  # IPv6 with a port in brackets
    assert "?" not in out
