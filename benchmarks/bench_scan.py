"""Benchmark: netwatch scan vs nDPI's ndpiReader, tshark and a bare record walk on a store-mix capture.

Usage: python benchmarks/bench_scan.py [--packets 300000] [--runs 5] [--scale 1200000]

The capture (cached in benchmarks/.cache/, not in git) mimics a store uplink: 40 hosts, ~80% of
packets in TLS flows to a dozen servers (ClientHello with SNI, ServerHello and a real CA-signed
certificate chain, then 4-7 application-data exchanges), ~4% cleartext HTTP POSTs carrying card
numbers, ~6% DNS queries and answers, ~10% ESP between two VPN gateways; 64 flows interleaved. A
handful of template frames are built with scapy; the 300k packets are written by patching
addresses, ports, sequence numbers and lengths into copies of them with struct, which takes
seconds instead of scapy's minutes. Timings are wall-clock of the whole command (start-up
included), each tool run --runs times interleaved in the same run, shown as median [range], with
the ratio to ndpiReader (Debian's libndpi-bin; skipped with a note if absent); peak RSS is measured
from a small wrapper process. `--scale 1200000` checks that netwatch's time per packet and peak
RSS stay flat from --packets to that size, on both cores (the pure-Python one's figures beside the
compiled one's). Last, the fixed costs: both tools on the small captures/http_card_post.pcap.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
T0 = 1_700_000_000
CARDS = [b"4111111111111111", b"5500 0000 0000 0004", b"340000000000009", b"6011-0000-0000-0004"]
SNIS = [b"pay.acquirer.example", b"api.gateway.example", b"updates.vendor.example", b"cdn.example.net"]

_ip = struct.Struct("!BBHHHBBH4s4s")
_tcp = struct.Struct("!HHIIBBHHH")
_udp = struct.Struct("!HHHH")
_rec = struct.Struct("<IIII")


def _templates() -> dict[str, bytes]:
    """Ethernet headers and payloads built once with scapy (real encodings, then patched)."""
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.l2 import Ether

    eth = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x0800))
    q = bytes(DNS(id=0x1234, rd=1, qd=DNSQR(qname="pay.acquirer.example")))
    a = bytes(DNS(id=0x1234, qr=1, rd=1, ra=1, qd=DNSQR(qname="pay.acquirer.example"),
                  an=DNSRR(rrname="pay.acquirer.example", rdata="203.0.113.10", ttl=300)))
    return {"eth": eth, "dns_q": q, "dns_a": a, "certs": _chain()}


def _chain() -> bytes:
    """A real leaf + intermediate chain (EC P-256, CA-signed) as a Certificate message's list."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    start = dt.datetime(2023, 11, 1, tzinfo=dt.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Example Issuing CA")).issuer_name(name("Example Root CA"))
          .public_key(ca_key.public_key()).serial_number(7).not_valid_before(start)
          .not_valid_after(start + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("pay.acquirer.example")).issuer_name(ca.subject)
            .public_key(leaf_key.public_key()).serial_number(4242).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=398))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(s.decode()) for s in SNIS]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return b"".join(len(d).to_bytes(3, "big") + d for d in (leaf.public_bytes(Encoding.DER),
                                                              ca.public_bytes(Encoding.DER)))


