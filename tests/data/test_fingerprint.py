"""fingerprint: stable for the same data, different for any change."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from mlrelease.data.fingerprint import fingerprint


def sample() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": [1.5, np.nan, 3.25],
            "i": [1, 2, 3],
            "s": ["a", "b", None],
            "c": pd.Categorical(["x", "y", "x"]),
            "b": [True, False, True],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        }
    )


def test_format_is_sha256_hex() -> None:
    value = fingerprint(sample())

    assert value.startswith("sha256:")
    assert len(value) == len("sha256:") + 64
    int(value.removeprefix("sha256:"), 16)


def test_same_content_same_fingerprint_whatever_the_index() -> None:
    reindexed = sample().set_axis([10, 20, 30])

    assert fingerprint(sample()) == fingerprint(sample().copy())
    assert fingerprint(sample()) == fingerprint(reindexed)


def changed_cell(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[1, "i"] = 4
    return df


def missing_cell(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[0, "n"] = np.nan
    return df


def swapped_values(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(n=df["i"].astype(float), i=[1, 2, 3])


@pytest.mark.parametrize(
    "change",
    [
        changed_cell,
        missing_cell,
        lambda df: df.assign(s=["a", "b", "c"]),
        lambda df: df.rename(columns={"n": "m"}),
        lambda df: df.astype({"i": "float64"}),
        lambda df: df.astype({"i": "int32"}),
        lambda df: df[list(reversed(df.columns))],
        lambda df: df.iloc[::-1],
        lambda df: df.iloc[:2],
        lambda df: df.drop(columns=["b"]),
        lambda df: df.assign(extra=0),
    ],
    ids=[
        "cell",
        "cell-to-missing",
        "missing-to-value",
        "column-name",
        "dtype-float",
        "dtype-width",
        "column-order",
        "row-order",
        "fewer-rows",
        "fewer-columns",
        "more-columns",
    ],
)
def test_any_change_changes_the_fingerprint(
    change: Callable[[pd.DataFrame], pd.DataFrame],
) -> None:
    assert fingerprint(change(sample())) != fingerprint(sample())


def test_values_moved_between_columns_change_the_fingerprint() -> None:
    left = pd.DataFrame({"a": [1, 2], "b": [2, 1]})
    right = pd.DataFrame({"a": [2, 1], "b": [1, 2]})

    assert fingerprint(left) != fingerprint(right)


def test_frames_without_rows_or_columns_have_distinct_fingerprints() -> None:
    no_columns = pd.DataFrame(index=range(3))
    no_rows = pd.DataFrame({"a": pd.Series([], dtype="int64")})

    assert fingerprint(no_columns) != fingerprint(pd.DataFrame(index=range(4)))
    assert fingerprint(no_rows) != fingerprint(pd.DataFrame({"b": pd.Series([], dtype="int64")}))


def test_same_in_another_process_with_another_hash_seed() -> None:
    script = textwrap.dedent(
        """
        import pandas as pd
        from mlrelease.data.fingerprint import fingerprint

        df = pd.DataFrame({"s": ["alpha", "beta", None], "c": pd.Categorical(["x", "y", "x"])})
        print(fingerprint(df))
        """
    )

    def run(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        completed = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        return completed.stdout.strip()

    first, second = run("1"), run("2")

    assert first.startswith("sha256:")
    assert first == second
