"""Building a serving app from plain settings, in this process or in each uvicorn worker.

``ServeConfig`` is JSON-serialisable so that ``--workers N`` can hand it to
worker processes through the environment (``MLRELEASE_SERVE_CONFIG``).

Unless ``control_plane`` is off, the control-plane API is mounted at ``/api``
and the web UI at ``/ui``, after every data-plane route, so ``/predict`` is
matched exactly as before. Each worker process mounts its own copy over its own
client: neither keeps state outside the metadata store (UI sessions are signed
cookies, under one key for all workers), so any worker can answer any call.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from mlrelease.artifacts import open_artifact_store
from mlrelease.errors import AliasNotFoundError
from mlrelease.registry.service import Registry
from mlrelease.serving.app import ServeOptions, create_app
from mlrelease.serving.guard import Guard, RateLimit
from mlrelease.serving.predlog import PredictionLog
from mlrelease.serving.runtime import Runtime
from mlrelease.settings import Settings
from mlrelease.store import Store
from mlrelease.ui.sessions import SECRET_VARIABLE, new_secret_key, secret_key_from

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mlrelease.client import Client

__all__ = ["CONFIG_VARIABLE", "ServeConfig", "app_from_environment", "build_app", "run_server"]

CONFIG_VARIABLE = "MLRELEASE_SERVE_CONFIG"
TOKENS_VARIABLE = "MLRELEASE_SERVE_TOKENS"


@dataclass(frozen=True)
class ServeConfig:
    db_url: str
    artifacts_url: str
    base_dir: str
    model: str
    environment: str
    version: int | None = None
    trusted_types: tuple[str, ...] = ()
    max_rows: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
    batch_rows: int = 64
    batch_wait: float = 0.002
    log_predictions: bool = True
    log_sample: float = 1.0
    require_token: bool = False
    rate_limit: str | None = None
    poll_interval: float = 0.5
    control_plane: bool = True  # also answer the control-plane API under /api
    project_file: str | None = None  # its environments' promotion rules, for /api

    @classmethod
    def from_settings(cls, settings: Settings, **values: object) -> ServeConfig:
        return cls(
            db_url=settings.db_url,
            artifacts_url=settings.artifacts_url,
            base_dir=str(settings.base_dir),
            trusted_types=settings.trusted_types,
            **values,  # type: ignore[arg-type]
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        values = json.loads(text)
        values["trusted_types"] = tuple(values.get("trusted_types", ()))
        return cls(**values)


def _tune_interpreter() -> None:
    """Process-wide settings for a server process (not for apps embedded elsewhere).

    The prediction-log writer thread waits for the GIL behind a busy event loop; the
    default 5 ms switch interval would hold it back that long each time.
    """
    sys.setswitchinterval(0.0005)


def _open_registry(config: ServeConfig) -> Registry:
    base_dir = Path(config.base_dir)
    store = Store.open(config.db_url, base_dir=base_dir)
    artifacts = open_artifact_store(config.artifacts_url, base_dir=base_dir)
    return Registry(store, artifacts, trusted_types=config.trusted_types)


def check_servable(config: ServeConfig) -> None:
    """Raise before a server starts with nothing to serve: no such model or version, or
    no version in the environment yet (the error names the command that serves one)."""
    registry = _open_registry(config)
    try:
        if config.version is not None:
            registry.version(config.model, config.version)
            return
        if registry.alias_version(config.model, config.environment) is None:
            registry.model(config.model)  # a missing model says so first
            raise AliasNotFoundError(
                f"no version of '{config.model}' is in {config.environment} yet: serve another "
                f"environment (`mlrelease serve --model {config.model} --env dev` serves what "
                "`mlrelease run` registers), or one version with --version N"
            )
    finally:
        registry.store.close()


def build_app(
    config: ServeConfig, *, tokens: str = "", ui_secret: bytes | None = None
) -> Starlette:
    """The serving app; ``ui_secret`` signs UI sessions (None: a key for this process only)."""
    registry = _open_registry(config)
    store = registry.store
    runtime = Runtime(
        registry,
        config.model,
        config.environment,
        pinned_version=config.version,
        poll_interval=config.poll_interval,
    )
    guard = Guard.from_tokens(
        tokens.split(",") if config.require_token else (),
        RateLimit.parse(config.rate_limit) if config.rate_limit else None,
    )
    options = ServeOptions(
        max_rows=config.max_rows,
        max_body_bytes=config.max_body_bytes,
        batch_rows=config.batch_rows,
        batch_wait=config.batch_wait,
        guard=guard,
    )
    predlog = (
        PredictionLog(store, sample_rate=config.log_sample, writer_process=True)
        if config.log_predictions
        else None
    )
    app = create_app(runtime, options, predlog=predlog)
    if config.control_plane:
        _mount_control_plane(app, config, ui_secret or new_secret_key())
    return app


def _mount_control_plane(app: Starlette, config: ServeConfig, ui_secret: bytes) -> None:
    """Append ``/api`` and ``/ui`` (after the data plane's routes); close them at shutdown."""
    control_plane = _ControlPlane(config, ui_secret)
    app.router.routes.append(Mount("/api", app=_BuiltOnFirstCall(control_plane.api)))
    app.router.routes.append(Mount("/ui", app=_BuiltOnFirstCall(control_plane.ui)))
    # Starlette runs no lifespan of a mounted app: close the client in the outer one.
    serve_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(outer: Starlette) -> AsyncIterator[None]:
        try:
            async with serve_lifespan(outer):
                yield
        finally:
            control_plane.close()

    app.router.lifespan_context = lifespan


class _ControlPlane:
    """The control-plane API and the web UI over one client, each built when first called.

    FastAPI, the templates and the client load only when someone calls ``/api`` or
    ``/ui``, so they add nothing to a model server's start-up time.
    """

    def __init__(self, config: ServeConfig, ui_secret: bytes) -> None:
        self._config = config
        self._ui_secret = ui_secret
        self._client: Client | None = None
        self._api: FastAPI | None = None
        self._building = threading.Lock()  # two first requests at once build once

    def api(self) -> FastAPI:
        from mlrelease.api import create_api

        with self._building:
            if self._api is None:
                self._api = create_api(self._open_client(), prefix="")
            return self._api

    def ui(self) -> Starlette:
        from mlrelease.ui import create_ui

        with self._building:
            return create_ui(self._open_client(), secret_key=self._ui_secret)

    def _open_client(self) -> Client:
        if self._client is None:
            self._client = _control_plane_client(self._config)
        return self._client

    def close(self) -> None:
        if self._api is not None:
            self._api.state.notifications.stop()
        if self._client is not None:
            self._client.close()


class _BuiltOnFirstCall:
    """An ASGI app made by ``build`` (in a worker thread) when its first request comes."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = await run_in_threadpool(self._build)
        await self._app(scope, receive, send)


def _control_plane_client(config: ServeConfig) -> Client:
    """A client over the same stores as the data plane, with the project's rules."""
    from mlrelease.client import Client
    from mlrelease.spec import load_spec

    settings = Settings(
        db_url=config.db_url,
        artifacts_url=config.artifacts_url,
        base_dir=Path(config.base_dir),
        trusted_types=config.trusted_types,
    )
    project = load_spec(Path(config.project_file)) if config.project_file else None
    return Client(settings, project=project)


def run_server(config: ServeConfig, *, host: str, port: int, workers: int, tokens: str) -> None:
    """Run uvicorn until SIGTERM/Ctrl-C: in-flight requests finish, the log is flushed."""
    import uvicorn

    _tune_interpreter()
    if workers == 1:
        # uvicorn re-raises SIGTERM once it has shut down gracefully; exit 0 instead, as
        # a process manager expects of a clean stop.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        uvicorn.run(
            build_app(config, tokens=tokens, ui_secret=secret_key_from(os.environ)),
            host=host,
            port=port,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
        return
    # Workers are separate processes: they rebuild the app from the environment, and
    # sum their metrics through prometheus_client's multiprocess files.
    os.environ[CONFIG_VARIABLE] = config.to_json()
    # One session key for every worker, or a browser's session would hold in one only.
    os.environ.setdefault(SECRET_VARIABLE, secrets.token_hex(32))
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="mlrelease-metrics-"))
    uvicorn.run(
        "mlrelease.serving.factory:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        access_log=False,
        timeout_graceful_shutdown=30,
    )


def app_from_environment() -> Starlette:
    """The uvicorn factory each worker process calls (``--workers N``)."""
    _tune_interpreter()
    config = ServeConfig.from_json(os.environ[CONFIG_VARIABLE])
    return build_app(
        config,
        tokens=os.environ.get(TOKENS_VARIABLE, ""),
        ui_secret=secret_key_from(os.environ),
    )
