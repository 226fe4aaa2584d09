"""Records a SIEM can join: every record names its site, sensor and run; a finding has a stable keyed
id (also in live's update records) and the Community ID of every flow it covers (bounded); the
inventories are records of their own so no line nears a SIEM's line limit; diff's records follow
the schema; `netwatch schema` prints it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from netwatch.cli import main
from netwatch.findings.aggregate import MAX_FLOWS_LISTED
from netwatch.pipeline.runner import ScanConfig, run_local
from netwatch.pipeline.session import all_findings
from netwatch.report.jsonl import SCHEMA_PATH, FindingStream, JsonlWriter
from netwatch.report.records import community_id, finding_record

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
POLICY = CAPTURES / "policies" / "store.yaml"
LEAKS = CAPTURES / "leaks_every_channel.pcap"
KEY = "00" * 16
LINE_LIMIT = 10_000  # Splunk's default TRUNCATE for one event


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _scan(tmp_path: Path, name: str, *args: str) -> list[dict]:
    out = tmp_path / name
    main(["scan", *args, "--json", str(out), "--fail-on", "none", "-q", "--jobs", "1"])
    return _records(out)


def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def test_every_record_names_site_sensor_and_one_run(tmp_path: Path) -> None:
    recs = _scan(tmp_path, "a.jsonl", str(LEAKS), "--policy", str(POLICY), "--key", KEY)
    assert {r["event_type"] for r in recs} >= {"finding", "input", "destination", "summary"}
    assert {r["site"] for r in recs} == {"store-0042"}  # the policy's site:
    assert {r["sensor"] for r in recs} == {socket.gethostname()}
    assert len({r["run_id"] for r in recs}) == 1
    assert all(list(r)[:5] == ["timestamp", "event_type", "site", "sensor", "run_id"] for r in recs)
    again = _scan(tmp_path, "b.jsonl", str(LEAKS), "--site", "store-7", "--sensor", "tap-1", "--key", KEY)
    assert {(r["site"], r["sensor"]) for r in again} == {("store-7", "tap-1")}  # flags win over the policy
    assert again[0]["run_id"] != recs[0]["run_id"]
    bare = _scan(tmp_path, "c.jsonl", str(CAPTURES / "http_card_post.pcap"))
    assert {r["site"] for r in bare} == {None}
    assert [e.message for r in recs + again + bare for e in _validator().iter_errors(r)] == []


def test_no_line_nears_a_siem_line_limit(tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    main(["scan", str(CAPTURES), "--policy", str(POLICY), "--json", str(out), "--fail-on", "none", "-q",
          "--jobs", "1"])
    lines = out.read_text().splitlines()
    assert len(lines) > 300
    longest = max(lines, key=len)
    assert len(longest) < LINE_LIMIT // 2, json.loads(longest)["event_type"]


def test_the_summary_card_table_stays_bounded_for_a_fleet() -> None:
    """200 POS hosts, each sending cards to 12 destinations: the summary lists the 10 hosts with the
    most cards, 3 flows each, and counts the rest; the line stays short and valid."""
    from netwatch.findings.aggregate import Finding
    from netwatch.report.records import summary_record

    findings = []
    for h in range(200):
        for d in range(12):
            fp = f"{h:04d}{d:04d}"
            findings.append(Finding(
                rule="NW-CARD-001", category="card-data", severity="critical", title="t", first_seen=1.0,
                last_seen=1.0, count=1, src=f"10.1.{h // 250}.{h % 250}", sport=40000, dst=f"192.0.2.{d}",
                dport=8080, proto="tcp", app="http", server_name=None,
                evidence={"masked": "411111******1111", "fingerprint": fp},  # type: ignore[dict-item]
                remediation="", references=[], source="x", key=("NW-CARD-001", fp)))
    rec = summary_record([], findings)
    assert len(rec["cards"]) == 10 and rec["cards_more"] == 190
    assert all(len(h["flows"]) == 3 and h["flows_more"] == 9 and h["cards"] == 12 for h in rec["cards"])
    line = json.dumps(rec)
    assert len(line) < LINE_LIMIT // 2
    assert list(_validator().iter_errors(json.loads(line))) == []


def test_finding_id_is_stable_across_runs_with_one_key_and_differs_with_another(tmp_path: Path) -> None:
    one = [r for r in _scan(tmp_path, "1.jsonl", str(LEAKS), "--key", KEY) if r["event_type"] == "finding"]
    two = [r for r in _scan(tmp_path, "2.jsonl", str(LEAKS), "--key", KEY) if r["event_type"] == "finding"]
    other = [r for r in _scan(tmp_path, "3.jsonl", str(LEAKS), "--key", "11" * 16) if r["event_type"] == "finding"]
    ids = [r["finding_id"] for r in one]
    assert len(set(ids)) == len(ids) > 10  # one id per aggregated finding
    assert ids == [r["finding_id"] for r in two]
    assert not set(ids) & {r["finding_id"] for r in other}


def test_live_update_records_carry_the_finding_id(tmp_path: Path) -> None:
    reports = run_local([str(CAPTURES / "http_card_post.pcap")], ScanConfig((), None, bytes(16))).reports
    f = all_findings(reports)[0]
    path = tmp_path / "live.jsonl"
    stream = FindingStream(JsonlWriter(str(path), {"site": None, "sensor": "s", "run_id": "r"}))
    stream.finding(f)
    f.count += 1
    stream.tick([f])
    first, update = _records(path)
    assert update["update"] is True and update["finding_id"] == first["finding_id"] == f.finding_id
    assert update["run_id"] == "r"


def test_a_finding_lists_the_community_id_of_every_flow_it_covers(tmp_path: Path) -> None:
    recs = _scan(tmp_path, "a.jsonl", str(LEAKS), "--policy", str(POLICY), "--key", KEY)
    many = [r for r in recs if r["event_type"] == "finding" and len(r.get("community_ids", [])) > 1]
    assert many, "no finding covers several flows"
    for r in many:
        assert r["community_ids"][0] == r["community_id"] and len(set(r["community_ids"])) == len(r["community_ids"])


def test_community_ids_are_bounded_with_a_count_of_the_rest() -> None:
    reports = run_local([str(CAPTURES / "http_card_post.pcap")], ScanConfig((), None, bytes(16))).reports
    f = all_findings(reports)[0]
    for port in range(40000, 40100):
        f.covers_flow(port)
    f.covers_flow(40099)  # seen again: not counted twice
    rec = finding_record(f)
    assert len(rec["community_ids"]) == MAX_FLOWS_LISTED
    assert rec["community_ids_more"] == 100 + 1 - MAX_FLOWS_LISTED  # the first flow's port is listed too
    assert rec["community_ids"][1] == community_id(f.proto, f.src, 40000, f.dst, f.dport)
    assert not [e.message for e in _validator().iter_errors(rec)]


def test_diff_json_records_follow_the_schema(tmp_path: Path) -> None:
    base = tmp_path / "base.jsonl"
    main(["scan", str(CAPTURES / "dest_clean_store.pcap"), "--policy", str(POLICY), "--json", str(base),
          "--fail-on", "none", "-q"])
    out = tmp_path / "diff.jsonl"
    main(["diff", str(base), str(CAPTURES / "dest_card_unknown_host.pcap"), "--policy", str(POLICY),
          "--json", str(out), "-q", "--site", "store-9"])
    recs = _records(out)
    assert {r["diff"] for r in recs} >= {"new-finding", "new-destination"}
    assert all(r["event_type"] == "diff" and r["site"] == "store-9" for r in recs)
    assert [e.message for r in recs for e in _validator().iter_errors(r)] == []


def test_schema_command_prints_the_schema() -> None:
    run = subprocess.run([sys.executable, "-m", "netwatch", "schema"], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert run.returncode == 0 and run.stderr == ""
    schema = json.loads(run.stdout)
    Draft202012Validator.check_schema(schema)
    assert schema == json.loads(SCHEMA_PATH.read_text())


@pytest.mark.parametrize("kind", ["input", "destination", "system"])
def test_inventory_records_validate_alone(tmp_path: Path, kind: str) -> None:
    recs = _scan(tmp_path, "a.jsonl", str(CAPTURES / "outdated_posready_smb.pcap"), "--policy", str(POLICY))
    of_kind = [r for r in recs if r["event_type"] == kind]
    assert of_kind and all(len(json.dumps(r)) < 4096 for r in of_kind)
    assert [e.message for r in of_kind for e in _validator().iter_errors(r)] == []
