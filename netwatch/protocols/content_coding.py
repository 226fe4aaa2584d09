"""HTTP content codings (gzip, deflate, br, zstd, and stacks of them) undone up to a cap, so a
compression bomb costs at most the cap. Pure functions."""

from __future__ import annotations

import zlib

# brotli and zstandard are imported where a body needs them: zstandard (with the `platform` module it
# loads) was ~7 ms of every scan's start-up, and most captures carry neither coding

MAX_DECODED = 4 * 1024 * 1024  # decompressed bytes kept per message


def decode_content(body: bytes, coding: bytes, cap: int = MAX_DECODED) -> tuple[bytes, bool] | None:
    """Decompress a gzip/deflate/br/zstd body to at most `cap` bytes: (data, truncated), or None if
    not compressed (or not by a coding known here). Codings applied in turn (`gzip, br`) are undone
    last first; every step stops at the cap, so a bomb costs at most the cap."""
    steps = [c.strip().lower() for c in coding.split(b",") if c.strip() and c.strip().lower() != b"identity"]
    if not steps or len(steps) > 3:
        return None
    cut = False
    for step in reversed(steps):
        out = _decode_one(body, step, cap)
        if out is None:
            return None
        body, cut = out[0], cut or out[1]
    return body, cut


def coding_name(coding: bytes) -> str:
    """A Content-Encoding as the card scan names it: outermost first (`gzip, br` is `br+gzip`)."""
    steps = [c.strip().lower().decode("ascii", "replace").removeprefix("x-") for c in coding.split(b",")]
    return "+".join(reversed([c for c in steps if c and c != "identity"]))


def _decode_one(body: bytes, coding: bytes, cap: int) -> tuple[bytes, bool] | None:
    if coding == b"br":
        return _brotli(body, cap)
    if coding == b"zstd":
        return _zstd(body, cap)
    tries: tuple[int, ...]
    if coding in (b"gzip", b"x-gzip"):
        tries = (47,)
    elif coding == b"deflate":
        tries = (15, -15)  # zlib-wrapped as the RFC says, or raw deflate as many servers send
    else:
        return None
    for wbits in tries:
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(body, cap)
        except zlib.error:
            continue
        return out, bool(d.unconsumed_tail) or (not d.eof and len(out) >= cap)
    return None


def _brotli(body: bytes, cap: int) -> tuple[bytes, bool] | None:
    """Brotli (RFC 7932): the decoder's output buffer stops growing at the cap."""
    import brotli  # type: ignore[import-untyped]

    d = brotli.Decompressor()
    try:
        out = d.process(body, output_buffer_limit=cap)
    except brotli.error:
        return None
    if not out and not d.is_finished():
        return None  # not brotli after all (or nothing decodable)
    if len(out) > cap:
        return out[:cap], True
    return out, not d.is_finished()


def _zstd(body: bytes, cap: int) -> tuple[bytes, bool] | None:
    """Zstandard (RFC 8878): read through a stream reader, at most cap + 1 bytes."""
    import zstandard

    try:
        with zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True) as reader:
            out = reader.read(cap + 1)
    except zstandard.ZstdError:
        return None
    return (out[:cap], True) if len(out) > cap else (out, False)
