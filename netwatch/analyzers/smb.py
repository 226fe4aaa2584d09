"""SMB sessions: which SMB the server really speaks, and whether the session is encrypted.

Modern Windows clients open with an SMB1 NEGOTIATE that also lists SMB2 dialects; only the
server's answer says whether SMB1 is in use (it answers in SMB1, choosing NT LM 0.12 or older) or
SMB 2/3 (it answers in SMB2). The analyzer reads each direction's NetBIOS frames (headers only,
`protocols.smb`), tells the Dispatcher the version (`negotiated`: smb1 / smb2) and emits one
`smb_negotiate` observation per flow (offered and chosen dialects). SMB 3.x encryption wraps every
message after session setup in a transform header (0xFD 'SMB'): such a session is protected
(`encrypted_from_here`, how `smb3-encrypted`); one that also moves file or pipe data in clear is
not (`cleartext_after_all`, how `smb3-partly-encrypted`). Bounded: MAX_MESSAGES messages per flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, cleartext_after_all, deactivate, encrypted_from_here, negotiated
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP
from netwatch.protocols.smb import SMB1_NEGOTIATE, SMB2_CONTROL, SMB2_NEGOTIATE, SmbFramer, SmbMessage
from netwatch.protocols.windows import SMB1_OLD, smb_negotiate

MAX_MESSAGES = 512  # messages read per flow (both directions) before the verdict stands
SMB1_DIALECTS = {"1", SMB1_OLD}
WILDCARD = "2.???"  # an SMB2 answer to a multi-protocol SMB1 NEGOTIATE: the client negotiates again in SMB2
ENCRYPTED, PARTLY = "smb3-encrypted", "smb3-partly-encrypted"


@dataclass(slots=True)
class _Session:
    framers: tuple[SmbFramer, SmbFramer] = field(default_factory=lambda: (SmbFramer(), SmbFramer()))
    smb1_request: tuple[str, ...] = ()  # the dialects of the client's SMB1 NEGOTIATE, in order
    offered: list[str] = field(default_factory=list)  # every dialect offered, first offer first
    chosen: str | None = None
    smb1: bool = False  # SMB1 is in use (the server answered in SMB1, or SMB1 session traffic)
    reported: bool = False
    messages: int = 0
    sealed: int = 0  # transform-header (encrypted) messages
    clear_data: int = 0  # SMB2 messages in clear that carry file or pipe data


class SmbSessions(Analyzer[_Session], name="smb", transports=(TCP,), plaintext_only=False):
    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if not self.stays_for(flow, "smb"):
            return
        st = self.state(flow)
        framer = st.framers[direction]
        for msg in framer.feed(data):
            self._message(flow, st, direction, msg, ts, emit)
            st.messages += 1
        if st.messages >= MAX_MESSAGES or all(f.broken for f in st.framers):
            self._report(flow, st, ts, emit)
            deactivate(flow, self)

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = self.peek(flow)
        if st is not None:
            st.framers[direction].gap()

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        st = self.peek(flow)
        if st is not None:
            self._report(flow, st, flow.last_ts, emit)

    def _message(self, flow: Flow, st: _Session, direction: int, msg: SmbMessage, ts: float, emit: Emit) -> None:
        if msg.kind == "smb1":
            self._smb1(flow, st, direction, msg, ts, emit)
        elif msg.kind == "smb2":
            self._smb2(flow, st, msg, ts, emit)
        elif msg.kind == "transform":
            st.sealed += 1
            if not st.clear_data and not st.smb1 and flow.how != ENCRYPTED:
                encrypted_from_here(flow, ENCRYPTED)
        elif msg.kind == "compressed":  # SMB 3.1.1 compression outside encryption: data, readable once inflated
            self._clear_data(flow, st)

    def _smb1(self, flow: Flow, st: _Session, direction: int, msg: SmbMessage, ts: float, emit: Emit) -> None:
        if msg.command != SMB1_NEGOTIATE:
            if not st.smb1 and (st.chosen is None or st.chosen in SMB1_DIALECTS):
                st.smb1 = True  # SMB1 session traffic (a capture that starts after the negotiation)
                negotiated(flow, "smb1")
            return
        neg = smb_negotiate(b"\0\0\0\0" + msg.head)
        if neg is None:
            return
        if not neg.response and direction == 0:
            st.smb1_request = neg.dialects
            st.offered.extend(d for d in neg.dialects if d not in st.offered)
        elif neg.response and direction == 1 and neg.chosen is not None and neg.chosen < len(st.smb1_request):
            st.chosen = st.smb1_request[neg.chosen]
            if st.chosen in SMB1_DIALECTS:  # NT LM 0.12 or older, answered in SMB1: SMBv1 in use
                st.smb1 = True
                negotiated(flow, "smb1")
                self._report(flow, st, ts, emit)

    def _smb2(self, flow: Flow, st: _Session, msg: SmbMessage, ts: float, emit: Emit) -> None:
        if msg.command == SMB2_NEGOTIATE:
            neg = smb_negotiate(b"\0\0\0\0" + msg.head)
            if neg is not None and neg.response and neg.dialects:
                st.chosen = neg.dialects[0]
                if st.chosen != WILDCARD:
                    self._report(flow, st, ts, emit)
            elif neg is not None:
                st.offered.extend(d for d in neg.dialects if d not in st.offered)
        elif msg.command not in SMB2_CONTROL:
            self._clear_data(flow, st)
        if not st.smb1 and flow.how not in ("smb2", ENCRYPTED, PARTLY):
            negotiated(flow, "smb2")

    @staticmethod
    def _clear_data(flow: Flow, st: _Session) -> None:
        """File or pipe data moved in clear: a session that also sealed messages is only partly encrypted."""
        st.clear_data += 1
        if st.sealed and flow.encrypted:
            cleartext_after_all(flow, PARTLY)

    def _report(self, flow: Flow, st: _Session, ts: float, emit: Emit) -> None:
        if st.reported or not (st.offered or st.chosen):
            return
        st.reported = True
        emit(events.SmbNegotiate(
            ts=ts, flow=events.FlowFacts.of(flow), offered=tuple(st.offered[:16]), chosen=st.chosen,
            smb1_offered=any(d in SMB1_DIALECTS for d in st.offered), smb1_chosen=st.smb1,
        ))
