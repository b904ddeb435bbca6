"""Release analysis: one measurement of the new version against stable, check by check.

:func:`measure` asks a metrics provider for every figure the checks read, in one
call for one window, and judges each check as *successful*, *failed* or
*inconclusive*. The measurement fails if any check failed, else is inconclusive if
any check was, else successful (no checks: successful).

How a check is judged
---------------------
1. **Nothing measured -> inconclusive**, with the provider's note (Prometheus
   down, no labels yet).
2. **The point estimate holds -> successful**, given enough samples to vouch for
   it (``mlrelease.release.metrics.METRICS``): 20 requests, labelled rows or
   compared rows, on the candidate and, for a relative check, on stable too; a
   tail quantile needs three requests beyond it (60 for p95, 300 for p99).
   ``requests`` is an exact count and needs none. Fewer: inconclusive.
3. **The point estimate is violated -> failed only beyond noise**, else
   inconclusive:

   * against a fixed number, for a quantile or a proportion (latency_pXX,
     error_rate, accuracy, shadow divergence of a classifier): the exact binomial
     test. ``latency_p95 <= 0.5`` holds only if a request is slower than 0.5 s
     with chance at most 5%, so k slow requests out of n have p-value
     ``P(Binomial(n, 0.05) >= k)``; it fails if p < 1 - ``confidence`` (0.05).
     This test is exact at any n, so below the minimum samples a check can still
     fail, but only on overwhelming evidence (p < 0.001: a canary whose every one
     of 5 requests is slow, or errs, is stopped without waiting for 20);
   * otherwise (relative checks, means, F1, RMSE, distances), with at least the
     minimum samples: the percentile bootstrap of ``lhs - rhs`` (``n_resamples``
     replicates; candidate and stable resampled independently, since in a canary
     they are different requests) gives a one-sided bound at ``confidence``
     (default 95%) on the side most favourable to the candidate; if even that
     bound violates the check, it failed.

Why the bootstrap: a check may be any arithmetic over metrics
(``latency_p95 <= stable.latency_p95 * 1.2 + 0.01``), and the bootstrap bounds
all of them with one method and no normality assumption. For proportions the
replicates are binomial draws (the bootstrap of 0/1 outcomes), which for
``p_candidate - p_stable`` agrees with the two-proportion z-test at large n;
quantile replicates are exact bootstrap order statistics of the raw latencies;
macro F1 is recomputed on resampled rows. With many samples all of this reduces
to the point estimate, as in Argo Rollouts; with few, one unlucky request does not
fail a release. Where a provider knows no spread (a custom PromQL query), the
point estimate decides. Resampling is seeded, so a measurement is reproducible.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import numpy as np

from mlrelease.errors import ConfigError
from mlrelease.evaluation.bootstrap import Side, one_sided_bound
from mlrelease.release.checks import Check
from mlrelease.release.metrics import (
    METRICS,
    UNKNOWN_METRIC,
    Evidence,
    Exact,
    FloatArray,
    MetricsProvider,
    Reading,
    Subject,
    missing,
)

__all__ = ["CheckResult", "Measurement", "Subject", "Verdict", "measure"]

_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_NEGATED: Final = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
# Below the minimum samples, an exact test fails a check only on overwhelming evidence.
_OVERWHELMING: Final = 0.001


class Verdict(StrEnum):
    SUCCESSFUL = "successful"  # the evidence meets the check
    FAILED = "failed"  # the evidence violates the check beyond noise
    INCONCLUSIVE = "inconclusive"  # too few samples, or a violation within noise


@dataclass(frozen=True)
class CheckResult:
    check: str
    verdict: Verdict
    candidate: float | None  # the candidate's metric (left-hand side)
    stable: float | None  # stable's value of the metric the threshold reads, if relative
    threshold: float | None  # the right-hand side, evaluated
    samples: dict[str, int]  # observations: "candidate" and, if relative, "stable"
    note: str  # one human sentence

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "verdict": self.verdict.value,
            "candidate": _finite(self.candidate),
            "stable": _finite(self.stable),
            "threshold": _finite(self.threshold),
            "samples": dict(self.samples),
            "note": self.note,
        }


@dataclass(frozen=True)
class Measurement:
    verdict: Verdict
    checks: tuple[CheckResult, ...]
    window_start: datetime
    window_end: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "checks": [result.to_dict() for result in self.checks],
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def measure(
    checks: Sequence[Check],
    provider: MetricsProvider,
    subject: Subject,
    *,
    start: datetime,
    end: datetime,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Measurement:
    """Judge ``checks`` on the window ``[start, end)`` (aware datetimes)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ConfigError("the analysis window needs timezone-aware datetimes (UTC)")
    if not 0.5 < confidence < 1:
        raise ConfigError(f"confidence must be strictly between 0.5 and 1, got {confidence}")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    readings = {Reading(check.metric, "candidate") for check in checks}
    readings |= {Reading(name, "stable") for check in checks for name in check.stable_metrics}
    evidence = provider.collect(readings, subject, start=start, end=end) if readings else {}
    judge = _Judge(evidence, confidence, n_resamples, seed)
    results = tuple(judge(check) for check in checks)
    return Measurement(_overall(results), results, start, end)


def _overall(results: Sequence[CheckResult]) -> Verdict:
    verdicts = {result.verdict for result in results}
    for verdict in (Verdict.FAILED, Verdict.INCONCLUSIVE):
        if verdict in verdicts:
            return verdict
    return Verdict.SUCCESSFUL


