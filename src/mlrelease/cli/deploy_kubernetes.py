"""`mlrelease deploy kubernetes`: manifests for one environment, into a folder or a config repo."""

from __future__ import annotations

import dataclasses
import os
import shlex
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from mlrelease.cli._common import DEFAULT_FILE, ProjectFile, console, err_console
from mlrelease.errors import ConfigError, MlreleaseError

if TYPE_CHECKING:
    from mlrelease.deploy.kubernetes import KubernetesOptions
    from mlrelease.spec import LoadedSpec

__all__ = ["register"]

DEFAULT_OUT = Path("deploy")


def kubernetes(
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model name (default: the project file's model)."),
    ] = None,
    env: Annotated[str, typer.Option("--env", "-e", help="Environment to render.")] = (
        "production"
    ),
    out: Annotated[
        Path | None,
        typer.Option(
            help="Directory for the YAML files (default ./deploy, or none with --gitops)."
        ),
    ] = None,
    namespace: Annotated[str, typer.Option(help="Namespace of every object.")] = "default",
    image: Annotated[
        str | None,
        typer.Option(
            help="Image with mlrelease and the project's code (default mlrelease:VERSION)."
        ),
    ] = None,
    replicas: Annotated[
        int, typer.Option(help="Server pods (the autoscaler's minimum when it is on).")
    ] = 2,
    workers: Annotated[int, typer.Option(help="`mlrelease serve --workers` per pod.")] = 1,
    cpu: Annotated[str, typer.Option(help="CPU request per pod, e.g. 500m or 2.")] = "500m",
    memory: Annotated[
        str, typer.Option(help="Memory request and limit per pod, e.g. 1Gi.")
    ] = "1Gi",
    cpu_limit: Annotated[
        str | None, typer.Option(help="CPU limit per pod (default none: limits throttle).")
    ] = None,
    secret: Annotated[
        str,
        typer.Option(help="Secret with MLRELEASE_DB and each ${VAR} the project file reads."),
    ] = "mlrelease-store",
    configmap: Annotated[
        str, typer.Option(help="ConfigMap with MLRELEASE_ARTIFACTS.")
    ] = "mlrelease-config",
    hpa_cpu: Annotated[
        int, typer.Option(help="Autoscale at this CPU utilisation, % of the request (0: off).")
    ] = 70,
    hpa_rps: Annotated[
        float | None,
        typer.Option(help="Autoscale at this many requests/s per pod (needs prometheus-adapter)."),
    ] = None,
    min_replicas: Annotated[
        int | None, typer.Option(help="Autoscaler minimum (default: --replicas).")
    ] = None,
    max_replicas: Annotated[
        int | None, typer.Option(help="Autoscaler maximum (default: 10, or the minimum).")
    ] = None,
    service_monitor: Annotated[
        bool,
        typer.Option(
            "--service-monitor",
            help="A prometheus-operator ServiceMonitor instead of prometheus.io/* annotations.",
        ),
    ] = False,
    argo: Annotated[
        bool,
        typer.Option(
            "--argo/--no-argo",
            help="A canary environment as an Argo Rollout (--no-argo: a Deployment whose servers "
            "split traffic, the release run by `mlrelease controller`).",
        ),
    ] = True,
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            help="Pin the served version (an Argo Rollout needs one; default: the version live "
            "in the environment).",
        ),
    ] = None,
    controller: Annotated[
        bool,
        typer.Option(
            "--controller/--no-controller",
            help="Also the controller, retrain CronJob and training Job (once per project).",
        ),
    ] = True,
    prometheus_url: Annotated[
        str | None,
        typer.Option(help="Prometheus for Argo's analysis (default: the project file's)."),
    ] = None,
    gitops: Annotated[
        Path | None,
        typer.Option(help="Checkout of a config repository: write there and commit."),
    ] = None,
    gitops_dir: Annotated[
        str | None,
        typer.Option(help="Folder in the --gitops repository (default MODEL/ENV)."),
    ] = None,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Write Kubernetes manifests for one environment: one YAML file per object.

    The model server (a Deployment, or an Argo Rollout with AnalysisTemplates for a
    `release: canary` environment), its Services, autoscaler and disruption budget,
    the controller, a CronJob per retrain schedule, a training Job, the project
    file as a ConfigMap, and a kustomization.yaml. The same input writes the same
    bytes. Credentials stay out: pods read MLRELEASE_DB from --secret and
    MLRELEASE_ARTIFACTS from --configmap. With --gitops PATH the files go to
    PATH/MODEL/ENV and are committed (nothing when unchanged).
    """
    from mlrelease.deploy.kubernetes import (
        DEFAULT_IMAGE,
        KubernetesOptions,
        deployment_notes,
        render_manifests,
    )
    from mlrelease.spec import load_spec

    loaded = load_spec(project_file)
    if model is not None and model != loaded.spec.model:
        raise ConfigError(
            f"--model: {project_file} describes '{loaded.spec.model}', not '{model}'; "
            "leave --model out, or pass --file with that model's project file"
        )
    live = _live_version(loaded, env) if env in loaded.spec.environments else None
    options = KubernetesOptions(
        environment=env,
        namespace=namespace,
        image=image or DEFAULT_IMAGE,
        replicas=replicas,
        workers=workers,
        cpu=cpu,
        memory=memory,
        cpu_limit=cpu_limit,
        secret=secret,
        configmap=configmap,
        hpa_cpu=hpa_cpu or None,
        hpa_rps=hpa_rps,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        service_monitor=service_monitor,
        argo=argo,
        version=version,
        controller=controller,
        prometheus_url=prometheus_url,
    )
    if version is None and env in loaded.spec.environments and options.uses_rollout(loaded.spec):
        options = _replace_version(options, live)
    target = out if out is not None or gitops is not None else DEFAULT_OUT
    if target is not None and target.exists() and not target.is_dir():
        raise ConfigError(f"--out: {target} is a file; give a directory (e.g. --out deploy)")
    folder = _gitops_folder(gitops_dir, loaded.spec.model, env) if gitops is not None else None
    text = loaded.path.read_text(encoding="utf-8")
    files = render_manifests(loaded.spec, options, project_text=text)
    for note in deployment_notes(loaded.spec, options):
        err_console.print(f"[yellow]warning:[/] {escape(note.message)}")
    if gitops is not None and folder is not None:  # first: it refuses before writing
        _commit(gitops, folder, files, loaded.spec.model, env, options.version or live)
    if target is not None:
        _write_out(target, files)
    _next_steps(options, target, text)


def _replace_version(options: KubernetesOptions, live: int | None) -> KubernetesOptions:
    if live is None:
        return options  # render_manifests says a Rollout needs --version
    err_console.print(
        f"pinned to v{live}, the version live in {options.environment} "
        "(pass --version N to roll out N)"
    )
    return dataclasses.replace(options, version=live)


def _live_version(loaded: LoadedSpec, env: str) -> int | None:
    """The version the environment's alias names, if the registry can be read (else None)."""
    from mlrelease.cli._common import open_client
    from mlrelease.settings import resolve_settings
    from mlrelease.store.engine import normalise_url

    settings = resolve_settings(loaded.spec, base_dir=loaded.project_dir, env=os.environ)
    try:
        url = normalise_url(settings.db_url, base_dir=settings.base_dir)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            return None  # no registry here; do not create one
        with open_client(loaded.path) as client:
            return client.registry.alias_version(loaded.spec.model, env)
    except (MlreleaseError, ImportError):
        return None


