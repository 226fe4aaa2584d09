"""The site history over both stores (SQLite file, real PostgreSQL server), same test bodies: three visits
of a site built from bundled captures, `history` and `diff SITE`, the HTML's "since the last visit", no
secret stored, concurrent writers, a writer killed mid-transaction, and stores that cannot be used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
CARD, TELNET, SSH, VNC = (str(CAPTURES / f"{n}.pcap") for n in ("http_card_post", "protect_telnet_v6", "protect_ssh",
                                                                 "protect_vnc"))
VISITS = ([CARD, TELNET, SSH], [TELNET, SSH], [CARD, VNC, SSH])  # card fixed then back, telnet fixed, vnc new
SITE = "Store 7 <Main St>"


def nw(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netwatch", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _schema() -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "netwatch" / "report" / "schema" / "netwatch-eve-v2.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def three_visits(store: str, tmp_path: Path) -> str:
    """Record the three visits; returns the third one's HTML report."""
    html = tmp_path / "visit3.html"
    for i, caps in enumerate(VISITS):
        extra = ["--html", str(html)] if i == 2 else []
        r = nw("scan", *caps, "--site", SITE, "--history", store, "-q", "--fail-on", "none", "--jobs", "1", *extra)
        assert r.returncode == 0, r.stderr[-600:]
    return html.read_text(encoding="utf-8")


def by_rule_and_port(records: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["rule"], r["dport"]): r for r in records if r["event_type"] == "history_finding"}


def test_three_visits_give_open_resolved_and_recurring(history_store: str, tmp_path: Path) -> None:
    page = three_visits(history_store, tmp_path)
    r = nw("history", SITE, "--history", history_store, "--json", "-", "-q")
    assert r.returncode == 0, r.stderr
    records = jsonl(r.stdout)
    validator = _schema()
    assert [e.message for x in records for e in validator.iter_errors(x)] == []
    visits = [x for x in records if x["event_type"] == "visit"]
    assert len(visits) == 3 and all(v["site"] == SITE for v in visits)
    assert [len(v["inputs"]) for v in visits] == [3, 2, 3]
    f = by_rule_and_port(records)
    states = {k: (v["state"], v["visits"]) for k, v in f.items()}
    assert states == {
        ("NW-CARD-001", 8080): ("recurring", 2), ("NW-CLEAR-001", 8080): ("recurring", 2),
        ("NW-CRED-001", 23): ("resolved", 2), ("NW-CLEAR-001", 23): ("resolved", 2), ("NW-RA-003", 23): ("resolved", 2),
        ("NW-RA-003", 22): ("open", 3), ("NW-CLEAR-001", 5900): ("open", 1), ("NW-RA-003", 5900): ("open", 1),
    }
    card = f[("NW-CARD-001", 8080)]
    assert card["evidence"]["masked"] == "411111******1111" and card["seen_in"] == [visits[0]["run_id"],
                                                                                     visits[2]["run_id"]]
    assert all(v["visits_total"] == 3 for v in f.values())
    # the HTML of the third visit: what changed since the second, and the trend over all three
    section = page[page.index('<section id="history">'):page.index('<section id="pci">')]
    assert "visit 3 of 3 recorded for Store 7 &lt;Main St&gt;" in section
    assert "<b>4 new</b>" in section and "<b>3 resolved</b>" in section and "<b>1 still open</b>" in section
    new = section[section.index("New since the last visit"):section.index("Resolved since the last visit")]
    assert "recurring</b>: it was fixed once and came back" in new and "NW-CARD-001" in new
    still = section[section.index("Still open"):]
    assert "10.20.1.15:22" in still and "3 of 3" in still
    assert "<svg" in section and "Findings per category at each visit" in section
    # the console view of the same
    r = nw("history", SITE, "--history", history_store)
    assert r.returncode == 0 and "recurring" in r.stdout and "resolved" in r.stdout and "3/3" in r.stdout


