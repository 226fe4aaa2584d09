"""The one way a card number found on the wire becomes a `card_data` event (masked, fingerprinted with
the session's key, counted for `flow_end`, its receiver named): shared by the card scanner, the ISO 8583
and the terminal (ZVT) analyzers, which report the cards of their own framings. Not an analyzer.
"""

from __future__ import annotations

from netwatch import events
from netwatch.analyzers import card_seen
from netwatch.flows.table import Flow
from netwatch.protocols.card_numbers import card_brand
from netwatch.protocols.card_search import Hit
from netwatch.redaction.masking import Fingerprinter, mask_pan

DIRECTION = ("to_server", "to_client")


def card_observation(
    flow: Flow, direction: int, hit: Hit, channel: str, ts: float, fingerprint: Fingerprinter, encoding: str = "",
) -> events.CardData:
    """The `card_data` event for one hit (masked and fingerprinted here, with the session's key)."""
    _s, _e, digits, kind, enc, expiry = hit
    fp = fingerprint(digits)
    card_seen(flow, fp)  # distinct cards in this flow (flow_end carries the count)
    return events.CardData(
        ts=ts, flow=events.FlowFacts.of(flow), data_kind=kind, brand=card_brand(digits, True), encoding=encoding or enc,
        masked=mask_pan(digits), fingerprint=fp, channel=channel, direction=DIRECTION[direction],
        expiry_present=None if kind == "pan" else expiry,
        receiver=flow.dst if direction == 0 else flow.src,
        receiver_port=flow.server_port if direction == 0 else flow.client_port,
    )
