"""The site policy: which hosts are POS, where they may talk. Loaded and validated from YAML.

Hostnames in the policy match through names the capture itself tied to a server address (DNS
answers, TLS SNI, HTTP Host); the flow carries those in `flow.names` / `flow.server_name`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_INTERNAL = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10", "169.254.0.0/16"]


class PolicyError(Exception):
    """Invalid policy file; the message names the file and the field."""


@dataclass
class Destination:
    name: str
    networks: list[Network] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)  # lower-case, may start with "*."
    ports: set[int] = field(default_factory=set)  # empty: any port
    apps: set[str] = field(default_factory=set)  # empty: any app

    def matches_host(self, ip: str, names: list[str]) -> tuple[bool, str | None]:
        addr = ipaddress.ip_address(ip)
        if any(addr in n for n in self.networks):
            return True, None
        for name in names:
            for pat in self.hostnames:
                if name == pat or (pat.startswith("*.") and fnmatch.fnmatchcase(name, pat)):
                    return True, name
        return False, None


@dataclass
class Policy:
    path: str
    site: str = ""
    pos_hosts: list[Network] = field(default_factory=list)
    internal_networks: list[Network] = field(default_factory=list)
    allowed: list[Destination] = field(default_factory=list)
    allowed_resolvers: list[Network] = field(default_factory=list)

    def is_pos(self, ip: str) -> bool:
        """With no pos_hosts listed, every internal host counts as a POS host."""
        addr = ipaddress.ip_address(ip)
        if not self.pos_hosts:
            return self.is_internal(ip)
        return any(addr in n for n in self.pos_hosts)

    def is_internal(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(addr in n for n in self.internal_networks)

    def allows(self, ip: str, port: int, names: list[str], app: str | None = None) -> Destination | None:
        """The first allowed destination matching host, port and app, or None."""
        for d in self.allowed:
            if d.ports and port not in d.ports:
                continue
            if d.apps and (app or "") not in d.apps:
                continue
            if d.matches_host(ip, names)[0]:
                return d
        return None


def _networks(path: str, where: str, values: Any) -> list[Network]:
    if not isinstance(values, list):
        raise PolicyError(f"{path}: {where}: expected a list of IP addresses or CIDRs")
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(str(v), strict=False))
        except ValueError:
            raise PolicyError(f"{path}: {where}: {v!r} is not an IP address or CIDR") from None
    return out


def _hosts(path: str, where: str, values: Any) -> tuple[list[Network], list[str]]:
    if not isinstance(values, list) or not values:
        raise PolicyError(f"{path}: {where}: expected a non-empty list of IPs, CIDRs or hostnames")
    nets, names = [], []
    for v in values:
        s = str(v).strip()
        try:
            nets.append(ipaddress.ip_network(s, strict=False))
            continue
        except ValueError:
            pass
        label = s[2:] if s.startswith("*.") else s
        if not label or any(not part or not all(c.isalnum() or c in "-_" for c in part) for part in label.split(".")):
            raise PolicyError(f"{path}: {where}: {s!r} is not an IP, CIDR or hostname")
        names.append(s.lower().rstrip("."))
    return nets, names


def _ports(path: str, where: str, values: Any) -> set[int]:
    if not isinstance(values, list) or not all(isinstance(p, int) and 0 < p < 65536 for p in values):
        raise PolicyError(f"{path}: {where}: expected a list of port numbers 1-65535")
    return set(values)


KNOWN_KEYS = {"site", "pos_hosts", "internal_networks", "allowed_destinations", "allowed_resolvers"}
DEST_KEYS = {"name", "hosts", "ports", "apps"}


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raises PolicyError naming file and field."""
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{p}: cannot read policy file: {e.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PolicyError(f"{p}:{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    return policy_from_dict(doc, p)


def policy_from_dict(doc: Any, p: str) -> Policy:
    if not isinstance(doc, dict):
        raise PolicyError(f"{p}: a policy is a mapping with keys {', '.join(sorted(KNOWN_KEYS))}")
    unknown = set(doc) - KNOWN_KEYS
    if unknown:
        raise PolicyError(f"{p}: unknown field {sorted(unknown)[0]!r} (known: {', '.join(sorted(KNOWN_KEYS))})")
    pol = Policy(path=p, site=str(doc.get("site") or ""))
    pol.pos_hosts = _networks(p, "pos_hosts", doc.get("pos_hosts", []))
    pol.internal_networks = _networks(p, "internal_networks", doc.get("internal_networks", DEFAULT_INTERNAL))
    pol.allowed_resolvers = _networks(p, "allowed_resolvers", doc.get("allowed_resolvers", []))
    dests = doc.get("allowed_destinations", [])
    if not isinstance(dests, list):
        raise PolicyError(f"{p}: allowed_destinations: expected a list")
    for i, d in enumerate(dests):
        where = f"allowed_destinations[{i}]"
        if not isinstance(d, dict):
            raise PolicyError(f"{p}: {where}: expected a mapping with name, hosts, ports")
        if "name" in d:
            where = f"allowed_destinations[{i}] ({d['name']})"
        bad = set(d) - DEST_KEYS
        if bad:
            raise PolicyError(f"{p}: {where}: unknown field {sorted(bad)[0]!r} (known: {', '.join(sorted(DEST_KEYS))})")
        if "hosts" not in d:
            raise PolicyError(f"{p}: {where}: missing field 'hosts'")
        nets, names = _hosts(p, f"{where}.hosts", d["hosts"])
        ports = _ports(p, f"{where}.ports", d["ports"]) if "ports" in d else set()
        apps = d.get("apps", [])
        if not isinstance(apps, list):
            raise PolicyError(f"{p}: {where}.apps: expected a list of app names")
        pol.allowed.append(Destination(str(d.get("name", f"#{i}")), nets, names, ports, {str(a) for a in apps}))
    return pol
