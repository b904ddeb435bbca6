"""Benchmark: mlrelease vs MLflow tracking + model registry, both on SQLite, same run.

What is measured (fixed counts; each side in a fresh temporary directory and a fresh
interpreter, one child process per side and per repeat):

* import          -- importing the client API (``mlrelease.client`` / ``mlflow``).
* open store      -- opening a store on a new path, which creates the database:
                     ``Client.open(db=..., artifacts=...)`` vs ``MlflowClient(...)``
                     followed by its first call, ``search_experiments()``.
                     Timed inside the child after the imports.
* log metrics     -- 1,000 single ``log_metric`` calls for one run (starting the run
                     is not timed): ``run.log_metric`` vs ``mlflow.log_metric``.
* register        -- 50 versions of one model, metadata pointing at one small artifact
                     already stored: ``registry.register`` vs ``create_registered_model``
                     once plus 50 ``create_model_version``.
* move alias      -- 100 alias moves cycling through the versions:
                     ``registry.set_alias`` vs ``set_registered_model_alias``.
* resolve alias   -- 1,000 look-ups of the alias: ``registry.alias_version`` vs
                     ``get_model_version_by_alias``; also reported per call in ms
                     (mlrelease's target is under 0.3 ms).
* install size    -- with ``--install-size``: disk use of the MLflow venv vs a fresh
                     venv holding only the core ``pip install`` of this repository.

MLflow lives in its own throwaway venv, ``benchmarks/.venv-mlflow/`` (git-ignored),
created on first use with ``python -m venv`` + ``pip install mlflow`` (~850 MB, minutes),
or given with ``--mlflow-python``. mlrelease runs with the interpreter running this
script. Both children are this file run with ``--child``; they print their timings as one
JSON line. The figure reported per measure is the median over ``--repeat`` runs.

Run from the repository root::

    python benchmarks/registry.py                  # table
    python benchmarks/registry.py --repeat 3 --json
    python benchmarks/registry.py --install-size   # also builds a venv per tool
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = 1_000
VERSIONS = 50
ALIAS_MOVES = 100
RESOLVES = 1_000

MODEL = "bench-model"
ALIAS = "production"
TASK = "classification"
ACTOR = "bench"
ARTIFACT_NAME = "model.json"
ARTIFACT_BYTES = b'{"kind": "benchmark", "weights": [0.1, 0.2, 0.3]}\n'

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
MLFLOW_REQUIREMENT = "mlflow>=3,<4"

QUIET_MLFLOW_ENV = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}

# (key in the child's JSON, label in the table); all values are seconds.
MEASURES: tuple[tuple[str, str], ...] = (
    ("import", "import client API (s)"),
    ("open_store", "open new store (s)"),
    ("log_metrics", f"log {METRICS:,} metrics (s)"),
    ("register", f"register {VERSIONS} versions (s)"),
    ("move_alias", f"move alias {ALIAS_MOVES}x (s)"),
    ("resolve_alias", f"resolve alias {RESOLVES:,}x (s)"),
)
RESOLVE_PER_CALL = "resolve alias, per call (ms)"
INSTALL_SIZE = "install size (MB)"
TOOLS = ("mlrelease", "mlflow")

# -- the children: run as ``python registry.py --child TOOL WORKDIR`` -----------------


def _seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _alias_target(move: int) -> int:
    """The version the ``move``-th alias move points at: 1, 2, ..., 50, 1, 2, ..."""
    return move % VERSIONS + 1


def _final_alias_target() -> int:
    return _alias_target(ALIAS_MOVES - 1)


def _child_mlrelease(workdir: Path) -> dict[str, float]:
    start = time.perf_counter()
    from mlrelease.client import Client
    from mlrelease.registry.records import NewVersion

    timings = {"import": time.perf_counter() - start}

    def open_client() -> Client:
        return Client.open(db=f"sqlite:///{workdir / 'm.db'}", artifacts=str(workdir / "artifacts"))

    start = time.perf_counter()
    client = open_client()
    timings["open_store"] = time.perf_counter() - start
    registry = client.registry

    run = client.start_run(MODEL)

    def log_metrics() -> None:
        for step in range(METRICS):
            run.log_metric("loss", 1.0 / (step + 1), step=step)

    timings["log_metrics"] = _seconds(log_metrics)

    artifact = registry.artifacts.put_bytes(ARTIFACT_BYTES, ARTIFACT_NAME)
    new = NewVersion(
        flavor="function",
        artifact_uri=artifact.uri,
        artifact_sha256=artifact.sha256,
        signature={"inputs": [], "task": TASK},
        metrics={"accuracy": 0.9},
        run_id=run.id,
    )

    def register() -> None:
        for _ in range(VERSIONS):
            registry.register(MODEL, TASK, new, actor=ACTOR)

    def move_alias() -> None:
        for move in range(ALIAS_MOVES):
            registry.set_alias(MODEL, ALIAS, _alias_target(move), actor=ACTOR)

    resolved: list[int | None] = []

    def resolve_alias() -> None:
        for _ in range(RESOLVES):
            resolved.append(registry.alias_version(MODEL, ALIAS))

    timings["register"] = _seconds(register)
    timings["move_alias"] = _seconds(move_alias)
    timings["resolve_alias"] = _seconds(resolve_alias)
    _check_resolved(resolved)
    client.close()
    return timings


def _child_mlflow(workdir: Path) -> dict[str, float]:
    start = time.perf_counter()
    import mlflow
    from mlflow import MlflowClient

    timings = {"import": time.perf_counter() - start}
    uri = f"sqlite:///{workdir / 'mlflow.db'}"

    def open_client() -> Any:
        opened = MlflowClient(tracking_uri=uri, registry_uri=uri)
        opened.search_experiments()  # the first call creates and migrates the database
        return opened

    start = time.perf_counter()
    client = open_client()
    timings["open_store"] = time.perf_counter() - start
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)

    experiment_id = client.create_experiment(
        "bench", artifact_location=(workdir / "mlruns").as_uri()
    )
    with mlflow.start_run(experiment_id=experiment_id) as active:

        def log_metrics() -> None:
            for step in range(METRICS):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)

        timings["log_metrics"] = _seconds(log_metrics)
    run_id = active.info.run_id

    model_dir = workdir / "model"
    model_dir.mkdir()
    (model_dir / ARTIFACT_NAME).write_bytes(ARTIFACT_BYTES)
    source = model_dir.as_uri()

    def register() -> None:
        client.create_registered_model(MODEL)
        for _ in range(VERSIONS):
            client.create_model_version(MODEL, source=source, run_id=run_id)

    def move_alias() -> None:
        for move in range(ALIAS_MOVES):
            client.set_registered_model_alias(MODEL, ALIAS, _alias_target(move))

    resolved: list[int | None] = []

    def resolve_alias() -> None:
        for _ in range(RESOLVES):
            resolved.append(int(client.get_model_version_by_alias(MODEL, ALIAS).version))

    timings["register"] = _seconds(register)
    timings["move_alias"] = _seconds(move_alias)
    timings["resolve_alias"] = _seconds(resolve_alias)
    _check_resolved(resolved)
    return timings


def _check_resolved(resolved: Sequence[int | None]) -> None:
    expected = _final_alias_target()
    if set(resolved) != {expected}:
        raise RuntimeError(f"alias resolved to {sorted(set(resolved), key=str)}, not {expected}")


def _tool_version(tool: str) -> str:
    from importlib.metadata import version

    return version(tool)


def child_main(tool: str, workdir: str) -> None:
    """Measure one tool in ``workdir`` and print its timings as one JSON line."""
    os.chdir(workdir)
    measure = _child_mlrelease if tool == "mlrelease" else _child_mlflow
    timings = measure(Path(workdir))
    print(json.dumps({"timings": timings, "version": _tool_version(tool)}))


# -- the parent: venvs, children, the table -------------------------------------------


@dataclass(frozen=True)
class ChildResult:
    timings: dict[str, float]
    version: str


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _create_venv(venv: Path, packages: Sequence[str], *, timeout: float) -> Path:
    """A new venv at ``venv`` with ``packages`` installed; pip's output goes to stderr."""
    _log(f"creating venv {venv}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=timeout)
    python = _venv_python(venv)
    _log(f"pip install {' '.join(packages)} (this takes minutes)")
    started = time.perf_counter()
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            *packages,
        ],
        check=True,
        timeout=timeout,
        stdout=sys.stderr,
    )
    _log(f"installed in {time.perf_counter() - started:.0f} s")
    return python


