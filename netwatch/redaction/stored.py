"""Encoded data of an exact length that decodes to FILLER only: what evidence writes over a br or
zstd body, or an HTTP/2 header block, that held a card, so the capture stays valid (Content-Length,
frame lengths, the decoders in Wireshark) and nothing sensitive is left. Brotli and zstd have stored
(raw) blocks; HPACK has literal fields that do not touch the dynamic table.
"""

from __future__ import annotations

FILLER = ord("*")
BROTLI_BLOCK = 1 << 16  # an uncompressed meta-block with 4 length nibbles holds up to 65536 bytes
ZSTD_BLOCK = 1 << 17  # a raw block holds up to 128 KiB (the window below is 128 KiB)
ZSTD_HEAD = b"\x28\xb5\x2f\xfd\x00\x38"  # magic, descriptor (no size, no checksum), window 2^17


def _split(total: int, blocks: int, most: int) -> list[int] | None:
    if blocks <= 0 or total < 0 or total > blocks * most:
        return None
    base, extra = divmod(total, blocks)
    return [base + (1 if i < extra else 0) for i in range(blocks)]


def stored_brotli(n: int) -> bytes | None:
    """An n-byte brotli stream (RFC 7932) of uncompressed meta-blocks of FILLER, or None if n < 5."""
    for blocks in range(1, n // BROTLI_BLOCK + 2):
        sizes = _split(n - 1 - 3 * blocks, blocks, BROTLI_BLOCK)
        if sizes is None or min(sizes) < 1:
            continue
        out = bytearray()
        for i, size in enumerate(sizes):
            # bits, least significant first: [WBITS=0 (16)] ISLAST=0, MNIBBLES=0 (4 nibbles),
            # MLEN-1 (16 bits), ISUNCOMPRESSED=1; then zero bits up to the byte boundary
            bits = (0 if i else 1, 0), (1, 0), (2, 0), (16, size - 1), (1, 1)
            value, width = 0, 0
            for w, v in bits:
                value |= v << width
                width += w
            out += value.to_bytes(3, "little") + bytes([FILLER]) * size
        out.append(0x03)  # ISLAST=1, ISLASTEMPTY=1
        return bytes(out)
    return None


def stored_zstd(n: int) -> bytes | None:
    """An n-byte zstd frame (RFC 8878) of raw blocks of FILLER, or None if n < 9."""
    for blocks in range(1, n // ZSTD_BLOCK + 2):
        sizes = _split(n - len(ZSTD_HEAD) - 3 * blocks, blocks, ZSTD_BLOCK)
        if sizes is None:
            continue
        out = bytearray(ZSTD_HEAD)
        for i, size in enumerate(sizes):
            last = 1 if i == len(sizes) - 1 else 0
            out += (last | size << 3).to_bytes(3, "little") + bytes([FILLER]) * size  # block type 0: raw
        return bytes(out)
    return None


def hpack_filler(n: int) -> bytes:
    """n bytes of HPACK: literal fields without indexing named `x`, values of FILLER (RFC 7541 6.2.2),
    so the peer's dynamic table is left as it was; 1-3 bytes left over are indexed static fields."""
    out = bytearray()
    while n - len(out) >= 4:
        size = min(n - len(out), 130)
        if 0 < n - len(out) - size < 4:
            size -= 4
        out += b"\x00\x01x" + bytes([size - 4]) + bytes([FILLER]) * (size - 4)
    out += b"\x90" * (n - len(out))  # static index 16: accept-encoding: gzip, deflate
    return bytes(out)
