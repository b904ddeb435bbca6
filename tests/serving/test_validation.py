"""parse_predict: every accepted request shape, every refusal pinned, and a fuzz run."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from mlrelease.errors import DataError, MalformedRequest, PayloadTooLarge, RequestError
from mlrelease.serving.validation import (
    Batch,
    InputSchema,
    _at_rows,
    _frame_from_rows,
    parse_predict,
)

NAMES = ("mean radius", "mean texture", *(f"feature {i}" for i in range(2, 30)))
NUMERIC = InputSchema(NAMES, ("float",) * 30)
MIXED = InputSchema(
    ("age", "income", "smoker", "city", "plan", "signup"),
    ("int", "float", "bool", "string", "category", "datetime"),
)
FLAGS = InputSchema(("x", "n", "flag"), ("float", "int", "bool"))
MIXED_ROW = [41, 52000.5, True, "Lyon", "gold", "2024-05-01T12:00:00Z"]
ALLOWED = (RequestError, MalformedRequest, PayloadTooLarge)


def row(start: float = 0.0) -> list[Any]:
    return [start + j / 10 for j in range(30)]


def parse(body: Any, schema: InputSchema = NUMERIC, max_rows: int = 100) -> Batch:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_predict(raw, schema, max_rows=max_rows)


def refused(body: Any, schema: InputSchema = NUMERIC, max_rows: int = 100) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse(body, schema, max_rows)
    return caught.value


# -- schema ------------------------------------------------------------------------------


def test_schema_from_signature() -> None:
    signature = {
        "inputs": [{"name": "mean radius", "kind": "float"}, {"name": "city", "kind": "string"}],
        "task": "classification",
        "classes": [0, 1],
    }
    schema = InputSchema.from_signature(signature)
    assert schema.names == ("mean radius", "city")
    assert schema.kinds == ("float", "string")
    assert not schema.numeric
    assert NUMERIC.numeric and FLAGS.numeric


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ({}, "no 'inputs'"),
        ({"inputs": []}, "no inputs"),
        ({"inputs": [{"name": "a"}]}, "inputs[0]"),
        ({"inputs": [{"name": "a", "kind": "float"}, {"name": "a", "kind": "int"}]}, "twice"),
        ({"inputs": [{"name": "a", "kind": "decimal"}]}, "'decimal'"),
        ({"inputs": [{"name": 3, "kind": "int"}]}, "not a string"),
    ],
)
def test_schema_refuses_bad_signatures(signature: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        InputSchema.from_signature(signature)


# -- accepted forms ------------------------------------------------------------------------


def test_features_one_row() -> None:
    batch = parse({"features": row()})
    assert batch.rows == 1 and batch.request_id is None
    assert list(batch.frame.columns) == list(NAMES)
    assert (batch.frame.dtypes == np.float64).all()
    assert batch.frame.iloc[0].tolist() == pytest.approx(row())


def test_instances_positional_rows() -> None:
    rows = [row(0), row(1), [int(v) for v in row(2)]]
    batch = parse({"instances": rows})
    assert batch.rows == 3
    assert batch.frame.shape == (3, 30)
    np.testing.assert_allclose(batch.frame.to_numpy(), np.array(rows, dtype=float))


def test_instances_as_records_and_records_agree() -> None:
    records = [dict(zip(reversed(NAMES), reversed(row(i)), strict=True)) for i in range(4)]
    a = parse({"instances": records}).frame
    b = parse({"records": records}).frame
    c = parse({"instances": [row(i) for i in range(4)]}).frame
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert list(a.columns) == list(NAMES)  # schema order, not the record's


def test_numeric_schema_bool_and_int_kinds_become_float64() -> None:
    frame = parse({"instances": [[1.5, 2, True], [0, 3.0, 0], [2, -4, 1.0]]}, FLAGS).frame
    assert (frame.dtypes == np.float64).all()
    assert frame.to_numpy().tolist() == [[1.5, 2.0, 1.0], [0.0, 3.0, 0.0], [2.0, -4.0, 1.0]]


def test_mixed_schema_keeps_each_kinds_dtype() -> None:
    second = [7, 1, 0, "Paris", "basic", "2024-05-01T14:00:00+02:00"]
    frame = parse({"instances": [MIXED_ROW, second]}, MIXED).frame
    assert frame["age"].dtype == np.int64
    assert frame["income"].dtype == np.float64
    assert frame["smoker"].dtype == np.bool_
    assert pd.api.types.is_string_dtype(frame["city"].dtype)
    assert pd.api.types.is_string_dtype(frame["plan"].dtype)
    assert frame["signup"].dtype == np.dtype("datetime64[us]")
    assert frame["age"].tolist() == [41, 7]
    assert frame["smoker"].tolist() == [True, False]
    assert frame["city"].tolist() == ["Lyon", "Paris"]
    # offsets are converted to UTC; the column is naive
    assert frame["signup"].tolist() == [pd.Timestamp("2024-05-01 12:00")] * 2


def test_mixed_features_and_records() -> None:
    one = parse({"features": MIXED_ROW}, MIXED).frame
    record = dict(zip(MIXED.names, MIXED_ROW, strict=True))
    pd.testing.assert_frame_equal(one, parse({"records": [record]}, MIXED).frame)
    assert one["income"].tolist() == [52000.5]


def test_int_kind_takes_whole_floats() -> None:
    frame = parse({"features": [3.0, 1, False, "a", "b", "2024-01-01"]}, MIXED).frame
    assert frame["age"].tolist() == [3] and frame["age"].dtype == np.int64


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{bad json", b"", b"\xff\xfe", b'{"features": [1, 2', b"NaN"],
)
def test_not_json_is_400_with_position(body: bytes) -> None:
    error = refused(body)
    assert type(error) is MalformedRequest and error.http_status == 400
    assert error.message.startswith("request body is not valid JSON")
    assert "line 1, column" in error.message
    assert error.details["position"] is not None


@pytest.mark.parametrize("body", [[1, 2], "text", 3, None])
def test_top_level_not_an_object_is_400(body: Any) -> None:
    error = refused(body)
    assert type(error) is MalformedRequest
    assert "must be a JSON object" in error.message


def test_unknown_key_is_named_with_the_accepted_ones() -> None:
    error = refused({"features": row(), "inputs": []})
    assert type(error) is RequestError and error.http_status == 422
    assert "unknown key 'inputs'" in error.message
    assert "'features', 'instances', 'records'" in error.message
    assert error.details["field"] == "inputs"


@pytest.mark.parametrize(
    ("body", "got"), [({}, "none of them"), ({"features": [], "records": []}, "'features' and")]
)
def test_exactly_one_key(body: dict[str, Any], got: str) -> None:
    error = refused(body)
    assert "send exactly one of" in error.message and got in error.message


@pytest.mark.parametrize("key", ["instances", "records"])
def test_empty_batch_is_422(key: str) -> None:
    error = refused({key: []})
    assert type(error) is RequestError
    assert error.message == f"{key}: empty batch; send at least one row"


def test_too_many_rows_is_413_with_limit_and_count() -> None:
    error = refused({"instances": [row()] * 11}, max_rows=10)
    assert type(error) is PayloadTooLarge and error.http_status == 413
    assert "11 rows" in error.message and "limit of 10" in error.message
    assert error.details == {"field": "instances", "rows": 11, "max_rows": 10}


def test_wrong_row_length() -> None:
    error = refused({"instances": [row(), row(), row()[:29]]})
    assert error.message == "instances[2]: 29 values, expected 30"
    assert error.details["row"] == 2
    features = refused({"features": row() + [1.0]})
    assert features.message.startswith("features: 31 values, expected 30 ('mean radius'")


def test_row_that_is_not_a_list() -> None:
    error = refused({"instances": [row(), 5]})
    assert error.message.startswith("instances[1]: expected a list of 30 values")
    assert "the number 5" in error.message
    assert "features: expected a list of 30 values" in refused({"features": {"a": 1}}).message
    assert "instances: expected a list of rows" in refused({"instances": "x"}).message


def test_records_missing_and_unknown_are_named() -> None:
    good = dict(zip(NAMES, row(), strict=True))
    bad = {**good}
    del bad["mean radius"]
    bad["mean radios"] = 1.0
    error = refused({"records": [good, good, good, bad]})
    assert error.message == "records[3]: missing 'mean radius'; unknown 'mean radios'"
    assert error.details["missing"] == ["mean radius"]
    assert error.details["unknown"] == ["mean radios"]


def test_records_that_are_not_objects() -> None:
    good = dict(zip(NAMES, row(), strict=True))
    error = refused({"instances": [good, row()]})
    assert error.message.startswith("instances[1]: expected an object of input names to values")
    assert "like instances[0]" in error.message
    assert refused({"records": [row()]}).message.startswith("records[0]: expected an object")


def cell_error(body: dict[str, Any], schema: InputSchema = NUMERIC) -> RequestError:
    error = refused(body, schema)
    assert type(error) is RequestError and error.http_status == 422
    return error


def test_string_number_is_refused_and_cell_named() -> None:
    rows = [row(), row()]
    rows[1][1] = "1.5"
    error = cell_error({"instances": rows})
    assert error.message == (
        "instances[1][1] ('mean texture'): expected a number, got the string '1.5'; "
        "send numbers unquoted"
    )
    assert error.details == {
        "field": "instances",
        "row": 1,
        "column": "mean texture",
        "expected": "float",
    }


def test_record_cell_named_by_key() -> None:
    record: dict[str, Any] = dict(zip(NAMES, row(), strict=True))
    record["feature 7"] = None
    error = cell_error({"records": [record, record]})
    assert error.message == (
        "records[0]['feature 7']: expected a number, got null; missing values are not accepted"
    )
    assert error.details["column"] == "feature 7"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (True, "got true; true/false is accepted only for bool inputs"),
        ([1.0], "got a list of 1 item"),
        ({"v": 1}, "got an object"),
        (None, "got null"),
    ],
)
def test_non_numbers_in_float_column(value: Any, fragment: str) -> None:
    features = row()
    features[4] = value
    error = cell_error({"features": features})
    assert error.message.startswith("features[4] ('feature 4'): expected a number, ")
    assert fragment in error.message


def test_infinite_value_is_refused() -> None:
    features = ",".join(["1e999", *map(str, row()[1:])])
    error = refused(f'{{"features": [{features}]}}'.encode())
    if type(error) is MalformedRequest:  # this orjson refuses 1e999 itself
        assert "infinity" in error.message
    else:  # an orjson that parses it to inf
        assert error.message.startswith("features[0] ('mean radius'): expected a finite number")


def test_infinity_is_named_by_the_walk() -> None:
    rows = [row(), row()]
    rows[1][2] = float("-inf")
    with pytest.raises(RequestError) as caught:
        _frame_from_rows(rows, NUMERIC, _at_rows("instances", NUMERIC))
    assert caught.value.message == (
        "instances[1][2] ('feature 2'): expected a finite number, got an infinite number"
    )


@pytest.mark.parametrize(
    ("row_", "column", "fragment"),
    [
        ([1, 2.5, 1], "n", "expected a whole number, got the number 2.5"),
        ([1, 2, 2], "flag", "expected true/false or 0/1, got the number 2"),
        ([1, 2, "yes"], "flag", "expected true/false or 0/1, got the string 'yes'"),
        ([1, True, 1], "n", "true/false is accepted only for bool inputs"),
        ([False, 2, 1], "x", "true/false is accepted only for bool inputs"),
    ],
)
def test_kind_checks_in_numeric_schema(row_: list[Any], column: str, fragment: str) -> None:
    error = cell_error({"instances": [[0, 0, 0], row_]}, FLAGS)
    assert error.details["row"] == 1 and error.details["column"] == column
    assert f"instances[1][{FLAGS.names.index(column)}] ('{column}')" in error.message
    assert fragment in error.message


@pytest.mark.parametrize(
    ("index", "value", "fragment"),
    [
        (
            0,
            2**63,
            "expected a whole number in the int64 range, got the number 9223372036854775808",
        ),
        (0, "41", "expected a whole number, got the string '41'; send numbers unquoted"),
        (2, "true", "expected true/false or 0/1, got the string 'true'"),
        (3, 75001, "expected a string, got the number 75001; quote labels and text"),
        (4, True, "expected a string (category label), got true"),
        (4, None, "got null; missing values are not accepted"),
        (5, "yesterday", "expected an ISO 8601 date-time string such as"),
        (5, 1714564800, "got the number 1714564800"),
    ],
)
def test_kind_checks_in_mixed_schema(index: int, value: Any, fragment: str) -> None:
    second = list(MIXED_ROW)
    second[index] = value
    error = cell_error(
        {"records": [dict(zip(MIXED.names, r, strict=True)) for r in (MIXED_ROW, second)]}, MIXED
    )
    name = MIXED.names[index]
    assert error.message.startswith(f"records[1]['{name}']: ")
    assert fragment in error.message
    assert error.details == {
        "field": "records",
        "row": 1,
        "column": name,
        "expected": MIXED.kinds[index],
    }


def test_first_bad_cell_in_row_order_is_named() -> None:
    rows = [row() for _ in range(5)]
    rows[3][20] = "x"
    rows[2][25] = None
    error = cell_error({"instances": rows})
    assert error.details["row"] == 2 and error.details["column"] == "feature 25"


def test_long_values_are_shortened_in_messages() -> None:
    features = row()
    features[0] = "z" * 10_000
    error = cell_error({"features": features})
    assert len(error.message) < 200


def test_error_to_dict_is_json() -> None:
    error = refused({"records": [{"mean radios": 1}]})
    assert orjson.loads(orjson.dumps(error.to_dict()))["error"]["code"] == "invalid_request"


# -- robustness --------------------------------------------------------------------------


def random_scalar(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            False,
            0,
            1,
            -1,
            2**63,
            2**64 - 1,
            -(2**63),
            rng.random(),
            rng.uniform(-1e308, 1e308),
            rng.randint(-1000, 1000),
            "",
            "1.5",
            "abc",
            "2024-05-01",
            "2024-05-01T25:00:00",
            "0001-01-01T00:00:00+01:00",
            "\u00e9\u2603",
            "mean radius",
        ]
    )


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.6:
        return random_scalar(rng)
    if roll < 0.8:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [*MIXED.names, *NAMES[:3], "features", "instances", "records", "x"]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def random_row(rng: random.Random, schema: InputSchema) -> list[Any]:
    good = MIXED_ROW if schema is MIXED else row() if schema is NUMERIC else [1.0, 2, True]
    values = list(good)
    if rng.random() < 0.6:
        values[rng.randrange(len(values))] = random_value(rng)
    if rng.random() < 0.1:
        values = values[: rng.randrange(len(values) + 1)]
    return values


def random_body(rng: random.Random, schema: InputSchema) -> bytes:
    roll = rng.random()
    if roll < 0.15:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    if roll < 0.3:
        return orjson.dumps(random_value(rng))
    rows = [random_row(rng, schema) for _ in range(rng.randint(0, 4))]
    shape = rng.choice(["features", "instances", "records", "records-in-instances"])
    doc: Any
    if shape == "features":
        doc = {"features": rows[0] if rows else random_value(rng)}
    elif shape == "instances":
        doc = {"instances": rows}
    else:
        records: list[Any] = [dict(zip(schema.names, r, strict=False)) for r in rows]
        if records and rng.random() < 0.3:
            records[-1][rng.choice(["x", schema.names[0]])] = random_value(rng)
        doc = {"records" if shape == "records" else "instances": records}
    if rng.random() < 0.1:
        doc[rng.choice(["id", "features", "x"])] = random_value(rng)
    raw = orjson.dumps(doc)
    if rng.random() < 0.15 and raw:
        cut = rng.randrange(len(raw))
        raw = raw[:cut] + bytes([rng.randrange(256)]) + raw[cut + 1 :]
    return raw


@pytest.mark.parametrize("schema", [NUMERIC, MIXED, FLAGS], ids=["numeric", "mixed", "flags"])
def test_random_bodies_only_raise_the_three_errors(schema: InputSchema) -> None:
    rng = random.Random(20240501)
    outcomes = {"ok": 0, **{cls.__name__: 0 for cls in ALLOWED}}
    for _ in range(2000):
        body = random_body(rng, schema)
        try:
            batch = parse_predict(body, schema, max_rows=3)
        except ALLOWED as exc:
            assert type(exc) in ALLOWED, body
            assert exc.message and isinstance(exc.details, dict)
            orjson.dumps(exc.to_dict())
            outcomes[type(exc).__name__] += 1
            continue
        outcomes["ok"] += 1
        assert batch.frame.shape == (batch.rows, len(schema.names))
        assert list(batch.frame.columns) == list(schema.names)
        assert not batch.frame.isna().any().any()
        if schema.numeric:
            assert (batch.frame.dtypes == np.float64).all()
            assert np.isfinite(batch.frame.to_numpy()).all()
    assert all(count > 0 for count in outcomes.values()), outcomes


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_very_deep_nesting_is_400_not_a_crash(opener: bytes) -> None:
    body = b'{"instances":' + opener * 150_000
    error = refused(body)
    assert type(error) is MalformedRequest


def test_deep_but_legal_nesting_in_a_long_body_is_parsed() -> None:
    rows = [row(i) for i in range(1000)]
    batch = parse({"instances": rows}, max_rows=1000)
    assert batch.rows == 1000
