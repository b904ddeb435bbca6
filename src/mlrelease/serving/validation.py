"""Prediction requests: bytes in, a checked DataFrame in the model's column order out.

This is the model server's hot path, so the common case stays in C: the body is
parsed with ``orjson``, rows are type-checked with ``set(map(type, ...))`` and
turned into arrays with one ``np.array`` call, then checked with vectorised
``isfinite`` / whole-number / 0-1 tests. Only when a fast check fails is the data
walked cell by cell, and that walk is the authority: it names the first bad cell
(row, column, what was sent, what was expected) or, if nothing is wrong after all,
builds the result itself.

Every refusal is one of three errors from :mod:`mlrelease.errors`:
``MalformedRequest`` (400: not JSON, not an object), ``PayloadTooLarge`` (413: more
rows than ``max_rows``) and ``RequestError`` (422: everything else), each with
``details`` naming the field, row and column. Nothing else escapes.

Coercion rules (the same for ``parse_predict`` and ``parse_infer``):

* float / int / bool inputs take JSON numbers. ``true``/``false`` only for bool
  inputs, which also take 0 and 1. An int input takes whole numbers only (``3.0``
  yes, ``3.5`` no). Strings are refused even when they look like numbers (``"1.5"``).
* string / category inputs take JSON strings only; numbers are refused rather
  than converted with ``str`` (``3`` vs ``"03"`` vs ``"3.0"`` is ambiguous).
* datetime inputs take ISO 8601 strings (``datetime.fromisoformat``); a value with
  an offset is converted to UTC, and the column is naive ``datetime64[us]``.
* null is refused everywhere: models are served without missing values.

Frame dtypes: a numeric schema (every kind float/int/bool) gives one float64 block
(bool as 0.0/1.0). A mixed schema keeps each kind's dtype: float64, int64, bool,
pandas' default string dtype for string and category (not ``Categorical``: the
request cannot know the training categories), ``datetime64[us]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from itertools import chain
from operator import itemgetter
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from mlrelease.data.schema import KINDS
from mlrelease.errors import DataError, MalformedRequest, PayloadTooLarge, RequestError
from mlrelease.serving.oip import DATATYPE_FAMILY, DATATYPE_RANGE

__all__ = ["Batch", "InputSchema", "parse_infer", "parse_predict"]

NUMERIC_KINDS: Final = frozenset({"float", "int", "bool"})
TEXT_KINDS: Final = frozenset({"string", "category"})
PREDICT_KEYS: Final = ("features", "instances", "records")
INFER_KEYS: Final = ("id", "parameters", "inputs", "outputs")
TENSOR_KEYS: Final = ("name", "shape", "datatype", "data", "parameters")

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
_FAMILY_TAKES: Final = {
    "float": "numbers",
    "int": "whole numbers",
    "bool": "true/false",
    "bytes": "strings",
}

# (row, column index) -> (where, for the message; details naming field/row/column)
Where = Callable[[int, int], tuple[str, dict[str, Any]]]


# -- schema and result ---------------------------------------------------------------


@dataclass(frozen=True)
class InputSchema:
    """The inputs a model version takes, in order, with their schema kinds."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.kinds):
            raise DataError(f"signature has {len(self.names)} names but {len(self.kinds)} kinds")
        if not self.names:
            raise DataError("signature has no inputs; a served model needs at least one")
        seen: set[str] = set()
        for name, kind in zip(self.names, self.kinds, strict=True):
            if not isinstance(name, str):
                raise DataError(f"signature input name {name!r} is not a string")
            if name in seen:
                raise DataError(f"signature names input {name!r} twice")
            seen.add(name)
            if kind not in KINDS:
                raise DataError(
                    f"signature input {name!r} has kind {kind!r}; "
                    f"expected one of {', '.join(KINDS)}"
                )

    @classmethod
    def from_signature(cls, signature: Mapping[str, Any]) -> InputSchema:
        """From a version's signature, ``{"inputs": [{"name", "kind"}, ...], ...}``."""
        inputs = signature.get("inputs") if isinstance(signature, Mapping) else None
        if not isinstance(inputs, list):
            raise DataError("signature has no 'inputs' list")
        names: list[str] = []
        kinds: list[str] = []
        for i, item in enumerate(inputs):
            if not isinstance(item, Mapping) or "name" not in item or "kind" not in item:
                raise DataError(f"signature inputs[{i}] is not an object with 'name' and 'kind'")
            names.append(item["name"])
            kinds.append(item["kind"])
        return cls(tuple(names), tuple(kinds))

    @cached_property
    def numeric(self) -> bool:
        """Every kind is float, int or bool: the frame is one float64 block."""
        return all(kind in NUMERIC_KINDS for kind in self.kinds)

    @cached_property
    def index(self) -> dict[str, int]:
        return {name: j for j, name in enumerate(self.names)}

    @cached_property
    def name_set(self) -> frozenset[str]:
        return frozenset(self.names)

    @cached_property
    def row_of(self) -> Callable[[dict[str, Any]], Sequence[Any]]:
        """A record's values in schema order (C speed: ``itemgetter``)."""
        if len(self.names) == 1:
            only = self.names[0]
            return lambda record: (record[only],)
        return itemgetter(*self.names)

    @cached_property
    def _columns_of(self) -> dict[str, npt.NDArray[np.intp]]:
        def of(*kinds: str) -> npt.NDArray[np.intp]:
            return np.array([j for j, k in enumerate(self.kinds) if k in kinds], dtype=np.intp)

        return {"int": of("int"), "bool": of("bool"), "not_bool": of("float", "int")}

    def describe_names(self, limit: int = 8) -> str:
        """``'a', 'b', 'c'`` -- or the first ``limit`` and how many in all."""
        shown = ", ".join(_q(name) for name in self.names[:limit])
        rest = len(self.names) - limit
        return f"{shown}, ... ({len(self.names)} in all)" if rest > 0 else shown


