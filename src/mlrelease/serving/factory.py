"""Building a serving app from plain settings, in this process or in each uvicorn worker.

``ServeConfig`` is JSON-serialisable so that ``--workers N`` can hand it to
worker processes through the environment (``MLRELEASE_SERVE_CONFIG``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.applications import Starlette

from mlrelease.artifacts import open_artifact_store
from mlrelease.registry.service import Registry
from mlrelease.serving.app import ServeOptions, create_app
from mlrelease.serving.guard import Guard, RateLimit
from mlrelease.serving.predlog import PredictionLog
from mlrelease.serving.runtime import Runtime
from mlrelease.settings import Settings
from mlrelease.store import Store

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


def build_app(config: ServeConfig, *, tokens: str = "") -> Starlette:
    base_dir = Path(config.base_dir)
    store = Store.open(config.db_url, base_dir=base_dir)
    artifacts = open_artifact_store(config.artifacts_url, base_dir=base_dir)
    registry = Registry(store, artifacts, trusted_types=config.trusted_types)
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
        PredictionLog(store, sample_rate=config.log_sample) if config.log_predictions else None
    )
    return create_app(runtime, options, predlog=predlog)


def run_server(config: ServeConfig, *, host: str, port: int, workers: int, tokens: str) -> None:
    """Run uvicorn until SIGTERM/Ctrl-C: in-flight requests finish, the log is flushed."""
    import uvicorn

    _tune_interpreter()
    if workers == 1:
        # uvicorn re-raises SIGTERM once it has shut down gracefully; exit 0 instead, as
        # a process manager expects of a clean stop.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        uvicorn.run(
            build_app(config, tokens=tokens),
            host=host,
            port=port,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
        return
    # Workers are separate processes: they rebuild the app from the environment, and
    # sum their metrics through prometheus_client's multiprocess files.
    os.environ[CONFIG_VARIABLE] = config.to_json()
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
    return build_app(config, tokens=os.environ.get(TOKENS_VARIABLE, ""))
