"""More logins in clear, beside `credentials`: POP3 SASL (PLAIN, LOGIN, XOAUTH2), XOAUTH2 in
IMAP/SMTP, CRAM-MD5 and DIGEST-MD5 (challenge-response) in all three, HTTP Digest and Bearer
tokens, LDAP binds, Sybase/old-TDS (TDS 4.2/5.0) logins.

Same output as `credentials` (its `_found`: protocol, user, method, secret, password length, never
the password). `secret` says what crossed the wire: cleartext, token (a bearer token: usable as is),
digest (challenge-response), none (an empty password). The parsers are pure functions; the analyzer
keeps only a line buffer and the SASL step per flow, and stops after MAX_BYTES of client data.
"""

from __future__ import annotations

import re
from typing import Any

from netwatch.analyzers import Analyzer, Emit, deactivate
from netwatch.analyzers.credentials import MAX_BYTES, MAX_LINE, Credentials, LoginState, _b64, _sasl_plain
from netwatch.flows import Flow

HTTP_AUTH = re.compile(rb"\r\n(?:Proxy-)?Authorization:[ \t]*(Digest|Bearer)[ \t]+([^\r\n]{1,8192})\r\n", re.I)
DIGEST_USER = re.compile(rb'(?:^|[\s,])username\*?=[ \t]*(?:"((?:[^"\\]|\\.){0,256})"|([^\s,]{1,256}))', re.I)
SASL_CMD = re.compile(
    rb"^(?:\S+ AUTHENTICATE|AUTH) (PLAIN|LOGIN|XOAUTH2|OAUTHBEARER|CRAM-MD5|DIGEST-MD5)(?: (\S+))?\s*$", re.I)
CHALLENGE = {b"CRAM-MD5", b"DIGEST-MD5"}  # challenge-response: the answer comes after the server's challenge
SASL_APPS = {"pop3": {b"PLAIN", b"LOGIN", b"XOAUTH2", b"OAUTHBEARER"} | CHALLENGE,  # credentials: USER/PASS, APOP
             "imap": {b"XOAUTH2", b"OAUTHBEARER"} | CHALLENGE, "smtp": {b"XOAUTH2", b"OAUTHBEARER"} | CHALLENGE}


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
    try:
        if data[0] != 0x30:
            return None
        _, i = _ber(data, 1)
        if data[i] != 0x02:
            return None
        n, i = _ber(data, i + 1)
        i += n  # messageID
        if data[i] != 0x60:  # [APPLICATION 0] BindRequest
            return None
        _, i = _ber(data, i + 1)
        if data[i] != 0x02:
            return None
        n, i = _ber(data, i + 1)
        version = int.from_bytes(data[i : i + n], "big")
        i += n
        if data[i] != 0x04:
            return None
        n, i = _ber(data, i + 1)
        name = data[i : i + n]
        i += n
        if data[i] == 0x80:  # simple
            n, i = _ber(data, i + 1)
            return version, name, "simple", data[i : i + n]
        if data[i] == 0xA3:  # sasl: mechanism, credentials OPTIONAL
            _, i = _ber(data, i + 1)
            n, i = _ber(data, i + 1)
            mech = data[i : i + n].decode("latin-1")[:32]
            i += n
            cred = None
            if i < len(data) and data[i] == 0x04:
                n, i = _ber(data, i + 1)
                cred = data[i : i + n]
            return version, name, "sasl:" + mech, cred
        return None
    except IndexError:
        return None


