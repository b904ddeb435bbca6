"""Gates: the parser accepts the grammar and nothing else; evaluation judges as documented."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from mlrelease.errors import ConfigError, DataError, GateExpressionError
from mlrelease.evaluation import Scored
from mlrelease.gates import (
    Champion,
    Gate,
    GateResult,
    evaluate_gates,
    gates_need_champion,
    metrics_used,
    parse_gate,
)

# --- parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metrics", "refers_to_champion"),
    [
        ("macro_f1 >= 0.5", {"macro_f1"}, False),
        ("macro_f1 >= champion.macro_f1 - 0.01", {"macro_f1"}, True),
        ("accuracy >= champion.accuracy", {"accuracy"}, True),
        ("accuracy>=champion.accuracy", {"accuracy"}, True),
        ("log_loss < 1e-3", {"log_loss"}, False),
        ("log_loss < 1E+3", {"log_loss"}, False),
        ("accuracy - champion.accuracy > -.5e-1", {"accuracy"}, True),
        ("(accuracy + recall) / 2 >= 0.7", {"accuracy", "recall"}, False),
        ("-accuracy <= -0.5", {"accuracy"}, False),
        ("- - accuracy >= 0.5", {"accuracy"}, False),
        ("0.5 <= precision", {"precision"}, False),
        ("accuracy == 1.", {"accuracy"}, False),
        ("accuracy != 0", {"accuracy"}, False),
        ("macro_f1 >= champion.macro_f1 * 1.01", {"macro_f1"}, True),
        ("roc_auc > champion.log_loss", {"roc_auc", "log_loss"}, True),
        ("\taccuracy\n>=\n0.5  ", {"accuracy"}, False),
        ("((accuracy)) >= ((0.5))", {"accuracy"}, False),
    ],
)
def test_valid_gates_parse(text: str, metrics: set[str], refers_to_champion: bool) -> None:
    gate = parse_gate(text, "classification")

    assert gate.text == text
    assert gate.metrics == metrics
    assert gate.refers_to_champion is refers_to_champion
    assert gate.env == "production"
    assert gate.confidence is None


def test_regression_gates_use_regression_metrics() -> None:
    gate = parse_gate("rmse <= 12.5", "regression")

    assert gate.metrics == {"rmse"}
    with pytest.raises(GateExpressionError, match="unknown metric 'rmse'"):
        parse_gate("rmse <= 12.5", "classification")


def test_env_and_confidence_are_kept() -> None:
    gate = parse_gate(
        "accuracy >= champion.accuracy", "classification", env="staging", confidence=0.95
    )

    assert (gate.env, gate.confidence, gate.op) == ("staging", 0.95, ">=")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "column 1: a gate has no functions"),
        ("__import__ >= 1", "unknown metric '__import__'"),
        ("1; import os", "column 2: unexpected character ';'"),
        ("accuracy >= 0.5; import os", "column 16: unexpected character ';'"),
        ("accuracy.__class__ >= 0", "column 9: '.' may only follow 'champion'"),
        ("champion.accuracy.real <= accuracy", "column 18: '.' may only follow 'champion'"),
        ("champion.__class__ <= accuracy", "unknown metric '__class__'"),
        ("os.system('ls') >= 0", "column 1: unknown metric 'os'"),
        ("accuracy.system('ls') >= 0", "column 9: '.' may only follow 'champion'"),
        ("0.5 <= accuracy <= 0.9", "column 17: a gate holds exactly one comparison"),
        ("accuracy >= 0.5 >= 0.1", "found a second '>='"),
        ("", "column 1: the gate is empty"),
        ("   ", "the gate is empty"),
        ("accuracy", "expected a comparison (>= <= > < == !=)"),
        ("accuracy >=", "column 12: expected a number, a metric, champion.<metric> or '('"),
        (">= 0.5", "column 1: expected a number"),
        ("accuracy = 0.5", "unexpected character '=' (did you mean '=='?)"),
        ("accuracy => 0.5", "column 10: unexpected character '='"),
        ("accuracy >= 0.5 and recall >= 0.5", "found 'and'"),
        ("accuracy >= 1e", "malformed number '1e'"),
        ("accuracy >= 1.2.3", "malformed number '1.2.3'"),
        ("accuracy >= 0.5x", "malformed number '0.5x'"),
        ("accuracy >= 1e999", "number '1e999' is too large"),
        ("accuracy >= (0.5", "expected ')', found the end of the gate"),
        ("accuracy >= 0.5)", "expected an operator (+ - * /) or the end of the gate, found ')'"),
        ("accuracy >= +0.5", "found '+'"),
        ("accuracy ** 2 >= 0.5", "column 11: expected a number"),
        ("champion >= 0.5", "expected '.' after 'champion'"),
        ("champion. >= accuracy", "expected a metric after 'champion.'"),
        ("lambda: 1 >= accuracy", "unexpected character ':'"),
        ("accuracy >= [0.5]", "unexpected character '['"),
        ("accuracy >= 'high'", 'unexpected character "\'"'),
        ("accuracy >= 0.5 # comment", "unexpected character '#'"),
        ("accuracy >= ０.5", "unexpected character '０'"),
        ("accuracy >= 0x10", "malformed number '0x10'"),
        ("champion.accuracy >= 0.5", "never reads a metric of the candidate"),
        ("0.9 >= 0.5", "never reads a metric of the candidate"),
        ("(" * 40 + "accuracy" + ")" * 40 + " > 0", "nested more than 32 levels deep"),
        ("-" * 40 + "accuracy > 0", "nested more than 32 levels deep"),
    ],
)
def test_hostile_and_broken_gates_are_refused(text: str, message: str) -> None:
    with pytest.raises(GateExpressionError) as caught:
        parse_gate(text, "classification")

    assert message in caught.value.message
    assert caught.value.details["gate"] == text


def test_an_unknown_metric_names_the_known_ones_and_points_at_it() -> None:
    with pytest.raises(GateExpressionError) as caught:
        parse_gate("accuracy - f1_macro >= 0.5", "classification")

    assert caught.value.message == (
        "gate 'accuracy - f1_macro >= 0.5', column 12: unknown metric 'f1_macro'; known: "
        "accuracy, log_loss, macro_f1, precision, recall, roc_auc, weighted_f1\n"
        "    accuracy - f1_macro >= 0.5\n"
        "               ^"
    )
    assert caught.value.details == {"gate": "accuracy - f1_macro >= 0.5", "column": 12}


def test_a_syntax_error_points_at_the_token() -> None:
    with pytest.raises(GateExpressionError) as caught:
        parse_gate("macro_f1 >= >= 0.5", "classification")

    assert caught.value.message == (
        "gate 'macro_f1 >= >= 0.5', column 13: expected a number, a metric, "
        "champion.<metric> or '(', found '>='\n"
        "    macro_f1 >= >= 0.5\n"
        "                ^"
    )


def test_the_caret_lines_up_under_tabs_and_newlines() -> None:
    with pytest.raises(GateExpressionError) as caught:
        parse_gate("accuracy\t>=\n;", "classification")

    assert caught.value.message.endswith("\n    accuracy >= ;\n                ^")


@pytest.mark.parametrize("confidence", [0.5, 1.0, 1.2, 0.3, 0.0, -0.95, 95, math.nan, True])
def test_confidence_must_be_strictly_between_one_half_and_one(confidence: float) -> None:
    with pytest.raises(GateExpressionError, match=r"confidence must be strictly between 0.5 and 1"):
        parse_gate("accuracy >= champion.accuracy", "classification", confidence=confidence)


@pytest.mark.parametrize("op", ["==", "!="])
def test_confidence_needs_a_one_sided_comparison(op: str) -> None:
    with pytest.raises(GateExpressionError, match=f"one-sided comparison .* not '{op}'"):
        parse_gate(f"accuracy {op} champion.accuracy", "classification", confidence=0.9)


def test_env_must_not_be_empty() -> None:
    with pytest.raises(GateExpressionError, match="env must not be empty"):
        parse_gate("accuracy >= champion.accuracy", "classification", env="")


def test_parsed_gates_are_frozen_values() -> None:
    gate = parse_gate("accuracy >= 0.5", "classification")

    assert gate == parse_gate("accuracy  >=  0.5".replace("  ", " "), "classification")
    with pytest.raises(AttributeError):
        gate.env = "staging"  # type: ignore[misc]


def test_which_champions_and_metrics_the_gates_need() -> None:
    gates = [
        parse_gate("accuracy >= 0.5", "classification", env="dev"),
        parse_gate("macro_f1 >= champion.macro_f1", "classification"),
        parse_gate("recall >= champion.roc_auc", "classification", env="staging"),
    ]

    assert gates_need_champion(gates) == {"production", "staging"}
    assert metrics_used(gates) == {"accuracy", "macro_f1", "recall", "roc_auc"}
    assert metrics_used([]) == set()


# --- evaluation ------------------------------------------------------------------

Mask = npt.NDArray[np.bool_]


def binary_truth(n: int, seed: int = 0) -> npt.NDArray[np.int64]:
    return np.random.default_rng(seed).integers(0, 2, size=n)


def exactly_right_on(n_right: int, n: int, seed: int) -> Mask:
    """A mask with exactly ``n_right`` True values in random places."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:n_right]] = True
    return mask


