"""Scenarios for the logins a store network carries beside mail and files (issue 20): Redis AUTH (RESP,
ACL user), MQTT CONNECT (3.1.1 and 5.0 with a will), IRC PASS and NickServ IDENTIFY, SIP REGISTER
with Digest, HTTP NTLM, SMTP through an HTTP CONNECT tunnel; and the building-control protocols
DNP3 and Modbus/TCP in clear.

Shaped like the real clients: redis-cli's RESP arrays, an MQTT sensor's CONNECT, an IRC bot's
registration burst, a desk phone's REGISTER/401/REGISTER, a browser's NTLM handshake (scapy's NTLM
layers). The one card number is in CARD_NUMBERS.
"""

from __future__ import annotations

import base64
import struct

from scapy.layers.ntlm import NTLM_AUTHENTICATE_V2, NTLM_CHALLENGE, NTLM_NEGOTIATE, NTLMv2_RESPONSE
from scenario_lib import Clock, TcpConversation, udp
from scenarios_outdated import FILETIME, FLAGS, _ntlm_versions

POS, BACKOFFICE, PHONE, PBX, SENSOR, BROKER, HVAC, PLC = ("10.20.1.15", "10.20.0.20", "10.20.1.90", "10.20.0.60",
                                                         "10.20.1.95", "10.20.0.61", "10.20.0.70", "10.20.0.71")
PROXY, MX = "10.20.0.9", "198.51.100.25"
CARD_NUMBERS = ["4000056655665556"]  # login_connect_smtp: a Visa test number in the tunnelled mail
PASSWORDS = ["Kasse-2024!", "foobared", "coldchain1", "open-sesame", "letmein42", "hunter22",
             "Sommer2024"]  # evidence blanks them


def _resp(*words: bytes) -> bytes:
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)


def redis_auth() -> list:
    """The POS caches sessions in the back-office Redis: AUTH with an ACL user, then with the default user."""
    clock = Clock()
    a = TcpConversation(POS, BACKOFFICE, 50800, 6379, clock)
    a.send(0, _resp(b"AUTH", b"posapp", b"Kasse-2024!"))
    a.send(1, b"+OK\r\n")
    a.send(0, _resp(b"GET", b"basket:42"))
    a.send(1, b"$-1\r\n")
    a.close()
    b = TcpConversation(POS, BACKOFFICE, 50801, 6379, clock)
    b.send(0, _resp(b"AUTH", b"foobared"))
    b.send(1, b"+OK\r\n")
    b.close()
    return a.packets + b.packets


