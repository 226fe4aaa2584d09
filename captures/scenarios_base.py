"""Foundation scenarios (issue 2): TLS-only store, card over HTTP (whole, split, VLAN, IPv6), truncated file.

Every card number put into these captures is listed in CARD_NUMBERS, so that the leak test can
check that no output of any bundled capture contains one of them whole.
"""

from __future__ import annotations

import struct

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.utils import PcapWriter
from scenario_lib import Clock, TcpConversation, udp

POS = "10.20.1.15"
POS6 = "2001:db8:20:1::15"
RESOLVER = "10.20.0.53"
ACQUIRER = "203.0.113.10"
LEGACY_GW = "198.51.100.77"
LEGACY_GW6 = "2001:db8:77::77"

CARD_NUMBERS = [
    "4111111111111111",  # http_card_post, truncated_capture
    "5555555555554444",  # http_card_split
    "378282246310005",  # vlan_card_post (Amex, 15 digits)
    "6011111111111117",  # ipv6_card_post
]


def _client_hello(sni: bytes) -> bytes:
    """TLS 1.3 ClientHello (record version 1.0 as browsers send it) with SNI and key share."""
    ciphers = bytes.fromhex("130113021303c02bc02f")
    name = b"\x00" + struct.pack("!H", len(sni)) + sni
    exts = (
        struct.pack("!HHH", 0, len(name) + 2, len(name)) + name
        + bytes.fromhex("002b0003020304")  # supported_versions: TLS 1.3
        + bytes.fromhex("000a00040002001d")  # supported_groups: x25519
        + bytes.fromhex("000d000400020403")  # signature_algorithms: ecdsa_secp256r1_sha256
        + bytes.fromhex("0033002600240020001d") + bytes(range(32))  # key_share x25519
    )
    body = (b"\x03\x03" + bytes(range(32)) + b"\x20" + bytes(range(32, 64)) + struct.pack("!H", len(ciphers))
            + ciphers + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def _server_hello() -> bytes:
    """TLS 1.3 ServerHello choosing TLS_AES_128_GCM_SHA256, then ChangeCipherSpec and encrypted data."""
    exts = bytes.fromhex("002b00020304") + bytes.fromhex("00330024001d0020") + bytes(range(64, 96))
    body = (b"\x03\x03" + bytes(range(100, 132)) + b"\x20" + bytes(range(32, 64)) + b"\x13\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs + b"\x14\x03\x03\x00\x01\x01" + _app_data(900, 7)


def _app_data(n: int, seed: int) -> bytes:
    """One TLS application-data record of n payload bytes (deterministic pseudo-ciphertext)."""
    body = bytes((i * 97 + seed * 31) & 0xFF for i in range(n))
    return b"\x17\x03\x03" + struct.pack("!H", n) + body


def _dns(clock: Clock, name: str, addr: str, txid: int, cport: int) -> list:
    q = DNS(id=txid, rd=1, qd=DNSQR(qname=name))
    a = DNS(id=txid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata=addr, ttl=300))
    return [udp(POS, RESOLVER, cport, 53, bytes(q), clock), udp(RESOLVER, POS, 53, cport, bytes(a), clock)]


def tls_store() -> list:
    """A clean store: DNS to the store's resolver, then two TLS 1.3 connections to the acquirer."""
    clock = Clock()
    pkts = _dns(clock, "pay.acquirer.example", ACQUIRER, 0x4242, 53001)
    for i, cport in enumerate((49152, 49153)):
        c = TcpConversation(POS, ACQUIRER, cport, 443, clock, isn=(1000 + i, 500000 + i))
        c.send(0, _client_hello(b"pay.acquirer.example"))
        c.send(1, _server_hello())
        c.send(0, b"\x14\x03\x03\x00\x01\x01" + _app_data(53, 1) + _app_data(300, 2))
        c.send(1, _app_data(1200, 3))
        c.close()
        pkts += c.packets
    return pkts


def _post(card: str, sep: bytes = b"") -> bytes:
    pan = card.encode()
    if sep:
        pan = sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))
    body = b"amount=12.50&currency=EUR&pan=" + pan + b"&exp=1228"
    return (b"POST /authorize HTTP/1.1\r\nHost: legacy-gw.example\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\napproved=yes"


def http_card_post() -> list:
    """A POS posting a Visa number over plain HTTP to a legacy gateway."""
    c = TcpConversation(POS, LEGACY_GW, 49200, 8080, Clock())
    c.send(0, _post(CARD_NUMBERS[0]))
    c.send(1, RESPONSE)
    c.close()
    return c.packets


def http_card_split() -> list:
    """The card number cut over three segments sent out of order (3, 1, 2), the first one retransmitted."""
    c = TcpConversation(POS, LEGACY_GW, 49201, 8080, Clock())
    data = _post(CARD_NUMBERS[1])
    at = data.index(CARD_NUMBERS[1].encode())
    c.segments(0, data, cuts=[at + 5, at + 11], order=[2, 0, 1], retransmit=0)
    c.send(1, RESPONSE)
    c.close()
    return c.packets


def vlan_card_post() -> list:
    """An Amex number in an HTTP POST on VLAN 20 (802.1Q), grouped 4-6-5 with spaces."""
    c = TcpConversation(POS, LEGACY_GW, 49202, 8080, Clock(), vlan=20)
    c.send(0, _post(CARD_NUMBERS[2]).replace(b"378282246310005", b"3782 822463 10005"))
    c.send(1, RESPONSE)
    c.close()
    return c.packets


def ipv6_card_post() -> list:
    """A Discover number in an HTTP POST over IPv6, grouped 4-4-4-4 with dashes."""
    c = TcpConversation(POS6, LEGACY_GW6, 49203, 8080, Clock())
    c.send(0, _post(CARD_NUMBERS[3], sep=b"-"))
    c.send(1, RESPONSE)
    c.close()
    return c.packets


def truncated_capture() -> bytes:
    """http_card_post written to a pcap whose last record is cut in the middle (a copy that broke off)."""
    import io

    buf = io.BytesIO()
    w = PcapWriter(buf, sync=True)
    for p in http_card_post():
        w.write(p)
    w.flush()
    data = buf.getvalue()
    return data[: len(data) - 30]  # the last record is a bare ACK: its header says 54 bytes, 24 remain


SCENARIOS = {
    "tls_store": tls_store,
    "http_card_post": http_card_post,
    "http_card_split": http_card_split,
    "vlan_card_post": vlan_card_post,
    "ipv6_card_post": ipv6_card_post,
    "truncated_capture": truncated_capture,
}