def _client_hello(sni: bytes, rnd: bytes) -> bytes:
    """A TLS 1.2/1.3 ClientHello record with SNI, supported_versions and a few cipher suites."""
    ciphers = bytes.fromhex("130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035")
    name = b"\x00" + struct.pack("!H", len(sni)) + sni
    ext_sni = struct.pack("!HHH", 0, len(name) + 2, len(name)) + name
    ext_ver = bytes.fromhex("002b00050403040303")
    ext_groups = bytes.fromhex("000a00080006001d00170018")
    ext_alpn = bytes.fromhex("0010000e000c02683208687474702f312e31")
    exts = ext_sni + ext_ver + ext_groups + ext_alpn
    body = (b"\x03\x03" + rnd[:32] + b"\x20" + rnd[32:64] + struct.pack("!H", len(ciphers)) + ciphers
            + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def _server_flight(rnd: bytes, certs: bytes) -> bytes:
    """ServerHello + Certificate + ServerHelloDone, TLS 1.2 style."""
    sh_body = b"\x03\x03" + rnd[:32] + b"\x20" + rnd[32:64] + b"\xc0\x2f\x00\x00\x05\xff\x01\x00\x01\x00"
    sh = b"\x02" + len(sh_body).to_bytes(3, "big") + sh_body
    ct_body = len(certs).to_bytes(3, "big") + certs
    ct = b"\x0b" + len(ct_body).to_bytes(3, "big") + ct_body
    done = b"\x0e\x00\x00\x00"
    hs = sh + ct + done
    return b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs


def _app_record(rnd: bytes, n: int) -> bytes:
    return b"\x17\x03\x03" + struct.pack("!H", n - 5) + rnd[: n - 5]


class _Writer:
    """Appends frames to a pcap (µs, little-endian, Ethernet) with patched IPv4/TCP/UDP headers."""

    def __init__(self, path: Path, eth: bytes) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.eth = eth
        self.ts = 0
        self.count = 0
        self.ident = 0
        self.parts: list[bytes] = []

    def _frame(self, frame: bytes) -> None:
        self.ts += 97  # µs between packets: ~10k packets/s of store traffic
        n = len(frame)
        self.parts.append(_rec.pack(T0 + self.ts // 1_000_000, self.ts % 1_000_000, n, n))
        self.parts.append(frame)
        self.count += 1
        if len(self.parts) > 8192:
            self.flush()

    def ip(self, src: bytes, dst: bytes, proto: int, l4: bytes) -> None:
        self.ident = (self.ident + 1) & 0xFFFF
        self._frame(self.eth + _ip.pack(0x45, 0, 20 + len(l4), self.ident, 0x4000, 64, proto, 0, src, dst) + l4)

    def tcp(self, src: bytes, dst: bytes, sp: int, dp: int, seq: int, ack: int, flags: int, data: bytes = b"") -> None:
        self.ip(src, dst, 6, _tcp.pack(sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 64240, 0, 0) + data)

    def udp(self, src: bytes, dst: bytes, sp: int, dp: int, data: bytes) -> None:
        self.ip(src, dst, 17, _udp.pack(sp, dp, 8 + len(data), 0) + data)

    def flush(self) -> None:
        self.fh.write(b"".join(self.parts))
        self.parts.clear()

    def close(self) -> None:
        self.flush()
        self.fh.close()


def _tls_flow(rng: random.Random, rnd: bytes, certs: bytes, c: bytes, s: bytes, cp: int) -> Iterator[tuple]:
    """One TLS connection as (kind, args) steps; ~24 packets."""
    cs, ss = rng.randrange(1 << 32), rng.randrange(1 << 32)
    yield ("tcp", c, s, cp, 443, cs, 0, 0x02)
    yield ("tcp", s, c, 443, cp, ss, cs + 1, 0x12)
    cs += 1
    ss += 1
    yield ("tcp", c, s, cp, 443, cs, ss, 0x10)
    ch = _client_hello(rng.choice(SNIS), rnd[rng.randrange(4096) :])
    yield ("tcp", c, s, cp, 443, cs, ss, 0x18, ch)
    cs += len(ch)
    flight = _server_flight(rnd[rng.randrange(4096) :], certs)
    for i in range(0, len(flight), 1448):
        seg = flight[i : i + 1448]
        yield ("tcp", s, c, 443, cp, ss, cs, 0x10 if i + 1448 < len(flight) else 0x18, seg)
        ss += len(seg)
    yield ("tcp", c, s, cp, 443, cs, ss, 0x10)
    cke = b"\x16\x03\x03\x00\x46\x10\x00\x00\x42\x41\x04" + rnd[:64]  # ClientKeyExchange (ECDHE point)
    fin = cke + b"\x14\x03\x03\x00\x01\x01" + b"\x16\x03\x03\x00\x28" + rnd[70:110]
    yield ("tcp", c, s, cp, 443, cs, ss, 0x18, fin)
    cs += len(fin)
    sfin = b"\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28" + rnd[200:240]
    yield ("tcp", s, c, 443, cp, ss, cs, 0x18, sfin)
    ss += len(sfin)
    for _ in range(rng.randrange(4, 8)):
        req = _app_record(rnd[rng.randrange(8192) :], rng.randrange(120, 700))
        yield ("tcp", c, s, cp, 443, cs, ss, 0x18, req)
        cs += len(req)
        resp = _app_record(rnd[rng.randrange(8192) :], 1448)
        yield ("tcp", s, c, 443, cp, ss, cs, 0x10, resp)
        ss += len(resp)
        yield ("tcp", c, s, cp, 443, cs, ss, 0x10)
    yield ("tcp", c, s, cp, 443, cs, ss, 0x11)
    yield ("tcp", s, c, 443, cp, ss, cs + 1, 0x11)
    yield ("tcp", c, s, cp, 443, cs + 1, ss + 1, 0x10)


def _http_flow(rng: random.Random, c: bytes, s: bytes, cp: int) -> Iterator[tuple]:
    """A POS posting a card number over plain HTTP; 9 packets."""
    cs, ss = rng.randrange(1 << 32), rng.randrange(1 << 32)
    body = b"amount=12.50&currency=EUR&pan=" + rng.choice(CARDS) + b"&exp=1228"
    req = (b"POST /authorize HTTP/1.1\r\nHost: legacy-gw.example\r\nContent-Type: application/x-www-form-urlencoded"
           b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\napproved=yes"
    yield ("tcp", c, s, cp, 8080, cs, 0, 0x02)
    yield ("tcp", s, c, 8080, cp, ss, cs + 1, 0x12)
    cs += 1
    ss += 1
    yield ("tcp", c, s, cp, 8080, cs, ss, 0x10)
    yield ("tcp", c, s, cp, 8080, cs, ss, 0x18, req)
    cs += len(req)
    yield ("tcp", s, c, 8080, cp, ss, cs, 0x18, resp)
    ss += len(resp)
    yield ("tcp", c, s, cp, 8080, cs, ss, 0x10)
    yield ("tcp", c, s, cp, 8080, cs, ss, 0x11)
    yield ("tcp", s, c, 8080, cp, ss, cs + 1, 0x11)
    yield ("tcp", c, s, cp, 8080, cs + 1, ss + 1, 0x10)


def _dns_flow(rng: random.Random, tpl: dict[str, bytes], c: bytes, cp: int) -> Iterator[tuple]:
    txid = struct.pack("!H", rng.randrange(65536))
    yield ("udp", c, b"\x0a\x14\x01\x01", cp, 53, txid + tpl["dns_q"][2:])
    yield ("udp", b"\x0a\x14\x01\x01", c, 53, cp, txid + tpl["dns_a"][2:])


def _esp_burst(rng: random.Random, rnd: bytes, seq: list[int]) -> Iterator[tuple]:
    """Site-to-site IPsec: ESP packets between two gateways, both directions."""
    a, b = b"\xc6\x33\x64\x01", b"\xcb\x00\x71\x0a"
    for _ in range(20):
        seq[0] += 1
        n = rng.randrange(100, 1300)
        spi, src, dst = (b"\x00\x00\x10\x01", a, b) if seq[0] & 1 else (b"\x00\x00\x20\x02", b, a)
        yield ("esp", src, dst, spi + struct.pack("!I", seq[0]) + rnd[:n])


def generate(path: Path, packets: int, seed: int = 7) -> None:
    """Write the store-mix capture: flows interleaved 64 at a time, ~80% of packets TLS."""
    rng = random.Random(seed)
    rnd = rng.randbytes(16384)
    tpl = _templates()
    tmp = path.with_suffix(".part")
    w = _Writer(tmp, tpl["eth"])
    live: list[Iterator[tuple]] = []
    esp_seq = [0]
    port = 40000
    while w.count < packets:
        while len(live) < 64:
            port = 40000 + (port - 39999) % 25000
            client = bytes((10, 20, 1, rng.randrange(10, 50)))  # 40 POS terminals and back-office PCs
            r = rng.random()
            # flow odds chosen for packet shares of about 80% TLS, 4% HTTP, 6% DNS, 10% ESP
            if r < 0.408:
                server = bytes((203, 0, 113, rng.randrange(1, 13)))
                live.append(_tls_flow(rng, rnd, tpl["certs"], client, server, port))
            elif r < 0.475:
                live.append(_http_flow(rng, client, b"\xc6\x33\x64\x4d", port))
            elif r < 0.925:
                live.append(_dns_flow(rng, tpl, client, port))
            else:
                live.append(_esp_burst(rng, rnd, esp_seq))
        i = rng.randrange(len(live))
        step = next(live[i], None)
        if step is None:
            live[i] = live[-1]
            live.pop()
            continue
        kind = step[0]
        if kind == "tcp":
            w.tcp(*step[1:])
        elif kind == "udp":
            w.udp(*step[1:])
        else:
            w.ip(step[1], step[2], 50, step[3])
    w.close()
    tmp.replace(path)


def capture(packets: int) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"store-mix-v3-{packets}.pcap"
    if not path.exists():
        t = time.perf_counter()
        generate(path, packets)
        print(f"generated {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f}s")
    return path


def bare_walk(path: Path) -> int:
    """The floor for any Python reader: walk pcap record headers over the whole file in memory."""
    data = path.read_bytes()
    unpack = struct.Struct("<IIII").unpack_from
    pos, n, end = 24, 0, len(data)
    while pos + 16 <= end:
        caplen = unpack(data, pos)[2]
        pos += 16 + caplen
        n += 1
    return n


# Runs the command from a small fresh process, so the child's peak RSS is its own (a child forked
# from this process would start out with this process's memory in its ru_maxrss).
_WRAP = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
         "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); "
         "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)")


# Bytecode cached as an installed package has it (pip compiles it at install): with
# PYTHONDONTWRITEBYTECODE set, as on some CI machines, every run would compile ~150 modules first.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_ENV["PYTHONPYCACHEPREFIX"] = str(HERE / ".cache" / "pycache")


def run_timed(cmd: list[str]) -> tuple[float, int, int]:
    """Wall seconds, exit code and peak RSS (KiB) of one child process."""
    p = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True, text=True, cwd=ROOT, env=_ENV)
    try:
        secs, rss, rc = p.stdout.split()
    except ValueError:
        sys.exit(f"could not run {cmd[0]}: {p.stderr.strip()[:300]}")
    if int(rc) not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({rc}): {p.stderr.strip()[:300]}")
    return float(secs), int(rc), int(rss)


def commands(path: Path) -> dict[str, list[str]]:
    """The tools timed, by label (a tool not installed is left out, with a note)."""
    nw = [sys.executable, "-m", "netwatch", "scan", str(path), "-q", "--fail-on", "none"]
    cmds = {"ndpiReader -q -i": ["ndpiReader", "-q", "-i", str(path)],
            "tshark -q -z conv,tcp": ["tshark", "-r", str(path), "-q", "-z", "conv,tcp"],
            "netwatch --jobs 1": [*nw, "--jobs", "1", "--json", "/dev/null"],
            "netwatch (default)": nw,
            # the pure-Python fallback of the compiled core (what runs where no C compiler was found)
            "netwatch --jobs 1 pure": ["env", "NETWATCH_PURE=1", *nw, "--jobs", "1", "--json", "/dev/null"]}
    for label, cmd in list(cmds.items()):
        if not shutil.which(cmd[0] if cmd[0] != "env" else cmd[2]):
            print(f"{cmd[0]} not found: skipping it" + (" (Debian: apt-get install libndpi-bin)"
                                                         if cmd[0] == "ndpiReader" else ""))
            del cmds[label]
    return cmds


def measure(path: Path, runs: int) -> dict[str, list[tuple[float, int]]]:
    """Each tool `runs` times, interleaved (a load spike on a shared machine hits all of them):
    (seconds, peak RSS KiB) per run; the bare walk runs in this process."""
    cmds = commands(path)
    got: dict[str, list[tuple[float, int]]] = {"bare record walk": [], **{k: [] for k in cmds}}
    for _ in range(runs):
        got["bare record walk"].append((_time(lambda: bare_walk(path)), 0))
        for label, cmd in cmds.items():
            secs, _, rss = run_timed(cmd)
            got[label].append((secs, rss))
    return got


def table(path: Path, got: dict[str, list[tuple[float, int]]]) -> None:
    pkts, size = bare_walk(path), path.stat().st_size
    ndpi = statistics.median(s for s, _ in got["ndpiReader -q -i"]) if "ndpiReader -q -i" in got else None
    print(f"\n{path.name}: {pkts:,} packets, {size / 1e6:.1f} MB; median of {len(got['bare record walk'])} "
          "runs [range]")
    print(f"{'':22} {'seconds':>17} {'packets/s':>11} {'MB/s':>7} {'µs/pkt':>7} {'/ nDPI':>15} {'peak RSS':>9}")
    for label, rows in got.items():
        secs = [s for s, _ in rows]
        med = statistics.median(secs)
        ratio = (f"{med / ndpi:.2f} [{min(secs) / ndpi:.2f}-{max(secs) / ndpi:.2f}]" if ndpi else "-")
        rss = max(r for _, r in rows)
        print(f"{label:22} {med:6.2f} [{min(secs):4.2f}-{max(secs):4.2f}] {pkts / med:11,.0f} "
              f"{size / 1e6 / med:7.1f} {med / pkts * 1e6:7.2f} {ratio:>15} "
              f"{(f'{rss / 1024:.0f} MB' if rss else '-'):>9}")


def scaling(small: Path, big: Path, runs: int) -> None:
    """netwatch --jobs 1 on both cores (and ndpiReader) on both sizes, interleaved: time per packet
    and peak RSS should stay flat; the pure-Python core's ratio is printed beside the compiled one's."""
    labels = ("netwatch --jobs 1", "netwatch --jobs 1 pure")
    per: dict[Path, dict[str, list[tuple[float, int]]]] = {small: {}, big: {}}
    ndpi: dict[Path, list[float]] = {small: [], big: []}
    for _ in range(runs):
        for p in per:
            cmds = commands(p)
            for label in labels:
                if label in cmds:
                    secs, _, rss = run_timed(cmds[label])
                    per[p].setdefault(label, []).append((secs, rss))
            if "ndpiReader -q -i" in cmds:
                ndpi[p].append(run_timed(cmds["ndpiReader -q -i"])[0])
    print("\nscaling, netwatch --jobs 1 (median [range]):")
    base: dict[str, tuple[float, float]] = {}
    for p, by_label in per.items():
        n = bare_walk(p)
        for label, rows in by_label.items():
            us = [s / n * 1e6 for s, _ in rows]
            mb = statistics.median(r for _, r in rows) / 1024
            first = base.setdefault(label, (statistics.median(us), mb))
            vs = (f", {statistics.median(s for s, _ in rows) / statistics.median(ndpi[p]):.2f}x ndpiReader"
                  if ndpi[p] else "")
            core = "pure" if label.endswith("pure") else "compiled"
            print(f"  {n:>9,} packets, {core:8}: {statistics.median(us):.2f} µs/packet [{min(us):.2f}-{max(us):.2f}] "
                  f"(x{statistics.median(us) / first[0]:.2f}), peak RSS {mb:.0f} MB (x{mb / first[1]:.2f}){vs}")


def small_capture(runs: int) -> None:
    """The fixed costs (start-up, report): netwatch --jobs 1 and ndpiReader on a small bundled
    capture, interleaved."""
    path = ROOT / "captures" / "http_card_post.pcap"
    cmds = {k: v for k, v in commands(path).items() if k in ("ndpiReader -q -i", "netwatch --jobs 1")}
    got: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(runs):
        for label, cmd in cmds.items():
            got[label].append(run_timed(cmd)[0])
    meds = {k: statistics.median(v) for k, v in got.items()}
    line = ", ".join(f"{k} {v:.2f} s [{min(got[k]):.2f}-{max(got[k]):.2f}]" for k, v in meds.items())
    ratio = (f": {meds['netwatch --jobs 1'] / meds['ndpiReader -q -i']:.2f}x ndpiReader"
             if len(meds) == 2 else "")
    print(f"\nsmall capture {path.name} (median of {runs}){ratio}; {line}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=5, help="interleaved runs of each tool; medians and ranges shown")
    ap.add_argument("--scale", type=int, default=0, metavar="PACKETS",
                    help="also compare netwatch's time per packet and peak RSS with a capture this large "
                         "(e.g. 1200000): both should stay flat")
    args = ap.parse_args()
    path = capture(args.packets)
    table(path, measure(path, args.runs))
    if args.scale:
        scaling(path, capture(args.scale), args.runs)
    small_capture(args.runs)
    return 0


def _time(fn) -> float:  # noqa: ANN001 - a zero-argument callable
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
