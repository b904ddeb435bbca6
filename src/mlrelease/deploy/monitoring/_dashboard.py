"""``grafana-dashboard.json``: the dashboard around the panels, its variables and its grid.

The JSON is stable: panel ids follow the layout, the uid is derived from the
model and environment, and there are no timestamps.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from mlrelease.deploy.monitoring._options import Plan
from mlrelease.deploy.monitoring._panels import (
    DATASOURCE,
    SELECTION,
    overview_panels,
    quality_panels,
    role_panels,
    serving_panels,
    traffic_panels,
)

__all__ = ["SCHEMA_VERSION", "dashboard"]

SCHEMA_VERSION: Final = 39  # Grafana 10.4 / 11
_WIDTH: Final = 24  # Grafana's grid


def dashboard(plan: Plan) -> dict[str, Any]:
    sections = [
        ("Overview", overview_panels(plan)),
        ("Traffic and latency", traffic_panels()),
        ("Canary vs stable", role_panels()),
        ("Serving", serving_panels()),
        ("Drift and live metrics", quality_panels(plan)),
    ]
    title = "mlrelease" + (f": {plan.model}" if plan.model else "")
    title += f" ({plan.environment})" if plan.environment else ""
    return {
        "annotations": {"list": [_BUILTIN_ANNOTATION, _swap_annotation()]},
        "description": "Serving, releases, drift and live metrics of `mlrelease serve`.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": _layout(sections),
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["mlrelease"],
        "templating": {"list": _variables(plan)},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": _uid(plan),
        "version": 1,
        "weekStart": "",
    }


def _uid(plan: Plan) -> str:
    if plan.model is None and plan.environment is None:
        return "mlrelease-serving"
    key = f"{plan.model or ''}\0{plan.environment or ''}".encode()
    return "mlrelease-" + hashlib.sha256(key).hexdigest()[:16]


_BUILTIN_ANNOTATION: Final = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def _swap_annotation() -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "expr": f"sum(increase(mlrelease_model_swaps_total{{{SELECTION}}}[1m])) > 0",
        "iconColor": "orange",
        "name": "Model swaps",
        "step": "1m",
        "titleFormat": "served versions or traffic split changed",
    }


def _variables(plan: Plan) -> list[dict[str, Any]]:
    source = {"selected": True, "text": plan.datasource, "value": plan.datasource}
    return [
        {
            "current": source,
            "hide": 0,
            "includeAll": False,
            "label": "Data source",
            "multi": False,
            "name": "datasource",
            "options": [],
            "query": "prometheus",
            "refresh": 1,
            "regex": "",
            "type": "datasource",
        },
        _query_variable("model", "Model", "label_values(mlrelease_model_info, model)", plan.model),
        _query_variable(
            "env",
            "Environment",
            'label_values(mlrelease_model_info{model="$model"}, env)',
            plan.quality_environment,  # the project's monitored one, if no --env
        ),
    ]


def _query_variable(name: str, label: str, query: str, value: str | None) -> dict[str, Any]:
    current = {} if value is None else {"selected": True, "text": value, "value": value}
    return {
        "current": current,
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 2,  # on time range change: versions come and go
        "regex": "",
        "sort": 1,
        "type": "query",
    }


def _layout(sections: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Rows and panels on Grafana's 24-wide grid, left to right, ids in order."""
    panels: list[dict[str, Any]] = []
    y = 0
    for title, members in sections:
        row = {"collapsed": False, "panels": [], "title": title, "type": "row"}
        panels.append({**row, "gridPos": {"h": 1, "w": _WIDTH, "x": 0, "y": y}})
        y, x, tallest = y + 1, 0, 0
        for panel in members:
            width, height = panel.pop("_w"), panel.pop("_h")
            if x + width > _WIDTH:
                y, x, tallest = y + tallest, 0, 0
            panels.append({**panel, "gridPos": {"h": height, "w": width, "x": x, "y": y}})
            x, tallest = x + width, max(tallest, height)
        y += tallest
    return [{**panel, "id": number} for number, panel in enumerate(panels, start=1)]
