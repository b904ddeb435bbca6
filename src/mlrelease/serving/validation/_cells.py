"""Cells, columns and rows to a DataFrame, shared by both request shapes.

The vectorised fast checks, the cell-by-cell walk that names the first bad
cell (``_cell`` holds the coercion rules), the frame builders, and the row-count
limit. ``Where`` is how a caller says where a cell sits in its request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from mlrelease.errors import PayloadTooLarge, RequestError
from mlrelease.serving.validation._json import _describe, _null_hint
from mlrelease.serving.validation._schema import NUMERIC_KINDS, TEXT_KINDS, InputSchema

if TYPE_CHECKING:
    import pandas as pd

_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1
_NUMBER: Final = frozenset({int, float})
_NUMBER_OR_BOOL: Final = frozenset({int, float, bool})
_EXPECTED: Final = {
    "float": "a number",
    "int": "a whole number",
    "bool": "true/false or 0/1",
    "string": "a string",
    "category": "a string (category label)",
    "datetime": "an ISO 8601 date-time string",
}


# (row, column index) -> (where, for the message; details naming field/row/column)
Where = Callable[[int, int], tuple[str, dict[str, Any]]]


def _check_row_count(n: int, field: str, max_rows: int, label: str | None = None) -> None:
    if n == 0:
        raise RequestError(
            f"{label or field}: empty batch; send at least one row",
            details={"field": field, "rows": 0},
        )
    if n > max_rows:
        raise PayloadTooLarge(
            f"{label or field}: {n} rows, over the limit of {max_rows} rows per request; "
            "split the batch into smaller requests",
            details={"field": field, "rows": n, "max_rows": max_rows},
        )


class _Bad(Exception):
    """One cell is wrong; the caller adds where."""

    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected


def _refuse(where: Where, i: int, j: int, bad: _Bad) -> RequestError:
    text, details = where(i, j)
    return RequestError(f"{text}: {bad.message}", details={**details, "expected": bad.expected})


def _frame_from_rows(
    rows: Sequence[Sequence[Any]],
    schema: InputSchema,
    where: Where,
    *,
    types: set[type] | None = None,
    flat: list[Any] | None = None,
) -> pd.DataFrame:
    """Rows already checked to be sequences of len(schema.names) values.

    ``types`` (every value's type) and ``flat`` (the values row after row) save a
    pass when the caller has them already.
    """
    import pandas as pd

    data = _data_from_rows(rows, schema, where, types=types, flat=flat)
    if isinstance(data, pd.DataFrame):
        return data
    return pd.DataFrame(data, columns=schema.columns, copy=False)


def _data_from_rows(
    rows: Sequence[Sequence[Any]],
    schema: InputSchema,
    where: Where,
    *,
    types: set[type] | None = None,
    flat: list[Any] | None = None,
) -> pd.DataFrame | np.ndarray[Any, Any]:
    """As ``_frame_from_rows``, but a numeric schema's rows stay a float64 matrix."""
    if schema.numeric:
        return _numeric_matrix(rows, schema, where, types=types, flat=flat)
    import pandas as pd  # not for a numeric schema, whose rows stay a matrix

    columns = list(zip(*rows, strict=True))
    arrays = {
        name: _column(columns[j], kind, True, _column_where(where, j))
        for j, (name, kind) in enumerate(zip(schema.names, schema.kinds, strict=True))
    }
    return pd.DataFrame(arrays)


def _column_where(where: Where, j: int) -> Where:
    return lambda i, _: where(i, j)


def _numeric_matrix(
    rows: Sequence[Sequence[Any]],
    schema: InputSchema,
    where: Where,
    *,
    types: set[type] | None = None,
    flat: list[Any] | None = None,
) -> npt.NDArray[np.float64]:
    """Rows of numbers -> an (n, k) float64 array; bool columns as 0/1."""
    n, k = len(rows), len(schema.names)
    cols = schema._columns_of
    if types is None:
        types = set(map(type, chain.from_iterable(rows)))
    allowed = _NUMBER_OR_BOOL if len(cols["bool"]) else _NUMBER
    if types <= allowed:
        try:
            source = rows if flat is None else flat
            arr: npt.NDArray[np.float64] | None = np.array(source, dtype=np.float64).reshape(n, k)
        except (ValueError, TypeError, OverflowError):
            arr = None
        if (
            arr is not None
            and arr.shape == (n, k)
            and _fits_schema(arr, schema)
            and (bool not in types or not _bool_outside(rows, cols["not_bool"]))
        ):
            return arr
    # Slow walk: the authority. Names the first bad cell in row order.
    out = np.empty((n, k), dtype=np.float64)
    kinds = schema.kinds
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            try:
                out[i, j] = _cell(value, kinds[j], exact=False)
            except _Bad as bad:
                raise _refuse(where, i, j, bad) from None
    return out


def _fits_schema(matrix: npt.NDArray[np.float64], schema: InputSchema) -> bool:
    """The vectorised check of a numeric schema's (n, k) float64 rows: all finite, whole
    numbers in int columns, 0/1 in bool columns. False sends the caller to the slow walk."""
    cols = schema._columns_of
    return (
        bool(np.isfinite(matrix).all())
        and _whole(matrix[:, cols["int"]])
        and _zero_one(matrix[:, cols["bool"]])
    )


def _whole(block: npt.NDArray[np.float64]) -> bool:
    return block.size == 0 or bool((block == np.trunc(block)).all())


def _zero_one(block: npt.NDArray[np.float64]) -> bool:
    return block.size == 0 or bool(((block == 0.0) | (block == 1.0)).all())


def _bool_outside(rows: Sequence[Sequence[Any]], not_bool: npt.NDArray[np.intp]) -> bool:
    columns = list(zip(*rows, strict=True))
    return any(bool in set(map(type, columns[j])) for j in not_bool.tolist())


def _column(
    values: Sequence[Any],
    kind: str,
    exact: bool,
    where: Where,
    types: set[type] | None = None,
) -> npt.NDArray[Any]:
    """One column's values -> an array of the kind's dtype (float64 for all numbers
    when not ``exact``). ``where(i, 0)`` names row ``i`` of this column."""
    fast = _column_fast(values, kind, exact, set(map(type, values)) if types is None else types)
    if fast is not None:
        return fast
    out: list[Any] = []
    for i, value in enumerate(values):
        try:
            out.append(_cell(value, kind, exact=exact))
        except _Bad as bad:
            raise _refuse(where, i, 0, bad) from None
    if kind == "datetime":
        return np.array(out, dtype="datetime64[us]")
    if kind in TEXT_KINDS:
        return np.array(out, dtype=object)
    if not exact or kind == "float":
        return np.array(out, dtype=np.float64)
    return np.array(out, dtype=np.int64 if kind == "int" else np.bool_)


def _column_fast(
    values: Sequence[Any], kind: str, exact: bool, types: set[type]
) -> npt.NDArray[Any] | None:
    """The column as an array when every value is plainly fine; None to walk it."""
    if kind in TEXT_KINDS:
        return np.array(values, dtype=object) if types == {str} else None
    if kind == "datetime":
        return None  # parsed per value anyway: the walk is the fast path
    if kind == "bool" and exact and types == {bool}:
        return np.array(values, dtype=np.bool_)
    if kind == "int" and exact and types == {int}:
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            return None
    if not types <= (_NUMBER_OR_BOOL if kind == "bool" else _NUMBER):
        return None
    try:
        arr = np.array(values, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if arr.ndim != 1 or not bool(np.isfinite(arr).all()):
        return None
    if kind == "int":
        if not _whole(arr):
            return None
        if exact:
            if not bool(((arr >= -(2.0**63)) & (arr < 2.0**63)).all()):
                return None
            return arr.astype(np.int64)
    elif kind == "bool":
        if not _zero_one(arr):
            return None
        if exact:
            return np.asarray(arr == 1.0, dtype=np.bool_)
    return arr


def _cell(value: Any, kind: str, *, exact: bool) -> Any:
    """One value converted for ``kind``, or ``_Bad`` saying what is wrong with it."""
    t = type(value)
    if kind in NUMERIC_KINDS:
        if t is bool:
            if kind == "bool":
                return value if exact else float(value)
            raise _Bad(
                f"expected {_EXPECTED[kind]}, got {_describe(value)}; "
                "true/false is accepted only for bool inputs",
                kind,
            )
        if t is int or t is float:
            try:
                x = float(value)
            except OverflowError:
                raise _Bad(f"expected {_EXPECTED[kind]}, got a number out of range", kind) from None
            if not math.isfinite(x):
                raise _Bad(f"expected a finite number, got {_describe(value)}", kind)
            if kind == "float":
                return x
            if kind == "int":
                if not x.is_integer():
                    raise _Bad(f"expected a whole number, got {_describe(value)}", kind)
                if not exact:
                    return x
                whole = value if t is int else int(x)
                if not _I64_MIN <= whole <= _I64_MAX:
                    raise _Bad(
                        f"expected a whole number in the int64 range, got {_describe(value)}",
                        kind,
                    )
                return whole
            if x not in (0.0, 1.0):
                raise _Bad(f"expected true/false or 0/1, got {_describe(value)}", kind)
            return (x == 1.0) if exact else x
        hint = "; send numbers unquoted" if t is str else ""
        raise _Bad(
            f"expected {_EXPECTED[kind]}, got {_describe(value)}{_null_hint(value)}{hint}", kind
        )
    if kind in TEXT_KINDS:
        if t is str:
            return value
        hint = '; quote labels and text, e.g. "3"' if t in _NUMBER_OR_BOOL else ""
        raise _Bad(
            f"expected {_EXPECTED[kind]}, got {_describe(value)}{_null_hint(value)}{hint}", kind
        )
    # datetime
    parsed = _parse_datetime(value) if t is str else None
    if parsed is None:
        raise _Bad(
            f"expected {_EXPECTED[kind]} such as '2024-05-01T12:00:00Z', "
            f"got {_describe(value)}{_null_hint(value)}",
            kind,
        )
    return parsed


def _parse_datetime(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return None
    return parsed
