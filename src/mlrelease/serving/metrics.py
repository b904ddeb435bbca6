"""Prometheus metrics of the data plane, with the names DESIGN.md fixes.

``mlrelease_requests_total{model,env,version,role,status}``,
``mlrelease_request_duration_seconds{model,env,version,role}`` (histogram),
``mlrelease_batch_size`` (rows per model call), ``mlrelease_model_info``
(1 per loaded version and role), ``mlrelease_model_load_failures_total``,
``mlrelease_model_swaps_total`` and the prediction log's
``mlrelease_prediction_log_rows{outcome}``. With several worker processes
(``PROMETHEUS_MULTIPROC_DIR`` set), every worker's figures are summed.

From the newest stored monitor report (``mlrelease monitor`` or the controller
writes it; read at most every few seconds, on scrape, never on a request):
``mlrelease_feature_drift{model,env,version,feature,method}`` (the drift score),
``mlrelease_feature_drifted`` (1 or 0), ``mlrelease_online_metric{model,env,version,metric}``
and ``mlrelease_online_metric_labels`` (the labels behind it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "ServingMetrics"]

# The *_created series double the output and no dashboard here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 512, 2048, 10_000)


class ServingMetrics:
    """The counters one server process updates, and the /metrics text."""

    def __init__(self, model: str, environment: str) -> None:
        self.model = model
        self.environment = environment
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "mlrelease_requests",
            "Requests served, by version, role and HTTP status.",
            ["model", "env", "version", "role", "status"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "mlrelease_request_duration_seconds",
            "Time from request to response, by version and role.",
            ["model", "env", "version", "role"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "mlrelease_batch_size",
            "Rows per model call (after micro-batching).",
            ["model", "env"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        ).labels(model, environment)
        self._info = Gauge(
            "mlrelease_model_info",
            "1 for each version loaded and the role it serves in.",
            ["model", "env", "version", "role"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.load_failures = Counter(
            "mlrelease_model_load_failures",
            "Versions that failed to load or verify and were not switched to.",
            ["model", "env"],
            registry=self.registry,
        ).labels(model, environment)
        self.swaps = Counter(
            "mlrelease_model_swaps",
            "Times the served versions or traffic split changed.",
            ["model", "env"],
            registry=self.registry,
        ).labels(model, environment)
        self._children: dict[tuple[int, str, int], tuple[Any, Any]] = {}
        self._monitoring: _MonitoringCollector | None = None

    def observe(self, version: int, role: str, status: int, seconds: float) -> None:
        key = (version, role, status)
        children = self._children.get(key)
        if children is None:
            labels = (self.model, self.environment, str(version), role)
            children = (self._requests.labels(*labels, str(status)), self._duration.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def set_loaded(self, roles: Mapping[int, str]) -> None:
        self._info.clear()
        for version, role in roles.items():
            self._info.labels(self.model, self.environment, str(version), role).set(1)

    def add_collector(self, stats: Callable[[], Mapping[str, int]]) -> None:
        """Expose a component's own counters (e.g. the prediction log's) on /metrics."""
        self.registry.register(_StatsCollector(stats, self.model, self.environment))

    def add_monitoring(self, latest_report: Callable[[], Mapping[str, Any] | None]) -> None:
        """Expose the newest monitor report's drift scores and live metrics."""
        self._monitoring = _MonitoringCollector(latest_report)
        self.registry.register(self._monitoring)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            combined = CollectorRegistry()
            MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
            if self._monitoring is not None:  # the same in every worker: exposed once
                combined.register(self._monitoring)
            return generate_latest(combined)
        return generate_latest(self.registry)


class _StatsCollector(Collector):
    def __init__(self, stats: Callable[[], Mapping[str, int]], model: str, env: str) -> None:
        self._stats = stats
        self._labels = (model, env)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "mlrelease_prediction_log_rows",
            "Prediction log rows by outcome (written, dropped when the queue was full, ...).",
            labels=["model", "env", "outcome"],
        )
        for outcome, value in self._stats().items():
            family.add_metric([*self._labels, outcome], value)
        yield family


class _MonitoringCollector(Collector):
    def __init__(self, latest_report: Callable[[], Mapping[str, Any] | None]) -> None:
        self._latest_report = latest_report

    def describe(self) -> list[GaugeMetricFamily]:
        # Without it the registry would collect -- read the store -- when registering.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            report = self._latest_report()
        except Exception:  # the store briefly unreachable: serve the other metrics regardless
            return
        if not report:
            return
        base = [str(report["model"]), str(report["environment"]), str(report["version"])]
        score = GaugeMetricFamily(
            "mlrelease_feature_drift",
            "Drift score per feature in the newest monitor report (PSI, KS p-value, ...).",
            labels=["model", "env", "version", "feature", "method"],
        )
        drifted = GaugeMetricFamily(
            "mlrelease_feature_drifted",
            "1 when the feature drifted past its threshold in the newest monitor report.",
            labels=["model", "env", "version", "feature", "method"],
        )
        for result in [*report.get("features", []), *report.get("predictions", [])]:
            labels = [*base, str(result["feature"]), str(result["method"])]
            if result.get("score") is not None:
                score.add_metric(labels, float(result["score"]))
            drifted.add_metric(labels, 1.0 if result.get("drifted") else 0.0)
        metric = GaugeMetricFamily(
            "mlrelease_online_metric",
            "Live metric from ground-truth feedback in the newest monitor report.",
            labels=["model", "env", "version", "metric"],
        )
        labels_behind = GaugeMetricFamily(
            "mlrelease_online_metric_labels",
            "Labelled rows behind each live metric.",
            labels=["model", "env", "version", "metric"],
        )
        for live in report.get("metrics", []):
            labels = [*base, str(live["name"])]
            if live.get("value") is not None:
                metric.add_metric(labels, float(live["value"]))
            labels_behind.add_metric(labels, float(live.get("labels", 0)))
        yield from (score, drifted, metric, labels_behind)
