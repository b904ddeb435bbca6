"""Writing new projects: the commented project file `mlrelease init` and `quickstart` start from."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mlrelease.errors import ConflictError
from mlrelease.names import validate_name
from mlrelease.spec import DEFAULT_FILENAME, Task, parse_spec

__all__ = ["QUICKSTART", "render_project_file", "write_project_file"]

_DEFAULTS: dict[str, tuple[str, str, str]] = {
    # task -> (model name, data source, target column)
    "classification": ("breast-cancer", "sklearn:load_breast_cancer", "target"),
    "regression": ("diabetes", "sklearn:load_diabetes", "target"),
}
QUICKSTART = _DEFAULTS["classification"]


def render_project_file(
    task: Task, *, model: str | None = None, source: str | None = None, target: str | None = None
) -> str:
    default_model, default_source, default_target = _DEFAULTS[task]
    text = resources.files("mlrelease.templates").joinpath(f"{task}.yaml").read_text("utf-8")
    text = (
        text.replace("__MODEL__", validate_name(model or default_model, what="model name"))
        .replace("__SOURCE__", source or default_source)
        .replace("__TARGET__", target or default_target)
    )
    parse_spec(text, env={}, filename=DEFAULT_FILENAME)  # what we write must validate
    return text


def write_project_file(path: Path, text: str, *, overwrite: bool = False) -> Path:
    if path.is_dir():
        path = path / DEFAULT_FILENAME
    if path.exists() and not overwrite:
        raise ConflictError(f"{path} already exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return path
