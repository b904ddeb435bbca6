"""Per-feature drift of a window of live data against a version's reference profile.

The reference is the profile ``build_profile`` stored with the version at training
time, never the training data itself, so a check costs one pass over the window.
The methods and default thresholds are Evidently's (``DataDriftPreset``), but the
caller picks the method (``method_for``), where Evidently's default picks per column
(Wasserstein for numeric references over 1,000 rows, else K-S; Jensen-Shannon or
chi-square for categories):

============== ============================================ ========= =================
method         statistic                                    threshold drift when
============== ============================================ ========= =================
psi            population stability index over the bins     0.1       statistic >= 0.1
ks             two-sample Kolmogorov-Smirnov, p-value       0.05      p-value < 0.05
wasserstein    Wasserstein-1 / std of the reference         0.1       statistic >= 0.1
jensenshannon  Jensen-Shannon distance (natural log)        0.1       statistic >= 0.1
chisquare      chi-square goodness of fit, p-value          0.05      p-value < 0.05
============== ============================================ ========= =================

Like Evidently, a statistic drifts when it is *at or above* its threshold. A p-value
drifts when it is *below* its threshold (Evidently's chi-square does the same; its
K-S says ``<=``, which differs only when a p-value is exactly the threshold).

Where the figures come from, and where they differ from Evidently's:

* **Bins.** Numeric PSI and Jensen-Shannon use the profile's quantile bins
  (deciles by default); Evidently bins both samples together with equal-width
  Sturges bins. Categorical ones use the profile's categories, with values the
  profile did not keep counted under ``"__other__"``.
* **Zero shares.** PSI replaces a zero share by 0.0001 on either side, as Evidently
  does (Evidently goes lower when a real share is already below 0.0001), so a bin
  that empties adds a large but finite term. Jensen-Shannon needs no such guard.
* **The reference for ks and wasserstein** is the profile's quantile sketch. While
  it holds every reference value (at most 201 of them) the results equal
  ``scipy.stats.ks_2samp`` and Evidently's normed ``wasserstein_distance``. For a
  larger reference the sketch is read as a CDF drawn straight between its 201
  points (the quantile function ``np.quantile`` interpolates, sampled every 0.5%),
  which stays within about 0.005 of the data's own CDF. On normal columns of
  100,000 values a side, D came within 0.001 of ``ks_2samp``'s, and the normed
  Wasserstein about 0.005 high (the outer 0.5% at each end is drawn straight,
  where the real tail is thinner). The K-S p-value uses the reference's real count.
* **K-S p-values** follow ``ks_2samp(method="auto")``: exact for both counts up to
  10,000, else the asymptotic Kolmogorov distribution. Infinite values are left out
  of ks and wasserstein on both sides (the sketch holds finite values only).
* **Wasserstein** is divided by ``max(std, 0.001)`` of the reference (ddof 0), as
  Evidently does, so a constant reference still gives a finite figure.
* **Chi-square** expects ``reference share * current count`` per category, like
  Evidently. Categories empty on both sides are dropped. A category with no
  reference share but current values would make Evidently's statistic infinite
  (p = 0); here its share is 0.0001, which keeps every figure finite and still
  drives the p-value far below 0.05 once such values are more than a handful.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from scipy import stats
from scipy.spatial import distance

from mlrelease.data.profile import OTHER, SKETCH_INTERVALS, bin_fractions
from mlrelease.errors import ConfigError, DataError

try:  # scipy's exact two-sample K-S p-value; the tests pin it to ks_2samp's
    from scipy.stats._stats_py import _attempt_exact_2kssamp
except ImportError:  # pragma: no cover - a scipy that moved it: asymptotic only
    _attempt_exact_2kssamp = None

__all__ = [
    "CATEGORICAL_METHODS",
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "NUMERIC_METHODS",
    "P_VALUE_METHODS",
    "FeatureDrift",
    "Histogram",
    "compare_column",
    "compare_frame",
    "drift_share",
    "method_for",
]

METHODS: Final = ("psi", "ks", "wasserstein", "jensenshannon", "chisquare")
NUMERIC_METHODS: Final = frozenset({"psi", "ks", "wasserstein", "jensenshannon"})
CATEGORICAL_METHODS: Final = frozenset({"psi", "chisquare", "jensenshannon"})
DEFAULT_THRESHOLDS: Final[dict[str, float]] = {
    "psi": 0.1,
    "ks": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "chisquare": 0.05,
}
P_VALUE_METHODS: Final = frozenset({"ks", "chisquare"})

EPSILON: Final = 0.0001  # Evidently's stand-in for a zero share
MIN_NORM: Final = 0.001  # Evidently's floor for the reference std in wasserstein
_EXACT_KS_MAX_N: Final = 10_000  # ks_2samp(method="auto") is exact up to this count
_SKETCH_METHODS: Final = frozenset({"ks", "wasserstein"})

_NUMERIC_KINDS: Final = frozenset({"int", "float"})
_CATEGORICAL_KINDS: Final = frozenset({"bool", "category", "string"})


@dataclass(frozen=True)
class Histogram:
    """Reference and current shares on the same bins: what a report plots."""

    labels: list[str]  # one per bin: "[1.2, 3.4)" or a category
    edges: list[float] | None  # numeric bin edges (len(labels) + 1); None for categories
    reference: list[float]  # shares summing to 1 (all 0 when there are no values)
    current: list[float]


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift check: the statistic, the decision and what it rests on."""

    feature: str
    kind: str  # the profile's kind
    method: str
    statistic: float | None  # None when it cannot be computed; ``note`` says why
    p_value: float | None  # ks and chisquare only
    threshold: float
    drifted: bool
    reference_count: int
    current_count: int  # non-missing current values used
    current_missing_fraction: float
    histogram: Histogram
    note: str = ""

    @property
    def score(self) -> float | None:
        """The figure compared with the threshold: the p-value or the statistic."""
        return self.p_value if self.method in P_VALUE_METHODS else self.statistic

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: no NaN or infinity anywhere."""
        data = asdict(self)
        data["statistic"] = _finite_or_none(self.statistic)
        data["p_value"] = _finite_or_none(self.p_value)
        data["score"] = _finite_or_none(self.score)
        return data


def method_for(kind: str, method: str, categorical_method: str | None = None) -> str:
    """The method used for a column of this kind.

    Numeric kinds (int, float) take ``method``. Categorical kinds (bool, category,
    string; pass "category" for label predictions profiled as categories) take
    ``categorical_method`` if given, else ``method`` when it suits categories, else
    chi-square. Datetime columns are not compared and keep ``method``.
    """
    _check_name(method, METHODS, "drift method")
    if kind in _NUMERIC_KINDS:
        _check_name(method, NUMERIC_METHODS, "drift method for numeric columns")
        return method
    if kind in _CATEGORICAL_KINDS:
        if categorical_method is not None:
            _check_name(categorical_method, CATEGORICAL_METHODS, "drift method for categories")
            return categorical_method
        return method if method in CATEGORICAL_METHODS else "chisquare"
    if kind == "datetime":
        return method
    raise ConfigError(f"unknown column kind {kind!r} in the profile")


def compare_column(
    name: str,
    profile: Mapping[str, Any],
    current: np.ndarray | pd.Series | Sequence[Any],
    *,
    method: str,
    threshold: float | None = None,
) -> FeatureDrift:
    """Compare the live values of one column with its profile (see the module doc).

    ``current`` may hold None/NaN: they count as missing and are left out.
    """
    _check_name(method, _methods_for(profile), f"drift method for column {name!r}")
    limit = _threshold(method, threshold)
    distribution = profile.get("distribution")
    if distribution == "quantile_bins":
        values = _as_floats(name, current)
        missing = np.isnan(values)
        present = values[~missing] if missing.any() else values
        share = _share(int(missing.sum()), values.size)
        return _compare_numeric(_Column(name, profile, method, limit, present.size, share), present)
    series = current if isinstance(current, pd.Series) else pd.Series(current)
    absent = series.isna().to_numpy()
    share = _share(int(absent.sum()), absent.size)
    column = _Column(name, profile, method, limit, int((~absent).sum()), share)
    if distribution == "categories":
        return _compare_categories(column, _as_text(series[~absent]))
    return column.result(note="datetime columns are not compared")


def compare_frame(
    features_profile: Mapping[str, Mapping[str, Any]],
    current: pd.DataFrame,
    *,
    method: str = "psi",
    categorical_method: str | None = None,
    threshold: float | None = None,
    overrides: Mapping[str, tuple[str | None, float | None]] | None = None,
) -> list[FeatureDrift]:
    """One ``FeatureDrift`` per profiled column, in profile order.

    ``method`` applies to numeric columns and ``categorical_method`` (see
    ``method_for``) to categorical ones; ``threshold`` replaces every method's
    default. ``overrides`` maps a feature to ``(method, threshold)``, either None to
    keep the frame-wide choice. A profiled column missing from ``current`` is
    reported with no statistic, not drifted, and the note "not in the window".
    """
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(features_profile))
    if unknown:
        raise ConfigError(
            f"drift overrides name columns the profile does not have: {', '.join(unknown)}; "
            f"profiled columns: {', '.join(features_profile)}"
        )
    _check_name(method, METHODS, "drift method")
    columns = {str(label): label for label in current.columns}
    results = []
    for name, profile in features_profile.items():
        own_method, own_threshold = overrides.get(name, (None, None))
        used = method_for(
            _method_kind(profile), own_method or method, own_method or categorical_method
        )
        limit = threshold if own_threshold is None else own_threshold
        if name in columns:
            values = current[columns[name]]
            results.append(compare_column(name, profile, values, method=used, threshold=limit))
        else:
            # Compared with nothing, so the histogram still shows the reference.
            empty = compare_column(name, profile, np.array([]), method=used, threshold=limit)
            missing = 1.0 if len(current) else 0.0  # every row lacks the column
            results.append(
                replace(empty, current_missing_fraction=missing, note="not in the window")
            )
    return results


def drift_share(results: Sequence[FeatureDrift]) -> float:
    """Share of the judged features (statistic not None) that drifted; 0.0 if none."""
    judged = [result for result in results if result.statistic is not None]
    return sum(result.drifted for result in judged) / len(judged) if judged else 0.0


# -- one column ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """What every result of one column shares, whatever the method found."""

    name: str
    profile: Mapping[str, Any]
    method: str
    threshold: float
    current_count: int
    missing_fraction: float

    def result(
        self,
        statistic: float | None = None,
        p_value: float | None = None,
        histogram: Histogram | None = None,
        note: str = "",
    ) -> FeatureDrift:
        score = p_value if self.method in P_VALUE_METHODS else statistic
        if score is None or statistic is None:
            drifted = False
        elif self.method in P_VALUE_METHODS:
            drifted = score < self.threshold
        else:
            drifted = score >= self.threshold
        return FeatureDrift(
            feature=self.name,
            kind=str(self.profile.get("kind")),
            method=self.method,
            statistic=statistic,
            p_value=p_value,
            threshold=self.threshold,
            drifted=drifted,
            reference_count=int(self.profile.get("count", 0)),
            current_count=self.current_count,
            current_missing_fraction=self.missing_fraction,
            histogram=histogram or Histogram([], None, [], []),
            note=note,
        )


def _compare_numeric(column: _Column, values: np.ndarray) -> FeatureDrift:
    profile = column.profile
    sketched = column.method in _SKETCH_METHODS
    if sketched and "sketch" not in profile:
        raise ConfigError(
            f"column {column.name!r}: this version's profile predates the quantile sketch "
            f"(profile format 1) that {column.method} needs; use psi, or retrain and "
            f"register a new version, whose profile will have it"
        )
    edges = [float(edge) for edge in profile["bin_edges"]]
    if not edges:
        return column.result(note="no values in the reference profile")
    if sketched:  # ks and wasserstein walk the values in order; the bins then come cheap
        values = np.sort(values)
    reference = np.asarray(profile["bin_fractions"], dtype=float)
    shares = np.asarray(bin_fractions(values, edges, assume_sorted=sketched), dtype=float)
    histogram = Histogram(_bin_labels(edges), edges, reference.tolist(), shares.tolist())
    if values.size == 0:
        return column.result(histogram=histogram, note="no values in the window")
    if column.method == "psi":
        return column.result(_psi(reference, shares), histogram=histogram)
    if column.method == "jensenshannon":
        return column.result(_jensenshannon(reference, shares), histogram=histogram)
    return _compare_with_sketch(column, values, histogram)


def _compare_with_sketch(
    column: _Column, ordered: np.ndarray, histogram: Histogram
) -> FeatureDrift:
    sketch = np.asarray(column.profile["sketch"], dtype=float)
    # Sorted, the infinities sit at both ends; the sketch has none either.
    finite = ordered[np.searchsorted(ordered, -np.inf, "right") : np.searchsorted(ordered, np.inf)]
    if finite.size == 0:
        return column.result(histogram=histogram, note="no finite values in the window")
    count = int(column.profile["count"])
    # Up to 201 finite values the sketch is all of them (see data.profile).
    exact = sketch.size < SKETCH_INTERVALS + 1 or sketch.size == count
    if column.method == "ks":
        n = sketch.size if exact else count
        d, p = _ks_p_value(_ks_statistic(sketch, exact, finite), n, finite.size)
        return column.result(d, p, histogram)
    norm = max(_reference_std(column.profile, sketch, exact), MIN_NORM)
    return column.result(_wasserstein(sketch, exact, finite) / norm, histogram=histogram)


def _compare_categories(column: _Column, text: pd.Series) -> FeatureDrift:
    frequencies: Mapping[str, float] = column.profile["frequencies"]
    categories = [label for label in frequencies if label != OTHER]
    # Codes index ``categories``; -1 (a value the profile did not keep) -> OTHER.
    codes = pd.Index(categories, dtype=object).get_indexer(pd.Index(text, dtype=object))
    counts = np.bincount(np.where(codes < 0, len(categories), codes), minlength=len(categories) + 1)
    labels = [*categories, OTHER]
    reference = np.array([float(frequencies.get(label, 0.0)) for label in labels])
    shares = counts / counts.sum() if counts.sum() else np.zeros(len(labels))
    histogram = Histogram(labels, None, reference.tolist(), shares.tolist())
    if int(column.profile.get("count", 0)) == 0:
        return column.result(histogram=histogram, note="no values in the reference profile")
    if counts.sum() == 0:
        return column.result(histogram=histogram, note="no values in the window")
    if column.method == "psi":
        return column.result(_psi(reference, shares), histogram=histogram)
    if column.method == "jensenshannon":
        return column.result(_jensenshannon(reference, shares), histogram=histogram)
    statistic, p_value = _chisquare(reference, counts)
    return column.result(statistic, p_value, histogram)


# -- statistics ----------------------------------------------------------------------


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    """sum((c - r) ln(c / r)): non-negative and symmetric in r and c."""
    r = np.where(reference == 0, EPSILON, reference)
    c = np.where(current == 0, EPSILON, current)
    # log c - log r rather than log(c / r): no overflow for shares far apart.
    return float(np.sum((c - r) * (np.log(c) - np.log(r))))


def _jensenshannon(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance in nats: 0 to sqrt(ln 2)."""
    # scipy can come out a hair below zero (a negative sqrt argument) for equal shares.
    return float(np.nan_to_num(distance.jensenshannon(reference, current)))


