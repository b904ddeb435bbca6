"""A model's monitoring page: the newest drift report of an environment, and the reports over time.

The figures are the stored reports ``mlrelease monitor`` and the controller write;
this page only reads them. The histograms are the report's own (reference shares
from the version's profile, current shares from the window), drawn by the same
``histogram_svg`` the CLI's ``--html`` report uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from mlrelease.client import Client
from mlrelease.monitoring.html import histogram_svg
from mlrelease.monitoring.reports import recent_reports
from mlrelease.ui.charts import Series, line_chart
from mlrelease.ui.pages.overview import environment_order
from mlrelease.ui.routing import Pages, View

__all__ = ["pages"]

pages = Pages()

HISTORY = 50  # reports behind the charts
MOST_FEATURE_CHARTS = 8  # the features beyond these are in the table

Report = Mapping[str, Any]
TimeFormat = Callable[[float], str]


@dataclass(frozen=True)
class FeatureRow:
    name: str
    method: str
    score: float | None
    threshold: float | None
    p_value: bool  # the score is a p-value: drift when it falls *below* the threshold
    drifted: bool
    note: str


@dataclass(frozen=True)
class Histogram:
    svg: str  # from histogram_svg, which escapes every text it places
    caption: str


@dataclass(frozen=True)
class Summary:
    """The newest report's header: when, what, how many rows, and the verdict."""

    id: int | None
    created_at: str | None
    version: int | None
    rows: int | None
    min_rows: int | None
    window_start: str | None
    window_end: str | None
    notes: list[str]
    judged: bool
    drifted: bool
    drifted_count: int
    compared: int
    share: float | None
    share_threshold: float | None


@dataclass(frozen=True)
class Chart:
    svg: str  # from line_chart, which escapes every text it places


@dataclass(frozen=True)
class Trends:
    overall: list[Chart]  # the drifted share and the live metrics
    features: list[Chart]  # one per feature that drifted in any report
    drifting: int  # features that drifted in any report (more than ``features`` may show)


@pages.get("/models/{model}/monitoring")
def monitoring(view: View, model: str) -> Response:
    client = view.client
    info = client.registry.model(model)  # an unknown model is a 404
    environment = view.request.query_params.get("environment") or _watched(client, model)
    environments = environment_order(client, info.aliases)
    if environment not in environments:
        environments = [*environments, environment]
    reports = recent_reports(client.store, model, environment, limit=HISTORY)
    newest = reports[0] if reports else None
    return view.render(
        "monitoring.html",
        model=info,
        environment=environment,
        environments=environments,
        report=_summary(newest) if newest else None,
        features=_feature_rows(newest) if newest else [],
        histograms=_histograms(newest) if newest else [],
        metrics=_entries(newest.get("metrics")) if newest else [],
        trends=_charts(list(reversed(reports))),
        history=len(reports),
    )


def _watched(client: Client, model: str) -> str:
    """The environment the project monitors when the model is the project's, else production."""
    spec = client.project.spec if client.project else None
    return spec.monitored_environment if spec and spec.model == model else "production"


# -- the newest report ----------------------------------------------------------------


def _summary(report: Report) -> Summary:
    compared = [e for e in _entries(report.get("features")) if e.get("statistic") is not None]
    notes = report.get("notes")
    return Summary(
        id=_int(report.get("id")),
        created_at=_text(report.get("created_at")),
        version=_int(report.get("version")),
        rows=_int(report.get("rows")),
        min_rows=_int(report.get("min_rows")),
        window_start=_text(report.get("window_start")),
        window_end=_text(report.get("window_end")),
        notes=[str(note) for note in notes if note] if isinstance(notes, list) else [],
        judged=report.get("judged") is True,
        drifted=report.get("drifted") is True,
        drifted_count=sum(1 for entry in compared if entry.get("drifted") is True),
        compared=len(compared),
        share=_finite(report.get("drift_share")),
        share_threshold=_finite(report.get("share_threshold")),
    )


def _feature_rows(report: Report) -> list[FeatureRow]:
    """The report's features, drifted first and the worst first within each group."""
    rows = [
        FeatureRow(
            name=str(entry.get("feature", "")),
            method=str(entry.get("method", "")),
            score=_finite(entry.get("score")),
            threshold=_finite(entry.get("threshold")),
            p_value=entry.get("p_value") is not None,
            drifted=entry.get("drifted") is True,
            note=str(entry.get("note") or ""),
        )
        for entry in _entries(report.get("features"))
    ]
    return sorted(rows, key=lambda row: (not row.drifted, -_severity(row), row.name))


def _severity(row: FeatureRow) -> float:
    """How far past its threshold a score is, comparable across methods (above 1: drifted)."""
    if row.score is None:
        return -math.inf
    if row.p_value:  # a p-value drifts by falling below its threshold
        if row.threshold is None:
            return 1.0 - row.score
        return row.threshold / row.score if row.score > 0 else math.inf
    return row.score / row.threshold if row.threshold else row.score


