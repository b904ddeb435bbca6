"""Benchmark: ``mlrelease serve`` vs ``mlflow models serve``, a bare FastAPI app and the floor.

One run, side by side, one model: scikit-learn's bundled breast-cancer data (30 features)
and ``LogisticRegression(solver="liblinear", C=0.5)``. Every server is a child process on
127.0.0.1 and a free port; all are started and checked with one request first, then loaded
in turns (one load each per round, ``--repeat`` rounds), so that the machine's drifts in
speed hit every target alike. Targets, each loaded by ``wrk -t 2 -c 32 -d 15s --latency``
with single-row POSTs (the body comes from ``benchmarks/serving/post.lua``):

* (a) mlflow    -- ``mlflow models serve -m models:/... --env-manager local`` (MLflow's own
                   venv, its defaults), ``{"inputs": [[30 numbers]]}`` to ``/invocations``.
* (b) fastapi   -- the hand-written way: a FastAPI app with a pydantic body model that
                   trains the same model at import and calls ``model.predict`` per request.
* (c) floor     -- a Starlette endpoint returning a constant (orjson), on uvicorn with
                   uvloop + httptools: the stack mlrelease serves on, with no model.
* (d) mlrelease -- ``mlrelease serve --env dev --version 2 --no-log``: one version.
* (e) canary    -- ``mlrelease serve --env dev``: stable v2 + canary v1 at 20%, and the
                   prediction log on (the default).

(b)-(e) take ``{"instances": [[30 numbers]]}`` at ``/predict``. Also measured:

* batch       -- one ``POST /predict`` of 10,000 rows to (d), rows/s (median of 5, after
                 one warm-up), vs in-process ``model.predict`` on the same rows. Also the
                 transport floor: the rows as raw float64 (2.4 MB) through a loopback
                 socket and an answer of (d)'s size back, with no HTTP and no parsing.
* cold start  -- wall time from launching the server command to its first 200 on a
                 prediction route, polling every 20 ms (median of 3): (d)'s command vs
                 ``mlflow models serve``.

The mlrelease side is a project made by ``mlrelease quickstart`` in a temporary directory
(v1 -> dev), then ``mlrelease run --force`` with ``C: 0.5`` (v2 -> dev) and ``mlrelease
traffic set --canary 1 --weight 20``. MLflow comes from ``benchmarks/.venv-mlflow/`` (made
by ``registry.py`` on first use, or ``--mlflow-python``). FastAPI comes from this Python if
it imports there, else from a scratch venv in the temporary directory of the system
(``--system-site-packages`` + ``pip install fastapi``), or ``--fastapi-python``.

Run from the repository root::

    python benchmarks/serving.py                      # table, ~4 minutes
    python benchmarks/serving.py --repeat 3 --json    # medians of 3 loads per target
    python benchmarks/serving.py --targets d,e --duration 5s --no-cold-start
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from registry import DEFAULT_MLFLOW_VENV, QUIET_MLFLOW_ENV, ensure_mlflow_python

MODEL = "breast-cancer"
ENV = "dev"
SOLVER = "liblinear"
C = 0.5  # the params of v2, the version (d) serves; (a), (b) and in-process use them too
CANARY_VERSION = 1
CANARY_WEIGHT = 20
CONNECTIONS = 32
THREADS = 2
BATCH_ROWS = 10_000
BATCH_SAMPLES = 5
COLD_STARTS = 3
POLL_SECONDS = 0.02

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "serving" / "post.lua"
FASTAPI_VENV = Path(tempfile.gettempdir()) / "mlrelease-bench-fastapi-venv"

# key -> label, in the order the targets are loaded and printed
TARGETS: dict[str, str] = {
    "a": "(a) mlflow models serve",
    "b": "(b) FastAPI + uvicorn, hand-written",
    "c": "(c) Starlette constant (HTTP floor)",
    "d": "(d) mlrelease serve --version 2 --no-log",
    "e": "(e) mlrelease serve, 80/20 canary + log",
}

FASTAPI_APP = f'''\
"""The hand-written way: FastAPI, a pydantic body, model.predict per request."""

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

X, y = load_breast_cancer(return_X_y=True)
model = LogisticRegression(solver="{SOLVER}", C={C}).fit(X, y)
app = FastAPI()


class Rows(BaseModel):
    instances: list[list[float]]


@app.get("/health")
def health() -> dict[str, str]:
    return {{"status": "ok"}}


@app.post("/predict")
def predict(rows: Rows) -> dict[str, list[int]]:
    return {{"predictions": model.predict(np.asarray(rows.instances)).tolist()}}
'''

FLOOR_APP = '''\
"""The HTTP floor: Starlette returning a constant, after reading the body."""

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ANSWER = orjson.dumps({"predictions": [0]})


async def predict(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)])
'''


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- the MLflow child: run as ``python serving.py --child mlflow-train WORKDIR`` --------


def child_mlflow_train(workdir: Path) -> dict[str, str]:
    """Train and ``log_model`` in MLflow's venv; the URIs to serve it from."""
    import mlflow
    import mlflow.sklearn
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment(
        "serving-bench", artifact_location=(workdir / "mlruns").as_uri()
    )
    X, y = load_breast_cancer(return_X_y=True)
    with mlflow.start_run(experiment_id=experiment):
        model = LogisticRegression(solver=SOLVER, C=C).fit(X, y)
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:1])
    return {
        "model_uri": info.model_uri,
        "tracking_uri": tracking_uri,
        "version": mlflow.__version__,
    }


