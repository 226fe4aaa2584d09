"""Where the history lives and how it is opened: an SQLite file or a PostgreSQL server, one code path.

`--history` without a value is `$XDG_DATA_HOME/netwatch/history.sqlite` (else
`~/.local/share/netwatch/history.sqlite`); a path is another SQLite file (created 0600, directory
0700 for the default); `postgresql://user@host/db` a team's server (psycopg 3). SQLite runs in WAL
mode with a 30 s busy timeout and writes under `BEGIN IMMEDIATE`, so concurrent scans queue instead
of failing; every run is one transaction, so a killed process leaves the run whole or absent.
Every failure becomes a HistoryError: one line naming the store, never its password.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from netwatch.history import schema

BUSY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10
URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
PG_SCHEMES = ("postgresql", "postgres")
CREATE_LOCK = 0x6E657477  # pg_advisory_xact_lock key: one creator of the tables at a time


class HistoryError(Exception):
    """The history cannot be used (unreachable, corrupt, newer schema, bad URL): one line, exit 2."""


def hide_password(text: str) -> str:
    """`scheme://user:***@rest` for every URL in `text`: everything up to the last `@` after `user:` goes,
    so a password holding `@`, `/` or `:` (a mistyped URL) never shows; too much hidden is the safe side."""
    out, pos = [], 0
    for m in URL_START.finditer(text):
        if m.start() < pos:
            continue
        rest = text[m.end():]
        at = rest.rfind("@")
        user_end = rest.find(":")
        out.append(text[pos:m.end()])
        if at > 0 and 0 <= user_end < at:
            out.append(rest[:user_end] + ":***@")
            pos = m.end() + at + 1
        else:
            pos = m.end()
    return "".join(out) + text[pos:]


def default_path() -> Path:
    """The XDG data directory's netwatch/history.sqlite."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "netwatch" / "history.sqlite"


def _url(target: str | None) -> tuple[URL, str]:
    """(SQLAlchemy URL, the name errors show) of a --history value."""
    if not target:
        path = default_path()
        return URL.create("sqlite", database=str(path)), str(path)
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if not scheme:
        return URL.create("sqlite", database=target), target
    shown = hide_password(target)
    try:
        url = make_url(target)
    except (ArgumentError, ValueError):
        raise HistoryError(f"history {shown}: not a database URL (postgresql://user@host/db or a file path)") from None
    base = url.get_backend_name()
    if base in PG_SCHEMES:
        url = url.set(drivername="postgresql+psycopg")
    elif base != "sqlite":
        raise HistoryError(f"history {shown}: unsupported database {base!r} (SQLite file or postgresql://)")
    return url, shown


def _create_sqlite_file(path: Path, default: bool) -> None:
    """A new SQLite file is created empty, 0600, before SQLite opens it (its -wal/-shm copy the mode)."""
    if path.exists():
        return
    if default:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


class HistoryStore:
    """An open history: `write()` and `read()` give a connection inside one transaction."""

    def __init__(self, target: str | None = None) -> None:
        url, self.name = _url(target)
        self.dialect = url.get_backend_name()
        try:
            if self.dialect == "sqlite":
                if url.database and url.database != ":memory:":
                    _create_sqlite_file(Path(url.database), not target)
                self.engine = create_engine(url, poolclass=NullPool,
                                            connect_args={"timeout": BUSY_TIMEOUT_S, "isolation_level": None})
                _sqlite_events(self.engine)
            else:
                # a small pool: a run opens the store once and reads it a few times (a new server
                # process per connection costs more than any of our queries)
                self.engine = create_engine(url, pool_size=1, max_overflow=4, pool_pre_ping=False,
                                            connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
        except (OSError, SQLAlchemyError, NoSuchModuleError) as e:
            raise self.error(e) from None
        self._ready()

    def error(self, e: BaseException, doing: str = "") -> HistoryError:
        """One line naming the store and what went wrong, password-free."""
        orig = getattr(e, "orig", None) or e
        text = (getattr(orig, "strerror", None) or str(orig) or type(orig).__name__).strip().splitlines()
        reason = hide_password(text[0] if text else type(orig).__name__)
        if "file is not a database" in reason or "malformed" in reason:
            reason = f"not a usable SQLite history ({reason})"
        return HistoryError(f"history {self.name}: {doing + ': ' if doing else ''}{reason}")

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (SQLite: BEGIN IMMEDIATE, waiting up to the busy timeout for others)."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(nw_write=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as e:
            raise self.error(e, "cannot write") from None

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as e:
            raise self.error(e, "cannot read") from None

    def _ready(self) -> None:
        """Check the schema version; create the tables in an empty database (one creator at a time)."""
        try:
            with self.engine.connect() as conn, conn.begin():
                version = _version(conn)
        except SQLAlchemyError as e:
            raise self.error(e, "cannot open") from None
        if version is None:
            with self.write() as conn:
                if self.dialect == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CREATE_LOCK})")
                schema.metadata.create_all(conn)
                version = _version(conn)
                if version is None:
                    conn.execute(schema.meta.insert().values(name="schema_version", value=str(schema.SCHEMA_VERSION)))
                    version = schema.SCHEMA_VERSION
        if version > schema.SCHEMA_VERSION:
            raise HistoryError(f"history {self.name}: schema version {version} is newer than this netwatch's "
                               f"({schema.SCHEMA_VERSION}); upgrade netwatch to use it")

    def close(self) -> None:
        self.engine.dispose()


def _version(conn: Connection) -> int | None:
    """The stored schema version; None when the tables do not exist yet."""
    if not conn.dialect.has_table(conn, schema.meta.name):
        return None
    row = conn.execute(select(schema.meta.c.value).where(schema.meta.c.name == "schema_version")).first()
    if row is None:
        return None
    try:
        return int(row[0])
    except ValueError:
        return 10**6  # unreadable: treat as newer than anything we know


def _sqlite_events(engine: Engine) -> None:
    """WAL (readers never block the writer), foreign keys, and our own BEGIN: IMMEDIATE for writes, so
    two writers queue on the busy timeout instead of deadlocking on a lock upgrade."""
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("nw_write") else "BEGIN")
