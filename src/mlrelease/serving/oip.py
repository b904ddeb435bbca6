"""Open Inference Protocol (KServe v2) vocabulary and response bodies.

The request side lives in :func:`mlrelease.serving.validation.parse_infer`; this
module holds the datatype tables and builds the metadata and inference responses
as plain dicts of Python values, ready for ``orjson.dumps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from mlrelease.serving.validation import InputSchema

__all__ = [
    "DATATYPE_FAMILY",
    "DATATYPE_RANGE",
    "KIND_DATATYPE",
    "datatype_of",
    "infer_response",
    "model_metadata",
]

# OIP datatype -> what its JSON data holds: "float" | "int" | "bool" | "bytes"
DATATYPE_FAMILY: Final[dict[str, str]] = {
    "BOOL": "bool",
    "UINT8": "int",
    "UINT16": "int",
    "UINT32": "int",
    "UINT64": "int",
    "INT8": "int",
    "INT16": "int",
    "INT32": "int",
    "INT64": "int",
    "FP16": "float",
    "FP32": "float",
    "FP64": "float",
    "BYTES": "bytes",
}

# Integer datatype -> (lowest, highest) value it holds.
DATATYPE_RANGE: Final[dict[str, tuple[int, int]]] = {
    **{f"INT{b}": (-(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in (8, 16, 32, 64)},
    **{f"UINT{b}": (0, 2**b - 1) for b in (8, 16, 32, 64)},
}

# Schema kind -> the datatype the metadata advertises for it.
KIND_DATATYPE: Final[dict[str, str]] = {
    "float": "FP64",
    "int": "INT64",
    "bool": "BOOL",
    "category": "BYTES",
    "string": "BYTES",
    "datetime": "BYTES",
}

_NUMPY_DATATYPE: Final[dict[str, str]] = {
    "b1": "BOOL",
    "i1": "INT8",
    "i2": "INT16",
    "i4": "INT32",
    "i8": "INT64",
    "u1": "UINT8",
    "u2": "UINT16",
    "u4": "UINT32",
    "u8": "UINT64",
    "f2": "FP16",
    "f4": "FP32",
    "f8": "FP64",
}

# Datatype -> the numpy dtype of its binary data: little-endian, BOOL one byte (0 or 1).
# BYTES is not here: each element is a 4-byte little-endian length and that many bytes.
BINARY_DTYPE: Final = {datatype: np.dtype("<" + code) for code, datatype in _NUMPY_DATATYPE.items()}

SINGLE_INPUT_NAME: Final = "input-0"
OUTPUT_NAMES: Final = frozenset({"predict", "predict_proba"})


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The OIP datatype of a numpy dtype: int64 -> INT64, float64 -> FP64, bool -> BOOL,
    str / bytes / object / anything else -> BYTES."""
    return _NUMPY_DATATYPE.get(f"{dtype.kind}{dtype.itemsize}", "BYTES")


def model_metadata(
    name: str,
    version: int,
    schema: InputSchema,
    *,
    classes: Sequence[Any] | None,
    platform: str = "mlrelease",
) -> dict[str, Any]:
    """``GET /v2/models/{name}[/versions/{v}]``.

    A numeric schema is advertised as one FP64 tensor of shape ``[-1, n_inputs]``
    (its ``parameters.inputs`` lists the column names in order); a schema with
    text or date-time inputs as one tensor per input, shape ``[-1]``. Both
    layouts are accepted either way. ``classes`` (classifiers) adds
    ``predict_proba`` of shape ``[-1, n_classes]``, columns in ``classes`` order.
    """
    inputs: list[dict[str, Any]]
    if schema.numeric:
        inputs = [
            {
                "name": SINGLE_INPUT_NAME,
                "datatype": "FP64",
                "shape": [-1, len(schema.names)],
                "parameters": {"inputs": list(schema.names)},
            }
        ]
    else:
        inputs = [
            {"name": input_name, "datatype": KIND_DATATYPE[kind], "shape": [-1]}
            for input_name, kind in zip(schema.names, schema.kinds, strict=True)
        ]
    outputs: list[dict[str, Any]]
    if classes is None:
        outputs = [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    else:
        labels = [_plain(label) for label in classes]
        outputs = [
            {"name": "predict", "datatype": _labels_datatype(labels), "shape": [-1]},
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [-1, len(labels)],
                "parameters": {"classes": labels},
            },
        ]
    return {
        "name": name,
        "versions": [str(version)],
        "platform": platform,
        "inputs": inputs,
        "outputs": outputs,
    }


def infer_response(
    name: str,
    version: int,
    request_id: str,
    predictions: np.ndarray[Any, Any],
    proba: np.ndarray[Any, Any] | None,
    *,
    binary: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], bytes]:
    """``POST /v2/models/{name}/infer`` answer: ``predict`` and, given, ``predict_proba``.

    Outputs named in ``binary`` carry ``parameters.binary_data_size`` instead of
    ``data``; their bytes, in output order, are the second item (the binary tensor data
    extension: row-major, little-endian, BYTES elements each a 4-byte length first).
    """
    answers = [("predict", np.asarray(predictions))]
    if proba is not None:
        answers.append(("predict_proba", np.asarray(proba, dtype=np.float64)))
    outputs, chunks = [], []
    for output_name, values in answers:
        output, chunk = _output(output_name, values, binary=output_name in binary)
        outputs.append(output)
        chunks.append(chunk)
    content = {
        "model_name": name,
        "model_version": str(version),
        "id": request_id,
        "outputs": outputs,
    }
    return content, b"".join(chunks)


def _output(
    name: str, values: np.ndarray[Any, Any], *, binary: bool
) -> tuple[dict[str, Any], bytes]:
    """One output, and its binary data (empty unless ``binary``)."""
    if values.dtype.kind == "f" and values.dtype.itemsize > 8:
        values = values.astype(np.float64)  # long double has no OIP datatype
    shape = [int(d) for d in values.shape]
    flat = values.ravel()
    datatype = datatype_of(values.dtype)
    data: Any
    if values.dtype.kind in "biuf":
        data = flat
    elif values.dtype.kind == "O":
        datatype, data = _objects(flat.tolist())
    else:  # str, bytes, datetime, timedelta, complex, void
        data = [_text(item) for item in flat.tolist()]
    output: dict[str, Any] = {"name": name, "shape": shape, "datatype": datatype}
    if binary:
        chunk = _binary(data, datatype)
        output["parameters"] = {"binary_data_size": len(chunk)}
        return output, chunk
    output["data"] = data.tolist() if isinstance(data, np.ndarray) else data
    return output, b""


def _binary(data: Any, datatype: str) -> bytes:
    if datatype == "BYTES":
        encoded = [str(item).encode() for item in data]
        return b"".join(len(item).to_bytes(4, "little") + item for item in encoded)
    return np.ascontiguousarray(data, dtype=BINARY_DTYPE[datatype]).tobytes()


def _objects(items: list[Any]) -> tuple[str, list[Any]]:
    """An object array's values: one numeric/bool datatype if they all share one, else BYTES."""
    values = [_plain(item) for item in items]
    types = set(map(type, values))
    if types and types <= {bool}:
        return "BOOL", values
    if types and types <= {int} and all(-(2**63) <= v < 2**63 for v in values):
        return "INT64", values
    if (
        types
        and types <= {int, float}
        and all(type(v) is float or abs(v) < 2**1023 for v in values)
    ):
        return "FP64", [float(v) for v in values]
    return "BYTES", [_text(v) for v in values]


def _labels_datatype(labels: list[Any]) -> str:
    return _objects(labels)[0] if labels else "BYTES"


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)
