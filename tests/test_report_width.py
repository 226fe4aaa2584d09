"""The console at any terminal width: no line wider than the terminal, and no address, endpoint or
masked card split across lines or cells (columns are dropped instead); plurals agree with counts;
the worst findings end the summary with their remediation, one line each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netwatch.report.text import plural

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
POLICY = CAPTURES / "policies" / "store.yaml"
INPUTS = [CAPTURES / "leaks_every_channel.pcap", CAPTURES / "outdated_posready_smb.pcap",
          CAPTURES / "ipv6_card_post.pcap", CAPTURES / "dest_card_unknown_host.pcap"]


def _run(width: int, tmp_path: Path, *inputs: Path) -> tuple[str, list[dict]]:
    out = tmp_path / f"w{width}.jsonl"
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", *map(str, inputs), "--policy", str(POLICY),
                          "--json", str(out), "--fail-on", "none", "--no-progress"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env=dict(os.environ, COLUMNS=str(width), LINES="50"))
    assert run.returncode == 0, run.stderr[-500:]
    return run.stdout, [json.loads(line) for line in out.read_text().splitlines()]


def _tokens(records: list[dict]) -> set[str]:
    """What must never be cut: addresses, endpoints and masked cards the run reported."""
    out: set[str] = set()
    for r in records:
        for k in ("src", "dst", "host"):
            if isinstance(r.get(k), str):
                out.add(r[k])
        masked = (r.get("evidence") or {}).get("masked")
        if isinstance(masked, str):
            out.add(masked)
    return {t for t in out if len(t) >= 8}


def _cut_tokens(text: str, tokens: set[str]) -> list[str]:
    """Tokens whose first half appears somewhere no whole token starts."""
    cut = []
    for t in tokens:
        half = t[: len(t) // 2 + 1]
        for m in re.finditer(re.escape(half), text):
            if not any(text.startswith(u, m.start()) for u in tokens if u.startswith(half)):
                cut.append(f"{t} at …{text[max(0, m.start() - 10):m.start() + len(t) + 2]!r}")
    return cut


@pytest.mark.parametrize("width", [60, 80, 100, 132])
def test_no_line_overflows_and_no_token_is_cut(tmp_path: Path, width: int) -> None:
    for inputs in ([INPUTS[0]], INPUTS):
        text, records = _run(width, tmp_path, *inputs)
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= width
        assert _cut_tokens(text, _tokens(records)) == []


def test_fix_first_lines_name_the_worst_rules_with_their_remediation(tmp_path: Path) -> None:
    text, records = _run(80, tmp_path, INPUTS[0])
    tail = text.split("Fix first", 1)[1].strip().splitlines()
    assert 1 <= len(tail) <= 3 and all(len(line) <= 80 for line in tail)
    assert tail[0].startswith("critical NW-") and "finding" in tail[0]
    rule = tail[0].split()[1]
    remediation = next(r["remediation"] for r in records if r.get("rule") == rule)
    assert tail[0].split("): ", 1)[1].rstrip(" …")[:20] == remediation[:20]


def test_plurals_agree_with_counts() -> None:
    assert plural(1, "flow") == "1 flow" and plural(2, "flow") == "2 flows" and plural(0, "resolver") == "0 resolvers"
    assert plural(1, "entry", "entries") == "1 entry" and plural(1200, "entry", "entries") == "1,200 entries"


def test_learn_says_one_resolver(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "netwatch", "learn", str(CAPTURES / "dest_clean_store.pcap"),
                          "-o", str(tmp_path / "p.yaml")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    counts = re.search(r": (\d+) allowed destinations?, (\d+) resolvers?;", run.stderr)
    assert counts, run.stderr
    for n, word in zip(counts.groups(), ("destination", "resolver"), strict=True):
        assert (f"{n} allowed {word}" if word == "destination" else f"{n} {word}") + ("" if n == "1" else "s") \
            in run.stderr
