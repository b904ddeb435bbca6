"""Reading the alias history back from the append-only event log.

The aliases table holds only the present; the events hold every move. Replaying
them answers "what was live at that moment" and "what does a rollback return to".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from mlrelease.audit import EventInfo, EventKind, list_events

__all__ = ["ALIAS_KINDS", "live_at", "live_lineage"]

# The events that move an alias; each carries from_version and to_version.
ALIAS_KINDS = (EventKind.ALIAS_MOVED, EventKind.PROMOTED, EventKind.ROLLED_BACK)


def live_at(connection: Connection, model: str, at: datetime | None = None) -> dict[str, int]:
    """Each environment's live version at ``at`` (now when None), from the events alone."""
    live: dict[str, int] = {}
    for event in list_events(connection, model=model, until=at, kinds=ALIAS_KINDS):
        if event.environment is not None and event.to_version is not None:
            live[event.environment] = event.to_version
    return live


def live_lineage(events: Iterable[EventInfo]) -> list[int]:
    """The versions an environment stood on, oldest first, with rolled-back ones removed.

    A rollback returns to a version on the stack and drops everything above it,
    so rolling back twice goes further back rather than re-deploying what was
    just rolled back.
    """
    stack: list[int] = []
    for event in events:
        target = event.to_version
        if target is None:
            continue
        if event.kind == EventKind.ROLLED_BACK and target in stack:
            del stack[stack.index(target) + 1 :]
        elif not stack or stack[-1] != target:
            stack.append(target)
    return stack


def has_been_live(connection: Connection, model: str, environment: str, version: int) -> bool:
    return any(
        event.to_version == version
        for event in list_events(
            connection, model=model, environment=environment, kinds=ALIAS_KINDS
        )
    )
