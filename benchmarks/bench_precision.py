"""Precision benchmark: retail look-alikes and true cards through the whole scan (issue 22).

Usage: python benchmarks/bench_precision.py [--items 20000] [--cards 2000] [--seed 22] [--keep DIR]

Builds synthetic store traffic in a temporary directory and scans it with netwatch's own pipeline
(pcap reader, reassembly, HTTP parser, analyzers, rules). Look-alike classes (precision_items.py:
GS1 keys of many country prefixes, SEPA IBANs compact and grouped, UUIDs and digests, MIME
boundaries / Message-IDs / Exchange anti-spam ids, timestamps, phone numbers, IMEIs, loyalty
numbers, order numbers, parcel numbers), `--items` of each, travel in realistic carriers: JSON
baskets with a payment section (scheme and expiry near the items), receipts with a card-payment
footer, form posts, CSV exports, mails over SMTP, and bare lists. True cards travel in card context
(a card field or label), bare (alone in a list or a sentence), and mixed into the look-alike
carriers' payment sections. Prints false findings per 10,000 items per class (critical/high vs the
lower NW-CARD-004) and how the true cards were found per context. A finding is attributed by its
keyed fingerprint (true cards) or else by its flow (the class that flow carried).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import dpkt

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from precision_items import LOOKALIKES, Item, true_card  # noqa: E402

from netwatch.pipeline.runner import ScanConfig, run_local  # noqa: E402
from netwatch.pipeline.session import all_findings  # noqa: E402
from netwatch.redaction.masking import Fingerprinter, mask_pan  # noqa: E402

KEY = bytes(16)
PER_MESSAGE = 40  # items per carrier message
CARRIERS = ("json", "receipt", "form", "csv", "mail", "list")
FOOTER = "Kartenzahlung VISA\r\nKarte: ************1234\r\ngueltig bis 12/28\r\nTerminal-ID 52001234\r\n"


def json_basket(items: list[Item], card: str | None) -> bytes:
    rows = [{key: value, "name": f"Artikel {i}", "qty": 1 + i % 3, "price": 1.29 + i} for i, (value, key) in
            enumerate(items)]
    payment: dict[str, str] = {"method": "card", "scheme": "VISA", "expiry": "12/28", "masked": "411111******1111"}
    if card:
        payment["pan"] = card
    return json.dumps({"store": "0421", "items": rows, "payment": payment}).encode()


def receipt(items: list[Item], card: str | None) -> bytes:
    lines = ["REWE Markt GmbH", "Bon-Nr. 4711  Kasse 3"]
    for i, (value, key) in enumerate(items):
        if key.lower() in ("ean", "gtin", "barcode", "upc", "articleno", "gtin14", "sku", "sscc"):
            lines.append(f"{value}  Artikel {i}  {1 + i % 3} Stk x 1,29 EUR")
        else:
            lines.append(f"{key}: {value}")
    lines += ["SUMME EUR 12,90", "MwSt 19% 2,06"]
    if card:
        lines.append(f"Kartennummer: {card}")
    return ("\r\n".join(lines) + "\r\n" + FOOTER).encode()


def form(items: list[Item], card: str | None) -> bytes:
    pairs = [f"{quote(key)}={quote(value)}" for value, key in items] + ["payment=card", "scheme=visa"]
    if card:
        pairs.append(f"cardNumber={card}")
    return "&".join(pairs).encode()


def csv_export(items: list[Item], card: str | None) -> bytes:
    key = items[0][1]
    rows = [f"{key};name;qty;price"] + [f"{value};Artikel {i};1;1,29" for i, (value, _k) in enumerate(items)]
    return ("\r\n".join(rows) + "\r\n").encode()


def mail(items: list[Item], card: str | None) -> bytes:
    boundary = "===============8161873046371923371=="
    head = ["From: shop@store.example", "To: buchhaltung@store.example", "Subject: Tagesabschluss",
            "Message-ID: <20261207.161454.4711@store.example>", "MIME-Version: 1.0"]
    body = []
    for value, key in items:
        if key == "boundary":
            boundary = value
        elif key in ("Message-ID", "X-Microsoft-Antispam"):
            head.append(f"{key}: {value}")
        else:
            body.append(f"{key} {value} wurde verbucht, Zahlungsart Kreditkarte.")
    if card:
        body.append(f"Kreditkartennummer: {card}")
    head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
    text = "\r\n".join(head) + f"\r\n\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n" + "\r\n".join(body)
    return (text + f"\r\n--{boundary}--\r\n.\r\n").encode()


def bare_list(items: list[Item], card: str | None) -> bytes:
    return ("\r\n".join(value for value, _k in items) + "\r\n").encode()


BUILD = {"json": json_basket, "receipt": receipt, "form": form, "csv": csv_export, "mail": mail, "list": bare_list}
CONTENT_TYPE = {"json": "application/json", "receipt": "text/plain", "form": "application/x-www-form-urlencoded",
                "csv": "text/csv", "list": "text/plain"}


class Pcap:
    """TCP conversations written with dpkt (checksums computed), one client port per flow."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("wb")
        self.writer = dpkt.pcap.Writer(self.file)
        self.t = 1_700_000_000.0

    def _pkt(self, src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
             data: bytes = b"") -> None:
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, data=data)
        ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_TCP, data=tcp, ttl=64)
        ip.len += len(tcp)
        eth = dpkt.ethernet.Ethernet(src=b"\x02\0\0\0\0\1", dst=b"\x02\0\0\0\0\2", data=ip)
        self.t += 0.001
        self.writer.writepkt(bytes(eth), ts=self.t)

    def conversation(self, sport: int, dport: int, exchanges: list[tuple[bytes, bytes]]) -> None:
        c, s = bytes([10, 20, 1, 15]), bytes([10, 20, 9, 6])
        seq = [1000, 900000]
        a = dpkt.tcp
        self._pkt(c, s, sport, dport, seq[0], 0, a.TH_SYN)
        self._pkt(s, c, dport, sport, seq[1], seq[0] + 1, a.TH_SYN | a.TH_ACK)
        seq = [seq[0] + 1, seq[1] + 1]
        for request, response in exchanges:
            for d, data in ((0, request), (1, response)):
                for i in range(0, len(data), 1400):
                    chunk = data[i : i + 1400]
                    src, dst, sp, dp = (c, s, sport, dport) if d == 0 else (s, c, dport, sport)
                    self._pkt(src, dst, sp, dp, seq[d], seq[1 - d], a.TH_PUSH | a.TH_ACK, chunk)
                    seq[d] += len(chunk)
        self._pkt(c, s, sport, dport, seq[0], seq[1], a.TH_FIN | a.TH_ACK)
        self._pkt(s, c, dport, sport, seq[1], seq[0] + 1, a.TH_FIN | a.TH_ACK)

    def close(self) -> None:
        self.writer.close()


