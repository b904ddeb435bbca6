"""Notifications: Slack, generic webhooks and email, delivered through an outbox.

This package owns the ``outbox`` table. Core services call
:meth:`Outbox.announce` inside the write transaction that records an audit event;
a deliverer (``mlrelease notify deliver``, the CLI command that announced, or the
server's :class:`DeliveryPump`) later calls :meth:`Outbox.deliver_due`.
Every outside effect goes through :class:`Network` (HTTP, SMTP, TLS, DNS) and the
``now`` clock, so tests drive both; URLs pass the SSRF guard in ``guard``.

    outbox = Outbox.from_spec(store, project.spec)
    with store.write() as connection:
        event = record_event(connection, kind=EventKind.PROMOTED, ...)
        outbox.announce(connection, event)
    outbox.deliver_due()
"""

from mlrelease.notify.guard import check_url, display_url
from mlrelease.notify.message import Message, render_message
from mlrelease.notify.outbox import Backoff, Clock, DeliveryReport, Outbox, channel_kinds
from mlrelease.notify.pump import DeliveryPump
from mlrelease.notify.records import OutboxEntry, OutboxState, OutboxStatus, pending
from mlrelease.notify.senders import Sender, make_sender, send_test, sign
from mlrelease.notify.transport import HttpReply, Network

__all__ = [
    "Backoff",
    "Clock",
    "DeliveryPump",
    "DeliveryReport",
    "HttpReply",
    "Message",
    "Network",
    "Outbox",
    "OutboxEntry",
    "OutboxState",
    "OutboxStatus",
    "Sender",
    "channel_kinds",
    "check_url",
    "display_url",
    "make_sender",
    "pending",
    "render_message",
    "send_test",
    "sign",
]
