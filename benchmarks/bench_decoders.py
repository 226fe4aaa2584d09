"""Benchmark (not a test): the encoding decoders of issue 22 stay bounded on hostile input.

Usage: python benchmarks/bench_decoders.py [--mb 10] [--frames 100000]

Captures (cached in benchmarks/.cache/, not in git), one TCP flow each, written with struct:
- `bomb-br`, `bomb-zstd`, `bomb-gzip`: an HTTP response whose body inflates to 200 MB of zeros;
- `qp-smtp-NMB`, `b64-smtp-NMB`: an SMTP DATA of N MB, quoted-printable (soft breaks every 76
  columns, digits escaped) or base64 wrapped at 76 columns, one card at the end; also `qp-http-NMB`,
  `b64-http-NMB`: the same bodies in one HTTP POST (past the 1 MiB body cap they are scanned raw);
- `ws-N`: N masked WebSocket frames after a 101 (small JSON messages, every tenth fragmented);
- `h2c-N`: N/2 HTTP/2 requests with prior knowledge (a HEADERS and a DATA frame each).
Each is scanned with `netwatch scan --jobs 1 --json /dev/null`; the table gives wall time and peak
RSS of that process (bench_scan.run_timed), and the card findings of the run. Then scan() itself on
an N MB quoted-printable and base64 buffer: time and tracemalloc peak.

Measured 2026-12-07 on the shared 2-core box (under load from other jobs; main = the commit before
issue 22's decoders, same captures, one run each): bombs of 200 MB br / zstd / gzip 3.4 / 3.1 / 3.7 s,
peak RSS 72 / 64 / 65 MB (each decodes to the 4 MiB cap); qp-smtp-10MB 20-26 s (main 2.9 s: it
does not decode QP; every digit escaped is the worst case: decoded, it is one long digit run, and
each segment rescans the held 4 KiB tail), 56 MB; b64-smtp-10MB 11-14 s (main 6.5 s), 57 MB;
qp-http-10MB 14-22 s (main 2.8 s), 60 MB; b64-http-10MB 10.5-12 s (main 5.1 s), 63 MB; ws-100000
3.5 s (main 2.0 s, frames not read), 56 MB; h2c-100000 7-8 s (main 3.4 s), 56 MB. scan() on one
10 MB buffer: QP 3.3 s / 47 MiB traced, base64 4.2 s / 73 MiB.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import random
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_scan import run_timed  # noqa: E402 - the sibling benchmark's measuring wrapper

CACHE = HERE / ".cache"
CARD = b"4111111111111111"
ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
_ip = struct.Struct("!BBHHHBBH4s4s")
_tcp = struct.Struct("!HHIIBBHHH")


def _sum16(data: bytes) -> int:
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def write_flow(path: Path, messages: list[tuple[int, bytes]], dport: int, mss: int = 1460) -> None:
    """One TCP connection (handshake, the messages cut at `mss`, FINs) as a pcap, checksums right."""
    addr = (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ports = (40000, dport)
    seq = [1000, 500000]
    recs: list[bytes] = []
    t = [0]

    def frame(d: int, flags: int, payload: bytes) -> None:
        src, dst = addr[d], addr[1 - d]
        th = _tcp.pack(ports[d], ports[1 - d], seq[d], seq[1 - d], 0x50, flags, 65535, 0, 0)
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(th) + len(payload))
        th = th[:16] + struct.pack("!H", _sum16(pseudo + th + payload)) + th[18:]
        ih = _ip.pack(0x45, 0, 20 + len(th) + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
        ih = ih[:10] + struct.pack("!H", _sum16(ih)) + ih[12:]
        f = ETH + ih + th + payload
        t[0] += 50
        recs.append(struct.pack("<IIII", 1_700_000_000 + t[0] // 1_000_000, t[0] % 1_000_000, len(f), len(f)) + f)
        seq[d] += len(payload) + (1 if flags & 0x03 else 0)

    frame(0, 0x02, b"")
    frame(1, 0x12, b"")
    frame(0, 0x10, b"")
    for d, data in messages:
        for i in range(0, len(data), mss):
            frame(d, 0x18, data[i : i + mss])
    frame(0, 0x11, b"")
    frame(1, 0x11, b"")
    frame(0, 0x10, b"")
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        fh.write(b"".join(recs))


def _http_post(body: bytes, coding: bytes = b"") -> bytes:
    ce = b"Content-Encoding: " + coding + b"\r\n" if coding else b""
    return b"POST /u HTTP/1.1\r\nHost: h\r\n" + ce + b"Content-Length: %d\r\n\r\n" % len(body) + body


def _qp_body(size: int) -> bytes:
    line = b"".join(b"=3%d" % (i % 10) for i in range(25)) + b"=\r\n"  # 75 columns of escaped digits, soft break
    return line * (size // len(line)) + b"card " + CARD + b"\r\n"


def _b64_body(size: int, rng: random.Random) -> bytes:
    raw = rng.randbytes(size * 3 // 4) + b"card " + CARD + b"\n"
    enc = base64.b64encode(raw)
    return b"\r\n".join(enc[i : i + 76] for i in range(0, len(enc), 76)) + b"\r\n"


def _smtp(body: bytes) -> list[tuple[int, bytes]]:
    return [(1, b"220 mail ESMTP\r\n"), (0, b"EHLO pos\r\n"), (1, b"250 ok\r\n"), (0, b"DATA\r\n"),
            (1, b"354 go\r\n"), (0, b"Subject: x\r\n\r\n" + body + b"\r\n.\r\n"), (1, b"250 ok\r\n")]


def _ws(frames: int, rng: random.Random) -> list[tuple[int, bytes]]:
    up = (b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    out = bytearray()
    for i in range(frames):
        payload = b'{"i":%d,"sku":"%d"}' % (i, 1000000 + i)
        fin = 0 if i % 10 == 0 else 0x80
        op = 1 if i % 10 == 0 or (i - 1) % 10 else 0  # frame i%10==1 continues the fragment before it
        key = rng.randbytes(4)
        out += bytes([fin | op, 0x80 | len(payload)]) + key + bytes(b ^ key[j % 4] for j, b in enumerate(payload))
    return [(0, up), (1, ok), (0, bytes(out))]


def _h2c(requests: int) -> list[tuple[int, bytes]]:
    """Frames written with hyperframe and hpack (no flow control: nobody answers)."""
    import hpack
    from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

    enc = hpack.Encoder()
    out = bytearray(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize())
    for i in range(requests):
        h = HeadersFrame(2 * i + 1, enc.encode([(":method", "POST"), (":path", f"/api/{i}"), (":scheme", "http"),
                                                 (":authority", "h"), ("content-type", "application/json")]))
        h.flags.add("END_HEADERS")
        d = DataFrame(2 * i + 1, json.dumps({"i": i, "sku": 1000000 + i}).encode())
        d.flags.add("END_STREAM")
        out += h.serialize() + d.serialize()
    return [(0, bytes(out))]


def build(mb: int, frames: int) -> dict[str, Path]:
    import brotli
    import zstandard

    CACHE.mkdir(exist_ok=True)
    rng = random.Random(22)
    zeros = b"\0" * (200 << 20)
    specs = {
        "bomb-br": lambda: [(0, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
                            (1, _http_post(brotli.compress(zeros, quality=4), b"br").replace(b"POST /u HTTP/1.1",
                                                                                             b"HTTP/1.1 200 OK"))],
        "bomb-zstd": lambda: [(0, _http_post(zstandard.ZstdCompressor(level=3).compress(zeros), b"zstd"))],
        "bomb-gzip": lambda: [(0, _http_post(gzip.compress(zeros, compresslevel=6), b"gzip"))],
        f"qp-smtp-{mb}MB": lambda: _smtp(_qp_body(mb << 20)),
        f"b64-smtp-{mb}MB": lambda: _smtp(_b64_body(mb << 20, rng)),
        f"qp-http-{mb}MB": lambda: [(0, _http_post(_qp_body(mb << 20)))],
        f"b64-http-{mb}MB": lambda: [(0, _http_post(_b64_body(mb << 20, rng)))],
        f"ws-{frames}": lambda: _ws(frames, rng),
        f"h2c-{frames}": lambda: _h2c(frames // 2),
    }
    out = {}
    for name, make in specs.items():
        path = CACHE / f"dec-{name}.pcap"
        if not path.exists():
            write_flow(path, make(), 25 if "smtp" in name else 80)
        out[name] = path
    return out


def cards(path: Path) -> int:
    p = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(path), "--jobs", "1", "--json", "-", "-q",
                        "--fail-on", "none"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    return sum(1 for line in p.stdout.splitlines() if '"card-data"' in line)


def direct(mb: int) -> None:
    from netwatch.protocols.card_search import scan

    for label, buf in (("qp", _qp_body(mb << 20)), ("base64", _b64_body(mb << 20, random.Random(1)))):
        t = time.perf_counter()
        hits, _ = scan(buf)
        dt = time.perf_counter() - t
        tracemalloc.start()  # a second run for the memory: tracing slows every allocation down
        scan(buf)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"scan() of a {mb} MB {label} buffer (one call, no body cap): {dt:.2f} s, tracemalloc peak "
              f"{peak >> 20} MiB, {len(hits)} hit(s) {[h[4] for h in hits]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=10)
    ap.add_argument("--frames", type=int, default=100_000)
    args = ap.parse_args()
    paths = build(args.mb, args.frames)
    print(f"{'capture':<18} {'size MB':>8} {'seconds':>8} {'peak RSS MB':>12} {'card findings':>14}")
    for name, path in paths.items():
        secs, _rc, rss = run_timed([sys.executable, "-m", "netwatch", "scan", str(path), "--jobs", "1",
                                    "--json", "/dev/null", "-q", "--fail-on", "none"])
        print(f"{name:<18} {path.stat().st_size / 1e6:>8.1f} {secs:>8.2f} {rss / 1024:>12.0f} {cards(path):>14}")
    direct(args.mb)


if __name__ == "__main__":
    main()
