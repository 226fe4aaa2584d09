"""Proxy handshakes (SOCKS4/4a, SOCKS5, HTTP CONNECT): the proxy as a destination fact, the SOCKS5
login, and what follows the handshake classified as its own protocol (TLS, RDP, HTTP, …).

The parsers are pure: `client_handshake` / `server_handshake` read one direction's bytes and say
how many belong to the handshake. When the server grants the tunnel the analyzer emits a `proxy`
observation (kind, target host and port, login method) and hands the flow back to the classifier
and to the analyzers it had at the start, so the tunnelled bytes are judged like a direct flow.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, deactivate, tunnel_opened
from netwatch.analyzers.credentials import Credentials
from netwatch.decode import TCP
from netwatch.flows import Flow
from netwatch.protocols.text import clean

MAX_HANDSHAKE = 4096  # bytes per direction before the handshake is given up
CONNECT_RE = re.compile(rb"^CONNECT ([^\s]{1,300}) HTTP/1\.[01]\r\n", re.I)
STATUS_RE = re.compile(rb"^HTTP/1\.[01] (\d{3})")
SOCKS5_METHODS = {0: "none", 1: "gssapi", 2: "username/password"}


@dataclass(slots=True)
class ClientSide:
    kind: str  # socks4, socks5, http-connect
    host: str
    port: int
    user: bytes | None = None
    password: bytes | None = None
    used: int = 0  # bytes of the handshake


def _addr(data: bytes, i: int, atyp: int) -> tuple[str, int]:
    """A SOCKS5 address and port at i: (host, offset after the port); IndexError when short."""
    if atyp == 1:
        host, i = str(ipaddress.IPv4Address(data[i : i + 4])), i + 4
    elif atyp == 4:
        host, i = str(ipaddress.IPv6Address(data[i : i + 16])), i + 16
    elif atyp == 3:
        n = data[i]
        host, i = data[i + 1 : i + 1 + n].decode("latin-1"), i + 1 + n
    else:
        raise IndexError("address type")
    if i + 2 > len(data):
        raise IndexError("port")
    return host, i + 2


def _port(data: bytes, i: int) -> int:
    return int.from_bytes(data[i - 2 : i], "big")


def client_handshake(data: bytes) -> ClientSide | None:
    """The client's handshake once complete (greeting, optional RFC 1929 login, request), else None."""
    try:
        if data[:8].upper() == b"CONNECT ":
            m = CONNECT_RE.match(data)
            end = data.find(b"\r\n\r\n")
            if m is None or end < 0:
                return None
            target = m.group(1).decode("latin-1")
            host, _, port = target.rpartition(":")
            return ClientSide("http-connect", host.strip("[]"), int(port) if port.isdigit() else 0, used=end + 4)
        if data[0] == 4:
            end = data.index(b"\0", 8)
            host = str(ipaddress.IPv4Address(data[4:8]))
            if data[4:7] == b"\0\0\0" and data[7]:  # SOCKS4a: host name after the user id
                e2 = data.index(b"\0", end + 1)
                host, end = data[end + 1 : e2].decode("latin-1"), e2
            return ClientSide("socks4", host, int.from_bytes(data[2:4], "big"), user=data[8 : data.index(b"\0", 8)],
                              used=end + 1)
        if data[0] != 5:
            return None
        i = 2 + data[1]
        user = password = None
        if data[i] == 1:  # RFC 1929: VER=1, ULEN, UNAME, PLEN, PASSWD
            ulen = data[i + 1]
            user = data[i + 2 : i + 2 + ulen]
            plen = data[i + 2 + ulen]
            password = data[i + 3 + ulen : i + 3 + ulen + plen]
            if len(password) != plen:
                return None
            i += 3 + ulen + plen
        if data[i] != 5 or data[i + 2] != 0:
            return None
        host, j = _addr(data, i + 4, data[i + 3])
        return ClientSide("socks5", host, _port(data, j), user, password, used=j)
    except (IndexError, ValueError):
        return None


def server_handshake(kind: str, data: bytes) -> tuple[bool, int, str | None] | None:
    """(granted, bytes used, SOCKS5 method chosen) once the server's answer is complete, else None."""
    try:
        if kind == "http-connect":
            end = data.find(b"\r\n\r\n")
            m = STATUS_RE.match(data)
            return (m is not None and m.group(1).startswith(b"2"), end + 4, None) if end >= 0 else None
        if kind == "socks4":
            return (data[1] == 0x5A, 8, None) if len(data) >= 8 else None
        method = data[1]
        i = 2
        if method == 2:
            if len(data) < 4:
                return None
            i = 4  # RFC 1929 status
        _host, j = _addr(data, i + 4, data[i + 3])
        return data[i + 1] == 0, j, SOCKS5_METHODS.get(method, f"{method:#04x}")
    except (IndexError, ValueError):
        return None


@dataclass(slots=True)
class _Handshake:
    bufs: list[bytes]  # each direction's bytes so far (bounded)
    client: ClientSide | None = None  # the client's side, once complete


class Proxy(Analyzer[_Handshake]):
    """Watches SOCKS and HTTP CONNECT flows; has the Dispatcher reopen classification once the tunnel is up."""

    name = "proxy"

    def new_state(self, flow: Flow) -> _Handshake:
        return _Handshake([b"", b""])

    def wants(self, flow: Flow) -> bool:
        return flow.proto == TCP

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
        granted, _used, method = answer
        if client.password is not None:
            Credentials._found(flow, ts, emit, "socks5", client.user, client.password, "username/password",
                               secret="cleartext" if client.password else "none")
        emit(events.Proxy(ts=ts, flow=events.FlowFacts.of(flow), proxy=client.kind,
                          target_host=clean(client.host, 255) or "", target_port=client.port, granted=granted,
                          login=method or ("userid" if client.user else "none")))
        deactivate(flow, self)
        if granted:  # the classifier judges the tunnelled bytes
            tunnel_opened(flow, client.kind, f"{clean(client.host, 255)}:{client.port}", self)
