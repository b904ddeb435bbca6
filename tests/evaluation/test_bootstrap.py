"""The paired bootstrap resamples rows reproducibly and reads percentile bounds."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from mlrelease.errors import ConfigError, DataError
from mlrelease.evaluation import one_sided_bound, paired_bootstrap, resample_rows


def test_returns_one_statistic_per_resample() -> None:
    values = np.arange(10, dtype=np.float64)

    samples = paired_bootstrap(lambda rows: float(values[rows].mean()), 10, n_resamples=250)

    assert samples.shape == (250,)
    assert samples.dtype == np.float64
    assert samples.min() >= 0
    assert samples.max() <= 9


def test_each_resample_draws_n_rows_indices_with_replacement() -> None:
    resamples = list(resample_rows(50, n_resamples=20, seed=1))

    assert len(resamples) == 20
    assert all(rows.shape == (50,) for rows in resamples)
    assert all(rows.min() >= 0 and rows.max() < 50 for rows in resamples)
    # with replacement: 50 draws from 50 rows repeat some rows (all but surely)
    assert any(len(np.unique(rows)) < 50 for rows in resamples)


def test_statistics_with_the_same_seed_see_the_same_rows() -> None:
    seen_by_candidate: list[npt.NDArray[np.intp]] = []
    seen_by_champion: list[npt.NDArray[np.intp]] = []

    def recorder(seen: list[npt.NDArray[np.intp]]) -> Callable[[npt.NDArray[np.intp]], float]:
        def statistic(rows: npt.NDArray[np.intp]) -> float:
            seen.append(rows.copy())
            return 0.0

        return statistic

    paired_bootstrap(recorder(seen_by_candidate), 30, seed=4)
    paired_bootstrap(recorder(seen_by_champion), 30, seed=4)

    assert len(seen_by_candidate) == 1000
    for candidate_rows, champion_rows in zip(seen_by_candidate, seen_by_champion, strict=True):
        np.testing.assert_array_equal(candidate_rows, champion_rows)


def test_a_different_seed_draws_different_rows() -> None:
    first = next(resample_rows(100, seed=0))
    second = next(resample_rows(100, seed=1))

    assert not np.array_equal(first, second)


def test_pairing_cancels_what_both_models_share() -> None:
    # Row difficulty varies a lot; the two models differ by exactly 0.1 on every row.
    rng = np.random.default_rng(0)
    candidate_loss = rng.exponential(5.0, size=400)
    champion_loss = candidate_loss + 0.1

    candidate = paired_bootstrap(lambda rows: float(candidate_loss[rows].mean()), 400)
    champion = paired_bootstrap(lambda rows: float(champion_loss[rows].mean()), 400)

    assert candidate.std() > 0.1  # each model's own figure moves a lot between resamples
    np.testing.assert_allclose(champion - candidate, 0.1)  # their difference does not


def test_lower_and_upper_bounds_are_the_tail_percentiles() -> None:
    samples = np.arange(101, dtype=np.float64)  # quantile q is exactly 100 q

    assert one_sided_bound(samples, 0.95, "lower") == pytest.approx(5.0)
    assert one_sided_bound(samples, 0.95, "upper") == pytest.approx(95.0)
    assert one_sided_bound(samples, 0.8, "lower") == pytest.approx(20.0)


def test_the_lower_bound_of_a_mean_sits_below_it_by_about_1_645_standard_errors() -> None:
    rng = np.random.default_rng(11)
    data = rng.normal(10.0, 2.0, size=2000)
    standard_error = 2.0 / math.sqrt(2000)

    samples = paired_bootstrap(lambda rows: float(data[rows].mean()), 2000, n_resamples=2000)
    lower = one_sided_bound(samples, 0.95, "lower")

    assert data.mean() - lower == pytest.approx(1.645 * standard_error, rel=0.15)


def test_a_nan_sample_makes_the_bound_nan() -> None:
    assert math.isnan(one_sided_bound(np.array([0.1, math.nan, 0.3]), 0.9, "lower"))


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.2, math.nan])
def test_confidence_must_be_strictly_between_0_and_1(confidence: float) -> None:
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        one_sided_bound(np.array([1.0, 2.0]), confidence, "lower")


def test_an_empty_evaluation_set_cannot_be_resampled() -> None:
    with pytest.raises(DataError, match="empty"):
        paired_bootstrap(lambda rows: 0.0, 0)


def test_at_least_one_resample_is_needed() -> None:
    with pytest.raises(ConfigError, match="n_resamples must be at least 1"):
        paired_bootstrap(lambda rows: 0.0, 10, n_resamples=0)
