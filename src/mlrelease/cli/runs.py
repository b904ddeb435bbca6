"""Commands about pipeline runs: run, runs, runs show."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from mlrelease.cli._common import (
    DEFAULT_FILE,
    Output,
    OutputFormat,
    ProjectFile,
    console,
    notifying_client,
    open_client,
    print_json,
)
from mlrelease.cli.project import report_pipeline_result
from mlrelease.cli.render import StepProgress, checks_table, gates_table, key_value_table, timestamp

__all__ = ["register"]

runs_app = typer.Typer(
    help="List pipeline runs, or explain one with `runs show ID`.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def run(
    project_file: ProjectFile = DEFAULT_FILE,
    force: Annotated[
        bool, typer.Option("--force", help="Retrain even if nothing changed.")
    ] = False,
) -> None:
    """Run the pipeline: load, check, split, train, evaluate, gate, register.

    Exit code 1 when a data check or a quality gate refuses (nothing is registered),
    2 when the project file is invalid.
    """
    with notifying_client(project_file, require_project=True) as client:
        with StepProgress() as progress:
            result = client.run(force=force, observer=progress)
        report_pipeline_result(result)


@runs_app.callback()
def list_runs(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Only runs of this model.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """List pipeline runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    with open_client(project_file) as client:
        runs = client.runs(model, limit=limit)
    if output is OutputFormat.json:
        print_json([asdict(run) for run in runs])
        return
    table = Table(title="Runs", title_justify="left")
    for column in ("id", "model", "status", "version", "started", "seconds", "note"):
        table.add_column(column)
    for info in runs:
        seconds = info.duration_seconds
        table.add_row(
            info.id[:8],
            info.model_name,
            _status(info.status),
            str(info.model_version or "-"),
            timestamp(info.started_at),
            "-" if seconds is None else f"{seconds:.1f}",
            info.error.splitlines()[0] if info.error else "",
        )
    console.print(table)


@runs_app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="Run id (the first 8 characters are enough).")],
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Explain one run: steps and timings, checks, metrics, gates, lineage, logs."""
    with open_client(project_file) as client:
        info, logs = client.get_run(run_id)
    if output is OutputFormat.json:
        print_json({**asdict(info), "logs": [asdict(log) for log in logs]})
        return
    git = info.lineage.get("git", {})
    console.print(
        key_value_table(
            f"Run {info.id}",
            [
                ("model", info.model_name),
                ("status", info.status),
                ("version", info.model_version),
                ("started", timestamp(info.started_at)),
                ("finished", timestamp(info.finished_at)),
                ("data", info.data_fingerprint),
                (
                    "git commit",
                    f"{git.get('commit') or 'unknown'}{' (dirty)' if git.get('dirty') else ''}",
                ),
                ("project", info.project_path),
                ("error", info.error or None),
            ],
        )
    )
    steps = Table(title="Steps", title_justify="left")
    for column in ("step", "status", "seconds", "detail"):
        steps.add_column(column)
    for step in info.steps:
        steps.add_row(
            step["name"], step["status"], f"{step['seconds']:.3f}", step.get("detail", "")
        )
    console.print(steps)
    if info.checks:
        console.print(checks_table(info.checks))
    if info.metrics:
        console.print(key_value_table("Metrics", info.metrics.items()))
    if info.params:
        console.print(key_value_table("Params", info.params.items()))
    if info.gate_results:
        console.print(gates_table(info.gate_results))
    packages = info.lineage.get("packages", {})
    if packages:
        console.print("packages: " + ", ".join(f"{k} {v}" for k, v in packages.items()))
    for log in logs:
        console.print(f"[dim]{timestamp(log.timestamp)}[/] {log.level:<7} {log.message}")


def _status(status: str) -> str:
    colour = {"succeeded": "green", "cached": "cyan", "running": "yellow"}.get(status, "red")
    return f"[{colour}]{status}[/]"


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.add_typer(runs_app, name="runs")
