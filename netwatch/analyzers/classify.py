"""What a flow carries and whether it is protected, judged by content (the port is only a hint).

Each recogniser looks at the first payload of a flow and returns (app, encrypted, how) or None.
Infrastructure protocols that are cleartext by design (DNS, DHCP, NTP, …) are marked `infra` so
rules inventory them instead of calling them cleartext.
"""

from __future__ import annotations

from collections.abc import Callable

from netwatch.analyzers import Analyzer, Emit, Observation
from netwatch.decode import ESP, ICMP, ICMP6, TCP, UDP
from netwatch.flows import Flow

Verdict = tuple[str, bool | None, str | None]  # app, encrypted, how
Recogniser = Callable[[bytes, Flow, int], Verdict | None]

INFRA_APPS = {"dns", "dhcp", "ntp", "icmp", "mdns", "llmnr", "netbios-ns", "ssdp", "arp"}
HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ")
TLS_VERSIONS = {0x0300: "ssl3", 0x0301: "tls1.0", 0x0302: "tls1.1", 0x0303: "tls1.2", 0x0304: "tls1.3"}
PRINTABLE = frozenset(b"\t\r\n" + bytes(range(32, 127)))


def tls_record(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    if len(data) >= 5 and 0x14 <= data[0] <= 0x18 and data[1] == 3 and data[2] <= 4:
        return "tls", True, "tls"
    if len(data) >= 3 and data[0] & 0x80 and data[2] == 1 and len(data) >= 5 and data[3] in (0, 3):
        return "tls", True, "sslv2"  # SSLv2-format ClientHello
    return None


def ssh_banner(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    return ("ssh", True, "ssh") if data.startswith(b"SSH-") else None


def http(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    if data.startswith(HTTP_METHODS) or data.startswith(b"HTTP/1."):
        return "http", False, None
    return None


def dns(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    if 53 in (flow.sport, flow.cport) and len(data) >= 12:
        qd = int.from_bytes(data[4:6], "big")
        if qd <= 4 and data[2] & 0x78 == 0:  # standard query/response opcodes
            return "dns", False, None
    return None


UDP_INFRA_PORTS = {67: "dhcp", 68: "dhcp", 123: "ntp", 5353: "mdns", 5355: "llmnr", 137: "netbios-ns", 1900: "ssdp"}


def udp_infra(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    app = UDP_INFRA_PORTS.get(flow.sport) or UDP_INFRA_PORTS.get(flow.cport)
    return (app, False, None) if app else None


def printable_text(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    sample = data[:256]
    if len(sample) >= 8 and sum(b in PRINTABLE for b in sample) >= 0.95 * len(sample):
        return "text", False, None
    return None


TCP_RECOGNISERS: list[Recogniser] = [tls_record, ssh_banner, http, dns, printable_text]
UDP_RECOGNISERS: list[Recogniser] = [dns, udp_infra, printable_text]


class Classifier(Analyzer):
    """Sets flow.app / flow.encrypted / flow.how from the first payload; emits `flow_end`."""

    name = "classify"
    plaintext_only = False

    def _decide(self, flow: Flow, direction: int, data: bytes, recognisers: list[Recogniser]) -> None:
        for r in recognisers:
            v = r(data, flow, direction)
            if v is not None:
                flow.app, flow.encrypted, flow.how = v
                return
        n = flow.state.get("classify.tries", 0) + 1
        flow.state["classify.tries"] = n
        if n >= 4:  # several payloads and still nothing known: opaque, not called cleartext
            flow.app, flow.encrypted = "unknown", None

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        self._decide(flow, direction, data, TCP_RECOGNISERS)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if flow.proto == UDP:
            self._decide(flow, direction, data, UDP_RECOGNISERS)
        elif flow.proto == ESP:
            flow.app, flow.encrypted, flow.how = "esp", True, "esp"
        elif flow.proto in (ICMP, ICMP6):
            flow.app, flow.encrypted = "icmp", False
        else:
            flow.app, flow.encrypted = flow.proto_name, None

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        if flow.app is None:
            if flow.proto == ESP:
                flow.app, flow.encrypted, flow.how = "esp", True, "esp"
            elif flow.proto in (ICMP, ICMP6):
                flow.app, flow.encrypted = "icmp", False
        payload = flow.bytes[0] + flow.bytes[1]
        emit(
            Observation(
                "flow_end",
                flow.last_ts,
                flow,
                {
                    "app": flow.app or ("none" if not payload else "unknown"),
                    "encrypted": flow.encrypted,
                    "how": flow.how,
                    "infra": (flow.app or "") in INFRA_APPS,
                    "payload": payload > 0,
                    "bytes_to_server": flow.bytes[0],
                    "bytes_to_client": flow.bytes[1],
                    "packets": flow.packets[0] + flow.packets[1],
                    "duration": round(flow.last_ts - flow.first_ts, 6),
                    "tcp": flow.proto == TCP,
                    "cards": flow.state.get("cards", 0),
                },
            )
        )
