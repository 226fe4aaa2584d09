"""`netwatch diff` pairs findings by `finding_id` when both runs carry ids made with the same key, so
diff and a SIEM upserting on the id agree; other keys or older files fall back to rule/endpoints/card."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from netwatch.cli import main
from tests.pipeline_helpers import pcap_bytes, tcp_frame, write

CARD = b"4000056655665556"  # a Luhn-valid test Visa number; never printed whole
KEY, OTHER_KEY = "11" * 16, "22" * 16
CLIENT, CARD_HOST = "10.20.1.15", "10.20.1.16"


def _post(client: str, server: str, sport: int, body: bytes, user: bytes = b"") -> list[bytes]:
    """One HTTP POST to `server`:80 with its handshake; with `user`, a Basic login in clear."""
    login = b"Authorization: Basic " + base64.b64encode(user + b":Till-42-pass") + b"\r\n" if user else b""
    req = b"POST /pay HTTP/1.1\r\nHost: gw\r\n%sContent-Length: %d\r\n\r\n%s" % (login, len(body), body)
    return [tcp_frame(client, server, sport, 80, 100, 0x02), tcp_frame(server, client, 80, sport, 900, 0x12),
            tcp_frame(client, server, sport, 80, 101, 0x10), tcp_frame(client, server, sport, 80, 101, 0x18, req),
            tcp_frame(client, server, sport, 80, 101 + len(req), 0x11)]


def _capture(tmp_path: Path, name: str, flows: list[tuple[str, str, bytes]], user: bytes = b"") -> str:
    frames = [f for n, (client, server, body) in enumerate(flows) for f in _post(client, server, 40000 + n, body,
                                                                                   user)]
    return write(tmp_path, name, pcap_bytes([(1.0 + i / 100, f) for i, f in enumerate(frames)]))


@pytest.fixture
def runs(tmp_path: Path) -> tuple[str, str]:
    """Baseline: cards to .77 and .78, a card-less form to .79. Current: .77 the same, the .78 flow now
    goes to .80 (an endpoint changed), and the .79 form now carries a card (its cleartext finding is
    graded up from medium to high, and a card finding appears)."""
    paid, form = b"pan=" + CARD + b"&x=1", b"name=shop&x=1"
    base = _capture(tmp_path, "base.pcap", [(CLIENT, "198.51.100.77", paid), (CLIENT, "198.51.100.78", paid),
                                            (CARD_HOST, "198.51.100.79", form)])
    cur = _capture(tmp_path, "cur.pcap", [(CLIENT, "198.51.100.77", paid), (CLIENT, "198.51.100.80", paid),
                                          (CARD_HOST, "198.51.100.79", paid)])
    return base, cur


def _scan(capture: str, out: Path, key: str) -> list[dict]:
    main(["scan", capture, "--json", str(out), "--key", key, "--fail-on", "none", "-q"])
    return [r for r in map(json.loads, out.read_text().splitlines()) if r["event_type"] == "finding"]


def _diff(base: str, cur: str, out: Path) -> tuple[int, list[dict]]:
    code = main(["diff", base, cur, "--json", str(out), "-q", "--fail-on", "high"])
    return code, [json.loads(line) for line in out.read_text().splitlines()]


def _what(recs: list[dict]) -> set[tuple[str, str, str, str]]:
    return {(r["diff"], r["rule"], r["dst"], r["severity"]) for r in recs if "rule" in r}


def test_same_key_diff_agrees_with_the_ids(tmp_path: Path, runs: tuple[str, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    base_ids = {f["finding_id"]: f for f in _scan(runs[0], a, KEY)}
    cur_ids = {f["finding_id"]: f for f in _scan(runs[1], b, KEY)}
    code, recs = _diff(str(a), str(b), tmp_path / "d.jsonl")
    assert capsys.readouterr().err == ""  # ids used: nothing to explain
    what = _what(recs)
    assert ("new-finding", "NW-CARD-001", "198.51.100.80", "critical") in what
    assert ("resolved-finding", "NW-CARD-001", "198.51.100.78", "critical") in what
    assert ("new-finding", "NW-CARD-001", "198.51.100.79", "critical") in what
    assert ("severity-changed", "NW-CLEAR-001", "198.51.100.79", "high") in what
    assert not any(r.get("dst") == "198.51.100.77" for r in recs)  # the same finding in both runs: unchanged
    assert code == 1
    # diff and the ids say the same: every finding with the same id on both sides is unchanged, and every
    # new (resolved) finding is an id of the current (baseline) run only
    changed = [r for r in recs if r["diff"] == "severity-changed"]
    new = {r["finding_id"] for r in recs if r["diff"] in ("new-finding", "severity-changed")}
    resolved = {r["finding_id"] for r in recs if r["diff"] == "resolved-finding"}
    assert new == set(cur_ids) - set(base_ids)
    was = {i for i, f in base_ids.items() if (f["rule"], f["dst"]) == (changed[0]["rule"], changed[0]["dst"])}
    assert resolved | was == set(base_ids) - set(cur_ids) and not resolved & was
    assert "4000" + "0566" + "5566" + "5556" not in (tmp_path / "d.jsonl").read_text()


def test_other_keys_fall_back_and_say_so(tmp_path: Path, runs: tuple[str, str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    a, b, b2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "b2.jsonl"
    _scan(runs[0], a, KEY), _scan(runs[1], b, KEY), _scan(runs[1], b2, OTHER_KEY)
    _, same_key = _diff(str(a), str(b), tmp_path / "d1.jsonl")
    capsys.readouterr()
    code, other_key = _diff(str(a), str(b2), tmp_path / "d2.jsonl")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different keys" in err and "--key" in err
    # the fallback matches by rule, endpoints and masked card: here the same changes as the ids found
    assert _what(other_key) == _what(same_key) and code == 1


def test_files_without_ids_match_by_endpoints(tmp_path: Path, runs: tuple[str, str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A file written before finding ids existed (no `finding_id`) is compared the old way, silently."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _scan(runs[0], a, KEY), _scan(runs[1], b, KEY)
    _, with_ids = _diff(str(a), str(b), tmp_path / "d1.jsonl")
    old = [{k: v for k, v in r.items() if k != "finding_id"} for r in map(json.loads, a.read_text().splitlines())]
    a.write_text("".join(json.dumps(r) + "\n" for r in old))
    capsys.readouterr()
    _, without = _diff(str(a), str(b), tmp_path / "d2.jsonl")
    assert capsys.readouterr().err == ""
    assert _what(without) == _what(with_ids)


def test_two_captures_in_one_diff_share_the_run_key(tmp_path: Path, runs: tuple[str, str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Captures compared by `diff` are scanned with one key (random without --key): matched by id."""
    code, recs = _diff(*runs, tmp_path / "d.jsonl")
    assert capsys.readouterr().err == ""
    assert ("severity-changed", "NW-CLEAR-001", "198.51.100.79", "high") in _what(recs) and code == 1
    assert not any(r.get("dst") == "198.51.100.77" for r in recs)


def test_a_login_by_another_user_is_a_new_finding(tmp_path: Path) -> None:
    """Same endpoints, another user's password in clear: the ids (which cover the rule's group values)
    tell the two logins apart, where rule, endpoints and card alone called it unchanged."""
    flows = [(CLIENT, "198.51.100.81", b"x=1")]
    runs = [_capture(tmp_path, f"{user.decode()}.pcap", flows, user) for user in (b"alice", b"bob")]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _scan(runs[0], a, KEY), _scan(runs[1], b, KEY)
    code, recs = _diff(str(a), str(b), tmp_path / "d.jsonl")
    logins = {(r["diff"], r["evidence"]["user"]) for r in recs if r["rule"] == "NW-CRED-001"}
    assert logins == {("new-finding", "bob"), ("resolved-finding", "alice")} and code == 1
    assert not any(r["rule"] == "NW-CLEAR-001" for r in recs)  # the flow itself did not change
    assert "Till-42" not in (tmp_path / "d.jsonl").read_text()
