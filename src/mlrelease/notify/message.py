"""What a notification says: an audit event rendered once, as a JSON dict, when announced.

The dict is what the outbox row stores, what a generic webhook receives as its
body, and what the Slack and email senders format. It carries the event's facts
plus a one-line ``headline`` (``breast-cancer v3 promoted to production``) and a
``text`` that adds who did it and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlrelease.audit import NOTIFY_TOPICS, EventInfo, EventKind

__all__ = [
    "TEST_KIND",
    "Message",
    "email_body",
    "probe_message",
    "render_message",
    "slack_payload",
]

Message = dict[str, Any]
TEST_KIND = "notify.test"

_TOPIC_OF_KIND = {kind: topic for topic, kind in NOTIFY_TOPICS.items()}
_HEADLINES = {
    EventKind.GATE_FAILED: "{model} {to} failed a quality gate{for_env}",
    EventKind.PROMOTION_REQUESTED: "{model} {to} awaits approval for {env}",
    EventKind.PROMOTED: "{model} {to} promoted to {env}",
    EventKind.PROMOTION_REJECTED: "promotion of {model} {to} to {env} rejected",
    EventKind.ROLLED_BACK: "{model} rolled back in {env} from {from_} to {to}",
    EventKind.RELEASE_STARTED: "release of {model} {to} to {env} started",
    EventKind.RELEASE_PROMOTED: "release of {model} {to} to {env} completed",
    EventKind.RELEASE_ABORTED: "release of {model} {to} to {env} aborted",
    EventKind.DRIFT_DETECTED: "drift detected on {model}{for_env}",
    EventKind.METRIC_DEGRADED: "live performance of {model} degraded{for_env}",
    EventKind.RETRAIN_STARTED: "retraining of {model} started",
    EventKind.RETRAIN_FINISHED: "retraining of {model} produced {to}",
    EventKind.RETRAIN_FAILED: "retraining of {model} failed",
}


def render_message(event: EventInfo) -> Message:
    """The notification for one audit event, as stored in the outbox."""
    headline = _headline(event)
    text = headline + (f" (by {event.actor})" if event.actor else "")
    if event.reason:
        text += f": {event.reason}"
    return {
        "event_id": event.id,
        "kind": event.kind,
        "topic": _TOPIC_OF_KIND.get(event.kind, event.kind),
        "model": event.model,
        "environment": event.environment,
        "from_version": event.from_version,
        "to_version": event.to_version,
        "actor": event.actor,
        "reason": event.reason,
        "timestamp": event.timestamp.astimezone(UTC).isoformat(),
        "payload": event.payload,
        "headline": headline,
        "text": _one_line(text),
    }


def probe_message(channel: str, *, now: datetime | None = None) -> Message:
    """What ``mlrelease notify test`` sends: shaped like a real message, marked as a test."""
    headline = f"test message from mlrelease to channel '{channel}'"
    return {
        "event_id": None,
        "kind": TEST_KIND,
        "topic": "test",
        "model": "",
        "environment": None,
        "from_version": None,
        "to_version": None,
        "actor": "",
        "reason": "",
        "timestamp": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
        "payload": {},
        "headline": headline,
        "text": f"{headline}: if you can read this, the channel works",
    }


def slack_payload(message: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook shape: plain ``text`` (for notifications) plus a section block."""
    details = [
        f"{label}: {_slack_escape(str(message[key]))}"
        for label, key in (("environment", "environment"), ("by", "actor"), ("reason", "reason"))
        if message.get(key)
    ]
    markdown = f"*{_slack_escape(str(message['headline']))}*"
    if details:
        markdown += "\n" + "\n".join(details)
    return {
        "text": str(message["text"]),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": markdown}}],
    }


def email_body(message: Mapping[str, Any]) -> str:
    lines = [str(message["text"]), ""]
    for key in ("model", "environment", "from_version", "to_version", "actor", "reason"):
        if message.get(key) not in (None, ""):
            lines.append(f"{key.replace('_', ' ')}: {message[key]}")
    lines += [f"event: {message['kind']} at {message['timestamp']}", "", "-- mlrelease"]
    return "\n".join(lines) + "\n"


def _headline(event: EventInfo) -> str:
    template = _HEADLINES.get(event.kind, "{kind} on {model}{for_env}")
    fields = {
        "model": event.model,
        "kind": event.kind,
        "env": event.environment or "?",
        "for_env": f" in {event.environment}" if event.environment else "",
        "to": _version(event.to_version),
        "from_": _version(event.from_version),
    }
    return _one_line(template.format_map(fields))


def _version(number: int | None) -> str:
    return "(none)" if number is None else f"v{number}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
