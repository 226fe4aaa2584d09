"""More logins in clear, beside `credentials`: POP3 SASL (PLAIN, LOGIN, XOAUTH2), XOAUTH2 in
IMAP/SMTP, CRAM-MD5 and DIGEST-MD5 (challenge-response) in all three, HTTP Digest, NTLM and Bearer
tokens (from the request heads the Dispatcher parsed), LDAP binds, Sybase/old-TDS (TDS 4.2/5.0) logins.

Same output as `credentials` (`login_watch.found`: protocol, user, method, secret, password length, never
the password). `secret` says what crossed the wire: cleartext, token (a bearer token: usable as is),
digest (challenge-response), none (an empty password). The parsers are pure functions; the analyzer
keeps only a line buffer and the SASL step per flow, and stops after MAX_BYTES of client data.
"""

from __future__ import annotations

import re

from netwatch import events
from netwatch.analyzers import Emit, deactivate
from netwatch.analyzers.login_watch import MAX_LINE, LoginState, LoginWatcher, found, locating
from netwatch.flows.table import Flow
from netwatch.protocols.auth import (
    TDS5_PASSWORD,
    LdapBind,
    b64,
    digest_user,
    http_authorizations,
    ldap_bind_at,
    ldap_messages,
    ldap_unfinished,
    oauth_token,
    sasl_plain,
    tds_login,
)
from netwatch.protocols.http import HttpPart
from netwatch.protocols.windows import ntlm_authenticate

SASL_CMD = re.compile(
    rb"^(?:\S+ AUTHENTICATE|AUTH) (PLAIN|LOGIN|XOAUTH2|OAUTHBEARER|CRAM-MD5|DIGEST-MD5)(?: (\S+))?\s*$", re.I)
MAX_LDAP_PER_CHUNK = 64  # LDAPMessages of one delivery looked at for binds
MAX_LDAP_HELD = 8192  # bytes of a cut LDAPMessage kept for the next delivery (a BindRequest is small)
CHALLENGE = {b"CRAM-MD5", b"DIGEST-MD5"}  # challenge-response: the answer comes after the server's challenge
SASL_APPS = {"pop3": {b"PLAIN", b"LOGIN", b"XOAUTH2", b"OAUTHBEARER"} | CHALLENGE,  # credentials: USER/PASS, APOP
             "imap": {b"XOAUTH2", b"OAUTHBEARER"} | CHALLENGE, "smtp": {b"XOAUTH2", b"OAUTHBEARER"} | CHALLENGE}