def test_sites_since_and_diff_of_the_last_two_visits(history_store: str, tmp_path: Path) -> None:
    three_visits(history_store, tmp_path)
    r = nw("scan", CARD, "--site", "Other", "--history", history_store, "-q", "--fail-on", "none", "--jobs", "1")
    assert r.returncode == 0, r.stderr
    site_records = jsonl(nw("history", "sites", "--history", history_store, "--json", "-", "-q").stdout)
    assert [e.message for x in site_records for e in _schema().iter_errors(x)] == []
    sites = {x["site"]: x for x in site_records}
    assert set(sites) == {SITE, "Other"} and sites[SITE]["visits"] == 3 and sites["Other"]["visits"] == 1
    assert sites[SITE]["open"] == {"critical": 1, "high": 1, "medium": 1, "low": 2, "info": 0}
    assert sites["Other"]["open"]["critical"] == 1
    later = nw("history", SITE, "--history", history_store, "--since", "2099-01-01", "--json", "-", "-q")
    assert later.returncode == 0 and later.stdout == ""
    d = nw("diff", SITE, "--history", history_store, "--json", "-", "-q", "--fail-on", "none")
    assert d.returncode == 0, d.stderr
    changes = {(x["diff"], x.get("rule"), x.get("dport")) for x in jsonl(d.stdout)}
    assert ("new-finding", "NW-CARD-001", 8080) in changes and ("new-finding", "NW-RA-003", 5900) in changes
    assert ("resolved-finding", "NW-CRED-001", 23) in changes and ("resolved-finding", "NW-RA-003", 23) in changes
    assert not any(c[0].endswith("finding") and c[2] == 22 for c in changes)  # ssh: in both visits
    assert nw("diff", SITE, "--history", history_store, "--fail-on", "critical").returncode == 1  # a new critical
    one = nw("diff", "Other", "--history", history_store)
    assert one.returncode == 2 and "has 1 visit" in one.stderr
    unknown = nw("history", "Nowhere", "--history", history_store)
    assert unknown.returncode == 2 and "no site 'Nowhere'" in unknown.stderr and "Traceback" not in unknown.stderr


def _stored_text(store: str) -> str:
    """Everything the store holds, as text (every row of every table; for SQLite also the raw file bytes)."""
    from sqlalchemy import select

    from netwatch.history import schema
    from netwatch.history.store import HistoryStore

    s = HistoryStore(store)
    with s.read() as conn:
        rows = [repr(tuple(r)) for t in schema.metadata.sorted_tables for r in conn.execute(select(t))]
    s.close()
    raw = "".join(Path(p).read_bytes().decode("latin-1") for p in (store, store + "-wal") if Path(p).exists()) \
        if "://" not in store else ""
    return "\n".join(rows) + raw


def test_no_card_number_password_or_key_is_stored(history_store: str) -> None:
    key = "5e" * 16
    r = nw("scan", CARD, str(CAPTURES / "leaks_every_channel.pcap"), TELNET, "--history", history_store, "--key", key,
           "-q", "--fail-on", "none", "--jobs", "1")
    assert r.returncode == 0, r.stderr
    text = _stored_text(history_store)
    assert "411111******1111" in text and "hmac-sha256:" in text  # masked numbers and keyed fingerprints only
    assert key not in text and bytes.fromhex(key).decode("latin-1") not in text
    cards = _every_bundled_card()
    assert "4111111111111111" in cards and len(cards) > 20
    assert [pan for pan in cards if pan in text] == []
    assert "Sw1tch!2024" not in text and "netadmin" in text  # the telnet login: user kept, password never
    leak_passwords = _every_bundled_password()
    assert leak_passwords and [pw for pw in leak_passwords if pw in text] == []


def _every_bundled_password() -> set[str]:
    """The passwords the leak scenarios (leaks_every_channel.pcap) send, as their module lists them."""
    import importlib

    if str(CAPTURES) not in sys.path:
        sys.path.insert(0, str(CAPTURES))
    return {str(pw) for pw in importlib.import_module("scenarios_leaks").PASSWORDS if len(str(pw)) >= 6}


def _every_bundled_card() -> set[str]:
    """The card numbers every scenario module lists (CARD_NUMBERS), digits only."""
    import importlib

    if str(CAPTURES) not in sys.path:
        sys.path.insert(0, str(CAPTURES))
    cards: set[str] = set()
    for mod in CAPTURES.glob("scenarios*.py"):
        cards |= {"".join(ch for ch in str(c) if ch.isdigit())
                  for c in getattr(importlib.import_module(mod.stem), "CARD_NUMBERS", ())}
    return {c for c in cards if len(c) >= 12}


