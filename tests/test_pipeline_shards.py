"""Flow-hash shards of one file (`scan --jobs N` on a large file) report exactly what one process does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netwatch.scan import ScanConfig, load_config, merge_shards, scan_file

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))
BENCH = ROOT / "benchmarks" / ".cache" / "store-mix-v3-300000.pcap"


@pytest.fixture(scope="module")
def pipeline():
    return load_config(ScanConfig([], None, os.urandom(32)))


def _same(path: Path, pipeline, n: int) -> None:
    rules, policy = pipeline
    whole = scan_file(str(path), rules, policy)
    merged = merge_shards([scan_file(str(path), rules, policy, shard=(k, n)) for k in range(n)], rules, policy)
    assert [f.to_json() for f in merged.findings] == [f.to_json() for f in whole.findings]
    assert (merged.packets, merged.bytes, merged.flows) == (whole.packets, whole.bytes, whole.flows)
    key = lambda r: (r["dst"], r["dport"], r["proto"], r["app"])  # noqa: E731
    assert sorted((key(r), r["flows"], r["bytes"]) for r in merged.inventory) == sorted(
        (key(r), r["flows"], r["bytes"]) for r in whole.inventory)
    assert merged.systems.to_json() == whole.systems.to_json()


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_shards_match_single_process(path: Path, pipeline) -> None:
    _same(path, pipeline, 2)


@pytest.mark.skipif(not BENCH.exists(), reason="benchmark capture not generated (python benchmarks/bench_scan.py)")
def test_shards_match_on_store_mix(pipeline) -> None:
    _same(BENCH, pipeline, 2)


def test_names_learnt_in_one_shard_serve_the_other() -> None:
    """The DNS answer and the connection it names fall in different shards: policy findings still
    carry the name, because every shard learns names from every DNS flow."""
    from netwatch.policy import load_policy

    path = ROOT / "captures" / "dest_card_unknown_host.pcap"
    rules, _ = load_config(ScanConfig([], None, os.urandom(32)))
    policy = load_policy(ROOT / "captures" / "policies" / "store.yaml")
    parts = [scan_file(str(path), rules, policy, shard=(k, 2)) for k in range(2)]
    assert all(p.flows for p in parts)  # the capture really is split
    _same(path, (rules, policy), 2)
    dest = [f for f in merge_shards(parts).findings if f.rule == "NW-DEST-001"]
    assert dest and dest[0].evidence["names"] == ["collect.badhost.example"]
