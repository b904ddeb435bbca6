"""Small human-readable fragments shared by the data package's messages."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["list_names", "percent"]


def list_names(items: Iterable[object], *, limit: int = 20) -> str:
    """``'a', 'b', 'c'`` — at most ``limit`` names, then how many were left out."""
    names = [str(item) for item in items]
    if not names:
        return "(none)"
    shown = ", ".join(repr(name) for name in names[:limit])
    hidden = len(names) - limit
    return f"{shown} and {hidden} more" if hidden > 0 else shown


def percent(fraction: float) -> str:
    """``0.12`` -> ``"12%"``, ``0.0504`` -> ``"5.04%"``: as precise as needed, no more."""
    return f"{fraction * 100:.4g}%"
