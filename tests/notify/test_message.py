"""Rendering an audit event into the message every channel formats."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mlrelease.audit import NOTIFY_TOPICS, EventInfo, EventKind
from mlrelease.notify import render_message
from mlrelease.notify.message import email_body, slack_payload

from .conftest import T0

EVENT = EventInfo(
    id=7,
    timestamp=T0,
    actor="alice",
    kind=EventKind.PROMOTED,
    model="breast-cancer",
    environment="production",
    from_version=2,
    to_version=3,
    reason="better recall",
    payload={"request": 4},
)


def test_a_promotion_reads_as_one_line_with_who_and_why() -> None:
    message = render_message(EVENT)
    assert message["headline"] == "breast-cancer v3 promoted to production"
    assert message["text"] == "breast-cancer v3 promoted to production (by alice): better recall"
    assert message["topic"] == "promoted"
    assert message["timestamp"] == "2024-05-01T12:00:00+00:00"
    assert message["event_id"] == 7 and message["payload"] == {"request": 4}
    assert json.loads(json.dumps(message)) == message  # stored as JSON


@pytest.mark.parametrize("topic", list(NOTIFY_TOPICS))
def test_every_topic_renders_a_single_line_without_placeholders(topic: str) -> None:
    message = render_message(replace(EVENT, kind=NOTIFY_TOPICS[topic], reason="a\nb"))
    assert message["topic"] == topic
    assert "{" not in message["text"] and "\n" not in message["text"]
    assert "breast-cancer" in message["headline"]


def test_slack_shape_is_text_plus_a_section_block_with_escaped_markup() -> None:
    message = render_message(replace(EVENT, reason="<script> & co"))
    payload = slack_payload(message)
    assert payload["text"] == message["text"]
    (block,) = payload["blocks"]
    assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
    assert block["text"]["text"].startswith("*breast-cancer v3 promoted to production*")
    assert "&lt;script&gt; &amp; co" in block["text"]["text"]


def test_email_body_lists_the_facts() -> None:
    body = email_body(render_message(EVENT))
    assert body.startswith("breast-cancer v3 promoted to production (by alice)")
    assert "from version: 2" in body and "to version: 3" in body
    assert "event: promotion.promoted at 2024-05-01T12:00:00+00:00" in body
