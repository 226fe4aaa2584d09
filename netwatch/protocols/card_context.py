"""How sure a card hit is, from the bytes around it: the confidence an assessor can act on.

A Luhn-valid number with a card prefix is not yet a card: one German EAN-13 in ten, one Austrian
IBAN in twenty and many ids inside longer tokens pass those tests. As the better DLP engines do
(Microsoft Purview's credit-card type: high confidence only with a card keyword or an expiry date
within 300 characters, 13-digit numbers not at all), `judge` looks at the context of one hit:

- high: a field that is a card number by definition (ISO 8583, EMV, ZVT, track data), a key or
  column named like one (pan, cardNumber, kartennummer, card[number], …), or a card keyword or an
  expiry date within 300 characters;
- medium: 14-19 digits standing alone in text, bare or in card-typical groups;
- low: a field whose name says it holds another kind of number (phone, imei, order, loyalty…), the
  local part of a mail address, track-shaped packed BCD in binary data with no payment structure;
- none (not a card, not reported): part of an IBAN, a GS1 key in a product context, part of a longer
  token (hex string, UUID, dotted or grouped number, Message-ID, MIME boundary, Exchange anti-spam
  ids), a 12-13 digit number outside card context, packed-BCD-looking bytes in binary data with no
  payment structure.

Called only for hits (rare), never per digit run; pure, like the scanner. An encoded hit is judged
in its decoded text (`card_text.located`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from netwatch.protocols.card_runs import hex_dump_bytes
from netwatch.protocols.card_text import LOOK_BACK, WINDOW, located
from netwatch.protocols.iso8583 import card_hits, parse_message
from netwatch.protocols.lookalikes import gs1_key, iban_around, key_class

PAYMENT_CHANNELS = {"iso8583": "ISO 8583 message", "zvt": "ZVT APDU"}


@dataclass(frozen=True, slots=True)
class CardVerdict:
    confidence: str  # high, medium, low, or none (not a card)
    reason: str  # short, for the evidence; never holds digits of the number

    @property
    def excluded(self) -> bool:
        return self.confidence == "none"


# Card keywords, matched as lower-case words (a set lookup, not a regex per keyword: this runs per hit)
CARD_KEYWORDS = frozenset({
    b"visa", b"mastercard", b"maestro", b"amex", b"diners", b"jcb", b"unionpay", b"cvv", b"cvv2", b"cvc", b"cvc2",
    b"csc", b"ccv", b"expiry", b"expiration", b"expires", b"exp", b"expdate", b"expmonth", b"expyear", b"expmm",
    b"expyy", b"kreditkarte", b"kartennummer", b"kartennr", b"karteninhaber", b"cardholder", b"cardnumber",
    b"cardno", b"cardnum", b"creditcard", b"debitcard", b"ccnum", b"ccno", b"ccnumber", b"tarjeta", b"ablaufdatum",
})
CARD_PAIRS = frozenset({
    (b"card", b"number"), (b"card", b"num"), (b"card", b"no"), (b"card", b"nr"), (b"card", b"holder"),
    (b"credit", b"card"), (b"debit", b"card"), (b"master", b"card"), (b"american", b"express"),
    (b"valid", b"thru"), (b"valid", b"through"), (b"g\xc3\xbcltig", b"bis"), (b"gueltig", b"bis"),
    (b"exp", b"date"), (b"karten", b"nummer"), (b"cc", b"num"), (b"cc", b"no"), (b"numero", b"carte"),
})
# "card number" and "credit card" in scripts without the Latin words (the digits themselves may be
# fullwidth or Arabic-Indic: card_runs), matched as UTF-8 substrings; Russian without its first letter,
# so either case matches; "card" alone (a gift, ID or loyalty card) is no keyword here either
SCRIPT_CARD_PHRASES = tuple(p.encode() for p in (
    "カード番号", "クレジットカード", "卡号", "信用卡", "银行卡", "銀行卡", "카드번호", "카드 번호", "신용카드",
    "رقم البطاقة", "بطاقة ائتمان", "بطاقة الائتمان", "شماره کارت", "کارت اعتباری", "омер карты", "редитная карта",
    "หมายเลขบัตร", "บัตรเครดิต", "מספר כרטיס", "כרטיס אשראי", "αριθμός κάρτας", "πιστωτική κάρτα",
))
WORDS_RE = re.compile(rb"[a-z0-9\xc3\xa0-\xbf]+")  # on lower-cased bytes (UTF-8 umlauts stay in the word)
TRACK_NEAR = re.compile(rb"(?:%[Bb]|;)[0-9]{12,19}[\^=]")  # another card's track data
EXPIRY_RE = re.compile(rb"(?<![0-9/.:-])(?:0[1-9]|1[0-2]) ?[/-] ?(?:20)?[2-4][0-9](?![0-9/.:-])")
PRODUCT_WORDS = frozenset({
    b"ean", b"gtin", b"upc", b"sku", b"barcode", b"article", b"articles", b"artikel", b"artnr", b"item", b"items",
    b"product", b"products", b"qty", b"quantity", b"menge", b"basket", b"cart", b"warenkorb", b"receipt",
    b"kassenbon", b"bon", b"plu", b"stk", b"unitprice", b"einzelpreis", b"mwst", b"vat", b"price", b"preis",
})


def _card_words(chunk: bytes) -> bool:
    """A card keyword or another card's track data in `chunk`."""
    low = chunk.lower()
    words = WORDS_RE.findall(low)
    if not CARD_KEYWORDS.isdisjoint(words) or not CARD_PAIRS.isdisjoint(zip(words, words[1:], strict=False)):
        return True
    if b"card#" in low or b"card #" in low:
        return True
    if not chunk.isascii() and any(p in chunk for p in SCRIPT_CARD_PHRASES):
        return True
    return (b"^" in chunk or b"=" in chunk) and TRACK_NEAR.search(chunk) is not None


