"""`--log flow,tls,dns,http`: metadata records beside the findings (issue 24).

Each record type is checked on a bundled capture that carries that traffic, against tshark's
reading of the same capture (5-tuple, Community ID, packets and payload bytes per flow; DNS names
and answers; SNI, JA3 and certificate subject; HTTP method, Host and path). Every record of every
bundled capture validates against the schema; the HTTP records hold no card number, query value,
URL userinfo or Basic password; without --log nothing changes (the goldens cover the output).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from netwatch.cli import main
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session, merge_shards, scan_file
from netwatch.report.jsonl import SCHEMA_PATH
from netwatch.report.metadata import metadata_records

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
POLICY = CAPTURES / "policies" / "store.yaml"
SECRETS = CAPTURES / "log_http_secrets.pcap"
STATUS = CAPTURES / "log_http_status.pcap"
META = ("flow", "tls", "dns", "http")
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def _scenario() -> object:
    sys.path.insert(0, str(CAPTURES))
    try:
        import scenarios_metadata

        return scenarios_metadata
    finally:
        sys.path.remove(str(CAPTURES))


def _scan(tmp_path: Path, *args: str, name: str = "out.jsonl") -> list[dict]:
    out = tmp_path / name
    code = main(["scan", *args, "--json", str(out), "--fail-on", "none", "-q", "--jobs", "1"])
    assert code == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def _of(records: list[dict], kind: str) -> list[dict]:
    return [r for r in records if r["event_type"] == kind]


def _tshark(capture: Path, *fields: str, display: str | None = None, two_pass: bool = False) -> list[list[str]]:
    cmd = ["tshark", "-n", *(["-2"] if two_pass else []), "--enable-protocol", "communityid", "-r", str(capture),
           "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    if display:
        cmd += ["-Y", display]
    for f in fields:
        cmd += ["-e", f]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return [line.split("\t") for line in run.stdout.splitlines()]


def test_without_log_no_record_and_no_http_analyzer(tmp_path: Path) -> None:
    recs = _scan(tmp_path, str(SECRETS))
    assert not [r for r in recs if r["event_type"] in META]
    assert "log" not in recs[-1]  # the summary is as it was
    names = [a.name for a in Session(RuleSet.load(), None, "x").dispatcher.analyzers]
    assert "httpreq" not in names  # nothing extra runs without --log http
    logging = Session(RuleSet.load(), None, "x", log=frozenset({"http"}))
    assert "httpreq" in [a.name for a in logging.dispatcher.analyzers]


def test_log_names_all_and_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    every = _scan(tmp_path, str(SECRETS), "--log", "all", name="all.jsonl")
    listed = _scan(tmp_path, str(SECRETS), "--log", "http, DNS,flow,tls", name="listed.jsonl")
    assert [r["event_type"] for r in every] == [r["event_type"] for r in listed]
    assert every[-1]["log"] == {"flow": 7, "tls": 0, "dns": 1, "http": 6}
    only = _scan(tmp_path, str(SECRETS), "--log", "dns", name="dns.jsonl")
    assert {r["event_type"] for r in only} & set(META) == {"dns"} and only[-1]["log"] == {"dns": 1}
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["scan", str(SECRETS), "--log", "flow,conn", "-q"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'conn'" in err and "flow, tls, dns, http" in err
    main(["scan", str(SECRETS), "--log", "dns", "--fail-on", "none"])  # no --json: said in one line, nothing kept
    assert "without --json none are written" in capsys.readouterr().err


def test_log_from_netwatch_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "none"))
    (tmp_path / "netwatch.toml").write_text('log = ["http"]\n')
    recs = _scan(tmp_path, str(SECRETS))
    assert {r["event_type"] for r in recs} & set(META) == {"http"}
    assert {r["event_type"] for r in _scan(tmp_path, str(SECRETS), "--log", "flow", name="b")} & set(META) == {"flow"}
    (tmp_path / "netwatch.toml").write_text('log = ["flows"]\n')
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(SECRETS), "-q"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "'log'" in run.stderr and "flows" in run.stderr


@needs_tshark
def test_flow_records_match_tshark(tmp_path: Path) -> None:
    capture = CAPTURES / "log_http_secrets.pcap"
    flows = {(r["src"], r["sport"], r["dst"], r["dport"]): r for r in _of(_scan(tmp_path, str(capture), "--log",
                                                                                 "flow"), "flow")}
    rows = _tshark(capture, "ip.src", "tcp.srcport", "udp.srcport", "ip.dst", "tcp.dstport", "udp.dstport",
                   "tcp.len", "udp.length", "communityid")
    seen: dict[tuple, dict] = {}
    for src, tsp, usp, dst, tdp, udp_, tlen, ulen, cid in rows:
        sport, dport = int(tsp or usp), int(tdp or udp_)
        key = next((k for k in ((src, sport, dst, dport), (dst, dport, src, sport)) if k in flows), None)
        assert key is not None, "a flow tshark sees has no flow record"
        to_server = key[0] == src
        row = seen.setdefault(key, {"packets": 0, "bytes_to_server": 0, "bytes_to_client": 0, "cid": cid})
        row["packets"] += 1
        row["bytes_to_server" if to_server else "bytes_to_client"] += int(tlen) if tlen else max(int(ulen) - 8, 0)
    assert set(seen) == set(flows) and len(flows) == 7
    for key, want in seen.items():
        got = flows[key]
        assert (got["packets"], got["bytes_to_server"], got["bytes_to_client"]) == (
            want["packets"], want["bytes_to_server"], want["bytes_to_client"])
        assert got["community_id"] == want["cid"]
        assert got["protection"] == ("infrastructure" if got["app"] == "dns" else "cleartext")
    assert sorted(r["cards"] for r in flows.values()) == [0] * 5 + [1, 1]  # high confidence: pan= and /cards/…


@needs_tshark
def test_dns_records_match_tshark(tmp_path: Path) -> None:
    capture = CAPTURES / "dest_acquirer_dns.pcap"
    recs = _of(_scan(tmp_path, str(capture), "--log", "dns"), "dns")
    rows = _tshark(capture, "dns.qry.name", "dns.cname", "dns.a", "dns.flags.rcode", "communityid",
                   display="dns.flags.response == 1")
    assert len(recs) == len(rows) >= 1
    for rec, (qname, cnames, addrs, rcode, cid) in zip(recs, rows, strict=True):
        assert rec["qname"] == qname and rec["qtype"] == "A" and rec["rcode"] == int(rcode)
        assert rec["answers"] == [f"CNAME {c}" for c in cnames.split("|") if c] + [f"A {a}" for a in addrs.split("|")]
        assert rec["community_id"] == cid and rec["dport"] == 53


@needs_tshark
@pytest.mark.parametrize("name", ["dest_acquirer_sni", "protect_tls10_rc4", "cert_mail_starttls", "anydesk_lan"])
def test_tls_records_match_tshark(tmp_path: Path, name: str) -> None:
    capture = CAPTURES / f"{name}.pcap"
    recs = _of(_scan(tmp_path, str(capture), "--log", "tls"), "tls")
    hellos = _tshark(capture, "tls.handshake.extensions_server_name", "tls.handshake.ja3", "communityid",
                     display="tls.handshake.type == 1")
    servers = _tshark(capture, "tls.handshake.ja3s", display="tls.handshake.type == 2")
    assert len(recs) == len(hellos) >= 1
    from_server = " or ".join(f"tcp.srcport == {p}" for p in {r["dport"] for r in recs})
    certs = _tshark(capture, "x509sat.uTF8String", display=f"tls.handshake.type == 11 and ({from_server})")
    assert [(r.get("sni", ""), r["ja3"], r["community_id"]) for r in recs] == [tuple(h) for h in hellos]
    assert [r["ja3s"] for r in recs] == [s[0] for s in servers]
    subjects = [f"CN={row[0].split('|')[0]}" for row in certs]
    assert [r["certificate"]["subject"] for r in recs if "certificate" in r] == subjects
    assert all(r["certificate"]["chain_length"] >= 1 for r in recs if "certificate" in r)


@needs_tshark
def test_http_records_match_tshark_and_keep_no_secret(tmp_path: Path) -> None:
    recs = _scan(tmp_path, str(SECRETS), "--log", "all", "--key", "00" * 16)
    http = _of(recs, "http")
    rows = _tshark(SECRETS, "http.request.method", "http.host", "http.request.uri", "communityid",
                   display="http.request")
    assert len(http) == len(rows) == 6
    mod = _scenario()
    for rec, (method, host, uri, cid) in zip(http, rows, strict=True):
        assert (rec["method"], rec["host"], rec["community_id"]) == (method, host, cid)
        if uri.startswith("http://"):  # tshark keeps an absolute URL whole: ours is its path, no userinfo
            uri = "/" + uri.split("/", 3)[3]
        path, _, query = uri.split("#")[0].partition("?")
        masked = re.sub(r"\d{16}|\d{4}-\d{4}-\d{4}-\d{4}|(%3\d){16}", "#", path)
        assert re.sub(r"\d{6}\*{6}\d{4}|<pan:url:\d{6}\*{6}\d{4}>", "#", rec["path"]) == masked
        names = [p.split("=", 1)[0] + "=*" if "=" in p else "*" for p in query.split("&")] if query else None
        assert rec.get("query") == ("&".join(names) if names else None)
    assert [r["path"] for r in http][4:] == ["/orders", "/admin"]
    text = "\n".join(json.dumps(r) for r in recs)
    squeezed = re.sub(r"[\s\-]|%3", "", text)
    basic = base64.b64encode(f"clerk:{mod.PASSWORD['basic']}".encode()).decode()  # type: ignore[attr-defined]
    secrets = [*mod.CARD_NUMBERS, *mod.PASSWORDS, basic]  # type: ignore[attr-defined]
    assert not [i for i, s in enumerate(secrets) if s in text or s in squeezed]


def test_every_record_of_every_capture_follows_the_schema(tmp_path: Path) -> None:
    recs = _scan(tmp_path, str(CAPTURES), "--policy", str(POLICY), "--log", "all")
    validator = Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    bad = {r["event_type"] for r in recs for _ in validator.iter_errors(r)}
    assert not bad, f"records off the schema: {sorted(bad)}"
    summary = recs[-1]
    counts = {k: len(_of(recs, k)) for k in META}
    assert summary["log"] == counts and all(counts.values())
    assert counts["flow"] == summary["stats"]["flows"]  # one flow record per flow
    assert {r["policy"] for r in _of(recs, "flow")} >= {"allowed", "denied", "not judged"}
    first_input = next(i for i, r in enumerate(recs) if r["event_type"] == "input")
    assert all(i < first_input for i, r in enumerate(recs) if r["event_type"] in META)  # before the inventories
    findings = {c for r in _of(recs, "finding") for c in r.get("community_ids", [])}
    flows = {r.get("community_id") for r in _of(recs, "flow")}
    assert findings <= flows  # every finding's flows can be looked up in the flow records


def test_shards_give_the_records_one_process_gives() -> None:
    rules = RuleSet.load()
    path = str(CAPTURES / "leaks_every_channel.pcap")
    every = frozenset(META)
    whole = scan_file(path, rules, None, log=every)
    shards = merge_shards([scan_file(path, rules, None, shard=(k, 3), log=every) for k in range(3)], rules)

    def keyed(report: object) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for r in metadata_records([report]):  # type: ignore[list-item]
            out[r["event_type"]].append(json.dumps(r, sort_keys=True))
        return {k: sorted(v) for k, v in out.items()}

    assert keyed(shards) == keyed(whole) and len(keyed(whole)) == 4

    def ordered(report: object) -> list[str]:  # flow records of flows the capture's end closes tie
        return [json.dumps(r, sort_keys=True) for r in metadata_records([report])  # type: ignore[list-item]
                if r["event_type"] != "flow"]

    assert ordered(shards) == ordered(whole)  # interleaved as one process made them, not shard by shard
    assert all("_at" not in r for r in metadata_records([shards]))  # type: ignore[list-item]


def test_live_writes_each_record_as_it_is_made(tmp_path: Path) -> None:
    """The live pipeline (LiveRun over the capture's frames) with --log all: the records go out as they
    are made, before the summary, and are the records `scan` writes for the same frames."""
    from test_leaks_channels import _Replay

    from netwatch.cli.live import _record_writer
    from netwatch.pipeline.live import LiveRun, LiveSession
    from netwatch.report.jsonl import FindingStream, JsonlWriter
    from netwatch.report.records import closing_records

    out = tmp_path / "live.jsonl"
    stream = FindingStream(JsonlWriter(str(out), {"site": None, "sensor": "t", "run_id": "0" * 8 + "-0000-0000-0000-"
                                                  + "0" * 12}))
    session = LiveSession(RuleSet.load(), None, "live:replay", on_finding=stream.finding, log=frozenset(META),
                          on_record=_record_writer(stream))
    run = LiveRun(_Replay(SECRETS), session, duration=60)  # type: ignore[arg-type]
    assert run.run() == "source ended"
    written_before_stop = out.read_text().count('"event_type": "http"')
    report = run.finish()
    stream.finish(report.findings, closing_records([report], report.findings))
    live = [json.loads(line) for line in out.read_text().splitlines()]
    assert written_before_stop == 6 and live[-1]["log"]["http"] == 6 and live[-1]["log"]["dns"] == 1
    scanned = _scan(tmp_path, str(SECRETS), "--log", "all")

    def meta(recs: list[dict], kinds: tuple[str, ...]) -> list[str]:
        run = ("site", "sensor", "run_id")
        return sorted(json.dumps({k: v for k, v in r.items() if k not in run}, sort_keys=True)
                      for r in recs if r["event_type"] in kinds)

    assert meta(live, ("http", "dns")) == meta(scanned, ("http", "dns"))
    # live ends closed flows by wall-clock time, and these frames are from 2023: a flow's last ACK
    # may start a flow of its own, so the live side has every flow of the scan, perhaps a few more
    assert {r["community_id"] for r in _of(scanned, "flow")} == {r["community_id"] for r in _of(live, "flow")}
    assert len(_of(live, "flow")) == live[-1]["log"]["flow"] >= len(_of(scanned, "flow")) == 7


@pytest.mark.slow
def test_local_cluster_writes_the_records_one_process_writes(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    names = [str(CAPTURES / f"{n}.pcap") for n in ("log_http_secrets", "dest_acquirer_sni", "leaks_every_channel")]
    one = _scan(tmp_path, *names, "--log", "all", "--key", "00" * 16, name="one.jsonl")
    out = tmp_path / "two.jsonl"
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", *names, "--jobs", "2", "--log", "all", "--key",
                          "00" * 16, "--json", str(out), "--fail-on", "none", "-q", "--no-progress"],
                         capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert run.returncode == 0, run.stderr[-300:]
    two = [json.loads(line) for line in out.read_text().splitlines()]

    def meta(recs: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "run_id"} for r in recs if r["event_type"] in META]

    assert meta(two) == meta(one) and len(meta(one)) > 50  # input by input, in the same order
    assert two[-1]["log"] == one[-1]["log"]


def test_diff_reads_json_lines_with_metadata_records(tmp_path: Path) -> None:
    """`diff` compares findings, destinations and systems; the --log records are skipped, so a file
    with them diffs as the same file without them."""
    base, cur = str(CAPTURES / "leaks_every_channel.pcap"), str(SECRETS)
    for tag, extra in (("plain", []), ("log", ["--log", "all"])):
        _scan(tmp_path, base, *extra, "--key", "00" * 16, name=f"a-{tag}.jsonl")
        _scan(tmp_path, cur, *extra, "--key", "00" * 16, name=f"b-{tag}.jsonl")
        main(["diff", str(tmp_path / f"a-{tag}.jsonl"), str(tmp_path / f"b-{tag}.jsonl"), "--json",
              str(tmp_path / f"diff-{tag}.jsonl"), "--fail-on", "none"])

    def changes(tag: str) -> list[dict]:
        return [{k: v for k, v in json.loads(line).items() if k not in ("run_id", "timestamp")}
                for line in (tmp_path / f"diff-{tag}.jsonl").read_text().splitlines()]

    assert changes("log") == changes("plain") and len(changes("plain")) > 10


def test_a_rule_on_http_request_runs_the_analyzer_without_log(tmp_path: Path) -> None:
    """`http_request` is in the vocabulary: a site rule on it works with or without --log."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "connect.yaml").write_text(
        "- id: SITE-HTTP-001\n  title: HTTP CONNECT request\n  category: destination\n  severity: low\n"
        "  on: http_request\n  when: {method: CONNECT}\n  group_by: [host]\n  message: \"CONNECT to {host}\"\n"
        "  remediation: Check why this host tunnels through a proxy.\n  references: [PCI DSS 4.0 1.3.2]\n")
    recs = _scan(tmp_path, str(CAPTURES / "detect_proxies.pcap"), "--rules", str(rules))
    hits = [r for r in recs if r.get("rule") == "SITE-HTTP-001"]
    assert [h["message"] for h in hits] == ["CONNECT to 185.220.101.5:3389"]
    assert not [r for r in recs if r["event_type"] in META]


