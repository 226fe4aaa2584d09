"""Card numbers and track data in cleartext flows, per channel: HTTP URL/headers/body, DNS names,
raw TCP streams and datagrams. ISO 8583 flows are left to the `iso8583` analyzer.

HTTP comes parsed from the Dispatcher (`http`): each message once it ends, its body de-chunked and
decompressed before the scan (HTTP/2 cleartext too, its encoding named `h2c+…`; WebSocket messages
after a 101 on the `websocket` channel); body bytes past the cap and bytes that are not HTTP come raw. Raw
bytes are scanned chunk by chunk with a carried-over tail: a hit that touches the end of the data,
or an encoded run that may go on, is held back until the next chunk, and stream offsets make sure
each occurrence is reported once. Only masked values leave this module.
"""

from __future__ import annotations

import re

from netwatch import events
from netwatch.analyzers import Analyzer, Emit, deactivate, notes
from netwatch.analyzers.card_events import card_observation, located
from netwatch.flows.table import Flow
from netwatch.protocols.card_context import BufferJudge, judge
from netwatch.protocols.card_dns import scan_dns_name
from netwatch.protocols.card_search import scan, wrap
from netwatch.protocols.card_text import WINDOW
from netwatch.protocols.dns import parse_dns
from netwatch.protocols.http import MAX_BODY, FramedMessage, HttpMessage, HttpPart, Unparsed
from netwatch.redaction.masking import Fingerprinter

MIN_TAIL = 96  # longer than any ASCII/BCD form (track 1 up to its expiry is ~60 bytes)
MAX_TAIL = 4096  # an encoded run longer than this is scanned in pieces
GUARD = 16  # a hit this close to the end waits: a track-2 expiry or more digits may follow
LONG_LABEL = re.compile(rb"[0-9A-Za-z]{20}")  # base32 of a 12-digit number is 20 characters
MAX_DNS_NAMES = 4096  # per flow, for de-duplicating a query and its response
MAX_DNS_TCP_MESSAGES = 64  # DNS-over-TCP messages read per delivery