def _histograms(report: Report) -> list[Histogram]:
    """Reference against current shares for each drifted feature, worst first."""
    by_name = {str(e.get("feature", "")): e for e in _entries(report.get("features"))}
    drawn = []
    for row in _feature_rows(report):
        entry = by_name[row.name]
        histogram = entry.get("histogram")
        if not row.drifted or not isinstance(histogram, Mapping):
            continue
        caption = (
            f"reference {_count(entry.get('reference_count'))} rows · "
            f"current {_count(entry.get('current_count'))} rows"
        )
        title = f"{row.name} · {row.method} {_short(row.score)}"
        drawn.append(Histogram(histogram_svg(histogram, title=title), caption))
    return drawn


# -- the reports over time ------------------------------------------------------------


def _charts(reports: Sequence[Report]) -> Trends:
    """The drifted share, each live metric and each drifting feature, oldest report first."""
    timed = [
        (at, report) for report in reports if (at := _epoch(report.get("created_at"))) is not None
    ]
    if not timed:
        return Trends([], [], 0)
    times = [at for at, _ in timed]
    placed = [report for _, report in timed]
    fmt = _time_format(times)
    overall = [_share_chart(placed, times, fmt), *_metric_charts(placed, times, fmt)]
    features, drifting = _feature_charts(placed, times, fmt)
    return Trends(overall, features, drifting)


def _feature_charts(
    reports: Sequence[Report], times: list[float], fmt: TimeFormat
) -> tuple[list[Chart], int]:
    """A small chart per feature that drifted in any report (the most often and furthest
    first, at most ``MOST_FEATURE_CHARTS``), and how many features drifted in all."""
    history: dict[str, list[FeatureRow | None]] = {}
    drifted_in: dict[str, int] = {}
    worst: dict[str, float] = {}
    for index, report in enumerate(reports):
        for row in _feature_rows(report):
            history.setdefault(row.name, [None] * len(reports))[index] = row
            if row.drifted:
                drifted_in[row.name] = drifted_in.get(row.name, 0) + 1
                worst[row.name] = max(worst.get(row.name, -math.inf), _severity(row))
    shown = sorted(drifted_in, key=lambda name: (-drifted_in[name], -worst[name], name))
    charts = [
        _feature_chart(name, history[name], times, fmt) for name in shown[:MOST_FEATURE_CHARTS]
    ]
    return charts, len(shown)


def _feature_chart(
    name: str, rows: Sequence[FeatureRow | None], times: list[float], fmt: TimeFormat
) -> Chart:
    newest = next(row for row in reversed(rows) if row is not None)
    points = [(x, row.score if row else None) for x, row in zip(times, rows, strict=True)]
    labels = [
        f"{_short(row.score)}{' drifted' if row.drifted else ''}" if row else "" for row in rows
    ]
    score = f"{newest.method} p-value" if newest.p_value else newest.method
    return Chart(
        line_chart(
            [Series(score, points, point_labels=labels)],
            title=name,
            y_label=score,
            x_format=fmt,
            threshold=newest.threshold,
            threshold_label="drift below" if newest.p_value else "drift at",
            height=200,
        )
    )


def _share_chart(reports: Sequence[Report], times: list[float], fmt: TimeFormat) -> Chart:
    shares = [_finite(report.get("drift_share")) for report in reports]
    limits = [
        limit for report in reports if (limit := _finite(report.get("share_threshold"))) is not None
    ]
    line = Series("drifted share", list(zip(times, shares, strict=True)))
    return Chart(
        line_chart(
            [line],
            title="Share of features that drifted",
            y_label="share",
            x_format=fmt,
            threshold=max(limits) if limits else None,
            threshold_label="dataset drift at",
        )
    )


def _metric_charts(reports: Sequence[Report], times: list[float], fmt: TimeFormat) -> list[Chart]:
    values: dict[str, list[float | None]] = {}
    notes: dict[str, list[str]] = {}
    bounds: dict[str, tuple[str, float]] = {}
    for index, report in enumerate(reports):
        for metric in _entries(report.get("metrics")):
            name = str(metric.get("name", ""))
            value = _finite(metric.get("value"))
            values.setdefault(name, [None] * len(reports))[index] = value
            notes.setdefault(name, [""] * len(reports))[index] = (
                f"{_short(value)} from {_count(metric.get('labels'))} labels"
            )
            low, high = _finite(metric.get("min")), _finite(metric.get("max"))
            if low is not None:
                bounds[name] = ("min", low)
            elif high is not None:
                bounds[name] = ("max", high)
    charts = []
    for name, points in values.items():
        label, bound = bounds.get(name, ("", None))
        line = Series(name, list(zip(times, points, strict=True)), point_labels=notes[name])
        charts.append(
            Chart(
                line_chart(
                    [line],
                    title=f"Live {name}",
                    y_label=name,
                    x_format=fmt,
                    threshold=bound,
                    threshold_label=label,
                )
            )
        )
    return charts


def _time_format(times: Sequence[float]) -> TimeFormat:
    """A short UTC label for a report's time, as precise as the span of the reports needs."""
    span = max(times) - min(times)
    pattern = "%H:%M:%S" if span < 3600 else "%m-%d %H:%M" if span < 7 * 86400 else "%Y-%m-%d"

    def label(x: float) -> str:
        return datetime.fromtimestamp(x, UTC).strftime(pattern)

    return label


# -- reading a report defensively: an older or partial document still renders ---------


def _entries(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _epoch(value: Any) -> float | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:  # no time: the report cannot be placed on a time axis
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _count(value: Any) -> str:
    number = _int(value)
    return "-" if number is None else f"{number:,}"


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
