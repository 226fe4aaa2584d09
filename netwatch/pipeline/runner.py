"""Running scans: in this process, on a local Dask cluster, or on an existing Dask scheduler.

One engine for parallel work: Dask distributed. A task is one capture file, or one flow-hash
shard of a large file; it returns a picklable `SourceReport`, and shards of one file merge to
what one process finds. A cluster is started only when there is enough work to repay its start
(about a second); a worker that dies has its task retried once, then the capture is reported as
failed with the reason. Ctrl-C and SIGTERM cancel outstanding tasks, keep what finished, and
remove the local cluster.

A task costs the scheduler two messages (in and out) and nothing else: its stop flag is pushed to the
workers only when the run stops (`client.run`), and progress is published only when someone shows it.
On the 2-core fleet benchmark each task is ~0.3 s of scanning, so every round trip per task (a stop
event looked at and waited on at the scheduler, a progress event at its start) showed in the speed-up.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwatch.judge.policy import Policy
from netwatch.judge.rules import RuleSet, load_rules_and_policy
from netwatch.pipeline.cluster import TASK_RETRIES, LocalCluster, SchedulerError, connect, quiet_dask
from netwatch.pipeline.session import SourceReport, file_size, merge_shards, scan_file
from netwatch.pipeline.signals import handling
from netwatch.redaction.masking import Fingerprinter

# When a cluster repays its start (2-core machine, default jobs). First measured: ~1.3 s to import and
# start, ~45 MB/s a worker, so from about 128 MB of input. After the fleet changes (~0.2 s to start),
# bench_fleet's store captures (18 MiB each), `--jobs 1` time over the cluster's, best of 3:
# 2 files (36 MiB) 0.92x, 3 files (54 MiB) 0.89x, 4 files (72 MiB) 1.15x, 6 files (108 MiB) 1.24x.
CLUSTER_MIN_BYTES = 64 << 20
# Every shard walks the whole file and analyses its share of the flows; sharding one file pays
# only when that file alone is large enough to cover the cluster start and the extra walks.
SHARD_MIN_BYTES = 256 << 20
PROGRESS_TOPIC = "netwatch-progress"
PROGRESS_EVERY = 1.0  # seconds between a worker's progress events (each is a message to the scheduler)
STOP_GRACE = 1.5  # seconds running tasks get to return partial reports after Ctrl-C/SIGTERM
NO_WORKER_SECONDS = 30.0  # a scheduler without any worker this long fails the pending tasks
POLL_SECONDS = 0.05  # how often the run looks for finished tasks and for Ctrl-C/SIGTERM
# Every call this process makes to the scheduler is bounded: a result whose worker died just after
# the task finished is recomputed (and with no worker left, never), and a stuck scheduler must not
# hold the scan; a call that times out is tried again at the next poll or given up.
CALL_TIMEOUT = 10.0
RESULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ScanConfig:
    """What a worker needs to rebuild the pipeline (rule sets hold closures, not picklable)."""

    rule_dirs: tuple[str, ...]
    policy_path: str | None
    fingerprint_key: bytes
    evidence: bool = False  # keep the flows findings name, redacted, for evidence captures
    log: frozenset[str] = frozenset()  # --log: the metadata records to keep (flow, tls, dns, http)


@dataclass(frozen=True)
class Task:
    """One unit of work: a file, or shard `shard[0]` of `shard[1]` of it."""

    path: str
    size: int
    shard: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        name = Path(self.path).name
        return f"{name} [{self.shard[0] + 1}/{self.shard[1]}]" if self.shard else name


@dataclass
class RunResult:
    """Reports in input order (shards merged), whether the run was cut short, failed inputs."""

    reports: list[SourceReport]
    interrupted: bool = False
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason


ProgressFn = Callable[[str, int, int], None]  # (task label, bytes done, bytes total)


def _regular(path: str) -> bool:
    if path == "-":
        return False  # standard input
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # missing or unreadable: reported by the scan like any unreadable file


def plan(paths: list[str], workers: int) -> list[Task]:
    """Tasks for `paths`: one per file, a large file split into shards while workers would idle."""
    tasks: list[Task] = []
    for p in paths:
        size = file_size(p)
        if workers > 1 and len(paths) < workers and size >= SHARD_MIN_BYTES:
            tasks.extend(Task(p, size, (k, workers)) for k in range(workers))
        else:
            tasks.append(Task(p, size))
    return tasks


def wants_cluster(tasks: list[Task], jobs: int, auto: bool) -> bool:
    """A local cluster only for parallel work: with the default (`auto`) jobs, only for work large
    enough to repay starting it; with jobs the user asked for, whenever there are several tasks."""
    if jobs <= 1 or len(tasks) <= 1:
        return False
    return not auto or sum(t.size for t in tasks) >= CLUSTER_MIN_BYTES


# In a worker process: the runs whose client asked them to stop (`_stop_run`, pushed by `client.run`),
# the latest few, so a long-lived worker of a shared scheduler does not keep every run it served.
_STOPPED_RUNS: dict[str, None] = {}
STOPPED_KEPT = 64


def _stop_run(run_id: str) -> None:
    """Run on every worker when the client stops: the run's tasks stop at their next progress tick and
    return what they found; its tasks not yet begun return None at once."""
    _STOPPED_RUNS[run_id] = None
    while len(_STOPPED_RUNS) > STOPPED_KEPT:
        del _STOPPED_RUNS[next(iter(_STOPPED_RUNS))]


def scan_task(task: Task, cfg: ScanConfig, run_id: str, progress: bool = False) -> SourceReport | None:
    """Run on a worker: scan one task, publishing progress now and then when `progress` (someone
    shows it), and stopping when the client pushed this run's stop (`_stop_run`), so that Ctrl-C on
    the client returns this task's partial report (None: never begun)."""
    if run_id in _STOPPED_RUNS:
        return None
    rules, policy = load_rules_and_policy(cfg.rule_dirs, cfg.policy_path)
    last_progress = [time.monotonic()]  # the first event after PROGRESS_EVERY: a short task sends none

    def tick(done: int, total: int) -> None:
        if run_id in _STOPPED_RUNS:
            raise KeyboardInterrupt  # scan_file closes its flows and returns what it found
        now = time.monotonic()
        if progress and now - last_progress[0] >= PROGRESS_EVERY:
            last_progress[0] = now
            with contextlib.suppress(Exception):  # progress is best effort, never fails a task
                from distributed import get_worker

                get_worker().log_event(PROGRESS_TOPIC, {"task": task.label, "done": done, "total": total})

    return scan_file(task.path, rules, policy, tick, shard=task.shard,
                     fingerprint=Fingerprinter(cfg.fingerprint_key), evidence=cfg.evidence, log=cfg.log)


