"""Hostile blocks of frames for the compiled core's entry point, shared by the bounded test
(tests/test_core_fuzz.py) and the longer run in benchmarks/fuzz_core.py.

Frames are built around the headers the core reads (link, IPv4, TCP/UDP/ESP) with every field
free, then cut at any length, so the generator reaches every branch of the header decode and the
reads near a frame's end; some frames are plain random bytes. Each block goes through a Session on
each core, and the reports must be equal.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from netwatch.capture import blocks as frame_blocks
from netwatch.capture.blocks import block_of
from netwatch.capture.compiled import records
from netwatch.flows import fastpath
from netwatch.flows.core import compiled
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session
from netwatch.redaction.masking import Fingerprinter

LINKTYPES = [1, 1, 1, 113, 276, 101, 12, 0, 228]
ADDRS = [bytes((10, 0, 0, 1)), bytes((10, 0, 0, 2)), bytes((203, 0, 113, 5))]  # few, so flows recur


@st.composite
def frame(draw: Any) -> tuple[float, int, bytes, int]:
    lt = draw(st.sampled_from(LINKTYPES))
    if draw(st.integers(0, 9)) == 0:
        data = draw(st.binary(max_size=80))
        return 0.0, lt, data, len(data)
    link = {1: b"\x02" * 12 + (b"\x81\x00\x00\x01" if draw(st.booleans()) else b"") + b"\x08\x00",
            113: b"\x00" * 14 + b"\x08\x00", 276: b"\x08\x00" + b"\x00" * 18}.get(lt, b"")
    proto = draw(st.sampled_from([6, 6, 17, 50, 1, draw(st.integers(0, 255))]))
    body = draw(st.binary(max_size=40))
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", draw(st.sampled_from([80, 443, 40000])), draw(st.sampled_from([80, 443, 4789])),
                         draw(st.integers(0, 2**32 - 1)), 0, draw(st.sampled_from([0x50, 0x80, 0x40, 0xF0])),
                         draw(st.integers(0, 255)), 0, 0, 0)
    elif proto == 17:
        l4 = struct.pack("!HHHH", draw(st.sampled_from([53, 4789, 5353])), draw(st.sampled_from([53, 4789, 123])),
                         8 + len(body), 0)
    else:
        l4 = b""
    total = draw(st.one_of(st.just(20 + len(l4) + len(body)), st.integers(0, 0xFFFF)))
    ip = struct.pack("!BBHHHBBH4s4s", draw(st.sampled_from([0x45, 0x45, 0x46, 0x60, 0x00])), 0, total, 0,
                     draw(st.sampled_from([0, 0x4000, 0x2000, 0x0001])), 64, proto, 0,
                     draw(st.sampled_from(ADDRS)), draw(st.sampled_from(ADDRS)))
    data = link + ip + l4 + body
    cut = draw(st.integers(0, len(data)))
    data = data[:cut] if draw(st.booleans()) else data
    return draw(st.floats(0, 1000, allow_nan=False)), lt, data, len(data)


blocks = st.lists(st.lists(frame(), min_size=1, max_size=80), min_size=1, max_size=4)


@contextlib.contextmanager
def core(pure: bool) -> Iterator[None]:
    """Run the fast path on one core for the block."""
    saved = fastpath.compiled, frame_blocks.records
    fastpath.compiled, frame_blocks.records = (None, None) if pure else (compiled, records)
    try:
        yield
    finally:
        fastpath.compiled, frame_blocks.records = saved


_RULES: list[RuleSet] = []


def outcome(frame_blocks: list[list[tuple[float, int, bytes, int]]], pure: bool) -> tuple[object, ...]:
    """What one session reports after these blocks, on one core."""
    if not _RULES:
        _RULES.append(RuleSet.load([]))
    with core(pure):
        s = Session(_RULES[0], None, "fuzz", fingerprint=Fingerprinter(bytes(16)))
        flows: list[tuple[object, ...]] = []
        for frames in frame_blocks:
            s.feed_blocks([block_of(sorted(frames, key=lambda f: f[0]))])
            flows.append(tuple(sorted((f.src, f.client_port, f.dst, f.server_port, f.proto, tuple(f.packets),
                                       tuple(f.bytes), f.closed, f.last_ts) for f in s.flows.live)))
        r = s.close()
    return (r.packets, r.bytes, r.flows, r.decode_errors, r.losses, r.tcp_gaps, r.inventory, flows,
            [(f.rule, f.src, f.dst, f.count, f.first_packet, f.last_packet) for f in r.findings])


@st.composite
def pcap_file(draw: Any) -> bytes:
    """A classic pcap (either byte order, µs or ns) whose record lengths are free: cut, huge, zero."""
    magic = draw(st.sampled_from([0xA1B2C3D4, 0xA1B23C4D]))
    order = draw(st.sampled_from(["<", ">"]))
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, draw(st.sampled_from([1, 101, 113])))]
    for _ in range(draw(st.integers(0, 30))):
        data = draw(st.binary(max_size=64))
        caplen = draw(st.one_of(st.just(len(data)), st.integers(0, 300_000)))
        out.append(struct.pack(order + "IIII", draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)),
                               caplen, draw(st.integers(0, 2**32 - 1))) + data)
    blob = b"".join(out)
    return blob[: draw(st.integers(0, len(blob)))] if draw(st.booleans()) else blob


def walk_outcome(data: bytes, pure: bool) -> tuple[object, ...]:
    """Every block the pcap reader makes of `data`, and where it says the input broke, on one core."""
    import io

    from netwatch.capture import CaptureError
    from netwatch.capture.pcapfile import CaptureReader

    with core(pure):
        try:
            reader = CaptureReader.from_stream(io.BytesIO(data), "fuzz")
        except CaptureError as e:  # too short for a header: the same one-line error on either core
            return [], str(e)
        got = [(b.buf[s : s + c], int(w), float(t), int(lt))
               for b in reader.blocks() for s, c, w, t, lt in zip(b.start, b.caplen, b.wirelen, b.ts, b.linktype,
                                                                 strict=True)]
    return got, reader.problem


# flow populations for the sweep's idle walk: protocol, server port, closed, packets per direction, last time
flow_states = st.lists(st.tuples(st.sampled_from([6, 17, 50]), st.sampled_from([53, 443, 80, 4500]), st.booleans(),
                                 st.integers(0, 3), st.integers(0, 3), st.floats(0, 2000, allow_nan=False)),
                       max_size=40)
sweep_times = st.floats(0, 2500, allow_nan=False)


def _population(cls: Any, states: list[tuple[int, int, bool, int, int, float]], first: int = 0) -> dict[Any, None]:
    live: dict[Any, None] = {}
    for i, (proto, port, closed, c2s, s2c, last) in enumerate(states, first):
        f = cls(bytes((10, 0, 0, 1)), 40000 + i, bytes((10, 0, 0, 2)), port, proto, 0.0)
        f.closed, f.packets, f.last_ts = closed, [c2s, s2c], last
        live[f] = None
    return live


def idle_outcome(states: list[tuple[int, int, bool, int, int, float]], now: float, pure: bool) -> tuple[object, ...]:
    """The flows (by client port) one core's idle walk picks: from its own Flow type, and from a table
    whose every other flow is of the other core's type."""
    from netwatch.flows import table

    assert compiled is not None
    cls, walk = (table.Flow, table.idle_flows) if pure else (compiled.Flow, compiled.idle_flows)
    own = [f.client_port for f in walk(_population(cls, states), now)]
    mixed = {**_population(table.Flow, states[::2]), **_population(compiled.Flow, states[1::2], len(states))}
    return own, sorted(f.client_port for f in walk(mixed, now))
