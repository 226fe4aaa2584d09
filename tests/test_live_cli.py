"""`netwatch live` and `netwatch interfaces` as a technician runs them: stopping, errors, output."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from live_run import KEY, REPO, backends, finish, leaked, load_jsonl, need_raw, rescan, same_findings, start_live
from live_traffic import FTP_PASSWORD, MASKED_PAN, TEST_PAN, Servers, bpf_for, run_clients
from rich.console import Console

from netwatch.capture.pcapfile import CaptureReader
from netwatch.findings.aggregate import Finding
from netwatch.pipeline.live import LiveStats
from netwatch.report.live import Dashboard


def _netwatch(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netwatch", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.live
@pytest.mark.parametrize("backend", backends())
def test_sigint_mid_capture_completes_everything(backend: str, tmp_path: Path) -> None:
    need_raw()
    servers = Servers("127.0.0.1")
    jsonl, pcap = tmp_path / "live.jsonl", tmp_path / "live.pcapng"
    try:
        proc = start_live(["-i", "lo", "--backend", backend, "--bpf", bpf_for(servers.ports), "--duration", "60",
                           "--json", str(jsonl), "--write", str(pcap), "--key", KEY])
        run_clients("127.0.0.1", servers.ports)
        code, out, err = finish(proc, signal.SIGINT, timeout=30)
    finally:
        servers.close()
    assert code == 1, err[-400:]  # Ctrl-C is the normal stop: exit by findings (a critical card finding)
    assert "Traceback" not in err
    assert "stopped by Ctrl-C/SIGTERM" in out and "Findings" in out  # the same summary as scan
    assert f"finding critical NW-CARD-001 visa card {MASKED_PAN}" in out  # plain log line: stdout is no TTY
    has_secret = leaked([out, err, jsonl.read_text()], [TEST_PAN, FTP_PASSWORD])
    assert not has_secret, "a card number or password reached the output"
    findings = load_jsonl(jsonl)
    assert any(f["rule"] == "NW-CARD-001" and f["evidence"]["masked"] == MASKED_PAN for f in findings)
    assert same_findings(rescan(pcap, tmp_path / "rescan.jsonl"), findings)


@pytest.mark.live
def test_count_stops_after_n_packets(tmp_path: Path) -> None:
    need_raw()
    servers = Servers("127.0.0.1")
    pcap = tmp_path / "five.pcapng"
    try:
        proc = start_live(["-i", "lo", "--backend", "scapy", "--bpf", bpf_for(servers.ports), "--count", "5",
                           "--duration", "30", "--write", str(pcap), "--fail-on", "none"])
        run_clients("127.0.0.1", servers.ports)
        code, out, err = finish(proc, timeout=30)
    finally:
        servers.close()
    assert code == 0, err[-400:]
    assert "stopped by --count" in out
    with CaptureReader(pcap) as r:
        frames = list(r)
    assert len(frames) == 5 and r.problem is None
    assert all(f.linktype == 1 for f in frames)  # lo delivers Ethernet framing on Linux


def test_no_such_interface_lists_the_available_ones() -> None:
    r = _netwatch("live", "-i", "nw-no-such0", "--duration", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no such interface: nw-no-such0; available:" in r.stderr and "lo" in r.stderr


def test_invalid_filter_says_why() -> None:
    r = _netwatch("live", "-i", "lo", "--backend", "scapy", "--bpf", "tcp port", "--duration", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "invalid capture filter 'tcp port'" in r.stderr and "syntax error" in r.stderr


@pytest.mark.live
@pytest.mark.skipif(not shutil.which("dumpcap"), reason="dumpcap (tshark) is not installed")
def test_invalid_filter_tshark_backend() -> None:
    need_raw()
    r = _netwatch("live", "-i", "lo", "--backend", "tshark", "--bpf", "port 99999999", "--duration", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "invalid capture filter 'port 99999999'" in r.stderr


def test_tshark_missing_says_how_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty PATH: no dumpcap to be found
    r = _netwatch("live", "-i", "lo", "--backend", "tshark", "--duration", "1", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "dumpcap" in r.stderr and "apt-get install tshark" in r.stderr


@pytest.mark.parametrize("backend", backends())
def test_no_permission_explains_the_fixes(backend: str) -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("dropping CAP_NET_RAW for a child needs root and setpriv")
    cmd = ["setpriv", "--inh-caps=-net_raw,-net_admin", "--bounding-set=-net_raw,-net_admin",
           sys.executable, "-m", "netwatch", "live", "-i", "lo", "--backend", backend, "--duration", "1"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    for hint in ("no permission", "sudo", "setcap cap_net_raw,cap_net_admin+eip", "wireshark"):
        assert hint in r.stderr


def test_bad_options_exit_2() -> None:
    for args in (["--duration", "-1"], ["--count", "zero"], ["--backend", "pcap"]):
        r = _netwatch("live", "-i", "lo", *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr


def test_interfaces_lists_loopback_with_counters() -> None:
    r = _netwatch("interfaces", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    lo = next(i for i in rows if i["name"] == "lo")
    assert lo["loopback"] and lo["linktype"] == 1 and "127.0.0.1" in lo["addresses"]
    assert isinstance(lo["rx_packets"], int)
    assert sum(i["likely"] for i in rows) <= 1 and not lo["likely"]
    table = _netwatch("interfaces")
    assert table.returncode == 0 and "lo" in table.stdout


def _finding(message: str) -> Finding:
    return Finding(rule="NW-CARD-001", category="card-data", severity="critical", title="Card number in cleartext",
                   first_seen=1.0, last_seen=2.0, count=3, src="10.0.0.1", sport=40000, dst="10.0.0.2", dport=80,
                   proto="tcp", app="http", server_name=None, evidence={"masked": MASKED_PAN}, remediation="",
                   references=[], source="live:lo", message=message)


def test_dashboard_draws_stats_and_escapes_packet_text() -> None:
    console = Console(record=True, force_terminal=True, width=160)
    dash = Dashboard(console, "capturing on lo with scapy")
    stats = LiveStats(iface="lo", backend="scapy", elapsed=65, packets=1200, bytes=90_000, pps=20.0, flows_active=3,
                      flows_seen=7, drops=0, protected=800, cleartext=200, talkers=[("10.0.0.1", 1000)],
                      findings=[_finding(f"visa card {MASKED_PAN} to [bold]evil\x1b[31m")])
    console.print(dash.render(stats))
    text = console.export_text()
    for part in ("00:01:05", "1,200", "protected 80% / cleartext 20%", "10.0.0.1", MASKED_PAN, "NW-CARD-001"):
        assert part in text
    assert "[bold]evil" in text and "\x1b[31m" not in text  # markup shown literally, escape neutralised


def test_dashboard_plain_lines_without_tty() -> None:
    console = Console(record=True, force_terminal=False, width=100)
    dash = Dashboard(console, "capturing on lo with tshark")
    dash.start()
    dash.finding(_finding(f"visa card {MASKED_PAN} sent in cleartext"))
    dash.update(LiveStats(iface="lo", backend="tshark", packets=10, stopping="signal"))
    dash.stop()
    lines = console.export_text().splitlines()
    assert len(lines) == 3 and "finding critical NW-CARD-001" in lines[1] and "stopping (signal)" in lines[2]


def test_dashboard_says_when_the_analysis_is_behind_the_capture() -> None:
    """After a burst the spool holds what is not analysed yet: the dashboard says how much, and not
    below a MiB (a spool always holds a little)."""
    console = Console(record=True, force_terminal=True, width=160)
    dash = Dashboard(console, "capturing on lo with tshark")
    behind = LiveStats(iface="lo", backend="tshark", packets=10, backlog=48_000_000)
    console.print(dash.render(behind))
    assert "48.0 MB to catch up" in console.export_text()
    assert "48.0 MB to catch up" in dash.status_line(behind)
    assert "catch up" not in dash.status_line(LiveStats(iface="lo", backend="tshark", packets=10, backlog=4096))
