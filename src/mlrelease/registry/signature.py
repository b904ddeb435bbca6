"""A version's signature: the input columns (name and kind) it takes, and its outputs.

Every request a served model gets is validated against this, once; the kinds
are the data schema's coarse ones ("float", "int", "string", ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlrelease.data.schema import kind_of

__all__ = ["signature_of"]


def signature_of(
    X: pd.DataFrame, *, task: str, classes: Sequence[Any] | np.ndarray | None = None
) -> dict[str, Any]:
    inputs = [{"name": str(name), "kind": kind_of(X[name])} for name in X.columns]
    labels = None if classes is None else [_plain(label) for label in classes]
    return {"inputs": inputs, "task": task, "classes": labels}


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so the signature is JSON."""
    return value.item() if isinstance(value, np.generic) else value
