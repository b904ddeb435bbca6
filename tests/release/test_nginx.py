"""`mlrelease deploy nginx` and the NGINX router against a real NGINX.

REAL PROCESSES: NGINX (the config `deploy nginx` writes, ``-g 'daemon off;'``) in
front of two `mlrelease serve` processes, each pinned to one version of a small
model, all on 127.0.0.1 and random free ports. Each is stopped by its PID when the
test ends (see ``_nginx.py`` and ``tests/serving/test_process.py``). Clients send a
bounded number of requests with a timeout each. Without nginx these tests skip,
except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from mlrelease.cli import app
from mlrelease.client import Client
from mlrelease.release.routers import NginxRouter
from mlrelease.spec import NginxRouterSpec, NginxSpec
from mlrelease.traffic import TrafficState

from ..serving.conftest import MODEL, Served
from ..serving.test_process import Server, free_port, running_server
from ._nginx import Nginx, nginx_binary, running_nginx

runner = CliRunner()


def deploy(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["deploy", "nginx", *args], catch_exceptions=False)
    return result.exit_code, result.output


def printed_start_command(output: str) -> list[str]:
    lines = output.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("start NGINX"))
    return shlex.split(lines[index + 1])


def printed_router(output: str) -> NginxSpec:
    block = yaml.safe_load(output[output.index("release:") :])
    return NginxRouterSpec.model_validate(block["release"]["canary"]["router"]).nginx


# -- deploy nginx: the command ----------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        ["--canary", "nothost"],
        ["--stable", "127.0.0.1:70000"],
        ["--listen", "127.0.0.1"],
        ["--stable", "127.0.0.1:9001", "--canary", "127.0.0.1:9001"],
        ["--workers", "lots"],
        ["--model", "no/such model"],
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    isolated_env: Path, bad: list[str]
) -> None:
    options = ["--model", MODEL, "--out", "edge", *bad]
    code, output = deploy(*options)
    assert code == 2, output
    assert len(output.strip().splitlines()) == 1 and output.startswith("error: ")
    assert not (isolated_env / "edge").exists()


def test_writes_a_config_nginx_accepts_and_says_how_to_run_it(isolated_env: Path) -> None:
    nginx = nginx_binary()
    code, output = deploy("--model", MODEL, "--out", "edge", "--listen", "127.0.0.1:18080")
    assert code == 0, output
    edge = (isolated_env / "edge").resolve()
    start = printed_start_command(output)
    assert start == [nginx, "-p", str(edge), "-c", f"{edge}/nginx.conf", "-e", f"{edge}/error.log"]
    router = printed_router(output)
    assert router == NginxSpec(
        config=f"{edge}/upstream.conf",
        stable="127.0.0.1:8001",
        canary="127.0.0.1:8002",
        reload=[*start, "-s", "reload"],
    )
    assert "weight=100" in (edge / "upstream.conf").read_text()
    checked = subprocess.run([*start, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_refuses_to_overwrite_without_force(isolated_env: Path) -> None:
    assert deploy("--model", MODEL, "--out", "edge")[0] == 0
    code, output = deploy("--model", MODEL, "--out", "edge")
    assert code == 5 and "pass --force" in output
    assert deploy("--model", MODEL, "--out", "edge", "--force")[0] == 0


PROJECT = """\
model: houses
task: regression
data: {source: "sklearn:load_diabetes", target: target}
train: {estimator: sklearn.linear_model.Ridge}
release:
  canary:
    steps: [{weight: 20}]
    router:
      nginx: {config: edge/upstream.conf, stable: "127.0.0.1:9001", canary: "127.0.0.1:9002"}
"""


def test_defaults_come_from_the_project_file(isolated_env: Path) -> None:
    (isolated_env / "mlrelease.yaml").write_text(PROJECT)
    code, output = deploy()
    assert code == 0, output
    upstream = (isolated_env / "edge" / "upstream.conf").read_text()
    assert "upstream mlrelease_houses_production {" in upstream
    assert "server 127.0.0.1:9001 weight=100" in upstream and "127.0.0.1:9002: weight 0" in upstream
    assert (
        "proxy_pass http://mlrelease_houses_production;"
        in (isolated_env / "edge" / "nginx.conf").read_text()
    )
    code, output = deploy("--env", "qa")
    assert code == 2 and "no environment named 'qa'" in output


# -- the router against a real NGINX and real model servers -----------------------------


@dataclass
class Stack:
    nginx: Nginx
    stable: Server
    canary: Server
    router: NginxRouter
    upstream: Path
    features: list[float]

    def apply(self, weight: int) -> None:
        """Set the canary's weight and wait until NGINX runs the new upstream."""
        before, old = self.nginx.workers(), self.upstream.read_text()
        self.router.apply(TrafficState(MODEL, "production", 1, 2, weight))
        if self.upstream.read_text() != old:
            self.nginx.wait_reloaded(before)

    def versions(self, count: int) -> Counter[str]:
        """Send ``count`` predictions through NGINX; which version answered each."""
        answered: Counter[str] = Counter()
        with httpx.Client(base_url=f"http://127.0.0.1:{self.nginx.port}", timeout=10.0) as http:
            for _ in range(count):
                response = http.post("/predict", json={"features": self.features})
                assert response.status_code == 200, response.text
                answered[response.headers["x-model-version"]] += 1
        return answered


