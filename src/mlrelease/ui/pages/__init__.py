"""The UI's pages, one module per subject; each declares its routes with their roles."""

from __future__ import annotations

from mlrelease.ui.pages import (
    approvals,
    history,
    models,
    monitoring,
    overview,
    releases,
    runs,
    tryit,
)
from mlrelease.ui.routing import Pages

__all__ = ["PAGES"]

PAGES: list[Pages] = [
    overview.pages,
    models.pages,
    runs.pages,
    approvals.pages,
    releases.pages,
    monitoring.pages,
    tryit.pages,
    history.pages,
]
