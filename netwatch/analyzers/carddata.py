"""Card numbers and track data in cleartext flows, per channel: HTTP URL/headers/body, DNS names,
raw TCP streams and datagrams. ISO 8583 flows are left to the `iso8583` analyzer.

HTTP is parsed (sans-IO, `analyzers.http`) so bodies are de-chunked and decompressed before the
scan. Other streams are scanned chunk by chunk with a carried-over tail: a hit that touches the end
of the data, or an encoded run that may go on, is held back until the next chunk, and stream
offsets make sure each occurrence is reported once. Only masked values leave this module.
"""

from __future__ import annotations

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, deactivate
from netwatch.analyzers.cards import card_brand
from netwatch.analyzers.cardscan import Hit, scan, scan_dns_name
from netwatch.analyzers.dns import parse_dns
from netwatch.analyzers.http import HttpMessage, HttpParser
from netwatch.flows import Flow
from netwatch.masking import Fingerprinter, mask_pan

MIN_TAIL = 96  # longer than any ASCII/BCD form (track 1 up to its expiry is ~60 bytes)
MAX_TAIL = 4096  # an encoded run longer than this is scanned in pieces
GUARD = 16  # a hit this close to the end waits: a track-2 expiry or more digits may follow
DIRECTION = ("to_server", "to_client")
MAX_DNS_NAMES = 4096  # per flow, for de-duplicating a query and its response


def card_observation(
    flow: Flow, direction: int, hit: Hit, channel: str, ts: float, fingerprint: Fingerprinter, encoding: str = "",
) -> events.CardData:
    """The `card_data` event for one hit (masked and fingerprinted here, with the session's key)."""
    _s, _e, digits, kind, enc, expiry = hit
    fp = fingerprint(digits)
    fps = flow.state.get("card_fps")
    if fps is None:
        fps = flow.state["card_fps"] = set()
    if len(fps) < 10_000:
        fps.add(fp)
    flow.state["cards"] = len(fps)  # distinct cards in this flow (flow_end carries it)
    return events.CardData(
        ts=ts, flow=events.FlowFacts.of(flow), data_kind=kind, brand=card_brand(digits, True), encoding=encoding or enc,
        masked=mask_pan(digits), fingerprint=fp, channel=channel, direction=DIRECTION[direction],
        expiry_present=None if kind == "pan" else expiry,
    )


class _Dir:
    __slots__ = ("tail", "base", "reported_to", "http", "started", "recent")

    def __init__(self) -> None:
        self.started = False
        self.recent: list[tuple[int, int, int]] = []  # (hash of the number, stream start, end) reported lately
        self.tail = b""
        self.base = 0  # stream offset of tail[0]
        self.reported_to = 0  # stream offset up to which hits were reported
        self.http: HttpParser | None = None


class CardData(Analyzer):
    name = "carddata"

    def __init__(self, fingerprint: Fingerprinter | None = None) -> None:
        self.fingerprint = fingerprint or Fingerprinter()  # the session's key (random per run by default)

    # -- entry points ---------------------------------------------------------------------------

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if flow.state.get("iso8583"):
            deactivate(flow, self)
            return
        d = self._dir(flow, direction)
        if not d.started:
            d.started = True
            if flow.app == "http":
                d.http = HttpParser()
        if d.http is not None:
            for msg in d.http.feed(data):
                self._http(flow, direction, msg, ts, emit)
            if d.http.error is None:
                return
            data, d.http = d.http.buf, None  # not HTTP after all: scan the rest as a plain stream
        if flow.app == "dns":
            self._dns(flow, direction, data, ts, emit, tcp=True)
            return
        self._scan(flow, d, direction, data, ts, emit, False, "stream")

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if flow.app == "dns" or flow.app in ("mdns", "llmnr"):
            self._dns(flow, direction, data, ts, emit, tcp=False)
            return
        hits, _ = scan(data)
        for h in hits:
            emit(card_observation(flow, direction, h, "datagram", ts, self.fingerprint))

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = flow.state.get("carddata")
        if st is not None:  # bytes are missing: nothing may join across the hole
            d = st[direction]
            d.base += len(d.tail) + size
            d.tail = b""
            d.reported_to = max(d.reported_to, d.base)
            d.http = None

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        st = flow.state.get("carddata")
        if st is None:
            return
        for direction, d in enumerate(st):
            if d.http is not None:
                for msg in d.http.eof():
                    self._http(flow, direction, msg, flow.last_ts, emit)
            elif d.tail:
                self._scan(flow, d, direction, b"", flow.last_ts, emit, True, "stream")

    # -- channels -------------------------------------------------------------------------------

    @staticmethod
    def _dir(flow: Flow, direction: int) -> _Dir:
        st: list[_Dir] | None = flow.state.get("carddata")
        if st is None:
            st = flow.state["carddata"] = [_Dir(), _Dir()]
        return st[direction]

    def _scan(
        self, flow: Flow, d: _Dir, direction: int, data: bytes, ts: float, emit: Emit, final: bool, channel: str
    ) -> None:
        buf = d.tail + data if d.tail else data
        base = d.base
        hits, hold = scan(buf)
        cutoff = len(buf) if final else len(buf) - GUARD
        reported = d.reported_to
        for h in hits:
            if h[1] > cutoff:
                hold = min(hold, h[0])
                continue
            start, end, key = base + h[0], base + h[1], hash(h[2])
            if end <= reported or any(k == key and s < end and start < e for k, s, e in d.recent):
                continue  # seen in an earlier chunk's tail (possibly decoded at another alignment)
            d.reported_to = max(d.reported_to, end)
            d.recent.append((key, start, end))
            if len(d.recent) > 32:
                del d.recent[0]
            emit(card_observation(flow, direction, h, channel, ts, self.fingerprint))
        keep_from = max(min(hold, len(buf) - MIN_TAIL), len(buf) - MAX_TAIL, 0)
        d.tail = buf[keep_from:]
        d.base = base + keep_from

    def _http(self, flow: Flow, direction: int, msg: HttpMessage, ts: float, emit: Emit) -> None:
        head = msg.raw_head
        url_end = len(msg.start_line) if msg.is_request else -1
        body_start = len(head) + 2
        # one scan over head and (decoded) body; the blank line keeps them apart, the offset names the channel
        for h in scan(head + b"\n\n" + msg.body if msg.body else head)[0]:
            if h[0] >= body_start:
                enc = f"{msg.content_encoding}+{h[4]}" if msg.content_encoding else h[4]
                enc = enc.removesuffix("+ascii")
                emit(card_observation(flow, direction, h, "http-body", ts, self.fingerprint, enc))
            else:
                channel = "http-url" if h[0] < url_end else "http-header"
                emit(card_observation(flow, direction, h, channel, ts, self.fingerprint))

    def _dns(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit, tcp: bool) -> None:
        if len(data) - len(data.translate(None, b"0123456789")) < 12:
            return  # fewer than 12 digits in the whole message: no card in any name (digits or hex)
        msg = parse_dns(data, tcp=tcp)
        if msg is None:
            return
        seen: set[str] | None = flow.state.get("carddata.dns")
        if seen is None:
            seen = flow.state["carddata.dns"] = set()
        for name, _qtype in msg.questions:
            if name in seen:
                continue  # the response repeats the query's question
            if len(seen) < MAX_DNS_NAMES:
                seen.add(name)
            for h in scan_dns_name(name):
                emit(card_observation(flow, direction, h, "dns", ts, self.fingerprint))