def test_hostile_lengths_stay_under_a_siem_line_limit() -> None:
    """Long TXT answers, names and certificate names are cut (after redaction): no record nears 10,000 bytes."""
    from netwatch.events import Dns, FlowEnd, FlowFacts, TlsCert, TlsHello
    from netwatch.pipeline.metalog import MetaLog
    from netwatch.report.metadata import metadata_record

    long = "pan 4111111111111111 " + "x" * 20_000  # the card is masked first, then the text is cut
    facts = FlowFacts("10.0.0.1", "10.0.0.2", 5000, 53, "udp", "dns", False, None, long, tuple([long] * 20))
    lines: list[str] = []
    log = MetaLog(META, sink=lambda raw: lines.append(json.dumps(metadata_record(raw))))
    log.observe(Dns(ts=1.0, flow=facts, qname=long, qtype="TXT", resolver="10.0.0.2", rcode=0,
                    answers=tuple(f"TXT {long}" for _ in range(8))))
    log.observe(FlowEnd(ts=2.0, flow=facts, app="dns"))
    log.observe(TlsHello(ts=1.5, flow=facts, sni=long, alpn=long))
    log.observe(TlsCert(ts=1.5, flow=facts, subject=long, issuer=long, self_signed=True, not_before="a",
                        not_after="b", key_type="rsa"))
    log.close()
    assert [json.loads(line)["event_type"] for line in lines] == ["dns", "flow", "tls"]
    assert max(len(line) for line in lines) < 6000
    assert "4111111111111111" not in "".join(lines)


