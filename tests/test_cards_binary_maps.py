"""Card numbers as strings in binary maps (CBOR, RFC 8949; MessagePack): the string's head is a length
byte glued to the digits (in CBOR a letter: `p` for 16), which must not make the number "part of a
longer token", and the map key before it names the field as a JSON key would.

Encoded here from the formats' layouts (major type and length in one head byte), never by netwatch.
"""

from __future__ import annotations

import struct

import pytest

from netwatch.protocols.card_context import BufferJudge
from netwatch.protocols.card_search import scan

VISA = "4539578763621486"


def cbor(v: object) -> bytes:
    """RFC 8949 §3: a head byte of major type << 5 | length (lengths < 24 in the byte, else 1 or 2 more)."""
    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        return bytes([major << 5 | 24, n]) if n < 256 else bytes([major << 5 | 25]) + struct.pack(">H", n)
    if isinstance(v, int):
        return head(0, v)
    if isinstance(v, str):
        return head(3, len(v.encode())) + v.encode()
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(cbor(x) for x in v)
    assert isinstance(v, dict)
    return head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())


def msgpack(v: object) -> bytes:
    """MessagePack: positive fixint, fixstr (0xa0 | length), fixarray (0x90 | n), fixmap (0x80 | n)."""
    if isinstance(v, int):
        return bytes([v]) if v < 128 else b"\xcd" + struct.pack(">H", v)
    if isinstance(v, str):
        return bytes([0xA0 | len(v.encode())]) + v.encode()
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(msgpack(x) for x in v)
    assert isinstance(v, dict)
    return bytes([0x80 | len(v)]) + b"".join(msgpack(k) + msgpack(x) for k, x in v.items())


@pytest.mark.parametrize(
    ("buf", "confidence"),
    [
        (cbor({"store": "S1", "pan": VISA, "amount": 1250}), "high"),
        (cbor({"cardNumber": "4539 5787 6362 1486", "exp": "12/28"}), "high"),
        (cbor(["sale", VISA, 3]), "medium"),
        (cbor({"orderId": VISA}), "low"),
        (msgpack({"store": "S1", "pan": VISA}), "high"),
        (msgpack([1, VISA]), "medium"),
        (msgpack({"loyaltyNumber": VISA}), "low"),
    ],
    ids=["cbor-pan", "cbor-grouped", "cbor-bare", "cbor-order", "msgpack-pan", "msgpack-bare", "msgpack-loyalty"],
)
def test_strings_in_binary_maps(buf: bytes, confidence: str) -> None:
    hits = scan(buf)[0]
    assert len(hits) == 1
    assert BufferJudge(buf)(hits[0], "datagram").confidence == confidence


@pytest.mark.parametrize(
    "buf",
    [
        b"session=xyzp" + VISA.encode() + b"cabc",  # ASCII text: a token, as before
        b"\xa1\x02\x7fid=Kq" + VISA.encode() + b"xq",  # binary around, but 'q' is no head of 16 bytes
    ],
    ids=["ascii-token", "length-mismatch"],
)
def test_glued_letters_elsewhere_stay_a_token(buf: bytes) -> None:
    hits = scan(buf)[0]
    assert len(hits) == 1 and BufferJudge(buf)(hits[0], "datagram").excluded