def _merge(tasks: list[Task], done: dict[Task, SourceReport], cfg: ScanConfig) -> list[SourceReport]:
    """One report per input file, in input order; a file's shards merged, then its systems judged
    under the rules and policy (a shard cannot: a host's flows may sit in several)."""
    by_path: dict[str, list[SourceReport]] = {}
    for t in tasks:
        if t in done:
            by_path.setdefault(t.path, []).append(done[t])
    out = []
    loaded: tuple[RuleSet, Policy | None] | None = None
    for path in dict.fromkeys(t.path for t in tasks):
        parts = by_path.get(path)
        if not parts:
            continue
        expected = sum(1 for t in tasks if t.path == path)
        if any(t.shard is not None for t in tasks if t.path == path):
            loaded = loaded or load_rules_and_policy(cfg.rule_dirs, cfg.policy_path)
            report = merge_shards(parts, *loaded, Fingerprinter(cfg.fingerprint_key))
        else:
            report = parts[0]
        if len(parts) < expected:
            report.interrupted = True  # some shards' flows are missing
        out.append(report)
    return out


def run_local(paths: list[str], cfg: ScanConfig, on_progress: ProgressFn | None = None,
              on_done: Callable[[SourceReport], None] | None = None) -> RunResult:
    """Scan in this process, file after file; Ctrl-C keeps the partial report of the current file."""
    result = RunResult(reports=[])
    try:
        rules, policy = load_rules_and_policy(cfg.rule_dirs, cfg.policy_path)
        fingerprint = Fingerprinter(cfg.fingerprint_key)
        for p in paths:
            prog = (lambda d, t, p=p: on_progress(Path(p).name, d, t)) if on_progress else None
            rep = scan_file(p, rules, policy, prog, fingerprint=fingerprint, evidence=cfg.evidence, log=cfg.log)
            result.reports.append(rep)
            if on_done:
                on_done(rep)
            if rep.interrupted:
                result.interrupted = True
                break
    except KeyboardInterrupt:  # between two files: what was scanned is kept
        result.interrupted = True
    return result