def _mqtt_str(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def _mqtt_packet(first: int, body: bytes) -> bytes:
    n, out = len(body), b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return bytes([first]) + out + body


def mqtt_connect() -> list:
    """A fridge sensor reports to the store's MQTT broker (3.1.1, user and password), a door sensor with
    MQTT 5.0, properties and a will message."""
    clock = Clock()
    a = TcpConversation(SENSOR, BROKER, 50810, 1883, clock)
    a.send(0, _mqtt_packet(0x10, _mqtt_str(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60)
                           + _mqtt_str(b"fridge-07") + _mqtt_str(b"sensor") + _mqtt_str(b"coldchain1")))
    a.send(1, b"\x20\x02\x00\x00")
    a.close()
    b = TcpConversation(SENSOR, BROKER, 50811, 1883, clock)
    props = b"\x11\x00\x00\x0e\x10"  # session expiry interval
    will = b"\x00" + _mqtt_str(b"store/door/status") + _mqtt_str(b"offline")
    b.send(0, _mqtt_packet(0x10, _mqtt_str(b"MQTT") + bytes([5, 0xC6]) + struct.pack("!H", 30) + bytes([len(props)])
                           + props + _mqtt_str(b"door-2") + will + _mqtt_str(b"doors") + _mqtt_str(b"open-sesame")))
    b.send(1, b"\x20\x03\x00\x00\x00")
    b.close()
    return a.packets + b.packets


def irc_login() -> list:
    """A monitoring bot on the back office joins the store's IRC server with a server password, then
    identifies to NickServ."""
    c = TcpConversation(BACKOFFICE, PBX, 50820, 6667, Clock())
    c.send(1, b":irc.store42.example NOTICE * :*** Looking up your hostname...\r\n")
    c.send(0, b"PASS letmein42\r\nNICK posbot\r\nUSER posbot 0 * :POS monitor\r\n")
    c.send(1, b":irc.store42.example 001 posbot :Welcome to the store42 IRC network posbot\r\n")
    c.send(0, b"PRIVMSG NickServ :IDENTIFY posbot hunter22\r\n")
    c.send(1, b":NickServ!services@store42.example NOTICE posbot :You are now identified for posbot.\r\n")
    c.send(0, b"QUIT :bye\r\n")
    c.close()
    return c.packets


def _sip(first: str, headers: list[str]) -> bytes:
    return (first + "\r\n" + "".join(h + "\r\n" for h in headers) + "Content-Length: 0\r\n\r\n").encode()


def sip_register() -> list:
    """A desk phone registers with the store PBX over UDP: REGISTER, 401 with a challenge, REGISTER with Digest."""
    clock = Clock()
    via = "Via: SIP/2.0/UDP 10.20.1.90:5060;branch=z9hG4bK-5a1"
    common = [via, "From: <sip:1001@pbx.store42.example>;tag=8f2", "To: <sip:1001@pbx.store42.example>",
              "Call-ID: 7a3f@10.20.1.90", "Contact: <sip:1001@10.20.1.90:5060>", "User-Agent: Yealink SIP-T46S"]
    out = [udp(PHONE, PBX, 5060, 5060, _sip("REGISTER sip:pbx.store42.example SIP/2.0", [*common, "CSeq: 1 REGISTER"]),
               clock)]
    out.append(udp(PBX, PHONE, 5060, 5060, _sip("SIP/2.0 401 Unauthorized", [
        *common[:4], "CSeq: 1 REGISTER",
        'WWW-Authenticate: Digest realm="store42", nonce="5f1c2a9e", algorithm=MD5, qop="auth"']), clock))
    auth = ('Authorization: Digest username="1001", realm="store42", nonce="5f1c2a9e", '
            'uri="sip:pbx.store42.example", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, '
            'cnonce="0a4f113b", qop=auth, nc=00000001')
    out.append(udp(PHONE, PBX, 5060, 5060, _sip("REGISTER sip:pbx.store42.example SIP/2.0",
                                                [*common, "CSeq: 2 REGISTER", auth]), clock))
    out.append(udp(PBX, PHONE, 5060, 5060, _sip("SIP/2.0 200 OK", [*common[:4], "CSeq: 2 REGISTER"]), clock))
    return out


def http_ntlm() -> list:
    """The back-office browser opens the intranet with NTLM: NEGOTIATE, 401 with CHALLENGE, AUTHENTICATE."""
    c = TcpConversation(BACKOFFICE, "10.20.0.3", 50830, 80, Clock())
    neg = bytes(NTLM_NEGOTIATE(NegotiateFlags=FLAGS, **_ntlm_versions(10, 0, 19045)))
    chal = bytes(NTLM_CHALLENGE(NegotiateFlags=FLAGS + "+TARGET_TYPE_DOMAIN", ServerChallenge=b"\x5a" * 8,
                                TargetName="STORE42", **_ntlm_versions(10, 0, 20348)))
    auth = bytes(NTLM_AUTHENTICATE_V2(NegotiateFlags=FLAGS, DomainName="STORE42", UserName="manager",
                                      Workstation="OFFICE1", LmChallengeResponse=b"\0" * 24,
                                      NtChallengeResponse=NTLMv2_RESPONSE(NTProofStr=b"\x42" * 16, TimeStamp=FILETIME,
                                                                          ChallengeFromClient=b"\x43" * 8),
                                      EncryptedRandomSessionKey=b"\x24" * 16, **_ntlm_versions(10, 0, 19045)))
    get = b"GET /reports/ HTTP/1.1\r\nHost: intranet.store42.example\r\n"
    c.send(0, get + b"Authorization: NTLM " + base64.b64encode(neg) + b"\r\n\r\n")
    c.send(1, b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM " + base64.b64encode(chal)
           + b"\r\nContent-Length: 0\r\n\r\n")
    c.send(0, get + b"Authorization: NTLM " + base64.b64encode(auth) + b"\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<reports>")
    c.close()
    return c.packets


def _dnp3_crc(block: bytes) -> bytes:
    crc = 0
    for b in block:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
    return struct.pack("<H", ~crc & 0xFFFF)


def _dnp3(ctrl: int, dst: int, src: int, user: bytes) -> bytes:
    head = b"\x05\x64" + bytes([5 + len(user), ctrl]) + struct.pack("<HH", dst, src)
    out = head + _dnp3_crc(head)
    for i in range(0, len(user), 16):
        block = user[i : i + 16]
        out += block + _dnp3_crc(block)
    return out


def ics_cleartext() -> list:
    """The building-management PC polls the HVAC controller over DNP3 (class 0 read) and the refrigeration
    PLC over Modbus/TCP (read holding registers): industrial protocols with no protection at all."""
    clock = Clock()
    d = TcpConversation(BACKOFFICE, HVAC, 50840, 20000, clock)
    d.send(0, _dnp3(0xC4, 10, 1, b"\xc0\xc1\x01\x3c\x01\x06"))
    d.send(1, _dnp3(0x44, 1, 10, b"\xc0\xc1\x81\x00\x00\x1e\x02\x00\x00\x01\x01\x52\x00\x01\x4a\x01"))
    d.close()
    m = TcpConversation(BACKOFFICE, PLC, 50841, 502, clock)
    m.send(0, struct.pack("!HHHBBHH", 1, 0, 6, 1, 3, 0x0010, 4))
    m.send(1, struct.pack("!HHHBBB", 1, 0, 11, 1, 3, 8) + struct.pack("!hhhh", -18, -20, 4, 5))
    m.close()
    return d.packets + m.packets


def connect_smtp() -> list:
    """A back-office PC sends mail through the store's web proxy: `CONNECT host:25 / HTTP/1.0` (a trailing
    token, as mass-mailers write it), the proxy's 200 and the server's greeting in one segment, then SMTP
    AUTH LOGIN and a message with a card number; a second tunnel asks `CONNECT host:25` with bare LF ends."""
    import base64 as b64

    clock = Clock()
    a = TcpConversation(BACKOFFICE, PROXY, 50850, 3128, clock)
    a.send(0, b"CONNECT mx.partner.example:25 / HTTP/1.0\r\n\r\n")
    a.send(1, b"HTTP/1.0 200 Connection established\r\n\r\n220 mx.partner.example ESMTP Postfix\r\n")
    a.send(0, b"EHLO office1\r\n")
    a.send(1, b"250-mx.partner.example\r\n250 AUTH LOGIN PLAIN\r\n")
    a.send(0, b"AUTH LOGIN\r\n")
    a.send(1, b"334 VXNlcm5hbWU6\r\n")
    a.send(0, b64.b64encode(b"orders@store42.example") + b"\r\n")
    a.send(1, b"334 UGFzc3dvcmQ6\r\n")
    a.send(0, b64.b64encode(PASSWORDS[6].encode()) + b"\r\n")
    a.send(1, b"235 2.7.0 Authentication successful\r\n")
    a.send(0, b"MAIL FROM:<orders@store42.example>\r\nRCPT TO:<billing@partner.example>\r\nDATA\r\n")
    a.send(1, b"250 OK\r\n250 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
    a.send(0, b"Subject: refund\r\n\r\nPlease refund card " + CARD_NUMBERS[0].encode() + b" exp 12/28.\r\n.\r\n")
    a.send(1, b"250 2.0.0 Ok: queued\r\n")
    a.close()
    b = TcpConversation(BACKOFFICE, PROXY, 50851, 3128, clock)
    b.send(0, b"CONNECT mx2.partner.example:25\n\n")
    b.send(1, b"HTTP/1.1 200 OK\n\n")
    b.send(1, b"220 mx2.partner.example ESMTP\r\n")
    b.send(0, b"EHLO office1\r\n")
    b.close()
    return a.packets + b.packets


SCENARIOS = {
    "login_connect_smtp": connect_smtp,
    "login_redis": redis_auth,
    "login_mqtt": mqtt_connect,
    "login_irc": irc_login,
    "login_sip_digest": sip_register,
    "login_http_ntlm": http_ntlm,
    "ics_dnp3_modbus": ics_cleartext,
}
