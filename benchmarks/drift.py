"""Benchmark: per-feature drift, mlrelease vs Evidently 0.7's DataDriftPreset and two floors.

One run, side by side, on the same data: a reference and a current frame of 100,000 rows x
30 numeric features (seeded; five distribution families), with 5 features shifted in the
current frame (three moved by 0.5, 0.25 and 0.15 of their std, two widened 1.5x and 1.25x).
The frames are written once as .npy files to a temporary directory and every side loads them
from there. Measured, each in a fresh interpreter:

* mlrelease, full    -- ``build_profile(reference)`` + ``compare_frame(current)``: what a
                        training run plus one monitoring check cost.
* mlrelease, compare -- ``compare_frame(current)`` against the profile stored as JSON: what
                        every monitoring check costs (the reference data is not needed).
  each with ``method`` psi, ks and wasserstein;
* Evidently          -- ``Report([DataDriftPreset(method=...)]).run(current, reference)``, the
                        default (which picks a method per column) and method ks, wasserstein
                        and psi for all columns, in its own venv;
* floors             -- ``scipy.stats.ks_2samp`` per column, and PSI over 10 reference
                        quantile bins in plain NumPy.

Time is the median of ``--repeat`` runs inside the child, after imports and data loading.
Peak memory comes from a second child, run once with glibc's mmap threshold fixed at 64 KiB
(``MALLOC_MMAP_THRESHOLD_``, so freed arrays leave the resident set instead of being reused
unseen): how far its resident set rose above where it stood just before the measured call
(Linux: the high-water mark is reset through ``/proc/self/clear_refs`` and read from
``VmHWM``; elsewhere the growth of ``ru_maxrss``). The input frames are loaded before that
point, so neither side is charged for them.

Evidently comes from a venv made on first use (``python -m venv`` + ``pip install
'evidently==0.7.*' 'pandas<3'``; pandas 3 breaks it) at ``--evidently-venv`` (default
``$TMPDIR/mlrelease-bench-evidently-venv``), reused by later runs.

Run from the repository root::

    python benchmarks/drift.py                   # the full run, ~5 minutes after the venv
    python benchmarks/drift.py --quick           # 10,000 rows, 1 repeat
    python benchmarks/drift.py --skip-evidently  # mlrelease and the floors only
    python benchmarks/drift.py --json            # machine-readable, with every sample
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Only the standard library up here: the Evidently child runs this file in a venv
# without mlrelease; each child imports what it measures.

FEATURES = 30
ROWS = 100_000
QUICK_ROWS = 10_000
SEED = 20_240_601
# column -> (how, size): "shift" moves the mean by size x std, "scale" widens by size
SHIFTS: dict[int, tuple[str, float]] = {
    2: ("shift", 0.5),
    8: ("shift", 0.25),
    14: ("shift", 0.15),
    20: ("scale", 1.5),
    26: ("scale", 1.25),
}
METHODS = ("psi", "ks", "wasserstein")
EVIDENTLY_METHODS = ("default", "ks", "wasserstein", "psi")
TARGET_SPEEDUP = 20.0
MMAP_THRESHOLD = 64 * 1024  # bytes; see run_child
TARGET_MEMORY_SHARE = 1 / 3
DEFAULT_VENV = Path(tempfile.gettempdir()) / "mlrelease-bench-evidently-venv"
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.*", "pandas<3")


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def columns() -> list[str]:
    return [f"f{index:02d}" for index in range(FEATURES)]


# -- the data -------------------------------------------------------------------------------


def _draw(rng: Any, family: int, rows: int) -> Any:
    """One column of a family: every fifth column shares one."""
    if family == 0:
        return rng.normal(50.0, 10.0, rows)
    if family == 1:
        return rng.lognormal(0.0, 0.5, rows)
    if family == 2:
        return rng.uniform(-1.0, 1.0, rows)
    if family == 3:
        return rng.exponential(2.0, rows)
    return rng.gamma(2.0, 3.0, rows)


def write_data(folder: Path, rows: int) -> None:
    """reference.npy and current.npy, column-major so a column is one contiguous run."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    reference = np.empty((rows, FEATURES), order="F")
    current = np.empty((rows, FEATURES), order="F")
    for index in range(FEATURES):
        reference[:, index] = _draw(rng, index % 5, rows)
        current[:, index] = _draw(rng, index % 5, rows)
    for index, (how, size) in SHIFTS.items():
        column = current[:, index]
        if how == "shift":
            column += size * reference[:, index].std()
        else:
            mean = column.mean()
            column[:] = mean + (column - mean) * size
    np.save(folder / "reference.npy", reference)
    np.save(folder / "current.npy", current)


