"""run_checks and raise_for_failed: every check passing and failing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlrelease.data.checks import CheckResult, raise_for_failed, run_checks
from mlrelease.errors import ConfigError, DataCheckFailed


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30.0, np.nan, 50.0, 60.0, 70.0, 80.0, 20.0, 25.0],
            "city": ["a", "b", "c", None, None, "f", "g", "h"],
            "target": [0, 1, 0, 1, 0, 1, 0, 1],
        }
    )


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


def test_all_checks_pass_on_good_data(frame: pd.DataFrame) -> None:
    results = run_checks(
        frame,
        target="target",
        min_rows=8,
        max_missing_fraction=0.25,
        previous_schema={"age": "float", "city": "string"},
    )

    assert [result.name for result in results] == [
        "min_rows",
        "target_present",
        "missing_target",
        "max_missing_fraction",
        "schema",
    ]
    assert all(result.passed for result in results)
    checks = by_name(results)
    assert checks["min_rows"].detail == "8 rows >= 8"
    assert checks["target_present"].detail == "target column 'target' present"
    assert checks["missing_target"].detail == "no missing target values"
    assert checks["max_missing_fraction"].detail == (
        "every feature column has <= 25% missing; worst 25%"
    )
    assert checks["schema"].detail == "unchanged (2 features)"
    raise_for_failed(results)  # nothing failed: no exception


def test_min_rows_fails_below_the_minimum(frame: pd.DataFrame) -> None:
    check = by_name(run_checks(frame, target="target", min_rows=100))["min_rows"]

    assert check == CheckResult("min_rows", False, "8 rows < 100 required")


def test_absent_target_fails_and_skips_the_missing_target_check(frame: pd.DataFrame) -> None:
    checks = by_name(run_checks(frame, target="label"))

    assert not checks["target_present"].passed
    assert checks["target_present"].detail == (
        "target column 'label' not found; columns: 'age', 'city', 'target'"
    )
    assert "missing_target" not in checks


def test_missing_target_values_fail_with_their_count(frame: pd.DataFrame) -> None:
    frame["target"] = [0, None, 0, None, 0, 1, 0, 1]

    check = by_name(run_checks(frame, target="target"))["missing_target"]

    assert check == CheckResult("missing_target", False, "2 of 8 rows have no target value")


def test_missing_fraction_fails_per_feature_column_worst_first(frame: pd.DataFrame) -> None:
    check = by_name(run_checks(frame, target="target", max_missing_fraction=0.1))[
        "max_missing_fraction"
    ]

    assert not check.passed
    assert check.detail == (
        "column 'city': 25% missing > 10% allowed; column 'age': 12.5% missing > 10% allowed"
    )


def test_missing_fraction_ignores_the_target(frame: pd.DataFrame) -> None:
    frame["target"] = [None] * 8
    frame["age"] = 1.0
    frame["city"] = "a"

    check = by_name(run_checks(frame, target="target", max_missing_fraction=0.0))[
        "max_missing_fraction"
    ]

    assert check.passed


def test_missing_fraction_is_off_by_default(frame: pd.DataFrame) -> None:
    assert "max_missing_fraction" not in by_name(run_checks(frame, target="target"))


def test_schema_first_run_has_nothing_to_compare(frame: pd.DataFrame) -> None:
    check = by_name(run_checks(frame, target="target"))["schema"]

    assert check == CheckResult("schema", True, "first run: nothing to compare")


PREVIOUS = {"age": "int", "income": "float"}


def test_strict_schema_fails_on_any_difference(frame: pd.DataFrame) -> None:
    check = by_name(run_checks(frame, target="target", previous_schema=PREVIOUS))["schema"]

    assert not check.passed
    assert check.detail == (
        "changed: added: 'city' (string); removed: 'income' (float); "
        "kind changed: 'age' int -> float"
    )


def test_warn_schema_passes_but_names_the_differences(frame: pd.DataFrame) -> None:
    check = by_name(
        run_checks(frame, target="target", previous_schema=PREVIOUS, schema_policy="warn")
    )["schema"]

    assert check.passed
    assert "allowed by schema_policy warn" in check.detail
    assert "removed: 'income' (float)" in check.detail


def test_schema_off_skips_the_check(frame: pd.DataFrame) -> None:
    results = run_checks(frame, target="target", previous_schema=PREVIOUS, schema_policy="off")

    assert "schema" not in by_name(results)


@pytest.mark.parametrize(
    "options",
    [
        {"min_rows": -1},
        {"max_missing_fraction": 1.5},
        {"schema_policy": "loose"},
    ],
)
def test_unusable_options_are_config_errors(
    frame: pd.DataFrame, options: dict[str, object]
) -> None:
    with pytest.raises(ConfigError):
        run_checks(frame, target="target", **options)  # type: ignore[arg-type]


def test_raise_for_failed_lists_each_failed_check_on_its_own_line() -> None:
    results = [
        CheckResult("min_rows", False, "8 rows < 100 required"),
        CheckResult("target_present", True, "target column 'target' present"),
        CheckResult("missing_target", False, "2 of 8 rows have no target value"),
    ]

    with pytest.raises(DataCheckFailed) as raised:
        raise_for_failed(results)

    assert raised.value.message.splitlines() == [
        "2 data checks failed:",
        "min_rows: 8 rows < 100 required",
        "missing_target: 2 of 8 rows have no target value",
    ]
    assert raised.value.details == {"checks": [result.to_dict() for result in results]}
    assert raised.value.details["checks"][0] == {
        "name": "min_rows",
        "passed": False,
        "detail": "8 rows < 100 required",
    }