# EMV tags that travel with a PAN (ICC data, DE55): two-byte ones, and one-byte ones (weaker alone)
EMV_TAGS2 = frozenset({0x5F20, 0x5F24, 0x5F25, 0x5F28, 0x5F2A, 0x5F2D, 0x5F30, 0x5F34, 0x9F02, 0x9F03, 0x9F06,
                       0x9F07, 0x9F09, 0x9F0D, 0x9F0E, 0x9F0F, 0x9F10, 0x9F12, 0x9F1A, 0x9F1E, 0x9F21, 0x9F26,
                       0x9F27, 0x9F33, 0x9F34, 0x9F35, 0x9F36, 0x9F37, 0x9F41, 0x9F53, 0x9F6E})
EMV_TAGS1 = frozenset({0x50, 0x57, 0x5A, 0x82, 0x84, 0x8A, 0x95, 0x9A, 0x9C})
ID_HEADERS = re.compile(
    rb"(?i)(?:message-id|resent-message-id|references|in-reply-to|content-id|thread-\w+|x-[\w-]*antispam[\w-]*"
    rb"|x-forefront[\w-]*|x-ms-[\w-]+|x-microsoft-[\w-]+|received|dkim-signature|arc-[\w-]+|x-request-id"
    rb"|x-correlation-id|traceparent|etag|x-amzn?-[\w-]+)$"
)
BOUNDARY_RE = re.compile(rb'(?i)boundary="?[^"&;\s]*$|^--[^\s]*$')  # a boundary parameter or delimiter line
ANTISPAM_RE = re.compile(rb"(?:ARA|SFS)(?::|%3A)(?:[0-9|()]|%7C)*$")  # X-Microsoft-Antispam, X-Forefront-…
# a hex dump line up to the value: an offset as dumpers write it (tcpdump `\t0x0010:  `, xxd `00000010: `,
# hexdump `00000010  `, Wireshark `0010  `: not a year and one space), then only hex groups
HEX_DUMP_LINE = re.compile(rb"[ \t]*(?:0x[0-9A-Fa-f]{4,8}:?[ \t]+|[0-9A-Fa-f]{4,8}:[ \t]+|[0-9A-Fa-f]{8}[ \t]+"
                           rb"|[0-9A-Fa-f]{4}[ \t]{2,})(?:[0-9A-Fa-f]{2,4}[ \t]+)*$")
