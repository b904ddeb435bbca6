"""The monitor: a window of the prediction log against the served version's reference profile.

One check reads the newest ``window`` rows an environment's live version served,
judges each feature's drift (and the predictions') with the project's method, and
measures the live metrics that ground-truth feedback makes possible. The report
is stored, so the controller, ``/metrics`` and people read the same figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import insert

from mlrelease.errors import NotFoundError
from mlrelease.evaluation.metrics import Scored, compute_metric, label_text
from mlrelease.monitoring._log import read_labelled, read_window
from mlrelease.monitoring.drift import FeatureDrift, compare_column, compare_frame, drift_share
from mlrelease.registry.records import VersionInfo
from mlrelease.registry.service import Registry
from mlrelease.spec import DriftSpec, LiveMetricSpec, MonitoringSpec
from mlrelease.store import tables

__all__ = ["LiveMetric", "Monitor", "MonitorReport"]


@dataclass(frozen=True)
class LiveMetric:
    """A metric measured on served rows that got a label, against its floor or ceiling."""

    name: str
    value: float | None
    labels: int  # labelled rows behind the value
    min: float | None
    max: float | None
    judged: bool  # enough labels to compare with the bound
    breached: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "labels": self.labels,
            "min": self.min,
            "max": self.max,
            "judged": self.judged,
            "breached": self.breached,
        }


@dataclass(frozen=True)
class MonitorReport:
    model: str
    environment: str
    version: int
    created_at: datetime
    rows: int  # rows of the log in the window
    min_rows: int
    window_start: datetime | None
    window_end: datetime | None
    features: list[FeatureDrift]
    predictions: list[FeatureDrift]
    metrics: list[LiveMetric]
    share_threshold: float  # the drifted share of features that counts as drift
    id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def judged(self) -> bool:
        """Whether the window held enough rows to judge drift."""
        return self.rows >= self.min_rows

    @property
    def drift_share(self) -> float | None:
        return drift_share(self.features) if self.judged else None

    @property
    def drifted(self) -> bool:
        share = self.drift_share
        return share is not None and share >= self.share_threshold

    @property
    def drifted_features(self) -> list[FeatureDrift]:
        return [result for result in self.features if result.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "environment": self.environment,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "rows": self.rows,
            "min_rows": self.min_rows,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "judged": self.judged,
            "drift_share": self.drift_share,
            "share_threshold": self.share_threshold,
            "drifted": self.drifted,
            "features": [result.to_dict() for result in self.features],
            "predictions": [result.to_dict() for result in self.predictions],
            "metrics": [metric.to_dict() for metric in self.metrics],
            "notes": self.notes,
        }


class Monitor:
    """Checks an environment's live version against its profile, per the monitoring spec."""

    def __init__(self, registry: Registry, model: str, task: str, spec: MonitoringSpec) -> None:
        self.registry = registry
        self.model = model
        self.task = task
        self.spec = spec

    def check(
        self, environment: str, *, window: int | None = None, save: bool = True
    ) -> MonitorReport:
        """Judge the newest ``window`` rows (default: the spec's) of the live version."""
        version = self._live_version(environment)
        rows = window or self.spec.window
        served = read_window(
            self.registry.store,
            self.model,
            environment,
            version.version,
            rows=rows,
            features=version.feature_names,
        )
        judged = served.rows >= self.spec.min_rows
        notes = [] if judged else [_too_few(served.rows, self.spec.min_rows)]
        drift = self.spec.drift
        features_profile = version.profile.get("features", {})
        report = MonitorReport(
            model=self.model,
            environment=environment,
            version=version.version,
            created_at=datetime.now(UTC),
            rows=served.rows,
            min_rows=self.spec.min_rows,
            window_start=served.start,
            window_end=served.end,
            features=compare_frame(
                features_profile,
                served.inputs,
                method=drift.method,
                categorical_method=drift.categorical,
                threshold=drift.threshold,
                overrides={
                    name: (override.method, override.threshold)
                    for name, override in drift.features.items()
                },
            )
            if judged
            else [],
            predictions=_prediction_drift(version, served.predictions, drift) if judged else [],
            metrics=self._live_metrics(environment, version.version),
            share_threshold=drift.share,
            notes=notes,
        )
        return self._save(report) if save else report

    def _live_version(self, environment: str) -> VersionInfo:
        number = self.registry.alias_version(self.model, environment)
        if number is None:
            raise NotFoundError(
                f"no version of {self.model} is live in {environment}, so there is nothing to "
                f"monitor; promote one first: mlrelease promote {self.model} VERSION "
                f"--to {environment}"
            )
        return self.registry.version(self.model, number)

    def _live_metrics(self, environment: str, version: int) -> list[LiveMetric]:
        measured = []
        for name, bound in self.spec.live_metrics().items():
            labelled = read_labelled(
                self.registry.store, self.model, environment, version, rows=bound.window
            )
            measured.append(
                _live_metric(name, self.task, labelled.truth, labelled.predicted, bound)
            )
        return measured

    def _save(self, report: MonitorReport) -> MonitorReport:
        document = report.to_dict()
        with self.registry.store.write() as connection:
            report_id = connection.execute(
                insert(tables.monitor_reports).values(
                    model=report.model,
                    environment=report.environment,
                    version=report.version,
                    created_at=report.created_at,
                    rows=report.rows,
                    drift_share=report.drift_share,
                    drifted=report.drifted,
                    report=document,
                )
            ).inserted_primary_key
        assert report_id is not None
        return MonitorReport(**{**report.__dict__, "id": int(report_id[0])})


