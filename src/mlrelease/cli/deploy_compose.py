"""deploy compose and deploy dockerfile: a single-host stack, and the image it runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlrelease.cli._common import DEFAULT_FILE, ProjectFile
from mlrelease.errors import ConfigError

if TYPE_CHECKING:
    from mlrelease.spec import ProjectSpec

__all__ = ["register"]

ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model name (default: the project file's model)."),
]
EnvOption = Annotated[str, typer.Option("--env", "-e", help="Environment the servers serve.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace files that exist and differ.")]


def compose(
    out: Annotated[
        Path, typer.Option(help="Folder for compose.yaml, nginx/ and prometheus/.")
    ] = Path("deploy"),
    model: ModelOption = None,
    env: EnvOption = "production",
    image: Annotated[
        str | None,
        typer.Option(
            help="The mlrelease image with a fixed tag or digest (default mlrelease:VERSION; "
            "build it with `deploy dockerfile`)."
        ),
    ] = None,
    replicas: Annotated[int, typer.Option(min=1, max=64, help="Server replicas behind NGINX.")] = 2,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Host port NGINX is published on.")
    ] = 8080,
    postgres: Annotated[
        bool,
        typer.Option(
            "--postgres",
            help="Add a postgres:16 service as the metadata store (password from "
            "POSTGRES_PASSWORD at `docker compose up`, never in the file).",
        ),
    ] = False,
    force: ForceOption = False,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Write a Docker Compose stack for one host: servers, NGINX, controller, Prometheus.

    OUT/compose.yaml runs --replicas copies of `mlrelease serve --model M --env E`
    (each serves the environment's alias and splits canary traffic itself, from
    the shared store), NGINX in front of them (OUT/nginx/, the config of `deploy
    nginx`, mounted read-only), `mlrelease controller`, and Prometheus scraping
    every replica (OUT/prometheus/prometheus.yml). The project's folder is mounted
    at /project, store included. The same options write the same bytes.
    """
    from mlrelease.deploy.compose import ComposeOptions, render_compose, write_files
    from mlrelease.deploy.container import default_image

    project = _project(project_file)
    if project is None:
        raise ConfigError(
            f"{project_file}: no project file; the stack mounts the project's folder. Run "
            "`mlrelease init` (or `mlrelease quickstart`) first, or pass --file PATH"
        )
    _check_environment(project, env, project_file)
    directory = out.resolve()
    options = ComposeOptions(
        model=model or project.model,
        environment=env,
        image=image or default_image(),
        project_dir=os.path.relpath(project_file.resolve().parent, directory),
        project_file=project_file.name,
        replicas=replicas,
        port=port,
        postgres=postgres,
    )
    outcome = write_files(directory, render_compose(options), overwrite=force)
    _print_outcome(outcome)
    typer.echo(f"\nbuild the image, then start the stack:\n  docker build -t {options.image} .")
    typer.echo(f"  docker compose -f {out / 'compose.yaml'} up -d")
    typer.echo(f"clients send requests to http://127.0.0.1:{port}/predict")
    _warn_about_releases(project, env)


def dockerfile(
    out: Annotated[
        Path,
        typer.Option(help="The Dockerfile to write; .dockerignore goes beside it."),
    ] = Path("Dockerfile"),
    python: Annotated[str, typer.Option(help="Python of the python:X.Y-slim base.")] = "3.11",
    extras: Annotated[
        str,
        typer.Option(
            help="mlrelease extras to install, comma-separated: postgres, s3, parquet, "
            "redis, kafka, report ('' for none)."
        ),
    ] = "postgres,s3",
    model: ModelOption = None,
    env: EnvOption = "production",
    force: ForceOption = False,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Write a Dockerfile that serves a model with `mlrelease serve`, and its .dockerignore.

    A two-stage build on python:X.Y-slim (wheels first, then an image without pip's
    cache or the wheels), the project's folder copied to /project, a non-root user
    (uid 10001), a HEALTHCHECK on /v2/health/ready, port 8000, and
    ENTRYPOINT ["mlrelease"] CMD ["serve", ...]. Build it from the project's folder.
    """
    from mlrelease.deploy.compose import write_files
    from mlrelease.deploy.container import (
        DockerfileOptions,
        parse_extras,
        render_dockerfile,
        render_dockerignore,
    )

    project = _project(project_file)
    if project is not None:
        _check_environment(project, env, project_file)
    name = model or (project.model if project else None)
    if name is None:
        raise ConfigError(
            f"--model: give the model name (no project file at {project_file} to take it from)"
        )
    options = DockerfileOptions(
        model=name,
        environment=env,
        python=python,
        extras=parse_extras(extras),
        project_file=project_file.name,
    )
    if out.name in ("", ".", "..") or out.is_dir():
        raise ConfigError(
            f"--out: {out} is a folder; give the Dockerfile's path, e.g. {out}/Dockerfile"
        )
    files = {out.name: render_dockerfile(options), ".dockerignore": render_dockerignore()}
    outcome = write_files(out.resolve().parent, files, overwrite=force)
    _print_outcome(outcome)
    context = out.resolve().parent
    typer.echo(f"\nbuild it from {context} (the build context):")
    typer.echo(f"  docker build -t {name}:TAG -f {out} {os.path.relpath(context)}")
    if project is not None and context != project_file.resolve().parent:
        typer.echo(
            f"note: the project file is in {project_file.resolve().parent}, not in the build "
            "context; the image will not contain it"
        )


def _project(project_file: Path) -> ProjectSpec | None:
    from mlrelease.spec import load_spec

    return load_spec(project_file).spec if project_file.exists() else None


def _check_environment(project: ProjectSpec, env: str, project_file: Path) -> None:
    if env not in project.environments:
        raise ConfigError(
            f"--env: no environment named '{env}' in {project_file}; "
            f"defined: {', '.join(project.environments)}"
        )


def _print_outcome(outcome: dict[Path, str]) -> None:
    for path, what in outcome.items():
        typer.echo(f"{what:>9} {path}")


def _warn_about_releases(project: ProjectSpec, env: str) -> None:
    from mlrelease.spec import NginxRouterSpec

    if isinstance(project.release.canary.router, NginxRouterSpec):
        typer.echo(
            "\nwarning: the project file routes canaries through NGINX (router: nginx); in this "
            "stack the servers split traffic themselves: set `router: local` (or remove it)",
            err=True,
        )
    if project.environments[env].release == "direct":
        typer.echo(
            f"\n{env} releases directly (its alias moves at once); `release: canary` in the "
            "project file makes the controller walk canary steps instead"
        )


def register(app: typer.Typer) -> None:
    app.command("compose")(compose)
    app.command("dockerfile")(dockerfile)
