"""The machine's network interfaces: names, addresses, state, counters, link type. No root needed.

Linux gives state and counters in /sys/class/net; addresses come from scapy's netlink interface
list. Elsewhere the counters are left out rather than guessed.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

SYS_NET = Path("/sys/class/net")
ARPHRD_LOOPBACK, ARPHRD_NONE = 772, 65534
# Linux ARPHRD_* → pcap LINKTYPE_* for what a PF_PACKET SOCK_RAW socket delivers on that interface
ARPHRD_LINKTYPE = {1: 1, 6: 1, 772: 1, 65534: 101, 776: 101, 768: 101, 801: 105, 803: 127}


@dataclass
class Interface:
    name: str
    index: int = 0
    mac: str = ""
    state: str = "unknown"  # up, down, unknown (what the kernel reports: lo is "unknown" while working)
    addresses: list[str] = field(default_factory=list)
    rx_packets: int | None = None
    tx_packets: int | None = None
    rx_dropped: int | None = None
    arphrd: int | None = None
    loopback: bool = False
    virtual: bool = False  # software device (veth, bridge, tun, ifb…), not a NIC
    likely: bool = False  # the best guess for the mirror-port interface

    @property
    def linktype(self) -> int | None:
        return None if self.arphrd is None else ARPHRD_LINKTYPE.get(self.arphrd)

    @property
    def usable(self) -> bool:
        return self.state != "down"


def interface_names() -> list[str]:
    """Names the kernel knows, cheaply (no scapy import)."""
    try:
        return [name for _, name in sorted(socket.if_nameindex())]
    except OSError:
        return []


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    v = _read(path)
    try:
        return int(v, 0) if v is not None else None  # sysfs flags are hex (0x1003)
    except ValueError:
        return None


def arphrd(name: str) -> int | None:
    """The interface's ARPHRD type (Linux), e.g. 1 Ethernet, 772 loopback, 65534 tun."""
    return _int(SYS_NET / name / "type")


def describe(name: str, index: int = 0) -> Interface:
    """State, counters and type from sysfs (Linux); addresses are filled in by `list_interfaces`."""
    d = SYS_NET / name
    i = Interface(name=name, index=index)
    if not d.exists():
        return i
    i.mac = _read(d / "address") or ""
    i.state = _read(d / "operstate") or "unknown"
    i.arphrd = _int(d / "type")
    i.loopback = i.arphrd == ARPHRD_LOOPBACK
    i.virtual = "/virtual/" in os.path.realpath(d)
    flags = _int(d / "flags")
    if i.state == "unknown" and flags is not None:
        i.state = "up" if flags & 1 else "down"  # IFF_UP: lo and tun report operstate "unknown"
    i.rx_packets = _int(d / "statistics" / "rx_packets")
    i.tx_packets = _int(d / "statistics" / "tx_packets")
    i.rx_dropped = _int(d / "statistics" / "rx_dropped")
    return i


def _addresses() -> dict[str, list[str]]:
    try:
        import scapy.arch  # noqa: F401 - registers the OS interface provider
        from scapy.config import conf

        out: dict[str, list[str]] = {}
        for name, iface in conf.ifaces.data.items():
            ips = getattr(iface, "ips", {}) or {}
            out[name] = [*ips.get(4, []), *ips.get(6, [])]
        return out
    except Exception:  # noqa: BLE001 - addresses are a nicety; the listing must not fail for them
        return {}


def list_interfaces() -> list[Interface]:
    """Every interface, the likely capture interface marked."""
    try:
        pairs = sorted(socket.if_nameindex())
    except OSError:
        pairs = []
    addrs = _addresses()
    ifaces = [describe(name, index) for index, name in pairs]
    for i in ifaces:
        i.addresses = addrs.get(i.name, [])
    best = likely_capture(ifaces)
    for i in ifaces:
        i.likely = i.name == best
    return ifaces


def likely_capture(ifaces: list[Interface]) -> str | None:
    """The busiest interface that is up and not loopback, NICs before software devices.

    A mirror port receives far more than it sends and often has no address, so receive counters
    rank the candidates.
    """
    cands = [i for i in ifaces if not i.loopback and i.state == "up"]
    if not cands:
        return None
    return max(cands, key=lambda i: (not i.virtual, i.rx_packets or 0)).name
