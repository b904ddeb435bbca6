"""load_source: every source form, and the errors for sources that cannot be read."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlrelease.data.sources import BUNDLED_DATASETS, load_source
from mlrelease.errors import ConfigError, DataError


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project directory whose loader modules are forgotten after the test."""
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def write_module(project: Path, name: str, body: str) -> None:
    (project / f"{name}.py").write_text(textwrap.dedent(body))


# --- sklearn: ----------------------------------------------------------------------


def test_breast_cancer_has_sklearn_feature_names_and_a_target_column(tmp_path: Path) -> None:
    df = load_source("sklearn:load_breast_cancer", base_dir=tmp_path, target="target")

    assert df.shape == (569, 31)
    assert list(df.columns[:2]) == ["mean radius", "mean texture"]
    assert df.columns[-1] == "target"
    assert set(df["target"].unique()) == {0, 1}


@pytest.mark.parametrize("name", BUNDLED_DATASETS)
def test_every_bundled_dataset_loads_without_download(tmp_path: Path, name: str) -> None:
    df = load_source(f"sklearn:{name}", base_dir=tmp_path)

    assert len(df) > 0
    assert len(df.columns) > 1


def test_fetch_datasets_are_refused_because_they_download(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="downloads its data at run time"):
        load_source("sklearn:fetch_openml", base_dir=tmp_path)


def test_unknown_sklearn_dataset_lists_the_bundled_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="load_iris") as raised:
        load_source("sklearn:make_classification", base_dir=tmp_path)
    assert "'make_classification'" in raised.value.message


# --- files -------------------------------------------------------------------------


def test_csv_file_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    pd.DataFrame({"a": [1, 2], "target": [0, 1]}).to_csv(tmp_path / "data/train.csv", index=False)

    df = load_source("data/train.csv", base_dir=tmp_path, target="target")

    assert df.to_dict("list") == {"a": [1, 2], "target": [0, 1]}