def _chisquare(reference: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Counts against reference shares, as Evidently; see the module doc for zeros."""
    keep = (reference > 0) | (counts > 0)
    expected_shares = np.where(reference[keep] > 0, reference[keep], EPSILON)
    observed = counts[keep]
    if observed.size < 2:  # one category on both sides: nothing to tell apart
        return 0.0, 1.0
    expected = expected_shares / expected_shares.sum() * observed.sum()
    result = stats.chisquare(observed, expected)
    return float(result.statistic), float(result.pvalue)


# The reference for ks and wasserstein is its sketch. Exact (every value), it is a
# step ECDF. Otherwise point i of k + 1 is the reference's quantile at i / k, and the
# CDF is drawn straight between points (jumping where points tie): the quantile
# function np.quantile interpolates, sampled every 1 / k.
#
# Both walk the sorted window in chunks: temporaries of _CHUNK floats (64 KiB) are
# recycled by the allocator and stay in cache, where window-sized ones are mapped and
# unmapped on every call and their page faults cost more than the arithmetic.
_CHUNK: Final = 8192


@dataclass(frozen=True)
class _ReferenceCdf:
    """The sketch's CDF as pieces, looked up by how many sketch points precede x.

    Exact: piece c is flat at c / n. Sketch: piece 0 (before the first point) is 0,
    piece k + 1 (after the last) is 1, and piece c in between runs straight from
    (s[c-1], (c-1)/k) to (s[c], c/k). A lookup replaces a search and branches per x.
    """

    start: np.ndarray  # x where the piece starts
    base: np.ndarray  # the CDF there
    rise: np.ndarray  # CDF per unit of x along the piece

    @classmethod
    def of(cls, sketch: np.ndarray, exact: bool) -> _ReferenceCdf:
        if exact:
            flat = np.zeros(sketch.size + 1)
            return cls(flat, np.arange(sketch.size + 1) / sketch.size, flat)
        k = sketch.size - 1
        widths = np.diff(sketch)
        # Tied points make zero-width pieces that no count ever selects.
        rise = np.divide(1.0 / k, widths, out=np.zeros_like(widths), where=widths > 0)
        return cls(
            start=np.concatenate([[0.0], sketch[:-1], [0.0]]),
            base=np.concatenate([[0.0], np.arange(k) / k, [1.0]]),
            rise=np.concatenate([[0.0], rise, [0.0]]),
        )

    def at(self, x: np.ndarray, count: np.ndarray) -> np.ndarray:
        # (x - start) * rise keeps precision where x is large next to a piece's width.
        values: np.ndarray = (x - self.start[count]) * self.rise[count] + self.base[count]
        return values


def _ks_statistic(sketch: np.ndarray, exact: bool, current: np.ndarray) -> float:
    """Largest gap between the reference CDF and the ECDF of ``current`` (sorted).

    Between neighbouring points of either side the ECDF is flat and the reference
    CDF flat or straight, so the gap peaks at a point or just below one: both are
    taken at every sketch and every current point.
    """
    m, cdf = current.size, _ReferenceCdf.of(sketch, exact)
    # Where each sketch point falls among the current values: sketch point i is
    # <= current[j] exactly when j >= reaches[i], and < current[j] when j >= passes[i].
    reaches = np.searchsorted(current, sketch, "left")
    passes = np.searchsorted(current, sketch, "right")
    largest = max(
        _largest(cdf.at(sketch, np.searchsorted(sketch, sketch, "right")), passes / m),
        _largest(cdf.at(sketch, np.searchsorted(sketch, sketch, "left")), reaches / m),
    )
    tied = _tied_ranks(current) if np.any(current[1:] == current[:-1]) else None
    for first in range(0, m, _CHUNK):
        x = current[first : first + _CHUNK]
        if tied is None:
            below = np.arange(first, first + x.size, dtype=float)
            upto = below + 1
        else:
            below, upto = (ranks[first : first + x.size] for ranks in tied)
        at = cdf.at(x, _counts(reaches, first, x.size))
        just_below = cdf.at(x, _counts(passes, first, x.size))
        largest = max(largest, _largest(at, upto / m), _largest(just_below, below / m))
    return largest


def _wasserstein(sketch: np.ndarray, exact: bool, current: np.ndarray) -> float:
    """Integral of |reference quantile - current quantile| over p in [0, 1].

    Equal to the area between the CDFs, and simpler: p = t / (steps m) for integer
    t, where the current quantile steps every ``steps`` and the reference one every
    ``m``; between neighbouring knots the first is flat and the second flat (exact)
    or straight (a sketch), so each piece's area is exact.
    """
    m = current.size
    steps = sketch.size if exact else sketch.size - 1
    area = 0.0
    for first in range(0, m, _CHUNK):
        last = min(first + _CHUNK, m)
        # This chunk's current knots and the reference knots between them.
        reference_knots = np.arange(-(-first * steps // m), last * steps // m + 1) * m
        knots = np.concatenate([np.arange(first, last + 1) * steps, reference_knots])
        grid = np.sort(knots, kind="stable")  # two sorted runs: a merge
        start, end = grid[:-1], grid[1:]
        level = current[np.minimum(start // steps, m - 1)]
        gap_start = _reference_quantile(sketch, exact, start, m) - level
        gap_end = gap_start if exact else _reference_quantile(sketch, exact, end, m) - level
        area += _area(gap_start, gap_end, (end - start).astype(float))
    return area / (steps * m)


def _reference_quantile(sketch: np.ndarray, exact: bool, t: np.ndarray, m: int) -> np.ndarray:
    """The reference quantile at p = t / (steps m): a step (exact) or straight line."""
    if exact:
        stepped: np.ndarray = sketch[np.minimum(t // m, sketch.size - 1)]
        return stepped
    i = np.minimum(t // m, sketch.size - 2)
    straight: np.ndarray = sketch[i] + (t - i * m) / m * (sketch[i + 1] - sketch[i])
    return straight


def _tied_ranks(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each value of ``ordered``: how many values are below it, and up to it."""
    new = np.empty(ordered.size, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    return starts[group].astype(float), np.append(starts[1:], ordered.size)[group].astype(float)


def _counts(slots: np.ndarray, first: int, size: int) -> np.ndarray:
    """How many ``slots`` are <= each of first, first + 1, ..., first + size - 1."""
    placed = np.bincount(np.clip(slots - first, 0, size), minlength=size + 1)
    return np.cumsum(placed[:size])


def _largest(reference: np.ndarray, current: np.ndarray) -> float:
    return float(np.max(np.abs(reference - current)))


def _area(gap_start: np.ndarray, gap_end: np.ndarray, widths: np.ndarray) -> float:
    """Integral of |gap| when it runs straight from gap_start to gap_end over each width.

    Per unit of width that is (a + b) / 2 for a = |gap_start|, b = |gap_end|, less
    ab / (a + b) where the line crosses zero (two triangles, not a trapezoid).
    """
    total = np.abs(gap_start) + np.abs(gap_end)
    crossing = np.minimum(gap_start * gap_end, 0.0)  # -ab where it crosses, else 0
    np.divide(crossing, total, out=crossing, where=crossing < 0)
    return float(0.5 * np.dot(total, widths) + np.dot(crossing, widths))


def _ks_p_value(d: float, n: int, m: int) -> tuple[float, float]:
    """D and its two-sided p-value as ``ks_2samp(method="auto")`` reports them."""
    if max(n, m) <= _EXACT_KS_MAX_N and _attempt_exact_2kssamp is not None:
        # The exact method snaps D to the lattice of attainable values (h / lcm(n, m)).
        ok, lattice_d, p = _attempt_exact_2kssamp(n, m, math.gcd(n, m), d, "two-sided")
        if ok:
            return float(lattice_d), float(np.clip(p, 0.0, 1.0))
        d = float(lattice_d)  # scipy falls back to the asymptotic p with the snapped D
    effective = n * m / (n + m)
    return d, float(np.clip(stats.kstwo.sf(d, np.round(effective)), 0.0, 1.0))


def _reference_std(profile: Mapping[str, Any], sketch: np.ndarray, exact: bool) -> float:
    """The reference's population std (ddof 0), which Evidently norms by."""
    if exact:
        return float(np.std(sketch))
    n, std = int(profile["count"]), profile.get("std")
    return 0.0 if std is None else float(std) * math.sqrt((n - 1) / n)


# -- inputs and labels ---------------------------------------------------------------


def _as_floats(name: str, current: np.ndarray | pd.Series | Sequence[Any]) -> np.ndarray:
    """The values as floats, missing ones (None, NaN, pd.NA) as NaN."""
    if isinstance(current, np.ndarray) and current.dtype.kind in "fiub":
        return current.astype(float, copy=False)
    series = current if isinstance(current, pd.Series) else pd.Series(current)
    try:
        return series.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise DataError(
            f"column {name!r} is numeric in the profile but the window holds values that "
            f"are not numbers ({error}); send numbers, or None for a missing value"
        ) from error


def _as_text(present: pd.Series) -> pd.Series:
    """Values as the profile's category text; floats that are integers as ints."""
    if ptypes.is_float_dtype(present.dtype):
        values = present.to_numpy(dtype=float)
        text = present.astype(str)
        # Beyond 2**53 a float is always whole and may not fit an int64: keep its text.
        whole = (np.abs(values) < 2.0**53) & (values == np.round(values))
        text[whole] = values[whole].astype(np.int64).astype(str)
        return text
    text = present.astype(str)
    if ptypes.is_object_dtype(present.dtype):
        # Only values whose text ends in ".0" can be whole floats; check just those.
        suspects = text.str.endswith(".0")
        if suspects.any():
            text[suspects] = present[suspects].map(_whole_float_text)
    return text


def _whole_float_text(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _bin_labels(edges: list[float]) -> list[str]:
    """Bin labels; the outer bins are open-ended, as ``bin_fractions`` counts them."""
    lows = ["-inf", *(f"{edge:.6g}" for edge in edges[1:-1])]
    highs = [*(f"{edge:.6g}" for edge in edges[1:-1]), "+inf"]
    return [
        f"({low}, {high})" if low == "-inf" else f"[{low}, {high})"
        for low, high in zip(lows, highs, strict=True)
    ]


def _methods_for(profile: Mapping[str, Any]) -> frozenset[str]:
    distribution = profile.get("distribution")
    if distribution == "quantile_bins":
        return NUMERIC_METHODS
    return CATEGORICAL_METHODS if distribution == "categories" else frozenset(METHODS)


def _method_kind(profile: Mapping[str, Any]) -> str:
    # Label predictions keep their dtype's kind ("int") but are profiled as categories.
    return "category" if profile.get("distribution") == "categories" else str(profile["kind"])


def _check_name(name: str, valid: frozenset[str] | tuple[str, ...], what: str) -> None:
    if name not in valid:
        choices = ", ".join(method for method in METHODS if method in valid)
        raise ConfigError(f"{name!r} is not a {what}; use one of: {choices}")


def _threshold(method: str, threshold: float | None) -> float:
    if threshold is None:
        return DEFAULT_THRESHOLDS[method]
    if not (math.isfinite(threshold) and threshold > 0):
        raise ConfigError(f"drift threshold must be a positive number, got {threshold!r}")
    return float(threshold)


def _share(part: int, whole: int) -> float:
    return float(part) / whole if whole else 0.0


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
