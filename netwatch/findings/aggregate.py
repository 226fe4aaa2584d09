"""Findings: a rule that matched, aggregated per rule/endpoints/evidence, masked and fingerprinted.

The Aggregator is where observations meet rules; it holds only masked evidence. Every
packet-derived value of a Finding (server name, evidence, message) is a `Redacted`: it passed
`netwatch.redaction.text.redact`, the one boundary that masks card data in any encoding and escapes control
characters, before any report, diff or live view can see it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from netwatch.events import Event
from netwatch.judge.conditions import MISSING, Getter
from netwatch.judge.policy import Policy
from netwatch.judge.rules import SEVERITY_RANK, Rule, RuleSet
from netwatch.packets.addresses import endpoint
from netwatch.redaction.masking import Fingerprinter
from netwatch.redaction.text import EMPTY, Clean, Redacted, redact, redact_value

JSON_ORDER = (
    "rule", "category", "severity", "title", "first_seen", "last_seen", "count", "src", "sport", "dst", "dport",
    "proto", "app", "server_name", "evidence", "remediation", "references", "source",
    "evidence_file", "evidence_packets", "evidence_redaction",
)
MAX_FLOWS = 8  # flows a finding names (by their first frame), for its evidence
FLOW_LEVEL = {"app", "server_name", "encrypted", "infra", "payload", "tcp"}  # top-level, not evidence
MAX_FLOWS_LISTED = 32  # flows (client ports) a finding lists for its Community IDs; the rest are counted


@dataclass
class Finding:
    """One aggregated finding; fields named as the JSON Lines contract names them.

    `src`/`sport` are the client's address and port, `dst`/`dport` the server's (inside, the flow
    facts call the ports client_port / server_port).
    """

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
    server_name: Redacted | None
    evidence: dict[str, Clean]
    remediation: str
    references: list[str]
    source: str
    message: Redacted = EMPTY
    first_packet: int | None = None  # packet numbers (1-based, as Wireshark counts) of the first and last evidence
    last_packet: int | None = None
    key: tuple[Any, ...] = field(default=(), repr=False)
    evidence_file: str | None = None  # redacted capture backing this finding (scan --evidence)
    evidence_packets: list[int] | None = None  # its packets' numbers in the original capture
    evidence_redaction: list[str] | None = None  # regions overwritten whole (e.g. a gzip body)
    finding_id: str | None = None  # keyed hash of rule, severity, endpoints and group values (Fingerprinter.finding_id)
    flows: list[int] = field(default_factory=list, repr=False)  # the flows it aggregated (first frame numbers)
    flow_sports: list[int] = field(default_factory=list, repr=False)  # client ports of the flows it covers, first first
    flows_unlisted: int = 0  # further distinct flows beyond MAX_FLOWS_LISTED
    _unlisted_ports: bytearray | None = field(default=None, repr=False)  # one bit per port, once past the list

    def covers_flow(self, sport: int | None) -> None:
        """Note a flow this finding covers (the endpoints, rule and group are the key; flows differ by the
        client's port): listed up to MAX_FLOWS_LISTED, then counted exactly in a 8 KiB bitmap."""
        if sport is None or sport in self.flow_sports:
            return
        if len(self.flow_sports) < MAX_FLOWS_LISTED:
            self.flow_sports.append(sport)
            return
        if self._unlisted_ports is None:
            self._unlisted_ports = bytearray(8192)
        at, bit = divmod(sport & 0xFFFF, 8)
        if not self._unlisted_ports[at] >> bit & 1:
            self._unlisted_ports[at] |= 1 << bit
            self.flows_unlisted += 1

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


class _Fmt(dict[str, str]):
    def __init__(self, get: Getter) -> None:
        super().__init__()
        self.get_ = get

    def __missing__(self, key: str) -> str:
        if "__" in key:  # `{dst}:{dport}` in a template: one endpoint, IPv6 in brackets
            addr, port = key.split("__", 1)
            a, p = self.get_(addr), self.get_(port)
            if a is MISSING or a is None:
                raise KeyError(key)
            return endpoint(str(a), None if p is MISSING else p)
        v = self.get_(key)
        if v is MISSING or v is None or v == "":
            raise KeyError(key)
        return str(v)


ENDPOINT = re.compile(r"\{([a-z_]+)\}:\{([a-z_]+)\}")
OPTIONAL = re.compile(r"\s*\([^()]*\)|\s+(?:over|for|to|from|at|into|of|via|with)\s+(?:[a-z]+\s+)?\{[a-z_.]+\}")


def render_message(template: str, get: Getter, fallback: str) -> str:
    """The rule's sentence from the event's own fields. A clause naming a field the event lacks
    (a parenthesised aside, or a short `over {app}`-style phrase) is left out, never shown as `?`;
    when a field the sentence cannot do without is missing, the rule's title stands in."""
    fmt = _Fmt(get)
    text = ENDPOINT.sub(r"{\1__\2}", template)
    for _ in range(8):  # bounded: each round drops one clause
        try:
            return text.format_map(fmt)
        except KeyError as e:
            missing = "{" + str(e.args[0]) + "}"
            clause = next((m for m in OPTIONAL.finditer(text) if missing in m.group()), None)
            if clause is None:
                return fallback
            text = text[: clause.start()] + text[clause.end():]
    return fallback


class Aggregator:
    """Turns matching observations into aggregated findings for one source."""

    def __init__(self, rules: RuleSet, policy: Policy | None, source: str,
                 fingerprint: Fingerprinter | None = None) -> None:
        self.rules = rules
        self.fingerprint = fingerprint  # the run's key: finding ids (none without it)
        self.policy = policy
        self.source = source
        self.findings: dict[tuple[Any, ...], Finding] = {}
        self.observations = 0
        self.packet: int | None = None  # the packet being processed, for events not tied to a flow's frames
        self.flow_numbers: set[int] = set()  # every flow some finding names: its evidence is kept

    def observe(self, event: Event) -> None:
        self.observations += 1
        for rule, severity, get in self.rules.match(event, self.policy):
            self._add(rule, severity, get, event)

    def _add(self, rule: Rule, severity: str, get: Getter, obs: Event) -> None:
        flow = obs.flow
        src, dst, dport, proto = flow.src, flow.dst, flow.server_port, flow.proto
        key = (rule.id, severity, src, dst, dport, proto) + tuple(str(get(g)) for g in rule.group_by)
        f = self.findings.get(key)
        packet = flow.frame or self.packet
        if f is not None:
            f.count += 1
            f.covers_flow(flow.client_port)
            f.first_seen = min(f.first_seen, obs.ts)
            f.last_seen = max(f.last_seen, obs.ts)
            if packet is not None:
                f.last_packet = max(f.last_packet or 0, packet)
            self._name_flow(f, flow.number)
            for s in rule.sum:
                v, old = get(s), f.evidence.get(s)
                if isinstance(v, (int, float)) and isinstance(old, (int, float)):
                    f.evidence[s] = old + v
            return
        names = rule.evidence if rule.evidence is not None else [k for k in obs.values() if k not in FLOW_LEVEL]
        evidence: dict[str, Clean] = {}
        for k in names:
            v = get(k)
            if v is not MISSING and v is not None:
                evidence[redact(k)] = redact_value(v)
        app = get("app")
        server_name = get("server_name")
        self.findings[key] = Finding(
            rule=rule.id, category=rule.category, severity=severity, title=rule.title, first_seen=obs.ts,
            last_seen=obs.ts, count=1, src=src, sport=flow.client_port, dst=dst,
            dport=dport, proto=proto, app=None if app is MISSING else app,
            server_name=None if server_name in (MISSING, None) else redact(str(server_name)), evidence=evidence,
            remediation=rule.remediation, references=list(rule.references), source=self.source,
            message=redact(render_message(rule.message, get, rule.title) if rule.message else rule.title),
            first_packet=packet, last_packet=packet, key=key,
            finding_id=self.fingerprint.finding_id(key) if self.fingerprint else None,
        )
        self.findings[key].covers_flow(flow.client_port)
        self._name_flow(self.findings[key], flow.number)

    def _name_flow(self, f: Finding, number: int) -> None:
        if number and len(f.flows) < MAX_FLOWS and number not in f.flows:
            f.flows.append(number)
            self.flow_numbers.add(number)

    def results(self) -> list[Finding]:
        return sort_findings(list(self.findings.values()))


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first, then by rule id and time: a stable order for reports and golden files."""
    return sorted(findings, key=lambda f: (f.rank, f.rule, f.first_seen, f.src or "", f.dst or "", f.dport or 0))
