"""Scenario captures for protocols on real store traffic (issue 12): more cleartext logins (POP3
SASL, HTTP Digest and Bearer, PostgreSQL SCRAM, MySQL without a password, Sybase TDS 5.0, LDAP
bind), DTLS certificates, QUIC Initial packets, proxy tunnels (SOCKS4a/5, HTTP CONNECT) and RDP
Standard Security.

Payloads are built byte by byte. QUIC Initial packets are protected here with keys derived as in
RFC 9001 section 5 by this file's own code (independent of netwatch's parser).
"""

from __future__ import annotations

import base64
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from scenario_lib import Clock, TcpConversation, udp
from scenarios_protect import _ext, _hs, app_data, blob, client_hello, record, server_hello

POS, ADMIN, LAN_SRV, PROXY = "10.20.1.15", "10.20.0.5", "10.20.1.50", "10.20.0.9"
ACQUIRER, INTERNET, VENDOR = "203.0.113.10", "185.220.101.5", "185.220.101.7"
VISA_PROXY = "4012888888881881"
CARD_NUMBERS = [VISA_PROXY]
# every secret a login here sends (evidence blanks them; tests/test_evidence_secrets.py): POP3 AUTH PLAIN,
# AUTH LOGIN (a default password), the XOAUTH2 bearer token, the HTTP Bearer token, the Sybase login,
# the LDAP simple bind, the SOCKS5 and HTTP CONNECT proxy logins
PASSWORDS = ["Sommer2024", "admin", "ya29.A0ARrdaM-store42-token",
             "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwb3MwMSJ9.c2lnbmF0dXJlLXN0b3JlNDI", "Kasse2024", "Kasse!2024",
             "Proxy123"]
# Self-signed, expired (2016-2021), SHA-1, RSA 1024, CN=dtls-gw.store42.example: generated once, kept as DER.
SHA1_CERT = base64.b64decode(
    "MIIBuTCCASKgAwIBAgICEJIwDQYJKoZIhvcNAQEFBQAwIjEgMB4GA1UEAwwXZHRscy1ndy5zdG9yZTQyLmV4YW1wbGUwHhcNMTYw"
    "MTAxMDAwMDAwWhcNMjEwMTAxMDAwMDAwWjAiMSAwHgYDVQQDDBdkdGxzLWd3LnN0b3JlNDIuZXhhbXBsZTCBnzANBgkqhkiG9w0B"
    "AQEFAAOBjQAwgYkCgYEA2ZcJ/Co4ClMgIq7/hRV3Oxx+d52Uda4UiJg0BH7onaEa1l70hKctPOQg1zrNOoFynhBGUP32g6+K5ALm"
    "ylHtQSsaB3Kw4gtpRk3a8NOEL/igK0cw0+MNVhva1QIPFZ0QSbN48fc0lnq6uQBx/eRnxqRurR554YGWGmyeE2880EUCAwEAATAN"
    "BgkqhkiG9w0BAQUFAAOBgQDMViEqidcmTAQBFmGp1UKPQKKl5InBgryV4Q7Uc2s+UDod37KmrhTkATX4D0z3trPGdSlTCA2opjdW"
    "kMj1dB2GLy5dt88XQBoxrMDRlidyTQwgWjZceLkXXUYMs2kz4bx0US9xyEtCIJj28qhvxd/AKNkAFVDe2z+hRtl8mkyRrg=="
)


def _b64(s: bytes) -> bytes:
    return base64.b64encode(s)


# -- logins -----------------------------------------------------------------------------------------
def pop3_sasl() -> list:
    """POP3 logins by SASL: AUTH PLAIN with an initial response, AUTH LOGIN in steps (a default
    password), AUTH XOAUTH2 with a bearer token."""
    clock = Clock()
    a = TcpConversation(POS, LAN_SRV, 50200, 110, clock)
    a.send(1, b"+OK POP3 ready\r\n")
    a.send(0, b"AUTH PLAIN " + _b64(b"\0posuser\0Sommer2024") + b"\r\n")
    a.send(1, b"+OK logged in\r\n")
    a.close()
    b = TcpConversation(POS, LAN_SRV, 50201, 110, clock)
    b.send(1, b"+OK POP3 ready\r\n")
    b.send(0, b"AUTH LOGIN\r\n")
    b.send(1, b"+ VXNlcm5hbWU6\r\n")
    b.send(0, _b64(b"backoffice") + b"\r\n")
    b.send(1, b"+ UGFzc3dvcmQ6\r\n")
    b.send(0, _b64(b"admin") + b"\r\n")
    b.send(1, b"+OK logged in\r\n")
    b.close()
    c = TcpConversation(POS, LAN_SRV, 50202, 110, clock)
    c.send(1, b"+OK POP3 ready\r\n")
    xoauth = b"user=reports@store42.example\x01auth=Bearer ya29.A0ARrdaM-store42-token\x01\x01"
    c.send(0, b"AUTH XOAUTH2 " + _b64(xoauth) + b"\r\n")
    c.send(1, b"+OK\r\n")
    c.close()
    return a.packets + b.packets + c.packets


