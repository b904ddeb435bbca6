"""Metrics providers for release analysis: what the new and the stable version showed.

A provider answers, for one :class:`Subject` and one time window, a set of
:class:`Reading` s (a metric of the candidate or of the stable version) with
:class:`Evidence`: the point estimate, how many observations stand behind it,
and -- where the provider has the observations -- a way to draw bootstrap
replicates of the estimate, so the analysis can tell a real regression from noise.

Two providers exist (:func:`make_provider` picks one from the strategy's ``metrics``):

* ``builtin`` (:mod:`.builtin`): the prediction log and the feedback table;
* ``prometheus`` (:mod:`.prometheus`): PromQL over Prometheus' HTTP API, falling
  back to ``builtin`` for what Prometheus cannot know (live accuracy, divergence).

The metrics, and the fewest observations each needs, are in ``METRICS``: 20
(requests, labelled rows or compared rows) before a check on it gets any verdict
but *inconclusive*; and for a tail quantile more before it may *pass*, so that at
least three requests lie beyond the quantile (``ceil(3 / (1 - q))``: 60 for p95,
300 for p99). Below that a check on it can still fail, when the violation is
beyond noise (say 20 requests out of 20 slower than the threshold), but cannot
vouch that the tail is fine.

The evidence builders draw the bootstrap without building resamples where an
exact shortcut exists: a proportion's replicates are binomial draws, a quantile's
come from the Beta distribution of uniform order statistics (:func:`quantile_of`),
and a mean over more than 5,000 values is drawn from its normal distribution.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from mlrelease.errors import ConfigError

if TYPE_CHECKING:
    from mlrelease.spec import PrometheusSpec
    from mlrelease.store import Store

__all__ = [
    "CANDIDATE_ONLY",
    "METRICS",
    "UNKNOWN_METRIC",
    "Evidence",
    "Exact",
    "MetricInfo",
    "MetricsProvider",
    "Reading",
    "Side",
    "Subject",
    "binomial_tail",
    "check_window",
    "count",
    "make_provider",
    "mean_of",
    "missing",
    "proportion",
    "quantile_of",
    "resampled_rows",
    "two_samples",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]
Side = Literal["candidate", "stable"]
# Bootstrap replicates of an estimate: draw(rng, k) -> k values.
Draw: TypeAlias = Callable[[np.random.Generator, int], FloatArray]
# An exact test: exact(op, threshold) -> the p-value of "the metric meets op threshold".
Exact: TypeAlias = Callable[[str, float], float]

_NORMAL_FROM: Final = 5_000  # values above which a bootstrap mean is drawn from its normal


@dataclass(frozen=True)
class MetricInfo:
    name: str
    description: str
    counts: str  # what a sample is
    min_samples: int = 20  # fewer: no verdict at all (inconclusive)
    min_samples_to_pass: int = 20  # fewer: it may fail beyond noise, but not pass


_REQUESTS, _LABELLED = "requests", "labelled rows"
METRICS: Final[dict[str, MetricInfo]] = {
    info.name: info
    for info in (
        MetricInfo("requests", "requests answered in the window", _REQUESTS, 0, 0),
        MetricInfo("error_rate", "share of requests answered with a 5xx status", _REQUESTS),
        MetricInfo("latency_mean", "mean request latency, seconds", _REQUESTS),
        MetricInfo("latency_p50", "median request latency, seconds", _REQUESTS),
        MetricInfo("latency_p95", "95th percentile latency, seconds", _REQUESTS, 20, 60),
        MetricInfo("latency_p99", "99th percentile latency, seconds", _REQUESTS, 20, 300),
        MetricInfo("accuracy", "share of labelled rows predicted right", _LABELLED),
        MetricInfo("macro_f1", "F1 averaged over classes, on labelled rows", _LABELLED),
        MetricInfo("rmse", "root mean squared error on labelled rows", _LABELLED),
        MetricInfo("mae", "mean absolute error on labelled rows", _LABELLED),
        MetricInfo(
            "divergence",
            "how differently the new version predicts than stable (see builtin)",
            "compared rows",
        ),
    )
}
# What a metric a user adds through a Prometheus query needs.
UNKNOWN_METRIC: Final = MetricInfo("custom", "a metric from a custom query", _REQUESTS)
# Metrics that already compare the candidate with stable: ``stable.<name>`` is meaningless.
CANDIDATE_ONLY: Final = frozenset({"divergence"})


class Reading(NamedTuple):
    """One figure to measure: a metric of the candidate or of the stable version."""

    metric: str
    side: Side


@dataclass(frozen=True)
class Subject:
    """Whose traffic is measured: the candidate (as canary or shadow) against stable."""

    model: str
    environment: str
    stable: int
    candidate: int
    role: str  # "canary" or "shadow": the role the candidate's rows are logged with

    def __post_init__(self) -> None:
        if self.role not in ("canary", "shadow"):
            raise ConfigError(f"the candidate's role is 'canary' or 'shadow', not {self.role!r}")

    def version(self, side: Side) -> int:
        return self.candidate if side == "candidate" else self.stable

    def role_of(self, side: Side) -> str:
        return self.role if side == "candidate" else "stable"


@dataclass(frozen=True)
class Evidence:
    """What a provider saw of one reading in the window."""

    value: float  # the point estimate; nan when nothing could be measured
    samples: int  # observations behind it (see MetricInfo.counts)
    draw: Draw | None = None  # bootstrap replicates; None when the spread is unknown
    note: str = ""  # where it came from, or why it is missing
    exact: Exact | None = None  # an exact test against a fixed threshold, where one exists

    def replicates(self, rng: np.random.Generator, k: int) -> FloatArray:
        """``k`` bootstrap replicates, or ``k`` copies of the value if no spread is known."""
        if self.draw is None:
            return np.full(k, self.value)
        return self.draw(rng, k)


def check_window(start: datetime, end: datetime) -> None:
    """Refuse naive datetimes and empty windows."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ConfigError("the analysis window needs timezone-aware datetimes (UTC)")
    if end <= start:
        raise ConfigError(f"the analysis window is empty: it ends ({end}) before it starts")


