"""Remote-access tools (RDP, VNC, TeamViewer, AnyDesk, SSH, Telnet) and which way they point.

Emits one `remote_access` observation per flow once the classifier has named the tool (AnyDesk is
named by the TLS handshake: the Dispatcher tells this analyzer, `app_changed`), with `direction`:
inbound (a public client reaching an internal host), outbound (an internal host reaching a public
relay or server), internal, or external, by the site's internal networks (the policy's
`internal_networks`, else RFC 1918/4193). Then it leaves the flow: remote sessions are counted, not scanned.
"""

from __future__ import annotations

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, deactivate
from netwatch.flows.table import Flow
from netwatch.packets.addresses import DEFAULT_SITE, Site

TOOLS = {"rdp", "vnc", "teamviewer", "anydesk", "ssh", "telnet"}


def direction_of(client: str, server: str, site: Site = DEFAULT_SITE) -> str:
    c, s = site.scope(client), site.scope(server)
    if c == "public" and s != "public":
        return "inbound"
    if c != "public" and s == "public":
        return "outbound"
    if c == "public":
        return "external"
    return "internal"


class RemoteAccess(Analyzer[None], name="remote_access", plaintext_only=False):
    def __init__(self, site: Site = DEFAULT_SITE) -> None:
        self.site = site  # the site's internal networks (the policy's, else RFC 1918/4193)

    def _check(self, flow: Flow, ts: float, emit: Emit) -> None:
        if flow.app is None:
            return
        self.report(flow, ts, emit)
        deactivate(flow, self)

    def app_changed(self, flow: Flow, ts: float, emit: Emit) -> None:
        self.report(flow, ts, emit)

    def report(self, flow: Flow, ts: float, emit: Emit) -> None:
        """Emit the observation if the flow's app is a remote-access tool."""
        if flow.app in TOOLS:
            site = self.site
            emit(events.RemoteAccess(
                ts=ts, flow=events.FlowFacts.of(flow), tool=flow.app, direction=direction_of(flow.src, flow.dst, site),
                client_scope=site.scope(flow.src), server_scope=site.scope(flow.dst),
            ))

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        self._check(flow, ts, emit)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        self._check(flow, ts, emit)
