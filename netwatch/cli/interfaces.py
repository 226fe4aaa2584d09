"""`netwatch interfaces`: what can be captured on, with the likely mirror-port interface marked."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("interfaces", help="list network interfaces to capture on",
                        description="List interfaces with addresses, state and packet counters; the likely "
                                    "capture interface (busiest link that is up, NICs first) is marked '*'.")
    sp.add_argument("--json", action="store_true", help="one JSON object per interface instead of a table")
    sp.set_defaults(func=cmd_interfaces)


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def cmd_interfaces(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from netwatch.capture.interfaces import list_interfaces
    from netwatch.capture.live import default_backend
    from netwatch.packets.decode import linktype_name
    from netwatch.report.text import safe

    ifaces = list_interfaces()
    if args.json:
        for i in ifaces:
            print(json.dumps({"name": i.name, "index": i.index, "state": i.state, "mac": i.mac,
                              "addresses": i.addresses, "rx_packets": i.rx_packets, "tx_packets": i.tx_packets,
                              "rx_dropped": i.rx_dropped, "linktype": i.linktype, "loopback": i.loopback,
                              "virtual": i.virtual, "likely": i.likely}, ensure_ascii=True))
        return 0
    console = Console(highlight=False)
    t = Table(title="Interfaces", title_justify="left", header_style="bold")
    for col in ("", "name", "state", "addresses", "link", "rx packets", "tx packets", "rx dropped"):
        t.add_column(col, overflow="fold")
    for i in ifaces:
        kind = "loopback" if i.loopback else ("virtual" if i.virtual else "")
        link = linktype_name(i.linktype) if i.linktype is not None else f"ARPHRD {i.arphrd}" if i.arphrd else "-"
        link += f" ({kind})" if kind else ""
        state = f"[green]{i.state}[/]" if i.state == "up" else f"[dim]{i.state}[/]"
        t.add_row("[bold]*[/]" if i.likely else "", safe(i.name), state,
                  safe(", ".join(i.addresses)) or "[dim]none[/]", safe(link), _n(i.rx_packets), _n(i.tx_packets),
                  _n(i.rx_dropped))
    console.print(t)
    likely = next((i.name for i in ifaces if i.likely), None)
    if likely:
        console.print(f"* likely capture interface: [bold]{safe(likely)}[/] "
                      f"(netwatch live -i {safe(likely)}; default backend: {default_backend()})")
    else:
        print("netwatch: no interface other than loopback is up", file=sys.stderr)
    return 0
