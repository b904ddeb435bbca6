"""The project file: every kind of mistake gets one line naming the key's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrelease.errors import MissingVariableError, SpecError
from mlrelease.scaffold import render_project_file
from mlrelease.spec import load_spec, parse_spec

VALID = render_project_file("classification")


def _error(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, env=env or {})
    return caught.value.message


def test_the_template_is_valid_and_has_sensible_defaults() -> None:
    spec = parse_spec(VALID, env={})
    assert spec.model == "breast-cancer"
    assert spec.environment_order == ["dev", "staging", "production"]
    assert spec.first_environment == "dev"
    assert spec.stratify is True
    assert [gate.text for gate in spec.parsed_gates()][0] == "macro_f1 >= 0.5"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "min_rows: 100",
            "min_rowz: 100",
            "mlrelease.yaml:16: data.checks.min_rowz: unknown key; allowed here: min_rows, "
            "max_missing_fraction, schema",
        ),
        ("test_size: 0.2", "test_size: 1.5", "data.split.test_size: Input should be less than 1"),
        (
            "test_size: 0.2",
            "test_size: lots",
            "data.split.test_size: Input should be a valid number",
        ),
        (
            "  target: target           # the column to predict\n",
            "",
            "mlrelease.yaml:8: data.target: required key is missing",
        ),
        (
            "- macro_f1 >= 0.5",
            "- f1_macro >= 0.5",
            "gates[0]: gate 'f1_macro >= 0.5', column 1: unknown metric 'f1_macro'; known: "
            "accuracy, log_loss, macro_f1",
        ),
        ("- macro_f1 >= 0.5", "- macro_f1 >= 0.5 >= 0.2", "gates[0]: "),
        ("metrics: [macro_f1,", "metrics: [rmse,", "metrics[0]: unknown metric 'rmse'"),
        (
            "staging: {after: dev}",
            "staging: {after: qa}",
            "environments.staging.after: no environment named 'qa'",
        ),
        ("dev: {}", "dev: {after: production}", "environments: 'after' forms a cycle"),
        ("env: production}", "env: prod}", "gates[1]: champion environment 'prod' is not defined"),
        (
            "task: classification",
            "task: clustering",
            "task: Input should be 'classification' or 'regression'",
        ),
        (
            "model: breast-cancer",
            "model: ../escape",
            "model: model name '../escape' is not allowed",
        ),
        (
            "  estimator: sklearn.linear_model.LogisticRegression",
            "  estimator: sklearn.linear_model.LogisticRegression\n  entrypoint: m:f",
            "train: give exactly one of 'estimator'",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(old: str, new: str, expected: str) -> None:
    assert old in VALID
    message = _error(VALID.replace(old, new, 1))
    assert expected in message
    assert len(message.splitlines()) == 1


def test_yaml_syntax_errors_name_the_line() -> None:
    assert _error("model: [unclosed\n").startswith("mlrelease.yaml:")


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    assert "must be a mapping" in _error("- just\n- a list\n")


def test_variables_come_from_the_environment_with_defaults_and_escapes() -> None:
    text = (
        VALID.replace("sklearn:load_breast_cancer", "${SOURCE}")
        .replace("model: breast-cancer", "model: ${NAME:-fallback}")
        .replace("target: target", "target: $${not_a_var}")
    )
    spec = parse_spec(text, env={"SOURCE": "data/*.csv"})
    assert spec.data.source == "data/*.csv"
    assert spec.model == "fallback"
    assert spec.data.target == "${not_a_var}"


def test_a_missing_variable_is_an_error_naming_it() -> None:
    with pytest.raises(MissingVariableError, match="'DATA_DIR' is not set") as caught:
        parse_spec(VALID.replace("sklearn:load_breast_cancer", "${DATA_DIR}/x.csv"), env={})
    assert caught.value.message.startswith("data.source: ")


def test_variables_cannot_inject_yaml_structure() -> None:
    text = VALID.replace("model: breast-cancer", "model: ${NAME}")
    with pytest.raises(SpecError, match="not allowed"):
        parse_spec(text, env={"NAME": "x\ntask: regression"})


def test_load_spec_reports_a_missing_file_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="mlrelease init"):
        load_spec(tmp_path / "mlrelease.yaml", {})


def test_load_spec_accepts_a_directory(tmp_path: Path) -> None:
    (tmp_path / "mlrelease.yaml").write_text(VALID)
    loaded = load_spec(tmp_path, {})
    assert loaded.project_dir == tmp_path.resolve()


def test_a_channel_subscribes_with_a_plain_on_key_and_unknown_topics_are_named() -> None:
    from mlrelease.spec import parse_spec

    base = (
        "model: m\ntask: classification\n"
        "data: {source: 'sklearn:load_iris', target: target}\n"
        "train: {estimator: sklearn.linear_model.LogisticRegression}\n"
        "notify:\n  - slack: https://hooks.example.com/x\n"
    )
    spec = parse_spec(base + "    on: [promoted, rolled_back]\n", env={})
    assert spec.notify[0].on == ["promoted", "rolled_back"]
    assert list(spec.channels) == ["slack"]
    with pytest.raises(SpecError, match=r"mlrelease.yaml:6: notify\[0\].*unknown topic 'promote'"):
        parse_spec(base + "    on: [promote]\n", env={})


RELEASE_BASE = (
    "model: m\ntask: classification\n"
    "data: {source: 'sklearn:load_iris', target: target}\n"
    "train: {estimator: sklearn.linear_model.LogisticRegression}\n"
    "release:\n  canary:\n"
)


@pytest.mark.parametrize(
    ("release", "message"),
    [
        (
            "    steps: [{weight: 10}]\n    checks: ['acuracy >= 0.9']\n",
            r"mlrelease.yaml:8: release.canary.checks\[0\]: .*did you mean 'accuracy'",
        ),
        (
            "    steps: [{weight: 10, pause: 5m}]\n",
            r"release.canary.steps\[0\]: each step needs exactly one of",
        ),
        ("    steps: [{pause: soon}]\n", r"not a duration: 'soon'; write it like 30s"),
        (
            "    steps: [{analysis: {interval: 1m, cuont: 3}}]\n",
            r"release.canary.steps\[0\].analysis.cuont: unknown key; allowed here: interval, count",
        ),
    ],
)
def test_release_strategies_are_checked_with_the_key_path(release: str, message: str) -> None:
    from mlrelease.spec import parse_spec

    with pytest.raises(SpecError, match=message):
        parse_spec(RELEASE_BASE + release, env={})


def test_release_durations_and_person_pauses_parse() -> None:
    from mlrelease.spec import parse_spec

    spec = parse_spec(
        RELEASE_BASE + "    steps: [{weight: 20}, {pause: 10m}, {pause: {}}, {pause: 500ms}]\n",
        env={},
    )
    assert [step.pause for step in spec.release.canary.steps] == [None, 600.0, {}, 0.5]


def test_a_shadow_environment_needs_its_strategy_in_the_file() -> None:
    from mlrelease.spec import parse_spec

    text = RELEASE_BASE.replace("release:\n  canary:\n", "") + (
        "environments:\n  production: {release: shadow}\n"
    )
    with pytest.raises(SpecError, match=r"environments.production.release: releases by shadow"):
        parse_spec(text, env={})