# -- time budget, ports, processes ------------------------------------------------------


class Deadline:
    """The whole run's time budget: every blocking step is bounded by what is left."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def bound(self, seconds: float) -> float:
        """``seconds``, or less if the budget ends sooner; exits if it has ended."""
        left = self.left()
        if left <= 0:
            raise SystemExit("the time budget (--budget) ran out")
        return min(seconds, left)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "MLRELEASE_"))
    }
    env.update(extra or {})
    return env


def run(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a short command to completion; exit with its output if it fails."""
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}"
            f"{done.stderr[-3000:]}"
        )
    return done


@dataclass
class Server:
    """A server child process; it leads its own process group (MLflow's serve forks)."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    started: float

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def start_server(
    name: str, command: Sequence[str], *, cwd: Path, env: Mapping[str, str], port: int
) -> Server:
    log_path = cwd / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, process, port, log_path, started)


def stop_server(server: Server, *, timeout: float = 30.0) -> None:
    """SIGTERM the group led by the server's PID, SIGKILL after ``timeout``, reap it."""
    pid = server.process.pid
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with suppress(ProcessLookupError):
            os.killpg(pid, sig)
        try:
            server.process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            _log(f"{server.name} (pid {pid}) did not stop on {sig.name}")
    # The group may outlive its leader (a forked worker); make sure nothing of it is left.
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


@contextmanager
def serving(
    name: str,
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    port: int,
    ready_path: str,
    deadline: Deadline,
    start_timeout: float,
) -> Iterator[Server]:
    """A started server, ready on ``ready_path``; always stopped on the way out."""
    server = start_server(name, command, cwd=cwd, env=env, port=port)
    try:
        wait_ready(server, ready_path, timeout=deadline.bound(start_timeout))
        yield server
    finally:
        stop_server(server)


# -- HTTP from the parent ---------------------------------------------------------------


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def poll_until_200(
    server: Server, method: str, path: str, body: bytes | None, *, timeout: float
) -> float:
    """Seconds from the server's launch to its first 200 on ``path``, polling every 20 ms."""
    while True:
        try:
            status, _ = request(server.port, method, path, body, timeout=2.0)
            if status == 200:
                return time.perf_counter() - server.started
        except OSError:  # not listening yet, or reset while starting
            pass
        if server.process.poll() is not None:
            raise SystemExit(
                f"{server.name} exited {server.process.returncode} before answering {path}:\n"
                f"{server.log_tail()}"
            )
        if time.perf_counter() - server.started > timeout:
            raise SystemExit(
                f"{server.name} gave no 200 on {path} within {timeout:.0f} s:\n{server.log_tail()}"
            )
        time.sleep(POLL_SECONDS)


def wait_ready(server: Server, path: str, *, timeout: float) -> float:
    seconds = poll_until_200(server, "GET", path, None, timeout=timeout)
    _log(f"{server.name} ready on :{server.port} after {seconds:.2f} s")
    return seconds


def check_prediction(server: Server, path: str, body: bytes, rows: int) -> None:
    """One request before the load: a 200 with one prediction per row, or exit."""
    status, answer = request(server.port, "POST", path, body, timeout=60.0)
    predictions = json.loads(answer).get("predictions") if status == 200 else None
    if not isinstance(predictions, list) or len(predictions) != rows:
        raise SystemExit(f"{server.name}: POST {path} gave {status}: {answer[:500]!r}")


def scrape_metrics(port: int) -> list[tuple[str, dict[str, str], float]]:
    """mlrelease's /metrics as (name, labels, value) samples."""
    status, text = request(port, "GET", "/metrics")
    if status != 200:
        return []
    samples = []
    for line in text.decode().splitlines():
        found = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$", line)
        if found and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2) or ""))
            samples.append((found.group(1), labels, float(found.group(3))))
    return samples


