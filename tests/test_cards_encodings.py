"""Card scanning per encoding, per ISO 8583 variant, the HTTP parser, and what must not fire.

Assertions compare masked values and brands only; no test prints a full card number.
"""

from __future__ import annotations

import base64
import gzip
import struct
import zlib

import iso8583 as pyiso
import pytest

from netwatch.protocols.card_dns import scan_dns_name
from netwatch.protocols.card_numbers import card_brand
from netwatch.protocols.card_search import scan
from netwatch.protocols.http import HttpParser, decode_content
from netwatch.protocols.iso8583 import (
    _BCD_SPECS,
    SPEC_BINMAP,
    SPEC_HEXMAP,
    card_hits,
    looks_like_iso8583,
    parse_message,
)
from netwatch.redaction.masking import mask_pan

VISA = "4111111111111111"
MC2 = "2223000048400011"
AMEX = "378282246310005"
UNIONPAY_NO_LUHN = "6212345678901234560"


def found(buf: bytes) -> list[tuple[str, str, str, bool]]:
    """(kind, encoding, masked, expiry_present) per hit: safe to show."""
    return [(h[3], h[4], mask_pan(h[2]), h[5]) for h in scan(buf)[0]]


@pytest.mark.parametrize(
    ("digits", "brand"),
    [(VISA, "visa"), ("5555555555554444", "mastercard"), (MC2, "mastercard"), (AMEX, "amex"),
     ("6011111111111117", "discover"), ("3530111333300000", "jcb"), ("30569309025904", "diners"),
     ("6759649826438453", "maestro"), ("2200000000000004", "mir")],
)
def test_brands(digits: str, brand: str) -> None:
    assert card_brand(digits) == brand


def test_unionpay_without_luhn_only_where_structured() -> None:
    assert card_brand(UNIONPAY_NO_LUHN) is None
    assert card_brand(UNIONPAY_NO_LUHN, structured=True) == "unionpay"
    assert card_brand("4111111111111112", structured=True) is None  # other brands always need Luhn


@pytest.mark.parametrize(
    ("buf", "want"),
    [
        (b"pan=" + VISA.encode() + b"&x=1", ("pan", "ascii")),
        (b"card " + " ".join(VISA[i : i + 4] for i in range(0, 16, 4)).encode() + b" ok", ("pan", "ascii")),
        (b"card " + "-".join((AMEX[:4], AMEX[4:10], AMEX[10:])).encode() + b" ok", ("pan", "ascii")),
        (b"card " + " ".join(VISA[i : i + 4] for i in range(0, 16, 4)).encode() + b" 12/28", ("pan", "ascii")),
        (b"card " + "-".join(VISA[i : i + 4] for i in range(0, 16, 4)).encode() + b" 1/2028", ("pan", "ascii")),
        (b"card " + " ".join((AMEX[:4], AMEX[4:10], AMEX[10:])).encode() + b" 09/27", ("pan", "ascii")),
        (b"%B" + VISA.encode() + b"^DOE/JOHN^25121010000000000000?", ("track1", "ascii")),
        (b";" + VISA.encode() + b"=25121011234567890?", ("track2", "ascii")),
        (b"x " + VISA.encode() + b"=25121011234567890 y", ("track2", "ascii")),
        (("pan:" + VISA + ";").encode("utf-16-le"), ("pan", "utf16")),
        (b"\xfe\xff" + ("pan:" + VISA + ";").encode("utf-16-be"), ("pan", "utf16")),
        (b"\x01\x02" + (";" + VISA + "=2512101?").encode("cp500") + b"\x03", ("track2", "ebcdic")),
        (b"\x01\x02\x16" + bytes.fromhex(VISA) + b"\x00", ("pan", "bcd")),
        (b"\x9f\x02\x5a\x08" + bytes.fromhex(VISA) + b"\x5f\x24", ("pan", "bcd")),
        (b"\x01\x57\x13" + bytes.fromhex(VISA + "d2512101123456789f"), ("track2", "bcd")),
        (b"\x01\xaa" + bytes.fromhex(VISA + "d25121011234") + b"\xff", ("track2", "bcd")),
        (b"data=" + base64.b64encode(b";" + VISA.encode() + b"=2512101?") + b"&", ("track2", "base64")),
        (b"d=" + base64.urlsafe_b64encode(b"\xfb\xff" + VISA.encode()).rstrip(b"=") + b" ", ("pan", "base64")),
        (b"q=%34%31%31%31" + VISA[4:].encode() + b"%26", ("pan", "url")),
        (b"d=" + base64.b64encode(b"\x00" + VISA.encode()).replace(b"+", b"%2B").replace(b"=", b"%3D") + b" ",
         ("pan", "base64")),
    ],
    ids=lambda v: "" if isinstance(v, bytes) else "-".join(v),
)
def test_each_encoding_found_once(buf: bytes, want: tuple[str, str]) -> None:
    hits = found(buf)
    assert [(k, e) for k, e, _m, _x in hits] == [want]
    assert hits[0][2] in ("411111******1111", "378282*****0005")
    if want[0] != "pan":
        assert hits[0][3] is True


