"""The command line: a thin Typer adapter over the core, one module per noun.

Errors are translated in one place, :class:`_ErrorTranslatingGroup`: an
``MlreleaseError`` becomes a red line on stderr (plus a table of gate or check
results when it carries them) and the error's exit code. Exit codes are part of
the contract: 1 a refused model or data (gate or check failed), 2 bad input
(project file, options), 4 not found, 5 a conflict with the current state.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from mlrelease import __version__
from mlrelease.cli import (
    db,
    deploy,
    deploy_compose,
    deploy_kubernetes,
    deploy_monitoring,
    models,
    monitoring,
    notify,
    predictions,
    project,
    promotion,
    release,
    report,
    runs,
    serve,
    server,
    tokens,
)
from mlrelease.cli.render import render_error
from mlrelease.errors import MlreleaseError

__all__ = ["app", "main"]


class _ErrorTranslatingGroup(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MlreleaseError as exc:
            render_error(exc)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="mlrelease",
    cls=_ErrorTranslatingGroup,
    help="Continuous delivery for machine-learning models: train, gate, register, promote, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlrelease {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Continuous delivery for machine-learning models.

    Start with `mlrelease quickstart` in an empty folder.
    """


project.register(app)
runs.register(app)
models.register(app)
promotion.register(app)
release.register(app)
monitoring.register(app)
report.register(app)
serve.register(app)
predictions.register(app)
notify.register(app)
server.register(app)
app.add_typer(db.app, name="db")
app.add_typer(tokens.app, name="token")
deploy_kubernetes.register(deploy.app)
deploy_compose.register(deploy.app)
deploy_monitoring.register(deploy.app)
app.add_typer(deploy.app, name="deploy")


def main() -> None:
    app()