@dataclass(frozen=True, eq=False)
class Batch:
    """Validated rows, ready for ``model.predict``."""

    frame: pd.DataFrame  # columns = schema.names in order; numeric schemas: float64 columns
    rows: int
    request_id: str | None  # the OIP "id", if the client sent one


# -- the two request shapes ------------------------------------------------------------


def parse_predict(body: bytes, schema: InputSchema, *, max_rows: int) -> Batch:
    """``{"features": [...]}``, ``{"instances": [[...] | {...}, ...]}``, ``{"records": [...]}``.

    Exactly one of the three keys; any other key is refused.
    """
    doc = _load_object(body)
    for key in doc:
        if key not in PREDICT_KEYS:
            raise RequestError(
                f"unknown key {_q(key)} in the request; send exactly one of {_PREDICT_CHOICES}",
                details={"field": key, "accepted": list(PREDICT_KEYS)},
            )
    present = [key for key in PREDICT_KEYS if key in doc]
    if len(present) != 1:
        got = "none of them" if not present else " and ".join(_q(key) for key in present)
        raise RequestError(
            f"send exactly one of {_PREDICT_CHOICES}; got {got}",
            details={"field": None, "accepted": list(PREDICT_KEYS), "got": present},
        )
    key = present[0]
    value = doc[key]
    rows: Sequence[Sequence[Any]]
    if key == "features":
        rows = [_features_row(value, schema)]
        _check_row_count(1, "features", max_rows)
        where = _at_features(schema)
    else:
        rows, where = _batch_rows(value, key, schema, max_rows)
    return Batch(frame=_frame_from_rows(rows, schema, where), rows=len(rows), request_id=None)


def parse_infer(body: bytes, schema: InputSchema, *, max_rows: int) -> Batch:
    """An Open Inference Protocol (v2) request, as KServe / Triton / MLServer clients send it.

    Two layouts: one tensor (any name) of shape ``[n, n_inputs]``; or one tensor
    per input, named as the schema's inputs, each of shape ``[n]`` or ``[n, 1]``.
    ``parameters`` and ``outputs`` are checked for shape and otherwise ignored.
    """
    doc = _load_object(body)
    for key in doc:
        if key not in INFER_KEYS:
            raise RequestError(
                f"unknown key {_q(key)} in the inference request; accepted: {_INFER_CHOICES}",
                details={"field": key, "accepted": list(INFER_KEYS)},
            )
    request_id = doc.get("id")
    if request_id is not None and type(request_id) is not str:
        raise RequestError(
            f"id: expected a string, got {_describe(request_id)}",
            details={"field": "id", "expected": "string"},
        )
    if "parameters" in doc and type(doc["parameters"]) is not dict:
        raise RequestError(
            f"parameters: expected an object, got {_describe(doc['parameters'])}",
            details={"field": "parameters", "expected": "object"},
        )
    _check_outputs(doc.get("outputs"))
    if "inputs" not in doc:
        raise RequestError(
            "inputs: missing; send a list of tensors {name, shape, datatype, data}",
            details={"field": "inputs"},
        )
    inputs = doc["inputs"]
    if type(inputs) is not list or not inputs:
        raise RequestError(
            f"inputs: expected a non-empty list of tensors, got {_describe(inputs)}",
            details={"field": "inputs"},
        )
    tensors = [_tensor(t, raw) for t, raw in enumerate(inputs)]
    if len(tensors) == 1 and len(schema.names) > 1:
        frame, n = _one_tensor(tensors[0], schema, max_rows)
    else:
        frame, n = _tensor_per_input(tensors, schema, max_rows)
    return Batch(frame=frame, rows=n, request_id=request_id)


