"""In-place redaction of cleartext passwords, protocol by protocol, with the same recognisers as
`analyzers.credentials`: FTP/POP3 PASS, IMAP LOGIN and AUTHENTICATE PLAIN, SMTP/POP3 AUTH PLAIN and
LOGIN, HTTP Basic, Telnet keystrokes after a password prompt, SNMP communities, PostgreSQL password
messages, MySQL clear-text auth, TDS Login7, Redis AUTH/HELLO, MQTT CONNECT, IRC PASS / NickServ
IDENTIFY / SASL PLAIN; and password fields of HTTP queries, forms and cookies, the password of
a request URL's userinfo, and password fields of JSON, multipart and XML bodies (`body_creds`).
The user name stays (it is evidence); the password becomes FILLER of the same length,
re-encoded where it was encoded (base64, TDS obfuscation), so a re-scan still sees the same login
protocol, user and password length, never the password.
"""

from __future__ import annotations

import re

from netwatch.protocols.app_auth import mqtt_password_span
from netwatch.protocols.auth import (
    B64_LINE,
    HTTP_BASIC,
    HTTP_SECRET_FIELD,
    HTTP_USERINFO,
    IMAP_LOGIN_IN_STREAM,
    PASS_LINE,
    SASL_START,
    TDS_OBFUSCATED_STAR,
    TELNET_IAC,
    TELNET_PASS_PROMPT,
    TELNET_USER_PROMPT,
)
from netwatch.protocols.snmp import snmp_community_span
from netwatch.redaction.body_creds import redact_body_passwords
from netwatch.redaction.packets import FILLER, fill, fill_url, redact_base64_field

REDIS_RESP_AUTH = re.compile(  # AUTH password, or AUTH user password (also inside HELLO)
    rb"\*2\r\n\$4\r\nAUTH\r\n\$(\d{1,4})\r\n|\$4\r\nAUTH\r\n\$\d{1,4}\r\n[^\r\n]*\r\n\$(\d{1,4})\r\n", re.I)
REDIS_INLINE_AUTH = re.compile(rb"(?:^|\n)AUTH (?:\S+ )?(\S+)\r?\n", re.I)
IRC_IDENTIFY = re.compile(rb"(?:^|\n)(?:PRIVMSG[ \t]+NickServ[ \t]+:?|NICKSERV[ \t]+|NS[ \t]+)IDENTIFY[ \t]+"
                          rb"(?:\S+[ \t]+)?([^\s]+)[ \t]*\r?\n", re.I)
IRC_SASL = re.compile(rb"(?:^|\n)AUTHENTICATE PLAIN\r?\nAUTHENTICATE ([A-Za-z0-9+/=]+)\r?\n", re.I)

Order = list[tuple[int, int, int]]  # (direction, stream offset, length) in capture order


def redact_passwords(app: str | None, client: bytearray, server: bytearray, order: Order, notes: list[str]) -> None:
    """Passwords in the client → server stream of a flow whose application is `app`."""
    if app in ("ftp", "pop3"):
        for m in PASS_LINE.finditer(client):
            fill(client, *m.span(1))
    if app == "imap":
        for m in IMAP_LOGIN_IN_STREAM.finditer(client):
            g = 1 if m.group(1) is not None else 2
            fill(client, *m.span(g))
    if app in ("imap", "smtp", "pop3"):
        _sasl(client)
    if app == "http" or HTTP_BASIC.search(client):
        for m in HTTP_BASIC.finditer(client):
            redact_base64_field(client, *m.span(1), fix=_after_colon)
    if app == "http":
        for pattern in (HTTP_SECRET_FIELD, HTTP_USERINFO):
            for m in pattern.finditer(client):
                fill_url(client, *m.span(m.lastindex or 1))
        _http_bodies(client, server)
    if app == "telnet":
        _telnet(client, server, order)
    if app == "postgres":
        _postgres(client)
    if app == "mysql":
        _mysql_clear(client)
    if app == "tds":
        _tds(client)
    if app == "redis":
        for m in REDIS_RESP_AUTH.finditer(client):
            g = 1 if m.group(1) is not None else 2
            fill(client, m.end(), min(len(client), m.end() + int(m.group(g))))
        for m in REDIS_INLINE_AUTH.finditer(client):
            fill(client, *m.span(1))
    if app == "mqtt":
        span = mqtt_password_span(bytes(client))
        if span:
            fill(client, *span)
    if app == "irc":
        for pattern in (PASS_LINE, IRC_IDENTIFY):
            for m in pattern.finditer(client):
                fill(client, *m.span(1))
        for m in IRC_SASL.finditer(client):
            redact_base64_field(client, *m.span(1), fix=_after_second_nul)


