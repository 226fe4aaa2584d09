"""Content recognisers: the first payload of a flow → (app, encrypted, how), or None.

Each recogniser is a pure function of (payload, flow, direction) and never raises: a few byte
comparisons first, so that most flows are decided by the first or second check. Ports appear only
where a protocol is defined by them (IKE NAT-T on 4500, infrastructure name services) or to break
a tie between two protocols with the same greeting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from netwatch.analyzers import recognise_apps as apps
from netwatch.flows.table import Flow
from netwatch.protocols.auth import TELNET_IAC, TELNET_PASS_PROMPT, TELNET_USER_PROMPT
from netwatch.protocols.ber import ber_length
from netwatch.protocols.iso8583 import looks_like_iso8583
from netwatch.protocols.zvt import looks_like_zvt

Verdict = tuple[str, bool | None, str | None]  # app, encrypted, how
Recogniser = Callable[[bytes, Flow, int], Verdict | None]

PRINTABLE = frozenset(b"\t\r\n" + bytes(range(32, 127)))
PRINTABLE_BYTES = bytes(sorted(PRINTABLE))
SAMPLE_TEXT = 256
HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ")
SMTP_HINTS = (b"SMTP", b"MAIL", b"POSTFIX", b"EXIM", b"SENDMAIL")
FTP_PORTS, SMTP_PORTS, POP3_PORTS = {21, 990, 2121}, {25, 465, 587, 2525}, {110, 995}
IMAP_CMD = re.compile(rb"^[A-Za-z0-9.]{1,12} (?:CAPABILITY|LOGIN|STARTTLS|AUTHENTICATE|SELECT|NOOP|ID)\b", re.I)
SYSLOG = re.compile(rb"^(?:[0-9]{1,5} )?<[0-9]{1,3}>")
TDS_TYPES = frozenset({0x01, 0x02, 0x03, 0x04, 0x06, 0x07, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x17})


def tls_record(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """A handshake record is protected once the handshake completes (tls_handshakes says if not);
    other records first (a capture begun mid-session, or record headers on bytes no handshake
    keyed) are `no-handshake`: scanned like any payload, never counted protected."""
    if len(data) >= 5 and 0x14 <= data[0] <= 0x17 and data[1] == 3 and data[2] <= 4:
        return ("tls", True, "tls") if data[0] == 0x16 else ("tls", records_readable(data[5:]), "no-handshake")
    if len(data) >= 5 and data[0] & 0x80 and data[2] in (1, 4) and data[3] in (0, 3):
        return "tls", True, "sslv2"  # SSLv2-format hello
    return None


def ssh_banner(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    return ("ssh", True, "ssh") if data.startswith(b"SSH-") else None


def http(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    if data.startswith(HTTP_METHODS) or data.startswith(b"HTTP/1."):
        return "http", False, None
    if data.startswith(b"PRI * HTTP/2.0"):  # the HTTP/2 preface in the clear: h2c with prior knowledge
        return "http", False, "h2c"
    return None


def banner(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """Server-first text protocols: FTP/SMTP (220), POP3 (+OK), IMAP (* OK), VNC (RFB)."""
    if data[:3] == b"220" and data[3:4] in (b" ", b"-"):
        line = data[:200].upper()
        if b"FTP" in line or flow.server_port in FTP_PORTS:
            return "ftp", False, None
        if any(h in line for h in SMTP_HINTS) or flow.server_port in SMTP_PORTS:
            return "smtp", False, None
        return "ftp", False, None
    if data.startswith(b"+OK"):
        return "pop3", False, None
    if data.startswith((b"* OK", b"* PREAUTH")):
        return "imap", False, None
    if data.startswith(b"RFB 00") and len(data) >= 12:
        return "vnc", False, "rfb"
    return None


def client_command(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """Client-first lines of the same protocols (a capture may miss the greeting)."""
    head = data[:12].upper()
    if head.startswith((b"EHLO ", b"HELO ")):
        return "smtp", False, None
    if head.startswith((b"CAPA\r", b"STLS\r", b"APOP ")):
        return "pop3", False, None
    if head.startswith((b"USER ", b"PASS ")):
        return ("pop3" if flow.server_port in POP3_PORTS else "ftp"), False, None
    if head.startswith((b"AUTH TLS", b"AUTH SSL", b"FEAT\r", b"SYST\r")):
        return "ftp", False, None
    if IMAP_CMD.match(data):
        return "imap", False, None
    return None


TELNET_PORTS = frozenset({23, 2323})


def telnet(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """Telnet (RFC 854): option negotiation (IAC WILL/WONT/DO/DONT) first, or text that carries IAC
    commands, or a server whose first text ends in a login or password prompt (many terminals and
    consoles skip negotiation), or any text on the Telnet port."""
    if len(data) >= 3 and data[0] == 0xFF and 0xFB <= data[1] <= 0xFE:
        return "telnet", False, None
    head = data[:256]
    text = TELNET_IAC.sub(b"", head) if b"\xff" in head else head
    if not text or len(text.translate(None, PRINTABLE_BYTES)) > 0.05 * len(text):  # keystrokes come one by one
        return None
    if len(text) < len(head) or flow.server_port in TELNET_PORTS:
        return "telnet", False, None
    tail = TELNET_IAC.sub(b"", data[-128:])
    if direction == 1 and (TELNET_USER_PROMPT.search(tail) or TELNET_PASS_PROMPT.search(tail)):
        return "telnet", False, None
    return None


def rdp(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """TPKT + X.224 connection request/confirm (or data, mid-stream): RDP until a TLS upgrade shows."""
    if (len(data) >= 11 and data[0] == 3 and data[1] == 0 and int.from_bytes(data[2:4], "big") <= len(data) + 4096
            and (data[5] in (0xE0, 0xD0) or (data[4] == 2 and data[5] == 0xF0))):
        return "rdp", False, "rdp-security"
    return None


def smb(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """SMB in NetBIOS session frames; an SMB1 NEGOTIATE request is only an offer (modern clients list
    SMB2 dialects in it): the server's answer decides (analyzers.smb). A NetBIOS session request
    (port 139: two encoded 32-character names) opens SMB too."""
    if len(data) >= 72 and data[0] == 0x81 and int.from_bytes(data[1:4], "big") == 68 and data[4] == 0x20:
        return "smb", False, "netbios-ssn"
    if len(data) >= 8 and data[0] == 0:
        magic = data[4:8]
        if magic == b"\xffSMB":
            offer = len(data) >= 14 and data[8] == 0x72 and not data[13] & 0x80
            return "smb", False, "smb1-offered" if offer else "smb1"
        if magic == b"\xfeSMB":
            return "smb", False, "smb2"
        if magic == b"\xfdSMB":
            return "smb", True, "smb3-encrypted"
    return None


def databases(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """PostgreSQL startup/SSL request, MySQL server greeting, TDS (SQL Server) pre-login/login."""
    n = len(data)
    if n >= 8 and int.from_bytes(data[:4], "big") == n:
        code = int.from_bytes(data[4:8], "big")
        if code in (0x00030000, 80877103):  # protocol 3.0 startup, SSLRequest (upgrade watched)
            return "postgres", False, None
        if code == 80877104:
            return "postgres", True, "gssapi"
    if n >= 10 and data[3] == 0 and data[4] == 10 and int.from_bytes(data[:3], "little") == n - 4:
        end = data.find(b"\0", 5, 64)
        if end > 5 and all(c in PRINTABLE for c in data[5:end]):
            return "mysql", False, None
    if n >= 8 and data[0] in TDS_TYPES and data[1] <= 0x1F and data[7] == 0:
        length = int.from_bytes(data[2:4], "big")
        if length >= 8 and (length == n or (length < n and data[length] in TDS_TYPES) or (length > n >= 512)):
            return "tds", False, None
    return None


def zvt(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """ZVT APDUs (class, instruction, length): exact framing; a known command unless on port 20007."""
    return ("zvt", False, None) if looks_like_zvt(data, 20007 in (flow.server_port, flow.client_port)) else None


def ldap(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """LDAPMessage: SEQUENCE { INTEGER messageID, [APPLICATION n] protocolOp } (bind, search, …).
    The head up to the operation's tag is enough: a message may be longer than the first segment
    (or than the classifier's 256-byte sample)."""
    try:
        if len(data) < 7 or data[0] != 0x30:
            return None
        n, i = ber_length(data, 1)  # Windows clients write 4-octet lengths (30 84 00 00 00 nn)
        if n < 5 or data[i] != 0x02 or not 1 <= data[i + 1] <= 4:
            return None
        op = data[i + 2 + data[i + 1]]
        return ("ldap", False, None) if 0x60 <= op <= 0x79 or op in (0x42, 0x4A, 0x50) else None
    except (IndexError, ValueError):
        return None


def socks(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """A SOCKS5 greeting (version, method count, methods) or a SOCKS4/4a CONNECT/BIND request."""
    n = len(data)
    if n >= 3 and data[0] == 5 and 1 <= data[1] <= 16 and n == 2 + data[1] and max(data[2:]) <= 0x09:
        return "socks", False, "socks5"
    if n >= 9 and data[0] == 4 and data[1] in (1, 2) and data[-1] == 0:
        end = data.find(b"\0", 8)  # user id, then the host name for SOCKS4a (address 0.0.0.x)
        if end == n - 1 or (data[4:7] == b"\0\0\0" and data[7] and data.find(b"\0", end + 1) == n - 1):
            return "socks", False, "socks4"
    return None


def openvpn_tcp(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    if len(data) >= 16 and int.from_bytes(data[:2], "big") == len(data) - 2 and data[2] in (0x08, 0x38, 0x50, 0x10,
                                                                                           0x40):
        return "openvpn", True, "openvpn"
    return None


def teamviewer(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    if data[:2] in (b"\x17\x24", b"\x11\x30") and len(data) >= 4:
        return "teamviewer", True, "teamviewer"
    if len(data) >= 13 and data[0] == 0 and data[11] == 0x17 and data[12] == 0x24:  # UDP
        return "teamviewer", True, "teamviewer"
    return None


def iso8583(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    return ("iso8583", False, None) if looks_like_iso8583(data) else None


def syslog(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    return ("syslog", False, None) if SYSLOG.match(data) else None


def printable_text(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    sample = data[:256]
    if len(sample) >= 8 and sum(b in PRINTABLE for b in sample) >= 0.95 * len(sample):
        return "text", False, None
    return None


# -- UDP -------------------------------------------------------------------------------------
NAME_PORTS = {53: "dns", 5353: "mdns", 5355: "llmnr", 137: "netbios-ns"}


def name_service(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    app = NAME_PORTS.get(flow.server_port) or NAME_PORTS.get(flow.client_port)
    if app and len(data) >= 12 and int.from_bytes(data[4:6], "big") <= 16 and data[2] & 0x78 in (0, 0x28, 0x30):
        return app, False, None
    return None


def dns_tcp(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    ports = (flow.server_port, flow.client_port)
    if 53 in ports and len(data) >= 14 and int.from_bytes(data[:2], "big") <= len(data) + 2:
        return "dns", False, None
    return None


def udp_infra(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    ports = (flow.server_port, flow.client_port)
    if 69 in ports and len(data) >= 4 and data[0] == 0 and data[1] in (1, 2) and data.endswith(b"\0"):
        return "tftp", False, None  # a read or write request (the transfer itself runs on other ports)
    if (67 in ports or 68 in ports) and len(data) >= 240 and data[236:240] == b"\x63\x82\x53\x63":
        return "dhcp", False, None
    if 123 in ports and len(data) >= 48 and 1 <= (data[0] >> 3) & 7 <= 4:
        return "ntp", False, None
    if 1900 in ports and data.startswith((b"M-SEARCH", b"NOTIFY", b"HTTP/1.1 200")):
        return "ssdp", False, None
    if 138 in ports and len(data) >= 14 and 0x10 <= data[0] <= 0x16:
        return "netbios-dgm", False, None
    return None


def snmp(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """BER SEQUENCE { INTEGER version, … }: v1/v2c are cleartext; v3 by its privacy flag."""
    try:
        if len(data) < 12 or data[0] != 0x30:
            return None
        n, i = ber_length(data, 1, 3)
        if n != len(data) - i or data[i : i + 2] != b"\x02\x01" or data[i + 2] not in (0, 1, 3):
            return None
        version = data[i + 2]
        i += 3
        if version in (0, 1):
            return ("snmp", False, "snmpv1" if version == 0 else "snmpv2c") if data[i] == 0x04 else None
        if data[i] != 0x30:  # msgGlobalData: msgID, msgMaxSize, msgFlags, msgSecurityModel
            return None
        _, i = ber_length(data, i + 1, 3)
        for _ in range(2):
            if data[i] != 0x02:
                return None
            m, i = ber_length(data, i + 1, 3)
            i += m
        if data[i] != 0x04:
            return None
        m, i = ber_length(data, i + 1, 3)
        priv = bool(m and data[i] & 0x02)
        return "snmp", priv, "snmpv3-priv" if priv else "snmpv3"
    except (IndexError, ValueError):
        return None


def dtls(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """DTLS records, also inside a TURN ChannelData message (RFC 7983: first byte 64-79)."""
    if 0x40 <= (data[:1] or b"\0")[0] <= 0x4F and len(data) >= 17:
        data = data[4:]
    if len(data) >= 13 and 0x14 <= data[0] <= 0x17 and data[1:3] in DTLS_VERSIONS:
        return ("dtls", True, "dtls") if data[0] == 0x16 else ("dtls", records_readable(data[13:]), "no-handshake")
    return None


def records_readable(body: bytes) -> bool | None:
    """Records nobody keyed: text inside is cleartext (False); anything else (a session whose start the
    capture missed looks random) is None: encrypted as far as can be told, handshake not seen."""
    sample = body[:SAMPLE_TEXT]
    if len(sample) >= 8 and len(sample.translate(None, PRINTABLE_BYTES)) <= 0.05 * len(sample):
        return False
    return None


STUN_COOKIE = b"\x21\x12\xa4\x42"


def stun(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """STUN/TURN (RFC 8489): first two bits 0, the magic cookie, a length that fits. It shares its flow
    with DTLS and media in WebRTC (RFC 7983), so it decides a flow only if nothing else shows up
    (the classifier keeps looking: PROVISIONAL)."""
    n = len(data)
    if n >= 20 and data[0] < 4 and data[4:8] == STUN_COOKIE and int.from_bytes(data[2:4], "big") + 20 == n:
        return "stun", False, None
    return None


DTLS_VERSIONS = {b"\xfe\xff", b"\xfe\xfd", b"\xfe\xfc", b"\x01\x00"}  # 1.0, 1.2, 1.3, OpenSSL's pre-RFC 0.9
QUIC_VERSIONS = {0x00000001, 0x6B3343CF, 0x00000000}


def quic(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """Long-header packets (Initial/Handshake/0-RTT, version negotiation), IETF and Google versions."""
    if len(data) >= 13 and data[0] & 0x89 == 0x09 and data[9:11] == b"Q0":  # gQUIC: flags, 8-byte CID, Q0xx
        return "quic", True, "gquic"
    if len(data) < 7 or data[0] & 0xC0 != 0xC0:
        return None
    v = int.from_bytes(data[1:5], "big")
    known = v in QUIC_VERSIONS or v >> 8 == 0xFF0000 or v >> 4 == 0xFACEB00 or data[1:3] in (b"Q0", b"T0")
    if known and (v == 0 or data[5] <= 20 or data[1:3] == b"Q0"):  # Q046: one byte of CID length nibbles
        return "quic", True, "quic"
    return None


WG_SIZES = {1: 148, 2: 92, 3: 64}


def wireguard(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    n = len(data)
    if n >= 32 and data[1:4] == b"\0\0\0":
        t = data[0]
        if WG_SIZES.get(t) == n or (t == 4 and n % 16 == 0):
            return "wireguard", True, "wireguard"
    return None


def ike(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """IKE on 500/4500; on 4500 a zero non-ESP marker precedes IKE, anything else is ESP in UDP."""
    ports = (flow.server_port, flow.client_port)
    if 4500 in ports:
        if data == b"\xff":
            return "ike", True, "nat-t-keepalive"
        if data[:4] == b"\0\0\0\0":
            data = data[4:]
        elif len(data) >= 16:
            return "esp", True, "esp-in-udp"
    elif 500 not in ports:
        return None
    if len(data) >= 28 and data[17] in (0x10, 0x20) and int.from_bytes(data[24:28], "big") == len(data):
        return "ike", True, "ikev2" if data[17] == 0x20 else "ikev1"
    return None


def rdp_udp(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """RDP's UDP transport (MS-RDPEUDP): a SYN datagram (snSourceAck all ones, SYN flag); it carries TLS/DTLS."""
    if len(data) >= 8 and data[:4] == b"\xff\xff\xff\xff" and data[7] & 0x01 and data[4:6] == b"\x00\x40":
        return "rdp", True, "rdpeudp"
    if 3389 in (flow.server_port, flow.client_port) and (b"\x16\x03" in data[:48] or b"\x16\xfe\xff" in data[:48]):
        return "rdp", True, "rdpeudp"  # mid-session: TLS/DTLS records behind the RDPEUDP header
    return None


def openvpn_udp(data: bytes, flow: Flow, direction: int) -> Verdict | None:
    """Hard-reset control packets (client v1/v2/v3, server v1/v2) open every OpenVPN session."""
    if 14 <= len(data) <= 1500 and data[0] in (0x08, 0x38, 0x50, 0x10, 0x40):
        return "openvpn", True, "openvpn"
    return None


TCP_RECOGNISERS: list[Recogniser] = [
    tls_record, apps.sip, http, ssh_banner, banner, apps.irc, client_command, telnet, rdp, smb, apps.dnp3, zvt,
    apps.redis, apps.mqtt, databases, ldap, socks, openvpn_tcp, teamviewer, apps.modbus, apps.dcerpc, iso8583,
    dns_tcp, syslog, printable_text,
]
UDP_RECOGNISERS: list[Recogniser] = [
    name_service, udp_infra, stun, dtls, quic, wireguard, ike, snmp, teamviewer, syslog, apps.sip, apps.dnp3, rdp_udp,
    openvpn_udp, printable_text,
]


def opaque_or_unknown(sample: bytes) -> str:
    """Unrecognised payload: 'opaque' when it looks random (encrypted or compressed), else 'unknown'."""
    n = len(sample)
    if n < 32:
        return "unknown"
    counts: dict[int, int] = {}
    for b in sample:
        counts[b] = counts.get(b, 0) + 1
    h = -sum(c / n * math.log2(c / n) for c in counts.values())
    return "opaque" if h >= 0.85 * math.log2(min(n, 256)) else "unknown"
