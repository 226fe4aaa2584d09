"""QUIC handshake facts: the client's ClientHello read from its Initial packets (`protocols.quic`).

Emits one `tls_hello` per QUIC flow (SNI, ALPN, JA3, JA4 with the `q` transport prefix, the QUIC
version) and names the flow (flow.server_name) so the site policy can allow QUIC destinations by
name. Looks at no more than MAX_DATAGRAMS client datagrams, then leaves the flow.
"""

from __future__ import annotations

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, deactivate, server_named
from netwatch.flows.table import Flow
from netwatch.packets.decode import UDP
from netwatch.protocols.quic import CryptoStream, gquic_chlo, initial_crypto, long_header
from netwatch.protocols.text import clean
from netwatch.protocols.tls import HS_CLIENT_HELLO, parse_client_hello, version_name
from netwatch.protocols.tls_fingerprints import fingerprints

MAX_DATAGRAMS = 8


class _State:
    __slots__ = ("dcid", "stream", "seen", "version", "gquic")

    def __init__(self) -> None:
        self.dcid: bytes | None = None
        self.stream = CryptoStream()
        self.seen = 0
        self.version = 0
        self.gquic = 0  # Google QUIC datagrams looked at


class QuicInspector(Analyzer[_State], name="quic", transports=(UDP,), plaintext_only=False):
    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if not self.stays_for(flow, "quic") or direction != 0:
            return
        if flow.how == "gquic" or data[1:3] == b"Q0":
            self._gquic(flow, data, ts, emit)
            return
        st = self.state(flow)
        st.seen += 1
        h = long_header(data)
        if h is not None and not st.version:
            st.version = h.version
        st.dcid, frames = initial_crypto(data, st.dcid)
        for off, chunk in frames:
            st.stream.add(off, chunk)
        msg = st.stream.message() if frames else None
        if msg is not None or st.seen >= MAX_DATAGRAMS:
            if msg is not None and msg[0] == HS_CLIENT_HELLO:
                self._report(flow, st, msg[1], ts, emit)
            deactivate(flow, self)

    def _gquic(self, flow: Flow, data: bytes, ts: float, emit: Emit) -> None:
        """Google QUIC up to Q046 sends its client hello (CHLO) in clear: the SNI is read from its tag table."""
        tags = gquic_chlo(data)
        st = self.state(flow)
        st.gquic += 1
        if not tags and st.gquic < MAX_DATAGRAMS:
            return
        sni = clean(tags.get("SNI", b""), 255) or None
        if tags:
            server_named(flow, sni)
            emit(events.TlsHello(ts=ts, flow=events.FlowFacts.of(flow), sni=sni, quic_version="gquic"))
        deactivate(flow, self)

    @staticmethod
    def _report(flow: Flow, st: _State, body: bytes, ts: float, emit: Emit) -> None:
        ch = parse_client_hello(body)
        if ch is None:
            return
        ja3, ja4 = fingerprints(ch, "q")
        server_named(flow, ch.sni)
        emit(events.TlsHello(
            ts=ts, flow=events.FlowFacts.of(flow), client_version=version_name(ch.max_version),
            ciphers_offered=len(ch.ciphers), sni=ch.sni, alpn=",".join(ch.alpn[:4]) if ch.alpn else None, ja3=ja3,
            ja4=ja4, quic_version=f"{st.version:#010x}",
        ))
