"""What to render: the options, checked and resolved against the project file into a plan."""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Final

from mlrelease.errors import ConfigError
from mlrelease.names import validate_name
from mlrelease.release.checks import Number, parse_check
from mlrelease.release.routers.nginx import Address
from mlrelease.spec import DriftSpec, LiveMetricSpec, ProjectSpec, ReleaseSpec

__all__ = [
    "ALERTS_FILE",
    "DASHBOARD_FILE",
    "DEFAULT_TARGET",
    "FILES",
    "PROMETHEUS_FILE",
    "QUALITY_FOR",
    "Bound",
    "MonitoringOptions",
    "Plan",
    "make_plan",
]

DASHBOARD_FILE: Final = "grafana-dashboard.json"
ALERTS_FILE: Final = "alerts.yml"
PROMETHEUS_FILE: Final = "prometheus.yml"
FILES: Final = (DASHBOARD_FILE, ALERTS_FILE, PROMETHEUS_FILE)
DEFAULT_TARGET: Final = "127.0.0.1:8000"
QUALITY_FOR: Final = 900.0  # seconds a drift or live-metric breach holds before it alerts
_JOB: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")


@dataclass(frozen=True)
class MonitoringOptions:
    """What to render; ``None`` means: from the project file, else the default."""

    model: str | None = None  # None: the project's model, else every model
    environment: str | None = None  # None: every environment
    datasource: str = "Prometheus"  # the Grafana data source picked by default
    job: str = "mlrelease"  # Prometheus job name of the servers
    targets: tuple[str, ...] = (DEFAULT_TARGET,)  # HOST:PORT of each `mlrelease serve`
    scrape_interval: float = 15.0  # seconds; also the rule evaluation interval
    max_error_rate: float | None = None  # 5xx share; else the canary check's, else 0.01
    max_latency_p95: float | None = None  # seconds; else the canary check's, else 0.5


@dataclass(frozen=True)
class Bound:
    """A live metric's floor (``<``) or ceiling (``>``) from the project's monitoring section."""

    metric: str
    breach: str  # the PromQL comparison that is a breach: < for a floor, > for a ceiling
    value: float
    min_labels: int
    hold: float  # seconds, the alert's for:


@dataclass(frozen=True)
class Plan:
    """The options resolved against the project file and checked."""

    model: str | None
    environment: str | None
    quality_environment: str | None  # where drift and live metrics are judged
    datasource: str
    job: str
    targets: tuple[Address, ...]
    scrape_interval: float
    max_error_rate: float
    max_latency_p95: float
    drift_share: float
    drift_hold: float  # seconds
    bounds: tuple[Bound, ...]


def make_plan(options: MonitoringOptions, project: ProjectSpec | None) -> Plan:
    """The options checked, with what they leave out taken from the project file."""
    model = options.model or (project.model if project else None)
    if model is not None:
        validate_name(model, what="--model")
    if options.environment is not None:
        validate_name(options.environment, what="--env")
    own = project if project is not None and project.model == model else None
    limits = _canary_limits(own.release if own else ReleaseSpec())
    monitoring = own.monitoring if own else None
    drift = monitoring.drift if monitoring else DriftSpec()
    return Plan(
        model=model,
        environment=options.environment,
        quality_environment=options.environment or (own.monitored_environment if own else None),
        datasource=_datasource(options.datasource),
        job=_job(options.job),
        targets=_targets(options.targets),
        scrape_interval=_checked(options.scrape_interval, "--scrape-interval", "15s"),
        max_error_rate=limits.get("error_rate", 0.01)
        if options.max_error_rate is None
        else _checked(options.max_error_rate, "--max-error-rate", "0.01", share=True),
        max_latency_p95=limits.get("latency_p95", 0.5)
        if options.max_latency_p95 is None
        else _checked(options.max_latency_p95, "--max-latency-p95", "0.5"),
        drift_share=drift.share,
        drift_hold=drift.for_ or QUALITY_FOR,
        bounds=_bounds(monitoring.live_metrics() if monitoring else {}),
    )


def _bounds(live: Mapping[str, LiveMetricSpec]) -> tuple[Bound, ...]:
    """A rule per live metric bound: ``min`` is a floor, ``max`` a ceiling (both: two)."""
    return tuple(
        Bound(name, breach, value, spec.min_labels, spec.for_)
        for name, spec in live.items()
        for breach, value in (("<", spec.min), (">", spec.max))
        if value is not None
    )


def _canary_limits(release: ReleaseSpec) -> dict[str, float]:
    """Absolute upper bounds the canary checks set (``latency_p95 <= 0.5``), by metric."""
    limits: dict[str, float] = {}
    for text in release.canary.checks:
        with suppress(ConfigError):  # a check only a custom query knows: not ours to read
            check = parse_check(text)
            if check.op in ("<=", "<") and isinstance(check.threshold, Number):
                limits.setdefault(check.metric, check.threshold.value)
    return limits


def _targets(targets: tuple[str, ...]) -> tuple[Address, ...]:
    parsed = [Address.parse(text, what="--targets") for text in targets]
    if not parsed:
        raise ConfigError("--targets: give at least one HOST:PORT of an `mlrelease serve`")
    return tuple(dict.fromkeys(parsed))


def _job(job: str) -> str:
    if not _JOB.fullmatch(job):
        raise ConfigError(
            f"--job: {job!r} is not a job name; use letters, digits, '_', '.', ':' or '-', "
            "starting with a letter (e.g. mlrelease)"
        )
    return job


def _datasource(name: str) -> str:
    if not name.strip() or any(ord(char) < 32 for char in name):
        raise ConfigError(
            f"--datasource: {name!r} is not a Grafana data source name; give the name of "
            "a Prometheus data source, e.g. Prometheus"
        )
    return name


def _checked(value: float, option: str, example: str, *, share: bool = False) -> float:
    if share and not 0 <= value <= 1:
        raise ConfigError(
            f"{option}: {value!r} is a share of requests; give one in [0, 1], e.g. {example}"
        )
    if not share and not value > 0:
        raise ConfigError(f"{option}: {value!r} must be greater than 0, e.g. {example}")
    return float(value)
