"""The per-host software and OS inventory ("Systems seen"), built from `software` and `tls_hello`
events: host, product, version, where it was seen (protocol and flow), first and last seen; then
`judge` gives each entry its end-of-life verdict (`netwatch.judge.eol` table) and an `outdated` event.
Every packet-derived string passes `redact` when the entry is made.

Bounded (MAX_HOSTS hosts, MAX_PER_HOST entries each; the rest is counted as dropped). Shards and
files merge into one inventory, the earliest sighting naming the flow, so a sharded scan gives
the same inventory as one process.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from typing import Any

from netwatch.analyzers.software import HOSTNAME_ONLY
from netwatch.events import CardData, Event, FlowFacts, Outdated, Software, TlsHello
from netwatch.judge.eol import EolTable, comparable, load_eol
from netwatch.judge.policy import Policy
from netwatch.judge.rules import RuleSet, builtin_rules_dir
from netwatch.packets.addresses import DEFAULT_SITE
from netwatch.protocols.tls import VERSIONS
from netwatch.redaction.text import redact

MAX_HOSTS = 2048
MAX_PER_HOST = 32
MAX_NAMES = 4
MAX_CARD_SENDERS = 4096
OS_PRODUCTS = frozenset({"Windows", "Linux kernel"})  # one OS per host, whichever protocol or role showed it
TLS_CLIENT = "TLS client"
TLS_NAMES = frozenset(VERSIONS.values())  # tls1.2 and kin: versions, though not release numbers


@dataclass
class SystemEntry:
    """One product (and version) a host showed; `where` is the first flow it was seen in."""

    host: str
    role: str  # client, server, or os
    product: str
    version: str | None
    name: str
    protocol: str
    src: str
    sport: int
    dst: str
    dport: int
    proto: str
    app: str | None
    first_seen: float
    last_seen: float
    count: int = 1
    detail: str | None = None
    fingerprints: list[str] = field(default_factory=list)  # JA4 of TLS clients
    eol_status: str = "unknown"  # unknown, not listed, supported, end-of-life, backdoored (netwatch.judge.eol.judge)
    eol: str | None = None  # the end-of-life date (ISO) when the table has one
    eol_source: str | None = None
    flow_number: int = 0  # the first flow's first frame (names it for evidence; not in the JSON)
    flow_frame: int = 0  # the frame of that sighting

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.host, self.role, self.product, self.version)

    def absorb(self, other: SystemEntry) -> None:
        """Fold another sighting in: counts add up, the earliest sighting keeps naming the flow."""
        if (other.first_seen, other.src, other.dst) < (self.first_seen, self.src, self.dst):
            for k in ("protocol", "src", "sport", "dst", "dport", "proto", "app", "first_seen", "detail", "flow_number",
                      "flow_frame"):
                setattr(self, k, getattr(other, k))
        self.last_seen = max(self.last_seen, other.last_seen)
        self.count += other.count
        for fp in other.fingerprints:
            if fp not in self.fingerprints and len(self.fingerprints) < 4:
                self.fingerprints.append(fp)

    def to_json(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in ENTRY_FIELDS if f.name not in ("flow_number", "flow_frame")}
        row["first_seen"], row["last_seen"] = round(self.first_seen, 6), round(self.last_seen, 6)
        row["fingerprints"] = list(self.fingerprints)
        return row


ENTRY_FIELDS = fields(SystemEntry)


class SystemInventory:
    """Systems seen in one source (or merged over shards and files)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str, str | None], SystemEntry] = {}
        self.per_host: dict[str, int] = {}
        self.names: dict[str, list[str]] = {}
        self.card_senders: set[str] = set()
        self.dropped = 0

    def observe(self, obs: Event) -> None:
        """Take what an event says about a host (other kinds pass by)."""
        if isinstance(obs, Software):
            self._software(obs)
        elif isinstance(obs, TlsHello):
            self._tls(obs)
        elif isinstance(obs, CardData) and obs.confidence == "high":  # a possible card does not make a card sender
            f = obs.flow
            sender = f.dst if obs.direction == "to_client" else f.src
            if len(self.card_senders) < MAX_CARD_SENDERS:
                self.card_senders.add(sender)

    def _software(self, obs: Software) -> None:
        host = obs.host
        if obs.hostname:
            self.add_name(host, redact(obs.hostname))
        if obs.product == HOSTNAME_ONLY:
            return
        self.add(self._entry(obs, host, obs.role, obs.product, obs.version, obs.name, obs.protocol, obs.detail))

    def _tls(self, obs: TlsHello) -> None:
        version = obs.client_version
        f = obs.flow
        if not version:
            return
        cur = self.entries.get((f.src, "client", TLS_CLIENT, version))
        if cur is not None and obs.ts >= cur.first_seen:  # the common case, every handshake: count it
            cur.count += 1
            cur.last_seen = max(cur.last_seen, obs.ts)
            ja4 = obs.ja4
            if ja4 and ja4 not in cur.fingerprints and len(cur.fingerprints) < 4:
                cur.fingerprints.append(ja4)
            return
        e = self._entry(obs, f.src, "client", TLS_CLIENT, version, "TLS client (highest version offered)",
                        f.app or "tls", obs.sni)
        if obs.ja4:
            e.fingerprints.append(obs.ja4)
        self.add(e)

    @staticmethod
    def _entry(obs: Event, host: str, role: str, product: str, version: str | None, name: str,
               protocol: str, detail: str | None) -> SystemEntry:
        """An entry from one sighting; its packet-derived text passes `redact` here."""
        f = obs.flow
        return SystemEntry(host=host, role="os" if product in OS_PRODUCTS else role, product=redact(product),
                           version=None if version is None else redact(version), name=redact(name),
                           protocol=redact(protocol), src=f.src, sport=f.client_port, dst=f.dst,
                           dport=f.server_port, proto=f.proto, app=f.app, first_seen=obs.ts, last_seen=obs.ts,
                           detail=None if detail is None else redact(detail), flow_number=f.number, flow_frame=f.frame)

    def add_name(self, host: str, name: str) -> None:
        names = self.names.setdefault(host, []) if host in self.names or len(self.names) < MAX_HOSTS else None
        if names is not None and name not in names and len(names) < MAX_NAMES:
            names.append(name)

    def add(self, e: SystemEntry) -> None:
        """Add or fold in an entry; a Windows version without build folds into one with it."""
        e = self._same_os(e)
        cur = self.entries.get(e.key)
        if cur is not None:
            cur.absorb(e)
            return
        n = self.per_host.get(e.host, 0)
        if n >= MAX_PER_HOST or (n == 0 and len(self.per_host) >= MAX_HOSTS):
            self.dropped += 1
            return
        self.per_host[e.host] = n + 1
        self.entries[e.key] = e

    def _same_os(self, e: SystemEntry) -> SystemEntry:
        if e.role != "os" or e.version is None:
            return e
        for k, cur in list(self.entries.items()):
            if k[0] != e.host or k[1] != "os" or k[2] != e.product or cur.version is None:
                continue
            if e.version.startswith(cur.version + "."):  # the new one is more precise: it takes over
                del self.entries[k]
                self.per_host[e.host] -= 1
                e.absorb(cur)
                return e
            if cur.version.startswith(e.version + "."):
                e.version = cur.version
                return e
        return e

    def merge(self, other: SystemInventory) -> None:
        for e in sorted(other.entries.values(), key=lambda x: (x.first_seen, x.key[:3], str(x.version))):
            self.add(replace(e, fingerprints=list(e.fingerprints)))  # a copy (asdict's deep copy cost 0.1 s a fleet)
        for host, names in other.names.items():
            for n in names:
                self.add_name(host, n)
        self.card_senders |= set(list(other.card_senders)[: max(0, MAX_CARD_SENDERS - len(self.card_senders))])
        self.dropped += other.dropped

    def results(self) -> list[SystemEntry]:
        """Entries by host, then product and version."""
        return sorted(self.entries.values(), key=lambda e: (e.host, e.product, str(e.version), e.role))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready value: the entries, host names, which hosts sent card data, what was dropped."""
        return {
            "systems": [e.to_json() for e in self.results()],
            "host_names": {h: list(n) for h, n in sorted(self.names.items())},
            "card_senders": sorted(self.card_senders),
            "dropped": self.dropped,
        }


def merge_systems(parts: list[SystemInventory]) -> SystemInventory:
    """One inventory over shards or files."""
    out = SystemInventory()
    for p in parts:
        out.merge(p)
    return out


def _facts(e: SystemEntry) -> FlowFacts:
    """The flow the entry was first seen in, so findings and policy facts name it."""
    return FlowFacts(e.src, e.dst, e.sport, e.dport, e.proto, e.app, number=e.flow_number, frame=e.flow_frame)


def judge(inv: SystemInventory, table: EolTable, policy: Policy | None) -> list[Outdated]:
    """Set each entry's end-of-life status; an `outdated` event for each one past its date.

    Status: `unknown` (no release number to compare), `not listed` (no table entry matches),
    `supported` (an entry matches, its date is after the capture), `end-of-life`, `backdoored`."""
    out: list[Outdated] = []
    for e in inv.results():
        hit = table.lookup(e.product, e.version)
        if hit is None:  # no claim either way: the table has no entry for this version
            known = comparable(e.version) is not None or e.version in TLS_NAMES
            e.eol_status = "not listed" if known else "unknown"
            continue
        e.eol, e.eol_source = hit.eol.isoformat(), hit.source
        capture_day = dt.datetime.fromtimestamp(e.last_seen, dt.UTC).date()
        if hit.status != "backdoored" and hit.eol > capture_day:
            e.eol_status = "supported"
            continue
        e.eol_status = hit.status
        internal = (policy.networks() if policy is not None else DEFAULT_SITE).is_internal(e.host)
        out.append(Outdated(
            ts=e.first_seen, flow=_facts(e), host=e.host, role=e.role, product=e.product, version=e.version,
            name=hit.name, seen_in=e.protocol, eol=hit.eol.isoformat(), eol_source=hit.source, status=hit.status,
            eol_kind=hit.kind, host_store=internal, host_sends_cards=e.host in inv.card_senders,
            note=hit.note or None, ja4=e.fingerprints[0] if e.fingerprints else None,
        ))
    return out


def judge_systems(systems: SystemInventory, rules: RuleSet, policy: Policy | None) -> list[Outdated]:
    """`judge` under the rule set's own end-of-life table (the built-in one for a bare RuleSet)."""
    table = rules.eol if isinstance(rules.eol, EolTable) else load_eol([builtin_rules_dir()])
    return judge(systems, table, policy)
