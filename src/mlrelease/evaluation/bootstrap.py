"""Paired percentile bootstrap over evaluation rows, and one-sided bounds from it.

Owns how evaluation rows are resampled and how a bound is read off the resulting
distribution; what is measured on each resample is the caller's business.

Paired: every statistic computed with the same ``n_rows`` and ``seed`` sees the same
sequence of row resamples. Measuring the candidate and the champion on the same
resampled rows makes the luck of the draw (easy rows, hard rows) cancel in their
difference, so the spread of the difference reflects where the two models disagree.

Percentile, one-sided: a gate asks a directional question ("is the candidate at least
as good as the champion?"), so the bound at confidence ``c`` is the ``1 - c`` quantile
of the bootstrap distribution (lower) or its ``c`` quantile (upper). Percentile bounds
assume no normality and stay inside a metric's range; BCa would be more accurate on
small sets but needs a jackknife, i.e. ``n_rows`` more metric evaluations per bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from mlrelease.errors import ConfigError, DataError

__all__ = ["Side", "one_sided_bound", "paired_bootstrap", "resample_rows"]

Side = Literal["lower", "upper"]

_FloatArray: TypeAlias = npt.NDArray[np.float64]
_IntArray: TypeAlias = npt.NDArray[np.intp]


def resample_rows(n_rows: int, *, n_resamples: int = 1000, seed: int = 0) -> Iterator[_IntArray]:
    """``n_resamples`` arrays of ``n_rows`` row indices drawn with replacement.

    The sequence depends only on ``n_rows`` and ``seed``; that is what pairs statistics.
    """
    # Checked here, not in the generator, so bad arguments fail at the call.
    if n_rows < 1:
        raise DataError("cannot bootstrap an empty evaluation set")
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be at least 1, got {n_resamples}")
    return _draw(n_rows, n_resamples, np.random.default_rng(seed))


def _draw(n_rows: int, n_resamples: int, rng: np.random.Generator) -> Iterator[_IntArray]:
    for _ in range(n_resamples):
        yield rng.integers(0, n_rows, size=n_rows, dtype=np.intp)


def paired_bootstrap(
    statistic: Callable[[_IntArray], float],
    n_rows: int,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> _FloatArray:
    """``statistic(rows)`` for each resample of row indices, in resample order.

    Call it once per quantity (candidate metric, champion metric) with the same
    ``n_rows`` and ``seed`` and the results line up resample by resample.
    """
    rows = resample_rows(n_rows, n_resamples=n_resamples, seed=seed)
    return np.fromiter((statistic(r) for r in rows), dtype=np.float64, count=n_resamples)


def one_sided_bound(samples: _FloatArray, confidence: float, side: Side) -> float:
    """The percentile bound of a bootstrap distribution at ``confidence`` in (0, 1).

    ``lower``: the true value is above it with that confidence; ``upper``: below.
    ``nan`` if any sample is ``nan``, since an undefined resample cannot be ranked.
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be strictly between 0 and 1, got {confidence}")
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0 or np.isnan(values).any():
        return math.nan
    quantile = 1 - confidence if side == "lower" else confidence
    return float(np.quantile(values, quantile))
