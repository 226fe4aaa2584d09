"""Address scopes shared by analyzers and the policy (bottom of the dependency order).

"Internal" is an explicit list (RFC 1918, RFC 4193, link-local), not `ipaddress.is_global`: the
documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) stand in for internet hosts
in examples and test captures, and must be treated as public like any other outside address.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

DEFAULT_INTERNAL = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10", "169.254.0.0/16"]
_INTERNAL = [ipaddress.ip_network(n) for n in DEFAULT_INTERNAL]


@lru_cache(maxsize=4096)
def scope(addr: str) -> str:
    """'internal' (in DEFAULT_INTERNAL), 'other' (multicast, loopback, unspecified, broadcast) or 'public'."""
    try:
        a = ipaddress.ip_address(addr)
    except ValueError:
        return "other"
    if a.is_multicast or a.is_loopback or a.is_unspecified or addr == "255.255.255.255":
        return "other"
    if any(a in n for n in _INTERNAL if n.version == a.version):
        return "internal"
    return "public"


def endpoint(addr: str | None, port: object = None) -> str:
    """`addr:port`, with an IPv6 address in brackets (`[2001:db8::1]:8080`); the address alone without a port."""
    a = "" if addr is None else str(addr)
    if port is None or port == "":
        return a
    return f"[{a}]:{port}" if ":" in a else f"{a}:{port}"