def serving_notes(port: int) -> dict[str, float]:
    """From mlrelease's /metrics: answers by role, rows per model call, log rows."""
    notes: dict[str, float] = {}
    for name, labels, value in scrape_metrics(port):
        if name == "mlrelease_requests_total" and labels.get("status") == "200":
            key = f"requests_{labels.get('role', '?')}"
            notes[key] = notes.get(key, 0.0) + value
        elif name in ("mlrelease_batch_size_sum", "mlrelease_batch_size_count"):
            notes[name] = value
        elif name == "mlrelease_prediction_log_rows_total":
            notes[f"log_rows_{labels.get('outcome', '?')}"] = value
    calls = notes.pop("mlrelease_batch_size_count", 0.0)
    rows = notes.pop("mlrelease_batch_size_sum", 0.0)
    if calls:
        notes["rows_per_model_call"] = rows / calls
    served = notes.get("requests_stable", 0.0) + notes.get("requests_canary", 0.0)
    if served and "requests_canary" in notes:
        notes["canary_share"] = notes["requests_canary"] / served
    return notes


# -- wrk ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One wrk run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int  # wrk's "Non-2xx or 3xx responses": statuses above 399
    socket_errors: int


_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _wrk_ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if found is None:
        raise ValueError(f"not a wrk time: {text!r}")
    return float(found.group(1)) * _TIME_UNITS_MS[found.group(2)]


def parse_wrk(output: str) -> Load:
    """The figures of ``wrk --latency`` output."""
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE))
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if rate is None or total is None or not {"50", "99"} <= percentiles.keys():
        raise ValueError(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Load(
        requests_per_s=float(rate.group(1)),
        p50_ms=_wrk_ms(percentiles["50"]),
        p99_ms=_wrk_ms(percentiles["99"]),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(count) for count in errors.groups()) if errors else 0,
    )


def run_wrk(url: str, body_file: Path, *, seconds: float, deadline: Deadline) -> Load:
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]
    done = subprocess.run(
        command,
        env={**os.environ, "WRK_BODY_FILE": str(body_file)},
        capture_output=True,
        text=True,
        timeout=deadline.bound(seconds + 30),
    )
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


def parse_duration(text: str) -> float:
    """Seconds of ``15``, ``15s``, ``2m``."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)?", text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 15s, 2m)")
    return float(found.group(1)) * (60 if found.group(2) == "m" else 1)


# -- the environment: pythons, the projects, the bodies ---------------------------------


def _python_has(python: Path, module: str) -> str | None:
    """``module.__version__`` if ``module`` imports under ``python``."""
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_fastapi_python(given: str | None, *, timeout: float) -> Path:
    """A python where FastAPI (and this Python's packages) import: given, this, or a venv."""
    if given is not None:
        if _python_has(Path(given), "fastapi") is None:
            raise SystemExit(f"--fastapi-python {given}: cannot import fastapi there")
        return Path(given)
    for python in (Path(sys.executable), FASTAPI_VENV / "bin" / "python"):
        if _python_has(python, "fastapi") is not None:
            return python
    _log(f"fastapi is missing: creating {FASTAPI_VENV} (system site packages + fastapi)")
    shutil.rmtree(FASTAPI_VENV, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(FASTAPI_VENV)],
        check=True,
        timeout=timeout,
    )
    python = FASTAPI_VENV / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "fastapi"],
        check=True,
        timeout=timeout,
        stdout=sys.stderr,
    )
    return python


def mlrelease_command() -> list[str]:
    beside = Path(sys.executable).parent / "mlrelease"
    found = str(beside) if beside.exists() else shutil.which("mlrelease")
    if found is None:
        raise SystemExit("the mlrelease command is not installed (pip install -e .)")
    return [found]


def make_project(project: Path, mlrelease: Sequence[str], *, timeout: float) -> None:
    """quickstart (v1 -> dev); run --force with C=0.5 (v2 -> dev); canary v1 at 20%."""
    project.mkdir()
    env = clean_env()
    _log("mlrelease quickstart")
    run([*mlrelease, "quickstart"], cwd=project, env=env, timeout=timeout)
    spec = project / "mlrelease.yaml"
    before = f"params: {{solver: {SOLVER}}}"
    text = spec.read_text()
    if before not in text:
        raise SystemExit(f"{spec}: no '{before}' line to edit; has quickstart changed?")
    spec.write_text(text.replace(before, f"params: {{solver: {SOLVER}, C: {C}}}"))
    _log("mlrelease run --force (C=0.5: version 2)")
    run([*mlrelease, "run", "--force"], cwd=project, env=env, timeout=timeout)
    selector = ["--model", MODEL, "--env", ENV]
    traffic = ["--canary", str(CANARY_VERSION), "--weight", str(CANARY_WEIGHT)]
    run([*mlrelease, "traffic", "set", *selector, *traffic], cwd=project, env=env, timeout=timeout)
    shown = run(
        [*mlrelease, "traffic", "show", *selector, "-o", "json"],
        cwd=project,
        env=env,
        timeout=timeout,
    )
    state = json.loads(shown.stdout)
    expected = {"stable": 2, "canary": CANARY_VERSION, "canary_weight": CANARY_WEIGHT}
    if {key: state.get(key) for key in expected} != expected:
        raise SystemExit(f"unexpected traffic state: {state}")


