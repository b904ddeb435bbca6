"""Feature schema: the kind of every feature column, and how two schemas differ.

A schema maps each feature name to one coarse *kind* ("float", "int", "bool",
"category", "string", "datetime"). Kinds are deliberately coarser than dtypes so
that harmless changes (int32 -> int64, object -> str) do not look like drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from pandas.api import types as ptypes

from mlrelease.data.kinds import KINDS
from mlrelease.errors import DataError

__all__ = ["KINDS", "SchemaDiff", "diff_schemas", "kind_of", "schema_of"]


def kind_of(column: pd.Series) -> str:
    """The schema kind of one column; DataError for dtypes no model can use as is."""
    dtype = column.dtype
    # Categorical first: pandas calls a categorical of booleans a bool dtype.
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if ptypes.is_bool_dtype(dtype):
        return "bool"
    if ptypes.is_integer_dtype(dtype):
        return "int"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype):
        return "string"
    raise DataError(
        f"column {column.name!r} has dtype {dtype}, which mlrelease does not support; "
        f"convert it to one of: {', '.join(KINDS)}"
    )


def schema_of(df: pd.DataFrame, target: str) -> dict[str, str]:
    """Feature name -> kind for every column except ``target``, in column order."""
    return {str(name): kind_of(df[name]) for name in df.columns if name != target}


@dataclass(frozen=True)
class SchemaDiff:
    """What changed from a previous schema to the current one."""

    added: dict[str, str]
    removed: dict[str, str]
    changed: dict[str, tuple[str, str]]  # name -> (previous kind, current kind)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def describe(self) -> str:
        """One human line, e.g. "added: 'b' (float); kind changed: 'a' int -> float"."""
        parts = []
        if self.added:
            parts.append("added: " + ", ".join(f"{n!r} ({k})" for n, k in self.added.items()))
        if self.removed:
            parts.append("removed: " + ", ".join(f"{n!r} ({k})" for n, k in self.removed.items()))
        if self.changed:
            changes = (f"{n!r} {old} -> {new}" for n, (old, new) in self.changed.items())
            parts.append("kind changed: " + ", ".join(changes))
        return "; ".join(parts) if parts else "no differences"


def diff_schemas(previous: Mapping[str, str], current: Mapping[str, str]) -> SchemaDiff:
    """Columns added, removed and changed in kind, each in the order of its own schema."""
    return SchemaDiff(
        added={name: kind for name, kind in current.items() if name not in previous},
        removed={name: kind for name, kind in previous.items() if name not in current},
        changed={
            name: (previous[name], kind)
            for name, kind in current.items()
            if name in previous and previous[name] != kind
        },
    )
