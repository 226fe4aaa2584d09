"""br and zstd bodies (issue 22) beside gzip/deflate: decoded for the card scan, stacked codings undone
last first, and every coding bounded by the cap (a bomb costs at most the cap)."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from netwatch.protocols.http import HttpParser, coding_name, decode_content

DOC = b'{"card_number":"6011 0009 9013 9424","total":"42.00"}'


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        (b"br", brotli.compress(DOC)),
        (b"zstd", zstandard.ZstdCompressor().compress(DOC)),
        (b"gzip, br", brotli.compress(gzip.compress(DOC, mtime=0))),
        (b"deflate", zlib.compress(DOC)),
    ],
    ids=lambda v: v.decode() if isinstance(v, bytes) and len(v) < 10 else "",
)
def test_codings_decode(coding: bytes, body: bytes) -> None:
    assert decode_content(body, coding) == (DOC, False)


def test_stacked_coding_is_named_outermost_first() -> None:
    assert coding_name(b"gzip, br") == "br+gzip"
    assert coding_name(b"x-gzip") == "gzip"
    assert coding_name(b"zstd") == "zstd"


def test_message_body_decoded_and_named() -> None:
    body = zstandard.ZstdCompressor().compress(DOC)
    p = HttpParser()
    (msg,) = p.feed(b"POST /s HTTP/1.1\r\nContent-Encoding: zstd\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert (msg.body, msg.content_encoding, msg.truncated) == (DOC, "zstd", False)


@pytest.mark.parametrize("coding", [b"br", b"zstd", b"gzip"])
def test_bombs_stop_at_the_cap(coding: bytes) -> None:
    zeros = b"\0" * 50_000_000
    make = {b"br": lambda: brotli.compress(zeros, quality=4), b"gzip": lambda: gzip.compress(zeros, compresslevel=1),
            b"zstd": lambda: zstandard.ZstdCompressor().compress(zeros)}
    bomb = make[coding]()
    out, truncated = decode_content(bomb, coding, cap=1_000_000)
    assert len(out) == 1_000_000 and truncated


@pytest.mark.parametrize("coding", [b"br", b"zstd", b"compress"])
def test_not_decodable_is_none(coding: bytes) -> None:
    assert decode_content(b"this is not compressed at all", coding) is None


@pytest.mark.parametrize("n", [5, 9, 64, 4097, 65540, 65541, 65542, 131081, 300_000])
def test_evidence_fillers_decode_to_filler_at_the_exact_length(n: int) -> None:
    """What evidence writes over a br / zstd body or an HPACK block holding a card stays decodable."""
    import hpack

    from netwatch.redaction.stored import hpack_filler, stored_brotli, stored_zstd

    br, zs, hp = stored_brotli(n), stored_zstd(n), hpack_filler(n)
    assert br is not None and len(br) == n and set(brotli.decompress(br)) == {ord("*")}
    if n >= 9:
        assert zs is not None and len(zs) == n
        assert set(zstandard.ZstdDecompressor().stream_reader(zs).read()) <= {ord("*")}
    decoder = hpack.Decoder()
    decoder.max_header_list_size = 1 << 24
    assert len(hp) == n and all(set(v) <= {"*"} or k == "accept-encoding" for k, v in decoder.decode(hp))
