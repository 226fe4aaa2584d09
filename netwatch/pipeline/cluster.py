"""Dask clusters for scans: an existing scheduler, or a local one this process starts and removes.

The local cluster's scheduler runs inside this process; its workers are processes forked from it
once Dask is imported, so a worker is ready in a few milliseconds with netwatch and Dask already
loaded (a `dask worker` process spends ~0.7 s importing both before its first task; on the
2-core fleet benchmark that was a tenth of the speed-up). Each worker runs in a session of its
own: a terminal's Ctrl-C (or a signal sent to netwatch's process group) reaches only netwatch,
which cancels the work and stops the workers itself. A worker that dies is not restarted; its
task moves to another worker. Workers also stop by themselves when the scheduler vanishes
(`death_timeout`), so even a netwatch killed with SIGKILL leaves nothing running for long.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import platform
import signal
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

TASK_RETRIES = 1  # a task whose worker died is tried once more, then reported failed
WORKER_DEATH_TIMEOUT = "10s"  # a worker whose scheduler is gone this long exits
STOP_SECONDS = 2.0
JOIN_SECONDS = 10.0  # at most this long waiting for the workers to join
PROCESS_NAME = "nww"  # a worker shows as nww-<netwatch pid>-<n> in ps (Dask: netwatch-<pid>-<n>)
# Dask workers sample every thread's stack every 10 ms for their dashboard's profile; nobody looks at
# it here, and on the fleet benchmark it cost 4-6% of every task's time (benchmarks/bench_fleet.py).
# Nor do they get a memory limit (`memory_limit=0`): a scan's state is bounded by netwatch itself,
# and Dask's memory manager would only pause or spill a worker.
# A scan task is long and its length unknown: a worker holds one at a time (saturation 1.0, not
# 1.1, which queues a second task on a busy worker while another may soon idle).
CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.scheduler.worker-saturation": 1.0,
                  "distributed.scheduler.allowed-failures": TASK_RETRIES}


class SchedulerError(Exception):
    """The scheduler named by --scheduler cannot be reached, or the local cluster did not start."""


def freeze_loaded() -> None:
    """What is loaded by now (netwatch, Dask, the rules) lives as long as the process: frozen, the
    garbage collector never walks it again, in netwatch (where each full collection walked it while
    results came in, ~50-100 ms with the scheduler's loop held, measured on the fleet benchmark) nor
    in a forked worker (where walking it would also copy its pages)."""
    gc.freeze()


def connect(address: str) -> Any:
    """A Client for an existing scheduler; SchedulerError when it cannot be reached."""
    from distributed import Client

    freeze_loaded()

    try:
        return Client(address, timeout="5s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SchedulerError(f"cannot reach Dask scheduler at {address}: {reason}") from None


class LocalCluster:
    """A scheduler in this process (`start`) and `workers` worker processes forked from it."""

    def __init__(self, workers: int) -> None:
        """Fork the workers (before any thread of Dask's starts here); they wait up to
        `WORKER_DEATH_TIMEOUT` for the scheduler on the port chosen here."""
        import distributed  # noqa: F401 - loaded once, here, for every worker

        _warm_system_info()
        self.port = _free_port()
        self.pids: list[int] = []
        self.client: Any = None
        freeze_loaded()  # before the forks: the workers inherit the frozen heap
        for i in range(workers):
            with warnings.catch_warnings():  # Python 3.12+ warns of fork() beside (idle) native threads
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:
                _worker_process(f"tcp://127.0.0.1:{self.port}", os.getppid(), i)
            self.pids.append(pid)

    def start(self) -> Any:
        """The scheduler; the client that submits to it, once every worker has joined (see `join`)."""
        import dask
        from distributed import Client

        with dask.config.set(CLUSTER_CONFIG):
            self.client = Client(processes=False, n_workers=0, dashboard_address=None, scheduler_port=self.port,
                                 protocol="tcp", host="127.0.0.1", set_as_default=False,
                                 silence_logs=logging.CRITICAL)
        return self.client

    def join(self, stopped: Callable[[], bool], timeout: float = JOIN_SECONDS) -> None:
        """Wait until every worker has joined (or `stopped()`, or `timeout`). Dask hands a task
        group no larger than twice the threads it knows out at once, to the workers it knows: sent
        to the first worker alone, two captures would run one after the other."""
        deadline = time.monotonic() + timeout
        while not stopped() and time.monotonic() < deadline and not self.workers_exited():
            with contextlib.suppress(Exception):
                if len(self.client.nthreads(callback_timeout=STOP_SECONDS * 5)) >= len(self.pids):
                    return
            time.sleep(0.01)

    def workers_exited(self) -> bool:
        """True when every worker process is gone (they could not start, or were killed)."""
        return all(not _alive(pid) for pid in self.pids)

    def close(self) -> None:
        """Stop the workers (SIGTERM, SIGKILL after a grace period) and, while they wind down, the
        scheduler here."""
        for pid in self.pids:
            _signal(pid, signal.SIGTERM)
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close(timeout=STOP_SECONDS / 2)
            cluster = self.client.cluster
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=STOP_SECONDS / 2)
        deadline = time.monotonic() + STOP_SECONDS / 2
        for pid in self.pids:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if _alive(pid):
                _signal(pid, signal.SIGKILL)
                _reap(pid, block=True)


def _warm_system_info() -> None:
    """Ask for the processor name once, here: a Dask worker sends it when it registers, and Python
    finds it by running `uname -p` (then caches it). Asked before the forks, every worker inherits
    the answer instead of forking a copy of itself and running `uname` at start-up."""
    with contextlib.suppress(Exception):
        platform.uname().processor  # noqa: B018 - the attribute fills the cache


def _worker_process(address: str, netwatch_pid: int, n: int) -> None:
    """The forked child: a Dask worker until told to stop; never returns into netwatch's code."""
    code = 0
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # netwatch stops its workers itself
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until the worker handles it gracefully
        _name_process(f"{PROCESS_NAME}-{netwatch_pid}-{n}")
        name = f"netwatch-{netwatch_pid}-{n}"
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        import asyncio  # here, not at the top: a scan in one process never needs it (~20 ms of start-up)

        asyncio.run(_serve(address, name))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


async def _serve(address: str, name: str) -> None:
    import asyncio

    import dask
    from distributed import Worker

    with dask.config.set(CLUSTER_CONFIG):
        async with Worker(address, nthreads=1, name=name, memory_limit=0, death_timeout=WORKER_DEATH_TIMEOUT,
                          dashboard=False) as worker:
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGTERM, lambda: asyncio.ensure_future(worker.close(reason="netwatch stops its workers")))
            await worker.finished()


def _name_process(name: str) -> None:
    """Name the worker in ps/top (`comm`, at most 15 characters on Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _alive(pid: int) -> bool:
    _reap(pid, block=False)
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _reap(pid: int, block: bool) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0 if block else os.WNOHANG)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
