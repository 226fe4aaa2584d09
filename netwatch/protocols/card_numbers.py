"""Card number validation: issuer prefix, length per brand, Luhn; track 1 / track 2 split into
number and expiry. Pure functions over digit strings.

UnionPay (prefix 62) issued cards that do not pass Luhn. They are accepted without Luhn only where
the bytes are known to be a card number (`structured=True`: ISO 8583 DE2/DE35/DE45, EMV tags 5A/57,
track data with its separators); in free text a 62… digit run must pass Luhn like any other, or
every 16–19 digit id starting with 62 would be called a card.

Source of the table: the issuer identification ranges of the card schemes as collected in
Wikipedia's "Payment card number" IIN table (checked November 2026), cross-checked with the schemes'
published BIN ranges (Mastercard 2-series, Mir, RuPay, Troy). Ranges of schemes that no longer
issue (Switch, Solo, Laser, Bankcard) are left out, and so are the wide blocks that retailers' own
gift and loyalty cards share (RuPay is listed by its issued BIN blocks, not all of 60/65/81/82;
InterPayment 636 and InstaPayment 637-639 are left out): a loyalty number is not a card number.
Order matters: the first match names the brand, so narrower ranges come before wide ones.
"""

from __future__ import annotations

# (brand, prefix ranges as (low, high) over the first N digits, allowed lengths)
BRANDS: list[tuple[str, list[tuple[str, str]], frozenset[int]]] = [
    ("amex", [("34", "34"), ("37", "37")], frozenset({15})),
    ("diners", [("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")], frozenset(range(14, 20))),
    ("jcb", [("3528", "3589")], frozenset(range(16, 20))),
    ("visa", [("4", "4")], frozenset({13, 16, 19})),
    ("mir", [("2200", "2204")], frozenset(range(16, 20))),
    ("borica", [("2205", "2205")], frozenset({16})),
    ("mastercard", [("51", "55"), ("2221", "2720")], frozenset({16})),
    ("discover", [("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")], frozenset(range(16, 20))),
    ("unionpay", [("62", "62"), ("81", "81")], frozenset(range(16, 20))),
    ("verve", [("506099", "506198"), ("507865", "507964")], frozenset({16, 18, 19})),
    ("ukrcard", [("60400100", "60420099")], frozenset(range(16, 20))),
    ("rupay", [("508500", "508999"), ("606985", "607984"), ("608001", "608500")], frozenset({16})),
    ("elo", [("636297", "636297"), ("636368", "636368")], frozenset({16})),
    ("hipercard", [("606282", "606282")], frozenset(range(16, 20))),  # its 3841xx IINs fall under Diners 38
    ("troy", [("9792", "9792")], frozenset({16})),
    ("humo", [("9860", "9860")], frozenset({16})),
    ("uzcard", [("8600", "8600")], frozenset({16})),
    (
        "maestro",
        [("50", "50"), ("56", "58"), ("6304", "6304"), ("6703", "6703"), ("6759", "6759"),
         ("6761", "6763"), ("676770", "676770"), ("676774", "676774")],
        frozenset(range(12, 20)),
    ),
]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def brand_of(digits: str) -> str | None:
    """The brand whose issuer prefix and length fit, or None (first match in table order)."""
    n = len(digits)
    for brand, ranges, lengths in BRANDS:
        if n not in lengths:
            continue
        for lo, hi in ranges:
            head = digits[: len(lo)]
            if lo <= head <= hi:
                return brand
    return None


def card_brand(digits: str, structured: bool = False) -> str | None:
    """Brand of a plausible card number (prefix, length, Luhn), else None.

    `structured`: the field is a card number by definition, so a UnionPay number need not pass Luhn.
    """
    if not 12 <= len(digits) <= 19 or not digits.isdigit():
        return None
    brand = brand_of(digits)
    if brand is None:
        return None
    if not luhn_ok(digits) and not (structured and brand == "unionpay"):
        return None
    return brand


def split_track2(text: str) -> tuple[str, bool] | None:
    """(number, expiry present) of track 2 data ('PAN=YYMM…', or 'PAN D YYMM…' as BCD nibbles), else None."""
    v = text.upper()
    for sep in ("=", "D"):
        i = v.find(sep)
        if 12 <= i <= 19:
            exp = v[i + 1 : i + 5]
            return v[:i], len(exp) == 4 and exp.isdigit()
    return None


def split_track1(text: str) -> tuple[str, bool] | None:
    """(number, expiry present) of track 1 data ('%B PAN ^ NAME ^ YYMM…'), else None."""
    parts = text.lstrip("%").removeprefix("B").split("^")
    if len(parts) < 2:
        return None
    exp = parts[2][:4] if len(parts) > 2 else ""
    return parts[0], len(exp) == 4 and exp.isdigit()
