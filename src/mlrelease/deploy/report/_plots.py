"""The report's figures as PNG bytes, drawn with matplotlib (the ``report`` extra).

matplotlib is imported when a report is drawn, never before, and only its object
API is used -- a ``Figure`` on an Agg canvas, no pyplot -- so drawing touches no
global figure state and needs no display. The style is matplotlib's default
whatever the user's matplotlibrc says, and the PNGs carry no "Software" text
(and PNGs from Agg carry no time), so the same report gives the same bytes with
the same matplotlib and fonts.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrelease.deploy.report._model import Report
from mlrelease.errors import ConfigError
from mlrelease.evaluation import Scored, confusion_matrix
from mlrelease.evaluation.metrics import label_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["render_plots"]

_THIS = "#2563eb"  # the version reported on: the colour the eye should follow
_CHAMPION = "#f79009"
_QUIET = "#98a2b3"
_DPI = 100
_MAX_ANNOTATED_CLASSES = 20  # beyond this, counts in the cells would not be readable
_LABEL_CHARACTERS = 14

_Draw = Callable[["Figure", Report], None]


def render_plots(report: Report) -> dict[str, bytes]:
    """PNG bytes of every plot in ``report.plots``, by slug.

    Raises ConfigError naming the extra to install when matplotlib is missing.
    """
    with _matplotlib() as new_figure:
        return {
            plot.slug: _png(new_figure(*_SIZES[plot.slug](report)), _DRAW[plot.slug], report)
            for plot in report.plots
        }


@contextmanager
def _matplotlib() -> Iterator[Callable[[float, float], Figure]]:
    """A maker of Agg figures, within matplotlib's default style."""
    try:
        import matplotlib
        import matplotlib.style
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "the report's plots need matplotlib: pip install 'mlrelease[report]'"
        ) from None

    def new_figure(width: float, height: float) -> Figure:
        figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        return figure

    with matplotlib.style.context("default"):
        yield new_figure


def _png(figure: Figure, draw: _Draw, report: Report) -> bytes:
    draw(figure, report)
    buffer = io.BytesIO()
    # "Software" would name the matplotlib version; Agg writes no creation time.
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


# -- classification ------------------------------------------------------------------


def _confusion(figure: Figure, report: Report) -> None:
    scored = _scored(report)
    table = confusion_matrix(scored)
    labels = [_safe(_short(label_text(label))) for label in table["labels"]]
    counts = np.asarray(table["matrix"], dtype=np.int64)
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, shrink=0.8, label="rows")
    ticks = list(range(len(labels)))
    axes.set_xticks(ticks, labels, rotation=45 if len(labels) > 4 else 0, ha="right")
    axes.set_yticks(ticks, labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    if len(labels) <= _MAX_ANNOTATED_CLASSES:
        middle = counts.max() / 2
        for (row, column), count in np.ndenumerate(counts):
            colour = "white" if count > middle else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour)
    axes.set_title(_safe(f"{_subject(report)}: confusion matrix ({scored.n_rows} rows)"))


def _roc(figure: Figure, report: Report) -> None:
    from sklearn.metrics import auc, roc_curve  # loaded with the model already

    scored = _scored(report)
    assert scored.proba is not None and scored.classes is not None  # planned only then
    classes = list(scored.classes)
    binary = len(classes) == 2
    columns = [1] if binary else range(len(classes))  # binary: the positive class, classes[1]
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color=_QUIET, linewidth=1, label="chance")
    for column in columns:
        positive = scored.y_true == classes[column]
        if positive.all() or not positive.any():
            continue  # one-vs-rest is undefined for a class absent from the rows
        fpr, tpr, _ = roc_curve(positive, scored.proba[:, column])
        name = "" if binary else f"{_safe(_short(label_text(classes[column])))} "
        axes.plot(fpr, tpr, linewidth=2 if binary else 1.5, label=f"{name}AUC {auc(fpr, tpr):.3f}")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    kind = f"positive class {label_text(classes[1])}" if binary else "one-vs-rest per class"
    axes.set_title(_safe(f"{_subject(report)}: ROC curve ({_short(kind, 40)})"))
    axes.legend(loc="lower right", fontsize="small")


# -- regression ----------------------------------------------------------------------


def _residuals(figure: Figure, report: Report) -> None:
    actual, predicted = _targets(_scored(report))
    axes = figure.add_subplot()
    axes.axhline(0, color=_QUIET, linewidth=1)
    axes.scatter(predicted, actual - predicted, s=12, alpha=0.6, color=_THIS, linewidths=0)
    axes.set_xlabel("predicted")
    axes.set_ylabel("residual (actual - predicted)")
    axes.set_title(_safe(f"{_subject(report)}: residuals ({len(actual)} rows)"))


