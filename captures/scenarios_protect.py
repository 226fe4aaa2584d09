"""Scenario captures for "Is it protected?": TLS versions and suites, VPNs, SSH, cleartext logins, remote access.

Every payload is built byte by byte here (TLS hellos, WireGuard, IKE, RDP X.224, SNMP BER…), so the
files are small and identical on every run. Addresses: 10.20.x.x is the store, 185.220.101.5 an
internet host (ipaddress calls it global; the documentation ranges are not), 203.0.113.10 the acquirer.
"""

from __future__ import annotations

import base64
import hashlib
import struct

from scenario_lib import Clock, TcpConversation, udp

POS, ADMIN, LAN_SRV = "10.20.1.15", "10.20.0.5", "10.20.1.50"
ACQUIRER, INTERNET = "203.0.113.10", "185.220.101.5"
# Self-signed, expired (2015-2020), RSA 1024, CN=legacy-gw.store42.example: generated once, kept as DER.
LEGACY_CERT = base64.b64decode(
    "MIIBvTCCASagAwIBAgICEJIwDQYJKoZIhvcNAQELBQAwJDEiMCAGA1UEAwwZbGVnYWN5LWd3LnN0b3JlNDIuZXhhbXBsZTAeFw0xNTAxMDEwMDAwMDBaFw0yMDAxMDEwMDAwMDBaMCQxIjAgBgNVBAMMGWxlZ2FjeS1ndy5zdG9yZTQyLmV4YW1wbGUwgZ8wDQYJKoZIhvcNAQEBBQADgY0AMIGJAoGBAK2UpqNeXiE3IhFCWk0H3fG+2XdqCUANZ2NxCwW4VL3RQobSS5Fpk5QBbV1xLBC5987oszY31bKSCNBmk2d8ldfibJ9YqK3CoqSu7ain4IC3CvtM/6wC5d95KU3AO7VD80uBt9+guG3j0mcp9nIVKv36xtzXDGLl/0eeqRDL3Wj/AgMBAAEwDQYJKoZIhvcNAQELBQADgYEAC4cDEKG9X3QgT9YNqScBVSKsFaV4biRdtgZi051FqXLXXgFjg3XHKdN2Num7+TVMjd+6EySe6DFpFIlkl0l6ulwcGH1K7FJP5QE8vI/o5MZCI/4mUftGPfP5rvYkpZKlQdDCpUanKTXuRCfr9cOIZd18AsT2uxv1F9NjE3b7vXU="
)

# every secret a login here sends (evidence blanks them; tests/test_evidence_secrets.py): the FTP password
# (a default), the Telnet password typed key by key, the SNMP community
PASSWORDS = ["admin", "Sw1tch!2024", "public"]

