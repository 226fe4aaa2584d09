"""Rules are checked against the event registry at load: a rule that could never fire is refused.

Each case runs the real CLI (`netwatch scan --rules DIR`) and expects exit 2 with one line on stderr
naming file:line, the rule id and the field, with the closest valid name where one is near.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netwatch.events import KINDS
from netwatch.events.fields import fields_of
from netwatch.judge.rules import RuleSet, builtin_rules_dir, load_rule_file

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "captures" / "http_card_post.pcap"
HEAD = "- id: MY-001\n  title: test rule\n  category: cleartext\n  severity: low\n"

CASES = [
    ("on: card_dta\n", 5, "unknown kind 'card_dta' in on (did you mean 'card_data'?)"),
    ("on: card_data\n  when:\n    kind: pan\n    brnad: visa\n", 8,
     "unknown field 'brnad' in when (did you mean 'brand'?)"),
    ("on: flow_end\n  escalate:\n    - when: {any: [{crads: {gt: 0}}]}\n      severity: high\n", 7,
     "unknown field 'crads' in escalate[0].when (did you mean 'cards'?)"),
    ("on: card_data\n  message: '{brnd} sent to {dst}'\n", 6,
     "unknown field 'brnd' in message (did you mean 'brand'?)"),
    ("on: flow_end\n  group_by: [app]\n  sum:\n    - bytes_to_servr\n", 8,
     "unknown field 'bytes_to_servr' in sum (did you mean 'bytes_to_server'?)"),
    ("on: flow_end\n  group_by: [ap]\n", 6, "unknown field 'ap' in group_by (did you mean 'app'?)"),
    ("on: tls_hello\n  evidence: [cipher, sin]\n", 6, "unknown field 'sin' in evidence (did you mean 'sni'?)"),
    ("on: flow_end\n  when: {policy.src_poss: true}\n", 6,
     "unknown field 'policy.src_poss' in when (did you mean 'policy.src_pos'?)"),
    ("on: flow_end\n  when:\n    dport: https\n", 7, "field 'dport' in when: 'https' is not an integer"),
    ("on: flow_end\n  when:\n    cards: {gt: 0}\n    app: {cidr: 10.0.0.0/8}\n", 8,
     "field 'app' in when: 'cidr' needs an address field"),
    ("on: flow_end\n  when:\n    dst: {cidr: [10.0.0.0/8, not-a-net]}\n", 7, "field 'when.dst.cidr'"),
    ("on: flow_end\n  when:\n    dst: pay.example\n", 7, "field 'dst' in when: 'pay.example' is not an IP address"),
    ("on: flow_end\n  sum: [app]\n", 6, "field 'app' in sum: 'sum' needs a numeric field"),
    ("on: tls_hello\n  when: {encrypted: 'yes'}\n", 6, "field 'encrypted' in when: 'yes' is not true/false"),
]


def _scan(rules_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netwatch", "scan", str(CAPTURE), "--rules", str(rules_dir), "--no-progress", "-q",
         "--fail-on", "none"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(("body", "line", "expect"), CASES, ids=[c[2].split(":")[0][:40] for c in CASES])
def test_bad_rule_is_refused_with_file_line_rule_and_field(tmp_path: Path, body: str, line: int,
                                                           expect: str) -> None:
    (tmp_path / "x.yaml").write_text(HEAD + "  " + body)
    r = _scan(tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"x.yaml:{line}: rule MY-001: " in lines[0]
    assert expect in lines[0]
    assert "Traceback" not in r.stderr


def test_a_valid_rule_on_every_kind_of_field_loads_and_runs(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(
        HEAD + "  on: flow_end\n  when: {policy.src_pos: [true, null], dport: [80, 8080], cards: {ge: 0},\n"
        "         dst: {cidr: [192.0.2.0/24, '2001:db8::/32', 203.0.113.0/24, 198.51.100.0/24, 10.0.0.0/8]},\n"
        "         names: {exists: false}, app: {regex: '^ht'}}\n"
        "  sum: [bytes_to_server]\n  group_by: [app]\n  evidence: [how, cards]\n"
        "  message: '{app} from {src}:{sport} to {dst}:{dport}'\n")
    r = _scan(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_every_bundled_rule_validates_against_the_registry() -> None:
    files = sorted(builtin_rules_dir().glob("*.yaml"))
    assert files
    rules = [r for f in files for r in load_rule_file(f)]
    assert {r.on for r in rules if not isinstance(r, dict)} <= set(KINDS)
    assert len(RuleSet.load([]).rules) == len(rules)


def test_every_kind_has_documented_fields() -> None:
    for kind in KINDS:
        specs = fields_of(kind)
        assert {"src", "dst", "sport", "dport", "app"} <= set(specs)
        assert all(s.doc for s in specs.values()), kind
