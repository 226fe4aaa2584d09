"""`netwatch learn`: a commented policy from a known-good capture; the round trip gives no destination findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netwatch.cli import main
from netwatch.judge.learn import learn_policy
from netwatch.judge.policy import load_policy

CAPTURES = Path(__file__).parents[1] / "captures"
ALL = sorted(str(p) for p in CAPTURES.glob("dest_*.pcap"))


def findings(tmp_path: Path, capture: str, policy: Path) -> list[dict]:
    out = tmp_path / "scan.jsonl"
    assert main(["scan", capture, "--policy", str(policy), "--json", str(out), "--fail-on", "none", "-q"]) == 0
    return [r for r in map(json.loads, out.read_text().splitlines()) if r["event_type"] == "finding"]


@pytest.mark.parametrize("pos", [["10.20.1.0/24"], []])
def test_round_trip_clean_capture(tmp_path: Path, pos: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    pol = tmp_path / "policy.yaml"
    clean = str(CAPTURES / "dest_clean_store.pcap")
    args = ["learn", clean, "-o", str(pol), "--site", "store-0042"] + (["--pos-hosts", *pos] if pos else [])
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().err
    text = pol.read_text()
    assert text.startswith("#") and "# seen:" in text
    loaded = load_policy(pol)
    assert loaded.site == "store-0042" and loaded.allowed and loaded.allowed_resolvers
    assert "pay.acquirer.example" in text  # grouped by the DNS name, not only the address
    assert not [f for f in findings(tmp_path, clean, pol) if f["category"] == "destination"]
    # the learnt policy is not allow-all: a card posted to an unknown host is still caught
    bad = findings(tmp_path, str(CAPTURES / "dest_card_unknown_host.pcap"), pol)
    assert {"NW-DEST-001", "NW-EXFIL-002"} <= {f["rule"] for f in bad}


def test_round_trip_every_destination_scenario(tmp_path: Path) -> None:
    """Learning from all scenarios together allows all their outbound traffic; inbound stays flagged."""
    pol = tmp_path / "all.yaml"
    assert main(["learn", *ALL, "-o", str(pol), "--pos-hosts", "10.20.1.0/24"]) == 0
    text = pol.read_text()
    assert "WARNING: inbound from 203.0.113.200" in text
    for cap in ALL:
        dest = {f["rule"] for f in findings(tmp_path, cap, pol) if f["category"] == "destination"}
        assert dest <= {"NW-DEST-005"}, (cap, dest)


def test_learn_groups_names_and_lists_addresses_without_names() -> None:
    rows = [
        {"dst": "203.0.113.10", "dport": 443, "proto": "tcp", "app": "tls", "encrypted": True, "how": "tls",
         "infra": False, "names": ["pay.acquirer.example"], "clients": ["10.20.1.15"], "flows": 2, "bytes": 10,
         "unnamed": 1},
        {"dst": "203.0.113.11", "dport": 8443, "proto": "tcp", "app": "tls", "encrypted": True, "how": "tls",
         "infra": False, "names": ["api.acquirer.example", "evil\nname: x"], "clients": ["10.20.1.15"], "flows": 1,
         "bytes": 10, "unnamed": 0},
        {"dst": "224.0.0.251", "dport": 5353, "proto": "udp", "app": "mdns", "encrypted": False, "how": None,
         "infra": True, "names": [], "clients": ["10.20.1.15"], "flows": 1, "bytes": 10, "unnamed": 1},
    ]
    learned = learn_policy(rows, ["10.20.1.0/24"])
    assert learned.destinations == 1  # one entry for acquirer.example, multicast skipped
    from netwatch.judge.policy import policy_from_text

    pol = policy_from_text(learned.text)
    (d,) = pol.allowed
    assert d.name == "acquirer.example" and d.ports == {443, 8443}
    assert set(d.hostnames) == {"pay.acquirer.example", "api.acquirer.example"}  # the odd name is dropped
    # .10: some flows there had no name; .11: one of its names cannot be listed, so its flows may have none
    assert [str(n) for n in d.networks] == ["203.0.113.10/32", "203.0.113.11/32"]
    assert "\nname: x" not in learned.text and "evil\\x0aname: x" in learned.text  # shown escaped, in a comment


def test_bad_pos_hosts_and_existing_output_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = str(CAPTURES / "dest_clean_store.pcap")
    assert main(["learn", clean, "-o", str(tmp_path / "p.yaml"), "--pos-hosts", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--pos-hosts" in err and "nope" in err and err.count("\n") == 1
    existing = tmp_path / "exists.yaml"
    existing.write_text("site: keep\n")
    assert main(["learn", clean, "-o", str(existing)]) == 2
    assert existing.read_text() == "site: keep\n"
    assert main(["learn", clean, "-o", str(existing), "--force"]) == 0
    missing = tmp_path / "missing.pcap"
    assert main(["learn", str(missing), "-o", str(tmp_path / "q.yaml")]) == 2
    assert "Traceback" not in capsys.readouterr().err