class _Judge:
    """Judges checks against one provider answer."""

    def __init__(
        self, evidence: Mapping[Reading, Evidence], confidence: float, n_resamples: int, seed: int
    ) -> None:
        self._evidence = evidence
        self._confidence = confidence
        self._n_resamples = n_resamples
        self._seed = seed
        self._replicates: dict[Reading, FloatArray] = {}

    def __call__(self, check: Check) -> CheckResult:
        own = Reading(check.metric, "candidate")
        theirs = [Reading(name, "stable") for name in sorted(check.stable_metrics)]
        candidate = self._get(own)
        stable = {reading.metric: self._get(reading) for reading in theirs}
        samples = {"candidate": candidate.samples}
        if stable:
            samples["stable"] = min(found.samples for found in stable.values())
        shown = stable.get(check.metric) or next(iter(stable.values()), None)
        threshold = float(check.threshold_values(lambda name: np.array([stable[name].value]))[0])
        result = _ResultOf(
            check, candidate.value, shown.value if shown else None, threshold, samples
        )
        readings, found = [own, *theirs], [candidate, *stable.values()]
        shortage = _shortage(readings, found)
        if any(math.isnan(evidence.value) for evidence in found):
            return result(Verdict.INCONCLUSIVE, shortage or "no value")
        if math.isnan(threshold):
            return result(Verdict.INCONCLUSIVE, "the threshold is undefined (division by zero?)")
        point = f"{candidate.value:.4g} {{}} {threshold:.4g}"
        if _COMPARE[check.op](candidate.value, threshold):
            thin = _shortage(readings, found, to_pass=True)
            if thin:
                return result(Verdict.INCONCLUSIVE, f"{point.format(check.op)}, but {thin}")
            return result(Verdict.SUCCESSFUL, point.format(check.op))
        violated = point.format(_NEGATED[check.op])
        if candidate.exact is not None and not check.relative:
            return self._exact(check, candidate.exact, threshold, shortage, result, violated)
        if shortage:
            return result(Verdict.INCONCLUSIVE, shortage)
        if candidate.draw is None and all(evidence.draw is None for evidence in stable.values()):
            return result(
                Verdict.FAILED, f"{violated} (no spread known: the point estimate decides)"
            )
        return self._beyond_noise(check, own, theirs, result, violated)

    def _exact(
        self,
        check: Check,
        exact: Exact,
        threshold: float,
        shortage: str | None,
        result: _ResultOf,
        violated: str,
    ) -> CheckResult:
        """A fixed threshold and the observations: the exact binomial test decides."""
        p_value = exact(check.op, threshold)
        alpha = _OVERWHELMING if shortage else 1 - self._confidence
        if p_value < alpha:
            return result(Verdict.FAILED, f"{violated}, beyond noise: binomial p = {p_value:.2g}")
        if shortage:
            return result(Verdict.INCONCLUSIVE, f"{shortage} (binomial p = {p_value:.2g})")
        return result(Verdict.INCONCLUSIVE, f"{violated}, within noise: binomial p = {p_value:.2g}")

    def _beyond_noise(
        self,
        check: Check,
        own: Reading,
        theirs: list[Reading],
        result: _ResultOf,
        violated: str,
    ) -> CheckResult:
        reps = {reading.metric: self._draw(reading) for reading in theirs}
        difference = self._draw(own) - check.threshold_values(lambda name: reps[name])
        side: Side = "lower" if check.op in ("<=", "<") else "upper"
        with np.errstate(invalid="ignore"):
            bound = one_sided_bound(difference, self._confidence, side)
        level = f"{self._confidence * 100:g}%"
        if math.isnan(bound):
            return result(Verdict.INCONCLUSIVE, f"{violated}; the bootstrap was undefined")
        if _COMPARE[check.op](bound, 0.0):
            note = f"{violated}, within noise: {level} {side} bound of the difference {bound:.3g}"
            return result(Verdict.INCONCLUSIVE, note)
        note = f"{violated}, beyond noise: {level} {side} bound of the difference {bound:.3g}"
        return result(Verdict.FAILED, note)

    def _get(self, reading: Reading) -> Evidence:
        found = self._evidence.get(reading)
        return found if found is not None else missing(f"the provider did not answer {reading}")

    def _draw(self, reading: Reading) -> FloatArray:
        if reading not in self._replicates:
            # One stream per reading, fixed by its name: results do not depend on order.
            key = [self._seed, *reading.metric.encode(), 0 if reading.side == "candidate" else 1]
            rng = np.random.default_rng(key)
            self._replicates[reading] = self._get(reading).replicates(rng, self._n_resamples)
        return self._replicates[reading]


def _shortage(
    readings: Sequence[Reading], found: Sequence[Evidence], *, to_pass: bool = False
) -> str | None:
    """Why the evidence is too thin for any verdict (or, ``to_pass``, to pass); else None."""
    for reading, evidence in zip(readings, found, strict=True):
        info = METRICS.get(reading.metric, UNKNOWN_METRIC)
        needed = info.min_samples_to_pass if to_pass else info.min_samples
        where = f"{reading.side}'s {reading.metric}"
        if evidence.samples < needed:
            why = f": {evidence.note}" if evidence.note and not to_pass else ""
            counted = f"{evidence.samples} {info.counts} < {needed}"
            return f"too few samples for {where}: {counted}{why}"
        if math.isnan(evidence.value):
            return f"{where} is undefined" + (f": {evidence.note}" if evidence.note else "")
    return None


@dataclass(frozen=True)
class _ResultOf:
    """Builds one check's results, filling in what every outcome repeats."""

    check: Check
    candidate: float
    stable: float | None
    threshold: float
    samples: dict[str, int]

    def __call__(self, verdict: Verdict, note: str) -> CheckResult:
        return CheckResult(
            check=self.check.text,
            verdict=verdict,
            candidate=_finite(self.candidate),
            stable=_finite(self.stable),
            threshold=_finite(self.threshold),
            samples=self.samples,
            note=note,
        )
