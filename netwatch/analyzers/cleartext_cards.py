"""Card numbers and track data in cleartext flows, per channel: HTTP URL/headers/body, DNS names,
raw TCP streams and datagrams. ISO 8583 flows are left to the `iso8583` analyzer.

HTTP comes parsed from the Dispatcher (`http`): each message once it ends, its body de-chunked and
decompressed before the scan; body bytes past the cap and bytes that are not HTTP come raw. Raw
bytes are scanned chunk by chunk with a carried-over tail: a hit that touches the end of the data,
or an encoded run that may go on, is held back until the next chunk, and stream offsets make sure
each occurrence is reported once. Only masked values leave this module.
"""

from __future__ import annotations

import re

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, deactivate, notes
from netwatch.analyzers.card_events import card_observation
from netwatch.flows.table import Flow
from netwatch.protocols.card_search import scan, scan_dns_name
from netwatch.protocols.dns import parse_dns
from netwatch.protocols.http import MAX_BODY, HttpMessage, HttpPart, Unparsed
from netwatch.redaction.masking import Fingerprinter

MIN_TAIL = 96  # longer than any ASCII/BCD form (track 1 up to its expiry is ~60 bytes)
MAX_TAIL = 4096  # an encoded run longer than this is scanned in pieces
GUARD = 16  # a hit this close to the end waits: a track-2 expiry or more digits may follow
LONG_LABEL = re.compile(rb"[0-9A-Za-z]{20}")  # base32 of a 12-digit number is 20 characters
MAX_DNS_NAMES = 4096  # per flow, for de-duplicating a query and its response


class _Dir:
    __slots__ = ("tail", "base", "reported_to", "channel", "recent")

    def __init__(self) -> None:
        self.recent: list[tuple[int, int, int]] = []  # (hash of the number, stream start, end) reported lately
        self.tail = b""
        self.base = 0  # stream offset of tail[0]
        self.reported_to = 0  # stream offset up to which hits were reported
        self.channel = "stream"  # where the tail's bytes came from


class _Flow:
    __slots__ = ("dirs", "dns_names")

    def __init__(self) -> None:
        self.dirs = (_Dir(), _Dir())
        self.dns_names: set[str] = set()  # DNS names scanned (a response repeats the query's)


class CardData(Analyzer[_Flow], name="carddata"):
    def __init__(self, fingerprint: Fingerprinter | None = None) -> None:
        self.fingerprint = fingerprint or Fingerprinter()  # the session's key (random per run by default)

    # -- entry points ---------------------------------------------------------------------------

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if notes(flow).cards_claimed_by:  # ISO 8583 / ZVT framing: that analyzer reports the cards
            deactivate(flow, self)
            return
        if flow.app == "http":  # parsed by the Dispatcher: the bytes came as parts (`http`)
            return
        d = self.state(flow).dirs[direction]
        if flow.app == "dns":
            self._dns(flow, direction, data, ts, emit, tcp=True)
            return
        self._scan(flow, d, direction, data, ts, emit, False, "stream")

    def http(self, flow: Flow, direction: int, part: HttpPart, ts: float, emit: Emit) -> None:
        if isinstance(part, Unparsed):  # past the body cap: still encoded; or not HTTP
            d = self.state(flow).dirs[direction]
            self._scan(flow, d, direction, part.data, ts, emit, False, "http-body" if part.past_cap else "stream")
        elif isinstance(part, HttpMessage):
            self._end_raw(flow, self.state(flow).dirs[direction], direction, ts, emit)
            if part.beyond_cap:
                why = f"HTTP body past the {MAX_BODY >> 20} MiB decoding cap: scanned raw, not decoded"
                emit(events.DataLimit(ts=ts, flow=events.FlowFacts.of(flow), direction=direction,
                                      bytes=part.beyond_cap, reason=why))
            self._http(flow, direction, part, ts, emit)

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        if flow.app == "dns" or flow.app in ("mdns", "llmnr"):
            self._dns(flow, direction, data, ts, emit, tcp=False)
            return
        hits, _ = scan(data)
        for h in hits:
            emit(card_observation(flow, direction, h, "datagram", ts, self.fingerprint))

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = self.peek(flow)
        if st is not None:  # bytes are missing: nothing may join across the hole
            d = st.dirs[direction]
            d.base += len(d.tail) + size
            d.tail = b""
            d.reported_to = max(d.reported_to, d.base)

    def flow_end(self, flow: Flow, emit: Emit) -> None:
        st = self.peek(flow)
        if st is None:
            return
        for direction, d in enumerate(st.dirs):
            if d.tail:
                self._scan(flow, d, direction, b"", flow.last_ts, emit, True, d.channel)

    # -- channels -------------------------------------------------------------------------------

    def _scan(
        self, flow: Flow, d: _Dir, direction: int, data: bytes, ts: float, emit: Emit, final: bool, channel: str
    ) -> None:
        buf = d.tail + data if d.tail else data
        base = d.base
        d.channel = channel
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

    def _end_raw(self, flow: Flow, d: _Dir, direction: int, ts: float, emit: Emit) -> None:
        """Raw bytes (past a body cap, or not HTTP) end where a message ends: what they held back is
        reported now, and the next raw bytes do not join them."""
        if d.tail:
            self._scan(flow, d, direction, b"", ts, emit, True, d.channel)
        d.base += len(d.tail)
        d.tail = b""

    def _http(self, flow: Flow, direction: int, msg: HttpMessage, ts: float, emit: Emit) -> None:
        head = msg.head.raw_head
        url_end = len(msg.head.start_line) if msg.head.is_request else -1
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
        if len(data) - len(data.translate(None, b"0123456789")) < 12 and not LONG_LABEL.search(data):
            return  # fewer than 12 digits and no long label: no card in any name (digits, hex, base32)
        msg = parse_dns(data, tcp=tcp)
        if msg is None:
            return
        seen = self.state(flow).dns_names
        for name, _qtype in msg.questions:
            if name in seen:
                continue  # the response repeats the query's question
            if len(seen) < MAX_DNS_NAMES:
                seen.add(name)
            for h in scan_dns_name(name):
                emit(card_observation(flow, direction, h, "dns", ts, self.fingerprint))
