"""The numpy metrics agree with scikit-learn, on all rows and on resampled rows."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as sk

from mlrelease.errors import ConfigError, DataError
from mlrelease.evaluation import (
    Scored,
    compute_metric,
    compute_metrics,
    confusion_matrix,
    known_metrics,
    metric_def,
)

TOLERANCE = {"rel": 1e-9, "abs": 1e-9}

SKLEARN_CLASSIFICATION: dict[str, Callable[[Any, Any, Any, Any], float]] = {
    "accuracy": lambda t, p, _proba, _classes: sk.accuracy_score(t, p),
    "macro_f1": lambda t, p, _proba, _classes: sk.f1_score(t, p, average="macro", zero_division=0),
    "weighted_f1": lambda t, p, _proba, _classes: sk.f1_score(
        t, p, average="weighted", zero_division=0
    ),
    "precision": lambda t, p, _proba, _classes: sk.precision_score(
        t, p, average="macro", zero_division=0
    ),
    "recall": lambda t, p, _proba, _classes: sk.recall_score(
        t, p, average="macro", zero_division=0
    ),
    "log_loss": lambda t, _p, proba, classes: sk.log_loss(t, proba, labels=classes),
    "roc_auc": lambda t, _p, proba, classes: (
        sk.roc_auc_score(t == classes[1], proba[:, 1])
        if len(classes) == 2
        else sk.roc_auc_score(t, proba, multi_class="ovr", average="macro", labels=classes)
    ),
}

SKLEARN_REGRESSION: dict[str, Callable[[Any, Any], float]] = {
    "rmse": sk.root_mean_squared_error,
    "mae": sk.mean_absolute_error,
    "r2": sk.r2_score,
    "mape": sk.mean_absolute_percentage_error,
}


def random_classification(
    seed: int, n: int, classes: np.ndarray, *, accuracy: float = 0.6, ties: bool = False
) -> Scored:
    """Predictions that are right about ``accuracy`` of the time, with noisy probabilities."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(classes), size=n)
    wrong = rng.integers(0, len(classes), size=n)
    predicted = np.where(rng.random(n) < accuracy, truth, wrong)
    logits = rng.normal(size=(n, len(classes)))
    logits[np.arange(n), predicted] += 1.5
    if ties:  # coarse scores, so many rows share a probability
        logits = np.round(logits)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Scored(classes[truth], classes[predicted], proba, classes)


def random_regression(seed: int, n: int) -> Scored:
    rng = np.random.default_rng(seed)
    truth = rng.normal(50, 10, size=n)
    return Scored(truth, truth + rng.normal(0, 5, size=n))


CLASS_SETS = {
    "binary-int": np.array([0, 1]),
    "binary-str": np.array(["no", "yes"]),
    "three-str": np.array(["cat", "dog", "eel"]),
    "five-int": np.array([1, 2, 3, 5, 8]),
}


