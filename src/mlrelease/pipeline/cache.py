"""The pipeline cache key: what must be unchanged for a rerun to be skipped.

Two runs share a key when the project file's training-relevant sections, the
data's fingerprint, the source of the user's own training/loading modules and
the versions of the packages that train the model are all the same.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from mlrelease.imports import project_on_path
from mlrelease.pipeline.lineage import package_versions
from mlrelease.spec import ProjectSpec

__all__ = ["cache_key"]


def cache_key(spec: ProjectSpec, *, data_fingerprint: str, base_dir: Path) -> str:
    material: dict[str, Any] = {
        "spec": spec.model_dump(
            mode="json", include={"model", "task", "data", "train", "metrics", "gates"}
        ),
        "data": data_fingerprint,
        "code": _user_code_digests(spec, base_dir),
        "packages": package_versions(),
    }
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(encoded.encode()).hexdigest()


def _user_code_digests(spec: ProjectSpec, base_dir: Path) -> dict[str, str]:
    """sha256 of each user module the project names (entrypoint, loader), when it is a file."""
    modules = {
        reference.partition(":")[0]
        for reference in (spec.train.entrypoint, spec.data.source)
        if reference and ":" in reference and not reference.startswith("sklearn:")
    }
    digests: dict[str, str] = {}
    with project_on_path(base_dir):
        for module in sorted(modules):
            try:
                found = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                found = None
            origin = found.origin if found is not None else None
            if origin and Path(origin).is_file():
                digests[module] = hashlib.sha256(Path(origin).read_bytes()).hexdigest()
    return digests
