"""The metric catalogue and its numpy implementations.

Owns which metrics exist per task (name, direction, whether probabilities are
needed), the ``Scored`` record of a model's predictions on an evaluation set, and
the computation of each metric on all rows or on a bootstrap resample of them.

The implementations agree with scikit-learn to 1e-9 but are built for speed. What
does not depend on the rows chosen is computed once per ``Scored`` and cached: labels
as integers, each row's log-loss term, each probability's rank within its column.
Then every classification metric is read off a confusion matrix made by one
``np.bincount``, and ROC AUC is the Mann-Whitney U counted from per-rank bincounts,
with no sorting per resample. A paired bootstrap can call them thousands of times.

Where scikit-learn would refuse or warn, these return ``nan`` instead, because a gate
must be able to report "undefined" rather than crash:

* ``roc_auc`` and ``log_loss`` on a model without ``predict_proba``;
* ``roc_auc`` when y_true holds a single class (multiclass: when any class is absent);
* ``log_loss`` when y_true holds a label the model has no probability column for;
* ``r2`` on fewer than two rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt

from mlrelease.errors import ConfigError, DataError

__all__ = [
    "MetricDef",
    "Scored",
    "Task",
    "compute_metric",
    "compute_metrics",
    "confusion_matrix",
    "known_metrics",
    "label_text",
    "metric_def",
]

Task = Literal["classification", "regression"]

_FloatArray: TypeAlias = npt.NDArray[np.float64]
_IntArray: TypeAlias = npt.NDArray[np.intp]
# Rows to evaluate: indices of a resample, or slice(None) for all rows without a copy.
_Rows: TypeAlias = _IntArray | slice


@dataclass(frozen=True)
class MetricDef:
    """What a metric means, independent of any model."""

    name: str
    task: Task
    higher_is_better: bool
    needs_proba: bool
    description: str


_CATALOGUE: Final[tuple[MetricDef, ...]] = (
    MetricDef("accuracy", "classification", True, False, "fraction of rows predicted right"),
    MetricDef("macro_f1", "classification", True, False, "F1 averaged over classes equally"),
    MetricDef("weighted_f1", "classification", True, False, "F1 averaged over classes by support"),
    MetricDef(
        "precision", "classification", True, False, "precision averaged over classes (macro)"
    ),
    MetricDef("recall", "classification", True, False, "recall averaged over classes (macro)"),
    MetricDef(
        "roc_auc",
        "classification",
        True,
        True,
        "area under the ROC curve; multiclass: one-vs-rest macro average",
    ),
    MetricDef(
        "log_loss", "classification", False, True, "mean negative log-likelihood of the truth"
    ),
    MetricDef("rmse", "regression", False, False, "root mean squared error"),
    MetricDef("mae", "regression", False, False, "mean absolute error"),
    MetricDef("r2", "regression", True, False, "coefficient of determination"),
    MetricDef("mape", "regression", False, False, "mean absolute percentage error, as a fraction"),
)

_BY_TASK: Final[dict[str, dict[str, MetricDef]]] = {
    task: {d.name: d for d in _CATALOGUE if d.task == task} for task in get_args(Task)
}


def label_text(value: Any) -> str:
    """One spelling per class label, for labels that arrive as JSON: 1, 1.0 and "1" are one."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def known_metrics(task: Task) -> list[str]:
    """The names of the metrics defined for ``task``, sorted."""
    return sorted(_metrics_of(task))


def metric_def(name: str, task: Task) -> MetricDef:
    """The definition of metric ``name`` for ``task``; ``ConfigError`` if there is none."""
    metrics = _metrics_of(task)
    if name not in metrics:
        raise ConfigError(
            f"unknown metric {name!r}; known: {', '.join(sorted(metrics))}",
            details={"metric": name, "task": task},
        )
    return metrics[name]


def _metrics_of(task: str) -> dict[str, MetricDef]:
    if task not in _BY_TASK:
        raise ConfigError(f"unknown task {task!r}; known: {', '.join(_BY_TASK)}")
    return _BY_TASK[task]


