"""Numbers that look like card numbers but are something else, by their own structure: IBANs
(country code, check digits, mod 97), GS1 keys (GTIN/EAN/SSCC check digit), and what a field name
says a value is. Pure functions; `card_context` uses them to judge a candidate card number.

Key names are split into words (camelCase, `_`, `-`, `[ ]`, `.`) so `cardNumber`, `card_number`,
`card[number]` and `CARD-NO` read the same; a word list decides, never a substring (`company`
holds `pan`, `loyaltyCard` holds `card`).
"""

from __future__ import annotations

import re

# IBAN length per country (ISO 13616 registry: the SEPA countries and the other common ones)
IBAN_LENGTH = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24,
    "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "VA": 22, "AL": 28, "AE": 23, "BA": 20, "BH": 22, "BR": 29, "FO": 18, "GE": 22,
    "GL": 18, "IL": 23, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "MD": 24, "ME": 22, "MK": 19, "MU": 30, "QA": 29,
    "RS": 22, "SA": 24, "TN": 24, "TR": 26, "UA": 29, "XK": 20,
}
IBAN_START = re.compile(rb"(?<![0-9A-Za-z])[A-Za-z]{2}[0-9]{2}")


def iban_ok(iban: str) -> bool:
    """Country length and mod-97 check of a compact IBAN (upper case)."""
    if IBAN_LENGTH.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def iban_around(text: bytes, start: int, end: int) -> str | None:
    """The country code of a valid IBAN (compact or in groups of four) that covers text[start:end]."""
    for m in IBAN_START.finditer(text, max(0, start - 40), start + 4):
        cc = m.group()[:2].upper().decode("ascii")
        want = IBAN_LENGTH.get(cc)
        if want is None:
            continue
        chars: list[str] = []
        i, n = m.start(), len(text)
        while i < n and len(chars) < want:
            c = text[i]
            if c in b" -" and len(chars) % 4 == 0 and i + 1 < n and chr(text[i + 1]).isalnum():
                i += 1  # one separator between groups of four
                continue
            if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122):
                break
            chars.append(chr(c))
            i += 1
        if len(chars) == want and i >= end and iban_ok("".join(chars).upper()):
            return cc
    return None


GS1_LENGTHS = {8: "GTIN-8", 12: "GTIN-12", 13: "GTIN-13", 14: "GTIN-14", 17: "GSIN", 18: "SSCC"}


def gs1_key(digits: str) -> str | None:
    """The GS1 key type when the digits carry a valid GS1 check digit (weights 3,1 from the right)."""
    name = GS1_LENGTHS.get(len(digits))
    if name is None:
        return None
    body = digits[:-1]
    total = sum((3 if i % 2 == 0 else 1) * (ord(c) - 48) for i, c in enumerate(reversed(body)))
    return name if (10 - total % 10) % 10 == ord(digits[-1]) - 48 else None


# -- field names -----------------------------------------------------------------------------------
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^A-Za-z0-9]+")

CARD_WORDS = frozenset({
    "pan", "cc", "ccn", "ccnum", "ccno", "ccnumber", "cardnumber", "cardno", "cardnum", "cardnr", "creditcard",
    "debitcard", "kreditkarte", "kreditkartennummer", "kartennummer", "kartennr", "kartenummer", "bankkarte",
    "primaryaccountnumber", "numerocarte", "numerotarjeta", "numerocartao", "tarjeta", "cartao", "carte", "karte",
    "card", "cards", "cardholder", "pcard", "track1", "track2", "trackdata",
})
_BARE_HEADS = frozenset({"card", "cards", "karte", "carte", "tarjeta", "cartao"})  # a card word, not yet its number
CARD_HEADS = ("card", "credit", "debit", "karte", "kredit", "carte", "tarjeta", "cartao")
NUMBER_WORDS = frozenset({"number", "num", "no", "nr", "nummer", "numero", "pan", "data", "value", ""})
NOT_CARD_WORDS = frozenset({
    "loyalty", "gift", "giftcard", "customer", "kunden", "kundenkarte", "member", "membership", "bonus", "club",
    "payback", "sim", "reward", "rewards", "points", "voucher", "coupon", "gutschein", "library", "employee",
    "token", "hash", "ref", "reference", "id", "fingerprint", "last4", "bin", "masked", "tracking", "type",
})
PRODUCT_WORDS = frozenset({
    "ean", "ean13", "ean8", "gtin", "gtin13", "gtin14", "upc", "sku", "barcode", "article", "articleno", "artikel",
    "artikelnummer", "artnr", "item", "itemcode", "product", "productid", "productcode", "plu", "mpn", "isbn",
    "sscc",
})
OTHER_WORDS = frozenset({
    "phone", "tel", "telefon", "telephone", "mobile", "handy", "fax", "msisdn", "imei", "imeisv", "iccid", "iban",
    "bic", "account", "acct", "konto", "kontonummer", "blz", "order", "orderid", "bestellung", "bestellnummer",
    "invoice", "rechnung", "receipt", "beleg", "bon", "transaction", "txn", "trace", "stan", "rrn", "parcel",
    "sendung", "shipment", "serial", "uuid", "guid", "timestamp", "time", "date", "ts", "created", "zip", "plz",
    "vat", "tax", "ustid", "session", "nonce", "checksum", "crc", "seq", "sequence", "version", "build",
    *NOT_CARD_WORDS,
})


def key_words(key: str) -> list[str]:
    """A field name as lower-case words: `cardNumber` → card, number; `card[number]` → card, number."""
    return [w.lower() for w in _SPLIT.split(_CAMEL.sub(" ", key)) if w]


def key_class(key: str) -> str | None:
    """What a field name says its value is: 'card', 'product', 'other', or None (says nothing)."""
    words = key_words(key)
    if not words:
        return None
    joined = "".join(words)
    if any(w in NOT_CARD_WORDS for w in words) or joined in NOT_CARD_WORDS:
        return "other" if not any(w in ("pan", "cardnumber") for w in words) else "card"
    if joined in CARD_WORDS or any(w in CARD_WORDS - _BARE_HEADS for w in words):
        return "card"
    for i, w in enumerate(words):  # paymentCardNumber, card[number], credit_card_no
        if w in CARD_HEADS and all(x in NUMBER_WORDS or x in CARD_HEADS for x in words[i + 1 :]):
            return "card"
    if any(w in PRODUCT_WORDS for w in words) or joined in PRODUCT_WORDS:
        return "product"
    if any(w in OTHER_WORDS for w in words) or joined in OTHER_WORDS:
        return "other"
    return None
