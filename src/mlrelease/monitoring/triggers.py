"""Conditions and triggers, with Prometheus-style ``for``: one breach fires once.

A *condition* (drift, a live metric past its bound) is judged at every monitor
check. Its state goes ``inactive -> pending`` when it first holds, ``pending ->
firing`` once it has held for its ``for`` duration -- that transition, and only
that one, *fires* -- and back to ``inactive`` as soon as it stops holding. A check
that could not judge (too few rows or labels) leaves the state as it was.

A *schedule* (cron, UTC) fires at each time it names, once, measured from when
it last fired (or was first seen). *New labels* fires when at least N labelled
rows arrived since the last retrain.

States live in the store (``trigger_states``), so a restarted controller neither
fires a breach again nor forgets one that was pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cronsim import CronSim
from sqlalchemy import Connection, func, select

from mlrelease.store import tables

__all__ = [
    "INACTIVE",
    "TriggerState",
    "count_new_labels",
    "judge",
    "new_labels_due",
    "read_state",
    "schedule_due",
    "write_state",
]

INACTIVE: Final = "inactive"
PENDING: Final = "pending"
FIRING: Final = "firing"

_T = tables.trigger_states.c


@dataclass(frozen=True)
class TriggerState:
    name: str
    state: str = INACTIVE
    since: datetime | None = None  # when the condition began to hold (schedule: last anchor)
    fired_at: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def judge(
    previous: TriggerState,
    *,
    holds: bool | None,
    hold_for: float,
    now: datetime,
    evidence: dict[str, Any],
) -> tuple[TriggerState, bool]:
    """The condition's next state, and whether it fired now. ``holds=None``: not judged."""
    if holds is None:
        return previous, False
    if not holds:
        return replace(previous, state=INACTIVE, since=None, evidence=evidence), False
    if previous.state == FIRING:
        return replace(previous, evidence=evidence), False
    since = previous.since if previous.state == PENDING and previous.since else now
    if now - since >= timedelta(seconds=hold_for):
        fired = TriggerState(previous.name, FIRING, since, now, evidence)
        return fired, True
    return TriggerState(previous.name, PENDING, since, previous.fired_at, evidence), False


def schedule_due(
    previous: TriggerState, expression: str, now: datetime
) -> tuple[TriggerState, bool]:
    """Whether a cron time passed since the anchor; the anchor moves to now when it did."""
    anchor = previous.since
    if anchor is None:  # first seen: count from now, do not fire for times already past
        return replace(previous, since=now), False
    due = next(CronSim(expression, anchor.astimezone(UTC).replace(tzinfo=None)))
    if now.replace(tzinfo=None) < due:
        return previous, False
    evidence = {"schedule": expression, "due": due.replace(tzinfo=UTC).isoformat()}
    return TriggerState(previous.name, INACTIVE, now, now, evidence), True


def new_labels_due(
    previous: TriggerState, gathered: int, needed: int, now: datetime
) -> tuple[TriggerState, bool]:
    """Whether ``needed`` labelled rows arrived since the anchor; counting restarts when so."""
    evidence = {"new_labels": gathered, "needed": needed}
    if gathered < needed:
        return replace(previous, since=previous.since or now, evidence=evidence), False
    return TriggerState(previous.name, INACTIVE, now, now, evidence), True


def count_new_labels(connection: Connection, model: str, since: datetime) -> int:
    """Labelled rows gathered since ``since``: feedback on served rows, and stream rows."""
    feedback = connection.execute(
        select(func.count())
        .select_from(
            tables.feedback.join(
                tables.predictions,
                (tables.predictions.c.request_id == tables.feedback.c.request_id)
                & (tables.predictions.c.row == tables.feedback.c.row),
            )
        )
        .where(tables.predictions.c.model == model, tables.feedback.c.timestamp > since)
    ).scalar_one()
    streamed = connection.execute(
        select(func.count())
        .select_from(tables.labelled_rows)
        .where(tables.labelled_rows.c.model == model, tables.labelled_rows.c.received_at > since)
    ).scalar_one()
    return int(feedback) + int(streamed)


def read_state(connection: Connection, model: str, environment: str, name: str) -> TriggerState:
    found = connection.execute(
        select(_T.state, _T.since, _T.fired_at, _T.evidence).where(
            _T.model == model, _T.environment == environment, _T.name == name
        )
    ).first()
    if found is None:
        return TriggerState(name)
    return TriggerState(name, found.state, found.since, found.fired_at, dict(found.evidence))


def write_state(
    connection: Connection, model: str, environment: str, state: TriggerState, now: datetime
) -> None:
    values = {
        "state": state.state,
        "since": state.since,
        "fired_at": state.fired_at,
        "checked_at": now,
        "evidence": state.evidence,
    }
    key = (_T.model == model, _T.environment == environment, _T.name == state.name)
    updated = connection.execute(tables.trigger_states.update().where(*key).values(**values))
    if updated.rowcount == 0:
        connection.execute(
            tables.trigger_states.insert().values(
                model=model, environment=environment, name=state.name, **values
            )
        )
