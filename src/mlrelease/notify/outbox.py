"""The outbox: notifications written with their event, delivered later, at least once.

:meth:`Outbox.announce` runs inside the caller's write transaction, so an outbox
row exists exactly when the event it announces was committed. :meth:`deliver_due`
claims due rows in a short transaction (a lease in ``claimed_until``, so two
deliverers never send the same row at once), sends outside any transaction, and
records each result in another short transaction: delivered, or a failed attempt
retried after an exponential backoff, or -- after ``max_attempts`` -- failed.
A receiver that is down delays a message; it never loses it. Should a deliverer
die between sending and recording, the row is sent again when its lease ends;
receivers deduplicate on ``X-Mlrelease-Delivery`` (the row id).

Rows hold the channel's name and the rendered message, never its URL or secret:
those are looked up from the channels given to the Outbox at delivery time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, or_, select, update

from mlrelease.audit import NOTIFY_TOPICS, EventInfo
from mlrelease.errors import ConfigError, MlreleaseError
from mlrelease.notify.message import render_message
from mlrelease.notify.records import OutboxState, OutboxStatus, new_row, pending
from mlrelease.notify.senders import Sender, make_sender, send_test
from mlrelease.notify.transport import Network
from mlrelease.store import Store, tables

if TYPE_CHECKING:  # types only: keeps pydantic off this import path
    from mlrelease.spec import NotifySpec, ProjectSpec

__all__ = ["Backoff", "Clock", "DeliveryReport", "Outbox", "channel_kinds"]

log = logging.getLogger("mlrelease.notify")
Clock = Callable[[], datetime]
_O = tables.outbox.c


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Backoff:
    """Wait ``first``, then twice as long after each further failure, never more than ``cap``."""

    first: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=10)

    def after(self, attempts: int) -> timedelta:
        doublings: int = min(max(attempts - 1, 0), 30)
        return min(self.first * (1 << doublings), self.cap)


@dataclass
class DeliveryReport:
    """What one :meth:`Outbox.deliver_due` call did."""

    delivered: int = 0
    retrying: int = 0  # failed this attempt, scheduled again
    failed: int = 0  # failed for good
    errors: list[str] = field(default_factory=list)  # "#12 slack: HTTP 500 from https://..."

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


class Outbox:
    """Announce events to the configured channels; deliver what is due."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, NotifySpec] | None = None,
        *,
        now: Clock = utcnow,
        network: Network | None = None,
        lease: timedelta = timedelta(minutes=5),
        backoff: Backoff = Backoff(),
        max_attempts: int = 20,
        batch: int = 10,
    ) -> None:
        self.store = store
        self.channels = dict(channels or {})
        self.network = network or Network()
        self.lease = lease  # how long a claim holds a row: longer than a batch takes to send
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.batch = batch  # rows claimed at a time
        self._now = now
        self._routes = _routes(self.channels)
        self._senders: dict[str, Sender] = {
            name: make_sender(spec, self.network) for name, spec in self.channels.items()
        }

    @classmethod
    def from_spec(
        cls,
        store: Store,
        spec: ProjectSpec | None,
        *,
        now: Clock = utcnow,
        network: Network | None = None,
    ) -> Outbox:
        """The outbox for a project's ``notify:`` channels (none without a project)."""
        return cls(store, spec.channels if spec is not None else {}, now=now, network=network)

    def announce(self, connection: Connection, event: EventInfo) -> None:
        """Queue ``event`` for every channel that wants it, in the caller's transaction.

        ``event`` is already recorded (it has its id); nothing is sent here.
        """
        names = self._routes.get(event.kind)
        if not names:
            return
        now = self._now()
        message = render_message(event)
        rows = [new_row(event.id, name, message, now) for name in names]
        connection.execute(insert(tables.outbox), rows)

    def deliver_due(self, now: datetime | None = None, *, limit: int = 100) -> DeliveryReport:
        """Send up to ``limit`` due messages, a batch at a time; returns what happened."""
        report = DeliveryReport()
        while report.attempted < limit:
            claimed = self._claim(now or self._now(), min(self.batch, limit - report.attempted))
            if not claimed:
                break
            for row in claimed:
                self._deliver(row, report, now)
        return report

    def status(self, *, limit: int = 100) -> OutboxStatus:
        """Counts by state, and the pending and failed rows (oldest first, up to ``limit``)."""
        return pending(self.store, limit=limit)

    def check(self) -> None:
        """Raise ConfigError if a channel cannot work as configured (resolves its host)."""
        for name, sender in self._senders.items():
            try:
                sender.check()
            except ConfigError as exc:
                raise ConfigError(f"channel '{name}': {exc.message}") from None

    def send_test(self, channel: str) -> None:
        """Send a test message to ``channel`` now (not through the outbox)."""
        if channel not in self.channels:
            known = ", ".join(self.channels) or "none"
            raise ConfigError(f"no notification channel named '{channel}'; configured: {known}")
        send_test(channel, self.channels[channel], network=self.network)

    # -- delivery --------------------------------------------------------------------

    def _claim(self, now: datetime, count: int) -> Sequence[Row[Any]]:
        due = (_O.status == OutboxState.PENDING.value) & (_O.next_attempt_at <= now)
        free = or_(_O.claimed_until.is_(None), _O.claimed_until <= now)
        # Two statements, not UPDATE ... IN (SELECT ... LIMIT): PostgreSQL may run such a
        # subquery more than once, and SKIP LOCKED then finds other rows each time. Here the
        # SELECT locks what it picks (PostgreSQL) or the writer holds the database (SQLite).
        candidates = (
            select(_O.id)
            .where(due, free)
            .order_by(_O.id)
            .limit(count)
            .with_for_update(skip_locked=True)
        )
        with self.store.write() as connection:
            ids = list(connection.execute(candidates).scalars())
            if not ids:
                return []
            claim = (
                update(tables.outbox)
                .where(_O.id.in_(ids), due, free)
                .values(claimed_until=now + self.lease)
                .returning(_O.id, _O.channel, _O.message, _O.attempts)
            )
            return sorted(connection.execute(claim).all(), key=lambda row: int(row.id))

    def _deliver(self, row: Row[Any], report: DeliveryReport, now: datetime | None) -> None:
        error = self._send(row)
        at = now or self._now()
        attempts = int(row.attempts) + 1
        values: dict[str, Any] = {"attempts": _O.attempts + 1, "claimed_until": None}
        if error is None:
            values |= {"status": OutboxState.DELIVERED.value, "delivered_at": at}
            report.delivered += 1
        elif attempts >= self.max_attempts or row.channel not in self._senders:
            values |= {"status": OutboxState.FAILED.value, "last_error": error}
            report.failed += 1
        else:
            values |= {"last_error": error, "next_attempt_at": at + self.backoff.after(attempts)}
            report.retrying += 1
        if error is not None:
            report.errors.append(f"#{row.id} {row.channel}: {error}")
        mine = (_O.id == row.id) & (_O.status == OutboxState.PENDING.value)
        with self.store.write() as connection:
            connection.execute(update(tables.outbox).where(mine).values(**values))

    def _send(self, row: Row[Any]) -> str | None:
        """None when delivered, else a one-line reason without secrets."""
        sender = self._senders.get(row.channel)
        if sender is None:
            return (
                f"channel '{row.channel}' is no longer configured under notify: "
                "in the project file; not sent"
            )
        try:
            sender.send(row.message, delivery_id=str(row.id))
        except MlreleaseError as exc:
            return exc.message
        except Exception as exc:  # a bug in one send must not stop the others
            log.exception("notification #%s to channel %s failed", row.id, row.channel)
            return f"unexpected {type(exc).__name__} while sending (see the deliverer's log)"
        return None


def channel_kinds(spec: NotifySpec) -> frozenset[str]:
    """The event kinds a channel wants: those of its ``on`` topics, or every topic."""
    return frozenset(NOTIFY_TOPICS[topic] for topic in spec.on or NOTIFY_TOPICS)


def _routes(channels: Mapping[str, NotifySpec]) -> dict[str, list[str]]:
    routes: dict[str, list[str]] = {}
    for name, spec in channels.items():
        for kind in channel_kinds(spec):
            routes.setdefault(kind, []).append(name)
    return routes
