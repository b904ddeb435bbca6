"""Outbox rows: their states, how a new one looks, and the read side for ``notify status``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, func, select

from mlrelease.store import Store, tables

__all__ = ["OutboxEntry", "OutboxState", "OutboxStatus", "new_row", "pending"]

_O = tables.outbox.c


class OutboxState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (pending -> pending on a failed attempt)
    DELIVERED = "delivered"  # the receiver accepted it (pending -> delivered); final
    FAILED = "failed"  # given up: max attempts, or its channel is gone (pending -> failed); final


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    channel: str
    kind: str
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class OutboxStatus:
    counts: dict[str, int]  # rows by state: pending, delivered, failed
    entries: list[OutboxEntry]  # pending and failed rows, oldest first


def new_row(event_id: int, channel: str, message: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The values of a fresh outbox row: pending, due now, never tried."""
    return {
        "event_id": event_id,
        "channel": channel,
        "message": message,
        "status": OutboxState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_until": None,
        "last_error": "",
        "created_at": now,
        "delivered_at": None,
    }


def pending(store: Store, *, limit: int = 100) -> OutboxStatus:
    """Counts by state, and the pending and failed rows (oldest first, up to ``limit``)."""
    counts = {state.value: 0 for state in OutboxState}
    open_states = [OutboxState.PENDING.value, OutboxState.FAILED.value]
    rows_query = select(tables.outbox).where(_O.status.in_(open_states)).order_by(_O.id)
    with store.read() as connection:
        for state, count in connection.execute(select(_O.status, func.count()).group_by(_O.status)):
            counts[str(state)] = int(count)
        rows = connection.execute(rows_query.limit(limit)).all()
    return OutboxStatus(counts, [_entry(row) for row in rows])


def _entry(row: Row[Any]) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        channel=row.channel,
        kind=str((row.message or {}).get("kind", "")),
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
    )
