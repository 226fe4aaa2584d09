"""Proxy handshakes (SOCKS4/4a, SOCKS5, HTTP CONNECT): the proxy as a destination fact, the SOCKS5
login, and what follows the handshake classified as its own protocol (TLS, RDP, HTTP, …).

The parsers (`protocols.proxy_handshake`) are pure: `client_handshake` / `server_handshake` read
one direction's bytes and say how many belong to the handshake. When the server grants the tunnel
the analyzer emits a `proxy` observation (kind, target host and port, login method) and has the
Dispatcher hand the flow back to the classifier and to the analyzers it had at the start, so the
tunnelled bytes are judged like a direct flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, deactivate, tunnel_opened
from netwatch.analyzers.login_watch import found, locating
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP
from netwatch.protocols.proxy_handshake import ClientSide, client_handshake, server_handshake
from netwatch.protocols.text import clean

MAX_HANDSHAKE = 4096  # bytes per direction before the handshake is given up


@dataclass(slots=True)
class _Handshake:
    bufs: list[bytes] = field(default_factory=lambda: [b"", b""])  # each direction's bytes so far (bounded)
    client: ClientSide | None = None  # the client's side, once complete


class Proxy(Analyzer[_Handshake], name="proxy", transports=(TCP,)):
    """Watches SOCKS and HTTP CONNECT flows; has the Dispatcher reopen classification once the tunnel is up."""

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        st = self.peek(flow)
        if st is None:
            if flow.app is None:
                return
            if not (flow.app == "socks" or (flow.app == "http" and direction == 0 and data[:8].upper() == b"CONNECT ")):
                deactivate(flow, self)
                return
            st = self.state(flow)
        bufs = st.bufs
        bufs[direction] = (bufs[direction] + data)[:MAX_HANDSHAKE]
        if st.client is None:
            st.client = client_handshake(bufs[0])
        client = st.client
        if client is None:
            if len(bufs[0]) >= MAX_HANDSHAKE:
                deactivate(flow, self)
            return
        answer = server_handshake(client.kind, bufs[1])
        if answer is None:
            if len(bufs[1]) >= MAX_HANDSHAKE:
                deactivate(flow, self)
            return
        self._tunnel(flow, client, answer, ts, emit)

    def _tunnel(self, flow: Flow, client: ClientSide, answer: tuple[bool, int, str | None],
                ts: float, emit: Emit) -> None:
        granted, used, method = answer
        if client.password is not None:  # located from the flow's first byte, before the tunnel rebases
            where = events.Location(0, client.password_at, len(client.password), "password", "ascii")
            found(flow, ts, locating(emit, where), "socks5", client.user, client.password, "username/password",
                  secret="cleartext" if client.password else "none")
        emit(events.Proxy(ts=ts, flow=events.FlowFacts.of(flow), proxy=client.kind,
                          target_host=clean(client.host, 255) or "", target_port=client.port, granted=granted,
                          login=method or ("userid" if client.user else "none")))
        deactivate(flow, self)
        if granted:  # the classifier judges the tunnelled bytes
            st = self.state(flow)  # what came after the handshake in either direction is the tunnel's
            after = [(0, st.bufs[0][client.used :]), (1, st.bufs[1][used:])]
            tunnel_opened(flow, client.kind, f"{clean(client.host, 255)}:{client.port}", self, after)