def _imports(python: Path, module: str) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", f"import {module}"], capture_output=True, timeout=300
    )
    return probe.returncode == 0


def ensure_mlflow_python(given: str | None, venv: Path, *, timeout: float) -> Path:
    """The python of a venv where MLflow imports: ``given``, ``venv`` reused, or a new one."""
    if given is not None:
        python = Path(given)
        if not _imports(python, "mlflow"):
            raise SystemExit(f"--mlflow-python {python}: cannot import mlflow there")
        return python
    if _imports(_venv_python(venv), "mlflow"):
        _log(f"reusing {venv}")
        return _venv_python(venv)
    if venv.exists():
        _log(f"{venv} exists without a working mlflow; rebuilding it")
        shutil.rmtree(venv)
    return _create_venv(venv, [MLFLOW_REQUIREMENT], timeout=timeout)


def _prefix(python: Path) -> Path:
    """The environment (venv) directory ``python`` belongs to."""
    done = subprocess.run(
        [str(python), "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return Path(done.stdout.strip())


def _child_env(tool: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "MLRELEASE_"))
    }
    if tool == "mlflow":
        env.update(QUIET_MLFLOW_ENV)
    return env


def run_child(tool: str, python: Path, *, timeout: float) -> ChildResult:
    """Run one measurement of ``tool`` in a fresh interpreter and temporary directory."""
    with tempfile.TemporaryDirectory(prefix=f"mlrelease-bench-{tool}-") as workdir:
        try:
            done = subprocess.run(
                [str(python), str(Path(__file__).resolve()), "--child", tool, workdir],
                cwd=workdir,
                env=_child_env(tool),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as error:
            raise SystemExit(f"{tool} benchmark timed out after {timeout:.0f} s") from error
    if done.returncode != 0:
        raise SystemExit(f"{tool} benchmark failed:\n{done.stderr[-5000:]}")
    lines = done.stdout.strip().splitlines()
    payload = json.loads(lines[-1])
    return ChildResult(timings=payload["timings"], version=payload["version"])


def disk_usage_mb(root: Path) -> float:
    """Disk blocks used under ``root`` like ``du -s`` (hard links counted once), in MB."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            stat = os.lstat(os.path.join(directory, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total / 1e6


def mlrelease_install_size(*, timeout: float) -> float:
    """MB of a fresh venv with only ``pip install <this repo>`` (no extras).

    Installs from a copy of the sources so the build leaves nothing in the working tree.
    """
    with tempfile.TemporaryDirectory(prefix="mlrelease-bench-install-") as scratch:
        source = Path(scratch) / "source"
        source.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (REPO_ROOT / name).exists():
                shutil.copy2(REPO_ROOT / name, source / name)
        shutil.copytree(
            REPO_ROOT / "src",
            source / "src",
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
        )
        venv = Path(scratch) / "venv"
        _create_venv(venv, [str(source)], timeout=timeout)
        return disk_usage_mb(venv)


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def summarize(samples: Mapping[str, Sequence[ChildResult]]) -> dict[str, dict[str, Any]]:
    """Per measure: the median seconds of each tool, all samples and mlflow/mlrelease."""
    rows: dict[str, dict[str, Any]] = {}
    for key, label in MEASURES:
        row: dict[str, Any] = {"label": label, "samples": {}}
        for tool in TOOLS:
            values = [result.timings[key] for result in samples[tool]]
            row["samples"][tool] = values
            row[tool] = _median(values)
        rows[key] = row
    per_call = {tool: rows["resolve_alias"][tool] / RESOLVES * 1e3 for tool in TOOLS}
    rows["resolve_alias_per_call_ms"] = {"label": RESOLVE_PER_CALL, **per_call}
    for row in rows.values():
        row["ratio"] = row["mlflow"] / row["mlrelease"] if row["mlrelease"] > 0 else None
    return rows


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def format_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    header = ("measure", "mlrelease", "mlflow", "ratio (mlflow/mlrelease)")
    lines = [
        (row["label"], _figure(row["mlrelease"]), _figure(row["mlflow"]), _figure(row["ratio"]))
        for row in rows.values()
    ]
    widths = [max(len(line[column]) for line in [header, *lines]) for column in range(4)]

    def render(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest])

    rule = "-|-".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *(render(line) for line in lines)])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; medians reported")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--mlflow-python", help="python of an existing venv with mlflow")
    parser.add_argument(
        "--install-size", action="store_true", help="also measure install sizes (minutes)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed per child run"
    )
    parser.add_argument(
        "--install-timeout", type=float, default=1800.0, help="seconds allowed per pip install"
    )
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(*args.child)
        return 0
    pythons = {
        "mlrelease": Path(sys.executable),
        "mlflow": ensure_mlflow_python(
            args.mlflow_python, DEFAULT_MLFLOW_VENV, timeout=args.install_timeout
        ),
    }
    samples: dict[str, list[ChildResult]] = {tool: [] for tool in TOOLS}
    for repeat in range(args.repeat):
        for tool in TOOLS:
            _log(f"run {repeat + 1}/{args.repeat}: {tool}")
            samples[tool].append(run_child(tool, pythons[tool], timeout=args.timeout))
    rows = summarize(samples)
    if args.install_size:
        sizes = {
            "mlrelease": mlrelease_install_size(timeout=args.install_timeout),
            "mlflow": disk_usage_mb(_prefix(pythons["mlflow"])),
        }
        rows["install_size_mb"] = {
            "label": INSTALL_SIZE,
            **sizes,
            "ratio": sizes["mlflow"] / sizes["mlrelease"],
        }
    versions = {tool: samples[tool][0].version for tool in TOOLS}
    if args.json:
        print(json.dumps({"repeat": args.repeat, "versions": versions, "results": rows}, indent=2))
    else:
        print(
            f"mlrelease {versions['mlrelease']} vs mlflow {versions['mlflow']}, SQLite, "
            f"median of {args.repeat} run(s)"
        )
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
