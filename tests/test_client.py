"""The Python API beyond the pipeline: plain-function models, references, metrics-only gates."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlrelease import Client, ModelRef
from mlrelease.errors import ConfigError, GateFailed


@pytest.fixture
def rule_module(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (isolated_env / "rules.py").write_text(
        "import numpy as np\ndef predict(frame):\n    return np.where(frame['x'] > 0, 1, 0)\n"
    )
    monkeypatch.syspath_prepend(str(isolated_env))
    yield "rules:predict"
    sys.modules.pop("rules", None)


def _data(n: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    x = np.random.default_rng(1).normal(size=n)
    return pd.DataFrame({"x": x}), pd.Series((x > 0).astype(int), name="y")


def test_a_plain_function_is_registered_gated_and_loaded_by_reference(
    isolated_env: Path, rule_module: str
) -> None:
    X, y = _data()
    with Client.open(base_dir=isolated_env, env={}) as client:
        version = client.register_model(
            "rule",
            rule_module,
            task="classification",
            sample_input=X[:3],
            eval_data=(X, y),
            gates=["accuracy >= 0.99"],
            alias="dev",
        )
        assert version.flavor == "function" and version.metrics["accuracy"] == 1.0
        model = client.load_model(ModelRef("rule", env="dev"))
        assert model.predict(pd.DataFrame({"x": [-1.0, 2.0]})).tolist() == [0, 1]


def test_without_evaluation_data_only_the_given_metrics_are_gated(
    isolated_env: Path, rule_module: str
) -> None:
    X, _ = _data()
    with Client.open(base_dir=isolated_env, env={}) as client:
        with pytest.raises(GateFailed):
            client.register_model(
                "rule",
                rule_module,
                task="classification",
                sample_input=X,
                metrics={"accuracy": 0.4},
                gates=["accuracy >= 0.5"],
            )
        version = client.register_model(
            "rule",
            rule_module,
            task="classification",
            sample_input=X,
            metrics={"accuracy": 0.9},
            gates=["accuracy >= 0.5", "accuracy >= champion.accuracy"],
            alias="production",
        )
        assert version.version == 1
        # Now a champion is live: comparing with it needs evaluation data.
        with pytest.raises(ConfigError, match="eval_data"):
            client.register_model(
                "rule",
                rule_module,
                task="classification",
                sample_input=X,
                metrics={"accuracy": 0.95},
                gates=["accuracy >= champion.accuracy"],
            )
        with pytest.raises(ConfigError, match="without an evaluation set"):
            client.check_gates("rule", 1)


def test_client_methods_that_need_a_project_say_so(isolated_env: Path) -> None:
    with (
        Client.open(base_dir=isolated_env, env={}) as client,
        pytest.raises(ConfigError, match="from_project"),
    ):
        client.run()