HEADER_NAME = re.compile(rb"^([A-Za-z0-9-]{1,64}):")
_KEY_PATTERNS = (  # (pattern, how far back it can reach, the characters that can end it before the value)
    (re.compile(rb'"([^"\\\n]{1,64})"\s*:\s*"?$'), 100, b'":'),  # JSON
    (re.compile(rb'"([^"\\\n]{1,64})"\s*:\s*\[[^\[\]{}:]{0,300}$'), 400, b'",['),
    (re.compile(rb"<([\w:.-]{1,64})(?:\s[^<>]{0,200})?>\s*$"), 300, b">"),  # XML element
    (re.compile(rb"([\w:.-]{1,64})\s*=\s*[\"']$"), 80, b"\"'"),  # XML/HTML attribute
    (re.compile(rb"(?:^|[&?;\s])([\w.\[\]%-]{1,64})=$"), 80, b"="),  # form or query
    (re.compile(rb"([A-Za-z\xc0-\xff][\w .#/\xc0-\xff-]{0,40}?)\s*[:=#]\s*[\"']?$"), 60, b":=#\"'"),  # "Card No.: "
    # a REST path: the segment before an id names what it is (/cards/4111…/receipt, /v1/pan/4111…)
    (re.compile(rb"(?:[a-zA-Z0-9.-]|^|\s)/(?:[\w.~%-]{1,64}/)*?([A-Za-z][\w.~-]{0,63})/$"), 120, b"/"),
)
WORD = re.compile(rb"[A-Za-z][\w-]{0,30}")
CSV_DELIMS = b",;\t|"
_TOKEN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGITS = frozenset(b"0123456789")
_ALNUM = _DIGITS | _TOKEN
_HEX = _DIGITS | frozenset(b"ABCDEFabcdef")
HOST_LABEL = re.compile(rb"(?i)[a-z0-9-]*\.[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*")


RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}
REJUDGE = 64  # occurrences of one number in one buffer judged before its best verdict is reused


class BufferJudge:
    """Verdicts for the hits of one buffer. A number already judged high in it stays high; one
    repeated without card context is judged REJUDGE times, then its best verdict stands (a body
    repeating one number a hundred thousand times costs 64 judgements, not 100,000)."""

    __slots__ = ("buf", "offset", "seen")

    def __init__(self, buf: bytes, offset: int = 0) -> None:
        self.buf = buf
        self.offset = offset  # where the scanned bytes start in `buf` (context kept before them)
        self.seen: dict[str, tuple[int, CardVerdict]] = {}

    def __call__(self, hit: tuple[int, int, str, str, str, bool], channel: str) -> CardVerdict:
        start, end, digits, kind, encoding, _exp = hit
        n, best = self.seen.get(digits, (0, None))
        if best is not None and (n >= REJUDGE or best.confidence == "high"):
            return best
        v = judge(self.buf, self.offset + start, self.offset + end, digits, kind, encoding, channel)
        self.seen[digits] = (n + 1, v if best is None or RANK[v.confidence] > RANK[best.confidence] else best)
        return v


def judge(buf: bytes, start: int, end: int, digits: str, kind: str, encoding: str, channel: str) -> CardVerdict:
    """The confidence of one hit: `buf[start:end]` is the hit's span (for a decoded layer, the span of
    the encoded run), `digits` the number, `kind` pan/track1/track2, `encoding` as the scanner named it."""
    if channel in PAYMENT_CHANNELS:
        return CardVerdict("high", f"in a payment message ({PAYMENT_CHANNELS[channel]})")
    if encoding == "hex+bcd":
        return _bcd_dump(buf[start:end], digits, kind)
    if encoding.endswith("bcd"):
        return _bcd(buf, start, end, kind)
    if kind != "pan":
        return CardVerdict("high", f"{kind.replace('track', 'track ')} data (number, separator, expiry)")
    if channel == "dns":
        return _dns(buf, digits, encoding)
    if "qp" in encoding.split("+") and b"==" in buf[start:end]:
        return CardVerdict("none", "not quoted-printable: a literal '==' (a MIME boundary line)")
    text, vs, ve, run_start, exact = located(buf, start, end, digits, encoding)
    return _text(text, vs, ve, digits, run_start, exact)


def _bcd(buf: bytes, start: int, end: int, kind: str) -> CardVerdict:
    if _emv_follows(buf, end):
        return CardVerdict("high", "EMV data (card tags follow the number)")
    if kind != "pan":
        return CardVerdict("low", "track-shaped packed BCD in binary data with no payment structure")
    return CardVerdict("none", "packed-BCD-looking bytes in binary data with no payment structure")


