"""Judging checks: enough samples, point estimate, and noise -- on constructed evidence.

The evidence is built with the same helpers the providers use (a proportion from
counts, a statistic resampled from raw values), from fixed numbers or a seeded
generator, so every verdict here is deterministic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mlrelease.errors import ConfigError
from mlrelease.release.analysis import CheckResult, Measurement, Subject, Verdict, measure
from mlrelease.release.checks import parse_check
from mlrelease.release.metrics import (
    Evidence,
    Reading,
    count,
    mean_of,
    missing,
    proportion,
    quantile_of,
)

END = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
START = END - timedelta(minutes=5)
SUBJECT = Subject(model="m", environment="production", stable=1, candidate=2, role="canary")


@dataclass
class Canned:
    """A provider answering from a table; records what it was asked."""

    evidence: dict[Reading, Evidence]
    asked: list[set[Reading]] = field(default_factory=list)

    def collect(
        self, readings: Collection[Reading], subject: Subject, *, start: datetime, end: datetime
    ) -> Mapping[Reading, Evidence]:
        self.asked.append(set(readings))
        return {r: self.evidence.get(r, missing("not in the table")) for r in readings}


def candidate(metric: str, evidence: Evidence) -> dict[Reading, Evidence]:
    return {Reading(metric, "candidate"): evidence}


def stable(metric: str, evidence: Evidence) -> dict[Reading, Evidence]:
    return {Reading(metric, "stable"): evidence}


def latencies(mean: float, spread: float, n: int, seed: int) -> Evidence:
    values = np.random.default_rng(seed).normal(mean, spread, n).clip(min=0.0)
    return quantile_of(values, 0.95)


def judge(text: str, evidence: dict[Reading, Evidence]) -> CheckResult:
    result = measure([parse_check(text)], Canned(evidence), SUBJECT, start=START, end=END)
    return result.checks[0]


# --- absolute checks ----------------------------------------------------------------


def test_a_clear_pass_is_successful() -> None:
    result = judge("latency_p95 <= 0.5", candidate("latency_p95", latencies(0.1, 0.02, 200, 1)))
    assert result.verdict is Verdict.SUCCESSFUL
    assert result.candidate == pytest.approx(0.13, abs=0.01)
    assert result.threshold == 0.5 and result.stable is None
    assert result.samples == {"candidate": 200}
    assert "<= 0.5" in result.note


def test_a_clear_failure_is_failed() -> None:
    result = judge("latency_p95 <= 0.5", candidate("latency_p95", latencies(0.9, 0.05, 200, 2)))
    assert result.verdict is Verdict.FAILED
    assert "> 0.5, beyond noise" in result.note


def test_too_few_samples_is_inconclusive_unless_the_evidence_is_overwhelming() -> None:
    fast = judge("latency_mean <= 0.5", candidate("latency_mean", mean_of(np.full(19, 0.1))))
    assert fast.verdict is Verdict.INCONCLUSIVE
    assert (
        fast.note
        == "0.1 <= 0.5, but too few samples for candidate's latency_mean: 19 requests < 20"
    )
    labelled = judge("accuracy >= 0.9", candidate("accuracy", proportion(19, 19)))
    assert labelled.verdict is Verdict.INCONCLUSIVE
    assert "19 labelled rows < 20" in labelled.note
    # 2 slow requests of 10: P(Binomial(10, 0.05) >= 2) = 0.086, nowhere near 0.001.
    two = np.array([0.1] * 8 + [0.9] * 2)
    some = judge("latency_p95 <= 0.5", candidate("latency_p95", quantile_of(two, 0.95)))
    assert some.verdict is Verdict.INCONCLUSIVE
    assert some.note == (
        "too few samples for candidate's latency_p95: 10 requests < 20 (binomial p = 0.086)"
    )
    # 5 slow requests of 5: p = 0.05 ** 5, overwhelming even before 20 requests.
    slow = judge("latency_p95 <= 0.5", candidate("latency_p95", quantile_of(np.full(5, 0.6), 0.95)))
    assert slow.verdict is Verdict.FAILED
    assert slow.note == "0.6 > 0.5, beyond noise: binomial p = 3.1e-07"
    errors = judge("error_rate <= 0.01", candidate("error_rate", proportion(5, 5)))
    assert errors.verdict is Verdict.FAILED


@pytest.mark.parametrize(
    ("hits", "n", "share", "op", "expected"),
    [
        (1, 25, 0.01, "<=", 1 - 0.99**25),
        (0, 10, 0.3, "<=", 1.0),
        (10, 10, 0.3, "<=", 0.3**10),
        (80, 100, 0.9, ">=", sum(math.comb(100, i) * 0.9**i * 0.1 ** (100 - i) for i in range(81))),
        (100, 100, 0.9, ">=", 1.0),
    ],
)
def test_the_exact_test_of_a_proportion_is_the_binomial_tail(
    hits: int, n: int, share: float, op: str, expected: float
) -> None:
    exact = proportion(hits, n).exact
    assert exact is not None
    assert exact(op, share) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_accuracy_against_a_fixed_bar_uses_the_exact_test() -> None:
    assert judge("accuracy >= 0.9", candidate("accuracy", proportion(80, 100))).verdict is (
        Verdict.FAILED  # p = 0.002
    )
    assert judge("accuracy >= 0.9", candidate("accuracy", proportion(85, 100))).verdict is (
        Verdict.INCONCLUSIVE  # p = 0.07
    )


def test_a_tail_quantile_can_fail_on_few_requests_but_needs_more_to_pass() -> None:
    # 30 requests, all slower than 0.5 s: p95 <= 0.5 is clearly violated.
    slow = judge("latency_p95 <= 0.5", candidate("latency_p95", latencies(0.9, 0.05, 30, 3)))
    assert slow.verdict is Verdict.FAILED
    # 30 fast requests say little about the slowest 5%: at least 3 must lie beyond it.
    fast = judge("latency_p95 <= 0.5", candidate("latency_p95", latencies(0.1, 0.02, 30, 3)))
    assert fast.verdict is Verdict.INCONCLUSIVE
    assert fast.note.endswith(
        "<= 0.5, but too few samples for candidate's latency_p95: 30 requests < 60"
    )
    p99 = judge(
        "latency_p99 <= 0.5", candidate("latency_p99", quantile_of(np.full(299, 0.1), 0.99))
    )
    assert p99.verdict is Verdict.INCONCLUSIVE
    enough = judge(
        "latency_p99 <= 0.5", candidate("latency_p99", quantile_of(np.full(300, 0.1), 0.99))
    )
    assert enough.verdict is Verdict.SUCCESSFUL


def test_one_bad_request_in_a_small_window_is_noise_but_many_are_not() -> None:
    # 1 error in 25 requests is 4% > 1%, but 0 errors is a likely draw from 4% too.
    assert judge("error_rate <= 0.01", candidate("error_rate", proportion(1, 25))).verdict == (
        Verdict.INCONCLUSIVE
    )
    # With 10,000 requests 1.5% is clearly above 1%: the point estimate decides.
    many = judge("error_rate <= 0.01", candidate("error_rate", proportion(150, 10_000)))
    assert many.verdict is Verdict.FAILED


def test_requests_is_an_exact_count_needing_no_minimum() -> None:
    assert judge("requests >= 1", candidate("requests", count(1))).verdict is Verdict.SUCCESSFUL
    low = judge("requests >= 100", candidate("requests", count(40)))
    assert low.verdict is Verdict.FAILED
    assert "no spread known: the point estimate decides" in low.note


def test_a_figure_the_provider_could_not_measure_is_inconclusive_with_its_note() -> None:
    result = judge("latency_p95 <= 0.5", candidate("latency_p95", missing("Prometheus down")))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.note.endswith("0 requests < 20: Prometheus down")
    assert result.candidate is None


# --- relative checks ----------------------------------------------------------------


CHECK = "accuracy >= stable.accuracy - 0.02"


def test_a_regression_beyond_noise_fails() -> None:
    evidence = candidate("accuracy", proportion(700, 1000)) | stable(
        "accuracy", proportion(900, 1000)
    )
    result = judge(CHECK, evidence)
    assert result.verdict is Verdict.FAILED
    assert (result.candidate, result.stable, result.threshold) == pytest.approx((0.7, 0.9, 0.88))
    assert result.samples == {"candidate": 1000, "stable": 1000}
    assert "95% upper bound of the difference" in result.note


def test_a_small_noisy_difference_is_inconclusive() -> None:
    # 72% vs 84% on 25 labelled rows each: z ~ 0.9, far from significant.
    evidence = candidate("accuracy", proportion(18, 25)) | stable("accuracy", proportion(21, 25))
    result = judge(CHECK, evidence)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "within noise" in result.note


def test_a_candidate_as_good_as_stable_succeeds() -> None:
    evidence = candidate("accuracy", proportion(895, 1000)) | stable(
        "accuracy", proportion(900, 1000)
    )
    assert judge(CHECK, evidence).verdict is Verdict.SUCCESSFUL


def test_a_relative_check_needs_enough_samples_on_stable_too() -> None:
    evidence = candidate("accuracy", proportion(500, 1000)) | stable("accuracy", proportion(5, 5))
    result = judge(CHECK, evidence)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "stable's accuracy: 5 labelled rows < 20" in result.note


def _z_statistic(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    pooled = (hits_a + hits_b) / (n_a + n_b)
    error = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return (hits_a / n_a - hits_b / n_b) / error


@pytest.mark.parametrize(
    ("errors", "stable_errors", "n"),
    [(30, 10, 1000), (14, 10, 1000), (8, 2, 400), (5, 2, 400), (12, 3, 200), (6, 3, 200)],
)
def test_on_error_rates_the_verdict_agrees_with_a_two_proportion_z_test(
    errors: int, stable_errors: int, n: int
) -> None:
    evidence = candidate("error_rate", proportion(errors, n)) | stable(
        "error_rate", proportion(stable_errors, n)
    )
    result = judge("error_rate <= stable.error_rate", evidence)
    significant = _z_statistic(errors, n, stable_errors, n) > 1.645  # one-sided 5%
    assert result.verdict is (Verdict.FAILED if significant else Verdict.INCONCLUSIVE)


def test_errors_against_a_stable_with_none_fail_only_when_there_are_enough() -> None:
    check = "error_rate <= stable.error_rate"
    one = candidate("error_rate", proportion(1, 100)) | stable("error_rate", proportion(0, 1000))
    assert judge(check, one).verdict is Verdict.INCONCLUSIVE
    many = candidate("error_rate", proportion(30, 1000)) | stable("error_rate", proportion(0, 1000))
    assert judge(check, many).verdict is Verdict.FAILED


def test_latency_quantiles_are_compared_by_resampling_the_raw_latencies() -> None:
    check = "latency_p95 <= stable.latency_p95 * 1.2"
    slower = candidate("latency_p95", latencies(0.2, 0.02, 500, 4)) | stable(
        "latency_p95", latencies(0.1, 0.02, 500, 5)
    )
    assert judge(check, slower).verdict is Verdict.FAILED
    # The same means but a few samples each: the tails are noise.
    noisy = candidate("latency_p95", latencies(0.14, 0.06, 60, 6)) | stable(
        "latency_p95", latencies(0.1, 0.06, 60, 7)
    )
    result = judge(check, noisy)
    assert result.verdict is Verdict.INCONCLUSIVE, result


def test_an_undefined_threshold_is_inconclusive() -> None:
    evidence = candidate("latency_p95", latencies(0.1, 0.01, 100, 8)) | stable(
        "error_rate", proportion(0, 100)
    )
    result = judge("latency_p95 <= stable.error_rate / stable.error_rate", evidence)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "threshold is undefined" in result.note
    assert result.threshold is None


# --- the bootstrap itself -------------------------------------------------------------


@pytest.mark.parametrize(("n", "q"), [(20, 0.5), (60, 0.95), (300, 0.99)])
def test_quantile_replicates_match_resampling_the_values(n: int, q: float) -> None:
    values = np.random.default_rng(n).lognormal(-2.0, 0.5, n)
    fast = quantile_of(values, q).replicates(np.random.default_rng(0), 20_000)
    rows = np.random.default_rng(1).integers(0, n, size=(20_000, n))
    slow = np.quantile(values[rows], q, axis=1)
    assert quantile_of(values, q).value == np.quantile(values, q)
    assert fast.mean() == pytest.approx(slow.mean(), rel=0.02)
    assert fast.std() == pytest.approx(slow.std(), rel=0.05)
    assert np.quantile(fast, 0.05) == pytest.approx(np.quantile(slow, 0.05), rel=0.05)


@pytest.mark.parametrize("n", [100, 20_000])
def test_mean_replicates_have_the_standard_error_of_the_mean(n: int) -> None:
    values = np.random.default_rng(n).exponential(0.1, n)
    replicates = mean_of(values).replicates(np.random.default_rng(0), 4000)
    assert replicates.mean() == pytest.approx(values.mean(), rel=0.01)
    assert replicates.std() == pytest.approx(values.std() / np.sqrt(n), rel=0.05)


# --- measurements -------------------------------------------------------------------


def test_the_provider_is_asked_once_for_exactly_the_figures_the_checks_read() -> None:
    provider = Canned({})
    checks = [parse_check("latency_p95 <= 0.5"), parse_check(CHECK), parse_check("requests >= 1")]
    measure(checks, provider, SUBJECT, start=START, end=END)
    assert provider.asked == [
        {
            Reading("latency_p95", "candidate"),
            Reading("accuracy", "candidate"),
            Reading("accuracy", "stable"),
            Reading("requests", "candidate"),
        }
    ]


def test_the_measurement_fails_if_any_check_failed_else_is_inconclusive_if_any_was() -> None:
    evidence = (
        candidate("requests", count(1000))
        | candidate("latency_p95", latencies(0.9, 0.01, 200, 9))
        | candidate("error_rate", proportion(0, 10))
    )
    provider = Canned(evidence)

    def verdict(*texts: str) -> Verdict:
        checks = [parse_check(text) for text in texts]
        return measure(checks, provider, SUBJECT, start=START, end=END).verdict

    assert verdict("requests >= 10") is Verdict.SUCCESSFUL
    assert verdict("requests >= 10", "error_rate <= 0.1") is Verdict.INCONCLUSIVE
    assert verdict("error_rate <= 0.1", "latency_p95 <= 0.5") is Verdict.FAILED
    assert verdict() is Verdict.SUCCESSFUL


def test_a_measurement_is_reproducible_and_json_safe() -> None:
    evidence = candidate("accuracy", proportion(18, 25)) | stable("accuracy", proportion(21, 25))
    evidence |= candidate("latency_p95", missing("no data"))
    checks = [parse_check(CHECK), parse_check("latency_p95 <= 0.5")]
    first = measure(checks, Canned(evidence), SUBJECT, start=START, end=END)
    again = measure(checks, Canned(evidence), SUBJECT, start=START, end=END)
    assert first == again
    assert isinstance(first, Measurement)
    document = json.loads(json.dumps(first.to_dict(), allow_nan=False))
    assert document["verdict"] == "inconclusive"
    assert document["window_start"] == "2025-01-01T11:55:00+00:00"
    assert document["window_end"] == "2025-01-01T12:00:00+00:00"
    assert document["checks"][1] == {
        "check": "latency_p95 <= 0.5",
        "verdict": "inconclusive",
        "candidate": None,
        "stable": None,
        "threshold": 0.5,
        "samples": {"candidate": 0},
        "note": "too few samples for candidate's latency_p95: 0 requests < 20: no data",
    }


def test_naive_datetimes_and_bad_subjects_are_refused() -> None:
    with pytest.raises(ConfigError, match="timezone-aware"):
        measure([], Canned({}), SUBJECT, start=START.replace(tzinfo=None), end=END)
    with pytest.raises(ConfigError, match="'canary' or 'shadow'"):
        Subject(model="m", environment="e", stable=1, candidate=2, role="stable")