def classifier(y_true: npt.NDArray[np.int64], right: Mask, *, proba: bool = True) -> Scored:
    """A binary classifier right exactly where ``right`` says, confident either way."""
    y_pred = np.where(right, y_true, 1 - y_true)
    if not proba:
        return Scored(y_true, y_pred)
    positive = np.where(y_pred == 1, 0.9, 0.1)
    return Scored(y_true, y_pred, np.column_stack([1 - positive, positive]), np.array([0, 1]))


def judge(
    gate: Gate,
    *,
    candidate: Scored | None,
    champion: Champion | None = None,
    candidate_metrics: dict[str, float] | None = None,
    **options: Any,
) -> GateResult:
    (result,) = evaluate_gates(
        [gate],
        "classification",
        candidate=candidate,
        candidate_metrics=candidate_metrics or {},
        champions={gate.env: champion},
        **options,
    )
    return result


def gate(text: str, **options: Any) -> Gate:
    return parse_gate(text, "classification", **options)


Y = binary_truth(1000)


def test_a_threshold_gate_passes_and_fails_on_the_stored_metrics() -> None:
    passing, failing = evaluate_gates(
        [gate("macro_f1 >= 0.5"), gate("accuracy > 0.9")],
        "classification",
        candidate=None,
        candidate_metrics={"macro_f1": 0.8, "accuracy": 0.85},
        champions={},
    )

    assert (passing.passed, passing.value, passing.threshold) == (True, 0.8, 0.5)
    assert passing.note == "0.8 >= 0.5"
    assert (failing.passed, failing.value, failing.threshold) == (False, 0.85, 0.9)
    assert failing.note == "0.85 <= 0.9"
    assert (failing.env, failing.champion_version, failing.bound) == (None, None, None)


