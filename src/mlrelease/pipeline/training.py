"""Training: an estimator by import path (optionally tuned by grid search) or a user function.

With ``preprocess: auto`` (the default) an estimator that is handed text or
categorical columns, or missing values, is wrapped in a scikit-learn Pipeline
that imputes and one-hot encodes, so the saved model takes the raw columns the
signature describes.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlrelease.data import Split
from mlrelease.errors import ConfigError, TrainingError
from mlrelease.imports import import_object
from mlrelease.spec import TrainSpec

__all__ = ["TrainedModel", "train_model"]

# Our metric names -> scikit-learn scorer names, for grid search.
_SCORERS = {
    "accuracy": "accuracy",
    "macro_f1": "f1_macro",
    "weighted_f1": "f1_weighted",
    "precision": "precision_macro",
    "recall": "recall_macro",
    "roc_auc": "roc_auc_ovr",
    "log_loss": "neg_log_loss",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
    "mape": "neg_mean_absolute_percentage_error",
}
_MODEL_STEP = "model"


@dataclass(frozen=True)
class TrainedModel:
    model: Any
    params: dict[str, Any]
    search: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def train_model(train: TrainSpec, task: str, split: Split, *, base_dir: Path) -> TrainedModel:
    if train.entrypoint is not None:
        return _train_with_function(train, split, base_dir=base_dir)
    assert train.estimator is not None
    estimator = _build_estimator(train, base_dir=base_dir)
    notes: list[str] = []
    if train.preprocess == "auto" and _needs_preprocessing(split.X_train):
        estimator = Pipeline(
            [("preprocess", _preprocessor(split.X_train)), (_MODEL_STEP, estimator)]
        )
        notes.append("preprocess: imputed missing values and one-hot encoded non-numeric columns")
    params = {"estimator": train.estimator, **train.params}
    if train.search is None:
        _fit(estimator, split)
        return TrainedModel(model=estimator, params=params, notes=notes)
    return _grid_search(train, task, estimator, split, params, notes)


def _build_estimator(train: TrainSpec, *, base_dir: Path) -> BaseEstimator:
    assert train.estimator is not None
    factory = import_object(train.estimator, what="train.estimator", base_dir=base_dir)
    if not (inspect.isclass(factory) and hasattr(factory, "fit") and hasattr(factory, "predict")):
        raise ConfigError(
            f"train.estimator: '{train.estimator}' is not an estimator class with fit() and "
            "predict(); for custom training use train.entrypoint: module:function"
        )
    try:
        estimator: BaseEstimator = factory()
        estimator.set_params(**train.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train.params: {exc}") from None
    return estimator


def _needs_preprocessing(X: pd.DataFrame) -> bool:
    numeric = X.select_dtypes(include=["number", "bool"])
    return numeric.shape[1] != X.shape[1] or bool(X.isna().any().any())


def _preprocessor(X: pd.DataFrame) -> ColumnTransformer:
    numeric = list(X.select_dtypes(include=["number", "bool"]).columns)
    categorical = [column for column in X.columns if column not in numeric]
    return ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), numeric),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                categorical,
            ),
        ]
    )


def _grid_search(
    train: TrainSpec,
    task: str,
    estimator: BaseEstimator,
    split: Split,
    params: dict[str, Any],
    notes: list[str],
) -> TrainedModel:
    assert train.search is not None
    prefix = f"{_MODEL_STEP}__" if isinstance(estimator, Pipeline) else ""
    grid = {prefix + name: values for name, values in train.search.grid.items()}
    known = estimator.get_params()
    unknown = sorted(name.removeprefix(prefix) for name in grid if name not in known)
    if unknown:
        names = sorted(
            k.removeprefix(prefix)
            for k in known
            if k.startswith(prefix) and "__" not in k.removeprefix(prefix)
        )
        raise ConfigError(
            f"train.search.grid: unknown parameter(s) {', '.join(unknown)} for "
            f"{train.estimator}; known: {', '.join(names)}"
        )
    metric = train.search.scoring or ("macro_f1" if task == "classification" else "rmse")
    search = GridSearchCV(
        clone(estimator), grid, cv=train.search.cv, scoring=_SCORERS[metric], n_jobs=1
    )
    _fit(search, split)
    best = {name.removeprefix(prefix): value for name, value in search.best_params_.items()}
    score = float(search.best_score_)
    return TrainedModel(
        model=search.best_estimator_,
        params={**params, **best},
        search={
            "metric": metric,
            "cv": train.search.cv,
            "best_params": best,
            # scikit-learn maximises, so error metrics come back negated.
            "best_score": -score if _SCORERS[metric].startswith("neg_") else score,
            "candidates": len(search.cv_results_["params"]),
        },
        notes=notes,
    )


def _fit(estimator: Any, split: Split) -> None:
    try:
        estimator.fit(split.X_train, split.y_train)
    except Exception as exc:
        raise TrainingError(f"training failed: {type(exc).__name__}: {exc}") from exc


def _train_with_function(train: TrainSpec, split: Split, *, base_dir: Path) -> TrainedModel:
    assert train.entrypoint is not None
    function = import_object(train.entrypoint, what="train.entrypoint", base_dir=base_dir)
    if not callable(function):
        raise ConfigError(f"train.entrypoint: '{train.entrypoint}' is not a function")
    try:
        model = function(split.X_train, split.y_train, **train.params)
    except Exception as exc:
        raise TrainingError(
            f"train.entrypoint '{train.entrypoint}' failed: {type(exc).__name__}: {exc}"
        ) from exc
    if model is None or not (hasattr(model, "predict") or callable(model)):
        raise TrainingError(
            f"train.entrypoint '{train.entrypoint}' returned {type(model).__name__}; it must "
            "return a fitted model with predict() (e.g. a scikit-learn estimator)"
        )
    return TrainedModel(model=model, params={"entrypoint": train.entrypoint, **train.params})
