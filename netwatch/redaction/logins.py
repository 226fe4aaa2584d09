"""In-place redaction of the login secrets `redaction.creds` does not read, for evidence: LDAP binds
(the simple password, SASL PLAIN's password), the SOCKS5 username/password request (RFC 1929,
whatever the tunnel carries after it), Sybase/old-TDS login records (the password and the
remote-password list), IMAP LOGIN passwords sent as literals, bearer tokens (HTTP Authorization /
Proxy-Authorization `Bearer`, SASL XOAUTH2 / OAUTHBEARER on POP3, IMAP and SMTP). Same rule as
`creds`: the user name stays, the secret becomes FILLER of the same length (re-encoded where it was
base64), so a re-scan still sees the same login, user and secret length, never the secret. Grammars
from `protocols.auth` and `protocols.proxy_handshake`, the ones the analyzers read.
"""

from __future__ import annotations

import re

from netwatch.protocols.auth import (
    B64_LINE,
    IMAP_LOGIN_LITERAL_IN_STREAM,
    TDS5_PASSWORD,
    ldap_bind_at,
    ldap_messages,
    tds_login,
    tds_remote_passwords,
)
from netwatch.protocols.proxy_handshake import client_handshake, socks5_password_span
from netwatch.redaction.packets import fill, redact_base64_field

MAX_HANDSHAKE = 4096  # client bytes a proxy handshake is looked for in (the proxy analyzer's bound)
HTTP_BEARER = re.compile(rb"(?:^|\n)(?:Proxy-)?Authorization:[ \t]*Bearer[ \t]+([^\s]{1,8192})", re.I)
SASL_OAUTH = re.compile(rb"(?:^|\n)(?:\S+ AUTHENTICATE|AUTH) (?:XOAUTH2|OAUTHBEARER)(?: ([A-Za-z0-9+/=]+))?\r?\n",
                        re.I)
MAIL_APPS = ("pop3", "imap", "smtp")


def redact_logins(app: str | None, client: bytearray, notes: list[str]) -> None:
    """Secrets in the client → server stream of a flow whose application is `app` (after a proxy
    tunnel: the tunnelled protocol's, whose bytes start after the handshake)."""
    head = bytes(client[:MAX_HANDSHAKE])
    tunnel = client_handshake(head) if head[:1] in (b"\x04", b"\x05", b"C", b"c") else None
    start = tunnel.used if tunnel is not None else 0
    if app == "socks" or (tunnel is not None and tunnel.kind == "socks5"):  # (a handshake the stream cut: socks)
        socks = socks5_password_span(client, partial=True)
        if socks is not None:
            fill(client, *socks)
    if app == "ldap" or ldap_bind_at(client, start) is not None:
        _ldap(client, start)
    if app == "tds" and tds_login(client[start:]) is not None:
        _tds5(client, start)
    for m in HTTP_BEARER.finditer(client):
        fill(client, *m.span(1))
    if app in MAIL_APPS:
        _sasl_oauth(client)
    if app == "imap":
        for m in IMAP_LOGIN_LITERAL_IN_STREAM.finditer(client):  # LOGIN user {n}, then the password's n bytes
            fill(client, m.end(), min(len(client), m.end() + int(m.group(1))))


def _ldap(client: bytearray, start: int) -> None:
    """Every BindRequest of the stream: a simple bind's password, SASL PLAIN's password (authzid NUL
    authcid NUL password, in clear inside BER). Challenge-response binds (DIGEST-MD5, NTLM) stay."""
    for at in ldap_messages(client, start):
        bind = ldap_bind_at(client, at)
        if bind is None:
            continue
        _version, _name, kind, secret, where = bind
        if secret is None:
            continue
        if kind == "simple":
            fill(client, where, where + len(secret))
        elif kind == "sasl:PLAIN":
            second = secret.find(b"\0", secret.find(b"\0") + 1)
            if second >= 0:
                fill(client, where + second + 1, where + len(secret))


def _tds5(client: bytearray, start: int) -> None:
    """A TDS 4.2/5.0 login record: its password field and the passwords of its remote-password list."""
    record = client[start:]
    creds = tds_login(record)
    if creds is None:
        return
    fill(client, start + TDS5_PASSWORD, start + TDS5_PASSWORD + len(creds[1]))
    for s, e in tds_remote_passwords(record):
        fill(client, start + s, start + e)


def _sasl_oauth(buf: bytearray) -> None:
    """XOAUTH2 / OAUTHBEARER: the bearer token inside the base64 initial response (on the command
    line or the next one); the user (`user=`, `a=`) stays."""
    for m in SASL_OAUTH.finditer(buf):
        nxt = B64_LINE.match(buf, m.end())
        span = m.span(1) if m.group(1) else nxt.span(1) if nxt else None
        if span is not None:
            redact_base64_field(buf, *span, fix=_bearer_token)


def _bearer_token(raw: bytearray) -> None:
    at = raw.lower().find(b"auth=bearer ")
    if at < 0:
        fill(raw, 0, len(raw))
        return
    end = raw.find(b"\x01", at)
    fill(raw, at + 12, end if end >= 0 else len(raw))

