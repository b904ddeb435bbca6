"""Fuzzing the data plane: schemathesis from the OpenAPI document, and near-valid bodies.

1. schemathesis reads ``GET /openapi.json`` and sends a bounded number of generated
   requests (valid and invalid bodies, odd path parameters, other methods) to every
   operation; each answer must not be a 5xx and must be one the document declares
   (status code, content type, body schema). For the ``/v2/models/{name}/...``
   operations each case is also sent with ``name`` set to the served model, so that
   generated bodies reach the inference parser rather than stopping at the 404.
2. Hypothesis builds bodies close to valid ones (30 features, records with the real
   column names, OIP tensors of shape [n, 30]), which a schema-driven generator
   almost never reaches; each answer must be a 200 or a 4xx in the one error shape.

The requests go through the fixture's Starlette ``TestClient`` rather than
``schemathesis.openapi.from_asgi``: the latter starts the app's lifespan itself and
keeps it running until the interpreter exits, which would leave this test's
watcher and prediction-log threads polling a store that teardown has removed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sklearn.datasets import load_breast_cancer
from starlette.testclient import TestClient

from mlrelease.serving.app import ServeOptions
from mlrelease.serving.oip import DATATYPE_FAMILY
from mlrelease.serving.openapi import openapi_document

from .conftest import MODEL, AppFactory, Served

# On a failing example Hypothesis imports libcst to suggest a patch, and libcst's
# import warns; under -W error that would hide the failure behind an INTERNALERROR.
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # nothing written into the working directory
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def app(make_app: AppFactory) -> TestClient:
    return make_app(options=ServeOptions(batch_wait=0))


# -- 1. schemathesis ------------------------------------------------------------------


@pytest.fixture
def api_schema(app: TestClient) -> Any:
    response = app.get("/openapi.json")
    assert response.status_code == 200, response.text
    return schemathesis.openapi.from_dict(response.json())


schema = schemathesis.pytest.from_fixture("api_schema")


def _send(app: TestClient, case: schemathesis.Case) -> Any:
    """Send a case through the TestClient: schemathesis serialises for ``requests``,
    httpx wants a raw body as ``content``."""
    kwargs = dict(case.as_transport_kwargs(base_url="http://testserver"))
    data = kwargs.pop("data", None)
    if isinstance(data, str | bytes):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    kwargs.pop("cookies", None)  # the data plane reads no cookies
    return app.request(**kwargs)


def test_the_document_covers_every_route_so_the_fuzzer_reaches_them_all(app: TestClient) -> None:
    document = app.get("/openapi.json").json()
    assert document == openapi_document(MODEL)
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    routed = {
        (route.path, method)
        for route in app.app.routes  # type: ignore[attr-defined]
        for method in route.methods - {"HEAD"}
    }
    assert routed - documented == {("/openapi.json", "GET")}
    assert documented <= routed


@schema.parametrize()
@FUZZ
def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(
    case: schemathesis.Case, app: TestClient
) -> None:
    case.validate_response(_send(app, case), checks=CHECKS)
    if "name" in case.path_parameters and case.method.upper() == case.operation.method.upper():
        pinned = case.operation.Case(
            method=case.method,
            path_parameters={**case.path_parameters, "name": MODEL},
            headers=dict(case.headers or {}),
            query=case.query,
            body=case.body,
            media_type=case.media_type,
        )
        pinned.validate_response(_send(app, pinned), checks=CHECKS)


# -- 2. near-valid bodies -----------------------------------------------------------------

NAMES: list[str] = [str(name) for name in load_breast_cancer().feature_names]
K = len(NAMES)

# Magnitudes up to 1e150 keep x @ coef finite; larger ones are the subject of
# test_finite_but_extreme_values_never_get_a_500 below.
finite = st.floats(min_value=-1e150, max_value=1e150, allow_nan=False, allow_infinity=False)
junk = st.one_of(
    st.integers(min_value=-(2**65), max_value=2**65),  # beyond 64 bits: a 400 from orjson
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.lists(finite, max_size=2),
    st.just({}),
)
cell = st.one_of(finite, junk)
row = st.one_of(
    st.lists(finite, min_size=K, max_size=K),
    st.lists(cell, min_size=K - 1, max_size=K + 1),
)


@st.composite
def record(draw: st.DrawFn) -> dict[str, Any]:
    values = dict(zip(NAMES, draw(st.lists(cell, min_size=K, max_size=K)), strict=True))
    if draw(st.booleans()):
        values = dict(zip(NAMES, draw(st.lists(finite, min_size=K, max_size=K)), strict=True))
    if draw(st.integers(0, 4)) == 0:
        values.pop(draw(st.sampled_from(NAMES)))
    if draw(st.integers(0, 4)) == 0:
        values[draw(st.text(max_size=8))] = draw(cell)
    return values


predict_body = st.one_of(
    st.fixed_dictionaries({"features": row}),
    st.fixed_dictionaries({"instances": st.lists(st.one_of(row, record()), max_size=3)}),
    st.fixed_dictionaries({"records": st.lists(record(), max_size=3)}),
    st.dictionaries(st.sampled_from(["features", "instances", "records", "x"]), row, max_size=3),
)
datatype = st.sampled_from([*DATATYPE_FAMILY, "FP128", "fp64", ""])


@st.composite
def one_tensor(draw: st.DrawFn) -> dict[str, Any]:
    """Layout (a): one tensor [n, 30], flat or nested; about half of them valid."""
    if draw(st.booleans()):
        n = draw(st.integers(1, 3))
        values = draw(st.lists(finite, min_size=n * K, max_size=n * K))
        shape: list[int] = [n, K]
        kind = draw(st.sampled_from(["FP64", "FP32", "FP16"]))
    else:
        n = draw(st.integers(0, 3))
        values = draw(st.lists(st.one_of(finite, cell), min_size=n * K, max_size=n * K))
        shape = draw(st.one_of(st.just([n, K]), st.lists(st.integers(0, 2 * K), max_size=3)))
        kind = draw(datatype)
    data: list[Any] = values
    if draw(st.booleans()):
        data = [values[i * K : (i + 1) * K] for i in range(n)]
    return {"name": draw(st.text(max_size=6)), "shape": shape, "datatype": kind, "data": data}


@st.composite
def tensor_per_input(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Layout (b): one tensor per input, [n] or [n, 1]; about half of the sets valid."""
    n = draw(st.integers(1, 2))
    valid = draw(st.booleans())
    value = finite if valid else st.one_of(finite, finite, finite, cell)
    tensors = [
        {
            "name": name,
            "shape": draw(st.sampled_from([[n], [n, 1]])),
            "datatype": "FP64" if valid else draw(st.sampled_from(["FP64", "FP32", "INT64"])),
            "data": draw(st.lists(value, min_size=n, max_size=n)),
        }
        for name in NAMES
    ]
    if not valid and draw(st.booleans()):
        tensors.pop(draw(st.integers(0, K - 1)))
    elif not valid:
        tensors[0]["name"] = draw(st.text(max_size=6))
    return tensors


