"""The PCI DSS v4.0.1 view: the table beside the rules covers every built-in rule, each entry has its source;
the console, the JSON summary (`pci`: id and finding ids) and the HTML list requirements with findings and
those the traffic showed nothing against, and none of them claims compliance."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest

from netwatch.judge.pci import NOTHING_SEEN, load_pci, pci_view
from netwatch.judge.rules import RuleSet, builtin_rules_dir
from netwatch.judge.schema import RuleError
from netwatch.pipeline.runner import ScanConfig, run_local

ROOT = Path(__file__).resolve().parents[1]
CARD = str(ROOT / "captures" / "http_card_post.pcap")
KEY = "00" * 16


def test_every_builtin_rule_bears_on_a_requirement_and_every_pattern_on_a_rule() -> None:
    table = load_pci()
    rules = [r.id for r in RuleSet.load([]).rules]
    assert rules and [r for r in rules if not any(req.covers(r) for req in table)] == []
    for req in table:
        assert all(fnmatch.filter(rules, p) for p in req.rules), req.id
        assert req.source.startswith("PCI DSS v4.0.1") and "pcisecuritystandards.org" in req.source
        assert "cannot" in req.network_view  # each says what the network view cannot show
    ids = [req.id for req in table]
    assert len(ids) == len(set(ids)) and {"4.2.1", "1.3.2", "2.2.7", "8.3.2", "6.3.3", "12.3.4"} <= set(ids)
    assert (builtin_rules_dir() / "pci" / "pci.yaml").is_file()


def test_a_broken_table_is_a_one_line_rule_error(tmp_path: Path) -> None:
    bad = tmp_path / "pci.yaml"
    bad.write_text("requirements:\n  - {id: '4.2.1', title: x, rules: [], network_view: y, source: z}\n")
    with pytest.raises(RuleError, match="requirement #1"):
        load_pci(bad)


def test_summary_console_and_html_list_requirements_without_claiming_compliance(tmp_path: Path) -> None:
    out, html = tmp_path / "o.jsonl", tmp_path / "o.html"
    r = subprocess.run([sys.executable, "-m", "netwatch", "scan", CARD, "--key", KEY, "--json", str(out), "--html",
                        str(html), "--fail-on", "none", "--jobs", "1"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    summary = [json.loads(x) for x in out.read_text().splitlines()][-1]
    pci = {p["id"]: p for p in summary["pci"]}
    findings = run_local([CARD], ScanConfig((), None, bytes.fromhex(KEY))).reports[0].findings
    ids = {f.rule: f.finding_id for f in findings}
    assert pci["4.2.1"]["findings"] == sorted([ids["NW-CARD-001"], ids["NW-CLEAR-001"]])
    assert pci["4.2.1"]["status"] == "findings" and pci["4.2.1"]["worst"] == "critical"
    assert pci["2.2.5"]["findings"] == [ids["NW-CLEAR-001"]]
    assert pci["8.3.2"] == {"id": "8.3.2", "title": pci["8.3.2"]["title"], "status": NOTHING_SEEN, "findings": [],
                            "rules": [], "worst": None}
    assert "PCI DSS v4.0.1 requirements with findings against them" in r.stdout
    assert "Nothing seen against PCI DSS 1.3.1, 1.3.2" in r.stdout.replace("\n", " ")
    page = html.read_text(encoding="utf-8")
    section = page[page.index('<section id="pci">'):]
    section = section[:section.index("</section>")]
    assert "<b>4.2.1</b>" in section and "2 findings" in section and "nothing seen against it" in section
    assert "This is not a compliance assessment." in section
    for text in (r.stdout, out.read_text(), page):
        assert "compliant" not in text.lower() and "passed" not in text.lower()


def test_view_counts_wildcards_and_keeps_table_order() -> None:
    class F:
        def __init__(self, rule: str, severity: str, fid: str) -> None:
            self.rule, self.severity, self.finding_id = rule, severity, fid

    view = pci_view([F("NW-TLS-003", "medium", "b"), F("NW-TLS-006", "high", "a"), F("NW-OLD-001", "high", "c")])
    hit = {p["id"]: p for p in view if p["count"]}
    assert set(hit) == {"4.2.1", "6.3.3", "12.3.4"}
    assert hit["4.2.1"]["findings"] == ["a", "b"] and hit["4.2.1"]["worst"] == "high"
    assert [p["id"] for p in view] == [req.id for req in load_pci()]