def _predicted_vs_actual(figure: Figure, report: Report) -> None:
    actual, predicted = _targets(_scored(report))
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    axes = figure.add_subplot()
    axes.plot([low, high], [low, high], linestyle="--", color=_QUIET, linewidth=1, label="ideal")
    axes.scatter(actual, predicted, s=12, alpha=0.6, color=_THIS, linewidths=0)
    axes.set_xlabel("actual")
    axes.set_ylabel("predicted")
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_title(_safe(f"{_subject(report)}: predicted vs actual ({len(actual)} rows)"))


def _targets(scored: Scored) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return scored.y_true.astype(np.float64), scored.y_pred.astype(np.float64)


# -- history -------------------------------------------------------------------------


def _history(figure: Figure, report: Report) -> None:
    from matplotlib.ticker import MaxNLocator

    rows, columns = _grid(len(report.metrics))
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, metric in zip(grid.flat, report.metrics, strict=False):
        points = _series(report, metric.name)
        versions = [version for version, _ in points]
        values = [value for _, value in points]
        axes.plot(versions, values, marker="o", markersize=4, color=_QUIET, linewidth=1.5)
        _mark(axes, points, report.version, _THIS, f"v{report.version} (this report)", "o")
        if report.champion is not None:
            label = f"v{report.champion} (live in {report.against})"
            _mark(axes, points, report.champion, _CHAMPION, label, "*")
        arrow = {True: " ↑", False: " ↓", None: ""}[metric.higher_is_better]
        axes.set_title(_safe(metric.name + arrow), fontsize="medium")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.margins(x=0.08, y=0.12)  # the marks at the ends stay whole
        axes.set_xlabel("version", fontsize="small")
        axes.grid(True, color="#e4e7ec", linewidth=0.8)
    for axes in list(grid.flat)[len(report.metrics) :]:
        axes.set_visible(False)
    handles, labels = grid.flat[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="small")
    figure.suptitle(_safe(f"{report.model}: metrics across versions"))


def _series(report: Report, name: str) -> list[tuple[int, float]]:
    """(version, value) of every version that has a value for metric ``name``."""
    points = []
    for point in report.history:
        value = point.metrics.get(name)
        if value is not None:
            points.append((point.version, value))
    return points


def _mark(
    axes: Axes,
    points: Sequence[tuple[int, float]],
    version: int,
    colour: str,
    label: str,
    marker: str,
) -> None:
    for number, value in points:
        if number == version:
            size = 14 if marker == "*" else 9
            axes.plot([number], [value], marker=marker, markersize=size, color=colour, label=label)


def _grid(count: int) -> tuple[int, int]:
    columns = min(3, max(count, 1))
    return math.ceil(max(count, 1) / columns), columns


# -- shared --------------------------------------------------------------------------


def _sizes_confusion(report: Report) -> tuple[float, float]:
    classes = len(confusion_matrix(_scored(report))["labels"])
    side = min(4.5 + 0.35 * max(classes - 2, 0), 14.0)
    return side + 1.5, side


def _sizes_history(report: Report) -> tuple[float, float]:
    rows, columns = _grid(len(report.metrics))
    return 3.6 * columns + 0.4, 2.7 * rows + 1.0


_DRAW: dict[str, _Draw] = {
    "confusion-matrix": _confusion,
    "roc": _roc,
    "residuals": _residuals,
    "predicted-vs-actual": _predicted_vs_actual,
    "metric-history": _history,
}
_SIZES: dict[str, Callable[[Report], tuple[float, float]]] = {
    "confusion-matrix": _sizes_confusion,
    "roc": lambda _: (6.0, 5.2),
    "residuals": lambda _: (6.4, 4.4),
    "predicted-vs-actual": lambda _: (6.0, 5.4),
    "metric-history": _sizes_history,
}


def _scored(report: Report) -> Scored:
    if report.scored is None:  # build_report plans these plots only with predictions
        raise ConfigError(f"{_subject(report)} has no predictions to plot")
    return report.scored


def _subject(report: Report) -> str:
    return f"{report.model} v{report.version}"


def _short(text: str, limit: int = _LABEL_CHARACTERS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe(text: str) -> str:
    """Text drawn as it is: a ``$`` would otherwise start matplotlib's math mode."""
    return text.replace("$", r"\$")
