"""The data plane's OpenAPI document, written out by hand to match what the routes accept.

It is what clients and fuzzers (schemathesis, in the test suite) read; the test
suite checks every route against it.
"""

from __future__ import annotations

from typing import Any

from mlrelease import __version__

__all__ = ["openapi_document"]

_ERROR = {
    "description": "The one error shape",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message", "details"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "details": {"type": "object"},
                        },
                    }
                },
            }
        }
    },
}
_ROW = {"type": "array", "items": {}}
_PREDICT_BODY = {
    "type": "object",
    "description": "Exactly one of features (one row), instances (rows) or records (objects).",
    "properties": {
        "features": _ROW,
        "instances": {"type": "array", "items": {}},
        "records": {"type": "array", "items": {"type": "object"}},
    },
}
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string"},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}
_INFER_BODY = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {"type": "array", "items": {"type": "object"}},
    },
}
_FEEDBACK_BODY = {
    "type": "object",
    "description": "{request_id, label} or {request_id, labels} or {feedback: [...]}",
}
_CLIENT_ERRORS = {str(code): _ERROR for code in (400, 401, 404, 413, 422, 429, 503)}


def _json_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


def _post(summary: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": _json_response("OK"), **_CLIENT_ERRORS},
        }
    }


def _get(summary: str, *, can_fail: tuple[int, ...] = ()) -> dict[str, Any]:
    errors = {str(code): _ERROR for code in can_fail}
    return {"get": {"summary": summary, "responses": {"200": _json_response("OK"), **errors}}}


def openapi_document(model: str) -> dict[str, Any]:
    name_parameter = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}

    def with_name(operation: dict[str, Any]) -> dict[str, Any]:
        for method in operation.values():
            method["parameters"] = [name_parameter]
        return operation

    ready: dict[str, Any] = {
        "get": {
            "summary": "Ready once every version the server needs is loaded and verified",
            "responses": {"200": _json_response("ready"), "503": _json_response("not ready")},
        }
    }
    metrics = {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "text format", "content": {"text/plain": {}}}},
        }
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": f"mlrelease data plane: {model}", "version": __version__},
        "paths": {
            "/predict": _post("Predict one row, a batch of rows, or records", _PREDICT_BODY),
            "/feedback": _post("Ground-truth labels by request id", _FEEDBACK_BODY),
            "/metrics": metrics,
            "/v2": _get("Server metadata (Open Inference Protocol)"),
            "/v2/health/live": _get("Liveness"),
            "/v2/health/ready": ready,
            "/v2/models/{name}": with_name(_get("Model metadata", can_fail=(404, 503))),
            "/v2/models/{name}/ready": with_name(
                {"get": {**ready["get"], "responses": {**ready["get"]["responses"], "404": _ERROR}}}
            ),
            "/v2/models/{name}/infer": with_name(
                _post("Inference (Open Inference Protocol)", _INFER_BODY)
            ),
        },
    }