@pytest.mark.parametrize("metric", sorted(SKLEARN_CLASSIFICATION))
@pytest.mark.parametrize("class_set", sorted(CLASS_SETS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn(metric: str, class_set: str, seed: int) -> None:
    classes = CLASS_SETS[class_set]
    scored = random_classification(seed, 500, classes, ties=seed == 2)

    ours = compute_metric(metric, "classification", scored)

    expected = SKLEARN_CLASSIFICATION[metric](scored.y_true, scored.y_pred, scored.proba, classes)
    assert ours == pytest.approx(expected, **TOLERANCE)


@pytest.mark.parametrize("metric", sorted(SKLEARN_CLASSIFICATION))
def test_classification_metrics_on_resampled_rows_match_sklearn(metric: str) -> None:
    classes = CLASS_SETS["three-str"]
    scored = random_classification(7, 300, classes)
    rng = np.random.default_rng(3)

    for _ in range(5):
        rows = rng.integers(0, 300, size=300)
        ours = compute_metric(metric, "classification", scored, rows)
        assert scored.proba is not None
        expected = SKLEARN_CLASSIFICATION[metric](
            scored.y_true[rows], scored.y_pred[rows], scored.proba[rows], classes
        )
        assert ours == pytest.approx(expected, **TOLERANCE)


@pytest.mark.parametrize("metric", sorted(SKLEARN_REGRESSION))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_metrics_match_sklearn(metric: str, seed: int) -> None:
    scored = random_regression(seed, 400)
    rows = np.random.default_rng(seed).integers(0, 400, size=400)

    full = compute_metric(metric, "regression", scored)
    resampled = compute_metric(metric, "regression", scored, rows)

    assert full == pytest.approx(SKLEARN_REGRESSION[metric](scored.y_true, scored.y_pred))
    expected = SKLEARN_REGRESSION[metric](scored.y_true[rows], scored.y_pred[rows])
    assert resampled == pytest.approx(expected, **TOLERANCE)


def test_a_class_never_predicted_has_precision_zero_like_sklearn() -> None:
    y_true = np.array(["a", "a", "b", "b", "c", "c"])
    y_pred = np.array(["a", "a", "b", "a", "b", "b"])  # "c" is never predicted
    scored = Scored(y_true, y_pred)

    precision = compute_metric("precision", "classification", scored)

    # a: 2/3, b: 1/3, c: 0 (zero_division=0)
    assert precision == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    expected = sk.precision_score(y_true, y_pred, average="macro", zero_division=0)
    assert precision == pytest.approx(expected, **TOLERANCE)


def test_a_label_only_predicted_counts_in_the_macro_average_like_sklearn() -> None:
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])  # 2 never occurs in the truth: its recall is 0
    scored = Scored(y_true, y_pred)

    for metric in ("recall", "precision", "macro_f1", "weighted_f1"):
        expected = SKLEARN_CLASSIFICATION[metric](y_true, y_pred, None, None)
        assert compute_metric(metric, "classification", scored) == pytest.approx(
            expected, **TOLERANCE
        )
    assert compute_metric("recall", "classification", scored) == pytest.approx((0.5 + 1 + 0) / 3)


def test_a_label_missing_from_a_resample_does_not_enter_the_macro_average() -> None:
    scored = Scored(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 1]))
    rows = np.array([0, 1, 1, 0])  # only labels 0 and 1 occur in these rows

    assert compute_metric("macro_f1", "classification", scored, rows) == 1.0


def test_roc_auc_is_nan_when_y_true_holds_a_single_class() -> None:
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    scored = Scored(np.array([1, 1, 1]), np.array([1, 0, 1]), proba, np.array([0, 1]))

    assert math.isnan(compute_metric("roc_auc", "classification", scored))


def test_multiclass_roc_auc_is_nan_when_a_class_is_absent_from_y_true() -> None:
    classes = np.array(["a", "b", "c"])
    proba = np.full((4, 3), 1 / 3)
    scored = Scored(np.array(["a", "b", "a", "b"]), np.array(["a", "b", "a", "c"]), proba, classes)

    assert math.isnan(compute_metric("roc_auc", "classification", scored))


