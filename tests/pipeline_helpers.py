"""Byte-level builders for the pipeline tests: frames, pcap and pcapng files, a recording flow sink.

Frames are packed with struct (fast enough for hypothesis); the scenario captures use scapy.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from netwatch.flows.table import Flow, FlowSink

if TYPE_CHECKING:  # only named in annotations: the byte builders stay light to import
    from netwatch.events import Event
    from netwatch.pipeline.session import Session

MAC = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"


def ip4(addr: str) -> bytes:
    return ipaddress.IPv4Address(addr).packed


def ipv4_packet(src: str, dst: str, proto: int, l4: bytes, ident: int = 1, frag: int = 0x4000) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, frag, 64, proto, 0, ip4(src), ip4(dst)) + l4


def tcp_segment(sport: int, dport: int, seq: int, flags: int, payload: bytes = b"", ack: int = 0) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack, 0x50, flags, 65535, 0, 0) + payload


def udp_datagram(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ether(ip_packet: bytes, ethertype: int = 0x0800, vlans: tuple[int, ...] = ()) -> bytes:
    tags = b"".join(struct.pack("!HH", 0x88A8 if i == 0 and len(vlans) > 1 else 0x8100, v)
                    for i, v in enumerate(vlans))
    return MAC + tags + struct.pack("!H", ethertype) + ip_packet


def tcp_frame(src: str, dst: str, sport: int, dport: int, seq: int, flags: int, payload: bytes = b"") -> bytes:
    return ether(ipv4_packet(src, dst, 6, tcp_segment(sport, dport, seq, flags, payload)))


def pcap_bytes(frames: list[tuple[float, bytes]], linktype: int = 1, order: str = "<", nano: bool = False,
               snaplen: int = 65535) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts, data in frames:
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if nano else 1e6))
        out.append(struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data)
    return b"".join(out)


def _block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def pcapng_bytes(linktypes: list[int], packets: list[tuple[int, float, bytes]], order: str = "<",
                 tsresol: int | None = None) -> bytes:
    """A section with one IDB per link type and an EPB per (interface, ts, data)."""
    shb = _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    out = [shb]
    tick = 1e-6
    for lt in linktypes:
        opts = b""
        if tsresol is not None:
            opts = struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0" + struct.pack(order + "HH", 0, 0)
            tick = 10.0 ** -tsresol
        out.append(_block(order, 1, struct.pack(order + "HHI", lt, 0, 262144) + opts))
    for iface, ts, data in packets:
        t = round(ts / tick)
        out.append(_block(order, 6, struct.pack(order + "IIIII", iface, t >> 32, t & 0xFFFFFFFF, len(data),
                                                len(data)) + data))
    return b"".join(out)


def write(tmp: Path, name: str, data: bytes) -> str:
    p = tmp / name
    p.write_bytes(data)
    return str(p)


class Recorder:
    """A FlowSink that keeps what the flow table delivered, per flow and direction."""

    def __init__(self) -> None:
        self.started: list[Flow] = []
        self.ended: list[Flow] = []
        self.data: dict[tuple[int, int], bytearray] = {}
        self.gaps: list[tuple[int, int]] = []
        self.datagrams: list[tuple[int, bytes]] = []
        self.variants: list[tuple[int, bytes]] = []  # differing copies of stream bytes (the copy itself)

    def flow_start(self, flow: Flow) -> None:
        self.started.append(flow)

    def stream(self, flow: Flow, direction: int, data: bytes, ts: float) -> None:
        self.data.setdefault((id(flow), direction), bytearray()).extend(data)

    def gap(self, flow: Flow, direction: int, size: int) -> None:
        self.gaps.append((direction, size))

    def variant(self, flow: Flow, direction: int, data: bytes, start: int, end: int, ts: float) -> None:
        self.variants.append((direction, data[start:end]))

    def datagram(self, flow: Flow, direction: int, data: bytes, ts: float) -> None:
        self.datagrams.append((direction, data))

    def flow_end(self, flow: Flow) -> None:
        self.ended.append(flow)

    def stream_of(self, flow: Flow, direction: int = 0) -> bytes:
        return bytes(self.data.get((id(flow), direction), b""))


GOLDEN_KEY = "00000000000000000000000000000000"  # the fingerprint key the golden files were made with


def scan_bundled(tmp_path: Path, capture: Path, *extra: str) -> list[dict]:
    """Scan one bundled capture through the CLI (exit 0 expected) and return its JSONL records."""
    import json

    from netwatch.cli import main

    out = tmp_path / f"{capture.stem}.jsonl"
    code = main(["scan", str(capture), "--json", str(out), "--key", GOLDEN_KEY, "--fail-on", "none", "-q", *extra])
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return [r for r in records if r["event_type"] == "finding"]  # the summary record closes the file



def replay(path: Path, sink: FlowSink) -> None:
    """Every frame of the capture at `path` through the real decoder and a flow table over `sink`."""
    from netwatch.capture.pcapfile import CaptureReader
    from netwatch.flows.table import FlowTable
    from netwatch.packets.decode import Decoder

    table = FlowTable(sink)
    dec = Decoder()
    with CaptureReader(str(path)) as reader:
        for ts, linktype, data, _wirelen in reader:
            p = dec.decode(linktype, data, ts)
            if p is not None:
                table.process(p)
    table.close()


def session_events(session: Session, path: Path) -> list[Event]:
    """Run the capture at `path` through `session` (then close it) and return every event its
    analyzers emitted, in order, as the session itself received them."""
    from netwatch.capture.pcapfile import CaptureReader

    events: list[Event] = []
    emit = session._emit
    session.dispatcher.emit = lambda ev: (events.append(ev), emit(ev))[1]
    with CaptureReader(str(path)) as reader:
        session.feed_blocks(reader.blocks())
    session.close()
    return events

