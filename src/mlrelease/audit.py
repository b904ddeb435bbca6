"""The audit log: an append-only record of every state change, with actor and UTC time.

Events are written inside the same transaction as the change they describe, so
the log never claims a change that did not happen, nor misses one that did.
Nothing in mlrelease updates or deletes an event.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select

from mlrelease.store import tables

__all__ = [
    "NOTIFY_TOPICS",
    "Announcer",
    "EventInfo",
    "EventKind",
    "current_actor",
    "list_events",
    "record_event",
]


class EventKind:
    MODEL_CREATED = "model.created"
    VERSION_REGISTERED = "version.registered"
    ALIAS_MOVED = "alias.moved"
    TRAFFIC_CHANGED = "traffic.changed"
    VERSION_ARCHIVED = "version.archived"
    GATE_FAILED = "gate.failed"
    PROMOTION_REQUESTED = "promotion.requested"  # waits for approvals
    PROMOTION_APPROVED = "promotion.approved"  # one approval; more may be needed
    PROMOTION_REJECTED = "promotion.rejected"
    PROMOTION_CANCELLED = "promotion.cancelled"  # superseded, or the version was archived
    PROMOTED = "promotion.promoted"  # the alias moved to the requested version
    ROLLED_BACK = "alias.rolled_back"
    RELEASE_STARTED = "release.started"
    RELEASE_STEP = "release.step"  # the candidate's share of traffic changed
    RELEASE_ANALYSED = "release.analysed"  # one measurement, with its verdict
    RELEASE_PAUSED = "release.paused"
    RELEASE_RESUMED = "release.resumed"
    RELEASE_PROMOTED = "release.promoted"
    RELEASE_ABORTED = "release.aborted"
    DRIFT_DETECTED = "drift.detected"
    METRIC_DEGRADED = "metric.degraded"  # a live metric past its floor or ceiling
    RETRAIN_STARTED = "retrain.started"
    RETRAIN_FINISHED = "retrain.finished"  # a new version registered (and promoted as allowed)
    RETRAIN_FAILED = "retrain.failed"  # a data check, gate or error stopped it
    TOKEN_CREATED = "token.created"  # recorded with model "" (never a model's name)
    TOKEN_REVOKED = "token.revoked"


# The events a notification channel can subscribe to (``notify[].on`` in the project
# file), by the short name a person writes.
NOTIFY_TOPICS: dict[str, str] = {
    "gate_failed": EventKind.GATE_FAILED,
    "approval_requested": EventKind.PROMOTION_REQUESTED,
    "promoted": EventKind.PROMOTED,
    "rejected": EventKind.PROMOTION_REJECTED,
    "rolled_back": EventKind.ROLLED_BACK,
    "release_started": EventKind.RELEASE_STARTED,
    "release_promoted": EventKind.RELEASE_PROMOTED,
    "release_aborted": EventKind.RELEASE_ABORTED,
    "drift_detected": EventKind.DRIFT_DETECTED,
    "metric_degraded": EventKind.METRIC_DEGRADED,
    "retrain_started": EventKind.RETRAIN_STARTED,
    "retrain_finished": EventKind.RETRAIN_FINISHED,
    "retrain_failed": EventKind.RETRAIN_FAILED,
}


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


class Announcer(Protocol):
    """Turns an event into notifications, inside the transaction that recorded it."""

    def announce(self, connection: Connection, event: EventInfo) -> None: ...


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
    timestamp: datetime | None = None,
) -> EventInfo:
    """Append one event inside the caller's transaction and return it (with its id)."""
    event = EventInfo(
        id=0,
        timestamp=timestamp or datetime.now(UTC),
        actor=actor,
        kind=kind,
        model=model,
        environment=environment,
        from_version=from_version,
        to_version=to_version,
        reason=reason,
        payload=payload or {},
    )
    values = asdict(event)
    del values["id"]
    return replace(event, id=connection.execute(_INSERT_EVENT, values).scalar_one())


_E = tables.events.c
_INSERT_EVENT = insert(tables.events).returning(_E.id)


def list_events(
    connection: Connection,
    *,
    model: str | None = None,
    environment: str | None = None,
    until: datetime | None = None,
    kinds: Sequence[str] = (),
    limit: int | None = None,
) -> list[EventInfo]:
    """Events in the order they happened, optionally filtered; ``limit`` keeps the newest."""
    query = select(tables.events)
    if model is not None:
        query = query.where(_E.model == model)
    if environment is not None:
        query = query.where(_E.environment == environment)
    if until is not None:
        query = query.where(_E.timestamp <= until)
    if kinds:
        query = query.where(_E.kind.in_(list(kinds)))
    if limit is not None:
        newest = query.order_by(_E.id.desc()).limit(limit).subquery()
        query = select(newest).order_by(newest.c.id)
    else:
        query = query.order_by(_E.id)
    return [EventInfo(**row._asdict()) for row in connection.execute(query)]
