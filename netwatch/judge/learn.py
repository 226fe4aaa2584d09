"""Learning a site policy from known-good traffic: the destinations inventory in, commented YAML out.

The policy allows exactly what the POS hosts did in the capture, grouped by the names the capture
showed (DNS answers, SNI, Host) and then by address, with ports; DNS servers become the store's
resolvers. Scanning the same capture with the result yields no destination findings; the comments
say what was seen so a technician can prune before trusting it. Inbound connections from the
internet cannot be allowed by a policy: they are listed as warnings instead.

Names pass `redact` before anything else looks at them: a name that carried card data is masked,
is then no hostname, and the destination is allowed by address instead; the policy text as a whole
is a `Redacted` (every line through the boundary).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from netwatch.judge.policy import Policy, exemption, is_hostname, policy_from_dict
from netwatch.packets.addresses import DEFAULT_INTERNAL
from netwatch.redaction.text import Redacted, redact, redact_lines


@dataclass
class _Entry:
    name: str
    internal: bool
    hostnames: list[Redacted] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    any_port: bool = False  # a row without a port (ICMP, other IP protocols)
    seen: list[Redacted] = field(default_factory=list)  # comment lines


@dataclass
class Learned:
    """The learnt policy as YAML text, with counts for the command's summary."""

    text: str  # `_render`'s Redacted as a plain str: libyaml's C parser accepts no str subclass
    destinations: int
    resolvers: int
    warnings: list[str]


def merge_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inventory rows of several sources merged per (dst, port, proto, app)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        key = (r["dst"], r["dport"], r["proto"], r["app"])
        m = out.get(key)
        if m is None:
            out[key] = dict(r, names=list(r["names"]), clients=list(r["clients"]))
            continue
        for k in ("flows", "bytes", "unnamed"):
            m[k] = m.get(k, 0) + r.get(k, 0)
        m["names"] += [n for n in r["names"] if n not in m["names"]]
        m["clients"] += [c for c in r["clients"] if c not in m["clients"]]
    return sorted(out.values(), key=lambda r: (r["dst"], r["dport"], r["proto"], str(r["app"])))


def _domain(name: str) -> str:
    labels = name.rstrip(".").split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else name


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MB"


def _seen(row: dict[str, Any]) -> str:
    prot = "protected" if row.get("encrypted") else "infra" if row.get("infra") else "NOT protected"
    return (f"{row['dst']} {row['proto']}/{row['dport']} {row['app']} ({prot}), {row['flows']} flows, "
            f"{_size(row['bytes'])}, from {', '.join(row['clients'][:3])}")


def learn_policy(rows: Iterable[dict[str, Any]], pos_hosts: list[str] | None = None, site: str = "",
                 sources: list[str] | None = None) -> Learned:
    """A policy allowing what the POS hosts did in these inventory rows. Raises PolicyError on bad pos_hosts."""
    pol: Policy = policy_from_dict({"pos_hosts": list(pos_hosts or [])}, "--pos-hosts")
    entries: dict[str, _Entry] = {}
    resolvers: dict[str, Redacted] = {}
    warnings: list[str] = []
    pos_seen: set[str] = set()
    for row in merge_rows(rows):
        dst = row["dst"]
        pos_clients = [c for c in row["clients"] if pol.is_pos(c)]
        if not pos_clients:
            if pol.is_pos(dst) and any(pol.is_public(c) for c in row["clients"]):
                warnings.append(f"inbound from {', '.join(row['clients'][:3])} to POS host {dst} "
                                f"{row['proto']}/{row['dport']}: a policy cannot allow this; close it at the firewall")
            continue
        pos_seen.update(pos_clients)
        dst_scope = pol.scope(dst)
        internal = dst_scope == "internal"
        if dst_scope == "local":
            continue  # multicast, broadcast, link-local: never judged
        if row["app"] == "dns":
            resolvers.setdefault(dst, redact(_seen(row)))
            continue
        if exemption(dst_scope, row["app"], bool(row.get("infra")), resolver=False)[0]:
            continue  # DHCP, NTP, ICMP on the LAN: the verdict (policy.judge) needs no entry for it
        shown = list(dict.fromkeys(map(redact, row["names"])))  # a masked name (card data) shows, unlisted
        names = [n for n in shown if is_hostname(n)]
        key = ("name:" + _domain(names[0])) if names else "addr:" + dst
        e = entries.get(key)
        if e is None:
            e = entries[key] = _Entry(key.split(":", 1)[1], internal)
        e.hostnames += [n for n in names if n not in e.hostnames]
        if (not names or row.get("unnamed", 0) or len(names) < len(shown)) and dst not in e.addresses:
            e.addresses.append(dst)  # some flows had no name, or none a policy can list: the address matches them
        if isinstance(row["dport"], int) and 0 < row["dport"] < 65536:
            e.ports.add(row["dport"])
        else:
            e.any_port = True
        e.seen.append(redact(_seen(row) + (f"; names: {', '.join(shown[:4])}" if shown else "")))
    text = _render(entries, resolvers, warnings, pos_hosts or [], sorted(pos_seen), site, sources or [])
    return Learned(str(text), len(entries), len(resolvers), warnings)


def _q(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def _render(entries: dict[str, _Entry], resolvers: dict[str, Redacted], warnings: list[str], pos_hosts: list[str],
            pos_seen: list[str], site: str, sources: list[str]) -> Redacted:
    out = [
        "# Site policy learnt by `netwatch learn` from known-good traffic:",
        *(f"#   {_q(s)[1:-1]}" for s in sources[:20]),
        "# It allows exactly what the POS hosts did there. Review it: remove anything that should not",
        "# happen, then scan with `netwatch scan CAPTURE --policy THIS_FILE`.",
        "# Hostnames match names seen in the capture (DNS answers, TLS SNI, HTTP Host); an address is",
        "# listed where some connections had no name.",
        f"site: {_q(site or 'my-store')}",
    ]
    if pos_hosts:
        out.append(f"pos_hosts: [{', '.join(_q(p) for p in pos_hosts)}]")
    else:
        out += ["# No --pos-hosts given: every internal host counts as a POS host. Narrow it, e.g.",
                f"# pos_hosts: [{', '.join(pos_seen[:8])}]", "pos_hosts: []"]
    out += [f"# internal_networks: [{', '.join(DEFAULT_INTERNAL)}]  (the default)"]
    out.append("allowed_resolvers:" + ("" if resolvers else " []"))
    for addr, seen in sorted(resolvers.items()):
        out.append(f"  - {_q(addr)}  # {seen}")
    out.append("allowed_destinations:" + ("" if entries else " []"))
    for internal in (False, True):
        group = [e for e in entries.values() if e.internal == internal]
        if group and internal:
            out.append("  # Internal hosts the POS hosts talked to: check each one (lateral movement looks like this).")
        for e in sorted(group, key=lambda e: e.name):
            out.append(f"  - name: {_q(e.name)}")
            for s in e.seen:
                out.append(f"    # seen: {s}")
            out.append(f"    hosts: [{', '.join(_q(h) for h in e.hostnames + e.addresses)}]")
            if e.any_port:
                out.append("    # no ports: some traffic had none (ICMP, other IP protocols): any port allowed")
            else:
                out.append(f"    ports: [{', '.join(str(p) for p in sorted(e.ports))}]")
    for w in warnings:
        out.append(f"# WARNING: {w}")
    return redact_lines("\n".join(out) + "\n")
