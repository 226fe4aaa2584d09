"""The per-host software and OS inventory ("Systems seen"), built from `software` and `tls_hello`
observations: host, product, version, where it was seen (protocol and flow), first and last seen.

Bounded (MAX_HOSTS hosts, MAX_PER_HOST entries each; the rest is counted as dropped). Shards and
files merge into one inventory, the earliest sighting naming the flow, so a sharded scan gives
the same inventory as one process. `netwatch.eol` fills in each entry's end-of-life verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from netwatch.analyzers import Observation
from netwatch.analyzers.software import HOSTNAME_ONLY

MAX_HOSTS = 2048
MAX_PER_HOST = 32
MAX_NAMES = 4
MAX_CARD_SENDERS = 4096
OS_PRODUCTS = frozenset({"Windows", "Linux kernel"})  # one OS per host, whichever protocol or role showed it
TLS_CLIENT = "TLS client"


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
    eol_status: str = "unknown"  # unknown, not listed, supported, end-of-life, backdoored (netwatch.eol.judge)
    eol: str | None = None  # the end-of-life date (ISO) when the table has one
    eol_source: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.host, self.role, self.product, self.version)

    def absorb(self, other: SystemEntry) -> None:
        """Fold another sighting in: counts add up, the earliest sighting keeps naming the flow."""
        if (other.first_seen, other.src, other.dst) < (self.first_seen, self.src, self.dst):
            for k in ("protocol", "src", "sport", "dst", "dport", "proto", "app", "first_seen", "detail"):
                setattr(self, k, getattr(other, k))
        self.last_seen = max(self.last_seen, other.last_seen)
        self.count += other.count
        for fp in other.fingerprints:
            if fp not in self.fingerprints and len(self.fingerprints) < 4:
                self.fingerprints.append(fp)

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 6) if k in ("first_seen", "last_seen") else v) for k, v in asdict(self).items()}


class SystemInventory:
    """Systems seen in one source (or merged over shards and files)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str, str | None], SystemEntry] = {}
        self.per_host: dict[str, int] = {}
        self.names: dict[str, list[str]] = {}
        self.card_senders: set[str] = set()
        self.dropped = 0

    def observe(self, obs: Observation) -> None:
        """Take what an observation says about a host (other kinds pass by)."""
        kind = obs.kind
        if kind == "software":
            self._software(obs)
        elif kind == "tls_hello":
            self._tls(obs)
        elif kind == "card_data" and obs.flow is not None:
            f = obs.flow
            sender = f.dst if obs.fields.get("direction") == "to_client" else f.src
            if len(self.card_senders) < MAX_CARD_SENDERS:
                self.card_senders.add(sender)

    def _software(self, obs: Observation) -> None:
        fl = obs.fields
        host = fl["host"]
        if fl.get("hostname"):
            self.add_name(host, fl["hostname"])
        if fl["product"] == HOSTNAME_ONLY:
            return
        self.add(self._entry(obs, host, fl["role"], fl["product"], fl.get("version"), fl["name"],
                             fl["protocol"], fl.get("detail")))

    def _tls(self, obs: Observation) -> None:
        fl = obs.fields
        version = fl.get("client_version")
        f = obs.flow
        if not version or f is None:
            return
        cur = self.entries.get((f.src, "client", TLS_CLIENT, version))
        if cur is not None and obs.ts >= cur.first_seen:  # the common case, every handshake: count it
            cur.count += 1
            cur.last_seen = max(cur.last_seen, obs.ts)
            ja4 = fl.get("ja4")
            if ja4 and ja4 not in cur.fingerprints and len(cur.fingerprints) < 4:
                cur.fingerprints.append(ja4)
            return
        e = self._entry(obs, f.src, "client", TLS_CLIENT, version, "TLS client (highest version offered)",
                        f.app or "tls", fl.get("sni"))
        if fl.get("ja4"):
            e.fingerprints.append(fl["ja4"])
        self.add(e)

    @staticmethod
    def _entry(obs: Observation, host: str, role: str, product: str, version: str | None, name: str,
               protocol: str, detail: str | None) -> SystemEntry:
        f = obs.flow
        assert f is not None
        return SystemEntry(host=host, role="os" if product in OS_PRODUCTS else role, product=product,
                           version=version, name=name, protocol=protocol, src=f.src, sport=f.cport, dst=f.dst,
                           dport=f.sport, proto=f.proto_name, app=f.app, first_seen=obs.ts, last_seen=obs.ts,
                           detail=detail)

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
            self.add(SystemEntry(**asdict(e)))
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
