"""Logins sent in clear: FTP, POP3 (USER/PASS, APOP), IMAP, SMTP AUTH, HTTP Basic, Telnet, SNMP, databases;
passwords in HTTP URLs (userinfo, query) and form posts (CWE-598; `protocols.url_auth`).

HTTP comes parsed from the Dispatcher (`http`: each request head once, then the whole message); the
rest are read from the stream here.

Emits `credentials` observations with protocol, user (escaped, length-limited), method, secret
(cleartext / hash / digest / obfuscated / scram), password_length and default_password. The
password itself is looked at only to measure it and compare it with a small list of well-known
defaults; it is never stored in an observation, the flow state keeps at most the bytes of a
password still being typed (Telnet) and drops them at once. Plaintext-only: after a STARTTLS
upgrade this analyzer is off the flow. Bounded: it stops after the first MAX_BYTES of a flow.
"""

from __future__ import annotations

from netwatch import events
from netwatch.analyzers import Emit, deactivate
from netwatch.analyzers.login_watch import MAX_BYTES, MAX_LINE, LoginState, LoginWatcher, found, locating
from netwatch.flows.table import Flow
from netwatch.protocols.auth import (
    IMAP_AUTH_PLAIN,
    IMAP_LITERAL,
    IMAP_LOGIN,
    TELNET_IAC,
    TELNET_PASS_PROMPT,
    TELNET_USER_PROMPT,
    b64,
    basic_login,
    http_authorizations,
    sasl_plain,
)
from netwatch.protocols.body_auth import body_secrets
from netwatch.protocols.form_documents import form_secrets, target_documents
from netwatch.protocols.http import FramedMessage, HttpMessage, HttpPart
from netwatch.protocols.snmp import snmp_community
from netwatch.protocols.url_auth import is_form, request_target, target_secrets


