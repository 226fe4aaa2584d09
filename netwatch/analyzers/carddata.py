"""Card numbers in cleartext payload (ASCII digits, optionally grouped by spaces or dashes).

Scans whole chunks with one compiled regex and carries a short tail between chunks of a stream,
so a number split across segments is seen once. A match touching the end of the data is held back
until the next chunk shows whether the digit run goes on. Only masked values leave this module.
"""

from __future__ import annotations

import re

from netwatch.analyzers import Analyzer, Emit, Observation
from netwatch.analyzers.cards import card_brand
from netwatch.flows import Flow
from netwatch.masking import fingerprint, mask_pan

PAN_RE = re.compile(
    rb"(?<![0-9])(?:[0-9]{12,19}"
    rb"|[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{1,7}"  # 4-4-4-4(-3)
    rb"|[0-9]{4}([ -])[0-9]{6}\2[0-9]{4,5})(?![0-9])"  # 4-6-5 (Amex), 4-6-4 (Diners)
)
TAIL = 32  # longer than the longest match (23 bytes)
DIRECTION = ("to_server", "to_client")


class _Dir:
    __slots__ = ("tail", "base", "reported_to")

    def __init__(self) -> None:
        self.tail = b""
        self.base = 0  # stream offset of tail[0]
        self.reported_to = 0  # stream offset up to which matches were reported


class CardData(Analyzer):
    name = "carddata"

    def _scan(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit, final: bool) -> None:
        st: list[_Dir] | None = flow.state.get("carddata")
        if st is None:
            st = flow.state["carddata"] = [_Dir(), _Dir()]
        d = st[direction]
        buf = d.tail + data if d.tail else data
        base = d.base
        end = len(buf)
        for m in PAN_RE.finditer(buf):
            if m.end() == end and not final:
                break  # the digit run may continue in the next chunk
            if base + m.end() <= d.reported_to:
                continue
            digits = re.sub(rb"[ -]", b"", m.group()).decode("ascii")
            brand = card_brand(digits)
            if brand is None:
                continue
            d.reported_to = base + m.end()
            flow.state["cards"] = flow.state.get("cards", 0) + 1
            emit(
                Observation(
                    "card_data",
                    ts,
                    flow,
                    {
                        "kind": "pan",
                        "brand": brand,
                        "encoding": "ascii",
                        "masked": mask_pan(digits),
                        "fingerprint": fingerprint(digits),
                        "direction": DIRECTION[direction],
                    },
                )
            )
        keep = buf[-TAIL:]
        d.base = base + len(buf) - len(keep)
        d.tail = keep

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        self._scan(flow, direction, data, ts, emit, False)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        self._scan(flow, direction, data, ts, emit, True)
        st = flow.state["carddata"][direction]
        st.tail, st.base, st.reported_to = b"", 0, 0  # datagrams do not continue each other

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = flow.state.get("carddata")
        if st is not None:  # bytes are missing: nothing may join across the hole
            d = st[direction]
            d.base += len(d.tail) + size
            d.tail = b""
            d.reported_to = max(d.reported_to, d.base)

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        st = flow.state.get("carddata")
        if st is None:
            return
        for direction, d in enumerate(st):
            if d.tail:
                self._scan(flow, direction, b"", flow.last_ts, emit, True)
