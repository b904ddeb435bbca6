"""The linear form: a plain linear model's numbers, stored at registration and served
with numpy alone, answering exactly as scikit-learn does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from mlrelease.client import Client
from mlrelease.errors import ArtifactError, IntegrityError
from mlrelease.registry.flavors.linear import FORMAT, LinearForm, LinearModel
from mlrelease.registry.flavors.sklearn import SklearnModel

LINEAR_MODELS: dict[str, tuple[str, Any]] = {
    "binary logistic": ("breast_cancer", LogisticRegression(solver="liblinear")),
    "softmax": ("iris", LogisticRegression(max_iter=2000)),
    "linear regression": ("diabetes", LinearRegression()),
    "ridge": ("diabetes", Ridge(alpha=0.5)),
    "lasso": ("diabetes", Lasso(alpha=0.1)),
    "elastic net": ("diabetes", ElasticNet(alpha=0.1)),
}


def _data(name: str) -> tuple[pd.DataFrame, pd.Series]:
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True, as_frame=True)
    return X, y


def _far_rows(X: pd.DataFrame, count: int = 200) -> pd.DataFrame:
    """Rows well outside the training data: the arithmetic must hold everywhere."""
    noise = np.random.default_rng(3).normal(size=(count, X.shape[1]))
    return pd.DataFrame(X.mean().to_numpy() + noise * X.std().to_numpy() * 4, columns=X.columns)


@pytest.mark.parametrize("kind", list(LINEAR_MODELS))
def test_a_stored_form_answers_as_the_estimator_does(kind: str) -> None:
    dataset, estimator = LINEAR_MODELS[kind]
    X, y = _data(dataset)
    estimator.fit(X, y)
    form = LinearForm.verified(estimator, list(X.columns))
    assert form is not None
    model = LinearModel(LinearForm.from_bytes(form.to_bytes(), where="test"))
    rows = pd.concat([X, _far_rows(X)], ignore_index=True)
    labels, proba = model.predict_with_proba(rows)
    assert np.array_equal(labels, estimator.predict(rows))
    if hasattr(estimator, "predict_proba"):
        assert model.classes == estimator.classes_.tolist()
        assert proba is not None
        assert np.allclose(proba, estimator.predict_proba(rows), rtol=1e-9, atol=1e-12)
    else:
        assert proba is None and model.classes is None
    # A server's matrix, columns in signature order: the same answers.
    assert model.accept_matrices(list(X.columns))
    assert np.array_equal(model.predict(rows.to_numpy()), labels)


def test_a_frame_is_read_by_column_name_not_position() -> None:
    X, y = _data("breast_cancer")
    estimator = LogisticRegression(solver="liblinear").fit(X, y)
    form = LinearForm.verified(estimator, list(X.columns))
    assert form is not None
    shuffled = X[list(X.columns)[::-1]]
    assert np.array_equal(LinearModel(form).predict(shuffled), estimator.predict(X))
    assert not LinearModel(form).accept_matrices(list(shuffled.columns))


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=3, random_state=0),
        LinearSVC(),  # linear, but no probabilities to serve
        make_pipeline(StandardScaler(), LogisticRegression()),
    ],
    ids=["forest", "linear-svc", "pipeline"],
)
def test_other_models_have_no_form(estimator: Any) -> None:
    X, y = _data("breast_cancer")
    assert LinearForm.verified(estimator.fit(X, y), list(X.columns)) is None


def test_columns_that_disagree_with_the_fit_give_no_form() -> None:
    X, y = _data("breast_cancer")
    estimator = LogisticRegression(solver="liblinear").fit(X, y)
    assert LinearForm.verified(estimator, list(X.columns)[::-1]) is None  # its name check
    assert LinearForm.verified(estimator, list(X.columns)[:-1]) is None  # too few


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"format": "mlrelease.linear/99"}, "format"),
        ({"link": "cubic"}, "unknown link"),
        ({"intercept": [1.0, 2.0]}, "intercept"),
        ({"columns": ["a"]}, "1 columns for 2 coefficients"),
        ({"classes": None}, "classes and link disagree"),
        ({"coef": "many"}, "coef"),
    ],
)
def test_a_malformed_form_is_refused_with_what_is_wrong(
    change: dict[str, Any], complaint: str
) -> None:
    document = {
        "format": FORMAT,
        "link": "logistic",
        "columns": ["a", "b"],
        "coef": [[1.0, 2.0]],
        "intercept": [0.5],
        "classes": [0, 1],
    }
    with pytest.raises(ArtifactError, match=complaint) as caught:
        LinearForm.from_bytes(json.dumps({**document, **change}).encode(), where="x.json")
    assert "register the model again" in caught.value.message
    with pytest.raises(ArtifactError, match="cannot be read"):
        LinearForm.from_bytes(b"\x80not json", where="x.json")


# -- registration and serving ----------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Any:
    with Client.open(base_dir=tmp_path, env={}) as opened:
        yield opened


def test_registering_a_linear_model_stores_its_form_and_a_server_loads_it(client: Client) -> None:
    X, y = _data("breast_cancer")
    estimator = LogisticRegression(solver="liblinear").fit(X, y)
    info = client.register_model("bc", estimator, task="classification", sample_input=X)
    assert info.serving_form["format"] == FORMAT
    assert client.version("bc", 1).serving_form == info.serving_form
    served = client.registry.load_for_serving(info)
    assert isinstance(served, LinearModel)
    from_artifact = client.registry.load_model(info)
    assert isinstance(from_artifact, SklearnModel)
    rows = _far_rows(X)
    assert np.array_equal(served.predict(rows), from_artifact.predict(rows))


def test_other_models_are_served_from_their_artifact(client: Client) -> None:
    X, y = _data("breast_cancer")
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    info = client.register_model("bc", forest, task="classification", sample_input=X)
    assert info.serving_form == {}
    assert isinstance(client.registry.load_for_serving(info), SklearnModel)


def test_a_form_whose_bytes_changed_is_never_served(client: Client) -> None:
    X, y = _data("breast_cancer")
    estimator = LogisticRegression(solver="liblinear").fit(X, y)
    info = client.register_model("bc", estimator, task="classification", sample_input=X)
    blob = Path(info.serving_form["uri"].removeprefix("file://"))
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b'"intercept": [', b'"intercept": [1'))
    with pytest.raises(IntegrityError):
        client.registry.load_for_serving(info)


def test_a_version_whose_artifact_changed_is_refused_though_its_form_is_intact(
    client: Client,
) -> None:
    X, y = _data("breast_cancer")
    estimator = LogisticRegression(solver="liblinear").fit(X, y)
    info = client.register_model("bc", estimator, task="classification", sample_input=X)
    artifact = Path(info.artifact_uri.removeprefix("file://"))
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes()[:-10])
    with pytest.raises(IntegrityError):
        client.registry.load_for_serving(info)


def test_a_server_of_a_linear_model_needs_no_scikit_learn(client: Client, tmp_path: Path) -> None:
    """A process in which importing scikit-learn or skops fails still serves the form."""
    X, y = _data("breast_cancer")
    estimator = LogisticRegression(solver="liblinear").fit(X, y)
    client.register_model("bc", estimator, task="classification", sample_input=X, alias="dev")
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    for module in ("sklearn", "skops"):
        (blocked / f"{module}.py").write_text(f"raise ImportError('{module} was imported')\n")
    script = (
        "import sys, json, numpy as np\n"
        f"sys.path.insert(0, {str(blocked)!r})\n"
        "from mlrelease.client import Client\n"
        "from mlrelease.serving.runtime import Runtime\n"
        f"with Client.open(base_dir={str(tmp_path)!r}, env={{}}) as client:\n"
        "    runtime = Runtime(client.registry, 'bc', 'dev')\n"
        "    runtime.refresh()\n"
        "    served = runtime.require_snapshot().get(1)\n"
        "    rows = np.asarray(json.loads(sys.stdin.read()))\n"
        "    print(json.dumps([served.takes_matrix, served.model.predict(rows).tolist()]))\n"
    )
    rows = X.to_numpy()[:20]
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(rows.tolist()),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    takes_matrix, predictions = json.loads(done.stdout)
    assert takes_matrix is True
    assert predictions == estimator.predict(X.iloc[:20]).tolist()
