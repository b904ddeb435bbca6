"""The server's background deliverer: a kick delivers soon; retries run on their own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from mlrelease.notify import Backoff, DeliveryPump, Outbox
from mlrelease.spec import NotifySpec, WebhookSpec
from mlrelease.store import Store

from .conftest import Receiver, announce


def _eventually(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _outbox(store: Store, receiver: Receiver) -> Outbox:
    channel = NotifySpec(webhook=WebhookSpec(url=receiver.url()))
    return Outbox(store, {"hook": channel})


def test_a_kick_delivers_from_the_pump_thread(store: Store, receiver: Receiver) -> None:
    outbox = _outbox(store, receiver)
    pump = DeliveryPump(outbox, interval=60)
    try:
        announce(store, outbox)
        pump.kick()
        assert _eventually(lambda: len(receiver.accepted()) == 1)
    finally:
        pump.stop()
    assert outbox.status().counts["delivered"] == 1


def test_the_pump_retries_a_receiver_that_was_down(store: Store, down_receiver: Receiver) -> None:
    receiver = down_receiver
    channel = NotifySpec(webhook=WebhookSpec(url=receiver.url()))
    outbox = Outbox(store, {"hook": channel}, backoff=Backoff(first=timedelta(0)))
    pump = DeliveryPump(outbox, interval=0.05)
    try:
        announce(store, outbox)
        pump.kick()
        assert _eventually(lambda: any(e.attempts for e in outbox.status().entries))
        receiver.start()
        assert _eventually(lambda: len(receiver.accepted()) == 1)
    finally:
        pump.stop()


def test_without_channels_a_kick_starts_nothing(store: Store) -> None:
    pump = DeliveryPump(Outbox(store, {}))
    pump.kick()
    pump.stop()
    assert "mlrelease-notify" not in {thread.name for thread in threading.enumerate()}
