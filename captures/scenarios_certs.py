"""Scenarios for certificates shown by handshakes that other protocols carry (issue 20): MySQL's
SSLRequest (also sent back to back with the ClientHello), PostgreSQL's SSLRequest, LDAP StartTLS,
SMTP and IMAP STARTTLS, POP3 STLS, RDP's TLS security and SQL Server's TLS inside TDS. Each server
presents the same self-signed certificate (EC P-256, valid 2023-2033, generated once and kept as
DER); the MySQL server answers in TLS 1.1 as yaSSL-era builds did. No card numbers in these captures.
"""

from __future__ import annotations

import base64
import struct

from scenario_lib import Clock, TcpConversation
from scenarios_protect import CCS, _hs, app_data, certificate, client_hello, record, server_hello

POS, BACKOFFICE, DC, MAIL, TILL_PC = "10.20.1.15", "10.20.0.20", "10.20.0.2", "10.20.0.25", "10.20.1.60"
CARD_NUMBERS: list[str] = []
# CN=backoffice-db.store42.example, self-signed (issuer == subject, signed by its own key)
SELF_SIGNED = base64.b64decode(
    "MIIBQDCB5qADAgECAgRe7QABMAoGCCqGSM49BAMCMCgxJjAkBgNVBAMMHWJhY2tvZmZpY2UtZGIuc3RvcmU0Mi5leGFtcGxlMB4XDTIzMDEw"
    "MTAwMDAwMFoXDTMzMDEwMTAwMDAwMFowKDEmMCQGA1UEAwwdYmFja29mZmljZS1kYi5zdG9yZTQyLmV4YW1wbGUwWTATBgcqhkjOPQIBBggq"
    "hkjOPQMBBwNCAASMD/hRgBYuqN5UIapTSUV8YOD+TPtWS51DHv7o9w0Exb81REopwvlnMNXsvQCdA0w91Kmk3Aurqs+e6aI29fFAMAoGCCqG"
    "SM49BAMCA0kAMEYCIQCjK3jYnkrj/of+juqWRGsyY+u5/4KnZFVBWwCqbfCLqQIhANwGGsbO8lRJgNohB1DEq6NxNwAd8UycRIFuqT/bVsOD"
)
SUITES = [0xC02B, 0xC02F, 0xC009, 0xC013, 0x002F, 0x0035]


def _server_flight(version: int, cipher: int) -> bytes:
    """ServerHello, Certificate and ServerHelloDone, one record each."""
    return (record(22, server_hello(cipher, legacy=version), version) + record(22, certificate(SELF_SIGNED), version)
            + record(22, _hs(14, b""), version))


def _finish(c: TcpConversation, version: int, label: str) -> None:
    c.send(0, record(22, _hs(16, b"\x41" + bytes(65)), version) + CCS + app_data(f"{label}-cf", 40, version))
    c.send(1, CCS + app_data(f"{label}-sf", 40, version))
    c.send(0, app_data(f"{label}-q", 120, version))
    c.send(1, app_data(f"{label}-r", 480, version))
    c.close()


