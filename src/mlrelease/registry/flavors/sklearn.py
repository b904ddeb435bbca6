"""The "sklearn" flavor: scikit-learn estimators saved with skops, never with pickle.

Loading asks skops which types the file would instantiate and refuses any the
project has not trusted, so a model file cannot run code it was not allowed to.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mlrelease.errors import ArtifactError, UntrustedArtifactError

__all__ = ["SklearnFlavor", "SklearnModel"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class SklearnModel:
    """A loaded scikit-learn estimator, called with DataFrames so feature names hold
    (or, once :meth:`accept_matrices` said yes, with matrices in signature order)."""

    estimator: Any
    flavor: str = field(default="sklearn", init=False)
    # Set by accept_matrices for plain linear models: the same arithmetic in numpy.
    _linear: _Linear | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def classes(self) -> list[Any] | None:
        labels = getattr(self.estimator, "classes_", None)
        return None if labels is None else np.asarray(labels).tolist()

    def predict(self, X: pd.DataFrame) -> NDArray[Any]:
        if self._linear is not None and isinstance(X, np.ndarray):
            return self._linear.predict_with_proba(X)[0]
        return np.asarray(self.estimator.predict(X))

    def predict_with_proba(self, X: pd.DataFrame) -> tuple[NDArray[Any], NDArray[Any] | None]:
        """Labels and probabilities; one model call where the labels are the argmax.

        scikit-learn validates its input on every call, which dominates the cost on
        small batches; for these estimators ``predict`` is exactly the class of
        highest probability (ties to the first class), so one call gives both.
        """
        if self._linear is not None and isinstance(X, np.ndarray):
            return self._linear.predict_with_proba(X)
        if _labels_are_argmax(self.estimator):
            proba = np.asarray(self.estimator.predict_proba(X))
            classes = np.asarray(self.estimator.classes_)
            return classes[proba.argmax(axis=1)], proba
        return self.predict(X), self.predict_proba(X)

    def predict_proba(self, X: pd.DataFrame) -> NDArray[Any] | None:
        # Pipelines and some estimators only have predict_proba when their final
        # step supports it; hasattr is how scikit-learn reports that.
        if not hasattr(self.estimator, "predict_proba"):
            return None
        return np.asarray(self.estimator.predict_proba(X))

    def accept_matrices(self, columns: Sequence[str]) -> bool:
        """Take float64 matrices with ``columns`` in order from now on, where that is exact.

        scikit-learn checks a DataFrame's feature names and each column's dtype on
        every call, five times the cost of a one-row prediction from a matrix. A
        server that already puts columns in signature order may skip that: the
        fitted feature names are dropped, and kept only if a probe answers exactly
        as the DataFrame did, with no warning. Otherwise nothing changes. A plain
        linear model then also answers matrices from numpy (:class:`_Linear`), where
        a second probe shows the same answers.
        """
        holder = _feature_names_holder(self.estimator)
        if holder is None:
            return False
        names = holder.feature_names_in_
        if [str(name) for name in names] != list(columns):
            return False
        n = len(columns)
        probe = np.vstack([np.linspace(-1.0, 1.0, n), np.arange(n, dtype=float)])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                expected = self.predict_with_proba(pd.DataFrame(probe, columns=list(columns)))
                del holder.feature_names_in_
                answered = self.predict_with_proba(probe)  # type: ignore[arg-type]
        except Exception:  # any complaint: the model needs its DataFrame
            answered = None
        if answered is not None and _same(expected, answered):
            object.__setattr__(self, "_linear", _Linear.verified(self.estimator, n))
            return True
        if "feature_names_in_" not in vars(holder):
            holder.feature_names_in_ = names
        return False


@dataclass(frozen=True)
class _Linear:
    """A plain linear model's prediction in numpy: ``X @ coef.T + intercept``, then the
    logistic or softmax link. scikit-learn spends ~30x the arithmetic validating a small
    batch; kept only where a probe shows the same answers as the estimator's own."""

    coef: NDArray[Any]
    intercept: NDArray[Any]
    classes: NDArray[Any] | None  # None: a regressor
    link: str  # "identity" | "logistic" | "softmax" | "ovr"

    def predict_with_proba(self, X: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any] | None]:
        scores = X @ self.coef.T + self.intercept
        if self.classes is None:
            return scores.ravel() if scores.ndim == 2 and scores.shape[1] == 1 else scores, None
        if self.link == "logistic":
            positive = 1.0 / (1.0 + np.exp(-scores.ravel()))
            proba = np.column_stack([1.0 - positive, positive])
        elif self.link == "softmax":
            shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
            proba = shifted / shifted.sum(axis=1, keepdims=True)
        else:  # one-vs-rest, normalised
            each = 1.0 / (1.0 + np.exp(-scores))
            proba = each / each.sum(axis=1, keepdims=True)
        return self.classes[proba.argmax(axis=1)], proba

    @classmethod
    def verified(cls, estimator: Any, n: int) -> _Linear | None:
        from sklearn.linear_model import (
            ElasticNet,
            Lasso,
            LinearRegression,
            LogisticRegression,
            Ridge,
        )

        kind = type(estimator)
        coef = np.atleast_2d(np.asarray(getattr(estimator, "coef_", np.empty(0)), dtype=float))
        intercept = np.atleast_1d(np.asarray(getattr(estimator, "intercept_", 0.0), dtype=float))
        if coef.shape[-1] != n:
            return None
        if kind in (LinearRegression, Ridge, Lasso, ElasticNet):
            links, classes = ["identity"], None
        elif kind is LogisticRegression:
            links = ["logistic"] if coef.shape[0] == 1 else ["softmax", "ovr"]
            classes = np.asarray(estimator.classes_)
        else:
            return None
        probe = np.random.default_rng(0).normal(scale=3.0, size=(32, n))
        expected = SklearnModel(estimator).predict_with_proba(probe)  # type: ignore[arg-type]
        for link in links:
            candidate = cls(coef, intercept, classes, link)
            if _same(expected, candidate.predict_with_proba(probe)):
                return candidate
        return None


