"""Start-up: `--version` and `--help` import nothing heavy; Ctrl-C or SIGTERM from the program's first
instruction on gives exit 130, one line, and the outputs asked for (saying nothing was read); a
one-process install without Dask scans, and --jobs/--scheduler say in one line how to add it.
Timings are measured by benchmarks/bench_startup.py, not here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "captures" / "http_card_post.pcap"
HEAVY = ("numpy", "rich", "yaml", "jinja2", "scapy", "pyshark", "dask", "distributed", "cryptography",
         "netwatch.pipeline.session", "netwatch.pipeline.runner", "netwatch.pipeline.cluster", "netwatch.findings",
         "netwatch.report.html", "netwatch.judge.rules")
# Hides Dask as an install without the [fleet] extra would: importing it fails as for a missing module.
NO_DASK = """
import sys
class _NoDask:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NoDask())
"""


def _imports(*args: str) -> set[str]:
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "netwatch", *args], capture_output=True,
                         text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0, run.stderr[-500:]
    return {line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["scan", "--help"], ["schema"]])
def test_version_and_help_import_nothing_heavy(args: list[str]) -> None:
    loaded = _imports(*args)
    assert "netwatch.cli" in loaded
    assert sorted(m for m in loaded if m.startswith(HEAVY)) == []


def _signal_handled(pid: int, signum: int) -> bool:
    """The process catches `signum` (its SigCgt mask): netwatch's first instruction has run."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except OSError:
        pass
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_while_python_imports_netwatch_still_writes_the_outputs(tmp_path: Path, signum: int) -> None:
    out, html = tmp_path / "out.jsonl", tmp_path / "out.html"
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", str(CARD), "--json", str(out), "--html",
                             str(html), "-q"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    # Python itself catches SIGINT from its start; SIGTERM is caught only once netwatch's first
    # instruction ran, and a few hundred milliseconds of imports follow it
    while not _signal_handled(proc.pid, signal.SIGTERM) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert len(stderr.strip().splitlines()) == 1 and "interrupted" in stderr and "Traceback" not in stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    summary = records[-1]
    assert summary["event_type"] == "summary" and summary["interrupted"] is True
    assert summary["stats"]["packets"] == 0 and summary["findings"]["total"] == 0
    assert "stopped before any packet was read" in html.read_text()


def test_without_dask_one_process_scans_and_fleet_options_say_how_to_add_it(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(NO_DASK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")]))

    def nw(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=120)

    probe = subprocess.run([sys.executable, "-c", "import distributed"], env=env, capture_output=True, timeout=60)
    assert probe.returncode != 0  # the blocker works
    plain = nw("scan", str(CARD), "-q", "--json", "-", "--fail-on", "none")
    assert plain.returncode == 0 and '"NW-CARD-001"' in plain.stdout, plain.stderr
    for option in (["--jobs", "2"], ["--scheduler", "tcp://127.0.0.1:9"]):
        run = nw("scan", str(CARD), str(CARD.with_name("ipv6_card_post.pcap")), "-q", *option)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert run.stderr.strip().splitlines() == [
            f"netwatch: {option[0]} needs Dask, which this install lacks: pip install 'netwatch-pos[fleet]'"]


def test_dask_is_the_fleet_extra_not_a_dependency() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "netwatch-pos" and project["scripts"]["netwatch"] == "netwatch.__main__:entry"
    assert not [d for d in project["dependencies"] if d.startswith(("dask", "distributed"))]
    assert any(d.startswith("dask[distributed]") for d in project["optional-dependencies"]["fleet"])
    assert "netwatch-pos[fleet]" in project["optional-dependencies"]["test"]
    assert any(d.startswith("ruff") for d in project["optional-dependencies"]["dev"])