def _mysql(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def mysql_tls11() -> list:
    """The POS reads its price table from the back-office MySQL over TLS 1.1; the second connection's client
    sends the SSLRequest and the ClientHello in one segment."""
    clock = Clock()
    greeting = (b"\x0a5.7.44-log\0" + struct.pack("<I", 7) + b"abcdefgh\0" + struct.pack("<H", 0xFFFF) + b"\x21"
                + struct.pack("<H", 2) + struct.pack("<H", 0x81FF) + b"\x15" + bytes(10) + b"ijklmnopqrst\0"
                + b"mysql_native_password\0")
    ssl_request = _mysql(1, struct.pack("<I", 0x000AAA85) + struct.pack("<I", 1 << 24) + b"\x21" + bytes(23))
    hello = client_hello(None, SUITES, legacy=0x0302)
    pkts = []
    for i, together in enumerate((False, True)):
        c = TcpConversation(POS, BACKOFFICE, 50300 + i, 3306, clock)
        c.send(1, _mysql(0, greeting))
        if together:
            c.send(0, ssl_request + hello)
        else:
            c.send(0, ssl_request)
            c.send(0, hello)
        c.send(1, _server_flight(0x0302, 0xC013))
        _finish(c, 0x0302, f"my{i}")
        pkts += c.packets
    return pkts


def postgres_ssl() -> list:
    """The back-office report job connects to PostgreSQL: SSLRequest, 'S', then TLS 1.2."""
    c = TcpConversation(POS, BACKOFFICE, 50310, 5432, Clock())
    c.send(0, struct.pack("!II", 8, 80877103))
    c.send(1, b"S")
    c.send(0, client_hello("backoffice-db.store42.example", SUITES))
    c.send(1, _server_flight(0x0303, 0xC02F))
    _finish(c, 0x0303, "pg")
    return c.packets


def _ber(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else b"\x82" + n.to_bytes(2, "big")
    return bytes([tag]) + length + body


def ldap_starttls() -> list:
    """The POS PC's directory lookup upgrades with LDAP StartTLS (extended operation 1.3.6.1.4.1.1466.20037)."""
    c = TcpConversation(POS, DC, 50320, 389, Clock())
    c.send(0, _ber(0x30, b"\x02\x01\x01" + _ber(0x77, _ber(0x80, b"1.3.6.1.4.1.1466.20037"))))
    c.send(1, _ber(0x30, b"\x02\x01\x01" + _ber(0x78, b"\x0a\x01\x00\x04\x00\x04\x00"
                                               + _ber(0x8A, b"1.3.6.1.4.1.1466.20037"))))
    c.send(0, client_hello("dc.store42.example", SUITES))
    c.send(1, _server_flight(0x0303, 0xC02F))
    _finish(c, 0x0303, "ldap")
    return c.packets


def mail_starttls() -> list:
    """The back office fetches and sends mail: IMAP STARTTLS, POP3 STLS and SMTP submission with STARTTLS,
    all to the store's mail server."""
    clock = Clock()
    i = TcpConversation(BACKOFFICE, MAIL, 50330, 143, clock)
    i.send(1, b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] mail.store42.example ready\r\n")
    i.send(0, b"a1 STARTTLS\r\n")
    i.send(1, b"a1 OK Begin TLS negotiation now\r\n")
    i.send(0, client_hello("mail.store42.example", SUITES))
    i.send(1, _server_flight(0x0303, 0xC02F))
    _finish(i, 0x0303, "imap")
    p = TcpConversation(BACKOFFICE, MAIL, 50331, 110, clock)
    p.send(1, b"+OK mail.store42.example POP3 ready\r\n")
    p.send(0, b"STLS\r\n")
    p.send(1, b"+OK Begin TLS negotiation\r\n")
    p.send(0, client_hello("mail.store42.example", SUITES))
    p.send(1, _server_flight(0x0303, 0xC02F))
    _finish(p, 0x0303, "pop3")
    m = TcpConversation(BACKOFFICE, MAIL, 50332, 587, clock)
    m.send(1, b"220 mail.store42.example ESMTP Postfix\r\n")
    m.send(0, b"EHLO backoffice\r\n")
    m.send(1, b"250-mail.store42.example\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
    m.send(0, b"STARTTLS\r\n")
    m.send(1, b"220 2.0.0 Ready to start TLS\r\n")
    m.send(0, client_hello("mail.store42.example", SUITES))
    m.send(1, _server_flight(0x0303, 0xC02F))
    _finish(m, 0x0303, "smtp")
    return i.packets + p.packets + m.packets


def rdp_tls() -> list:
    """An admin opens RDP to a till PC; the server picks TLS security (PROTOCOL_SSL) and shows its own
    self-signed certificate, as Windows does by default."""
    c = TcpConversation(BACKOFFICE, TILL_PC, 50340, 3389, Clock())
    cookie = b"Cookie: mstshash=admin\r\n"
    neg = b"\x01\x00\x08\x00\x03\x00\x00\x00"  # RDP_NEG_REQ: PROTOCOL_SSL | PROTOCOL_HYBRID
    x224 = bytes([6 + len(cookie) + len(neg), 0xE0, 0, 0, 0, 0, 0]) + cookie + neg
    c.send(0, b"\x03\x00" + struct.pack("!H", 4 + len(x224)) + x224)
    cc = bytes([14, 0xD0, 0, 0, 0x12, 0x34, 0]) + b"\x02\x00\x08\x00\x01\x00\x00\x00"  # RDP_NEG_RSP: PROTOCOL_SSL
    c.send(1, b"\x03\x00" + struct.pack("!H", 4 + len(cc)) + cc)
    c.send(0, client_hello(None, SUITES))
    c.send(1, _server_flight(0x0303, 0xC02F))
    _finish(c, 0x0303, "rdp")
    return c.packets


def _tds(ptype: int, payload: bytes) -> bytes:
    return bytes([ptype, 0x01]) + struct.pack("!HHBB", 8 + len(payload), 0, 1, 0) + payload


def _prelogin(encryption: int) -> bytes:
    """PRELOGIN options VERSION and ENCRYPTION (token, offset, length), terminator, then their data."""
    return (b"\x00" + struct.pack("!HH", 11, 6) + b"\x01" + struct.pack("!HH", 17, 1) + b"\xff"
            + b"\x0f\x00\x10\x7f\x00\x00" + bytes([encryption]))


def mssql_tds() -> list:
    """The back-office application talks to SQL Server Express, whose certificate is the self-signed one SQL
    Server makes for itself: first with encryption on (TLS inside PRELOGIN packets, then raw TLS), then
    with encryption off (TLS protects only the login; the query that follows is in clear)."""
    clock = Clock()
    pkts = []
    for i, encryption in enumerate((1, 0)):
        c = TcpConversation(POS, BACKOFFICE, 50350 + i, 1433, clock)
        c.send(0, _tds(0x12, _prelogin(2)))  # the client: encryption supported, not required
        c.send(1, _tds(0x04, _prelogin(encryption)))
        c.send(0, _tds(0x12, client_hello(None, SUITES)))
        c.send(1, _tds(0x12, _server_flight(0x0303, 0xC02F)))
        c.send(0, _tds(0x12, record(22, _hs(16, b"\x41" + bytes(65))) + CCS + app_data(f"tds{i}-cf", 40)))
        c.send(1, _tds(0x12, CCS + app_data(f"tds{i}-sf", 40)))
        c.send(0, app_data(f"tds{i}-login7", 220))  # LOGIN7 inside TLS, no TDS header around the record
        if encryption:
            c.send(1, app_data(f"tds{i}-loginack", 180))
        else:
            c.send(1, _tds(0x04, b"\xad" + bytes(40)))  # LOGINACK in clear
            c.send(0, _tds(0x01, "SELECT sku, price FROM prices".encode("utf-16-le")))
        c.close()
        pkts += c.packets
    return pkts


SCENARIOS = {
    "cert_mssql_tds": mssql_tds,
    "cert_mysql_tls11": mysql_tls11,
    "cert_postgres_ssl": postgres_ssl,
    "cert_ldap_starttls": ldap_starttls,
    "cert_mail_starttls": mail_starttls,
    "cert_rdp_tls": rdp_tls,
}
