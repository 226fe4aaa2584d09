"""Destination scenarios replayed with the store policy against their golden findings, and without a policy.

captures/expected/with-policy/NAME.jsonl holds the destination findings only (other areas' findings are
covered by the shared golden files made without a policy).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_helpers import scan_bundled

from netwatch.cli import main

ROOT = Path(__file__).parents[1]
CAPTURES = ROOT / "captures"
POLICY = CAPTURES / "policies" / "store.yaml"
KEY = "00000000000000000000000000000000"
NAMES = ["dest_acquirer_dns", "dest_acquirer_sni", "dest_card_unknown_host", "dest_outside_resolver",
         "dest_inbound_public", "dest_lateral_smb", "dest_clean_store"]
IGNORED = {"fingerprint", "source", "run_id", "sensor", "site"}  # key-dependent, or naming the run


def _strip(rec: dict) -> dict:
    rec = {k: v for k, v in rec.items() if k not in IGNORED}
    if "evidence" in rec:
        rec["evidence"] = {k: v for k, v in rec["evidence"].items() if k not in IGNORED}
    return rec


def scan(tmp_path: Path, name: str, *extra: str) -> list[dict]:
    return scan_bundled(tmp_path, CAPTURES / f"{name}.pcap", *extra)


@pytest.mark.parametrize("name", NAMES)
def test_with_store_policy_matches_golden(tmp_path: Path, name: str) -> None:
    got = [_strip(r) for r in scan(tmp_path, name, "--policy", str(POLICY)) if r["category"] == "destination"]
    golden = CAPTURES / "expected" / "with-policy" / f"{name}.jsonl"
    want = [_strip(json.loads(line)) for line in golden.read_text().splitlines()]
    assert [(r["rule"], r["severity"], r["dst"]) for r in got] == [(r["rule"], r["severity"], r["dst"]) for r in want]
    assert got == want


@pytest.mark.parametrize("name", NAMES)
def test_without_policy_no_destination_findings(tmp_path: Path, name: str) -> None:
    assert not [r for r in scan(tmp_path, name) if r["category"] == "destination"]


def test_card_to_unknown_host_is_critical_and_shows_the_dns_name(tmp_path: Path) -> None:
    recs = scan(tmp_path, "dest_card_unknown_host", "--policy", str(POLICY))
    dest = {r["rule"]: r for r in recs if r["category"] in ("destination", "exfiltration")}
    assert dest["NW-EXFIL-002"]["severity"] == "critical"
    assert dest["NW-DEST-001"]["severity"] == "critical"  # escalated: the flow carried card data
    assert dest["NW-DEST-001"]["evidence"]["names"] == ["collect.badhost.example"]
    assert dest["NW-EXFIL-002"]["evidence"]["masked"] == "411111******1111"


def test_card_number_never_written_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.jsonl"
    main(["scan", str(CAPTURES / "dest_card_unknown_host.pcap"), "--policy", str(POLICY), "--json", str(out),
          "--fail-on", "none"])
    text = out.read_text() + "".join(capsys.readouterr())
    pan = "4111" + "1111" * 3
    assert pan not in text
    assert "411111******1111" in text


def test_policy_lookup_uses_names_seen_before_the_connection_only(tmp_path: Path) -> None:
    """The acquirer flow is allowed through the DNS answer; without that name the address alone is not."""
    pol = tmp_path / "ip-only.yaml"
    pol.write_text("pos_hosts: [10.20.1.0/24]\nallowed_resolvers: [10.20.0.53]\n"
                   "allowed_destinations:\n  - {name: other, hosts: [other.example], ports: [443]}\n")
    recs = scan(tmp_path, "dest_acquirer_dns", "--policy", str(pol))
    assert [(r["rule"], r["dst"]) for r in recs] == [("NW-DEST-001", "203.0.113.10")]
    assert recs[0]["evidence"]["names"] == ["pay.acquirer.example", "pay-acquirer.edgecdn.example"]


def test_summary_without_policy_says_how_to_make_one(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    main(["scan", str(CAPTURES / "dest_clean_store.pcap"), "--fail-on", "none", "--no-progress"])
    out = capsys.readouterr().out
    assert "Destinations" in out and "netwatch learn" in out
    main(["scan", str(CAPTURES / "dest_clean_store.pcap"), "--policy", str(POLICY), "--fail-on", "none"])
    out = capsys.readouterr().out
    assert "netwatch learn CAPTURE" not in out and "acquirer" in out


@pytest.mark.parametrize(("name", "dst", "port"), [("dns_doh.pcap", "104.16.248.249", 443),
                                                   ("dns_dot.pcap", "8.8.8.8", 853)])
def test_corpus_encrypted_dns_agrees_with_ndpi(tmp_path: Path, name: str, dst: str, port: int) -> None:
    """nDPI calls these flows DoH_DoT; with a policy that does not allow them we say NW-DEST-004."""
    path = ROOT.parent / "shared" / "corpus" / "ndpi" / name
    if not path.exists():
        pytest.skip(f"corpus absent: {path}")
    pol = tmp_path / "p.yaml"
    pol.write_text("pos_hosts: [172.16.0.0/12, 192.168.0.0/16]\nallowed_resolvers: [192.168.1.1]\n")
    out = tmp_path / "o.jsonl"
    assert main(["scan", str(path), "--policy", str(pol), "--json", str(out), "--fail-on", "none", "-q"]) == 0
    recs = [r for r in map(json.loads, out.read_text().splitlines()) if r["event_type"] == "finding"]
    assert [(r["dst"], r["dport"]) for r in recs if r["rule"] == "NW-DEST-004"] == [(dst, port)]