def test_absolute_path_ignores_base_dir(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    pd.DataFrame({"a": [1]}).to_csv(path, index=False)

    df = load_source(str(path), base_dir=tmp_path / "elsewhere")

    assert df["a"].tolist() == [1]


def test_csv_glob_concatenates_matches_in_sorted_order(tmp_path: Path) -> None:
    pd.DataFrame({"a": [3], "b": ["z"]}).to_csv(tmp_path / "part-2.csv", index=False)
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv(tmp_path / "part-1.csv", index=False)
    # Same columns in another order are aligned to the first file's order.
    pd.DataFrame({"b": ["w"], "a": [4]}).to_csv(tmp_path / "part-3.csv", index=False)

    df = load_source("part-*.csv", base_dir=tmp_path)

    assert list(df.columns) == ["a", "b"]
    assert df["a"].tolist() == [1, 2, 3, 4]
    assert list(df.index) == [0, 1, 2, 3]


def test_glob_with_different_columns_names_the_file_and_the_columns(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(tmp_path / "1.csv", index=False)
    pd.DataFrame({"a": [1], "c": [2]}).to_csv(tmp_path / "2.csv", index=False)

    with pytest.raises(DataError) as raised:
        load_source("*.csv", base_dir=tmp_path)

    message = raised.value.message
    assert str(tmp_path / "2.csv") in message
    assert "missing 'b'" in message
    assert "extra 'c'" in message


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_keeps_dtypes(tmp_path: Path, suffix: str) -> None:
    original = pd.DataFrame(
        {"n": [1.5, 2.5], "c": pd.Categorical(["u", "v"]), "target": [True, False]}
    )
    original.to_parquet(tmp_path / f"train{suffix}")

    df = load_source(f"train{suffix}", base_dir=tmp_path)

    pd.testing.assert_frame_equal(df, original)


def test_no_match_names_the_pattern_and_the_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError) as raised:
        load_source("data/*.csv", base_dir=tmp_path)

    assert "'data/*.csv'" in raised.value.message
    assert str(tmp_path) in raised.value.message


def test_corrupt_parquet_names_the_file_and_the_reason_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet")

    with pytest.raises(DataError) as raised:
        load_source("bad.parquet", base_dir=tmp_path)

    message = raised.value.message
    assert message.startswith(f"cannot read {tmp_path / 'bad.parquet'}: ")
    assert len(message) > len(f"cannot read {tmp_path / 'bad.parquet'}: ")
    assert "\n" not in message


def test_empty_csv_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")

    with pytest.raises(DataError, match="empty.csv"):
        load_source("empty.csv", base_dir=tmp_path)


def test_unsupported_file_type_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unsupported file type '\.json'"):
        load_source("train.json", base_dir=tmp_path)


def test_glob_matching_an_unsupported_file_is_a_data_error(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "notes.txt").write_text("hello")

    with pytest.raises(DataError, match=r"notes\.txt: unsupported file type"):
        load_source("*", base_dir=tmp_path)


# --- package.module:function -----------------------------------------------------


def test_loader_module_in_the_project_directory_returning_a_frame(project: Path) -> None:
    write_module(
        project,
        "frame_loader",
        """
        import pandas as pd

        def load():
            return pd.DataFrame({"a": [1, 2], "label": [0, 1]})
        """,
    )

    df = load_source("frame_loader:load", base_dir=project, target="label")

    assert df.to_dict("list") == {"a": [1, 2], "label": [0, 1]}
    assert str(project) not in sys.path


def test_loader_in_a_package_returning_x_and_y_puts_y_under_the_target_name(
    project: Path,
) -> None:
    (project / "pkg").mkdir()
    (project / "pkg/__init__.py").write_text("")
    write_module(
        project / "pkg",
        "data",
        """
        import pandas as pd

        def load():
            X = pd.DataFrame({"a": [1, 2, 3]}, index=[10, 20, 30])
            return X, pd.Series(["p", "q", "r"], name="ignored")
        """,
    )

    df = load_source("pkg.data:load", base_dir=project, target="label")

    assert list(df.columns) == ["a", "label"]
    # y is matched to X by position, whatever index each carries.
    assert df["label"].tolist() == ["p", "q", "r"]


def test_loader_returning_arrays_gets_named_columns_and_a_default_target(project: Path) -> None:
    write_module(
        project,
        "array_loader",
        """
        import numpy as np

        def load():
            return np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0, 1])
        """,
    )

    df = load_source("array_loader:load", base_dir=project)

    assert df.to_dict("list") == {"x0": [1.0, 3.0], "x1": [2.0, 4.0], "target": [0, 1]}


def test_loader_frame_with_non_text_column_names_gets_text_names(project: Path) -> None:
    write_module(
        project,
        "int_columns",
        """
        import pandas as pd

        def load():
            return pd.DataFrame({0: [1.0], 1: [2.0]}), pd.Series([1])
        """,
    )

    df = load_source("int_columns:load", base_dir=project)

    assert list(df.columns) == ["0", "1", "target"]


@pytest.mark.parametrize(
    ("returned", "described"),
    [
        ("[1, 2]", "an object of type list"),
        ("None", "None"),
        ("(pd.DataFrame({'a': [1]}), pd.Series([1]), 3)", "a tuple of 3 (DataFrame, Series, int)"),
        ("(pd.DataFrame({'a': [1]}), [1])", "a tuple of 2 (DataFrame, list)"),
        ("(np.array([1, 2]), np.array([1, 2]))", "a tuple of 2 (1-D ndarray, 1-D ndarray)"),
    ],
)
def test_loader_returning_something_else_says_what_and_what_is_expected(
    project: Path, returned: str, described: str
) -> None:
    write_module(
        project,
        "bad_loader",
        f"""
        import numpy as np
        import pandas as pd

        def load():
            return {returned}
        """,
    )

    with pytest.raises(DataError) as raised:
        load_source("bad_loader:load", base_dir=project)

    assert f"returned {described}" in raised.value.message
    assert "expected a pandas DataFrame, or a tuple (X, y)" in raised.value.message


def test_loader_x_and_y_of_different_lengths(project: Path) -> None:
    write_module(
        project,
        "short_y",
        """
        import pandas as pd

        def load():
            return pd.DataFrame({"a": [1, 2]}), pd.Series([1])
        """,
    )

    with pytest.raises(DataError, match="X with 2 rows but y with 1"):
        load_source("short_y:load", base_dir=project)


def test_loader_x_that_already_has_the_target_column(project: Path) -> None:
    write_module(
        project,
        "clash",
        """
        import pandas as pd

        def load():
            return pd.DataFrame({"target": [1]}), pd.Series([1])
        """,
    )

    with pytest.raises(DataError, match="already has a column 'target'"):
        load_source("clash:load", base_dir=project)


def test_loader_that_raises_is_a_data_error_naming_the_exception(project: Path) -> None:
    write_module(project, "failing", "def load():\n    raise RuntimeError('database down')\n")

    with pytest.raises(DataError, match="raised RuntimeError: database down"):
        load_source("failing:load", base_dir=project)


def test_loader_module_that_does_not_exist(project: Path) -> None:
    with pytest.raises(DataError, match="cannot import loader module 'no_such_module'"):
        load_source("no_such_module:load", base_dir=project)
    assert str(project) not in sys.path


def test_loader_function_that_does_not_exist(project: Path) -> None:
    write_module(project, "empty_module", "")

    with pytest.raises(DataError, match="has no attribute 'load'"):
        load_source("empty_module:load", base_dir=project)


def test_loader_attribute_that_is_not_callable(project: Path) -> None:
    write_module(project, "constant", "load = 3\n")

    with pytest.raises(DataError, match="is not callable: it is of type int"):
        load_source("constant:load", base_dir=project)


def test_duplicate_columns_are_refused(project: Path) -> None:
    write_module(
        project,
        "duplicates",
        """
        import pandas as pd

        def load():
            return pd.DataFrame([[1, 2]], columns=["a", "a"])
        """,
    )

    with pytest.raises(DataError, match="duplicate columns: 'a'"):
        load_source("duplicates:load", base_dir=project)


# --- which form, and the target ------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["", "   ", "s3://bucket/train.csv", "https://example.com/x.csv", "mod:not-a-name"]
)
def test_text_of_no_accepted_form_is_a_config_error_listing_the_forms(
    tmp_path: Path, source: str
) -> None:
    with pytest.raises(ConfigError, match="accepted forms: 'sklearn:<name>'"):
        load_source(source, base_dir=tmp_path)


def test_a_windows_drive_path_is_a_path_not_a_scheme(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no file matches"):
        load_source(r"C:\data\train.csv", base_dir=tmp_path)


def test_missing_target_lists_the_first_twenty_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError) as raised:
        load_source("sklearn:load_breast_cancer", base_dir=tmp_path, target="diagnosis")

    message = raised.value.message
    assert "target column 'diagnosis' not found" in message
    assert "'mean radius'" in message
    assert "and 11 more" in message  # 31 columns, 20 shown
