"""Fleet scans on Dask: a real scheduler and workers on 127.0.0.1, the local cluster, worker death.

Every process a test starts runs in its own session, is bounded in time and is killed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import local_workers, reading

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
CORPUS = ROOT.parent / "shared" / "corpus"
ENV = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
DASK = [sys.executable, "-m", "dask"]  # this interpreter's Dask, not whatever `dask` is first on PATH

pytest.importorskip("distributed")
# every test here starts Dask processes or generates a 64 MB capture: the fast suite (-m "not slow") skips them
pytestmark = pytest.mark.slow


def nw(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=ENV)


def records(path: Path) -> list[dict]:
    """Findings without the per-run parts (fingerprints, finding ids, run ids, absolute vs relative paths)."""
    out = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r.get("event_type") != "finding":
            continue
        r["source"]["name"] = Path(r["source"]["name"]).name
        for per_run in ("run_id", "finding_id", "sensor", "site"):  # name the run, or keyed with its random key
            r.pop(per_run, None)
        if isinstance(r.get("evidence"), dict):
            r["evidence"].pop("fingerprint", None)
        out.append(r)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(ENV, **env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


def wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout="10s") as c:
        c.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """`dask scheduler` and two `dask worker` processes, each in a session of its own."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [start([*DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        for i in range(2):
            procs.append(start([*DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                "--name", f"nw-test-{i}"]))
        wait_for_workers(address, 2)
        yield address
    finally:
        stop(procs)


def test_scheduler_scan_equals_one_process(scheduler: str, tmp_path: Path) -> None:
    one, dist = tmp_path / "one.jsonl", tmp_path / "dist.jsonl"
    assert nw("scan", "captures", "--jobs", "1", "--json", str(one), "-q").returncode in (0, 1)
    run = nw("scan", "captures", "--scheduler", scheduler, "--json", str(dist), "-q")
    assert run.returncode in (0, 1), run.stderr[-500:]
    assert records(dist) == records(one)
    assert len(records(one)) > 20

    from distributed import Client

    def ran(dask_scheduler) -> list[str]:  # noqa: ANN001 - the scheduler object Dask passes in
        return [t.key for t in dask_scheduler.transition_log if t.finish == "memory"]

    with Client(scheduler, timeout="10s") as c:
        done = [k for k in c.run_on_scheduler(ran) if str(k).startswith("netwatch-scan-")]
    captures = sorted(p.name for p in CAPTURES.glob("*.pcap"))
    assert sorted({str(k).rsplit("-", 1)[-1] for k in done}) >= captures  # every file ran on the cluster


def test_scheduler_from_environment(scheduler: str, tmp_path: Path) -> None:
    out = tmp_path / "env.jsonl"
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", "captures/http_card_post.pcap", "--json", str(out),
                          "-q"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env=dict(ENV, NETWATCH_SCHEDULER=scheduler))
    assert run.returncode == 1, run.stderr[-500:]
    assert any(r["rule"] == "NW-CARD-001" for r in records(out))


def test_unreachable_scheduler_is_one_line_error() -> None:
    run = nw("scan", "captures/http_card_post.pcap", "--scheduler", f"tcp://127.0.0.1:{free_port()}", timeout=60)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach Dask scheduler" in lines[0], run.stderr


def test_local_cluster_equals_one_process(tmp_path: Path) -> None:
    inputs = ["captures"] + ([str(CORPUS)] if CORPUS.is_dir() else [])
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    a = nw("scan", *inputs, "--jobs", "1", "--json", str(one), "-q", "--fail-on", "none")
    b = nw("scan", *inputs, "--jobs", "2", "--json", str(two), "-q", "--fail-on", "none")
    assert a.returncode == b.returncode, (a.stderr[-300:], b.stderr[-300:])
    assert "Traceback" not in b.stderr
    assert records(two) == records(one)
    assert sorted(a.stderr.splitlines()) == sorted(b.stderr.splitlines())  # the same unreadable inputs named


