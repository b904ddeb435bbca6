"""One Open Inference Protocol input tensor: reading it and checking its data.

``_tensor`` checks a raw ``{name, shape, datatype, data}`` object and flattens
its data, or reads it from the binary part of the body (the binary tensor data
extension: ``parameters.binary_data_size`` bytes, row-major, little-endian, BYTES
elements each a 4-byte length and that many bytes); ``_check_elements`` refuses
the first value its datatype cannot carry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from typing import Any, Final

import numpy as np

from mlrelease.errors import MalformedRequest, RequestError
from mlrelease.serving.oip import BINARY_DTYPE, DATATYPE_FAMILY, DATATYPE_RANGE
from mlrelease.serving.validation._cells import _NUMBER
from mlrelease.serving.validation._json import _describe, _q
from mlrelease.serving.validation._schema import InputSchema

TENSOR_KEYS: Final = ("name", "shape", "datatype", "data", "parameters")


_FAMILY_TAKES: Final = {
    "float": "numbers",
    "int": "whole numbers",
    "bool": "true/false",
    "bytes": "strings",
}


class BinaryData:
    """The body's bytes after the JSON header, handed out to tensors in input order."""

    def __init__(self, data: bytes | memoryview) -> None:
        self._data = memoryview(data)
        self._offset = 0

    def take(self, size: int, label: str, field: str) -> memoryview:
        if self._offset + size > len(self._data):
            raise MalformedRequest(
                f"{label}: binary_data_size {size}, but only {len(self._data) - self._offset} "
                "bytes of binary data are left after the earlier tensors",
                details={"field": field, "key": "parameters.binary_data_size"},
            )
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return chunk

    def check_used(self) -> None:
        left = len(self._data) - self._offset
        if left:
            raise MalformedRequest(
                f"{left} bytes of binary data follow the last tensor; the inputs' "
                "binary_data_size values must add up to the bytes after the JSON header",
                details={"field": "inputs", "unused_bytes": left},
            )


# A tensor's values, flattened: a list, or an array for binary floats.
_Flat = list[Any] | np.ndarray[Any, Any]


@dataclass(frozen=True)
class _Tensor:
    index: int
    name: str
    shape: list[int]
    datatype: str
    data: _Flat
    types: set[type]  # of the values in data

    @property
    def label(self) -> str:
        return f"inputs[{self.index}] ({_q(self.name)})"

    def refuse(self, message: str, **details: Any) -> RequestError:
        return RequestError(
            f"{self.label}: {message}",
            details={"field": f"inputs[{self.index}]", "tensor": self.name, **details},
        )


def _tensor(t: int, raw: Any, binary: BinaryData | None = None) -> _Tensor:
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
    size_sent = raw.get("parameters", {}).get("binary_data_size")
    if size_sent is not None:
        if "data" in raw:
            raise RequestError(
                f"{label}: both 'data' and parameters.binary_data_size; send one of them",
                details={**details, "key": "data"},
            )
        flat, types = _binary_values(binary, size_sent, datatype, label, details)
        return _sized(t, name, shape, datatype, flat, types, label, details)
    if "data" not in raw:
        raise RequestError(
            f"{label}: no 'data'; send the values as JSON 'data', or as binary data "
            "(parameters.binary_data_size and the Inference-Header-Content-Length header)",
            details={**details, "key": "data"},
        )
    data = raw["data"]
    if type(data) is not list:
        raise RequestError(
            f"{label}: 'data' must be a list (flat or nested), got {_describe(data)}",
            details={**details, "key": "data"},
        )
    flat, types = _flatten(data)
    return _sized(t, name, shape, datatype, flat, types, label, details)


def _sized(
    t: int,
    name: str,
    shape: list[int],
    datatype: str,
    flat: _Flat,
    types: set[type],
    label: str,
    details: dict[str, Any],
) -> _Tensor:
    size = math.prod(shape)
    if size != len(flat):
        raise RequestError(
            f"{label}: shape {shape} holds {size} values, but 'data' has {len(flat)}",
            details={**details, "key": "data", "shape": shape, "values": len(flat)},
        )
    return _Tensor(t, name, shape, datatype, flat, types)


def _binary_values(
    binary: BinaryData | None, size: Any, datatype: str, label: str, details: dict[str, Any]
) -> tuple[_Flat, set[type]]:
    """The tensor's values from its ``size`` bytes of the body's binary part."""
    key = {**details, "key": "parameters.binary_data_size"}
    if binary is None:
        raise MalformedRequest(
            f"{label}: parameters.binary_data_size needs the Inference-Header-Content-Length "
            "header (the length of the JSON part of the body)",
            details=key,
        )
    if type(size) is not int or size < 0:
        raise RequestError(
            f"{label}: parameters.binary_data_size must be a non-negative integer, "
            f"got {_describe(size)}",
            details=key,
        )
    chunk = binary.take(size, label, details["field"])
    if datatype == "BYTES":
        flat: list[Any] = _binary_strings(chunk, label, key)
        return flat, set(map(type, flat))
    dtype = BINARY_DTYPE[datatype]
    if size % dtype.itemsize:
        raise RequestError(
            f"{label}: binary_data_size {size} is not a whole number of {datatype} values "
            f"({dtype.itemsize} bytes each)",
            details=key,
        )
    values = np.frombuffer(chunk, dtype=np.uint8 if datatype == "BOOL" else dtype)
    if DATATYPE_FAMILY[datatype] == "float":  # checked as an array: see _one_tensor
        return values, ({float} if values.size else set())
    if datatype == "BOOL":
        if values.size and values.max() > 1:
            raise RequestError(
                f"{label}: BOOL binary data holds bytes other than 0 and 1", details=key
            )
        values = values.astype(bool)
    flat = values.tolist()
    return flat, ({type(flat[0])} if flat else set())


def _binary_strings(chunk: memoryview, label: str, key: dict[str, Any]) -> list[str]:
    """BYTES binary data: each element a 4-byte little-endian length and that many bytes."""
    data = bytes(chunk)
    values: list[str] = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise RequestError(
                f"{label}: BYTES binary data ends inside a length prefix", details=key
            )
        length = int.from_bytes(data[offset : offset + 4], "little")
        start, offset = offset + 4, offset + 4 + length
        if offset > len(data):
            raise RequestError(
                f"{label}: BYTES element {len(values)} claims {length} bytes past the end "
                "of the tensor's binary data",
                details=key,
            )
        try:
            values.append(data[start:offset].decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(
                f"{label}: BYTES element {len(values)} is not UTF-8 text", details=key
            ) from None
    return values


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
