"""RDP's legacy "Standard RDP Security": RC4 inside the RDP protocol itself, no TLS.

The server's X.224 Connection Confirm says which security the session uses (MS-RDPBCGR 2.2.1.2):
an RDP_NEG_RSP selecting PROTOCOL_RDP (0), or no negotiation at all (pre-RDP 5.2 clients), means
Standard RDP Security; TLS, CredSSP and RDSTLS are upgrades the `Upgrade` analyzer already sees.
The MCS Connect Response that follows carries the Server Security Data block (0x0C02) with the
encryption method (40/56/128-bit RC4 or FIPS 3DES, or none). Such a flow is encrypted, weakly: the
analyzer marks it so (how `rdp-standard`) and emits an `rdp_security` observation; only a server
that chose no encryption at all leaves the flow cleartext.
"""

from __future__ import annotations

from dataclasses import dataclass

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, cleartext_after_all, deactivate, encrypted_from_here
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP
from netwatch.protocols.rdp import LEVELS, METHODS, selected_protocol, server_security

MAX_PDUS = 4  # server PDUs looked at after the Connection Confirm


@dataclass(slots=True)
class _Standard:
    ts: float = 0.0  # when the server chose Standard RDP Security
    pdus: int = 0  # server PDUs looked at since
    done: bool = False  # reported


class RdpSecurity(Analyzer[_Standard], name="rdp_security", transports=(TCP,), plaintext_only=False):
    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if not self.stays_for(flow, "rdp") or direction != 1:
            return
        if flow.how == "rdpeudp":
            deactivate(flow, self)
            return
        st = self.peek(flow)
        if st is None:
            proto = selected_protocol(data)
            if proto is None:
                return
            if proto != 0:
                deactivate(flow, self)  # TLS / CredSSP: the upgrade is seen by `Upgrade`
                return
            self.state(flow).ts = ts
            encrypted_from_here(flow, "rdp-standard")  # weak, but not cleartext
            return
        st.pdus += 1
        sec = server_security(data)
        if sec is not None or st.pdus >= MAX_PDUS:
            self._report(flow, st, sec, ts, emit)

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        st = self.peek(flow)
        if st is not None and not st.done:
            self._report(flow, st, None, st.ts, emit)

    def _report(self, flow: Flow, st: _Standard, sec: tuple[int, int] | None, ts: float, emit: Emit) -> None:
        st.done = True
        method, level = sec if sec is not None else (None, None)
        if method == 0:
            cleartext_after_all(flow, "rdp-security-none")
        emit(events.RdpSecurity(
            ts=ts, flow=events.FlowFacts.of(flow), security="standard",
            encryption=METHODS[method] if method is not None else "RC4 (method not seen)",
            level=LEVELS.get(level) if level is not None else None, cleartext=method == 0,
        ))
        deactivate(flow, self)
