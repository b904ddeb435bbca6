"""A plain linear model as numbers: its "linear form", stored beside a version's artifact.

scikit-learn's LogisticRegression, LinearRegression, Ridge, Lasso and ElasticNet
predict ``X @ coef.T + intercept`` followed by a link (none, logistic or softmax).
:class:`LinearForm` holds exactly that, is built only where a probe shows the same
answers as the estimator, and saves to plain JSON (floats written with all their
digits). A server loads it with numpy alone -- no scikit-learn, no skops, no pickle --
which takes milliseconds where importing scikit-learn takes seconds, and answers a row
in microseconds where scikit-learn's input validation takes a fifth of a millisecond.

This module imports numpy only: it is what a server loads instead of scikit-learn.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlrelease.errors import ArtifactError

__all__ = ["FILENAME", "FORMAT", "LinearForm", "LinearModel", "same_answers"]

FORMAT = "mlrelease.linear/1"
FILENAME = "model.linear.json"
_LINKS = ("identity", "logistic", "softmax")
_REGRESSORS = ("LinearRegression", "Ridge", "Lasso", "ElasticNet")
_PROBE_ROWS = 32

Answers = tuple[NDArray[Any], NDArray[Any] | None]


@dataclass(frozen=True)
class LinearForm:
    """``X @ coef.T + intercept``, then ``link``; ``classes`` is None for a regressor."""

    coef: NDArray[Any]  # (outputs, features)
    intercept: NDArray[Any]  # (outputs,)
    classes: NDArray[Any] | None
    link: str  # "identity" | "logistic" | "softmax"
    columns: tuple[str, ...] = ()  # the features in coef's column order, when known

    def predict_with_proba(self, X: NDArray[Any]) -> Answers:
        scores = X @ self.coef.T + self.intercept
        if self.classes is None:
            return scores.ravel() if scores.ndim == 2 and scores.shape[1] == 1 else scores, None
        if self.link == "logistic":
            positive = 1.0 / (1.0 + np.exp(-scores.ravel()))
            proba = np.column_stack([1.0 - positive, positive])
        else:
            shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
            proba = shifted / shifted.sum(axis=1, keepdims=True)
        return self.classes[proba.argmax(axis=1)], proba

    @classmethod
    def verified(cls, estimator: Any, columns: Sequence[str]) -> LinearForm | None:
        """The form of ``estimator`` if it is a plain linear model and the form answers
        a probe of random rows exactly as the estimator does; else None.

        The estimator is called with a DataFrame when it was fitted on one, so its
        own feature-name check confirms that ``columns`` are in its order.
        """
        kind = type(estimator).__name__
        module = type(estimator).__module__
        if not module.startswith("sklearn.linear_model."):
            return None
        if kind in _REGRESSORS:
            classes = None
        elif kind == "LogisticRegression":
            classes = np.asarray(estimator.classes_)
        else:
            return None
        coef = np.atleast_2d(np.asarray(getattr(estimator, "coef_", np.empty(0)), dtype=float))
        intercept = np.atleast_1d(np.asarray(getattr(estimator, "intercept_", 0.0), dtype=float))
        if coef.shape[-1] != len(columns) or intercept.shape != (coef.shape[0],):
            return None
        # One-vs-rest models (older scikit-learn) fail the probe below: they get no form.
        link = "identity" if classes is None else "logistic" if len(coef) == 1 else "softmax"
        probe = np.random.default_rng(0).normal(scale=3.0, size=(_PROBE_ROWS, len(columns)))
        try:
            expected = _estimator_answers(estimator, probe, columns)
        except Exception:  # the estimator cannot take these rows: no form
            return None
        form = cls(coef, intercept, classes, link, tuple(columns))
        return form if same_answers(expected, form.predict_with_proba(probe)) else None

    # -- the stored form ------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Plain JSON; Python writes each float with the digits that read back exactly."""
        document = {
            "format": FORMAT,
            "link": self.link,
            "columns": list(self.columns),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "classes": None if self.classes is None else self.classes.tolist(),
        }
        return json.dumps(document, allow_nan=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> LinearForm:
        """Read a stored form back, checking every field.

        Raises:
            ArtifactError: ``data`` is not a linear form this version of mlrelease reads.
        """
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise ValueError(f"format is {document.get('format')!r}, not {FORMAT!r}")
            link = document["link"]
            if link not in _LINKS:
                raise ValueError(f"unknown link {link!r}")
            coef = _numbers(document, "coef")
            intercept = _numbers(document, "intercept")
            columns = tuple(str(name) for name in document["columns"])
            classes = document["classes"]
            if coef.ndim != 2 or intercept.shape != (coef.shape[0],):
                raise ValueError("coef must be (outputs, features) and intercept (outputs,)")
            if len(columns) != coef.shape[1]:
                raise ValueError(f"{len(columns)} columns for {coef.shape[1]} coefficients")
            if (classes is None) != (link == "identity"):
                raise ValueError("classes and link disagree")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ArtifactError(
                f"The linear form {where} cannot be read ({exc}); register the model "
                "again with this version of mlrelease to store a readable one.",
                details={"uri": where},
            ) from exc
        labels = None if classes is None else np.asarray(classes)
        return cls(coef, intercept, labels, link, columns)


@dataclass(frozen=True)
class LinearModel:
    """A version loaded from its linear form: numpy only, a :class:`LoadedModel`."""

    form: LinearForm
    flavor: str = field(default="sklearn", init=False)  # the answers of its sklearn artifact

    @property
    def classes(self) -> list[Any] | None:
        return None if self.form.classes is None else self.form.classes.tolist()

    def predict(self, X: Any) -> NDArray[Any]:
        return self.form.predict_with_proba(self._matrix(X))[0]

    def predict_proba(self, X: Any) -> NDArray[Any] | None:
        return self.form.predict_with_proba(self._matrix(X))[1]

    def predict_with_proba(self, X: Any) -> Answers:
        return self.form.predict_with_proba(self._matrix(X))

    def accept_matrices(self, columns: Sequence[str]) -> bool:
        return tuple(columns) == self.form.columns

    def _matrix(self, X: Any) -> NDArray[Any]:
        if isinstance(X, np.ndarray):
            return X
        # A DataFrame: its columns by name, in the order the coefficients expect.
        return np.asarray(X[list(self.form.columns)].to_numpy(dtype=float))


def _numbers(document: dict[str, Any], name: str) -> NDArray[Any]:
    try:
        return np.asarray(document[name], dtype=float)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: {exc}") from None


def _estimator_answers(estimator: Any, probe: NDArray[Any], columns: Sequence[str]) -> Answers:
    X: Any = probe
    if hasattr(estimator, "feature_names_in_"):
        import pandas as pd

        X = pd.DataFrame(probe, columns=list(columns))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. overflow in exp(): both sides see the same rows
        labels = np.asarray(estimator.predict(X))
        has_proba = hasattr(estimator, "predict_proba")
        proba = np.asarray(estimator.predict_proba(X)) if has_proba else None
    return labels, proba


def same_answers(left: Answers, right: Answers) -> bool:
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
