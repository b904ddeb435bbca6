"""Every UI route: closed to anonymous visitors, role-checked, CSRF-checked; output escaped."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Mount, Route

from mlrelease.auth import Role, Tokens
from mlrelease.client import Client
from mlrelease.errors import ConfigError
from mlrelease.ui import create_ui
from mlrelease.ui.routing import COOKIE, UiRoute

from ._scene import MODEL, Scene
from .conftest import KEY, Ui, csrf

# Open to anyone by design: the login form and the stylesheet and script it needs.
PUBLIC = {"/login", "/logout", "/static"}
BY_ROLE = {Role.viewer: "viewer", Role.operator: "ci", Role.approver: "alice", Role.admin: "root"}
LOWER = {Role.operator: Role.viewer, Role.approver: Role.operator, Role.admin: Role.approver}


def _ui_routes(client: Client) -> list[UiRoute]:
    routes = create_ui(client, secret_key=KEY).routes
    for route in routes:
        path = route.path if isinstance(route, Route | Mount) else ""
        assert isinstance(route, UiRoute) or path in PUBLIC, f"{path} is not a UiRoute"
    return [route for route in routes if isinstance(route, UiRoute)]


def _url(route: UiRoute, scene: Scene, client: Client) -> str:
    """The route's path with real values, so a check is not answered by a 404."""
    run_id = client.runs(MODEL)[0].id
    values = {
        "model": MODEL,
        "version": "1",
        "release_id": str(scene.release_id),
        "request_id": str(scene.waiting_request),
        "run_id": run_id,
    }
    path = re.sub(r"{(\w+)(:\w+)?}", lambda m: values[m.group(1)], route.path)
    return "/ui" + path


def test_every_route_declares_a_role(ui: Ui) -> None:
    routes = _ui_routes(ui.client)
    assert len(routes) >= 10
    for route in routes:
        assert isinstance(route.min_role, Role)
        if "POST" in (route.methods or set()):
            assert route.min_role >= Role.viewer


def test_anonymous_visitors_are_sent_to_the_login_page(ui: Ui) -> None:
    http = ui.browser()
    for route in _ui_routes(ui.client):
        for method in route.methods or ():
            if method == "HEAD":
                continue
            answer = http.request(method, _url(route, ui.scene, ui.client))
            assert answer.status_code == 303, (method, route.path, answer.status_code)
            assert answer.headers["location"].startswith("/ui/login"), route.path
            assert ui.scene.secrets["viewer"] not in answer.text


def test_a_role_too_low_is_refused_on_every_action(ui: Ui) -> None:
    for route in _ui_routes(ui.client):
        if route.min_role == Role.viewer:
            continue
        http = ui.browser(BY_ROLE[LOWER[route.min_role]])
        token = csrf(http)
        answer = http.post(_url(route, ui.scene, ui.client), data={"csrf": token, "reason": "x"})
        assert answer.status_code == 403, route.path
        assert f"needs the {route.min_role.name} role" in answer.text


def test_every_form_needs_the_sessions_csrf_token(ui: Ui) -> None:
    admin = ui.browser("root")
    other = ui.browser("root")
    stolen = csrf(other)  # a valid token of another session
    for route in _ui_routes(ui.client):
        if "POST" not in (route.methods or set()):
            continue
        url = _url(route, ui.scene, ui.client)
        for data in ({}, {"csrf": "forged"}, {"csrf": stolen}):
            answer = admin.post(url, data={**data, "reason": "x"})
            assert answer.status_code == 403, (route.path, data)
    assert ui.client.promotions.request(ui.scene.waiting_request).status == "pending"


def test_a_post_from_another_origin_is_refused(ui: Ui) -> None:
    http = ui.browser("root")
    token = csrf(http)
    answer = http.post(
        f"/ui/approvals/{ui.scene.waiting_request}/reject",
        data={"csrf": token, "reason": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403


def test_login_with_a_bad_token_is_refused_and_sets_no_login(ui: Ui) -> None:
    http = ui.browser()
    page = http.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = http.post("/ui/login", data={"token": "mlr_wrong", "csrf": token})
    assert answer.status_code == 401
    assert "unknown or revoked" in answer.text
    assert http.get("/ui/").status_code == 303


def test_login_needs_the_forms_csrf_token(ui: Ui) -> None:
    http = ui.browser()
    answer = http.post("/ui/login", data={"token": ui.scene.secrets["root"], "csrf": "x"})
    assert answer.status_code == 403
    assert http.get("/ui/").status_code == 303


def test_the_session_cookie_is_httponly_samesite_and_holds_no_token(ui: Ui) -> None:
    http = ui.browser()
    page = http.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    secret = ui.scene.secrets["viewer"]
    answer = http.post("/ui/login", data={"token": secret, "csrf": token, "next": "/ui/"})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert secret not in cookie


def test_login_goes_back_to_the_page_asked_for_but_never_off_site(ui: Ui) -> None:
    http = ui.browser()
    first = http.get("/ui/approvals")
    assert first.headers["location"] == "/ui/login?next=%2Fui%2Fapprovals"
    for wanted, landing in (
        ("/ui/approvals", "/ui/approvals"),
        ("https://evil.example/ui/", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("/elsewhere", "/ui/"),
    ):
        fresh = ui.browser()
        page = fresh.get("/ui/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        answer = fresh.post(
            "/ui/login",
            data={"token": ui.scene.secrets["viewer"], "csrf": token, "next": wanted},
        )
        assert answer.headers["location"] == landing, wanted


def test_logout_ends_the_session(ui: Ui) -> None:
    http = ui.browser("viewer")
    assert http.get("/ui/").status_code == 200
    answer = http.post("/ui/logout", data={"csrf": csrf(http)})
    assert answer.status_code == 303
    assert http.get("/ui/").status_code == 303


def test_a_revoked_token_ends_its_sessions_at_once(fresh_scene: Scene) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        ui = Ui(client, fresh_scene)
        http = ui.browser("viewer")
        assert http.get("/ui/").status_code == 200
        Tokens(client.store).revoke("viewer", actor="root")
        assert http.get("/ui/").status_code == 303


def test_pages_carry_a_strict_content_security_policy(ui: Ui) -> None:
    answer = ui.browser("viewer").get("/ui/")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


def test_a_model_cannot_be_named_with_markup(ui: Ui) -> None:
    # Names are checked when registered, so a model named <script> never reaches a page;
    # the pages escape names all the same (Jinja's autoescape, pinned below).
    import numpy as np
    from sklearn.dummy import DummyClassifier

    X = np.zeros((4, 2))
    with pytest.raises(ConfigError, match="'<script>' is not allowed"):
        ui.client.register_model(
            "<script>",
            DummyClassifier().fit(X, [0, 1, 0, 1]),
            task="classification",
            sample_input=X,
        )
    assert "<script>" not in [model.name for model in ui.client.models()]


def test_text_from_users_is_escaped(ui: Ui) -> None:
    renderer = create_ui(ui.client, secret_key=KEY).state.ui.renderer
    html = renderer.render(
        "error.html",
        message="<script>alert(1)</script>",
        view=None,
        actor=None,
        csrf="c",
        flash=None,
        href=lambda path: "/ui" + path,
        can=lambda role: False,
    )
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
