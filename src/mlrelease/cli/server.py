"""The control-plane server: mlrelease server."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated

import typer

from mlrelease.cli._common import DEFAULT_FILE, ProjectFile, console, open_client

__all__ = ["register"]


def server(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind.")] = 8080,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Run the control-plane API (/api) and the web UI (/ui) over the store.

    Every API request needs 'Authorization: Bearer TOKEN' (see `mlrelease token
    create`); the OpenAPI document is at /api/openapi.json, interactive docs at
    /api/docs. The UI logs in with the same tokens; set MLRELEASE_UI_SECRET (32+
    characters) to keep its sessions across restarts.
    Promotion rules come from the project file (or the defaults without one).
    Stop with Ctrl-C or SIGTERM.
    """
    import uvicorn

    from mlrelease.api import create_api
    from mlrelease.ui import UI_PREFIX, create_ui
    from mlrelease.ui.sessions import new_secret_key, secret_key_from

    secret_key = secret_key_from(os.environ) or new_secret_key()
    with open_client(project_file) as client:
        console.print(
            f"mlrelease control plane on http://{host}:{port}/api  (docs: /api/docs, web UI: /ui)"
        )
        # uvicorn re-raises SIGTERM once it has shut down gracefully; exit 0 instead, as a
        # process manager expects of a clean stop (the client is closed on the way out).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        api = create_api(client)
        api.mount(UI_PREFIX, create_ui(client, secret_key=secret_key))
        api.state.notifications.kick()  # and retry what an earlier run left undelivered
        try:
            uvicorn.run(api, host=host, port=port, timeout_graceful_shutdown=30)
        finally:
            api.state.notifications.stop()


def register(app: typer.Typer) -> None:
    app.command()(server)
