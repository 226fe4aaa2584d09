"""Rules as data: load and validate YAML rule packs, match events against them.

Conditions (netwatch.judge.conditions) are a closed vocabulary compiled to closures; the kinds and
fields a rule names are checked against the event registry (netwatch.events) at load, and facts
under the site policy (`policy.dst_allowed`, …) come from the one verdict in netwatch.judge.policy.
Every error names the file and line, the rule id and the field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwatch.events import ATTR_OF, FLOW_FIELDS, Event, FlowFacts
from netwatch.judge.conditions import MISSING, Cond, Ctx, Fail, Getter, compile_condition
from netwatch.judge.policy import Policy, Verdict, judge_event, load_policy, node_lines
from netwatch.judge.schema import ID_RE, RuleError, Schema, template_fields, unknown_kind
from netwatch.judge.textinput import InputError, compose_yaml, load_yaml, read_yaml_text
from netwatch.judge.vocabulary import CATEGORIES as CATEGORIES  # re-exported: the rule schema's vocabularies
from netwatch.judge.vocabulary import SEVERITIES as SEVERITIES
from netwatch.judge.vocabulary import SEVERITY_RANK as SEVERITY_RANK

REQUIRED = ("id", "title", "category", "severity", "on")
KNOWN = set(REQUIRED) | {
    "when", "message", "remediation", "references", "enabled", "escalate", "group_by", "sum", "evidence",
    "description",
}
OVERRIDE_KEYS = {"id", "enabled", "severity"}


@dataclass
class Rule:
    id: str
    title: str
    category: str
    severity: str
    on: str
    when: Cond
    message: str = ""
    remediation: str = ""
    references: list[str] = field(default_factory=list)
    enabled: bool = True
    escalate: list[tuple[Cond, str]] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    sum: list[str] = field(default_factory=list)
    evidence: list[str] | None = None
    file: str = ""
    needs_policy: bool = False  # a top-level `policy.X: value` condition: can never hold without a policy

    def severity_for(self, get: Getter) -> str:
        for cond, sev in self.escalate:
            if cond(get):
                return sev
        return self.severity


# -- loading ------------------------------------------------------------------------------------
LineMap = Callable[[], dict[tuple[Any, ...], int]]  # YAML key paths → lines, computed only for an error


def _locator(path: str, label: str, line_map: LineMap, base: tuple[Any, ...]) -> Fail:
    """Errors as `file:line: rule ID: message`, the line of the YAML key (or its nearest parent)."""

    def fail(keys: tuple[Any, ...], msg: str) -> RuleError:
        full = (*base, *keys)
        lines = line_map()
        line = next((lines[full[:n]] for n in range(len(full), -1, -1) if full[:n] in lines), None)
        return RuleError(f"{path}:{line}: {label}: {msg}" if line else f"{path}: {label}: {msg}")

    return fail


def _rule_from(doc: Any, path: str, index: int, line_map: LineMap = dict,
               base: tuple[Any, ...] = ()) -> Rule | dict[str, Any]:
    if isinstance(doc, dict) and True in doc and "on" not in doc:  # YAML 1.1 reads a bare `on:` as true
        doc = {("on" if k is True else k): v for k, v in doc.items()}
    rid = doc.get("id") if isinstance(doc, dict) else None
    label = f"rule {rid}" if rid else f"rule #{index + 1}"
    fail = _locator(path, label, line_map, base)

    def err(fieldname: str, msg: str) -> Exception:
        return fail((fieldname.split(".")[0].split("[")[0],), f"field '{fieldname}': {msg}")

    if not isinstance(doc, dict):
        raise fail((), "expected a mapping")
    unknown = set(doc) - KNOWN
    if unknown:
        f = sorted(unknown)[0]
        raise err(f, f"unknown field (known: {', '.join(sorted(KNOWN))})")
    if "id" not in doc:
        raise fail((), "missing field 'id'")
    if not isinstance(rid, str) or not ID_RE.match(rid):
        raise err("id", "expected an id like NW-CARD-001 (upper case, dash-separated)")
    if set(doc) <= OVERRIDE_KEYS:  # an override of an existing rule: enable/disable, re-grade
        if "severity" in doc and doc["severity"] not in SEVERITIES:
            raise err("severity", f"expected one of {', '.join(SEVERITIES)}")
        if "enabled" in doc and not isinstance(doc["enabled"], bool):
            raise err("enabled", "expected true or false")
        return dict(doc, file=path)
    _check_shape(doc, fail, err)
    schema = Schema(doc["on"])
    _check_names(doc, schema, fail)
    escalate = []
    for i, e in enumerate(doc.get("escalate", [])):
        ctx = Ctx(fail, schema, f"escalate[{i}].when", f"escalate[{i}].when", ("escalate", i, "when"))
        escalate.append((compile_condition(e["when"], ctx), e["severity"]))
    ctx = Ctx(fail, schema, "when", "when", ("when",))
    when = compile_condition(doc["when"], ctx) if doc.get("when") else (lambda g: True)
    return Rule(
        id=rid, title=doc["title"].strip(), category=doc["category"], severity=doc["severity"], on=doc["on"],
        when=when, message=doc.get("message", ""), remediation=str(doc.get("remediation", "")).strip(),
        references=list(doc.get("references", [])), enabled=doc.get("enabled", True), escalate=escalate,
        group_by=list(doc.get("group_by", [])), sum=list(doc.get("sum", [])), evidence=doc.get("evidence"),
        file=path, needs_policy=_needs_policy(doc.get("when")),
    )


def _check_shape(doc: dict[str, Any], fail: Fail, err: Callable[[str, str], Exception]) -> None:
    """Required fields, their types, and the kind named by `on`."""
    for f in REQUIRED:
        if f not in doc:
            raise fail((), f"missing field '{f}'")
    if doc["category"] not in CATEGORIES:
        raise err("category", f"expected one of {', '.join(CATEGORIES)}")
    if doc["severity"] not in SEVERITIES:
        raise err("severity", f"expected one of {', '.join(SEVERITIES)}")
    for f in ("title", "on"):
        if not isinstance(doc[f], str) or not doc[f].strip():
            raise err(f, "expected a non-empty string")
    bad_kind = unknown_kind(doc["on"])
    if bad_kind:
        raise fail(("on",), bad_kind)
    refs = doc.get("references", [])
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise err("references", "expected a list of strings")
    for f in ("group_by", "sum", "evidence"):
        v = doc.get(f, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise err(f, "expected a list of field names")
    if "enabled" in doc and not isinstance(doc["enabled"], bool):
        raise err("enabled", "expected true or false")
    msg = doc.get("message", "")
    if not isinstance(msg, str):
        raise err("message", "expected a string")
    try:
        msg.format_map(_AnyFields())
    except (ValueError, IndexError, AttributeError) as exc:
        raise err("message", f"bad template: {exc}") from None
    esc = doc.get("escalate", [])
    if not isinstance(esc, list):
        raise err("escalate", "expected a list of {when, severity}")
    for i, e in enumerate(esc):
        if not isinstance(e, dict) or set(e) != {"when", "severity"}:
            raise err(f"escalate[{i}]", "expected a mapping with exactly 'when' and 'severity'")
        if e["severity"] not in SEVERITIES:
            raise err(f"escalate[{i}].severity", f"expected one of {', '.join(SEVERITIES)}")


def _check_names(doc: dict[str, Any], schema: Schema, fail: Fail) -> None:
    """Every field the message, group_by, sum and evidence name exists for the kind (sums are numbers)."""
    for name in template_fields(doc.get("message", "")):
        bad = schema.unknown(name, "message")
        if bad:
            raise fail(("message",), bad)
    for section in ("group_by", "sum", "evidence"):
        for i, name in enumerate(doc.get(section) or []):
            bad = schema.unknown(name, section)
            if bad is None and section == "sum":
                bad = schema.check(name, "sum", 0, section)
            if bad:
                raise fail((section, i), bad)


def _needs_policy(when: Any) -> bool:
    """True when the rule's own conditions require a policy fact to equal a concrete value.

    Without a policy every fact is None (or False for `policy.present`), so such a rule cannot
    match; the rule set skips it then instead of evaluating it on every observation.
    """
    if not isinstance(when, dict):
        return False
    for k, v in when.items():
        if not str(k).startswith("policy."):
            continue
        if k == "policy.present" and v is True:
            return True
        if k != "policy.present" and not isinstance(v, (dict, list)) and v is not None:
            return True
        if isinstance(v, list) and None not in v:
            return True
    return False


class _AnyFields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def load_rule_file(path: Path) -> list[Rule | dict[str, Any]]:
    p = str(path)
    try:
        text = read_yaml_text(path, "rule")
        doc = load_yaml(text)
    except OSError as e:
        raise RuleError(f"{p}: cannot read rule file: {e.strerror}") from None
    except InputError as e:
        raise RuleError(e.at(p)) from None
    if doc is None:
        return []
    base: tuple[Any, ...] = ()
    if isinstance(doc, dict) and "rules" in doc:
        doc, base = doc["rules"], ("rules",)
    if not isinstance(doc, list):
        raise RuleError(f"{p}: a rule file is a list of rules (or a mapping with a 'rules' list)")
    line_map = functools.cache(lambda: _yaml_lines(text))
    return [_rule_from(d, p, i, line_map, (*base, i)) for i, d in enumerate(doc)]


def _yaml_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Line numbers of the YAML keys, for errors (netwatch.judge.policy.node_lines); the pure-Python
    composer is slow, so this runs only when a rule is refused."""
    try:
        return node_lines(compose_yaml(text))
    except (InputError, ValueError):
        return {}