# -- parse_predict internals -----------------------------------------------------------

_PREDICT_CHOICES: Final = ", ".join(repr(key) for key in PREDICT_KEYS)
_INFER_CHOICES: Final = ", ".join(repr(key) for key in INFER_KEYS)


def _load_object(body: bytes) -> dict[str, Any]:
    # orjson >= 3.9.15 (pinned) refuses nesting deeper than 1024 levels by itself, so a
    # hostile body of '[[[[...' is a 400, not a crashed process (CVE-2024-27454).
    try:
        doc = orjson.loads(body)
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        pos = getattr(exc, "pos", None)
        line = getattr(exc, "lineno", None)
        column = getattr(exc, "colno", None)
        where = f" at line {line}, column {column} (char {pos})" if pos is not None else ""
        reason = getattr(exc, "msg", None) or str(exc)
        raise MalformedRequest(
            f"request body is not valid JSON: {reason}{where}",
            details={"field": None, "line": line, "column": column, "position": pos},
        ) from None
    if type(doc) is not dict:
        raise MalformedRequest(
            f"request body must be a JSON object, got {_describe(doc)}",
            details={"field": None, "expected": "object"},
        )
    return doc


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


def _features_row(value: Any, schema: InputSchema) -> list[Any]:
    k = len(schema.names)
    if type(value) is not list:
        raise RequestError(
            f"features: expected a list of {k} values, got {_describe(value)}",
            details={"field": "features", "expected": f"list of {k} values"},
        )
    if len(value) != k:
        raise RequestError(
            f"features: {len(value)} values, expected {k} ({schema.describe_names()})",
            details={"field": "features", "got": len(value), "expected": k},
        )
    return value