class Credentials(LoginWatcher, name="credentials"):
    # -- dispatch -------------------------------------------------------------------------------
    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        st = self._budget(flow, direction, data, STREAM_APPS)
        handle = STREAM_HANDLERS.get(flow.app or "")
        if st is not None and handle is not None:
            handle(self, flow, st, direction, data, ts, emit)

    def http(self, flow: Flow, direction: int, part: HttpPart, ts: float, emit: Emit) -> None:
        """HTTP Basic in a request's Authorization and Proxy-Authorization headers; passwords in its
        URL (userinfo, query), in its body (`protocols.url_auth`, `protocols.body_auth`) and in the
        client's WebSocket messages after an upgrade."""
        if isinstance(part, HttpMessage) and direction == 0 and part.is_request:
            self._form(flow, part, ts, emit)
        if isinstance(part, FramedMessage) and direction == 0:
            self._message(flow, part, ts, emit)
        head = self._request_head(flow, direction, part)
        if head is None:
            return
        for scheme, token in http_authorizations(head.headers):
            login = basic_login(token) if scheme == b"basic" else None
            if login is not None:
                at = head.raw_head.find(token)  # the token's place in the stream: the head's offset on
                where = events.Location(0, head.offset + at, len(token), "password", "base64") \
                    if at >= 0 and not head.framing else None  # h2c: HPACK-coded, its head is rebuilt text
                found(flow, ts, locating(emit, where), "http", login[0], login[1], "Basic")
        target, at = request_target(head.start_line)
        for sec in target_secrets(target):
            where = None if head.framing else events.Location(0, head.offset + at + sec.offset, sec.length,
                                                               "password", "url")  # h2c: HPACK-coded
            method = "URL userinfo" if sec.scheme in (None, "http") else f"URL userinfo ({sec.scheme})"
            found(flow, ts, locating(emit, where), "http", sec.user, sec.secret,
                  method if sec.where == "userinfo" else "URL query", sec.kind)
        for sec in target_documents(target):  # GraphQL over GET: `?query={login(password: "…")}`
            method, encoding = body_method(sec.where)
            where = None if head.framing else events.Location(0, head.offset + at + sec.offset, sec.length,
                                                               "password", encoding)
            found(flow, ts, locating(emit, where), "http", sec.user, sec.secret, method, sec.kind)

    def _form(self, flow: Flow, msg: HttpMessage, ts: float, emit: Emit) -> None:
        """Password fields of a request body: an `application/x-www-form-urlencoded` form
        (`protocols.url_auth`), JSON, multipart/form-data or XML/SOAP (`protocols.body_auth`)."""
        st = self.peek(flow)
        if (st is not None and st.seen > MAX_BYTES) or not msg.body:
            return
        ctype = msg.head.header(b"content-type")
        body = msg.body[:MAX_BYTES]
        secrets = form_secrets(body) if is_form(ctype) else body_secrets(ctype, body)
        for sec in secrets:
            method, encoding = body_method(sec.where)
            where = _body_location(msg, sec.offset, sec.length, encoding)
            found(flow, ts, locating(emit, where), "http", sec.user, sec.secret, method, sec.kind)

    def _message(self, flow: Flow, msg: FramedMessage, ts: float, emit: Emit) -> None:
        """A client's WebSocket message holding a JSON or XML login (a web till signing on over ws://).
        Not located: the stream holds it masked; evidence blanks it through the mask (redaction.frames)."""
        st = self.peek(flow)
        if (st is not None and st.seen > MAX_BYTES) or not msg.data:
            return
        for sec in body_secrets(None, msg.data[:MAX_BYTES]):
            method = "WebSocket " + body_method(sec.where)[0].replace(" body", " message")
            found(flow, ts, emit, "http", sec.user, sec.secret, method, sec.kind)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if self.stays_for(flow, "snmp"):
            self._snmp(flow, data, ts, emit)

    # -- line protocols: FTP, POP3, IMAP, SMTP --------------------------------------------------
    def _lines(self, flow: Flow, st: LoginState, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if direction != 0:
            return
        buf = st.buf + data
        *lines, rest = buf.split(b"\n")
        st.buf = rest if len(rest) <= MAX_LINE else b""
        handle = LINE_HANDLERS[flow.app or ""]
        at = st.seen - len(buf)  # client stream offset of buf[0] (`seen` counts every client byte)
        for line in lines[:256]:
            where = events.Location(0, at, len(line), "password", "ascii")  # a login in it: the line
            handle(self, flow, st, line.rstrip(b"\r"), ts, locating(emit, where))
            at += len(line) + 1

    def _ftp_pop3(self, flow: Flow, st: LoginState, line: bytes, ts: float, emit: Emit) -> None:
        cmd = line[:5].upper()
        proto = flow.app or "ftp"
        if cmd == b"USER ":
            st.user = line[5:].strip()
        elif cmd == b"PASS ":
            found(flow, ts, emit, proto, st.take_user(), line[5:], "USER/PASS")
        elif cmd == b"APOP " and proto == "pop3":
            user = line[5:].split(b" ", 1)[0]
            found(flow, ts, emit, proto, user, None, "APOP", secret="digest")

    def _imap(self, flow: Flow, st: LoginState, line: bytes, ts: float, emit: Emit) -> None:
        if st.mode == "literal":  # LOGIN user {n}: the password is the next line's first n bytes
            st.mode = None
            found(flow, ts, emit, "imap", st.take_user(), line[: st.literal], "LOGIN")
            return
        if st.mode == "plain":
            st.mode = None
            creds = sasl_plain(line.strip())
            if creds:
                found(flow, ts, emit, "imap", creds[0], creds[1], "AUTHENTICATE PLAIN")
            return
        m = IMAP_LOGIN.match(line)
        if m:
            user = m.group(1) if m.group(1) is not None else m.group(2)
            pw = m.group(3) if m.group(3) is not None else m.group(4)
            literal = IMAP_LITERAL.fullmatch(pw) if m.group(4) is not None else None
            if literal is not None:
                st.user, st.mode, st.literal = user, "literal", int(literal.group(1))
            else:
                found(flow, ts, emit, "imap", user, pw, "LOGIN")
            return
        m = IMAP_AUTH_PLAIN.match(line)
        if m:
            creds = sasl_plain(m.group(1)) if m.group(1) else None
            if creds:
                found(flow, ts, emit, "imap", creds[0], creds[1], "AUTHENTICATE PLAIN")
            else:
                st.mode = "plain"

    def _smtp(self, flow: Flow, st: LoginState, line: bytes, ts: float, emit: Emit) -> None:
        mode = st.mode
        word = line.strip()
        if mode == "plain":
            st.mode = None
            creds = sasl_plain(word)
            if creds:
                found(flow, ts, emit, "smtp", creds[0], creds[1], "AUTH PLAIN")
            return
        if mode == "login-user":
            st.user, st.mode = b64(word) or word, "login-pass"
            return
        if mode == "login-pass":
            st.mode = None
            pw = b64(word)
            if pw is not None and word != b"*":
                found(flow, ts, emit, "smtp", st.take_user(), pw, "AUTH LOGIN")
            return
        upper = word.upper()
        if upper.startswith(b"AUTH PLAIN"):
            creds = sasl_plain(word[10:].strip()) if len(word) > 11 else None
            if creds:
                found(flow, ts, emit, "smtp", creds[0], creds[1], "AUTH PLAIN")
            else:
                st.mode = "plain"
        elif upper.startswith(b"AUTH LOGIN"):
            initial = word[10:].strip()
            if initial:
                st.user, st.mode = b64(initial) or initial, "login-pass"
            else:
                st.mode = "login-user"

    # -- Telnet: prompts from the server, keystrokes from the client -----------------------------
    def _telnet(self, flow: Flow, st: LoginState, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        text = TELNET_IAC.sub(b"", data)
        if direction == 1:
            screen = (st.screen + text)[-128:]
            st.screen = screen
            if TELNET_PASS_PROMPT.search(screen):
                st.mode, st.typed = "pass", bytearray()
            elif TELNET_USER_PROMPT.search(screen):
                st.mode, st.typed = "user", bytearray()
            return
        mode = st.mode
        if mode is None:
            return
        typed = st.typed
        for b in text:
            if b in (0x0D, 0x0A, 0x00):
                if mode == "user" and typed:
                    st.user = bytes(typed)
                elif mode == "pass":
                    found(flow, ts, emit, "telnet", st.take_user(), bytes(typed), "login prompt")
                typed.clear()
                st.mode = None
                st.screen = b""
                return
            if b in (0x08, 0x7F):
                if typed:
                    typed.pop()
            elif len(typed) < 256:
                typed.append(b)

    # -- SNMP community -------------------------------------------------------------------------
    def _snmp(self, flow: Flow, data: bytes, ts: float, emit: Emit) -> None:
        parsed = snmp_community(data)
        if parsed is None:
            return
        version, community, pdu = parsed
        seen = self.state(flow).communities
        key = hash(community)
        if key in seen or len(seen) >= 8:
            return
        seen.add(key)
        found(flow, ts, emit, "snmp", None, community, "community", version=version, pdu=pdu)

    # -- databases ------------------------------------------------------------------------------
    def _mysql(self, flow: Flow, st: LoginState, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if direction != 0 or len(data) < 36 or data[3] != 1:
            return
        caps = int.from_bytes(data[4:8], "little")
        if not caps & 0x200 or len(data) < 37:  # pre-4.1 clients: not decoded
            return
        if caps & 0x800 and int.from_bytes(data[:3], "little") == 32:
            return  # an SSLRequest (TLS follows, maybe in the same chunk): no user, no password
        end = data.find(b"\0", 36)
        if end < 0:
            return  # SSLRequest (no user) or truncated
        user = data[36:end]
        i = end + 1
        if caps & 0x200000 or caps & 0x8000:
            n = data[i] if i < len(data) else 0
            i += 1
        else:
            n = max(0, data.find(b"\0", i) - i)
        auth = data[i : i + n]
        plugin = b""
        j = i + n
        if caps & 0x8 and j < len(data):  # CLIENT_CONNECT_WITH_DB
            k = data.find(b"\0", j)
            j = k + 1 if k >= 0 else len(data)
        if caps & 0x80000 and j < len(data):  # CLIENT_PLUGIN_AUTH
            k = data.find(b"\0", j)
            plugin = data[j : k if k >= 0 else len(data)]
        method = plugin.decode("latin-1")[:40] or "mysql_native_password"
        if method == "mysql_clear_password":
            where = events.Location(0, st.seen - len(data) + i, len(auth.rstrip(b"\0")), "password", "ascii")
            found(flow, ts, locating(emit, where), "mysql", user, auth.rstrip(b"\0"), method)
        elif not auth:
            found(flow, ts, emit, "mysql", user, b"", method, secret="none")
        else:
            found(flow, ts, emit, "mysql", user, None, method, secret="hash")
        deactivate(flow, self)

    def _postgres(self, flow: Flow, st: LoginState, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        n = len(data)
        if direction == 0 and n >= 8 and data[4:8] == b"\x00\x03\x00\x00":
            parts = data[8:].split(b"\0")
            for k, v in zip(parts[::2], parts[1::2], strict=False):
                if k == b"user":
                    st.user = v
        elif direction == 1 and n >= 9 and data[0:1] == b"R":
            st.auth = int.from_bytes(data[5:9], "big")  # 3 cleartext, 5 md5, 10 SASL
        elif direction == 0 and n >= 6 and data[0:1] == b"p" and st.auth is not None:
            body = data[5 : 1 + int.from_bytes(data[1:5], "big")].rstrip(b"\0")
            auth, st.auth = st.auth, None
            if auth == 3:
                where = events.Location(0, st.seen - n + 5, len(body), "password", "ascii")
                found(flow, ts, locating(emit, where), "postgres", st.user, body, "password")
            elif auth == 5:
                found(flow, ts, emit, "postgres", st.user, None, "md5", secret="hash")
            elif auth == 10:
                found(flow, ts, emit, "postgres", st.user, None, "scram", secret="scram")
            deactivate(flow, self)

    def _tds(self, flow: Flow, st: LoginState, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        """Login7: user name in UTF-16, password only XOR/nibble-swapped, i.e. readable by anyone."""
        if direction != 0 or len(data) < 8 + 94 or data[0] != 0x10:
            return
        body = data[8:]
        try:
            uoff, ulen, poff, plen = (int.from_bytes(body[k : k + 2], "little") for k in (40, 42, 44, 46))
            user = body[uoff : uoff + 2 * ulen].decode("utf-16-le", "replace")
            raw = body[poff : poff + 2 * plen]
            pw = bytes((((b ^ 0xA5) >> 4) | (((b ^ 0xA5) & 0x0F) << 4)) for b in raw).decode("utf-16-le", "replace")
        except (ValueError, IndexError):
            return
        if user or plen:
            where = events.Location(0, st.seen - len(data) + 8 + poff, len(raw), "password", "tds-obfuscated")
            found(flow, ts, locating(emit, where), "tds", user, pw, "login7", secret="obfuscated")
        deactivate(flow, self)


def _body_location(msg: HttpMessage, offset: int, length: int, encoding: str = "url") -> events.Location | None:
    """Where `length` bytes at `offset` of a request's decoded body lie in the client stream: mapped
    through its chunks' (h2c: DATA frames') spans; a compressed body's value cannot be cut out, so
    the whole body. `encoding`: what wraps the value in the body (url, json, xml, multipart)."""
    if msg.content_encoding:
        start, end = (msg.body_spans[0][0], msg.body_spans[-1][1]) if msg.body_spans else msg.body_span
        return events.Location(0, start, end - start, "password", encoding + "+" + msg.content_encoding)
    if not msg.body_spans and msg.head.framing:
        return None  # h2c DATA not followed
    spans = msg.body_spans or ((msg.body_span[0], msg.body_span[0] + len(msg.body)),)
    begin = stop = None
    pos = pieces = 0
    for s, e in spans:  # decoded body = the spans' bytes one after another
        if begin is None and offset < pos + (e - s):
            begin = s + offset - pos
        pieces += begin is not None
        if offset + length <= pos + (e - s):
            stop = s + offset + length - pos
            break
        pos += e - s
    if begin is None or stop is None:
        return None
    # cut over chunks: evidence overwrites the value's bytes and keeps the chunk lines between them
    chunked = pieces > 1 and not msg.head.framing  # (h2c: DATA frame headers between, overwritten too)
    return events.Location(0, begin, stop - begin, "password", encoding + "+chunked" if chunked else encoding)


LINE_HANDLERS = {"ftp": Credentials._ftp_pop3, "pop3": Credentials._ftp_pop3, "imap": Credentials._imap,
                 "smtp": Credentials._smtp}
STREAM_HANDLERS = {"ftp": Credentials._lines, "pop3": Credentials._lines, "imap": Credentials._lines,
                   "smtp": Credentials._lines, "telnet": Credentials._telnet,
                   "mysql": Credentials._mysql, "postgres": Credentials._postgres, "tds": Credentials._tds}
# a body secret's `where` → (the login's method, the encoding its location names)
BODY_METHODS = {"form": ("form body", "url"), "query": ("URL query", "url"), "json": ("JSON body", "json"),
                "multipart": ("multipart form", "multipart"), "xml": ("XML body", "xml"),
                "ws-security": ("WS-Security PasswordText", "xml"), "graphql": ("GraphQL argument", "graphql")}


def body_method(where: str) -> tuple[str, str]:
    """A body secret's method and location encoding; one inside a document in a string or form field
    (`json+graphql`, `json+json`, `form+json`) is named by the innermost and encoded outer to inner."""
    kinds = where.split("+")
    method = BODY_METHODS[kinds[-1]][0]
    if len(kinds) > 1 and kinds[-1] != "graphql":
        method = "nested " + method  # JSON in a JSON string, in a form field
    return method, "+".join(BODY_METHODS[k][1] for k in kinds)
STREAM_APPS = {*STREAM_HANDLERS, "http"}  # http: its heads come parsed (`http`)
