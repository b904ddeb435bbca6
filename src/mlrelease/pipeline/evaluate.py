"""Scoring a model on an evaluation set, keeping that set, and judging it by the gates.

A version's evaluation set (the test split it was judged on) is stored as a
Parquet artifact, so its gates can be re-checked later -- against whatever
champion is live then -- without the original data source.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlrelease.artifacts import ArtifactStore, StoredArtifact
from mlrelease.errors import DataError
from mlrelease.evaluation import Scored, Task, compute_metrics
from mlrelease.gates import (
    Champion,
    Gate,
    GateResult,
    evaluate_gates,
    gates_need_champion,
    metrics_used,
)
from mlrelease.registry.flavors import LoadedModel
from mlrelease.registry.service import Registry

__all__ = [
    "EvaluationSet",
    "judge",
    "load_evaluation_set",
    "score_model",
    "store_evaluation_set",
]

_TARGET_COLUMN = "__target__"


@dataclass(frozen=True)
class EvaluationSet:
    X: pd.DataFrame
    y: pd.Series


def score_model(model: LoadedModel, data: EvaluationSet, task: Task) -> Scored:
    y_pred = np.asarray(model.predict(data.X))
    proba = model.predict_proba(data.X) if task == "classification" else None
    classes = np.asarray(model.classes) if model.classes is not None else None
    return Scored(y_true=data.y.to_numpy(), y_pred=y_pred, proba=proba, classes=classes)


def store_evaluation_set(artifacts: ArtifactStore, data: EvaluationSet) -> StoredArtifact:
    frame = data.X.copy()
    frame[_TARGET_COLUMN] = data.y.to_numpy()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return artifacts.put_bytes(buffer.getvalue(), "evaluation.parquet")


def load_evaluation_set(artifacts: ArtifactStore, uri: str, sha256: str) -> EvaluationSet:
    frame = pd.read_parquet(io.BytesIO(artifacts.read_bytes(uri, sha256)))
    if _TARGET_COLUMN not in frame.columns:
        raise DataError(
            f"evaluation set {uri} has no target column; it was not written by mlrelease"
        )
    return EvaluationSet(X=frame.drop(columns=[_TARGET_COLUMN]), y=frame[_TARGET_COLUMN])


def judge(
    gates: Sequence[Gate],
    *,
    task: Task,
    model_name: str,
    candidate: Scored,
    data: EvaluationSet,
    registry: Registry,
) -> list[GateResult]:
    """Evaluate ``gates``; each champion is scored afresh on the candidate's own rows."""
    champions: dict[str, Champion | None] = {}
    for env in sorted(gates_need_champion(gates)):
        number = registry.alias_version(model_name, env)
        if number is None:
            champions[env] = None
            continue
        version = registry.version(model_name, number)
        try:
            scored = score_model(registry.load_model(version), data, task)
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(
                f"the {env} champion ({model_name} v{number}) cannot score this evaluation data: "
                f"{exc}; its signature differs from the candidate's"
            ) from exc
        champions[env] = Champion(version=number, scored=scored)
    metrics = compute_metrics(sorted(metrics_used(gates)), task, candidate)
    return evaluate_gates(
        gates, task, candidate=candidate, candidate_metrics=metrics, champions=champions
    )
