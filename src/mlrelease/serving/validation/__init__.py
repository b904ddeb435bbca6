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

Layout: ``_schema`` (InputSchema, Batch), ``_json`` (the body, message wording),
``_cells`` (cell checks and frames), ``_predict`` (parse_predict), ``_tensor`` and
``_infer`` (parse_infer). ``_at_rows`` and ``_frame_from_rows`` are re-exported
for the tests, which build frames directly.
"""

from __future__ import annotations

from mlrelease.serving.validation._cells import _frame_from_rows as _frame_from_rows
from mlrelease.serving.validation._infer import parse_infer
from mlrelease.serving.validation._predict import _at_rows as _at_rows
from mlrelease.serving.validation._predict import parse_predict
from mlrelease.serving.validation._schema import Batch, InputSchema

__all__ = ["Batch", "InputSchema", "parse_infer", "parse_predict"]
