"""One pipeline run: its steps and timings, checks, params, metrics, gates, logs and plots.

Owns ``/runs/{run_id}``. The run record says what happened; the registry says
which version it registered (or, for a cached run, which one it reused); the
audit log says who ran it, for runs that got as far as a gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from starlette.responses import Response

from mlrelease.audit import EventKind, list_events
from mlrelease.client import Client
from mlrelease.errors import NotFoundError
from mlrelease.pipeline.runs import RunInfo
from mlrelease.registry.records import VersionInfo
from mlrelease.store import tables
from mlrelease.ui.charts import Series, line_chart
from mlrelease.ui.routing import Pages, View

__all__ = ["pages"]

pages = Pages()

_M = tables.run_metrics.c


@dataclass(frozen=True)
class StepRow:
    name: str
    status: str
    seconds: float
    detail: str
    share: float  # of the whole run's step time, 0..1


@pages.get("/runs/{run_id}")
def run_page(view: View, run_id: str) -> Response:
    client = view.client
    run, logs = client.get_run(run_id)
    version = _version(client, run)
    return view.render(
        "run.html",
        run=run,
        logs=logs,
        version=version,
        reused=version is not None and version.run_id not in (None, run.id),
        ran_by=_who(client, run),
        git=run.lineage.get("git") or {},
        packages=run.lineage.get("packages") or {},
        steps=_steps(run),
        longest=max((float(step.get("seconds", 0)) for step in run.steps), default=0.0),
        plots=_plots(client, run.id),
    )


def _version(client: Client, run: RunInfo) -> VersionInfo | None:
    """The version the run registered or reused; None if it has none (or it is gone)."""
    if run.model_version is None:
        return None
    try:
        return client.version(run.model_name, run.model_version)
    except NotFoundError:
        return None


def _who(client: Client, run: RunInfo) -> str | None:
    """Who ran it: the actor of the event its registration or gate failure left, if any."""
    with client.store.read() as connection:
        events = list_events(
            connection,
            model=run.model_name,
            kinds=(EventKind.VERSION_REGISTERED, EventKind.GATE_FAILED),
        )
    return next((event.actor for event in events if event.payload.get("run_id") == run.id), None)


def _steps(run: RunInfo) -> list[StepRow]:
    total = sum(float(step.get("seconds", 0)) for step in run.steps)
    return [
        StepRow(
            name=str(step.get("name", "")),
            status=str(step.get("status", "")),
            seconds=float(step.get("seconds", 0)),
            detail=str(step.get("detail", "")),
            share=float(step.get("seconds", 0)) / total if total else 0.0,
        )
        for step in run.steps
    ]


def _plots(client: Client, run_id: str) -> list[str]:
    """A chart per metric series the run logged (``RunRecorder.log_metric``), by step."""
    query = select(_M.key, _M.step, _M.value).where(_M.run_id == run_id).order_by(_M.id)
    series: dict[str, list[tuple[float, float | None]]] = {}
    with client.store.read() as connection:
        for key, step, value in connection.execute(query):
            series.setdefault(str(key), []).append((float(step), float(value)))
    return [
        line_chart([Series(key, sorted(points, key=lambda p: p[0]))], title=key, x_label="step")
        for key, points in series.items()
    ]