@pytest.fixture
def stack(isolated_env: Path, tmp_path: Path) -> Iterator[Stack]:
    nginx_binary()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with Client.open(base_dir=isolated_env, env={}) as client:
        served = Served(client, X, y)
        assert (served.register(1.0, alias="production"), served.register(0.001)) == (1, 2)
    logs, serve = tmp_path / "logs", ["--model", MODEL, "--no-log", "--no-api", "--version"]
    with ExitStack() as stack:
        stable = stack.enter_context(running_server(isolated_env, logs, *serve, "1"))
        canary = stack.enter_context(running_server(isolated_env, logs, *serve, "2"))
        stable.wait_ready()
        canary.wait_ready()
        port = free_port()
        code, output = deploy(
            *("--model", MODEL, "--out", str(tmp_path / "edge"), "--workers", "1"),
            *("--stable", f"127.0.0.1:{stable.port}", "--canary", f"127.0.0.1:{canary.port}"),
            *("--listen", f"127.0.0.1:{port}"),
        )
        assert code == 0, output
        start, spec = printed_start_command(output), printed_router(output)
        nginx = stack.enter_context(running_nginx(start, port, tmp_path / "edge"))
        features = [float(value) for value in X.iloc[0]]
        yield Stack(nginx, stable, canary, NginxRouter(spec), Path(spec.config), features)


def test_weights_split_real_traffic_and_zero_means_none(stack: Stack) -> None:
    stack.apply(20)
    answered = stack.versions(300)
    # One NGINX worker, smooth weighted round robin: exactly 60 of 300; the band is slack.
    assert sum(answered.values()) == 300 and 45 <= answered["2"] <= 75, answered
    stack.apply(0)
    assert stack.versions(100) == Counter({"1": 100})
    stack.apply(100)
    assert stack.versions(50) == Counter({"2": 50})


CLIENTS, PER_CLIENT = 4, 75


def test_killing_the_canary_fails_no_client_request_and_is_reported(stack: Stack) -> None:
    """NGINX resends every request the dead canary refused, reset or swallowed.

    One case no proxy can repair: the canary wrote a response's headers and was killed
    before its body (uvicorn writes the two separately). NGINX has already passed the
    headers on, so that client sees the connection close mid-answer, resends (as any
    client of an idempotent call should) and succeeds. At most one such answer per
    client can be in flight at the kill; every other request gets a 200 first time.
    """
    stack.apply(20)
    assert stack.router.problem() is None
    outcomes: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    lock, halfway = threading.Lock(), threading.Event()

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{stack.nginx.port}", timeout=10.0) as http:
            for _ in range(PER_CLIENT):
                for outcome, version in _predict_once_resent(http, stack.features):
                    with lock:
                        outcomes[outcome] += 1
                        versions[version] += 1
                with lock:
                    if outcomes["200"] >= 100:
                        halfway.set()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    assert halfway.wait(timeout=60), "clients did not get going"
    os.kill(stack.canary.process.pid, signal.SIGKILL)
    stack.canary.process.wait(timeout=10)
    for thread in threads:
        thread.join(timeout=120)
    failed = {outcome: n for outcome, n in outcomes.items() if outcome not in ("200", "cut")}
    assert outcomes["200"] == CLIENTS * PER_CLIENT and not failed, (
        outcomes,
        stack.nginx.error_log(),
    )
    assert outcomes["cut"] <= CLIENTS, outcomes
    assert versions["2"] > 0 and versions["1"] > versions["2"]
    reason = stack.router.problem()
    assert reason is not None
    assert reason.startswith(f"canary backend 127.0.0.1:{stack.canary.port} is not answering")


def _predict_once_resent(http: httpx.Client, features: list[float]) -> list[tuple[str, str]]:
    """(outcome, version) per attempt: the status, or 'cut' (resent once) when the
    connection closed before the whole answer arrived."""
    attempts: list[tuple[str, str]] = []
    for _ in range(2):
        try:
            response = http.post("/predict", json={"features": features})
        except httpx.RemoteProtocolError:
            attempts.append(("cut", "-"))
            continue
        except httpx.TransportError as exc:  # anything else fails the test, by name
            attempts.append((type(exc).__name__, "-"))
            break
        attempts.append((str(response.status_code), response.headers.get("x-model-version", "-")))
        break
    return attempts
