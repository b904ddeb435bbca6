"""Open Inference Protocol: parse_infer in both layouts, its refusals, the response bodies."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from mlrelease.errors import MalformedRequest, PayloadTooLarge, RequestError
from mlrelease.serving.oip import datatype_of, infer_response, model_metadata
from mlrelease.serving.validation import Batch, InputSchema, parse_infer, parse_predict

NAMES = ("mean radius", "mean texture", *(f"feature {i}" for i in range(2, 30)))
NUMERIC = InputSchema(NAMES, ("float",) * 30)
MIXED = InputSchema(("age", "income", "smoker", "city"), ("int", "float", "bool", "string"))
TEXT = InputSchema(("city", "plan"), ("string", "category"))
ONE = InputSchema(("x",), ("float",))
ALLOWED = (RequestError, MalformedRequest, PayloadTooLarge)

ROWS = [[i + j / 100 for j in range(30)] for i in range(3)]
MIXED_TENSORS = [
    {"name": "age", "shape": [2], "datatype": "INT64", "data": [41, 7]},
    {"name": "income", "shape": [2, 1], "datatype": "FP32", "data": [[52000.5], [0]]},
    {"name": "smoker", "shape": [2], "datatype": "BOOL", "data": [True, False]},
    {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["Lyon", "Paris"]},
]


def infer(doc: Any, schema: InputSchema = NUMERIC, max_rows: int = 100) -> Batch:
    return parse_infer(orjson.dumps(doc), schema, max_rows=max_rows)


def refused(doc: Any, schema: InputSchema = NUMERIC, max_rows: int = 100) -> RequestError:
    with pytest.raises(RequestError) as caught:
        infer(doc, schema, max_rows)
    return caught.value


def matrix(data: Any, shape: list[int] | None = None, datatype: str = "FP64") -> dict[str, Any]:
    tensor = {"name": "input-0", "shape": shape or [3, 30], "datatype": datatype, "data": data}
    return {"inputs": [tensor]}


def per_feature(rows: list[list[float]], datatype: str = "FP64") -> dict[str, Any]:
    return {
        "inputs": [
            {"name": name, "shape": [len(rows)], "datatype": datatype, "data": [r[j] for r in rows]}
            for j, name in enumerate(NAMES)
        ]
    }


def binary_body(tensors: list[tuple[dict[str, Any], bytes]], **doc: Any) -> tuple[bytes, int]:
    """A binary-tensor-data body: the JSON header, then each tensor's bytes in order."""
    inputs = [{**tensor, "parameters": {"binary_data_size": len(data)}} for tensor, data in tensors]
    header = orjson.dumps({**doc, "inputs": inputs})
    return header + b"".join(data for _, data in tensors), len(header)


def strings(*values: str) -> bytes:
    encoded = [value.encode() for value in values]
    return b"".join(len(item).to_bytes(4, "little") + item for item in encoded)


# -- accepted ----------------------------------------------------------------------------


@pytest.mark.parametrize("nested", [True, False], ids=["nested", "flat"])
def test_one_tensor_layout(nested: bool) -> None:
    data = ROWS if nested else [v for r in ROWS for v in r]
    doc = {**matrix(data, datatype="FP32"), "id": "req-1", "parameters": {"content_type": "np"}}
    batch = infer(doc)
    assert batch.rows == 3 and batch.request_id == "req-1"
    assert list(batch.frame.columns) == list(NAMES)
    assert (batch.frame.dtypes == np.float64).all()
    np.testing.assert_allclose(batch.frame.to_numpy(), np.array(ROWS))


def test_tensor_per_feature_layout_matches_predict() -> None:
    rows = [[float(int(v)) for v in r] for r in ROWS]
    shuffled = per_feature(rows, datatype="INT32")
    for tensor in shuffled["inputs"]:
        tensor["data"] = [int(v) for v in tensor["data"]]
    shuffled["inputs"].reverse()
    batch = infer({**shuffled, "outputs": [{"name": "predict"}]})
    expected = parse_predict(orjson.dumps({"instances": rows}), NUMERIC, max_rows=10).frame
    pd.testing.assert_frame_equal(batch.frame, expected)
    assert batch.request_id is None


