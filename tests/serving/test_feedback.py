"""Feedback on both backends: body shapes, recording, upserts, the join, CSV import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from mlrelease.errors import DataError, NotFoundError, RequestError
from mlrelease.serving.feedback import (
    Label,
    import_feedback_csv,
    labelled_predictions,
    parse_feedback,
    record_feedback,
)
from mlrelease.serving.predlog import is_sampled
from mlrelease.store import Store, tables

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def log_predictions(
    store: Store,
    requests: dict[str, int],
    *,
    model: str = "churn",
    environment: str = "production",
    role: str = "stable",
) -> None:
    """Served rows, as the prediction log writes them: ``{request_id: number of rows}``."""
    values: list[dict[str, Any]] = []
    for number, (request_id, rows) in enumerate(requests.items()):
        for row in range(rows):
            values.append(
                {
                    "request_id": request_id,
                    "row": row,
                    "timestamp": START + timedelta(seconds=number),
                    "model": model,
                    "environment": environment,
                    "version": 2 if role == "canary" else 1,
                    "role": role,
                    "status": 200,
                    "latency_ms": 3.0,
                    "inputs": {"features": [row]},
                    "outputs": {"prediction": f"p{row}"},
                }
            )
    with store.write() as connection:
        connection.execute(insert(tables.predictions), values)


def stored_labels(store: Store) -> dict[tuple[str, int], Any]:
    with store.read() as connection:
        rows = connection.execute(
            select(tables.feedback.c.request_id, tables.feedback.c.row, tables.feedback.c.label)
        ).all()
    return {(row.request_id, row.row): row.label["value"] for row in rows}


# -- parsing ----------------------------------------------------------------------


def test_parse_one_label() -> None:
    assert parse_feedback({"request_id": "a", "label": 1}) == [Label("a", None, 1)]
    assert parse_feedback({"request_id": "a", "label": "yes", "row": 2}) == [Label("a", 2, "yes")]


def test_parse_one_label_per_row() -> None:
    assert parse_feedback({"request_id": "a", "labels": [0, 1.5, True]}) == [
        Label("a", 0, 0),
        Label("a", 1, 1.5),
        Label("a", 2, True),
    ]


def test_parse_a_list_of_items() -> None:
    body = {
        "feedback": [
            {"request_id": "a", "label": "x"},
            {"request_id": "b", "labels": ["y", "z"]},
            {"request_id": "c", "label": 3, "row": 0},
        ]
    }
    assert parse_feedback(body) == [
        Label("a", None, "x"),
        Label("b", 0, "y"),
        Label("b", 1, "z"),
        Label("c", 0, 3),
    ]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ([1, 2], "feedback: expected an object"),
        ("label", "feedback: expected an object"),
        ({"label": 1}, "'request_id' must be a non-empty string"),
        ({"request_id": "", "label": 1}, "'request_id' must be a non-empty string"),
        ({"request_id": 7, "label": 1}, "'request_id' must be a non-empty string"),
        ({"request_id": "x" * 129, "label": 1}, "longer than 128"),
        ({"request_id": "a"}, "exactly one of 'label'"),
        ({"request_id": "a", "label": 1, "labels": [1]}, "exactly one of 'label'"),
        ({"request_id": "a", "label": None}, "label: must be a string, number or boolean"),
        ({"request_id": "a", "label": {"v": 1}}, "label: must be a string, number or boolean"),
        ({"request_id": "a", "label": float("nan")}, "label: must be a finite number"),
        ({"request_id": "a", "label": 1, "row": -1}, "'row' must be a row number"),
        ({"request_id": "a", "label": 1, "row": "0"}, "'row' must be a row number"),
        ({"request_id": "a", "label": 1, "row": True}, "'row' must be a row number"),
        ({"request_id": "a", "labels": []}, "'labels' must be a non-empty list"),
        ({"request_id": "a", "labels": "01"}, "'labels' must be a non-empty list"),
        ({"request_id": "a", "labels": [1, [2]]}, "labels[1]: must be a string"),
        ({"request_id": "a", "labels": [1], "row": 0}, "'row' goes with 'label'"),
        ({"request_id": "a", "lable": 1}, "unexpected keys 'lable'"),
        ({"feedback": {"request_id": "a"}}, "'feedback' must be a non-empty list"),
        ({"feedback": []}, "'feedback' must be a non-empty list"),
        ({"feedback": [{"request_id": "a", "label": 1}], "x": 1}, "unexpected keys 'x'"),
        (
            {"feedback": [{"request_id": "a", "label": 1}, {"request_id": "b"}]},
            "feedback[1]: give exactly one of",
        ),
        ({"feedback": [{"request_id": "a", "label": 1}, 5]}, "feedback[1]: expected an object"),
    ],
)
def test_parse_refuses_bad_shapes_naming_the_item(body: Any, names: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_feedback(body)
    assert caught.value.http_status == 422
    assert names in caught.value.message


# -- recording --------------------------------------------------------------------


def test_record_labels_rows(store: Store) -> None:
    log_predictions(store, {"single": 1, "triple": 3, "pair": 2})
    labels = [
        Label("single", None, "yes"),
        *parse_feedback({"request_id": "triple", "labels": [0, 1, 0]}),
        Label("pair", 1, 2.5),
    ]
    assert record_feedback(store, labels, actor="tester") == 5
    assert stored_labels(store) == {
        ("single", 0): "yes",
        ("triple", 0): 0,
        ("triple", 1): 1,
        ("triple", 2): 0,
        ("pair", 1): 2.5,
    }
    with store.read() as connection:
        actors = connection.execute(select(tables.feedback.c.actor).distinct()).scalars().all()
    assert actors == ["tester"]


def test_a_label_without_row_labels_every_row_of_the_request(store: Store) -> None:
    log_predictions(store, {"r": 3})
    assert record_feedback(store, [Label("r", None, "cat")], actor="t") == 3
    assert stored_labels(store) == {("r", 0): "cat", ("r", 1): "cat", ("r", 2): "cat"}


def test_unknown_request_ids_write_nothing_and_are_named(store: Store) -> None:
    log_predictions(store, {"known": 1})
    unknown = [Label(f"ghost-{n:02d}", None, 1) for n in range(12)]
    with pytest.raises(NotFoundError) as caught:
        record_feedback(store, [Label("known", None, 1), *unknown], actor="t")
    message = caught.value.message
    assert "'ghost-00'" in message and "'ghost-09'" in message and "'ghost-10'" not in message
    assert "and 2 more" in message
    assert caught.value.details == {
        "request_ids": [f"ghost-{n:02d}" for n in range(10)],
        "unknown": 12,
    }
    assert stored_labels(store) == {}


def test_a_row_out_of_range_writes_nothing_and_is_named(store: Store) -> None:
    log_predictions(store, {"a": 1, "b": 2})
    with pytest.raises(RequestError) as caught:
        record_feedback(store, [Label("a", None, 1), Label("b", 2, 1)], actor="t")
    assert "request 'b' has no row 2 (logged rows: 0-1)" in caught.value.message
    assert stored_labels(store) == {}


def test_a_second_label_replaces_the_first(store: Store) -> None:
    log_predictions(store, {"a": 2})
    assert record_feedback(store, [Label("a", None, "old")], actor="first") == 2
    assert record_feedback(store, [Label("a", 1, "new")], actor="second") == 1
    assert stored_labels(store) == {("a", 0): "old", ("a", 1): "new"}
    # Within one call the later label wins, too.
    assert record_feedback(store, [Label("a", 0, "x"), Label("a", None, "y")], actor="t") == 2
    assert record_feedback(store, [Label("a", None, "y"), Label("a", 0, "z")], actor="t") == 2
    assert stored_labels(store) == {("a", 0): "z", ("a", 1): "y"}
    with store.read() as connection:
        count = len(connection.execute(select(tables.feedback.c.id)).all())
    assert count == 2


def test_labels_for_requests_the_log_sampled_out_are_skipped(store: Store) -> None:
    ids = [f"s{n}" for n in range(40)]
    logged = [request_id for request_id in ids if is_sampled(request_id, 0.5)]
    dropped = [request_id for request_id in ids if not is_sampled(request_id, 0.5)]
    assert logged and dropped
    log_predictions(store, dict.fromkeys(logged, 1))
    labels = [Label(request_id, None, 1) for request_id in ids]
    assert record_feedback(store, labels, actor="t", sample_rate=0.5) == len(logged)
    with pytest.raises(NotFoundError):  # a log that keeps everything: they are unknown
        record_feedback(store, labels, actor="t")


def test_nothing_to_record(store: Store) -> None:
    assert record_feedback(store, [], actor="t") == 0


def test_labelled_predictions_newest_first_with_labels(store: Store) -> None:
    log_predictions(store, {"old": 1, "mid": 2, "new": 1})
    log_predictions(store, {"mid": 2}, role="shadow")
    log_predictions(store, {"other-env": 1}, environment="staging")
    log_predictions(store, {"other-model": 1}, model="fraud")
    record_feedback(store, [Label("mid", 1, "truth"), Label("old", None, 0)], actor="t")

    rows = labelled_predictions(store, "churn", "production")
    assert [(row["request_id"], row["row"], row["role"]) for row in rows] == [
        ("mid", 1, "shadow"),
        ("mid", 0, "shadow"),
        ("new", 0, "stable"),
        ("mid", 1, "stable"),
        ("mid", 0, "stable"),
        ("old", 0, "stable"),
    ]
    assert [row["label"] for row in rows] == ["truth", None, None, "truth", None, 0]
    first = rows[0]
    assert first["prediction"] == "p1" and first["outputs"] == {"prediction": "p1"}
    assert first["labelled_by"] == "t" and first["labelled_at"].tzinfo is not None
    assert rows[1]["labelled_at"] is None
    assert first["timestamp"].tzinfo is not None and first["version"] == 1

    assert len(labelled_predictions(store, "churn", "production", limit=2)) == 2
    assert labelled_predictions(store, "churn", "nowhere") == []


# -- CSV --------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_csv(store: Store, tmp_path: Path) -> None:
    log_predictions(store, {"a": 1, "b": 2, "c": 1, "d": 1})
    path = write(
        tmp_path,
        "\ufeffrequest_id,label,row,comment\n"
        "a,1,,integer\n"
        "b,0.5,1,number\n"
        "c,cat,,text\n"
        'd," 007 ",0,"quoted, stripped"\n'
        "b,2,0,\n",
    )
    assert import_feedback_csv(store, path, actor="importer") == 5
    assert stored_labels(store) == {
        ("a", 0): 1,
        ("b", 1): 0.5,
        ("c", 0): "cat",
        ("d", 0): 7,
        ("b", 0): 2,
    }


def test_import_csv_without_row_column_and_again_replaces(store: Store, tmp_path: Path) -> None:
    log_predictions(store, {"a": 2})
    assert import_feedback_csv(store, write(tmp_path, "label,request_id\nyes,a\n"), actor="t") == 2
    assert import_feedback_csv(store, write(tmp_path, "request_id,label\na,no\n"), actor="t") == 2
    assert stored_labels(store) == {("a", 0): "no", ("a", 1): "no"}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("request_id,label\na,1\n,1\n", "labels.csv:3: 'request_id' must be a non-empty"),
        ("request_id,label\na,1\na,\n", "labels.csv:3: the label is empty"),
        ("request_id,label,row\na,1,x\n", "labels.csv:2: row 'x' is not a row number"),
        ("request_id,label,row\na,1,-1\n", "labels.csv:2: row '-1' is not a row number"),
        ("request_id,label\na,1,extra\n", "labels.csv:2: more fields than the header"),
        ("request_id,value\na,1\n", "labels.csv:1: missing column(s) label"),
        ("", "labels.csv: the file is empty"),
        ("request_id,label,row\na,1,0\na,1,5\n", "labels.csv:3: request 'a' has no row 5"),
    ],
)
def test_import_csv_refuses_a_bad_line_naming_it(
    store: Store, tmp_path: Path, text: str, names: str
) -> None:
    log_predictions(store, {"a": 1})
    with pytest.raises(DataError) as caught:
        import_feedback_csv(store, write(tmp_path, text), actor="t")
    assert names in caught.value.message
    assert stored_labels(store) == {}


def test_import_csv_with_an_unknown_id_writes_nothing(store: Store, tmp_path: Path) -> None:
    log_predictions(store, {"a": 1})
    path = write(tmp_path, "request_id,label\na,1\nghost,0\n")
    with pytest.raises(NotFoundError) as caught:
        import_feedback_csv(store, path, actor="t")
    assert "labels.csv:3:" in caught.value.message and "'ghost'" in caught.value.message
    assert stored_labels(store) == {}


def test_import_csv_refuses_a_missing_or_binary_file(store: Store, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read feedback file"):
        import_feedback_csv(store, tmp_path / "missing.csv", actor="t")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"request_id,label\n\xff\xfe\x00\n")
    with pytest.raises(DataError, match="not UTF-8"):
        import_feedback_csv(store, binary, actor="t")