def builtin_rules_dir() -> Path:
    """The bundled pack: installed as netwatch/_rules in a wheel, `rules/` in a source checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_rules"
    if installed.is_dir() and any(installed.glob("*.yaml")):
        return installed
    return package.parent / "rules"


def _rule_files(d: Path) -> list[Path]:
    if not d.exists():
        raise RuleError(f"{d}: no such rules directory or file")
    if not d.is_dir():  # a file, or a device or FIFO: read up to the size cap
        return [d]
    return sorted(list(d.glob("*.yaml")) + list(d.glob("*.yml")))


class RuleSet:
    """All enabled rules, indexed by the observation kind they select."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.eol: Any = None  # netwatch.judge.eol.EolTable from the same directories (eol/), set by load()
        self.by_kind: dict[str, list[Rule]] = {}
        self.by_kind_no_policy: dict[str, list[Rule]] = {}
        for r in rules:
            if r.enabled:
                self.by_kind.setdefault(r.on, []).append(r)
                if not r.needs_policy:
                    self.by_kind_no_policy.setdefault(r.on, []).append(r)

    @classmethod
    def load(cls, extra_dirs: Sequence[str | Path] = (), builtin: bool = True) -> RuleSet:
        rules: dict[str, Rule] = {}
        dirs = ([builtin_rules_dir()] if builtin else []) + [Path(d) for d in extra_dirs]
        for d in dirs:
            for f in _rule_files(d):
                for r in load_rule_file(f):
                    if isinstance(r, dict):
                        base = rules.get(r["id"])
                        if base is None:
                            raise RuleError(f"{r['file']}: rule {r['id']}: overrides a rule that does not exist "
                                            "(a new rule needs title, category, severity, on)")
                        base.enabled = r.get("enabled", base.enabled)
                        base.severity = r.get("severity", base.severity)
                        if "severity" in r:
                            base.escalate = []  # a user re-grade is final
                    else:
                        if r.id in rules and rules[r.id].file == r.file:
                            raise RuleError(f"{r.file}: rule {r.id}: field 'id': duplicate id in the same file")
                        rules[r.id] = r
        from netwatch.judge.eol import load_eol  # the end-of-life table travels with the rules

        rs = cls(list(rules.values()))
        rs.eol = load_eol([d for d in dirs if d.is_dir()])
        return rs

    def match(self, event: Event, policy: Policy | None) -> list[tuple[Rule, str, Getter]]:
        """Rules that fire on an event, each with its severity and the field getter used."""
        rules = (self.by_kind if policy is not None else self.by_kind_no_policy).get(event.kind)
        if not rules:
            return []
        get = make_getter(event, policy)
        out = []
        for r in rules:
            if r.when(get):
                out.append((r, r.severity_for(get), get))
        return out