def train_mlflow(mlflow_python: Path, workdir: Path, *, timeout: float) -> dict[str, str]:
    _log("MLflow: log_model in its venv")
    done = run(
        [
            str(mlflow_python),
            str(Path(__file__).resolve()),
            "--child",
            "mlflow-train",
            str(workdir),
        ],
        cwd=workdir,
        env=clean_env(QUIET_MLFLOW_ENV),
        timeout=timeout,
    )
    payload: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return payload


@dataclass(frozen=True)
class Bodies:
    mlflow_one: Path
    instances_one: Path
    instances_batch: bytes
    batch: Any  # the 10,000 x 30 numpy array of ``instances_batch``
    infer_batch: bytes  # the same rows as OIP binary tensor data (FP64)
    infer_header_length: int  # the length of its JSON part


def write_bodies(workdir: Path) -> Bodies:
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    X, _ = load_breast_cancer(return_X_y=True)
    row = [float(value) for value in X[0]]
    mlflow_one = workdir / "body-mlflow.json"
    mlflow_one.write_text(json.dumps({"inputs": [row]}))
    instances_one = workdir / "body-instances.json"
    instances_one.write_text(json.dumps({"instances": [row]}))
    batch = X[np.arange(BATCH_ROWS) % len(X)]
    body = json.dumps({"instances": batch.tolist()}).encode()
    binary = batch.astype("<f8").tobytes()
    tensor = {"name": "input-0", "shape": list(batch.shape), "datatype": "FP64"}
    header = json.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": len(binary)}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    return Bodies(mlflow_one, instances_one, body, batch, header + binary, len(header))


# -- the targets ----------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    workdir: Path
    project: Path | None  # the mlrelease project (d, e, cold start)
    mlrelease: list[str]
    mlflow_bin: Path | None  # bin/ of MLflow's venv (a, cold start)
    mlflow_model: dict[str, str] | None
    fastapi_python: Path | None  # (b)
    bodies: Bodies


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    port: int
    ready_path: str
    predict_path: str
    body: Path


@dataclass
class TargetResult:
    label: str
    loads: list[Load] = field(default_factory=list)
    notes: dict[str, float] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(getattr(load, name) for load in self.loads)

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "requests_per_s": self.median("requests_per_s"),
            "p50_ms": self.median("p50_ms"),
            "p99_ms": self.median("p99_ms"),
            "non_2xx": sum(load.non_2xx for load in self.loads),
            "socket_errors": sum(load.socket_errors for load in self.loads),
            "requests": sum(load.requests for load in self.loads),
            "samples": [asdict(load) for load in self.loads],
            "notes": self.notes,
        }


def mlrelease_serve(setup: Setup, port: int, *, version: int | None, log: bool) -> list[str]:
    command = [*setup.mlrelease, "serve", "--model", MODEL, "--env", ENV, "--port", str(port)]
    if version is not None:
        command += ["--version", str(version)]
    return command if log else [*command, "--no-log"]