def missing(note: str, samples: int = 0) -> Evidence:
    return Evidence(math.nan, samples, None, note)


def count(n: int) -> Evidence:
    """An exact count: it has no sampling spread."""
    return Evidence(float(n), n)


def binomial_tail(n: int, p: float, k: int) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)``, summed exactly in log space."""
    if k <= 0 or p >= 1:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    first = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    first += k * math.log(p) + (n - k) * math.log1p(-p)
    i = np.arange(k, n)  # log pmf(i + 1) - log pmf(i)
    steps = np.log((n - i) / (i + 1)) + math.log(p) - math.log1p(-p)
    logs = np.concatenate([[first], first + np.cumsum(steps)])
    top = float(logs.max())
    return min(1.0, math.exp(top) * float(np.exp(logs - top).sum()))


def proportion(hits: int, n: int) -> Evidence:
    """``hits / n``; replicates are binomial draws (the bootstrap of 0/1 outcomes), and
    against a fixed threshold the exact binomial test applies."""
    if n <= 0:
        return missing("no observations in the window")
    share = hits / n

    def draw(rng: np.random.Generator, k: int) -> FloatArray:
        return rng.binomial(n, share, size=k) / n

    def exact(op: str, threshold: float) -> float:
        if op in ("<=", "<"):  # too many hits for a share of at most threshold?
            return binomial_tail(n, threshold, hits)
        return 1.0 - binomial_tail(n, threshold, hits + 1)  # too few for at least it?

    return Evidence(share, n, draw, exact=exact)


def mean_of(values: FloatArray) -> Evidence:
    """The mean; replicates resample ``values`` (above ``_NORMAL_FROM`` values, whose
    bootstrap mean is normal to within noise, they are drawn from that normal)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return missing("no observations in the window")
    mean = float(values.mean())
    spread = float(values.std()) / math.sqrt(n)

    def draw(rng: np.random.Generator, k: int) -> FloatArray:
        if n > _NORMAL_FROM:
            return rng.normal(mean, spread, size=k)
        means: FloatArray = values[rng.integers(0, n, size=(k, n))].mean(axis=1)
        return means

    return Evidence(mean, n, draw)


