"""Address scopes shared by analyzers, the policy and the reports (bottom of the dependency order).

"Internal" is an explicit list (RFC 1918, RFC 4193, link-local), not `ipaddress.is_global`: the
documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) stand in for internet hosts
in examples and test captures, and must be treated as public like any other outside address.
"""

from __future__ import annotations

import ipaddress

DEFAULT_INTERNAL = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10", "169.254.0.0/16"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
CACHE = 4096  # addresses remembered per site (flows repeat addresses)


class Site:
    """The site's own networks, and the one answer to "is this address internal to the site" (Zeek's
    `Site::is_local_addr`) that the policy, the remote-access analyzer and the reports share.

    `scope`: internal (in the site's networks), local (multicast, broadcast, loopback, unspecified,
    link-local outside them) or public."""

    __slots__ = ("networks", "_memo")

    def __init__(self, networks: list[Network] | None = None) -> None:
        self.networks: list[Network] = (list(networks) if networks is not None
                                        else [ipaddress.ip_network(n) for n in DEFAULT_INTERNAL])
        self._memo: dict[str, str] = {}

    def scope(self, addr: str) -> str:
        hit = self._memo.get(addr)
        if hit is None:
            hit = self._scope(addr)
            if len(self._memo) >= CACHE:
                self._memo.clear()
            self._memo[addr] = hit
        return hit

    def is_internal(self, addr: str) -> bool:
        return self.scope(addr) == "internal"

    def _scope(self, addr: str) -> str:
        try:
            a = ipaddress.ip_address(addr)
        except ValueError:
            return "local"
        if any(a in n for n in self.networks if n.version == a.version):
            return "internal"
        if a.is_multicast or a.is_loopback or a.is_unspecified or a.is_link_local or addr == "255.255.255.255":
            return "local"
        return "public"


DEFAULT_SITE = Site()  # RFC 1918, RFC 4193 and link-local: the site's networks when no policy names them


def scope(addr: str) -> str:
    """internal, local or public under the default site networks (no policy given)."""
    return DEFAULT_SITE.scope(addr)


def endpoint(addr: str | None, port: object = None) -> str:
    """`addr:port`, with an IPv6 address in brackets (`[2001:db8::1]:8080`); the address alone without a port."""
    a = "" if addr is None else str(addr)
    if port is None or port == "":
        return a
    return f"[{a}]:{port}" if ":" in a else f"{a}:{port}"
