"""split_frame: deterministic splits and clear refusals to stratify."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlrelease.data.split import split_frame
from mlrelease.errors import ConfigError, DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=100),
            "label": ["a"] * 80 + ["b"] * 20,
        }
    )


def test_parts_have_the_requested_sizes_and_cover_every_row(frame: pd.DataFrame) -> None:
    split = split_frame(frame, target="label", test_size=0.25)

    assert len(split.X_train) == len(split.y_train) == 75
    assert len(split.X_test) == len(split.y_test) == 25
    assert list(split.X_train.columns) == ["x"]
    assert split.y_train.name == "label"
    assert sorted([*split.X_train.index, *split.X_test.index]) == list(range(100))
    assert list(split.X_train.index) == list(split.y_train.index)


def test_same_seed_same_split(frame: pd.DataFrame) -> None:
    first = split_frame(frame, target="label", seed=7)
    second = split_frame(frame, target="label", seed=7)

    pd.testing.assert_frame_equal(first.X_train, second.X_train)
    pd.testing.assert_series_equal(first.y_test, second.y_test)


def test_another_seed_another_split(frame: pd.DataFrame) -> None:
    first = split_frame(frame, target="label", seed=1)
    second = split_frame(frame, target="label", seed=2)

    assert list(first.X_test.index) != list(second.X_test.index)


def test_stratify_keeps_class_shares_in_both_parts(frame: pd.DataFrame) -> None:
    split = split_frame(frame, target="label", test_size=0.2, stratify=True)

    assert split.y_test.value_counts().to_dict() == {"a": 16, "b": 4}
    assert split.y_train.value_counts().to_dict() == {"a": 64, "b": 16}


def test_stratify_accepts_whole_number_float_labels(frame: pd.DataFrame) -> None:
    frame["label"] = [0.0] * 50 + [1.0] * 50

    split = split_frame(frame, target="label", stratify=True)

    assert split.y_test.value_counts().to_dict() == {0.0: 10, 1.0: 10}


def test_stratify_on_a_regression_target_suggests_turning_it_off(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="continuous values.*`stratify: false`"):
        split_frame(frame, target="x", stratify=True)


def test_stratify_with_a_single_row_class_names_it(frame: pd.DataFrame) -> None:
    frame.loc[0, "label"] = "rare"

    with pytest.raises(DataError) as raised:
        split_frame(frame, target="label", stratify=True)

    message = raised.value.message
    assert "1 class has a single row ('rare')" in message
    assert "`stratify: false`" in message


def test_missing_target_column(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="target column 'y' not found; columns: 'x', 'label'"):
        split_frame(frame, target="y")


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.1, 1.5])
def test_test_size_must_be_a_fraction(frame: pd.DataFrame, test_size: float) -> None:
    with pytest.raises(ConfigError, match="test_size"):
        split_frame(frame, target="label", test_size=test_size)


def test_too_few_rows_to_split_is_a_data_error() -> None:
    with pytest.raises(DataError, match="cannot split 1 rows"):
        split_frame(pd.DataFrame({"x": [1], "y": [0]}), target="y")