def quantile_of(values: FloatArray, q: float) -> Evidence:
    """``np.quantile(values, q)``; replicates are exact bootstrap quantiles, cheaply.

    A quantile interpolates the order statistics k and k+1 (1-based). In a resample,
    the k-th smallest value is ``x_sorted[floor(n * U)]`` with ``U`` the k-th smallest
    of n uniforms, ``U ~ Beta(k, n + 1 - k)``; the next uniform above it is
    ``U + (1 - U) * Beta(1, n - k)``. So no resample of n values is ever built.
    """
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n = len(ordered)
    if n == 0:
        return missing("no observations in the window")
    position = (n - 1) * q
    k = math.floor(position) + 1
    weight = position - (k - 1)

    def draw(rng: np.random.Generator, size: int) -> FloatArray:
        low = rng.beta(k, n + 1 - k, size=size)
        high = low + (1 - low) * rng.beta(1, n - k, size=size) if k < n else low
        below = ordered[np.minimum((low * n).astype(np.intp), n - 1)]
        above = ordered[np.minimum((high * n).astype(np.intp), n - 1)]
        replicates: FloatArray = below + weight * (above - below)
        return replicates

    def exact(op: str, threshold: float) -> float:
        # If the q-quantile is at most t, a request is slower than t with chance <= 1 - q:
        # many more than that is a binomial tail (and the mirror image for ">=").
        if op in ("<=", "<"):
            beyond = int(np.count_nonzero(ordered > threshold))
            return binomial_tail(n, 1 - q, beyond)
        return binomial_tail(n, q, int(np.count_nonzero(ordered < threshold)))

    return Evidence(float(np.quantile(ordered, q)), n, draw, exact=exact)


def resampled_rows(n: int, statistic: Callable[[IntArray], float]) -> Evidence:
    """``statistic(rows)`` on all ``n`` rows, and on resamples of row indices (a loop)."""
    if n == 0:
        return missing("no observations in the window")

    def draw(rng: np.random.Generator, k: int) -> FloatArray:
        return np.fromiter(
            (statistic(rng.integers(0, n, size=n)) for _ in range(k)), np.float64, count=k
        )

    return Evidence(statistic(np.arange(n)), n, draw)


def two_samples(
    first: Sequence[Any],
    second: Sequence[Any],
    distance: Callable[[npt.NDArray[Any], npt.NDArray[Any]], float],
) -> Evidence:
    """A distance between two independent samples; replicates resample each one."""
    if not first or not second:
        return missing(
            f"needs rows of both versions (candidate {len(first)}, stable {len(second)})"
        )
    a, b = np.array(first), np.array(second)

    def draw(rng: np.random.Generator, k: int) -> FloatArray:
        pairs = (
            (a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))])
            for _ in range(k)
        )
        return np.fromiter((distance(x, y) for x, y in pairs), np.float64, count=k)

    return Evidence(distance(a, b), min(len(a), len(b)), draw)


class MetricsProvider(Protocol):
    """Measures readings of a subject in ``[start, end)`` (aware UTC datetimes).

    Must answer every reading asked, with ``missing(note)`` where it cannot; a
    backend that is down is a note, not an exception.
    """

    def collect(
        self,
        readings: Collection[Reading],
        subject: Subject,
        *,
        start: datetime,
        end: datetime,
    ) -> Mapping[Reading, Evidence]: ...


def make_provider(metrics: Literal["builtin"] | PrometheusSpec, store: Store) -> MetricsProvider:
    """The provider a strategy's ``metrics`` names; Prometheus falls back to builtin."""
    from mlrelease.release.metrics.builtin import BuiltinProvider

    builtin = BuiltinProvider(store)
    if metrics == "builtin":
        return builtin
    if isinstance(metrics, str):
        raise ConfigError(f"metrics: expected 'builtin' or {{prometheus: URL}}, got {metrics!r}")
    from mlrelease.release.metrics.prometheus import PrometheusProvider

    return PrometheusProvider(metrics.prometheus, metrics.queries, fallback=builtin)