def make_getter(event: Event, policy: Policy | None) -> Getter:
    """Field values by rule name: the event's own fields, then `policy.*` facts, then flow facts."""
    attrs = ATTR_OF[type(event)]
    flow: FlowFacts = event.flow
    verdict: list[Verdict] = []  # judged once per event, on first use

    def get(name: str) -> Any:
        attr = attrs.get(name)
        if attr is not None:
            v = getattr(event, attr)
            return list(v) if isinstance(v, tuple) else v
        if name.startswith("policy."):
            if policy is None:
                return False if name == "policy.present" else None
            if not verdict:
                verdict.append(judge_event(policy, event))
            return verdict[0].fact(name[7:])
        fattr = FLOW_FIELDS.get(name)
        if fattr is not None:
            v = getattr(flow, fattr)
            return (list(v) or None) if isinstance(v, tuple) else v
        return MISSING

    return get


@functools.lru_cache(maxsize=4)
def load_rules_and_policy(rule_dirs: tuple[str, ...] = (), policy_path: str | None = None,
                          ) -> tuple[RuleSet, Policy | None]:
    """The one loader of a run's rules (built-in plus `rule_dirs`) and site policy, for every command
    and every worker; cached, so a worker loads them once for all its tasks. Errors raise RuleError or
    PolicyError naming file and line."""
    return RuleSet.load(list(rule_dirs)), load_policy(policy_path) if policy_path else None
