"""Protocol-aware in-place redaction where a plain byte scan is not enough: HTTP bodies (chunked,
gzip/deflate), ISO 8583 card fields and PIN blocks (DE2, DE35, DE45, DE52, DE55 EMV tags), DNS
names (digits split over labels, hex labels). Same length always; see `redact_packets`.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator

import iso8583 as pyiso
from iso8583.specs import default as SPEC_BINMAP
from iso8583.specs import default_ascii as SPEC_HEXMAP

from netwatch.protocols.card_dns import scan_dns_name
from netwatch.protocols.card_search import scan
from netwatch.protocols.dns import question_spans
from netwatch.protocols.h2c import PREFACE
from netwatch.protocols.http import HttpMessage, HttpPart, decode_content
from netwatch.protocols.http_stream import HttpConnection
from netwatch.protocols.iso8583 import _BCD_SPECS, frame_length, locate
from netwatch.redaction.body_creds import blank_body, gzip_of_length
from netwatch.redaction.frames import redact_h2c, redact_websocket
from netwatch.redaction.masking import keep_mask
from netwatch.redaction.packets import FILLER, View, hex_view, mask_cards
from netwatch.redaction.stored import stored_brotli, stored_zstd

MAX_MESSAGES = 1000
MAX_DNS_TCP_MESSAGES = 10_000  # DNS-over-TCP messages redacted per stream direction
HEX_LABEL = re.compile(rb"[0-9a-fA-F]{24,}")
EMV_TRACK_TAGS = {0x57, 0x9F6B}  # track 2 equivalent data (contact, contactless)
EMV_PAN_TAGS = {0x5A}


# -- HTTP -------------------------------------------------------------------------------------------

def redact_http(streams: list[bytearray], order: list[tuple[int, int, int]], notes: list[str]) -> None:
    """The HTTP/1.x messages of both directions, framed by `protocols.http_stream` (the parse the
    analyzers read, with its HEAD/CONNECT rule: the directions are fed in capture order, `order`):
    card data masked inside each body's decoded form, at the body's own stream spans. HTTP/2
    cleartext (the preface, or a server's SETTINGS first) and the frames after an upgrade
    (WebSocket, h2c) are walked by redaction.frames."""
    h2 = {d for d, buf in enumerate(streams) if _h2c_first(buf)}
    for d in h2:
        redact_h2c(streams[d], notes)
    conn = HttpConnection()
    asked: dict[int, int] = {}  # direction → stream offset past a request that asked for an upgrade
    for d, part in _http_parts(conn, streams, order):
        if d in h2 or not isinstance(part, HttpMessage):
            continue
        if part.body_spans:
            spans = [(s, min(e, len(streams[d]))) for s, e in part.body_spans if s < len(streams[d])]
            if spans:
                _redact_body(streams[d], spans, part.head.header(b"content-encoding"), notes)
        upgrade = (part.head.header(b"upgrade") or b"").strip().lower()
        if upgrade and part.head.is_request:
            asked[d] = part.end  # frames follow only if the server agrees (101)
        elif upgrade and part.head.start_line[9:12] == b"101":
            for side, at in ((1 - d, asked.get(1 - d, -1)), (d, part.end)):
                if at < 0:
                    continue
                if upgrade == b"websocket":
                    redact_websocket(streams[side], at, notes)
                elif upgrade == b"h2c":
                    redact_h2c(streams[side], notes, at)


def _h2c_first(buf: bytearray) -> bool:
    """HTTP/2 from the first byte: the client's preface, or a server's SETTINGS frame."""
    return buf.startswith(PREFACE[:14]) or (len(buf) >= 9 and buf[3] == 0x04 and buf[5:9] == b"\0\0\0\0")


def _http_parts(conn: HttpConnection, streams: list[bytearray], order: list[tuple[int, int, int]],
                ) -> Iterator[tuple[int, HttpPart]]:
    """Both directions' parts, the bytes fed in the order the segments came (each byte once)."""
    fed = [0, 0]
    for d, off, n in [*order, (0, len(streams[0]), 0), (1, len(streams[1]), 0)]:
        end = min(len(streams[d]), off + n) if n else len(streams[d])
        if end > fed[d]:
            for part in conn.feed(d, bytes(streams[d][fed[d] : end])):
                yield d, part
            fed[d] = end
    for d, part in conn.eof():
        yield d, part


def _redact_body(buf: bytearray, regions: list[tuple[int, int]], coding: bytes | None, notes: list[str]) -> None:
    spans = [(i, i + 1) for s, e in regions for i in range(s, e)]
    raw = bytes(buf[i] for i, _ in spans) if len(regions) > 1 else bytes(buf[regions[0][0] : regions[0][1]])
    if coding and (dec := decode_content(raw, coding)) is not None:
        plain = coding.strip().lower()
        if scan(dec[0])[0]:
            rep = _filler_body(plain, len(raw))
            notes.append(f"{coding.strip().decode('ascii', 'replace')} body overwritten whole")
        else:
            blanked = blank_body(dec[0])
            if blanked == dec[0]:
                return  # no card, no password field
            # gzip: the same text, passwords blanked, re-packed at the same length; else filler
            again = gzip_of_length(blanked, len(raw)) if plain in (b"gzip", b"x-gzip") and not dec[1] else None
            rep = again or _filler_body(plain, len(raw))
            notes.append(f"password fields blanked in a {coding.strip().decode('ascii', 'replace')} body"
                         + ("" if again else " (overwritten whole)"))
        for (i, _), b in zip(spans, rep, strict=True):
            buf[i] = b
        return
    view = View(raw, spans, lambda c, _n: bytes([c]))
    mask_cards(view.text, notes)
    view.write_back(buf)


def _filler_body(plain: bytes, n: int) -> bytes:
    """A valid body of `n` bytes in coding `plain` that decompresses to filler (stacked codings: filler)."""
    if plain in (b"gzip", b"x-gzip", b"deflate"):
        return stored_compressed(n, plain != b"deflate")
    stored = {b"br": stored_brotli, b"zstd": stored_zstd}.get(plain, lambda _n: None)(n)
    return stored or bytes([FILLER]) * n


def stored_compressed(n: int, gzip: bool) -> bytes:
    """An n-byte gzip (or zlib) stream of stored deflate blocks holding only FILLER: a valid body of
    the original length that decompresses to nothing sensitive. Too short for the framing: FILLER."""
    head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" if gzip else b"\x78\x01"
    tail = 8 if gzip else 4
    for blocks in range(1, n // 65535 + 2):
        size = n - len(head) - tail - 5 * blocks
        if size < 0 or size > 65535 * blocks:
            continue
        data = bytes([FILLER]) * size
        out = bytearray(head)
        for k in range(blocks):
            part = data[k * 65535 : (k + 1) * 65535]
            out += struct.pack("<BHH", 1 if k == blocks - 1 else 0, len(part), len(part) ^ 0xFFFF) + part
        out += struct.pack("<II", zlib.crc32(data), size) if gzip else struct.pack(">I", zlib.adler32(data))
        return bytes(out)
    return bytes([FILLER]) * n


# -- ISO 8583 ---------------------------------------------------------------------------------------

def redact_iso8583(buf: bytearray, notes: list[str]) -> None:
    """Framed ISO 8583 messages: card fields masked, PIN block (DE52) overwritten."""
    pos = 0
    for _ in range(MAX_MESSAGES):
        fr = frame_length(bytes(buf[pos : pos + 4]))
        if fr is None:
            return
        pre, n = fr
        body = bytes(buf[pos + pre : pos + pre + n])
        loc = locate(body)
        if loc is not None:
            off, variant, _hdr = loc
            for fld, (s, e, n_len) in field_spans(body[off:], variant).items():
                _mask_iso_field(buf, pos + pre + off + s, pos + pre + off + e, fld, variant, n_len, notes)
        pos += pre + n
        if pos >= len(buf):
            return


def field_spans(msg: bytes, variant: str) -> dict[str, tuple[int, int, int | None]]:
    """Data span of each field in `msg` (from the MTI on), as pyiso8583 encoded it, and the length
    its prefix states when that is a BCD digit count (it tells a pad nibble from a last digit)."""
    specs = [SPEC_BINMAP] if variant == "ascii" else [SPEC_HEXMAP] if variant == "ascii-hexmap" else _BCD_SPECS
    best: dict[str, dict[str, bytes]] = {}
    for spec in specs:
        try:
            best = pyiso.decode(msg, spec)[1]
            break
        except pyiso.DecodeError as e:
            if len(e.doc_enc) > len(best):
                best = e.doc_enc
        except Exception:  # noqa: S112 - never raise on packet bytes
            continue
    out: dict[str, tuple[int, int, int | None]] = {}
    pos = 0
    for k, v in best.items():
        ln, data = v.get("len", b""), v.get("data", b"")
        stated = int(ln.hex()) if variant == "bcd" and ln and ln.hex().isdigit() else None
        out[k] = (pos + len(ln), pos + len(ln) + len(data), stated)
        pos += len(ln) + len(data)
    return out


def _mask_iso_field(buf: bytearray, s: int, e: int, fld: str, variant: str, stated: int | None,
                    notes: list[str]) -> None:
    binary = variant == "bcd" or not all(0x20 <= b < 0x7F for b in buf[s:e])
    if fld in ("2", "35") and binary:
        mask_bcd_field(buf, s, e, stated)
    elif fld in ("2", "35", "45"):
        mask_ascii_field(buf, s, e)
    elif fld == "52":
        hexish = all(b in b"0123456789ABCDEFabcdef" for b in buf[s:e])
        buf[s:e] = (b"F" if hexish else b"\xff") * (e - s)
        notes.append("PIN block (DE52) overwritten")
    elif fld == "55":
        mask_emv(buf, s, e)


def mask_bcd_field(buf: bytearray, s: int, e: int, digits: int | None = None) -> None:
    """A packed PAN or track 2 field: PAN digits but the first six and last four, and all track data
    after the `D` separator, become the pad nibble F. `digits`: the field's stated length, so a
    trailing pad nibble is not taken for the last digit."""
    nib = list(bytes(buf[s:e]).hex())
    n = 0
    limit = len(nib) if digits is None else min(len(nib), digits)
    while n < limit and nib[n].isdigit():
        n += 1
    for i, keep in enumerate(keep_mask(n)):
        if not keep:
            nib[i] = "f"
    if n < len(nib) and nib[n] == "d":
        for j in range(n + 1, len(nib)):
            if nib[j].isdigit():
                nib[j] = "f"
    buf[s:e] = bytes.fromhex("".join(nib))


def mask_ascii_field(buf: bytearray, s: int, e: int) -> None:
    """An ASCII PAN, track 2 (`PAN=...`) or track 1 (`BPAN^NAME^...`) field, masked to its end."""
    i = s
    while i < e and not 0x30 <= buf[i] <= 0x39:
        i += 1
    j = i
    while j < e and 0x30 <= buf[j] <= 0x39:
        j += 1
    for k, keep in enumerate(keep_mask(j - i)):
        if not keep:
            buf[i + k] = FILLER
    for k in range(j, e):
        if buf[k] not in b"^=D?":
            buf[k] = FILLER


def mask_emv(buf: bytearray, s: int, e: int) -> None:
    """BER-TLV walk of DE55: the PAN (5A) and track 2 equivalent (57, 9F6B) are masked."""
    i = s
    for _ in range(256):
        if i >= e:
            return
        tag = buf[i]
        i += 1
        if tag & 0x1F == 0x1F and i < e:
            tag = tag << 8 | buf[i]
            i += 1
        if i >= e:
            return
        ln = buf[i]
        i += 1
        if ln & 0x80:
            k = ln & 0x7F
            ln = int.from_bytes(buf[i : i + k], "big")
            i += k
        if tag in EMV_PAN_TAGS or tag in EMV_TRACK_TAGS:
            mask_bcd_field(buf, i, min(e, i + ln))
        if tag & 0x20 and tag < 0x100:  # constructed: descend
            continue
        i += ln


# -- DNS --------------------------------------------------------------------------------------------

def redact_dns(buf: bytearray, notes: list[str], offset: int = 0) -> None:
    """Question names of a DNS message (`protocols.dns.question_spans`): digits split over labels
    and hex-encoded labels."""
    for labels in question_spans(buf, offset):
        _redact_labels(buf, labels, notes)


def redact_dns_stream(buf: bytearray, notes: list[str]) -> None:
    """Every length-prefixed message of a DNS-over-TCP stream (RFC 7766: a client may send many)."""
    at = 0
    for _ in range(MAX_DNS_TCP_MESSAGES):
        if at + 14 > len(buf):
            return
        redact_dns(buf, notes, offset=at + 2)
        at += 2 + int.from_bytes(buf[at : at + 2], "big")


def _redact_labels(buf: bytearray, labels: list[tuple[int, int]], notes: list[str]) -> None:
    # the name as the DNS analyzer reads it, labels joined: digits split over labels, and base32 or
    # hex text that runs across them
    if labels:
        spans = [(i, i + 1) for s, e in labels for i in range(s, e)]
        view = View(bytes(buf[i] for i, _ in spans), spans, lambda c, _n: bytes([c]))
        mask_cards(view.text, notes)
        view.write_back(buf)
    for s, e in labels:
        for m in HEX_LABEL.finditer(bytes(buf[s:e])):
            hv = hex_view(m.group(), s + m.start())
            mask_cards(hv.text, notes)
            hv.write_back(buf)
    # What the DNS analyzer still reads as a card (base32/base32hex labels, hex or digits run across
    # labels): every label with a digit goes whole (no run is left half, whose middle digits the
    # finding's masked form would complete), then labels from the left until none is left.
    def carries_card() -> bool:
        return bool(scan_dns_name(".".join(bytes(buf[s:e]).decode("ascii", "replace") for s, e in labels)))

    if not carries_card():
        return
    with_digit = [(s, e) for s, e in labels if any(0x30 <= c <= 0x39 for c in buf[s:e])]
    for s, e in [*with_digit, *labels]:
        if (s, e) not in with_digit and not carries_card():
            break
        buf[s:e] = bytes([FILLER]) * (e - s)
    notes.append("dns labels overwritten whole")
