"""Authentication exchanges sent in clear, as grammars: SASL (PLAIN, XOAUTH2/OAUTHBEARER, Digest
user names), HTTP Basic/Digest/Bearer headers, IMAP LOGIN, Telnet prompts, LDAP simple and SASL
binds, Sybase/old-TDS login records, and the list of well-known default passwords. Pure functions:
bytes in, values out; the analyzers (`credentials`, `logins`) decide what to report.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from netwatch.protocols.ber import ber_length

DEFAULT_PASSWORDS = frozenset({
    "public", "private", "admin", "administrator", "password", "passw0rd", "root", "toor", "guest", "default",
    "changeme", "1234", "12345", "123456", "0000", "letmein", "test", "manager", "cisco", "support", "user",
    "secret", "community", "monitor", "write", "read", "sysadmin", "system", "service", "pos", "posadmin",
    "micros", "aloha", "radiant", "166816", "z66831", "sa", "ncr", "tech", "enable",
})


HTTP_BASIC = re.compile(rb"\r\n(?:Proxy-)?Authorization:[ \t]*Basic[ \t]+([A-Za-z0-9+/=]{1,1024})[ \t]*\r\n", re.I)
AUTH_HEADERS = (b"authorization", b"proxy-authorization")
MAX_BASIC = 1024  # base64 bytes of an HTTP Basic token looked at
MAX_CREDENTIALS = 8192  # bytes of an HTTP Digest or Bearer header value looked at


IMAP_LOGIN = re.compile(rb'^\S+ LOGIN (?:"((?:[^"\\]|\\.)*)"|(\S+)) (?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$', re.I)


# The same exchanges found in a whole client stream (evidence redaction overwrites the secret group):
PASS_LINE = re.compile(rb"(?:^|\n)PASS ([^\r\n]*)", re.I)  # FTP and POP3
IMAP_LOGIN_IN_STREAM = re.compile(
    rb'(?:^|\n)\S+ LOGIN (?:"(?:[^"\\\r\n]|\\.)*"|\S+) (?:"((?:[^"\\\r\n]|\\.)*)"|(?!\{\d+\+?\}\r?\n)(\S+))', re.I)
# IMAP LOGIN whose password is a literal ({n} or LITERAL+ {n+}, then CRLF and n bytes): clients send
# passwords with special characters so; the literal's bytes follow the line
IMAP_LITERAL = re.compile(rb"\{(\d{1,5})\+?\}")
IMAP_LOGIN_LITERAL_IN_STREAM = re.compile(rb'(?:^|\n)\S+ LOGIN (?:"(?:[^"\\\r\n]|\\.)*"|\S+) \{(\d{1,5})\+?\}\r?\n',
                                          re.I)
SASL_START = re.compile(rb"(?:^|\n)(?:\S+ AUTHENTICATE|AUTH) (PLAIN|LOGIN)(?: ([A-Za-z0-9+/=]+))?\r?\n", re.I)
B64_LINE = re.compile(rb"([A-Za-z0-9+/=]+)\r?\n")
# A secret in an HTTP query string, form body or cookie (`password=…`, `j_password=…`,
# `user%5Bpassword%5D=…`, `pw=…; `): `credentials` reports the password fields (protocols.url_auth)
# and locates them, but evidence blanks every field whose name holds a password word whether or not
# it was reported (a request past the analyzer's budget, a cookie): over-redaction there is cheap.
# A quoted value (`pw="…"`: a cookie, an XML attribute) is blanked inside its quotes (the group that
# matched, `lastindex`), so the markup around it stays readable.
HTTP_SECRET_FIELD = re.compile(
    rb"(?:^|[?&;\s])(?:pin|[^=&;\s?]{0,32}?(?:pass|pwd|pw|pswd|secret|access_token)[^=&;\s?]{0,32})="
    rb"(?:\"([^\"\s]*)|'([^'\s]*)|([^&;\s]*))", re.I)
# The password of an absolute URL's userinfo in a request line (`GET http://user:pw@host/`, via a
# proxy; any scheme): up to the last '@' before the path, as conservative as evidence wants.
HTTP_USERINFO = re.compile(rb"(?:^|\n)[A-Za-z]+[ \t]+[A-Za-z][A-Za-z0-9+.-]{0,15}://[^/?#\\\s@:]*:([^/\s]*)@")
TDS_OBFUSCATED_STAR = b"\x07\xa5"  # '*' in UTF-16LE, nibble-swapped and XORed with 0xA5 (TDS Login7)


IMAP_AUTH_PLAIN = re.compile(rb"^\S+ AUTHENTICATE PLAIN(?: (\S+))?\s*$", re.I)


TELNET_USER_PROMPT = re.compile(rb"(?:login|user ?name|user(?: ?id)?)\s*:\s*$", re.I)


TELNET_PASS_PROMPT = re.compile(rb"(?:password|passcode|pin)\s*:\s*$", re.I)


TELNET_IAC = re.compile(rb"\xff(?:[\xfb-\xfe].|\xfa.*?\xff\xf0|[\xf0-\xfa])", re.S)


def is_default(password: bytes | str) -> bool:
    p = password.decode("utf-8", "replace") if isinstance(password, bytes) else password
    return p.strip().lower() in DEFAULT_PASSWORDS


def b64(s: bytes) -> bytes | None:
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None


def sasl_plain(blob: bytes | None) -> tuple[bytes, bytes] | None:
    """SASL PLAIN: authzid NUL authcid NUL password."""
    raw = b64(blob) if blob else None
    if raw is None or raw.count(b"\0") != 2:
        return None
    _authz, user, pw = raw.split(b"\0")
    return user, pw


def http_authorizations(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """(scheme in lower case, credentials) of each Authorization and Proxy-Authorization header of a
    parsed HTTP head (lower-case names), in order; values longer than MAX_CREDENTIALS are left out."""
    out = []
    for name, value in headers:
        if name in AUTH_HEADERS and len(value) <= MAX_CREDENTIALS:
            parts = value.split(None, 1)
            if len(parts) == 2:
                out.append((parts[0].lower(), parts[1].strip()))
    return out


def basic_login(token: bytes) -> tuple[bytes, bytes] | None:
    """(user, password) of an HTTP Basic token (base64 of user:password), or None."""
    raw = b64(token) if len(token) <= MAX_BASIC else None
    if raw is None or b":" not in raw:
        return None
    user, pw = raw.split(b":", 1)
    return user, pw


DIGEST_USER = re.compile(rb'(?:^|[\s,])username\*?=[ \t]*(?:"((?:[^"\\]|\\.){0,256})"|([^\s,]{1,256}))', re.I)


def oauth_token(raw: bytes) -> tuple[bytes | None, bytes] | None:
    """(user, bearer token) of a decoded XOAUTH2 / OAUTHBEARER initial response."""
    user = None
    token = None
    for part in raw.split(b"\x01"):
        if part.startswith(b"user="):
            user = part[5:]
        elif part.lower().startswith(b"auth=bearer "):
            token = part[12:]
        elif part.startswith(b"n,a="):  # OAUTHBEARER GS2 header: n,a=user,
            user = part[4:].split(b",", 1)[0]
    return (user, token) if token is not None else None


def digest_user(params: bytes) -> bytes | None:
    m = DIGEST_USER.search(params)
    if m is None:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


def ldap_bind(data: bytes) -> tuple[int, bytes, str, bytes | None] | None:
    """(version, name, kind, secret) of an LDAP BindRequest: kind 'simple' (secret = the password)
    or 'sasl:MECH' (secret = the SASL credentials or None). None if `data` is not one."""
    bind = ldap_bind_at(data, 0)
    return None if bind is None else bind[:4]


LdapBind = tuple[int, bytes, str, bytes | None, int]  # version, name, kind, secret, secret's offset


def ldap_bind_at(data: bytes | bytearray, at: int) -> LdapBind | None:
    """The LDAP BindRequest whose LDAPMessage starts at `at`, with where its secret starts in `data`
    (the simple password, the SASL credentials or the sicily blob: evidence overwrites it there)."""
    try:
        if data[at] != 0x30:
            return None
        _, i = ber_length(data, at + 1)
        if data[i] != 0x02:
            return None
        n, i = ber_length(data, i + 1)
        i += n  # messageID
        if data[i] != 0x60:  # [APPLICATION 0] BindRequest
            return None
        _, i = ber_length(data, i + 1)
        if data[i] != 0x02:
            return None
        n, i = ber_length(data, i + 1)
        version = int.from_bytes(data[i : i + n], "big")
        i += n
        if data[i] != 0x04:
            return None
        n, i = ber_length(data, i + 1)
        name = bytes(data[i : i + n])
        i += n
        if data[i] == 0x80:  # simple
            n, i = ber_length(data, i + 1)
            return version, name, "simple", bytes(data[i : i + n]), i
        if data[i] == 0xA3:  # sasl: mechanism, credentials OPTIONAL
            _, i = ber_length(data, i + 1)
            n, i = ber_length(data, i + 1)
            mech = bytes(data[i : i + n]).decode("latin-1")[:32]
            i += n
            cred = None
            if i < len(data) and data[i] == 0x04:
                n, i = ber_length(data, i + 1)
                cred = bytes(data[i : i + n])
            return version, name, "sasl:" + mech, cred, i
        if data[i] in (0x8A, 0x8B):  # Microsoft "sicily" NTLM bind: sicilyNegotiate / sicilyResponse
            n, i = ber_length(data, i + 1)
            return version, name, "sicily", bytes(data[i : i + n]), i
        return None
    except IndexError:
        return None


MAX_LDAP_MESSAGES = 10_000  # LDAPMessages walked per client stream (evidence redaction)


def ldap_messages(data: bytes | bytearray, at: int = 0) -> list[int]:
    """Where each LDAPMessage (a BER SEQUENCE) of a client stream starts, from `at` up to the first
    bytes that are not one (a hole, another protocol); bounded."""
    out: list[int] = []
    try:
        while at < len(data) and data[at] == 0x30 and len(out) < MAX_LDAP_MESSAGES:
            n, i = ber_length(data, at + 1)
            out.append(at)
            at = i + n
    except IndexError:
        pass
    return out


def ldap_unfinished(data: bytes | bytearray, starts: list[int]) -> int | None:
    """Where the LDAPMessage cut at the end of `data` starts (its header or its body goes on in the
    next delivery), given `ldap_messages`' starts; None when the last one ends inside `data`."""
    at = starts[-1] if starts else 0
    if at >= len(data) or data[at] != 0x30:
        return None
    try:
        n, i = ber_length(data, at + 1)
    except IndexError:
        return at  # the length itself is cut
    if i + n > len(data):
        return at
    nxt = i + n
    return nxt if nxt < len(data) and data[nxt] == 0x30 else None  # a header cut right after it


