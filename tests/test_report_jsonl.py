"""The JSON Lines contract: schema-valid records, one summary, Community ID, messages, filters, stdin, pipes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import communityid
import pytest
from conftest import wait_until_reading
from jsonschema import Draft202012Validator

from netwatch.cli import main
from netwatch.report.jsonl import SCHEMA_PATH, FindingStream, JsonlWriter
from netwatch.report.records import community_id, finding_record

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
POLICY = CAPTURES / "policies" / "store.yaml"
CORPUS = ROOT.parent / "shared" / "corpus"
KEY = "00" * 16


def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _scan(tmp_path: Path, *args: str) -> tuple[int, list[dict]]:
    out = tmp_path / "out.jsonl"
    code = main(["scan", *args, "--json", str(out), "--key", KEY, "--fail-on", "high", "-q", "--jobs", "1"])
    return code, [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def all_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return _scan(tmp_path_factory.mktemp("all"), str(CAPTURES), "--policy", str(POLICY))[1]


def test_every_record_validates_and_one_summary_closes_the_file(all_records: list[dict]) -> None:
    v = _validator()
    bad = [(i, e.message[:120]) for i, rec in enumerate(all_records) for e in v.iter_errors(rec)]
    assert bad == []
    kinds = [r["event_type"] for r in all_records]
    assert kinds.count("summary") == 1 and kinds[-1] == "summary"
    assert kinds.count("finding") == all_records[-1]["findings"]["total"] > 20


def test_schema_rejects_what_the_contract_forbids(all_records: list[dict]) -> None:
    v = _validator()
    finding = next(r for r in all_records if r["event_type"] == "finding")
    assert v.is_valid(finding)
    assert not v.is_valid({**finding, "message": "snmp login for user ? sent"})
    assert not v.is_valid({**finding, "severity": "urgent"})
    assert not v.is_valid({k: val for k, val in finding.items() if k != "community_id"} | {"community_id": "x"})
    summary = all_records[-1]
    assert not v.is_valid({k: val for k, val in summary.items() if k != "destinations_total"})
    assert not v.is_valid({**finding, "run_id": "run-1"}) and not v.is_valid({**finding, "finding_id": "x"})
    destination = next(r for r in all_records if r["event_type"] == "destination")
    assert not v.is_valid({k: val for k, val in destination.items() if k != "protection"})


def test_inputs_destinations_and_systems_are_records_and_the_summary_counts_them(all_records: list[dict]) -> None:
    s = all_records[-1]
    inputs = [r for r in all_records if r["event_type"] == "input"]
    destinations = [r for r in all_records if r["event_type"] == "destination"]
    systems = [r for r in all_records if r["event_type"] == "system"]
    assert len(inputs) == s["stats"]["inputs"] == len(list(CAPTURES.glob("*.pcap")))
    truncated = next(i for i in inputs if i["name"].endswith("truncated_capture.pcap"))
    assert "problem" in truncated
    assert len(destinations) == s["destinations_total"] > 20 and len(systems) == s["systems_total"] > 5
    by_dst = {(d["dst"], d["dport"]): d for d in destinations}
    assert by_dst[("192.0.2.66", 80)]["policy"] == "denied"
    assert "collect.badhost.example" in by_dst[("192.0.2.66", 80)]["names"]
    assert any(d["policy"] == "allowed" and d["protected"] is True for d in destinations)
    assert {"dst", "dport", "proto", "app", "names", "protected", "policy", "clients", "flows", "bytes"} <= set(
        destinations[0])
    cards = {c["host"]: c["cards"] for c in s["cards"]}
    assert cards["10.20.1.15"] >= 5


def test_community_id_matches_the_reference_vectors() -> None:
    # vectors of the Community ID spec (also in Elasticsearch's community_id processor tests)
    assert community_id("tcp", "128.232.110.120", 34855, "66.35.250.204", 80) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    assert community_id("udp", "192.168.1.52", 54585, "8.8.8.8", 53) == "1:d/FP5EW3wiY1vCndhwleRRKHowQ="
    assert community_id("sctp", "192.168.170.56", 7, "192.168.170.8", 7) == "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="
    assert community_id("tcp", "2001:470:e5bf:dead:4957:2174:e82c:4887", 63943, "2607:f8b0:400c:c03::1a",
                        25) == "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="
    assert community_id("tcp", "66.35.250.204", 80, "128.232.110.120", 34855) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="


@pytest.mark.parametrize("proto,src,sport,dst,dport", [
    ("tcp", "10.0.0.9", 443, "10.0.0.9", 80),  # same address: the smaller port first
    ("udp", "10.0.0.9", 53, "10.0.0.9", 53),  # same endpoint both ways
    ("udp", "fe80::1", 5353, "ff02::fb", 5353),
    ("tcp", "::ffff:10.0.0.1", 1, "10.0.0.1", 2),  # a v4-mapped v6 address beside a v4 one
    ("sctp", "2001:db8::2", 65535, "2001:db8::1", 0),
    ("esp", "198.51.100.7", None, "203.0.113.5", None),  # no ports in the hash
    ("gre", "203.0.113.5", 0, "198.51.100.7", 0),
    ("esp", "2001:db8::1", None, "2001:db8::1", None),
])
def test_community_id_agrees_with_the_reference_package_both_ways(proto: str, src: str, sport: int | None,
                                                                    dst: str, dport: int | None) -> None:
    cid = communityid.CommunityID()
    num = {"tcp": 6, "udp": 17, "sctp": 132, "esp": 50, "gre": 47}[proto]
    ported = proto in ("tcp", "udp", "sctp")
    want = cid.calc(communityid.FlowTuple(num, src, dst, sport if ported else None, dport if ported else None))
    assert community_id(proto, src, sport, dst, dport) == want
    assert community_id(proto, dst, dport, src, sport) == want  # the same flow seen from the other side


def test_community_id_is_none_where_undefined() -> None:
    assert community_id("icmp", "10.0.0.1", None, "10.0.0.2", None) is None
    assert community_id("tcp", "10.0.0.1", None, "10.0.0.2", 80) is None
    assert community_id("tcp", "", 1, "10.0.0.2", 80) is None
    assert community_id("tcp", "not-an-address", 1, "10.0.0.2", 80) is None
    assert community_id("tcp", "10.0.0.1", 70000, "10.0.0.2", 80) is None


def test_finding_community_ids_agree_with_the_reference_package(all_records: list[dict]) -> None:
    cid = communityid.CommunityID()
    protos = {"tcp": communityid.PROTO_TCP, "udp": communityid.PROTO_UDP}
    checked = 0
    for r in all_records:
        if r["event_type"] != "finding" or r.get("proto") not in protos:
            continue
        tpl = communityid.FlowTuple(protos[r["proto"]], r["src"], r["dst"], r["sport"], r["dport"])
        assert r["community_id"] == cid.calc(tpl)
        checked += 1
    assert checked > 20


def test_finding_records_carry_time_flow_and_packet_numbers(all_records: list[dict]) -> None:
    card = next(r for r in all_records if r.get("rule") == "NW-CARD-001" and
                r["source"]["name"].endswith("http_card_post.pcap"))
    assert card["timestamp"] == "2023-11-14T22:13:20.040000Z" and card["first_seen"] == 1700000000.04
    assert card["source"]["first_packet"] == card["source"]["last_packet"] == 4  # SYN, SYN-ACK, ACK, POST
    same_flow = [r for r in all_records if r.get("community_id") == card["community_id"]]
    assert len({r["flow_id"] for r in same_flow}) == 1 and len(same_flow) >= 2


def _corpus_captures() -> list[Path]:
    return sorted(p for p in (CORPUS / "ndpi").glob("*.pcap*")) if (CORPUS / "ndpi").is_dir() else []


def test_messages_never_show_placeholders(all_records: list[dict], tmp_path: Path) -> None:
    records = list(all_records)
    corpus = _corpus_captures()
    if corpus:
        records += _scan(tmp_path, *map(str, corpus))[1]
    messages = [r["message"] for r in records if r["event_type"] == "finding"]
    assert messages
    assert [m for m in messages if " ? " in m or "(?)" in m or m.endswith("?") or "{" in m] == []
    snmp = [r for r in all_records if r.get("rule") == "NW-CRED-001" and r.get("app") == "snmp"]
    assert snmp and all("user" not in r["message"] and r["message"] != r["title"] for r in snmp)


def test_ipv6_endpoints_in_brackets(all_records: list[dict]) -> None:
    v6 = [r for r in all_records if r.get("rule") == "NW-CARD-001" and ":" in r["dst"]]
    assert v6 and all(f"[{r['dst']}]:{r['dport']}" in r["message"] for r in v6)


def test_filters_narrow_json_and_exit_code(tmp_path: Path) -> None:
    code, recs = _scan(tmp_path, str(CAPTURES / "http_card_post.pcap"), "--category", "cleartext")
    assert [r["rule"] for r in recs if r["event_type"] == "finding"] == ["NW-CLEAR-001"]
    assert recs[-1]["filters"] == {"category": ["cleartext"]} and code == 1
    code, recs = _scan(tmp_path, str(CAPTURES / "http_card_post.pcap"), "--rule", "nw-card-*")
    assert [r["rule"] for r in recs if r["event_type"] == "finding"] == ["NW-CARD-001"]
    code, recs = _scan(tmp_path, str(CAPTURES / "protect_ssh.pcap"), "--min-severity", "critical")
    assert [r for r in recs if r["event_type"] == "finding"] == [] and code == 0
    assert recs[-1]["stats"]["packets"] > 0  # statistics stay whole


def _nw(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netwatch", *args], cwd=ROOT, input=stdin, capture_output=True,
                          timeout=120)


def test_scan_reads_standard_input() -> None:
    data = (CAPTURES / "ipv6_card_post.pcap").read_bytes()
    piped = _nw("scan", "-", "--json", "-", "--key", KEY, stdin=data)
    direct = _nw("scan", str(CAPTURES / "ipv6_card_post.pcap"), "--json", "-", "--key", KEY)
    assert piped.returncode == direct.returncode == 1, piped.stderr[-300:]

    def findings(out: bytes) -> list[dict]:
        recs = [json.loads(line) for line in out.splitlines()]
        return [{k: v for k, v in r.items() if k not in ("source", "run_id")} for r in recs
                if r["event_type"] == "finding"]

    assert findings(piped.stdout) == findings(direct.stdout) != []
    bad = _nw("scan", "-", stdin=b"not a capture at all")
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_closed_output_pipe_exits_by_findings() -> None:
    cmd = f"{sys.executable} -m netwatch scan captures --json - --jobs 1 | head -c 10 >/dev/null; " \
          "echo rc=${PIPESTATUS[0]}"
    run = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.stdout.strip() == "rc=1", run.stderr[-500:]
    assert "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr


def test_stream_writes_as_it_goes_and_reopens_after_rotation(tmp_path: Path) -> None:
    from netwatch.pipeline.runner import ScanConfig, run_local
    from netwatch.pipeline.session import all_findings

    reports = run_local([str(CAPTURES / "http_card_post.pcap")], ScanConfig((), None, bytes(16))).reports
    f = all_findings(reports)[0]
    path = tmp_path / "live.jsonl"
    stream = FindingStream(JsonlWriter(str(path)))
    stream.finding(f)
    assert json.loads(path.read_text())["rule"] == f.rule  # flushed at once, before any stop
    path.rename(tmp_path / "live.jsonl.1")  # logrotate moves the file, then sends SIGHUP
    stream.hup = True
    f.count += 2
    stream.tick([f])
    stream.finish([f], [{"event_type": "summary"}])
    rotated = [json.loads(line) for line in (tmp_path / "live.jsonl.1").read_text().splitlines()]
    fresh = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rotated) == 1
    assert fresh[0]["update"] is True and fresh[0]["count"] == 3 and fresh[-1] == {"event_type": "summary"}
    assert fresh[0] | {"update": None, "count": None} == finding_record(f) | {"update": None, "count": None}


def _wait_for(path: Path, pred: object, limit: float = 20.0) -> list[dict]:
    """Records of `path` once `pred(records)` holds, polling for at most `limit` seconds."""
    import time

    deadline = time.monotonic() + limit
    recs: list[dict] = []
    while time.monotonic() < deadline:
        if path.exists():
            recs = [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
            if pred(recs):  # type: ignore[operator]
                return recs
        time.sleep(0.1)
    return recs


@pytest.mark.live
def test_live_json_is_written_as_it_goes_and_follows_rotation(tmp_path: Path) -> None:
    import signal

    from live_run import finish, need_raw, start_live
    from live_traffic import Servers, bpf_for, run_clients

    need_raw()
    servers = Servers("127.0.0.1")
    jsonl, rotated = tmp_path / "live.jsonl", tmp_path / "live.jsonl.1"
    try:
        proc = start_live(["-i", "lo", "--backend", "scapy", "--bpf", bpf_for(servers.ports), "--duration", "60",
                           "--json", str(jsonl), "--html", str(tmp_path / "live.html"), "--key", KEY, "-q"])
        run_clients("127.0.0.1", servers.ports)
        early = _wait_for(jsonl, lambda rs: any(r.get("rule") == "NW-CARD-001" for r in rs))
        assert any(r.get("rule") == "NW-CARD-001" for r in early), "no finding record while live was running"
        assert proc.poll() is None
        jsonl.rename(rotated)
        proc.send_signal(signal.SIGHUP)
        _wait_for(jsonl, lambda rs: jsonl.exists(), 10.0)
        assert jsonl.exists()  # reopened at the same path on the next tick
        run_clients("127.0.0.1", servers.ports)
        code, out, err = finish(proc, signal.SIGINT, timeout=30)
    finally:
        servers.close()
    assert code == 1 and "Traceback" not in err
    old = [json.loads(line) for line in rotated.read_text().splitlines()]
    new = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert all(r["event_type"] == "finding" for r in old)
    assert [r["event_type"] for r in new].count("summary") == 1 and new[-1]["event_type"] == "summary"
    v = _validator()
    assert [e.message for r in old + new for e in v.iter_errors(r)] == []
    page = (tmp_path / "live.html").read_text()
    assert "Card data exposed" in page and "live:lo" in page
    assert "4111111111111111" not in rotated.read_text() + jsonl.read_text() + page


@pytest.mark.slow
def test_sigterm_still_writes_the_summary(tmp_path: Path) -> None:
    import importlib.util
    import signal

    spec = importlib.util.spec_from_file_location("bench_scan", ROOT / "benchmarks" / "bench_scan.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    big, out = tmp_path / "big.pcap", tmp_path / "found.jsonl"
    bench.generate(big, 400_000, seed=5)
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", str(big), "--json", str(out), "-q"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_reading(proc.pid, big)
    assert proc.poll() is None, "the scan finished before it could be stopped; make the capture larger"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert recs[-1]["event_type"] == "summary" and recs[-1]["interrupted"] is True
    assert [r["event_type"] for r in recs].count("summary") == 1 and len(recs) > 1
