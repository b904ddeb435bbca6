"""Commands of the data plane: serve, and traffic show|set."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from mlrelease.audit import current_actor
from mlrelease.cli._common import (
    DEFAULT_FILE,
    Output,
    OutputFormat,
    ProjectFile,
    console,
    open_client,
    print_json,
    project_settings,
)
from mlrelease.errors import ConfigError

__all__ = ["register"]

ModelOption = Annotated[str, typer.Option("--model", "-m", help="Model name, e.g. breast-cancer.")]
EnvOption = Annotated[str, typer.Option("--env", "-e", help="Environment whose traffic to serve.")]

traffic_app = typer.Typer(
    help="Show or set how an environment's requests split among versions.", no_args_is_help=True
)


def serve(
    model: ModelOption,
    env: EnvOption = "production",
    version: Annotated[
        int | None, typer.Option(min=1, help="Serve this version only (no split, no hot swap).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    max_rows: Annotated[int, typer.Option(min=1, help="Most rows in one request.")] = 10_000,
    max_body_mb: Annotated[
        float, typer.Option(min=0.001, help="Largest request body, in MB.")
    ] = 16.0,
    batch_rows: Annotated[
        int, typer.Option(min=1, help="Most rows per model call when batching.")
    ] = 64,
    batch_wait_ms: Annotated[
        float,
        typer.Option(min=0, help="How long a request waits for batch-mates (0: no batching)."),
    ] = 2.0,
    log_predictions: Annotated[
        bool, typer.Option("--log/--no-log", help="Append served rows to the prediction log.")
    ] = True,
    log_sample: Annotated[
        float, typer.Option(min=0, max=1, help="Share of requests logged.")
    ] = 1.0,
    require_token: Annotated[
        bool,
        typer.Option(
            help="Require 'Authorization: Bearer T', T one of MLRELEASE_SERVE_TOKENS (a,b,c)."
        ),
    ] = False,
    rate_limit: Annotated[
        str | None, typer.Option(help="Requests per token (or client address), e.g. 100/s.")
    ] = None,
    api: Annotated[
        bool,
        typer.Option(
            "--api/--no-api",
            help="Also answer the control-plane API under /api and the web UI under /ui "
            "(log in with an API token, see `token`; MLRELEASE_UI_SECRET keeps UI sessions "
            "across restarts).",
        ),
    ] = True,
    controller: Annotated[
        bool,
        typer.Option(
            "--controller",
            help="Also run the release controller in this process (one machine, no extra "
            "service): canary and shadow releases advance while it serves.",
        ),
    ] = False,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Serve a model over HTTP: POST /predict, Open Inference Protocol v2, /metrics.

    Serves what the environment's alias points to (plus its canary and shadow, see
    `mlrelease traffic`), and follows changes within a second without dropping a
    request. Stop with Ctrl-C or SIGTERM: in-flight requests finish and the
    prediction log is flushed.
    """
    from mlrelease.serving.factory import (
        TOKENS_VARIABLE,
        ServeConfig,
        check_servable,
        run_server,
    )
    from mlrelease.serving.guard import RateLimit
    from mlrelease.ui.sessions import secret_key_from

    if rate_limit is not None:
        try:
            RateLimit.parse(rate_limit)
        except ValueError as exc:
            raise ConfigError(f"--rate-limit: {exc}") from None
    tokens = os.environ.get(TOKENS_VARIABLE, "")
    if require_token and not tokens.strip(","):
        raise ConfigError(
            f"--require-token: set {TOKENS_VARIABLE} to one or more comma-separated tokens"
        )
    if api:
        secret_key_from(os.environ)  # a bad MLRELEASE_UI_SECRET stops us here, not on /ui
    config = ServeConfig.from_settings(
        project_settings(project_file),
        model=model,
        environment=env,
        version=version,
        max_rows=max_rows,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        batch_rows=batch_rows,
        batch_wait=batch_wait_ms / 1000.0,
        log_predictions=log_predictions,
        log_sample=log_sample,
        require_token=require_token,
        rate_limit=rate_limit,
        control_plane=api,
        project_file=str(project_file.resolve()) if project_file.exists() else None,
    )
    check_servable(config)
    console.print(
        f"serving {model}@{env} on http://{host}:{port}  (POST /predict, /v2/..., /metrics"
        + (", /api, /ui)" if api else ")")
    )
    with _embedded_controller(project_file) if controller else contextlib.nullcontext():
        run_server(config, host=host, port=port, workers=workers, tokens=tokens)


@contextlib.contextmanager
def _embedded_controller(project_file: Path) -> Iterator[None]:
    """The release controller on a thread beside the server, with its own client."""
    stop = threading.Event()
    with open_client(project_file) as client:
        running = client.controller()
        thread = threading.Thread(
            target=running.run,
            kwargs={
                "interval": 1.0,
                "stop": stop,
                "after_tick": lambda releases: client.outbox.deliver_due(),
            },
            name="mlrelease-controller",
            daemon=True,
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)


@traffic_app.command("show")
def show_traffic(
    model: ModelOption,
    env: EnvOption = "production",
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Show the stable version and any canary or shadow of an environment."""
    from mlrelease.traffic import get_traffic

    with open_client(project_file) as client, client.store.read() as connection:
        state = get_traffic(connection, model, env)
    if output is OutputFormat.json:
        print_json(state.__dict__)
        return
    console.print(
        f"{model}@{env}: stable v{state.stable}" if state.stable else f"{model}@{env}: nothing live"
    )
    if state.canary is not None:
        console.print(f"  canary v{state.canary}: {state.canary_weight}% of requests")
    if state.shadow is not None:
        console.print(f"  shadow v{state.shadow}: mirrors {state.shadow_share}% of requests")


@traffic_app.command("set")
def set_traffic(
    model: ModelOption,
    env: EnvOption = "production",
    canary: Annotated[
        int | None, typer.Option(min=1, help="Canary version (omit to remove the canary).")
    ] = None,
    weight: Annotated[
        int, typer.Option(min=0, max=100, help="Percent of requests the canary gets.")
    ] = 0,
    shadow: Annotated[
        int | None, typer.Option(min=1, help="Shadow version (omit to remove it).")
    ] = None,
    share: Annotated[
        int, typer.Option(min=0, max=100, help="Percent of requests mirrored to the shadow.")
    ] = 0,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Set a canary (version + weight) and/or a shadow (version + share) by hand.

    Running servers pick the change up within a second. A release controller
    moves these values automatically; this is the manual lever.
    """
    from mlrelease.traffic import set_traffic as apply

    with open_client(project_file) as client:
        state = apply(
            client.store,
            model,
            env,
            canary=canary,
            canary_weight=weight,
            shadow=shadow,
            shadow_share=share,
            actor=current_actor(),
            reason=reason,
        )
    canary_text = f"v{state.canary} at {state.canary_weight}%" if state.canary else "none"
    shadow_text = f"v{state.shadow} at {state.shadow_share}%" if state.shadow else "none"
    console.print(
        f"{model}@{env}: stable v{state.stable}, canary {canary_text}, shadow {shadow_text}"
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(traffic_app, name="traffic")