TDS5_PASSWORD = 8 + 62  # where a TDS 4.2/5.0 login record's password starts (packet header, host, user)
TDS5_REMOTE = 8 + 202  # its remote passwords: lrempw[255] + lrempwlen, after hostproc, flags, app, server


def tds_login(data: bytes | bytearray) -> tuple[bytes, bytes] | None:
    """(user, password) of a TDS 4.2/5.0 login record (Sybase ASE, old SQL Server): packet type 2,
    then host[30]+len, user[30]+len, password[30]+len, all in clear."""
    if len(data) < 8 + 93 or data[0] != 0x02:
        return None
    body = data[8:]
    hl, ul, pl = body[30], body[61], body[92]
    if hl > 30 or ul > 30 or pl > 30:
        return None
    return bytes(body[31 : 31 + ul]), bytes(body[62 : 62 + pl])


def tds_remote_passwords(data: bytes | bytearray) -> list[tuple[int, int]]:
    """Where the passwords of a TDS 4.2/5.0 login record's remote-password list lie (entries of
    server-name length, name, password length, password; clients often repeat the login password
    there), as (start, end) in `data`; an entry running past the list's length ends there."""
    if tds_login(data) is None or len(data) <= TDS5_REMOTE + 255:
        return []
    total = min(data[TDS5_REMOTE + 255], 255)
    out = []
    i = 0
    while i < total:
        i += 1 + data[TDS5_REMOTE + i]  # server name
        if i >= total:
            break
        n = data[TDS5_REMOTE + i]
        out.append((TDS5_REMOTE + i + 1, TDS5_REMOTE + min(i + 1 + n, total)))
        i += 1 + n
    return out
