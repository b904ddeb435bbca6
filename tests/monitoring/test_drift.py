"""Drift statistics against a stored profile: equal to scipy where exact, right on known shifts."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mlrelease.data.profile import OTHER, build_profile
from mlrelease.errors import ConfigError, DataError
from mlrelease.monitoring import drift
from mlrelease.monitoring.drift import (
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    METHODS,
    NUMERIC_METHODS,
    P_VALUE_METHODS,
    FeatureDrift,
    compare_column,
    compare_frame,
    drift_share,
    method_for,
)


def column_profile(values: Any, **options: Any) -> dict[str, Any]:
    profile: dict[str, Any] = build_profile(pd.DataFrame({"x": values}), **options)["features"]["x"]
    return profile


def normal(seed: int, size: int, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, scale, size)


# -- the constants others code against ---------------------------------------------------


def test_methods_thresholds_and_conventions_are_evidentlys() -> None:
    assert METHODS == ("psi", "ks", "wasserstein", "jensenshannon", "chisquare")
    assert sorted(NUMERIC_METHODS) == ["jensenshannon", "ks", "psi", "wasserstein"]
    assert sorted(CATEGORICAL_METHODS) == ["chisquare", "jensenshannon", "psi"]
    assert sorted(P_VALUE_METHODS) == ["chisquare", "ks"]
    assert DEFAULT_THRESHOLDS == {
        "psi": 0.1,
        "ks": 0.05,
        "wasserstein": 0.1,
        "jensenshannon": 0.1,
        "chisquare": 0.05,
    }


# -- equal to scipy when the profile holds every reference value ----------------------------


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        (normal(1, 150), normal(2, 120, loc=0.3)),  # exact p-value (both counts <= 10,000)
        (normal(3, 150), normal(4, 20_000, scale=1.2)),  # asymptotic p-value
        (normal(5, 201), normal(6, 201)),  # the largest exact sketch, equal counts
        (np.random.default_rng(7).integers(0, 5, 150), np.random.default_rng(8).integers(0, 6, 90)),
    ],
    ids=["exact-p", "asymptotic-p", "equal-counts", "ties"],
)
def test_ks_and_wasserstein_equal_scipy_on_an_exact_sketch(
    reference: np.ndarray, current: np.ndarray
) -> None:
    profile = column_profile(reference)
    assert len(profile["sketch"]) == len(reference)

    ks = compare_column("x", profile, current, method="ks")
    wasserstein = compare_column("x", profile, current, method="wasserstein")

    expected = stats.ks_2samp(reference, current)
    assert ks.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert ks.p_value == pytest.approx(expected.pvalue, abs=1e-9)
    normed = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert wasserstein.statistic == pytest.approx(normed, abs=1e-9)
    assert wasserstein.p_value is None


def test_a_sketch_of_a_large_reference_stays_close_to_scipy() -> None:
    reference, current = normal(10, 50_000), normal(11, 30_000, loc=0.05)
    profile = column_profile(reference)
    assert len(profile["sketch"]) == 201

    ks = compare_column("x", profile, current, method="ks")
    wasserstein = compare_column("x", profile, current, method="wasserstein")

    expected = stats.ks_2samp(reference, current)
    assert ks.statistic == pytest.approx(expected.statistic, abs=0.005)
    normed = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert wasserstein.statistic == pytest.approx(normed, abs=0.01)


def test_a_sketch_with_tied_points_reads_a_discrete_column_right() -> None:
    rng = np.random.default_rng(12)
    reference, current = rng.poisson(3, 20_000), rng.poisson(3, 20_000)
    profile = column_profile(reference)

    ks = compare_column("x", profile, current, method="ks")

    assert ks.statistic == pytest.approx(stats.ks_2samp(reference, current).statistic, abs=0.005)
    assert not ks.drifted


# -- known distributions -------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(NUMERIC_METHODS))
def test_samples_of_one_distribution_do_not_drift(method: str) -> None:
    profile = column_profile(normal(20, 20_000))

    result = compare_column("x", profile, normal(21, 20_000), method=method)

    assert result.statistic is not None
    assert not result.drifted, result


@pytest.mark.parametrize("method", sorted(NUMERIC_METHODS))
@pytest.mark.parametrize(("loc", "scale"), [(1.0, 1.0), (0.0, 2.0)], ids=["shifted", "rescaled"])
def test_a_shifted_or_rescaled_column_drifts(method: str, loc: float, scale: float) -> None:
    profile = column_profile(normal(22, 20_000))

    result = compare_column("x", profile, normal(23, 5_000, loc, scale), method=method)

    assert result.drifted, result


@pytest.mark.parametrize("method", sorted(CATEGORICAL_METHODS))
def test_categories_drift_when_their_shares_move(method: str) -> None:
    rng = np.random.default_rng(24)
    profile = column_profile(rng.permutation(["a"] * 10_000 + ["b"] * 6_000 + ["c"] * 4_000))

    same = compare_column(
        "x", profile, ["c"] * 1_000 + ["a"] * 2_500 + ["b"] * 1_500, method=method
    )
    moved = compare_column(
        "x", profile, rng.choice(["a", "b", "c"], 5_000, p=[0.3, 0.3, 0.4]), method=method
    )

    assert same.statistic == pytest.approx(0.0, abs=1e-12)
    assert not same.drifted, same
    assert moved.drifted, moved


# -- properties ----------------------------------------------------------------------------


@st.composite
def share_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Two share vectors over the same bins, as counts make them (zeros included)."""
    size = draw(st.integers(2, 12))
    counts = st.lists(st.integers(0, 10_000), min_size=size, max_size=size)
    first, second = draw(counts.filter(any)), draw(counts.filter(any))
    return np.array(first) / sum(first), np.array(second) / sum(second)


