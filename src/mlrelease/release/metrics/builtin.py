"""The builtin metrics provider: the prediction log and ground-truth feedback in the store.

One measurement costs one SQL query (two when ``divergence`` is asked: the
model's task): every logged row of the candidate (its version in its role) and of
stable (its version, role ``stable``) with ``start <= timestamp < end``, with the
label of that row when one came. The rest is numpy.

* ``requests``, ``error_rate`` and ``latency_*`` count requests, not rows: a request
  of 100 rows is logged as 100 rows sharing one latency and status, so only row 0
  of each request is read. ``error_rate`` is the share of statuses >= 500.
* ``accuracy`` and ``macro_f1`` compare labels as text (``1``, ``1.0`` and ``"1"``
  are one label); ``rmse`` and ``mae`` use the rows whose label and prediction are
  both numbers. Rows without a label are not counted.
* ``divergence`` is how differently the candidate predicts than stable:

  - shadow: both answered the same requests, so rows are paired by request id and
    row. Classification: the share of paired rows whose labels differ.
    Regression: the mean absolute difference of the two predictions.
  - canary: each request went to one version only, so the two versions' answers
    are compared as distributions. Classification: the total variation distance
    between the predicted-label distributions (0 same, 1 disjoint). Regression:
    the Kolmogorov-Smirnov distance between the prediction distributions.
    Both are biased upwards on small samples (two samples of one distribution
    rarely match exactly), by about ``sqrt(labels / rows)``; set thresholds above that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Select, and_, or_, select

from mlrelease.evaluation.metrics import Scored, compute_metric, label_text
from mlrelease.release.metrics import (
    Evidence,
    FloatArray,
    Reading,
    Side,
    Subject,
    check_window,
    count,
    mean_of,
    missing,
    proportion,
    quantile_of,
    resampled_rows,
    two_samples,
)
from mlrelease.store import Store, tables

__all__ = ["BuiltinProvider"]

_P = tables.predictions.c
_F = tables.feedback.c
_QUANTILES: Final = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}
_NEEDS_OUTPUTS: Final = frozenset({"accuracy", "macro_f1", "rmse", "mae", "divergence"})


@dataclass(frozen=True)
class _Rows:
    """One side's logged rows in the window."""

    latency: FloatArray  # seconds, one per request
    status: np.ndarray[Any, np.dtype[np.int64]]  # one per request
    keys: list[tuple[str, int]]  # (request_id, row) of every row (when outputs were read)
    predictions: list[Any]
    labels: list[Any]  # None where no label came


