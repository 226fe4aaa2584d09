"""TLS/DTLS handshake facts per flow: `tls_hello` (versions, suites, SNI, ALPN, JA3/JA4) and `tls_cert`.

Runs on encrypted flows (plaintext_only = False) but only until the handshake has been read, then
deactivates itself, so the rest of a TLS flow is counted, never parsed. Tells the Dispatcher the
SNI (`server_named`) and the negotiated version (`negotiated`). A remote-access tool that rides on
TLS is recognised by its handshake (`app_named`, the remote-access analyzer hears of it through the
Dispatcher): AnyDesk by its ALPN or its certificate's subject/issuer; and by the client's JA4 between
the same two hosts once one of their sessions showed it (a resumed session shows no certificate).

Protected means a handshake was seen: the classifier counts a flow that opens with a handshake
record as protected until this analyzer has read it. A flow whose server never answered with a
ServerHello is `unconfirmed` (neither protected nor cleartext); a session that chose a NULL cipher
or anonymous key exchange `protects_nothing`: its records' contents go to every analyzer as
cleartext (`tls_records.RecordContents`), beside the weak-cipher observation.
"""

from __future__ import annotations

from typing import Any

from netwatch.analyzers import (
    Analyzer,
    Emit,
    app_named,
    client_is,
    deactivate,
    encrypted_from_here,
    negotiated,
    notes,
    protects_nothing,
    reopened,
    server_named,
    unconfirmed,
)
from netwatch.analyzers.classify import UPGRADABLE, client_hello_at
from netwatch.analyzers.recognise import records_readable
from netwatch.events import FlowFacts, TlsCert, TlsHello
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP, UDP
from netwatch.protocols.tds import TdsTlsUnwrap
from netwatch.protocols.tls import (
    HS_CERTIFICATE,
    HS_CLIENT_HELLO,
    HS_SERVER_DONE,
    HS_SERVER_HELLO,
    ClientHello,
    HandshakeReader,
    ServerHello,
    cipher_name,
    cipher_weakness,
    parse_certificates,
    parse_client_hello,
    parse_server_hello,
    parse_sslv2_client_hello,
    version_name,
)
from netwatch.protocols.tls_fingerprints import fingerprints, ja3s
from netwatch.protocols.tls_records import RecordContents, mac_bytes, unprotected_suite

TLS_APPS = {"tls", "dtls"}
MAX_KNOWN = 4096  # (client, server, JA4) of recognised tool sessions remembered per run
MAX_HELLOS = 1024  # hello pairs whose tls_hello fields are kept
MAX_TDS_PRELUDE = 16 * 1024  # TDS bytes within which a TLS handshake starts, if it comes at all
ANYDESK_MARKS = ("anydesk", "anynet relay", "anynet root", "philandro")


class _State:
    __slots__ = ("readers", "ch", "sh", "certs", "server_done", "ts", "reported", "client_dir", "tds", "seen",
                 "reopened", "answered")

    def __init__(self, dtls: bool, tds: bool = False) -> None:
        self.readers = (HandshakeReader(dtls), HandshakeReader(dtls))
        self.ch: ClientHello | None = None
        self.sh: ServerHello | None = None
        self.certs: list[bytes] = []
        self.server_done = False
        self.ts = 0.0
        self.reported = False
        self.client_dir: int | None = None  # the direction the ClientHello came from
        self.tds = (TdsTlsUnwrap(), TdsTlsUnwrap()) if tds else None  # SQL Server: TLS inside PRELOGIN packets
        self.seen = 0  # stream bytes looked at (TDS: the handshake must come early)
        self.reopened = False  # records came before any ServerHello: scanned like any payload
        self.answered = False  # a ServerHello came (parsed or not): the handshake was seen