def _feature_names_holder(estimator: Any) -> Any | None:
    """The estimator that checks feature names on input: a pipeline's first step."""
    while hasattr(estimator, "steps"):  # Pipeline (nested ones too)
        estimator = estimator.steps[0][1]
    return estimator if "feature_names_in_" in vars(estimator) else None


def _same(
    left: tuple[NDArray[Any], NDArray[Any] | None], right: tuple[NDArray[Any], NDArray[Any] | None]
) -> bool:
    """Same labels, same probabilities up to rounding (a frame's values may sit in
    another memory order than a matrix's, which changes the order of summation)."""
    if not _close(left[0], right[0]):
        return False
    if left[1] is None or right[1] is None:
        return left[1] is right[1]
    return _close(left[1], right[1])


def _close(left: NDArray[Any], right: NDArray[Any]) -> bool:
    if left.shape != right.shape:
        return False
    if left.dtype.kind in "fc" and right.dtype.kind in "fc":
        return bool(np.allclose(left, right, rtol=1e-9, atol=1e-12, equal_nan=True))
    return bool(np.array_equal(left, right))


@dataclass(frozen=True)
class SklearnFlavor:
    name: str = field(default="sklearn", init=False)
    filename: str = field(default="model.skops", init=False)

    def save(self, model: Any, path: Path) -> tuple[str, ...]:
        """Write ``model`` with skops; returns the types in it that skops does not trust.

        Those types come from an object this process holds, not from a file, so they
        may be trusted when exactly these bytes (checked by sha256) are loaded again:
        the registry records them with the version.
        """
        import skops.io  # imported on use: it loads scikit-learn and SciPy

        try:
            skops.io.dump(model, path)
        except (TypeError, ValueError, OSError) as exc:
            raise ArtifactError(
                f"The {type(model).__name__} model cannot be saved with skops: {exc}",
                details={"path": str(path)},
            ) from exc
        return tuple(_read_skops(path, lambda: skops.io.get_untrusted_types(file=path)))

    def load(self, path: Path, *, trusted_types: Sequence[str] = ()) -> SklearnModel:
        """Load the estimator in ``path`` if every type it holds is trusted.

        ``trusted_types`` holds exact type names (``"mypkg.models.MyEstimator"``) or
        prefixes ending in ``"."`` (``"mypkg."``) on top of what skops trusts itself.

        Raises:
            UntrustedArtifactError: the file holds types that are not trusted.
            ArtifactError: the file is not a skops file skops can load.
        """
        import skops.io

        untrusted = _read_skops(path, lambda: skops.io.get_untrusted_types(file=path))
        refused = [name for name in untrusted if not _is_trusted(name, trusted_types)]
        if refused:
            raise _untrusted(path, refused)
        # Exactly the types just approved: never trusted=True, which would allow any.
        return SklearnModel(_read_skops(path, lambda: skops.io.load(path, trusted=untrusted)))


_ARGMAX_CLASSIFIERS = frozenset(
    {
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._logistic.LogisticRegressionCV",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    }
)


def _labels_are_argmax(estimator: Any) -> bool:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    kind = type(final)
    return f"{kind.__module__}.{kind.__qualname__}" in _ARGMAX_CLASSIFIERS


def _read_skops(path: Path, read: Callable[[], _T]) -> _T:
    try:
        return read()
    # skops surfaces whatever its zip, JSON and import machinery raise; for an
    # untrusted file every one of them means the same thing: nothing was loaded.
    except Exception as exc:
        raise ArtifactError(
            f"Model file {path} was refused: it is not a skops file that can be loaded "
            f"({type(exc).__name__}: {exc}). Models are only ever read with skops, never "
            "unpickled; re-save the model with this version of mlrelease.",
            details={"path": str(path)},
        ) from exc


def _is_trusted(type_name: str, trusted_types: Sequence[str]) -> bool:
    return any(
        type_name.startswith(trusted) if trusted.endswith(".") else type_name == trusted
        for trusted in trusted_types
    )


def _untrusted(path: Path, refused: list[str]) -> UntrustedArtifactError:
    import skops.io.exceptions

    # Why skops distrusts some scikit-learn types by default (crafted trees can read out
    # of bounds); passed on so users are not left guessing. Older skops has no such table.
    known: dict[str, str] = getattr(skops.io.exceptions, "UNTRUSTED_TYPE_REASONS", {})
    reasons = {name: known[name] for name in refused if name in known}
    return UntrustedArtifactError(
        f"Model file {path} was not loaded: it holds types that are not trusted: "
        f"{', '.join(refused)}. Only if you trust this file (for example, you trained it "
        "yourself), add them to `trusted_types` in the `registry:` section of the "
        "project file.",
        details={"path": str(path), "types": refused, "reasons": reasons},
    )
