"""Evaluation sets are kept as artifacts and read back exactly as they were scored."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlrelease.artifacts import open_artifact_store
from mlrelease.data import load_source
from mlrelease.errors import ConfigError, IntegrityError
from mlrelease.pipeline.evaluate import EvaluationSet, load_evaluation_set, store_evaluation_set


def _awkward_set() -> EvaluationSet:
    X = pd.DataFrame(
        {
            "float": [0.1 + 0.2, 1e-300, -np.pi, np.nan],
            "int": [1, -2, 3, 2**53],
            "text": ["NA", "null", "a,b", 'quote "x"'],
            "flag": [True, False, True, False],
            "colour": pd.Categorical(["red", "blue", "red", "green"]),
            "when": pd.to_datetime(
                ["2026-01-01", "2026-02-03 04:05:06.25", "2020-02-29", "1999-12-31"],
                format="ISO8601",
            ),
        }
    )
    return EvaluationSet(X=X, y=pd.Series([0, 1, 1, 0], name="target"))


def test_an_evaluation_set_round_trips_exactly(tmp_path: Path) -> None:
    artifacts = open_artifact_store(str(tmp_path))
    original = _awkward_set()
    reference = store_evaluation_set(artifacts, original)
    restored = load_evaluation_set(artifacts, reference)
    pd.testing.assert_frame_equal(restored.X, original.X, check_dtype=True)
    assert restored.y.tolist() == original.y.tolist()
    assert reference["rows"] == 4


def test_a_tampered_evaluation_set_is_refused(tmp_path: Path) -> None:
    artifacts = open_artifact_store(str(tmp_path))
    reference = store_evaluation_set(artifacts, _awkward_set())
    path = Path(reference["uri"].removeprefix("file://"))
    path.chmod(0o644)
    path.write_text(path.read_text().replace("red", "rod"))
    with pytest.raises(IntegrityError):
        load_evaluation_set(artifacts, reference)


def test_parquet_without_pyarrow_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ConfigError, match=r"mlrelease\[parquet\]"):
        load_source("data.parquet", base_dir=tmp_path)


def test_a_classifier_without_probabilities_is_scored_and_registered(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.svm import LinearSVC

    from mlrelease.client import Client

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    fitted = LinearSVC(dual=False).fit(X, y)
    with Client.open(base_dir=tmp_path, env={}) as client:
        info = client.register_model(
            "svc", fitted, task="classification", sample_input=X[:5], eval_data=(X, y), gates=[]
        )
    assert info.metrics["accuracy"] > 0.9
    assert np.isnan(info.metrics["roc_auc"])  # undefined without probabilities, not a crash
