"""Redaction of one flow's delivered bytes for its evidence, in place and same length: first the
spans the detections located (card data, track data, PIN blocks, passwords), then the protocol
fields (passwords, HTTP bodies, ISO 8583, DNS names), then every card hit of the card scanner,
then the conservative floor (`netwatch.redaction.floor`): anything that could still be card data.

The application is the pipeline's classification of the flow (by content), never a port guess.
"""

from __future__ import annotations

import re

from netwatch.events import Location
from netwatch.protocols.card_search import scan
from netwatch.protocols.iso8583 import looks_like_iso8583
from netwatch.redaction.creds import redact_passwords, redact_snmp
from netwatch.redaction.floor import overwrite_floor
from netwatch.redaction.logins import redact_logins
from netwatch.redaction.packets import FILLER, mask_cards
from netwatch.redaction.protocols import redact_dns, redact_dns_stream, redact_http, redact_iso8583

Order = list[tuple[int, int, int]]  # (direction, stream offset, length) in capture order
# a body the card scan cannot read in place: compressed, or cut by chunk framing
# HTTP that the in-place card pass cannot read: encoded or chunked bodies, and frames after an
# upgrade (WebSocket, h2c: masked or HPACK-coded); h2c with prior knowledge starts with its preface
ENCODED_BODY = re.compile(rb"\r?\n(?:content-encoding|transfer-encoding|upgrade)[ \t]*:|^PRI \* HTTP/2\.0\r\n", re.I)


def _regions(streams: list[bytearray], spans: list[Location]) -> list[tuple[Location, int, int, bytes]]:
    """Each located detection with its start, end (clipped to what was kept) and bytes now."""
    out = []
    for sp in spans:
        buf = streams[sp.direction]
        s, e = max(0, sp.offset), min(len(buf), sp.offset + sp.length)
        if s < e:
            out.append((sp, s, e, bytes(buf[s:e])))
    return out


def redact_flow(app: str | None, tcp: bool, streams: list[bytearray], datagrams: list[tuple[int, int, int]],
                spans: list[Location], notes: list[str], order: Order | None = None) -> None:
    """One flow: TCP through its two streams, UDP datagram by datagram (offsets into `streams`).
    Then each located detection (card or track data, an ISO 8583 message with card fields or a PIN
    block, a login's secret): a span no pass changed (a layer none of them reads, a field they do
    not know), a packed-BCD span (nothing masks BCD digit by digit) and a span the card scanner
    still finds a card in are overwritten whole; the others were masked in their own encoding."""
    before = _regions(streams, spans)
    if tcp:
        redact_streams(app, streams, order or [], notes)
    else:
        for d, off, n in datagrams:
            buf = streams[d]
            if off >= len(buf):
                continue
            dgram = bytearray(buf[off : off + n])
            redact_datagram(app, dgram, notes)
            buf[off : off + len(dgram)] = dgram
    for sp, s, e, old in before:
        if sp.encoding.endswith("+chunked"):  # a value cut over chunks: its bytes, not the chunk lines between
            _fill_between_chunk_lines(streams[sp.direction], s, e)
            continue
        now = streams[sp.direction][s:e]
        unmaskable = sp.encoding.endswith("bcd")  # packed BCD: no pass masks it digit by digit
        if now == old or unmaskable or (sp.what != "password" and scan(bytes(now))[0]):  # or a card still there
            streams[sp.direction][s:e] = bytes([FILLER]) * (e - s)
            notes.append(f"{sp.what} ({sp.encoding}) overwritten whole")


CHUNK_LINE = re.compile(rb"\r\n[0-9A-Fa-f]{1,16}(?:;[^\r\n]*)?\r\n")


def _fill_between_chunk_lines(buf: bytearray, s: int, e: int) -> None:
    """Overwrite buf[s:e] except the chunk-size lines in it (the evidence's body framing stays whole)."""
    pos = s
    for m in CHUNK_LINE.finditer(buf, s, e):
        buf[pos : m.start()] = bytes([FILLER]) * (m.start() - pos)
        pos = m.end()
    buf[pos:e] = bytes([FILLER]) * (e - pos)


def redact_streams(app: str | None, streams: list[bytearray], order: Order, notes: list[str]) -> None:
    """Both directions of one TCP flow: passwords, then protocol fields, then every card encoding."""
    redact_passwords(app, streams[0], streams[1], order, notes)
    redact_logins(app, streams[0], notes)
    if (app in (None, "http") or any(buf[:5] == b"HTTP/" for buf in streams)) and any(
            ENCODED_BODY.search(buf) for buf in streams):  # plain bodies are read in place below
        redact_http(streams, order, notes)
    for buf in streams:
        if app == "iso8583" or looks_like_iso8583(bytes(buf[:4096])):
            redact_iso8583(buf, notes)
        if app == "dns":
            redact_dns_stream(buf, notes)
        mask_cards(buf, notes)
        overwrite_floor(buf, notes)


def redact_datagram(app: str | None, buf: bytearray, notes: list[str]) -> None:
    if app in ("snmp", None):
        redact_snmp(buf, notes)
    if app in ("dns", "mdns", "llmnr", None):
        redact_dns(buf, notes)
    mask_cards(buf, notes)
    overwrite_floor(buf, notes)
