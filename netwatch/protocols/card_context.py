"""How sure a card hit is, from the bytes around it: the confidence an assessor can act on.

A Luhn-valid number with a card prefix is not yet a card: one German EAN-13 in ten, one Austrian
IBAN in twenty and many ids inside longer tokens pass those tests. As the better DLP engines do
(Microsoft Purview's credit-card type: high confidence only with a card keyword or an expiry date
within 300 characters, 13-digit numbers not at all), `judge` looks at the context of one hit:

- high: a field that is a card number by definition (ISO 8583, EMV, ZVT, track data), a key or
  column named like one (pan, cardNumber, kartennummer, card[number], …), or a card keyword or an
  expiry date within 300 characters;
- medium: 14-19 digits standing alone in text, bare or in card-typical groups;
- low: a field whose name says it holds another kind of number (phone, imei, order, loyalty…),
  track-shaped packed BCD in binary data with no payment structure;
- none (not a card, not reported): part of an IBAN, a GS1 key in a product context, part of a longer
  token (hex string, UUID, dotted or grouped number, Message-ID, MIME boundary), a 12-13 digit
  number outside card context, packed-BCD-looking bytes in binary data with no payment structure.

Called only for hits (rare), never per digit run; pure, like the scanner.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from netwatch.protocols.lookalikes import gs1_key, iban_around, key_class

WINDOW = 300  # characters either side, as Purview's proximity
PAYMENT_CHANNELS = {"iso8583": "ISO 8583 message", "zvt": "ZVT APDU"}


@dataclass(frozen=True, slots=True)
class CardVerdict:
    confidence: str  # high, medium, low, or none (not a card)
    reason: str  # short, for the evidence; never holds digits of the number

    @property
    def excluded(self) -> bool:
        return self.confidence == "none"


KEYWORD_RE = re.compile(
    rb"(?i)(card|karten?|carte|kredit)[ _-]?(number|num|no\b|nr|nummer|#)|credit[ _-]?card|debit[ _-]?card"
    rb"|kreditkarte|karteninhaber|card[ _-]?holder|\bvisa\b|master[ _-]?card|\bmaestro\b|\bamex\b|american express"
    rb"|\bdiners\b|\bjcb\b|unionpay|\bcvv2?\b|\bcvc2?\b|\bcsc\b|expir(?:y|ation|es)"
    rb"|exp(?:iry)?[ _-]?(?:date|month|year)|valid (?:thru|through)|g\xc3?\xbcltig bis|ablaufdatum|\bccv\b"
    rb"|\bcc[ _-]?(?:num|no)\b|tarjeta|cart\xc3\xa3o|\bexp(?:iry)?\b|\bexp_?(?:mm|yy|mmyy)\b"
    rb"|%B[0-9]{12,19}\^|;[0-9]{12,19}="  # track data of a card nearby
)
EXPIRY_RE = re.compile(rb"(?<![0-9/.:-])(?:0[1-9]|1[0-2]) ?[/-] ?(?:20)?[2-4][0-9](?![0-9/.:-])")
PRODUCT_RE = re.compile(
    rb"(?i)\b(?:ean|gtin|upc|sku|barcode|article|artikel|art\.? ?nr|items?|products?|qty|quantity|menge"
    rb"|basket|cart|warenkorb|receipt|kassenbon|bon|plu|stk|unit_?price|einzelpreis|mwst|vat)\b"
)
EMV_TAGS = (b"\x5f\x24", b"\x5f\x20", b"\x5f\x34", b"\x9f\x02", b"\x9f\x26", b"\x9f\x1a", b"\x5f\x2a", b"\x9f\x36",
            b"\x9f\x10", b"\x9f\x37")
ID_HEADERS = re.compile(
    rb"(?i)(?:message-id|resent-message-id|references|in-reply-to|content-id|thread-\w+|x-[\w-]*antispam[\w-]*"
    rb"|x-forefront[\w-]*|x-ms-[\w-]+|x-microsoft-[\w-]+|received|dkim-signature|arc-[\w-]+|x-request-id"
    rb"|x-correlation-id|traceparent|etag|x-amzn?-[\w-]+)$"
)
HEADER_NAME = re.compile(rb"^([A-Za-z0-9-]{1,64}):")
_KEY_PATTERNS = (
    re.compile(rb'"([^"\\\n]{1,64})"\s*:\s*"?$'),  # JSON
    re.compile(rb'"([^"\\\n]{1,64})"\s*:\s*\[[^\[\]{}:]{0,300}$'),  # JSON array of numbers
    re.compile(rb"<([\w:.-]{1,64})(?:\s[^<>]{0,200})?>\s*$"),  # XML element
    re.compile(rb"([\w:.-]{1,64})\s*=\s*[\"']$"),  # XML/HTML attribute
    re.compile(rb"(?:^|[&?;\s])([\w.\[\]%-]{1,64})=$"),  # form or query
    re.compile(rb"([A-Za-z\xc0-\xff][\w .#/\xc0-\xff-]{0,40}?)\s*[:=#]\s*[\"']?$"),  # text label: "Card No.: "
    re.compile(rb"(?i)((?:[a-z]+[ _-])?(?:card|karte|carte|tarjeta|cart\xc3\xa3o)s?)\s+$"),  # "card 4111…", not "gift card"
)
CSV_DELIMS = b",;\t|"
_TOKEN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGITS = frozenset(b"0123456789")
_ALNUM = _DIGITS | _TOKEN
_HEX = _DIGITS | frozenset(b"ABCDEFabcdef")
HOST_LABEL = re.compile(rb"(?i)[a-z0-9-]*\.[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*")


def judge(buf: bytes, start: int, end: int, digits: str, kind: str, encoding: str, channel: str) -> CardVerdict:
    """The confidence of one hit: `buf[start:end]` is the hit's span (for a decoded layer, the span of
    the encoded run), `digits` the number, `kind` pan/track1/track2, `encoding` as the scanner named it."""
    if channel in PAYMENT_CHANNELS:
        return CardVerdict("high", f"in a payment message ({PAYMENT_CHANNELS[channel]})")
    if encoding.endswith("bcd"):
        return _bcd(buf, start, end, kind)
    if kind != "pan":
        return CardVerdict("high", f"{kind.replace('track', 'track ')} data (number, separator, expiry)")
    if channel == "dns":
        return _dns(buf, digits, encoding)
    text, vs, ve, run_start = _located(buf, start, end, digits, encoding)
    return _text(text, vs, ve, digits, run_start)


def _bcd(buf: bytes, start: int, end: int, kind: str) -> CardVerdict:
    near = buf[max(0, start - 64) : end + 64]
    if any(t in near for t in EMV_TAGS):
        return CardVerdict("high", "EMV data (card tags around the number)")
    if kind != "pan":
        return CardVerdict("low", "track-shaped packed BCD in binary data with no payment structure")
    return CardVerdict("none", "packed-BCD-looking bytes in binary data with no payment structure")


def _dns(name: bytes, digits: str, encoding: str) -> CardVerdict:
    if name.rstrip(b".").lower().endswith(b".arpa"):
        return CardVerdict("none", "reverse-lookup name")
    if encoding != "ascii":
        return CardVerdict("high", f"card number encoded ({encoding}) in a DNS name")
    at = name.find(digits.encode())
    if at < 0:
        return CardVerdict("high", "card number split over DNS labels")
    if not (set(name[at - 1 : at]) | set(name[at + len(digits) : at + len(digits) + 1])) & _TOKEN:
        return CardVerdict("high", "card number as a DNS label")
    return CardVerdict("low", "digits inside a longer DNS label")


def _peel(raw: bytes, encoding: str) -> bytes | None:
    """The decoded text of an encoded run (utf16, ebcdic, url, base64 layers), or None."""
    for layer in encoding.split("+"):
        if layer == "utf16":
            raw = raw.replace(b"\x00", b"")
        elif layer == "ebcdic":
            raw = raw.decode("cp500").encode("latin-1", "replace")
        elif layer == "url":
            raw = unquote_to_bytes(raw)
        elif layer == "base64":
            runs = re.findall(rb"[A-Za-z0-9+/_-]{16,}", raw)
            if not runs:
                return None
            body = max(runs, key=len).replace(b"-", b"+").replace(b"_", b"/")
            body = body[: len(body) - len(body) % 4 if len(body) % 4 == 1 else len(body)]
            try:
                raw = binascii.a2b_base64(body + b"=" * (-len(body) % 4))
            except (binascii.Error, ValueError):
                return None
        elif layer not in ("ascii", "gzip", "deflate", "br", "zstd"):
            return None
    return raw


def _located(buf: bytes, start: int, end: int, digits: str, encoding: str) -> tuple[bytes, int, int, int]:
    """The text to judge, the number's span in it and where its encoded run starts: the window
    around the hit, with an encoded run replaced by its decoded text when the number is found there."""
    lo, hi = max(0, start - WINDOW), end + WINDOW
    if encoding == "ascii":
        return buf[lo:hi], start - lo, end - lo, start - lo
    inner = _peel(buf[start:end], encoding)
    if inner is not None:
        m = re.search(rb"[ -]?".join(re.escape(c.encode()) for c in digits), inner)
        if m is not None:
            before = buf[lo:start]
            return before + inner + buf[end:hi], len(before) + m.start(), len(before) + m.end(), len(before)
    return buf[lo:hi], start - lo, end - lo, start - lo


def _text(text: bytes, vs: int, ve: int, digits: str, run_start: int) -> CardVerdict:
    why = _not_a_card(text, vs, ve)
    if why:
        return CardVerdict("none", why)
    key = _owning_key(text, vs, ve)
    cls = key_class(key.decode("latin-1")) if key else None
    if cls is None and run_start < vs:  # the field holding the encoded run: card=<base64>
        key = _owning_key(text, run_start, run_start)
        cls = key_class(key.decode("latin-1")) if key else None
    label = _safe(key) if key else ""
    if cls == "card":
        return CardVerdict("high", f"field named '{label}'")
    gs1 = gs1_key(digits)
    if cls == "product":
        if gs1:
            return CardVerdict("none", f"{gs1} with a valid GS1 check digit in field '{label}'")
        return CardVerdict("low", f"field '{label}' names an article number")
    if cls == "other":
        return CardVerdict("low", f"field '{label}' names another kind of number")
    if b"@" in text[vs - 1 : vs] + text[ve : ve + 1]:
        return CardVerdict("low", "part of a mail address")
    if HOST_LABEL.match(text, ve) and text[ve : ve + 1] == b".":
        return CardVerdict("high", "card number as a host name label (exfiltration pattern)")
    lo, hi = max(0, vs - WINDOW), ve + WINDOW
    if gs1 and PRODUCT_RE.search(text, lo, hi):
        return CardVerdict("none", f"{gs1} with a valid GS1 check digit in a product context")
    if KEYWORD_RE.search(text, lo, vs) or KEYWORD_RE.search(text, ve, hi):
        return CardVerdict("high", "card keyword within 300 characters")
    if b"%" in text[lo:hi] and KEYWORD_RE.search(unquote_to_bytes(text[lo:hi])):  # form or URL encoded
        return CardVerdict("high", "card keyword within 300 characters (percent-encoded)")
    if EXPIRY_RE.search(text, lo, vs) or EXPIRY_RE.search(text, ve, hi):
        return CardVerdict("high", "expiry date within 300 characters")
    if len(digits) < 14:
        return CardVerdict("none", f"{len(digits)}-digit number outside card context")
    if b" " in text[vs:ve] or b"-" in text[vs:ve]:
        return CardVerdict("medium", "card-typical grouping, no card keyword nearby")
    return CardVerdict("medium", "bare number, no card keyword nearby")


def _not_a_card(text: bytes, vs: int, ve: int) -> str | None:
    """Why the digit run is part of something else (a longer token, an IBAN, an id header), or None."""
    before, after = text[vs - 1] if vs else 32, text[ve] if ve < len(text) else 32
    before2, after2 = text[vs - 2] if vs > 1 else 32, text[ve + 1] if ve + 1 < len(text) else 32
    if before in _TOKEN and (before2 == 92 or (text[vs - 3 : vs - 2] == b"%" and before2 in _HEX)):
        before = 32  # after an escape (\n, \t) or a percent-escape (%3B): a separator, not a token
    if before in _TOKEN or after in _TOKEN:
        return "part of a longer alphanumeric token (hex string, identifier)"
    if (before == 45 and before2 in _ALNUM) or (after == 45 and after2 in _ALNUM):
        return "part of a hyphenated token (UUID, reference)"
    if (before == 46 and before2 in _DIGITS) or (after == 46 and after2 in _DIGITS):
        return "part of a dotted number (decimal, version, address, timestamp)"
    if text[max(0, vs - 2) : vs] == b"==" or text[ve : ve + 2] == b"==":
        return "MIME boundary marker"
    grouped = text[vs:ve].translate(None, b"0123456789")
    if grouped and before == grouped[0] and before2 in _ALNUM:
        tok = text[max(0, vs - 24) : vs - 1].rsplit(None, 1)[-1:] or [b""]
        if any(48 <= c <= 57 for c in tok[0]):
            return "one group of a longer grouped number"
    line_start = text.rfind(b"\n", 0, vs) + 1
    line = text[line_start:vs]
    h = HEADER_NAME.match(line)
    if h and ID_HEADERS.match(h.group(1)):
        return f"id in the {_safe(h.group(1))} header"
    if b"boundary=" in line.lower() or line.startswith(b"--"):
        return "MIME boundary marker"
    cc = iban_around(text, vs, ve)
    if cc:
        return f"part of an IBAN ({cc}, mod-97 valid)"
    return None


def _owning_key(text: bytes, vs: int, ve: int) -> bytes | None:
    """The name of the field holding the value: JSON key, XML element or attribute, form key, text
    label, or CSV column header."""
    head = text[max(0, vs - 400) : vs]
    for pattern in _KEY_PATTERNS:
        m = pattern.search(head)
        if m:
            return m.group(1).strip()
    return _csv_column(text, vs, ve)


def _csv_column(text: bytes, vs: int, ve: int) -> bytes | None:
    """The header of the CSV column the value stands in, when a header line is in the text."""
    ls = text.rfind(b"\n", 0, vs) + 1
    le = text.find(b"\n", ve)
    line = text[ls : len(text) if le < 0 else le].rstrip(b"\r")
    delim = next((d for d in CSV_DELIMS if line.count(d) >= 1), None)
    if delim is None or ls == 0:
        return None
    sep = bytes([delim])
    col = text[ls:vs].count(sep)
    width = line.count(sep)
    for prev in reversed(text[:ls].split(b"\n")[-40:]):
        prev = prev.rstrip(b"\r")
        if prev.count(sep) == width and not re.search(rb"[0-9]{5}", prev):
            return prev.split(sep)[col].strip(b"\"' ") or None
    return None


def _safe(name: bytes) -> str:
    """A field name fit for evidence: printable, short, no run of digits (no part of a number leaks)."""
    s = re.sub(r"[0-9]{4,}", "#", name.decode("ascii", "replace"))
    return "".join(c if c.isprintable() else "?" for c in s)[:40]