def test_mixed_schema_tensor_per_feature() -> None:
    frame = infer({"inputs": MIXED_TENSORS}, MIXED).frame
    assert frame["age"].tolist() == [41, 7] and frame["age"].dtype == np.int64
    assert frame["income"].tolist() == [52000.5, 0.0]
    assert frame["smoker"].tolist() == [True, False] and frame["smoker"].dtype == np.bool_
    assert frame["city"].tolist() == ["Lyon", "Paris"]


def test_all_text_schema_may_use_one_bytes_tensor() -> None:
    tensor = {"name": "x", "shape": [2, 2], "datatype": "BYTES", "data": [["a", "b"], ["c", "d"]]}
    frame = infer({"inputs": [tensor]}, TEXT).frame
    assert frame.to_dict("list") == {"city": ["a", "c"], "plan": ["b", "d"]}


@pytest.mark.parametrize("shape", [[3], [3, 1]])
def test_single_input_model_takes_any_name(shape: list[int]) -> None:
    tensor = {"name": "whatever", "shape": shape, "datatype": "FP64", "data": [1, 2, 3]}
    assert infer({"inputs": [tensor]}, ONE).frame["x"].tolist() == [1.0, 2.0, 3.0]


def test_bool_input_takes_zero_one_numbers() -> None:
    tensors = [dict(t) for t in MIXED_TENSORS]
    tensors[2] = {"name": "smoker", "shape": [2], "datatype": "UINT8", "data": [1, 0]}
    assert infer({"inputs": tensors}, MIXED).frame["smoker"].tolist() == [True, False]


# -- refused -----------------------------------------------------------------------------


def test_not_json_and_not_object_are_400() -> None:
    with pytest.raises(MalformedRequest, match="not valid JSON"):
        parse_infer(b'{"inputs": [', NUMERIC, max_rows=10)
    with pytest.raises(MalformedRequest, match="must be a JSON object"):
        parse_infer(b"[]", NUMERIC, max_rows=10)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"inputs": [], "model": "x"}, "unknown key 'model' in the inference request"),
        ({"id": 5, "inputs": []}, "id: expected a string, got the number 5"),
        ({"parameters": [], "inputs": []}, "parameters: expected an object"),
        ({"outputs": [{"nom": "p"}], "inputs": []}, "outputs[0]: expected an object with"),
        ({}, "inputs: missing"),
        ({"inputs": []}, "inputs: expected a non-empty list of tensors, got an empty list"),
        ({"inputs": [3]}, "inputs[0]: expected a tensor object"),
    ],
)
def test_request_level_refusals(doc: dict[str, Any], message: str) -> None:
    error = refused(doc)
    assert type(error) is RequestError and error.http_status == 422
    assert error.message.startswith(message)


def tensor_error(tensor_changes: dict[str, Any], drop: str | None = None) -> RequestError:
    tensor: dict[str, Any] = {"name": "input-0", "shape": [3, 30], "datatype": "FP64"}
    tensor["data"] = ROWS
    tensor.update(tensor_changes)
    if drop:
        del tensor[drop]
    return refused({"inputs": [tensor]})


