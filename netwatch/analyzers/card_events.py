"""The one way a card number found on the wire becomes a `card_data` event (masked, fingerprinted with
the session's key, judged, located, counted for `flow_end`, its receiver named): shared by the card
scanner, the ISO 8583 and the terminal (ZVT) analyzers, which report the cards of their own framings.
Not an analyzer.
"""

from __future__ import annotations

from netwatch import events
from netwatch.analyzers import card_seen
from netwatch.flows.table import Flow
from netwatch.protocols.card_context import CardVerdict, judge
from netwatch.protocols.card_numbers import card_brand
from netwatch.protocols.card_search import Hit
from netwatch.redaction.masking import Fingerprinter, mask_pan

DIRECTION = ("to_server", "to_client")


def card_observation(
    flow: Flow, direction: int, hit: Hit, channel: str, ts: float, fingerprint: Fingerprinter, encoding: str = "",
    verdict: CardVerdict | None = None, location: events.Location | None = None,
) -> events.CardData:
    """The `card_data` event for one hit (masked and fingerprinted here, with the session's key).
    `verdict`: the hit's confidence from its context (`card_context.judge`); without one the channel
    decides (a payment message's fields are card data by definition). `location`: where it stands
    in the flow's stream (None: not tied to stream bytes)."""
    _s, _e, digits, kind, enc, expiry = hit
    verdict = verdict or judge(b"", 0, 0, digits, kind, enc, channel)
    fp = fingerprint(digits)
    if verdict.confidence == "high":
        card_seen(flow, fp)  # distinct cards in this flow (flow_end carries the count)
    return events.CardData(
        ts=ts, flow=events.FlowFacts.of(flow), data_kind=kind, brand=card_brand(digits, True), encoding=encoding or enc,
        masked=mask_pan(digits), fingerprint=fp, channel=channel, direction=DIRECTION[direction],
        expiry_present=None if kind == "pan" else expiry, confidence=verdict.confidence, reason=verdict.reason,
        location=location,
        receiver=flow.dst if direction == 0 else flow.src,
        receiver_port=flow.server_port if direction == 0 else flow.client_port,
    )


def located(direction: int, offset: int, length: int, hit: Hit, encoding: str = "") -> events.Location:
    """The location of a hit at `offset` of a direction's stream (`length` bytes)."""
    return events.Location(direction, offset, length, hit[3], encoding or hit[4])
