"""Pure helpers of the model pages: metric columns, comparisons, and residual plots as SVG.

Nothing here reads the store: the page handlers pass in the registry's records.
The residual plot escapes every text it places, like ``ui/charts.py``, so it may
be marked safe in a template.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, TypeGuard

from mlrelease.errors import ConfigError
from mlrelease.evaluation import Task, metric_def
from mlrelease.ui.charts import padded, ticks

__all__ = [
    "MetricDelta",
    "ParamDiff",
    "Residuals",
    "compare_metrics",
    "differing_params",
    "flatten",
    "gate_summary",
    "gate_threshold",
    "higher_is_better",
    "is_number",
    "metric_columns",
    "residual_plot",
    "shared_ranges",
]


def is_number(value: Any) -> TypeGuard[int | float]:
    """A finite int or float that a table or chart can show (bools are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def metric_columns(metrics: Iterable[Mapping[str, Any]]) -> list[str]:
    """The numeric metric names across ``metrics``, in the order they first appear."""
    names: dict[str, None] = {}
    for values in metrics:
        names.update((name, None) for name, value in values.items() if is_number(value))
    return list(names)


def higher_is_better(name: str, task: Task) -> bool | None:
    """The metric's direction from the catalogue; None for a metric it does not know."""
    try:
        return metric_def(name, task).higher_is_better
    except ConfigError:
        return None


@dataclass(frozen=True)
class MetricDelta:
    name: str
    a: Any
    b: Any
    diff: float | None  # b - a, when both are numbers
    verdict: str  # better, worse, same, or "" when the direction is unknown


def compare_metrics(a: Mapping[str, Any], b: Mapping[str, Any], task: Task) -> list[MetricDelta]:
    """Each metric of either version, with b - a and whether b is better, worse or the same."""
    rows = []
    for name in dict.fromkeys([*a, *b]):
        left, right = a.get(name), b.get(name)
        diff = right - left if is_number(left) and is_number(right) else None
        rows.append(MetricDelta(name, left, right, diff, _verdict(name, task, diff)))
    return rows


def _verdict(name: str, task: Task, diff: float | None) -> str:
    direction = higher_is_better(name, task)
    if diff is None or direction is None:
        return ""
    if diff == 0:
        return "same"
    return "better" if (diff > 0) == direction else "worse"


@dataclass(frozen=True)
class ParamDiff:
    name: str
    a: Any
    b: Any


def differing_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[ParamDiff]:
    """The parameters whose value differs (or that only one version has), in name order."""
    missing = object()
    return [
        ParamDiff(name, a.get(name), b.get(name))
        for name in sorted(set(a) | set(b))
        if a.get(name, missing) != b.get(name, missing)
    ]


def gate_summary(results: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(passed, total) of a version's recorded gate results."""
    return sum(1 for result in results if result.get("passed")), len(results)


def gate_threshold(metric: str, results: Sequence[Mapping[str, Any]]) -> float | None:
    """The fixed threshold a gate such as ``accuracy >= 0.8`` puts on ``metric``, if any.

    Gates comparing with a champion move with it, so they draw no line.
    """
    pattern = re.compile(rf"{re.escape(metric)}\s*(>=|<=|>|<)\s*[-+0-9.eE]+")
    for result in results:
        if pattern.fullmatch(str(result.get("gate", "")).strip()) and is_number(
            result.get("threshold")
        ):
            return float(result["threshold"])
    return None


def flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as ``(dotted.key, value)`` rows, for evidence kept as JSON."""
    rows: list[tuple[str, Any]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


# -- residual plots ----------------------------------------------------------------------


@dataclass(frozen=True)
class Residuals:
    """One version's predictions on an evaluation set: residual = actual - predicted."""

    predicted: Sequence[float]
    residual: Sequence[float]

    @property
    def rows(self) -> int:
        return len(self.predicted)

    @property
    def mean(self) -> float:
        return sum(self.residual) / len(self.residual) if self.residual else math.nan


Range = tuple[float, float]
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 14, 28, 40
_MAX_POINTS = 1500  # beyond this a scatter is a blot, and the page grows for nothing
_INK, _MUTED, _GRID, _ZERO = "#1d2430", "#5f6b7a", "#e4e8ee", "#b3261e"
_DOT = "#0072B2"


def shared_ranges(plots: Sequence[Residuals]) -> tuple[Range, Range]:
    """One x and one y range for all ``plots``, so side-by-side plots read alike."""
    xs = [x for plot in plots for x in plot.predicted if math.isfinite(x)]
    ys = [y for plot in plots for y in plot.residual if math.isfinite(y)]
    y_reach = max((abs(y) for y in ys), default=1.0) or 1.0  # zero sits in the middle
    return padded(min(xs, default=0.0), max(xs, default=1.0)), (-y_reach * 1.08, y_reach * 1.08)


def residual_plot(
    plot: Residuals,
    *,
    title: str,
    x_range: Range,
    y_range: Range,
    width: int = 460,
    height: int = 280,
) -> str:
    """An SVG scatter of residual against predicted value, with the zero line."""
    frame = _Frame(x_range, y_range, width, height)
    parts = [
        f'<svg class="chart residuals" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="600" fill="{_INK}">'
        f"{escape(title)}</text>",
        *frame.axes(),
    ]
    zero = frame.y(0.0)
    parts.append(
        f'<line x1="{_LEFT}" x2="{width - _RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}" '
        f'stroke="{_ZERO}" stroke-dasharray="5 4"/>'
    )
    step = max(1, math.ceil(plot.rows / _MAX_POINTS))  # an even thinning keeps the shape
    for x, y in list(zip(plot.predicted, plot.residual, strict=True))[::step]:
        if math.isfinite(x) and math.isfinite(y):
            parts.append(
                f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2.2" fill="{_DOT}" '
                f'fill-opacity="0.55"><title>predicted {x:.4g}, residual {y:.4g}</title></circle>'
            )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class _Frame:
    x_range: Range
    y_range: Range
    width: int
    height: int

    def x(self, value: float) -> float:
        low, high = self.x_range
        return _LEFT + (value - low) / (high - low) * (self.width - _LEFT - _RIGHT)

    def y(self, value: float) -> float:
        low, high = self.y_range
        return _TOP + (high - value) / (high - low) * (self.height - _TOP - _BOTTOM)

    def axes(self) -> list[str]:
        bottom, right = self.height - _BOTTOM, self.width - _RIGHT
        parts = [f'<line x1="{_LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#8a94a3"/>']
        for value in ticks(*self.y_range):
            y = self.y(value)
            parts.append(
                f'<line x1="{_LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>'
                f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                f'fill="{_MUTED}">{value:.4g}</text>'
            )
        for value in ticks(*self.x_range):
            parts.append(
                f'<text x="{self.x(value):.1f}" y="{bottom + 15}" text-anchor="middle" '
                f'font-size="11" fill="{_MUTED}">{value:.4g}</text>'
            )
        middle = (_TOP + bottom) / 2
        parts.append(
            f'<text x="{(_LEFT + right) / 2}" y="{self.height - 6}" text-anchor="middle" '
            f'font-size="11" fill="{_MUTED}">predicted</text>'
            f'<text x="12" y="{middle}" text-anchor="middle" font-size="11" fill="{_MUTED}" '
            f'transform="rotate(-90 12 {middle})">actual - predicted</text>'
        )
        return parts