@pytest.mark.parametrize(
    ("changes", "drop", "message"),
    [
        ({"name": 1}, None, "inputs[0]: 'name' must be a string"),
        ({"datatype": "FLOAT"}, None, "inputs[0] ('input-0'): 'datatype' must be one of BOOL"),
        ({"shape": [3, -30]}, None, "'shape' must be a list of non-negative integers"),
        ({"shape": "3x30"}, None, "'shape' must be a list of non-negative integers"),
        ({"parameters": 1}, None, "'parameters' must be an object"),
        ({}, "data", "no 'data'; send the values as JSON 'data', or as binary data"),
        ({"data": 1.0}, None, "'data' must be a list"),
        ({"contents": {}}, None, "inputs[0]: unknown key 'contents'"),
        ({"shape": [3, 29]}, None, "shape [3, 29] holds 87 values, but 'data' has 90"),
        ({"shape": [90]}, None, "shape [90], expected [n, 30]"),
        ({"shape": [2, 45]}, None, "shape [2, 45], expected [n, 30]"),
        ({"datatype": "BYTES"}, None, "datatype BYTES cannot carry input 'mean radius'"),
        ({"datatype": "BOOL"}, None, "datatype BOOL cannot carry input 'mean radius'"),
        (
            {"datatype": "INT16"},
            None,
            "data[0] (row 0, column 'mean radius') is the number 0.0; "
            "datatype INT16 takes whole numbers from -32768 to 32767",
        ),
        ({"shape": [0, 30], "data": []}, None, "empty batch"),
    ],
)
def test_tensor_refusals(changes: dict[str, Any], drop: str | None, message: str) -> None:
    error = tensor_error(changes, drop)
    assert type(error) is RequestError
    assert message in error.message
    assert error.details["field"] == "inputs[0]"


def test_string_in_float_data_names_row_and_column() -> None:
    rows: list[list[Any]] = [list(r) for r in ROWS]
    rows[2][3] = "1.5"
    error = refused(matrix(rows))
    assert error.message == (
        "inputs[0] ('input-0'): data[63] (row 2, column 'feature 3') is the string '1.5'; "
        "datatype FP64 takes numbers"
    )
    assert error.details["row"] == 2 and error.details["column"] == "feature 3"


def test_null_in_data_is_refused() -> None:
    doc = per_feature(ROWS)
    doc["inputs"][5]["data"][1] = None
    error = refused(doc)
    assert error.message.startswith("inputs[5] ('feature 5'): data[1] is null")
    assert "missing values are not accepted" in error.message


def test_too_many_rows_is_413() -> None:
    with pytest.raises(PayloadTooLarge, match="3 rows, over the limit of 2") as caught:
        infer(matrix(ROWS), max_rows=2)
    assert caught.value.details["max_rows"] == 2
    with pytest.raises(PayloadTooLarge, match="inputs: 3 rows"):
        infer(per_feature(ROWS), max_rows=2)


def test_per_feature_names_and_counts() -> None:
    doc = per_feature(ROWS)
    doc["inputs"][4]["name"] = "mean radios"
    error = refused(doc)
    assert error.message.startswith(
        "inputs[4] ('mean radios'): unknown input 'mean radios'; this model takes 'mean radius', "
    )
    assert error.details["tensor"] == "mean radios"

    doc = per_feature(ROWS)
    doc["inputs"][4]["name"] = "mean radius"
    assert "input 'mean radius' sent twice (also in inputs[0])" in refused(doc).message

    doc = per_feature(ROWS)
    del doc["inputs"][7]
    error = refused(doc)
    assert error.message.startswith("inputs: missing 'feature 7'")
    assert error.details["missing"] == ["feature 7"]

    doc = per_feature(ROWS)
    doc["inputs"][9] = {**doc["inputs"][9], "shape": [2], "data": [1, 2]}
    error = refused(doc)
    assert error.message == (
        "inputs[9] ('feature 9'): 2 rows, but inputs[0] ('mean radius') has 3; "
        "every input needs the same number of rows"
    )

    doc = per_feature(ROWS)
    doc["inputs"][3] = {**doc["inputs"][3], "shape": [1, 3]}
    assert "shape [1, 3], expected [n] or [n, 1]" in refused(doc).message