@given(share_pairs())
def test_psi_is_non_negative_and_symmetric(pair: tuple[np.ndarray, np.ndarray]) -> None:
    r, c = pair

    psi = drift._psi(r, c)

    assert psi >= 0
    assert psi == drift._psi(c, r)


@given(share_pairs())
def test_jensenshannon_lies_between_0_and_root_ln_2(pair: tuple[np.ndarray, np.ndarray]) -> None:
    r, c = pair

    distance = drift._jensenshannon(r, c)

    assert 0 <= distance <= math.sqrt(math.log(2)) + 1e-12
    assert distance == pytest.approx(drift._jensenshannon(c, r), abs=1e-12)


samples = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=60
)


@settings(deadline=None)
@given(samples, samples)
def test_ks_d_is_in_0_1_and_symmetric(first: list[float], second: list[float]) -> None:
    one_way = compare_column("x", column_profile(first), second, method="ks")
    other_way = compare_column("x", column_profile(second), first, method="ks")

    assert one_way.statistic is not None and 0 <= one_way.statistic <= 1
    assert one_way.statistic == pytest.approx(other_way.statistic, abs=1e-12)
    with warnings.catch_warnings():  # scipy says when its exact p-value falls back
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = stats.ks_2samp(first, second)
    assert one_way.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert one_way.p_value == pytest.approx(expected.pvalue, abs=1e-9)


# -- one column: inputs and edge cases -------------------------------------------------------


def test_missing_values_are_counted_and_left_out() -> None:
    profile = column_profile(np.arange(100.0))

    result = compare_column("x", profile, [1.0, None, np.nan, 50.0], method="psi")

    assert result.current_count == 2
    assert result.current_missing_fraction == 0.5
    assert result.histogram.current[0] == 0.5


def test_infinities_land_in_the_outer_bins_and_stay_out_of_ks() -> None:
    profile = column_profile(np.arange(100.0))

    psi = compare_column("x", profile, [np.inf, -np.inf, 5.0], method="psi")
    ks = compare_column("x", profile, [np.inf, -np.inf], method="ks")

    assert psi.histogram.current[0] == pytest.approx(2 / 3)
    assert psi.histogram.current[-1] == pytest.approx(1 / 3)
    assert ks.statistic is None
    assert ks.note == "no finite values in the window"


def test_numeric_column_refuses_text() -> None:
    with pytest.raises(DataError, match="'x' is numeric in the profile"):
        compare_column("x", column_profile([1.0, 2.0]), ["1.5", "abc"], method="psi")


def test_a_constant_reference_keeps_wasserstein_finite_as_evidently_does() -> None:
    profile = column_profile([3.0] * 50)

    same = compare_column("x", profile, [3.0] * 10, method="wasserstein")
    moved = compare_column("x", profile, [3.5] * 10, method="wasserstein")

    assert same.statistic == 0.0 and not same.drifted
    assert moved.statistic == pytest.approx(0.5 / drift.MIN_NORM)
    assert moved.drifted


def test_label_text_matches_whether_sent_as_ints_or_floats() -> None:
    labels = build_profile(pd.DataFrame({"x": range(4)}), predictions=np.array([0, 1, 1, 2]))
    profile = labels["predictions"]["prediction"]

    as_floats = compare_column("prediction", profile, [0.0, 1.0, None, 1.0, 2.0], method="psi")
    as_objects = compare_column("prediction", profile, [0, 1.0, "1", 2], method="psi")

    assert as_floats.histogram.labels == ["1", "0", "2", OTHER]
    assert as_floats.histogram.current == [0.5, 0.25, 0.25, 0.0]
    assert as_objects.histogram.current == [0.5, 0.25, 0.25, 0.0]
    assert not as_floats.drifted


