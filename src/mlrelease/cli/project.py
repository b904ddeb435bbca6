"""Commands about the project file: init, validate, quickstart."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlrelease.cli._common import DEFAULT_FILE, ProjectFile, console, open_client
from mlrelease.cli.render import StepProgress, gates_table, key_value_table
from mlrelease.pipeline.runs import RunStatus
from mlrelease.scaffold import render_project_file, write_project_file
from mlrelease.spec import DEFAULT_FILENAME, Task, load_spec, parse_spec

if TYPE_CHECKING:
    from mlrelease.client import Client
    from mlrelease.pipeline.runner import PipelineResult
    from mlrelease.registry.records import VersionInfo

__all__ = ["register", "report_pipeline_result"]


class CiProvider(StrEnum):
    github = "github"


def init(
    task: Annotated[
        str, typer.Option("--task", "-t", help="classification or regression.")
    ] = "classification",
    model: Annotated[str | None, typer.Option(help="Model name (default from the task).")] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="Data source: sklearn:load_NAME, a CSV/Parquet path or glob, or module:function."
        ),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target column.")] = None,
    project_file: ProjectFile = DEFAULT_FILE,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    ci: Annotated[
        CiProvider | None,
        typer.Option(
            "--ci",
            help="Also write CI beside the project file: github = .github/workflows/ci.yml "
            "(lint, tests), model.yml (train, gate, report on pull requests; promote on "
            "merges and releases) and .pre-commit-config.yaml. An existing project file is "
            "kept as it is; --force replaces CI files that differ.",
        ),
    ] = None,
) -> None:
    """Write a commented mlrelease.yaml for a classification or regression project."""
    if task not in ("classification", "regression"):
        raise typer.BadParameter("use classification or regression", param_hint="--task")
    task_kind: Task = "classification" if task == "classification" else "regression"
    if ci is not None:
        _init_ci(project_file, task_kind, model, source, target, force=force)
        return
    text = render_project_file(task_kind, model=model, source=source, target=target)
    path = write_project_file(project_file, text, overwrite=force)
    console.print(f"wrote {path}")
    console.print("next: edit it, then `mlrelease validate` and `mlrelease run`")


def _init_ci(
    project_file: Path,
    task: Task,
    model: str | None,
    source: str | None,
    target: str | None,
    *,
    force: bool,
) -> None:
    """The project file if there is none, and the CI files beside it: all written, or none."""
    from mlrelease.deploy.ci import SECRETS, CiOptions, render_github
    from mlrelease.deploy.compose import write_files

    path = project_file / DEFAULT_FILENAME if project_file.is_dir() else project_file
    files: dict[str, str] = {}
    if path.exists():
        spec = load_spec(path).spec
        console.print(f"using the existing {path}", markup=False)
    else:
        text = render_project_file(task, model=model, source=source, target=target)
        spec = parse_spec(text, env={}, filename=str(path))
        files[path.name] = text
    options = CiOptions(
        model=spec.model, environments=tuple(spec.environment_order), project_file=path.name
    )
    files.update(render_github(options))
    outcome = write_files(path.parent, files, overwrite=force)
    for written, what in outcome.items():
        console.print(f"{what:>9} {written}", markup=False)
    console.print(
        "next, on GitHub: add the repository secrets "
        f"{', '.join(SECRETS)} (shared stores); create the environment "
        f"'{options.production}' with required reviewers; require the check "
        "'Train, gate and report' on main. Locally: pip install pre-commit && "
        "pre-commit install",
        markup=False,
    )


def validate(project_file: ProjectFile = DEFAULT_FILE) -> None:
    """Check the project file: unknown keys, wrong types, missing fields, unknown metrics.

    Every problem is printed as one line naming the key's path; exit code 2 if any.
    """
    loaded = load_spec(project_file)
    spec = loaded.spec
    console.print(f"[green]✓[/] {loaded.path} is valid")
    console.print(
        f"  model {spec.model} ({spec.task}), data {spec.data.source}, "
        f"{len(spec.gates)} gate(s), environments {' -> '.join(spec.environment_order)}"
    )


def quickstart(
    directory: Annotated[
        Path, typer.Argument(help="Folder for the new project (created if missing).")
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Retrain even if nothing changed.")
    ] = False,
) -> None:
    """Create a breast-cancer classification project here, train it, gate it, register it.

    Writes mlrelease.yaml (if the folder has none), trains on scikit-learn's bundled
    breast-cancer data (no download), checks the gate macro_f1 >= 0.5, registers
    version 1 and points the dev alias at it. Run it again: an unchanged pipeline
    is recognised and not retrained (unless --force).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / DEFAULT_FILE
    if path.exists():
        console.print(f"using the existing {path}")
    else:
        write_project_file(path, render_project_file("classification"))
        console.print(f"wrote {path} (breast-cancer data bundled with scikit-learn, 30 features)")
    with open_client(path, require_project=True) as client:
        with StepProgress() as progress:
            result = client.run(force=force, observer=progress)
        report_pipeline_result(result)
        _print_next_steps(client, result, directory)


def report_pipeline_result(result: PipelineResult) -> None:
    if result.status == RunStatus.CACHED and result.cached_from is not None:
        version = result.version.version if result.version else "?"
        console.print(
            f"[yellow]unchanged:[/] same project file, data and code as run "
            f"{result.cached_from.id[:8]}; version {version} stands. Use --force to retrain."
        )
        return
    if result.gates:
        console.print(gates_table([gate.to_dict() for gate in result.gates]))
    console.print(key_value_table("Metrics (test split)", result.metrics.items()))
    if result.version is not None:
        console.print(
            f"[bold green]registered[/] {result.version.model} version {result.version.version}"
            f" -> {result.alias}   (run {result.run_id[:8]})"
        )


def _print_next_steps(client: Client, result: PipelineResult, directory: Path) -> None:
    spec = client.project.spec if client.project else None
    if spec is None or result.version is None:
        return
    model, number, env = spec.model, result.version.version, spec.first_environment
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    console.print("\nwhat to try next:")
    for line in (
        f"{where}mlrelease versions {model}            # the registry",
        f"{where}mlrelease show {model} {number}              # metrics, signature, lineage",
        f"{where}mlrelease gate {model} {number} --env production   # CI gate: exit 1 on failure",
        f"{where}mlrelease serve --model {model} --env {env}   # REST + Open Inference Protocol",
    ):
        console.print(f"  {line}")
    row = _example_row(client, result.version)
    if row is not None:
        body = json.dumps({"features": row}, separators=(",", ":"))
        console.print(
            "  then, in another terminal:\n"
            "  curl -s -X POST http://127.0.0.1:8000/predict "
            f"-H 'content-type: application/json' -d '{body}'"
        )
    console.print(
        f"  or look in a browser: {where}mlrelease token create --name me --role admin, "
        "then open http://127.0.0.1:8000/ui/ and log in with the token"
    )


def _example_row(client: Client, version: VersionInfo) -> list[Any] | None:
    """A real row of the version's evaluation set, to show a request that works."""
    from mlrelease.pipeline.evaluate import load_evaluation_set

    if not version.evaluation.get("uri"):
        return None
    data = load_evaluation_set(client.registry.artifacts, version.evaluation)
    return [value.item() if hasattr(value, "item") else value for value in data.X.iloc[0]]


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(validate)
    app.command()(quickstart)
