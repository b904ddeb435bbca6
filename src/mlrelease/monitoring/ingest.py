"""Taking labelled rows from stream sources into the store, each exactly once.

A source delivers at least once; a row is stored under its source's name and the
message's key, whose unique constraint turns a redelivery into a no-op. The
source is told to commit only after the rows are in the store, so a crash
between the two redelivers rows (ignored) rather than losing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from mlrelease.data.streams import Message, StreamSource, open_stream
from mlrelease.spec import StreamSpec
from mlrelease.store import Store, tables

__all__ = ["ingest", "open_sources"]

_L = tables.labelled_rows.c


def open_sources(specs: Sequence[StreamSpec], base_dir: Path) -> list[StreamSource]:
    """Open each configured source; a folder path is relative to the project file."""
    return [open_stream(spec.kind, **_settings(spec, base_dir)) for spec in specs]


def _settings(spec: StreamSpec, base_dir: Path) -> dict[str, Any]:
    name = spec.name
    if spec.folder is not None:
        folder = spec.folder if isinstance(spec.folder, str) else spec.folder.path
        pattern = "*" if isinstance(spec.folder, str) else spec.folder.pattern
        return {"path": base_dir / folder, "pattern": pattern, "name": name}
    if spec.redis is not None:
        redis = spec.redis
        return {"url": redis.url, "stream": redis.stream, "group": redis.group, "name": name}
    assert spec.kafka is not None
    kafka = spec.kafka
    return {
        "bootstrap_servers": kafka.bootstrap_servers,
        "topic": kafka.topic,
        "group": kafka.group,
        "options": kafka.options,
        "name": name,
    }


def ingest(store: Store, model: str, source: StreamSource, *, max_messages: int = 500) -> int:
    """Store what ``source`` has for ``model`` now; the number of new rows stored."""
    messages = source.poll(max_messages=max_messages, timeout=0.1)
    if not messages:
        return 0
    with store.write() as connection:
        stored = _store_new(connection, model, source.name, messages)
    source.commit(messages)
    return stored


def _store_new(connection: Connection, model: str, source: str, messages: Sequence[Message]) -> int:
    keys = [message.key for message in messages]
    # Portable across SQLite and PostgreSQL: look the keys up, then insert the rest,
    # inside the write transaction that also serialises concurrent ingesters.
    known = set(
        connection.execute(
            select(_L.key).where(_L.model == model, _L.source == source, _L.key.in_(keys))
        ).scalars()
    )
    now = datetime.now(UTC)
    fresh = {
        message.key: message for message in messages if message.key not in known
    }  # a batch may hold a key twice after a redelivery
    if fresh:
        connection.execute(
            tables.labelled_rows.insert(),
            [
                {
                    "model": model,
                    "source": source,
                    "key": key,
                    "record": message.record,
                    "received_at": now,
                }
                for key, message in fresh.items()
            ],
        )
    return len(fresh)
