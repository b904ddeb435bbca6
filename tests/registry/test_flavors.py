"""Saving and loading models with each flavor, and refusing what must not load."""

from __future__ import annotations

import importlib
import json
import pickle
import sys
import textwrap
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlrelease.errors import ArtifactError, ConfigError, UntrustedArtifactError
from mlrelease.registry.flavors import FUNCTION, SKLEARN, flavor_for, get_flavor
from mlrelease.registry.flavors.sklearn import SklearnModel

TREE_TYPE = "sklearn.tree._tree.Tree"


@pytest.fixture
def frame() -> pd.DataFrame:
    generator = np.random.default_rng(7)
    return pd.DataFrame(
        {"age": generator.normal(40, 10, 200), "income": generator.normal(50, 15, 200)}
    )


@pytest.fixture
def labels(frame: pd.DataFrame) -> pd.Series:
    return (frame["age"] + frame["income"] > 90).map({True: "churn", False: "stay"})


class ThresholdClassifier(ClassifierMixin, BaseEstimator):
    """A model class skops has never heard of, so its files hold an untrusted type."""

    def __init__(self, threshold: float = 90.0) -> None:
        self.threshold = threshold

    def fit(self, X: pd.DataFrame, y: pd.Series) -> ThresholdClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.where(X.sum(axis=1) > self.threshold, self.classes_[0], self.classes_[1])


THRESHOLD_TYPE = f"{ThresholdClassifier.__module__}.{ThresholdClassifier.__qualname__}"


