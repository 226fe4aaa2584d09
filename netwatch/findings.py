"""Findings: a rule that matched, aggregated per rule/endpoints/evidence, masked and fingerprinted.

The Aggregator is where observations meet rules; it holds only masked evidence. As a last line of
defence every evidence string is scrubbed of anything that still looks like a full card number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from netwatch.analyzers import Observation
from netwatch.analyzers.cards import card_brand
from netwatch.masking import mask_pan
from netwatch.policy import Policy
from netwatch.rules import MISSING, SEVERITY_RANK, Getter, Rule, RuleSet

JSON_ORDER = (
    "rule", "category", "severity", "title", "first_seen", "last_seen", "count", "src", "sport", "dst", "dport",
    "proto", "app", "server_name", "evidence", "remediation", "references", "source",
    "evidence_file", "evidence_packets", "evidence_redaction",
)
FLOW_LEVEL = {"app", "server_name", "encrypted", "infra", "payload", "tcp"}  # top-level, not evidence
DIGIT_RUN = re.compile(r"(?<![0-9])[0-9][0-9 -]{11,30}[0-9](?![0-9])")


@dataclass
class Finding:
    rule: str
    category: str
    severity: str
    title: str
    first_seen: float
    last_seen: float
    count: int
    src: str | None
    sport: int | None
    dst: str | None
    dport: int | None
    proto: str | None
    app: str | None
    server_name: str | None
    evidence: dict[str, Any]
    remediation: str
    references: list[str]
    source: str
    message: str = ""
    key: tuple = field(default=(), repr=False)
    evidence_file: str | None = None  # redacted capture backing this finding (scan --evidence)
    evidence_packets: list[int] | None = None  # its packets' numbers in the original capture
    evidence_redaction: list[str] | None = None  # regions overwritten whole (e.g. a gzip body)

    def to_json(self) -> dict[str, Any]:
        """The JSON Lines record: contract fields in contract order, absent ones left out."""
        out: dict[str, Any] = {}
        for k in JSON_ORDER:
            v = getattr(self, k)
            if v is None or (k == "evidence" and not v):
                continue
            if k in ("first_seen", "last_seen"):
                v = round(v, 6)
            out[k] = v
        return out

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self.severity]


def scrub(value: Any) -> Any:
    """Mask any digit run inside a string that validates as a card number (defence in depth)."""
    if not isinstance(value, str) or not any(c.isdigit() for c in value):
        return value

    def repl(m: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", m.group())
        return mask_pan(digits) if card_brand(digits) else m.group()

    return DIGIT_RUN.sub(repl, value)


class _Fmt(dict):
    def __init__(self, get: Getter) -> None:
        super().__init__()
        self.get_ = get

    def __missing__(self, key: str) -> str:
        v = self.get_(key)
        return "?" if v is MISSING or v is None else str(v)


class Aggregator:
    """Turns matching observations into aggregated findings for one source."""

    def __init__(self, rules: RuleSet, policy: Policy | None, source: str) -> None:
        self.rules = rules
        self.policy = policy
        self.source = source
        self.findings: dict[tuple, Finding] = {}
        self.observations = 0

    def observe(self, obs: Observation) -> None:
        self.observations += 1
        for rule, severity, get in self.rules.match(obs, self.policy):
            self._add(rule, severity, get, obs)

    def _add(self, rule: Rule, severity: str, get: Getter, obs: Observation) -> None:
        flow = obs.flow
        src = flow.src if flow else obs.fields.get("src")
        dst = flow.dst if flow else obs.fields.get("dst")
        dport = flow.sport if flow else obs.fields.get("dport")
        proto = flow.proto_name if flow else obs.fields.get("proto")
        key = (rule.id, severity, src, dst, dport, proto) + tuple(str(get(g)) for g in rule.group_by)
        f = self.findings.get(key)
        if f is not None:
            f.count += 1
            f.first_seen = min(f.first_seen, obs.ts)
            f.last_seen = max(f.last_seen, obs.ts)
            for s in rule.sum:
                v = obs.fields.get(s)
                if isinstance(v, (int, float)) and isinstance(f.evidence.get(s), (int, float)):
                    f.evidence[s] += v
            return
        names = rule.evidence if rule.evidence is not None else [k for k in obs.fields if k not in FLOW_LEVEL]
        evidence = {}
        for k in names:
            v = get(k)
            if v is not MISSING and v is not None:
                evidence[k] = scrub(v) if not isinstance(v, list) else [scrub(x) for x in v]
        app = get("app")
        server_name = get("server_name")
        self.findings[key] = Finding(
            rule=rule.id, category=rule.category, severity=severity, title=rule.title, first_seen=obs.ts,
            last_seen=obs.ts, count=1, src=src, sport=flow.cport if flow else obs.fields.get("sport"), dst=dst,
            dport=dport, proto=proto, app=None if app is MISSING else app,
            server_name=None if server_name is MISSING else server_name, evidence=evidence,
            remediation=rule.remediation, references=list(rule.references), source=self.source,
            message=scrub(rule.message.format_map(_Fmt(get))) if rule.message else rule.title, key=key,
        )

    def results(self) -> list[Finding]:
        return sort_findings(list(self.findings.values()))


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first, then by rule id and time: a stable order for reports and golden files."""
    return sorted(findings, key=lambda f: (f.rank, f.rule, f.first_seen, f.src or "", f.dst or "", f.dport or 0))
