"""Rules engine: the condition vocabulary, validation errors (file, rule, field), user overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.events import Credentials, FlowFacts
from netwatch.judge.policy import policy_from_dict
from netwatch.judge.rules import RuleSet, load_rule_file
from netwatch.judge.schema import RuleError


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
  on: credentials
  when: {when}
  escalate:
    - when: {{password_length: {{ge: 10}}}}
      severity: high
"""


def _event(**fields: object) -> Credentials:
    """A real credentials event; `dst` goes to the flow facts, the rest to the event's own fields."""
    flow = FlowFacts(src="10.0.0.1", dst=str(fields.pop("dst", "192.0.2.1")), client_port=40000, server_port=21,
                     proto="tcp")
    own: dict = {"protocol": "ftp", "method": "USER/PASS", "secret": "cleartext", **fields}
    return Credentials(ts=0.0, flow=flow, **own)


def _ids(rs: RuleSet, policy=None, **fields) -> list[tuple[str, str]]:
    return [(r.id, sev) for r, sev, _ in rs.match(_event(**fields), policy)]


@pytest.mark.parametrize(
    ("when", "fields", "fires"),
    [
        ("{user: x}", {"user": "x"}, True),
        ("{user: x}", {"user": "y"}, False),
        ("{user: x}", {}, False),
        ("{user: [x, y]}", {"user": "y"}, True),
        ("{user: [x, y]}", {"user": "z"}, False),
        ("{password_length: {gt: 3, le: 5}}", {"password_length": 5}, True),
        ("{password_length: {gt: 3, le: 5}}", {"password_length": 6}, False),
        ("{password_length: {gt: 3}}", {}, False),
        ("{protocol: {regex: '^ab+c$'}}", {"protocol": "abbbc"}, True),
        ("{protocol: {regex: '^ab+c$'}}", {"protocol": "ac"}, False),
        ("{dst: {cidr: 10.0.0.0/8}}", {"dst": "10.1.2.3"}, True),
        ("{dst: {cidr: 10.0.0.0/8}}", {"dst": "11.1.2.3"}, False),
        ("{dst: {not_cidr: [10.0.0.0/8, '::1/128']}}", {"dst": "8.8.8.8"}, True),
        ("{password_length: {exists: true}}", {"password_length": 0}, True),
        ("{user: {exists: false}}", {}, True),
        ("{not: {user: x}}", {"user": "y"}, True),
        ("{any: [{user: x}, {method: y}]}", {"method": "y"}, True),
        ("{all: [{user: x}, {method: y}]}", {"user": "x", "method": "z"}, False),
        ("{user: {ne: x}}", {}, True),
    ],
)
def test_condition_vocabulary(tmp_path: Path, when: str, fields: dict, fires: bool) -> None:
    rs = _rules(tmp_path, RULE.format(when=when))
    assert bool(_ids(rs, **fields)) is fires


def test_escalation_raises_severity(tmp_path: Path) -> None:
    rs = _rules(tmp_path, RULE.format(when="{user: x}"))
    assert _ids(rs, user="x", password_length=3) == [("T-X-001", "low")]
    assert _ids(rs, user="x", password_length=12) == [("T-X-001", "high")]


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
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: credentials, when: {user: {regex: '('}}}",
         "field 'when.user.regex'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: credentials, when: {user: {like: 1}}}",
         "field 'when.user.like'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: credentials, when: {policy.bogus: 1}}",
         "unknown field 'policy.bogus' in when"),
        ("- {id: bad id, title: t, category: cleartext, severity: low, on: x}", "field 'id'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: credentials, colour: red}",
         "field 'colour'"),
        ("- {id: T-X-002, title: t, category: cleartext, severity: low, on: credentials, message: '{oops'}",
         "field 'message'"),
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