class UnpickleTripwire:
    """Unpickling this creates ``marker``, so a test can prove nothing was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (self.marker,))


def _round_trip(model: Any, tmp_path: Path, trusted_types: tuple[str, ...] = ()) -> Any:
    flavor = flavor_for(model)
    path = tmp_path / flavor.filename
    flavor.save(model, path)
    return get_flavor(flavor.name).load(path, trusted_types=trusted_types)


# --- choosing a flavor ------------------------------------------------------------


def test_estimators_pipelines_and_best_estimators_get_the_sklearn_flavor(
    frame: pd.DataFrame, labels: pd.Series
) -> None:
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(frame, labels)

    for model in (
        LogisticRegression(),
        Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]),
        search.best_estimator_,
    ):
        assert flavor_for(model) is SKLEARN


def test_functions_entrypoints_and_function_mappings_get_the_function_flavor() -> None:
    for model in (np.sum, "numpy:sum", {"predict": "numpy:sum"}):
        assert flavor_for(model) is FUNCTION


@pytest.mark.parametrize(
    "model", [42, None, ["numpy:sum"], "not an entrypoint", "numpy:", LogisticRegression]
)
def test_unsupported_models_are_config_errors_listing_what_is_supported(model: Any) -> None:
    with pytest.raises(ConfigError, match="scikit-learn estimator"):
        flavor_for(model)


def test_flavors_are_found_by_their_recorded_name() -> None:
    assert get_flavor("sklearn") is SKLEARN
    assert get_flavor("function") is FUNCTION
    assert (SKLEARN.filename, FUNCTION.filename) == ("model.skops", "model.json")


def test_an_unknown_flavor_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known flavors: function, sklearn"):
        get_flavor("pytorch")


# --- sklearn ----------------------------------------------------------------------


def test_a_logistic_regression_round_trips_with_identical_predictions(
    frame: pd.DataFrame, labels: pd.Series, tmp_path: Path
) -> None:
    model = LogisticRegression().fit(frame, labels)

    loaded = _round_trip(model, tmp_path)

    assert loaded.flavor == "sklearn"
    assert loaded.classes == ["churn", "stay"]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_a_pipeline_round_trips_with_identical_predictions(
    frame: pd.DataFrame, labels: pd.Series, tmp_path: Path
) -> None:
    model = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    model.fit(frame, labels)

    loaded = _round_trip(model, tmp_path)

    assert loaded.classes == ["churn", "stay"]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_a_random_forest_round_trips_once_its_tree_type_is_trusted(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(frame, frame["age"] * 2)

    loaded = _round_trip(model, tmp_path, trusted_types=(TREE_TYPE,))

    assert loaded.classes is None
    assert loaded.predict_proba(frame) is None
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_a_random_forest_is_refused_while_its_tree_type_is_not_trusted(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    model = RandomForestRegressor(n_estimators=2, random_state=0).fit(frame, frame["age"])

    with pytest.raises(UntrustedArtifactError, match=TREE_TYPE) as refused:
        _round_trip(model, tmp_path)

    assert refused.value.details["types"] == [TREE_TYPE]


def test_a_custom_class_is_refused_naming_it_and_how_to_trust_it(
    frame: pd.DataFrame, labels: pd.Series, tmp_path: Path
) -> None:
    path = tmp_path / "model.skops"
    SKLEARN.save(ThresholdClassifier().fit(frame, labels), path)

    with pytest.raises(UntrustedArtifactError) as refused:
        SKLEARN.load(path, trusted_types=(TREE_TYPE, THRESHOLD_TYPE[:-1]))

    message = refused.value.message
    assert THRESHOLD_TYPE in message
    assert "trusted_types" in message
    assert "registry:" in message


@pytest.mark.parametrize(
    "trusted", [THRESHOLD_TYPE, ThresholdClassifier.__module__ + "."], ids=["exact", "prefix"]
)
def test_a_custom_class_loads_once_trusted_by_name_or_module_prefix(
    frame: pd.DataFrame, labels: pd.Series, tmp_path: Path, trusted: str
) -> None:
    model = ThresholdClassifier().fit(frame, labels)
    path = tmp_path / "model.skops"
    SKLEARN.save(model, path)

    loaded = SKLEARN.load(path, trusted_types=(trusted,))

    assert loaded.classes == ["churn", "stay"]
    assert loaded.predict_proba(frame) is None
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_a_pickle_named_model_skops_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps(UnpickleTripwire(marker)))

    with pytest.raises(ArtifactError, match="not a skops file") as refused:
        SKLEARN.load(path, trusted_types=("builtins.", "pathlib."))

    assert str(path) in refused.value.message
    assert not marker.exists()


def test_a_zip_without_a_skops_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")

    with pytest.raises(ArtifactError, match="not a skops file"):
        SKLEARN.load(path)


# --- function ---------------------------------------------------------------------


HELPER_SOURCE = textwrap.dedent(
    """
    import numpy as np

    def predict(X):
        return list(np.where(X["age"] > 40, "churn", "stay"))

    def predict_proba(X):
        churn = (X["age"] > 40).to_numpy(dtype=float)
        return np.column_stack([churn, 1 - churn])

    def make_nested():
        def nested(X):
            return X
        return nested

    NOT_CALLABLE = 42
    """
)


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """An importable module of model functions, gone from sys.modules afterwards."""
    name = f"fnmodel_helpers_{uuid.uuid4().hex[:8]}"
    package_dir = tmp_path / "importable"
    package_dir.mkdir()
    (package_dir / f"{name}.py").write_text(HELPER_SOURCE)
    monkeypatch.syspath_prepend(package_dir)
    try:
        yield importlib.import_module(name)
    finally:
        sys.modules.pop(name, None)


def test_a_function_round_trips_by_reference(
    helpers: ModuleType, frame: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / FUNCTION.filename
    FUNCTION.save(helpers.predict, path)

    loaded = FUNCTION.load(path)

    assert json.loads(path.read_text()) == {"entrypoint": f"{helpers.__name__}:predict"}
    assert loaded.flavor == "function"
    assert loaded.classes is None
    assert loaded.predict_proba(frame) is None
    predictions = loaded.predict(frame)
    assert isinstance(predictions, np.ndarray)
    np.testing.assert_array_equal(predictions, helpers.predict(frame))


def test_predict_and_predict_proba_can_be_given_as_a_mapping_of_entrypoints(
    helpers: ModuleType, frame: pd.DataFrame, tmp_path: Path
) -> None:
    model = {"predict": f"{helpers.__name__}:predict", "predict_proba": helpers.predict_proba}

    loaded = _round_trip(model, tmp_path)

    np.testing.assert_array_equal(loaded.predict_proba(frame), helpers.predict_proba(frame))
    np.testing.assert_array_equal(loaded.predict(frame), helpers.predict(frame))


def _function_defined_in_a_script() -> Any:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("def predict(X):\n    return X\n", namespace)
    return namespace["predict"]


@pytest.mark.parametrize(
    "make_model",
    [
        pytest.param(lambda helpers: lambda X: X, id="lambda"),
        pytest.param(lambda helpers: helpers.make_nested(), id="nested"),
        pytest.param(lambda helpers: _function_defined_in_a_script(), id="__main__"),
        pytest.param(lambda helpers: pd.DataFrame().to_numpy, id="bound-method"),
        pytest.param(lambda helpers: {"predict": lambda X: X}, id="lambda-in-mapping"),
    ],
)
def test_functions_without_an_import_path_are_refused(
    helpers: ModuleType, tmp_path: Path, make_model: Any
) -> None:
    path = tmp_path / FUNCTION.filename

    with pytest.raises(ConfigError, match="importable module"):
        FUNCTION.save(make_model(helpers), path)

    assert not path.exists()


@pytest.mark.parametrize(
    "model",
    [
        "no_such_module_anywhere:predict",
        "{helpers}:missing",
        "{helpers}:NOT_CALLABLE",
        "os.path; import os:x",
        {"predict": "{helpers}:predict", "predict_probability": "{helpers}:predict"},
        {"predict_proba": "{helpers}:predict_proba"},
    ],
)
def test_unusable_function_references_are_refused_when_saving(
    helpers: ModuleType, tmp_path: Path, model: Any
) -> None:
    def fill(text: str) -> str:
        return text.format(helpers=helpers.__name__)

    model = fill(model) if isinstance(model, str) else {k: fill(v) for k, v in model.items()}

    with pytest.raises(ConfigError):
        FUNCTION.save(model, tmp_path / FUNCTION.filename)


def test_loading_an_entrypoint_whose_module_is_not_importable_names_it(tmp_path: Path) -> None:
    path = tmp_path / FUNCTION.filename
    path.write_text(json.dumps({"entrypoint": "vanished_team_module.scoring:predict"}))

    with pytest.raises(ArtifactError, match="PYTHONPATH") as refused:
        FUNCTION.load(path)

    assert "vanished_team_module.scoring:predict" in refused.value.message


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps(["numpy:sum"]),
        json.dumps({}),
        json.dumps({"entrypoint": 3}),
        json.dumps({"entrypoint": "numpy:sum", "pickle": "gAR..."}),
        json.dumps({"entrypoint": "os; import shutil:rmtree"}),
        json.dumps({"entrypoint": "../evil:predict"}),
        json.dumps({"entrypoint": "numpy:sum", "predict_proba": "numpy.sum"}),
    ],
)
def test_malformed_function_model_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / FUNCTION.filename
    path.write_text(content)

    with pytest.raises(ArtifactError, match=str(path)):
        FUNCTION.load(path)


@pytest.mark.parametrize(
    "estimator",
    [
        "sklearn.linear_model.LogisticRegression",
        "sklearn.tree.DecisionTreeClassifier",
        "sklearn.ensemble.RandomForestClassifier",
        "sklearn.ensemble.ExtraTreesClassifier",
        "sklearn.ensemble.HistGradientBoostingClassifier",
        "sklearn.naive_bayes.GaussianNB",  # not in the argmax list: two calls
    ],
)
def test_predict_with_proba_gives_exactly_what_predict_gives(estimator: str) -> None:
    import importlib

    from sklearn.datasets import load_iris

    from mlrelease.registry.flavors.sklearn import SklearnModel

    module, _, name = estimator.rpartition(".")
    X, y = load_iris(return_X_y=True, as_frame=True)
    kwargs = {"max_iter": 1000} if name == "LogisticRegression" else {}
    if "random_state" in importlib.import_module(module).__dict__[name]().get_params():
        kwargs["random_state"] = 0
    fitted = getattr(importlib.import_module(module), name)(**kwargs).fit(X, y)
    model = SklearnModel(fitted)
    labels, proba = model.predict_with_proba(X)
    assert (labels == fitted.predict(X)).all()
    assert proba is not None and (proba == fitted.predict_proba(X)).all()


# -- matrices instead of frames on the serving path --------------------------------------


def _breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.mark.parametrize("kind", ["plain", "pipeline"])
def test_a_numeric_model_takes_matrices_and_answers_as_before(kind: str) -> None:
    from sklearn.pipeline import make_pipeline

    X, y = _breast_cancer()
    estimator = LogisticRegression(solver="liblinear")
    if kind == "pipeline":
        estimator = make_pipeline(StandardScaler(), estimator)
    model = SklearnModel(estimator.fit(X, y))
    labels, proba = model.predict_with_proba(X)
    assert model.accept_matrices(list(X.columns))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        matrix_labels, matrix_proba = model.predict_with_proba(X.to_numpy())  # type: ignore[arg-type]
    assert np.array_equal(labels, matrix_labels)
    assert proba is not None and np.allclose(proba, matrix_proba, rtol=1e-12, atol=1e-15)


def test_a_model_that_selects_columns_by_name_keeps_its_frames() -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline

    X, y = _breast_cancer()
    columns = list(X.columns)
    selecting = make_column_transformer((StandardScaler(), columns[:5]), remainder="drop")
    model = SklearnModel(make_pipeline(selecting, LogisticRegression()).fit(X, y))
    assert not model.accept_matrices(columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict_with_proba(X)  # the frame path is intact: names still checked


def test_columns_in_another_order_are_refused() -> None:
    X, y = _breast_cancer()
    model = SklearnModel(LogisticRegression(solver="liblinear").fit(X, y))
    assert not model.accept_matrices(list(X.columns)[::-1])
    assert list(model.estimator.feature_names_in_) == list(X.columns)


def test_a_model_fitted_without_names_is_left_alone() -> None:
    X, y = _breast_cancer()
    model = SklearnModel(LogisticRegression(solver="liblinear").fit(X.to_numpy(), y))
    assert not model.accept_matrices(list(X.columns))


@pytest.mark.parametrize("dataset", ["breast_cancer", "iris", "diabetes"])
def test_plain_linear_models_answer_from_numpy_exactly_as_scikit_learn(dataset: str) -> None:
    from sklearn import datasets
    from sklearn.linear_model import Ridge

    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True, as_frame=True)
    estimator: Any = {
        "diabetes": Ridge(alpha=0.5),
        "iris": LogisticRegression(max_iter=2000),  # three classes: softmax
        "breast_cancer": LogisticRegression(solver="liblinear"),  # two: the logistic
    }[dataset]
    model = SklearnModel(estimator.fit(X, y))
    expected = model.predict_with_proba(X)
    assert model.accept_matrices(list(X.columns))
    assert model._linear is not None  # the numpy path is on
    labels, proba = model.predict_with_proba(X.to_numpy())  # type: ignore[arg-type]
    assert np.allclose(labels, expected[0], rtol=1e-9)
    if expected[1] is not None:
        assert proba is not None and np.allclose(proba, expected[1], rtol=1e-9, atol=1e-12)
    # Rows far from the training data too: the same as the estimator's own answer.
    rows = np.random.default_rng(1).normal(size=(50, X.shape[1])) * X.std().to_numpy() * 3
    own = estimator.predict_proba(rows) if expected[1] is not None else estimator.predict(rows)
    ours = model.predict_with_proba(rows)  # type: ignore[arg-type]
    assert np.allclose(ours[1] if expected[1] is not None else ours[0], own, rtol=1e-9, atol=1e-12)


def test_other_estimators_keep_scikit_learns_own_prediction() -> None:
    X, y = _breast_cancer()
    model = SklearnModel(RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y))
    assert model.accept_matrices(list(X.columns))
    assert model._linear is None