class BuiltinProvider:
    """Reads the subject's window from the prediction log; see the module docstring."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(
        self,
        readings: Collection[Reading],
        subject: Subject,
        *,
        start: datetime,
        end: datetime,
    ) -> dict[Reading, Evidence]:
        check_window(start, end)
        if not readings:
            return {}
        names = {reading.metric for reading in readings}
        with_outputs = bool(names & _NEEDS_OUTPUTS)
        query = _window_query(subject, start, end, with_outputs=with_outputs)
        with self._store.read() as connection:
            found = connection.execute(query).all()
            task = _task(connection, subject.model) if "divergence" in names else None
        sides = _split(found, subject, with_outputs)
        return {reading: _evidence(reading, sides, subject.role, task) for reading in readings}


def _split(found: Sequence[Any], subject: Subject, with_outputs: bool) -> dict[Side, _Rows]:
    collected: dict[Side, list[Any]] = {"candidate": [], "stable": []}
    for row in found:
        is_candidate = row.version == subject.candidate and row.role == subject.role
        collected["candidate" if is_candidate else "stable"].append(row)
    return {side: _rows(rows, with_outputs) for side, rows in collected.items()}


def _task(connection: Connection, model: str) -> str | None:
    query = select(tables.models.c.task).where(tables.models.c.name == model)
    task = connection.execute(query).scalar_one_or_none()
    return None if task is None else str(task)


def _window_query(
    subject: Subject, start: datetime, end: datetime, *, with_outputs: bool
) -> Select[Any]:
    columns: list[Any] = [_P.version, _P.role, _P.request_id, _P.row, _P.status, _P.latency_ms]
    sides = or_(
        and_(_P.version == subject.candidate, _P.role == subject.role),
        and_(_P.version == subject.stable, _P.role == "stable"),
    )
    where = [
        _P.model == subject.model,
        _P.environment == subject.environment,
        _P.timestamp >= start,
        _P.timestamp < end,
        sides,
    ]
    if not with_outputs:
        return select(*columns).where(*where, _P.row == 0)
    joined = tables.predictions.outerjoin(
        tables.feedback, and_(_F.request_id == _P.request_id, _F.row == _P.row)
    )
    return select(*columns, _P.outputs, _F.label).select_from(joined).where(*where)


def _rows(found: Sequence[Any], with_outputs: bool) -> _Rows:
    firsts = [row for row in found if row.row == 0]
    latency = np.array([row.latency_ms for row in firsts], dtype=np.float64) / 1000.0
    status = np.array([row.status for row in firsts], dtype=np.int64)
    if not with_outputs:
        return _Rows(latency, status, [], [], [])
    return _Rows(
        latency,
        status,
        keys=[(row.request_id, row.row) for row in found],
        predictions=[_field(row.outputs, "prediction") for row in found],
        labels=[_field(row.label, "value") for row in found],
    )


def _field(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


# --- metrics ----------------------------------------------------------------------


def _evidence(reading: Reading, sides: dict[Side, _Rows], role: str, task: str | None) -> Evidence:
    rows = sides[reading.side]
    name = reading.metric
    if name == "divergence":
        if reading.side == "stable":
            return missing("divergence compares the candidate with stable; stable has none")
        return _divergence(sides, role, task)
    if name in _REQUEST_METRICS:
        return _REQUEST_METRICS[name](rows)
    if name in _LABEL_METRICS:
        return _LABEL_METRICS[name](rows)
    return missing(f"the builtin provider does not measure {name!r}")


def _requests(rows: _Rows) -> Evidence:
    return count(len(rows.status))


def _error_rate(rows: _Rows) -> Evidence:
    return proportion(int(np.count_nonzero(rows.status >= 500)), len(rows.status))


def _latency_mean(rows: _Rows) -> Evidence:
    return mean_of(rows.latency)


def _latency_quantile(q: float) -> Callable[[_Rows], Evidence]:
    return lambda rows: quantile_of(rows.latency, q)


_REQUEST_METRICS: Final[dict[str, Callable[[_Rows], Evidence]]] = {
    "requests": _requests,
    "error_rate": _error_rate,
    "latency_mean": _latency_mean,
    **{name: _latency_quantile(q) for name, q in _QUANTILES.items()},
}


def _class_pairs(rows: _Rows) -> tuple[list[str], list[str]]:
    pairs = [
        (label_text(label), label_text(prediction))
        for label, prediction in zip(rows.labels, rows.predictions, strict=True)
        if label is not None and prediction is not None
    ]
    return [pair[0] for pair in pairs], [pair[1] for pair in pairs]


def _accuracy(rows: _Rows) -> Evidence:
    truth, predicted = _class_pairs(rows)
    hits = sum(a == b for a, b in zip(truth, predicted, strict=True))
    return proportion(hits, len(truth)) if truth else missing("no labelled rows in the window")


def _macro_f1(rows: _Rows) -> Evidence:
    truth, predicted = _class_pairs(rows)
    if not truth:
        return missing("no labelled rows in the window")
    scored = Scored(np.array(truth), np.array(predicted))
    return resampled_rows(
        len(truth), lambda picked: compute_metric("macro_f1", "classification", scored, picked)
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _residuals(rows: _Rows) -> FloatArray:
    pairs = [
        (_number(label), _number(prediction))
        for label, prediction in zip(rows.labels, rows.predictions, strict=True)
    ]
    return np.array([t - p for t, p in pairs if t is not None and p is not None], np.float64)


def _rmse(rows: _Rows) -> Evidence:
    residuals = _residuals(rows)
    if not len(residuals):
        return missing("no rows with a numeric label and prediction in the window")
    squares = mean_of(np.square(residuals))
    draw = squares.draw

    def roots(rng: np.random.Generator, k: int) -> FloatArray:
        assert draw is not None  # mean_of of values always has a spread
        return np.sqrt(np.maximum(draw(rng, k), 0.0))

    return Evidence(math.sqrt(squares.value), squares.samples, roots)


def _mae(rows: _Rows) -> Evidence:
    residuals = _residuals(rows)
    if not len(residuals):
        return missing("no rows with a numeric label and prediction in the window")
    return mean_of(np.abs(residuals))


_LABEL_METRICS: Final[dict[str, Callable[[_Rows], Evidence]]] = {
    "accuracy": _accuracy,
    "macro_f1": _macro_f1,
    "rmse": _rmse,
    "mae": _mae,
}


# --- divergence -------------------------------------------------------------------


def _divergence(sides: dict[Side, _Rows], role: str, task: str | None) -> Evidence:
    if task is None:
        return missing("the model is not in the registry, so its task is unknown")
    candidate, stable = sides["candidate"], sides["stable"]
    if role == "shadow":
        return _paired_divergence(candidate, stable, task)
    if task == "classification":
        a: list[Any] = [label_text(p) for p in candidate.predictions if p is not None]
        b: list[Any] = [label_text(p) for p in stable.predictions if p is not None]
        distance = _total_variation
    else:
        a = [n for n in map(_number, candidate.predictions) if n is not None]
        b = [n for n in map(_number, stable.predictions) if n is not None]
        distance = _kolmogorov_smirnov
    # As positions among the sorted distinct values, each distance is a bincount away.
    values, codes = np.unique(np.array(a + b), return_inverse=True)
    size = len(values)
    return two_samples(
        codes[: len(a)].tolist(), codes[len(a) :].tolist(), lambda x, y: distance(x, y, size)
    )


def _paired_divergence(candidate: _Rows, stable: _Rows, task: str) -> Evidence:
    stable_answer = dict(zip(stable.keys, stable.predictions, strict=True))
    pairs = [
        (prediction, stable_answer[key])
        for key, prediction in zip(candidate.keys, candidate.predictions, strict=True)
        if key in stable_answer and prediction is not None and stable_answer[key] is not None
    ]
    if not pairs:
        return missing("no request was answered by both the shadow and stable in the window")
    if task == "classification":
        differ = sum(label_text(a) != label_text(b) for a, b in pairs)
        return proportion(differ, len(pairs))
    numbers = [(_number(a), _number(b)) for a, b in pairs]
    gaps = np.array([abs(a - b) for a, b in numbers if a is not None and b is not None])
    if not len(gaps):
        return missing("no paired numeric predictions in the window")
    return mean_of(gaps)


def _shares(codes: npt.NDArray[Any], size: int) -> FloatArray:
    shares: FloatArray = np.bincount(codes, minlength=size) / len(codes)
    return shares


def _total_variation(a: npt.NDArray[Any], b: npt.NDArray[Any], size: int) -> float:
    """Half the L1 distance between the two label distributions."""
    return float(0.5 * np.abs(_shares(a, size) - _shares(b, size)).sum())


def _kolmogorov_smirnov(a: npt.NDArray[Any], b: npt.NDArray[Any], size: int) -> float:
    """The largest gap between the two empirical CDFs (codes keep the values' order)."""
    gap = np.cumsum(_shares(a, size)) - np.cumsum(_shares(b, size))
    return float(np.max(np.abs(gap)))