class StopFlag:
    """Set by SIGINT/SIGTERM while a cluster run is under way; the run polls it."""

    def __init__(self) -> None:
        self.signum = 0

    def __bool__(self) -> bool:
        return self.signum != 0

    def __call__(self, signum: int, frame: Any) -> None:
        self.signum = signum


@contextlib.contextmanager
def deferred_signals() -> Iterator[StopFlag]:
    """SIGINT and SIGTERM only set a flag: the run stops at the next poll, never half-way through
    starting or stopping a cluster (which would leave processes behind)."""
    flag = StopFlag()
    with handling(flag):
        yield flag


@dataclass
class Gathered:
    """What came back from the cluster: reports, failures (task -> reason), whether stopped early."""

    done: dict[Task, SourceReport] = field(default_factory=dict)
    failed: dict[Task, str] = field(default_factory=dict)
    stopped: bool = False


def run_dask(tasks: list[Task], cfg: ScanConfig, client: Any, stop: StopFlag, on_progress: ProgressFn | None = None,
             on_done: Callable[[SourceReport], None] | None = None, local: LocalCluster | None = None) -> Gathered:
    """Submit every task and gather as they finish, until all are in or `stop` is set."""
    got = Gathered()
    labels = {t.label for t in tasks}
    if on_progress is not None:
        def on_event(event: tuple[float, Any]) -> None:
            msg = event[1]
            if isinstance(msg, dict) and msg.get("task") in labels:
                on_progress(str(msg["task"]), int(msg["done"]), int(msg["total"]))

        client.subscribe_topic(PROGRESS_TOPIC, on_event)
    run_id = f"netwatch-{os.getpid()}-{time.time_ns()}"
    # largest first: the long tasks start early and the short ones fill in behind them
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].size)
    futures = {client.submit(scan_task, tasks[i], cfg, run_id, on_progress is not None,
                             key=f"netwatch-scan-{os.getpid()}-{i}-{tasks[i].label}", pure=False,
                             priority=len(tasks) - n): tasks[i]
               for n, i in enumerate(order)}
    pending = set(futures)
    watch = [time.monotonic(), time.monotonic()]  # last look at the cluster's workers, last time one was there
    while pending and not stop:
        ready = [f for f in pending if f.done()]
        if not ready:
            lost = _workers_lost(client, local, watch)
            if lost:
                for fut in pending:
                    got.failed[futures[fut]] = lost
                pending.clear()
                break
            time.sleep(POLL_SECONDS)
        for fut in ready:
            if _collect(fut, futures[fut], got, on_progress, on_done):
                pending.discard(fut)
    if pending:
        got.stopped = True
        _push_stop(client, run_id)
        _stop_tasks(client, pending, futures, got, on_progress, on_done)
    return got


def _workers_lost(client: Any, local: LocalCluster | None, watch: list[float]) -> str | None:
    """Why the pending tasks cannot run any more, if so: the local workers are all gone, or the
    scheduler has had no worker for `NO_WORKER_SECONDS` (looked at once a second)."""
    if local is not None:
        return "the local Dask workers could not start or were all killed" if local.workers_exited() else None
    now = time.monotonic()
    if now - watch[0] >= 1.0:
        watch[0] = now
        with contextlib.suppress(Exception):
            if client.nthreads(callback_timeout=CALL_TIMEOUT):
                watch[1] = now
    if now - watch[1] >= NO_WORKER_SECONDS:
        return f"the Dask scheduler had no worker for {NO_WORKER_SECONDS:.0f} s"
    return None


def _push_stop(client: Any, run_id: str) -> None:
    """Tell every worker that the run stops (`_stop_run` on each, through the scheduler; bounded)."""
    with contextlib.suppress(Exception):
        client.sync(client._run, _stop_run, run_id, on_error="ignore", callback_timeout=CALL_TIMEOUT)


