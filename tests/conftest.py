"""Shared test helpers: waiting for a real `netwatch` process to be under way before a signal."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def reading(pid: int, path: Path) -> bool:
    """The process has `path` open: its scan is under way (no race with the machine's speed)."""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def wait_until_reading(pid: int, path: Path, settle: float = 0.5, timeout: float = 60) -> None:
    """Wait until process `pid` reads `path`, then `settle` seconds more (it has found something)."""
    deadline = time.monotonic() + timeout
    while not reading(pid, path) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(settle)


def local_workers(pid: int) -> list[int]:
    """The local Dask worker processes of netwatch process `pid`, by their name (`nww-<pid>-<n>`),
    whether or not netwatch is still their parent. A process a worker forks carries its name until
    it execs (a library's `uname`, say): one whose parent is itself so named is not a worker."""
    named: dict[int, int] = {}  # pid -> parent pid
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().startswith(f"nww-{pid}-"):
                    fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                    if fields[0] != "Z":
                        named[int(d.name)] = int(fields[1])
            except OSError:
                continue
    return [w for w, parent in named.items() if parent not in named]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for the session (tests/history_stores.py); skipped without the binaries."""
    from history_stores import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def history_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The --history value of each store, empty: an SQLite file, then the PostgreSQL server's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    from history_stores import reset_postgres

    url: str = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    return url