def test_roc_auc_uses_classes_1_as_the_positive_class() -> None:
    # classes in the model's column order, not sorted: "yes" scores are column 1
    classes = np.array(["no", "yes"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    scored = Scored(np.array(["no", "yes", "yes", "no"]), np.array(["no"] * 4), proba, classes)

    assert compute_metric("roc_auc", "classification", scored) == 1.0
    # the same scores said to be for "no": now they rank the positive class last
    relabelled = Scored(scored.y_true, scored.y_pred, proba, classes[::-1])
    assert compute_metric("roc_auc", "classification", relabelled) == 0.0


def test_log_loss_clips_a_certain_wrong_answer_like_sklearn() -> None:
    classes = np.array([0, 1])
    proba = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    y_true = np.array([1, 1, 0])  # the first row is certain and wrong
    scored = Scored(y_true, np.array([0, 1, 0]), proba, classes)

    ours = compute_metric("log_loss", "classification", scored)

    assert math.isfinite(ours)
    assert ours == pytest.approx(sk.log_loss(y_true, proba, labels=classes), **TOLERANCE)


def test_log_loss_is_nan_for_a_label_the_model_has_no_column_for() -> None:
    proba = np.array([[0.5, 0.5], [0.5, 0.5]])
    scored = Scored(np.array([0, 2]), np.array([0, 1]), proba, np.array([0, 1]))

    assert math.isnan(compute_metric("log_loss", "classification", scored))


def test_probability_metrics_are_nan_without_predict_proba() -> None:
    scored = Scored(np.array([0, 1, 1]), np.array([0, 1, 0]))

    result = compute_metrics(["accuracy", "roc_auc", "log_loss"], "classification", scored)

    assert result["accuracy"] == pytest.approx(2 / 3)
    assert math.isnan(result["roc_auc"])
    assert math.isnan(result["log_loss"])


def test_r2_of_a_constant_truth_follows_sklearn() -> None:
    y_true = np.array([3.0, 3.0, 3.0])
    missed = Scored(y_true, np.array([3.0, 2.0, 4.0]))
    perfect = Scored(y_true, y_true.copy())

    assert compute_metric("r2", "regression", missed) == sk.r2_score(y_true, missed.y_pred) == 0.0
    assert compute_metric("r2", "regression", perfect) == sk.r2_score(y_true, y_true) == 1.0


def test_r2_is_nan_on_a_single_row() -> None:
    scored = Scored(np.array([1.0, 2.0]), np.array([1.5, 2.5]))

    assert math.isnan(compute_metric("r2", "regression", scored, np.array([0])))


def test_mape_with_a_zero_target_matches_sklearn() -> None:
    y_true = np.array([0.0, 2.0, 4.0])
    y_pred = np.array([0.5, 2.0, 3.0])
    scored = Scored(y_true, y_pred)

    expected = sk.mean_absolute_percentage_error(y_true, y_pred)
    assert compute_metric("mape", "regression", scored) == pytest.approx(expected, **TOLERANCE)


def test_inputs_may_be_lists_and_stay_positional() -> None:
    scored = Scored(["a", "b", "b"], ["a", "b", "a"])  # type: ignore[arg-type]

    assert isinstance(scored.y_true, np.ndarray)
    assert compute_metric("accuracy", "classification", scored, np.array([2, 2])) == 0.0


def test_confusion_matrix_is_json_and_matches_sklearn() -> None:
    classes = np.array([3, 7, 9])
    scored = random_classification(5, 200, classes)

    result = confusion_matrix(scored)

    assert json.loads(json.dumps(result)) == result
    assert result["labels"] == [3, 7, 9]
    assert result["matrix"] == sk.confusion_matrix(scored.y_true, scored.y_pred).tolist()


def test_confusion_matrix_labels_include_predicted_only_labels() -> None:
    result = confusion_matrix(Scored(np.array(["x", "x"]), np.array(["x", "y"])))

    assert result == {"labels": ["x", "y"], "matrix": [[1, 1], [0, 0]]}


def test_known_metrics_per_task() -> None:
    assert known_metrics("classification") == [
        "accuracy",
        "log_loss",
        "macro_f1",
        "precision",
        "recall",
        "roc_auc",
        "weighted_f1",
    ]
    assert known_metrics("regression") == ["mae", "mape", "r2", "rmse"]


def test_metric_def_describes_direction_and_needs() -> None:
    log_loss = metric_def("log_loss", "classification")

    assert not log_loss.higher_is_better
    assert log_loss.needs_proba
    assert metric_def("r2", "regression").higher_is_better


def test_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        metric_def("f1_macro", "classification")

    assert caught.value.message == (
        "unknown metric 'f1_macro'; known: accuracy, log_loss, macro_f1, precision, recall, "
        "roc_auc, weighted_f1"
    )


def test_a_metric_of_the_other_task_is_unknown() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'rmse'; known: accuracy"):
        compute_metric("rmse", "classification", Scored(np.array([1]), np.array([1])))


def test_unknown_task_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown task 'ranking'"):
        known_metrics("ranking")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_true": [1, 2], "y_pred": [1]}, "y_true has 2 rows but y_pred has 1"),
        ({"y_true": [], "y_pred": []}, "empty"),
        ({"y_true": [1], "y_pred": [1], "proba": [[1.0]]}, "proba and classes together"),
        (
            {"y_true": [1], "y_pred": [1], "proba": [[0.5, 0.5]], "classes": [0, 1, 2]},
            "shape",
        ),
    ],
)
def test_scored_refuses_inconsistent_shapes(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        Scored(**kwargs)
