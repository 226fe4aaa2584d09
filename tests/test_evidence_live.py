"""`live --evidence DIR` on the loopback interface: evidence from the in-memory frames, or from the
--write capture after stop; no card number or password in it, tshark reads it cleanly."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from live_run import KEY, finish, load_jsonl, need_raw, rescan, start_live
from live_traffic import FTP_PASSWORD, TEST_PAN, Servers, bpf_for, run_clients

TSHARK = shutil.which("tshark")
BAD = '_ws.malformed or tcp.checksum.status == "Bad" or ip.checksum.status == "Bad"'


@pytest.mark.live
@pytest.mark.parametrize("source", ["memory", "write"])
def test_live_evidence_is_redacted(source: str, tmp_path: Path) -> None:
    need_raw()
    servers = Servers("127.0.0.1")
    jsonl, ev = tmp_path / "live.jsonl", tmp_path / "evidence"
    extra = ["--write", str(tmp_path / "live.pcapng")] if source == "write" else []
    try:
        proc = start_live(["-i", "lo", "--backend", "scapy", "--bpf", bpf_for(servers.ports), "--duration", "60",
                           "--json", str(jsonl), "--evidence", str(ev), "--key", KEY, *extra])
        run_clients("127.0.0.1", servers.ports)
        code, _out, err = finish(proc, signal.SIGINT, timeout=30)
    finally:
        servers.close()
    assert code == 1 and "Traceback" not in err, err[-400:]
    findings = [f for f in load_jsonl(jsonl) if "rule" in f]  # live may write a finding more than once
    named = [f for f in findings if f.get("evidence_file")]
    assert any(f["rule"] == "NW-CARD-001" for f in named) and all(Path(f["evidence_file"]).exists() for f in named)
    files = sorted(ev.glob("*.pcap"))
    assert files
    for f in files:
        data = f.read_bytes()
        assert TEST_PAN.encode() not in data and FTP_PASSWORD.encode() not in data, f"{f.name} holds a secret"
        if TSHARK:
            bad = subprocess.run([TSHARK, "-r", str(f), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
                                  "-Y", BAD,
                                  "-T", "fields", "-e", "frame.number"], capture_output=True, text=True, timeout=60)
            assert bad.returncode == 0 and not bad.stdout.strip(), f"{f.name}: frames {bad.stdout.split()}"
    again = rescan(ev, tmp_path / "rescan.jsonl")
    assert not [r for r in again if r["category"] == "card-data"]
    assert any(r["rule"] == "NW-CLEAR-001" for r in again)
    if any(f["category"] == "credentials" for f in findings):  # the FTP login is still seen, masked
        assert any(r["category"] == "credentials" for r in again)