def blob(label: str, n: int) -> bytes:
    """Deterministic random-looking bytes (stand-in for ciphertext)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}:{i}".encode()).digest()
        i += 1
    return out[:n]


# -- TLS building blocks ------------------------------------------------------------------------
def _ext(t: int, body: bytes) -> bytes:
    return struct.pack("!HH", t, len(body)) + body


def _hs(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ctype, version, len(body)) + body


def client_hello(sni: str | None, ciphers: list[int], legacy: int = 0x0303, versions: list[int] | None = None,
                 alpn: list[str] | None = None) -> bytes:
    exts = b""
    if sni:
        name = sni.encode()
        exts += _ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
    exts += _ext(10, struct.pack("!H", 4) + struct.pack("!HH", 29, 23))  # x25519, secp256r1
    exts += _ext(11, b"\x01\x00")
    exts += _ext(13, struct.pack("!H", 4) + struct.pack("!HH", 0x0403, 0x0804))
    if alpn:
        lst = b"".join(bytes([len(a)]) + a.encode() for a in alpn)
        exts += _ext(16, struct.pack("!H", len(lst)) + lst)
    if versions:
        exts += _ext(43, bytes([2 * len(versions)]) + b"".join(struct.pack("!H", v) for v in versions))
        exts += _ext(51, struct.pack("!HHH", 36, 29, 32) + blob("keyshare-c", 32))
    suites = b"".join(struct.pack("!H", c) for c in ciphers)
    body = (struct.pack("!H", legacy) + blob("client-random", 32) + b"\x20" + blob("sid", 32)
            + struct.pack("!H", len(suites)) + suites + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    return record(22, _hs(1, body), 0x0301)


def server_hello(cipher: int, legacy: int = 0x0303, selected: int | None = None) -> bytes:
    exts = b""
    if selected:
        exts += _ext(43, struct.pack("!H", selected)) + _ext(51, struct.pack("!HH", 29, 32) + blob("keyshare-s", 32))
    body = (struct.pack("!H", legacy) + blob("server-random", 32) + b"\x20" + blob("sid", 32)
            + struct.pack("!HB", cipher, 0) + struct.pack("!H", len(exts)) + exts)
    return _hs(2, body)


def certificate(der: bytes) -> bytes:
    chain = len(der).to_bytes(3, "big") + der
    return _hs(11, len(chain).to_bytes(3, "big") + chain)


CCS = record(20, b"\x01")


def app_data(label: str, n: int, version: int = 0x0303) -> bytes:
    return record(23, blob(label, n), version)


# -- scenarios ----------------------------------------------------------------------------------
def tls13() -> list:
    """POS → acquirer, TLS 1.3 (AES-128-GCM), SNI and ALPN: protected, nothing to report."""
    c = TcpConversation(POS, ACQUIRER, 49200, 443, Clock())
    c.send(0, client_hello("pay.acquirer.example", [0x1301, 0x1302, 0xC02F], versions=[0x0304, 0x0303],
                           alpn=["http/1.1"]))
    c.send(1, record(22, server_hello(0x1301, selected=0x0304)) + CCS + app_data("ee", 600))
    c.send(0, CCS + app_data("fin", 53))
    c.send(0, app_data("req", 300))
    c.send(1, app_data("resp", 200))
    c.close()
    return c.packets


def tls10_rc4() -> list:
    """POS → legacy gateway on 9443: TLS 1.0, RC4-SHA, self-signed expired 1024-bit RSA certificate."""
    c = TcpConversation(POS, LAN_SRV, 49201, 9443, Clock())
    c.send(0, client_hello("legacy-gw.store42.example", [0x0005, 0x0004, 0x000A, 0x002F], legacy=0x0301))
    c.send(1, record(22, server_hello(0x0005, legacy=0x0301) + certificate(LEGACY_CERT) + _hs(14, b""), 0x0301))
    c.send(0, record(22, _hs(16, blob("cke", 130)), 0x0301) + record(20, b"\x01", 0x0301) + app_data("f", 36, 0x0301))
    c.send(1, record(20, b"\x01", 0x0301) + app_data("sf", 36, 0x0301))
    c.send(0, app_data("auth", 180, 0x0301))
    c.close()
    return c.packets


def wireguard_443() -> list:
    """WireGuard tunnel from the store router on udp/443: handshake initiation, response, data."""
    clk = Clock()
    rtr = "10.20.0.1"
    init = b"\x01\0\0\0" + blob("wg-init", 144)
    resp = b"\x02\0\0\0" + blob("wg-resp", 88)
    pkts = [udp(rtr, INTERNET, 51820, 443, init, clk), udp(INTERNET, rtr, 443, 51820, resp, clk)]
    for i in range(3):
        pkts.append(udp(rtr, INTERNET, 51820, 443, b"\x04\0\0\0" + blob(f"wg-data{i}", 12 + 128), clk))
    return pkts


def ipsec_natt() -> list:
    """IPsec behind NAT: IKEv2 on udp/4500 after the non-ESP marker, then ESP in UDP and a keepalive."""
    clk = Clock()
    rtr = "10.20.0.1"
    payload = blob("ike-sa", 64)
    hdr = blob("ispi", 8) + b"\0" * 8 + bytes([0x21, 0x20, 34, 0x08]) + b"\0\0\0\0"
    ike = hdr + struct.pack("!I", 28 + len(payload)) + payload
    pkts = [udp(rtr, INTERNET, 4500, 4500, b"\0\0\0\0" + ike, clk)]
    for i in range(3):
        esp = struct.pack("!II", 0x0C0FFEE0, i + 1) + blob(f"esp{i}", 96)
        pkts.append(udp(rtr, INTERNET, 4500, 4500, esp, clk))
    pkts.append(udp(rtr, INTERNET, 4500, 4500, b"\xff", clk))
    return pkts


def ssh_admin() -> list:
    """Admin workstation → POS over SSH: banners, then binary packets."""
    c = TcpConversation(ADMIN, POS, 50022, 22, Clock())
    c.send(1, b"SSH-2.0-OpenSSH_9.6\r\n")
    c.send(0, b"SSH-2.0-OpenSSH_9.6\r\n")
    c.send(0, struct.pack("!IB", 300, 6) + blob("kex-c", 299))
    c.send(1, struct.pack("!IB", 300, 6) + blob("kex-s", 299))
    c.close()
    return c.packets


def ftp_vlan() -> list:
    """POS uploads a batch file by FTP (VLAN 20) with a default password; passive data connection."""
    clk = Clock()
    srv = "10.20.9.30"
    c = TcpConversation(POS, srv, 49300, 21, clk, vlan=20)
    c.send(1, b"220 (vsFTPd 3.0.3)\r\n")
    c.send(0, b"USER posbatch\r\n")
    c.send(1, b"331 Please specify the password.\r\n")
    c.send(0, b"PASS admin\r\n")
    c.send(1, b"230 Login successful.\r\n")
    c.send(0, b"PASV\r\n")
    c.send(1, b"227 Entering Passive Mode (10,20,9,30,117,48).\r\n")
    c.send(0, b"STOR batch-0042.csv\r\n")
    d = TcpConversation(POS, srv, 49301, 30000, clk, vlan=20, isn=(5000, 7000))
    c.send(1, b"150 Ok to send data.\r\n")
    d.send(0, b"store,lane,amount\r\n0042,3,12.50\r\n0042,1,7.99\r\n")
    d.close()
    c.send(1, b"226 Transfer complete.\r\n")
    c.send(0, b"QUIT\r\n")
    c.send(1, b"221 Goodbye.\r\n")
    c.close()
    return sorted(c.packets + d.packets, key=lambda p: p.time)


def telnet_v6() -> list:
    """Telnet to a store switch over IPv6 with a login prompt; keystrokes echoed one by one."""
    c = TcpConversation("fd00:20::15", "fd00:20::1", 49400, 23, Clock())
    c.send(1, b"\xff\xfd\x18\xff\xfd\x20\xff\xfb\x01\xff\xfb\x03")
    c.send(0, b"\xff\xfc\x18\xff\xfc\x20\xff\xfd\x01\xff\xfd\x03")
    c.send(1, b"\r\nstore-sw1 login: ")
    for ch in b"netadmin":
        c.send(0, bytes([ch]))
        c.send(1, bytes([ch]))
    c.send(0, b"\r")
    c.send(1, b"\r\nPassword: ")
    for ch in b"Sw1tch!2024":
        c.send(0, bytes([ch]))
    c.send(0, b"\r")
    c.send(1, b"\r\nstore-sw1> ")
    c.close()
    return c.packets


def smtp_starttls() -> list:
    """Back-office PC sends mail: EHLO, STARTTLS, then a TLS 1.2 handshake: protected from the upgrade on."""
    c = TcpConversation("10.20.0.8", "10.20.9.25", 49500, 25, Clock())
    c.send(1, b"220 mail.store42.example ESMTP Postfix\r\n")
    c.send(0, b"EHLO backoffice\r\n")
    c.send(1, b"250-mail.store42.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
    c.send(0, b"STARTTLS\r\n")
    c.send(1, b"220 2.0.0 Ready to start TLS\r\n")
    c.send(0, client_hello("mail.store42.example", [0xC02F, 0xC030, 0x009C]))
    c.send(1, record(22, server_hello(0xC02F)) + CCS + app_data("smtp-fin", 40))
    c.send(0, CCS + app_data("smtp-cfin", 40) + app_data("smtp-auth", 64))
    c.close()
    return c.packets


def _ber(tag: int, body: bytes) -> bytes:
    return bytes([tag, len(body)]) + body


def snmp_public() -> list:
    """Monitoring host polls a POS printer with SNMP v2c and the community "public"."""
    clk = Clock()
    oid = _ber(0x06, bytes([0x2B, 6, 1, 2, 1, 1, 1, 0]))
    varbind = _ber(0x30, _ber(0x30, oid + b"\x05\x00"))
    pdu = _ber(0xA0, _ber(0x02, b"\x01") + _ber(0x02, b"\x00") + _ber(0x02, b"\x00") + varbind)
    get = _ber(0x30, _ber(0x02, b"\x01") + _ber(0x04, b"public") + pdu)
    value = _ber(0x30, _ber(0x30, oid + _ber(0x04, b"POS printer")))
    rpdu = _ber(0xA2, _ber(0x02, b"\x01") + _ber(0x02, b"\x00") + _ber(0x02, b"\x00") + value)
    resp = _ber(0x30, _ber(0x02, b"\x01") + _ber(0x04, b"public") + rpdu)
    return [udp(ADMIN, LAN_SRV, 50161, 161, get, clk), udp(LAN_SRV, ADMIN, 161, 50161, resp, clk)]


def rdp_inbound() -> list:
    """An internet host opens RDP to the back-office PC, standard RDP security (no TLS)."""
    c = TcpConversation(INTERNET, "10.20.0.8", 50389, 3389, Clock())
    cookie = b"Cookie: mstshash=administrator\r\n"
    neg = b"\x01\x00\x08\x00\x00\x00\x00\x00"  # RDP_NEG_REQ: PROTOCOL_RDP only
    x224 = bytes([6 + len(cookie) + len(neg), 0xE0, 0, 0, 0, 0, 0]) + cookie + neg
    c.send(0, b"\x03\x00" + struct.pack("!H", 4 + len(x224)) + x224)
    cc = bytes([14, 0xD0, 0, 0, 0x12, 0x34, 0]) + b"\x02\x00\x08\x00\x00\x00\x00\x00"
    c.send(1, b"\x03\x00" + struct.pack("!H", 4 + len(cc)) + cc)
    mcs = b"\x02\xf0\x80" + b"\x7f\x65" + blob("mcs-ci", 120)
    c.send(0, b"\x03\x00" + struct.pack("!H", 4 + len(mcs)) + mcs)
    c.close()
    return c.packets


def vnc() -> list:
    """Admin workstation → POS over VNC (RFB 3.8)."""
    c = TcpConversation(ADMIN, POS, 50590, 5900, Clock())
    c.send(1, b"RFB 003.008\n")
    c.send(0, b"RFB 003.008\n")
    c.send(1, b"\x01\x02")  # one security type: VNC authentication
    c.send(0, b"\x02")
    c.send(1, blob("vnc-challenge", 16))
    c.send(0, blob("vnc-response", 16))
    c.send(1, b"\x00\x00\x00\x00")
    c.close()
    return c.packets


SCENARIOS = {
    "protect_tls13": tls13,
    "protect_tls10_rc4": tls10_rc4,
    "protect_wireguard_443": wireguard_443,
    "protect_ipsec_natt": ipsec_natt,
    "protect_ssh": ssh_admin,
    "protect_ftp_vlan": ftp_vlan,
    "protect_telnet_v6": telnet_v6,
    "protect_smtp_starttls": smtp_starttls,
    "protect_snmp_public": snmp_public,
    "protect_rdp_inbound": rdp_inbound,
    "protect_vnc": vnc,
}
