"""The ISO 8583 analyzer: deframes each direction of a payment stream into messages, states an
`iso8583` observation per message (MTI, fields present, which sensitive fields are in clear) and a
`card_data` observation per card in DE2, DE35, DE45 and DE55 (EMV tags 5A, 57).

A flow is taken when the classifier says `iso8583` or the first payload looks like it; the generic
card scanner then leaves the flow alone (no double reports). A message the parser cannot decode is
still scanned for card data with the generic scanner, so a private field layout hides nothing.
"""

from __future__ import annotations

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, claim_cards, deactivate
from netwatch.analyzers.card_events import DIRECTION, card_observation
from netwatch.flows.table import Flow
from netwatch.packets.decode import TCP
from netwatch.protocols.card_search import scan
from netwatch.protocols.iso8583 import (
    MAX_MSG,
    card_hits,
    frame_length,
    looks_like_iso8583,
    parse_message,
    split_messages,
)
from netwatch.redaction.masking import Fingerprinter

MAX_MESSAGES = 100_000  # per flow; beyond it messages are counted, not decoded


class _Dir:
    __slots__ = ("buf", "broken", "fed")

    def __init__(self) -> None:
        self.buf = b""
        self.broken = False  # framing lost: the rest is scanned as opaque bytes
        self.fed = 0  # stream bytes fed so far (holes counted): buf[0] is at fed - len(buf)


class _Flow:
    __slots__ = ("dirs", "messages")

    def __init__(self) -> None:
        self.dirs = (_Dir(), _Dir())
        self.messages = 0  # messages read so far


class Iso8583(Analyzer[_Flow], name="iso8583", transports=(TCP,)):
    def __init__(self, fingerprint: Fingerprinter | None = None) -> None:
        self.fingerprint = fingerprint or Fingerprinter()  # the session's key (random per run by default)

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        st = self.peek(flow)
        if st is None:
            if flow.app != "iso8583" and not looks_like_iso8583(data):
                deactivate(flow, self)
                return
            st = self.state(flow)
            claim_cards(flow, self.name)  # this analyzer reports the cards
        d = st.dirs[direction]
        d.fed += len(data)
        if d.broken:
            self._raw(flow, direction, data, d.fed - len(data), ts, emit)
            return
        d.buf = d.buf + data if d.buf else data
        start = d.fed - len(d.buf)  # stream offset of d.buf[0]
        msgs, used = split_messages(d.buf)
        rest = d.buf[used:]
        pos = start
        for body in msgs:  # each message's stream offset: its framing prefix comes before it
            pre = (frame_length(d.buf[pos - start : pos - start + 4]) or (0, 0))[0]
            self._message(flow, st, direction, body, pos + pre, ts, emit)
            pos += pre + len(body)
        d.buf = rest
        if d.buf and (len(d.buf) > MAX_MSG + 4 or (not msgs and used == 0 and _unframed(d.buf))):
            d.broken = True
            self._raw(flow, direction, d.buf, d.fed - len(d.buf), ts, emit)
            d.buf = b""

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = self.peek(flow)
        if st is not None:
            st.dirs[direction].buf = b""
            st.dirs[direction].broken = True
            st.dirs[direction].fed += size

    def _raw(self, flow: Flow, direction: int, data: bytes, at: int, ts: float, emit: Emit) -> None:
        """Bytes outside the framing: the generic scanner, each hit located where it stands."""
        for h in scan(data)[0]:
            where = events.Location(direction, at + h[0], h[1] - h[0], h[3], h[4])
            emit(card_observation(flow, direction, h, "iso8583", ts, self.fingerprint, location=where))

    def _message(self, flow: Flow, st: _Flow, direction: int, body: bytes, at: int, ts: float, emit: Emit) -> None:
        st.messages += 1
        if st.messages > MAX_MESSAGES:
            return
        msg = parse_message(body)
        if msg is None:
            self._raw(flow, direction, body, at, ts, emit)
            return
        hits = card_hits(msg)
        clear = sorted({int(f) for f, _ in hits})
        # card fields and the PIN block sit inside the message: the message is the span
        sensitive = bool(clear) or "52" in msg.values
        where = events.Location(direction, at, len(body), "iso8583", msg.variant) if sensitive else None
        emit(events.Iso8583(
            ts=ts, flow=events.FlowFacts.of(flow), mti=msg.mti, variant=msg.variant, header=msg.header,
            fields=tuple(msg.fields_present), clear_fields=tuple(clear), sensitive_clear=bool(clear),
            pin_block="52" in msg.values, expiry_field="14" in msg.values, complete=msg.complete,
            direction=DIRECTION[direction], location=where,
        ))
        for _f, h in hits:
            emit(card_observation(flow, direction, h, "iso8583", ts, self.fingerprint, location=where))
        if not msg.complete:  # fields after the failing one were not read: look at the raw bytes too
            known = {h[2] for _f, h in hits}
            for h in scan(body)[0]:
                if h[2] not in known:
                    loc = events.Location(direction, at + h[0], h[1] - h[0], h[3], h[4])
                    emit(card_observation(flow, direction, h, "iso8583", ts, self.fingerprint, location=loc))


def _unframed(buf: bytes) -> bool:
    """True when the buffered bytes cannot start a framed message (so waiting is pointless)."""
    return len(buf) >= 4 and frame_length(buf[:4]) is None