@pytest.mark.parametrize(
    ("index", "changes", "message"),
    [
        (3, {"datatype": "FP32", "data": [1.0, 2.0]}, "datatype FP32 does not fit input 'city'"),
        (1, {"datatype": "BYTES", "data": ["1", "2"]}, "send FP64 (or FP32/FP16, INT*, UINT*)"),
        (0, {"datatype": "BOOL", "data": [True, False]}, "datatype BOOL does not fit input 'age'"),
        (0, {"datatype": "FP64", "data": [41.5, 7]}, "row 0: expected a whole number"),
        (2, {"datatype": "INT8", "data": [1, 2]}, "row 1: expected true/false or 0/1"),
        (0, {"datatype": "INT32", "data": [41.0, 7]}, "data[0] is the number 41.0"),
    ],
)
def test_kind_and_datatype_mismatch(index: int, changes: dict[str, Any], message: str) -> None:
    tensors = [dict(t) for t in MIXED_TENSORS]
    tensors[index] = {**tensors[index], **changes}
    error = refused({"inputs": tensors}, MIXED)
    assert error.message.startswith(f"inputs[{index}] ('{MIXED.names[index]}')")
    assert message in error.message
    assert error.details["tensor"] == MIXED.names[index]


def test_one_tensor_refused_for_mixed_schema() -> None:
    tensor = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 1, 3]}
    error = refused({"inputs": [tensor]}, MIXED)
    assert "cannot carry input 'city' (kind string, which takes BYTES)" in error.message
    assert "send one tensor per input instead" in error.message


# -- responses ---------------------------------------------------------------------------


def test_metadata_numeric_classifier() -> None:
    meta = model_metadata("cancer", 3, NUMERIC, classes=[np.int64(0), np.int64(1)])
    assert meta["name"] == "cancer" and meta["versions"] == ["3"]
    assert meta["platform"] == "mlrelease"
    assert meta["inputs"] == [
        {
            "name": "input-0",
            "datatype": "FP64",
            "shape": [-1, 30],
            "parameters": {"inputs": list(NAMES)},
        }
    ]
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {
            "name": "predict_proba",
            "datatype": "FP64",
            "shape": [-1, 2],
            "parameters": {"classes": [0, 1]},
        },
    ]
    assert orjson.loads(orjson.dumps(meta)) == meta


