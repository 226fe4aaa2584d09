"""The HTML headline counts distinct cards by fingerprint across hosts, as the console and the JSON
do (a card two hosts sent is one card); device lines keep their words apart."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
POLICY = CAPTURES / "policies" / "store.yaml"


def _scan(tmp_path: Path, *args: str) -> tuple[str, list[dict], str]:
    html, jsonl = tmp_path / "r.html", tmp_path / "r.jsonl"
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", *args, "--html", str(html), "--json", str(jsonl),
                          "--fail-on", "none", "--jobs", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr[-500:]
    return html.read_text(), [json.loads(line) for line in jsonl.read_text().splitlines()], run.stdout


def test_headline_counts_a_card_sent_by_two_hosts_once(tmp_path: Path) -> None:
    # the same test card leaves 10.20.1.15 (http_card_post) and 10.20.1.21 (outdated_posready_smb)
    page, records, console = _scan(tmp_path, str(CAPTURES / "http_card_post.pcap"),
                                   str(CAPTURES / "outdated_posready_smb.pcap"))
    cards = [r for r in records if r.get("category") in ("card-data", "exfiltration")]
    distinct = {r["evidence"]["fingerprint"] for r in cards if r["evidence"].get("fingerprint")}
    hosts = {r["src"] for r in cards}
    summary = records[-1]
    assert len(hosts) == 2 and sum(c["cards"] for c in summary["cards"]) > len(distinct)  # per host, it counts twice
    headline = re.search(r'class="sentence">Card data exposed: (\d+) distinct cards? travelled unprotected from '
                         r"(\d+) devices?", page)
    assert headline and int(headline.group(1)) == len(distinct) and int(headline.group(2)) == len(hosts)
    assert f"Cards in cleartext: {len(distinct)} distinct" in console


def test_device_lines_keep_words_apart(tmp_path: Path) -> None:
    page, _, _ = _scan(tmp_path, str(CAPTURES / "dest_clean_store.pcap"), "--policy", str(POLICY))
    text = re.sub(r"<[^>]+>", "", page[page.index('id="glance"'):page.index('id="charts"')])
    assert "POS host no problem" in " ".join(text.split())
