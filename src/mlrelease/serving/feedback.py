"""Feedback: ground-truth labels for served rows, joined to the prediction log by request id.

Labels arrive as JSON (``POST /feedback``) or as a CSV file (``mlrelease feedback
import``). Recording them is one transaction: every request id must be in the
prediction log (else nothing is written), and a label given again for the same
``(request_id, row)`` replaces the earlier one.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from mlrelease.errors import ConfigError, DataError, NotFoundError, RequestError
from mlrelease.serving.predlog import is_sampled
from mlrelease.store import Store, tables

__all__ = [
    "Label",
    "import_feedback_csv",
    "labelled_predictions",
    "parse_feedback",
    "record_feedback",
]

_P = tables.predictions.c
_F = tables.feedback.c
_MAX_REQUEST_ID = 128  # the column's length
_CHUNK = 500  # request ids per IN (...) lookup
_SHOWN = 10  # unknown ids named in an error


@dataclass(frozen=True)
class Label:
    request_id: str
    row: int | None  # None = every row of that request gets the label (single-row requests)
    value: Any  # JSON scalar


# -- parsing ----------------------------------------------------------------------


def parse_feedback(body: Any) -> list[Label]:
    """Labels from a JSON body; a bad shape raises RequestError naming the item.

    Accepted: ``{"request_id": ID, "label": VALUE}`` (optionally with ``"row": N``),
    ``{"request_id": ID, "labels": [VALUE, ...]}`` (one per row, in row order), or
    ``{"feedback": [ITEM, ...]}`` of either.
    """
    if isinstance(body, Mapping) and "feedback" in body:
        extra = sorted(str(key) for key in body if key != "feedback")
        if extra:
            raise RequestError(
                f"feedback: unexpected keys {', '.join(map(repr, extra))} beside 'feedback'",
                details={"keys": extra},
            )
        items = body["feedback"]
        if not isinstance(items, list) or not items:
            raise RequestError("feedback: 'feedback' must be a non-empty list of items")
        labels: list[Label] = []
        for index, item in enumerate(items):
            labels += _parse_item(item, f"feedback[{index}]")
        return labels
    return _parse_item(body, "feedback")


def _parse_item(item: Any, where: str) -> list[Label]:
    def fail(problem: str) -> RequestError:
        return RequestError(f"{where}: {problem}", details={"item": where})

    if not isinstance(item, Mapping):
        raise fail(
            f'expected an object like {{"request_id": "...", "label": ...}} (got {_kind(item)})'
        )
    unknown = sorted(
        str(key) for key in item if key not in {"request_id", "label", "labels", "row"}
    )
    if unknown:
        raise fail(
            f"unexpected keys {', '.join(map(repr, unknown))}; "
            "use 'request_id' with 'label' (and optional 'row') or 'labels'"
        )
    request_id = item.get("request_id")
    problem = _request_id_problem(request_id)
    if problem:
        raise fail(problem)
    assert isinstance(request_id, str)
    if ("label" in item) == ("labels" in item):
        raise fail("give exactly one of 'label' (one value) or 'labels' (one value per row)")
    if "labels" in item:
        if "row" in item:
            raise fail("'row' goes with 'label', not with 'labels' (which covers every row)")
        values = item["labels"]
        if not isinstance(values, list) or not values:
            raise fail("'labels' must be a non-empty list with one value per row")
        for index, value in enumerate(values):
            problem = _value_problem(value)
            if problem:
                raise fail(f"labels[{index}]: {problem}")
        return [Label(request_id, index, value) for index, value in enumerate(values)]
    value = item["label"]
    problem = _value_problem(value)
    if problem:
        raise fail(f"label: {problem}")
    row = item.get("row")
    problem = _row_problem(row)
    if problem:
        raise fail(problem)
    return [Label(request_id, row, value)]


def _request_id_problem(request_id: Any) -> str | None:
    if not isinstance(request_id, str) or not request_id:
        return f"'request_id' must be a non-empty string (got {_kind(request_id)})"
    if len(request_id) > _MAX_REQUEST_ID:
        return f"'request_id' is longer than {_MAX_REQUEST_ID} characters"
    return None


def _value_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, str | bool | int | float):
        return None
    return f"must be a string, number or boolean (got {_kind(value)})"


def _row_problem(row: Any) -> str | None:
    if row is None:
        return None
    if isinstance(row, bool) or not isinstance(row, int) or row < 0:
        return f"'row' must be a row number 0, 1, ... (got {row!r})"
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]


# -- recording --------------------------------------------------------------------


def record_feedback(
    store: Store, labels: Sequence[Label], *, actor: str, sample_rate: float = 1.0
) -> int:
    """Store ``labels`` in one transaction; returns how many rows were labelled.

    Every request id must be in the prediction log, else NotFoundError names the
    unknown ids and nothing is written -- except ids the log's sampling
    (``sample_rate``) would have dropped, which are skipped quietly. A row number the
    request does not have raises RequestError. A label given again for the same
    ``(request_id, row)`` replaces the earlier one; ``row=None`` labels every row.
    """
    for label in labels:
        problem = (
            _request_id_problem(label.request_id)
            or _row_problem(label.row)
            or _value_problem(label.value)
        )
        if problem:
            raise RequestError(
                f"label for request {label.request_id!r}: {problem}",
                details={"request_id": label.request_id, "row": label.row},
            )
    if not labels:
        return 0
    ids = list(dict.fromkeys(label.request_id for label in labels))
    now = datetime.now(UTC)
    with store.write() as connection:
        rows_of: dict[str, set[int]] = {}
        for chunk in _chunks(ids, _CHUNK):
            for request_id, row in connection.execute(_ROWS_OF_REQUESTS, {"ids": chunk}):
                rows_of.setdefault(request_id, set()).add(row)
        missing = [request_id for request_id in ids if request_id not in rows_of]
        skipped = {request_id for request_id in missing if not is_sampled(request_id, sample_rate)}
        unknown = [request_id for request_id in missing if request_id not in skipped]
        if unknown:
            shown = ", ".join(repr(request_id) for request_id in unknown[:_SHOWN])
            more = f" and {len(unknown) - _SHOWN} more" if len(unknown) > _SHOWN else ""
            raise NotFoundError(
                f"no predictions logged for request id(s) {shown}{more}; "
                "nothing was recorded (labels join predictions by the request id they were "
                "served with)",
                details={"request_ids": unknown[:_SHOWN], "unknown": len(unknown)},
            )
        values: dict[tuple[str, int], Any] = {}
        for label in labels:
            if label.request_id in skipped:
                continue
            rows = rows_of[label.request_id]
            if label.row is None:
                targets = sorted(rows)
            elif label.row in rows:
                targets = [label.row]
            else:
                raise RequestError(
                    f"request {label.request_id!r} has no row {label.row} "
                    f"(logged rows: {_describe_rows(rows)}); nothing was recorded",
                    details={"request_id": label.request_id, "row": label.row},
                )
            for row in targets:
                values.pop((label.request_id, row), None)  # the later label wins
                values[(label.request_id, row)] = label.value
        if values:
            connection.execute(
                _UPSERT_LABEL[store.dialect],
                [
                    {
                        "request_id": request_id,
                        "row": row,
                        "label": {"value": value},
                        "timestamp": now,
                        "actor": actor,
                    }
                    for (request_id, row), value in values.items()
                ],
            )
    return len(values)


def _describe_rows(rows: set[int]) -> str:
    ordered = sorted(rows)
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(map(str, ordered[:20])) + (", ..." if len(ordered) > 20 else "")


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _upsert_label(dialect: Any) -> Any:
    statement = dialect.insert(tables.feedback)
    return statement.on_conflict_do_update(
        index_elements=[_F.request_id, _F.row],
        set_={
            "label": statement.excluded.label,
            "timestamp": statement.excluded.timestamp,
            "actor": statement.excluded.actor,
        },
    )


_ROWS_OF_REQUESTS = (
    select(_P.request_id, _P.row)
    .distinct()
    .where(_P.request_id.in_(bindparam("ids", expanding=True)))
)
_UPSERT_LABEL = {"postgresql": _upsert_label(postgresql), "sqlite": _upsert_label(sqlite)}


# -- reading ----------------------------------------------------------------------


def labelled_predictions(
    store: Store, model: str, environment: str, *, limit: int = 1000
) -> list[dict[str, Any]]:
    """The newest logged rows of ``model`` in ``environment``, newest first, with labels.

    Each dict has the prediction's columns, ``prediction`` (``outputs["prediction"]``),
    and ``label`` / ``labelled_at`` / ``labelled_by`` (None where no label came yet).
    Shadow rows share their request's id, so they get the request's label too.
    """
    if limit < 1:
        raise ConfigError(f"limit must be at least 1 (got {limit})")
    with store.read() as connection:
        rows = connection.execute(
            _LABELLED, {"model": model, "environment": environment, "limit": limit}
        ).all()
    result: list[dict[str, Any]] = []
    for row in rows:
        item = row._asdict()
        label = item.pop("label_json")
        outputs = item["outputs"] or {}
        item["prediction"] = outputs.get("prediction") if isinstance(outputs, dict) else None
        item["label"] = label.get("value") if isinstance(label, dict) else None
        result.append(item)
    return result


_LABELLED = (
    select(
        _P.id,
        _P.request_id,
        _P.row,
        _P.timestamp,
        _P.model,
        _P.environment,
        _P.version,
        _P.role,
        _P.status,
        _P.latency_ms,
        _P.inputs,
        _P.outputs,
        _F.label.label("label_json"),
        _F.timestamp.label("labelled_at"),
        _F.actor.label("labelled_by"),
    )
    .select_from(
        tables.predictions.outerjoin(
            tables.feedback, and_(_F.request_id == _P.request_id, _F.row == _P.row)
        )
    )
    .where(_P.model == bindparam("model"), _P.environment == bindparam("environment"))
    .order_by(_P.id.desc())
    .limit(bindparam("limit"))
)


# -- CSV --------------------------------------------------------------------------

_INTEGER = re.compile(r"[+-]?\d+")


def import_feedback_csv(store: Store, path: Path, *, actor: str, sample_rate: float = 1.0) -> int:
    """Record the labels of a CSV file (columns ``request_id``, ``label``, optional ``row``).

    All or nothing. A bad line raises DataError naming the file and line; unknown
    request ids raise NotFoundError. Label text that reads as an integer or a finite
    number is stored as that number, anything else as the text. Other columns are
    ignored. Returns how many rows were labelled.
    """
    labels, lines = _read_csv(path)
    try:
        return record_feedback(store, labels, actor=actor, sample_rate=sample_rate)
    except NotFoundError as exc:
        first = exc.details.get("request_ids", [None])[0]
        line = next(
            (n for label, n in zip(labels, lines, strict=True) if label.request_id == first), None
        )
        where = f"{path}:{line}" if line is not None else str(path)
        raise NotFoundError(f"{where}: {exc.message}", details=exc.details) from None
    except RequestError as exc:
        request_id, row = exc.details.get("request_id"), exc.details.get("row")
        line = next(
            (
                n
                for label, n in zip(labels, lines, strict=True)
                if label.request_id == request_id and label.row == row
            ),
            None,
        )
        where = f"{path}:{line}" if line is not None else str(path)
        raise DataError(f"{where}: {exc.message}", details=exc.details) from None


def _read_csv(path: Path) -> tuple[list[Label], list[int]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read feedback file {path}: {exc.strerror or exc}") from None
    labels: list[Label] = []
    lines: list[int] = []
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames
            if header is None:
                raise DataError(
                    f"{path}: the file is empty; expected a header line 'request_id,label[,row]'"
                )
            names = [name.strip() for name in header]
            missing = [name for name in ("request_id", "label") if name not in names]
            if missing:
                raise DataError(
                    f"{path}:1: missing column(s) {', '.join(missing)}; "
                    "expected a header line 'request_id,label[,row]'"
                )
            reader.fieldnames = names
            for record in reader:
                line = reader.line_num
                labels.append(_csv_label(record, f"{path}:{line}"))
                lines.append(line)
        except csv.Error as exc:
            raise DataError(f"{path}:{reader.line_num}: not valid CSV: {exc}") from None
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text") from None
    return labels, lines


def _csv_label(record: dict[str | Any, Any], where: str) -> Label:
    if None in record:
        raise DataError(f"{where}: more fields than the header has columns")
    request_id = (record.get("request_id") or "").strip()
    problem = _request_id_problem(request_id)
    if problem:
        raise DataError(f"{where}: {problem}")
    text = (record.get("label") or "").strip()
    if not text:
        raise DataError(f"{where}: the label is empty")
    row_text = (record.get("row") or "").strip()
    row: int | None = None
    if row_text:
        if not _INTEGER.fullmatch(row_text) or int(row_text) < 0:
            raise DataError(f"{where}: row {row_text!r} is not a row number 0, 1, ...")
        row = int(row_text)
    return Label(request_id, row, _csv_value(text))


def _csv_value(text: str) -> Any:
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text
