"""Lineage: where a model came from -- git commit and dirty flag, package versions."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["collect_lineage", "git_state", "package_versions"]

_CORE_PACKAGES = ("mlrelease", "scikit-learn", "numpy", "pandas", "scipy", "skops")


def git_state(directory: Path) -> dict[str, Any]:
    """The commit checked out in ``directory`` and whether the work tree has changes.

    Outside a git repository (or without git) both are None: lineage says
    "unknown" rather than guessing.
    """
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def _git(directory: Path, *args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def package_versions(extra: Iterable[str] = ()) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in (*_CORE_PACKAGES, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def collect_lineage(project_dir: Path, extra_packages: Iterable[str] = ()) -> dict[str, Any]:
    return {"git": git_state(project_dir), "packages": package_versions(extra_packages)}
