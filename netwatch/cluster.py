"""Dask clusters for scans: an existing scheduler, or a local one this process starts and removes.

The local cluster's scheduler and one of its workers run inside this process, which would
otherwise sit idle while the workers scan (the worker here needs no start-up: netwatch is already
imported). The others are `dask worker` processes (no nanny: a worker that dies is not restarted,
its task moves to another worker) started in sessions of their own. A terminal's Ctrl-C (or a
signal sent to netwatch's process group) then reaches only netwatch, which cancels the work and
stops the workers itself: a worker interrupted while it is still starting would die noisily and
leave the cluster half-built. Workers also stop by themselves when the scheduler vanishes
(`--death-timeout`), so even a netwatch killed with SIGKILL leaves nothing running for long.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TASK_RETRIES = 1  # a task whose worker died is tried once more, then reported failed
WORKER_DEATH_TIMEOUT = "10s"  # a worker whose scheduler is gone this long exits
STOP_SECONDS = 2.0
JOIN_SECONDS = 10.0  # at most this long waiting for the worker processes to join, when it matters
# Dask workers sample every thread's stack every 10 ms for their dashboard's profile; nobody looks at
# it here, and on the fleet benchmark it cost 4-6% of every task's time (benchmarks/bench_fleet.py).
# Nor do they get a memory limit (`--memory-limit 0`): a scan's state is bounded by netwatch itself,
# and Dask's memory manager would only pause or spill a worker.
# A scan task is long and its length unknown: a worker holds one at a time (saturation 1.0, not
# 1.1, which queues a second task on a busy worker while another may soon idle).
CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.scheduler.worker-saturation": 1.0,
                  "distributed.scheduler.allowed-failures": TASK_RETRIES}
WORKER_ENV = {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}


class SchedulerError(Exception):
    """The scheduler named by --scheduler cannot be reached, or the local cluster did not start."""


def connect(address: str) -> Any:
    """A Client for an existing scheduler; SchedulerError when it cannot be reached."""
    from distributed import Client

    try:
        return Client(address, timeout="5s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SchedulerError(f"cannot reach Dask scheduler at {address}: {reason}") from None


class LocalCluster:
    """A scheduler and one worker in this process, and `workers - 1` worker processes, each in a
    session of its own."""

    def __init__(self, workers: int) -> None:
        """Start the worker processes only: their start-up (importing Dask and netwatch, ~0.7 s)
        overlaps this process importing Dask and starting the scheduler (`start`); they wait up to
        --death-timeout for it, on the port chosen here."""
        self.port = _free_port()
        address = f"tcp://127.0.0.1:{self.port}"
        env = dict(os.environ, **WORKER_ENV, PYTHONPATH=os.pathsep.join(filter(None, [
            _netwatch_root(), os.environ.get("PYTHONPATH")])))
        self.procs: list[subprocess.Popen[bytes]] = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-nanny", "--nthreads", "1",
             "--no-dashboard", "--memory-limit", "0", "--preload", "netwatch.runner",  # imported meanwhile
             "--death-timeout", WORKER_DEATH_TIMEOUT, "--name", f"netwatch-{os.getpid()}-{i}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True) for i in range(1, workers)]
        self.client: Any = None

    def start(self) -> Any:
        """The scheduler and the worker in this process; the client that submits to them."""
        import dask
        from distributed import Client

        with dask.config.set(CLUSTER_CONFIG):
            self.client = Client(processes=False, n_workers=1, threads_per_worker=1, memory_limit=0,
                                 dashboard_address=None, scheduler_port=self.port, protocol="tcp", host="127.0.0.1",
                                 set_as_default=False, silence_logs=logging.CRITICAL)
        return self.client

    def join(self, stopped: Callable[[], bool], timeout: float = JOIN_SECONDS) -> None:
        """Wait until every worker process has joined (or `stopped()`, or `timeout`). Dask hands a
        task group no larger than twice the threads it knows out at once, to the workers it knows;
        submitted while only the worker here is up, two captures would run one after the other."""
        deadline = time.monotonic() + timeout
        while not stopped() and time.monotonic() < deadline and any(p.poll() is None for p in self.procs):
            with contextlib.suppress(Exception):
                if len(self.client.nthreads()) > len(self.procs):
                    return
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the workers (SIGTERM to their sessions, SIGKILL after a grace period) and, while they
        wind down, the worker and scheduler in this process."""
        for p in self.procs:
            _signal_group(p, signal.SIGTERM)
        if self.client is None:  # stopped before the scheduler started
            self._stop_workers()
            return
        with contextlib.suppress(Exception):
            self.client.close(timeout=STOP_SECONDS / 2)
        cluster = self.client.cluster
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=STOP_SECONDS / 2)
        self._stop_workers()

    def _stop_workers(self) -> None:
        for p in self.procs:
            _signal_group(p, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=STOP_SECONDS / 2)
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=STOP_SECONDS / 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _signal_group(p: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(p.pid, sig)


def _netwatch_root() -> str:
    """The directory netwatch is imported from, so workers run this same code."""
    import netwatch

    return str(Path(netwatch.__file__).resolve().parents[1])


@contextlib.contextmanager
def quiet_dask() -> Iterator[None]:
    """Dask logs worker deaths, cancelled tasks and comms closed at shutdown (with tracebacks), and
    warns of busy ports; netwatch reports what matters itself. The levels stay raised after the run:
    the scheduler thread may still log while it winds down, and the process is about to end."""
    import distributed  # noqa: F401 - its logging configuration must exist before it is overridden

    for name in ("distributed", "tornado", "asyncio", *[n for n in logging.root.manager.loggerDict
                                                        if n.startswith(("distributed.", "tornado."))]):
        logging.getLogger(name).setLevel(logging.CRITICAL + 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
