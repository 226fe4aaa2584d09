"""Look-alike numbers a store's traffic carries, built from their own structure (check digits
computed, not copied), and true card numbers: the items of bench_precision.py.

Each look-alike class returns (value as written, the key or label a carrier puts before it).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable

from netwatch.protocols.card_numbers import BRANDS, card_brand
from netwatch.protocols.lookalikes import IBAN_LENGTH

Item = tuple[str, str]  # the value as written, the field name a carrier uses for it


def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def gs1_complete(body: str) -> str:
    total = sum((3 if i % 2 == 0 else 1) * int(c) for i, c in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


# GS1 country prefixes (three digits) of European and North American member organisations, in-store
# numbers (020-029, 200-299) and books (978-979)
GS1_PREFIXES = [*range(0, 20), *range(20, 30), *range(200, 300), *range(300, 380), *range(400, 441), *range(500, 510),
                *range(540, 550), 590, *range(570, 580), *range(640, 650), *range(700, 710), *range(730, 740),
                *range(760, 770), *range(800, 840), *range(840, 850), *range(870, 880), *range(900, 920), 978, 979]


def gs1(rng: random.Random) -> Item:
    prefix = f"{rng.choice(GS1_PREFIXES):03d}"
    kind = rng.random()
    if kind < 0.6:
        return gs1_complete(prefix + _digits(rng, 9)), rng.choice(["ean", "gtin", "EAN", "barcode", "articleNo"])
    if kind < 0.8:
        return gs1_complete(str(rng.randint(1, 8)) + prefix + _digits(rng, 9)), rng.choice(["gtin", "gtin14", "GTIN"])
    if kind < 0.9:
        return gs1_complete(_digits(rng, 11)), rng.choice(["upc", "sku"])
    return gs1_complete(str(rng.randint(0, 9)) + prefix + _digits(rng, 13)), "sscc"


SEPA = ["AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU", "IE", "IS",
        "IT", "LI", "LT", "LU", "LV", "MC", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK", "SM"]
IBAN_LETTERS = {"GB": 4, "IE": 4, "NL": 4, "IT": 1, "SM": 1, "MT": 4, "BG": 4, "CY": 0, "LV": 4, "RO": 4}


def iban(rng: random.Random, cc: str | None = None, grouped: bool | None = None) -> Item:
    cc = cc or rng.choice(SEPA)
    n = IBAN_LENGTH[cc] - 4
    letters = IBAN_LETTERS.get(cc, 0)
    bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(letters)) + _digits(rng, n - letters)
    num = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
    text = f"{cc}{98 - num % 97:02d}{bban}"
    if grouped if grouped is not None else rng.random() < 0.5:
        text = " ".join(text[i : i + 4] for i in range(0, len(text), 4))
    return text, rng.choice(["iban", "IBAN", "accountIban", "debtorIban"])


def token(rng: random.Random) -> Item:
    """UUIDs, digests and hex strings: their digit runs are part of a longer token."""
    r = rng.random()
    raw = rng.randbytes(32)
    if r < 0.4:
        return str(uuid.UUID(bytes=raw[:16], version=4)), rng.choice(["id", "transactionId", "requestId", "uuid"])
    if r < 0.7:
        return hashlib.sha256(raw).hexdigest(), rng.choice(["sha256", "digest", "etag", "hash"])
    if r < 0.85:  # a hex string whose longest digit run is card-shaped
        run = luhn_complete("4" + _digits(rng, 14))
        return rng.randbytes(3).hex() + run + "f" + rng.randbytes(4).hex(), "signature"
    return hashlib.sha1(raw).hexdigest().upper(), "checksum"


def mail_id(rng: random.Random) -> Item:
    """MIME boundaries, Message-IDs and Exchange anti-spam rule ids."""
    r = rng.random()
    if r < 0.4:
        return f"==============={_digits(rng, 19)}==", "boundary"
    if r < 0.7:
        return f"<{_digits(rng, 16)}.{_digits(rng, 5)}.JavaMail@mail{rng.randint(1, 9)}.example>", "Message-ID"
    ids = "|".join(_digits(rng, rng.randint(8, 16)) for _ in range(6))
    return f"BCL:0;ARA:{ids};", "X-Microsoft-Antispam"


def timestamp(rng: random.Random) -> Item:
    t = rng.randint(1_600_000_000, 1_900_000_000)
    r = rng.random()
    if r < 0.3:
        return f"{t}{_digits(rng, 3)}", "ts"
    if r < 0.55:
        return f"{t}{_digits(rng, 6)}", "timestamp_us"
    if r < 0.75:
        return f"{t}{_digits(rng, 9)}", "time_ns"
    day = f"20{rng.randint(20, 29)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return f"{day}{_digits(rng, 6)}{_digits(rng, 3)}", "created"


def phone(rng: random.Random) -> Item:
    cc, n = rng.choice([("49", 11), ("43", 10), ("41", 9), ("33", 9), ("44", 10), ("39", 10), ("1", 10), ("31", 9)])
    nat = _digits(rng, n)
    style = rng.random()
    if style < 0.4:
        return f"+{cc}{nat}", "phone"
    if style < 0.7:
        return f"00{cc}{nat}", "tel"
    return f"+{cc} {nat[:3]} {nat[3:]}", "mobile"


def imei(rng: random.Random) -> Item:
    tac = rng.choice(["35", "86", "01", "30", "99", "33", "44", "53"]) + _digits(rng, 6)
    return luhn_complete(tac + _digits(rng, 6)), rng.choice(["imei", "IMEI", "deviceImei"])


def loyalty(rng: random.Random) -> Item:
    """Retail loyalty and gift card numbers: 16-19 digits, Luhn, some in bank-card prefixes."""
    prefix = rng.choice(["9276", "6035", "3083", "2980", "7777", "5032", "6362", "4871", "5890", "6004"])
    n = rng.choice([16, 18, 19])
    return luhn_complete(prefix + _digits(rng, n - len(prefix) - 1)), rng.choice(
        ["loyaltyCard", "loyaltyNumber", "Payback-Karte", "Kundenkarte", "giftCard", "memberNo", "bonusCard"])


def order(rng: random.Random) -> Item:
    n = rng.choice([12, 14, 16, 18])
    body = _digits(rng, n)
    return body, rng.choice(["orderId", "order_no", "Bestellnummer", "invoiceNo", "receiptNo", "transactionNo"])


def parcel(rng: random.Random) -> Item:
    """Parcel numbers as printed: SSCC with its application identifier, in groups of four."""
    s = "00" + gs1_complete(str(rng.randint(0, 9)) + "340434" + _digits(rng, 10))
    return " ".join(s[i : i + 4] for i in range(0, len(s), 4)), rng.choice(["tracking", "Sendungsnummer", "parcel"])


LOOKALIKES: dict[str, Callable[[random.Random], Item]] = {
    "gs1": gs1, "iban": iban, "token": token, "mail-id": mail_id, "timestamp": timestamp, "phone": phone,
    "imei": imei, "loyalty": loyalty, "order": order, "parcel": parcel,
}


def true_card(rng: random.Random) -> str:
    """A brand-valid card number of 14-19 digits (one in twenty a 13-digit Visa)."""
    if rng.random() < 0.05:
        return luhn_complete("4" + _digits(rng, 11))
    while True:
        _brand, ranges, lengths = rng.choice(BRANDS)
        lo, hi = rng.choice(ranges)
        head = str(rng.randint(int(lo), int(hi))).zfill(len(lo))
        n = rng.choice([x for x in sorted(lengths) if x >= 14] or [16])
        pan = luhn_complete(head + _digits(rng, n - len(head) - 1))
        if card_brand(pan):
            return pan