def write_profile(folder: Path) -> None:
    """The profile a training run stores with the version, as JSON."""
    from mlrelease.data.profile import build_profile

    reference, _ = _frames(folder, current=False)
    (folder / "profile.json").write_text(json.dumps(build_profile(reference)))


def _arrays(folder: Path) -> tuple[Any, Any]:
    import numpy as np

    return np.load(folder / "reference.npy"), np.load(folder / "current.npy")


def _frames(folder: Path, *, current: bool = True) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    def frame(name: str) -> Any:
        return pd.DataFrame(np.load(folder / f"{name}.npy"), columns=columns())

    return frame("reference"), frame("current") if current else None


# -- children: ``python benchmarks/drift.py --child KIND --data DIR --method M`` ---------------


class PeakMemory:
    """How far this process's resident set rises above where it stood at ``start``."""

    def start(self) -> None:
        gc.collect()
        try:  # Linux: reset the high-water mark to the current resident set
            Path("/proc/self/clear_refs").write_text("5")
            self.exact = True
            self.base_kb = self._status_kb("VmRSS")
        except OSError:
            self.exact = False
            self.base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def peak_mb(self) -> float:
        if self.exact:
            return (self._status_kb("VmHWM") - self.base_kb) / 1024
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.base_kb) / 1024

    @staticmethod
    def _status_kb(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise OSError(f"no {key} in /proc/self/status")


def measure(run: Callable[[], Any], repeat: int) -> tuple[dict[str, Any], Any]:
    """Seconds of each run, the largest memory peak, and the last run's result."""
    seconds, peaks, result = [], [], None
    memory = PeakMemory()
    for _ in range(repeat):
        result = None  # the previous result must not count in this run's baseline
        memory.start()
        began = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - began)
        peaks.append(memory.peak_mb())
    return {"seconds": seconds, "peak_mb": max(peaks)}, result


def child_mlrelease(folder: Path, method: str, repeat: int, full: bool) -> dict[str, Any]:
    from mlrelease.data.profile import build_profile
    from mlrelease.monitoring.drift import compare_frame

    if full:
        reference, current = _frames(folder)

        def run() -> Any:
            return compare_frame(build_profile(reference)["features"], current, method=method)

    else:
        profile = json.loads((folder / "profile.json").read_text())["features"]
        current = _frames(folder)[1]

        def run() -> Any:
            return compare_frame(profile, current, method=method)

    figures, results = measure(run, repeat)
    return figures | {"drifted": {r.feature: r.drifted for r in results}}


def child_evidently(folder: Path, method: str, repeat: int) -> dict[str, Any]:
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference, current = _frames(folder)
    definition = DataDefinition(numerical_columns=list(reference.columns))
    chosen = None if method == "default" else method

    def run() -> Any:
        report = Report([DataDriftPreset(method=chosen)], include_tests=True)
        return report.run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )

    figures, snapshot = measure(run, repeat)
    drifted, used = {}, set()
    for test in snapshot.dict()["tests"]:  # one "Value Drift" test per column; FAIL = drift
        params = test["metric_config"]["params"]
        if "column" in params:
            drifted[params["column"]] = test["status"] == "FAIL"
            used.add(params["method"])
    return figures | {"drifted": drifted, "version": evidently.__version__, "used": sorted(used)}


def child_scipy_ks(folder: Path, method: str, repeat: int) -> dict[str, Any]:
    from scipy import stats

    reference, current = _arrays(folder)

    def run() -> Any:
        return [
            bool(stats.ks_2samp(reference[:, i], current[:, i]).pvalue < 0.05)
            for i in range(FEATURES)
        ]

    figures, decisions = measure(run, repeat)
    return figures | {"drifted": dict(zip(columns(), decisions, strict=True))}