@needs_tshark
@pytest.mark.parametrize("capture", ["log_http_status", "log_http_secrets", "login_url_secrets", "enc_h2c_upgrade"])
def test_http_status_is_the_answer_tshark_pairs_with_the_request(tmp_path: Path, capture: str) -> None:
    """HTTP/1.x: each record's status is the code of the response tshark pairs with that request
    (two passes: `http.response_in`), pipelined requests and an interim 100 Continue included; a
    request the capture never answered has none."""
    path = CAPTURES / f"{capture}.pcap"
    recs = _of(_scan(tmp_path, str(path), "--log", "http"), "http")
    ours = sorted((r["method"], r["path"], r.get("status")) for r in recs if r["version"] != "HTTP/2.0")
    codes = {frame: codes.split("|") for frame, codes in _tshark(path, "frame.number", "http.response.code",
                                                                 display="http.response", two_pass=True)}
    theirs, used = [], dict.fromkeys(codes, 0)
    for methods, uris, answers in _tshark(path, "http.request.method", "http.request.uri", "http.response_in",
                                          display="http.request", two_pass=True):
        sent = methods.split("|")  # requests pipelined in one frame, and the frames that answer them
        for method, uri, answer in zip(sent, uris.split("|"), answers.split("|") if answers else [""] * len(sent),
                                       strict=True):
            status = None
            if answer:
                status, used[answer] = int(codes[answer][used[answer]]), used[answer] + 1
            if "://" in uri:  # tshark keeps an absolute URL (any scheme) whole: ours is its path
                uri = "/" + uri.split("/", 3)[3]
            theirs.append((method, uri.split("?")[0].split("#")[0], status))
    masked = sorted((m, re.sub(r"\d{6}\*{6}\d{4}|<pan:url:\d{6}\*{6}\d{4}>", "#", p), s) for m, p, s in ours)
    assert masked == sorted((m, re.sub(r"\d{16}|\d{4}-\d{4}-\d{4}-\d{4}|(%3\d){16}", "#", p), s) for m, p, s in theirs)
    if capture == "log_http_status":
        assert ("GET", "/slow", None) in ours and ("POST", "/orders", 201) in ours  # not the interim 100


def test_http2_streams_are_answered_by_stream_not_in_order(tmp_path: Path) -> None:
    """HTTP/2 answers on the request's stream: stream 3 answered (503) before stream 1 (200); and the
    HTTP/1.1 request that asked for the h2c upgrade is answered by the 101."""
    recs = _of(_scan(tmp_path, str(STATUS), "--log", "http"), "http")
    h2 = {r["path"]: r.get("status") for r in recs if r["version"] == "HTTP/2.0"}
    assert h2 == {"/api/stock": 200, "/api/price": 503}
    upgrade = _of(_scan(tmp_path, str(CAPTURES / "enc_h2c_upgrade.pcap"), "--log", "http", name="up.jsonl"), "http")
    assert {(r["path"], r.get("status")) for r in upgrade} == {("/api/hello", 101), ("/api/pay", 200)}
