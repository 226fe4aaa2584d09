"""netwatch.toml: site defaults (policy, rule packs, key, fail-on, site, sensor) from the working
directory or the user's config directory; flags win; `netwatch config` shows what is in force and
from where, never the key; a bad file is a one-line error naming it and the key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "captures" / "http_card_post.pcap"
GOLDEN_ID = "7bd8a8d979aa39fce6682ee7"  # NW-CARD-001's finding_id in this capture under the all-zero key


def nw(cwd: Path, *args: str, xdg: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "NETWATCH_KEY"}
    environ.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(xdg or cwd / "no-such-dir"), COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True, cwd=cwd,
                          env=environ, timeout=120)


def _site_file(d: Path, **extra: str) -> None:
    shutil.copyfile(ROOT / "captures" / "policies" / "store.yaml", d / "store.yaml")
    lines = ['policy = "store.yaml"', 'fail_on = "none"', 'site = "store-9"', 'key = "' + "00" * 16 + '"']
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    (d / "netwatch.toml").write_text("\n".join(lines) + "\n")


def test_working_directory_file_sets_the_defaults(tmp_path: Path) -> None:
    _site_file(tmp_path)
    run = nw(tmp_path, "scan", str(CARD), "-q", "--json", "-")
    assert run.returncode == 0, run.stderr  # fail_on = "none"
    recs = [json.loads(line) for line in run.stdout.splitlines()]
    assert {r["site"] for r in recs} == {"store-9"}
    card = next(r for r in recs if r.get("rule") == "NW-CARD-001")
    assert card["finding_id"] == GOLDEN_ID  # the file's key
    assert any(r.get("rule", "").startswith("NW-DEST-") for r in recs)  # its policy judged the destination


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    _site_file(tmp_path)
    run = nw(tmp_path, "scan", str(CARD), "-q", "--json", "-", "--fail-on", "high", "--site", "other",
             "--key", "11" * 16)
    assert run.returncode == 1
    recs = [json.loads(line) for line in run.stdout.splitlines()]
    assert {r["site"] for r in recs} == {"other"}
    assert next(r for r in recs if r.get("rule") == "NW-CARD-001")["finding_id"] != GOLDEN_ID


def test_user_config_directory_is_read_and_the_working_directory_overrides_it(tmp_path: Path) -> None:
    xdg, work = tmp_path / "xdg", tmp_path / "work"
    (xdg / "netwatch").mkdir(parents=True)
    work.mkdir()
    (xdg / "netwatch" / "netwatch.toml").write_text('site = "from-user"\nsensor = "tap-7"\n')
    run = nw(work, "scan", str(CARD), "-q", "--json", "-", "--fail-on", "none", xdg=xdg)
    assert {(json.loads(line)["site"], json.loads(line)["sensor"]) for line in run.stdout.splitlines()} == {
        ("from-user", "tap-7")}
    (work / "netwatch.toml").write_text('site = "from-work"\n')
    shown = nw(work, "config", xdg=xdg)
    assert shown.returncode == 0
    assert f"site     from-work  [{work / 'netwatch.toml'}]" in shown.stdout
    assert f"sensor   tap-7  [{xdg / 'netwatch' / 'netwatch.toml'}]" in shown.stdout


def test_config_shows_sources_and_never_the_key(tmp_path: Path) -> None:
    _site_file(tmp_path)
    shown = nw(tmp_path, "config")
    assert shown.returncode == 0, shown.stderr
    assert "00" * 16 not in shown.stdout and "key      set (not shown)" in shown.stdout
    assert f"policy   {tmp_path / 'store.yaml'}  [{tmp_path / 'netwatch.toml'}]" in shown.stdout
    assert "rules    built-in rules only  [built-in default]" in shown.stdout
    env_key = nw(tmp_path, "config", NETWATCH_KEY="22" * 16)
    assert "[environment NETWATCH_KEY]" in env_key.stdout and "22" * 16 not in env_key.stdout


def test_bad_file_is_a_one_line_error_naming_file_and_key(tmp_path: Path) -> None:
    for text, expected in (('fail_onn = "none"\n', "unknown key 'fail_onn' (did you mean 'fail_on'?)"),
                           ('fail_on = "sometimes"\n', "'fail_on' expects one of"),
                           ("rules = \"one\"\n", "'rules' expects a list of paths"),
                           ('key = "short"\n', "'key': a fingerprint key needs at least 16 bytes"),
                           ("policy = [\n", "netwatch.toml: ")):
        (tmp_path / "netwatch.toml").write_text(text)
        run = nw(tmp_path, "scan", str(CARD), "-q")
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
        assert lines[0].startswith(f"netwatch: {tmp_path / 'netwatch.toml'}") and expected in lines[0], lines[0]
    assert nw(tmp_path, "--version").returncode == 0  # --version and --help never read it


def test_history_in_the_file_records_every_scan_and_config_hides_its_password(tmp_path: Path) -> None:
    (tmp_path / "netwatch.toml").write_text('history = "visits.sqlite"\nsite = "store-9"\n')
    card = str(ROOT / "captures" / "http_card_post.pcap")
    for _ in range(2):
        assert nw(tmp_path, "scan", card, "-q", "--fail-on", "none").returncode == 0
    assert (tmp_path / "visits.sqlite").stat().st_mode & 0o777 == 0o600  # relative to the file, created 0600
    sites = nw(tmp_path, "history", "sites", "--json", "-")
    assert sites.returncode == 0, sites.stderr
    visits = [json.loads(line) for line in sites.stdout.splitlines()]
    assert [(v["site"], v["visits"]) for v in visits if v["event_type"] == "site"] == [("store-9", 2)]
    other = str(tmp_path / "o.sqlite")
    assert nw(tmp_path, "scan", card, "-q", "--fail-on", "none", "--history", other).returncode == 0
    assert (tmp_path / "o.sqlite").exists()  # the flag wins over the file
    (tmp_path / "netwatch.toml").write_text('history = "postgresql://pos:s3cretpw@127.0.0.1:1/h"\n')
    shown = nw(tmp_path, "config")
    assert "s3cretpw" not in shown.stdout + shown.stderr and "postgresql://pos:" in shown.stdout
