"""Building the control-plane app over one open :class:`Client`."""

from __future__ import annotations

from fastapi import FastAPI

from mlrelease import __version__
from mlrelease.api import promotions, registry, tokens
from mlrelease.api.errors import install_error_handler
from mlrelease.auth import Tokens
from mlrelease.client import Client

__all__ = ["API_PREFIX", "create_api"]

API_PREFIX = "/api"

_DESCRIPTION = """\
Models, versions, promotions, approvals and the audit log of one mlrelease store.

Every route needs `Authorization: Bearer TOKEN` (`mlrelease token create`). Roles,
lowest first: viewer < operator < approver < admin; each operation names the role
it needs in `x-min-role`. Errors are `{"error": {"code", "message", "details"}}`.
"""


def create_api(client: Client, *, prefix: str = API_PREFIX) -> FastAPI:
    """The control plane over ``client``, which stays open for the app's lifetime.

    ``prefix`` is where the routes live in this app: ``/api`` for `mlrelease server`,
    ``""`` when the app is itself mounted at ``/api`` inside another app.
    """
    app = FastAPI(
        title="mlrelease control plane",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url=f"{prefix}/openapi.json",
        docs_url=f"{prefix}/docs",
        redoc_url=None,
    )
    app.state.client = client
    app.state.tokens = Tokens(client.store)
    for router in (registry.router, promotions.router, tokens.router):
        app.include_router(router, prefix=prefix)
    install_error_handler(app)
    return app
