"""Text encodings of issue 22: form '+', base64 wrapped over lines, quoted-printable, JSON \\u00XX
escapes, XML/HTML references; each found and named, and their look-alikes silent.

Assertions compare masked values only; no test prints a full card number.
"""

from __future__ import annotations

import base64
import binascii
import random

import pytest

from netwatch.protocols.card_search import scan
from netwatch.redaction.masking import mask_pan

MC = "5454545454545454"
AMEX = "378282246310005"


def found(buf: bytes) -> list[tuple[str, str, str]]:
    return [(h[3], h[4], mask_pan(h[2])) for h in scan(buf)[0]]


def _wrap(data: bytes, width: int, nl: bytes) -> bytes:
    enc = base64.b64encode(data)
    return nl.join(enc[i : i + width] for i in range(0, len(enc), width))


@pytest.mark.parametrize(
    ("buf", "enc"),
    [
        (b"card_number=5454+5454+5454+5454&cvv=", "form"),
        (b"cc=3782+822463+10005&exp=1227", "form"),
        (b"Card: 54545454545=\r\n45454 exp 12/27\r\n", "qp"),  # soft line break inside the number
        (b"Card:=20=35=34=35=34=35=34=35=34=35=34=35=34=35=34=35=34\r\n", "qp"),  # every digit escaped
        (b'{"card_number":"\\u0035\\u0034\\u0035\\u0034545454545454"}', "json-escape"),
        (b'{"pan":"5454\\u00205454\\u00205454\\u00205454"}', "json-escape"),
        (b"<td>&#53;&#52;&#x35;&#x34;545454545454</td>", "html-entity"),
        (b"<cardNumber>5454&nbsp;5454&#160;5454&#xA0;5454</cardNumber>", "html-entity"),
        (b"<pan>5454&#8211;5454&ndash;5454-5454</pan>", "html-entity"),
        (b'{"pan_hex":"' + MC.encode().hex().encode() + b'"}', "hex"),  # ASCII digits as hex text
        (b"<DE2>" + b"5454 5454 5454 5454".hex().upper().encode() + b"</DE2>", "hex"),  # spaces as 20
        (b"track: " + b"5454-5454-5454-5454".hex().encode() + b" exp 1227", "hex"),  # dashes as 2d
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_text_layer_found_and_named(buf: bytes, enc: str) -> None:
    want = "378282*****0005" if b"3782" in buf else "545454******5454"
    assert found(buf) == [("pan", enc, want)]


@pytest.mark.parametrize(("width", "nl"), [(76, b"\r\n"), (64, b"\n"), (76, b"\n"), (64, b"\r\n")])
def test_wrapped_base64_card_on_every_line_offset(width: int, nl: bytes) -> None:
    """A CSV attachment: wherever the card falls against the line breaks, it is found once."""
    for pad in range(0, 3 * width // 4 + 3):
        csv = b"x" * pad + b"name,card_number\nJ Doe," + MC.encode() + b"\n"
        body = b"Content-Transfer-Encoding: base64\r\n\r\n" + _wrap(csv, width, nl) + nl + b"--b--\r\n"
        assert found(body) == [("pan", "base64", "545454******5454")], pad


def test_wrapped_base64_span_covers_the_card_across_the_break() -> None:
    csv = b"y" * 40 + b"card " + MC.encode() + b"\n"
    body = _wrap(csv, 64, b"\n")
    (hit,) = scan(body)[0]
    region = body[hit[0] : hit[1]]
    assert b"\n" in region  # the card straddles the break at character 64
    groups = region.replace(b"\n", b"")
    raw = binascii.a2b_base64(groups + b"=" * (-len(groups) % 4))
    assert MC.encode() in raw  # the span starts on a 4-character group and holds every digit


def test_wrapped_base64_cut_mid_line_is_realigned() -> None:
    """A stream chunk may begin anywhere inside a block (the tail of the previous chunk)."""
    data = b"z" * 500 + b"pan " + MC.encode() + b" end" + b"z" * 300
    wrapped = _wrap(data, 76, b"\r\n")
    for cut in range(0, 600, 7):
        assert found(wrapped[cut:]) == [("pan", "base64", "545454******5454")], cut


@pytest.mark.parametrize(
    "buf",
    [
        b"sku=4006381333931+4006381333948+4006381333955+9501101530003",  # a '+'-joined list of EANs
        b"items=1234+5678+9012+3456&q=2",  # four-digit codes, not Luhn-valid as a card
        b"tel=+49+1511+2345+6789+0",  # phone-number style
        _wrap(random.Random(22).randbytes(40_000), 76, b"\r\n"),  # base64 of random bytes across lines
        b"total=3D12.50=\r\nEUR order 2023=\r\n1125 ref 0000=\r\n0000 0000 0000\r\n",  # QP, no card
        b'{"ts":"\\u0031700000000123","id":"\\u00300000000000000000"}',  # escaped timestamps and zeros
        b"<p>&#49;&#55;00000000123 &amp; 0000&nbsp;0000&nbsp;0000&nbsp;0000</p>",
        b"sha256=" + bytes(random.Random(7).randbytes(32)).hex().encode(),  # a digest: random hex
        b"id=" + b"1700000000123".hex().encode() + b" n=" + b"5454545454545455".hex().encode(),  # not Luhn
        b"serial=31323334353637383930313233343536373839303132",  # hex of a counting run: no card
    ],
    ids=lambda v: "",
)
def test_text_layer_lookalikes_silent(buf: bytes) -> None:
    assert found(buf) == []


def test_text_layers_hold_a_run_at_the_end_of_a_chunk() -> None:
    """A stream chunk that ends inside an encoded run keeps it for the next chunk."""
    for buf in (b"a=1&card=5454+5454+5454+54", b"x Card: 5454545454=\r\n54", b'"\\u0035\\u00344545'):
        hits, hold = scan(b"filler " * 10 + buf)
        assert hits == [] and hold < 70 + len(buf) - 4