def _stop_tasks(client: Any, pending: set[Any], futures: dict[Any, Task], got: Gathered,
                on_progress: ProgressFn | None, on_done: Callable[[SourceReport], None] | None) -> None:
    """Running tasks have been asked to stop: gather their partial reports; cancel what is left after a grace."""
    deadline = time.monotonic() + STOP_GRACE
    while pending and time.monotonic() < deadline:
        for fut in [f for f in pending if f.done()]:
            if _collect(fut, futures[fut], got, on_progress, on_done, timeout=max(0.1, deadline - time.monotonic())):
                pending.discard(fut)
        time.sleep(POLL_SECONDS)
    with contextlib.suppress(Exception):
        client.sync(client._cancel, list(pending), force=True, callback_timeout=CALL_TIMEOUT)


def _collect(fut: Any, task: Task, got: Gathered, on_progress: ProgressFn | None,
             on_done: Callable[[SourceReport], None] | None, timeout: float = RESULT_TIMEOUT) -> bool:
    """Fetch a finished task's report (or its failure); False when the fetch timed out: the worker
    holding the result died after the task finished, and the task runs again (or, with no worker
    left, the run's no-worker watch ends it). Unbounded, this wait hung a run whose last workers
    were killed while a finished result was still on one of them."""
    try:
        rep = fut.result(timeout=timeout)
    except TimeoutError:
        return False
    except Exception as e:  # KilledWorker after the retry, or a bug in a task
        if type(e).__name__ == "TimeoutError":  # distributed's own, on older releases
            return False
        got.failed[task] = _reason(e)
        return True
    if rep is None:  # stopped before it began
        return True
    got.done[task] = rep
    if on_progress is not None:
        on_progress(task.label, task.size, task.size)
    if on_done:
        on_done(rep)
    return True


def _reason(e: BaseException) -> str:
    name = type(e).__name__
    if name == "KilledWorker":
        return f"the worker scanning it died ({TASK_RETRIES + 1} tries)"
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{name}: {text}"[:200] if text else name


def run(paths: list[str], cfg: ScanConfig, jobs: int = 1, scheduler: str | None = None, auto: bool = False,
        on_progress: ProgressFn | None = None, on_done: Callable[[SourceReport], None] | None = None,
        on_plan: Callable[[list[Task]], None] | None = None) -> RunResult:
    """Scan `paths` with `jobs` local workers or on `scheduler`; see the module docstring."""
    streams = [p for p in paths if not _regular(p)]
    if scheduler and streams:
        raise SchedulerError(f"cannot send a pipe or device to a Dask cluster: {streams[0]}")
    if streams:  # a pipe is read once, here: a worker could neither share nor interrupt that read
        jobs = 1
    paths = [str(Path(p).resolve()) if scheduler else p for p in paths]  # workers see absolute paths
    tasks = plan(paths, max(jobs, 2) if scheduler else jobs)
    if on_plan:
        on_plan(tasks)
    if not scheduler and not wants_cluster(tasks, jobs, auto):
        return run_local(paths, cfg, on_progress, on_done)
    return _run_on_cluster(tasks, cfg, jobs, scheduler, on_progress, on_done)


def _run_on_cluster(tasks: list[Task], cfg: ScanConfig, jobs: int, scheduler: str | None,
                    on_progress: ProgressFn | None, on_done: Callable[[SourceReport], None] | None) -> RunResult:
    local: LocalCluster | None = None
    client: Any = None
    got = Gathered()
    with deferred_signals() as stop, quiet_dask():
        try:
            if scheduler and not stop:  # (not after a Ctrl-C while Dask was imported)
                client = connect(scheduler)
            elif not stop:
                local = LocalCluster(jobs)
                client = local.start()
                local.join(lambda: bool(stop))
            if client is not None and not stop:
                got = run_dask(tasks, cfg, client, stop, on_progress, on_done, local)
        finally:
            if local is not None:
                local.close()
            elif client is not None:
                with contextlib.suppress(Exception):
                    client.close(timeout=1)
        result = RunResult(reports=_merge(tasks, got.done, cfg), interrupted=bool(stop) or got.stopped)
    for t, reason in got.failed.items():
        result.failed.setdefault(t.path, reason)
    return result
