"""Commands about served traffic: predictions, feedback import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mlrelease.cli._common import (
    DEFAULT_FILE,
    Output,
    OutputFormat,
    ProjectFile,
    console,
    open_client,
    print_json,
)
from mlrelease.cli.render import number, timestamp

__all__ = ["register"]

feedback_app = typer.Typer(
    help="Ground-truth labels for served predictions: `feedback import FILE.csv`.",
    no_args_is_help=True,
)


def list_predictions(
    model: Annotated[str, typer.Argument(help="Model name.")],
    env: Annotated[
        str, typer.Option("--env", help="Environment whose served rows to show.")
    ] = "production",
    limit: Annotated[int, typer.Option(min=1, help="How many rows, newest first.")] = 20,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Show the newest rows MODEL served in an environment, with their labels.

    Each row: when, request id and row, version and role (stable, canary, shadow),
    HTTP status, latency, the prediction and its ground-truth label if one came in.
    """
    from mlrelease.serving.feedback import labelled_predictions

    with open_client(project_file) as client:
        rows = labelled_predictions(client.store, model, env, limit=limit)
    if output is OutputFormat.json:
        print_json(rows)
        return
    if not rows:
        console.print(
            f"no predictions logged for {escape(model)} in {escape(env)} "
            "(is the server's prediction log on, and the environment right?)"
        )
        return
    table = Table(title=f"Predictions: {escape(model)} @ {escape(env)}", title_justify="left")
    table.add_column("time")
    table.add_column("request", overflow="fold")  # shown whole: it is what feedback names
    for column in ("row", "version", "role", "status", "ms", "prediction", "label"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            timestamp(row["timestamp"]),
            escape(row["request_id"]),
            str(row["row"]),
            str(row["version"]),
            row["role"],
            _status(row["status"]),
            f"{row['latency_ms']:.1f}",
            _cell(row["prediction"]),
            "-" if row["labelled_at"] is None else _cell(row["label"]),
        )
    console.print(table)


@feedback_app.command("import")
def import_feedback(
    file: Annotated[
        Path, typer.Argument(help="CSV with columns request_id, label and optionally row.")
    ],
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Import ground-truth labels from a CSV file: all rows or none.

    A label joins the prediction served with the same request id (and row; without
    a row, every row of the request). Importing a label again replaces it. Exit
    code 4 when a request id is not in the prediction log, 1 for a bad line.
    """
    from mlrelease.audit import current_actor
    from mlrelease.serving.feedback import import_feedback_csv

    with open_client(project_file) as client:
        count = import_feedback_csv(client.store, file, actor=current_actor())
    console.print(f"labelled {count} row{'' if count == 1 else 's'} from {escape(str(file))}")


def _status(status: int) -> str:
    return f"[green]{status}[/]" if 200 <= status < 300 else f"[red]{status}[/]"


def _cell(value: Any) -> str:
    return escape(number(value))


def register(app: typer.Typer) -> None:
    app.command("predictions")(list_predictions)
    app.add_typer(feedback_app, name="feedback")
