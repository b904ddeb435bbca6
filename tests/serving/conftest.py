"""A registry with two breast-cancer versions, and servers over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from mlrelease.client import Client
from mlrelease.serving.app import ServeOptions, create_app
from mlrelease.serving.predlog import PredictionLog
from mlrelease.serving.runtime import Runtime

MODEL = "breast-cancer"


@dataclass
class Served:
    client: Client
    X: pd.DataFrame
    y: pd.Series

    def register(self, C: float, alias: str | None = None) -> int:
        fitted = LogisticRegression(C=C, solver="liblinear").fit(self.X, self.y)
        version = self.client.register_model(
            MODEL,
            fitted,
            task="classification",
            sample_input=self.X[:5],
            alias=alias,
            eval_data=(self.X[400:], self.y[400:]),
            gates=[],
        )
        return version.version


@pytest.fixture
def served(isolated_env: Path) -> Iterator[Served]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with Client.open(base_dir=isolated_env, env={}) as client:
        setup = Served(client, X, y)
        setup.register(1.0, alias="production")
        setup.register(0.001)
        yield setup


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_app(served: Served) -> Iterator[AppFactory]:
    """Start an app in-process (lifespan included); closed at the end of the test."""
    opened: list[TestClient] = []

    def factory(
        env: str = "production", *, options: ServeOptions | None = None, log: bool = True
    ) -> TestClient:
        runtime = Runtime(served.client.registry, MODEL, env, poll_interval=3600)
        predlog = PredictionLog(served.client.store, flush_interval=0.05) if log else None
        test_client = TestClient(create_app(runtime, options, predlog=predlog))
        test_client.__enter__()
        test_client.runtime = runtime  # type: ignore[attr-defined]
        test_client.predlog = predlog  # type: ignore[attr-defined]
        opened.append(test_client)
        return test_client

    yield factory
    for test_client in opened:
        test_client.__exit__(None, None, None)