def test_unseen_categories_go_to_other_and_keep_chisquare_finite() -> None:
    profile = column_profile(["a"] * 60 + ["b"] * 40)  # no "__other__" share at all

    result = compare_column(
        "x", profile, ["a"] * 50 + ["b"] * 40 + ["new"] * 10, method="chisquare"
    )

    assert result.histogram.current == [0.5, 0.4, 0.1]
    assert result.statistic is not None and math.isfinite(result.statistic)
    assert result.p_value is not None and result.p_value < 0.05
    assert result.drifted
    json.dumps(result.to_dict(), allow_nan=False)


def test_chisquare_matches_scipy_with_expected_from_reference_shares() -> None:
    profile = column_profile(["a"] * 50 + ["b"] * 30 + ["c"] * 20)

    result = compare_column("x", profile, ["a"] * 30 + ["b"] * 40 + ["c"] * 30, method="chisquare")

    expected = stats.chisquare([30, 40, 30], [50, 30, 20])  # OTHER: empty on both sides
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)


def test_statistics_drift_at_the_threshold_and_p_values_below_it() -> None:
    profile = column_profile(normal(30, 150))
    current = normal(31, 150, loc=0.4)
    psi = compare_column("x", profile, current, method="psi")
    ks = compare_column("x", profile, current, method="ks")
    assert psi.statistic is not None and ks.p_value is not None

    assert compare_column("x", profile, current, method="psi", threshold=psi.statistic).drifted
    assert not compare_column("x", profile, current, method="ks", threshold=ks.p_value).drifted
    assert ks.score == ks.p_value and psi.score == psi.statistic


@pytest.mark.parametrize("threshold", [0.0, -1.0, math.nan, math.inf])
def test_thresholds_must_be_positive_numbers(threshold: float) -> None:
    with pytest.raises(ConfigError, match="drift threshold must be a positive number"):
        compare_column("x", column_profile([1.0, 2.0]), [1.0], method="psi", threshold=threshold)


def test_a_method_must_suit_the_column() -> None:
    with pytest.raises(ConfigError, match="'ks' is not a drift method for column 'x'"):
        compare_column("x", column_profile(["a", "b"]), ["a"], method="ks")


def test_format_1_profiles_answer_psi_and_explain_ks() -> None:
    profile = column_profile(np.arange(100.0))
    del profile["sketch"]  # what a version registered before the sketch holds

    assert compare_column("x", profile, [1.0, 2.0], method="psi").statistic is not None
    for method in ("ks", "wasserstein"):
        with pytest.raises(ConfigError, match="predates the quantile sketch.*use psi, or retrain"):
            compare_column("x", profile, [1.0, 2.0], method=method)


# -- a frame ---------------------------------------------------------------------------------


@pytest.fixture
def reference_profile() -> dict[str, Any]:
    rng = np.random.default_rng(40)
    X = pd.DataFrame(
        {
            "amount": rng.normal(100, 10, 2_000),
            "city": rng.choice(["paris", "lyon", "nice"], 2_000),
            "seen": pd.date_range("2024-01-01", periods=2_000, freq="h"),
            "count": rng.integers(0, 10, 2_000),
        }
    )
    features: dict[str, Any] = build_profile(X)["features"]
    return features


def test_frame_gives_one_result_per_profiled_column_in_order(
    reference_profile: dict[str, Any],
) -> None:
    rng = np.random.default_rng(41)
    current = pd.DataFrame(
        {
            "count": rng.integers(0, 10, 500),
            "amount": rng.normal(130, 10, 500),  # drifted
            "city": rng.choice(["paris", "lyon", "nice", "rome"], 500),  # an unseen city
            "seen": pd.date_range("2025-01-01", periods=500, freq="h"),
            "extra": np.zeros(500),  # not profiled: ignored
        }
    )

    results = compare_frame(reference_profile, current)

    assert [r.feature for r in results] == ["amount", "city", "seen", "count"]
    assert [r.method for r in results] == ["psi", "psi", "psi", "psi"]
    amount, city, seen, count = results
    assert amount.drifted and not count.drifted
    assert city.histogram.labels[-1] == OTHER and city.histogram.current[-1] > 0.15
    assert city.drifted
    assert seen.statistic is None and not seen.drifted
    assert seen.note == "datetime columns are not compared"
    assert drift_share(results) == pytest.approx(2 / 3)