class TlsInspector(Analyzer[_State], name="tls", transports=(TCP, UDP), plaintext_only=False):
    def __init__(self) -> None:
        self.tools: dict[tuple[str, str, str], str] = {}  # (client, server, JA4) → tool its handshake showed
        # the tls_hello fields of a (ClientHello, ServerHello) pair: the parser hands out one object per
        # distinct hello (protocols.tls caches them), so a client's sessions to one server share one entry;
        # the entry holds both objects, so their ids cannot be reused while it stands (bounded)
        self.hello_fields: dict[tuple[int, int, bool], tuple[object, object, dict[str, Any]]] = {}

    def new_state(self, flow: Flow) -> _State:
        return _State(flow.app == "dtls", flow.app == "tds")

    def _state(self, flow: Flow) -> _State | None:
        st = self.peek(flow)
        if st is not None:
            return st
        if flow.app in TLS_APPS or notes(flow).upgraded or flow.app == "tds":  # TDS: even with encryption off
            return self.state(flow)
        if flow.app is not None and not (flow.encrypted is False and flow.app in UPGRADABLE):
            deactivate(flow, self)  # not TLS, and cannot become TLS
        return None

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        st = self._state(flow)
        if st is None:
            return
        dtls = flow.app == "dtls"
        if st.tds is not None:
            st.seen += len(data)
            data = st.tds[direction].feed(data)
            if st.ch is None and st.seen > MAX_TDS_PRELUDE:
                deactivate(flow, self)  # no TLS at the start of this TDS connection: none will come
                return
        elif direction == 0 and not st.readers[0].seen and flow.app not in TLS_APPS:
            data = data[max(0, client_hello_at(data, flow.app)):]  # an upgrade: the TLS bytes may follow others
        for t, body in st.readers[direction].feed(data):
            if t == HS_CLIENT_HELLO and st.ch is None:
                st.ch = parse_client_hello(body, dtls)
                st.ts = ts
                if client_is(flow, direction):  # the ClientHello's sender is the client, whatever the ports said
                    st.readers = (st.readers[1], st.readers[0])
                    direction = 0
                st.client_dir = direction
            elif t == HS_SERVER_HELLO and st.sh is None:
                st.sh = parse_server_hello(body, dtls)
                st.answered = True
            elif t == HS_CERTIFICATE and not st.certs and direction != st.client_dir:
                st.certs = parse_certificates(body)  # the server's, not a client certificate
            elif t == HS_SERVER_DONE:
                st.server_done = True
            elif t == -1 and st.ch is None:  # SSLv2 CLIENT-HELLO
                st.ch = parse_sslv2_client_hello(body)
                st.ts = ts
            elif t == -4 and st.sh is None:  # SSLv2 SERVER-HELLO: SSLv2 negotiated
                st.sh = ServerHello(0x0002, None)
                st.answered = True
        if st.ch is not None and st.sh is None:
            server_named(flow, st.ch.sni)
        if not st.answered and st.readers[direction].dark and flow.encrypted and flow.app in TLS_APPS \
                and not (st.ch is not None and st.ch.sslv2):  # records nobody's handshake keyed yet
            st.reopened = True
            head = 13 if flow.app == "dtls" else 5
            reopened(flow, "no-server-hello", records_readable(data[head:]) if data[:1] == b"\x17" else None)
        elif st.reopened and st.answered and flow.encrypted is not True:  # the ServerHello came late (0-RTT)
            encrypted_from_here(flow, "tls")
        if self._done(st):
            self._report(flow, st, emit)
            deactivate(flow, self)
            if st.sh is not None and (weak := unprotected_suite(st.sh.cipher)) is not None:
                self._in_clear(flow, st, weak)

    def _in_clear(self, flow: Flow, st: _State, weak: str) -> None:
        """The suite protects nothing: what the records carry is scanned as cleartext from here."""
        assert st.sh is not None and st.sh.cipher is not None
        how = f"{flow.app}-{weak}"
        if flow.proto != TCP:  # DTLS: each datagram holds whole records, scanned as they are
            protects_nothing(flow, how, self, None, reclassify=False, cleartext=weak == "null")
            return
        mac = mac_bytes(st.sh.cipher)
        readers = tuple(RecordContents(mac, r.buf) for r in st.readers)
        null = weak == "null"
        protects_nothing(flow, how, self, lambda d, data: readers[d].feed(data), reclassify=null, cleartext=null)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        """DTLS shares its UDP flow with STUN, TURN and (S)RTP in WebRTC: RFC 7983 tells them apart by the
        first byte (20-63 DTLS, 64-79 a TURN ChannelData whose payload may be DTLS); the rest is not read."""
        first = data[0] if data else 0
        if 64 <= first <= 79 and len(data) > 4 and 20 <= data[4] <= 63:
            data = data[4 : 4 + int.from_bytes(data[2:4], "big")]
        elif not 20 <= first <= 63:
            return
        self.stream(flow, direction, data, ts, emit)

    @staticmethod
    def _done(st: _State) -> bool:
        c, s = st.readers
        client = st.ch is not None or c.dark or c.broken
        sh = st.sh
        if s.dark or s.broken:
            return client
        if sh is None:
            return False
        v = sh.negotiated
        tls13 = (0x0304 <= v < 0xFE00 and v != 0x0100) or v == 0xFEFC  # the rest is encrypted
        server = tls13 or sh.version == 0x0002 or st.server_done or bool(st.certs)
        return client and server

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        st = self.peek(flow)
        if st is not None and not st.reported:
            self._report(flow, st, emit)

    def _report(self, flow: Flow, st: _State, emit: Emit) -> None:
        st.reported = True
        ch, sh = st.ch, st.sh
        if ch is None and sh is None:
            return
        if not st.answered and flow.app in TLS_APPS and flow.encrypted:
            unconfirmed(flow, "handshake-incomplete")  # a ClientHello nobody answered protects nothing yet
        ts = st.ts or flow.first_ts
        fields = self._fields(ch, sh, flow.app == "dtls")
        version, ja4 = fields["version"], fields["ja4"]
        alpn = ch.alpn if ch else []
        if ch is not None:
            server_named(flow, ch.sni)
        if sh is not None and flow.encrypted:
            negotiated(flow, version)  # an upgrade (STARTTLS…) shows as flow_end upgraded=true
        leaf = None
        if st.certs and sh is not None and certs_in_clear(sh.negotiated):
            from netwatch.protocols.x509 import cert_facts

            leaf = cert_facts(st.certs[0], ts)
        if flow.app == "tls":
            self._tool(flow, alpn, leaf, ja4, ts)
        facts = FlowFacts.of(flow)
        emit(TlsHello(ts=ts, flow=facts, **fields))
        if leaf is not None:
            emit(TlsCert(ts=ts, flow=facts, chain_length=len(st.certs), sni=fields["sni"], **leaf))


    def _fields(self, ch: ClientHello | None, sh: ServerHello | None, dtls: bool) -> dict[str, Any]:
        """The tls_hello fields that the two hellos alone decide (read-only: shared by their flows)."""
        key = (id(ch), id(sh), dtls)
        hit = self.hello_fields.get(key)
        if hit is not None and hit[0] is ch and hit[1] is sh:
            return hit[2]
        ja3, ja4 = fingerprints(ch, "d" if dtls else "t") if ch and not ch.sslv2 else (None, None)
        alpn = ch.alpn if ch else []
        fields: dict[str, Any] = {
            "version": version_name(sh.negotiated) if sh else None,
            "client_version": version_name(ch.max_version) if ch else None,
            "cipher": cipher_name(sh.cipher) if sh else None,
            "cipher_weak": cipher_weakness(sh.cipher) if sh else None,
            "ciphers_offered": len(ch.ciphers) if ch else None,
            "sni": ch.sni if ch else None,
            "alpn": sh.alpn if sh and sh.alpn else ",".join(alpn[:4]) if alpn else None,
            "ja3": ja3,
            "ja4": ja4,
            "ja3s": ja3s(sh) if sh and sh.cipher is not None else None,
        }
        if len(self.hello_fields) >= MAX_HELLOS:
            self.hello_fields.clear()
        self.hello_fields[key] = (ch, sh, fields)
        return fields

    def _tool(self, flow: Flow, alpn: list[str], leaf: dict[str, Any] | None, ja4: str | None, ts: float) -> None:
        """Name a remote-access tool the handshake shows (or the client's JA4 showed before between these hosts)."""
        key = (flow.src, flow.dst, ja4 or "")
        tool = "anydesk" if _anydesk(alpn, leaf) else self.tools.get(key) if ja4 else None
        if tool is None:
            return
        if ja4 and len(self.tools) < MAX_KNOWN:
            self.tools[key] = tool
        app_named(flow, tool, ts)


def certs_in_clear(version: int) -> bool:
    """TLS up to 1.2 and DTLS 1.0/1.2 (0xFEFF, 0xFEFD: numerically above TLS 1.3) send the chain in clear."""
    return version < 0x0304 or version in (0xFEFF, 0xFEFD, 0x0100)


def _anydesk(alpn: list[str], leaf: dict[str, Any] | None) -> bool:
    if alpn and alpn[0][:7].lower() == "anydesk":
        return True
    if leaf is None:
        return False
    names = (leaf["subject"] + leaf["issuer"]).lower()
    return "any" in names and any(m in names for m in ANYDESK_MARKS)
