"""The site policy: which hosts are POS, where they may talk. Loaded and validated from YAML.

Hostnames in the policy match through names the capture itself tied to a server address (DNS
answers, TLS SNI, HTTP Host); the flow carries those in `flow.names` / `flow.server_name`.
Errors name the file, the line where the YAML shows it, and the field.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netwatch.events import CardData, Event, FlowEnd, FlowFacts
from netwatch.judge.textinput import LOADER, InputError, compose_yaml, read_yaml_text
from netwatch.packets.addresses import DEFAULT_INTERNAL, Site

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

ADDR_CACHE = 4096  # per-policy memo of address classifications (flows repeat addresses)


class PolicyError(Exception):
    """Invalid policy file; the message names the file, the line where known, and the field."""


@dataclass
class Destination:
    name: str
    networks: list[Network] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)  # lower-case, may start with "*."
    ports: set[int] = field(default_factory=set)  # empty: any port
    apps: set[str] = field(default_factory=set)  # empty: any app

    def matches_host(self, ip: str, names: list[str]) -> tuple[bool, str | None]:
        """Whether the address or one of the names the capture showed for it is listed; the name used."""
        addr = _addr(ip)
        if addr is not None and any(addr in n for n in self.networks):
            return True, None
        for name in names:
            name = name.lower().rstrip(".")
            for pat in self.hostnames:
                if name == pat or (pat.startswith("*.") and fnmatch.fnmatchcase(name, pat)):
                    return True, name
        return False, None


@functools.lru_cache(maxsize=4096)  # flows repeat addresses; every policy check parses them
def _addr(ip: str) -> Address | None:
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


@dataclass
class Policy:
    path: str
    site: str = ""
    pos_hosts: list[Network] = field(default_factory=list)
    internal_networks: list[Network] = field(default_factory=list)
    allowed: list[Destination] = field(default_factory=list)
    allowed_resolvers: list[Network] = field(default_factory=list)
    _scope: dict[str, tuple[bool, bool, str]] = field(default_factory=dict, repr=False)
    _site: Site | None = field(default=None, repr=False)

    def _classify(self, ip: str) -> tuple[bool, bool, str]:
        """(pos, internal, scope) for an address; scope is internal, public or local (multicast…)."""
        hit = self._scope.get(ip)
        if hit is not None:
            return hit
        addr = _addr(ip)
        if addr is None:
            out = (False, False, "local")
        else:
            scope = self.networks().scope(ip)  # the one answer to "internal to the site?" (packets.addresses.Site)
            internal = scope == "internal"
            pos = any(addr in n for n in self.pos_hosts) if self.pos_hosts else internal
            out = (pos, internal, scope)
        if len(self._scope) >= ADDR_CACHE:
            self._scope.clear()
        self._scope[ip] = out
        return out

    def networks(self) -> Site:
        """The site's internal networks as the analyzers and reports see them (made on first use)."""
        if self._site is None:
            self._site = Site(self.internal_networks)
        return self._site

    def is_pos(self, ip: str) -> bool:
        """With no pos_hosts listed, every internal host counts as a POS host."""
        return self._classify(ip)[0]

    def is_internal(self, ip: str) -> bool:
        return self._classify(ip)[1]

    def is_public(self, ip: str) -> bool:
        """Outside the internal networks and not multicast, broadcast, loopback or link-local."""
        return self._classify(ip)[2] == "public"

    def is_resolver(self, ip: str, names: Sequence[str] = ()) -> bool:
        """The store's resolvers: `allowed_resolvers`, else the destinations allowed on port 53."""
        if self.allowed_resolvers:
            addr = _addr(ip)
            return addr is not None and any(addr in n for n in self.allowed_resolvers)
        return self.match(ip, 53, list(names)) is not None

    def match(self, ip: str, port: int, names: list[str],
              app: str | None = None) -> tuple[Destination, str | None] | None:
        """The first allowed destination matching host, port and app, with the name used (None: by address)."""
        for d in self.allowed:
            if d.ports and port not in d.ports:
                continue
            if d.apps and (app or "") not in d.apps:
                continue
            ok, name = d.matches_host(ip, names)
            if ok:
                return d, name
        return None

    def allows(self, ip: str, port: int, names: list[str], app: str | None = None) -> Destination | None:
        """The first allowed destination matching host, port and app, or None."""
        m = self.match(ip, port, names, app)
        return m[0] if m else None

    def scope(self, ip: str) -> str:
        """internal, public or local (multicast, broadcast, loopback, link-local) under this policy."""
        return self._classify(ip)[2]


