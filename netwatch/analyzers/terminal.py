"""ECR ↔ payment-terminal protocols with their own framing (ZVT): card data per decoded field.

A flow the classifier calls `zvt` is taken over from the generic card scanner (no double reports):
each direction is deframed into APDUs (`zvt.split_apdus`), and the card fields of each APDU (BMP
0x22/0x23/0x2D, TLV container tags) are stated as `card_data` events on channel `zvt`, located at
the framed bytes that carried them (evidence overwrites those APDUs whole: packed BCD has no mask). Bytes
that stop framing (a private extension, a capture gap) are scanned with the generic scanner instead,
so nothing is hidden by a layout this parser does not know. Terminal protocols that are ASCII or
XML (APACS 30/40, SPDH, OPI, nexo) need no parser: the generic scanner reads their card fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netwatch.analyzers import Analyzer, Emit, claim_cards, deactivate
from netwatch.analyzers.card_events import card_observation, located
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP
from netwatch.protocols.card_numbers import card_brand
from netwatch.protocols.card_search import scan
from netwatch.protocols.zvt import MAX_APDU, apdu_cards, split_apdus
from netwatch.redaction.masking import Fingerprinter

MAX_APDUS = 100_000  # per flow; beyond it the flow is left alone


@dataclass(slots=True)
class _Zvt:
    bufs: list[bytes] = field(default_factory=lambda: [b"", b""])  # unframed bytes per direction
    base: list[int] = field(default_factory=lambda: [0, 0])  # stream offset of each direction's bufs[0]
    apdus: int = 0  # APDUs read so far


class Terminal(Analyzer[_Zvt], name="terminal", transports=(TCP,)):
    def __init__(self, fingerprint: Fingerprinter | None = None) -> None:
        self.fingerprint = fingerprint or Fingerprinter()  # the session's card key, as CardData's

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        st = self.peek(flow)
        if st is None:
            if not self.stays_for(flow, "zvt"):
                return
            st = self.state(flow)
            claim_cards(flow, self.name)  # this analyzer reports the cards
        bufs = st.bufs
        buf = bufs[direction] + data if bufs[direction] else data
        at = st.base[direction]
        apdus, used = split_apdus(buf)
        buf = buf[used:]
        st.base[direction] = at + used
        if len(buf) > MAX_APDU + 5:  # framing lost: scan the bytes as they are
            for h in scan(buf)[0]:
                where = located(direction, at + used + h[0], h[1] - h[0], h)
                emit(card_observation(flow, direction, h, "zvt", ts, self.fingerprint, location=where))
            st.base[direction] += len(buf)
            buf = b""
        bufs[direction] = buf
        st.apdus += len(apdus)
        for _cls, _instr, body in apdus:
            known = set()
            for digits, kind, expiry, encoding in apdu_cards(body):
                if card_brand(digits, True):
                    known.add(digits)
                    hit = (0, 0, digits, kind, encoding, expiry)
                    emit(card_observation(flow, direction, hit, "zvt", ts, self.fingerprint,
                                          location=located(direction, at, used, hit)))
            for h in scan(body)[0]:  # elsewhere in the APDU: a print line, a private BMP, EMV data
                if h[2] not in known:
                    known.add(h[2])
                    emit(card_observation(flow, direction, h, "zvt", ts, self.fingerprint,
                                          location=located(direction, at, used, h)))
        if st.apdus > MAX_APDUS:
            deactivate(flow, self)

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = self.peek(flow)
        if st is not None:
            st.base[direction] += len(st.bufs[direction]) + size
            st.bufs[direction] = b""
