"""Agreement with a peer (nDPI) on real public captures: app and encrypted verdicts per flow.

For every capture in ../shared/corpus/ndpi whose nDPI result names a protocol netwatch classifies,
each such flow must get the same app and the same encrypted verdict from netwatch, except for the
flows listed in DISAGREE, with the reason beside each. Only nDPI verdicts reached by content
(Confidence: DPI) are compared: a port guess is not a verdict.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netwatch.analyzers.dispatch import Dispatcher
from netwatch.analyzers.registry import build_analyzers, build_classifier
from netwatch.capture.pcapfile import CaptureReader
from netwatch.events import Event
from netwatch.flows.table import FlowTable
from netwatch.packets.decode import Decoder

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "ndpi"
FLOW_LINE = re.compile(
    r"^\s+\d+\s+(TCP|UDP|ICMP|ICMPV6|ESP|IPSEC|\d+) (\S+) <?-> (\S+) .*?"
    r"\[proto: [0-9.]+/([^\]]+)\].*?\[(Encrypted|ClearText)\]\[Confidence: ([^\]]+)\]"
)
# nDPI master protocol → (netwatch app or apps, encrypted).
NDPI_MAP: dict[str, tuple[str | tuple[str, ...], bool]] = {
    "TLS": ("tls", True), "DTLS": ("dtls", True), "QUIC": ("quic", True), "SSH": ("ssh", True),
    "WireGuard": ("wireguard", True), "OpenVPN": ("openvpn", True), "IPSec": (("esp", "ike"), True),
    "HTTP": ("http", False), "FTP_CONTROL": ("ftp", False), "FTP_DATA": ("ftp-data", False),
    "POP3": ("pop3", False), "IMAP": ("imap", False), "SMTP": ("smtp", False), "Telnet": ("telnet", False),
    "SNMP": ("snmp", False), "DNS": ("dns", False), "Syslog": ("syslog", False), "NetBIOS": ("smb", False),
    "MySQL": ("mysql", False), "MsSQL-TDS": ("tds", False), "RDP": ("rdp", False), "VNC": ("vnc", False),
    "TeamViewer": ("teamviewer", True), "POPS": ("pop3", True), "IMAPS": ("imap", True),
    "SMTPS": ("smtp", True), "FTPS": ("ftp", True),
}
SUB_MAP = {"TLS.AnyDesk": ("anydesk", True), "TLS.RDP": ("rdp", True), "DNS.AnyDesk": ("dns", False)}
# flow (as `compare` names it) → why we hold nDPI to be wrong there, or why we cannot compare
DISAGREE: dict[str, str] = {
    "mysql.pcapng TCP 192.168.88.200:3306 <-> 192.168.88.231:36272":
        "the client sends an SSLRequest and a TLS 1.3 handshake follows; nDPI's ClearText is its static protocol flag",
    "rdp.pcap TCP 172.16.2.185:52494 <-> 192.168.2.142:3389":
        "X.224 negotiation picks TLS and a TLS 1.2 handshake follows (self-signed CN=OFFICE-WIN10-VM): encrypted",
    "rdp2.pcap UDP 192.168.122.181:54759 <-> 192.168.122.2:3389":
        "RDP over UDP (MS-RDPEUDP): SYN, then TLS records (16 03 02 …) inside the RDPEUDP payload",
    "rdp2.pcap UDP 10.50.181.210:60355 <-> 10.50.73.36:3389":
        "RDP over UDP (MS-RDPEUDP): SYN, then DTLS records (16 fe ff …) inside the RDPEUDP payload",
    "rdp2.pcap UDP 10.100.2.87:3389 <-> 10.8.37.100:51652":
        "RDP over UDP joined mid-session: TLS records (16 03 03 …) inside the RDPEUDP payload",
    "snmp.pcap UDP 160.174.106.32:162 <-> 205.83.36.228:54318":
        "SNMPv3 with the privacy flag set (authPriv): the PDU is encrypted",
    # protected means a handshake was seen (issue 22): nDPI's Encrypted is the protocol's flag,
    # netwatch counts TLS/DTLS protected only once the ServerHello shows (encrypted null: unknown)
    "anydesk.pcapng TCP 192.168.149.129:36351 <-> 51.83.239.144:80":
        "application data records only, the capture began after the handshake: no-handshake",
    "http_ipv6.pcap TCP 2a00:1450:4001:803::1017:443 <-> 2a00:d40:1:3:7aac:c0ff:fea7:d4c:41776":
        "application data records only, the capture began after the handshake: no-handshake",
    "tls_alert.pcap TCP 160.44.202.202:443 <-> 192.168.2.100:37780":
        "records only (an alert and application data), the handshake is not in the capture: no-handshake",
    "tls_alert.pcap TCP 192.168.1.192:63158 <-> 192.168.1.20:443":
        "the ClientHello is answered by an alert, never a ServerHello: handshake-incomplete",
    "tls_cipher_lens.pcap TCP 173.194.35.191:443 <-> 192.168.11.11:51587":
        "a ClientHello with no ServerHello in the capture: handshake-incomplete",
    "tls_cipher_lens.pcap TCP 173.194.35.191:443 <-> 192.168.11.11:51588":
        "a ClientHello with no ServerHello in the capture: handshake-incomplete",
    "tls_1.3_unidirectional_client.pcapng TCP 142.250.184.68:443 <-> 192.168.12.156:39750":
        "only the client's side was captured: ClientHello then records, no ServerHello (no-server-hello)",
    "dtls.pcap UDP 192.168.13.203:40739 <-> 192.168.13.57:56515":
        "a DTLS ClientHello answered by no ServerHello (nDPI: fatal alert, unidirectional): handshake-incomplete",
}


def ndpi_flows(out: Path) -> list[tuple[str, set[tuple[str, int]], str, bool]]:
    """(transport, {(addr, port), (addr, port)}, nDPI protocol, encrypted) per flow line."""
    flows = []
    for line in out.read_text(errors="replace").splitlines():
        m = FLOW_LINE.match(line)
        if not m:
            continue
        proto, a, b, name, enc, confidence = m.groups()
        if "DPI" not in confidence:
            continue  # nDPI guessed by port or address: not a content verdict to compare with
        ends = {_endpoint(a), _endpoint(b)}
        flows.append((proto, ends, name, enc == "Encrypted"))
    return flows


def _endpoint(text: str) -> tuple[str, int]:
    """'10.0.0.1:443', '2001:db8::1:443' (nDPI writes IPv6 unbracketed) or a bare address."""
    addr, _, port = text.rpartition(":")
    if not addr or "." in port or not port.isdigit() or ("." in addr and ":" in addr):
        return text.strip("[]"), 0
    return addr.strip("[]"), int(port)


def expected(name: str) -> tuple[str | tuple[str, ...], bool] | None:
    if name in SUB_MAP:
        return SUB_MAP[name]
    return NDPI_MAP.get(name.split(".")[0])


def observations(path: Path) -> list[Event]:
    """Run the real pipeline (decode, flows, analyzers) over a capture and keep every observation."""
    obs: list[Event] = []
    table = FlowTable(Dispatcher(build_classifier(), build_analyzers(), obs.append))
    dec = Decoder()
    with CaptureReader(path) as reader:
        for ts, linktype, data, _wirelen in reader:
            p = dec.decode(linktype, data, ts)
            if p is not None:
                table.process(p)
    table.close()
    return obs


def scan_flows(path: Path) -> list[Event]:
    return [o for o in observations(path) if o.kind == "flow_end"]


def compare(capture: Path) -> list[tuple[str, str, str, str, bool]]:
    """(flow, nDPI verdict, netwatch verdict, key, agree) for every flow nDPI names with a mapped protocol."""
    out = capture.with_name(capture.name + ".out")
    ours: dict[frozenset, list[Event]] = {}
    for o in scan_flows(capture):
        f = o.flow
        ours.setdefault(frozenset({(f.src, f.client_port), (f.dst, f.server_port)}), []).append(o)
    rows = []
    for proto, ends, name, enc in ndpi_flows(out):
        want = expected(name)
        if want is None:
            continue
        got = ours.get(frozenset(ends))
        label = " <-> ".join(f"{a}:{p}" for a, p in sorted(ends))
        key = f"{capture.name} {proto} {label}"
        if not got:
            rows.append((key, f"{name} {'enc' if enc else 'clear'}", "no flow", name, False))
            continue
        o = got[0]
        app, ours_enc = o.app, o.encrypted
        apps = want[0] if isinstance(want[0], tuple) else (want[0],)
        agree = app in apps and ours_enc == want[1]
        rows.append((key, f"{name} {'enc' if enc else 'clear'}", f"{app} {ours_enc}", name, agree))
    return rows


CAPTURES = sorted(p for p in CORPUS.glob("*") if p.suffix in (".pcap", ".pcapng")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/ndpi is absent")
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_agrees_with_ndpi(capture: Path) -> None:
    if not capture.with_name(capture.name + ".out").exists():
        pytest.skip("no nDPI result beside this capture")
    rows = compare(capture)
    bad = [r for r in rows if not r[4] and r[0] not in DISAGREE]
    assert not bad, "\n".join(f"{k}: nDPI {n} / netwatch {w}" for k, n, w, _p, _a in bad)
    stale = [r[0] for r in rows if r[4] and r[0] in DISAGREE]
    assert not stale, f"listed as disagreements but now agree (update DISAGREE): {stale}"


def test_flow_line_parser_reads_ndpi_format() -> None:
    line = ("\t1\tTCP 192.168.1.212:50694 <-> 90.130.70.73:21 [proto: 1/FTP_CONTROL][IP: 0/Unknown][ClearText]"
            "[Confidence: DPI][FPC: 0/Unknown]")
    out = Path("/nonexistent")
    flows = []
    m = FLOW_LINE.match(line)
    assert m is not None
    flows.append(m.groups())
    assert flows[0][3] == "FTP_CONTROL" and flows[0][4] == "ClearText"
    assert _endpoint(flows[0][1]) == ("192.168.1.212", 50694)
    assert _endpoint("2001:470:6c:a1::2:38159") == ("2001:470:6c:a1::2", 38159)
    assert not out.exists()