@dataclass(frozen=True)
class _LabelCodes:
    labels: npt.NDArray[Any]  # sorted union of the labels in y_true and y_pred
    true: _IntArray  # index into labels, per row
    pred: _IntArray


@dataclass(frozen=True)
class _ProbaCodes:
    true_column: _IntArray  # proba column of each row's true label; -1 if the model has none
    row_loss: _FloatArray  # -log p(true label), clipped; nan where the model has no column
    score_rank: _IntArray  # (rows, classes): dense rank of each probability in its column
    n_distinct: tuple[int, ...]  # distinct probabilities per column


# eq=False: field-wise equality of numpy arrays is ambiguous, so a Scored is equal
# only to itself (and hashable by identity).
@dataclass(frozen=True, eq=False)
class Scored:
    """A model's predictions on an evaluation set.

    ``proba`` is ``(n, len(classes))`` for classifiers with ``predict_proba``;
    ``classes`` gives the label of each of its columns. Lists and pandas Series are
    accepted and stored as arrays, so rows are always addressed by position.
    """

    y_true: npt.NDArray[Any]
    y_pred: npt.NDArray[Any]
    proba: npt.NDArray[Any] | None = None
    classes: npt.NDArray[Any] | None = None

    def __post_init__(self) -> None:
        # object.__setattr__ because the dataclass is frozen; normalising here means
        # every metric can rely on plain 1-d / 2-d arrays.
        object.__setattr__(self, "y_true", np.asarray(self.y_true))
        object.__setattr__(self, "y_pred", np.asarray(self.y_pred))
        if self.y_true.ndim != 1 or self.y_pred.ndim != 1:
            raise DataError("y_true and y_pred must be one-dimensional")
        if len(self.y_true) != len(self.y_pred):
            raise DataError(f"y_true has {len(self.y_true)} rows but y_pred has {len(self.y_pred)}")
        if len(self.y_true) == 0:
            raise DataError("the evaluation set is empty")
        if (self.proba is None) != (self.classes is None):
            raise DataError("give proba and classes together, or neither")
        if self.proba is not None and self.classes is not None:
            self._normalise_proba(np.asarray(self.proba, dtype=np.float64))

    def _normalise_proba(self, proba: _FloatArray) -> None:
        classes = np.asarray(self.classes)
        if classes.ndim != 1 or proba.shape != (len(self.y_true), len(classes)):
            raise DataError(
                f"proba must have shape (rows, classes) = ({len(self.y_true)}, "
                f"{classes.size}), got {proba.shape}"
            )
        object.__setattr__(self, "proba", proba)
        object.__setattr__(self, "classes", classes)

    @property
    def n_rows(self) -> int:
        return len(self.y_true)

    @cached_property
    def _label_codes(self) -> _LabelCodes:
        try:
            labels, codes = np.unique(
                np.concatenate([self.y_true, self.y_pred]), return_inverse=True
            )
        except TypeError as exc:
            raise DataError(f"labels cannot be compared with each other: {exc}") from None
        codes = codes.astype(np.intp)
        return _LabelCodes(labels, codes[: self.n_rows], codes[self.n_rows :])

    @cached_property
    def _proba_codes(self) -> _ProbaCodes | None:
        if self.proba is None or self.classes is None:
            return None
        # classes usually come sorted from scikit-learn, but nothing guarantees it.
        order = np.argsort(self.classes, kind="stable")
        sorted_classes = self.classes[order]
        position = np.searchsorted(sorted_classes, self.y_true)
        clipped = np.minimum(position, len(sorted_classes) - 1)
        found = (position < len(sorted_classes)) & (sorted_classes[clipped] == self.y_true)
        true_column = np.where(found, order[clipped], -1).astype(np.intp)
        picked = self.proba[np.arange(self.n_rows), np.maximum(true_column, 0)]
        # Same clipping as sklearn: a confident wrong answer costs a lot, not infinity.
        eps = np.finfo(np.float64).eps
        row_loss = np.where(found, -np.log(np.clip(picked, eps, 1 - eps)), np.nan)
        score_rank = np.empty(self.proba.shape, dtype=np.intp)
        n_distinct = []
        for column in range(self.proba.shape[1]):
            distinct, score_rank[:, column] = np.unique(self.proba[:, column], return_inverse=True)
            n_distinct.append(len(distinct))
        return _ProbaCodes(true_column, row_loss, score_rank, tuple(n_distinct))

    @cached_property
    def _targets(self) -> tuple[_FloatArray, _FloatArray]:
        try:
            return self.y_true.astype(np.float64), self.y_pred.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"regression targets must be numbers: {exc}") from None


