"""Importing user code named in the project file: ``package.module:function`` or ``package.Class``.

Only import paths are accepted (checked by a regular expression first): user
text is resolved with importlib, never evaluated. The project's own directory
is on ``sys.path`` while importing, so a project's modules work without install.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlrelease.errors import ConfigError

__all__ = ["import_object", "project_on_path"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_COLON_PATH = re.compile(rf"({_IDENT}(?:\.{_IDENT})*):({_IDENT}(?:\.{_IDENT})*)")
_DOTTED_PATH = re.compile(rf"({_IDENT}(?:\.{_IDENT})*)\.({_IDENT})")


@contextmanager
def project_on_path(directory: Path | None) -> Iterator[None]:
    if directory is None:
        yield
        return
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def import_object(path: str, *, what: str, base_dir: Path | None = None) -> Any:
    """Import ``module:attr`` (or ``module.attr``) and return the attribute.

    ``what`` names the setting in errors, e.g. ``train.estimator``.
    """
    match = _COLON_PATH.fullmatch(path) or _DOTTED_PATH.fullmatch(path)
    if match is None:
        raise ConfigError(
            f"{what}: {path!r} is not an import path; write package.module:function "
            "or package.module.ClassName"
        )
    module_name, attribute = match.group(1), match.group(2)
    with project_on_path(base_dir):
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"{what}: cannot import module '{module_name}' ({exc}); is it installed, "
                "or in the project's directory?"
            ) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(
                f"{what}: module '{module_name}' has no attribute '{attribute}'"
            ) from None
    return target
