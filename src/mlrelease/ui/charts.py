"""Line charts as inline SVG, drawn here: no plotting library, no script, no request out.

Every text placed in a chart is escaped, so a chart may carry user-chosen names
(metrics, features) and still be marked safe in a template.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = ["PALETTE", "Series", "line_chart", "padded", "ticks"]

# Colour-blind-safe (Okabe-Ito), in the order series get them.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000")
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 56, 14, 44, 40


@dataclass(frozen=True)
class Series:
    """One line: ``(x, y)`` points in x order; a ``None`` y leaves a gap."""

    name: str
    points: Sequence[tuple[float, float | None]]
    dashed: bool = False
    point_labels: Sequence[str] = field(default_factory=tuple)  # a tooltip per point


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    x_format: Callable[[float], str] = lambda x: f"{x:g}",
    threshold: float | None = None,
    threshold_label: str = "threshold",
    width: int = 560,
    height: int = 240,
) -> str:
    """An SVG line chart of ``series`` with axes, ticks, a legend and an optional threshold."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points if y is not None and math.isfinite(y)]
    if threshold is not None:
        ys.append(threshold)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{_MARGIN_LEFT}" y="16" font-size="13" font-weight="600" fill="#1d2430">'
        f"{escape(title)}</text>",
    ]
    if not xs or not ys:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="12" '
            'fill="#5f6b7a">no data yet</text></svg>'
        )
        return "".join(parts)
    frame = _Frame(min(xs), max(xs), *padded(min(ys), max(ys)), width, height)
    parts.extend(frame.axes(x_label, y_label, sorted(set(xs)), x_format))
    if threshold is not None:
        y = frame.y(threshold)
        parts.append(
            f'<line x1="{_MARGIN_LEFT}" x2="{width - _MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#b3261e" stroke-width="1" stroke-dasharray="5 4"/>'
            f'<text x="{width - _MARGIN_RIGHT}" y="{y - 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#b3261e">{escape(threshold_label)} {threshold:.4g}</text>'
        )
    for index, line in enumerate(series):
        parts.extend(_line(frame, line, PALETTE[index % len(PALETTE)]))
    parts.extend(_legend(series, width))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class _Frame:
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    width: int
    height: int

    def x(self, value: float) -> float:
        span = self.x_max - self.x_min
        inner = self.width - _MARGIN_LEFT - _MARGIN_RIGHT
        if span == 0:
            return _MARGIN_LEFT + inner / 2
        return _MARGIN_LEFT + (value - self.x_min) / span * inner

    def y(self, value: float) -> float:
        inner = self.height - _MARGIN_TOP - _MARGIN_BOTTOM
        return _MARGIN_TOP + (self.y_max - value) / (self.y_max - self.y_min) * inner

    def axes(
        self, x_label: str, y_label: str, xs: list[float], x_format: Callable[[float], str]
    ) -> list[str]:
        bottom = self.height - _MARGIN_BOTTOM
        right = self.width - _MARGIN_RIGHT
        parts = [
            f'<line x1="{_MARGIN_LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#8a94a3"/>'
        ]
        for value in ticks(self.y_min, self.y_max):
            y = self.y(value)
            parts.append(
                f'<line x1="{_MARGIN_LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" '
                'stroke="#e4e8ee"/>'
                f'<text x="{_MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                f'fill="#5f6b7a">{value:.4g}</text>'
            )
        step = max(1, math.ceil(len(xs) / 8))  # at most about 8 labels on the x axis
        shown = xs[::step]
        for value in shown:
            # The outermost labels lean inwards, so neither is cut at the chart's edge.
            anchor = "middle"
            if len(shown) > 1 and value == shown[0]:
                anchor = "start"
            elif len(shown) > 1 and value == shown[-1]:
                anchor = "end"
            parts.append(
                f'<text x="{self.x(value):.1f}" y="{bottom + 15}" text-anchor="{anchor}" '
                f'font-size="11" fill="#5f6b7a">{escape(x_format(value))}</text>'
            )
        if x_label:
            parts.append(
                f'<text x="{(_MARGIN_LEFT + right) / 2}" y="{self.height - 6}" '
                f'text-anchor="middle" font-size="11" fill="#5f6b7a">{escape(x_label)}</text>'
            )
        if y_label:
            parts.append(
                f'<text x="12" y="{(_MARGIN_TOP + bottom) / 2}" text-anchor="middle" '
                f'font-size="11" fill="#5f6b7a" transform="rotate(-90 12 '
                f'{(_MARGIN_TOP + bottom) / 2})">{escape(y_label)}</text>'
            )
        return parts


def _line(frame: _Frame, line: Series, colour: str) -> list[str]:
    parts: list[str] = []
    run: list[str] = []
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    for x, y in [*line.points, (math.nan, None)]:  # the sentinel ends the last run
        if y is not None and math.isfinite(y):
            run.append(f"{frame.x(x):.1f},{frame.y(y):.1f}")
            continue
        if len(run) > 1:
            parts.append(
                f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dash}/>'
            )
        run = []
    for index, (x, y) in enumerate(line.points):
        if y is None or not math.isfinite(y):
            continue
        label = line.point_labels[index] if index < len(line.point_labels) else f"{y:.4g}"
        parts.append(
            f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="3" fill="{colour}">'
            f"<title>{escape(line.name)}: {escape(label)}</title></circle>"
        )
    return parts


def _legend(series: Sequence[Series], width: int) -> list[str]:
    """Under the title, left to right, wrapping onto a new row when the width is used up."""
    parts: list[str] = []
    x, y = float(_MARGIN_LEFT), 30
    for index, line in enumerate(series):
        size = 24 + 6.5 * len(line.name)
        if x + size > width - _MARGIN_RIGHT and x > _MARGIN_LEFT:
            x, y = _MARGIN_LEFT, y + 14
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:.0f}" y="{y}" font-size="11" fill="#1d2430">'
            f"{escape(line.name)}</text>"
        )
        x += size
    return parts


def padded(low: float, high: float) -> tuple[float, float]:
    """``[low, high]`` widened a little, so no point sits on the frame."""
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.08
    return low - pad, high + pad


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values inside ``[low, high]``: steps of 1, 2 or 5 times a power of ten."""
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    # Snapping to the step keeps 0.30000000000000004 off the axis.
    return [round(first + i * step, 12) for i in range(int((high - first) / step) + 1)]
