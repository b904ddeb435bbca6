"""The metadata store: created at head, migrations match the tables, other revisions refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from mlrelease.errors import ConfigError, StoreError
from mlrelease.store import HEAD_REVISION, Store, tables
from mlrelease.store.migrations import alembic_config


def test_a_new_database_is_created_at_the_head_revision(store: Store) -> None:
    assert store.revision() == HEAD_REVISION


def test_head_revision_constant_names_the_newest_migration_script() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_current_head() == HEAD_REVISION


def test_migrations_build_exactly_the_schema_the_tables_describe(db_url: str) -> None:
    store = Store.connect(db_url)
    try:
        before, after = store.upgrade()
        assert (before, after) == (None, HEAD_REVISION)
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, tables.Base.metadata) == []
        # and a migrated database opens without complaint
        Store.open(db_url).close()
    finally:
        store.close()


def test_a_database_at_another_revision_is_refused_with_the_command_to_run(db_url: str) -> None:
    Store.open(db_url).close()
    store = Store.connect(db_url)
    with store.write() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    store.close()
    with pytest.raises(StoreError, match="mlrelease db upgrade"):
        Store.open(db_url)


def test_an_empty_database_is_refused_when_creation_is_not_allowed(db_url: str) -> None:
    with pytest.raises(StoreError, match="no mlrelease schema"):
        Store.open(db_url, create=False)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        with store.read() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        store.close()


def test_relative_sqlite_paths_are_taken_from_the_base_directory(tmp_path: Path) -> None:
    store = Store.open("sqlite:///.mlrelease/x.db", base_dir=tmp_path)
    store.close()
    assert (tmp_path / ".mlrelease" / "x.db").is_file()


def test_a_write_that_fails_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as connection:
        connection.execute(
            tables.models.insert().values(
                name="m", task="regression", description="", created_at=datetime.now(UTC)
            )
        )
        raise RuntimeError("crash mid-transaction")
    with store.read() as connection:
        assert connection.execute(tables.models.select()).all() == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@127.0.0.1/x", "unsupported database"),
        ("not a url", "not a database URL"),
    ],
)
def test_unusable_store_urls_are_refused_with_what_to_use(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Store.open(url)


def test_an_unreachable_server_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError, match="cannot reach the metadata store"):
        Store.open("postgresql://nobody@127.0.0.1:1/none")


def test_an_older_database_is_upgraded_in_place_keeping_its_rows(db_url: str) -> None:
    from alembic import command

    store = Store.connect(db_url)
    try:
        with store.engine.connect() as connection:
            command.upgrade(alembic_config(connection), "0001")
            connection.commit()
        with store.write() as connection:
            connection.execute(
                tables.models.insert().values(
                    name="kept", task="regression", description="", created_at=datetime.now(UTC)
                )
            )
        with pytest.raises(StoreError, match="revision 0001"):
            Store.open(db_url)
        assert store.upgrade() == ("0001", HEAD_REVISION)
        with store.read() as connection:
            names = [row.name for row in connection.execute(tables.models.select())]
        assert names == ["kept"]
    finally:
        store.close()


@pytest.mark.parametrize("created_by", ["create", "migrations"])
def test_the_database_itself_refuses_to_edit_or_delete_events(db_url: str, created_by: str) -> None:
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DatabaseError

    from mlrelease.audit import record_event

    store = Store.open(db_url) if created_by == "create" else Store.connect(db_url)
    try:
        if created_by == "migrations":
            store.upgrade()
        with store.write() as connection:
            record_event(connection, kind="model.created", model="m", actor="a")
        for statement in (
            update(tables.events).values(actor="someone else"),
            delete(tables.events),
        ):
            with pytest.raises(DatabaseError, match="append-only"), store.write() as connection:
                connection.execute(statement)
        with store.read() as connection:
            assert [row.actor for row in connection.execute(tables.events.select())] == ["a"]
    finally:
        store.close()
