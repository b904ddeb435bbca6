"""The request body as a JSON object, and what the client sent, in words.

``_load_object`` turns the bytes into a dict (400 otherwise); the rest name keys,
values and lists of names for error messages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson

from mlrelease.errors import MalformedRequest


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
