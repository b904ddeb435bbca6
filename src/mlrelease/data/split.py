"""Deterministic train/test split of a frame into features and target."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pandas.api import types as ptypes

from mlrelease.data._text import list_names
from mlrelease.errors import ConfigError, DataError

__all__ = ["Split", "split_frame"]


@dataclass(frozen=True)
class Split:
    """Features and target, each cut into a train and a test part (row index kept)."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def split_frame(
    df: pd.DataFrame,
    *,
    target: str,
    test_size: float = 0.2,
    seed: int = 42,
    stratify: bool = False,
) -> Split:
    """Split ``df`` into train and test; the same inputs and seed give the same split.

    With ``stratify`` the target's class proportions are kept in both parts, which
    needs a classification target whose every class has at least two rows.
    """
    if not 0 < test_size < 1:
        raise ConfigError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    if target not in df.columns:
        raise DataError(f"target column {target!r} not found; columns: {list_names(df.columns)}")
    features, labels = df.drop(columns=[target]), df[target]
    if stratify:
        _require_stratifiable(labels)

    # Deferred: scikit-learn takes most of a second to import, and commands that
    # never split import this package too.
    from sklearn.model_selection import train_test_split

    try:
        X_train, X_test, y_train, y_test = train_test_split(
            features,
            labels,
            test_size=test_size,
            random_state=seed,
            stratify=labels if stratify else None,
        )
    except ValueError as exc:  # e.g. too few rows for the requested test size
        raise DataError(f"cannot split {len(df)} rows with test_size={test_size}: {exc}") from exc
    return Split(X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test)


def _require_stratifiable(labels: pd.Series) -> None:
    if ptypes.is_float_dtype(labels.dtype) and not _all_whole_numbers(labels):
        raise DataError(
            f"cannot stratify on target {labels.name!r}: it holds continuous values "
            "(a regression target); set `stratify: false`"
        )
    counts = labels.value_counts(dropna=False)
    singletons = counts[counts < 2]
    if len(singletons):
        classes = list_names(singletons.index, limit=10)
        have = "class has" if len(singletons) == 1 else "classes have"
        raise DataError(
            f"cannot stratify on target {labels.name!r}: {len(singletons)} {have} a single "
            f"row ({classes}); every class needs at least 2. Set `stratify: false` or "
            "collect more rows of the rare classes"
        )


def _all_whole_numbers(labels: pd.Series) -> bool:
    present = labels.dropna()
    return bool((present == present.round()).all())
