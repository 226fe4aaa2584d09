"""Evidence is cut from the finding's own flows: on every bundled capture and on the store mix, each
finding's evidence file holds its `first_packet` and the packets of every flow it aggregated (up to
the per-flow bound), as tshark groups the capture's packets into TCP/UDP conversations."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from netwatch.flows.trace import MAX_PACKETS
from netwatch.pipeline.runner import ScanConfig, run_local
from netwatch.report.evidence import EvidenceOptions, evidence_for_reports

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))
TSHARK = shutil.which("tshark")
CFG = ScanConfig((), None, bytes(16), evidence=True)


def conversations(path: Path) -> tuple[dict[int, str], dict[str, list[int]]]:
    """tshark's conversation of each frame (tcp.stream / udp.stream), and the frames of each."""
    run = subprocess.run([TSHARK or "tshark", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "tcp.stream",
                          "-e", "udp.stream", "-e", "ip.proto"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 or "cut short" in run.stderr, run.stderr[-300:]  # truncated_capture.pcap
    of: dict[int, str] = {}
    frames: dict[str, list[int]] = {}
    for line in run.stdout.splitlines():
        num, tcp, udp, proto = (line.split("\t") + ["", "", ""])[:4]
        if "," in proto:  # tunnelled (IP in IP, GRE, VXLAN): left out of evidence, as documented
            continue
        conv = f"t{tcp}" if tcp else f"u{udp}" if udp else ""
        if conv:
            of[int(num)] = conv
            frames.setdefault(conv, []).append(int(num))
    return of, frames


def check(path: Path, out: Path) -> int:
    """Scan with evidence; return the findings checked (assertion messages name rules and frames only)."""
    reports = run_local([str(path)], CFG).reports
    evidence_for_reports(reports, EvidenceOptions(out))
    of, frames = conversations(path)
    checked = 0
    for f in reports[0].findings:
        if f.proto not in ("tcp", "udp") or not f.flows:
            continue
        where = f"{path.name}: {f.rule} {f.src}->{f.dst}:{f.dport}"
        assert f.evidence_file and Path(f.evidence_file).exists(), f"{where}: no evidence ({f.evidence_redaction})"
        held = set(f.evidence_packets or [])
        assert f.first_packet in held, f"{where}: first packet {f.first_packet} not in its evidence"
        for number in f.flows:
            conv = of.get(number)
            if conv is None:
                continue
            later = [n for n in frames[conv] if n >= number]  # the conversation from the flow's first frame
            missing = [n for n in later[:MAX_PACKETS] if n not in held]
            assert not missing, f"{where}: flow at frame {number} lacks frames {missing[:10]}"
        checked += 1
    return checked


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_every_bundled_capture(tmp_path: Path) -> None:
    total = sum(check(cap, tmp_path / cap.stem) for cap in CAPTURES)
    assert total >= 80


def _bench():
    spec = importlib.util.spec_from_file_location("bench_scan", ROOT / "benchmarks" / "bench_scan.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_store_mix(tmp_path: Path) -> None:
    """Card findings there aggregate several flows (one terminal, one server, many client ports)."""
    mix = tmp_path / "mix.pcap"
    _bench().generate(mix, 30_000, seed=5)
    assert check(mix, tmp_path / "evidence") >= 5