def child_numpy_psi(folder: Path, method: str, repeat: int) -> dict[str, Any]:
    import numpy as np

    reference, current = _arrays(folder)

    def shares(values: Any, interior: Any) -> Any:
        counts = np.bincount(np.searchsorted(interior, values, "right"), minlength=10)
        return np.maximum(counts / values.size, 0.0001)

    def run() -> Any:
        decisions = []
        for i in range(FEATURES):
            interior = np.quantile(reference[:, i], np.linspace(0, 1, 11))[1:-1]
            r, c = shares(reference[:, i], interior), shares(current[:, i], interior)
            decisions.append(bool(np.sum((c - r) * np.log(c / r)) >= 0.1))
        return decisions

    figures, decisions = measure(run, repeat)
    return figures | {"drifted": dict(zip(columns(), decisions, strict=True))}


CHILDREN: dict[str, Callable[[Path, str, int], dict[str, Any]]] = {
    "mlrelease-full": lambda folder, method, repeat: child_mlrelease(folder, method, repeat, True),
    "mlrelease-compare": lambda f, method, repeat: child_mlrelease(f, method, repeat, False),
    "evidently": child_evidently,
    "scipy-ks": child_scipy_ks,
    "numpy-psi": child_numpy_psi,
}


# -- the parent -------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    kind: str
    method: str  # the method its decisions are compared on
    seconds: list[float] = field(default_factory=list)
    peak_mb: float | None = None
    drifted: dict[str, bool] = field(default_factory=dict)
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def _spawn(
    python: str, row: Row, folder: Path, repeat: int, timeout: float, env: dict[str, str]
) -> dict[str, Any]:
    """One child's result; RuntimeError with its last words if it failed."""
    command = [python, __file__, "--child", row.kind, "--method", row.method]
    command += ["--data", str(folder), "--repeat", str(repeat)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"timed out after {timeout:.0f} s") from error
    if done.returncode != 0:
        _log(f"{row.label} failed:\n{done.stderr[-2000:]}")
        raise RuntimeError((done.stderr.strip().splitlines() or ["failed"])[-1])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_child(python: str, row: Row, folder: Path, repeat: int, timeout: float) -> None:
    """Time ``row`` in one child, then measure its memory in another.

    glibc keeps freed memory resident and moves its mmap threshold up as large blocks
    are freed, so later arrays reuse pages already counted and the resident peak hides
    them. The memory child fixes the threshold (``MALLOC_MMAP_THRESHOLD_``): every
    array over 64 KiB gets its own mapping, returned on free, so the high-water mark
    counts what was alive at once. That slows NumPy-heavy code, hence the two children.
    """
    env = os.environ | {"DO_NOT_TRACK": "1"}  # Evidently's telemetry
    _log(f"{row.label} ...")
    try:
        timed = _spawn(python, row, folder, repeat, timeout, env)
        fixed = env | {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)}
        row.peak_mb = _spawn(python, row, folder, 1, timeout, fixed)["peak_mb"]
    except RuntimeError as error:
        row.error = str(error)
        return
    row.seconds, row.drifted = timed["seconds"], timed["drifted"]
    row.extra = {k: v for k, v in timed.items() if k not in ("seconds", "peak_mb", "drifted")}


def evidently_python(venv: Path, timeout: float) -> str:
    """The venv's Python, made (or completed) first if it has no Evidently 0.7."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import evidently; assert evidently.__version__[:4] == '0.7.'"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(python)
    _log(f"installing {' '.join(EVIDENTLY_REQUIREMENTS)} into {venv} (a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS]
    subprocess.run(pip, check=True, timeout=timeout)
    return str(python)


def plan(skip_evidently: bool) -> list[Row]:
    rows = [Row(f"Evidently DataDriftPreset({m})", "evidently", m) for m in EVIDENTLY_METHODS]
    rows = [] if skip_evidently else rows
    for method in METHODS:
        rows.append(Row(f"mlrelease profile+compare {method}", "mlrelease-full", method))
        rows.append(Row(f"mlrelease compare {method}", "mlrelease-compare", method))
    rows.append(Row("scipy ks_2samp x 30", "scipy-ks", "ks"))
    rows.append(Row("numpy PSI, 10 quantile bins", "numpy-psi", "psi"))
    return rows


def evidently_row(rows: list[Row], method: str) -> Row | None:
    """The Evidently row a method's figures are compared with."""
    for row in rows:
        if row.kind == "evidently" and row.method == method and row.seconds:
            return row
    return None