def test_a_metric_not_stored_is_computed_from_the_candidate() -> None:
    candidate = classifier(Y, exactly_right_on(700, 1000, seed=1))

    result = judge(gate("accuracy >= 0.75"), candidate=candidate)

    assert result.value == pytest.approx(0.7)
    assert not result.passed


def test_a_metric_neither_stored_nor_computable_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="metric 'recall' was not computed"):
        judge(gate("recall >= 0.5"), candidate=None, candidate_metrics={"accuracy": 0.9})


def test_arithmetic_follows_precedence_on_both_sides() -> None:
    result = judge(
        gate("-(accuracy - 0.25) * 2 + 1 <= 1 - 2 * 3 / 4"),
        candidate=None,
        candidate_metrics={"accuracy": 0.75},
    )

    assert result.value == pytest.approx(0.0)  # -(0.5) * 2 + 1
    assert result.threshold == pytest.approx(-0.5)  # 1 - 1.5
    assert not result.passed


def test_a_champion_gate_passes_when_nothing_is_live_yet() -> None:
    result = judge(
        gate("accuracy >= champion.accuracy"),
        candidate=None,
        candidate_metrics={"accuracy": 0.6},
    )

    assert result.passed
    assert result.note == "no champion in production yet: passes"
    assert (result.env, result.champion_version) == ("production", None)
    assert result.value == 0.6
    assert math.isnan(result.threshold)


def test_the_champion_is_measured_on_the_candidates_rows() -> None:
    candidate = classifier(Y, exactly_right_on(800, 1000, seed=1))
    champion = Champion(3, classifier(Y, exactly_right_on(815, 1000, seed=2)))

    result = judge(
        gate("accuracy >= champion.accuracy - 0.01", env="staging"),
        candidate=candidate,
        champion=champion,
    )

    assert result.value == pytest.approx(0.8)
    assert result.threshold == pytest.approx(0.805)
    assert not result.passed
    assert (result.env, result.champion_version) == ("staging", 3)
    assert result.note == "0.8 < 0.805"


