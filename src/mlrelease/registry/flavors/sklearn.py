"""The "sklearn" flavor: scikit-learn estimators saved with skops, never with pickle.

Loading asks skops which types the file would instantiate and refuses any the
project has not trusted, so a model file cannot run code it was not allowed to.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from mlrelease.errors import ArtifactError, UntrustedArtifactError
from mlrelease.registry.flavors.linear import LinearForm, same_answers

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SklearnFlavor", "SklearnModel"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class SklearnModel:
    """A loaded scikit-learn estimator, called with DataFrames so feature names hold
    (or, once :meth:`accept_matrices` said yes, with matrices in signature order)."""

    estimator: Any
    flavor: str = field(default="sklearn", init=False)
    # Set by accept_matrices for plain linear models: the same arithmetic in numpy.
    _linear: LinearForm | None = field(default=None, init=False, compare=False, repr=False)

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
        linear model then also answers matrices from numpy (:class:`LinearForm`), where
        a second probe shows the same answers.
        """
        holder = _feature_names_holder(self.estimator)
        if holder is None:
            return False
        names = holder.feature_names_in_
        if [str(name) for name in names] != list(columns):
            return False
        import pandas as pd

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
        if answered is not None and same_answers(expected, answered):
            object.__setattr__(self, "_linear", LinearForm.verified(self.estimator, columns))
            return True
        if "feature_names_in_" not in vars(holder):
            holder.feature_names_in_ = names
        return False


def _feature_names_holder(estimator: Any) -> Any | None:
    """The estimator that checks feature names on input: a pipeline's first step."""
    while hasattr(estimator, "steps"):  # Pipeline (nested ones too)
        estimator = estimator.steps[0][1]
    return estimator if "feature_names_in_" in vars(estimator) else None


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
