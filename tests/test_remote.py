"""RemoteClient: the local Client's promotion methods, through the control-plane API.

In-process tests answer through the transport seam with FastAPI's TestClient;
the end-to-end test starts `mlrelease server` as a REAL process on 127.0.0.1
(a free port), talks to it over HTTP, and stops it by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mlrelease.api import create_api
from mlrelease.cli import app
from mlrelease.client import Client
from mlrelease.errors import (
    ConfigError,
    ConflictError,
    Forbidden,
    GateFailed,
    MlreleaseError,
    ModelNotFoundError,
    PromotionRefused,
    StoreError,
    Unauthorized,
)
from mlrelease.promotion import PromotionStatus
from mlrelease.remote import HttpAnswer, RemoteClient, Transport

from .api._setup import MODEL, create_tokens, register_versions

URL = "http://testserver"
START_TIMEOUT = 60.0  # seconds for `mlrelease server` to import and listen
STOP_TIMEOUT = 15.0


@dataclass
class Remote:
    local: Client
    secrets: dict[str, str]
    transport: Transport

    def as_(self, name: str) -> RemoteClient:
        return RemoteClient(URL, self.secrets[name], transport=self.transport)


def _through(http: TestClient) -> Transport:
    def transport(
        method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> HttpAnswer:
        # In-process: nothing to time out (and the TestClient refuses a timeout).
        answer = http.request(method, url, headers=dict(headers), content=body)
        return HttpAnswer(answer.status_code, answer.content)

    return transport


@pytest.fixture
def remote(sqlite_url: str, tmp_path: Path) -> Iterator[Remote]:
    artifacts = str(tmp_path / "artifacts")
    with Client.open(db=sqlite_url, artifacts=artifacts, base_dir=tmp_path, env={}) as local:
        register_versions(local)
        secrets = create_tokens(local.store)
        with TestClient(create_api(local)) as http:
            yield Remote(local, secrets, _through(http))


def test_promotions_come_back_as_the_local_client_returns_them(remote: Remote) -> None:
    ci, alice = remote.as_("ci"), remote.as_("alice")
    assert ci.promote(MODEL, 1, "dev").status is PromotionStatus.PROMOTED
    ci.promote(MODEL, 1, "staging", reason="nightly")
    waiting = ci.promote(MODEL, 1, "production")
    assert waiting.status is PromotionStatus.PENDING and waiting.requested_by == "ci"
    assert ci.promotion_requests() == [waiting] == remote.local.promotion_requests()
    done = alice.approve(waiting.id, reason="ok")
    assert done == remote.local.promotions.request(waiting.id)
    assert done.status is PromotionStatus.PROMOTED and done.decisions[0].actor == "alice"
    everything = ci.promotion_requests(status=None)
    assert everything == remote.local.promotion_requests(status=None) and len(everything) == 3
    assert ci.events(MODEL) == remote.local.events(MODEL)
    assert ci.events(MODEL, environment="production", limit=1) == remote.local.events(
        MODEL, environment="production", limit=1
    )
    assert ci.live_at(MODEL) == {"dev": 1, "staging": 1, "production": 1}
    assert ci.whoami() == ("ci", "operator")


def test_rollback_archive_and_history_at_a_moment(remote: Remote) -> None:
    ci = remote.as_("ci")
    ci.promote(MODEL, 1, "dev")
    moment = datetime.now(UTC)
    remote.local.registry.set_alias(MODEL, "dev", 2, actor="tester")
    event = ci.rollback(MODEL, "dev", reason="v2 misbehaves")
    assert event == remote.local.events(MODEL)[-1] and event.actor == "ci"
    assert ci.live_at(MODEL, moment) == {"dev": 1}
    assert ci.events(MODEL, until=moment) == remote.local.events(MODEL, until=moment)
    assert remote.as_("root").archive(MODEL, 2, reason="retired") == 0


def test_errors_come_back_as_the_typed_errors_the_core_raised(remote: Remote) -> None:
    ci = remote.as_("ci")
    with pytest.raises(ModelNotFoundError, match="no model named 'nope'"):
        ci.live_at("nope")
    with pytest.raises(PromotionRefused, match="has not been in staging"):
        ci.promote(MODEL, 1, "production")
    ci.promote(MODEL, 1, "dev")
    with pytest.raises(ConflictError, match="already live in dev"):
        ci.promote(MODEL, 1, "dev")
    with pytest.raises(GateFailed) as failed:
        ci.promote(MODEL, 2, "dev")
    assert failed.value.details["gates"][0]["gate"] == "accuracy > champion.accuracy"
    with pytest.raises(Forbidden, match="has role operator; this needs admin"):
        ci.archive(MODEL, 2)
    with pytest.raises(ConfigError, match="needs a reason"):
        remote.as_("alice").rollback(MODEL, "dev", reason="")
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        RemoteClient(URL, "mlr_wrong", transport=remote.transport).events()


def test_an_answer_that_is_not_the_error_shape_still_raises_by_status() -> None:
    def gateway(*_: object) -> HttpAnswer:
        return HttpAnswer(404, b"<html>not here</html>")

    with pytest.raises(MlreleaseError, match="HTTP 404: <html>") as caught:
        RemoteClient(URL, "t", transport=gateway).events()
    assert caught.value.http_status == 404


def test_the_token_comes_from_the_environment_and_is_never_shown() -> None:
    with pytest.raises(Unauthorized, match="export MLRELEASE_TOKEN="):
        RemoteClient.from_env(URL, env={})
    client = RemoteClient.from_env(URL, env={"MLRELEASE_TOKEN": "mlr_secret"})
    assert "mlr_secret" not in repr(client)


def test_server_urls_must_be_http() -> None:
    with pytest.raises(ConfigError, match="must be http"):
        RemoteClient("file:///etc/passwd", "t")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_an_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(StoreError, match=f"cannot reach the mlrelease server at {url}"):
        RemoteClient(url, "t", timeout=5).events()


# -- end to end: a real `mlrelease server` process ------------------------------------------


def _start_server(project: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRELEASE_")}
    env.update({"MLRELEASE_ACTOR": "tester", "PYTHONUNBUFFERED": "1"})
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-c", "from mlrelease.cli import main; main()", "server"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_listening(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until the API answers at all: a probe token is refused (401) once it listens."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            RemoteClient(url, "mlr_probe", timeout=2).whoami()
        except Unauthorized:
            return
        except StoreError:
            time.sleep(0.1)  # not listening yet
    pytest.fail(f"server not listening within {START_TIMEOUT:.0f} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM to the server's PID; SIGKILL to its process group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


def _cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_promote_and_approve_through_a_real_server(isolated_env: Path) -> None:
    with Client.open(base_dir=isolated_env, env={}) as local:  # the defaults the server opens
        register_versions(local)
        secrets = create_tokens(local.store)
    port, log = _free_port(), isolated_env / "server.log"
    url = f"http://127.0.0.1:{port}"
    process = _start_server(isolated_env, port, log)
    try:
        _wait_listening(process, url, log)
        with RemoteClient(url, secrets["ci"], timeout=30) as ci:
            for env in ("dev", "staging"):
                assert ci.promote(MODEL, 1, env).status is PromotionStatus.PROMOTED
            waiting = ci.promote(MODEL, 1, "production", reason="release 1")
        # The CLI, as a person runs it against the server: token from the environment.
        as_alice = {"MLRELEASE_TOKEN": secrets["alice"], "MLRELEASE_SERVER": url}
        listed = _cli(as_alice, "approvals", "-o", "json")
        assert [item["id"] for item in json.loads(listed)] == [waiting.id]
        approved = _cli(as_alice, "approve", str(waiting.id), "--reason", "looks good")
        assert "breast-cancer v1 is live in production" in approved
        history = json.loads(_cli(as_alice, "history", MODEL, "-o", "json"))
        assert history["live"]["production"] == 1
    finally:
        exit_code = _stop(process)
    assert exit_code == 0, log.read_text()
    with Client.open(base_dir=isolated_env, env={}) as local:
        assert local.registry.model(MODEL).aliases == {"dev": 1, "staging": 1, "production": 1}
        actors = [(event.kind, event.actor) for event in local.events(MODEL)][-3:]
    assert actors == [
        ("promotion.requested", "ci"),
        ("promotion.approved", "alice"),
        ("promotion.promoted", "alice"),
    ]
