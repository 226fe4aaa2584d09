"""The history when things go wrong, over both stores: a writer killed mid-transaction leaves the run whole or
absent; a corrupt file, a newer schema, an unreachable server or a bad URL is one line naming the store (never
its password), exit 2, with the scan's other outputs still written; a fleet scan on Dask records one visit
per capture's site, written by the client."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
CARD = str(CAPTURES / "http_card_post.pcap")
WRITER = ROOT / "tests" / "history_writer.py"


def nw(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netwatch", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _visits_and_rows(store: str) -> list[tuple[int, int]]:
    """(findings the visit's summary counts, findings rows stored) for every visit."""
    from sqlalchemy import func, select

    from netwatch.history import schema
    from netwatch.history.store import HistoryStore

    s = HistoryStore(store)
    with s.read() as conn:
        out = []
        for v in conn.execute(select(schema.visits.c.id, schema.visits.c.summary)):
            n = conn.execute(select(func.count()).select_from(schema.findings)
                             .where(schema.findings.c.visit_id == v.id)).scalar_one()
            out.append((json.loads(v.summary)["findings"]["total"], int(n)))
    s.close()
    return out


def test_a_writer_killed_mid_transaction_leaves_all_or_nothing(history_store: str) -> None:
    rng = random.Random(21)
    cut = 0
    for _attempt in range(6):
        p = subprocess.Popen([sys.executable, str(WRITER), history_store, "Killed", "3000"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.strip() == "writing", p.communicate(timeout=60)[1][-500:]
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(p.pid, signal.SIGKILL)
        rest, _ = p.communicate(timeout=60)
        if "written" not in rest:
            cut += 1
        rows = _visits_and_rows(history_store)
        assert all(total == stored for total, stored in rows), rows  # never half a visit
        assert len(rows) == _attempt + 1 - cut
    assert cut >= 1  # at least one kill landed inside the transaction
    r = nw("scan", CARD, "--site", "Killed", "--history", history_store, "-q", "--fail-on", "none", "--jobs", "1")
    assert r.returncode == 0, r.stderr  # the store is fine afterwards
    assert all(t == s for t, s in _visits_and_rows(history_store))


def _outputs_written(tmp_path: Path, *history: str) -> subprocess.CompletedProcess[str]:
    out, html = tmp_path / "out.jsonl", tmp_path / "out.html"
    r = nw("scan", CARD, "--json", str(out), "--html", str(html), "-q", "--fail-on", "none", "--jobs", "1", *history)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert recs[-1]["event_type"] == "summary" and any(x["event_type"] == "finding" for x in recs)
    assert "Card number in cleartext" in html.read_text(encoding="utf-8")
    return r


def _one_line(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netwatch: history ") and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_corrupt_sqlite_file(tmp_path: Path) -> None:
    bad = tmp_path / "history.sqlite"
    bad.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(8192)))
    _one_line(_outputs_written(tmp_path, "--history", str(bad)), str(bad), "not a usable SQLite history")
    _one_line(nw("history", "--history", str(bad)), str(bad))
    _one_line(nw("diff", "Any", "--history", str(bad)), str(bad))


def test_history_from_a_newer_netwatch_is_refused(history_store: str, tmp_path: Path) -> None:
    from sqlalchemy import update

    from netwatch.history import schema
    from netwatch.history.store import HistoryStore

    assert nw("scan", CARD, "--history", history_store, "-q", "--fail-on", "none").returncode == 0
    s = HistoryStore(history_store)
    with s.write() as conn:
        conn.execute(update(schema.meta).where(schema.meta.c.name == "schema_version").values(value="7"))
    s.close()
    _one_line(_outputs_written(tmp_path, "--history", history_store), "schema version 7 is newer")
    _one_line(nw("history", "sites", "--history", history_store), "schema version 7 is newer")


@pytest.mark.parametrize("url", [
    "postgresql://analyst:s3cr%40t-pw@/netwatch?host=/nonexistent/nw-socket-dir",  # nothing listens there
    "postgresql://analyst:s3cr@t-pw@[::1/netwatch",  # not a URL
    "postgres://analyst:s3cr@t-pw@127.0.0.1:notaport/netwatch",
    "mysql://analyst:s3cr@t-pw@127.0.0.1/netwatch",
])
def test_unusable_server_or_url_never_shows_the_password(url: str, tmp_path: Path) -> None:
    line = _one_line(_outputs_written(tmp_path, "--history", url))
    assert "s3cr" not in line and "t-pw" not in line and "analyst:***@" in line


@pytest.mark.slow
def test_fleet_scan_on_dask_records_one_visit_per_store_directory(tmp_path: Path) -> None:
    for store, caps in (("store-a", ["http_card_post", "protect_ssh"]), ("store-b", ["protect_vnc"])):
        (tmp_path / "fleet" / store).mkdir(parents=True)
        for c in caps:
            shutil.copy(CAPTURES / f"{c}.pcap", tmp_path / "fleet" / store)
    db = str(tmp_path / "team.sqlite")
    r = nw("scan", str(tmp_path / "fleet"), "--jobs", "2", "--history", db, "--fail-on", "none")
    assert r.returncode == 0, r.stderr[-600:]
    assert "recorded in the history" in r.stderr and "store-a" in r.stderr and "store-b" in r.stderr
    sites = {x["site"]: x for x in map(json.loads, nw("history", "--history", db, "--json", "-", "-q")
                                      .stdout.splitlines())}
    assert set(sites) == {"store-a", "store-b"} and all(s["visits"] == 1 for s in sites.values())
    assert sites["store-a"]["open"]["critical"] == 1 and sites["store-b"]["open"]["critical"] == 0
    one = [x for x in map(json.loads, nw("history", "store-a", "--history", db, "--json", "-", "-q").stdout
                          .splitlines()) if x["event_type"] == "visit"]
    assert len(one) == 1 and len(one[0]["inputs"]) == 2


@pytest.mark.live
def test_live_records_its_run_at_stop(history_store: str, tmp_path: Path) -> None:
    """`live --history`: Ctrl-C (its normal stop) writes the summary and records one visit of the site."""
    from live_run import finish, need_raw, start_live
    from live_traffic import MASKED_PAN, Servers, bpf_for, run_clients

    need_raw()
    servers = Servers("127.0.0.1")
    html = tmp_path / "live.html"
    try:
        proc = start_live(["-i", "lo", "--backend", "scapy", "--bpf", bpf_for(servers.ports), "--duration", "30",
                           "--site", "Till 3", "--history", history_store, "--html", str(html), "--fail-on", "none",
                           "-q"])
        run_clients("127.0.0.1", servers.ports)
        code, _out, err = finish(proc, signal.SIGINT, timeout=60)
    finally:
        servers.close()
    assert code == 0, err[-500:]
    records = [json.loads(x) for x in nw("history", "Till 3", "--history", history_store, "--json", "-", "-q")
               .stdout.splitlines()]
    visits = [x for x in records if x["event_type"] == "visit"]
    assert len(visits) == 1 and visits[0]["inputs"] == ["live:lo"]
    cards = [x for x in records if x["event_type"] == "history_finding" and x["rule"] == "NW-CARD-001"]
    assert cards and cards[0]["evidence"]["masked"] == MASKED_PAN and cards[0]["state"] == "open"
    assert "visit 1 of 1 recorded for Till 3" in html.read_text(encoding="utf-8")


def _hold_write_lock(store: str) -> Any:
    """Block writers from outside: SQLite's write lock, or PostgreSQL's lock on `sites` (so the scan's
    transaction waits inside itself). Returns (connection, transaction); roll back to release."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    url = store.replace("postgresql://", "postgresql+psycopg://", 1) if "://" in store else f"sqlite:///{store}"
    engine = create_engine(url, poolclass=NullPool, connect_args={"isolation_level": None} if "://" not in store
                           else {})
    conn = engine.connect()
    if "://" in store:
        tx = conn.begin()
        conn.exec_driver_sql("LOCK TABLE sites IN EXCLUSIVE MODE")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        tx = None
    return conn, tx


def test_ctrl_c_while_scan_writes_finishes_the_write_then_exits_130(history_store: str, tmp_path: Path) -> None:
    from conftest import reading

    assert nw("scan", CARD, "--site", "Lock", "--history", history_store, "-q", "--fail-on", "none").returncode == 0
    conn, tx = _hold_write_lock(history_store)
    out = tmp_path / "o.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", CARD, str(CAPTURES / "protect_telnet_v6.pcap"),
                             "--site", "Lock", "--history", history_store, "--json", str(out), "-q", "--fail-on",
                             "none", "--jobs", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        if "://" not in history_store:  # it waits for the lock with the file open
            while not reading(proc.pid, Path(history_store)) and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            while not _waiting_on_lock(conn) and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1][-400:]
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
    finally:
        if tx is not None:
            tx.rollback()
        else:
            conn.exec_driver_sql("ROLLBACK")
        conn.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-500:]
    assert all(t == s for t, s in _visits_and_rows(history_store))
    visits = [json.loads(x) for x in nw("history", "Lock", "--history", history_store, "--json", "-", "-q")
              .stdout.splitlines() if '"visit"' in x]
    assert [v["findings"]["total"] for v in visits] == [2, 5]  # the interrupted write landed whole
    assert json.loads(out.read_text().splitlines()[-1])["event_type"] == "summary"


def _waiting_on_lock(conn: Any) -> bool:
    """Some other session waits for a lock (the scan, inside its write transaction)."""
    n = conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE NOT granted").scalar_one()
    return bool(n)
