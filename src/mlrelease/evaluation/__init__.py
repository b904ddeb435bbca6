"""Measuring models: the metric catalogue, fast metrics, and the paired bootstrap."""

from __future__ import annotations

from mlrelease.evaluation.bootstrap import (
    Side,
    one_sided_bound,
    paired_bootstrap,
    resample_rows,
)
from mlrelease.evaluation.metrics import (
    MetricDef,
    Scored,
    Task,
    compute_metric,
    compute_metrics,
    confusion_matrix,
    known_metrics,
    metric_def,
)

__all__ = [
    "MetricDef",
    "Scored",
    "Side",
    "Task",
    "compute_metric",
    "compute_metrics",
    "confusion_matrix",
    "known_metrics",
    "metric_def",
    "one_sided_bound",
    "paired_bootstrap",
    "resample_rows",
]
