"""Byte-level tests of the content recognisers and the classifier; hypothesis: never raise on any bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netwatch.analyzers import notes
from netwatch.analyzers import recognise as r
from netwatch.analyzers.classify import Classifier, Upgrade
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP, UDP
from netwatch.protocols.http import request_host


def flow(proto: int = TCP, client_port: int = 40000, server_port: int = 9999) -> Flow:
    return Flow(bytes([10, 0, 0, 1]), client_port, bytes([10, 0, 0, 2]), server_port, proto, 0.0)


CASES = [
    (r.tls_record, b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", TCP, 9999, ("tls", True, "tls")),
    (r.tls_record, b"\x80\x2e\x01\x00\x02\x00\x15", TCP, 9999, ("tls", True, "sslv2")),
    (r.ssh_banner, b"SSH-2.0-OpenSSH_9.6\r\n", TCP, 2222, ("ssh", True, "ssh")),
    (r.http, b"POST /pay HTTP/1.1\r\nHost: a\r\n\r\n", TCP, 8080, ("http", False, None)),
    (r.banner, b"220 (vsFTPd 3.0.3)\r\n", TCP, 2100, ("ftp", False, None)),
    (r.banner, b"220 mx.example ESMTP Postfix\r\n", TCP, 2600, ("smtp", False, None)),
    (r.banner, b"+OK POP3 ready\r\n", TCP, 1100, ("pop3", False, None)),
    (r.banner, b"* OK IMAP4rev1 ready\r\n", TCP, 1430, ("imap", False, None)),
    (r.banner, b"RFB 003.008\n", TCP, 5901, ("vnc", False, "rfb")),
    (r.client_command, b"EHLO pos\r\n", TCP, 2525, ("smtp", False, None)),
    (r.client_command, b"a1 LOGIN bob pw\r\n", TCP, 1430, ("imap", False, None)),
    (r.telnet, b"\xff\xfd\x18\xff\xfd\x20", TCP, 2323, ("telnet", False, None)),
    (r.rdp, b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00", TCP, 3390,
     ("rdp", False, "rdp-security")),
    (r.smb, b"\x00\x00\x00\x2f\xffSMBr" + bytes(40), TCP, 445, ("smb", False, "smb1-offered")),  # the server decides
    (r.smb, b"\x00\x00\x00\x2f\xffSMBr" + bytes(4) + b"\x98" + bytes(35), TCP, 445, ("smb", False, "smb1")),  # reply
    (r.smb, b"\x00\x00\x00\x2f\xffSMBs" + bytes(40), TCP, 445, ("smb", False, "smb1")),  # session setup
    (r.smb, b"\x81\x00\x00\x44\x20" + b"CKFDENECFDEFFCFGEFFCCACACACACACA" + b"\x00\x20"
     + b"EOEBFDEFFCFGEFFCCACACACACACACAAA" + b"\x00", TCP, 139, ("smb", False, "netbios-ssn")),
    (r.smb, b"\x00\x00\x00\x40\xfeSMB" + bytes(60), TCP, 445, ("smb", False, "smb2")),
    (r.databases, struct.pack("!II", 8, 80877103), TCP, 5433, ("postgres", False, None)),
    (r.databases, b"\x08\x00\x00\x00\x0a8.0.36\x00", TCP, 3307, ("mysql", False, None)),
    (r.databases, b"\x12\x01\x00\x10\x00\x00\x01\x00" + bytes(8), TCP, 1434, ("tds", False, None)),
    (r.openvpn_tcp, struct.pack("!H", 14) + b"\x38" + bytes(13), TCP, 1195, ("openvpn", True, "openvpn")),
    (r.teamviewer, b"\x17\x24\x0a\x00\x00\x00", TCP, 5938, ("teamviewer", True, "teamviewer")),
    (r.syslog, b"<134>Nov 14 pos1 app: started", UDP, 5140, ("syslog", False, None)),
    (r.dtls, b"\x16\xfe\xfd" + bytes(10), UDP, 4433, ("dtls", True, "dtls")),
    (r.quic, b"\xc3\x00\x00\x00\x01\x08" + bytes(30), UDP, 8443, ("quic", True, "quic")),
    (r.wireguard, b"\x01\x00\x00\x00" + bytes(144), UDP, 443, ("wireguard", True, "wireguard")),
    (r.wireguard, b"\x04\x00\x00\x00" + bytes(28), UDP, 443, ("wireguard", True, "wireguard")),
    (r.ike, bytes(16) + b"\x21\x20\x22\x08" + bytes(4) + struct.pack("!I", 28), UDP, 500, ("ike", True, "ikev2")),
    (r.ike, struct.pack("!II", 0x1234, 1) + bytes(40), UDP, 4500, ("esp", True, "esp-in-udp")),
    (r.snmp, bytes.fromhex("3020020101040670756269630a0a0007020101020100"), UDP, 161, None),
    (r.snmp, bytes.fromhex("301302010104067075626c6963a006020101020100"), UDP, 161, ("snmp", False, "snmpv2c")),
    (r.rdp_udp, b"\xff\xff\xff\xff\x00\x40\x18\x01" + bytes(40), UDP, 3390, ("rdp", True, "rdpeudp")),
]


@pytest.mark.parametrize(("fn", "data", "proto", "port", "want"), CASES, ids=lambda v: getattr(v, "__name__", None))
def test_recogniser(fn, data: bytes, proto: int, port: int, want) -> None:
    assert fn(data, flow(proto, server_port=port), 0) == want


def test_wireguard_sizes_are_exact() -> None:
    assert r.wireguard(b"\x01\x00\x00\x00" + bytes(140), flow(UDP), 0) is None  # 144 bytes, not 148


def test_port_is_not_the_answer() -> None:
    """TLS on port 80 is TLS; HTTP on port 443 is cleartext HTTP."""
    c = Classifier()
    f = flow(TCP, server_port=80)
    c.stream(f, 0, b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 0.0, lambda o: None)
    assert (f.app, f.encrypted) == ("tls", True)
    g = flow(TCP, server_port=443)
    c.stream(g, 0, b"GET / HTTP/1.1\r\nHost: Pay.Example:443\r\n\r\n", 0.0, lambda o: None)
    assert (g.app, g.encrypted, g.server_name) == ("http", False, "pay.example")


def test_unknown_random_payload_is_opaque_not_cleartext() -> None:
    c = Classifier()
    f = flow(TCP)
    noise = bytes((i * 73 + 41) % 256 for i in range(256))
    for _ in range(4):
        c.stream(f, 0, noise, 0.0, lambda o: None)
    assert (f.app, f.encrypted) == ("opaque", None)
    g = flow(TCP)
    for _ in range(4):
        c.stream(g, 0, bytes(64), 0.0, lambda o: None)
    assert (g.app, g.encrypted) == ("unknown", None)


def test_starttls_marks_flow_encrypted_from_the_upgrade() -> None:
    f = flow(TCP, server_port=25)
    c, u = Classifier(), Upgrade()
    f.active = [u]
    emit = lambda o: None  # noqa: E731
    c.stream(f, 1, b"220 mx ESMTP\r\n", 0.0, emit)
    u.stream(f, 1, b"220 mx ESMTP\r\n", 0.0, emit)
    u.stream(f, 0, b"STARTTLS\r\n", 0.0, emit)
    assert f.encrypted is False
    u.stream(f, 0, b"\x16\x03\x01\x00\x50\x01\x00\x00\x4c\x03\x03", 0.0, emit)
    assert f.encrypted is True and notes(f).upgraded and u not in f.active


def test_http_host_variants() -> None:
    assert request_host(b"GET / HTTP/1.1\r\nhost: [2001:db8::1]:8080\r\n\r\n") == "2001:db8::1"
    assert request_host(b"GET / HTTP/1.1\r\nX: y\r\n\r\n") is None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([21, 25, 53, 161, 443, 500, 3389, 4500, 5353, 40000]))
def test_recognisers_never_raise(data: bytes, port: int) -> None:
    for proto, lst in ((TCP, r.TCP_RECOGNISERS), (UDP, r.UDP_RECOGNISERS)):
        f = flow(proto, server_port=port)
        for fn in lst:
            fn(data, f, 0)
            fn(data, f, 1)
    r.opaque_or_unknown(data)
