"""The release check language: what parses, into what, and one clear line for what does not."""

from __future__ import annotations

import numpy as np
import pytest

from mlrelease.errors import ConfigError
from mlrelease.release.checks import KNOWN_METRICS, Check, parse_check


def _threshold(check: Check, stable: dict[str, float] | None = None) -> float:
    values = stable or {}
    return float(check.threshold_values(lambda name: np.array([values[name]]))[0])


def test_an_absolute_check_names_a_metric_an_operator_and_a_number() -> None:
    check = parse_check("latency_p95 <= 0.5")
    assert (check.text, check.metric, check.op, check.relative) == (
        "latency_p95 <= 0.5",
        "latency_p95",
        "<=",
        False,
    )
    assert check.stable_metrics == frozenset()
    assert _threshold(check) == 0.5


@pytest.mark.parametrize(
    ("text", "stable", "expected"),
    [
        ("accuracy >= stable.accuracy - 0.02", {"accuracy": 0.9}, 0.88),
        ("error_rate <= stable.error_rate + 0.005", {"error_rate": 0.01}, 0.015),
        ("latency_p95 < stable.latency_p95 * 1.2", {"latency_p95": 0.1}, 0.12),
        ("latency_p99 <= (stable.latency_p99 + 0.01) * 2", {"latency_p99": 0.04}, 0.1),
        ("latency_mean <= stable.latency_p50 / 0.5", {"latency_p50": 0.2}, 0.4),
        ("macro_f1 > -0.1 + stable.macro_f1", {"macro_f1": 0.5}, 0.4),
        ("rmse<=stable.rmse*1.1", {"rmse": 2.0}, 2.2),
        ("mae <= 2 - -stable.mae", {"mae": 1.0}, 3.0),
    ],
)
def test_a_relative_check_reads_the_stable_versions_metrics(
    text: str, stable: dict[str, float], expected: float
) -> None:
    check = parse_check(text)
    assert check.relative
    assert check.stable_metrics == frozenset(stable)
    assert _threshold(check, stable) == pytest.approx(expected)


def test_operator_precedence_and_parentheses() -> None:
    assert _threshold(parse_check("requests >= 1 + 2 * 3")) == 7
    assert _threshold(parse_check("requests >= (1 + 2) * 3")) == 9
    assert _threshold(parse_check("requests >= 8 / 2 / 2")) == 2
    assert _threshold(parse_check("requests >= 1e2 - .5")) == 99.5


def test_the_threshold_evaluates_over_arrays_for_the_bootstrap() -> None:
    check = parse_check("accuracy >= stable.accuracy - 0.02")
    values = check.threshold_values(lambda name: np.array([0.9, 0.8]))
    assert values.tolist() == pytest.approx([0.88, 0.78])


def test_a_zero_divisor_gives_inf_not_an_exception() -> None:
    check = parse_check("latency_p95 <= 1 / stable.latency_p95")
    with np.errstate(all="raise"):  # the check itself must silence it
        assert np.isinf(_threshold(check, {"latency_p95": 0.0}))


def test_every_known_metric_parses_on_the_left() -> None:
    assert set(KNOWN_METRICS) >= {
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "latency_mean",
        "error_rate",
        "requests",
        "accuracy",
        "macro_f1",
        "rmse",
        "mae",
        "divergence",
    }
    for name in KNOWN_METRICS:
        assert parse_check(f"{name} >= 0").metric == name


def test_metrics_a_prometheus_query_adds_are_accepted_when_named() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'gpu_seconds'"):
        parse_check("gpu_seconds <= 2")
    check = parse_check("gpu_seconds <= stable.gpu_seconds", extra_metrics={"gpu_seconds"})
    assert check.stable_metrics == {"gpu_seconds"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "column 1: the check is empty"),
        ("   ", "column 4: the check is empty"),
        ("latency_p95", "column 12: expected one of >= <= > < after 'latency_p95', found the end"),
        ("latency_p95 = 0.5", "found '='; did you mean '>=' or '<='?"),
        ("latency_p95 => 0.5", "did you mean '>='?"),
        ("latency_p95 == 0.5", "'==' and '!=' cannot judge a measurement"),
        ("0.5 >= latency_p95", "column 1: a check starts with a metric of the new version"),
        ("stable.accuracy <= 1", "a check starts with a metric of the new version"),
        ("latncy_p95 <= 1", "unknown metric 'latncy_p95'; did you mean 'latency_p95'?"),
        ("accuracy >= stable.acuracy", "column 20: unknown metric 'acuracy'; did you mean"),
        ("accuracy >= accuracy - 0.1", "write stable.accuracy for the stable version's accuracy"),
        ("accuracy >= champion.accuracy", "unknown name 'champion'"),
        ("accuracy >= stable accuracy", "expected '.' after 'stable', found 'accuracy'"),
        ("accuracy >= stable.", "expected a metric after 'stable.', found the end"),
        ("accuracy >= stable.divergence", "divergence already compares the new version"),
        ("accuracy >= 0.5 0.6", "column 17: expected an operator (+ - * /) or the end"),
        ("accuracy >= 0.5 <= 1", "exactly one comparison; write two checks"),
        ("accuracy >= (0.5", "expected ')', found the end of the check"),
        ("accuracy >= 0.5)", "column 16: expected an operator (+ - * /) or the end, found ')'"),
        ("accuracy >= 1e", "column 13: malformed number '1e'"),
        ("accuracy >= 0.5.1", "malformed number '0.5.1'"),
        ("accuracy >= 1e999", "number '1e999' is too large"),
        ("accuracy >= 0.5; import os", "column 16: unexpected character ';'"),
        ("accuracy >= __import__('os').system('x')", "unknown name '__import__'"),
        ("accuracy >= abs(0.5)", "unknown name 'abs'"),
        ("accuracy >= " + "(" * 40 + "1" + ")" * 40, "nested more than 32 levels deep"),
        ("accuracy >= " + "-" * 40 + "1", "nested more than 32 levels deep"),
        ("accuracy >= " + "1+" * 300 + "1", "longer than 500 characters"),
    ],
)
def test_a_bad_check_raises_one_line_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_check(text)
    assert message in raised.value.message
    assert "\n" not in raised.value.message
    assert raised.value.exit_code == 2


def test_a_check_that_is_not_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be text"):
        parse_check(0.5)  # type: ignore[arg-type]


def test_nothing_is_evaluated_as_python(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_: object) -> None:
        raise AssertionError("eval/exec must not be used")

    monkeypatch.setattr("builtins.eval", forbidden)
    monkeypatch.setattr("builtins.exec", forbidden)
    assert parse_check("accuracy >= stable.accuracy * 0.98").relative
    with pytest.raises(ConfigError):
        parse_check("accuracy >= __builtins__")
