""":func:`parse_infer`: the Open Inference Protocol (v2) request.

Checks the request's top-level keys and picks the layout: one ``[n, k]`` tensor
holding every input, or one tensor per input; both end in a checked frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from mlrelease.errors import MalformedRequest, RequestError
from mlrelease.serving.oip import DATATYPE_FAMILY, OUTPUT_NAMES
from mlrelease.serving.validation._cells import (
    Where,
    _check_row_count,
    _column,
    _data_from_rows,
    _fits_schema,
)
from mlrelease.serving.validation._json import _describe, _list, _load_object, _q
from mlrelease.serving.validation._schema import NUMERIC_KINDS, Batch, InputSchema
from mlrelease.serving.validation._tensor import BinaryData, _check_elements, _Tensor, _tensor

if TYPE_CHECKING:
    import pandas as pd

INFER_KEYS: Final = ("id", "parameters", "inputs", "outputs")
_INFER_CHOICES: Final = ", ".join(repr(key) for key in INFER_KEYS)


def parse_infer(
    body: bytes, schema: InputSchema, *, max_rows: int, header_length: int | None = None
) -> Batch:
    """An Open Inference Protocol (v2) request, as KServe / Triton / MLServer clients send it.

    Two layouts: one tensor (any name) of shape ``[n, n_inputs]``; or one tensor
    per input, named as the schema's inputs, each of shape ``[n]`` or ``[n, 1]``.
    ``parameters`` and ``outputs`` are checked for shape and otherwise ignored.
    ``header_length`` (the ``Inference-Header-Content-Length`` header) splits the
    body into its JSON part and the binary data of tensors that send
    ``parameters.binary_data_size`` instead of ``data``.
    """
    binary: BinaryData | None = None
    if header_length is not None:
        if not 0 <= header_length <= len(body):
            raise MalformedRequest(
                f"Inference-Header-Content-Length is {header_length}, but the body has "
                f"{len(body)} bytes; it must be the length of the JSON part of the body",
                details={"field": "Inference-Header-Content-Length"},
            )
        binary = BinaryData(memoryview(body)[header_length:])  # no copy of the tensors
        body = body[:header_length]
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
    tensors = [_tensor(t, raw, binary) for t, raw in enumerate(inputs)]
    if binary is not None:
        binary.check_used()
    if len(tensors) == 1 and len(schema.names) > 1:
        frame, n = _one_tensor(tensors[0], schema, max_rows)
    else:
        frame, n = _tensor_per_input(tensors, schema, max_rows)
    return Batch(
        data=frame,
        rows=n,
        request_id=request_id,
        schema=schema,
        binary_outputs=_binary_outputs(doc),
    )


def _binary_outputs(doc: dict[str, Any]) -> frozenset[str]:
    """Outputs the client wants as binary data: every one (``parameters.binary_data_output``)
    or those it names with ``parameters.binary_data`` (the binary tensor data extension)."""
    if doc.get("parameters", {}).get("binary_data_output") is True:
        return OUTPUT_NAMES
    return frozenset(
        out["name"]
        for out in doc.get("outputs") or ()
        if type(out.get("parameters")) is dict and out["parameters"].get("binary_data") is True
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


_Data: TypeAlias = "pd.DataFrame | np.ndarray[Any, Any]"


def _one_tensor(tensor: _Tensor, schema: InputSchema, max_rows: int) -> tuple[_Data, int]:
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
    if isinstance(flat, np.ndarray):  # binary floats: no Python values unless a check fails
        matrix = flat.astype(np.float64).reshape(n, k)
        if schema.numeric and _fits_schema(matrix, schema):
            return matrix, n
        flat = flat.tolist()
    rows = [flat[i * k : (i + 1) * k] for i in range(n)]

    def where(i: int, j: int) -> tuple[str, dict[str, Any]]:
        name = schema.names[j]
        return (
            f"{tensor.label} row {i}, column {j} ({_q(name)})",
            {"field": f"inputs[{tensor.index}]", "tensor": tensor.name, "row": i, "column": name},
        )

    return _data_from_rows(rows, schema, where, types=tensor.types, flat=flat), n


def _tensor_per_input(
    tensors: list[_Tensor], schema: InputSchema, max_rows: int
) -> tuple[_Data, int]:
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
        data = tensor.data.tolist() if isinstance(tensor.data, np.ndarray) else tensor.data
        column = _column(data, kind, not schema.numeric, _at_tensor(tensor, name), tensor.types)
        arrays.append(column)
    if schema.numeric:
        return np.column_stack(arrays).astype(np.float64, copy=False), n
    import pandas as pd  # not for a numeric schema, whose rows stay a matrix

    return pd.DataFrame(dict(zip(schema.names, arrays, strict=True))), n


def _at_tensor(tensor: _Tensor, name: str) -> Where:
    def where(i: int, j: int) -> tuple[str, dict[str, Any]]:
        return (
            f"{tensor.label} row {i}",
            {"field": f"inputs[{tensor.index}]", "tensor": tensor.name, "row": i, "column": name},
        )

    return where
