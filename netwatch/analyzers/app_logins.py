"""Logins in clear of the other protocols a store network carries: Redis AUTH/HELLO, MQTT CONNECT,
IRC PASS / NickServ IDENTIFY / SASL PLAIN, SIP Digest (challenge-response).

Same output as `credentials` (`login_watch.found`: protocol, user, method, secret, the password's
length only). The grammars are pure functions (`protocols.app_auth`); the analyzer keeps a line
buffer, the IRC nick and the step a SASL exchange is at, and stops after MAX_BYTES of client data.
"""

from __future__ import annotations

from netwatch import events
from netwatch.analyzers import Emit, deactivate
from netwatch.analyzers.login_watch import MAX_LINE, LoginState, LoginWatcher, found, locating
from netwatch.flows.table import Flow
from netwatch.protocols.app_auth import irc_identify, mqtt_connect, redis_login, resp_commands, sip_digests
from netwatch.protocols.auth import digest_user, sasl_plain

APPS = {"redis", "mqtt", "irc", "sip"}
MAX_DIGESTS = 8  # distinct SIP Digest users reported per flow (phones re-register every few minutes)


class AppLogins(LoginWatcher, name="app_logins"):
    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        st = self._budget(flow, direction, data, APPS)
        if st is None:
            return
        app = flow.app
        if app == "sip":
            self._sip(flow, st, data, ts, emit)
        elif direction != 0:
            return
        elif app == "redis":
            self._redis(flow, st, data, ts, emit)
        elif app == "mqtt":
            self._mqtt(flow, st, data, ts, emit)
        elif app == "irc":
            self._irc(flow, st, data, ts, emit)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if self.stays_for(flow, "sip"):
            self._sip(flow, self.state(flow), data, ts, emit)

    def _redis(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        buf = st.buf + data
        commands, used = resp_commands(buf)
        st.buf = buf[used:] if len(buf) - used <= MAX_LINE else b""
        where = events.Location(0, st.seen - len(buf), used, "password", "ascii")  # the commands read
        for command in commands:
            login = redis_login(command)
            if login is not None:
                found(flow, ts, locating(emit, where), "redis", login[0], login[1],
                      command[0].upper().decode("latin-1"))

    def _mqtt(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        buf = st.buf + data
        connect = mqtt_connect(buf)
        if connect is None:
            st.buf = buf[:MAX_LINE] if data[:1] == b"\x10" or st.buf else b""
            return
        st.buf = b""
        _level, user, password = connect
        if user is not None or password is not None:
            where = events.Location(0, st.seen - len(buf), len(buf), "password", "mqtt")  # the CONNECT packet
            found(flow, ts, locating(emit, where), "mqtt", user, password if password is not None else b"",
                  "CONNECT", "cleartext" if password else "none")
        deactivate(flow, self)

    def _irc(self, flow: Flow, st: LoginState, data: bytes, ts: float, out: Emit) -> None:
        buf = st.buf + data
        *lines, rest = buf.split(b"\n")
        st.buf = rest if len(rest) <= MAX_LINE else b""
        at = st.seen - len(buf)  # client stream offset of buf[0] (`seen` counts every client byte)
        spans = []
        for line in lines[:256]:
            spans.append(events.Location(0, at, len(line), "password", "ascii"))  # a login in it: the line
            at += len(line) + 1
        lines = [line.rstrip(b"\r") for line in lines[:256]]
        for k, line in enumerate(lines):
            emit = locating(out, spans[k])
            word = line[:13].upper()
            if word.startswith(b"NICK "):
                st.user = line[5:].strip().lstrip(b":")[:64]
            elif word.startswith(b"PASS "):  # the nick usually follows in the same burst
                nick = next((n[5:].strip().lstrip(b":") for n in lines[k + 1 :] if n[:5].upper() == b"NICK "),
                            st.user)
                found(flow, ts, emit, "irc", nick, line[5:].strip().lstrip(b":"), "PASS")
            elif st.mode == "irc-sasl" and word.startswith(b"AUTHENTICATE "):
                st.mode = None
                creds = sasl_plain(line[13:].strip())
                if creds:
                    found(flow, ts, emit, "irc", creds[0], creds[1], "SASL PLAIN")
            elif line[:18].upper() == b"AUTHENTICATE PLAIN":  # (`word` holds 13 characters: too short for it)
                st.mode = "irc-sasl"
            elif (ident := irc_identify(line)) is not None:
                found(flow, ts, emit, "irc", ident[0] or st.user, ident[1], "NickServ IDENTIFY")

    def _sip(self, flow: Flow, st: LoginState, data: bytes, ts: float, emit: Emit) -> None:
        for params in sip_digests(data):
            user = digest_user(params)
            key = hash(user)
            if key in st.communities or len(st.communities) >= MAX_DIGESTS:
                continue
            st.communities.add(key)
            found(flow, ts, emit, "sip", user, None, "Digest", "digest")
