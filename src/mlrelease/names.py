"""Names and references: what a model, environment or version may be called.

A name is checked once, here, before it is stored or used to build anything:
letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit. A
reference names a version either directly or through an environment's alias,
and is written ``models:/NAME/VERSION`` or ``models:/NAME@ENV``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from mlrelease.errors import ConfigError

__all__ = ["ModelRef", "validate_name"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def validate_name(name: str, *, what: str = "name") -> str:
    """Return ``name`` if it is a safe identifier, else raise ConfigError saying why."""
    decoded = unicodedata.normalize("NFC", unquote(name))
    if decoded != name or not _NAME.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"{what} {name!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. breast-cancer)"
        )
    return name


@dataclass(frozen=True)
class ModelRef:
    """A model version, named directly (``version``) or through an alias (``env``)."""

    model: str
    version: int | None = None
    env: str | None = None

    def __post_init__(self) -> None:
        validate_name(self.model, what="model name")
        if (self.version is None) == (self.env is None):
            raise ConfigError("a model reference names either a version or an environment")
        if self.env is not None:
            validate_name(self.env, what="environment name")
        if self.version is not None and self.version < 1:
            raise ConfigError(f"version numbers start at 1 (got {self.version})")

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``models:/NAME/VERSION`` or ``models:/NAME@ENV`` (the prefix is optional)."""
        body = text.removeprefix("models:/")
        if "@" in body:
            model, _, env = body.partition("@")
            return cls(model=model, env=env)
        model, _, version = body.rpartition("/")
        if model and version.isdigit():
            return cls(model=model, version=int(version))
        raise ConfigError(
            f"cannot read model reference {text!r}: write models:/NAME/VERSION "
            "(e.g. models:/breast-cancer/3) or models:/NAME@ENV "
            "(e.g. models:/breast-cancer@production)"
        )

    def __str__(self) -> str:
        suffix = f"@{self.env}" if self.env is not None else f"/{self.version}"
        return f"models:/{self.model}{suffix}"