def _gitops_folder(gitops_dir: str | None, model: str, env: str) -> PurePosixPath:
    from mlrelease.deploy.kubernetes._options import dns_name

    if gitops_dir is None:
        return PurePosixPath(model) / env
    folder = PurePosixPath(gitops_dir)
    if folder.is_absolute() or ".." in folder.parts or str(folder) in ("", "."):
        raise ConfigError(
            f"--gitops-dir: {gitops_dir!r} must be a folder inside the repository, "
            f"e.g. {dns_name(model)}/{env}"
        )
    return folder


def _write_out(target: Path, files: dict[str, str]) -> None:
    from mlrelease.deploy.gitops import write_files
    from mlrelease.deploy.kubernetes import previous_files

    stale = sorted(previous_files(target) - set(files))
    changed = write_files(target, files, remove=stale)
    console.print(
        f"wrote {len(files)} files to {target}/ ({len(changed)} changed"
        + (f", removed {', '.join(stale)}" if stale else "")
        + ")"
    )


def _commit(
    repo: Path,
    folder: PurePosixPath,
    files: dict[str, str],
    model: str,
    env: str,
    version: int | None,
) -> None:
    from mlrelease.deploy.gitops import commit_message, commit_rendering

    sha = commit_rendering(repo, folder, files, commit_message(model, env, version))
    if sha is None:
        console.print(f"{repo / folder} is up to date: nothing to commit")
    else:
        console.print(f"committed {sha[:12]} to {repo}: {commit_message(model, env, version)}")


def _next_steps(options: KubernetesOptions, target: Path | None, project_text: str) -> None:
    from mlrelease.deploy.kubernetes import TRAIN_JOB
    from mlrelease.deploy.kubernetes._workloads import project_variables

    ns = f"-n {options.namespace}"
    variables = "".join(f" --from-literal={name}=..." for name in project_variables(project_text))
    console.print("\nbefore the first apply, create what the pods read (values stay out of git):")
    console.print(
        f"  kubectl {ns} create secret generic {options.secret} "
        f"--from-literal=MLRELEASE_DB='postgresql://USER:PASSWORD@HOST:5432/mlrelease'{variables}"
    )
    console.print(
        f"  kubectl {ns} create configmap {options.configmap} "
        "--from-literal=MLRELEASE_ARTIFACTS='s3://BUCKET/PREFIX'"
    )
    if target is not None:
        folder = shlex.quote(str(target))
        console.print(f"apply: kubectl apply -k {folder}")
        if options.controller:
            console.print(f"train in the cluster: kubectl create -f {folder}/{TRAIN_JOB}")


def register(app: typer.Typer) -> None:
    app.command("kubernetes")(kubernetes)