# -- the verdict --------------------------------------------------------------------------------
NOT_POS = "(not from a POS host)"
LOCAL = "(local)"
LAN_INFRA = "(LAN infrastructure)"
RESOLVER = "resolver"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The site policy's one word on a flow; the rules' `policy.*` facts, the inventory and learn read it.

    The policy speaks for POS hosts, and for any host that sent card data (a host that sends card
    numbers is in card scope whatever `pos_hosts` lists). `allowed` is None when it does not judge
    the flow, else whether an allowed destination or an exemption covers it; `why` names which
    (the destination's name, `resolver`, `(local)`, `(LAN infrastructure)`) or why it is not judged.
    """

    src_pos: bool
    dst_pos: bool
    src_scope: str
    dst_scope: str
    entry: str | None  # the allowed destination that matched dst, port and app
    matched_name: str | None  # the hostname it matched by (None: by address)
    resolver: bool
    allowed: bool | None
    why: str | None

    def fact(self, name: str) -> bool | str | None:
        """A `policy.NAME` fact for rules (netwatch.events.fields.POLICY_FACTS)."""
        return _FACTS[name](self)


_FACTS: dict[str, Callable[[Verdict], bool | str | None]] = {
    "present": lambda v: True, "dst_allowed": lambda v: v.entry is not None, "allowed_as": lambda v: v.entry,
    "matched_name": lambda v: v.matched_name, "dst_resolver": lambda v: v.resolver, "src_pos": lambda v: v.src_pos,
    "dst_pos": lambda v: v.dst_pos, "src_internal": lambda v: v.src_scope == "internal",
    "dst_internal": lambda v: v.dst_scope == "internal", "src_public": lambda v: v.src_scope == "public",
    "dst_public": lambda v: v.dst_scope == "public",
}


def exemption(dst_scope: str, app: str | None, infra: bool, resolver: bool) -> tuple[bool, str | None]:
    """Traffic no destination entry is needed for: (exempt, label). DNS is judged by resolvers only."""
    if app == "dns":
        return resolver, RESOLVER if resolver else None
    if dst_scope == "local":
        return True, LOCAL
    if dst_scope == "internal" and infra:
        return True, LAN_INFRA
    return False, None


def judge(policy: Policy, flow: FlowFacts, infra: bool = False, cards: bool = False) -> Verdict:
    """The verdict on one flow (its facts as of an event); `cards`: the flow carried card data."""
    names = flow.all_names()
    m = policy.match(flow.dst, flow.server_port, names, flow.app)
    src_pos, _, src_scope = policy._classify(flow.src)
    dst_pos, _, dst_scope = policy._classify(flow.dst)
    resolver = policy.is_resolver(flow.dst, names)
    entry = m[0].name if m else None
    allowed: bool | None
    why: str | None
    if entry is not None:
        allowed, why = True, entry
    elif not (src_pos or cards):
        allowed, why = None, NOT_POS
    else:
        allowed, why = exemption(dst_scope, flow.app, infra, resolver)
    return Verdict(src_pos, dst_pos, src_scope, dst_scope, entry, m[1] if m else None, resolver, allowed, why)


def judge_event(policy: Policy, event: Event) -> Verdict:
    """The verdict on an event's flow: a flow end knows infra and its cards, card data is card data."""
    if isinstance(event, FlowEnd):
        return judge(policy, event.flow, event.infra, event.cards > 0)
    return judge(policy, event.flow, cards=isinstance(event, CardData))


# -- validation ---------------------------------------------------------------------------------
class _Where:
    """Formats error locations: file, line of the YAML node for a field path where known."""

    def __init__(self, path: str, lines: dict[tuple[Any, ...], int]) -> None:
        self.path = path
        self.lines = lines

    def error(self, keys: tuple[Any, ...], label: str, msg: str) -> PolicyError:
        line = None
        for n in range(len(keys), -1, -1):  # the field itself, else its nearest enclosing node
            line = self.lines.get(keys[:n])
            if line is not None:
                break
        loc = f"{self.path}:{line}" if line else self.path
        return PolicyError(f"{loc}: {label}: {msg}" if label else f"{loc}: {msg}")


Keys = tuple[Any, ...]  # a field path in a YAML document: ('allowed_destinations', 0, 'ports')


def node_lines(node: Any, keys: Keys = (), out: dict[Keys, int] | None = None) -> dict[Keys, int]:
    """Map field paths (('allowed_destinations', 0, 'ports'), …) to 1-based line numbers."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(keys, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = (*keys, str(k.value))
            out[key] = k.start_mark.line + 1
            node_lines(v, key, out)
            out[key] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            node_lines(v, (*keys, i), out)
    return out


def is_hostname(s: str) -> bool:
    """Dot-separated labels of ASCII letters, digits, '-' and '_' (a trailing dot allowed)."""
    s = s.rstrip(".")
    return bool(s) and len(s) <= 253 and all(
        part and part.isascii() and all(c.isalnum() or c in "-_" for c in part) for part in s.split("."))


def _networks(w: _Where, keys: tuple[Any, ...], values: Any) -> list[Network]:
    label = ".".join(map(str, keys))
    if not isinstance(values, list):
        raise w.error(keys, label, "expected a list of IP addresses or CIDRs")
    out = []
    for i, v in enumerate(values):
        try:
            out.append(ipaddress.ip_network(str(v), strict=False))
        except ValueError:
            raise w.error((*keys, i), label, f"{v!r} is not an IP address or CIDR") from None
    return out


def _hosts(w: _Where, keys: tuple[Any, ...], label: str, values: Any) -> tuple[list[Network], list[str]]:
    if not isinstance(values, list) or not values:
        raise w.error(keys, label, "expected a non-empty list of IPs, CIDRs or hostnames")
    nets, names = [], []
    for i, v in enumerate(values):
        s = str(v).strip()
        try:
            nets.append(ipaddress.ip_network(s, strict=False))
            continue
        except ValueError:
            pass
        if not is_hostname(s[2:] if s.startswith("*.") else s):
            raise w.error((*keys, i), label, f"{s!r} is not an IP, CIDR or hostname (wildcards only as '*.')")
        names.append(s.lower().rstrip("."))
    return nets, names


def _ports(w: _Where, keys: tuple[Any, ...], label: str, values: Any) -> set[int]:
    ok = isinstance(values, list) and all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in values)
    if not ok:
        raise w.error(keys, label, "expected a list of port numbers 1-65535")
    return set(values)


KNOWN_KEYS = {"site", "pos_hosts", "internal_networks", "allowed_destinations", "allowed_resolvers"}
DEST_KEYS = {"name", "hosts", "ports", "apps"}


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raises PolicyError naming file, line and field."""
    p = str(path)
    try:
        text = read_yaml_text(path, "policy")
    except OSError as e:
        raise PolicyError(f"{p}: cannot read policy file: {e.strerror}") from None
    except InputError as e:
        raise PolicyError(e.at(p)) from None
    return policy_from_text(text, p)


def policy_from_text(text: str, p: str = "<policy>") -> Policy:
    """Validate policy YAML text (no aliases, bounded nesting); `p` names it in errors."""
    try:
        node = compose_yaml(text)
        doc = yaml.load(text, Loader=LOADER)  # checked by compose_yaml already
    except InputError as e:
        raise PolicyError(e.at(p)) from None
    return policy_from_dict(doc, p, node_lines(node))


def policy_from_dict(doc: Any, p: str, lines: dict[tuple[Any, ...], int] | None = None) -> Policy:
    w = _Where(p, lines or {})
    if not isinstance(doc, dict):
        raise w.error((), "", f"a policy is a mapping with keys {', '.join(sorted(KNOWN_KEYS))}")
    unknown = sorted(str(k) for k in set(doc) - KNOWN_KEYS)
    if unknown:
        raise w.error((unknown[0],), unknown[0], f"unknown field (known: {', '.join(sorted(KNOWN_KEYS))})")
    site = doc.get("site")
    if site is not None and not isinstance(site, (str, int)):
        raise w.error(("site",), "site", "expected a name")
    pol = Policy(path=p, site=str(site or ""))
    pol.pos_hosts = _networks(w, ("pos_hosts",), doc.get("pos_hosts") or [])
    internal = doc.get("internal_networks")
    pol.internal_networks = _networks(w, ("internal_networks",), DEFAULT_INTERNAL if internal is None else internal)
    pol.allowed_resolvers = _networks(w, ("allowed_resolvers",), doc.get("allowed_resolvers") or [])
    dests = doc.get("allowed_destinations") or []
    if not isinstance(dests, list):
        raise w.error(("allowed_destinations",), "allowed_destinations", "expected a list")
    for i, d in enumerate(dests):
        keys = ("allowed_destinations", i)
        where = f"allowed_destinations[{i}]"
        if not isinstance(d, dict):
            raise w.error(keys, where, "expected a mapping with name, hosts, ports")
        if "name" in d:
            where = f"allowed_destinations[{i}] ({d['name']})"
        bad = sorted(str(k) for k in set(d) - DEST_KEYS)
        if bad:
            known = ", ".join(sorted(DEST_KEYS))
            raise w.error((*keys, bad[0]), f"{where}.{bad[0]}", f"unknown field (known: {known})")
        if "hosts" not in d:
            raise w.error(keys, where, "missing field 'hosts'")
        nets, names = _hosts(w, (*keys, "hosts"), f"{where}.hosts", d["hosts"])
        ports = _ports(w, (*keys, "ports"), f"{where}.ports", d["ports"]) if "ports" in d else set()
        apps = d.get("apps") or []
        if not isinstance(apps, list) or not all(isinstance(a, str) for a in apps):
            raise w.error((*keys, "apps"), f"{where}.apps", "expected a list of app names")
        pol.allowed.append(Destination(str(d.get("name", f"#{i}")), nets, names, ports, {a.lower() for a in apps}))
    return pol
