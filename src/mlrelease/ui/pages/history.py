"""History: the audit log, filtered by model, environment, actor and kind; what was live when.

The log is read newest first straight from the events table, with every filter in
the query, so the newest events that match are shown however long the log is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, select
from starlette.datastructures import QueryParams
from starlette.responses import Response

from mlrelease.audit import EventInfo
from mlrelease.client import Client
from mlrelease.errors import MalformedRequest
from mlrelease.store import tables
from mlrelease.ui.pages.overview import environment_order
from mlrelease.ui.routing import Pages, View

__all__ = ["pages"]

pages = Pages()

LIMIT = 500
_E = tables.events.c


@dataclass(frozen=True)
class Filters:
    """What the page was asked for; an empty string filters nothing."""

    model: str = ""
    environment: str = ""
    actor: str = ""
    kind: str = ""
    at: datetime | None = None  # UTC: events up to it, and what was live then

    @classmethod
    def parse(cls, query: QueryParams) -> Filters:
        def text(name: str) -> str:
            return query.get(name, "").strip()

        return cls(
            text("model"), text("environment"), text("actor"), text("kind"), _moment(text("at"))
        )

    @property
    def at_input(self) -> str:
        """``at`` as a datetime-local field shows it (UTC, no offset)."""
        return self.at.strftime("%Y-%m-%dT%H:%M:%S") if self.at else ""


@dataclass(frozen=True)
class EventRow:
    event: EventInfo
    details: str  # the payload as indented JSON, folded on the page


@dataclass(frozen=True)
class Options:
    """The values each filter can take: those the log holds."""

    models: list[str]
    environments: list[str]
    actors: list[str]
    kinds: list[str]


@pages.get("/history")
def history(view: View) -> Response:
    client = view.client
    filters = Filters.parse(view.request.query_params)
    events = _events(client, filters)
    return view.render(
        "history.html",
        filters=filters,
        options=_options(client),
        rows=[EventRow(event, _details(event)) for event in events[:LIMIT]],
        truncated=len(events) > LIMIT,
        limit=LIMIT,
        live=_live_at(client, filters) if filters.at else None,
        environments=environment_order(client),
    )


def _moment(text: str) -> datetime | None:
    """A date-time from the form: UTC unless it carries an offset."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedRequest(
            f"at={text!r} is not a date and time; write it like 2026-11-20T10:00 "
            "or 2026-11-20T10:00:30 (UTC), or with an offset: 2026-11-20T11:00+01:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _events(client: Client, filters: Filters) -> list[EventInfo]:
    """The newest matching events, newest first; one more than shown, to tell truncation."""
    query = select(tables.events).order_by(_E.id.desc()).limit(LIMIT + 1)
    for column, value in (
        (_E.model, filters.model),
        (_E.environment, filters.environment),
        (_E.actor, filters.actor),
        (_E.kind, filters.kind),
    ):
        if value:
            query = query.where(column == value)
    if filters.at is not None:
        query = query.where(_E.timestamp <= filters.at)
    with client.store.read() as connection:
        return [EventInfo(**row._asdict()) for row in connection.execute(query)]


def _options(client: Client) -> Options:
    with client.store.read() as connection:

        def present(column: Column[Any]) -> list[str]:
            query = select(column).distinct().order_by(column)
            return [str(value) for value in connection.execute(query).scalars() if value]

        return Options(
            models=[model.name for model in client.models()],
            environments=present(_E.environment),
            actors=present(_E.actor),
            kinds=present(_E.kind),
        )


def _live_at(client: Client, filters: Filters) -> dict[str, dict[str, int]]:
    """model -> environment -> the version live at ``filters.at``."""
    names = [filters.model] if filters.model else [model.name for model in client.models()]
    return {name: client.live_at(name, filters.at) for name in names}


def _details(event: EventInfo) -> str:
    return json.dumps(event.payload, indent=2, sort_keys=True, default=str) if event.payload else ""
