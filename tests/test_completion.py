"""Shell completion and the man page are generated from the argument parser: every command and
option is in them, values complete from the parser's choices and the rule vocabulary, and the
scripts run in their shell (bash here; zsh and fish when installed)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netwatch.cli import build_parser
from netwatch.cli.completion import _commands
from netwatch.judge.vocabulary import CATEGORIES

ROOT = Path(__file__).resolve().parents[1]


def nw(*args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert run.returncode == 0 and run.stderr == "", run.stderr[-500:]
    return run.stdout


def _every_option() -> list[tuple[str, list[str]]]:
    out = []
    for name, _, p in _commands(build_parser()):
        out.append((name, [o for a in p._actions for o in a.option_strings if o.startswith("--")]))
    return out


def _bash_complete(script: Path, *words: str) -> list[str]:
    line = " ".join(words)
    code = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
            f"COMP_LINE={line!r}; COMP_POINT={len(line)}; _shtab_netwatch; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    run = subprocess.run(["bash", "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_bash_completion_completes_commands_options_and_values(tmp_path: Path) -> None:
    script = tmp_path / "netwatch.bash"
    script.write_text(nw("completion", "bash"))
    assert _bash_complete(script, "netwatch", "sc") == ["scan", "schema"]
    assert "--min-severity" in _bash_complete(script, "netwatch", "scan", "--mi")
    assert sorted(_bash_complete(script, "netwatch", "scan", "--category", "")) == sorted(CATEGORIES)
    assert _bash_complete(script, "netwatch", "live", "--backend", "") == ["scapy", "tshark"]
    assert "none" in _bash_complete(script, "netwatch", "scan", "--fail-on", "")
    for name, options in _every_option():
        offered = _bash_complete(script, "netwatch", name, "--")
        assert set(options) <= set(offered), (name, set(options) - set(offered))


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command_and_option(shell: str, tmp_path: Path) -> None:
    text = nw("completion", shell)
    for name, options in _every_option():
        assert name in text
        for option in options:
            assert (option[2:] if shell == "fish" else option) in text, (name, option)
    if shell == "fish":
        assert "-l category -x -a 'card-data cleartext" in text
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed: its syntax check did not run")
    path = tmp_path / f"netwatch.{shell}"
    path.write_text(text)
    run = subprocess.run([binary, "-n", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    if shell == "fish":  # and it completes: commands, then a category value
        asked = subprocess.run([binary, "-c", f"source {path}; complete -C 'netwatch sc'; "
                                "complete -C 'netwatch scan --category '"], capture_output=True, text=True,
                               timeout=60)
        offered = [line.split("\t")[0] for line in asked.stdout.splitlines()]
        assert offered[:2] == ["scan", "schema"] and set(CATEGORIES) <= set(offered), asked.stdout


def test_unknown_shell_is_a_usage_error() -> None:
    run = subprocess.run([sys.executable, "-m", "netwatch", "completion", "tcsh"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert run.returncode == 2 and "invalid choice" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_page_renders_with_every_command_and_option(tmp_path: Path) -> None:
    page = tmp_path / "netwatch.1"
    page.write_text(nw("man"))
    run = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
    assert run.returncode == 0, run.stderr
    text = run.stdout.replace("\u2010", "-").replace("\u2212", "-")
    assert "netwatch - inspect point-of-sale network traffic" in text
    for name, options in _every_option():
        assert f"netwatch {name}" in text
        for option in options:
            assert option in text or option == "--help", (name, option)


def test_parser_is_what_completion_reads() -> None:
    """The generator walks the real parser: a command added to it appears without other changes."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.add_parser("probe-cmd", help="a command added for this test")
    from netwatch.cli.completion import fish

    assert "-a probe-cmd -d 'a command added for this test'" in fish(parser)