def compute_metric(
    name: str, task: Task, scored: Scored, rows: npt.NDArray[np.integer[Any]] | None = None
) -> float:
    """Metric ``name`` on ``scored``, over all rows or over ``rows`` (indices, repeats allowed).

    Metrics needing probabilities are ``nan`` for a model without them.
    """
    definition = metric_def(name, task)
    if definition.needs_proba and scored.proba is None:
        return math.nan
    if rows is None:
        return _IMPLEMENTATIONS[name](scored, slice(None))
    if len(rows) == 0:
        return math.nan
    return _IMPLEMENTATIONS[name](scored, np.asarray(rows, dtype=np.intp))


def compute_metrics(names: Sequence[str], task: Task, scored: Scored) -> dict[str, float]:
    """Each of ``names`` on all rows of ``scored``, in the order given."""
    return {name: compute_metric(name, task, scored) for name in names}


def confusion_matrix(scored: Scored) -> dict[str, Any]:
    """``{"labels": [...], "matrix": [[...]]}``: rows are true labels, columns predicted.

    Labels are the sorted union of those in y_true and y_pred, as plain Python values.
    """
    codes = scored._label_codes
    return {
        "labels": codes.labels.tolist(),
        "matrix": _confusion_counts(codes, slice(None)).tolist(),
    }


# --- classification -------------------------------------------------------------


def _confusion_counts(codes: _LabelCodes, rows: _Rows) -> _IntArray:
    k = len(codes.labels)
    flat = np.bincount(codes.true[rows] * k + codes.pred[rows], minlength=k * k)
    return flat.reshape(k, k)


@dataclass(frozen=True)
class _PerClass:
    """Counts per label occurring in the rows (as truth or prediction)."""

    hits: _FloatArray
    predicted: _FloatArray
    actual: _FloatArray


def _per_class(scored: Scored, rows: _Rows) -> _PerClass:
    counts = _confusion_counts(scored._label_codes, rows)
    predicted = counts.sum(axis=0)
    actual = counts.sum(axis=1)
    # scikit-learn averages over the labels present in these rows only; a label that
    # a resample happens to miss entirely must not add a zero to the macro average.
    present = (predicted + actual) > 0
    return _PerClass(
        hits=np.diag(counts)[present].astype(np.float64),
        predicted=predicted[present].astype(np.float64),
        actual=actual[present].astype(np.float64),
    )


def _ratio(numerator: _FloatArray, denominator: _FloatArray) -> _FloatArray:
    """numerator / denominator, 0 where the denominator is 0 (sklearn's zero_division=0)."""
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _accuracy(scored: Scored, rows: _Rows) -> float:
    codes = scored._label_codes
    return float(np.mean(codes.true[rows] == codes.pred[rows]))


def _precision(scored: Scored, rows: _Rows) -> float:
    c = _per_class(scored, rows)
    return float(np.mean(_ratio(c.hits, c.predicted)))


def _recall(scored: Scored, rows: _Rows) -> float:
    c = _per_class(scored, rows)
    return float(np.mean(_ratio(c.hits, c.actual)))


def _f1_by_class(c: _PerClass) -> _FloatArray:
    # 2PR/(P+R) simplifies to 2TP/(predicted+actual), which is also how sklearn computes it.
    return _ratio(2 * c.hits, c.predicted + c.actual)


