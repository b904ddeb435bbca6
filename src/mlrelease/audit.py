"""The audit log: an append-only record of every state change, with actor and UTC time.

Events are written inside the same transaction as the change they describe, so
the log never claims a change that did not happen, nor misses one that did.
Nothing in mlrelease updates or deletes an event.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from mlrelease.store import tables

__all__ = ["EventInfo", "current_actor", "list_events", "record_event"]


class EventKind:
    MODEL_CREATED = "model.created"
    VERSION_REGISTERED = "version.registered"
    ALIAS_MOVED = "alias.moved"


@dataclass(frozen=True)
class EventInfo:
    id: int
    timestamp: datetime
    actor: str
    kind: str
    model: str
    environment: str | None
    from_version: int | None
    to_version: int | None
    reason: str
    payload: dict[str, Any]


def current_actor() -> str:
    """Who is acting, locally: ``MLRELEASE_ACTOR`` if set, else the OS user."""
    explicit = os.environ.get("MLRELEASE_ACTOR")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record_event(
    connection: Connection,
    *,
    kind: str,
    model: str,
    actor: str,
    environment: str | None = None,
    from_version: int | None = None,
    to_version: int | None = None,
    reason: str = "",
    payload: dict[str, Any] | None = None,
) -> None:
    connection.execute(
        _INSERT_EVENT,
        {
            "timestamp": datetime.now(UTC),
            "actor": actor,
            "kind": kind,
            "model": model,
            "environment": environment,
            "from_version": from_version,
            "to_version": to_version,
            "reason": reason,
            "payload": payload or {},
        },
    )


_INSERT_EVENT = insert(tables.events)


def list_events(connection: Connection, *, model: str | None = None) -> list[EventInfo]:
    query = select(tables.events).order_by(tables.events.c.id)
    if model is not None:
        query = query.where(tables.events.c.model == model)
    return [EventInfo(**row._asdict()) for row in connection.execute(query)]