def test_a_column_missing_from_the_window_is_reported_not_judged(
    reference_profile: dict[str, Any],
) -> None:
    current = pd.DataFrame({"amount": normal(42, 100, 100, 10), "count": np.arange(100) % 10})

    results = {r.feature: r for r in compare_frame(reference_profile, current, method="ks")}

    city = results["city"]
    assert city.method == "chisquare"  # ks cannot judge categories
    assert city.statistic is None and not city.drifted
    assert city.note == "not in the window"
    assert city.current_missing_fraction == 1.0
    assert city.histogram.reference and city.histogram.current == [0.0] * 4


def test_an_all_missing_window_judges_nothing(reference_profile: dict[str, Any]) -> None:
    current = pd.DataFrame({name: [None] * 10 for name in reference_profile})

    results = compare_frame(reference_profile, current, method="wasserstein")

    assert all(r.statistic is None and not r.drifted for r in results)
    assert {r.note for r in results} == {
        "no values in the window",
        "datetime columns are not compared",
    }
    assert all(r.current_missing_fraction == 1.0 for r in results)
    assert drift_share(results) == 0.0


def test_overrides_set_one_columns_method_and_threshold(reference_profile: dict[str, Any]) -> None:
    rng = np.random.default_rng(43)
    current = pd.DataFrame(
        {
            "amount": rng.normal(100, 10, 500),
            "city": rng.choice(["paris", "lyon", "nice"], 500),
            "count": rng.integers(0, 10, 500),
        }
    )

    results = compare_frame(
        reference_profile,
        current,
        method="wasserstein",
        categorical_method="jensenshannon",
        overrides={"amount": ("ks", 0.01), "city": (None, 0.5), "count": (None, 1e-9)},
    )

    amount, city, _, count = results
    assert (amount.method, amount.threshold) == ("ks", 0.01)
    assert (city.method, city.threshold) == ("jensenshannon", 0.5)
    assert (count.method, count.threshold, count.drifted) == ("wasserstein", 1e-9, True)


def test_overrides_must_name_profiled_columns(reference_profile: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="does not have: amout; profiled columns: amount, city"):
        compare_frame(reference_profile, pd.DataFrame(), overrides={"amout": ("ks", None)})


def test_to_dict_is_strict_json(reference_profile: dict[str, Any]) -> None:
    current = pd.DataFrame({"amount": [np.inf, 1.0], "city": ["x", None]})

    for method in ("psi", "ks", "wasserstein", "jensenshannon"):
        for result in compare_frame(reference_profile, current, method=method):
            data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
            assert data["feature"] == result.feature
            assert data["score"] == result.score
            assert set(data["histogram"]) == {"labels", "edges", "reference", "current"}


# -- method_for ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "method", "categorical", "expected"),
    [
        ("float", "ks", None, "ks"),
        ("int", "wasserstein", "psi", "wasserstein"),
        ("string", "ks", None, "chisquare"),
        ("category", "psi", None, "psi"),
        ("bool", "jensenshannon", None, "jensenshannon"),
        ("bool", "ks", "psi", "psi"),
        ("datetime", "ks", None, "ks"),
    ],
)
def test_method_for_picks_by_kind(
    kind: str, method: str, categorical: str | None, expected: str
) -> None:
    assert method_for(kind, method, categorical) == expected


@pytest.mark.parametrize(
    ("kind", "method", "categorical", "message"),
    [
        (
            "float",
            "chisquare",
            None,
            "'chisquare' is not a drift method for numeric columns; use "
            "one of: psi, ks, wasserstein, jensenshannon",
        ),
        ("float", "kl", None, "'kl' is not a drift method; use one of: psi, ks, wasserstein"),
        (
            "string",
            "psi",
            "ks",
            "'ks' is not a drift method for categories; use one of: psi, jensenshannon, chisquare",
        ),
        ("blob", "psi", None, "unknown column kind 'blob'"),
    ],
)
def test_method_for_names_the_valid_methods(
    kind: str, method: str, categorical: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        method_for(kind, method, categorical)


def test_drift_share_counts_only_judged_features() -> None:
    profile = column_profile(np.arange(100.0))
    drifted = compare_column("x", profile, np.arange(50.0, 150.0), method="psi")
    steady = compare_column("x", profile, np.arange(100.0), method="psi")
    unjudged = compare_column("x", profile, [], method="psi")

    assert isinstance(drifted, FeatureDrift) and drifted.drifted and not steady.drifted
    assert drift_share([drifted, steady, unjudged]) == 0.5
    assert drift_share([unjudged]) == 0.0
    assert drift_share([]) == 0.0
