"""Crafted captures for the bound tests: hostile shapes written with struct (fast, deterministic).

Card numbers here are the brands' published test numbers.
"""

from __future__ import annotations

import random
from pathlib import Path

from pipeline_helpers import ether, ipv4_packet, pcap_bytes, tcp_segment, udp_datagram

CARD = b"4111111111111111"
CARD2 = b"5500000000000004"
T0 = 1_700_000_000.0
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def random_destinations(path: Path, n: int, seed: int = 3) -> None:
    """`n` UDP datagrams, each to a fresh random destination address and port, plus one heavy one."""
    rng = random.Random(seed)
    frames = [(T0, ether(ipv4_packet("10.0.0.5", "198.51.100.9", 17, udp_datagram(40000, 4444, b"\x8f" * 900))))]
    for i in range(n):
        dst = ".".join(str(rng.randrange(1, 224)) for _ in range(4))
        l4 = udp_datagram(rng.randrange(1024, 65535), rng.randrange(1, 65535), rng.randbytes(8))
        frames.append((T0 + 0.001 * (i + 1), ether(ipv4_packet("10.0.0.5", dst, 17, l4))))
    path.write_bytes(pcap_bytes(frames))


class Tcp:
    """One TCP connection written segment by segment (client 10.0.0.5:40000 → server:port)."""

    def __init__(self, server: str = "198.51.100.7", port: int = 9000, isn: tuple[int, int] = (1000, 5000)) -> None:
        self.server, self.port = server, port
        self.isn = list(isn)
        self.frames: list[tuple[float, bytes]] = []

    def _add(self, d: int, seq: int, flags: int, data: bytes = b"") -> None:
        src, dst, sp, dp = ("10.0.0.5", self.server, 40000, self.port) if d == 0 else (
            self.server, "10.0.0.5", self.port, 40000)
        seg = tcp_segment(sp, dp, seq, flags, data, ack=self.isn[1 - d])
        self.frames.append((T0 + 0.0001 * len(self.frames), ether(ipv4_packet(src, dst, 6, seg))))

    def handshake(self) -> None:
        self._add(0, self.isn[0], SYN)
        self._add(1, self.isn[1], SYN | ACK)
        self.isn = [self.isn[0] + 1, self.isn[1] + 1]
        self._add(0, self.isn[0], ACK)

    def pieces(self, d: int, data: bytes, size: int, order: str = "forward") -> None:
        """`data` from side `d` in `size`-byte segments, sent forward or in reverse order."""
        offs = list(range(0, len(data), size))
        if order == "reverse":
            offs.reverse()
        for off in offs:
            self._add(d, self.isn[d] + off, PSH | ACK, data[off : off + size])
        self.isn[d] += len(data)

    def segment_at(self, d: int, off: int, data: bytes) -> None:
        self._add(d, self.isn[d] + off, PSH | ACK, data)

    def close(self) -> None:
        self._add(0, self.isn[0], FIN | ACK)
        self._add(1, self.isn[1], FIN | ACK)

    def write(self, path: Path) -> None:
        path.write_bytes(pcap_bytes(self.frames))


def http_post(body: bytes) -> bytes:
    return (b"POST /upload HTTP/1.1\r\nHost: gw.example\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def repeated_cards(size: int) -> bytes:
    unit = CARD + b" "
    return (unit * (size // len(unit) + 1))[:size]


def filler(size: int) -> bytes:
    """Text with no digit run: nothing in it looks like a card."""
    return (b"lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]



def card_past_body_cap(path: Path) -> int:
    """An HTTP POST whose card sits 5,000 bytes past the 1 MiB body-decoding cap; returns the body's length."""
    c = Tcp(port=80)
    c.handshake()
    body = filler((1 << 20) + 5000) + b" pan=" + CARD2 + b" " + filler(300)
    c.pieces(0, http_post(body), 1400)
    c.pieces(1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1400)
    c.close()
    c.write(path)
    return len(body)
