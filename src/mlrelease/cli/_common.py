"""What every command shares: options, opening the client, consoles and output formats."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from mlrelease.settings import Settings, load_project, resolve_settings
from mlrelease.spec import DEFAULT_FILENAME

if TYPE_CHECKING:
    from mlrelease.client import Client

__all__ = [
    "DEFAULT_FILE",
    "Output",
    "OutputFormat",
    "ProjectFile",
    "console",
    "deliver_notifications",
    "err_console",
    "notifying_client",
    "open_client",
    "print_json",
]

DEFAULT_FILE = Path(DEFAULT_FILENAME)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


ProjectFile = Annotated[
    Path,
    typer.Option(
        "--file",
        "-f",
        help=f"Project file (default ./{DEFAULT_FILENAME}); stores default to .mlrelease/ by it.",
        envvar="MLRELEASE_FILE",
    ),
]
Output = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="Output format: table or json.")
]


def open_client(project_file: Path, *, require_project: bool = False) -> Client:
    """The project's client if its file exists, else one over MLRELEASE_DB / the defaults."""
    # Imported here so `--help` and other light commands do not load scikit-learn.
    from mlrelease.client import Client

    if require_project or project_file.exists():
        return Client.from_project(project_file)
    return Client(project_settings(project_file))


def project_settings(project_file: Path) -> Settings:
    """The settings ``open_client`` opens its stores with, without loading the client
    (and pandas with it): ``serve`` starts faster."""
    if project_file.exists():
        return load_project(project_file, os.environ)[1]
    return resolve_settings(None, base_dir=Path.cwd(), env=os.environ)


@contextmanager
def notifying_client(project_file: Path, *, require_project: bool = False) -> Iterator[Client]:
    """``open_client``, then send what the command announced (even when it was refused)."""
    with open_client(project_file, require_project=require_project) as client:
        try:
            yield client
        finally:
            deliver_notifications(client)


def deliver_notifications(client: Client) -> None:
    """Send due notifications now; a receiver that is down gets them on a later try."""
    if not client.outbox.channels:
        return
    report = client.outbox.deliver_due()
    if report.delivered:
        err_console.print(f"notified: {report.delivered} message(s) delivered")
    if report.retrying or report.failed:
        err_console.print(
            f"{report.retrying + report.failed} notification(s) not delivered yet; they stay "
            "in the outbox: see 'mlrelease notify status', retry with 'mlrelease notify deliver'"
        )


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))
