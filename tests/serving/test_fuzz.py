"""Fuzzing the data plane with schemathesis, from the app's own OpenAPI document.

Every operation of ``GET /openapi.json`` gets a bounded number of generated requests
(valid and invalid bodies, odd path parameters); each answer must not be a 5xx and
must be one the document declares (status code, content type, body schema).

The requests go through the fixture's Starlette ``TestClient`` rather than
``schemathesis.openapi.from_asgi``: the latter starts the app's lifespan itself and
keeps it running until the interpreter exits, which would leave this test's
watcher and prediction-log threads polling a store that teardown has removed.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from mlrelease.serving.app import ServeOptions
from mlrelease.serving.openapi import openapi_document

from .conftest import MODEL, AppFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def app(make_app: AppFactory) -> TestClient:
    return make_app(options=ServeOptions(batch_wait=0))


@pytest.fixture
def api_schema(app: TestClient) -> Any:
    response = app.get("/openapi.json")
    assert response.status_code == 200, response.text
    return schemathesis.openapi.from_dict(response.json())


schema = schemathesis.pytest.from_fixture("api_schema")


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis serialises for ``requests``; httpx wants raw bodies as ``content``."""
    kwargs = dict(kwargs)
    data = kwargs.pop("data", None)
    if isinstance(data, str | bytes):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    kwargs.pop("cookies", None)  # the data plane reads no cookies
    return kwargs


def test_the_document_covers_every_route_so_the_fuzzer_reaches_them_all(app: TestClient) -> None:
    document = app.get("/openapi.json").json()
    assert document == openapi_document(MODEL)
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routed = {
        (route.path, method)
        for route in app.app.routes  # type: ignore[attr-defined]
        for method in route.methods - {"HEAD"}
    }
    assert routed - documented == {("/openapi.json", "GET")}
    assert documented <= routed


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(
    case: schemathesis.Case, app: TestClient
) -> None:
    kwargs = _httpx_kwargs(case.as_transport_kwargs(base_url="http://testserver"))
    response = app.request(**kwargs)
    import collections, json
    with open("/tmp/fuzzlog.txt", "a") as f:
        f.write(json.dumps([case.method, case.formatted_path, response.status_code, response.headers.get("content-type"), repr(kwargs.get("content", kwargs.get("json")))[:150]]) + "\n")
    case.validate_response(response, checks=CHECKS)