def test_a_champion_gate_without_evaluation_data_is_a_config_error() -> None:
    champion = Champion(1, classifier(Y, exactly_right_on(800, 1000, seed=2)))

    with pytest.raises(ConfigError, match="pass eval data when registering"):
        judge(
            gate("accuracy >= champion.accuracy"),
            candidate=None,
            champion=champion,
            candidate_metrics={"accuracy": 0.9},
        )


def test_a_champion_environment_that_was_not_looked_up_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not looked up"):
        evaluate_gates(
            [gate("accuracy >= champion.accuracy", env="staging")],
            "classification",
            candidate=classifier(Y, Y == Y),
            candidate_metrics={},
            champions={"production": None},
        )


def test_champion_scored_on_other_rows_is_refused() -> None:
    champion = Champion(1, classifier(Y[:500], exactly_right_on(400, 500, seed=2)))

    with pytest.raises(DataError, match="scored on 500 rows, the candidate on 1000"):
        judge(
            gate("accuracy >= champion.accuracy"),
            candidate=classifier(Y, Y == Y),
            champion=champion,
        )


def test_division_by_zero_fails_the_gate_instead_of_raising() -> None:
    result = judge(
        gate("accuracy / (recall - recall) >= 1"),
        candidate=None,
        candidate_metrics={"accuracy": 0.9, "recall": 0.8},
    )

    assert not result.passed
    assert result.note == "division by zero on the full evaluation set"
    assert math.isnan(result.value)


def test_a_metric_without_predict_proba_fails_with_a_note() -> None:
    candidate = classifier(Y, exactly_right_on(900, 1000, seed=1), proba=False)

    result = judge(gate("roc_auc >= 0.7"), candidate=candidate)

    assert not result.passed
    assert result.note == "nan: roc_auc: model has no predict_proba"


def test_a_champion_without_predict_proba_fails_the_comparison() -> None:
    candidate = classifier(Y, exactly_right_on(900, 1000, seed=1))
    champion = Champion(4, classifier(Y, exactly_right_on(800, 1000, seed=2), proba=False))

    result = judge(gate("roc_auc >= champion.roc_auc"), candidate=candidate, champion=champion)

    assert not result.passed
    assert result.note == "nan: champion.roc_auc (v4): model has no predict_proba"


def test_results_are_json_without_nan() -> None:
    result = judge(
        gate("accuracy >= champion.accuracy"), candidate=None, candidate_metrics={"accuracy": 0.6}
    )

    payload = result.to_dict()

    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert payload == {
        "gate": "accuracy >= champion.accuracy",
        "passed": True,
        "value": 0.6,
        "threshold": None,
        "op": ">=",
        "env": "production",
        "champion_version": None,
        "confidence": None,
        "bound": None,
        "note": "no champion in production yet: passes",
    }


# --- confidence (paired bootstrap) -----------------------------------------------


def test_a_candidate_better_by_a_wide_margin_passes_with_confidence() -> None:
    candidate = classifier(Y, exactly_right_on(950, 1000, seed=1))
    champion = Champion(2, classifier(Y, exactly_right_on(700, 1000, seed=2)))

    result = judge(
        gate("accuracy >= champion.accuracy", confidence=0.95),
        candidate=candidate,
        champion=champion,
    )

    assert result.passed
    assert result.bound is not None
    assert 0.15 < result.bound < 0.25
    assert result.note.startswith("95% lower bound of difference 0.")
    assert result.note.endswith(" >= 0")


def test_a_noisy_candidate_of_the_same_quality_is_not_confidently_better() -> None:
    # Independent errors: the two models disagree on about a third of the rows, so a
    # 0.5-point lead on 1000 rows is well inside the noise.
    candidate = classifier(Y, exactly_right_on(805, 1000, seed=1))
    champion = Champion(2, classifier(Y, exactly_right_on(800, 1000, seed=2)))
    plain = gate("accuracy >= champion.accuracy + 0.0")
    confident = gate("accuracy >= champion.accuracy + 0.0", confidence=0.95)

    plain_result, confident_result = evaluate_gates(
        [plain, confident],
        "classification",
        candidate=candidate,
        candidate_metrics={},
        champions={"production": champion},
    )

    assert plain_result.passed
    assert not confident_result.passed
    assert confident_result.bound is not None and confident_result.bound < 0
    assert confident_result.note == (
        f"95% lower bound of difference {confident_result.bound:.4g} < 0"
    )
    assert (confident_result.value, confident_result.threshold) == (0.805, 0.8)


