"""Rules engine: the condition vocabulary, validation errors (file, rule, field), user overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.analyzers import Observation
from netwatch.policy import policy_from_dict
from netwatch.rules import RuleError, RuleSet, load_rule_file


def _rules(tmp_path: Path, text: str, builtin: bool = False) -> RuleSet:
    d = tmp_path / "pack"
    d.mkdir(exist_ok=True)
    (d / "r.yaml").write_text(text)
    return RuleSet.load([d], builtin=builtin)


RULE = """
- id: T-X-001
  title: test
  category: cleartext
  severity: low
  on: thing
  when: {when}
  escalate:
    - when: {{n: {{ge: 10}}}}
      severity: high
"""


def _ids(rs: RuleSet, policy=None, **fields) -> list[tuple[str, str]]:
    return [(r.id, sev) for r, sev, _ in rs.match(Observation("thing", 0.0, None, fields), policy)]


@pytest.mark.parametrize(
    ("when", "fields", "fires"),
    [
        ("{a: x}", {"a": "x"}, True),
        ("{a: x}", {"a": "y"}, False),
        ("{a: x}", {}, False),
        ("{a: [x, y]}", {"a": "y"}, True),
        ("{a: [x, y]}", {"a": "z"}, False),
        ("{n: {gt: 3, le: 5}}", {"n": 5}, True),
        ("{n: {gt: 3, le: 5}}", {"n": 6}, False),
        ("{n: {gt: 3}}", {"n": "7"}, False),
        ("{s: {regex: '^ab+c$'}}", {"s": "abbbc"}, True),
        ("{s: {regex: '^ab+c$'}}", {"s": "ac"}, False),
        ("{ip: {cidr: 10.0.0.0/8}}", {"ip": "10.1.2.3"}, True),
        ("{ip: {cidr: 10.0.0.0/8}}", {"ip": "11.1.2.3"}, False),
        ("{ip: {not_cidr: [10.0.0.0/8, '::1/128']}}", {"ip": "8.8.8.8"}, True),
        ("{a: {exists: true}}", {"a": 0}, True),
        ("{a: {exists: false}}", {}, True),
        ("{not: {a: x}}", {"a": "y"}, True),
        ("{any: [{a: x}, {b: y}]}", {"b": "y"}, True),
        ("{all: [{a: x}, {b: y}]}", {"a": "x", "b": "z"}, False),
        ("{a: {ne: x}}", {}, True),
    ],
)
def test_condition_vocabulary(tmp_path: Path, when: str, fields: dict, fires: bool) -> None:
    rs = _rules(tmp_path, RULE.format(when=when))
    assert bool(_ids(rs, **fields)) is fires


def test_escalation_raises_severity(tmp_path: Path) -> None:
    rs = _rules(tmp_path, RULE.format(when="{a: x}"))
    assert _ids(rs, a="x", n=3) == [("T-X-001", "low")]
    assert _ids(rs, a="x", n=12) == [("T-X-001", "high")]


def test_policy_rule_is_quiet_without_policy_and_fires_with_one(tmp_path: Path) -> None:
    rs = _rules(tmp_path, RULE.format(when="{policy.present: true}"))
    assert rs.by_kind_no_policy == {}
    assert _ids(rs, None) == []
    pol = policy_from_dict({"site": "s"}, "p.yaml")
    assert _ids(rs, pol) == [("T-X-001", "low")]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("- {id: T-X-002, title: t, category: nope, severity: low, on: x}", "rule T-X-002: field 'category'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: dire, on: x}", "rule T-X-002: field 'severity'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low}", "rule T-X-002: missing field 'on'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: x, when: {a: {regex: '('}}}",
         "field 'when.a.regex'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: x, when: {a: {like: 1}}}",
         "field 'when.a.like'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: x, when: {policy.bogus: 1}}",
         "field 'when.policy.bogus'"),
        ("- {id: bad id, title: t, category: cleartext, severity: low, on: x}", "field 'id'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: x, colour: red}", "field 'colour'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: x, message: '{oops'}", "field 'message'"),
        ("- [unclosed", "not valid YAML"),
    ],
)
def test_invalid_rules_name_file_rule_and_field(tmp_path: Path, text: str, expect: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(RuleError) as e:
        load_rule_file(f)
    assert str(f) in str(e.value)
    assert expect in str(e.value)


def test_user_file_disables_and_regrades_builtin_rules(tmp_path: Path) -> None:
    base = RuleSet.load([])
    assert "NW-CLEAR-001" in {r.id for r in base.by_kind["flow_end"]}
    rs = _rules(tmp_path, "- {id: NW-CLEAR-001, enabled: false}\n- {id: NW-CARD-001, severity: low}\n", builtin=True)
    assert "NW-CLEAR-001" not in {r.id for r in rs.by_kind.get("flow_end", [])}
    card = next(r for r in rs.rules if r.id == "NW-CARD-001")
    assert card.severity == "low"


def test_override_of_unknown_rule_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="NW-NOPE-001.*does not exist"):
        _rules(tmp_path, "- {id: NW-NOPE-001, enabled: false}\n", builtin=True)


def test_builtin_pack_loads_and_uses_only_known_categories() -> None:
    rs = RuleSet.load([])
    assert len(rs.rules) >= 10
    assert all(r.remediation and r.references for r in rs.rules)
