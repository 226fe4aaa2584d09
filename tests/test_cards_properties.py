"""Property tests: any brand-valid card in card context (a card field, a card word, track data, EMV
tags), in any supported encoding, embedded in random bytes and split into 2-3 TCP segments delivered
in any order, is found exactly once with the right mask and at critical; and no parser raises on
arbitrary bytes.

Cases are drawn from a seed (hypothesis prints the seed, never a card number). The pipeline is the
real one: scapy-built frames through decode, flows, reassembly, analyzers and rules.
"""

from __future__ import annotations

import base64
import random
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwatch.capture import Frame
from netwatch.judge.rules import RuleSet
from netwatch.pipeline.session import Session
from netwatch.protocols.card_dns import scan_dns_name
from netwatch.protocols.card_numbers import BRANDS, card_brand
from netwatch.protocols.card_search import scan
from netwatch.protocols.http import HttpParser
from netwatch.protocols.iso8583 import emv_tags, looks_like_iso8583, parse_message
from netwatch.redaction.masking import mask_pan

sys.path.insert(0, str(Path(__file__).parents[1] / "captures"))
from scenario_lib import Clock, TcpConversation  # noqa: E402

RULES = RuleSet.load([])
ENCODINGS = ["ascii", "grouped", "utf16le", "utf16be", "ebcdic", "bcd", "base64", "url", "track2", "hexdump", "emvdump",
             "fullwidth", "utf32le"]


def make_pan(rng: random.Random, strict_bcd: bool = False) -> str:
    """A brand-valid card number: real issuer prefix, a valid length, Luhn check digit.

    `strict_bcd`: what generic packed-BCD scanning accepts (14+ digits, no run of six zeros).
    """
    for _ in range(1000):
        _brand, ranges, lengths = rng.choice(BRANDS)
        lo, hi = rng.choice(ranges)
        head = str(rng.randint(int(lo), int(hi))).zfill(len(lo))
        n = rng.choice(sorted(lengths))
        body = head + "".join(rng.choice("0123456789") for _ in range(n - len(head) - 1))
        if strict_bcd and (n < 14 or "00000" in body):
            continue
        for check in "0123456789":
            pan = body + check
            if card_brand(pan) and not (strict_bcd and "000000" in pan):
                return pan
    raise AssertionError("no brand-valid number drawn")


def encode(pan: str, enc: str, rng: random.Random) -> bytes:
    """The card in one encoding, with the delimiters real data has around it."""
    if enc == "ascii":
        return b" pan=" + pan.encode() + b"; "
    if enc == "grouped":
        groups = [pan[i : i + 4] for i in range(0, len(pan), 4)] if len(pan) != 15 else [pan[:4], pan[4:10], pan[10:]]
        return rng.choice([b" card ", b" Card: ", b" Karte "]) + rng.choice(" -").join(groups).encode() + b"; "
    if enc in ("utf16le", "utf16be"):
        return (" pan=" + pan + "; ").encode("utf-16-le" if enc == "utf16le" else "utf-16-be")
    if enc == "ebcdic":
        return (" ;" + pan + "=2812101? ").encode("cp500")
    if enc == "bcd":
        nib = pan + ("f" if len(pan) & 1 else "")
        return b"\x70\x20\x5a" + bytes([len(nib) // 2]) + bytes.fromhex(nib) + b"\x5f\x24\x03\x28\x12\x31"  # EMV
    if enc == "base64":
        return b"\ncard=" + base64.b64encode(rng.randbytes(rng.randint(0, 5)) + b":" + pan.encode() + b"\n") + b"\n"
    if enc == "url":
        escaped = b"".join(b"%%%02X" % b if i % 3 == 0 else bytes([b]) for i, b in enumerate(pan.encode()))
        return b" cc_number=" + escaped + b"&"
    if enc in ("hexdump", "emvdump"):  # a debug log's dump: spaces or colons between the bytes
        data = encode(pan, "ascii" if enc == "hexdump" else "bcd", rng)
        return b"\nTX " + rng.choice(" :").join(f"{b:02x}" for b in data).encode() + b"\n"
    if enc == "fullwidth":
        return b" card_number=" + pan.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"}).encode() + b"; "
    if enc == "utf32le":
        return (" pan=" + pan + "; ").encode("utf-32-le")
    if enc == "track2":
        return b" ;" + pan.encode() + b"=28121010000012345? "
    raise AssertionError(enc)


def run_stream(data: bytes, cuts: list[int], order: list[int]) -> list:
    clock = Clock()
    conv = TcpConversation("10.9.0.1", "10.9.0.2", 40000, 7777, clock)
    conv.segments(0, data, cuts, order)
    conv.close()
    session = Session(RULES, None, "prop")
    for p in conv.packets:
        raw = bytes(p)
        session.feed(Frame(float(p.time), 1, raw, len(raw)))
    return [f for f in session.close().findings if f.category == "card-data"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), enc=st.sampled_from(ENCODINGS), parts=st.integers(2, 3))
def test_card_in_any_encoding_split_and_reordered_is_found_once(seed: int, enc: str, parts: int) -> None:
    rng = random.Random(seed)
    pan = make_pan(rng, strict_bcd=enc in ("bcd", "emvdump"))
    card = encode(pan, enc, rng)
    data = b"DATA\n" + rng.randbytes(rng.randint(0, 200)) + card + rng.randbytes(rng.randint(0, 200))
    cuts = sorted(rng.sample(range(1, len(data)), parts - 1))
    order = list(range(parts))
    rng.shuffle(order)
    findings = run_stream(data, cuts, order)
    got = [(f.evidence["masked"], f.evidence["kind"], f.count) for f in findings]
    kind = "track2" if enc in ("track2", "ebcdic") else "pan"
    assert got == [(mask_pan(pan), kind, 1)]
    assert [f.severity for f in findings] == ["critical"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_scanners_never_raise(data: bytes) -> None:
    scan(data)
    scan_dns_name(data.decode("latin-1"))
    looks_like_iso8583(data)
    parse_message(data)
    emv_tags(data)
    p = HttpParser()
    p.feed(data)
    p.feed(data)
    p.eof()


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=2, max_size=400))
def test_iso8583_framed_garbage_never_raises(data: bytes) -> None:
    framed = len(data).to_bytes(2, "big") + data
    looks_like_iso8583(framed)
    parse_message(b"\x02\x00" + data)
    parse_message(b"0200" + data)
    parse_message(b"\x60\x00\x03\x00\x00" + data)
