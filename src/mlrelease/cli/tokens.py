"""Commands about API tokens: token create|list|revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mlrelease.audit import current_actor
from mlrelease.auth import Role, Tokens
from mlrelease.cli._common import (
    DEFAULT_FILE,
    Output,
    OutputFormat,
    ProjectFile,
    console,
    open_client,
    print_json,
)
from mlrelease.cli.render import timestamp

__all__ = ["app"]

_ROLES = ", ".join(Role.names())

app = typer.Typer(
    help=f"Create, list and revoke API tokens for the control plane (roles: {_ROLES}).",
    no_args_is_help=True,
)

TokenName = Annotated[str, typer.Argument(help="The token's name, e.g. ci.")]


@app.command()
def create(
    name: Annotated[
        str, typer.Option(help="Unique name, e.g. ci; it is the actor in the audit log.")
    ],
    role: Annotated[str, typer.Option(help=f"One of, lowest first: {_ROLES}.")],
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Create a token and print its secret, once: only its hash is stored."""
    with open_client(project_file) as client:
        info, secret = Tokens(client.store).create(name, Role.parse(role), actor=current_actor())
    if output is OutputFormat.json:
        print_json({**info.to_dict(), "secret": secret})
        return
    console.print(f"created token '{info.name}' with role {info.role.name}:", markup=False)
    console.print(secret, markup=False)
    console.print(
        "It will not be shown again. Use it with: export MLRELEASE_TOKEN=<the token above>",
        markup=False,
    )


@app.command("list")
def list_tokens(
    project_file: ProjectFile = DEFAULT_FILE, output: Output = OutputFormat.table
) -> None:
    """List tokens (active and revoked) with their role and prefix, never their secret."""
    with open_client(project_file) as client:
        infos = Tokens(client.store).list()
    if output is OutputFormat.json:
        print_json([info.to_dict() for info in infos])
        return
    table = Table(title="API tokens", title_justify="left")
    for column in ("name", "role", "prefix", "created", "by", "revoked"):
        table.add_column(column)
    for info in infos:
        table.add_row(
            info.name,
            info.role.name,
            f"{info.prefix}…",
            timestamp(info.created_at),
            info.created_by,
            timestamp(info.revoked_at),
        )
    console.print(table)


@app.command()
def revoke(name: TokenName, project_file: ProjectFile = DEFAULT_FILE) -> None:
    """Revoke a token at once: requests that carry it are refused (401) from now on."""
    with open_client(project_file) as client:
        Tokens(client.store).revoke(name, actor=current_actor())
    console.print(f"revoked token '{name}'", markup=False)
