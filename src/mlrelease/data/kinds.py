"""The kinds a feature column can have, in a module of its own: a model server checks
signatures against them without loading pandas, which the rest of ``data`` needs."""

from __future__ import annotations

from typing import Final

__all__ = ["KINDS"]

KINDS: Final = ("float", "int", "bool", "category", "string", "datetime")
