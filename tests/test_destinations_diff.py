"""`netwatch diff`: new/resolved findings and new destinations between two runs (JSON Lines or captures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netwatch.cli import main

CAPTURES = Path(__file__).parents[1] / "captures"
POLICY = str(CAPTURES / "policies" / "store.yaml")
CLEAN = str(CAPTURES / "dest_clean_store.pcap")
CARD = str(CAPTURES / "dest_card_unknown_host.pcap")
RESOLVER = str(CAPTURES / "dest_outside_resolver.pcap")


def scan_json(tmp_path: Path, capture: str, name: str) -> str:
    out = tmp_path / name
    main(["scan", capture, "--policy", POLICY, "--json", str(out), "--fail-on", "none", "-q"])
    return str(out)


def diff_records(tmp_path: Path, base: str, cur: str, *extra: str) -> tuple[int, list[dict]]:
    out = tmp_path / "diff.jsonl"
    code = main(["diff", base, cur, "--json", str(out), "-q", *extra])
    return code, [json.loads(line) for line in out.read_text().splitlines()]


def test_jsonl_to_jsonl(tmp_path: Path) -> None:
    base, cur = scan_json(tmp_path, RESOLVER, "a.jsonl"), scan_json(tmp_path, CARD, "b.jsonl")
    code, recs = diff_records(tmp_path, base, cur)
    kinds = {(r["diff"], r.get("rule")) for r in recs}
    assert ("new-finding", "NW-EXFIL-002") in kinds and ("new-finding", "NW-CARD-001") in kinds
    assert ("resolved-finding", "NW-DEST-003") in kinds
    # the summary records carry the inventory: JSON Lines compare every destination, like captures
    assert any(r["diff"] == "new-destination" and r["dst"] == "192.0.2.66" and r["from"] == "inventory" for r in recs)
    assert code == 1  # new findings at or above high
    assert "4111" + "1111" * 3 not in (tmp_path / "diff.jsonl").read_text()


def test_same_run_twice_is_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    base = scan_json(tmp_path, CARD, "a.jsonl")
    assert main(["diff", base, CARD, "--policy", POLICY]) == 0  # JSONL baseline against the capture itself
    assert "No changes" in capsys.readouterr().out


def test_captures_compare_full_inventory(tmp_path: Path) -> None:
    code, recs = diff_records(tmp_path, CLEAN, CARD, "--policy", POLICY, "--fail-on", "critical")
    new_dest = [r for r in recs if r["diff"] == "new-destination"]
    assert [(r["dst"], r["dport"]) for r in new_dest] == [("192.0.2.66", 80)]
    assert new_dest[0]["from"] == "inventory" and new_dest[0]["names"] == ["collect.badhost.example"]
    gone = {(r["dst"], r["dport"]): r for r in recs if r["diff"] == "gone-destination"}
    assert ("203.0.113.10", 443) in gone
    assert code == 1
    # the policy's verdict (policy.judge, through the inventory) travels with each destination
    assert (new_dest[0]["allowed"], new_dest[0]["denied"]) == ([], 1)
    assert gone[("203.0.113.10", 443)]["allowed"] == ["acquirer"] and gone[("203.0.113.10", 443)]["denied"] == 0


def test_console_table(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["diff", CLEAN, CARD, "--policy", POLICY, "--fail-on", "none"]) == 0
    out = capsys.readouterr().out
    assert "New findings" in out and "New destinations" in out and "NW-EXFIL-002" in out
    assert "411111******1111" in out and "4111" + "1111" * 3 not in out


@pytest.mark.parametrize("content", ["not json\n", '{"no": "rule"}\n', "\x00\xff\xfe binary"])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content.encode("latin-1"))
    assert main(["diff", str(bad), CARD]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.jsonl" in err and "Traceback" not in err
    assert main(["diff", str(tmp_path / "missing.jsonl"), CARD]) == 2
