"""Benchmark (not a test): netwatch's memory stays flat on hostile shapes of input.

Usage: python benchmarks/bench_bounds.py [--sizes 1000000 10000000] [--card-mb 1]

Captures (cached in benchmarks/.cache/, not in git):
- `random5t-N.pcap`: N packets, each of a fresh random 5-tuple (random IPv4 addresses and ports,
  TCP with a few random payload bytes or UDP): every packet is a new flow and a new destination,
  the worst case for the flow table and the destinations inventory.
- `cardbody-NMB.pcap`: one HTTP POST whose N MB body repeats one (test) card number: the worst case
  for card de-duplication.
Records are written straight with struct (no scapy per packet), so 10M packets take seconds.
Each capture is scanned with `netwatch scan --jobs 1 --json /dev/null`; the table gives wall time
and the peak RSS of that process (measured from a small wrapper, as bench_scan.py does).

Measured 2026-11-25 on the shared 2-core box: random 5-tuples 1M packets 68 s / 263 MB, 10M packets
1167 s (under heavy load from other jobs) / 265 MB; main before the bounds: 1M packets 179 s / 4.4 GB.
Repeated-card body 64 KiB 0.2 s, 256 KiB 0.5 s, 1 MiB 1.5 s, 4 MiB 4.9 s (main: 1 MiB took ~220 s).
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_scan import run_timed  # noqa: E402 - the sibling benchmark's measuring wrapper

CACHE = HERE / ".cache"
T0 = 1_700_000_000
ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
CARD = b"4111111111111111"  # the standard Visa test number
_hdr = struct.Struct("<IIII")
_ip = struct.Struct("!BBHHHBBH4s4s")
_tcp = struct.Struct("!HHIIBBHHH")
_udp = struct.Struct("!HHHH")


def _pcap_header() -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def random_5tuples(path: Path, packets: int, seed: int = 15) -> None:
    """`packets` frames, each a new random 5-tuple; 20 µs apart (50k packets/s)."""
    rng = random.Random(seed)
    pool = rng.randbytes(1 << 20)
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as fh:
        fh.write(_pcap_header())
        parts: list[bytes] = []
        for i in range(packets):
            o = (i * 37 + (i >> 20) * 11) % ((1 << 20) - 64)  # a new window every million packets
            src = ((i * 2654435761) & 0xFFFFFFFF).to_bytes(4, "big")  # a bijection: never the same twice
            dst = pool[o + 4 : o + 8]
            sport, dport, seq = struct.unpack_from("!HHI", pool, o + 8)
            plen = pool[o + 16] & 31
            payload = pool[o + 20 : o + 20 + plen]
            if pool[o + 17] & 1:
                l4 = _tcp.pack(sport, dport, seq, 0, 0x50, 0x18, 64240, 0, 0) + payload
                proto = 6
            else:
                l4 = _udp.pack(sport, dport, 8 + plen, 0) + payload
                proto = 17
            frame = ETH + _ip.pack(0x45, 0, 20 + len(l4), i & 0xFFFF, 0x4000, 64, proto, 0, src, dst) + l4
            us = i * 20
            parts.append(_hdr.pack(T0 + us // 1_000_000, us % 1_000_000, len(frame), len(frame)))
            parts.append(frame)
            if len(parts) >= 16384:
                fh.write(b"".join(parts))
                parts.clear()
        fh.write(b"".join(parts))
    tmp.replace(path)


def card_body(path: Path, size: int) -> None:
    """One HTTP POST (handshake, body in 1448-byte segments, FINs) whose body repeats one card."""
    unit = CARD + b" "
    body = (unit * (size // len(unit) + 1))[:size]
    req = (b"POST /upload HTTP/1.1\r\nHost: gw.example\r\nContent-Type: text/plain\r\nContent-Length: "
           + str(len(body)).encode() + b"\r\n\r\n" + body)
    c, s, cp, sp = bytes((10, 20, 1, 5)), bytes((198, 51, 100, 7)), 40001, 80
    frames: list[bytes] = []

    def seg(src: bytes, dst: bytes, a: int, b: int, seq: int, ack: int, flags: int, data: bytes = b"") -> None:
        l4 = _tcp.pack(a, b, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 64240, 0, 0) + data
        frames.append(ETH + _ip.pack(0x45, 0, 20 + len(l4), 1, 0x4000, 64, 6, 0, src, dst) + l4)

    cs, ss = 1000, 5000
    seg(c, s, cp, sp, cs, 0, 0x02)
    seg(s, c, sp, cp, ss, cs + 1, 0x12)
    cs, ss = cs + 1, ss + 1
    seg(c, s, cp, sp, cs, ss, 0x10)
    for i in range(0, len(req), 1448):
        seg(c, s, cp, sp, cs + i, ss, 0x18, req[i : i + 1448])
    cs += len(req)
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    seg(s, c, sp, cp, ss, cs, 0x18, resp)
    ss += len(resp)
    seg(c, s, cp, sp, cs, ss, 0x11)
    seg(s, c, sp, cp, ss, cs + 1, 0x11)
    with open(path, "wb") as fh:
        fh.write(_pcap_header())
        for i, f in enumerate(frames):
            us = i * 100
            fh.write(_hdr.pack(T0 + us // 1_000_000, us % 1_000_000, len(f), len(f)) + f)


def cached(name: str, make) -> Path:  # noqa: ANN001 - a (path) -> None writer
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / name
    if not path.exists():
        t = time.perf_counter()
        make(path)
        print(f"generated {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s",
              flush=True)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000],
                    help="packet counts of the random 5-tuple captures")
    ap.add_argument("--card-mb", type=float, nargs="+", default=[1.0], help="sizes of the repeated-card body")
    args = ap.parse_args()
    runs: list[tuple[str, Path]] = []
    for n in args.sizes:
        runs.append((f"random 5-tuples, {n:,} packets",
                     cached(f"random5t-v1-{n}.pcap", lambda p, n=n: random_5tuples(p, n))))
    for mb in args.card_mb:
        size = int(mb * 1024 * 1024)
        runs.append((f"HTTP body of one repeated card, {mb:g} MiB",
                     cached(f"cardbody-v1-{size}.pcap", lambda p, s=size: card_body(p, s))))
    print(f"{'capture':44} {'seconds':>8} {'peak RSS':>9}", flush=True)
    for label, path in runs:
        cmd = [sys.executable, "-m", "netwatch", "scan", str(path), "--jobs", "1", "--json", "/dev/null",
               "-q", "--fail-on", "none", "--no-progress"]
        secs, _rc, rss = run_timed(cmd)
        print(f"{label:44} {secs:8.1f} {rss / 1024:7.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
