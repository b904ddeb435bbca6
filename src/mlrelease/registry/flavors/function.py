"""The "function" flavor: a model that is a plain Python function, referenced by import path.

The artifact is a small JSON file such as ``{"entrypoint": "pkg.scoring:predict"}``.
The code is referenced, never serialised: loading imports the named module, so it
must be importable (installed, or on ``PYTHONPATH``) wherever the model is served.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mlrelease.errors import ArtifactError, ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FunctionFlavor", "FunctionModel", "is_entrypoint"]

_IDENTIFIER = r"[^\W\d]\w*"
_ENTRYPOINT = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})*:{_IDENTIFIER}")

# Artifact key -> the key a user gives in the ``{"predict": ..., "predict_proba": ...}`` form.
_ROLES = {"entrypoint": "predict", "predict_proba": "predict_proba"}

PredictFunction = Callable[["pd.DataFrame"], Any]


def is_entrypoint(text: str) -> bool:
    """Whether ``text`` has the ``"package.module:function"`` form."""
    return _ENTRYPOINT.fullmatch(text) is not None


@dataclass(frozen=True)
class FunctionModel:
    """A loaded function model; its functions take a DataFrame and return array-likes."""

    predict_function: PredictFunction
    predict_proba_function: PredictFunction | None = None
    flavor: str = field(default="function", init=False)
    classes: list[Any] | None = field(default=None, init=False)

    def predict(self, X: pd.DataFrame) -> NDArray[Any]:
        return np.asarray(self.predict_function(X))

    def predict_with_proba(self, X: pd.DataFrame) -> tuple[NDArray[Any], NDArray[Any] | None]:
        return self.predict(X), self.predict_proba(X)

    def accept_matrices(self, columns: Sequence[str]) -> bool:
        return False  # the function is written against named columns

    def predict_proba(self, X: pd.DataFrame) -> NDArray[Any] | None:
        if self.predict_proba_function is None:
            return None
        return np.asarray(self.predict_proba_function(X))


@dataclass(frozen=True)
class FunctionFlavor:
    name: str = field(default="function", init=False)
    filename: str = field(default="model.json", init=False)

    def save(self, model: Any, path: Path) -> tuple[str, ...]:
        """Write the import path(s) of ``model``; nothing needs trusting, so returns ().

        ``model`` is a module-level function, a ``"module:function"`` string, or a
        mapping ``{"predict": <either>, "predict_proba": <either>}``.

        Raises:
            ConfigError: a function cannot be imported back from where it is defined.
        """
        functions = model if isinstance(model, Mapping) else {"predict": model}
        unknown = set(functions) - set(_ROLES.values())
        if unknown or "predict" not in functions:
            raise ConfigError(
                "A function model given as a mapping needs a 'predict' key and may have a "
                f"'predict_proba' key; got {sorted(map(str, functions))}."
            )
        document = {
            key: _entrypoint_of(functions[role], role)
            for key, role in _ROLES.items()
            if role in functions
        }
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return ()

    def load(self, path: Path, *, trusted_types: Sequence[str] = ()) -> FunctionModel:
        """Import the functions named in ``path``.

        ``trusted_types`` is accepted for a uniform flavor interface and not used:
        nothing is deserialised, only modules already importable are imported.

        Raises:
            ArtifactError: the file is malformed or a function cannot be imported.
        """
        document = _read_document(path)
        proba = document.get("predict_proba")
        return FunctionModel(
            predict_function=_import_function(document["entrypoint"], path),
            predict_proba_function=None if proba is None else _import_function(proba, path),
        )


def _entrypoint_of(function: object, role: str) -> str:
    entrypoint = function if isinstance(function, str) else _import_path_of(function, role)
    if not is_entrypoint(entrypoint):
        raise ConfigError(
            f"The {role} function {entrypoint!r} is not of the form 'package.module:function'."
        )
    try:
        resolved = _resolve(entrypoint)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"The {role} function {entrypoint!r} cannot be imported ({exc}); the model "
            "only stores this reference, so it must be importable where it is loaded."
        ) from exc
    if not isinstance(function, str) and resolved is not function:
        raise ConfigError(
            f"Importing {entrypoint!r} does not give back the {role} function that was "
            "passed; define it at the top level of an importable module."
        )
    if not callable(resolved):
        raise ConfigError(f"The {role} entry point {entrypoint!r} is not callable.")
    return entrypoint


def _import_path_of(function: object, role: str) -> str:
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if inspect.isclass(function) or not callable(function) or not (module and qualname):
        raise ConfigError(
            f"The {role} model must be a function or a 'module:function' string, "
            f"not {type(function).__name__}."
        )
    # Lambdas, nested functions, methods and anything from a script run as __main__
    # have no import path that reaches them again in another process.
    if module == "__main__" or not qualname.isidentifier():
        raise ConfigError(
            f"The {role} function {qualname!r} in module {module!r} cannot be referenced "
            "by import path: lambdas, nested functions, methods and functions defined "
            "in a script run directly cannot. Move it to the top level of an importable "
            "module and pass it (or 'module:function') instead."
        )
    return f"{module}:{qualname}"


def _read_document(path: Path) -> dict[str, str]:
    try:
        document: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"Function model file {path} cannot be read: {exc}.", details={"path": str(path)}
        ) from exc
    valid = (
        isinstance(document, dict)
        and "entrypoint" in document
        and set(document) <= set(_ROLES)
        and all(isinstance(value, str) for value in document.values())
    )
    if not valid:
        raise ArtifactError(
            f"Function model file {path} is malformed: expected "
            '{"entrypoint": "module:function"} with an optional "predict_proba".',
            details={"path": str(path)},
        )
    return document


def _import_function(entrypoint: str, path: Path) -> PredictFunction:
    if not is_entrypoint(entrypoint):
        raise ArtifactError(
            f"Function model file {path} names {entrypoint!r}, which is not of the form "
            "'package.module:function'.",
            details={"path": str(path), "entrypoint": entrypoint},
        )
    try:
        function = _resolve(entrypoint)
    except (ImportError, AttributeError) as exc:
        raise ArtifactError(
            f"Cannot load function model entry point {entrypoint!r}: {exc}. Its module "
            "must be importable here, for example installed or on PYTHONPATH.",
            details={"path": str(path), "entrypoint": entrypoint},
        ) from exc
    if not callable(function):
        raise ArtifactError(
            f"Function model entry point {entrypoint!r} is not callable.",
            details={"path": str(path), "entrypoint": entrypoint},
        )
    return function


def _resolve(entrypoint: str) -> object:
    module_name, _, attribute = entrypoint.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
