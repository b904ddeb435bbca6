""":func:`parse_predict`: the ``features`` / ``instances`` / ``records`` request.

Checks the request's shape (one key, rows of the right length, records with
exactly the schema's names) and says how to name each cell in its messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from mlrelease.errors import RequestError
from mlrelease.serving.validation._cells import Where, _check_row_count, _data_from_rows
from mlrelease.serving.validation._json import _describe, _list, _load_object, _q
from mlrelease.serving.validation._schema import Batch, InputSchema

PREDICT_KEYS: Final = ("features", "instances", "records")
_PREDICT_CHOICES: Final = ", ".join(repr(key) for key in PREDICT_KEYS)


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
    data = _data_from_rows(rows, schema, where)
    return Batch(data=data, rows=len(rows), request_id=None, schema=schema)


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
