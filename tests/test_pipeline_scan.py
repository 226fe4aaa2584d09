"""The scan's hot loop: its count-only fast path must agree with the full path, and a card number
split anywhere over segments sent in any order is found exactly once."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_helpers import ether, ipv4_packet, pcap_bytes, tcp_frame, tcp_segment, write

from netwatch.capture.pcapfile import CaptureReader
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session, scan_file
from netwatch.redaction.masking import Fingerprinter

ROOT = Path(__file__).resolve().parents[1]
RULES = RuleSet.load([])
CARD = b"4000056655665556"  # a Luhn-valid test Visa number
KEY = Fingerprinter(bytes(16))  # both paths fingerprint cards with the same key


def _bench():
    spec = importlib.util.spec_from_file_location("bench_scan", ROOT / "benchmarks" / "bench_scan.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _summary(report) -> dict:
    return {
        "packets": report.packets, "bytes": report.bytes, "flows": report.flows, "first": report.first_ts,
        "last": report.last_ts, "errors": report.decode_errors, "gaps": report.tcp_gaps,
        "findings": sorted(repr(f.to_json()) for f in report.findings),
        "inventory": sorted(repr(sorted(r.items())) for r in report.inventory),
    }


@pytest.fixture(scope="module")
def store_mix(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("mix") / "mix.pcap"
    _bench().generate(path, 12_000, seed=3)
    return str(path)


def test_fast_path_agrees_with_full_path(store_mix):
    fast = scan_file(store_mix, RULES, None, fingerprint=KEY)
    slow = Session(RULES, None, store_mix, fingerprint=KEY)
    with CaptureReader(store_mix) as r:
        for frame in r:
            slow.feed(frame)
    full = slow.close()
    assert fast.packets == 12_000 and fast.findings
    assert _summary(fast) == _summary(full)


def test_fast_path_on_vlan_and_esp(tmp_path):
    """802.1Q-tagged and ESP frames take the fast path once their flow is known; counts still agree."""
    esp = [ether(ipv4_packet("192.0.2.1", "192.0.2.2", 50, b"\0\0\1\1" + i.to_bytes(4, "big") + b"e" * 80),
                 vlans=(7,)) for i in range(50)]
    tls = [ether(ipv4_packet("10.0.0.1", "10.0.0.2", 6, tcp_segment(40000, 443, 1 + 20 * i, 0x18,
                                                                     b"\x17\x03\x03\x00\x0f" + b"x" * 15)), vlans=(7,))
           for i in range(50)]
    path = write(tmp_path, "v.pcap", pcap_bytes([(1.0 + i / 100, f) for i, f in enumerate(esp + tls)]))
    fast = scan_file(path, RULES, None)
    slow = Session(RULES, None, path)
    with CaptureReader(path) as r:
        for frame in r:
            slow.feed(frame)
    assert _summary(fast) == _summary(slow.close())
    assert fast.packets == 100 and fast.flows == 2


POST = b"POST /pay HTTP/1.1\r\nHost: gw\r\nContent-Length: 24\r\n\r\npan=" + CARD + b"&x=1"


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(1, len(POST) - 1), min_size=1, max_size=4, unique=True),
       rnd=st.randoms(use_true_random=False), retransmit=st.booleans())
def test_card_split_anywhere_in_any_order_found_once(tmp_path_factory, cuts, rnd, retransmit):
    bounds = sorted({0, len(POST), *cuts})
    pieces = [(bounds[i], POST[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]
    rnd.shuffle(pieces)
    if retransmit:
        pieces.append(pieces[0])
    c, s = ("10.20.1.15", 49200), ("198.51.100.77", 8080)
    frames = [tcp_frame(*c[:1], *s[:1], c[1], s[1], 100, 0x02), tcp_frame(s[0], c[0], s[1], c[1], 900, 0x12),
              tcp_frame(c[0], s[0], c[1], s[1], 101, 0x10)]
    frames += [tcp_frame(c[0], s[0], c[1], s[1], 101 + off, 0x18, piece) for off, piece in pieces]
    path = write(tmp_path_factory.mktemp("split"), "s.pcap", pcap_bytes([(1.0 + i / 100, f) for i, f in
                                                                         enumerate(frames)]))
    report = scan_file(path, RULES, None)
    cards = [f for f in report.findings if f.rule == "NW-CARD-001"]
    assert len(cards) == 1 and cards[0].count == 1
    assert CARD.decode() not in repr(cards[0].to_json())


def test_most_packets_skip_the_full_path(store_mix, monkeypatch):
    """Packets of TLS/VPN flows and bare ACKs are counted from their header, not decoded again."""
    import netwatch.pipeline.session as scan_mod

    calls = 0
    real = scan_mod.Decoder.decode

    def counting(self, linktype, data, ts):
        nonlocal calls
        calls += 1
        return real(self, linktype, data, ts)

    monkeypatch.setattr(scan_mod.Decoder, "decode", counting)
    report = scan_file(store_mix, RULES, None)
    assert report.packets == 12_000
    assert calls < 0.3 * report.packets
