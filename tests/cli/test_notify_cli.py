"""`mlrelease notify test|deliver|status` against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlrelease.audit import EventKind, record_event
from mlrelease.cli import app
from mlrelease.cli import notify as notify_cli
from mlrelease.client import Client
from mlrelease.notify import Outbox

from ..receivers import Receiver

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Down until the test starts it."""
    server = Receiver()
    yield server
    server.close()


def bodies(receiver: Receiver) -> list[dict[str, Any]]:
    return [request.json() for request in receiver.accepted()]


def write_project(folder: Path, *channels: str) -> None:
    assert invoke("init")[0] == 0
    if channels:
        with (folder / "mlrelease.yaml").open("a") as file:
            file.write("notify:\n" + "".join(channels))


def webhook(name: str, url: str) -> str:
    return f"  - name: {name}\n    webhook: {{url: '{url}', secret: s3cret}}\n"


def test_notify_test_sends_to_a_live_receiver(isolated_env: Path, receiver: Receiver) -> None:
    receiver.start()
    write_project(isolated_env, webhook("hook", receiver.url()))
    code, output = invoke("notify", "test")
    assert code == 0, output
    assert output.strip() == "ok  hook (webhook)"
    (body,) = bodies(receiver)
    assert body["kind"] == "notify.test" and "'hook'" in body["text"]


def test_notify_test_against_a_down_receiver_exits_1_with_one_line(
    isolated_env: Path, receiver: Receiver
) -> None:
    write_project(isolated_env, webhook("hook", receiver.url()))
    code, output = invoke("notify", "test", "--channel", "hook")
    assert code == 1
    (line,) = output.strip().splitlines()
    assert line.startswith(f"error: channel 'hook': cannot reach {receiver.url()[:-5]}: ")
    assert "s3cret" not in output


def test_notify_test_reports_each_channel(isolated_env: Path, receiver: Receiver) -> None:
    receiver.start()
    down = Receiver()
    try:
        write_project(isolated_env, webhook("good", receiver.url()), webhook("bad", down.url()))
        code, output = invoke("notify", "test")
    finally:
        down.close()
    assert code == 1
    assert output.splitlines()[0] == "ok  good (webhook)"
    assert output.splitlines()[1].startswith("error: channel 'bad': cannot reach")
    assert len(bodies(receiver)) == 1


def test_an_unknown_channel_is_a_config_error(isolated_env: Path) -> None:
    write_project(isolated_env, webhook("hook", "http://127.0.0.1:9/"))
    code, output = invoke("notify", "test", "-c", "nope")
    assert code == 2 and "no notification channel named 'nope'; configured: hook" in output


def test_without_a_notify_section_it_says_how_to_add_one(isolated_env: Path) -> None:
    write_project(isolated_env)
    code, output = invoke("notify", "test")
    assert code == 2
    assert "no notification channels configured" in output
    assert "slack: ${SLACK_WEBHOOK_URL}" in output and "webhook:" in output


def test_without_a_project_file_it_says_so(isolated_env: Path) -> None:
    code, output = invoke("notify", "deliver")
    assert code == 2 and "project file not found" in output and "notify:" in output


def _announce_one(folder: Path) -> None:
    with Client.from_project(folder) as client:
        spec = client.project.spec if client.project else None
        outbox = Outbox.from_spec(client.store, spec)
        with client.store.write() as connection:
            event = record_event(
                connection, kind=EventKind.PROMOTED, model="breast-cancer", actor="alice"
            )
            outbox.announce(connection, event)


def test_deliver_then_status(isolated_env: Path, receiver: Receiver) -> None:
    write_project(isolated_env, webhook("hook", receiver.url()))
    _announce_one(isolated_env)

    code, output = invoke("notify", "deliver")  # the receiver is down
    assert code == 0 and "delivered 0, retrying 1, failed 0" in output
    assert "#1 hook: cannot reach" in output
    code, output = invoke("notify", "status", "-o", "json")
    status = json.loads(output)
    assert status["counts"] == {"pending": 1, "delivered": 0, "failed": 0}
    (entry,) = status["entries"]
    assert entry["channel"] == "hook" and entry["attempts"] == 1
    assert entry["kind"] == "promotion.promoted" and "cannot reach" in entry["last_error"]
    code, output = invoke("notify", "status")
    assert code == 0 and output.startswith("pending 1, delivered 0, failed 0")
    assert "│ 1  │ hook" in output

    receiver.start()
    assert "retrying 0" in invoke("notify", "deliver")[1]  # backoff: not due yet
    assert bodies(receiver) == []


def test_deliver_watch_runs_rounds_until_ctrl_c(
    isolated_env: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.start()
    write_project(isolated_env, webhook("hook", receiver.url()))
    _announce_one(isolated_env)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(notify_cli, "_sleep", sleep)
    code, output = invoke("notify", "deliver", "--watch", "--interval", "0.5")
    assert code == 0, output
    assert "delivered 1, retrying 0, failed 0" in output and "stopped" in output
    assert pauses == [0.5, 0.5]
    assert [body["kind"] for body in bodies(receiver)] == ["promotion.promoted"]


def test_the_promotion_flow_notifies_each_step_signed(
    isolated_env: Path, receiver: Receiver
) -> None:
    receiver.start()
    assert invoke("quickstart")[0] == 0
    topics = "    on: [approval_requested, promoted, rejected, rolled_back]\n"
    with (isolated_env / "mlrelease.yaml").open("a") as file:
        file.write("notify:\n" + webhook("team", receiver.url()) + topics)

    steps = [
        ("promote", "breast-cancer", "1", "--to", "staging"),
        ("promote", "breast-cancer", "1", "--to", "production"),
    ]
    for step in steps:
        code, output = invoke(*step)
        assert code == 0, output
    result = runner.invoke(
        app, ["approve", "2"], env={"MLRELEASE_ACTOR": "bob"}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert invoke("quickstart", "--force")[0] == 0  # v2 -> dev: not a subscribed topic
    code, output = invoke("rollback", "breast-cancer", "--env", "dev", "--reason", "errors")
    assert code == 0, output

    received = [(b["kind"], b["environment"], b["to_version"]) for b in bodies(receiver)]
    assert received == [
        ("promotion.promoted", "staging", 1),
        ("promotion.requested", "production", 1),
        ("promotion.promoted", "production", 1),
        ("alias.rolled_back", "dev", 1),
    ]
    for request in receiver.accepted():
        expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert headers["x-mlrelease-signature"] == f"sha256={expected}"
