"""Proxy handshakes (SOCKS4/4a, SOCKS5 with its RFC 1929 login, HTTP CONNECT), read from each
direction's first bytes: what the client asked for, and whether the proxy granted it. Pure.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# CONNECT host:port, then usually HTTP/1.x; spam tools and odd clients send extra tokens ("/"), no
# version, or bare LF line ends: the target is the first token all the same.
CONNECT_RE = re.compile(rb"^CONNECT[ \t]+([^\s]{1,300})(?:[ \t]+[^\s]{1,300}){0,3}[ \t]*\r?\n", re.I)
HEAD_END = re.compile(rb"\r?\n\r?\n")


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
    password_at: int = 0  # SOCKS5: where the password starts in the client's bytes


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
            head_end = HEAD_END.search(data)
            if m is None or head_end is None:
                return None
            target = m.group(1).decode("latin-1")
            host, _, port = target.rpartition(":")
            return ClientSide("http-connect", host.strip("[]"), int(port) if port.isdigit() else 0,
                              used=head_end.end())
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
        at = 0
        if data[i] == 1:  # RFC 1929: VER=1, ULEN, UNAME, PLEN, PASSWD
            span = socks5_password_span(data)
            if span is None:
                return None
            user, password = data[i + 2 : span[0] - 1], data[span[0] : span[1]]
            at, i = span
        if data[i] != 5 or data[i + 2] != 0:
            return None
        host, j = _addr(data, i + 4, data[i + 3])
        return ClientSide("socks5", host, _port(data, j), user, password, used=j, password_at=at)
    except (IndexError, ValueError):
        return None


def socks5_password_span(data: bytes | bytearray, partial: bool = False) -> tuple[int, int] | None:
    """Where the password of the RFC 1929 username/password request that follows a SOCKS5 greeting
    at the start of `data` lies (start, end), or None: the proxy analyzer reads it, evidence blanks
    it (`partial`: also what there is of a password the stream cut)."""
    try:
        if data[0] != 5:
            return None
        i = 2 + data[1]
        if data[i] != 1:
            return None
        at = i + 3 + data[i + 1]  # VER, ULEN, UNAME, PLEN
        end = at + data[at - 1]
        if end <= len(data):
            return at, end
        return (at, len(data)) if partial and at < len(data) else None
    except IndexError:
        return None


def server_handshake(kind: str, data: bytes) -> tuple[bool, int, str | None] | None:
    """(granted, bytes used, SOCKS5 method chosen) once the server's answer is complete, else None."""
    try:
        if kind == "http-connect":
            head_end = HEAD_END.search(data)
            m = STATUS_RE.match(data)
            return (m is not None and m.group(1).startswith(b"2"), head_end.end(), None) if head_end else None
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
