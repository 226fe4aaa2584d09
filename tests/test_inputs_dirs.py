"""Directories that cannot be read are named (summary and stderr), never skipped in silence; an
input with nothing readable at all is a one-line error. As root, netwatch runs without the
capabilities that bypass file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "captures" / "http_card_post.pcap"
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2
LOCKED = 0o000  # not even the owner may list it


def _drop_permission_bypass() -> None:
    """In the child before exec: without these, root obeys file modes like any user."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    """A directory with one good capture; locked parts are unlocked again for cleanup."""
    (tmp_path / "ok").mkdir()
    shutil.copyfile(CARD, tmp_path / "ok" / "card.pcap")  # a bundled capture, read in place of a store's
    yield tmp_path
    for d, dirs, _ in os.walk(tmp_path):
        for n in dirs:
            os.chmod(os.path.join(d, n), 0o755)


def nw_locked_out(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, preexec_fn=_drop_permission_bypass, env=dict(os.environ, COLUMNS="300"))


def test_unreadable_subdirectory_is_named(tree: Path) -> None:
    secret = tree / "ok" / "locked"
    secret.mkdir()
    shutil.copyfile(CARD, secret / "hidden.pcap")
    secret.chmod(LOCKED)
    run = nw_locked_out("scan", str(tree), "--fail-on", "none", "--no-progress")
    assert "Traceback" not in run.stderr
    assert run.returncode == 2  # a part of the input could not be scanned
    assert f"cannot read directory {secret}: Permission denied" in run.stderr
    assert "locked" in run.stdout  # in the summary's capture table too
    assert "card.pcap" in run.stdout and "NW-CARD-001" in run.stdout  # the readable part is scanned


def test_entirely_unreadable_directory_is_one_line_error(tree: Path) -> None:
    (tree / "ok").chmod(LOCKED)
    run = nw_locked_out("scan", str(tree / "ok"), "--no-progress")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines == [f"netwatch: cannot read directory {tree / 'ok'}: Permission denied"]
    assert "no capture files" not in run.stderr


def test_unreadable_file_in_directory_is_named(tree: Path) -> None:
    (tree / "ok" / "other.pcap").write_bytes(CARD.read_bytes())
    (tree / "ok" / "other.pcap").chmod(LOCKED)
    run = nw_locked_out("scan", str(tree), "--fail-on", "none", "--no-progress")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"cannot open {tree / 'ok' / 'other.pcap'}: Permission denied" in run.stderr
    assert "NW-CARD-001" in run.stdout


def test_learn_names_unreadable_directory_and_writes_nothing(tree: Path) -> None:
    (tree / "ok" / "locked").mkdir(mode=LOCKED)
    run = nw_locked_out("learn", str(tree), "-o", "-")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "cannot read directory" in run.stderr and "no policy written" in run.stderr
    assert run.stdout == ""
