"""Reading the prediction log for monitoring: a window of served rows, and labelled rows.

Monitoring costs the serving path nothing: it reads what the log already stored.
Each read is one indexed query for the newest rows of one version in one
environment, served as ``stable`` with status 200 (a canary's or shadow's rows
belong to a release's analysis, not to the monitor of what is live).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, select

from mlrelease.store import Store, tables

__all__ = ["LabelledWindow", "Window", "inputs_frame", "read_labelled", "read_window"]

_P = tables.predictions.c
_F = tables.feedback.c


@dataclass(frozen=True)
class Window:
    """The newest served rows, oldest first."""

    inputs: pd.DataFrame
    predictions: list[Any]  # what the model answered per row (a label or a number)
    start: datetime | None
    end: datetime | None

    @property
    def rows(self) -> int:
        return len(self.inputs)


@dataclass(frozen=True)
class LabelledWindow:
    """The newest served rows that got a ground-truth label, oldest first."""

    truth: list[Any]
    predicted: list[Any]


def _served(model: str, environment: str, version: int) -> list[Any]:
    return [
        _P.model == model,
        _P.environment == environment,
        _P.version == version,
        _P.role == "stable",
        _P.status == 200,
    ]


def read_window(
    store: Store, model: str, environment: str, version: int, *, rows: int, features: list[str]
) -> Window:
    """The newest ``rows`` rows the version served in the environment."""
    query = (
        select(_P.timestamp, _P.inputs, _P.outputs)
        .where(*_served(model, environment, version))
        .order_by(_P.id.desc())
        .limit(rows)
    )
    with store.read() as connection:
        found = list(reversed(connection.execute(query).all()))
    return Window(
        inputs=inputs_frame([row.inputs for row in found], features),
        predictions=[_field(row.outputs, "prediction") for row in found],
        start=found[0].timestamp if found else None,
        end=found[-1].timestamp if found else None,
    )


def read_labelled(
    store: Store, model: str, environment: str, version: int, *, rows: int
) -> LabelledWindow:
    """The newest ``rows`` served rows of the version that have a label."""
    joined = tables.predictions.join(
        tables.feedback, and_(_F.request_id == _P.request_id, _F.row == _P.row)
    )
    query = (
        select(_P.outputs, _F.label)
        .select_from(joined)
        .where(*_served(model, environment, version))
        .order_by(_P.id.desc())
        .limit(rows)
    )
    with store.read() as connection:
        found = list(reversed(connection.execute(query).all()))
    return LabelledWindow(
        truth=[_field(row.label, "value") for row in found],
        predicted=[_field(row.outputs, "prediction") for row in found],
    )


def inputs_frame(logged: Sequence[dict[str, Any]], features: list[str]) -> pd.DataFrame:
    """Logged inputs as a frame with the signature's columns.

    The log keeps a numeric row as ``{"features": [...]}`` in signature order (cheap
    to write) and any other row as a record; both come back here as named columns.
    """
    if not logged:
        return pd.DataFrame(columns=features)
    if all("features" in row and len(row) == 1 for row in logged):
        try:
            matrix = np.array([row["features"] for row in logged], dtype=np.float64)
        except (TypeError, ValueError):  # ragged, or not all numbers: go by records
            matrix = None
        if matrix is not None and matrix.ndim == 2 and matrix.shape[1] == len(features):
            return pd.DataFrame(matrix, columns=features)
    records = [
        dict(zip(features, row["features"], strict=False))
        if "features" in row and len(row) == 1
        else row
        for row in logged
    ]
    return pd.DataFrame.from_records(records, columns=features)


def _field(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None
