"""The dashboard's panels, section by section, and the pieces they are built from.

A panel carries its width and height (``_w``, ``_h``) until the layout places it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from mlrelease.deploy.monitoring._options import Plan
from mlrelease.deploy.monitoring._promql import (
    FEATURES,
    LOST,
    STATUS_4XX,
    STATUS_5XX,
    percent,
    selector,
)

__all__ = [
    "DATASOURCE",
    "SELECTION",
    "overview_panels",
    "quality_panels",
    "role_panels",
    "serving_panels",
    "traffic_panels",
]

DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}
SELECTION: Final = 'model="$model",env="$env"'  # every panel's selection
_RATE: Final = "[$__rate_interval]"


def _target(expr: str, legend: str = "__auto", *, table: bool = False) -> dict[str, Any]:
    target = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
    if table:
        return {**target, "format": "table", "instant": True, "range": False}
    return {**target, "instant": False, "range": True}


def _panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    width: int,
    height: int = 8,
    defaults: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "_w": width,
        "_h": height,
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": dict(defaults or {}), "overrides": []},
        "options": _OPTIONS[kind],
        "targets": [
            {**target, "refId": chr(ord("A") + index)} for index, target in enumerate(targets)
        ],
        "title": title,
        "type": kind,
        **extra,
    }


_OPTIONS: Final[dict[str, dict[str, Any]]] = {
    "timeseries": {
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    },
    "stat": {
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": "auto",
    },
    "table": {"cellHeight": "sm", "showHeader": True},
}


def _limit(unit: str, red: float | None, **more: Any) -> dict[str, Any]:
    """Field defaults: a unit, and red from ``red`` on (green below)."""
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if red is not None:
        steps.append({"color": "red", "value": red})
    return {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}, **more}


def _hide(*columns: str) -> list[dict[str, Any]]:
    hidden = dict.fromkeys(columns, True)
    options = {"excludeByName": hidden, "indexByName": {}, "renameByName": {}}
    return [{"id": "organize", "options": options}]


def _requests(*matchers: str, by: str = "") -> str:
    rate = f"rate({selector('mlrelease_requests_total', SELECTION, *matchers)}{_RATE})"
    return f"sum by ({by}) ({rate})" if by else f"sum({rate})"


def _sum_rate(metric: str) -> str:
    return f"sum(rate({metric}{{{SELECTION}}}{_RATE}))"


def _quantile(q: float, metric: str, by: str = "") -> str:
    grouping = f"{by}, le" if by else "le"
    rate = f"rate({metric}_bucket{{{SELECTION}}}{_RATE})"
    return f"histogram_quantile({q}, sum by ({grouping}) ({rate}))"


_LATENCY: Final = "mlrelease_request_duration_seconds"


def overview_panels(plan: Plan) -> list[dict[str, Any]]:
    errors = f"{_requests(STATUS_5XX)} / {_requests()}"
    return [
        _panel(
            "stat",
            "Requests/s",
            "Requests answered per second, every version and role.",
            [_target(_requests())],
            width=6,
            height=4,
            defaults=_limit("reqps", None),
        ),
        _panel(
            "stat",
            "5xx share",
            f"Share of requests answered 5xx; red from {percent(plan.max_error_rate)} (alerts).",
            [_target(errors)],
            width=6,
            height=4,
            defaults=_limit("percentunit", plan.max_error_rate),
        ),
        _panel(
            "stat",
            "Latency p95",
            f"95th percentile latency; red from the alert's {plan.max_latency_p95:g} s.",
            [_target(_quantile(0.95, _LATENCY))],
            width=6,
            height=4,
            defaults=_limit("s", plan.max_latency_p95),
        ),
        _panel(
            "stat",
            "Versions loaded",
            "Versions the servers hold in memory (stable, canary, shadow).",
            [_target(f"count(count by (version) (mlrelease_model_info{{{SELECTION}}}))")],
            width=6,
            height=4,
            defaults=_limit("none", None),
        ),
    ]


def traffic_panels() -> list[dict[str, Any]]:
    by = "version, role"
    return [
        _panel(
            "timeseries",
            "Request rate by version and role",
            "Requests answered per second, per served version and its role.",
            [_target(_requests(by=by), "v{{version}} {{role}}")],
            width=8,
            defaults={"unit": "reqps", "min": 0},
        ),
        _panel(
            "timeseries",
            "Error rate (5xx and 4xx share)",
            "Share of requests answered 5xx (the server or model failed) and 4xx (the "
            "request was refused: bad input, auth, rate limit).",
            [
                _target(
                    f"{_requests(STATUS_5XX, by=by)} / {_requests(by=by)}",
                    "5xx v{{version}} {{role}}",
                ),
                _target(
                    f"{_requests(STATUS_4XX, by=by)} / {_requests(by=by)}",
                    "4xx v{{version}} {{role}}",
                ),
            ],
            width=8,
            defaults={"unit": "percentunit", "min": 0},
        ),
        _panel(
            "timeseries",
            "Latency p50 / p95 / p99",
            f"Request latency quantiles from the {_LATENCY} histogram, every version.",
            [_target(_quantile(q, _LATENCY), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)],
            width=8,
            defaults={"unit": "s", "min": 0},
        ),
    ]


def role_panels() -> list[dict[str, Any]]:
    total = _requests()
    return [
        _panel(
            "timeseries",
            "Request share by role",
            "Share of requests each role answers: stable, and a canary during a release "
            "(a shadow's answers are logged, never returned).",
            [_target(f"{_requests(by='role')} / scalar({total})", "{{role}}")],
            width=12,
            defaults={
                "unit": "percentunit",
                "min": 0,
                "max": 1,
                "custom": {"fillOpacity": 30, "stacking": {"group": "A", "mode": "normal"}},
            },
        ),
        _panel(
            "timeseries",
            "Latency p95 by role",
            "95th percentile latency of the stable version against the canary's.",
            [_target(_quantile(0.95, _LATENCY, by="role"), "{{role}}")],
            width=12,
            defaults={"unit": "s", "min": 0},
        ),
    ]


def serving_panels() -> list[dict[str, Any]]:
    batch = "mlrelease_batch_size"
    rows = selector("mlrelease_prediction_log_rows_total", SELECTION)
    lost = selector("mlrelease_prediction_log_rows_total", SELECTION, LOST)
    bars = {"custom": {"drawStyle": "bars", "fillOpacity": 80}, "min": 0, "decimals": 0}
    return [
        _panel(
            "table",
            "Loaded versions",
            "Versions each server holds, with the role each serves in (mlrelease_model_info).",
            [
                _target(
                    f"max by (instance, version, role) (mlrelease_model_info{{{SELECTION}}})",
                    table=True,
                )
            ],
            width=8,
            transformations=_hide("Time", "Value"),
        ),
        _panel(
            "timeseries",
            "Batch size (rows per model call)",
            "Rows per model call after micro-batching (--batch-rows, --batch-wait-ms).",
            [
                _target(_quantile(0.5, batch), "p50"),
                _target(_quantile(0.95, batch), "p95"),
                _target(f"{_sum_rate(batch + '_sum')} / {_sum_rate(batch + '_count')}", "mean"),
            ],
            width=8,
            defaults={"unit": "none", "min": 0},
        ),
        _panel(
            "timeseries",
            "Model swaps and load failures",
            "Hot swaps done (served versions or traffic split changed) and versions refused "
            "(failed to load or failed their sha256 check).",
            [
                _target(
                    f"sum(increase(mlrelease_model_swaps_total{{{SELECTION}}}{_RATE}))", "swaps"
                ),
                _target(
                    f"sum(increase(mlrelease_model_load_failures_total{{{SELECTION}}}{_RATE}))",
                    "load failures",
                ),
            ],
            width=8,
            defaults=bars,
        ),
        _panel(
            "timeseries",
            "Prediction log rows by outcome",
            "Served rows per second by what became of them in the prediction log: written, "
            "sampled_out (--log-sample), dropped (queue full), failed (write failed).",
            [_target(f"sum by (outcome) (rate({rows}{_RATE}))", "{{outcome}}")],
            width=16,
            defaults={"unit": "rowsps", "min": 0},
        ),
        _panel(
            "stat",
            "Prediction log rows lost",
            "Rows dropped or failed in the time range: the monitor and /feedback miss them.",
            [_target(f"sum(increase({lost}[$__range])) or vector(0)")],
            width=8,
            defaults=_limit("none", 1, decimals=0),
        ),
    ]


def quality_panels(plan: Plan) -> list[dict[str, Any]]:
    drifted = selector("mlrelease_feature_drifted", SELECTION, FEATURES)
    return [
        _panel(
            "timeseries",
            "Feature drift score",
            "Drift score per feature in the newest monitor report (PSI, Wasserstein or "
            "Jensen-Shannon distance: higher is more drift; KS and chi-square: a p-value, "
            "lower is more drift). `prediction` is the predictions' own drift.",
            [
                _target(
                    f"max by (feature, method) (mlrelease_feature_drift{{{SELECTION}}})",
                    "{{feature}} ({{method}})",
                )
            ],
            width=12,
            defaults={"unit": "none"},
        ),
        _panel(
            "table",
            "Drifted features",
            "Features past their drift threshold in the newest monitor report; "
            "`mlrelease monitor MODEL --env ENV --html drift.html` plots them.",
            [
                _target(
                    "max by (version, feature, method) "
                    f"(mlrelease_feature_drifted{{{SELECTION}}}) == 1",
                    table=True,
                )
            ],
            width=6,
            transformations=_hide("Time", "Value"),
        ),
        _panel(
            "stat",
            "Drifted share of features",
            f"Share of input features drifted; dataset drift from {percent(plan.drift_share)}.",
            [_target(f"avg({drifted})")],
            width=6,
            defaults=_limit("percentunit", plan.drift_share),
        ),
        _panel(
            "timeseries",
            "Live metrics (from feedback)",
            "Metrics measured on served rows from their ground-truth labels (POST /feedback), "
            "in the newest monitor report.",
            [
                _target(
                    f"max by (version, metric) (mlrelease_online_metric{{{SELECTION}}})",
                    "{{metric}} v{{version}}",
                )
            ],
            width=12,
            defaults={"unit": "none"},
        ),
        _panel(
            "timeseries",
            "Labels behind live metrics",
            "Labelled rows each live metric was measured on; few labels, wide uncertainty.",
            [
                _target(
                    f"max by (version, metric) (mlrelease_online_metric_labels{{{SELECTION}}})",
                    "{{metric}} v{{version}}",
                )
            ],
            width=12,
            defaults={"unit": "none", "min": 0, "decimals": 0},
        ),
    ]
