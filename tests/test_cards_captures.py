"""Card scenario captures: look-alikes stay silent, exfiltration is called out, nothing leaks whole."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pipeline_helpers import scan_bundled

from netwatch.cli import main
from netwatch.protocols.card_numbers import card_brand, luhn_ok

ROOT = Path(__file__).parents[1]
CAPTURES = ROOT / "captures"
POLICY = CAPTURES / "policies" / "store.yaml"
KEY = "00000000000000000000000000000000"
NAMES = ["cards_iso8583_bcd", "cards_iso8583_ascii", "cards_ebcdic_track2", "cards_utf16", "cards_http_base64_track",
         "cards_http_gzip", "cards_dns_exfil", "cards_lookalikes"]

sys.path.insert(0, str(CAPTURES))
import scenarios_cards  # noqa: E402


def scan(tmp_path: Path, name: str, *extra: str) -> list[dict]:
    return scan_bundled(tmp_path, CAPTURES / f"{name}.pcap", *extra)


def test_lookalike_numbers_are_luhn_valid_non_cards() -> None:
    import random

    nums = scenarios_cards.lookalike_numbers(random.Random(8583))
    assert len(nums) >= 1000
    assert all(luhn_ok(n) for n in nums)
    assert not [n for n in nums if card_brand(n)]


def test_lookalikes_capture_has_no_card_or_exfiltration_findings(tmp_path: Path) -> None:
    recs = scan(tmp_path, "cards_lookalikes")
    assert not [r for r in recs if r["category"] in ("card-data", "exfiltration")]
    assert all(r["evidence"].get("cards") == 0 for r in recs if r["rule"] == "NW-CLEAR-001")


def test_dns_exfiltration_is_a_separate_finding(tmp_path: Path) -> None:
    recs = scan(tmp_path, "cards_dns_exfil")
    card = sorted(r["evidence"]["masked"] for r in recs if r["rule"] == "NW-CARD-001")
    exfil = sorted(r["evidence"]["masked"] for r in recs if r["rule"] == "NW-EXFIL-001")
    assert card == exfil == ["371449*****8431", "453914******6467", "510510******5100"]
    assert {r["category"] for r in recs if r["rule"] == "NW-EXFIL-001"} == {"exfiltration"}


def test_card_to_host_outside_policy_is_exfiltration(tmp_path: Path) -> None:
    plain = scan(tmp_path, "cards_http_base64_track")
    assert not [r for r in plain if r["category"] == "exfiltration"]  # no policy: quiet
    recs = scan(tmp_path, "cards_http_base64_track", "--policy", str(POLICY))
    exfil = [r for r in recs if r["rule"] == "NW-EXFIL-002"]
    assert sorted(r["evidence"]["masked"] for r in exfil) == ["305693****5904", "401288******1881"]
    assert all(r["dst"] == "192.0.2.66" and r["evidence"]["channel"] == "http-body" for r in exfil)


def test_iso8583_findings(tmp_path: Path) -> None:
    recs = scan(tmp_path, "cards_iso8583_bcd")
    iso = [r for r in recs if r["rule"] == "NW-CARD-003"]
    assert len(iso) == 1 and iso[0]["evidence"]["clear_fields"] == [2, 35, 55]
    assert iso[0]["evidence"]["header"] == "tpdu+cup" and iso[0]["app"] == "iso8583"
    kinds = sorted((r["evidence"]["kind"], r["evidence"]["encoding"], r["evidence"]["brand"]) for r in recs
                   if r["category"] == "card-data" and r["rule"] != "NW-CARD-003")
    assert kinds == [("pan", "bcd", "unionpay"), ("pan", "bcd", "visa"), ("track2", "bcd", "unionpay")]
    track = next(r for r in recs if r["rule"] == "NW-CARD-002")
    assert track["severity"] == "critical" and track["evidence"]["expiry_present"] is True


@pytest.mark.parametrize("name", NAMES)
def test_no_full_card_number_in_any_output(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    main(["scan", str(CAPTURES / f"{name}.pcap"), "--json", str(out), "--key", KEY, "--fail-on", "none"])
    text = capsys.readouterr()
    blob = out.read_text() + text.out + text.err
    squeezed = blob.replace(" ", "").replace("-", "")
    leaked = [i for i, n in enumerate(scenarios_cards.CARD_NUMBERS) if n in blob or n in squeezed]
    assert leaked == []  # indexes into CARD_NUMBERS, never the numbers
