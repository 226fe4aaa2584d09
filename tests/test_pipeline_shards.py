"""Flow-hash shards of one file (`scan --jobs N` on a large file) report exactly what one process does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netwatch.judge.rules import load_rules_and_policy
from netwatch.pipeline.session import merge_shards, scan_file
from netwatch.redaction.masking import Fingerprinter

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))
BENCH = ROOT / "benchmarks" / ".cache" / "store-mix-v3-300000.pcap"
KEY = Fingerprinter(os.urandom(32))  # one run's card key, shared by its shards as `scan` does


@pytest.fixture(scope="module")
def pipeline():
    return load_rules_and_policy()


def _same(path: Path, pipeline, n: int) -> None:
    rules, policy = pipeline
    whole = scan_file(str(path), rules, policy, fingerprint=KEY)
    parts = [scan_file(str(path), rules, policy, shard=(k, n), fingerprint=KEY) for k in range(n)]
    merged = merge_shards(parts, rules, policy)
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
    from netwatch.judge.policy import load_policy

    path = ROOT / "captures" / "dest_card_unknown_host.pcap"
    rules, _ = load_rules_and_policy()
    policy = load_policy(ROOT / "captures" / "policies" / "store.yaml")
    parts = [scan_file(str(path), rules, policy, shard=(k, 2)) for k in range(2)]
    assert all(p.flows for p in parts)  # the capture really is split
    _same(path, (rules, policy), 2)
    dest = [f for f in merge_shards(parts).findings if f.rule == "NW-DEST-001"]
    assert dest and dest[0].evidence["names"] == ["collect.badhost.example"]


def _same_last_octet_capture(tmp: Path) -> Path:
    """64 tills 10.1.<i>.5 posting to 8 servers 172.16.<j>.5: every address ends in .5."""
    from pipeline_helpers import pcap_bytes, tcp_frame

    frames = []
    ts = 1_700_000_000.0
    for i in range(64):
        client, server, port = f"10.1.{i}.5", f"172.16.{i % 8}.5", 40000 + i
        body = b"POST /pay HTTP/1.1\r\nHost: pay.example\r\nContent-Length: 5\r\n\r\nhello"
        for src, dst, sp, dp, seq, flags, data in (
            (client, server, port, 80, 1000, 0x02, b""), (server, client, 80, port, 5000, 0x12, b""),
            (client, server, port, 80, 1001, 0x18, body), (client, server, port, 80, 1001 + len(body), 0x11, b""),
            (server, client, 80, port, 5001, 0x11, b""),
        ):
            ts += 0.001
            frames.append((ts, tcp_frame(src, dst, sp, dp, seq, flags, data)))
    path = tmp / "same_octet.pcap"
    path.write_bytes(pcap_bytes(frames))
    return path


@pytest.mark.parametrize("n", [2, 3, 4])
def test_hosts_sharing_the_last_octet_spread_over_shards(tmp_path: Path, pipeline, n: int) -> None:
    path = _same_last_octet_capture(tmp_path)
    rules, policy = pipeline
    parts = [scan_file(str(path), rules, policy, shard=(k, n)) for k in range(n)]
    assert sum(p.flows for p in parts) == 64
    assert min(p.flows for p in parts) >= 64 // n // 2  # no shard starves (XOR of last octets: all in one)
    _same(path, pipeline, n)


def test_shard_of_a_pair_is_symmetric_and_stable_across_processes() -> None:
    """Either direction, any ports (FTP data beside its control), any process's hash seed."""
    import subprocess
    import sys

    from netwatch.flows.table import pair_shard

    a, b = bytes([10, 1, 2, 5]), bytes([172, 16, 3, 5])
    assert all(pair_shard(a, b, n) == pair_shard(b, a, n) for n in range(1, 9))
    code = "from netwatch.flows.table import pair_shard; print(pair_shard(bytes([10,1,2,5]), bytes([172,16,3,5]), 7))"
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                           env=dict(os.environ, PYTHONHASHSEED=seed)).stdout.strip() for seed in ("1", "2", "3")}
    assert seen == {str(pair_shard(a, b, 7))}


def test_runner_judges_the_systems_of_a_sharded_file_once_merged(pipeline):
    """A shard never judges systems (a host's flows may sit in several); the runner's merge does, so
    NW-OLD findings of a sharded file equal those of one process."""
    from netwatch.pipeline.runner import ScanConfig, Task, _merge

    path = str(ROOT / "captures" / "outdated_posready_smb.pcap")
    rules, policy = pipeline
    cfg = ScanConfig((), None, os.urandom(32))
    tasks = [Task(path, 0, (k, 3)) for k in range(3)]
    parts = {t: scan_file(path, rules, policy, shard=t.shard, fingerprint=KEY) for t in tasks}
    assert not any(f.category == "outdated" for p in parts.values() for f in p.findings)
    merged = _merge(tasks, parts, cfg)[0]
    whole = scan_file(path, rules, policy, fingerprint=KEY)
    old = sorted((f.rule, f.evidence.get("host"), f.severity) for f in merged.findings if f.category == "outdated")
    assert old and old == sorted((f.rule, f.evidence.get("host"), f.severity) for f in whole.findings
                                 if f.category == "outdated")


def test_cluster_and_shards_only_for_work_that_repays_them(tmp_path: Path) -> None:
    """The default (`auto`) jobs start a local cluster from CLUSTER_MIN_BYTES of input (measured
    break-even, see runner.py), explicit --jobs for any parallel work; a file is split into shards
    only when it alone is large and workers would otherwise idle."""
    from netwatch.pipeline.runner import CLUSTER_MIN_BYTES, SHARD_MIN_BYTES, Task, plan, wants_cluster

    def tasks(*sizes: int) -> list[Task]:
        return [Task(f"f{i}.pcap", s) for i, s in enumerate(sizes)]

    half = CLUSTER_MIN_BYTES // 2
    assert wants_cluster(tasks(half, half), jobs=2, auto=True)
    assert not wants_cluster(tasks(half, half - 1), jobs=2, auto=True)
    assert wants_cluster(tasks(10, 10), jobs=2, auto=False)  # asked for: several tasks are enough
    assert not wants_cluster(tasks(CLUSTER_MIN_BYTES), jobs=2, auto=True)  # one task: nothing to share
    assert not wants_cluster(tasks(half, half), jobs=1, auto=True)
    big = tmp_path / "big.pcap"
    with big.open("wb") as fh:
        fh.truncate(SHARD_MIN_BYTES)  # sparse: no disk used
    assert [t.shard for t in plan([str(big)], workers=2)] == [(0, 2), (1, 2)]
    assert [t.shard for t in plan([str(big)], workers=1)] == [None]
    small = tmp_path / "small.pcap"
    small.write_bytes(b"\0" * 10)
    assert [t.shard for t in plan([str(big), str(small)], workers=2)] == [None, None]