def _ber(data: bytes, i: int) -> tuple[int, int]:
    """A BER length at i: (length, offset of the value)."""
    n = data[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7F
    if not 1 <= k <= 4:
        raise IndexError("BER length")
    return int.from_bytes(data[i + 1 : i + 1 + k], "big"), i + 1 + k


def tds_login(data: bytes) -> tuple[bytes, bytes] | None:
    """(user, password) of a TDS 4.2/5.0 login record (Sybase ASE, old SQL Server): packet type 2,
    then host[30]+len, user[30]+len, password[30]+len, all in clear."""
    if len(data) < 8 + 93 or data[0] != 0x02:
        return None
    body = data[8:]
    hl, ul, pl = body[30], body[61], body[92]
    if hl > 30 or ul > 30 or pl > 30:
        return None
    return body[31 : 31 + ul], body[62 : 62 + pl]


class Logins(Analyzer[LoginState]):
    """Emits `credentials` observations for the logins `Credentials` does not parse."""

    name = "logins"

    def new_state(self, flow: Flow) -> LoginState:
        return LoginState()

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        app = flow.app
        if app is None:
            return
        st = self.state(flow)
        handler = HANDLERS.get(app)
        if handler is None or st.seen > MAX_BYTES:
            deactivate(flow, self)
            return
        if direction == 0:
            st.seen += len(data)
            handler(self, flow, st, data, ts, emit)

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = self.peek(flow)
        if st is not None:
            st.buf = b""

    @staticmethod
    def _found(flow: Flow, ts: float, emit: Emit, protocol: str, user: Any, secret_bytes: bytes | None,
               method: str, secret: str) -> None:
        Credentials._found(flow, ts, emit, protocol, user, secret_bytes, method, secret=secret)

    # -- SASL on line protocols ------------------------------------------------------------------
    def _lines(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        buf = st.buf + data
        *lines, rest = buf.split(b"\n")
        st.buf = rest if len(rest) <= MAX_LINE else b""
        for line in lines[:256]:
            self._sasl_line(flow, st, line.strip(), ts, emit)

    def _sasl_line(self, flow: Flow, st: LoginState, line: bytes, ts: float, emit: Emit) -> None:
        app = flow.app or ""
        step, st.mode = st.mode, None
        if step is not None and line != b"*":
            self._sasl_step(flow, st, step, line, ts, emit)
            return
        m = SASL_CMD.match(line)
        if m is None or m.group(1).upper() not in SASL_APPS.get(app, ()):
            return
        mech = m.group(1).upper().decode()
        if m.group(2) and m.group(1).upper() not in CHALLENGE:
            self._sasl_step(flow, st, mech, m.group(2), ts, emit)
        else:
            st.mode = mech

    def _sasl_step(self, flow: Flow, st: LoginState, step: str, word: bytes, ts: float, emit: Emit) -> None:
        app = flow.app or ""
        method = "AUTH " + step.removesuffix("-pass")
        if step == "PLAIN":
            creds = _sasl_plain(word)
            if creds:
                self._found(flow, ts, emit, app, creds[0], creds[1], method, "cleartext")
        elif step == "LOGIN":
            st.user, st.mode = _b64(word) or word, "LOGIN-pass"
        elif step == "LOGIN-pass":
            pw = _b64(word)
            if pw is not None:
                self._found(flow, ts, emit, app, st.take_user(), pw, method, "cleartext")
        elif step in ("CRAM-MD5", "DIGEST-MD5"):
            raw = _b64(word)
            if raw:  # CRAM-MD5: "user hexdigest"; DIGEST-MD5: username="user",…,response=…
                user = raw.split(b" ", 1)[0] if step == "CRAM-MD5" else digest_user(raw)
                self._found(flow, ts, emit, app, user, None, method, "digest")
        else:  # XOAUTH2 / OAUTHBEARER
            raw = _b64(word)
            tok = oauth_token(raw) if raw else None
            if tok:
                self._found(flow, ts, emit, app, tok[0], tok[1], method, "token")

    # -- HTTP Digest and Bearer -------------------------------------------------------------------
    def _http(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        buf = st.buf + data
        for m in HTTP_AUTH.finditer(buf):
            scheme, value = m.group(1).lower(), m.group(2).strip()
            if scheme == b"digest":
                self._found(flow, ts, emit, "http", digest_user(value), None, "Digest", "digest")
            else:
                self._found(flow, ts, emit, "http", None, value, "Bearer", "token")
        cut = buf.rfind(b"\r\n")
        tail = buf[cut:] if cut >= 0 else b""
        st.buf = tail if len(tail) <= MAX_LINE * 4 else b""

    # -- LDAP ----------------------------------------------------------------------------------------
    def _ldap(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        bind = ldap_bind(data)
        if bind is None:
            return
        _version, name, kind, secret = bind
        if kind == "simple":
            if secret:
                self._found(flow, ts, emit, "ldap", name, secret, "simple bind", "cleartext")
            elif name:  # RFC 4513 "unauthenticated" bind: a name and no password
                self._found(flow, ts, emit, "ldap", name, b"", "simple bind", "none")
        elif kind == "sasl:PLAIN" and secret:
            parts = secret.split(b"\0")
            if len(parts) == 3:
                self._found(flow, ts, emit, "ldap", parts[1], parts[2], "SASL PLAIN", "cleartext")
        elif kind in ("sasl:DIGEST-MD5", "sasl:CRAM-MD5") and secret:
            self._found(flow, ts, emit, "ldap", digest_user(secret) or name or None, None, kind[5:], "digest")

    # -- Sybase / TDS 5.0 --------------------------------------------------------------------------------
    def _tds(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        creds = tds_login(data)
        if creds is None:
            return
        user, pw = creds
        self._found(flow, ts, emit, "tds", user, pw, "tds5 login", "cleartext" if pw else "none")
        deactivate(flow, self)


HANDLERS = {"pop3": Logins._lines, "imap": Logins._lines, "smtp": Logins._lines, "http": Logins._http,
            "ldap": Logins._ldap, "tds": Logins._tds}
