"""Live from the first packet, and live says what it lost: a card sent 0.2 s after the capture
started (before the pipeline and the dashboard are up) is found; the capture's drop counts
(dumpcap's, the kernel's, netwatch's queue) reach the JSON input record and the summary, and a
loss is said in one line at the end."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from live_run import KEY, backends, finish, need_raw, start_live
from live_traffic import MASKED_PAN, Servers, bpf_for, run_clients

from netwatch.capture.live_dumpcap import dumpcap_drops
from netwatch.report.text import loss_text

# dumpcap 4.0's closing lines, as it writes them on stderr
DUMPCAP_LOSSY = ["Packets received/dropped on interface 'Loopback: lo': 100000/36512 "
                 "(pcap:36000/dumpcap:500/flushed:12/ps_ifdrop:0) (63.5%)"]
DUMPCAP_OLD = ["Packets received/dropped on interface 'eth0': 5000/7 (99.9%)"]


def test_dumpcap_drop_report_is_read_by_where() -> None:
    assert dumpcap_drops(DUMPCAP_LOSSY) == {"received": 100000, "kernel": 36000, "dumpcap": 512, "interface": 0}
    assert dumpcap_drops(DUMPCAP_OLD) == {"received": 5000, "kernel": 7}
    assert dumpcap_drops(DUMPCAP_LOSSY + DUMPCAP_OLD)["received"] == 105000  # several interfaces add up
    assert dumpcap_drops(["Capturing on 'lo'"]) == {}


def test_loss_is_one_sentence_with_where_and_how_much() -> None:
    drops = {**dumpcap_drops(DUMPCAP_LOSSY), "netwatch": 0}
    assert loss_text(drops, 63488) == "lost 36,512 of 100,000 packets (36.5%: kernel 36,000, dumpcap 512)"
    assert loss_text({"kernel": 0, "netwatch": 0}, 10) == ""
    assert loss_text({"kernel": 3}, 97) == "lost 3 of 100 packets (3.0%: kernel 3)"


@pytest.mark.live
@pytest.mark.parametrize("backend", backends())
def test_card_sent_right_after_start_is_found_and_drops_are_reported(backend: str, tmp_path: Path) -> None:
    need_raw()
    servers = Servers("127.0.0.1")
    jsonl = tmp_path / "live.jsonl"
    try:
        proc = start_live(["-i", "lo", "--backend", backend, "--bpf", bpf_for(servers.ports), "--duration", "60",
                           "--json", str(jsonl), "--key", KEY, "--fail-on", "none"])
        time.sleep(0.2)  # the pipeline is still importing; the capture already runs
        run_clients("127.0.0.1", servers.ports)
        code, out, err = finish(proc, signal.SIGINT, timeout=60)
    finally:
        servers.close()
    assert code == 0 and "Traceback" not in err, err[-400:]
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert any(r.get("rule") == "NW-CARD-001" and r["evidence"]["masked"] == MASKED_PAN for r in records)
    inputs = [r for r in records if r["event_type"] == "input"]
    assert len(inputs) == 1 and inputs[0]["drops"]["netwatch"] == 0
    assert inputs[0]["packets_lost"] == sum(v for k, v in inputs[0]["drops"].items() if k != "received")
    if backend == "tshark":
        assert {"kernel", "dumpcap", "interface", "received"} <= set(inputs[0]["drops"])
    assert records[-1]["stats"]["packets_lost"] == inputs[0]["packets_lost"]
    assert "drops: " in out  # the closing line names the losses (none, here)
    lost_line = [line for line in err.splitlines() if "before netwatch read them" in line]
    assert (inputs[0]["packets_lost"] > 0) == bool(lost_line)
