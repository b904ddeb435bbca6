"""The whole loop with real processes: serve, drift, feedback, controller, retrain, staging.

A real `mlrelease serve` process serves v1 in production. A bounded client sends
it requests -- with several features shifted and the labels flipped in the
feedback, or like the training data -- and `mlrelease controller --once` runs.
Drift and the accuracy drop retrain the model through the gates, the new version
goes to staging on its own (production waits for an approval), and a local
receiver hears of it. Traffic like the training data triggers nothing.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from mlrelease.client import Client
from mlrelease.store import tables

from ..processes import free_port, start_cli, stop, wait_ready
from ..receivers import Receiver
from ._loop import MODEL, breast_cancer, go_live, make_project

NOTIFY = """notify:
  - webhook: {{url: "{url}"}}
    on: [drift_detected, metric_degraded, retrain_finished, promoted]
"""
ROWS = 300


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.close()


def _send(url: str, *, drifted: bool, flip_labels: bool) -> list[int]:
    """ROWS requests, each followed by its ground-truth label, 8 at a time (bounded)."""
    frame = breast_cancer(drifted=drifted, flip_labels=flip_labels, rows=ROWS)
    labels = frame.pop("target").tolist()
    rows = frame.to_numpy().tolist()
    with (
        httpx.Client(base_url=url, timeout=10) as http,
        concurrent.futures.ThreadPoolExecutor(8) as pool,
    ):

        def one(index: int) -> int:
            answer = http.post("/predict", json={"features": rows[index]})
            if answer.status_code == 200:
                label = {"request_id": answer.headers["x-request-id"], "label": labels[index]}
                assert http.post("/feedback", json=label).status_code == 200
            return answer.status_code

        return list(pool.map(one, range(ROWS)))


def _wait_logged(project: Path, rows: int) -> None:
    """The server writes its log in batches off the request path: wait for all of it."""
    deadline = time.monotonic() + 30
    with Client.from_project(project) as client:
        while time.monotonic() < deadline:
            with client.store.read() as connection:
                logged = connection.execute(
                    select(func.count()).select_from(tables.predictions)
                ).scalar_one()
            if logged >= rows:
                return
            time.sleep(0.1)
    pytest.fail(f"the prediction log holds {logged} rows, not {rows}, after 30 s")


def _loop(project: Path, *, drifted: bool) -> str:
    folder = project.parent
    port, log = free_port(), folder / "serve.log"
    with ExitStack() as stack:
        server = start_cli(
            ["serve", "--model", MODEL, "--env", "production", "--port", str(port)],
            cwd=folder,
            log=log,
        )
        stack.callback(stop, server)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, server, log)
        assert set(_send(url, drifted=drifted, flip_labels=drifted)) == {200}
        _wait_logged(project, ROWS)
    controller = subprocess.run(
        [*_CLI, "controller", "--once"], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert controller.returncode == 0, controller.stderr
    return controller.stdout


_CLI = [sys.executable, "-c", "from mlrelease.cli import main; main()"]


def _notified(receiver: Receiver, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while len(receiver.accepted()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [request.json()["kind"] for request in receiver.accepted()]


@pytest.fixture
def project(isolated_env: Path, receiver: Receiver) -> Path:
    path = make_project(isolated_env, extra=NOTIFY.format(url=receiver.url()))
    with Client.from_project(path) as client:
        go_live(client)
        client.outbox.deliver_due()  # what going live announced is not what is tested here
    receiver.clear()
    return path


def test_drift_and_wrong_answers_retrain_and_reach_staging(
    project: Path, receiver: Receiver
) -> None:
    output = _loop(project, drifted=True)
    assert "retrain (" in output and ": v2" in output, output
    with Client.from_project(project) as client:
        aliases = client.registry.model(MODEL).aliases
        assert aliases == {"dev": 2, "staging": 2, "production": 1}
        (waiting,) = client.promotion_requests(model=MODEL)
        assert (waiting.environment, waiting.version) == ("production", 2)
    kinds = _notified(receiver, 4)
    assert kinds == ["drift.detected", "metric.degraded", "promotion.promoted", "retrain.finished"]


def test_traffic_like_the_training_data_triggers_nothing(project: Path, receiver: Receiver) -> None:
    output = _loop(project, drifted=False)
    assert "fired" not in output and "retrain" not in output, output
    with Client.from_project(project) as client:
        assert [v.version for v in client.versions(MODEL)] == [1]
    time.sleep(0.5)
    assert receiver.accepted() == []