def exchanges(carrier: str, bodies: list[bytes]) -> tuple[int, list[tuple[bytes, bytes]]]:
    if carrier == "mail":
        out = [(b"EHLO pos\r\n", b"250 ok\r\n")]
        for b in bodies:
            out += [(b"MAIL FROM:<shop@store.example>\r\nRCPT TO:<bh@store.example>\r\nDATA\r\n", b"354 go\r\n"),
                    (b, b"250 queued\r\n")]
        return 25, out
    ok = b"HTTP/1.1 204 No Content\r\n\r\n"
    head = "POST /upload HTTP/1.1\r\nHost: backoffice.store.example\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n"
    return 8080, [(head.format(CONTENT_TYPE[carrier], len(b)).encode() + b, ok) for b in bodies]


Cards = dict[str, tuple[str, str]]  # keyed fingerprint → (context, masked number)


def build(path: Path, n_items: int, n_cards: int, rng: random.Random) -> tuple[dict[int, str], Cards, Counter]:
    """Write the capture; return flow port → class, card fingerprint → (context, masked), items per class."""
    fp = Fingerprinter(KEY)
    pcap, port = Pcap(path), 20000
    flows: dict[int, str] = {}
    cards: Cards = {}
    counts: Counter[str] = Counter()

    def flow(label: str, carrier: str, bodies: list[bytes]) -> None:
        nonlocal port
        for i in range(0, len(bodies), 25):  # keep-alive: 25 messages per connection
            dport, ex = exchanges(carrier, bodies[i : i + 25])
            pcap.conversation(port, dport, ex)
            flows[port] = label
            port += 1

    for cls, make in LOOKALIKES.items():
        items = [make(rng) for _ in range(n_items)]
        counts[cls] = n_items
        per_carrier: dict[str, list[bytes]] = {c: [] for c in CARRIERS}
        for k in range(0, n_items, PER_MESSAGE):
            carrier = CARRIERS[(k // PER_MESSAGE) % len(CARRIERS)]
            card = None
            if carrier not in ("csv", "list") and rng.random() < 0.1:
                card = true_card(rng)
                cards[fp(card)] = ("card field in a look-alike carrier", mask_pan(card))
            per_carrier[carrier].append(BUILD[carrier](items[k : k + PER_MESSAGE], card))
        for carrier, bodies in per_carrier.items():
            flow(cls, carrier, bodies)
    context_bodies: dict[str, list[bytes]] = {"json": [], "receipt": [], "form": [], "mail": [], "list": []}
    keys = ["pan", "cardNumber", "card_number", "ccnum", "Kartennummer", "creditCard"]
    for i in range(n_cards):
        card = true_card(rng)
        carrier = list(context_bodies)[i % len(context_bodies)]
        if carrier == "list":
            bare = "bare, 13 digits (card context only)" if len(card) == 13 else "bare (a list or a sentence)"
            cards[fp(card)] = (bare, mask_pan(card))
            text = f"{card}\r\n" if i % 2 else f"Referenz {card} bitte pruefen.\r\n"
            context_bodies["list"].append(text.encode())
        else:
            cards[fp(card)] = ("card field or label", mask_pan(card))
            context_bodies[carrier].append(BUILD[carrier]([(card, rng.choice(keys))], None))
    for carrier, bodies in context_bodies.items():
        flow("true cards", carrier, bodies)
    pcap.close()
    return flows, cards, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20000, help="look-alikes per class (default 20000)")
    ap.add_argument("--cards", type=int, default=2000, help="true cards in card fields and bare (default 2000)")
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--keep", type=Path, help="write the capture here instead of a temporary directory")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp)) / "precision.pcap"
        t0 = time.perf_counter()
        flows, cards, counts = build(path, args.items, args.cards, rng)
        t1 = time.perf_counter()
        reports = run_local([str(path)], ScanConfig(rule_dirs=(), policy_path=None, fingerprint_key=KEY)).reports
        t2 = time.perf_counter()
        size = path.stat().st_size
    false_hi: Counter[str] = Counter()
    false_lo: Counter[str] = Counter()
    found: dict[str, dict[str, str]] = {}  # context → fingerprint → best severity
    by_masked = {masked: ctx for _fp, (ctx, masked) in cards.items()}
    by_fp = {k: ctx for k, (ctx, _m) in cards.items()}
    for f in all_findings(reports):
        if f.category != "card-data" or "fingerprint" not in f.evidence:
            continue
        fprint = str(f.evidence["fingerprint"])
        ctx = by_fp.get(fprint) or by_masked.get(str(f.evidence.get("masked")))  # (a fingerprint can be masked)
        if ctx is not None:
            prev = found.setdefault(ctx, {}).get(fprint)
            if prev != "critical":
                found[ctx][fprint] = f.severity
            continue
        cls = flows.get(f.sport or 0, "?")
        (false_hi if f.severity in ("critical", "high") else false_lo)[cls] += f.count
    print(f"capture: {size / 1e6:.1f} MB, built in {t1 - t0:.1f} s, scanned in {t2 - t1:.1f} s\n")
    print(f"{'look-alike class':<18}{'items':>8}{'critical/high per 10k':>24}{'NW-CARD-004 per 10k':>22}")
    for cls, n in counts.items():
        print(f"{cls:<18}{n:>8}{false_hi[cls] * 1e4 / n:>24.1f}{false_lo[cls] * 1e4 / n:>22.1f}")
    print(f"\n{'true cards by context':<38}{'cards':>7}{'critical':>10}{'lower':>8}{'missed':>8}")
    for ctx in sorted(set(by_fp.values())):
        total = sum(1 for c in by_fp.values() if c == ctx)
        sev = Counter(found.get(ctx, {}).values())
        lower = sum(v for k, v in sev.items() if k != "critical")
        print(f"{ctx:<38}{total:>7}{sev['critical']:>10}{lower:>8}{total - sev['critical'] - lower:>8}")


if __name__ == "__main__":
    main()
