"""Both transport cores give the same results: findings, summaries and evidence files, on every
bundled capture, the store mix and the public corpus.

The compiled core (netwatch/flows/_core.pyx) replaces the pure-Python block path step for step;
these tests run the same scan once with each, in this process (the core is chosen per block by
`netwatch.flows.fastpath.compiled`), and compare what leaves netwatch. `NETWATCH_PURE=1` and
`--version` are checked end to end in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_corpus import CORPUS, corpus_files

from netwatch.capture import blocks
from netwatch.capture.compiled import records
from netwatch.cli import main
from netwatch.flows import fastpath
from netwatch.flows.core import compiled
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import SourceReport, scan_file
from netwatch.redaction.masking import Fingerprinter

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
BUNDLED = sorted(p for p in CAPTURES.iterdir() if p.is_file() and ".pcap" in p.name)
KEY = "00000000000000000000000000000000"
VARYING = {"seconds", "scan_seconds", "elapsed", "run_id"}  # wall-clock figures of the run, not results

needs_compiled = pytest.mark.skipif(compiled is None or records is None,
                                    reason="compiled core not built here (pure Python runs)")


def use_core(monkeypatch: pytest.MonkeyPatch, pure: bool) -> None:
    """The record walk and the block path on one core, for this test."""
    monkeypatch.setattr(fastpath, "compiled", None if pure else compiled)
    monkeypatch.setattr(blocks, "records", None if pure else records)


def _stable(value: object) -> object:
    if isinstance(value, dict):
        return {k: Path(v).name if k == "evidence_file" and isinstance(v, str) else _stable(v)
                for k, v in value.items() if k not in VARYING}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _scan_cli(capture: Path, out: Path, pure: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list, dict]:
    """JSON Lines records (summary included, run times left out) and evidence files by name."""
    use_core(monkeypatch, pure)
    out.mkdir()
    rc = main(["scan", str(capture), "-q", "--fail-on", "none", "--jobs", "1", "--key", KEY,
               "--json", str(out / "out.jsonl"), "--evidence", str(out / "evidence")])
    assert rc == 0
    records = [_stable(json.loads(line)) for line in (out / "out.jsonl").read_text().splitlines()]
    evidence = {p.name: p.read_bytes() for p in sorted((out / "evidence").rglob("*")) if p.is_file()}
    return records, evidence


@needs_compiled
@pytest.mark.parametrize("capture", BUNDLED, ids=lambda p: p.name.split(".pcap")[0])
def test_bundled_capture_same_on_both_cores(capture, tmp_path, monkeypatch):
    fast_records, fast_evidence = _scan_cli(capture, tmp_path / "compiled", False, monkeypatch)
    pure_records, pure_evidence = _scan_cli(capture, tmp_path / "pure", True, monkeypatch)
    assert fast_records == pure_records
    assert fast_evidence == pure_evidence


def _report(path: Path, rules: RuleSet, pure: bool, monkeypatch: pytest.MonkeyPatch) -> dict:
    use_core(monkeypatch, pure)
    r: SourceReport = scan_file(str(path), rules, None, fingerprint=Fingerprinter(bytes(16)))
    return _stable({
        "counts": [r.packets, r.bytes, r.first_ts, r.last_ts, r.flows, r.tcp_gaps, r.flows_cut, r.problem, r.error],
        "decode": [r.decode_errors, r.unknown_linktypes, r.non_ip], "losses": r.losses,
        "findings": [(f.rule, f.severity, f.src, f.sport, f.dst, f.dport, f.count, f.first_packet, f.last_packet,
                      f.first_seen, f.last_seen, str(f.message)) for f in r.findings],
        "inventory": r.inventory, "systems": [sorted(map(repr, r.systems.entries.values())), r.systems.names,
                                             sorted(r.systems.card_senders), r.systems.dropped],
    })  # type: ignore[return-value]


@needs_compiled
@pytest.mark.slow
@pytest.mark.skipif(not corpus_files(), reason=f"no corpus at {CORPUS}")
def test_corpus_same_on_both_cores(monkeypatch):
    rules = RuleSet.load([])
    differ = []
    for path in corpus_files():
        if _report(path, rules, False, monkeypatch) != _report(path, rules, True, monkeypatch):
            differ.append(str(path.relative_to(CORPUS)))
    assert not differ, f"{len(differ)} corpus captures differ between the cores: {differ[:20]}"


@needs_compiled
@pytest.mark.slow
def test_store_mix_same_on_both_cores(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_scan

    path = tmp_path / "mix.pcap"
    bench_scan.generate(path, 40_000)
    fast_records, _ = _scan_cli(path, tmp_path / "compiled", False, monkeypatch)
    pure_records, _ = _scan_cli(path, tmp_path / "pure", True, monkeypatch)
    assert any(r.get("rule") == "NW-CARD-001" for r in fast_records)
    assert fast_records == pure_records


def test_version_names_the_core_and_pure_forces_python():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pure = subprocess.run([sys.executable, "-m", "netwatch", "--version"], capture_output=True, text=True,
                          timeout=60, env={**env, "NETWATCH_PURE": "1"})
    assert pure.stdout.strip().endswith("pure Python core")
    default = subprocess.run([sys.executable, "-m", "netwatch", "--version"], capture_output=True, text=True,
                             timeout=60, env={k: v for k, v in env.items() if k != "NETWATCH_PURE"})
    import importlib.util

    built = all(importlib.util.find_spec(m) is not None for m in ("netwatch.flows._core", "netwatch.capture._records"))
    want = "compiled (Cython) core" if built else "pure Python core"  # this process may run with NETWATCH_PURE=1
    assert default.stdout.strip().endswith(want)


def test_compiled_core_imports_respect_the_layers():
    """The architecture test reads .py files; the .pyx core's imports follow the same rule."""
    import re

    from test_architecture import _layer

    for pyx in (ROOT / "netwatch").rglob("*.pyx"):
        module = ".".join(pyx.relative_to(ROOT).with_suffix("").parts)
        names = re.findall(r"^(?:from|import)\s+(netwatch[\w.]*)", pyx.read_text(), re.M)
        assert [n for n in names if _layer(n) > _layer(module)] == []