def _http_bodies(client: bytearray, server: bytearray) -> None:
    """Password fields of JSON, multipart and XML bodies, both ways (`redaction.body_creds`)."""
    for buf in (client, server):
        redact_body_passwords(buf)


def _after_colon(raw: bytearray) -> None:
    i = raw.find(b":")
    if i >= 0:
        fill(raw, i + 1, len(raw))


def _after_second_nul(raw: bytearray) -> None:
    i = raw.find(b"\0", raw.find(b"\0") + 1)
    if i >= 0:
        fill(raw, i + 1, len(raw))


def _all(raw: bytearray) -> None:
    fill(raw, 0, len(raw))


def _sasl(buf: bytearray) -> None:
    """AUTH PLAIN [initial] (authzid NUL user NUL password) and AUTH LOGIN (user line, password line)."""
    for m in SASL_START.finditer(buf):
        mech, initial = m.group(1).upper(), m.group(2)
        nxt = B64_LINE.match(buf, m.end())
        if mech == b"PLAIN":
            span = m.span(2) if initial else nxt.span(1) if nxt else None
            if span:
                redact_base64_field(buf, *span, fix=_after_second_nul)
            continue
        if not initial and nxt:  # AUTH LOGIN, then the user line, then the password line
            nxt = B64_LINE.match(buf, nxt.end())
        if nxt:
            redact_base64_field(buf, *nxt.span(1), fix=_all)


def _telnet(client: bytearray, server: bytearray, order: Order) -> None:
    """Keystrokes the client typed after the server's password prompt, up to the end of the line."""
    screen = b""
    typing = False
    for direction, off, n in order:
        if direction == 1:
            screen = (screen + TELNET_IAC.sub(b"", bytes(server[off : off + n])))[-128:]
            if TELNET_PASS_PROMPT.search(screen):
                typing = True
            elif TELNET_USER_PROMPT.search(screen):
                typing = False
            continue
        i = off
        while typing and i < off + n:
            b = client[i]
            if b == 0xFF:  # IAC command: leave it, skip its option byte(s)
                i += 3 if i + 1 < off + n and 0xFB <= client[i + 1] <= 0xFE else 2
                continue
            if b in (0x0D, 0x0A, 0x00):
                typing = False
                screen = b""
                break
            client[i] = FILLER
            i += 1


def _postgres(buf: bytearray) -> None:
    """Every PasswordMessage ('p') after the startup packet."""
    if len(buf) < 8:
        return
    pos = int.from_bytes(buf[0:4], "big")
    for _ in range(10_000):
        if pos + 5 > len(buf):
            return
        t, n = buf[pos], int.from_bytes(buf[pos + 1 : pos + 5], "big")
        if n < 4:
            return
        if t == ord("p"):
            end = min(len(buf), pos + 1 + n)
            fill(buf, pos + 5, end - 1 if buf[end - 1 : end] == b"\0" else end)
        pos += 1 + n


def _mysql_clear(buf: bytearray) -> None:
    """HandshakeResponse41 whose auth plugin is mysql_clear_password: the auth data is the password."""
    if len(buf) < 37 or buf[3] != 1 or b"mysql_clear_password" not in buf[: 4 + int.from_bytes(buf[0:3], "little")]:
        return
    caps = int.from_bytes(buf[4:8], "little")
    end = buf.find(b"\0", 36)
    if end < 0:
        return
    i = end + 1
    if caps & 0x200000 or caps & 0x8000:
        n = buf[i] if i < len(buf) else 0
        fill(buf, i + 1, min(len(buf), i + 1 + n))
    else:
        z = buf.find(b"\0", i)
        fill(buf, i, z if z >= 0 else len(buf))


def _tds(buf: bytearray) -> None:
    """Login7: the password field, re-obfuscated as '*' characters."""
    if len(buf) < 8 + 94 or buf[0] != 0x10:
        return
    poff = 8 + int.from_bytes(buf[8 + 44 : 8 + 46], "little")
    plen = int.from_bytes(buf[8 + 46 : 8 + 48], "little")
    for k in range(plen):
        if poff + 2 * k + 2 <= len(buf):
            buf[poff + 2 * k : poff + 2 * k + 2] = TDS_OBFUSCATED_STAR


def redact_snmp(buf: bytearray, notes: list[str]) -> None:
    span = snmp_community_span(buf)
    if span is not None:
        fill(buf, *span)
