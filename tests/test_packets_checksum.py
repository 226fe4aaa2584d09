"""The evidence writer's Internet checksum (RFC 1071) against dpkt's word-by-word one, which it
replaced for speed: the same value on random data of every length parity and on the edge cases
(all zeros, a sum of exactly 0xFFFF, words that carry)."""

from __future__ import annotations

import random

import dpkt
import pytest

from netwatch.packets.frames import internet_checksum


def test_random_data_of_every_length() -> None:
    rng = random.Random(1071)
    for n in list(range(0, 64)) + [575, 576, 1459, 1460, 9001]:
        for _ in range(25):
            data = rng.randbytes(n)
            assert internet_checksum(data) == dpkt.in_cksum(data), n


@pytest.mark.parametrize("data", [b"", b"\0", b"\0" * 20, b"\xff\xff", b"\xff\xff" * 7, b"\x00\x01\xff\xfe",
                                  b"\xff", b"\x80\x00\x80\x00", bytes(range(256)) * 3])
def test_edge_cases(data: bytes) -> None:
    assert internet_checksum(data) == dpkt.in_cksum(data)