def test_history_file_is_created_0600_in_the_xdg_data_directory(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "NETWATCH_HISTORY": ""}
    r = nw("scan", CARD, "--history", "-q", "--fail-on", "none", "--jobs", "1", env=env)
    assert r.returncode == 0, r.stderr
    db = tmp_path / "xdg" / "netwatch" / "history.sqlite"
    assert db.stat().st_mode & 0o777 == 0o600 and db.parent.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o077 == 0 for p in db.parent.iterdir())  # -wal and -shm too
    r = nw("history", "--json", "-", "-q", env=env)
    assert [x["site"] for x in jsonl(r.stdout)] == ["captures"]  # no site given: the capture's directory


def test_two_scans_writing_at_once_both_land(history_store: str) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "netwatch", "scan", cap, "--site", "Busy", "--history",
                               history_store, "-q", "--fail-on", "none", "--jobs", "1"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cap in (CARD, TELNET) * 2]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1][-300:] for o in outs]
    visits = [x for x in jsonl(nw("history", "Busy", "--history", history_store, "--json", "-", "-q").stdout)
              if x["event_type"] == "visit"]
    assert len(visits) == 4 and len({v["run_id"] for v in visits}) == 4


def test_filters_do_not_narrow_what_is_recorded_and_key_checks_pair_visits(history_store: str) -> None:
    key = "ab" * 16
    runs = (["--category", "card-data", "--key", key], ["--key", key], [])
    for extra in runs:
        r = nw("scan", CARD, TELNET, "--site", "F", "--history", history_store, "-q", "--fail-on", "none",
               "--jobs", "1", *extra)
        assert r.returncode == 0, r.stderr
    records = jsonl(nw("history", "F", "--history", history_store, "--json", "-", "-q").stdout)
    visits = [x for x in records if x["event_type"] == "visit"]
    assert [v["findings"]["total"] for v in visits] == [5, 5, 5]  # --category showed 1, the visit keeps all 5
    assert visits[0]["same_key_as"] == visits[1]["same_key_as"] is not None and visits[2]["same_key_as"] is None
    assert key not in json.dumps(records)
    assert all(x["state"] == "open" and x["visits"] == 3 for x in records if x["event_type"] == "history_finding")


def test_a_capture_right_after_history_is_refused_not_taken_as_the_store(tmp_path: Path) -> None:
    r = nw("scan", "--history", CARD, env={"XDG_DATA_HOME": str(tmp_path)})
    assert r.returncode == 2 and "looks like a capture" in r.stderr and "Traceback" not in r.stderr
    assert not Path(CARD + "-wal").exists()


def test_visits_carry_the_run_id_of_the_runs_json_records(history_store: str, tmp_path: Path) -> None:
    """A SIEM joins the history to the JSON Lines on run_id: one site's visit has the run's id, a run
    over two capture directories (no --site: a site each) writes `<run_id>.1` and `<run_id>.2`."""
    out = tmp_path / "one.jsonl"
    r = nw("scan", CARD, "--site", SITE, "--history", history_store, "--json", str(out), "-q", "--fail-on", "none",
           "--jobs", "1")
    assert r.returncode == 0, r.stderr[-600:]
    run_ids = {x["run_id"] for x in jsonl(out.read_text())}
    visits = [x for x in jsonl(nw("history", SITE, "--history", history_store, "--json", "-", "-q").stdout)
              if x["event_type"] == "visit"]
    assert len(run_ids) == 1 and [v["run_id"] for v in visits] == list(run_ids)
    for store in ("east", "west"):
        (tmp_path / store).mkdir()
        (tmp_path / store / "pos.pcap").write_bytes(Path(CARD).read_bytes())
    out = tmp_path / "two.jsonl"
    r = nw("scan", str(tmp_path / "east" / "pos.pcap"), str(tmp_path / "west" / "pos.pcap"), "--history",
           history_store, "--json", str(out), "-q", "--fail-on", "none", "--jobs", "1")
    assert r.returncode == 0, r.stderr[-600:]
    (run_id,) = {x["run_id"] for x in jsonl(out.read_text())}
    for n, store in enumerate(("east", "west"), 1):
        seen = [x["run_id"] for x in jsonl(nw("history", store, "--history", history_store, "--json", "-", "-q").stdout)
                if x["event_type"] == "visit"]
        assert seen == [f"{run_id}.{n}"]
