"""DNS over TCP (RFC 7766): a client may send many length-prefixed queries on one connection, and
several in one segment. A card number in any of their names (digits split over labels, base32) is
found and is in no evidence file. Assertion messages name forms, never the number.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
from pipeline_helpers import pcap_bytes
from test_evidence_logins import conversation

from netwatch.cli import main

PAN = "4539578763621486"  # a Visa test number (scenarios_evidence lists it)
B32 = base64.b32encode(PAN.encode()).decode().rstrip("=").lower()


def query(ident: int, name: str) -> bytes:
    labels = b"".join(bytes([len(label)]) + label for label in name.encode().split(b"."))
    body = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 1, 1)
    return struct.pack("!H", len(body)) + body


def refused(ident: int) -> bytes:
    body = struct.pack("!HHHHHH", ident, 0x8185, 0, 0, 0, 0)
    return struct.pack("!H", len(body)) + body


SPLIT = f"{PAN[:8]}.{PAN[8:]}.x.exfil.example"
CASES = {
    "split-labels-second-query": [(0, query(1, "pos.store42.example")), (1, refused(1)), (0, query(2, SPLIT)),
                                  (1, refused(2))],
    "base32-second-query": [(0, query(1, "pos.store42.example")), (1, refused(1)),
                            (0, query(2, f"{B32}.exfil.example")), (1, refused(2))],
    "two-queries-one-segment": [(0, query(1, "pos.store42.example") + query(2, SPLIT)), (1, refused(1) + refused(2))],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_card_in_any_query_of_the_stream_is_found_and_redacted(name: str, tmp_path: Path) -> None:
    cap = tmp_path / "dns.pcap"
    cap.write_bytes(pcap_bytes(conversation(50400, 53, CASES[name])))
    js = tmp_path / "f.jsonl"
    assert main(["scan", str(cap), "--evidence", str(tmp_path / "ev"), "--json", str(js), "--fail-on", "none",
                 "-q"]) == 0
    rules = {r["rule"] for r in map(json.loads, js.read_text().splitlines()) if r.get("event_type") == "finding"}
    assert "NW-CARD-001" in rules
    forms = {"ascii": PAN.encode(), "first-label": PAN[:8].encode(), "second-label": PAN[8:].encode(),
             "base32": B32.encode()}
    files = sorted((tmp_path / "ev").glob("*.pcap"))
    assert files
    for f in files:
        leaked = [k for k, v in forms.items() if v in f.read_bytes()]
        assert not leaked, f"{f.name}: {leaked}"
