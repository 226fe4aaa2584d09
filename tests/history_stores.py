"""The two history stores the history tests run over: an SQLite file and a real PostgreSQL server.

The server is Debian's postgresql (installed by .ci/run), started here with initdb and pg_ctl in a
temporary directory, listening only on a Unix socket in that directory (no TCP port at all), as an
unprivileged user (PostgreSQL refuses to run as root: under root the server runs as `nobody`).
It is stopped when the test session ends. Without the binaries the PostgreSQL cases are skipped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
DB_USER = "netwatch"


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *cmd] if os.geteuid() == 0 else cmd


def pg_binaries() -> Path | None:
    for d in reversed(PG_BIN):
        if all(Path(d, b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return Path(d)
    return None


@contextlib.contextmanager
def postgres_server(fsync: bool = False) -> Iterator[str]:
    """A running server; yields its URL (user `netwatch`, database `postgres`, Unix socket). Tests run it
    without fsync (nothing to keep); the benchmark with it, as a real server runs."""
    bindir = pg_binaries()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); .ci/run installs postgresql")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
    top = Path(tempfile.mkdtemp(prefix="nw-pg-"))
    data, sock = top / "data", top / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        os.chmod(top, 0o755)
        shutil.chown(sock, "nobody")
        os.chmod(sock, 0o777)
        data.mkdir(mode=0o700)
        shutil.chown(data, "nobody")
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    run = dict(capture_output=True, text=True, timeout=120, env=env, cwd="/")
    r = subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", DB_USER, "-A", "trust",
                                        "--no-sync", "-E", "UTF8"]), **run)  # type: ignore[call-overload]
    assert r.returncode == 0, r.stderr[-800:]
    opts = f"-c listen_addresses='' -k {sock} -c fsync={'on' if fsync else 'off'} -c max_connections=40"
    r = subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                                        str(data / "server.log"), "-w", "-t", "60", "start"]), **run)  # type: ignore[call-overload]
    assert r.returncode == 0, r.stdout[-800:] + r.stderr[-800:]
    try:
        yield f"postgresql://{DB_USER}@/postgres?host={sock}"
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       **run)  # type: ignore[call-overload]
        shutil.rmtree(top, ignore_errors=True)


def reset_postgres(url: str) -> None:
    """An empty database for the next test: drop netwatch's tables."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS findings, destinations, systems, visits, sites, netwatch_meta CASCADE"))
    engine.dispose()