def test_identical_predictions_differ_by_exactly_zero_on_every_resample() -> None:
    # Only a paired bootstrap gets this right: independent resamples would scatter the
    # difference around 0 and the lower bound would be negative.
    right = exactly_right_on(800, 1000, seed=1)
    candidate = classifier(Y, right)
    champion = Champion(2, classifier(Y, right.copy()))  # equal, but not the same object

    at_least, strictly = evaluate_gates(
        [
            gate("accuracy >= champion.accuracy", confidence=0.95),
            gate("accuracy > champion.accuracy", confidence=0.95),
        ],
        "classification",
        candidate=candidate,
        candidate_metrics={},
        champions={"production": champion},
    )

    assert (at_least.passed, at_least.bound) == (True, 0.0)
    assert (strictly.passed, strictly.bound) == (False, 0.0)
    assert strictly.note == "95% lower bound of difference 0 <= 0"


def test_a_lower_is_better_gate_uses_the_upper_bound() -> None:
    rng = np.random.default_rng(5)
    truth = rng.normal(100, 20, size=600)
    candidate = Scored(truth, truth + rng.normal(0, 2, size=600))
    champion = Champion(1, Scored(truth, truth + rng.normal(0, 6, size=600)))
    rmse_gate = parse_gate("rmse <= champion.rmse", "regression", confidence=0.99)

    (result,) = evaluate_gates(
        [rmse_gate],
        "regression",
        candidate=candidate,
        candidate_metrics={},
        champions={"production": champion},
    )

    assert result.passed
    assert result.bound is not None and result.bound < 0
    assert result.note.startswith("99% upper bound of difference -")


def test_confidence_applies_to_a_fixed_threshold_too() -> None:
    candidate = classifier(Y, exactly_right_on(720, 1000, seed=1))

    plain = judge(gate("accuracy >= 0.7"), candidate=candidate)
    confident = judge(gate("accuracy >= 0.7", confidence=0.95), candidate=candidate)

    assert plain.passed
    assert not confident.passed
    assert confident.env is None


def test_a_confidence_gate_needs_the_candidates_predictions() -> None:
    with pytest.raises(ConfigError, match="asks for confidence"):
        judge(
            gate("accuracy >= 0.7", confidence=0.9),
            candidate=None,
            candidate_metrics={"accuracy": 0.8},
        )


def test_the_bootstrap_is_reproducible_and_follows_the_seed() -> None:
    candidate = classifier(Y, exactly_right_on(805, 1000, seed=1))
    champion = Champion(2, classifier(Y, exactly_right_on(800, 1000, seed=2)))
    confident = gate("accuracy >= champion.accuracy", confidence=0.9)

    first = judge(confident, candidate=candidate, champion=champion, seed=7)
    again = judge(confident, candidate=candidate, champion=champion, seed=7)
    other = judge(confident, candidate=candidate, champion=champion, seed=8)

    assert first.bound == again.bound
    assert first.bound != other.bound


def test_resamples_where_the_metric_is_undefined_fail_the_gate() -> None:
    # One positive in 30 rows: about a third of the resamples miss it, and roc_auc
    # is undefined on those.
    truth = np.zeros(30, dtype=np.int64)
    truth[0] = 1
    candidate = classifier(truth, exactly_right_on(28, 30, seed=1))

    result = judge(gate("roc_auc >= 0.1", confidence=0.9), candidate=candidate, n_resamples=200)

    assert not result.passed
    assert result.note.startswith("nan in ")
    assert result.note.endswith(" of 200 resamples: no bound")


def test_division_by_zero_on_some_resamples_fails_the_gate() -> None:
    # The champion is right on 6 of 10 rows; resamples with exactly 5 make the
    # denominator zero although the full set does not.
    truth = binary_truth(10, seed=3)
    candidate = classifier(truth, exactly_right_on(8, 10, seed=1))
    champion = Champion(1, classifier(truth, exactly_right_on(6, 10, seed=2)))

    result = judge(
        gate("accuracy / (champion.accuracy - 0.5) >= 1", confidence=0.9),
        candidate=candidate,
        champion=champion,
        n_resamples=300,
    )

    assert result.threshold == 1.0
    assert result.value == pytest.approx(0.8 / 0.1)
    assert not result.passed
    assert result.note.startswith("division by zero in ")
    assert result.note.endswith(" of 300 resamples")
