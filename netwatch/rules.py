"""Rules as data: load and validate YAML rule packs, match observations against them.

Conditions are a closed vocabulary compiled to closures (no eval): equality, one-of, not,
numeric comparisons, regex, CIDR, existence, all/any, and facts from the site policy
(`policy.dst_allowed`, `policy.src_pos`, …). Every error names the file, the rule id and the field.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwatch.analyzers import Observation
from netwatch.flows import Flow
from netwatch.policy import Policy
from netwatch.textinput import InputError, load_yaml, read_yaml_text

SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}  # lower is worse
CATEGORIES = ("card-data", "cleartext", "weak-tls", "credentials", "destination", "remote-access", "exfiltration")
ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
REQUIRED = ("id", "title", "category", "severity", "on")
KNOWN = set(REQUIRED) | {
    "when", "message", "remediation", "references", "enabled", "escalate", "group_by", "sum", "evidence",
    "description",
}
OVERRIDE_KEYS = {"id", "enabled", "severity"}
OPS = {"eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "regex", "cidr", "not_cidr", "exists"}

MISSING = object()
Getter = Callable[[str], Any]
Cond = Callable[[Getter], bool]

FLOW_FIELDS: dict[str, Callable[[Flow], Any]] = {
    "src": lambda f: f.src,
    "dst": lambda f: f.dst,
    "sport": lambda f: f.cport,
    "dport": lambda f: f.sport,
    "proto": lambda f: f.proto_name,
    "app": lambda f: f.app,
    "encrypted": lambda f: f.encrypted,
    "how": lambda f: f.how,
    "server_name": lambda f: f.server_name,
    "names": lambda f: list(f.names) or None,  # hostnames DNS answers tied to dst before the flow started
}


def _flow_names(flow: Flow) -> list[str]:
    names = list(flow.names)
    if flow.server_name and flow.server_name not in names:
        names.append(flow.server_name)
    return names


def policy_fact(policy: Policy | None, name: str, flow: Flow | None) -> Any:
    """Facts about a flow under the site policy; None when there is no policy (rules then stay quiet).

    dst_allowed: an allowed destination matches dst (by address, or by a DNS/SNI/Host name), port, app;
    allowed_as / matched_name: that destination's name and the hostname that matched (None by address);
    dst_resolver: dst is one of the store's resolvers; *_public: outside the internal networks and not
    multicast/broadcast/loopback/link-local.
    """
    if name == "present":
        return policy is not None
    if policy is None or flow is None:
        return None
    if name in ("dst_allowed", "allowed_as", "matched_name"):
        m = policy.match(flow.dst, flow.sport, _flow_names(flow), flow.app)
        if name == "dst_allowed":
            return m is not None
        if m is None:
            return None
        return m[0].name if name == "allowed_as" else m[1]
    if name == "dst_resolver":
        return policy.is_resolver(flow.dst, _flow_names(flow))
    if name == "src_pos":
        return policy.is_pos(flow.src)
    if name == "dst_pos":
        return policy.is_pos(flow.dst)
    if name == "src_internal":
        return policy.is_internal(flow.src)
    if name == "dst_internal":
        return policy.is_internal(flow.dst)
    if name == "src_public":
        return policy.is_public(flow.src)
    if name == "dst_public":
        return policy.is_public(flow.dst)
    return MISSING


POLICY_FACTS = {"present", "dst_allowed", "allowed_as", "matched_name", "dst_resolver", "src_pos", "dst_pos",
                "src_internal", "dst_internal", "src_public", "dst_public"}


class RuleError(Exception):
    """Invalid rule file; the message names file, rule id and field."""


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


# -- condition compiler -------------------------------------------------------------------------
def _compile(spec: Any, err: Callable[[str, str], RuleError], where: str) -> Cond:
    if not isinstance(spec, dict):
        raise err(where, "expected a mapping of field: condition (or all/any/not)")
    parts: list[Cond] = []
    for key, val in spec.items():
        key = str(key)
        if key in ("all", "any"):
            if not isinstance(val, list) or not val:
                raise err(f"{where}.{key}", "expected a non-empty list of conditions")
            subs = [_compile(v, err, f"{where}.{key}[{i}]") for i, v in enumerate(val)]
            parts.append(_all_of(subs) if key == "all" else _any_of(subs))
        elif key == "not":
            sub = _compile(val, err, f"{where}.not")
            parts.append(lambda g, sub=sub: not sub(g))
        else:
            if key.startswith("policy.") and key[7:] not in POLICY_FACTS:
                raise err(f"{where}.{key}", f"unknown policy fact (known: {', '.join(sorted(POLICY_FACTS))})")
            parts.append(_field_cond(key, val, err, f"{where}.{key}"))
    if len(parts) == 1:
        return parts[0]
    return _all_of(parts)


# Plain loops, not all()/any() over generators: conditions run for every observation.
def _all_of(conds: list[Cond]) -> Cond:
    def cond(g: Getter) -> bool:
        for c in conds:  # noqa: SIM110 - a loop, no generator per call
            if not c(g):
                return False
        return True
    return cond


def _any_of(conds: list[Cond]) -> Cond:
    def cond(g: Getter) -> bool:
        for c in conds:  # noqa: SIM110 - a loop, no generator per call
            if c(g):
                return True
        return False
    return cond


def _field_cond(name: str, val: Any, err: Callable[[str, str], RuleError], where: str) -> Cond:
    if isinstance(val, list):
        choices = list(val)
        return lambda g: g(name) in choices
    if not isinstance(val, dict):
        return lambda g: g(name) == val and g(name) is not MISSING
    tests: list[Callable[[Any], bool]] = []
    for op, arg in val.items():
        if op not in OPS:
            raise err(f"{where}.{op}", f"unknown operator (known: {', '.join(sorted(OPS))})")
        if op == "eq":
            tests.append(lambda v, a=arg: v == a)
        elif op == "ne":
            tests.append(lambda v, a=arg: v != a)
        elif op in ("in", "not_in"):
            if not isinstance(arg, list):
                raise err(f"{where}.{op}", "expected a list")
            tests.append((lambda v, a=arg: v in a) if op == "in" else (lambda v, a=arg: v not in a))
        elif op in ("gt", "ge", "lt", "le"):
            if not isinstance(arg, (int, float)) or isinstance(arg, bool):
                raise err(f"{where}.{op}", "expected a number")
            cmp = {"gt": lambda v, a: v > a, "ge": lambda v, a: v >= a, "lt": lambda v, a: v < a,
                   "le": lambda v, a: v <= a}[op]
            tests.append(lambda v, a=arg, c=cmp: isinstance(v, (int, float)) and c(v, a))
        elif op == "regex":
            try:
                rx = re.compile(str(arg))
            except re.error as e:
                raise err(f"{where}.regex", f"invalid regular expression: {e}") from None
            tests.append(lambda v, rx=rx: isinstance(v, str) and rx.search(v) is not None)
        elif op in ("cidr", "not_cidr"):
            nets = arg if isinstance(arg, list) else [arg]
            try:
                parsed = [ipaddress.ip_network(str(n), strict=False) for n in nets]
            except ValueError as e:
                raise err(f"{where}.{op}", str(e)) from None
            inside = lambda v, p=parsed: _in_nets(v, p)  # noqa: E731
            tests.append(inside if op == "cidr" else (lambda v, i=inside: v is not MISSING and not i(v)))
        elif op == "exists":
            tests.append(lambda v, a=bool(arg): (v is not MISSING and v is not None) == a)
    if len(tests) == 1:
        test = tests[0]
        return lambda g: test(g(name))

    def cond(g: Getter) -> bool:
        v = g(name)
        for t in tests:  # noqa: SIM110 - a loop, no generator per call
            if not t(v):
                return False
        return True
    return cond


def _in_nets(v: Any, nets: list) -> bool:
    try:
        a = ipaddress.ip_address(v)
    except (ValueError, TypeError):
        return False
    return any(a in n for n in nets)


# -- loading ------------------------------------------------------------------------------------
def _rule_from(doc: Any, path: str, index: int) -> Rule | dict:
    if isinstance(doc, dict) and True in doc and "on" not in doc:  # YAML 1.1 reads a bare `on:` as true
        doc = {("on" if k is True else k): v for k, v in doc.items()}
    rid = doc.get("id") if isinstance(doc, dict) else None
    label = f"rule {rid}" if rid else f"rule #{index + 1}"

    def err(fieldname: str, msg: str) -> RuleError:
        return RuleError(f"{path}: {label}: field '{fieldname}': {msg}")

    if not isinstance(doc, dict):
        raise RuleError(f"{path}: {label}: expected a mapping")
    unknown = set(doc) - KNOWN
    if unknown:
        f = sorted(unknown)[0]
        raise err(f, f"unknown field (known: {', '.join(sorted(KNOWN))})")
    if "id" not in doc:
        raise RuleError(f"{path}: {label}: missing field 'id'")
    if not isinstance(rid, str) or not ID_RE.match(rid):
        raise err("id", "expected an id like NW-CARD-001 (upper case, dash-separated)")
    if set(doc) <= OVERRIDE_KEYS:  # an override of an existing rule: enable/disable, re-grade
        if "severity" in doc and doc["severity"] not in SEVERITIES:
            raise err("severity", f"expected one of {', '.join(SEVERITIES)}")
        if "enabled" in doc and not isinstance(doc["enabled"], bool):
            raise err("enabled", "expected true or false")
        return dict(doc, file=path)
    for f in REQUIRED:
        if f not in doc:
            raise RuleError(f"{path}: {label}: missing field '{f}'")
    if doc["category"] not in CATEGORIES:
        raise err("category", f"expected one of {', '.join(CATEGORIES)}")
    if doc["severity"] not in SEVERITIES:
        raise err("severity", f"expected one of {', '.join(SEVERITIES)}")
    for f in ("title", "on"):
        if not isinstance(doc[f], str) or not doc[f].strip():
            raise err(f, "expected a non-empty string")
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
    except (ValueError, IndexError) as e:
        raise err("message", f"bad template: {e}") from None
    escalate = []
    esc = doc.get("escalate", [])
    if not isinstance(esc, list):
        raise err("escalate", "expected a list of {when, severity}")
    for i, e in enumerate(esc):
        if not isinstance(e, dict) or set(e) != {"when", "severity"}:
            raise err(f"escalate[{i}]", "expected a mapping with exactly 'when' and 'severity'")
        if e["severity"] not in SEVERITIES:
            raise err(f"escalate[{i}].severity", f"expected one of {', '.join(SEVERITIES)}")
        escalate.append((_compile(e["when"], err, f"escalate[{i}].when"), e["severity"]))
    when = _compile(doc["when"], err, "when") if doc.get("when") else (lambda g: True)
    return Rule(
        id=rid, title=doc["title"].strip(), category=doc["category"], severity=doc["severity"], on=doc["on"],
        when=when, message=msg, remediation=str(doc.get("remediation", "")).strip(), references=list(refs),
        enabled=doc.get("enabled", True), escalate=escalate, group_by=list(doc.get("group_by", [])),
        sum=list(doc.get("sum", [])), evidence=doc.get("evidence"), file=path,
        needs_policy=_needs_policy(doc.get("when")),
    )


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


class _AnyFields(dict):
    def __missing__(self, key: str) -> str:
        return ""


def load_rule_file(path: Path) -> list[Rule | dict]:
    p = str(path)
    try:
        doc = load_yaml(read_yaml_text(path, "rule"))
    except OSError as e:
        raise RuleError(f"{p}: cannot read rule file: {e.strerror}") from None
    except InputError as e:
        raise RuleError(e.at(p)) from None
    if doc is None:
        return []
    if isinstance(doc, dict) and "rules" in doc:
        doc = doc["rules"]
    if not isinstance(doc, list):
        raise RuleError(f"{p}: a rule file is a list of rules (or a mapping with a 'rules' list)")
    return [_rule_from(d, p, i) for i, d in enumerate(doc)]


def builtin_rules_dir() -> Path:
    """The bundled pack: installed as netwatch/_rules in a wheel, `rules/` in a source checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "_rules"
    if installed.is_dir() and any(installed.glob("*.yaml")):
        return installed
    return here.parent / "rules"


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
        self.by_kind: dict[str, list[Rule]] = {}
        self.by_kind_no_policy: dict[str, list[Rule]] = {}
        for r in rules:
            if r.enabled:
                self.by_kind.setdefault(r.on, []).append(r)
                if not r.needs_policy:
                    self.by_kind_no_policy.setdefault(r.on, []).append(r)

    @classmethod
    def load(cls, extra_dirs: list[str | Path] = (), builtin: bool = True) -> RuleSet:
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
        return cls(list(rules.values()))

    def match(self, obs: Observation, policy: Policy | None) -> list[tuple[Rule, str, Getter]]:
        """Rules that fire on an observation, each with its severity and the field getter used."""
        rules = (self.by_kind if policy is not None else self.by_kind_no_policy).get(obs.kind)
        if not rules:
            return []
        get = make_getter(obs, policy)
        out = []
        for r in rules:
            if r.when(get):
                out.append((r, r.severity_for(get), get))
        return out


def make_getter(obs: Observation, policy: Policy | None) -> Getter:
    fields = obs.fields
    flow = obs.flow

    def get(name: str) -> Any:
        if name in fields:
            return fields[name]
        if name.startswith("policy."):
            return policy_fact(policy, name[7:], flow)
        if flow is not None and name in FLOW_FIELDS:
            return FLOW_FIELDS[name](flow)
        return MISSING

    return get
