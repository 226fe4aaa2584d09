"""Inputs that used to pass a CI gate in silence: a --rule pattern naming no rule, a capture cut
inside its header, captures skipped by name in a directory, the same file twice, gzip on stdin;
and the one category vocabulary shared by the rules and the filters."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from netwatch.judge.rules import builtin_rules_dir
from netwatch.judge.vocabulary import CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "captures" / "http_card_post.pcap"


def nw(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, cwd=ROOT, timeout=120,
                         input=stdin, env=dict(os.environ, COLUMNS="200"))
    return subprocess.CompletedProcess(run.args, run.returncode, run.stdout.decode(), run.stderr.decode())


def one_line_error(run: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert run.returncode == 2, run.stderr[-300:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netwatch") and "Traceback" not in run.stderr, run.stderr
    for p in parts:
        assert p in lines[0]


def test_rule_pattern_matching_no_rule_is_refused_with_the_closest_ids() -> None:
    run = nw("scan", str(CARD), "--rule", "NW-NOPE-*", "-q")
    one_line_error(run, "--rule NW-NOPE-*", "matches no loaded rule")
    near = nw("scan", str(CARD), "--rule", "NW-CARD-01", "-q")
    one_line_error(near, "NW-CARD-001")


def test_rule_pattern_matching_a_rule_still_filters() -> None:
    run = nw("scan", str(CARD), "--rule", "nw-card-*", "-q", "--json", "-", "--fail-on", "none")
    assert run.returncode == 0, run.stderr
    assert '"NW-CARD-001"' in run.stdout and '"NW-CLEAR-' not in run.stdout


def _categories_of_bundled_rules() -> set[str]:
    used = set()
    for f in Path(builtin_rules_dir()).glob("*.yaml"):
        for doc in yaml.safe_load(f.read_text()) or []:
            if isinstance(doc, dict) and "category" in doc:
                used.add(doc["category"])
    return used


def test_every_category_a_bundled_rule_uses_is_accepted_by_the_filters() -> None:
    used = _categories_of_bundled_rules()
    assert "outdated" in used and used <= set(CATEGORIES)
    for category in sorted(used):
        run = nw("scan", str(CARD), "--category", category, "-q", "--fail-on", "none")
        assert run.returncode == 0, (category, run.stderr)
    one_line_error(nw("scan", str(CARD), "--category", "nonsense", "-q"), "outdated")


@pytest.mark.parametrize("cut", [4, 10, 23])
def test_capture_cut_inside_its_header_is_an_input_error(tmp_path: Path, cut: int) -> None:
    cut_file = tmp_path / "cut.pcap"
    cut_file.write_bytes(CARD.read_bytes()[:cut])
    one_line_error(nw("scan", str(cut_file), "-q"), "file ends inside the pcap file header")
    one_line_error(nw("scan", "-", "-q", stdin=CARD.read_bytes()[:cut]), "file header")


def test_pcapng_cut_inside_its_section_header_is_an_input_error(tmp_path: Path) -> None:
    cut_file = tmp_path / "cut.pcapng"
    cut_file.write_bytes(b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a")
    one_line_error(nw("scan", str(cut_file), "-q"), "pcapng file header")


def test_gzip_on_standard_input_is_decompressed() -> None:
    plain = nw("scan", "-", "-q", "--json", "-", "--fail-on", "none", stdin=CARD.read_bytes())
    packed = nw("scan", "-", "-q", "--json", "-", "--fail-on", "none", stdin=gzip.compress(CARD.read_bytes()))
    assert packed.returncode == 0, packed.stderr
    assert '"NW-CARD-001"' in packed.stdout and packed.stdout.count("\n") == plain.stdout.count("\n")


def test_directory_scan_finds_captures_by_magic_and_names_what_it_skipped(tmp_path: Path) -> None:
    shutil.copyfile(CARD, tmp_path / "trace.pcap1")  # tcpdump -C/-W rotation
    (tmp_path / "old").mkdir()
    shutil.copyfile(CARD, tmp_path / "old" / "store.dump")
    (tmp_path / "notes.txt").write_text("not a capture\n")
    (tmp_path / "empty").write_bytes(b"")
    run = nw("scan", str(tmp_path), "-q", "--json", "-", "--fail-on", "none")
    assert run.returncode == 0, run.stderr
    assert "trace.pcap1" in run.stdout and "store.dump" in run.stdout
    note = [line for line in run.stderr.splitlines() if "skipped" in line]
    assert len(note) == 1 and "skipped 2 files" in note[0]
    assert "notes.txt (no pcap or pcapng magic number)" in note[0] and "empty (empty)" in note[0]


def test_same_file_twice_or_through_a_symlink_is_scanned_once(tmp_path: Path) -> None:
    (tmp_path / "link.pcap").symlink_to(CARD)
    run = nw("scan", str(CARD), str(CARD), str(tmp_path / "link.pcap"), "-q", "--json", "-", "--fail-on", "none")
    assert run.returncode == 0, run.stderr
    assert run.stdout.count('"rule": "NW-CARD-001"') == 1
    assert "given twice; scanned once" in run.stderr and f"the same file as {CARD}" in run.stderr
