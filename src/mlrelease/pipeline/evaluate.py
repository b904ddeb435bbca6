"""Scoring a model on an evaluation set, keeping that set, and judging it by the gates.

A version's evaluation set (the test split it was judged on) is stored as a
Parquet artifact, so its gates can be re-checked later -- against whatever
champion is live then -- without the original data source.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlrelease.artifacts import ArtifactStore
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
    # A classifier without predict_proba (SVC, say) still has classes; Scored pairs them
    # with probabilities only, and its probability metrics are then undefined (nan).
    classes = np.asarray(model.classes) if model.classes is not None and proba is not None else None
    return Scored(y_true=data.y.to_numpy(), y_pred=y_pred, proba=proba, classes=classes)


def store_evaluation_set(artifacts: ArtifactStore, data: EvaluationSet) -> dict[str, Any]:
    """Keep ``data`` as a CSV artifact; returns the reference a version records.

    CSV rather than Parquet keeps pyarrow out of the core install; the column dtypes
    travel in the reference, and floats are written in their shortest exact form,
    so the set reads back exactly as it was scored.
    """
    frame = data.X.copy()
    frame[_TARGET_COLUMN] = data.y.to_numpy()
    text = frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    stored = artifacts.put_bytes(text.encode(), "evaluation.csv")
    return {
        "uri": stored.uri,
        "sha256": stored.sha256,
        "rows": len(frame),
        "dtypes": {str(name): str(dtype) for name, dtype in frame.dtypes.items()},
    }


def load_evaluation_set(artifacts: ArtifactStore, reference: Mapping[str, Any]) -> EvaluationSet:
    """Read back an evaluation set from the reference ``store_evaluation_set`` returned."""
    dtypes: dict[str, str] = dict(reference["dtypes"])
    if _TARGET_COLUMN not in dtypes:
        raise DataError(f"evaluation set {reference['uri']} was not written by mlrelease")
    dates = [name for name, dtype in dtypes.items() if dtype.startswith("datetime")]
    frame = pd.read_csv(
        io.BytesIO(artifacts.read_bytes(reference["uri"], reference["sha256"])),
        dtype={name: "str" if name in dates else dtype for name, dtype in dtypes.items()},
        keep_default_na=False,  # a category called "NA" is a value, not a gap
        na_values=[""],
    )
    for name in dates:
        parsed = pd.to_datetime(frame[name], format="ISO8601")
        frame[name] = parsed.astype(pd.api.types.pandas_dtype(dtypes[name]))
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
