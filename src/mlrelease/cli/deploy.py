"""Commands that write configuration for outside infrastructure: deploy nginx."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml

from mlrelease.cli._common import DEFAULT_FILE, ProjectFile
from mlrelease.errors import ConfigError

if TYPE_CHECKING:
    from mlrelease.release.routers.nginx import NginxSite
    from mlrelease.spec import NginxSpec, ProjectSpec

__all__ = ["app"]

app = typer.Typer(
    help="Write configuration that runs mlrelease behind outside infrastructure.",
    no_args_is_help=True,
)

DEFAULT_STABLE = "127.0.0.1:8001"
DEFAULT_CANARY = "127.0.0.1:8002"


@app.command("nginx")
def nginx(
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model name (default: the project file's model)."),
    ] = None,
    env: Annotated[
        str, typer.Option("--env", "-e", help="Environment whose releases NGINX routes.")
    ] = "production",
    stable: Annotated[
        str | None,
        typer.Option(
            help=f"HOST:PORT of the server of the stable version (default: the project "
            f"file's router.nginx.stable, else {DEFAULT_STABLE})."
        ),
    ] = None,
    canary: Annotated[
        str | None,
        typer.Option(
            help=f"HOST:PORT of the server of the new version (default: the project "
            f"file's router.nginx.canary, else {DEFAULT_CANARY})."
        ),
    ] = None,
    listen: Annotated[
        str, typer.Option(help="HOST:PORT NGINX listens on for clients.")
    ] = "127.0.0.1:8080",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Directory for nginx.conf, upstream.conf, logs and pid (default: the folder "
            "of the project file's router.nginx.config, else ./nginx)."
        ),
    ] = None,
    workers: Annotated[str, typer.Option(help="NGINX worker processes: a number or auto.")] = (
        "auto"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Write an NGINX config that splits traffic between a stable and a canary server.

    Writes DIR/nginx.conf (runs as a non-root user: pid, logs and temporary files in
    DIR) and DIR/upstream.conf, the weighted upstream the release controller
    rewrites at each step before reloading NGINX. Prints how to start NGINX and the
    backends, and the `release: canary: router:` block for the project file.
    """
    from mlrelease.release.routers.nginx import write_site

    site = _site(model, env, stable, canary, listen, out, workers, project_file)
    written = write_site(site, overwrite=force)
    _print_next_steps(site, written)


def _site(
    model: str | None,
    env: str,
    stable: str | None,
    canary: str | None,
    listen: str,
    out: Path | None,
    workers: str,
    project_file: Path,
) -> NginxSite:
    """The site to write, from the options, then the project file, then the defaults."""
    from mlrelease.release.routers.nginx import Address, NginxSite

    project = _project(project_file)
    configured = _configured_router(project)
    if project is not None and env not in project.environments:
        raise ConfigError(
            f"--env: no environment named '{env}' in {project_file}; "
            f"defined: {', '.join(project.environments)}"
        )
    model = model or (project.model if project else None)
    if model is None:
        raise ConfigError("--model: give the model name (no project file to take it from)")
    directory, upstream_file = _paths(out, configured, project_file)
    return NginxSite(
        model=model,
        environment=env,
        stable=Address.parse(
            stable or _pick(configured, "stable", DEFAULT_STABLE), what="--stable"
        ),
        canary=Address.parse(
            canary or _pick(configured, "canary", DEFAULT_CANARY), what="--canary"
        ),
        listen=Address.parse(listen, what="--listen"),
        directory=directory,
        upstream_file=upstream_file,
        workers=workers,
        nginx=shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin") or "nginx",
    )


def _project(project_file: Path) -> ProjectSpec | None:
    from mlrelease.spec import load_spec

    return load_spec(project_file).spec if project_file.exists() else None


def _configured_router(project: ProjectSpec | None) -> NginxSpec | None:
    from mlrelease.spec import NginxRouterSpec

    router = project.release.canary.router if project else None
    return router.nginx if isinstance(router, NginxRouterSpec) else None


def _pick(configured: NginxSpec | None, field: str, default: str) -> str:
    return str(getattr(configured, field)) if configured else default


def _paths(out: Path | None, configured: NginxSpec | None, project_file: Path) -> tuple[Path, Path]:
    """(directory, upstream file): --out wins; else where the project file puts the upstream."""
    if out is not None:
        directory = out.resolve()
        return directory, directory / "upstream.conf"
    if configured is not None:
        upstream = Path(configured.config)
        if not upstream.is_absolute():
            upstream = project_file.resolve().parent / upstream
        return upstream.parent, upstream
    directory = Path("nginx").resolve()
    return directory, directory / "upstream.conf"


def _print_next_steps(site: NginxSite, written: list[Path]) -> None:
    typer.echo(f"wrote {', '.join(str(path) for path in written)}")
    typer.echo("\nstart NGINX (add -g 'daemon off;' to keep it in the foreground):")
    typer.echo(f"  {shlex.join(site.start_command())}")
    typer.echo("\nstart one server per version, pinned (NGINX splits, not the servers):")
    for role, address in (("stable", site.stable), ("canary", site.canary)):
        typer.echo(
            f"  mlrelease serve --model {site.model} --env {site.environment} "
            f"--version <{role} version> --host {address.host} --port {address.port}"
        )
    typer.echo(f"\nclients send requests to http://{site.listen}/predict")
    typer.echo("\nthen put this in the project file, so releases drive NGINX:\n")
    spec = site.router_spec().model_dump()
    block = {"release": {"canary": {"router": {"nginx": spec}}}}
    typer.echo(yaml.safe_dump(block, sort_keys=False, default_flow_style=None, width=1000))