def group_alive(pgid: int) -> list[int]:
    """Live processes of the scan's process group, and the local workers it named after itself."""
    alive = list(local_workers(pgid))
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(d.name))
    return alive


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated store-mix capture over 64 MB (the benchmark's generator, fixed seed)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_scan
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    path = tmp_path_factory.mktemp("big") / "store-mix.pcap"
    bench_scan.generate(path, 400_000, seed=11)
    assert path.stat().st_size > 64 << 20
    return path


def wait_for(what: Callable[[], object], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    return None


def test_killed_worker_task_is_retried(big_capture: Path, tmp_path: Path) -> None:
    """A local worker process killed while it scans a capture: the task runs again on the other
    worker; nothing is lost and no input is reported failed."""
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    copy = big_capture.with_name("copy.pcap")
    small = [str(CAPTURES / "http_card_post.pcap"), str(CAPTURES / "protect_ftp_vlan.pcap")]
    inputs = [str(big_capture), str(copy), *small]
    nw("scan", *inputs, "--jobs", "1", "--json", str(one), "-q")
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", *inputs, "--jobs", "2", "--json", str(two),
                             "-q"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        scanning = wait_for(lambda: [w for w in local_workers(proc.pid)
                                     if reading(w, big_capture) or reading(w, copy)])
        assert scanning, "no worker process scanned a large capture"
        os.kill(scanning[0], signal.SIGKILL)  # type: ignore[index]
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Traceback" not in stderr
    assert proc.returncode == 1, stderr[-500:]  # findings, and no failed input: the task was retried
    assert records(two) == records(one)


def test_all_workers_killed_reports_the_capture_failed(big_capture: Path, tmp_path: Path) -> None:
    """Every worker killed mid-run: the unfinished captures are named as failed, the exit code says
    so (findings code + 4), and the outputs are still written."""
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", str(big_capture), str(big_capture.with_name(
        "copy.pcap")), "--jobs", "2", "--json", str(out), "-q"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            workers = local_workers(proc.pid)
        time.sleep(1.0)
        for w in workers:
            os.kill(w, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert len(workers) == 2
    assert proc.returncode in (4, 5), stderr[-500:]
    assert "Traceback" not in stderr
    assert "not scanned" in stderr and "store-mix.pcap" in stderr
    for line in out.read_text().splitlines():
        json.loads(line)


def test_capture_whose_workers_keep_dying_is_reported_failed(big_capture: Path, tmp_path: Path) -> None:
    """On a cluster, the worker scanning a capture killed, then the one that retried it: that capture
    is named as not scanned, the exit code says so (findings code + 4), the other input's findings and
    the outputs are kept. (It hung ~1 run in 5: the small capture's finished result sat on a killed
    worker and netwatch waited for it without a timeout; py-spy showed Future.result in _collect.)"""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [start([*DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                   DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1",  # the operator's choice: one retry
                   DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="1.0")]  # as the README recommends
    out = tmp_path / "out.jsonl"
    proc = None
    try:
        procs += [start([*DASK, "worker", address, "--no-nanny", "--nthreads", "1", "--no-dashboard"])
                  for _ in range(2)]
        wait_for_workers(address, 2)
        proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", str(big_capture),
                                 str(CAPTURES / "http_card_post.pcap"), "--scheduler", address, "--json", str(out),
                                 "-q"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        for _ in range(2):  # the first try, then the retry
            scanning = wait_for(lambda: [w for w in procs[1:] if w.poll() is None and reading(w.pid, big_capture)])
            assert scanning, "no worker scanned the capture"
            os.killpg(scanning[0].pid, signal.SIGKILL)  # type: ignore[index]
            scanning[0].wait(timeout=10)  # type: ignore[index]
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        stop(procs)
    assert "Traceback" not in stderr
    assert "not scanned" in stderr and "store-mix.pcap" in stderr and "died" in stderr
    found = [json.loads(line) for line in out.read_text().splitlines()]
    small = any(r.get("rule") == "NW-CARD-001" and r["source"]["name"].endswith("http_card_post.pcap") for r in found)
    # The small capture's report is kept, unless it was still on the second killed worker when that
    # worker died (nothing is left to run it again): then it is named as not scanned, never waited for.
    lost = "http_card_post.pcap: not scanned: the Dask scheduler had no worker" in stderr
    assert small != lost, stderr[-500:]
    assert proc.returncode in (4, 5), stderr[-500:]  # findings code (1 with the card finding) + 4


@pytest.fixture(scope="module", autouse=True)
def _copy(big_capture: Path) -> None:
    """A second large input, so that two tasks run at once: a copy, since a hard link is the same file
    and netwatch scans a file named twice once."""
    copy = big_capture.with_name("copy.pcap")
    if not copy.exists():
        shutil.copyfile(big_capture, copy)


def has_workers(pid: int) -> bool:
    return bool(local_workers(pid))


@pytest.mark.parametrize("moment", [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.2])
def test_sigint_to_the_group_stops_a_default_scan(big_capture: Path, tmp_path: Path, moment: float) -> None:
    """`moment` seconds after the scan opened the capture."""
    _interrupt([str(big_capture)], tmp_path, lambda pid: reading(pid, big_capture), moment, signal.SIGINT,
               must_interrupt=True)


@pytest.mark.parametrize("moment", [0.0, 0.5, 1.5, 3.0])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_a_cluster_scan(big_capture: Path, tmp_path: Path, moment: float, sig: int) -> None:
    """`moment` seconds after the first local worker process appeared: start-up, mid-run, merge."""
    _interrupt([str(big_capture), "captures", "--jobs", "2"], tmp_path, has_workers, moment, sig)


def _interrupt(args: list[str], tmp_path: Path, ready: Callable[[int], bool], moment: float, sig: int,
               must_interrupt: bool = False) -> None:
    out, html = tmp_path / "out.jsonl", tmp_path / "out.html"
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", *args, "--json", str(out), "--html", str(html)],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not ready(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(moment)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            sent = time.monotonic()
            _, stderr = proc.communicate(timeout=30)
            took = time.monotonic() - sent
            assert proc.returncode == 130, stderr[-500:]
            assert took < 10, f"took {took:.1f} s to stop"
        else:
            assert not must_interrupt, "the scan finished before the signal; make the capture larger"
            _, stderr = proc.communicate()
            assert proc.returncode in (0, 1)
        assert "Traceback" not in stderr
        for line in out.read_text().splitlines():
            json.loads(line)
        assert html.read_text().rstrip().endswith("</html>")
        deadline = time.monotonic() + 5
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_alive(proc.pid), "a process of the scan outlived it"
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


def readers(path: Path) -> list[int]:
    """Every process that has `path` open (a worker scanning it, whichever cluster it belongs to)."""
    return [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and reading(int(d.name), path)]


@pytest.mark.parametrize("where", ["local", "scheduler"])
def test_ctrl_c_mid_run_keeps_what_the_workers_found(big_capture: Path, tmp_path: Path, where: str,
                                                     request: pytest.FixtureRequest) -> None:
    """Ctrl-C while both workers scan a large capture: exit 130, one line on stderr, and the outputs hold
    the partial reports the running tasks returned when told to stop (packets counted, `interrupted`)."""
    out = tmp_path / "out.jsonl"
    copy = big_capture.with_name("copy.pcap")
    cluster = ["--jobs", "2"] if where == "local" else ["--scheduler", request.getfixturevalue("scheduler")]
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "scan", str(big_capture), str(copy), *cluster,
                             "--json", str(out), "-q"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert wait_for(lambda: readers(big_capture) and readers(copy)), "the workers never scanned both captures"
        time.sleep(0.5)  # under way: something found, far from the end (each capture takes seconds)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr[-500:]
    assert stderr.splitlines() == ["netwatch: interrupted; results above cover what was scanned so far"], stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    summary = recs[-1]
    assert summary["event_type"] == "summary" and summary["interrupted"] is True
    full = big_capture.stat().st_size + copy.stat().st_size
    assert 0 < summary["stats"]["bytes"] < full  # both tasks' partial reports, not nothing, not everything
    inputs = [r for r in recs if r["event_type"] == "input"]
    assert len(inputs) == 2 and all(r.get("interrupted") for r in inputs), inputs
