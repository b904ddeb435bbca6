"""Building the web UI over one open :class:`Client`."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from mlrelease.client import Client
from mlrelease.ui import login
from mlrelease.ui.pages import PAGES
from mlrelease.ui.rendering import Renderer
from mlrelease.ui.routing import UiState
from mlrelease.ui.sessions import SessionCodec

__all__ = ["UI_PREFIX", "create_ui"]

UI_PREFIX = "/ui"
_STATIC = Path(__file__).parent / "static"


def create_ui(client: Client, *, secret_key: bytes) -> Starlette:
    """The UI's pages, to mount at :data:`UI_PREFIX`; ``client`` stays open as long as it.

    ``secret_key`` signs session cookies: every process that serves the UI for the
    same users needs the same key (``MLRELEASE_UI_SECRET``).
    """
    routes: list[BaseRoute] = [
        *login.routes,
        Mount("/static", app=StaticFiles(directory=_STATIC), name="static"),
    ]
    for pages in PAGES:
        routes.extend(pages.routes)
    app = Starlette(routes=routes)
    app.state.ui = UiState(client, SessionCodec(secret_key), Renderer())
    return app