class Logins(LoginWatcher, name="logins"):
    """Emits `credentials` observations for the logins `Credentials` does not parse."""

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        st = self._budget(flow, direction, data, APPS)
        handle = HANDLERS.get(flow.app or "")
        if st is not None and direction == 0 and handle is not None:
            handle(self, flow, st, data, ts, emit)

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        """An LDAP bind still held for its rest when the flow ends (the capture cut it) is read as it is."""
        st = self.peek(flow)
        if st is not None and st.buf and flow.app == "ldap":
            held, st.buf = st.buf, b""
            bind = ldap_bind_at(held, 0)
            if bind is not None:
                self._bind(flow, bind, st.seen - len(held), flow.last_ts, emit)

    def http(self, flow: Flow, direction: int, part: HttpPart, ts: float, emit: Emit) -> None:
        """HTTP Digest and Bearer in a request's Authorization and Proxy-Authorization headers."""
        head = self._request_head(flow, direction, part)
        if head is None:
            return
        for scheme, value in http_authorizations(head.headers):
            if scheme == b"digest":
                found(flow, ts, emit, "http", digest_user(value), None, "Digest", "digest")
            elif scheme == b"bearer":
                at = head.raw_head.find(value)  # the token in the stream (h2c: HPACK-coded, not located)
                where = events.Location(0, head.offset + at, len(value), "password", "ascii") \
                    if at >= 0 and not head.framing else None
                found(flow, ts, locating(emit, where), "http", None, value, "Bearer", "token")
            elif scheme in (b"ntlm", b"negotiate"):
                self._ntlm(flow, value, ts, emit)

    @staticmethod
    def _ntlm(flow: Flow, token: bytes, ts: float, emit: Emit) -> None:
        """NTLM (raw, or inside SPNEGO for Negotiate): the AUTHENTICATE message names the user; its
        response is challenge-response, crackable offline."""
        raw = b64(token.strip())
        login = ntlm_authenticate(raw) if raw else None
        if login is not None and login[1]:
            domain, user = login
            found(flow, ts, emit, "http", user + b"@" + domain if domain else user, None, "NTLM", "digest")

    # -- SASL on line protocols ------------------------------------------------------------------
    def _lines(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        buf = st.buf + data
        *lines, rest = buf.split(b"\n")
        st.buf = rest if len(rest) <= MAX_LINE else b""
        at = st.seen - len(buf)  # client stream offset of buf[0] (`seen` counts every client byte)
        for line in lines[:256]:
            where = events.Location(0, at, len(line), "password", "ascii")  # a login in it: the line
            self._sasl_line(flow, st, line.strip(), ts, locating(emit, where))
            at += len(line) + 1

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
            creds = sasl_plain(word)
            if creds:
                found(flow, ts, emit, app, creds[0], creds[1], method, "cleartext")
        elif step == "LOGIN":
            st.user, st.mode = b64(word) or word, "LOGIN-pass"
        elif step == "LOGIN-pass":
            pw = b64(word)
            if pw is not None:
                found(flow, ts, emit, app, st.take_user(), pw, method, "cleartext")
        elif step in ("CRAM-MD5", "DIGEST-MD5"):
            raw = b64(word)
            if raw:  # CRAM-MD5: "user hexdigest"; DIGEST-MD5: username="user",…,response=…
                user = raw.split(b" ", 1)[0] if step == "CRAM-MD5" else digest_user(raw)
                found(flow, ts, emit, app, user, None, method, "digest")
        else:  # XOAUTH2 / OAUTHBEARER
            raw = b64(word)
            tok = oauth_token(raw) if raw else None
            if tok:
                found(flow, ts, emit, app, tok[0], tok[1], method, "token")

    # -- LDAP ----------------------------------------------------------------------------------------
    def _ldap(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        """Binds in the client's LDAPMessages; a message cut at the end of a delivery (a bind over two
        segments) is held, up to MAX_LDAP_HELD bytes, and read whole with the next."""
        held, st.buf = st.buf, b""
        data = held + data if held else data
        base = st.seen - len(data)  # client stream offset of data[0]
        starts = ldap_messages(data)[:MAX_LDAP_PER_CHUNK]
        cut = ldap_unfinished(data, starts)
        if cut is not None and len(data) - cut <= MAX_LDAP_HELD:
            st.buf = data[cut:]  # read with the rest, not now: a cut bind would measure a cut password
        else:
            cut = None
        for at in starts:
            if at == cut:
                break
            bind = ldap_bind_at(data, at)
            if bind is not None:
                self._bind(flow, bind, base, ts, emit)

    @staticmethod
    def _bind(flow: Flow, bind: LdapBind, base: int, ts: float, emit: Emit) -> None:
        """One BindRequest; a readable password is located (`base + secret offset`) for evidence."""
        _version, name, kind, secret, where = bind
        if kind == "simple":
            if secret:
                at = events.Location(0, base + where, len(secret), "password", "ber")
                found(flow, ts, locating(emit, at), "ldap", name, secret, "simple bind", "cleartext")
            elif name:  # RFC 4513 "unauthenticated" bind: a name and no password
                found(flow, ts, emit, "ldap", name, b"", "simple bind", "none")
        elif kind == "sasl:PLAIN" and secret:
            parts = secret.split(b"\0")
            if len(parts) == 3:
                at = events.Location(0, base + where + len(secret) - len(parts[2]), len(parts[2]), "password", "ber")
                found(flow, ts, locating(emit, at), "ldap", parts[1], parts[2], "SASL PLAIN", "cleartext")
        elif kind in ("sasl:DIGEST-MD5", "sasl:CRAM-MD5") and secret:
            found(flow, ts, emit, "ldap", digest_user(secret) or name or None, None, kind[5:], "digest")
        elif kind in ("sasl:GSS-SPNEGO", "sasl:NTLM", "sicily") and secret:
            login = ntlm_authenticate(secret)  # NTLM's AUTHENTICATE names the user: challenge-response
            if login is not None and login[1]:
                domain, user = login
                found(flow, ts, emit, "ldap", user + b"@" + domain if domain else user, None, "NTLM bind", "digest")

    # -- Sybase / TDS 5.0 --------------------------------------------------------------------------------
    def _tds(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        creds = tds_login(data)
        if creds is None:
            return
        user, pw = creds
        at = events.Location(0, st.seen - len(data) + TDS5_PASSWORD, len(pw), "password", "ascii")
        found(flow, ts, locating(emit, at), "tds", user, pw, "tds5 login", "cleartext" if pw else "none")
        deactivate(flow, self)


HANDLERS = {"pop3": Logins._lines, "imap": Logins._lines, "smtp": Logins._lines, "ldap": Logins._ldap,
            "tds": Logins._tds}
APPS = {*HANDLERS, "http"}  # http: its heads come parsed (`http`)