def _macro_f1(scored: Scored, rows: _Rows) -> float:
    return float(np.mean(_f1_by_class(_per_class(scored, rows))))


def _weighted_f1(scored: Scored, rows: _Rows) -> float:
    c = _per_class(scored, rows)
    return float(np.average(_f1_by_class(c), weights=c.actual))


def _require_proba(scored: Scored) -> _ProbaCodes:
    codes = scored._proba_codes
    if codes is None:  # compute_metric answers nan before getting here
        raise AssertionError("metric needs probabilities")
    return codes


def _log_loss(scored: Scored, rows: _Rows) -> float:
    return float(np.mean(_require_proba(scored).row_loss[rows]))


def _roc_auc(scored: Scored, rows: _Rows) -> float:
    codes = _require_proba(scored)
    true_column = codes.true_column[rows]
    n_classes = len(codes.n_distinct)
    if n_classes < 2:
        return math.nan
    # Binary: the positive class is classes[1], scored by its column.
    columns = [1] if n_classes == 2 else range(n_classes)
    aucs = [
        _binary_auc(true_column == column, codes.score_rank[rows, column], codes.n_distinct[column])
        for column in columns
    ]
    # Any nan (a class absent from y_true) makes the macro average nan, as in sklearn.
    return float(np.mean(aucs))


def _binary_auc(
    is_positive: npt.NDArray[np.bool_], score_rank: _IntArray, n_distinct: int
) -> float:
    """Mann-Whitney U / (n_pos * n_neg): the chance a positive outscores a negative.

    U counts, for each positive, the negatives scored below it plus half of those tied
    with it; tallying both classes per distinct score gives it without a sort.
    """
    positives = np.bincount(score_rank[is_positive], minlength=n_distinct)
    negatives = np.bincount(score_rank[~is_positive], minlength=n_distinct)
    n_positive, n_negative = int(positives.sum()), int(negatives.sum())
    if n_positive == 0 or n_negative == 0:
        return math.nan
    negatives_below = np.cumsum(negatives) - negatives
    u_statistic = float(np.dot(positives, negatives_below + 0.5 * negatives))
    return u_statistic / (n_positive * n_negative)


# --- regression -----------------------------------------------------------------


def _residuals(scored: Scored, rows: _Rows) -> _FloatArray:
    y_true, y_pred = scored._targets
    return y_true[rows] - y_pred[rows]


def _rmse(scored: Scored, rows: _Rows) -> float:
    return math.sqrt(float(np.mean(np.square(_residuals(scored, rows)))))


def _mae(scored: Scored, rows: _Rows) -> float:
    return float(np.mean(np.abs(_residuals(scored, rows))))


def _r2(scored: Scored, rows: _Rows) -> float:
    y_true = scored._targets[0][rows]
    if len(y_true) < 2:
        return math.nan
    residual_ss = float(np.sum(np.square(_residuals(scored, rows))))
    total_ss = float(np.sum(np.square(y_true - np.mean(y_true))))
    # sklearn's force_finite: a perfect fit scores 1, a constant truth missed scores 0.
    if residual_ss == 0:
        return 1.0
    if total_ss == 0:
        return 0.0
    return 1.0 - residual_ss / total_ss


def _mape(scored: Scored, rows: _Rows) -> float:
    y_true = scored._targets[0][rows]
    # sklearn divides by max(|y|, eps) so a zero target gives a huge, finite error.
    scale = np.maximum(np.abs(y_true), np.finfo(np.float64).eps)
    return float(np.mean(np.abs(_residuals(scored, rows)) / scale))


_IMPLEMENTATIONS: Final[dict[str, Callable[[Scored, _Rows], float]]] = {
    "accuracy": _accuracy,
    "macro_f1": _macro_f1,
    "weighted_f1": _weighted_f1,
    "precision": _precision,
    "recall": _recall,
    "roc_auc": _roc_auc,
    "log_loss": _log_loss,
    "rmse": _rmse,
    "mae": _mae,
    "r2": _r2,
    "mape": _mape,
}
