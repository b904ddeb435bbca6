"""`mlrelease serve` as a real process: start, answer, stop on SIGTERM, several workers.

REAL PROCESSES: every test here starts `mlrelease serve` (a uvicorn server) as a
child process bound to 127.0.0.1 on a free port, in the project folder the
``served`` fixture filled. Each server runs in its own session and is stopped by
its PID (SIGTERM, then SIGKILL to its process group) when the test ends, passed
or not. Every wait is bounded by a timeout. ``running_server`` is also used by
``test_reliability.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from mlrelease.serving.feedback import labelled_predictions

from .conftest import MODEL, Served

START_TIMEOUT = 90.0  # seconds for a server to import, load the model and turn ready
STOP_TIMEOUT = 15.0  # seconds for a server to exit after SIGTERM


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    output_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll /v2/health/ready until it says 200; fail with the server's output if not."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(f"server exited with {self.process.returncode}:\n{self.output()}")
                try:
                    if http.get("/v2/health/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.1)
        pytest.fail(f"server not ready within {timeout:.0f} s:\n{self.output()}")

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM to the server's PID; its exit code (raises TimeoutExpired if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL whatever is left of the server's process group (uvicorn workers too)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def mlrelease_command(*args: str) -> list[str]:
    """The CLI with this interpreter (the same as the `mlrelease` console script)."""
    return [sys.executable, "-c", "from mlrelease.cli import main; main()", *args]


def server_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without store or metrics settings that could leak in."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MLRELEASE_")
        and name not in ("PROMETHEUS_MULTIPROC_DIR", "PYTHONWARNINGS")
    }
    env.update({"MLRELEASE_ACTOR": "tester", "PYTHONUNBUFFERED": "1", **(extra or {})})
    return env


@contextmanager
def running_server(
    project: Path, logs: Path, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """`mlrelease serve ARGS --port P` in ``project``; always stopped on the way out."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    output_file = logs / f"serve-{port}.log"
    with output_file.open("wb") as output:
        process = subprocess.Popen(
            mlrelease_command("serve", *args, "--host", "127.0.0.1", "--port", str(port)),
            cwd=project,
            env=server_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers are stopped with it
        )
    server = Server(process, port, output_file)
    try:
        yield server
    finally:
        with suppress(subprocess.TimeoutExpired):
            server.terminate()
        server.kill()


def _row(served: Served, index: int) -> list[float]:
    return [float(value) for value in served.X.iloc[index]]


def _requests_total(metrics_text: str) -> dict[str, float]:
    """mlrelease_requests_total summed over every sample, by status."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "mlrelease_requests_total":
                status = sample.labels["status"]
                totals[status] = totals.get(status, 0.0) + sample.value
    return totals


def _answered_by_pid(metrics_dir: Path, scratch: Path) -> dict[str, float]:
    """Successful predictions per worker, from each worker's own counter file."""
    answered: dict[str, float] = {}
    for path in sorted(metrics_dir.glob("counter_*.db")):
        single = scratch / path.stem
        single.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, single / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(single))  # type: ignore[no-untyped-call]
        count = sum(
            sample.value
            for family in registry.collect()
            for sample in family.samples
            if sample.name == "mlrelease_requests_total" and sample.labels["status"] == "200"
        )
        answered[path.stem.removeprefix("counter_")] = count
    return answered


# -- the tests -------------------------------------------------------------------------


def test_real_process_serves_then_exits_0_on_sigterm_with_the_log_flushed(
    served: Served, isolated_env: Path, tmp_path: Path
) -> None:
    sent: list[str] = []
    with running_server(
        isolated_env, tmp_path / "logs", "--model", MODEL, "--env", "production"
    ) as server:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            assert http.get("/v2/health/live").json() == {"live": True}
            for index in range(25):
                request_id = f"sigterm-{index}"
                response = http.post(
                    "/predict",
                    json={"features": _row(served, index)},
                    headers={"X-Request-ID": request_id},
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["version"] == 1 and body["request_id"] == request_id
                assert body["predictions"] in ([0], [1])
                sent.append(request_id)
        # Straight after the last answer: rows may still wait in the log's queue.
        code = server.terminate()
        output = server.output()
    rows = labelled_predictions(served.client.store, MODEL, "production")
    assert sorted(row["request_id"] for row in rows) == sorted(sent)
    assert {(row["version"], row["role"], row["status"]) for row in rows} == {(1, "stable", 200)}
    assert "Application shutdown complete" in output
    # uvicorn.run re-raises the SIGTERM it handled once its graceful shutdown is done
    # (Server.capture_signals): unless the CLI handles that, the process then ends
    # killed by signal 15 (returncode -15, shell status 143) rather than with 0.
    assert code == 0, f"exit status {code}:\n{output}"


@pytest.mark.skipif(
    not Path("/proc/self/maps").exists(), reason="reads the server's libraries from /proc (Linux)"
)
def test_a_linear_model_is_served_without_loading_pandas(
    served: Served, isolated_env: Path, tmp_path: Path
) -> None:
    # Importing pandas took a fifth to a quarter of the time to a first answer.
    args = ("--model", MODEL, "--env", "production", "--no-log")
    with running_server(isolated_env, tmp_path / "logs", *args) as server:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            one = http.post("/predict", json={"features": served.X.iloc[0].tolist()})
            records = http.post("/predict", json={"records": served.X[:2].to_dict("records")})
        assert (one.status_code, records.status_code) == (200, 200)
        assert records.json()["predictions"][0] == one.json()["predictions"][0]
        libraries = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "/pandas/" not in libraries


def test_real_process_with_two_workers_answers_from_both_and_sums_metrics(
    served: Served, isolated_env: Path, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    sent = 0
    with running_server(
        isolated_env,
        tmp_path / "logs",
        "--model",
        MODEL,
        "--env",
        "production",
        "--workers",
        "2",
        env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
    ) as server:
        server.wait_ready()
        # A fresh connection per request lets the kernel hand requests to either
        # worker; rounds of 50 until both have answered (at most 10 rounds).
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.url, timeout=30.0, limits=limits) as http:
            for _ in range(10):
                for index in range(50):
                    response = http.post("/predict", json={"features": _row(served, index)})
                    assert response.status_code == 200, response.text
                    sent += 1
                answered = _answered_by_pid(metrics_dir, tmp_path / "per-worker")
                if sum(1 for count in answered.values() if count > 0) >= 2:
                    break
            metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert sum(1 for count in answered.values() if count > 0) == 2, answered
        assert sum(answered.values()) == sent
        assert _requests_total(metrics.text) == {"200": float(sent)}
        model_info = [
            sample
            for family in text_string_to_metric_families(metrics.text)
            for sample in family.samples
            if sample.name == "mlrelease_model_info"
        ]
        assert {sample.labels["pid"] for sample in model_info} == set(answered)
        assert server.terminate() == 0, server.output()


def test_serving_an_environment_with_nothing_live_exits_non_zero_and_says_what_to_do(
    served: Served, isolated_env: Path
) -> None:
    result = subprocess.run(
        mlrelease_command(
            "serve", "--model", MODEL, "--env", "staging", "--port", str(free_port())
        ),
        cwd=isolated_env,
        env=server_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode == 4, (result.stdout, result.stderr)  # not found
    message = " ".join(result.stderr.split())
    assert f"no version of '{MODEL}' is in staging" in message
    assert f"mlrelease serve --model {MODEL} --env dev" in message
    assert "--version N" in message
    assert "serving" not in result.stdout  # it never started a server
