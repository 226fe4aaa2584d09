"""Software and OS versions that hosts show on the wire: one `software` event per host,
product and version a flow reveals (host, role, product, version, name, protocol, detail).

Sources: SSH banners, HTTP `Server`/`User-Agent` (from the heads the Dispatcher parsed),
FTP/SMTP/POP3/IMAP/Telnet greetings, NTLMSSP VERSION fields (SMB, HTTP, SMTP, IMAP, LDAP binds, DCE/RPC
binds), SMB dialects,
the RDP client build, SNMP sysDescr, DHCP vendor class and host name, SSDP `SERVER`. TLS client
versions come from the `tls_hello` event (`TlsInspector`), not from here. Bounded: each flow is
looked at for its first `CAPS[app]` bytes per direction, then the analyzer leaves it; encrypted
flows are left at once (SSH after its banners). Facts only: judging versions is `netwatch.judge.eol`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, deactivate, notes
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP, UDP
from netwatch.protocols.http import HttpHead, HttpPart
from netwatch.protocols.snmp import sysdescr_value
from netwatch.protocols.software_versions import (
    Software,
    dhcp_vendor_class,
    http_server,
    service_banner,
    ssdp_server,
    ssh_banner,
    sysdescr,
    user_agent,
    windows,
)
from netwatch.protocols.text import clean
from netwatch.protocols.windows import ntlmssp_versions, rdp_client_build, smb_negotiate

CAPS = {"ssh": 1024, "http": 32 * 1024, "ftp": 8192, "smtp": 16 * 1024, "pop3": 8192, "imap": 16 * 1024,
        "telnet": 8192, "smb": 64 * 1024, "rdp": 8192, "ldap": 16 * 1024, "dcerpc": 16 * 1024,
        "epmap": 16 * 1024}
TAIL = 2048  # bytes carried over between chunks so a header or token split by a segment is found
MAX_SEEN = 64  # distinct facts per flow
MAX_VALUE = 400  # bytes of a Server / User-Agent value looked at
LINE = re.compile(rb"(?m)^([^\r\n]{3,400})\r?\n")
SSDP_HEADER = re.compile(rb"(?im)^(?:SERVER|USER-AGENT):[ \t]*([^\r\n]{1,300})\r?$")
HOSTNAME_ONLY = "DHCP host name"  # a product value that only names the host (no software claim)
NTLM_APPS = {"http", "smtp", "imap", "pop3", "smb", "ldap", "dcerpc", "epmap"}  # ldap, RPC: NTLM in binds


def _text(b: bytes) -> str:
    return b.decode("latin-1")


@dataclass(slots=True)
class _Seen:
    reported: set[tuple[str, str, str | None]] = field(default_factory=set)  # (host, product, version)
    looked: list[int] = field(default_factory=lambda: [0, 0])  # bytes looked at per direction
    tails: list[bytes] = field(default_factory=lambda: [b"", b""])  # the end of each direction so far
    ssh: list[bool] = field(default_factory=lambda: [False, False])  # each side's SSH banner read
    smb1_offered: tuple[str, ...] = ()  # the SMB1 dialects the client offered (the reply picks one)


class SoftwareVersions(Analyzer[_Seen], name="software", transports=(TCP, UDP), plaintext_only=False):
    """Sees encrypted flows too: SSH banners come before the encrypted part; other encrypted flows are left."""

    # -- output ---------------------------------------------------------------------------------
    def _emit(self, flow: Flow, direction: int, ts: float, emit: Emit, found: Iterable[Software], protocol: str,
              role: str | None = None, host: str | None = None, **extra: Any) -> None:
        if direction == 1 and host is None and notes(flow).via_proxy:
            return  # a tunnel's server is the proxy's target, not the address the flow goes to
        seen = self.state(flow).reported
        who = host or (flow.src if direction == 0 else flow.dst)
        for s in found:
            key = (who, s.product, s.version)
            if key in seen or len(seen) >= MAX_SEEN:
                continue
            seen.add(key)
            emit(events.Software(
                ts=ts, flow=events.FlowFacts.of(flow), host=who,
                role=role or ("client" if direction == 0 else "server"), product=s.product, version=s.version,
                name=s.name, protocol=protocol, detail=s.detail, **extra,
            ))

    # -- streams --------------------------------------------------------------------------------
    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        app = flow.app
        if app is None:
            return
        cap = CAPS.get(app)
        # SSH banners and, under Standard RDP Security (RC4 inside RDP), the MCS Connect Initial come in clear
        if cap is None or (flow.encrypted and app != "ssh" and flow.how != "rdp-standard"):
            deactivate(flow, self)
            return
        st = self.state(flow)
        counts, tails = st.looked, st.tails
        if counts[direction] >= cap:
            if counts[1 - direction] >= cap:
                deactivate(flow, self)
            return
        counts[direction] += len(data)
        buf = tails[direction] + data[: cap]
        tails[direction] = buf[-TAIL:]
        if app == "ssh":
            self._ssh(flow, direction, buf, ts, emit, counts, cap)
            return
        if app == "http":
            pass  # Server / User-Agent come parsed (`http`); NTLMSSP below
        elif app == "smb":
            self._smb(flow, direction, data, ts, emit)
        elif app == "rdp" and direction == 0:
            build = rdp_client_build(buf)
            if build is not None:
                self._emit(flow, 0, ts, emit, [Software("RDP client", str(build), "RDP client (build)")],
                           "rdp client core data")
        elif app in ("ldap", "dcerpc", "epmap"):
            pass  # binds carry NTLMSSP (below), no banner
        elif direction == 1:  # greeting lines of FTP, SMTP, POP3, IMAP, Telnet
            found = [s for m in LINE.finditer(buf) if (s := service_banner(_text(m.group(1)))) is not None]
            self._emit(flow, 1, ts, emit, found[:4], f"{app} banner", "server")
        if app in NTLM_APPS:
            self._ntlm(flow, direction, buf, ts, emit)

    def _ssh(self, flow: Flow, direction: int, buf: bytes, ts: float, emit: Emit, counts: list[int],
             cap: int) -> None:
        done = self.state(flow).ssh
        if not done[direction]:
            for m in LINE.finditer(buf):
                line = _text(m.group(1))
                if line.startswith("SSH-"):
                    s = ssh_banner(line)
                    if s is not None:
                        self._emit(flow, direction, ts, emit, [s], "ssh banner")
                    done[direction] = True
                    break
            if counts[direction] >= cap:
                done[direction] = True
        if all(done):
            deactivate(flow, self)

    def http(self, flow: Flow, direction: int, part: HttpPart, ts: float, emit: Emit) -> None:
        """`Server` of a response, `User-Agent` of a request, in the heads within the first CAPS['http'] bytes."""
        if not isinstance(part, HttpHead) or part.offset >= CAPS["http"]:
            return
        if direction == 1:
            for value in part.values(b"server"):
                self._emit(flow, 1, ts, emit, http_server(_text(value[:MAX_VALUE])), "http Server", "server")
        else:
            for value in part.values(b"user-agent"):
                self._emit(flow, 0, ts, emit, user_agent(_text(value[:MAX_VALUE])), "http User-Agent", "client")

    def _smb(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        neg = smb_negotiate(data) if data[:1] == b"\x00" else None
        if neg is None:
            return
        dialects = neg.dialects
        if neg.chosen is not None:  # SMB1 reply: the index into what the request offered
            offered = self.state(flow).smb1_offered
            dialects = (offered[neg.chosen],) if neg.chosen < len(offered) else ()
        elif not neg.response:
            self.state(flow).smb1_offered = tuple(dialects)
        if dialects:
            best = max(dialects, key=lambda d: [int(x) if x.isdigit() else 0 for x in d.split(".")])
            label = "chosen" if neg.response else "offered"
            s = Software("SMB", best, "SMB dialect", f"{label}: {', '.join(dict.fromkeys(dialects))}")
            self._emit(flow, direction, ts, emit, [s], f"smb negotiate ({label})")

    def _ntlm(self, flow: Flow, direction: int, buf: bytes, ts: float, emit: Emit) -> None:
        found = []
        for v in ntlmssp_versions(buf):
            w = windows(v.major, v.minor, v.build, f"NTLMSSP type {v.msg_type}")
            if w is not None:
                found.append(w)
        self._emit(flow, direction, ts, emit, found, f"ntlmssp over {flow.app}")

    # -- datagrams ------------------------------------------------------------------------------
    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        app = flow.app
        if app == "snmp":
            self._snmp(flow, direction, data, ts, emit)
        elif app == "ssdp":
            found = [s for m in SSDP_HEADER.finditer(data[:4096]) for s in ssdp_server(_text(m.group(1)))]
            self._emit(flow, direction, ts, emit, found[:6], "ssdp")
        elif app == "dhcp":
            self._dhcp(flow, direction, data, ts, emit)
        elif app is not None:
            deactivate(flow, self)

    def _snmp(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        value = sysdescr_value(data)
        if value:
            self._emit(flow, direction, ts, emit, [sysdescr(_text(value))], "snmp sysDescr", "server")

    def _dhcp(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if len(data) < 240 or data[0] != 1 or data[236:240] != b"\x63\x82\x53\x63":
            return  # BOOTREQUEST with the DHCP magic cookie: the client describes itself
        opts = _dhcp_options(data[240:])
        host = _ip4(data[12:16]) or _ip4(opts.get(50, b"")) or (flow.src if flow.src != "0.0.0.0" else None)
        if host is None:
            return
        name = opts.get(12)
        extra = {"hostname": clean(name, 64)} if name else {}
        vendor = opts.get(60)
        found = [dhcp_vendor_class(_text(vendor))] if vendor else []
        if found or extra:
            if not found:  # a host name alone: recorded against the host, no product claim
                found = [Software(HOSTNAME_ONLY, None, HOSTNAME_ONLY)]
            self._emit(flow, direction, ts, emit, found, "dhcp", "client", host, **extra)


def _dhcp_options(raw: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    i = 0
    while i < len(raw) and len(out) < 64:
        code = raw[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(raw):
            break
        n = raw[i + 1]
        out.setdefault(code, raw[i + 2 : i + 2 + n])
        i += 2 + n
    return out


def _ip4(raw: bytes) -> str | None:
    if len(raw) != 4 or raw == b"\0\0\0\0":
        return None
    return ".".join(str(b) for b in raw)