def test_metadata_mixed_regressor() -> None:
    meta = model_metadata("price", 1, MIXED, classes=None, platform="sklearn")
    assert meta["platform"] == "sklearn"
    assert meta["inputs"] == [
        {"name": "age", "datatype": "INT64", "shape": [-1]},
        {"name": "income", "datatype": "FP64", "shape": [-1]},
        {"name": "smoker", "datatype": "BOOL", "shape": [-1]},
        {"name": "city", "datatype": "BYTES", "shape": [-1]},
    ]
    assert meta["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    string_classes = model_metadata("m", 1, MIXED, classes=["no", "yes"])
    assert string_classes["outputs"][0]["datatype"] == "BYTES"
    orjson.dumps(string_classes)


def test_metadata_describes_what_parse_infer_takes() -> None:
    """Round trip: a request built from the metadata is accepted."""
    for schema, rows in (
        (NUMERIC, ROWS[:2]),
        (MIXED, [[41, 1.5, True, "Lyon"], [7, 2, False, "X"]]),
    ):
        meta = model_metadata("m", 1, schema, classes=None)
        inputs = []
        for tensor in meta["inputs"]:
            if tensor["shape"] == [-1, len(schema.names)]:
                inputs.append({**tensor, "shape": [2, len(schema.names)], "data": rows})
            else:
                j = schema.names.index(tensor["name"])
                inputs.append({**tensor, "shape": [2], "data": [r[j] for r in rows]})
        batch = infer({"inputs": inputs}, schema)
        assert batch.frame.shape == (2, len(schema.names))


def test_infer_response_classifier() -> None:
    body, _ = infer_response(
        "cancer", 3, "req-1", np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    )
    assert body == orjson.loads(orjson.dumps(body))
    assert body["model_name"] == "cancer" and body["model_version"] == "3"
    assert body["id"] == "req-1"
    predict, proba = body["outputs"]
    assert predict == {"name": "predict", "shape": [3], "datatype": "INT64", "data": [0, 1, 1]}
    assert proba["name"] == "predict_proba" and proba["shape"] == [3, 2]
    assert proba["datatype"] == "FP64"
    assert proba["data"] == [0.9, 0.1, 0.2, 0.8, 0.4, 0.6]


@pytest.mark.parametrize(
    ("predictions", "datatype", "data"),
    [
        (np.array([1.5, 2.0]), "FP64", [1.5, 2.0]),
        (np.array([1.5, 2.0], dtype=np.float32), "FP32", [1.5, 2.0]),
        (np.array([True, False]), "BOOL", [True, False]),
        (np.array(["no", "yes"]), "BYTES", ["no", "yes"]),
        (np.array(["no", "yes"], dtype=object), "BYTES", ["no", "yes"]),
        (np.array([np.int64(1), np.int64(0)], dtype=object), "INT64", [1, 0]),
        (np.array([1, 0], dtype=np.uint8), "UINT8", [1, 0]),
        (np.array([b"a", b"b"]), "BYTES", ["a", "b"]),
        (np.array([1, "a"], dtype=object), "BYTES", ["1", "a"]),
    ],
)
def test_infer_response_datatypes(predictions: np.ndarray, datatype: str, data: list[Any]) -> None:
    body, _ = infer_response("m", 1, "r", predictions, None)
    assert body["outputs"] == [
        {"name": "predict", "shape": [2], "datatype": datatype, "data": data}
    ]
    assert orjson.loads(orjson.dumps(body)) == body
    assert all(type(v) in (int, float, bool, str) for v in body["outputs"][0]["data"])


def test_datatype_of() -> None:
    assert datatype_of(np.dtype(np.int64)) == "INT64"
    assert datatype_of(np.dtype(np.float64)) == "FP64"
    assert datatype_of(np.dtype(bool)) == "BOOL"
    assert datatype_of(np.dtype(object)) == "BYTES"
    assert datatype_of(np.dtype("U5")) == "BYTES"


# -- robustness --------------------------------------------------------------------------


def random_scalar(rng: random.Random) -> Any:
    return rng.choice(
        [None, True, False, 0, 1, -3, 300, 2**64 - 1, rng.random(), "", "a", "1.5", "FP64"]
    )


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.6:
        return random_scalar(rng)
    if roll < 0.8:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["name", "shape", "datatype", "data", "parameters", "inputs", "id", "x"]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


DATATYPES = ["FP64", "FP32", "INT64", "INT8", "UINT8", "BOOL", "BYTES", "FP8", 3]


FITTING: dict[str, tuple[str, Callable[[random.Random], Any]]] = {  # kind -> (datatype, value)
    "float": ("FP64", lambda rng: rng.uniform(-10, 10)),
    "int": ("INT64", lambda rng: rng.randint(-5, 5)),
    "bool": ("BOOL", lambda rng: rng.random() < 0.5),
    "string": ("BYTES", lambda rng: rng.choice(["a", "Lyon", ""])),
}


def random_tensor(
    rng: random.Random, schema: InputSchema, n: int, column: int | None
) -> dict[str, Any]:
    """``column`` None: one [n, k] tensor; else the tensor for that input."""
    k = len(schema.names)
    name = rng.choice([*schema.names, "input-0", "x"])
    datatype: Any = rng.choice(DATATYPES)
    if column is None:
        shape: Any = [n, k]
        data: Any = [[rng.choice([rng.random(), rng.randint(0, 1)]) for _ in range(k)]] * n
    else:
        shape = rng.choice([[n], [n, 1]])
        datatype, value = FITTING[schema.kinds[column]]
        data = [value(rng) for _ in range(n)]
        if rng.random() < 0.3:
            datatype = rng.choice(DATATYPES)
        if data and rng.random() < 0.3:
            data[rng.randrange(n)] = random_scalar(rng)
    tensor: dict[str, Any] = {"name": name, "shape": shape, "datatype": datatype}
    tensor["data"] = data
    if rng.random() < 0.3:
        tensor[rng.choice(["shape", "data", "name", "parameters", "x"])] = random_value(rng)
    if rng.random() < 0.1:
        del tensor[rng.choice(list(tensor))]
    return tensor


def random_body(rng: random.Random, schema: InputSchema) -> bytes:
    roll = rng.random()
    if roll < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    if roll < 0.2:
        return orjson.dumps(random_value(rng))
    n = rng.randint(0, 4)
    if rng.random() < 0.5:
        inputs = [random_tensor(rng, schema, n, None)]
    else:
        inputs = [random_tensor(rng, schema, n, j) for j in range(len(schema.names))]
        for tensor, name in zip(inputs, schema.names, strict=True):
            if rng.random() < 0.8:
                tensor["name"] = name
    doc: dict[str, Any] = {"inputs": inputs}
    if rng.random() < 0.3:
        doc[rng.choice(["id", "parameters", "outputs", "x"])] = random_value(rng)
    raw = orjson.dumps(doc)
    if rng.random() < 0.1:
        cut = rng.randrange(len(raw))
        raw = raw[:cut] + bytes([rng.randrange(256)]) + raw[cut + 1 :]
    return raw


@pytest.mark.parametrize("schema", [NUMERIC, MIXED, ONE], ids=["numeric", "mixed", "one"])
def test_random_bodies_only_raise_the_three_errors(schema: InputSchema) -> None:
    rng = random.Random(7)
    outcomes = {"ok": 0, **{cls.__name__: 0 for cls in ALLOWED}}
    for _ in range(2000):
        body = random_body(rng, schema)
        try:
            batch = parse_infer(body, schema, max_rows=3)
        except ALLOWED as exc:
            assert type(exc) in ALLOWED, body
            orjson.dumps(exc.to_dict())
            outcomes[type(exc).__name__] += 1
            continue
        outcomes["ok"] += 1
        assert batch.frame.shape == (batch.rows, len(schema.names))
        assert list(batch.frame.columns) == list(schema.names)
        assert not batch.frame.isna().any().any()
    assert all(count > 0 for count in outcomes.values()), outcomes


# -- binary tensor data (the extension Triton's clients use by default) -------------------


@pytest.mark.parametrize("dtype", ["<f8", "<f4"])
def test_binary_matrix_equals_the_same_rows_as_json(dtype: str) -> None:
    values = np.array(ROWS, dtype=dtype)
    tensor = {"name": "input-0", "shape": [3, 30], "datatype": "FP64" if dtype == "<f8" else "FP32"}
    body, header = binary_body([(tensor, values.tobytes())], id="bin-1")
    batch = parse_infer(body, NUMERIC, max_rows=10, header_length=header)
    assert batch.request_id == "bin-1"
    expected = infer(matrix(values.tolist(), datatype=tensor["datatype"])).frame
    pd.testing.assert_frame_equal(batch.frame, expected)


def test_binary_and_json_tensors_mix_in_one_request() -> None:
    tensors = [
        ({"name": "age", "shape": [2], "datatype": "INT64"}, np.array([41, 7], "<i8").tobytes()),
        (
            {"name": "income", "shape": [2, 1], "datatype": "FP32"},
            np.array([52000.5, 0], "<f4").tobytes(),
        ),
        ({"name": "smoker", "shape": [2], "datatype": "BOOL"}, bytes([1, 0])),
    ]
    body, header = binary_body(tensors)
    doc = orjson.loads(body[:header])
    doc["inputs"].append(MIXED_TENSORS[3])  # city as JSON data
    header_bytes = orjson.dumps(doc)
    binary = body[header:]
    batch = parse_infer(header_bytes + binary, MIXED, max_rows=10, header_length=len(header_bytes))
    pd.testing.assert_frame_equal(batch.frame, infer({"inputs": MIXED_TENSORS}, MIXED).frame)


def binary_refused(body: bytes, header: int | None, schema: InputSchema = NUMERIC) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_infer(body, schema, max_rows=10, header_length=header)
    return caught.value


def test_binary_refusals_name_the_tensor_and_what_is_wrong() -> None:
    tensor = {"name": "input-0", "shape": [3, 30], "datatype": "FP64"}
    data = np.array(ROWS).tobytes()
    body, header = binary_body([(tensor, data)])
    assert "the body has" in binary_refused(body, len(body) + 1).message
    assert (
        "bytes of binary data follow the last tensor" in binary_refused(body + b"x", header).message
    )
    short, short_header = binary_body([(tensor, data[:-8])])
    assert "holds 90 values, but 'data' has 89" in binary_refused(short, short_header).message
    odd, odd_header = binary_body([(tensor, data[:-3])])
    assert "not a whole number of FP64 values" in binary_refused(odd, odd_header).message
    doc = orjson.loads(body[:header])
    doc["inputs"][0]["parameters"]["binary_data_size"] = len(data) + 8
    too_big = orjson.dumps(doc)
    error = binary_refused(too_big + data, len(too_big))
    assert type(error) is MalformedRequest and "only 720 bytes" in error.message
    without_header = binary_refused(body[:header], None)
    assert "needs the Inference-Header-Content-Length header" in without_header.message
    doc["inputs"][0]["data"] = ROWS
    assert (
        "both 'data' and parameters.binary_data_size"
        in binary_refused(orjson.dumps(doc), None).message
    )


def test_binary_nan_and_bad_text_are_refused_like_json_values() -> None:
    tensor = {"name": "input-0", "shape": [3, 30], "datatype": "FP64"}
    values = np.array(ROWS)
    values[1, 2] = np.nan
    body, header = binary_body([(tensor, values.tobytes())])
    error = binary_refused(body, header)
    assert type(error) is RequestError and "row 1" in error.message
    city = {"name": "city", "shape": [1], "datatype": "BYTES"}
    plan = {"name": "plan", "shape": [1], "datatype": "BYTES"}
    body, header = binary_body([(city, strings("Lyon")), (plan, b"\x02\x00\x00\x00\xff\xfe")])
    assert "BYTES element 0 is not UTF-8 text" in binary_refused(body, header, TEXT).message
    body, header = binary_body([(city, strings("Lyon")), (plan, b"\x09\x00\x00\x00ab")])
    assert "claims 9 bytes past the end" in binary_refused(body, header, TEXT).message


def test_binary_outputs_are_asked_for_all_or_by_name() -> None:
    tensor = {"name": "input-0", "shape": [3, 30], "datatype": "FP64", "data": ROWS}
    everything = infer({"inputs": [tensor], "parameters": {"binary_data_output": True}})
    assert everything.binary_outputs == {"predict", "predict_proba"}
    named = infer(
        {
            "inputs": [tensor],
            "outputs": [{"name": "predict_proba", "parameters": {"binary_data": True}}],
        }
    )
    assert named.binary_outputs == {"predict_proba"}
    assert infer({"inputs": [tensor]}).binary_outputs == frozenset()


def test_binary_outputs_hold_the_values_json_would() -> None:
    labels = np.array(["yes", "no", "yes"], dtype=object)
    proba = np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]])
    as_json, nothing = infer_response("m", 1, "r", labels, proba)
    content, binary = infer_response(
        "m", 1, "r", labels, proba, binary=frozenset({"predict", "predict_proba"})
    )
    assert nothing == b""
    label_output, proba_output = content["outputs"]
    assert "data" not in label_output and label_output["datatype"] == "BYTES"
    label_size = label_output["parameters"]["binary_data_size"]
    assert binary[:label_size] == strings("yes", "no", "yes")
    values = np.frombuffer(binary[label_size:], dtype="<f8")
    assert proba_output["parameters"]["binary_data_size"] == values.nbytes
    assert len(binary) == label_size + values.nbytes
    assert values.tolist() == as_json["outputs"][1]["data"]
