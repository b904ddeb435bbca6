"""Commands about the registry: models, versions, show, gate."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
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
from mlrelease.cli.render import gates_table, key_value_table, timestamp
from mlrelease.gates import raise_for_failed_gates

if TYPE_CHECKING:
    from mlrelease.registry.records import VersionInfo

__all__ = ["register"]

ModelName = Annotated[str, typer.Argument(help="Model name, e.g. breast-cancer.")]
VersionNumber = Annotated[int, typer.Argument(min=1, help="Version number.")]


def models(project_file: ProjectFile = DEFAULT_FILE, output: Output = OutputFormat.table) -> None:
    """List registered models with their latest version and what each environment runs."""
    with open_client(project_file) as client:
        infos = client.models()
    if output is OutputFormat.json:
        print_json([asdict(info) for info in infos])
        return
    table = Table(title="Models", title_justify="left")
    for column in ("model", "task", "latest", "live", "created"):
        table.add_column(column)
    for info in infos:
        live = ", ".join(f"{env}=v{version}" for env, version in sorted(info.aliases.items()))
        table.add_row(
            info.name,
            info.task,
            str(info.latest_version or "-"),
            live or "-",
            timestamp(info.created_at),
        )
    console.print(table)


def versions(
    model: ModelName, project_file: ProjectFile = DEFAULT_FILE, output: Output = OutputFormat.table
) -> None:
    """List a model's versions with their metrics and where each is live."""
    with open_client(project_file) as client:
        rows = client.versions(model)
        live = client.registry.model(model).aliases
    if output is OutputFormat.json:
        print_json([asdict(row) for row in rows])
        return
    metric_names = sorted({name for row in rows for name in row.metrics})[:6]
    table = Table(title=f"Versions of {model}", title_justify="left")
    for column in ("version", "status", "live in", *metric_names, "created", "by"):
        table.add_column(column)
    for row in rows:
        envs = ", ".join(sorted(env for env, number in live.items() if number == row.version))
        values = [_metric(row.metrics.get(name)) for name in metric_names]
        table.add_row(
            str(row.version),
            row.status,
            envs or "-",
            *values,
            timestamp(row.created_at),
            row.created_by,
        )
    console.print(table)


def show(
    model: ModelName,
    version: VersionNumber,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Show one version: artifact and sha256, metrics, params, signature, lineage, gates."""
    with open_client(project_file) as client:
        info = client.version(model, version)
    if output is OutputFormat.json:
        print_json(asdict(info))
        return
    git = info.lineage.get("git", {})
    console.print(
        key_value_table(
            f"{model} version {version}",
            [
                ("status", info.status),
                ("flavor", info.flavor),
                ("artifact", info.artifact_uri),
                ("sha256", info.artifact_sha256),
                ("served from", _served_from(info)),
                ("run", info.run_id),
                ("data", info.lineage.get("data_fingerprint")),
                ("git commit", git.get("commit")),
                ("created", f"{timestamp(info.created_at)} by {info.created_by}"),
            ],
        )
    )
    console.print(key_value_table("Metrics", info.metrics.items()))
    if info.params:
        console.print(key_value_table("Params", info.params.items()))
    inputs = info.signature.get("inputs", [])
    console.print(
        f"signature: {len(inputs)} inputs ("
        + ", ".join(f"{item['name']}:{item['kind']}" for item in inputs[:8])
        + (", ..." if len(inputs) > 8 else "")
        + ")"
    )
    if info.gate_results:
        console.print(gates_table(info.gate_results))


def gate(
    model: ModelName,
    version: VersionNumber,
    env: Annotated[
        str | None,
        typer.Option(
            help="Compare with the champion of this environment and add its policy's gates."
        ),
    ] = None,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Evaluate the quality gates for an existing version; exit code 1 if any fails.

    The champion is scored afresh on the version's own evaluation rows. Use it in CI
    to block a deployment: `mlrelease gate my-model 7 --env production || exit 1`.
    """
    with open_client(project_file) as client:
        results = client.check_gates(model, version, env=env)
    if output is OutputFormat.json:
        print_json([result.to_dict() for result in results])
    elif results:
        console.print(gates_table([result.to_dict() for result in results]))
    else:
        console.print("no gates configured: nothing to check")
    raise_for_failed_gates(results, subject=f"{model} v{version}")
    if output is OutputFormat.table and results:
        console.print(f"[bold green]all {len(results)} gate(s) passed[/]")


def _metric(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


def register(app: typer.Typer) -> None:
    for command in (models, versions, show, gate):
        app.command()(command)


def _served_from(info: VersionInfo) -> str:
    form = info.serving_form
    if not form:
        return "the artifact"
    return f"its linear form {form['uri']} (numpy; no scikit-learn at start-up)"
