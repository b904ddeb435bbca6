"""A Grafana dashboard, Prometheus alerting rules and a scrape config for `mlrelease serve`.

:func:`render_monitoring` turns :class:`MonitoringOptions` (and the project file,
when there is one) into three files -- ``grafana-dashboard.json``, ``alerts.yml``
and ``prometheus.yml`` -- as text: the same inputs give the same bytes (stable
panel ids, keys sorted as Grafana exports them, no timestamps).
:func:`write_monitoring` puts them in a folder, each through a temporary file.

Every expression reads only what ``mlrelease.serving.metrics`` exports (and
Prometheus' own ``up``). The project file supplies what it knows: the model,
the environment it monitors, the drift share and ``for``, the live metrics'
floors and ceilings (``monitoring.accuracy: {min: 0.85}`` becomes a rule on
``mlrelease_online_metric{metric="accuracy"} < 0.85``), and the canary's
absolute ``error_rate`` / ``latency_p95`` checks as alert thresholds. Without
one the thresholds are the default canary checks'; a live metric without a
known bound gets no rule (a guessed floor would page people for nothing).

The package's modules: ``_options`` (the options, checked, resolved into a plan),
``_promql`` (expression pieces), ``_alerts`` (the rules), ``_scrape`` (the
Prometheus config), ``_panels`` and ``_dashboard`` (the Grafana JSON), ``_files``
(rendering and writing).
"""

from __future__ import annotations

from mlrelease.deploy.monitoring._files import render_monitoring, write_monitoring
from mlrelease.deploy.monitoring._options import (
    ALERTS_FILE,
    DASHBOARD_FILE,
    DEFAULT_TARGET,
    FILES,
    PROMETHEUS_FILE,
    MonitoringOptions,
)

__all__ = [
    "ALERTS_FILE",
    "DASHBOARD_FILE",
    "DEFAULT_TARGET",
    "FILES",
    "PROMETHEUS_FILE",
    "MonitoringOptions",
    "render_monitoring",
    "write_monitoring",
]