def disagreements(row: Row, reference: Row) -> list[str]:
    return [name for name in columns() if row.drifted.get(name) != reference.drifted.get(name)]


def table(rows: list[Row]) -> list[str]:
    shifted = {columns()[index] for index in SHIFTS}
    lines = [
        "| run | s (median) | peak MB | speedup vs Evidently | memory share | agrees with "
        "Evidently | shifted caught | false alarms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for row in rows:
        if row.error:
            lines.append(f"| {row.label} | error: {row.error} | | | | | | |")
            continue
        caught = sum(row.drifted.get(name, False) for name in shifted)
        alarms = sum(flag for name, flag in row.drifted.items() if name not in shifted)
        speedup = share = agree = "-"
        other = evidently_row(rows, row.method) if row.kind != "evidently" else None
        if other is not None and other.median and row.median and other.peak_mb:
            speedup = f"{other.median / row.median:.1f}x"
            share = f"{(row.peak_mb or 0.0) / other.peak_mb:.2f}"
            missed = disagreements(row, other)
            agree = f"{FEATURES - len(missed)}/{FEATURES}"
            if missed:
                notes.append(f"{row.label}: differs from Evidently ({row.method}) on {missed}")
        lines.append(
            f"| {row.label} | {row.median:.3f} | {row.peak_mb:.1f} | {speedup} | {share} | "
            f"{agree} | {caught}/{len(shifted)} | {alarms}/{FEATURES - len(shifted)} |"
        )
    for row in rows:
        if row.kind == "evidently" and row.extra.get("used"):
            notes.append(f"{row.label} used: {', '.join(row.extra['used'])}")
    return lines + [""] + notes


def verdict(rows: list[Row]) -> list[str]:
    """The issue's targets, for the full run with each method."""
    lines = []
    for row in rows:
        other = evidently_row(rows, row.method)
        if row.kind != "mlrelease-full" or other is None or not row.median:
            continue
        speedup = (other.median or 0.0) / row.median
        share = (row.peak_mb or 0.0) / (other.peak_mb or float("inf"))
        met = speedup >= TARGET_SPEEDUP and share <= TARGET_MEMORY_SHARE
        lines.append(
            f"{row.method}: {speedup:.1f}x faster (target >= {TARGET_SPEEDUP:.0f}x), "
            f"{share:.2f} of the memory (target <= 1/3): {'met' if met else 'MISSED'}"
        )
    return lines


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows, 1 repeat")
    parser.add_argument("--rows", type=int, help=f"rows per frame (default {ROWS:,})")
    parser.add_argument("--repeat", type=int, help="runs per measurement (default 3)")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--evidently-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per child")
    parser.add_argument("--install-timeout", type=float, default=1800)
    parser.add_argument("--json", action="store_true", help="print every figure as JSON")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--method", default="psi", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse()
    if args.child:
        result = CHILDREN[args.child](args.data, args.method, args.repeat)
        print(json.dumps(result))
        return
    rows_per_frame = args.rows or (QUICK_ROWS if args.quick else ROWS)
    repeat = args.repeat or (1 if args.quick else 3)
    rows = plan(args.skip_evidently)
    with tempfile.TemporaryDirectory(prefix="mlrelease-drift-bench-") as tmp:
        folder = Path(tmp)
        _log(f"writing {rows_per_frame:,} x {FEATURES} reference and current frames")
        write_data(folder, rows_per_frame)
        write_profile(folder)
        python = (
            None
            if args.skip_evidently
            else evidently_python(args.evidently_venv, args.install_timeout)
        )
        for row in rows:
            interpreter = python if row.kind == "evidently" else sys.executable
            run_child(interpreter or sys.executable, row, folder, repeat, args.timeout)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
        return
    print(
        f"\n{rows_per_frame:,} rows x {FEATURES} features, {len(SHIFTS)} shifted; "
        f"median of {repeat}; {os.cpu_count()} CPUs\n"
    )
    print("\n".join(table(rows)))
    print("\n".join(["", *verdict(rows)]))


if __name__ == "__main__":
    main()
