"""The API's contract, checked by walking its OpenAPI document, not a list of routes.

Every operation declares the role it needs (``x-min-role``), refuses a request
without a token (401) and one from a token a role too low (403), always in the
one JSON error shape.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter

from mlrelease.api import create_api
from mlrelease.api.security import GuardedRoute
from mlrelease.auth import Role
from mlrelease.client import Client

from ._setup import assert_error_shape
from .conftest import Api

# Values for path parameters, by schema type: any will do, the call never gets that far.
_SAMPLE = {"integer": "1", "string": "breast-cancer"}


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    # The schema does not depend on the store: build it once, for parametrisation.
    with Client.open(db="sqlite://", env={}) as client:
        schema = create_api(client).openapi()
    return [
        (method.upper(), path, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


OPERATIONS = _operations()


def _url(path: str, operation: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = _SAMPLE[parameter["schema"]["type"]]
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


# Viewer is the lowest role: there is no token one role below it.
ABOVE_VIEWER = [op for op in OPERATIONS if op[2].get("x-min-role") != Role.viewer.name]


def _ids(operations: list[tuple[str, str, dict[str, Any]]] = OPERATIONS) -> list[str]:
    return [f"{method} {path}" for method, path, _ in operations]


def test_the_walk_covers_every_route_of_the_api() -> None:
    assert len(OPERATIONS) >= 17
    assert len(ABOVE_VIEWER) >= 8
    assert all(path.startswith("/api/") for _, path, _ in OPERATIONS)


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=_ids())
def test_every_operation_declares_its_role_and_its_answers(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    assert operation.get("x-min-role") in Role.names()
    assert operation["security"] == [{"HTTPBearer": []}]
    responses = operation["responses"]
    success = next(status for status in responses if status.startswith("2"))
    assert responses[success]["content"]["application/json"]["schema"], "no response model"
    for status in ("401", "403", "422"):
        error_schema = responses[status]["content"]["application/json"]["schema"]
        assert error_schema == {"$ref": "#/components/schemas/ErrorOut"}


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=_ids())
def test_every_operation_refuses_a_request_without_a_token(
    bare_api: Api, method: str, path: str, operation: dict[str, Any]
) -> None:
    url = _url(path, operation)
    for headers in ({}, {"Authorization": "Bearer mlr_wrong"}, {"Authorization": "Basic eDp5"}):
        answer = bare_api.http.request(method, url, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
        assert_error_shape(answer.json(), "unauthorized")


@pytest.mark.parametrize(("method", "path", "operation"), ABOVE_VIEWER, ids=_ids(ABOVE_VIEWER))
def test_every_operation_refuses_a_token_one_role_too_low(
    bare_api: Api, method: str, path: str, operation: dict[str, Any]
) -> None:
    needed = Role.parse(operation["x-min-role"])
    below = Role(needed - 1)
    answer = bare_api.http.request(method, _url(path, operation), headers=bare_api.as_role(below))
    assert answer.status_code == 403, answer.text
    assert_error_shape(answer.json(), "forbidden")
    assert f"has role {below.name}; this needs {needed.name}" in answer.json()["error"]["message"]


def test_a_route_that_declares_no_role_is_refused_when_defined() -> None:
    router = APIRouter(route_class=GuardedRoute)

    def open_door() -> dict[str, str]:
        return {}

    with pytest.raises(TypeError, match="declares no minimum role"):
        router.add_api_route("/open", open_door)


def test_unknown_paths_and_methods_answer_in_the_error_shape(bare_api: Api) -> None:
    answer = bare_api.http.get("/api/nothing-here")
    assert answer.status_code == 404
    assert_error_shape(answer.json(), "not_found")
    answer = bare_api.http.put("/api/models")
    assert answer.status_code == 405
    assert_error_shape(answer.json(), "method_not_allowed")
