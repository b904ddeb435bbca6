"""The control plane mounted at /api inside the data-plane app that `mlrelease serve` builds."""

from __future__ import annotations

import re
from dataclasses import replace

from sklearn.datasets import load_breast_cancer
from starlette.routing import Mount
from starlette.testclient import TestClient

from mlrelease.serving.factory import ServeConfig, build_app

from ._setup import MODEL, assert_error_shape
from .conftest import Api


def _config(api: Api) -> ServeConfig:
    api.client.registry.set_alias(MODEL, "production", 1, actor="tester")
    return ServeConfig.from_settings(
        api.client.settings,
        model=MODEL,
        environment="production",
        log_predictions=False,
        poll_interval=3600,
    )


def test_the_api_answers_under_api_beside_the_data_plane(api: Api) -> None:
    app = build_app(_config(api))
    assert isinstance(app.routes[-1], Mount)  # after /predict: the hot path is unchanged
    row = [float(value) for value in load_breast_cancer().data[0]]
    with TestClient(app) as http:
        assert http.post("/predict", json={"instances": [row]}).status_code == 200
        answer = http.get("/api/whoami", headers=api.as_("alice"))
        assert answer.json() == {"name": "alice", "role": "approver"}
        refused = http.get(f"/api/models/{MODEL}")
        assert refused.status_code == 401
        assert_error_shape(refused.json(), "unauthorized")
        schema = http.get("/api/openapi.json").json()
        assert "/whoami" in schema["paths"] and schema["servers"] == [{"url": "/api"}]


def test_the_ui_answers_under_ui_with_the_same_tokens(api: Api) -> None:
    with TestClient(build_app(_config(api), ui_secret=b"k" * 32), follow_redirects=False) as http:
        assert http.get("/ui/").headers["location"] == "/ui/login?next=%2Fui%2F"
        page = http.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        login = http.post("/ui/login", data={"token": api.secrets["alice"], "csrf": csrf})
        assert login.status_code == 303
        overview = http.get("/ui/")
        assert overview.status_code == 200 and MODEL in overview.text
        assert http.get("/ui/static/style.css").status_code == 200


def test_the_api_can_be_left_out(api: Api) -> None:
    with TestClient(build_app(replace(_config(api), control_plane=False))) as http:
        assert http.get("/api/whoami", headers=api.as_("alice")).status_code == 404
        assert http.get("/ui/").status_code == 404