def mlflow_serve(setup: Setup, port: int) -> tuple[list[str], dict[str, str]]:
    assert setup.mlflow_bin is not None and setup.mlflow_model is not None
    command = [str(setup.mlflow_bin / "mlflow"), "models", "serve"]
    command += ["-m", setup.mlflow_model["model_uri"], "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    env = clean_env(
        {
            **QUIET_MLFLOW_ENV,
            "MLFLOW_TRACKING_URI": setup.mlflow_model["tracking_uri"],
            "PATH": f"{setup.mlflow_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return command, env


def build_target(key: str, setup: Setup) -> Target:
    port, label, bodies = free_port(), TARGETS[key], setup.bodies
    if key == "a":
        command, env = mlflow_serve(setup, port)
        return Target(
            key,
            label,
            command,
            cwd=setup.workdir,
            env=env,
            port=port,
            ready_path="/ping",
            predict_path="/invocations",
            body=bodies.mlflow_one,
        )
    if key in ("b", "c"):
        app_dir = setup.workdir / f"app-{key}"
        app_dir.mkdir(exist_ok=True)
        (app_dir / "app.py").write_text(FASTAPI_APP if key == "b" else FLOOR_APP)
        python = setup.fastapi_python if key == "b" else Path(sys.executable)
        assert python is not None
        command = [str(python), "-m", "uvicorn", "app:app", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
        command += ["--no-access-log", "--log-level", "warning"]
        return Target(
            key,
            label,
            command,
            cwd=app_dir,
            env=clean_env(),
            port=port,
            ready_path="/health",
            predict_path="/predict",
            body=bodies.instances_one,
        )
    assert setup.project is not None
    pinned = key == "d"
    command = mlrelease_serve(setup, port, version=2 if pinned else None, log=not pinned)
    return Target(
        key,
        label,
        command,
        cwd=setup.project,
        env=clean_env(),
        port=port,
        ready_path="/v2/health/ready",
        predict_path="/predict",
        body=bodies.instances_one,
    )


def measure_batch(port: int, bodies: Bodies, *, deadline: Deadline) -> dict[str, list[float]]:
    """Rows/s of one POST of 10,000 rows, client side, as JSON to ``/predict`` and as OIP
    binary tensor data to ``/v2/models/{name}/infer``; one warm-up, then 5 samples each."""
    binary_headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(bodies.infer_header_length),
    }
    return {
        "json": _batch_samples(port, "/predict", bodies.instances_batch, {}, deadline),
        "binary": _batch_samples(
            port, f"/v2/models/{MODEL}/infer", bodies.infer_batch, binary_headers, deadline
        ),
    }


def _batch_samples(
    port: int, path: str, body: bytes, headers: Mapping[str, str], deadline: Deadline
) -> list[float]:
    samples = []
    for attempt in range(BATCH_SAMPLES + 1):
        timeout = deadline.bound(120)
        started = time.perf_counter()
        status, answer = request(port, "POST", path, body, timeout=timeout, headers=headers)
        seconds = time.perf_counter() - started
        if status != 200:
            raise SystemExit(f"batch POST to {path} gave {status}: {answer[:500]!r}")
        if attempt == 0 and _answered_rows(answer, headers) != BATCH_ROWS:
            raise SystemExit(f"batch POST to {path} did not answer one prediction per row")
        if attempt > 0:
            samples.append(BATCH_ROWS / seconds)
    return samples


def _answered_rows(answer: bytes, headers: Mapping[str, str]) -> int:
    """Predictions in a /predict answer, or in an infer answer's ``predict`` output
    (JSON ``data``, or binary data of as many 8-byte labels)."""
    if "Inference-Header-Content-Length" not in headers:
        return len(json.loads(answer)["predictions"])
    # The JSON part comes first (latin-1 maps every byte, so the binary rest decodes too).
    outputs = json.JSONDecoder().raw_decode(answer.decode("latin-1"))[0]["outputs"]
    predict = next(out for out in outputs if out["name"] == "predict")
    return int(predict["parameters"]["binary_data_size"]) // 8


def measure_transport_floor(bodies: Bodies) -> list[float]:
    """Rows/s of moving the 10,000 rows as raw float64 (2.4 MB) over a loopback socket and
    reading back an answer of the size (d) sends (labels + probabilities as 8-byte numbers):
    no HTTP, no parsing, no model. What any Python server on this machine pays at least."""
    request = bodies.batch.astype("<f8").tobytes()
    answer = bytes(BATCH_ROWS * 8 * 3)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def echo() -> None:
        connection, _ = listener.accept()
        with connection:
            for _ in range(BATCH_SAMPLES + 1):
                received = 0
                while received < len(request):
                    chunk = connection.recv(1 << 20)
                    if not chunk:
                        return
                    received += len(chunk)
                connection.sendall(answer)

    server = threading.Thread(target=echo, daemon=True)
    server.start()
    samples = []
    with listener, socket.create_connection(("127.0.0.1", port), timeout=60) as client:
        for attempt in range(BATCH_SAMPLES + 1):
            started = time.perf_counter()
            client.sendall(request)
            received = 0
            while received < len(answer):
                received += len(client.recv(1 << 20))
            if attempt > 0:
                samples.append(BATCH_ROWS / (time.perf_counter() - started))
    server.join(timeout=10)
    return samples


def measure_in_process(bodies: Bodies) -> list[float]:
    """Rows/s of ``model.predict`` on the same 10,000 rows in this process (after a warm-up)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(solver=SOLVER, C=C).fit(X, y)
    model.predict(bodies.batch)
    samples = []
    for _ in range(BATCH_SAMPLES):
        started = time.perf_counter()
        model.predict(bodies.batch)
        samples.append(BATCH_ROWS / (time.perf_counter() - started))
    return samples


def load_targets(
    targets: Sequence[Target], setup: Setup, args: argparse.Namespace, deadline: Deadline
) -> tuple[dict[str, TargetResult], dict[str, list[float]]]:
    """Start and check every target, warm each up, then load them in turns, ``--repeat``
    rounds of one load each, so that the machine's drifts in speed (10-30% here from one
    load to the next) hit every target alike; read notes, batch for (d); stop them all."""
    results = {target.key: TargetResult(target.label) for target in targets}
    batch: dict[str, list[float]] = {}
    with ExitStack() as running:
        servers: dict[str, Server] = {}
        for target in targets:
            _log(f"{target.label}: starting")
            server = running.enter_context(
                serving(
                    target.label,
                    target.command,
                    cwd=target.cwd,
                    env=target.env,
                    port=target.port,
                    ready_path=target.ready_path,
                    deadline=deadline,
                    start_timeout=args.start_timeout,
                )
            )
            check_prediction(server, target.predict_path, target.body.read_bytes(), rows=1)
            servers[target.key] = server
        urls = {target.key: servers[target.key].url(target.predict_path) for target in targets}
        if args.warmup > 0:
            for target in targets:
                run_wrk(urls[target.key], target.body, seconds=args.warmup, deadline=deadline)
        for repeat in range(args.repeat):
            for target in targets:
                load = run_wrk(
                    urls[target.key], target.body, seconds=args.duration, deadline=deadline
                )
                _log(
                    f"{target.label} [{repeat + 1}/{args.repeat}]: {load.requests_per_s:,.0f}"
                    f" req/s, p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms,"
                    f" non-2xx {load.non_2xx}"
                )
                results[target.key].loads.append(load)
        for key in ("d", "e"):
            if key in servers:
                results[key].notes = serving_notes(servers[key].port)
        if "d" in servers:
            _log("(d): POST of 10,000 rows")
            batch = measure_batch(servers["d"].port, setup.bodies, deadline=deadline)
    return results, batch


def cold_start(
    name: str,
    build: Callable[[int], tuple[list[str], dict[str, str], Path, str, bytes]],
    *,
    args: argparse.Namespace,
    deadline: Deadline,
) -> float:
    """Seconds from launching a server to its first 200 on a prediction; stopped after."""
    port = free_port()
    command, env, cwd, path, body = build(port)
    server = start_server(name, command, cwd=cwd, env=env, port=port)
    try:
        return poll_until_200(
            server, "POST", path, body, timeout=deadline.bound(args.start_timeout)
        )
    finally:
        stop_server(server)


def measure_cold_starts(
    setup: Setup, args: argparse.Namespace, deadline: Deadline
) -> dict[str, list[float]]:
    """``COLD_STARTS`` launches of (d)'s command and of ``mlflow models serve``, alternating."""
    assert setup.project is not None
    project, one_row = setup.project, setup.bodies.instances_one.read_bytes()

    def mlrelease(port: int) -> tuple[list[str], dict[str, str], Path, str, bytes]:
        command = mlrelease_serve(setup, port, version=2, log=False)
        return command, clean_env(), project, "/predict", one_row

    def mlflow(port: int) -> tuple[list[str], dict[str, str], Path, str, bytes]:
        command, env = mlflow_serve(setup, port)
        body = setup.bodies.mlflow_one.read_bytes()
        return command, env, setup.workdir, "/invocations", body

    samples: dict[str, list[float]] = {"mlrelease": [], "mlflow": []}
    for attempt in range(COLD_STARTS):
        for tool, build in (("mlrelease", mlrelease), ("mlflow", mlflow)):
            seconds = cold_start(f"{tool} cold start", build, args=args, deadline=deadline)
            _log(f"cold start {attempt + 1}/{COLD_STARTS}, {tool}: {seconds:.2f} s")
            samples[tool].append(seconds)
    return samples


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    label: str
    value: float | None
    goal: str  # e.g. ">= 8"
    unit: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        op, threshold = self.goal.split()
        compare = {">=": float.__ge__, "<=": float.__le__, "<": float.__lt__}[op]
        return bool(compare(self.value, float(threshold)))


def _divide(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom


def _per_round(targets: Mapping[str, dict[str, Any]], top: str, bottom: str) -> float | None:
    """The median over rounds of ``top``'s req/s over ``bottom``'s in the same round: the
    loads of one round ran back to back, so a drift of the machine's speed mostly
    cancels out of each round's ratio."""
    if top not in targets or bottom not in targets:
        return None
    rounds = zip(targets[top]["samples"], targets[bottom]["samples"], strict=True)
    return statistics.median(
        t["requests_per_s"] / b["requests_per_s"] for t, b in rounds if b["requests_per_s"]
    )


def ratios(
    targets: Mapping[str, dict[str, Any]],
    batch: Mapping[str, float] | None,
    cold: Mapping[str, float] | None,
) -> list[Ratio]:
    def figure(key: str, name: str) -> float | None:
        return targets[key][name] if key in targets else None

    rps = {key: figure(key, "requests_per_s") for key in TARGETS}
    return [
        Ratio("(d)/(a) throughput", _divide(rps["d"], rps["a"]), ">= 8"),
        Ratio(
            "(d) p99 / (a) p99", _divide(figure("d", "p99_ms"), figure("a", "p99_ms")), "<= 0.25"
        ),
        Ratio("(d)/(c) throughput", _divide(rps["d"], rps["c"]), ">= 0.35"),
        Ratio("(e)/(d) throughput", _divide(rps["e"], rps["d"]), ">= 0.9"),
        Ratio("(e)/(d), median of rounds", _per_round(targets, "e", "d"), ">= 0.9"),
        Ratio(
            "batch: (d) / in-process rows/s",
            _divide(batch["server"], batch["in_process"]) if batch else None,
            ">= 0.5",
        ),
        Ratio("cold start, mlrelease", cold["mlrelease"] if cold else None, "< 2", unit=" s"),
    ]


def format_table(targets: Mapping[str, Mapping[str, Any]]) -> str:
    header = ("target", "req/s", "p50 ms", "p99 ms", "non-2xx")
    lines = [
        (
            row["label"],
            f"{row['requests_per_s']:,.0f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            str(row["non_2xx"]),
        )
        for row in targets.values()
    ]
    widths = [max(len(line[column]) for line in [header, *lines]) for column in range(5)]

    def render(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest])

    rule = "-|-".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *(render(line) for line in lines)])