def _bcd_dump(run: bytes, digits: str, kind: str) -> CardVerdict:
    """Packed BCD read from a hex dump (a terminal's log of what it sent or read): judged in the
    dumped bytes, by the same structure as in a payload, or as the ISO 8583 message the dump holds."""
    raw = hex_dump_bytes(run)
    msg = parse_message(raw)
    if msg is not None and any(h[2] == digits for _field, h in card_hits(msg)):
        return CardVerdict("high", "in an ISO 8583 message written as a hex dump")
    at = raw.find(bytes.fromhex(digits[: len(digits) & ~1]))
    if at >= 0 and _emv_follows(raw, at + (len(digits) + 1) // 2):
        return CardVerdict("high", "EMV data written as a hex dump (card tags follow the number)")
    return _bcd(raw, len(raw), len(raw), kind)  # as in a payload without payment structure


def _emv_follows(buf: bytes, pos: int) -> bool:
    """The bytes after a packed PAN parse as EMV TLVs: a known two-byte tag, or two known tags in a
    row (random binary data matches either about once in ten thousand)."""
    for chain in (1, 2):
        if pos + 2 > len(buf):
            return False
        two = buf[pos] << 8 | buf[pos + 1]
        if two in EMV_TAGS2:
            size, pos = 2, pos + 2
        elif buf[pos] in EMV_TAGS1:
            size, pos = 1, pos + 1
        else:
            return False
        if pos >= len(buf) or buf[pos] > 0x40:
            return False
        pos += 1 + buf[pos]
        if size == 2 or chain == 2:
            return True
    return False


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


def _text(text: bytes, vs: int, ve: int, digits: str, run_start: int, exact: bool) -> CardVerdict:
    why = _not_a_card(text, vs, ve) if exact else None
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
    if exact and b"@" in text[vs - 1 : vs] + text[ve : ve + 1]:
        return CardVerdict("low", "part of a mail address")
    if exact and text[ve : ve + 1] == b"." and HOST_LABEL.match(text, ve):
        return CardVerdict("high", "card number as a host name label (exfiltration pattern)")
    lo, hi = max(0, vs - WINDOW), ve + WINDOW
    if gs1 and not PRODUCT_WORDS.isdisjoint(WORDS_RE.findall(text[lo:hi].lower())):
        return CardVerdict("none", f"{gs1} with a valid GS1 check digit in a product context")
    if _card_words(text[lo:vs]) or _card_words(text[ve:hi]):
        return CardVerdict("high", "card keyword within 300 characters")
    if b"%" in text[lo:hi] and _card_words(unquote_to_bytes(text[lo:hi])):  # percent-encoded: %3B4111…%3D2812
        return CardVerdict("high", "card keyword within 300 characters (percent-encoded)")
    if _has_separator(text, lo, hi) and (EXPIRY_RE.search(text, lo, vs) or EXPIRY_RE.search(text, ve, hi)):
        return CardVerdict("high", "expiry date within 300 characters")
    if len(digits) < 14:
        return CardVerdict("none", f"{len(digits)}-digit number outside card context")
    if exact and text[vs:ve].translate(None, b"0123456789"):  # spaces, dashes, a form's plus signs
        return CardVerdict("medium", "card-typical grouping, no card keyword nearby")
    return CardVerdict("medium", "bare number, no card keyword nearby")


def _has_separator(text: bytes, lo: int, hi: int) -> bool:
    return text.find(b"/", lo, hi) >= 0 or text.find(b"-", lo, hi) >= 0


def _not_a_card(text: bytes, vs: int, ve: int) -> str | None:
    """Why the digit run is part of something else (a longer token, an IBAN, an id header), or None."""
    cc = iban_around(text, vs, ve)
    if cc:
        return f"part of an IBAN ({cc}, mod-97 valid)"
    before, after = text[vs - 1] if vs else 32, text[ve] if ve < len(text) else 32
    before2, after2 = text[vs - 2] if vs > 1 else 32, text[ve + 1] if ve + 1 < len(text) else 32
    if _framed_string_key(text, vs, ve) is not None:
        before = after = 32  # a CBOR/MessagePack string: its length byte and the next item's head frame it
    if before in _TOKEN and text[vs - 3 : vs - 2] == b"%" and before2 in _HEX:
        before = int(text[vs - 2 : vs], 16)  # after a percent-escape (%3B): the character it stands for
    elif before in _TOKEN and before2 == 92:
        before = 32  # after an escape (\n, \t): a separator, not a token
    if before == 43:
        return "international phone number"
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
    line = _line_before(text, vs)
    if grouped and HEX_DUMP_LINE.match(line):  # (the text column's digits stand together, in a card's order)
        return "hex digits of a hex dump line (its bytes are read decoded)"
    h = HEADER_NAME.match(line)
    if h and ID_HEADERS.match(h.group(1)):
        return f"id in the {_safe(h.group(1))} header"
    if (b"oundary" in line or b"OUNDARY" in line or line.startswith(b"--")) and BOUNDARY_RE.search(line):
        return "MIME boundary marker"
    if (b"ARA" in line or b"SFS" in line) and ANTISPAM_RE.search(line):
        return "Exchange anti-spam rule ids"
    return None


def _line_before(text: bytes, vs: int) -> bytes:
    """The value's line up to it, at most 1 KB (a header or boundary line is short), with
    quoted-printable soft line breaks joined (a header quoted in a QP body keeps its name)."""
    lo = max(0, vs - 1024)
    start = text.rfind(b"\n", lo, vs) + 1
    while start > lo and (text[start - 3 : start] == b"=\r\n" or text[start - 2 : start] == b"=\n"):
        start = text.rfind(b"\n", lo, start - 2) + 1
    line = text[max(start, lo) : vs]
    if b"=\n" in line or b"=\r\n" in line:
        line = line.replace(b"=\r\n", b"").replace(b"=\n", b"")
    return line


def _owning_key(text: bytes, vs: int, ve: int) -> bytes | None:
    """The name of the field holding the value: JSON key, XML element or attribute, form key, text
    label, URL path segment, the one or two words right before it ("IMEI 35…", "card 4111…"), or CSV
    column header."""
    last = text[max(0, vs - 16) : vs].rstrip()[-1:]
    for pattern, reach, ends in _KEY_PATTERNS:
        if last and last in ends:
            m = pattern.search(text, max(0, vs - reach), vs)
            if m:
                return b" ".join(m.group(1).split()[-3:])  # a label's last words: "Ihre Kartennummer"
    if text[vs - 1 : vs] == b" ":
        line_start = text.rfind(b"\n", max(0, vs - 64), vs) + 1
        parts = text[max(line_start, vs - 64) : vs].split()[-2:]  # on the value's own line
        if parts and WORD.fullmatch(parts[-1]):
            return b" ".join(parts) if len(parts) == 2 and WORD.fullmatch(parts[0]) else parts[-1]
    return _framed_string_key(text, vs, ve) or _csv_column(text, vs, ve)


PRINTABLE_NAME = bytes(range(0x21, 0x7F))  # a map key's characters
FRAMED_STRING = (0x60, 0xA0)  # the head of a short string: CBOR major type 3, MessagePack fixstr (+ length)


def _framed_string_key(text: bytes, vs: int, ve: int) -> bytes | None:
    """For a number that is a CBOR or MessagePack string in binary data (its head, the length byte,
    right before it: in CBOR a letter, `p` for 16 digits), the map key before it: the longest
    printable short string that ends at the head (b"" if none). None when the number is not so framed."""
    n = ve - vs
    if vs < 1 or n > 23 or (text[max(0, vs - 32) : vs].isascii() and text[ve : ve + 32].isascii()):
        return None  # (binary data around it: CBOR and MessagePack maps have non-ASCII heads)
    for base in FRAMED_STRING:
        if text[vs - 1] == base + n:
            keys = [text[vs - 1 - k : vs - 1] for k in range(1, 24)
                    if vs - 2 - k >= 0 and text[vs - 2 - k] == base + k]
            named = [k for k in keys if not k.translate(None, PRINTABLE_NAME)]
            return max(named, key=len, default=b"")
    return None


def _csv_column(text: bytes, vs: int, ve: int) -> bytes | None:
    """The header of the CSV column the value stands in: the body's first line or one of the 40
    lines above, when it has as many fields and no long digit run."""
    ls = text.rfind(b"\n", max(0, vs - LOOK_BACK), vs) + 1
    le = text.find(b"\n", ve, ve + 4096)
    line = text[ls : ve + 4096 if le < 0 else le].rstrip(b"\r")
    if ls == 0 or vs - ls > 4096 or le < 0:
        return None  # no line above, or not a CSV row
    delim = max(CSV_DELIMS, key=line.count)
    if not line.count(delim):
        return None
    sep = bytes([delim])
    col, width = text[ls:vs].count(sep), line.count(sep)
    above = text[max(0, ls - 4096) : ls].split(b"\n")[-41:-1]
    blank = text.find(b"\n\n", max(0, vs - LOOK_BACK), vs)
    blank = text.find(b"\r\n\r\n", max(0, vs - LOOK_BACK), vs) if blank < 0 else blank
    first = text[blank : text.find(b"\n", blank + 4)].strip() if blank >= 0 else b""
    for prev in [first, *reversed(above)]:
        prev = prev.rstrip(b"\r")
        if prev.count(sep) == width and not re.search(rb"[0-9]{5}", prev):
            return prev.split(sep)[col].strip(b"\"' ") or None
    return None


def _safe(name: bytes) -> str:
    """A field name fit for evidence: printable, short, no run of digits (no part of a number leaks)."""
    s = re.sub(r"[0-9]{4,}", "#", name.decode("ascii", "replace"))
    return "".join(c if c.isprintable() else "?" for c in s)[:40]