def _prediction_drift(
    version: VersionInfo, predictions: list[Any], drift: DriftSpec
) -> list[FeatureDrift]:
    profiled = version.profile.get("predictions") or {}
    if not drift.predictions or "prediction" not in profiled:
        return []
    column = profiled["prediction"]
    # Class labels are profiled as categories even when they are numbers.
    numeric = column.get("distribution") == "quantile_bins"
    method = drift.method if numeric else drift.categorical or _categorical_default(drift.method)
    values = np.array(predictions, dtype=object)
    return [compare_column("prediction", column, values, method=method, threshold=drift.threshold)]


def _categorical_default(method: str) -> str:
    return method if method in ("psi", "jensenshannon") else "chisquare"


def _live_metric(
    name: str, task: str, truth: list[Any], predicted: list[Any], bound: LiveMetricSpec
) -> LiveMetric:
    value, labels = _measure(name, task, truth, predicted)
    judged = value is not None and labels >= bound.min_labels
    breached = judged and (
        (bound.min is not None and value < bound.min)  # type: ignore[operator]
        or (bound.max is not None and value > bound.max)  # type: ignore[operator]
    )
    return LiveMetric(name, value, labels, bound.min, bound.max, judged, breached)


def _measure(
    name: str, task: str, truth: list[Any], predicted: list[Any]
) -> tuple[float | None, int]:
    pairs: list[tuple[Any, Any]]
    if task == "classification":
        pairs = [
            (label_text(t), label_text(p))
            for t, p in zip(truth, predicted, strict=True)
            if t is not None and p is not None
        ]
    else:
        pairs = [
            (float(t), float(p))
            for t, p in zip(truth, predicted, strict=True)
            if _is_number(t) and _is_number(p)
        ]
    if not pairs:
        return None, 0
    scored = Scored(np.array([t for t, _ in pairs]), np.array([p for _, p in pairs]))
    value = compute_metric(name, task, scored)  # type: ignore[arg-type]
    return (value if math.isfinite(value) else None), len(pairs)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _too_few(rows: int, min_rows: int) -> str:
    return (
        f"the window holds {rows} served rows, fewer than min_rows={min_rows}: drift is not judged "
        "until more requests are served (or lower monitoring.min_rows)"
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
