"""The UI in-process (Starlette's TestClient) over the scene's real store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from mlrelease.client import Client
from mlrelease.ui import UI_PREFIX, create_ui

from ._scene import Scene, build_scene, csrf_of

KEY = b"k" * 32


@dataclass
class Ui:
    client: Client
    scene: Scene

    def browser(self, token: str | None = None) -> TestClient:
        """A new browser (its own cookies), logged in as token ``token`` when named."""
        app = Starlette(routes=[Mount(UI_PREFIX, app=create_ui(self.client, secret_key=KEY))])
        http = TestClient(app, base_url="http://testserver", follow_redirects=False)
        if token is not None:
            login(http, self.scene.secrets[token])
        return http


def login(http: TestClient, secret: str) -> None:
    page = http.get("/ui/login")
    answer = http.post(
        "/ui/login", data={"token": secret, "csrf": csrf_of(page.text), "next": "/ui/"}
    )
    assert answer.status_code == 303, answer.text


def csrf(http: TestClient, path: str = "/ui/") -> str:
    """The session's CSRF token, as a form on ``path`` carries it."""
    return csrf_of(http.get(path).text)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return build_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture
def ui(scene: Scene) -> Iterator[Ui]:
    with Client.from_project(scene.project_file, env={}) as client:
        yield Ui(client, scene)


@pytest.fixture
def fresh_scene(tmp_path: Path) -> Scene:
    """A scene of its own, for a test that changes it."""
    return build_scene(tmp_path)
