"""Where the stores are: one typed settings object, built once at start-up.

Precedence, lowest first: built-in defaults (SQLite and a local folder under
``.mlrelease/`` next to the project file), then the project file's ``store:``
section, then the environment (``MLRELEASE_DB``, ``MLRELEASE_ARTIFACTS``). The
environment mapping is passed in, so tests pass their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlrelease.spec import LoadedSpec, ProjectSpec, load_spec

__all__ = ["DEFAULT_ARTIFACTS", "DEFAULT_DB", "Settings", "load_project", "resolve_settings"]

DEFAULT_DB = "sqlite:///.mlrelease/mlrelease.db"
DEFAULT_ARTIFACTS = ".mlrelease/artifacts"


@dataclass(frozen=True)
class Settings:
    db_url: str
    artifacts_url: str
    base_dir: Path
    trusted_types: tuple[str, ...] = ()


def resolve_settings(
    spec: ProjectSpec | None, *, base_dir: Path, env: Mapping[str, str]
) -> Settings:
    store = spec.store if spec is not None else None
    db_url = env.get("MLRELEASE_DB") or (store.metadata if store else None) or DEFAULT_DB
    artifacts = (
        env.get("MLRELEASE_ARTIFACTS") or (store.artifacts if store else None) or DEFAULT_ARTIFACTS
    )
    trusted = tuple(spec.registry.trusted_types) if spec is not None else ()
    return Settings(
        db_url=db_url, artifacts_url=artifacts, base_dir=base_dir.resolve(), trusted_types=trusted
    )


def load_project(path: Path, env: Mapping[str, str]) -> tuple[LoadedSpec, Settings]:
    """A project file and the settings it resolves to (its stores beside it by default)."""
    project = load_spec(path, env)
    return project, resolve_settings(project.spec, base_dir=project.project_dir, env=env)
