"""The metadata store: where every model, version, alias, run and event lives.

A :class:`Store` wraps one SQLAlchemy engine (SQLite by default, PostgreSQL by
URL) and hands out short transactions: :meth:`Store.read` and
:meth:`Store.write`. A new, empty database is created directly at the newest
schema revision; an existing one at an older revision is refused until
``mlrelease db upgrade`` runs, so no command migrates a database by surprise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from mlrelease.errors import StoreError
from mlrelease.store import tables
from mlrelease.store.append_only import install_append_only_triggers
from mlrelease.store.engine import WRITE_OPTION, make_engine, normalise_url
from mlrelease.store.migrations import HEAD_REVISION, upgrade_to_head

__all__ = ["HEAD_REVISION", "Store", "tables"]

# Serialises concurrent first-time initialisation of one PostgreSQL database.
_PG_INIT_LOCK = 0x6D6C72656C


class Store:
    """Short read and write transactions over the metadata database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def connect(cls, url: str, *, base_dir: Path | None = None) -> Store:
        """Connect to ``url`` without looking at its schema (for ``db upgrade``)."""
        return cls(make_engine(normalise_url(url, base_dir=base_dir)))

    @classmethod
    def open(cls, url: str, *, base_dir: Path | None = None, create: bool = True) -> Store:
        """Connect to ``url``; create the schema if the database is empty and ``create``.

        A database at another schema revision is refused with the command to run.
        """
        store = cls.connect(url, base_dir=base_dir)
        try:
            store._ensure_schema(create=create)
        except OperationalError as exc:
            store.close()
            raise StoreError(
                f"cannot reach the metadata store at {store.url_for_display}: "
                f"{str(exc.orig).strip() or exc}; check the URL (MLRELEASE_DB or store.metadata) "
                "and that the server is running"
            ) from None
        except BaseException:
            store.close()
            raise
        return store

    @property
    def url(self) -> URL:
        return self.engine.url

    @property
    def url_for_display(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def shareable(self) -> bool:
        """Whether another process can open this database by its URL (not in-memory SQLite)."""
        url = self.engine.url
        if self.dialect != "sqlite":
            return True
        return url.database not in (None, "", ":memory:") and url.query.get("mode") != "memory"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that commits on success and rolls back on any exception."""
        with self.engine.connect() as connection:
            connection = connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                yield connection

    def close(self) -> None:
        self.engine.dispose()

    def revision(self) -> str | None:
        """The schema revision recorded in the database, or None for an empty database."""
        with self.read() as connection:
            return _current_revision(connection)

    def upgrade(self) -> tuple[str | None, str]:
        """Bring the schema to the newest revision; returns (before, after)."""
        before = self.revision()
        with self.engine.connect() as connection:
            upgrade_to_head(connection)
        return before, HEAD_REVISION

    def _ensure_schema(self, *, create: bool) -> None:
        with self.read() as connection:
            revision = _current_revision(connection)
        if revision == HEAD_REVISION:
            return
        if revision is None and create:
            self._create_at_head()
            return
        if revision is None:
            raise StoreError(
                f"the metadata store at {self.url_for_display} has no mlrelease schema; "
                "run 'mlrelease db upgrade'"
            )
        raise StoreError(
            f"the metadata store at {self.url_for_display} is at schema revision {revision}, "
            f"this mlrelease needs {HEAD_REVISION}; run 'mlrelease db upgrade' (back up first)"
        )

    def _create_at_head(self) -> None:
        # A fresh database skips the migration chain: create the tables as they are now
        # and record the head revision, in one transaction.
        with self.write() as connection:
            if self.dialect == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_INIT_LOCK}
                )
            if _current_revision(connection) is not None:
                return  # another process created it while we waited
            tables.Base.metadata.create_all(connection)
            install_append_only_triggers(connection)
            connection.execute(
                text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
            )
            connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:rev)"),
                {"rev": HEAD_REVISION},
            )


def _current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    try:
        row = connection.execute(select(text("version_num")).select_from(text("alembic_version")))
    except SQLAlchemyError:
        return None
    value = row.scalar_one_or_none()
    return None if value is None else str(value)