def format_ratio(ratio: Ratio) -> str:
    value = "-" if ratio.value is None else f"{ratio.value:.3g}{ratio.unit}"
    verdict = {None: "not measured", True: "met", False: "MISSED"}[ratio.met]
    return f"{ratio.label:<32} {value:>8}   target {ratio.goal}{ratio.unit}: {verdict}"


def format_notes(report: Mapping[str, Any]) -> list[str]:
    lines = []
    batch, cold = report.get("batch"), report.get("cold_start")
    if batch:
        lines.append(
            f"batch of {BATCH_ROWS:,} rows to (d): {batch['server']:,.0f} rows/s vs in-process "
            f"model.predict {batch['in_process']:,.0f} rows/s (medians of {BATCH_SAMPLES})"
        )
        lines.append(
            f"the same rows as OIP binary tensor data (FP64 in, binary outputs) to (d)'s "
            f"/v2/models/{MODEL}/infer: "
            f"{batch['server_binary']:,.0f} rows/s = "
            f"{batch['server_binary'] / batch['in_process']:.3f} of in-process"
        )
        lines.append(
            f"transport floor: the same rows as raw float64 over a loopback socket and back, "
            f"{batch['transport_floor']:,.0f} rows/s = "
            f"{batch['transport_floor'] / batch['in_process']:.2f} of in-process"
        )
    if cold:
        lines.append(
            f"cold start to first 200 (median of {COLD_STARTS}): mlrelease serve "
            f"{cold['mlrelease']:.2f} s, mlflow models serve {cold['mlflow']:.2f} s"
        )
    targets = report["targets"]
    for key in ("d", "e"):
        notes = targets.get(key, {}).get("notes", {})
        parts = []
        if "rows_per_model_call" in notes:
            parts.append(f"{notes['rows_per_model_call']:.1f} rows per model call")
        if "canary_share" in notes:
            parts.append(f"canary share {notes['canary_share']:.1%}")
        if "log_rows_written" in notes:
            parts.append(
                f"log rows written {notes['log_rows_written']:,.0f}, "
                f"dropped {notes.get('log_rows_dropped', 0):,.0f} (at the end of the load)"
            )
        if parts:
            lines.append(f"({key}) from /metrics: " + ", ".join(parts))
    errors = {key: row["socket_errors"] for key, row in targets.items() if row["socket_errors"]}
    if errors:
        lines.append(f"wrk socket errors: {errors}")
    return lines


