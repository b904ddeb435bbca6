"""Run records: one row per pipeline execution, with its steps, metrics and logs.

Each update is its own short transaction, so a run that crashes half-way is
still visible as it stood (status ``running`` with the steps it finished), and
readers never wait on a long training step.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import desc, insert, select, update

from mlrelease.errors import RunNotFoundError
from mlrelease.store import Store, tables

__all__ = ["RunInfo", "RunLog", "RunRecorder", "RunStatus", "get_run", "list_runs"]

_R = tables.runs.c


class RunStatus:
    RUNNING = "running"  # started; steps still executing (or the process died)
    SUCCEEDED = "succeeded"  # passed every gate and registered a version
    CACHED = "cached"  # same code, config and data as an earlier success: nothing retrained
    CHECK_FAILED = "check_failed"  # a data check refused the data before training
    GATE_FAILED = "gate_failed"  # trained, but a quality gate refused the model
    FAILED = "failed"  # an error stopped the run


@dataclass(frozen=True)
class RunLog:
    timestamp: datetime
    level: str
    message: str


@dataclass(frozen=True)
class RunInfo:
    id: str
    model_name: str
    project_path: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    cache_key: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    steps: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    gate_results: list[dict[str, Any]]
    data_fingerprint: str
    data_schema: dict[str, Any]
    lineage: dict[str, Any]
    model_version: int | None
    error: str

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class RunRecorder:
    """Writes one run's record as it progresses."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.id = run_id
        self._steps: list[dict[str, Any]] = []

    @classmethod
    def start(
        cls,
        store: Store,
        *,
        model_name: str,
        project_path: str = "",
        params: Mapping[str, Any] = {},
    ) -> RunRecorder:
        run_id = uuid.uuid4().hex
        with store.write() as connection:
            connection.execute(
                insert(tables.runs).values(
                    id=run_id,
                    model_name=model_name,
                    project_path=project_path,
                    status=RunStatus.RUNNING,
                    started_at=datetime.now(UTC),
                    cache_key="",
                    params=dict(params),
                    metrics={},
                    steps=[],
                    checks=[],
                    gate_results=[],
                    data_fingerprint="",
                    data_schema={},
                    lineage={},
                    error="",
                )
            )
        return cls(store, run_id)

    def update(self, **values: Any) -> None:
        with self.store.write() as connection:
            connection.execute(update(tables.runs).where(_R.id == self.id).values(**values))

    def step_done(self, name: str, status: str, seconds: float, detail: str = "") -> None:
        self._steps.append(
            {"name": name, "status": status, "seconds": round(seconds, 4), "detail": detail}
        )
        self.update(steps=list(self._steps))

    def log(self, message: str, level: str = "info") -> None:
        with self.store.write() as connection:
            connection.execute(
                insert(tables.run_logs).values(
                    run_id=self.id, timestamp=datetime.now(UTC), level=level, message=message
                )
            )

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        """Record one value of a metric series (e.g. a loss per epoch)."""
        with self.store.write() as connection:
            connection.execute(
                _INSERT_METRIC,
                {
                    "run_id": self.id,
                    "key": key,
                    "value": float(value),
                    "step": step,
                    "timestamp": datetime.now(UTC),
                },
            )

    def finish(self, status: str, *, error: str = "", **values: Any) -> None:
        self.update(status=status, error=error, finished_at=datetime.now(UTC), **values)


_INSERT_METRIC = insert(tables.run_metrics)


def get_run(store: Store, run_id: str) -> tuple[RunInfo, list[RunLog]]:
    """A run by id (or a unique prefix of at least 4 characters) and its log lines."""
    with store.read() as connection:
        if len(run_id) < 4:
            raise RunNotFoundError(f"run id '{run_id}' is too short; give at least 4 characters")
        rows = connection.execute(
            select(tables.runs).where(_R.id.startswith(run_id, autoescape=True)).limit(2)
        ).all()
        if not rows:
            raise RunNotFoundError(f"no run with id '{run_id}'; see 'mlrelease runs'")
        if len(rows) > 1:
            raise RunNotFoundError(f"run id '{run_id}' is ambiguous; give more characters")
        run = RunInfo(**rows[0]._asdict())
        logs = [
            RunLog(timestamp=row.timestamp, level=row.level, message=row.message)
            for row in connection.execute(
                select(tables.run_logs)
                .where(tables.run_logs.c.run_id == run.id)
                .order_by(tables.run_logs.c.id)
            )
        ]
    return run, logs


def list_runs(store: Store, *, model: str | None = None, limit: int = 20) -> list[RunInfo]:
    query = select(tables.runs).order_by(desc(_R.started_at)).limit(limit)
    if model is not None:
        query = query.where(_R.model_name == model)
    with store.read() as connection:
        return [RunInfo(**row._asdict()) for row in connection.execute(query)]


def metric_history(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    with store.read() as connection:
        rows = connection.execute(
            select(tables.run_metrics.c.step, tables.run_metrics.c.value)
            .where(tables.run_metrics.c.run_id == run_id, tables.run_metrics.c.key == key)
            .order_by(tables.run_metrics.c.id)
        )
        return [(int(step), float(value)) for step, value in rows]


def last_successful_run(
    store: Store, model: str, *, cache_key: str | None = None
) -> RunInfo | None:
    """The newest run of ``model`` that registered a version (with ``cache_key``, if given)."""
    query = select(tables.runs).where(_R.model_name == model, _R.status == RunStatus.SUCCEEDED)
    if cache_key is not None:
        query = query.where(_R.cache_key == cache_key)
    with store.read() as connection:
        row = connection.execute(query.order_by(desc(_R.started_at)).limit(1)).first()
    return None if row is None else RunInfo(**row._asdict())
