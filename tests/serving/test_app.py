"""The data plane in-process: predict, OIP, errors, metrics, split, hot swap, feedback, guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from mlrelease.serving.app import ServeOptions
from mlrelease.serving.guard import Guard, RateLimit
from mlrelease.traffic import set_traffic

from .conftest import MODEL, AppFactory, Served


def _row(served: Served, index: int = 0) -> list[float]:
    return [float(value) for value in served.X.iloc[index]]


def test_predict_one_row_returns_prediction_probabilities_version_and_request_id(
    served: Served, make_app: AppFactory
) -> None:
    app = make_app()
    response = app.post(
        "/predict", json={"features": _row(served)}, headers={"X-Request-ID": "abc"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 1 and body["role"] == "stable" and body["request_id"] == "abc"
    assert body["predictions"] in ([0], [1]) and len(body["probabilities"][0]) == 2
    assert body["classes"] == [0, 1]
    assert response.headers["x-request-id"] == "abc" and response.headers["x-model-version"] == "1"
    assert len(app.post("/predict", json={"features": _row(served)}).headers["x-request-id"]) == 32


def test_batches_and_records_are_accepted(served: Served, make_app: AppFactory) -> None:
    app = make_app()
    rows = [_row(served, i) for i in range(5)]
    assert len(app.post("/predict", json={"instances": rows}).json()["predictions"]) == 5
    records = served.X.iloc[:3].to_dict("records")
    assert len(app.post("/predict", json={"records": records}).json()["predictions"]) == 3


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (b"{not json", 400, ""),
        (b'{"features": [1, 2, 3]}', 422, "30"),
        (b'{"instances": []}', 422, ""),
        (b'{"unknown": 1}', 422, "unknown"),
    ],
)
def test_bad_requests_get_a_4xx_in_the_one_error_shape(
    make_app: AppFactory, body: bytes, status: int, text: str
) -> None:
    response = make_app().post(
        "/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and text in error["message"]
    assert "Traceback" not in response.text


def test_bodies_and_batches_over_the_limits_get_413(served: Served, make_app: AppFactory) -> None:
    app = make_app(options=ServeOptions(max_rows=2, max_body_bytes=20_000))
    rows = [_row(served, i) for i in range(3)]
    assert app.post("/predict", json={"instances": rows}).status_code == 413
    assert app.post("/predict", content=b"[" + b"1," * 20_000 + b"1]").status_code == 413


def test_open_inference_protocol_endpoints(served: Served, make_app: AppFactory) -> None:
    app = make_app()
    assert app.get("/v2/health/live").json() == {"live": True}
    assert app.get("/v2/health/ready").json()["ready"] is True
    metadata = app.get(f"/v2/models/{MODEL}").json()
    assert metadata["name"] == MODEL and metadata["inputs"]
    rows = [_row(served, i) for i in range(2)]
    request = {
        "id": "r-1",
        "inputs": [{"name": "input-0", "shape": [2, 30], "datatype": "FP64", "data": rows}],
    }
    answer = app.post(f"/v2/models/{MODEL}/infer", json=request)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == "r-1" and body["model_version"] == "1"
    assert {output["name"] for output in body["outputs"]} >= {"predict"}
    assert app.get("/v2/models/other").status_code == 404
    assert app.post("/v2/models/other/infer", json=request).status_code == 404


def test_infer_takes_binary_tensor_data_as_triton_clients_send_it(
    served: Served, make_app: AppFactory
) -> None:
    app = make_app()
    assert "binary_tensor_data" in app.get("/v2").json()["extensions"]
    rows = np.array([_row(served, i) for i in range(4)], dtype="<f4")
    tensor = {"name": "input-0", "shape": [4, 30], "datatype": "FP32"}
    as_json = app.post(
        f"/v2/models/{MODEL}/infer", json={"inputs": [{**tensor, "data": rows.tolist()}]}
    )
    header = orjson.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": rows.nbytes}}]})
    as_binary = app.post(
        f"/v2/models/{MODEL}/infer",
        content=header + rows.tobytes(),
        headers={
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(header)),
        },
    )
    assert as_binary.status_code == 200, as_binary.text
    assert as_binary.json()["outputs"] == as_json.json()["outputs"]
    ask = orjson.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": rows.nbytes}}],
            "parameters": {"binary_data_output": True},
        }
    )
    binary_out = app.post(
        f"/v2/models/{MODEL}/infer",
        content=ask + rows.tobytes(),
        headers={"inference-header-content-length": str(len(ask))},
    )
    assert binary_out.status_code == 200, binary_out.text
    length = int(binary_out.headers["inference-header-content-length"])
    outputs = orjson.loads(binary_out.content[:length])["outputs"]
    assert [out["name"] for out in outputs] == ["predict", "predict_proba"]
    data = binary_out.content[length:]
    predict_size = outputs[0]["parameters"]["binary_data_size"]
    predicted = np.frombuffer(data[:predict_size], dtype="<i8").tolist()
    assert predicted == as_json.json()["outputs"][0]["data"]
    assert len(data) == predict_size + outputs[1]["parameters"]["binary_data_size"]
    bad = app.post(
        f"/v2/models/{MODEL}/infer",
        content=header + rows.tobytes(),
        headers={"inference-header-content-length": "twelve"},
    )
    assert bad.status_code == 400
    assert "Inference-Header-Content-Length" in bad.json()["error"]["message"]


def test_metrics_count_requests_by_version_role_and_status(
    served: Served, make_app: AppFactory
) -> None:
    app = make_app()
    app.post("/predict", json={"features": _row(served)})
    app.post("/predict", json={"features": [1]})
    text = app.get("/metrics").text
    labels = 'env="production",model="breast-cancer",role="stable"'
    assert f'mlrelease_requests_total{{{labels},status="200",version="1"}} 1.0' in text
    assert 'status="422"' in text
    assert "mlrelease_request_duration_seconds_bucket" in text
    assert f'mlrelease_model_info{{{labels},version="1"}} 1.0' in text
    assert "mlrelease_batch_size_bucket" in text


def test_the_canary_weight_decides_who_answers_and_a_routing_key_is_sticky(
    served: Served, make_app: AppFactory
) -> None:
    app = make_app()
    store = served.client.store
    for weight, expected in ((100, {2}), (0, {1})):
        set_traffic(store, MODEL, "production", canary=2, canary_weight=weight, actor="t")
        app.runtime.refresh()  # type: ignore[attr-defined]
        versions = {
            app.post("/predict", json={"features": _row(served)}).json()["version"]
            for _ in range(20)
        }
        assert versions == expected
    set_traffic(store, MODEL, "production", canary=2, canary_weight=50, actor="t")
    app.runtime.refresh()  # type: ignore[attr-defined]
    sticky = {
        app.post(
            "/predict", json={"features": _row(served)}, headers={"X-Routing-Key": "user-7"}
        ).json()["version"]
        for _ in range(20)
    }
    assert len(sticky) == 1


def test_a_shadow_is_scored_and_logged_but_never_answers(
    served: Served, make_app: AppFactory
) -> None:
    from mlrelease.serving.feedback import labelled_predictions

    app = make_app()
    set_traffic(
        served.client.store,
        MODEL,
        "production",
        canary=None,
        canary_weight=0,
        shadow=2,
        shadow_share=100,
        actor="t",
    )
    app.runtime.refresh()  # type: ignore[attr-defined]
    for _ in range(5):
        body = app.post("/predict", json={"features": _row(served)}).json()
        assert body["version"] == 1 and body["role"] == "stable"
    app.predlog.flush()  # type: ignore[attr-defined]
    rows = labelled_predictions(served.client.store, MODEL, "production")
    assert {row["role"] for row in rows} == {"stable", "shadow"}


def test_hot_swap_follows_the_alias_and_refuses_a_broken_version(
    served: Served, make_app: AppFactory
) -> None:
    app = make_app()
    registry = served.client.registry
    registry.set_alias(MODEL, "production", 2, actor="t")
    assert app.runtime.refresh() is True  # type: ignore[attr-defined]
    assert app.post("/predict", json={"features": _row(served)}).json()["version"] == 2

    broken = served.register(5.0)
    path = Path(registry.version(MODEL, broken).artifact_uri.removeprefix("file://"))
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-10])
    registry.set_alias(MODEL, "production", broken, actor="t")
    assert app.runtime.refresh() is False  # type: ignore[attr-defined]
    assert app.post("/predict", json={"features": _row(served)}).json()["version"] == 2
    assert app.get("/v2/health/ready").json()["ready"] is True
    assert "mlrelease_model_load_failures_total" in app.get("/metrics").text


def test_feedback_joins_labels_to_served_requests(served: Served, make_app: AppFactory) -> None:
    app = make_app()
    request_id = app.post("/predict", json={"features": _row(served)}).json()["request_id"]
    response = app.post("/feedback", json={"request_id": request_id, "label": 1})
    assert response.status_code == 200, response.text
    missing = app.post("/feedback", json={"request_id": "nope", "label": 1})
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]


def test_nothing_live_means_not_ready_and_503(served: Served, make_app: AppFactory) -> None:
    app = make_app("staging")
    ready = app.get("/v2/health/ready")
    assert ready.status_code == 503 and "staging" in ready.json()["reason"]
    assert app.post("/predict", json={"features": _row(served)}).status_code == 503


def test_tokens_and_rate_limits_protect_the_data_plane(
    served: Served, make_app: AppFactory
) -> None:
    guard = Guard.from_tokens(["s3cret"], RateLimit(per_second=0.001, burst=2))
    app = make_app(options=ServeOptions(guard=guard))
    body = {"features": _row(served)}
    assert app.post("/predict", json=body).status_code == 401
    assert (
        app.post("/predict", json=body, headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    good = {"Authorization": "Bearer s3cret"}
    assert [app.post("/predict", json=body, headers=good).status_code for _ in range(2)] == [
        200,
        200,
    ]
    limited = app.post("/predict", json=body, headers=good)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert app.get("/v2/health/live").status_code == 200  # health stays open


def test_a_model_that_fails_is_a_500_counted_and_logged_for_the_release_analysis(
    served: Served, make_app: AppFactory
) -> None:
    from sqlalchemy import select

    from mlrelease.store import tables

    broken = served.client.register_model(  # math.sqrt cannot take a DataFrame: TypeError
        MODEL, "math:sqrt", task="classification", sample_input=served.X[:5], gates=[]
    )
    served.client.registry.set_alias(MODEL, "staging", broken.version, actor="tester")
    app = make_app("staging")
    answer = app.post("/predict", json={"features": served.X.iloc[0].tolist()})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "model_failed"
    assert "matches its signature" in answer.json()["error"]["message"]
    text = app.get("/metrics").text
    assert f'status="500",version="{broken.version}"}} 1.0' in text
    app.predlog.flush()  # type: ignore[attr-defined]
    with served.client.store.read() as connection:
        statuses = connection.execute(
            select(tables.predictions.c.status).where(tables.predictions.c.environment == "staging")
        ).scalars()
        assert list(statuses) == [500]
