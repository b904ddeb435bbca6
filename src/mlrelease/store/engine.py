"""Engines for the metadata store: SQLite tuned for many writers, PostgreSQL by URL.

SQLite runs in WAL mode with a busy timeout, and a write transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue at the start instead of failing
half-way with "database is locked" when they both try to upgrade a read lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from mlrelease.errors import ConfigError

__all__ = ["WRITE_OPTION", "make_engine", "normalise_url"]

# Execution option a connection carries when it is about to write.
WRITE_OPTION = "mlrelease_write"
_BUSY_TIMEOUT_MS = 60_000


def normalise_url(url: str, *, base_dir: Path | None = None) -> URL:
    """Parse a store URL; relative SQLite paths are taken from ``base_dir``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"store URL {url!r} is not a database URL; use e.g. sqlite:///.mlrelease/mlrelease.db "
            "or postgresql://user@127.0.0.1:5432/mlrelease"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() in {"psycopg2", "psycopg"}:
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_absolute():
            database = str((base_dir or Path.cwd()) / database)
        return parsed.set(drivername="sqlite", database=database)
    if backend == "postgresql":
        return parsed
    raise ConfigError(
        f"store URL {url!r}: unsupported database '{backend}'; use sqlite:/// or postgresql://"
    )


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    except ModuleNotFoundError:
        raise ConfigError(
            "PostgreSQL needs the psycopg driver: pip install 'mlrelease[postgres]'"
        ) from None


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode is safe against application crashes (not power loss) and
        # avoids an fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