infer_body = st.one_of(
    st.builds(lambda tensor: {"inputs": [tensor]}, one_tensor()),
    st.builds(lambda tensors: {"inputs": tensors}, tensor_per_input()),
    st.fixed_dictionaries(
        {"inputs": st.lists(one_tensor(), max_size=2)},
        optional={
            "id": st.one_of(st.text(max_size=8), st.integers()),
            "parameters": st.one_of(st.just({}), st.integers()),
            "outputs": st.one_of(st.just([{"name": "predict"}]), st.just([1]), st.text()),
        },
    ),
)
header_text = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128
)


def _check_answer(response: Any, rows: int | None = None) -> None:
    event(f"status {response.status_code}")  # shown by --hypothesis-show-statistics
    assert response.status_code in (200, 400, 413, 422), (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if response.status_code != 200:
        assert set(body["error"]) == {"code", "message", "details"}, body
        assert "Traceback" not in response.text
        return
    assert response.headers["x-model-version"] == "1"
    if rows is not None:
        assert len(body["predictions"]) == rows == len(body["probabilities"])
        assert all(p is not None for pair in body["probabilities"] for p in pair), body


def _rows(body: dict[str, Any]) -> int | None:
    if set(body) == {"features"}:
        return 1
    values = next(iter(body.values()), None) if len(body) == 1 else None
    return len(values) if isinstance(values, list) else None


@FUZZ
@given(body=predict_body, request_id=header_text, routing_key=header_text)
def test_near_valid_predict_bodies_get_a_200_or_a_4xx(
    app: TestClient, body: dict[str, Any], request_id: str, routing_key: str
) -> None:
    headers = {"X-Request-ID": request_id, "X-Routing-Key": routing_key}
    response = app.post("/predict", content=json.dumps(body).encode(), headers=headers)
    _check_answer(response, _rows(body))
    if response.status_code == 200:
        assert response.json()["request_id"] == request_id


@FUZZ
@given(body=infer_body)
def test_near_valid_inference_requests_get_a_200_or_a_4xx(
    app: TestClient, body: dict[str, Any]
) -> None:
    response = app.post(f"/v2/models/{MODEL}/infer", content=json.dumps(body).encode())
    _check_answer(response)
    if response.status_code == 200:
        answer = response.json()
        assert answer["model_name"] == MODEL and answer["model_version"] == "1"


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_arbitrary_bytes_never_get_a_5xx(app: TestClient, body: bytes) -> None:
    for path in ("/predict", f"/v2/models/{MODEL}/infer", "/feedback"):
        response = app.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code in (400, 404, 413, 422), (path, body, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "values",
    [[1e308] * K, [1e308, -1e308] * (K // 2), [-1e300] * K],
    ids=["all-1e308", "alternating-1e308", "all-minus-1e300"],
)
def test_finite_but_extreme_values_never_get_a_500(
    served: Served, app: TestClient, values: list[float]
) -> None:
    """Finite numbers pass validation, but x @ coef overflows inside scikit-learn.

    numpy reports that as a RuntimeWarning; ``predict_now`` does not contain it, so
    wherever warnings are errors (this suite's ``-W error``, ``PYTHONWARNINGS=error``)
    the request ends in the generic 500. Elsewhere the answer is a 200 whose
    probabilities may be NaN (sent as null).
    """
    predict = app.post("/predict", json={"features": values})
    assert predict.status_code in (200, 422), predict.text
    tensor = {"name": "x", "shape": [1, K], "datatype": "FP64", "data": values}
    infer = app.post(f"/v2/models/{MODEL}/infer", json={"inputs": [tensor]})
    assert infer.status_code in (200, 422), infer.text
