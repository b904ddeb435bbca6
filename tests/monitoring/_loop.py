"""A monitored project with v1 live in production, and a way to feed its prediction log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

from mlrelease.client import Client
from mlrelease.store import tables

MODEL = "breast-cancer"
SHIFTED = ["mean radius", "mean texture", "mean perimeter", "mean area", "worst radius"]

PROJECT = """
model: breast-cancer
task: classification
data: {{source: "sklearn:load_breast_cancer", target: target}}
train:
  estimator: sklearn.ensemble.RandomForestClassifier
  params: {{n_estimators: 30, random_state: 0}}
metrics: [accuracy, macro_f1]
gates:
  - accuracy >= 0.8
  - accuracy >= champion.accuracy - 0.02
environments:
  dev: {{}}
  staging: {{after: dev}}
  production: {{after: staging, approvals: 1}}
monitoring:
  interval: 0s
  window: 300
  min_rows: 100
  drift: {{method: psi, share: 0.15}}
  accuracy: {{min: 0.8, window: 300, min_labels: 50}}
retrain:
  on: [drift, accuracy]
{extra}
"""


def make_project(folder: Path, extra: str = "") -> Path:
    (folder / "mlrelease.yaml").write_text(PROJECT.format(extra=extra))
    return folder / "mlrelease.yaml"


def go_live(client: Client) -> None:
    """Train v1 and take it through staging to production, as a team would."""
    result = client.run()
    assert result.version is not None and result.version.version == 1
    client.promote(MODEL, 1, "staging")
    request = client.promote(MODEL, 1, "production")
    client.approve(request.id, actor="lead")


def breast_cancer(*, drifted: bool, flip_labels: bool, rows: int, seed: int = 0) -> pd.DataFrame:
    """Rows like the training data; drifted ones have several features shifted far."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    picked = np.random.default_rng(seed).choice(len(X), size=rows, replace=True)
    frame = X.iloc[picked].reset_index(drop=True)
    if drifted:
        for column in SHIFTED:
            frame[column] = frame[column] + 3 * X[column].std()
    labels = y.iloc[picked].to_numpy()
    frame["target"] = 1 - labels if flip_labels else labels
    return frame


def log_served(client: Client, frame: pd.DataFrame, *, version: int = 1) -> None:
    """Serve ``frame`` through the live version and log it as the server would, with labels."""
    info = client.registry.version(MODEL, version)
    model = client.registry.load_model(info)
    features = frame[info.feature_names]
    predicted = model.predict(features)
    now = datetime.now(UTC)
    predictions: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    for index, row in enumerate(features.to_numpy().tolist()):
        request_id = uuid.uuid4().hex
        predictions.append(
            {
                "request_id": request_id,
                "row": 0,
                "timestamp": now,
                "model": MODEL,
                "environment": "production",
                "version": version,
                "role": "stable",
                "status": 200,
                "latency_ms": 3.0,
                "inputs": {"features": row},
                "outputs": {"prediction": int(predicted[index])},
            }
        )
        feedback.append(
            {
                "request_id": request_id,
                "row": 0,
                "label": {"value": int(frame["target"].iloc[index])},
                "timestamp": now,
                "actor": "labeller",
            }
        )
    with client.store.write() as connection:
        connection.execute(tables.predictions.insert(), predictions)
        connection.execute(tables.feedback.insert(), feedback)
