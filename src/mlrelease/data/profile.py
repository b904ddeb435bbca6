"""Reference profile of training data, stored as JSON with each model version.

Drift checks later compare live data with it: numeric columns by PSI over the
quantile bins recorded here (binned with ``bin_fractions``, so both sides cut the
same way), categorical ones by chi-square or PSI over the category shares.

The profile is plain JSON — ints, floats, strings, lists, dicts, and None where a
value is undefined (never NaN or infinity)::

    {"format_version": 1, "n_rows": 569,
     "features": {name: column profile, ...},
     "predictions": {"prediction": column profile} | None}

Every column profile has ``kind`` (see ``schema.kind_of``), ``count`` (non-missing
values), ``missing_fraction`` and ``distribution``, which says what else it holds:

- ``"quantile_bins"`` (int, float): ``min``, ``max``, ``mean``, ``std``,
  ``bin_edges`` and ``bin_fractions`` (share of non-missing values per bin);
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

__all__ = ["OTHER", "PROFILE_FORMAT_VERSION", "bin_fractions", "build_profile"]

PROFILE_FORMAT_VERSION: Final = 1
OTHER: Final = "__other__"

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


def bin_fractions(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Share of ``values`` in each bin between consecutive ``edges``.

    Bin ``i`` holds ``edges[i] <= v < edges[i + 1]``; the first and last bins are
    open-ended, so values outside the reference range still land somewhere.
    Missing values must be removed first.
    """
    n_bins = max(len(edges) - 1, 1)
    if len(values) == 0:
        return [0.0] * n_bins
    interior = np.asarray(edges[1:-1], dtype=float)
    counts = np.bincount(np.searchsorted(interior, values, side="right"), minlength=n_bins)
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
    # Infinities would turn the moments and edges into inf/NaN; they still count in
    # the outer bins' fractions below.
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {
            "min": None,
            "max": None,
            "mean": None,
            "std": None,
            "bin_edges": [],
            "bin_fractions": [],
        }

    edges = np.unique(np.quantile(finite, np.linspace(0, 1, n_bins + 1)))
    if edges.size == 1:  # a constant column: one bin, [v, v]
        edges = np.repeat(edges, 2)
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": _json_float(finite.mean()),
        "std": _json_float(finite.std(ddof=1)) if finite.size > 1 else None,
        "bin_edges": [float(edge) for edge in edges],
        "bin_fractions": bin_fractions(values, edges.tolist()),
    }


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
