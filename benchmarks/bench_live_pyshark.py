"""Benchmark: can pyshark hand netwatch raw frames fast enough for a store link? Measured on lo.

Usage: python benchmarks/bench_live_pyshark.py [--rate 5000 10000 0] [--seconds 3] [--modes ...]
Needs root or CAP_NET_RAW (dumpcap), tshark and pyshark. Traffic only to 127.0.0.1.

A sender thread sends UDP datagrams (200-byte payload) to a closed port on 127.0.0.1 at a paced
rate (0 = as fast as Python can send) for --seconds, after the capture has had 3 s to start;
the capture, filtered to that port, counts what it delivers as bytes. Modes:

- pyshark-json: `pyshark.LiveCapture(use_json=True, include_raw=True)`, `get_raw_packet()` each
- pyshark-ek:   the same with use_ek=True (the mode pyshark recommends as its fastest)
- pyshark-ek-noproto: use_ek + tshark told to dissect nothing (`--disable-protocol ALL`)
- dumpcap: netwatch's tshark backend (dumpcap pcap on a pipe, netwatch's reader)

Reported: packets sent, delivered, lost, and the delivery rate from first to last frame.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
PAYLOAD = b"x" * 200
WARMUP = 3.0


def _send(port: int, rate: int, seconds: float, sent: list[int]) -> None:
    time.sleep(WARMUP)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n, start = 0, time.monotonic()
    end = start + seconds
    while (now := time.monotonic()) < end:
        due = int((now - start) * rate) if rate else n + 1000
        while n < due:
            s.sendto(PAYLOAD, ("127.0.0.1", port))
            n += 1
        if rate:
            time.sleep(0.001)
    s.close()
    sent.append(n)


def _pyshark(port: int, mode: str, budget: float, times: list[float], expect: list[int]) -> None:
    import asyncio

    import pyshark
    from pyshark.capture.capture import StopCapture

    asyncio.set_event_loop(asyncio.new_event_loop())
    extra = ["--disable-protocol", "ALL"] if mode.endswith("noproto") else None
    cap = pyshark.LiveCapture(interface="lo", bpf_filter=f"udp dst port {port}", use_json=mode == "pyshark-json",
                              use_ek=mode != "pyshark-json", include_raw=True, custom_parameters=extra)

    def got(pkt: object) -> None:
        # pyshark 0.6's get_raw_packet() fails on EK packets: the hex is the frame_raw layer's whole value
        raw = pkt.get_raw_packet() if mode == "pyshark-json" else bytes.fromhex(pkt.frame_raw._fields_dict)  # type: ignore[attr-defined]
        assert len(raw) > 200
        times.append(time.monotonic())
        if expect and len(times) >= expect[0]:
            raise StopCapture

    with contextlib.suppress(TimeoutError):  # the budget ran out before every datagram came through
        cap.apply_on_packets(got, timeout=budget)
    cap.close()


def _dumpcap(port: int, budget: float, times: list[float], expect: list[int]) -> None:
    from netwatch.capture.blocks import FrameBlock
    from netwatch.capture.live import open_source

    src = open_source("lo", "tshark", f"udp dst port {port}")
    src.start()
    stop = threading.Event()

    def put(block: FrameBlock) -> None:
        times.extend([time.monotonic()] * block.size)

    t = threading.Thread(target=src.run, args=(put, stop), daemon=True)
    t.start()
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline and not (expect and len(times) >= expect[0]):
        time.sleep(0.05)
    stop.set()
    src.close()
    t.join(5)


def measure(mode: str, rate: int, seconds: float) -> dict[str, float]:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # a closed port: the datagrams still cross lo (and draw ICMP, filtered out)
    sent: list[int] = []
    times: list[float] = []
    sender = threading.Thread(target=_send, args=(port, rate, seconds, sent), daemon=True)
    sender.start()
    budget = WARMUP + seconds + 20.0  # time to drain what dumpcap buffered
    expect: list[int] = []
    watcher = threading.Thread(target=lambda: (sender.join(), expect.append(sent[0])), daemon=True)
    watcher.start()
    if mode == "dumpcap":
        _dumpcap(port, budget, times, expect)
    else:
        _pyshark(port, mode, budget, times, expect)
    sender.join()
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {"sent": sent[0], "got": len(times), "lost": sent[0] - len(times),
            "pps": len(times) / span if span else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, nargs="+", default=[5000, 10000, 0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--modes", nargs="+", default=["pyshark-json", "pyshark-ek", "pyshark-ek-noproto", "dumpcap"])
    args = ap.parse_args()
    for rate in args.rate:
        for mode in args.modes:
            r = measure(mode, rate, args.seconds)
            print(f"{mode:20} offered {rate or 'max':>6} pps: sent {r['sent']:7,} delivered {r['got']:7,} "
                  f"lost {r['lost']:7,} ({100 * r['lost'] / max(r['sent'], 1):5.1f}%) at {r['pps']:9,.0f} pps",
                  flush=True)


if __name__ == "__main__":
    main()