def print_report(report: Mapping[str, Any]) -> None:
    config, versions = report["config"], report["versions"]
    print(
        f"mlrelease {versions['mlrelease']} vs mlflow {versions.get('mlflow', '-')}, "
        f"wrk -t{THREADS} -c{CONNECTIONS} -d{config['duration_s']:g}s single-row POSTs, "
        f"median of {config['repeat']} load(s), {config['cpus']} CPUs"
    )
    print(format_table(report["targets"]))
    print()
    for ratio in report["ratios"]:
        print(format_ratio(Ratio(ratio["label"], ratio["value"], ratio["goal"], ratio["unit"])))
    for line in format_notes(report):
        print(line)


# -- main -------------------------------------------------------------------------------


def ensure_pythons(keys: Sequence[str], args: argparse.Namespace) -> dict[str, Path]:
    """The interpreters the chosen targets need: MLflow's venv, one with FastAPI."""
    pythons: dict[str, Path] = {}
    if "a" in keys or args.cold_start:
        pythons["mlflow"] = ensure_mlflow_python(
            args.mlflow_python, DEFAULT_MLFLOW_VENV, timeout=args.install_timeout
        )
    if "b" in keys:
        pythons["fastapi"] = ensure_fastapi_python(
            args.fastapi_python, timeout=args.install_timeout
        )
    return pythons


