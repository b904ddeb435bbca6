"""The pipeline through the Python API: sources, training modes, lineage, champions, caching."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from mlrelease.client import Client
from mlrelease.errors import ConfigError, DataCheckFailed, GateFailed, IntegrityError
from mlrelease.scaffold import render_project_file

SEARCH_COMMENT = "  # search: {grid: {C: [0.1, 1.0, 10.0]}, cv: 5, scoring: macro_f1}"
ESTIMATOR = "  estimator: sklearn.linear_model.LogisticRegression\n  params: {solver: liblinear}"


def _project(directory: Path, text: str) -> Client:
    (directory / "mlrelease.yaml").write_text(text)
    return Client.from_project(directory, env={})


def _classification(**replacements: str) -> str:
    text = render_project_file("classification")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_a_run_records_steps_metrics_lineage_and_registers_to_the_first_environment(
    isolated_env: Path,
) -> None:
    with _project(isolated_env, _classification()) as client:
        result = client.run()
        run, logs = client.get_run(result.run_id)
        version = client.version("breast-cancer", 1)
    assert result.status == "succeeded" and result.alias == "dev"
    assert [step["name"] for step in run.steps] == [
        "load",
        "check",
        "split",
        "train",
        "evaluate",
        "gate",
        "register",
    ]
    assert all(step["status"] == "ok" for step in run.steps)
    assert run.data_fingerprint.startswith("sha256:")
    assert run.lineage["git"] == {"commit": None, "dirty": None}  # not a git repository
    assert run.lineage["packages"]["scikit-learn"]
    assert version.metrics["macro_f1"] > 0.9 and version.run_id == run.id
    assert version.evaluation["rows"] == 114 and version.evaluation["confusion_matrix"]
    assert set(version.profile["features"]) == set(version.feature_names)
    assert version.params["estimator"] == "sklearn.linear_model.LogisticRegression"


def test_lineage_records_the_git_commit_and_dirty_flag(isolated_env: Path) -> None:
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (isolated_env / "mlrelease.yaml").write_text(_classification())
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    with Client.from_project(isolated_env, env={}) as client:
        run, _ = client.get_run(client.run().run_id)
    assert run.lineage["git"] == {"commit": head, "dirty": False}


def test_csv_glob_with_text_columns_and_missing_values_is_preprocessed(isolated_env: Path) -> None:
    rng = np.random.default_rng(0)
    for part in range(2):
        n = 150
        x = rng.normal(size=n)
        colour = rng.choice(["red", "green", "blue"], size=n)
        frame = pd.DataFrame({"x": x, "colour": colour, "label": (x + (colour == "red")) > 0.5})
        frame.loc[::17, "x"] = np.nan
        (isolated_env / "data").mkdir(exist_ok=True)
        frame.to_csv(isolated_env / "data" / f"part{part}.csv", index=False)
    text = _classification(
        **{
            "sklearn:load_breast_cancer": "data/*.csv",
            "target: target": "target: label",
            "max_missing_fraction: 0.0": "max_missing_fraction: 0.2",
        }
    )
    with _project(isolated_env, text) as client:
        result = client.run()
        model = client.load_model("models:/breast-cancer@dev")
        version = client.version("breast-cancer", 1)
    assert result.metrics["accuracy"] > 0.7
    assert {item["name"]: item["kind"] for item in version.signature["inputs"]} == {
        "x": "float",
        "colour": "string",
    }
    prediction = model.predict(pd.DataFrame({"x": [2.0, np.nan], "colour": ["red", "purple"]}))
    assert len(prediction) == 2


def test_grid_search_records_the_best_parameters(isolated_env: Path) -> None:
    text = _classification(
        **{
            SEARCH_COMMENT: "  search: {grid: {C: [0.01, 1.0]}, cv: 3, scoring: macro_f1}",
        }
    )
    with _project(isolated_env, text) as client:
        result = client.run()
    assert result.search is not None and result.search["candidates"] == 2
    assert result.version is not None and result.version.params["C"] in (0.01, 1.0)


def test_an_unknown_grid_parameter_is_refused_naming_it(isolated_env: Path) -> None:
    text = _classification(
        **{
            SEARCH_COMMENT: "  search: {grid: {Cee: [1.0]}}",
        }
    )
    with _project(isolated_env, text) as client, pytest.raises(ConfigError, match="Cee"):
        client.run()


def test_a_user_training_function_can_train_the_model(isolated_env: Path) -> None:
    (isolated_env / "mytrain.py").write_text(
        "from sklearn.tree import DecisionTreeClassifier\n"
        "def fit(X, y, depth=3):\n"
        "    return DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)\n"
    )
    text = _classification(
        **{
            ESTIMATOR: "  entrypoint: mytrain:fit\n  params: {depth: 2}\n",
        }
    )
    with _project(isolated_env, text) as client:
        result = client.run()
    assert result.version is not None and result.version.params == {
        "entrypoint": "mytrain:fit",
        "depth": 2,
    }


def test_a_champion_gate_compares_on_the_same_rows_and_can_demand_confidence(
    isolated_env: Path,
) -> None:
    with _project(isolated_env, _classification()) as client:
        client.run()
        client.registry.set_alias("breast-cancer", "production", 1, actor="t")
    worse = _classification(
        **{
            "params: {solver: liblinear}": "params: {solver: liblinear, C: 0.00001}",
        }
    )
    with _project(isolated_env, worse) as client, pytest.raises(GateFailed) as caught:
        client.run()
    gates = caught.value.details["gates"]
    assert gates[1]["champion_version"] == 1 and gates[1]["passed"] is False
    with Client.from_project(isolated_env, env={}) as client:
        assert [v.version for v in client.versions("breast-cancer")] == [1]


def test_a_failed_data_check_stops_before_training_and_is_recorded(isolated_env: Path) -> None:
    with _project(isolated_env, _classification(**{"min_rows: 100": "min_rows: 10000"})) as client:
        with pytest.raises(DataCheckFailed, match="min_rows"):
            client.run()
        (run,) = client.runs()
    assert run.status == "check_failed" and [s["name"] for s in run.steps] == ["load", "check"]


def test_schema_drift_against_the_last_successful_run_fails_a_strict_check(
    isolated_env: Path,
) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.assign(target=y).to_csv(isolated_env / "data.csv", index=False)
    text = _classification(**{"sklearn:load_breast_cancer": "data.csv"})
    with _project(isolated_env, text) as client:
        client.run()
    X.drop(columns=["mean radius"]).assign(target=y).to_csv(isolated_env / "data.csv", index=False)
    with (
        _project(isolated_env, text) as client,
        pytest.raises(DataCheckFailed, match="mean radius"),
    ):
        client.run()


def test_a_tampered_artifact_is_refused_on_load(isolated_env: Path) -> None:
    with _project(isolated_env, _classification()) as client:
        client.run()
        version = client.version("breast-cancer", 1)
        path = Path(version.artifact_uri.removeprefix("file://"))
        path.write_bytes(path.read_bytes() + b"tampered")
        with pytest.raises(IntegrityError, match="model.skops"):
            client.load_model("models:/breast-cancer/1")


def test_a_model_trained_elsewhere_is_registered_through_the_same_gates(isolated_env: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    fitted = LogisticRegression(solver="liblinear").fit(X[:400], y[:400])
    with Client.open(base_dir=isolated_env, env={}) as client:
        with pytest.raises(GateFailed):
            client.register_model(
                "nb",
                fitted,
                task="classification",
                sample_input=X[:5],
                eval_data=(X[400:], y[400:]),
                gates=["accuracy >= 0.999"],
            )
        assert client.models() == []
        version = client.register_model(
            "nb",
            fitted,
            task="classification",
            sample_input=X[:5],
            eval_data=(X[400:], y[400:]),
            gates=["accuracy >= 0.8"],
            alias="dev",
        )
        assert version.version == 1 and version.metrics["accuracy"] >= 0.8
        assert client.check_gates("nb", 1)[0].passed
        loaded = client.load_model("models:/nb@dev")
        assert (loaded.predict(X[400:]) == fitted.predict(X[400:])).all()


def test_metrics_can_be_logged_one_by_one_for_a_run(isolated_env: Path) -> None:
    from mlrelease.pipeline.runs import metric_history

    with Client.open(base_dir=isolated_env, env={}) as client:
        run = client.start_run("experiment")
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        assert [s for s, _ in metric_history(client.store, run.id, "loss")] == list(range(5))