class _Dir:
    __slots__ = ("tail", "base", "reported_to", "channel", "recent", "before", "framing")

    def __init__(self) -> None:
        self.before = b""  # up to WINDOW bytes preceding the tail: context for judging a hit, never rescanned
        self.recent: list[tuple[int, int, int]] = []  # (hash of the number, stream start, end) reported lately
        self.tail = b""
        self.base = 0  # stream offset of tail[0]
        self.reported_to = 0  # stream offset up to which hits were reported
        self.channel = "stream"  # where the tail's bytes came from
        self.framing: str | None = None  # h2c / websocket: the tail is past the cap of such a message


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
            self._dns_tcp(flow, d, direction, data, ts, emit)
            return
        self._scan(flow, d, direction, data, ts, emit, False, "stream")

    def http(self, flow: Flow, direction: int, part: HttpPart, ts: float, emit: Emit) -> None:
        if isinstance(part, Unparsed):  # past the body cap: still encoded; or not HTTP
            d = self.state(flow).dirs[direction]
            d.framing = part.framing
            channel = ("websocket" if part.framing == "websocket" else "http-body") if part.past_cap else "stream"
            self._scan(flow, d, direction, part.data, ts, emit, False, channel)
        elif isinstance(part, HttpMessage):
            self._end_raw(flow, self.state(flow).dirs[direction], direction, ts, emit)
            if part.beyond_cap:
                why = f"HTTP body past the {MAX_BODY >> 20} MiB decoding cap: scanned raw, not decoded"
                emit(events.DataLimit(ts=ts, flow=events.FlowFacts.of(flow), direction=direction,
                                      bytes=part.beyond_cap, reason=why))
            self._http(flow, direction, part, ts, emit)
        elif isinstance(part, FramedMessage):  # a WebSocket message after a 101
            self._end_raw(flow, self.state(flow).dirs[direction], direction, ts, emit)
            if part.beyond_cap:
                why = f"WebSocket message past the {MAX_BODY >> 20} MiB cap: scanned raw, not decoded"
                emit(events.DataLimit(ts=ts, flow=events.FlowFacts.of(flow), direction=direction,
                                      bytes=part.beyond_cap, reason=why))
            verdict = BufferJudge(part.data)
            for h in scan(part.data)[0]:
                v = verdict(h, "websocket")
                if not v.excluded:
                    emit(card_observation(flow, direction, h, "websocket", ts, self.fingerprint,
                                          wrap(part.framing, h[4]), v))

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        d = self.state(flow).dirs[direction]
        at = d.base  # a datagram flow's `base` counts its datagrams' bytes (their offsets, joined)
        d.base += len(data)
        if flow.app == "dns" or flow.app in ("mdns", "llmnr"):
            self._dns(flow, direction, data, ts, emit, tcp=False, at=at)
            return
        hits, _ = scan(data)
        verdict = BufferJudge(data)
        for h in hits:
            v = verdict(h, "datagram")
            if not v.excluded:
                where = located(direction, at + h[0], h[1] - h[0], h)
                emit(card_observation(flow, direction, h, "datagram", ts, self.fingerprint, verdict=v, location=where))

    def variant(self, flow: Flow, direction: int, data: bytes, start: int, end: int, ts: float, emit: Emit) -> None:
        """The copy of stream bytes a receiver did not keep (a decoy may have come first): its hits
        that touch the differing bytes are reported; the stream itself was scanned as delivered."""
        if notes(flow).cards_claimed_by:
            return
        verdict = BufferJudge(data)  # context: the delivered bytes around the copy, and the copy itself
        for h in scan(data)[0]:
            if h[0] < end and h[1] > start and not (v := verdict(h, "tcp-overlap")).excluded:
                emit(card_observation(flow, direction, h, "tcp-overlap", ts, self.fingerprint, verdict=v))

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        st = self.peek(flow)
        if st is not None:  # bytes are missing: nothing may join across the hole
            d = st.dirs[direction]
            d.base += len(d.tail) + size
            d.tail = d.before = b""
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
        verdict: BufferJudge | None = None  # made at the first hit: context = kept bytes + buffer
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
            verdict = verdict or BufferJudge(d.before + buf, len(d.before))
            v = verdict(h, channel)
            if not v.excluded:
                # raw stream bytes of a flow that is not HTTP: `base` is the stream offset
                where = located(direction, start, end - start, h) if flow.app != "http" else None
                enc = wrap(d.framing, h[4]) if d.framing else ""  # past the cap of an h2c / WebSocket message
                emit(card_observation(flow, direction, h, channel, ts, self.fingerprint, enc, verdict=v,
                                      location=where))
        keep_from = max(min(hold, len(buf) - MIN_TAIL), len(buf) - MAX_TAIL, 0)
        if keep_from >= WINDOW:
            d.before = buf[keep_from - WINDOW : keep_from]
        elif keep_from:
            d.before = (d.before + buf[:keep_from])[-WINDOW:]
        d.tail = buf[keep_from:]
        d.base = base + keep_from

    def _end_raw(self, flow: Flow, d: _Dir, direction: int, ts: float, emit: Emit) -> None:
        """Raw bytes (past a body cap, or not HTTP) end where a message ends: what they held back is
        reported now, and the next raw bytes do not join them."""
        if d.tail:
            self._scan(flow, d, direction, b"", ts, emit, True, d.channel)
        d.base += len(d.tail)
        d.tail = d.before = b""

    def _http(self, flow: Flow, direction: int, msg: HttpMessage, ts: float, emit: Emit) -> None:
        head = msg.head.raw_head
        url_end = len(msg.head.start_line) if msg.head.is_request else -1
        body_start = len(head) + 2
        at = msg.head.offset  # the message's stream offset; its body starts head_len later
        body_at, (span_at, span_end) = at + msg.head.head_len - body_start, msg.body_span
        raw_body = msg.content_encoding is None and not msg.chunked  # decoded offsets are stream offsets
        # one scan over head and (decoded) body; the blank line keeps them apart, the offset names the channel
        framing = msg.head.framing  # h2c: named outermost, before the content coding
        text = head + b"\n\n" + msg.body if msg.body else head
        verdict = BufferJudge(text)
        for h in scan(text)[0]:
            channel = "http-body" if h[0] >= body_start else "http-url" if h[0] < url_end else "http-header"
            v = verdict(h, channel)
            if v.excluded:
                continue
            if h[0] >= body_start:
                enc = f"{msg.content_encoding}+{h[4]}" if msg.content_encoding else h[4]
                enc = enc.removesuffix("+ascii")
                enc = wrap(framing, enc) if framing else enc
                where = (None if framing  # h2c: DATA frames interleave, no one stream span
                         else located(direction, body_at + h[0], h[1] - h[0], h, enc) if raw_body
                         else located(direction, span_at, span_end - span_at, h, enc))  # the whole body
                emit(card_observation(flow, direction, h, channel, ts, self.fingerprint, enc, v, where))
            else:
                where = located(direction, at + h[0], h[1] - h[0], h) if not framing else None
                emit(card_observation(flow, direction, h, channel, ts, self.fingerprint,
                                      wrap(framing, h[4]) if framing else "", v, where))

    def _dns_tcp(self, flow: Flow, d: _Dir, direction: int, data: bytes, ts: float, emit: Emit) -> None:
        """DNS over TCP: each length-prefixed message the delivery starts with (a client may send several
        in one segment), located at its stream offset (`base` counts the direction's bytes)."""
        at = d.base
        d.base += len(data)
        for _ in range(MAX_DNS_TCP_MESSAGES):
            if len(data) < 14:
                return
            n = 2 + int.from_bytes(data[:2], "big")
            self._dns(flow, direction, data[:n], ts, emit, tcp=True, at=at)
            data, at = data[n:], at + n

    def _dns(self, flow: Flow, direction: int, data: bytes, ts: float, emit: Emit, tcp: bool, at: int = -1) -> None:
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
            raw = name.encode("ascii", "replace")
            for h in scan_dns_name(name):  # a name: its message (a datagram) is the span
                v = judge(raw, h[0], h[1], h[2], h[3], h[4], "dns")
                if not v.excluded:
                    where = located(direction, at, len(data), h) if at >= 0 else None
                    emit(card_observation(flow, direction, h, "dns", ts, self.fingerprint, verdict=v, location=where))
