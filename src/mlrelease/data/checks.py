"""Data checks run before training, and the error raised when one refuses the data.

Each check yields one CheckResult with a single human line of detail. A check that
is switched off (``max_missing_fraction=None``, ``schema_policy="off"``) or cannot
apply (``missing_target`` without a target column) yields nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal, get_args

import pandas as pd

from mlrelease.data._text import list_names, percent
from mlrelease.data.schema import diff_schemas, schema_of
from mlrelease.errors import ConfigError, DataCheckFailed

__all__ = ["CheckResult", "SchemaPolicy", "raise_for_failed", "run_checks"]

SchemaPolicy = Literal["strict", "warn", "off"]

# A failing max_missing_fraction names this many of the worst columns, then counts the rest.
_WORST_COLUMNS_SHOWN: Final = 5


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one data check."""

    name: (
        str  # "min_rows" | "target_present" | "missing_target" | "max_missing_fraction" | "schema"
    )
    passed: bool
    detail: str  # one human line, e.g. "569 rows >= 100"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(
    df: pd.DataFrame,
    *,
    target: str,
    min_rows: int = 1,
    max_missing_fraction: float | None = None,
    previous_schema: Mapping[str, str] | None = None,
    schema_policy: SchemaPolicy = "strict",
) -> list[CheckResult]:
    """Run every applicable check on ``df`` and return all results, passed or not.

    ``previous_schema`` is the feature schema (see ``schema_of``) of the last
    successful run; ``schema_policy`` says whether a difference fails ("strict"),
    is only reported ("warn") or is not looked for ("off").
    """
    if min_rows < 0:
        raise ConfigError(f"min_rows must be 0 or more, got {min_rows}")
    if max_missing_fraction is not None and not 0 <= max_missing_fraction <= 1:
        raise ConfigError(
            f"max_missing_fraction must be between 0 and 1, got {max_missing_fraction}"
        )
    if schema_policy not in get_args(SchemaPolicy):
        raise ConfigError(
            f"schema_policy must be one of {', '.join(get_args(SchemaPolicy))}, "
            f"got {schema_policy!r}"
        )

    results = [_check_min_rows(df, min_rows), _check_target_present(df, target)]
    if target in df.columns:
        results.append(_check_missing_target(df[target]))
    if max_missing_fraction is not None:
        results.append(
            _check_missing_fraction(
                df.drop(columns=[target], errors="ignore"), max_missing_fraction
            )
        )
    if schema_policy != "off":
        results.append(_check_schema(schema_of(df, target), previous_schema, schema_policy))
    return results


def raise_for_failed(results: Sequence[CheckResult]) -> None:
    """Raise DataCheckFailed if any check failed: one line per failed check.

    ``details["checks"]`` holds every result, passed ones included, for the record.
    """
    failed = [result for result in results if not result.passed]
    if not failed:
        return
    lines = [f"{result.name}: {result.detail}" for result in failed]
    noun = "check" if len(failed) == 1 else "checks"
    raise DataCheckFailed(
        f"{len(failed)} data {noun} failed:\n" + "\n".join(lines),
        details={"checks": [result.to_dict() for result in results]},
    )


def _check_min_rows(df: pd.DataFrame, min_rows: int) -> CheckResult:
    rows = len(df)
    if rows >= min_rows:
        return CheckResult("min_rows", True, f"{rows} rows >= {min_rows}")
    return CheckResult("min_rows", False, f"{rows} rows < {min_rows} required")


def _check_target_present(df: pd.DataFrame, target: str) -> CheckResult:
    if target in df.columns:
        return CheckResult("target_present", True, f"target column {target!r} present")
    return CheckResult(
        "target_present",
        False,
        f"target column {target!r} not found; columns: {list_names(df.columns)}",
    )


def _check_missing_target(labels: pd.Series) -> CheckResult:
    missing = int(labels.isna().sum())
    if missing == 0:
        return CheckResult("missing_target", True, "no missing target values")
    return CheckResult(
        "missing_target", False, f"{missing} of {len(labels)} rows have no target value"
    )


def _check_missing_fraction(features: pd.DataFrame, allowed: float) -> CheckResult:
    # An empty frame has no missing cells, rather than an undefined (NaN) share.
    fractions = features.isna().mean() if len(features) else pd.Series(0.0, index=features.columns)
    too_many = fractions[fractions > allowed].sort_values(ascending=False, kind="stable")
    if too_many.empty:
        worst = f"; worst {percent(float(fractions.max()))}" if len(fractions) else ""
        return CheckResult(
            "max_missing_fraction",
            True,
            f"every feature column has <= {percent(allowed)} missing{worst}",
        )
    shown = [
        f"column {str(name)!r}: {percent(float(fraction))} missing > {percent(allowed)} allowed"
        for name, fraction in too_many.iloc[:_WORST_COLUMNS_SHOWN].items()
    ]
    hidden = len(too_many) - _WORST_COLUMNS_SHOWN
    if hidden > 0:
        shown.append(f"and {hidden} more columns")
    return CheckResult("max_missing_fraction", False, "; ".join(shown))


def _check_schema(
    current: Mapping[str, str], previous: Mapping[str, str] | None, policy: SchemaPolicy
) -> CheckResult:
    if previous is None:
        return CheckResult("schema", True, "first run: nothing to compare")
    diff = diff_schemas(previous, current)
    if diff.is_empty:
        return CheckResult("schema", True, f"unchanged ({len(current)} features)")
    if policy == "warn":
        return CheckResult(
            "schema", True, f"changed (allowed by schema_policy warn): {diff.describe()}"
        )
    return CheckResult("schema", False, f"changed: {diff.describe()}")