def prepare(
    workdir: Path,
    keys: Sequence[str],
    pythons: Mapping[str, Path],
    args: argparse.Namespace,
    deadline: Deadline,
) -> tuple[Setup, dict[str, str]]:
    """The mlrelease project, the MLflow model and the bodies the chosen targets need."""
    versions = {name: installed_version(name) for name in ("mlrelease", "uvicorn", "starlette")}
    mlflow_model: dict[str, str] | None = None
    if "mlflow" in pythons:
        mlflow_model = train_mlflow(pythons["mlflow"], workdir, timeout=deadline.bound(600))
        versions["mlflow"] = mlflow_model["version"]
    if "fastapi" in pythons:
        versions["fastapi"] = _python_has(pythons["fastapi"], "fastapi") or "?"
    mlrelease = mlrelease_command()
    project: Path | None = None
    if {"d", "e"} & set(keys) or args.cold_start:
        project = workdir / "project"
        make_project(project, mlrelease, timeout=deadline.bound(600))
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=30)
    versions["wrk"] = (wrk.stdout + wrk.stderr).split()[1]
    setup = Setup(
        workdir=workdir,
        project=project,
        mlrelease=mlrelease,
        mlflow_bin=pythons["mlflow"].parent if "mlflow" in pythons else None,
        mlflow_model=mlflow_model,
        fastapi_python=pythons.get("fastapi"),
        bodies=write_bodies(workdir),
    )
    return setup, versions


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    keys = [key for key in TARGETS if key in args.targets]
    pythons = ensure_pythons(keys, args)  # venv installs are bounded by --install-timeout
    deadline = Deadline(args.budget)
    with tempfile.TemporaryDirectory(prefix="mlrelease-bench-serving-") as scratch:
        workdir = Path(scratch)
        setup, versions = prepare(workdir, keys, pythons, args, deadline)
        results, batch_samples = load_targets(
            [build_target(key, setup) for key in keys], setup, args, deadline
        )
        targets = {key: result.summary() for key, result in results.items()}
        batch: dict[str, Any] | None = None
        if batch_samples:
            in_process = measure_in_process(setup.bodies)
            transport = measure_transport_floor(setup.bodies)
            batch = {
                "server": statistics.median(batch_samples["json"]),
                "server_binary": statistics.median(batch_samples["binary"]),
                "in_process": statistics.median(in_process),
                "transport_floor": statistics.median(transport),
                "samples": {
                    "server": batch_samples["json"],
                    "server_binary": batch_samples["binary"],
                    "in_process": in_process,
                    "transport_floor": transport,
                },
            }
        cold: dict[str, Any] | None = None
        if args.cold_start:
            cold_samples = measure_cold_starts(setup, args, deadline)
            cold = {tool: statistics.median(values) for tool, values in cold_samples.items()}
            cold["samples"] = cold_samples
    return {
        "config": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeat": args.repeat,
            "connections": CONNECTIONS,
            "threads": THREADS,
            "cpus": os.cpu_count(),
            "batch_rows": BATCH_ROWS,
        },
        "versions": versions,
        "targets": targets,
        "ratios": [{**asdict(ratio), "met": ratio.met} for ratio in ratios(targets, batch, cold)],
        "batch": batch,
        "cold_start": cold,
    }


def parse_targets(text: str) -> list[str]:
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in TARGETS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"targets are some of {','.join(TARGETS)}, not {text!r}")
    return keys


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=1, help="wrk loads per target; medians")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--duration", type=parse_duration, default=15.0, help="each wrk load (default 15s)"
    )
    parser.add_argument(
        "--warmup", type=parse_duration, default=2.0, help="unmeasured wrk load first (2s)"
    )
    parser.add_argument(
        "--targets", type=parse_targets, default=list(TARGETS), help="e.g. d,e (default a-e)"
    )
    parser.add_argument(
        "--no-cold-start", dest="cold_start", action="store_false", help="skip cold starts"
    )
    parser.add_argument("--mlflow-python", help="python of an existing venv with mlflow")
    parser.add_argument("--fastapi-python", help="python where fastapi and scikit-learn import")
    parser.add_argument(
        "--start-timeout", type=float, default=120.0, help="seconds for a server to be ready"
    )
    parser.add_argument(
        "--budget", type=float, default=1800.0, help="seconds for everything but venv installs"
    )
    parser.add_argument(
        "--install-timeout", type=float, default=1800.0, help="seconds allowed per venv install"
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.duration < 1:
        parser.error("--duration must be at least 1s")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child_mlflow_train(Path(args.child[1]))))
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (e.g. apt-get install wrk)")
    report = benchmark(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
