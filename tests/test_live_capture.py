"""Live capture on real interfaces with real sockets: loopback, and a veth pair into a namespace.

Both backends capture the same conversations at the same time (an HTTP POST with a test card
number, a TLS handshake, an FTP login) and must report the same masked findings; the capture each
wrote must re-scan to those findings too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from live_run import (
    KEY,
    REPO,
    backends,
    comparable,
    finish,
    leaked,
    load_jsonl,
    need_raw,
    rescan,
    same_findings,
    start_live,
)
from live_traffic import FTP_PASSWORD, MASKED_PAN, TEST_PAN, Servers, bpf_for, run_clients

pytestmark = pytest.mark.live
SECRETS = [TEST_PAN, FTP_PASSWORD]


def _credentials_rules() -> bool:
    """Whether a rule pack judges cleartext logins yet (issue 4 adds the analyzer and its rules)."""
    return any("category: credentials" in p.read_text() for p in (REPO / "rules").glob("*.yaml"))


def _check(findings: list[dict], ports: dict[str, int]) -> None:
    """What the three conversations must yield, whichever backend captured them."""
    cards = [f for f in findings if f["rule"] == "NW-CARD-001"]
    assert len(cards) == 1
    assert cards[0]["evidence"]["masked"] == MASKED_PAN
    assert cards[0]["dport"] == ports["http"] and cards[0]["app"] == "http"
    clear = {f["dport"]: f for f in findings if f["category"] == "cleartext"}
    assert clear[ports["http"]]["severity"] == "high"  # cleartext that carried a card
    assert ports["tls"] not in clear  # the TLS conversation is protected
    assert not [f for f in findings if f.get("dport") == ports["tls"] and f["category"] != "weak-tls"]
    ftp = [f for f in findings if f.get("dport") == ports["ftp"]]
    assert ftp, "the FTP login must be reported (cleartext, and credentials once that rule exists)"
    if _credentials_rules():
        assert any(f["category"] == "credentials" for f in ftp)


def _run_both(iface: str, host: str, ports: dict[str, int], tmp: Path, run: callable) -> dict[str, list[dict]]:
    """Capture with every backend at once while `run()` makes the traffic; check and return findings."""
    procs = {}
    for b in backends():
        procs[b] = start_live(["-i", iface, "--backend", b, "--bpf", bpf_for(ports), "--duration", "5",
                               "--json", str(tmp / f"{b}.jsonl"), "--write", str(tmp / f"{b}.pcapng"),
                               "--key", KEY])
    try:
        run()
    finally:
        results = {b: finish(p) for b, p in procs.items()}
    found = {}
    for b, (code, out, err) in results.items():
        assert code == 1, f"{b}: exit {code}: {err[-400:]}"  # a critical finding, default --fail-on high
        assert f"with {b}" in out and "stopped by --duration" in out, out[-600:]
        texts = [out, err, (tmp / f"{b}.jsonl").read_text(), (tmp / f"{b}.pcapng").name]
        has_secret = leaked(texts, SECRETS)
        assert not has_secret, f"{b}: a card number or password reached the output"
        findings = load_jsonl(tmp / f"{b}.jsonl")
        _check(findings, ports)
        again = rescan(tmp / f"{b}.pcapng", tmp / f"{b}.rescan.jsonl")
        assert comparable(again) == comparable(findings), f"{b}: the written capture re-scans differently"
        found[b] = findings
    if len(found) == 2:
        # each socket gets its own kernel timestamp on some paths (lo): allow a millisecond between them
        assert same_findings(found["scapy"], found["tshark"], ts_tolerance=0.001)
    return found


def test_loopback_both_backends_agree(tmp_path: Path) -> None:
    need_raw()
    servers = Servers("127.0.0.1")
    try:
        _run_both("lo", "127.0.0.1", servers.ports, tmp_path, lambda: run_clients("127.0.0.1", servers.ports))
    finally:
        servers.close()
    if shutil.which("capinfos"):  # Wireshark's own reader opens what we wrote
        r = subprocess.run(["capinfos", "-c", str(tmp_path / f"{backends()[0]}.pcapng")], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and "Number of packets" in r.stdout


@pytest.fixture
def veth(tmp_path: Path):
    """A veth pair: one end here, the other in a network namespace this test creates and removes."""
    need_raw()
    if not shutil.which("ip"):
        pytest.skip("iproute2 'ip' is not installed")
    tag = uuid.uuid4().hex[:6]
    ns, here, there = f"nwt-{tag}", f"nwa{tag}", f"nwb{tag}"
    net = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:4], 16)}"
    steps = [["ip", "netns", "add", ns], ["ip", "link", "add", here, "type", "veth", "peer", "name", there],
             ["ip", "link", "set", there, "netns", ns], ["ip", "addr", "add", f"{net}.1/30", "dev", here],
             ["ip", "link", "set", here, "up"], ["ip", "-n", ns, "addr", "add", f"{net}.2/30", "dev", there],
             ["ip", "-n", ns, "link", "set", there, "up"], ["ip", "-n", ns, "link", "set", "lo", "up"]]
    try:
        for cmd in steps:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            if r.returncode:
                pytest.skip(f"cannot create a veth pair in a network namespace here: {r.stderr.strip()}")
        yield ns, here, f"{net}.2"
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def test_veth_namespace_both_backends_agree(veth, tmp_path: Path) -> None:
    ns, iface, peer = veth
    server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(Path(__file__).with_name(
        "live_traffic.py")), "serve", peer], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        found = _run_both(iface, peer, ports, tmp_path, lambda: run_clients(peer, ports))
        assert all(f["dst"] == peer for fs in found.values() for f in fs if f.get("dport") in ports.values())
    finally:
        server.communicate(timeout=10)
