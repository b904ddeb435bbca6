"""The web UI under ``/ui``: server-rendered pages over the same core, roles and tokens as ``/api``.

Pages need no JavaScript (a small script only refreshes pages that change live);
charts are SVG drawn here; every asset is served from the package, nothing from a
CDN. Log-in is with an API token; the session is a signed, HttpOnly, SameSite
cookie; every form that changes state needs the role and the session's CSRF token.

The pages load on first use: a model server imports :mod:`mlrelease.ui.sessions`
at start-up, and must not pay for templates and the whole client then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlrelease._lazy import lazy_attributes

if TYPE_CHECKING:
    from mlrelease.ui.app import UI_PREFIX, create_ui

__all__ = ["UI_PREFIX", "create_ui"]

__getattr__ = lazy_attributes(__name__, dict.fromkeys(__all__, "mlrelease.ui.app"))
