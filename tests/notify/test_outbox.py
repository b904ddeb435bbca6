"""The outbox on SQLite and PostgreSQL: announced with its event, delivered at least once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from mlrelease.audit import EventKind
from mlrelease.notify import Backoff, HttpReply, Network, Outbox
from mlrelease.notify.transport import urllib_post
from mlrelease.spec import NotifySpec, WebhookSpec
from mlrelease.store import Store, tables

from .conftest import T0, FakeClock, Receiver, announce

SECRET = "hmac-secret-never-stored"
CLAIMED = (
    select(func.count())
    .select_from(tables.outbox)
    .where(tables.outbox.c.claimed_until.is_not(None), tables.outbox.c.status == "pending")
)


def hook(url: str, *on: str) -> NotifySpec:
    return NotifySpec(webhook=WebhookSpec(url=url, secret=SECRET), on=list(on))


def rows(store: Store) -> list[dict[str, Any]]:
    with store.read() as connection:
        found = connection.execute(select(tables.outbox).order_by(tables.outbox.c.id))
        return [dict(row._mapping) for row in found]


def delivery_ids(receiver: Receiver) -> Counter[str]:
    return Counter(request.headers["X-Mlrelease-Delivery"] for request in receiver.accepted())


# --- announce ------------------------------------------------------------------------


def test_announce_queues_a_row_per_channel_that_wants_the_event(
    store: Store, clock: FakeClock
) -> None:
    channels = {
        "promotions": hook("http://127.0.0.1:9/p", "promoted"),
        "everything": NotifySpec(slack="https://hooks.slack.com/services/T/B/SECRETPATH"),
        "gates": hook("http://127.0.0.1:9/g", "gate_failed"),
    }
    outbox = Outbox(store, channels, now=clock)
    event = announce(store, outbox, EventKind.PROMOTED)
    queued = rows(store)
    assert sorted(row["channel"] for row in queued) == ["everything", "promotions"]
    for row in queued:
        assert row["event_id"] == event.id and row["status"] == "pending"
        assert row["attempts"] == 0 and row["next_attempt_at"] == clock()
        assert row["message"]["kind"] == "promotion.promoted"
        assert row["message"]["text"].startswith("breast-cancer v3 promoted to production")
    stored = json.dumps(queued, default=str)
    assert SECRET not in stored and "SECRETPATH" not in stored and "127.0.0.1" not in stored

    announce(store, outbox, EventKind.GATE_FAILED)
    assert [row["channel"] for row in rows(store)[2:]] == ["everything", "gates"]
    announce(store, outbox, EventKind.VERSION_REGISTERED)  # not a notification topic
    assert len(rows(store)) == 4


def test_an_outbox_without_channels_does_nothing(store: Store) -> None:
    outbox = Outbox(store)
    announce(store, outbox)
    assert rows(store) == []
    assert outbox.deliver_due().attempted == 0
    assert Outbox.from_spec(store, None).channels == {}


def test_a_crash_before_commit_leaves_no_outbox_row(store: Store, clock: FakeClock) -> None:
    outbox = Outbox(store, {"hook": hook("http://127.0.0.1:9/")}, now=clock)
    with pytest.raises(RuntimeError, match="crash"), store.write() as connection:
        from mlrelease.audit import record_event

        event = record_event(connection, kind=EventKind.PROMOTED, model="m", actor="a")
        outbox.announce(connection, event)
        raise RuntimeError("crash between announce and commit")
    assert rows(store) == []
    with store.read() as connection:
        assert connection.execute(select(func.count()).select_from(tables.events)).scalar() == 0


# --- deliver -------------------------------------------------------------------------


def test_a_receiver_that_is_down_delays_messages_and_each_arrives_once(
    store: Store, clock: FakeClock, down_receiver: Receiver
) -> None:
    outbox = Outbox(store, {"hook": hook(down_receiver.url())}, now=clock)
    for _ in range(3):
        announce(store, outbox)

    report = outbox.deliver_due()
    assert (report.delivered, report.retrying, report.failed) == (0, 3, 0)
    assert "cannot reach http://127.0.0.1" in report.errors[0]
    assert all(row["next_attempt_at"] == T0 + timedelta(seconds=2) for row in rows(store))

    assert outbox.deliver_due().attempted == 0  # backoff: not due yet
    clock.advance(1.9)
    assert outbox.deliver_due().attempted == 0
    clock.advance(0.1)
    assert outbox.deliver_due().retrying == 3  # second attempt, still down
    assert {row["next_attempt_at"] for row in rows(store)} == {clock() + timedelta(seconds=4)}

    down_receiver.status = 500
    down_receiver.start()
    clock.advance(4)
    report = outbox.deliver_due()
    assert report.retrying == 3 and "HTTP 500 from" in report.errors[0]
    assert {row["last_error"] for row in rows(store)} == {
        f"HTTP 500 from http://127.0.0.1:{down_receiver.port}: receiver says no"
    }

    down_receiver.status = 200
    clock.advance(8)
    assert outbox.deliver_due().delivered == 3
    clock.advance(3600)
    assert outbox.deliver_due().attempted == 0

    final = rows(store)
    assert delivery_ids(down_receiver) == Counter({str(row["id"]): 1 for row in final})
    for row in final:
        assert row["status"] == "delivered" and row["attempts"] == 4
        assert row["delivered_at"] == clock() - timedelta(seconds=3600)
        assert row["claimed_until"] is None


def test_after_max_attempts_a_message_is_failed_and_shown_in_status(
    store: Store, clock: FakeClock, down_receiver: Receiver
) -> None:
    outbox = Outbox(store, {"hook": hook(down_receiver.url())}, now=clock, max_attempts=3)
    announce(store, outbox)
    reports = []
    for _ in range(4):
        reports.append(outbox.deliver_due())
        clock.advance(600)
    assert [(r.retrying, r.failed) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    state = outbox.status()
    assert state.counts == {"pending": 0, "delivered": 0, "failed": 1}
    (entry,) = state.entries
    assert entry.status == "failed" and entry.attempts == 3 and entry.channel == "hook"
    assert entry.kind == "promotion.promoted" and "cannot reach" in entry.last_error


def test_backoff_doubles_from_two_seconds_up_to_ten_minutes() -> None:
    backoff = Backoff()
    assert [backoff.after(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff.after(9) == timedelta(minutes=8, seconds=32)
    assert backoff.after(10) == backoff.after(10_000) == timedelta(minutes=10)


def test_a_row_for_a_channel_no_longer_configured_is_failed(
    store: Store, clock: FakeClock, receiver: Receiver
) -> None:
    announce(store, Outbox(store, {"old": hook(receiver.url())}, now=clock))
    report = Outbox(store, {"new": hook(receiver.url())}, now=clock).deliver_due()
    assert report.failed == 1
    (row,) = rows(store)
    assert row["status"] == "failed"
    assert "channel 'old' is no longer configured" in row["last_error"]
    assert receiver.requests == []


def test_a_refused_address_is_retried_not_sent(
    store: Store, clock: FakeClock, receiver: Receiver
) -> None:
    network = Network(resolve=lambda host: ["169.254.169.254"])
    url = f"http://receiver.test:{receiver.port}/hook"
    outbox = Outbox(store, {"hook": hook(url)}, now=clock, network=network)
    announce(store, outbox)
    assert outbox.deliver_due().retrying == 1
    assert "allow_link_local" in rows(store)[0]["last_error"]
    assert receiver.requests == []


def test_a_deliverer_that_dies_mid_send_holds_its_rows_until_the_lease_ends(
    store: Store, clock: FakeClock, receiver: Receiver
) -> None:
    def dies(*_: Any) -> Any:
        raise KeyboardInterrupt  # the process stops between claim and record

    channels = {"hook": hook(receiver.url())}
    announce(store, Outbox(store, channels, now=clock))
    with pytest.raises(KeyboardInterrupt):
        Outbox(store, channels, now=clock, network=Network(post=dies)).deliver_due()

    outbox = Outbox(store, channels, now=clock)
    assert outbox.deliver_due().attempted == 0  # still claimed by the dead deliverer
    clock.advance(outbox.lease.total_seconds())
    assert outbox.deliver_due().delivered == 1
    assert len(receiver.accepted()) == 1


def test_racing_deliverers_send_each_message_once(
    store: Store, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.delay = 0.005  # keep both deliverers busy at the same time
    channels = {"a": hook(receiver.url("/a")), "b": hook(receiver.url("/b"))}
    for _ in range(15):
        announce(store, Outbox(store, channels, now=clock))
    held: list[int] = []  # rows claimed at the moment of each send

    def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> HttpReply:
        with store.read() as connection:
            held.append(connection.execute(CLAIMED).scalar_one())
        return urllib_post(url, body, headers, timeout)

    network = Network(post=post)
    deliverers = [Outbox(store, channels, now=clock, batch=3, network=network) for _ in range(2)]
    start = threading.Barrier(len(deliverers))
    delivered: list[int] = []
    errors: list[BaseException] = []

    def run(outbox: Outbox) -> None:
        try:
            start.wait()
            delivered.append(outbox.deliver_due().delivered)
        except BaseException as exc:  # surfaced below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(outbox,)) for outbox in deliverers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(delivered) == 30
    assert max(held) <= 2 * 3  # each deliverer claims a batch at a time
    ids = delivery_ids(receiver)
    assert len(ids) == 30 and set(ids.values()) == {1}
    assert {row["status"] for row in rows(store)} == {"delivered"}
