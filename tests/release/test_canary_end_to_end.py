"""The canary flow teams build by hand, end to end on the embedded default.

A real `mlrelease serve --controller` process serves production; a new version is
promoted and released as a canary at 30%; a bounded client sends requests and
ground-truth labels; the analysis judges latency (from the prediction log, or from a
real Prometheus scraping the server) and live accuracy (from the labels). A
good canary is promoted; a slow one or a wrong one is aborted, all traffic goes
back to the stable version, and a local receiver gets the notification once.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.datasets import load_breast_cancer

from mlrelease.client import Client
from mlrelease.release.phases import Phase

from ..processes import free_port, start_cli, stop, wait_ready
from ..receivers import Receiver
from ._prometheus import running_prometheus

MODEL = "breast-cancer"
WAIT = 120.0  # seconds, at most, for the release to finish
MODELS = """
import time

def good(X):
    return (X["worst concave points"] < 0.14).astype(int).to_numpy()

def slow(X):
    time.sleep(0.6)
    return good(X)

def wrong(X):
    return 1 - good(X)
"""
PROJECT = """
model: breast-cancer
task: classification
data: {{source: "sklearn:load_breast_cancer", target: target}}
train: {{estimator: sklearn.linear_model.LogisticRegression}}
environments:
  production: {{release: canary}}
release:
  canary:
    steps: [{{weight: 30}}, {{analysis: {{interval: 15s, count: 1}}}}]
    checks:
      - latency_p95 <= 0.5
      - accuracy >= stable.accuracy - 0.1
    failure_limit: 0
    metrics: {metrics}
notify:
  - webhook: {{url: "{url}"}}
    on: [release_promoted, release_aborted]
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.close()


def _project(folder: Path, receiver: Receiver, candidate: str, metrics: str) -> None:
    (folder / "canary_models.py").write_text(textwrap.dedent(MODELS))
    (folder / "mlrelease.yaml").write_text(PROJECT.format(url=receiver.url(), metrics=metrics))
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    sys.path.insert(0, str(folder))
    try:
        with Client.from_project(folder) as client:
            for function in ("good", candidate):
                client.register_model(
                    MODEL,
                    f"canary_models:{function}",
                    task="classification",
                    sample_input=X[:5],
                    gates=[],
                )
            client.promote(MODEL, 1, "production")  # nothing live yet: directly
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("canary_models", None)


def _serve(folder: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    return start_cli(
        ["serve", "--model", MODEL, "--env", "production", "--controller"]
        + ["--host", "127.0.0.1", "--port", str(port), "--batch-wait-ms", "0"],
        cwd=folder,
        log=log,
    )


def _load_until_done(url: str, folder: Path, log: Path) -> tuple[Any, list[int]]:
    """Requests with their labels, 8 at a time, until the release ends (bounded)."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = X.to_numpy().tolist()
    statuses: list[int] = []
    deadline = time.monotonic() + WAIT
    with (
        httpx.Client(base_url=url, timeout=10) as http,
        concurrent.futures.ThreadPoolExecutor(8) as pool,
    ):

        def one(index: int) -> int:
            row = index % len(rows)
            answer = http.post("/predict", json={"features": rows[row]})
            if answer.status_code == 200:
                http.post(
                    "/feedback",
                    json={"request_id": answer.headers["x-request-id"], "label": int(y[row])},
                )
            return answer.status_code

        sent = resumed = 0
        while time.monotonic() < deadline and sent < 20_000:
            statuses += pool.map(one, range(sent, sent + 40))
            sent += 40
            with Client.from_project(folder) as client:
                (release,) = client.releases.list()
                if release.phase is Phase.PAUSED and resumed < 3:
                    # An inconclusive window (a loaded machine sends fewer requests)
                    # waits for a person; the person looks and lets it go on.
                    client.releases.resume(release.id, actor="tester")
                    resumed += 1
            if release.phase in (Phase.SUCCEEDED, Phase.ABORTED):
                return release, statuses
    pytest.fail(f"the release did not finish in {WAIT:.0f} s: {release}\n{log.read_text()}")


def _run(folder: Path, receiver: Receiver, candidate: str, provider: str) -> tuple[Any, list[int]]:
    port, log = free_port(), folder / "serve.log"
    with ExitStack() as stack:
        metrics = "builtin"
        prometheus = None
        if provider == "prometheus":
            prometheus = stack.enter_context(
                running_prometheus(folder / "prometheus", free_port(), f"127.0.0.1:{port}")
            )
            metrics = f"{{prometheus: '{prometheus.url}'}}"
        _project(folder, receiver, candidate, metrics)
        process = _serve(folder, port, log)
        stack.callback(stop, process)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process, log)
        if prometheus is not None:  # the analysis must find the server's series
            prometheus.wait_until("up", lambda value: value == 1, 60, "first scrape")
        with Client.from_project(folder) as client:
            client.promote(MODEL, 2, "production")  # a canary release starts
        return _load_until_done(url, folder, log)
    raise AssertionError("unreachable")


def _notified(receiver: Receiver) -> list[str]:
    deadline = time.monotonic() + 10
    while not receiver.accepted() and time.monotonic() < deadline:
        time.sleep(0.05)
    return [request.json()["kind"] for request in receiver.accepted()]


PROVIDERS = ["builtin", "prometheus"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_good_canary_is_promoted(isolated_env: Path, receiver: Receiver, provider: str) -> None:
    release, statuses = _run(isolated_env, receiver, "good", provider)
    assert release.phase is Phase.SUCCEEDED, release.reason
    assert set(statuses) == {200}
    with Client.from_project(isolated_env) as client:
        assert client.registry.model(MODEL).aliases["production"] == 2
    assert _notified(receiver) == ["release.promoted"]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("candidate", "failing"), [("slow", "latency_p95"), ("wrong", "accuracy")])
def test_a_slow_or_wrong_canary_is_aborted(
    isolated_env: Path, receiver: Receiver, candidate: str, failing: str, provider: str
) -> None:
    release, statuses = _run(isolated_env, receiver, candidate, provider)
    assert release.phase is Phase.ABORTED, release.reason
    assert set(statuses) == {200}
    failed = [
        check["check"]
        for measurement in release.measurements
        for check in measurement["checks"]
        if check["verdict"] == "failed"
    ]
    assert any(text.startswith(failing) for text in failed), release.measurements
    with Client.from_project(isolated_env) as client:
        assert client.registry.model(MODEL).aliases["production"] == 1
        with client.store.read() as connection:
            from mlrelease.traffic import get_traffic

            assert get_traffic(connection, MODEL, "production").canary is None
    assert _notified(receiver) == ["release.aborted"]
