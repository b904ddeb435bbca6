"""schema_of, kind_of and diff_schemas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlrelease.data.schema import SchemaDiff, diff_schemas, kind_of, schema_of
from mlrelease.errors import DataError


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        (pd.Series([1.5, np.nan]), "float"),
        (pd.Series([1.5], dtype="Float64"), "float"),
        (pd.Series([1], dtype="int32"), "int"),
        (pd.Series([1, None], dtype="Int64"), "int"),
        (pd.Series([True, False]), "bool"),
        (pd.Series([True, None], dtype="boolean"), "bool"),
        (pd.Series(pd.Categorical(["a", "b"])), "category"),
        (pd.Series(pd.Categorical([True, False])), "category"),
        (pd.Series(["a", "b"]), "string"),
        (pd.Series(["a", 1], dtype=object), "string"),
        (pd.Series(pd.to_datetime(["2024-01-01"])), "datetime"),
        (pd.Series(pd.to_datetime(["2024-01-01"]).tz_localize("UTC")), "datetime"),
    ],
)
def test_kind_of_each_dtype(column: pd.Series, kind: str) -> None:
    assert kind_of(column) == kind


def test_unsupported_dtype_names_the_column_and_the_kinds() -> None:
    column = pd.Series(pd.to_timedelta([1, 2], unit="s"), name="duration")

    with pytest.raises(DataError, match=r"column 'duration' has dtype timedelta64.*float, int"):
        kind_of(column)


def test_schema_of_lists_features_in_column_order_without_the_target() -> None:
    df = pd.DataFrame({"z": [1.0], "target": [1], "a": ["x"], "m": [True]})

    assert list(schema_of(df, "target").items()) == [
        ("z", "float"),
        ("a", "string"),
        ("m", "bool"),
    ]


def test_identical_schemas_have_no_differences() -> None:
    diff = diff_schemas({"a": "int"}, {"a": "int"})

    assert diff.is_empty
    assert diff.describe() == "no differences"


def test_added_removed_and_changed_columns() -> None:
    diff = diff_schemas(
        {"a": "int", "b": "string", "c": "float"},
        {"a": "float", "c": "float", "d": "bool"},
    )

    assert diff == SchemaDiff(
        added={"d": "bool"}, removed={"b": "string"}, changed={"a": ("int", "float")}
    )
    assert not diff.is_empty
    assert diff.describe() == (
        "added: 'd' (bool); removed: 'b' (string); kind changed: 'a' int -> float"
    )


def test_reordered_columns_are_not_a_difference() -> None:
    assert diff_schemas({"a": "int", "b": "int"}, {"b": "int", "a": "int"}).is_empty
