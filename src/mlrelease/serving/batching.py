"""Micro-batching: concurrent requests for one version share one model call.

A request waits at most ``max_wait`` seconds for others to join it, and a batch
holds at most ``max_rows`` rows; a request that alone fills a batch goes straight
to the model. scikit-learn spends most of a one-row ``predict`` validating its
input, so one call for 30 rows costs about what one call for one row does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np

from mlrelease.errors import ModelFailed, RequestError
from mlrelease.serving.runtime import ServedVersion
from mlrelease.serving.validation import Batch

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MicroBatcher", "ModelInput", "Prediction", "model_input", "predict_now"]

ModelInput: TypeAlias = "pd.DataFrame | np.ndarray[Any, Any]"


@dataclass(frozen=True, slots=True)
class Prediction:
    labels: np.ndarray[Any, Any]
    proba: np.ndarray[Any, Any] | None


def predict_now(served: ServedVersion, rows: ModelInput) -> Prediction:
    """Call the model on ``rows``; a model that raises on a valid request is a 500."""
    try:
        # Huge but finite inputs overflow inside the model: that is the input's answer
        # (inf or nan in the output), not a reason to fail.
        with np.errstate(all="ignore"):
            labels, proba = _call_model(served, rows)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFailed(
            f"the model raised on this input, which matches its signature: {exc}"
        ) from None
    labels = np.asarray(labels)
    if len(labels) != len(rows):
        raise RequestError(f"the model returned {len(labels)} predictions for {len(rows)} rows")
    return Prediction(labels=labels, proba=None if proba is None else np.asarray(proba))


def model_input(served: ServedVersion, batch: Batch) -> ModelInput:
    """What the model is called with: the matrix itself where the version takes one."""
    if not served.takes_matrix:
        return batch.frame
    matrix = batch.matrix
    # A numeric schema's frame (records, OIP tensors by name) is float64 in signature order.
    return matrix if matrix is not None else batch.frame.to_numpy(dtype=np.float64)


def _call_model(served: ServedVersion, rows: ModelInput) -> tuple[Any, Any]:
    X = cast("pd.DataFrame", rows)  # a matrix only where the model said it takes one
    if served.task == "classification":
        return served.model.predict_with_proba(X)
    return served.model.predict(X), None


@dataclass
class _Pending:
    batches: list[Batch] = field(default_factory=list)
    futures: list[asyncio.Future[Prediction]] = field(default_factory=list)
    rows: int = 0


class MicroBatcher:
    """Collects requests for one version and answers them with one model call."""

    def __init__(
        self,
        served: ServedVersion,
        *,
        max_rows: int = 64,
        max_wait: float = 0.002,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.served = served
        self.max_rows = max_rows
        self.max_wait = max_wait
        self._on_batch = on_batch or (lambda rows: None)
        self._pending = _Pending()
        self._timer: asyncio.TimerHandle | None = None

    async def predict(self, batch: Batch) -> Prediction:
        if batch.rows >= self.max_rows or self.max_wait <= 0:
            self._on_batch(batch.rows)
            return predict_now(self.served, model_input(self.served, batch))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        pending = self._pending
        pending.batches.append(batch)
        pending.futures.append(future)
        pending.rows += batch.rows
        if pending.rows >= self.max_rows:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, _Pending()
        if not pending.futures:
            return
        self._on_batch(pending.rows)
        try:
            result = predict_now(self.served, _stack(pending.batches, self.served))
        except Exception as exc:
            _answer_each_alone(self.served, pending, exc)
            return
        start = 0
        for batch, future in zip(pending.batches, pending.futures, strict=True):
            stop = start + batch.rows
            proba = None if result.proba is None else result.proba[start:stop]
            if not future.done():
                future.set_result(Prediction(result.labels[start:stop], proba))
            start = stop


def _stack(batches: list[Batch], served: ServedVersion) -> ModelInput:
    """One input for the model call: numeric rows are stacked as arrays (far cheaper
    than building a frame per request and concatenating)."""
    if len(batches) == 1:
        return model_input(served, batches[0])
    if served.takes_matrix:
        return np.vstack([cast(np.ndarray[Any, Any], model_input(served, b)) for b in batches])
    import pandas as pd  # imported already: the runtime loads it for models that take frames

    matrices = [batch.matrix for batch in batches]
    if all(matrix is not None for matrix in matrices):
        values = np.vstack(cast(list[np.ndarray[Any, Any]], matrices))
        return pd.DataFrame(values, columns=served.schema.columns, copy=False)
    return pd.concat([batch.frame for batch in batches], ignore_index=True)


def _answer_each_alone(served: ServedVersion, pending: _Pending, error: Exception) -> None:
    """One bad request must not fail its batch-mates: retry each on its own."""
    if len(pending.batches) == 1:
        pending.futures[0].set_exception(error)
        return
    for batch, future in zip(pending.batches, pending.futures, strict=True):
        try:
            future.set_result(predict_now(served, model_input(served, batch)))
        except Exception as exc:
            future.set_exception(exc)
