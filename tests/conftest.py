"""Shared test helpers: waiting for a real `netwatch` process to be under way before a signal."""

from __future__ import annotations

import os
import time
from pathlib import Path


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
