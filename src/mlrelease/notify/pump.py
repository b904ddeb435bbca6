"""A background deliverer for long-running processes (the control-plane server).

A request that announced something kicks the pump, which delivers in its own
thread, so no HTTP answer waits on Slack or SMTP; between kicks it retries
what is due every ``interval`` seconds.
"""

from __future__ import annotations

import logging
import threading

from mlrelease.notify.outbox import Outbox

__all__ = ["DeliveryPump"]

log = logging.getLogger("mlrelease.notify")


class DeliveryPump:
    def __init__(self, outbox: Outbox, *, interval: float = 5.0) -> None:
        self.outbox = outbox
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def kick(self) -> None:
        """Deliver soon; starts the thread on first use. Returns at once."""
        if not self.outbox.channels:
            return
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mlrelease-notify", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                report = self.outbox.deliver_due()
            except Exception:  # the store may be briefly unreachable: try again next round
                log.exception("delivering notifications failed")
                continue
            for error in report.errors:
                log.warning("notification not delivered: %s", error)
