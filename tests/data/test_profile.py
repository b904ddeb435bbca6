"""build_profile and bin_fractions: correct on known data, always plain JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlrelease.data.profile import (
    OTHER,
    PROFILE_FORMAT_VERSION,
    SKETCH_INTERVALS,
    bin_fractions,
    build_profile,
)
from mlrelease.errors import ConfigError, DataError


def test_numeric_column_on_known_values() -> None:
    X = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, np.nan, np.nan]})

    profile = build_profile(X, n_bins=2)["features"]["x"]

    assert profile == {
        "kind": "float",
        "count": 10,
        "missing_fraction": pytest.approx(2 / 12),
        "distribution": "quantile_bins",
        "min": 1.0,
        "max": 10.0,
        "mean": 5.5,
        "std": pytest.approx(np.std(np.arange(1, 11), ddof=1)),
        "bin_edges": [1.0, 5.5, 10.0],
        "bin_fractions": [0.5, 0.5],
        "sketch": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
    }


def test_bin_edges_are_deduplicated_for_tied_values() -> None:
    X = pd.DataFrame({"n": [0] * 6 + [1, 2, 3, 4]})

    profile = build_profile(X, n_bins=4)["features"]["n"]

    # Quantiles 0, 0.25 and 0.5 are all 0: one edge stands for the three.
    assert profile["kind"] == "int"
    assert profile["bin_edges"] == [0.0, 1.75, 4.0]
    assert profile["bin_fractions"] == [0.7, 0.3]


def test_constant_column_has_one_bin_holding_everything() -> None:
    profile = build_profile(pd.DataFrame({"c": [3.0] * 5}))["features"]["c"]

    assert profile["bin_edges"] == [3.0, 3.0]
    assert profile["bin_fractions"] == [1.0]
    assert profile["std"] == 0.0


def test_categorical_column_keeps_top_categories_and_an_other_share() -> None:
    X = pd.DataFrame({"city": ["a"] * 5 + ["b"] * 3 + ["c", "d", None]})

    profile = build_profile(X, max_categories=2)["features"]["city"]

    assert profile == {
        "kind": "string",
        "count": 10,
        "missing_fraction": pytest.approx(1 / 11),
        "distribution": "categories",
        "frequencies": {"a": 0.5, "b": 0.3, OTHER: 0.2},
    }


def test_ties_between_categories_are_broken_by_value() -> None:
    X = pd.DataFrame({"c": pd.Categorical(["z", "y", "x", "x"])})

    frequencies = build_profile(X, max_categories=2)["features"]["c"]["frequencies"]

    assert list(frequencies) == ["x", "y", OTHER]
    assert frequencies[OTHER] == 0.25


def test_bool_column_is_categorical_with_text_keys() -> None:
    profile = build_profile(pd.DataFrame({"flag": [True, True, False, True]}))["features"]["flag"]

    assert profile["kind"] == "bool"
    assert profile["frequencies"] == {"True": 0.75, "False": 0.25, OTHER: 0.0}


def test_datetime_column_records_its_range_as_text() -> None:
    X = pd.DataFrame({"t": pd.to_datetime(["2024-03-01", None, "2024-01-01"])})

    profile = build_profile(X)["features"]["t"]

    assert profile["distribution"] is None
    assert profile["min"] == "2024-01-01T00:00:00"
    assert profile["max"] == "2024-03-01T00:00:00"
    assert profile["count"] == 2


def test_profile_is_strict_json_even_with_nan_infinity_and_empty_columns() -> None:
    X = pd.DataFrame(
        {
            "all_missing": [np.nan, np.nan, np.nan],
            "with_inf": [1.0, np.inf, -np.inf],
            "single": [1.0, np.nan, np.nan],
            "labels": [None, None, None],
        }
    )

    profile = build_profile(X, predictions=np.array([0.1, np.nan, 0.9]))
    text = json.dumps(profile, allow_nan=False)

    features = json.loads(text)["features"]
    assert features["all_missing"]["mean"] is None
    assert features["all_missing"]["bin_edges"] == []
    assert features["with_inf"]["min"] == 1.0
    assert features["with_inf"]["bin_fractions"] == [1.0]  # infinities fall in the outer bin
    assert features["single"]["std"] is None
    assert features["all_missing"]["sketch"] == []
    assert features["with_inf"]["sketch"] == [1.0]  # the sketch holds finite values only
    assert features["labels"]["frequencies"] == {OTHER: 0.0}


def test_float_predictions_get_quantile_bins() -> None:
    X = pd.DataFrame({"x": range(4)})

    profile = build_profile(X, predictions=np.array([0.1, 0.2, 0.3, 0.4]), n_bins=2)

    assert profile["n_rows"] == 4
    prediction = profile["predictions"]["prediction"]
    assert prediction["distribution"] == "quantile_bins"
    assert prediction["bin_edges"] == pytest.approx([0.1, 0.25, 0.4])


def test_label_predictions_get_category_shares() -> None:
    X = pd.DataFrame({"x": range(4)})

    profile = build_profile(X, predictions=np.array([1, 0, 1, 1]))

    prediction = profile["predictions"]["prediction"]
    assert prediction["kind"] == "int"
    assert prediction["frequencies"] == {"1": 0.75, "0": 0.25, OTHER: 0.0}


def test_probability_matrix_is_profiled_column_by_column() -> None:
    X = pd.DataFrame({"x": range(3)})
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])

    predictions = build_profile(X, predictions=proba)["predictions"]

    assert list(predictions) == ["prediction_0", "prediction_1"]
    assert predictions["prediction_1"]["max"] == 0.8


def test_no_predictions_is_none() -> None:
    assert build_profile(pd.DataFrame({"x": [1]}))["predictions"] is None


def test_predictions_must_match_the_rows() -> None:
    with pytest.raises(DataError, match="got 2 predictions for 3 rows"):
        build_profile(pd.DataFrame({"x": range(3)}), predictions=np.array([1, 2]))


@pytest.mark.parametrize(("n_bins", "max_categories"), [(0, 20), (10, 0)])
def test_sizes_must_be_positive(n_bins: int, max_categories: int) -> None:
    with pytest.raises(ConfigError, match="must be 1 or more, got 0"):
        build_profile(pd.DataFrame({"x": [1]}), n_bins=n_bins, max_categories=max_categories)


def test_bin_fractions_puts_out_of_range_values_in_the_outer_bins() -> None:
    values = np.array([-100.0, 0.0, 4.9, 5.0, 9.9, 10.0, 100.0, 50.0])

    assert bin_fractions(values, [0.0, 5.0, 10.0]) == [3 / 8, 5 / 8]
    assert bin_fractions(values, [0.0, 5.0, 7.5, 10.0]) == [3 / 8, 1 / 8, 4 / 8]
    assert bin_fractions(np.array([]), [0.0, 5.0, 10.0]) == [0.0, 0.0]


def test_profile_carries_its_format_version() -> None:
    assert (
        build_profile(pd.DataFrame({"x": [1.0]}))["format_version"] == PROFILE_FORMAT_VERSION == 2
    )


def test_sketch_is_exactly_the_sorted_values_up_to_201_of_them() -> None:
    values = np.random.default_rng(3).normal(size=SKETCH_INTERVALS + 1)
    X = pd.DataFrame({"x": np.concatenate([values, [np.nan, np.inf]])})

    sketch = build_profile(X)["features"]["x"]["sketch"]

    assert sketch == sorted(values.tolist())  # exact, not approximately
    assert all(type(point) is float for point in sketch)


def test_sketch_of_a_large_column_is_201_quantiles() -> None:
    values = np.random.default_rng(4).exponential(size=10_000)

    sketch = build_profile(pd.DataFrame({"x": values}))["features"]["x"]["sketch"]

    assert len(sketch) == SKETCH_INTERVALS + 1
    assert sketch == sorted(sketch)
    assert sketch[0] == values.min()
    assert sketch[-1] == values.max()
    expected = np.quantile(values, np.linspace(0, 1, 201))
    assert sketch == pytest.approx(expected.tolist(), rel=1e-12)


def test_sketch_keeps_ties_of_a_discrete_column_and_stays_sorted() -> None:
    values = np.random.default_rng(5).integers(0, 4, size=5_000)

    sketch = build_profile(pd.DataFrame({"n": values}))["features"]["n"]["sketch"]

    assert len(sketch) == SKETCH_INTERVALS + 1
    assert set(sketch) <= {0.0, 1.0, 2.0, 3.0}
    assert sketch == sorted(sketch)


def test_sketch_is_strict_json_with_no_nan() -> None:
    X = pd.DataFrame({"x": np.r_[np.random.default_rng(6).normal(size=1_000), np.nan, -np.inf]})

    text = json.dumps(build_profile(X), allow_nan=False)

    sketch = json.loads(text)["features"]["x"]["sketch"]
    assert len(sketch) == 201
    assert all(np.isfinite(sketch))


def test_bin_fractions_of_sorted_values_match_the_general_case() -> None:
    values = np.sort(np.random.default_rng(7).normal(size=1_000))
    edges = [-1.0, -0.5, 0.0, 0.0, 0.5, 1.0]  # a repeated edge makes an empty bin

    assert bin_fractions(values, edges, assume_sorted=True) == bin_fractions(values, edges)
    assert bin_fractions(values, [0.0, 1.0], assume_sorted=True) == [1.0]


def test_bin_fractions_with_many_edges_match_a_histogram() -> None:
    values = np.random.default_rng(8).normal(size=5_000)
    edges = np.linspace(-3, 3, 101)  # enough edges to sort rather than count per edge

    shares = bin_fractions(values, edges.tolist())

    outer = np.concatenate([[-np.inf], edges[1:-1], [np.inf]])
    assert shares == pytest.approx((np.histogram(values, outer)[0] / values.size).tolist())