def test_url_wrapped_base64_is_named_outermost_first() -> None:
    inner = base64.b64encode(b"\x00\x01" + VISA.encode())
    buf = b"d=" + inner[:9] + b"%%%02X" % inner[9] + inner[10:] + b" "  # one character percent-encoded
    assert [(k, e) for k, e, _m, _x in found(buf)] == [("pan", "url+base64")]


@pytest.mark.parametrize(
    "buf",
    [
        VISA[:-1].encode() + b"2",  # Luhn fails
        b"12345" + VISA.encode(),  # inside a longer digit run
        VISA.encode() + b"7",
        b"+" + VISA.encode(),  # phone-number style
        b"7000000000000008 1000000000000009",  # Luhn-valid, no issuer prefix
        VISA.encode() + b"1",  # Visa prefix, 17 digits
        b"1700000000123 1700000000123456",  # timestamps
        UNIONPAY_NO_LUHN.encode(),  # free text: UnionPay must pass Luhn
        b"ORD-2023112500001234 0000 0000 0000 0000",
        " ".join(VISA[i : i + 4] for i in range(0, 16, 4)).encode() + b" 2812 0001",  # a longer grouped number
        VISA.encode("utf-16-le")[:-2] + b"7\x00",
        b"\x16" + bytes.fromhex(VISA[:-1] + "2"),  # BCD with context but bad Luhn
        bytes.fromhex(VISA),  # BCD without any context
        b"\x01\x16" + bytes.fromhex("4000000000000002"),  # generic BCD: a run of six zeros is padding, not a card
        b"\x01\x19" + bytes.fromhex(UNIONPAY_NO_LUHN + "f"),  # generic BCD: UnionPay must pass Luhn
        b"\x01\xaa" + bytes.fromhex(MC2 + "d25131011234") + b"\xff",  # BCD track 2 with month 13
        b"x " + VISA.encode() + b"=25124011234567890 y",  # ASCII 'track 2' with service code 4
    ],
    ids=lambda v: "",
)
def test_lookalikes_do_not_fire(buf: bytes) -> None:
    assert found(buf) == []


def test_dns_names() -> None:
    def kinds(name: str) -> list[tuple[str, str]]:
        return [(h[4], mask_pan(h[2])) for h in scan_dns_name(name)]

    assert kinds(VISA + ".a.example") == [("ascii", "411111******1111")]
    assert kinds("411111.1111111111.a.example") == [("ascii", "411111******1111")]
    assert kinds(VISA.encode().hex() + ".a.example") == [("hex", "411111******1111")]
    assert kinds("www.example.com") == []
    assert kinds("1700000000123.cdn.example") == []


# -- ISO 8583 ----------------------------------------------------------------------------------------
DOC = {"t": "0200", "2": VISA, "3": "000000", "4": "000000001000", "14": "2512", "22": "051",
       "35": VISA + "=25121011234567890", "41": "TERM0001", "52": "A1B2C3D4E5F60718",
       "55": "5A08" + MC2 + "5F2403251231"}


