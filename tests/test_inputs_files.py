"""Policy, rule and JSON Lines inputs are bounded: no YAML aliases, capped nesting and size, UTF-8;
each refusal is one line naming the file (and line), exit 2, in little memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from netwatch.judge.textinput import MAX_YAML_BYTES, MAX_YAML_DEPTH
from netwatch.report import changes as diffmod
from netwatch.report.changes import DiffError, load_jsonl

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "captures" / "http_card_post.pcap"
MEMORY_LIMIT = 1 << 30  # address space for the netwatch process: the unbounded loads needed 6-24 GB


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def nw(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, preexec_fn=_limit_memory)


def one_line_error(run: subprocess.CompletedProcess, *parts: str) -> None:
    assert run.returncode == 2, run.stderr[-300:]
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netwatch: "), run.stderr[-300:]
    for p in parts:
        assert p in lines[0]


def billion_laughs(levels: int = 9) -> str:
    """Each alias level multiplies by nine: 9^9 (387M) leaves from a few hundred bytes."""
    out = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    out += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(out) + "\n"


def deep(n: int, key: str = "pos_hosts") -> str:
    return f"{key}: " + "[" * n + "]" * n + "\n"


CASES = {
    "aliases": (billion_laughs(), "anchors and aliases"),
    "one-alias": ("site: &s shop\npos_hosts: [10.0.0.1]\nallowed_resolvers: []\nx: *s\n", "anchors and aliases"),
    "deep-50000": (deep(50_000), f"nested deeper than {MAX_YAML_DEPTH}"),
    "deep-block-style": ("".join("  " * i + f"k{i}:\n" for i in range(200)), f"nested deeper than {MAX_YAML_DEPTH}"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("option", ["--policy", "--rules"])
def test_hostile_yaml_is_refused(tmp_path: Path, case: str, option: str) -> None:
    text, says = CASES[case]
    f = tmp_path / "input.yaml"
    f.write_text(text)
    one_line_error(nw("scan", str(CARD), "-q", option, str(f)), f"{f}:", says)


@pytest.mark.parametrize("option", ["--policy", "--rules"])
def test_endless_or_huge_yaml_is_refused(tmp_path: Path, option: str) -> None:
    one_line_error(nw("scan", str(CARD), "-q", option, "/dev/zero"), "/dev/zero", "larger than 1 MiB")
    f = tmp_path / "huge.yaml"
    f.write_text("# padding\n" * (MAX_YAML_BYTES // 10 + 1))
    one_line_error(nw("scan", str(CARD), "-q", option, str(f)), str(f), "larger than 1 MiB")


@pytest.mark.parametrize("option", ["--policy", "--rules"])
def test_non_utf8_yaml_names_file_and_line(tmp_path: Path, option: str) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes(b"# caf\xe9 rules\n- id: NW-X-001\n")
    one_line_error(nw("scan", str(CARD), "-q", option, str(f)), f"{f}:1:", "not UTF-8")


def test_ordinary_policy_still_loads(tmp_path: Path) -> None:
    """The checks must not refuse the bundled rule pack (always loaded) or the example policy."""
    policy = ROOT / "captures" / "policies" / "store.yaml"
    run = nw("scan", str(CARD), "-q", "--fail-on", "none", "--policy", str(policy))
    assert run.returncode == 0, run.stderr[-300:]


def test_diff_refuses_endless_input() -> None:
    for args in (("/dev/zero", str(CARD)), (str(CARD), "/dev/zero")):
        one_line_error(nw("diff", *args), "/dev/zero:1:", "line longer than 1 MiB")


def test_diff_jsonl_total_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = b'{"rule": "NW-X-001", "severity": "low"}\n'
    f = tmp_path / "many.jsonl"
    f.write_bytes(line * 100)
    assert len(load_jsonl(f).findings) == 100
    monkeypatch.setattr(diffmod, "MAX_JSONL_BYTES", len(line) * 50)
    with pytest.raises(DiffError, match=r"many.jsonl:51: file larger than"):
        load_jsonl(f)


def test_diff_non_utf8_line_is_named(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_bytes(b'{"rule": "NW-X-001", "severity": "low"}\n{"rule": "caf\xe9"}\n')
    one_line_error(nw("diff", str(f), str(f)), f"{f}:2:", "not UTF-8")


def test_fifo_policy_is_read_to_its_cap_only(tmp_path: Path) -> None:
    """A FIFO whose writer never stops: the read ends at the cap."""
    fifo = tmp_path / "policy.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"exec yes '# x' > '{fifo}'"], stderr=subprocess.DEVNULL)
    try:
        one_line_error(nw("scan", str(CARD), "-q", "--policy", str(fifo)), str(fifo), "larger than 1 MiB")
    finally:
        writer.kill()
        writer.wait(timeout=10)


@pytest.mark.parametrize("jobs", ["99999999999999999999", "100000"])
def test_jobs_beyond_the_cores_are_capped_with_a_note(jobs: str) -> None:
    cores = len(os.sched_getaffinity(0))
    run = nw("scan", str(CARD), str(ROOT / "captures" / "tls_store.pcap"), "-q", "--fail-on", "none", "--jobs", jobs)
    assert run.returncode == 0 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [f"netwatch: --jobs {jobs[:12]}{'...' if len(jobs) > 12 else ''} "
                                               f"capped at {cores}, the processors available"]


@pytest.mark.parametrize("jobs", ["-1", "two", "1e3"])
def test_bad_jobs_is_a_one_line_usage_error(jobs: str) -> None:
    run = nw("scan", str(CARD), "--jobs", jobs)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "--jobs" in run.stderr