def _batch_rows(
    items: Any, field: str, schema: InputSchema, max_rows: int
) -> tuple[Sequence[Sequence[Any]], Where]:
    k = len(schema.names)
    if type(items) is not list:
        raise RequestError(
            f"{field}: expected a list of rows, got {_describe(items)}",
            details={"field": field, "expected": "list"},
        )
    _check_row_count(len(items), field, max_rows)
    if field == "records" or type(items[0]) is dict:
        return _record_rows(items, field, schema), _at_records(field, schema)
    if all(type(row) is list and len(row) == k for row in items):
        return items, _at_rows(field, schema)
    for i, row in enumerate(items):
        if type(row) is not list:
            raise RequestError(
                f"{field}[{i}]: expected a list of {k} values"
                + (" like instances[0]" if i else " or an object of input names to values")
                + f", got {_describe(row)}",
                details={"field": field, "row": i, "expected": f"list of {k} values"},
            )
        if len(row) != k:
            raise RequestError(
                f"{field}[{i}]: {len(row)} values, expected {k}",
                details={"field": field, "row": i, "got": len(row), "expected": k},
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _record_rows(items: list[Any], field: str, schema: InputSchema) -> list[Sequence[Any]]:
    names, name_set = schema.names, schema.name_set
    if all(type(rec) is dict and rec.keys() == name_set for rec in items):
        return list(map(schema.row_of, items))
    for i, rec in enumerate(items):
        if type(rec) is not dict:
            like = " like instances[0]" if field == "instances" else ""
            raise RequestError(
                f"{field}[{i}]: expected an object of input names to values{like}, "
                f"got {_describe(rec)}",
                details={"field": field, "row": i, "expected": "object"},
            )
        if rec.keys() != name_set:
            missing = [name for name in names if name not in rec]
            unknown = [key for key in rec if key not in name_set]
            parts = []
            if missing:
                parts.append(f"missing {_list(missing)}")
            if unknown:
                parts.append(f"unknown {_list(unknown)}")
            raise RequestError(
                f"{field}[{i}]: {'; '.join(parts)}",
                details={
                    "field": field,
                    "row": i,
                    "missing": missing[:20],
                    "unknown": unknown[:20],
                },
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _at_features(schema: InputSchema) -> Where:
    def where(i: int, j: int) -> tuple[str, dict[str, Any]]:
        name = schema.names[j]
        return f"features[{j}] ({_q(name)})", {"field": "features", "row": 0, "column": name}

    return where


def _at_rows(field: str, schema: InputSchema) -> Where:
    def where(i: int, j: int) -> tuple[str, dict[str, Any]]:
        name = schema.names[j]
        return f"{field}[{i}][{j}] ({_q(name)})", {"field": field, "row": i, "column": name}

    return where


def _at_records(field: str, schema: InputSchema) -> Where:
    def where(i: int, j: int) -> tuple[str, dict[str, Any]]:
        name = schema.names[j]
        return f"{field}[{i}][{_q(name)}]", {"field": field, "row": i, "column": name}

    return where


# -- rows and columns to a frame --------------------------------------------------------


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
    if schema.numeric:
        matrix = _numeric_matrix(rows, schema, where, types=types, flat=flat)
        return pd.DataFrame(matrix, columns=list(schema.names), copy=False)
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
            and bool(np.isfinite(arr).all())
            and _whole(arr[:, cols["int"]])
            and _zero_one(arr[:, cols["bool"]])
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


# -- parse_infer internals ---------------------------------------------------------------


@dataclass(frozen=True)
class _Tensor:
    index: int
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]  # flattened
    types: set[type]  # of the values in data

    @property
    def label(self) -> str:
        return f"inputs[{self.index}] ({_q(self.name)})"

    def refuse(self, message: str, **details: Any) -> RequestError:
        return RequestError(
            f"{self.label}: {message}",
            details={"field": f"inputs[{self.index}]", "tensor": self.name, **details},
        )


def _check_outputs(outputs: Any) -> None:
    if outputs is None:
        return
    if type(outputs) is not list:
        raise RequestError(
            f'outputs: expected a list of {{"name": ...}} objects, got {_describe(outputs)}',
            details={"field": "outputs"},
        )
    for i, out in enumerate(outputs):
        if type(out) is not dict or type(out.get("name")) is not str:
            raise RequestError(
                f"outputs[{i}]: expected an object with a string 'name', got {_describe(out)}",
                details={"field": f"outputs[{i}]"},
            )


def _tensor(t: int, raw: Any) -> _Tensor:
    field = f"inputs[{t}]"
    if type(raw) is not dict:
        raise RequestError(
            f"{field}: expected a tensor object {{name, shape, datatype, data}}, "
            f"got {_describe(raw)}",
            details={"field": field},
        )
    for key in raw:
        if key not in TENSOR_KEYS:
            raise RequestError(
                f"{field}: unknown key {_q(key)}; a tensor has "
                + ", ".join(repr(k) for k in TENSOR_KEYS),
                details={"field": field, "key": key, "accepted": list(TENSOR_KEYS)},
            )
    name = raw.get("name")
    if type(name) is not str:
        raise RequestError(
            f"{field}: 'name' must be a string, got {_describe(name)}",
            details={"field": field, "key": "name"},
        )
    label = f"{field} ({_q(name)})"
    details = {"field": field, "tensor": name}
    datatype = raw.get("datatype")
    if type(datatype) is not str or datatype not in DATATYPE_FAMILY:
        raise RequestError(
            f"{label}: 'datatype' must be one of {', '.join(DATATYPE_FAMILY)}, "
            f"got {_describe(datatype)}",
            details={**details, "key": "datatype"},
        )
    shape = raw.get("shape")
    if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
        raise RequestError(
            f"{label}: 'shape' must be a list of non-negative integers, got {_describe(shape)}",
            details={**details, "key": "shape"},
        )
    if "parameters" in raw and type(raw["parameters"]) is not dict:
        raise RequestError(
            f"{label}: 'parameters' must be an object, got {_describe(raw['parameters'])}",
            details={**details, "key": "parameters"},
        )
    if "data" not in raw:
        raise RequestError(
            f"{label}: no 'data'; send the values as JSON (binary tensor data is not supported)",
            details={**details, "key": "data"},
        )
    data = raw["data"]
    if type(data) is not list:
        raise RequestError(
            f"{label}: 'data' must be a list (flat or nested), got {_describe(data)}",
            details={**details, "key": "data"},
        )
    flat, types = _flatten(data)
    size = math.prod(shape)
    if size != len(flat):
        raise RequestError(
            f"{label}: shape {shape} holds {size} values, but 'data' has {len(flat)}",
            details={**details, "key": "data", "shape": shape, "values": len(flat)},
        )
    return _Tensor(t, name, shape, datatype, flat, types)


def _flatten(data: list[Any]) -> tuple[list[Any], set[type]]:
    """Nested lists -> one flat list and its values' types, without recursion."""
    flat = data
    while True:
        types = set(map(type, flat))
        if list not in types:
            return flat, types
        if types != {list}:
            break
        flat = list(chain.from_iterable(flat))
    out: list[Any] = []
    stack = [iter(flat)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out, set(map(type, out))


def _fits(family: str, kind: str) -> bool:
    if family in ("float", "int"):
        return kind in NUMERIC_KINDS
    if family == "bool":
        return kind == "bool"
    return kind not in NUMERIC_KINDS


def _datatype_for(kind: str) -> str:
    if kind == "bool":
        return "BOOL (or 0/1 numbers)"
    if kind in NUMERIC_KINDS:
        return "FP64 (or FP32/FP16, INT*, UINT*)"
    return "BYTES"


def _first_bad_element(tensor: _Tensor) -> int | None:
    """Index of the first value the tensor's datatype cannot carry, or None."""
    family = DATATYPE_FAMILY[tensor.datatype]
    flat, types = tensor.data, tensor.types
    if family == "float":
        ok = types <= _NUMBER
    elif family == "bool":
        ok = types <= {bool}
    elif family == "bytes":
        ok = types <= {str}
    else:
        low, high = DATATYPE_RANGE[tensor.datatype]
        ok = types <= {int} and (not flat or (low <= min(flat) and max(flat) <= high))
    if ok:
        return None
    for i, value in enumerate(flat):
        t = type(value)
        if family == "float":
            good = t is int or t is float
        elif family == "bool":
            good = t is bool
        elif family == "bytes":
            good = t is str
        else:
            low, high = DATATYPE_RANGE[tensor.datatype]
            good = t is int and low <= value <= high
        if not good:
            return i
    return None  # pragma: no cover


def _check_elements(tensor: _Tensor, schema: InputSchema, columns: int | None) -> None:
    """``columns``: the row width for a [n, k] tensor (to name row and column)."""
    i = _first_bad_element(tensor)
    if i is None:
        return
    value = tensor.data[i]
    family = DATATYPE_FAMILY[tensor.datatype]
    takes = _FAMILY_TAKES[family]
    if family == "int":
        low, high = DATATYPE_RANGE[tensor.datatype]
        takes = f"whole numbers from {low} to {high}"
    at = f"data[{i}]"
    details: dict[str, Any] = {"element": i, "expected": tensor.datatype}
    if columns is not None:
        row, j = divmod(i, columns)
        at += f" (row {row}, column {_q(schema.names[j])})"
        details.update(row=row, column=schema.names[j])
    raise tensor.refuse(
        f"{at} is {_describe(value)}; datatype {tensor.datatype} takes {takes}"
        + ("; missing values are not accepted" if value is None else ""),
        **details,
    )


def _one_tensor(tensor: _Tensor, schema: InputSchema, max_rows: int) -> tuple[pd.DataFrame, int]:
    """Layout (a): one tensor of shape [n, k] holding every input."""
    k = len(schema.names)
    if len(tensor.shape) != 2 or tensor.shape[1] != k:
        raise tensor.refuse(
            f"shape {tensor.shape}, expected [n, {k}] (one tensor with all {k} inputs per row) "
            f"or one tensor per input named {schema.describe_names(3)}",
            key="shape",
            expected=[-1, k],
        )
    n = tensor.shape[0]
    _check_row_count(n, f"inputs[{tensor.index}]", max_rows, tensor.label)
    family = DATATYPE_FAMILY[tensor.datatype]
    for name, kind in zip(schema.names, schema.kinds, strict=True):
        if not _fits(family, kind):
            raise tensor.refuse(
                f"datatype {tensor.datatype} cannot carry input {_q(name)} (kind {kind}, "
                f"which takes {_datatype_for(kind)}); send one tensor per input instead",
                key="datatype",
                column=name,
            )
    _check_elements(tensor, schema, k)
    flat = tensor.data
    rows = [flat[i * k : (i + 1) * k] for i in range(n)]

    def where(i: int, j: int) -> tuple[str, dict[str, Any]]:
        name = schema.names[j]
        return (
            f"{tensor.label} row {i}, column {j} ({_q(name)})",
            {"field": f"inputs[{tensor.index}]", "tensor": tensor.name, "row": i, "column": name},
        )

    return _frame_from_rows(rows, schema, where, types=tensor.types, flat=flat), n


def _tensor_per_input(
    tensors: list[_Tensor], schema: InputSchema, max_rows: int
) -> tuple[pd.DataFrame, int]:
    """Layout (b): one tensor per input, each [n] or [n, 1], named as the input."""
    by_column: dict[int, _Tensor] = {}
    single = len(tensors) == 1 and len(schema.names) == 1
    for tensor in tensors:
        j = 0 if single else schema.index.get(tensor.name)
        if j is None:
            raise tensor.refuse(
                f"unknown input {_q(tensor.name)}; this model takes {schema.describe_names()}",
                key="name",
            )
        if j in by_column:
            raise tensor.refuse(
                f"input {_q(tensor.name)} sent twice (also in inputs[{by_column[j].index}])",
                key="name",
            )
        if not (len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)):
            raise tensor.refuse(
                f"shape {tensor.shape}, expected [n] or [n, 1] (one value per row)", key="shape"
            )
        first = next(iter(by_column.values()), None)
        if first is not None and tensor.shape[0] != first.shape[0]:
            raise tensor.refuse(
                f"{tensor.shape[0]} rows, but {first.label} has {first.shape[0]}; "
                "every input needs the same number of rows",
                key="shape",
            )
        by_column[j] = tensor
    missing = [name for j, name in enumerate(schema.names) if j not in by_column]
    if missing:
        raise RequestError(
            f"inputs: missing {_list(missing)}; send one tensor per input "
            f"(or one tensor of shape [n, {len(schema.names)}])",
            details={"field": "inputs", "missing": missing[:20]},
        )
    n = tensors[0].shape[0]
    _check_row_count(n, "inputs", max_rows)
    arrays: list[npt.NDArray[Any]] = []
    for j, (name, kind) in enumerate(zip(schema.names, schema.kinds, strict=True)):
        tensor = by_column[j]
        family = DATATYPE_FAMILY[tensor.datatype]
        if not _fits(family, kind):
            raise tensor.refuse(
                f"datatype {tensor.datatype} does not fit input {_q(name)} of kind {kind}; "
                f"send {_datatype_for(kind)}",
                key="datatype",
                column=name,
            )
        _check_elements(tensor, schema, None)
        column = _column(
            tensor.data, kind, not schema.numeric, _at_tensor(tensor, name), tensor.types
        )
        arrays.append(column)
    if schema.numeric:
        return pd.DataFrame(np.column_stack(arrays), columns=list(schema.names)), n
    return pd.DataFrame(dict(zip(schema.names, arrays, strict=True))), n


def _at_tensor(tensor: _Tensor, name: str) -> Where:
    def where(i: int, j: int) -> tuple[str, dict[str, Any]]:
        return (
            f"{tensor.label} row {i}",
            {"field": f"inputs[{tensor.index}]", "tensor": tensor.name, "row": i, "column": name},
        )

    return where


# -- messages ------------------------------------------------------------------------------


def _q(name: Any, limit: int = 60) -> str:
    text = str(name)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _list(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(_q(name) for name in names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def _describe(value: Any) -> str:
    """What the client sent, in JSON words: 'the string "1.5"', 'null', 'a list of 3 items'."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    t = type(value)
    if t is int:
        return f"the number {value}"
    if t is float:
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "an infinite number"
        return f"the number {value!r}"
    if t is str:
        text = value if len(value) <= 40 else value[:40] + "..."
        return f"the string {text!r}"
    if t is list:
        if not value:
            return "an empty list"
        return f"a list of {len(value)} items" if len(value) != 1 else "a list of 1 item"
    if t is dict:
        return "an object"
    return f"a {t.__name__}"


def _null_hint(value: Any) -> str:
    return "; missing values are not accepted" if value is None else ""