def http_auth() -> list:
    """HTTP Digest (challenge-response) and a Bearer token sent over plain HTTP."""
    c = TcpConversation(POS, LAN_SRV, 50210, 8080, Clock())
    c.send(0, b"GET /api/stock HTTP/1.1\r\nHost: stock.store42.example\r\nAuthorization: Digest username=\"pos01\", "
           b"realm=\"stock\", nonce=\"dcd98b7102dd2f0e\", uri=\"/api/stock\", "
           b"response=\"6629fae49393a05397450978507c4ef1\"\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
    c.send(0, b"GET /api/orders HTTP/1.1\r\nHost: stock.store42.example\r\n"
           b"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwb3MwMSJ9.c2lnbmF0dXJlLXN0b3JlNDI\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
    c.close()
    return c.packets


def _mysql_packet(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def db_logins() -> list:
    """PostgreSQL SCRAM-SHA-256 outside TLS, a MySQL login without a password, a Sybase TDS 5.0 login."""
    clock = Clock()
    p = TcpConversation(POS, LAN_SRV, 50220, 5432, clock)
    params = b"user\0posapp\0database\0pos\0\0"
    p.send(0, struct.pack("!II", 8 + len(params), 0x00030000) + params)
    p.send(1, b"R" + struct.pack("!II", 23, 10) + b"SCRAM-SHA-256\0\0")
    first = b"n,,n=,r=rOprNGfwEbeRWgbNEkqO"
    body = b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first
    p.send(0, b"p" + struct.pack("!I", 4 + len(body)) + body)
    p.close()
    m = TcpConversation(POS, LAN_SRV, 50221, 3306, clock)
    greeting = (b"\x0a5.7.40-log\0" + struct.pack("<I", 42) + b"abcdefgh\0" + struct.pack("<H", 0xF7FF) + b"\x21"
                + struct.pack("<H", 2) + struct.pack("<H", 0x81FF) + b"\x15" + bytes(10) + b"ijklmnopqrst\0"
                + b"mysql_native_password\0")
    m.send(1, _mysql_packet(0, greeting))
    login = (struct.pack("<I", 0x00088200) + struct.pack("<I", 1 << 24) + b"\x21" + bytes(23) + b"posreport\0" + b"\x00"
             + b"mysql_native_password\0")
    m.send(0, _mysql_packet(1, login))
    m.send(1, _mysql_packet(2, b"\x00\x00\x00\x02\x00\x00\x00"))
    m.close()
    t = TcpConversation(POS, LAN_SRV, 50222, 5000, clock)

    def field(v: bytes) -> bytes:
        return v.ljust(30, b"\0") + bytes([len(v)])

    rec = field(b"POS-0042") + field(b"posuser") + field(b"Kasse2024") + field(b"4711") + bytes(512 - 124)
    t.send(0, bytes([0x02, 0x01]) + struct.pack("!H", 8 + len(rec)) + bytes(4) + rec)
    t.send(1, bytes([0x04, 0x01, 0x00, 0x11, 0, 0, 0, 0]) + b"\xad\x05\x00\x05\x05\x00\x00\x00\x00")
    t.close()
    return p.packets + m.packets + t.packets


def _ber(tag: int, body: bytes) -> bytes:
    n = len(body)
    return bytes([tag]) + (bytes([n]) if n < 0x80 else b"\x81" + bytes([n])) + body


def ldap_bind() -> list:
    """LDAP simple bind with a password on 389 (then a search, all in clear) and an unauthenticated
    bind (a name, no password) on the global catalog port 3268."""
    clock = Clock()
    c = TcpConversation(POS, LAN_SRV, 50230, 389, clock)
    dn = b"cn=pos-0042,ou=devices,dc=store42,dc=example"
    c.send(0, _ber(0x30, b"\x02\x01\x01" + _ber(0x60, b"\x02\x01\x03" + _ber(0x04, dn) + _ber(0x80, b"Kasse!2024"))))
    c.send(1, _ber(0x30, b"\x02\x01\x01" + _ber(0x61, b"\x0a\x01\x00\x04\x00\x04\x00")))
    search = _ber(0x63, _ber(0x04, b"dc=store42,dc=example") + b"\x0a\x01\x02\x0a\x01\x00\x02\x01\x00\x02\x01\x00"
                  + b"\x01\x01\x00" + _ber(0x87, b"objectClass") + _ber(0x30, b""))
    c.send(0, _ber(0x30, b"\x02\x01\x02" + search))
    c.send(1, _ber(0x30, b"\x02\x01\x02" + _ber(0x65, b"\x0a\x01\x00\x04\x00\x04\x00")))
    c.close()
    g = TcpConversation(POS, LAN_SRV, 50231, 3268, clock)
    g.send(0, _ber(0x30, b"\x02\x01\x01" + _ber(0x60, b"\x02\x01\x03" + _ber(0x04, b"cn=reports,dc=store42,dc=example")
                                                + _ber(0x80, b""))))
    g.send(1, _ber(0x30, b"\x02\x01\x01" + _ber(0x61, b"\x0a\x01\x00\x04\x00\x04\x00")))
    g.close()
    return c.packets + g.packets


# -- DTLS ---------------------------------------------------------------------------------------
def _dtls_hs(msg_type: int, seq: int, body: bytes, off: int = 0, n: int | None = None) -> bytes:
    frag = body[off : off + n] if n is not None else body
    return (bytes([msg_type]) + len(body).to_bytes(3, "big") + struct.pack("!H", seq) + off.to_bytes(3, "big")
            + len(frag).to_bytes(3, "big") + frag)


def _dtls_record(seq: int, body: bytes, ctype: int = 22) -> bytes:
    return struct.pack("!BHH", ctype, 0xFEFD, 0) + seq.to_bytes(6, "big") + struct.pack("!H", len(body)) + body


def dtls_cert() -> list:
    """DTLS 1.2 with a self-signed, expired, SHA-1, 1024-bit RSA certificate, fragmented over two datagrams."""
    clock = Clock()
    suites = struct.pack("!HHH", 0xC02F, 0x009C, 0x002F)
    exts = _ext(10, struct.pack("!HH", 2, 23)) + _ext(11, b"\x01\x00")
    ch = (struct.pack("!H", 0xFEFD) + blob("dtls-cr", 32) + b"\x00" + b"\x00" + struct.pack("!H", len(suites)) + suites
          + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    sh = (struct.pack("!H", 0xFEFD) + blob("dtls-sr", 32) + b"\x00" + struct.pack("!HB", 0x002F, 0)
          + struct.pack("!H", 0))
    chain = len(SHA1_CERT).to_bytes(3, "big") + SHA1_CERT
    cert = len(chain).to_bytes(3, "big") + chain
    half = len(cert) // 2
    pk = [udp(POS, LAN_SRV, 50444, 4433, _dtls_record(0, _dtls_hs(1, 0, ch)), clock)]
    pk.append(udp(LAN_SRV, POS, 4433, 50444, _dtls_record(0, _dtls_hs(2, 0, sh))
                  + _dtls_record(1, _dtls_hs(11, 1, cert, 0, half)), clock))
    pk.append(udp(LAN_SRV, POS, 4433, 50444, _dtls_record(2, _dtls_hs(11, 1, cert, half, len(cert) - half))
                  + _dtls_record(3, _dtls_hs(14, 2, b"")), clock))
    pk.append(udp(POS, LAN_SRV, 50444, 4433, _dtls_record(1, _dtls_hs(16, 1, blob("dtls-cke", 130)))
                  + _dtls_record(2, b"\x01", 20), clock))
    pk.append(udp(POS, LAN_SRV, 50444, 4433, _dtls_record(0, blob("dtls-app", 96), 23), clock))
    return pk


# -- QUIC -----------------------------------------------------------------------------------------
SALTS = {1: "38762cf7f55934b34d179ae6a4c80cadccbb7f0a", 0x6B3343CF: "0dede3def700a6db819381be6e269dcbf9bd2ed9",
         0xFF00001D: "afbfec289993d24c9e9786f19c6111e04390a899"}


def _hkdf_label(secret: bytes, label: bytes, n: int) -> bytes:
    full = b"tls13 " + label
    return HKDFExpand(hashes.SHA256(), n, struct.pack("!HB", n, len(full)) + full + b"\0").derive(secret)


def _client_keys(dcid: bytes, version: int) -> tuple[bytes, bytes, bytes]:
    h = HMAC(bytes.fromhex(SALTS[version]), hashes.SHA256())  # HKDF-Extract(salt, dcid)
    h.update(dcid)
    secret = _hkdf_label(h.finalize(), b"client in", 32)
    p = b"quicv2 " if version == 0x6B3343CF else b"quic "
    return _hkdf_label(secret, p + b"key", 16), _hkdf_label(secret, p + b"iv", 12), _hkdf_label(secret, p + b"hp", 16)


def quic_initial(version: int, dcid: bytes, scid: bytes, pn: int, frames: bytes) -> bytes:
    """One client Initial packet, padded to 1200 bytes, protected as RFC 9001 section 5 says."""
    key, iv, hp = _client_keys(dcid, version)
    ptype = 1 if version == 0x6B3343CF else 0
    pn_bytes = pn.to_bytes(2, "big")
    head_len = 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 1 + 2 + 2
    payload = frames + bytes(max(0, 1200 - head_len - len(frames) - 16))
    length = len(pn_bytes) + len(payload) + 16
    first = 0xC0 | ptype << 4 | (len(pn_bytes) - 1)
    header = (bytes([first]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
              + b"\x00" + struct.pack("!H", 0x4000 | length) + pn_bytes)
    nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
    ct = AESGCM(key).encrypt(nonce, payload, header)
    sample = ct[4 - len(pn_bytes) : 20 - len(pn_bytes)]
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    pn_off = len(header) - len(pn_bytes)
    out = bytearray(header + ct)
    out[0] ^= mask[0] & 0x0F
    for i in range(len(pn_bytes)):
        out[pn_off + i] ^= mask[1 + i]
    return bytes(out)


def _crypto(offset: int, data: bytes) -> bytes:
    return b"\x06" + struct.pack("!I", 0x80000000 | offset) + struct.pack("!H", 0x4000 | len(data)) + data


def quic() -> list:
    """QUIC v1 (ClientHello split over two Initial packets), v2 and draft-29 from the POS: names by SNI."""
    clock = Clock()
    pk = []
    flows = [(1, ACQUIRER, "pay.acquirer.example", "h3", 2),
             (0x6B3343CF, VENDOR, "telemetry.pos-vendor.example", "h3", 1),
             (0xFF00001D, "185.220.101.8", "cdn.pos-vendor.example", "h3-29", 1)]
    for k, (version, dst, sni, alpn, parts) in enumerate(flows):
        hello = client_hello(sni, [0x1301, 0x1302, 0x1303], versions=[0x0304], alpn=[alpn])[5:]
        dcid, scid = blob(f"dcid{k}", 8), blob(f"scid{k}", 8)
        cut = len(hello) // parts
        pieces = [(0, hello[:cut]), (cut, hello[cut:])] if parts == 2 else [(0, hello)]
        for pn, (off, chunk) in enumerate(pieces):
            pk.append(udp(POS, dst, 51000 + k, 443, quic_initial(version, dcid, scid, pn, _crypto(off, chunk)), clock))
        pk.append(udp(dst, POS, 443, 51000 + k, b"\x40" + blob(f"quic-s{k}", 300), clock))
        pk.append(udp(POS, dst, 51000 + k, 443, b"\x41" + blob(f"quic-c{k}", 200), clock))
    return pk


# -- proxies ----------------------------------------------------------------------------------------
def proxies() -> list:
    """SOCKS5 with a username/password to the acquirer (TLS 1.0 inside), HTTP CONNECT to an internet
    RDP host (Standard RDP Security inside), SOCKS4a to a web shop (a card posted inside)."""
    clock = Clock()
    s = TcpConversation(POS, PROXY, 50300, 1080, clock)
    s.send(0, b"\x05\x02\x00\x02")
    s.send(1, b"\x05\x02")
    s.send(0, b"\x01\x07posuser\x08Proxy123")
    s.send(1, b"\x01\x00")
    host = b"pay.acquirer.example"
    s.send(0, b"\x05\x01\x00\x03" + bytes([len(host)]) + host + struct.pack("!H", 443))
    s.send(1, b"\x05\x00\x00\x01" + bytes([10, 20, 0, 9]) + struct.pack("!H", 40001))
    s.send(0, client_hello("pay.acquirer.example", [0x002F, 0x0035], legacy=0x0301))
    s.send(1, record(22, server_hello(0x002F, legacy=0x0301) + _hs(14, b""), 0x0301))
    s.send(0, record(22, _hs(16, blob("cke-p", 130)), 0x0301) + record(20, b"\x01", 0x0301)
           + app_data("pf", 36, 0x0301))
    s.close()
    h = TcpConversation(POS, PROXY, 50301, 3128, clock)
    h.send(0, b"CONNECT 185.220.101.5:3389 HTTP/1.1\r\nHost: 185.220.101.5:3389\r\nProxy-Authorization: Basic "
           + _b64(b"pos:Proxy123") + b"\r\n\r\n")
    h.send(1, b"HTTP/1.1 200 Connection established\r\n\r\n")
    for d, pdu in enumerate(_rdp_standard_pdus()):
        h.send(d % 2, pdu)
    h.close()
    f = TcpConversation(POS, PROXY, 50302, 1080, clock)
    f.send(0, b"\x04\x01\x00\x50\x00\x00\x00\x01pos\0shop.example\0")
    f.send(1, b"\x00\x5a\x00\x00\x00\x00\x00\x00")
    body = f"card={VISA_PROXY}&exp=1228".encode()
    f.send(0, b"POST /pay HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    f.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    f.close()
    return s.packets + h.packets + f.packets


# -- RDP Standard Security ---------------------------------------------------------------------
def _tpkt(body: bytes) -> bytes:
    return b"\x03\x00" + struct.pack("!H", 4 + len(body)) + body


def _rdp_standard_pdus() -> list[bytes]:
    """Client CR (PROTOCOL_RDP only), server CC selecting it, MCS Connect Initial, MCS Connect Response
    with Server Security Data: 128-bit RC4, level client-compatible."""
    cookie = b"Cookie: mstshash=support\r\n"
    neg = b"\x01\x00\x08\x00\x00\x00\x00\x00"
    cr = bytes([6 + len(cookie) + len(neg), 0xE0, 0, 0, 0, 0, 0]) + cookie + neg
    cc = bytes([14, 0xD0, 0, 0, 0x12, 0x34, 0]) + b"\x02\x00\x08\x00\x00\x00\x00\x00"
    ci = b"\x02\xf0\x80" + b"\x7f\x65\x82\x00\x80" + blob("mcs-ci-std", 128)
    sc = (b"\x01\x0c\x0c\x00\x04\x00\x08\x00\x00\x00\x00\x00" + b"\x02\x0c\xec\x00\x02\x00\x00\x00\x02\x00\x00\x00"
          + b"\x20\x00\x00\x00\xb8\x00\x00\x00" + blob("server-random-rdp", 32) + blob("proprietary-cert", 184)
          + b"\x03\x0c\x08\x00\xeb\x03\x00\x00")
    resp = b"\x02\xf0\x80" + b"\x7f\x66\x82" + struct.pack("!H", len(sc) + 40) + blob("gcc-ccr", 40) + sc
    return [_tpkt(cr), _tpkt(cc), _tpkt(ci), _tpkt(resp)]


def rdp_standard() -> list:
    """Admin workstation → back-office PC over RDP with Standard RDP Security (RC4 128-bit, no TLS)."""
    c = TcpConversation(ADMIN, LAN_SRV, 50400, 3389, Clock())
    for d, pdu in enumerate(_rdp_standard_pdus()):
        c.send(d % 2, pdu)
    c.send(0, _tpkt(b"\x02\xf0\x80" + b"\x64\x00\x06\x03\xeb\x70\x80\x48" + blob("rdp-rc4-data", 64)))
    c.close()
    return c.packets


SCENARIOS = {
    "detect_pop3_sasl": pop3_sasl,
    "detect_http_auth": http_auth,
    "detect_db_logins": db_logins,
    "detect_ldap_bind": ldap_bind,
    "detect_dtls_cert": dtls_cert,
    "detect_quic_initial": quic,
    "detect_proxies": proxies,
    "detect_rdp_standard": rdp_standard,
}
