"""GitOps on promotion: when an environment's alias moves, commit its manifests.

An environment with ``gitops:`` in the project file has its Kubernetes manifests
rendered for the version now live there (the server pinned to it) and committed to
the configured repository, so Argo CD or Flux rolls it out -- through an Argo
Rollouts canary where the environment's release is a canary.
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath

from mlrelease.deploy.gitops import commit_message, commit_rendering
from mlrelease.deploy.kubernetes import KubernetesOptions, render_manifests
from mlrelease.errors import ConfigError, MlreleaseError
from mlrelease.spec import LoadedSpec

__all__ = ["GitopsFailed", "sync_environment"]


class GitopsFailed(ConfigError):
    """The alias moved, but its manifests could not be committed."""


def sync_environment(project: LoadedSpec, environment: str, version: int) -> str | None:
    """Render and commit the environment's manifests; the new commit's sha, None if unchanged."""
    spec = project.spec
    gitops = spec.environments[environment].gitops
    if gitops is None:
        return None
    try:
        options = dataclasses.replace(
            KubernetesOptions(**gitops.kubernetes), environment=environment, version=version
        )
        files = render_manifests(
            spec, options, project_text=project.path.read_text(encoding="utf-8")
        )
        folder = PurePosixPath(gitops.dir or f"{spec.model}/{environment}")
        repo = project.project_dir / gitops.repo
        return commit_rendering(
            repo, folder, files, commit_message(spec.model, environment, version)
        )
    except MlreleaseError as exc:
        raise GitopsFailed(
            f"{spec.model} v{version} is live in {environment}, but its manifests were not "
            f"committed: {exc.message}; fix it, then: mlrelease deploy kubernetes --env "
            f"{environment} --version {version} --gitops {gitops.repo}"
        ) from None
