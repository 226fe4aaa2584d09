"""`netwatch scan` exit codes and one-line errors, and Ctrl-C keeping what was found."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wait_until_reading

ROOT = Path(__file__).resolve().parents[1]
CARD_CAPTURE = ROOT / "captures" / "http_card_post.pcap"
CLEAN_CAPTURE = ROOT / "captures" / "tls_store.pcap"


def nw(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=dict(os.environ, COLUMNS="300"))


def one_line_error(run: subprocess.CompletedProcess, *parts: str) -> None:
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("netwatch")]
    assert len(lines) == 1, run.stderr
    for p in parts:
        assert p in lines[0]


def test_exit_codes_follow_fail_on():
    assert nw("scan", str(CARD_CAPTURE), "-q").returncode == 1  # critical card finding, default bar high
    assert nw("scan", str(CARD_CAPTURE), "-q", "--fail-on", "none").returncode == 0
    assert nw("scan", str(CARD_CAPTURE), "-q", "--fail-on", "critical").returncode == 1
    assert nw("scan", str(CLEAN_CAPTURE), "-q", "--fail-on", "info").returncode == 0


def test_json_to_stdout_is_json_lines():
    run = nw("scan", str(CARD_CAPTURE), "--json", "-", "--fail-on", "none")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert {r.get("rule") for r in records} >= {"NW-CARD-001", "NW-CLEAR-001"}
    assert list(records[0])[:2] == ["timestamp", "event_type"]
    assert [r["event_type"] for r in records].count("summary") == 1 and records[-1]["event_type"] == "summary"
    assert "Capture" in run.stderr  # the summary moves to stderr when JSON takes stdout


def test_missing_file():
    one_line_error(nw("scan", "no/such/file.pcap"), "no such file: no/such/file.pcap")


def test_not_a_capture(tmp_path):
    p = tmp_path / "notes.pcap"
    p.write_text("these are notes, not packets\n")
    one_line_error(nw("scan", str(p)), f"not a pcap or pcapng file: {p}")


def test_bad_fail_on():
    run = nw("scan", str(CARD_CAPTURE), "--fail-on", "severe")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "--fail-on" in run.stderr and "critical" in run.stderr


def test_bad_rule_file_names_file_rule_and_field(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "- id: NW-MINE-001\n  title: t\n  category: card-data\n  severity: extreme\n  on: card_data\n")
    one_line_error(nw("scan", str(CARD_CAPTURE), "--rules", str(tmp_path)), "mine.yaml", "NW-MINE-001", "severity")


def test_bad_policy_names_file(tmp_path):
    p = tmp_path / "policy.yaml"
    p.write_text("site: s\npos_hosts: [not-a-network]\n")
    one_line_error(nw("scan", str(CARD_CAPTURE), "--policy", str(p)), "policy.yaml", "not-a-network")


def test_broken_input_still_reports_findings():
    run = nw("scan", str(ROOT / "captures" / "truncated_capture.pcap"), "--json", "-")
    assert run.returncode == 1  # the card before the cut is still a finding
    assert "NW-CARD-001" in run.stdout
    assert "input broke off: file ends inside a packet" in run.stderr


@pytest.mark.slow
def test_ctrl_c_keeps_results(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_scan", ROOT / "benchmarks" / "bench_scan.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    big = tmp_path / "big.pcap"
    bench.generate(big, 400_000, seed=5)
    out = tmp_path / "found.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", str(big), "--json", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, COLUMNS="200"))
    wait_until_reading(proc.pid, big)
    assert proc.poll() is None, "the scan finished before it could be interrupted; make the capture larger"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted" in stderr and "interrupted" in stdout  # message, and the summary's note
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(r.get("rule") == "NW-CARD-001" for r in records)  # what was found before Ctrl-C is kept
    assert records[-1]["event_type"] == "summary" and records[-1]["interrupted"] is True
    packets = int(next(ln for ln in stdout.splitlines() if "big.pcap" in ln).split("│")[2].strip().replace(",", ""))
    assert 0 < packets < 400_000
