"""Building the control-plane app over one open :class:`Client`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response

from mlrelease import __version__
from mlrelease.api import monitoring, promotions, registry, releases, tokens
from mlrelease.api.errors import install_error_handler
from mlrelease.auth import Tokens
from mlrelease.client import Client
from mlrelease.notify import DeliveryPump

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
    app.state.notifications = DeliveryPump(client.outbox)
    for router in (
        registry.router,
        promotions.router,
        releases.router,
        monitoring.router,
        tokens.router,
    ):
        app.include_router(router, prefix=prefix)
    install_error_handler(app)
    app.middleware("http")(_deliver_after_changes)
    return app


async def _deliver_after_changes(request: Request, call_next: Any) -> Response:
    # Any call that changes state may have announced something (a refusal too: a
    # failed gate); the pump sends it from its own thread, after this answer.
    response: Response = await call_next(request)
    if request.method != "GET":
        request.app.state.notifications.kick()
    return response
