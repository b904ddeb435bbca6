"""Reference profile of training data, stored as JSON with each model version.

Drift checks later compare live data with it (``mlrelease.monitoring.drift``):
numeric columns by PSI or Jensen-Shannon over the quantile bins recorded here
(binned with ``bin_fractions``, so both sides cut the same way), or by
Kolmogorov-Smirnov or Wasserstein against the quantile sketch; categorical ones by
chi-square, PSI or Jensen-Shannon over the category shares.

The profile is plain JSON — ints, floats, strings, lists, dicts, and None where a
value is undefined (never NaN or infinity)::

    {"format_version": 2, "n_rows": 569,
     "features": {name: column profile, ...},
     "predictions": {"prediction": column profile} | None}

Every column profile has ``kind`` (see ``schema.kind_of``), ``count`` (non-missing
values), ``missing_fraction`` and ``distribution``, which says what else it holds:

- ``"quantile_bins"`` (int, float): ``min``, ``max``, ``mean``, ``std``,
  ``bin_edges``, ``bin_fractions`` (share of non-missing values per bin) and
  ``sketch``: the finite values' quantiles at ``linspace(0, 1, k + 1)`` with
  ``k = min(finite count - 1, 200)``, so up to 201 finite values it is exactly the
  sorted values, and beyond that 201 points of the quantile function (empty when
  there are no finite values);
- ``"categories"`` (bool, category, string): ``frequencies``, the share of each
  of the most frequent values (as text) plus ``"__other__"`` for all the rest;
- ``None`` (datetime): ``min`` and ``max`` as ISO 8601 text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from mlrelease.data.schema import kind_of
from mlrelease.errors import ConfigError, DataError

__all__ = [
    "OTHER",
    "PROFILE_FORMAT_VERSION",
    "SKETCH_INTERVALS",
    "bin_fractions",
    "build_profile",
]

PROFILE_FORMAT_VERSION: Final = 2
OTHER: Final = "__other__"
# Intervals of the quantile sketch: 201 points keep a profile small (a few KB per
# column) while the CDF drawn through them stays within about 1/200 of the data's.
SKETCH_INTERVALS: Final = 200

# Up to this many interior edges, bin_fractions counts per edge rather than sorting.
_COUNTED_EDGES: Final = 64

_NUMERIC_KINDS: Final = frozenset({"int", "float"})
_CATEGORICAL_KINDS: Final = frozenset({"bool", "category", "string"})

ColumnProfile = dict[str, Any]


def build_profile(
    X: pd.DataFrame,
    *,
    predictions: np.ndarray | None = None,
    n_bins: int = 10,
    max_categories: int = 20,
) -> dict[str, Any]:
    """Profile every column of ``X`` and, if given, the model's ``predictions`` on it.

    Float predictions (regression values, probabilities) get quantile bins; any
    other dtype is taken as class labels and gets category shares. A 2-D array is
    profiled column by column as ``prediction_0``, ``prediction_1``, ...
    """
    if n_bins < 1:
        raise ConfigError(f"n_bins must be 1 or more, got {n_bins}")
    if max_categories < 1:
        raise ConfigError(f"max_categories must be 1 or more, got {max_categories}")
    features = {
        str(name): _column_profile(X[name], n_bins=n_bins, max_categories=max_categories)
        for name in X.columns
    }
    return {
        "format_version": PROFILE_FORMAT_VERSION,
        "n_rows": len(X),
        "features": features,
        "predictions": None
        if predictions is None
        else _predictions_profile(predictions, len(X), n_bins, max_categories),
    }


def bin_fractions(
    values: np.ndarray, edges: Sequence[float], *, assume_sorted: bool = False
) -> list[float]:
    """Share of ``values`` in each bin between consecutive ``edges``.

    Bin ``i`` holds ``edges[i] <= v < edges[i + 1]``; the first and last bins are
    open-ended, so values outside the reference range still land somewhere.
    Missing values must be removed first. ``assume_sorted`` (the caller promises
    ascending ``values``) finds the bins' bounds by binary search: the same shares,
    in time independent of ``len(values)``.
    """
    n_bins = max(len(edges) - 1, 1)
    if len(values) == 0:
        return [0.0] * n_bins
    values = np.asarray(values, dtype=float)
    interior = np.asarray(edges[1:-1], dtype=float)
    # Values below each interior edge; bin i lies between consecutive counts.
    if assume_sorted:
        below = np.searchsorted(values, interior, side="left")
    elif interior.size <= _COUNTED_EDGES:
        # A vectorised comparison per edge beats a binary search per value several times.
        below = np.array([np.count_nonzero(values < edge) for edge in interior], dtype=np.intp)
    else:
        below = np.searchsorted(np.sort(values), interior, side="left")
    counts = np.diff(np.concatenate([[0], below, [len(values)]]))
    return [float(share) for share in counts / len(values)]


def _predictions_profile(
    predictions: np.ndarray, n_rows: int, n_bins: int, max_categories: int
) -> dict[str, ColumnProfile]:
    if predictions.ndim not in (1, 2):
        raise DataError(f"predictions must be a 1-D or 2-D array, got {predictions.ndim}-D")
    if len(predictions) != n_rows:
        raise DataError(f"got {len(predictions)} predictions for {n_rows} rows of features")
    outputs = (
        {"prediction": predictions}
        if predictions.ndim == 1
        else {f"prediction_{i}": predictions[:, i] for i in range(predictions.shape[1])}
    )
    profiles = {}
    for name, values in outputs.items():
        column = pd.Series(values, name=name)
        # Classifiers' labels may be ints; only float output is a quantity to bin.
        as_labels = kind_of(column) != "float"
        profiles[name] = _column_profile(
            column, n_bins=n_bins, max_categories=max_categories, as_categories=as_labels
        )
    return profiles


def _column_profile(
    column: pd.Series, *, n_bins: int, max_categories: int, as_categories: bool = False
) -> ColumnProfile:
    kind = kind_of(column)
    present = column.dropna()
    missing = len(column) - len(present)
    profile: ColumnProfile = {
        "kind": kind,
        "count": len(present),
        "missing_fraction": missing / len(column) if len(column) else 0.0,
    }
    if as_categories or kind in _CATEGORICAL_KINDS:
        return profile | {"distribution": "categories"} | _categories(present, max_categories)
    if kind in _NUMERIC_KINDS:
        values = present.to_numpy(dtype=float)
        return profile | {"distribution": "quantile_bins"} | _quantile_bins(values, n_bins)
    return profile | {
        "distribution": None,
        "min": present.min().isoformat() if len(present) else None,
        "max": present.max().isoformat() if len(present) else None,
    }


def _quantile_bins(values: np.ndarray, n_bins: int) -> dict[str, Any]:
    # One sort serves the edges, the sketch and the bin counts.
    ordered = np.sort(values)
    # Infinities would turn the moments and edges into inf/NaN; they still count in
    # the outer bins' fractions below. Sorted, they sit at both ends.
    finite = ordered[np.searchsorted(ordered, -np.inf, "right") : np.searchsorted(ordered, np.inf)]
    if finite.size == 0:
        return {
            "min": None,
            "max": None,
            "mean": None,
            "std": None,
            "bin_edges": [],
            "bin_fractions": [],
            "sketch": [],
        }

    edges = np.unique(_sorted_quantiles(finite, np.linspace(0, 1, n_bins + 1)))
    if edges.size == 1:  # a constant column: one bin, [v, v]
        edges = np.repeat(edges, 2)
    return {
        "min": float(finite[0]),
        "max": float(finite[-1]),
        "mean": _json_float(finite.mean()),
        "std": _json_float(finite.std(ddof=1)) if finite.size > 1 else None,
        "bin_edges": [float(edge) for edge in edges],
        "bin_fractions": bin_fractions(ordered, edges.tolist(), assume_sorted=True),
        "sketch": _sketch(finite),
    }


def _sketch(ordered: np.ndarray) -> list[float]:
    """The sorted finite values themselves, or 201 points of their quantile function."""
    if ordered.size <= SKETCH_INTERVALS + 1:
        # Every value, exactly: drift tests on small references then equal scipy's.
        return [float(value) for value in ordered]
    points = _sorted_quantiles(ordered, np.linspace(0, 1, SKETCH_INTERVALS + 1))
    # Interpolation rounding could make neighbours step back by an ulp; readers
    # binary-search the sketch, so keep it sorted.
    return [float(value) for value in np.maximum.accumulate(points)]


def _sorted_quantiles(ordered: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``np.quantile(ordered, probabilities)`` (its default "linear" method) for sorted data.

    np.quantile partitions its input first, which costs more than the sort already
    done; on sorted values the quantiles are a lookup and a blend of neighbours,
    computed with NumPy's own formulas so the results are the same.
    """
    last = ordered.size - 1
    position = last * probabilities  # NumPy's "virtual index" for this method
    below = np.clip(np.floor(position), 0, last).astype(np.intp)
    above = np.minimum(below + 1, last)
    low, high = ordered[below], ordered[above]
    weight = position - below
    step = high - low
    # NumPy's blend: from the nearer neighbour, so weight 1 gives ``high`` exactly.
    blended: np.ndarray = np.where(weight >= 0.5, high - step * (1 - weight), low + step * weight)
    return blended


def _categories(present: pd.Series, max_categories: int) -> dict[str, Any]:
    counts = present.astype(str).value_counts()
    # Ties broken by value, so the same data always lists the same categories.
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    total = int(counts.sum())
    top = counts.iloc[:max_categories]
    frequencies = {str(value): int(count) / total for value, count in top.items()}
    frequencies[OTHER] = int(counts.iloc[max_categories:].sum()) / total if total else 0.0
    return {"frequencies": frequencies}


def _json_float(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