def _variants() -> list[tuple[str, bytes, str]]:
    raw, _ = pyiso.encode(dict(DOC), SPEC_BINMAP)
    out = [("ascii", struct.pack("!H", len(raw)) + raw, "none")]
    raw, _ = pyiso.encode(dict(DOC), SPEC_HEXMAP)
    out.append(("ascii-hexmap", b"%04d" % len(raw) + raw, "none"))
    bdoc = dict(DOC, **{"2": UNIONPAY_NO_LUHN, "35": UNIONPAY_NO_LUHN + "D25122011143804400"})
    raw, _ = pyiso.encode(bdoc, _BCD_SPECS[0])
    tpdu, cup = b"\x60\x00\x03\x00\x00", b"\x60\x31\x00\x31\x13\x01"
    for hdr, name in ((b"", "none"), (tpdu, "tpdu"), (tpdu + cup, "tpdu+cup")):
        body = hdr + raw
        out.append(("bcd", struct.pack("!H", len(body)) + body, name))
    return out


@pytest.mark.parametrize(("variant", "framed", "header"), _variants(), ids=lambda v: v if isinstance(v, str) else "")
def test_iso8583_variants(variant: str, framed: bytes, header: str) -> None:
    assert looks_like_iso8583(framed)
    pre = 4 if framed[:4].isdigit() else 2
    msg = parse_message(framed[pre:])
    assert msg is not None
    assert (msg.mti, msg.variant, msg.header, msg.complete) == ("0200", variant, header, True)
    assert {2, 14, 22, 35, 52, 55} <= set(msg.fields_present)
    hits = [(f, h[3], h[4], mask_pan(h[2])) for f, h in card_hits(msg)]
    enc = "bcd" if variant == "bcd" else "ascii"
    first = "621234*********4560" if variant == "bcd" else "411111******1111"
    assert hits == [("35", "track2", enc, first), ("2", "pan", enc, first), ("55", "pan", "bcd", "222300******0011")]


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01" * 20, b"\x00\x30" + b"hello world " * 4,
     b"SSH-2.0-OpenSSH_9.0\r\n", b"", b"\x00\x05\x02\x00"],
    ids=lambda v: "",
)
def test_iso8583_recogniser_rejects(data: bytes) -> None:
    assert not looks_like_iso8583(data)


# -- HTTP --------------------------------------------------------------------------------------------
def test_http_chunked_gzip_pipelined_and_split() -> None:
    doc = b'{"pan":"' + AMEX.encode() + b'"}'
    gz = gzip.compress(doc, mtime=0)
    body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (5, gz[:5], len(gz) - 5, gz[5:])
    stream = (b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + body
              + b"GET /b?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    p = HttpParser()
    msgs = []
    for i in range(0, len(stream), 7):
        msgs += p.feed(stream[i : i + 7])
    assert p.error is None
    assert [m.target for m in msgs] == [b"/a", b"/b?x=1"]
    assert msgs[0].content_encoding == "gzip" and not msgs[0].truncated
    assert [(k, e) for k, e, _m, _x in found(msgs[0].body)] == [("pan", "ascii")]


def test_http_response_until_close_and_bad_input() -> None:
    p = HttpParser()
    assert p.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ") == []
    p.feed(b"world")
    (msg,) = p.eof()
    assert msg.body == b"hello world" and not msg.is_request
    bad = HttpParser()
    bad.feed(b"\x16\x03\x01\x02\x00garbage that is not http at all")
    assert bad.error is not None


def test_decompression_is_capped_against_bombs() -> None:
    bomb = zlib.compress(b"\0" * 20_000_000, 9)
    out, truncated = decode_content(bomb, b"deflate", cap=1_000_000)
    assert len(out) == 1_000_000 and truncated
    raw = zlib.compressobj(wbits=-15)
    data = raw.compress(b"x" * 100) + raw.flush()
    assert decode_content(data, b"deflate") == (b"x" * 100, False)
    assert decode_content(b"not compressed", b"gzip") is None or decode_content(b"not compressed", b"gzip")[0] == b""
