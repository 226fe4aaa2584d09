"""Base32 / base32hex in DNS labels, the newer card ranges, and the bundled card captures."""

from __future__ import annotations

import base64

import pytest

from netwatch.protocols.card_dns import scan_dns_name
from netwatch.protocols.card_numbers import BRANDS, card_brand
from netwatch.redaction.masking import mask_pan

AMEX = "378282246310005"
DISCOVER = "6011111111111117"


def hits(name: str) -> list[tuple[str, str, str]]:
    return [(h[3], h[4], mask_pan(h[2])) for h in scan_dns_name(name)]


def test_base32_label_pan() -> None:
    label = base64.b32encode(AMEX.encode()).decode().rstrip("=").lower()
    assert hits(label + ".x.example") == [("pan", "base32", "378282*****0005")]


def test_base32hex_label_track2_upper_case() -> None:
    label = base64.b32hexencode(f";{DISCOVER}=28121010000012345678?".encode()).decode().rstrip("=")
    assert hits(label + ".x.example") == [("track2", "base32hex", "601111******1117")]


def test_base32_split_over_labels() -> None:
    enc = base64.b32encode(AMEX.encode()).decode().rstrip("=").lower()
    assert hits(enc[:12] + "." + enc[12:] + ".x.example") == [("pan", "base32", "378282*****0005")]


@pytest.mark.parametrize("name", ["abcdefghijklmnopqrstuvwxyz234567.example", "mail.google.com",
                                  "0123456789abcdefghijklmnopqrstuv.example",
                                  base64.b32encode(b"4111111111111112").decode().lower() + ".example"])
def test_base32_noise_is_silent(name: str) -> None:
    assert hits(name) == []


@pytest.mark.parametrize(("digits", "brand"), [
    ("67030000012345677", "maestro"), ("6703444444444449", "maestro"), ("9792123456789018", "troy"),
    ("9860123456789015", "humo"), ("6080123456789015", "rupay"), ("5061000000000005", "verve"),
    ("2205000000000009", "borica"), ("8600123456789012", "uzcard"), ("6363680000000007", "elo"),
    ("6062820000000003", "hipercard"),
])
def test_newer_ranges(digits: str, brand: str) -> None:
    assert card_brand(digits) == brand


def test_narrow_ranges_come_before_wide_ones() -> None:
    order = [b for b, _r, _l in BRANDS]
    assert order.index("verve") < order.index("maestro")
    assert card_brand("6011111111111117") == "discover"  # 6011 stays Discover, not RuPay 60


VISA = "4111111111111111"


def scanned(buf: bytes) -> list[tuple[str, str]]:
    from netwatch.protocols.card_search import scan

    return [(h[3], mask_pan(h[2])) for h in scan(buf)[0]]


@pytest.mark.parametrize("message", [
    # APACS 30/40: STX, message type, FS-separated ASCII fields, track 2 with sentinels, ETX, LRC
    b"\x02A\x1c0001\x1c;" + VISA.encode() + b"=28121010000000000?\x1c000000001250\x1c\x03\x5a",
    # SPDH: FS-separated ASCII, track 2 in an optional-data subfield ('b' + track)
    b"1234567890ABCDEF\x1c01\x1cb" + VISA.encode() + b"=2812101000000\x1c\x03",
    # OPI (Oracle/Micros) XML
    b"\x00\x00\x00\x52<?xml version=\"1.0\"?><TransactionRequest><PAN>" + VISA.encode()
    + b"</PAN><ExpiryDate>2812</ExpiryDate></TransactionRequest>",
    # nexo / ISO 20022 card payment JSON
    b'{"SaleToPOIRequest":{"PaymentRequest":{"PaymentInstrumentData":{"CardData":{"PAN":"' + VISA.encode() + b'"}}}}}',
])
def test_ascii_terminal_protocols_need_no_parser(message: bytes) -> None:
    got = scanned(message)
    assert got and all(m == "411111******1111" for _k, m in got)


@pytest.mark.parametrize("digits", ["6006491234567891", "6035320000000008", "6364000000000007", "6390000000000005"])
def test_gift_and_loyalty_blocks_are_not_cards(digits: str) -> None:
    """Luhn-valid numbers in the 60/63 merchandising blocks that store gift cards use."""
    from netwatch.protocols.card_numbers import luhn_ok

    assert luhn_ok(digits) and card_brand(digits) is None
